/* vmsim/rpc.h - the VM session as RPC: wire protocol, per-client capability spaces, server and client. */
#ifndef VMSIM_API_RPC_H
#define VMSIM_API_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmsim/env.h>
#include <vmsim/quota.h>
#include <vmsim/result.h>
#include <vmsim/session.h>
#include <vmsim/vcpu_state.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A frame is a 12-byte header (u32 payload length, u16 version, u16 opcode,
 * u32 sequence number) and the payload; every integer is little-endian and
 * the layouts are in docs/rpc.md. A reply echoes the opcode with the reply
 * bit set and the sequence number; its payload starts with a u32 vmsim_result.
 */
#define VMSIM_RPC_VERSION 1u

enum {
	VMSIM_RPC_HEADER_SIZE = 12,
	VMSIM_RPC_MAX_PAYLOAD = 4096, /* longer announced payloads lose the framing: the server closes */
	VMSIM_RPC_MAX_FRAME = VMSIM_RPC_HEADER_SIZE + VMSIM_RPC_MAX_PAYLOAD,
	VMSIM_RPC_MAX_LABEL = 128,    /* session label bytes */
	VMSIM_RPC_MAX_NAME = 32,      /* backend name bytes */
	VMSIM_RPC_REPLY_BIT = 0x8000
};

/* X(NAME, opcode). Opcodes are stable wire values; new ones are only appended. */
#define VMSIM_RPC_OP_LIST(X) \
	X(SESSION_OPEN, 1)       \
	X(SESSION_UPGRADE, 2)    \
	X(SESSION_CLOSE, 3)      \
	X(SESSION_QUOTA, 4)      \
	X(DS_ALLOC, 5)           \
	X(DS_FREE, 6)            \
	X(ATTACH, 7)             \
	X(DETACH, 8)             \
	X(ATTACH_PIC, 9)         \
	X(VCPU_CREATE, 10)       \
	X(VCPU_NATIVE, 11)       \
	X(VCPU_STATE_GET, 12)    \
	X(VCPU_STATE_PUT, 13)    \
	X(VCPU_PAUSE, 14)        \
	X(CLIENT_QUOTA, 15)

enum vmsim_rpc_op {
#define VMSIM_RPC_OP_ENUM_(name, value) VMSIM_RPC_##name = value,
	VMSIM_RPC_OP_LIST(VMSIM_RPC_OP_ENUM_)
#undef VMSIM_RPC_OP_ENUM_
	VMSIM_RPC_OP_END
};

/* Attach flags (Genode's Attach_attr booleans); other bits are rejected. */
enum { VMSIM_RPC_ATTACH_EXECUTABLE = 1, VMSIM_RPC_ATTACH_WRITEABLE = 2 };
/* VCPU_CREATE exit configurations. */
enum { VMSIM_RPC_EXIT_CONFIG_ALL = 0, VMSIM_RPC_EXIT_CONFIG_MINIMAL = 1 };
/* VCPU_STATE_PUT flags: resume the vCPU after loading the charged registers. */
enum { VMSIM_RPC_PUT_RESUME = 1 };

/* A decoded request. Capabilities are the client's own names, never the server's. */
struct vmsim_rpc_request {
	uint16_t op;
	uint32_t seq;
	union {
		struct {
			uint64_t ram, caps;
			uint32_t model;
			char label[VMSIM_RPC_MAX_LABEL + 1];
			char backend[VMSIM_RPC_MAX_NAME + 1];
		} open;
		struct {
			uint64_t session, ram, caps;
		} upgrade;
		struct {
			uint64_t cap; /* SESSION_CLOSE/QUOTA: session; DS_FREE: ds; VCPU_NATIVE/STATE_GET/PAUSE: vcpu */
		} object;
		struct {
			uint64_t size;
		} ds_alloc;
		struct {
			uint64_t session, ds, gpa, offset, size;
			uint32_t flags;
		} attach;
		struct {
			uint64_t session, gpa, size;
		} detach;
		struct {
			uint64_t session, gpa;
		} attach_pic;
		struct {
			uint64_t session;
			uint32_t exit_config;
		} vcpu_create;
		struct {
			uint64_t vcpu;
			uint32_t flags;
			struct vmsim_vcpu_state state;
		} put;
	} u;
};

/* A reply; the outputs are only on the wire (and only valid) when result is OK. */
struct vmsim_rpc_reply {
	uint16_t op; /* the request's opcode, without the reply bit */
	uint32_t seq;
	enum vmsim_result result;
	union {
		uint64_t cap;             /* SESSION_OPEN, DS_ALLOC */
		struct vmsim_range range; /* ATTACH, ATTACH_PIC */
		struct vmsim_quota quota; /* SESSION_QUOTA, CLIENT_QUOTA */
		struct {
			uint64_t cap;
			uint32_t id;
		} vcpu;                   /* VCPU_CREATE */
		struct {
			char backend[VMSIM_RPC_MAX_NAME + 1];
			int32_t fd;
			uint64_t run_area_size;
			bool has_engine;
		} native;                 /* VCPU_NATIVE: process-local pointers do not travel */
		struct vmsim_vcpu_state state; /* VCPU_STATE_GET */
	} u;
};

/* The opcode's name ("SESSION_OPEN"); NULL for an unknown opcode. */
const char *vmsim_rpc_op_name(uint16_t op);

