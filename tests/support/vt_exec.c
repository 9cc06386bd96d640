/* tests/support/vt_exec.c - session-with-guest helpers for the execution-model tests. */
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vt_cpu.h"
#include "vt_exec.h"

static const char *backend_name = "vt-cpu"; /* test-process setting, chosen in main() */

void vt_exec_use_backend(const char *name)
{
	backend_name = name;
}

const char *vt_exec_backend(void)
{
	return backend_name;
}

struct vmsim_env *vt_cpu_env(void)
{
	struct vmsim_env *env = NULL;
	struct vmsim_env_config cfg = { .cap_seed = 42 };
	assert_int_equal(vmsim_env_create(&cfg, &env), VMSIM_OK);
	assert_int_equal(vmsim_env_register_backend(env, vt_cpu_ops()), VMSIM_OK);
	return env;
}

struct vmsim_env *vt_exec_env(void)
{
	if (!strcmp(backend_name, "vt-cpu"))
		return vt_cpu_env();
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(NULL, &env), VMSIM_OK);
	assert_int_equal(vmsim_register_builtin_backends(env), VMSIM_OK);
	assert_non_null(vmsim_env_backend(env, backend_name));
	return env;
}

void vt_guest_open(struct vt_code_vm *g, enum vmsim_model model, uint64_t gpa, const uint8_t *code, size_t len)
{
	vt_guest_open_in(vt_exec_env(), backend_name, g, model, gpa, code, len);
}

void vt_guest_open_in(struct vmsim_env *env, const char *backend, struct vt_code_vm *g, enum vmsim_model model,
                      uint64_t gpa, const uint8_t *code, size_t len)
{
	memset(g, 0, sizeof *g);
	g->env = env;
	struct vmsim_session_args args = {
		.ram_quota = VMSIM_COST_SESSION_RAM + 64 * VMSIM_COST_VCPU_RAM + 64 * 1024,
		.cap_quota = VMSIM_COST_SESSION_CAPS + 64 * VMSIM_COST_VCPU_CAPS,
		.label = "vt",
		.backend = backend,
		.model = model,
	};
	assert_int_equal(vmsim_session_open(g->env, &args, &g->session), VMSIM_OK);
	assert_string_equal(vmsim_session_backend(g->session), backend);
	assert_int_equal(vmsim_ds_alloc(g->env, 4096, &g->ds), VMSIM_OK);
	struct vmsim_local_attr la = { .size = 0, .offset = 0, .writeable = true };
	assert_int_equal(vmsim_local_attach(g->env, g->ds, &la, &g->local), VMSIM_OK);
	memset(g->local.ptr, 0xf4, 4096);
	memcpy(g->local.ptr, code, len);
	if (gpa != UINT64_MAX) {
		struct vmsim_attach_attr attr = { 0, 0, true, true };
		struct vmsim_range range;
		assert_int_equal(vmsim_session_attach(g->session, g->ds, gpa, &attr, &range), VMSIM_OK);
	}
}

void vt_guest_close(struct vt_code_vm *g)
{
	vmsim_session_close(g->session);
	vmsim_local_release(g->env, &g->local);
	assert_int_equal(vmsim_ds_free(g->env, g->ds), VMSIM_OK);
	struct vmsim_quota q;
	vmsim_env_quota(g->env, &q);
	assert_int_equal(q.ram_used, 0);
	assert_int_equal(q.cap_used, 0);
	vmsim_env_destroy(g->env);
	memset(g, 0, sizeof *g);
}

void vt_flat_start_state(enum vmsim_model model, uint64_t ip, struct vmsim_vcpu_state *st)
{
	uint64_t p = 0, s = 0;
	vmsim_model_encode_controls(model, VMSIM_INTERCEPT_HLT | VMSIM_INTERCEPT_UNRESTRICTED_GUEST, &p, &s);
	vmsim_charge(st, ctrl_primary, p);
	vmsim_charge(st, ctrl_secondary, s);
	vmsim_charge(st, ip, ip);
	vmsim_charge(st, flags, 2);
	vmsim_charge(st, cr0, 0x10);
	vmsim_charge(st, cs, (struct vmsim_segment){ 0, 0x9b, 0xffff, 0 });
	vmsim_charge(st, ss, (struct vmsim_segment){ 0, 0x93, 0xffff, 0 });
}
