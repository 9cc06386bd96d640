/* core/tests/model_vmx_test.c - the VMX model against the numbers of x86-exit-encodings.md and SDM vol. 3. */
#include "vt_model.h"

#define VMX VMSIM_MODEL_VMX

/* Expected constants are written out from the doc, not taken from the implementation. */
static void vmx_io_qualification(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit exit;
	(void)unused;

	exit = vt_io(0x3f8, 1, false); /* outb %al, %dx */
	assert_int_equal(vt_encode(VMX, &exit, &state), 30);
	assert_int_equal(state.qual_primary.value, 0x03f80000);
	assert_int_equal(state.qual_secondary.value, 0);

	exit = vt_io(0, 2, true); /* inw: size-1 = 1, bit 3 IN */
	vt_encode(VMX, &exit, &state);
	assert_int_equal(state.qual_primary.value, 0x00000009);

	exit = vt_io(0xffff, 4, true); /* inl: size-1 = 3 */
	vt_encode(VMX, &exit, &state);
	assert_int_equal(state.qual_primary.value, 0xffff000b);

	exit = vt_io(0x80, 1, false); /* outb %al, $0x80: bit 6 immediate */
	exit.u.io.imm = true;
	vt_encode(VMX, &exit, &state);
	assert_int_equal(state.qual_primary.value, 0x00800040);

	exit = vt_io(0x60, 2, true); /* rep insw, a32, ds: bit 4 string, bit 5 REP */
	exit.u.io.string = exit.u.io.rep = true;
	exit.u.io.addr_size = 4; /* address size and segment are not in the qualification */
	exit.u.io.seg = 3;
	exit.rip = 0xff7e;
	exit.insn_len = 2;
	vt_encode(VMX, &exit, &state);
	assert_int_equal(state.qual_primary.value, 0x00600039);
	assert_int_equal(state.qual_secondary.value, 0);
	assert_int_equal(state.ip_len.value, 2);
}

static void vmx_ept_violation_qualification(void **unused)
{
	static const struct {
		uint8_t access, prot;
		bool gla_valid;
		uint64_t qual;
	} cases[] = {
		/* bits 0-2 access, 3-5 the entry's R/W/X, bit 7 GLA valid, bit 8 final translation */
		{ VMSIM_ACCESS_READ, 0, false, 0x001 },
		{ VMSIM_ACCESS_WRITE, 0, false, 0x002 },
		{ VMSIM_ACCESS_FETCH, 0, false, 0x004 },
		{ VMSIM_ACCESS_WRITE, VMSIM_PROT_READ, true, 0x18a },
		{ VMSIM_ACCESS_FETCH, VMSIM_PROT_READ | VMSIM_PROT_WRITE, true, 0x19c },
		{ VMSIM_ACCESS_READ, VMSIM_PROT_EXEC, false, 0x021 },
		{ VMSIM_ACCESS_WRITE, VMSIM_PROT_READ | VMSIM_PROT_EXEC, true, 0x1aa },
	};
	struct vmsim_vcpu_state state;
	(void)unused;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct vmsim_exit exit = vt_npf(0xfee00000, cases[i].access, cases[i].prot);
		exit.u.npf.gla_valid = cases[i].gla_valid;
		exit.u.npf.gla = 0xdead000;
		assert_int_equal(vt_encode(VMX, &exit, &state), 48); /* vmm_x86's INTEL_EPT 0x30 */
		assert_int_equal(state.qual_primary.value, cases[i].qual);
		assert_int_equal(state.qual_secondary.value, 0xfee00000);
	}
	struct vmsim_exit bad = vt_npf(0, VMSIM_ACCESS_READ, 8);
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_exit(VMX, &bad, 0, 0, &state));
}

