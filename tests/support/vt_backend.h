/* tests/support/vt_backend.h - "vt": a recording test-double backend (maps nothing, runs nothing). */
#ifndef VMSIM_TESTS_SUPPORT_VT_BACKEND_H
#define VMSIM_TESTS_SUPPORT_VT_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include <vmsim/vmsim.h>

enum vt_op { VT_VM_CREATE, VT_VM_DESTROY, VT_MAP, VT_UNMAP, VT_VCPU_CREATE, VT_VCPU_DESTROY, VT_OP_COUNT };

/* One backend call: every call is logged, failed ones included (gpa/size/prot/hva for maps, id for vCPUs). */
struct vt_call {
	enum vt_op op;
	uint64_t gpa, size;
	unsigned prot;
	void *hva;
	unsigned id;
};

/* name "vt", caps 0, run/stop/state/native ops NULL. */
const struct vmsim_backend_ops *vt_backend_ops(void);
/* Clear the call log and armed failures. */
void vt_backend_reset(void);
/* The log, in order; the pointer is valid until the next backend call or reset. */
size_t vt_backend_calls(const struct vt_call **calls);
size_t vt_backend_count(enum vt_op op);
/*
 * The next call of op returns result (void ops ignore it). For VT_VM_CREATE and
 * VT_VCPU_CREATE, VMSIM_OK arms a misbehaving backend: OK with a NULL handle.
 */
void vt_backend_fail_next(enum vt_op op, enum vmsim_result result);
/* An env with defaults and "vt" registered; asserts (CMocka). */
struct vmsim_env *vt_env_new(void);
/* A session on "vt" with this donation; asserts (CMocka). */
struct vmsim_session *vt_session_new(struct vmsim_env *env, enum vmsim_model model, uint64_t ram, uint64_t caps);

/* Counts every allocation an env makes through it (tests of leaks and fault injection). */
struct vt_counting_allocator {
	struct vmsim_allocator hooks; /* pass &hooks as vmsim_env_config.allocator */
	uint64_t allocs, frees;
	uint64_t live_bytes;
};
void vt_counting_allocator_init(struct vt_counting_allocator *counter);

#endif
