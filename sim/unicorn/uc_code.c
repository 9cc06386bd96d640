/*
 * uc_code.c - which pages hold code the block scanner has seen: the scanner's open-addressing sets, the guest-physical
 * pages each vCPU published (a VM-wide bitmap below 4 GiB), and the stale marks a store there leaves in other engines
 * and other vCPUs (uc_engine.c drops them at entry). Below uc_engine.c, uc_mmu.c, uc_shadow.c and uc_memory.c.
 */
#include <stdlib.h>

#include "uc_internal.h"

bool ucb_set_has(const struct ucb_set *set, uint64_t key)
{
	if (!set->cap)
		return false;
	for (size_t i = ucb_mix(key) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
		if (set->keys[i] == 0)
			return false;
		if (set->keys[i] == key + 1)
			return true;
	}
}

bool ucb_set_has_memo(struct ucb_set *set, uint64_t key)
{
	if (set->memo == key + 1 || set->memo2 == key + 1)
		return true;
	if (!ucb_set_has(set, key))
		return false;
	set->memo2 = set->memo;
	set->memo = key + 1;
	return true;
}

bool ucb_set_add(struct ucb_set *set, uint64_t key)
{
	if ((set->count + 1) * 2 > set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 256;
		uint64_t *keys = calloc(cap, sizeof *keys);
		if (!keys)
			return false;
		for (size_t i = 0; i < set->cap; i++) {
			if (!set->keys[i])
				continue;
			size_t j = ucb_mix(set->keys[i] - 1) & (cap - 1);
			while (keys[j])
				j = (j + 1) & (cap - 1);
			keys[j] = set->keys[i];
		}
		free(set->keys);
		set->keys = keys;
		set->cap = cap;
	}
	size_t i = ucb_mix(key) & (set->cap - 1);
	while (set->keys[i] && set->keys[i] != key + 1)
		i = (i + 1) & (set->cap - 1);
	if (!set->keys[i])
		set->count++;
	set->keys[i] = key + 1;
	return true;
}

/* Keep the keys keep() accepts by rebuilding the table (deletion in open addressing would need tombstones). */
void ucb_set_keep_if(struct ucb_set *set, bool (*keep)(uint64_t key, const void *ctx), const void *ctx)
{
	size_t n = 0, i = 0;

	while (i < set->cap && (!set->keys[i] || keep(set->keys[i] - 1, ctx)))
		i++; /* most calls (one per CR3 write) keep everything: no rebuild then */
	if (i == set->cap)
		return;
	set->memo = set->memo2 = 0;
	for (i = 0; i < set->cap; i++) {
		uint64_t k = set->keys[i];
		if (k && keep(k - 1, ctx))
			set->keys[n++] = k;
	}
	size_t kept = n;
	uint64_t *old = set->keys;
	uint64_t *keys = calloc(set->cap, sizeof *keys);
	if (!keys) {
		ucb_set_clear(set); /* forgetting more than asked only costs rescans */
		return;
	}
	for (i = 0; i < kept; i++) {
		size_t j = ucb_mix(old[i] - 1) & (set->cap - 1);
		while (keys[j])
			j = (j + 1) & (set->cap - 1);
		keys[j] = old[i];
	}
	free(old);
	set->keys = keys;
	set->count = kept;
}

static bool outside(uint64_t key, const void *ctx)
{
	const uint64_t *range = ctx;
	return key < range[0] || key >= range[1];
}

/* Drop every key in [lo, hi). */
void ucb_set_remove_range(struct ucb_set *set, uint64_t lo, uint64_t hi)
{
	const uint64_t range[2] = { lo, hi };
	ucb_set_keep_if(set, outside, range);
}

/*
 * 2.0.1 keeps the translated blocks of an unmapped region, filed under its RAM offset, and gives that offset to a
 * region mapped later: mapped at the same linear address, the page runs them again (and rightly so while the bytes
 * are the same: removing them here made Debian's kernel retranslate its text after every CR3 write, far too slow).
 * What was run through [lo, hi) is remembered by guest-physical page (gpa at lo) instead, so that a store there
 * later drops every block (ucb_engine_enter), as no removal through a live address can reach these. A block starting
 * in the page before lo may run into lo: it is on lo's list too.
 */
