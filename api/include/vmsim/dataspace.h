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

/*
 * A Local_rm attachment (#5516) with Genode's Allocation lifetime: ptr is valid until it is released
 * (vmsim_local_done, the destructor, unless keep; vmsim_local_release by hand; or the env's destruction).
 */
struct vmsim_local_attachment {
	void *ptr;
	uint64_t num_bytes;
	bool keep;     /* Genode's deallocate = false: vmsim_local_done leaves it mapped */
	void *_priv;   /* \noapi */
	uint64_t _id;  /* \noapi: which mapping of the env, so a stale copy is recognised */
};

/* Map a dataspace into this process; a writeable attach of a sealed dataspace is INVALID_DATASPACE. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_local_attach(struct vmsim_env *env, vmsim_ds_cap ds,
                                                      const struct vmsim_local_attr *attr,
                                                      struct vmsim_local_attachment *out);
/*
 * Unmap a local attachment and zero the struct (keep or not). DENIED, logged, and nothing done for one that is
 * not live in env: released before (a double release, also through a copy), another env's, or never attached.
 */
enum vmsim_result vmsim_local_release(struct vmsim_env *env, struct vmsim_local_attachment *attachment);
/* The Allocation's destructor: release unless keep is set (then OK and nothing changes); empty: OK. */
enum vmsim_result vmsim_local_done(struct vmsim_env *env, struct vmsim_local_attachment *attachment);
/* Unique_attempt's move: dst's own attachment gets vmsim_local_done, then dst takes src's and src is emptied. */
void vmsim_local_move(struct vmsim_env *env, struct vmsim_local_attachment *dst, struct vmsim_local_attachment *src);

#ifdef __cplusplus
}
#endif
#endif
