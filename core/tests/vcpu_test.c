/* core/tests/vcpu_test.c - the vCPU registry: quota charged first, ids, lookup, iteration, failure paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "vt_cpu.h"
#include "vt_exec.h"

/* A handler that leaves every vCPU stopped at STARTUP: the registry tests need no guest. */
static bool stay(void *ctx, struct vmsim_vcpu_state *st)
{
	(void)ctx;
	(void)st;
	return false;
}

static void handler(void *ctx, struct vmsim_vcpu *vcpu)
{
	(void)ctx;
	/* DENIED is the spec's answer while the vCPU is being destroyed (a handler may still run then) */
	enum vmsim_result r = vmsim_vcpu_with_state(vcpu, stay, NULL);
	if (r != VMSIM_DENIED)
		assert_int_equal(r, VMSIM_OK);
}

static struct vmsim_session *open_session(struct vmsim_env *env, uint64_t ram, uint64_t caps)
{
	struct vmsim_session_args args = { .ram_quota = ram, .cap_quota = caps, .label = "vcpu-test", .backend = "vt-cpu",
	                                    .model = VMSIM_MODEL_SVM };
	struct vmsim_session *s = NULL;
	assert_int_equal(vmsim_session_open(env, &args, &s), VMSIM_OK);
	return s;
}

static const struct vmsim_vcpu_args stock_args = { handler, NULL, NULL, NULL };

static void assert_quota(struct vmsim_session *s, uint64_t ram_used, uint64_t cap_used)
{
	struct vmsim_quota q;
	vmsim_session_quota(s, &q);
	assert_int_equal(q.ram_used, ram_used);
	assert_int_equal(q.cap_used, cap_used);
}

/* Genode's default quota (5 MiB, 10 caps) holds 4 vCPUs: 1 cap for the session, 2 per vCPU. */
static void test_default_quota_bounds_vcpus(void **unused)
{
	(void)unused;
	struct vmsim_env *env = vt_cpu_env();
	struct vmsim_session *s = open_session(env, VMSIM_SESSION_DEFAULT_RAM, VMSIM_SESSION_DEFAULT_CAPS);
	struct vmsim_vcpu *v[5];
	for (int i = 0; i < 4; i++) {
		assert_int_equal(vmsim_vcpu_create(s, &stock_args, &v[i]), VMSIM_OK);
		assert_int_equal(vmsim_vcpu_id(v[i]), (unsigned)i);
	}
	assert_quota(s, VMSIM_COST_SESSION_RAM + 4 * VMSIM_COST_VCPU_RAM, 1 + 4 * VMSIM_COST_VCPU_CAPS);
	v[4] = (struct vmsim_vcpu *)&v; /* must be reset to NULL on failure */
	assert_int_equal(vmsim_vcpu_create(s, &stock_args, &v[4]), VMSIM_OUT_OF_CAPS);
	assert_null(v[4]);
	assert_quota(s, VMSIM_COST_SESSION_RAM + 4 * VMSIM_COST_VCPU_RAM, 1 + 4 * VMSIM_COST_VCPU_CAPS);
	/* Genode's retry: upgrade by 2 caps, then it fits and takes the next id */
	assert_int_equal(vmsim_session_upgrade(s, 0, 2), VMSIM_OK);
	assert_int_equal(vmsim_vcpu_create(s, &stock_args, &v[4]), VMSIM_OK);
	assert_int_equal(vmsim_vcpu_id(v[4]), 4);
	vmsim_session_close(s);
	struct vmsim_quota pool;
	vmsim_env_quota(env, &pool);
	assert_int_equal(pool.ram_used, 0);
	assert_int_equal(pool.cap_used, 0);
	vmsim_env_destroy(env);
}

