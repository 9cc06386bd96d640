/*
 * uc_mmu.c - the software MMU (shadow paging) of the Unicorn 2.0.1 backend.
 *
 * 2.0.1 walks guest page tables but then uses the linear address as the physical one (measured), so engines run
 * with CR0.PG hidden and, while the guest pages, see its linear address space: a linear region is mapped onto the
 * guest-physical backing on its first touch, from this backend's own walk (vmsim_x86_walk_ad, which sets A/D like
 * hardware). Mappings are dropped on CR0/CR4 writes, CR3 writes (unless the new tables map them alike:
 * keep_across_cr3), INVLPG, memory-map changes, a CPL change seen at an entry, and guest writes to a paging-structure
 * page that a live mapping was translated through. A failed walk is a #PF (CR2, architectural error code); a walk or a
 * translation reaching unattached memory is an NPF.
 * Measured costs and the structure chosen: docs/backends/unicorn.md, "Guest paging".
 */
#include <stdlib.h>
#include <string.h>

#include <vmsim/x86.h>

#include "uc_internal.h"

enum {
	PG_4K = 4096,
	PTE_BITS_WRITE = 1u << 1,
	CR0_WP = 1u << 16,
	CR4_PAE = 1u << 5,
	CR4_LA57 = 1u << 12,
	EXTEND_PAGES = 15 /* a 4 KiB leaf's region grows by up to this many already-accessed pages */
};

/* ---- guest-physical memory through the VM's attachment list (host memory, no engine involved) ---- */

static bool phys_span(struct ucb_vcpu *v, uint64_t gpa, size_t len, struct ucb_mapping *m)
{
	return ucb_vcpu_phys(v, gpa, m) && gpa + len <= m->gpa + m->size;
}

static bool read_phys(void *ctx, uint64_t gpa, void *dst, size_t len)
{
	struct ucb_mapping m;

	if (!phys_span(ctx, gpa, len, &m))
		return false;
	memcpy(dst, (const uint8_t *)m.hva + (gpa - m.gpa), len);
	return true;
}

static bool write_phys(void *ctx, uint64_t gpa, const void *src, size_t len)
{
	struct ucb_mapping m;

	if (!phys_span(ctx, gpa, len, &m) || !(m.prot & UC_PROT_WRITE))
		return false;
	memcpy((uint8_t *)m.hva + (gpa - m.gpa), src, len);
	return true;
}

/*
 * The walk's own accesses to paging-structure entries (4 or 8 bytes, aligned): atomic, as a processor's are (SDM Vol.
 * 3A 4.8: A and D are set with locked operations), so that vCPUs walking shared tables never lose each other's A/D
 * bits (two plain read-modify-writes did; TSan saw them in vmsim bench's scaling series).
 */
static bool read_entry(void *ctx, uint64_t gpa, void *dst, size_t len)
{
	struct ucb_mapping m;

	if (!phys_span(ctx, gpa, len, &m))
		return false;
	void *at = (uint8_t *)m.hva + (gpa - m.gpa);
	if (len == 8 && gpa % 8 == 0) {
		uint64_t v = __atomic_load_n((uint64_t *)at, __ATOMIC_RELAXED);
		memcpy(dst, &v, 8);
	} else if (len == 4 && gpa % 4 == 0) {
		uint32_t v = __atomic_load_n((uint32_t *)at, __ATOMIC_RELAXED);
		memcpy(dst, &v, 4);
	} else {
		memcpy(dst, at, len);
	}
	return true;
}

/* vmsim_x86_walk_ad writes an entry only as read plus A (and D): those two bits are ORed in. */
static bool set_entry_ad(void *ctx, uint64_t gpa, const void *src, size_t len)
{
	enum { PTE_AD = 0x60 };
	struct ucb_mapping m;
	uint64_t want = 0;

	if ((len != 4 && len != 8) || gpa % len || !phys_span(ctx, gpa, len, &m) || !(m.prot & UC_PROT_WRITE))
		return false;
	memcpy(&want, src, len);
	void *at = (uint8_t *)m.hva + (gpa - m.gpa);
	if (len == 8)
		__atomic_fetch_or((uint64_t *)at, want & PTE_AD, __ATOMIC_RELAXED);
	else
		__atomic_fetch_or((uint32_t *)at, (uint32_t)want & PTE_AD, __ATOMIC_RELAXED);
	return true;
}

/* ---- paging state as the guest has it (the engine holds CR0 without PG) ---- */

struct paging {
	uint64_t cr0, cr3, cr4, efer;
	bool user; /* CPL 3 */
};

/*
 * The registers a walk reads. Read through the API they cost ~40 ns a fault (EFER through 2.0.1's rdmsr helper):
 * remembered until the vCPU's tlb_gen moves. CLTS and LMSW change CR0 natively without a bump; walks read only
 * PG and WP of it, which those cannot change.
 */
static void walk_regs_fresh(struct ucb_engine *eng)
{
	struct ucb_vcpu *v = eng->vcpu;

	if (!eng->paging_memo.valid || eng->paging_memo.gen != v->tlb_gen) {
		uc_x86_msr efer = { .rid = UCB_MSR_EFER, .value = 0 };
		eng->paging_memo.cr0 = ucb_read_reg(eng, UC_X86_REG_CR0);
		eng->paging_memo.cr3 = ucb_read_reg(eng, UC_X86_REG_CR3);
		eng->paging_memo.cr4 = ucb_read_reg(eng, UC_X86_REG_CR4);
		uc_reg_read(eng->uc, UC_X86_REG_MSR, &efer);
		eng->paging_memo.efer = efer.value;
		eng->paging_memo.gen = v->tlb_gen;
		eng->paging_memo.valid = true;
	}
}

