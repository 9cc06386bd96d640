/* core/rpc/rpc_reply.c - reply frames: a result, then the opcode's outputs only when it is OK. */
#include "rpc_wire.h"

static void read_quota(struct wire_reader *r, struct vmsim_quota *q)
{
	q->ram_limit = wire_u64(r);
	q->ram_used = wire_u64(r);
	q->cap_limit = wire_u64(r);
	q->cap_used = wire_u64(r);
}

static void put_quota(struct wire_writer *w, const struct vmsim_quota *q)
{
	wire_put(w, q->ram_limit, 8);
	wire_put(w, q->ram_used, 8);
	wire_put(w, q->cap_limit, 8);
	wire_put(w, q->cap_used, 8);
}

/* Outputs of a successful call; false for an unknown opcode. */
static bool read_outputs(struct wire_reader *r, struct vmsim_rpc_reply *p)
{
	switch (p->op) {
	case VMSIM_RPC_SESSION_OPEN:
	case VMSIM_RPC_DS_ALLOC:
		p->u.cap = wire_u64(r);
		return true;
	case VMSIM_RPC_ATTACH:
	case VMSIM_RPC_ATTACH_PIC:
		p->u.range.start = wire_u64(r);
		p->u.range.num_bytes = wire_u64(r);
		return true;
	case VMSIM_RPC_SESSION_QUOTA:
	case VMSIM_RPC_CLIENT_QUOTA:
		read_quota(r, &p->u.quota);
		return true;
	case VMSIM_RPC_VCPU_CREATE:
		p->u.vcpu.cap = wire_u64(r);
		p->u.vcpu.id = wire_u32(r);
		return true;
	case VMSIM_RPC_VCPU_NATIVE: {
		wire_string(r, p->u.native.backend, VMSIM_RPC_MAX_NAME);
		p->u.native.fd = (int32_t)wire_u32(r);
		p->u.native.run_area_size = wire_u64(r);
		uint8_t engine = wire_u8(r);
		if (engine > 1)
			r->failed = true;
		p->u.native.has_engine = engine;
		return true;
	}
	case VMSIM_RPC_VCPU_STATE_GET:
		wire_state(r, &p->u.state);
		return true;
	case VMSIM_RPC_SESSION_UPGRADE:
	case VMSIM_RPC_SESSION_CLOSE:
	case VMSIM_RPC_DS_FREE:
	case VMSIM_RPC_DETACH:
	case VMSIM_RPC_VCPU_STATE_PUT:
	case VMSIM_RPC_VCPU_PAUSE:
		return true;
	}
	return false;
}

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
	if (out->result == VMSIM_OK && !read_outputs(&r, out))
		return VMSIM_UNSUPPORTED;
	if (r.failed || r.left != 0)
		return VMSIM_INVALID_ARGUMENT;
	return VMSIM_OK;
}

static bool write_outputs(struct wire_writer *w, const struct vmsim_rpc_reply *p)
{
	switch (p->op) {
	case VMSIM_RPC_SESSION_OPEN:
	case VMSIM_RPC_DS_ALLOC:
		wire_put(w, p->u.cap, 8);
		return true;
	case VMSIM_RPC_ATTACH:
	case VMSIM_RPC_ATTACH_PIC:
		wire_put(w, p->u.range.start, 8);
		wire_put(w, p->u.range.num_bytes, 8);
		return true;
	case VMSIM_RPC_SESSION_QUOTA:
	case VMSIM_RPC_CLIENT_QUOTA:
		put_quota(w, &p->u.quota);
		return true;
	case VMSIM_RPC_VCPU_CREATE:
		wire_put(w, p->u.vcpu.cap, 8);
		wire_put(w, p->u.vcpu.id, 4);
		return true;
	case VMSIM_RPC_VCPU_NATIVE:
		wire_put_string(w, p->u.native.backend, VMSIM_RPC_MAX_NAME);
		wire_put(w, (uint32_t)p->u.native.fd, 4);
		wire_put(w, p->u.native.run_area_size, 8);
		wire_put(w, p->u.native.has_engine, 1);
		return true;
	case VMSIM_RPC_VCPU_STATE_GET:
		wire_put_state(w, &p->u.state);
		return true;
	case VMSIM_RPC_SESSION_UPGRADE:
	case VMSIM_RPC_SESSION_CLOSE:
	case VMSIM_RPC_DS_FREE:
	case VMSIM_RPC_DETACH:
	case VMSIM_RPC_VCPU_STATE_PUT:
	case VMSIM_RPC_VCPU_PAUSE:
		return true;
	}
	return false;
}

enum vmsim_result vmsim_rpc_encode_reply(const struct vmsim_rpc_reply *reply, uint8_t *buf, size_t cap, size_t *len)
{
	if (!reply || !buf || !len || (unsigned)reply->result >= VMSIM_RESULT_COUNT ||
	    (reply->op & VMSIM_RPC_REPLY_BIT))
		return VMSIM_INVALID_ARGUMENT;
	struct wire_writer w = {buf, cap, 0, false};
	wire_put_header(&w, reply->op | VMSIM_RPC_REPLY_BIT, reply->seq);
	wire_put(&w, (uint32_t)reply->result, 4);
	if (reply->result == VMSIM_OK && !write_outputs(&w, reply))
		return VMSIM_INVALID_ARGUMENT;
	if (!wire_finish_frame(&w, buf, len))
		return VMSIM_INVALID_ARGUMENT;
	return VMSIM_OK;
}
