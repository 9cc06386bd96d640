/* core/tests/npt_test.c - nested page-table accounting against a brute-force model; the AVL tree beneath it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "gpa_map.h"
#include "vt_backend.h"

enum { PAGE = 4096, META = VMSIM_COST_ATTACH_META_RAM, TABLE = VMSIM_COST_PAGE_TABLE_RAM };
static const uint64_t MIB2 = 2ull << 20, GIB = 1ull << 30, GIB512 = 1ull << 39;

static uint64_t ram_used(const struct vmsim_session *session)
{
	struct vmsim_quota quota;
	vmsim_session_quota(session, &quota);
	return quota.ram_used;
}

static void attach_at(struct vmsim_session *session, vmsim_ds_cap ds, uint64_t gpa, uint64_t size)
{
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach(session, ds, gpa, &(struct vmsim_attach_attr){.size = size}, &range),
	                 VMSIM_OK);
}

static void test_worked_examples(void **state)
{
	(void)state;
	struct vmsim_env *env = vt_env_new();
	struct vmsim_session *s = vt_session_new(env, VMSIM_MODEL_SVM, 1 << 20, 10);
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(env, 4 * PAGE, &ds), VMSIM_OK);
	uint64_t base = ram_used(s);
	/* First page at 0: PDPT + PD + PT. */
	attach_at(s, ds, 0, PAGE);
	assert_int_equal(vmsim_session_page_tables(s), 3);
	assert_int_equal(ram_used(s) - base, META + 3 * TABLE);
	/* Second page in the same 2 MiB: metadata only. */
	attach_at(s, ds, PAGE, PAGE);
	assert_int_equal(vmsim_session_page_tables(s), 3);
	assert_int_equal(ram_used(s) - base, 2 * META + 3 * TABLE);
	/* Next 2 MiB: one PT. Next 1 GiB: PD + PT. Next 512 GiB: PDPT + PD + PT. */
	attach_at(s, ds, MIB2, PAGE);
	assert_int_equal(vmsim_session_page_tables(s), 4);
	attach_at(s, ds, GIB, PAGE);
	assert_int_equal(vmsim_session_page_tables(s), 6);
	attach_at(s, ds, GIB512, PAGE);
	assert_int_equal(vmsim_session_page_tables(s), 9);
	/* Straddling a 2 MiB boundary in fresh space: both PTs, and the PD/PDPT already there. */
	attach_at(s, ds, 3 * MIB2 - 2 * PAGE, 4 * PAGE);
	assert_int_equal(vmsim_session_page_tables(s), 11);
	assert_int_equal(ram_used(s) - base, 6 * META + 11 * TABLE);
	/* Detaching the 1 GiB page frees its PD and PT at once; attaching there again charges them again. */
	assert_int_equal(vmsim_session_detach(s, GIB, PAGE), VMSIM_OK);
	assert_int_equal(vmsim_session_page_tables(s), 9);
	assert_int_equal(ram_used(s) - base, 5 * META + 9 * TABLE);
	attach_at(s, ds, GIB + PAGE, PAGE);
	assert_int_equal(vmsim_session_page_tables(s), 11);
	/* Detaching one of two pages under a PT keeps the PT. */
	assert_int_equal(vmsim_session_detach(s, 0, PAGE), VMSIM_OK);
	assert_int_equal(vmsim_session_page_tables(s), 11);
	assert_int_equal(vmsim_session_detach(s, 0, UINT64_MAX - PAGE + 1), VMSIM_OK);
	assert_int_equal(vmsim_session_page_tables(s), 0);
	assert_int_equal(ram_used(s), base);
	vmsim_env_destroy(env);
}

static void test_large_attach_counts_per_chunk(void **state)
{
	(void)state;
	struct vmsim_env *env = vt_env_new();
	struct vmsim_session *s = vt_session_new(env, VMSIM_MODEL_SVM, 8 << 20, 10);
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(env, 64ull << 20, &ds), VMSIM_OK);
	uint64_t base = ram_used(s);
	/* 64 MiB at 1 GiB - 16 MiB: 8 PTs in the first GiB, 24 in the second; 2 PDs; 1 PDPT. */
	attach_at(s, ds, GIB - (16ull << 20), 0);
	assert_int_equal(vmsim_session_page_tables(s), 8 + 24 + 2 + 1);
	assert_int_equal(ram_used(s) - base, META + 35 * TABLE);
	assert_int_equal(vmsim_session_detach(s, GIB, PAGE), VMSIM_OK);
	assert_int_equal(ram_used(s), base);
	vmsim_env_destroy(env);
}

/* ---- the model: distinct table indices over every mapped page ----------- */

struct key_set {
	uint64_t keys[4096];
	unsigned count;
};

static void add_key(struct key_set *set, uint64_t key)
{
	for (unsigned i = 0; i < set->count; i++)
		if (set->keys[i] == key)
			return;
	assert_true(set->count < 4096);
	set->keys[set->count++] = key;
}

struct model {
	struct key_set levels[3];
	uint64_t regions;
};

