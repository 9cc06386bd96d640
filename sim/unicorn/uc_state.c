/* uc_state.c - moving the neutral vmsim_cpu_state in and out of a Unicorn engine, group by group. */
#include <stdlib.h>
#include <string.h>

#include "uc_internal.h"

/* Groups whose values live inside the engine (the rest are kept by the vCPU). */
#define ENGINE_GROUPS                                                                              \
	(VMSIM_GROUP_GPR | VMSIM_GROUP_IP | VMSIM_GROUP_SEGMENTS | VMSIM_GROUP_DTABLES |            \
	 VMSIM_GROUP_CONTROL | VMSIM_GROUP_SYSENTER | VMSIM_GROUP_SYSCALL | VMSIM_GROUP_FPU |        \
	 VMSIM_GROUP_EVENTS)

static const struct {
	uint32_t index;
	size_t offset;
	uint32_t group;
} msrs[] = {
	{ 0x174, offsetof(struct vmsim_cpu_state, sysenter_cs), VMSIM_GROUP_SYSENTER },
	{ 0x175, offsetof(struct vmsim_cpu_state, sysenter_esp), VMSIM_GROUP_SYSENTER },
	{ 0x176, offsetof(struct vmsim_cpu_state, sysenter_eip), VMSIM_GROUP_SYSENTER },
	{ 0xc0000081, offsetof(struct vmsim_cpu_state, star), VMSIM_GROUP_SYSCALL },
	{ 0xc0000082, offsetof(struct vmsim_cpu_state, lstar), VMSIM_GROUP_SYSCALL },
	{ 0xc0000083, offsetof(struct vmsim_cpu_state, cstar), VMSIM_GROUP_SYSCALL },
	{ 0xc0000084, offsetof(struct vmsim_cpu_state, fmask), VMSIM_GROUP_SYSCALL },
	{ 0xc0000102, offsetof(struct vmsim_cpu_state, kernel_gs_base), VMSIM_GROUP_SYSCALL },
};

static const int seg_off[8] = {
	UCB_ENV_SEGS + 0 * UCB_ENV_SEG_SIZE, UCB_ENV_SEGS + 1 * UCB_ENV_SEG_SIZE,
	UCB_ENV_SEGS + 2 * UCB_ENV_SEG_SIZE, UCB_ENV_SEGS + 3 * UCB_ENV_SEG_SIZE,
	UCB_ENV_SEGS + 4 * UCB_ENV_SEG_SIZE, UCB_ENV_SEGS + 5 * UCB_ENV_SEG_SIZE,
	UCB_ENV_LDT, UCB_ENV_TR
};

static struct vmsim_segment *seg_field(struct vmsim_cpu_state *s, int i)
{
	struct vmsim_segment *f[8] = { &s->es, &s->cs, &s->ss, &s->ds, &s->fs, &s->gs, &s->ldtr, &s->tr };
	return f[i];
}

