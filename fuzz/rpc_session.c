/* fuzz/rpc_session.c - a byte stream as a sequence of RPCs on a live core, with the invariants checked after each. */
#include <string.h>

#include <vmsim/backends.h>
#include <vmsim/vmsim.h>
#include <vmsim/rpc.h>

#include "fuzz_target.h"
#include "inspect.h" /* the client's records: the invariants look inside (test-only, core/testing) */

/*
 * Input: a sequence of calls. Each starts with an opcode byte (>= 0xf8 arms the
 * env's allocation-failure hook for the next call instead); arguments follow in
 * compact forms (see the arg_* readers) so that short inputs reach deep states.
 * Capability arguments mostly pick one of the caps replies returned so far,
 * stale ones included.
 */
enum { MAX_CALLS = 48, MAX_CAPS = 64, MAX_VCPUS = 2 };

struct stream {
	const uint8_t *p;
	size_t left;
};

struct run {
	struct vmsim_env *env;
	struct vmsim_rpc_client *client;
	uint64_t caps[MAX_CAPS];
	unsigned cap_count;
	unsigned vcpus_made;
	uint32_t seq;
};

static uint64_t take(struct stream *s, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n && s->left; i++, s->p++, s->left--)
		v |= (uint64_t)*s->p << (8 * i);
	return v;
}

static uint64_t arg_cap(struct run *run, struct stream *s)
{
	uint8_t b = (uint8_t)take(s, 1);
	if (b >= 0xf0)
		return b == 0xff ? 0 : take(s, 8); /* forged */
	return run->cap_count ? run->caps[b % run->cap_count] : b;
}

static uint64_t arg_size(struct stream *s)
{
	uint8_t b = (uint8_t)take(s, 1);
	switch (b >> 6) {
	case 0: return (uint64_t)(b & 63) * 4096;         /* pages, 0 included */
	case 1: return (uint64_t)(b & 63) << 20;          /* MiB */
	case 2: return take(s, 2);                        /* unaligned small */
	default: return take(s, 8);                       /* anything */
	}
}

static uint64_t arg_gpa(struct stream *s)
{
	uint8_t b = (uint8_t)take(s, 1);
	switch (b >> 6) {
	case 0: return (uint64_t)(b & 63) << 12;
	case 1: return ((uint64_t)(b & 63) << 30) - 4096 * (take(s, 1) & 7); /* around 1 GiB boundaries */
	case 2: return (UINT64_C(1) << 48) - ((uint64_t)(b & 63) << 12);     /* the top of the guest space */
	default: return take(s, 8);
	}
}

static void build_request(struct run *run, struct stream *s, uint16_t op, struct vmsim_rpc_request *q)
{
	memset(q, 0, sizeof *q);
	q->op = op;
	q->seq = ++run->seq;
	switch (op) {
	case VMSIM_RPC_SESSION_OPEN:
		q->u.open.ram = arg_size(s) + VMSIM_COST_SESSION_RAM * (take(s, 1) & 1);
		q->u.open.caps = take(s, 1) % 16;
		q->u.open.model = take(s, 1) % 4;
		strcpy(q->u.open.label, "fuzz");
		strcpy(q->u.open.backend, take(s, 1) & 7 ? "null" : "none");
		break;
	case VMSIM_RPC_SESSION_UPGRADE:
		q->u.upgrade.session = arg_cap(run, s);
		q->u.upgrade.ram = arg_size(s);
		q->u.upgrade.caps = take(s, 1) % 8;
		break;
	case VMSIM_RPC_DS_ALLOC:
		q->u.ds_alloc.size = arg_size(s);
		break;
	case VMSIM_RPC_ATTACH:
		q->u.attach.session = arg_cap(run, s);
		q->u.attach.ds = arg_cap(run, s);
		q->u.attach.gpa = arg_gpa(s);
		q->u.attach.offset = arg_size(s);
		q->u.attach.size = arg_size(s);
		q->u.attach.flags = take(s, 1) & 3;
		break;
	case VMSIM_RPC_DETACH:
		q->u.detach.session = arg_cap(run, s);
		q->u.detach.gpa = arg_gpa(s);
		q->u.detach.size = arg_size(s);
		break;
	case VMSIM_RPC_ATTACH_PIC:
		q->u.attach_pic.session = arg_cap(run, s);
		q->u.attach_pic.gpa = arg_gpa(s);
		break;
	case VMSIM_RPC_VCPU_CREATE:
		q->u.vcpu_create.session = arg_cap(run, s);
		q->u.vcpu_create.exit_config = take(s, 1) & 1;
		break;
	case VMSIM_RPC_VCPU_STATE_PUT:
		q->u.put.vcpu = arg_cap(run, s);
		q->u.put.flags = take(s, 1) & 1;
		vmsim_charge(&q->u.put.state, ax, take(s, 8));
		if (take(s, 1) & 1)
			vmsim_charge(&q->u.put.state, cr0, take(s, 8));
		if (take(s, 1) & 1)
			vmsim_charge(&q->u.put.state, inj_info, take(s, 4));
		break;
	case VMSIM_RPC_CLIENT_QUOTA:
		break;
	default: /* SESSION_CLOSE, SESSION_QUOTA, DS_FREE, VCPU_NATIVE, VCPU_STATE_GET, VCPU_PAUSE */
		q->u.object.cap = arg_cap(run, s);
		break;
	}
}

