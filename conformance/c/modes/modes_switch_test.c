/* modes_switch_test.c - guests that switch modes by themselves: real -> protected -> long, code above 64 KiB,
 * page tables the guest builds, and code the guest patches after it ran. */
#include "../vc.h"

#define SWITCH_CAPS (VMSIM_CAP_MODE_REAL | VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_MODE_LONG | VMSIM_CAP_MODE_SWITCH | \
                     VMSIM_CAP_EXIT_IO | VMSIM_CAP_EXIT_HLT | VMSIM_CAP_EXIT_MSR)

/*
 * A VMM's EFER: MSR accesses always reach the VMM (a kernel-forced intercept), so the VMM writes the guest's
 * EFER through to the vCPU and answers reads from it, as Genode's VMMs do; HLT ends the run.
 */
static int efer_and_hlt(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	(void)c;
	if (st->exit_reason == vt_code(VMSIM_EXIT_HLT))
		return 0;
	/* the exit carries read/write; the index is ECX and a written value EDX:EAX, as on hardware */
	int write = vt_msr_write(st);
	if (write < 0 || (uint32_t)st->cx.value != 0xc0000080)
		return -1;
	if (write) {
		vmsim_charge(st, efer, (st->dx.value << 32) | (uint32_t)st->ax.value);
	} else {
		vmsim_charge(st, ax, (uint32_t)st->efer.value);
		vmsim_charge(st, dx, st->efer.value >> 32);
	}
	vmsim_charge(st, ip, st->ip.value + st->ip_len.value);
	return 1;
}

/* The exit at log index i is an OUT of value to port, at the linear address of a label loaded at VT_LOAD. */
static void expect_out(struct vt_cpu *c, unsigned i, uint64_t ip, uint16_t port, uint8_t value)
{
	const struct vt_exit *e = &c->log[i];
	assert_int_equal(e->neutral.kind, VMSIM_EXIT_IO);
	assert_int_equal(e->ip, ip);
	assert_int_equal(e->ip_len, 2); /* E6 ib */
	assert_int_equal(e->neutral.u.io.port, port);
	assert_false(e->neutral.u.io.in);
	assert_int_equal(e->neutral.u.io.size, 1);
	assert_int_equal(e->ax & 0xff, value);
}

static void expect_msr(struct vt_cpu *c, unsigned i, uint64_t ip, bool write)
{
	const struct vt_exit *e = &c->log[i];
	assert_int_equal(e->neutral.kind, VMSIM_EXIT_MSR);
	assert_int_equal(e->ip, ip);
	assert_int_equal(e->ip_len, 2); /* 0F 32 / 0F 30 */
	assert_int_equal(e->neutral.u.msr.write, write);
	assert_int_equal(e->cx & 0xffffffff, 0xc0000080);
}

static uint64_t linear(const char *label)
{
	return VT_LOAD + vt_guest_sym(&vt_guest_rm_switch, label);
}

/*
 * SDM 9.9.1 (switching to protected mode) and 9.8.5 (initializing IA-32e mode): the guest does each step itself;
 * the far jump's 32-bit EIP lies above 64 KiB, and the long-mode code reads a 64-bit register.
 */
static void real_to_long_by_itself(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_REAL, &vt_guest_rm_switch, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, efer_and_hlt);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 9);
	assert_int_equal(c->log[0].reason, VMSIM_EXIT_CODE_STARTUP);
	expect_out(c, 1, vt_guest_sym(&vt_guest_rm_switch, "x_rm_report"), 0x30, 1); /* IP: offset from CS base */
	expect_out(c, 2, linear("x_pm_report"), 0x30, 2);
	expect_out(c, 3, linear("x_smc"), 0x32, 0x5a); /* the OUT written over two NOPs that already ran */
	expect_msr(c, 4, linear("x_rdmsr"), false);
	expect_msr(c, 5, linear("x_wrmsr"), true);
	expect_out(c, 6, linear("x_lm_report"), 0x30, 3);
	expect_out(c, 7, linear("x_lm_report2"), 0x30, 4); /* 0x123456789 >> 32, plus 3 */
	assert_int_equal(c->log[8].reason, vt_code(VMSIM_EXIT_HLT));
	assert_int_equal(c->log[8].ip, linear("x_hlt"));
	assert_int_equal(c->log[8].ip_len, 1);
	assert_int_equal(c->nreports, 4);
	vt_vm_close(&vm);
}

