/* inject_events_test.c - event injection through inj_info/inj_error, interrupt windows, per-architecture rejections. */
#include <string.h>

#include "../vc.h"

/*
 * inj_info as the encoding doc gives it for both: vector 7:0, type 10:8,
 * error-code valid 11, valid 31; Genode's bit 12 asks for an interrupt window.
 */
enum { VALID = 1u << 31, HAS_ERROR = 1u << 11, WANT_WINDOW = 1u << 12 };
#define INFO(type, vector) (VALID | (uint32_t)(type) << 8 | (uint32_t)(vector))

struct inject {
	uint32_t info, error;
	bool keep_ip;           /* software interrupt: stay at the OUT, ip_len 2 = the "INT n" length */
	bool svm_refuses, vmx_refuses;
	uint32_t report;        /* the vector the guest's handler reports (port 0x30), if accepted */
	uint32_t error_report;  /* port 0x31, for #GP */
};

/* At the guest's second ready point (not in an STI shadow) inject x's event. */
static int inject_at_second_ready(struct vt_cpu *c, struct vmsim_vcpu_state *st, const struct inject *x)
{
	if (vt_io_port(st) != 0xf1 || c->user_state++ != 1)
		return -1;
	uint64_t ip = st->ip.value, len = st->ip_len.value;
	vmsim_vcpu_state_discharge(st);
	vmsim_charge(st, ip, x->keep_ip ? ip : ip + len);
	vmsim_charge(st, ip_len, x->keep_ip ? 2 : 0); /* the software event's instruction length */
	vmsim_charge(st, intr_state, 0); /* the OUT is skipped: no shadow */
	vmsim_charge(st, inj_info, x->info);
	vmsim_charge(st, inj_error, x->error);
	return 1;
}

static int inject_policy(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	return inject_at_second_ready(c, st, c->vm->user);
}

static void setup_idt(struct vt_vm *vm)
{
	vt_idt(vm, 0x20, "x_isr_20");
	vt_idt(vm, 0x05, "x_isr_20"); /* an external interrupt below 32 (both deliver it) reports 0x20 too */
	vt_idt(vm, 0x02, "x_isr_nmi");
	vt_idt(vm, 13, "x_isr_gp");
	vt_idt(vm, 0x80, "x_isr_80");
	vt_idt(vm, 6, "x_isr_ud");
}

static void inject_case(const void *p)
{
	const struct inject *x = p;
	bool refused = vc_svm() ? x->svm_refuses : x->vmx_refuses;
	vt_need_model_entry(refused, vc_svm() ? x->vmx_refuses : x->svm_refuses);
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_events, 0, 0);
	setup_idt(&vm);
	vm.user = (void *)x;
	struct vt_cpu *c = vt_cpu_start(&vm, "x_main", inject_policy);
	vt_wait_stopped(c);
	const struct vt_exit *last = &c->log[c->n - 1];
	if (refused) {
		assert_int_equal(last->reason, vt_invalid_code());
		assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_INVALID_STATE), 1);
		assert_int_equal(c->nreports, 0);
	} else {
		/* the injected event, then the guest's own INT 0x80 and #UD; then the done port */
		assert_int_equal(last->reason, vt_code(VMSIM_EXIT_IO));
		assert_int_equal(c->nreports, 3);
		assert_int_equal(c->reports[0], x->report);
		assert_int_equal(c->reports[1], 0x80);
		assert_int_equal(c->reports[2], 0x06);
		if (x->report == 13)
			assert_int_equal(c->error_report, x->error_report);
		assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_INVALID_STATE), 0);
	}
	vt_vm_close(&vm);
}

