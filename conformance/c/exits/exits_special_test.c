/* exits_special_test.c - triple fault, invalid guest state per architecture, always-on intercepts, TSC offset. */
#include <string.h>

#include "../vc.h"

static unsigned invalid_code(void)
{
	return vt_invalid_code(); /* the profile's: 0xfd, or base-hw's pass-through -1 */
}

static unsigned hlt_code(void)
{
	return vc_svm() ? 0x78 : 12;
}

/* An IDT of limit 0: the #UD cannot be delivered, nor the #DF after it: shutdown. */
static int start_without_idt(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason != VMSIM_EXIT_CODE_STARTUP)
		return st->exit_reason == (vc_svm() ? 0x7fu : 2u) ? 0 : -1;
	vt_charge_start(c, st, c->start_ip);
	vmsim_charge(st, idtr, (struct vmsim_dtable){ 0, 0 });
	return 1;
}

static void triple_fault_is_shutdown(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_events, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, "x_ud", start_without_idt);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 2);
	assert_int_equal(c->log[1].reason, vc_svm() ? 0x7f : 2);
	assert_int_equal(c->log[1].qual_primary, 0);
	assert_int_equal(c->log[1].qual_secondary, 0);
	assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_SHUTDOWN), 1);
	vt_vm_close(&vm);
}

/* One bad state charged at STARTUP; which architectures refuse it at entry. */
struct bad_state {
	const char *what;
	bool svm_refuses, vmx_refuses;
};

static const struct bad_state cr0_high = { "cr0_high", true, true };
static const struct bad_state efer_no_pae = { "efer_no_pae", true, true };
static const struct bad_state nw_without_cd = { "nw_without_cd", true, false };
static const struct bad_state rflags_bit1 = { "rflags_bit1", false, true };
static const struct bad_state activity = { "activity", false, true };
static const struct bad_state vmrun_clear = { "vmrun_clear", true, false };
static const struct bad_state no_unrestricted = { "no_unrestricted", false, true };

static int start_bad(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	const struct bad_state *b = c->vm->user;
	if (st->exit_reason != VMSIM_EXIT_CODE_STARTUP)
		return 0; /* the entry's verdict: stay stopped */
	if (!b) /* the fix-up case: an invalid CR0 first, corrected after the exit */
		b = &cr0_high;
	vt_charge_start(c, st, c->start_ip);
	const char *w = b->what;
	if (!strcmp(w, "cr0_high"))
		vmsim_charge(st, cr0, 0x11 | (1ull << 32));
	else if (!strcmp(w, "efer_no_pae")) {
		vmsim_charge(st, cr0, 0x80000011);
		vmsim_charge(st, efer, 0x100); /* LME without LMA/PAE */
	} else if (!strcmp(w, "nw_without_cd"))
		vmsim_charge(st, cr0, 0x20000011);
	else if (!strcmp(w, "rflags_bit1"))
		vmsim_charge(st, flags, 0);
	else if (!strcmp(w, "activity"))
		vmsim_charge(st, actv_state, 5);
	else if (!strcmp(w, "vmrun_clear"))
		vmsim_charge(st, ctrl_secondary, st->ctrl_secondary.value & ~1ull);
	else if (!strcmp(w, "no_unrestricted")) {
		uint64_t p = 0, s = 0;
		vt_encode_controls(c->vm->intercepts & ~VMSIM_INTERCEPT_UNRESTRICTED_GUEST, &p, &s);
		vmsim_charge(st, ctrl_primary, p);
		vmsim_charge(st, ctrl_secondary, s);
	}
	return 1;
}

static void invalid_state(const void *p)
{
	const struct bad_state *b = p;
	bool refused = vc_svm() ? b->svm_refuses : b->vmx_refuses;
	if (b == &no_unrestricted && vt_profile_forces_unrestricted())
		refused = false; /* base-hw sets unrestricted guest whatever the VMM charged */
	vt_need_model_entry(refused, vc_svm() ? b->vmx_refuses : b->svm_refuses);
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_exits, 0, 0);
	vm.user = (void *)b;
	struct vt_cpu *c = vt_cpu_start(&vm, "x_hlt", start_bad);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 2);
	assert_int_equal(c->log[1].reason, refused ? invalid_code() : hlt_code());
	assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_INVALID_STATE), refused ? 1 : 0);
	assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_HLT), refused ? 0 : 1);
	vt_vm_close(&vm);
}

/* Both architectures refuse: nothing runs, so this needs no CPU at all. */
#define BOTH 0
/* One architecture runs the guest to its HLT. */
#define ONE (VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_EXIT_HLT)

static int fix_after_invalid(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason == VMSIM_EXIT_CODE_STARTUP)
		return start_bad(c, st);
	if (st->exit_reason == invalid_code() && c->user_state++ == 0) {
		/* the refused entry loaded nothing: the whole start state is charged again, valid this time */
		vmsim_vcpu_state_discharge(st);
		vt_charge_start(c, st, c->start_ip);
		return 1;
	}
	return st->exit_reason == hlt_code() ? 0 : -1;
}