/* CS's selector: as ucb_cs remembers it, else read (2.0.1's segment register read cost ~20 ns an MMIO exit). */
static uint16_t cs_selector(struct ucb_engine *eng)
{
	return eng->cs.known ? eng->cs.selector : (uint16_t)ucb_read_reg(eng, UC_X86_REG_CS);
}

static void paging_now(struct ucb_engine *eng, struct paging *p)
{
	struct ucb_vcpu *v = eng->vcpu;

	walk_regs_fresh(eng);
	p->cr0 = eng->paging_memo.cr0 | v->cr0_pg;
	p->cr3 = eng->paging_memo.cr3;
	p->cr4 = eng->paging_memo.cr4;
	p->efer = eng->paging_memo.efer;
	p->user = (p->cr0 & UCB_CR0_PE) && (cs_selector(eng) & 3) == 3;
}

static enum vmsim_x86_walk_result walk(struct ucb_engine *eng, const struct paging *p, uint64_t lin, unsigned access,
                                       bool set_ad, struct vmsim_x86_walk_info *info, uint32_t *ec)
{
	if (p->user)
		access |= VMSIM_X86_USER;
	return vmsim_x86_walk_ad(p->cr0, p->cr3, p->cr4, p->efer, lin, access, read_entry, set_ad ? set_entry_ad : NULL,
	                         eng->vcpu, info, ec);
}

/* ---- the live shadow mappings of one engine ---- */

static bool depends_on(const struct ucb_shadow_region *r, uint64_t page)
{
	for (unsigned i = 0; i < r->npt; i++)
		if (r->pt[i] == page)
			return true;
	return false;
}

/* Is any guest-physical page in [gpa, gpa + size) a paging-structure page some live mapping was walked through? */
static bool holds_tables(const struct ucb_shadow *s, uint64_t gpa, uint64_t size, const struct ucb_shadow_region *also)
{
	for (size_t i = 0; i <= s->n; i++) {
		const struct ucb_shadow_region *r = i < s->n ? &s->live[i] : also;
		if (!r)
			continue;
		for (unsigned k = 0; k < r->npt; k++)
			if (r->pt[k] >= gpa && r->pt[k] < gpa + size)
				return true;
	}
	return false;
}

/* Drop the mappings translated through paging-structure page `page`, and any writable alias of that page. */
static void drop_dependents(struct ucb_engine *eng, uint64_t page)
{
	struct ucb_shadow *s = &eng->shadow;
	bool any = false;

	for (size_t i = s->n; i-- > 0;) {
		if (depends_on(&s->live[i], page)) {
			ucb_shadow_drop(eng, i);
			any = true;
		}
	}
	if (any)
		ucb_forget_code(eng);
}

/* Does the writable region r map code published by some engine that this engine's write hook does not watch? */
static bool guards_code(const struct ucb_engine *eng, const struct ucb_shadow_region *r)
{
	return ucb_code_guarded_in(eng, r->lin, r->gpa, r->size);
}

/* The alias a stepped store writes through (ucb_shadow.step): left writable until that store has run. */
static bool stepping_through(const struct ucb_shadow *s, const struct ucb_shadow_region *r)
{
	return s->step && s->step_lin >= r->lin && s->step_lin - r->lin < r->size;
}

bool ucb_shadow_writable_alias(const struct ucb_engine *eng, uint64_t gpa)
{
	const struct ucb_shadow *s = &eng->shadow;

	for (size_t i = 0; i < s->n; i++) {
		const struct ucb_shadow_region *r = &s->live[i];
		if ((r->prot & UC_PROT_WRITE) && !stepping_through(s, r) && gpa >= r->gpa && gpa - r->gpa < r->size &&
		    ucb_code_guarded(eng, r->lin + (gpa - r->gpa), gpa))
			return true;
	}
	return false;
}

void ucb_shadow_guard_code(struct ucb_engine *eng)
{
	struct ucb_shadow *s = &eng->shadow;

	for (size_t i = s->n; i-- > 0;)
		if ((s->live[i].prot & UC_PROT_WRITE) && !stepping_through(s, &s->live[i]) && guards_code(eng, &s->live[i]))
			ucb_shadow_drop(eng, i); /* mapped again on the next touch, read-only over the code */
}

bool ucb_shadow_step_end(struct ucb_engine *eng, uint64_t addr)
{
	struct ucb_shadow *s = &eng->shadow;

	if (!s->step || !s->step_next || addr != s->step_next)
		return false;
	s->step = false;
	/* the store changed code QEMU translated under the page's other address (another RAM block to it) */
	ucb_code_stored(eng, s->step_phys);
	ucb_shadow_drop_at(eng, s->step_lin); /* its next store through the alias is watched again */
	return true;
}

/*
 * 2.0.1's map cost grows with the region count: at the cap, regions go. First those no translated block ran from:
 * dropping one that ran code leaves 2.0.1's blocks of it where no removal reaches them (orphans), and the next store
 * into that code then flushes every block (~60 ms; a full drop here did that 77 times in a Debian boot). Only if
 * fewer than half go that way does everything go.
 */