/* The groups held in the saved CPUX86State: segments, descriptor tables, control registers, interruptibility. */
static void get_hidden(struct ucb_engine *eng, const uint8_t *env, uint32_t groups, struct vmsim_cpu_state *out)
{
	if (groups & VMSIM_GROUP_SEGMENTS) {
		for (int i = 0; i < 8; i++)
			ucb_seg_from_env(env, seg_off[i], seg_field(out, i));
		/*
		 * A descriptor the guest loaded has A set, as the CPU sets it on every load (SDM 3.4.5.1; VMX
		 * entry requires it of CS). QEMU's far JMP/CALL/RET/IRET load it without: Linux's decompressor
		 * then reached a VMX entry with CS type 0xa. What the VMM wrote reads back as written.
		 */
		for (int i = 0; i < 6; i++) {
			uint16_t *ar = &seg_field(out, i)->ar;
			if (env_u32(env, seg_off[i] + 20) != eng->seg_flags_set[i] && (*ar & 0x1090) == 0x90)
				*ar |= 1;
		}
	}
	if (groups & VMSIM_GROUP_DTABLES) {
		out->gdtr = (struct vmsim_dtable){ env_u32(env, UCB_ENV_GDT + 16), env_u64(env, UCB_ENV_GDT + 8) };
		out->idtr = (struct vmsim_dtable){ env_u32(env, UCB_ENV_IDT + 16), env_u64(env, UCB_ENV_IDT + 8) };
	}
	if (groups & VMSIM_GROUP_CONTROL) {
		out->cr0 = env_u64(env, UCB_ENV_CR) | eng->vcpu->cr0_pg;
		out->cr2 = env_u64(env, UCB_ENV_CR + 16);
		out->cr3 = env_u64(env, UCB_ENV_CR + 24);
		out->cr4 = env_u64(env, UCB_ENV_CR + 32);
		out->efer = env_u64(env, UCB_ENV_EFER);
		out->dr7 = env_u64(env, UCB_ENV_DR7);
	}
	if (groups & VMSIM_GROUP_EVENTS) {
		out->interruptibility = 0;
		if (env_u32(env, UCB_ENV_HFLAGS) & UCB_HF_INHIBIT_IRQ)
			out->interruptibility |= VMSIM_BLOCK_STI;
		if (env_u32(env, UCB_ENV_HFLAGS2) & UCB_HF2_NMI)
			out->interruptibility |= VMSIM_BLOCK_NMI;
	}
}

/* The general registers, as uc_reg_read gives them in this engine's mode (a 32-bit engine has 8, 32 bits wide). */
static void get_gprs(const struct ucb_engine *eng, const uint8_t *env, struct vmsim_cpu_state *out)
{
	uint64_t *regs = &out->rax; /* rax..r15 in x86 register-number order, as QEMU keeps them */
	bool wide = eng->mode == UCB_LONG;

	for (int i = 0; i < 16; i++)
		regs[i] = !wide && i >= 8 ? 0 : wide ? env_u64(env, 8 * i) : env_u32(env, 8 * i);
}

/* The MSRs of the SYSENTER and SYSCALL groups. */
static void get_msrs(const uint8_t *env, uint32_t groups, struct vmsim_cpu_state *out)
{
	if (groups & VMSIM_GROUP_SYSENTER) {
		out->sysenter_cs = env_u32(env, UCB_ENV_SYSENTER_CS);
		out->sysenter_esp = env_u64(env, UCB_ENV_SYSENTER_ESP);
		out->sysenter_eip = env_u64(env, UCB_ENV_SYSENTER_EIP);
	}
	if (groups & VMSIM_GROUP_SYSCALL) {
		out->star = env_u64(env, UCB_ENV_STAR);
		out->lstar = env_u64(env, UCB_ENV_LSTAR);
		out->cstar = env_u64(env, UCB_ENV_CSTAR);
		out->fmask = env_u64(env, UCB_ENV_FMASK);
		out->kernel_gs_base = env_u64(env, UCB_ENV_KERNEL_GS_BASE);
	}
}

/* Groups read out of one saved context (cheaper than their ~40 uc_reg_read calls); GPR alone is a batch read. */
#define CONTEXT_GROUPS                                                                                          \
	(VMSIM_GROUP_SEGMENTS | VMSIM_GROUP_DTABLES | VMSIM_GROUP_CONTROL | VMSIM_GROUP_EVENTS |               \
	 VMSIM_GROUP_SYSENTER | VMSIM_GROUP_SYSCALL | VMSIM_GROUP_FPU)

enum vmsim_result ucb_engine_get_state(struct ucb_engine *eng, uint32_t groups, struct vmsim_cpu_state *out)
{
	uc_engine *uc = eng->uc;
	bool wide = eng->mode == UCB_LONG;
	uint8_t *env = NULL;

