/* vc.h - the conformance suite's test table, per-run context and the vt_ helpers every test uses. */
#ifndef VMSIM_CONFORMANCE_VC_H
#define VMSIM_CONFORMANCE_VC_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <vmsim/vmsim.h>
#include <vmsim/profile.h>

#include "vt_guests.h"
#include "vt_gate.h"
#include "vt_layout.h"
#include "vt_wait.h"

/*
 * One conformance test case. It runs once per (backend, model); a backend
 * lacking any bit of caps makes it a SKIP with the backend's cap_gap reason.
 * param lets one function serve a table of cases (each its own test case).
 */
struct vc_test {
	const char *section; /* docs/spec.md area: "session", "attach", "exits", ... */
	const char *name;
	uint64_t caps;
	void (*fn)(const void *param);
	const void *param;
};

/* A list of tests contributed by one file; the suite is the concatenation of all lists. */
struct vc_test_list {
	const struct vc_test *tests;
	size_t count;
};

#define VC_LIST(arr) ((struct vc_test_list){ (arr), sizeof(arr) / sizeof((arr)[0]) })

/* The lists of every area (suite.c concatenates them in this order). */
struct vc_test_list vc_session_tests(void);
struct vc_test_list vc_session_npt_tests(void);
struct vc_test_list vc_attach_tests(void);
struct vc_test_list vc_detach_tests(void);
struct vc_test_list vc_flush_tests(void);
struct vc_test_list vc_guest_memory_tests(void);
struct vc_test_list vc_vcpu_tests(void);
struct vc_test_list vc_exit_tour_tests(void);
struct vc_test_list vc_exit_io_tests(void);
struct vc_test_list vc_exit_mmio_tests(void);
struct vc_test_list vc_exit_special_tests(void);
struct vc_test_list vc_state_tests(void);
struct vc_test_list vc_pause_tests(void);
struct vc_test_list vc_inject_tests(void);
struct vc_test_list vc_vmm_x86_tests(void);
struct vc_test_list vc_mode_switch_tests(void);
struct vc_test_list vc_paging_tests(void);
struct vc_test_list vc_profile_tests(void);
struct vc_test_list vc_canary_tests(void);

/* Every test of the suite in order (canary tests excluded), and the canary tests alone. */
size_t vc_suite(const struct vc_test **out);
size_t vc_canary(const struct vc_test **out);

/* What a test runs against: set by the runner before each test (test-process statics). */
struct vc_target {
	const char *backend;                   /* registered name */
	const struct vmsim_backend_ops *ops;   /* a built-in table or one loaded from plugin */
	const char *plugin;                    /* shared object path, or NULL for a built-in backend */
	enum vmsim_model model;
	const struct vc_test *test;            /* the test running now */
	const struct vmsim_profile *profile;   /* the kernel profile the cases expect (--profile; vmsim by default) */
};

void vc_set_target(const struct vc_target *target);
const struct vc_target *vc_target(void);
enum vmsim_model vc_model(void);
bool vc_svm(void);

/* Skip the running test with a reason (a skip is never a pass; the runner reports the reason). */
void vc_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The skip reason of the last test run in this process, or NULL. */
const char *vc_skip_reason(void);
void vc_clear_skip(void);

/* ---- env and session helpers (assert on failure) ---- */

/* An env (default pools unless ram/caps nonzero) with the target backend registered. */
struct vmsim_env *vt_env(uint64_t ram_pool, uint64_t cap_pool);
/* Open a session on the target backend and model with this donation. */
struct vmsim_session *vt_session(struct vmsim_env *env, uint64_t ram, uint64_t caps);
/* Session args for the target (for negative tests that call vmsim_session_open themselves). */
struct vmsim_session_args vt_session_args(uint64_t ram, uint64_t caps);
void vt_quota(const struct vmsim_session *s, struct vmsim_quota *q);
void vt_env_used(const struct vmsim_env *env, uint64_t *ram, uint64_t *caps);
/* Close everything and assert the env pool is back to zero. */
void vt_env_done(struct vmsim_env *env);
vmsim_ds_cap vt_ds(struct vmsim_env *env, uint64_t size);
/* Attach with the given protections; returns the result (no assert). */
enum vmsim_result vt_attach(struct vmsim_session *s, vmsim_ds_cap ds, uint64_t gpa, uint64_t offset,
                            uint64_t size, bool writeable, bool executable);
