/* kvm_state_test.c - KVM state groups, memory slots (read-only, unmapped), injection, native handle and caps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "vt_kvm.h"

static void prot_vm(struct vt_vm *t, const uint8_t *code, size_t len, struct vmsim_cpu_state *s)
{
	vt_kvm_require();
	vt_vm_init_on(t, vmsim_backend_kvm(), 0, 0);
	memcpy(t->ram + VT_LOAD, code, len);
	vt_state_prot(s, VT_LOAD);
	s->xcr0 = 1;
	vt_set(t, s);
}

/* Every group written is read back as written (what KVM keeps, and what the backend keeps for it). */
static void test_state_roundtrip(void **state)
{
	(void)state;
	static const uint8_t code[] = { 0xf4 };
	struct vt_vm t;
	struct vmsim_cpu_state in, out;

	prot_vm(&t, code, sizeof code, &in);
	in.rax = 0x1111, in.rbx = 0x2222, in.rcx = 0x3333, in.rdx = 0x4444, in.rsi = 0x5555, in.rdi = 0x6666;
	in.rbp = 0x7777, in.rsp = 0x7ff0, in.r8 = 8, in.r15 = 15;
	in.rip = VT_LOAD, in.rflags = 0x202;
	in.gdtr = (struct vmsim_dtable){ 0x2f, 0x1000 };
	in.fs = (struct vmsim_segment){ .sel = 0x10, .ar = 0xc93, .limit = 0xffffffff, .base = 0x12345000 };
	in.cr2 = 0xdead000;
	in.dr7 = 0x400;
	in.sysenter_cs = 0x8, in.sysenter_esp = 0x9000, in.sysenter_eip = 0xa000;
	in.star = 0x0023001000000000ull, in.lstar = 0xffff800000001000ull, in.fmask = 0x700;
	in.tsc_aux = 0x77, in.tsc_offset = 1ull << 40;
	in.interruptibility = VMSIM_BLOCK_STI;
	in.tpr = 0x50;
	in.xcr0 = 1;
	in.fpu_size = 512;
	in.fpu[0] = 0x7f, in.fpu[1] = 0x03;             /* FCW */
	in.fpu[24] = 0x80, in.fpu[25] = 0x1f;           /* MXCSR */
	memset(in.fpu + 160, 0xab, 16);                 /* XMM0 */
	in.intercepts = VMSIM_INTERCEPT_IO | VMSIM_INTERCEPT_HLT;
	assert_int_equal(t.ops->state_set(t.vcpu, VMSIM_GROUP_ALL, &in), VMSIM_OK);
	memset(&out, 0, sizeof out);
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_ALL, &out), VMSIM_OK);
	assert_int_equal(out.rax, in.rax), assert_int_equal(out.rdi, in.rdi), assert_int_equal(out.r15, 15);
	assert_int_equal(out.rip, in.rip), assert_int_equal(out.rflags, in.rflags);
	assert_int_equal(out.fs.base, in.fs.base), assert_int_equal(out.fs.ar, in.fs.ar);
	assert_int_equal(out.fs.limit, in.fs.limit), assert_int_equal(out.cs.ar, in.cs.ar);
	assert_int_equal(out.gdtr.base, 0x1000), assert_int_equal(out.gdtr.limit, 0x2f);
	assert_int_equal(out.cr0 & 0x80000011u, in.cr0), assert_int_equal(out.cr2, in.cr2);
	assert_int_equal(out.dr7, 0x400);
	assert_int_equal(out.sysenter_eip, 0xa000), assert_int_equal(out.lstar, in.lstar);
	assert_int_equal(out.star, in.star), assert_int_equal(out.fmask, 0x700);
	assert_int_equal(out.tsc_aux, 0x77);
	/*
	 * Exact where the host TSC is stable; where it is not (a 2-CPU QEMU guest) KVM re-bases the offset
	 * by the host TSC skew when the vCPU thread changes CPUs, so allow a skew well under the 2^40 set.
	 */
	if (t.ops->caps & VMSIM_CAP_TSC_OFFSET) { /* where the host keeps no offset (kvm_pvm), cap_gap says so */
		int64_t skew = (int64_t)(out.tsc_offset - in.tsc_offset);
		assert_true(skew > -(1ll << 32) && skew < (1ll << 32));
		assert_true(out.tsc >= in.tsc_offset); /* the guest's TSC runs offset */
	}
	assert_int_equal(out.interruptibility, VMSIM_BLOCK_STI);
	assert_int_equal(out.tpr, 0x50);
	assert_int_equal(out.xcr0, 1);
	assert_int_equal(out.fpu[0], 0x7f), assert_int_equal(out.fpu[24], 0x80);
	assert_memory_equal(out.fpu + 160, in.fpu + 160, 16);
	assert_int_equal(out.intercepts, in.intercepts);
	vt_vm_fini(&t);
}

