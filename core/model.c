/* core/model.c - model.h's entry points: argument checks, then dispatch to the SVM or VMX table. */
#include <stddef.h>
#include <string.h>

#include <vmsim/model.h>

#include "model_table.h"

static const struct model_ops *ops_for(enum vmsim_model model)
{
	switch (model) {
	case VMSIM_MODEL_SVM: return &model_svm_ops;
	case VMSIM_MODEL_VMX: return &model_vmx_ops;
	}
	return NULL;
}

const char *vmsim_model_name(enum vmsim_model model)
{
	const struct model_ops *ops = ops_for(model);
	return ops ? ops->name : NULL;
}

enum vmsim_result vmsim_model_parse(const char *name, enum vmsim_model *out)
{
	static const enum vmsim_model all[] = { VMSIM_MODEL_SVM, VMSIM_MODEL_VMX };

	if (!name || !out)
		return VMSIM_INVALID_ARGUMENT;
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		if (strcmp(name, ops_for(all[i])->name) == 0) {
			*out = all[i];
			return VMSIM_OK;
		}
	}
	return VMSIM_INVALID_ARGUMENT;
}

/*
 * What either architecture could report at all; each model then drops what it
 * has no bits for (models.md lists the losses). Keeping this shared makes
 * "encode accepts" independent of the model.
 */
static bool exit_payload_valid(const struct vmsim_exit *exit)
{
	switch (exit->kind) {
	case VMSIM_EXIT_IO:
		if (exit->u.io.size != 1 && exit->u.io.size != 2 && exit->u.io.size != 4)
			return false;
		if (exit->u.io.addr_size != 0 && exit->u.io.addr_size != 2 && exit->u.io.addr_size != 4 &&
		    exit->u.io.addr_size != 8)
			return false;
		return exit->u.io.seg <= 5;
	case VMSIM_EXIT_NPF:
		/* A walk fault always has a guest-linear address (SDM 28.2.1 Table 28-7 bits 7/8). */
		return model_access_valid(exit->u.npf.access) &&
		       (exit->u.npf.prot & ~(VMSIM_PROT_READ | VMSIM_PROT_WRITE | VMSIM_PROT_EXEC)) == 0 &&
		       (!exit->u.npf.walk || exit->u.npf.gla_valid);
	case VMSIM_EXIT_EXCEPTION: {
		uint8_t vector = exit->u.exception.vector;
		uint64_t qual = exit->u.exception.qual;
		/* The union of both: #VC/#SX push on AMD; each model refuses what it lacks. */
		if (vector >= 32 || (exit->u.exception.has_error && !model_vector_has_error(VMSIM_MODEL_SVM, vector)))
			return false;
		/* The qualification exists for #PF (any address) and #DB (Table 28-1 bits) only. */
		return vector == 14 || (vector == 1 ? (qual & ~(uint64_t)VMSIM_DB_QUAL_MASK) == 0 : qual == 0);
	}
	default:
		return exit->kind > VMSIM_EXIT_NONE && exit->kind < VMSIM_EXIT_KIND_COUNT;
	}
}

/* ---- dispatch ------------------------------------------------------------- */

enum vmsim_result vmsim_model_encode_exit(enum vmsim_model model, const struct vmsim_exit *exit,
                                          uint32_t interruptibility, uint32_t activity,
                                          struct vmsim_vcpu_state *state)
{
	const struct model_ops *ops = ops_for(model);

	if (!ops || !exit || !state)
		return VMSIM_INVALID_ARGUMENT;
	if (interruptibility & ~(uint32_t)(VMSIM_BLOCK_STI | VMSIM_BLOCK_MOVSS | VMSIM_BLOCK_SMI | VMSIM_BLOCK_NMI))
		return VMSIM_INVALID_ARGUMENT;
	if (activity > VMSIM_ACTIVITY_WAIT_SIPI)
		return VMSIM_INVALID_ARGUMENT;
	if (exit->insn_len > MODEL_MAX_INSN_LEN || !exit_payload_valid(exit))
		return VMSIM_INVALID_ARGUMENT;

	long code = ops->kind_codes[exit->kind];
	uint64_t reason = (uint64_t)code, qual_primary = 0, qual_secondary = 0;
	if (code < 0)
		return VMSIM_UNSUPPORTED;
	if (ops->qual_encoders[exit->kind])
		ops->qual_encoders[exit->kind](exit, &reason, &qual_primary, &qual_secondary);

	state->exit_reason = (unsigned)reason;
	vmsim_charge(state, ip, exit->rip);
	vmsim_charge(state, ip_len, exit->insn_len);
	vmsim_charge(state, qual_primary, qual_primary);
	vmsim_charge(state, qual_secondary, qual_secondary);
	vmsim_charge(state, intr_state, ops->encode_intr_state(interruptibility));
	vmsim_charge(state, actv_state, ops->encode_activity(activity));
	return VMSIM_OK;
}

enum vmsim_result vmsim_model_decode_exit(enum vmsim_model model, const struct vmsim_vcpu_state *state,
                                          struct vmsim_exit *out)
{
	const struct model_ops *ops = ops_for(model);

	if (!ops || !state || !out)
		return VMSIM_INVALID_ARGUMENT;
	if (state->ip_len.value > MODEL_MAX_INSN_LEN && ops->ip_len_architectural)
		return VMSIM_INVALID_ARGUMENT;
	enum vmsim_exit_kind kind = ops->kind_of_code(state->exit_reason);
	if (kind == VMSIM_EXIT_NONE)
		return VMSIM_UNSUPPORTED;

