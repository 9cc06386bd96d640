/* core/tests/env_test.c - env defaults, isolation, backend registry, logging, fault injection, teardown. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vt_backend.h"

static void test_defaults(void **state)
{
	(void)state;
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(NULL, &env), VMSIM_OK);
	struct vmsim_quota quota;
	vmsim_env_quota(env, &quota);
	assert_int_equal(quota.ram_limit, UINT64_C(1) << 30);
	assert_int_equal(quota.cap_limit, 1000000);
	assert_int_equal(quota.ram_used, 0);
	assert_int_equal(quota.cap_used, 0);
	vmsim_env_destroy(env);
	vmsim_env_destroy(NULL); /* a no-op */
	assert_int_equal(vmsim_env_create(NULL, NULL), VMSIM_INVALID_ARGUMENT);
}

static void test_configured_pools(void **state)
{
	(void)state;
	struct vmsim_env_config cfg = {.ram_pool = 3 * 4096, .cap_pool = 2};
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(&cfg, &env), VMSIM_OK);
	struct vmsim_quota quota;
	vmsim_env_quota(env, &quota);
	assert_int_equal(quota.ram_limit, 3 * 4096);
	assert_int_equal(quota.cap_limit, 2);
	vmsim_ds_cap a, b, c;
	assert_int_equal(vmsim_ds_alloc(env, 2 * 4096, &a), VMSIM_OK);
	assert_int_equal(vmsim_ds_alloc(env, 2 * 4096, &b), VMSIM_OUT_OF_RAM);
	assert_int_equal(vmsim_ds_alloc(env, 4096, &b), VMSIM_OK);
	assert_int_equal(vmsim_ds_alloc(env, 1, &c), VMSIM_OUT_OF_RAM);
	vmsim_env_destroy(env);
}

static void test_two_envs_share_nothing(void **state)
{
	(void)state;
	struct vmsim_env *one = vt_env_new(), *two = vt_env_new();
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(one, 8192, &ds), VMSIM_OK);
	uint64_t size = 0;
	assert_int_equal(vmsim_ds_size(one, ds, &size), VMSIM_OK);
	assert_int_equal(size, 8192);

	/* The other env has its own capability table: the cap names nothing there. */
	assert_int_equal(vmsim_ds_size(two, ds, &size), VMSIM_INVALID_CAP);
	assert_int_equal(vmsim_ds_free(two, ds), VMSIM_INVALID_CAP);
	assert_int_equal(vmsim_ds_seal(two, ds), VMSIM_INVALID_CAP);
	assert_false(vmsim_ds_writeable(two, ds));
	struct vmsim_local_attachment local;
	struct vmsim_local_attr attr = {.writeable = true};
	assert_int_equal(vmsim_local_attach(two, ds, &attr, &local), VMSIM_INVALID_CAP);
	struct vmsim_session *session = vt_session_new(two, VMSIM_MODEL_SVM, VMSIM_SESSION_DEFAULT_RAM, 10);
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach(session, ds, 0, &(struct vmsim_attach_attr){0}, &range),
	                 VMSIM_INVALID_DATASPACE);

	/* Pools are separate too. */
	struct vmsim_quota quota_one, quota_two;
	vmsim_env_quota(one, &quota_one);
	vmsim_env_quota(two, &quota_two);
	assert_int_equal(quota_one.ram_used, 8192);
	assert_int_equal(quota_two.ram_used, VMSIM_SESSION_DEFAULT_RAM);
	assert_true(vmsim_ds_writeable(one, ds));
	vmsim_env_destroy(two);
	vmsim_env_destroy(one);
}

static enum vmsim_result dummy_vm_create(const struct vmsim_backend_host *host, void **vm)
{
	(void)host;
	(void)vm;
	return VMSIM_BACKEND_ERROR;
}

