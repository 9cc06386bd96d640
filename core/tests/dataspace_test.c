/* core/tests/dataspace_test.c - RAM dataspaces, sealing, and Local_rm attachments (#5516). */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "vt_backend.h"

/* The permission string ("rw-s") /proc/self/maps shows for the mapping holding ptr; "" if none. */
static void maps_perms(const void *ptr, char perms[5])
{
	perms[0] = 0;
	FILE *maps = fopen("/proc/self/maps", "r");
	assert_non_null(maps);
	char line[512];
	while (fgets(line, sizeof(line), maps)) {
		unsigned long start, end;
		char p[5];
		if (sscanf(line, "%lx-%lx %4s", &start, &end, p) == 3 && (uintptr_t)ptr >= start &&
		    (uintptr_t)ptr < end) {
			memcpy(perms, p, 5);
			break;
		}
	}
	fclose(maps);
}

/* Whether a forked child writing *ptr dies of SIGSEGV (the parent's memory stays untouched). */
static bool write_faults(volatile char *ptr)
{
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		signal(SIGSEGV, SIG_DFL); /* sanitizers install their own handler */
		*ptr = 1;
		_exit(0);
	}
	int status = 0;
	assert_int_equal(waitpid(child, &status, 0), child);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return false;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

static void test_alloc_free_returns_pool_exactly(void **state)
{
	(void)state;
	struct vmsim_env *env = vt_env_new();
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(env, 5000, &ds), VMSIM_OK);
	uint64_t size = 0;
	assert_int_equal(vmsim_ds_size(env, ds, &size), VMSIM_OK);
	assert_int_equal(size, 8192);
	struct vmsim_quota quota;
	vmsim_env_quota(env, &quota);
	assert_int_equal(quota.ram_used, 8192);
	assert_int_equal(quota.cap_used, VMSIM_COST_DATASPACE_CAPS);
	assert_true(vmsim_ds_writeable(env, ds));
	assert_int_equal(vmsim_ds_free(env, ds), VMSIM_OK);
	vmsim_env_quota(env, &quota);
	assert_int_equal(quota.ram_used, 0);
	assert_int_equal(quota.cap_used, 0);
	vmsim_env_destroy(env);
}

static void test_alloc_failures_change_nothing(void **state)
{
	(void)state;
	struct vmsim_env_config cfg = {.ram_pool = 1 << 20, .cap_pool = 2};
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(&cfg, &env), VMSIM_OK);
	vmsim_ds_cap ds = {123};
	assert_int_equal(vmsim_ds_alloc(env, 0, &ds), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(ds.raw, 0);
	assert_int_equal(vmsim_ds_alloc(env, (1 << 20) + 1, &ds), VMSIM_OUT_OF_RAM);
	assert_int_equal(vmsim_ds_alloc(env, UINT64_MAX, &ds), VMSIM_OUT_OF_RAM);
	assert_int_equal(vmsim_ds_alloc(env, UINT64_MAX - 4095, &ds), VMSIM_OUT_OF_RAM);
	assert_int_equal(vmsim_ds_alloc(NULL, 4096, &ds), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_ds_alloc(env, 4096, NULL), VMSIM_INVALID_ARGUMENT);
	vmsim_ds_cap a, b;
	assert_int_equal(vmsim_ds_alloc(env, 4096, &a), VMSIM_OK);
	assert_int_equal(vmsim_ds_alloc(env, 4096, &b), VMSIM_OK);
	assert_int_equal(vmsim_ds_alloc(env, 4096, &ds), VMSIM_OUT_OF_CAPS);
	struct vmsim_quota quota;
	vmsim_env_quota(env, &quota);
	assert_int_equal(quota.ram_used, 8192);
	assert_int_equal(quota.cap_used, 2);
	/* The whole pool in one dataspace works. */
	assert_int_equal(vmsim_ds_free(env, a), VMSIM_OK);
	assert_int_equal(vmsim_ds_free(env, b), VMSIM_OK);
	assert_int_equal(vmsim_ds_alloc(env, 1 << 20, &ds), VMSIM_OK);
	vmsim_env_destroy(env);
}

