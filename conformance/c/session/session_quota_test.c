/* session_quota_test.c - session open/close/upgrade, vCPU and dataspace costs: docs/quota.md exactly. */
#include "../vc.h"

enum { MiB = 1024 * 1024 };

static void open_charges_session_cost(const void *p)
{
	(void)p;
	struct vmsim_env *env = vt_env(0, 0);
	struct vmsim_session *s = vt_session(env, 5 * MiB, 10);
	struct vmsim_quota q;
	vt_quota(s, &q);
	assert_int_equal(q.ram_limit, 5 * MiB);
	assert_int_equal(q.cap_limit, 10);
	assert_int_equal(q.ram_used, 8192); /* docs/quota.md: object page + NPT root */
	assert_int_equal(q.cap_used, 1);
	uint64_t ram, caps;
	vt_env_used(env, &ram, &caps);
	assert_int_equal(ram, 5 * MiB);
	assert_int_equal(caps, 10);
	vmsim_session_close(s);
	vt_env_used(env, &ram, &caps);
	assert_int_equal(ram, 0);
	assert_int_equal(caps, 0);
	vt_env_done(env);
}

/* One open that must fail with want and leave the env pool untouched. */
static void open_fails(uint64_t pool_ram, uint64_t pool_caps, struct vmsim_session_args args, enum vmsim_result want)
{
	struct vmsim_env *env = vt_env(pool_ram, pool_caps);
	struct vmsim_session *s = (struct vmsim_session *)&args; /* must be overwritten with NULL */
	assert_int_equal(vmsim_session_open(env, &args, &s), want);
	assert_null(s);
	uint64_t ram, caps;
	vt_env_used(env, &ram, &caps);
	assert_int_equal(ram, 0);
	assert_int_equal(caps, 0);
	vt_env_done(env);
}

struct open_case {
	uint64_t pool_ram, pool_caps, ram, caps;
	enum vmsim_result want;
};

static void open_case(const void *p)
{
	const struct open_case *c = p;
	open_fails(c->pool_ram, c->pool_caps, vt_session_args(c->ram, c->caps), c->want);
}

static const struct open_case insufficient_ram = { 0, 0, 8191, 10, VMSIM_INSUFFICIENT_RAM };
static const struct open_case insufficient_caps = { 0, 0, 5 * MiB, 0, VMSIM_INSUFFICIENT_CAPS };
static const struct open_case insufficient_ram_first = { 0, 0, 0, 0, VMSIM_INSUFFICIENT_RAM };
static const struct open_case pool_out_of_ram = { 1 * MiB, 0, 2 * MiB, 10, VMSIM_OUT_OF_RAM };
static const struct open_case pool_out_of_caps = { 0, 5, 1 * MiB, 10, VMSIM_OUT_OF_CAPS };
static const struct open_case pool_ram_before_caps = { 1 * MiB, 5, 2 * MiB, 10, VMSIM_OUT_OF_RAM };
static const struct open_case pool_before_cost = { 4096, 0, 8191, 0, VMSIM_OUT_OF_RAM };

static void open_exact_cost_succeeds(const void *p)
{
	(void)p;
	struct vmsim_env *env = vt_env(0, 0);
	struct vmsim_session *s = vt_session(env, 8192, 1); /* docs/quota.md */
	struct vmsim_quota q;
	vt_quota(s, &q);
	assert_int_equal(q.ram_used, q.ram_limit);
	assert_int_equal(q.cap_used, q.cap_limit);
	struct vmsim_vcpu *v = NULL;
	assert_int_equal(vt_idle_vcpu(s, &v), VMSIM_OUT_OF_RAM); /* nothing left for anything */
	vmsim_session_close(s);
	vt_env_done(env);
}

static void open_rejects_bad_arguments(const void *p)
{
	(void)p;
	struct vmsim_session_args args = vt_session_args(5 * MiB, 10);
	args.model = (enum vmsim_model)3;
	open_fails(0, 0, args, VMSIM_INVALID_ARGUMENT);
	args = vt_session_args(5 * MiB, 10);
	args.backend = "no-such-backend";
	open_fails(0, 0, args, VMSIM_INVALID_ARGUMENT);
	args.backend = NULL;
	open_fails(0, 0, args, VMSIM_INVALID_ARGUMENT);
	struct vmsim_env *env = vt_env(0, 0);
	struct vmsim_session *s = NULL;
	args = vt_session_args(5 * MiB, 10);
	assert_int_equal(vmsim_session_open(NULL, &args, &s), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_open(env, NULL, &s), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_open(env, &args, NULL), VMSIM_INVALID_ARGUMENT);
	vt_env_done(env);
}