/* KVM_SET_SREGS refuses what the architecture forbids: the backend says INVALID_ARGUMENT, core shows invalid state. */
static void test_refused_state(void **state)
{
	(void)state;
	static const uint8_t code[] = { 0xf4 };
	struct vt_vm t;
	struct vmsim_cpu_state s;

	prot_vm(&t, code, sizeof code, &s);
	s.cr0 = 0x80000000; /* PG without PE */
	assert_int_equal(t.ops->state_set(t.vcpu, VMSIM_GROUP_CONTROL, &s), VMSIM_INVALID_ARGUMENT);
	vt_vm_fini(&t);
}

/* A read-only slot reads fine and turns writes into NPF exits with the exact gpa and the slot's prot. */
static void test_readonly_and_unmapped(void **state)
{
	(void)state;
	static const uint8_t code[] = {
		0xa1, 0x00, 0x00, 0x03, 0x00,             /* mov eax, [0x30000]   (read-only page: plain read) */
		0xe6, 0x12,                               /* out 0x12, al         (report it) */
		0xa3, 0x08, 0x00, 0x03, 0x00,             /* mov [0x30008], eax   (write: NPF) */
		0xa1, 0x10, 0x00, 0x04, 0x00,             /* mov eax, [0x40010]   (unmapped: NPF read) */
		0xe6, 0xf0,                               /* out 0xf0 */
	};
	struct vt_vm t;
	struct vmsim_cpu_state s;
	uint8_t *ro;

	vt_kvm_require();
	vt_vm_init_on(&t, vmsim_backend_kvm(), 0x30000, 0x50000);
	ro = t.ram + 0x30000;
	memcpy(ro, "\x78\x56\x34\x12", 4);
	assert_int_equal(t.ops->mem_map(t.vm, 0x30000, ro, 0x1000, VMSIM_PROT_READ | VMSIM_PROT_EXEC), VMSIM_OK);
	assert_int_equal(t.ops->mem_map(t.vm, 0x40000, t.ram + 0x40000, 0x1000, VMSIM_PROT_READ | VMSIM_PROT_WRITE),
	                 VMSIM_OK);
	assert_int_equal(t.ops->mem_map(t.vm, 0x40000, t.ram + 0x40000, 0x1000, VMSIM_PROT_READ),
	                 VMSIM_REGION_CONFLICT);
	assert_int_equal(t.ops->mem_unmap(t.vm, 0x40000, 0x1000), VMSIM_OK);
	assert_int_equal(t.ops->mem_unmap(t.vm, 0x40000, 0x1000), VMSIM_INVALID_ARGUMENT);
	memcpy(t.ram + VT_LOAD, code, sizeof code);
	vt_state_prot(&s, VT_LOAD);
	s.xcr0 = 1;
	vt_set(&t, &s);
	assert_int_equal(vt_kvm_run_bounded(&t, 5), VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 4);
	assert_int_equal(t.exits[0].u.io.value, 0x78);
	const struct vmsim_exit *w = &t.exits[1];
	assert_int_equal(w->kind, VMSIM_EXIT_NPF);
	assert_int_equal(w->rip, VT_LOAD + 7);
	assert_int_equal(w->insn_len, 5);
	assert_int_equal(w->u.npf.gpa, 0x30008);
	assert_int_equal(w->u.npf.access, VMSIM_ACCESS_WRITE);
	assert_int_equal(w->u.npf.prot, VMSIM_PROT_READ | VMSIM_PROT_EXEC);
	assert_int_equal(w->u.npf.value, 0x12345678);
	const struct vmsim_exit *r = &t.exits[2];
	assert_int_equal(r->kind, VMSIM_EXIT_NPF);
	assert_int_equal(r->rip, VT_LOAD + 12);
	assert_int_equal(r->insn_len, 5);
	assert_int_equal(r->u.npf.gpa, 0x40010);
	assert_int_equal(r->u.npf.access, VMSIM_ACCESS_READ);
	assert_int_equal(r->u.npf.prot, 0);
	assert_int_equal(r->u.npf.size, 4);
	assert_memory_equal(ro, "\x78\x56\x34\x12\0\0\0\0\0\0\0\0", 12); /* the write never landed */
	vt_vm_fini(&t);
}