static bool model_region(void *ctx, const struct vmsim_region_info *region)
{
	struct model *model = ctx;
	model->regions++;
	if (region->reserved)
		return true;
	for (uint64_t gpa = region->start; gpa < region->start + region->num_bytes; gpa += PAGE) {
		add_key(&model->levels[0], gpa >> 39);
		add_key(&model->levels[1], gpa >> 30);
		add_key(&model->levels[2], gpa >> 21);
	}
	return true;
}

static void test_random_against_model(void **state)
{
	(void)state;
	struct vmsim_env *env = vt_env_new();
	struct vmsim_session *s = vt_session_new(env, VMSIM_MODEL_VMX, 16 << 20, 10);
	vmsim_ds_cap ds[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(vmsim_ds_alloc(env, 16 * PAGE, &ds[i]), VMSIM_OK);
	uint64_t base = ram_used(s);
	const uint64_t bases[] = {0, MIB2 - 8 * PAGE, GIB - 8 * PAGE, GIB512 - 8 * PAGE, 3 * GIB, GIB512 + GIB};
	srand(1234);
	for (int step = 0; step < 3000; step++) {
		uint64_t gpa = bases[rand() % 6] + (uint64_t)(rand() % 32) * PAGE;
		uint64_t size = (uint64_t)(1 + rand() % 16) * PAGE;
		struct vmsim_range range;
		int what = rand() % 10;
		if (what < 6) {
			enum vmsim_result r = vmsim_session_attach(s, ds[rand() % 3], gpa,
			                                           &(struct vmsim_attach_attr){.size = size}, &range);
			assert_true(r == VMSIM_OK || r == VMSIM_REGION_CONFLICT);
		} else if (what < 9) {
			assert_int_equal(vmsim_session_detach(s, gpa, size), VMSIM_OK);
		} else if (step % 50 == 9) {
			/* Now and then a dataspace dies: its regions are flushed and stay reserved. */
			int victim = rand() % 3;
			assert_int_equal(vmsim_ds_free(env, ds[victim]), VMSIM_OK);
			assert_int_equal(vmsim_ds_alloc(env, 16 * PAGE, &ds[victim]), VMSIM_OK);
		}
		struct model model = {0};
		vmsim_session_for_each_region(s, model_region, &model);
		uint64_t tables = model.levels[0].count + model.levels[1].count + model.levels[2].count;
		assert_int_equal(vmsim_session_page_tables(s), tables);
		assert_int_equal(vmsim_session_region_count(s), model.regions);
		assert_int_equal(ram_used(s) - base, model.regions * META + tables * TABLE);
	}
	vmsim_env_destroy(env);
}

/* ---- the AVL tree ---------------------------------------------------------- */

static void test_avl_against_brute_force(void **state)
{
	(void)state;
	enum { N = 2000, RANGE = 5000 };
	static struct avl_node nodes[RANGE];
	static bool in[RANGE];
	struct avl_tree tree = {0};
	srand(99);
	for (int step = 0; step < 20000; step++) {
		uint64_t key = (uint64_t)(rand() % RANGE);
		if (!in[key] && tree.count < N) {
			nodes[key].key = key;
			assert_true(avl_insert(&tree, &nodes[key]));
			in[key] = true;
		} else if (in[key]) {
			avl_remove(&tree, &nodes[key]);
			in[key] = false;
		}
		/* every step: a rebalance that stops early must still leave every height and balance right */
		assert_int_equal(avl_validate(&tree), (long)tree.count);
		uint64_t probe = (uint64_t)(rand() % (RANGE + 2));
		long floor = -1, ceil = -1;
		for (long k = (long)(probe < RANGE ? probe : RANGE - 1); k >= 0; k--)
			if (in[k]) {
				floor = k;
				break;
			}
		for (uint64_t k = probe; k < RANGE; k++)
			if (in[k]) {
				ceil = (long)k;
				break;
			}
		struct avl_node *f = avl_floor(&tree, probe), *c = avl_ceil(&tree, probe);
		assert_int_equal(f ? (long)f->key : -1, floor);
		assert_int_equal(c ? (long)c->key : -1, ceil);
		assert_int_equal(avl_find(&tree, probe) != NULL, probe < RANGE && in[probe]);
	}
	/* In-order iteration visits every key ascending. */
	long previous = -1, count = 0;
	for (struct avl_node *node = avl_first(&tree); node; node = avl_next(node)) {
		assert_true((long)node->key > previous);
		previous = (long)node->key;
		count++;
	}
	assert_int_equal(count, (long)tree.count);
	/* A duplicate key is refused. */
	if (tree.root) {
		struct avl_node duplicate = {.key = tree.root->key};
		assert_false(avl_insert(&tree, &duplicate));
	}
	/* Sorted insertion stays logarithmic in height. */
	struct avl_tree sorted = {0};
	static struct avl_node chain[4096];
	for (int i = 0; i < 4096; i++) {
		chain[i].key = (uint64_t)i;
		assert_true(avl_insert(&sorted, &chain[i]));
	}
	assert_int_equal(avl_validate(&sorted), 4096);
	assert_true(sorted.root->height <= 18);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worked_examples),
		cmocka_unit_test(test_large_attach_counts_per_chunk),
		cmocka_unit_test(test_random_against_model),
		cmocka_unit_test(test_avl_against_brute_force),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