static void label_is_copied(const void *p)
{
	(void)p;
	struct vmsim_env *env = vt_env(0, 0);
	char label[] = "guest-a";
	struct vmsim_session_args args = vt_session_args(5 * MiB, 10);
	args.label = label;
	struct vmsim_session *a = NULL, *b = NULL;
	assert_int_equal(vmsim_session_open(env, &args, &a), VMSIM_OK);
	label[0] = 'X';
	assert_string_equal(vmsim_session_label(a), "guest-a");
	args.label = NULL;
	assert_int_equal(vmsim_session_open(env, &args, &b), VMSIM_OK);
	assert_string_equal(vmsim_session_label(b), "");
	assert_ptr_equal(vmsim_session_env(a), env);
	vmsim_session_close(a);
	vmsim_session_close(b);
	vt_env_done(env);
}

static void upgrade_grows_limits_and_close_returns_all(const void *p)
{
	(void)p;
	struct vmsim_env *env = vt_env(0, 0);
	struct vmsim_session *s = vt_session(env, 5 * MiB, 10);
	assert_int_equal(vmsim_session_upgrade(s, 1 * MiB, 5), VMSIM_OK);
	struct vmsim_quota q;
	vt_quota(s, &q);
	assert_int_equal(q.ram_limit, 6 * MiB);
	assert_int_equal(q.cap_limit, 15);
	assert_int_equal(q.ram_used, 8192);
	uint64_t ram, caps;
	vt_env_used(env, &ram, &caps);
	assert_int_equal(ram, 6 * MiB);
	assert_int_equal(caps, 15);
	vmsim_session_close(s);
	vt_env_used(env, &ram, &caps);
	assert_int_equal(ram, 0);
	assert_int_equal(caps, 0);
	vt_env_done(env);
}

static void upgrade_failures_change_nothing(const void *p)
{
	(void)p;
	struct vmsim_env *env = vt_env(8 * MiB, 20);
	struct vmsim_session *s = vt_session(env, 5 * MiB, 10);
	struct vt_snapshot before;
	vt_snap(s, &before);
	assert_int_equal(vmsim_session_upgrade(s, 4 * MiB, 1), VMSIM_OUT_OF_RAM);
	vt_assert_snap(s, &before);
	assert_int_equal(vmsim_session_upgrade(s, 1 * MiB, 11), VMSIM_OUT_OF_CAPS);
	vt_assert_snap(s, &before);
	assert_int_equal(vmsim_session_upgrade(s, 4 * MiB, 11), VMSIM_OUT_OF_RAM); /* RAM checked first */
	vt_assert_snap(s, &before);
	uint64_t ram, caps;
	vt_env_used(env, &ram, &caps);
	assert_int_equal(ram, 5 * MiB);
	assert_int_equal(caps, 10);
	vmsim_session_close(s);
	vt_env_done(env);
}