static int inject_hook(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	static const struct vmsim_event events[3] = {
		{ .valid = true, .type = VMSIM_EVENT_EXTINT, .vector = 0x20 },
		{ .valid = true, .type = VMSIM_EVENT_HW_EXCEPTION, .vector = 13, .has_error = true, .error_code = 0x1234 },
		{ .valid = true, .type = VMSIM_EVENT_NMI, .vector = 2 },
	};
	int *injected = t->user;

	if (exit->kind != VMSIM_EXIT_IO || exit->u.io.port != 0xf1 || *injected >= 3)
		return -1;
	/* the events group rides in the same scratch state the default VMM then writes GPR/IP from */
	assert_int_equal(t->ops->state_get(t->vcpu, VMSIM_GROUP_EVENTS, s), VMSIM_OK);
	s->pending = events[(*injected)++];
	assert_int_equal(t->ops->state_set(t->vcpu, VMSIM_GROUP_EVENTS, s), VMSIM_OK);
	return -1; /* the default VMM moves rip past the OUT */
}

/* An external interrupt, a #GP with error code and an NMI, injected through VCPU_EVENTS, reach their handlers. */
static void test_inject(void **state)
{
	(void)state;
	static const uint8_t code[] = { 0xfb, 0x90, 0xe6, 0xf1, 0xe6, 0xf1, 0xe6, 0xf1, 0xe6, 0xf0 };
	static const uint8_t isr20[] = { 0xb0, 0x20, 0xe6, 0x30, 0xcf };        /* mov al,0x20; out 0x30; iret */
	static const uint8_t isr13[] = { 0x58, 0xe7, 0x31, 0xcf };              /* pop eax; out 0x31, eax; iret */
	static const uint8_t isr02[] = { 0xb0, 0x02, 0xe6, 0x30, 0xcf };        /* mov al,2; out 0x30; iret */
	static const uint8_t vec[3] = { 0x20, 13, 2 };
	const uint64_t target[3] = { VT_LOAD + 0x100, VT_LOAD + 0x180, VT_LOAD + 0x200 };
	struct vt_vm t;
	struct vmsim_cpu_state s;
	int injected = 0;

	vt_kvm_need(VMSIM_CAP_INT_IRET); /* the handlers return with IRET */
	prot_vm(&t, code, sizeof code, &s);
	memcpy(t.ram + VT_LOAD + 0x100, isr20, sizeof isr20);
	memcpy(t.ram + VT_LOAD + 0x180, isr13, sizeof isr13);
	memcpy(t.ram + VT_LOAD + 0x200, isr02, sizeof isr02);
	vt_tables(&t, 0, vec, target, 3);
	t.hook = inject_hook;
	t.user = &injected;
	assert_int_equal(vt_kvm_run_bounded(&t, 5), VMSIM_OK);
	assert_int_equal(injected, 3);
	assert_int_equal(atomic_load(&t.nexits), 7);
	assert_int_equal(t.exits[1].rip, VT_LOAD + 0x102);
	assert_int_equal(t.exits[1].u.io.value, 0x20);
	assert_int_equal(t.exits[3].rip, VT_LOAD + 0x181);
	assert_int_equal(t.exits[3].u.io.value, 0x1234);
	assert_int_equal(t.exits[5].rip, VT_LOAD + 0x202);
	assert_int_equal(t.exits[5].u.io.value, 2);
	assert_int_equal(t.exits[6].rip, VT_LOAD + 8);
	vt_vm_fini(&t);
}

