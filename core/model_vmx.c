/* core/model_vmx.c - the Intel VMX model as a Genode VMM sees it (SDM vol. 3 ch. 25-28, appendix C); tables, no state. */
#include <stddef.h>

#include "model_table.h"

/*
 * Basic exit reasons per neutral kind (SDM appendix C; Genode keeps
 * exit_reason & 0xffff, so the failed-entry bit 31 of reason 33 is gone).
 * MSR is RDMSR 31 (WRMSR 32 is set by the encoder); EXCEPTION is 0.
 */
#define VMX_KIND_CODES(X)         \
	X(NONE, -1)               \
	X(STARTUP, 0xfe)          \
	X(PAUSED, 0xff)           \
	X(IO, 30)                 \
	X(NPF, 48)                \
	X(CPUID, 10)              \
	X(HLT, 12)                \
	X(VMCALL, 18)             \
	X(RDTSC, 16)              \
	X(RDTSCP, 51)             \
	X(MSR, 31)                \
	X(SHUTDOWN, 2)            \
	X(INVALID_STATE, 33)      \
	X(INTR_WINDOW, 7)         \
	X(NMI_WINDOW, 8)          \
	X(EXCEPTION, 0)

_Static_assert(0 VMX_KIND_CODES(MODEL_COUNT_ONE_) == VMSIM_EXIT_KIND_COUNT,
               "every neutral exit kind needs a VMX reason (or -1)");
static const long vmx_kind_codes[VMSIM_EXIT_KIND_COUNT] = { VMX_KIND_CODES(MODEL_KIND_CODE_) };

/* Names for logs and traces, including reasons vmsim never produces (SDM appendix C). */
#define VMX_EXIT_NAMES(X)                                                                          \
	X(0, "EXCEPTION_NMI") X(1, "EXTERNAL_INTERRUPT") X(2, "TRIPLE_FAULT") X(3, "INIT")         \
	X(4, "SIPI") X(7, "INTR_WINDOW") X(8, "NMI_WINDOW") X(9, "TASK_SWITCH") X(10, "CPUID")    \
	X(12, "HLT") X(14, "INVLPG") X(16, "RDTSC") X(18, "VMCALL") X(28, "CR_ACCESS")            \
	X(29, "DR_ACCESS") X(30, "IO_INSTRUCTION") X(31, "RDMSR") X(32, "WRMSR")                  \
	X(33, "INVALID_GUEST_STATE") X(40, "PAUSE") X(43, "TPR_BELOW_THRESHOLD")                  \
	X(48, "EPT_VIOLATION") X(49, "EPT_MISCONFIG") X(51, "RDTSCP") X(54, "WBINVD")             \
	X(55, "XSETBV") X(0xfe, "STARTUP") X(0xff, "PAUSED")

enum {
	VMX_EXIT_WRMSR = 32,
	/* I/O exit qualification (SDM 28.2.1) */
	VMX_IO_IN = 1u << 3,
	VMX_IO_STRING = 1u << 4,
	VMX_IO_REP = 1u << 5,
	VMX_IO_IMM = 1u << 6,
	VMX_IO_PORT_SHIFT = 16,
	/* EPT-violation qualification (SDM 28.2.1) */
	VMX_EPT_PROT_SHIFT = 3, /* bits 5:3 = the entry's R/W/X, same order as VMSIM_PROT_* */
	VMX_EPT_GLA_VALID = 1u << 7,
	VMX_EPT_FINAL = 1u << 8,
	VMX_EPT_USER = 1u << 9,   /* with bits 7 and 8: a user-mode linear address (advanced info) */
	VMX_EPT_DEFINED = 0x1ffff, /* bits 16:0 (Table 28-7); 6 and 10-16 are accepted and not modelled */
};
#define VMX_IO_KNOWN_BITS 0xffff007full

/* ---- exit qualifications ------------------------------------------------------ */

