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
#include "json_read.h"

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
	size_t at = 0;
	struct bench_json *root = vmsim_bench_json_parse(text, &at);
	assert_non_null(root);
	const struct bench_json *prov = vmsim_bench_json_get(root, "provenance");
	assert_string_equal(vmsim_bench_json_get(prov, "cpu_model")->string, "CPU \"quoted\" \\ name");
	const struct bench_json *recs = vmsim_bench_json_get(root, "records");
	assert_int_equal(recs->count, 2);
	assert_string_equal(vmsim_bench_json_get(&recs->items[0], "case")->string, "cpuid");
	assert_true(vmsim_bench_json_get(&recs->items[0], "ratio")->number == 2);
	assert_int_equal(vmsim_bench_json_get(&recs->items[1], "p50_ns")->type, BENCH_JSON_NULL);
	assert_string_equal(vmsim_bench_json_get(&recs->items[1], "reason")->string, "no /dev/kvm");
	vmsim_bench_json_free(root);
	free(root);
	free(text);

	assert_null(vmsim_bench_json_parse("{\"records\": [1, 2", &at));
	assert_true(at > 0);
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
	assert_true(vmsim_bench_compare(&r, path, out, stderr));
	fclose(out);
	const char *io = strstr(text, "io_out"), *cpuid = strstr(text, "cpuid");
	assert_non_null(io);
	assert_non_null(cpuid);
	assert_true(strstr(io, "REGRESSION?") != NULL && strstr(io, "REGRESSION?") < cpuid);
	assert_null(strstr(cpuid, "REGRESSION?"));
	assert_non_null(strstr(text, "old_case"));
	assert_non_null(strstr(text, "1 case(s)"));
	free(text);
	assert_false(vmsim_bench_compare(&r, "/nonexistent/old.json", stdout, fopen("/dev/null", "w")));
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
		cmocka_unit_test(test_compare_flags_ratio_growth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
