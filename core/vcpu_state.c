/* core/vcpu_state.c - Genode's Vcpu_state helpers: discharge, clear, count and locate the charged bits. */
#include <stddef.h>
#include <string.h>

#include <vmsim/vcpu_state.h>

#define SIZE_OF_REG_(name) +sizeof(struct vmsim_reg)
#define SIZE_OF_SEG_(name) +sizeof(struct vmsim_seg_reg)
#define SIZE_OF_DTABLE_(name) +sizeof(struct vmsim_dtable_reg)

/*
 * The lists must name every member between `charged` and exit_reason: the registers are packed back to back, so
 * their sizes add up to exactly that span when nothing is missing (a member added to the struct breaks the build).
 */
_Static_assert(sizeof(uint64_t) VMSIM_STATE_PLAIN_REGS(SIZE_OF_REG_) VMSIM_STATE_SEG_REGS(SIZE_OF_SEG_)
                               VMSIM_STATE_DTABLE_REGS(SIZE_OF_DTABLE_) ==
                       offsetof(struct vmsim_vcpu_state, exit_reason),
               "VMSIM_STATE_*_REGS miss a register of struct vmsim_vcpu_state");
_Static_assert(VMSIM_SLOT_COUNT == 63, "one u64 of charged bits, bit 63 spare (the RPC's bitmap reserves it)");

void vmsim_vcpu_state_discharge(struct vmsim_vcpu_state *state)
{
	if (!state)
		return;
	state->charged = 0;
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
	return state ? (unsigned)__builtin_popcountll(state->charged & ((UINT64_C(1) << VMSIM_SLOT_COUNT) - 1)) : 0;
}

/* Each register's offset in the struct, by slot. */
#define OFFSET_(name) offsetof(struct vmsim_vcpu_state, name),
static const size_t slot_offset[VMSIM_SLOT_COUNT] = {
	VMSIM_STATE_PLAIN_REGS(OFFSET_) VMSIM_STATE_SEG_REGS(OFFSET_) VMSIM_STATE_DTABLE_REGS(OFFSET_)
	offsetof(struct vmsim_vcpu_state, fpu)
};
#undef OFFSET_

uint64_t vmsim_vcpu_state_bit(const struct vmsim_vcpu_state *state, const void *reg)
{
	if (!state || !reg)
		return 0;
	uintptr_t at = (uintptr_t)reg, base = (uintptr_t)state;
	if (at < base || at - base >= sizeof *state)
		return 0;
	for (unsigned slot = 0; slot < VMSIM_SLOT_COUNT; slot++)
		if (slot_offset[slot] == at - base)
			return UINT64_C(1) << slot;
	return 0; /* inside a register, or the charged word, exit_reason or padding */
}