struct region_walk {
	uint64_t end;
	uint64_t count;
};

static bool check_region(void *ctx, const struct vmsim_region_info *region)
{
	struct region_walk *walk = ctx;
	FUZZ_CHECK(region->num_bytes > 0 && region->num_bytes % VMSIM_PAGE_SIZE == 0);
	FUZZ_CHECK(region->start % VMSIM_PAGE_SIZE == 0 && region->start >= walk->end); /* ascending, disjoint */
	FUZZ_CHECK(region->start + region->num_bytes <= (UINT64_C(1) << 48));
	walk->end = region->start + region->num_bytes;
	walk->count++;
	return true;
}

/* Quota conservation, disjoint attachments, and the capability space matching the records. */
static void check_invariants(const struct run *run)
{
	enum { MAX_RECORDS = MAX_CAPS + 8 };
	struct inspect_record rec[MAX_RECORDS];
	struct inspect_client held = inspect_rpc_client(run->client, rec, MAX_RECORDS);
	FUZZ_CHECK(held.count <= MAX_RECORDS);
	uint64_t ram = 0, caps = 0;
	for (size_t i = 0; i < held.count; i++) {
		const struct inspect_record *r = &rec[i];
		FUZZ_CHECK(r->in_space);
		if (r->kind == INSPECT_DATASPACE) {
			uint64_t size = 0;
			FUZZ_CHECK(vmsim_ds_size(run->env, r->ds, &size) == VMSIM_OK && size == r->size);
			ram += r->size;
			caps += 1; /* docs/quota.md: a dataspace is one cap */
		}
		if (r->kind != INSPECT_SESSION)
			continue;
		ram += r->donated_ram;
		caps += r->donated_caps;
		struct vmsim_quota q;
		vmsim_session_quota(r->session, &q);
		FUZZ_CHECK(q.ram_limit == r->donated_ram && q.cap_limit == r->donated_caps);
		struct region_walk walk = {0, 0};
		vmsim_session_for_each_region(r->session, check_region, &walk);
		FUZZ_CHECK(walk.count == vmsim_session_region_count(r->session));
		uint64_t vcpus = vmsim_session_vcpu_count(r->session), mine = 0;
		for (size_t j = 0; j < held.count; j++) {
			if (rec[j].kind != INSPECT_VCPU || rec[j].session != r->session)
				continue;
			mine++;
			/* the session's registry names the same vCPU under its id */
			FUZZ_CHECK(vmsim_vcpu_session(rec[j].vcpu) == r->session);
			FUZZ_CHECK(vmsim_session_vcpu(r->session, vmsim_vcpu_id(rec[j].vcpu)) == rec[j].vcpu);
		}
		FUZZ_CHECK(vcpus == mine);
		/* docs/quota.md's table as literals: session 8192 B + 1 cap, vCPU 16384 B + 2 caps, region 128 B, table 4 KiB */
		FUZZ_CHECK(q.ram_used ==
		           8192 + vcpus * 16384 + walk.count * 128 + vmsim_session_page_tables(r->session) * 4096);
		FUZZ_CHECK(q.cap_used == 1 + vcpus * 2);
	}
	FUZZ_CHECK(held.live == held.count);

	struct vmsim_quota client, env;
	vmsim_rpc_client_quota(run->client, &client);
	vmsim_env_quota(run->env, &env);
	FUZZ_CHECK(client.ram_used == ram && client.cap_used == caps);
	FUZZ_CHECK(env.ram_used == ram && env.cap_used == caps); /* the only client holds all of the pool's use */
}

