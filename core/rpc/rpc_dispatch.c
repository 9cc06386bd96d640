/* core/rpc/rpc_dispatch.c - the dispatcher: a decoded request executed in one client's capability space. */
#include <stdio.h>
#include <string.h>

#include "rpc_client.h"

static struct client_session *session_of(struct vmsim_rpc_client *client, uint64_t cap)
{
	return cap_table_lookup(&client->space, cap, CAP_KIND_SESSION);
}

static struct client_vcpu *vcpu_of(struct vmsim_rpc_client *client, uint64_t cap)
{
	return cap_table_lookup(&client->space, cap, CAP_KIND_VCPU);
}

/* Take ram and caps from the client's budget (RAM checked first, as everywhere); nothing on failure. */
static enum vmsim_result budget_charge(struct vmsim_rpc_client *client, uint64_t ram, uint64_t caps)
{
	if (!quota_withdraw(&client->ram, ram))
		return VMSIM_OUT_OF_RAM;
	if (!quota_withdraw(&client->caps, caps)) {
		quota_replenish(&client->ram, ram);
		return VMSIM_OUT_OF_CAPS;
	}
	return VMSIM_OK;
}

static void budget_refund(struct vmsim_rpc_client *client, uint64_t ram, uint64_t caps)
{
	quota_replenish(&client->ram, ram);
	quota_replenish(&client->caps, caps);
}

static enum vmsim_result do_open(struct vmsim_rpc_client *client, const struct vmsim_rpc_request *q,
                                 struct vmsim_rpc_reply *p)
{
	enum vmsim_result r = budget_charge(client, q->u.open.ram, q->u.open.caps);
	if (r != VMSIM_OK)
		return r;
	struct client_session *cs = vmsim_env_alloc(client->env, sizeof *cs);
	if (!cs) {
		r = VMSIM_OUT_OF_RAM;
		goto refund;
	}
	r = cap_table_insert(client->env, &client->space, CAP_KIND_SESSION, cs, &cs->cap);
	if (r != VMSIM_OK)
		goto free_record;
	/* the VM's host cost (fds, backend memory) as its backend declares it, from the same budget */
	cs->backend = vmsim_env_backend(client->env, q->u.open.backend);
	cs->host = host_vm_cost(cs->backend);
	if ((r = client_host_take(client, &cs->host)) != VMSIM_OK)
		goto remove_cap;
	struct vmsim_session_args args = {.ram_quota = q->u.open.ram, .cap_quota = q->u.open.caps, .label = q->u.open.label,
	                                  .backend = q->u.open.backend, .model = (enum vmsim_model)q->u.open.model,
	                                  .log = client->log, .log_ctx = client->log_ctx};
	r = vmsim_session_open(client->env, &args, &cs->session);
	if (r != VMSIM_OK)
		goto give_host;
	cs->donated_ram = q->u.open.ram;
	cs->donated_caps = q->u.open.caps;
	CLIENT_LINK(client->sessions, cs);
	p->u.cap = cs->cap;
	return VMSIM_OK;

give_host:
	client_host_give(client, &cs->host);
remove_cap:
	cap_table_remove(&client->space, cs->cap);
free_record:
	vmsim_env_free(client->env, cs, sizeof *cs);
refund:
	budget_refund(client, q->u.open.ram, q->u.open.caps);
	return r;
}

static enum vmsim_result do_upgrade(struct vmsim_rpc_client *client, const struct vmsim_rpc_request *q)
{
	struct client_session *cs = session_of(client, q->u.upgrade.session);
	if (!cs)
		return VMSIM_INVALID_CAP;
	enum vmsim_result r = budget_charge(client, q->u.upgrade.ram, q->u.upgrade.caps);
	if (r != VMSIM_OK)
		return r;
	r = vmsim_session_upgrade(cs->session, q->u.upgrade.ram, q->u.upgrade.caps);
	if (r != VMSIM_OK) {
		budget_refund(client, q->u.upgrade.ram, q->u.upgrade.caps);
		return r;
	}
	cs->donated_ram += q->u.upgrade.ram;
	cs->donated_caps += q->u.upgrade.caps;
	return VMSIM_OK;
}