/*
 * got must be OK, except that a documented limitation of one backend (result on backend)
 * turns the test into a SKIP naming it. Every use is listed in docs/backend-guide.md.
 */
void vt_known_gap(enum vmsim_result got, const char *backend, enum vmsim_result result, const char *why);
/*
 * Skip (with the backend's cap_gap reason) unless the backend declares cap: for a need that depends on the
 * model the case runs under. Never on an outcome: an invalid-state exit is checked, not skipped.
 */
void vt_need(uint64_t cap);
/*
 * A state the session's model accepts but the other architecture refuses runs only where the backend's VM entry
 * is the model's own (VMSIM_CAP_ENTRY_AS_SVM/VMX): skip otherwise. refused_here/refused_other: the two models' rules.
 */
void vt_need_model_entry(bool refused_here, bool refused_other);
/* Check a handler's with_state result: OK, or DENIED because the vCPU is being destroyed under it. */
void vt_handler_result(enum vmsim_result r);
/* A vCPU whose handler leaves it stopped at every exit (STARTUP included); returns the create result. */
enum vmsim_result vt_idle_vcpu(struct vmsim_session *s, struct vmsim_vcpu **out);
/* Snapshot of what a failed call must leave unchanged. */
struct vt_snapshot {
	struct vmsim_quota q;
	uint64_t regions, tables;
};
void vt_snap(const struct vmsim_session *s, struct vt_snapshot *out);
void vt_assert_snap(const struct vmsim_session *s, const struct vt_snapshot *before);

/* ---- a guest VM: session + 1 MiB of RAM at gpa 0 + recording handler ---- */

enum vt_mode { VT_REAL, VT_PROT, VT_LONG };
/* the guest layout is vt_layout.h's (VT_LOAD, VT_RAM, ...); vt_wait_until is vt_wait.h's */
enum { VT_LOG = 256,
       VT_PML4 = 0x70000 /* long mode: PML4, PDPT, 4 PDs (identity, 2 MiB pages) up to 0x76000 */ };

struct vt_exit {
	unsigned reason;
	uint64_t ip, ip_len, qual_primary, qual_secondary, intr_state, actv_state;
	uint64_t ax, bx, cx, dx;
	bool ax_charged;
	struct vmsim_exit neutral; /* decoded with the session's model (for the differential trace) */
};

struct vt_vm;
struct vt_cpu;
/*
 * A test's exit policy, asked first. Return 1 to resume, 0 to stay stopped,
 * -1 to let the default VMM handle the exit. It may charge registers.
 */
typedef int (*vt_policy)(struct vt_cpu *c, struct vmsim_vcpu_state *st);

struct vt_cpu {
	struct vt_vm *vm;
	struct vmsim_vcpu *vcpu;  /* for the test thread (set when create returns) */
	struct vmsim_vcpu *self;  /* for policies: the handler's own argument, set before each with_state */
	unsigned index;
	uint64_t start_ip;       /* where STARTUP puts the vCPU */
	vt_policy policy;
	void *user;
	uint32_t in_value;       /* what IN exits return */
	pthread_mutex_t lock;
	pthread_cond_t changed;  /* broadcast under lock whenever n or stopped changes (vt_wait_stopped/exits) */
	unsigned n;              /* exits logged, under lock */
	struct vt_exit log[VT_LOG];
	bool stopped;            /* the handler left the vCPU stopped, under lock */
	unsigned handler_calls;
	unsigned paused;         /* PAUSED exits seen, under lock (the log keeps only VT_LOG) */
	unsigned user_state;     /* for policies */
	uint32_t reports[32];    /* port 0x30 values */
	unsigned nreports;
	uint32_t error_report;   /* port 0x31 value */
};

