/* tools/vmsim/cli.h - the vmsim command's subcommand table, dispatcher and shared option parser. */
#ifndef VMSIM_TOOLS_CLI_H
#define VMSIM_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses of every subcommand. */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILURE = 1, /* the command ran and something it checked failed */
	CLI_EXIT_USAGE = 2,   /* bad command line: nothing was run */
	CLI_EXIT_CANNOT_HERE = 77 /* the command cannot run on this host (automake's skip status): nothing was run */
};

/* Where a command writes; tests pass memory streams. */
struct cli_io {
	FILE *out;
	FILE *err;
};

/* A subcommand gets argv[0] = its own name; it must answer --help itself (cli_parse does). */
typedef int (*cli_command_fn)(int argc, char **argv, const struct cli_io *io);

struct cli_command {
	const char *name;
	const char *summary; /* one line for `vmsim --help` */
	cli_command_fn run;
};

/* Run argv[1] from table; handles --help, --version, `help CMD` and unknown commands (exit 2). */
int cli_dispatch(const struct cli_command *table, size_t count, int argc, char **argv, const struct cli_io *io);

enum cli_opt_kind {
	CLI_OPT_FLAG,   /* bool *: set to true */
	CLI_OPT_STRING, /* const char **: the argument */
	CLI_OPT_U64     /* uint64_t *: decimal or 0x hex, no sign */
};

struct cli_opt {
	const char *name; /* long name without dashes */
	char short_name;  /* 0 for none */
	enum cli_opt_kind kind;
	void *value;
	const char *arg;  /* placeholder in help ("NAME"); unused for flags */
	const char *help;
};

/* A subcommand's command line: its options plus how many operands it takes. */
struct cli_spec {
	const char *command;  /* "selftest" */
	const char *operands; /* synopsis of the operands ("GUEST"), NULL for none */
	const char *description;
	const struct cli_opt *opts;
	size_t opt_count;
	unsigned min_operands;
	unsigned max_operands;
};

enum cli_parse_result {
	CLI_PARSE_OK,
	CLI_PARSE_HELP, /* --help was given and help was printed to io->out: exit 0 */
	CLI_PARSE_ERROR /* a message was printed to io->err: exit 2 */
};

/* Parse argv (argv[0] = command name) into spec's option targets; operands start at *first_operand. */
enum cli_parse_result cli_parse(const struct cli_spec *spec, int argc, char **argv, const struct cli_io *io,
                                int *first_operand);
/* The exit status a parse result asks for when it is not CLI_PARSE_OK. */
int cli_parse_exit(enum cli_parse_result result);
/* Print "Usage: vmsim CMD ..." and the option list. */
void cli_print_help(const struct cli_spec *spec, FILE *out);

#endif
