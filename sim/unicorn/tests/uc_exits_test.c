/* uc_exits_test.c - every exit kind with exact rip, length and fields, in real, protected and long mode. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "vt_uc.h"

enum { REAL, PROT, LONG };

struct expect {
	const char *label;
	enum vmsim_exit_kind kind;
	uint16_t port;
	uint8_t size;
	bool in, string, rep, imm;
	uint64_t value;
	uint8_t len[3]; /* per mode */
};

#define IO(l, p, sz, i, s, r, im, v, a, b, c) { l, VMSIM_EXIT_IO, p, sz, i, s, r, im, v, { a, b, c } }
#define OTHER(l, k, a, b, c) { l, k, 0, 0, 0, 0, 0, 0, 0, { a, b, c } }

static const struct expect tour[] = {
	IO("x_out_imm", 0x10, 1, 0, 0, 0, 1, 0x41, 2, 2, 2),
	IO("x_out_dx", 0x80, 2, 0, 0, 0, 0, 0x1234, 1, 2, 2),
	IO("x_in_imm", 0x11, 1, 1, 0, 0, 1, 0, 2, 2, 2),
	IO("x_report", 0x12, 1, 0, 0, 0, 1, 0x5a, 2, 2, 2), /* the IN result came back in AL */
	IO("x_in_dx32", 0x80, 4, 1, 0, 0, 0, 0, 2, 1, 1),
	IO("x_outsb", 0x80, 1, 0, 1, 0, 0, 'H', 1, 1, 1),
	IO("x_rep_outsw", 0x80, 2, 0, 1, 1, 0, 0x6548, 2, 3, 3),
	IO("x_rep_insb", 0x80, 1, 1, 1, 1, 0, 0, 2, 2, 2),
	OTHER("x_cpuid", VMSIM_EXIT_CPUID, 2, 2, 2),
	OTHER("x_rdtsc", VMSIM_EXIT_RDTSC, 2, 2, 2),
	OTHER("x_rdtscp", VMSIM_EXIT_RDTSCP, 3, 3, 3),
	OTHER("x_rdmsr", VMSIM_EXIT_MSR, 2, 2, 2),
	OTHER("x_wrmsr", VMSIM_EXIT_MSR, 2, 2, 2),
	OTHER("x_vmcall", VMSIM_EXIT_VMCALL, 3, 3, 3),
	OTHER("x_mmio_read", VMSIM_EXIT_NPF, 5, 4, 4),
	OTHER("x_mmio_write", VMSIM_EXIT_NPF, 10, 7, 8),
	OTHER("x_hlt", VMSIM_EXIT_HLT, 1, 1, 1),
	IO("x_done", VT_PORT_DONE, 1, 0, 0, 0, 1, 0, 2, 2, 2),
};

static void run_tour(int mode)
{
	static const struct vt_guest *guests[3] = { &vt_guest_rm_exits, &vt_guest_pm_exits, &vt_guest_lm_exits };
	const struct vt_guest *g = guests[mode];
	struct vt_vm t;
	struct vmsim_cpu_state s;
	uint64_t base = mode == REAL ? 0 : VT_LOAD;
	uint64_t mmio = mode == REAL ? 0xb0000 : 0xe0000000;

	vt_vm_init(&t, mode == REAL ? 0xa0000 : 0, mode == REAL ? 0xc0000 : 0);
	vt_load(&t, g);
	memcpy(t.ram + VT_DATA, "Hello!", 6);
	if (mode == REAL)
		vt_state_real(&s, 0);
	else if (mode == PROT)
		vt_state_prot(&s, VT_LOAD);
	else
		vt_state_long(&s, VT_LOAD);
	vt_set(&t, &s);
	assert_int_equal(vt_run(&t), VMSIM_OK);

	size_t n = atomic_load(&t.nexits);
	assert_int_equal(n, sizeof tour / sizeof tour[0]);
	for (size_t i = 0; i < n; i++) {
		const struct expect *x = &tour[i];
		const struct vmsim_exit *e = &t.exits[i];
		print_message("exit %zu: %s kind %d rip %#llx len %u\n", i, x->label, e->kind,
		              (unsigned long long)e->rip, e->insn_len);
		assert_int_equal(e->kind, x->kind);
		assert_int_equal(e->rip, base + vt_guest_sym(g, x->label));
		assert_int_equal(e->insn_len, x->len[mode]);
		if (x->kind == VMSIM_EXIT_IO) {
			assert_int_equal(e->u.io.port, x->port);
			assert_int_equal(e->u.io.size, x->size);
			assert_int_equal(e->u.io.in, x->in);
			assert_int_equal(e->u.io.string, x->string);
			assert_int_equal(e->u.io.rep, x->rep);
			assert_int_equal(e->u.io.imm, x->imm);
			if (strcmp(x->label, "x_done"))
				assert_int_equal(e->u.io.value, x->value);
			if (x->string)
				assert_int_equal(e->u.io.addr_size, mode == REAL ? 2 : mode == PROT ? 4 : 8);
			if (x->string && x->in)
				assert_int_equal(e->u.io.seg, 0);
		}
	}
	const struct vmsim_exit *e = &t.exits[8];
	assert_int_equal(e->u.cpuid.leaf, 0);
	assert_int_equal(e->u.cpuid.subleaf, 7);
	e = &t.exits[11];
	assert_false(e->u.msr.write);
	assert_int_equal(e->u.msr.index, 0xc0000080u);
	e = &t.exits[12];
	assert_true(e->u.msr.write);
	assert_int_equal(e->u.msr.index, 0x174);
	assert_int_equal(e->u.msr.value, 0x0000112200003344ull);
	e = &t.exits[14];
	assert_int_equal(e->u.npf.access, VMSIM_ACCESS_READ);
	assert_int_equal(e->u.npf.gpa, mmio + 0x20);
	assert_int_equal(e->u.npf.prot, 0);
	assert_true(e->u.npf.decoded);
	assert_int_equal(e->u.npf.size, 2);
	e = &t.exits[15];
	assert_int_equal(e->u.npf.access, VMSIM_ACCESS_WRITE);
	assert_int_equal(e->u.npf.gpa, mmio + 0x40);
	assert_true(e->u.npf.decoded);
	assert_int_equal(e->u.npf.size, mode == LONG ? 8 : 4);
	assert_int_equal(e->u.npf.value, mode == LONG ? 0xffffffffdeadbeefull : 0xdeadbeef);

	/* STOP leaves the exiting OUT not executed: rip still points at it. */
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_IP | VMSIM_GROUP_GPR, &s), VMSIM_OK);
	assert_int_equal(s.rip, base + vt_guest_sym(g, "x_done"));
	/* The WRMSR's ECX is still there: the VMM's register writes and the guest's own both landed. */
	assert_int_equal(s.rcx & 0xffff, 0x174);
	vt_vm_fini(&t);
}

static void test_exits_real(void **state)
{
	(void)state;
	run_tour(REAL);
}

static void test_exits_protected(void **state)
{
	(void)state;
	run_tour(PROT);
}

static void test_exits_long(void **state)
{
	(void)state;
	run_tour(LONG);
}

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exits_real),
		cmocka_unit_test(test_exits_protected),
		cmocka_unit_test(test_exits_long),
		cmocka_unit_test(test_tsc_offset_not_intercepted),
		cmocka_unit_test(test_rdtscp_values),
		cmocka_unit_test(test_npf_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
