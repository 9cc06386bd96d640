/* core/tests/exec_test.c - the execution model on the vt-cpu double: STARTUP, with_state, pause, entrypoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <string.h>

#include "vt_exec.h"

enum { LOG_MAX = 4096, GUEST_GPA = 0x1000 };

struct entry {
	unsigned reason;
	uint64_t ip, ip_len, qual_primary, qual_secondary;
};

struct rec;
typedef bool (*policy_fn)(struct rec *r, struct vmsim_vcpu_state *st);

struct rec {
	pthread_mutex_t lock;
	enum vmsim_model model;
	policy_fn policy;
	unsigned n;
	struct entry log[LOG_MAX];
	unsigned seen_ax_charged, out_values[16], outs;
	struct vmsim_vcpu *vcpu;
	const struct vmsim_exit_config *config;
};

/* Literal exit codes (APM vol. 2 appendix C / SDM vol. 3D appendix C), not the model's table. */
static unsigned code(struct rec *r, enum vmsim_exit_kind kind)
{
	bool svm = r->model == VMSIM_MODEL_SVM;

	switch (kind) {
	case VMSIM_EXIT_IO: return svm ? 0x7b : 30;
	case VMSIM_EXIT_HLT: return svm ? 0x78 : 12;
	case VMSIM_EXIT_CPUID: return svm ? 0x72 : 10;
	default: fail_msg("no literal code for kind %d", (int)kind);
	}
	return 0;
}

static bool record(void *ctx, struct vmsim_vcpu_state *st)
{
	struct rec *r = ctx;
	pthread_mutex_lock(&r->lock);
	if (r->n < LOG_MAX)
		r->log[r->n++] = (struct entry){ st->exit_reason, st->ip.value, st->ip_len.value, st->qual_primary.value,
			                         st->qual_secondary.value };
	pthread_mutex_unlock(&r->lock);
	return r->policy(r, st);
}

static void handler(void *ctx, struct vmsim_vcpu *vcpu)
{
	/* DENIED is the spec's answer while the vCPU is being destroyed (a handler may still run then) */
	enum vmsim_result r = vmsim_vcpu_with_state(vcpu, record, ctx);
	if (r != VMSIM_DENIED)
		assert_int_equal(r, VMSIM_OK);
}

/* Flat real-mode-like start at GUEST_GPA with HLT intercepted (and unrestricted guest for VMX). */
static void start_state(struct rec *r, struct vmsim_vcpu_state *st)
{
	vt_flat_start_state(r->model, GUEST_GPA, st);
}

static bool policy_default(struct rec *r, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason == VMSIM_EXIT_CODE_STARTUP) {
		start_state(r, st);
		return true;
	}
	if (st->exit_reason == code(r, VMSIM_EXIT_IO) || st->exit_reason == code(r, VMSIM_EXIT_CPUID)) {
		vmsim_charge(st, ip, st->ip.value + st->ip_len.value);
		return true;
	}
	return false; /* HLT, PAUSED and the rest: stay stopped */
}

static unsigned count_of(struct rec *r, unsigned reason)
{
	unsigned c = 0;
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < r->n; i++)
		c += r->log[i].reason == reason;
	pthread_mutex_unlock(&r->lock);
	return c;
}

struct wait_arg {
	struct rec *r;
	unsigned reason, count;
};

static bool has_count(void *ctx)
{
	struct wait_arg *w = ctx;
	return count_of(w->r, w->reason) >= w->count;
}

static void wait_for(struct rec *r, unsigned reason, unsigned count)
{
	struct wait_arg w = { r, reason, count };
	vt_wait_until(has_count, &w, "an exit");
}

static void rec_init(struct rec *r, enum vmsim_model model, policy_fn policy)
{
	memset(r, 0, sizeof *r);
	pthread_mutex_init(&r->lock, NULL);
	r->model = model;
	r->policy = policy ? policy : policy_default;
}