static void io_encode(const struct vmsim_exit *exit, uint64_t *code, uint64_t *q1, uint64_t *q2)
{
	(void)code;
	(void)q2; /* address size and segment live in the instruction-information field Genode drops */
	/* SDM vol. 3C 28.2.1 Table 28-5; the length is the VM-exit instruction-length field (ip_len). */
	*q1 = (uint64_t)(exit->u.io.size - 1) | (exit->u.io.in ? VMX_IO_IN : 0) |
	      (exit->u.io.string ? VMX_IO_STRING : 0) | (exit->u.io.rep ? VMX_IO_REP : 0) |
	      (exit->u.io.imm ? VMX_IO_IMM : 0) | ((uint64_t)exit->u.io.port << VMX_IO_PORT_SHIFT);
}

static enum vmsim_result io_decode(unsigned code, uint64_t q1, uint64_t q2, struct vmsim_exit *out)
{
	unsigned size_field = q1 & 7;

	(void)code;
	(void)q2; /* the guest-physical-address field is undefined for I/O exits (SDM 28.2.1) */
	if ((q1 & ~VMX_IO_KNOWN_BITS) || (size_field != 0 && size_field != 1 && size_field != 3))
		return VMSIM_INVALID_ARGUMENT;
	out->u.io.size = (uint8_t)(size_field + 1);
	out->u.io.in = q1 & VMX_IO_IN;
	out->u.io.string = q1 & VMX_IO_STRING;
	out->u.io.rep = q1 & VMX_IO_REP;
	out->u.io.imm = q1 & VMX_IO_IMM;
	out->u.io.port = (uint16_t)(q1 >> VMX_IO_PORT_SHIFT);
	return VMSIM_OK;
}

static void npf_encode(const struct vmsim_exit *exit, uint64_t *code, uint64_t *q1, uint64_t *q2)
{
	(void)code;
	/* SDM vol. 3C 28.2.1 Table 28-7. VMSIM_ACCESS_READ/WRITE/FETCH are bits 0/1/2 there too. */
	*q1 = exit->u.npf.access | ((uint64_t)exit->u.npf.prot << VMX_EPT_PROT_SHIFT);
	/* Bit 8 (only with bit 7): 1 = the final translation, 0 = a guest paging-structure access. */
	if (exit->u.npf.gla_valid)
		*q1 |= VMX_EPT_GLA_VALID | (exit->u.npf.walk ? 0 : VMX_EPT_FINAL);
	/* Bit 9 is defined with bits 7 and 8 only: user-mode linear address. */
	if (exit->u.npf.gla_valid && !exit->u.npf.walk && exit->u.npf.user)
		*q1 |= VMX_EPT_USER;
	*q2 = exit->u.npf.gpa;
}

static enum vmsim_result npf_decode(unsigned code, uint64_t q1, uint64_t q2, struct vmsim_exit *out)
{
	bool gla_valid = q1 & VMX_EPT_GLA_VALID, final = q1 & VMX_EPT_FINAL;

	(void)code;
	/* Bit 8 is reserved (0) without bit 7; bits 9-11 (advanced info), 12 (NMI unblocking) may be set. */
	if ((q1 & ~(uint64_t)VMX_EPT_DEFINED) || !model_access_valid(q1 & 7) || (final && !gla_valid))
		return VMSIM_INVALID_ARGUMENT;
	out->u.npf.gpa = q2;
	out->u.npf.access = (uint8_t)(q1 & 7);
	out->u.npf.prot = (uint8_t)((q1 >> VMX_EPT_PROT_SHIFT) & 7);
	out->u.npf.gla_valid = gla_valid;
	out->u.npf.walk = gla_valid && !final;
	out->u.npf.user = gla_valid && final && (q1 & VMX_EPT_USER);
	return VMSIM_OK;
}

static void msr_encode(const struct vmsim_exit *exit, uint64_t *code, uint64_t *q1, uint64_t *q2)
{
	(void)q1;
	(void)q2;
	if (exit->u.msr.write)
		*code = VMX_EXIT_WRMSR;
}

static enum vmsim_result msr_decode(unsigned code, uint64_t q1, uint64_t q2, struct vmsim_exit *out)
{
	(void)q2; /* guest-physical address: undefined */
	if (q1 != 0) /* no qualification for RDMSR/WRMSR: cleared (SDM 28.2.1) */
		return VMSIM_INVALID_ARGUMENT;
	out->u.msr.write = code == VMX_EXIT_WRMSR;
	return VMSIM_OK;
}

