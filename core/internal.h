/* core/internal.h - core's private types and helpers; never included outside core/. */
#ifndef VMSIM_CORE_INTERNAL_H
#define VMSIM_CORE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmsim/vmsim.h>

#include "vcpu_internal.h"

/* ---- allocation (env.c) -------------------------------------------------- */

/* Zeroed metadata from the env's allocator; NULL when it fails or fault injection fires. */
void *vmsim_env_alloc(struct vmsim_env *env, size_t size);
void vmsim_env_free(struct vmsim_env *env, void *ptr, size_t size);

/* ---- quota guards (env.c) ------------------------------------------------ */

struct quota_guard {
	uint64_t limit;
	uint64_t used;
};

/* Withdraw amount if it fits (overflow-safe); false and unchanged otherwise. */
bool quota_withdraw(struct quota_guard *guard, uint64_t amount);
/* Give back what quota_withdraw took; a replenish beyond used is an internal bug (asserted). */
void quota_replenish(struct quota_guard *guard, uint64_t amount);
static inline uint64_t quota_avail(const struct quota_guard *guard) { return guard->limit - guard->used; }

/*
 * A session charge: RAM and caps withdrawn together, before anything is built.
 * Returns OK, OUT_OF_RAM or OUT_OF_CAPS; on failure nothing is withdrawn.
 */
enum vmsim_result session_charge(struct vmsim_session *session, uint64_t ram, uint64_t caps);
void session_uncharge(struct vmsim_session *session, uint64_t ram, uint64_t caps);

/* ---- the session (session.c) --------------------------------------------- */

struct vmsim_session {
	struct vmsim_env *env;
	struct vmsim_session *env_next, *env_prev; /* env's session list, under env->lock */
	char *label;
	enum vmsim_model model;
	const struct vmsim_backend_ops *ops;
	void *backend_vm;
	struct vmsim_backend_host host;

	/* Serialises memory and registry changes; taken after env->lock, never before. */
	pthread_mutex_t lock;
	struct quota_guard ram;
	struct quota_guard caps;

	struct gpa_map *regions;      /* gpa_map.c */
	struct npt_account *npt;      /* npt.c */
	struct vcpu_registry vcpus;   /* vcpu.c */
};

#endif
