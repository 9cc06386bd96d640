/* session_npt_test.c - attach costs: 128 bytes of metadata plus 4096 per new nested page table (docs/quota.md). */
#include "../vc.h"

enum { KiB = 1024, MiB = 1024 * 1024 };
#define GiB (1024ull * MiB)

/* The worked examples of docs/quota.md, one session from empty: gpa, size (0 = detach the page at gpa). */
struct step {
	uint64_t gpa, size;
	int64_t charged;   /* RAM delta of this step */
	uint64_t tables;   /* live tables after it */
};

static const struct step steps[] = {
	{ 0, 4 * KiB, 128 + 3 * 4096, 3 },
	{ 0x1000, 4 * KiB, 128, 3 },
	{ 2 * MiB, 4 * KiB, 128 + 4096, 4 },
	{ 1 * GiB, 4 * KiB, 128 + 2 * 4096, 6 },
	{ 512 * GiB, 4 * KiB, 128 + 3 * 4096, 9 },
	{ 6 * MiB - 8 * KiB, 16 * KiB, 128 + 2 * 4096, 11 },
	{ 1 * GiB, 0, -(128 + 2 * 4096), 9 },
};

struct worked {
	unsigned step; /* 1-based: replay steps 1..step, check the last one */
};

static void worked_example(const void *p)
{
	const struct worked *w = p;
	struct vmsim_env *env = vt_env(0, 0);
	struct vmsim_session *s = vt_session(env, 64 * MiB, 10);
	vmsim_ds_cap ds = vt_ds(env, 16 * KiB);
	assert_int_equal(vmsim_session_page_tables(s), 0);
	for (unsigned i = 0; i < w->step; i++) {
		const struct step *st = &steps[i];
		struct vmsim_quota before, after;
		vt_quota(s, &before);
		if (st->size)
			assert_int_equal(vt_attach(s, ds, st->gpa, 0, st->size, true, false), VMSIM_OK);
		else
			assert_int_equal(vmsim_session_detach(s, st->gpa, 4096), VMSIM_OK);
		vt_quota(s, &after);
		if (i + 1 == w->step) {
			assert_int_equal((int64_t)(after.ram_used - before.ram_used), st->charged);
			assert_int_equal(after.cap_used, before.cap_used); /* attachments cost no caps */
			assert_int_equal(vmsim_session_page_tables(s), st->tables);
		}
	}
	vmsim_session_close(s);
	assert_int_equal(vmsim_ds_free(env, ds), VMSIM_OK);
	vt_env_done(env);
}

static const struct worked w1 = { 1 }, w2 = { 2 }, w3 = { 3 }, w4 = { 4 }, w5 = { 5 }, w6 = { 6 }, w7 = { 7 };

/* 64 MiB at 1 GiB - 16 MiB: 8 + 24 PTs, PDs 0 and 1, PDPT 0 = 35 tables. */
static void straddle_64mib(const void *p)
{
	(void)p;
	struct vmsim_env *env = vt_env(0, 0);
	struct vmsim_session *s = vt_session(env, 64 * MiB, 10);
	vmsim_ds_cap ds = vt_ds(env, 64 * MiB);
	assert_int_equal(vt_attach(s, ds, 1 * GiB - 16 * MiB, 0, 0, true, true), VMSIM_OK);
	struct vmsim_quota q;
	vt_quota(s, &q);
	assert_int_equal(q.ram_used, 8192 + 128 + 35 * 4096);
	assert_int_equal(vmsim_session_page_tables(s), 35);
	assert_int_equal(vmsim_session_detach(s, 1 * GiB, 4096), VMSIM_OK); /* the whole region goes */
	vt_quota(s, &q);
	assert_int_equal(q.ram_used, 8192);
	assert_int_equal(vmsim_session_page_tables(s), 0);
	vmsim_session_close(s);
	assert_int_equal(vmsim_ds_free(env, ds), VMSIM_OK);
	vt_env_done(env);
}

/* A session with exactly `left` bytes free after its own cost. */
static struct vmsim_session *tight(struct vmsim_env *env, uint64_t left)
{
	return vt_session(env, 8192 + left, 1);
}

static void out_of_ram_at_metadata(const void *p)
{
	(void)p;
	struct vmsim_env *env = vt_env(0, 0);
	struct vmsim_session *s = tight(env, 127);
	vmsim_ds_cap ds = vt_ds(env, 4096);
	struct vt_snapshot before;
	vt_snap(s, &before);
	assert_int_equal(vt_attach(s, ds, 0, 0, 0, true, true), VMSIM_OUT_OF_RAM);
	vt_assert_snap(s, &before);
	vmsim_session_close(s);
	vt_env_done(env);
}

