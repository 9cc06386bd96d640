/* canary_wrong_expectation_test.c - tests that MUST fail: they prove the runner reports failures. */
#include "../vc.h"

/* Deliberately wrong: a fresh session uses exactly VMSIM_COST_SESSION_RAM, not one byte more. */
static void canary_session_cost_off_by_one(const void *param)
{
	(void)param;
	struct vmsim_env *env = vt_env(0, 0);
	struct vmsim_session *s = vt_session(env, VMSIM_SESSION_DEFAULT_RAM, VMSIM_SESSION_DEFAULT_CAPS);
	struct vmsim_quota q;
	vt_quota(s, &q);
	uint64_t used = q.ram_used;
	vmsim_session_close(s);
	vt_env_done(env);
	assert_int_equal(used, VMSIM_COST_SESSION_RAM + 1); /* the canary: this must fail */
}

static const struct vc_test tests[] = {
	{ "canary", "session_cost_off_by_one", 0, canary_session_cost_off_by_one, NULL },
};

struct vc_test_list vc_canary_tests(void)
{
	return VC_LIST(tests);
}