static void test_out_of_ram_restores_quota(void **unused)
{
	(void)unused;
	struct vmsim_env *env = vt_cpu_env();
	/* room for the session and one vCPU, one page short of a second */
	uint64_t ram = VMSIM_COST_SESSION_RAM + 2 * VMSIM_COST_VCPU_RAM - 4096;
	struct vmsim_session *s = open_session(env, ram, 100);
	struct vmsim_vcpu *v = NULL;
	assert_int_equal(vmsim_vcpu_create(s, &stock_args, &v), VMSIM_OK);
	assert_int_equal(vmsim_vcpu_create(s, &stock_args, &v), VMSIM_OUT_OF_RAM);
	assert_quota(s, VMSIM_COST_SESSION_RAM + VMSIM_COST_VCPU_RAM, 1 + VMSIM_COST_VCPU_CAPS);
	assert_int_equal(vmsim_session_vcpu_count(s), 1);
	assert_int_equal(vmsim_session_upgrade(s, 4096, 0), VMSIM_OK);
	assert_int_equal(vmsim_vcpu_create(s, &stock_args, &v), VMSIM_OK);
	assert_int_equal(vmsim_vcpu_id(v), 1); /* the failed attempt consumed no id */
	vmsim_session_close(s);
	vmsim_env_destroy(env);
}

static void test_ids_lookup_iteration(void **unused)
{
	(void)unused;
	struct vmsim_env *env = vt_cpu_env();
	struct vmsim_session *s = open_session(env, 64 << 20, 1000);
	struct vmsim_vcpu *v[64];
	for (int i = 0; i < 64; i++)
		assert_int_equal(vmsim_vcpu_create(s, &stock_args, &v[i]), VMSIM_OK);
	assert_int_equal(vmsim_session_vcpu_count(s), 64);
	for (int i = 0; i < 64; i += 3)
		vmsim_vcpu_destroy(v[i]);
	assert_int_equal(vmsim_session_vcpu_count(s), 64 - 22);
	for (unsigned i = 0; i < 64; i++) {
		struct vmsim_vcpu *found = vmsim_session_vcpu(s, i);
		if (i % 3 == 0)
			assert_null(found);
		else
			assert_ptr_equal(found, v[i]);
		if (found)
			assert_ptr_equal(vmsim_vcpu_session(found), s);
	}
	assert_null(vmsim_session_vcpu(s, 64));
	assert_null(vmsim_session_vcpu(s, ~0u));

	struct vmsim_vcpu *fresh;
	assert_int_equal(vmsim_vcpu_create(s, &stock_args, &fresh), VMSIM_OK);
	assert_int_equal(vmsim_vcpu_id(fresh), 64); /* ids are never reused */
	assert_quota(s, VMSIM_COST_SESSION_RAM + 43 * VMSIM_COST_VCPU_RAM, 1 + 43 * VMSIM_COST_VCPU_CAPS);
	vmsim_session_close(s); /* 43 vCPUs still present */
	vmsim_env_destroy(env);
}

struct collect {
	unsigned ids[128], n, stop_after;
};

static bool collect(void *ctx, struct vmsim_vcpu *vcpu)
{
	struct collect *c = ctx;
	c->ids[c->n++] = vmsim_vcpu_id(vcpu);
	return c->n != c->stop_after;
}

static void test_for_each_in_id_order(void **unused)
{
	(void)unused;
	struct vmsim_env *env = vt_cpu_env();
	struct vmsim_session *s = open_session(env, 16 << 20, 100);
	struct vmsim_vcpu *v[6];
	for (int i = 0; i < 6; i++)
		assert_int_equal(vmsim_vcpu_create(s, &stock_args, &v[i]), VMSIM_OK);
	vmsim_vcpu_destroy(v[2]);
	struct collect c = { .stop_after = 0 };
	vmsim_session_for_each_vcpu(s, collect, &c);
	assert_int_equal(c.n, 5);
	const unsigned want[] = { 0, 1, 3, 4, 5 };
	assert_memory_equal(c.ids, want, sizeof want);
	struct collect early = { .stop_after = 2 };
	vmsim_session_for_each_vcpu(s, collect, &early);
	assert_int_equal(early.n, 2);
	vmsim_session_close(s);
	vmsim_env_destroy(env);
}