static enum vmsim_result do_ds_alloc(struct vmsim_rpc_client *client, uint64_t size, struct vmsim_rpc_reply *p)
{
	/* the same refusals as vmsim_ds_alloc, made before the client's budget is touched */
	if (size == 0)
		return VMSIM_INVALID_ARGUMENT;
	if (size > UINT64_MAX - VMSIM_PAGE_SIZE)
		return VMSIM_OUT_OF_RAM;
	uint64_t rounded = (size + VMSIM_PAGE_SIZE - 1) & ~(uint64_t)(VMSIM_PAGE_SIZE - 1);
	enum vmsim_result r = budget_charge(client, rounded, VMSIM_COST_DATASPACE_CAPS);
	if (r != VMSIM_OK)
		return r;
	struct client_ds *cd = vmsim_env_alloc(client->env, sizeof *cd);
	if (!cd) {
		r = VMSIM_OUT_OF_RAM;
		goto refund;
	}
	r = cap_table_insert(client->env, &client->space, CAP_KIND_DATASPACE, cd, &cd->cap);
	if (r != VMSIM_OK)
		goto free_record;
	r = vmsim_ds_alloc(client->env, size, &cd->ds);
	if (r != VMSIM_OK)
		goto remove_cap;
	cd->size = rounded;
	uint64_t charged = 0;
	if (!RPC_ALWAYS(vmsim_ds_size(client->env, cd->ds, &charged) == VMSIM_OK && charged == rounded))
		vmsim_env_log(client->env, VMSIM_LOG_ERROR, "rpc: a dataspace's size differs from what its client paid");
	CLIENT_LINK(client->dataspaces, cd);
	p->u.cap = cd->cap;
	return VMSIM_OK;

remove_cap:
	cap_table_remove(&client->space, cd->cap);
free_record:
	vmsim_env_free(client->env, cd, sizeof *cd);
refund:
	budget_refund(client, rounded, VMSIM_COST_DATASPACE_CAPS);
	return r;
}

static enum vmsim_result do_attach(struct vmsim_rpc_client *client, const struct vmsim_rpc_request *q,
                                   struct vmsim_rpc_reply *p)
{
	struct client_session *cs = session_of(client, q->u.attach.session);
	if (!cs)
		return VMSIM_INVALID_CAP;
	/* a dataspace the client cannot name is Genode's INVALID_DATASPACE, decided by core's order */
	struct client_ds *cd = cap_table_lookup(&client->space, q->u.attach.ds, CAP_KIND_DATASPACE);
	struct vmsim_attach_attr attr = {
		.offset = q->u.attach.offset,
		.size = q->u.attach.size,
		.executable = q->u.attach.flags & VMSIM_RPC_ATTACH_EXECUTABLE,
		.writeable = q->u.attach.flags & VMSIM_RPC_ATTACH_WRITEABLE,
	};
	return vmsim_session_attach(cs->session, cd ? cd->ds : VMSIM_DS_CAP_INVALID, q->u.attach.gpa, &attr,
	                            &p->u.range);
}

static enum vmsim_result do_native(struct vmsim_rpc_client *client, uint64_t cap, struct vmsim_rpc_reply *p)
{
	struct client_vcpu *cv = vcpu_of(client, cap);
	if (!cv)
		return VMSIM_INVALID_CAP;
	struct vmsim_native_vcpu native = {0};
	enum vmsim_result r = vmsim_vcpu_native(cv->vcpu, &native);
	if (r != VMSIM_OK)
		return r;
	snprintf(p->u.native.backend, sizeof p->u.native.backend, "%s", native.backend ? native.backend : "");
	p->u.native.fd = native.fd;
	p->u.native.run_area_size = native.run_area_size;
	p->u.native.has_engine = native.engine != NULL;
	return VMSIM_OK;
}

