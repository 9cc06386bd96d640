/* bench/exit_cases.c - every exit case on one backend and both models, each next to its raw baseline. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench_vm.h"

/* The capability a case needs from the backend. */
static uint64_t case_cap(enum bench_case c)
{
	switch (c) {
	case BENCH_MMIO_WRITE:
	case BENCH_MMIO_READ:
		return VMSIM_CAP_EXIT_NPF | VMSIM_CAP_EXIT_MMIO_DECODE;
	case BENCH_CPUID:
		return VMSIM_CAP_EXIT_CPUID;
	case BENCH_HLT:
		return VMSIM_CAP_EXIT_HLT;
	case BENCH_PAUSE:
		return VMSIM_CAP_STOP;
	case BENCH_IO_OUT_PM32:
		return VMSIM_CAP_EXIT_IO | VMSIM_CAP_MODE_PROTECTED;
	case BENCH_IO_OUT_PM32_PAGED: /* the VMM starts it with 32-bit paging on */
		return VMSIM_CAP_EXIT_IO | VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_PAGING_LEGACY;
	default:
		return VMSIM_CAP_EXIT_IO;
	}
}

/* Why backend cannot run case c here, or NULL: host_why (the host cannot run it at all), else per case. */
static const char *unavailable(const struct vmsim_env *env, const char *backend, const char *host_why,
                               enum bench_case c, char *buf, size_t n)
{
	const struct vmsim_backend_ops *ops = vmsim_env_backend(env, backend);
	if (host_why)
		return host_why;
	if (!ops) {
		snprintf(buf, n, "backend '%s' is not built into this libvmsim", backend);
		return buf;
	}
	uint64_t need = case_cap(c);
	for (uint64_t bit = 1; bit; bit <<= 1) {
		if (!(need & bit) || (ops->caps & bit))
			continue;
		const char *gap = ops->cap_gap ? ops->cap_gap(bit) : NULL;
		snprintf(buf, n, "no %s: %s", vmsim_backend_cap_name(bit), gap ? gap : "the backend lacks it");
		return buf;
	}
	return NULL;
}

static bool raw_baseline(const char *backend, enum bench_case c, const struct bench_limits *lim,
                         struct bench_samples *out, char *why, size_t n)
{
	/* one baseline for both pm32 cases, so their ratios compare guest paging alone */
	if (c == BENCH_IO_OUT_PM32 || c == BENCH_IO_OUT_PM32_PAGED)
		c = BENCH_IO_OUT;
	if (!strcmp(backend, "unicorn"))
		return vmsim_bench_raw_uc_case(c, lim, out, why, n);
	if (!strcmp(backend, "kvm"))
		return vmsim_bench_raw_kvm_case(c, lim, out, why, n);
	snprintf(why, n, "no raw baseline for backend '%s'", backend);
	return false;
}

static void sleep_ns(long ns)
{
	struct timespec ts = { 0, ns };
	nanosleep(&ts, NULL);
}

/* The pauser: recall the spinning vCPU from this thread, let it run on, repeat. */
static bool drive_pauses(struct bench_vm *b)
{
	struct bench_vcpu *vc = &b->vcpus[0];
	struct vmsim_exit last;
	/* a recall that met the unanswered STARTUP would be answered by that STARTUP, not PAUSED (spec "Recall") */
	if (!vmsim_bench_vm_wait_running(b, 0, 10000000000ull, &last)) {
		vmsim_bench_vm_finish(b, "the vCPU did not run after its STARTUP");
		return false;
	}
	uint64_t t_start = vmsim_bench_now_ns();
	/* at least one recall, however slow the machine (the KVM lane is emulated and shared) */
	while (vc->samples.n == 0 ||
	       (vc->samples.n < b->lim.max_samples && vmsim_bench_now_ns() - t_start < b->lim.duration_ns)) {
		uint64_t before = atomic_load(&b->answered);
		sleep_ns(200000);
		atomic_store(&b->pause_at, vmsim_bench_now_ns());
		if (vmsim_vcpu_pause(vc->vcpu) != VMSIM_OK) {
			vmsim_bench_vm_finish(b, "vmsim_vcpu_pause refused");
			return false;
		}
		for (int i = 0; atomic_load(&b->answered) == before; i++) {
			if (i > 200000 || atomic_load(&b->finished)) {
				vmsim_bench_vm_finish(b, "a recall was never answered with PAUSED");
				return false;
			}
			sleep_ns(10000);
		}
	}
	vmsim_bench_vm_finish(b, NULL);
	return true;
}

