/* core/rpc/tests/rpc_server_test.c - the server and the C client library over a real UNIX socket. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <vmsim/backends.h>
#include <vmsim/vmsim.h>
#include <vmsim/rpc.h>

enum { MIB = 1 << 20 };

struct vt_server {
	char dir[64];
	char path[96];
	struct vmsim_env *env;
	struct vmsim_rpc_server *server;
};

static void vt_server_start(struct vt_server *s, unsigned max_clients)
{
	strcpy(s->dir, "/tmp/vmsim-rpc-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof s->path, "%s/sock", s->dir);
	struct vmsim_env_config cfg = {.ram_pool = 32 * MIB};
	assert_int_equal(vmsim_env_create(&cfg, &s->env), VMSIM_OK);
	assert_int_equal(vmsim_env_register_backend(s->env, vmsim_backend_null()), VMSIM_OK);
	struct vmsim_rpc_server_config scfg = {.socket_path = s->path, .client = {.ram = 24 * MIB},
	                                       .max_clients = max_clients};
	assert_int_equal(vmsim_rpc_server_start(s->env, &scfg, &s->server), VMSIM_OK);
}

/* Disconnects are torn down on the server's threads: wait (bounded) for the env to be empty. */
static bool vt_env_drains(struct vmsim_env *env)
{
	for (int i = 0; i < 1000; i++) {
		struct vmsim_quota q;
		vmsim_env_quota(env, &q);
		if (q.ram_used == 0 && q.cap_used == 0)
			return true;
		nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
	}
	return false;
}

static void vt_server_stop(struct vt_server *s)
{
	vmsim_rpc_server_stop(s->server);
	struct vmsim_quota q;
	vmsim_env_quota(s->env, &q);
	assert_int_equal(q.ram_used, 0);
	assert_int_equal(access(s->path, F_OK), -1); /* the socket is gone */
	vmsim_env_destroy(s->env);
	rmdir(s->dir);
}

static struct vmsim_rpc_request q;
static struct vmsim_rpc_reply p;

static enum vmsim_result vt_call(struct vmsim_rpc_conn *conn, uint16_t op)
{
	q.op = op;
	enum vmsim_result r = vmsim_rpc_call(conn, &q, &p);
	memset(&q, 0, sizeof q);
	return r;
}

static uint64_t vt_open(struct vmsim_rpc_conn *conn)
{
	q.u.open.ram = MIB;
	q.u.open.caps = 10;
	q.u.open.model = VMSIM_MODEL_VMX;
	strcpy(q.u.open.backend, "null");
	assert_int_equal(vt_call(conn, VMSIM_RPC_SESSION_OPEN), VMSIM_OK);
	return p.u.cap;
}

/* Genode's Connection::retry over the wire: +4096 bytes per OUT_OF_RAM, +2 caps per OUT_OF_CAPS, bounded. */
static void test_call_retry_upgrades(void **state)
{
	(void)state;
	struct vt_server s;
	vt_server_start(&s, 0);
	struct vmsim_rpc_conn *a;
	assert_int_equal(vmsim_rpc_connect(s.path, &a), VMSIM_OK);
	q.u.open.ram = 8192; /* exactly the session's own cost (docs/quota.md) */
	q.u.open.caps = 1;
	q.u.open.model = VMSIM_MODEL_VMX;
	strcpy(q.u.open.backend, "null");
	assert_int_equal(vt_call(a, VMSIM_RPC_SESSION_OPEN), VMSIM_OK);
	uint64_t session = p.u.cap;
	struct vmsim_retry_stats stats;
	/* bounded: 2 upgrades, then the OUT_OF_RAM stands */
	q.op = VMSIM_RPC_VCPU_CREATE;
	q.u.vcpu_create.session = session;
	assert_int_equal(vmsim_rpc_call_retry(a, &q, &p, 2, &stats), VMSIM_OUT_OF_RAM);
	assert_int_equal(stats.ram_upgrades, 2);
	assert_int_equal(stats.cap_upgrades, 0);
	/* a vCPU (16384 bytes, 2 caps): 2 more RAM upgrades (8192 were added above), then one of 2 caps */
	memset(&q, 0, sizeof q);
	q.op = VMSIM_RPC_VCPU_CREATE;
	q.u.vcpu_create.session = session;
	assert_int_equal(vmsim_rpc_call_retry(a, &q, &p, 100, &stats), VMSIM_OK);
	assert_int_equal(stats.ram_upgrades, 2);
	assert_int_equal(stats.cap_upgrades, 1);
	assert_int_equal(stats.upgrade_result, VMSIM_OK);
	memset(&q, 0, sizeof q);
	q.u.object.cap = session;
	assert_int_equal(vt_call(a, VMSIM_RPC_SESSION_QUOTA), VMSIM_OK);
	assert_int_equal(p.u.quota.ram_limit, 24576);
	assert_int_equal(p.u.quota.cap_limit, 3);
	/* the first 4 KiB attach at 0: 12416 bytes = 4 upgrades */
	q.u.ds_alloc.size = 4096;
	assert_int_equal(vt_call(a, VMSIM_RPC_DS_ALLOC), VMSIM_OK);
	uint64_t ds = p.u.cap;
	q.op = VMSIM_RPC_ATTACH;
	q.u.attach.session = session;
	q.u.attach.ds = ds;
	assert_int_equal(vmsim_rpc_call_retry(a, &q, &p, 100, &stats), VMSIM_OK);
	assert_int_equal(stats.ram_upgrades, 4);
	/* another op is one plain call, and so is a session the server does not know */
	memset(&q, 0, sizeof q);
	q.op = VMSIM_RPC_DETACH;
	q.u.detach.session = session;
	q.u.detach.gpa = 0;
	q.u.detach.size = 4096;
	assert_int_equal(vmsim_rpc_call_retry(a, &q, &p, 100, &stats), VMSIM_OK);
	assert_int_equal(stats.ram_upgrades + stats.cap_upgrades, 0);
	memset(&q, 0, sizeof q);
	q.op = VMSIM_RPC_VCPU_CREATE;
	q.u.vcpu_create.session = session + 1;
	assert_int_equal(vmsim_rpc_call_retry(a, &q, &p, 100, &stats), VMSIM_INVALID_CAP);
	assert_int_equal(vmsim_rpc_call_retry(NULL, &q, &p, 100, &stats), VMSIM_INVALID_ARGUMENT);
	memset(&q, 0, sizeof q);
	vmsim_rpc_disconnect(a);
	assert_true(vt_env_drains(s.env));
	vt_server_stop(&s);
}

