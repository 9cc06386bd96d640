/* tools/vmsim/bench.c - `vmsim bench`: exit-path round trips against the raw backend, scaling curves, JSON, plot. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "commands.h"

int cmd_bench(int argc, char **argv, const struct cli_io *io)
{
	bool quick = false, quiet = false;
	const char *json = NULL, *plot = NULL, *compare = NULL, *backend = NULL, *only_case = NULL;
	const struct cli_opt opts[] = {
		{ "quick", 'q', CLI_OPT_FLAG, &quick, NULL, "smoke mode: few samples, small scaling ranges (seconds)" },
		{ "json", 'j', CLI_OPT_STRING, &json, "FILE", "write every record with provenance as JSON" },
		{ "plot", 'p', CLI_OPT_STRING, &plot, "FILE.png", "draw cases and scaling curves with gnuplot" },
		{ "compare", 'c', CLI_OPT_STRING, &compare, "OLD.json", "print the change per case against OLD.json" },
		{ "backend", 'b', CLI_OPT_STRING, &backend, "NAME", "only this backend (unicorn, kvm, null)" },
		{ "case", 0, CLI_OPT_STRING, &only_case, "NAME", "only this exit case, no scaling (for profiling)" },
		{ "quiet", 0, CLI_OPT_FLAG, &quiet, NULL, "no progress lines on stderr" },
	};
	const struct cli_spec spec = {
		.command = "bench",
		.description = "Measure exit round trips through vmsim per backend, model and exit kind against the "
		               "raw backend in the same run, and how costs scale with vCPUs and attachments.",
		.opts = opts,
		.opt_count = sizeof opts / sizeof opts[0],
	};
	int first;
	enum cli_parse_result pr = cli_parse(&spec, argc, argv, io, &first);
	if (pr != CLI_PARSE_OK)
		return cli_parse_exit(pr);

	/* the file to compare against is read and validated before minutes of benchmarking */
	struct bench_compare_old *old = NULL;
	if (compare && !(old = vmsim_bench_compare_load(compare, io->err)))
		return CLI_EXIT_USAGE; /* a bad argument, like any other: nothing was measured */

	struct bench_options opt = { .quick = quick, .backend = backend, .only_case = only_case, .progress = quiet ? NULL : io->err };
	char why[768];
	if (vmsim_bench_check_options(&opt, why, sizeof why)) {
		fprintf(io->err, "vmsim bench: %s\n", why);
		vmsim_bench_compare_free(old);
		return CLI_EXIT_USAGE;
	}
	struct bench_report report = { 0 };
	enum vmsim_result r = vmsim_bench_run(&opt, &report);
	if (r != VMSIM_OK) {
		fprintf(io->err, "vmsim bench: %s\n", vmsim_result_text(r));
		vmsim_bench_report_free(&report);
		vmsim_bench_compare_free(old);
		return CLI_EXIT_FAILURE;
	}
	int status = CLI_EXIT_OK;
	vmsim_bench_print_table(&report, io->out);
	fprintf(io->out, "%zu records in %.1f s; %s\n", report.count, report.wall_seconds, report.prov.sampling);
	if (json) {
		FILE *f = fopen(json, "w");
		bool ok = f && vmsim_bench_write_json(&report, f);
		if (f && fclose(f) != 0)
			ok = false;
		if (!ok) {
			fprintf(io->err, "vmsim bench: cannot write '%s'\n", json);
			status = CLI_EXIT_FAILURE;
		}
	}
	if (plot && !vmsim_bench_plot(&report, plot, io->err))
		status = CLI_EXIT_FAILURE;
	if (old)
		vmsim_bench_compare(&report, old, io->out);
	vmsim_bench_compare_free(old);
	vmsim_bench_report_free(&report);
	return status;
}
