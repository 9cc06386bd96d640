/* uc_exits_test.c - the exit tour (vt_tour.c) in real, protected and long mode on Unicorn, and TSC/flags details. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "vt_tour.h"
#include "vt_uc.h"

/* The tour on Unicorn: every kind, nothing left to the kernel (vt_tour.c has the tour and its checks). */
static struct vt_tour_backend unicorn = { vt_vm_init, NULL, vt_run };

static int stop_at_msr(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	(void)t, (void)s;
	return exit->kind == VMSIM_EXIT_MSR ? VMSIM_EXIT_ACTION_STOP : -1;
}

/* Without RDTSC(P) intercepts the backend emulates them with tsc_offset and TSC_AUX applied. */
static void test_tsc_offset_not_intercepted(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	(void)state;

	vt_vm_init(&t, 0, 0);
	vt_load(&t, &vt_guest_pm_exits);
	vt_state_prot(&s, VT_LOAD + vt_guest_sym(&vt_guest_pm_exits, "x_rdtsc"));
	s.intercepts = VMSIM_INTERCEPT_IO | VMSIM_INTERCEPT_MSR | VMSIM_INTERCEPT_TSC_OFFSET;
	s.tsc_offset = 1ull << 62;
	s.tsc_aux = 0x77;
	vt_set(&t, &s);
	t.hook = stop_at_msr;
	assert_int_equal(vt_run(&t), VMSIM_OK);
	/* First exit is the RDMSR: both TSC reads ran in the guest without exits. */
	assert_int_equal(t.exits[0].kind, VMSIM_EXIT_MSR);
	assert_int_equal(t.exits[0].rip, VT_LOAD + vt_guest_sym(&vt_guest_pm_exits, "x_rdmsr"));
	vt_vm_fini(&t);
}

static int check_rdtscp_regs(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	if (exit->kind == VMSIM_EXIT_IO && exit->u.io.port == 0x10) {
		uint64_t tsc = (s->rdx << 32) | (uint32_t)s->rax;
		assert_int_equal(s->rcx, 0x77); /* TSC_AUX */
		assert_true(tsc >= (1ull << 62));
		t->user = (void *)1;
		return VMSIM_EXIT_ACTION_STOP;
	}
	return -1;
}

/* RDTSCP without its intercept: EDX:EAX = host TSC + tsc_offset, ECX = TSC_AUX. */
static void test_rdtscp_values(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	static const uint8_t code[] = { 0x0f, 0x01, 0xf9, 0xe6, 0x10 }; /* rdtscp; out 0x10, al */
	(void)state;

	vt_vm_init(&t, 0, 0);
	memcpy(t.ram + VT_LOAD, code, sizeof code);
	vt_state_prot(&s, VT_LOAD);
	s.intercepts = VMSIM_INTERCEPT_IO | VMSIM_INTERCEPT_TSC_OFFSET;
	s.tsc_offset = 1ull << 62;
	s.tsc_aux = 0x77;
	s.rcx = 0xdead;
	vt_set(&t, &s);
	t.hook = check_rdtscp_regs;
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_non_null(t.user);
	assert_int_equal(atomic_load(&t.nexits), 1);
	vt_vm_fini(&t);
}

static int check_fault_flags(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	if (exit->kind == VMSIM_EXIT_NPF) {
		/* add bl, al with 0xff + 0x78 just before the faulting store: CF, PF, AF set; ZF, SF, OF clear */
		assert_int_equal(s->rflags & 0x8d5, 0x15);
		assert_int_equal(s->rflags & 0x200, 0x200); /* IF as set before the run */
		t->user = t;
	}
	return -1;
}

/* The flags a data fault reports are those the preceding instructions of its block computed. */
static void test_npf_flags(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	/* mov bl, 0xff; mov al, 0x78; add bl, al; mov dword [0xe0000000], 0x1234; out 0xf0, al */
	static const uint8_t code[] = { 0xb3, 0xff, 0xb0, 0x78, 0x00, 0xc3, 0xc7, 0x05, 0x00, 0x00, 0x00, 0xe0,
		                        0x34, 0x12, 0x00, 0x00, 0xe6, 0xf0 };
	(void)state;

	vt_vm_init(&t, 0, 0);
	memcpy(t.ram + VT_LOAD, code, sizeof code);
	vt_state_prot(&s, VT_LOAD);
	s.rax = 0x12345600;
	s.rflags = 0x202;
	vt_set(&t, &s);
	t.hook = check_fault_flags;
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_non_null(t.user);
	assert_int_equal(atomic_load(&t.nexits), 2);
	assert_int_equal(t.exits[0].kind, VMSIM_EXIT_NPF);
	assert_int_equal(t.exits[0].rip, VT_LOAD + 6);
	assert_int_equal(t.exits[0].u.npf.value, 0x1234);
	vt_vm_fini(&t);
}

static int check_fault_flags_df(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	if (exit->kind == VMSIM_EXIT_NPF) {
		assert_int_equal(s->rflags & 0xcd5, 0x415); /* CF PF AF from add bl, al; DF from std */
		assert_int_equal(s->rflags & 0x200, 0x200);
		(*(int *)t->user)++;
	}
	return -1;
}

/*
 * The other ways a fault's flags are known exactly (uc_exits.c ucb_hook_fault): the faulting store starts its block
 * (QEMU syncs the lazy flags at block ends), or a code hook sits on it (the second round: the first fault hooked it).
 * Each round must report the same flags, with the DF and IF the guest set.
 */
static void test_npf_flags_at_block_start_and_hooked(void **state)
{
	/* mov bl, 0xff; mov al, 0x78; std; add bl, al; [jmp $+2;] mov dword [0xe0000000], 0x1234; dec ecx; jnz 0 */
	static const uint8_t head[] = { 0xb3, 0xff, 0xb0, 0x78, 0xfd, 0x00, 0xc3 };
	static const uint8_t store[] = { 0xc7, 0x05, 0x00, 0x00, 0x00, 0xe0, 0x34, 0x12, 0x00, 0x00, 0x49 };
	static const uint8_t tail[] = { 0xfc, 0xe6, 0xf0 }; /* cld; out 0xf0, al */
	(void)state;

	for (int split = 0; split < 2; split++) {
		struct vt_vm t;
		struct vmsim_cpu_state s;
		uint8_t code[32];
		size_t n = 0;
		memcpy(code, head, sizeof head), n += sizeof head;
		if (split)
			code[n++] = 0xeb, code[n++] = 0x00; /* jmp $+2: the store starts a block */
		memcpy(code + n, store, sizeof store), n += sizeof store;
		code[n] = 0x75, code[n + 1] = (uint8_t)-(int)(n + 2), n += 2; /* jnz back to the start */
		memcpy(code + n, tail, sizeof tail), n += sizeof tail;

		vt_vm_init(&t, 0, 0);
		memcpy(t.ram + VT_LOAD, code, n);
		vt_state_prot(&s, VT_LOAD);
		s.rcx = 2;
		s.rflags = 0x202;
		vt_set(&t, &s);
		int faults = 0;
		t.hook = check_fault_flags_df;
		t.user = &faults;
		assert_int_equal(vt_run(&t), VMSIM_OK);
		assert_int_equal(faults, 2);
		vt_vm_fini(&t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		VT_TOUR_TESTS(&unicorn),
		cmocka_unit_test(test_tsc_offset_not_intercepted),
		cmocka_unit_test(test_rdtscp_values),
		cmocka_unit_test(test_npf_flags),
		cmocka_unit_test(test_npf_flags_at_block_start_and_hooked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
