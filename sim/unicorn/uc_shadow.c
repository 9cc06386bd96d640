/*
 * uc_shadow.c - dropping the live linear mappings of a paged engine (uc_mmu.c makes them): one, or all of them when
 * what they were translated from changes. Below uc_memory.c, whose engine sync flushes them.
 */
#include <string.h>

#include "uc_internal.h"

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

	if (!s->n)
		return;
	while (s->n)
		ucb_shadow_drop(eng, s->n - 1);
	s->flushes++;
	s->repeats = 0; /* a fault after a flush is expected once more: not a mapping that failed to take */
	ucb_forget_code(eng);
}
