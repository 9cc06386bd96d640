/* core/testing/inspect.c - test-only views of core's records (inspect.h). */
#include "inspect.h"

#include "rpc/rpc_client.h"

static void put(struct inspect_client *res, struct inspect_record *out, size_t max, const struct inspect_record *r)
{
	if (res->count < max)
		out[res->count] = *r;
	res->count++;
}

struct inspect_client inspect_rpc_client(const struct vmsim_rpc_client *c, struct inspect_record *out, size_t max)
{
	struct inspect_client res = {0, c->space.live};

	for (const struct client_session *cs = c->sessions; cs; cs = cs->next) {
		struct inspect_record r = {
			.kind = INSPECT_SESSION,
			.cap = cs->cap,
			.in_space = cap_table_lookup(&c->space, cs->cap, CAP_KIND_SESSION) == cs,
			.session = cs->session,
			.donated_ram = cs->donated_ram,
			.donated_caps = cs->donated_caps,
		};
		put(&res, out, max, &r);
	}
	for (const struct client_ds *cd = c->dataspaces; cd; cd = cd->next) {
		struct inspect_record r = {
			.kind = INSPECT_DATASPACE,
			.cap = cd->cap,
			.in_space = cap_table_lookup(&c->space, cd->cap, CAP_KIND_DATASPACE) == cd,
			.ds = cd->ds,
			.size = cd->size,
		};
		put(&res, out, max, &r);
	}
	for (const struct client_vcpu *cv = c->vcpus; cv; cv = cv->next) {
		struct inspect_record r = {
			.kind = INSPECT_VCPU,
			.cap = cv->cap,
			.in_space = cap_table_lookup(&c->space, cv->cap, CAP_KIND_VCPU) == cv,
			.session = cv->owner ? cv->owner->session : NULL,
			.vcpu = cv->vcpu,
		};
		put(&res, out, max, &r);
	}
	return res;
}

struct vmsim_vcpu *inspect_rpc_vcpu(const struct vmsim_rpc_client *c, uint64_t cap)
{
	const struct client_vcpu *cv = cap_table_lookup(&c->space, cap, CAP_KIND_VCPU);
	return cv ? cv->vcpu : NULL;
}
