/* uc_engine.c - one Unicorn instance per vCPU and mode: creation, hooks, and the block scanner. */
#include <stdlib.h>
#include <string.h>

#include "uc_internal.h"

/*
 * The state groups read the x87/SSE registers, DR7 and the SYSENTER/SYSCALL MSRs out of
 * a saved context (uc_state.c; ~40 uc_reg_read calls cost more than the save):
 * write each through the API and find it at its UCB_ENV_* offset.
 */
static bool layout_probe_fpu_msrs(struct ucb_engine *eng, uc_context *scratch)
{
	static const struct {
		uint32_t index;
		int off;
		uint64_t value;
	} msr[] = {
		{ 0x174, UCB_ENV_SYSENTER_CS, 0x1a2b },
		{ 0x175, UCB_ENV_SYSENTER_ESP, 0xfeed0000beef1111ull },
		{ 0x176, UCB_ENV_SYSENTER_EIP, 0xfeed0000beef2222ull },
		{ 0xc0000081, UCB_ENV_STAR, 0x0023001000000000ull },
		{ 0xc0000082, UCB_ENV_LSTAR, 0xffffffff81234567ull },
		{ 0xc0000083, UCB_ENV_CSTAR, 0xffffffff8abcdef0ull },
		{ 0xc0000084, UCB_ENV_FMASK, 0x47700 },
		{ 0xc0000102, UCB_ENV_KERNEL_GS_BASE, 0xffff888812345678ull },
	};
	struct {
		uint64_t mantissa;
		uint16_t exponent;
	} fp7 = { 0x8fedcba987654321ull, 0x4003 };
	uint64_t fsw = 0x3a21, fcw = 0x37b, ftw = 0xfff3, fop = 0x7ab, fip = 0x1122334455667788ull, mxcsr = 0x1fa5;
	uint64_t dr7 = 0xff0401;
	uint8_t xmm[16];
	int xmm_last = eng->mode == UCB_LONG ? 15 : 7;
	uc_engine *uc = eng->uc;
	bool ok = true;

	for (int i = 0; i < 16; i++)
		xmm[i] = (uint8_t)(0xa0 + i);
	ok &= uc_reg_write(uc, UC_X86_REG_FPSW, &fsw) == UC_ERR_OK && uc_reg_write(uc, UC_X86_REG_FPCW, &fcw) == UC_ERR_OK &&
	      uc_reg_write(uc, UC_X86_REG_FPTAG, &ftw) == UC_ERR_OK && uc_reg_write(uc, UC_X86_REG_FOP, &fop) == UC_ERR_OK &&
	      uc_reg_write(uc, UC_X86_REG_FIP, &fip) == UC_ERR_OK && uc_reg_write(uc, UC_X86_REG_MXCSR, &mxcsr) == UC_ERR_OK &&
	      uc_reg_write(uc, UC_X86_REG_FP7, &fp7) == UC_ERR_OK && uc_reg_write(uc, UC_X86_REG_DR7, &dr7) == UC_ERR_OK &&
	      uc_reg_write(uc, UC_X86_REG_XMM0 + xmm_last, xmm) == UC_ERR_OK;
	for (size_t i = 0; i < sizeof msr / sizeof msr[0]; i++) {
		uc_x86_msr m = { msr[i].index, msr[i].value };
		ok &= uc_reg_write(uc, UC_X86_REG_MSR, &m) == UC_ERR_OK;
	}
	if (!ok || uc_context_save(uc, scratch) != UC_ERR_OK)
		return false;
	const uint8_t *env = (const uint8_t *)scratch + eng->env_off;
	ok = env_u32(env, UCB_ENV_FPSTT) == 7 && (env[UCB_ENV_FPUS] | env[UCB_ENV_FPUS + 1] << 8) == 0x0221 &&
	     (uint64_t)(env[UCB_ENV_FPUC] | env[UCB_ENV_FPUC + 1] << 8) == fcw && env[UCB_ENV_FPTAGS + 1] == 0 &&
	     env[UCB_ENV_FPTAGS + 0] == 1 && env[UCB_ENV_FPTAGS + 7] == 1 &&
	     (uint64_t)(env[UCB_ENV_FPOP] | env[UCB_ENV_FPOP + 1] << 8) == fop && env_u64(env, UCB_ENV_FPIP) == fip &&
	     env_u32(env, UCB_ENV_MXCSR) == mxcsr && env_u64(env, UCB_ENV_FPREGS + 7 * 16) == fp7.mantissa &&
	     (env[UCB_ENV_FPREGS + 7 * 16 + 8] | env[UCB_ENV_FPREGS + 7 * 16 + 9] << 8) == fp7.exponent &&
	     !memcmp(env + UCB_ENV_XMM + xmm_last * UCB_ENV_XMM_SIZE, xmm, 16) && env_u64(env, UCB_ENV_DR7) == dr7;
	for (size_t i = 0; i < sizeof msr / sizeof msr[0]; i++)
		ok &= msr[i].index == 0x174 ? env_u32(env, msr[i].off) == msr[i].value
		                            : env_u64(env, msr[i].off) == msr[i].value;
	return ok;
}

