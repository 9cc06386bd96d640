/* core/tests/attach_test.c - attach: Genode's validation order, both fixes, quota restored on every failure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vt_backend.h"

enum { PAGE = 4096, META = VMSIM_COST_ATTACH_META_RAM, TABLE = VMSIM_COST_PAGE_TABLE_RAM };

struct fixture {
	struct vmsim_env *env;
	struct vmsim_session *session;
	vmsim_ds_cap ds; /* 4 pages */
};

static int setup(void **state)
{
	static struct fixture fixture;
	vt_backend_reset();
	fixture.env = vt_env_new();
	fixture.session = vt_session_new(fixture.env, VMSIM_MODEL_SVM, 1 << 20, 10);
	assert_int_equal(vmsim_ds_alloc(fixture.env, 4 * PAGE, &fixture.ds), VMSIM_OK);
	*state = &fixture;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fixture = *state;
	vmsim_env_destroy(fixture->env);
	return 0;
}

static uint64_t ram_used(const struct vmsim_session *session)
{
	struct vmsim_quota quota;
	vmsim_session_quota(session, &quota);
	return quota.ram_used;
}

/* The attach must fail with expected, make map_attempts backend map calls, and change nothing. */
static void check_attach_fails(struct vmsim_session *session, vmsim_ds_cap ds, uint64_t gpa,
                               struct vmsim_attach_attr attr, enum vmsim_result expected, size_t map_attempts)
{
	struct vmsim_quota before, after;
	vmsim_session_quota(session, &before);
	uint64_t regions = vmsim_session_region_count(session);
	uint64_t tables = vmsim_session_page_tables(session);
	size_t maps = vt_backend_count(VT_MAP);
	struct vmsim_range range = {0, 0};
	assert_int_equal(vmsim_session_attach(session, ds, gpa, &attr, &range), expected);
	vmsim_session_quota(session, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(vmsim_session_region_count(session), regions);
	assert_int_equal(vmsim_session_page_tables(session), tables);
	assert_int_equal(vt_backend_count(VT_MAP), maps + map_attempts);
}

/* A failure before the backend is asked. */
static void expect_attach_fails(struct vmsim_session *session, vmsim_ds_cap ds, uint64_t gpa,
                                struct vmsim_attach_attr attr, enum vmsim_result expected)
{
	check_attach_fails(session, ds, gpa, attr, expected, 0);
}

static void test_attach_maps_and_records(void **state)
{
	struct fixture *f = *state;
	struct vmsim_local_attachment local;
	assert_int_equal(vmsim_local_attach(f->env, f->ds, &(struct vmsim_local_attr){.writeable = true}, &local),
	                 VMSIM_OK);
	strcpy((char *)local.ptr + PAGE, "page one");

	struct vmsim_range range;
	struct vmsim_attach_attr attr = {.offset = PAGE, .size = 2 * PAGE, .writeable = true, .executable = true};
	assert_int_equal(vmsim_session_attach(f->session, f->ds, 0x10000, &attr, &range), VMSIM_OK);
	assert_int_equal(range.start, 0x10000);
	assert_int_equal(range.num_bytes, 2 * PAGE);
	const struct vt_call *calls;
	size_t n = vt_backend_calls(&calls);
	assert_int_equal(calls[n - 1].op, VT_MAP);
	assert_int_equal(calls[n - 1].gpa, 0x10000);
	assert_int_equal(calls[n - 1].size, 2 * PAGE);
	assert_int_equal(calls[n - 1].prot, VMSIM_PROT_READ | VMSIM_PROT_WRITE | VMSIM_PROT_EXEC);
	assert_string_equal(calls[n - 1].hva, "page one"); /* the dataspace's pages at the offset */

	struct vmsim_region_info info;
	assert_int_equal(vmsim_session_region_at(f->session, 0x10000 + 2 * PAGE - 1, &info), VMSIM_OK);
	assert_int_equal(info.start, 0x10000);
	assert_int_equal(info.num_bytes, 2 * PAGE);
	assert_int_equal(info.offset, PAGE);
	assert_int_equal(info.ds.raw, f->ds.raw);
	assert_true(info.writeable);
	assert_true(info.executable);
	assert_false(info.reserved);
	assert_int_equal(vmsim_session_region_at(f->session, 0x10000 + 2 * PAGE, &info), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_region_at(f->session, 0xf000, &info), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(ram_used(f->session), VMSIM_COST_SESSION_RAM + META + 3 * TABLE);
	vmsim_local_release(f->env, &local);
}

static void test_size_normalisation(void **state)
{
	struct fixture *f = *state;
	struct vmsim_range range;
	/* size 0: the rest of the dataspace from offset. */
	assert_int_equal(vmsim_session_attach(f->session, f->ds, 0, &(struct vmsim_attach_attr){.offset = PAGE}, &range),
	                 VMSIM_OK);
	assert_int_equal(range.num_bytes, 3 * PAGE);
	/* size > ds.size: clamped to ds.size. */
	assert_int_equal(vmsim_session_attach(f->session, f->ds, 0x100000,
	                                      &(struct vmsim_attach_attr){.size = 64 * PAGE}, &range),
	                 VMSIM_OK);
	assert_int_equal(range.num_bytes, 4 * PAGE);
	/* Clamped, but then offset + size is out of range. */
	expect_attach_fails(f->session, f->ds, 0x200000, (struct vmsim_attach_attr){.offset = PAGE, .size = 64 * PAGE},
	                    VMSIM_INVALID_DATASPACE);
}

static void test_validation_failures_restore_quota(void **state)
{
	struct fixture *f = *state;
	struct vmsim_range range;
	vmsim_ds_cap stale;
	assert_int_equal(vmsim_ds_alloc(f->env, PAGE, &stale), VMSIM_OK);
	assert_int_equal(vmsim_ds_free(f->env, stale), VMSIM_OK);
	const struct vmsim_attach_attr plain = {0};
	expect_attach_fails(f->session, VMSIM_DS_CAP_INVALID, 0, plain, VMSIM_INVALID_DATASPACE);
	expect_attach_fails(f->session, stale, 0, plain, VMSIM_INVALID_DATASPACE);
	expect_attach_fails(f->session, (vmsim_ds_cap){f->ds.raw ^ (1ull << 40)}, 0, plain, VMSIM_INVALID_DATASPACE);
	expect_attach_fails(f->session, f->ds, 0x800, plain, VMSIM_INVALID_DATASPACE);
	expect_attach_fails(f->session, f->ds, 0, (struct vmsim_attach_attr){.offset = 10}, VMSIM_INVALID_DATASPACE);
	expect_attach_fails(f->session, f->ds, 0, (struct vmsim_attach_attr){.size = PAGE + 1}, VMSIM_INVALID_DATASPACE);
	expect_attach_fails(f->session, f->ds, 0, (struct vmsim_attach_attr){.offset = 4 * PAGE}, VMSIM_INVALID_DATASPACE);
	expect_attach_fails(f->session, f->ds, 0, (struct vmsim_attach_attr){.offset = 8 * PAGE}, VMSIM_INVALID_DATASPACE);
	expect_attach_fails(f->session, f->ds, 0, (struct vmsim_attach_attr){.offset = 2 * PAGE, .size = 3 * PAGE},
	                    VMSIM_INVALID_DATASPACE);
	/* Beyond the 48-bit reach of the nested tables, and wrapping around. */
	expect_attach_fails(f->session, f->ds, (1ull << 48) - 2 * PAGE, plain, VMSIM_INVALID_DATASPACE);
	expect_attach_fails(f->session, f->ds, 1ull << 48, plain, VMSIM_INVALID_DATASPACE);
	expect_attach_fails(f->session, f->ds, UINT64_MAX - PAGE + 1, plain, VMSIM_INVALID_DATASPACE);
	/* The last pages below 2^48 are fine. */
	assert_int_equal(vmsim_session_attach(f->session, f->ds, (1ull << 48) - 4 * PAGE, &plain, &range), VMSIM_OK);
	assert_int_equal(vmsim_session_attach(NULL, f->ds, 0, &plain, &range), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_attach(f->session, f->ds, 0, NULL, &range), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_attach(f->session, f->ds, 0, &plain, NULL), VMSIM_INVALID_ARGUMENT);
}

static void test_out_of_ram_at_meta_and_tables(void **state)
{
	(void)state;
	struct vmsim_env *env = vt_env_new();
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(env, PAGE, &ds), VMSIM_OK);
	const struct vmsim_attach_attr plain = {0};

	/* One byte short of the metadata. */
	struct vmsim_session *s = vt_session_new(env, VMSIM_MODEL_SVM, VMSIM_COST_SESSION_RAM + META - 1, 1);
	expect_attach_fails(s, ds, 0, plain, VMSIM_OUT_OF_RAM);
	vmsim_session_close(s);

	/* Metadata fits, one byte short of the three tables. */
	s = vt_session_new(env, VMSIM_MODEL_SVM, VMSIM_COST_SESSION_RAM + META + 3 * TABLE - 1, 1);
	expect_attach_fails(s, ds, 0, plain, VMSIM_OUT_OF_RAM);
	/* An upgrade of that byte is all the retry needs. */
	assert_int_equal(vmsim_session_upgrade(s, 1, 0), VMSIM_OK);
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach(s, ds, 0, &plain, &range), VMSIM_OK);
	assert_int_equal(ram_used(s), VMSIM_COST_SESSION_RAM + META + 3 * TABLE);
	/* Full now: Genode charges metadata before it sees the overlap, so OUT_OF_RAM beats REGION_CONFLICT. */
	vmsim_ds_cap other;
	assert_int_equal(vmsim_ds_alloc(env, PAGE, &other), VMSIM_OK);
	expect_attach_fails(s, other, 0, plain, VMSIM_OUT_OF_RAM);
	/* A next page in the same 2 MiB needs only metadata: still one short. */
	expect_attach_fails(s, ds, PAGE, plain, VMSIM_OUT_OF_RAM);
	assert_int_equal(vmsim_session_upgrade(s, META, 0), VMSIM_OK);
	assert_int_equal(vmsim_session_attach(s, ds, PAGE, &plain, &range), VMSIM_OK);
	/* A page in the next 2 MiB needs a page table on top. */
	assert_int_equal(vmsim_session_upgrade(s, META + TABLE - 1, 0), VMSIM_OK);
	expect_attach_fails(s, ds, 2 << 20, plain, VMSIM_OUT_OF_RAM);
	assert_int_equal(vmsim_session_upgrade(s, 1, 0), VMSIM_OK);
	assert_int_equal(vmsim_session_attach(s, ds, 2 << 20, &plain, &range), VMSIM_OK);
	vmsim_env_destroy(env);
}

