/*
 * uc_shadow.c - the live linear mappings of a paged engine (uc_mmu.c decides them): mapping one at host addresses no
 * other live one uses (alias layers), dropping one, or all of them when what they were translated from changes.
 * Below uc_memory.c, whose engine sync flushes them.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "uc_internal.h"

size_t ucb_shadow_bound(const struct ucb_shadow *s, uint64_t lin)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->live[mid].lin + s->live[mid].size <= lin)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct ucb_shadow_region *ucb_shadow_at(const struct ucb_shadow *s, uint64_t lin)
{
	size_t at = ucb_shadow_bound(s, lin);
	return at < s->n && s->live[at].lin <= lin ? &s->live[at] : NULL;
}

bool ucb_shadow_phys(const struct ucb_engine *eng, uint64_t lin, uint64_t *gpa)
{
	const struct ucb_shadow_region *r = ucb_shadow_at(&eng->shadow, lin);

	if (r)
		*gpa = (r->gpa + (lin - r->lin)) & ~(uint64_t)(UCB_PAGE - 1);
	return r != NULL;
}

void ucb_shadow_drop_at(struct ucb_engine *eng, uint64_t lin)
{
	const struct ucb_shadow_region *r = ucb_shadow_at(&eng->shadow, lin);

	if (r)
		ucb_shadow_drop(eng, (size_t)(r - eng->shadow.live));
}

/* The alias set of the attachment at hva, made on first use; NULL without memory. */
static struct ucb_alias_set *alias_set(struct ucb_shadow *s, void *hva, uint64_t size)
{
	for (size_t i = 0; i < s->nalias_sets; i++)
		if (s->alias_sets[i].hva == hva && s->alias_sets[i].size == size)
			return &s->alias_sets[i];
	if (!ucb_grow((void **)&s->alias_sets, &s->alias_sets_cap, s->nalias_sets, sizeof *s->alias_sets))
		return NULL;
	struct ucb_alias_set *set = &s->alias_sets[s->nalias_sets++];
	memset(set, 0, sizeof *set);
	set->hva = hva;
	set->size = size;
	set->layer[0] = hva;
	return set;
}

static bool host_in_use(const struct ucb_shadow *s, const uint8_t *host, uint64_t size)
{
	for (size_t i = 0; i < s->n; i++) {
		const uint8_t *other = s->live[i].host;
		if (host < other + s->live[i].size && other < host + size)
			return true;
	}
	return false;
}

/*
 * 2.0.1 files a translated block under the RAM block its code's host address falls in (qemu_ram_addr_from_host: the
 * most recently used block holding it, else the largest), not under the region it ran from. Regions that map the same
 * guest memory at several linear addresses would share host addresses, and a block run through one could be filed
 * under another, where no removal through its own address finds it (Debian's kernel ran a call that text_poke_early
 * had patched into STI). So no two live regions map the same host address: a region whose pages another one maps
 * takes them from an alias layer (mremap with old size 0 maps the same pages again elsewhere, which Linux does for
 * shared mappings; vmsim's dataspaces are MAP_SHARED). Memory it cannot alias (a private mapping of a third-party
 * host) is mapped as it is, and the engine then drops all its blocks where it would drop some (ucb_engine_enter).
 */
bool ucb_shadow_map(struct ucb_engine *eng, struct ucb_shadow_region *r)
{
	struct ucb_shadow *s = &eng->shadow;
	struct ucb_alias_set *set = alias_set(s, r->att_hva, r->att_size);
	size_t off = (size_t)((uint8_t *)r->hva - (uint8_t *)r->att_hva);

	r->host = NULL;
	for (unsigned k = 0; set && k < UCB_ALIAS_LAYERS; k++) {
		if (!set->layer[k]) {
			void *alias = mremap(set->hva, 0, (size_t)set->size, MREMAP_MAYMOVE);
			if (alias == MAP_FAILED)
				break;
			set->layer[k] = alias;
		}
		uint8_t *host = (uint8_t *)set->layer[k] + off;
		if (!host_in_use(s, host, r->size)) {
			r->host = host;
			break;
		}
	}
	r->unaliased = !r->host;
	if (!r->host)
		r->host = r->hva;
	if (uc_mem_map_ptr(eng->uc, r->lin, r->size, r->prot, r->host) != UC_ERR_OK)
		return false;
	s->unaliased += r->unaliased;
	return true;
}

