/* kvm_diff_test.c - the differential test: the shared guest tours on Unicorn and on KVM, exit traces compared. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "vt_kvm.h"

enum { REAL, PROT, LONG };

static const struct vt_guest *const guests[3] = { &vt_guest_rm_exits, &vt_guest_pm_exits, &vt_guest_lm_exits };

/* One run of guest[mode] on ops; t keeps the trace. Both backends get the same memory, state and VMM. */
static void run_on(struct vt_vm *t, const struct vmsim_backend_ops *ops, int mode)
{
	struct vmsim_cpu_state s;
	const struct vt_guest *g = guests[mode];

	vt_vm_init_on(t, ops, mode == REAL ? 0xa0000 : 0, mode == REAL ? 0xc0000 : 0);
	vt_load(t, g);
	vt_kvm_nop_vmcall(t, g); /* on both: the traces then differ only where caps say */
	memcpy(t->ram + VT_DATA, "Hello!", 6);
	if (mode == REAL) {
		vt_state_real(&s, 0);
	} else if (mode == PROT) {
		vt_state_prot(&s, VT_LOAD);
	} else {
		vt_state_long(&s, VT_LOAD);
		vt_kvm_long_paging(t, &s);
	}
	s.xcr0 = 1;
	vt_set(t, &s);
	assert_int_equal(vt_kvm_run_bounded(t, 5), VMSIM_OK);
}

static void same_exit(const struct vmsim_exit *u, const struct vmsim_exit *k)
{
	assert_string_equal(vmsim_exit_kind_name(k->kind), vmsim_exit_kind_name(u->kind));
	assert_int_equal(k->rip, u->rip);
	assert_int_equal(k->insn_len, u->insn_len);
	if (u->kind == VMSIM_EXIT_IO) {
		assert_int_equal(k->u.io.port, u->u.io.port);
		assert_int_equal(k->u.io.size, u->u.io.size);
		assert_int_equal(k->u.io.in, u->u.io.in);
		assert_int_equal(k->u.io.string, u->u.io.string);
		assert_int_equal(k->u.io.rep, u->u.io.rep);
		assert_int_equal(k->u.io.imm, u->u.io.imm);
		if (u->u.io.port != VT_PORT_DONE)
			assert_int_equal(k->u.io.value, u->u.io.value);
		if (u->u.io.string) {
			assert_int_equal(k->u.io.addr_size, u->u.io.addr_size);
			assert_int_equal(k->u.io.seg, u->u.io.seg);
		}
	} else if (u->kind == VMSIM_EXIT_NPF) {
		assert_int_equal(k->u.npf.gpa, u->u.npf.gpa);
		assert_int_equal(k->u.npf.access, u->u.npf.access);
		assert_int_equal(k->u.npf.prot, u->u.npf.prot);
		assert_int_equal(k->u.npf.decoded, u->u.npf.decoded);
		assert_int_equal(k->u.npf.size, u->u.npf.size);
		assert_int_equal(k->u.npf.value, u->u.npf.value);
	}
}

static void diff(int mode)
{
	const struct vmsim_backend_ops *kvm = vmsim_backend_kvm();
	struct vt_vm u, k;
	size_t declared = 0;

	vt_kvm_require();
	run_on(&u, vmsim_backend_unicorn(), mode);
	run_on(&k, kvm, mode);
	size_t nu = atomic_load(&u.nexits), nk = atomic_load(&k.nexits), j = 0;
	for (size_t i = 0; i < nu; i++) {
		const struct vmsim_exit *e = &u.exits[i];
		if (vt_tour_kind_missing(kvm, e->kind)) {
			/* a declared difference: KVM's caps lack this exit, and cap_gap says why */
			print_message("declared: %s at %#llx (%s)\n", vmsim_exit_kind_name(e->kind),
			              (unsigned long long)e->rip, kvm->cap_gap(vt_tour_exit_cap(e->kind)));
			declared++;
			continue;
		}
		assert_true(j < nk);
		print_message("unicorn %s %#llx / kvm %s %#llx\n", vmsim_exit_kind_name(e->kind),
		              (unsigned long long)e->rip, vmsim_exit_kind_name(k.exits[j].kind),
		              (unsigned long long)k.exits[j].rip);
		same_exit(e, &k.exits[j++]);
	}
	assert_int_equal(j, nk); /* KVM reported nothing Unicorn did not */
	assert_true(declared > 0 && declared < nu);
	vt_vm_fini(&u);
	vt_vm_fini(&k);
}

static void test_diff_real(void **state)
{
	(void)state;
	diff(REAL);
}

static void test_diff_protected(void **state)
{
	(void)state;
	diff(PROT);
}

static void test_diff_long(void **state)
{
	(void)state;
	diff(LONG);
}

/*
 * 64-bit, MSRs not intercepted: set EFER.SCE and NXE by RDMSR/OR/WRMSR and report EFER read back on port 0x31
 * (bits 0-7, then 8-15); then a WRMSR with reserved bit 1, whose #GP handler reports the error code and the
 * pushed rip on 0x30 and EFER after the fault on 0x31 (ECX still names EFER), then ends.
 */
