/* state_with_state_test.c - with_state: resume only on true, charged registers both ways, discharge, threads. */
#include <string.h>

#include "../vc.h"

static unsigned io_code(void)
{
	return vc_svm() ? 0x7b : 30;
}

static int io_count(struct vt_cpu *c)
{
	int n = 0;
	for (unsigned i = 0; i < c->n && i < VT_LOG; i++)
		n += c->log[i].reason == io_code();
	return n;
}

/* First OUT: stay stopped. The recall then finds it still there; skip it and stop at the next OUT. */
static int resume_policy(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason == VMSIM_EXIT_CODE_PAUSED) {
		uint64_t ip = st->ip.value;
		vmsim_vcpu_state_discharge(st);
		vmsim_charge(st, ip, ip + 2);
		return 1;
	}
	if (st->exit_reason == io_code())
		return 0;
	(void)c;
	return -1;
}

static void resume_only_on_true(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_exits, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, "x_out_imm", resume_policy);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 2);
	assert_int_equal(vmsim_vcpu_pause(c->vcpu), VMSIM_OK);
	vt_wait_exits(c, 4);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 4);
	assert_int_equal(c->log[2].reason, VMSIM_EXIT_CODE_PAUSED);
	assert_int_equal(c->log[2].ip, vt_addr(&vm, "x_out_imm")); /* it never ran on */
	assert_int_equal(c->log[3].reason, io_code());
	assert_int_equal(c->log[3].ip, vt_addr(&vm, "x_out_dx"));
	vt_vm_close(&vm);
}

/* pm_io: OUTs of al (0xef), ax, eax in a row; what the VMM leaves uncharged must not reach the guest. */
static int charged_policy(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason != io_code())
		return -1;
	uint64_t next = st->ip.value + st->ip_len.value;
	vmsim_vcpu_state_discharge(st);
	switch (io_count(c)) {
	case 0:
		st->ax.value = 0x99; /* changed, not charged */
		st->r9.value = 0x99;
		break;
	case 1:
		vmsim_charge(st, ax, 0x11223344);
		vmsim_charge(st, r9, 0x0909);
		vmsim_charge(st, bp, 0xb0b0);
		break;
	default:
		return 0;
	}
	vmsim_charge(st, ip, next);
	return 1;
}

static void only_charged_registers_written(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_io, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, charged_policy);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 4);
	assert_int_equal(c->log[1].ax & 0xff, 0xef);
	assert_int_equal(c->log[2].ax & 0xffffffff, 0x89abcdef); /* the uncharged 0x99 never landed */
	assert_int_equal(c->log[3].ax & 0xffffffff, 0x11223344); /* the charged value did */
	assert_int_equal(c->log[3].ip, vt_addr(&vm, "x_outl_imm"));
	vt_vm_close(&vm);
}

static int reexecute_policy(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason != io_code())
		return -1;
	vmsim_vcpu_state_discharge(st);
	assert_int_equal(st->exit_reason, 0);
	assert_int_equal(vmsim_vcpu_state_charged_count(st), 0);
	return io_count(c) < 2 ? 1 : 0; /* nothing charged: the OUT runs again */
}

static void discharge_resume_reexecutes(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_exits, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, "x_out_imm", reexecute_policy);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 4);
	for (unsigned i = 1; i < 4; i++)
		assert_int_equal(c->log[i].ip, vt_addr(&vm, "x_out_imm"));
	assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_IO), 3);
	vt_vm_close(&vm);
}

/* At the first OUT charge every general register; at the second read them back. */
static int gpr_policy(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason != io_code())
		return -1;
	if (io_count(c) == 1) {
		uint64_t *seen = c->vm->user;
		const struct vmsim_reg *r[] = { &st->bx, &st->bp, &st->di, &st->r8, &st->r9, &st->r10, &st->r11,
			                        &st->r12, &st->r13, &st->r14, &st->r15 };
		for (unsigned i = 0; i < 11; i++)
			seen[i] = r[i]->value;
		seen[11] = st->cs.value.sel | (uint64_t)st->cs.value.limit << 16;
		seen[12] = st->gdtr.value.base | (uint64_t)st->gdtr.value.limit << 32;
		seen[13] = st->cr0.value;
		return 0;
	}
	uint64_t next = st->ip.value + st->ip_len.value;
	vmsim_vcpu_state_discharge(st);
	struct vmsim_reg *r[] = { &st->bx, &st->bp, &st->di, &st->r8, &st->r9, &st->r10, &st->r11,
		                  &st->r12, &st->r13, &st->r14, &st->r15 };
	for (unsigned i = 0; i < 11; i++) {
		r[i]->value = 0x1000 + i;
		st->charged |= vmsim_vcpu_state_bit(st, r[i]);
	}
	vmsim_charge(st, ip, next);
	return 1;
}

static void charged_registers_reach_guest(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_LONG, &vt_guest_lm_exits, 0, 0);
	static uint64_t seen[14];
	memset(seen, 0, sizeof seen);
	vm.user = seen;
	struct vt_cpu *c = vt_cpu_start(&vm, "x_out_imm", gpr_policy);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 3);
	for (unsigned i = 0; i < 11; i++)
		assert_int_equal(seen[i], 0x1000 + i);
	assert_int_equal(seen[11], 0x08 | 0xffffffffull << 16);   /* CS as loaded at STARTUP */
	assert_int_equal(seen[12], VT_GDT | 23ull << 32);          /* GDTR */
	assert_int_equal(seen[13] & 0x80000011, 0x80000011);       /* CR0.PG|ET|PE */
	vt_vm_close(&vm);
}