/*
 * Direct CPUX86State access is how this backend sets hidden segment state and
 * hidden flags that 2.0.1's uc_reg_write cannot: check the offsets it relies on.
 */
static bool layout_probe(struct ucb_engine *eng)
{
	uint64_t rax = 0x5a17c0de600d1234ull, rip = 0x1234, cr0 = 0;
	int rip_id = eng->mode == UCB_LONG ? UC_X86_REG_RIP : UC_X86_REG_EIP;
	uint8_t *base = (uint8_t *)eng->ctx;
	size_t size = uc_context_size(eng->uc);

	if (eng->mode == UCB_LONG)
		uc_reg_write(eng->uc, UC_X86_REG_RAX, &rax);
	else
		uc_reg_write(eng->uc, UC_X86_REG_EAX, &rax);
	uc_reg_write(eng->uc, rip_id, &rip);
	uc_reg_read(eng->uc, UC_X86_REG_CR0, &cr0);
	if (uc_context_save(eng->uc, eng->ctx) != UC_ERR_OK)
		return false;
	size_t off;
	for (off = 0; off + UCB_ENV_EFER + 8 <= size && off <= 64; off += 8) {
		uint32_t lo;
		uint64_t eip, cr0_env;
		memcpy(&lo, base + off, 4);
		if (lo != (uint32_t)rax)
			continue;
		memcpy(&eip, base + off + UCB_ENV_EIP, 8);
		memcpy(&cr0_env, base + off + UCB_ENV_CR, 8);
		if (eip == rip && cr0_env == cr0) {
			eng->env_off = off;
			rax = 0;
			uc_reg_write(eng->uc, eng->mode == UCB_LONG ? UC_X86_REG_RAX : UC_X86_REG_EAX, &rax);
			break;
		}
	}
	if (off > 64 || off + UCB_ENV_EFER + 8 > size || size < eng->env_off + UCB_ENV_DR7 + 8)
		return false;
	/* the probe's values must not stay: the fresh state is saved first and restored after */
	uc_context *fresh = NULL, *scratch = NULL;
	bool ok = uc_context_alloc(eng->uc, &fresh) == UC_ERR_OK && uc_context_alloc(eng->uc, &scratch) == UC_ERR_OK &&
	          uc_context_save(eng->uc, fresh) == UC_ERR_OK && layout_probe_fpu_msrs(eng, scratch);
	if (fresh && uc_context_restore(eng->uc, fresh) != UC_ERR_OK)
		ok = false;
	if (fresh)
		uc_context_free(fresh);
	if (scratch)
		uc_context_free(scratch);
	return ok;
}

/*
 * A data fault inside a block leaves 2.0.1's lazily kept flags state (cc_op)
 * stale: the flags read back are garbage. A code hook makes 2.0.1 sync the
 * flags before the instruction, so every later fault there reports exact
 * flags. Called on the first fault at linear address addr.
 */