static void test_register_backend_validation(void **state)
{
	(void)state;
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(NULL, &env), VMSIM_OK);
	const struct vmsim_backend_ops good = *vt_backend_ops();
	assert_int_equal(vmsim_env_register_backend(env, NULL), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_env_register_backend(NULL, &good), VMSIM_INVALID_ARGUMENT);

	struct vmsim_backend_ops bad = good;
	bad.abi_version = 2;
	assert_int_equal(vmsim_env_register_backend(env, &bad), VMSIM_INVALID_ARGUMENT);
	bad = good;
	bad.struct_size = offsetof(struct vmsim_backend_ops, native);
	assert_int_equal(vmsim_env_register_backend(env, &bad), VMSIM_INVALID_ARGUMENT);
	bad = good;
	bad.name = NULL;
	assert_int_equal(vmsim_env_register_backend(env, &bad), VMSIM_INVALID_ARGUMENT);
	bad = good;
	bad.name = "";
	assert_int_equal(vmsim_env_register_backend(env, &bad), VMSIM_INVALID_ARGUMENT);
	/* Each mandatory op in turn. */
	for (int op = 0; op < 6; op++) {
		bad = good;
		switch (op) {
		case 0: bad.vm_create = NULL; break;
		case 1: bad.vm_destroy = NULL; break;
		case 2: bad.mem_map = NULL; break;
		case 3: bad.mem_unmap = NULL; break;
		case 4: bad.vcpu_create = NULL; break;
		default: bad.vcpu_destroy = NULL; break;
		}
		assert_int_equal(vmsim_env_register_backend(env, &bad), VMSIM_INVALID_ARGUMENT);
	}
	assert_null(vmsim_env_backend(env, "vt"));

	/* Optional ops may be NULL; a larger struct from a newer backend is fine. */
	struct vmsim_backend_ops minimal = good;
	minimal.cap_gap = NULL;
	minimal.struct_size = sizeof(minimal) + 64;
	assert_int_equal(vmsim_env_register_backend(env, &minimal), VMSIM_OK);
	assert_ptr_equal(vmsim_env_backend(env, "vt"), &minimal);
	/* Names are unique per env. */
	assert_int_equal(vmsim_env_register_backend(env, &good), VMSIM_INVALID_ARGUMENT);
	assert_null(vmsim_env_backend(env, "nope"));
	assert_null(vmsim_env_backend(env, NULL));

	/* The registry grows. */
	static char names[20][8];
	static struct vmsim_backend_ops many[20];
	for (int i = 0; i < 20; i++) {
		snprintf(names[i], sizeof(names[i]), "b%d", i);
		many[i] = good;
		many[i].name = names[i];
		many[i].vm_create = dummy_vm_create;
		assert_int_equal(vmsim_env_register_backend(env, &many[i]), VMSIM_OK);
	}
	for (int i = 0; i < 20; i++)
		assert_ptr_equal(vmsim_env_backend(env, names[i]), &many[i]);
	vmsim_env_destroy(env);
}

/* Lazy registration: test-process statics, since a resolver takes no context (as vmsim_backend_kvm). */
static unsigned resolves;
static struct vmsim_backend_ops lazy_table;

static const struct vmsim_backend_ops *resolve_lazy(void)
{
	resolves++;
	return &lazy_table;
}

static const struct vmsim_backend_ops *resolve_other(void)
{
	resolves++;
	return &lazy_table;
}

static const struct vmsim_backend_ops *resolve_nothing(void)
{
	resolves++;
	return NULL;
}

/* A lazily registered table is built at the first lookup of its name, once; a refused one is never built again. */
static void test_lazy_backend_resolves_on_first_lookup(void **state)
{
	(void)state;
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(NULL, &env), VMSIM_OK);
	lazy_table = *vt_backend_ops();
	lazy_table.name = "lazy";
	resolves = 0;
	assert_int_equal(vmsim_env_register_backend_lazy(env, "lazy", NULL), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_env_register_backend_lazy(env, "", resolve_lazy), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_env_register_backend_lazy(NULL, "lazy", resolve_lazy), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_env_register_backend_lazy(env, "lazy", resolve_lazy), VMSIM_OK);
	assert_int_equal(vmsim_env_register_backend_lazy(env, "lazy", resolve_lazy), VMSIM_OK); /* the same pair */
	assert_int_equal(vmsim_env_register_backend_lazy(env, "lazy", resolve_other), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_env_register_backend(env, &lazy_table), VMSIM_INVALID_ARGUMENT); /* the name is taken */
	assert_null(vmsim_env_backend(env, "vt"));
	assert_int_equal(resolves, 0); /* nobody asked for "lazy" yet */
	assert_ptr_equal(vmsim_env_backend(env, "lazy"), &lazy_table);
	assert_ptr_equal(vmsim_env_backend(env, "lazy"), &lazy_table);
	assert_int_equal(resolves, 1);

	/* a resolver whose table is missing, invalid or named otherwise: NULL, asked once */
	assert_int_equal(vmsim_env_register_backend_lazy(env, "none", resolve_nothing), VMSIM_OK);
	assert_int_equal(vmsim_env_register_backend_lazy(env, "misnamed", resolve_other), VMSIM_OK);
	assert_null(vmsim_env_backend(env, "none"));
	assert_null(vmsim_env_backend(env, "none"));
	assert_null(vmsim_env_backend(env, "misnamed"));
	assert_int_equal(resolves, 3);
	vmsim_env_destroy(env);
}

