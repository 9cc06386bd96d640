/* core/rpc/tests/rpc_fault_test.c - fail each allocation of open, attach, create_vcpu, upgrade and close in turn. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <vmsim/backends.h>
#include <vmsim/vmsim.h>
#include <vmsim/rpc.h>

#include "vt_backend.h"
#include "vt_fault.h"

enum { MIB = 1 << 20 };

/* One walk's world: an env counting its allocations, a client and what the operation needs. */
struct vt_world {
	struct vt_counting_allocator counter;
	struct vmsim_env *env;
	struct vmsim_rpc_client *client;
	uint64_t session, ds;
};

static struct vmsim_rpc_request q;
static struct vmsim_rpc_reply p;

static enum vmsim_result vt_call(struct vmsim_rpc_client *client, uint16_t op)
{
	q.op = op;
	vmsim_rpc_client_dispatch(client, &q, &p);
	memset(&q, 0, sizeof q);
	return p.result;
}

static void vt_open_args(void)
{
	q.u.open.ram = MIB;
	q.u.open.caps = 10;
	q.u.open.model = VMSIM_MODEL_VMX;
	strcpy(q.u.open.backend, "null");
	strcpy(q.u.open.label, "fault");
}

/* Build the world the operation runs in, without any fault armed. */
static void vt_world_new(struct vt_world *w, uint16_t op)
{
	memset(w, 0, sizeof *w);
	vt_counting_allocator_init(&w->counter);
	struct vmsim_env_config cfg = {.allocator = &w->counter.hooks, .cap_seed = 5};
	assert_int_equal(vmsim_env_create(&cfg, &w->env), VMSIM_OK);
	assert_int_equal(vmsim_env_register_backend(w->env, vmsim_backend_null()), VMSIM_OK);
	struct vmsim_rpc_client_config ccfg = {.cap_seed = 9};
	assert_int_equal(vmsim_rpc_client_create(w->env, &ccfg, &w->client), VMSIM_OK);
	if (op == VMSIM_RPC_SESSION_OPEN)
		return;
	vt_open_args();
	assert_int_equal(vt_call(w->client, VMSIM_RPC_SESSION_OPEN), VMSIM_OK);
	w->session = p.u.cap;
	q.u.ds_alloc.size = 3 * 4096;
	assert_int_equal(vt_call(w->client, VMSIM_RPC_DS_ALLOC), VMSIM_OK);
	w->ds = p.u.cap;
	if (op == VMSIM_RPC_SESSION_CLOSE) {
		/* give close something to tear down: two vCPUs and two regions */
		for (int i = 0; i < 2; i++) {
			q.u.vcpu_create.session = w->session;
			assert_int_equal(vt_call(w->client, VMSIM_RPC_VCPU_CREATE), VMSIM_OK);
			q.u.attach.session = w->session;
			q.u.attach.ds = w->ds;
			q.u.attach.gpa = (uint64_t)i << 30;
			assert_int_equal(vt_call(w->client, VMSIM_RPC_ATTACH), VMSIM_OK);
		}
	}
}

static void vt_request(const struct vt_world *w, uint16_t op)
{
	switch (op) {
	case VMSIM_RPC_SESSION_OPEN:
		vt_open_args();
		break;
	case VMSIM_RPC_ATTACH:
		q.u.attach.session = w->session;
		q.u.attach.ds = w->ds;
		q.u.attach.gpa = 0x40000000 - 4096; /* straddles 1 GiB: tables on both sides */
		q.u.attach.flags = VMSIM_RPC_ATTACH_WRITEABLE;
		break;
	case VMSIM_RPC_VCPU_CREATE:
		q.u.vcpu_create.session = w->session;
		break;
	case VMSIM_RPC_SESSION_UPGRADE:
		q.u.upgrade.session = w->session;
		q.u.upgrade.ram = MIB;
		q.u.upgrade.caps = 4;
		break;
	case VMSIM_RPC_SESSION_CLOSE:
		q.u.object.cap = w->session;
		break;
	}
}

struct vt_snapshot {
	struct vmsim_quota env, client, session;
	bool have_session;
};

