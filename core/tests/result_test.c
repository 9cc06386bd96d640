/* core/tests/result_test.c - names and texts of results, exit kinds and backend capability bits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <vmsim/vmsim.h>

static void test_every_result_has_its_name(void **state)
{
	(void)state;
	unsigned seen = 0;
#define CHECK_RESULT_(name, value, text)                                         \
	assert_string_equal(vmsim_result_name(VMSIM_##name), #name);           \
	assert_string_equal(vmsim_result_text(VMSIM_##name), text);            \
	assert_int_equal(VMSIM_##name, value);                                 \
	seen++;
	VMSIM_RESULT_LIST(CHECK_RESULT_)
#undef CHECK_RESULT_
	assert_int_equal(seen, VMSIM_RESULT_COUNT);
	/* Names are distinct, so a log line identifies the result. */
	for (int a = 0; a < VMSIM_RESULT_COUNT; a++)
		for (int b = a + 1; b < VMSIM_RESULT_COUNT; b++)
			assert_string_not_equal(vmsim_result_name((enum vmsim_result)a),
			                        vmsim_result_name((enum vmsim_result)b));
}

static void test_result_values_are_wire_stable(void **state)
{
	(void)state;
	assert_string_equal(vmsim_result_name((enum vmsim_result)0), "OK");
	assert_string_equal(vmsim_result_name((enum vmsim_result)1), "OUT_OF_RAM");
	assert_string_equal(vmsim_result_name((enum vmsim_result)4), "INVALID_DATASPACE");
	assert_string_equal(vmsim_result_name((enum vmsim_result)11), "BACKEND_ERROR");
}

static void test_unknown_result(void **state)
{
	(void)state;
	const int outside[] = {VMSIM_RESULT_COUNT, VMSIM_RESULT_COUNT + 1, -1, 1000};
	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		assert_string_equal(vmsim_result_name((enum vmsim_result)outside[i]), "UNKNOWN_RESULT");
		assert_non_null(vmsim_result_text((enum vmsim_result)outside[i]));
		assert_true(strlen(vmsim_result_text((enum vmsim_result)outside[i])) > 0);
	}
}

static void test_exit_kind_names(void **state)
{
	(void)state;
	unsigned seen = 0;
#define CHECK_KIND_(name, text)                                          \
	assert_string_equal(vmsim_exit_kind_name(VMSIM_EXIT_##name), text); \
	seen++;
	VMSIM_EXIT_KIND_LIST(CHECK_KIND_)
#undef CHECK_KIND_
	assert_int_equal(seen, VMSIM_EXIT_KIND_COUNT);
	assert_string_equal(vmsim_exit_kind_name(VMSIM_EXIT_NPF), "npf");
	assert_string_equal(vmsim_exit_kind_name(VMSIM_EXIT_KIND_COUNT), "unknown");
	assert_string_equal(vmsim_exit_kind_name((enum vmsim_exit_kind)-1), "unknown");
}

static void test_backend_cap_names(void **state)
{
	(void)state;
	unsigned seen = 0;
#define CHECK_CAP_(name, bit, text)                                             \
	assert_string_equal(vmsim_backend_cap_name(UINT64_C(1) << (bit)), #name); \
	assert_string_equal(vmsim_backend_cap_text(UINT64_C(1) << (bit)), text);  \
	seen++;
	VMSIM_BACKEND_CAP_LIST(CHECK_CAP_)
	VMSIM_BACKEND_CAP_LIST_WIDE(CHECK_CAP_)
#undef CHECK_CAP_
	assert_int_equal(seen, 36);
	assert_string_equal(vmsim_backend_cap_name(VMSIM_CAP_EXIT_IO), "EXIT_IO");
	assert_string_equal(vmsim_backend_cap_name(VMSIM_CAP_HOST_HYPERCALL), "HOST_HYPERCALL");
	assert_string_equal(vmsim_backend_cap_name(VMSIM_CAP_EXCEPTION_INTERCEPT), "EXCEPTION_INTERCEPT");
	assert_string_equal(vmsim_backend_cap_name(VMSIM_CAP_DELIVERY_PF), "DELIVERY_PF");
	assert_string_equal(vmsim_backend_cap_name(VMSIM_CAP_DELIVERY_NPF), "DELIVERY_NPF");
	assert_string_equal(vmsim_backend_cap_name(UINT64_C(1) << 28), "ENTRY_AS_SVM");
	assert_string_equal(vmsim_backend_cap_name(UINT64_C(1) << 29), "ENTRY_AS_VMX");
	/* Not a single known bit: no name. */
	assert_null(vmsim_backend_cap_name(0));
	assert_null(vmsim_backend_cap_text(0));
	assert_null(vmsim_backend_cap_name(VMSIM_CAP_EXIT_IO | VMSIM_CAP_EXIT_NPF));
	assert_null(vmsim_backend_cap_name(UINT64_C(1) << 40));
	assert_null(vmsim_backend_cap_text(UINT64_C(1) << 63));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_result_has_its_name),
		cmocka_unit_test(test_result_values_are_wire_stable),
		cmocka_unit_test(test_unknown_result),
		cmocka_unit_test(test_exit_kind_names),
		cmocka_unit_test(test_backend_cap_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
