/* sim/registry.c - the explicit table of backends built into libvmsim, and their registration with an env. */
#include <stddef.h>

#include <vmsim/backends.h>
#include <vmsim/env.h>

typedef const struct vmsim_backend_ops *(*builtin_backend_fn)(void);

/* An explicit table, no constructors or linker sections: what is listed here is what libvmsim offers. */
static const builtin_backend_fn builtin_backends[] = {
	vmsim_backend_null,
	vmsim_backend_unicorn,
	vmsim_backend_kvm,
};

enum vmsim_result vmsim_register_builtin_backends(struct vmsim_env *env)
{
	if (!env)
		return VMSIM_INVALID_ARGUMENT;
	for (size_t i = 0; i < sizeof builtin_backends / sizeof builtin_backends[0]; i++) {
		const struct vmsim_backend_ops *ops = builtin_backends[i]();
		/* Registering twice is harmless; a different backend under the same name is the env's to refuse. */
		if (vmsim_env_backend(env, ops->name) == ops)
			continue;
		enum vmsim_result result = vmsim_env_register_backend(env, ops);
		if (result != VMSIM_OK)
			return result;
	}
	return VMSIM_OK;
}
