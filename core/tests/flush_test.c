/* core/tests/flush_test.c - dataspace destruction flushes every attachment (#3111); concurrency of the locks. */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "vt_backend.h"

enum { PAGE = 4096, META = VMSIM_COST_ATTACH_META_RAM };

static uint64_t ram_used(const struct vmsim_session *session)
{
	struct vmsim_quota quota;
	vmsim_session_quota(session, &quota);
	return quota.ram_used;
}

static void test_free_flushes_two_sessions(void **state)
{
	(void)state;
	vt_backend_reset();
	struct vmsim_env *env = vt_env_new();
	struct vmsim_quota baseline;
	vmsim_env_quota(env, &baseline);
	struct vmsim_session *one = vt_session_new(env, VMSIM_MODEL_SVM, 1 << 20, 10);
	struct vmsim_session *two = vt_session_new(env, VMSIM_MODEL_VMX, 1 << 20, 10);
	vmsim_ds_cap ds, other;
	assert_int_equal(vmsim_ds_alloc(env, 2 * PAGE, &ds), VMSIM_OK);
	assert_int_equal(vmsim_ds_alloc(env, 2 * PAGE, &other), VMSIM_OK);
	struct vmsim_range range;
	const struct vmsim_attach_attr plain = {0};
	assert_int_equal(vmsim_session_attach(one, ds, 0x1000, &plain, &range), VMSIM_OK);
	assert_int_equal(vmsim_session_attach(one, ds, 0x100000, &plain, &range), VMSIM_OK);
	assert_int_equal(vmsim_session_attach(two, ds, 0x8000, &plain, &range), VMSIM_OK);
	assert_int_equal(vmsim_session_attach(two, other, 0x20000, &plain, &range), VMSIM_OK);

	assert_int_equal(vmsim_ds_free(env, ds), VMSIM_OK);
	/* Three unmaps at once, none for the other dataspace. */
	const struct vt_call *calls;
	size_t n = vt_backend_calls(&calls);
	assert_int_equal(vt_backend_count(VT_UNMAP), 3);
	for (size_t i = 0; i < n; i++)
		if (calls[i].op == VT_UNMAP)
			assert_true(calls[i].gpa == 0x1000 || calls[i].gpa == 0x100000 || calls[i].gpa == 0x8000);
	/* Tables are released, the metadata stays charged, and the ranges stay reserved. */
	assert_int_equal(vmsim_session_page_tables(one), 0);
	assert_int_equal(ram_used(one), VMSIM_COST_SESSION_RAM + 2 * META);
	assert_int_equal(vmsim_session_region_count(one), 2);
	struct vmsim_region_info info;
	assert_int_equal(vmsim_session_region_at(one, 0x2000, &info), VMSIM_OK);
	assert_true(info.reserved);
	assert_int_equal(info.ds.raw, 0);
	assert_int_equal(info.start, 0x1000);
	assert_int_equal(info.num_bytes, 2 * PAGE);
	assert_int_equal(vmsim_session_region_at(two, 0x20000, &info), VMSIM_OK);
	assert_false(info.reserved);

	/* Fix 1: nothing can be attached into or across a reserved range. */
	size_t maps = vt_backend_count(VT_MAP);
	assert_int_equal(vmsim_session_attach(one, other, 0x1000, &plain, &range), VMSIM_REGION_CONFLICT);
	assert_int_equal(vmsim_session_attach(one, other, 0x2000, &(struct vmsim_attach_attr){.size = PAGE}, &range),
	                 VMSIM_REGION_CONFLICT);
	assert_int_equal(vmsim_session_attach(one, other, 0x0, &plain, &range), VMSIM_REGION_CONFLICT);
	assert_int_equal(vt_backend_count(VT_MAP), maps);
	assert_int_equal(ram_used(one), VMSIM_COST_SESSION_RAM + 2 * META);

	/* Until the VMM detaches: no second unmap, metadata returned, range free again. */
	size_t unmaps = vt_backend_count(VT_UNMAP);
	assert_int_equal(vmsim_session_detach(one, 0x1000, PAGE), VMSIM_OK);
	assert_int_equal(vt_backend_count(VT_UNMAP), unmaps);
	assert_int_equal(ram_used(one), VMSIM_COST_SESSION_RAM + META);
	assert_int_equal(vmsim_session_attach(one, other, 0x1000, &plain, &range), VMSIM_OK);
	assert_int_equal(vmsim_ds_free(env, ds), VMSIM_INVALID_CAP);

	/* Closing with a reserved region left returns everything. */
	vmsim_session_close(one);
	vmsim_session_close(two);
	assert_int_equal(vmsim_ds_free(env, other), VMSIM_OK);
	struct vmsim_quota after;
	vmsim_env_quota(env, &after);
	assert_memory_equal(&baseline, &after, sizeof(baseline));
	vmsim_env_destroy(env);
}

