/* runner_test.c - the conformance runner's own logic: filters, suite shape, reports that agree with results. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vmsim/plugin.h>

#include "runner/vc_runner.h"

static void test_filter_matches_glob_and_substring(void **state)
{
	(void)state;
	const struct vc_test t = { "attach", "rejects_stale_cap", 0, NULL, NULL };
	assert_true(vc_filter_match(NULL, &t));
	assert_true(vc_filter_match("", &t));
	assert_true(vc_filter_match("attach/*", &t));
	assert_true(vc_filter_match("*stale*", &t));
	assert_true(vc_filter_match("stale", &t));
	assert_true(vc_filter_match("attach/rejects_stale_cap", &t));
	assert_false(vc_filter_match("detach/*", &t));
	assert_false(vc_filter_match("fresh", &t));
}

/* Every test has a section, a unique name in it, and a function; the canary is not in the suite. */
static void test_suite_is_well_formed(void **state)
{
	(void)state;
	const struct vc_test *suite, *canary;
	size_t n = vc_suite(&suite), nc = vc_canary(&canary);
	assert_true(n >= 150);
	assert_true(nc >= 1);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(suite[i].section);
		assert_non_null(suite[i].name);
		assert_non_null(suite[i].fn);
		assert_string_not_equal(suite[i].section, "canary");
		for (size_t j = i + 1; j < n; j++)
			if (!strcmp(suite[i].section, suite[j].section) && !strcmp(suite[i].name, suite[j].name))
				fail_msg("duplicate test %s/%s", suite[i].section, suite[i].name);
	}
	for (size_t i = 0; i < nc; i++)
		assert_string_equal(canary[i].section, "canary");
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* A real run on the null backend: skips carry reasons, JUnit and JSON agree with the exit status. */
static void test_null_run_reports_agree(void **state)
{
	(void)state;
	char junit[] = "/tmp/vc_runner_junit_XXXXXX", json[] = "/tmp/vc_runner_json_XXXXXX";
	int a = mkstemp(junit), b = mkstemp(json);
	assert_true(a >= 0 && b >= 0);
	FILE *sink = tmpfile();
	struct vc_run_config cfg = { "null", NULL, "svm", "exits/*", false, false, false, junit, json, 60, sink, sink, NULL };
	assert_int_equal(vc_run(&cfg), 0);
	const char *x = slurp(junit);
	size_t cases = count_of(x, "<testcase "), skipped = count_of(x, "<skipped message=\"needs ");
	assert_true(cases > 0);
	assert_true(skipped > 0);            /* null runs no guest code: those skip, with a reason */
	assert_int_equal(count_of(x, "<failure"), 0);
	assert_true(cases > skipped);        /* the invalid-state checks need no CPU and pass */
	const char *j = slurp(json);
	assert_int_equal(count_of(j, "\"status\": \"SKIP\""), skipped);
	cfg.canary = true;
	cfg.filter = NULL;
	assert_int_equal(vc_run(&cfg), 1);   /* the canary fails, so the run does */
	fclose(sink);
	close(a);
	close(b);
	unlink(junit);
	unlink(json);
}

/* The plugin loader: the skeleton loads (twice, into one env), bad objects are refused and logged. */
static void test_load_backend_plugin(void **state)
{
	(void)state;
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(NULL, &env), VMSIM_OK);
	const struct vmsim_backend_ops *ops = NULL, *again = NULL;
	assert_int_equal(vmsim_env_load_backend(env, VMSIM_SKELETON_PATH, &ops), VMSIM_OK);
	assert_non_null(ops);
	assert_string_equal(ops->name, "skeleton");
	assert_int_equal(ops->abi_version, VMSIM_BACKEND_ABI_VERSION);
	assert_ptr_equal(vmsim_env_backend(env, "skeleton"), ops);
	assert_int_equal(vmsim_env_load_backend(env, VMSIM_SKELETON_PATH, &again), VMSIM_OK);
	assert_ptr_equal(again, ops);
	assert_int_equal(vmsim_env_load_backend(env, "/nonexistent/plugin.so", &again), VMSIM_INVALID_ARGUMENT);
	assert_null(again);
	/* a real shared object without the entry point */
	assert_int_equal(vmsim_env_load_backend(env, "libm.so.6", NULL), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_env_load_backend(env, NULL, NULL), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_env_load_backend(NULL, VMSIM_SKELETON_PATH, NULL), VMSIM_INVALID_ARGUMENT);
	/* the loaded table serves a session like a built-in one */
	struct vmsim_session_args args = { .ram_quota = 1 << 20, .cap_quota = 10, .label = "plugin", .backend = "skeleton",
	                                    .model = VMSIM_MODEL_SVM };
	struct vmsim_session *s = NULL;
	assert_int_equal(vmsim_session_open(env, &args, &s), VMSIM_OK);
	assert_string_equal(vmsim_session_backend(s), "skeleton");
	vmsim_session_close(s);
	struct vmsim_env *other = NULL;
	assert_int_equal(vmsim_env_create(NULL, &other), VMSIM_OK);
	assert_int_equal(vmsim_env_load_backend(other, VMSIM_SKELETON_PATH, &again), VMSIM_OK);
	assert_ptr_equal(again, ops); /* one object, one table, in every env */
	vmsim_env_destroy(other);
	vmsim_env_destroy(env);
}

