/* sim/null/tests/builtin_registry_test.c - vmsim_register_builtin_backends against a real env. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <vmsim/vmsim.h>

static int vt_env_setup(void **state)
{
	struct vmsim_env_config cfg = {.cap_seed = 0x5eed};
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(&cfg, &env), VMSIM_OK);
	*state = env;
	return 0;
}

static int vt_env_teardown(void **state)
{
	vmsim_env_destroy(*state);
	return 0;
}

static void test_registers_null_unicorn_and_kvm(void **state)
{
	struct vmsim_env *env = *state;
	assert_null(vmsim_env_backend(env, "null"));
	assert_null(vmsim_env_backend(env, "unicorn"));
	assert_null(vmsim_env_backend(env, "kvm"));
	assert_int_equal(vmsim_register_builtin_backends(env), VMSIM_OK);
	assert_ptr_equal(vmsim_env_backend(env, "null"), vmsim_backend_null());
	assert_ptr_equal(vmsim_env_backend(env, "unicorn"), vmsim_backend_unicorn());
	assert_ptr_equal(vmsim_env_backend(env, "kvm"), vmsim_backend_kvm());
	assert_string_equal(vmsim_backend_unicorn()->name, "unicorn");
	assert_string_equal(vmsim_backend_kvm()->name, "kvm");
}

static void test_registering_twice_is_harmless(void **state)
{
	struct vmsim_env *env = *state;
	assert_int_equal(vmsim_register_builtin_backends(env), VMSIM_OK);
	assert_int_equal(vmsim_register_builtin_backends(env), VMSIM_OK);
	assert_ptr_equal(vmsim_env_backend(env, "null"), vmsim_backend_null());
}

static void test_null_env_is_invalid(void **state)
{
	(void)state;
	assert_int_equal(vmsim_register_builtin_backends(NULL), VMSIM_INVALID_ARGUMENT);
}

/* A different table that claims the name "null": a test double. */
static struct vmsim_backend_ops vt_impostor;

static void test_a_foreign_backend_under_a_builtin_name_is_not_replaced(void **state)
{
	struct vmsim_env *env = *state;
	vt_impostor = *vmsim_backend_null();
	assert_int_equal(vmsim_env_register_backend(env, &vt_impostor), VMSIM_OK);
	assert_int_not_equal(vmsim_register_builtin_backends(env), VMSIM_OK);
	assert_ptr_equal(vmsim_env_backend(env, "null"), &vt_impostor);
}

static void test_a_session_opens_on_the_null_backend(void **state)
{
	struct vmsim_env *env = *state;
	assert_int_equal(vmsim_register_builtin_backends(env), VMSIM_OK);
	struct vmsim_session_args args = {
		.ram_quota = VMSIM_SESSION_DEFAULT_RAM,
		.cap_quota = VMSIM_SESSION_DEFAULT_CAPS,
		.label = "registry-test",
		.backend = "null",
		.model = VMSIM_MODEL_SVM,
	};
	struct vmsim_session *session = NULL;
	assert_int_equal(vmsim_session_open(env, &args, &session), VMSIM_OK);
	assert_string_equal(vmsim_session_backend(session), "null");
	vmsim_session_close(session);

	args.backend = "no-such-backend";
	session = NULL;
	assert_int_not_equal(vmsim_session_open(env, &args, &session), VMSIM_OK);
	assert_null(session);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registers_null_unicorn_and_kvm, vt_env_setup, vt_env_teardown),
		cmocka_unit_test_setup_teardown(test_registering_twice_is_harmless, vt_env_setup, vt_env_teardown),
		cmocka_unit_test(test_null_env_is_invalid),
		cmocka_unit_test_setup_teardown(test_a_foreign_backend_under_a_builtin_name_is_not_replaced, vt_env_setup,
		                                vt_env_teardown),
		cmocka_unit_test_setup_teardown(test_a_session_opens_on_the_null_backend, vt_env_setup, vt_env_teardown),
	};
	return cmocka_run_group_tests_name("builtin_registry", tests, NULL, NULL);
}
