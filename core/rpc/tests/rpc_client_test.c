/* core/rpc/tests/rpc_client_test.c - per-client capability spaces and budgets, through the dispatcher. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <vmsim/backends.h>
#include <vmsim/vmsim.h>
#include <vmsim/rpc.h>

enum { MIB = 1 << 20 };

static struct vmsim_rpc_request q;
static struct vmsim_rpc_reply p;

static struct vmsim_env *vt_env(void)
{
	struct vmsim_env_config cfg = {.cap_seed = 42};
	struct vmsim_env *env;
	assert_int_equal(vmsim_env_create(&cfg, &env), VMSIM_OK);
	assert_int_equal(vmsim_env_register_backend(env, vmsim_backend_null()), VMSIM_OK);
	return env;
}

static struct vmsim_rpc_client *vt_client(struct vmsim_env *env, uint64_t ram, uint64_t seed)
{
	struct vmsim_rpc_client_config cfg = {.ram = ram, .caps = 100, .cap_seed = seed};
	struct vmsim_rpc_client *client;
	assert_int_equal(vmsim_rpc_client_create(env, &cfg, &client), VMSIM_OK);
	return client;
}

static enum vmsim_result vt_call(struct vmsim_rpc_client *client, uint16_t op)
{
	q.op = op;
	vmsim_rpc_client_dispatch(client, &q, &p);
	assert_int_equal(p.op, op);
	memset(&q, 0, sizeof q);
	return p.result;
}

static uint64_t vt_open(struct vmsim_rpc_client *client, uint64_t ram)
{
	q.u.open.ram = ram;
	q.u.open.caps = 10;
	q.u.open.model = VMSIM_MODEL_SVM;
	strcpy(q.u.open.backend, "null");
	strcpy(q.u.open.label, "vm");
	assert_int_equal(vt_call(client, VMSIM_RPC_SESSION_OPEN), VMSIM_OK);
	return p.u.cap;
}

static uint64_t vt_ds(struct vmsim_rpc_client *client, uint64_t size)
{
	q.u.ds_alloc.size = size;
	assert_int_equal(vt_call(client, VMSIM_RPC_DS_ALLOC), VMSIM_OK);
	return p.u.cap;
}

static void test_caps_are_meaningless_to_another_client(void **state)
{
	(void)state;
	struct vmsim_env *env = vt_env();
	/* the same seed: even identical raw names must not cross spaces */
	struct vmsim_rpc_client *a = vt_client(env, 16 * MIB, 7), *b = vt_client(env, 16 * MIB, 7);
	uint64_t session = vt_open(a, MIB);
	uint64_t ds = vt_ds(a, 8192);

	q.u.object.cap = session;
	assert_int_equal(vt_call(b, VMSIM_RPC_SESSION_QUOTA), VMSIM_INVALID_CAP);
	q.u.object.cap = ds;
	assert_int_equal(vt_call(b, VMSIM_RPC_DS_FREE), VMSIM_INVALID_CAP);
	/* b's own session cannot attach a's dataspace: Genode's INVALID_DATASPACE */
	uint64_t b_session = vt_open(b, MIB);
	memset(&q.u.attach, 0, sizeof q.u.attach); q.u.attach.session = b_session; q.u.attach.ds = ds; q.u.attach.gpa = 0;
	if (b_session == session)
		q.u.attach.ds = ds; /* same raw value is still a different space */
	assert_int_equal(vt_call(b, VMSIM_RPC_ATTACH), VMSIM_INVALID_DATASPACE);
	/* a's session is still intact and usable by a */
	memset(&q.u.attach, 0, sizeof q.u.attach); q.u.attach.session = session; q.u.attach.ds = ds; q.u.attach.gpa = 0x10000;
	assert_int_equal(vt_call(a, VMSIM_RPC_ATTACH), VMSIM_OK);
	assert_int_equal(p.u.range.num_bytes, 8192);
	/* kinds are checked too: a dataspace cap is no session cap */
	q.u.object.cap = ds;
	assert_int_equal(vt_call(a, VMSIM_RPC_SESSION_CLOSE), VMSIM_INVALID_CAP);

	vmsim_rpc_client_destroy(a);
	vmsim_rpc_client_destroy(b);
	struct vmsim_quota quota;
	vmsim_env_quota(env, &quota);
	assert_int_equal(quota.ram_used, 0);
	assert_int_equal(quota.cap_used, 0);
	vmsim_env_destroy(env);
}