/*
 * Reason 0, as base-hw's vmx.cc fills Vcpu_state: qual_primary = the exit
 * qualification (SDM vol. 3C 28.2.1: #PF -> the linear address, #DB -> Table
 * 28-1 bits, all other vectors -> cleared), qual_secondary = the guest-physical
 * address field (undefined here: vmsim writes 0). The VM-exit interruption
 * information and error code (VMCS 0x4404/0x4406) have no Vcpu_state field,
 * so vector and error code do not reach the VMM (models.md).
 */
static void exception_encode(const struct vmsim_exit *exit, uint64_t *code, uint64_t *q1, uint64_t *q2)
{
	(void)code;
	*q1 = exit->u.exception.qual;
	*q2 = 0;
}

static enum vmsim_result exception_decode(unsigned code, uint64_t q1, uint64_t q2, struct vmsim_exit *out)
{
	(void)code;
	(void)q2;
	out->u.exception.vector = VMSIM_VECTOR_UNKNOWN;
	out->u.exception.qual = q1;
	return VMSIM_OK;
}

static const qual_encode_fn vmx_qual_encoders[VMSIM_EXIT_KIND_COUNT] = {
	[VMSIM_EXIT_IO] = io_encode,
	[VMSIM_EXIT_NPF] = npf_encode,
	[VMSIM_EXIT_MSR] = msr_encode,
	[VMSIM_EXIT_EXCEPTION] = exception_encode,
};

static const qual_decode_fn vmx_qual_decoders[VMSIM_EXIT_KIND_COUNT] = {
	[VMSIM_EXIT_IO] = io_decode,
	[VMSIM_EXIT_NPF] = npf_decode,
	[VMSIM_EXIT_MSR] = msr_decode,
	[VMSIM_EXIT_EXCEPTION] = exception_decode,
};

static enum vmsim_exit_kind vmx_kind_of_code(unsigned exit_reason)
{
	if (exit_reason == VMX_EXIT_WRMSR)
		return VMSIM_EXIT_MSR;
	return model_kind_by_code(vmx_kind_codes, exit_reason);
}

static const char *vmx_exit_name(unsigned exit_reason)
{
#define VMX_NAME_CASE_(code, text) case code: return text;
	switch (exit_reason) {
	VMX_EXIT_NAMES(VMX_NAME_CASE_)
	}
	return NULL;
#undef VMX_NAME_CASE_
}

/* ---- events, interruptibility, activity (SDM 27.2.1.3, 25.4.2) ------------------- */

static enum vmsim_result vmx_decode_event(uint64_t inj_info, uint64_t inj_error, uint64_t ip_len,
                                          struct vmsim_event *out, enum vmsim_invalid_reason *reason)
{
	struct inj_fields f = model_split_inj_info(inj_info);
	bool software = f.type >= VMSIM_EVENT_SW_INT && f.type <= VMSIM_EVENT_SW_EXCEPTION;

	out->want_intr_window = f.want_intr_window;
	out->want_nmi_window = f.want_nmi_window;
	if (!f.valid)
		return VMSIM_OK;

	/* SDM 27.2.1.3, VM-entry control fields: each failure is a VM-entry failure. The SDM sets no vector rule for
	 * external interrupts: a real-mode guest's PIC vectors (8-15 after the BIOS's ICW2) are injected as they are. */
	bool bad = f.reserved_set || f.type == 1 || f.type == 7 ||
	           (f.type == VMSIM_EVENT_NMI && f.vector != 2) ||
	           (f.type == VMSIM_EVENT_HW_EXCEPTION && f.vector > 31) ||
	           (f.has_error && (f.type != VMSIM_EVENT_HW_EXCEPTION ||
	                            !model_vector_has_error(VMSIM_MODEL_VMX, f.vector))) ||
	           (f.has_error && (inj_error >> 16) != 0) || /* error-code bits 31:16 must be 0 */
	           (software && (ip_len < 1 || ip_len > MODEL_MAX_INSN_LEN));
	if (bad) {
		*reason = VMSIM_INVALID_EVENT;
		return VMSIM_INVALID_ARGUMENT;
	}
	out->valid = true;
	out->type = (enum vmsim_event_type)f.type;
	out->vector = f.vector;
	out->has_error = f.has_error;
	out->error_code = f.has_error ? (uint32_t)inj_error : 0;
	out->insn_len = software ? (uint8_t)ip_len : 0;
	return VMSIM_OK;
}

