/* bench/tests/bench_kvm_lane_test.c - the KVM rows of `vmsim bench --quick`, run inside the KVM lane: complete, never timed. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bench_internal.h"

static const char *const vt_models[] = { "svm", "vmx" };

/* argv "full": the default limits instead of --quick's (the docs' measurement run; CTest runs quick). */
static bool vt_full;

/* The capability each case needs (exit_cases.c asks the backend the same). */
static uint64_t vt_case_cap(enum bench_case c)
{
	switch (c) {
	case BENCH_MMIO_WRITE:
	case BENCH_MMIO_READ:
		return VMSIM_CAP_EXIT_NPF | VMSIM_CAP_EXIT_MMIO_DECODE;
	case BENCH_CPUID:
		return VMSIM_CAP_EXIT_CPUID;
	case BENCH_HLT:
		return VMSIM_CAP_EXIT_HLT;
	case BENCH_PAUSE:
		return VMSIM_CAP_STOP;
	default:
		return VMSIM_CAP_EXIT_IO;
	}
}

static const struct bench_record *vt_find(const struct bench_report *r, const char *model, const char *name,
                                          unsigned *count)
{
	const struct bench_record *found = NULL;
	*count = 0;
	for (size_t i = 0; i < r->count; i++) {
		const struct bench_record *rec = &r->records[i];
		if (!strcmp(rec->backend, "kvm") && !strcmp(rec->model, model) && !strcmp(rec->name, name)) {
			found = rec;
			++*count;
		}
	}
	return found;
}

/* Inside the lane /dev/kvm exists and the kvm backend is built in: a skip for that reason is a broken lane. */
static void kvm_is_usable_here(void **state)
{
	(void)state;
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(NULL, &env), VMSIM_OK);
	assert_int_equal(vmsim_register_builtin_backends(env), VMSIM_OK);
	const char *why = vmsim_bench_kvm_unavailable(env);
	if (why)
		fail_msg("KVM rows cannot run: %s", why);
	vmsim_env_destroy(env);
}

/* The raw baseline alone delivers every exit it claims, with as many samples as the limits ask. */
static void raw_baseline_delivers_each_exit(void **state)
{
	(void)state;
	struct bench_options opt = { .quick = true };
	for (unsigned ci = 0; ci < BENCH_CASE_COUNT; ci++) {
		struct bench_limits lim;
		struct bench_samples s = { 0 };
		char why[160] = "";
		vmsim_bench_limits(&opt, (enum bench_case)ci, &lim);
		bool ok = vmsim_bench_raw_kvm_case((enum bench_case)ci, &lim, &s, why, sizeof why);
		if (ci == BENCH_CPUID) {
			assert_false(ok);
			assert_non_null(strstr(why, "CPUID"));
		} else {
			if (!ok)
				fail_msg("raw %s: %s", vmsim_bench_guest((enum bench_case)ci)->name, why);
			assert_true(s.n > 0);
			for (size_t i = 0; i < s.n; i++)
				assert_true(isfinite(s.v[i]) && s.v[i] > 0);
		}
		vmsim_bench_samples_free(&s);
	}
}

/* `vmsim bench --backend kvm --quick`'s exit cases: every model x case, measured with a baseline or skipped with why. */
static void every_kvm_row_is_measured_or_skipped_with_a_reason(void **state)
{
	(void)state;
	struct bench_options opt = { .quick = !vt_full, .backend = "kvm", .progress = stdout };
	struct bench_report report = { .records = NULL };
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(NULL, &env), VMSIM_OK);
	assert_int_equal(vmsim_register_builtin_backends(env), VMSIM_OK);
	const struct vmsim_backend_ops *ops = vmsim_env_backend(env, "kvm");
	assert_non_null(ops);

	vmsim_bench_provenance(&report.prov);
	assert_int_equal(vmsim_bench_exit_cases(&opt, "kvm", &report), VMSIM_OK);
	printf("\n");
	vmsim_bench_print_table(&report, stdout);

	for (unsigned m = 0; m < 2; m++) {
		for (unsigned ci = 0; ci < BENCH_CASE_COUNT; ci++) {
			const char *name = vmsim_bench_guest((enum bench_case)ci)->name;
			unsigned count;
			const struct bench_record *rec = vt_find(&report, vt_models[m], name, &count);
			if (count != 1)
				fail_msg("kvm %s %s: %u records", vt_models[m], name, count);
			bool delivered = (ops->caps & vt_case_cap((enum bench_case)ci)) == vt_case_cap((enum bench_case)ci);
			if (!delivered) {
				if (!rec->skip[0])
					fail_msg("kvm %s %s: measured without the capability", vt_models[m], name);
				continue;
			}
			if (rec->skip[0])
				fail_msg("kvm %s %s skipped: %s", vt_models[m], name, rec->skip);
			assert_true(isfinite(rec->p50_ns) && rec->p50_ns > 0);
			assert_true(rec->p99_ns >= rec->p50_ns);
			assert_true(rec->iterations > 0);
			if (!isfinite(rec->baseline_p50_ns))
				fail_msg("kvm %s %s: no baseline: %s", vt_models[m], name, rec->baseline);
			assert_true(rec->baseline_p50_ns > 0);
			assert_true(fabs(rec->ratio - rec->p50_ns / rec->baseline_p50_ns) <= 1e-9 * rec->ratio);
			assert_non_null(strstr(rec->baseline, "KVM"));
		}
	}
	FILE *json = tmpfile();
	assert_non_null(json);
	assert_true(vmsim_bench_write_json(&report, json));
	fclose(json);
	vmsim_bench_report_free(&report);
	vmsim_env_destroy(env);
}

int main(int argc, char **argv)
{
	vt_full = argc > 1 && !strcmp(argv[1], "full");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kvm_is_usable_here),
		cmocka_unit_test(raw_baseline_delivers_each_exit),
		cmocka_unit_test(every_kvm_row_is_measured_or_skipped_with_a_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
