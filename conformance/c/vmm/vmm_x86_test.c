/* vmm_x86_test.c - Genode's vmm_x86 scenario (genode doc §4) through the public API, ported from core/tests. */
#include <string.h>

#include "../vc.h"

/*
 * The guest page of repos/os/src/test/vmm_x86/guest.s, mapped at 0xfffff000
 * on the first nested page fault. Four vCPUs on two entrypoints; ep A also
 * runs the "timer" jobs that drive vCPU 1. The expected per-vCPU logs are
 * Genode's; both models run the same scenario.
 */
enum { PAGE_GPA = 0xfffff000, NVCPU = 4, LOG_MAX = 64 };

static void guest_page(uint8_t *p)
{
	memset(p, 0xf4, 4096);
	memset(p, 0x90, 0xf7e);
	static const uint8_t code[] = { 0x0f, 0x01, 0xf9, 0xf4, 0xf4, 0xeb, 0xfe, 0xf4, 0xeb, 0xfe };
	memcpy(p + 0xf7e, code, sizeof code);
	p[0xff0] = 0xeb;
	p[0xff1] = 0x8c; /* jmp 0xf7e */
}

struct line {
	unsigned reason;
	uint64_t ip;
};

struct vm;

struct vcpu_ctx {
	struct vm *vm;
	unsigned id;
	struct vmsim_vcpu *vcpu;
	unsigned paused_seen;
	uint64_t first_hlt_cx;
	unsigned n;
	struct line log[LOG_MAX];
	bool error;
};

struct vm {
	enum vmsim_model model;
	unsigned jobs_done; /* under lock */
	struct vmsim_env *env;
	struct vmsim_session *session;
	vmsim_ds_cap ds;
	pthread_mutex_t lock;
	struct vcpu_ctx v[NVCPU];
	struct vmsim_entrypoint *ep[2];
};

/* Exit codes from x86-exit-encodings.md, not from core's tables. */
static unsigned code_of(struct vm *vm, enum vmsim_exit_kind kind)
{
	bool svm = vm->model == VMSIM_MODEL_SVM;
	switch (kind) {
	case VMSIM_EXIT_NPF:
		return svm ? 0xfc : 48;
	case VMSIM_EXIT_HLT:
		return svm ? 0x78 : 12;
	case VMSIM_EXIT_RDTSCP:
		return svm ? 0x87 : 51;
	default:
		fail_msg("vmm_x86 uses no other exit");
	}
	return 0;
}

static void log_line(struct vcpu_ctx *c, unsigned reason, uint64_t ip)
{
	pthread_mutex_lock(&c->vm->lock);
	if (c->n < LOG_MAX)
		c->log[c->n++] = (struct line){ reason, ip };
	pthread_mutex_unlock(&c->vm->lock);
}

/* _cpu_init of the test: the real-mode reset state and the intercepts it asks for. */
static void cpu_init(struct vcpu_ctx *c, struct vmsim_vcpu_state *st)
{
	vmsim_charge(st, flags, 2);
	vmsim_charge(st, ip, 0xfff0);
	vmsim_charge(st, cr0, 0x10);
	vmsim_charge(st, cs, (struct vmsim_segment){ 0xf000, 0x93, 0xffff, 0xffff0000 });
	vmsim_charge(st, ss, (struct vmsim_segment){ 0, 0x93, 0xffff, 0 });
	vmsim_charge(st, es, (struct vmsim_segment){ 0, 0x93, 0xffff, 0 });
	vmsim_charge(st, ds, (struct vmsim_segment){ 0, 0x93, 0xffff, 0 });
	vmsim_charge(st, fs, (struct vmsim_segment){ 0, 0x93, 0xffff, 0 });
	vmsim_charge(st, gs, (struct vmsim_segment){ 0, 0x93, 0xffff, 0 });
	vmsim_charge(st, dx, 0x600);
	vmsim_charge(st, tr, (struct vmsim_segment){ 0, 0x8b, 0xffff, 0 });
	vmsim_charge(st, ldtr, (struct vmsim_segment){ 0, 0x1000, 0xffff, 0 });
	vmsim_charge(st, gdtr, (struct vmsim_dtable){ 0xffff, 0 });
	vmsim_charge(st, idtr, (struct vmsim_dtable){ 0xffff, 0 });
	vmsim_charge(st, dr7, 0x400);
	if (c->vm->model == VMSIM_MODEL_VMX) {
		vmsim_charge(st, ctrl_primary, (1u << 7) | (1u << 3));
		vmsim_charge(st, ctrl_secondary, (1u << 7) | (1u << 3));
	} else {
		vmsim_charge(st, ctrl_primary, 1u << 24);
		vmsim_charge(st, ctrl_secondary, 1u << 0);
	}
	vmsim_charge(st, tsc_aux, (0xaffeull << 16) | c->id);
	vmsim_charge(st, tsc_offset, 0xff00ull << 48);
}