static void test_two_clients_two_spaces(void **state)
{
	(void)state;
	struct vt_server s;
	vt_server_start(&s, 0);
	struct vmsim_rpc_conn *a, *b;
	assert_int_equal(vmsim_rpc_connect(s.path, &a), VMSIM_OK);
	assert_int_equal(vmsim_rpc_connect(s.path, &b), VMSIM_OK);
	uint64_t session = vt_open(a);
	q.u.ds_alloc.size = 20 * MIB;
	assert_int_equal(vt_call(a, VMSIM_RPC_DS_ALLOC), VMSIM_OK);
	uint64_t ds = p.u.cap;
	q.u.attach.session = session;
	q.u.attach.ds = ds;
	assert_int_equal(vt_call(a, VMSIM_RPC_ATTACH), VMSIM_OK);
	assert_int_equal(p.u.range.num_bytes, 20 * MIB);

	q.u.object.cap = session;
	assert_int_equal(vt_call(b, VMSIM_RPC_SESSION_CLOSE), VMSIM_INVALID_CAP);
	/* the env pool (32 MiB) holds a's 21 MiB: b is refused until a is gone */
	q.u.ds_alloc.size = 20 * MIB;
	assert_int_equal(vt_call(b, VMSIM_RPC_DS_ALLOC), VMSIM_OUT_OF_RAM);
	vmsim_rpc_disconnect(a);
	bool granted = false;
	for (int i = 0; i < 1000 && !granted; i++) {
		q.u.ds_alloc.size = 20 * MIB;
		granted = vt_call(b, VMSIM_RPC_DS_ALLOC) == VMSIM_OK;
		if (!granted)
			nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
	}
	assert_true(granted);
	vmsim_rpc_disconnect(b);
	assert_true(vt_env_drains(s.env));
	vt_server_stop(&s);
}

/* Raw bytes, for what the library would never send. */
static int vt_raw_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	strcpy(addr.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
	return fd;
}

static void test_lost_framing_closes_only_that_client(void **state)
{
	(void)state;
	struct vt_server s;
	vt_server_start(&s, 0);
	struct vmsim_rpc_conn *good;
	assert_int_equal(vmsim_rpc_connect(s.path, &good), VMSIM_OK);
	vt_open(good);

	int fd = vt_raw_connect(s.path);
	const uint8_t unknown[12] = {0, 0, 0, 0, 1, 0, 0x63, 0, 7, 0, 0, 0};
	assert_int_equal(write(fd, unknown, sizeof unknown), sizeof unknown);
	uint8_t reply[64];
	assert_int_equal(read(fd, reply, sizeof reply), 16);
	assert_int_equal(vmsim_rpc_decode_reply(reply, 16, &p), VMSIM_OK);
	assert_int_equal(p.result, VMSIM_UNSUPPORTED);
	assert_int_equal(p.seq, 7);
	const uint8_t huge[12] = {0xff, 0xff, 0xff, 0x7f, 1, 0, 5, 0, 8, 0, 0, 0};
	assert_int_equal(write(fd, huge, sizeof huge), sizeof huge);
	assert_int_equal(read(fd, reply, sizeof reply), 16);
	assert_int_equal(vmsim_rpc_decode_reply(reply, 16, &p), VMSIM_OK);
	assert_int_equal(p.result, VMSIM_DENIED);
	assert_int_equal(read(fd, reply, sizeof reply), 0); /* closed */
	close(fd);

	/* a client stuck in the middle of a frame holds up nobody */
	int stuck = vt_raw_connect(s.path);
	assert_int_equal(write(stuck, unknown, 5), 5);
	assert_int_equal(vt_call(good, VMSIM_RPC_CLIENT_QUOTA), VMSIM_OK);
	assert_int_equal(p.u.quota.ram_used, MIB);
	vmsim_rpc_disconnect(good);
	/* stop tears down the stuck client too */
	vt_server_stop(&s);
	close(stuck);
}