static const uint8_t efer_guest[] = {
	0xb9, 0x80, 0x00, 0x00, 0xc0, /* mov ecx, 0xc0000080 (EFER) */
	0x0f, 0x32,                   /* rdmsr */
	0x0d, 0x01, 0x08, 0x00, 0x00, /* or eax, 0x801 (NXE | SCE) */
	0x0f, 0x30,                   /* wrmsr */
	0x0f, 0x32,                   /* rdmsr */
	0xe6, 0x31,                   /* out 0x31, al */
	0xc1, 0xe8, 0x08,             /* shr eax, 8 */
	0xe6, 0x31,                   /* out 0x31, al */
	0x0f, 0x32,                   /* rdmsr */
	0x83, 0xc8, 0x02,             /* or eax, 2 (reserved) */
	0x0f, 0x30,                   /* wrmsr: #GP(0) */
	0xe6, 0x32,                   /* out 0x32, al: not reached */
	0x58,                         /* gp: pop rax (error code) */
	0xba, 0x30, 0x00, 0x00, 0x00, /* mov edx, 0x30 */
	0xef,                         /* out dx, eax */
	0x48, 0x8b, 0x04, 0x24,       /* mov rax, [rsp] (the rip pushed) */
	0xef,                         /* out dx, eax */
	0x0f, 0x32,                   /* rdmsr */
	0xba, 0x31, 0x00, 0x00, 0x00, /* mov edx, 0x31 */
	0xef,                         /* out dx, eax */
	0xba, 0xf0, 0x00, 0x00, 0x00, /* mov edx, 0xf0 */
	0xee,                         /* out dx, al */
};
enum { EFER_WRMSR_RESERVED = 28, EFER_GP_HANDLER = 32 };

/* efer_guest on ops, as run_on runs the tours: same memory, long-mode state and paging; MSR intercept off. */
static void run_efer_on(struct vt_vm *t, const struct vmsim_backend_ops *ops)
{
	struct vmsim_cpu_state s;
	uint8_t vec = 13;
	uint64_t handler = VT_LOAD + EFER_GP_HANDLER;

	vt_vm_init_on(t, ops, 0, 0);
	memcpy(t->ram + VT_LOAD, efer_guest, sizeof efer_guest);
	vt_tables(t, 1, &vec, &handler, 1);
	vt_state_long(&s, VT_LOAD);
	vt_kvm_long_paging(t, &s);
	s.xcr0 = 1;
	s.intercepts &= ~(uint32_t)VMSIM_INTERCEPT_MSR; /* the backend itself, not the VMM, does the WRMSRs */
	vt_set(t, &s);
	assert_int_equal(vt_kvm_run_bounded(t, 5), VMSIM_OK);
	for (size_t i = 0; i < atomic_load(&t->nexits); i++)
		print_message("efer guest on %s: %s %#llx port %#x value %#x\n", ops->name,
		              vmsim_exit_kind_name(t->exits[i].kind), (unsigned long long)t->exits[i].rip,
		              t->exits[i].u.io.port, t->exits[i].u.io.value);
}

/*
 * The guest's own WRMSR to EFER when the VMM does not intercept MSRs (6caa491: Unicorn does it as a KVM vCPU
 * does): SCE and NXE are taken, LMA and LME kept (EFER reads back 0xd01), a reserved bit is #GP(0) at the
 * WRMSR with EFER unchanged (SDM Vol. 4 "IA32_EFER"). Unicorn's half runs and is checked first, so it runs on
 * machines without /dev/kvm too; KVM's trace must then be the same exit for exit, OUT values included.
 */
static void test_diff_efer_wrmsr(void **state)
{
	const uint32_t want[][2] = {
		{ 0x31, 0x01 }, { 0x31, 0x0d },                          /* SCE; NXE | LMA | LME */
		{ 0x30, 0 }, { 0x30, VT_LOAD + EFER_WRMSR_RESERVED },    /* #GP(0) at the WRMSR */
		{ 0x31, 0xd01 }, { VT_PORT_DONE, 0 },                    /* EFER unchanged by the fault */
	};
	const size_t n = sizeof want / sizeof want[0];
	struct vt_vm u, k;
	(void)state;

	run_efer_on(&u, vmsim_backend_unicorn());
	assert_int_equal(atomic_load(&u.nexits), n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(vmsim_exit_kind_name(u.exits[i].kind), vmsim_exit_kind_name(VMSIM_EXIT_IO));
		assert_int_equal(u.exits[i].u.io.port, want[i][0]);
		if (want[i][0] != VT_PORT_DONE)
			assert_int_equal(u.exits[i].u.io.value, want[i][1]);
	}
	if (!vt_kvm_usable()) {
		vt_vm_fini(&u);
		vt_kvm_require(); /* skips: leaves the test */
	}
	run_efer_on(&k, vmsim_backend_kvm());
	assert_int_equal(atomic_load(&k.nexits), atomic_load(&u.nexits));
	for (size_t i = 0; i < n; i++)
		same_exit(&u.exits[i], &k.exits[i]);
	vt_vm_fini(&u);
	vt_vm_fini(&k);
}

