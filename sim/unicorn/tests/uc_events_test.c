/* uc_events_test.c - injection of each event type, interrupt windows, HLT idling, #UD and triple faults. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vt_uc.h"

enum { REAL, PROT, LONG };

struct script {
	int readies;
	uint32_t reports[16];  /* port 0x30 values in order */
	size_t nreports;
	uint32_t error_code;   /* last port 0x31 value */
	uint16_t frame_ip;     /* stop_at_report: the IP on top of the stack */
	bool window_seen;
};

static void inject(struct vt_vm *t, enum vmsim_event_type type, uint8_t vector, bool has_error, uint32_t err,
                   uint8_t insn_len)
{
	struct vmsim_cpu_state *e = calloc(1, sizeof *e);
	assert_non_null(e);
	assert_int_equal(t->ops->state_get(t->vcpu, VMSIM_GROUP_EVENTS, e), VMSIM_OK);
	e->pending = (struct vmsim_event){ .valid = true, .type = type, .vector = vector, .has_error = has_error,
		                           .error_code = err, .insn_len = insn_len };
	assert_int_equal(t->ops->state_set(t->vcpu, VMSIM_GROUP_EVENTS, e), VMSIM_OK);
	free(e);
}

static void want_window(struct vt_vm *t, bool want)
{
	struct vmsim_cpu_state *e = calloc(1, sizeof *e);
	assert_non_null(e);
	assert_int_equal(t->ops->state_get(t->vcpu, VMSIM_GROUP_EVENTS, e), VMSIM_OK);
	e->pending.want_intr_window = want;
	assert_int_equal(t->ops->state_set(t->vcpu, VMSIM_GROUP_EVENTS, e), VMSIM_OK);
	free(e);
}

static int events_hook(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	struct script *sc = t->user;
	(void)s;

	if (exit->kind == VMSIM_EXIT_INTR_WINDOW) {
		sc->window_seen = true;
		want_window(t, false);
		inject(t, VMSIM_EVENT_EXTINT, 0x20, false, 0, 0);
		return VMSIM_EXIT_ACTION_RESUME;
	}
	if (exit->kind != VMSIM_EXIT_IO)
		return -1;
	if (exit->u.io.port == 0x30)
		sc->reports[sc->nreports++] = exit->u.io.value;
	if (exit->u.io.port == 0x31)
		sc->error_code = exit->u.io.value;
	if (exit->u.io.port == 0xf2)
		want_window(t, true);
	if (exit->u.io.port == 0xf1) {
		switch (sc->readies++) {
		case 0: inject(t, VMSIM_EVENT_EXTINT, 0x20, false, 0, 0); break;
		case 1: inject(t, VMSIM_EVENT_NMI, 2, false, 0, 0); break;
		case 2:
			if (t->in_value == 1) /* real mode: no #GP handler, inject INT 0x80 instead */
				inject(t, VMSIM_EVENT_SW_INT, 0x80, false, 0, 0);
			else
				inject(t, VMSIM_EVENT_HW_EXCEPTION, 13, true, 0x1234, 0);
			break;
		/*
		 * A software interrupt returns to rip + insn_len (rip would point at the INT n);
		 * here rip is already past the OUT, so inject with length 0.
		 */
		case 3: inject(t, VMSIM_EVENT_SW_INT, 0x80, false, 0, 0); break;
		}
	}
	return -1;
}

static void setup_tables(struct vt_vm *t, const struct vt_guest *g, int mode)
{
	if (mode == REAL) {
		vt_ivt(t, 0x20, (uint16_t)vt_guest_sym(g, "x_isr_20"));
		vt_ivt(t, 0x02, (uint16_t)vt_guest_sym(g, "x_isr_nmi"));
		vt_ivt(t, 0x80, (uint16_t)vt_guest_sym(g, "x_isr_80"));
		return;
	}
	const uint8_t vec[] = { 0x20, 0x02, 13, 0x80, 6 };
	const uint64_t target[] = { VT_LOAD + vt_guest_sym(g, "x_isr_20"), VT_LOAD + vt_guest_sym(g, "x_isr_nmi"),
		                    VT_LOAD + vt_guest_sym(g, "x_isr_gp"), VT_LOAD + vt_guest_sym(g, "x_isr_80"),
		                    VT_LOAD + vt_guest_sym(g, "x_isr_ud") };
	vt_tables(t, mode == LONG, vec, target, 5);
}