	memset(out, 0, sizeof *out);
	out->kind = kind;
	out->rip = state->ip.value;
	/* SVM: ip_len is no hardware field; only a charged, plausible value is a length (models.md). */
	bool len_known = state->ip_len.value <= MODEL_MAX_INSN_LEN &&
	                 (ops->ip_len_architectural || vmsim_charged(state, ip_len));
	out->insn_len = len_known ? (uint8_t)state->ip_len.value : 0;
	if (ops->qual_decoders[kind])
		return ops->qual_decoders[kind](state->exit_reason, state->qual_primary.value,
		                                state->qual_secondary.value, out);
	/*
	 * Kinds without qualifications: encode writes 0; a kernel may leave undefined
	 * fields stale. Genode's synthetic STARTUP/PAUSED are no hardware exit at all:
	 * whatever the page still holds from the last exit is not theirs to check.
	 */
	if (kind == VMSIM_EXIT_STARTUP || kind == VMSIM_EXIT_PAUSED)
		return VMSIM_OK;
	if (ops->qual_primary_cleared && state->qual_primary.value != 0)
		return VMSIM_INVALID_ARGUMENT;
	return VMSIM_OK;
}

enum vmsim_result vmsim_model_encode_event(enum vmsim_model model, const struct vmsim_event *event,
                                           uint64_t *inj_info, uint64_t *inj_error)
{
	const struct model_ops *ops = ops_for(model);

	if (!ops || !event || !inj_info || !inj_error)
		return VMSIM_INVALID_ARGUMENT;
	return model_encode_event(ops, event, inj_info, inj_error);
}

enum vmsim_result vmsim_model_decode_event(enum vmsim_model model, uint64_t inj_info, uint64_t inj_error,
                                           uint64_t ip_len, struct vmsim_event *out,
                                           enum vmsim_invalid_reason *reason)
{
	const struct model_ops *ops = ops_for(model);

	if (!ops || !out || !reason)
		return VMSIM_INVALID_ARGUMENT;
	*reason = VMSIM_INVALID_NONE;
	memset(out, 0, sizeof *out);
	return ops->decode_event(inj_info, inj_error, ip_len, out, reason);
}

uint64_t vmsim_model_encode_intr_state(enum vmsim_model model, uint32_t blocking)
{
	const struct model_ops *ops = ops_for(model);
	return ops ? ops->encode_intr_state(blocking) : 0;
}

enum vmsim_result vmsim_model_decode_intr_state(enum vmsim_model model, uint64_t intr_state, uint32_t *blocking)
{
	const struct model_ops *ops = ops_for(model);

	if (!ops || !blocking)
		return VMSIM_INVALID_ARGUMENT;
	return ops->decode_intr_state(intr_state, blocking);
}

uint64_t vmsim_model_encode_activity(enum vmsim_model model, uint32_t activity)
{
	const struct model_ops *ops = ops_for(model);
	return ops ? ops->encode_activity(activity) : 0;
}

enum vmsim_result vmsim_model_decode_activity(enum vmsim_model model, uint64_t actv_state, uint32_t *activity)
{
	const struct model_ops *ops = ops_for(model);

	if (!ops || !activity)
		return VMSIM_INVALID_ARGUMENT;
	return ops->decode_activity(actv_state, activity);
}

enum vmsim_result vmsim_model_decode_controls(enum vmsim_model model, uint64_t ctrl_primary,
                                              uint64_t ctrl_secondary, uint32_t *intercepts,
                                              enum vmsim_invalid_reason *reason)
{
	const struct model_ops *ops = ops_for(model);

	if (!ops || !intercepts || !reason)
		return VMSIM_INVALID_ARGUMENT;
	*reason = VMSIM_INVALID_NONE;
	/* Genode's ctrl_primary/ctrl_secondary are 32-bit fields. */
	if ((ctrl_primary >> 32) != 0 || (ctrl_secondary >> 32) != 0) {
		*reason = VMSIM_INVALID_CONTROLS;
		return VMSIM_INVALID_ARGUMENT;
	}
	return ops->decode_controls(ctrl_primary, ctrl_secondary, intercepts, reason);
}

void vmsim_model_encode_controls(enum vmsim_model model, uint32_t intercepts, uint64_t *ctrl_primary,
                                 uint64_t *ctrl_secondary)
{
	const struct model_ops *ops = ops_for(model);
	uint64_t primary = 0, secondary = 0;

	if (ops)
		ops->encode_controls(intercepts, &primary, &secondary);
	if (ctrl_primary)
		*ctrl_primary = primary;
	if (ctrl_secondary)
		*ctrl_secondary = secondary;
}

enum vmsim_result vmsim_model_check_entry(enum vmsim_model model, const struct vmsim_cpu_state *cpu,
                                          enum vmsim_invalid_reason *reason)
{
	const struct model_ops *ops = ops_for(model);

	if (!ops || !cpu || !reason)
		return VMSIM_INVALID_ARGUMENT;
	*reason = VMSIM_INVALID_NONE;
	return ops->check_entry(cpu, reason);
}

long vmsim_model_exit_code(enum vmsim_model model, enum vmsim_exit_kind kind)
{
	const struct model_ops *ops = ops_for(model);

	if (!ops || (unsigned)kind >= VMSIM_EXIT_KIND_COUNT)
		return -1;
	return ops->kind_codes[kind];
}

const char *vmsim_model_exit_name(enum vmsim_model model, unsigned exit_reason)
{
	const struct model_ops *ops = ops_for(model);
	const char *name = ops ? ops->exit_name(exit_reason) : NULL;
	return name ? name : "unknown";
}