static bool on_paused(struct vcpu_ctx *c, struct vmsim_vcpu_state *st, uint64_t ip)
{
	if (c->id != 2) {
		log_line(c, VMSIM_EXIT_CODE_PAUSED, ip);
		return false; /* vCPU 1 is resumed by the timer's with_state */
	}
	c->paused_seen++;
	switch (c->paused_seen) {
	case 2: /* resumed without logging: executes the hlt again */
		return true;
	case 4:
		log_line(c, VMSIM_EXIT_CODE_PAUSED, ip);
		vmsim_charge(st, ip, ip + 1);
		return true;
	default:
		log_line(c, VMSIM_EXIT_CODE_PAUSED, ip);
		return false;
	}
}

static bool exit_fn(void *ctx, struct vmsim_vcpu_state *st)
{
	struct vcpu_ctx *c = ctx;
	struct vm *vm = c->vm;
	unsigned reason = st->exit_reason;
	uint64_t ip = st->ip.value;
	uint64_t fault = st->qual_secondary.value;
	uint64_t cx = st->cx.value;

	vmsim_vcpu_state_discharge(st);
	if (reason == VMSIM_EXIT_CODE_STARTUP) {
		log_line(c, reason, 0);
		cpu_init(c, st);
		return true;
	}
	if (reason == code_of(vm, VMSIM_EXIT_NPF)) {
		if ((fault & 0xfffff000) != PAGE_GPA) {
			c->error = true;
			return false;
		}
		struct vmsim_attach_attr attr = { 0, 0, true, true };
		struct vmsim_range range;
		/* several vCPUs fault on the page: the later attaches are idempotent re-attaches */
		if (vmsim_session_attach(vm->session, vm->ds, fault & ~0xfffull, &attr, &range) != VMSIM_OK)
			c->error = true;
		return !c->error;
	}
	if (reason == code_of(vm, VMSIM_EXIT_RDTSCP)) {
		vmsim_charge(st, ip, ip + 3);
		return true;
	}
	if (reason == code_of(vm, VMSIM_EXIT_HLT)) {
		if (!c->first_hlt_cx)
			c->first_hlt_cx = cx;
		log_line(c, reason, ip);
		return false;
	}
	if (reason == VMSIM_EXIT_CODE_PAUSED)
		return on_paused(c, st, ip);
	c->error = true; /* invalid state, triple fault or anything unexpected */
	log_line(c, reason, ip);
	return false;
}

static void handler(void *ctx, struct vmsim_vcpu *vcpu)
{
	vt_handler_result(vmsim_vcpu_with_state(vcpu, exit_fn, ctx));
}

/* ---- the timer: jobs on ep A ------------------------------------------------------------ */

static void job_done(struct vcpu_ctx *c)
{
	pthread_mutex_lock(&c->vm->lock);
	c->vm->jobs_done++;
	pthread_mutex_unlock(&c->vm->lock);
}

static void job_pause(void *ctx)
{
	struct vcpu_ctx *c = ctx;
	assert_int_equal(vmsim_vcpu_pause(c->vcpu), VMSIM_OK); /* local_submit */
	job_done(c);
}

static bool force_fpu(void *ctx, struct vmsim_vcpu_state *st)
{
	(void)ctx;
	vmsim_vcpu_state_discharge(st);
	vmsim_charge_fpu(st, sizeof st->fpu.buffer);
	return true;
}

static bool skip_two(void *ctx, struct vmsim_vcpu_state *st)
{
	(void)ctx;
	uint64_t ip = st->ip.value;
	vmsim_vcpu_state_discharge(st);
	vmsim_charge(st, ip, ip + 2);
	return true;
}

