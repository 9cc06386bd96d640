/* vt_tour.c - the one exit tour, run by uc_exits_test (Unicorn) and kvm_exits_test (KVM). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "vt_tour.h"

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

/* KVM keeps CPUID, RDTSC(P) and VMCALL in the kernel, and RDMSR/WRMSR unless the host offers user-space MSR exits. */
static const struct expect tour[] = {
	IO("x_out_imm", 0x10, 1, 0, 0, 0, 1, 0x41, 2, 2, 2),
	IO("x_out_dx", 0x80, 2, 0, 0, 0, 0, 0x1234, 1, 2, 2),
	IO("x_in_imm", 0x11, 1, 1, 0, 0, 1, 0, 2, 2, 2),
	IO("x_report", 0x12, 1, 0, 0, 0, 1, 0x5a, 2, 2, 2), /* the VMM's IN result came back in AL */
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
enum { TOUR_LEN = sizeof tour / sizeof tour[0] };

uint64_t vt_tour_exit_cap(enum vmsim_exit_kind kind)
{
	static const struct {
		enum vmsim_exit_kind kind;
		uint64_t cap;
	} need[] = {
		{ VMSIM_EXIT_CPUID, VMSIM_CAP_EXIT_CPUID },   { VMSIM_EXIT_VMCALL, VMSIM_CAP_EXIT_VMCALL },
		{ VMSIM_EXIT_RDTSC, VMSIM_CAP_EXIT_RDTSC },   { VMSIM_EXIT_RDTSCP, VMSIM_CAP_EXIT_RDTSCP },
		{ VMSIM_EXIT_MSR, VMSIM_CAP_EXIT_MSR },       { VMSIM_EXIT_HLT, VMSIM_CAP_EXIT_HLT },
		{ VMSIM_EXIT_SHUTDOWN, VMSIM_CAP_EXIT_SHUTDOWN }, { VMSIM_EXIT_NPF, VMSIM_CAP_EXIT_NPF },
		{ VMSIM_EXIT_IO, VMSIM_CAP_EXIT_IO },         { VMSIM_EXIT_NMI_WINDOW, VMSIM_CAP_NMI_WINDOW },
		{ VMSIM_EXIT_INTR_WINDOW, VMSIM_CAP_INTR_WINDOW },
	};
	for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
		if (need[i].kind == kind)
			return need[i].cap;
	return 0;
}

bool vt_tour_kind_missing(const struct vmsim_backend_ops *ops, enum vmsim_exit_kind kind)
{
	uint64_t cap = vt_tour_exit_cap(kind);
	return cap && !(ops->caps & cap);
}

static void check_io(const struct expect *x, const struct vmsim_exit *e, enum vt_tour_mode mode)
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
		assert_int_equal(e->u.io.addr_size, mode == VT_TOUR_REAL ? 2 : mode == VT_TOUR_PROT ? 4 : 8);
	if (x->string && x->in)
		assert_int_equal(e->u.io.seg, 0);
}

/* The fields of the exits that are not port I/O, by label. */
static void check_other(const struct expect *x, const struct vmsim_exit *e, enum vt_tour_mode mode, uint64_t mmio)
{
	if (!strcmp(x->label, "x_cpuid")) {
		assert_int_equal(e->u.cpuid.leaf, 0);
		assert_int_equal(e->u.cpuid.subleaf, 7);
	} else if (!strcmp(x->label, "x_rdmsr")) {
		assert_false(e->u.msr.write);
		assert_int_equal(e->u.msr.index, 0xc0000080u);
	} else if (!strcmp(x->label, "x_wrmsr")) {
		assert_true(e->u.msr.write);
		assert_int_equal(e->u.msr.index, 0x174);
		assert_int_equal(e->u.msr.value, 0x0000112200003344ull);
	} else if (!strcmp(x->label, "x_mmio_read")) {
		assert_int_equal(e->u.npf.access, VMSIM_ACCESS_READ);
		assert_int_equal(e->u.npf.gpa, mmio + 0x20);
		assert_int_equal(e->u.npf.prot, 0);
		assert_true(e->u.npf.decoded);
		assert_int_equal(e->u.npf.size, 2);
	} else if (!strcmp(x->label, "x_mmio_write")) {
		assert_int_equal(e->u.npf.access, VMSIM_ACCESS_WRITE);
		assert_int_equal(e->u.npf.gpa, mmio + 0x40);
		assert_true(e->u.npf.decoded);
		assert_int_equal(e->u.npf.size, mode == VT_TOUR_LONG ? 8 : 4);
		assert_int_equal(e->u.npf.value, mode == VT_TOUR_LONG ? 0xffffffffdeadbeefull : 0xdeadbeef);
	}
}