static const struct inject extint = { INFO(0, 0x20), 0, false, false, false, 0x20, 0 };
static const struct inject nmi = { INFO(2, 2), 0, false, false, false, 0x02, 0 };
static const struct inject gp = { INFO(3, 13) | HAS_ERROR, 0x1234, false, false, false, 13, 0x1234 };
static const struct inject swint = { INFO(4, 0x80), 0, true, false, false, 0x80, 0 };
static const struct inject type_other = { INFO(7, 0x20), 0, false, true, true, 0, 0 };
static const struct inject type_reserved = { INFO(1, 0x20), 0, false, true, true, 0, 0 };
static const struct inject exception_vector_2 = { INFO(3, 2), 0, false, true, false, 0x02, 0 };
static const struct inject extint_below_32 = { INFO(0, 5), 0, false, false, false, 0x20, 0 };
static const struct inject error_high_bits = { INFO(3, 13) | HAS_ERROR, 0xffff1234, false, false, true, 13,
	                                       0xffff1234 };
static const struct inject swint_without_length = { INFO(4, 0x80), 0, false, false, true, 0x80, 0 };

/* Interrupt window: asked for with IF=0 at x_window_ask; it opens after the STI shadow. */
static int window_policy(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	(void)c;
	unsigned window = vc_svm() ? 0x64 : 7;
	if (vt_io_port(st) == 0xf2) {
		uint64_t next = st->ip.value + st->ip_len.value;
		vmsim_vcpu_state_discharge(st);
		vmsim_charge(st, ip, next);
		vmsim_charge(st, inj_info, WANT_WINDOW);
		return 1;
	}
	if (st->exit_reason == window) {
		vmsim_vcpu_state_discharge(st);
		vmsim_charge(st, inj_info, INFO(0, 0x20)); /* window bit clear: no second window */
		return 1;
	}
	return -1;
}

static void interrupt_window(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_events, 0, 0);
	setup_idt(&vm);
	struct vt_cpu *c = vt_cpu_start(&vm, "x_main", window_policy);
	vt_wait_stopped(c);
	int w = vt_find_reason(c, vc_svm() ? 0x64 : 7, 0);
	assert_true(w > 0);
	assert_int_equal(c->log[w].ip, vt_addr(&vm, "x_window_open"));
	assert_int_equal(c->log[w].ip_len, 0);
	assert_int_equal(c->log[w].qual_primary, 0);
	assert_int_equal(c->log[w].qual_secondary, 0);
	assert_int_equal(vt_find_reason(c, vc_svm() ? 0x64 : 7, (unsigned)w + 1), -1);
	assert_int_equal(c->nreports, 3);
	assert_int_equal(c->reports[0], 0x20);
	assert_int_equal(c->reports[1], 0x80);
	assert_int_equal(c->reports[2], 0x06);
	vt_vm_close(&vm);
}

/* Real mode: the same injections through the IVT (rm_events.S). */
static void real_mode_case(const void *p)
{
	const struct inject *x = p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_REAL, &vt_guest_rm_events, 0, 0);
	vt_ivt(&vm, 0x20, "x_isr_20");
	vt_ivt(&vm, 0x02, "x_isr_nmi");
	vt_ivt(&vm, 0x80, "x_isr_80");
	vm.user = (void *)x;
	struct vt_cpu *c = vt_cpu_start(&vm, "x_main", inject_policy);
	vt_wait_stopped(c);
	assert_int_equal(c->log[c->n - 1].reason, vt_code(VMSIM_EXIT_IO));
	assert_int_equal(c->nreports, 2);
	assert_int_equal(c->reports[0], x->report);
	assert_int_equal(c->reports[1], 0x80); /* the guest's own INT 0x80 */
	vt_vm_close(&vm);
}

/* An IVT of 16 entries (limit 0x3f), charged with the start state. */
static int start_with_short_ivt(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason != VMSIM_EXIT_CODE_STARTUP)
		return -1;
	vt_charge_start(c, st, c->start_ip);
	vmsim_charge(st, idtr, (struct vmsim_dtable){ 16 * 4 - 1, 0 });
	return 1;
}

/*
 * Real mode: INT 0x80 whose IVT entry lies beyond the IDTR limit is #GP, delivered through entry 13 with the INT's
 * own IP in its frame (SDM Vol. 2A "INT n", REAL-ADDRESS-MODE); the #DF handler (entry 8) must not run.
 */