static enum vmsim_result failing_vcpu_create(void *vm, unsigned id, void **out)
{
	(void)vm;
	(void)id;
	(void)out;
	return VMSIM_BACKEND_ERROR;
}

static void test_backend_failure_restores_quota(void **unused)
{
	(void)unused;
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(NULL, &env), VMSIM_OK);
	struct vmsim_backend_ops broken = *vt_cpu_ops();
	broken.name = "broken";
	broken.vcpu_create = failing_vcpu_create;
	assert_int_equal(vmsim_env_register_backend(env, &broken), VMSIM_OK);
	struct vmsim_session_args args = { .ram_quota = 1 << 20, .cap_quota = 10, .label = "broken", .backend = "broken",
	                                    .model = VMSIM_MODEL_VMX };
	struct vmsim_session *s;
	assert_int_equal(vmsim_session_open(env, &args, &s), VMSIM_OK);
	struct vmsim_vcpu *v = NULL;
	assert_int_equal(vmsim_vcpu_create(s, &stock_args, &v), VMSIM_BACKEND_ERROR);
	assert_null(v);
	assert_quota(s, VMSIM_COST_SESSION_RAM, VMSIM_COST_SESSION_CAPS);
	assert_int_equal(vmsim_session_vcpu_count(s), 0);
	vmsim_session_close(s);
	vmsim_env_destroy(env);
}

static void test_bad_arguments(void **unused)
{
	(void)unused;
	struct vmsim_env *env = vt_cpu_env();
	struct vmsim_session *s = open_session(env, 1 << 20, 10);
	struct vmsim_vcpu *v;
	struct vmsim_vcpu_args no_handler = { NULL, NULL, NULL, NULL };
	assert_int_equal(vmsim_vcpu_create(s, &no_handler, &v), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_vcpu_create(NULL, &stock_args, &v), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_vcpu_create(s, NULL, &v), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_vcpu_create(s, &stock_args, NULL), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_vcpu_with_state(NULL, stay, NULL), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_vcpu_pause(NULL), VMSIM_INVALID_ARGUMENT);
	struct vmsim_native_vcpu native;
	assert_int_equal(vmsim_vcpu_create(s, &stock_args, &v), VMSIM_OK);
	assert_int_equal(vmsim_vcpu_native(v, &native), VMSIM_UNSUPPORTED); /* vt-cpu has no native handle */
	assert_int_equal(native.fd, -1);
	assert_int_equal(vmsim_vcpu_intercept_exceptions(NULL, 0), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_vcpu_intercept_exceptions(v, 1u << 2), VMSIM_INVALID_ARGUMENT); /* NMI: its own exit */
	assert_int_equal(vmsim_vcpu_intercept_exceptions(v, 1u << 14), VMSIM_UNSUPPORTED); /* no EXCEPTION_INTERCEPT */
	assert_int_equal(vmsim_vcpu_intercept_exceptions(v, 0), VMSIM_OK);                 /* nothing asked: nothing lacking */
	assert_int_equal(vmsim_vcpu_with_state(v, NULL, NULL), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_vcpu_destroy(NULL), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_entrypoint_destroy(NULL), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_vcpu_count(NULL), 0);
	assert_quota(s, VMSIM_COST_SESSION_RAM + VMSIM_COST_VCPU_RAM, 1 + VMSIM_COST_VCPU_CAPS);
	vmsim_session_close(s);
	vmsim_env_destroy(env);
}

/* Inject an allocation failure at nth allocation of one vmsim_vcpu_create: OUT_OF_RAM, nothing changed. */
static void create_fails_cleanly(struct vmsim_env *env, struct vmsim_session *s, uint64_t nth)
{
	struct vmsim_quota q0, q1;
	unsigned count = vmsim_session_vcpu_count(s);
	vmsim_session_quota(s, &q0);
	vmsim_env_fail_alloc_at(env, nth);
	struct vmsim_vcpu *v = (struct vmsim_vcpu *)&q0; /* must be reset to NULL */
	assert_int_equal(vmsim_vcpu_create(s, &stock_args, &v), VMSIM_OUT_OF_RAM);
	vmsim_env_fail_alloc_at(env, 0);
	assert_null(v);
	vmsim_session_quota(s, &q1);
	assert_int_equal(q1.ram_used, q0.ram_used);
	assert_int_equal(q1.cap_used, q0.cap_used);
	assert_int_equal(vmsim_session_vcpu_count(s), count);
}

