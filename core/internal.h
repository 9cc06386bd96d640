/* core/internal.h - core's private types and helpers; never included outside core/. */
#ifndef VMSIM_CORE_INTERNAL_H
#define VMSIM_CORE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmsim/vmsim.h>
#include <vmsim/profile.h>

#include "cap_table.h"
#include "vcpu_internal.h"

/* ---- allocation (alloc.c, a leaf) ---------------------------------------- */

/* Zeroed metadata from the env's allocator; NULL when it fails or fault injection fires. */
void *vmsim_env_alloc(struct vmsim_env *env, size_t size);
void vmsim_env_free(struct vmsim_env *env, void *ptr, size_t size);

/* ---- quota guards and session charges (quota.c, a leaf) ------------------ */

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

struct gpa_map;
struct npt_account;

struct vmsim_session {
	struct vmsim_env *env;
	struct vmsim_session *env_next, *env_prev; /* env's session list, under env->lock */
	char *label;
	enum vmsim_model model;
	const struct vmsim_backend_ops *ops;
	void *backend_vm;
	struct vmsim_backend_host host;
	vmsim_log_fn log; /* the session's own sink, or NULL for the env's */
	void *log_ctx;
	const struct vmsim_profile *profile; /* the kernel core reports as (never NULL) */
	uint32_t forced_intercepts;          /* VMSIM_INTERCEPT_* the profile adds before the VMM charges any */
	uint64_t priority, affinity;         /* Genode's session arguments as core records them */

	/* Serialises memory and registry changes; taken after env->lock, never before. */
	pthread_mutex_t lock;
	struct quota_guard ram;
	struct quota_guard caps;

	struct gpa_map *regions;      /* gpa_map.c */
	struct npt_account *npt;      /* npt.c */
	struct vcpu_registry vcpus;   /* vcpu.c */
};

/* kernel_state.c: check what the backend's kernel produced for this stop (vcpu->lock held, vCPU thread). */
void kernel_state_check(struct vmsim_vcpu *vcpu, const struct vmsim_exit *exit);

/* ---- the environment (env.c) --------------------------------------------- */

struct vmsim_dataspace;
struct local_mapping;
struct region;

/* One registered backend: its ops, or (lazy) the function that builds them at the first lookup. */
struct backend_entry {
	const char *name;
	const struct vmsim_backend_ops *ops;  /* NULL until resolved */
	vmsim_backend_resolve_fn resolve;     /* NULL for an eager registration */
	bool refused;                         /* resolve() gave no valid table under this name: never asked again */
};

struct vmsim_env {
	struct vmsim_allocator allocator;
	vmsim_log_fn log;
	void *log_ctx;
	enum vmsim_log_level log_level;

	/* Protects pool, caps table, the dataspace and session lists and the backend registry. */
	pthread_mutex_t lock;
	struct quota_guard ram;   /* the env pool: dataspaces and session donations */
	struct quota_guard caps;
	struct cap_table cap_table;
	struct vmsim_dataspace *dataspaces;
	struct local_mapping *orphans; /* local attachments that outlived their dataspace */
	uint64_t local_ids;            /* the last local attachment's id (never reused) */
	struct vmsim_session *sessions;

	struct backend_entry *backends; /* backend_registry.c */
	size_t backend_count, backend_capacity;

	/* Atomic: metadata is allocated under session locks of different sessions at once. */
	_Atomic uint64_t alloc_count;
	_Atomic uint64_t fail_at; /* alloc_count value whose allocation fails; 0: disarmed */
};

/* ---- logging (log.c, a leaf) ---------------------------------------------- */

/* The backend host's log of a session (ctx: the session): its own sink where it has one, else the env's. */
void session_host_log(void *ctx, enum vmsim_log_level level, const char *message);
/* Log what a session caused: to its own sink where it has one, else the env's (printf format). */
void session_log(const struct vmsim_session *session, enum vmsim_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- dataspaces (dataspace.c) -------------------------------------------- */

/* A Local_rm attachment; orphaned ones keep a PROT_NONE reservation until released. */
struct local_mapping {
	struct vmsim_env *env;
	struct vmsim_dataspace *ds;  /* NULL once orphaned */
	struct local_mapping *next, *prev;
	void *ptr;
	uint64_t size;
	uint64_t id;                 /* the attachment's _id: a stale copy names an id no live mapping has */
	bool writeable;
};

struct vmsim_dataspace {
	struct vmsim_env *env;
	struct vmsim_dataspace *env_next, *env_prev;
	uint64_t cap;           /* raw capability naming it */
	uint64_t size;          /* page-rounded */
	void *mem;              /* MAP_SHARED anonymous, so it can be mapped again */
	bool sealed;
	struct region *regions; /* guest attachments in every session */
	struct local_mapping *locals;
	uint64_t writeable_locals;
};

/* The live dataspace raw names in env, or NULL. Caller holds env->lock. */
struct vmsim_dataspace *ds_lookup(const struct vmsim_env *env, uint64_t raw);
void ds_link_region(struct vmsim_dataspace *ds, struct region *region);
void ds_unlink_region(struct vmsim_dataspace *ds, struct region *region);
/* Free a dataspace without guest attachments, orphaning its local ones. Caller holds env->lock. */
void ds_destroy(struct vmsim_dataspace *ds);
/* Flush a dataspace's guest attachments in every session, then ds_destroy it (dataspace_free.c). env->lock held. */
void ds_free(struct vmsim_dataspace *ds);
/* Unmap and free the local mappings ds_destroy orphaned. Caller holds env->lock. */
void ds_release_orphans(struct vmsim_env *env);

/* ---- guest memory (guest_memory.c) --------------------------------------- */

/* Flush a region whose dataspace is going away: unmap, drop its tables, mark it reserved. Both locks held. */
void region_flush(struct region *region);
/* Detach one region whole (reserved ones too) and free it. Both locks held. */
void region_detach(struct region *region);

#endif
