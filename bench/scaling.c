/* bench/scaling.c - scaling curves: concurrent vCPU exit loops, attachments 1..100,000, session and vCPU life cycles. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench_vm.h"

struct vcpu_group {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned ready;
	bool go;
	atomic_bool stop;
	atomic_uint stopped;
};

static bool group_start(struct bench_vcpu *vc)
{
	(void)vc;
	return true; /* run into the loop; the first OUT exit waits for the others */
}

static bool group_exit(struct bench_vcpu *vc)
{
	struct vcpu_group *g = vc->vm->user;
	if (atomic_load_explicit(&g->stop, memory_order_relaxed)) {
		atomic_fetch_add(&g->stopped, 1);
		return false;
	}
	if (vc->batch.lim.batch == 0) { /* the first exit: wait for the others */
		pthread_mutex_lock(&g->lock);
		g->ready++;
		pthread_cond_broadcast(&g->cond);
		while (!g->go)
			pthread_cond_wait(&g->cond, &g->lock);
		pthread_mutex_unlock(&g->lock);
		struct bench_limits forever = { (size_t)-1, ~0ull, BENCH_BATCH };
		vmsim_bench_batch_start(&vc->batch, &forever, &vc->samples);
		return true;
	}
	vmsim_bench_batch_tick(&vc->batch);
	return true;
}

static void sleep_for(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
	nanosleep(&ts, NULL);
}

/* n vCPUs of one session on the OUT loop, released together, measured for window ns. */
static bool vmsim_vcpus(const char *backend, unsigned n, uint64_t window, struct bench_samples *out,
                        uint64_t *exits, char *why, size_t why_size)
{
	struct vcpu_group g = { .ready = 0 };
	pthread_mutex_init(&g.lock, NULL);
	pthread_cond_init(&g.cond, NULL);
	struct bench_vm b;
	struct bench_vm_args args = { .backend = backend, .model = VMSIM_MODEL_SVM, .which = BENCH_IO_OUT,
		                      .vcpus = n, .on_start = group_start, .on_exit = group_exit, .user = &g };
	enum vmsim_result r = vmsim_bench_vm_open(&b, &args);
	bool ok = r == VMSIM_OK;
	if (!ok)
		snprintf(why, why_size, "failed: opening a session with %u vCPUs: %s", n, vmsim_result_name(r));
	uint64_t t0 = vmsim_bench_now_ns();
	if (ok) {
		pthread_mutex_lock(&g.lock);
		while (g.ready < n && vmsim_bench_now_ns() - t0 < 60000000000ull && !atomic_load(&b.finished)) {
			pthread_mutex_unlock(&g.lock);
			sleep_for(1000000);
			pthread_mutex_lock(&g.lock);
		}
		ok = g.ready == n;
		g.go = true;
		pthread_cond_broadcast(&g.cond);
		pthread_mutex_unlock(&g.lock);
		if (!ok)
			snprintf(why, why_size, "failed: %.140s", b.failure[0] ? b.failure : "the vCPUs did not all start");
	}
	if (ok)
		sleep_for(window);
	atomic_store(&g.stop, true);
	for (int i = 0; ok && atomic_load(&g.stopped) < n && i < 60000; i++)
		sleep_for(1000000);
	*exits = 0;
	for (unsigned i = 0; ok && i < b.nvcpus; i++) {
		*exits += b.vcpus[i].batch.exits;
		for (size_t k = 0; k < b.vcpus[i].samples.n; k++)
			vmsim_bench_sample_add(out, b.vcpus[i].samples.v[k]);
	}
	if (r == VMSIM_OK)
		vmsim_bench_vm_close(&b);
	pthread_cond_destroy(&g.cond);
	pthread_mutex_destroy(&g.lock);
	return ok;
}

