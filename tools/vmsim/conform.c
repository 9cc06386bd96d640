/* tools/vmsim/conform.c - `vmsim conform`: the conformance suite over backends x models (conformance/). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "commands.h"

#ifdef VMSIM_HAVE_CONFORMANCE
#include "runner/vc_runner.h"
#endif

int cmd_conform(int argc, char **argv, const struct cli_io *io)
{
	const char *backend = NULL, *plugin = NULL, *model = "all", *filter = NULL, *junit = NULL, *json = NULL, *profile = NULL;
	bool tap = false, canary = false, no_fork = false;
	uint64_t timeout = 120;
	const struct cli_opt opts[] = {
		{ "backend", 'b', CLI_OPT_STRING, &backend, "NAME",
		  "built-in backend(s), comma-separated, or \"all\" (default: unicorn)" },
		{ "backend-so", 0, CLI_OPT_STRING, &plugin, "PATH", "a backend plugin (shared object) to load and test" },
		{ "model", 'm', CLI_OPT_STRING, &model, "MODEL", "svm, vmx or all (default: all)" },
		{ "filter", 'f', CLI_OPT_STRING, &filter, "PATTERN", "only tests whose section/name matches (glob or substring)" },
		{ "junit", 0, CLI_OPT_STRING, &junit, "FILE", "write JUnit XML" },
		{ "json", 0, CLI_OPT_STRING, &json, "FILE", "write results, matrix and capabilities as JSON" },
		{ "profile", 0, CLI_OPT_STRING, &profile, "NAME",
		  "kernel profile the cases expect: vmsim, base-hw or nova (default: vmsim)" },
		{ "tap", 0, CLI_OPT_FLAG, &tap, NULL, "print TAP 13 instead of progress lines" },
		{ "canary", 0, CLI_OPT_FLAG, &canary, NULL, "run only the canary tests, which must fail (exit 1)" },
		{ "no-fork", 0, CLI_OPT_FLAG, &no_fork, NULL, "run tests in this process (debugging)" },
		{ "timeout", 0, CLI_OPT_U64, &timeout, "SECONDS", "per test (default: 120)" },
	};
	const struct cli_spec spec = {
		.command = "conform",
		.description = "Run the conformance suite for each backend x model: progress, the backend capability\n"
		               "matrix, and a pass/skip/fail matrix (section x backend x model). Exit status 1 if\n"
		               "any test failed, 2 on bad usage, 77 if a backend named with --backend cannot run on\n"
		               "this host (e.g. kvm without /dev/kvm). VMSIM_CONFORM_CANARY=1 adds the canary tests.",
		.opts = opts,
		.opt_count = sizeof opts / sizeof opts[0],
	};
	int first = 0;
	enum cli_parse_result parsed = cli_parse(&spec, argc, argv, io, &first);
	if (parsed != CLI_PARSE_OK)
		return cli_parse_exit(parsed);
#ifdef VMSIM_HAVE_CONFORMANCE
	struct vc_run_config cfg = { backend, plugin, model, filter, canary, tap, no_fork, junit, json,
		                     (unsigned)(timeout > 3600 ? 3600 : timeout), io->out, io->err, profile };
	int rc = vc_run(&cfg);
	return rc == 0 ? CLI_EXIT_OK : rc == 1 ? CLI_EXIT_FAILURE : rc == 77 ? CLI_EXIT_CANNOT_HERE : CLI_EXIT_USAGE;
#else
	(void)backend, (void)plugin, (void)filter, (void)junit, (void)json, (void)profile, (void)tap, (void)canary, (void)no_fork;
	fprintf(io->err, "vmsim conform: this vmsim was built without the conformance suite (VMSIM_TESTS=OFF)\n");
	return CLI_EXIT_USAGE;
#endif
}