void vt_exit_tour(const struct vt_tour_backend *b, enum vt_tour_mode mode)
{
	static const struct vt_guest *guests[3] = { &vt_guest_rm_exits, &vt_guest_pm_exits, &vt_guest_lm_exits };
	const struct vt_guest *g = guests[mode];
	struct vt_vm t;
	struct vmsim_cpu_state s;
	uint64_t base = mode == VT_TOUR_REAL ? 0 : VT_LOAD;
	uint64_t mmio = mode == VT_TOUR_REAL ? 0xb0000 : 0xe0000000;
	static uint8_t before[VT_RAM / 64];

	b->init(&t, mode == VT_TOUR_REAL ? 0xa0000 : 0, mode == VT_TOUR_REAL ? 0xc0000 : 0);
	vt_load(&t, g);
	memcpy(t.ram + VT_DATA, "Hello!", 6);
	memset(t.ram + VT_DATA + 0x100, 0xcc, 16);
	if (mode == VT_TOUR_REAL)
		vt_state_real(&s, 0);
	else if (mode == VT_TOUR_PROT)
		vt_state_prot(&s, VT_LOAD);
	else
		vt_state_long(&s, VT_LOAD);
	if (b->prepare)
		b->prepare(&t, mode, g, &s);
	vt_set(&t, &s);
	memcpy(before, t.ram + VT_DATA, sizeof before);
	assert_int_equal(b->run(&t), VMSIM_OK);

	const struct expect *want[TOUR_LEN] = { 0 };
	size_t nwant = 0, n = atomic_load(&t.nexits);
	for (size_t i = 0; i < TOUR_LEN; i++)
		if (!vt_tour_kind_missing(t.ops, tour[i].kind))
			want[nwant++] = &tour[i];
	for (size_t i = 0; i < n; i++)
		print_message("exit %zu: kind %s rip %#llx len %u\n", i, vmsim_exit_kind_name(t.exits[i].kind),
		              (unsigned long long)t.exits[i].rip, t.exits[i].insn_len);
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < n; i++) {
		const struct expect *x = want[i];
		const struct vmsim_exit *e = &t.exits[i];
		assert_int_equal(e->kind, x->kind);
		assert_int_equal(e->rip, base + vt_guest_sym(g, x->label));
		assert_int_equal(e->insn_len, x->len[mode]);
		if (x->kind == VMSIM_EXIT_IO)
			check_io(x, e, mode);
		else
			check_other(x, e, mode, mmio);
	}

	/* The VMM emulated the REP INSB without storing: the backend must not have stored behind its back either. */
	assert_memory_equal(t.ram + VT_DATA, before, sizeof before);
	/* STOP leaves the exiting OUT not executed: rip still points at it. */
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_IP | VMSIM_GROUP_GPR, &s), VMSIM_OK);
	assert_int_equal(s.rip, base + vt_guest_sym(g, "x_done"));
	/* The WRMSR's ECX is still there: the VMM's register writes and the guest's own both landed. */
	if (!vt_tour_kind_missing(t.ops, VMSIM_EXIT_MSR))
		assert_int_equal(s.rcx & 0xffff, 0x174);
	vt_vm_fini(&t);
}

void vt_tour_real(void **state)
{
	vt_exit_tour(*state, VT_TOUR_REAL);
}

void vt_tour_protected(void **state)
{
	vt_exit_tour(*state, VT_TOUR_PROT);
}

void vt_tour_long(void **state)
{
	vt_exit_tour(*state, VT_TOUR_LONG);
}
