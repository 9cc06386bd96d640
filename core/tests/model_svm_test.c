/* core/tests/model_svm_test.c - the SVM model against the numbers of x86-exit-encodings.md and APM vol. 2. */
#include "vt_model.h"

#define SVM VMSIM_MODEL_SVM

/* Expected constants are written out from the doc, not taken from the implementation. */
static void svm_io_port_size_direction(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit exit;
	(void)unused;

	exit = vt_io(0x3f8, 1, false); /* outb %al, %dx */
	assert_int_equal(vt_encode(SVM, &exit, &state), 0x7b);
	assert_int_equal(state.qual_primary.value, 0x03f80010); /* port 31:16, SZ8 bit 4, TYPE 0 = OUT */
	assert_int_equal(state.qual_secondary.value, 0x1001);   /* EXITINFO2 = next rip */

	exit = vt_io(0, 2, true); /* inw port 0 */
	vt_encode(SVM, &exit, &state);
	assert_int_equal(state.qual_primary.value, 0x00000021); /* SZ16 bit 5, TYPE 1 = IN */

	exit = vt_io(0xffff, 4, true); /* inl port 0xffff */
	vt_encode(SVM, &exit, &state);
	assert_int_equal(state.qual_primary.value, 0xffff0041); /* SZ32 bit 6 */
}

static void svm_io_string_rep_address_size_segment(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit exit;
	(void)unused;

	exit = vt_io(0x60, 1, true); /* rep insb, a16, es */
	exit.u.io.string = exit.u.io.rep = true;
	exit.u.io.addr_size = 2;
	vt_encode(SVM, &exit, &state);
	assert_int_equal(state.qual_primary.value, 0x0060009d); /* IN|STR|REP|SZ8|A16 */

	exit = vt_io(0x1f0, 4, false); /* outsd, a32, ds (segment 3) */
	exit.u.io.string = true;
	exit.u.io.addr_size = 4;
	exit.u.io.seg = 3;
	vt_encode(SVM, &exit, &state);
	assert_int_equal(state.qual_primary.value, 0x01f00d44); /* STR|SZ32|A32|SEG 3 in 12:10 */

	exit.u.io.addr_size = 8; /* a64, gs */
	exit.u.io.seg = 5;
	vt_encode(SVM, &exit, &state);
	assert_int_equal(state.qual_primary.value, 0x01f01644);
}

static void svm_io_immediate_not_carried_and_next_rip(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit exit = vt_io(0x80, 1, false);
	(void)unused;

	exit.u.io.imm = true; /* SVM EXITINFO1 has no operand bit */
	exit.rip = 0xff7e;
	exit.insn_len = 2;
	vt_encode(SVM, &exit, &state);
	assert_int_equal(state.qual_primary.value, 0x00800010);
	assert_int_equal(state.qual_secondary.value, 0xff80);
	assert_int_equal(state.ip_len.value, 2);
}

static void svm_io_invalid_payload(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit exit = vt_io(0x80, 3, false);
	(void)unused;

	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_exit(SVM, &exit, 0, 0, &state));
	exit.u.io.size = 1;
	exit.u.io.addr_size = 3;
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_exit(SVM, &exit, 0, 0, &state));
	exit.u.io.addr_size = 0;
	exit.u.io.seg = 6;
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_exit(SVM, &exit, 0, 0, &state));
	exit.u.io.seg = 0;
	exit.insn_len = 16;
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_exit(SVM, &exit, 0, 0, &state));
}

static void svm_npf_error_code(void **unused)
{
	static const struct {
		uint8_t access, prot;
		uint64_t exitinfo1;
	} cases[] = {
		/* bit 32 final address always; P = mapping existed; RW = write; ID = fetch */
		{ VMSIM_ACCESS_READ, 0, 0x100000000ull },
		{ VMSIM_ACCESS_WRITE, 0, 0x100000002ull },
		{ VMSIM_ACCESS_FETCH, 0, 0x100000010ull },
		{ VMSIM_ACCESS_READ, VMSIM_PROT_EXEC, 0x100000001ull },
		{ VMSIM_ACCESS_WRITE, VMSIM_PROT_READ, 0x100000003ull },
		{ VMSIM_ACCESS_FETCH, VMSIM_PROT_READ | VMSIM_PROT_WRITE, 0x100000011ull },
	};
	struct vmsim_vcpu_state state;
	(void)unused;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct vmsim_exit exit = vt_npf(0xfffff000, cases[i].access, cases[i].prot);
		assert_int_equal(vt_encode(SVM, &exit, &state), 0xfc); /* Genode's NPF, not 0x400 */
		assert_int_equal(state.qual_primary.value, cases[i].exitinfo1);
		assert_int_equal(state.qual_secondary.value, 0xfffff000);
	}
	struct vmsim_exit bad = vt_npf(0, VMSIM_ACCESS_READ | VMSIM_ACCESS_WRITE, 0);
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_exit(SVM, &bad, 0, 0, &state));
}

