/* kvm_internal.h - private types of the /dev/kvm backend (sim/kvm); not a public header. */
#ifndef VMSIM_SIM_KVM_INTERNAL_H
#define VMSIM_SIM_KVM_INTERNAL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <vmsim/backend.h>
#include <vmsim/x86.h>

#include "kvm_host.h"
#include "kvm_slots.h"

struct kvmb_vm {
	struct vmsim_backend_host host;
	int kvm_fd;                 /* /dev/kvm */
	int vm_fd;
	int run_size;               /* KVM_GET_VCPU_MMAP_SIZE */
	const struct kvmb_host *profile; /* what the probe found (kvm_probe.c) */
	struct kvm_cpuid2 *cpuid;   /* KVM_GET_SUPPORTED_CPUID, given to every vCPU */
	pthread_mutex_t lock;       /* slots */
	struct kvmb_slots slots;    /* up to KVM_CAP_NR_MEMSLOTS */
	uint32_t msr_reasons;       /* KVM_MSR_EXIT_REASON_* enabled on this VM (KVM_CAP_X86_USER_SPACE_MSR) */
	unsigned msr_intercepting;  /* under lock: vCPUs with VMSIM_INTERCEPT_MSR; > 0: the deny-all filter is set */
};


/* One remembered MMIO-write origin: the instruction of length len ending at linear address end. */
struct kvmb_decode_entry {
	uint64_t end;
	uint8_t bits, size, len; /* len 0: empty */
	uint8_t bytes[15];       /* the 15 bytes before end when it was decoded */
};
enum { KVMB_DECODE_CACHE = 8 };

struct kvmb_vcpu {
	struct kvmb_vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	int run_size;

	pthread_mutex_t lock;       /* thread, in_run, idle wait */
	pthread_cond_t cond;
	bool in_run;                /* under lock: vcpu_run is executing on `thread` */
	pthread_t thread;
	atomic_bool stop_requested;
	bool debug;                 /* KVMB_DEBUG set: trace KVM exits to stderr */

	/* exit delivery */
	vmsim_exit_fn on_exit;
	void *on_exit_ctx;
	bool state_changed;          /* state_set ran since the last KVM_RUN */
	/* KVM_CAP_SYNC_REGS: REGS/SREGS travel in kvm_run (s.regs) instead of GET/SET ioctls */
	unsigned sync;               /* KVM_SYNC_X86_REGS/SREGS in kvm_valid_regs */
	bool synced;                 /* a KVM_RUN returned since creation: run->s.regs holds the state */
	bool sregs_stale;            /* KVM_SET_SREGS ran since: run->s.regs.sregs is behind */
	size_t cs_handle[3];         /* capstone handles (csh) for 16/32/64-bit code; 0: not opened */
	struct kvmb_decode_entry decode_cache[KVMB_DECODE_CACHE];
	bool pending_io;             /* an IN/OUT exit whose KVM completion still waits (host defer_io) */
	bool pending_in;             /* that exit is an IN (not INS) KVM completes from run->io data: it can be fed */
	bool pending_mmio;           /* an MMIO read by a plain MOV, completed from run->mmio data: it can be fed */
	uint8_t pending_gpr;         /* the MOV's destination (index in struct kvm_regs); IN: 0 (rax) */
	uint8_t pending_len;         /* the instruction's length and the access size */
	uint8_t pending_size;
	struct kvm_regs pending_regs; /* the registers at the access (its RIP: a VMM that moved RIP emulated it) */

	/* state KVM does not hold for a VMM (or holds elsewhere), kept here like a VMCB would */
	uint32_t activity;
	uint32_t intercepts;
	uint64_t pdpte[4];
	uint32_t tpr_threshold;
	bool want_intr_window;
	bool want_nmi_window;
};

