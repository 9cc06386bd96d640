/* kvm_slots_test.c - the KVM backend's slot table: sorted lookups, conflicts, the host's slot limit, id reuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kvm_slots.h"

static char mem[4];

static void add_find_remove(void **state)
{
	(void)state;
	struct kvmb_slots t;
	uint32_t id;

	kvmb_slots_init(&t, 8);
	assert_int_equal(kvmb_slots_add(&t, 0x10000, 0x2000, mem, 3, &id), VMSIM_OK);
	assert_int_equal(id, 0);
	assert_int_equal(kvmb_slots_add(&t, 0x0, 0x1000, mem + 1, 1, &id), VMSIM_OK);
	assert_int_equal(id, 1);
	assert_int_equal(kvmb_slots_add(&t, 0xfffff000, 0x1000, mem + 2, 5, &id), VMSIM_OK);
	assert_int_equal(id, 2);
	/* sorted by gpa whatever the order of adds */
	assert_int_equal(t.v[0].gpa, 0x0);
	assert_int_equal(t.v[1].gpa, 0x10000);
	assert_int_equal(t.v[2].gpa, 0xfffff000);
	assert_ptr_equal(kvmb_slots_find(&t, 0x11fff)->hva, mem);
	assert_null(kvmb_slots_find(&t, 0x12000));
	assert_null(kvmb_slots_find(&t, 0x1000));
	assert_int_equal(kvmb_slots_find(&t, 0xffffffff)->prot, 5);
	assert_int_equal(kvmb_slots_find(&t, 0)->id, 1);
	/* exact match only */
	assert_null(kvmb_slots_exact(&t, 0x10000, 0x1000));
	const struct kvmb_slot *s = kvmb_slots_exact(&t, 0x10000, 0x2000);
	assert_non_null(s);
	kvmb_slots_remove(&t, s);
	assert_null(kvmb_slots_find(&t, 0x10000));
	assert_int_equal(t.n, 2);
	/* the freed id comes back first */
	assert_int_equal(kvmb_slots_add(&t, 0x40000, 0x1000, mem, 3, &id), VMSIM_OK);
	assert_int_equal(id, 0);
	kvmb_slots_fini(&t);
}

static void conflicts(void **state)
{
	(void)state;
	struct kvmb_slots t;
	uint32_t id;

	kvmb_slots_init(&t, 8);
	assert_int_equal(kvmb_slots_add(&t, 0x10000, 0x2000, mem, 3, &id), VMSIM_OK);
	assert_int_equal(kvmb_slots_add(&t, 0x11000, 0x1000, mem, 3, &id), VMSIM_REGION_CONFLICT);
	assert_int_equal(kvmb_slots_add(&t, 0xf000, 0x2000, mem, 3, &id), VMSIM_REGION_CONFLICT);
	assert_int_equal(kvmb_slots_add(&t, 0x8000, 0x10000, mem, 3, &id), VMSIM_REGION_CONFLICT);
	assert_int_equal(kvmb_slots_add(&t, 0x10000, 0x2000, mem, 3, &id), VMSIM_REGION_CONFLICT);
	/* touching is no overlap */
	assert_int_equal(kvmb_slots_add(&t, 0xf000, 0x1000, mem, 3, &id), VMSIM_OK);
	assert_int_equal(kvmb_slots_add(&t, 0x12000, 0x1000, mem, 3, &id), VMSIM_OK);
	assert_int_equal(kvmb_slots_add(&t, 0xfffffffffffff000ull, 0x2000, mem, 3, &id), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(t.n, 3);
	kvmb_slots_fini(&t);
}

/* As many slots as the host reports (32,764 on the PVM host), then OUT_OF_RAM; no 509 cap. */
static void host_limit(void **state)
{
	(void)state;
	struct kvmb_slots t;
	uint32_t id;

	kvmb_slots_init(&t, 32764);
	for (uint32_t i = 0; i < 32764; i++) {
		assert_int_equal(kvmb_slots_add(&t, (uint64_t)i * 0x2000, 0x1000, mem, 3, &id), VMSIM_OK);
		assert_int_equal(id, i);
	}
	assert_int_equal(kvmb_slots_add(&t, 0x100000000ull, 0x1000, mem, 3, &id), VMSIM_OUT_OF_RAM);
	assert_int_equal(kvmb_slots_find(&t, 32763ull * 0x2000 + 0xfff)->id, 32763);
	assert_null(kvmb_slots_find(&t, 32763ull * 0x2000 + 0x1000));
	kvmb_slots_remove(&t, kvmb_slots_exact(&t, 0x2000, 0x1000));
	assert_int_equal(kvmb_slots_add(&t, 0x100000000ull, 0x1000, mem, 3, &id), VMSIM_OK);
	assert_int_equal(id, 1);
	kvmb_slots_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(add_find_remove),
		cmocka_unit_test(conflicts),
		cmocka_unit_test(host_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
