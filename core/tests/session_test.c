/* core/tests/session_test.c - session open/close/upgrade: donations, costs, and unwinding on every failure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "vt_backend.h"

struct counted_env {
	struct vt_counting_allocator counter;
	struct vmsim_env *env;
	char last_log[256];
};

static void keep_last(void *ctx, enum vmsim_log_level level, const char *message)
{
	(void)level;
	struct counted_env *fixture = ctx;
	snprintf(fixture->last_log, sizeof(fixture->last_log), "%s", message);
}

static void keep_text(void *ctx, enum vmsim_log_level level, const char *message)
{
	(void)level;
	snprintf(ctx, 256, "%s", message);
}

static void counted_env_new(struct counted_env *fixture, uint64_t ram_pool, uint64_t cap_pool)
{
	memset(fixture, 0, sizeof(*fixture));
	vt_counting_allocator_init(&fixture->counter);
	struct vmsim_env_config cfg = {
		.allocator = &fixture->counter.hooks,
		.log = keep_last,
		.log_ctx = fixture,
		.log_level = VMSIM_LOG_DEBUG,
		.ram_pool = ram_pool,
		.cap_pool = cap_pool,
	};
	assert_int_equal(vmsim_env_create(&cfg, &fixture->env), VMSIM_OK);
	assert_int_equal(vmsim_env_register_backend(fixture->env, vt_backend_ops()), VMSIM_OK);
	vt_backend_reset();
}

static void counted_env_destroy(struct counted_env *fixture)
{
	vmsim_env_destroy(fixture->env);
	assert_int_equal(fixture->counter.allocs, fixture->counter.frees);
	assert_int_equal(fixture->counter.live_bytes, 0);
}

static struct vmsim_session_args args_for(uint64_t ram, uint64_t caps)
{
	return (struct vmsim_session_args){.ram_quota = ram, .cap_quota = caps, .label = "guest", .backend = "vt",
	                                   .model = VMSIM_MODEL_VMX};
}

/* Open must fail with expected and leave the env exactly as it was. */
static void expect_open_fails(struct counted_env *fixture, const struct vmsim_session_args *args,
                              enum vmsim_result expected)
{
	struct vmsim_quota before, after;
	vmsim_env_quota(fixture->env, &before);
	uint64_t live_before = fixture->counter.allocs - fixture->counter.frees;
	struct vmsim_session *session = (struct vmsim_session *)1;
	assert_int_equal(vmsim_session_open(fixture->env, args, &session), expected);
	assert_null(session);
	vmsim_env_quota(fixture->env, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(fixture->counter.allocs - fixture->counter.frees, live_before);
}

static void test_open_charges_donation_and_cost(void **state)
{
	(void)state;
	struct counted_env fixture;
	counted_env_new(&fixture, 0, 0);
	struct vmsim_session_args args = args_for(VMSIM_SESSION_DEFAULT_RAM, VMSIM_SESSION_DEFAULT_CAPS);
	struct vmsim_session *session = NULL;
	assert_int_equal(vmsim_session_open(fixture.env, &args, &session), VMSIM_OK);
	struct vmsim_quota quota;
	vmsim_session_quota(session, &quota);
	assert_int_equal(quota.ram_limit, VMSIM_SESSION_DEFAULT_RAM);
	assert_int_equal(quota.ram_used, 8192 /* docs/quota.md: object page + nested page-table root */);
	assert_int_equal(quota.cap_limit, VMSIM_SESSION_DEFAULT_CAPS);
	assert_int_equal(quota.cap_used, 1 /* docs/quota.md */);
	vmsim_env_quota(fixture.env, &quota);
	assert_int_equal(quota.ram_used, VMSIM_SESSION_DEFAULT_RAM);
	assert_int_equal(quota.cap_used, VMSIM_SESSION_DEFAULT_CAPS);
	assert_string_equal(vmsim_session_label(session), "guest");
	assert_int_equal(vmsim_session_model(session), VMSIM_MODEL_VMX);
	assert_string_equal(vmsim_session_backend(session), "vt");
	assert_ptr_equal(vmsim_session_env(session), fixture.env);
	assert_int_equal(vt_backend_count(VT_VM_CREATE), 1);
	assert_int_equal(vmsim_session_region_count(session), 0);
	assert_int_equal(vmsim_session_page_tables(session), 0);

	vmsim_session_close(session);
	assert_int_equal(vt_backend_count(VT_VM_DESTROY), 1);
	vmsim_env_quota(fixture.env, &quota);
	assert_int_equal(quota.ram_used, 0);
	assert_int_equal(quota.cap_used, 0);
	vmsim_session_close(NULL);

	/* The exact cost is enough; a NULL label is "". */
	args = args_for(8192, 1);
	args.label = NULL;
	assert_int_equal(vmsim_session_open(fixture.env, &args, &session), VMSIM_OK);
	assert_string_equal(vmsim_session_label(session), "");
	vmsim_session_close(session);
	counted_env_destroy(&fixture);
}

static void idle_handler(void *ctx, struct vmsim_vcpu *vcpu)
{
	(void)ctx;
	(void)vcpu; /* never resumes: the vCPU stays at STARTUP */
}

struct attempt {
	unsigned calls;
	struct vmsim_vcpu *vcpu;
	vmsim_ds_cap ds;
};

static enum vmsim_result create_vcpu(void *ctx, struct vmsim_session *session)
{
	struct attempt *a = ctx;
	struct vmsim_vcpu_args args = { idle_handler, NULL, NULL, NULL };
	a->calls++;
	return vmsim_vcpu_create(session, &args, &a->vcpu);
}

static enum vmsim_result attach_page(void *ctx, struct vmsim_session *session)
{
	struct attempt *a = ctx;
	struct vmsim_range range;
	a->calls++;
	return vmsim_session_attach(session, a->ds, 0, &(struct vmsim_attach_attr){ 0, 4096, false, true }, &range);
}

/* Genode's Vm_connection::retry: +4096 bytes per OUT_OF_RAM, +2 caps per OUT_OF_CAPS, then the call again. */
static void test_retry_upgrades_like_genode(void **state)
{
	(void)state;
	struct counted_env fixture;
	counted_env_new(&fixture, 0, 0);
	struct vmsim_session_args args = args_for(8192, 1); /* exactly the session's own cost (docs/quota.md) */
	struct vmsim_session *session = NULL;
	assert_int_equal(vmsim_session_open(fixture.env, &args, &session), VMSIM_OK);
	struct attempt a = { 0 };
	struct vmsim_retry_stats stats;
	/* a vCPU: 16384 bytes (RAM checked first) = 4 upgrades, then 2 caps = 1 upgrade; 6 attempts */
	assert_int_equal(vmsim_session_retry(session, create_vcpu, &a, 100, &stats), VMSIM_OK);
	assert_int_equal(stats.ram_upgrades, 4);
	assert_int_equal(stats.cap_upgrades, 1);
	assert_int_equal(stats.upgrade_result, VMSIM_OK);
	assert_int_equal(a.calls, 6);
	struct vmsim_quota q;
	vmsim_session_quota(session, &q);
	assert_int_equal(q.ram_limit, 24576);
	assert_int_equal(q.cap_limit, 3);
	/* the first 4 KiB attach at 0: 128 + 3 tables * 4096 = 12416 bytes: 4 upgrades (16384 free after them) */
	struct attempt b = { 0 };
	assert_int_equal(vmsim_ds_alloc(fixture.env, 4096, &b.ds), VMSIM_OK);
	assert_int_equal(vmsim_session_retry(session, attach_page, &b, 100, &stats), VMSIM_OK);
	assert_int_equal(stats.ram_upgrades, 4);
	assert_int_equal(stats.cap_upgrades, 0);
	assert_int_equal(b.calls, 5);
	/* any other result ends it at once: a conflicting attach is not retried */
	vmsim_ds_cap other;
	assert_int_equal(vmsim_ds_alloc(fixture.env, 4096, &other), VMSIM_OK);
	struct attempt c = { .ds = other };
	assert_int_equal(vmsim_session_retry(session, attach_page, &c, 100, &stats), VMSIM_REGION_CONFLICT);
	assert_int_equal(c.calls, 1);
	assert_int_equal(stats.ram_upgrades + stats.cap_upgrades, 0);
	vmsim_vcpu_destroy(a.vcpu);
	vmsim_session_close(session);
	assert_int_equal(vmsim_ds_free(fixture.env, b.ds), VMSIM_OK);
	assert_int_equal(vmsim_ds_free(fixture.env, other), VMSIM_OK);
	counted_env_destroy(&fixture);
}

/* Genode loops without bound; vmsim stops at max_upgrades or at a failed upgrade, and says which. */
static void test_retry_is_bounded(void **state)
{
	(void)state;
	struct counted_env fixture;
	counted_env_new(&fixture, 8192 + 4096, 100); /* the pool covers the session and one upgrade */
	struct vmsim_session_args args = args_for(8192, 1);
	struct vmsim_session *session = NULL;
	assert_int_equal(vmsim_session_open(fixture.env, &args, &session), VMSIM_OK);
	struct attempt a = { 0 };
	struct vmsim_retry_stats stats;
	assert_int_equal(vmsim_session_retry(session, create_vcpu, &a, 0, &stats), VMSIM_OUT_OF_RAM);
	assert_int_equal(a.calls, 1);
	assert_non_null(strstr(fixture.last_log, "retry gave up after 0 upgrades: OUT_OF_RAM"));
	a.calls = 0;
	assert_int_equal(vmsim_session_retry(session, create_vcpu, &a, 100, &stats), VMSIM_OUT_OF_RAM);
	assert_int_equal(stats.ram_upgrades, 1);
	assert_int_equal(stats.upgrade_result, VMSIM_OUT_OF_RAM); /* the env pool had no second 4096 bytes */
	assert_int_equal(a.calls, 2);
	assert_non_null(strstr(fixture.last_log, "retry: upgrade by 4096 bytes failed: OUT_OF_RAM"));
	vmsim_session_close(session);
	counted_env_destroy(&fixture);

	counted_env_new(&fixture, 0, 0);
	assert_int_equal(vmsim_session_open(fixture.env, &args, &session), VMSIM_OK);
	a.calls = 0;
	assert_int_equal(vmsim_session_retry(session, create_vcpu, &a, 3, &stats), VMSIM_OUT_OF_RAM);
	assert_int_equal(stats.ram_upgrades, 3);
	assert_int_equal(a.calls, 4);
	assert_non_null(strstr(fixture.last_log, "retry gave up after 3 upgrades: OUT_OF_RAM"));
	assert_int_equal(vmsim_session_retry(NULL, create_vcpu, &a, 3, &stats), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_retry(session, NULL, &a, 3, NULL), VMSIM_INVALID_ARGUMENT);
	vmsim_session_close(session);
	counted_env_destroy(&fixture);
}

/* priority: the generic root's unsigned long clamped to 65535; base-hw's root ignores it. affinity: as given. */
static void test_priority_and_affinity_recorded(void **state)
{
	(void)state;
	struct counted_env fixture;
	counted_env_new(&fixture, 0, 0);
	struct vmsim_session_args args = args_for(1 << 20, 10);
	struct vmsim_session *session = NULL;
	const struct {
		long given;
		const char *profile;
		uint64_t recorded;
	} cases[] = { { 0, NULL, 0 },         { 7, NULL, 7 },          { 65535, NULL, 65535 }, { 65536, NULL, 65535 },
		      { -1, NULL, 65535 },    { 70000, "nova", 65535 }, { 7, "base-hw", 0 },   { -1, "base-hw", 0 } };
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		args.priority = cases[i].given;
		args.profile = cases[i].profile;
		args.affinity = 0x1234 + i;
		assert_int_equal(vmsim_session_open(fixture.env, &args, &session), VMSIM_OK);
		assert_int_equal(vmsim_session_priority(session), cases[i].recorded);
		assert_int_equal(vmsim_session_affinity(session), 0x1234 + i);
		vmsim_session_close(session);
	}
	assert_int_equal(vmsim_session_priority(NULL), 0);
	assert_int_equal(vmsim_session_affinity(NULL), 0);
	counted_env_destroy(&fixture);
}