static struct vmsim_vcpu *start_vcpu(struct vt_code_vm *g, struct rec *r, struct vmsim_entrypoint *ep)
{
	struct vmsim_vcpu_args args = { handler, r, r->config, ep };
	struct vmsim_vcpu *vcpu = NULL;
	assert_int_equal(vmsim_vcpu_create(g->session, &args, &vcpu), VMSIM_OK);
	r->vcpu = vcpu;
	return vcpu;
}

/* The one setup line: a session on the backend with the guest at GUEST_GPA, a recorder, one vCPU started. */
static struct vmsim_vcpu *open_one(struct vt_code_vm *g, struct rec *r, enum vmsim_model model, const uint8_t *code,
                                   size_t len, policy_fn policy)
{
	vt_guest_open(g, model, GUEST_GPA, code, len);
	rec_init(r, model, policy);
	return start_vcpu(g, r, NULL);
}

static const enum vmsim_model models[] = { VMSIM_MODEL_SVM, VMSIM_MODEL_VMX };

static void test_startup_then_hlt(void **unused)
{
	(void)unused;
	static const uint8_t guest[] = { 0x90, 0xf4 };
	for (unsigned m = 0; m < 2; m++) {
		struct vt_code_vm g;
		struct rec r;
		struct vmsim_vcpu *vcpu = open_one(&g, &r, models[m], guest, sizeof guest, NULL);
		wait_for(&r, code(&r, VMSIM_EXIT_HLT), 1);
		assert_int_equal(r.log[0].reason, VMSIM_EXIT_CODE_STARTUP);
		assert_int_equal(r.log[1].reason, m == 0 ? 0x78 : 12);
		assert_int_equal(r.log[1].ip, GUEST_GPA + 1);
		assert_int_equal(r.log[1].ip_len, 1);
		assert_int_equal(vmsim_vcpu_exit_count(vcpu, VMSIM_EXIT_STARTUP), 1);
		assert_int_equal(vmsim_vcpu_exit_count(vcpu, VMSIM_EXIT_HLT), 1);
		vt_guest_close(&g);
	}
}

static bool policy_io_stop_once(struct rec *r, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason == code(r, VMSIM_EXIT_IO) && count_of(r, st->exit_reason) == 1)
		return false; /* the first OUT: stay stopped */
	if (st->exit_reason == VMSIM_EXIT_CODE_PAUSED) {
		vmsim_charge(st, ip, st->ip.value + 2); /* skip the OUT now */
		return true;
	}
	return policy_default(r, st);
}

/* Resume happens only on true: after a false the vCPU is still at the OUT when recalled. */
static void test_resume_only_on_true(void **unused)
{
	(void)unused;
	static const uint8_t guest[] = { 0xe6, 0x10, 0xf4 };
	for (unsigned m = 0; m < 2; m++) {
		struct vt_code_vm g;
		struct rec r;
		struct vmsim_vcpu *vcpu = open_one(&g, &r, models[m], guest, sizeof guest, policy_io_stop_once);
		wait_for(&r, code(&r, VMSIM_EXIT_IO), 1);
		assert_int_equal(vmsim_vcpu_pause(vcpu), VMSIM_OK);
		wait_for(&r, code(&r, VMSIM_EXIT_HLT), 1);
		assert_int_equal(r.n, 4);
		assert_int_equal(r.log[2].reason, VMSIM_EXIT_CODE_PAUSED);
		assert_int_equal(r.log[2].ip, GUEST_GPA); /* still at the OUT: it never ran on */
		assert_int_equal(r.log[3].ip, GUEST_GPA + 2);
		assert_int_equal(vmsim_vcpu_exit_count(vcpu, VMSIM_EXIT_IO), 1);
		vt_guest_close(&g);
	}
}

