/* pause_recall_test.c - recall (pause): stopped and running vCPUs, same entrypoint, halted guests, storms. */
#include "../vc.h"

enum { PAUSED = VMSIM_EXIT_CODE_PAUSED };

static int stay(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	(void)c;
	(void)st;
	return 0;
}

static unsigned count_reason(struct vt_cpu *c, unsigned reason)
{
	pthread_mutex_lock(&c->lock);
	unsigned n = 0;
	for (unsigned i = 0; i < c->n && i < VT_LOG; i++)
		n += c->log[i].reason == reason;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static void pause_stopped_vcpu(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, NULL, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, stay);
	vt_wait_stopped(c);
	assert_int_equal(vmsim_vcpu_pause(c->vcpu), VMSIM_OK);
	vt_wait_exits(c, 2);
	assert_int_equal(vmsim_vcpu_pause(c->vcpu), VMSIM_OK);
	vt_wait_exits(c, 3);
	assert_int_equal(c->log[1].reason, PAUSED);
	assert_int_equal(c->log[2].reason, PAUSED);
	assert_int_equal(c->log[1].ip, c->log[2].ip); /* a stopped vCPU stays where it was */
	assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_PAUSED), 2);
	vt_vm_close(&vm);
}

static int resume_paused(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	(void)c;
	return st->exit_reason == PAUSED ? 1 : -1;
}

static void pause_running_vcpu(const void *p)
{
	bool on_ep = p != NULL;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_loops, 0, 0);
	if (on_ep)
		assert_int_equal(vmsim_entrypoint_create(vm.env, "ep", &vm.ep), VMSIM_OK);
	struct vt_cpu *c = vt_cpu_start(&vm, "x_spin", resume_paused);
	vt_wait_exits(c, 1);
	for (unsigned round = 1; round <= 3; round++) {
		assert_int_equal(vmsim_vcpu_pause(c->vcpu), VMSIM_OK);
		vt_wait_exits(c, 1 + round);
		assert_int_equal(c->log[round].reason, PAUSED);
		assert_int_equal(c->log[round].ip, vt_addr(&vm, "x_spin")); /* jmp . : the only ip it can have */
	}
	vt_vm_close(&vm);
}

static const int ep_flag = 1;

struct self_pause {
	struct vmsim_vcpu *vcpu;
	_Atomic int result;
};

static void pause_job(void *ctx)
{
	struct self_pause *s = ctx;
	s->result = vmsim_vcpu_pause(s->vcpu);
}

/* A job on the vCPU's own entrypoint recalls it; the PAUSED is handled on that entrypoint afterwards. */
static void pause_from_same_entrypoint(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_loops, 0, 0);
	assert_int_equal(vmsim_entrypoint_create(vm.env, "ep", &vm.ep), VMSIM_OK);
	struct vt_cpu *c = vt_cpu_start(&vm, "x_spin", NULL); /* the default VMM stops at PAUSED */
	vt_wait_exits(c, 1);
	struct self_pause s = { c->vcpu, -1 };
	assert_int_equal(vmsim_entrypoint_post(vm.ep, pause_job, &s), VMSIM_OK);
	vt_wait_stopped(c);
	assert_int_equal(s.result, VMSIM_OK);
	assert_int_equal(c->n, 2);
	assert_int_equal(c->log[1].reason, PAUSED);
	assert_int_equal(c->log[1].ip, vt_addr(&vm, "x_spin"));
	vt_vm_close(&vm);
}

/* A recall that lands before the HLT retired resumes; one after it stays stopped. */
static int halted_policy(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason != PAUSED)
		return -1;
	return st->ip.value == c->start_ip ? 1 : 0;
}

/* HLT not intercepted: the guest idles in HLT; a recall still stops it, just past the HLT. */
static void pause_while_halted(const void *p)
{
	(void)p;
	if (vt_profile_forces_hlt())
		vc_skip("profile %s forces HLT exiting: the guest cannot idle in HLT (%s)", vc_target()->profile->name,
		        vc_target()->profile->source);
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_exits, 0, 0);
	vm.intercepts &= ~VMSIM_INTERCEPT_HLT;
	struct vt_cpu *c = vt_cpu_start(&vm, "x_hlt", halted_policy);
	vt_wait_exits(c, 1);
	for (unsigned tries = 0;; tries++) {
		assert_true(tries < 1000);
		pthread_mutex_lock(&c->lock);
		unsigned n = c->n;
		pthread_mutex_unlock(&c->lock);
		assert_int_equal(vmsim_vcpu_pause(c->vcpu), VMSIM_OK);
		vt_wait_exits(c, n + 1);
		pthread_mutex_lock(&c->lock);
		bool stopped = c->stopped;
		pthread_mutex_unlock(&c->lock);
		if (stopped)
			break;
	}
	const struct vt_exit *e = &c->log[c->n - 1];
	assert_int_equal(e->reason, PAUSED);
	assert_int_equal(e->ip, vt_addr(&vm, "x_hlt") + 1); /* HLT retired; the vCPU idles after it */
	if (!vc_svm())
		assert_int_equal(e->actv_state, 1); /* VMX activity state HLT */
	assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_HLT), 0);
	vt_vm_close(&vm);
}