static void orphan(struct ucb_engine *eng, uint64_t page, uint64_t lo, uint64_t gpa)
{
	ucb_set_add(&eng->orphans, gpa + ((page < lo ? lo : page) - lo));
}

void ucb_orphan_blocks(struct ucb_engine *eng, uint64_t lo, uint64_t hi, uint64_t gpa)
{
	struct ucb_set *set = &eng->block_pages;
	uint64_t from = lo >= UCB_PAGE ? lo - UCB_PAGE : lo, last = hi - 1; /* hi may be 2^64, i.e. 0 */
	bool any = false;

	if (!set->count || last < lo)
		return;
	if ((last - from) / UCB_PAGE < set->cap) {
		for (uint64_t page = from;; page += UCB_PAGE) {
			if (ucb_set_has(set, page)) {
				orphan(eng, page, lo, gpa);
				any = true;
			}
			if (last - page < UCB_PAGE)
				break;
		}
	} else {
		for (size_t i = 0; i < set->cap; i++) {
			uint64_t page = set->keys[i] - 1;
			if (!set->keys[i] || page < from || page > last)
				continue;
			orphan(eng, page, lo, gpa);
			any = true;
		}
	}
	if (any) {
		ucb_set_remove_range(set, lo, last + 1 ? last + 1 : UINT64_MAX); /* page keys never equal UINT64_MAX */
		eng->block_page_last = ~(uint64_t)0;
	}
}

void ucb_code_pages_clear(struct ucb_engine *eng)
{
	ucb_set_clear(&eng->code_pages);
	eng->ncode_alias = 0;
}

/* The filter byte holding phys's bit, and the bit; NULL above 4 GiB, where nothing is published. */
static atomic_uchar *filter_bit(const struct ucb_vm *vm, uint64_t phys, unsigned char *mask)
{
	uint64_t bit = phys / UCB_PAGE;
	if (bit >= UCB_XCODE_FILTER_BYTES * 8)
		return NULL;
	*mask = (unsigned char)(1u << (bit % 8));
	return &vm->xcode_filter[bit / 8];
}

bool ucb_code_published(const struct ucb_vm *vm, uint64_t phys)
{
	unsigned char mask;
	atomic_uchar *byte = filter_bit(vm, phys, &mask);
	return byte && (atomic_load_explicit(byte, memory_order_relaxed) & mask);
}

bool ucb_code_guarded(const struct ucb_engine *eng, uint64_t lin, uint64_t phys)
{
	return ucb_code_published(eng->vcpu->vm, phys) && !ucb_set_has(&eng->code_pages, lin);
}

bool ucb_code_guarded_in(const struct ucb_engine *eng, uint64_t lin, uint64_t gpa, uint64_t size)
{
	const struct ucb_vm *vm = eng->vcpu->vm;
	uint64_t limit = (uint64_t)UCB_XCODE_FILTER_BYTES * 8 * UCB_PAGE;

	for (uint64_t off = 0; off < size && gpa + off < limit; off += UCB_PAGE) {
		uint64_t page = gpa + off;
		if (!((page / UCB_PAGE) % 8) && off + 8 * UCB_PAGE <= size &&
		    !atomic_load_explicit(&vm->xcode_filter[page / UCB_PAGE / 8], memory_order_relaxed)) {
			off += 7 * UCB_PAGE; /* eight pages, none published: one byte read */
			continue;
		}
		if (ucb_code_guarded(eng, lin + off, page))
			return true;
	}
	return false;
}

/* Every engine of v but except drops page when entered next. */
static void stale_in_engines(struct ucb_vcpu *v, const struct ucb_engine *except, uint64_t page)
{
	for (int m = 0; m < UCB_MODE_COUNT; m++)
		if (v->engines[m] && v->engines[m] != except)
			ucb_set_add(&v->engines[m]->stale, page);
}

/* A store into a page another engine of the vCPU may have translated: that engine drops it when entered next. */
static void mark_stale_elsewhere(struct ucb_engine *eng, uint64_t page)
{
	struct ucb_vcpu *v = eng->vcpu;

	stale_in_engines(v, eng, page);
	pthread_mutex_lock(&v->vm->xcode_lock);
	ucb_set_remove_range(&v->code_phys, page, page + 1); /* until an engine scans it again */
	pthread_mutex_unlock(&v->vm->xcode_lock);
}