static bool policy_charged(struct rec *r, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason == VMSIM_EXIT_CODE_STARTUP) {
		start_state(r, st);
		vmsim_charge(st, ax, 0x11);
		return true;
	}
	if (st->exit_reason == code(r, VMSIM_EXIT_IO)) {
		/* the OUT's value: bits 31:16 hold the port on both models; the value comes from rax */
		pthread_mutex_lock(&r->lock);
		r->out_values[r->outs++] = (unsigned)(st->ax.value & 0xff);
		pthread_mutex_unlock(&r->lock);
		uint64_t next = st->ip.value + st->ip_len.value;
		/* the exit charged what it transferred: discharge, as Genode's VMMs do, to load only ours */
		vmsim_vcpu_state_discharge(st);
		if (r->outs == 1)
			st->ax.value = 0x99; /* changed but NOT charged: must not reach the guest */
		else
			vmsim_charge(st, ax, 0x55);
		vmsim_charge(st, ip, next);
		return true;
	}
	if (st->exit_reason == code(r, VMSIM_EXIT_HLT)) {
		pthread_mutex_lock(&r->lock);
		r->seen_ax_charged = (unsigned)st->ax.value;
		pthread_mutex_unlock(&r->lock);
	}
	return false;
}

static void test_only_charged_registers_written(void **unused)
{
	(void)unused;
	static const uint8_t guest[] = { 0xe6, 0x10, 0xe6, 0x11, 0xf4 };
	struct vt_code_vm g;
	struct rec r;
	open_one(&g, &r, VMSIM_MODEL_SVM, guest, sizeof guest, policy_charged);
	wait_for(&r, 0x78, 1);
	vmsim_vcpu_destroy(r.vcpu); /* joins the vCPU thread: everything it wrote is visible */
	assert_int_equal(r.outs, 2);
	assert_int_equal(r.out_values[0], 0x11);
	assert_int_equal(r.out_values[1], 0x11); /* the uncharged 0x99 never reached the guest */
	assert_int_equal(r.seen_ax_charged, 0x55);
	vt_guest_close(&g);
}

static bool policy_discharge(struct rec *r, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason == code(r, VMSIM_EXIT_IO)) {
		vmsim_vcpu_state_discharge(st);
		assert_int_equal(st->exit_reason, 0);
		assert_int_equal(vmsim_vcpu_state_charged_count(st), 0);
		return count_of(r, code(r, VMSIM_EXIT_IO)) < 3; /* resume with nothing charged: re-executes */
	}
	return policy_default(r, st);
}

static void test_discharge_resume_reexecutes(void **unused)
{
	(void)unused;
	static const uint8_t guest[] = { 0xe6, 0x10, 0xf4 };
	struct vt_code_vm g;
	struct rec r;
	struct vmsim_vcpu *vcpu = open_one(&g, &r, VMSIM_MODEL_VMX, guest, sizeof guest, policy_discharge);
	wait_for(&r, 30, 3);
	assert_int_equal(r.log[1].ip, GUEST_GPA);
	assert_int_equal(r.log[2].ip, GUEST_GPA);
	assert_int_equal(r.log[3].ip, GUEST_GPA);
	assert_int_equal(vmsim_vcpu_exit_count(vcpu, VMSIM_EXIT_IO), 3);
	vt_guest_close(&g);
}

static bool never(void *ctx, struct vmsim_vcpu_state *st)
{
	(void)ctx;
	(void)st;
	fail_msg("with_state ran fn off the handler's thread");
	return false;
}

struct foreign {
	struct vmsim_vcpu *vcpu;
	_Atomic enum vmsim_result result;
};

static void foreign_job(void *ctx)
{
	struct foreign *f = ctx;
	f->result = vmsim_vcpu_with_state(f->vcpu, never, NULL);
}

static bool job_done(void *ctx)
{
	return ((struct foreign *)ctx)->result != VMSIM_RESULT_COUNT;
}