static void test_backend_map_failure_rolls_back(void **state)
{
	struct fixture *f = *state;
	const struct vmsim_attach_attr plain = {0};
	vt_backend_fail_next(VT_MAP, VMSIM_BACKEND_ERROR);
	check_attach_fails(f->session, f->ds, 0, plain, VMSIM_BACKEND_ERROR, 1);
	vt_backend_fail_next(VT_MAP, VMSIM_OUT_OF_RAM);
	check_attach_fails(f->session, f->ds, 0, plain, VMSIM_OUT_OF_RAM, 1);
	vt_backend_fail_next(VT_MAP, (enum vmsim_result)1234);
	check_attach_fails(f->session, f->ds, 0, plain, VMSIM_BACKEND_ERROR, 1);
	assert_int_equal(vt_backend_count(VT_MAP), 3);
	assert_int_equal(vmsim_session_page_tables(f->session), 0);
	/* Nothing half-recorded: the retry is a fresh attach, not a re-attach. */
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach(f->session, f->ds, 0, &plain, &range), VMSIM_OK);
	assert_int_equal(vt_backend_count(VT_MAP), 4);
	assert_int_equal(vmsim_session_region_count(f->session), 1);
}

static void test_reattach_is_idempotent(void **state)
{
	struct fixture *f = *state;
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach(f->session, f->ds, 0x40000, &(struct vmsim_attach_attr){0}, &range),
	                 VMSIM_OK);
	uint64_t used = ram_used(f->session);
	size_t maps = vt_backend_count(VT_MAP);
	/* Same dataspace, gpa inside its region: success with the normalised range, nothing new. */
	assert_int_equal(vmsim_session_attach(f->session, f->ds, 0x41000, &(struct vmsim_attach_attr){.size = PAGE},
	                                      &range),
	                 VMSIM_OK);
	assert_int_equal(range.start, 0x41000);
	assert_int_equal(range.num_bytes, PAGE);
	assert_int_equal(vmsim_session_attach(f->session, f->ds, 0x40000, &(struct vmsim_attach_attr){0}, &range),
	                 VMSIM_OK);
	assert_int_equal(range.num_bytes, 4 * PAGE);
	assert_int_equal(ram_used(f->session), used);
	assert_int_equal(vt_backend_count(VT_MAP), maps);
	assert_int_equal(vmsim_session_region_count(f->session), 1);
}

