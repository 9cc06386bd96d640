/* vmsim/session.h - the VM session: quota, guest-physical memory, and its vCPU registry. */
#ifndef VMSIM_API_SESSION_H
#define VMSIM_API_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include <vmsim/dataspace.h>
#include <vmsim/model.h>
#include <vmsim/quota.h>
#include <vmsim/result.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vmsim_env;
struct vmsim_session;
struct vmsim_profile;

/* Genode's session arguments. ram_quota/cap_quota are donated from the env's pool. */
struct vmsim_session_args {
	uint64_t ram_quota;
	uint64_t cap_quota;
	const char *label;   /* NULL: "" */
	const char *backend; /* a name registered with vmsim_env_register_backend */
	enum vmsim_model model;
	vmsim_log_fn log;    /* NULL: the env's sink; else what this session causes (its backend's lines too) */
	void *log_ctx;       /* goes here, filtered by the env's level (a server points it at the client) */
	const char *profile; /* NULL or "vmsim": the reference; "base-hw", "nova": core reports as that kernel */
	long priority;       /* Genode's "priority" (Vm_connection's long, DEFAULT_PRIORITY 0): recorded, see below */
	uint64_t affinity;   /* Genode's "affinity" (an unsigned long): recorded, never read by core */
};

/* The generic core root's priority limit: "priority" is parsed as unsigned long and clamped to it - 1. */
enum { VMSIM_SESSION_PRIORITY_LIMIT = 65536 };

/* Genode's Vm_connection default quota: 5 MiB and 10 caps. */
enum {
	VMSIM_SESSION_DEFAULT_RAM = 5 * 1024 * 1024,
	VMSIM_SESSION_DEFAULT_CAPS = 10
};

/*
 * Open a session. The session's own cost is withdrawn from the donation before
 * anything is built: INSUFFICIENT_RAM/CAPS if it does not cover it, OUT_OF_RAM/
 * CAPS if the env cannot donate that much; INVALID_ARGUMENT for an unknown model,
 * backend or profile name. On failure nothing is kept.
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_session_open(struct vmsim_env *env, const struct vmsim_session_args *args,
                                                      struct vmsim_session **out);
/* Destroy vCPUs (stopping them), detach everything, return the whole donation. NULL is a no-op. */
void vmsim_session_close(struct vmsim_session *session);
/* Donate more quota from the env's pool (Genode's upgrade). */
VMSIM_MUST_CHECK enum vmsim_result vmsim_session_upgrade(struct vmsim_session *session, uint64_t ram,
                                                         uint64_t caps);
/* What vmsim_session_retry did: upgrades made, and the result of an upgrade that failed (OK if none did). */
struct vmsim_retry_stats {
	unsigned ram_upgrades, cap_upgrades;
	enum vmsim_result upgrade_result;
};

/* Genode's Connection::retry step: one attempt of an attach, attach_pic or vCPU creation. */
typedef enum vmsim_result (*vmsim_retry_fn)(void *ctx, struct vmsim_session *session);

/* Genode's retry amounts (Vm_connection: retry(Ram_quota{4096}, Cap_quota{2}, ...)). */
enum { VMSIM_RETRY_RAM = 4096, VMSIM_RETRY_CAPS = 2 };

/*
 * Call fn; on OUT_OF_RAM upgrade the session by 4096 bytes, on OUT_OF_CAPS by 2 caps (from the env's pool)
 * and call again. Genode loops without bound; this stops after max_upgrades upgrades or at the first upgrade
 * that fails, returns fn's last result and logs why it gave up. stats may be NULL.
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_session_retry(struct vmsim_session *session, vmsim_retry_fn fn, void *ctx,
                                                       unsigned max_upgrades, struct vmsim_retry_stats *stats);

/* The session's quota: limits are the donations, used is what its objects cost now. */
void vmsim_session_quota(const struct vmsim_session *session, struct vmsim_quota *out);

const char *vmsim_session_label(const struct vmsim_session *session);
/*
 * The priority as Genode's core recorded it: (unsigned long)args.priority clamped to 65535 (so -1 is 65535),
 * 0 under the base-hw profile, whose root ignores it. Nothing in vmsim schedules by it.
 */
uint64_t vmsim_session_priority(const struct vmsim_session *session);
/* The affinity argument as given; a vCPU runs where its handler's thread does, whatever it says. */
uint64_t vmsim_session_affinity(const struct vmsim_session *session);
/* The kernel profile the session was opened with (vmsim/profile.h); never NULL for an open session. */
const struct vmsim_profile *vmsim_session_profile(const struct vmsim_session *session);
enum vmsim_model vmsim_session_model(const struct vmsim_session *session);
/* The name of the session's backend. */
const char *vmsim_session_backend(const struct vmsim_session *session);
struct vmsim_env *vmsim_session_env(const struct vmsim_session *session);

/* Genode's Attach_attr, in Genode's field order; size 0 means the rest of the dataspace. */
struct vmsim_attach_attr {
	uint64_t offset;
	uint64_t size;
	bool executable;
	bool writeable;
};

struct vmsim_range {
	uint64_t start;
	uint64_t num_bytes;
};

/*
 * Attach a dataspace at guest-physical gpa with Genode's validation order
 * (docs/spec.md "attach"): INVALID_DATASPACE, REGION_CONFLICT, OUT_OF_RAM/CAPS.
 * Re-attaching the same dataspace inside its own region succeeds (a retry).
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_session_attach(struct vmsim_session *session, vmsim_ds_cap ds,
                                                        uint64_t gpa, const struct vmsim_attach_attr *attr,
                                                        struct vmsim_range *out);
/*
 * Detach every region (reserved ones included) that intersects [gpa, gpa+size),
 * each one whole. INVALID_ARGUMENT (and nothing done) for size 0 or misalignment.
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_session_detach(struct vmsim_session *session, uint64_t gpa,
                                                        uint64_t size);
/* ARM GIC only in Genode: on x86 always INVALID_DATASPACE. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_session_attach_pic(struct vmsim_session *session, uint64_t gpa,
                                                            struct vmsim_range *out);

/* One guest-physical region as the session records it. */
struct vmsim_region_info {
	uint64_t start;
	uint64_t num_bytes;
	uint64_t offset;     /* into the dataspace */
	vmsim_ds_cap ds;     /* VMSIM_DS_CAP_INVALID once reserved */
	bool writeable;      /* after the read-only downgrade */
	bool executable;
	bool reserved;       /* flushed because its dataspace was destroyed (#3111) */
};

/* The region containing gpa; INVALID_ARGUMENT if none does. O(log n). */
VMSIM_MUST_CHECK enum vmsim_result vmsim_session_region_at(const struct vmsim_session *session, uint64_t gpa,
                                                           struct vmsim_region_info *out);
/* Regions in ascending address order; fn returns false to stop early. */
void vmsim_session_for_each_region(const struct vmsim_session *session,
                                   bool (*fn)(void *ctx, const struct vmsim_region_info *region), void *ctx);
/* Number of regions, reserved ones included. */
uint64_t vmsim_session_region_count(const struct vmsim_session *session);
/* Nested page-table pages currently charged (the root not counted). */
uint64_t vmsim_session_page_tables(const struct vmsim_session *session);

#ifdef __cplusplus
}
#endif
#endif
