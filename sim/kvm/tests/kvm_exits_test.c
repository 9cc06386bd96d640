/* kvm_exits_test.c - the exit tour on real KVM: every exit KVM delivers, with exact rip, length and fields. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "vt_kvm.h"

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

/* The Unicorn tour (uc_exits_test) less CPUID, RDTSC(P) and VMCALL, which KVM keeps in the kernel; RDMSR/WRMSR
 * where the host offers user-space MSR exits (EXIT_MSR). */
static const struct expect tour[] = {
	IO("x_out_imm", 0x10, 1, 0, 0, 0, 1, 0x41, 2, 2, 2),
	IO("x_out_dx", 0x80, 2, 0, 0, 0, 0, 0x1234, 1, 2, 2),
	IO("x_in_imm", 0x11, 1, 1, 0, 0, 1, 0, 2, 2, 2),
	IO("x_report", 0x12, 1, 0, 0, 0, 1, 0x5a, 2, 2, 2), /* the VMM's IN result came back in AL */
	IO("x_in_dx32", 0x80, 4, 1, 0, 0, 0, 0, 2, 1, 1),
	IO("x_outsb", 0x80, 1, 0, 1, 0, 0, 'H', 1, 1, 1),
	IO("x_rep_outsw", 0x80, 2, 0, 1, 1, 0, 0x6548, 2, 3, 3),
	IO("x_rep_insb", 0x80, 1, 1, 1, 1, 0, 0, 2, 2, 2),
	OTHER("x_rdmsr", VMSIM_EXIT_MSR, 2, 2, 2),
	OTHER("x_wrmsr", VMSIM_EXIT_MSR, 2, 2, 2),
	OTHER("x_mmio_read", VMSIM_EXIT_NPF, 5, 4, 4),
	OTHER("x_mmio_write", VMSIM_EXIT_NPF, 10, 7, 8),
	OTHER("x_hlt", VMSIM_EXIT_HLT, 1, 1, 1),
	IO("x_done", VT_PORT_DONE, 1, 0, 0, 0, 1, 0, 2, 2, 2),
};

static void start_state(struct vt_vm *t, int mode, struct vmsim_cpu_state *s)
{
	if (mode == REAL) {
		vt_state_real(s, 0);
	} else if (mode == PROT) {
		vt_state_prot(s, VT_LOAD);
	} else {
		vt_state_long(s, VT_LOAD);
		vt_kvm_long_paging(t, s);
	}
	s->xcr0 = 1;
}