static void svm_plain_exit_codes(void **unused)
{
	static const struct {
		enum vmsim_exit_kind kind;
		unsigned code;
	} cases[] = {
		{ VMSIM_EXIT_STARTUP, 0xfe }, { VMSIM_EXIT_PAUSED, 0xff },   { VMSIM_EXIT_CPUID, 0x72 },
		{ VMSIM_EXIT_HLT, 0x78 },     { VMSIM_EXIT_VMCALL, 0x81 },   { VMSIM_EXIT_RDTSC, 0x6e },
		{ VMSIM_EXIT_RDTSCP, 0x87 },  { VMSIM_EXIT_SHUTDOWN, 0x7f }, { VMSIM_EXIT_INVALID_STATE, 0xfd },
		{ VMSIM_EXIT_INTR_WINDOW, 0x64 },
	};
	struct vmsim_vcpu_state state;
	(void)unused;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct vmsim_exit exit = vt_exit(cases[i].kind, 0xff81, 1);
		assert_int_equal(vt_encode(SVM, &exit, &state), cases[i].code);
		assert_int_equal(state.qual_primary.value, 0);
		assert_int_equal(state.qual_secondary.value, 0);
		assert_int_equal(vmsim_model_exit_code(SVM, cases[i].kind), (long)cases[i].code);
	}
}

static void svm_msr_exitinfo1(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit exit = vt_exit(VMSIM_EXIT_MSR, 0x10, 2);
	(void)unused;

	exit.u.msr.index = 0xc0000080;
	assert_int_equal(vt_encode(SVM, &exit, &state), 0x7c);
	assert_int_equal(state.qual_primary.value, 0); /* RDMSR */
	exit.u.msr.write = true;
	assert_int_equal(vt_encode(SVM, &exit, &state), 0x7c);
	assert_int_equal(state.qual_primary.value, 1); /* WRMSR */
}

static void svm_exceptions_and_nmi(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit exit;
	(void)unused;

	exit = vt_exception(14, true, 0x6);
	assert_int_equal(vt_encode(SVM, &exit, &state), 0x4e); /* vmm_x86's AMD_PF */
	assert_int_equal(state.qual_primary.value, 0x6);
	assert_int_equal(state.qual_secondary.value, 0);
	exit = vt_exception(13, true, 0xfffffff8);
	assert_int_equal(vt_encode(SVM, &exit, &state), 0x4d);
	assert_int_equal(state.qual_primary.value, 0xfffffff8);
	exit = vt_exception(6, false, 0);
	assert_int_equal(vt_encode(SVM, &exit, &state), 0x46);
	exit = vt_exception(0, false, 0);
	assert_int_equal(vt_encode(SVM, &exit, &state), 0x40);
	exit = vt_exception(31, false, 0);
	assert_int_equal(vt_encode(SVM, &exit, &state), 0x5f);
	exit = vt_exception(2, false, 0);
	assert_int_equal(vt_encode(SVM, &exit, &state), 0x61); /* NMI intercept */

	exit = vt_exception(32, false, 0);
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_exit(SVM, &exit, 0, 0, &state));
	exit = vt_exception(6, true, 0); /* #UD pushes no error code */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_exit(SVM, &exit, 0, 0, &state));
}

static void svm_nmi_window_unsupported(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit exit = vt_exit(VMSIM_EXIT_NMI_WINDOW, 0, 0);
	(void)unused;

	VT_ASSERT_RESULT(VMSIM_UNSUPPORTED, vmsim_model_encode_exit(SVM, &exit, 0, 0, &state));
	assert_int_equal(vmsim_model_exit_code(SVM, VMSIM_EXIT_NMI_WINDOW), -1);
	exit.kind = VMSIM_EXIT_NONE;
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_exit(SVM, &exit, 0, 0, &state));
}

