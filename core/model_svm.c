/* core/model_svm.c - the AMD SVM model as a Genode VMM sees it (APM vol. 2 §15, appendix C); tables, no state. */
#include <stddef.h>

#include "model_table.h"

/*
 * Exit codes per neutral kind (APM vol. 2 appendix C; Genode's synthetic
 * 0xfc NPF, 0xfd invalid, 0xfe startup, 0xff paused). EXCEPTION is the base
 * 0x40: the code is 0x40 + vector. SVM has no NMI-window exit (APM 15.21).
 */
#define SVM_KIND_CODES(X)         \
	X(NONE, -1)               \
	X(STARTUP, 0xfe)          \
	X(PAUSED, 0xff)           \
	X(IO, 0x7b)               \
	X(NPF, 0xfc)              \
	X(CPUID, 0x72)            \
	X(HLT, 0x78)              \
	X(VMCALL, 0x81)           \
	X(RDTSC, 0x6e)            \
	X(RDTSCP, 0x87)           \
	X(MSR, 0x7c)              \
	X(SHUTDOWN, 0x7f)         \
	X(INVALID_STATE, 0xfd)    \
	X(INTR_WINDOW, 0x64)      \
	X(NMI_WINDOW, -1)         \
	X(EXCEPTION, 0x40)

_Static_assert(0 SVM_KIND_CODES(MODEL_COUNT_ONE_) == VMSIM_EXIT_KIND_COUNT,
               "every neutral exit kind needs an SVM code (or -1)");
static const long svm_kind_codes[VMSIM_EXIT_KIND_COUNT] = { SVM_KIND_CODES(MODEL_KIND_CODE_) };

/* Names for logs and traces, including codes vmsim never produces (APM appendix C). */
#define SVM_EXIT_NAMES(X)                                                                       \
	X(0x60, "INTR") X(0x61, "NMI") X(0x62, "SMI") X(0x63, "INIT") X(0x64, "VINTR")           \
	X(0x6e, "RDTSC") X(0x72, "CPUID") X(0x77, "PAUSE") X(0x78, "HLT") X(0x79, "INVLPG")     \
	X(0x7a, "INVLPGA") X(0x7b, "IOIO") X(0x7c, "MSR") X(0x7d, "TASK_SWITCH")                \
	X(0x7f, "SHUTDOWN") X(0x80, "VMRUN") X(0x81, "VMMCALL") X(0x87, "RDTSCP")               \
	X(0x89, "WBINVD") X(0x8d, "XSETBV") X(0xfc, "NPF") X(0xfd, "INVALID") X(0xfe, "STARTUP") \
	X(0xff, "PAUSED") X(0x400, "NPF") X(0xffffffffu, "INVALID")

#define SVM_EXCP_NAMES(X)                                                                        \
	X(DE) X(DB) X(02) X(BP) X(OF) X(BR) X(UD) X(NM) X(DF) X(09) X(TS) X(NP) X(SS) X(GP) X(PF) \
	X(15) X(MF) X(AC) X(MC) X(XM) X(VE) X(CP) X(22) X(23) X(24) X(25) X(26) X(27) X(HV) X(VC)  \
	X(SX) X(31)

