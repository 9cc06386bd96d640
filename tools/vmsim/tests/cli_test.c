/* tools/vmsim/tests/cli_test.c - the vmsim command's dispatcher, option parser and selftest, with captured output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "commands.h"

/* ---- captured output ----------------------------------------------------- */

struct vt_io {
	char *out_text, *err_text;
	size_t out_len, err_len;
	struct cli_io io;
};

static void vt_io_open(struct vt_io *v)
{
	memset(v, 0, sizeof *v);
	v->io.out = open_memstream(&v->out_text, &v->out_len);
	v->io.err = open_memstream(&v->err_text, &v->err_len);
	assert_non_null(v->io.out);
	assert_non_null(v->io.err);
}

/* Close the streams so out_text/err_text hold everything written. */
static void vt_io_close(struct vt_io *v)
{
	fclose(v->io.out);
	fclose(v->io.err);
}

static void vt_io_free(struct vt_io *v)
{
	free(v->out_text);
	free(v->err_text);
}

#define VT_ASSERT_CONTAINS(text, needle)                                                            \
	do {                                                                                        \
		if (!strstr((text), (needle)))                                                      \
			fail_msg("expected \"%s\" in:\n%s", (needle), (text));                      \
	} while (0)

/* ---- a test double command table ------------------------------------------ */

static int vt_calls;
static int vt_argc;
static char vt_argv0[32], vt_argv1[32];

static int vt_record(int argc, char **argv, const struct cli_io *io)
{
	(void)io;
	vt_calls++;
	vt_argc = argc;
	snprintf(vt_argv0, sizeof vt_argv0, "%s", argv[0]);
	snprintf(vt_argv1, sizeof vt_argv1, "%s", argc > 1 ? argv[1] : "");
	return 7;
}

static const struct cli_command vt_table[] = {
	{"alpha", "the first test command", vt_record},
	{"beta", "the second test command", vt_record},
};
enum { VT_TABLE_SIZE = sizeof vt_table / sizeof vt_table[0] };

static int vt_dispatch(struct vt_io *v, int argc, char **argv)
{
	vt_calls = 0;
	vt_io_open(v);
	int status = cli_dispatch(vt_table, VT_TABLE_SIZE, argc, argv, &v->io);
	vt_io_close(v);
	return status;
}

static void test_dispatch_runs_the_named_command_with_its_arguments(void **state)
{
	(void)state;
	struct vt_io v;
	char *argv[] = {"vmsim", "beta", "x", NULL};
	assert_int_equal(vt_dispatch(&v, 3, argv), 7);
	assert_int_equal(vt_calls, 1);
	assert_int_equal(vt_argc, 2);
	assert_string_equal(vt_argv0, "beta");
	assert_string_equal(vt_argv1, "x");
	vt_io_free(&v);
}

static void test_dispatch_refuses_unknown_commands_and_options(void **state)
{
	(void)state;
	struct vt_io v;
	char *unknown[] = {"vmsim", "gamma", NULL};
	assert_int_equal(vt_dispatch(&v, 2, unknown), CLI_EXIT_USAGE);
	assert_int_equal(vt_calls, 0);
	VT_ASSERT_CONTAINS(v.err_text, "unknown command 'gamma'");
	assert_int_equal(v.out_len, 0);
	vt_io_free(&v);

	char *option[] = {"vmsim", "--bogus", NULL};
	assert_int_equal(vt_dispatch(&v, 2, option), CLI_EXIT_USAGE);
	VT_ASSERT_CONTAINS(v.err_text, "unknown option '--bogus'");
	vt_io_free(&v);

	char *none[] = {"vmsim", NULL};
	assert_int_equal(vt_dispatch(&v, 1, none), CLI_EXIT_USAGE);
	VT_ASSERT_CONTAINS(v.err_text, "no command given");
	vt_io_free(&v);
}

