/* tools/vmsim/commands.h - the subcommands listed in main.c's table, one function each. */
#ifndef VMSIM_TOOLS_COMMANDS_H
#define VMSIM_TOOLS_COMMANDS_H

#include "cli.h"

/* `vmsim selftest`: the core end to end on a backend (null by default), one line per check. */
int cmd_selftest(int argc, char **argv, const struct cli_io *io);

/* `vmsim run IMAGE`: the embedded default VMM; exit status is the guest's (docs/vmsim-run.md). */
int cmd_run(int argc, char **argv, const struct cli_io *io);

/* `vmsim conform`: the conformance suite over backends x models; exit 1 on any failure (docs/backend-guide.md). */
int cmd_conform(int argc, char **argv, const struct cli_io *io);

/* `vmsim bench`: exit-path benchmarks against the raw backend in the same run (docs/benchmarks.md). */
int cmd_bench(int argc, char **argv, const struct cli_io *io);

/* `vmsim serve --socket PATH`: VM sessions over the RPC protocol (docs/rpc.md) until SIGINT/SIGTERM. */
int cmd_serve(int argc, char **argv, const struct cli_io *io);

#endif