void ucb_add_sync_site(struct ucb_engine *eng, uint64_t addr)
{
	struct ucb_site *site;
	uc_hook h;

	if (ucb_site_find(&eng->sites, addr) || !(site = ucb_site_add(&eng->sites, addr)))
		return;
	memset(&site->insn, 0, sizeof site->insn); /* kind 0: the hook only forces the sync */
	site->code_len = 0;
	site->gen = eng->applied_gen;
	if (uc_hook_add(eng->uc, &h, UC_HOOK_CODE, (void *)ucb_hook_site, eng, addr, addr) == UC_ERR_OK) {
		eng->flush_from = addr;
		eng->flush_to = addr + 1;
	}
}

void ucb_learn_mmio_site(struct ucb_engine *eng, uint64_t lin)
{
	struct ucb_site *site = ucb_site_fresh(eng, lin);
	struct ucb_mmio_op op;

	/* other instructions get no hook: every code hook costs each later translation a look (2.0.1) */
	if ((site && (site->insn.kind || site->mmio.valid)) || !ucb_mmio_decode(eng, lin, &op))
		return;
	if (!site) {
		ucb_add_sync_site(eng, lin); /* the hook; a new one is translated in at the next entry */
		if (!(site = ucb_site_find(&eng->sites, lin)))
			return;
	}
	site->mmio = op;
	ucb_log(eng->vcpu->vm, VMSIM_LOG_DEBUG, "unicorn: vCPU %u: MMIO site at 0x%llx", eng->vcpu->id,
	        (unsigned long long)lin);
}

/* Forget the scans of one code page (its bytes changed): blocks are scanned, sites decoded again when they run. */
static void forget_code_page(struct ucb_engine *eng, uint64_t page)
{
	ucb_forget_code_range(eng, page, page + UCB_PAGE);
}

/*
 * Self-modifying code: QEMU retranslates a block whose bytes a guest store changed, but the scanner would not
 * look at it again and an IN/OUT/... written there would run without an exit. So stores into pages that hold
 * scanned blocks are watched (one UC_HOOK_MEM_WRITE over the span of code pages) and forget those pages' scans;
 * the sites there are decoded again when they next run. The vCPU's other engines and other vCPUs have
 * translations of their own, which 2.0.1 does not drop for this engine's stores: see ucb_code_stored.
 */
static void code_page_stored(struct ucb_engine *eng, uint64_t page)
{
	bool code_here = ucb_set_has(&eng->code_pages, page);
	uint64_t phys = page; /* engine addresses are guest-physical while the guest does not page */
	/*
	 * Paged: a store reaches a page published by others only through a mapping kept read-only (a write
	 * fault, uc_mmu.c), or through the linear address this engine scanned it at, seen here.
	 */
	if (!eng->shadow.paged || (code_here && ucb_shadow_phys(eng, page, &phys)))
		ucb_code_stored(eng, phys);
	if (code_here)
		forget_code_page(eng, page);
}

static void hook_code_write(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value, void *user)
{
	struct ucb_engine *eng = user;
	uint64_t first = addr & ~(uint64_t)(UCB_PAGE - 1), last = (addr + (uint64_t)size - 1) & ~(uint64_t)(UCB_PAGE - 1);

	(void)uc, (void)type, (void)value;
	for (uint64_t page = first; page <= last; page += UCB_PAGE)
		code_page_stored(eng, page);
}

/* QEMU drops a block for the guest's own stores only: for a write from outside, the engine's blocks there go too. */
void ucb_code_rewritten(struct ucb_engine *eng, uint64_t page)
{
	code_page_stored(eng, page);
	/* widen a drop already due to cover the page too */
	uint64_t lo = eng->flush_to && eng->flush_from < page ? eng->flush_from : page;
	uint64_t hi = eng->flush_to && eng->flush_to > page + UCB_PAGE ? eng->flush_to : page + UCB_PAGE;
	eng->flush_from = lo;
	eng->flush_to = hi;
}

