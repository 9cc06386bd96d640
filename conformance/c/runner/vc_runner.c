/* vc_runner.c - select backends, models and tests; run each test in a child process; collect results. */
#include <errno.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vmsim/plugin.h>

#include "vc_runner.h"

enum { EXIT_SKIP = 77, OUTPUT_MAX = 16384 };

bool vc_filter_match(const char *pattern, const struct vc_test *test)
{
	if (!pattern || !*pattern)
		return true;
	char full[256];
	snprintf(full, sizeof full, "%s/%s", test->section, test->name);
	return fnmatch(pattern, full, 0) == 0 || strstr(full, pattern) != NULL;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run_test_body(void **state)
{
	const struct vc_test *t = *state;
	t->fn(t->param);
}

/* Run one test here: 0 pass, 1 fail, EXIT_SKIP skip (reason printed with a marker line). */
static int run_in_process(const struct vc_test *t)
{
	vc_clear_skip();
	struct CMUnitTest one = { t->name, run_test_body, NULL, NULL, (void *)t };
	int failed = _cmocka_run_group_tests(t->section, &one, 1, NULL, NULL);
	fflush(stdout);
	if (failed)
		return 1;
	if (vc_skip_reason()) {
		printf("\n@@SKIP@@ %s\n", vc_skip_reason());
		fflush(stdout);
		return EXIT_SKIP;
	}
	return 0;
}

static char *dup_message(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* The skip reason from a child's output, or NULL. */
static char *skip_reason_of(char *output)
{
	char *m = strstr(output, "@@SKIP@@ ");
	if (!m)
		return NULL;
	m += 9;
	char *end = strchr(m, '\n');
	if (end)
		*end = 0;
	return strdup(m);
}

static enum vc_status run_forked(const struct vc_run *run, const struct vc_test *t, char **message)
{
	int fds[2];
	if (pipe(fds) != 0) {
		*message = strdup("pipe failed");
		return VC_FAIL;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		*message = strdup("fork failed");
		return VC_FAIL;
	}
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[1]);
		_exit(run_in_process(t));
	}
	close(fds[1]);
	char *buf = calloc(1, OUTPUT_MAX + 1);
	size_t len = 0;
	unsigned timeout = run->cfg->timeout ? run->cfg->timeout : 120;
	double deadline = now_seconds() + timeout;
	bool timed_out = false;
	for (;;) {
		int wait_ms = (int)((deadline - now_seconds()) * 1000);
		if (wait_ms <= 0) {
			timed_out = true;
			kill(pid, SIGKILL);
			break;
		}
		struct pollfd p = { fds[0], POLLIN, 0 };
		int r = poll(&p, 1, wait_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		char chunk[4096];
		ssize_t n = read(fds[0], chunk, sizeof chunk);
		if (n <= 0)
			break;
		size_t take = (size_t)n < OUTPUT_MAX - len ? (size_t)n : OUTPUT_MAX - len;
		memcpy(buf + len, chunk, take);
		len += take;
	}
	close(fds[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	enum vc_status result;
	if (timed_out) {
		result = VC_FAIL;
		*message = malloc(len + 64);
		snprintf(*message, len + 64, "timed out after %u s\n%s", timeout, buf);
	} else if (WIFSIGNALED(status)) {
		result = VC_FAIL;
		*message = malloc(len + 64);
		snprintf(*message, len + 64, "killed by signal %d\n%s", WTERMSIG(status), buf);
	} else if (WEXITSTATUS(status) == EXIT_SKIP) {
		result = VC_SKIP;
		*message = skip_reason_of(buf);
	} else if (WEXITSTATUS(status) == 0) {
		result = VC_PASS;
	} else {
		result = VC_FAIL;
		*message = malloc(len + 64);
		snprintf(*message, len + 64, "%s\n(test process exit status %d)", buf, WEXITSTATUS(status));
	}
	free(buf);
	return result;
}

/* The reason a backend cannot run test, or NULL: the first missing capability and the backend's own gap text. */
static char *missing_caps(const struct vc_backend *b, const struct vc_test *t)
{
	uint64_t missing = t->caps & ~b->ops->caps;
	if (!missing)
		return NULL;
	uint64_t bit = missing & -missing;
	const char *gap = b->ops->cap_gap ? b->ops->cap_gap(bit) : NULL;
	char text[512];
	snprintf(text, sizeof text, "needs %s (%s): %s", vmsim_backend_cap_name(bit), vmsim_backend_cap_text(bit),
	         gap ? gap : "the backend does not declare it and gives no reason");
	return strdup(text);
}

static int add_backend(struct vc_run *run, const char *name, const char *plugin)
{
	if (run->nbackends == sizeof run->backends / sizeof run->backends[0])
		return 2;
	struct vmsim_env *env = NULL;
	if (vmsim_env_create(NULL, &env) != VMSIM_OK)
		return 2;
	const struct vmsim_backend_ops *ops = NULL;
	if (plugin) {
		enum vmsim_result r = vmsim_env_load_backend(env, plugin, &ops);
		if (r != VMSIM_OK) {
			char shown[1024];
			vmsim_log_escape(plugin, shown, sizeof shown);
			fprintf(run->cfg->err, "vmsim conform: cannot load backend %s: %s\n", shown, vmsim_result_name(r));
			vmsim_env_destroy(env);
			return 2;
		}
	} else if (vmsim_register_builtin_backends(env) == VMSIM_OK) {
		ops = vmsim_env_backend(env, name);
	}
	vmsim_env_destroy(env); /* built-in tables are static; a plugin stays loaded */
	if (!ops) {
		char shown[512];
		vmsim_log_escape(name, shown, sizeof shown);
		fprintf(run->cfg->err, "vmsim conform: no backend named '%s'\n", shown);
		return 2;
	}
	run->backends[run->nbackends++] = (struct vc_backend){ ops->name, plugin, ops };
	return 0;
}

/* Can this built-in backend create a VM here (KVM needs a usable /dev/kvm)? r: why not. */
static bool usable_here(struct vmsim_env *env, const char *name, enum vmsim_result *r)
{
	struct vmsim_session_args args = { .ram_quota = 1 << 20, .cap_quota = 10, .label = "probe", .backend = name,
	                                    .model = VMSIM_MODEL_SVM };
	struct vmsim_session *s = NULL;
	*r = vmsim_session_open(env, &args, &s);
	vmsim_session_close(s);
	return *r == VMSIM_OK;
}

/* A backend named on purpose that cannot run here ends the run with 77, not with every case failed. */
static int add_usable_backend(struct vc_run *run, const char *name)
{
	struct vmsim_env *env = NULL;
	enum vmsim_result r = VMSIM_OK;
	if (vmsim_env_create(NULL, &env) != VMSIM_OK || vmsim_register_builtin_backends(env) != VMSIM_OK) {
		vmsim_env_destroy(env);
		return 2;
	}
	bool known = vmsim_env_backend(env, name) != NULL, usable = known && usable_here(env, name, &r);
	vmsim_env_destroy(env);
	if (known && !usable) {
		fprintf(run->cfg->err, "vmsim conform: backend %s cannot run on this host (%s; the line above says why); "
		        "no case was run\n", name, vmsim_result_name(r));
		return 77;
	}
	return add_backend(run, name, NULL);
}

static int select_backends(struct vc_run *run)
{
	const char *list = run->cfg->backends;
	if (!list && !run->cfg->plugin)
		list = "unicorn";
	if (list && !strcmp(list, "all")) {
		struct vmsim_env *env = NULL;
		if (vmsim_env_create(NULL, &env) != VMSIM_OK || vmsim_register_builtin_backends(env) != VMSIM_OK)
			return 2;
		static const char *const builtin[] = { "unicorn", "kvm", "null" };
		int rc = 0;
		for (size_t i = 0; i < 3 && !rc; i++)
			if (vmsim_env_backend(env, builtin[i])) {
				/* "all" means every built-in that works here: KVM needs /dev/kvm */
				enum vmsim_result r;
				if (usable_here(env, builtin[i], &r))
					rc = add_backend(run, builtin[i], NULL);
				else
					fprintf(run->cfg->err, "vmsim conform: backend %s unavailable here (%s), not run\n",
					        builtin[i], vmsim_result_name(r));
			}
		vmsim_env_destroy(env);
		if (rc)
			return rc;
	} else if (list) {
		char copy[256];
		snprintf(copy, sizeof copy, "%s", list);
		for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			int rc = add_usable_backend(run, tok);
			if (rc)
				return rc;
		}
	}
	if (run->cfg->plugin && add_backend(run, NULL, run->cfg->plugin))
		return 2;
	return run->nbackends ? 0 : 2;
}

static int select_models(struct vc_run *run)
{
	const char *m = run->cfg->model ? run->cfg->model : "all";
	if (!strcmp(m, "all") || !strcmp(m, "svm"))
		run->models[run->nmodels++] = VMSIM_MODEL_SVM;
	if (!strcmp(m, "all") || !strcmp(m, "vmx"))
		run->models[run->nmodels++] = VMSIM_MODEL_VMX;
	if (!run->nmodels)
		fprintf(run->cfg->err, "vmsim conform: --model must be svm, vmx or all, not '%s'\n", m);
	return run->nmodels ? 0 : 2;
}

static void select_tests(struct vc_run *run)
{
	const struct vc_test *suite, *canary;
	size_t n = vc_suite(&suite), nc = vc_canary(&canary);
	const char *env_canary = getenv("VMSIM_CONFORM_CANARY");
	bool with_canary = run->cfg->canary || (env_canary && *env_canary && strcmp(env_canary, "0"));
	run->tests = calloc(n + nc, sizeof *run->tests);
	if (!run->cfg->canary)
		for (size_t i = 0; i < n; i++)
			if (vc_filter_match(run->cfg->filter, &suite[i]))
				run->tests[run->ntests++] = &suite[i];
	if (with_canary)
		for (size_t i = 0; i < nc; i++)
			if (run->cfg->canary || vc_filter_match(run->cfg->filter, &canary[i]))
				run->tests[run->ntests++] = &canary[i];
}

static void report_progress(const struct vc_run *run, const struct vc_result *r, size_t index, size_t total)
{
	FILE *out = run->cfg->out;
	const struct vc_backend *b = &run->backends[r->backend];
	const char *model = vmsim_model_name(r->model);
	if (run->cfg->tap) {
		fprintf(out, "%s %zu - %s/%s/%s/%s", r->status == VC_FAIL ? "not ok" : "ok", index, b->name, model,
		        r->test->section, r->test->name);
		if (r->status == VC_SKIP)
			fprintf(out, " # SKIP %s", r->message ? r->message : "");
		fputc('\n', out);
		if (r->status == VC_FAIL && r->message)
			for (const char *line = r->message; *line;) {
				const char *end = strchr(line, '\n');
				int len = end ? (int)(end - line) : (int)strlen(line);
				fprintf(out, "# %.*s\n", len, line);
				line += len + (end ? 1 : 0);
			}
	} else {
		fprintf(out, "[%4zu/%zu] %-4s %s/%s %s/%s (%.2fs)%s%s\n", index, total, vc_status_name(r->status),
		        b->name, model, r->test->section, r->test->name, r->seconds,
		        r->status == VC_SKIP ? ": " : "", r->status == VC_SKIP && r->message ? r->message : "");
		if (r->status == VC_FAIL && r->message)
			fprintf(out, "%s\n", r->message);
	}
	fflush(out);
}

int vc_run(const struct vc_run_config *cfg)
{
	struct vc_run run = { .cfg = cfg };
	run.profile = vmsim_profile_find(cfg->profile ? cfg->profile : "vmsim");
	if (!run.profile) {
		fprintf(cfg->err, "vmsim conform: --profile must be vmsim, base-hw or nova, not '%s'\n", cfg->profile);
		return 2;
	}
	int selected = select_backends(&run);
	if (selected)
		return selected;
	if (select_models(&run))
		return 2;
	select_tests(&run);
	if (!run.ntests) {
		fprintf(cfg->err, "vmsim conform: no test matches '%s'\n", cfg->filter ? cfg->filter : "");
		free(run.tests);
		return 2;
	}
	size_t total = run.ntests * run.nbackends * run.nmodels;
	run.results = calloc(total, sizeof *run.results);
	const char *prefix = cfg->tap ? "# " : "";
	if (cfg->tap)
		fprintf(cfg->out, "TAP version 13\n1..%zu\n", total);
	vc_print_caps(&run, cfg->out, prefix);
	for (size_t b = 0; b < run.nbackends; b++)
		for (size_t m = 0; m < run.nmodels; m++)
			for (size_t i = 0; i < run.ntests; i++) {
				const struct vc_test *t = run.tests[i];
				struct vc_result *r = &run.results[run.nresults];
				*r = (struct vc_result){ t, b, run.models[m], VC_PASS, NULL, 0 };
				struct vc_target target = { run.backends[b].name, run.backends[b].ops, run.backends[b].plugin,
					                    run.models[m], t, run.profile };
				vc_set_target(&target);
				double start = now_seconds();
				r->message = missing_caps(&run.backends[b], t);
				if (r->message)
					r->status = VC_SKIP;
				else if (cfg->no_fork) {
					int code = run_in_process(t);
					r->status = code == 0 ? VC_PASS : code == EXIT_SKIP ? VC_SKIP : VC_FAIL;
					r->message = code == EXIT_SKIP ? dup_message(vc_skip_reason()) : NULL;
				} else
					r->status = run_forked(&run, t, &r->message);
				r->seconds = now_seconds() - start;
				run.nresults++;
				report_progress(&run, r, run.nresults, total);
			}
	vc_print_matrix(&run, cfg->out, prefix);
	int rc = 0;
	for (size_t i = 0; i < run.nresults; i++)
		if (run.results[i].status == VC_FAIL)
			rc = 1;
	if (cfg->junit && vc_write_junit(&run, cfg->junit)) {
		fprintf(cfg->err, "vmsim conform: cannot write %s\n", cfg->junit);
		rc = 1;
	}
	if (cfg->json && vc_write_json(&run, cfg->json)) {
		fprintf(cfg->err, "vmsim conform: cannot write %s\n", cfg->json);
		rc = 1;
	}
	for (size_t i = 0; i < run.nresults; i++)
		free(run.results[i].message);
	free(run.results);
	free(run.tests);
	return rc;
}
