/* bench/driver.c - `vmsim bench` end to end: every backend's exit cases, then its scaling curves. */
#include <string.h>

#include "bench_internal.h"

/* Every backend vmsim knows of, measured or reported as skipped with the reason. */
static const char *const backends[] = { "unicorn", "kvm", "null" };

/* "a, b, c" into buf: the names a bad --backend or --case is told about. */
static void list_names(char *buf, size_t n, const char *const *names, size_t count)
{
	size_t used = 0;
	buf[0] = 0;
	for (size_t i = 0; i < count && used < n; i++)
		used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "", names[i]);
}

const char *vmsim_bench_check_options(const struct bench_options *opt, char *why, size_t n)
{
	char names[1024];
	bool known = !opt->backend;
	for (size_t i = 0; !known && i < sizeof backends / sizeof backends[0]; i++)
		known = !strcmp(opt->backend, backends[i]);
	if (!known) {
		list_names(names, sizeof names, backends, sizeof backends / sizeof backends[0]);
		snprintf(why, n, "no backend '%s' (one of: %s)", opt->backend, names);
		return why;
	}
	/* the exit cases and the raw-only rows (exit_cases.c) */
	enum { RAW_ROWS_MAX = 8 };
	const char *cases[BENCH_CASE_COUNT + RAW_ROWS_MAX];
	size_t count = 0;
	for (unsigned c = 0; c < BENCH_CASE_COUNT; c++)
		cases[count++] = vmsim_bench_guest((enum bench_case)c)->name;
	for (unsigned i = 0; vmsim_bench_raw_row_name(i) && count < sizeof cases / sizeof cases[0]; i++)
		cases[count++] = vmsim_bench_raw_row_name(i);
	known = !opt->only_case;
	for (size_t i = 0; !known && i < count; i++)
		known = !strcmp(opt->only_case, cases[i]);
	if (!known) {
		list_names(names, sizeof names, cases, count);
		snprintf(why, n, "no case '%s' (one of: %s)", opt->only_case, names);
		return why;
	}
	return NULL;
}

enum vmsim_result vmsim_bench_run(const struct bench_options *opt, struct bench_report *report)
{
	uint64_t t0 = vmsim_bench_now_ns();
	vmsim_bench_provenance(&report->prov);
	for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
		if (opt->backend && strcmp(opt->backend, backends[i]))
			continue;
		if (opt->progress)
			fprintf(opt->progress, "backend %s: exit cases\n", backends[i]);
		enum vmsim_result r = vmsim_bench_exit_cases(opt, backends[i], report);
		if (r != VMSIM_OK)
			return r;
		if (opt->only_case)
			continue;
		if (opt->progress)
			fprintf(opt->progress, "backend %s: scaling\n", backends[i]);
		r = vmsim_bench_scaling(opt, backends[i], report);
		if (r != VMSIM_OK)
			return r;
	}
	report->wall_seconds = (double)(vmsim_bench_now_ns() - t0) / 1e9;
	return VMSIM_OK;
}