static void invalid_then_fixed_runs(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_exits, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, "x_hlt", fix_after_invalid);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 3);
	assert_int_equal(c->log[1].reason, invalid_code());
	assert_int_equal(c->log[2].reason, hlt_code());
	assert_int_equal(c->log[2].ip, vt_addr(&vm, "x_hlt"));
	vt_vm_close(&vm);
}

/* With only HLT asked for, I/O, CPUID, MSR and VMCALL still exit; RDTSC(P) run in the guest. */
static void always_on_intercepts(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_exits, 0, 0);
	vm.intercepts = VMSIM_INTERCEPT_HLT | VMSIM_INTERCEPT_UNRESTRICTED_GUEST;
	struct vt_cpu *c = vt_cpu_start(&vm, "x_cpuid", NULL);
	vt_wait_stopped(c);
	const char *labels[] = { "x_cpuid", "x_rdmsr", "x_wrmsr", "x_vmcall", "x_mmio_read", "x_mmio_write", "x_hlt",
		                 "x_done" };
	assert_int_equal(c->n, 1 + 8);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(c->log[1 + i].ip, vt_addr(&vm, labels[i]));
	assert_int_equal(c->log[1].reason, vc_svm() ? 0x72 : 10);
	assert_int_equal(c->log[4].reason, vc_svm() ? 0x81 : 18);
	assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_RDTSC), 0);
	assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_RDTSCP), 0);
	vt_vm_close(&vm);
}

/* RDTSCP not intercepted: the guest reads TSC + tsc_offset (checked at the next exit, the RDMSR). */
static int start_with_offset(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason != VMSIM_EXIT_CODE_STARTUP)
		return st->exit_reason == (vc_svm() ? 0x7cu : 31u) ? 0 : -1;
	vt_charge_start(c, st, c->start_ip);
	vmsim_charge(st, tsc_offset, 1ull << 62);
	return 1;
}

static void tsc_offset_applied_in_guest(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_exits, 0, 0);
	vm.intercepts = VMSIM_INTERCEPT_HLT | VMSIM_INTERCEPT_UNRESTRICTED_GUEST | VMSIM_INTERCEPT_TSC_OFFSET;
	struct vt_cpu *c = vt_cpu_start(&vm, "x_rdtscp", start_with_offset);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 2);
	const struct vt_exit *e = &c->log[1];
	assert_int_equal(e->ip, vt_addr(&vm, "x_rdmsr"));
	uint64_t tsc = (e->dx & 0xffffffff) << 32 | (e->ax & 0xffffffff);
	assert_true(tsc >= (1ull << 62)); /* edx:eax as RDTSCP left them: offset applied */
	vt_vm_close(&vm);
}

#define TOUR (VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_EXIT_IO | VMSIM_CAP_EXIT_CPUID | VMSIM_CAP_EXIT_MSR | \
              VMSIM_CAP_EXIT_VMCALL | VMSIM_CAP_EXIT_NPF | VMSIM_CAP_EXIT_HLT)

/* Stop at the #GP handler's report (port 0x30): it returns to the faulting load, which would fault again. */
static int stop_at_report(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	(void)c;
	return vt_io_port(st) == 0x30 ? 0 : -1;
}

/* The run stopped at the #GP handler's report (x_isr_gp, vector 0x0d on port 0x30) with error code error pushed. */
static void assert_stopped_at_gp_report(struct vt_cpu *c, uint32_t error)
{
	const struct vt_exit *last = &c->log[c->n - 1];
	assert_int_equal(last->neutral.kind, VMSIM_EXIT_IO);
	assert_int_equal(last->neutral.u.io.port, 0x30);
	assert_int_equal(last->ax & 0xff, 0x0d);
	assert_int_equal(c->error_report, error);
	assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_SHUTDOWN), 0);
}

/*
 * SDM Vol. 3A 6.15 "#GP" and 6.13: loading DS with a selector whose index lies past the GDT limit is #GP with an
 * error code of the selector's index and TI (EXT 0): 0x1238. The guest's handler reports the code it was pushed.
 */
static void guest_gp_pushes_the_selector(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_events, 0, 0);
	vt_idt(&vm, 13, "x_isr_gp");
	struct vt_cpu *c = vt_cpu_start(&vm, "x_bad_selector", stop_at_report);
	vt_wait_stopped(c);
	assert_stopped_at_gp_report(c, 0x1238);
	vt_vm_close(&vm);
}

/* Let the #GP handler's reports pass until the third, then stop there. */
static int stop_at_third_report(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (stop_at_report(c, st) != 0)
		return -1;
	return ++c->user_state == 3 ? 0 : -1;
}

