/*
 * core/tests/vmm_x86_test.c - Genode's vmm_x86 scenario (genode doc §4) on the vt-cpu double, both models.
 * The scenario is the conformance suite's (conformance/c/vmm/vmm_x86_test.c), run here directly: vt-cpu does not
 * declare the real-mode cap the suite asks for (it interprets nine encodings), but the scenario uses only those.
 * argv[1] names a built-in backend to run it on instead (the KVM lane runs it with "kvm").
 */
#include <string.h>

#include <vmsim/backends.h>

#include "vc.h"
#include "vt_cpu.h"

static const char *backend = "vt-cpu"; /* test-process setting, chosen in main() */

static void run_on(enum vmsim_model model)
{
	const struct vc_test_list list = vc_vmm_x86_tests();
	assert_int_equal(list.count, 1);
	const struct vc_test *test = list.tests;
	struct vc_target target = { backend, strcmp(backend, "vt-cpu") ? NULL : vt_cpu_ops(), NULL, model, test, NULL };
	vc_set_target(&target);
	test->fn(test->param);
}

static void test_vmm_x86_svm(void **unused)
{
	(void)unused;
	run_on(VMSIM_MODEL_SVM);
}

static void test_vmm_x86_vmx(void **unused)
{
	(void)unused;
	run_on(VMSIM_MODEL_VMX);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		backend = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmm_x86_svm),
		cmocka_unit_test(test_vmm_x86_vmx),
	};
	return cmocka_run_group_tests_name("vmm_x86", tests, NULL, NULL);
}