static void vmx_plain_exit_reasons(void **unused)
{
	static const struct {
		enum vmsim_exit_kind kind;
		unsigned code;
	} cases[] = {
		{ VMSIM_EXIT_STARTUP, 0xfe },    { VMSIM_EXIT_PAUSED, 0xff },  { VMSIM_EXIT_CPUID, 10 },
		{ VMSIM_EXIT_HLT, 12 },          { VMSIM_EXIT_VMCALL, 18 },    { VMSIM_EXIT_RDTSC, 16 },
		{ VMSIM_EXIT_RDTSCP, 51 },       { VMSIM_EXIT_SHUTDOWN, 2 },   { VMSIM_EXIT_INVALID_STATE, 33 },
		{ VMSIM_EXIT_INTR_WINDOW, 7 },   { VMSIM_EXIT_NMI_WINDOW, 8 },
	};
	struct vmsim_vcpu_state state;
	(void)unused;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct vmsim_exit exit = vt_exit(cases[i].kind, 0xff81, 1);
		assert_int_equal(vt_encode(VMX, &exit, &state), cases[i].code);
		assert_int_equal(state.qual_primary.value, 0);
		assert_int_equal(state.qual_secondary.value, 0);
		assert_int_equal(vmsim_model_exit_code(VMX, cases[i].kind), (long)cases[i].code);
	}
}

static void vmx_msr_reasons(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit exit = vt_exit(VMSIM_EXIT_MSR, 0x10, 2);
	(void)unused;

	assert_int_equal(vt_encode(VMX, &exit, &state), 31);
	exit.u.msr.write = true;
	assert_int_equal(vt_encode(VMX, &exit, &state), 32);
	assert_int_equal(state.qual_primary.value, 0);
}

/*
 * SDM vol. 3C 28.2.1: the exit qualification of a reason-0 exit is the linear
 * address for #PF, Table 28-1 bits for #DB (B0-B3 3:0, BD 13, BS 14, RTM 16),
 * cleared otherwise. base-hw's vmx.cc copies it to qual_primary and the
 * guest-physical address (0x2400, undefined here) to qual_secondary; the
 * VM-exit interruption information (0x4404) has no Vcpu_state field.
 */
static void vmx_exception_qualification(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit exit, out;
	(void)unused;

	exit = vt_exception(14, true, 0x6);
	exit.u.exception.qual = 0x7fffe008; /* CR2 */
	assert_int_equal(vt_encode(VMX, &exit, &state), 0);
	assert_int_equal(state.qual_primary.value, 0x7fffe008);
	assert_int_equal(state.qual_secondary.value, 0);

	exit = vt_exception(1, false, 0);
	exit.u.exception.qual = 0x4001; /* BS (single step) + B0 */
	vt_encode(VMX, &exit, &state);
	assert_int_equal(state.qual_primary.value, 0x4001);

	exit = vt_exception(13, false, 0);
	vt_encode(VMX, &exit, &state);
	assert_int_equal(state.qual_primary.value, 0);
	assert_int_equal(state.qual_secondary.value, 0);

	exit = vt_exception(1, false, 0);
	exit.u.exception.qual = 0x10; /* bit 4 is reserved in Table 28-1 */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_exit(VMX, &exit, 0, 0, &state));
	exit = vt_exception(13, false, 0);
	exit.u.exception.qual = 1; /* no qualification for #GP */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_exit(VMX, &exit, 0, 0, &state));

	/* What base-hw hands over: the qualification, and a stale guest-physical address from an old EPT exit. */
	vmsim_vcpu_state_clear(&state);
	state.exit_reason = 0;
	vmsim_charge(&state, ip, 0x1000);
	vmsim_charge(&state, ip_len, 0);
	vmsim_charge(&state, qual_primary, 0xffff800000001000ull);
	vmsim_charge(&state, qual_secondary, 0xfffff000);
	VT_ASSERT_OK(vmsim_model_decode_exit(VMX, &state, &out));
	assert_int_equal(out.kind, VMSIM_EXIT_EXCEPTION);
	assert_int_equal(out.u.exception.vector, 0xff); /* VMSIM_VECTOR_UNKNOWN */
	assert_false(out.u.exception.has_error);
	assert_int_equal(out.u.exception.qual, 0xffff800000001000ull);
}

