/* kvm_slots.h - the KVM backend's memory-slot table: sorted by gpa, O(log n) lookups, ids up to the host's limit. */
#ifndef VMSIM_SIM_KVM_SLOTS_H
#define VMSIM_SIM_KVM_SLOTS_H

#include <stdint.h>

#include <vmsim/result.h>

/* One memory slot: a mapping core asked for, as KVM holds it (id = KVM's slot number). */
struct kvmb_slot {
	uint32_t id;
	uint64_t gpa;
	uint64_t size;
	void *hva;
	unsigned prot;
};

struct kvmb_slots {
	struct kvmb_slot *v; /* n used, sorted by gpa, non-overlapping */
	unsigned n, cap;
	uint32_t *free_ids;  /* ids of removed slots, reused first */
	unsigned nfree;
	uint32_t next_id;    /* ids below were handed out */
	uint32_t max_ids;    /* KVM_CAP_NR_MEMSLOTS */
};

void kvmb_slots_init(struct kvmb_slots *t, uint32_t max_ids);
void kvmb_slots_fini(struct kvmb_slots *t);
/* The slot holding gpa, or NULL. */
const struct kvmb_slot *kvmb_slots_find(const struct kvmb_slots *t, uint64_t gpa);
/* Insert [gpa, gpa+size): REGION_CONFLICT on overlap, OUT_OF_RAM when all max_ids are in use; *id = its KVM slot. */
enum vmsim_result kvmb_slots_add(struct kvmb_slots *t, uint64_t gpa, uint64_t size, void *hva, unsigned prot,
                                 uint32_t *id);
/* The slot that is exactly [gpa, gpa+size), or NULL. */
const struct kvmb_slot *kvmb_slots_exact(const struct kvmb_slots *t, uint64_t gpa, uint64_t size);
/* Remove s (from this table); its id is reused by a later add. */
void kvmb_slots_remove(struct kvmb_slots *t, const struct kvmb_slot *s);

#endif