struct vt_vm {
	struct vmsim_env *env;
	struct vmsim_session *session;
	vmsim_ds_cap ds;
	struct vmsim_local_attachment local;
	uint8_t *ram;
	enum vt_mode mode;
	const struct vt_guest *guest;
	struct vmsim_entrypoint *ep;  /* NULL: handlers run inline */
	uint32_t intercepts;          /* VMSIM_INTERCEPT_* charged at STARTUP (default: every exit) */
	void *user;                   /* for policies; set before the vCPUs start */
	const struct vmsim_exit_config *config; /* for new vCPUs; NULL: every group on every exit */
	struct vt_cpu *cpu;           /* 64 of them, on the heap */
	unsigned ncpu;
	uint64_t prof_ns[3];          /* VMSIM_CONFORM_PROFILE: open done, first vCPU created, close begun (monotonic) */
	uint64_t prof_start_ns;
};

/* Session with a 1 MiB dataspace attached RWX at 0 (minus [hole_lo, hole_hi)), guest g loaded at VT_LOAD. */
void vt_vm_open(struct vt_vm *vm, enum vt_mode mode, const struct vt_guest *g, uint64_t hole_lo, uint64_t hole_hi);
/* With VMSIM_CONFORM_TRACE=DIR, write each vCPU's neutral exit sequence to DIR/backend/model/section__name. */
void vt_vm_trace(const struct vt_vm *vm);
/* Destroy vCPUs, close, free, destroy the env (tracing first): asserts nothing is left in use. */
void vt_vm_close(struct vt_vm *vm);
/* Create a vCPU starting at the guest label (NULL: guest offset 0); handler inline or on vm->ep. */
struct vt_cpu *vt_cpu_start(struct vt_vm *vm, const char *label, vt_policy policy);
/* Guest address of a label of the loaded guest (real mode: the offset from CS base). */
uint64_t vt_addr(struct vt_vm *vm, const char *label);
/* Wait until the handler has left the vCPU stopped (n >= count exits, or stopped). */
void vt_wait_stopped(struct vt_cpu *c);
void vt_wait_exits(struct vt_cpu *c, unsigned count);
/* The index of the first logged exit with this reason at or after from, or -1. */
int vt_find_reason(struct vt_cpu *c, unsigned reason, unsigned from);
/* The exit code of a kind from the manuals (a literal table, not the model's; asserts it has one). */
unsigned vt_code(enum vmsim_exit_kind kind);
/* The port of an I/O exit (qualification bits 31:16 on both encodings), -1 for any other exit. */
int vt_io_port(const struct vmsim_vcpu_state *st);
/* For an MSR exit (manual codes): 1 for WRMSR, 0 for RDMSR; -1 for any other exit. */
int vt_msr_write(const struct vmsim_vcpu_state *st);
/* ctrl_primary/ctrl_secondary for VMSIM_INTERCEPT_* written from the manuals' bit positions (not the model). */
void vt_encode_controls(uint32_t intercepts, uint64_t *primary, uint64_t *secondary);
/* The invalid-state exit code the run's profile reports: VMX 33; SVM 0xfd (vmsim, NOVA) or 0xffffffff (base-hw). */
unsigned vt_invalid_code(void);
/* Whether the run's profile forces HLT exiting / unrestricted guest whatever the VMM charged (literal bits). */
bool vt_profile_forces_hlt(void);
bool vt_profile_forces_unrestricted(void);
/* Write an IDT entry (protected or long mode) for vector -> guest label, and the flat GDT. */
void vt_idt(struct vt_vm *vm, uint8_t vector, const char *label);
/* Real-mode IVT entry vector -> CS 0x1000 : label. */
void vt_ivt(struct vt_vm *vm, uint8_t vector, const char *label);
/* Resume c, left stopped at a HLT by its policy, just past it: a with_state job on vm->ep (which must exist). */
void vt_resume_past_hlt(struct vt_vm *vm, struct vt_cpu *c);
/* Charge the mode's start state at ip (used by the default STARTUP policy). */
void vt_charge_start(struct vt_cpu *c, struct vmsim_vcpu_state *st, uint64_t ip);

/* Capability sets tests declare. */
#define VC_GUEST_PROT (VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_EXIT_IO)
#define VC_GUEST_REAL (VMSIM_CAP_MODE_REAL | VMSIM_CAP_EXIT_IO)
#define VC_GUEST_LONG (VMSIM_CAP_MODE_LONG | VMSIM_CAP_EXIT_IO)

extern const struct vt_guest vt_guest_pm_io, vt_guest_pm_mmio;

#endif