static void svm_intr_state_and_activity(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit exit = vt_exit(VMSIM_EXIT_HLT, 0xff81, 1);
	uint32_t out;
	(void)unused;

	/* Interrupt shadow bit 0 stands for both STI and MOV SS; SMI/NMI blocking has no bit. */
	assert_int_equal(vmsim_model_encode_intr_state(SVM, VMSIM_BLOCK_STI), 1);
	assert_int_equal(vmsim_model_encode_intr_state(SVM, VMSIM_BLOCK_MOVSS), 1);
	assert_int_equal(vmsim_model_encode_intr_state(SVM, VMSIM_BLOCK_NMI), 0);
	assert_int_equal(vmsim_model_encode_intr_state(SVM, VMSIM_BLOCK_SMI), 0);
	assert_int_equal(vmsim_model_encode_intr_state(SVM, VMSIM_BLOCK_STI | VMSIM_BLOCK_NMI), 1);
	VT_ASSERT_OK(vmsim_model_decode_intr_state(SVM, 1, &out));
	assert_int_equal(out, VMSIM_BLOCK_STI);
	VT_ASSERT_OK(vmsim_model_decode_intr_state(SVM, 2, &out)); /* GUEST_INTERRUPT_MASK: ignored */
	assert_int_equal(out, 0);
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_intr_state(SVM, 4, &out));

	/* No activity field: always 0 out, ACTIVE in. */
	assert_int_equal(vmsim_model_encode_activity(SVM, VMSIM_ACTIVITY_HLT), 0);
	VT_ASSERT_OK(vmsim_model_decode_activity(SVM, 3, &out));
	assert_int_equal(out, VMSIM_ACTIVITY_ACTIVE);
	VT_ASSERT_OK(vmsim_model_decode_activity(SVM, 0xdeadbeef, &out));
	assert_int_equal(out, VMSIM_ACTIVITY_ACTIVE);

	vmsim_vcpu_state_clear(&state);
	VT_ASSERT_OK(vmsim_model_encode_exit(SVM, &exit, VMSIM_BLOCK_MOVSS | VMSIM_BLOCK_NMI,
	                                     VMSIM_ACTIVITY_HLT, &state));
	assert_int_equal(state.intr_state.value, 1);
	assert_int_equal(state.actv_state.value, 0);
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_exit(SVM, &exit, 0x10, 0, &state));
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_exit(SVM, &exit, 0, 4, &state));
}

static void svm_event_encoding(void **unused)
{
	struct vmsim_event event;
	uint64_t info, error;
	(void)unused;

	event = vt_event(VMSIM_EVENT_EXTINT, 0x20);
	VT_ASSERT_OK(vmsim_model_encode_event(SVM, &event, &info, &error));
	assert_int_equal(info, 0x80000020);
	event = vt_event(VMSIM_EVENT_NMI, 2);
	VT_ASSERT_OK(vmsim_model_encode_event(SVM, &event, &info, &error));
	assert_int_equal(info, 0x80000202);
	event = vt_event(VMSIM_EVENT_HW_EXCEPTION, 13);
	event.has_error = true;
	event.error_code = 0x18;
	VT_ASSERT_OK(vmsim_model_encode_event(SVM, &event, &info, &error));
	assert_int_equal(info, 0x80000b0d);
	assert_int_equal(error, 0x18);
	event = vt_event(VMSIM_EVENT_SW_INT, 0x80);
	event.want_intr_window = true;
	VT_ASSERT_OK(vmsim_model_encode_event(SVM, &event, &info, &error));
	assert_int_equal(info, 0x80001480);

	memset(&event, 0, sizeof event);
	event.want_intr_window = event.want_nmi_window = true;
	VT_ASSERT_OK(vmsim_model_encode_event(SVM, &event, &info, &error));
	assert_int_equal(info, 0x3000);
	assert_int_equal(error, 0);

	event = vt_event(VMSIM_EVENT_SW_EXCEPTION, 3); /* type 6 is illegal on SVM */
	event.insn_len = 1;
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_event(SVM, &event, &info, &error));
}