#define VMX_BLOCK_ALL (VMSIM_BLOCK_STI | VMSIM_BLOCK_MOVSS | VMSIM_BLOCK_SMI | VMSIM_BLOCK_NMI)

/* Guest interruptibility state bits 3:0 (SDM 25.4.2) are the neutral layout. */
static uint64_t vmx_encode_intr_state(uint32_t blocking)
{
	return blocking & VMX_BLOCK_ALL;
}

/* Bit 4: enclave interruption (SDM vol. 3C 25.4.2 Table 25-3), set by hardware; accepted, not modelled. */
#define VMX_INTR_ENCLAVE 0x10u

static enum vmsim_result vmx_decode_intr_state(uint64_t intr_state, uint32_t *blocking)
{
	if (intr_state & ~(uint64_t)(VMX_BLOCK_ALL | VMX_INTR_ENCLAVE))
		return VMSIM_INVALID_ARGUMENT; /* bits 31:5 are reserved */
	*blocking = (uint32_t)intr_state & VMX_BLOCK_ALL;
	return VMSIM_OK;
}

/* Activity state 0 active, 1 HLT, 2 shutdown, 3 wait-for-SIPI (SDM 25.4.2) = the neutral values. */
static uint64_t vmx_encode_activity(uint32_t activity)
{
	return activity; /* out-of-range values pass through for decode/check_entry to refuse */
}

static enum vmsim_result vmx_decode_activity(uint64_t actv_state, uint32_t *activity)
{
	if (actv_state > VMSIM_ACTIVITY_WAIT_SIPI)
		return VMSIM_INVALID_ARGUMENT;
	*activity = (uint32_t)actv_state;
	return VMSIM_OK;
}

/* ---- intercept controls (SDM 25.6.2) --------------------------- */

/* X(word, bit, intercept): word 0 = primary processor-based, word 1 = secondary. First bit wins on encode. */
#define VMX_CONTROL_BITS(X)                                \
	X(0, 2, VMSIM_INTERCEPT_INTR_WINDOW)               \
	X(0, 3, VMSIM_INTERCEPT_TSC_OFFSET)                \
	X(0, 7, VMSIM_INTERCEPT_HLT)                       \
	X(0, 12, VMSIM_INTERCEPT_RDTSC)                    \
	X(0, 22, VMSIM_INTERCEPT_NMI_WINDOW)               \
	X(1, 7, VMSIM_INTERCEPT_UNRESTRICTED_GUEST)

#define VMX_PRIMARY_RDTSC (1ull << 12)
/*
 * SDM vol. 3C 26.1.3: "use I/O bitmaps" (25) overrides "unconditional I/O
 * exiting" (24); without "use MSR bitmaps" (28) every RDMSR/WRMSR exits.
 * Genode passes no bitmap, so vmsim models the kernel's bitmaps as empty:
 * with bit 25 or 28 set, no I/O or MSR access exits.
 */
#define VMX_PRIMARY_UNCOND_IO (1ull << 24)
#define VMX_PRIMARY_IO_BITMAPS (1ull << 25)
#define VMX_PRIMARY_MSR_BITMAPS (1ull << 28)
#define VMX_SECONDARY_RDTSCP (1ull << 3)
/* CPUID, VMCALL and triple faults exit unconditionally on VMX (SDM 26.1.2). */
#define VMX_ALWAYS (VMSIM_INTERCEPT_CPUID | VMSIM_INTERCEPT_VMCALL | VMSIM_INTERCEPT_SHUTDOWN)

static enum vmsim_result vmx_decode_controls(uint64_t primary, uint64_t secondary, uint32_t *intercepts,
                                             enum vmsim_invalid_reason *reason)
{
	const uint64_t words[2] = { primary, secondary };
	uint32_t out = VMX_ALWAYS;