/* efer_and_hlt, but the first HLT is resumed past (the guest's way back follows it). */
static int efer_and_second_hlt(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason == vt_code(VMSIM_EXIT_HLT) && c->n == 8) { /* the policy runs before the log counts it */
		vmsim_charge(st, ip, st->ip.value + 1);
		return 1;
	}
	return efer_and_hlt(c, st);
}

/*
 * SDM 9.8.5.4 (leaving IA-32e mode) and 9.9.2 (switching back to real mode), done by the guest: after the way in
 * (real_to_long_by_itself) a far jump through memory to compatibility mode, paging off, EFER.LME cleared by
 * WRMSR, a report from 32-bit protected mode, a 16-bit code segment, PE off, a real-mode far jump and a report
 * with CS = 0x1000 again.
 */
static void long_to_real_by_itself(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_REAL, &vt_guest_rm_switch, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, efer_and_second_hlt);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 13);
	expect_out(c, 7, linear("x_lm_report2"), 0x30, 4);
	assert_int_equal(c->log[8].reason, vt_code(VMSIM_EXIT_HLT));
	assert_int_equal(c->log[8].ip, linear("x_hlt"));
	expect_msr(c, 9, linear("x_wrmsr_back"), true);
	assert_int_equal(c->log[9].ax & 0xffffffff, 0);
	expect_out(c, 10, linear("x_pm_back_report"), 0x30, 5);
	/* real mode again: the IP is the offset from CS base 0x10000 */
	expect_out(c, 11, vt_guest_sym(&vt_guest_rm_switch, "x_rm_back_report"), 0x30, 6);
	assert_int_equal(c->log[12].reason, vt_code(VMSIM_EXIT_HLT));
	assert_int_equal(c->log[12].ip, vt_guest_sym(&vt_guest_rm_switch, "x_hlt_back"));
	assert_int_equal(c->nreports, 6);
	vt_vm_close(&vm);
}

static int stop_at_hlt(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	(void)c;
	return st->exit_reason == vt_code(VMSIM_EXIT_HLT) ? 0 : -1;
}

/* Code the guest rewrites after it ran: an OUT written over NOPs exits, NOPs written over the OUT do not. */
static void self_modified_code_exits_as_written(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_REAL, &vt_guest_rm_smc, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, stop_at_hlt);
	vt_wait_stopped(c);
	uint64_t out = vt_guest_sym(&vt_guest_rm_smc, "x_sub_out"), patch = vt_guest_sym(&vt_guest_rm_smc, "x_patch");
	assert_int_equal(c->n, 6);
	assert_int_equal(c->log[0].reason, VMSIM_EXIT_CODE_STARTUP);
	expect_out(c, 1, out, 0x30, 0x41);   /* first call: NOPs at x_patch */
	expect_out(c, 2, out, 0x30, 0x41);   /* second call ... */
	expect_out(c, 3, patch, 0x31, 0x41); /* ... runs the OUT written over them */
	expect_out(c, 4, out, 0x30, 0x41);   /* third call: NOPs again, no exit at x_patch */
	assert_int_equal(c->log[5].reason, vt_code(VMSIM_EXIT_HLT));
	assert_int_equal(c->log[5].ip, vt_guest_sym(&vt_guest_rm_smc, "x_hlt"));
	vt_vm_close(&vm);
}

