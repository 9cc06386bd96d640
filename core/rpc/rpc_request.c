/* core/rpc/rpc_request.c - request frames: strict decoder and its exact inverse, the encoder. */
#include "rpc_wire.h"

const char *vmsim_rpc_op_name(uint16_t op)
{
	switch (op) {
#define OP_NAME_(name, value) \
	case value:           \
		return #name;
		VMSIM_RPC_OP_LIST(OP_NAME_)
#undef OP_NAME_
	}
	return NULL;
}

enum vmsim_result vmsim_rpc_frame_length(const uint8_t *buf, size_t avail, size_t *frame_len)
{
	if (!buf || !frame_len || avail < VMSIM_RPC_HEADER_SIZE)
		return VMSIM_INVALID_ARGUMENT;
	struct wire_reader r = {buf, avail, false};
	uint32_t payload = wire_u32(&r);
	if (payload > VMSIM_RPC_MAX_PAYLOAD)
		return VMSIM_DENIED;
	*frame_len = VMSIM_RPC_HEADER_SIZE + (size_t)payload;
	return VMSIM_OK;
}

enum vmsim_result vmsim_rpc_decode_request(const uint8_t *buf, size_t len, struct vmsim_rpc_request *out)
{
	if (!buf || !out || len < VMSIM_RPC_HEADER_SIZE)
		return VMSIM_INVALID_ARGUMENT;
	memset(out, 0, sizeof *out);
	struct wire_reader r = {buf, len, false};
	uint32_t payload = wire_u32(&r);
	uint16_t version = wire_u16(&r);
	out->op = wire_u16(&r);
	out->seq = wire_u32(&r);
	if (payload > VMSIM_RPC_MAX_PAYLOAD || payload != len - VMSIM_RPC_HEADER_SIZE)
		return VMSIM_INVALID_ARGUMENT;
	struct wire_codec c = {&r, NULL};
	if (version != VMSIM_RPC_VERSION || !rpc_op_args(&c, out))
		return VMSIM_UNSUPPORTED;
	/* short payloads fail in the reader; trailing bytes are refused here */
	if (r.failed || r.left != 0)
		return VMSIM_INVALID_ARGUMENT;
	return VMSIM_OK;
}

enum vmsim_result vmsim_rpc_encode_request(const struct vmsim_rpc_request *req, uint8_t *buf, size_t cap,
                                           size_t *len)
{
	if (!req || !buf || !len)
		return VMSIM_INVALID_ARGUMENT;
	struct wire_writer w = {buf, cap, 0, false};
	wire_put_header(&w, req->op, req->seq);
	/* the codec only reads the request when it encodes */
	struct wire_codec c = {NULL, &w};
	if (!rpc_op_args(&c, (struct vmsim_rpc_request *)req) || !wire_finish_frame(&w, buf, len))
		return VMSIM_INVALID_ARGUMENT;
	return VMSIM_OK;
}