static void test_with_state_foreign_thread_denied(void **unused)
{
	(void)unused;
	static const uint8_t guest[] = { 0xf4 };
	struct vt_code_vm g;
	struct rec r;
	struct vmsim_vcpu *vcpu = open_one(&g, &r, VMSIM_MODEL_SVM, guest, sizeof guest, NULL);
	wait_for(&r, 0x78, 1);
	/* this test's thread, and another entrypoint's thread, are not the handler's */
	assert_int_equal(vmsim_vcpu_with_state(vcpu, never, NULL), VMSIM_DENIED);
	struct vmsim_entrypoint *other;
	assert_int_equal(vmsim_entrypoint_create(g.env, "other", &other), VMSIM_OK);
	struct foreign f = { vcpu, VMSIM_RESULT_COUNT };
	assert_int_equal(vmsim_entrypoint_post(other, foreign_job, &f), VMSIM_OK);
	vt_wait_until(job_done, &f, "the foreign job");
	assert_int_equal(f.result, VMSIM_DENIED);
	assert_int_equal(vmsim_entrypoint_destroy(other), VMSIM_OK);
	vt_guest_close(&g);
}

/* Recall a spinning vCPU, then a stopped one: each request gives exactly one PAUSED. */
static void test_pause_running_and_stopped(void **unused)
{
	(void)unused;
	static const uint8_t guest[] = { 0xeb, 0xfe };
	for (unsigned m = 0; m < 2; m++) {
		struct vt_code_vm g;
		struct rec r;
		struct vmsim_vcpu *vcpu = open_one(&g, &r, models[m], guest, sizeof guest, NULL);
		wait_for(&r, VMSIM_EXIT_CODE_STARTUP, 1);
		assert_int_equal(vmsim_vcpu_pause(vcpu), VMSIM_OK);
		wait_for(&r, VMSIM_EXIT_CODE_PAUSED, 1);
		assert_int_equal(r.log[1].ip, GUEST_GPA);
		assert_int_equal(vmsim_vcpu_pause(vcpu), VMSIM_OK); /* already stopped */
		wait_for(&r, VMSIM_EXIT_CODE_PAUSED, 2);
		assert_int_equal(r.n, 3);
		assert_int_equal(vmsim_vcpu_exit_count(vcpu, VMSIM_EXIT_PAUSED), 2);
		vt_guest_close(&g);
	}
}

/* Requests that arrive before the handler runs coalesce into one PAUSED (Genode's signal semantics). */
static void test_pause_requests_coalesce(void **unused)
{
	(void)unused;
	static const uint8_t guest[] = { 0xf4 };
	struct vt_code_vm g;
	struct rec r;
	struct vt_gate gt = VT_GATE_INIT;
	vt_guest_open(&g, VMSIM_MODEL_SVM, GUEST_GPA, guest, sizeof guest);
	rec_init(&r, VMSIM_MODEL_SVM, NULL);
	struct vmsim_entrypoint *ep;
	assert_int_equal(vmsim_entrypoint_create(g.env, "ep", &ep), VMSIM_OK);
	struct vmsim_vcpu *vcpu = start_vcpu(&g, &r, ep);
	wait_for(&r, 0x78, 1);
	assert_int_equal(vmsim_entrypoint_post(ep, vt_gate_job, &gt), VMSIM_OK);
	vt_wait_until(vt_gate_entered, &gt, "the gate job");
	for (int i = 0; i < 10; i++)
		assert_int_equal(vmsim_vcpu_pause(vcpu), VMSIM_OK);
	vt_gate_open(&gt);
	wait_for(&r, VMSIM_EXIT_CODE_PAUSED, 1);
	/* one more request afterwards still gets its own PAUSED: nothing was lost or stuck */
	assert_int_equal(vmsim_vcpu_pause(vcpu), VMSIM_OK);
	wait_for(&r, VMSIM_EXIT_CODE_PAUSED, 2);
	assert_int_equal(count_of(&r, VMSIM_EXIT_CODE_PAUSED), 2);
	vmsim_vcpu_destroy(vcpu);
	assert_int_equal(vmsim_entrypoint_destroy(ep), VMSIM_OK);
	vt_guest_close(&g);
}

