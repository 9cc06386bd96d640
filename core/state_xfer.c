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
	uint64_t bit;
};

#define REG(st, cpu, grp)                                                                                         \
	{ offsetof(struct vmsim_vcpu_state, st), offsetof(struct vmsim_cpu_state, cpu), grp, VMSIM_CHARGED(st) }

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
	uint64_t bit;
};

#define SEG(st, cpu) { offsetof(struct vmsim_vcpu_state, st), offsetof(struct vmsim_cpu_state, cpu), VMSIM_CHARGED(st) }

static const struct seg_map segs[] = {
	SEG(es, es), SEG(ds, ds), SEG(fs, fs), SEG(gs, gs), SEG(cs, cs), SEG(ss, ss), SEG(tr, tr), SEG(ldtr, ldtr),
};

/*
 * The registers of each group, once: slot_group (slot -> group) and group_bits (group -> charged bits) are both
 * made from these lists. The exit information (ip_len and the qualifications) is in no group.
 */
#define GPR_REGS_(X, g) X(g, ax) X(g, cx) X(g, dx) X(g, bx) X(g, bp) X(g, si) X(g, di) X(g, sp) X(g, r8) X(g, r9) \
                        X(g, r10) X(g, r11) X(g, r12) X(g, r13) X(g, r14) X(g, r15)
#define IP_REGS_(X, g) X(g, ip) X(g, flags)
#define SEGMENTS_REGS_(X, g) X(g, es) X(g, ds) X(g, fs) X(g, gs) X(g, cs) X(g, ss) X(g, tr) X(g, ldtr)
#define DTABLES_REGS_(X, g) X(g, gdtr) X(g, idtr)
#define CONTROL_REGS_(X, g) X(g, cr0) X(g, cr2) X(g, cr3) X(g, cr4) X(g, dr7) X(g, efer)
#define SYSENTER_REGS_(X, g) X(g, sysenter_ip) X(g, sysenter_sp) X(g, sysenter_cs)
#define SYSCALL_REGS_(X, g) X(g, star) X(g, lstar) X(g, cstar) X(g, fmask) X(g, kernel_gs_base)
#define TSC_REGS_(X, g) X(g, tsc) X(g, tsc_offset) X(g, tsc_aux)
#define EVENTS_REGS_(X, g) X(g, inj_info) X(g, inj_error) X(g, intr_state) X(g, actv_state)
#define PDPTE_REGS_(X, g) X(g, pdpte_0) X(g, pdpte_1) X(g, pdpte_2) X(g, pdpte_3)
#define TPR_REGS_(X, g) X(g, tpr) X(g, tpr_threshold)
#define XSAVE_REGS_(X, g) X(g, xcr0) X(g, xss)
#define FPU_REGS_(X, g) X(g, fpu)
#define INTERCEPTS_REGS_(X, g) X(g, ctrl_primary) X(g, ctrl_secondary)
#define EXIT_INFO_REGS_(X, g) X(g, ip_len) X(g, qual_primary) X(g, qual_secondary)
/* The groups in the order of their VMSIM_GROUP_* bit numbers (asserted below). */
#define GROUPS_(X) X(GPR) X(IP) X(SEGMENTS) X(DTABLES) X(CONTROL) X(SYSENTER) X(SYSCALL) X(TSC) X(EVENTS) X(PDPTE) \
                   X(TPR) X(XSAVE) X(FPU) X(INTERCEPTS)

#define BIT_(g, name) | VMSIM_CHARGED(name)
#define SLOT_GROUP_(g, name) [VMSIM_SLOT_##name] = VMSIM_GROUP_##g,
#define GROUP_SLOTS_(g) g##_REGS_(SLOT_GROUP_, g)
#define GROUP_BITS_(g) (0 g##_REGS_(BIT_, g)),

/* Each register's group, by charged slot (0 for the exit information). */
static const uint16_t slot_group[VMSIM_SLOT_COUNT] = { GROUPS_(GROUP_SLOTS_) };