static void svm_event_decoding(void **unused)
{
	struct vmsim_event event;
	(void)unused;

	event = vt_assert_event_ok(SVM, 0x80003020, 0, 0); /* window bits masked before the check */
	assert_true(event.valid);
	assert_int_equal(event.type, VMSIM_EVENT_EXTINT);
	assert_int_equal(event.vector, 0x20);
	assert_true(event.want_intr_window);
	assert_true(event.want_nmi_window);

	event = vt_assert_event_ok(SVM, 0x80000b0e, 0x2, 0); /* #PF with error code 2 */
	assert_int_equal(event.type, VMSIM_EVENT_HW_EXCEPTION);
	assert_true(event.has_error);
	assert_int_equal(event.error_code, 2);

	event = vt_assert_event_ok(SVM, 0x80000480, 0, 2); /* INT 0x80 */
	assert_int_equal(event.type, VMSIM_EVENT_SW_INT);
	assert_int_equal(event.insn_len, 2);
	event = vt_assert_event_ok(SVM, 0x80000480, 0, 0); /* SVM does not need the length */
	assert_int_equal(event.insn_len, 0);

	/* Bit 31 clear: no event, whatever else is set, but the window bits count. */
	event = vt_assert_event_ok(SVM, 0x7fff1fff, 0, 0);
	assert_false(event.valid);
	assert_true(event.want_intr_window);
	assert_false(event.want_nmi_window);
}

static void svm_event_rejections(void **unused)
{
	(void)unused;
	/* APM 15.20: reserved TYPE values 1, 5, 6, 7 make VMRUN fail with VMEXIT_INVALID. */
	vt_assert_event_rejected(SVM, 0x80000120, 0, 0);
	vt_assert_event_rejected(SVM, 0x80000501, 0, 1);
	vt_assert_event_rejected(SVM, 0x80000603, 0, 1);
	vt_assert_event_rejected(SVM, 0x80000700, 0, 0);
	/* TYPE 3 with a vector that is no exception: 2 (NMI) and >= 32. */
	vt_assert_event_rejected(SVM, 0x80000302, 0, 0);
	vt_assert_event_rejected(SVM, 0x80000320, 0, 0);
	/* Reserved bits 30:12 (less the window bits) and a 32-bit field overflow. */
	vt_assert_event_rejected(SVM, 0x80004020, 0, 0);
	vt_assert_event_rejected(SVM, 0xc0000020, 0, 0);
	vt_assert_event_rejected(SVM, 0x180000020ull, 0, 0);
	vt_assert_event_rejected(SVM, 0x80000b0d, 0x100000000ull, 0);
}

static void svm_controls_vmm_x86(void **unused)
{
	uint32_t intercepts = 0;
	enum vmsim_invalid_reason reason = VMSIM_INVALID_BACKEND;
	(void)unused;

	/* vmm_x86: ctrl_primary = HLT (1 << 24), ctrl_secondary = VMRUN (1 << 0). */
	VT_ASSERT_OK(vmsim_model_decode_controls(SVM, 1u << 24, 1, &intercepts, &reason));
	assert_int_equal(reason, VMSIM_INVALID_NONE);
	assert_int_equal(intercepts, VMSIM_INTERCEPT_HLT | VMSIM_INTERCEPT_TSC_OFFSET |
	                                     VMSIM_INTERCEPT_UNRESTRICTED_GUEST);
}

