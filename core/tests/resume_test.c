/* core/tests/resume_test.c - what core asks of the backend when a VMM resumes: exactly the charged registers. */
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

enum { GUEST_GPA = 0x1000, EXITS = 20 };

/* vt-cpu behind counters: every state_get/state_set/regs_set core makes, and the last regs_set's registers. */
static struct vmsim_backend_ops counting;
static atomic_uint gets, sets, regs_sets, last_regs;

static enum vmsim_result count_get(void *vcpu, uint32_t groups, struct vmsim_cpu_state *out)
{
	atomic_fetch_add(&gets, 1);
	return vt_cpu_ops()->state_get(vcpu, groups, out);
}

static enum vmsim_result count_set(void *vcpu, uint32_t groups, const struct vmsim_cpu_state *in)
{
	atomic_fetch_add(&sets, 1);
	return vt_cpu_ops()->state_set(vcpu, groups, in);
}

/* vt-cpu has no regs_set: apply the named registers through its group ops (not counted: core did not ask). */
static enum vmsim_result count_regs(void *vcpu, uint32_t regs, const struct vmsim_cpu_state *in)
{
	struct vmsim_cpu_state now;
	atomic_fetch_add(&regs_sets, 1);
	atomic_store(&last_regs, regs);
	enum vmsim_result r = vt_cpu_ops()->state_get(vcpu, VMSIM_GROUP_GPR | VMSIM_GROUP_IP, &now);
	uint64_t gprs[16], wanted[16]; /* rax..r15 are consecutive in vmsim_cpu_state */
	memcpy(gprs, &now.rax, sizeof gprs);
	memcpy(wanted, &in->rax, sizeof wanted);
	for (unsigned i = 0; i < 16; i++)
		if (regs & (1u << i))
			gprs[i] = wanted[i];
	memcpy(&now.rax, gprs, sizeof gprs);
	if (regs & VMSIM_REG_RIP)
		now.rip = in->rip;
	if (regs & VMSIM_REG_RFLAGS)
		now.rflags = in->rflags;
	return r == VMSIM_OK ? vt_cpu_ops()->state_set(vcpu, VMSIM_GROUP_GPR | VMSIM_GROUP_IP, &now) : r;
}

/* with_regs_set false: a backend built before the op existed (its struct_size ends before regs_set). */
static struct vmsim_env *counting_env(bool with_regs_set)
{
	counting = *vt_cpu_ops();
	counting.name = "vt-count";
	counting.state_get = count_get;
	counting.state_set = count_set;
	counting.regs_set = with_regs_set ? count_regs : NULL;
	if (!with_regs_set)
		counting.struct_size = offsetof(struct vmsim_backend_ops, regs_set);
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(NULL, &env), VMSIM_OK);
	assert_int_equal(vmsim_env_register_backend(env, &counting), VMSIM_OK);
	return env;
}

enum charge { CHARGE_IP, CHARGE_IP_AX, CHARGE_IP_FLAGS };

struct run {
	enum vmsim_model model;
	enum charge charge;
	atomic_uint ios;
	atomic_bool done;
};

static bool on_state(void *ctx, struct vmsim_vcpu_state *st)
{
	struct run *run = ctx;

	if (st->exit_reason == VMSIM_EXIT_CODE_STARTUP) {
		vt_flat_start_state(run->model, GUEST_GPA, st);
		return true;
	}
	unsigned n = atomic_fetch_add(&run->ios, 1) + 1;
	if (n == 1) {
		/* count from here: the start state above needed the full path */
		atomic_store(&gets, 0);
		atomic_store(&sets, 0);
		atomic_store(&regs_sets, 0);
	}
	if (n == EXITS) {
		atomic_store(&run->done, true);
		return false;
	}
	vmsim_vcpu_state_discharge(st);
	vmsim_charge(st, ip, st->ip.value + st->ip_len.value);
	if (run->charge == CHARGE_IP_AX)
		vmsim_charge(st, ax, n);
	if (run->charge == CHARGE_IP_FLAGS)
		vmsim_charge(st, flags, 2);
	return true;
}

static void handler(void *ctx, struct vmsim_vcpu *vcpu)
{
	enum vmsim_result r = vmsim_vcpu_with_state(vcpu, on_state, ctx);
	if (r != VMSIM_DENIED)
		assert_int_equal(r, VMSIM_OK);
}

static bool done(void *ctx)
{
	return atomic_load(&((struct run *)ctx)->done);
}

