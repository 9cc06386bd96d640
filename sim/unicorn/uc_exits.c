/* uc_exits.c - turning Unicorn hooks into neutral exits: per-site-kind exits, the in-hook exit protocol, faults. */
#include <string.h>

#include "uc_internal.h"

enum vmsim_exit_action ucb_call_exit(struct ucb_vcpu *v, const struct vmsim_exit *exit)
{
	enum vmsim_exit_action action;

	/*
	 * Sequentially consistent with mem_unmap's generation bump and its read of
	 * run_state: either it sees IN_CALLBACK and does not wait, or it waits and
	 * is woken here; and after the callback either it sees RUNNING and waits for
	 * the ack, or the sync below sees its new generation.
	 */
	atomic_store(&v->run_state, UCB_IN_CALLBACK);
	if (atomic_load(&v->waiters)) {
		pthread_mutex_lock(&v->lock);
		pthread_cond_broadcast(&v->cond);
		pthread_mutex_unlock(&v->lock);
	}
	action = v->on_exit(v->on_exit_ctx, exit);
	atomic_store(&v->run_state, UCB_RUNNING);
	ucb_vcpu_sync_running(v); /* before any further guest instruction */
	if (action == VMSIM_EXIT_ACTION_STOP)
		ucb_request_leave(v, UCB_LEAVE_STOP);
	return action;
}

/* After an in-hook exit: continue at whatever rip the VMM left, or leave the engine. */
static void finish_exit(struct ucb_engine *eng)
{
	struct ucb_vcpu *v = eng->vcpu;

	if (v->retire && (v->retire_spoiled || v->rip_written)) {
		/* the handler changed more than GPRs and RIP, or memory changed: leave the block after all */
		ucb_write_rip(eng, v->retire_rip);
		v->rip_written = true;
		v->retire = false;
	}
	if (v->active != eng) {
		/* state_set switched engines (mode change): this one just has to stop. */
		ucb_request_leave(v, UCB_LEAVE_RESTART);
		uc_emu_stop(eng->uc);
		return;
	}
	/* Events, windows and a VMM-set activity are the run loop's business: leave for it. */
	if (v->pending.valid || v->pending.want_intr_window || v->pending.want_nmi_window ||
	    v->activity != VMSIM_ACTIVITY_ACTIVE)
		ucb_request_leave(v, UCB_LEAVE_RESTART);
	/* VM entry serialises: code written elsewhere meanwhile is dropped at engine entry (ucb_engine_enter) */
	if (eng->stale.count || atomic_load_explicit(&v->remote_pending, memory_order_acquire))
		ucb_request_leave(v, UCB_LEAVE_RESTART);
	if ( v->leave != UCB_LEAVE_NONE || eng->mode == UCB_REAL ||
	    atomic_load_explicit(&v->stop_requested, memory_order_relaxed)) {
		/* 16-bit RIP writes do not redirect in 2.0.1, and a stop with a RIP write is lost: leave. */
		ucb_stop_at(eng, v->retire ? v->retire_rip : ucb_read_rip(eng));
		v->retire = false;
		return;
	}
	/* The handler moved RIP just past a plain IN/OUT or CPUID: Unicorn retires it (hooks give IN and CPUID results). */
	if (v->retire)
		return;
	/* In 32/64-bit engines a RIP write leaves this block right after the hook and re-enters at rip. */
	if (!v->rip_written)
		ucb_write_rip(eng, ucb_read_rip(eng));
}

static void set_rip_in_hook(struct ucb_engine *eng, uint64_t rip)
{
	ucb_write_rip(eng, rip);
	finish_exit(eng);
}

static void emulate_rdtsc(struct ucb_engine *eng, const struct ucb_insn *insn, uint64_t rip)
{
	struct ucb_vcpu *v = eng->vcpu;
	uint64_t t = ucb_host_tsc() + ((v->intercepts & VMSIM_INTERCEPT_TSC_OFFSET) ? v->tsc_offset : 0);
	uint64_t lo = (uint32_t)t, hi = t >> 32, aux = (uint32_t)v->tsc_aux;
	bool wide = eng->mode == UCB_LONG;

	uc_reg_write(eng->uc, wide ? UC_X86_REG_RAX : UC_X86_REG_EAX, &lo);
	uc_reg_write(eng->uc, wide ? UC_X86_REG_RDX : UC_X86_REG_EDX, &hi);
	if (insn->kind == UCB_SITE_RDTSCP)
		uc_reg_write(eng->uc, wide ? UC_X86_REG_RCX : UC_X86_REG_ECX, &aux);
	set_rip_in_hook(eng, rip + insn->len);
}