static void vmx_intr_state_and_activity(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit exit = vt_exit(VMSIM_EXIT_HLT, 0xff81, 1);
	uint32_t out;
	(void)unused;

	/* Interruptibility bits 0 STI, 1 MOV SS, 2 SMI, 3 NMI. */
	assert_int_equal(vmsim_model_encode_intr_state(VMX, VMSIM_BLOCK_STI), 1);
	assert_int_equal(vmsim_model_encode_intr_state(VMX, VMSIM_BLOCK_MOVSS), 2);
	assert_int_equal(vmsim_model_encode_intr_state(VMX, VMSIM_BLOCK_SMI), 4);
	assert_int_equal(vmsim_model_encode_intr_state(VMX, VMSIM_BLOCK_NMI), 8);
	VT_ASSERT_OK(vmsim_model_decode_intr_state(VMX, 0xa, &out));
	assert_int_equal(out, VMSIM_BLOCK_MOVSS | VMSIM_BLOCK_NMI);
	/* Bit 4 (enclave interruption, SDM vol. 3C 25.4.2 Table 25-3) is accepted; 31:5 are reserved. */
	VT_ASSERT_OK(vmsim_model_decode_intr_state(VMX, 0x11, &out));
	assert_int_equal(out, VMSIM_BLOCK_STI);
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_intr_state(VMX, 0x20, &out));

	/* Activity 0 active, 1 HLT, 2 shutdown, 3 wait-for-SIPI. */
	for (uint32_t a = 0; a <= 3; a++) {
		assert_int_equal(vmsim_model_encode_activity(VMX, a), a);
		VT_ASSERT_OK(vmsim_model_decode_activity(VMX, a, &out));
		assert_int_equal(out, a);
	}
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_activity(VMX, 4, &out));

	vmsim_vcpu_state_clear(&state);
	VT_ASSERT_OK(vmsim_model_encode_exit(VMX, &exit, VMSIM_BLOCK_STI | VMSIM_BLOCK_NMI,
	                                     VMSIM_ACTIVITY_WAIT_SIPI, &state));
	assert_int_equal(state.intr_state.value, 9);
	assert_int_equal(state.actv_state.value, 3);
}

static void vmx_event_encoding(void **unused)
{
	struct vmsim_event event;
	uint64_t info, error;
	(void)unused;

	event = vt_event(VMSIM_EVENT_HW_EXCEPTION, 14);
	event.has_error = true;
	event.error_code = 0x7;
	event.want_nmi_window = true;
	VT_ASSERT_OK(vmsim_model_encode_event(VMX, &event, &info, &error));
	assert_int_equal(info, 0x80002b0e);
	assert_int_equal(error, 7);

	event = vt_event(VMSIM_EVENT_SW_EXCEPTION, 3); /* int3 */
	event.insn_len = 1;
	VT_ASSERT_OK(vmsim_model_encode_event(VMX, &event, &info, &error));
	assert_int_equal(info, 0x80000603);
	event.insn_len = 0; /* a software event needs its length */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_encode_event(VMX, &event, &info, &error));
}

static void vmx_event_decoding(void **unused)
{
	struct vmsim_event event;
	(void)unused;

	event = vt_assert_event_ok(VMX, 0x80001030, 0, 0);
	assert_true(event.valid);
	assert_int_equal(event.type, VMSIM_EVENT_EXTINT);
	assert_int_equal(event.vector, 0x30);
	assert_true(event.want_intr_window);
	assert_false(event.want_nmi_window);

	event = vt_assert_event_ok(VMX, 0x80000404, 0, 2); /* INT 4 with length 2 */
	assert_int_equal(event.type, VMSIM_EVENT_SW_INT);
	assert_int_equal(event.insn_len, 2);

	/* Every exception that pushes an error code may carry one. */
	static const uint8_t pushing[] = { 8, 10, 11, 12, 13, 14, 17, 21 };
	for (size_t i = 0; i < sizeof pushing; i++) {
		event = vt_assert_event_ok(VMX, 0x80000b00u | pushing[i], 0xfffc, 0);
		assert_true(event.has_error);
		assert_int_equal(event.error_code, 0xfffc);
	}

	event = vt_assert_event_ok(VMX, 0x2000, 0, 0); /* NMI-window request alone */
	assert_false(event.valid);
	assert_true(event.want_nmi_window);
}

