/* bench/tests/bench_kvm_lane_test.c - the KVM rows of `vmsim bench --quick`, run inside the KVM lane: complete, never timed. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <linux/kvm.h>
#include <stdatomic.h>

#include "bench_vm.h"

static const char *const vt_models[] = { "svm", "vmx" };

/* argv "full": the default limits instead of --quick's (the docs' measurement run; CTest runs quick). */
static bool vt_full;

/*
 * Every ioctl of libvmsim and the raw baseline passes through here (linked with
 * -Wl,--wrap=ioctl): while vt_profiling is set, count and time them per request,
 * so the profile test can say where an exit's time goes inside the lane (no perf there).
 */
int __real_ioctl(int fd, unsigned long request, ...);
int __wrap_ioctl(int fd, unsigned long request, ...);

static const unsigned long vt_requests[] = { KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS,
	                                     KVM_GET_FPU, KVM_SET_FPU, KVM_GET_DEBUGREGS, KVM_GET_MSRS, KVM_SET_MSRS,
	                                     KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, KVM_GET_XCRS, KVM_TRANSLATE };
static const char *const vt_request_names[] = { "KVM_RUN", "KVM_GET_REGS", "KVM_SET_REGS", "KVM_GET_SREGS",
	                                        "KVM_SET_SREGS", "KVM_GET_FPU", "KVM_SET_FPU", "KVM_GET_DEBUGREGS",
	                                        "KVM_GET_MSRS", "KVM_SET_MSRS", "KVM_GET_VCPU_EVENTS",
	                                        "KVM_SET_VCPU_EVENTS", "KVM_GET_XCRS", "KVM_TRANSLATE", "other" };
enum { VT_NREQ = sizeof vt_requests / sizeof vt_requests[0] + 1 };
static atomic_bool vt_profiling;
static atomic_uint_fast64_t vt_calls[VT_NREQ], vt_ns[VT_NREQ];

int __wrap_ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	va_start(ap, request);
	void *arg = va_arg(ap, void *); /* what glibc's ioctl passes on, whatever the caller's type */
	va_end(ap);
	if (!atomic_load_explicit(&vt_profiling, memory_order_relaxed))
		return __real_ioctl(fd, request, arg);
	unsigned i = 0;
	while (i < VT_NREQ - 1 && vt_requests[i] != request)
		i++;
	uint64_t t0 = vmsim_bench_now_ns();
	int rc = __real_ioctl(fd, request, arg);
	atomic_fetch_add(&vt_ns[i], vmsim_bench_now_ns() - t0);
	atomic_fetch_add(&vt_calls[i], 1);
	return rc;
}

struct vt_profile {
	uint64_t calls[VT_NREQ], ns[VT_NREQ], t;
};

static void vt_snapshot(struct vt_profile *p)
{
	for (unsigned i = 0; i < VT_NREQ; i++)
		p->calls[i] = atomic_load(&vt_calls[i]), p->ns[i] = atomic_load(&vt_ns[i]);
	p->t = vmsim_bench_now_ns();
}

/* b - a, where a may itself be a difference: counters are unsigned, so negative noise wraps and is read back signed. */
static double vt_delta(uint64_t b, uint64_t a)
{
	return (double)(int64_t)(b - a);
}

/* Per exit between two snapshots: calls and microseconds by request, and what is left outside ioctls. */
static void vt_print_profile(const char *what, const struct vt_profile *a, const struct vt_profile *b, uint64_t exits)
{
	double n = (double)exits, total = vt_delta(b->t, a->t) / n / 1000.0, inside = 0;
	printf("ioctl profile, %s: %.1f us per exit\n", what, total);
	for (unsigned i = 0; i < VT_NREQ; i++) {
		double calls = vt_delta(b->calls[i], a->calls[i]) / n, us = vt_delta(b->ns[i], a->ns[i]) / n / 1000.0;
		if (calls == 0)
			continue;
		inside += us;
		printf("  %-20s %5.2f calls %8.1f us per exit\n", vt_request_names[i], calls, us);
	}
	printf("  %-20s %20.1f us per exit\n", "outside ioctls", total - inside);
}

/* (p2 - p1) - (p1 - p0): what the second run's extra exits cost, its set-up and tear-down cancelled out. */
static void vt_extra(struct vt_profile *d, const struct vt_profile *p0, const struct vt_profile *p1,
                     const struct vt_profile *p2)
{
	for (unsigned i = 0; i < VT_NREQ; i++) {
		d->calls[i] = (p2->calls[i] - p1->calls[i]) - (p1->calls[i] - p0->calls[i]);
		d->ns[i] = (p2->ns[i] - p1->ns[i]) - (p1->ns[i] - p0->ns[i]);
	}
	d->t = (p2->t - p1->t) - (p1->t - p0->t);
}

/* The capability each case needs (exit_cases.c asks the backend the same). */
static uint64_t vt_case_cap(enum bench_case c)
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
	case BENCH_IO_OUT_PM32_PAGED: /* started with 32-bit paging on */
		return VMSIM_CAP_EXIT_IO | VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_PAGING_LEGACY;
	default:
		return VMSIM_CAP_EXIT_IO;
	}
}