	if ((groups & CONTEXT_GROUPS) && !ucb_ctx_load(eng, &env))
		return VMSIM_BACKEND_ERROR;
	if ((groups & VMSIM_GROUP_GPR) && env) {
		get_gprs(eng, env, out);
	} else if (groups & VMSIM_GROUP_GPR) {
		void *vals[16];
		uint64_t *regs = &out->rax;
		for (int i = 0; i < 16; i++) {
			regs[i] = 0;
			vals[i] = &regs[i];
		}
		if (uc_reg_read_batch(uc, (int *)(wide ? ucb_gpr64 : ucb_gpr32), vals, wide ? 16 : 8) != UC_ERR_OK)
			return VMSIM_BACKEND_ERROR;
	}
	if ((groups & VMSIM_GROUP_IP) && env) {
		/* RFLAGS needs 2.0.1's lazy-flags evaluation: only the API has it */
		out->rflags = 0;
		if (uc_reg_read(uc, wide ? UC_X86_REG_RFLAGS : UC_X86_REG_EFLAGS, &out->rflags) != UC_ERR_OK)
			return VMSIM_BACKEND_ERROR;
		out->rip = wide ? env_u64(env, UCB_ENV_EIP) : env_u32(env, UCB_ENV_EIP);
	} else if (groups & VMSIM_GROUP_IP) {
		int ids[2] = { wide ? UC_X86_REG_RIP : UC_X86_REG_EIP, wide ? UC_X86_REG_RFLAGS : UC_X86_REG_EFLAGS };
		out->rip = out->rflags = 0;
		void *vals[2] = { &out->rip, &out->rflags };
		if (uc_reg_read_batch(uc, ids, vals, 2) != UC_ERR_OK)
			return VMSIM_BACKEND_ERROR;
	}
	if (groups & VMSIM_GROUP_IP)
		out->rflags = (out->rflags & 0x3f7fd7u) | 2; /* reserved bits read as 0, bit 1 as 1 (SDM Vol. 1 3.4.3) */
	if (env) {
		get_hidden(eng, env, groups, out);
		get_msrs(env, groups, out);
		if (groups & VMSIM_GROUP_FPU)
			ucb_fpu_get(eng, env, out);
	}
	return VMSIM_OK;
}

/* CR0/CR2/CR3/CR4/EFER into the saved state; the engine's own mode decides EFER.LMA. */
static void set_control(struct ucb_engine *eng, uint8_t *env, const struct vmsim_cpu_state *in)
{
	uint64_t efer = in->efer;

	if (eng->mode == UCB_LONG)
		efer |= UCB_EFER_LMA | UCB_EFER_LME;
	else
		efer &= ~(uint64_t)UCB_EFER_LMA;
	/*
	 * 2.0.1 translates instruction fetches through the guest page tables but
	 * not data accesses (measured): run every engine unpaged so both agree
	 * on linear = guest-physical, and keep PG for the VMM to read back.
	 */
	/* uc_mmu.c: translations start over when what they were made from changes (not on every resume) */
	uint64_t was_cr0 = env_u64(env, UCB_ENV_CR) | eng->vcpu->cr0_pg;
	if (was_cr0 != in->cr0 || env_u64(env, UCB_ENV_CR + 24) != in->cr3 ||
	    env_u64(env, UCB_ENV_CR + 32) != in->cr4 || env_u64(env, UCB_ENV_EFER) != efer)
		ucb_translations_changed(eng->vcpu);
	eng->vcpu->cr0_pg = in->cr0 & UCB_CR0_PG;
	env_put64(env, UCB_ENV_CR, in->cr0 & ~(uint64_t)UCB_CR0_PG);
	env_put64(env, UCB_ENV_CR + 16, in->cr2);
	env_put64(env, UCB_ENV_CR + 24, in->cr3);
	env_put64(env, UCB_ENV_CR + 32, in->cr4);
	env_put64(env, UCB_ENV_EFER, efer);
}