static void job_force_fpu(void *ctx)
{
	struct vcpu_ctx *c = ctx;
	assert_int_equal(vmsim_vcpu_with_state(c->vcpu, force_fpu, NULL), VMSIM_OK);
	job_done(c);
}

static void job_skip_two(void *ctx)
{
	struct vcpu_ctx *c = ctx;
	assert_int_equal(vmsim_vcpu_with_state(c->vcpu, skip_two, NULL), VMSIM_OK);
	job_done(c);
}

struct wait_n {
	struct vcpu_ctx *c;
	unsigned n;
};

static bool has_lines(void *ctx)
{
	struct wait_n *w = ctx;
	pthread_mutex_lock(&w->c->vm->lock);
	bool ok = w->c->n >= w->n;
	pthread_mutex_unlock(&w->c->vm->lock);
	return ok;
}

static void wait_lines(struct vcpu_ctx *c, unsigned n)
{
	struct wait_n w = { c, n };
	vt_wait_until(has_lines, &w, "vmm_x86 log lines");
}

struct wait_jobs {
	struct vm *vm;
	unsigned n;
};

static bool jobs_done(void *ctx)
{
	struct wait_jobs *w = ctx;
	pthread_mutex_lock(&w->vm->lock);
	bool ok = w->vm->jobs_done >= w->n;
	pthread_mutex_unlock(&w->vm->lock);
	return ok;
}

static bool running(void *ctx)
{
	struct vmsim_exit e;
	vmsim_vcpu_last_exit(((struct vcpu_ctx *)ctx)->vcpu, &e);
	return e.kind == VMSIM_EXIT_NONE;
}

/* One timer tick: the job has run, the lines it causes are logged (or the vCPU runs on). */
static void tick(struct vm *vm, void (*job)(void *), struct vcpu_ctx *c, unsigned expect_lines)
{
	pthread_mutex_lock(&vm->lock);
	struct wait_jobs w = { vm, vm->jobs_done + 1 };
	unsigned before = c->n;
	pthread_mutex_unlock(&vm->lock);
	assert_int_equal(vmsim_entrypoint_post(vm->ep[0], job, c), VMSIM_OK);
	vt_wait_until(jobs_done, &w, "the timer job");
	if (expect_lines == before)
		vt_wait_until(running, c, "vCPU running on");
	wait_lines(c, expect_lines);
}

static void expect_log(struct vm *vm, struct vcpu_ctx *c, const struct line *want, unsigned n)
{
	pthread_mutex_lock(&vm->lock);
	assert_false(c->error);
	assert_int_equal(c->n, n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(c->log[i].reason, want[i].reason);
		if (want[i].reason != VMSIM_EXIT_CODE_STARTUP)
			assert_int_equal(c->log[i].ip, want[i].ip);
	}
	pthread_mutex_unlock(&vm->lock);
}