static void vcpu_curve(const struct bench_options *opt, const char *backend, struct bench_report *report)
{
	static const unsigned full[] = { 1, 2, 4, 8, 16, 32, 64 }, quick[] = { 1, 2, 4 };
	const unsigned *ns = opt->quick ? quick : full;
	size_t count = opt->quick ? sizeof quick / sizeof *quick : sizeof full / sizeof *full;
	uint64_t window = opt->quick ? 20000000ull : 250000000ull;
	bool unicorn = !strcmp(backend, "unicorn");

	for (size_t i = 0; i < count; i++) {
		char name[40];
		snprintf(name, sizeof name, "vcpus_%u", ns[i]);
		struct bench_record *rec = vmsim_bench_report_add(report, backend, "svm", name, "vcpus");
		if (!rec)
			return;
		rec->x = ns[i];
		snprintf(rec->baseline, sizeof rec->baseline, "%u raw engines on %u threads, UC_HOOK_INSN(OUT)", ns[i], ns[i]);
		if (!unicorn) {
			snprintf(rec->skip, sizeof rec->skip, "%s",
			         strcmp(backend, "kvm") ? "exit loops need a backend that runs guests (unicorn, kvm)"
			                                : "unicorn only: the KVM lane has one emulated CPU for all vCPUs");
			continue;
		}
		struct bench_samples s = { 0 }, base = { 0 };
		uint64_t exits = 0, base_exits = 0;
		char base_why[160] = "";
		bool have_base = vmsim_bench_raw_uc_threads(ns[i], window, &base, &base_exits, base_why, sizeof base_why);
		if (vmsim_vcpus(backend, ns[i], window, &s, &exits, rec->skip, sizeof rec->skip)) {
			rec->skip[0] = 0;
			vmsim_bench_record_fill(rec, &s, have_base ? &base : NULL);
			rec->iterations = exits;
			rec->aggregate_rate = (double)exits / ((double)window / 1e9);
			rec->per_vcpu_rate = rec->aggregate_rate / ns[i];
		}
		if (opt->progress)
			fprintf(opt->progress, "  %-8s vcpus %3u: p50 %6.0f ns/exit, %.3g exits/s/vCPU %s\n", backend, ns[i],
			        rec->p50_ns, rec->per_vcpu_rate, rec->skip);
		vmsim_bench_samples_free(&s);
		vmsim_bench_samples_free(&base);
	}
}

static void life_cycles(const struct bench_options *opt, const char *backend, struct bench_report *report);

/* Why backend has no scaling rows here, or NULL. */
static const char *scaling_unavailable(const char *backend, char *buf, size_t n)
{
	struct vmsim_env *env = NULL;
	const char *why = NULL;
	if (vmsim_env_create(NULL, &env) != VMSIM_OK || vmsim_register_builtin_backends(env) != VMSIM_OK) {
		why = "cannot create an env";
	} else if (!strcmp(backend, "kvm") && (why = vmsim_bench_kvm_unavailable(env, buf, n)) != NULL) {
		/* why says it */
	} else if (!vmsim_env_backend(env, backend)) {
		snprintf(buf, n, "backend '%s' is not built into this libvmsim", backend);
		why = buf;
	}
	vmsim_env_destroy(env);
	return why;
}

enum vmsim_result vmsim_bench_scaling(const struct bench_options *opt, const char *backend,
                                      struct bench_report *report)
{
	static const char *const rows[][2] = { { "vcpus", "vcpus" }, { "attach", "attach" }, { "access", "access" },
		                               { "detach", "detach" }, { "session_open_close", "session" },
		                               { "vcpu_create_destroy", "vcpu" } };
	char buf[160];
	const char *why = scaling_unavailable(backend, buf, sizeof buf);
	if (why) {
		for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
			struct bench_record *rec = vmsim_bench_report_add(report, backend, "svm", rows[i][0], rows[i][1]);
			if (!rec)
				return VMSIM_OUT_OF_RAM;
			snprintf(rec->skip, sizeof rec->skip, "%s", why);
		}
		return VMSIM_OK;
	}
	vcpu_curve(opt, backend, report);
	vmsim_bench_attachments(opt, backend, report);
	life_cycles(opt, backend, report);
	return VMSIM_OK;
}

