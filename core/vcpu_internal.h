/* core/vcpu_internal.h - vCPU, entrypoint and registry internals shared by the vCPU files and session.c. */
#ifndef VMSIM_CORE_VCPU_INTERNAL_H
#define VMSIM_CORE_VCPU_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <vmsim/vmsim.h>

struct vmsim_session;
struct vmsim_vcpu;
struct vmsim_entrypoint;

/* Ids are indices: never reused, so a slot of a destroyed vCPU stays NULL. */
struct vcpu_registry {
	struct vmsim_vcpu **slots;
	unsigned capacity;
	unsigned next_id;
	unsigned live;
};

/* Called by session open (before the session is visible) and close (after it is unreachable). */
void vcpu_registry_init(struct vcpu_registry *registry);
/* Destroy every live vCPU of the session and free the registry; quota returned per vCPU. */
void vcpu_registry_destroy_all(struct vmsim_session *session);

/* vmsim_vcpu.ctl: set by pausers and destroyers with atomic RMW, read by the vCPU thread. */
enum {
	VCPU_CTL_PAUSE = 1u,   /* a recall not yet seen by a with_state */
	VCPU_CTL_DESTROY = 2u, /* the vCPU is being destroyed */
	VCPU_CTL_IN_RUN = 4u,  /* changed under lock: the vCPU thread is in vcpu_run and not blocked; a pauser stops it */
	VCPU_CTL_EXCEPTIONS = 8u /* exception_request changed: the next entry sets it (vmsim_vcpu_intercept_exceptions) */
};

/* Whether a vCPU is executing guest code or stopped with a state to show. */
enum vcpu_run_state {
	VCPU_STOPPED = 0,
	VCPU_RUNNING = 1
};

/* A queued piece of entrypoint work: a vCPU's signal or a posted job. */
struct ep_node {
	struct ep_node *next;
	struct vmsim_vcpu *vcpu;  /* signal of this vCPU, or NULL for a job */
	void (*fn)(void *ctx);
	void *ctx;
	bool queued;              /* under ep->lock */
};

struct vmsim_vcpu {
	struct vmsim_session *session;
	unsigned id;
	vmsim_vcpu_handler_fn handler;
	void *handler_ctx;
	struct vmsim_entrypoint *ep; /* NULL: inline */
	struct vmsim_exit_config exit_config;
	void *backend_vcpu;

	pthread_t thread;       /* as pthread_create returned it: for join */
	pthread_t self;         /* as the thread saw itself, before self_known is released */
	atomic_bool self_known;
	pthread_mutex_t lock;
	pthread_cond_t cond;

	/*
	 * VCPU_CTL_* bits: the one word other threads change without the lock, so the inline
	 * exit path reads it instead of locking (docs/spec.md "The inline fast path").
	 */
	atomic_uint ctl;
	atomic_uint kicks;      /* bumped by every wake: what a spinning vCPU thread watches */
	atomic_uint exception_request; /* the vectors last asked for; applied with VCPU_CTL_EXCEPTIONS */

	/* Under lock, except on an inline vCPU's own thread inside its fast path (no other thread reads them). */
	enum vcpu_run_state run;
	bool resume_requested;  /* a with_state fn returned true; the vCPU thread loads and runs */
	bool stop_requested;    /* a with_state on a running vCPU waits for it to stop */
	bool signal_pending;    /* inline: the vCPU thread owes the handler a call */
	bool exit_fresh;        /* the stopped state's exit has not been shown yet */
	bool exited;            /* the vCPU thread has left its loop */
	bool in_fast;           /* vCPU thread: its inline handler runs on the fast path now */
	bool ran;               /* the backend's vcpu_run was entered once: the CPUID table is fixed */
	unsigned with_state_depth;
	unsigned waiters;       /* threads in pthread_cond_wait on cond */
	uint32_t fresh_groups;  /* groups transferred from the backend at this stop */
	uint32_t charged_groups; /* groups with a charged register at the last resume: all a stop must discharge */

	/* Written by whoever shows a stop (one at a time), read by any thread: atomics, no lock. */
	atomic_uint last_exit_seq;  /* odd while last_exit_words change */
	_Atomic uint64_t last_exit_words[(sizeof(struct vmsim_exit) + 7) / 8];
	_Atomic uint64_t exit_counts[VMSIM_EXIT_KIND_COUNT];
	struct vmsim_kernel_state_stats kernel_state; /* kernel_state.c, under kernel_state_busy */
	atomic_bool kernel_state_busy;                /* a spin lock: the fast path holds no vcpu->lock */

	struct vmsim_vcpu_state state; /* what with_state shows */
	struct vmsim_cpu_state cpu;    /* the backend-side mirror of fresh groups */
	struct ep_node signal;         /* this vCPU's node in its entrypoint queue */
};

/* How long a thread spins for a hand-off before it blocks (entrypoint.c, vcpu_exec.c). */
enum { VCPU_SPIN_NS = 30000, EP_SPIN_NS = 30000 };
/* Spin (with PAUSE) until *word differs from seen or ns pass; true if it changed. */
bool spin_until_changed(atomic_uint *word, unsigned seen, uint64_t ns);

/* vcpu_exec.c: the vCPU thread's body. */
void *vcpu_thread_main(void *arg);
/* vcpu_exec.c: tell the vCPU thread to stop for good and wake it; vcpu->lock held. */
void vcpu_exec_request_destroy(struct vmsim_vcpu *vcpu);

/* entrypoint.c */
void ep_bind(struct vmsim_entrypoint *ep);
void ep_unbind(struct vmsim_entrypoint *ep);
/* Queue the vCPU's signal unless already queued (signals coalesce, as Genode's do). */
void ep_submit_signal(struct vmsim_entrypoint *ep, struct vmsim_vcpu *vcpu);
/* Remove a vCPU's queued signal, if any, without waiting. */
void ep_forget_queued(struct vmsim_entrypoint *ep, struct vmsim_vcpu *vcpu);
/* Remove a vCPU's queued signal and wait until its handler is not running on the ep thread. */
void ep_forget_vcpu(struct vmsim_entrypoint *ep, struct vmsim_vcpu *vcpu);
bool ep_is_current(const struct vmsim_entrypoint *ep);

/* state_xfer.c: Vcpu_state <-> neutral CPU state, group by group. */
void state_from_cpu(uint32_t groups, const struct vmsim_cpu_state *cpu, struct vmsim_vcpu_state *state);
/* The groups in which the VMM charged at least one register (events and controls included). */
uint32_t state_charged_groups(const struct vmsim_vcpu_state *state);
/* vmsim_vcpu_state_discharge limited to the given groups (plus the exit information): O(charged groups). */
void state_discharge_groups(struct vmsim_vcpu_state *state, uint32_t groups);
/* Copy the charged GPRs, rip and rflags into cpu; returns their VMSIM_REG_* bits. */
uint32_t state_regs_to_cpu(const struct vmsim_vcpu_state *state, struct vmsim_cpu_state *cpu);
/* Overlay the charged registers of the given groups onto cpu. */
void state_to_cpu(uint32_t groups, const struct vmsim_vcpu_state *state, struct vmsim_cpu_state *cpu);

/* Intercepts a hypervisor kernel always sets for its VMM, whatever ctrl_* say (docs/spec.md). */
enum { VCPU_KERNEL_INTERCEPTS = VMSIM_INTERCEPT_IO | VMSIM_INTERCEPT_CPUID | VMSIM_INTERCEPT_VMCALL |
                                VMSIM_INTERCEPT_MSR | VMSIM_INTERCEPT_SHUTDOWN };

#endif
