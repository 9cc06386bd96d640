/* sim/registry.c - the explicit table of backends built into libvmsim, and their registration with an env. */
#include <stddef.h>

#include <vmsim/backends.h>
#include <vmsim/env.h>

/*
 * An explicit table, no constructors or linker sections: what is listed here is what libvmsim offers. KVM's table
 * is built at the first lookup of "kvm": building it probes the host with guests of its own (tens of ms on a host
 * that emulates them), which a process that only runs unicorn never needs.
 */
static const struct {
	const char *name;
	vmsim_backend_resolve_fn ops;
	bool lazy;
} builtin_backends[] = {
	{ "null", vmsim_backend_null, false },
	{ "unicorn", vmsim_backend_unicorn, false },
	{ "kvm", vmsim_backend_kvm, true },
};

enum vmsim_result vmsim_register_builtin_backends(struct vmsim_env *env)
{
	if (!env)
		return VMSIM_INVALID_ARGUMENT;
	for (size_t i = 0; i < sizeof builtin_backends / sizeof builtin_backends[0]; i++) {
		enum vmsim_result result;
		if (builtin_backends[i].lazy) {
			/* the same name and function again is a no-op; another backend under the name is refused */
			result = vmsim_env_register_backend_lazy(env, builtin_backends[i].name, builtin_backends[i].ops);
		} else {
			const struct vmsim_backend_ops *ops = builtin_backends[i].ops();
			/* Registering twice is harmless; a different backend under the same name is the env's to refuse. */
			if (vmsim_env_backend(env, ops->name) == ops)
				continue;
			result = vmsim_env_register_backend(env, ops);
		}
		if (result != VMSIM_OK)
			return result;
	}
	return VMSIM_OK;
}