static void run_events(int mode)
{
	static const struct vt_guest *guests[3] = { &vt_guest_rm_events, &vt_guest_pm_events, &vt_guest_lm_events };
	const struct vt_guest *g = guests[mode];
	struct vt_vm t;
	struct vmsim_cpu_state s;
	struct script sc;

	memset(&sc, 0, sizeof sc);
	vt_vm_init(&t, 0, 0);
	vt_load(&t, g);
	setup_tables(&t, g, mode);
	if (mode == REAL) {
		vt_state_real(&s, vt_guest_sym(g, "x_main"));
		t.in_value = 1; /* the third injection is a software INT 0x80 (no #GP in real mode here) */
	} else if (mode == PROT) {
		vt_state_prot(&s, VT_LOAD + vt_guest_sym(g, "x_main"));
	} else {
		vt_state_long(&s, VT_LOAD + vt_guest_sym(g, "x_main"));
	}
	vt_set(&t, &s);
	t.hook = events_hook;
	t.user = &sc;
	assert_int_equal(vt_run(&t), VMSIM_OK);

	if (mode == REAL) {
		/* extint, NMI, injected INT 0x80, then the guest's own INT 0x80 */
		assert_int_equal(sc.nreports, 4);
		assert_int_equal(sc.reports[0], 0x20);
		assert_int_equal(sc.reports[1], 0x02);
		assert_int_equal(sc.reports[2], 0x80);
		assert_int_equal(sc.reports[3], 0x80);
	} else {
		/* extint, NMI, #GP(0x1234), injected INT 0x80, window extint, guest INT 0x80, #UD */
		assert_int_equal(sc.nreports, 7);
		const uint32_t want[7] = { 0x20, 0x02, 0x0d, 0x80, 0x20, 0x80, 0x06 };
		for (int i = 0; i < 7; i++)
			assert_int_equal(sc.reports[i], want[i]);
		assert_int_equal(sc.error_code, 0x1234);
		assert_true(sc.window_seen);
		int w = -1;
		for (size_t i = 0; i < atomic_load(&t.nexits); i++)
			if (t.exits[i].kind == VMSIM_EXIT_INTR_WINDOW)
				w = (int)i;
		assert_true(w >= 0);
		/* The window opens after the STI shadow, not at the instruction following STI. */
		assert_int_equal(t.exits[w].rip, VT_LOAD + vt_guest_sym(g, "x_window_open"));
		assert_int_equal(t.exits[w].insn_len, 0);
	}
	vt_vm_fini(&t);
}

static void test_inject_real(void **state)
{
	(void)state;
	run_events(REAL);
}

static void test_inject_protected(void **state)
{
	(void)state;
	run_events(PROT);
}

static void test_inject_long(void **state)
{
	(void)state;
	run_events(LONG);
}

struct runner {
	struct vt_vm *t;
	enum vmsim_result result;
	atomic_bool done;
};

static void *run_thread(void *p)
{
	struct runner *r = p;
	r->result = vt_run(r->t);
	atomic_store(&r->done, true);
	return NULL;
}