static void svm_controls_bits(void **unused)
{
	static const struct {
		uint64_t primary, secondary;
		uint32_t intercept;
	} cases[] = {
		{ 1u << 4, 1, VMSIM_INTERCEPT_INTR_WINDOW }, { 1u << 14, 1, VMSIM_INTERCEPT_RDTSC },
		{ 1u << 18, 1, VMSIM_INTERCEPT_CPUID },      { 1u << 24, 1, VMSIM_INTERCEPT_HLT },
		{ 1u << 27, 1, VMSIM_INTERCEPT_IO },         { 1u << 28, 1, VMSIM_INTERCEPT_MSR },
		{ 1u << 31, 1, VMSIM_INTERCEPT_SHUTDOWN },   { 0, 1 | 2, VMSIM_INTERCEPT_VMCALL },
		{ 0, 1 | 0x80, VMSIM_INTERCEPT_RDTSCP },
	};
	const uint32_t always = VMSIM_INTERCEPT_TSC_OFFSET | VMSIM_INTERCEPT_UNRESTRICTED_GUEST;
	enum vmsim_invalid_reason reason;
	uint64_t primary, secondary;
	uint32_t intercepts;
	(void)unused;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		VT_ASSERT_OK(vmsim_model_decode_controls(SVM, cases[i].primary, cases[i].secondary, &intercepts,
		                                         &reason));
		assert_int_equal(intercepts, cases[i].intercept | always);
		vmsim_model_encode_controls(SVM, cases[i].intercept, &primary, &secondary);
		assert_int_equal(primary, cases[i].primary);
		assert_int_equal(secondary, cases[i].secondary);
	}
	/* The VMRUN intercept must be set (APM 15.5.1). */
	reason = VMSIM_INVALID_NONE;
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_controls(SVM, 1u << 24, 0, &intercepts, &reason));
	assert_int_equal(reason, VMSIM_INVALID_CONTROLS);
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT,
	                 vmsim_model_decode_controls(SVM, 1ull << 32, 1, &intercepts, &reason));
	vmsim_model_encode_controls(SVM, 0xfff, &primary, &secondary);
	assert_int_equal(primary, 0x99044010);
	assert_int_equal(secondary, 0x83);
}

static void svm_entry_reset_state_passes(void **unused)
{
	struct vmsim_cpu_state cpu;
	(void)unused;

	vt_reset_state(&cpu, 0); /* SVM runs real mode without any control */
	vt_assert_entry_ok(SVM, &cpu);
	vt_protected_state(&cpu);
	vt_assert_entry_ok(SVM, &cpu);
	vt_long_state(&cpu);
	vt_assert_entry_ok(SVM, &cpu); /* EFER.SVME clear: the hypervisor's business */
}

static void svm_entry_failures(void **unused)
{
	struct vmsim_cpu_state cpu;
	(void)unused;

	vt_reset_state(&cpu, 0);
	cpu.cr0 = 0x20000010; /* NW=1, CD=0 */
	vt_assert_entry_fails(SVM, &cpu, VMSIM_INVALID_CR0);
	cpu.cr0 = 0x60000010; /* NW=1, CD=1 is legal */
	vt_assert_entry_ok(SVM, &cpu);
	cpu.cr0 = 0x100000010ull;
	vt_assert_entry_fails(SVM, &cpu, VMSIM_INVALID_CR0);

	vt_reset_state(&cpu, 0);
	cpu.cr3 = 1ull << 52;
	vt_assert_entry_fails(SVM, &cpu, VMSIM_INVALID_CR3);
	cpu.cr0 = 0x20000010; /* two failures: the first check wins */
	vt_assert_entry_fails(SVM, &cpu, VMSIM_INVALID_CR0);

	vt_reset_state(&cpu, 0);
	cpu.cr4 = 1u << 13; /* VMXE is reserved on AMD */
	vt_assert_entry_fails(SVM, &cpu, VMSIM_INVALID_CR4);
	cpu.cr4 = 1ull << 24;
	vt_assert_entry_fails(SVM, &cpu, VMSIM_INVALID_CR4);

	vt_long_state(&cpu);
	cpu.cr4 = 0; /* LME + PG without PAE */
	vt_assert_entry_fails(SVM, &cpu, VMSIM_INVALID_EFER);
	vt_long_state(&cpu);
	cpu.cr0 = 0x80000010; /* LME + PG without PE */
	vt_assert_entry_fails(SVM, &cpu, VMSIM_INVALID_EFER);
	vt_long_state(&cpu);
	cpu.cs.ar = 0xe9b; /* CS.L and CS.D both set in long mode */
	vt_assert_entry_fails(SVM, &cpu, VMSIM_INVALID_SEGMENT);

	vt_reset_state(&cpu, 0);
	cpu.pending = vt_event(VMSIM_EVENT_PRIV_SW_EXCEPTION, 1);
	cpu.pending.insn_len = 1;
	vt_assert_entry_fails(SVM, &cpu, VMSIM_INVALID_EVENT);
	cpu.pending = vt_event(VMSIM_EVENT_EXTINT, 0x30);
	vt_assert_entry_ok(SVM, &cpu);
}

