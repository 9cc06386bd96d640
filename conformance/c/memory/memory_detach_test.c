/* memory_detach_test.c - detach: argument checks, whole-region removal, no region skipped, 10,000 attachments. */
#include "../vc.h"

enum { KiB = 1024, MiB = 1024 * 1024 };

#define KVM_SLOTS "the KVM backend gives each region its own memory slot and stops at 509 (reported)"


struct fixture {
	struct vmsim_env *env;
	struct vmsim_session *s;
	vmsim_ds_cap ds;
	struct vt_snapshot empty;
};

static void fx_open(struct fixture *f, uint64_t ram)
{
	f->env = vt_env(0, 0);
	f->s = vt_session(f->env, ram, 10);
	f->ds = vt_ds(f->env, 64 * KiB);
	vt_snap(f->s, &f->empty);
}

static void fx_close(struct fixture *f)
{
	vmsim_session_close(f->s);
	vt_env_done(f->env);
}

struct bad {
	uint64_t gpa, size;
};

static void bad_arguments_do_nothing(const void *p)
{
	const struct bad *b = p;
	struct fixture f;
	fx_open(&f, 4 * MiB);
	assert_int_equal(vt_attach(f.s, f.ds, 0x10000, 0, 0, true, true), VMSIM_OK);
	struct vt_snapshot before;
	vt_snap(f.s, &before);
	assert_int_equal(vmsim_session_detach(f.s, b->gpa, b->size), VMSIM_INVALID_ARGUMENT);
	vt_assert_snap(f.s, &before);
	fx_close(&f);
}

static const struct bad b_size_zero = { 0x10000, 0 };
static const struct bad b_unaligned_gpa = { 0x10800, 0x1000 };
static const struct bad b_unaligned_size = { 0x10000, 0x800 };

/* Regions [64K,128K), [128K,192K), [256K,320K); detaching dr removes exactly those listed in gone. */
struct partial {
	uint64_t gpa, size;
	bool gone[3];
};

static void detach_whole_regions(const void *p)
{
	const struct partial *c = p;
	struct fixture f;
	fx_open(&f, 4 * MiB);
	const uint64_t at[3] = { 0x10000, 0x20000, 0x40000 };
	for (int i = 0; i < 3; i++)
		assert_int_equal(vt_attach(f.s, f.ds, at[i], 0, 0, true, true), VMSIM_OK);
	struct vmsim_quota before, after;
	vt_quota(f.s, &before);
	assert_int_equal(vmsim_session_detach(f.s, c->gpa, c->size), VMSIM_OK);
	unsigned removed = 0;
	for (int i = 0; i < 3; i++) {
		struct vmsim_region_info info;
		enum vmsim_result r = vmsim_session_region_at(f.s, at[i] + 0x8000, &info);
		assert_int_equal(r, c->gone[i] ? VMSIM_INVALID_ARGUMENT : VMSIM_OK);
		if (!c->gone[i])
			assert_int_equal(info.num_bytes, 64 * KiB); /* never shrunk */
		removed += c->gone[i];
	}
	vt_quota(f.s, &after);
	assert_int_equal(before.ram_used - after.ram_used, removed * 128 + (removed == 3 ? 3 * 4096 : 0));
	fx_close(&f);
}

static const struct partial d_first_page = { 0x10000, 0x1000, { true, false, false } };
static const struct partial d_last_page = { 0x1f000, 0x1000, { true, false, false } };
static const struct partial d_middle_page = { 0x28000, 0x1000, { false, true, false } };
static const struct partial d_straddle_two = { 0x1f000, 0x2000, { true, true, false } };
static const struct partial d_gap_only = { 0x30000, 0x10000, { false, false, false } };
static const struct partial d_everything = { 0, 1ull << 30, { true, true, true } };

/* Genode's probe walk steps over [16K,20K) when detaching [12K,20K) from [0,16K)+[16K,20K); vmsim does not. */
static void no_region_skipped(const void *p)
{
	(void)p;
	struct fixture f;
	fx_open(&f, 4 * MiB);
	assert_int_equal(vt_attach(f.s, f.ds, 0, 0, 16 * KiB, true, true), VMSIM_OK);
	assert_int_equal(vt_attach(f.s, f.ds, 16 * KiB, 0, 4 * KiB, true, true), VMSIM_OK);
	assert_int_equal(vmsim_session_detach(f.s, 12 * KiB, 8 * KiB), VMSIM_OK);
	assert_int_equal(vmsim_session_region_count(f.s), 0);
	vt_assert_snap(f.s, &f.empty);
	fx_close(&f);
}

static void range_past_2_64_clipped(const void *p)
{
	(void)p;
	struct fixture f;
	fx_open(&f, 4 * MiB);
	assert_int_equal(vt_attach(f.s, f.ds, 1ull << 30, 0, 0, true, true), VMSIM_OK);
	assert_int_equal(vmsim_session_detach(f.s, 1ull << 30, ~0xfffull), VMSIM_OK); /* gpa + size wraps */
	vt_assert_snap(f.s, &f.empty);
	fx_close(&f);
}