/* HLT without the intercept idles; a stop ends the run with activity HLT; an injection wakes it. */
static void test_hlt_idle_then_inject(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	struct script sc;
	struct runner r = { &t, VMSIM_BACKEND_ERROR, false };
	pthread_t th;
	const struct vt_guest *g = &vt_guest_pm_events;
	(void)state;

	memset(&sc, 0, sizeof sc);
	vt_vm_init(&t, 0, 0);
	vt_load(&t, g);
	setup_tables(&t, g, PROT);
	vt_state_prot(&s, VT_LOAD + vt_guest_sym(g, "x_after_ud"));
	s.intercepts &= ~(uint32_t)VMSIM_INTERCEPT_HLT;
	s.rflags |= 0x200;
	vt_set(&t, &s);
	t.hook = events_hook;
	t.user = &sc;
	assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
	assert_true(vt_wait_idle(&t, 0, &r.done)); /* idling in HLT (the backend says so), no exits */
	assert_false(atomic_load(&r.done));
	t.ops->vcpu_stop(t.vcpu);
	pthread_join(th, NULL);
	assert_int_equal(r.result, VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 0);
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_ALL, &s), VMSIM_OK);
	assert_int_equal(s.activity, VMSIM_ACTIVITY_HLT);
	assert_int_equal(s.rip, VT_LOAD + vt_guest_sym(g, "x_after_hlt"));
	/* An external interrupt wakes the vCPU: the handler runs, then the guest reaches the done port. */
	inject(&t, VMSIM_EVENT_EXTINT, 0x20, false, 0, 0);
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(sc.nreports, 1);
	assert_int_equal(sc.reports[0], 0x20);
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_EVENTS, &s), VMSIM_OK);
	assert_int_equal(s.activity, VMSIM_ACTIVITY_ACTIVE);
	vt_vm_fini(&t);
}

/* #UD with an IDT that cannot deliver it: #DF cannot be delivered either, so the vCPU shuts down. */
static void test_triple_fault(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	const struct vt_guest *g = &vt_guest_pm_events;
	(void)state;

	vt_vm_init(&t, 0, 0);
	vt_load(&t, g);
	vt_state_prot(&s, VT_LOAD + vt_guest_sym(g, "x_ud"));
	s.idtr.limit = 0;
	vt_set(&t, &s);
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 1);
	assert_int_equal(t.exits[0].kind, VMSIM_EXIT_SHUTDOWN);
	assert_int_equal(t.exits[0].rip, VT_LOAD + vt_guest_sym(g, "x_ud"));
	vt_vm_fini(&t);
}

/* A VMCALL without the intercept is #UD for the guest, delivered through its IDT. */
/* pm_events' tables and handlers, the given code at 0x30000 and a protected-mode state there in s (not set yet). */
static void code_at_0x30000(struct vt_vm *t, struct vmsim_cpu_state *s, struct script *sc, const uint8_t *code,
                            size_t size)
{
	memset(sc, 0, sizeof *sc);
	vt_vm_init(t, 0, 0);
	vt_load(t, &vt_guest_pm_events);
	setup_tables(t, &vt_guest_pm_events, PROT);
	memcpy(t->ram + 0x30000, code, size);
	vt_state_prot(s, 0x30000);
}

static void test_vmcall_not_intercepted(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	struct script sc;
	/* vmcall; the #UD handler returns 2 bytes on, into "c1 e0 00" (shl eax, 0); then out 0xf0 */
	static const uint8_t vmcall_then_out[] = { 0x0f, 0x01, 0xc1, 0xe0, 0x00, 0xe6, 0xf0 };
	(void)state;

	code_at_0x30000(&t, &s, &sc, vmcall_then_out, sizeof vmcall_then_out);
	s.intercepts &= ~(uint32_t)VMSIM_INTERCEPT_VMCALL;
	vt_set(&t, &s);
	t.hook = events_hook;
	t.user = &sc;
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(sc.nreports, 1);
	assert_int_equal(sc.reports[0], 6);
	for (size_t i = 0; i < atomic_load(&t.nexits); i++)
		assert_int_not_equal(t.exits[i].kind, VMSIM_EXIT_VMCALL);
	vt_vm_fini(&t);
}

