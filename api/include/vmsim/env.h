/* vmsim/env.h - the environment object every vmsim call hangs off; no globals. */
#ifndef VMSIM_API_ENV_H
#define VMSIM_API_ENV_H

#include <stddef.h>
#include <stdint.h>

#include <vmsim/log.h>
#include <vmsim/quota.h>
#include <vmsim/result.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vmsim_env;
struct vmsim_backend_ops;

/* Allocator hooks for every piece of vmsim metadata; free gets the size back. */
struct vmsim_allocator {
	void *(*alloc)(void *ctx, size_t size);
	void (*free)(void *ctx, void *ptr, size_t size);
	void *ctx;
};

/* Zero-initialise, then set what you need: every zero field takes its default. */
struct vmsim_env_config {
	const struct vmsim_allocator *allocator; /* NULL: malloc/free */
	vmsim_log_fn log;                        /* NULL: WARN and ERROR to stderr */
	void *log_ctx;
	enum vmsim_log_level log_level;          /* highest level passed to log; 0 = ERROR only */
	uint64_t ram_pool;  /* bytes for dataspaces and session donations; 0: 1 GiB */
	uint64_t cap_pool;  /* capabilities for the same; 0: 1,000,000 */
	uint64_t cap_seed;  /* seed of the capability tags; 0: from getrandom() */
};

/* Create an environment; cfg may be NULL for all defaults. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_env_create(const struct vmsim_env_config *cfg,
                                                    struct vmsim_env **out);
/* Close every session, free every dataspace, then the env itself. NULL is a no-op. */
void vmsim_env_destroy(struct vmsim_env *env);

/* The env's own RAM/cap pool: donations to sessions and dataspaces are its use. */
void vmsim_env_quota(const struct vmsim_env *env, struct vmsim_quota *out);

/* Make ops available to sessions under ops->name; rejects bad versions and duplicates. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_env_register_backend(struct vmsim_env *env,
                                                              const struct vmsim_backend_ops *ops);
/* Builds a backend's ops table when first asked for (vmsim_backend_kvm probes the host: tens of ms). */
typedef const struct vmsim_backend_ops *(*vmsim_backend_resolve_fn)(void);
/* Register name; resolve() gives its ops at the first vmsim_env_backend(env, name). The same pair again: a no-op. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_env_register_backend_lazy(struct vmsim_env *env, const char *name,
                                                                   vmsim_backend_resolve_fn resolve);
/* The backend registered under name (resolved now if registered lazily), or NULL. */
const struct vmsim_backend_ops *vmsim_env_backend(const struct vmsim_env *env, const char *name);

/* Fault injection: the nth metadata allocation from now fails (1 = the next); 0 disarms. */
void vmsim_env_fail_alloc_at(struct vmsim_env *env, uint64_t nth);
/* Allocations made through the env so far (for walking fault-injection points). */
uint64_t vmsim_env_alloc_count(const struct vmsim_env *env);

/* Log through the env's sink (printf format); used by core and by backends via their host. */
void vmsim_env_log(const struct vmsim_env *env, enum vmsim_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
