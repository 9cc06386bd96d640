/* kvm_exits_test.c - the exit tour on real KVM: every exit KVM delivers, with exact rip, length and fields. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "vt_kvm.h"

/* KVM's adjustments: NOPs at the VMCALL (vt_kvm_nop_vmcall), long mode needs page tables, XCR0. */
static void kvm_prepare(struct vt_vm *t, enum vt_tour_mode mode, const struct vt_guest *g, struct vmsim_cpu_state *s)
{
	vt_kvm_nop_vmcall(t, g);
	if (mode == VT_TOUR_LONG)
		vt_kvm_long_paging(t, s);
	s->xcr0 = 1;
}

static void kvm_init(struct vt_vm *t, uint64_t skip_lo, uint64_t skip_hi)
{
	vt_kvm_require();
	vt_vm_init_on(t, vmsim_backend_kvm(), skip_lo, skip_hi);
}

static enum vmsim_result kvm_run(struct vt_vm *t)
{
	return vt_kvm_run_bounded(t, 5);
}

/* The tour on KVM (vt_tour.c): CPUID, RDTSC(P) and VMCALL stay in the kernel; MSRs where EXIT_MSR is declared. */
static struct vt_tour_backend kvm = { kvm_init, kvm_prepare, kvm_run };

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
	vt_state_prot(&s, VT_LOAD);
	kvm_prepare(&t, VT_TOUR_PROT, &vt_guest_pm_exits, &s);
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
		VT_TOUR_TESTS(&kvm),
		cmocka_unit_test(test_unadvanced_io_reexecutes),
	};
	return cmocka_run_group_tests_name("kvm_exits", tests, NULL, NULL);
}
