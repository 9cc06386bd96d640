/* vcpu_lifecycle_test.c - vCPUs: STARTUP first, ids, 64 vCPUs, entrypoints, destruction while running. */
#include <stdlib.h>

#include "../vc.h"

static int stay(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	(void)c;
	(void)st;
	return 0;
}

static unsigned hlt_code(void)
{
	return vc_svm() ? 0x78 : 12;
}

static void startup_is_first_exit(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_loops, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, stay);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 1);
	assert_int_equal(c->log[0].reason, 0xfe);
	assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_STARTUP), 1);
	struct vmsim_exit e;
	vmsim_vcpu_last_exit(c->vcpu, &e);
	assert_int_equal(e.kind, VMSIM_EXIT_STARTUP);
	vt_vm_close(&vm);
}

static void startup_then_hlt(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_exits, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, "x_hlt", NULL);
	vt_wait_exits(c, 2);
	assert_int_equal(c->log[0].reason, 0xfe);
	assert_int_equal(c->log[1].reason, hlt_code());
	assert_int_equal(c->log[1].ip, vt_addr(&vm, "x_hlt"));
	assert_int_equal(c->log[1].ip_len, 1);
	vt_wait_stopped(c); /* then x_done's OUT 0xf0 */
	assert_int_equal(vmsim_vcpu_exit_count(c->vcpu, VMSIM_EXIT_HLT), 1);
	vt_vm_close(&vm);
}

struct ids {
	unsigned seen[64], n;
};

static bool collect_id(void *ctx, struct vmsim_vcpu *v)
{
	struct ids *ids = ctx;
	ids->seen[ids->n++] = vmsim_vcpu_id(v);
	return true;
}

static bool all_started(void *ctx)
{
	struct vt_vm *vm = ctx;
	for (unsigned i = 0; i < vm->ncpu; i++)
		if (vmsim_vcpu_exit_count(vm->cpu[i].vcpu, VMSIM_EXIT_STARTUP) != 1)
			return false;
	return true;
}

static void sixty_four_vcpus(const void *p)
{
	bool run = p != NULL;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_exits, 0, 0);
	for (unsigned i = 0; i < 64; i++) {
		struct vt_cpu *c = vt_cpu_start(&vm, run ? "x_hlt" : NULL, run ? NULL : stay);
		assert_int_equal(vmsim_vcpu_id(c->vcpu), i);
		assert_ptr_equal(vmsim_vcpu_session(c->vcpu), vm.session);
	}
	assert_int_equal(vmsim_session_vcpu_count(vm.session), 64);
	for (unsigned i = 0; i < 64; i++)
		assert_ptr_equal(vmsim_session_vcpu(vm.session, i), vm.cpu[i].vcpu);
	assert_null(vmsim_session_vcpu(vm.session, 64));
	struct ids ids = { { 0 }, 0 };
	vmsim_session_for_each_vcpu(vm.session, collect_id, &ids);
	assert_int_equal(ids.n, 64);
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(ids.seen[i], i);
	vt_wait_until(all_started, &vm, "STARTUP on all 64 vCPUs");
	if (run)
		for (unsigned i = 0; i < 64; i++) {
			vt_wait_stopped(&vm.cpu[i]);
			assert_int_equal(vm.cpu[i].log[1].reason, hlt_code());
			assert_int_equal(vm.cpu[i].log[1].ip, vt_addr(&vm, "x_hlt"));
		}
	struct vmsim_quota q;
	vt_quota(vm.session, &q);
	assert_int_equal(q.ram_used - 8192 - 128 - 3 * 4096, 64 * 16384);
	assert_int_equal(q.cap_used, 1 + 64 * 2);
	vt_vm_close(&vm);
}

static const int run_flag = 1;