/* kvm_backend.c */
void kvmb_log(struct kvmb_vm *vm, enum vmsim_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One more (on) or one fewer vCPU intercepting MSRs: the VM's filter denies every MSR while any does. */
bool kvmb_msr_intercept(struct kvmb_vm *vm, bool on);

/* kvm_memory.c */
enum vmsim_result kvmb_mem_map(void *vm, uint64_t gpa, void *hva, uint64_t size, unsigned prot);
enum vmsim_result kvmb_mem_unmap(void *vm, uint64_t gpa, uint64_t size);
unsigned kvmb_mem_prot(struct kvmb_vm *vm, uint64_t gpa);
/* Copy guest bytes at a linear address (through KVM_TRANSLATE); false where any byte is unbacked. */
bool kvmb_read_linear(struct kvmb_vcpu *v, uint64_t gla, void *dst, size_t len);
bool kvmb_translate(struct kvmb_vcpu *v, uint64_t gla, uint64_t *gpa);
/* Does the guest's walk of gla (sr's paging mode) stop at a paging-structure entry at gpa in unbacked memory? */
bool kvmb_walk_stops_at(struct kvmb_vcpu *v, const struct kvm_sregs *sr, uint64_t gla, uint64_t gpa);

/* kvm_state.c */
/* REGS/SREGS through kvm_run's sync area where the host offers it, else ioctls; REGS set there reach KVM on the
 * next KVM_RUN (after any KVM_SET_SREGS, which is an ioctl: KVM derives the mode from SREGS first). */
bool kvmb_get_regs(struct kvmb_vcpu *v, struct kvm_regs *r);
bool kvmb_set_regs(struct kvmb_vcpu *v, const struct kvm_regs *r);
bool kvmb_get_sregs(struct kvmb_vcpu *v, struct kvm_sregs *sr);
bool kvmb_set_sregs(struct kvmb_vcpu *v, const struct kvm_sregs *sr);
/* KVM_RUN, noting that kvm_run's sync area is current; the ioctl's result. */
int kvmb_kvm_run(struct kvmb_vcpu *v);
enum vmsim_result kvmb_state_get(void *vcpu, uint32_t groups, struct vmsim_cpu_state *out);
enum vmsim_result kvmb_state_set(void *vcpu, uint32_t groups, const struct vmsim_cpu_state *in);
/* KVM_GET/SET_MSRS of one MSR (host-initiated); false where KVM refuses it. */
bool kvmb_msr(struct kvmb_vcpu *v, uint32_t index, uint64_t *value, bool set);
void kvmb_seg_from_kvm(const struct kvm_segment *k, struct vmsim_segment *s);
void kvmb_seg_to_kvm(const struct vmsim_segment *s, struct kvm_segment *k);

/* kvm_decode.c */
unsigned kvmb_code_bits(const struct kvm_sregs *sregs);
/* Close the vCPU's capstone handles. */
void kvmb_decode_fini(struct kvmb_vcpu *v);
/* Length of the instruction that ended at r->rip with an MMIO write of size bytes at gpa; 0 if none fits. */
uint8_t kvmb_mmio_write_origin(struct kvmb_vcpu *v, const struct kvm_regs *r, unsigned size, uint64_t gpa);
/* An MMIO read at r->rip that is a plain MOV into a GPR of `size` bytes (kvm_decode.c): fills out, else false. */
struct kvmb_mmio_mov {
	uint8_t gpr;  /* index in struct kvm_regs (rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8..r15) */
	uint8_t size; /* bytes read = bytes of the register written */
	uint8_t len;  /* the instruction's length */
};
bool kvmb_mmio_read_plain(struct kvmb_vcpu *v, const struct kvm_regs *r, unsigned size, struct kvmb_mmio_mov *out);
/* Linear addresses of the memory operands (at most 2) of the instruction at r->rip; their count. */
unsigned kvmb_mem_operands(struct kvmb_vcpu *v, const struct kvm_regs *r, const struct kvm_sregs *sr, uint64_t gla[2]);

/* kvm_exits.c */
/* One KVM exit (in v->run) into at most one neutral exit; false: nothing for the VMM, run on. */
bool kvmb_translate_exit(struct kvmb_vcpu *v, struct vmsim_exit *exit);
/* Before the next KVM_RUN (or leaving vcpu_run) after on_exit: settle a deferred IN/OUT; false on an ioctl error. */
bool kvmb_settle(struct kvmb_vcpu *v, bool leaving);
/* A KVM_RUN that failed on a fetch from gpa without a slot, as the fetch NPF; false if it was not that. */
bool kvmb_fetch_fault(struct kvmb_vcpu *v, struct vmsim_exit *exit);

/* kvm_run.c */
enum vmsim_result kvmb_vcpu_run(void *vcpu, vmsim_exit_fn on_exit, void *ctx);
void kvmb_vcpu_stop(void *vcpu);

#endif