	(void)reason; /* the kernel ORs in what it needs (bit 31, EPT): nothing a VMM adds is refused */
#define VMX_DECODE_BIT_(word, bit, intercept) \
	if (words[word] & (1ull << (bit)))    \
		out |= (intercept);
	VMX_CONTROL_BITS(VMX_DECODE_BIT_)
#undef VMX_DECODE_BIT_
	if ((primary & VMX_PRIMARY_UNCOND_IO) && !(primary & VMX_PRIMARY_IO_BITMAPS))
		out |= VMSIM_INTERCEPT_IO;
	if (!(primary & VMX_PRIMARY_MSR_BITMAPS))
		out |= VMSIM_INTERCEPT_MSR;
	/* RDTSCP exits only if "enable RDTSCP" and "RDTSC exiting" are both 1 (SDM 26.1.3). */
	if ((secondary & VMX_SECONDARY_RDTSCP) && (primary & VMX_PRIMARY_RDTSC))
		out |= VMSIM_INTERCEPT_RDTSCP;
	*intercepts = out;
	return VMSIM_OK;
}

static void vmx_encode_controls(uint32_t intercepts, uint64_t *primary, uint64_t *secondary)
{
	uint64_t words[2] = { 0, 0 };
	uint32_t done = 0;

#define VMX_ENCODE_BIT_(word, bit, intercept)               \
	if ((intercepts & (intercept)) && !(done & (intercept))) { \
		words[word] |= 1ull << (bit);                       \
		done |= (intercept);                                \
	}
	VMX_CONTROL_BITS(VMX_ENCODE_BIT_)
#undef VMX_ENCODE_BIT_
	if (intercepts & VMSIM_INTERCEPT_IO)
		words[0] |= VMX_PRIMARY_UNCOND_IO;
	if (!(intercepts & VMSIM_INTERCEPT_MSR))
		words[0] |= VMX_PRIMARY_MSR_BITMAPS;
	if (intercepts & VMSIM_INTERCEPT_RDTSCP) {
		words[0] |= VMX_PRIMARY_RDTSC;
		words[1] |= VMX_SECONDARY_RDTSCP;
	}
	*primary = words[0];
	*secondary = words[1];
}

/* ---- VM-entry guest-state checks (SDM 27.3.1), a documented minimal set --------------- */

#define RFLAGS_FIXED1 (1ull << 1)
#define RFLAGS_VM (1ull << 17)
/* Bits 63:22, 15, 5 and 3 are reserved and must be 0 (SDM 27.3.1.4). */
#define RFLAGS_RESERVED (~0x3fffffull | (1ull << 15) | (1ull << 5) | (1ull << 3))
#define V8086_AR 0xf3u /* present, DPL 3, accessed read/write data */

static enum vmsim_result fail(enum vmsim_invalid_reason *reason, enum vmsim_invalid_reason why)
{
	*reason = why;
	return VMSIM_INVALID_ARGUMENT;
}

/* CS and SS access rights (SDM 27.3.1.2); other segments are not checked. */
static bool segments_valid(const struct vmsim_cpu_state *cpu, bool unrestricted)
{
	uint16_t cs = cpu->cs.ar, ss = cpu->ss.ar;
	unsigned cs_type = seg_type(cs);
	bool pe = cpu->cr0 & CR0_PE;

	if (cpu->rflags & RFLAGS_VM)
		return cs == V8086_AR && ss == V8086_AR;
	if (seg_unusable(cs) || !seg_s(cs) || !seg_present(cs))
		return false;
	/* Accessed code (9, 11, 13, 15), or accessed read/write data (3) for an unrestricted guest. */
	bool code = cs_type == 9 || cs_type == 11 || cs_type == 13 || cs_type == 15;
	if (!code && !(cs_type == 3 && unrestricted))
		return false;
	if (cs_type == 3 && seg_dpl(cs) != 0)
		return false;
	if ((cs_type == 9 || cs_type == 11) && seg_dpl(cs) != seg_dpl(ss))
		return false;
	if ((cs_type == 13 || cs_type == 15) && seg_dpl(cs) > seg_dpl(ss))
		return false;
	if ((cpu->efer & EFER_LMA) && seg_long(cs) && seg_db(cs))
		return false;
	if (!seg_unusable(ss) && ((seg_type(ss) != 3 && seg_type(ss) != 7) || !seg_s(ss) || !seg_present(ss)))
		return false;
	return pe || seg_dpl(ss) == 0;
}