static void real_mode_int_n_beyond_the_ivt_limit(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_REAL, &vt_guest_rm_events, 0, 0);
	vt_ivt(&vm, 13, "x_isr_gp");
	vt_ivt(&vm, 8, "x_isr_df");
	struct vt_cpu *c = vt_cpu_start(&vm, "x_swint", start_with_short_ivt);
	vt_wait_stopped(c);
	assert_int_equal(c->nreports, 1);
	assert_int_equal(c->reports[0], 0x0d);
	assert_int_equal(c->error_report, vt_addr(&vm, "x_swint"));
	vt_vm_close(&vm);
}

/* What the intercepting VMM saw; the test thread asserts it after the run. */
struct exception_exits {
	enum vmsim_result intercept, release;
	unsigned n;
};

static unsigned ud_exit_code(void)
{
	return vc_svm() ? 0x40 + 6 : 0; /* SVM: exception intercept 0x40 + vector; VMX: reason 0 */
}

/* Intercept #UD and #GP from the start; at the first exception exit stop intercepting and resume in place. */
static int intercept_ud_once(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	struct exception_exits *seen = c->vm->user;

	if (st->exit_reason == VMSIM_EXIT_CODE_STARTUP) {
		seen->intercept = vmsim_vcpu_intercept_exceptions(c->self, 1u << 6 | 1u << 13);
		return -1;
	}
	if (st->exit_reason != ud_exit_code())
		return -1;
	if (seen->n++ == 0)
		seen->release = vmsim_vcpu_intercept_exceptions(c->self, 0);
	return 1; /* nothing charged: the UD2 runs again, at the next entry without the intercept */
}

/*
 * APM vol. 2 15.12, SDM Vol. 3C 25.2: an intercepted #UD exits at the UD2 before delivery (no error code, EXITINFO
 * and qualification 0); the guest's INT 0x80 before it is delivered as ever; an intercept the VMM drops during the
 * exit is gone at the next entry, and the UD2 run again reaches the guest's handler. (INT n with a vector the set
 * holds, CD 03, is uc_events_test's.)
 */
static void exception_intercepted_until_released(const void *p)
{
	const enum vt_mode *mode = p;
	struct vt_vm vm;
	struct exception_exits seen = { VMSIM_BACKEND_ERROR, VMSIM_BACKEND_ERROR, 0 };
	vt_vm_open(&vm, *mode, *mode == VT_LONG ? &vt_guest_lm_events : &vt_guest_pm_events, 0, 0);
	setup_idt(&vm);
	vm.user = &seen;
	struct vt_cpu *c = vt_cpu_start(&vm, "x_main", intercept_ud_once);
	vt_wait_stopped(c);
	assert_int_equal(seen.intercept, VMSIM_OK);
	assert_int_equal(seen.release, VMSIM_OK);
	assert_int_equal(seen.n, 1);
	int i = vt_find_reason(c, ud_exit_code(), 1);
	assert_true(i > 0);
	const struct vt_exit *e = &c->log[i];
	assert_int_equal(e->ip, vt_addr(&vm, "x_ud"));
	assert_int_equal(e->ip_len, 0);
	assert_int_equal(e->qual_primary, 0);
	if (vc_svm()) {
		assert_int_equal(e->qual_secondary, 0);
		assert_int_equal(e->neutral.kind, VMSIM_EXIT_EXCEPTION);
		assert_int_equal(e->neutral.u.exception.vector, 6);
		assert_false(e->neutral.u.exception.has_error);
	}
	assert_int_equal(c->nreports, 2);
	assert_int_equal(c->reports[0], 0x80); /* INT 0x80, before the UD2: delivered, not an exception exit */
	assert_int_equal(c->reports[1], 0x06); /* the second UD2: the guest's handler */
	assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_EXCEPTION), 1);
	assert_int_equal(c->log[c->n - 1].reason, vt_code(VMSIM_EXIT_IO));
	vt_vm_close(&vm);
}