static uint32_t io_value(struct ucb_engine *eng, const struct ucb_insn *insn)
{
	uint32_t mask = insn->io_size == 4 ? 0xffffffffu : insn->io_size == 2 ? 0xffffu : 0xffu;
	uint64_t value = 0;

	if (insn->io_in)
		return 0;
	if (!insn->io_string)
		return (uint32_t)ucb_read_reg(eng, UC_X86_REG_EAX) & mask;
	uint64_t rsi = ucb_read_reg(eng, eng->mode == UCB_LONG ? UC_X86_REG_RSI : UC_X86_REG_ESI);
	if (insn->addr_size == 2)
		rsi &= 0xffff;
	else if (insn->addr_size == 4)
		rsi &= 0xffffffffu;
	ucb_guest_read(eng, ucb_seg_base(eng, insn->seg) + rsi, &value, insn->io_size);
	return (uint32_t)value & mask; /* the first element a string OUT writes */
}

static int gpr_id(const struct ucb_engine *eng, unsigned gpr)
{
	return eng->mode == UCB_LONG ? ucb_gpr64[gpr & 15] : ucb_gpr32[gpr & 7];
}

/* EFER into the context env was loaded into, with the hidden flags that follow from it, and the context back. */
static void store_efer(struct ucb_engine *eng, uint8_t *env, uint64_t efer)
{
	memcpy(env + UCB_ENV_EFER, &efer, 8);
	ucb_hflags_recompute(env);
	ucb_ctx_store(eng);
}

/* Leaving long mode: the engine never saw PG, so it does not clear EFER.LMA itself. */
static void clear_lma(struct ucb_engine *eng)
{
	uint8_t *env;

	if (ucb_ctx_load(eng, &env))
		store_efer(eng, env, env_u64(env, UCB_ENV_EFER) & ~(uint64_t)UCB_EFER_LMA);
}

/* MOV to/from CR0/CR3/CR4 and INVLPG while the guest pages (the engine runs with CR0.PG hidden: uc_mmu.c). */
static bool mmu_site(struct ucb_engine *eng, const struct ucb_insn *insn, uint64_t rip)
{
	struct ucb_vcpu *v = eng->vcpu;
	bool wide = eng->mode == UCB_LONG;
	uint64_t value;

	if (insn->kind == UCB_SITE_INVLPG) {
		if (!v->cr0_pg)
			return false; /* unpaged: a no-op Unicorn executes */
		uint64_t lin;
		uint8_t len = 0;
		if (ucb_insn_mem_linear(eng, rip, &lin, &len)) {
			ucb_mmu_invlpg(v, lin);
		} else {
			ucb_translations_changed(v); /* cannot tell which page: all of them */
			len = ucb_insn_len_at(v, rip);
		}
		ucb_stop_at(eng, rip + (len ? len : insn->len));
		return true;
	}
	if (insn->cr != 0 && insn->cr != 3 && insn->cr != 4)
		return false;
	if (insn->cr_read) {
		if (insn->cr != 0 || !v->cr0_pg)
			return false;
		value = ucb_read_reg(eng, UC_X86_REG_CR0) | v->cr0_pg;
		if (!wide)
			value = (uint32_t)value;
		uc_reg_write(eng->uc, gpr_id(eng, insn->gpr), &value);
		ucb_stop_at(eng, rip + insn->len);
		return true;
	}
	value = ucb_read_reg(eng, gpr_id(eng, insn->gpr));
	if (!wide)
		value = (uint32_t)value;
	if (insn->cr == 0) {
		uint64_t pg = value & UCB_CR0_PG;
		if (!pg && !v->cr0_pg)
			return false; /* no paging before or after: Unicorn executes it */
		uint64_t was = v->cr0_pg;
		value &= ~(uint64_t)UCB_CR0_PG;
		uc_reg_write(eng->uc, UC_X86_REG_CR0, &value);
		eng->cs.known = false; /* QEMU clears the 64-bit code flag with LMA */
		v->cr0_pg = pg;
		if (was && !pg && wide)
			clear_lma(eng);
	} else {
		if (!v->cr0_pg)
			return false;
		uc_reg_write(eng->uc, insn->cr == 3 ? UC_X86_REG_CR3 : UC_X86_REG_CR4, &value);
	}
	if (insn->cr == 3)
		v->tlb_gen++; /* a new CR3 alone keeps the mappings its tables still give (uc_mmu.c keep_across_cr3) */
	else
		ucb_translations_changed(v);
	ucb_stop_at(eng, rip + insn->len);
	return true;
}

/* Port I/O (SVM EXITINFO1 / VMX qualification fields, neutral here): the port, and for an OUT the value written. */
static void io_exit(struct ucb_engine *eng, const struct ucb_insn *insn, struct vmsim_exit *exit)
{
	exit->kind = VMSIM_EXIT_IO;
	exit->u.io.port = insn->io_imm ? insn->io_port_imm : (uint16_t)ucb_read_reg(eng, UC_X86_REG_EDX);
	exit->u.io.size = insn->io_size;
	exit->u.io.in = insn->io_in;
	exit->u.io.string = insn->io_string;
	exit->u.io.rep = insn->io_rep;
	exit->u.io.imm = insn->io_imm;
	exit->u.io.addr_size = insn->addr_size;
	exit->u.io.seg = insn->seg;
	exit->u.io.value = io_value(eng, insn);
}