static void make_room(struct ucb_engine *eng)
{
	struct ucb_shadow *s = &eng->shadow;
	const struct ucb_set *blocks = &eng->block_pages;
	bool ran[UCB_SHADOW_CAP + 1] = { false };
	size_t dropped = 0;

	for (size_t k = 0; k < blocks->cap && s->n <= UCB_SHADOW_CAP; k++) {
		if (!blocks->keys[k])
			continue;
		uint64_t page = blocks->keys[k] - 1; /* a block starting here may run into the next page */
		for (uint64_t at = page; at <= page + UCB_PAGE && at >= page; at += UCB_PAGE) {
			const struct ucb_shadow_region *r = ucb_shadow_at(s, at);
			if (r)
				ran[r - s->live] = true;
		}
	}
	for (size_t i = s->n; i-- > 0;)
		if (i <= UCB_SHADOW_CAP && !ran[i]) {
			ucb_shadow_drop(eng, i);
			dropped++;
		}
	if (dropped)
		ucb_forget_code_unmapped(eng);
	if (s->n > UCB_SHADOW_CAP / 2)
		ucb_mmu_flush(eng);
}

static bool region_add(struct ucb_engine *eng, const struct ucb_shadow_region *r)
{
	struct ucb_shadow *s = &eng->shadow;

	if (s->n >= UCB_SHADOW_CAP)
		make_room(eng);
	if (!ucb_grow((void **)&s->live, &s->cap, s->n, sizeof *s->live))
		return false;
	/*
	 * A writable mapping of a page this region's walk used must go: the guest's next store there is watched. Not
	 * the one mapped for the store the current instruction makes (a store into a live table, then the fetch of
	 * that instruction again): it stays, as stale as a hardware TLB entry, until a later instruction maps a region.
	 */
	uint64_t rip = ucb_read_reg(eng, UC_X86_REG_RIP);
	for (size_t i = s->n; i-- > 0;) {
		const struct ucb_shadow_region *w = &s->live[i];
		if (!(w->prot & UC_PROT_WRITE) || (w->lin == s->store_lin && rip == s->store_rip))
			continue;
		for (unsigned k = 0; k < r->npt; k++) {
			if (r->pt[k] >= w->gpa && r->pt[k] < w->gpa + w->size) {
				ucb_shadow_drop(eng, i);
				break;
			}
		}
	}
	struct ucb_shadow_region mapped = *r;
	if (!ucb_shadow_map(eng, &mapped))
		return false;
	s->maps++;
	size_t at = ucb_shadow_bound(s, r->lin);
	memmove(&s->live[at + 1], &s->live[at], (s->n - at) * sizeof *s->live);
	s->live[at] = mapped;
	s->n++;
	return true;
}

static unsigned region_prot(const struct paging *p, const struct vmsim_x86_walk_info *info, unsigned attach_prot)
{
	unsigned prot = UC_PROT_READ;
	bool may_write = info->writable || (!p->user && !(p->cr0 & CR0_WP));

	if (may_write && info->dirty && (attach_prot & UC_PROT_WRITE))
		prot |= UC_PROT_WRITE;
	if (!info->nx && (attach_prot & UC_PROT_EXEC))
		prot |= UC_PROT_EXEC;
	return prot;
}

/* Where the top-level paging structure is (SDM Vol. 3A 4.3-4.5: a page directory, four PDPTEs, a PML4/PML5). */
static uint64_t root_base(const struct paging *p)
{
	if (!(p->cr4 & CR4_PAE))
		return p->cr3 & 0xfffff000u;
	if (p->efer & UCB_EFER_LMA)
		return p->cr3 & 0x000ffffffffff000ull;
	return p->cr3 & 0xffffffe0u;
}

/* log2 of what one top-level entry maps. */
static unsigned root_shift(const struct paging *p)
{
	if (!(p->cr4 & CR4_PAE))
		return 22;
	if (p->efer & UCB_EFER_LMA)
		return (p->cr4 & CR4_LA57) ? 48 : 39;
	return 30;
}

/* The top-level entry the walk used, for keep_across_cr3. */
static void region_root(struct ucb_vcpu *v, struct ucb_shadow_region *r, const struct paging *p,
                        const struct vmsim_x86_walk_info *info)
{
	r->root_size = 0;
	r->root_val = 0;
	if (!info->entries)
		return;
	unsigned size = (p->cr4 & CR4_PAE) ? 8 : 4;
	if (read_entry(v, info->entry_gpa[0], &r->root_val, size)) {
		r->root_off = info->entry_gpa[0] - root_base(p);
		r->root_size = size;
	}
}

static void region_tables(struct ucb_shadow_region *r, const struct vmsim_x86_walk_info *info)
{
	r->npt = 0;
	for (unsigned i = 0; i < info->entries && i < 5; i++)
		r->pt[r->npt++] = info->entry_gpa[i] & ~(uint64_t)(PG_4K - 1);
}