static const struct inject extint_20 = { INFO(0, 0x20), 0, false, false, false, 0x20, 0 };

enum { FRAME_PT = 0x77000, ABSENT_PAGE = 0x7000, IST1_STACK = 0x9000, SPLIT_IDT = 0x2e00, IDT_ABSENT = 0x3000 };

/* The first 2 MiB through a 4 KiB page table in which page `absent` is not present. */
static void unmap_page(struct vt_vm *vm, uint64_t absent)
{
	uint64_t *pd = (uint64_t *)(vm->ram + VT_PML4 + 0x2000), *pt = (uint64_t *)(vm->ram + FRAME_PT);
	for (uint64_t i = 0; i < 512; i++)
		pt[i] = i * 0x1000 == absent ? 0 : (i * 0x1000) | 3;
	pd[0] = FRAME_PT | 3;
}

/* Long mode: gate `vector` runs its handler on IST1, a stack at IST1_STACK. */
static void gate_on_ist1(struct vt_vm *vm, uint8_t vector)
{
	uint64_t ist = IST1_STACK, gate;
	memcpy(&gate, vm->ram + VT_IDT + 16 * vector, 8);
	gate |= 1ull << 32; /* IST1 (SDM Vol. 3A Figure 6-8) */
	memcpy(vm->ram + VT_IDT + 16 * vector, &gate, 8);
	memcpy(vm->ram + 0x24, &ist, 8); /* IST1 of the 64-bit TSS at 0 (vt_charge_start's TR; Figure 8-11) */
}

/* A page fault in an interrupt's delivery: where, which gate runs on IST1, and what its handler must report. */
struct delivery_pf {
	uint64_t absent;       /* the page not present */
	bool split_idt;        /* the IDT at SPLIT_IDT: gates 0-31 on one page, 32 and up on IDT_ABSENT */
	uint8_t vector;        /* the gate on IST1 (its handler reports): 14, or 8 */
	const char *handler;
	uint32_t error;        /* its error code */
	uint64_t cr2_lo, cr2_hi;
};

/* the frame is SS, RSP, RFLAGS, CS, RIP below the 16-byte aligned RSP: any of its slots may fault first */
static const struct delivery_pf pf_on_ist = { ABSENT_PAGE, false, 14, "x_isr_pf_report", 2, VT_STACK - 40,
	                                      VT_STACK - 8 },
                                df_on_ist = { ABSENT_PAGE, false, 8, "x_isr_df_report", 0, VT_STACK - 40, VT_STACK - 8 },
                                gate_on_absent_page = { IDT_ABSENT, true, 14, "x_isr_pf_report", 0, IDT_ABSENT,
	                                                IDT_ABSENT };

/* At STARTUP (split IDT cases) the IDTR moves to SPLIT_IDT; then inject at the second ready point. */
static int split_idt_policy(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason != VMSIM_EXIT_CODE_STARTUP)
		return inject_at_second_ready(c, st, &extint_20);
	vt_charge_start(c, st, c->start_ip);
	vmsim_charge(st, idtr, (struct vmsim_dtable){ 256 * 16 - 1, SPLIT_IDT });
	return 1;
}

/*
 * SDM Vol. 3A 6.12.1, 6.14.5, 6.15 "Interrupt 14", Table 6-5: a page fault in an external interrupt's delivery
 * raises #PF (benign, then a page fault: delivered serially), CR2 the linear address that faulted. Its frame on a
 * not-present page: error code 2 (a supervisor write); with the #PF gate on IST1 its handler reports that. With the
 * #PF gate on the same stack, the #PF's own frame faults too: #DF (page fault while delivering a page fault), on
 * IST1, and CR2 still holds the frame's address (a #PF writes CR2 when it is detected). Its IDT gate on a
 * not-present page: error code 0 (a supervisor read), CR2 the gate's address. A #DF for the first and third case, or
 * a shutdown, is the old shortcut.
 */