static void check_io(const struct expect *x, const struct vmsim_exit *e, int mode)
{
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

static void run_tour(int mode)
{
	static const struct vt_guest *guests[3] = { &vt_guest_rm_exits, &vt_guest_pm_exits, &vt_guest_lm_exits };
	const struct vt_guest *g = guests[mode];
	struct vt_vm t;
	struct vmsim_cpu_state s;
	uint64_t base = mode == REAL ? 0 : VT_LOAD;
	uint64_t mmio = mode == REAL ? 0xb0000 : 0xe0000000;
	uint8_t before[VT_RAM / 64];

	vt_kvm_require();
	vt_vm_init_on(&t, vmsim_backend_kvm(), mode == REAL ? 0xa0000 : 0, mode == REAL ? 0xc0000 : 0);
	vt_load(&t, g);
	if (mode == REAL)
		vt_kvm_nop_vmcall(&t, g);
	memcpy(t.ram + VT_DATA, "Hello!", 6);
	memset(t.ram + VT_DATA + 0x100, 0xcc, 16);
	start_state(&t, mode, &s);
	vt_set(&t, &s);
	memcpy(before, t.ram + VT_DATA, sizeof before);
	assert_int_equal(vt_kvm_run_bounded(&t, 5), VMSIM_OK);

	size_t n = atomic_load(&t.nexits);
	for (size_t i = 0; i < n; i++)
		print_message("exit %zu: kind %s rip %#llx len %u\n", i, vmsim_exit_kind_name(t.exits[i].kind),
		              (unsigned long long)t.exits[i].rip, t.exits[i].insn_len);
	const struct expect *want[sizeof tour / sizeof tour[0]] = {0};
	size_t nwant = 0, mmio_read = 0;
	for (size_t i = 0; i < sizeof tour / sizeof tour[0]; i++)
		if (!vt_kvm_kind_missing(t.ops, tour[i].kind)) {
			if (!strcmp(tour[i].label, "x_mmio_read"))
				mmio_read = nwant;
			want[nwant++] = &tour[i];
		}
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < n; i++) {
		const struct expect *x = want[i];
		const struct vmsim_exit *e = &t.exits[i];
		assert_int_equal(e->kind, x->kind);
		assert_int_equal(e->rip, base + vt_guest_sym(g, x->label));
		assert_int_equal(e->insn_len, x->len[mode]);
		if (x->kind == VMSIM_EXIT_IO)
			check_io(x, e, mode);
		if (!strcmp(x->label, "x_rdmsr")) {
			assert_false(e->u.msr.write);
			assert_int_equal(e->u.msr.index, 0xc0000080u);
		}
		if (!strcmp(x->label, "x_wrmsr")) {
			assert_true(e->u.msr.write);
			assert_int_equal(e->u.msr.index, 0x174);
			assert_int_equal(e->u.msr.value, 0x0000112200003344ull);
		}
	}
	const struct vmsim_exit *e = &t.exits[mmio_read];
	assert_int_equal(e->u.npf.access, VMSIM_ACCESS_READ);
	assert_int_equal(e->u.npf.gpa, mmio + 0x20);
	assert_int_equal(e->u.npf.prot, 0);
	assert_true(e->u.npf.decoded);
	assert_int_equal(e->u.npf.size, 2);
	e = &t.exits[mmio_read + 1];
	assert_int_equal(e->u.npf.access, VMSIM_ACCESS_WRITE);
	assert_int_equal(e->u.npf.gpa, mmio + 0x40);
	assert_true(e->u.npf.decoded);
	assert_int_equal(e->u.npf.size, mode == LONG ? 8 : 4);
	assert_int_equal(e->u.npf.value, mode == LONG ? 0xffffffffdeadbeefull : 0xdeadbeef);

	/* The VMM emulated the REP INSB without storing: KVM's own pending completion must not have stored either. */
	assert_memory_equal(t.ram + VT_DATA, before, sizeof before);
	/* STOP leaves the exiting OUT not executed: rip still points at it. */
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_IP | VMSIM_GROUP_GPR, &s), VMSIM_OK);
	assert_int_equal(s.rip, base + vt_guest_sym(g, "x_done"));
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

/* A discharged resume re-executes: KVM's completion of the exiting OUT must not run behind the VMM's back. */
static int repeat_hook(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	(void)s;
	if (exit->kind == VMSIM_EXIT_IO && exit->u.io.port == 0x10 && t->hook_calls < 2)
		return VMSIM_EXIT_ACTION_RESUME; /* rip untouched */
	return -1;
}

static void test_unadvanced_io_reexecutes(void **state)
{
	(void)state;
	struct vt_vm t;
	struct vmsim_cpu_state s;

	vt_kvm_require();
	vt_vm_init_on(&t, vmsim_backend_kvm(), 0, 0);
	vt_load(&t, &vt_guest_pm_exits);
	start_state(&t, PROT, &s);
	vt_set(&t, &s);
	t.hook = repeat_hook;
	assert_int_equal(vt_kvm_run_bounded(&t, 5), VMSIM_OK);
	uint64_t at = VT_LOAD + vt_guest_sym(&vt_guest_pm_exits, "x_out_imm");
	assert_int_equal(t.exits[0].rip, at);
	assert_int_equal(t.exits[1].rip, at);
	assert_int_equal(t.exits[2].rip, at);
	assert_int_not_equal(t.exits[3].rip, at);
	vt_vm_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exits_real),
		cmocka_unit_test(test_exits_protected),
		cmocka_unit_test(test_exits_long),
		cmocka_unit_test(test_unadvanced_io_reexecutes),
	};
	return cmocka_run_group_tests_name("kvm_exits", tests, NULL, NULL);
}
