/* core/tests/fault_test.c - fail every allocation in turn: each failure is clean and nothing leaks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "vt_backend.h"
#include "vt_fault.h"

enum { PAGE = 4096 };

/* The scenario: dataspace, local attach, session, four attaches, detach, free (flush), close. */
static enum vmsim_result scenario(void *ctx, struct vmsim_env *env)
{
	(void)ctx;
	enum vmsim_result r;
	vmsim_ds_cap ds;
	if ((r = vmsim_ds_alloc(env, 4 * PAGE, &ds)) != VMSIM_OK)
		return r;
	struct vmsim_local_attachment local;
	if ((r = vmsim_local_attach(env, ds, &(struct vmsim_local_attr){.writeable = true}, &local)) != VMSIM_OK)
		goto free_ds;
	struct vmsim_session_args args = {.ram_quota = 1 << 20, .cap_quota = 10, .label = "fault", .backend = "vt", .model = VMSIM_MODEL_SVM};
	struct vmsim_session *session;
	if ((r = vmsim_session_open(env, &args, &session)) != VMSIM_OK)
		goto release;
	const uint64_t gpas[] = {0, 2 << 20, 1ull << 30, 1ull << 39};
	struct vmsim_range range;
	for (int i = 0; i < 4; i++)
		if ((r = vmsim_session_attach(session, ds, gpas[i], &(struct vmsim_attach_attr){0}, &range)) != VMSIM_OK)
			goto close;
	if ((r = vmsim_session_detach(session, 2 << 20, PAGE)) != VMSIM_OK)
		goto close;
close:
	vmsim_session_close(session);
release:
	vmsim_local_release(env, &local);
free_ds:
	if (vmsim_ds_free(env, ds) != VMSIM_OK && r == VMSIM_OK)
		r = VMSIM_INVALID_CAP;
	return r;
}

static struct vmsim_env *walk_open(void *ctx)
{
	struct vt_counting_allocator *counter = ctx;
	vt_counting_allocator_init(counter);
	struct vmsim_env_config cfg = {.allocator = &counter->hooks};
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(&cfg, &env), VMSIM_OK);
	assert_int_equal(vmsim_env_register_backend(env, vt_backend_ops()), VMSIM_OK);
	return env;
}

/* Either the injected failure surfaced as OUT_OF_RAM, or the walk is past the last allocation. */
static void walk_check(void *ctx, bool fired, enum vmsim_result r)
{
	(void)ctx;
	assert_int_equal(r, fired ? VMSIM_OUT_OF_RAM : VMSIM_OK);
}

static void walk_close(void *ctx, struct vmsim_env *env)
{
	struct vt_counting_allocator *counter = ctx;
	struct vmsim_quota quota;
	vmsim_env_quota(env, &quota);
	assert_int_equal(quota.ram_used, 0);
	assert_int_equal(quota.cap_used, 0);
	vmsim_env_destroy(env);
	assert_int_equal(counter->allocs, counter->frees);
	assert_int_equal(counter->live_bytes, 0);
}

static void test_every_allocation_fails_cleanly(void **state)
{
	(void)state;
	struct vt_counting_allocator counter;
	struct vt_fault_walk walk = { walk_open, scenario, walk_check, walk_close, &counter };
	uint64_t failures = vt_fault_walk(&walk);
	/* ds, cap table, local mapping, session (4), then regions and tables: the 20 of docs/spec-parts/memory.md */
	print_message("fault injection walked %lu allocation points\n", (unsigned long)failures);
	assert_int_equal(failures, 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_allocation_fails_cleanly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