/*
 * Code the VMM patches during an exit, through its own mapping of guest RAM: pm_exits's last instruction is
 * `x_done: out %al, $0xf0; jmp x_done`. At the first OUT the VMM writes port 0xf1 into its immediate byte and
 * resumes past it; the JMP brings the guest back, and the OUT it runs is the one in memory now (the exit and the
 * entry between serialise, SDM Vol. 3A 8.1.3). Three patches (0xf1, 0xf2, 0xf3), then it stays stopped.
 */
static int vmm_patches_the_port(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	int port = vt_io_port(st);
	if (port < 0)
		return -1;
	if (port == 0xf3)
		return 0;
	c->vm->ram[st->ip.value + 1] = (uint8_t)(port + 1); /* flat CS, no paging: ip is the guest-physical address */
	vmsim_charge(st, ip, st->ip.value + st->ip_len.value);
	return 1;
}

static void code_patched_by_the_vmm_exits_as_written(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_exits, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, "x_done", vmm_patches_the_port);
	vt_wait_stopped(c);
	uint64_t at = vt_addr(&vm, "x_done");
	assert_int_equal(c->n, 5);
	for (unsigned i = 1; i < 5; i++) {
		assert_int_equal(c->log[i].neutral.kind, VMSIM_EXIT_IO);
		assert_int_equal(c->log[i].ip, at);
		assert_int_equal(c->log[i].neutral.u.io.port, 0xf0 + i - 1);
	}
	vt_vm_close(&vm);
}

/*
 * Code patched in another mode than the one that ran it: real mode runs a subroutine, protected mode writes an OUT
 * over its NOPs, real mode calls it again. The CPU sees its own stores in every mode (SDM Vol. 3A 11.6); Unicorn
 * keeps one translation cache per mode engine, so the real-mode engine once ran the NOPs it had translated.
 */
static void code_patched_in_another_mode_exits_as_written(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_REAL, &vt_guest_rm_xmode_smc, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, stop_at_hlt);
	vt_wait_stopped(c);
	uint64_t out = vt_guest_sym(&vt_guest_rm_xmode_smc, "x_sub_out");
	assert_int_equal(c->n, 5);
	assert_int_equal(c->log[0].reason, VMSIM_EXIT_CODE_STARTUP);
	expect_out(c, 1, out, 0x30, 0x41);                                                 /* real mode, NOPs */
	expect_out(c, 2, out, 0x30, 0x41);                                                 /* real mode again ... */
	expect_out(c, 3, vt_guest_sym(&vt_guest_rm_xmode_smc, "x_patch"), 0x31, 0x41);     /* ... runs the new OUT */
	assert_int_equal(c->log[4].reason, vt_code(VMSIM_EXIT_HLT));
	assert_int_equal(c->log[4].ip, vt_guest_sym(&vt_guest_rm_xmode_smc, "x_hlt"));
	vt_vm_close(&vm);
}

/*
 * Code patched by another vCPU: vCPU 0 runs a subroutine and halts, vCPU 1 writes an OUT over its NOPs, vCPU 0
 * (resumed: VM entry serialises, SDM Vol. 3A 9.1.3 and 8.1.3) calls it again and must run the OUT. Each Unicorn
 * vCPU keeps its own translations, which 2.0.1 drops only for that vCPU's own stores.
 */
