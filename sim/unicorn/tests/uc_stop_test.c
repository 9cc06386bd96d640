/* uc_stop_test.c - vcpu_stop before a run, from another thread while spinning, and a storm of stops. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "vt_uc.h"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void start_prot(struct vt_vm *t, const char *label)
{
	struct vmsim_cpu_state s;

	vt_vm_init(t, 0, 0);
	vt_load(t, &vt_guest_pm_loops);
	vt_state_prot(&s, VT_LOAD + vt_guest_sym(&vt_guest_pm_loops, label));
	vt_set(t, &s);
}

/* 2.0.1 drops a uc_emu_stop issued before uc_emu_start; the backend's own flag must not. */
static void test_stop_before_run(void **state)
{
	struct vt_vm t;
	(void)state;

	start_prot(&t, "x_spin");
	t.ops->vcpu_stop(t.vcpu);
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 0);
	vt_vm_fini(&t);
}

struct runner {
	struct vt_vm *t;
	int runs;
	atomic_int returned;
	enum vmsim_result last;
};

static void *run_loop(void *p)
{
	struct runner *r = p;
	for (int i = 0; i < r->runs; i++) {
		enum vmsim_result res = vt_run(r->t);
		if (res != VMSIM_OK)
			r->last = res;
		atomic_fetch_add(&r->returned, 1);
	}
	return NULL;
}

static void test_stop_while_spinning(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	struct runner r = { &t, 1, 0, VMSIM_OK };
	pthread_t th;
	(void)state;

	start_prot(&t, "x_flag_spin"); /* stores 1 at EDI, then spins in x_spin */
	struct vmsim_cpu_state flag;
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_ALL, &flag), VMSIM_OK);
	flag.rdi = VT_DATA;
	vt_set(&t, &flag);
	assert_int_equal(pthread_create(&th, NULL, run_loop, &r), 0);
	assert_true(vt_wait_store(&t, VT_DATA, NULL)); /* the vCPU is in the guest: the stop lands mid-run */
	assert_int_equal(atomic_load(&r.returned), 0);
	t.ops->vcpu_stop(t.vcpu);
	pthread_join(th, NULL);
	assert_int_equal(r.last, VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 0);
	/* The spin is a single jmp: a stop leaves rip on it, architecturally consistent. */
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_IP, &s), VMSIM_OK);
	assert_int_equal(s.rip, VT_LOAD + vt_guest_sym(&vt_guest_pm_loops, "x_spin"));
	vt_vm_fini(&t);
}

/* Each stop is issued once the previous run returned: it lands before or during the next run, never lost. */
static void storm(const char *label)
{
	enum { RUNS = 300 };
	struct vt_vm t;
	struct runner r = { &t, RUNS, 0, VMSIM_OK };
	pthread_t th;

	start_prot(&t, label);
	assert_int_equal(pthread_create(&th, NULL, run_loop, &r), 0);
	for (int i = 0; i < RUNS; i++) {
		double deadline = now_s() + 20;
		t.ops->vcpu_stop(t.vcpu);
		if (i % 3 == 1)
			t.ops->vcpu_stop(t.vcpu); /* duplicates coalesce but still end a run */
		while (atomic_load(&r.returned) <= i) {
			assert_true(now_s() < deadline); /* a lost stop hangs the run */
			sched_yield();
		}
		if (i % 7 == 0)
			sleep_ms(1); /* let the next run get into the guest first */
	}
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&r.returned), RUNS);
	assert_int_equal(r.last, VMSIM_OK);
	vt_vm_fini(&t);
}

static void test_stop_storm_spinning(void **state)
{
	(void)state;
	storm("x_spin");
}

static void test_stop_storm_exiting(void **state)
{
	(void)state;
	storm("x_out_loop"); /* stops race with in-hook exits that resume */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stop_before_run),
		cmocka_unit_test(test_stop_while_spinning),
		cmocka_unit_test(test_stop_storm_spinning),
		cmocka_unit_test(test_stop_storm_exiting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