/* The profile argument: default vmsim, the three names, anything else refused with a log line. */
static void test_open_profile_argument(void **state)
{
	(void)state;
	struct counted_env fixture;
	counted_env_new(&fixture, 0, 0);
	struct vmsim_session_args args = args_for(1 << 20, 10);
	struct vmsim_session *session = NULL;
	assert_int_equal(vmsim_session_open(fixture.env, &args, &session), VMSIM_OK);
	assert_string_equal(vmsim_session_profile(session)->name, "vmsim");
	vmsim_session_close(session);
	const char *names[] = { "vmsim", "base-hw", "nova" };
	for (unsigned i = 0; i < 3; i++) {
		args.profile = names[i];
		assert_int_equal(vmsim_session_open(fixture.env, &args, &session), VMSIM_OK);
		assert_string_equal(vmsim_session_profile(session)->name, names[i]);
		vmsim_session_close(session);
	}
	args.profile = "sel4";
	expect_open_fails(&fixture, &args, VMSIM_INVALID_ARGUMENT);
	assert_non_null(strstr(fixture.last_log, "no kernel profile named \"sel4\""));
	assert_null(vmsim_session_profile(NULL));
	counted_env_destroy(&fixture);
}

static void test_open_rejects_bad_arguments(void **state)
{
	(void)state;
	struct counted_env fixture;
	counted_env_new(&fixture, 0, 0);
	struct vmsim_session_args args = args_for(1 << 20, 10);
	struct vmsim_session *session;
	assert_int_equal(vmsim_session_open(NULL, &args, &session), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_session_open(fixture.env, &args, NULL), VMSIM_INVALID_ARGUMENT);
	expect_open_fails(&fixture, NULL, VMSIM_INVALID_ARGUMENT);
	args.model = (enum vmsim_model)0;
	expect_open_fails(&fixture, &args, VMSIM_INVALID_ARGUMENT);
	assert_non_null(strstr(fixture.last_log, "model"));
	args.model = (enum vmsim_model)3;
	expect_open_fails(&fixture, &args, VMSIM_INVALID_ARGUMENT);
	args = args_for(1 << 20, 10);
	args.backend = "kvm-on-mars";
	expect_open_fails(&fixture, &args, VMSIM_INVALID_ARGUMENT);
	assert_non_null(strstr(fixture.last_log, "kvm-on-mars"));
	args.backend = NULL;
	expect_open_fails(&fixture, &args, VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vt_backend_count(VT_VM_CREATE), 0);
	counted_env_destroy(&fixture);
}