static void svm_exit_names(void **unused)
{
	(void)unused;
	assert_string_equal(vmsim_model_exit_name(SVM, 0x7b), "IOIO");
	assert_string_equal(vmsim_model_exit_name(SVM, 0xfc), "NPF");
	assert_string_equal(vmsim_model_exit_name(SVM, 0x4e), "EXCP_PF");
	assert_string_equal(vmsim_model_exit_name(SVM, 0x87), "RDTSCP");
	assert_string_equal(vmsim_model_exit_name(SVM, 0x13), "CR_WRITE");
	/* Raw VMEXIT_NPF and VMEXIT_INVALID (-1 as base-hw's 32-bit exit_reason), APM vol. 2 appendix C. */
	assert_string_equal(vmsim_model_exit_name(SVM, 0x400), "NPF");
	assert_string_equal(vmsim_model_exit_name(SVM, 0xffffffffu), "INVALID");
	assert_string_equal(vmsim_model_exit_name(SVM, 0x99), "unknown");
}

/* APM vol. 2 15.12 (exception intercepts): #PF EXITINFO1 = error code, EXITINFO2 = faulting address (CR2). */
static void svm_pf_exitinfo2_is_cr2(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit exit = vt_exception(14, true, 0x7), out;
	(void)unused;

	exit.u.exception.qual = 0xffff800012345678ull;
	assert_int_equal(vt_encode(SVM, &exit, &state), 0x4e);
	assert_int_equal(state.qual_primary.value, 0x7);
	assert_int_equal(state.qual_secondary.value, 0xffff800012345678ull);
	VT_ASSERT_OK(vmsim_model_decode_exit(SVM, &state, &out));
	assert_int_equal(out.u.exception.vector, 14);
	assert_int_equal(out.u.exception.error_code, 0x7);
	assert_int_equal(out.u.exception.qual, 0xffff800012345678ull);

	/* #UD: no EXITINFO defined; base-hw passes whatever the VMCB holds, decode ignores it. */
	vmsim_charge(&state, qual_primary, 0x1234);
	vmsim_charge(&state, qual_secondary, 0xdead);
	state.exit_reason = 0x46;
	VT_ASSERT_OK(vmsim_model_decode_exit(SVM, &state, &out));
	assert_int_equal(out.u.exception.vector, 6);
	assert_false(out.u.exception.has_error);
	assert_int_equal(out.u.exception.qual, 0);
}

/* APM vol. 2 8.2 (Table 8-1): #VC 29 and #SX 30 push an error code: 0x5d / 0x5e with EXITINFO1. */
static void svm_vc_sx_error_codes(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit exit = vt_exception(29, true, 0x72), out; /* #VC for a CPUID (exit code 0x72) */
	(void)unused;

	assert_int_equal(vt_encode(SVM, &exit, &state), 0x5d);
	assert_int_equal(state.qual_primary.value, 0x72);
	VT_ASSERT_OK(vmsim_model_decode_exit(SVM, &state, &out));
	assert_true(out.u.exception.has_error);
	assert_int_equal(out.u.exception.error_code, 0x72);
	exit = vt_exception(30, true, 1); /* #SX: INIT redirection */
	assert_int_equal(vt_encode(SVM, &exit, &state), 0x5e);
	assert_int_equal(state.qual_primary.value, 1);
	/* Intel defines neither: VMX refuses an error code on 29 at entry (SDM vol. 3C 27.2.1.3). */
	struct vmsim_event event = vt_event(VMSIM_EVENT_HW_EXCEPTION, 29);
	uint64_t info, error;
	event.has_error = true;
	VT_ASSERT_OK(vmsim_model_encode_event(SVM, &event, &info, &error));
	assert_int_equal(info, 0x80000b1d);
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_event(VMSIM_MODEL_VMX, &event, &info, &error));
}