static void test_help_lists_every_command(void **state)
{
	(void)state;
	struct vt_io v;
	char *argv[] = {"vmsim", "--help", NULL};
	assert_int_equal(vt_dispatch(&v, 2, argv), CLI_EXIT_OK);
	assert_int_equal(vt_calls, 0);
	VT_ASSERT_CONTAINS(v.out_text, "alpha");
	VT_ASSERT_CONTAINS(v.out_text, "the first test command");
	VT_ASSERT_CONTAINS(v.out_text, "beta");
	vt_io_free(&v);

	char *bare_help[] = {"vmsim", "help", NULL};
	assert_int_equal(vt_dispatch(&v, 2, bare_help), CLI_EXIT_OK);
	VT_ASSERT_CONTAINS(v.out_text, "the second test command");
	vt_io_free(&v);
}

static void test_help_command_asks_the_command_for_its_help(void **state)
{
	(void)state;
	struct vt_io v;
	char *argv[] = {"vmsim", "help", "alpha", NULL};
	assert_int_equal(vt_dispatch(&v, 3, argv), 7);
	assert_int_equal(vt_calls, 1);
	assert_string_equal(vt_argv0, "alpha");
	assert_string_equal(vt_argv1, "--help");
	vt_io_free(&v);

	char *unknown[] = {"vmsim", "help", "gamma", NULL};
	assert_int_equal(vt_dispatch(&v, 3, unknown), CLI_EXIT_USAGE);
	assert_int_equal(vt_calls, 0);
	VT_ASSERT_CONTAINS(v.err_text, "unknown command 'gamma'");
	vt_io_free(&v);
}

static void test_version_names_the_release_and_abi(void **state)
{
	(void)state;
	struct vt_io v;
	char *argv[] = {"vmsim", "--version", NULL};
	assert_int_equal(vt_dispatch(&v, 2, argv), CLI_EXIT_OK);
	VT_ASSERT_CONTAINS(v.out_text, "vmsim 0.1.0 (backend ABI 1)");
	vt_io_free(&v);
}

/* ---- the option parser ---------------------------------------------------- */

struct vt_opts {
	bool verbose;
	const char *name;
	uint64_t count;
};

static enum cli_parse_result vt_parse(struct vt_io *v, struct vt_opts *o, int argc, char **argv, int *first)
{
	const struct cli_opt opts[] = {
		{"verbose", 'v', CLI_OPT_FLAG, &o->verbose, NULL, "say more"},
		{"name", 'n', CLI_OPT_STRING, &o->name, "NAME", "a name"},
		{"count", 0, CLI_OPT_U64, &o->count, "N", "a number"},
	};
	const struct cli_spec spec = {
		.command = "demo", .operands = "[FILE]", .description = "A demo command.",
		.opts = opts, .opt_count = 3, .min_operands = 0, .max_operands = 1,
	};
	memset(o, 0, sizeof *o);
	vt_io_open(v);
	enum cli_parse_result result = cli_parse(&spec, argc, argv, &v->io, first);
	vt_io_close(v);
	return result;
}

static void test_parse_stores_flags_strings_and_numbers(void **state)
{
	(void)state;
	struct vt_io v;
	struct vt_opts o;
	int first = -1;
	char *argv[] = {"demo", "-v", "--name", "x", "--count", "0x10", "file", NULL};
	assert_int_equal(vt_parse(&v, &o, 7, argv, &first), CLI_PARSE_OK);
	assert_true(o.verbose);
	assert_string_equal(o.name, "x");
	assert_int_equal(o.count, 16);
	assert_int_equal(first, 6);
	assert_string_equal(argv[first], "file");
	vt_io_free(&v);

	/* A second parse starts afresh (getopt's global state is reset). */
	char *again[] = {"demo", "-n", "y", "--count=42", NULL};
	assert_int_equal(vt_parse(&v, &o, 4, again, &first), CLI_PARSE_OK);
	assert_false(o.verbose);
	assert_string_equal(o.name, "y");
	assert_int_equal(o.count, 42);
	assert_int_equal(first, 4);
	vt_io_free(&v);
}