/* Grow a 4 KiB region forward over pages translated alike (contiguous, same rights, A and D as it needs). */
static void extend(struct ucb_engine *eng, const struct paging *p, struct ucb_shadow_region *r,
                   const struct ucb_mapping *m, const struct vmsim_x86_walk_info *first)
{
	const struct ucb_shadow *s = &eng->shadow;
	size_t next = ucb_shadow_bound(s, r->lin);
	uint64_t limit = next < s->n ? s->live[next].lin : ~(uint64_t)0;

	for (int k = 0; k < EXTEND_PAGES; k++) {
		uint64_t lin = r->lin + r->size, gpa = r->gpa + r->size;
		struct vmsim_x86_walk_info info;
		uint32_t ec;
		if (lin + PG_4K > limit || lin + PG_4K < lin || gpa + PG_4K > m->gpa + m->size ||
		    (eng->mode != UCB_LONG && lin + PG_4K > 0x100000000ull))
			return;
		if (walk(eng, p, lin, 0, false, &info, &ec) != VMSIM_X86_WALK_OK || info.gpa != gpa ||
		    info.page_size != PG_4K || !info.accessed || info.writable != first->writable ||
		    info.user != first->user || info.nx != first->nx || ((r->prot & UC_PROT_WRITE) && !info.dirty))
			return;
		/* the same tables (a run within one page table) keep the dependency list exact */
		if (info.entries != r->npt || (info.entry_gpa[info.entries - 1] & ~(uint64_t)(PG_4K - 1)) !=
		                                      r->pt[r->npt - 1])
			return;
		if ((r->prot & UC_PROT_WRITE) && (holds_tables(s, gpa, PG_4K, r) || ucb_code_guarded(eng, lin, gpa)))
			return;
		r->size += PG_4K;
	}
}

/*
 * Paging structures inside a large page: the run around lin stops short of them (their stores are watched), or is
 * the one table page lin is in.
 */
static void clip_tables(const struct ucb_shadow *s, const struct ucb_shadow_region *r, uint64_t lin, uint64_t lin_page,
                        uint64_t gpa_page, uint64_t *lo, uint64_t *hi)
{
	uint64_t lin4k = lin & ~(uint64_t)(PG_4K - 1);

	for (size_t i = 0; i <= s->n; i++) {
		const struct ucb_shadow_region *x = i < s->n ? &s->live[i] : r;
		for (unsigned k = 0; k < x->npt; k++) {
			uint64_t t = x->pt[k];
			if (t < gpa_page + (*lo - lin_page) || t >= gpa_page + (*hi - lin_page))
				continue;
			uint64_t t_lin = lin_page + (t - gpa_page);
			if (t_lin == lin4k) {
				*lo = lin4k;
				*hi = lin4k + PG_4K;
				return;
			}
			if (t_lin < lin4k)
				*lo = t_lin + PG_4K;
			else
				*hi = t_lin;
		}
	}
}

/* Map the region around lin that the walk found; false if the engine refused it. */
static bool map_translation(struct ucb_engine *eng, const struct paging *p, uint64_t lin,
                            const struct vmsim_x86_walk_info *info, const struct ucb_mapping *m, bool want_write)
{
	struct ucb_shadow *s = &eng->shadow;
	struct ucb_shadow_region r;
	uint64_t page = info->page_size;
	uint64_t lin_page = lin & ~(page - 1), gpa_page = info->gpa & ~(page - 1);

	memset(&r, 0, sizeof r);
	region_tables(&r, info);
	region_root(eng->vcpu, &r, p, info);
	r.prot = region_prot(p, info, m->prot);
	/* the leaf clipped to the attachment and to the neighbouring live regions */
	uint64_t lo = lin_page, hi = lin_page + page;
	if (gpa_page < m->gpa)
		lo += m->gpa - gpa_page;
	if (gpa_page + page > m->gpa + m->size)
		hi -= gpa_page + page - (m->gpa + m->size);
	size_t at = ucb_shadow_bound(s, lin);
	if (at < s->n && s->live[at].lin < hi)
		hi = s->live[at].lin > lin ? s->live[at].lin : lin + PG_4K;
	if (at > 0 && s->live[at - 1].lin + s->live[at - 1].size > lo)
		lo = s->live[at - 1].lin + s->live[at - 1].size;
	lo = lo > lin ? lin & ~(uint64_t)(PG_4K - 1) : lo & ~(uint64_t)(PG_4K - 1);
	hi = (hi + PG_4K - 1) & ~(uint64_t)(PG_4K - 1);
	if (page > PG_4K)
		clip_tables(s, &r, lin, lin_page, gpa_page, &lo, &hi);
	r.lin = lo;
	r.size = hi - lo;
	r.gpa = gpa_page + (lo - lin_page);
	r.hva = (uint8_t *)m->hva + (r.gpa - m->gpa);
	r.att_hva = m->hva;
	r.att_size = m->size;
	if ((r.prot & UC_PROT_WRITE) && holds_tables(s, r.gpa, r.size, &r)) {
		if (want_write && r.size == PG_4K && depends_on(&r, r.gpa)) {
			/*
			 * The page maps itself (a store into the table the store's own translation uses): keep it
			 * writable; this one mapping is then as stale as a hardware TLB entry until the next flush.
			 */
		} else {
			r.prot &= ~(unsigned)UC_PROT_WRITE;
		}
	}
	if ((r.prot & UC_PROT_WRITE) && guards_code(eng, &r)) {
		/* code scanned elsewhere stays read-only here: a store for this instruction gets its own page only */
		uint64_t lin4k = lin & ~(uint64_t)(PG_4K - 1);
		struct ucb_shadow_region one = r;
		one.lin = lin4k;
		one.size = PG_4K;
		one.gpa = r.gpa + (lin4k - r.lin);
		one.hva = (uint8_t *)r.hva + (lin4k - r.lin);
		if (want_write && !guards_code(eng, &one))
			r = one;
		else
			r.prot &= ~(unsigned)UC_PROT_WRITE;
	}
	if (page == PG_4K)
		extend(eng, p, &r, m, info);
	return region_add(eng, &r);
}