/* (Re)register the write hook over [lo, hi) widened to 1 MiB steps, unless it covers that already. */
static void watch_span(struct ucb_engine *eng, uint64_t lo, uint64_t hi)
{
	if (eng->code_write_hooked && lo >= eng->code_lo && hi <= eng->code_hi)
		return;
	/* grow in 1 MiB steps so that a guest's code spread out does not re-register the hook often */
	uint64_t new_lo = eng->code_write_hooked && eng->code_lo < lo ? eng->code_lo : lo & ~0xfffffull;
	uint64_t new_hi = eng->code_write_hooked && eng->code_hi > hi ? eng->code_hi : (hi + 0xfffffull) & ~0xfffffull;
	uc_hook h;
	if (uc_hook_add(eng->uc, &h, UC_HOOK_MEM_WRITE, (void *)hook_code_write, eng, new_lo, new_hi - 1) !=
	    UC_ERR_OK)
		return;
	if (eng->code_write_hooked)
		uc_hook_del(eng->uc, eng->code_write_hook);
	eng->code_write_hook = h;
	eng->code_write_hooked = true;
	eng->code_lo = new_lo;
	eng->code_hi = new_hi;
}

static void remember_alias(struct ucb_engine *eng, uint64_t lin, uint64_t phys)
{
	if (eng->ncode_alias == eng->code_alias_cap) {
		size_t cap = eng->code_alias_cap ? eng->code_alias_cap * 2 : 64;
		struct ucb_code_alias *a = realloc(eng->code_alias, cap * sizeof *a);
		if (!a)
			return;
		eng->code_alias = a;
		eng->code_alias_cap = cap;
	}
	eng->code_alias[eng->ncode_alias++] = (struct ucb_code_alias){ lin, phys };
}

/*
 * Remember the pages of a scanned block, publish their guest-physical pages and widen the write hook to cover
 * them; true if this engine maps one of them writable elsewhere (the mapping must go before the block runs).
 */
static bool watch_code(struct ucb_engine *eng, uint64_t addr, uint32_t size)
{
	struct ucb_vcpu *v = eng->vcpu;
	uint64_t lo = addr & ~(uint64_t)(UCB_PAGE - 1), hi = (addr + size + UCB_PAGE - 1) & ~(uint64_t)(UCB_PAGE - 1);
	bool reprotect = false;

	for (uint64_t page = lo; page < hi; page += UCB_PAGE) {
		uint64_t phys = page;
		bool fresh = !ucb_set_has(&eng->code_pages, page);
		ucb_set_add(&eng->code_pages, page);
		if (eng->shadow.paged) {
			if (!ucb_shadow_phys(eng, page, &phys))
				continue;
			if (fresh)
				remember_alias(eng, page, phys);
		}
		if (!ucb_set_has(&v->code_phys, phys)) {
			uint64_t gen = ucb_code_publish(v, phys);
			bool alias = eng->shadow.paged && ucb_shadow_writable_alias(eng, phys);
			/* its own publication needs no entry (hook_block) unless a writable alias must go first */
			if (gen && gen == eng->code_pub_seen + 1 && !alias)
				eng->code_pub_seen = gen;
			reprotect |= alias;
		}
	}
	uint64_t pub_lo, pub_hi;
	/* one registration over both: this block and what the VM's engines scanned (unpaged: the same addresses) */
	if (!eng->shadow.paged && ucb_code_span(v->vm, &pub_lo, &pub_hi))
		watch_span(eng, pub_lo < lo ? pub_lo : lo, pub_hi > hi ? pub_hi : hi);
	else
		watch_span(eng, lo, hi);
	return reprotect;
}

/*
 * Drop every block 2.0.1 translated in this engine (UC_CTL_TB_FLUSH; Debian's 2.0.1.post1 has it, under the macro
 * name uc_ctl_flush_tlb). It costs 60-170 ms, and 2.0.1 zeroes its whole 1 GiB code buffer, which then stays resident:
 * only for blocks no removal through a live address reaches (orphans, regions without an alias).
 */
static void drop_all_blocks(struct ucb_engine *eng)
{
	uc_ctl(eng->uc, UC_CTL_WRITE(UC_CTL_TB_FLUSH, 0));
	ucb_set_clear(&eng->orphans);
	ucb_set_clear(&eng->block_pages);
	eng->block_page_last = ~(uint64_t)0;
}

/*
 * Drop this engine's translations of guest-physical page phys and its scans there, at whatever address it ran the
 * page; false if some of them are out of reach (orphans, or a region without an alias): then every block must go.
 */
