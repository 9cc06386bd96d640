/* vmsim/backend.h - the contract a CPU backend implements; the only vmsim header sim/ may use. */
#ifndef VMSIM_API_BACKEND_H
#define VMSIM_API_BACKEND_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmsim/exit.h>
#include <vmsim/log.h>
#include <vmsim/result.h>
#include <vmsim/vcpu_state.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Versioning follows SQLite's VFS: ops are only ever appended. Core accepts a
 * table whose abi_version it knows and whose struct_size covers that version;
 * a NULL op or an absent capability makes the call UNSUPPORTED.
 */
#define VMSIM_BACKEND_ABI_VERSION 1u

/* Symbol a backend shared object exports: const struct vmsim_backend_ops *fn(void). */
#define VMSIM_BACKEND_ENTRY_SYMBOL "vmsim_backend_entry_v1"
typedef const struct vmsim_backend_ops *(*vmsim_backend_entry_fn)(void);

/* What a backend can deliver. Tests needing an absent bit are skipped with cap_gap's reason. */
#define VMSIM_BACKEND_CAP_LIST(X)                                                          \
	X(EXIT_IO, 0, "port I/O exits, sizes 1/2/4")                                        \
	X(EXIT_IO_STRING, 1, "string and REP port I/O exits")                                 \
	X(EXIT_NPF, 2, "nested page faults on unbacked or flushed memory")                     \
	X(EXIT_MMIO_DECODE, 3, "NPF data accesses decoded (size, value, instruction length)") \
	X(EXIT_CPUID, 4, "CPUID exits")                                                        \
	X(EXIT_HLT, 5, "HLT exits")                                                            \
	X(EXIT_VMCALL, 6, "VMCALL/VMMCALL exits")                                              \
	X(EXIT_RDTSC, 7, "RDTSC exits")                                                        \
	X(EXIT_RDTSCP, 8, "RDTSCP exits")                                                      \
	X(EXIT_MSR, 9, "RDMSR/WRMSR exits")                                                    \
	X(EXIT_SHUTDOWN, 10, "triple fault / shutdown exits")                                  \
	X(INJECT_EXTINT, 11, "external interrupt injection")                                   \
	X(INJECT_NMI, 12, "NMI injection")                                                     \
	X(INJECT_EXCEPTION, 13, "exception injection with error code")                         \
	X(INJECT_SWINT, 14, "software interrupt injection")                                    \
	X(INTR_WINDOW, 15, "interrupt-window exits")                                           \
	X(MODE_REAL, 16, "real-mode guests")                                                   \
	X(MODE_PROTECTED, 17, "32-bit protected-mode guests")                                  \
	X(MODE_LONG, 18, "64-bit long-mode guests")                                            \
	X(MODE_SWITCH, 19, "the VMM changing the guest's mode between runs")                   \
	X(RESET_VECTOR, 20, "the x86 reset state (CS base 0xffff0000, IP 0xfff0)")             \
	X(READONLY_MEMORY, 21, "read-only guest memory enforced (write faults)")               \
	X(NOEXEC_MEMORY, 22, "non-executable guest memory enforced (fetch faults)")            \
	X(STOP, 23, "stopping a running vCPU from another thread")                             \
	X(TSC_OFFSET, 24, "TSC offsetting and TSC_AUX")                                        \
	X(INHOOK_EXIT, 25, "exits handled without leaving the run loop")                       \
	X(FPU_STATE, 26, "FPU/XSAVE state transfer")                                           \
	X(NMI_WINDOW, 27, "NMI-window exits")                                                  \
	X(ENTRY_AS_SVM, 28, "VM entry refuses only what the SVM model refuses (no stricter host checks)") \
	X(ENTRY_AS_VMX, 29, "VM entry refuses only what the VMX model refuses (no stricter host checks)") \
	X(INT_IRET, 30, "the guest's own INT n and IRET (IVT/IDT) in every mode the backend runs")