static void test_open_quota_shortfalls_leak_nothing(void **state)
{
	(void)state;
	struct counted_env fixture;
	counted_env_new(&fixture, 1 << 20, 20);
	struct vmsim_session_args args = args_for((1 << 20) + 1, 10);
	expect_open_fails(&fixture, &args, VMSIM_OUT_OF_RAM);
	args = args_for(1 << 20, 21);
	expect_open_fails(&fixture, &args, VMSIM_OUT_OF_CAPS);
	/* Both short: RAM is reported first. */
	args = args_for(UINT64_MAX, UINT64_MAX);
	expect_open_fails(&fixture, &args, VMSIM_OUT_OF_RAM);
	args = args_for(8191, 10);
	expect_open_fails(&fixture, &args, VMSIM_INSUFFICIENT_RAM);
	args = args_for(0, 0);
	expect_open_fails(&fixture, &args, VMSIM_INSUFFICIENT_RAM);
	args = args_for(8192, 0);
	expect_open_fails(&fixture, &args, VMSIM_INSUFFICIENT_CAPS);
	assert_int_equal(vt_backend_count(VT_VM_CREATE), 0);

	/* A pool held by one session is not there for the next. */
	struct vmsim_session *first = NULL;
	args = args_for(1 << 19, 10);
	assert_int_equal(vmsim_session_open(fixture.env, &args, &first), VMSIM_OK);
	args = args_for((1 << 19) + 4096, 10);
	expect_open_fails(&fixture, &args, VMSIM_OUT_OF_RAM);
	args = args_for(1 << 19, 11);
	expect_open_fails(&fixture, &args, VMSIM_OUT_OF_CAPS);
	vmsim_session_close(first);
	counted_env_destroy(&fixture);
}