enum {
	SVM_EXIT_EXCP_BASE = 0x40,
	SVM_EXIT_NMI = 0x61,
	SVM_EXIT_NPF_HW = 0x400,  /* VMEXIT_NPF (APM vol. 2 appendix C); Genode delivers it as 0xfc */
	SVM_VECTOR_PF = 14,
	/* IOIO EXITINFO1 (APM 15.10.2) */
	SVM_IO_TYPE_IN = 1u << 0,
	SVM_IO_STR = 1u << 2,
	SVM_IO_REP = 1u << 3,
	SVM_IO_SZ_SHIFT = 4,   /* SZ8/SZ16/SZ32 one-hot in bits 6:4 */
	SVM_IO_A_SHIFT = 7,    /* A16/A32/A64 one-hot in bits 9:7 */
	SVM_IO_SEG_SHIFT = 10, /* bits 12:10 */
	SVM_IO_PORT_SHIFT = 16,
	/* NPF EXITINFO1 = #PF error code (APM 15.25.6, 8.4.2) */
	SVM_PF_P = 1u << 0,
	SVM_PF_RW = 1u << 1,
	SVM_PF_US = 1u << 2,
	SVM_PF_RSV = 1u << 3,
	SVM_PF_ID = 1u << 4
};
/* VMEXIT_INVALID is -1 in the 64-bit EXITCODE; base-hw passes it into the 32-bit exit_reason. */
#define SVM_EXIT_INVALID_HW 0xffffffffu
/* APM vol. 2 15.25.6: EXITINFO1 bit 32 = fault on the final gpa, bit 33 = during the guest's walk. */
#define SVM_NPF_FINAL_GPA (1ull << 32)
#define SVM_NPF_WALK (1ull << 33)
#define SVM_IO_KNOWN_BITS 0xffff1ffdull /* port, seg, A, SZ, REP, STR, TYPE; bit 1 and 15:13 reserved */

/* ---- exit qualifications ----------------------------------------------------- */

static unsigned one_hot_index(unsigned value)
{
	return value == 1 ? 0 : value == 2 ? 1 : value == 4 ? 2 : 3;
}

static void io_encode(const struct vmsim_exit *exit, uint64_t *code, uint64_t *q1, uint64_t *q2)
{
	(void)code;
	*q1 = (exit->u.io.in ? SVM_IO_TYPE_IN : 0) | (exit->u.io.string ? SVM_IO_STR : 0) |
	      (exit->u.io.rep ? SVM_IO_REP : 0) | ((uint64_t)exit->u.io.size << SVM_IO_SZ_SHIFT) |
	      ((uint64_t)exit->u.io.seg << SVM_IO_SEG_SHIFT) | ((uint64_t)exit->u.io.port << SVM_IO_PORT_SHIFT);
	/* addr_size 2/4/8 -> A16/A32/A64; 0 (unknown) sets none. */
	if (exit->u.io.addr_size)
		*q1 |= 1ull << (SVM_IO_A_SHIFT + one_hot_index(exit->u.io.addr_size / 2));
	/* EXITINFO2 = rIP of the next instruction (APM 15.10.2). */
	*q2 = exit->rip + exit->insn_len;
}

static enum vmsim_result io_decode(unsigned code, uint64_t q1, uint64_t q2, struct vmsim_exit *out)
{
	unsigned size = (q1 >> SVM_IO_SZ_SHIFT) & 7, addr = (q1 >> SVM_IO_A_SHIFT) & 7;
	unsigned seg = (q1 >> SVM_IO_SEG_SHIFT) & 7;

	(void)code;
	if ((q1 & ~SVM_IO_KNOWN_BITS) || one_hot_index(size) > 2 || (addr && one_hot_index(addr) > 2) || seg > 5)
		return VMSIM_INVALID_ARGUMENT;
	/*
	 * APM vol. 2 15.10.2: EXITINFO2 is the rIP of the next instruction, so it,
	 * not ip_len (no SVM field; base-hw leaves it stale), gives the length.
	 */
	uint64_t len = q2 - out->rip; /* 0: the producer did not know the length either */
	if (len > MODEL_MAX_INSN_LEN)
		return VMSIM_INVALID_ARGUMENT;
	out->insn_len = (uint8_t)len;
	out->u.io.in = q1 & SVM_IO_TYPE_IN;
	out->u.io.string = q1 & SVM_IO_STR;
	out->u.io.rep = q1 & SVM_IO_REP;
	out->u.io.size = (uint8_t)size;
	out->u.io.addr_size = addr ? (uint8_t)(2u << one_hot_index(addr)) : 0;
	out->u.io.seg = (uint8_t)seg;
	out->u.io.port = (uint16_t)(q1 >> SVM_IO_PORT_SHIFT);
	return VMSIM_OK;
}

