/*
 * core/quota.c - quota guards and session charges: the leaf every accounting module calls (env, dataspace, session,
 * guest memory, NPT, vCPU); it calls nothing else in core, so the charging no longer ties those files together.
 */
#include <assert.h>

#include "internal.h"

bool quota_withdraw(struct quota_guard *guard, uint64_t amount)
{
	if (amount > guard->limit - guard->used) /* used <= limit always, so this cannot wrap */
		return false;
	guard->used += amount;
	return true;
}

void quota_replenish(struct quota_guard *guard, uint64_t amount)
{
	assert(amount <= guard->used);
	guard->used -= amount;
}

/* ---- session charges ------------------------------------------------------- */

enum vmsim_result session_charge(struct vmsim_session *session, uint64_t ram, uint64_t caps)
{
	/* RAM before caps, as Genode's Accounted_ram_allocator reports them. */
	if (!quota_withdraw(&session->ram, ram))
		return VMSIM_OUT_OF_RAM;
	if (!quota_withdraw(&session->caps, caps)) {
		quota_replenish(&session->ram, ram);
		return VMSIM_OUT_OF_CAPS;
	}
	return VMSIM_OK;
}

void session_uncharge(struct vmsim_session *session, uint64_t ram, uint64_t caps)
{
	quota_replenish(&session->ram, ram);
	quota_replenish(&session->caps, caps);
}