static bool drop_stale_page(struct ucb_engine *eng, uint64_t phys)
{
	bool reached = !ucb_set_has(&eng->orphans, phys);

	if (!eng->shadow.paged) {
		ucb_remove_cache(eng, phys, phys + UCB_PAGE);
		forget_code_page(eng, phys);
		return reached;
	}
	const struct ucb_shadow *s = &eng->shadow;
	for (size_t i = 0; i < s->n; i++)
		if (phys >= s->live[i].gpa && phys - s->live[i].gpa < s->live[i].size) {
			uint64_t lin = s->live[i].lin + (phys - s->live[i].gpa);
			ucb_remove_cache(eng, lin, lin + UCB_PAGE); /* a block from the page before is on this list too */
		}
	for (size_t i = eng->ncode_alias; i-- > 0;)
		if (i < eng->ncode_alias && eng->code_alias[i].phys == phys)
			forget_code_page(eng, eng->code_alias[i].lin); /* drops this alias entry */
	return reached && !s->unaliased;
}

void ucb_engine_enter(struct ucb_engine *eng)
{
	struct ucb_vcpu *v = eng->vcpu;

	if (atomic_load_explicit(&v->remote_pending, memory_order_acquire))
		ucb_code_take_remote(v);
	if (eng->stale.count) {
		bool reached = true;
		for (size_t i = 0; i < eng->stale.cap; i++) {
			uint64_t key = eng->stale.keys[i];
			if (key)
				reached = drop_stale_page(eng, key - 1) && reached;
		}
		ucb_set_clear(&eng->stale);
		if (!reached)
			drop_all_blocks(eng);
	}
	uint64_t pub = atomic_load_explicit(&v->vm->code_pub_gen, memory_order_acquire);
	if (pub != eng->code_pub_seen) {
		eng->code_pub_seen = pub;
		if (eng->shadow.paged)
			ucb_shadow_guard_code(eng); /* pages published since lose their writable aliases here */
	}
	uint64_t lo, hi;
	if (!eng->shadow.paged && ucb_code_span(v->vm, &lo, &hi))
		watch_span(eng, lo, hi);
}

/* Recompute where execution must re-enter once this block's new code hooks exist. */
static void scan_block(struct ucb_engine *eng, uint64_t addr, uint32_t size)
{
	struct ucb_vcpu *v = eng->vcpu;
	uint8_t buf[4096 + 16];
	uint32_t bits = ucb_code_bits(eng);
	unsigned added = 0;

	if (size > 4096)
		size = 4096;
	if (size == 0 || !ucb_guest_read(eng, addr, buf, size)) {
		ucb_set_add(&eng->scanned, addr);
		return;
	}
	cs_option(v->cs, CS_OPT_MODE, bits == 64 ? CS_MODE_64 : bits == 32 ? CS_MODE_32 : CS_MODE_16);
	cs_insn *insn = cs_malloc(v->cs);
	if (!insn)
		return;
	const uint8_t *code = buf;
	size_t left = size;
	uint64_t at = addr;
	while (left && cs_disasm_iter(v->cs, &code, &left, &at, insn)) {
		struct ucb_insn info;
		ucb_classify(insn->bytes, insn->size, bits, &info);
		/*
		 * A kind-0 site: its code hook only makes 2.0.1 sync the PC (and flags) before the instruction,
		 * tells ucb_hook_site that CS may change (what ucb_cs remembers goes stale), or keeps the state
		 * before a transfer the CS limit may refuse.
		 */
		bool sync = !info.kind && (info.loads_cs || info.limit_check ||
		                           ucb_insn_needs_pc_sync(insn->bytes, insn->size, bits));
		struct ucb_site *known = info.kind || sync ? ucb_site_find(&eng->sites, insn->address) : NULL;
		if (known) {
			/* its hook exists; the code there may have been rewritten since (self-modifying code) */
			if (known->gen == ~(uint64_t)0)
				added++; /* forgotten by a flush: a block translated before its hook may be cached again */
			known->insn = info;
			ucb_site_set_code(known, insn->bytes, insn->size);
			known->gen = eng->applied_gen;
			known->mmio.valid = false; /* learnt again from its next NPF (ucb_learn_mmio_site) */
			continue;
		}
		if (!info.kind && !sync)
			continue;
		struct ucb_site *site = ucb_site_add(&eng->sites, insn->address);
		uc_hook h;
		if (!site)
			break;
		site->insn = info;
		site->gen = eng->applied_gen;
		ucb_site_set_code(site, insn->bytes, insn->size);
		if (uc_hook_add(eng->uc, &h, UC_HOOK_CODE, (void *)ucb_hook_site, eng, insn->address,
		                insn->address) == UC_ERR_OK)
			added++;
	}
	cs_free(insn, 1);
	ucb_set_add(&eng->scanned, addr);
	if (watch_code(eng, addr, size))
		added++; /* a writable alias of its code is dropped at entry (ucb_shadow_guard_code) */
	if (added) {
		/* The block was translated without the hooks: drop it and re-enter at its start. */
		eng->flush_from = addr;
		eng->flush_to = addr + size;
		ucb_stop_at(eng, addr - ucb_cs_base(eng));
	}
}