static void npf_encode(const struct vmsim_exit *exit, uint64_t *code, uint64_t *q1, uint64_t *q2)
{
	(void)code;
	/* APM vol. 2 15.25.6: bit 33 for a fault on the guest's own page-table walk, else bit 32. */
	*q1 = (exit->u.npf.walk ? SVM_NPF_WALK : SVM_NPF_FINAL_GPA) | (exit->u.npf.prot ? SVM_PF_P : 0) |
	      (exit->u.npf.access == VMSIM_ACCESS_WRITE ? SVM_PF_RW : 0) |
	      (exit->u.npf.access == VMSIM_ACCESS_FETCH ? SVM_PF_ID : 0) | (exit->u.npf.user ? SVM_PF_US : 0);
	*q2 = exit->u.npf.gpa;
}

static enum vmsim_result npf_decode(unsigned code, uint64_t q1, uint64_t q2, struct vmsim_exit *out)
{
	bool final = q1 & SVM_NPF_FINAL_GPA, walk = q1 & SVM_NPF_WALK;

	(void)code;
	/* P RW US RSV ID (APM 8.4.2) and exactly one of bits 32/33; RSV is accepted and not modelled. */
	if ((q1 & ~(SVM_NPF_FINAL_GPA | SVM_NPF_WALK | SVM_PF_P | SVM_PF_RW | SVM_PF_US | SVM_PF_RSV | SVM_PF_ID)) ||
	    final == walk || ((q1 & SVM_PF_RW) && (q1 & SVM_PF_ID)))
		return VMSIM_INVALID_ARGUMENT;
	out->u.npf.gpa = q2;
	out->u.npf.walk = walk;
	out->u.npf.gla_valid = walk; /* a walk is always for a linear address; SVM reports none */
	out->u.npf.user = q1 & SVM_PF_US;
	out->u.npf.access = (q1 & SVM_PF_ID) ? VMSIM_ACCESS_FETCH
	                    : (q1 & SVM_PF_RW) ? VMSIM_ACCESS_WRITE : VMSIM_ACCESS_READ;
	/* P says only "a mapping existed": the least mapping that is one is read-only. */
	out->u.npf.prot = (q1 & SVM_PF_P) ? VMSIM_PROT_READ : 0;
	return VMSIM_OK;
}

static void msr_encode(const struct vmsim_exit *exit, uint64_t *code, uint64_t *q1, uint64_t *q2)
{
	(void)code;
	(void)q2;
	*q1 = exit->u.msr.write ? 1 : 0; /* EXITINFO1: 0 RDMSR, 1 WRMSR (APM 15.11) */
}

static enum vmsim_result msr_decode(unsigned code, uint64_t q1, uint64_t q2, struct vmsim_exit *out)
{
	(void)code;
	(void)q2; /* undefined for MSR intercepts */
	if (q1 > 1)
		return VMSIM_INVALID_ARGUMENT;
	out->u.msr.write = q1 == 1;
	return VMSIM_OK;
}

static void exception_encode(const struct vmsim_exit *exit, uint64_t *code, uint64_t *q1, uint64_t *q2)
{
	/* NMI is its own intercept, not an exception vector (APM vol. 2 15.12, appendix C). */
	*code = exit->u.exception.vector == 2 ? SVM_EXIT_NMI : SVM_EXIT_EXCP_BASE + exit->u.exception.vector;
	/* APM vol. 2 15.12: EXITINFO1 = the error code; #PF: EXITINFO2 = the faulting address (CR2). */
	*q1 = exit->u.exception.has_error ? exit->u.exception.error_code : 0;
	*q2 = exit->u.exception.vector == SVM_VECTOR_PF ? exit->u.exception.qual : 0;
}

static enum vmsim_result exception_decode(unsigned code, uint64_t q1, uint64_t q2, struct vmsim_exit *out)
{
	uint8_t vector = code == SVM_EXIT_NMI ? 2 : (uint8_t)(code - SVM_EXIT_EXCP_BASE);

