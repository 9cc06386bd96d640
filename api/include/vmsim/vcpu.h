/* vmsim/vcpu.h - vCPUs of a session: creation charged against quota, registry, Exit_config. */
#ifndef VMSIM_API_VCPU_H
#define VMSIM_API_VCPU_H

#include <stdbool.h>
#include <stdint.h>

#include <vmsim/backend.h>
#include <vmsim/exit.h>
#include <vmsim/result.h>
#include <vmsim/vcpu_state.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vmsim_env;
struct vmsim_session;
struct vmsim_vcpu;
struct vmsim_entrypoint;

/*
 * Genode declares Exit_config empty; here it is real: per exit kind, the state
 * groups transferred to the VMM on that exit. Exit information (exit_reason,
 * qualifications, ip, ip_len) is always transferred.
 */
struct vmsim_exit_config {
	uint32_t groups[VMSIM_EXIT_KIND_COUNT];
};

/* The faithful default: every group on every exit. */
void vmsim_exit_config_all(struct vmsim_exit_config *config);
/* Nothing beyond the exit information on any exit (the fast path). */
void vmsim_exit_config_minimal(struct vmsim_exit_config *config);

/* A handler is signalled on every exit of its vCPU; it calls vmsim_vcpu_with_state. */
typedef void (*vmsim_vcpu_handler_fn)(void *ctx, struct vmsim_vcpu *vcpu);

struct vmsim_vcpu_args {
	vmsim_vcpu_handler_fn handler;
	void *handler_ctx;
	const struct vmsim_exit_config *exit_config; /* NULL: vmsim_exit_config_all */
	struct vmsim_entrypoint *entrypoint;         /* NULL: inline on the vCPU's own thread */
};

/*
 * An entrypoint: one dispatching thread that runs the handlers of the vCPUs
 * bound to it and posted jobs, in order (Genode's Entrypoint).
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_entrypoint_create(struct vmsim_env *env, const char *name,
                                                           struct vmsim_entrypoint **out);
/* Stop and join the thread. DENIED while vCPUs are bound to it or when called on its own thread. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_entrypoint_destroy(struct vmsim_entrypoint *ep);
/* Run fn(ctx) on the entrypoint's thread after what is queued (Genode's signal to a local handler). */
VMSIM_MUST_CHECK enum vmsim_result vmsim_entrypoint_post(struct vmsim_entrypoint *ep, void (*fn)(void *ctx),
                                                         void *ctx);
/* What core's kernel-state checks found for a vCPU (backend op kernel_state; docs/spec.md). */
struct vmsim_kernel_state_stats {
	uint64_t checked, mismatches;
	char last[192]; /* the last mismatch, "" if none */
};
/* Copy the vCPU's kernel-state counters (all zero where the backend has no kernel_state op). */
void vmsim_vcpu_kernel_state_stats(const struct vmsim_vcpu *vcpu, struct vmsim_kernel_state_stats *out);

/* Whether the calling thread is this entrypoint's thread (#1987: no is_ prefix; false for NULL). */
bool vmsim_entrypoint_current(const struct vmsim_entrypoint *ep);

/*
 * Create a vCPU. Its RAM and caps are charged first (OUT_OF_RAM/OUT_OF_CAPS,
 * nothing kept); ids count up from 0 and are never reused within a session.
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_vcpu_create(struct vmsim_session *session,
                                                     const struct vmsim_vcpu_args *args,
                                                     struct vmsim_vcpu **out);
/* Stop and destroy a vCPU, return its quota. INVALID_ARGUMENT for NULL; DENIED (logged, nothing done) from
 * its own inline handler, whose thread it would have to join. */
enum vmsim_result vmsim_vcpu_destroy(struct vmsim_vcpu *vcpu);

unsigned vmsim_vcpu_id(const struct vmsim_vcpu *vcpu);
struct vmsim_session *vmsim_vcpu_session(const struct vmsim_vcpu *vcpu);
/* The vCPU's Exit_config as given at creation. */
const struct vmsim_exit_config *vmsim_vcpu_exit_config(const struct vmsim_vcpu *vcpu);

/* The live vCPU with this id, or NULL. */
struct vmsim_vcpu *vmsim_session_vcpu(const struct vmsim_session *session, unsigned id);
/* Number of live vCPUs. */
unsigned vmsim_session_vcpu_count(const struct vmsim_session *session);
/* Live vCPUs in ascending id order; fn returns false to stop early. */
void vmsim_session_for_each_vcpu(const struct vmsim_session *session,
                                 bool (*fn)(void *ctx, struct vmsim_vcpu *vcpu), void *ctx);

/* A with_state function: inspect or charge the state; return true to resume the vCPU. */
typedef bool (*vmsim_with_state_fn)(void *ctx, struct vmsim_vcpu_state *state);

/*
 * Stop the vCPU (if running), call fn with its state, resume it only if fn
 * returns true, loading only the charged registers. DENIED off the handler's
 * entrypoint thread (the vCPU's own thread for an inline handler).
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_vcpu_with_state(struct vmsim_vcpu *vcpu, vmsim_with_state_fn fn,
                                                         void *ctx);
/*
 * Recall from any thread: the handler is signalled and its with_state finds the
 * vCPU stopped with PAUSED (0xff). Requests coalesce until a with_state sees one.
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_vcpu_pause(struct vmsim_vcpu *vcpu);

/* Exits this vCPU has taken, by neutral kind (STARTUP and PAUSED included). */
uint64_t vmsim_vcpu_exit_count(const struct vmsim_vcpu *vcpu, enum vmsim_exit_kind kind);
/* The neutral exit behind the state with_state shows now (kind NONE while running). */
void vmsim_vcpu_last_exit(const struct vmsim_vcpu *vcpu, struct vmsim_exit *out);

/*
 * Where CPUID cannot exit (the backend lacks VMSIM_CAP_EXIT_CPUID) the guest reads these entries. Before the vCPU
 * first runs (e.g. while its STARTUP is shown), else DENIED; UNSUPPORTED on backends whose CPUID exits.
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_vcpu_cpuid_set(struct vmsim_vcpu *vcpu, const struct vmsim_cpuid_entry *entries,
                                                        uint32_t count);

/*
 * From the next entry on, exceptions of these vectors (bit n: vector n, NMI's 2 refused) exit to the VMM instead
 * of reaching the guest. A vmsim extension (Genode's Vcpu_state has no exception bitmap); needs EXCEPTION_INTERCEPT.
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_vcpu_intercept_exceptions(struct vmsim_vcpu *vcpu, uint32_t vectors);

/* The hidden native-vCPU call (#3926): the backend's own handle, UNSUPPORTED if it has none. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_vcpu_native(struct vmsim_vcpu *vcpu, struct vmsim_native_vcpu *out);

#ifdef __cplusplus
}
#endif
#endif
