/* vmsim/dataspace.h - RAM dataspaces named by capabilities, and Local_rm attachments. */
#ifndef VMSIM_API_DATASPACE_H
#define VMSIM_API_DATASPACE_H

#include <stdbool.h>
#include <stdint.h>

#include <vmsim/result.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vmsim_env;

/*
 * A capability: slot index plus a random tag. A freed capability never names a
 * later object, and a guessed one is rejected except with probability 2^-40.
 */
typedef struct vmsim_ds_cap {
	uint64_t raw;
} vmsim_ds_cap;

/* The capability that names nothing (raw 0); every call rejects it. */
#define VMSIM_DS_CAP_INVALID ((vmsim_ds_cap){0})

/* Allocate a zero-filled RAM dataspace of size bytes (rounded up to 4 KiB) from env's pool. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_ds_alloc(struct vmsim_env *env, uint64_t size, vmsim_ds_cap *out);
/* Destroy a dataspace: every guest attachment of it is flushed and left reserved (#3111). */
VMSIM_MUST_CHECK enum vmsim_result vmsim_ds_free(struct vmsim_env *env, vmsim_ds_cap ds);
/* Size in bytes of a live dataspace. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_ds_size(const struct vmsim_env *env, vmsim_ds_cap ds, uint64_t *out);
/* Make a dataspace read-only (as a ROM): later writeable attachments are refused or downgraded. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_ds_seal(struct vmsim_env *env, vmsim_ds_cap ds);
/* Whether the capability names a live, writeable dataspace; false for stale caps. */
bool vmsim_ds_writeable(const struct vmsim_env *env, vmsim_ds_cap ds);

/* Genode's Region_map::Attr for a local attachment; size 0 means the rest of the dataspace. */
struct vmsim_local_attr {
	uint64_t size;
	uint64_t offset; /* 4 KiB aligned */
	bool writeable;
};

/* A Local_rm attachment (#5516): ptr is valid until vmsim_local_release(). */
struct vmsim_local_attachment {
	void *ptr;
	uint64_t num_bytes;
	void *_priv; /* \noapi */
};

/* Map a dataspace into this process; a writeable attach of a sealed dataspace is INVALID_DATASPACE. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_local_attach(struct vmsim_env *env, vmsim_ds_cap ds,
                                                      const struct vmsim_local_attr *attr,
                                                      struct vmsim_local_attachment *out);
/* Detach a local attachment (the Allocation's destructor); the struct is zeroed. */
void vmsim_local_release(struct vmsim_env *env, struct vmsim_local_attachment *attachment);

#ifdef __cplusplus
}
#endif
#endif