	out->u.exception.vector = vector;
	/* EXITINFO1 has no "valid" bit: the vector decides whether it is an error code. */
	out->u.exception.has_error = model_vector_has_error(VMSIM_MODEL_SVM, vector);
	/* Where the APM defines no EXITINFO (no error code; EXITINFO2 but for #PF), kernels pass anything. */
	if (!out->u.exception.has_error)
		return VMSIM_OK;
	if ((q1 >> 32) != 0)
		return VMSIM_INVALID_ARGUMENT;
	out->u.exception.error_code = (uint32_t)q1;
	if (vector == SVM_VECTOR_PF)
		out->u.exception.qual = q2;
	return VMSIM_OK;
}

static const qual_encode_fn svm_qual_encoders[VMSIM_EXIT_KIND_COUNT] = {
	[VMSIM_EXIT_IO] = io_encode,
	[VMSIM_EXIT_NPF] = npf_encode,
	[VMSIM_EXIT_MSR] = msr_encode,
	[VMSIM_EXIT_EXCEPTION] = exception_encode,
};

static const qual_decode_fn svm_qual_decoders[VMSIM_EXIT_KIND_COUNT] = {
	[VMSIM_EXIT_IO] = io_decode,
	[VMSIM_EXIT_NPF] = npf_decode,
	[VMSIM_EXIT_MSR] = msr_decode,
	[VMSIM_EXIT_EXCEPTION] = exception_decode,
};

static enum vmsim_exit_kind svm_kind_of_code(unsigned exit_reason)
{
	/* 0x42 is never produced (vector 2 is reported as 0x61 NMI), so it is not decoded either. */
	if (exit_reason == SVM_EXIT_NMI ||
	    (exit_reason >= SVM_EXIT_EXCP_BASE && exit_reason < SVM_EXIT_EXCP_BASE + 32 &&
	     exit_reason != SVM_EXIT_EXCP_BASE + 2))
		return VMSIM_EXIT_EXCEPTION;
	/* Raw hardware codes a kernel may pass through: VMEXIT_NPF, and VMEXIT_INVALID as base-hw does. */
	if (exit_reason == SVM_EXIT_NPF_HW)
		return VMSIM_EXIT_NPF;
	if (exit_reason == SVM_EXIT_INVALID_HW)
		return VMSIM_EXIT_INVALID_STATE;
	return model_kind_by_code(svm_kind_codes, exit_reason);
}

static const char *svm_exit_name(unsigned exit_reason)
{
#define SVM_NAME_CASE_(code, text) case code: return text;
#define SVM_EXCP_NAME_(mnemonic) "EXCP_" #mnemonic,
	static const char *const excp[32] = { SVM_EXCP_NAMES(SVM_EXCP_NAME_) };
	_Static_assert(sizeof excp / sizeof excp[0] == 32, "one name per exception vector");

	if (exit_reason >= SVM_EXIT_EXCP_BASE && exit_reason < SVM_EXIT_EXCP_BASE + 32)
		return excp[exit_reason - SVM_EXIT_EXCP_BASE];
	if (exit_reason <= 0x3f) {
		static const char *const crdr[4] = { "CR_READ", "CR_WRITE", "DR_READ", "DR_WRITE" };
		return crdr[exit_reason >> 4];
	}
	switch (exit_reason) {
	SVM_EXIT_NAMES(SVM_NAME_CASE_)
	}
	return NULL;
#undef SVM_NAME_CASE_
#undef SVM_EXCP_NAME_
}

/* ---- events, interruptibility, activity --------------------------------------- */

static enum vmsim_result svm_decode_event(uint64_t inj_info, uint64_t inj_error, uint64_t ip_len,
                                          struct vmsim_event *out, enum vmsim_invalid_reason *reason)
{
	struct inj_fields f = model_split_inj_info(inj_info);