static void test_stale_caps_are_rejected(void **state)
{
	(void)state;
	struct vmsim_env *env = vt_env();
	struct vmsim_rpc_client *a = vt_client(env, 16 * MIB, 0);
	uint64_t session = vt_open(a, MIB);
	q.u.vcpu_create.session = session;
	assert_int_equal(vt_call(a, VMSIM_RPC_VCPU_CREATE), VMSIM_OK);
	uint64_t vcpu = p.u.vcpu.cap;
	assert_int_equal(p.u.vcpu.id, 0);
	q.u.object.cap = session;
	assert_int_equal(vt_call(a, VMSIM_RPC_SESSION_CLOSE), VMSIM_OK);
	q.u.object.cap = session;
	assert_int_equal(vt_call(a, VMSIM_RPC_SESSION_CLOSE), VMSIM_INVALID_CAP);
	/* the vCPU died with its session */
	q.u.object.cap = vcpu;
	assert_int_equal(vt_call(a, VMSIM_RPC_VCPU_PAUSE), VMSIM_INVALID_CAP);
	/* a new object may reuse the slot, never the name */
	uint64_t again = vt_open(a, MIB);
	assert_int_not_equal(again, session);
	q.u.object.cap = session;
	assert_int_equal(vt_call(a, VMSIM_RPC_SESSION_QUOTA), VMSIM_INVALID_CAP);
	q.u.object.cap = 0;
	assert_int_equal(vt_call(a, VMSIM_RPC_SESSION_QUOTA), VMSIM_INVALID_CAP);
	vmsim_rpc_client_destroy(a);
	vmsim_env_destroy(env);
}

static void test_one_budget_cannot_pay_for_another(void **state)
{
	(void)state;
	struct vmsim_env *env = vt_env();
	struct vmsim_rpc_client *a = vt_client(env, 4 * MIB, 0), *b = vt_client(env, 4 * MIB, 0);
	vt_ds(a, 3 * MIB);
	q.u.ds_alloc.size = 2 * MIB;
	assert_int_equal(vt_call(a, VMSIM_RPC_DS_ALLOC), VMSIM_OUT_OF_RAM);
	memset(&q.u.open, 0, sizeof q.u.open); q.u.open.ram = 2 * MIB; q.u.open.caps = 10; q.u.open.model = VMSIM_MODEL_SVM; strcpy(q.u.open.backend, "null");
	assert_int_equal(vt_call(a, VMSIM_RPC_SESSION_OPEN), VMSIM_OUT_OF_RAM);
	/* b's budget is untouched by a's exhaustion */
	vt_ds(b, 2 * MIB);
	uint64_t session = vt_open(b, MIB);
	memset(&q.u.upgrade, 0, sizeof q.u.upgrade); q.u.upgrade.session = session; q.u.upgrade.ram = 2 * MIB;
	assert_int_equal(vt_call(b, VMSIM_RPC_SESSION_UPGRADE), VMSIM_OUT_OF_RAM);
	memset(&q.u.upgrade, 0, sizeof q.u.upgrade); q.u.upgrade.session = session; q.u.upgrade.ram = 512 * 1024; q.u.upgrade.caps = 1;
	assert_int_equal(vt_call(b, VMSIM_RPC_SESSION_UPGRADE), VMSIM_OK);

	assert_int_equal(vt_call(a, VMSIM_RPC_CLIENT_QUOTA), VMSIM_OK);
	assert_int_equal(p.u.quota.ram_used, 3 * MIB);
	assert_int_equal(p.u.quota.cap_used, 1);
	assert_int_equal(vt_call(b, VMSIM_RPC_CLIENT_QUOTA), VMSIM_OK);
	assert_int_equal(p.u.quota.ram_used, 2 * MIB + MIB + 512 * 1024);
	assert_int_equal(p.u.quota.cap_used, 1 + 10 + 1);
	q.u.object.cap = session;
	assert_int_equal(vt_call(b, VMSIM_RPC_SESSION_QUOTA), VMSIM_OK);
	assert_int_equal(p.u.quota.ram_limit, MIB + 512 * 1024);
	assert_int_equal(p.u.quota.ram_used, VMSIM_COST_SESSION_RAM);

	/* closing returns the donation and its upgrade to b */
	q.u.object.cap = session;
	assert_int_equal(vt_call(b, VMSIM_RPC_SESSION_CLOSE), VMSIM_OK);
	assert_int_equal(vt_call(b, VMSIM_RPC_CLIENT_QUOTA), VMSIM_OK);
	assert_int_equal(p.u.quota.ram_used, 2 * MIB);
	assert_int_equal(p.u.quota.cap_used, 1);

	vmsim_rpc_client_destroy(a);
	struct vmsim_quota quota;
	vmsim_env_quota(env, &quota);
	assert_int_equal(quota.ram_used, 2 * MIB);
	vmsim_rpc_client_destroy(b);
	vmsim_env_quota(env, &quota);
	assert_int_equal(quota.ram_used, 0);
	assert_int_equal(quota.cap_used, 0);
	vmsim_env_destroy(env);
}