/*
 * INT n, INT3, INT1, INTO: delivered through the IDT by the run loop (2.0.1 does not). INT3 and INTO are software
 * exceptions, INT1 (F1) a privileged software exception, INT n a software interrupt (SDM Vol. 3A 6.4 and the event
 * types of VMX entry interruption info, 24.8.3); INTO raises #OF only with OF set.
 */
static void raise_swint(struct ucb_engine *eng, const struct ucb_insn *insn, uint64_t rip)
{
	struct ucb_vcpu *v = eng->vcpu;

	if (insn->into && !(ucb_read_reg(eng, UC_X86_REG_EFLAGS) & UCB_RFLAGS_OF))
		return;
	v->deliver_vector = insn->vector;
	v->deliver_type = !insn->sw_exception ? VMSIM_EVENT_SW_INT
	                : insn->vector == 1   ? VMSIM_EVENT_PRIV_SW_EXCEPTION
	                                      : VMSIM_EVENT_SW_EXCEPTION;
	v->deliver_return = rip + insn->len;
	v->deliver_insn_len = insn->len;
	v->deliver_raised = false;
	v->deliver_has_error = false;
	ucb_stop_at(eng, rip);
	v->leave = UCB_LEAVE_DELIVER;
}

/*
 * A WRMSR to EFER the VMM does not intercept. 2.0.1's CPU model has neither NX nor SYSCALL, so its own WRMSR drops
 * NXE and SCE (measured: every bit but LME); a KVM vCPU takes them. Done here as KVM does (SDM Vol. 4 "IA32_EFER"):
 * SCE, LME and NXE are writable, LMA is kept; outside CPL 0, any other bit or an LME change while paging is on: #GP(0).
 */
static void leave_to_deliver(struct ucb_vcpu *v, uint8_t vector, uint64_t rip);

static void wrmsr_efer(struct ucb_engine *eng, const struct ucb_insn *insn, uint64_t rip)
{
	struct ucb_vcpu *v = eng->vcpu;
	const uint64_t writable = UCB_EFER_SCE | UCB_EFER_LME | UCB_EFER_NXE;
	uint64_t value = (ucb_read_reg(eng, UC_X86_REG_EDX) << 32) | (uint32_t)ucb_read_reg(eng, UC_X86_REG_EAX);
	uint8_t *env;

	if (!ucb_ctx_load(eng, &env))
		return;
	uint64_t efer = env_u64(env, UCB_ENV_EFER);
	/* WRMSR is privileged (2.0.1 would raise this #GP itself, but only when it runs the instruction) */
	bool cpl0 = !(env_u32(env, UCB_ENV_HFLAGS) & UCB_HF_CPL);
	if (!cpl0 || (value & ~(writable | UCB_EFER_LMA)) || (v->cr0_pg && ((value ^ efer) & UCB_EFER_LME))) {
		ucb_stop_at(eng, rip);
		leave_to_deliver(v, 13, rip);
		return;
	}
	store_efer(eng, env, (efer & UCB_EFER_LMA) | (value & writable));
	ucb_translations_changed(v); /* NXE changes what walks allow; the walk registers are remembered meanwhile */
	ucb_stop_at(eng, rip + insn->len);
}

/*
 * The exit a site makes, in *exit (rip and length already set); false if it makes none: not intercepted (Unicorn
 * executes it, or it is emulated or delivered here).
 */
