/*
 * uc_shadow.c - dropping the live linear mappings of a paged engine (uc_mmu.c makes them): one, or all of them when
 * what they were translated from changes. Below uc_memory.c, whose engine sync flushes them.
 */
#include <string.h>

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

void ucb_shadow_drop(struct ucb_engine *eng, size_t i)
{
	struct ucb_shadow *s = &eng->shadow;

	uc_mem_unmap(eng->uc, s->live[i].lin, s->live[i].size);
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
		if (eng->sites.slots[i].used)
			eng->sites.slots[i].gen = ~(uint64_t)0;
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
