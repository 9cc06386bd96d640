/* vmsim/model.h - the SVM and VMX semantic models: neutral events <-> architectural encodings. */
#ifndef VMSIM_API_MODEL_H
#define VMSIM_API_MODEL_H

#include <stdint.h>

#include <vmsim/backend.h>
#include <vmsim/exit.h>
#include <vmsim/result.h>
#include <vmsim/vcpu_state.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vmsim_model {
	VMSIM_MODEL_SVM = 1,
	VMSIM_MODEL_VMX = 2
};

/* "svm" / "vmx"; NULL for a value outside the enum. */
const char *vmsim_model_name(enum vmsim_model model);
/* Parse "svm"/"vmx" (case-sensitive); INVALID_ARGUMENT otherwise. */
VMSIM_MUST_CHECK enum vmsim_result vmsim_model_parse(const char *name, enum vmsim_model *out);

/*
 * Encode one neutral exit as the model's VMM sees it: sets exit_reason and
 * charges ip, ip_len, qual_primary, qual_secondary, intr_state and actv_state.
 * interruptibility/activity are the vCPU's at the exit. UNSUPPORTED if the
 * architecture has no encoding for the event (e.g. EPT misconfig on SVM).
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_model_encode_exit(enum vmsim_model model,
                                                           const struct vmsim_exit *exit,
                                                           uint32_t interruptibility, uint32_t activity,
                                                           struct vmsim_vcpu_state *state);
/* The inverse of encode_exit for the fields it wrote (fuzzing and differential checks). */
VMSIM_MUST_CHECK enum vmsim_result vmsim_model_decode_exit(enum vmsim_model model,
                                                           const struct vmsim_vcpu_state *state,
                                                           struct vmsim_exit *out);

/* Encode a neutral injection request into inj_info/inj_error values (window bits included). */
VMSIM_MUST_CHECK enum vmsim_result vmsim_model_encode_event(enum vmsim_model model,
                                                            const struct vmsim_event *event,
                                                            uint64_t *inj_info, uint64_t *inj_error);
/*
 * Decode inj_info/inj_error as charged by the VMM. Returns INVALID_ARGUMENT with
 * *reason = VMSIM_INVALID_EVENT for what the architecture refuses at entry.
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_model_decode_event(enum vmsim_model model, uint64_t inj_info,
                                                            uint64_t inj_error, uint64_t ip_len,
                                                            struct vmsim_event *out,
                                                            enum vmsim_invalid_reason *reason);

/* Interruptibility: neutral VMSIM_BLOCK_* bits <-> the model's intr_state value. */
uint64_t vmsim_model_encode_intr_state(enum vmsim_model model, uint32_t blocking);
VMSIM_MUST_CHECK enum vmsim_result vmsim_model_decode_intr_state(enum vmsim_model model, uint64_t intr_state,
                                                                 uint32_t *blocking);
/* Activity: neutral VMSIM_ACTIVITY_* <-> actv_state (SVM has none: always 0, HLT is an intercept). */
uint64_t vmsim_model_encode_activity(enum vmsim_model model, uint32_t activity);
VMSIM_MUST_CHECK enum vmsim_result vmsim_model_decode_activity(enum vmsim_model model, uint64_t actv_state,
                                                               uint32_t *activity);

/* ctrl_primary/ctrl_secondary -> VMSIM_INTERCEPT_* (and the reverse, for VMMs and tests). */
VMSIM_MUST_CHECK enum vmsim_result vmsim_model_decode_controls(enum vmsim_model model, uint64_t ctrl_primary,
                                                               uint64_t ctrl_secondary, uint32_t *intercepts,
                                                               enum vmsim_invalid_reason *reason);
void vmsim_model_encode_controls(enum vmsim_model model, uint32_t intercepts, uint64_t *ctrl_primary,
                                 uint64_t *ctrl_secondary);

/*
 * The guest-state checks the architecture makes at entry (x86-exit-encodings.md).
 * Returns OK, or INVALID_ARGUMENT with the first failed check in *reason.
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_model_check_entry(enum vmsim_model model,
                                                           const struct vmsim_cpu_state *cpu,
                                                           enum vmsim_invalid_reason *reason);

/* The model's exit code for a kind (the synthetic ones included); -1 if it has none. */
long vmsim_model_exit_code(enum vmsim_model model, enum vmsim_exit_kind kind);
/* A short name for a raw exit code of this model ("IOIO", "EPT_VIOLATION"); "unknown" otherwise. */
const char *vmsim_model_exit_name(enum vmsim_model model, unsigned exit_reason);

#ifdef __cplusplus
}
#endif
#endif