static bool site_exit(struct ucb_engine *eng, const struct ucb_insn *insn, uint64_t rip, struct vmsim_exit *exit)
{
	struct ucb_vcpu *v = eng->vcpu;
	uint32_t icpt = v->intercepts;

	switch (insn->kind) {
	case UCB_SITE_IO:
		if (!(icpt & VMSIM_INTERCEPT_IO))
			return false;
		io_exit(eng, insn, exit);
		return true;
	case UCB_SITE_CPUID: {
		if (!(icpt & VMSIM_INTERCEPT_CPUID))
			return false;
		uint32_t eax = 0, ecx = 0; /* 2.0.1 writes 4 bytes: read at that width (ucb_read_reg) */
		int ids[2] = { UC_X86_REG_EAX, UC_X86_REG_ECX };
		void *vals[2] = { &eax, &ecx };
		uc_reg_read_batch(eng->uc, ids, vals, 2);
		exit->kind = VMSIM_EXIT_CPUID;
		exit->u.cpuid.leaf = eax;
		exit->u.cpuid.subleaf = ecx;
		return true;
	}
	case UCB_SITE_HLT:
		if (!(icpt & VMSIM_INTERCEPT_HLT)) {
			ucb_stop_at(eng, rip);
			v->leave = UCB_LEAVE_HALT;
			return false;
		}
		exit->kind = VMSIM_EXIT_HLT;
		return true;
	case UCB_SITE_RDTSC:
	case UCB_SITE_RDTSCP:
		if (!(icpt & (insn->kind == UCB_SITE_RDTSC ? VMSIM_INTERCEPT_RDTSC : VMSIM_INTERCEPT_RDTSCP))) {
			emulate_rdtsc(eng, insn, rip);
			return false;
		}
		exit->kind = insn->kind == UCB_SITE_RDTSC ? VMSIM_EXIT_RDTSC : VMSIM_EXIT_RDTSCP;
		return true;
	case UCB_SITE_RDMSR:
	case UCB_SITE_WRMSR:
		if (!(icpt & VMSIM_INTERCEPT_MSR)) {
			if (insn->kind == UCB_SITE_WRMSR && (uint32_t)ucb_read_reg(eng, UC_X86_REG_ECX) == UCB_MSR_EFER)
				wrmsr_efer(eng, insn, rip);
			return false;
		}
		exit->kind = VMSIM_EXIT_MSR;
		exit->u.msr.index = (uint32_t)ucb_read_reg(eng, UC_X86_REG_ECX);
		exit->u.msr.write = insn->kind == UCB_SITE_WRMSR;
		if (exit->u.msr.write) /* WRMSR writes EDX:EAX (SDM Vol. 2B "WRMSR") */
			exit->u.msr.value = (ucb_read_reg(eng, UC_X86_REG_EDX) << 32) |
			                    (uint32_t)ucb_read_reg(eng, UC_X86_REG_EAX);
		return true;
	case UCB_SITE_VMCALL:
		if (!(icpt & VMSIM_INTERCEPT_VMCALL))
			return false; /* Unicorn raises #UD, delivered to the guest */
		exit->kind = VMSIM_EXIT_VMCALL;
		return true;
	case UCB_SITE_MOVCR:
	case UCB_SITE_INVLPG:
		mmu_site(eng, insn, rip);
		return false;
	case UCB_SITE_SWINT:
		raise_swint(eng, insn, rip);
		return false;
	default:
		return false;
	}
}

/*
 * Did the handler rewrite the exiting instruction through its own mapping of guest memory (hypercall patching, as
 * KVM does to VMCALL)? The CPU would run the new bytes after the exit and entry; 2.0.1 keeps its translation. Only
 * the instruction's first bytes are compared: code the handler writes elsewhere is not seen (docs/backends/unicorn.md).
 */
static void check_rewritten(struct ucb_engine *eng, struct ucb_site *site, uint64_t at, uint64_t gen)
{
	uint64_t phys = at, page_off = at & (UCB_PAGE - 1), was = 0, now = 0;
	const uint8_t *hva = site->code_hva;
	uint64_t maps = eng->shadow.unmaps + eng->shadow.flushes;
	struct ucb_mapping m;

	if (!site->code_len || page_off + site->code_len > UCB_PAGE)
		return; /* an instruction across two pages: not checked */
	if (site->code_hva_gen != gen + 1 || site->code_hva_maps != maps) {
		/* the engine's own mappings and the vCPU's memo of the memory map: no engine access */
		if (eng->shadow.paged) {
			if (!ucb_shadow_phys(eng, at - page_off, &phys))
				return;
			phys += page_off;
		}
		if (!ucb_vcpu_phys(eng->vcpu, phys, &m) || phys + site->code_len > m.gpa + m.size)
			return;
		hva = (const uint8_t *)m.hva + (phys - m.gpa);
		/* the same host bytes until the memory map or the engine's mapping of the page changes */
		site->code_hva = hva;
		site->code_hva_gen = gen + 1;
		site->code_hva_maps = maps;
	}
	memcpy(&was, site->code, sizeof was);
	if (page_off + sizeof now <= UCB_PAGE) {
		/* one 8-byte load, masked: copying code_len bytes into now and reading it whole stalled store forwarding
		 * (a third of this hook's time in perf) */
		memcpy(&now, hva, sizeof now);
		now &= site->code_len >= 8 ? ~0ull : (1ull << (8 * site->code_len)) - 1;
	} else {
		memcpy(&now, hva, site->code_len);
	}
	if (now == was)
		return;
	eng->rewritten_page = (at & ~(uint64_t)(UCB_PAGE - 1)) + 1; /* dropped at the next entry (ucb_code_rewritten) */
	eng->vcpu->retire_spoiled = true; /* leave the block: it holds the old bytes */
	ucb_request_leave(eng->vcpu, UCB_LEAVE_RESTART);
}

/*
 * Hand the exit to core inside the hook, then go on as the handler left things (finish_exit). A plain IN/OUT or a
 * CPUID whose handler only moved RIP past it may retire in Unicorn without leaving the translated block.
 */