static int window_hook(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	bool ask = exit->kind == VMSIM_EXIT_IO && exit->u.io.port == 0xf2;

	if (!ask && exit->kind != VMSIM_EXIT_INTR_WINDOW)
		return -1;
	assert_int_equal(t->ops->state_get(t->vcpu, VMSIM_GROUP_EVENTS, s), VMSIM_OK);
	s->pending.want_intr_window = ask;
	assert_int_equal(t->ops->state_set(t->vcpu, VMSIM_GROUP_EVENTS, s), VMSIM_OK);
	if (ask)
		return -1;
	assert_int_equal(t->ops->state_get(t->vcpu, VMSIM_GROUP_IP, s), VMSIM_OK);
	return VMSIM_EXIT_ACTION_RESUME; /* a window exit has no instruction to skip */
}

/* An interrupt window asked for with IF = 0 opens once STI and its shadow have passed. */
static void test_interrupt_window(void **state)
{
	(void)state;
	static const uint8_t code[] = { 0xfa, 0xe6, 0xf2, 0x90, 0xfb, 0x90, 0x90, 0xe6, 0xf0 }; /* cli; out 0xf2; nop; sti; nop; nop; out 0xf0 */
	struct vt_vm t;
	struct vmsim_cpu_state s;

	vt_kvm_need(VMSIM_CAP_INTR_WINDOW);
	prot_vm(&t, code, sizeof code, &s);
	t.hook = window_hook;
	assert_int_equal(vt_kvm_run_bounded(&t, 5), VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 3);
	assert_int_equal(t.exits[1].kind, VMSIM_EXIT_INTR_WINDOW);
	assert_int_equal(t.exits[1].rip, VT_LOAD + 6); /* after sti; nop: the nop in the shadow still ran */
	vt_vm_fini(&t);
}

/* The native handle is the vCPU fd and its kvm_run; absent capabilities name their reason. */
static void test_native_and_caps(void **state)
{
	(void)state;
	const struct vmsim_backend_ops *ops = vmsim_backend_kvm();
	struct vt_vm t;
	struct vmsim_native_vcpu n;

	assert_string_equal(ops->name, "kvm");
	assert_null(ops->cap_gap(VMSIM_CAP_EXIT_IO));
	assert_non_null(ops->cap_gap(VMSIM_CAP_EXIT_CPUID));
	assert_non_null(ops->cap_gap(VMSIM_CAP_EXIT_VMCALL));
	assert_false(ops->caps & VMSIM_CAP_EXIT_RDTSCP);
	vt_kvm_require();
	vt_vm_init_on(&t, ops, 0, 0);
	assert_int_equal(ops->native(t.vcpu, &n), VMSIM_OK);
	assert_string_equal(n.backend, "kvm");
	assert_true(n.fd >= 0);
	assert_non_null(n.run_area);
	assert_true(n.run_area_size >= 4096);
	assert_null(n.engine);
	vt_vm_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_refused_state),
		cmocka_unit_test(test_readonly_and_unmapped),
		cmocka_unit_test(test_inject),
		cmocka_unit_test(test_interrupt_window),
		cmocka_unit_test(test_native_and_caps),
	};
	return cmocka_run_group_tests_name("kvm_state", tests, NULL, NULL);
}
