/* core/backend_registry.c - the env's backend registry: register a backend's ops table (now or on first lookup),
 * find one by name. */
#include <string.h>

#include "internal.h"

static struct backend_entry *find_entry(const struct vmsim_env *env, const char *name)
{
	for (size_t i = 0; i < env->backend_count; i++)
		if (strcmp(env->backends[i].name, name) == 0)
			return &env->backends[i];
	return NULL;
}

static bool ops_valid(const struct vmsim_backend_ops *ops)
{
	size_t v1_end = offsetof(struct vmsim_backend_ops, native) + sizeof(ops->native);
	return ops->abi_version == VMSIM_BACKEND_ABI_VERSION && ops->struct_size >= v1_end && ops->name &&
	       ops->name[0] && ops->vm_create && ops->vm_destroy && ops->mem_map && ops->mem_unmap &&
	       ops->vcpu_create && ops->vcpu_destroy;
}

/* Append entry under env->lock; a name taken already is INVALID_ARGUMENT. */
static enum vmsim_result add_entry(struct vmsim_env *env, struct backend_entry entry)
{
	if (find_entry(env, entry.name))
		return VMSIM_INVALID_ARGUMENT;
	if (env->backend_count == env->backend_capacity) {
		size_t capacity = env->backend_capacity ? env->backend_capacity * 2 : 4;
		struct backend_entry *grown = vmsim_env_alloc(env, capacity * sizeof(*grown));
		if (!grown)
			return VMSIM_OUT_OF_RAM;
		if (env->backend_count)
			memcpy(grown, env->backends, env->backend_count * sizeof(*grown));
		vmsim_env_free(env, env->backends, env->backend_capacity * sizeof(*grown));
		env->backends = grown;
		env->backend_capacity = capacity;
	}
	env->backends[env->backend_count++] = entry;
	return VMSIM_OK;
}

static void log_refused(struct vmsim_env *env, const char *name, enum vmsim_result result)
{
	if (result != VMSIM_OK)
		vmsim_env_log(env, VMSIM_LOG_WARN, "backend \"%s\" not registered: %s", name, vmsim_result_text(result));
}

enum vmsim_result vmsim_env_register_backend(struct vmsim_env *env, const struct vmsim_backend_ops *ops)
{
	if (!env || !ops || !ops_valid(ops))
		return VMSIM_INVALID_ARGUMENT;
	pthread_mutex_lock(&env->lock);
	enum vmsim_result result = add_entry(env, (struct backend_entry){ .name = ops->name, .ops = ops });
	pthread_mutex_unlock(&env->lock);
	log_refused(env, ops->name, result);
	return result;
}

enum vmsim_result vmsim_env_register_backend_lazy(struct vmsim_env *env, const char *name,
                                                  vmsim_backend_resolve_fn resolve)
{
	if (!env || !name || !name[0] || !resolve)
		return VMSIM_INVALID_ARGUMENT;
	pthread_mutex_lock(&env->lock);
	const struct backend_entry *known = find_entry(env, name);
	/* the caller keeps name alive as it keeps an ops table alive (a string literal, the table's own name) */
	enum vmsim_result result = known && known->resolve == resolve
	                                   ? VMSIM_OK
	                                   : add_entry(env, (struct backend_entry){ .name = name, .resolve = resolve });
	pthread_mutex_unlock(&env->lock);
	log_refused(env, name, result);
	return result;
}

const struct vmsim_backend_ops *vmsim_env_backend(const struct vmsim_env *env, const char *name)
{
	if (!env || !name)
		return NULL;
	struct vmsim_env *mutable_env = (struct vmsim_env *)env;
	bool refused_now = false;
	pthread_mutex_lock(&mutable_env->lock);
	struct backend_entry *entry = find_entry(env, name);
	if (entry && !entry->ops && entry->resolve && !entry->refused) {
		/* under the lock: a second thread asking meanwhile waits for the same table instead of building one */
		const struct vmsim_backend_ops *ops = entry->resolve();
		if (ops && ops_valid(ops) && strcmp(ops->name, name) == 0)
			entry->ops = ops;
		else
			entry->refused = refused_now = true;
	}
	const struct vmsim_backend_ops *ops = entry ? entry->ops : NULL;
	pthread_mutex_unlock(&mutable_env->lock);
	if (refused_now)
		vmsim_env_log(mutable_env, VMSIM_LOG_ERROR, "backend \"%s\": its table is not a valid one of that name",
		              name);
	return ops;
}