static void exit_in_hook(struct ucb_engine *eng, struct ucb_site *site, uint64_t cs_base,
                         const struct vmsim_exit *exit)
{
	struct ucb_vcpu *v = eng->vcpu;
	const struct ucb_insn *insn = &site->insn;

	if (cs_base)
		ucb_write_rip(eng, exit->rip); /* EIP holds the linear address here: show the VMM the real one */
	v->rip_written = false;
	/* plain IN/OUT and CPUID in a flat 32/64-bit engine may retire natively (no EIP write happened above) */
	v->retire_eligible = ((insn->kind == UCB_SITE_IO && !insn->io_string) || insn->kind == UCB_SITE_CPUID) &&
	                     !cs_base && eng->mode != UCB_REAL;
	v->retire_rip = exit->rip + insn->len;
	v->retire = v->retire_spoiled = v->retire_ax_known = false;
	uint64_t gen = atomic_load_explicit(&v->vm->generation, memory_order_relaxed);
	ucb_call_exit(v, exit);
	v->retire_eligible = false;
	if (atomic_load_explicit(&v->vm->generation, memory_order_relaxed) != gen)
		v->retire_spoiled = true; /* code may be gone: re-fetch */
	else
		check_rewritten(eng, site, cs_base + exit->rip, gen);
	finish_exit(eng);
}

/*
 * The state before a transfer whose target the CS limit may refuse (ucb_insn_checks_cs_limit), for the next block
 * start to undo it with. Without memory for the snapshot the fault is taken at the target instead.
 */
static void remember_transfer(struct ucb_engine *eng, uint64_t rip)
{
	eng->transfer_pending = (eng->transfer_ctx || uc_context_alloc(eng->uc, &eng->transfer_ctx) == UC_ERR_OK) &&
	                        uc_context_save(eng->uc, eng->transfer_ctx) == UC_ERR_OK;
	eng->transfer_rip = rip;
}

/*
 * A far RET in real or virtual-8086 mode, done here instead of by 2.0.1. Its translation pops IP, writes EIP, then
 * pops CS; while a data hook exists (hook_pc_sync) it stores the RET's own linear address into EIP before that
 * second pop, so the RET went back to itself plus the CS base instead of to the popped IP (a far CALL/RET pair
 * looped; SeaBIOS's INT trampolines slid into zeroed memory). Protected mode uses a helper and is not affected.
 * False: not such a RET here, or its stack is not readable (Unicorn runs it and takes the fault).
 */
static bool far_ret_unprotected(struct ucb_engine *eng, const struct ucb_insn *insn, uint64_t rip)
{
	uint8_t *env, slot[8] = { 0 };

	if (!insn->far_ret || !ucb_ctx_load(eng, &env))
		return false;
	uint32_t hflags = env_u32(env, UCB_ENV_HFLAGS);
	if ((hflags & UCB_HF_PE) && !(hflags & UCB_HF_VM))
		return false;
	uint64_t ss_base = env_u64(env, UCB_ENV_SEGS + 2 * UCB_ENV_SEG_SIZE + 8);
	uint64_t sp_mask = (hflags & UCB_HF_SS32) ? 0xffffffffull : 0xffffull, sp = ucb_read_reg(eng, UC_X86_REG_ESP);
	unsigned size = insn->far_ret;
	if (!ucb_guest_read(eng, ss_base + (sp & sp_mask), slot, size) ||
	    !ucb_guest_read(eng, ss_base + ((sp + size) & sp_mask), slot + 4, size))
		return false;
	uint32_t ip = 0;
	uint16_t cs;
	memcpy(&ip, slot, size); /* little-endian, as the guest's (and env_u32's) */
	memcpy(&cs, slot + 4, sizeof cs);
	if (ip > ucb_cs(eng)->limit) {
		ucb_limit_fault(eng, false, rip); /* #GP(0) at the RET, nothing popped (SDM Vol. 2B "RET") */
		return true;
	}
	/* CS as the RET loads it outside protected mode: selector and base; the limit and attributes stay (a
	 * UC_X86_REG_CS write would reset them to a 64 KiB data segment) */
	env_put32(env, UCB_ENV_SEGS + 1 * UCB_ENV_SEG_SIZE, (uint32_t)cs);
	env_put64(env, UCB_ENV_SEGS + 1 * UCB_ENV_SEG_SIZE + 8, (uint64_t)cs << 4);
	if (!ucb_ctx_store(eng))
		return false;
	uint64_t new_sp = (sp & ~sp_mask) | ((sp + 2 * size + insn->ret_imm) & sp_mask);
	uc_reg_write(eng->uc, UC_X86_REG_ESP, &new_sp);
	ucb_stop_at(eng, ip);
	return true;
}

/* The bytes a store of size bytes writes of value: an NPF's `value`. */
static uint64_t stored_value(uint64_t value, unsigned size)
{
	return size >= 8 ? value : value & ((1ull << (8 * size)) - 1);
}

