/* core/state_xfer.c - Genode's Vcpu_state <-> the backend's neutral CPU state, one group at a time. */
#include <string.h>

#include "internal.h"

/*
 * One row per plain 64-bit register: where it lives on each side and in which
 * group. Events and intercept controls are model-encoded and handled by the
 * exit path (vcpu_exec.c), segments, tables and the FPU below.
 */
struct reg_map {
	size_t state_off;
	size_t cpu_off;
	uint32_t group;
};

#define REG(st, cpu, grp) { offsetof(struct vmsim_vcpu_state, st), offsetof(struct vmsim_cpu_state, cpu), grp }

static const struct reg_map regs[] = {
	REG(ax, rax, VMSIM_GROUP_GPR), REG(cx, rcx, VMSIM_GROUP_GPR), REG(dx, rdx, VMSIM_GROUP_GPR),
	REG(bx, rbx, VMSIM_GROUP_GPR), REG(bp, rbp, VMSIM_GROUP_GPR), REG(si, rsi, VMSIM_GROUP_GPR),
	REG(di, rdi, VMSIM_GROUP_GPR), REG(sp, rsp, VMSIM_GROUP_GPR),
	REG(r8, r8, VMSIM_GROUP_GPR), REG(r9, r9, VMSIM_GROUP_GPR), REG(r10, r10, VMSIM_GROUP_GPR),
	REG(r11, r11, VMSIM_GROUP_GPR), REG(r12, r12, VMSIM_GROUP_GPR), REG(r13, r13, VMSIM_GROUP_GPR),
	REG(r14, r14, VMSIM_GROUP_GPR), REG(r15, r15, VMSIM_GROUP_GPR),
	REG(ip, rip, VMSIM_GROUP_IP), REG(flags, rflags, VMSIM_GROUP_IP),
	REG(cr0, cr0, VMSIM_GROUP_CONTROL), REG(cr2, cr2, VMSIM_GROUP_CONTROL), REG(cr3, cr3, VMSIM_GROUP_CONTROL),
	REG(cr4, cr4, VMSIM_GROUP_CONTROL), REG(dr7, dr7, VMSIM_GROUP_CONTROL), REG(efer, efer, VMSIM_GROUP_CONTROL),
	REG(sysenter_ip, sysenter_eip, VMSIM_GROUP_SYSENTER), REG(sysenter_sp, sysenter_esp, VMSIM_GROUP_SYSENTER),
	REG(sysenter_cs, sysenter_cs, VMSIM_GROUP_SYSENTER),
	REG(star, star, VMSIM_GROUP_SYSCALL), REG(lstar, lstar, VMSIM_GROUP_SYSCALL),
	REG(cstar, cstar, VMSIM_GROUP_SYSCALL), REG(fmask, fmask, VMSIM_GROUP_SYSCALL),
	REG(kernel_gs_base, kernel_gs_base, VMSIM_GROUP_SYSCALL),
	REG(tsc, tsc, VMSIM_GROUP_TSC), REG(tsc_offset, tsc_offset, VMSIM_GROUP_TSC),
	REG(tsc_aux, tsc_aux, VMSIM_GROUP_TSC),
	REG(pdpte_0, pdpte[0], VMSIM_GROUP_PDPTE), REG(pdpte_1, pdpte[1], VMSIM_GROUP_PDPTE),
	REG(pdpte_2, pdpte[2], VMSIM_GROUP_PDPTE), REG(pdpte_3, pdpte[3], VMSIM_GROUP_PDPTE),
	REG(xcr0, xcr0, VMSIM_GROUP_XSAVE), REG(xss, xss, VMSIM_GROUP_XSAVE),
};

struct seg_map {
	size_t state_off;
	size_t cpu_off;
};

#define SEG(st, cpu) { offsetof(struct vmsim_vcpu_state, st), offsetof(struct vmsim_cpu_state, cpu) }

static const struct seg_map segs[] = {
	SEG(es, es), SEG(ds, ds), SEG(fs, fs), SEG(gs, gs), SEG(cs, cs), SEG(ss, ss), SEG(tr, tr), SEG(ldtr, ldtr),
};

static struct vmsim_reg *st_reg(struct vmsim_vcpu_state *state, size_t off)
{
	return (struct vmsim_reg *)((char *)state + off);
}

static const struct vmsim_reg *st_reg_c(const struct vmsim_vcpu_state *state, size_t off)
{
	return (const struct vmsim_reg *)((const char *)state + off);
}

