/* core/tests/cpuid_set_test.c - vmsim_vcpu_cpuid_set: the VMM's CPUID table reaches a backend that answers CPUID
 * itself, exactly as given, only before the vCPU first runs; bad tables and backends without the op are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include <vmsim/backend.h>

#include "vt_cpu.h"
#include "vt_exec.h"

enum { GUEST_GPA = 0x1000 };

/* vt-cpu with a cpuid_set op that records what it was given. */
static struct vmsim_backend_ops recording;
static atomic_uint calls;
static struct vmsim_cpuid_entry given[4];
static uint32_t given_count;

static enum vmsim_result record_cpuid(void *vcpu, const struct vmsim_cpuid_entry *entries, uint32_t count)
{
	(void)vcpu;
	atomic_fetch_add(&calls, 1);
	given_count = count;
	memcpy(given, entries, (count < 4 ? count : 4) * sizeof *entries);
	return VMSIM_OK;
}

static const struct vmsim_cpuid_entry table[2] = {
	{ .leaf = 0, .eax = 1, .ebx = 0x69736d76, .ecx = 0x6d766d69, .edx = 0x736d766d },
	{ .leaf = 7, .subleaf = 0, .flags = VMSIM_CPUID_BY_SUBLEAF, .ebx = 0x9 },
};

/* What each with_state saw: the results of the calls it made, in order. */
struct run {
	struct vmsim_vcpu *vcpu;
	enum vmsim_result at_startup, bad_flags, too_many, null_entries, after_run;
	atomic_bool done;
};

static bool on_state(void *ctx, struct vmsim_vcpu_state *st)
{
	struct run *run = ctx;

	if (st->exit_reason == VMSIM_EXIT_CODE_STARTUP) {
		struct vmsim_cpuid_entry odd = { .leaf = 1, .flags = 2 };
		run->bad_flags = vmsim_vcpu_cpuid_set(run->vcpu, &odd, 1);
		run->too_many = vmsim_vcpu_cpuid_set(run->vcpu, table, VMSIM_CPUID_MAX_ENTRIES + 1);
		run->null_entries = vmsim_vcpu_cpuid_set(run->vcpu, NULL, 1);
		run->at_startup = vmsim_vcpu_cpuid_set(run->vcpu, table, 2);
		vt_flat_start_state(vmsim_session_model(vmsim_vcpu_session(run->vcpu)), GUEST_GPA, st);
		return true;
	}
	/* the first OUT: the vCPU has run guest code, its table is fixed */
	run->after_run = vmsim_vcpu_cpuid_set(run->vcpu, table, 2);
	atomic_store(&run->done, true);
	return false;
}

static void handler(void *ctx, struct vmsim_vcpu *vcpu)
{
	struct run *run = ctx;
	run->vcpu = vcpu;
	enum vmsim_result r = vmsim_vcpu_with_state(vcpu, on_state, ctx);
	if (r != VMSIM_DENIED)
		assert_int_equal(r, VMSIM_OK);
}

static bool done(void *ctx)
{
	return atomic_load(&((struct run *)ctx)->done);
}

/* One vCPU on "vt-cpuid" (vt-cpu with the op, or without it when struct_size ends before it) up to its first OUT. */
static void run_to_first_out(bool with_op, struct run *run)
{
	static const uint8_t guest[] = { 0xe6, 0x80, 0xeb, 0xfc }; /* out 0x80, al; jmp back */
	recording = *vt_cpu_ops();
	recording.name = "vt-cpuid";
	recording.cpuid_set = with_op ? record_cpuid : NULL;
	if (!with_op)
		recording.struct_size = offsetof(struct vmsim_backend_ops, cpuid_set);
	atomic_store(&calls, 0);
	struct vmsim_env *env = vt_cpu_env();
	assert_int_equal(vmsim_env_register_backend(env, &recording), VMSIM_OK);
	struct vt_code_vm g;
	vt_guest_open_in(env, "vt-cpuid", &g, VMSIM_MODEL_SVM, GUEST_GPA, guest, sizeof guest);
	struct vmsim_exit_config config;
	vmsim_exit_config_minimal(&config);
	struct vmsim_vcpu_args va = { handler, run, &config, NULL };
	struct vmsim_vcpu *vcpu = NULL;
	assert_int_equal(vmsim_vcpu_create(g.session, &va, &vcpu), VMSIM_OK);
	vt_wait_until(done, run, "the first OUT exit");
	vt_guest_close(&g);
}

static void test_table_reaches_the_backend_before_the_first_run(void **unused)
{
	(void)unused;
	struct run run = { 0 };
	run_to_first_out(true, &run);
	assert_int_equal(run.at_startup, VMSIM_OK);
	assert_int_equal(run.after_run, VMSIM_DENIED);
	assert_int_equal(atomic_load(&calls), 1); /* neither the refused calls nor the late one reached it */
	assert_int_equal(given_count, 2);
	assert_int_equal(given[0].ebx, 0x69736d76);
	assert_int_equal(given[1].leaf, 7);
	assert_int_equal(given[1].flags, VMSIM_CPUID_BY_SUBLEAF);
	assert_int_equal(given[1].ebx, 0x9);
}

static void test_bad_tables_are_refused(void **unused)
{
	(void)unused;
	struct run run = { 0 };
	run_to_first_out(true, &run);
	assert_int_equal(run.bad_flags, VMSIM_INVALID_ARGUMENT);
	assert_int_equal(run.too_many, VMSIM_INVALID_ARGUMENT);
	assert_int_equal(run.null_entries, VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_vcpu_cpuid_set(NULL, table, 2), VMSIM_INVALID_ARGUMENT);
}

/* A backend whose CPUID exits (or one built before the op) has no table to take. */
static void test_backend_without_the_op(void **unused)
{
	(void)unused;
	struct run run = { 0 };
	run_to_first_out(false, &run);
	assert_int_equal(run.at_startup, VMSIM_UNSUPPORTED);
	assert_int_equal(atomic_load(&calls), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_reaches_the_backend_before_the_first_run),
		cmocka_unit_test(test_bad_tables_are_refused),
		cmocka_unit_test(test_backend_without_the_op),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