/* 64-bit: each MOV form the Unicorn backend presents from an MMIO site (uc_exits.c mmio_exit), twice, at unbacked
 * identity-mapped 0x200000: the first round faults on Unicorn, the second exits from its code hooks. */
static const uint8_t mmio_forms_guest[] = {
	0xbf, 0x00, 0x00, 0x20, 0x00,                               /* mov edi, 0x200000 */
	0x41, 0xb8, 0x03, 0x00, 0x00, 0x00,                         /* mov r8d, 3 */
	0x48, 0xbe, 0x60, 0x00, 0x20, 0x00, 0x78, 0x56, 0x34, 0x12, /* movabs rsi, 0x1234567800200060 */
	0xb8, 0x44, 0x33, 0x22, 0x11,                               /* mov eax, 0x11223344 */
	0xbd, 0x02, 0x00, 0x00, 0x00,                               /* mov ebp, 2 */
	0x89, 0x47, 0x08,                                           /* 0x1f: mov [rdi + 8], eax */
	0x88, 0x27,                                                 /* mov [rdi], ah */
	0x48, 0xc7, 0x47, 0x10, 0xfe, 0xff, 0xff, 0xff,             /* mov qword [rdi + 0x10], -2 */
	0x66, 0x42, 0xc7, 0x04, 0x47, 0x34, 0x12,                   /* mov word [rdi + r8 * 2], 0x1234 */
	0x48, 0x8b, 0x57, 0x20,                                     /* mov rdx, [rdi + 0x20] */
	0x8a, 0x5f, 0x30,                                           /* mov bl, [rdi + 0x30] */
	0x89, 0x05, 0x00, 0x00, 0x1f, 0x00,                         /* 0x3a: mov [rip + 0x1f0000], eax (0x200040) */
	0xa0, 0x50, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00,       /* movabs al, [0x200050] */
	0x67, 0x8b, 0x0e,                                           /* mov ecx, [esi] */
	0xff, 0xcd,                                                 /* dec ebp */
	0x75, 0xcf,                                                 /* jnz 0x1f */
	0xba, 0xf0, 0x00, 0x00, 0x00,                               /* mov edx, 0xf0 */
	0xee,                                                       /* out dx, al */
};
enum { MMIO_FORMS = 9 };

static void run_mmio_forms_on(struct vt_vm *t, const struct vmsim_backend_ops *ops)
{
	struct vmsim_cpu_state s;

	vt_vm_init_on(t, ops, 0, 0);
	memcpy(t->ram + VT_LOAD, mmio_forms_guest, sizeof mmio_forms_guest);
	vt_state_long(&s, VT_LOAD);
	vt_kvm_long_paging(t, &s);
	s.xcr0 = 1;
	vt_set(t, &s);
	assert_int_equal(vt_kvm_run_bounded(t, 5), VMSIM_OK);
}

/*
 * MMIO exits from the Unicorn backend's MMIO sites against KVM's: nine MOV forms (GPR, high byte, sign-extended
 * immediates, SIB with an index, RIP-relative, moffs, 32-bit addressing) twice each; the NPFs must be the same
 * exit for exit (gpa, access, size, value written) on both.
 */
static void test_diff_mmio_site_forms(void **state)
{
	struct vt_vm u, k;
	(void)state;

	run_mmio_forms_on(&u, vmsim_backend_unicorn());
	assert_int_equal(atomic_load(&u.nexits), 2 * MMIO_FORMS + 1);
	for (size_t i = 0; i < MMIO_FORMS; i++) {
		assert_int_equal(u.exits[i].kind, VMSIM_EXIT_NPF);
		same_exit(&u.exits[i], &u.exits[MMIO_FORMS + i]); /* the fault's exit and the site's */
	}
	if (!vt_kvm_usable()) {
		vt_vm_fini(&u);
		vt_kvm_require(); /* skips: leaves the test */
	}
	run_mmio_forms_on(&k, vmsim_backend_kvm());
	for (size_t i = 0; i < atomic_load(&k.nexits); i++)
		print_message("mmio forms on kvm: %s rip %#llx gpa %#llx size %u value %#llx\n",
		              vmsim_exit_kind_name(k.exits[i].kind), (unsigned long long)k.exits[i].rip,
		              (unsigned long long)k.exits[i].u.npf.gpa, k.exits[i].u.npf.size,
		              (unsigned long long)k.exits[i].u.npf.value);
	assert_int_equal(atomic_load(&k.nexits), atomic_load(&u.nexits));
	for (size_t i = 0; i < atomic_load(&u.nexits); i++)
		same_exit(&u.exits[i], &k.exits[i]);
	vt_vm_fini(&u);
	vt_vm_fini(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff_real),
		cmocka_unit_test(test_diff_protected),
		cmocka_unit_test(test_diff_long),
		cmocka_unit_test(test_diff_efer_wrmsr),
		cmocka_unit_test(test_diff_mmio_site_forms),
	};
	return cmocka_run_group_tests_name("kvm_diff", tests, NULL, NULL);
}