struct kstate_rec {
	pthread_mutex_t lock;
	unsigned calls, paused;
};

static bool kstate_on_state(void *ctx, struct vmsim_vcpu_state *st)
{
	struct kstate_rec *r = ctx;
	if (st->exit_reason == VMSIM_EXIT_CODE_STARTUP) {
		vmsim_charge(st, ip, 0x2000);
		return true;
	}
	pthread_mutex_lock(&r->lock);
	r->paused += st->exit_reason == VMSIM_EXIT_CODE_PAUSED;
	pthread_mutex_unlock(&r->lock);
	return true; /* run on: the next recall may be tried */
}

static void kstate_handler(void *ctx, struct vmsim_vcpu *vcpu)
{
	struct kstate_rec *r = ctx;
	enum vmsim_result res = vmsim_vcpu_with_state(vcpu, kstate_on_state, ctx);
	assert_true(res == VMSIM_OK || res == VMSIM_DENIED);
	pthread_mutex_lock(&r->lock);
	r->calls++;
	pthread_mutex_unlock(&r->lock);
}

struct kstate_wait {
	struct kstate_rec *r;
	unsigned calls;
};

static bool kstate_calls(void *ctx)
{
	struct kstate_wait *w = ctx;
	pthread_mutex_lock(&w->r->lock);
	bool done = w->r->calls >= w->calls;
	pthread_mutex_unlock(&w->r->lock);
	return done;
}

/* Kernel-state mode on the skeleton: the page it writes for a recall passes core's checks. */
static void test_skeleton_kernel_state_checked(void **state)
{
	(void)state;
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(NULL, &env), VMSIM_OK);
	assert_int_equal(vmsim_env_load_backend(env, VMSIM_SKELETON_PATH, NULL), VMSIM_OK);
	struct vmsim_session_args args = { .ram_quota = 1 << 20, .cap_quota = 10, .label = "kstate",
		                           .backend = "skeleton", .model = VMSIM_MODEL_SVM };
	struct vmsim_session *s = NULL;
	assert_int_equal(vmsim_session_open(env, &args, &s), VMSIM_OK);
	struct kstate_rec r = { .calls = 0 };
	pthread_mutex_init(&r.lock, NULL);
	struct vmsim_vcpu_args va = { kstate_handler, &r, NULL, NULL };
	struct vmsim_vcpu *vcpu = NULL;
	assert_int_equal(vmsim_vcpu_create(s, &va, &vcpu), VMSIM_OK);
	struct kstate_wait w = { &r, 1 };
	vt_wait_until(kstate_calls, &w, "STARTUP");
	/* a recall that meets the vCPU before it runs is core's own PAUSED (no page): try again */
	struct vmsim_kernel_state_stats stats = { 0 };
	for (unsigned tries = 0; stats.checked == 0; tries++) {
		assert_true(tries < 1000);
		assert_int_equal(vmsim_vcpu_pause(vcpu), VMSIM_OK);
		w.calls++;
		vt_wait_until(kstate_calls, &w, "the PAUSED exit");
		vmsim_vcpu_kernel_state_stats(vcpu, &stats);
	}
	assert_int_equal(stats.checked, 1);
	assert_int_equal(stats.mismatches, 0);
	assert_string_equal(stats.last, "");
	vmsim_vcpu_destroy(vcpu);
	vmsim_session_close(s);
	vmsim_env_destroy(env);
	pthread_mutex_destroy(&r.lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_matches_glob_and_substring),
		cmocka_unit_test(test_suite_is_well_formed),
		cmocka_unit_test(test_null_run_reports_agree),
		cmocka_unit_test(test_load_backend_plugin),
		cmocka_unit_test(test_skeleton_kernel_state_checked),
	};
	return cmocka_run_group_tests_name("conformance_runner", tests, NULL, NULL);
}