/* EXITS OUT exits (out 0x80,al; jmp back), inline handler, minimal Exit_config: nothing transferred at stops. */
static void run_outs(enum vmsim_model model, enum charge charge, bool with_regs_set)
{
	static const uint8_t guest[] = { 0xe6, 0x80, 0xeb, 0xfc };
	struct vt_code_vm g;
	struct run run = { .model = model, .charge = charge };
	struct vmsim_exit_config config;

	memset(&g, 0, sizeof g);
	g.env = counting_env(with_regs_set);
	struct vmsim_session_args args = { .ram_quota = VMSIM_COST_SESSION_RAM + VMSIM_COST_VCPU_RAM + 64 * 1024,
		                           .cap_quota = VMSIM_COST_SESSION_CAPS + VMSIM_COST_VCPU_CAPS,
		                           .label = "resume", .backend = "vt-count", .model = model };
	assert_int_equal(vmsim_session_open(g.env, &args, &g.session), VMSIM_OK);
	assert_int_equal(vmsim_ds_alloc(g.env, 4096, &g.ds), VMSIM_OK);
	assert_int_equal(vmsim_local_attach(g.env, g.ds, &(struct vmsim_local_attr){ 0, 0, true }, &g.local), VMSIM_OK);
	memset(g.local.ptr, 0xf4, 4096);
	memcpy(g.local.ptr, guest, sizeof guest);
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach(g.session, g.ds, GUEST_GPA, &(struct vmsim_attach_attr){ 0, 0, true, true },
	                                      &range),
	                 VMSIM_OK);
	vmsim_exit_config_minimal(&config);
	config.groups[VMSIM_EXIT_STARTUP] = VMSIM_GROUP_ALL;
	struct vmsim_vcpu_args va = { handler, &run, &config, NULL };
	struct vmsim_vcpu *vcpu = NULL;
	assert_int_equal(vmsim_vcpu_create(g.session, &va, &vcpu), VMSIM_OK);
	vt_wait_until(done, &run, "the OUT exits");
	assert_int_equal(vmsim_vcpu_exit_count(vcpu, VMSIM_EXIT_IO), EXITS);
	vt_guest_close(&g);
}

/* ip += len: one regs_set naming rip alone per resume; nothing read, no group written (docs/spec.md). */
static void test_rip_only_resume_names_rip_alone(void **unused)
{
	(void)unused;
	for (int m = 0; m < 2; m++) {
		run_outs(m ? VMSIM_MODEL_VMX : VMSIM_MODEL_SVM, CHARGE_IP, true);
		assert_int_equal(atomic_load(&regs_sets), EXITS - 1);
		assert_int_equal(atomic_load(&last_regs), VMSIM_REG_RIP);
		assert_int_equal(atomic_load(&gets), 0);
		assert_int_equal(atomic_load(&sets), 0);
	}
}

/* A result in ax beside rip: bit 0 (rax) and rip, still nothing read. */
static void test_ax_and_rip_resume(void **unused)
{
	(void)unused;
	run_outs(VMSIM_MODEL_SVM, CHARGE_IP_AX, true);
	assert_int_equal(atomic_load(&regs_sets), EXITS - 1);
	assert_int_equal(atomic_load(&last_regs), VMSIM_REG_RIP | 1u);
	assert_int_equal(atomic_load(&gets), 0);
	assert_int_equal(atomic_load(&sets), 0);
}

/* rflags is checked at entry (VM, reserved bits): that resume takes the group path with its checks. */
static void test_flags_take_the_checked_path(void **unused)
{
	(void)unused;
	run_outs(VMSIM_MODEL_VMX, CHARGE_IP_FLAGS, true);
	assert_int_equal(atomic_load(&regs_sets), 0);
	assert_int_equal(atomic_load(&sets), EXITS - 1);
}

/* A backend built before regs_set existed is never handed it: the group path, as before. */
static void test_backend_without_regs_set(void **unused)
{
	(void)unused;
	run_outs(VMSIM_MODEL_SVM, CHARGE_IP, false);
	assert_int_equal(atomic_load(&regs_sets), 0);
	assert_int_equal(atomic_load(&sets), EXITS - 1);
	assert_int_equal(atomic_load(&gets), EXITS - 1); /* rflags fetched to complete the IP group */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rip_only_resume_names_rip_alone),
		cmocka_unit_test(test_ax_and_rip_resume),
		cmocka_unit_test(test_flags_take_the_checked_path),
		cmocka_unit_test(test_backend_without_regs_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
