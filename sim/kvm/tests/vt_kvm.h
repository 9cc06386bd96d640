/* vt_kvm.h - KVM backend test helpers: the stand-in VMM over ops (tests/support/vt_ops_vm.h) on KVM, plus paging. */
#ifndef VMSIM_SIM_KVM_TESTS_VT_KVM_H
#define VMSIM_SIM_KVM_TESTS_VT_KVM_H

#include <stdbool.h>

#include <vmsim/backends.h>

#include "vt_tour.h"
#include "vt_ops_vm.h"

/* Where vt_kvm_long_paging puts its identity-mapping tables (free in the vt_ops_vm guest layout). */
enum { VT_KVM_PML4 = 0x3000 };

/* Can /dev/kvm be opened read-write? */
bool vt_kvm_usable(void);
/* Skip the calling test, loudly, unless it can. */
void vt_kvm_require(void);
/* Skip the calling test, loudly with the backend's reason, unless KVM here offers cap (one bit). */
void vt_kvm_need(uint64_t cap);
/* Identity-map 0-1 GiB and 3-4 GiB with 2 MiB pages for a long-mode state, and point s->cr3 at it. */
void vt_kvm_long_paging(struct vt_vm *t, struct vmsim_cpu_state *s);
/*
 * A VMCALL that is not an exit is KVM's own hypercall, and hosts differ: KVM 6.1
 * on SVM patches it into VMMCALL without the CS base (in real mode with CS.base
 * != 0 the wrong page, and the VMCALL faults forever); kvm_pvm re-runs it in its
 * emulator without retiring it (tracefs: the same RIP over and over, RAX unchanged).
 * The tours on KVM run NOPs there, in every mode.
 */
void vt_kvm_nop_vmcall(struct vt_vm *t, const struct vt_guest *g);
/* vt_run, but a watchdog stops the vCPU after seconds and fails the test with where the guest was. */
enum vmsim_result vt_kvm_run_bounded(struct vt_vm *t, unsigned seconds);

#endif