static void detach_then_reattach(const void *p)
{
	(void)p;
	struct fixture f;
	fx_open(&f, 4 * MiB);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(vt_attach(f.s, f.ds, 0x200000, 0, 0, i != 1, true), VMSIM_OK);
		struct vmsim_region_info info;
		assert_int_equal(vmsim_session_region_at(f.s, 0x200000, &info), VMSIM_OK);
		assert_int_equal(info.writeable, i != 1); /* a fresh attach, not a re-attach */
		assert_int_equal(vmsim_session_detach(f.s, 0x200000, 4096), VMSIM_OK);
	}
	vt_assert_snap(f.s, &f.empty);
	fx_close(&f);
}

/* 10,000 4 KiB attachments of one dataspace, scattered; found, re-attached, then detached two ways. */
static void ten_thousand_attachments(const void *p)
{
	(void)p;
	enum { N = 10000 };
	struct fixture f;
	fx_open(&f, 8 * MiB);
	for (uint64_t i = 0; i < N; i++) {
		uint64_t slot = (i * 7919) % N; /* 7919 is prime: a permutation of 0..N-1 */
		vt_known_gap(vt_attach(f.s, f.ds, 0x100000 + slot * 8192, 4096 * (slot % 16), 4096, true, false),
		             "kvm", VMSIM_OUT_OF_RAM, KVM_SLOTS);
	}
	assert_int_equal(vmsim_session_region_count(f.s), N);
	/* 10,000 x 128 bytes of metadata; 8 KiB stride from 1 MiB spans PTs 0..39 (40), one PD, one PDPT */
	struct vmsim_quota q;
	vt_quota(f.s, &q);
	uint64_t last = 0x100000 + (N - 1) * 8192ull;
	uint64_t pts = (last >> 21) - (0x100000 >> 21) + 1;
	assert_int_equal(vmsim_session_page_tables(f.s), pts + 2);
	assert_int_equal(q.ram_used, 8192 + N * 128 + (pts + 2) * 4096);
	for (uint64_t i = 0; i < N; i += 97) {
		struct vmsim_region_info info;
		assert_int_equal(vmsim_session_region_at(f.s, 0x100000 + i * 8192 + 4095, &info), VMSIM_OK);
		assert_int_equal(info.offset, 4096 * (i % 16));
		assert_int_equal(vmsim_session_region_at(f.s, 0x100000 + i * 8192 + 4096, &info),
		                 VMSIM_INVALID_ARGUMENT); /* the hole after it */
	}
	assert_int_equal(vt_attach(f.s, f.ds, 0x100000 + 5000 * 8192, 0, 4096, true, false), VMSIM_OK);
	assert_int_equal(vmsim_session_region_count(f.s), N);
	for (uint64_t i = 0; i < N / 2; i++)
		assert_int_equal(vmsim_session_detach(f.s, 0x100000 + i * 8192, 4096), VMSIM_OK);
	assert_int_equal(vmsim_session_region_count(f.s), N / 2);
	assert_int_equal(vmsim_session_detach(f.s, 0x100000, N * 8192ull), VMSIM_OK);
	vt_assert_snap(f.s, &f.empty);
	fx_close(&f);
}

static const struct vc_test tests[] = {
	{ "detach", "size_zero_does_nothing", 0, bad_arguments_do_nothing, &b_size_zero },
	{ "detach", "unaligned_gpa_does_nothing", 0, bad_arguments_do_nothing, &b_unaligned_gpa },
	{ "detach", "unaligned_size_does_nothing", 0, bad_arguments_do_nothing, &b_unaligned_size },
	{ "detach", "first_page_removes_whole_region", 0, detach_whole_regions, &d_first_page },
	{ "detach", "last_page_removes_whole_region", 0, detach_whole_regions, &d_last_page },
	{ "detach", "middle_page_removes_whole_region", 0, detach_whole_regions, &d_middle_page },
	{ "detach", "straddling_two_removes_both", 0, detach_whole_regions, &d_straddle_two },
	{ "detach", "empty_range_is_ok", 0, detach_whole_regions, &d_gap_only },
	{ "detach", "large_range_removes_all", 0, detach_whole_regions, &d_everything },
	{ "detach", "no_region_skipped", 0, no_region_skipped, NULL },
	{ "detach", "range_past_2_64_clipped", 0, range_past_2_64_clipped, NULL },
	{ "detach", "detach_then_reattach", 0, detach_then_reattach, NULL },
	{ "detach", "ten_thousand_attachments", 0, ten_thousand_attachments, NULL },
};

struct vc_test_list vc_detach_tests(void)
{
	return VC_LIST(tests);
}