/* Create one vCPU and return how many allocations it made. */
static uint64_t create_counting(struct vmsim_env *env, struct vmsim_session *s, struct vmsim_vcpu **out)
{
	uint64_t before = vmsim_env_alloc_count(env);
	assert_int_equal(vmsim_vcpu_create(s, &stock_args, out), VMSIM_OK);
	return vmsim_env_alloc_count(env) - before;
}

/*
 * Walk an injected allocation failure over every allocation vmsim_vcpu_create makes: the first
 * vCPU of a session allocates the registry (8 slots) and the vCPU, the 9th grows the registry to
 * 16 slots and allocates the vCPU, the others allocate the vCPU only.
 */
static void test_fault_injection_every_allocation(void **unused)
{
	(void)unused;
	struct vmsim_env *env = vt_cpu_env();
	struct vmsim_vcpu *v[9];

	/* the first vCPU: a fresh session for each point, so that every walk reaches the registry */
	for (uint64_t nth = 1; nth <= 2; nth++) {
		struct vmsim_session *s = open_session(env, 64 << 20, 1000);
		create_fails_cleanly(env, s, nth);
		/* registry slots and vCPU; after a failure at the vCPU the slots stay and only the vCPU is left */
		assert_int_equal(create_counting(env, s, &v[0]), nth == 1 ? 2 : 1);
		assert_int_equal(vmsim_vcpu_id(v[0]), 0); /* the failed create consumed no id */
		vmsim_session_close(s);
	}

	struct vmsim_session *s = open_session(env, 64 << 20, 1000);
	assert_int_equal(create_counting(env, s, &v[0]), 2);
	create_fails_cleanly(env, s, 1); /* the second: the vCPU object only, the registry has room */
	for (unsigned i = 1; i < 8; i++)
		assert_int_equal(create_counting(env, s, &v[i]), 1);

	/*
	 * The 9th: the registry grows (16 slots), then the vCPU. The growth fails first, then the vCPU
	 * after a growth that stays; each failure leaves the 8 vCPUs where they were.
	 */
	for (uint64_t nth = 1; nth <= 2; nth++) {
		create_fails_cleanly(env, s, nth);
		for (unsigned i = 0; i < 8; i++)
			assert_ptr_equal(vmsim_session_vcpu(s, i), v[i]);
	}
	assert_int_equal(create_counting(env, s, &v[8]), 1); /* the registry grew during the second walk */
	assert_int_equal(vmsim_vcpu_id(v[8]), 8);
	for (unsigned i = 0; i < 9; i++)
		assert_ptr_equal(vmsim_session_vcpu(s, i), v[i]);
	assert_quota(s, VMSIM_COST_SESSION_RAM + 9 * VMSIM_COST_VCPU_RAM, 1 + 9 * VMSIM_COST_VCPU_CAPS);
	vmsim_session_close(s);

	/* without failures the 9th makes exactly the two allocations walked above */
	s = open_session(env, 64 << 20, 1000);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(create_counting(env, s, &v[i]), i == 0 ? 2 : 1);
	assert_int_equal(create_counting(env, s, &v[8]), 2); /* 16 slots, vCPU */
	vmsim_session_close(s);
	vmsim_env_destroy(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_quota_bounds_vcpus),
		cmocka_unit_test(test_out_of_ram_restores_quota),
		cmocka_unit_test(test_ids_lookup_iteration),
		cmocka_unit_test(test_for_each_in_id_order),
		cmocka_unit_test(test_backend_failure_restores_quota),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_fault_injection_every_allocation),
	};
	return cmocka_run_group_tests_name("vcpu", tests, NULL, NULL);
}