/* Exception exits seen; each resumes past its instruction (the guest's handlers must not run). */
static int skip_exceptions_hook(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	static const uint8_t length[32] = { [0] = 2, [3] = 1, [6] = 2 }; /* div edx, int3, ud2 */

	if (exit->kind != VMSIM_EXIT_EXCEPTION)
		return -1;
	s->rip = exit->rip + length[exit->u.exception.vector & 31];
	assert_int_equal(t->ops->state_set(t->vcpu, VMSIM_GROUP_IP, s), VMSIM_OK);
	return VMSIM_EXIT_ACTION_RESUME;
}

/*
 * Exceptions from each source the backend has: INT3 (a software exception the site hook raises: the exit is at the
 * INT3 with its length), UD2 and DIV by zero (raised by 2.0.1: at the instruction, length 0, no error code). INT 3
 * (CD 03) is a software interrupt, not #BP: delivered with #BP intercepted (through gate 3, a copy of the #UD
 * handler's, which reports 6 and returns 2 bytes on).
 */
static void test_exception_intercepts_exit_before_delivery(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	struct script sc;
	static const uint8_t code[] = { 0xcc, 0x0f, 0x0b, 0xcd, 0x03, 0x90, 0x90, 0x31, 0xd2, 0xf7, 0xf2, 0xe6, 0xf0 };
	static const struct { uint64_t rip; uint8_t vector, len; } want[] = { { 0x30000, 3, 1 }, { 0x30001, 6, 0 },
		                                                               { 0x30009, 0, 0 } };
	(void)state;

	code_at_0x30000(&t, &s, &sc, code, sizeof code);
	memcpy(t.ram + VT_IDT + 8 * 3, t.ram + VT_IDT + 8 * 6, 8);
	s.exception_intercepts = 1u << 0 | 1u << 3 | 1u << 6;
	vt_set(&t, &s);
	t.hook = skip_exceptions_hook;
	t.user = &sc;
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 5); /* three exceptions, the #UD handler's report, the done port */
	assert_int_equal(t.exits[2].kind, VMSIM_EXIT_IO);
	assert_int_equal(t.exits[2].u.io.port, 0x30);
	assert_int_equal(t.exits[2].u.io.value, 6);
	for (size_t i = 0; i < 3; i++) {
		const struct vmsim_exit *e = &t.exits[i < 2 ? i : 3];
		assert_int_equal(e->kind, VMSIM_EXIT_EXCEPTION);
		assert_int_equal(e->rip, want[i].rip);
		assert_int_equal(e->insn_len, want[i].len);
		assert_int_equal(e->u.exception.vector, want[i].vector);
		assert_false(e->u.exception.has_error);
		assert_int_equal(e->u.exception.qual, 0);
	}
	assert_int_equal(t.exits[4].kind, VMSIM_EXIT_IO);
	assert_int_equal(t.exits[4].rip, 0x3000b);
	struct vmsim_cpu_state back;
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_INTERCEPTS, &back), VMSIM_OK);
	assert_int_equal(back.exception_intercepts, s.exception_intercepts);
	vt_vm_fini(&t);
}

/* At the NPF: what the event state holds, then attach the page it names and resume. */
struct int3_npf {
	struct vmsim_exit npf;
	bool pending;
	int npfs;
};

static int attach_at_npf(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	struct int3_npf *seen = t->user;
	(void)s;
	if (exit->kind != VMSIM_EXIT_NPF)
		return -1;
	if (seen->npfs++)
		return VMSIM_EXIT_ACTION_STOP;
	seen->npf = *exit;
	struct vmsim_cpu_state *e = calloc(1, sizeof *e);
	assert_non_null(e);
	assert_int_equal(t->ops->state_get(t->vcpu, VMSIM_GROUP_EVENTS, e), VMSIM_OK);
	seen->pending = e->pending.valid;
	free(e);
	uint64_t page = exit->u.npf.gpa & ~0xfffull;
	unsigned rwx = VMSIM_PROT_READ | VMSIM_PROT_WRITE | VMSIM_PROT_EXEC;
	assert_int_equal(t->ops->mem_map(t->vm, page, t->ram + page, 0x1000, rwx), VMSIM_OK);
	return VMSIM_EXIT_ACTION_RESUME;
}

