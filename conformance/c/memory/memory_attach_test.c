/* memory_attach_test.c - attach: Genode's validation order, normalisation, overlaps, re-attach, queries. */
#include "../vc.h"

enum { KiB = 1024, MiB = 1024 * 1024, DS_SIZE = 64 * KiB };

struct fixture {
	struct vmsim_env *env;
	struct vmsim_session *s;
	vmsim_ds_cap ds;
};

static void fx_open(struct fixture *f)
{
	f->env = vt_env(0, 0);
	f->s = vt_session(f->env, 4 * MiB, 10);
	f->ds = vt_ds(f->env, DS_SIZE);
}

static void fx_close(struct fixture *f)
{
	vmsim_session_close(f->s);
	vt_env_done(f->env);
}

/* One attach that must fail with want, changing nothing. */
struct reject {
	int cap;                 /* 0 the fixture's, 1 invalid, 2 stale, 3 forged, 4 another env's */
	uint64_t gpa, offset, size;
	enum vmsim_result want;
};

static void attach_rejected(const void *p)
{
	const struct reject *r = p;
	struct fixture f;
	fx_open(&f);
	assert_int_equal(vt_attach(f.s, f.ds, 0x100000, 0, 0, true, true), VMSIM_OK); /* something to conflict with */
	vmsim_ds_cap cap = f.ds;
	struct vmsim_env *other = NULL;
	if (r->cap == 1)
		cap = VMSIM_DS_CAP_INVALID;
	if (r->cap == 2) {
		cap = vt_ds(f.env, 4096);
		assert_int_equal(vmsim_ds_free(f.env, cap), VMSIM_OK);
	}
	if (r->cap == 3)
		cap.raw = f.ds.raw ^ (1ull << 30); /* same slot, wrong tag */
	if (r->cap == 4) {
		other = vt_env(0, 0);
		cap = vt_ds(other, DS_SIZE);
	}
	struct vt_snapshot before;
	vt_snap(f.s, &before);
	assert_int_equal(vt_attach(f.s, cap, r->gpa, r->offset, r->size, true, true), r->want);
	vt_assert_snap(f.s, &before);
	struct vmsim_region_info info;
	assert_int_equal(vmsim_session_region_at(f.s, r->gpa & ~0xfffull, &info),
	                 r->gpa >= 0x100000 && r->gpa < 0x100000 + DS_SIZE ? VMSIM_OK : VMSIM_INVALID_ARGUMENT);
	fx_close(&f);
	vt_env_done(other);
}

#define REJECT(name, cap, gpa, off, size, want)                         \
	static const struct reject name = { cap, gpa, off, size, want }
REJECT(r_invalid_cap, 1, 0, 0, 0, VMSIM_INVALID_DATASPACE);
REJECT(r_stale_cap, 2, 0, 0, 0, VMSIM_INVALID_DATASPACE);
REJECT(r_forged_cap, 3, 0, 0, 0, VMSIM_INVALID_DATASPACE);
REJECT(r_foreign_cap, 4, 0, 0, 0, VMSIM_INVALID_DATASPACE);
REJECT(r_unaligned_gpa, 0, 0x800, 0, 0, VMSIM_INVALID_DATASPACE);
REJECT(r_unaligned_offset, 0, 0, 0x10, 4096, VMSIM_INVALID_DATASPACE);
REJECT(r_unaligned_size, 0, 0, 0, 4097, VMSIM_INVALID_DATASPACE);
REJECT(r_offset_at_end, 0, 0, DS_SIZE, 0, VMSIM_INVALID_DATASPACE);
REJECT(r_offset_plus_size, 0, 0, DS_SIZE - 4096, 8192, VMSIM_INVALID_DATASPACE);
REJECT(r_beyond_2_48, 0, (1ull << 48) - 4096, 0, 8192, VMSIM_INVALID_DATASPACE);
REJECT(r_wraps, 0, ~0xfffull, 0, 8192, VMSIM_INVALID_DATASPACE);
REJECT(r_invalid_before_conflict, 1, 0x100000, 0, 0, VMSIM_INVALID_DATASPACE);
REJECT(r_unaligned_before_conflict, 0, 0x100800, 0, 0, VMSIM_INVALID_DATASPACE);
REJECT(r_conflict_other_ds_region, 2, 0x100000, 0, 0, VMSIM_INVALID_DATASPACE);

