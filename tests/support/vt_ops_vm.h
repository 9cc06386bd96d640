/*
 * vt_ops_vm.h - the stand-in VMM over backend ops (docs/architecture.md, "Tests"): one VM with one vCPU on any
 * backend's ops table, guest RAM, mode start states, descriptor tables, and an exit handler that advances past
 * every exit and logs it. sim/unicorn/tests (vt_uc.h) and sim/kvm/tests (vt_kvm.h) bind it to their backend.
 */
#ifndef VMSIM_TESTS_SUPPORT_VT_OPS_VM_H
#define VMSIM_TESTS_SUPPORT_VT_OPS_VM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmsim/backend.h>

#include "vt_guests.h"
#include "vt_layout.h"
#include "vt_wait.h"

enum { VT_MAX_EXITS = 512,
       VT_PML4 = 0xfe000, VT_PDPT = 0xff000 /* identity 1 GiB pages for long mode (the backend walks them) */ };

struct vt_vm;
/* Per-test exit policy, called before the default mini-VMM; return -1 to fall through. */
typedef int (*vt_exit_hook)(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s);

struct vt_vm {
	const struct vmsim_backend_ops *ops;
	void *vm;
	void *vcpu;
	uint8_t *ram;          /* VT_RAM bytes of mmap'ed guest memory at gpa 0 */
	struct vmsim_exit exits[VT_MAX_EXITS];
	atomic_size_t nexits;
	struct vmsim_cpu_state *state; /* scratch for the exit handler */
	uint32_t in_value;     /* what IN exits return */
	vt_exit_hook hook;
	void *user;
	int hook_calls;
	atomic_int idles;      /* times the backend logged that the vCPU idles (HLT, shutdown) */
};

/* Create VM + one vCPU on ops with guest RAM [0, VT_RAM) mapped RWX (minus the hole skip_lo..skip_hi). */
void vt_vm_init_on(struct vt_vm *t, const struct vmsim_backend_ops *ops, uint64_t skip_lo, uint64_t skip_hi);
/* vt_vm_init_on with the RAM mapped MAP_SHARED or MAP_PRIVATE (sharing), for backends that treat them apart. */
void vt_vm_init_ram(struct vt_vm *t, const struct vmsim_backend_ops *ops, uint64_t skip_lo, uint64_t skip_hi,
                    int sharing);
void vt_vm_fini(struct vt_vm *t);
/* Copy guest g to gpa VT_LOAD. */
void vt_load(struct vt_vm *t, const struct vt_guest *g);
/* Fill s with a runnable state: real mode CS=0x1000 IP=ip; flat 32-bit or 64-bit at rip. All intercepts on. */
void vt_state_real(struct vmsim_cpu_state *s, uint64_t ip);
void vt_state_prot(struct vmsim_cpu_state *s, uint64_t rip);
void vt_state_long(struct vmsim_cpu_state *s, uint64_t rip);
/* Set the complete state (every group) on the vCPU; asserts success. */
void vt_set(struct vt_vm *t, const struct vmsim_cpu_state *s);
/* Write a GDT (null, code, data) at VT_GDT and an IDT at VT_IDT routing vec[i] to handler offset[i] of g. */
void vt_tables(struct vt_vm *t, int long_mode, const uint8_t *vec, const uint64_t *target, size_t n);
/* Real-mode IVT entry at gpa 4*vector -> 0x1000:ip. */
void vt_ivt(struct vt_vm *t, uint8_t vector, uint16_t ip);
/* Run until the guest writes the done port or an exit hook returns STOP. */
enum vmsim_result vt_run(struct vt_vm *t);
/* The default exit handler: a VMM that advances past every exit (the callback the backend gets). */
enum vmsim_exit_action vt_on_exit(void *ctx, const struct vmsim_exit *exit);
/* Index of the first logged exit at rip (from index from), or -1. */
int vt_find(struct vt_vm *t, uint64_t rip, size_t from);
/*
 * Handshakes instead of sleeps: wait until the guest stored a nonzero dword at gpa / until the
 * vCPU idled more than `seen` times, or until *done (may be NULL) turns true. True: it did. Bounded by
 * vt_wait_until (VT_WAIT_SECONDS, then the test fails): a broken backend fails the test instead of hanging it.
 */
bool vt_wait_store(struct vt_vm *t, uint64_t gpa, const atomic_bool *done);
bool vt_wait_idle(struct vt_vm *t, int seen, const atomic_bool *done);

#endif
