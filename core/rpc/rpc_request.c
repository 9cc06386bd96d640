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

/* The payload of one request opcode; false for an unknown one. */
static bool read_args(struct wire_reader *r, struct vmsim_rpc_request *q)
{
	switch (q->op) {
	case VMSIM_RPC_SESSION_OPEN:
		q->u.open.ram = wire_u64(r);
		q->u.open.caps = wire_u64(r);
		q->u.open.model = wire_u32(r);
		wire_string(r, q->u.open.label, VMSIM_RPC_MAX_LABEL);
		wire_string(r, q->u.open.backend, VMSIM_RPC_MAX_NAME);
		return true;
	case VMSIM_RPC_SESSION_UPGRADE:
		q->u.upgrade.session = wire_u64(r);
		q->u.upgrade.ram = wire_u64(r);
		q->u.upgrade.caps = wire_u64(r);
		return true;
	case VMSIM_RPC_SESSION_CLOSE:
	case VMSIM_RPC_SESSION_QUOTA:
	case VMSIM_RPC_DS_FREE:
	case VMSIM_RPC_VCPU_NATIVE:
	case VMSIM_RPC_VCPU_STATE_GET:
	case VMSIM_RPC_VCPU_PAUSE:
		q->u.object.cap = wire_u64(r);
		return true;
	case VMSIM_RPC_DS_ALLOC:
		q->u.ds_alloc.size = wire_u64(r);
		return true;
	case VMSIM_RPC_ATTACH:
		q->u.attach.session = wire_u64(r);
		q->u.attach.ds = wire_u64(r);
		q->u.attach.gpa = wire_u64(r);
		q->u.attach.offset = wire_u64(r);
		q->u.attach.size = wire_u64(r);
		q->u.attach.flags = wire_u32(r);
		if (q->u.attach.flags & ~(uint32_t)(VMSIM_RPC_ATTACH_EXECUTABLE | VMSIM_RPC_ATTACH_WRITEABLE))
			r->failed = true;
		return true;
	case VMSIM_RPC_DETACH:
		q->u.detach.session = wire_u64(r);
		q->u.detach.gpa = wire_u64(r);
		q->u.detach.size = wire_u64(r);
		return true;
	case VMSIM_RPC_ATTACH_PIC:
		q->u.attach_pic.session = wire_u64(r);
		q->u.attach_pic.gpa = wire_u64(r);
		return true;
	case VMSIM_RPC_VCPU_CREATE:
		q->u.vcpu_create.session = wire_u64(r);
		q->u.vcpu_create.exit_config = wire_u32(r);
		if (q->u.vcpu_create.exit_config > VMSIM_RPC_EXIT_CONFIG_MINIMAL)
			r->failed = true;
		return true;
	case VMSIM_RPC_VCPU_STATE_PUT:
		q->u.put.vcpu = wire_u64(r);
		q->u.put.flags = wire_u32(r);
		if (q->u.put.flags & ~(uint32_t)VMSIM_RPC_PUT_RESUME)
			r->failed = true;
		wire_state(r, &q->u.put.state);
		return true;
	case VMSIM_RPC_CLIENT_QUOTA:
		return true;
	}
	return false;
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
	if (version != VMSIM_RPC_VERSION || !read_args(&r, out))
		return VMSIM_UNSUPPORTED;
	/* short payloads fail in the reader; trailing bytes are refused here */
	if (r.failed || r.left != 0)
		return VMSIM_INVALID_ARGUMENT;
	return VMSIM_OK;
}

static bool write_args(struct wire_writer *w, const struct vmsim_rpc_request *q)
{
	switch (q->op) {
	case VMSIM_RPC_SESSION_OPEN:
		wire_put(w, q->u.open.ram, 8);
		wire_put(w, q->u.open.caps, 8);
		wire_put(w, q->u.open.model, 4);
		wire_put_string(w, q->u.open.label, VMSIM_RPC_MAX_LABEL);
		wire_put_string(w, q->u.open.backend, VMSIM_RPC_MAX_NAME);
		return true;
	case VMSIM_RPC_SESSION_UPGRADE:
		wire_put(w, q->u.upgrade.session, 8);
		wire_put(w, q->u.upgrade.ram, 8);
		wire_put(w, q->u.upgrade.caps, 8);
		return true;
	case VMSIM_RPC_SESSION_CLOSE:
	case VMSIM_RPC_SESSION_QUOTA:
	case VMSIM_RPC_DS_FREE:
	case VMSIM_RPC_VCPU_NATIVE:
	case VMSIM_RPC_VCPU_STATE_GET:
	case VMSIM_RPC_VCPU_PAUSE:
		wire_put(w, q->u.object.cap, 8);
		return true;
	case VMSIM_RPC_DS_ALLOC:
		wire_put(w, q->u.ds_alloc.size, 8);
		return true;
	case VMSIM_RPC_ATTACH:
		wire_put(w, q->u.attach.session, 8);
		wire_put(w, q->u.attach.ds, 8);
		wire_put(w, q->u.attach.gpa, 8);
		wire_put(w, q->u.attach.offset, 8);
		wire_put(w, q->u.attach.size, 8);
		wire_put(w, q->u.attach.flags, 4);
		return true;
	case VMSIM_RPC_DETACH:
		wire_put(w, q->u.detach.session, 8);
		wire_put(w, q->u.detach.gpa, 8);
		wire_put(w, q->u.detach.size, 8);
		return true;
	case VMSIM_RPC_ATTACH_PIC:
		wire_put(w, q->u.attach_pic.session, 8);
		wire_put(w, q->u.attach_pic.gpa, 8);
		return true;
	case VMSIM_RPC_VCPU_CREATE:
		wire_put(w, q->u.vcpu_create.session, 8);
		wire_put(w, q->u.vcpu_create.exit_config, 4);
		return true;
	case VMSIM_RPC_VCPU_STATE_PUT:
		wire_put(w, q->u.put.vcpu, 8);
		wire_put(w, q->u.put.flags, 4);
		wire_put_state(w, &q->u.put.state);
		return true;
	case VMSIM_RPC_CLIENT_QUOTA:
		return true;
	}
	return false;
}

enum vmsim_result vmsim_rpc_encode_request(const struct vmsim_rpc_request *req, uint8_t *buf, size_t cap,
                                           size_t *len)
{
	if (!req || !buf || !len)
		return VMSIM_INVALID_ARGUMENT;
	struct wire_writer w = {buf, cap, 0, false};
	wire_put_header(&w, req->op, req->seq);
	if (!write_args(&w, req) || !wire_finish_frame(&w, buf, len))
		return VMSIM_INVALID_ARGUMENT;
	return VMSIM_OK;
}