/* Interruptibility: STI and MOV SS shadows are one QEMU flag, NMI blocking another. */
static void set_events(uint8_t *env, const struct vmsim_cpu_state *in)
{
	uint32_t hf = env_u32(env, UCB_ENV_HFLAGS) & ~UCB_HF_INHIBIT_IRQ;
	uint32_t hf2 = env_u32(env, UCB_ENV_HFLAGS2) & ~UCB_HF2_NMI;

	if (in->interruptibility & (VMSIM_BLOCK_STI | VMSIM_BLOCK_MOVSS))
		hf |= UCB_HF_INHIBIT_IRQ;
	if (in->interruptibility & VMSIM_BLOCK_NMI)
		hf2 |= UCB_HF2_NMI;
	env_put32(env, UCB_ENV_HFLAGS, hf);
	env_put32(env, UCB_ENV_HFLAGS2, hf2);
}

/* The groups held in the saved CPUX86State, written through one context save/restore with the hidden flags redone. */
static enum vmsim_result set_hidden(struct ucb_engine *eng, uint32_t groups, const struct vmsim_cpu_state *in)
{
	uint8_t *env;

	if (!ucb_ctx_load(eng, &env))
		return VMSIM_BACKEND_ERROR;
	if (groups & VMSIM_GROUP_SEGMENTS)
		for (int i = 0; i < 8; i++) {
			ucb_seg_to_env(env, seg_off[i], seg_field((struct vmsim_cpu_state *)in, i));
			if (i < 6)
				eng->seg_flags_set[i] = env_u32(env, seg_off[i] + 20);
		}
	if (groups & VMSIM_GROUP_DTABLES) {
		env_put32(env, UCB_ENV_GDT + 16, in->gdtr.limit);
		env_put64(env, UCB_ENV_GDT + 8, in->gdtr.base);
		env_put32(env, UCB_ENV_IDT + 16, in->idtr.limit);
		env_put64(env, UCB_ENV_IDT + 8, in->idtr.base);
	}
	if (groups & VMSIM_GROUP_CONTROL)
		set_control(eng, env, in);
	if (groups & VMSIM_GROUP_EVENTS)
		set_events(env, in);
	ucb_hflags_recompute(env);
	if (!ucb_ctx_store(eng))
		return VMSIM_BACKEND_ERROR;
	if (groups & VMSIM_GROUP_CONTROL) {
		uint64_t dr7 = in->dr7;
		uc_reg_write(eng->uc, UC_X86_REG_DR7, &dr7);
	}
	return VMSIM_OK;
}

/* The RIP just past an IN/OUT or CPUID in its exit is not written but retires it (finish_exit). */
static enum vmsim_result set_rip(struct ucb_engine *eng, uint64_t rip)
{
	struct ucb_vcpu *v = eng->vcpu;

	if (v->retire_eligible && rip == v->retire_rip) {
		v->retire = true; /* the instruction retires in Unicorn: see finish_exit */
		return VMSIM_OK;
	}
	if (!ucb_write_rip(eng, rip))
		return VMSIM_BACKEND_ERROR;
	v->retire = false;
	v->rip_written = true;
	return VMSIM_OK;
}

static void set_rflags(struct ucb_engine *eng, uint64_t rflags)
{
	uint64_t flags = rflags | 2;
	uc_reg_write(eng->uc, eng->mode == UCB_LONG ? UC_X86_REG_RFLAGS : UC_X86_REG_EFLAGS, &flags);
}

/* RFLAGS and RIP (set_rip's retire rule). */
static enum vmsim_result set_ip(struct ucb_engine *eng, const struct vmsim_cpu_state *in)
{
	set_rflags(eng, in->rflags);
	return set_rip(eng, in->rip);
}

enum vmsim_result ucb_engine_set_state(struct ucb_engine *eng, uint32_t groups, const struct vmsim_cpu_state *in)
{
	uc_engine *uc = eng->uc;
	bool wide = eng->mode == UCB_LONG;