static void remember(struct run *run, const struct vmsim_rpc_reply *p)
{
	uint64_t cap = p->op == VMSIM_RPC_VCPU_CREATE ? p->u.vcpu.cap : p->u.cap;
	if (run->cap_count < MAX_CAPS)
		run->caps[run->cap_count++] = cap;
}

static void quiet_log(void *ctx, enum vmsim_log_level level, const char *message)
{
	(void)ctx, (void)level, (void)message;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vmsim_rpc_request q;
	static struct vmsim_rpc_reply p;
	static uint8_t frame[VMSIM_RPC_MAX_FRAME], reply[VMSIM_RPC_MAX_FRAME];
	struct stream s = {data, size};
	struct run run = {0};
	struct vmsim_env_config cfg = {.ram_pool = 256u << 20, .cap_pool = 4096, .cap_seed = 1, .log = quiet_log};
	FUZZ_CHECK(vmsim_env_create(&cfg, &run.env) == VMSIM_OK);
	FUZZ_CHECK(vmsim_env_register_backend(run.env, vmsim_backend_null()) == VMSIM_OK);
	struct vmsim_rpc_client_config ccfg = {.ram = 64u << 20, .caps = 200, .cap_seed = 1};
	FUZZ_CHECK(vmsim_rpc_client_create(run.env, &ccfg, &run.client) == VMSIM_OK);

	for (unsigned calls = 0; s.left && calls < MAX_CALLS; calls++) {
		uint8_t b = (uint8_t)take(&s, 1);
		if (b >= 0xf8) {
			vmsim_env_fail_alloc_at(run.env, 1 + (b & 7));
			continue;
		}
		uint16_t op = (uint16_t)(1 + b % (VMSIM_RPC_OP_END - 1));
		build_request(&run, &s, op, &q);
		if (op == VMSIM_RPC_VCPU_CREATE && run.vcpus_made >= MAX_VCPUS)
			continue; /* threads are the slow part: a few vCPUs reach every path */
		size_t len, reply_len;
		FUZZ_CHECK(vmsim_rpc_encode_request(&q, frame, sizeof frame, &len) == VMSIM_OK);
		enum vmsim_result r = vmsim_rpc_client_handle(run.client, frame, len, reply, &reply_len);
		vmsim_env_fail_alloc_at(run.env, 0);
		FUZZ_CHECK(vmsim_rpc_decode_reply(reply, reply_len, &p) == VMSIM_OK);
		FUZZ_CHECK(p.result == r && p.op == op && p.seq == q.seq);
		if (r == VMSIM_OK && (op == VMSIM_RPC_SESSION_OPEN || op == VMSIM_RPC_DS_ALLOC || op == VMSIM_RPC_VCPU_CREATE))
			remember(&run, &p);
		if (r == VMSIM_OK && op == VMSIM_RPC_VCPU_CREATE)
			run.vcpus_made++;
		check_invariants(&run);
	}

	/* disconnect: everything comes back */
	vmsim_rpc_client_destroy(run.client);
	struct vmsim_quota env;
	vmsim_env_quota(run.env, &env);
	FUZZ_CHECK(env.ram_used == 0 && env.cap_used == 0);
	vmsim_env_destroy(run.env);
	return 0;
}