static bool never(void *ctx, struct vmsim_vcpu_state *st)
{
	(void)st;
	*(int *)ctx = 1;
	return false;
}

struct foreign {
	struct vmsim_vcpu *vcpu;
	int called;
	_Atomic int result; /* -1 until the job ran */
};

static void foreign_job(void *ctx)
{
	struct foreign *f = ctx;
	f->result = vmsim_vcpu_with_state(f->vcpu, never, &f->called);
}

static bool job_ran(void *ctx)
{
	return ((struct foreign *)ctx)->result != -1;
}

static void foreign_thread_denied(const void *p)
{
	(void)p;
	const struct vmsim_profile *profile = vc_target()->profile;
	if (profile && profile->with_state_foreign_blocks) {
		vc_skip("profile %s: with_state off the handler's thread blocks forever there (%s)", profile->name,
		        profile->source);
		return;
	}
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, NULL, 0, 0);
	struct vmsim_vcpu *v;
	assert_int_equal(vt_idle_vcpu(vm.session, &v), VMSIM_OK);
	int called = 0;
	assert_int_equal(vmsim_vcpu_with_state(v, never, &called), VMSIM_DENIED);
	struct vmsim_entrypoint *other;
	assert_int_equal(vmsim_entrypoint_create(vm.env, "other", &other), VMSIM_OK);
	struct foreign f = { v, 0, -1 };
	assert_int_equal(vmsim_entrypoint_post(other, foreign_job, &f), VMSIM_OK);
	vt_wait_until(job_ran, &f, "the job on another entrypoint");
	assert_int_equal(f.result, VMSIM_DENIED);
	assert_int_equal(vmsim_entrypoint_destroy(other), VMSIM_OK);
	assert_int_equal(called + f.called, 0); /* fn never ran */
	vmsim_vcpu_destroy(v);
	vt_vm_close(&vm);
}

static int stay_stopped(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	(void)c;
	(void)st;
	return 0;
}

/* A job on the vCPU's own entrypoint may call with_state (vmm_x86's timer does). */
static void own_entrypoint_job_allowed(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, NULL, 0, 0);
	assert_int_equal(vmsim_entrypoint_create(vm.env, "ep", &vm.ep), VMSIM_OK);
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, stay_stopped);
	vt_wait_stopped(c);
	struct foreign f = { c->vcpu, 0, -1 };
	assert_int_equal(vmsim_entrypoint_post(vm.ep, foreign_job, &f), VMSIM_OK);
	vt_wait_until(job_ran, &f, "the job on the vCPU's entrypoint");
	assert_int_equal(f.result, VMSIM_OK);
	assert_int_equal(f.called, 1);
	vt_vm_close(&vm);
}

static void discharge_and_clear(const void *p)
{
	(void)p;
	static struct vmsim_vcpu_state st;
	vmsim_vcpu_state_clear(&st);
	assert_int_equal(vmsim_vcpu_state_charged_count(&st), 0);
	vmsim_charge(&st, ax, 7);
	vmsim_charge(&st, r15, 9);
	vmsim_charge(&st, cs, (struct vmsim_segment){ 8, 0x9b, 0xffff, 0 });
	vmsim_charge_fpu(&st, 512);
	st.exit_reason = 0x78;
	assert_int_equal(vmsim_vcpu_state_charged_count(&st), 4);
	vmsim_vcpu_state_discharge(&st);
	assert_int_equal(vmsim_vcpu_state_charged_count(&st), 0);
	assert_int_equal(st.exit_reason, 0);
	assert_int_equal(st.ax.value, 7); /* values stay */
	assert_int_equal(st.cs.value.sel, 8);
	vmsim_vcpu_state_clear(&st);
	assert_int_equal(st.ax.value, 0);
	assert_int_equal(st.fpu.size, 0);
}

static int exit_info_policy(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason != io_code())
		return -1;
	/* exit information is always charged; with EVENTS transferred intr/actv state are too */
	c->user_state = vmsim_charged(st, ip) && vmsim_charged(st, ip_len) && vmsim_charged(st, qual_primary) &&
	                vmsim_charged(st, qual_secondary) && vmsim_charged(st, intr_state) &&
	                vmsim_charged(st, actv_state) && vmsim_charged(st, cx) && vmsim_charged(st, cr0) &&
	                vmsim_charged(st, cs);
	return 0;
}

static void exit_charges_what_it_transferred(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_exits, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, "x_out_imm", exit_info_policy);
	vt_wait_stopped(c);
	assert_int_equal(c->user_state, 1);
	vt_vm_close(&vm);
}

#define IO_CAPS (VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_EXIT_IO)

static const struct vc_test tests[] = {
	{ "state", "resume_only_on_true", IO_CAPS, resume_only_on_true, NULL },
	{ "state", "only_charged_registers_written", IO_CAPS, only_charged_registers_written, NULL },
	{ "state", "discharge_resume_reexecutes", IO_CAPS, discharge_resume_reexecutes, NULL },
	{ "state", "charged_registers_reach_guest", VMSIM_CAP_MODE_LONG | VMSIM_CAP_EXIT_IO,
	  charged_registers_reach_guest, NULL },
	{ "state", "foreign_thread_denied", 0, foreign_thread_denied, NULL },
	{ "state", "own_entrypoint_job_allowed", 0, own_entrypoint_job_allowed, NULL },
	{ "state", "discharge_and_clear", 0, discharge_and_clear, NULL },
	{ "state", "exit_charges_what_it_transferred", IO_CAPS, exit_charges_what_it_transferred, NULL },
};

struct vc_test_list vc_state_tests(void)
{
	return VC_LIST(tests);
}
