/* vmsim/hwstate.h - reference translation Vcpu_state <-> VMCB (APM) and <-> VMCS fields (SDM), as a kernel does it. */
#ifndef VMSIM_API_HWSTATE_H
#define VMSIM_API_HWSTATE_H

#include <stddef.h>
#include <stdint.h>

#include <vmsim/result.h>
#include <vmsim/vcpu_state.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What a Genode kernel does between the hardware and the Vcpu_state page,
 * written from AMD64 APM vol. 2 appendix B (VMCB layout, Tables B-1/B-2) and
 * Intel SDM vol. 3D appendix B (VMCS field encodings) / vol. 3C ch. 25 and 28,
 * with base-hw's kernel/svm.cc and kernel/vmx.cc as the worked example. "from_*"
 * is the exit direction (charge the state from the hardware image); "to_*" the
 * entry direction (write only what is charged). Pure functions, no state.
 */

/* ---- SVM: the VMCB (4096 bytes) ----------------------------------------------------------- */
enum { VMSIM_VMCB_SIZE = 4096 };

/* Byte offsets, APM vol. 2 Table B-1 (control area) and B-2 (state save area, base 0x400). */
enum vmsim_vmcb_offset {
	VMSIM_VMCB_INTERCEPT_EXCEPTIONS = 0x008, /* word 2: one bit per vector */
	VMSIM_VMCB_INTERCEPT_MISC1 = 0x00c,      /* word 3 = Genode's ctrl_primary */
	VMSIM_VMCB_INTERCEPT_MISC2 = 0x010,      /* word 4 = Genode's ctrl_secondary */
	VMSIM_VMCB_TSC_OFFSET = 0x050,
	VMSIM_VMCB_INT_CONTROL = 0x060,          /* V_TPR 7:0, V_IRQ 8, V_IGN_TPR 20 */
	VMSIM_VMCB_INT_SHADOW = 0x068,           /* bit 0 INTERRUPT_SHADOW, bit 1 GUEST_INTERRUPT_MASK */
	VMSIM_VMCB_EXITCODE = 0x070,
	VMSIM_VMCB_EXITINFO1 = 0x078,
	VMSIM_VMCB_EXITINFO2 = 0x080,
	VMSIM_VMCB_EXITINTINFO = 0x088,
	VMSIM_VMCB_EVENTINJ = 0x0a8,
	VMSIM_VMCB_NRIP = 0x0c8,                 /* next sequential rIP (NRIP save) */
	VMSIM_VMCB_ES = 0x400,                   /* segments: sel 16, attrib 16, limit 32, base 64 */
	VMSIM_VMCB_CS = 0x410,
	VMSIM_VMCB_SS = 0x420,
	VMSIM_VMCB_DS = 0x430,
	VMSIM_VMCB_FS = 0x440,
	VMSIM_VMCB_GS = 0x450,
	VMSIM_VMCB_GDTR = 0x460,                 /* limit at +4, base at +8 */
	VMSIM_VMCB_LDTR = 0x470,
	VMSIM_VMCB_IDTR = 0x480,
	VMSIM_VMCB_TR = 0x490,
	VMSIM_VMCB_EFER = 0x4d0,
	VMSIM_VMCB_CR4 = 0x548,
	VMSIM_VMCB_CR3 = 0x550,
	VMSIM_VMCB_CR0 = 0x558,
	VMSIM_VMCB_DR7 = 0x560,
	VMSIM_VMCB_RFLAGS = 0x570,
	VMSIM_VMCB_RIP = 0x578,
	VMSIM_VMCB_RSP = 0x5d8,
	VMSIM_VMCB_RAX = 0x5f8,
	VMSIM_VMCB_STAR = 0x600,
	VMSIM_VMCB_LSTAR = 0x608,
	VMSIM_VMCB_CSTAR = 0x610,
	VMSIM_VMCB_SFMASK = 0x618,
	VMSIM_VMCB_KERNEL_GS_BASE = 0x620,
	VMSIM_VMCB_SYSENTER_CS = 0x628,
	VMSIM_VMCB_SYSENTER_ESP = 0x630,
	VMSIM_VMCB_SYSENTER_EIP = 0x638,
	VMSIM_VMCB_CR2 = 0x640
};

/* from_vmcb flags: VMEXIT_INVALID (-1) as 0xfd (NOVA/Fiasco.OC) instead of base-hw's 0xffffffff. */
enum { VMSIM_HWSTATE_SVM_INVALID_AS_FD = 1u << 0 };

/*
 * Exit: charge *state from a VMCB image (size >= 4096) and set exit_reason (0x400 -> 0xfc, 0x60 -> 0xff).
 * ip_len is charged only when NRIP - RIP is 1..15, else left as it was (SVM has no length field).
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_hwstate_from_vmcb(const void *vmcb, size_t size, unsigned flags,
                                                           struct vmsim_vcpu_state *state);
/* Entry: write the charged registers into a VMCB image; inj_info 0x1000 -> V_IRQ + VINTR intercept. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_hwstate_to_vmcb(const struct vmsim_vcpu_state *state, void *vmcb,
                                                         size_t size);

/* ---- VMX: VMCS fields by encoding ---------------------------------------------------------- */