/* ---- engine entry ---- */

void ucb_mmu_invlpg(struct ucb_vcpu *v, uint64_t lin)
{
	v->invlpg_page[v->invlpg_count % UCB_INVLPG_RING] = lin & ~(uint64_t)(PG_4K - 1);
	v->invlpg_count++;
}

/*
 * INVLPG invalidates the translations of one linear page (SDM Vol. 3A 4.10.4.1): drop the region holding each page
 * invalidated since the engine last looked, and forget the code scanned through it (the page may map other code
 * now). The others stay, as other TLB entries do; an engine more than a ring behind drops them all.
 */
static void drop_invalidated(struct ucb_engine *eng)
{
	struct ucb_vcpu *v = eng->vcpu;
	struct ucb_shadow *s = &eng->shadow;

	if (v->invlpg_count - s->invlpg_seen > UCB_INVLPG_RING) {
		ucb_mmu_flush(eng);
	} else {
		for (uint64_t k = s->invlpg_seen; k != v->invlpg_count; k++) {
			const struct ucb_shadow_region *r = ucb_shadow_at(s, v->invlpg_page[k % UCB_INVLPG_RING]);
			if (!r)
				continue;
			uint64_t lo = r->lin, hi = r->lin + r->size;
			ucb_shadow_drop(eng, (size_t)(r - s->live));
			ucb_forget_code_range(eng, lo, hi);
		}
	}
	s->invlpg_seen = v->invlpg_count;
}

uint64_t ucb_mmu_efer(struct ucb_engine *eng)
{
	walk_regs_fresh(eng);
	return eng->paging_memo.efer;
}

/*
 * Would the guest's tables now translate every page of r as r maps it (same guest-physical page, at least r's rights,
 * A set, and D where r lets the guest write)? Walked without setting A/D, as a TLB refill would find the entries.
 * Records the tables the walk used, which are the ones to watch now.
 */
static bool walks_alike(struct ucb_engine *eng, const struct paging *p, struct ucb_shadow_region *r)
{
	for (uint64_t off = 0; off < r->size;) {
		struct vmsim_x86_walk_info info;
		struct ucb_mapping m;
		uint32_t ec;
		uint64_t lin = r->lin + off;
		if (walk(eng, p, lin, 0, false, &info, &ec) != VMSIM_X86_WALK_OK || !info.accessed ||
		    info.gpa != r->gpa + off || !ucb_vcpu_phys(eng->vcpu, info.gpa, &m) ||
		    (r->prot & ~region_prot(p, &info, m.prot)))
			return false;
		if (!off)
			region_tables(r, &info);
		off = ((lin | (info.page_size - 1)) + 1) - r->lin; /* the rest of this leaf translates alike */
	}
	return true;
}

/*
 * A MOV to CR3 and nothing else since the engine last ran: a mapping whose walk went through a top-level entry the new
 * tables hold unchanged (same value, A bit included), and which the new tables still translate alike page by page
 * (stores the engine cannot watch, the VMM's or a table mapping itself, may have changed lower entries; a CR3 write
 * is the guest's way to have them take effect), would be walked to the same translation again: it stays. Without
 * this, every CR3 write dropped every mapping, and 2.0.1 then kept the dropped regions' blocks where no removal
 * reaches them, so the next store into code there flushed every translated block (~60 ms each, 148 times in a Debian
 * boot: text_poke switches CR3 for each patch). The new top-level table is watched like the others: a live mapping
 * that lets the guest write it goes.
 */
static void keep_across_cr3(struct ucb_engine *eng)
{
	struct ucb_shadow *s = &eng->shadow;
	struct paging p;

	paging_now(eng, &p);
	uint64_t base = root_base(&p);
	unsigned shift = root_shift(&p);
	for (size_t i = s->n; i-- > 0;) {
		struct ucb_shadow_region *r = &s->live[i];
		uint64_t val = 0;
		bool same = r->root_size && ((r->lin ^ (r->lin + r->size - 1)) >> shift) == 0 &&
		            read_entry(eng->vcpu, base + r->root_off, &val, r->root_size) && val == r->root_val &&
		            walks_alike(eng, &p, r);
		if (same)
			continue;
		ucb_shadow_drop(eng, i);
	}
	uint64_t root_page = base & ~(uint64_t)(PG_4K - 1);
	for (size_t i = s->n; i-- > 0;) {
		const struct ucb_shadow_region *r = &s->live[i];
		if ((r->prot & UC_PROT_WRITE) && root_page >= r->gpa && root_page - r->gpa < r->size)
			ucb_shadow_drop(eng, i);
	}
	ucb_forget_code_unmapped(eng); /* what the dropped regions mapped may be other code under the new tables */
	s->repeats = 0;
}