static void ids_never_reused(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, NULL, 0, 0);
	struct vmsim_vcpu *v[4];
	for (int i = 0; i < 3; i++)
		assert_int_equal(vt_idle_vcpu(vm.session, &v[i]), VMSIM_OK);
	vmsim_vcpu_destroy(v[1]);
	assert_null(vmsim_session_vcpu(vm.session, 1));
	assert_int_equal(vt_idle_vcpu(vm.session, &v[3]), VMSIM_OK);
	assert_int_equal(vmsim_vcpu_id(v[3]), 3);
	assert_int_equal(vmsim_session_vcpu_count(vm.session), 3);
	vmsim_vcpu_destroy(NULL); /* a no-op */
	vt_vm_close(&vm);         /* closes with three vCPUs present */
}

static void destroy_while_running(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_loops, 0, 0);
	struct vmsim_quota before, mid;
	vt_quota(vm.session, &before);
	struct vt_cpu *c[4];
	for (int i = 0; i < 4; i++)
		c[i] = vt_cpu_start(&vm, "x_spin", NULL);
	for (int i = 0; i < 4; i++)
		vt_wait_exits(c[i], 1);
	vmsim_vcpu_destroy(c[1]->vcpu);
	vmsim_vcpu_destroy(c[2]->vcpu);
	vt_quota(vm.session, &mid);
	assert_int_equal(mid.ram_used, before.ram_used + 2 * 16384);
	assert_int_equal(mid.cap_used, before.cap_used + 2 * 2);
	assert_int_equal(vmsim_session_vcpu_count(vm.session), 2);
	assert_int_equal(c[1]->n, 1); /* it never exited again: it was spinning */
	c[1]->vcpu = NULL;
	c[2]->vcpu = NULL;
	/* close the session itself with two vCPUs spinning */
	vmsim_session_close(vm.session);
	free(vm.cpu);
	vmsim_local_release(vm.env, &vm.local);
	assert_int_equal(vmsim_ds_free(vm.env, vm.ds), VMSIM_OK);
	uint64_t ram, caps;
	vt_env_used(vm.env, &ram, &caps);
	assert_int_equal(ram, 0);
	assert_int_equal(caps, 0);
	vmsim_env_destroy(vm.env);
}

static void exit_config_recorded(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, NULL, 0, 0);
	struct vmsim_vcpu *v;
	assert_int_equal(vt_idle_vcpu(vm.session, &v), VMSIM_OK);
	const struct vmsim_exit_config *cfg = vmsim_vcpu_exit_config(v);
	for (int k = 0; k < VMSIM_EXIT_KIND_COUNT; k++)
		assert_int_equal(cfg->groups[k], VMSIM_GROUP_ALL); /* NULL means every group on every exit */
	struct vmsim_exit_config minimal;
	vmsim_exit_config_minimal(&minimal);
	for (int k = 0; k < VMSIM_EXIT_KIND_COUNT; k++)
		assert_int_equal(minimal.groups[k], 0);
	vt_vm_close(&vm);
}

static int check_minimal(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason == (vc_svm() ? 0x7bu : 30u)) {
		assert_true(vmsim_charged(st, ip));
		assert_true(vmsim_charged(st, ip_len));
		assert_true(vmsim_charged(st, qual_primary));
		assert_true(vmsim_charged(st, qual_secondary));
		c->user_state = vmsim_charged(st, ax) ? 1 : 2;
		return 0;
	}
	return -1;
}

static void exit_config_minimal_transfers_exit_info_only(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_loops, 0, 0);
	static struct vmsim_exit_config cfg;
	vmsim_exit_config_minimal(&cfg);
	cfg.groups[VMSIM_EXIT_STARTUP] = VMSIM_GROUP_ALL;
	vm.config = &cfg;
	struct vt_cpu *c = vt_cpu_start(&vm, "x_out_loop", check_minimal);
	vt_wait_stopped(c);
	assert_int_equal(c->user_state, 2); /* rax was not transferred, so not charged */
	assert_false(c->log[1].ax_charged);
	assert_memory_equal(vmsim_vcpu_exit_config(c->vcpu), &cfg, sizeof cfg);
	vt_vm_close(&vm);
}

struct ep_seen {
	struct vmsim_entrypoint *ep;
	_Atomic int on_ep;
};

static bool note_thread(void *ctx, struct vmsim_vcpu_state *st)
{
	(void)st;
	struct ep_seen *s = ctx;
	s->on_ep = vmsim_entrypoint_current(s->ep) ? 1 : 2;
	return false;
}

