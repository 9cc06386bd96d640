/* core/rpc/rpc_reply.c - reply frames: a result, then the opcode's outputs only when it is OK. */
#include "rpc_wire.h"

enum vmsim_result vmsim_rpc_decode_reply(const uint8_t *buf, size_t len, struct vmsim_rpc_reply *out)
{
	if (!buf || !out || len < VMSIM_RPC_HEADER_SIZE)
		return VMSIM_INVALID_ARGUMENT;
	memset(out, 0, sizeof *out);
	struct wire_reader r = {buf, len, false};
	uint32_t payload = wire_u32(&r);
	uint16_t version = wire_u16(&r);
	uint16_t op = wire_u16(&r);
	out->seq = wire_u32(&r);
	out->op = op & (uint16_t)~VMSIM_RPC_REPLY_BIT;
	if (payload > VMSIM_RPC_MAX_PAYLOAD || payload != len - VMSIM_RPC_HEADER_SIZE || !(op & VMSIM_RPC_REPLY_BIT))
		return VMSIM_INVALID_ARGUMENT;
	if (version != VMSIM_RPC_VERSION)
		return VMSIM_UNSUPPORTED;
	uint32_t result = wire_u32(&r);
	if (r.failed || result >= VMSIM_RESULT_COUNT)
		return VMSIM_INVALID_ARGUMENT;
	out->result = (enum vmsim_result)result;
	/* an error reply may answer an opcode the server did not know: it carries no outputs */
	struct wire_codec c = {&r, NULL};
	if (out->result == VMSIM_OK && !rpc_op_outputs(&c, out))
		return VMSIM_UNSUPPORTED;
	if (r.failed || r.left != 0)
		return VMSIM_INVALID_ARGUMENT;
	return VMSIM_OK;
}

enum vmsim_result vmsim_rpc_encode_reply(const struct vmsim_rpc_reply *reply, uint8_t *buf, size_t cap, size_t *len)
{
	if (!reply || !buf || !len || (unsigned)reply->result >= VMSIM_RESULT_COUNT ||
	    (reply->op & VMSIM_RPC_REPLY_BIT))
		return VMSIM_INVALID_ARGUMENT;
	struct wire_writer w = {buf, cap, 0, false};
	wire_put_header(&w, reply->op | VMSIM_RPC_REPLY_BIT, reply->seq);
	wire_put(&w, (uint32_t)reply->result, 4);
	/* the codec only reads the reply when it encodes */
	struct wire_codec c = {NULL, &w};
	if (reply->result == VMSIM_OK && !rpc_op_outputs(&c, (struct vmsim_rpc_reply *)reply))
		return VMSIM_INVALID_ARGUMENT;
	if (!wire_finish_frame(&w, buf, len))
		return VMSIM_INVALID_ARGUMENT;
	return VMSIM_OK;
}