void ucb_mmu_prepare(struct ucb_engine *eng)
{
	struct ucb_vcpu *v = eng->vcpu;
	struct ucb_shadow *s = &eng->shadow;
	bool paged = v->cr0_pg != 0;
	bool user = paged && (cs_selector(eng) & 3) == 3;

	if (paged == s->paged && s->gen == v->tlb_gen && s->user == user) {
		if (s->invlpg_seen != v->invlpg_count)
			drop_invalidated(eng);
		return;
	}
	if (paged && s->paged && s->user == user && s->flush_gen == v->flush_gen && !s->step) {
		if (s->invlpg_seen != v->invlpg_count)
			drop_invalidated(eng);
		keep_across_cr3(eng);
		s->gen = v->tlb_gen;
		return;
	}
	s->invlpg_seen = v->invlpg_count; /* the flush below drops those regions too */
	ucb_mmu_flush(eng);
	if (paged && !s->paged)
		ucb_engine_unmap_all(eng); /* guest-physical mappings would alias linear addresses */
	if (paged != s->paged)
		ucb_forget_code(eng);
	s->paged = paged;
	s->gen = v->tlb_gen;
	s->flush_gen = v->flush_gen;
	s->user = user;
}

/* ---- the backend's own guest memory accesses ---- */

/* True while the engine's addresses are guest-linear (paging on, or its shadow not yet dropped). */
static bool linear(const struct ucb_engine *eng)
{
	return eng->vcpu->cr0_pg != 0 || eng->shadow.paged;
}

/* Keep why an access failed, for event delivery (only the first since it cleared the record counts); false. */
static bool access_failed(struct ucb_engine *eng, struct ucb_access_fault why)
{
	if (eng->access_fault.kind == UCB_ACCESS_OK)
		eng->access_fault = why;
	return false;
}

/* Guest-linear memory through the guest's page tables, in host memory (no engine access). */
static bool access_linear(struct ucb_engine *eng, uint64_t lin, void *buf, size_t len, bool write)
{
	struct paging p;
	uint8_t *at = buf;

	paging_now(eng, &p);
	p.user = false; /* the backend's own accesses (decoding, event delivery) are supervisor accesses */
	while (len) {
		struct vmsim_x86_walk_info info;
		uint32_t ec;
		size_t chunk = PG_4K - (lin & (PG_4K - 1));
		if (chunk > len)
			chunk = len;
		enum vmsim_x86_walk_result r = walk(eng, &p, lin, write ? VMSIM_X86_WRITE : 0, true, &info, &ec);
		/* lin: the first byte of the access in the page that faulted */
		if (r == VMSIM_X86_WALK_FAULT)
			return access_failed(eng, (struct ucb_access_fault){ UCB_ACCESS_PF, ec, lin, 0, false, write });
		if (r != VMSIM_X86_WALK_OK)
			return access_failed(eng, (struct ucb_access_fault){ UCB_ACCESS_NPF, 0, lin, info.fault_gpa, true,
			                                                     false });
		if (write) {
			drop_dependents(eng, info.gpa & ~(uint64_t)(PG_4K - 1));
			if (!write_phys(eng->vcpu, info.gpa, at, chunk))
				return access_failed(eng, (struct ucb_access_fault){ UCB_ACCESS_NPF, 0, lin, info.gpa, false,
				                                                     true });
		} else if (!read_phys(eng->vcpu, info.gpa, at, chunk)) {
			return access_failed(eng, (struct ucb_access_fault){ UCB_ACCESS_NPF, 0, lin, info.gpa, false, false });
		}
		lin += chunk;
		at += chunk;
		len -= chunk;
	}
	return true;
}

/* At an engine address: linear through the guest's page tables while it pages, else guest-physical (mapped lazily). */
static bool guest_access(struct ucb_engine *eng, uint64_t addr, void *buf, size_t len, bool write)
{
	if (linear(eng))
		return access_linear(eng, addr, buf, len, write);
	/* 2.0.1's uc_mem_write ignores protection: a store to a read-only attachment fails here, as write_phys's does */
	for (uint64_t page = addr & ~(uint64_t)(UCB_PAGE - 1); write && page < addr + len; page += UCB_PAGE) {
		unsigned prot = ucb_vcpu_prot(eng->vcpu, page);
		if (prot && !(prot & UC_PROT_WRITE)) {
			uint64_t gpa = page > addr ? page : addr;
			return access_failed(eng, (struct ucb_access_fault){ UCB_ACCESS_NPF, 0, gpa, gpa, false, true });
		}
	}
	for (int attempt = 0; attempt < 4; attempt++) {
		uc_err err = write ? uc_mem_write(eng->uc, addr, buf, len) : uc_mem_read(eng->uc, addr, buf, len);
		if (err == UC_ERR_OK)
			return true;
		/* map what backs the range lazily, then try again (an access may span a few attachments) */
		bool any = false;
		for (uint64_t page = addr & ~(uint64_t)(UCB_PAGE - 1); page < addr + len; page += UCB_PAGE)
			any = ucb_engine_map_lazy(eng, page) || any;
		if (!any)
			break;
	}
	/* linear is guest-physical here: the first page of the access nothing backs (uc_mem_write ignores protection) */
	uint64_t gpa = addr;
	for (uint64_t page = addr & ~(uint64_t)(UCB_PAGE - 1); page < addr + len; page += UCB_PAGE) {
		if (!ucb_vcpu_prot(eng->vcpu, page)) {
			gpa = page > addr ? page : addr;
			break;
		}
	}
	return access_failed(eng, (struct ucb_access_fault){ UCB_ACCESS_NPF, 0, gpa, gpa, false, write });
}