static void vmx_event_rejections(void **unused)
{
	(void)unused;
	vt_assert_event_rejected(VMX, 0x80000120, 0, 0); /* type 1 reserved */
	vt_assert_event_rejected(VMX, 0x80000700, 0, 0); /* type 7 other event */
	/* external interrupts take any vector (no SDM rule): a real-mode PIC's IRQ 0 is vector 8 */
	assert_int_equal(vt_assert_event_ok(VMX, 0x80000008, 0, 0).vector, 8);
	assert_int_equal(vt_assert_event_ok(VMX, 0x80000000, 0, 0).type, VMSIM_EVENT_EXTINT);
	vt_assert_event_rejected(VMX, 0x80000203, 0, 0); /* NMI with vector 3 */
	vt_assert_event_rejected(VMX, 0x80000320, 0, 0); /* hardware exception vector 32 */
	vt_assert_event_rejected(VMX, 0x80000820, 0, 0); /* error code with an external interrupt */
	vt_assert_event_rejected(VMX, 0x80000a02, 0, 0); /* error code with an NMI */
	vt_assert_event_rejected(VMX, 0x80000b06, 0, 0); /* error code with #UD */
	vt_assert_event_rejected(VMX, 0x80000b03, 0, 0); /* error code with #BP */
	vt_assert_event_rejected(VMX, 0x80000c80, 0, 2); /* error code with INTn */
	vt_assert_event_rejected(VMX, 0x80000b0d, 0x10000, 0); /* error code bits 31:16 */
	static const unsigned software[] = { 0x480, 0x501, 0x603 };
	for (size_t i = 0; i < 3; i++) {
		vt_assert_event_rejected(VMX, 0x80000000u | software[i], 0, 0);
		vt_assert_event_rejected(VMX, 0x80000000u | software[i], 0, 16);
		vt_assert_event_ok(VMX, 0x80000000u | software[i], 0, 1);
		vt_assert_event_ok(VMX, 0x80000000u | software[i], 0, 15);
	}
	vt_assert_event_rejected(VMX, 0x80004030, 0, 0); /* reserved bit 14 */
	vt_assert_event_rejected(VMX, 0xc0000030, 0, 0); /* reserved bit 30 */
	vt_assert_event_rejected(VMX, 0x80080030, 0, 0); /* reserved bit 19 */
	vt_assert_event_ok(VMX, 0x80003030, 0, 0);       /* bits 12-13 are Genode's, masked first */
}

static void vmx_controls_vmm_x86(void **unused)
{
	uint32_t intercepts = 0;
	enum vmsim_invalid_reason reason = VMSIM_INVALID_BACKEND;
	(void)unused;

	/* vmm_x86: primary HLT (1<<7) | TSC_OFFSET (1<<3); secondary UNRESTRICTED (1<<7) | RDTSCP (1<<3). */
	VT_ASSERT_OK(vmsim_model_decode_controls(VMX, 0x88, 0x88, &intercepts, &reason));
	assert_int_equal(reason, VMSIM_INVALID_NONE);
	/*
	 * RDTSCP is merely enabled (no RDTSC exiting): it runs in the guest, as on Intel hardware.
	 * "Use MSR bitmaps" (bit 28) is clear, so every RDMSR/WRMSR exits (SDM vol. 3C 26.1.3).
	 */
	assert_int_equal(intercepts, VMSIM_INTERCEPT_HLT | VMSIM_INTERCEPT_TSC_OFFSET |
	                                     VMSIM_INTERCEPT_UNRESTRICTED_GUEST | VMSIM_INTERCEPT_CPUID |
	                                     VMSIM_INTERCEPT_VMCALL | VMSIM_INTERCEPT_SHUTDOWN | VMSIM_INTERCEPT_MSR);
}