static void vcpu_cost_exact(const void *p)
{
	(void)p;
	const struct vmsim_profile *profile = vc_target()->profile;
	if (profile && (!profile->vcpu_ram || !profile->vcpu_caps)) {
		vc_skip("profile %s: a vCPU has no fixed cost (%s)", profile->name, profile->source);
		return;
	}
	uint64_t vram = profile ? profile->vcpu_ram : 16384, vcaps = profile ? profile->vcpu_caps : 2;
	struct vmsim_env *env = vt_env(0, 0);
	struct vmsim_session *s = vt_session(env, 5 * MiB, 10);
	struct vmsim_vcpu *v[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(vt_idle_vcpu(s, &v[i]), VMSIM_OK);
	struct vmsim_quota q;
	vt_quota(s, &q);
	assert_int_equal(q.ram_used, 8192 + 3 * vram);
	assert_int_equal(q.cap_used, 1 + 3 * vcaps);
	vmsim_vcpu_destroy(v[1]);
	vt_quota(s, &q);
	assert_int_equal(q.ram_used, 8192 + 2 * vram);
	assert_int_equal(q.cap_used, 1 + 2 * vcaps);
	vmsim_session_close(s); /* with two vCPUs present */
	uint64_t ram, caps;
	vt_env_used(env, &ram, &caps);
	assert_int_equal(ram, 0);
	assert_int_equal(caps, 0);
	vt_env_done(env);
}

static void default_quota_holds_four_vcpus(const void *p)
{
	(void)p;
	struct vmsim_env *env = vt_env(0, 0);
	struct vmsim_session *s = vt_session(env, VMSIM_SESSION_DEFAULT_RAM, VMSIM_SESSION_DEFAULT_CAPS);
	struct vmsim_vcpu *v = NULL;
	for (int i = 0; i < 4; i++)
		assert_int_equal(vt_idle_vcpu(s, &v), VMSIM_OK);
	struct vt_snapshot before;
	vt_snap(s, &before);
	assert_int_equal(vt_idle_vcpu(s, &v), VMSIM_OUT_OF_CAPS);
	assert_null(v);
	vt_assert_snap(s, &before);
	assert_int_equal(vmsim_session_upgrade(s, 0, 2), VMSIM_OK);
	assert_int_equal(vt_idle_vcpu(s, &v), VMSIM_OK);
	assert_int_equal(vmsim_vcpu_id(v), 4); /* the failed create consumed no id */
	vmsim_session_close(s);
	vt_env_done(env);
}

struct vcpu_short {
	uint64_t ram_left, caps_left;
	enum vmsim_result want;
};

static void vcpu_shortfall(const void *p)
{
	const struct vcpu_short *c = p;
	struct vmsim_env *env = vt_env(0, 0);
	struct vmsim_session *s = vt_session(env, 8192 + c->ram_left, 1 + c->caps_left);
	struct vt_snapshot before;
	vt_snap(s, &before);
	struct vmsim_vcpu *v = (struct vmsim_vcpu *)env;
	assert_int_equal(vt_idle_vcpu(s, &v), c->want);
	assert_null(v);
	vt_assert_snap(s, &before);
	assert_int_equal(vmsim_session_vcpu_count(s), 0);
	assert_int_equal(vmsim_session_upgrade(s, 16384, 2), VMSIM_OK);
	assert_int_equal(vt_idle_vcpu(s, &v), VMSIM_OK);
	assert_int_equal(vmsim_vcpu_id(v), 0);
	vmsim_session_close(s);
	vt_env_done(env);
}

static const struct vcpu_short vcpu_ram_short = { 16383, 2, VMSIM_OUT_OF_RAM };
static const struct vcpu_short vcpu_caps_short = { 16384, 1, VMSIM_OUT_OF_CAPS };
static const struct vcpu_short vcpu_ram_before_caps = { 16383, 1, VMSIM_OUT_OF_RAM };

static void dataspace_cost_from_env_pool(const void *p)
{
	(void)p;
	struct vmsim_env *env = vt_env(0, 0);
	vmsim_ds_cap ds = vt_ds(env, 5000);
	uint64_t size = 0, ram, caps;
	assert_int_equal(vmsim_ds_size(env, ds, &size), VMSIM_OK);
	assert_int_equal(size, 8192);
	vt_env_used(env, &ram, &caps);
	assert_int_equal(ram, 8192);
	assert_int_equal(caps, 1); /* docs/quota.md: a dataspace is one cap */
	assert_int_equal(vmsim_ds_free(env, ds), VMSIM_OK);
	vt_env_used(env, &ram, &caps);
	assert_int_equal(ram, 0);
	assert_int_equal(caps, 0);
	vt_env_done(env);
}

static void dataspace_alloc_failures(const void *p)
{
	(void)p;
	struct vmsim_env *env = vt_env(1 * MiB, 1);
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(env, 0, &ds), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_ds_alloc(env, 1 * MiB + 1, &ds), VMSIM_OUT_OF_RAM);
	assert_int_equal(vmsim_ds_alloc(env, UINT64_MAX, &ds), VMSIM_OUT_OF_RAM);
	ds = vt_ds(env, 4096);
	vmsim_ds_cap second;
	assert_int_equal(vmsim_ds_alloc(env, 4096, &second), VMSIM_OUT_OF_CAPS);
	uint64_t ram, caps;
	vt_env_used(env, &ram, &caps);
	assert_int_equal(ram, 4096);
	assert_int_equal(caps, 1);
	assert_int_equal(vmsim_ds_free(env, ds), VMSIM_OK);
	assert_int_equal(vmsim_ds_free(env, ds), VMSIM_INVALID_CAP); /* stale */
	vt_env_done(env);
}

static void zero_in_use_after_close(const void *p)
{
	(void)p;
	struct vmsim_env *env = vt_env(0, 0);
	struct vmsim_session *s = vt_session(env, 5 * MiB, 10);
	vmsim_ds_cap keep = vt_ds(env, 64 * 1024), gone = vt_ds(env, 4096);
	assert_int_equal(vt_attach(s, keep, 0, 0, 0, true, true), VMSIM_OK);
	assert_int_equal(vt_attach(s, keep, 1u << 30, 0, 4096, false, false), VMSIM_OK);
	assert_int_equal(vt_attach(s, gone, 1u << 21, 0, 0, true, false), VMSIM_OK);
	assert_int_equal(vmsim_ds_free(env, gone), VMSIM_OK); /* leaves a reserved region */
	struct vmsim_vcpu *v;
	assert_int_equal(vt_idle_vcpu(s, &v), VMSIM_OK);
	assert_int_equal(vt_idle_vcpu(s, &v), VMSIM_OK);
	vmsim_session_close(s);
	uint64_t ram, caps;
	vt_env_used(env, &ram, &caps);
	assert_int_equal(ram, 64 * 1024); /* only the dataspace still allocated */
	assert_int_equal(caps, 1);
	assert_int_equal(vmsim_ds_free(env, keep), VMSIM_OK);
	vt_env_used(env, &ram, &caps);
	assert_int_equal(ram, 0);
	assert_int_equal(caps, 0);
	vt_env_done(env);
}