static void out_of_ram_at_tables(const void *p)
{
	(void)p;
	struct vmsim_env *env = vt_env(0, 0);
	struct vmsim_session *s = tight(env, 128 + 3 * 4096 - 1);
	vmsim_ds_cap ds = vt_ds(env, 4096);
	struct vt_snapshot before;
	vt_snap(s, &before);
	assert_int_equal(vt_attach(s, ds, 0, 0, 0, true, true), VMSIM_OUT_OF_RAM);
	vt_assert_snap(s, &before); /* the metadata charge came back too */
	assert_int_equal(vmsim_session_upgrade(s, 1, 0), VMSIM_OK);
	assert_int_equal(vt_attach(s, ds, 0, 0, 0, true, true), VMSIM_OK); /* now exactly enough */
	struct vmsim_quota q;
	vt_quota(s, &q);
	assert_int_equal(q.ram_used, q.ram_limit);
	vmsim_session_close(s);
	vt_env_done(env);
}

/* Genode charges the AVL block before it sees an overlap: on a full session OUT_OF_RAM wins. */
static void out_of_ram_wins_over_conflict(const void *p)
{
	(void)p;
	struct vmsim_env *env = vt_env(0, 0);
	struct vmsim_session *s = tight(env, 128 + 3 * 4096);
	vmsim_ds_cap a = vt_ds(env, 8192), b = vt_ds(env, 4096);
	assert_int_equal(vt_attach(s, a, 0, 0, 0, true, true), VMSIM_OK);
	struct vt_snapshot before;
	vt_snap(s, &before);
	assert_int_equal(vt_attach(s, b, 0x1000, 0, 0, true, true), VMSIM_OUT_OF_RAM);
	/* ... and an invalid dataspace is still reported before quota */
	assert_int_equal(vt_attach(s, VMSIM_DS_CAP_INVALID, 0x1000, 0, 0, true, true), VMSIM_INVALID_DATASPACE);
	vt_assert_snap(s, &before);
	vmsim_session_close(s);
	vt_env_done(env);
}

/* Freed tables are reusable at once: the quota after detach admits the same attach again. */
static void detach_returns_tables_at_once(const void *p)
{
	(void)p;
	struct vmsim_env *env = vt_env(0, 0);
	struct vmsim_session *s = tight(env, 128 + 3 * 4096);
	vmsim_ds_cap ds = vt_ds(env, 4096);
	for (int round = 0; round < 3; round++) { /* each round needs a PDPT, a PD and a PT afresh */
		assert_int_equal(vt_attach(s, ds, (uint64_t)round << 30, 0, 0, true, true), VMSIM_OK);
		assert_int_equal(vmsim_session_detach(s, (uint64_t)round << 30, 4096), VMSIM_OK);
	}
	assert_int_equal(vmsim_session_page_tables(s), 0);
	vmsim_session_close(s);
	vt_env_done(env);
}

static const struct vc_test tests[] = {
	{ "quota", "npt_example_1_first_page", 0, worked_example, &w1 },
	{ "quota", "npt_example_2_same_2mib", 0, worked_example, &w2 },
	{ "quota", "npt_example_3_next_pt", 0, worked_example, &w3 },
	{ "quota", "npt_example_4_next_pd", 0, worked_example, &w4 },
	{ "quota", "npt_example_5_next_pdpt", 0, worked_example, &w5 },
	{ "quota", "npt_example_6_straddles_pt", 0, worked_example, &w6 },
	{ "quota", "npt_example_7_detach_frees", 0, worked_example, &w7 },
	{ "quota", "npt_64mib_straddling_1gib", 0, straddle_64mib, NULL },
	{ "quota", "attach_out_of_ram_at_metadata", 0, out_of_ram_at_metadata, NULL },
	{ "quota", "attach_out_of_ram_at_tables", 0, out_of_ram_at_tables, NULL },
	{ "quota", "attach_out_of_ram_wins_over_conflict", 0, out_of_ram_wins_over_conflict, NULL },
	{ "quota", "detach_returns_tables_at_once", 0, detach_returns_tables_at_once, NULL },
};

struct vc_test_list vc_session_npt_tests(void)
{
	return VC_LIST(tests);
}