static void vmx_controls_bits(void **unused)
{
	static const struct {
		uint64_t primary, secondary;
		uint32_t intercept;
	} decode_cases[] = {
		/* Bit 28 "use MSR bitmaps" set in each row but the MSR ones, so that only one intercept shows. */
		{ 0x10000004, 0, VMSIM_INTERCEPT_INTR_WINDOW }, { 0x10000008, 0, VMSIM_INTERCEPT_TSC_OFFSET },
		{ 0x10000080, 0, VMSIM_INTERCEPT_HLT },         { 0x10001000, 0, VMSIM_INTERCEPT_RDTSC },
		{ 0x10400000, 0, VMSIM_INTERCEPT_NMI_WINDOW }, { 0x11000000, 0, VMSIM_INTERCEPT_IO },
		/* SDM vol. 3C 26.1.3: "use I/O bitmaps" (25) overrides 24; Genode's bitmaps are empty. */
		{ 0x13000000, 0, 0 },                          { 0x12000000, 0, 0 },
		/* without "use MSR bitmaps" every RDMSR/WRMSR exits; with it the (empty) bitmap decides */
		{ 0, 0, VMSIM_INTERCEPT_MSR },                 { 0x10000000, 0, 0 },
		{ 0x10000000, 1u << 7, VMSIM_INTERCEPT_UNRESTRICTED_GUEST },
		{ 0x10001000, 1u << 3, VMSIM_INTERCEPT_RDTSC | VMSIM_INTERCEPT_RDTSCP },
		{ 0x90000200, 1u << 1, 0 }, /* activate-secondary, INVLPG, EPT: no neutral meaning */
	};
	const uint32_t always = VMSIM_INTERCEPT_CPUID | VMSIM_INTERCEPT_VMCALL | VMSIM_INTERCEPT_SHUTDOWN;
	enum vmsim_invalid_reason reason;
	uint64_t primary, secondary;
	uint32_t intercepts;
	(void)unused;

	for (size_t i = 0; i < sizeof decode_cases / sizeof decode_cases[0]; i++) {
		VT_ASSERT_OK(vmsim_model_decode_controls(VMX, decode_cases[i].primary, decode_cases[i].secondary,
		                                         &intercepts, &reason));
		assert_int_equal(intercepts, decode_cases[i].intercept | always);
	}
	vmsim_model_encode_controls(VMX, VMSIM_INTERCEPT_HLT | VMSIM_INTERCEPT_TSC_OFFSET, &primary, &secondary);
	assert_int_equal(primary, 0x10000088); /* no MSR intercept = use the (empty) MSR bitmap */
	assert_int_equal(secondary, 0);
	vmsim_model_encode_controls(VMX, VMSIM_INTERCEPT_IO | VMSIM_INTERCEPT_MSR, &primary, &secondary);
	assert_int_equal(primary, 1u << 24); /* unconditional I/O exiting, no MSR bitmap */
	vmsim_model_encode_controls(VMX, VMSIM_INTERCEPT_RDTSCP | VMSIM_INTERCEPT_UNRESTRICTED_GUEST, &primary,
	                            &secondary);
	assert_int_equal(primary, 0x10001000);
	assert_int_equal(secondary, 0x88);
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT,
	                 vmsim_model_decode_controls(VMX, 0, 1ull << 40, &intercepts, &reason));
	assert_int_equal(reason, VMSIM_INVALID_CONTROLS);
}

static void vmx_entry_reset_state(void **unused)
{
	struct vmsim_cpu_state cpu;
	(void)unused;

	vt_reset_state(&cpu, VMSIM_INTERCEPT_UNRESTRICTED_GUEST);
	vt_assert_entry_ok(VMX, &cpu);
	vt_reset_state(&cpu, 0); /* real mode without unrestricted guest */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_UNRESTRICTED);
	vt_protected_state(&cpu);
	cpu.cr0 = 0x11; /* protected but unpaged */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_UNRESTRICTED);
	cpu.intercepts = VMSIM_INTERCEPT_UNRESTRICTED_GUEST;
	vt_assert_entry_ok(VMX, &cpu);
	vt_protected_state(&cpu);
	vt_assert_entry_ok(VMX, &cpu);
	vt_long_state(&cpu);
	vt_assert_entry_ok(VMX, &cpu);
}

static void vmx_entry_control_registers(void **unused)
{
	struct vmsim_cpu_state cpu;
	(void)unused;

	vt_reset_state(&cpu, VMSIM_INTERCEPT_UNRESTRICTED_GUEST);
	cpu.cr0 = 0x80000010; /* PG without PE, even for an unrestricted guest */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_CR0);
	vt_protected_state(&cpu);
	cpu.cr0 |= 1ull << 32;
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_CR0);

	vt_protected_state(&cpu);
	cpu.efer = 0x400; /* LMA without LME */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_EFER);
	cpu.efer = 0x100; /* LME and PG without LMA */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_EFER);
	vt_reset_state(&cpu, VMSIM_INTERCEPT_UNRESTRICTED_GUEST);
	cpu.efer = 0x100; /* LME without paging: LMA stays 0, fine */
	vt_assert_entry_ok(VMX, &cpu);
	vt_long_state(&cpu);
	cpu.cr4 = 0; /* IA-32e mode without PAE */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_CR4);
}

