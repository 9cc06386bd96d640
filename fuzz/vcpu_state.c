/* fuzz/vcpu_state.c - arbitrary charged Vcpu_state through both models' decode and entry checks, via the RPC path. */
#include <string.h>

#include <vmsim/backends.h>
#include <vmsim/vmsim.h>
#include <vmsim/rpc.h>

#include "fuzz_target.h"
#include "inspect.h" /* the vCPU behind a client cap, for its last neutral exit (test-only, core/testing) */

/*
 * Input: a model byte (bit 0: VMX), a u32 mask over the registers below, then
 * one value per masked register (segments: sel u16, ar u16, limit u32, base
 * u64). The state loaded is the vCPU's own startup state with those charged on
 * top, so every input starts from the same place. The null backend refuses to
 * run, so every resume ends in the invalid-state exit: reason BACKEND when the
 * entry checks passed, the failed check otherwise. Test code: statics hold one
 * persistent world per model.
 */
#define REG(name) offsetof(struct vmsim_vcpu_state, name)
static const size_t plain_regs[] = {
	REG(ip), REG(flags), REG(cr0), REG(cr3), REG(cr4), REG(efer), REG(dr7), REG(ip_len), REG(inj_info),
	REG(inj_error), REG(intr_state), REG(actv_state), REG(ctrl_primary), REG(ctrl_secondary), REG(tpr),
	REG(tpr_threshold), REG(sp), REG(xcr0), REG(pdpte_0),
};
static const size_t seg_regs[] = {REG(cs), REG(ss), REG(ds), REG(es), REG(fs), REG(gs), REG(tr), REG(ldtr)};
#undef REG
enum { PLAIN = sizeof plain_regs / sizeof plain_regs[0], SEGS = sizeof seg_regs / sizeof seg_regs[0] };
_Static_assert(PLAIN + SEGS <= 32, "one u32 mask");

struct world {
	struct vmsim_env *env;
	struct vmsim_rpc_client *client;
	uint64_t vcpu;
	struct vmsim_vcpu_state baseline;
};

static struct world worlds[2];
static struct vmsim_rpc_request q;
static struct vmsim_rpc_reply p;

static void quiet_log(void *ctx, enum vmsim_log_level level, const char *message)
{
	(void)ctx, (void)level, (void)message;
}

static enum vmsim_result call(struct world *w, uint16_t op)
{
	q.op = op;
	vmsim_rpc_client_dispatch(w->client, &q, &p);
	return p.result;
}

static void world_init(struct world *w, enum vmsim_model model)
{
	struct vmsim_env_config cfg = {.cap_seed = 3, .log = quiet_log};
	FUZZ_CHECK(vmsim_env_create(&cfg, &w->env) == VMSIM_OK);
	FUZZ_CHECK(vmsim_env_register_backend(w->env, vmsim_backend_null()) == VMSIM_OK);
	struct vmsim_rpc_client_config ccfg = {.cap_seed = 3};
	FUZZ_CHECK(vmsim_rpc_client_create(w->env, &ccfg, &w->client) == VMSIM_OK);
	memset(&q, 0, sizeof q);
	q.u.open.ram = 1 << 20;
	q.u.open.caps = 10;
	q.u.open.model = model;
	strcpy(q.u.open.backend, "null");
	FUZZ_CHECK(call(w, VMSIM_RPC_SESSION_OPEN) == VMSIM_OK);
	memset(&q, 0, sizeof q);
	q.u.vcpu_create.session = p.u.cap;
	FUZZ_CHECK(call(w, VMSIM_RPC_VCPU_CREATE) == VMSIM_OK);
	w->vcpu = p.u.vcpu.cap;
	memset(&q, 0, sizeof q);
	q.u.object.cap = w->vcpu;
	FUZZ_CHECK(call(w, VMSIM_RPC_VCPU_STATE_GET) == VMSIM_OK);
	FUZZ_CHECK(p.u.state.exit_reason == VMSIM_EXIT_CODE_STARTUP);
	w->baseline = p.u.state;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	world_init(&worlds[0], VMSIM_MODEL_SVM);
	world_init(&worlds[1], VMSIM_MODEL_VMX);
	return 0;
}