/*
 * A store into a page other vCPUs hold scans of: their engines drop the page when entered next. A vCPU running
 * now keeps its translation until then, as a CPU may until it serialises (SDM Vol. 3A 8.1.3: cross-modifying
 * code needs the executing CPU to serialise; a VM exit and entry do).
 */
static void mark_stale_in_other_vcpus(struct ucb_vcpu *writer, uint64_t page)
{
	struct ucb_vm *vm = writer->vm;
	unsigned char mask;
	atomic_uchar *byte = filter_bit(vm, page, &mask);

	pthread_mutex_lock(&vm->xcode_lock);
	pthread_mutex_lock(&vm->list_lock);
	for (size_t i = 0; i < vm->nvcpus; i++) {
		struct ucb_vcpu *v = vm->vcpus[i];
		if (v != writer && ucb_set_has(&v->code_phys, page) && ucb_set_add(&v->remote_stale, page))
			atomic_store_explicit(&v->remote_pending, true, memory_order_release);
	}
	pthread_mutex_unlock(&vm->list_lock);
	/* nobody's scan of it is current any more: a vCPU scanning it again sets the bit again (watch_code) */
	if (byte)
		atomic_fetch_and_explicit(byte, (unsigned char)~mask, memory_order_relaxed);
	pthread_mutex_unlock(&vm->xcode_lock);
}

void ucb_code_stored(struct ucb_engine *eng, uint64_t phys)
{
	struct ucb_vcpu *v = eng->vcpu;

	if (ucb_set_has(&v->code_phys, phys))
		mark_stale_elsewhere(eng, phys);
	if (ucb_code_published(v->vm, phys))
		mark_stale_in_other_vcpus(v, phys);
	if (eng->shadow.paged)
		ucb_set_add(&eng->stale, phys); /* this engine's own scans of the page under other linear addresses */
}

/* Publish a guest-physical page this vCPU scanned code in: every engine of the VM watches stores there. */
uint64_t ucb_code_publish(struct ucb_vcpu *v, uint64_t page)
{
	uint64_t gen = 0;
	struct ucb_vm *vm = v->vm;
	unsigned char mask;
	atomic_uchar *byte = filter_bit(vm, page, &mask);

	pthread_mutex_lock(&vm->xcode_lock);
	ucb_set_add(&v->code_phys, page);
	if (byte) {
		atomic_fetch_or_explicit(byte, mask, memory_order_relaxed);
		uint64_t lo = atomic_load_explicit(&vm->xcode_lo, memory_order_relaxed);
		uint64_t hi = atomic_load_explicit(&vm->xcode_hi, memory_order_relaxed);
		if (hi <= lo || page < lo)
			atomic_store_explicit(&vm->xcode_lo, page, memory_order_relaxed);
		if (hi <= lo || page + UCB_PAGE > hi)
			atomic_store_explicit(&vm->xcode_hi, page + UCB_PAGE, memory_order_relaxed);
		gen = atomic_fetch_add_explicit(&vm->code_pub_gen, 1, memory_order_release) + 1;
	}
	pthread_mutex_unlock(&vm->xcode_lock);
	return gen;
}

/* The VM's span of published code pages, [*lo, *hi); false while there is none. */
bool ucb_code_span(const struct ucb_vm *vm, uint64_t *lo, uint64_t *hi)
{
	*lo = atomic_load_explicit(&vm->xcode_lo, memory_order_relaxed);
	*hi = atomic_load_explicit(&vm->xcode_hi, memory_order_relaxed);
	return *hi > *lo;
}

/* Move the pages other vCPUs wrote into every engine's stale set; the vCPU no longer holds scans of them. */
void ucb_code_take_remote(struct ucb_vcpu *v)
{
	struct ucb_vm *vm = v->vm;

	pthread_mutex_lock(&vm->xcode_lock);
	atomic_store_explicit(&v->remote_pending, false, memory_order_relaxed);
	for (size_t i = 0; i < v->remote_stale.cap; i++) {
		uint64_t key = v->remote_stale.keys[i];
		if (!key)
			continue;
		stale_in_engines(v, NULL, key - 1);
		ucb_set_remove_range(&v->code_phys, key - 1, key - 1 + UCB_PAGE);
	}
	ucb_set_clear(&v->remote_stale);
	pthread_mutex_unlock(&vm->xcode_lock);
}
