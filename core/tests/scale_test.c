/* core/tests/scale_test.c - 100,000 attachments of one dataspace: lookups stay right, quota comes back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "vt_backend.h"

enum { PAGE = 4096, COUNT = 100000, STRIDE = 2 * PAGE };

static void test_hundred_thousand_regions(void **state)
{
	(void)state;
	vt_backend_reset();
	struct vmsim_env *env = vt_env_new();
	struct vmsim_quota env_baseline;
	vmsim_env_quota(env, &env_baseline);
	struct vmsim_session *s = vt_session_new(env, VMSIM_MODEL_SVM, 32 << 20, 10);
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(env, PAGE, &ds), VMSIM_OK);
	struct vmsim_quota before;
	vmsim_session_quota(s, &before);

	/* Distinct GPAs with a one-page hole after each; inserted in a scattered order. */
	for (uint64_t i = 0; i < COUNT; i++) {
		uint64_t slot = (i * 7919) % COUNT; /* 7919 is prime and does not divide COUNT */
		struct vmsim_range range;
		assert_int_equal(vmsim_session_attach(s, ds, slot * STRIDE, &(struct vmsim_attach_attr){0}, &range),
		                 VMSIM_OK);
	}
	assert_int_equal(vmsim_session_region_count(s), COUNT);
	uint64_t span = (uint64_t)COUNT * STRIDE;
	uint64_t pts = (span + (2 << 20) - 1) / (2 << 20);
	assert_int_equal(vmsim_session_page_tables(s), pts + 1 + 1);
	struct vmsim_quota full;
	vmsim_session_quota(s, &full);
	assert_int_equal(full.ram_used - before.ram_used,
	                 (uint64_t)COUNT * VMSIM_COST_ATTACH_META_RAM + (pts + 2) * VMSIM_COST_PAGE_TABLE_RAM);

	for (uint64_t slot = 0; slot < COUNT; slot++) {
		struct vmsim_region_info info;
		assert_int_equal(vmsim_session_region_at(s, slot * STRIDE + PAGE - 1, &info), VMSIM_OK);
		assert_int_equal(info.start, slot * STRIDE);
		assert_int_equal(info.num_bytes, PAGE);
		assert_int_equal(vmsim_session_region_at(s, slot * STRIDE + PAGE, &info), VMSIM_INVALID_ARGUMENT);
	}

	/* A re-attach still finds its region among 100,000. */
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach(s, ds, 4242 * STRIDE, &(struct vmsim_attach_attr){0}, &range), VMSIM_OK);
	assert_int_equal(vmsim_session_region_count(s), COUNT);

	/* Half detached one by one, the rest with one range. */
	for (uint64_t slot = 0; slot < COUNT; slot += 2)
		assert_int_equal(vmsim_session_detach(s, slot * STRIDE, PAGE), VMSIM_OK);
	assert_int_equal(vmsim_session_region_count(s), COUNT / 2);
	assert_int_equal(vmsim_session_detach(s, 0, span), VMSIM_OK);
	assert_int_equal(vmsim_session_region_count(s), 0);
	assert_int_equal(vmsim_session_page_tables(s), 0);
	assert_int_equal(vt_backend_count(VT_UNMAP), COUNT);
	struct vmsim_quota after;
	vmsim_session_quota(s, &after);
	assert_memory_equal(&before, &after, sizeof(before));

	vmsim_session_close(s);
	assert_int_equal(vmsim_ds_free(env, ds), VMSIM_OK);
	struct vmsim_quota env_after;
	vmsim_env_quota(env, &env_after);
	assert_memory_equal(&env_baseline, &env_after, sizeof(env_baseline));
	vmsim_env_destroy(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hundred_thousand_regions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