static const struct bench_record *vt_find(const struct bench_report *r, const char *model, const char *name,
                                          unsigned *count)
{
	const struct bench_record *found = NULL;
	*count = 0;
	for (size_t i = 0; i < r->count; i++) {
		const struct bench_record *rec = &r->records[i];
		if (!strcmp(rec->backend, "kvm") && !strcmp(rec->model, model) && !strcmp(rec->name, name)) {
			found = rec;
			++*count;
		}
	}
	return found;
}

/* Inside the lane /dev/kvm exists and the kvm backend is built in: a skip for that reason is a broken lane. */
static void kvm_is_usable_here(void **state)
{
	(void)state;
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(NULL, &env), VMSIM_OK);
	assert_int_equal(vmsim_register_builtin_backends(env), VMSIM_OK);
	char buf[256];
	const char *why = vmsim_bench_kvm_unavailable(env, buf, sizeof buf);
	if (why)
		fail_msg("KVM rows cannot run: %s", why);
	vmsim_env_destroy(env);
}

/* The raw baseline alone delivers every exit it claims, with as many samples as the limits ask. */
static void raw_baseline_delivers_each_exit(void **state)
{
	(void)state;
	struct bench_options opt = { .quick = true };
	for (unsigned ci = 0; ci < BENCH_CASE_COUNT; ci++) {
		struct bench_limits lim;
		struct bench_samples s = { 0 };
		char why[160] = "";
		vmsim_bench_limits(&opt, (enum bench_case)ci, &lim);
		bool ok = vmsim_bench_raw_kvm_case((enum bench_case)ci, &lim, &s, why, sizeof why);
		if (ci == BENCH_CPUID) {
			assert_false(ok);
			assert_non_null(strstr(why, "CPUID"));
		} else {
			if (!ok)
				fail_msg("raw %s: %s", vmsim_bench_guest((enum bench_case)ci)->name, why);
			if (s.n == 0)
				fail_msg("raw %s: no samples", vmsim_bench_guest((enum bench_case)ci)->name);
			for (size_t i = 0; i < s.n; i++)
				assert_true(isfinite(s.v[i]) && s.v[i] > 0);
		}
		vmsim_bench_samples_free(&s);
	}
}

/* `vmsim bench --backend kvm --quick`'s exit cases: every model x case, measured with a baseline or skipped with why. */
static void every_kvm_row_is_measured_or_skipped_with_a_reason(void **state)
{
	(void)state;
	struct bench_options opt = { .quick = !vt_full, .backend = "kvm", .progress = stdout };
	struct bench_report report = { .records = NULL };
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(NULL, &env), VMSIM_OK);
	assert_int_equal(vmsim_register_builtin_backends(env), VMSIM_OK);
	const struct vmsim_backend_ops *ops = vmsim_env_backend(env, "kvm");
	assert_non_null(ops);

	vmsim_bench_provenance(&report.prov);
	assert_int_equal(vmsim_bench_exit_cases(&opt, "kvm", &report), VMSIM_OK);
	printf("\n");
	vmsim_bench_print_table(&report, stdout);

	for (unsigned m = 0; m < 2; m++) {
		for (unsigned ci = 0; ci < BENCH_CASE_COUNT; ci++) {
			const char *name = vmsim_bench_guest((enum bench_case)ci)->name;
			unsigned count;
			const struct bench_record *rec = vt_find(&report, vt_models[m], name, &count);
			if (count != 1)
				fail_msg("kvm %s %s: %u records", vt_models[m], name, count);
			bool delivered = (ops->caps & vt_case_cap((enum bench_case)ci)) == vt_case_cap((enum bench_case)ci);
			if (!delivered) {
				if (!rec->skip[0])
					fail_msg("kvm %s %s: measured without the capability", vt_models[m], name);
				continue;
			}
			if (rec->skip[0])
				fail_msg("kvm %s %s skipped: %s", vt_models[m], name, rec->skip);
			assert_true(isfinite(rec->p50_ns) && rec->p50_ns > 0);
			assert_true(rec->p99_ns >= rec->p50_ns);
			assert_true(rec->iterations > 0);
			if (!isfinite(rec->baseline_p50_ns))
				fail_msg("kvm %s %s: no baseline: %s", vt_models[m], name, rec->baseline);
			assert_true(rec->baseline_p50_ns > 0);
			assert_true(fabs(rec->ratio - rec->p50_ns / rec->baseline_p50_ns) <= 1e-9 * rec->ratio);
			assert_non_null(strstr(rec->baseline, "KVM"));
		}
	}
	FILE *json = tmpfile();
	assert_non_null(json);
	assert_true(vmsim_bench_write_json(&report, json));
	fclose(json);
	vmsim_bench_report_free(&report);
	vmsim_env_destroy(env);
}

enum { VT_WARM = 16, VT_EXITS = 256 };

struct vt_counted {
	unsigned exits;
	struct vt_profile a, b;
};

