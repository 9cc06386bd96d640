/* vmsim/vcpu_state.h - Genode's x86 Vcpu_state: every register with its charged flag. */
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
 */
struct vmsim_reg {
	uint64_t value;
	bool charged;
};

struct vmsim_segment {
	uint16_t sel;
	uint16_t ar;
	uint32_t limit;
	uint64_t base;
};

struct vmsim_seg_reg {
	struct vmsim_segment value;
	bool charged;
};

struct vmsim_dtable {
	uint32_t limit;
	uint64_t base;
};

struct vmsim_dtable_reg {
	struct vmsim_dtable value;
	bool charged;
};

enum { VMSIM_FPU_AREA_SIZE = 2560 };

/* Genode's Fpu: a 64-byte aligned XSAVE-style area with the size its producer wrote. */
struct vmsim_fpu {
	alignas(64) uint8_t buffer[VMSIM_FPU_AREA_SIZE];
	uint64_t size;
	bool charged;
};

/* Genode's synthetic exit codes, shared by both models. */
enum {
	VMSIM_EXIT_CODE_SVM_NPF = 0xfc,
	VMSIM_EXIT_CODE_SVM_INVALID = 0xfd,
	VMSIM_EXIT_CODE_STARTUP = 0xfe,
	VMSIM_EXIT_CODE_PAUSED = 0xff
};

/* Field order follows Genode's declaration order. */
struct vmsim_vcpu_state {
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
	unsigned exit_reason; /* the model's raw code or a synthetic one; no charged flag */
	struct vmsim_fpu fpu;
};

/* Clear every charged flag, keep the values, and reset exit_reason to 0 (as Genode does). */
void vmsim_vcpu_state_discharge(struct vmsim_vcpu_state *state);
/* Zero everything: values, flags, exit_reason and the FPU area. */
void vmsim_vcpu_state_clear(struct vmsim_vcpu_state *state);
/* Number of charged registers (the FPU counts as one); a quick "what will be loaded". */
unsigned vmsim_vcpu_state_charged_count(const struct vmsim_vcpu_state *state);

/* Set value and mark charged. */
static inline void vmsim_reg_charge(struct vmsim_reg *reg, uint64_t value)
{
	reg->value = value;
	reg->charged = true;
}

/* Set a segment register's value and mark it charged. */
static inline void vmsim_seg_charge(struct vmsim_seg_reg *reg, struct vmsim_segment value)
{
	reg->value = value;
	reg->charged = true;
}

/* Set a descriptor-table register's value and mark it charged. */
static inline void vmsim_dtable_charge(struct vmsim_dtable_reg *reg, struct vmsim_dtable value)
{
	reg->value = value;
	reg->charged = true;
}

/* Mark the FPU area charged with size bytes already written into fpu->buffer (<= 2560). */
static inline void vmsim_fpu_charge(struct vmsim_fpu *fpu, uint64_t size)
{
	fpu->size = size;
	fpu->charged = true;
}

#ifdef __cplusplus
}
#endif
#endif
