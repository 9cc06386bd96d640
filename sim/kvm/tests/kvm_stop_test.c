/* kvm_stop_test.c - vcpu_stop on KVM: before the run, during KVM_RUN, racing the entry, and out of HLT idling. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "vt_kvm.h"

static const uint8_t spin[] = { 0xeb, 0xfe };        /* jmp . */
static const uint8_t halt[] = { 0xf4, 0xeb, 0xfd };  /* hlt; jmp back to it */

static void setup(struct vt_vm *t, const uint8_t *code, size_t len, bool intercept_hlt)
{
	struct vmsim_cpu_state s;

	vt_kvm_require();
	vt_vm_init_on(t, vmsim_backend_kvm(), 0, 0);
	memcpy(t->ram + VT_LOAD, code, len);
	vt_state_prot(&s, VT_LOAD);
	s.xcr0 = 1;
	if (!intercept_hlt)
		s.intercepts &= ~(uint32_t)VMSIM_INTERCEPT_HLT;
	vt_set(t, &s);
}

struct runner {
	struct vt_vm *t;
	pthread_t thread;
	_Atomic int result;
};

static void *run_main(void *arg)
{
	struct runner *r = arg;
	r->result = vt_run(r->t);
	return NULL;
}

static void start(struct runner *r, struct vt_vm *t)
{
	r->t = t;
	r->result = -1;
	assert_int_equal(pthread_create(&r->thread, NULL, run_main, r), 0);
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	nanosleep(&ts, NULL);
}

/* A stop that lands before vcpu_run makes the next run return at once, with no exit. */
static void test_stop_before_run(void **state)
{
	(void)state;
	struct vt_vm t;
	setup(&t, spin, sizeof spin, true);
	t.ops->vcpu_stop(t.vcpu);
	assert_int_equal(vt_kvm_run_bounded(&t, 5), VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 0);
	vt_vm_fini(&t);
}

/* A guest spinning inside KVM_RUN is stopped by another thread, at any delay, every time. */
static void test_stop_running_guest(void **state)
{
	(void)state;
	struct vt_vm t;
	setup(&t, spin, sizeof spin, true);
	for (int i = 0; i < 20; i++) {
		struct runner r;
		start(&r, &t);
		sleep_us(i * 500); /* from "before KVM_RUN" to well inside it */
		t.ops->vcpu_stop(t.vcpu);
		pthread_join(r.thread, NULL);
		assert_int_equal(r.result, VMSIM_OK);
	}
	struct vmsim_cpu_state s;
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_IP, &s), VMSIM_OK);
	assert_int_equal(s.rip, VT_LOAD);
	assert_int_equal(atomic_load(&t.nexits), 0);
	vt_vm_fini(&t);
}

/* Stops racing the entry: the run thread is started and stopped with no delay; none may be lost. */
static void test_stop_storm(void **state)
{
	(void)state;
	struct vt_vm t;
	setup(&t, spin, sizeof spin, true);
	for (int i = 0; i < 100; i++) {
		struct runner r;
		start(&r, &t);
		t.ops->vcpu_stop(t.vcpu);
		if (i & 1)
			t.ops->vcpu_stop(t.vcpu); /* two stops coalesce into one return */
		pthread_join(r.thread, NULL);
		assert_int_equal(r.result, VMSIM_OK);
	}
	vt_vm_fini(&t);
}

/* HLT without the intercept idles in the backend (no exit); a stop ends the run with activity HLT. */
static void test_hlt_idle_then_stop(void **state)
{
	(void)state;
	struct vt_vm t;
	struct runner r;
	struct vmsim_cpu_state s;

	setup(&t, halt, sizeof halt, false);
	start(&r, &t);
	sleep_us(100 * 1000);
	t.ops->vcpu_stop(t.vcpu);
	pthread_join(r.thread, NULL);
	assert_int_equal(r.result, VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 0);
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_EVENTS | VMSIM_GROUP_IP, &s), VMSIM_OK);
	assert_int_equal(s.activity, VMSIM_ACTIVITY_HLT);
	assert_int_equal(s.rip, VT_LOAD + 1);
	vt_vm_fini(&t);
}

/* With the intercept the HLT is an exit at the HLT itself, length 1. */
static void test_hlt_exit(void **state)
{
	(void)state;
	struct vt_vm t;
	struct runner r;

	setup(&t, halt, sizeof halt, true);
	start(&r, &t);
	sleep_us(100 * 1000);
	t.ops->vcpu_stop(t.vcpu);
	pthread_join(r.thread, NULL);
	assert_true(atomic_load(&t.nexits) >= 1);
	assert_int_equal(t.exits[0].kind, VMSIM_EXIT_HLT);
	assert_int_equal(t.exits[0].rip, VT_LOAD);
	assert_int_equal(t.exits[0].insn_len, 1);
	vt_vm_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stop_before_run),
		cmocka_unit_test(test_stop_running_guest),
		cmocka_unit_test(test_stop_storm),
		cmocka_unit_test(test_hlt_idle_then_stop),
		cmocka_unit_test(test_hlt_exit),
	};
	return cmocka_run_group_tests_name("kvm_stop", tests, NULL, NULL);
}
