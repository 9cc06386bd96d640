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
	if (mode == REAL)
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff_real),
		cmocka_unit_test(test_diff_protected),
		cmocka_unit_test(test_diff_long),
	};
	return cmocka_run_group_tests_name("kvm_diff", tests, NULL, NULL);
}