/*
 * INT3 whose frame lands on unattached memory: an NPF at the INT3 (no length) with nothing pending, and once the
 * page is there the INT3 runs again and its handler runs once (SVM's EXITINTINFO could only show it as an exception,
 * whose injection would not step past the INT3; KVM re-executes it too). docs/spec.md "A delivery that faults".
 */
static void test_int3_frame_on_unattached_memory_runs_the_int3_again(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	struct int3_npf seen = { .npfs = 0 };
	static const uint8_t code[] = { 0xcc, 0xe6, 0xf0 }; /* int3; out %al, $0xf0 */
	const struct vt_guest *g = &vt_guest_pm_events;
	(void)state;

	vt_vm_init(&t, VT_STACK - 0x1000, VT_STACK);
	vt_load(&t, g);
	setup_tables(&t, g, PROT);
	memcpy(t.ram + VT_IDT + 8 * 3, t.ram + VT_IDT + 8 * 0x80, 8); /* #BP: the INT 0x80 handler (reports 0x80) */
	memcpy(t.ram + 0x30000, code, sizeof code);
	vt_state_prot(&s, 0x30000);
	vt_set(&t, &s);
	t.hook = attach_at_npf;
	t.user = &seen;
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(seen.npfs, 1);
	assert_int_equal(seen.npf.rip, 0x30000);
	assert_int_equal(seen.npf.insn_len, 0);
	assert_int_equal(seen.npf.u.npf.access, VMSIM_ACCESS_WRITE);
	assert_true(seen.npf.u.npf.gpa >= VT_STACK - 12 && seen.npf.u.npf.gpa <= VT_STACK - 4);
	assert_false(seen.pending);
	size_t n = atomic_load(&t.nexits);
	assert_int_equal(n, 3); /* the NPF, the handler's report, the done port */
	assert_int_equal(t.exits[1].kind, VMSIM_EXIT_IO);
	assert_int_equal(t.exits[1].u.io.port, 0x30);
	assert_int_equal(t.exits[1].u.io.value, 0x80);
	assert_int_equal(t.exits[2].rip, 0x30001);
	vt_vm_fini(&t);
}

static int stop_at_exception(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	(void)t, (void)s;
	return exit->kind == VMSIM_EXIT_EXCEPTION ? VMSIM_EXIT_ACTION_STOP : -1;
}

/* Real mode at CS 0x1000:ip with the given CS limit, code at linear 0x10000 + ip, #GP intercepted: the one exit. */
static void real_mode_gp_exit(uint64_t ip, uint32_t cs_limit, const uint8_t *code, size_t size, uint64_t gp_ip)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;

	vt_vm_init(&t, 0, 0);
	memcpy(t.ram + 0x10000 + ip, code, size);
	vt_state_real(&s, ip);
	s.cs.limit = cs_limit;
	s.exception_intercepts = 1u << 13;
	vt_set(&t, &s);
	t.hook = stop_at_exception;
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 1);
	assert_int_equal(t.exits[0].kind, VMSIM_EXIT_EXCEPTION);
	assert_int_equal(t.exits[0].u.exception.vector, 13);
	assert_int_equal(t.exits[0].rip, gp_ip);
	assert_false(t.exits[0].u.exception.has_error);
	vt_vm_fini(&t);
}

