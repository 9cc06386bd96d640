/* profile_rules_test.c - a session opened with a kernel profile reports as that kernel (docs/spec.md "Kernel profiles"). */
#include <string.h>

#include "../vc.h"

static const struct vmsim_profile *profile(void)
{
	return vc_target()->profile;
}

static bool base_hw(void)
{
	return profile() && strcmp(profile()->name, "base-hw") == 0;
}

/* An entry both architectures refuse (CR0 bits 63:32 set): the handler sees the kernel's invalid-state code. */
static int start_refused(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason != VMSIM_EXIT_CODE_STARTUP)
		return 0;
	vt_charge_start(c, st, c->start_ip);
	vmsim_charge(st, cr0, 0x11 | (1ull << 32));
	return 1;
}

static void invalid_state_code(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_exits, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, "x_hlt", start_refused);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 2);
	/* base-hw svm.cc passes VMEXIT_INVALID (-1, APM vol. 2 appendix C) through; vmsim and NOVA report 0xfd */
	unsigned want = !vc_svm() ? 33u : base_hw() ? 0xffffffffu : 0xfdu;
	assert_int_equal(c->log[1].reason, want);
	assert_int_equal(c->log[1].neutral.kind, VMSIM_EXIT_INVALID_STATE); /* the model reads both codes */
	assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_INVALID_STATE), 1);
	vt_vm_close(&vm);
}

/* What the policies below saw at the first exit after STARTUP. */
struct seen {
	uint64_t primary, secondary;
	bool charged;
	uint64_t tsc_offset[2];
	unsigned tsc_seen;
};

/* Record the controls the kernel reports at the first exit; stop there unless HLT exiting is among them. */
static int controls_policy(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	struct seen *s = c->vm->user;
	if (st->exit_reason == VMSIM_EXIT_CODE_STARTUP || s->charged)
		return -1;
	s->primary = st->ctrl_primary.value;
	s->secondary = st->ctrl_secondary.value;
	s->charged = vmsim_charged(st, ctrl_primary) && vmsim_charged(st, ctrl_secondary);
	/* APM appendix B word 3 bit 24 / SDM Table 25-6 bit 7: without HLT exiting the guest would idle, so stop */
	bool hlt = vc_svm() ? (s->primary >> 24 & 1) : (s->primary >> 7 & 1);
	return hlt ? -1 : 0;
}

/*
 * The VMM charges no HLT (only unrestricted guest). The controls shown at the first exit carry what the
 * kernel forces; where that includes HLT exiting the tour runs on and its HLT exits, else the vCPU stays there.
 */
static void forced_intercepts(const void *p)
{
	(void)p;
	struct vt_vm vm;
	struct seen seen = { 0 };
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_exits, 0, 0);
	vm.intercepts = VMSIM_INTERCEPT_UNRESTRICTED_GUEST;
	vm.user = &seen;
	struct vt_cpu *c = vt_cpu_start(&vm, "x_cpuid", controls_policy);
	vt_wait_stopped(c);
	assert_true(seen.charged);
	const struct vmsim_profile *pr = profile();
	if (vc_svm()) {
		assert_int_equal(seen.primary & pr->svm_force_misc1, pr->svm_force_misc1);
		assert_int_equal(seen.secondary & pr->svm_force_misc2, pr->svm_force_misc2);
	} else {
		assert_int_equal(seen.primary & pr->vmx_force_primary, pr->vmx_force_primary);
		assert_int_equal(seen.primary & pr->vmx_clear_primary, 0);
		assert_int_equal(seen.secondary & pr->vmx_force_secondary, pr->vmx_force_secondary);
		assert_int_equal(seen.secondary & pr->vmx_clear_secondary, 0);
	}
	if (!base_hw()) {
		/* vmsim and NOVA add no HLT exiting to a VMM that did not ask for it */
		assert_int_equal(vc_svm() ? (seen.primary >> 24 & 1) : (seen.primary >> 7 & 1), 0);
		assert_int_equal(c->n, 2);
		vt_vm_close(&vm);
		return;
	}
	/* literal: base-hw svm.cc enforce_intercepts(), vmx.cc enforce_execution_controls() */
	if (vc_svm())
		assert_int_equal(seen.primary & 0x9940000bu, 0x9940000bu);
	else
		assert_int_equal(seen.primary & 0x81200080u, 0x81200080u);
	const char *labels[] = { "x_cpuid", "x_rdmsr", "x_wrmsr", "x_vmcall", "x_mmio_read", "x_mmio_write", "x_hlt",
		                 "x_done" };
	assert_int_equal(c->n, 1 + 8);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(c->log[1 + i].ip, vt_addr(&vm, labels[i]));
	assert_int_equal(c->log[7].reason, vc_svm() ? 0x78 : 12); /* APM appendix C VMEXIT_HLT, SDM reason 12 */
	assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_HLT), 1);
	vt_vm_close(&vm);
}

/* tsc_offset charged at STARTUP (0x1000) and again at the first exit (0x2000): what the next exit shows. */
static int tsc_policy(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	struct seen *s = c->vm->user;
	if (st->exit_reason == VMSIM_EXIT_CODE_STARTUP) {
		vt_charge_start(c, st, c->start_ip);
		vmsim_charge(st, tsc_offset, 0x1000);
		return 1;
	}
	if (s->tsc_seen < 2 && vmsim_charged(st, tsc_offset))
		s->tsc_offset[s->tsc_seen] = st->tsc_offset.value;
	if (s->tsc_seen++ == 0) {
		vmsim_vcpu_state_discharge(st);
		vmsim_charge(st, tsc_offset, 0x2000);
		vmsim_charge(st, ip, st->ip.value + st->ip_len.value);
		return 1;
	}
	return 0;
}

static void tsc_offset_rule(const void *p)
{
	(void)p;
	struct vt_vm vm;
	struct seen seen = { 0 };
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_exits, 0, 0);
	vm.intercepts = VMSIM_INTERCEPT_HLT | VMSIM_INTERCEPT_UNRESTRICTED_GUEST; /* RDTSC(P) run in the guest */
	vm.user = &seen;
	struct vt_cpu *c = vt_cpu_start(&vm, "x_cpuid", tsc_policy);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 3);
	assert_int_equal(c->log[2].ip, vt_addr(&vm, "x_rdmsr"));
	assert_int_equal(seen.tsc_offset[0], 0x1000);
	/* base-hw svm.cc read_vcpu_state(): Tsc_offset = VMCB's + charged; VMX and the others store it */
	assert_int_equal(seen.tsc_offset[1], vc_svm() && base_hw() ? 0x3000 : 0x2000);
	vt_vm_close(&vm);
}

static const struct vc_test tests[] = {
	{ "profile", "invalid_state_code", 0, invalid_state_code, NULL },
	{ "profile", "forced_intercepts",
	  VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_EXIT_IO | VMSIM_CAP_EXIT_CPUID | VMSIM_CAP_EXIT_MSR |
	          VMSIM_CAP_EXIT_VMCALL | VMSIM_CAP_EXIT_NPF | VMSIM_CAP_EXIT_HLT,
	  forced_intercepts, NULL },
	{ "profile", "tsc_offset_rule",
	  VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_EXIT_CPUID | VMSIM_CAP_EXIT_MSR | VMSIM_CAP_TSC_OFFSET, tsc_offset_rule,
	  NULL },
};

struct vc_test_list vc_profile_tests(void)
{
	return VC_LIST(tests);
}