static void test_local_attach_reads_and_writes(void **state)
{
	(void)state;
	struct vmsim_env *env = vt_env_new();
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(env, 4 * 4096, &ds), VMSIM_OK);
	struct vmsim_local_attachment whole, tail;
	assert_int_equal(vmsim_local_attach(env, ds, &(struct vmsim_local_attr){.writeable = true}, &whole), VMSIM_OK);
	assert_int_equal(whole.num_bytes, 4 * 4096);
	unsigned char *bytes = whole.ptr;
	for (int i = 0; i < 4 * 4096; i++)
		assert_int_equal(bytes[i], 0); /* zero-filled */
	memcpy(bytes + 2 * 4096, "second mapping", 15);

	/* A separate mapping of the same pages from offset 8 KiB, size 0 = the rest. */
	assert_int_equal(vmsim_local_attach(env, ds, &(struct vmsim_local_attr){.offset = 2 * 4096, .writeable = true},
	                                    &tail),
	                 VMSIM_OK);
	assert_int_equal(tail.num_bytes, 2 * 4096);
	assert_ptr_not_equal(tail.ptr, bytes + 2 * 4096);
	assert_string_equal(tail.ptr, "second mapping");
	memcpy((char *)tail.ptr + 4096, "back", 5);
	assert_string_equal((char *)bytes + 3 * 4096, "back");

	char perms[5];
	maps_perms(tail.ptr, perms);
	assert_string_equal(perms, "rw-s");
	assert_false(write_faults(tail.ptr));
	void *released = tail.ptr;
	vmsim_local_release(env, &tail);
	assert_null(tail.ptr);
	assert_int_equal(tail.num_bytes, 0);
	assert_null(tail._priv);
	maps_perms(released, perms);
	assert_string_not_equal(perms, "rw-s");
	vmsim_local_release(env, &tail); /* released twice: no-op */
	vmsim_local_release(env, &whole);
	vmsim_env_destroy(env);
}

static void test_local_attach_read_only_mapping(void **state)
{
	(void)state;
	struct vmsim_env *env = vt_env_new();
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(env, 2 * 4096, &ds), VMSIM_OK);
	struct vmsim_local_attachment rw, ro;
	assert_int_equal(vmsim_local_attach(env, ds, &(struct vmsim_local_attr){.writeable = true}, &rw), VMSIM_OK);
	assert_int_equal(vmsim_local_attach(env, ds, &(struct vmsim_local_attr){.size = 4096}, &ro), VMSIM_OK);
	assert_int_equal(ro.num_bytes, 4096);
	strcpy(rw.ptr, "visible");
	assert_string_equal(ro.ptr, "visible");
	char perms[5];
	maps_perms(ro.ptr, perms);
	assert_string_equal(perms, "r--s");
	assert_true(write_faults(ro.ptr));
	vmsim_local_release(env, &ro);
	vmsim_local_release(env, &rw);
	vmsim_env_destroy(env);
}

static void test_local_attach_rejects(void **state)
{
	(void)state;
	struct vmsim_env *env = vt_env_new();
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(env, 2 * 4096, &ds), VMSIM_OK);
	struct vmsim_local_attachment local;
	const struct vmsim_local_attr bad[] = {
		{.offset = 100},
		{.offset = 2 * 4096},
		{.offset = 3 * 4096},
		{.size = 3 * 4096},
		{.offset = 4096, .size = 2 * 4096},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vmsim_local_attach(env, ds, &bad[i], &local), VMSIM_INVALID_DATASPACE);
		assert_null(local.ptr);
	}
	/* A partial page rounds up to the page. */
	assert_int_equal(vmsim_local_attach(env, ds, &(struct vmsim_local_attr){.size = 10}, &local), VMSIM_OK);
	assert_int_equal(local.num_bytes, 4096);
	vmsim_local_release(env, &local);
	assert_int_equal(vmsim_local_attach(env, VMSIM_DS_CAP_INVALID, &(struct vmsim_local_attr){0}, &local),
	                 VMSIM_INVALID_CAP);
	assert_int_equal(vmsim_local_attach(env, ds, NULL, &local), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_local_attach(NULL, ds, &(struct vmsim_local_attr){0}, &local), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_ds_free(env, ds), VMSIM_OK);
	assert_int_equal(vmsim_local_attach(env, ds, &(struct vmsim_local_attr){0}, &local), VMSIM_INVALID_CAP);
	vmsim_env_destroy(env);
}

