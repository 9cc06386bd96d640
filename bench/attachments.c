/* bench/attachments.c - what attach, access (region lookup) and detach cost per op as a session grows to 100,000 regions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_internal.h"
#include "bench_vm.h"

enum { STRIDE = 2 * 4096, LOOKUP_BATCH = 16 };

/* A deterministic xorshift: the same detach order and lookups in every run. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

struct attach_run {
	struct bench_samples attach, access, detach;
	char why[160];
};

static void leave_stopped(void *ctx, struct vmsim_vcpu *vcpu)
{
	(void)ctx, (void)vcpu; /* no with_state: the vCPU stays stopped at STARTUP */
}

/*
 * Attach one 4 KiB dataspace n times (a page apart), look regions up, detach in random order; with idle_vcpu
 * one vCPU that never runs exists throughout, so every change also reaches a backend vCPU's own mappings.
 */
static bool run_one(const char *backend, uint64_t n, unsigned lookups, bool idle_vcpu, struct attach_run *run)
{
	struct vmsim_env_config cfg = { .ram_pool = 2ull << 30 };
	struct vmsim_env *env = NULL;
	struct vmsim_session *session = NULL;
	vmsim_ds_cap ds;
	uint64_t *order = malloc(n * sizeof *order);
	enum vmsim_result r = order ? vmsim_env_create(&cfg, &env) : VMSIM_OUT_OF_RAM;
	if (r == VMSIM_OK)
		r = vmsim_register_builtin_backends(env);
	struct vmsim_session_args sa = { .ram_quota = (64ull << 20) + n * 512, .cap_quota = 16, .label = "bench",
	                                 .backend = backend, .model = VMSIM_MODEL_SVM };
	struct vmsim_vcpu *vcpu = NULL;
	if (r == VMSIM_OK)
		r = vmsim_session_open(env, &sa, &session);
	if (r == VMSIM_OK && idle_vcpu) {
		struct vmsim_vcpu_args va = { .handler = leave_stopped };
		r = vmsim_vcpu_create(session, &va, &vcpu);
	}
	if (r == VMSIM_OK)
		r = vmsim_ds_alloc(env, 4096, &ds);
	struct vmsim_attach_attr attr = { 0, 0, false, true };
	for (uint64_t i = 0; r == VMSIM_OK && i < n; i++) {
		uint64_t t0 = vmsim_bench_now_ns();
		struct vmsim_range range;
		r = vmsim_session_attach(session, ds, 0x100000 + i * STRIDE, &attr, &range);
		vmsim_bench_sample_add(&run->attach, (double)(vmsim_bench_now_ns() - t0));
	}
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	for (unsigned i = 0; r == VMSIM_OK && i < lookups; i++) {
		uint64_t gpa[LOOKUP_BATCH];
		for (unsigned k = 0; k < LOOKUP_BATCH; k++)
			gpa[k] = 0x100000 + (next_random(&seed) % n) * STRIDE + 8;
		uint64_t t0 = vmsim_bench_now_ns();
		for (unsigned k = 0; r == VMSIM_OK && k < LOOKUP_BATCH; k++) {
			struct vmsim_region_info info;
			r = vmsim_session_region_at(session, gpa[k], &info);
		}
		vmsim_bench_sample_add(&run->access, (double)(vmsim_bench_now_ns() - t0) / LOOKUP_BATCH);
	}
	for (uint64_t i = 0; order && i < n; i++)
		order[i] = i;
	for (uint64_t i = n; order && i > 1; i--) {
		uint64_t j = next_random(&seed) % i, t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	for (uint64_t i = 0; r == VMSIM_OK && i < n; i++) {
		uint64_t t0 = vmsim_bench_now_ns();
		r = vmsim_session_detach(session, 0x100000 + order[i] * STRIDE, 4096);
		vmsim_bench_sample_add(&run->detach, (double)(vmsim_bench_now_ns() - t0));
	}
	if (r != VMSIM_OK)
		snprintf(run->why, sizeof run->why, "failed: %s", vmsim_result_name(r));
	vmsim_vcpu_destroy(vcpu);
	vmsim_session_close(session);
	vmsim_env_destroy(env);
	free(order);
	return r == VMSIM_OK;
}

static bool keep_running(struct bench_vcpu *vc)
{
	(void)vc;
	return true; /* the spin loop makes no exits: the vCPU stays in guest code until the VM closes */
}

/*
 * Attach n times and detach in random order beside one vCPU executing guest code (a spin loop without
 * exits): every change reaches a running engine, and a detach waits until that vCPU no longer sees it.
 */
/* Why backend cannot keep a vCPU in guest code (its cap_gap for STOP), or NULL; asked before any vCPU starts. */
static const char *cannot_run(const char *backend, char *buf, size_t n)
{
	struct vmsim_env *env = NULL;
	const char *why = NULL;
	if (vmsim_env_create(NULL, &env) == VMSIM_OK && vmsim_register_builtin_backends(env) == VMSIM_OK) {
		const struct vmsim_backend_ops *ops = vmsim_env_backend(env, backend);
		if (ops && !(ops->caps & VMSIM_CAP_STOP)) {
			const char *gap = ops->cap_gap ? ops->cap_gap(VMSIM_CAP_STOP) : NULL;
			snprintf(buf, n, "the vCPU does not run guest code on '%.24s': %.80s", backend,
			         gap ? gap : "no STOP capability");
			why = buf;
		}
	}
	vmsim_env_destroy(env);
	return why;
}

static bool run_running(const char *backend, uint64_t n, struct attach_run *run)
{
	if (cannot_run(backend, run->why, sizeof run->why))
		return false;
	struct bench_vm b;
	struct bench_vm_args args = { .backend = backend, .model = VMSIM_MODEL_SVM, .which = BENCH_PAUSE,
		                      .on_start = keep_running, .extra_ram_quota = (32ull << 20) + n * 512 };
	uint64_t *order = malloc(n * sizeof *order);
	enum vmsim_result r = order ? vmsim_bench_vm_open(&b, &args) : VMSIM_OUT_OF_RAM;
	if (r != VMSIM_OK) {
		snprintf(run->why, sizeof run->why, "setting up a running vCPU: %s", vmsim_result_name(r));
		free(order);
		return false;
	}
	/* running = its STARTUP was answered and it has not stopped since (a backend that cannot run stops at once) */
	struct vmsim_vcpu *vcpu = b.vcpus[0].vcpu;
	struct vmsim_exit last = { .kind = VMSIM_EXIT_STARTUP };
	vmsim_bench_vm_wait_running(&b, 0, 2000000000ull, &last);
	struct timespec settle = { 0, 20000000 };
	nanosleep(&settle, NULL);
	vmsim_vcpu_last_exit(vcpu, &last);
	vmsim_ds_cap ds = { 0 };
	if (last.kind != VMSIM_EXIT_NONE || b.failure[0])
		r = VMSIM_UNSUPPORTED;
	else
		r = vmsim_ds_alloc(b.env, 4096, &ds);
	struct vmsim_attach_attr attr = { 0, 0, false, true };
	for (uint64_t i = 0; r == VMSIM_OK && i < n; i++) {
		struct vmsim_range range;
		uint64_t t0 = vmsim_bench_now_ns();
		r = vmsim_session_attach(b.session, ds, 0x100000 + i * STRIDE, &attr, &range);
		vmsim_bench_sample_add(&run->attach, (double)(vmsim_bench_now_ns() - t0));
	}
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	for (uint64_t i = 0; i < n; i++)
		order[i] = i;
	for (uint64_t i = n; i > 1; i--) {
		uint64_t j = next_random(&seed) % i, t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	for (uint64_t i = 0; r == VMSIM_OK && i < n; i++) {
		uint64_t t0 = vmsim_bench_now_ns();
		r = vmsim_session_detach(b.session, 0x100000 + order[i] * STRIDE, 4096);
		vmsim_bench_sample_add(&run->detach, (double)(vmsim_bench_now_ns() - t0));
	}
	if (r == VMSIM_OK) {
		vmsim_vcpu_last_exit(vcpu, &last);
		if (last.kind != VMSIM_EXIT_NONE || b.failure[0])
			r = VMSIM_BACKEND_ERROR; /* it stopped during the series: the numbers were not with a running vCPU */
	}
	if (r == VMSIM_BACKEND_ERROR && last.kind != VMSIM_EXIT_NONE)
		snprintf(run->why, sizeof run->why, "failed: the vCPU stopped during the series (%s exit)%s%.80s",
		         vmsim_exit_kind_name(last.kind), b.failure[0] ? ": " : "", b.failure);
	else if (r == VMSIM_UNSUPPORTED)
		snprintf(run->why, sizeof run->why, "the vCPU does not run guest code on '%.24s'%s%.80s", backend,
		         b.failure[0] ? ": " : "", b.failure);
	else if (r != VMSIM_OK)
		snprintf(run->why, sizeof run->why, "failed: %s", vmsim_result_name(r));
	vmsim_bench_vm_finish(&b, NULL);
	vmsim_bench_vm_close(&b);
	free(order);
	return r == VMSIM_OK;
}

enum { SERIES = 6 };
static const char *const series[SERIES] = { "attach", "access", "detach", "attach_idle_vcpu", "attach_running_vcpu",
	                                    "detach_running_vcpu" };

void vmsim_bench_attachments(const struct bench_options *opt, const char *backend, struct bench_report *report)
{
	static const uint64_t full[] = { 1, 10, 100, 1000, 10000, 100000 }, quick[] = { 1, 10, 100, 1000 };
	const uint64_t *ns = opt->quick ? quick : full;
	size_t count = opt->quick ? sizeof quick / sizeof *quick : sizeof full / sizeof *full;

	for (size_t i = 0; i < count; i++) {
		struct bench_record *rec[SERIES];
		size_t first = report->count;
		for (int k = 0; k < SERIES; k++) {
			char name[40];
			snprintf(name, sizeof name, "%s_%llu", series[k], (unsigned long long)ns[i]);
			if (!vmsim_bench_report_add(report, backend, "svm", name, series[k]))
				return;
		}
		for (int k = 0; k < SERIES; k++) {
			rec[k] = &report->records[first + k]; /* taken after the last add: an add may move the array */
			rec[k]->x = (double)ns[i];
			snprintf(rec[k]->baseline, sizeof rec[k]->baseline, "none: no raw counterpart");
		}
		struct attach_run run = { 0 }, idle = { 0 }, running = { 0 };
		unsigned lookups = opt->quick ? 50 : 2000;
		bool ok = run_one(backend, ns[i], lookups, false, &run);
		bool idle_ok = run_one(backend, ns[i], 0, true, &idle);
		bool running_ok = run_running(backend, ns[i], &running);
		vmsim_bench_samples_free(&idle.access);
		vmsim_bench_samples_free(&idle.detach);
		struct bench_samples *s[SERIES] = { &run.attach, &run.access, &run.detach, &idle.attach, &running.attach,
			                            &running.detach };
		const struct attach_run *from[SERIES] = { &run, &run, &run, &idle, &running, &running };
		bool fine[SERIES] = { ok, ok, ok, idle_ok, running_ok, running_ok };
		for (int k = 0; k < SERIES; k++) {
			if (!fine[k]) {
				snprintf(rec[k]->skip, sizeof rec[k]->skip, "%s", from[k]->why);
			} else {
				vmsim_bench_record_fill(rec[k], s[k], NULL);
				rec[k]->iterations = k == 1 ? (uint64_t)lookups * LOOKUP_BATCH : ns[i];
			}
			vmsim_bench_samples_free(s[k]);
		}
		if (opt->progress)
			fprintf(opt->progress,
			        "  %-8s attachments %6llu: attach %.0f (%.0f with an idle vCPU, %.0f with a running one), access "
			        "%.0f, detach %.0f (%.0f with a running vCPU) ns/op %s\n",
			        backend, (unsigned long long)ns[i], rec[0]->p50_ns, rec[3]->p50_ns, rec[4]->p50_ns, rec[1]->p50_ns,
			        rec[2]->p50_ns, rec[5]->p50_ns, rec[0]->skip);
	}
}