static void vt_snap(const struct vt_world *w, struct vt_snapshot *s)
{
	memset(s, 0, sizeof *s);
	vmsim_env_quota(w->env, &s->env);
	vmsim_rpc_client_quota(w->client, &s->client);
	if (w->session) {
		q.u.object.cap = w->session;
		s->have_session = vt_call(w->client, VMSIM_RPC_SESSION_QUOTA) == VMSIM_OK;
		s->session = p.u.quota;
	}
}

/* One step of the walk over op (tests/support's vt_fault_walk runs the steps). */
struct vt_step {
	uint16_t op;
	struct vt_world w;
	struct vt_snapshot before;
};

static struct vmsim_env *step_open(void *ctx)
{
	struct vt_step *step = ctx;
	vt_world_new(&step->w, step->op);
	vt_snap(&step->w, &step->before);
	vt_request(&step->w, step->op);
	return step->w.env;
}

static enum vmsim_result step_run(void *ctx, struct vmsim_env *env)
{
	struct vt_step *step = ctx;
	(void)env;
	q.op = step->op;
	vmsim_rpc_client_dispatch(step->w.client, &q, &p);
	memset(&q, 0, sizeof q);
	return p.result;
}

static void step_check(void *ctx, bool fired, enum vmsim_result r)
{
	struct vt_step *step = ctx;
	if (fired && step->op != VMSIM_RPC_SESSION_CLOSE) {
		/* the documented error, and every quota exactly as before */
		assert_int_equal(r, VMSIM_OUT_OF_RAM);
		struct vt_snapshot after;
		vt_snap(&step->w, &after);
		assert_memory_equal(&step->before, &after, sizeof after);
	} else {
		/* close never fails; past the last point everything else succeeds */
		assert_int_equal(r, VMSIM_OK);
	}
}

static void step_close(void *ctx, struct vmsim_env *env)
{
	struct vt_step *step = ctx;
	vmsim_rpc_client_destroy(step->w.client);
	struct vmsim_quota quota;
	vmsim_env_quota(env, &quota);
	assert_int_equal(quota.ram_used, 0);
	assert_int_equal(quota.cap_used, 0);
	vmsim_env_destroy(env);
	assert_int_equal(step->w.counter.allocs, step->w.counter.frees);
	assert_int_equal(step->w.counter.live_bytes, 0);
}

/* Walk N over every allocation of op; returns how many allocation points it has. */
static uint64_t vt_walk(uint16_t op)
{
	struct vt_step step = { .op = op };
	struct vt_fault_walk walk = { step_open, step_run, step_check, step_close, &step };
	return vt_fault_walk(&walk);
}

static void test_open_fault_walk(void **state)
{
	(void)state;
	uint64_t points = vt_walk(VMSIM_RPC_SESSION_OPEN);
	print_message("open: %lu allocation points\n", (unsigned long)points);
	assert_int_equal(points, 6); /* docs/spec-parts/rpc.md: client record, the space's first slots, core's four */
}

static void test_attach_fault_walk(void **state)
{
	(void)state;
	uint64_t points = vt_walk(VMSIM_RPC_ATTACH);
	print_message("attach: %lu allocation points\n", (unsigned long)points);
	assert_int_equal(points, 6); /* five nested page-table records and the region */
}

static void test_create_vcpu_fault_walk(void **state)
{
	(void)state;
	uint64_t points = vt_walk(VMSIM_RPC_VCPU_CREATE);
	print_message("create_vcpu: %lu allocation points\n", (unsigned long)points);
	assert_int_equal(points, 4); /* the entrypoint, the client record, core's registry slots and vCPU */
}

static void test_upgrade_fault_walk(void **state)
{
	(void)state;
	uint64_t points = vt_walk(VMSIM_RPC_SESSION_UPGRADE);
	print_message("upgrade: %lu allocation points\n", (unsigned long)points);
	assert_int_equal(points, 0); /* quota moves only */
}

static void test_close_fault_walk(void **state)
{
	(void)state;
	uint64_t points = vt_walk(VMSIM_RPC_SESSION_CLOSE);
	print_message("close: %lu allocation points\n", (unsigned long)points);
	assert_int_equal(points, 0); /* close cannot fail: it allocates nothing */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_fault_walk),
		cmocka_unit_test(test_attach_fault_walk),
		cmocka_unit_test(test_create_vcpu_fault_walk),
		cmocka_unit_test(test_upgrade_fault_walk),
		cmocka_unit_test(test_close_fault_walk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