static void test_overlap_conflicts(void **state)
{
	struct fixture *f = *state;
	vmsim_ds_cap other;
	assert_int_equal(vmsim_ds_alloc(f->env, 4 * PAGE, &other), VMSIM_OK);
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach(f->session, f->ds, 0x40000, &(struct vmsim_attach_attr){0}, &range),
	                 VMSIM_OK);
	const struct vmsim_attach_attr plain = {0};
	expect_attach_fails(f->session, other, 0x40000, plain, VMSIM_REGION_CONFLICT);
	expect_attach_fails(f->session, other, 0x43000, plain, VMSIM_REGION_CONFLICT);
	/* Starting in the hole below and running into the region. */
	expect_attach_fails(f->session, other, 0x3e000, plain, VMSIM_REGION_CONFLICT);
	/* The same dataspace, but gpa is not inside its region: Genode conflicts too. */
	expect_attach_fails(f->session, f->ds, 0x3f000, plain, VMSIM_REGION_CONFLICT);
	/* Adjacent on both sides is fine. */
	assert_int_equal(vmsim_session_attach(f->session, other, 0x3c000, &plain, &range), VMSIM_OK);
	assert_int_equal(vmsim_session_attach(f->session, other, 0x44000, &plain, &range), VMSIM_OK);
	assert_int_equal(vmsim_session_region_count(f->session), 3);
}