/* SDM Vol. 3A 6.13: no error code is pushed in real-address mode, so a real-mode #GP exits without one. */
static void test_real_mode_exception_exits_without_error_code(void **state)
{
	/* at CS:IP 0x1000:0x100, jmp rel32 (66 e9) to IP 0x12345, beyond the 64 KiB limit: #GP(0) at the jump */
	static const uint8_t jump[] = { 0x66, 0xe9, 0x3f, 0x22, 0x01, 0x00 };
	/* above 64 KiB (a CS limit of 0x20003; such code runs in the backend's 32-bit engine): NOPs up to the limit,
	 * then #GP(0) at IP 0x20004 */
	static const uint8_t nops[] = { 0x90, 0x90, 0x90, 0x90, 0x90 };
	(void)state;

	real_mode_gp_exit(0x100, 0xffff, jump, sizeof jump, 0x100);
	real_mode_gp_exit(0x20000, 0x20003, nops, sizeof nops, 0x20004);
}

/* The #GP handler's reports: its error code (port 0x31), then its vector (0x30), where the run stops. */
static int stop_at_gp_report(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	struct script *sc = t->user;
	if (exit->kind == VMSIM_EXIT_IO && exit->u.io.port == 0x31)
		sc->error_code = exit->u.io.value;
	if (exit->kind == VMSIM_EXIT_IO && exit->u.io.port == 0x30) {
		sc->reports[sc->nreports++] = exit->u.io.value;
		/* x_isr_gp swapped the error code for EAX: the frame's EIP and CS lie 4 and 8 bytes up */
		uint32_t frame[2];
		memcpy(frame, t->ram + (uint32_t)s->rsp + 4, sizeof frame);
		sc->reports[sc->nreports++] = frame[0];
		sc->reports[sc->nreports++] = frame[1] & 0xffff;
		return VMSIM_EXIT_ACTION_STOP;
	}
	return -1;
}

/*
 * SDM Vol. 2A "INT n": a gate whose handler offset lies beyond its code segment's limit is #GP(EXT), here 0 (INT n),
 * at the INT (a conformance case cannot show it: the QEMU-TCG KVM lane checks no code limit). Before 2026-12-06 any
 * failed delivery became #DF, and without a #DF gate a shutdown.
 */
static void test_int_n_to_a_handler_beyond_its_cs_limit_is_gp(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	struct script sc;
	static const uint8_t int80[] = { 0xcd, 0x80 };
	uint64_t small_code = 0x00409b0000000fffull; /* base 0, limit 0xfff, 32-bit code, DPL 0 */
	(void)state;

	code_at_0x30000(&t, &s, &sc, int80, sizeof int80);
	memcpy(t.ram + VT_GDT + 0x18, &small_code, 8);
	t.ram[VT_IDT + 8 * 0x80 + 2] = 0x18; /* gate 0x80's selector; its handler lies above 0x10000 */
	s.gdtr.limit = 31;
	vt_set(&t, &s);
	t.hook = stop_at_gp_report;
	t.user = &sc;
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(sc.nreports, 3);
	assert_int_equal(sc.reports[0], 13);
	assert_int_equal(sc.error_code, 0);
	assert_int_equal(sc.reports[1], 0x30000); /* raised by the delivery, at the INT: not by the handler's first */
	assert_int_equal(sc.reports[2], 0x08);    /* instruction under the small CS (then EIP x_isr_80, CS 0x18) */
	vt_vm_fini(&t);
}

/*
 * SDM Vol. 2A "INT n", IA-32e mode: a gate whose handler address is not canonical (0x0000800000000000 here) is
 * #GP(EXT), 0 for INT n, at the INT; before, every failed delivery became #DF.
 */
static void test_long_mode_int_n_to_a_non_canonical_handler_is_gp(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	struct script sc;
	const struct vt_guest *g = &vt_guest_lm_events;
	static const uint8_t int80[] = { 0xcd, 0x80 };
	(void)state;

	memset(&sc, 0, sizeof sc);
	vt_vm_init(&t, 0, 0);
	vt_load(&t, g);
	setup_tables(&t, g, LONG);
	memcpy(t.ram + 0x30000, int80, sizeof int80);
	uint32_t high = 0x8000; /* gate 0x80's offset bits 63:32: bit 47 set, 48-63 clear */
	memcpy(t.ram + VT_IDT + 16 * 0x80 + 8, &high, 4);
	vt_state_long(&s, 0x30000);
	vt_set(&t, &s);
	t.hook = stop_at_gp_report;
	t.user = &sc;
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(sc.nreports, 3); /* the vector, then two words of the frame read as a 32-bit one: not checked */
	assert_int_equal(sc.reports[0], 13);
	assert_int_equal(sc.error_code, 0);
	vt_vm_fini(&t);
}

