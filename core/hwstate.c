/* core/hwstate.c - Vcpu_state <-> VMCB / VMCS fields (hwstate.h); pure, no state. */
#include <string.h>

#include <vmsim/hwstate.h>

/* ---- little-endian VMCB access --------------------------------------------------------------- */

static uint64_t rd(const uint8_t *p, size_t off, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[off + i] << (8 * i);
	return v;
}

static void wr(uint8_t *p, size_t off, unsigned n, uint64_t v)
{
	for (unsigned i = 0; i < n; i++)
		p[off + i] = (uint8_t)(v >> (8 * i));
}

/* Segment records in the VMCB and Genode's Segment share one layout: sel 16, attrib 16, limit 32, base 64. */
#define VMCB_SEGMENTS(X) X(es, ES) X(cs, CS) X(ss, SS) X(ds, DS) X(fs, FS) X(gs, GS) X(ldtr, LDTR) X(tr, TR)
/* Plain 64-bit save-area fields. */
#define VMCB_REGS(X)                                                                                \
	X(ax, RAX) X(ip, RIP) X(flags, RFLAGS) X(sp, RSP) X(dr7, DR7) X(cr0, CR0) X(cr2, CR2) X(cr3, CR3) \
	X(cr4, CR4) X(efer, EFER) X(star, STAR) X(lstar, LSTAR) X(cstar, CSTAR) X(fmask, SFMASK)          \
	X(kernel_gs_base, KERNEL_GS_BASE) X(sysenter_cs, SYSENTER_CS) X(sysenter_sp, SYSENTER_ESP)        \
	X(sysenter_ip, SYSENTER_EIP) X(tsc_offset, TSC_OFFSET)

enum {
	SVM_EXIT_INTR = 0x60,
	SVM_EXIT_NPF = 0x400,
	GENODE_EXIT_NPF = 0xfc,
	GENODE_EXIT_INVALID = 0xfd,
	GENODE_EXIT_PAUSED = 0xff,
	INJ_INTR_WINDOW = 0x1000,
	INJ_NMI_WINDOW = 0x2000,
	INT_CONTROL_V_IRQ = 1u << 8,
	INT_CONTROL_V_IGN_TPR = 1u << 20,
	MISC1_VINTR = 1u << 4
};

enum vmsim_result vmsim_hwstate_from_vmcb(const void *vmcb, size_t size, unsigned flags,
                                          struct vmsim_vcpu_state *state)
{
	const uint8_t *v = vmcb;