/* Bits 31 and up: the same, but macros, not enumerators (a C11 enumerator must fit an int). */
#define VMSIM_BACKEND_CAP_LIST_WIDE(X)                                                     \
	X(PAGING_LEGACY, 31, "guest paging outside long mode (32-bit and PAE page tables)")     \
	X(HOST_HYPERCALL, 32, "a VMCALL/VMMCALL the VMM does not intercept completes; the guest goes on") \
	X(EXCEPTION_INTERCEPT, 33, "exceptions of the vectors the VMM intercepts exit instead of reaching the guest") \
	X(DELIVERY_PF, 34, "a page fault met while delivering an event is a #PF with CR2 set, not a #DF") \
	X(DELIVERY_NPF, 35, "unattached memory met while delivering an event is an NPF exit showing that event")
#define VMSIM_CAP_PAGING_LEGACY (UINT64_C(1) << 31)
#define VMSIM_CAP_HOST_HYPERCALL (UINT64_C(1) << 32)
#define VMSIM_CAP_EXCEPTION_INTERCEPT (UINT64_C(1) << 33)
#define VMSIM_CAP_DELIVERY_PF (UINT64_C(1) << 34)
#define VMSIM_CAP_DELIVERY_NPF (UINT64_C(1) << 35)

enum vmsim_backend_cap_bit {
#define VMSIM_BACKEND_CAP_ENUM_(name, bit, text) VMSIM_CAP_##name = 1ull << (bit),
	VMSIM_BACKEND_CAP_LIST(VMSIM_BACKEND_CAP_ENUM_)
#undef VMSIM_BACKEND_CAP_ENUM_
};

/* Name ("EXIT_IO") and description of one capability bit; NULL for an unknown bit. */
const char *vmsim_backend_cap_name(uint64_t cap);
const char *vmsim_backend_cap_text(uint64_t cap);

enum vmsim_prot {
	VMSIM_PROT_READ = 1,
	VMSIM_PROT_WRITE = 2,
	VMSIM_PROT_EXEC = 4
};

/* State groups: the unit of transfer between core and backend, and of Exit_config. */
enum vmsim_state_group {
	VMSIM_GROUP_GPR = 1u << 0,        /* rax..r15 */
	VMSIM_GROUP_IP = 1u << 1,         /* rip, rflags */
	VMSIM_GROUP_SEGMENTS = 1u << 2,   /* es cs ss ds fs gs ldtr tr */
	VMSIM_GROUP_DTABLES = 1u << 3,    /* gdtr idtr */
	VMSIM_GROUP_CONTROL = 1u << 4,    /* cr0 cr2 cr3 cr4 efer dr7 */
	VMSIM_GROUP_SYSENTER = 1u << 5,
	VMSIM_GROUP_SYSCALL = 1u << 6,    /* star lstar cstar fmask kernel_gs_base */
	VMSIM_GROUP_TSC = 1u << 7,        /* tsc tsc_offset tsc_aux */
	VMSIM_GROUP_EVENTS = 1u << 8,     /* interruptibility, activity, pending injection */
	VMSIM_GROUP_PDPTE = 1u << 9,
	VMSIM_GROUP_TPR = 1u << 10,
	VMSIM_GROUP_XSAVE = 1u << 11,     /* xcr0 xss */
	VMSIM_GROUP_FPU = 1u << 12,
	VMSIM_GROUP_INTERCEPTS = 1u << 13,
	VMSIM_GROUP_ALL = (1u << 14) - 1
};

/* Registers regs_set writes one by one: bit i < 16 is the i-th GPR of vmsim_cpu_state (rax, rcx, ... r15). */
enum vmsim_reg_bit {
	VMSIM_REG_GPRS = (1u << 16) - 1,
	VMSIM_REG_RIP = 1u << 16,
	VMSIM_REG_RFLAGS = 1u << 17
};

/* Intercepts and entry controls the VMM asked for, decoded from ctrl_primary/secondary by the model. */
enum vmsim_intercept {
	VMSIM_INTERCEPT_HLT = 1u << 0,
	VMSIM_INTERCEPT_RDTSC = 1u << 1,
	VMSIM_INTERCEPT_RDTSCP = 1u << 2,
	VMSIM_INTERCEPT_CPUID = 1u << 3,
	VMSIM_INTERCEPT_IO = 1u << 4,
	VMSIM_INTERCEPT_MSR = 1u << 5,
	VMSIM_INTERCEPT_VMCALL = 1u << 6,
	VMSIM_INTERCEPT_SHUTDOWN = 1u << 7,
	VMSIM_INTERCEPT_INTR_WINDOW = 1u << 8,
	VMSIM_INTERCEPT_NMI_WINDOW = 1u << 9,
	VMSIM_INTERCEPT_TSC_OFFSET = 1u << 10, /* apply tsc_offset to guest TSC reads */
	VMSIM_INTERCEPT_UNRESTRICTED_GUEST = 1u << 11 /* VMX: real and unpaged guests allowed */
};

