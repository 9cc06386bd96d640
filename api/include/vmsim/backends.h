/* vmsim/backends.h - the backends built into libvmsim, and registering them with an env. */
#ifndef VMSIM_API_BACKENDS_H
#define VMSIM_API_BACKENDS_H

#include <vmsim/backend.h>
#include <vmsim/env.h>
#include <vmsim/result.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Register every built-in backend ("null", "unicorn" and "kvm") with env. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_register_builtin_backends(struct vmsim_env *env);

/* A backend that maps memory but never runs guest code: quota, RPC and fuzzing work without a CPU. */
const struct vmsim_backend_ops *vmsim_backend_null(void);
/* The emulated backend on Unicorn 2.0.1 (sim/unicorn). */
const struct vmsim_backend_ops *vmsim_backend_unicorn(void);
/* Hardware virtualization through /dev/kvm (sim/kvm); its sessions fail with UNSUPPORTED where there is none. */
const struct vmsim_backend_ops *vmsim_backend_kvm(void);

#ifdef __cplusplus
}
#endif
#endif