/* Registering the built-ins twice is harmless; each resolves to its own table, KVM's when first asked for. */
static void test_builtins_register_twice_and_refuse_a_kvm_impostor(void **state)
{
	(void)state;
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(NULL, &env), VMSIM_OK);
	assert_int_equal(vmsim_register_builtin_backends(env), VMSIM_OK);
	assert_int_equal(vmsim_register_builtin_backends(env), VMSIM_OK);
	assert_ptr_equal(vmsim_env_backend(env, "unicorn"), vmsim_backend_unicorn());
	assert_ptr_equal(vmsim_env_backend(env, "kvm"), vmsim_backend_kvm());
	vmsim_env_destroy(env);

	/* another backend named "kvm" first: the built-ins refuse to shadow it */
	assert_int_equal(vmsim_env_create(NULL, &env), VMSIM_OK);
	struct vmsim_backend_ops impostor = *vt_backend_ops();
	impostor.name = "kvm";
	assert_int_equal(vmsim_env_register_backend(env, &impostor), VMSIM_OK);
	assert_int_equal(vmsim_register_builtin_backends(env), VMSIM_INVALID_ARGUMENT);
	assert_ptr_equal(vmsim_env_backend(env, "kvm"), &impostor);
	vmsim_env_destroy(env);
}

struct captured_log {
	char lines[8][256];
	int levels[8];
	int count;
};

static void capture(void *ctx, enum vmsim_log_level level, const char *message)
{
	struct captured_log *log = ctx;
	if (log->count < 8) {
		snprintf(log->lines[log->count], sizeof(log->lines[0]), "%s", message);
		log->levels[log->count++] = (int)level;
	}
}

static void test_log_sink_and_level(void **state)
{
	(void)state;
	struct captured_log log = {0};
	struct vmsim_env_config cfg = {.log = capture, .log_ctx = &log, .log_level = VMSIM_LOG_INFO};
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(&cfg, &env), VMSIM_OK);
	vmsim_env_log(env, VMSIM_LOG_ERROR, "e%d", 1);
	vmsim_env_log(env, VMSIM_LOG_INFO, "i%s", "2");
	vmsim_env_log(env, VMSIM_LOG_DEBUG, "dropped");
	assert_int_equal(log.count, 2);
	assert_string_equal(log.lines[0], "e1");
	assert_int_equal(log.levels[0], VMSIM_LOG_ERROR);
	assert_string_equal(log.lines[1], "i2");
	/* Long messages are truncated, never overflow. */
	char long_text[2000];
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = 0;
	vmsim_env_log(env, VMSIM_LOG_ERROR, "%s", long_text);
	assert_int_equal(log.count, 3);
	assert_true(strlen(log.lines[2]) > 0);
	vmsim_env_destroy(env);

	/* An explicit sink with level 0 gets errors only. */
	struct captured_log quiet = {0};
	cfg = (struct vmsim_env_config){.log = capture, .log_ctx = &quiet};
	assert_int_equal(vmsim_env_create(&cfg, &env), VMSIM_OK);
	vmsim_env_log(env, VMSIM_LOG_WARN, "w");
	vmsim_env_log(env, VMSIM_LOG_ERROR, "e");
	assert_int_equal(quiet.count, 1);
	assert_string_equal(quiet.lines[0], "e");
	vmsim_env_destroy(env);
}

static void test_default_sink_writes_stderr(void **state)
{
	(void)state;
	FILE *capture_file = tmpfile();
	assert_non_null(capture_file);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(capture_file), STDERR_FILENO) >= 0);

	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(NULL, &env), VMSIM_OK);
	vmsim_env_log(env, VMSIM_LOG_WARN, "hello %d", 42);
	vmsim_env_log(env, VMSIM_LOG_INFO, "not shown");
	vmsim_env_destroy(env);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);

	char text[256] = {0};
	rewind(capture_file);
	size_t len = fread(text, 1, sizeof(text) - 1, capture_file);
	fclose(capture_file);
	assert_true(len > 0);
	assert_string_equal(text, "vmsim: hello 42\n");
}

static void test_fault_injection_fires_once(void **state)
{
	(void)state;
	struct vmsim_env *env = vt_env_new();
	uint64_t before = vmsim_env_alloc_count(env);
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(env, 4096, &ds), VMSIM_OK);
	uint64_t per_alloc = vmsim_env_alloc_count(env) - before;
	assert_true(per_alloc >= 1);

	vmsim_env_fail_alloc_at(env, 1);
	vmsim_ds_cap failed;
	assert_int_equal(vmsim_ds_alloc(env, 4096, &failed), VMSIM_OUT_OF_RAM);
	assert_int_equal(failed.raw, 0);
	struct vmsim_quota quota;
	vmsim_env_quota(env, &quota);
	assert_int_equal(quota.ram_used, 4096);
	assert_int_equal(quota.cap_used, 1);
	/* Disarmed after firing. */
	assert_int_equal(vmsim_ds_alloc(env, 4096, &failed), VMSIM_OK);

	/* Armed then disarmed: nothing fails. */
	vmsim_env_fail_alloc_at(env, 1);
	vmsim_env_fail_alloc_at(env, 0);
	vmsim_ds_cap third;
	assert_int_equal(vmsim_ds_alloc(env, 4096, &third), VMSIM_OK);
	vmsim_env_destroy(env);
	assert_int_equal(vmsim_env_alloc_count(NULL), 0);
}