/*
 * SDM Vol. 3A 6.15, Table 6-5: a fault handled (its handler returned) leaves nothing behind; the same fault again is
 * itself again, not a double fault. The #GP handler returns to the faulting load, which faults anew: three times #GP.
 * (Unicorn 2.0.1 remembers the last exception it raised for its own double-fault check: the second became #DF.)
 */
static void guest_faults_again_after_its_handler_returns(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_events, 0, 0);
	vt_idt(&vm, 13, "x_isr_gp");
	struct vt_cpu *c = vt_cpu_start(&vm, "x_bad_selector", stop_at_third_report);
	vt_wait_stopped(c);
	unsigned reports = 0;
	for (unsigned i = 0; i < c->n; i++)
		if (c->log[i].neutral.kind == VMSIM_EXIT_IO && c->log[i].neutral.u.io.port == 0x30) {
			assert_int_equal(c->log[i].ax & 0xff, 0x0d);
			reports++;
		}
	assert_int_equal(reports, 3);
	assert_int_equal(c->error_report, 0x1238);
	assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_SHUTDOWN), 0);
	vt_vm_close(&vm);
}

/*
 * An INT 0x80 whose gate is wrong (SDM Vol. 2A "INT n" pseudo-code, Vol. 3A 6.13): the exception the CPU raises in
 * its place, with the IDT entry as error code (0x80 * 8 + the IDT bit 2; EXT 0 for INT n). A handler beyond its CS
 * limit (#GP(0)) is uc_events_test's: the QEMU-TCG KVM lane's CPU checks no code limit.
 */
struct bad_gate {
	uint8_t vector;   /* what the CPU raises instead */
	uint32_t error;
};

static const struct bad_gate empty_gate = { 13, 0x402 };
static const struct bad_gate absent_gate = { 11, 0x402 };

static void int_n_through_a_bad_gate(const void *p)
{
	const struct bad_gate *b = p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_events, 0, 0);
	/* only the expected exception has a handler (x_isr_gp reports any error code): another one would be #DF */
	vt_idt(&vm, b->vector, "x_isr_gp");
	if (b != &empty_gate)
		vt_idt(&vm, 0x80, "x_isr_80");
	if (b == &absent_gate)
		vm.ram[VT_IDT + 8 * 0x80 + 5] &= 0x7f; /* P clear */
	struct vt_cpu *c = vt_cpu_start(&vm, "x_swint", stop_at_report);
	vt_wait_stopped(c);
	assert_stopped_at_gp_report(c, b->error); /* through the expected vector: not a #DF, not a shutdown */
	vt_vm_close(&vm);
}

static const struct vc_test tests[] = {
	{ "exits", "guest_faults_again_after_its_handler_returns", VC_GUEST_PROT | VMSIM_CAP_INT_IRET,
	  guest_faults_again_after_its_handler_returns, NULL },
	{ "exits", "int_n_through_an_empty_gate_is_gp", VC_GUEST_PROT | VMSIM_CAP_INT_IRET, int_n_through_a_bad_gate,
	  &empty_gate },
	{ "exits", "int_n_through_an_absent_gate_is_np", VC_GUEST_PROT | VMSIM_CAP_INT_IRET, int_n_through_a_bad_gate,
	  &absent_gate },
	{ "exits", "guest_gp_pushes_the_selector", VC_GUEST_PROT, guest_gp_pushes_the_selector, NULL },
	{ "exits", "triple_fault_is_shutdown", VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_EXIT_SHUTDOWN,
	  triple_fault_is_shutdown, NULL },
	{ "exits", "invalid_cr0_high_bits", BOTH, invalid_state, &cr0_high },
	{ "exits", "invalid_efer_lme_pg_without_pae", BOTH, invalid_state, &efer_no_pae },
	{ "exits", "cr0_nw_without_cd_svm_only", ONE, invalid_state, &nw_without_cd },
	{ "exits", "rflags_bit1_clear_vmx_only", ONE, invalid_state, &rflags_bit1 },
	{ "exits", "activity_out_of_range_vmx_only", ONE, invalid_state, &activity },
	{ "exits", "vmrun_intercept_clear_svm_only", ONE, invalid_state, &vmrun_clear },
	{ "exits", "unpaged_without_unrestricted_vmx_only", ONE, invalid_state, &no_unrestricted },
	{ "exits", "invalid_then_fixed_runs", ONE, invalid_then_fixed_runs, NULL },
	{ "exits", "always_on_intercepts", TOUR, always_on_intercepts, NULL },
	{ "exits", "tsc_offset_applied_in_guest",
	  VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_TSC_OFFSET | VMSIM_CAP_EXIT_MSR, tsc_offset_applied_in_guest, NULL },
};

struct vc_test_list vc_exit_special_tests(void)
{
	return VC_LIST(tests);
}