struct dying {
	struct vt_gate gate;
	struct vmsim_vcpu *vcpu;
	_Atomic enum vmsim_result seen;
};

/* STARTUP handler that waits at a gate before its with_state. */
static void gated_handler(void *ctx, struct vmsim_vcpu *vcpu)
{
	struct dying *d = ctx;
	vt_gate_job(&d->gate);
	d->seen = vmsim_vcpu_with_state(vcpu, never, NULL);
}

static void *destroyer(void *arg)
{
	vmsim_vcpu_destroy(((struct dying *)arg)->vcpu);
	return NULL;
}

static bool destroy_begun(void *ctx)
{
	return vmsim_vcpu_pause(((struct dying *)ctx)->vcpu) == VMSIM_DENIED;
}

/* A handler still running while its vCPU is destroyed gets DENIED, not the state; destroy waits for it. */
static void test_with_state_denied_while_destroyed(void **unused)
{
	(void)unused;
	static const uint8_t guest[] = { 0xf4 };
	struct vt_code_vm g;
	static struct dying d;
	d = (struct dying){ VT_GATE_INIT, NULL, VMSIM_RESULT_COUNT };
	vt_guest_open(&g, VMSIM_MODEL_SVM, GUEST_GPA, guest, sizeof guest);
	struct vmsim_entrypoint *ep;
	assert_int_equal(vmsim_entrypoint_create(g.env, "ep", &ep), VMSIM_OK);
	struct vmsim_vcpu_args args = { gated_handler, &d, NULL, ep };
	assert_int_equal(vmsim_vcpu_create(g.session, &args, &d.vcpu), VMSIM_OK);
	vt_wait_until(vt_gate_entered, &d.gate, "the handler at its gate");
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, destroyer, &d), 0);
	vt_wait_until(destroy_begun, &d, "the destroy to begin");
	vt_gate_open(&d.gate);
	pthread_join(t, NULL);
	assert_int_equal(d.seen, VMSIM_DENIED);
	assert_int_equal(vmsim_session_vcpu_count(g.session), 0);
	assert_int_equal(vmsim_entrypoint_destroy(ep), VMSIM_OK);
	vt_guest_close(&g);
}

static bool policy_resume_paused(struct rec *r, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason == VMSIM_EXIT_CODE_PAUSED)
		return true;
	return policy_default(r, st);
}

struct storm {
	struct vmsim_vcpu *vcpu;
	unsigned requests;
};

static void *storm_main(void *arg)
{
	struct storm *s = arg;
	for (unsigned i = 0; i < s->requests; i++)
		assert_int_equal(vmsim_vcpu_pause(s->vcpu), VMSIM_OK);
	return NULL;
}

struct settle {
	struct rec *r;
	struct vmsim_vcpu *vcpu;
};

static bool paused_settled(void *ctx)
{
	struct settle *s = ctx;
	return vmsim_vcpu_exit_count(s->vcpu, VMSIM_EXIT_PAUSED) == count_of(s->r, VMSIM_EXIT_CODE_PAUSED);
}

