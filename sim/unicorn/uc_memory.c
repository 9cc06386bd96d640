/* uc_memory.c - guest-physical mappings shared by every vCPU engine, and the unmap protocol. */
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "uc_internal.h"

static bool same(const struct ucb_mapping *a, const struct ucb_mapping *b)
{
	return a->gpa == b->gpa && a->size == b->size && a->hva == b->hva && a->prot == b->prot;
}

/* Index of the first mapping in a gpa-sorted array that ends above gpa (n if none). */
static size_t lower_bound(const struct ucb_mapping *maps, size_t n, uint64_t gpa)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (maps[mid].gpa + maps[mid].size <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool array_insert(struct ucb_mapping **maps, size_t *n, size_t *cap, const struct ucb_mapping *m)
{
	if (!ucb_grow((void **)maps, cap, *n, sizeof **maps))
		return false;
	size_t at = lower_bound(*maps, *n, m->gpa);
	memmove(&(*maps)[at + 1], &(*maps)[at], (*n - at) * sizeof **maps);
	(*maps)[at] = *m;
	(*n)++;
	return true;
}

/*
 * The VM's own list is libc's balanced tree (tsearch): O(log n) attach, detach and lookup at any size, where
 * a sorted array moved O(n) entries per detach (9.5 us at 100,000). Mappings never overlap, so "ends before /
 * starts after" orders them and an overlapping range compares equal.
 */
static int compare_ranges(const void *a, const void *b)
{
	const struct ucb_mapping *x = a, *y = b;
	if (x->gpa + (x->size - 1) < y->gpa)
		return -1;
	return y->gpa + (y->size - 1) < x->gpa ? 1 : 0;
}

/* The VM mapping holding gpa, or NULL; list_lock held. */
static const struct ucb_mapping *vm_find(const struct ucb_vm *vm, uint64_t gpa)
{
	struct ucb_mapping key = { .gpa = gpa, .size = 1 };
	struct ucb_mapping *const *slot = tfind(&key, &vm->maps, compare_ranges);
	return slot ? *slot : NULL;
}

static bool vm_has(const struct ucb_vm *vm, const struct ucb_mapping *m)
{
	const struct ucb_mapping *found = vm_find(vm, m->gpa);
	return found && same(found, m);
}

/* Remove the mapping equal to m; false if there is none. */
static bool array_remove(struct ucb_mapping *maps, size_t *n, const struct ucb_mapping *m)
{
	size_t at = lower_bound(maps, *n, m->gpa);

	if (at == *n || !same(&maps[at], m))
		return false;
	memmove(&maps[at], &maps[at + 1], (*n - at - 1) * sizeof *maps);
	(*n)--;
	return true;
}

static bool engine_map(struct ucb_engine *eng, const struct ucb_mapping *m)
{
	return uc_mem_map_ptr(eng->uc, m->gpa, m->size, m->prot & UC_PROT_ALL, m->hva) == UC_ERR_OK &&
	       array_insert(&eng->applied, &eng->napplied, &eng->applied_cap, m);
}

static bool engine_unmap(struct ucb_engine *eng, const struct ucb_mapping *m)
{
	ucb_orphan_blocks(eng, m->gpa, m->gpa + m->size, m->gpa);
	bool ok = uc_mem_unmap(eng->uc, m->gpa, m->size) == UC_ERR_OK;
	return array_remove(eng->applied, &eng->napplied, m) && ok;
}

/* Is m in the gpa-sorted array? */
static bool array_has(const struct ucb_mapping *maps, size_t n, const struct ucb_mapping *m)
{
	size_t at = lower_bound(maps, n, m->gpa);
	return at < n && same(&maps[at], m);
}

/*
 * 2.0.1's uc_ctl_remove_cache translates only its start address to a RAM offset and invalidates len bytes from
 * there (uc_invalidate_tb), so a range running into a page of another RAM block (another attachment or shadow
 * region) invalidated whatever followed the first page's block instead: one call per page.
 */
void ucb_remove_cache(struct ucb_engine *eng, uint64_t lo, uint64_t hi)
{
	for (uint64_t page = lo & ~(uint64_t)(UCB_PAGE - 1); page < hi; page += UCB_PAGE) {
		uc_ctl_remove_cache(eng->uc, page > lo ? page : lo, page + UCB_PAGE < hi ? page + UCB_PAGE : hi);
		if (page + UCB_PAGE < page)
			break;
	}
}

/*
 * Engines map lazily: an attachment enters an engine when the guest (or the backend) first touches it, so an
 * attach with idle or running vCPUs costs a list insert, not 2.0.1's per-region allocation, which grows with the
 * number of regions (qemu_ram_alloc_from_ptr walks every RAM block). What changes or goes away is unmapped here.
 */
static bool resync_all(struct ucb_engine *eng, const struct ucb_vm *vm, bool *unmapped)
{
	bool ok = true;

	for (size_t i = eng->napplied; i-- > 0;) {
		struct ucb_mapping m = eng->applied[i];
		if (!vm_has(vm, &m)) {
			ok = engine_unmap(eng, &m) && ok;
			*unmapped = true;
		}
	}
	return ok;
}

/*
 * Bring one engine's Unicorn mappings in line with the VM's list. Runs on the
 * vCPU thread, or on any thread while the vCPU is idle and locked. An engine at
 * most UCB_JOURNAL changes behind replays them (O(log n) each); one further
 * behind (or whose replay failed) is compared with the whole list.
 */
bool ucb_engine_sync_memory(struct ucb_engine *eng)
{
	struct ucb_vm *vm = eng->vcpu->vm;
	bool ok = true, unmapped = false, removed = false;

	pthread_mutex_lock(&vm->list_lock);
	uint64_t gen = atomic_load(&vm->generation);
	if (gen == eng->applied_gen) {
		pthread_mutex_unlock(&vm->list_lock);
		return true;
	}
	if (gen - eng->applied_gen <= UCB_JOURNAL && eng->applied_gen != 0) {
		for (uint64_t g = eng->applied_gen + 1; g <= gen && ok; g++) {
			const struct ucb_change *c = &vm->journal[g % UCB_JOURNAL];
			ok = c->gen == g;
			removed = removed || (ok && !c->add);
			if (ok && !c->add && array_has(eng->applied, eng->napplied, &c->m)) {
				ok = engine_unmap(eng, &c->m);
				unmapped = true;
			}
		}
		if (!ok) {
			ok = resync_all(eng, vm, &unmapped);
			removed = true;
		}
	} else {
		ok = resync_all(eng, vm, &unmapped);
		removed = true; /* not replayed: whatever went away is unknown */
	}
	eng->applied_gen = gen;
	pthread_mutex_unlock(&vm->list_lock);
	/*
	 * Linear mappings may point into what went away; an attach alone leaves them valid (dropping them
	 * anyway kept a paged guest faulting on its own code while another thread attached, measured).
	 */
	if (removed) {
		ucb_mmu_flush(eng);
		ucb_shadow_forget_aliases(eng); /* an alias keeps detached memory mapped */
	}
	if (unmapped) {
		ucb_set_clear(&eng->scanned); /* code may differ now: scan blocks again */
		ucb_code_pages_clear(eng);
	}
	return ok;
}

bool ucb_engine_map_lazy(struct ucb_engine *eng, uint64_t gpa)
{
	struct ucb_vm *vm = eng->vcpu->vm;
	bool mapped = false;

	ucb_engine_sync_memory(eng); /* what went away first: a new mapping may overlap it */
	if (eng->shadow.paged)
		return false; /* linear addresses: uc_mmu.c maps them */
	pthread_mutex_lock(&vm->list_lock);
	const struct ucb_mapping *found = vm_find(vm, gpa);
	if (found && !array_has(eng->applied, eng->napplied, found)) {
		struct ucb_mapping m = *found;
		mapped = engine_map(eng, &m);
	}
	pthread_mutex_unlock(&vm->list_lock);
	return mapped;
}

/* A running vCPU's safe point: apply pending mapping changes and tell a waiting mem_unmap. */
void ucb_vcpu_sync_running(struct ucb_vcpu *v)
{
	struct ucb_engine *eng = v->active;

	uint64_t gen = atomic_load(&v->vm->generation);

	if (gen == eng->applied_gen && gen == v->acked_local)
		return;
	ucb_engine_sync_memory(eng);
	v->acked_local = eng->applied_gen;
	pthread_mutex_lock(&v->lock);
	v->acked_gen = eng->applied_gen;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

bool ucb_phys_lookup(struct ucb_vm *vm, uint64_t gpa, struct ucb_mapping *out)
{
	bool found = false;

	pthread_mutex_lock(&vm->list_lock);
	const struct ucb_mapping *m = vm_find(vm, gpa);
	if (m) {
		*out = *m;
		found = true;
	}
	pthread_mutex_unlock(&vm->list_lock);
	return found;
}

void ucb_engine_unmap_all(struct ucb_engine *eng)
{
	while (eng->napplied) {
		struct ucb_mapping m = eng->applied[eng->napplied - 1];
		engine_unmap(eng, &m); /* drops the entry even where 2.0.1 refuses the unmap */
	}
	ucb_set_clear(&eng->scanned);
	ucb_code_pages_clear(eng);
}

/*
 * A walk reads 4-5 paging entries and an MMIO exit looks its address up 3 times, each a list_lock pair (~10 ns
 * here): the vCPU thread remembers its last hit and last miss. The generation is read before the lookup, so a
 * change racing with it only makes the memo look stale; memory a running vCPU may still reach stays mapped
 * until it acknowledged the change (propagate), and a memo never outlives a generation.
 */
bool ucb_vcpu_phys(struct ucb_vcpu *v, uint64_t gpa, struct ucb_mapping *out)
{
	struct ucb_phys_memo *c = &v->phys_memo;
	uint64_t gen = atomic_load(&v->vm->generation);

	if (c->gen != gen) {
		c->hit_valid = c->miss_valid = false;
		c->gen = gen;
	}
	if (c->hit_valid && gpa - c->hit.gpa < c->hit.size) {
		*out = c->hit;
		return true;
	}
	if (c->miss_valid && gpa >> 12 == c->miss_page)
		return false;
	if (ucb_phys_lookup(v->vm, gpa, out)) {
		c->hit = *out;
		c->hit_valid = true;
		return true;
	}
	c->miss_page = gpa >> 12;
	c->miss_valid = true;
	return false;
}

unsigned ucb_vcpu_prot(struct ucb_vcpu *v, uint64_t gpa)
{
	struct ucb_mapping m;

	return ucb_vcpu_phys(v, gpa, &m) ? m.prot : 0;
}

/* Record change number gen (under list_lock) for engines that replay instead of comparing the list. */
static void journal(struct ucb_vm *vm, uint64_t gen, bool add, const struct ucb_mapping *m)
{
	vm->journal[gen % UCB_JOURNAL] = (struct ucb_change){ gen, add, *m };
}

/*
 * Make every vCPU see the new list. Idle vCPUs are updated here; running ones
 * at their next safe point. With wait, return only once no running vCPU can
 * still reach the old mapping; a vCPU inside on_exit applies the change before
 * it executes another guest instruction, so it is not waited for (no deadlock).
 */
static void propagate(struct ucb_vm *vm, bool wait)
{
	uint64_t gen = atomic_load(&vm->generation);

	pthread_mutex_lock(&vm->list_lock);
	size_t n = vm->nvcpus;
	struct ucb_vcpu **list = malloc((n ? n : 1) * sizeof *list);
	if (list && n)
		memcpy(list, vm->vcpus, n * sizeof *list);
	pthread_mutex_unlock(&vm->list_lock);
	if (!list)
		n = 0; /* running vCPUs still sync at their next block; idle ones at run entry */

	for (size_t i = 0; i < n; i++) {
		struct ucb_vcpu *v = list[i];
		pthread_mutex_lock(&v->lock);
		if (atomic_load(&v->run_state) == UCB_IDLE) {
			for (int m = 0; m < UCB_MODE_COUNT; m++)
				if (v->engines[m])
					ucb_engine_sync_memory(v->engines[m]);
		} else if (wait) {
			atomic_fetch_add(&v->waiters, 1);
			pthread_cond_broadcast(&v->cond); /* wake an idling (HLT) vCPU */
			while (atomic_load(&v->run_state) == UCB_RUNNING && v->acked_gen < gen)
				pthread_cond_wait(&v->cond, &v->lock);
			atomic_fetch_sub(&v->waiters, 1);
		} else {
			pthread_cond_broadcast(&v->cond);
		}
		pthread_mutex_unlock(&v->lock);
	}
	free(list);
}

enum vmsim_result ucb_mem_map(void *p, uint64_t gpa, void *hva, uint64_t size, unsigned prot)
{
	struct ucb_vm *vm = p;

	if (!vm || !hva || !size || (gpa | size) & 0xfff || gpa + size < gpa || (prot & ~7u))
		return VMSIM_INVALID_ARGUMENT;
	struct ucb_mapping m = { gpa, size, hva, prot };
	struct ucb_mapping *node = malloc(sizeof *node);
	if (!node)
		return VMSIM_OUT_OF_RAM;
	*node = m;
	pthread_mutex_lock(&vm->update_lock);
	pthread_mutex_lock(&vm->list_lock);
	struct ucb_mapping **slot = tsearch(node, &vm->maps, compare_ranges);
	if (!slot || *slot != node) {
		pthread_mutex_unlock(&vm->list_lock);
		pthread_mutex_unlock(&vm->update_lock);
		free(node);
		return slot ? VMSIM_REGION_CONFLICT : VMSIM_OUT_OF_RAM;
	}
	journal(vm, atomic_fetch_add(&vm->generation, 1) + 1, true, &m);
	pthread_mutex_unlock(&vm->list_lock);
	propagate(vm, false);
	pthread_mutex_unlock(&vm->update_lock);
	return VMSIM_OK;
}

enum vmsim_result ucb_mem_unmap(void *p, uint64_t gpa, uint64_t size)
{
	struct ucb_vm *vm = p;
	bool found = false;

	if (!vm)
		return VMSIM_INVALID_ARGUMENT;
	pthread_mutex_lock(&vm->update_lock);
	pthread_mutex_lock(&vm->list_lock);
	struct ucb_mapping key = { .gpa = gpa, .size = size ? size : 1 };
	struct ucb_mapping **slot = tfind(&key, &vm->maps, compare_ranges);
	if (slot && (*slot)->gpa == gpa && (*slot)->size == size) {
		struct ucb_mapping *node = *slot, gone = *node;
		tdelete(&key, &vm->maps, compare_ranges);
		free(node);
		journal(vm, atomic_fetch_add(&vm->generation, 1) + 1, false, &gone);
		found = true;
	}
	pthread_mutex_unlock(&vm->list_lock);
	if (found)
		propagate(vm, true);
	pthread_mutex_unlock(&vm->update_lock);
	return found ? VMSIM_OK : VMSIM_INVALID_ARGUMENT;
}
