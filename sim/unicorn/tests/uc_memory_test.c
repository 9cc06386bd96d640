/* uc_memory_test.c - read-only and non-executable mappings, unmapping under a running vCPU, shared memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "vt_uc.h"

static const struct vt_guest *g = &vt_guest_pm_loops;

static uint64_t at(const char *label)
{
	return VT_LOAD + vt_guest_sym(g, label);
}

static int stop_on_npf(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	(void)t, (void)s;
	return exit->kind == VMSIM_EXIT_NPF ? VMSIM_EXIT_ACTION_STOP : -1;
}

static void test_readonly_write(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	(void)state;

	vt_vm_init(&t, 0x30000, 0x31000);
	assert_int_equal(t.ops->mem_map(t.vm, 0x30000, t.ram + 0x30000, 0x1000, VMSIM_PROT_READ), VMSIM_OK);
	vt_load(&t, g);
	vt_state_prot(&s, at("x_write_ro"));
	vt_set(&t, &s);
	t.hook = stop_on_npf;
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 1);
	const struct vmsim_exit *e = &t.exits[0];
	assert_int_equal(e->kind, VMSIM_EXIT_NPF);
	assert_int_equal(e->rip, at("x_write_ro"));
	assert_int_equal(e->insn_len, 10);
	assert_int_equal(e->u.npf.access, VMSIM_ACCESS_WRITE);
	assert_int_equal(e->u.npf.gpa, 0x30000);
	assert_int_equal(e->u.npf.prot, VMSIM_PROT_READ);
	assert_true(e->u.npf.decoded);
	assert_int_equal(e->u.npf.size, 4);
	assert_int_equal(e->u.npf.value, 1);
	assert_int_equal(t.ram[0x30000], 0); /* the write did not happen */
	vt_vm_fini(&t);
}

static void test_noexec_fetch(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	(void)state;

	vt_vm_init(&t, 0x40000, 0x41000);
	assert_int_equal(t.ops->mem_map(t.vm, 0x40000, t.ram + 0x40000, 0x1000, VMSIM_PROT_READ | VMSIM_PROT_WRITE),
	                 VMSIM_OK);
	vt_load(&t, g);
	t.ram[0x40010] = 0xf4; /* something executable-looking */
	vt_state_prot(&s, at("x_jump_nx"));
	s.rbx = 0x40010;
	vt_set(&t, &s);
	assert_int_equal(vt_run(&t), VMSIM_OK); /* the default VMM stops on an undecoded NPF */
	assert_int_equal(atomic_load(&t.nexits), 1);
	const struct vmsim_exit *e = &t.exits[0];
	assert_int_equal(e->kind, VMSIM_EXIT_NPF);
	assert_int_equal(e->rip, 0x40010);
	assert_int_equal(e->u.npf.access, VMSIM_ACCESS_FETCH);
	assert_int_equal(e->u.npf.gpa, 0x40010);
	assert_int_equal(e->u.npf.prot, VMSIM_PROT_READ | VMSIM_PROT_WRITE);
	assert_false(e->u.npf.decoded);
	vt_vm_fini(&t);
}

struct unmapper {
	struct vt_vm *t;
	uint8_t *page;
	enum vmsim_result result;
};

static void *unmap_later(void *p)
{
	struct unmapper *u = p;
	assert_true(vt_wait_store(u->t, VT_DATA, NULL)); /* the vCPU is in the guest, reading the page */
	u->result = u->t->ops->mem_unmap(u->t->vm, 0x200000, 0x1000);
	/* Core frees the dataspace right after: any later access by the vCPU would crash here. */
	munmap(u->page, 0x1000);
	return NULL;
}

static void test_unmap_while_running(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	struct unmapper u;
	pthread_t th;
	(void)state;

	vt_vm_init(&t, 0, 0);
	u.t = &t;
	u.page = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(u.page != MAP_FAILED);
	assert_int_equal(t.ops->mem_map(t.vm, 0x200000, u.page, 0x1000, VMSIM_PROT_READ | VMSIM_PROT_WRITE),
	                 VMSIM_OK);
	vt_load(&t, g);
	vt_state_prot(&s, at("x_flag_read_loop")); /* stores 1 at EDI, then reads 0x200000 in x_read_loop */
	s.rdi = VT_DATA;
	vt_set(&t, &s);
	t.hook = stop_on_npf;
	assert_int_equal(pthread_create(&th, NULL, unmap_later, &u), 0);
	assert_int_equal(vt_run(&t), VMSIM_OK);
	pthread_join(th, NULL);
	assert_int_equal(u.result, VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 1);
	const struct vmsim_exit *e = &t.exits[0];
	assert_int_equal(e->kind, VMSIM_EXIT_NPF);
	assert_int_equal(e->rip, at("x_read_loop"));
	assert_int_equal(e->u.npf.access, VMSIM_ACCESS_READ);
	assert_int_equal(e->u.npf.gpa, 0x200000);
	assert_int_equal(e->u.npf.prot, 0);
	assert_int_equal(e->u.npf.size, 4);
	vt_vm_fini(&t);
}

