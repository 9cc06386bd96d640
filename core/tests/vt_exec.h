/* core/tests/vt_exec.h - helpers for execution-model tests: a session on vt-cpu with guest code attached. */
#ifndef VMSIM_CORE_TESTS_VT_EXEC_H
#define VMSIM_CORE_TESTS_VT_EXEC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmsim/vmsim.h>

struct vt_guest {
	struct vmsim_env *env;
	struct vmsim_session *session;
	vmsim_ds_cap ds;
	struct vmsim_local_attachment local;
};

/* Run the following tests on this backend: "vt-cpu" (default) or a built-in one such as "unicorn". */
void vt_exec_use_backend(const char *name);
/* The backend vt_guest_open uses. */
const char *vt_exec_backend(void);
/* An env with the chosen backend registered. */
struct vmsim_env *vt_exec_env(void);

/* A session on the chosen backend with one 4 KiB page at gpa holding code at page offset 0; quota for 64 vCPUs. */
void vt_guest_open(struct vt_guest *g, enum vmsim_model model, uint64_t gpa, const uint8_t *code, size_t len);
void vt_guest_close(struct vt_guest *g);

/* Wait (bounded: 10 s, then the test fails) until cond(ctx) holds; cond is polled. */
void vt_wait_until(bool (*cond)(void *ctx), void *ctx, const char *what);

#endif