void ucb_shadow_forget_aliases(struct ucb_engine *eng)
{
	struct ucb_shadow *s = &eng->shadow;

	for (size_t i = 0; i < s->nalias_sets; i++)
		for (unsigned k = 1; k < UCB_ALIAS_LAYERS && s->alias_sets[i].layer[k]; k++)
			munmap(s->alias_sets[i].layer[k], (size_t)s->alias_sets[i].size);
	s->nalias_sets = 0;
}

void ucb_shadow_drop(struct ucb_engine *eng, size_t i)
{
	struct ucb_shadow *s = &eng->shadow;
	struct ucb_shadow_region *r = &s->live[i];

	ucb_orphan_blocks(eng, r->lin, r->lin + r->size, r->gpa);
	uc_mem_unmap(eng->uc, r->lin, r->size);
	s->unaliased -= r->unaliased;
	s->unmaps++;
	memmove(&s->live[i], &s->live[i + 1], (s->n - i - 1) * sizeof *s->live);
	s->n--;
}

/* Code at a linear address may be other code now: scan blocks again, re-decode sites. */
void ucb_forget_code(struct ucb_engine *eng)
{
	ucb_set_clear(&eng->scanned);
	ucb_code_pages_clear(eng);
	for (size_t i = 0; i < eng->sites.cap; i++)
		if (eng->sites.slots[i].used) {
			eng->sites.slots[i].gen = ~(uint64_t)0;
			eng->sites.slots[i].mmio.valid = false;
		}
}

void ucb_mmu_flush(struct ucb_engine *eng)
{
	struct ucb_shadow *s = &eng->shadow;

	s->step = false; /* its alias goes with the rest */
	if (!s->n)
		return;
	while (s->n)
		ucb_shadow_drop(eng, s->n - 1);
	s->flushes++;
	s->repeats = 0; /* a fault after a flush is expected once more: not a mapping that failed to take */
	ucb_forget_code(eng);
}

/*
 * Forget the code state of the linear addresses keep_at refuses: scanned pages, code aliases, the scans of blocks
 * keep_block refuses (by start; a block is at most one page long, the scanner caps it) and the sites' decodes.
 */
static void forget_code_where(struct ucb_engine *eng, bool (*keep_at)(uint64_t lin, const void *ctx),
                              bool (*keep_block)(uint64_t start, const void *ctx), const void *ctx)
{
	ucb_set_keep_if(&eng->code_pages, keep_at, ctx);
	size_t kept = 0;
	for (size_t i = 0; i < eng->ncode_alias; i++)
		if (keep_at(eng->code_alias[i].lin, ctx))
			eng->code_alias[kept++] = eng->code_alias[i];
	eng->ncode_alias = kept;
	eng->code_gen++; /* remembered instruction lengths may be stale */
	ucb_set_keep_if(&eng->scanned, keep_block, ctx);
	for (size_t i = 0; i < eng->sites.cap; i++) {
		struct ucb_site *site = &eng->sites.slots[i];
		if (site->used && !keep_at(site->addr, ctx)) {
			site->gen = ~(uint64_t)0; /* ucb_site_insn decodes it again */
			site->mmio.valid = false;
		}
	}
}

/* A linear address whose translation a live region keeps; for a block start, its whole page. */
static bool kept_linear(uint64_t lin, const void *ctx)
{
	return ucb_shadow_at(ctx, lin) != NULL;
}

static bool kept_block(uint64_t start, const void *ctx)
{
	const struct ucb_shadow_region *r = ucb_shadow_at(ctx, start);
	return r && start + UCB_PAGE <= r->lin + r->size && start + UCB_PAGE > start;
}

void ucb_forget_code_unmapped(struct ucb_engine *eng)
{
	forget_code_where(eng, kept_linear, kept_block, &eng->shadow);
}

/* [lo, hi), and for block starts also the page before lo: a block starting there may run into the range. */
struct code_range {
	uint64_t lo, hi, block_lo;
};

static bool outside_range(uint64_t lin, const void *ctx)
{
	const struct code_range *r = ctx;
	return lin < r->lo || lin >= r->hi;
}

static bool block_outside_range(uint64_t start, const void *ctx)
{
	const struct code_range *r = ctx;
	return start < r->block_lo || start >= r->hi;
}

void ucb_forget_code_range(struct ucb_engine *eng, uint64_t lo, uint64_t hi)
{
	const struct code_range range = { lo, hi, lo >= UCB_PAGE ? lo - UCB_PAGE : 0 };
	forget_code_where(eng, outside_range, block_outside_range, &range);
}
