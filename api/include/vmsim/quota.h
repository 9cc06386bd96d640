/* vmsim/quota.h - RAM and capability quota as a session or env reports it. */
#ifndef VMSIM_API_QUOTA_H
#define VMSIM_API_QUOTA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A snapshot of one quota holder: limits and what is withdrawn from them. */
struct vmsim_quota {
	uint64_t ram_limit;
	uint64_t ram_used;
	uint64_t cap_limit;
	uint64_t cap_used;
};

/*
 * The published cost table (docs/quota.md). Every charge is taken before the
 * object is built and returned in full when it is destroyed.
 */
enum {
	VMSIM_PAGE_SIZE = 4096,
	/* session: object and bookkeeping page plus the nested page-table root */
	VMSIM_COST_SESSION_RAM = 2 * 4096,
	VMSIM_COST_SESSION_CAPS = 1,
	/* vCPU: Vcpu_state page plus three pages of backend data (VMCB/VMCS area) */
	VMSIM_COST_VCPU_RAM = 4 * 4096,
	VMSIM_COST_VCPU_CAPS = 2,
	/* attachment: region metadata; nested page tables are charged on top */
	VMSIM_COST_ATTACH_META_RAM = 128,
	VMSIM_COST_PAGE_TABLE_RAM = 4096,
	/* dataspace: page-rounded size from the env's RAM pool plus one cap */
	VMSIM_COST_DATASPACE_CAPS = 1
};

#ifdef __cplusplus
}
#endif
#endif
