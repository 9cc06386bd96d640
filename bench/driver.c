/* bench/driver.c - `vmsim bench` end to end: every backend's exit cases, then its scaling curves. */
#include <string.h>

#include "bench_internal.h"

/* Every backend vmsim knows of, measured or reported as skipped with the reason. */
static const char *const backends[] = { "unicorn", "kvm", "null" };

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
