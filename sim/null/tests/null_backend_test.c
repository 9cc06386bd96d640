/* sim/null/tests/null_backend_test.c - the null backend's ops table driven directly, without core. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vmsim/backend.h>
#include <vmsim/backends.h>

enum { PAGE = 4096 };

/* Backing store for mappings: the null backend never touches it, it only records the pointer. */
static unsigned char vt_backing[64 * PAGE];

struct vt_null {
	const struct vmsim_backend_ops *ops;
	void *vm;
};

static int vt_setup(void **state)
{
	struct vt_null *t = calloc(1, sizeof *t);
	assert_non_null(t);
	t->ops = vmsim_backend_null();
	assert_int_equal(t->ops->vm_create(NULL, &t->vm), VMSIM_OK);
	assert_non_null(t->vm);
	*state = t;
	return 0;
}

static int vt_teardown(void **state)
{
	struct vt_null *t = *state;
	t->ops->vm_destroy(t->vm);
	free(t);
	return 0;
}

static enum vmsim_result vt_map(struct vt_null *t, uint64_t gpa, uint64_t size)
{
	return t->ops->mem_map(t->vm, gpa, vt_backing, size, VMSIM_PROT_READ | VMSIM_PROT_WRITE);
}

static void test_ops_table_is_a_valid_v1_table_without_caps(void **state)
{
	(void)state;
	const struct vmsim_backend_ops *ops = vmsim_backend_null();
	assert_ptr_equal(ops, vmsim_backend_null());
	assert_int_equal(ops->abi_version, VMSIM_BACKEND_ABI_VERSION);
	assert_int_equal(ops->struct_size, sizeof(struct vmsim_backend_ops));
	assert_string_equal(ops->name, "null");
	assert_non_null(ops->description);
	assert_int_equal(ops->caps, 0);
	assert_null(ops->native);
}