static void attach_null_arguments(const void *p)
{
	(void)p;
	struct fixture f;
	fx_open(&f);
	struct vmsim_attach_attr attr = { 0, 0, true, true };
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach(NULL, f.ds, 0, &attr, &range), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_attach(f.s, f.ds, 0, NULL, &range), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_attach(f.s, f.ds, 0, &attr, NULL), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_region_count(f.s), 0);
	fx_close(&f);
}

static void attach_records_region(const void *p)
{
	(void)p;
	struct fixture f;
	fx_open(&f);
	struct vmsim_attach_attr attr = { 8192, 16 * KiB, false, true };
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach(f.s, f.ds, 0x40000, &attr, &range), VMSIM_OK);
	assert_int_equal(range.start, 0x40000);
	assert_int_equal(range.num_bytes, 16 * KiB);
	struct vmsim_region_info info;
	assert_int_equal(vmsim_session_region_at(f.s, 0x40000 + 16 * KiB - 1, &info), VMSIM_OK);
	assert_int_equal(info.start, 0x40000);
	assert_int_equal(info.num_bytes, 16 * KiB);
	assert_int_equal(info.offset, 8192);
	assert_int_equal(info.ds.raw, f.ds.raw);
	assert_true(info.writeable);
	assert_false(info.executable);
	assert_false(info.reserved);
	assert_int_equal(vmsim_session_region_at(f.s, 0x40000 + 16 * KiB, &info), VMSIM_INVALID_ARGUMENT);
	fx_close(&f);
}

struct norm {
	uint64_t offset, size, want;
};

static void size_normalisation(const void *p)
{
	const struct norm *n = p;
	struct fixture f;
	fx_open(&f);
	struct vmsim_attach_attr attr = { n->offset, n->size, false, true };
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach(f.s, f.ds, 0, &attr, &range), VMSIM_OK);
	assert_int_equal(range.num_bytes, n->want);
	fx_close(&f);
}

static const struct norm n_zero_is_rest = { 16 * KiB, 0, DS_SIZE - 16 * KiB };
static const struct norm n_larger_clamped = { 0, 2 * DS_SIZE, DS_SIZE };
static const struct norm n_exact = { 4096, 8192, 8192 };

struct overlap {
	uint64_t gpa, size;
	bool same_ds;
	enum vmsim_result want;
};

/* An existing region of the fixture's dataspace at [0x100000, 0x110000). */
static void overlap_case(const void *p)
{
	const struct overlap *o = p;
	struct fixture f;
	fx_open(&f);
	assert_int_equal(vt_attach(f.s, f.ds, 0x100000, 0, 0, true, true), VMSIM_OK);
	vmsim_ds_cap other = vt_ds(f.env, 2 * DS_SIZE);
	struct vt_snapshot before;
	vt_snap(f.s, &before);
	enum vmsim_result r = vt_attach(f.s, o->same_ds ? f.ds : other, o->gpa, 0, o->size, true, true);
	assert_int_equal(r, o->want);
	if (r != VMSIM_OK || o->same_ds)
		vt_assert_snap(f.s, &before); /* a conflict or an idempotent re-attach keeps nothing */
	else
		assert_int_equal(vmsim_session_region_count(f.s), 2);
	fx_close(&f);
}

