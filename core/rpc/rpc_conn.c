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