static void test_open_vm_create_failure_leaks_nothing(void **state)
{
	(void)state;
	struct counted_env fixture;
	counted_env_new(&fixture, 0, 0);
	struct vmsim_session_args args = args_for(1 << 20, 10);
	vt_backend_fail_next(VT_VM_CREATE, VMSIM_BACKEND_ERROR);
	expect_open_fails(&fixture, &args, VMSIM_BACKEND_ERROR);
	assert_non_null(strstr(fixture.last_log, "vt"));
	vt_backend_fail_next(VT_VM_CREATE, VMSIM_OUT_OF_RAM);
	expect_open_fails(&fixture, &args, VMSIM_OUT_OF_RAM);
	vt_backend_fail_next(VT_VM_CREATE, VMSIM_UNSUPPORTED);
	expect_open_fails(&fixture, &args, VMSIM_UNSUPPORTED);
	/* OK without a VM, or a result outside the vocabulary: the backend is broken. */
	vt_backend_fail_next(VT_VM_CREATE, VMSIM_OK);
	expect_open_fails(&fixture, &args, VMSIM_BACKEND_ERROR);
	vt_backend_fail_next(VT_VM_CREATE, (enum vmsim_result)77);
	expect_open_fails(&fixture, &args, VMSIM_BACKEND_ERROR);
	assert_int_equal(vt_backend_count(VT_VM_CREATE), 5);
	assert_int_equal(vt_backend_count(VT_VM_DESTROY), 0);
	/* And the next open works. */
	struct vmsim_session *session = NULL;
	assert_int_equal(vmsim_session_open(fixture.env, &args, &session), VMSIM_OK);
	vmsim_session_close(session);
	counted_env_destroy(&fixture);
}

