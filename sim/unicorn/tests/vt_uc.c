/* vt_uc.c - the stand-in VMM over backend ops (tests/support/vt_ops_vm.c) on the Unicorn backend. */
#include "vt_uc.h"

void vt_vm_init(struct vt_vm *t, uint64_t skip_lo, uint64_t skip_hi)
{
	vt_vm_init_on(t, vmsim_backend_unicorn(), skip_lo, skip_hi);
}