static void run_scenario(const void *p)
{
	static struct vm vm;
	(void)p;
	memset(&vm, 0, sizeof vm);
	vm.model = vc_model();
	pthread_mutex_init(&vm.lock, NULL);
	uint8_t page[4096];
	guest_page(page);
	/* the page is attached on the first nested page fault, not before */
	vm.env = vt_env(0, 0);
	vm.session = vt_session(vm.env, VMSIM_SESSION_DEFAULT_RAM, VMSIM_SESSION_DEFAULT_CAPS);
	vm.ds = vt_ds(vm.env, 4096);
	struct vmsim_local_attr la = { 0, 0, true };
	struct vmsim_local_attachment local;
	assert_int_equal(vmsim_local_attach(vm.env, vm.ds, &la, &local), VMSIM_OK);
	memcpy(local.ptr, page, sizeof page);
	assert_int_equal(vmsim_entrypoint_create(vm.env, "ep", &vm.ep[0]), VMSIM_OK);
	assert_int_equal(vmsim_entrypoint_create(vm.env, "second ep", &vm.ep[1]), VMSIM_OK);
	for (unsigned i = 0; i < NVCPU; i++) {
		vm.v[i] = (struct vcpu_ctx){ .vm = &vm, .id = i };
		struct vmsim_vcpu_args args = { handler, &vm.v[i], NULL, vm.ep[i / 2] };
		assert_int_equal(vmsim_vcpu_create(vm.session, &args, &vm.v[i].vcpu), VMSIM_OK);
	}
	for (unsigned i = 0; i < NVCPU; i++)
		wait_lines(&vm.v[i], 2); /* STARTUP, HLT@ff81 */

	const unsigned hlt = code_of(&vm, VMSIM_EXIT_HLT), paused = VMSIM_EXIT_CODE_PAUSED;
	struct vcpu_ctx *v1 = &vm.v[1], *v2 = &vm.v[2];

	/* vCPU 1: every step is a timer job on its own entrypoint */
	tick(&vm, job_pause, v1, 3);      /* PAUSED@ff81 */
	tick(&vm, job_force_fpu, v1, 4);  /* HLT@ff81 again */
	tick(&vm, job_pause, v1, 5);      /* PAUSED@ff81 */
	tick(&vm, job_skip_two, v1, 5);   /* into jmp . at ff83 */
	tick(&vm, job_pause, v1, 6);      /* PAUSED@ff83 */
	tick(&vm, job_skip_two, v1, 7);   /* HLT@ff85 */
	tick(&vm, job_pause, v1, 8);      /* PAUSED@ff85 */

	/* vCPU 2: recalled remotely (from this thread), resumed by its own handler */
	/* each request waits for what it causes: PAUSED; silent resume + HLT; PAUSED; PAUSED + HLT; PAUSED */
	const unsigned lines[] = { 3, 4, 5, 7, 8 };
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(vmsim_vcpu_pause(v2->vcpu), VMSIM_OK);
		wait_lines(v2, lines[i]);
	}

	const struct line want0[] = { { VMSIM_EXIT_CODE_STARTUP, 0 }, { hlt, 0xff81 } };
	const struct line want1[] = { { VMSIM_EXIT_CODE_STARTUP, 0 }, { hlt, 0xff81 }, { paused, 0xff81 },
		                      { hlt, 0xff81 }, { paused, 0xff81 }, { paused, 0xff83 },
		                      { hlt, 0xff85 }, { paused, 0xff85 } };
	const struct line want2[] = { { VMSIM_EXIT_CODE_STARTUP, 0 }, { hlt, 0xff81 }, { paused, 0xff81 },
		                      { hlt, 0xff81 }, { paused, 0xff81 }, { paused, 0xff81 },
		                      { hlt, 0xff82 }, { paused, 0xff82 } };
	expect_log(&vm, &vm.v[0], want0, 2);
	expect_log(&vm, v1, want1, 8);
	expect_log(&vm, v2, want2, 8);
	expect_log(&vm, &vm.v[3], want0, 2);
	/* the guest's rdtscp ran natively before the first hlt: cx = TSC_AUX = 0xaffe000N */
	for (unsigned i = 0; i < NVCPU; i++)
		assert_int_equal(vm.v[i].first_hlt_cx, (0xaffeull << 16) | i);

	/* destruction of the whole VM with all four vCPUs present */
	vmsim_session_close(vm.session);
	/* Genode's test then opens a dummy session: the freed quota admits it */
	struct vmsim_session *dummy = vt_session(vm.env, 1 << 20, 10);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(vmsim_entrypoint_destroy(vm.ep[i]), VMSIM_OK);
	vmsim_session_close(dummy);
	vmsim_local_release(vm.env, &local);
	assert_int_equal(vmsim_ds_free(vm.env, vm.ds), VMSIM_OK);
	uint64_t ram, caps;
	vt_env_used(vm.env, &ram, &caps);
	assert_int_equal(ram, 0);
	assert_int_equal(caps, 0);
	vmsim_env_destroy(vm.env);
}

#define VMM_CAPS (VMSIM_CAP_RESET_VECTOR | VMSIM_CAP_MODE_REAL | VMSIM_CAP_EXIT_NPF | VMSIM_CAP_EXIT_HLT | \
                  VMSIM_CAP_STOP | VMSIM_CAP_TSC_OFFSET | VMSIM_CAP_FPU_STATE)

static const struct vc_test tests[] = {
	{ "vmm_x86", "genode_vmm_x86_scenario", VMM_CAPS, run_scenario, NULL },
};

struct vc_test_list vc_vmm_x86_tests(void)
{
	return VC_LIST(tests);
}