/* ---- one handler per opcode, tabled from VMSIM_RPC_OP_LIST below ---- */

#define HANDLER_(name)                                                                                      \
	static enum vmsim_result on_##name(struct vmsim_rpc_client *client, const struct vmsim_rpc_request *q, \
	                                   struct vmsim_rpc_reply *p)

HANDLER_(SESSION_OPEN)
{
	return do_open(client, q, p);
}

HANDLER_(SESSION_UPGRADE)
{
	(void)p;
	return do_upgrade(client, q);
}

HANDLER_(SESSION_CLOSE)
{
	(void)p;
	struct client_session *cs = session_of(client, q->u.object.cap);
	if (!cs)
		return VMSIM_INVALID_CAP;
	client_close_session(client, cs);
	return VMSIM_OK;
}

HANDLER_(SESSION_QUOTA)
{
	struct client_session *cs = session_of(client, q->u.object.cap);
	if (!cs)
		return VMSIM_INVALID_CAP;
	vmsim_session_quota(cs->session, &p->u.quota);
	return VMSIM_OK;
}

HANDLER_(DS_ALLOC)
{
	return do_ds_alloc(client, q->u.ds_alloc.size, p);
}

HANDLER_(DS_FREE)
{
	(void)p;
	struct client_ds *cd = cap_table_lookup(&client->space, q->u.object.cap, CAP_KIND_DATASPACE);
	if (!cd)
		return VMSIM_INVALID_CAP;
	client_free_ds(client, cd);
	return VMSIM_OK;
}

HANDLER_(ATTACH)
{
	return do_attach(client, q, p);
}

HANDLER_(DETACH)
{
	(void)p;
	struct client_session *cs = session_of(client, q->u.detach.session);
	if (!cs)
		return VMSIM_INVALID_CAP;
	return vmsim_session_detach(cs->session, q->u.detach.gpa, q->u.detach.size);
}

HANDLER_(ATTACH_PIC)
{
	struct client_session *cs = session_of(client, q->u.attach_pic.session);
	if (!cs)
		return VMSIM_INVALID_CAP;
	return vmsim_session_attach_pic(cs->session, q->u.attach_pic.gpa, &p->u.range);
}

HANDLER_(VCPU_CREATE)
{
	struct client_session *cs = session_of(client, q->u.vcpu_create.session);
	if (!cs)
		return VMSIM_INVALID_CAP;
	return client_vcpu_create(client, cs, q->u.vcpu_create.exit_config, p);
}

HANDLER_(VCPU_NATIVE)
{
	return do_native(client, q->u.object.cap, p);
}

HANDLER_(VCPU_STATE_GET)
{
	struct client_vcpu *cv = vcpu_of(client, q->u.object.cap);
	if (!cv)
		return VMSIM_INVALID_CAP;
	return client_vcpu_state_get(client, cv, &p->u.state);
}

HANDLER_(VCPU_STATE_PUT)
{
	(void)p;
	struct client_vcpu *cv = vcpu_of(client, q->u.put.vcpu);
	if (!cv)
		return VMSIM_INVALID_CAP;
	return client_vcpu_state_put(client, cv, &q->u.put.state, q->u.put.flags & VMSIM_RPC_PUT_RESUME);
}

HANDLER_(VCPU_PAUSE)
{
	(void)p;
	struct client_vcpu *cv = vcpu_of(client, q->u.object.cap);
	if (!cv)
		return VMSIM_INVALID_CAP;
	return vmsim_vcpu_pause(cv->vcpu);
}

HANDLER_(CLIENT_QUOTA)
{
	(void)q;
	vmsim_rpc_client_quota(client, &p->u.quota);
	return VMSIM_OK;
}
#undef HANDLER_

