/* tools/vmsim/cli.c - subcommand dispatch and the getopt_long-based option parser every subcommand shares. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <vmsim/vmsim.h>

#include "cli.h"

enum { LONG_ONLY_BASE = 1000 }; /* getopt_long value of option i without a short name: LONG_ONLY_BASE + i */

static const struct cli_command *find_command(const struct cli_command *table, size_t count, const char *name)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}

static void print_overview(const struct cli_command *table, size_t count, FILE *out)
{
	size_t width = 4;
	for (size_t i = 0; i < count; i++)
		if (strlen(table[i].name) > width)
			width = strlen(table[i].name);
	fprintf(out, "Usage: vmsim COMMAND [OPTIONS] [ARGS]\n"
	             "       vmsim help COMMAND | --help | --version\n\n"
	             "vmsim re-creates Genode's Vm_session on pluggable CPU backends.\n\n"
	             "Commands:\n");
	for (size_t i = 0; i < count; i++)
		fprintf(out, "  %-*s  %s\n", (int)width, table[i].name, table[i].summary);
	fprintf(out, "  %-*s  %s\n", (int)width, "help", "show the help of a command");
	fprintf(out, "\nRun 'vmsim COMMAND --help' for a command's options.\n");
}

static int usage_error(const struct cli_io *io, const char *what, const char *word)
{
	fprintf(io->err, "vmsim: %s '%s'\nTry 'vmsim --help'.\n", what, word);
	return CLI_EXIT_USAGE;
}

int cli_dispatch(const struct cli_command *table, size_t count, int argc, char **argv, const struct cli_io *io)
{
	if (argc < 2) {
		fprintf(io->err, "vmsim: no command given\nTry 'vmsim --help'.\n");
		return CLI_EXIT_USAGE;
	}
	const char *word = argv[1];
	if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0) {
		print_overview(table, count, io->out);
		return CLI_EXIT_OK;
	}
	if (strcmp(word, "--version") == 0 || strcmp(word, "-V") == 0) {
		fprintf(io->out, "vmsim %s (backend ABI %u)\n", VMSIM_VERSION_STRING, VMSIM_BACKEND_ABI_VERSION);
		return CLI_EXIT_OK;
	}
	if (strcmp(word, "help") == 0) {
		if (argc == 2) {
			print_overview(table, count, io->out);
			return CLI_EXIT_OK;
		}
		if (argc > 3)
			return usage_error(io, "help takes one command, got extra argument", argv[3]);
		const struct cli_command *cmd = find_command(table, count, argv[2]);
		if (!cmd)
			return usage_error(io, "unknown command", argv[2]);
		/* `help CMD` is `CMD --help`, so the two can never disagree. */
		char name[64], help_flag[] = "--help";
		snprintf(name, sizeof name, "%s", cmd->name);
		char *help_argv[] = {name, help_flag, NULL};
		return cmd->run(2, help_argv, io);
	}
	const struct cli_command *cmd = find_command(table, count, word);
	if (!cmd)
		return usage_error(io, word[0] == '-' ? "unknown option" : "unknown command", word);
	return cmd->run(argc - 1, argv + 1, io);
}

int cli_parse_exit(enum cli_parse_result result)
{
	return result == CLI_PARSE_ERROR ? CLI_EXIT_USAGE : CLI_EXIT_OK;
}

static size_t opt_label(const struct cli_opt *opt, char *buf, size_t size)
{
	const char *arg = opt->kind == CLI_OPT_FLAG ? "" : opt->arg ? opt->arg : "VALUE";
	int n;
	if (opt->short_name)
		n = snprintf(buf, size, "-%c, --%s%s%s", opt->short_name, opt->name, *arg ? " " : "", arg);
	else
		n = snprintf(buf, size, "    --%s%s%s", opt->name, *arg ? " " : "", arg);
	return n < 0 ? 0 : (size_t)n;
}

void cli_print_help(const struct cli_spec *spec, FILE *out)
{
	fprintf(out, "Usage: vmsim %s [OPTIONS]%s%s\n\n%s\n\nOptions:\n", spec->command, spec->operands ? " " : "",
	        spec->operands ? spec->operands : "", spec->description);
	char label[128];
	size_t width = strlen("-h, --help");
	for (size_t i = 0; i < spec->opt_count; i++) {
		size_t n = opt_label(&spec->opts[i], label, sizeof label);
		if (n > width)
			width = n;
	}
	for (size_t i = 0; i < spec->opt_count; i++) {
		opt_label(&spec->opts[i], label, sizeof label);
		fprintf(out, "  %-*s  %s\n", (int)width, label, spec->opts[i].help);
	}
	fprintf(out, "  %-*s  %s\n", (int)width, "-h, --help", "show this help and exit");
}

static bool parse_u64(const char *text, uint64_t *out)
{
	if (!text || !*text || !(text[0] >= '0' && text[0] <= '9'))
		return false; /* strtoull would accept a sign and leading spaces */
	errno = 0;
	char *end = NULL;
	unsigned long long value = strtoull(text, &end, 0);
	if (errno == ERANGE || *end != '\0')
		return false;
	*out = value;
	return true;
}