static void test_cap_gap_explains_every_capability(void **state)
{
	(void)state;
	const struct vmsim_backend_ops *ops = vmsim_backend_null();
	unsigned checked = 0;
#define VT_CHECK_GAP_(name, bit, text)                                                        \
	assert_string_equal(ops->cap_gap(VMSIM_CAP_##name), "the null backend executes no guest code"); \
	checked++;
	VMSIM_BACKEND_CAP_LIST(VT_CHECK_GAP_)
	VMSIM_BACKEND_CAP_LIST_WIDE(VT_CHECK_GAP_)
#undef VT_CHECK_GAP_
	assert_true(checked >= 28);
}

static void test_map_accepts_disjoint_and_adjacent_ranges(void **state)
{
	struct vt_null *t = *state;
	assert_int_equal(vt_map(t, 0x10000, 2 * PAGE), VMSIM_OK);
	assert_int_equal(vt_map(t, 0x10000 + 2 * PAGE, PAGE), VMSIM_OK); /* adjacent above */
	assert_int_equal(vt_map(t, 0x10000 - PAGE, PAGE), VMSIM_OK);     /* adjacent below */
	assert_int_equal(vt_map(t, 0, PAGE), VMSIM_OK);
	assert_int_equal(vt_map(t, 0xfffff000, PAGE), VMSIM_OK);
}

static void test_map_rejects_every_kind_of_overlap(void **state)
{
	struct vt_null *t = *state;
	assert_int_equal(vt_map(t, 0x10000, 4 * PAGE), VMSIM_OK);
	assert_int_equal(vt_map(t, 0x10000, 4 * PAGE), VMSIM_INVALID_ARGUMENT);         /* identical */
	assert_int_equal(vt_map(t, 0x10000 + PAGE, PAGE), VMSIM_INVALID_ARGUMENT);      /* inside */
	assert_int_equal(vt_map(t, 0x10000 - PAGE, 2 * PAGE), VMSIM_INVALID_ARGUMENT);  /* low edge */
	assert_int_equal(vt_map(t, 0x10000 + 3 * PAGE, 2 * PAGE), VMSIM_INVALID_ARGUMENT); /* high edge */
	assert_int_equal(vt_map(t, 0x8000, 16 * PAGE), VMSIM_INVALID_ARGUMENT);         /* enclosing */
	/* The refused maps left nothing behind: the whole range unmaps as the one original mapping. */
	assert_int_equal(t->ops->mem_unmap(t->vm, 0x10000, 4 * PAGE), VMSIM_OK);
	assert_int_equal(vt_map(t, 0x8000, 16 * PAGE), VMSIM_OK);
}

static void test_map_rejects_malformed_ranges(void **state)
{
	struct vt_null *t = *state;
	assert_int_equal(vt_map(t, 0x1001, PAGE), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vt_map(t, 0x1000, 0), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vt_map(t, 0x1000, PAGE + 1), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vt_map(t, UINT64_MAX - PAGE + 1, 2 * PAGE), VMSIM_INVALID_ARGUMENT); /* wraps */
	assert_int_equal(t->ops->mem_map(t->vm, 0x1000, NULL, PAGE, VMSIM_PROT_READ), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(t->ops->mem_map(t->vm, 0x1000, vt_backing, PAGE, 8), VMSIM_INVALID_ARGUMENT);
	/* None of them was recorded. */
	assert_int_equal(t->ops->mem_unmap(t->vm, 0x1000, PAGE), VMSIM_INVALID_ARGUMENT);
}

static void test_unmap_removes_exactly_one_earlier_mapping(void **state)
{
	struct vt_null *t = *state;
	assert_int_equal(t->ops->mem_unmap(t->vm, 0x20000, PAGE), VMSIM_INVALID_ARGUMENT); /* never mapped */
	assert_int_equal(vt_map(t, 0x20000, 2 * PAGE), VMSIM_OK);
	assert_int_equal(t->ops->mem_unmap(t->vm, 0x20000, PAGE), VMSIM_INVALID_ARGUMENT);        /* part */
	assert_int_equal(t->ops->mem_unmap(t->vm, 0x20000 + PAGE, PAGE), VMSIM_INVALID_ARGUMENT); /* part */
	assert_int_equal(t->ops->mem_unmap(t->vm, 0x20000, 3 * PAGE), VMSIM_INVALID_ARGUMENT);    /* more */
	assert_int_equal(t->ops->mem_unmap(t->vm, 0x20000, 2 * PAGE), VMSIM_OK);
	assert_int_equal(t->ops->mem_unmap(t->vm, 0x20000, 2 * PAGE), VMSIM_INVALID_ARGUMENT); /* gone */
	assert_int_equal(vt_map(t, 0x20000, 2 * PAGE), VMSIM_OK); /* the range is free again */
}

static void test_many_mappings_stay_ordered(void **state)
{
	struct vt_null *t = *state;
	/* Every other page, inserted from the top down so each insert lands at the front. */
	for (int i = 63; i >= 0; i--)
		assert_int_equal(vt_map(t, (uint64_t)i * 2 * PAGE, PAGE), VMSIM_OK);
	for (uint64_t i = 0; i < 64; i++) {
		assert_int_equal(vt_map(t, i * 2 * PAGE, PAGE), VMSIM_INVALID_ARGUMENT);
		assert_int_equal(vt_map(t, i * 2 * PAGE, 2 * PAGE), VMSIM_INVALID_ARGUMENT);
	}
	/* The holes between them are free; fill them, then unmap everything one by one. */
	for (uint64_t i = 0; i < 63; i++)
		assert_int_equal(vt_map(t, (i * 2 + 1) * PAGE, PAGE), VMSIM_OK);
	for (uint64_t i = 0; i < 127; i++)
		assert_int_equal(t->ops->mem_unmap(t->vm, i * PAGE, PAGE), VMSIM_OK);
	assert_int_equal(vt_map(t, 0, 127 * PAGE), VMSIM_OK);
}

static void test_vcpu_run_is_unsupported(void **state)
{
	struct vt_null *t = *state;
	void *vcpu = NULL;
	assert_int_equal(t->ops->vcpu_create(t->vm, 0, &vcpu), VMSIM_OK);
	assert_non_null(vcpu);
	assert_int_equal(t->ops->vcpu_run(vcpu, NULL, NULL), VMSIM_UNSUPPORTED);
	t->ops->vcpu_stop(vcpu); /* harmless without a run */
	assert_int_equal(t->ops->vcpu_run(vcpu, NULL, NULL), VMSIM_UNSUPPORTED);
	t->ops->vcpu_destroy(vcpu);
}

static struct vmsim_cpu_state *vt_state_filled(uint8_t byte)
{
	struct vmsim_cpu_state *s = aligned_alloc(64, sizeof *s);
	assert_non_null(s);
	memset(s, byte, sizeof *s);
	return s;
}

static void test_state_is_stored_per_group(void **state)
{
	struct vt_null *t = *state;
	void *vcpu = NULL;
	assert_int_equal(t->ops->vcpu_create(t->vm, 0, &vcpu), VMSIM_OK);
	struct vmsim_cpu_state *in = vt_state_filled(0xab), *out = vt_state_filled(0);

	/* A fresh vCPU reads back all zero. */
	assert_int_equal(t->ops->state_get(vcpu, VMSIM_GROUP_ALL, out), VMSIM_OK);
	assert_int_equal(out->rax, 0);
	assert_int_equal(out->fpu[VMSIM_FPU_AREA_SIZE - 1], 0);

	/* Setting GPR and CONTROL stores those two groups and nothing else. */
	assert_int_equal(t->ops->state_set(vcpu, VMSIM_GROUP_GPR | VMSIM_GROUP_CONTROL, in), VMSIM_OK);
	assert_int_equal(t->ops->state_get(vcpu, VMSIM_GROUP_ALL, out), VMSIM_OK);
	assert_int_equal(out->rax, 0xababababababababull);
	assert_int_equal(out->r15, 0xababababababababull);
	assert_int_equal(out->cr0, 0xababababababababull);
	assert_int_equal(out->dr7, 0xababababababababull);
	assert_int_equal(out->rip, 0);
	assert_int_equal(out->cs.sel, 0);
	assert_int_equal(out->sysenter_cs, 0);
	assert_int_equal(out->fpu_size, 0);

	/* A get of one group writes only that group's fields into out. */
	memset(out, 0x5a, sizeof *out);
	assert_int_equal(t->ops->state_get(vcpu, VMSIM_GROUP_CONTROL, out), VMSIM_OK);
	assert_int_equal(out->cr3, 0xababababababababull);
	assert_int_equal(out->rax, 0x5a5a5a5a5a5a5a5aull);
	assert_int_equal(out->tsc, 0x5a5a5a5a5a5a5a5aull);

	/* The last group (FPU) reaches the end of the struct. */
	assert_int_equal(t->ops->state_set(vcpu, VMSIM_GROUP_FPU, in), VMSIM_OK);
	memset(out, 0, sizeof *out);
	assert_int_equal(t->ops->state_get(vcpu, VMSIM_GROUP_FPU, out), VMSIM_OK);
	assert_int_equal(out->fpu_size, 0xababababababababull);
	assert_int_equal(out->fpu[VMSIM_FPU_AREA_SIZE - 1], 0xab);
	assert_int_equal(out->intercepts, 0);

	free(in);
	free(out);
	t->ops->vcpu_destroy(vcpu);
}

static void test_state_covers_every_field_once(void **state)
{
	struct vt_null *t = *state;
	void *vcpu = NULL;
	assert_int_equal(t->ops->vcpu_create(t->vm, 0, &vcpu), VMSIM_OK);
	struct vmsim_cpu_state *in = vt_state_filled(0xcd), *out = vt_state_filled(0);
	/* Setting the groups one by one adds up to setting them all. */
	for (uint32_t group = 1; group & VMSIM_GROUP_ALL; group <<= 1)
		assert_int_equal(t->ops->state_set(vcpu, group, in), VMSIM_OK);
	assert_int_equal(t->ops->state_get(vcpu, VMSIM_GROUP_ALL, out), VMSIM_OK);
	assert_int_equal(out->rflags, 0xcdcdcdcdcdcdcdcdull);
	assert_int_equal(out->idtr.base, 0xcdcdcdcdcdcdcdcdull);
	assert_int_equal(out->kernel_gs_base, 0xcdcdcdcdcdcdcdcdull);
	assert_int_equal(out->pending.vector, 0xcd);
	assert_int_equal(out->pdpte[3], 0xcdcdcdcdcdcdcdcdull);
	assert_int_equal(out->tpr_threshold, 0xcdcdcdcd);
	assert_int_equal(out->xss, 0xcdcdcdcdcdcdcdcdull);
	assert_int_equal(out->intercepts, 0xcdcdcdcd);
	assert_int_equal(out->tsc_aux, 0xcdcdcdcdcdcdcdcdull);
	free(in);
	free(out);
	t->ops->vcpu_destroy(vcpu);
}

static void test_state_rejects_unknown_groups(void **state)
{
	struct vt_null *t = *state;
	void *vcpu = NULL;
	assert_int_equal(t->ops->vcpu_create(t->vm, 0, &vcpu), VMSIM_OK);
	struct vmsim_cpu_state *in = vt_state_filled(0x11), *out = vt_state_filled(0);
	uint32_t bad = (uint32_t)VMSIM_GROUP_ALL + 1;
	assert_int_equal(t->ops->state_set(vcpu, bad | VMSIM_GROUP_GPR, in), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(t->ops->state_get(vcpu, VMSIM_GROUP_ALL, out), VMSIM_OK);
	assert_int_equal(out->rax, 0); /* the refused set stored nothing */
	assert_int_equal(t->ops->state_get(vcpu, bad, out), VMSIM_INVALID_ARGUMENT);
	free(in);
	free(out);
	t->ops->vcpu_destroy(vcpu);
}

static void test_vcpus_keep_separate_state(void **state)
{
	struct vt_null *t = *state;
	void *a = NULL, *b = NULL;
	assert_int_equal(t->ops->vcpu_create(t->vm, 0, &a), VMSIM_OK);
	assert_int_equal(t->ops->vcpu_create(t->vm, 1, &b), VMSIM_OK);
	assert_ptr_not_equal(a, b);
	struct vmsim_cpu_state *in = vt_state_filled(0x77), *out = vt_state_filled(0x00);
	assert_int_equal(t->ops->state_set(a, VMSIM_GROUP_IP, in), VMSIM_OK);
	assert_int_equal(t->ops->state_get(b, VMSIM_GROUP_IP, out), VMSIM_OK);
	assert_int_equal(out->rip, 0);
	assert_int_equal(t->ops->state_get(a, VMSIM_GROUP_IP, out), VMSIM_OK);
	assert_int_equal(out->rip, 0x7777777777777777ull);
	free(in);
	free(out);
	t->ops->vcpu_destroy(a);
	t->ops->vcpu_destroy(b);
}

static void test_null_arguments_are_refused(void **state)
{
	struct vt_null *t = *state;
	const struct vmsim_backend_ops *ops = t->ops;
	void *vcpu = NULL;
	assert_int_equal(ops->vm_create(NULL, NULL), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(ops->mem_map(NULL, 0, vt_backing, PAGE, 0), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(ops->mem_unmap(NULL, 0, PAGE), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(ops->vcpu_create(NULL, 0, &vcpu), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(ops->vcpu_create(t->vm, 0, NULL), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(ops->state_get(NULL, VMSIM_GROUP_GPR, NULL), VMSIM_INVALID_ARGUMENT);
	ops->vm_destroy(NULL);
	ops->vcpu_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops_table_is_a_valid_v1_table_without_caps),
		cmocka_unit_test(test_cap_gap_explains_every_capability),
		cmocka_unit_test_setup_teardown(test_map_accepts_disjoint_and_adjacent_ranges, vt_setup, vt_teardown),
		cmocka_unit_test_setup_teardown(test_map_rejects_every_kind_of_overlap, vt_setup, vt_teardown),
		cmocka_unit_test_setup_teardown(test_map_rejects_malformed_ranges, vt_setup, vt_teardown),
		cmocka_unit_test_setup_teardown(test_unmap_removes_exactly_one_earlier_mapping, vt_setup, vt_teardown),
		cmocka_unit_test_setup_teardown(test_many_mappings_stay_ordered, vt_setup, vt_teardown),
		cmocka_unit_test_setup_teardown(test_vcpu_run_is_unsupported, vt_setup, vt_teardown),
		cmocka_unit_test_setup_teardown(test_state_is_stored_per_group, vt_setup, vt_teardown),
		cmocka_unit_test_setup_teardown(test_state_covers_every_field_once, vt_setup, vt_teardown),
		cmocka_unit_test_setup_teardown(test_state_rejects_unknown_groups, vt_setup, vt_teardown),
		cmocka_unit_test_setup_teardown(test_vcpus_keep_separate_state, vt_setup, vt_teardown),
		cmocka_unit_test_setup_teardown(test_null_arguments_are_refused, vt_setup, vt_teardown),
	};
	return cmocka_run_group_tests_name("null_backend", tests, NULL, NULL);
}