static void test_session_operations_reach_core(void **state)
{
	(void)state;
	struct vmsim_env *env = vt_env();
	struct vmsim_rpc_client *a = vt_client(env, 16 * MIB, 0);
	uint64_t session = vt_open(a, MIB);
	uint64_t ds = vt_ds(a, 16384);
	memset(&q.u.attach, 0, sizeof q.u.attach); q.u.attach.session = session; q.u.attach.ds = ds; q.u.attach.gpa = 0x100000; q.u.attach.offset = 4096; q.u.attach.size = 8192; q.u.attach.flags = VMSIM_RPC_ATTACH_WRITEABLE;
	assert_int_equal(vt_call(a, VMSIM_RPC_ATTACH), VMSIM_OK);
	assert_int_equal(p.u.range.start, 0x100000);
	assert_int_equal(p.u.range.num_bytes, 8192);
	uint64_t other = vt_ds(a, 4096);
	memset(&q.u.attach, 0, sizeof q.u.attach); q.u.attach.session = session; q.u.attach.ds = other; q.u.attach.gpa = 0x101000;
	assert_int_equal(vt_call(a, VMSIM_RPC_ATTACH), VMSIM_REGION_CONFLICT);
	memset(&q.u.attach_pic, 0, sizeof q.u.attach_pic); q.u.attach_pic.session = session; q.u.attach_pic.gpa = 0x200000;
	assert_int_equal(vt_call(a, VMSIM_RPC_ATTACH_PIC), VMSIM_INVALID_DATASPACE);
	memset(&q.u.detach, 0, sizeof q.u.detach); q.u.detach.session = session; q.u.detach.gpa = 0x100000; q.u.detach.size = 0;
	assert_int_equal(vt_call(a, VMSIM_RPC_DETACH), VMSIM_INVALID_ARGUMENT);
	memset(&q.u.detach, 0, sizeof q.u.detach); q.u.detach.session = session; q.u.detach.gpa = 0x100000; q.u.detach.size = 4096;
	assert_int_equal(vt_call(a, VMSIM_RPC_DETACH), VMSIM_OK);
	q.u.object.cap = session;
	assert_int_equal(vt_call(a, VMSIM_RPC_SESSION_QUOTA), VMSIM_OK);
	assert_int_equal(p.u.quota.ram_used, VMSIM_COST_SESSION_RAM); /* region and tables returned */
	q.u.ds_alloc.size = 0;
	assert_int_equal(vt_call(a, VMSIM_RPC_DS_ALLOC), VMSIM_INVALID_ARGUMENT);
	q.op = 0x77;
	vmsim_rpc_client_dispatch(a, &q, &p);
	assert_int_equal(p.result, VMSIM_UNSUPPORTED);
	/* NULLs are refused, never dereferenced */
	vmsim_rpc_client_dispatch(NULL, &q, &p);
	assert_int_equal(p.result, VMSIM_INVALID_ARGUMENT);
	uint8_t frame[VMSIM_RPC_MAX_FRAME];
	size_t len;
	assert_int_equal(vmsim_rpc_client_handle(NULL, frame, 12, frame, &len), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_rpc_client_handle(a, NULL, 12, frame, &len), VMSIM_INVALID_ARGUMENT);
	/* a truncated frame still gets an (error) reply */
	assert_int_equal(vmsim_rpc_client_handle(a, frame, 3, frame, &len), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(len, VMSIM_RPC_HEADER_SIZE + 4);
	vmsim_rpc_client_destroy(a);
	vmsim_env_destroy(env);
}

static void test_vcpu_state_travels_through_the_entrypoint(void **state)
{
	(void)state;
	struct vmsim_env *env = vt_env();
	struct vmsim_rpc_client *a = vt_client(env, 16 * MIB, 0);
	uint64_t session = vt_open(a, MIB);
	q.u.vcpu_create.session = session;
	assert_int_equal(vt_call(a, VMSIM_RPC_VCPU_CREATE), VMSIM_OK);
	uint64_t vcpu = p.u.vcpu.cap;
	q.u.vcpu_create.session = session;
	q.u.vcpu_create.exit_config = VMSIM_RPC_EXIT_CONFIG_MINIMAL;
	assert_int_equal(vt_call(a, VMSIM_RPC_VCPU_CREATE), VMSIM_OK);
	assert_int_equal(p.u.vcpu.id, 1);

	/* the first state a VMM sees is the startup exit */
	q.u.object.cap = vcpu;
	assert_int_equal(vt_call(a, VMSIM_RPC_VCPU_STATE_GET), VMSIM_OK);
	assert_int_equal(p.u.state.exit_reason, VMSIM_EXIT_CODE_STARTUP);
	/* charge a register without resuming; the next get shows it */
	q.u.put.vcpu = vcpu;
	vmsim_charge(&q.u.put.state, ax, 0x1234);
	assert_int_equal(vt_call(a, VMSIM_RPC_VCPU_STATE_PUT), VMSIM_OK);
	q.u.object.cap = vcpu;
	assert_int_equal(vt_call(a, VMSIM_RPC_VCPU_STATE_GET), VMSIM_OK);
	assert_int_equal(p.u.state.ax.value, 0x1234);

	q.u.object.cap = vcpu;
	assert_int_equal(vt_call(a, VMSIM_RPC_VCPU_PAUSE), VMSIM_OK);
	q.u.object.cap = vcpu;
	assert_int_equal(vt_call(a, VMSIM_RPC_VCPU_NATIVE), VMSIM_UNSUPPORTED); /* the null backend has none */
	q.u.object.cap = session;
	assert_int_equal(vt_call(a, VMSIM_RPC_SESSION_QUOTA), VMSIM_OK);
	assert_int_equal(p.u.quota.ram_used, VMSIM_COST_SESSION_RAM + 2 * VMSIM_COST_VCPU_RAM);
	assert_int_equal(p.u.quota.cap_used, VMSIM_COST_SESSION_CAPS + 2 * VMSIM_COST_VCPU_CAPS);
	vmsim_rpc_client_destroy(a);
	struct vmsim_quota quota;
	vmsim_env_quota(env, &quota);
	assert_int_equal(quota.ram_used, 0);
	vmsim_env_destroy(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps_are_meaningless_to_another_client),
		cmocka_unit_test(test_stale_caps_are_rejected),
		cmocka_unit_test(test_one_budget_cannot_pay_for_another),
		cmocka_unit_test(test_session_operations_reach_core),
		cmocka_unit_test(test_vcpu_state_travels_through_the_entrypoint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
