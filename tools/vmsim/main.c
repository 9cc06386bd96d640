/* tools/vmsim/main.c - the vmsim command: the table of subcommands and nothing else. */
#include <stdio.h>

#include "cli.h"
#include "commands.h"

/* One entry per subcommand; `run`, `conform`, `bench` and `serve` join here as they land. */
static const struct cli_command commands[] = {
	{"bench", "exit-path round trips per exit kind against the raw backend, scaling curves (JSON, plot)", cmd_bench},
	{"conform", "run the conformance suite over backends x models (matrix, JUnit, TAP, JSON)", cmd_conform},
	{"run", "run a raw guest image on one vCPU with stand-in devices (console, exit port)", cmd_run},
	{"selftest", "exercise the core end to end on the null backend (both models)", cmd_selftest},
	{"serve", "serve VM sessions over a UNIX socket (RPC, one capability space per client)", cmd_serve},
};

int main(int argc, char **argv)
{
	const struct cli_io io = {.out = stdout, .err = stderr};
	return cli_dispatch(commands, sizeof commands / sizeof commands[0], argc, argv, &io);
}