static void no_handler(void *ctx, struct vmsim_vcpu *vcpu)
{
	(void)ctx, (void)vcpu; /* leave the vCPU at its STARTUP stop */
}

/* session open+close and vCPU create+destroy, each pair timed. */
static void life_cycles(const struct bench_options *opt, const char *backend, struct bench_report *report)
{
	unsigned sessions = opt->quick ? 20 : 300, vcpus = opt->quick ? 5 : 60;
	size_t first = report->count;
	if (!vmsim_bench_report_add(report, backend, "svm", "session_open_close", "session") ||
	    !vmsim_bench_report_add(report, backend, "svm", "vcpu_create_destroy", "vcpu"))
		return;
	/* taken after the last add: an add may move the array */
	struct bench_record *srec = &report->records[first], *vrec = &report->records[first + 1];
	snprintf(srec->baseline, sizeof srec->baseline, "none: no raw counterpart");
	snprintf(vrec->baseline, sizeof vrec->baseline, "raw uc_open(UC_MODE_64) + first register write + uc_close");
	struct vmsim_env *env = NULL;
	struct bench_samples s = { 0 }, v = { 0 }, base = { 0 };
	enum vmsim_result r = vmsim_env_create(NULL, &env);
	if (r == VMSIM_OK)
		r = vmsim_register_builtin_backends(env);
	if (r == VMSIM_OK && !vmsim_env_backend(env, backend))
		r = VMSIM_UNSUPPORTED;
	struct vmsim_session_args sa = { .ram_quota = VMSIM_SESSION_DEFAULT_RAM, .cap_quota = VMSIM_SESSION_DEFAULT_CAPS,
		                         .label = "bench", .backend = backend, .model = VMSIM_MODEL_SVM };
	for (unsigned i = 0; r == VMSIM_OK && i < sessions; i++) {
		struct vmsim_session *session;
		uint64_t t0 = vmsim_bench_now_ns();
		r = vmsim_session_open(env, &sa, &session);
		vmsim_session_close(session);
		vmsim_bench_sample_add(&s, (double)(vmsim_bench_now_ns() - t0));
	}
	struct vmsim_session *session = NULL;
	if (r == VMSIM_OK)
		r = vmsim_session_open(env, &sa, &session);
	for (unsigned i = 0; r == VMSIM_OK && i < vcpus; i++) {
		struct vmsim_vcpu *vcpu;
		struct vmsim_vcpu_args va = { no_handler, NULL, NULL, NULL };
		uint64_t t0 = vmsim_bench_now_ns();
		r = vmsim_vcpu_create(session, &va, &vcpu);
		vmsim_vcpu_destroy(vcpu);
		vmsim_bench_sample_add(&v, (double)(vmsim_bench_now_ns() - t0));
	}
	vmsim_session_close(session);
	vmsim_env_destroy(env);
	bool have_base = !strcmp(backend, "unicorn") && vmsim_bench_raw_uc_open_close(vcpus, &base);
	if (!have_base)
		snprintf(vrec->baseline, sizeof vrec->baseline, "none: no raw counterpart");
	if (r != VMSIM_OK) {
		snprintf(srec->skip, sizeof srec->skip, "failed: %s", vmsim_result_name(r));
		snprintf(vrec->skip, sizeof vrec->skip, "failed: %s", vmsim_result_name(r));
	} else {
		vmsim_bench_record_fill(srec, &s, NULL);
		srec->iterations = s.n;
		vmsim_bench_record_fill(vrec, &v, have_base ? &base : NULL);
		vrec->iterations = v.n;
	}
	if (opt->progress)
		fprintf(opt->progress, "  %-8s session open+close p50 %.0f ns, vcpu create+destroy p50 %.0f ns\n", backend,
		        srec->p50_ns, vrec->p50_ns);
	vmsim_bench_samples_free(&s);
	vmsim_bench_samples_free(&v);
	vmsim_bench_samples_free(&base);
}