/* The whole frame's length from its header; INVALID_ARGUMENT under 12 bytes, */
/* DENIED when the payload announced exceeds VMSIM_RPC_MAX_PAYLOAD (framing lost). */
VMSIM_MUST_CHECK enum vmsim_result vmsim_rpc_frame_length(const uint8_t *buf, size_t avail, size_t *frame_len);
/* Decode exactly one request frame (op and seq filled whenever the header is readable): UNSUPPORTED for */
/* another version or an unknown opcode, INVALID_ARGUMENT for a short, long or non-canonical payload. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_rpc_decode_request(const uint8_t *buf, size_t len,
                                                            struct vmsim_rpc_request *out);
/* Encode a request into buf (cap bytes); INVALID_ARGUMENT if it is not encodable or does not fit. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_rpc_encode_request(const struct vmsim_rpc_request *req, uint8_t *buf,
                                                            size_t cap, size_t *len);
/* Decode exactly one reply frame; the same strictness as vmsim_rpc_decode_request. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_rpc_decode_reply(const uint8_t *buf, size_t len,
                                                          struct vmsim_rpc_reply *out);
/* Encode a reply (outputs only for OK); INVALID_ARGUMENT if it is not encodable or does not fit. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_rpc_encode_reply(const struct vmsim_rpc_reply *reply, uint8_t *buf,
                                                          size_t cap, size_t *len);

/* ---- server side: one capability space and budget per client --------------------------------------- */

struct vmsim_rpc_client;

/* The budget a client may donate to sessions and spend on dataspaces (its PD's quota). */
struct vmsim_rpc_client_config {
	uint64_t ram;      /* 0: 64 MiB (a server: the RAM pool / max_clients) */
	uint64_t caps;     /* 0: 1000 */
	uint64_t cap_seed; /* seed of the client's capability tags; 0: from getrandom() */
	uint32_t threads;  /* host threads its vCPUs and entrypoint may take; 0: 64 (a server: its share) */
	uint32_t fds;      /* host file descriptors its VMs and vCPUs may hold; 0: 64 (a server: its share) */
	vmsim_log_fn log;  /* what its sessions cause (their backends' lines too); NULL: the env's sink */
	void *log_ctx;
};

/* A client with an empty capability space on env. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_rpc_client_create(struct vmsim_env *env,
                                                           const struct vmsim_rpc_client_config *cfg,
                                                           struct vmsim_rpc_client **out);
/* Close every session, free every dataspace of the client and return its budget. NULL is a no-op. */
void vmsim_rpc_client_destroy(struct vmsim_rpc_client *client);
/* Execute one decoded request in the client's capability space (the dispatcher). */
void vmsim_rpc_client_dispatch(struct vmsim_rpc_client *client, const struct vmsim_rpc_request *req,
                               struct vmsim_rpc_reply *out);
/* Decode, dispatch and encode one frame (an undecodable one gets an error reply) into reply, */
/* which holds VMSIM_RPC_MAX_FRAME bytes; returns the reply's result. */
enum vmsim_result vmsim_rpc_client_handle(struct vmsim_rpc_client *client, const uint8_t *frame, size_t len,
                                          uint8_t *reply, size_t *reply_len);
/* The client's budget: limits and what its sessions and dataspaces hold now. */
void vmsim_rpc_client_quota(const struct vmsim_rpc_client *client, struct vmsim_quota *out);

/* ---- the server: clients over a UNIX stream socket, one thread each --------------------------------- */

struct vmsim_rpc_server;

struct vmsim_rpc_server_config {
	const char *socket_path;
	struct vmsim_rpc_client_config client; /* every client's budget */
	unsigned max_clients;                  /* 0: 64; further connections are closed at once */
	unsigned idle_timeout_ms;              /* 0: 300 s; a client silent between frames this long is closed */
	unsigned frame_timeout_ms;             /* 0: 10 s; a frame (or a reply write) not done in this is closed */
	uint32_t max_threads;                  /* all clients' host threads; 0: 4096 */
	uint32_t max_fds;                      /* all clients' host fds; 0: RLIMIT_NOFILE less 64 */
	uint64_t host_ram;                     /* all clients' backend host RAM; 0: the env's RAM pool */
	/* What a client's sessions cause, with its connection's number (1, 2, ...) so that a sink can keep
	 * one budget per client whatever its thread count; NULL: the env's sink. */
	void (*client_log)(void *ctx, uint64_t client, enum vmsim_log_level level, const char *message);
	void *client_log_ctx;
};

/* Lock socket_path (DENIED while another server holds it), replace a stale socket, bind, start accepting. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_rpc_server_start(struct vmsim_env *env,
                                                          const struct vmsim_rpc_server_config *cfg,
                                                          struct vmsim_rpc_server **out);
/* Stop accepting, disconnect every client (destroying its objects), join, unlink the socket. */
void vmsim_rpc_server_stop(struct vmsim_rpc_server *server);

/* ---- the client library ----------------------------------------------------------------------------- */

struct vmsim_rpc_conn;

/* Connect to a server's socket; BACKEND_ERROR when it cannot be reached. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_rpc_connect(const char *socket_path, struct vmsim_rpc_conn **out);
/* Close the connection: the server destroys everything the client held. NULL is a no-op. */
void vmsim_rpc_disconnect(struct vmsim_rpc_conn *conn);
/* Send req (assigning its seq) and wait for the reply; the reply's result, or BACKEND_ERROR */
/* when the connection failed or the reply does not match the request. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_rpc_call(struct vmsim_rpc_conn *conn, struct vmsim_rpc_request *req,
                                                  struct vmsim_rpc_reply *reply);
/*
 * Genode's Connection::retry: ATTACH, ATTACH_PIC and VCPU_CREATE answered OUT_OF_RAM/CAPS upgrade their session
 * by 4096 bytes / 2 caps and are sent again, at most max_upgrades times (docs/spec.md); other ops: one call.
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_rpc_call_retry(struct vmsim_rpc_conn *conn, struct vmsim_rpc_request *req,
                                                        struct vmsim_rpc_reply *reply, unsigned max_upgrades,
                                                        struct vmsim_retry_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
