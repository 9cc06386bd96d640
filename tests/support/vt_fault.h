/* tests/support/vt_fault.h - the fault walk: fail the 1st, 2nd, ... allocation of a scenario until none is left. */
#ifndef VMSIM_TESTS_SUPPORT_VT_FAULT_H
#define VMSIM_TESTS_SUPPORT_VT_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include <vmsim/vmsim.h>

/*
 * One step of a walk. open: a fresh env (counting allocator, backends registered) and what the scenario needs;
 * run: the scenario, its result returned; check: asserts after run (fired: the nth allocation was reached);
 * close: tear down and destroy the env. Each step runs on its own env.
 */
struct vt_fault_walk {
	struct vmsim_env *(*open)(void *ctx);
	enum vmsim_result (*run)(void *ctx, struct vmsim_env *env);
	void (*check)(void *ctx, bool fired, enum vmsim_result r);
	void (*close)(void *ctx, struct vmsim_env *env);
	void *ctx;
};

/* Walk nth = 1, 2, ... until the scenario makes fewer than nth allocations; returns how many points fired. */
uint64_t vt_fault_walk(const struct vt_fault_walk *walk);

#endif