/* One vmsim measurement; false with the reason in why. */
static bool measure_vmsim(const char *backend, enum vmsim_model model, enum bench_case c,
                          const struct bench_limits *lim, struct bench_samples *out, char *why, size_t n)
{
	struct bench_vm b;
	struct bench_vm_args args = { .backend = backend, .model = model, .which = c, .lim = *lim,
		                      .entrypoint = c == BENCH_IO_OUT_EP, .full_state = c == BENCH_IO_OUT_FULL };
	enum vmsim_result r = vmsim_bench_vm_open(&b, &args);
	if (r != VMSIM_OK) {
		snprintf(why, n, "setting up the session: %s", vmsim_result_name(r));
		return false;
	}
	bool ok = c == BENCH_PAUSE ? drive_pauses(&b) : true;
	ok = vmsim_bench_vm_wait(&b, 60ull * 1000000000ull) && ok;
	if (!ok)
		snprintf(why, n, "failed: %.140s", b.failure[0] ? b.failure : "no reason given");
	struct bench_samples *s = &b.vcpus[0].samples;
	for (size_t i = 0; ok && i < s->n; i++)
		vmsim_bench_sample_add(out, s->v[i]);
	vmsim_bench_vm_close(&b);
	return ok;
}

static void progress(const struct bench_options *opt, const struct bench_record *rec)
{
	if (!opt->progress)
		return;
	if (rec->skip[0])
		fprintf(opt->progress, "  %-8s %-4s %-22s skipped: %s\n", rec->backend, rec->model, rec->name, rec->skip);
	else
		fprintf(opt->progress, "  %-8s %-4s %-22s p50 %9.0f ns  base %9.0f ns  ratio %6.2f\n", rec->backend,
		        rec->model, rec->name, rec->p50_ns, rec->baseline_p50_ns, rec->ratio);
	fflush(opt->progress);
}

static bool stop_restart(enum bench_case c, const struct bench_limits *lim, struct bench_samples *out, char *why,
                         size_t n)
{
	(void)c;
	return vmsim_bench_raw_uc_stop_restart(lim, out, why, n);
}

/*
 * The raw-only rows, each set against the raw in-hook exit of its loop measured just after: what an exit costs when
 * it leaves uc_emu_start and enters again (the other design), and the floor 2.0.1's hooks put under the backend's
 * port I/O exits (what is left of a vmsim exit above it is vmsim's own).
 */
static const struct raw_row {
	const char *name;
	enum bench_case loop;  /* the guest and the baseline */
	enum bench_case batch; /* the batch size of the row's own samples */
	bool (*measure)(enum bench_case c, const struct bench_limits *lim, struct bench_samples *out, char *why,
	                size_t n);
} raw_rows[] = {
	{ "io_out_stop_restart", BENCH_IO_OUT, BENCH_HLT, stop_restart }, /* microsecond exits: small batches */
	{ "io_out_backend_floor", BENCH_IO_OUT, BENCH_IO_OUT, vmsim_bench_raw_uc_floor },
	{ "io_in_backend_floor", BENCH_IO_IN, BENCH_IO_IN, vmsim_bench_raw_uc_floor },
};

_Static_assert(sizeof raw_rows / sizeof raw_rows[0] <= 8, "driver.c's case list (RAW_ROWS_MAX) holds them all");

const char *vmsim_bench_raw_row_name(unsigned i)
{
	return i < sizeof raw_rows / sizeof raw_rows[0] ? raw_rows[i].name : NULL;
}