static void ep_handler(void *ctx, struct vmsim_vcpu *vcpu)
{
	vt_handler_result(vmsim_vcpu_with_state(vcpu, note_thread, ctx));
}

static bool ep_noted(void *ctx)
{
	return ((struct ep_seen *)ctx)->on_ep != 0;
}

static void handler_runs_on_its_entrypoint(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, NULL, 0, 0);
	struct ep_seen seen = { NULL, 0 };
	assert_int_equal(vmsim_entrypoint_create(vm.env, "conformance ep", &seen.ep), VMSIM_OK);
	assert_false(vmsim_entrypoint_current(seen.ep));
	struct vmsim_vcpu_args args = { ep_handler, &seen, NULL, seen.ep };
	struct vmsim_vcpu *v;
	assert_int_equal(vmsim_vcpu_create(vm.session, &args, &v), VMSIM_OK);
	vt_wait_until(ep_noted, &seen, "the handler on the entrypoint");
	assert_int_equal(seen.on_ep, 1);
	assert_int_equal(vmsim_entrypoint_destroy(seen.ep), VMSIM_DENIED); /* a vCPU is bound to it */
	vmsim_vcpu_destroy(v);
	assert_int_equal(vmsim_entrypoint_destroy(seen.ep), VMSIM_OK);
	vt_vm_close(&vm);
}

static int destroy_self(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	(void)st;
	/* refused: an inline handler runs on the thread it would join */
	c->user_state = (unsigned)vmsim_vcpu_destroy(c->self);
	return 0;
}

static void destroy_from_own_handler_refused(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, NULL, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, destroy_self);
	vt_wait_stopped(c);
	assert_int_equal(c->user_state, VMSIM_DENIED);
	assert_int_equal(vmsim_session_vcpu_count(vm.session), 1);
	assert_ptr_equal(vmsim_session_vcpu(vm.session, 0), c->vcpu);
	vt_vm_close(&vm);
}

static void native_handle(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, NULL, 0, 0);
	struct vmsim_vcpu *v;
	assert_int_equal(vt_idle_vcpu(vm.session, &v), VMSIM_OK);
	struct vmsim_native_vcpu native;
	enum vmsim_result r = vmsim_vcpu_native(v, &native);
	if (r == VMSIM_OK)
		assert_string_equal(native.backend, vc_target()->backend);
	else
		assert_int_equal(r, VMSIM_UNSUPPORTED);
	assert_true(vc_target()->ops->native != NULL || r == VMSIM_UNSUPPORTED);
	vt_vm_close(&vm);
}

#define RUN_CAPS (VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_EXIT_HLT | VMSIM_CAP_EXIT_IO)

static const struct vc_test tests[] = {
	{ "vcpu", "startup_is_first_exit", 0, startup_is_first_exit, NULL },
	{ "vcpu", "startup_then_hlt", RUN_CAPS, startup_then_hlt, NULL },
	{ "vcpu", "sixty_four_vcpus_ids_lookup", 0, sixty_four_vcpus, NULL },
	{ "vcpu", "sixty_four_vcpus_run", RUN_CAPS, sixty_four_vcpus, &run_flag },
	{ "vcpu", "ids_never_reused", 0, ids_never_reused, NULL },
	{ "vcpu", "destroy_and_close_while_running", VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_STOP, destroy_while_running,
	  NULL },
	{ "vcpu", "exit_config_recorded", 0, exit_config_recorded, NULL },
	{ "vcpu", "exit_config_minimal", VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_EXIT_IO,
	  exit_config_minimal_transfers_exit_info_only, NULL },
	{ "vcpu", "handler_runs_on_its_entrypoint", 0, handler_runs_on_its_entrypoint, NULL },
	{ "vcpu", "destroy_from_own_handler_refused", 0, destroy_from_own_handler_refused, NULL },
	{ "vcpu", "native_handle", 0, native_handle, NULL },
};

struct vc_test_list vc_vcpu_tests(void)
{
	return VC_LIST(tests);
}
