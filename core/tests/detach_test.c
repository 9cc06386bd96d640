/* core/tests/detach_test.c - detach: argument checks, whole-region semantics, partial overlaps, quota back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "vt_backend.h"

enum { PAGE = 4096, KIB = 1024 };

struct fixture {
	struct vmsim_env *env;
	struct vmsim_session *session;
	vmsim_ds_cap ds; /* 16 KiB */
};

static int setup(void **state)
{
	static struct fixture fixture;
	vt_backend_reset();
	fixture.env = vt_env_new();
	fixture.session = vt_session_new(fixture.env, VMSIM_MODEL_VMX, 1 << 20, 10);
	assert_int_equal(vmsim_ds_alloc(fixture.env, 16 * KIB, &fixture.ds), VMSIM_OK);
	*state = &fixture;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fixture = *state;
	vmsim_env_destroy(fixture->env);
	return 0;
}

static void attach(struct fixture *f, uint64_t gpa, uint64_t size)
{
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach(f->session, f->ds, gpa, &(struct vmsim_attach_attr){.size = size}, &range),
	                 VMSIM_OK);
}

static bool present(struct fixture *f, uint64_t gpa)
{
	struct vmsim_region_info info;
	return vmsim_session_region_at(f->session, gpa, &info) == VMSIM_OK;
}

static uint64_t ram_used(const struct vmsim_session *session)
{
	struct vmsim_quota quota;
	vmsim_session_quota(session, &quota);
	return quota.ram_used;
}

static void test_bad_arguments_do_nothing(void **state)
{
	struct fixture *f = *state;
	attach(f, 0, 16 * KIB);
	assert_int_equal(vmsim_session_detach(f->session, 0, 0), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_detach(f->session, 0x800, PAGE), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_detach(f->session, 0, PAGE + 1), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_detach(NULL, 0, PAGE), VMSIM_INVALID_ARGUMENT);
	assert_true(present(f, 0));
	assert_int_equal(vt_backend_count(VT_UNMAP), 0);
}

static void test_partial_overlaps_detach_whole_regions(void **state)
{
	struct fixture *f = *state;
	uint64_t base = ram_used(f->session);
	attach(f, 0, 16 * KIB);          /* A: [0, 16K) */
	attach(f, 32 * KIB, 16 * KIB);   /* B: [32K, 48K) */
	attach(f, 64 * KIB, 16 * KIB);   /* C: [64K, 80K) */
	uint64_t with_three = ram_used(f->session);
	/* [12K, 36K) touches the end of A and the start of B. */
	assert_int_equal(vmsim_session_detach(f->session, 12 * KIB, 24 * KIB), VMSIM_OK);
	assert_false(present(f, 0));
	assert_false(present(f, 44 * KIB));
	assert_true(present(f, 64 * KIB));
	assert_int_equal(vmsim_session_region_count(f->session), 1);
	/* Each whole region was unmapped, not the probed part. */
	const struct vt_call *calls;
	size_t n = vt_backend_calls(&calls);
	assert_int_equal(vt_backend_count(VT_UNMAP), 2);
	uint64_t unmapped = 0;
	for (size_t i = 0; i < n; i++)
		if (calls[i].op == VT_UNMAP) {
			assert_int_equal(calls[i].size, 16 * KIB);
			assert_true(calls[i].gpa == 0 || calls[i].gpa == 32 * KIB);
			unmapped += calls[i].gpa;
		}
	assert_int_equal(unmapped, 32 * KIB);
	assert_int_equal(ram_used(f->session), with_three - 2 * VMSIM_COST_ATTACH_META_RAM);
	assert_int_equal(vmsim_session_detach(f->session, 64 * KIB, PAGE), VMSIM_OK);
	assert_int_equal(ram_used(f->session), base);
	assert_int_equal(vmsim_session_page_tables(f->session), 0);
}

static void test_no_region_skipped(void **state)
{
	/*
	 * Genode's probe walk: probe 12K is in A = [0, 16K); it detaches A and
	 * advances the probe by A's size to 28K, past the range, so B = [16K, 20K) stays.
	 */
	struct fixture *f = *state;
	attach(f, 0, 16 * KIB);
	attach(f, 16 * KIB, PAGE);
	assert_int_equal(vmsim_session_detach(f->session, 12 * KIB, 8 * KIB), VMSIM_OK);
	assert_int_equal(vmsim_session_region_count(f->session), 0);
	assert_int_equal(vt_backend_count(VT_UNMAP), 2);
}

static void test_unmapped_range_is_ok(void **state)
{
	struct fixture *f = *state;
	attach(f, 1 << 20, 16 * KIB);
	assert_int_equal(vmsim_session_detach(f->session, 0, 1 << 20), VMSIM_OK);
	assert_int_equal(vmsim_session_detach(f->session, (1 << 20) + 16 * KIB, PAGE), VMSIM_OK);
	assert_true(present(f, 1 << 20));
	assert_int_equal(vt_backend_count(VT_UNMAP), 0);
	/* A range running off the top of the address space is clipped, not rejected. */
	assert_int_equal(vmsim_session_detach(f->session, UINT64_MAX - PAGE + 1, 2 * PAGE), VMSIM_OK);
	assert_true(present(f, 1 << 20));
	/* One huge range takes everything. */
	attach(f, 1ull << 40, 16 * KIB);
	assert_int_equal(vmsim_session_detach(f->session, 0, UINT64_MAX - PAGE + 1), VMSIM_OK);
	assert_int_equal(vmsim_session_region_count(f->session), 0);
	assert_int_equal(vmsim_session_page_tables(f->session), 0);
}

static void test_detach_then_reattach(void **state)
{
	struct fixture *f = *state;
	attach(f, 0, 16 * KIB);
	assert_int_equal(vmsim_session_detach(f->session, 0, PAGE), VMSIM_OK);
	assert_false(present(f, 12 * KIB));
	/* The range is free again, for another dataspace too. */
	vmsim_ds_cap other;
	assert_int_equal(vmsim_ds_alloc(f->env, PAGE, &other), VMSIM_OK);
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach(f->session, other, 8 * KIB, &(struct vmsim_attach_attr){0}, &range),
	                 VMSIM_OK);
	struct vmsim_region_info info;
	assert_int_equal(vmsim_session_region_at(f->session, 8 * KIB, &info), VMSIM_OK);
	assert_int_equal(info.ds.raw, other.raw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bad_arguments_do_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_overlaps_detach_whole_regions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_region_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmapped_range_is_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detach_then_reattach, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
