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
 * Check path (a regular 64-bit ELF ET_DYN for this machine, not truncated), dlopen it, register its entry's
 * table as vmsim_env_register_backend does. INVALID_ARGUMENT if a check fails, it does not load or lacks the entry.
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_env_load_backend(struct vmsim_env *env, const char *path,
                                                          const struct vmsim_backend_ops **out);

#ifdef __cplusplus
}
#endif
#endif