static int stop_at_report(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	struct script *sc = t->user;
	if (exit->kind != VMSIM_EXIT_IO || exit->u.io.port != 0x30)
		return -1;
	sc->reports[sc->nreports++] = exit->u.io.value;
	memcpy(&sc->frame_ip, t->ram + s->ss.base + (uint16_t)s->rsp, 2);
	return VMSIM_EXIT_ACTION_STOP;
}

/*
 * SDM Vol. 2A "INT n", REAL-ADDRESS-MODE: an IVT entry beyond the IDTR limit is #GP (no error code), delivered
 * through IVT entry 13 with the INT's own IP in its frame. Until 2026-12-07 the backend made it #DF (entry 8).
 */
static void test_real_mode_int_n_beyond_the_ivt_limit_is_gp(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	struct script sc;
	static const uint8_t int20[] = { 0xcd, 0x20 };
	static const uint8_t report13[] = { 0xb0, 13, 0xe6, 0x30, 0xf4 }, report8[] = { 0xb0, 8, 0xe6, 0x30, 0xf4 };
	const uint16_t gp_entry[2] = { 0x200, 0x1000 }, df_entry[2] = { 0x300, 0x1000 };
	(void)state;

	memset(&sc, 0, sizeof sc);
	vt_vm_init(&t, 0, 0);
	memcpy(t.ram + 0x10100, int20, sizeof int20);
	memcpy(t.ram + 0x10200, report13, sizeof report13);
	memcpy(t.ram + 0x10300, report8, sizeof report8);
	memcpy(t.ram + 13 * 4, gp_entry, 4);
	memcpy(t.ram + 8 * 4, df_entry, 4);
	vt_state_real(&s, 0x100);
	s.idtr.limit = 16 * 4 - 1; /* vectors 0-15: 0x20 lies beyond */
	vt_set(&t, &s);
	t.hook = stop_at_report;
	t.user = &sc;
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(sc.nreports, 1);
	assert_int_equal(sc.reports[0], 13);
	assert_int_equal(sc.frame_ip, 0x100); /* the INT's own IP: a fault, not a trap past it */
	vt_vm_fini(&t);
}

static int nmi_window_hook(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	struct script *sc = t->user;
	(void)s;

	if (exit->kind == VMSIM_EXIT_NMI_WINDOW) {
		sc->window_seen = true;
		return VMSIM_EXIT_ACTION_STOP;
	}
	if (exit->kind == VMSIM_EXIT_IO && exit->u.io.port == 0x30)
		sc->reports[sc->nreports++] = exit->u.io.value;
	if (exit->kind == VMSIM_EXIT_IO && exit->u.io.port == 0xf1 && sc->readies++ == 0) {
		struct vmsim_cpu_state *e = calloc(1, sizeof *e);
		assert_non_null(e);
		assert_int_equal(t->ops->state_get(t->vcpu, VMSIM_GROUP_EVENTS, e), VMSIM_OK);
		e->pending = (struct vmsim_event){ .valid = true, .type = VMSIM_EVENT_NMI, .vector = 2,
			                           .want_nmi_window = true };
		assert_int_equal(t->ops->state_set(t->vcpu, VMSIM_GROUP_EVENTS, e), VMSIM_OK);
		free(e);
	}
	return -1;
}

