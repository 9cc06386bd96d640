/*
 * core/alloc.c - metadata allocation through the env's allocator, with fault injection: a leaf every module calls
 * (it calls nothing else in core).
 */
#include <stdatomic.h>
#include <string.h>

#include "internal.h"

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
