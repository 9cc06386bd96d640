/* core/tests/cap_test.c - capabilities: stale after free (even once reused), guessed and forged ones, kinds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"
#include "vt_backend.h"

static const uint64_t INDEX_MASK = (UINT64_C(1) << 24) - 1;

static struct vmsim_env *seeded_env(uint64_t seed)
{
	struct vmsim_env_config cfg = {.cap_seed = seed};
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(&cfg, &env), VMSIM_OK);
	return env;
}

static void test_stale_cap_rejected_after_slot_reuse(void **state)
{
	(void)state;
	struct vmsim_env *env = seeded_env(7);
	vmsim_ds_cap old, fresh;
	assert_int_equal(vmsim_ds_alloc(env, 4096, &old), VMSIM_OK);
	assert_int_not_equal(old.raw, 0);
	assert_int_equal(vmsim_ds_free(env, old), VMSIM_OK);
	uint64_t size;
	assert_int_equal(vmsim_ds_size(env, old, &size), VMSIM_INVALID_CAP);
	assert_int_equal(vmsim_ds_free(env, old), VMSIM_INVALID_CAP);

	/* The freed slot is reused with a new tag: same index, different cap. */
	assert_int_equal(vmsim_ds_alloc(env, 8192, &fresh), VMSIM_OK);
	assert_int_equal(fresh.raw & INDEX_MASK, old.raw & INDEX_MASK);
	assert_int_not_equal(fresh.raw, old.raw);
	assert_int_equal(vmsim_ds_size(env, old, &size), VMSIM_INVALID_CAP);
	assert_int_equal(vmsim_ds_free(env, old), VMSIM_INVALID_CAP);
	assert_false(vmsim_ds_writeable(env, old));
	assert_int_equal(vmsim_ds_size(env, fresh, &size), VMSIM_OK);
	assert_int_equal(size, 8192);

	/* Many generations of the same slot never repeat a tag seen before. */
	uint64_t seen[64];
	seen[0] = fresh.raw;
	for (int i = 1; i < 64; i++) {
		assert_int_equal(vmsim_ds_free(env, (vmsim_ds_cap){seen[i - 1]}), VMSIM_OK);
		vmsim_ds_cap next;
		assert_int_equal(vmsim_ds_alloc(env, 4096, &next), VMSIM_OK);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(next.raw, seen[j]);
		seen[i] = next.raw;
	}
	vmsim_env_destroy(env);
}

static void test_guessed_and_forged_caps_rejected(void **state)
{
	(void)state;
	struct vmsim_env *env = seeded_env(99);
	vmsim_ds_cap live[16];
	for (int i = 0; i < 16; i++)
		assert_int_equal(vmsim_ds_alloc(env, 4096, &live[i]), VMSIM_OK);
	uint64_t size;
	assert_int_equal(vmsim_ds_size(env, VMSIM_DS_CAP_INVALID, &size), VMSIM_INVALID_CAP);
	/* Index alone (tag 0), and every single-bit flip of a live cap's tag. */
	assert_int_equal(vmsim_ds_size(env, (vmsim_ds_cap){live[3].raw & INDEX_MASK}, &size), VMSIM_INVALID_CAP);
	for (int bit = 24; bit < 64; bit++)
		assert_int_equal(vmsim_ds_size(env, (vmsim_ds_cap){live[3].raw ^ (UINT64_C(1) << bit)}, &size),
		                 VMSIM_INVALID_CAP);
	/* Index out of range. */
	assert_int_equal(vmsim_ds_size(env, (vmsim_ds_cap){(live[0].raw & ~INDEX_MASK) | 1000}, &size),
	                 VMSIM_INVALID_CAP);
	/* 100,000 guesses at live indices with random tags: chance of a hit is about 1e-7. */
	uint64_t x = 0x12345678;
	unsigned hits = 0;
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t guess = (x & ~INDEX_MASK) | (uint64_t)(i % 16);
		if (guess == live[i % 16].raw)
			continue;
		hits += vmsim_ds_size(env, (vmsim_ds_cap){guess}, &size) == VMSIM_OK;
	}
	assert_int_equal(hits, 0);
	vmsim_env_destroy(env);
}