/* An opcode in VMSIM_RPC_OP_LIST without its on_ handler does not compile. */
static enum vmsim_result (*const handlers[VMSIM_RPC_OP_END])(struct vmsim_rpc_client *client,
                                                             const struct vmsim_rpc_request *q,
                                                             struct vmsim_rpc_reply *p) = {
#define HANDLER_ENTRY_(name, value) [value] = on_##name,
	VMSIM_RPC_OP_LIST(HANDLER_ENTRY_)
#undef HANDLER_ENTRY_
};

static enum vmsim_result dispatch(struct vmsim_rpc_client *client, const struct vmsim_rpc_request *q,
                                  struct vmsim_rpc_reply *p)
{
	if (q->op >= VMSIM_RPC_OP_END || !handlers[q->op])
		return VMSIM_UNSUPPORTED;
	return handlers[q->op](client, q, p);
}

void vmsim_rpc_client_dispatch(struct vmsim_rpc_client *client, const struct vmsim_rpc_request *req,
                               struct vmsim_rpc_reply *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof *out);
	if (!req) {
		out->result = VMSIM_INVALID_ARGUMENT;
		return;
	}
	out->op = req->op & (uint16_t)~VMSIM_RPC_REPLY_BIT;
	out->seq = req->seq;
	out->result = client ? dispatch(client, req, out) : VMSIM_INVALID_ARGUMENT;
	if (out->result != VMSIM_OK)
		memset(&out->u, 0, sizeof out->u);
}

enum vmsim_result vmsim_rpc_client_handle(struct vmsim_rpc_client *client, const uint8_t *frame, size_t len,
                                          uint8_t *reply, size_t *reply_len)
{
	if (!client || !frame || !reply || !reply_len)
		return VMSIM_INVALID_ARGUMENT;
	*reply_len = 0;
	/* both are big (Vcpu_state carries the FPU area); the env allocator keeps them off the stack */
	struct vmsim_rpc_request *q = vmsim_env_alloc(client->env, sizeof *q);
	struct vmsim_rpc_reply *p = vmsim_env_alloc(client->env, sizeof *p);
	enum vmsim_result r = VMSIM_OUT_OF_RAM;
	if (!q || !p) {
		/* still answer: the header tells whom */
		struct vmsim_rpc_reply small = {.result = r};
		if (len >= VMSIM_RPC_HEADER_SIZE) {
			small.op = (uint16_t)(frame[6] | frame[7] << 8) & (uint16_t)~VMSIM_RPC_REPLY_BIT;
			small.seq = (uint32_t)frame[8] | (uint32_t)frame[9] << 8 | (uint32_t)frame[10] << 16 |
			            (uint32_t)frame[11] << 24;
		}
		if (vmsim_rpc_encode_reply(&small, reply, VMSIM_RPC_MAX_FRAME, reply_len) != VMSIM_OK)
			*reply_len = 0;
		goto out;
	}
	r = vmsim_rpc_decode_request(frame, len, q);
	if (r == VMSIM_OK) {
		vmsim_rpc_client_dispatch(client, q, p);
	} else {
		memset(p, 0, sizeof *p);
		p->op = q->op & (uint16_t)~VMSIM_RPC_REPLY_BIT;
		p->seq = q->seq;
		p->result = r;
	}
	r = p->result;
	if (RPC_NEVER(vmsim_rpc_encode_reply(p, reply, VMSIM_RPC_MAX_FRAME, reply_len) != VMSIM_OK)) {
		/* every result encodes without outputs: answer that way */
		p->result = r = VMSIM_INVALID_ARGUMENT;
		memset(&p->u, 0, sizeof p->u);
		if (vmsim_rpc_encode_reply(p, reply, VMSIM_RPC_MAX_FRAME, reply_len) != VMSIM_OK)
			*reply_len = 0;
	}
out:
	if (q)
		vmsim_env_free(client->env, q, sizeof *q);
	if (p)
		vmsim_env_free(client->env, p, sizeof *p);
	return r;
}
