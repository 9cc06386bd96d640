/* vt_uc.h - the stand-in VMM over backend ops (tests/support/vt_ops_vm.h) bound to the Unicorn backend. */
#ifndef VMSIM_SIM_UC_TESTS_VT_UC_H
#define VMSIM_SIM_UC_TESTS_VT_UC_H

#include <vmsim/backends.h>

#include "vt_ops_vm.h"

/* vt_vm_init_on the Unicorn backend: VM + one vCPU, guest RAM [0, VT_RAM) RWX minus [skip_lo, skip_hi). */
void vt_vm_init(struct vt_vm *t, uint64_t skip_lo, uint64_t skip_hi);

#endif