static void test_read_only_downgrade(void **state)
{
	struct fixture *f = *state;
	vmsim_ds_cap rom;
	assert_int_equal(vmsim_ds_alloc(f->env, PAGE, &rom), VMSIM_OK);
	assert_int_equal(vmsim_ds_seal(f->env, rom), VMSIM_OK);
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach(f->session, rom, 0,
	                                      &(struct vmsim_attach_attr){.writeable = true, .executable = true}, &range),
	                 VMSIM_OK);
	const struct vt_call *calls;
	size_t n = vt_backend_calls(&calls);
	assert_int_equal(calls[n - 1].prot, VMSIM_PROT_READ | VMSIM_PROT_EXEC);
	struct vmsim_region_info info;
	assert_int_equal(vmsim_session_region_at(f->session, 0, &info), VMSIM_OK);
	assert_false(info.writeable);
	/* Not asked for write: read only, even on a writeable dataspace. */
	assert_int_equal(vmsim_session_attach(f->session, f->ds, PAGE, &(struct vmsim_attach_attr){0}, &range),
	                 VMSIM_OK);
	n = vt_backend_calls(&calls);
	assert_int_equal(calls[n - 1].prot, VMSIM_PROT_READ);
}

static void test_attach_pic_and_queries(void **state)
{
	struct fixture *f = *state;
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach_pic(f->session, 0xfee00000, &range), VMSIM_INVALID_DATASPACE);
	assert_int_equal(vmsim_session_attach_pic(NULL, 0, &range), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_attach_pic(f->session, 0, NULL), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_region_at(NULL, 0, &(struct vmsim_region_info){0}), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_region_count(NULL), 0);
	assert_int_equal(vmsim_session_page_tables(NULL), 0);
}

struct walk {
	uint64_t starts[8];
	int count;
	int stop_after;
};

static bool collect(void *ctx, const struct vmsim_region_info *region)
{
	struct walk *walk = ctx;
	walk->starts[walk->count++] = region->start;
	return walk->count != walk->stop_after;
}

static void test_for_each_region_in_order(void **state)
{
	struct fixture *f = *state;
	const uint64_t gpas[] = {0x900000, 0x10000, 0x7000000000, 0x20000};
	struct vmsim_range range;
	for (int i = 0; i < 4; i++)
		assert_int_equal(vmsim_session_attach(f->session, f->ds, gpas[i], &(struct vmsim_attach_attr){0}, &range),
		                 VMSIM_OK);
	struct walk walk = {.stop_after = 0};
	vmsim_session_for_each_region(f->session, collect, &walk);
	assert_int_equal(walk.count, 4);
	assert_int_equal(walk.starts[0], 0x10000);
	assert_int_equal(walk.starts[1], 0x20000);
	assert_int_equal(walk.starts[2], 0x900000);
	assert_int_equal(walk.starts[3], 0x7000000000);
	walk = (struct walk){.stop_after = 2};
	vmsim_session_for_each_region(f->session, collect, &walk);
	assert_int_equal(walk.count, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_attach_maps_and_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_normalisation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validation_failures_restore_quota, setup, teardown),
		cmocka_unit_test(test_out_of_ram_at_meta_and_tables),
		cmocka_unit_test_setup_teardown(test_backend_map_failure_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reattach_is_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlap_conflicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_downgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_pic_and_queries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_for_each_region_in_order, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
