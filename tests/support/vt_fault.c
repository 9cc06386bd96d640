/* tests/support/vt_fault.c - the fault walk every fault-injection test runs. */
#include "vt_fault.h"

uint64_t vt_fault_walk(const struct vt_fault_walk *walk)
{
	uint64_t points = 0;
	for (uint64_t nth = 1;; nth++) {
		struct vmsim_env *env = walk->open(walk->ctx);
		uint64_t start = vmsim_env_alloc_count(env);
		vmsim_env_fail_alloc_at(env, nth);
		enum vmsim_result r = walk->run(walk->ctx, env);
		bool fired = vmsim_env_alloc_count(env) - start >= nth;
		vmsim_env_fail_alloc_at(env, 0);
		walk->check(walk->ctx, fired, r);
		walk->close(walk->ctx, env);
		if (!fired)
			return points;
		points++;
	}
}