/* Two threads recall a spinning vCPU 2,000 times; the handler resumes every time. */
static void test_pause_storm(void **unused)
{
	(void)unused;
	static const uint8_t guest[] = { 0xeb, 0xfe };
	for (unsigned ep_mode = 0; ep_mode < 2; ep_mode++) {
		struct vt_code_vm g;
		struct rec r;
		struct vmsim_entrypoint *ep = NULL;
		vt_guest_open(&g, VMSIM_MODEL_VMX, GUEST_GPA, guest, sizeof guest);
		rec_init(&r, VMSIM_MODEL_VMX, policy_resume_paused);
		if (ep_mode)
			assert_int_equal(vmsim_entrypoint_create(g.env, "ep", &ep), VMSIM_OK);
		struct vmsim_vcpu *vcpu = start_vcpu(&g, &r, ep);
		wait_for(&r, VMSIM_EXIT_CODE_STARTUP, 1);
		struct storm s = { vcpu, 1000 };
		pthread_t t[2];
		for (int i = 0; i < 2; i++)
			assert_int_equal(pthread_create(&t[i], NULL, storm_main, &s), 0);
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		unsigned seen = count_of(&r, VMSIM_EXIT_CODE_PAUSED);
		/* a request after the storm is still answered: nothing lost, nothing stuck */
		assert_int_equal(vmsim_vcpu_pause(vcpu), VMSIM_OK);
		wait_for(&r, VMSIM_EXIT_CODE_PAUSED, seen + 1);
		struct settle st = { &r, vcpu };
		vt_wait_until(paused_settled, &st, "every counted PAUSED shown to the handler");
		unsigned total = count_of(&r, VMSIM_EXIT_CODE_PAUSED);
		/*
		 * requests coalesce: never more PAUSED than the 2,001 requests, and after the storm at most
		 * one request was still pending, so the last pause adds one or two PAUSED, never none
		 */
		assert_true(seen <= 2 * s.requests); /* the storm's 2 x 1,000 requests */
		assert_in_range(total, seen + 1, seen + 2);
		vmsim_vcpu_destroy(vcpu);
		if (ep)
			assert_int_equal(vmsim_entrypoint_destroy(ep), VMSIM_OK);
		vt_guest_close(&g);
	}
}

/* Destroying spinning vCPUs, and closing a session with running vCPUs, returns all quota. */
static void test_destroy_and_close_while_running(void **unused)
{
	(void)unused;
	static const uint8_t guest[] = { 0xeb, 0xfe };
	struct vt_code_vm g;
	static struct rec r[8];
	vt_guest_open(&g, VMSIM_MODEL_SVM, GUEST_GPA, guest, sizeof guest);
	struct vmsim_quota before;
	vmsim_session_quota(g.session, &before);
	struct vmsim_vcpu *v[8];
	for (int i = 0; i < 8; i++) {
		rec_init(&r[i], VMSIM_MODEL_SVM, NULL);
		v[i] = start_vcpu(&g, &r[i], NULL);
	}
	for (int i = 0; i < 8; i++)
		wait_for(&r[i], VMSIM_EXIT_CODE_STARTUP, 1);
	vmsim_vcpu_destroy(v[3]);
	vmsim_vcpu_destroy(v[5]);
	assert_int_equal(vmsim_session_vcpu_count(g.session), 6);
	assert_null(vmsim_session_vcpu(g.session, 3));
	assert_ptr_equal(vmsim_session_vcpu(g.session, 4), v[4]);
	struct vmsim_quota mid;
	vmsim_session_quota(g.session, &mid);
	assert_int_equal(mid.ram_used, before.ram_used + 6 * 16384); /* docs/quota.md: a vCPU is 16384 bytes, */
	assert_int_equal(mid.cap_used, before.cap_used + 6 * 2);     /* 2 caps */
	vt_guest_close(&g); /* closes with 6 vCPUs spinning; asserts the env pool is back to zero */
}

static bool policy_config(struct rec *r, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason == code(r, VMSIM_EXIT_IO)) {
		pthread_mutex_lock(&r->lock);
		r->seen_ax_charged = vmsim_charged(st, ax) ? 1 : 2;
		pthread_mutex_unlock(&r->lock);
		assert_true(vmsim_charged(st, ip));
		assert_true(vmsim_charged(st, ip_len));
		assert_true(vmsim_charged(st, qual_primary));
	}
	return policy_default(r, st);
}

