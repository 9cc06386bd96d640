/*
 * core/env.c - the environment's life cycle: create (allocator, log sink, RAM/cap pool) and destroy (its sessions,
 * then its dataspaces). The top of core's layers (docs/architecture.md, "Layers"): it calls down, nothing calls it.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum {
	DEFAULT_RAM_POOL = 1024 * 1024 * 1024,
	DEFAULT_CAP_POOL = 1000000
};

static void *default_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return malloc(size);
}

static void default_free(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	(void)size;
	free(ptr);
}

static const struct vmsim_allocator default_allocator = {default_alloc, default_free, NULL};

/* Messages carry names a client or guest chose (labels, backend names): escaped like the server's sink. */
static void stderr_sink(void *ctx, enum vmsim_log_level level, const char *message)
{
	char text[2048];
	(void)ctx;
	(void)level;
	vmsim_log_escape(message, text, sizeof text);
	fprintf(stderr, "vmsim: %s\n", text);
}

/* ---- life cycle ---------------------------------------------------------- */

enum vmsim_result vmsim_env_create(const struct vmsim_env_config *cfg, struct vmsim_env **out)
{
	static const struct vmsim_env_config defaults = {0};
	if (!out)
		return VMSIM_INVALID_ARGUMENT;
	*out = NULL;
	if (!cfg)
		cfg = &defaults;
	const struct vmsim_allocator *allocator = cfg->allocator ? cfg->allocator : &default_allocator;
	if (!allocator->alloc || !allocator->free || (unsigned)cfg->log_level > VMSIM_LOG_DEBUG)
		return VMSIM_INVALID_ARGUMENT;

	struct vmsim_env *env = allocator->alloc(allocator->ctx, sizeof(*env));
	if (!env)
		return VMSIM_OUT_OF_RAM;
	memset(env, 0, sizeof(*env));
	if (pthread_mutex_init(&env->lock, NULL) != 0) {
		allocator->free(allocator->ctx, env, sizeof(*env));
		return VMSIM_OUT_OF_RAM;
	}
	env->allocator = *allocator;
	env->log = cfg->log ? cfg->log : stderr_sink;
	env->log_ctx = cfg->log_ctx;
	env->log_level = cfg->log_level;
	/* The documented default sink shows warnings too; an explicit sink gets exactly log_level. */
	if (!cfg->log && env->log_level < VMSIM_LOG_WARN)
		env->log_level = VMSIM_LOG_WARN;
	env->ram.limit = cfg->ram_pool ? cfg->ram_pool : DEFAULT_RAM_POOL;
	env->caps.limit = cfg->cap_pool ? cfg->cap_pool : DEFAULT_CAP_POOL;
	cap_table_init(&env->cap_table, cfg->cap_seed);
	atomic_init(&env->alloc_count, 0);
	atomic_init(&env->fail_at, 0);
	*out = env;
	return VMSIM_OK;
}

void vmsim_env_destroy(struct vmsim_env *env)
{
	if (!env)
		return;
	for (;;) {
		/* vmsim_session_close takes env->lock itself. */
		pthread_mutex_lock(&env->lock);
		struct vmsim_session *session = env->sessions;
		pthread_mutex_unlock(&env->lock);
		if (!session)
			break;
		vmsim_session_close(session);
	}
	pthread_mutex_lock(&env->lock);
	while (env->dataspaces)
		ds_free(env->dataspaces);
	ds_release_orphans(env);
	cap_table_destroy(env, &env->cap_table);
	vmsim_env_free(env, env->backends, env->backend_capacity * sizeof(*env->backends));
	pthread_mutex_unlock(&env->lock);
	pthread_mutex_destroy(&env->lock);
	struct vmsim_allocator allocator = env->allocator;
	allocator.free(allocator.ctx, env, sizeof(*env));
}

void vmsim_env_quota(const struct vmsim_env *env, struct vmsim_quota *out)
{
	if (!env || !out)
		return;
	struct vmsim_env *mutable_env = (struct vmsim_env *)env; /* the lock is not part of the value */
	pthread_mutex_lock(&mutable_env->lock);
	out->ram_limit = env->ram.limit;
	out->ram_used = env->ram.used;
	out->cap_limit = env->caps.limit;
	out->cap_used = env->caps.used;
	pthread_mutex_unlock(&mutable_env->lock);
}