	eng->cs.known = false; /* EFER and CR0 writes recompute the CS size flags too */
	/* Hidden state first: a later RIP write must see the new CS. */
	if ((groups & (VMSIM_GROUP_SEGMENTS | VMSIM_GROUP_DTABLES | VMSIM_GROUP_CONTROL | VMSIM_GROUP_EVENTS)) &&
	    set_hidden(eng, groups, in) != VMSIM_OK)
		return VMSIM_BACKEND_ERROR;
	if (groups & VMSIM_GROUP_GPR) {
		eng->vcpu->retire_ax = in->rax;
		eng->vcpu->retire_ax_known = true;
		void *vals[16];
		uint64_t regs[16];
		memcpy(regs, &in->rax, sizeof regs);
		for (int i = 0; i < 16; i++)
			vals[i] = &regs[i];
		if (uc_reg_write_batch(uc, (int *)(wide ? ucb_gpr64 : ucb_gpr32), vals, wide ? 16 : 8) != UC_ERR_OK)
			return VMSIM_BACKEND_ERROR;
	}
	for (size_t i = 0; i < sizeof msrs / sizeof msrs[0]; i++) {
		if (!(groups & msrs[i].group))
			continue;
		uc_x86_msr msr = { msrs[i].index, 0 };
		memcpy(&msr.value, (const uint8_t *)in + msrs[i].offset, 8);
		uc_reg_write(uc, UC_X86_REG_MSR, &msr);
	}
	if (groups & VMSIM_GROUP_FPU)
		ucb_fpu_set(eng, in);
	return (groups & VMSIM_GROUP_IP) ? set_ip(eng, in) : VMSIM_OK;
}

static void copy_groups(struct vmsim_cpu_state *dst, const struct vmsim_cpu_state *src, uint32_t groups)
{
	if (groups & VMSIM_GROUP_GPR)
		memcpy(&dst->rax, &src->rax, 16 * sizeof(uint64_t));
	if (groups & VMSIM_GROUP_IP) {
		dst->rip = src->rip;
		dst->rflags = src->rflags;
	}
	if (groups & VMSIM_GROUP_SEGMENTS)
		for (int i = 0; i < 8; i++)
			*seg_field(dst, i) = *seg_field((struct vmsim_cpu_state *)src, i);
	if (groups & VMSIM_GROUP_DTABLES) {
		dst->gdtr = src->gdtr;
		dst->idtr = src->idtr;
	}
	if (groups & VMSIM_GROUP_CONTROL) {
		dst->cr0 = src->cr0, dst->cr2 = src->cr2, dst->cr3 = src->cr3;
		dst->cr4 = src->cr4, dst->efer = src->efer, dst->dr7 = src->dr7;
	}
	if (groups & VMSIM_GROUP_SYSENTER) {
		dst->sysenter_cs = src->sysenter_cs, dst->sysenter_esp = src->sysenter_esp;
		dst->sysenter_eip = src->sysenter_eip;
	}
	if (groups & VMSIM_GROUP_SYSCALL) {
		dst->star = src->star, dst->lstar = src->lstar, dst->cstar = src->cstar;
		dst->fmask = src->fmask, dst->kernel_gs_base = src->kernel_gs_base;
	}
	if (groups & VMSIM_GROUP_EVENTS)
		dst->interruptibility = src->interruptibility;
	if (groups & VMSIM_GROUP_FPU)
		memcpy(dst->fpu, src->fpu, 512);
}

/*
 * Inside on_exit (the vCPU thread, by contract) no lock is needed: mem_unmap
 * leaves a vCPU in its callback alone. Otherwise the vCPU is idle: lock out
 * mem_unmap's engine sync and vcpu_run.
 */
static bool enter_state_op(struct ucb_vcpu *v)
{
	if (atomic_load(&v->run_state) == UCB_IN_CALLBACK)
		return false;
	pthread_mutex_lock(&v->lock);
	return true;
}

static void leave_state_op(struct ucb_vcpu *v, bool locked)
{
	if (locked)
		pthread_mutex_unlock(&v->lock);
}

enum vmsim_result ucb_state_get(void *p, uint32_t groups, struct vmsim_cpu_state *out)
{
	struct ucb_vcpu *v = p;
	bool locked = enter_state_op(v);
	enum vmsim_result r = ucb_engine_get_state(v->active, groups & ENGINE_GROUPS, out);

