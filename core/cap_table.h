/* core/cap_table.h - the env's capability table: slot index plus random tag, never global. */
#ifndef VMSIM_CORE_CAP_TABLE_H
#define VMSIM_CORE_CAP_TABLE_H

#include <stdint.h>

#include <vmsim/result.h>

struct vmsim_env;

/* What a slot names; lookups must name the kind they expect. */
enum cap_kind {
	CAP_KIND_NONE = 0,
	CAP_KIND_DATASPACE,
	CAP_KIND_SESSION,
	CAP_KIND_VCPU
};

enum {
	CAP_INDEX_BITS = 24,
	CAP_TAG_BITS = 40,
	CAP_MAX_SLOTS = 1u << CAP_INDEX_BITS
};

struct cap_slot {
	uint64_t tag;       /* the tag of the current or (when free) the last holder */
	void *object;
	uint32_t kind;      /* enum cap_kind; CAP_KIND_NONE when free */
	uint32_t next_free; /* index + 1 of the next free slot; 0 ends the list */
};

struct cap_table {
	struct cap_slot *slots;
	uint32_t capacity;  /* slots allocated */
	uint32_t used;      /* slots ever handed out (high-water mark) */
	uint32_t free_head; /* index + 1 of the first free slot; 0: none */
	uint32_t live;
	uint64_t prng;      /* splitmix64 state */
};

/* Seed the tag generator (0: from getrandom()); the table starts empty and allocates lazily. */
void cap_table_init(struct cap_table *table, uint64_t seed);
/* Free the slot array; the objects are the caller's. */
void cap_table_destroy(struct vmsim_env *env, struct cap_table *table);
/* Name object with a fresh capability; OUT_OF_RAM if the table cannot grow, OUT_OF_CAPS when full. */
enum vmsim_result cap_table_insert(struct vmsim_env *env, struct cap_table *table, enum cap_kind kind,
                                   void *object, uint64_t *raw);
/* The object raw names if it is live and of this kind; NULL otherwise (stale, foreign, forged). */
void *cap_table_lookup(const struct cap_table *table, uint64_t raw, enum cap_kind kind);
/* Kill raw; a later lookup of it fails even once the slot is reused. */
void cap_table_remove(struct cap_table *table, uint64_t raw);

#endif