/* Field encodings, SDM vol. 3D appendix B (the ones the translation uses). */
enum vmsim_vmcs_encoding {
	VMSIM_VMCS_GUEST_ES_SELECTOR = 0x0800,  /* +2 per segment: ES CS SS DS FS GS LDTR TR */
	VMSIM_VMCS_TSC_OFFSET = 0x2010,
	VMSIM_VMCS_GUEST_PHYSICAL_ADDRESS = 0x2400,
	VMSIM_VMCS_GUEST_IA32_EFER = 0x2806,
	VMSIM_VMCS_GUEST_PDPTE0 = 0x280a,       /* +2 per PDPTE */
	VMSIM_VMCS_PRI_PROC_BASED_CTLS = 0x4002,
	VMSIM_VMCS_ENTRY_CONTROLS = 0x4012,
	VMSIM_VMCS_ENTRY_INTR_INFO = 0x4016,
	VMSIM_VMCS_ENTRY_EXCEPTION_ERROR = 0x4018,
	VMSIM_VMCS_ENTRY_INSTRUCTION_LEN = 0x401a,
	VMSIM_VMCS_TPR_THRESHOLD = 0x401c,
	VMSIM_VMCS_SEC_PROC_BASED_CTLS = 0x401e,
	VMSIM_VMCS_EXIT_REASON = 0x4402,
	VMSIM_VMCS_EXIT_INTR_INFO = 0x4404,
	VMSIM_VMCS_EXIT_INTR_ERROR = 0x4406,
	VMSIM_VMCS_IDT_VECTORING_INFO = 0x4408,
	VMSIM_VMCS_IDT_VECTORING_ERROR = 0x440a,
	VMSIM_VMCS_EXIT_INSTRUCTION_LEN = 0x440c,
	VMSIM_VMCS_GUEST_ES_LIMIT = 0x4800,     /* +2 per segment; GDTR 0x4810, IDTR 0x4812 */
	VMSIM_VMCS_GUEST_GDTR_LIMIT = 0x4810,
	VMSIM_VMCS_GUEST_IDTR_LIMIT = 0x4812,
	VMSIM_VMCS_GUEST_ES_ACCESS_RIGHTS = 0x4814, /* +2 per segment */
	VMSIM_VMCS_GUEST_INTERRUPTIBILITY = 0x4824,
	VMSIM_VMCS_GUEST_ACTIVITY_STATE = 0x4826,
	VMSIM_VMCS_GUEST_SYSENTER_CS = 0x482a,
	VMSIM_VMCS_CR0_READ_SHADOW = 0x6004,
	VMSIM_VMCS_CR4_READ_SHADOW = 0x6006,
	VMSIM_VMCS_EXIT_QUALIFICATION = 0x6400,
	VMSIM_VMCS_GUEST_CR0 = 0x6800,
	VMSIM_VMCS_GUEST_CR3 = 0x6802,
	VMSIM_VMCS_GUEST_CR4 = 0x6804,
	VMSIM_VMCS_GUEST_ES_BASE = 0x6806,      /* +2 per segment; GDTR 0x6816, IDTR 0x6818 */
	VMSIM_VMCS_GUEST_GDTR_BASE = 0x6816,
	VMSIM_VMCS_GUEST_IDTR_BASE = 0x6818,
	VMSIM_VMCS_GUEST_DR7 = 0x681a,
	VMSIM_VMCS_GUEST_RSP = 0x681c,
	VMSIM_VMCS_GUEST_RIP = 0x681e,
	VMSIM_VMCS_GUEST_RFLAGS = 0x6820,
	VMSIM_VMCS_GUEST_SYSENTER_ESP = 0x6824,
	VMSIM_VMCS_GUEST_SYSENTER_EIP = 0x6826
};

enum { VMSIM_VMCS_MAX_FIELDS = 96 };

/* A sparse VMCS: the fields a test or a kernel model wrote, by encoding (zero-initialise it). */
struct vmsim_vmcs {
	unsigned count;
	struct {
		uint32_t encoding;
		uint64_t value;
	} field[VMSIM_VMCS_MAX_FIELDS];
};

/* VMWRITE: INVALID_ARGUMENT for a malformed encoding or a value wider than the field (bits 14:13). */
VMSIM_MUST_CHECK enum vmsim_result vmsim_hwstate_vmcs_set(struct vmsim_vmcs *vmcs, uint32_t encoding,
                                                          uint64_t value);
/* VMREAD: a field never written reads 0 (as a cleared VMCS region would), found or not. */
uint64_t vmsim_hwstate_vmcs_get(const struct vmsim_vmcs *vmcs, uint32_t encoding);

/* Exit: charge *state from the VMCS as base-hw's vmx.cc does (qualification, gpa, IDT vectoring, ...). */
VMSIM_MUST_CHECK enum vmsim_result vmsim_hwstate_from_vmcs(const struct vmsim_vmcs *vmcs,
                                                           struct vmsim_vcpu_state *state);
/* Entry: VMWRITE the charged registers (AR converted, inj_info without Genode's window bits). */
VMSIM_MUST_CHECK enum vmsim_result vmsim_hwstate_to_vmcs(const struct vmsim_vcpu_state *state,
                                                         struct vmsim_vmcs *vmcs);

/* Intel access rights (bits 7:0, 15:12, 16 unusable; SDM vol. 3C 25.4.1) -> Genode's 12-bit ar (bit 12 unusable). */
uint16_t vmsim_hwstate_ar_to_genode(uint32_t intel_ar);
/* Genode's ar -> Intel access rights (the inverse; bits 11:8 of the Intel form stay 0). */
uint32_t vmsim_hwstate_ar_to_intel(uint16_t genode_ar);

#ifdef __cplusplus
}
#endif
#endif