static void vmx_entry_rflags(void **unused)
{
	static const uint64_t bad[] = { 0, 2 | 1u << 3, 2 | 1u << 5, 2 | 1u << 15, 2 | 1u << 22, 2 | 1ull << 63 };
	struct vmsim_cpu_state cpu;
	(void)unused;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		vt_protected_state(&cpu);
		cpu.rflags = bad[i];
		vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_RFLAGS);
	}
	vt_protected_state(&cpu);
	cpu.rflags = 0x3f7fd7; /* every defined flag set */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_SEGMENT); /* VM=1 makes it virtual-8086 */
	cpu.rflags &= ~(1ull << 17);
	vt_assert_entry_ok(VMX, &cpu);
	vt_long_state(&cpu);
	cpu.rflags = 2 | 1u << 17; /* virtual-8086 in IA-32e mode */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_RFLAGS);
}

static void vmx_entry_segments(void **unused)
{
	struct vmsim_cpu_state cpu;
	(void)unused;

	vt_protected_state(&cpu);
	cpu.cs.ar |= 0x1000; /* CS unusable */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_SEGMENT);
	vt_protected_state(&cpu);
	cpu.cs.ar = 0xc93; /* data as CS needs unrestricted guest */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_SEGMENT);
	vt_protected_state(&cpu);
	cpu.cs.ar = 0xc1b; /* not present */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_SEGMENT);
	vt_protected_state(&cpu);
	cpu.ss.ar = 0xcf3; /* SS DPL 3, CS DPL 0 non-conforming */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_SEGMENT);
	cpu.cs.ar = 0xc9f; /* conforming CS DPL 0 <= SS DPL 3 */
	vt_assert_entry_ok(VMX, &cpu);
	vt_protected_state(&cpu);
	cpu.ss.ar = 0xc9b; /* code as SS */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_SEGMENT);
	cpu.ss.ar = 0x1000; /* an unusable SS is fine */
	vt_assert_entry_ok(VMX, &cpu);
	vt_long_state(&cpu);
	cpu.cs.ar = 0xe9b; /* L and D both set */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_SEGMENT);
	vt_reset_state(&cpu, VMSIM_INTERCEPT_UNRESTRICTED_GUEST);
	cpu.ss.ar = 0xf3; /* real mode: SS DPL must be 0 */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_SEGMENT);
	vt_reset_state(&cpu, VMSIM_INTERCEPT_UNRESTRICTED_GUEST);
	cpu.cs.ar = 0xb3; /* data CS with DPL 1 */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_SEGMENT);
}

static void vmx_entry_activity_and_event(void **unused)
{
	struct vmsim_cpu_state cpu;
	(void)unused;

	vt_protected_state(&cpu);
	cpu.activity = 4;
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_ACTIVITY);
	cpu.activity = VMSIM_ACTIVITY_HLT;
	vt_assert_entry_ok(VMX, &cpu);
	cpu.ss.ar = 0xcf3; /* HLT at SS.DPL 3 (CS: conforming code, DPL 3) */
	cpu.cs.ar = 0xcff;
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_ACTIVITY);

	vt_protected_state(&cpu);
	cpu.rflags = 0x202;
	cpu.pending = vt_event(VMSIM_EVENT_EXTINT, 0x10); /* a vector below 32 enters too */
	vt_assert_entry_ok(VMX, &cpu);
	cpu.pending.vector = 0x30;
	vt_assert_entry_ok(VMX, &cpu);
	cpu.rflags = 2; /* IF=0 */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_EVENT);
	cpu.rflags = 0x202;
	cpu.interruptibility = VMSIM_BLOCK_STI;
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_EVENT);

	vt_protected_state(&cpu);
	cpu.pending = vt_event(VMSIM_EVENT_HW_EXCEPTION, 13); /* #GP in protected mode needs its code */
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_EVENT);
	cpu.pending.has_error = true;
	vt_assert_entry_ok(VMX, &cpu);
	vt_reset_state(&cpu, VMSIM_INTERCEPT_UNRESTRICTED_GUEST);
	cpu.pending = vt_event(VMSIM_EVENT_HW_EXCEPTION, 13); /* ... and none in real mode */
	vt_assert_entry_ok(VMX, &cpu);
	cpu.pending.has_error = true;
	vt_assert_entry_fails(VMX, &cpu, VMSIM_INVALID_EVENT);
}