/*
 * An MMIO site about to run (ucb_learn_mmio_site): the NPF exit its access would cause, built before the
 * instruction runs, with what the fault path reports (ucb_build_paged_npf). False if the access would not reach
 * unbacked memory now (or would fault first): the instruction then runs, and faults or not, as any other.
 */
static bool mmio_exit(struct ucb_engine *eng, struct ucb_mmio_op *op, uint64_t rip, struct vmsim_exit *exit)
{
	int ids[3];
	uint64_t vals[3] = { 0, 0, 0 }, base = 0, index = 0, value = op->imm, gpa;
	void *ptrs[3] = { &vals[0], &vals[1], &vals[2] };
	int n = 0, ib = -1, ii = -1, is = -1;
	bool user;

	if (ucb_cs(eng)->bits != 64)
		return false;
	if (op->base >= 0 && op->base < 16)
		ib = n, ids[n++] = ucb_gpr64[op->base];
	if (op->index >= 0)
		ii = n, ids[n++] = ucb_gpr64[op->index];
	if (op->write && op->src >= 0)
		is = n, ids[n++] = ucb_gpr64[op->src];
	if (n && uc_reg_read_batch(eng->uc, ids, ptrs, n) != UC_ERR_OK)
		return false;
	if (op->base == UCB_MMIO_RIP)
		base = rip + op->len;
	else if (ib >= 0)
		base = vals[ib];
	if (ii >= 0)
		index = vals[ii];
	if (is >= 0)
		value = vals[is] >> op->src_shift;
	uint64_t lin = base + index * op->scale + (uint64_t)op->disp;
	if (op->addr_size == 4)
		lin = (uint32_t)lin;
	if (!ucb_mmu_unbacked(eng, lin, op->size, op->write, &gpa, &user)) {
		/* a MOV that mostly reaches memory stops paying for the look (its next NPF teaches it again) */
		if (++op->misses >= UCB_MMIO_MISSES)
			op->valid = false;
		return false;
	}
	op->misses = 0;
	exit->kind = VMSIM_EXIT_NPF;
	exit->rip = rip;
	exit->insn_len = op->len;
	exit->u.npf.access = op->write ? VMSIM_ACCESS_WRITE : VMSIM_ACCESS_READ;
	exit->u.npf.gpa = gpa;
	exit->u.npf.gla = lin;
	exit->u.npf.gla_valid = true;
	exit->u.npf.prot = 0;
	exit->u.npf.decoded = true;
	exit->u.npf.size = op->size;
	exit->u.npf.user = user;
	if (op->write)
		exit->u.npf.value = stored_value(value, op->size);
	return true;
}

/* UC_HOOK_CODE on one scanned instruction: 2.0.1 syncs the PC here and checks for stops right after. */
void ucb_hook_site(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
	struct ucb_engine *eng = user;
	struct ucb_vcpu *v = eng->vcpu;
	struct ucb_site *site = ucb_site_fresh(eng, addr);
	const struct ucb_insn *insn = site ? &site->insn : NULL;
	struct vmsim_exit exit;
	uint64_t cs_base = ucb_cs_base(eng), rip = addr - cs_base;

	(void)uc;
	v->retire = false; /* the last retired OUT's (it has no hook to forget it): this instruction decides anew */
	if (v->active != eng || v->leave != UCB_LEAVE_NONE ||
	    atomic_load_explicit(&v->stop_requested, memory_order_relaxed) ||
	    (eng->shadow.step && ucb_shadow_step_end(eng, addr))) {
		ucb_stop_at(eng, rip);
		return;
	}
	(void)size; /* 0 or stale for instructions 2.0.1 decodes as invalid (VMCALL) */
	if (addr == eng->limit_fault_at && ucb_cs(eng)->bits != 64 &&
	    (uint64_t)(uint32_t)rip + eng->limit_fault_len - 1 > eng->cs.limit) {
		ucb_limit_fault(eng, false, rip); /* its bytes reach past the CS limit */
		return;
	}
	if (insn && far_ret_unprotected(eng, insn, rip))
		return;
	if (insn && insn->limit_check)
		remember_transfer(eng, rip);
	if (!insn || insn->loads_cs)
		eng->cs.known = false; /* CS may differ once this instruction ran (ucb_cs) */
	if (insn && !insn->kind && site->mmio.valid) {
		memset(&exit, 0, sizeof exit);
		if (mmio_exit(eng, &site->mmio, rip, &exit))
			exit_in_hook(eng, site, cs_base, &exit);
		return;
	}
	if (!insn || !insn->kind)
		return; /* a PC-sync or CS-load site, or the code changed under it: let Unicorn execute it */
	memset(&exit, 0, sizeof exit);
	exit.rip = rip;
	exit.insn_len = insn->len;
	if (site_exit(eng, insn, rip, &exit))
		exit_in_hook(eng, site, cs_base, &exit);
}