_Static_assert(VMSIM_GROUP_GPR == 1u << 0 && VMSIM_GROUP_IP == 1u << 1 && VMSIM_GROUP_SEGMENTS == 1u << 2 &&
                       VMSIM_GROUP_DTABLES == 1u << 3 && VMSIM_GROUP_CONTROL == 1u << 4 &&
                       VMSIM_GROUP_SYSENTER == 1u << 5 && VMSIM_GROUP_SYSCALL == 1u << 6 &&
                       VMSIM_GROUP_TSC == 1u << 7 && VMSIM_GROUP_EVENTS == 1u << 8 && VMSIM_GROUP_PDPTE == 1u << 9 &&
                       VMSIM_GROUP_TPR == 1u << 10 && VMSIM_GROUP_XSAVE == 1u << 11 && VMSIM_GROUP_FPU == 1u << 12 &&
                       VMSIM_GROUP_INTERCEPTS == 1u << 13 && VMSIM_GROUP_ALL == (1u << 14) - 1,
               "GROUPS_ lists the groups in the order of their bit numbers");
/* The charged bits of each group, by the group's bit number (VMSIM_GROUP_GPR is bit 0 ...). */
static const uint64_t group_bits[14] = { GROUPS_(GROUP_BITS_) };
static const uint64_t exit_info_bits = 0 EXIT_INFO_REGS_(BIT_, none);
static const uint64_t regs_set_bits = 0 GPR_REGS_(BIT_, GPR) IP_REGS_(BIT_, IP);

static uint64_t *st_value(struct vmsim_vcpu_state *state, size_t off)
{
	return &((struct vmsim_reg *)((char *)state + off))->value;
}

static uint64_t st_value_c(const struct vmsim_vcpu_state *state, size_t off)
{
	return ((const struct vmsim_reg *)((const char *)state + off))->value;
}

static uint64_t *cpu_u64(struct vmsim_cpu_state *cpu, size_t off)
{
	return (uint64_t *)((char *)cpu + off);
}

void state_from_cpu(uint32_t groups, const struct vmsim_cpu_state *cpu, struct vmsim_vcpu_state *state)
{
	uint64_t charged = 0;

	for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++) {
		if (!(groups & regs[i].group))
			continue;
		*st_value(state, regs[i].state_off) = *(const uint64_t *)((const char *)cpu + regs[i].cpu_off);
		charged |= regs[i].bit;
	}
	if (groups & VMSIM_GROUP_SEGMENTS)
		for (size_t i = 0; i < sizeof segs / sizeof segs[0]; i++) {
			struct vmsim_seg_reg *reg = (struct vmsim_seg_reg *)((char *)state + segs[i].state_off);
			reg->value = *(const struct vmsim_segment *)((const char *)cpu + segs[i].cpu_off);
			charged |= segs[i].bit;
		}
	state->charged |= charged;
	if (groups & VMSIM_GROUP_DTABLES) {
		vmsim_charge(state, gdtr, cpu->gdtr);
		vmsim_charge(state, idtr, cpu->idtr);
	}
	if (groups & VMSIM_GROUP_TPR) {
		vmsim_charge(state, tpr, cpu->tpr);
		vmsim_charge(state, tpr_threshold, cpu->tpr_threshold);
	}
	if (groups & VMSIM_GROUP_FPU) {
		uint64_t size = cpu->fpu_size <= VMSIM_FPU_AREA_SIZE ? cpu->fpu_size : VMSIM_FPU_AREA_SIZE;
		memcpy(state->fpu.buffer, cpu->fpu, size);
		vmsim_charge_fpu(state, size);
	}
}

/* Which groups hold a charged register: O(charged registers), one table load each (it was a scan of 63 flags). */
uint32_t state_charged_groups(const struct vmsim_vcpu_state *state)
{
	uint64_t todo = state->charged & ((UINT64_C(1) << VMSIM_SLOT_COUNT) - 1);
	uint32_t groups = 0;

	while (todo) {
		groups |= slot_group[__builtin_ctzll(todo)];
		todo &= todo - 1;
	}
	return groups;
}

