/* tests/support/vt_exec.h - helpers for execution-model tests: a session on vt-cpu with guest code attached. */
#ifndef VMSIM_TESTS_SUPPORT_VT_EXEC_H
#define VMSIM_TESTS_SUPPORT_VT_EXEC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmsim/vmsim.h>

#include "vt_gate.h"
#include "vt_wait.h"

struct vt_code_vm {
	struct vmsim_env *env;
	struct vmsim_session *session;
	vmsim_ds_cap ds;
	struct vmsim_local_attachment local;
};

/* Run the following tests on this backend: "vt-cpu" (default) or a built-in one such as "unicorn". */
void vt_exec_use_backend(const char *name);
/* The backend vt_guest_open uses. */
const char *vt_exec_backend(void);
/* An env (cap seed 42) with the vt-cpu double registered as "vt-cpu". */
struct vmsim_env *vt_cpu_env(void);
/* An env with the chosen backend registered. */
struct vmsim_env *vt_exec_env(void);

/* A session on the chosen backend with one 4 KiB page at gpa holding code at page offset 0; quota for 64 vCPUs. */
void vt_guest_open(struct vt_code_vm *g, enum vmsim_model model, uint64_t gpa, const uint8_t *code, size_t len);
/* The same in env (taken over: vt_guest_close destroys it) on the backend registered there as backend. */
void vt_guest_open_in(struct vmsim_env *env, const char *backend, struct vt_code_vm *g, enum vmsim_model model,
                      uint64_t gpa, const uint8_t *code, size_t len);
void vt_guest_close(struct vt_code_vm *g);
/* Charge a flat real-mode-like start at ip with HLT intercepted (and unrestricted guest for VMX). */
void vt_flat_start_state(enum vmsim_model model, uint64_t ip, struct vmsim_vcpu_state *st);

#endif