static void test_seed_makes_caps_reproducible(void **state)
{
	(void)state;
	struct vmsim_env *a = seeded_env(42), *b = seeded_env(42), *c = seeded_env(43);
	vmsim_ds_cap ca, cb, cc;
	assert_int_equal(vmsim_ds_alloc(a, 4096, &ca), VMSIM_OK);
	assert_int_equal(vmsim_ds_alloc(b, 4096, &cb), VMSIM_OK);
	assert_int_equal(vmsim_ds_alloc(c, 4096, &cc), VMSIM_OK);
	assert_int_equal(ca.raw, cb.raw);
	assert_int_not_equal(ca.raw, cc.raw);
	vmsim_env_destroy(a);
	vmsim_env_destroy(b);
	vmsim_env_destroy(c);
}

static void test_table_grows_and_returns_quota(void **state)
{
	(void)state;
	struct vmsim_env *env = seeded_env(0); /* getrandom() seed */
	enum { N = 1000 };
	static vmsim_ds_cap caps[N];
	for (int i = 0; i < N; i++)
		assert_int_equal(vmsim_ds_alloc(env, 4096, &caps[i]), VMSIM_OK);
	struct vmsim_quota quota;
	vmsim_env_quota(env, &quota);
	assert_int_equal(quota.cap_used, N);
	assert_int_equal(quota.ram_used, N * 4096);
	for (int i = 0; i < N; i++) {
		uint64_t size = 0;
		assert_int_equal(vmsim_ds_size(env, caps[i], &size), VMSIM_OK);
		assert_int_equal(size, 4096);
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(vmsim_ds_free(env, caps[i]), VMSIM_OK);
	vmsim_env_quota(env, &quota);
	assert_int_equal(quota.cap_used, 0);
	assert_int_equal(quota.ram_used, 0);
	vmsim_env_destroy(env);
}

static void test_lookup_checks_kind(void **state)
{
	(void)state;
	struct vmsim_env *env = seeded_env(5);
	struct cap_table table;
	cap_table_init(&table, 5);
	int object;
	uint64_t raw = 0;
	assert_int_equal(cap_table_insert(env, &table, CAP_KIND_SESSION, &object, &raw), VMSIM_OK);
	assert_ptr_equal(cap_table_lookup(&table, raw, CAP_KIND_SESSION), &object);
	assert_null(cap_table_lookup(&table, raw, CAP_KIND_DATASPACE));
	assert_null(cap_table_lookup(&table, raw, CAP_KIND_VCPU));
	assert_null(cap_table_lookup(&table, 0, CAP_KIND_NONE));
	cap_table_remove(&table, raw);
	assert_null(cap_table_lookup(&table, raw, CAP_KIND_SESSION));
	cap_table_remove(&table, raw); /* removing a dead cap is harmless */
	assert_int_equal(table.live, 0);
	cap_table_destroy(env, &table);

	/* A failing slot-array allocation is OUT_OF_RAM and leaves the table usable. */
	cap_table_init(&table, 5);
	vmsim_env_fail_alloc_at(env, 1);
	assert_int_equal(cap_table_insert(env, &table, CAP_KIND_SESSION, &object, &raw), VMSIM_OUT_OF_RAM);
	assert_int_equal(cap_table_insert(env, &table, CAP_KIND_SESSION, &object, &raw), VMSIM_OK);
	assert_ptr_equal(cap_table_lookup(&table, raw, CAP_KIND_SESSION), &object);
	cap_table_destroy(env, &table);
	vmsim_env_destroy(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stale_cap_rejected_after_slot_reuse),
		cmocka_unit_test(test_guessed_and_forged_caps_rejected),
		cmocka_unit_test(test_seed_makes_caps_reproducible),
		cmocka_unit_test(test_table_grows_and_returns_quota),
		cmocka_unit_test(test_lookup_checks_kind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