/* The first instruction of the block [addr, addr + size) whose bytes reach past the CS limit, 0 if none. */
static uint64_t first_past_limit(struct ucb_engine *eng, uint64_t addr, uint32_t size, uint8_t *len)
{
	const struct ucb_cs_cache *cs = ucb_cs(eng);
	uint8_t buf[4096 + 16];
	uint64_t found = 0;

	if (size > 4096 || !ucb_guest_read(eng, addr, buf, size))
		return 0;
	cs_option(eng->vcpu->cs, CS_OPT_MODE, cs->bits == 32 ? CS_MODE_32 : CS_MODE_16);
	cs_insn *insn = cs_malloc(eng->vcpu->cs);
	if (!insn)
		return 0;
	const uint8_t *code = buf;
	size_t left = size;
	uint64_t at = addr;
	while (!found && left && cs_disasm_iter(eng->vcpu->cs, &code, &left, &at, insn))
		if ((uint64_t)(uint32_t)(insn->address - cs->base) + insn->size - 1 > cs->limit) {
			found = insn->address;
			*len = (uint8_t)insn->size;
		}
	cs_free(insn, 1);
	return found;
}

/* The block [addr, +size) lies within CS's limit (64-bit code has none). */
static bool block_fits_cs(const struct ucb_cs_cache *cs, uint64_t addr, uint32_t size)
{
	uint64_t eip = (uint32_t)(addr - cs->base);

	return cs->bits == 64 || eip + (size ? size : 1) - 1 <= cs->limit;
}

/*
 * CS limit checks, which 2.0.1 does not make (docs/backends/unicorn.md "CS limits"): a block starting beyond the
 * limit faults the transfer that led there (undone from its snapshot) or, reached by falling through, itself; an
 * instruction reaching past the limit inside the block gets a code hook that faults it. True: the block must not run.
 */
static bool beyond_cs_limit(struct ucb_engine *eng, uint64_t addr, uint32_t size, bool after_transfer)
{
	const struct ucb_cs_cache *cs = ucb_cs(eng);
	uint64_t eip = (uint32_t)(addr - cs->base);

	if (block_fits_cs(cs, addr, size) || eng->vcpu->leave != UCB_LEAVE_NONE)
		return false;
	if (eip > cs->limit) {
		ucb_limit_fault(eng, after_transfer, after_transfer ? eng->transfer_rip : eip);
		return true;
	}
	if (eng->limit_fault_at >= addr && eng->limit_fault_at < addr + size)
		return false; /* hooked already */
	uint8_t len = 0;
	uint64_t at = first_past_limit(eng, addr, size, &len);
	if (at == addr) {
		ucb_limit_fault(eng, false, eip);
		return true;
	}
	if (!at)
		return false;
	eng->limit_fault_at = at;
	eng->limit_fault_len = len;
	ucb_add_sync_site(eng, at);
	ucb_stop_at(eng, eip); /* translate the block again, with the hook */
	return true;
}

