/* bench/tests/bench_stats_test.c - the bench library's arithmetic and documents: quantiles, batches, JSON round trip. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <cmocka.h>

#include "bench.h"
#include "bench_internal.h"
#include <jansson.h>

static void test_quantile_nearest_rank(void **unused)
{
	(void)unused;
	struct bench_samples s = { 0 };
	assert_true(isnan(vmsim_bench_quantile(&s, 0.5)));
	for (int i = 100; i >= 1; i--)
		assert_true(vmsim_bench_sample_add(&s, i));
	assert_true(vmsim_bench_quantile(&s, 0.50) == 50);
	assert_true(vmsim_bench_quantile(&s, 0.99) == 99);
	assert_true(vmsim_bench_quantile(&s, 1.0) == 100);
	assert_true(vmsim_bench_quantile(&s, 0.0) == 1);
	vmsim_bench_samples_free(&s);
	assert_null(s.v);
}

static void test_batch_one_sample_per_batch(void **unused)
{
	(void)unused;
	struct bench_samples s = { 0 };
	struct bench_batcher b;
	struct bench_limits lim = { 3, ~0ull, 4 };
	vmsim_bench_batch_start(&b, &lim, &s);
	int ticks = 0;
	while (!vmsim_bench_batch_tick(&b))
		ticks++;
	assert_int_equal(ticks + 1, 12); /* three samples of four exits */
	assert_int_equal(s.n, 3);
	assert_int_equal(b.exits, 12);
	for (size_t i = 0; i < s.n; i++)
		assert_true(s.v[i] >= 0);
	vmsim_bench_samples_free(&s);
}

static void test_record_ratio_and_missing_baseline(void **unused)
{
	(void)unused;
	struct bench_report r = { 0 };
	struct bench_record *rec = vmsim_bench_report_add(&r, "unicorn", "svm", "io_out", "exit");
	assert_non_null(rec);
	struct bench_samples s = { 0 }, base = { 0 };
	for (int i = 0; i < 10; i++) {
		vmsim_bench_sample_add(&s, 300);
		vmsim_bench_sample_add(&base, 100);
	}
	vmsim_bench_record_fill(rec, &s, &base);
	assert_true(rec->ratio == 3.0);
	rec = vmsim_bench_report_add(&r, "null", "svm", "attach_10", "attach");
	vmsim_bench_record_fill(rec, &s, NULL);
	assert_true(isnan(rec->ratio) && isnan(rec->baseline_p50_ns));
	assert_true(rec->p50_ns == 300);
	vmsim_bench_samples_free(&s);
	vmsim_bench_samples_free(&base);
	vmsim_bench_report_free(&r);
}

/* What write_json produces, the reader gives back: records, nulls for missing values, skip reasons. */
static void test_json_round_trip(void **unused)
{
	(void)unused;
	struct bench_report r = { 0 };
	snprintf(r.prov.cpu_model, sizeof r.prov.cpu_model, "CPU \"quoted\" \\ name");
	struct bench_record *a = vmsim_bench_report_add(&r, "unicorn", "vmx", "cpuid", "exit");
	a->p50_ns = 250, a->p99_ns = 900, a->baseline_p50_ns = 125, a->ratio = 2, a->iterations = 64;
	struct bench_record *b = vmsim_bench_report_add(&r, "kvm", "svm", "io_out", "exit");
	snprintf(b->skip, sizeof b->skip, "no /dev/kvm");
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	assert_true(vmsim_bench_write_json(&r, f));
	fclose(f);
	json_error_t error;
	json_t *root = json_loads(text, 0, &error);
	assert_non_null(root);
	json_t *prov = json_object_get(root, "provenance");
	assert_string_equal(json_string_value(json_object_get(prov, "cpu_model")), "CPU \"quoted\" \\ name");
	json_t *recs = json_object_get(root, "records");
	assert_int_equal(json_array_size(recs), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 0), "case")), "cpuid");
	assert_true(json_number_value(json_object_get(json_array_get(recs, 0), "ratio")) == 2);
	assert_true(json_is_null(json_object_get(json_array_get(recs, 1), "p50_ns")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 1), "reason")), "no /dev/kvm");
	json_decref(root);
	free(text);
	vmsim_bench_report_free(&r);
}