static void raw_row(const struct bench_options *opt, const struct raw_row *row, struct bench_report *report)
{
	struct bench_record *rec = vmsim_bench_report_add(report, "unicorn", "none", row->name, "raw");
	if (!rec)
		return;
	struct bench_limits lim, fast;
	struct bench_samples s = { 0 }, base = { 0 };
	vmsim_bench_limits(opt, row->batch, &lim);
	vmsim_bench_limits(opt, row->loop, &fast);
	snprintf(rec->baseline, sizeof rec->baseline, "%s", vmsim_bench_guest(row->loop)->baseline);
	bool ok = row->measure(row->loop, &lim, &s, rec->skip, sizeof rec->skip) &&
	          vmsim_bench_raw_uc_case(row->loop, &fast, &base, rec->skip, sizeof rec->skip);
	if (ok) {
		rec->skip[0] = 0;
		vmsim_bench_record_fill(rec, &s, &base);
		rec->iterations = (uint64_t)s.n * lim.batch;
	}
	progress(opt, rec);
	vmsim_bench_samples_free(&s);
	vmsim_bench_samples_free(&base);
}

enum vmsim_result vmsim_bench_exit_cases(const struct bench_options *opt, const char *backend,
                                         struct bench_report *report)
{
	static const enum vmsim_model models[] = { VMSIM_MODEL_SVM, VMSIM_MODEL_VMX };
	struct vmsim_env *env = NULL;
	enum vmsim_result r = vmsim_env_create(NULL, &env);
	if (r == VMSIM_OK)
		r = vmsim_register_builtin_backends(env);
	if (r != VMSIM_OK) {
		vmsim_env_destroy(env);
		return r;
	}
	char host_buf[sizeof report->records[0].skip];
	const char *host_why = strcmp(backend, "kvm") ? NULL : vmsim_bench_kvm_unavailable(env, host_buf, sizeof host_buf);
	for (unsigned m = 0; m < 2; m++) {
		for (unsigned ci = 0; ci < BENCH_CASE_COUNT; ci++) {
			enum bench_case c = (enum bench_case)ci;
			const struct bench_guest *g = vmsim_bench_guest(c);
			if (opt->only_case && strcmp(opt->only_case, g->name))
				continue;
			struct bench_record *rec =
				vmsim_bench_report_add(report, backend, vmsim_model_name(models[m]), g->name, "exit");
			if (!rec) {
				vmsim_env_destroy(env);
				return VMSIM_OUT_OF_RAM;
			}
			snprintf(rec->baseline, sizeof rec->baseline, "%s",
			         strcmp(backend, "kvm") ? g->baseline : vmsim_bench_raw_kvm_baseline(c));
			const char *why = unavailable(env, backend, host_why, c, rec->skip, sizeof rec->skip);
			if (why) {
				if (why != rec->skip)
					snprintf(rec->skip, sizeof rec->skip, "%s", why);
				progress(opt, rec);
				continue;
			}
			struct bench_limits lim;
			struct bench_samples s = { 0 }, base = { 0 };
			vmsim_bench_limits(opt, c, &lim);
			char base_why[160] = "";
			bool have_base = raw_baseline(backend, c, &lim, &base, base_why, sizeof base_why);
			if (measure_vmsim(backend, models[m], c, &lim, &s, rec->skip, sizeof rec->skip)) {
				rec->skip[0] = 0;
				vmsim_bench_record_fill(rec, &s, have_base ? &base : NULL);
				rec->iterations = (uint64_t)s.n * lim.batch;
				if (!have_base) {
					/* the reason is cut to fit the record's field rather than overflow it */
					snprintf(rec->baseline, sizeof rec->baseline, "unavailable: %.*s",
					         (int)(sizeof rec->baseline - sizeof "unavailable: "), base_why);
				}
			}
			progress(opt, rec);
			vmsim_bench_samples_free(&s);
			vmsim_bench_samples_free(&base);
		}
	}
	for (size_t i = 0; i < sizeof raw_rows / sizeof raw_rows[0]; i++)
		if (!strcmp(backend, "unicorn") && vmsim_env_backend(env, "unicorn") &&
		    (!opt->only_case || !strcmp(opt->only_case, raw_rows[i].name)))
			raw_row(opt, &raw_rows[i], report);
	vmsim_env_destroy(env);
	return VMSIM_OK;
}