static void delivery_meets_an_absent_page(const void *p)
{
	const struct delivery_pf *x = p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_LONG, &vt_guest_lm_events, 0, 0);
	setup_idt(&vm);
	vt_idt(&vm, 14, "x_isr_pf_report");
	vt_idt(&vm, 8, "x_isr_df_report");
	gate_on_ist1(&vm, x->vector);
	if (x->split_idt)
		memcpy(vm.ram + SPLIT_IDT, vm.ram + VT_IDT, IDT_ABSENT - SPLIT_IDT); /* gates 0-31 */
	unmap_page(&vm, x->absent);
	vm.user = (void *)&extint_20;
	struct vt_cpu *c = vt_cpu_start(&vm, "x_main", x->split_idt ? split_idt_policy : inject_policy);
	vt_wait_stopped(c);
	const struct vt_exit *last = &c->log[c->n - 1];
	assert_int_equal(last->reason, vt_code(VMSIM_EXIT_IO));
	assert_int_equal(last->neutral.u.io.port, VT_PORT_DONE); /* the handler's end */
	assert_int_equal(c->nreports, 2);
	assert_true(c->reports[0] >= x->cr2_lo && c->reports[0] <= x->cr2_hi && c->reports[0] % 8 == 0);
	assert_int_equal(c->reports[1], x->vector);
	assert_int_equal(c->error_report, x->error);
	assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_SHUTDOWN), 0);
	vt_vm_close(&vm);
}

static const enum vt_mode protected_mode = VT_PROT, long_mode = VT_LONG;

/* An event's delivery into unattached memory: the mode, and whether a #PF comes first. */
struct npf_case {
	enum vt_mode mode;
	bool pf_first;  /* the frame's page is not present: the #PF's frame (IST1) is what lies in unattached memory */
	bool swint;     /* the event is the guest's own INT 0x80, nothing is injected */
	bool read_only; /* the frame's page is attached read-only instead (the NPF's prot shows it) */
};

static const struct npf_case npf_protected = { VT_PROT, false, false, false },
                             npf_long = { VT_LONG, false, false, false },
                             npf_long_after_pf = { VT_LONG, true, false, false },
                             npf_int_n = { VT_LONG, false, true, false },
                             npf_read_only_protected = { VT_PROT, false, false, true },
                             npf_read_only_long = { VT_LONG, false, false, true };

/* What the VMM saw at the NPF. */
struct delivery_npf {
	bool swint; /* set by the test: the guest's own INT 0x80, nothing injected */
	unsigned npfs;
	uint64_t ip, ip_len, inj_info, inj_error, sp, flags;
	bool inj_charged;
	struct vmsim_exit neutral;
	enum vmsim_result decoded, attached;
};

/* Inject at the second ready point (not for INT n); at the NPF, attach the page it names, resume, charge nothing. */
static int attach_at_the_npf(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	struct delivery_npf *seen = c->vm->user;
	if (st->exit_reason != vt_code(VMSIM_EXIT_NPF))
		return seen->swint ? -1 : inject_at_second_ready(c, st, &extint_20);
	if (seen->npfs++)
		return 0; /* the event was not delivered once the memory was there: stop */
	seen->ip = st->ip.value;
	seen->ip_len = st->ip_len.value;
	seen->inj_info = st->inj_info.value;
	seen->inj_error = st->inj_error.value;
	seen->sp = st->sp.value;
	seen->flags = st->flags.value;
	seen->inj_charged = vmsim_charged(st, inj_info);
	seen->decoded = vmsim_model_decode_exit(vc_model(), st, &seen->neutral);
	uint64_t page = seen->neutral.u.npf.gpa & ~0xfffull;
	enum vmsim_result r = VMSIM_OK;
	if (seen->neutral.u.npf.prot) /* attached read-only: attached again, writable */
		r = vmsim_session_detach(c->vm->session, page, 0x1000);
	seen->attached = r == VMSIM_OK ? vt_attach(c->vm->session, c->vm->ds, page, page, 0x1000, true, true) : r;
	vmsim_vcpu_state_discharge(st);
	return 1;
}