static uint64_t *cpu_u64(struct vmsim_cpu_state *cpu, size_t off)
{
	return (uint64_t *)((char *)cpu + off);
}

void state_from_cpu(uint32_t groups, const struct vmsim_cpu_state *cpu, struct vmsim_vcpu_state *state)
{
	for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++) {
		if (!(groups & regs[i].group))
			continue;
		vmsim_reg_charge(st_reg(state, regs[i].state_off),
		                 *(const uint64_t *)((const char *)cpu + regs[i].cpu_off));
	}
	if (groups & VMSIM_GROUP_SEGMENTS)
		for (size_t i = 0; i < sizeof segs / sizeof segs[0]; i++) {
			struct vmsim_seg_reg *reg = (struct vmsim_seg_reg *)((char *)state + segs[i].state_off);
			vmsim_seg_charge(reg, *(const struct vmsim_segment *)((const char *)cpu + segs[i].cpu_off));
		}
	if (groups & VMSIM_GROUP_DTABLES) {
		vmsim_dtable_charge(&state->gdtr, cpu->gdtr);
		vmsim_dtable_charge(&state->idtr, cpu->idtr);
	}
	if (groups & VMSIM_GROUP_TPR) {
		vmsim_reg_charge(&state->tpr, cpu->tpr);
		vmsim_reg_charge(&state->tpr_threshold, cpu->tpr_threshold);
	}
	if (groups & VMSIM_GROUP_FPU) {
		uint64_t size = cpu->fpu_size <= VMSIM_FPU_AREA_SIZE ? cpu->fpu_size : VMSIM_FPU_AREA_SIZE;
		memcpy(state->fpu.buffer, cpu->fpu, size);
		vmsim_fpu_charge(&state->fpu, size);
	}
}

uint32_t state_charged_groups(const struct vmsim_vcpu_state *state)
{
	uint32_t groups = 0;

	for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++)
		if (st_reg_c(state, regs[i].state_off)->charged)
			groups |= regs[i].group;
	for (size_t i = 0; i < sizeof segs / sizeof segs[0]; i++)
		if (((const struct vmsim_seg_reg *)((const char *)state + segs[i].state_off))->charged)
			groups |= VMSIM_GROUP_SEGMENTS;
	if (state->gdtr.charged || state->idtr.charged)
		groups |= VMSIM_GROUP_DTABLES;
	if (state->tpr.charged || state->tpr_threshold.charged)
		groups |= VMSIM_GROUP_TPR;
	if (state->fpu.charged)
		groups |= VMSIM_GROUP_FPU;
	if (state->inj_info.charged || state->inj_error.charged || state->intr_state.charged ||
	    state->actv_state.charged)
		groups |= VMSIM_GROUP_EVENTS;
	if (state->ctrl_primary.charged || state->ctrl_secondary.charged)
		groups |= VMSIM_GROUP_INTERCEPTS;
	return groups;
}

void state_to_cpu(uint32_t groups, const struct vmsim_vcpu_state *state, struct vmsim_cpu_state *cpu)
{
	for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++) {
		const struct vmsim_reg *reg = st_reg_c(state, regs[i].state_off);
		if ((groups & regs[i].group) && reg->charged)
			*cpu_u64(cpu, regs[i].cpu_off) = reg->value;
	}
	if (groups & VMSIM_GROUP_SEGMENTS)
		for (size_t i = 0; i < sizeof segs / sizeof segs[0]; i++) {
			const struct vmsim_seg_reg *reg =
				(const struct vmsim_seg_reg *)((const char *)state + segs[i].state_off);
			if (reg->charged)
				*(struct vmsim_segment *)((char *)cpu + segs[i].cpu_off) = reg->value;
		}
	if (groups & VMSIM_GROUP_DTABLES) {
		if (state->gdtr.charged)
			cpu->gdtr = state->gdtr.value;
		if (state->idtr.charged)
			cpu->idtr = state->idtr.value;
	}
	if (groups & VMSIM_GROUP_TPR) {
		if (state->tpr.charged)
			cpu->tpr = (uint32_t)state->tpr.value;
		if (state->tpr_threshold.charged)
			cpu->tpr_threshold = (uint32_t)state->tpr_threshold.value;
	}
	if ((groups & VMSIM_GROUP_FPU) && state->fpu.charged) {
		uint64_t size = state->fpu.size <= VMSIM_FPU_AREA_SIZE ? state->fpu.size : VMSIM_FPU_AREA_SIZE;
		memcpy(cpu->fpu, state->fpu.buffer, size);
		cpu->fpu_size = size;
	}
}