static void test_custom_allocator_sees_everything(void **state)
{
	(void)state;
	struct vt_counting_allocator counter;
	vt_counting_allocator_init(&counter);
	struct vmsim_env_config cfg = {.allocator = &counter.hooks};
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(&cfg, &env), VMSIM_OK);
	assert_int_equal(counter.allocs, 1); /* the env itself */
	assert_int_equal(vmsim_env_register_backend(env, vt_backend_ops()), VMSIM_OK);
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(env, 4096, &ds), VMSIM_OK);
	assert_true(counter.allocs > 2);
	assert_int_equal(counter.allocs - 1, vmsim_env_alloc_count(env));
	vmsim_env_destroy(env);
	assert_int_equal(counter.allocs, counter.frees);
	assert_int_equal(counter.live_bytes, 0);

	struct vmsim_allocator broken = {NULL, NULL, NULL};
	cfg.allocator = &broken;
	assert_int_equal(vmsim_env_create(&cfg, &env), VMSIM_INVALID_ARGUMENT);
}

static void test_destroy_closes_sessions_and_frees_dataspaces(void **state)
{
	(void)state;
	vt_backend_reset();
	struct vt_counting_allocator counter;
	vt_counting_allocator_init(&counter);
	struct vmsim_env_config cfg = {.allocator = &counter.hooks};
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(&cfg, &env), VMSIM_OK);
	assert_int_equal(vmsim_env_register_backend(env, vt_backend_ops()), VMSIM_OK);
	struct vmsim_session *a = vt_session_new(env, VMSIM_MODEL_SVM, 1 << 20, 10);
	struct vmsim_session *b = vt_session_new(env, VMSIM_MODEL_VMX, 1 << 20, 10);
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(env, 16384, &ds), VMSIM_OK);
	struct vmsim_range range;
	assert_int_equal(vmsim_session_attach(a, ds, 0, &(struct vmsim_attach_attr){0}, &range), VMSIM_OK);
	assert_int_equal(vmsim_session_attach(b, ds, 0x100000, &(struct vmsim_attach_attr){0}, &range), VMSIM_OK);
	struct vmsim_local_attachment local;
	assert_int_equal(vmsim_local_attach(env, ds, &(struct vmsim_local_attr){.writeable = true}, &local), VMSIM_OK);
	vmsim_env_destroy(env);
	assert_int_equal(vt_backend_count(VT_VM_DESTROY), 2);
	assert_int_equal(vt_backend_count(VT_UNMAP), 2);
	assert_int_equal(counter.allocs, counter.frees);
	assert_int_equal(counter.live_bytes, 0);
}

/* Untrusted text: printable ASCII kept, backslash doubled, other bytes \xNN; truncation never splits one. */
static void test_log_escape_exact(void **state)
{
	(void)state;
	char out[64];
	vmsim_log_escape("plain name", out, sizeof out);
	assert_string_equal(out, "plain name");
	vmsim_log_escape("a\nb\x1b[31m\\\xff", out, sizeof out);
	assert_string_equal(out, "a\\x0ab\\x1b[31m\\\\\\xff");
	vmsim_log_escape("abc\n", out, 7); /* "abc" + "\x0a" needs 8 with the terminator */
	assert_string_equal(out, "abc");
	vmsim_log_escape("abc\n", out, 8);
	assert_string_equal(out, "abc\\x0a");
	vmsim_log_escape(NULL, out, sizeof out);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_configured_pools),
		cmocka_unit_test(test_two_envs_share_nothing),
		cmocka_unit_test(test_register_backend_validation),
		cmocka_unit_test(test_lazy_backend_resolves_on_first_lookup),
		cmocka_unit_test(test_builtins_register_twice_and_refuse_a_kvm_impostor),
		cmocka_unit_test(test_log_sink_and_level),
		cmocka_unit_test(test_default_sink_writes_stderr),
		cmocka_unit_test(test_log_escape_exact),
		cmocka_unit_test(test_fault_injection_fires_once),
		cmocka_unit_test(test_custom_allocator_sees_everything),
		cmocka_unit_test(test_destroy_closes_sessions_and_frees_dataspaces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
