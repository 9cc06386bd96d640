/* core/tests/vt_model.h - shared helpers of the model and Vcpu_state tests (CMocka). */
#ifndef VMSIM_CORE_TESTS_VT_MODEL_H
#define VMSIM_CORE_TESTS_VT_MODEL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <vmsim/model.h>

/* Expected enum vmsim_result, compared as integers (cmocka prints both values). */
#define VT_ASSERT_RESULT(expected, expr) assert_int_equal((int)(expr), (int)(expected))
#define VT_ASSERT_OK(expr) VT_ASSERT_RESULT(VMSIM_OK, (expr))

static inline struct vmsim_exit vt_exit(enum vmsim_exit_kind kind, uint64_t rip, uint8_t insn_len)
{
	struct vmsim_exit exit;

	memset(&exit, 0, sizeof exit);
	exit.kind = kind;
	exit.rip = rip;
	exit.insn_len = insn_len;
	return exit;
}

static inline struct vmsim_exit vt_io(uint16_t port, uint8_t size, bool in)
{
	struct vmsim_exit exit = vt_exit(VMSIM_EXIT_IO, 0x1000, 1);

	exit.u.io.port = port;
	exit.u.io.size = size;
	exit.u.io.in = in;
	return exit;
}

static inline struct vmsim_exit vt_npf(uint64_t gpa, uint8_t access, uint8_t prot)
{
	struct vmsim_exit exit = vt_exit(VMSIM_EXIT_NPF, 0x2000, 3);

	exit.u.npf.gpa = gpa;
	exit.u.npf.access = access;
	exit.u.npf.prot = prot;
	return exit;
}

static inline struct vmsim_exit vt_exception(uint8_t vector, bool has_error, uint32_t error_code)
{
	struct vmsim_exit exit = vt_exit(VMSIM_EXIT_EXCEPTION, 0x3000, 2);

	exit.u.exception.vector = vector;
	exit.u.exception.has_error = has_error;
	exit.u.exception.error_code = error_code;
	return exit;
}

/*
 * Encode with interruptibility/activity 0 into a cleared state and check
 * that the six exit registers were charged; returns the exit reason.
 */
static inline unsigned vt_encode(enum vmsim_model model, const struct vmsim_exit *exit,
                                 struct vmsim_vcpu_state *state)
{
	vmsim_vcpu_state_clear(state);
	VT_ASSERT_OK(vmsim_model_encode_exit(model, exit, 0, 0, state));
	assert_true(vmsim_charged(state, ip));
	assert_true(vmsim_charged(state, ip_len));
	assert_true(vmsim_charged(state, qual_primary));
	assert_true(vmsim_charged(state, qual_secondary));
	assert_true(vmsim_charged(state, intr_state));
	assert_true(vmsim_charged(state, actv_state));
	assert_int_equal(state->ip.value, exit->rip);
	assert_int_equal(state->ip_len.value, exit->insn_len);
	return state->exit_reason;
}

static inline struct vmsim_event vt_event(enum vmsim_event_type type, uint8_t vector)
{
	struct vmsim_event event;

	memset(&event, 0, sizeof event);
	event.valid = true;
	event.type = type;
	event.vector = vector;
	return event;
}

/* Decode must refuse with INVALID_ARGUMENT and reason INVALID_EVENT. */
static inline void vt_assert_event_rejected(enum vmsim_model model, uint64_t inj_info, uint64_t inj_error,
                                            uint64_t ip_len)
{
	struct vmsim_event event;
	enum vmsim_invalid_reason reason = VMSIM_INVALID_NONE;

	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT,
	                 vmsim_model_decode_event(model, inj_info, inj_error, ip_len, &event, &reason));
	assert_int_equal(reason, VMSIM_INVALID_EVENT);
}

static inline struct vmsim_event vt_assert_event_ok(enum vmsim_model model, uint64_t inj_info,
                                                     uint64_t inj_error, uint64_t ip_len)
{
	struct vmsim_event event;
	enum vmsim_invalid_reason reason = VMSIM_INVALID_BACKEND;

	VT_ASSERT_OK(vmsim_model_decode_event(model, inj_info, inj_error, ip_len, &event, &reason));
	assert_int_equal(reason, VMSIM_INVALID_NONE);
	return event;
}

/* check_entry must refuse the state with this first-failing reason. */
static inline void vt_assert_entry_fails(enum vmsim_model model, const struct vmsim_cpu_state *cpu,
                                         enum vmsim_invalid_reason expected)
{
	enum vmsim_invalid_reason reason = VMSIM_INVALID_NONE;

	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_check_entry(model, cpu, &reason));
	assert_int_equal(reason, expected);
}

static inline void vt_assert_entry_ok(enum vmsim_model model, const struct vmsim_cpu_state *cpu)
{
	enum vmsim_invalid_reason reason = VMSIM_INVALID_BACKEND;

	VT_ASSERT_OK(vmsim_model_check_entry(model, cpu, &reason));
	assert_int_equal(reason, VMSIM_INVALID_NONE);
}

/*
 * The vmm_x86 test's real-mode reset state (genode-vm-session.md §4):
 * flags 2, ip 0xfff0, cr0 0x10, cs {0xf000, 0x93, 0xffff, 0xffff0000}.
 */
static inline void vt_reset_state(struct vmsim_cpu_state *cpu, uint32_t intercepts)
{
	const struct vmsim_segment data = { 0, 0x93, 0xffff, 0 };

	memset(cpu, 0, sizeof *cpu);
	cpu->rflags = 2;
	cpu->rip = 0xfff0;
	cpu->cr0 = 0x10;
	cpu->cs = (struct vmsim_segment){ 0xf000, 0x93, 0xffff, 0xffff0000 };
	cpu->ss = cpu->es = cpu->ds = cpu->fs = cpu->gs = data;
	cpu->tr = (struct vmsim_segment){ 0, 0x8b, 0xffff, 0 };
	cpu->ldtr = (struct vmsim_segment){ 0, 0x1000, 0xffff, 0 };
	cpu->gdtr = cpu->idtr = (struct vmsim_dtable){ 0xffff, 0 };
	cpu->dr7 = 0x400;
	cpu->intercepts = intercepts;
}

/* A flat 32-bit protected-mode state with paging: CS type 0xb DB G, SS type 3 DB G. */
static inline void vt_protected_state(struct vmsim_cpu_state *cpu)
{
	vt_reset_state(cpu, 0);
	cpu->cr0 = 0x80000011; /* PG | ET | PE */
	cpu->cs = (struct vmsim_segment){ 0x08, 0xc9b, 0xffffffff, 0 };
	cpu->ss = cpu->ds = cpu->es = (struct vmsim_segment){ 0x10, 0xc93, 0xffffffff, 0 };
}

/* 64-bit long mode: EFER LME|LMA, CR4.PAE, CS.L. */
static inline void vt_long_state(struct vmsim_cpu_state *cpu)
{
	vt_protected_state(cpu);
	cpu->efer = 0x500;
	cpu->cr4 = 0x20;
	cpu->cs.ar = 0xa9b;
}

#endif