static const struct overlap o_start = { 0x0f8000, 0x10000, false, VMSIM_REGION_CONFLICT };
static const struct overlap o_end = { 0x10f000, 0x2000, false, VMSIM_REGION_CONFLICT };
static const struct overlap o_inside = { 0x104000, 0x1000, false, VMSIM_REGION_CONFLICT };
static const struct overlap o_covers = { 0x0f0000, 0x30000, false, VMSIM_REGION_CONFLICT };
static const struct overlap o_adjacent_below = { 0x0f0000, 0x10000, false, VMSIM_OK };
static const struct overlap o_adjacent_above = { 0x110000, 0x10000, false, VMSIM_OK };
static const struct overlap o_reattach_same = { 0x100000, 0, true, VMSIM_OK };
static const struct overlap o_reattach_inside = { 0x104000, 0x1000, true, VMSIM_OK };
static const struct overlap o_same_ds_outside = { 0x0ff000, 0x2000, true, VMSIM_REGION_CONFLICT };

static void reattach_reports_request(const void *p)
{
	(void)p;
	struct fixture f;
	fx_open(&f);
	struct vmsim_attach_attr attr = { 0, 0, true, true };
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach(f.s, f.ds, 0x100000, &attr, &range), VMSIM_OK);
	attr.size = 8192;
	assert_int_equal(vmsim_session_attach(f.s, f.ds, 0x102000, &attr, &range), VMSIM_OK);
	assert_int_equal(range.start, 0x102000);
	assert_int_equal(range.num_bytes, 8192);
	assert_int_equal(vmsim_session_region_count(f.s), 1);
	fx_close(&f);
}

static void sealed_dataspace_downgraded(const void *p)
{
	(void)p;
	struct fixture f;
	fx_open(&f);
	assert_int_equal(vmsim_ds_seal(f.env, f.ds), VMSIM_OK);
	assert_false(vmsim_ds_writeable(f.env, f.ds));
	assert_int_equal(vt_attach(f.s, f.ds, 0, 0, 0, true, true), VMSIM_OK);
	struct vmsim_region_info info;
	assert_int_equal(vmsim_session_region_at(f.s, 0, &info), VMSIM_OK);
	assert_false(info.writeable);
	assert_true(info.executable);
	fx_close(&f);
}

struct walk {
	uint64_t starts[8];
	unsigned n;
};

static bool collect(void *ctx, const struct vmsim_region_info *r)
{
	struct walk *w = ctx;
	w->starts[w->n++] = r->start;
	return w->n < 3; /* stop early after three */
}

static void regions_in_order(const void *p)
{
	(void)p;
	struct fixture f;
	fx_open(&f);
	const uint64_t at[] = { 0x500000, 0x100000, 0x300000, 0x200000, 0x400000 };
	for (int i = 0; i < 5; i++)
		assert_int_equal(vt_attach(f.s, f.ds, at[i], 0, 4096, true, false), VMSIM_OK);
	assert_int_equal(vmsim_session_region_count(f.s), 5);
	struct walk w = { { 0 }, 0 };
	vmsim_session_for_each_region(f.s, collect, &w);
	assert_int_equal(w.n, 3);
	assert_int_equal(w.starts[0], 0x100000);
	assert_int_equal(w.starts[1], 0x200000);
	assert_int_equal(w.starts[2], 0x300000);
	fx_close(&f);
}

/* Core's reach is 2^48 (a 4-level table): the last 64 KiB below it attach and map. */
static void high_gpa_below_2_48_maps(const void *p)
{
	(void)p;
	struct fixture f;
	fx_open(&f);
	vt_known_gap(vt_attach(f.s, f.ds, (1ull << 48) - DS_SIZE, 0, 0, true, true), "kvm", VMSIM_BACKEND_ERROR,
	             "KVM maps only below the guest CPU's physical-address width (40 bits under QEMU TCG), "
	             "not up to core's 2^48 (reported)");
	assert_int_equal(vmsim_session_page_tables(f.s), 3);
	assert_int_equal(vmsim_session_detach(f.s, (1ull << 48) - 4096, 4096), VMSIM_OK);
	fx_close(&f);
}