static enum cli_parse_result parse_error(const struct cli_spec *spec, const struct cli_io *io, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum cli_parse_result parse_error(const struct cli_spec *spec, const struct cli_io *io, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(io->err, "vmsim %s: ", spec->command);
	vfprintf(io->err, fmt, ap);
	fprintf(io->err, "\nTry 'vmsim %s --help'.\n", spec->command);
	va_end(ap);
	return CLI_PARSE_ERROR;
}

static enum cli_parse_result store(const struct cli_spec *spec, const struct cli_opt *opt, const char *arg,
                                   const struct cli_io *io)
{
	switch (opt->kind) {
	case CLI_OPT_FLAG:
		*(bool *)opt->value = true;
		return CLI_PARSE_OK;
	case CLI_OPT_STRING:
		*(const char **)opt->value = arg;
		return CLI_PARSE_OK;
	case CLI_OPT_U64:
		if (!parse_u64(arg, opt->value))
			return parse_error(spec, io, "not an unsigned number: '%s'", arg);
		return CLI_PARSE_OK;
	}
	return parse_error(spec, io, "internal error: option '%s' has no kind", opt->name);
}

static const struct cli_opt *opt_for(const struct cli_spec *spec, int c)
{
	if (c >= LONG_ONLY_BASE && (size_t)(c - LONG_ONLY_BASE) < spec->opt_count)
		return &spec->opts[c - LONG_ONLY_BASE];
	for (size_t i = 0; i < spec->opt_count; i++)
		if (spec->opts[i].short_name && spec->opts[i].short_name == c)
			return &spec->opts[i];
	return NULL;
}

static enum cli_parse_result run_getopt(const struct cli_spec *spec, int argc, char **argv, const struct cli_io *io,
                                        const struct option *longopts, const char *shortopts)
{
	/* getopt's state is process-global; optind = 0 makes glibc start afresh for each parse. */
	opterr = 0;
	optind = 0;
	int c;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const char *word = argv[optind - 1];
		if (c == 'h') {
			cli_print_help(spec, io->out);
			return CLI_PARSE_HELP;
		}
		if (c == '?') {
			/* A long option is named by its word (up to any '='); a short one by optopt. */
			int len = (int)strcspn(word, "=");
			if (strncmp(word, "--", 2) == 0 && optopt)
				return parse_error(spec, io, "option '%.*s' takes no value", len, word);
			if (strncmp(word, "--", 2) == 0)
				return parse_error(spec, io, "unknown option '%.*s'", len, word);
			return parse_error(spec, io, "unknown option '-%c'", optopt);
		}
		if (c == ':')
			return parse_error(spec, io, "option '%s' needs an argument", word);
		const struct cli_opt *opt = opt_for(spec, c);
		if (!opt)
			return parse_error(spec, io, "unhandled option '%s'", word);
		enum cli_parse_result result = store(spec, opt, optarg, io);
		if (result != CLI_PARSE_OK)
			return result;
	}
	unsigned operands = (unsigned)(argc - optind);
	if (operands < spec->min_operands)
		return parse_error(spec, io, "missing operand: %s", spec->operands ? spec->operands : "?");
	if (operands > spec->max_operands)
		return parse_error(spec, io, "unexpected argument '%s'", argv[optind + (int)spec->max_operands]);
	return CLI_PARSE_OK;
}

enum cli_parse_result cli_parse(const struct cli_spec *spec, int argc, char **argv, const struct cli_io *io,
                                int *first_operand)
{
	size_t n = spec->opt_count;
	struct option *longopts = calloc(n + 2, sizeof *longopts);
	char *shortopts = calloc(2 * n + 4, 1);
	if (!longopts || !shortopts) {
		free(longopts);
		free(shortopts);
		fprintf(io->err, "vmsim %s: out of memory\n", spec->command);
		return CLI_PARSE_ERROR;
	}
	char *s = shortopts;
	*s++ = ':'; /* report a missing argument as ':' rather than '?' */
	for (size_t i = 0; i < n; i++) {
		const struct cli_opt *opt = &spec->opts[i];
		int has_arg = opt->kind == CLI_OPT_FLAG ? no_argument : required_argument;
		longopts[i] = (struct option){opt->name, has_arg, NULL, opt->short_name ? opt->short_name : LONG_ONLY_BASE + (int)i};
		if (opt->short_name) {
			*s++ = opt->short_name;
			if (has_arg == required_argument)
				*s++ = ':';
		}
	}
	longopts[n] = (struct option){"help", no_argument, NULL, 'h'};
	*s++ = 'h';

	enum cli_parse_result result = run_getopt(spec, argc, argv, io, longopts, shortopts);
	if (result == CLI_PARSE_OK && first_operand)
		*first_operand = optind;
	free(longopts);
	free(shortopts);
	return result;
}