static void test_upgrade(void **state)
{
	(void)state;
	struct counted_env fixture;
	counted_env_new(&fixture, 1 << 20, 20);
	struct vmsim_session *session = vt_session_new(fixture.env, VMSIM_MODEL_SVM, 1 << 19, 10);
	assert_int_equal(vmsim_session_upgrade(session, 4096, 2), VMSIM_OK);
	struct vmsim_quota quota;
	vmsim_session_quota(session, &quota);
	assert_int_equal(quota.ram_limit, (1 << 19) + 4096);
	assert_int_equal(quota.cap_limit, 12);
	assert_int_equal(quota.ram_used, 8192);
	vmsim_env_quota(fixture.env, &quota);
	assert_int_equal(quota.ram_used, (1 << 19) + 4096);
	assert_int_equal(quota.cap_used, 12);

	struct vmsim_quota env_before, session_before, env_after, session_after;
	vmsim_env_quota(fixture.env, &env_before);
	vmsim_session_quota(session, &session_before);
	assert_int_equal(vmsim_session_upgrade(session, 1 << 20, 0), VMSIM_OUT_OF_RAM);
	assert_int_equal(vmsim_session_upgrade(session, 0, 9), VMSIM_OUT_OF_CAPS);
	assert_int_equal(vmsim_session_upgrade(session, UINT64_MAX, UINT64_MAX), VMSIM_OUT_OF_RAM);
	vmsim_env_quota(fixture.env, &env_after);
	vmsim_session_quota(session, &session_after);
	assert_memory_equal(&env_before, &env_after, sizeof(env_before));
	assert_memory_equal(&session_before, &session_after, sizeof(session_before));
	assert_int_equal(vmsim_session_upgrade(NULL, 1, 1), VMSIM_INVALID_ARGUMENT);

	/* Close returns the upgraded donation too. */
	vmsim_session_close(session);
	vmsim_env_quota(fixture.env, &quota);
	assert_int_equal(quota.ram_used, 0);
	assert_int_equal(quota.cap_used, 0);
	counted_env_destroy(&fixture);
}