static void test_parse_rejects_bad_numbers(void **state)
{
	(void)state;
	const char *bad[] = {"-1", "12abc", "", " 5", "99999999999999999999999"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct vt_io v;
		struct vt_opts o;
		char *argv[] = {"demo", "--count", (char *)bad[i], NULL};
		assert_int_equal(vt_parse(&v, &o, 3, argv, NULL), CLI_PARSE_ERROR);
		VT_ASSERT_CONTAINS(v.err_text, "not an unsigned number");
		VT_ASSERT_CONTAINS(v.err_text, "Try 'vmsim demo --help'.");
		vt_io_free(&v);
	}
}

static void test_parse_reports_each_kind_of_mistake(void **state)
{
	(void)state;
	struct {
		int argc;
		char *argv[4];
		const char *message;
	} cases[] = {
		{2, {"demo", "--name", NULL}, "option '--name' needs an argument"},
		{2, {"demo", "-n", NULL}, "option '-n' needs an argument"},
		{2, {"demo", "--nope", NULL}, "unknown option '--nope'"},
		{2, {"demo", "-z", NULL}, "unknown option '-z'"},
		{2, {"demo", "--verbose=1", NULL}, "option '--verbose' takes no value"},
		{3, {"demo", "a", "b", NULL}, "unexpected argument 'b'"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct vt_io v;
		struct vt_opts o;
		assert_int_equal(vt_parse(&v, &o, cases[i].argc, cases[i].argv, NULL), CLI_PARSE_ERROR);
		VT_ASSERT_CONTAINS(v.err_text, cases[i].message);
		assert_int_equal(v.out_len, 0);
		vt_io_free(&v);
	}
	assert_int_equal(cli_parse_exit(CLI_PARSE_ERROR), CLI_EXIT_USAGE);
}

static void test_parse_answers_help_with_the_option_list(void **state)
{
	(void)state;
	struct vt_io v;
	struct vt_opts o;
	char *argv[] = {"demo", "--name", "x", "--help", NULL};
	assert_int_equal(vt_parse(&v, &o, 4, argv, NULL), CLI_PARSE_HELP);
	assert_int_equal(cli_parse_exit(CLI_PARSE_HELP), CLI_EXIT_OK);
	VT_ASSERT_CONTAINS(v.out_text, "Usage: vmsim demo [OPTIONS] [FILE]");
	VT_ASSERT_CONTAINS(v.out_text, "A demo command.");
	VT_ASSERT_CONTAINS(v.out_text, "-v, --verbose");
	VT_ASSERT_CONTAINS(v.out_text, "-n, --name NAME");
	VT_ASSERT_CONTAINS(v.out_text, "--count N");
	VT_ASSERT_CONTAINS(v.out_text, "-h, --help");
	vt_io_free(&v);
}

/* ---- vmsim selftest --------------------------------------------------------- */

static int vt_selftest(struct vt_io *v, int argc, char **argv)
{
	vt_io_open(v);
	int status = cmd_selftest(argc, argv, &v->io);
	vt_io_close(v);
	return status;
}

static unsigned vt_count_lines(const char *text, const char *prefix)
{
	unsigned n = 0;
	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (strncmp(line, prefix, strlen(prefix)) == 0)
			n++;
	return n;
}

/* The "selftest: N passed, M failed" line, which must be the last. */
static void vt_summary(const char *text, unsigned *passed, unsigned *failed)
{
	const char *line = NULL;
	for (const char *at = strstr(text, "selftest: "); at; at = strstr(at + 1, "selftest: "))
		line = at;
	assert_non_null(line);
	assert_int_equal(sscanf(line, "selftest: %u passed, %u failed\n", passed, failed), 2);
	assert_int_equal(strchr(line, '\n')[1], '\0');
}

static void test_selftest_passes_on_the_null_backend_for_both_models(void **state)
{
	(void)state;
	struct vt_io v;
	char *argv[] = {"selftest", NULL};
	assert_int_equal(vt_selftest(&v, 1, argv), CLI_EXIT_OK);
	unsigned passed, failed;
	vt_summary(v.out_text, &passed, &failed);
	assert_int_equal(failed, 0);
	assert_int_equal(vt_count_lines(v.out_text, "FAIL"), 0);
	assert_int_equal(vt_count_lines(v.out_text, "ok "), passed);
	unsigned svm = vt_count_lines(v.out_text, "ok   svm: ");
	assert_true(svm >= 10);
	assert_int_equal(vt_count_lines(v.out_text, "ok   vmx: "), svm);
	VT_ASSERT_CONTAINS(v.out_text, "svm: after close: env quota used is 0 bytes, 0 caps");
	vt_io_free(&v);
}

static void test_selftest_runs_only_the_model_asked_for(void **state)
{
	(void)state;
	struct vt_io v;
	char *argv[] = {"selftest", "--model", "vmx", NULL};
	assert_int_equal(vt_selftest(&v, 3, argv), CLI_EXIT_OK);
	assert_int_equal(vt_count_lines(v.out_text, "ok   svm: "), 0);
	assert_true(vt_count_lines(v.out_text, "ok   vmx: ") >= 10);
	vt_io_free(&v);
}

static void test_selftest_fails_on_an_unknown_backend(void **state)
{
	(void)state;
	struct vt_io v;
	char *argv[] = {"selftest", "--backend", "no-such-backend", NULL};
	assert_int_equal(vt_selftest(&v, 3, argv), CLI_EXIT_FAILURE);
	unsigned passed, failed;
	vt_summary(v.out_text, &passed, &failed);
	assert_int_equal(failed, 2); /* the session open, once per model */
	assert_int_equal(vt_count_lines(v.out_text, "FAIL"), failed);
	VT_ASSERT_CONTAINS(v.out_text, "open a session on the no-such-backend backend: got ");
	vt_io_free(&v);
}

static void test_selftest_refuses_bad_command_lines(void **state)
{
	(void)state;
	struct vt_io v;
	char *model[] = {"selftest", "--model", "arm", NULL};
	assert_int_equal(vt_selftest(&v, 3, model), CLI_EXIT_USAGE);
	VT_ASSERT_CONTAINS(v.err_text, "unknown model 'arm'");
	assert_int_equal(v.out_len, 0);
	vt_io_free(&v);

	char *extra[] = {"selftest", "extra", NULL};
	assert_int_equal(vt_selftest(&v, 2, extra), CLI_EXIT_USAGE);
	VT_ASSERT_CONTAINS(v.err_text, "unexpected argument 'extra'");
	vt_io_free(&v);

	char *help[] = {"selftest", "--help", NULL};
	assert_int_equal(vt_selftest(&v, 2, help), CLI_EXIT_OK);
	VT_ASSERT_CONTAINS(v.out_text, "--backend NAME");
	VT_ASSERT_CONTAINS(v.out_text, "--model MODEL");
	vt_io_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_runs_the_named_command_with_its_arguments),
		cmocka_unit_test(test_dispatch_refuses_unknown_commands_and_options),
		cmocka_unit_test(test_help_lists_every_command),
		cmocka_unit_test(test_help_command_asks_the_command_for_its_help),
		cmocka_unit_test(test_version_names_the_release_and_abi),
		cmocka_unit_test(test_parse_stores_flags_strings_and_numbers),
		cmocka_unit_test(test_parse_rejects_bad_numbers),
		cmocka_unit_test(test_parse_reports_each_kind_of_mistake),
		cmocka_unit_test(test_parse_answers_help_with_the_option_list),
		cmocka_unit_test(test_selftest_passes_on_the_null_backend_for_both_models),
		cmocka_unit_test(test_selftest_runs_only_the_model_asked_for),
		cmocka_unit_test(test_selftest_fails_on_an_unknown_backend),
		cmocka_unit_test(test_selftest_refuses_bad_command_lines),
	};
	return cmocka_run_group_tests_name("vmsim_cli", tests, NULL, NULL);
}
