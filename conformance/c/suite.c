/* suite.c - the conformance suite: every area's test list, concatenated in spec order. */
#include <stdlib.h>
#include <string.h>

#include "vc.h"

typedef struct vc_test_list (*list_fn)(void);

static const list_fn areas[] = {
	vc_session_tests, vc_session_npt_tests, vc_attach_tests, vc_detach_tests, vc_flush_tests, vc_guest_memory_tests,
	vc_vcpu_tests, vc_exit_tour_tests, vc_exit_io_tests, vc_exit_mmio_tests, vc_exit_special_tests, vc_state_tests,
	vc_pause_tests, vc_inject_tests, vc_vmm_x86_tests, vc_mode_switch_tests, vc_paging_tests, vc_profile_tests,
};

/* Built once per process and kept: a test-process static, never freed. */
static struct vc_test *suite;
static size_t suite_count;

size_t vc_suite(const struct vc_test **out)
{
	if (!suite) {
		size_t n = 0;
		for (size_t i = 0; i < sizeof areas / sizeof areas[0]; i++)
			n += areas[i]().count;
		suite = calloc(n, sizeof *suite);
		for (size_t i = 0; i < sizeof areas / sizeof areas[0]; i++) {
			struct vc_test_list l = areas[i]();
			memcpy(suite + suite_count, l.tests, l.count * sizeof *l.tests);
			suite_count += l.count;
		}
	}
	*out = suite;
	return suite_count;
}

size_t vc_canary(const struct vc_test **out)
{
	struct vc_test_list l = vc_canary_tests();
	*out = l.tests;
	return l.count;
}