/* The vmsim side: after VT_WARM exits, profile exactly VT_EXITS full round trips (handler to handler). */
static bool vt_count_exit(struct bench_vcpu *vc)
{
	struct vt_counted *c = vc->vm->user;
	c->exits++;
	if (c->exits == VT_WARM) {
		atomic_store(&vt_profiling, true);
		vt_snapshot(&c->a);
	} else if (c->exits == VT_WARM + VT_EXITS) {
		vt_snapshot(&c->b);
		atomic_store(&vt_profiling, false);
		vmsim_bench_vm_finish(vc->vm, NULL);
		return false;
	}
	return true;
}

/*
 * The raw baseline is bare: each extra exit costs exactly one more KVM_RUN and no other
 * ioctl. The vmsim side's ioctls per exit are printed with their time (the docs' profile).
 */
static void vt_profile_case(enum bench_case c)
{
	const char *name = vmsim_bench_guest(c)->name;
	unsigned batch = c == BENCH_IO_OUT ? BENCH_BATCH : 8;
	struct bench_limits few = { 4, UINT64_MAX / 2, batch }, more = { 12, UINT64_MAX / 2, batch };
	struct bench_samples s = { 0 };
	struct vt_profile p0, p1, p2;
	char why[160] = "";
	atomic_store(&vt_profiling, true);
	vt_snapshot(&p0);
	assert_true(vmsim_bench_raw_kvm_case(c, &few, &s, why, sizeof why));
	vt_snapshot(&p1);
	vmsim_bench_samples_free(&s); /* the batch clock counts samples already in s */
	assert_true(vmsim_bench_raw_kvm_case(c, &more, &s, why, sizeof why));
	vt_snapshot(&p2);
	atomic_store(&vt_profiling, false);
	double raw_p50 = vmsim_bench_quantile(&s, 0.5);
	vmsim_bench_samples_free(&s);
	uint64_t extra = (more.max_samples - few.max_samples) * batch;
	struct vt_profile d;
	vt_extra(&d, &p0, &p1, &p2);
	for (unsigned i = 0; i < VT_NREQ; i++)
		if (d.calls[i] != (i == 0 ? extra : 0)) /* vt_requests[0] is KVM_RUN */
			fail_msg("raw %s: %s grew by %lld for %llu more exits", name, vt_request_names[i],
			         (long long)(int64_t)d.calls[i], (unsigned long long)extra);

	for (unsigned m = 0; m < 2; m++) {
		struct vt_counted counted = { 0 };
		struct bench_vm b;
		struct bench_vm_args args = { .backend = "kvm", .model = m ? VMSIM_MODEL_VMX : VMSIM_MODEL_SVM,
			                      .which = c, .lim = few, .on_exit = vt_count_exit, .user = &counted };
		assert_int_equal(vmsim_bench_vm_open(&b, &args), VMSIM_OK);
		bool ok = vmsim_bench_vm_wait(&b, 60ull * 1000000000ull);
		atomic_store(&vt_profiling, false);
		if (!ok)
			fail_msg("vmsim %s on kvm: %s", name, b.failure);
		vmsim_bench_vm_close(&b);
		assert_int_equal(counted.exits, VT_WARM + VT_EXITS);
		/* at least the resume itself (vt_requests[0] is KVM_RUN); more is the backend's own completion step */
		assert_true(counted.b.calls[0] - counted.a.calls[0] >= VT_EXITS);
		/* an IN the VMM answered is fed to KVM's own completion: exactly one KVM_RUN per exit on every host
		 * where IN waits at the instruction (all measured: QEMU-lane SVM, PVM; before: 2 on PVM) */
		if (c == BENCH_IO_IN || c == BENCH_MMIO_READ) /* the same for an MMIO read by a plain MOV */
			assert_int_equal(counted.b.calls[0] - counted.a.calls[0], VT_EXITS);
		char what[96];
		snprintf(what, sizeof what, "vmsim %s, %s, minimal Exit_config", name, m ? "vmx" : "svm");
		vt_print_profile(what, &counted.a, &counted.b, VT_EXITS);
	}
	/* the difference of two runs counts exactly, but its time is swamped by the first KVM_RUN's set-up */
	printf("ioctl profile, raw KVM_RUN loop %s: 1 KVM_RUN and no other ioctl per exit, p50 %.1f us per exit\n",
	       name, raw_p50 / 1000.0);
}

/* Port I/O (OUT and IN), MMIO (write and read) and HLT: the three ways the kvm backend turns a KVM exit into a vmsim one. */
static void ioctl_profile_per_exit(void **state)
{
	(void)state;
	vt_profile_case(BENCH_IO_OUT);
	vt_profile_case(BENCH_IO_IN);
	vt_profile_case(BENCH_MMIO_WRITE);
	vt_profile_case(BENCH_MMIO_READ);
	vt_profile_case(BENCH_HLT);
}

int main(int argc, char **argv)
{
	vt_full = argc > 1 && !strcmp(argv[1], "full");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kvm_is_usable_here),
		cmocka_unit_test(raw_baseline_delivers_each_exit),
		cmocka_unit_test(ioctl_profile_per_exit),
		cmocka_unit_test(every_kvm_row_is_measured_or_skipped_with_a_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