/* The injection at entry: state-free field checks via decode, then the state-dependent ones. */
static bool pending_valid(const struct vmsim_cpu_state *cpu)
{
	const struct vmsim_event *event = &cpu->pending;
	uint64_t info, error;

	if (!event->valid)
		return true;
	if (model_encode_event(&model_vmx_ops, event, &info, &error) != VMSIM_OK)
		return false;
	/* Deliver-error-code is 1 exactly for a pushing exception in protected mode (SDM 27.2.1.3). */
	bool should_have_error = event->type == VMSIM_EVENT_HW_EXCEPTION && (cpu->cr0 & CR0_PE) &&
	                         model_vector_has_error(VMSIM_MODEL_VMX, event->vector);
	if (event->has_error != should_have_error)
		return false;
	/* An external interrupt needs RFLAGS.IF=1 and no STI/MOV SS blocking (SDM 27.3.1.4, 27.3.1.5). */
	if (event->type == VMSIM_EVENT_EXTINT &&
	    (!(cpu->rflags & RFLAGS_IF) || (cpu->interruptibility & (VMSIM_BLOCK_STI | VMSIM_BLOCK_MOVSS))))
		return false;
	return true;
}

static enum vmsim_result vmx_check_entry(const struct vmsim_cpu_state *cpu, enum vmsim_invalid_reason *reason)
{
	bool unrestricted = cpu->intercepts & VMSIM_INTERCEPT_UNRESTRICTED_GUEST;
	bool pe = cpu->cr0 & CR0_PE, pg = cpu->cr0 & CR0_PG;
	bool lma = cpu->efer & EFER_LMA, lme = cpu->efer & EFER_LME;

	/* SDM 27.3.1.1: CR0 reserved 63:32; PG needs PE; PE=0 or PG=0 only for an unrestricted guest. */
	if ((cpu->cr0 >> 32) || (pg && !pe))
		return fail(reason, VMSIM_INVALID_CR0);
	if ((!pe || !pg) && !unrestricted)
		return fail(reason, VMSIM_INVALID_UNRESTRICTED);
	/* SDM 27.3.1.1: "IA-32e mode guest" = EFER.LMA, which must equal LME when paging. */
	if (lma != (lme && pg))
		return fail(reason, VMSIM_INVALID_EFER);
	if (lma && !(cpu->cr4 & CR4_PAE))
		return fail(reason, VMSIM_INVALID_CR4);
	if (!(cpu->rflags & RFLAGS_FIXED1) || (cpu->rflags & RFLAGS_RESERVED) || (lma && (cpu->rflags & RFLAGS_VM)))
		return fail(reason, VMSIM_INVALID_RFLAGS);
	if (!segments_valid(cpu, unrestricted))
		return fail(reason, VMSIM_INVALID_SEGMENT);
	/* SDM 27.3.1.5: activity 0-3, and HLT only at SS.DPL 0. */
	if (cpu->activity > VMSIM_ACTIVITY_WAIT_SIPI ||
	    (cpu->activity == VMSIM_ACTIVITY_HLT && seg_dpl(cpu->ss.ar) != 0))
		return fail(reason, VMSIM_INVALID_ACTIVITY);
	if (!pending_valid(cpu))
		return fail(reason, VMSIM_INVALID_EVENT);
	return VMSIM_OK;
}

const struct model_ops model_vmx_ops = {
	.name = "vmx",
	.kind_codes = vmx_kind_codes,
	.kind_of_code = vmx_kind_of_code,
	.qual_encoders = vmx_qual_encoders,
	.qual_decoders = vmx_qual_decoders,
	.exit_name = vmx_exit_name,
	.ip_len_architectural = true,
	.qual_primary_cleared = true,
	.decode_event = vmx_decode_event,
	.encode_intr_state = vmx_encode_intr_state,
	.decode_intr_state = vmx_decode_intr_state,
	.encode_activity = vmx_encode_activity,
	.decode_activity = vmx_decode_activity,
	.decode_controls = vmx_decode_controls,
	.encode_controls = vmx_encode_controls,
	.check_entry = vmx_check_entry,
};
