/*
 * core/testing/inspect.h - test-only views of core's records for the fuzzers and tests.
 * Never installed and not in libvmsim: link vmsim_inspect (which brings vmsim_internal).
 */
#ifndef VMSIM_CORE_TESTING_INSPECT_H
#define VMSIM_CORE_TESTING_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmsim/rpc.h>
#include <vmsim/vmsim.h>

enum inspect_kind { INSPECT_SESSION, INSPECT_DATASPACE, INSPECT_VCPU };

/* One capability an RPC client holds, as the client's records describe it. */
struct inspect_record {
	enum inspect_kind kind;
	uint64_t cap;                  /* in the client's space */
	bool in_space;                 /* the client's capability space names this record under cap */
	struct vmsim_session *session; /* a session: itself; a vCPU: the session it was created in */
	uint64_t donated_ram;          /* a session: open plus upgrades */
	uint64_t donated_caps;
	vmsim_ds_cap ds;               /* a dataspace: its name in the env's space */
	uint64_t size;                 /* a dataspace: page-rounded size */
	struct vmsim_vcpu *vcpu;       /* a vCPU */
};

/* What the client holds: sessions, then dataspaces, then vCPUs, the first max of them into out. */
struct inspect_client {
	size_t count;      /* records the client holds (may exceed max) */
	uint64_t live;     /* entries in use in the client's capability space */
};
struct inspect_client inspect_rpc_client(const struct vmsim_rpc_client *client, struct inspect_record *out,
                                         size_t max);
/* The vCPU behind the client's vCPU capability cap, or NULL. */
struct vmsim_vcpu *inspect_rpc_vcpu(const struct vmsim_rpc_client *client, uint64_t cap);

#endif