	if (!vmcb || !state || size < VMSIM_VMCB_SIZE || (flags & ~(unsigned)VMSIM_HWSTATE_SVM_INVALID_AS_FD))
		return VMSIM_INVALID_ARGUMENT;
	uint64_t code = rd(v, VMSIM_VMCB_EXITCODE, 8);
	/* Genode's synthetic codes (genode-vm-session.md); VMEXIT_INVALID is -1 (APM appendix C). */
	if (code == SVM_EXIT_NPF)
		state->exit_reason = GENODE_EXIT_NPF;
	else if (code == SVM_EXIT_INTR)
		state->exit_reason = GENODE_EXIT_PAUSED;
	else if (code == UINT64_MAX)
		state->exit_reason = (flags & VMSIM_HWSTATE_SVM_INVALID_AS_FD) ? GENODE_EXIT_INVALID : 0xffffffffu;
	else
		state->exit_reason = (unsigned)code;

#define FROM_REG_(reg, OFF) vmsim_charge(state, reg, rd(v, VMSIM_VMCB_##OFF, 8));
	VMCB_REGS(FROM_REG_)
#undef FROM_REG_
#define FROM_SEG_(reg, OFF)                                                                        \
	vmsim_charge(state, reg, (struct vmsim_segment){ (uint16_t)rd(v, VMSIM_VMCB_##OFF, 2),   \
	                                                      (uint16_t)rd(v, VMSIM_VMCB_##OFF + 2, 2), \
	                                                      (uint32_t)rd(v, VMSIM_VMCB_##OFF + 4, 4), \
	                                                      rd(v, VMSIM_VMCB_##OFF + 8, 8) });
	VMCB_SEGMENTS(FROM_SEG_)
#undef FROM_SEG_
	vmsim_charge(state, gdtr, (struct vmsim_dtable){ (uint32_t)rd(v, VMSIM_VMCB_GDTR + 4, 4),
	                                                         rd(v, VMSIM_VMCB_GDTR + 8, 8) });
	vmsim_charge(state, idtr, (struct vmsim_dtable){ (uint32_t)rd(v, VMSIM_VMCB_IDTR + 4, 4),
	                                                         rd(v, VMSIM_VMCB_IDTR + 8, 8) });
	vmsim_charge(state, qual_primary, rd(v, VMSIM_VMCB_EXITINFO1, 8));
	vmsim_charge(state, qual_secondary, rd(v, VMSIM_VMCB_EXITINFO2, 8));
	/* EXITINTINFO (APM 15.7.2): the event the exit interrupted; error code in bits 63:32. */
	uint64_t intinfo = rd(v, VMSIM_VMCB_EXITINTINFO, 8);
	vmsim_charge(state, inj_info, intinfo & 0xffffffffu);
	vmsim_charge(state, inj_error, intinfo >> 32);
	vmsim_charge(state, intr_state, rd(v, VMSIM_VMCB_INT_SHADOW, 8) & 1);
	vmsim_charge(state, actv_state, 0); /* SVM has no activity state */
	vmsim_charge(state, tpr, rd(v, VMSIM_VMCB_INT_CONTROL, 1));
	/* NRIP (APM 15.7.1) where the CPU saved one; else ip_len is left as it was, as base-hw does. */
	uint64_t len = rd(v, VMSIM_VMCB_NRIP, 8) - state->ip.value;
	if (rd(v, VMSIM_VMCB_NRIP, 8) && len >= 1 && len <= 15)
		vmsim_charge(state, ip_len, len);
	return VMSIM_OK;
}

enum vmsim_result vmsim_hwstate_to_vmcb(const struct vmsim_vcpu_state *state, void *vmcb, size_t size)
{
	uint8_t *v = vmcb;

	if (!vmcb || !state || size < VMSIM_VMCB_SIZE)
		return VMSIM_INVALID_ARGUMENT;
	/* Check everything before writing anything. */
	if (((vmsim_charged(state, ctrl_primary) || vmsim_charged(state, ctrl_secondary)) &&
	     ((state->ctrl_primary.value | state->ctrl_secondary.value) >> 32)) ||
	    ((vmsim_charged(state, inj_info) || vmsim_charged(state, inj_error)) &&
	     ((state->inj_info.value | state->inj_error.value) >> 32)) ||
	    (vmsim_charged(state, tpr) && state->tpr.value > 0xff) ||
	    (vmsim_charged(state, intr_state) && state->intr_state.value > 1))
		return VMSIM_INVALID_ARGUMENT;

#define TO_REG_(reg, OFF)               \
	if (vmsim_charged(state, reg))         \
		wr(v, VMSIM_VMCB_##OFF, 8, state->reg.value);
	VMCB_REGS(TO_REG_)
#undef TO_REG_
#define TO_SEG_(reg, OFF)                                                  \
	if (vmsim_charged(state, reg)) {                                          \
		wr(v, VMSIM_VMCB_##OFF, 2, state->reg.value.sel);          \
		wr(v, VMSIM_VMCB_##OFF + 2, 2, state->reg.value.ar);       \
		wr(v, VMSIM_VMCB_##OFF + 4, 4, state->reg.value.limit);    \
		wr(v, VMSIM_VMCB_##OFF + 8, 8, state->reg.value.base);     \
	}
	VMCB_SEGMENTS(TO_SEG_)
#undef TO_SEG_
	if (vmsim_charged(state, gdtr)) {
		wr(v, VMSIM_VMCB_GDTR + 4, 4, state->gdtr.value.limit);
		wr(v, VMSIM_VMCB_GDTR + 8, 8, state->gdtr.value.base);
	}
	if (vmsim_charged(state, idtr)) {
		wr(v, VMSIM_VMCB_IDTR + 4, 4, state->idtr.value.limit);
		wr(v, VMSIM_VMCB_IDTR + 8, 8, state->idtr.value.base);
	}
	if (vmsim_charged(state, ctrl_primary) || vmsim_charged(state, ctrl_secondary)) {
		wr(v, VMSIM_VMCB_INTERCEPT_MISC1, 4, state->ctrl_primary.value);
		wr(v, VMSIM_VMCB_INTERCEPT_MISC2, 4, state->ctrl_secondary.value);
	}
	if (vmsim_charged(state, inj_info) || vmsim_charged(state, inj_error)) {
		/* Genode's 0x1000 asks for an interrupt window: a virtual interrupt that ignores V_TPR, intercepted. */
		uint64_t ctl = rd(v, VMSIM_VMCB_INT_CONTROL, 8) & ~(uint64_t)(INT_CONTROL_V_IRQ | INT_CONTROL_V_IGN_TPR);
		uint64_t misc1 = rd(v, VMSIM_VMCB_INTERCEPT_MISC1, 4) & ~(uint64_t)MISC1_VINTR;
		if (state->inj_info.value & INJ_INTR_WINDOW) {
			ctl |= INT_CONTROL_V_IRQ | INT_CONTROL_V_IGN_TPR;
			misc1 |= MISC1_VINTR;
		}
		wr(v, VMSIM_VMCB_INT_CONTROL, 8, ctl);
		wr(v, VMSIM_VMCB_INTERCEPT_MISC1, 4, misc1);
		/* EVENTINJ (APM 15.20): vector, type, EV, V; error code in 63:32; Genode's bits 12/13 masked. */
		wr(v, VMSIM_VMCB_EVENTINJ, 8,
		   (state->inj_info.value & ~(uint64_t)(INJ_INTR_WINDOW | INJ_NMI_WINDOW)) | (state->inj_error.value << 32));
	}
	if (vmsim_charged(state, intr_state))
		wr(v, VMSIM_VMCB_INT_SHADOW, 8, (rd(v, VMSIM_VMCB_INT_SHADOW, 8) & ~1ull) | state->intr_state.value);
	if (vmsim_charged(state, tpr))
		wr(v, VMSIM_VMCB_INT_CONTROL, 1, state->tpr.value);
	return VMSIM_OK;
}

/* ---- VMCS ---------------------------------------------------------------------------------------- */

/* SDM vol. 3D B: bit 0 access (1 = high half of a 64-bit field), 14:13 width, 12 and 31:15 reserved. */
static int field_bits(uint32_t encoding)
{
	unsigned width = (encoding >> 13) & 3;
	if ((encoding & 0xffff9000u) || ((encoding & 1) && width != 1))
		return -1;
	if (encoding & 1)
		return 32;
	return width == 0 ? 16 : width == 2 ? 32 : 64;
}

enum vmsim_result vmsim_hwstate_vmcs_set(struct vmsim_vmcs *vmcs, uint32_t encoding, uint64_t value)
{
	int bits = vmcs ? field_bits(encoding) : -1;

	if (bits < 0 || (bits < 64 && (value >> bits)) || vmcs->count > VMSIM_VMCS_MAX_FIELDS)
		return VMSIM_INVALID_ARGUMENT;
	for (unsigned i = 0; i < vmcs->count; i++) {
		if (vmcs->field[i].encoding == encoding) {
			vmcs->field[i].value = value;
			return VMSIM_OK;
		}
	}
	if (vmcs->count == VMSIM_VMCS_MAX_FIELDS)
		return VMSIM_OUT_OF_RAM;
	vmcs->field[vmcs->count].encoding = encoding;
	vmcs->field[vmcs->count].value = value;
	vmcs->count++;
	return VMSIM_OK;
}

uint64_t vmsim_hwstate_vmcs_get(const struct vmsim_vmcs *vmcs, uint32_t encoding)
{
	if (!vmcs)
		return 0;
	for (unsigned i = 0; i < vmcs->count && i < VMSIM_VMCS_MAX_FIELDS; i++)
		if (vmcs->field[i].encoding == encoding)
			return vmcs->field[i].value;
	return 0;
}

uint16_t vmsim_hwstate_ar_to_genode(uint32_t intel_ar)
{
	/* bits 7:0 type/S/DPL/P stay; AVL/L/DB/G 15:12 -> 11:8; unusable 16 -> 12 */
	return (uint16_t)(((intel_ar >> 4) & 0x1f00u) | (intel_ar & 0xffu));
}

uint32_t vmsim_hwstate_ar_to_intel(uint16_t genode_ar)
{
	return (((uint32_t)genode_ar << 4) & 0x1f000u) | (genode_ar & 0xffu);
}

/* Segments in encoding order (SDM vol. 3D B.1.2 / B.3.3 / B.4.3): ES CS SS DS FS GS LDTR TR. */
#define VMCS_SEGMENTS(X) X(es, 0) X(cs, 1) X(ss, 2) X(ds, 3) X(fs, 4) X(gs, 5) X(ldtr, 6) X(tr, 7)
#define VMCS_REGS(X)                                                                                  \
	X(ip, GUEST_RIP) X(ip_len, EXIT_INSTRUCTION_LEN) X(flags, GUEST_RFLAGS) X(sp, GUEST_RSP)         \
	X(dr7, GUEST_DR7) X(cr0, GUEST_CR0) X(cr3, GUEST_CR3) X(cr4, GUEST_CR4)                          \
	X(sysenter_cs, GUEST_SYSENTER_CS) X(sysenter_sp, GUEST_SYSENTER_ESP)                            \
	X(sysenter_ip, GUEST_SYSENTER_EIP) X(qual_primary, EXIT_QUALIFICATION)                          \
	X(qual_secondary, GUEST_PHYSICAL_ADDRESS) X(intr_state, GUEST_INTERRUPTIBILITY)                 \
	X(actv_state, GUEST_ACTIVITY_STATE) X(tsc_offset, TSC_OFFSET) X(efer, GUEST_IA32_EFER)         \
	X(pdpte_0, GUEST_PDPTE0) X(tpr_threshold, TPR_THRESHOLD)

enum {
	VMX_EXIT_INTR = 1,
	VMX_EXIT_INVALID_GUEST = 33,
	VMX_PRI_INTR_WINDOW = 1u << 2,
	VMX_PRI_NMI_WINDOW = 1u << 22,
	VMX_ENTRY_IA32E = 1u << 9,
	EFER_LMA = 1u << 10
};

enum vmsim_result vmsim_hwstate_from_vmcs(const struct vmsim_vmcs *vmcs, struct vmsim_vcpu_state *state)
{
	if (!vmcs || !state || vmcs->count > VMSIM_VMCS_MAX_FIELDS)
		return VMSIM_INVALID_ARGUMENT;
	/* base-hw keeps the basic reason (bits 15:0); an external interrupt is Genode's PAUSED. */
	unsigned reason = (unsigned)(vmsim_hwstate_vmcs_get(vmcs, VMSIM_VMCS_EXIT_REASON) & 0xffff);
	state->exit_reason = reason == VMX_EXIT_INTR ? GENODE_EXIT_PAUSED : reason;

#define FROM_FIELD_(reg, ENC) vmsim_charge(state, reg, vmsim_hwstate_vmcs_get(vmcs, VMSIM_VMCS_##ENC));
	VMCS_REGS(FROM_FIELD_)
#undef FROM_FIELD_
	vmsim_charge(state, pdpte_1, vmsim_hwstate_vmcs_get(vmcs, VMSIM_VMCS_GUEST_PDPTE0 + 2));
	vmsim_charge(state, pdpte_2, vmsim_hwstate_vmcs_get(vmcs, VMSIM_VMCS_GUEST_PDPTE0 + 4));
	vmsim_charge(state, pdpte_3, vmsim_hwstate_vmcs_get(vmcs, VMSIM_VMCS_GUEST_PDPTE0 + 6));
#define FROM_SEG_(reg, i)                                                                              \
	vmsim_charge(state, reg, \
	                 (struct vmsim_segment){                                                       \
	                         (uint16_t)vmsim_hwstate_vmcs_get(vmcs, VMSIM_VMCS_GUEST_ES_SELECTOR + 2 * (i)), \
	                         vmsim_hwstate_ar_to_genode((uint32_t)vmsim_hwstate_vmcs_get(                    \
	                                 vmcs, VMSIM_VMCS_GUEST_ES_ACCESS_RIGHTS + 2 * (i))),                      \
	                         (uint32_t)vmsim_hwstate_vmcs_get(vmcs, VMSIM_VMCS_GUEST_ES_LIMIT + 2 * (i)),    \
	                         vmsim_hwstate_vmcs_get(vmcs, VMSIM_VMCS_GUEST_ES_BASE + 2 * (i)) });
	VMCS_SEGMENTS(FROM_SEG_)
#undef FROM_SEG_
	vmsim_charge(state, gdtr,
	                    (struct vmsim_dtable){ (uint32_t)vmsim_hwstate_vmcs_get(vmcs, VMSIM_VMCS_GUEST_GDTR_LIMIT),
	                                           vmsim_hwstate_vmcs_get(vmcs, VMSIM_VMCS_GUEST_GDTR_BASE) });
	vmsim_charge(state, idtr,
	                    (struct vmsim_dtable){ (uint32_t)vmsim_hwstate_vmcs_get(vmcs, VMSIM_VMCS_GUEST_IDTR_LIMIT),
	                                           vmsim_hwstate_vmcs_get(vmcs, VMSIM_VMCS_GUEST_IDTR_BASE) });
	/*
	 * base-hw: after a recall or a failed entry the pending entry event is shown (it was not
	 * delivered); otherwise the IDT-vectoring information (SDM 28.2.3), the event the exit interrupted.
	 */
	bool pending = state->exit_reason == GENODE_EXIT_PAUSED || reason == VMX_EXIT_INVALID_GUEST;
	vmsim_charge(state, inj_info, vmsim_hwstate_vmcs_get(vmcs, pending ? VMSIM_VMCS_ENTRY_INTR_INFO
	                                                                         : VMSIM_VMCS_IDT_VECTORING_INFO));
	vmsim_charge(state, inj_error, vmsim_hwstate_vmcs_get(vmcs, pending ? VMSIM_VMCS_ENTRY_EXCEPTION_ERROR
	                                                                          : VMSIM_VMCS_IDT_VECTORING_ERROR));
	return VMSIM_OK;
}

/* VMWRITE unless an earlier one failed. */
static void set(struct vmsim_vmcs *vmcs, uint32_t encoding, uint64_t value, enum vmsim_result *r)
{
	if (*r == VMSIM_OK)
		*r = vmsim_hwstate_vmcs_set(vmcs, encoding, value);
}

static enum vmsim_result to_vmcs(const struct vmsim_vcpu_state *state, struct vmsim_vmcs *vmcs)
{
	enum vmsim_result r = VMSIM_OK;

	/* The entry direction has no exit-only fields: ip_len is the VM-entry instruction length. */
	if (vmsim_charged(state, ip)) {
		set(vmcs, VMSIM_VMCS_GUEST_RIP, state->ip.value, &r);
		set(vmcs, VMSIM_VMCS_ENTRY_INSTRUCTION_LEN, state->ip_len.value, &r);
	}
#define TO_FIELD_(reg, ENC)     \
	if (vmsim_charged(state, reg)) \
		set(vmcs, VMSIM_VMCS_##ENC, state->reg.value, &r);
	TO_FIELD_(flags, GUEST_RFLAGS)
	TO_FIELD_(sp, GUEST_RSP)
	TO_FIELD_(dr7, GUEST_DR7)
	TO_FIELD_(cr0, GUEST_CR0)
	TO_FIELD_(cr0, CR0_READ_SHADOW)
	TO_FIELD_(cr3, GUEST_CR3)
	TO_FIELD_(cr4, GUEST_CR4)
	TO_FIELD_(cr4, CR4_READ_SHADOW)
	TO_FIELD_(sysenter_cs, GUEST_SYSENTER_CS)
	TO_FIELD_(sysenter_sp, GUEST_SYSENTER_ESP)
	TO_FIELD_(sysenter_ip, GUEST_SYSENTER_EIP)
	TO_FIELD_(ctrl_primary, PRI_PROC_BASED_CTLS)
	TO_FIELD_(ctrl_secondary, SEC_PROC_BASED_CTLS)
	TO_FIELD_(intr_state, GUEST_INTERRUPTIBILITY)
	TO_FIELD_(actv_state, GUEST_ACTIVITY_STATE)
	TO_FIELD_(tsc_offset, TSC_OFFSET)
	TO_FIELD_(tpr_threshold, TPR_THRESHOLD)
	TO_FIELD_(pdpte_0, GUEST_PDPTE0)
#undef TO_FIELD_
	const struct vmsim_reg *pdpte[3] = { &state->pdpte_1, &state->pdpte_2, &state->pdpte_3 };
	const uint64_t pdpte_bit[3] = { VMSIM_CHARGED(pdpte_1), VMSIM_CHARGED(pdpte_2), VMSIM_CHARGED(pdpte_3) };
	for (unsigned i = 0; i < 3; i++)
		if (state->charged & pdpte_bit[i])
			set(vmcs, VMSIM_VMCS_GUEST_PDPTE0 + 2 * (i + 1), pdpte[i]->value, &r);
#define TO_SEG_(reg, i)                                                                                  \
	if (vmsim_charged(state, reg)) {                                                                        \
		set(vmcs, VMSIM_VMCS_GUEST_ES_SELECTOR + 2 * (i), state->reg.value.sel, &r);             \
		set(vmcs, VMSIM_VMCS_GUEST_ES_ACCESS_RIGHTS + 2 * (i),                                   \
		    vmsim_hwstate_ar_to_intel(state->reg.value.ar), &r);                                 \
		set(vmcs, VMSIM_VMCS_GUEST_ES_LIMIT + 2 * (i), state->reg.value.limit, &r);              \
		set(vmcs, VMSIM_VMCS_GUEST_ES_BASE + 2 * (i), state->reg.value.base, &r);                \
	}
	VMCS_SEGMENTS(TO_SEG_)
#undef TO_SEG_
	if (vmsim_charged(state, gdtr)) {
		set(vmcs, VMSIM_VMCS_GUEST_GDTR_LIMIT, state->gdtr.value.limit, &r);
		set(vmcs, VMSIM_VMCS_GUEST_GDTR_BASE, state->gdtr.value.base, &r);
	}
	if (vmsim_charged(state, idtr)) {
		set(vmcs, VMSIM_VMCS_GUEST_IDTR_LIMIT, state->idtr.value.limit, &r);
		set(vmcs, VMSIM_VMCS_GUEST_IDTR_BASE, state->idtr.value.base, &r);
	}
	if (vmsim_charged(state, efer)) {
		/* "IA-32e mode guest" entry control (SDM 25.8.1) follows EFER.LMA, as base-hw does. */
		uint64_t entry = vmsim_hwstate_vmcs_get(vmcs, VMSIM_VMCS_ENTRY_CONTROLS) & ~(uint64_t)VMX_ENTRY_IA32E;
		set(vmcs, VMSIM_VMCS_GUEST_IA32_EFER, state->efer.value, &r);
		set(vmcs, VMSIM_VMCS_ENTRY_CONTROLS, entry | ((state->efer.value & EFER_LMA) ? VMX_ENTRY_IA32E : 0), &r);
	}
	if (vmsim_charged(state, inj_info) || vmsim_charged(state, inj_error)) {
		/* Genode's window bits become interrupt-/NMI-window exiting (primary bits 2/22), then are masked. */
		uint64_t pri = vmsim_hwstate_vmcs_get(vmcs, VMSIM_VMCS_PRI_PROC_BASED_CTLS) &
		               ~(uint64_t)(VMX_PRI_INTR_WINDOW | VMX_PRI_NMI_WINDOW);
		pri |= (state->inj_info.value & INJ_INTR_WINDOW) ? VMX_PRI_INTR_WINDOW : 0;
		pri |= (state->inj_info.value & INJ_NMI_WINDOW) ? VMX_PRI_NMI_WINDOW : 0;
		set(vmcs, VMSIM_VMCS_PRI_PROC_BASED_CTLS, pri, &r);
		set(vmcs, VMSIM_VMCS_ENTRY_INTR_INFO,
		    state->inj_info.value & ~(uint64_t)(INJ_INTR_WINDOW | INJ_NMI_WINDOW), &r);
		set(vmcs, VMSIM_VMCS_ENTRY_EXCEPTION_ERROR, state->inj_error.value, &r);
	}
	return r;
}

enum vmsim_result vmsim_hwstate_to_vmcs(const struct vmsim_vcpu_state *state, struct vmsim_vmcs *vmcs)
{
	if (!vmcs || !state || vmcs->count > VMSIM_VMCS_MAX_FIELDS)
		return VMSIM_INVALID_ARGUMENT;
	/* All or nothing: a value too wide for its field leaves the VMCS as it was. */
	struct vmsim_vmcs tmp = *vmcs;
	enum vmsim_result r = to_vmcs(state, &tmp);
	if (r == VMSIM_OK)
		*vmcs = tmp;
	return r;
}
