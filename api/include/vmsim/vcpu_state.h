/* vmsim/vcpu_state.h - Genode's x86 Vcpu_state: every register, and which of them are charged. */
#ifndef VMSIM_API_VCPU_STATE_H
#define VMSIM_API_VCPU_STATE_H

#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * "Charged" means the same in both directions: on exit the hypervisor charges
 * what it transferred; before resume the VMM charges what it wants loaded.
 * Uncharged registers are not written into the guest.
 *
 * Genode keeps a charged flag in every Register<T>. Here the flags are one bit
 * each in `charged`, so that "what is charged" is one load and a discharge one
 * store on the exit path (scanning 63 flags was a sixth of an inline exit).
 * Charge and test through vmsim_charge()/vmsim_charged(): the bit and the value
 * are set together, as Register<T>::charge() does. The macros evaluate their
 * state argument more than once: pass a plain pointer, not an expression with
 * side effects.
 */
struct vmsim_reg {
	uint64_t value;
};

struct vmsim_segment {
	uint16_t sel;
	uint16_t ar;
	uint32_t limit;
	uint64_t base;
};

struct vmsim_seg_reg {
	struct vmsim_segment value;
};

struct vmsim_dtable {
	uint32_t limit;
	uint64_t base;
};

struct vmsim_dtable_reg {
	struct vmsim_dtable value;
};

enum { VMSIM_FPU_AREA_SIZE = 2560 };

/* Genode's Fpu: a 64-byte aligned XSAVE-style area with the size its producer wrote. */
struct vmsim_fpu {
	alignas(64) uint8_t buffer[VMSIM_FPU_AREA_SIZE];
	uint64_t size;
};

/* Genode's synthetic exit codes, shared by both models. */
enum {
	VMSIM_EXIT_CODE_SVM_NPF = 0xfc,
	VMSIM_EXIT_CODE_SVM_INVALID = 0xfd,
	VMSIM_EXIT_CODE_STARTUP = 0xfe,
	VMSIM_EXIT_CODE_PAUSED = 0xff
};

/* The 64-bit registers in Genode's declaration order; their charged bits are 0..51. */
#define VMSIM_STATE_PLAIN_REGS(X)                                                                \
	X(ax) X(cx) X(dx) X(bx) X(bp) X(si) X(di) X(sp) X(ip) X(ip_len) X(flags)                \
	X(cr0) X(cr2) X(cr3) X(cr4) X(dr7) X(sysenter_ip) X(sysenter_sp) X(sysenter_cs)         \
	X(qual_primary) X(qual_secondary) X(ctrl_primary) X(ctrl_secondary) X(inj_info)         \
	X(inj_error) X(intr_state) X(actv_state) X(tsc) X(tsc_offset) X(tsc_aux) X(efer)        \
	X(pdpte_0) X(pdpte_1) X(pdpte_2) X(pdpte_3) X(r8) X(r9) X(r10) X(r11) X(r12) X(r13)     \
	X(r14) X(r15) X(star) X(lstar) X(cstar) X(fmask) X(kernel_gs_base) X(tpr)               \
	X(tpr_threshold) X(xcr0) X(xss)
/* Segment registers (bits 52..59) and descriptor tables (60..61); the FPU is bit 62. */
#define VMSIM_STATE_SEG_REGS(X) X(es) X(ds) X(fs) X(gs) X(cs) X(ss) X(tr) X(ldtr)
#define VMSIM_STATE_DTABLE_REGS(X) X(gdtr) X(idtr)

#define VMSIM_SLOT_ENUM_(name) VMSIM_SLOT_##name,
/* Each register's bit number in vmsim_vcpu_state.charged (also the RPC's charged bitmap, docs/rpc.md). */
enum vmsim_state_slot {
	VMSIM_STATE_PLAIN_REGS(VMSIM_SLOT_ENUM_) VMSIM_STATE_SEG_REGS(VMSIM_SLOT_ENUM_)
	VMSIM_STATE_DTABLE_REGS(VMSIM_SLOT_ENUM_) VMSIM_SLOT_fpu,
	VMSIM_SLOT_COUNT
};
#undef VMSIM_SLOT_ENUM_

/* Field order follows Genode's declaration order. */
struct vmsim_vcpu_state {
	uint64_t charged; /* bit VMSIM_SLOT_<name> set: that register is charged */
	struct vmsim_reg ax, cx, dx, bx, bp, si, di, sp, ip, ip_len, flags;
	struct vmsim_seg_reg es, ds, fs, gs, cs, ss, tr, ldtr;
	struct vmsim_dtable_reg gdtr, idtr;
	struct vmsim_reg cr0, cr2, cr3, cr4, dr7;
	struct vmsim_reg sysenter_ip, sysenter_sp, sysenter_cs;
	struct vmsim_reg qual_primary, qual_secondary;
	struct vmsim_reg ctrl_primary, ctrl_secondary;
	struct vmsim_reg inj_info, inj_error;
	struct vmsim_reg intr_state, actv_state;
	struct vmsim_reg tsc, tsc_offset, tsc_aux;
	struct vmsim_reg efer;
	struct vmsim_reg pdpte_0, pdpte_1, pdpte_2, pdpte_3;
	struct vmsim_reg r8, r9, r10, r11, r12, r13, r14, r15;
	struct vmsim_reg star, lstar, cstar, fmask, kernel_gs_base;
	struct vmsim_reg tpr, tpr_threshold;
	struct vmsim_reg xcr0, xss;
	unsigned exit_reason; /* the model's raw code or a synthetic one; no charged bit */
	struct vmsim_fpu fpu;
};

/* The charged bit of register `name` (a field of vmsim_vcpu_state): VMSIM_CHARGED(ax). */
#define VMSIM_CHARGED(name) (UINT64_C(1) << VMSIM_SLOT_##name)
/* Set register `name` of *st to the value (may be a compound literal) and mark it charged (Genode: charge()). */
#define vmsim_charge(st, name, ...) ((void)((st)->name.value = (__VA_ARGS__), (st)->charged |= VMSIM_CHARGED(name)))
/* Whether register `name` of *st is charged (Genode: st.name.charged()). */
#define vmsim_charged(st, name) (((st)->charged & VMSIM_CHARGED(name)) != 0)
/* Take the charge off register `name` of *st, keeping its value. */
#define vmsim_uncharge(st, name) ((void)((st)->charged &= ~VMSIM_CHARGED(name)))

/* Clear every charged bit, keep the values, and reset exit_reason to 0 (as Genode does). */
void vmsim_vcpu_state_discharge(struct vmsim_vcpu_state *state);
/* Zero everything: values, charged bits, exit_reason and the FPU area. */
void vmsim_vcpu_state_clear(struct vmsim_vcpu_state *state);
/* Number of charged registers (the FPU counts as one); a quick "what will be loaded". */
unsigned vmsim_vcpu_state_charged_count(const struct vmsim_vcpu_state *state);
/* The charged bit of the register reg points to inside *state, or 0 if it points to none of them. */
uint64_t vmsim_vcpu_state_bit(const struct vmsim_vcpu_state *state, const void *reg);

/* Mark the FPU area charged with size bytes already written into st->fpu.buffer (<= 2560). */
static inline void vmsim_charge_fpu(struct vmsim_vcpu_state *st, uint64_t size)
{
	st->fpu.size = size;
	st->charged |= VMSIM_CHARGED(fpu);
}

#ifdef __cplusplus
}
#endif
#endif