static void vmx_exit_names(void **unused)
{
	(void)unused;
	assert_string_equal(vmsim_model_exit_name(VMX, 30), "IO_INSTRUCTION");
	assert_string_equal(vmsim_model_exit_name(VMX, 48), "EPT_VIOLATION");
	assert_string_equal(vmsim_model_exit_name(VMX, 33), "INVALID_GUEST_STATE");
	assert_string_equal(vmsim_model_exit_name(VMX, 0xfe), "STARTUP");
	assert_string_equal(vmsim_model_exit_name(VMX, 0x7b), "unknown");
}

/*
 * SDM vol. 3C 28.2.1 Table 28-7: bit 8 (with bit 7) 1 = final translation,
 * 0 = guest paging-structure access; bit 9 user-mode address (with 7 and 8);
 * bits 10/11 and 12 (NMI unblocking due to IRET) are set by hardware and accepted.
 */
static void vmx_ept_walk_user_and_hardware_bits(void **unused)
{
	struct vmsim_vcpu_state state;
	struct vmsim_exit exit = vt_npf(0x7000, VMSIM_ACCESS_READ, VMSIM_PROT_READ), out;
	(void)unused;

	exit.u.npf.gla_valid = true;
	exit.u.npf.walk = true;
	assert_int_equal(vt_encode(VMX, &exit, &state), 48);
	assert_int_equal(state.qual_primary.value, 0x89); /* read, R, GLA valid, bit 8 clear */
	exit.u.npf.walk = false;
	exit.u.npf.user = true;
	exit.u.npf.access = VMSIM_ACCESS_WRITE;
	vt_encode(VMX, &exit, &state);
	assert_int_equal(state.qual_primary.value, 0x38a); /* write, R, GLA valid, final, user */

	state.qual_primary.value = 0x1f8a; /* + bit 10 rw page, 11 executable, 12 NMI unblocking */
	VT_ASSERT_OK(vmsim_model_decode_exit(VMX, &state, &out));
	assert_true(out.u.npf.user);
	assert_false(out.u.npf.walk);
	assert_int_equal(out.u.npf.access, VMSIM_ACCESS_WRITE);
	state.qual_primary.value = 0x1081; /* walk + NMI unblocking */
	VT_ASSERT_OK(vmsim_model_decode_exit(VMX, &state, &out));
	assert_true(out.u.npf.walk);
	assert_false(out.u.npf.user);
	state.qual_primary.value = 0x101; /* bit 8 without bit 7: reserved */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_exit(VMX, &state, &out));
	state.qual_primary.value = 0x20001; /* bit 17: reserved */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_model_decode_exit(VMX, &state, &out));
	/* The guest-physical address of a non-EPT exit is undefined: an I/O exit with a stale one decodes. */
	state.exit_reason = 30;
	state.qual_primary.value = 0x00800000; /* OUT 0x80, 1 byte */
	state.qual_secondary.value = 0xfffff000;
	VT_ASSERT_OK(vmsim_model_decode_exit(VMX, &state, &out));
	assert_int_equal(out.u.io.port, 0x80);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vmx_io_qualification),
		cmocka_unit_test(vmx_ept_violation_qualification),
		cmocka_unit_test(vmx_plain_exit_reasons),
		cmocka_unit_test(vmx_msr_reasons),
		cmocka_unit_test(vmx_exception_qualification),
		cmocka_unit_test(vmx_ept_walk_user_and_hardware_bits),
		cmocka_unit_test(vmx_intr_state_and_activity),
		cmocka_unit_test(vmx_event_encoding),
		cmocka_unit_test(vmx_event_decoding),
		cmocka_unit_test(vmx_event_rejections),
		cmocka_unit_test(vmx_controls_vmm_x86),
		cmocka_unit_test(vmx_controls_bits),
		cmocka_unit_test(vmx_entry_reset_state),
		cmocka_unit_test(vmx_entry_control_registers),
		cmocka_unit_test(vmx_entry_rflags),
		cmocka_unit_test(vmx_entry_segments),
		cmocka_unit_test(vmx_entry_activity_and_event),
		cmocka_unit_test(vmx_exit_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