/* APM vol. 2 15.25.6: EXITINFO1 bit 32 final gpa, bit 33 guest page-table walk; bit 2 US (8.4.2). */
static void svm_npf_walk_and_user(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit exit = vt_npf(0x7000, VMSIM_ACCESS_READ, VMSIM_PROT_READ), out;
	(void)unused;

	exit.u.npf.gla_valid = true;
	exit.u.npf.walk = true;
	assert_int_equal(vt_encode(SVM, &exit, &state), 0xfc);
	assert_int_equal(state.qual_primary.value, 0x200000001ull);
	exit.u.npf.walk = false;
	exit.u.npf.gla_valid = false;
	exit.u.npf.user = true;
	exit.u.npf.access = VMSIM_ACCESS_WRITE;
	vt_encode(SVM, &exit, &state);
	assert_int_equal(state.qual_primary.value, 0x100000007ull);

	state.qual_primary.value = 0x200000004ull; /* walk, user, not present */
	VT_ASSERT_OK(vmsim_model_decode_exit(SVM, &state, &out));
	assert_true(out.u.npf.walk);
	assert_true(out.u.npf.user);
	assert_int_equal(out.u.npf.prot, 0);
	state.qual_primary.value = 0x100000008ull; /* RSV: accepted, not modelled */
	VT_ASSERT_OK(vmsim_model_decode_exit(SVM, &state, &out));
	state.qual_primary.value = 0x300000000ull; /* both 32 and 33 */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_exit(SVM, &state, &out));
	state.qual_primary.value = 0x1ull; /* neither */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_exit(SVM, &state, &out));
}

/*
 * APM vol. 2 15.10.2: EXITINFO2 = rIP of the next instruction. base-hw's svm.cc
 * leaves ip_len stale, so the length comes from EXITINFO2, whatever ip_len says.
 */
static void svm_ioio_next_rip_authoritative(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit out;
	(void)unused;

	vmsim_vcpu_state_clear(&state);
	state.exit_reason = 0x7b;
	vmsim_charge(&state, ip, 0xff7e);
	vmsim_charge(&state, ip_len, 3); /* stale: the previous exit was a 3-byte RDTSCP */
	vmsim_charge(&state, qual_primary, 0x00800010); /* OUT 0x80, SZ8 */
	vmsim_charge(&state, qual_secondary, 0xff80);
	VT_ASSERT_OK(vmsim_model_decode_exit(SVM, &state, &out));
	assert_int_equal(out.insn_len, 2);
	assert_int_equal(out.u.io.port, 0x80);
	state.ip_len.value = 0xffffffffffffffffull; /* any stale value */
	VT_ASSERT_OK(vmsim_model_decode_exit(SVM, &state, &out));
	assert_int_equal(out.insn_len, 2);
	state.qual_secondary.value = 0xff7e + 16; /* no x86 instruction is 16 bytes long */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_exit(SVM, &state, &out));
}

/* VMEXIT_INVALID is -1 (APM vol. 2 appendix C): base-hw passes it (0xffffffff); NOVA/Fiasco.OC use 0xfd. */
static void svm_invalid_state_both_conventions(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit out;
	(void)unused;

	vmsim_vcpu_state_clear(&state);
	state.exit_reason = 0xfd;
	VT_ASSERT_OK(vmsim_model_decode_exit(SVM, &state, &out));
	assert_int_equal(out.kind, VMSIM_EXIT_INVALID_STATE);
	state.exit_reason = 0xffffffffu;
	VT_ASSERT_OK(vmsim_model_decode_exit(SVM, &state, &out));
	assert_int_equal(out.kind, VMSIM_EXIT_INVALID_STATE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(svm_io_port_size_direction),
		cmocka_unit_test(svm_io_string_rep_address_size_segment),
		cmocka_unit_test(svm_io_immediate_not_carried_and_next_rip),
		cmocka_unit_test(svm_io_invalid_payload),
		cmocka_unit_test(svm_npf_error_code),
		cmocka_unit_test(svm_plain_exit_codes),
		cmocka_unit_test(svm_msr_exitinfo1),
		cmocka_unit_test(svm_exceptions_and_nmi),
		cmocka_unit_test(svm_nmi_window_unsupported),
		cmocka_unit_test(svm_intr_state_and_activity),
		cmocka_unit_test(svm_event_encoding),
		cmocka_unit_test(svm_event_decoding),
		cmocka_unit_test(svm_event_rejections),
		cmocka_unit_test(svm_controls_vmm_x86),
		cmocka_unit_test(svm_controls_bits),
		cmocka_unit_test(svm_entry_reset_state_passes),
		cmocka_unit_test(svm_entry_failures),
		cmocka_unit_test(svm_exit_names),
		cmocka_unit_test(svm_pf_exitinfo2_is_cr2),
		cmocka_unit_test(svm_vc_sx_error_codes),
		cmocka_unit_test(svm_npf_walk_and_user),
		cmocka_unit_test(svm_ioio_next_rip_authoritative),
		cmocka_unit_test(svm_invalid_state_both_conventions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
