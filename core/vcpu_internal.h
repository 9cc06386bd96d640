/* core/vcpu_internal.h - the session's vCPU registry as session.c sees it. */
#ifndef VMSIM_CORE_VCPU_INTERNAL_H
#define VMSIM_CORE_VCPU_INTERNAL_H

#include <stdint.h>

struct vmsim_session;
struct vmsim_vcpu;

/* Ids are indices: never reused, so a slot of a destroyed vCPU stays NULL. */
struct vcpu_registry {
	struct vmsim_vcpu **slots;
	unsigned capacity;
	unsigned next_id;
	unsigned live;
};

/* Called by session open (before the session is visible) and close (after it is unreachable). */
void vcpu_registry_init(struct vcpu_registry *registry);
/* Destroy every live vCPU of the session and free the registry; quota returned per vCPU. */
void vcpu_registry_destroy_all(struct vmsim_session *session);

#endif
