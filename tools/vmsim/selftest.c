/* tools/vmsim/selftest.c - `vmsim selftest`: one session's life on a backend, for each model, checked step by step. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include <vmsim/vmsim.h>

#include "cli.h"
#include "commands.h"

enum {
	GUEST_BASE = 0x100000,
	DATASPACE_SIZE = 16 * VMSIM_PAGE_SIZE
};

struct tally {
	FILE *out;
	const char *model; /* the prefix of every line */
	unsigned passed;
	unsigned failed;
};

static bool check(struct tally *t, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Print one "ok"/"FAIL" line and count it; returns ok so callers can skip what depends on it. */
static bool check(struct tally *t, bool ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(t->out, "%-4s %s: ", ok ? "ok" : "FAIL", t->model);
	vfprintf(t->out, fmt, ap);
	fputc('\n', t->out);
	va_end(ap);
	if (ok)
		t->passed++;
	else
		t->failed++;
	return ok;
}

static bool check_result(struct tally *t, enum vmsim_result got, enum vmsim_result want, const char *what)
{
	if (got == want)
		return check(t, true, "%s (%s)", what, vmsim_result_name(got));
	return check(t, false, "%s: got %s, want %s", what, vmsim_result_name(got), vmsim_result_name(want));
}

static bool env_quota_is_zero(struct tally *t, const struct vmsim_env *env, const char *when)
{
	struct vmsim_quota q;
	vmsim_env_quota(env, &q);
	return check(t, q.ram_used == 0 && q.cap_used == 0, "%s: env quota used is %" PRIu64 " bytes, %" PRIu64 " caps",
	             when, q.ram_used, q.cap_used);
}

/* The vCPU handler: the null backend never runs, but core may still signal a startup exit. */
static void count_signal(void *ctx, struct vmsim_vcpu *vcpu)
{
	(void)vcpu;
	atomic_fetch_add((atomic_uint *)ctx, 1);
}

static void vcpu_life(struct tally *t, struct vmsim_session *session)
{
	struct vmsim_quota before, after;
	vmsim_session_quota(session, &before);
	atomic_uint signals = 0;
	struct vmsim_vcpu_args args = {.handler = count_signal, .handler_ctx = &signals};
	struct vmsim_vcpu *vcpu = NULL;
	if (!check_result(t, vmsim_vcpu_create(session, &args, &vcpu), VMSIM_OK, "create a vCPU"))
		return;
	check(t, vmsim_vcpu_id(vcpu) == 0 && vmsim_session_vcpu_count(session) == 1 && vmsim_session_vcpu(session, 0) == vcpu,
	      "vCPU 0 is the one live vCPU in the session's registry");
	vmsim_session_quota(session, &after);
	check(t, after.ram_used - before.ram_used == VMSIM_COST_VCPU_RAM && after.cap_used - before.cap_used == VMSIM_COST_VCPU_CAPS,
	      "the vCPU costs %" PRIu64 " bytes and %" PRIu64 " caps (published: %d, %d)", after.ram_used - before.ram_used,
	      after.cap_used - before.cap_used, VMSIM_COST_VCPU_RAM, VMSIM_COST_VCPU_CAPS);
	vmsim_vcpu_destroy(vcpu);
	vmsim_session_quota(session, &after);
	check(t, vmsim_session_vcpu_count(session) == 0 && vmsim_session_vcpu(session, 0) == NULL,
	      "destroying the vCPU removes it from the registry");
	check(t, after.ram_used == before.ram_used && after.cap_used == before.cap_used,
	      "destroying the vCPU returns its quota");
}

static void attachment_life(struct tally *t, struct vmsim_env *env, struct vmsim_session *session)
{
	struct vmsim_quota env_before, env_after, opened, now;
	vmsim_env_quota(env, &env_before);
	vmsim_session_quota(session, &opened);

	vmsim_ds_cap ds = VMSIM_DS_CAP_INVALID;
	if (!check_result(t, vmsim_ds_alloc(env, DATASPACE_SIZE, &ds), VMSIM_OK, "allocate a 64 KiB dataspace"))
		return;
	vmsim_env_quota(env, &env_after);
	check(t, env_after.ram_used - env_before.ram_used == DATASPACE_SIZE &&
	              env_after.cap_used - env_before.cap_used == VMSIM_COST_DATASPACE_CAPS,
	      "the dataspace is charged to the env: %" PRIu64 " bytes, %" PRIu64 " caps",
	      env_after.ram_used - env_before.ram_used, env_after.cap_used - env_before.cap_used);

	struct vmsim_attach_attr attr = {.offset = 0, .size = 0, .executable = true, .writeable = true};
	struct vmsim_range range = {0};
	if (check_result(t, vmsim_session_attach(session, ds, GUEST_BASE, &attr, &range), VMSIM_OK,
	                 "attach it at guest-physical 0x100000")) {
		check(t, range.start == GUEST_BASE && range.num_bytes == DATASPACE_SIZE,
		      "the attachment covers the whole dataspace: [0x%" PRIx64 ", +0x%" PRIx64 ")", range.start,
		      range.num_bytes);
		struct vmsim_region_info info = {0};
		enum vmsim_result found = vmsim_session_region_at(session, GUEST_BASE + DATASPACE_SIZE - 1, &info);
		check(t, found == VMSIM_OK && info.start == GUEST_BASE && info.ds.raw == ds.raw && info.writeable,
		      "region_at finds the attachment from its last byte");
		vcpu_life(t, session);
		check_result(t, vmsim_session_detach(session, GUEST_BASE, DATASPACE_SIZE), VMSIM_OK, "detach it");
		check(t, vmsim_session_region_count(session) == 0, "no region is left after the detach");
		vmsim_session_quota(session, &now);
		uint64_t tables = vmsim_session_page_tables(session) * VMSIM_COST_PAGE_TABLE_RAM;
		check(t, now.ram_used - tables == opened.ram_used && now.cap_used == opened.cap_used,
		      "the session's quota is back to its level at open (page tables aside: %" PRIu64 " bytes)", tables);
	}
	check_result(t, vmsim_ds_free(env, ds), VMSIM_OK, "free the dataspace");
	check(t, vmsim_ds_size(env, ds, &(uint64_t){0}) != VMSIM_OK, "the freed dataspace's capability is stale");
}

static void session_life(struct tally *t, struct vmsim_env *env, const char *backend, enum vmsim_model model)
{
	struct vmsim_session_args args = {
		.ram_quota = VMSIM_SESSION_DEFAULT_RAM,
		.cap_quota = VMSIM_SESSION_DEFAULT_CAPS,
		.label = "selftest",
		.backend = backend,
		.model = model,
	};
	struct vmsim_session *session = NULL;
	char what[96];
	snprintf(what, sizeof what, "open a session on the %s backend", backend);
	if (!check_result(t, vmsim_session_open(env, &args, &session), VMSIM_OK, what))
		return;
	check(t, strcmp(vmsim_session_backend(session), backend) == 0 && vmsim_session_model(session) == model &&
	              strcmp(vmsim_session_label(session), "selftest") == 0,
	      "the session reports its backend, model and label");
	struct vmsim_quota q;
	vmsim_session_quota(session, &q);
	check(t, q.ram_limit == args.ram_quota && q.cap_limit == args.cap_quota,
	      "the session's limits are the donation (%" PRIu64 " bytes, %" PRIu64 " caps)", q.ram_limit, q.cap_limit);
	attachment_life(t, env, session);
	vmsim_session_close(session);
	env_quota_is_zero(t, env, "after close");
}

static const char selftest_description[] =
	"Create an env, register the built-in backends and, for each model, open a session,\n"
	"allocate and attach a dataspace, create and destroy a vCPU, detach, free and close,\n"
	"checking results and quota at each step. Prints one line per check and a final\n"
	"'N passed, M failed' line; exits 1 if any check failed.";

int cmd_selftest(int argc, char **argv, const struct cli_io *io)
{
	const char *backend = "null";
	const char *model_name = "all";
	const struct cli_opt opts[] = {
		{"backend", 'b', CLI_OPT_STRING, &backend, "NAME", "backend to run on (default: null)"},
		{"model", 'm', CLI_OPT_STRING, &model_name, "MODEL", "svm, vmx or all (default: all)"},
	};
	const struct cli_spec spec = {
		.command = "selftest",
		.description = selftest_description,
		.opts = opts,
		.opt_count = sizeof opts / sizeof opts[0],
	};
	enum cli_parse_result parsed = cli_parse(&spec, argc, argv, io, NULL);
	if (parsed != CLI_PARSE_OK)
		return cli_parse_exit(parsed);

	enum vmsim_model models[2] = {VMSIM_MODEL_SVM, VMSIM_MODEL_VMX};
	size_t model_count = 2;
	if (strcmp(model_name, "all") != 0) {
		if (vmsim_model_parse(model_name, &models[0]) != VMSIM_OK) {
			fprintf(io->err, "vmsim selftest: unknown model '%s' (svm, vmx or all)\n", model_name);
			return CLI_EXIT_USAGE;
		}
		model_count = 1;
	}

	struct tally t = {.out = io->out, .model = "env"};
	struct vmsim_env *env = NULL;
	if (check_result(&t, vmsim_env_create(NULL, &env), VMSIM_OK, "create an env")) {
		check_result(&t, vmsim_register_builtin_backends(env), VMSIM_OK, "register the built-in backends");
		env_quota_is_zero(&t, env, "a fresh env");
		for (size_t i = 0; i < model_count; i++) {
			t.model = vmsim_model_name(models[i]);
			session_life(&t, env, backend, models[i]);
		}
		vmsim_env_destroy(env);
	}
	fprintf(io->out, "selftest: %u passed, %u failed\n", t.passed, t.failed);
	fflush(io->out);
	return t.failed ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
