/* core/rpc/rpc_state.c - Vcpu_state's wire form: one charged bitmap, then every value in Genode's order. */
#include <stddef.h>

#include "rpc_wire.h"

/*
 * Bits 0..51 are the plain registers below, 52..59 the segment registers,
 * 60..61 gdtr/idtr and 62 the FPU; bit 63 is reserved and must be clear, so
 * a decoded state re-encodes to the same bytes.
 */
#define REG(name) offsetof(struct vmsim_vcpu_state, name)
#define REG_(name) REG(name),
/* in charged-bit order (vcpu_state.h), so the wire's bitmap is vmsim_vcpu_state.charged */
static const size_t plain_regs[] = { VMSIM_STATE_PLAIN_REGS(REG_) };
static const size_t seg_regs[] = { VMSIM_STATE_SEG_REGS(REG_) };
static const size_t dtable_regs[] = { VMSIM_STATE_DTABLE_REGS(REG_) };
#undef REG_
#undef REG

enum {
	PLAIN_COUNT = sizeof plain_regs / sizeof plain_regs[0],
	SEG_COUNT = sizeof seg_regs / sizeof seg_regs[0],
	DTABLE_COUNT = sizeof dtable_regs / sizeof dtable_regs[0],
	SEG_BIT = PLAIN_COUNT,
	DTABLE_BIT = SEG_BIT + SEG_COUNT,
	FPU_BIT = DTABLE_BIT + DTABLE_COUNT
};
_Static_assert(FPU_BIT == 62, "the charged bitmap is one u64 with bit 63 reserved");
_Static_assert(SEG_BIT == (int)VMSIM_SLOT_es && DTABLE_BIT == (int)VMSIM_SLOT_gdtr && FPU_BIT == (int)VMSIM_SLOT_fpu,
               "the wire's bitmap is vmsim_vcpu_state.charged");

static struct vmsim_reg *plain(struct vmsim_vcpu_state *s, unsigned i)
{
	return (struct vmsim_reg *)((char *)s + plain_regs[i]);
}

static struct vmsim_seg_reg *seg(struct vmsim_vcpu_state *s, unsigned i)
{
	return (struct vmsim_seg_reg *)((char *)s + seg_regs[i]);
}

static struct vmsim_dtable_reg *dtable(struct vmsim_vcpu_state *s, unsigned i)
{
	return (struct vmsim_dtable_reg *)((char *)s + dtable_regs[i]);
}

void wire_put_state(struct wire_writer *w, const struct vmsim_vcpu_state *state)
{
	/* the accessors do not write; one cast here keeps them shared by both directions */
	struct vmsim_vcpu_state *s = (struct vmsim_vcpu_state *)state;
	uint64_t charged = s->charged & ((UINT64_C(1) << VMSIM_SLOT_COUNT) - 1);
	wire_put(w, charged, 8);

	for (unsigned i = 0; i < PLAIN_COUNT; i++)
		wire_put(w, plain(s, i)->value, 8);
	for (unsigned i = 0; i < SEG_COUNT; i++) {
		const struct vmsim_segment *v = &seg(s, i)->value;
		wire_put(w, v->sel, 2);
		wire_put(w, v->ar, 2);
		wire_put(w, v->limit, 4);
		wire_put(w, v->base, 8);
	}
	for (unsigned i = 0; i < DTABLE_COUNT; i++) {
		wire_put(w, dtable(s, i)->value.limit, 4);
		wire_put(w, dtable(s, i)->value.base, 8);
	}
	wire_put(w, s->exit_reason, 4);
	if (s->fpu.size > VMSIM_FPU_AREA_SIZE) {
		w->failed = true;
		return;
	}
	wire_put(w, s->fpu.size, 2);
	wire_put_bytes(w, s->fpu.buffer, (size_t)s->fpu.size);
}

void wire_state(struct wire_reader *r, struct vmsim_vcpu_state *s)
{
	vmsim_vcpu_state_clear(s);
	uint64_t charged = wire_u64(r);
	if (charged >> 63)
		r->failed = true;
	for (unsigned i = 0; i < PLAIN_COUNT; i++) {
		plain(s, i)->value = wire_u64(r);
	}
	for (unsigned i = 0; i < SEG_COUNT; i++) {
		struct vmsim_seg_reg *reg = seg(s, i);
		reg->value.sel = wire_u16(r);
		reg->value.ar = wire_u16(r);
		reg->value.limit = wire_u32(r);
		reg->value.base = wire_u64(r);
	}
	for (unsigned i = 0; i < DTABLE_COUNT; i++) {
		struct vmsim_dtable_reg *reg = dtable(s, i);
		reg->value.limit = wire_u32(r);
		reg->value.base = wire_u64(r);
	}
	s->exit_reason = wire_u32(r);
	s->charged = charged & ((UINT64_C(1) << VMSIM_SLOT_COUNT) - 1);
	uint16_t size = wire_u16(r);
	if (size > VMSIM_FPU_AREA_SIZE) {
		r->failed = true;
		return;
	}
	const uint8_t *bytes = wire_take(r, size);
	if (bytes) {
		s->fpu.size = size;
		memcpy(s->fpu.buffer, bytes, size);
	}
}