/*
 * APM vol. 2 15.7.2 (EXITINTINFO), SDM Vol. 3C 28.2.4 (IDT-vectoring information): an external interrupt whose frame
 * lands on guest-physical memory nothing backs exits NPF during its delivery: a write at the frame's first slot, at
 * the instruction it interrupted (no instruction length), registers as before the delivery, the interrupt shown as
 * the event the exit interrupted. Once the VMM attaches the page the next entry delivers it (the backend keeps it
 * pending, as KVM does) and the guest goes on as ever. If the frame's page is not present instead, the #PF it raises
 * is the event being delivered when its own frame (on IST1) meets unattached memory: the exit shows the #PF with
 * its error code, and its handler runs after the attach, with CR2 set.
 */
static void interrupt_frame_on_unattached_memory_exits_npf(const void *p)
{
	const struct npf_case *x = p;
	uint64_t hole = x->pf_first ? IST1_STACK - 0x1000 : ABSENT_PAGE;
	struct vt_vm vm;
	struct delivery_npf seen = { .swint = x->swint, .decoded = VMSIM_BACKEND_ERROR, .attached = VMSIM_BACKEND_ERROR };
	vt_vm_open(&vm, x->mode, x->mode == VT_LONG ? &vt_guest_lm_events : &vt_guest_pm_events, hole, hole + 0x1000);
	if (x->read_only)
		assert_int_equal(vt_attach(vm.session, vm.ds, hole, hole, 0x1000, false, true), VMSIM_OK);
	setup_idt(&vm);
	if (x->pf_first) {
		vt_idt(&vm, 14, "x_isr_pf_report");
		gate_on_ist1(&vm, 14);
		unmap_page(&vm, ABSENT_PAGE);
	}
	vm.user = &seen;
	struct vt_cpu *c = vt_cpu_start(&vm, "x_main", attach_at_the_npf);
	vt_wait_stopped(c);
	assert_int_equal(seen.npfs, 1);
	assert_int_equal(seen.attached, VMSIM_OK);
	/* the interrupted instruction (after the skipped OUT), or the INT with its length */
	assert_int_equal(seen.ip, vt_addr(&vm, x->swint ? "x_swint" : "x_ready3"));
	assert_int_equal(seen.ip_len, x->swint ? 2 : 0);
	assert_int_equal(seen.sp, VT_STACK);
	assert_true(seen.flags & 0x200); /* IF as it was: the delivery did not get to clear it */
	assert_true(seen.inj_charged);
	if (x->pf_first) {
		assert_int_equal(seen.inj_info & 0xffffffffu, INFO(3, 14) | HAS_ERROR);
		assert_int_equal(seen.inj_error, 2);
	} else if (x->swint) {
		assert_int_equal(seen.inj_info & 0xffffffffu, INFO(4, 0x80)); /* a software interrupt, both models */
	} else {
		assert_int_equal(seen.inj_info & 0xffffffffu, INFO(0, 0x20));
	}
	assert_int_equal(seen.decoded, VMSIM_OK);
	assert_int_equal(seen.neutral.kind, VMSIM_EXIT_NPF);
	assert_int_equal(seen.neutral.u.npf.access, VMSIM_ACCESS_WRITE);
	assert_false(seen.neutral.u.npf.walk);
	/* read-only: SVM's EXITINFO1 has P alone (decoded as READ), VMX's qualification the entry's R, W, X */
	unsigned read_only = vc_svm() ? VMSIM_PROT_READ : VMSIM_PROT_READ | VMSIM_PROT_EXEC;
	assert_int_equal(seen.neutral.u.npf.prot, x->read_only ? read_only : 0);
	/* one of the frame's slots: 8 bytes each below the 16-byte aligned RSP in long mode (5, or 6 with an error
	 * code); EFLAGS, CS and EIP, 4 bytes each, below ESP in protected mode */
	uint64_t gpa = seen.neutral.u.npf.gpa, top = hole + 0x1000;
	if (x->mode == VT_LONG)
		assert_true(gpa >= top - 48 && gpa <= top - 8 && gpa % 8 == 0);
	else
		assert_true(gpa >= top - 12 && gpa <= top - 4 && gpa % 4 == 0);
	assert_int_equal(c->log[c->n - 1].reason, vt_code(VMSIM_EXIT_IO));
	if (x->pf_first) {
		assert_int_equal(c->nreports, 2);
		assert_true(c->reports[0] >= VT_STACK - 40 && c->reports[0] <= VT_STACK - 8); /* CR2: the first frame */
		assert_int_equal(c->reports[1], 14);
		assert_int_equal(c->error_report, 2);
	} else if (x->swint) {
		assert_int_equal(c->nreports, 2);
		assert_int_equal(c->reports[0], 0x80); /* delivered on the entry after the NPF, once */
		assert_int_equal(c->reports[1], 0x06);
	} else {
		assert_int_equal(c->nreports, 3);
		assert_int_equal(c->reports[0], 0x20); /* delivered on the entry after the NPF */
		assert_int_equal(c->reports[1], 0x80);
		assert_int_equal(c->reports[2], 0x06);
	}
	vt_vm_close(&vm);
}

