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

/*
 * Which groups hold a charged register: the flags of a group ORed together as bytes, then one mask per group
 * (branch-free, unrolled at compile time; a table walk here cost ~6 % of an inline exit, a mask per register ~8 %).
 */
#define C_(name) | state->name.charged
#define GROUP_(group, flags) ((uint32_t) - (uint32_t)(0 flags) & (group))
uint32_t state_charged_groups(const struct vmsim_vcpu_state *state)
{
	return GROUP_(VMSIM_GROUP_GPR, C_(ax) C_(cx) C_(dx) C_(bx) C_(bp) C_(si) C_(di) C_(sp) C_(r8) C_(r9) C_(r10)
	                                  C_(r11) C_(r12) C_(r13) C_(r14) C_(r15)) |
	       GROUP_(VMSIM_GROUP_IP, C_(ip) C_(flags)) |
	       GROUP_(VMSIM_GROUP_CONTROL, C_(cr0) C_(cr2) C_(cr3) C_(cr4) C_(dr7) C_(efer)) |
	       GROUP_(VMSIM_GROUP_SYSENTER, C_(sysenter_ip) C_(sysenter_sp) C_(sysenter_cs)) |
	       GROUP_(VMSIM_GROUP_SYSCALL, C_(star) C_(lstar) C_(cstar) C_(fmask) C_(kernel_gs_base)) |
	       GROUP_(VMSIM_GROUP_TSC, C_(tsc) C_(tsc_offset) C_(tsc_aux)) |
	       GROUP_(VMSIM_GROUP_PDPTE, C_(pdpte_0) C_(pdpte_1) C_(pdpte_2) C_(pdpte_3)) |
	       GROUP_(VMSIM_GROUP_XSAVE, C_(xcr0) C_(xss)) |
	       GROUP_(VMSIM_GROUP_SEGMENTS, C_(es) C_(ds) C_(fs) C_(gs) C_(cs) C_(ss) C_(tr) C_(ldtr)) |
	       GROUP_(VMSIM_GROUP_DTABLES, C_(gdtr) C_(idtr)) | GROUP_(VMSIM_GROUP_TPR, C_(tpr) C_(tpr_threshold)) |
	       GROUP_(VMSIM_GROUP_FPU, C_(fpu)) |
	       GROUP_(VMSIM_GROUP_EVENTS, C_(inj_info) C_(inj_error) C_(intr_state) C_(actv_state)) |
	       GROUP_(VMSIM_GROUP_INTERCEPTS, C_(ctrl_primary) C_(ctrl_secondary));
}
#undef GROUP_
#undef C_

uint32_t state_regs_to_cpu(const struct vmsim_vcpu_state *state, struct vmsim_cpu_state *cpu)
{
	uint32_t bits = 0;
#define REG_(st, field, bit)                     \
	if (state->st.charged) {                  \
		cpu->field = state->st.value;     \
		bits |= (bit);                    \
	}
	REG_(ax, rax, 1u << 0) REG_(cx, rcx, 1u << 1) REG_(dx, rdx, 1u << 2) REG_(bx, rbx, 1u << 3)
	REG_(sp, rsp, 1u << 4) REG_(bp, rbp, 1u << 5) REG_(si, rsi, 1u << 6) REG_(di, rdi, 1u << 7)
	REG_(r8, r8, 1u << 8) REG_(r9, r9, 1u << 9) REG_(r10, r10, 1u << 10) REG_(r11, r11, 1u << 11)
	REG_(r12, r12, 1u << 12) REG_(r13, r13, 1u << 13) REG_(r14, r14, 1u << 14) REG_(r15, r15, 1u << 15)
	REG_(ip, rip, VMSIM_REG_RIP) REG_(flags, rflags, VMSIM_REG_RFLAGS)
#undef REG_
	return bits;
}

/* The exit information no group holds: every exit charges it anew, a failed encoding must not leave it. */
#define OFF_(name) state->name.charged = false;
void state_discharge_groups(struct vmsim_vcpu_state *state, uint32_t groups)
{
	if (groups & VMSIM_GROUP_GPR) {
		OFF_(ax) OFF_(cx) OFF_(dx) OFF_(bx) OFF_(bp) OFF_(si) OFF_(di) OFF_(sp)
		OFF_(r8) OFF_(r9) OFF_(r10) OFF_(r11) OFF_(r12) OFF_(r13) OFF_(r14) OFF_(r15)
	}
	if (groups & VMSIM_GROUP_IP) {
		OFF_(ip) OFF_(flags)
	}
	if (groups & VMSIM_GROUP_CONTROL) {
		OFF_(cr0) OFF_(cr2) OFF_(cr3) OFF_(cr4) OFF_(dr7) OFF_(efer)
	}
	if (groups & VMSIM_GROUP_SYSENTER) {
		OFF_(sysenter_ip) OFF_(sysenter_sp) OFF_(sysenter_cs)
	}
	if (groups & VMSIM_GROUP_SYSCALL) {
		OFF_(star) OFF_(lstar) OFF_(cstar) OFF_(fmask) OFF_(kernel_gs_base)
	}
	if (groups & VMSIM_GROUP_TSC) {
		OFF_(tsc) OFF_(tsc_offset) OFF_(tsc_aux)
	}
	if (groups & VMSIM_GROUP_PDPTE) {
		OFF_(pdpte_0) OFF_(pdpte_1) OFF_(pdpte_2) OFF_(pdpte_3)
	}
	if (groups & VMSIM_GROUP_XSAVE) {
		OFF_(xcr0) OFF_(xss)
	}
	if (groups & VMSIM_GROUP_SEGMENTS) {
		OFF_(es) OFF_(ds) OFF_(fs) OFF_(gs) OFF_(cs) OFF_(ss) OFF_(tr) OFF_(ldtr)
	}
	if (groups & VMSIM_GROUP_DTABLES) {
		OFF_(gdtr) OFF_(idtr)
	}
	if (groups & VMSIM_GROUP_TPR) {
		OFF_(tpr) OFF_(tpr_threshold)
	}
	if (groups & VMSIM_GROUP_FPU) {
		OFF_(fpu)
	}
	if (groups & VMSIM_GROUP_EVENTS) {
		OFF_(inj_info) OFF_(inj_error) OFF_(intr_state) OFF_(actv_state)
	}
	if (groups & VMSIM_GROUP_INTERCEPTS) {
		OFF_(ctrl_primary) OFF_(ctrl_secondary)
	}
	OFF_(ip_len) OFF_(qual_primary) OFF_(qual_secondary)
	state->exit_reason = 0;
}
#undef OFF_

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