	if (groups & VMSIM_GROUP_TSC) {
		out->tsc_offset = v->tsc_offset;
		out->tsc = ucb_host_tsc() + ((v->intercepts & VMSIM_INTERCEPT_TSC_OFFSET) ? v->tsc_offset : 0);
		out->tsc_aux = v->tsc_aux;
	}
	if (groups & VMSIM_GROUP_EVENTS) {
		out->activity = v->activity;
		out->pending = v->pending;
	}
	if (groups & VMSIM_GROUP_PDPTE)
		memcpy(out->pdpte, v->pdpte, sizeof v->pdpte);
	if (groups & VMSIM_GROUP_TPR) {
		out->tpr = v->tpr;
		out->tpr_threshold = v->tpr_threshold;
	}
	if (groups & VMSIM_GROUP_XSAVE) {
		out->xcr0 = v->xcr0;
		out->xss = v->xss;
	}
	if (groups & VMSIM_GROUP_INTERCEPTS) {
		out->intercepts = v->intercepts;
		out->exception_intercepts = v->exception_intercepts;
	}
	leave_state_op(v, locked);
	return r;
}

/*
 * The mode is fixed per Unicorn instance: carry everything the active engine holds over to the engine for
 * `want`, with the groups of `in` (if any) applied on top, and make that engine the active one.
 */
static enum vmsim_result carry_over(struct ucb_vcpu *v, enum ucb_mode want, const struct vmsim_cpu_state *in,
                                    uint32_t groups)
{
	struct vmsim_cpu_state *full = malloc(sizeof *full);
	struct ucb_engine *next = ucb_engine_get(v, want);
	enum vmsim_result r;

	if (!full || !next) {
		free(full);
		return full ? VMSIM_BACKEND_ERROR : VMSIM_OUT_OF_RAM;
	}
	r = ucb_engine_get_state(v->active, ENGINE_GROUPS, full);
	if (r == VMSIM_OK) {
		if (in)
			copy_groups(full, in, groups);
		ucb_engine_sync_memory(next);
		r = ucb_engine_set_state(next, ENGINE_GROUPS, full);
	}
	free(full);
	if (r == VMSIM_OK)
		v->active = next;
	return r;
}

/*
 * A guest that switches modes by itself (CR0.PE, EFER.LMA) keeps running in the engine of the old mode, which
 * 2.0.1 cannot restart correctly (a 16-bit engine starts at a 16-bit IP only: uc_emu_start writes IP, not EIP):
 * move to the right engine.
 */
enum vmsim_result ucb_follow_guest_mode(struct ucb_vcpu *v)
{
	struct ucb_engine *eng = v->active;
	uint64_t cr0 = ucb_read_reg(eng, UC_X86_REG_CR0);

	/*
	 * EFER.LMA, not CR0.PG, tells long mode: engines run with PG hidden (see ucb_engine_set_state), and the
	 * engine sets and clears LMA itself when the guest turns paging on or off. No LMA without PE. CR0 is read
	 * every time (the guest sets PE natively); EFER is remembered (each write to it is seen).
	 */
	uint64_t efer = (cr0 & UCB_CR0_PE) ? ucb_mmu_efer(eng) : 0;
	/* the guest's CR0.PG with EFER.LME activates long mode (uc_mmu.c keeps PG from the engine) */
	bool lma = (efer & UCB_EFER_LMA) || ((efer & UCB_EFER_LME) && v->cr0_pg && (cr0 & UCB_CR0_PE));
	enum ucb_mode want = lma ? UCB_LONG : (cr0 & UCB_CR0_PE) ? UCB_PROT : UCB_REAL;
	/* real-mode code above 64 KiB (a CS limit beyond 0xffff) runs in the 32-bit engine, which starts at any EIP */
	if (want == UCB_REAL && (uint32_t)ucb_read_rip(eng) > 0xffff)
		want = UCB_PROT;
	return want == eng->mode ? VMSIM_OK : carry_over(v, want, NULL, 0);
}

