/* memory_flush_test.c - a dataspace destroyed while attached: flush, reserved ranges, the #3111 rules. */
#include "../vc.h"

enum { KiB = 1024, MiB = 1024 * 1024 };

struct fixture {
	struct vmsim_env *env;
	struct vmsim_session *s;
	vmsim_ds_cap ds;
};

/* A session with the dataspace attached at 1 MiB (64 KiB), then the dataspace freed. */
static void fx_flushed(struct fixture *f)
{
	f->env = vt_env(0, 0);
	f->s = vt_session(f->env, 4 * MiB, 10);
	f->ds = vt_ds(f->env, 64 * KiB);
	assert_int_equal(vt_attach(f->s, f->ds, 0x100000, 0, 0, true, true), VMSIM_OK);
	assert_int_equal(vmsim_session_page_tables(f->s), 3);
	assert_int_equal(vmsim_ds_free(f->env, f->ds), VMSIM_OK);
}

static void fx_close(struct fixture *f)
{
	vmsim_session_close(f->s);
	uint64_t ram, caps;
	vt_env_used(f->env, &ram, &caps);
	assert_int_equal(ram, 0);
	assert_int_equal(caps, 0);
	vt_env_done(f->env);
}

static void free_leaves_reserved_region(const void *p)
{
	(void)p;
	struct fixture f;
	fx_flushed(&f);
	struct vmsim_region_info info;
	assert_int_equal(vmsim_session_region_at(f.s, 0x108000, &info), VMSIM_OK);
	assert_true(info.reserved);
	assert_int_equal(info.ds.raw, VMSIM_DS_CAP_INVALID.raw);
	assert_int_equal(info.start, 0x100000);
	assert_int_equal(info.num_bytes, 64 * KiB);
	assert_int_equal(vmsim_session_region_count(f.s), 1);
	uint64_t size;
	assert_int_equal(vmsim_ds_size(f.env, f.ds, &size), VMSIM_INVALID_CAP);
	fx_close(&f);
}

static void flush_returns_tables_keeps_metadata(const void *p)
{
	(void)p;
	struct fixture f;
	fx_flushed(&f);
	struct vmsim_quota q;
	vt_quota(f.s, &q);
	assert_int_equal(vmsim_session_page_tables(f.s), 0);
	assert_int_equal(q.ram_used, 8192 + 128);
	assert_int_equal(vmsim_session_detach(f.s, 0x100000, 4096), VMSIM_OK);
	vt_quota(f.s, &q);
	assert_int_equal(q.ram_used, 8192);
	assert_int_equal(vmsim_session_region_count(f.s), 0);
	fx_close(&f);
}

struct into {
	uint64_t gpa, size;
};

static void attach_into_reserved_conflicts(const void *p)
{
	const struct into *c = p;
	struct fixture f;
	fx_flushed(&f);
	vmsim_ds_cap other = vt_ds(f.env, 256 * KiB);
	struct vt_snapshot before;
	vt_snap(f.s, &before);
	assert_int_equal(vt_attach(f.s, other, c->gpa, 0, c->size, true, true), VMSIM_REGION_CONFLICT);
	vt_assert_snap(f.s, &before);
	assert_int_equal(vmsim_ds_free(f.env, other), VMSIM_OK);
	fx_close(&f);
}

static const struct into i_same_range = { 0x100000, 64 * KiB };
static const struct into i_inside = { 0x104000, 4 * KiB };
static const struct into i_across = { 0x0f0000, 128 * KiB };

static void flush_in_two_sessions(const void *p)
{
	(void)p;
	struct vmsim_env *env = vt_env(0, 0);
	struct vmsim_session *a = vt_session(env, 4 * MiB, 10), *b = vt_session(env, 4 * MiB, 10);
	vmsim_ds_cap ds = vt_ds(env, 16 * KiB);
	assert_int_equal(vt_attach(a, ds, 0, 0, 0, true, true), VMSIM_OK);
	assert_int_equal(vt_attach(b, ds, 0x200000, 0, 0, false, false), VMSIM_OK);
	assert_int_equal(vt_attach(b, ds, 0x400000, 4096, 4096, true, false), VMSIM_OK);
	assert_int_equal(vmsim_ds_free(env, ds), VMSIM_OK);
	struct vmsim_region_info info;
	assert_int_equal(vmsim_session_region_at(a, 0, &info), VMSIM_OK);
	assert_true(info.reserved);
	assert_int_equal(vmsim_session_region_at(b, 0x200000, &info), VMSIM_OK);
	assert_true(info.reserved);
	assert_int_equal(vmsim_session_region_at(b, 0x400000, &info), VMSIM_OK);
	assert_true(info.reserved);
	assert_int_equal(vmsim_session_page_tables(a), 0);
	assert_int_equal(vmsim_session_page_tables(b), 0);
	vmsim_session_close(a);
	vmsim_session_close(b);
	uint64_t ram, caps;
	vt_env_used(env, &ram, &caps);
	assert_int_equal(ram, 0);
	assert_int_equal(caps, 0);
	vt_env_done(env);
}

static void local_attachment_of_freed_dataspace(const void *p)
{
	(void)p;
	struct vmsim_env *env = vt_env(0, 0);
	vmsim_ds_cap ds = vt_ds(env, 8192);
	struct vmsim_local_attr la = { 0, 0, true };
	struct vmsim_local_attachment local;
	assert_int_equal(vmsim_local_attach(env, ds, &la, &local), VMSIM_OK);
	assert_int_equal(vmsim_ds_free(env, ds), VMSIM_OK);
	struct vmsim_local_attachment again;
	assert_int_equal(vmsim_local_attach(env, ds, &la, &again), VMSIM_INVALID_CAP);
	vmsim_local_release(env, &local);
	assert_null(local.ptr);
	vt_env_done(env);
}

static void close_with_reserved_region(const void *p)
{
	(void)p;
	struct fixture f;
	fx_flushed(&f);
	fx_close(&f); /* closing detaches the reserved region and returns everything */
}

static const struct vc_test tests[] = {
	{ "flush", "free_leaves_reserved_region", 0, free_leaves_reserved_region, NULL },
	{ "flush", "returns_tables_keeps_metadata", 0, flush_returns_tables_keeps_metadata, NULL },
	{ "flush", "attach_same_range_conflicts", 0, attach_into_reserved_conflicts, &i_same_range },
	{ "flush", "attach_inside_reserved_conflicts", 0, attach_into_reserved_conflicts, &i_inside },
	{ "flush", "attach_across_reserved_conflicts", 0, attach_into_reserved_conflicts, &i_across },
	{ "flush", "flush_in_two_sessions", 0, flush_in_two_sessions, NULL },
	{ "flush", "local_attach_after_free_refused", 0, local_attachment_of_freed_dataspace, NULL },
	{ "flush", "close_with_reserved_region", 0, close_with_reserved_region, NULL },
};

struct vc_test_list vc_flush_tests(void)
{
	return VC_LIST(tests);
}