/* Ten requests while the entrypoint is busy coalesce into one PAUSED; a later one gets its own. */
static void requests_coalesce(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, NULL, 0, 0);
	assert_int_equal(vmsim_entrypoint_create(vm.env, "ep", &vm.ep), VMSIM_OK);
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, stay);
	vt_wait_stopped(c);
	struct vt_gate g = VT_GATE_INIT;
	assert_int_equal(vmsim_entrypoint_post(vm.ep, vt_gate_job, &g), VMSIM_OK);
	vt_wait_until(vt_gate_entered, &g, "the gate job");
	for (int i = 0; i < 10; i++)
		assert_int_equal(vmsim_vcpu_pause(c->vcpu), VMSIM_OK);
	vt_gate_open(&g);
	vt_wait_exits(c, 2);
	assert_int_equal(vmsim_vcpu_pause(c->vcpu), VMSIM_OK);
	vt_wait_exits(c, 3);
	assert_int_equal(count_reason(c, PAUSED), 2);
	vt_vm_close(&vm);
}

struct storm {
	struct vmsim_vcpu *vcpu;
	unsigned requests;
};

static void *storm_main(void *arg)
{
	struct storm *s = arg;
	for (unsigned i = 0; i < s->requests; i++)
		if (vmsim_vcpu_pause(s->vcpu) != VMSIM_OK)
			return arg;
	return NULL;
}

struct settle {
	struct vt_cpu *c;
};

static unsigned paused_seen(struct vt_cpu *c)
{
	pthread_mutex_lock(&c->lock);
	unsigned n = c->paused;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static bool settled(void *ctx)
{
	struct vt_cpu *c = ((struct settle *)ctx)->c;
	return vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_PAUSED) == paused_seen(c);
}

/* Two threads recall a spinning vCPU 1,000 times each; the handler resumes every time. */
static void pause_storm(const void *p)
{
	bool on_ep = p != NULL;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_loops, 0, 0);
	if (on_ep)
		assert_int_equal(vmsim_entrypoint_create(vm.env, "ep", &vm.ep), VMSIM_OK);
	struct vt_cpu *c = vt_cpu_start(&vm, "x_spin", resume_paused);
	vt_wait_exits(c, 1);
	struct storm s = { c->vcpu, 1000 };
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, storm_main, &s), 0);
	for (int i = 0; i < 2; i++) {
		void *failed = NULL;
		pthread_join(t[i], &failed);
		assert_null(failed);
	}
	struct settle st = { c };
	vt_wait_until(settled, &st, "every counted PAUSED shown to the handler");
	unsigned seen = paused_seen(c);
	assert_int_equal(vmsim_vcpu_pause(c->vcpu), VMSIM_OK); /* still answered after the storm */
	vt_wait_exits(c, 1 + seen + 1);
	vt_wait_until(settled, &st, "every counted PAUSED shown to the handler");
	unsigned total = paused_seen(c);
	/*
	 * requests coalesce: the storm's 2 x 1,000 requests gave at most 2,000 PAUSED, and the one request after
	 * it adds one (or two, when one storm request was still pending), never none
	 */
	assert_true(seen <= 2 * s.requests);
	assert_in_range(total, seen + 1, seen + 2);
	vt_vm_close(&vm);
}

#define RUN (VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_STOP)

static const struct vc_test tests[] = {
	{ "pause", "pause_stopped_vcpu", 0, pause_stopped_vcpu, NULL },
	{ "pause", "pause_running_vcpu_inline", RUN, pause_running_vcpu, NULL },
	{ "pause", "pause_running_vcpu_on_entrypoint", RUN, pause_running_vcpu, &ep_flag },
	{ "pause", "pause_from_same_entrypoint", RUN, pause_from_same_entrypoint, NULL },
	{ "pause", "pause_while_halted", RUN, pause_while_halted, NULL },
	{ "pause", "requests_coalesce", 0, requests_coalesce, NULL },
	{ "pause", "storm_inline", RUN, pause_storm, NULL },
	{ "pause", "storm_on_entrypoint", RUN, pause_storm, &ep_flag },
};

struct vc_test_list vc_pause_tests(void)
{
	return VC_LIST(tests);
}