/* hook_block's work when its fast path does not apply: every check, in order. */
static __attribute__((noinline)) void block_start(struct ucb_engine *eng, uint64_t addr, uint32_t size)
{
	struct ucb_vcpu *v = eng->vcpu;
	bool after_transfer = eng->transfer_pending;

	eng->block = addr;
	eng->transfer_pending = false;
	uint64_t page = addr & ~(uint64_t)(UCB_PAGE - 1);
	if (page != eng->block_page_last) {
		eng->block_page_last = page;
		ucb_set_add(&eng->block_pages, page);
	}
	if ((eng->mode != UCB_LONG || !eng->cs.known || eng->cs.bits != 64) &&
	    beyond_cs_limit(eng, addr, size, after_transfer))
		return;
	if (v->leave != UCB_LEAVE_NONE || atomic_load_explicit(&v->stop_requested, memory_order_relaxed)) {
		ucb_stop_at(eng, addr - ucb_cs_base(eng));
		return;
	}
	if (atomic_load_explicit(&v->vm->generation, memory_order_relaxed) != eng->applied_gen) {
		ucb_vcpu_sync_running(v);
		ucb_stop_at(eng, addr - ucb_cs_base(eng)); /* re-fetch: this block may be gone */
		return;
	}
	/*
	 * Code published elsewhere since entry: this engine's stores there must be seen from the next block on (a
	 * writable mapping made before would hide them for good), so the entry's guard and watch run first.
	 */
	if (atomic_load_explicit(&v->vm->code_pub_gen, memory_order_relaxed) != eng->code_pub_seen) {
		ucb_stop_at(eng, addr - ucb_cs_base(eng));
		return;
	}
	if ((v->pending.want_intr_window && ucb_interruptible(eng)) ||
	    (v->pending.want_nmi_window && !ucb_nmi_blocked(eng))) {
		ucb_stop_at(eng, addr - ucb_cs_base(eng));
		v->leave = UCB_LEAVE_WINDOW;
		return;
	}
	if (!ucb_set_has_memo(&eng->scanned, addr))
		scan_block(eng, addr, size);
}

/* No CS-limit check to make for this block: 64-bit code, or a known CS whose limit covers the block. */
static bool block_within_cs(const struct ucb_engine *eng, uint64_t addr, uint32_t size)
{
	if (!eng->cs.known)
		return false;
	return eng->cs.bits == 64 ? eng->mode == UCB_LONG : block_fits_cs(&eng->cs, addr, size);
}

/*
 * Runs at the start of every translated block: the one place a running vCPU
 * is guaranteed to pass, so stops, memory updates and window checks live here.
 * The fast path is a loop's next iteration, within the CS limit, with nothing to do:
 * the same page, the block scanned and remembered, no stop, no change, no
 * window wanted. It decides that in a few loads and returns without the full
 * function's frame: ~2 ns of a 14-ns loop iteration (bench row guest_loads).
 */
static void hook_block(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
	struct ucb_engine *eng = user;
	struct ucb_vcpu *v = eng->vcpu;

	(void)uc;
	v->retire = false; /* a retired OUT's: nothing consumes it (IN and CPUID hooks clear their own) */
	if ((eng->scanned.memo == addr + 1 || eng->scanned.memo2 == addr + 1) &&
	    (addr & ~(uint64_t)(UCB_PAGE - 1)) == eng->block_page_last &&
	    !eng->transfer_pending && block_within_cs(eng, addr, size) &&
	    v->leave == UCB_LEAVE_NONE && !atomic_load_explicit(&v->stop_requested, memory_order_relaxed) &&
	    atomic_load_explicit(&v->vm->generation, memory_order_relaxed) == eng->applied_gen &&
	    atomic_load_explicit(&v->vm->code_pub_gen, memory_order_relaxed) == eng->code_pub_seen &&
	    !v->pending.want_intr_window && !v->pending.want_nmi_window) {
		eng->block = addr;
		return;
	}
	block_start(eng, addr, size);
}

static void hook_pc_sync(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value, void *user)
{
	(void)uc, (void)type, (void)addr, (void)size, (void)value, (void)user;
}

static const uc_mode uc_modes[UCB_MODE_COUNT] = { UC_MODE_16, UC_MODE_32, UC_MODE_64 };