bool ucb_guest_read(struct ucb_engine *eng, uint64_t addr, void *buf, size_t len)
{
	return guest_access(eng, addr, buf, len, false);
}

bool ucb_guest_write(struct ucb_engine *eng, uint64_t addr, const void *buf, size_t len)
{
	return guest_access(eng, addr, (void *)buf, len, true);
}

/* ---- faults ---- */

/*
 * A store through linear lin into code page `page` from an instruction in that same page (at another address):
 * re-entering at it scans its block, which publishes the page again, whose writable alias then had to go before
 * the block ran, so the store faulted for good (Debian's kernel's text_poke). The alias stays writable for this
 * store alone; the run loop puts a site hook on the next instruction (step_next), which ends that
 * (ucb_shadow_step_end) and drops the page's translations, which QEMU keeps for a store through another RAM block.
 */
static void step_self_store(struct ucb_vcpu *v, uint64_t lin, uint64_t page)
{
	struct ucb_engine *eng = v->active;
	uint64_t at = v->fault_rip + ucb_cs_base(eng), at_phys;
	uint64_t lin_page = lin & ~(uint64_t)(PG_4K - 1), at_page = at & ~(uint64_t)(PG_4K - 1);

	if (lin_page == at_page || !ucb_shadow_phys(eng, at_page, &at_phys) || at_phys != page)
		return;
	eng->shadow.step = true;
	eng->shadow.step_lin = lin_page;
	eng->shadow.step_phys = page;
	eng->shadow.step_next = 0; /* the run loop knows the instruction's length */
}

/* Translate and map the page holding lin for access; RETRY when mapped. */
static enum ucb_mmu_outcome map_page(struct ucb_vcpu *v, const struct paging *p, uint64_t lin, unsigned access,
                                     uint32_t *error_code, struct ucb_mmu_npf *npf)
{
	struct ucb_engine *eng = v->active;
	struct vmsim_x86_walk_info info;
	uint32_t ec = 0;

	enum vmsim_x86_walk_result r = walk(eng, p, lin, access, true, &info, &ec);
	if (r == VMSIM_X86_WALK_UNREADABLE) {
		*npf = (struct ucb_mmu_npf){ info.fault_gpa, true, p->user };
		return UCB_MMU_NPF;
	}
	if (r == VMSIM_X86_WALK_FAULT) {
		*error_code = ec;
		return UCB_MMU_PF;
	}
	struct ucb_mapping m;
	unsigned need = access == VMSIM_X86_WRITE ? UC_PROT_WRITE : access == VMSIM_X86_FETCH ? UC_PROT_EXEC
	                                                                                  : UC_PROT_READ;
	if (!ucb_vcpu_phys(v, info.gpa, &m) || !(m.prot & need)) {
		*npf = (struct ucb_mmu_npf){ info.gpa, false, p->user };
		return UCB_MMU_NPF;
	}
	if (access == VMSIM_X86_WRITE) {
		uint64_t page = info.gpa & ~(uint64_t)(PG_4K - 1);
		drop_dependents(eng, page); /* a store into paging structures */
		if (ucb_code_published(v->vm, page)) {
			ucb_code_stored(eng, page); /* a store into code scanned somewhere: every scan of it goes */
			step_self_store(v, lin, page);
		}
	}
	/* what covers lin now (read-only before D was set, or a table page) goes; then the new translation */
	ucb_shadow_drop_at(eng, lin);
	if (!map_translation(eng, p, lin, &info, &m, access == VMSIM_X86_WRITE)) {
		ucb_log(v->vm, VMSIM_LOG_ERROR, "unicorn: vCPU %u: cannot map linear 0x%llx", v->id,
		        (unsigned long long)lin);
		return UCB_MMU_ERROR;
	}
	if (access == VMSIM_X86_WRITE) {
		eng->shadow.store_rip = ucb_read_reg(eng, UC_X86_REG_RIP);
		eng->shadow.store_lin = lin & ~(uint64_t)(PG_4K - 1);
	}
	return UCB_MMU_RETRY;
}

static bool covered(const struct ucb_shadow *s, uint64_t lin, unsigned need)
{
	const struct ucb_shadow_region *r = ucb_shadow_at(s, lin);
	return r && (r->prot & need) == need;
}

/* The last MMIO site walk (struct ucb_engine.mmio_walk) gives lin's translation for this access unchanged. */
static bool walk_memo_holds(struct ucb_engine *eng, uint64_t lin, bool write, bool user)
{
	struct ucb_vcpu *v = eng->vcpu;
	const struct ucb_mmio_walk *w = &eng->mmio_walk;

	if (!w->valid || w->lin_page != (lin & ~(uint64_t)(PG_4K - 1)) || (write && !w->write) || w->user != user ||
	    w->tlb_gen != v->tlb_gen || w->vm_gen != atomic_load_explicit(&v->vm->generation, memory_order_relaxed))
		return false;
	for (unsigned i = 0; i < w->n; i++)
		if (__atomic_load_n(w->at[i], __ATOMIC_RELAXED) != w->val[i])
			return false;
	return true;
}