/* An NMI blocks NMIs until its IRET; the NMI window opens right after that IRET. */
static void test_nmi_window(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	struct script sc;
	const struct vt_guest *g = &vt_guest_pm_events;
	(void)state;

	memset(&sc, 0, sizeof sc);
	vt_vm_init(&t, 0, 0);
	vt_load(&t, g);
	setup_tables(&t, g, PROT);
	vt_state_prot(&s, VT_LOAD + vt_guest_sym(g, "x_main"));
	vt_set(&t, &s);
	t.hook = nmi_window_hook;
	t.user = &sc;
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_true(sc.window_seen);
	assert_int_equal(sc.nreports, 1);
	assert_int_equal(sc.reports[0], 2); /* the handler ran before the window opened */
	size_t n = atomic_load(&t.nexits);
	assert_int_equal(t.exits[n - 1].kind, VMSIM_EXIT_NMI_WINDOW);
	assert_int_equal(t.exits[n - 1].rip, VT_LOAD + vt_guest_sym(g, "x_ready2"));
	vt_vm_fini(&t);
}

static int halt_on_hlt_exit(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	if (exit->kind != VMSIM_EXIT_HLT)
		return -1;
	/* The VMM keeps the vCPU halted: past the HLT, activity HLT. */
	s->rip += exit->insn_len;
	assert_int_equal(t->ops->state_set(t->vcpu, VMSIM_GROUP_IP, s), VMSIM_OK);
	struct vmsim_cpu_state *e = calloc(1, sizeof *e);
	assert_non_null(e);
	assert_int_equal(t->ops->state_get(t->vcpu, VMSIM_GROUP_EVENTS, e), VMSIM_OK);
	e->activity = VMSIM_ACTIVITY_HLT;
	assert_int_equal(t->ops->state_set(t->vcpu, VMSIM_GROUP_EVENTS, e), VMSIM_OK);
	free(e);
	return VMSIM_EXIT_ACTION_RESUME;
}

/* A VMM that answers a HLT exit with activity HLT keeps the vCPU idle until an event. */
static void test_hlt_exit_activity_hlt(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	struct runner r = { &t, VMSIM_BACKEND_ERROR, false };
	pthread_t th;
	const struct vt_guest *g = &vt_guest_pm_events;
	(void)state;

	vt_vm_init(&t, 0, 0);
	vt_load(&t, g);
	vt_state_prot(&s, VT_LOAD + vt_guest_sym(g, "x_after_ud"));
	vt_set(&t, &s);
	t.hook = halt_on_hlt_exit;
	assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
	assert_true(vt_wait_idle(&t, 0, &r.done)); /* idling after the HLT exit (the backend says so) */
	assert_false(atomic_load(&r.done)); /* the OUT after the HLT did not run */
	t.ops->vcpu_stop(t.vcpu);
	pthread_join(th, NULL);
	assert_int_equal(r.result, VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 1);
	assert_int_equal(t.exits[0].kind, VMSIM_EXIT_HLT);
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_ALL, &s), VMSIM_OK);
	assert_int_equal(s.activity, VMSIM_ACTIVITY_HLT);
	assert_int_equal(s.rip, VT_LOAD + vt_guest_sym(g, "x_after_hlt"));
	vt_vm_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inject_real),
		cmocka_unit_test(test_inject_protected),
		cmocka_unit_test(test_inject_long),
		cmocka_unit_test(test_hlt_idle_then_inject),
		cmocka_unit_test(test_triple_fault),
		cmocka_unit_test(test_vmcall_not_intercepted),
		cmocka_unit_test(test_exception_intercepts_exit_before_delivery),
		cmocka_unit_test(test_real_mode_exception_exits_without_error_code),
		cmocka_unit_test(test_real_mode_int_n_beyond_the_ivt_limit_is_gp),
		cmocka_unit_test(test_int_n_to_a_handler_beyond_its_cs_limit_is_gp),
		cmocka_unit_test(test_long_mode_int_n_to_a_non_canonical_handler_is_gp),
		cmocka_unit_test(test_nmi_window),
		cmocka_unit_test(test_hlt_exit_activity_hlt),
		cmocka_unit_test(test_int3_frame_on_unattached_memory_runs_the_int3_again),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
