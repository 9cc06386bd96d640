/* kvm_host_lane_test.c - on a real /dev/kvm: the host probe against the measured facts, and user-space MSR exits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "kvm_host.h"
#include "vt_kvm.h"

/* What the probe must find on the hosts measured (shared/docs/kvm-under-qemu.md, kvm-hosts.md); others: printed. */
static void test_host_profile_matches_measured(void **state)
{
	(void)state;
	vt_kvm_require();
	const struct kvmb_host *h = kvmb_host_get();

	print_message("kvm host: %s\n", h->summary);
	assert_int_equal(vmsim_backend_kvm()->caps, h->caps);
	assert_non_null(strstr(vmsim_backend_kvm()->description, h->summary));
	assert_int_not_equal(h->flavour, KVMB_FLAVOUR_NONE);
	assert_true(h->nr_memslots >= 32);
	if (!strcmp(h->name, "kvm_amd")) {
		/* the QEMU-TCG lane, kernel 6.1: fast PIO waits at the instruction; the emulator retires MMIO writes */
		assert_int_equal(h->flavour, KVMB_FLAVOUR_SVM);
		assert_int_equal(h->rip[KVMB_PX_OUT], KVMB_RIP_AT);
		assert_int_equal(h->rip[KVMB_PX_IN], KVMB_RIP_AT);
		assert_int_equal(h->rip[KVMB_PX_MMIO_WRITE], KVMB_RIP_PAST);
		assert_int_equal(h->rip[KVMB_PX_MMIO_READ], KVMB_RIP_AT);
		assert_int_equal(h->rip[KVMB_PX_HLT], KVMB_RIP_PAST);
		assert_true(h->defer_io);
		assert_true(h->caps & VMSIM_CAP_MODE_REAL);
		assert_true(h->caps & VMSIM_CAP_RESET_VECTOR);
		assert_true(h->caps & VMSIM_CAP_TSC_OFFSET);
		assert_true(h->caps & VMSIM_CAP_EXIT_MSR);
		assert_true(h->caps & VMSIM_CAP_INT_IRET);
		assert_true(h->caps & VMSIM_CAP_PAGING_LEGACY);
		assert_true(h->caps & VMSIM_CAP_HOST_HYPERCALL);
		assert_true(h->caps & VMSIM_CAP_INTR_WINDOW);
		assert_int_equal(h->nr_memslots, 32764);
	} else if (!strcmp(h->name, "kvm_pvm")) {
		/* kvm-hosts.md: OUT and MMIO writes arrive retired, IN and MMIO reads at the instruction, HLT past */
		assert_int_equal(h->flavour, KVMB_FLAVOUR_PVM);
		assert_int_equal(h->rip[KVMB_PX_OUT], KVMB_RIP_PAST);
		assert_int_equal(h->rip[KVMB_PX_IN], KVMB_RIP_AT);
		assert_int_equal(h->rip[KVMB_PX_MMIO_WRITE], KVMB_RIP_PAST);
		assert_int_equal(h->rip[KVMB_PX_MMIO_READ], KVMB_RIP_AT);
		assert_int_equal(h->rip[KVMB_PX_HLT], KVMB_RIP_PAST);
		assert_false(h->defer_io);
		assert_int_equal(h->nr_memslots, 32764);
		/* docs/backends/kvm.md (AMD, 2026-12-06): KVM's instruction emulator runs the guest; these fail there */
		assert_false(h->caps & VMSIM_CAP_INT_IRET);
		assert_false(h->caps & VMSIM_CAP_PAGING_LEGACY);
		assert_false(h->caps & VMSIM_CAP_HOST_HYPERCALL);
		assert_false(h->caps & VMSIM_CAP_INTR_WINDOW);
		assert_false(h->caps & VMSIM_CAP_TSC_OFFSET);
	}
}

enum { HANDLER = VT_LOAD + 0x100 };

static void load_rdmsr(struct vt_vm *t, uint32_t index)
{
	/* mov ecx, index; rdmsr; out 0xf0, al (done) */
	uint8_t code[] = { 0xb9, 0, 0, 0, 0, 0x0f, 0x32, 0xe6, VT_PORT_DONE };
	memcpy(code + 1, &index, 4);
	memcpy(t->ram + VT_LOAD, code, sizeof code);
	/* #GP handler: mov al, 13; out 0xf0, al */
	static const uint8_t gp[] = { 0xb0, 13, 0xe6, VT_PORT_DONE };
	memcpy(t->ram + HANDLER, gp, sizeof gp);
	const uint8_t vec[] = { 13 };
	const uint64_t target[] = { HANDLER };
	vt_tables(t, 0, vec, target, 1);
}

/* An MSR KVM does not know, intercepted: an MSR exit at the RDMSR, and the VMM's value reaches the guest. */
static void test_unknown_msr_intercepted_exits(void **state)
{
	(void)state;
	struct vt_vm t;
	struct vmsim_cpu_state s;

	vt_kvm_require();
	if (!(vmsim_backend_kvm()->caps & VMSIM_CAP_EXIT_MSR))
		skip();
	vt_vm_init_on(&t, vmsim_backend_kvm(), 0, 0);
	load_rdmsr(&t, 0x4b564dffu);
	vt_state_prot(&s, VT_LOAD);
	s.xcr0 = 1;
	vt_set(&t, &s);
	assert_int_equal(vt_kvm_run_bounded(&t, 5), VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 2);
	assert_int_equal(t.exits[0].kind, VMSIM_EXIT_MSR);
	assert_int_equal(t.exits[0].rip, VT_LOAD + 5);
	assert_int_equal(t.exits[0].insn_len, 2);
	assert_int_equal(t.exits[0].u.msr.index, 0x4b564dffu);
	assert_false(t.exits[0].u.msr.write);
	/* the mini VMM answered 0x55 in EAX: the OUT after the RDMSR writes it */
	assert_int_equal(t.exits[1].kind, VMSIM_EXIT_IO);
	assert_int_equal(t.exits[1].rip, VT_LOAD + 7);
	assert_int_equal(t.exits[1].u.io.value, 0x55);
	vt_vm_fini(&t);
}

/* Not intercepted: the same RDMSR is the #GP hardware raises, not an exit. */
static void test_unknown_msr_not_intercepted_is_gp(void **state)
{
	(void)state;
	struct vt_vm t;
	struct vmsim_cpu_state s;

	vt_kvm_require();
	vt_vm_init_on(&t, vmsim_backend_kvm(), 0, 0);
	load_rdmsr(&t, 0x4b564dffu);
	vt_state_prot(&s, VT_LOAD);
	s.xcr0 = 1;
	s.intercepts &= ~(uint32_t)VMSIM_INTERCEPT_MSR;
	vt_set(&t, &s);
	assert_int_equal(vt_kvm_run_bounded(&t, 5), VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 1);
	assert_int_equal(t.exits[0].kind, VMSIM_EXIT_IO);
	assert_int_equal(t.exits[0].rip, HANDLER + 2);
	assert_int_equal(t.exits[0].u.io.value, 13);
	vt_vm_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_profile_matches_measured),
		cmocka_unit_test(test_unknown_msr_intercepted_exits),
		cmocka_unit_test(test_unknown_msr_not_intercepted_is_gp),
	};
	return cmocka_run_group_tests_name("kvm_host_lane", tests, NULL, NULL);
}