static void test_clients_beyond_the_limit_are_refused(void **state)
{
	(void)state;
	struct vt_server s;
	vt_server_start(&s, 1);
	struct vmsim_rpc_conn *first, *second;
	assert_int_equal(vmsim_rpc_connect(s.path, &first), VMSIM_OK);
	assert_int_equal(vt_call(first, VMSIM_RPC_CLIENT_QUOTA), VMSIM_OK); /* admitted for sure */
	assert_int_equal(vmsim_rpc_connect(s.path, &second), VMSIM_OK);
	assert_int_equal(vt_call(second, VMSIM_RPC_CLIENT_QUOTA), VMSIM_BACKEND_ERROR);
	vmsim_rpc_disconnect(second);
	assert_int_equal(vt_call(first, VMSIM_RPC_CLIENT_QUOTA), VMSIM_OK);
	vmsim_rpc_disconnect(first);
	vt_server_stop(&s);
	assert_int_equal(vmsim_rpc_connect(s.path, &first), VMSIM_BACKEND_ERROR);
}

/* What a client's sessions cause reaches the server's client_log under that client's number (one log budget
 * per client, whatever threads it runs on), not the env's sink. */
struct vt_lines {
	pthread_mutex_t lock;
	unsigned count;
	uint64_t client[4];
	char text[4][160];
};

static void vt_client_log(void *ctx, uint64_t client, enum vmsim_log_level level, const char *message)
{
	(void)level;
	struct vt_lines *l = ctx;
	pthread_mutex_lock(&l->lock);
	if (l->count < 4) {
		l->client[l->count] = client;
		snprintf(l->text[l->count], sizeof l->text[0], "%s", message);
	}
	l->count++;
	pthread_mutex_unlock(&l->lock);
}

static enum vmsim_result vt_refuse_vm(const struct vmsim_backend_host *host, void **vm)
{
	(void)host;
	*vm = NULL;
	return VMSIM_UNSUPPORTED;
}

static void test_session_lines_carry_the_client_number(void **state)
{
	(void)state;
	struct vt_server s;
	struct vt_lines lines = {.lock = PTHREAD_MUTEX_INITIALIZER};
	strcpy(s.dir, "/tmp/vmsim-rpc-XXXXXX");
	assert_non_null(mkdtemp(s.dir));
	snprintf(s.path, sizeof s.path, "%s/sock", s.dir);
	struct vmsim_env_config cfg = {.ram_pool = 32 * MIB};
	assert_int_equal(vmsim_env_create(&cfg, &s.env), VMSIM_OK);
	struct vmsim_backend_ops refusing = *vmsim_backend_null();
	refusing.name = "refusing";
	refusing.vm_create = vt_refuse_vm;
	assert_int_equal(vmsim_env_register_backend(s.env, &refusing), VMSIM_OK);
	struct vmsim_rpc_server_config scfg = {.socket_path = s.path, .client = {.ram = 8 * MIB},
	                                       .client_log = vt_client_log, .client_log_ctx = &lines};
	assert_int_equal(vmsim_rpc_server_start(s.env, &scfg, &s.server), VMSIM_OK);
	struct vmsim_rpc_conn *a, *b;
	assert_int_equal(vmsim_rpc_connect(s.path, &a), VMSIM_OK);
	assert_int_equal(vmsim_rpc_connect(s.path, &b), VMSIM_OK);
	struct vmsim_rpc_conn *order[2] = {a, b};
	for (int i = 0; i < 2; i++) {
		q.u.open.ram = MIB;
		q.u.open.caps = 10;
		q.u.open.model = VMSIM_MODEL_SVM;
		strcpy(q.u.open.label, i ? "b" : "a");
		strcpy(q.u.open.backend, "refusing");
		assert_int_equal(vt_call(order[i], VMSIM_RPC_SESSION_OPEN), VMSIM_UNSUPPORTED);
	}
	vmsim_rpc_disconnect(a);
	vmsim_rpc_disconnect(b);
	vt_server_stop(&s);
	assert_int_equal(lines.count, 2);
	assert_int_equal(lines.client[0], 1); /* numbered in order of admission */
	assert_string_equal(lines.text[0], "session \"a\": backend refusing could not create a VM: UNSUPPORTED");
	assert_int_equal(lines.client[1], 2);
	assert_string_equal(lines.text[1], "session \"b\": backend refusing could not create a VM: UNSUPPORTED");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_clients_two_spaces),
		cmocka_unit_test(test_call_retry_upgrades),
		cmocka_unit_test(test_lost_framing_closes_only_that_client),
		cmocka_unit_test(test_clients_beyond_the_limit_are_refused),
		cmocka_unit_test(test_session_lines_carry_the_client_number),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