/* Unmapped and protection faults: record, and let uc_emu_start return with rip at the access. */
bool ucb_hook_fault(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value, void *user)
{
	struct ucb_engine *eng = user;
	struct ucb_vcpu *v = eng->vcpu;

	(void)uc;
	/*
	 * An attachment the engine has not mapped yet (engines map on first touch) is mapped by the run loop, outside
	 * uc_emu_start: mapped from inside this hook, 2.0.1 later failed to drop the block's translation (measured).
	 */
	bool lazy = (type == UC_MEM_READ_UNMAPPED || type == UC_MEM_WRITE_UNMAPPED || type == UC_MEM_FETCH_UNMAPPED) &&
	            ucb_vcpu_prot(v, addr) != 0;
	v->fault = (struct ucb_fault){ true, lazy, type, addr, size, value };
	/* A fetch faults at the instruction itself; for data accesses EIP holds the synced linear PC. */
	if (type == UC_MEM_FETCH_UNMAPPED || type == UC_MEM_FETCH_PROT)
		v->fault_rip = addr - ucb_cs_base(eng);
	else
		v->fault_rip = ucb_read_rip(eng) - ucb_cs_base(eng);
	/*
	 * 2.0.1 leaves the block without syncing its lazy flags state and then folds
	 * that stale state into EFLAGS (measured: a write fault put EAX into EFLAGS).
	 * Recover the lazy state from the block (uc_flags.c), keep the system bits as
	 * they are now; for operations not modelled there the arithmetic flags are
	 * exact only once ucb_add_sync_site hooked this instruction. Where the lazy
	 * state is exact (a hooked instruction: its code hook synced it), EFLAGS as
	 * 2.0.1 computes it is whole, and the context save (~45 ns) is skipped.
	 */
	uint8_t *env;
	bool exact = false;
	if (type != UC_MEM_FETCH_UNMAPPED && type != UC_MEM_FETCH_PROT) {
		uint64_t lin = v->fault_rip + ucb_cs_base(eng);
		exact = ucb_site_find(&eng->sites, lin) || ucb_fix_fault_flags(eng, eng->block, lin);
	}
	uint64_t computed = ucb_read_reg(eng, UC_X86_REG_EFLAGS), sys = 2;
	if (exact) {
		sys = computed & ~(uint64_t)0x8d5;
	} else if (ucb_ctx_load(eng, &env)) {
		int32_t df;
		memcpy(&sys, env + UCB_ENV_EFLAGS, 8);
		memcpy(&df, env + UCB_ENV_DF, 4);
		sys = (sys & ~(uint64_t)0xcd5) | (df < 0 ? 0x400 : 0);
	}
	/* 0x8d5: CF PF AF ZF SF OF, the status flags (SDM Vol. 1 3.4.3.1); 0xcd5 adds DF, which QEMU keeps apart */
	v->fault_rflags = ((sys | (computed & 0x8d5)) & 0x3f7fd7u) | 2;
	ucb_request_leave(v, UCB_LEAVE_FAULT);
	return false;
}

/* Exceptions that push an error code: #DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP (SDM Vol. 3A Table 6-1). */
static bool vector_has_error(uint8_t vector)
{
	return vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21;
}

/* Leave uc_emu_start for the run loop to deliver hardware exception vector with return rip (error code 0). */
static void leave_to_deliver(struct ucb_vcpu *v, uint8_t vector, uint64_t rip)
{
	v->deliver_vector = vector;
	v->deliver_type = VMSIM_EVENT_HW_EXCEPTION;
	v->deliver_return = rip;
	/* none without CR0.PE: real mode (code above 64 KiB included, which runs in the 32-bit engine) */
	v->deliver_has_error = vector_has_error(vector) && (ucb_read_reg(v->active, UC_X86_REG_CR0) & UCB_CR0_PE);
	v->deliver_insn_len = 0;
	v->deliver_raised = false;
	v->deliver_error = 0; /* #GP(0) for CS limits and EFER; ucb_hook_intr reads what 2.0.1 computed */
	ucb_request_leave(v, UCB_LEAVE_DELIVER);
}

/* Fault #GP(0) at rip (after undoing the transfer that got there when undo is set), instead of running on. */
void ucb_limit_fault(struct ucb_engine *eng, bool undo, uint64_t rip)
{
	eng->transfer_undo = undo;
	leave_to_deliver(eng->vcpu, 13, rip);
	uc_emu_stop(eng->uc);
}

/*
 * The error code 2.0.1 computed for the exception it raises: it keeps it in its CPU state, not in the hook's
 * arguments (a #GP(selector) the guest's handler reads; 0 before 2026-12-06). 0 if the state cannot be read.
 */
static uint32_t raised_error_code(struct ucb_engine *eng)
{
	uint8_t *env;

	if (!ucb_ctx_load(eng, &env) || env_u32(env, UCB_ENV_EXCEPTION_IS_INT))
		return 0; /* INT n never gets here (the site hook raises it), so is_int set means the offsets are wrong */
	return env_u32(env, UCB_ENV_ERROR_CODE);
}

