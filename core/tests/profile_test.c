/* core/tests/profile_test.c - kernel profiles: literal facts read from base-hw and genode-vm-session.md. */
#include "vt_model.h"

#include <vmsim/profile.h>

static void find_by_name(void **unused)
{
	(void)unused;
	assert_string_equal(vmsim_profile_find("vmsim")->name, "vmsim");
	assert_string_equal(vmsim_profile_find("base-hw")->name, "base-hw");
	assert_string_equal(vmsim_profile_find("nova")->name, "nova");
	assert_null(vmsim_profile_find("hw"));
	assert_null(vmsim_profile_find("NOVA"));
	assert_null(vmsim_profile_find(""));
	assert_null(vmsim_profile_find(NULL));
}

/* base-hw svm.cc enforce_intercepts(): what vmm_x86's HLT-only request becomes, and what the model reads. */
static void base_hw_svm_controls(void **unused)
{
	const struct vmsim_profile *hw = vmsim_profile_find("base-hw");
	enum vmsim_invalid_reason reason;
	uint64_t primary = 1u << 24, secondary = 1; /* vmm_x86: HLT; VMRUN */
	uint32_t intercepts;
	(void)unused;

	vmsim_profile_controls(hw, VMSIM_MODEL_SVM, &primary, &secondary);
	assert_int_equal(primary, 0x9940000b);
	assert_int_equal(secondary, 0x6d);
	VT_ASSERT_OK(vmsim_model_decode_controls(VMSIM_MODEL_SVM, primary, secondary, &intercepts, &reason));
	/* all I/O and MSR accesses exit on base-hw (IOPM/MSRPM all ones), and SHUTDOWN */
	assert_int_equal(intercepts, VMSIM_INTERCEPT_HLT | VMSIM_INTERCEPT_IO | VMSIM_INTERCEPT_MSR |
	                                     VMSIM_INTERCEPT_SHUTDOWN | VMSIM_INTERCEPT_TSC_OFFSET |
	                                     VMSIM_INTERCEPT_UNRESTRICTED_GUEST);
	/* base-hw does not force the VMRUN intercept: a VMM that leaves it out gets VMEXIT_INVALID (APM 15.5.1) */
	primary = 0;
	secondary = 0;
	vmsim_profile_controls(hw, VMSIM_MODEL_SVM, &primary, &secondary);
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT,
	                 vmsim_model_decode_controls(VMSIM_MODEL_SVM, primary, secondary, &intercepts, &reason));
	assert_int_equal(reason, VMSIM_INVALID_CONTROLS);
	assert_int_equal(hw->svm_exceptions, 0x11); /* Vectors = 17 ("AC") is the value 17: #DE and #BP */
}

/* base-hw vmx.cc enforce_execution_controls() */
static void base_hw_vmx_controls(void **unused)
{
	const struct vmsim_profile *hw = vmsim_profile_find("base-hw");
	enum vmsim_invalid_reason reason;
	uint64_t primary = 0x88, secondary = 0x88; /* vmm_x86: HLT, TSC offsetting; unrestricted, RDTSCP */
	uint32_t intercepts;
	(void)unused;

	vmsim_profile_controls(hw, VMSIM_MODEL_VMX, &primary, &secondary);
	assert_int_equal(primary, 0x81200088);
	assert_int_equal(secondary, 0x8a);
	VT_ASSERT_OK(vmsim_model_decode_controls(VMSIM_MODEL_VMX, primary, secondary, &intercepts, &reason));
	assert_int_equal(intercepts, VMSIM_INTERCEPT_HLT | VMSIM_INTERCEPT_TSC_OFFSET | VMSIM_INTERCEPT_IO |
	                                     VMSIM_INTERCEPT_MSR | VMSIM_INTERCEPT_UNRESTRICTED_GUEST |
	                                     VMSIM_INTERCEPT_CPUID | VMSIM_INTERCEPT_VMCALL | VMSIM_INTERCEPT_SHUTDOWN);
	/* a VMM asking for I/O and MSR bitmaps does not get them */
	primary = (1u << 25) | (1u << 28);
	secondary = 0;
	vmsim_profile_controls(hw, VMSIM_MODEL_VMX, &primary, &secondary);
	assert_int_equal(primary, 0x81200080);
	assert_int_equal(hw->vmx_exceptions, 0x20002);

	/* vmsim and nova force nothing */
	primary = 0x88;
	secondary = 0x88;
	vmsim_profile_controls(vmsim_profile_find("vmsim"), VMSIM_MODEL_VMX, &primary, &secondary);
	vmsim_profile_controls(vmsim_profile_find("nova"), VMSIM_MODEL_SVM, &primary, &secondary);
	assert_int_equal(primary, 0x88);
	assert_int_equal(secondary, 0x88);
}

static void invalid_state_tsc_and_costs(void **unused)
{
	const struct vmsim_profile *hw = vmsim_profile_find("base-hw"), *nova = vmsim_profile_find("nova");
	const struct vmsim_profile *ref = vmsim_profile_find("vmsim");
	(void)unused;

	assert_int_equal(vmsim_profile_exit_reason(hw, VMSIM_MODEL_SVM, 0xfd), 0xffffffffu);
	assert_int_equal(vmsim_profile_exit_reason(hw, VMSIM_MODEL_VMX, 33), 33);
	assert_int_equal(vmsim_profile_exit_reason(hw, VMSIM_MODEL_SVM, 0x78), 0x78);
	assert_int_equal(vmsim_profile_exit_reason(nova, VMSIM_MODEL_SVM, 0xfd), 0xfd);
	assert_int_equal(vmsim_profile_exit_reason(ref, VMSIM_MODEL_SVM, 0xfd), 0xfd);

	/* base-hw svm.cc read_vcpu_state(): Tsc_offset = old + charged; vmx.cc writes the charged value */
	assert_int_equal(vmsim_profile_tsc_offset(hw, VMSIM_MODEL_SVM, 0xff00ull << 48, 0x100), 0xff00000000000100ull);
	assert_int_equal(vmsim_profile_tsc_offset(hw, VMSIM_MODEL_SVM, ~0ull, 2), 1);
	assert_int_equal(vmsim_profile_tsc_offset(hw, VMSIM_MODEL_VMX, 0xff00ull << 48, 0x100), 0x100);
	assert_int_equal(vmsim_profile_tsc_offset(ref, VMSIM_MODEL_SVM, 0xff00ull << 48, 0x100), 0x100);

	assert_true(hw->svm_ip_len_stale);
	assert_false(ref->svm_ip_len_stale);
	assert_true(hw->with_state_foreign_blocks);
	assert_true(nova->with_state_foreign_blocks);
	assert_false(ref->with_state_foreign_blocks);
	assert_int_equal(ref->vcpu_caps, 2);
	assert_int_equal(ref->vcpu_ram, 16384);
	assert_int_equal(nova->vcpu_caps, 4);
	assert_int_equal(hw->vcpu_caps, 0);
	assert_non_null(hw->source);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(find_by_name),
		cmocka_unit_test(base_hw_svm_controls),
		cmocka_unit_test(base_hw_vmx_controls),
		cmocka_unit_test(invalid_state_tsc_and_costs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