enum vmsim_result ucb_state_set(void *p, uint32_t groups, const struct vmsim_cpu_state *in)
{
	struct ucb_vcpu *v = p;
	bool locked = enter_state_op(v);
	struct ucb_engine *eng = v->active;
	enum vmsim_result r = VMSIM_OK;

	/* a native retire keeps the translated block running: only GPRs, RIP and RFLAGS may change under it */
	if (groups & ~(uint32_t)(VMSIM_GROUP_GPR | VMSIM_GROUP_IP))
		v->retire_spoiled = true;

	v->check_state = true;
	if (groups & VMSIM_GROUP_TSC) {
		v->tsc_offset = in->tsc_offset;
		v->tsc_aux = in->tsc_aux;
	}
	if (groups & VMSIM_GROUP_EVENTS) {
		if (in->activity > VMSIM_ACTIVITY_WAIT_SIPI) {
			r = VMSIM_INVALID_ARGUMENT;
			goto out;
		}
		v->activity = in->activity;
		v->pending = in->pending;
	}
	if (groups & VMSIM_GROUP_PDPTE)
		memcpy(v->pdpte, in->pdpte, sizeof v->pdpte);
	if (groups & VMSIM_GROUP_TPR) {
		v->tpr = in->tpr;
		v->tpr_threshold = in->tpr_threshold;
	}
	if (groups & VMSIM_GROUP_XSAVE) {
		v->xcr0 = in->xcr0;
		v->xss = in->xss;
	}
	if (groups & VMSIM_GROUP_INTERCEPTS) {
		v->intercepts = in->intercepts;
		v->exception_intercepts = in->exception_intercepts & ~(uint32_t)(1u << 2); /* NMI: its own exit */
	}

	enum ucb_mode want = (groups & VMSIM_GROUP_CONTROL) ? ucb_mode_of(in->cr0, in->efer) : eng->mode;
	if (want == eng->mode) {
		r = ucb_engine_set_state(eng, groups & ENGINE_GROUPS, in);
		goto out;
	}
	r = carry_over(v, want, in, groups);
	if (r == VMSIM_OK && atomic_load(&v->run_state) != UCB_IDLE) {
		/* Inside on_exit: the old engine is mid-run; leave it and continue on the new one. */
		ucb_request_leave(v, UCB_LEAVE_RESTART);
		uc_emu_stop(eng->uc);
	}
out:
	leave_state_op(v, locked);
	return r;
}

/* Exactly the registers core names: the inline resume (rip past an IN/OUT, a result in rax) reads nothing. */
enum vmsim_result ucb_regs_set(void *p, uint32_t regs, const struct vmsim_cpu_state *in)
{
	struct ucb_vcpu *v = p;
	bool locked = enter_state_op(v);
	struct ucb_engine *eng = v->active;
	bool wide = eng->mode == UCB_LONG;
	const uint64_t *gpr = &in->rax;
	enum vmsim_result r = VMSIM_OK;

	int ids[16];
	void *vals[16];
	int n = 0;
	for (uint32_t left = regs & (wide ? VMSIM_REG_GPRS : 0xffu); left; left &= left - 1) {
		int i = __builtin_ctz(left); /* r8-r15 do not exist outside long mode */
		ids[n] = wide ? ucb_gpr64[i] : ucb_gpr32[i];
		vals[n++] = (void *)&gpr[i];
	}
	if (n && uc_reg_write_batch(eng->uc, ids, vals, n) != UC_ERR_OK)
		r = VMSIM_BACKEND_ERROR;
	if (regs & 1u) {
		v->retire_ax = in->rax; /* an IN that retires returns it without reading EAX back */
		v->retire_ax_known = true;
	}
	if (regs & VMSIM_REG_RFLAGS)
		set_rflags(eng, in->rflags);
	if ((regs & VMSIM_REG_RIP) && set_rip(eng, in->rip) != VMSIM_OK)
		r = VMSIM_BACKEND_ERROR;
	leave_state_op(v, locked);
	return r;
}