	out->want_intr_window = f.want_intr_window;
	out->want_nmi_window = f.want_nmi_window;
	if (!f.valid)
		return VMSIM_OK;
	/*
	 * APM 15.20: types 1, 5, 6, 7 are reserved and TYPE=3 needs a vector that
	 * is an exception (not NMI's 2, not >= 32): VMRUN fails with VMEXIT_INVALID.
	 * Reserved bits and a >32-bit error code are refused as on VMX, so that
	 * nothing the VMM wrote is silently dropped.
	 */
	bool illegal_type = f.type == 1 || f.type >= 5;
	bool bad_exception = f.type == VMSIM_EVENT_HW_EXCEPTION && (f.vector == 2 || f.vector >= 32);
	if (f.reserved_set || illegal_type || bad_exception || (f.has_error && (inj_error >> 32) != 0)) {
		*reason = VMSIM_INVALID_EVENT;
		return VMSIM_INVALID_ARGUMENT;
	}
	out->valid = true;
	out->type = (enum vmsim_event_type)f.type;
	out->vector = f.vector;
	out->has_error = f.has_error;
	out->error_code = f.has_error ? (uint32_t)inj_error : 0;
	/* SVM takes INTn's length from nRIP, not from the injection: carry it when it makes sense. */
	if (f.type == VMSIM_EVENT_SW_INT && ip_len <= MODEL_MAX_INSN_LEN)
		out->insn_len = (uint8_t)ip_len;
	return VMSIM_OK;
}

/* VMCB offset 0x68 bit 0 INTERRUPT_SHADOW: STI and MOV SS look the same; SMI/NMI blocking is not there. */
static uint64_t svm_encode_intr_state(uint32_t blocking)
{
	return (blocking & (VMSIM_BLOCK_STI | VMSIM_BLOCK_MOVSS)) ? 1 : 0;
}

static enum vmsim_result svm_decode_intr_state(uint64_t intr_state, uint32_t *blocking)
{
	/* Bit 1 GUEST_INTERRUPT_MASK is written by the CPU for vGIF and ignored here. */
	if (intr_state & ~3ull)
		return VMSIM_INVALID_ARGUMENT;
	*blocking = (intr_state & 1) ? VMSIM_BLOCK_STI : 0;
	return VMSIM_OK;
}

static uint64_t svm_encode_activity(uint32_t activity)
{
	(void)activity; /* no activity field in the VMCB: HLT is an intercept */
	return 0;
}

static enum vmsim_result svm_decode_activity(uint64_t actv_state, uint32_t *activity)
{
	(void)actv_state;
	*activity = VMSIM_ACTIVITY_ACTIVE;
	return VMSIM_OK;
}

/* ---- intercept controls ----------------------------------------------------------- */

/* VMCB intercept vector: word 3 = ctrl_primary, word 4 = ctrl_secondary (APM appendix B). */
#define SVM_CONTROL_BITS(X)                     \
	X(0, 4, VMSIM_INTERCEPT_INTR_WINDOW)    \
	X(0, 14, VMSIM_INTERCEPT_RDTSC)         \
	X(0, 18, VMSIM_INTERCEPT_CPUID)         \
	X(0, 24, VMSIM_INTERCEPT_HLT)           \
	X(0, 27, VMSIM_INTERCEPT_IO)            \
	X(0, 28, VMSIM_INTERCEPT_MSR)           \
	X(0, 31, VMSIM_INTERCEPT_SHUTDOWN)      \
	X(1, 1, VMSIM_INTERCEPT_VMCALL)         \
	X(1, 7, VMSIM_INTERCEPT_RDTSCP)

#define SVM_VMRUN_INTERCEPT 1ull /* word 4 bit 0 */
/* The VMCB TSC offset always applies, and SVM runs real and unpaged guests without a control. */
#define SVM_ALWAYS (VMSIM_INTERCEPT_TSC_OFFSET | VMSIM_INTERCEPT_UNRESTRICTED_GUEST)

static enum vmsim_result svm_decode_controls(uint64_t primary, uint64_t secondary, uint32_t *intercepts,
                                             enum vmsim_invalid_reason *reason)
{
	const uint64_t words[2] = { primary, secondary };
	uint32_t out = SVM_ALWAYS;