static void test_seal(void **state)
{
	(void)state;
	struct vmsim_env *env = vt_env_new();
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(env, 4096, &ds), VMSIM_OK);
	struct vmsim_local_attachment rw, ro;
	assert_int_equal(vmsim_local_attach(env, ds, &(struct vmsim_local_attr){.writeable = true}, &rw), VMSIM_OK);
	assert_int_equal(vmsim_ds_seal(env, ds), VMSIM_DENIED);
	assert_true(vmsim_ds_writeable(env, ds));
	vmsim_local_release(env, &rw);
	assert_int_equal(vmsim_ds_seal(env, ds), VMSIM_OK);
	assert_false(vmsim_ds_writeable(env, ds));
	assert_int_equal(vmsim_local_attach(env, ds, &(struct vmsim_local_attr){.writeable = true}, &rw),
	                 VMSIM_INVALID_DATASPACE);
	assert_int_equal(vmsim_local_attach(env, ds, &(struct vmsim_local_attr){0}, &ro), VMSIM_OK);
	vmsim_local_release(env, &ro);
	assert_int_equal(vmsim_ds_seal(env, VMSIM_DS_CAP_INVALID), VMSIM_INVALID_CAP);
	assert_int_equal(vmsim_ds_seal(NULL, ds), VMSIM_INVALID_ARGUMENT);
	vmsim_env_destroy(env);
}

static void test_free_keeps_local_address_reserved(void **state)
{
	(void)state;
	struct vmsim_env *env = vt_env_new();
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(env, 2 * 4096, &ds), VMSIM_OK);
	struct vmsim_local_attachment local;
	assert_int_equal(vmsim_local_attach(env, ds, &(struct vmsim_local_attr){.writeable = true}, &local), VMSIM_OK);
	void *ptr = local.ptr;
	assert_int_equal(vmsim_ds_free(env, ds), VMSIM_OK);
	struct vmsim_quota quota;
	vmsim_env_quota(env, &quota);
	assert_int_equal(quota.ram_used, 0); /* the pool charge is back at free */
	char perms[5];
	maps_perms(ptr, perms);
	assert_string_equal(perms, "---p"); /* still reserved, no longer the dataspace */
	assert_true(write_faults(ptr));
	vmsim_local_release(env, &local);
	maps_perms(ptr, perms);
	assert_string_not_equal(perms, "---p");
	assert_null(local.ptr);
	vmsim_env_destroy(env);
}

static void test_release_ignores_foreign_env(void **state)
{
	(void)state;
	struct vmsim_env *one = vt_env_new(), *two = vt_env_new();
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(one, 4096, &ds), VMSIM_OK);
	struct vmsim_local_attachment local;
	assert_int_equal(vmsim_local_attach(one, ds, &(struct vmsim_local_attr){.writeable = true}, &local), VMSIM_OK);
	assert_int_equal(vmsim_local_release(two, &local), VMSIM_DENIED); /* reported, nothing done */
	assert_non_null(local.ptr);
	strcpy(local.ptr, "still mapped");
	assert_int_equal(vmsim_ds_seal(one, ds), VMSIM_DENIED);
	vmsim_local_release(one, &local);
	assert_int_equal(vmsim_ds_seal(one, ds), VMSIM_OK);
	vmsim_env_destroy(two);
	vmsim_env_destroy(one);
}

static void keep_line(void *ctx, enum vmsim_log_level level, const char *message)
{
	(void)level;
	snprintf(ctx, 256, "%s", message);
}

static struct vmsim_env *logging_env(char line[256])
{
	struct vmsim_env_config cfg = { .log = keep_line, .log_ctx = line, .log_level = VMSIM_LOG_DEBUG };
	struct vmsim_env *env;
	assert_int_equal(vmsim_env_create(&cfg, &env), VMSIM_OK);
	return env;
}

static void attach_rw(struct vmsim_env *env, vmsim_ds_cap ds, struct vmsim_local_attachment *out)
{
	assert_int_equal(vmsim_local_attach(env, ds, &(struct vmsim_local_attr){ .writeable = true }, out), VMSIM_OK);
}

