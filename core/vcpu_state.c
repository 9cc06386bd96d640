/* core/vcpu_state.c - Genode's Vcpu_state helpers: discharge, clear and count the charged flags. */
#include <stddef.h>
#include <string.h>

#include <vmsim/vcpu_state.h>

/* Every struct vmsim_reg member, in declaration order. */
#define VCPU_STATE_REGS(X)                                                                      \
	X(ax) X(cx) X(dx) X(bx) X(bp) X(si) X(di) X(sp) X(ip) X(ip_len) X(flags)                \
	X(cr0) X(cr2) X(cr3) X(cr4) X(dr7) X(sysenter_ip) X(sysenter_sp) X(sysenter_cs)         \
	X(qual_primary) X(qual_secondary) X(ctrl_primary) X(ctrl_secondary) X(inj_info)         \
	X(inj_error) X(intr_state) X(actv_state) X(tsc) X(tsc_offset) X(tsc_aux) X(efer)        \
	X(pdpte_0) X(pdpte_1) X(pdpte_2) X(pdpte_3) X(r8) X(r9) X(r10) X(r11) X(r12) X(r13)     \
	X(r14) X(r15) X(star) X(lstar) X(cstar) X(fmask) X(kernel_gs_base) X(tpr)               \
	X(tpr_threshold) X(xcr0) X(xss)
#define VCPU_STATE_SEGS(X) X(es) X(ds) X(fs) X(gs) X(cs) X(ss) X(tr) X(ldtr)
#define VCPU_STATE_DTABLES(X) X(gdtr) X(idtr)

#define SIZE_OF_REG_(name) +sizeof(struct vmsim_reg)
#define SIZE_OF_SEG_(name) +sizeof(struct vmsim_seg_reg)
#define SIZE_OF_DTABLE_(name) +sizeof(struct vmsim_dtable_reg)

/*
 * The lists must name every member before exit_reason: the registers are
 * packed back to back, so their sizes add up to exit_reason's offset exactly
 * when nothing is missing (a member added to the header breaks the build here).
 */
_Static_assert(0 VCPU_STATE_REGS(SIZE_OF_REG_) VCPU_STATE_SEGS(SIZE_OF_SEG_) VCPU_STATE_DTABLES(SIZE_OF_DTABLE_) ==
                       offsetof(struct vmsim_vcpu_state, exit_reason),
               "VCPU_STATE_* lists miss a register of struct vmsim_vcpu_state");

void vmsim_vcpu_state_discharge(struct vmsim_vcpu_state *state)
{
	if (!state)
		return;
#define DISCHARGE_(name) state->name.charged = false;
	VCPU_STATE_REGS(DISCHARGE_)
	VCPU_STATE_SEGS(DISCHARGE_)
	VCPU_STATE_DTABLES(DISCHARGE_)
#undef DISCHARGE_
	state->fpu.charged = false;
	/* Genode's discharge() assigns a fresh Vcpu_state: the plain exit_reason field becomes 0. */
	state->exit_reason = 0;
}

void vmsim_vcpu_state_clear(struct vmsim_vcpu_state *state)
{
	if (state)
		memset(state, 0, sizeof *state);
}

unsigned vmsim_vcpu_state_charged_count(const struct vmsim_vcpu_state *state)
{
	unsigned count = 0;

	if (!state)
		return 0;
#define COUNT_(name) count += state->name.charged ? 1u : 0u;
	VCPU_STATE_REGS(COUNT_)
	VCPU_STATE_SEGS(COUNT_)
	VCPU_STATE_DTABLES(COUNT_)
#undef COUNT_
	return count + (state->fpu.charged ? 1u : 0u);
}
