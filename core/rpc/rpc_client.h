/* core/rpc/rpc_client.h - one RPC client: its capability space, its budget and the objects it holds. */
#ifndef VMSIM_CORE_RPC_CLIENT_H
#define VMSIM_CORE_RPC_CLIENT_H

#include <pthread.h>

#include <vmsim/rpc.h>
#include <vmsim/vcpu.h>

#include "../internal.h"

/*
 * SQLite's ALWAYS/NEVER for conditions that cannot happen: they trap in debug and
 * fuzzing builds (where a violation must be found) and are survived in release
 * builds, where the code after them copes ("ductile rather than brittle").
 */
#if !defined(NDEBUG) || defined(FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
#define RPC_ALWAYS(x) ((x) ? 1 : (__builtin_trap(), 0))
#define RPC_NEVER(x) ((x) ? (__builtin_trap(), 1) : 0)
#else
#define RPC_ALWAYS(x) (!!(x))
#define RPC_NEVER(x) (!!(x))
#endif

/* Host resources: what an object costs (RAM, threads, fds) and the server-wide pool all clients draw from. */
struct host_charge {
	uint64_t ram, threads, fds;
};

struct host_pool {
	pthread_mutex_t lock;
	struct quota_guard ram, threads, fds;
};

/* What a client capability names; each record is the cap table slot's object. */
struct client_session {
	struct client_session *next, *prev;
	uint64_t cap;              /* in the client's space */
	struct vmsim_session *session;
	uint64_t donated_ram;      /* open plus upgrades: what close gives back to the client */
	uint64_t donated_caps;
	const struct vmsim_backend_ops *backend;
	struct host_charge host;   /* the VM's host cost; each vCPU's is in its client_vcpu */
};

struct client_ds {
	struct client_ds *next, *prev;
	uint64_t cap;              /* in the client's space */
	vmsim_ds_cap ds;           /* in the env's space: never shown to the client */
	uint64_t size;             /* page-rounded: what free gives back */
};

struct client_vcpu {
	struct client_vcpu *next, *prev;
	uint64_t cap;
	struct client_session *owner;
	struct vmsim_rpc_client *client;
	struct vmsim_vcpu *vcpu;
	uint64_t signals;          /* exits signalled to the server-side handler; under client->lock */
	struct host_charge host;   /* the vCPU's host cost: its thread, the backend's declared cost */
};

struct vmsim_rpc_client {
	struct vmsim_env *env;
	struct cap_table space;    /* the client's capability space: core's table, one per client */
	struct quota_guard ram;    /* the client's budget */
	struct quota_guard caps;
	struct quota_guard host_ram; /* backend host memory, threads and fds its objects hold (limit: ram's) */
	struct quota_guard threads;
	struct quota_guard fds;
	vmsim_log_fn log;          /* its sessions' sink (vmsim_rpc_client_config), or NULL */
	void *log_ctx;
	struct host_pool *pool;     /* the server's; NULL for a client without a server */
	struct host_charge ep_host; /* the entrypoint's thread, once it exists */
	struct client_session *sessions;
	struct client_ds *dataspaces;
	struct client_vcpu *vcpus;
	/* vCPU handlers and with_state run here, as on a Genode VMM's entrypoint; created with the first vCPU */
	struct vmsim_entrypoint *ep;
	pthread_mutex_t lock;      /* the hand-offs to ep: with_state jobs and signal counts */
	pthread_cond_t done;
};

/* Link helpers for the three doubly linked lists. */
#define CLIENT_LINK(head, node)                 \
	do {                                      \
		(node)->prev = NULL;              \
		(node)->next = (head);            \
		if (head)                         \
			(head)->prev = (node);    \
		(head) = (node);                  \
	} while (0)
#define CLIENT_UNLINK(head, node)                      \
	do {                                             \
		if ((node)->prev)                        \
			(node)->prev->next = (node)->next; \
		else                                     \
			(head) = (node)->next;           \
		if ((node)->next)                        \
			(node)->next->prev = (node)->prev; \
	} while (0)

/* Close one session of the client: its vCPUs' caps die with it, its donation comes back. */
void client_close_session(struct vmsim_rpc_client *client, struct client_session *cs);
/* Take c from the client's host budget (RAM: OUT_OF_RAM; threads, fds: OUT_OF_CAPS), then the pool; all or none. */
enum vmsim_result client_host_take(struct vmsim_rpc_client *client, const struct host_charge *c);
void client_host_give(struct vmsim_rpc_client *client, const struct host_charge *c);
/* A VM's and a vCPU's host cost on ops (its declaration, or a conservative guess for an older plugin). */
struct host_charge host_vm_cost(const struct vmsim_backend_ops *ops);
struct host_charge host_vcpu_cost(const struct vmsim_backend_ops *ops);
/* Let the client draw from the server's pool (before its first request). */
void client_set_pool(struct vmsim_rpc_client *client, struct host_pool *pool);
/* Free one dataspace of the client and return its cost to the budget. */
void client_free_ds(struct vmsim_rpc_client *client, struct client_ds *cd);

/* vCPU calls that must run on the client's entrypoint (rpc_vcpu.c). */
enum vmsim_result client_vcpu_create(struct vmsim_rpc_client *client, struct client_session *cs,
                                     uint32_t exit_config, struct vmsim_rpc_reply *out);
enum vmsim_result client_vcpu_state_get(struct vmsim_rpc_client *client, struct client_vcpu *cv,
                                        struct vmsim_vcpu_state *out);
enum vmsim_result client_vcpu_state_put(struct vmsim_rpc_client *client, struct client_vcpu *cv,
                                        const struct vmsim_vcpu_state *state, bool resume);

#endif