/*
 * The neutral CPU state a backend reads and writes, one group at a time.
 * Segment ar uses the 12-bit compressed form Genode uses on both kernels:
 * bits 0-7 type/S/DPL/P, bits 8-11 AVL/L/DB/G, bit 12 unusable.
 */
struct vmsim_cpu_state {
	uint64_t rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
	struct vmsim_segment es, cs, ss, ds, fs, gs, ldtr, tr;
	struct vmsim_dtable gdtr, idtr;
	uint64_t cr0, cr2, cr3, cr4, efer, dr7;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t star, lstar, cstar, fmask, kernel_gs_base;
	uint64_t tsc, tsc_offset, tsc_aux;
	uint32_t interruptibility; /* VMSIM_BLOCK_* */
	uint32_t activity;         /* VMSIM_ACTIVITY_* */
	struct vmsim_event pending;
	uint64_t pdpte[4];
	uint32_t tpr, tpr_threshold;
	uint64_t xcr0, xss;
	uint32_t intercepts;       /* VMSIM_INTERCEPT_* */
	uint32_t exception_intercepts; /* bit n: exceptions of vector n exit (vmsim_vcpu_intercept_exceptions) */
	uint64_t fpu_size;
	alignas(64) uint8_t fpu[VMSIM_FPU_AREA_SIZE]; /* FXSAVE layout in the first 512 bytes */
};

/* The form of a kernel-state image (vmsim/genode_layout.h, vmsim/hwstate.h). */
enum vmsim_kernel_state_format {
	VMSIM_KERNEL_STATE_VCPU_STATE = 1,  /* struct vmsim_vcpu_state */
	VMSIM_KERNEL_STATE_GENODE_2023 = 2, /* Genode's Vcpu_state page, 2023 layout */
	VMSIM_KERNEL_STATE_GENODE_2024 = 3, /* Genode's Vcpu_state page, 2024 layout */
	VMSIM_KERNEL_STATE_VMCB = 4,        /* a 4 KiB VMCB after #VMEXIT (SVM sessions) */
	VMSIM_KERNEL_STATE_VMCS = 5         /* struct vmsim_vmcs with the fields read after the exit (VMX) */
};
struct vmsim_kernel_state {
	enum vmsim_kernel_state_format format;
	const void *image;
	size_t size;
};

/* What core hands a backend at vm_create: a log sink bound to the session's env. */
struct vmsim_backend_host {
	void (*log)(void *ctx, enum vmsim_log_level level, const char *message);
	void *ctx;
	const char *label; /* the session label, for messages */
};

enum vmsim_exit_action {
	VMSIM_EXIT_ACTION_RESUME = 0, /* continue the guest in place (state may have been set) */
	VMSIM_EXIT_ACTION_STOP = 1    /* return from vcpu_run */
};

/*
 * Called by vcpu_run on the vCPU thread for every exit, while the backend can
 * still serve state_get/state_set for this vCPU (inside a hook, if it has them).
 */
typedef enum vmsim_exit_action (*vmsim_exit_fn)(void *ctx, const struct vmsim_exit *exit);

/* The kernel-specific vCPU handle of Genode's hidden _native_vcpu call (#3926). */
struct vmsim_native_vcpu {
	const char *backend; /* the backend's name */
	int fd;              /* KVM: the vCPU fd; -1 where there is none */
	void *run_area;      /* KVM: the mmap'ed kvm_run; NULL where there is none */
	uint64_t run_area_size;
	void *engine;        /* Unicorn: the uc_engine of the vCPU thread; NULL otherwise */
};

/* One CPUID answer. subleaf counts only with VMSIM_CPUID_BY_SUBLEAF (leaves 4, 7, 0xb, 0xd ...). */
struct vmsim_cpuid_entry {
	uint32_t leaf, subleaf, flags;
	uint32_t eax, ebx, ecx, edx;
};
enum { VMSIM_CPUID_BY_SUBLEAF = 1u, VMSIM_CPUID_MAX_ENTRIES = 256 };