struct ucb_engine *ucb_engine_get(struct ucb_vcpu *v, enum ucb_mode mode)
{
	struct ucb_engine *eng;
	uc_hook h;
	bool ok = true;

	if (v->engines[mode])
		return v->engines[mode];
	eng = calloc(1, sizeof *eng);
	if (!eng)
		return NULL;
	eng->vcpu = v;
	eng->mode = mode;
	eng->block_page_last = ~(uint64_t)0;
	if (uc_open(UC_ARCH_X86, uc_modes[mode], &eng->uc) != UC_ERR_OK) {
		free(eng);
		return NULL;
	}
	/*
	 * Exits on and none set: uc_emu_start stops only when a hook asks. With an `until` address instead, 2.0.1
	 * invalidates the code at until - 1 after every uc_emu_start, a code-TLB fill each time (~15-30 % of a
	 * stop/restart exit, measured).
	 */
	bool exits = uc_ctl_exits_enable(eng->uc) == UC_ERR_OK;
	if (!exits)
		ucb_log(v->vm, VMSIM_LOG_ERROR, "unicorn: uc_ctl_exits_enable failed (Unicorn older than 2.0.0?)");
	ok = exits && uc_context_alloc(eng->uc, &eng->ctx) == UC_ERR_OK && layout_probe(eng);
	if (exits && !ok)
		ucb_log(v->vm, VMSIM_LOG_ERROR, "unicorn: CPU state layout differs from 2.0.1's");
	ok = ok && uc_hook_add(eng->uc, &h, UC_HOOK_BLOCK, (void *)hook_block, eng, 1, 0) == UC_ERR_OK;
	ok = ok && uc_hook_add(eng->uc, &h, UC_HOOK_INSN, (void *)ucb_hook_in, eng, 1, 0, UC_X86_INS_IN) ==
	                   UC_ERR_OK;
	/* no OUT hook: an OUT the VMM answered, or does not intercept, has no effect in 2.0.1 without one (a callback
	 * that only forgot the retire was ~4 % of an io_out exit); ucb_hook_site and block starts forget it instead */
	ok = ok && uc_hook_add(eng->uc, &h, UC_HOOK_INSN, (void *)ucb_hook_cpuid, eng, 1, 0, UC_X86_INS_CPUID) ==
	                   UC_ERR_OK;
	ok = ok && uc_hook_add(eng->uc, &h, UC_HOOK_MEM_UNMAPPED | UC_HOOK_MEM_PROT, (void *)ucb_hook_fault, eng,
	                       1, 0) == UC_ERR_OK;
	/* A data-access hook on an address no guest reaches makes 2.0.1 keep the PC exact at every access. */
	ok = ok && uc_hook_add(eng->uc, &h, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, (void *)hook_pc_sync, eng,
	                       UCB_UNTIL, UCB_UNTIL) == UC_ERR_OK;
	ok = ok && uc_hook_add(eng->uc, &h, UC_HOOK_INTR, (void *)ucb_hook_intr, eng, 1, 0) == UC_ERR_OK;
	ok = ok && uc_hook_add(eng->uc, &h, UC_HOOK_INSN_INVALID, (void *)ucb_hook_invalid, eng, 1, 0) ==
	                   UC_ERR_OK;
	if (!ok) {
		ucb_engine_destroy(eng);
		return NULL;
	}
	ucb_engine_sync_memory(eng);
	v->engines[mode] = eng;
	return eng;
}

void ucb_engine_destroy(struct ucb_engine *eng)
{
	if (!eng)
		return;
	if (eng->ctx)
		uc_context_free(eng->ctx);
	if (eng->transfer_ctx)
		uc_context_free(eng->transfer_ctx);
	if (eng->uc)
		uc_close(eng->uc);
	ucb_shadow_forget_aliases(eng);
	free(eng->shadow.alias_sets);
	free(eng->applied);
	free(eng->shadow.live);
	free(eng->scanned.keys);
	free(eng->code_pages.keys);
	free(eng->code_alias);
	free(eng->stale.keys);
	free(eng->block_pages.keys);
	free(eng->orphans.keys);
	free(eng->sites.slots);
	free(eng);
}
