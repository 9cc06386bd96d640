/* core/rpc/rpc_conn.c - the client library: connect, call (encode, send, receive, decode), disconnect. */
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "rpc_io.h"
#include <vmsim/rpc.h>

/* Client-side, outside any env: the library's user owns the process, so plain malloc. */
struct vmsim_rpc_conn {
	int fd;
	uint32_t next_seq;
	uint8_t frame[VMSIM_RPC_MAX_FRAME];
};

enum vmsim_result vmsim_rpc_connect(const char *socket_path, struct vmsim_rpc_conn **out)
{
	if (!socket_path || !out)
		return VMSIM_INVALID_ARGUMENT;
	*out = NULL;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	size_t len = strlen(socket_path);
	if (len == 0 || len >= sizeof addr.sun_path)
		return VMSIM_INVALID_ARGUMENT;
	memcpy(addr.sun_path, socket_path, len + 1);
	struct vmsim_rpc_conn *conn = calloc(1, sizeof *conn);
	if (!conn)
		return VMSIM_OUT_OF_RAM;
	conn->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (conn->fd < 0 || connect(conn->fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
		if (conn->fd >= 0)
			close(conn->fd);
		free(conn);
		return VMSIM_BACKEND_ERROR;
	}
	conn->next_seq = 1;
	*out = conn;
	return VMSIM_OK;
}

void vmsim_rpc_disconnect(struct vmsim_rpc_conn *conn)
{
	if (!conn)
		return;
	close(conn->fd);
	free(conn);
}

enum vmsim_result vmsim_rpc_call(struct vmsim_rpc_conn *conn, struct vmsim_rpc_request *req,
                                 struct vmsim_rpc_reply *reply)
{
	if (!conn || !req || !reply)
		return VMSIM_INVALID_ARGUMENT;
	req->seq = conn->next_seq++;
	size_t len;
	enum vmsim_result r = vmsim_rpc_encode_request(req, conn->frame, sizeof conn->frame, &len);
	if (r != VMSIM_OK)
		return r;
	if (!io_write_full(conn->fd, conn->frame, len) || !io_read_full(conn->fd, conn->frame, VMSIM_RPC_HEADER_SIZE))
		return VMSIM_BACKEND_ERROR;
	if (vmsim_rpc_frame_length(conn->frame, VMSIM_RPC_HEADER_SIZE, &len) != VMSIM_OK ||
	    !io_read_full(conn->fd, conn->frame + VMSIM_RPC_HEADER_SIZE, len - VMSIM_RPC_HEADER_SIZE))
		return VMSIM_BACKEND_ERROR;
	if (vmsim_rpc_decode_reply(conn->frame, len, reply) != VMSIM_OK || reply->seq != req->seq ||
	    reply->op != req->op)
		return VMSIM_BACKEND_ERROR;
	return reply->result;
}

/* The session an op's request names, for the ops Genode's Vm_connection retries; 0 for the others. */
static uint64_t retried_session(const struct vmsim_rpc_request *req)
{
	switch (req->op) {
	case VMSIM_RPC_ATTACH: return req->u.attach.session;
	case VMSIM_RPC_ATTACH_PIC: return req->u.attach_pic.session;
	case VMSIM_RPC_VCPU_CREATE: return req->u.vcpu_create.session;
	default: return 0;
	}
}

enum vmsim_result vmsim_rpc_call_retry(struct vmsim_rpc_conn *conn, struct vmsim_rpc_request *req,
                                       struct vmsim_rpc_reply *reply, unsigned max_upgrades,
                                       struct vmsim_retry_stats *stats)
{
	struct vmsim_retry_stats local;
	if (!stats)
		stats = &local;
	*stats = (struct vmsim_retry_stats){ 0, 0, VMSIM_OK };
	if (!conn || !req || !reply)
		return VMSIM_INVALID_ARGUMENT;
	uint64_t session = retried_session(req);
	for (;;) {
		enum vmsim_result r = vmsim_rpc_call(conn, req, reply);
		if (!session || (r != VMSIM_OUT_OF_RAM && r != VMSIM_OUT_OF_CAPS) ||
		    stats->ram_upgrades + stats->cap_upgrades >= max_upgrades)
			return r;
		bool ram = r == VMSIM_OUT_OF_RAM;
		struct vmsim_rpc_request up = { .op = VMSIM_RPC_SESSION_UPGRADE };
		struct vmsim_rpc_reply up_reply;
		up.u.upgrade.session = session;
		up.u.upgrade.ram = ram ? VMSIM_RETRY_RAM : 0;
		up.u.upgrade.caps = ram ? 0 : VMSIM_RETRY_CAPS;
		enum vmsim_result u = vmsim_rpc_call(conn, &up, &up_reply);
		if (u != VMSIM_OK) {
			stats->upgrade_result = u;
			reply->result = r; /* the reply of the last attempt stays what is returned */
			return r;
		}
		if (ram)
			stats->ram_upgrades++;
		else
			stats->cap_upgrades++;
	}
}
