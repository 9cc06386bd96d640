/* uc_memory.c - guest-physical mappings shared by every vCPU engine, and the unmap protocol. */
#include <stdlib.h>
#include <string.h>

#include "uc_internal.h"

static bool overlaps(uint64_t a, uint64_t as, uint64_t b, uint64_t bs)
{
	return a < b + bs && b < a + as;
}

static bool same(const struct ucb_mapping *a, const struct ucb_mapping *b)
{
	return a->gpa == b->gpa && a->size == b->size && a->hva == b->hva && a->prot == b->prot;
}

static bool grow(void **array, size_t *cap, size_t count, size_t elem)
{
	if (count < *cap)
		return true;
	size_t n = *cap ? *cap * 2 : 8;
	void *p = realloc(*array, n * elem);
	if (!p)
		return false;
	*array = p;
	*cap = n;
	return true;
}

/*
 * Bring one engine's Unicorn mappings in line with the VM's list. Runs on the
 * vCPU thread, or on any thread while the vCPU is idle and locked.
 */
bool ucb_engine_sync_memory(struct ucb_engine *eng)
{
	struct ucb_vm *vm = eng->vcpu->vm;
	bool ok = true, changed = false;

	pthread_mutex_lock(&vm->list_lock);
	uint64_t gen = atomic_load(&vm->generation);
	if (gen == eng->applied_gen) {
		pthread_mutex_unlock(&vm->list_lock);
		return true;
	}
	for (size_t i = eng->napplied; i-- > 0;) {
		bool keep = false;
		for (size_t j = 0; j < vm->nmaps && !keep; j++)
			keep = same(&eng->applied[i], &vm->maps[j]);
		if (keep)
			continue;
		if (uc_mem_unmap(eng->uc, eng->applied[i].gpa, eng->applied[i].size) != UC_ERR_OK)
			ok = false;
		eng->applied[i] = eng->applied[--eng->napplied];
		changed = true;
	}
	for (size_t j = 0; j < vm->nmaps; j++) {
		bool have = false;
		for (size_t i = 0; i < eng->napplied && !have; i++)
			have = same(&eng->applied[i], &vm->maps[j]);
		if (have)
			continue;
		if (!grow((void **)&eng->applied, &eng->applied_cap, eng->napplied, sizeof *eng->applied)) {
			ok = false;
			continue;
		}
		const struct ucb_mapping *m = &vm->maps[j];
		if (uc_mem_map_ptr(eng->uc, m->gpa, m->size, m->prot & UC_PROT_ALL, m->hva) != UC_ERR_OK) {
			ok = false;
			continue;
		}
		eng->applied[eng->napplied++] = *m;
		changed = true;
	}
	eng->applied_gen = gen;
	pthread_mutex_unlock(&vm->list_lock);
	if (changed) {
		ucb_set_clear(&eng->scanned); /* code may differ now: scan blocks again */
		ucb_set_clear(&eng->code_pages);
	}
	return ok;
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

unsigned ucb_mapping_prot(struct ucb_vm *vm, uint64_t gpa)
{
	unsigned prot = 0;

	pthread_mutex_lock(&vm->list_lock);
	for (size_t i = 0; i < vm->nmaps; i++) {
		if (gpa >= vm->maps[i].gpa && gpa - vm->maps[i].gpa < vm->maps[i].size) {
			prot = vm->maps[i].prot;
			break;
		}
	}
	pthread_mutex_unlock(&vm->list_lock);
	return prot;
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
	pthread_mutex_lock(&vm->update_lock);
	pthread_mutex_lock(&vm->list_lock);
	for (size_t i = 0; i < vm->nmaps; i++) {
		if (overlaps(gpa, size, vm->maps[i].gpa, vm->maps[i].size)) {
			pthread_mutex_unlock(&vm->list_lock);
			pthread_mutex_unlock(&vm->update_lock);
			return VMSIM_REGION_CONFLICT;
		}
	}
	if (!grow((void **)&vm->maps, &vm->maps_cap, vm->nmaps, sizeof *vm->maps)) {
		pthread_mutex_unlock(&vm->list_lock);
		pthread_mutex_unlock(&vm->update_lock);
		return VMSIM_OUT_OF_RAM;
	}
	vm->maps[vm->nmaps++] = (struct ucb_mapping){ gpa, size, hva, prot };
	atomic_fetch_add(&vm->generation, 1);
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
	for (size_t i = 0; i < vm->nmaps; i++) {
		if (vm->maps[i].gpa == gpa && vm->maps[i].size == size) {
			memmove(&vm->maps[i], &vm->maps[i + 1], (vm->nmaps - i - 1) * sizeof *vm->maps);
			vm->nmaps--;
			found = true;
			break;
		}
	}
	if (found)
		atomic_fetch_add(&vm->generation, 1);
	pthread_mutex_unlock(&vm->list_lock);
	if (found)
		propagate(vm, true);
	pthread_mutex_unlock(&vm->update_lock);
	return found ? VMSIM_OK : VMSIM_INVALID_ARGUMENT;
}