/* Unicorn reports guest exceptions here and never delivers them: the run loop does. */
void ucb_hook_intr(uc_engine *uc, uint32_t intno, void *user)
{
	struct ucb_engine *eng = user;
	struct ucb_vcpu *v = eng->vcpu;

	leave_to_deliver(v, (uint8_t)intno, ucb_read_rip(eng));
	if (v->deliver_has_error)
		v->deliver_error = raised_error_code(eng);
	v->deliver_raised = true;
	uc_emu_stop(uc);
}

bool ucb_hook_invalid(uc_engine *uc, void *user)
{
	struct ucb_engine *eng = user;
	struct ucb_vcpu *v = eng->vcpu;

	(void)uc;
	leave_to_deliver(v, 6, ucb_read_rip(eng));
	return false;
}

/* Port I/O the VMM does not intercept: reads float high, writes vanish (no device behind). */
uint32_t ucb_hook_in(uc_engine *uc, uint32_t port, int size, void *user)
{
	struct ucb_engine *eng = user;
	struct ucb_vcpu *v = eng->vcpu;

	(void)uc, (void)port, (void)size;
	if (v->retire) {
		/* an IN its handler answered (finish_exit let it retire): the value is what the handler left in EAX */
		v->retire = false;
		return v->retire_ax_known ? (uint32_t)v->retire_ax : (uint32_t)ucb_read_reg(eng, UC_X86_REG_EAX);
	}
	return 0xffffffffu; /* not intercepted: no device, reads float high */
}

/* CPUID is always intercepted; one its handler answered (finish_exit let it retire) keeps the handler's registers. */
int ucb_hook_cpuid(uc_engine *uc, void *user)
{
	struct ucb_engine *eng = user;

	(void)uc;
	if (!eng->vcpu->retire)
		return 0;
	eng->vcpu->retire = false;
	return 1; /* skip Unicorn's own CPUID: the handler's eax..edx stand */
}

void ucb_build_npf(struct ucb_vcpu *v, struct vmsim_exit *exit)
{
	struct ucb_engine *eng = v->active;
	const struct ucb_fault *f = &v->fault;

	memset(exit, 0, sizeof *exit);
	exit->kind = VMSIM_EXIT_NPF;
	ucb_write_rip(eng, v->fault_rip);
	uc_reg_write(eng->uc, eng->mode == UCB_LONG ? UC_X86_REG_RFLAGS : UC_X86_REG_EFLAGS, &v->fault_rflags);
	exit->rip = v->fault_rip;
	switch (f->type) {
	case UC_MEM_WRITE_UNMAPPED:
	case UC_MEM_WRITE_PROT:
		exit->u.npf.access = VMSIM_ACCESS_WRITE;
		break;
	case UC_MEM_FETCH_UNMAPPED:
	case UC_MEM_FETCH_PROT:
		exit->u.npf.access = VMSIM_ACCESS_FETCH;
		break;
	default:
		exit->u.npf.access = VMSIM_ACCESS_READ;
		break;
	}
	/* 2.0.1 ignores guest paging (measured): linear addresses are guest-physical. */
	exit->u.npf.gpa = f->addr;
	exit->u.npf.gla = f->addr;
	exit->u.npf.gla_valid = true;
	exit->u.npf.prot = (uint8_t)ucb_vcpu_prot(v, f->addr);
	if (exit->u.npf.access != VMSIM_ACCESS_FETCH) {
		exit->insn_len = ucb_insn_len_at(v, exit->rip);
		exit->u.npf.decoded = exit->insn_len != 0;
		exit->u.npf.size = (uint8_t)f->size;
		if (exit->u.npf.access == VMSIM_ACCESS_WRITE) {
			exit->u.npf.value = stored_value((uint64_t)f->value, (unsigned)f->size);
		}
	}
}

/* An NPF while the guest pages (ucb_mmu_fault): at the guest-physical address its walk or access reached. */
void ucb_build_paged_npf(struct ucb_vcpu *v, struct vmsim_exit *exit, const struct ucb_mmu_npf *npf)
{
	uint64_t gpa = npf->gpa;
	bool walked = npf->walked;

	ucb_build_npf(v, exit);
	exit->u.npf.gpa = gpa;
	exit->u.npf.gla = v->fault.addr;
	exit->u.npf.gla_valid = true;
	exit->u.npf.walk = walked;
	exit->u.npf.user = npf->user;
	exit->u.npf.prot = (uint8_t)ucb_vcpu_prot(v, gpa);
	if (walked) {
		/* the walk read a paging-structure entry: no data access was decoded */
		exit->u.npf.access = VMSIM_ACCESS_READ;
		exit->u.npf.decoded = false;
		exit->u.npf.size = 0;
		exit->u.npf.value = 0;
	}
}
