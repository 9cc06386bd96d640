/*
 * core/rpc/rpc_ops.c - every opcode's payload, described once for both directions and tabled from
 * VMSIM_RPC_OP_LIST (api/include/vmsim/rpc.h): an opcode added there without its args_/out_ pair does not compile.
 * The byte layout is docs/rpc.md's; the field order below is the wire order.
 */
#include "rpc_wire.h"

/* ---- request arguments ---- */

static void args_SESSION_OPEN(struct wire_codec *c, struct vmsim_rpc_request *q)
{
	wire_f64(c, &q->u.open.ram);
	wire_f64(c, &q->u.open.caps);
	wire_f32(c, &q->u.open.model);
	wire_fstring(c, q->u.open.label, VMSIM_RPC_MAX_LABEL);
	wire_fstring(c, q->u.open.backend, VMSIM_RPC_MAX_NAME);
}

static void args_SESSION_UPGRADE(struct wire_codec *c, struct vmsim_rpc_request *q)
{
	wire_f64(c, &q->u.upgrade.session);
	wire_f64(c, &q->u.upgrade.ram);
	wire_f64(c, &q->u.upgrade.caps);
}

/* SESSION_CLOSE/QUOTA: a session; DS_FREE: a dataspace; VCPU_NATIVE/STATE_GET/PAUSE: a vCPU. */
static void args_object(struct wire_codec *c, struct vmsim_rpc_request *q)
{
	wire_f64(c, &q->u.object.cap);
}
#define args_SESSION_CLOSE args_object
#define args_SESSION_QUOTA args_object
#define args_DS_FREE args_object
#define args_VCPU_NATIVE args_object
#define args_VCPU_STATE_GET args_object
#define args_VCPU_PAUSE args_object

static void args_DS_ALLOC(struct wire_codec *c, struct vmsim_rpc_request *q)
{
	wire_f64(c, &q->u.ds_alloc.size);
}

static void args_ATTACH(struct wire_codec *c, struct vmsim_rpc_request *q)
{
	wire_f64(c, &q->u.attach.session);
	wire_f64(c, &q->u.attach.ds);
	wire_f64(c, &q->u.attach.gpa);
	wire_f64(c, &q->u.attach.offset);
	wire_f64(c, &q->u.attach.size);
	wire_f32(c, &q->u.attach.flags);
	wire_refuse_if(c, q->u.attach.flags & ~(uint32_t)(VMSIM_RPC_ATTACH_EXECUTABLE | VMSIM_RPC_ATTACH_WRITEABLE));
}

static void args_DETACH(struct wire_codec *c, struct vmsim_rpc_request *q)
{
	wire_f64(c, &q->u.detach.session);
	wire_f64(c, &q->u.detach.gpa);
	wire_f64(c, &q->u.detach.size);
}

static void args_ATTACH_PIC(struct wire_codec *c, struct vmsim_rpc_request *q)
{
	wire_f64(c, &q->u.attach_pic.session);
	wire_f64(c, &q->u.attach_pic.gpa);
}

static void args_VCPU_CREATE(struct wire_codec *c, struct vmsim_rpc_request *q)
{
	wire_f64(c, &q->u.vcpu_create.session);
	wire_f32(c, &q->u.vcpu_create.exit_config);
	wire_refuse_if(c, q->u.vcpu_create.exit_config > VMSIM_RPC_EXIT_CONFIG_MINIMAL);
}

static void args_VCPU_STATE_PUT(struct wire_codec *c, struct vmsim_rpc_request *q)
{
	wire_f64(c, &q->u.put.vcpu);
	wire_f32(c, &q->u.put.flags);
	wire_refuse_if(c, q->u.put.flags & ~(uint32_t)VMSIM_RPC_PUT_RESUME);
	wire_fstate(c, &q->u.put.state);
}

/* No payload (CLIENT_QUOTA's arguments; the outputs of the calls that only return a result). */
static void args_none(struct wire_codec *c, struct vmsim_rpc_request *q)
{
	(void)c;
	(void)q;
}
#define args_CLIENT_QUOTA args_none

/* ---- reply outputs (on the wire only after an OK result) ---- */

static void out_none(struct wire_codec *c, struct vmsim_rpc_reply *p)
{
	(void)c;
	(void)p;
}

static void out_cap(struct wire_codec *c, struct vmsim_rpc_reply *p)
{
	wire_f64(c, &p->u.cap);
}
#define out_SESSION_OPEN out_cap
#define out_DS_ALLOC out_cap

static void out_range(struct wire_codec *c, struct vmsim_rpc_reply *p)
{
	wire_f64(c, &p->u.range.start);
	wire_f64(c, &p->u.range.num_bytes);
}
#define out_ATTACH out_range
#define out_ATTACH_PIC out_range

static void out_quota(struct wire_codec *c, struct vmsim_rpc_reply *p)
{
	wire_f64(c, &p->u.quota.ram_limit);
	wire_f64(c, &p->u.quota.ram_used);
	wire_f64(c, &p->u.quota.cap_limit);
	wire_f64(c, &p->u.quota.cap_used);
}
#define out_SESSION_QUOTA out_quota
#define out_CLIENT_QUOTA out_quota

static void out_VCPU_CREATE(struct wire_codec *c, struct vmsim_rpc_reply *p)
{
	wire_f64(c, &p->u.vcpu.cap);
	wire_f32(c, &p->u.vcpu.id);
}

static void out_VCPU_NATIVE(struct wire_codec *c, struct vmsim_rpc_reply *p)
{
	wire_fstring(c, p->u.native.backend, VMSIM_RPC_MAX_NAME);
	uint32_t fd = (uint32_t)p->u.native.fd;
	wire_f32(c, &fd);
	wire_f64(c, &p->u.native.run_area_size);
	uint8_t engine = p->u.native.has_engine;
	wire_f8(c, &engine);
	wire_refuse_if(c, engine > 1);
	if (c->r) {
		p->u.native.fd = (int32_t)fd;
		p->u.native.has_engine = engine;
	}
}

static void out_VCPU_STATE_GET(struct wire_codec *c, struct vmsim_rpc_reply *p)
{
	wire_fstate(c, &p->u.state);
}

#define out_SESSION_UPGRADE out_none
#define out_SESSION_CLOSE out_none
#define out_DS_FREE out_none
#define out_DETACH out_none
#define out_VCPU_STATE_PUT out_none
#define out_VCPU_PAUSE out_none

/* ---- the table ---- */

static const struct {
	void (*args)(struct wire_codec *c, struct vmsim_rpc_request *q);
	void (*out)(struct wire_codec *c, struct vmsim_rpc_reply *p);
} ops[VMSIM_RPC_OP_END] = {
#define OP_ENTRY_(name, value) [value] = { args_##name, out_##name },
	VMSIM_RPC_OP_LIST(OP_ENTRY_)
#undef OP_ENTRY_
};

bool rpc_op_args(struct wire_codec *c, struct vmsim_rpc_request *q)
{
	if (q->op >= VMSIM_RPC_OP_END || !ops[q->op].args)
		return false;
	ops[q->op].args(c, q);
	return true;
}

bool rpc_op_outputs(struct wire_codec *c, struct vmsim_rpc_reply *p)
{
	if (p->op >= VMSIM_RPC_OP_END || !ops[p->op].out)
		return false;
	ops[p->op].out(c, p);
	return true;
}
