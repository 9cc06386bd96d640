/*
 * core/model_common.c - what the SVM and VMX tables share (model_table.h): the kind <-> code scan, the inj_info
 * layout, error-code vectors, event encoding. A leaf under model.c, model_svm.c and model_vmx.c, so the tables
 * never call back into the dispatcher that holds them.
 */
#include "model_table.h"

enum vmsim_exit_kind model_kind_by_code(const long *kind_codes, unsigned exit_reason)
{
	for (unsigned kind = VMSIM_EXIT_NONE + 1; kind < VMSIM_EXIT_KIND_COUNT; kind++)
		if (kind_codes[kind] >= 0 && (unsigned long)kind_codes[kind] == exit_reason)
			return (enum vmsim_exit_kind)kind;
	return VMSIM_EXIT_NONE;
}

struct inj_fields model_split_inj_info(uint64_t inj_info)
{
	struct inj_fields f = {
		.vector = (uint8_t)(inj_info & 0xff),
		.type = (unsigned)((inj_info >> 8) & 7),
		.has_error = (inj_info & MODEL_INJ_ERROR_VALID) != 0,
		.valid = (inj_info & MODEL_INJ_VALID) != 0,
		.want_intr_window = (inj_info & MODEL_INJ_INTR_WINDOW) != 0,
		.want_nmi_window = (inj_info & MODEL_INJ_NMI_WINDOW) != 0,
		/* Genode's inj_info is 32 bits wide: anything above is a VMM bug, not data. */
		.reserved_set = (inj_info & MODEL_INJ_RESERVED) != 0 || (inj_info >> 32) != 0,
	};
	return f;
}

bool model_vector_has_error(enum vmsim_model model, uint8_t vector)
{
	/* SDM vol. 3A 6.15 / APM vol. 2 8.2: #DF 8, #TS 10, #NP 11, #SS 12, #GP 13, #PF 14, #AC 17, #CP 21. */
	switch (vector) {
	case 8: case 10: case 11: case 12: case 13: case 14: case 17: case 21:
		return true;
	case 29: /* #VC (APM vol. 2 8.2): error code = the exit code that caused it */
	case 30: /* #SX (APM vol. 2 8.2): error code 1 (INIT redirection) */
		return model == VMSIM_MODEL_SVM;
	default:
		return false;
	}
}

bool model_access_valid(uint8_t access)
{
	return access == VMSIM_ACCESS_READ || access == VMSIM_ACCESS_WRITE || access == VMSIM_ACCESS_FETCH;
}

enum vmsim_result model_encode_event(const struct model_ops *ops, const struct vmsim_event *event,
                                     uint64_t *inj_info, uint64_t *inj_error)
{
	struct vmsim_event check;
	enum vmsim_invalid_reason reason;
	uint64_t info = 0, error = 0;

	if (event->want_intr_window)
		info |= MODEL_INJ_INTR_WINDOW;
	if (event->want_nmi_window)
		info |= MODEL_INJ_NMI_WINDOW;
	if (event->valid) {
		if ((unsigned)event->type > 7)
			return VMSIM_INVALID_ARGUMENT;
		info |= MODEL_INJ_VALID | ((uint64_t)event->type << 8) | event->vector;
		if (event->has_error) {
			info |= MODEL_INJ_ERROR_VALID;
			error = event->error_code;
		}
	}
	/* Only hand out what the architecture would accept at entry: decode is the one judge. */
	if (ops->decode_event(info, error, event->insn_len, &check, &reason) != VMSIM_OK)
		return VMSIM_INVALID_ARGUMENT;
	*inj_info = info;
	*inj_error = error;
	return VMSIM_OK;
}