static void attach_pic_refused_on_x86(const void *p)
{
	(void)p;
	struct fixture f;
	fx_open(&f);
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach_pic(f.s, 0x1000, &range), VMSIM_INVALID_DATASPACE);
	assert_int_equal(vmsim_session_attach_pic(NULL, 0x1000, &range), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_attach_pic(f.s, 0x1000, NULL), VMSIM_INVALID_ARGUMENT);
	fx_close(&f);
}

static const struct vc_test tests[] = {
	{ "attach", "rejects_invalid_cap", 0, attach_rejected, &r_invalid_cap },
	{ "attach", "rejects_stale_cap", 0, attach_rejected, &r_stale_cap },
	{ "attach", "rejects_forged_cap", 0, attach_rejected, &r_forged_cap },
	{ "attach", "rejects_other_envs_cap", 0, attach_rejected, &r_foreign_cap },
	{ "attach", "rejects_unaligned_gpa", 0, attach_rejected, &r_unaligned_gpa },
	{ "attach", "rejects_unaligned_offset", 0, attach_rejected, &r_unaligned_offset },
	{ "attach", "rejects_unaligned_size", 0, attach_rejected, &r_unaligned_size },
	{ "attach", "rejects_offset_at_end", 0, attach_rejected, &r_offset_at_end },
	{ "attach", "rejects_offset_plus_size", 0, attach_rejected, &r_offset_plus_size },
	{ "attach", "rejects_beyond_2_48", 0, attach_rejected, &r_beyond_2_48 },
	{ "attach", "rejects_wrapping_range", 0, attach_rejected, &r_wraps },
	{ "attach", "invalid_cap_before_conflict", 0, attach_rejected, &r_invalid_before_conflict },
	{ "attach", "misalignment_before_conflict", 0, attach_rejected, &r_unaligned_before_conflict },
	{ "attach", "stale_cap_before_conflict", 0, attach_rejected, &r_conflict_other_ds_region },
	{ "attach", "null_arguments", 0, attach_null_arguments, NULL },
	{ "attach", "records_region", 0, attach_records_region, NULL },
	{ "attach", "size_zero_is_rest_of_dataspace", 0, size_normalisation, &n_zero_is_rest },
	{ "attach", "size_larger_than_dataspace_clamped", 0, size_normalisation, &n_larger_clamped },
	{ "attach", "size_exact", 0, size_normalisation, &n_exact },
	{ "attach", "conflict_overlapping_start", 0, overlap_case, &o_start },
	{ "attach", "conflict_overlapping_end", 0, overlap_case, &o_end },
	{ "attach", "conflict_inside", 0, overlap_case, &o_inside },
	{ "attach", "conflict_covering", 0, overlap_case, &o_covers },
	{ "attach", "adjacent_below_ok", 0, overlap_case, &o_adjacent_below },
	{ "attach", "adjacent_above_ok", 0, overlap_case, &o_adjacent_above },
	{ "attach", "reattach_same_region_idempotent", 0, overlap_case, &o_reattach_same },
	{ "attach", "reattach_inside_region_idempotent", 0, overlap_case, &o_reattach_inside },
	{ "attach", "same_dataspace_outside_region_conflicts", 0, overlap_case, &o_same_ds_outside },
	{ "attach", "reattach_reports_request", 0, reattach_reports_request, NULL },
	{ "attach", "sealed_dataspace_downgraded", 0, sealed_dataspace_downgraded, NULL },
	{ "attach", "regions_in_order", 0, regions_in_order, NULL },
	{ "attach", "high_gpa_below_2_48_maps", 0, high_gpa_below_2_48_maps, NULL },
	{ "attach", "attach_pic_refused_on_x86", 0, attach_pic_refused_on_x86, NULL },
};

struct vc_test_list vc_attach_tests(void)
{
	return VC_LIST(tests);
}