/* mem_unmap from inside on_exit applies to the calling vCPU before its next instruction. */
static int unmap_code_on_first_out(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	(void)s;
	if (exit->kind == VMSIM_EXIT_IO && !t->user) {
		t->user = t;
		assert_int_equal(t->ops->mem_unmap(t->vm, VT_LOAD, 0x1000), VMSIM_OK);
		return -1; /* advance past the OUT: the next fetch is from the unmapped page */
	}
	return -1;
}

static void test_unmap_in_exit(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	(void)state;

	vt_vm_init(&t, VT_LOAD, VT_LOAD + 0x1000);
	assert_int_equal(t.ops->mem_map(t.vm, VT_LOAD, t.ram + VT_LOAD, 0x1000, 7), VMSIM_OK);
	vt_load(&t, g);
	vt_state_prot(&s, at("x_out_loop"));
	vt_set(&t, &s);
	t.hook = unmap_code_on_first_out;
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 2);
	assert_int_equal(t.exits[1].kind, VMSIM_EXIT_NPF);
	assert_int_equal(t.exits[1].u.npf.access, VMSIM_ACCESS_FETCH);
	assert_int_equal(t.exits[1].u.npf.gpa, at("x_out_loop") + 2);
	assert_int_equal(t.exits[1].rip, at("x_out_loop") + 2);
	vt_vm_fini(&t);
}

struct counter_vcpu {
	const struct vmsim_backend_ops *ops;
	void *vcpu;
	struct vmsim_cpu_state s;
	enum vmsim_result result;
	int exits;
};

static enum vmsim_exit_action count_exit(void *ctx, const struct vmsim_exit *exit)
{
	struct counter_vcpu *c = ctx;
	c->exits++;
	return exit->kind == VMSIM_EXIT_IO && exit->u.io.port == VT_PORT_DONE ? VMSIM_EXIT_ACTION_STOP
	                                                                       : VMSIM_EXIT_ACTION_RESUME;
}

static void *run_counter(void *p)
{
	struct counter_vcpu *c = p;
	c->result = c->ops->vcpu_run(c->vcpu, count_exit, c);
	return NULL;
}

static void test_two_vcpus_share_memory(void **state)
{
	enum { N = 200000 };
	struct vt_vm t;
	struct counter_vcpu c[2];
	pthread_t th[2];
	(void)state;

	vt_vm_init(&t, 0, 0);
	vt_load(&t, g);
	memset(c, 0, sizeof c);
	c[0].vcpu = t.vcpu;
	assert_int_equal(t.ops->vcpu_create(t.vm, 1, &c[1].vcpu), VMSIM_OK);
	for (int i = 0; i < 2; i++) {
		c[i].ops = t.ops;
		vt_state_prot(&c[i].s, at("x_count"));
		c[i].s.rcx = N;
		c[i].s.rdx = N;
		c[i].s.rdi = VT_DATA + 4 * (uint64_t)i;
		c[i].s.rsi = VT_DATA + 4 * (uint64_t)(1 - i);
		assert_int_equal(t.ops->state_set(c[i].vcpu, VMSIM_GROUP_ALL, &c[i].s), VMSIM_OK);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, run_counter, &c[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	/*
	 * Each vCPU waited for the other's counter: both engines see one memory.
	 * (LOCK-prefixed instructions are not atomic across engines on 2.0.1, so
	 * each counter has a single writer.)
	 */
	uint32_t counter[2];
	memcpy(counter, t.ram + VT_DATA, 8);
	assert_int_equal(counter[0], N);
	assert_int_equal(counter[1], N);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(c[i].result, VMSIM_OK);
		assert_int_equal(c[i].exits, 1);
	}
	t.ops->vcpu_destroy(c[1].vcpu);
	vt_vm_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readonly_write),
		cmocka_unit_test(test_noexec_fetch),
		cmocka_unit_test(test_unmap_while_running),
		cmocka_unit_test(test_unmap_in_exit),
		cmocka_unit_test(test_two_vcpus_share_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