struct worker {
	struct vmsim_env *env;
	struct vmsim_session *session;
	vmsim_ds_cap shared;
	uint64_t gpa;
	int rounds;
	int failures;
};

/* Attach and detach a shared dataspace over and over. */
static void *attach_loop(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < w->rounds; i++) {
		struct vmsim_range range;
		enum vmsim_result r = vmsim_session_attach(w->session, w->shared, w->gpa, &(struct vmsim_attach_attr){0},
		                                           &range);
		/* The shared dataspace never dies here; only success is acceptable. */
		w->failures += r != VMSIM_OK;
		w->failures += vmsim_session_detach(w->session, w->gpa, PAGE) != VMSIM_OK;
	}
	return NULL;
}

/* Allocate, attach, free (flushing it), detach the reserved range. */
static void *churn_loop(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < w->rounds; i++) {
		vmsim_ds_cap ds;
		struct vmsim_range range;
		w->failures += vmsim_ds_alloc(w->env, PAGE, &ds) != VMSIM_OK;
		w->failures += vmsim_session_attach(w->session, ds, w->gpa, &(struct vmsim_attach_attr){0}, &range) !=
		               VMSIM_OK;
		w->failures += vmsim_ds_free(w->env, ds) != VMSIM_OK;
		struct vmsim_region_info info;
		w->failures += vmsim_session_region_at(w->session, w->gpa, &info) != VMSIM_OK || !info.reserved;
		w->failures += vmsim_session_detach(w->session, w->gpa, PAGE) != VMSIM_OK;
	}
	return NULL;
}

static void test_concurrent_sessions_and_frees(void **state)
{
	(void)state;
	struct vmsim_env *env = vt_env_new();
	struct vmsim_quota baseline;
	vmsim_env_quota(env, &baseline);
	vmsim_ds_cap shared;
	assert_int_equal(vmsim_ds_alloc(env, PAGE, &shared), VMSIM_OK);
	struct vmsim_session *a = vt_session_new(env, VMSIM_MODEL_SVM, 1 << 20, 10);
	struct vmsim_session *b = vt_session_new(env, VMSIM_MODEL_SVM, 1 << 20, 10);
	struct worker workers[4] = {
		{env, a, shared, 0x0, 300, 0},
		{env, b, shared, 0x0, 300, 0},
		{env, a, shared, 0x200000, 300, 0},
		{env, b, shared, 0x40000000, 300, 0},
	};
	pthread_t threads[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, i < 2 ? attach_loop : churn_loop, &workers[i]), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(workers[i].failures, 0);
	}
	assert_int_equal(vmsim_session_region_count(a), 0);
	assert_int_equal(ram_used(a), VMSIM_COST_SESSION_RAM);
	assert_int_equal(ram_used(b), VMSIM_COST_SESSION_RAM);
	vmsim_session_close(a);
	vmsim_session_close(b);
	assert_int_equal(vmsim_ds_free(env, shared), VMSIM_OK);
	struct vmsim_quota after;
	vmsim_env_quota(env, &after);
	assert_memory_equal(&baseline, &after, sizeof(baseline));
	vmsim_env_destroy(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_flushes_two_sessions),
		cmocka_unit_test(test_concurrent_sessions_and_frees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
