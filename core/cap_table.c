/* core/cap_table.c - capabilities as (random 40-bit tag << 24 | slot): stale and guessed caps fail. */
#include <string.h>
#include <sys/random.h>

#include "cap_table.h"
#include "internal.h"

enum { INITIAL_SLOTS = 64 };

static const uint64_t TAG_MASK = (UINT64_C(1) << CAP_TAG_BITS) - 1;
static const uint64_t INDEX_MASK = (UINT64_C(1) << CAP_INDEX_BITS) - 1;

/* splitmix64: tiny, full-period, and good enough that tags are not predictable from each other. */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void cap_table_init(struct cap_table *table, uint64_t seed)
{
	memset(table, 0, sizeof(*table));
	if (seed == 0) {
		/* Short reads or an old kernel leave the seed partly zero; the tags stay valid, just guessable. */
		if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
			seed ^= (uint64_t)(uintptr_t)table;
	}
	table->prng = seed;
}

void cap_table_destroy(struct vmsim_env *env, struct cap_table *table)
{
	if (table->slots)
		vmsim_env_free(env, table->slots, (size_t)table->capacity * sizeof(struct cap_slot));
	memset(table, 0, sizeof(*table));
}

/* A tag that is nonzero (so raw 0 never names anything) and differs from the slot's previous one. */
static uint64_t fresh_tag(struct cap_table *table, uint64_t previous)
{
	uint64_t tag;
	do
		tag = splitmix64(&table->prng) & TAG_MASK;
	while (tag == 0 || tag == previous);
	return tag;
}

static enum vmsim_result grow(struct vmsim_env *env, struct cap_table *table)
{
	if (table->capacity >= CAP_MAX_SLOTS)
		return VMSIM_OUT_OF_CAPS;
	uint32_t capacity = table->capacity ? table->capacity * 2 : INITIAL_SLOTS;
	if (capacity > CAP_MAX_SLOTS)
		capacity = CAP_MAX_SLOTS;
	struct cap_slot *slots = vmsim_env_alloc(env, (size_t)capacity * sizeof(*slots));
	if (!slots)
		return VMSIM_OUT_OF_RAM;
	if (table->slots) {
		memcpy(slots, table->slots, (size_t)table->capacity * sizeof(*slots));
		vmsim_env_free(env, table->slots, (size_t)table->capacity * sizeof(*slots));
	}
	table->slots = slots;
	table->capacity = capacity;
	return VMSIM_OK;
}

enum vmsim_result cap_table_insert(struct vmsim_env *env, struct cap_table *table, enum cap_kind kind,
                                   void *object, uint64_t *raw)
{
	uint32_t index;
	if (table->free_head) {
		index = table->free_head - 1;
		table->free_head = table->slots[index].next_free;
	} else {
		if (table->used == table->capacity) {
			enum vmsim_result result = grow(env, table);
			if (result != VMSIM_OK)
				return result;
		}
		index = table->used++;
	}
	struct cap_slot *slot = &table->slots[index];
	slot->tag = fresh_tag(table, slot->tag);
	slot->object = object;
	slot->kind = kind;
	slot->next_free = 0;
	table->live++;
	*raw = (slot->tag << CAP_INDEX_BITS) | index;
	return VMSIM_OK;
}

static struct cap_slot *slot_of(const struct cap_table *table, uint64_t raw)
{
	uint64_t index = raw & INDEX_MASK;
	uint64_t tag = raw >> CAP_INDEX_BITS;
	if (tag == 0 || index >= table->used)
		return NULL;
	struct cap_slot *slot = &table->slots[index];
	if (slot->kind == CAP_KIND_NONE || slot->tag != tag)
		return NULL;
	return slot;
}

void *cap_table_lookup(const struct cap_table *table, uint64_t raw, enum cap_kind kind)
{
	struct cap_slot *slot = slot_of(table, raw);
	if (!slot || slot->kind != (uint32_t)kind)
		return NULL;
	return slot->object;
}

void cap_table_remove(struct cap_table *table, uint64_t raw)
{
	struct cap_slot *slot = slot_of(table, raw);
	if (!slot)
		return;
	/* The tag stays so that reuse can pick a different one. */
	slot->object = NULL;
	slot->kind = CAP_KIND_NONE;
	slot->next_free = table->free_head;
	table->free_head = (uint32_t)(raw & INDEX_MASK) + 1;
	table->live--;
}