static uint64_t take(const uint8_t **data, size_t *size, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n && *size; i++, (*data)++, (*size)--)
		v |= (uint64_t)**data << (8 * i);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 5)
		return 0;
	struct world *w = &worlds[data[0] & 1];
	enum vmsim_model model = data[0] & 1 ? VMSIM_MODEL_VMX : VMSIM_MODEL_SVM;
	data++, size--;
	uint32_t mask = (uint32_t)take(&data, &size, 4);

	memset(&q, 0, sizeof q);
	q.u.put.vcpu = w->vcpu;
	q.u.put.flags = VMSIM_RPC_PUT_RESUME;
	struct vmsim_vcpu_state *st = &q.u.put.state;
	*st = w->baseline;
	for (unsigned i = 0; i < PLAIN; i++)
		if (mask & (1u << i)) {
			struct vmsim_reg *reg = (struct vmsim_reg *)((char *)st + plain_regs[i]);
			reg->value = take(&data, &size, 8);
			st->charged |= vmsim_vcpu_state_bit(st, reg);
		}
	for (unsigned i = 0; i < SEGS; i++) {
		if (!(mask & (1u << (PLAIN + i))))
			continue;
		struct vmsim_segment seg;
		seg.sel = (uint16_t)take(&data, &size, 2);
		seg.ar = (uint16_t)take(&data, &size, 2);
		seg.limit = (uint32_t)take(&data, &size, 4);
		seg.base = take(&data, &size, 8);
		struct vmsim_seg_reg *reg = (struct vmsim_seg_reg *)((char *)st + seg_regs[i]);
		reg->value = seg;
		st->charged |= vmsim_vcpu_state_bit(st, reg);
	}
	/* what the model alone refuses, computed before the vCPU sees the state */
	struct vmsim_event event;
	enum vmsim_invalid_reason why = VMSIM_INVALID_NONE;
	bool event_refused = (vmsim_charged(st, inj_info) || vmsim_charged(st, inj_error)) &&
	                     vmsim_model_decode_event(model, st->inj_info.value, st->inj_error.value, st->ip_len.value,
	                                              &event, &why) != VMSIM_OK;
	uint32_t intercepts;
	bool controls_refused = (vmsim_charged(st, ctrl_primary) || vmsim_charged(st, ctrl_secondary)) &&
	                        vmsim_model_decode_controls(model, st->ctrl_primary.value, st->ctrl_secondary.value,
	                                                    &intercepts, &why) != VMSIM_OK;

	FUZZ_CHECK(call(w, VMSIM_RPC_VCPU_STATE_PUT) == VMSIM_OK);
	memset(&q, 0, sizeof q);
	q.u.object.cap = w->vcpu;
	FUZZ_CHECK(call(w, VMSIM_RPC_VCPU_STATE_GET) == VMSIM_OK);

	/* every resume ends in the invalid-state exit, with a reason; the model's refusals are never BACKEND */
	FUZZ_CHECK(p.u.state.exit_reason == (model == VMSIM_MODEL_SVM ? 0xfdu : 33u)); /* APM/Genode 0xfd, SDM 33 */
	struct vmsim_vcpu *vcpu = inspect_rpc_vcpu(w->client, w->vcpu);
	FUZZ_CHECK(vcpu != NULL);
	struct vmsim_exit last;
	vmsim_vcpu_last_exit(vcpu, &last);
	FUZZ_CHECK(last.kind == VMSIM_EXIT_INVALID_STATE);
	FUZZ_CHECK(last.u.invalid.reason != VMSIM_INVALID_NONE);
	if (event_refused || controls_refused)
		FUZZ_CHECK(last.u.invalid.reason != VMSIM_INVALID_BACKEND);
	return 0;
}