static void test_exit_config_selects_groups(void **unused)
{
	(void)unused;
	static const uint8_t guest[] = { 0xe6, 0x10, 0xf4 };
	for (int minimal = 0; minimal < 2; minimal++) {
		struct vt_code_vm g;
		struct rec r;
		struct vmsim_exit_config cfg;
		vt_guest_open(&g, VMSIM_MODEL_SVM, GUEST_GPA, guest, sizeof guest);
		rec_init(&r, VMSIM_MODEL_SVM, policy_config);
		if (minimal) {
			vmsim_exit_config_minimal(&cfg);
			cfg.groups[VMSIM_EXIT_STARTUP] = VMSIM_GROUP_ALL;
		} else {
			vmsim_exit_config_all(&cfg);
		}
		r.config = &cfg;
		struct vmsim_vcpu *vcpu = start_vcpu(&g, &r, NULL);
		wait_for(&r, 0x78, 1);
		pthread_mutex_lock(&r.lock);
		assert_int_equal(r.seen_ax_charged, minimal ? 2 : 1);
		pthread_mutex_unlock(&r.lock);
		assert_memory_equal(vmsim_vcpu_exit_config(vcpu), &cfg, sizeof cfg);
		vt_guest_close(&g);
	}
}

static bool policy_bad_cr0(struct rec *r, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason == VMSIM_EXIT_CODE_STARTUP) {
		start_state(r, st);
		/* VMX: PG without PE; SVM: NW without CD (each architecture's own entry check) */
		vmsim_charge(st, cr0, r->model == VMSIM_MODEL_VMX ? 0x80000000 : 0x20000010);
		return true;
	}
	return false;
}

static void test_invalid_state_exit(void **unused)
{
	(void)unused;
	static const uint8_t guest[] = { 0xf4 };
	for (unsigned m = 0; m < 2; m++) {
		struct vt_code_vm g;
		struct rec r;
		struct vmsim_vcpu *vcpu = open_one(&g, &r, models[m], guest, sizeof guest, policy_bad_cr0);
		unsigned invalid = m == 0 ? 0xfd : 0x21;
		wait_for(&r, invalid, 1);
		assert_int_equal(vmsim_vcpu_exit_count(vcpu, VMSIM_EXIT_INVALID_STATE), 1);
		assert_int_equal(vmsim_vcpu_exit_count(vcpu, VMSIM_EXIT_HLT), 0);
		vt_guest_close(&g);
	}
}

static void test_npf_on_unbacked_fetch(void **unused)
{
	(void)unused;
	static const uint8_t guest[] = { 0xf4 };
	for (unsigned m = 0; m < 2; m++) {
		struct vt_code_vm g;
		struct rec r;
		vt_guest_open(&g, models[m], UINT64_MAX, guest, sizeof guest); /* nothing attached */
		rec_init(&r, models[m], NULL);
		start_vcpu(&g, &r, NULL);
		unsigned npf = m == 0 ? 0xfc : 48;
		wait_for(&r, npf, 1);
		assert_int_equal(r.log[1].qual_secondary, GUEST_GPA);
		assert_int_equal(r.log[1].ip, GUEST_GPA);
		vt_guest_close(&g);
	}
}

int main(int argc, char **argv)
{
	if (argc > 1)
		vt_exec_use_backend(argv[1]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_startup_then_hlt),
		cmocka_unit_test(test_resume_only_on_true),
		cmocka_unit_test(test_only_charged_registers_written),
		cmocka_unit_test(test_discharge_resume_reexecutes),
		cmocka_unit_test(test_with_state_foreign_thread_denied),
		cmocka_unit_test(test_pause_running_and_stopped),
		cmocka_unit_test(test_pause_requests_coalesce),
		cmocka_unit_test(test_pause_storm),
		cmocka_unit_test(test_with_state_denied_while_destroyed),
		cmocka_unit_test(test_destroy_and_close_while_running),
		cmocka_unit_test(test_exit_config_selects_groups),
		cmocka_unit_test(test_invalid_state_exit),
		cmocka_unit_test(test_npf_on_unbacked_fetch),
	};
	return cmocka_run_group_tests_name("exec", tests, NULL, NULL);
}