static void test_close_detaches_everything(void **state)
{
	(void)state;
	struct counted_env fixture;
	counted_env_new(&fixture, 0, 0);
	struct vmsim_quota baseline;
	vmsim_env_quota(fixture.env, &baseline);
	struct vmsim_session *session = vt_session_new(fixture.env, VMSIM_MODEL_SVM, 1 << 20, 10);
	vmsim_ds_cap a, b;
	assert_int_equal(vmsim_ds_alloc(fixture.env, 8192, &a), VMSIM_OK);
	assert_int_equal(vmsim_ds_alloc(fixture.env, 8192, &b), VMSIM_OK);
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach(session, a, 0, &(struct vmsim_attach_attr){0}, &range), VMSIM_OK);
	assert_int_equal(vmsim_session_attach(session, b, 1ull << 32, &(struct vmsim_attach_attr){0}, &range), VMSIM_OK);
	assert_int_equal(vmsim_session_attach(session, a, 1ull << 40, &(struct vmsim_attach_attr){0}, &range), VMSIM_OK);
	assert_int_equal(vmsim_ds_free(fixture.env, b), VMSIM_OK); /* leaves a reserved region */
	assert_int_equal(vt_backend_count(VT_UNMAP), 1);
	vmsim_session_close(session);
	assert_int_equal(vt_backend_count(VT_UNMAP), 3);
	assert_int_equal(vt_backend_count(VT_VM_DESTROY), 1);
	/* Unmaps come before the VM goes away. */
	const struct vt_call *calls;
	size_t n = vt_backend_calls(&calls);
	assert_int_equal(calls[n - 1].op, VT_VM_DESTROY);
	assert_int_equal(vmsim_ds_free(fixture.env, a), VMSIM_OK);
	struct vmsim_quota after;
	vmsim_env_quota(fixture.env, &after);
	assert_memory_equal(&baseline, &after, sizeof(baseline));
	counted_env_destroy(&fixture);
}

/* What a session causes goes to its own sink where it has one (a server's per-client log budget rests on it). */
static void test_session_sink_gets_what_the_session_caused(void **state)
{
	(void)state;
	struct counted_env fixture;
	counted_env_new(&fixture, 1ull << 30, 1000);
	char own[256] = "";
	struct vmsim_session_args args = args_for(VMSIM_SESSION_DEFAULT_RAM, VMSIM_SESSION_DEFAULT_CAPS);
	args.label = "mine";
	args.log = keep_text;
	args.log_ctx = own;
	struct vmsim_session *session = NULL;
	vt_backend_fail_next(VT_VM_CREATE, VMSIM_UNSUPPORTED);
	assert_int_equal(vmsim_session_open(fixture.env, &args, &session), VMSIM_UNSUPPORTED);
	assert_string_equal(own, "session \"mine\": backend vt could not create a VM: UNSUPPORTED");
	assert_string_equal(fixture.last_log, ""); /* the env's sink heard nothing */
	args.log = NULL; /* without one: the env's sink, as before */
	vt_backend_fail_next(VT_VM_CREATE, VMSIM_UNSUPPORTED);
	assert_int_equal(vmsim_session_open(fixture.env, &args, &session), VMSIM_UNSUPPORTED);
	assert_string_equal(fixture.last_log, "session \"mine\": backend vt could not create a VM: UNSUPPORTED");
	counted_env_destroy(&fixture);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_charges_donation_and_cost),
		cmocka_unit_test(test_session_sink_gets_what_the_session_caused),
		cmocka_unit_test(test_open_rejects_bad_arguments),
		cmocka_unit_test(test_open_profile_argument),
		cmocka_unit_test(test_retry_upgrades_like_genode),
		cmocka_unit_test(test_retry_is_bounded),
		cmocka_unit_test(test_priority_and_affinity_recorded),
		cmocka_unit_test(test_open_quota_shortfalls_leak_nothing),
		cmocka_unit_test(test_open_vm_create_failure_leaks_nothing),
		cmocka_unit_test(test_upgrade),
		cmocka_unit_test(test_close_detaches_everything),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