static void code_patched_by_another_vcpu_exits_as_written(const void *p)
{
	(void)p;
	const struct vt_guest *g = &vt_guest_rm_smp_smc;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_REAL, g, 0, 0);
	assert_int_equal(vmsim_entrypoint_create(vm.env, "ep", &vm.ep), VMSIM_OK);
	struct vt_cpu *c0 = vt_cpu_start(&vm, NULL, stop_at_hlt);
	vt_wait_stopped(c0);
	assert_int_equal(c0->n, 3);
	expect_out(c0, 1, vt_guest_sym(g, "x_sub_out"), 0x30, 0x41);
	assert_int_equal(c0->log[2].reason, vt_code(VMSIM_EXIT_HLT));
	assert_int_equal(c0->log[2].ip, vt_guest_sym(g, "x_wait"));

	struct vt_cpu *c1 = vt_cpu_start(&vm, "x_patcher", stop_at_hlt);
	vt_wait_stopped(c1);
	assert_int_equal(c1->n, 2);
	assert_int_equal(c1->log[1].reason, vt_code(VMSIM_EXIT_HLT));
	assert_int_equal(c1->log[1].ip, vt_guest_sym(g, "x_patched"));

	vt_resume_past_hlt(&vm, c0);
	vt_wait_stopped(c0);
	assert_int_equal(c0->n, 6);
	expect_out(c0, 3, vt_guest_sym(g, "x_sub_out"), 0x30, 0x41);
	expect_out(c0, 4, vt_guest_sym(g, "x_patch"), 0x31, 0x41); /* the OUT vCPU 1 wrote */
	assert_int_equal(c0->log[5].reason, vt_code(VMSIM_EXIT_HLT));
	assert_int_equal(c0->log[5].ip, vt_guest_sym(g, "x_hlt"));
	vt_vm_close(&vm);
}

/*
 * Far returns in real mode under a CS base other than 0 go where the stack says (SDM Vol. 2B "RET"): RETF, RETF
 * imm16 (releasing the pushed word), the 32-bit RETF, and a RETF into another segment. Unicorn 2.0.1 returned a
 * RETF to itself plus the CS base (its PC sync before the CS pop overwrote the popped IP), which is how SeaBIOS's
 * INT trampolines ran into zeroed memory.
 */
static void far_returns_go_where_the_stack_says(const void *p)
{
	(void)p;
	struct vt_vm vm;
	const struct vt_guest *g = &vt_guest_rm_far;
	vt_vm_open(&vm, VT_REAL, g, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, stop_at_hlt);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 8);
	expect_out(c, 1, vt_guest_sym(g, "x_ret"), 0x30, 0x41);
	expect_out(c, 2, vt_guest_sym(g, "x_ret_imm"), 0x31, 0x42);
	expect_out(c, 3, vt_guest_sym(g, "x_sp"), 0x34, 0xf0);
	expect_out(c, 4, vt_guest_sym(g, "x_ret32"), 0x32, 0x43);
	expect_out(c, 5, vt_guest_sym(g, "x_sp32"), 0x35, 0xf0);
	/* CS 0x0fff: the same bytes at an IP 16 higher */
	expect_out(c, 6, vt_guest_sym(g, "x_other_seg") + 0x10 + 2, 0x33, 0xff);
	assert_int_equal(c->log[7].reason, vt_code(VMSIM_EXIT_HLT));
	assert_int_equal(c->log[7].ip, vt_guest_sym(g, "x_hlt") + 0x10);
	vt_vm_close(&vm);
}

static const struct vc_test tests[] = {
	{ "modes", "real_to_long_by_itself", SWITCH_CAPS, real_to_long_by_itself, NULL },
	{ "modes", "long_to_real_by_itself", SWITCH_CAPS, long_to_real_by_itself, NULL },
	{ "modes", "self_modified_code_exits_as_written", VC_GUEST_REAL | VMSIM_CAP_EXIT_HLT,
	  self_modified_code_exits_as_written, NULL },
	{ "modes", "code_patched_by_the_vmm_exits_as_written", VC_GUEST_PROT, code_patched_by_the_vmm_exits_as_written,
	  NULL },
	{ "modes", "code_patched_in_another_mode_exits_as_written", SWITCH_CAPS,
	  code_patched_in_another_mode_exits_as_written, NULL },
	{ "modes", "code_patched_by_another_vcpu_exits_as_written", VC_GUEST_REAL | VMSIM_CAP_EXIT_HLT,
	  code_patched_by_another_vcpu_exits_as_written, NULL },
	{ "modes", "far_returns_go_where_the_stack_says", VC_GUEST_REAL | VMSIM_CAP_EXIT_HLT,
	  far_returns_go_where_the_stack_says, NULL },
};

struct vc_test_list vc_mode_switch_tests(void)
{
	return VC_LIST(tests);
}