#define P (VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_EXIT_IO | VMSIM_CAP_EXIT_HLT)
#define R (VMSIM_CAP_MODE_REAL | VMSIM_CAP_EXIT_IO)
/* an event delivered in protected mode: its handler returns with IRET; the guest runs INT 0x80 */
#define PE (P | VMSIM_CAP_INT_IRET)

static const struct vc_test tests[] = {
	{ "inject", "external_interrupt", PE | VMSIM_CAP_INJECT_EXTINT, inject_case, &extint },
	{ "inject", "nmi", PE | VMSIM_CAP_INJECT_NMI, inject_case, &nmi },
	{ "inject", "exception_with_error_code", PE | VMSIM_CAP_INJECT_EXCEPTION, inject_case, &gp },
	{ "inject", "software_interrupt", PE | VMSIM_CAP_INJECT_SWINT, inject_case, &swint },
	{ "inject", "interrupt_window", PE | VMSIM_CAP_INTR_WINDOW | VMSIM_CAP_INJECT_EXTINT, interrupt_window, NULL },
	{ "inject", "type_other_refused_by_both", P, inject_case, &type_other },
	{ "inject", "type_reserved_refused_by_both", P, inject_case, &type_reserved },
	{ "inject", "exception_vector_2_svm_refuses", PE | VMSIM_CAP_INJECT_EXCEPTION, inject_case, &exception_vector_2 },
	{ "inject", "extint_vector_below_32_delivered_by_both", PE | VMSIM_CAP_INJECT_EXTINT, inject_case, &extint_below_32 },
	{ "inject", "error_code_high_bits_vmx_refuses", PE | VMSIM_CAP_INJECT_EXCEPTION, inject_case,
	  &error_high_bits },
	{ "inject", "swint_without_length_vmx_refuses", PE | VMSIM_CAP_INJECT_SWINT, inject_case,
	  &swint_without_length },
	{ "inject", "real_mode_external_interrupt", R | VMSIM_CAP_INT_IRET | VMSIM_CAP_INJECT_EXTINT, real_mode_case,
	  &extint },
	{ "inject", "real_mode_nmi", R | VMSIM_CAP_INT_IRET | VMSIM_CAP_INJECT_NMI, real_mode_case, &nmi },
	{ "inject", "real_mode_int_n_beyond_the_ivt_limit_is_gp", R | VMSIM_CAP_INT_IRET,
	  real_mode_int_n_beyond_the_ivt_limit, NULL },
	{ "inject", "interrupt_frame_on_unattached_memory_exits_npf_protected",
	  PE | VMSIM_CAP_INJECT_EXTINT | VMSIM_CAP_EXIT_NPF | VMSIM_CAP_DELIVERY_NPF,
	  interrupt_frame_on_unattached_memory_exits_npf, &npf_protected },
	{ "inject", "interrupt_frame_on_unattached_memory_exits_npf_long",
	  VC_GUEST_LONG | VMSIM_CAP_EXIT_HLT | VMSIM_CAP_INT_IRET | VMSIM_CAP_INJECT_EXTINT | VMSIM_CAP_EXIT_NPF |
	          VMSIM_CAP_DELIVERY_NPF,
	  interrupt_frame_on_unattached_memory_exits_npf, &npf_long },
	{ "inject", "pf_frame_on_unattached_memory_exits_npf_showing_the_pf",
	  VC_GUEST_LONG | VMSIM_CAP_INJECT_EXTINT | VMSIM_CAP_EXIT_NPF | VMSIM_CAP_DELIVERY_PF |
	          VMSIM_CAP_DELIVERY_NPF,
	  interrupt_frame_on_unattached_memory_exits_npf, &npf_long_after_pf },
	{ "inject", "interrupt_frame_on_read_only_memory_exits_npf_protected",
	  PE | VMSIM_CAP_INJECT_EXTINT | VMSIM_CAP_EXIT_NPF | VMSIM_CAP_READONLY_MEMORY | VMSIM_CAP_DELIVERY_NPF,
	  interrupt_frame_on_unattached_memory_exits_npf, &npf_read_only_protected },
	{ "inject", "interrupt_frame_on_read_only_memory_exits_npf_long",
	  VC_GUEST_LONG | VMSIM_CAP_EXIT_HLT | VMSIM_CAP_INT_IRET | VMSIM_CAP_INJECT_EXTINT | VMSIM_CAP_EXIT_NPF |
	          VMSIM_CAP_READONLY_MEMORY | VMSIM_CAP_DELIVERY_NPF,
	  interrupt_frame_on_unattached_memory_exits_npf, &npf_read_only_long },
	{ "inject", "int_n_frame_on_unattached_memory_exits_npf_showing_the_int",
	  VC_GUEST_LONG | VMSIM_CAP_EXIT_HLT | VMSIM_CAP_INT_IRET | VMSIM_CAP_EXIT_NPF | VMSIM_CAP_DELIVERY_NPF,
	  interrupt_frame_on_unattached_memory_exits_npf, &npf_int_n },
	{ "inject", "exception_intercepted_until_released_protected", PE | VMSIM_CAP_EXCEPTION_INTERCEPT,
	  exception_intercepted_until_released, &protected_mode },
	{ "inject", "interrupt_frame_on_an_absent_page_is_pf",
	  VC_GUEST_LONG | VMSIM_CAP_INJECT_EXTINT | VMSIM_CAP_DELIVERY_PF, delivery_meets_an_absent_page, &pf_on_ist },
	{ "inject", "interrupt_frame_on_an_absent_page_pf_frame_too_is_df_with_cr2",
	  VC_GUEST_LONG | VMSIM_CAP_INJECT_EXTINT | VMSIM_CAP_DELIVERY_PF, delivery_meets_an_absent_page, &df_on_ist },
	{ "inject", "interrupt_gate_on_an_absent_page_is_pf",
	  VC_GUEST_LONG | VMSIM_CAP_INJECT_EXTINT | VMSIM_CAP_DELIVERY_PF, delivery_meets_an_absent_page,
	  &gate_on_absent_page },
	{ "inject", "exception_intercepted_until_released_long",
	  VC_GUEST_LONG | VMSIM_CAP_EXIT_HLT | VMSIM_CAP_INT_IRET | VMSIM_CAP_EXCEPTION_INTERCEPT,
	  exception_intercepted_until_released, &long_mode },
};

struct vc_test_list vc_inject_tests(void)
{
	return VC_LIST(tests);
}
