/* core/backend_registry.c - the env's backend registry: register a backend's ops table, find one by name. */
#include <string.h>

#include "internal.h"

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