/* Remember a successful 4- or 5-level walk of lin (8-byte entries) for walk_memo_holds. */
static void walk_memo_keep(struct ucb_engine *eng, uint64_t lin, bool write, bool user,
                           const struct vmsim_x86_walk_info *info)
{
	struct ucb_vcpu *v = eng->vcpu;
	struct ucb_mmio_walk *w = &eng->mmio_walk;
	struct ucb_mapping m;

	/* the generation first: attachments that change after this read make the memo stale, not wrong */
	w->vm_gen = atomic_load_explicit(&v->vm->generation, memory_order_acquire);
	if (!(eng->paging_memo.efer & UCB_EFER_LMA) || info->entries > 5)
		return;
	for (unsigned i = 0; i < info->entries; i++) {
		uint64_t at = info->entry_gpa[i];
		if (at % 8 || !phys_span(v, at, 8, &m))
			return;
		w->at[i] = (const uint64_t *)((const uint8_t *)m.hva + (at - m.gpa));
		w->val[i] = __atomic_load_n(w->at[i], __ATOMIC_RELAXED);
	}
	w->n = info->entries;
	w->lin_page = lin & ~(uint64_t)(PG_4K - 1);
	w->gpa_page = info->gpa & ~(uint64_t)(PG_4K - 1);
	w->write = write;
	w->user = user;
	w->tlb_gen = v->tlb_gen;
	w->valid = true;
}

bool ucb_mmu_unbacked(struct ucb_engine *eng, uint64_t lin, unsigned size, bool write, uint64_t *gpa, bool *user)
{
	struct vmsim_x86_walk_info info;
	struct ucb_mapping m;
	struct paging p;
	uint32_t ec = 0;

	/* what the engine would do first: use a live mapping, or change the mappings' privilege (ucb_mmu_fault) */
	if (!eng->shadow.paged || (lin & (PG_4K - 1)) + size > PG_4K || ucb_shadow_at(&eng->shadow, lin))
		return false;
	paging_now(eng, &p); /* the site hook has loaded ucb_cs: no register read */
	unsigned va_bits = (p.cr4 & CR4_LA57) ? 57 : 48;
	if ((uint64_t)((int64_t)(lin << (64 - va_bits)) >> (64 - va_bits)) != lin || p.user != eng->shadow.user)
		return false; /* not canonical: not a walk's business */
	if (walk_memo_holds(eng, lin, write, p.user)) {
		*gpa = eng->mmio_walk.gpa_page | (lin & (PG_4K - 1));
	} else {
		eng->mmio_walk.valid = false;
		if (walk(eng, &p, lin, write ? VMSIM_X86_WRITE : 0, true, &info, &ec) != VMSIM_X86_WALK_OK ||
		    ucb_vcpu_phys(eng->vcpu, info.gpa, &m))
			return false;
		*gpa = info.gpa;
		walk_memo_keep(eng, lin, write, p.user, &info);
	}
	eng->shadow.last_fault = ~(uint64_t)0; /* an exit is progress, as in ucb_mmu_fault */
	eng->shadow.repeats = 0;
	*user = p.user;
	return true;
}

enum ucb_mmu_outcome ucb_mmu_fault(struct ucb_vcpu *v, uint32_t *error_code, uint64_t *cr2, struct ucb_mmu_npf *npf)
{
	struct ucb_engine *eng = v->active;
	const struct ucb_fault *f = &v->fault;
	struct paging p;
	unsigned access = 0, need = UC_PROT_READ;

	switch (f->type) {
	case UC_MEM_WRITE_UNMAPPED:
	case UC_MEM_WRITE_PROT:
		access = VMSIM_X86_WRITE;
		need = UC_PROT_WRITE;
		break;
	case UC_MEM_FETCH_UNMAPPED:
	case UC_MEM_FETCH_PROT:
		access = VMSIM_X86_FETCH;
		need = UC_PROT_EXEC;
		break;
	default:
		break;
	}
	paging_now(eng, &p);
	if (p.user != eng->shadow.user) {
		ucb_mmu_flush(eng); /* mappings were checked for the other privilege */
		eng->shadow.user = p.user;
	}
	eng->shadow.faults++;
	/* the same fault right after mapping it, 8 times: the engine does not take the mapping; say so, never spin */
	if (f->addr == eng->shadow.last_fault && f->type == eng->shadow.last_type) {
		if (++eng->shadow.repeats >= 8) {
			ucb_log(v->vm, VMSIM_LOG_ERROR, "unicorn: vCPU %u: linear 0x%llx faults again after mapping it", v->id,
			        (unsigned long long)f->addr);
			eng->shadow.repeats = 0;
			return UCB_MMU_ERROR;
		}
	} else {
		eng->shadow.last_fault = f->addr;
		eng->shadow.last_type = f->type;
		eng->shadow.repeats = 0;
	}
	/* every page the access touches (it may straddle two); the one that faulted first is mapped again anyway */
	uint64_t last = f->addr + (f->size > 0 ? (uint64_t)f->size - 1 : 0);
	enum ucb_mmu_outcome out = UCB_MMU_RETRY;
	for (uint64_t lin = f->addr; out == UCB_MMU_RETRY; lin = (lin | (PG_4K - 1)) + 1) {
		if (lin == f->addr || !covered(&eng->shadow, lin, need)) {
			out = map_page(v, &p, lin, access, error_code, npf);
			*cr2 = lin;
		}
		if ((lin | (PG_4K - 1)) >= last)
			break;
	}
	if (out != UCB_MMU_RETRY) {
		eng->shadow.repeats = 0; /* an exit or a #PF is progress (an MMIO loop faults at one address forever) */
		eng->shadow.last_fault = ~(uint64_t)0;
	}
	return out;
}

