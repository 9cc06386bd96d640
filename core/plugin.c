/* core/plugin.c - the plugin loader: a backend table from a shared object's versioned entry point. */
#include <dlfcn.h>
#include <stddef.h>

#include <vmsim/plugin.h>

/*
 * The object stays loaded for the life of the process: the env keeps pointers into it
 * (ops, names) and has no unload hook, and dlopen's refcount makes a second load of the
 * same path free. A table that fails registration is unloaded again.
 */
enum vmsim_result vmsim_env_load_backend(struct vmsim_env *env, const char *path,
                                         const struct vmsim_backend_ops **out)
{
	if (out)
		*out = NULL;
	if (!env || !path || !*path)
		return VMSIM_INVALID_ARGUMENT;
	void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		vmsim_env_log(env, VMSIM_LOG_ERROR, "backend plugin %s: %s", path, dlerror());
		return VMSIM_INVALID_ARGUMENT;
	}
	/* POSIX guarantees a void * from dlsym converts to a function pointer. */
	vmsim_backend_entry_fn entry;
	*(void **)&entry = dlsym(handle, VMSIM_BACKEND_ENTRY_SYMBOL);
	const struct vmsim_backend_ops *ops = entry ? entry() : NULL;
	if (!ops) {
		vmsim_env_log(env, VMSIM_LOG_ERROR, "backend plugin %s: no %s or it returned NULL", path,
		              VMSIM_BACKEND_ENTRY_SYMBOL);
		dlclose(handle);
		return VMSIM_INVALID_ARGUMENT;
	}
	/* Loading the same object into a second env finds the same table: not a duplicate to refuse. */
	if (ops->name && vmsim_env_backend(env, ops->name) == ops) {
		if (out)
			*out = ops;
		return VMSIM_OK;
	}
	enum vmsim_result result = vmsim_env_register_backend(env, ops);
	if (result != VMSIM_OK) {
		vmsim_env_log(env, VMSIM_LOG_ERROR, "backend plugin %s: registration refused (%s)", path,
		              vmsim_result_name(result));
		dlclose(handle);
		return result;
	}
	if (out)
		*out = ops;
	return VMSIM_OK;
}
