/* core/env.c - the environment: allocator, log sink, RAM/cap pool, backend registry, fault injection. */
#include <assert.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum {
	DEFAULT_RAM_POOL = 1024 * 1024 * 1024,
	DEFAULT_CAP_POOL = 1000000,
	LOG_LINE_MAX = 512
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

void vmsim_log_escape(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	if (!out || !size)
		return;
	for (const unsigned char *p = (const unsigned char *)(in ? in : ""); *p; p++) {
		bool plain = *p >= 0x20 && *p < 0x7f && *p != '\\';
		size_t need = plain ? 1 : *p == '\\' ? 2 : 4;
		if (o + need >= size)
			break; /* a whole escape or nothing: never half of one */
		if (plain) {
			out[o++] = (char)*p;
		} else if (*p == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = 0;
}

/* Messages carry names a client or guest chose (labels, backend names): escaped like the server's sink. */
static void stderr_sink(void *ctx, enum vmsim_log_level level, const char *message)
{
	char text[2048];
	(void)ctx;
	(void)level;
	vmsim_log_escape(message, text, sizeof text);
	fprintf(stderr, "vmsim: %s\n", text);
}

/* ---- allocation and fault injection -------------------------------------- */

void *vmsim_env_alloc(struct vmsim_env *env, size_t size)
{
	uint64_t nth = atomic_fetch_add(&env->alloc_count, 1) + 1;
	uint64_t armed = nth;
	/* Fire once: only the allocation whose number matches disarms and fails. */
	if (atomic_compare_exchange_strong(&env->fail_at, &armed, 0))
		return NULL;
	void *ptr = env->allocator.alloc(env->allocator.ctx, size);
	if (ptr)
		memset(ptr, 0, size);
	return ptr;
}

void vmsim_env_free(struct vmsim_env *env, void *ptr, size_t size)
{
	if (ptr)
		env->allocator.free(env->allocator.ctx, ptr, size);
}

void vmsim_env_fail_alloc_at(struct vmsim_env *env, uint64_t nth)
{
	if (!env)
		return;
	atomic_store(&env->fail_at, nth ? atomic_load(&env->alloc_count) + nth : 0);
}

uint64_t vmsim_env_alloc_count(const struct vmsim_env *env)
{
	return env ? atomic_load(&((struct vmsim_env *)env)->alloc_count) : 0;
}

/* ---- logging ------------------------------------------------------------- */

/* Format and hand one line to sink, at the env's level: the env's own lines and a session's alike. */
__attribute__((format(printf, 5, 0))) static void log_to(const struct vmsim_env *env, vmsim_log_fn sink, void *ctx,
                                                         enum vmsim_log_level level, const char *fmt, va_list args)
{
	if (!fmt || level > env->log_level)
		return;
	char line[LOG_LINE_MAX];
	vsnprintf(line, sizeof(line), fmt, args);
	sink(ctx, level, line);
}

void vmsim_env_log(const struct vmsim_env *env, enum vmsim_log_level level, const char *fmt, ...)
{
	if (!env)
		return;
	va_list args;
	va_start(args, fmt);
	log_to(env, env->log, env->log_ctx, level, fmt, args);
	va_end(args);
}

void session_log(const struct vmsim_session *session, enum vmsim_log_level level, const char *fmt, ...)
{
	const struct vmsim_env *env = session->env;
	va_list args;
	va_start(args, fmt);
	if (session->log)
		log_to(env, session->log, session->log_ctx, level, fmt, args);
	else
		log_to(env, env->log, env->log_ctx, level, fmt, args);
	va_end(args);
}

void session_host_log(void *ctx, enum vmsim_log_level level, const char *message)
{
	session_log(ctx, level, "%s", message ? message : "");
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
		ds_destroy(env->dataspaces);
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

/* ---- backend registry ---------------------------------------------------- */

static const struct vmsim_backend_ops *find_backend(const struct vmsim_env *env, const char *name)
{
	for (size_t i = 0; i < env->backend_count; i++)
		if (strcmp(env->backends[i]->name, name) == 0)
			return env->backends[i];
	return NULL;
}

static bool ops_valid(const struct vmsim_backend_ops *ops)
{
	size_t v1_end = offsetof(struct vmsim_backend_ops, native) + sizeof(ops->native);
	return ops->abi_version == VMSIM_BACKEND_ABI_VERSION && ops->struct_size >= v1_end && ops->name &&
	       ops->name[0] && ops->vm_create && ops->vm_destroy && ops->mem_map && ops->mem_unmap &&
	       ops->vcpu_create && ops->vcpu_destroy;
}

enum vmsim_result vmsim_env_register_backend(struct vmsim_env *env, const struct vmsim_backend_ops *ops)
{
	if (!env || !ops || !ops_valid(ops))
		return VMSIM_INVALID_ARGUMENT;
	enum vmsim_result result = VMSIM_OK;
	pthread_mutex_lock(&env->lock);
	if (find_backend(env, ops->name)) {
		result = VMSIM_INVALID_ARGUMENT;
	} else if (env->backend_count == env->backend_capacity) {
		size_t capacity = env->backend_capacity ? env->backend_capacity * 2 : 4;
		const struct vmsim_backend_ops **grown = vmsim_env_alloc(env, capacity * sizeof(*grown));
		if (!grown) {
			result = VMSIM_OUT_OF_RAM;
		} else {
			if (env->backend_count)
				memcpy(grown, env->backends, env->backend_count * sizeof(*grown));
			vmsim_env_free(env, env->backends, env->backend_capacity * sizeof(*grown));
			env->backends = grown;
			env->backend_capacity = capacity;
		}
	}
	if (result == VMSIM_OK)
		env->backends[env->backend_count++] = ops;
	pthread_mutex_unlock(&env->lock);
	if (result != VMSIM_OK)
		vmsim_env_log(env, VMSIM_LOG_WARN, "backend \"%s\" not registered: %s", ops->name,
		              vmsim_result_text(result));
	return result;
}

const struct vmsim_backend_ops *vmsim_env_backend(const struct vmsim_env *env, const char *name)
{
	if (!env || !name)
		return NULL;
	struct vmsim_env *mutable_env = (struct vmsim_env *)env;
	pthread_mutex_lock(&mutable_env->lock);
	const struct vmsim_backend_ops *ops = find_backend(env, name);
	pthread_mutex_unlock(&mutable_env->lock);
	return ops;
}