struct vmsim_backend_ops {
	uint32_t abi_version; /* VMSIM_BACKEND_ABI_VERSION */
	uint32_t struct_size; /* sizeof(struct vmsim_backend_ops) the backend was built with */
	const char *name;
	const char *description;
	uint64_t caps;        /* VMSIM_CAP_* */

	/* Why cap is absent (one sentence), or NULL if present. */
	const char *(*cap_gap)(uint64_t cap);

	/* One VM per session. host outlives the VM. */
	enum vmsim_result (*vm_create)(const struct vmsim_backend_host *host, void **vm);
	void (*vm_destroy)(void *vm);

	/* Map size bytes of host memory at gpa (4 KiB aligned, no overlap with a mapping). */
	enum vmsim_result (*mem_map)(void *vm, uint64_t gpa, void *hva, uint64_t size, unsigned prot);
	/* Remove exactly one earlier mapping; later guest accesses there are NPF exits. */
	enum vmsim_result (*mem_unmap)(void *vm, uint64_t gpa, uint64_t size);

	enum vmsim_result (*vcpu_create)(void *vm, unsigned id, void **vcpu);
	/* Only called when vcpu_run is not executing. */
	void (*vcpu_destroy)(void *vcpu);

	/*
	 * Run until on_exit returns STOP or vcpu_stop is called; both return
	 * VMSIM_OK. One thread at a time per vCPU; the backend may bind engines to
	 * the first thread that runs the vCPU.
	 */
	enum vmsim_result (*vcpu_run)(void *vcpu, vmsim_exit_fn on_exit, void *ctx);
	/* Any thread, any time. A stop that lands before vcpu_run makes the next run return at once. */
	void (*vcpu_stop)(void *vcpu);

	/* From the vCPU thread inside on_exit, or from any thread while vcpu_run is not executing. */
	enum vmsim_result (*state_get)(void *vcpu, uint32_t groups, struct vmsim_cpu_state *out);
	enum vmsim_result (*state_set)(void *vcpu, uint32_t groups, const struct vmsim_cpu_state *in);

	enum vmsim_result (*native)(void *vcpu, struct vmsim_native_vcpu *out);

	/* ---- appended after ABI v1's ops: read only when struct_size covers them ---- */

	/*
	 * What one VM and one vCPU cost the host beyond core's own objects (core's vCPU thread is not
	 * counted here), measured per backend (docs/quota.md); a server charges it to the client.
	 */
	struct vmsim_backend_host_cost {
		uint64_t vm_ram, vcpu_ram;         /* bytes of host memory the backend allocates */
		uint32_t vm_fds, vcpu_fds;         /* file descriptors it holds */
		uint32_t vm_threads, vcpu_threads; /* threads it starts */
	} host_cost;

	/*
	 * Write exactly the registers in regs (VMSIM_REG_*) from in, nothing else read or written; from the vCPU
	 * thread inside on_exit. Optional: without it core fetches the registers' groups and calls state_set.
	 */
	enum vmsim_result (*regs_set)(void *vcpu, uint32_t regs, const struct vmsim_cpu_state *in);

	/*
	 * Kernel-state mode (optional, NULL: off): after each exit the backend reported (and the PAUSED stop
	 * after vcpu_run returned), the page or VMCB/VMCS image its kernel produced; core checks it against the
	 * model (docs/spec.md "Kernel-state mode"). UNSUPPORTED: nothing for this stop. Image valid until the
	 * next call for this vCPU. vCPU thread only.
	 */
	enum vmsim_result (*kernel_state)(void *vcpu, struct vmsim_kernel_state *out);

	/*
	 * Optional, for backends that answer CPUID without an exit (no VMSIM_CAP_EXIT_CPUID): answer from exactly
	 * these entries, zeros for any other leaf. Before the vCPU's first vcpu_run; count <= VMSIM_CPUID_MAX_ENTRIES.
	 */
	enum vmsim_result (*cpuid_set)(void *vcpu, const struct vmsim_cpuid_entry *entries, uint32_t count);
};

#ifdef __cplusplus
}
#endif
#endif