	/* APM 15.5.1: VMRUN fails when the VMRUN intercept is clear. */
	if (!(secondary & SVM_VMRUN_INTERCEPT)) {
		*reason = VMSIM_INVALID_CONTROLS;
		return VMSIM_INVALID_ARGUMENT;
	}
#define SVM_DECODE_BIT_(word, bit, intercept) \
	if (words[word] & (1ull << (bit)))    \
		out |= (intercept);
	SVM_CONTROL_BITS(SVM_DECODE_BIT_)
#undef SVM_DECODE_BIT_
	*intercepts = out;
	return VMSIM_OK;
}

static void svm_encode_controls(uint32_t intercepts, uint64_t *primary, uint64_t *secondary)
{
	uint64_t words[2] = { 0, SVM_VMRUN_INTERCEPT };

#define SVM_ENCODE_BIT_(word, bit, intercept) \
	if (intercepts & (intercept))         \
		words[word] |= 1ull << (bit);
	SVM_CONTROL_BITS(SVM_ENCODE_BIT_)
#undef SVM_ENCODE_BIT_
	*primary = words[0];
	*secondary = words[1];
}

/* ---- VMRUN consistency checks (APM 15.5.1) ------------------------------------------ */

/* CR4 bits AMD defines: 0-12, 16-18, 20-23; the rest (incl. VMXE 13, SMXE 14) are reserved. */
#define SVM_CR4_DEFINED 0xf71fffull
#define SVM_CR3_MBZ (0xfffull << 52)

static enum vmsim_result fail(enum vmsim_invalid_reason *reason, enum vmsim_invalid_reason why)
{
	*reason = why;
	return VMSIM_INVALID_ARGUMENT;
}

static enum vmsim_result svm_check_entry(const struct vmsim_cpu_state *cpu, enum vmsim_invalid_reason *reason)
{
	bool long_paging = (cpu->efer & EFER_LME) && (cpu->cr0 & CR0_PG);

	/*
	 * EFER.SVME "as seen by hardware" is set by the hypervisor underneath
	 * Genode, never by the VMM, so it is not required of the guest's EFER.
	 */
	if (!(cpu->cr0 & CR0_CD) && (cpu->cr0 & CR0_NW))
		return fail(reason, VMSIM_INVALID_CR0);
	if (cpu->cr0 >> 32)
		return fail(reason, VMSIM_INVALID_CR0);
	if (cpu->cr3 & SVM_CR3_MBZ)
		return fail(reason, VMSIM_INVALID_CR3);
	if (cpu->cr4 & ~SVM_CR4_DEFINED)
		return fail(reason, VMSIM_INVALID_CR4);
	if (long_paging && (!(cpu->cr4 & CR4_PAE) || !(cpu->cr0 & CR0_PE)))
		return fail(reason, VMSIM_INVALID_EFER);
	/* EFER.LME, CR0.PG, CR4.PAE, CS.L and CS.D all set is illegal. */
	if (long_paging && seg_long(cpu->cs.ar) && seg_db(cpu->cs.ar))
		return fail(reason, VMSIM_INVALID_SEGMENT);
	if (cpu->pending.valid) {
		uint64_t info, error;
		if (model_encode_event(&model_svm_ops, &cpu->pending, &info, &error) != VMSIM_OK)
			return fail(reason, VMSIM_INVALID_EVENT);
	}
	return VMSIM_OK;
}

const struct model_ops model_svm_ops = {
	.name = "svm",
	.kind_codes = svm_kind_codes,
	.kind_of_code = svm_kind_of_code,
	.qual_encoders = svm_qual_encoders,
	.qual_decoders = svm_qual_decoders,
	.exit_name = svm_exit_name,
	.ip_len_architectural = false,
	.qual_primary_cleared = false,
	.decode_event = svm_decode_event,
	.encode_intr_state = svm_encode_intr_state,
	.decode_intr_state = svm_decode_intr_state,
	.encode_activity = svm_encode_activity,
	.decode_activity = svm_decode_activity,
	.decode_controls = svm_decode_controls,
	.encode_controls = svm_encode_controls,
	.check_entry = svm_check_entry,
};
