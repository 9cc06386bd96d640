/* kvm_slots.c - the VM's memory slots as a gpa-sorted table (binary search) with KVM slot ids reused. No ioctls. */
#include <stdlib.h>
#include <string.h>

#include "kvm_slots.h"

void kvmb_slots_init(struct kvmb_slots *t, uint32_t max_ids)
{
	memset(t, 0, sizeof *t);
	t->max_ids = max_ids;
}

void kvmb_slots_fini(struct kvmb_slots *t)
{
	free(t->v);
	free(t->free_ids);
	memset(t, 0, sizeof *t);
}

/* The number of slots whose gpa is <= gpa (so index - 1 is the candidate holding gpa). */
static unsigned upper(const struct kvmb_slots *t, uint64_t gpa)
{
	unsigned lo = 0, hi = t->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (t->v[mid].gpa <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct kvmb_slot *kvmb_slots_find(const struct kvmb_slots *t, uint64_t gpa)
{
	unsigned i = upper(t, gpa);

	if (i == 0)
		return NULL;
	const struct kvmb_slot *s = &t->v[i - 1];
	return gpa - s->gpa < s->size ? s : NULL;
}

enum vmsim_result kvmb_slots_add(struct kvmb_slots *t, uint64_t gpa, uint64_t size, void *hva, unsigned prot,
                                 uint32_t *id)
{
	unsigned i = upper(t, gpa);

	if (!size || gpa + size < gpa)
		return VMSIM_INVALID_ARGUMENT;
	if (i > 0 && t->v[i - 1].gpa + t->v[i - 1].size > gpa)
		return VMSIM_REGION_CONFLICT;
	if (i < t->n && t->v[i].gpa < gpa + size)
		return VMSIM_REGION_CONFLICT;
	if (!t->nfree && t->next_id >= t->max_ids)
		return VMSIM_OUT_OF_RAM; /* every slot KVM offers is in use */
	if (t->n == t->cap) {
		unsigned cap = t->cap ? t->cap * 2 : 16;
		struct kvmb_slot *v = realloc(t->v, cap * sizeof *v);
		uint32_t *f = v ? realloc(t->free_ids, cap * sizeof *f) : NULL;
		if (v)
			t->v = v;
		if (!f)
			return VMSIM_OUT_OF_RAM;
		t->free_ids = f;
		t->cap = cap;
	}
	*id = t->nfree ? t->free_ids[--t->nfree] : t->next_id++;
	memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof t->v[0]);
	t->v[i] = (struct kvmb_slot){ *id, gpa, size, hva, prot };
	t->n++;
	return VMSIM_OK;
}

const struct kvmb_slot *kvmb_slots_exact(const struct kvmb_slots *t, uint64_t gpa, uint64_t size)
{
	const struct kvmb_slot *s = kvmb_slots_find(t, gpa);

	return s && s->gpa == gpa && s->size == size ? s : NULL;
}

void kvmb_slots_remove(struct kvmb_slots *t, const struct kvmb_slot *s)
{
	unsigned i = (unsigned)(s - t->v);

	t->free_ids[t->nfree++] = s->id; /* nfree < cap: every free id was once in the table */
	memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof t->v[0]);
	t->n--;
}
