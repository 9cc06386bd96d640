/* kvm_host.h - what the KVM backend learned about the host's /dev/kvm: the probe's answers and the profile. */
#ifndef VMSIM_SIM_KVM_HOST_H
#define VMSIM_SIM_KVM_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include <vmsim/backend.h>

enum kvmb_flavour {
	KVMB_FLAVOUR_NONE = 0, /* no usable /dev/kvm */
	KVMB_FLAVOUR_OTHER,    /* a KVM of unknown kind */
	KVMB_FLAVOUR_VMX,
	KVMB_FLAVOUR_SVM,
	KVMB_FLAVOUR_PVM       /* kvm_pvm: KVM without VMX/SVM (pagetable-based) */
};

/* Where RIP is when KVM_RUN returns an exit, as a probe guest saw it. */
enum kvmb_rip_rule {
	KVMB_RIP_UNKNOWN = 0, /* not seen (the probe failed or did not run): decide per exit */
	KVMB_RIP_AT,          /* at the instruction; the next KVM_RUN completes (retires) it */
	KVMB_RIP_PAST         /* already past the instruction; nothing pending */
};

/* The exits whose RIP the probe guest looks at. */
enum kvmb_probe_exit {
	KVMB_PX_OUT,
	KVMB_PX_IN,
	KVMB_PX_MMIO_WRITE,
	KVMB_PX_MMIO_READ,
	KVMB_PX_HLT,
	KVMB_PX_COUNT
};

/* Whether a probe guest ran its code to the expected exit. */
enum kvmb_run_answer {
	KVMB_RUN_UNTESTED = 0,
	KVMB_RUN_OK,
	KVMB_RUN_EMULATION_FAILURE, /* KVM_EXIT_INTERNAL_ERROR, suberror 1 */
	KVMB_RUN_OTHER_FAILURE,     /* another exit, or KVM_RUN failed */
	KVMB_RUN_NO_EXIT            /* KVM_RUN still in the kernel when the probe's watchdog stopped it */
};

/* Everything the probe asks the host (kvm_probe.c); the input of kvmb_host_profile. */
struct kvmb_probe_answers {
	bool opened;               /* /dev/kvm opened, API 12, user memory, immediate_exit */
	char module[16];           /* "kvm_pvm", "kvm_amd", "kvm_intel" (/sys/module) or "" */
	char vendor[13];           /* KVM_GET_SUPPORTED_CPUID leaf 0 */
	bool cpuid_vmx, cpuid_svm; /* leaf 1 ECX.5 / leaf 0x80000001 ECX.2 in the supported CPUID */
	char kernel[65];           /* uname -r */
	int nr_memslots;           /* KVM_CAP_NR_MEMSLOTS; <= 0: not reported */
	int sync_regs;             /* KVM_CAP_SYNC_REGS: KVM_SYNC_X86_* bits */
	int user_space_msr;        /* KVM_CAP_X86_USER_SPACE_MSR: KVM_MSR_EXIT_REASON_* bits */
	bool msr_filter;           /* KVM_CAP_X86_MSR_FILTER */
	enum kvmb_rip_rule rip[KVMB_PX_COUNT];
	bool moved_rip_drops_io;   /* OUT and IN at the instruction: a RIP moved by userspace cancels KVM's completion */
	enum kvmb_run_answer real_mode;   /* the exit probe: real-mode code at 0x1000 */
	enum kvmb_run_answer reset_real;  /* real mode from the reset state (CS base 0xffff0000): JMP, NOP, OUT */
	enum kvmb_run_answer rdtscp;      /* RDTSCP in real mode */
	enum kvmb_run_answer tsc_offset;  /* its TSC carries a KVM_VCPU_TSC_OFFSET of 2^62 (UNTESTED: no such attr) */
	enum kvmb_run_answer int_real;       /* INT 0x80 in real mode, through the IVT */
	enum kvmb_run_answer intr_window;    /* KVM_EXIT_IRQ_WINDOW_OPEN after STI in real mode, before the next OUT */
	enum kvmb_run_answer iret_protected; /* IRET in 32-bit protected mode (GDT code segment) */
	enum kvmb_run_answer paging_legacy;  /* MOV to CR0 setting PG in 32-bit protected mode (no PAE, no LME) */
	enum kvmb_run_answer vmcall;         /* an unintercepted VMCALL in 32-bit protected mode */
	enum kvmb_run_answer delivery_pf;    /* long mode: an injected interrupt's frame on an absent page is a #PF with CR2 */
	bool delivery_pf_reached;            /* its #PF handler ran ... */
	uint64_t delivery_pf_cr2;            /* ... and saw this CR2 */
	uint32_t delivery_pf_error;          /* ... and this error code */
};

enum { KVMB_GAP_LEN = 256, KVMB_CAP_BITS = 64 }; /* every bit a cap may ever take */

/* The host as the backend uses it: caps, their gaps (naming the host), exit rules, limits. */
struct kvmb_host {
	enum kvmb_flavour flavour;
	char name[32];        /* "kvm_pvm", "kvm_amd", "SVM", ... for messages */
	char summary[256];    /* one line: flavour, vendor, kernel, what the probe saw */
	char description[320]; /* the ops table's description: what the backend is, on which host */
	uint64_t caps;        /* VMSIM_CAP_* offered on this host */
	char gap[KVMB_CAP_BITS][KVMB_GAP_LEN]; /* why bit i is absent; "" where present */
	enum kvmb_rip_rule rip[KVMB_PX_COUNT];
	bool defer_io;        /* IN/OUT (not string): report at once, let the VMM's moved RIP cancel KVM's completion */
	bool moved_rip_drops_io; /* the probe saw a RIP moved by userspace cancel a pending IN/OUT completion */
	unsigned nr_memslots; /* slots the backend may use */
	unsigned sync_regs;   /* KVM_SYNC_X86_* the backend may use */
	bool msr_exits;       /* user-space MSR exits with a filter: RDMSR/WRMSR reach the VMM */
	uint32_t msr_exit_reasons; /* KVM_MSR_EXIT_REASON_* to enable (0: leave the capability off) */
};

/* Pure: the host profile for a set of probe answers (no I/O, no state). */
void kvmb_host_profile(const struct kvmb_probe_answers *a, struct kvmb_host *out);
/* Why cap (one bit) is absent on host h, NULL if it is offered. */
const char *kvmb_host_cap_gap(const struct kvmb_host *h, uint64_t cap);

/* kvm_probe.c: ask /dev/kvm (ioctls and tiny probe guests); answers->opened false where there is none. */
void kvmb_probe(struct kvmb_probe_answers *answers);
/* The signal that stops a vCPU inside KVM_RUN (blocked outside it, never delivered). */
int kvmb_stop_signal(void);
/* KVM_GET_SUPPORTED_CPUID with a table grown until it fits (kvm_probe.c); NULL on failure. Caller frees. */
struct kvm_cpuid2 *kvmb_supported_cpuid(int kvm_fd);
/* The profile of this process's /dev/kvm, probed once on first use (see kvm_probe.c for why it is cached). */
const struct kvmb_host *kvmb_host_get(void);

#endif
