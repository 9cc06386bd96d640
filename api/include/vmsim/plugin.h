/* vmsim/plugin.h - loading a third-party CPU backend from a shared object (the plugin ABI). */
#ifndef VMSIM_API_PLUGIN_H
#define VMSIM_API_PLUGIN_H

#include <vmsim/backend.h>
#include <vmsim/env.h>
#include <vmsim/result.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * dlopen path, call its VMSIM_BACKEND_ENTRY_SYMBOL and register the table with env (same checks as
 * vmsim_env_register_backend). INVALID_ARGUMENT if it does not load or lacks the entry; *out optional.
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_env_load_backend(struct vmsim_env *env, const char *path,
                                                          const struct vmsim_backend_ops **out);

#ifdef __cplusplus
}
#endif
#endif