/* Allocation's destructor (vmsim_local_done) honours keep; a move transfers ownership. */
static void test_local_done_keep_and_move(void **state)
{
	(void)state;
	char line[256] = "";
	struct vmsim_env *env = logging_env(line);
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(env, 4096, &ds), VMSIM_OK);
	char perms[5];

	struct vmsim_local_attachment a, b, kept;
	attach_rw(env, ds, &a);
	void *ptr = a.ptr;
	assert_int_equal(vmsim_local_done(env, &a), VMSIM_OK); /* not kept: released */
	assert_null(a.ptr);
	maps_perms(ptr, perms);
	assert_string_equal(perms, "");

	attach_rw(env, ds, &kept);
	kept.keep = true;
	assert_int_equal(vmsim_local_done(env, &kept), VMSIM_OK); /* kept: still mapped, still ours */
	assert_non_null(kept.ptr);
	strcpy(kept.ptr, "kept");
	assert_int_equal(vmsim_ds_seal(env, ds), VMSIM_DENIED); /* a writeable local attachment is alive */
	assert_int_equal(vmsim_local_release(env, &kept), VMSIM_OK); /* by hand */
	assert_null(kept.ptr);

	/* move: b takes a's mapping, a is left empty; b's own mapping is released first */
	attach_rw(env, ds, &a);
	attach_rw(env, ds, &b);
	void *a_ptr = a.ptr, *b_ptr = b.ptr;
	vmsim_local_move(env, &b, &a);
	assert_ptr_equal(b.ptr, a_ptr);
	assert_null(a.ptr);
	maps_perms(b_ptr, perms);
	assert_string_equal(perms, "");
	strcpy(b.ptr, "moved");
	assert_int_equal(vmsim_local_done(env, &a), VMSIM_OK); /* the moved-from one owns nothing */
	maps_perms(a_ptr, perms);
	assert_string_equal(perms, "rw-s");
	assert_int_equal(vmsim_local_done(env, &b), VMSIM_OK);
	maps_perms(a_ptr, perms);
	assert_string_equal(perms, "");
	assert_int_equal(vmsim_ds_seal(env, ds), VMSIM_OK); /* nothing writeable is left */

	/* the env's destruction releases what is left, kept or not, with or without its dataspace */
	assert_int_equal(vmsim_local_attach(env, ds, &(struct vmsim_local_attr){ 0 }, &kept), VMSIM_OK);
	kept.keep = true;
	vmsim_env_destroy(env);
	maps_perms(kept.ptr, perms);
	assert_string_equal(perms, "");
}

/* A second release (also through a copy) is reported and follows no pointer. */
static void test_double_release_reported(void **state)
{
	(void)state;
	char line[256] = "";
	struct vmsim_env *env = logging_env(line);
	vmsim_ds_cap ds;
	assert_int_equal(vmsim_ds_alloc(env, 4096, &ds), VMSIM_OK);
	struct vmsim_local_attachment a, copy;
	attach_rw(env, ds, &a);
	copy = a;
	assert_int_equal(vmsim_local_release(env, &a), VMSIM_OK);
	assert_int_equal(vmsim_local_release(env, &a), VMSIM_DENIED);
	assert_non_null(strstr(line, "local release: not a live attachment of this env (released twice?)"));
	line[0] = 0;
	/* a new attachment may reuse the freed bookkeeping: the copy's id still tells them apart */
	struct vmsim_local_attachment fresh;
	attach_rw(env, ds, &fresh);
	assert_int_equal(vmsim_local_release(env, &copy), VMSIM_DENIED);
	assert_non_null(strstr(line, "released twice?"));
	char perms[5];
	maps_perms(fresh.ptr, perms);
	assert_string_equal(perms, "rw-s"); /* the stale copy did not take the new one with it */
	struct vmsim_local_attachment never = { 0 };
	assert_int_equal(vmsim_local_release(env, &never), VMSIM_DENIED);
	assert_int_equal(vmsim_local_release(NULL, &fresh), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_local_release(env, NULL), VMSIM_INVALID_ARGUMENT);
	assert_int_equal(vmsim_local_done(env, &fresh), VMSIM_OK);
	assert_int_equal(vmsim_ds_free(env, ds), VMSIM_OK);
	vmsim_env_destroy(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_free_returns_pool_exactly),
		cmocka_unit_test(test_alloc_failures_change_nothing),
		cmocka_unit_test(test_local_attach_reads_and_writes),
		cmocka_unit_test(test_local_attach_read_only_mapping),
		cmocka_unit_test(test_local_attach_rejects),
		cmocka_unit_test(test_seal),
		cmocka_unit_test(test_free_keeps_local_address_reserved),
		cmocka_unit_test(test_release_ignores_foreign_env),
		cmocka_unit_test(test_local_done_keep_and_move),
		cmocka_unit_test(test_double_release_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