/* A row that measured nothing (no samples; or filled by hand without a p50) is written skipped, with a reason. */
static void test_unmeasured_row_is_skipped_with_a_reason(void **unused)
{
	(void)unused;
	struct bench_report r = { 0 };
	struct bench_samples none = { 0 };
	struct bench_record *a = vmsim_bench_report_add(&r, "kvm", "svm", "io_out", "exit");
	vmsim_bench_record_fill(a, &none, NULL);
	assert_string_equal(a->skip, "failed: the run ended without a single sample");
	struct bench_record *b = vmsim_bench_report_add(&r, "kvm", "vmx", "io_in", "exit");
	b->iterations = 5; /* neither a p50 nor a skip reason */
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	assert_true(vmsim_bench_write_json(&r, f));
	fclose(f);
	json_error_t error;
	json_t *root = json_loads(text, 0, &error);
	assert_non_null(root);
	json_t *recs = json_object_get(root, "records");
	assert_int_equal(json_array_size(recs), 2);
	for (size_t i = 0; i < 2; i++) {
		assert_true(json_is_null(json_object_get(json_array_get(recs, i), "p50_ns")));
		assert_true(json_is_true(json_object_get(json_array_get(recs, i), "skipped")));
	}
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 0), "reason")),
	                    "failed: the run ended without a single sample");
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 1), "reason")),
	                    "failed: no p50 was measured and no reason was given");
	json_decref(root);
	free(text);
	vmsim_bench_report_free(&r);
}

/* --compare flags a case whose ratio grew by more than 20 %, and not one that improved. */
static void test_compare_flags_ratio_growth(void **unused)
{
	(void)unused;
	char path[] = "/tmp/vmsim-bench-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *old = fdopen(fd, "w");
	fputs("{\"provenance\": {\"git_revision\": \"abc\", \"date\": \"d\"}, \"records\": ["
	      "{\"backend\": \"unicorn\", \"model\": \"svm\", \"case\": \"io_out\", \"p50_ns\": 100, \"ratio\": 1.5},"
	      "{\"backend\": \"unicorn\", \"model\": \"svm\", \"case\": \"cpuid\", \"p50_ns\": 100, \"ratio\": 3.0},"
	      "{\"backend\": \"unicorn\", \"model\": \"svm\", \"case\": \"old_case\", \"p50_ns\": 1, \"ratio\": 1}]}",
	      old);
	fclose(old);
	struct bench_report r = { 0 };
	struct bench_record *a = vmsim_bench_report_add(&r, "unicorn", "svm", "io_out", "exit");
	a->p50_ns = 200, a->ratio = 2.0;
	struct bench_record *b = vmsim_bench_report_add(&r, "unicorn", "svm", "cpuid", "exit");
	b->p50_ns = 50, b->ratio = 2.0;
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	struct bench_compare_old *loaded = vmsim_bench_compare_load(path, stderr);
	assert_non_null(loaded);
	vmsim_bench_compare(&r, loaded, out);
	vmsim_bench_compare_free(loaded);
	fclose(out);
	const char *io = strstr(text, "io_out"), *cpuid = strstr(text, "cpuid");
	assert_non_null(io);
	assert_non_null(cpuid);
	assert_true(strstr(io, "REGRESSION?") != NULL && strstr(io, "REGRESSION?") < cpuid);
	assert_null(strstr(cpuid, "REGRESSION?"));
	assert_non_null(strstr(text, "old_case"));
	assert_non_null(strstr(text, "1 case(s)"));
	free(text);
	FILE *quiet = fopen("/dev/null", "w");
	assert_null(vmsim_bench_compare_load("/nonexistent/old.json", quiet));
	fclose(quiet);
	unlink(path);
	vmsim_bench_report_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantile_nearest_rank),
		cmocka_unit_test(test_batch_one_sample_per_batch),
		cmocka_unit_test(test_record_ratio_and_missing_baseline),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_unmeasured_row_is_skipped_with_a_reason),
		cmocka_unit_test(test_compare_flags_ratio_growth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