/* Where each GPR, rip and rflags goes in the neutral state, and its VMSIM_REG_* bit, by charged slot. */
#define TO_CPU_(st, cpu, reg_bit)                                                                                 \
	[VMSIM_SLOT_##st] = { offsetof(struct vmsim_vcpu_state, st), offsetof(struct vmsim_cpu_state, cpu), reg_bit }
static const struct {
	uint16_t state_off, cpu_off;
	uint32_t reg_bit;
} to_cpu[VMSIM_SLOT_COUNT] = {
	TO_CPU_(ax, rax, 1u << 0), TO_CPU_(cx, rcx, 1u << 1), TO_CPU_(dx, rdx, 1u << 2), TO_CPU_(bx, rbx, 1u << 3),
	TO_CPU_(sp, rsp, 1u << 4), TO_CPU_(bp, rbp, 1u << 5), TO_CPU_(si, rsi, 1u << 6), TO_CPU_(di, rdi, 1u << 7),
	TO_CPU_(r8, r8, 1u << 8), TO_CPU_(r9, r9, 1u << 9), TO_CPU_(r10, r10, 1u << 10), TO_CPU_(r11, r11, 1u << 11),
	TO_CPU_(r12, r12, 1u << 12), TO_CPU_(r13, r13, 1u << 13), TO_CPU_(r14, r14, 1u << 14),
	TO_CPU_(r15, r15, 1u << 15), TO_CPU_(ip, rip, VMSIM_REG_RIP), TO_CPU_(flags, rflags, VMSIM_REG_RFLAGS),
};
#undef TO_CPU_

uint32_t state_regs_to_cpu(const struct vmsim_vcpu_state *state, struct vmsim_cpu_state *cpu)
{
	uint64_t todo = state->charged & regs_set_bits;
	uint32_t bits = 0;

	while (todo) {
		unsigned slot = (unsigned)__builtin_ctzll(todo);
		todo &= todo - 1;
		*cpu_u64(cpu, to_cpu[slot].cpu_off) = st_value_c(state, to_cpu[slot].state_off);
		bits |= to_cpu[slot].reg_bit;
	}
	return bits;
}

/* vmsim_vcpu_state_discharge for the given groups: the exit information no group holds goes too, as every exit
 * charges it anew and a failed encoding must not leave it. */
void state_discharge_groups(struct vmsim_vcpu_state *state, uint32_t groups)
{
	uint64_t off = exit_info_bits;

	groups &= VMSIM_GROUP_ALL;
	while (groups) {
		off |= group_bits[__builtin_ctz(groups)];
		groups &= groups - 1;
	}
	state->charged &= ~off;
	state->exit_reason = 0;
}

void state_to_cpu(uint32_t groups, const struct vmsim_vcpu_state *state, struct vmsim_cpu_state *cpu)
{
	for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++) {
		if ((groups & regs[i].group) && (state->charged & regs[i].bit))
			*cpu_u64(cpu, regs[i].cpu_off) = st_value_c(state, regs[i].state_off);
	}
	if (groups & VMSIM_GROUP_SEGMENTS)
		for (size_t i = 0; i < sizeof segs / sizeof segs[0]; i++) {
			const struct vmsim_seg_reg *reg =
				(const struct vmsim_seg_reg *)((const char *)state + segs[i].state_off);
			if (state->charged & segs[i].bit)
				*(struct vmsim_segment *)((char *)cpu + segs[i].cpu_off) = reg->value;
		}
	if (groups & VMSIM_GROUP_DTABLES) {
		if (vmsim_charged(state, gdtr))
			cpu->gdtr = state->gdtr.value;
		if (vmsim_charged(state, idtr))
			cpu->idtr = state->idtr.value;
	}
	if (groups & VMSIM_GROUP_TPR) {
		if (vmsim_charged(state, tpr))
			cpu->tpr = (uint32_t)state->tpr.value;
		if (vmsim_charged(state, tpr_threshold))
			cpu->tpr_threshold = (uint32_t)state->tpr_threshold.value;
	}
	if ((groups & VMSIM_GROUP_FPU) && vmsim_charged(state, fpu)) {
		uint64_t size = state->fpu.size <= VMSIM_FPU_AREA_SIZE ? state->fpu.size : VMSIM_FPU_AREA_SIZE;
		memcpy(cpu->fpu, state->fpu.buffer, size);
		cpu->fpu_size = size;
	}
}