/* Every allocation of open + attach + detach + close fails once in turn; each failure leaks nothing. */
static void fault_injection_walk(const void *p)
{
	(void)p;
	for (uint64_t n = 1; n < 200; n++) {
		struct vmsim_env *env = vt_env(0, 0);
		vmsim_ds_cap ds = vt_ds(env, 8192);
		vmsim_env_fail_alloc_at(env, n);
		struct vmsim_session_args args = vt_session_args(1 * MiB, 10);
		struct vmsim_session *s = NULL;
		enum vmsim_result r = vmsim_session_open(env, &args, &s);
		bool done = false;
		if (r == VMSIM_OK) {
			r = vt_attach(s, ds, 0x100000, 0, 0, true, false);
			if (r == VMSIM_OK)
				r = vt_attach(s, ds, 1ull << 39, 0, 4096, true, false);
			if (r == VMSIM_OK) {
				done = vmsim_session_detach(s, 0x100000, 8192) == VMSIM_OK;
				assert_true(done);
			}
			vmsim_session_close(s);
		}
		if (!done)
			assert_int_equal(r, VMSIM_OUT_OF_RAM);
		vmsim_env_fail_alloc_at(env, 0);
		assert_int_equal(vmsim_ds_free(env, ds), VMSIM_OK);
		uint64_t ram, caps;
		vt_env_used(env, &ram, &caps);
		assert_int_equal(ram, 0);
		assert_int_equal(caps, 0);
		vt_env_done(env);
		if (done) {
			/* walked past the last allocation: core's session (4), then regions and nested tables */
			assert_int_equal(n - 1, 12);
			return;
		}
	}
	fail_msg("the scenario never completed without an injected failure");
}

static const struct vc_test tests[] = {
	{ "session", "open_charges_session_cost", 0, open_charges_session_cost, NULL },
	{ "session", "open_insufficient_ram", 0, open_case, &insufficient_ram },
	{ "session", "open_insufficient_caps", 0, open_case, &insufficient_caps },
	{ "session", "open_insufficient_ram_before_caps", 0, open_case, &insufficient_ram_first },
	{ "session", "open_pool_out_of_ram", 0, open_case, &pool_out_of_ram },
	{ "session", "open_pool_out_of_caps", 0, open_case, &pool_out_of_caps },
	{ "session", "open_pool_ram_before_caps", 0, open_case, &pool_ram_before_caps },
	{ "session", "open_pool_before_cost_check", 0, open_case, &pool_before_cost },
	{ "session", "open_exact_cost_succeeds", 0, open_exact_cost_succeeds, NULL },
	{ "session", "open_rejects_bad_arguments", 0, open_rejects_bad_arguments, NULL },
	{ "session", "label_is_copied", 0, label_is_copied, NULL },
	{ "session", "upgrade_grows_limits_close_returns_all", 0, upgrade_grows_limits_and_close_returns_all, NULL },
	{ "session", "upgrade_failures_change_nothing", 0, upgrade_failures_change_nothing, NULL },
	{ "session", "vcpu_cost_exact", 0, vcpu_cost_exact, NULL },
	{ "session", "default_quota_holds_four_vcpus", 0, default_quota_holds_four_vcpus, NULL },
	{ "session", "vcpu_out_of_ram_keeps_nothing", 0, vcpu_shortfall, &vcpu_ram_short },
	{ "session", "vcpu_out_of_caps_keeps_nothing", 0, vcpu_shortfall, &vcpu_caps_short },
	{ "session", "vcpu_ram_checked_before_caps", 0, vcpu_shortfall, &vcpu_ram_before_caps },
	{ "session", "dataspace_cost_from_env_pool", 0, dataspace_cost_from_env_pool, NULL },
	{ "session", "dataspace_alloc_failures", 0, dataspace_alloc_failures, NULL },
	{ "session", "zero_in_use_after_close", 0, zero_in_use_after_close, NULL },
	{ "session", "fault_injection_walk", 0, fault_injection_walk, NULL },
};

struct vc_test_list vc_session_tests(void)
{
	return VC_LIST(tests);
}
