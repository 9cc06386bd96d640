/* vmsim/profile.h - kernel profiles: where a Genode kernel departs from vmsim's reference behaviour, with sources. */
#ifndef VMSIM_API_PROFILE_H
#define VMSIM_API_PROFILE_H

#include <stdbool.h>
#include <stdint.h>

#include <vmsim/model.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One kernel's observable choices where the manuals leave room or the kernel
 * adds its own (docs/spec-parts/models.md "Kernel profiles" lists the sources).
 * Intercept words are the VMCB intercept vector words 3/4 (SVM) or the primary
 * and secondary processor-based controls (VMX); 0 where nothing is forced.
 */
struct vmsim_profile {
	const char *name;               /* "vmsim", "base-hw", "nova" */
	const char *source;             /* where the facts were read */
	unsigned svm_invalid_exit;      /* exit_reason a VMM sees for VMEXIT_INVALID */
	bool svm_ip_len_stale;          /* SVM: ip_len is charged but not updated */
	bool svm_tsc_offset_adds;       /* SVM: a charged tsc_offset is added to the VMCB's, not stored */
	uint32_t svm_force_misc1;       /* ORed into word 3 (ctrl_primary) */
	uint32_t svm_force_misc2;       /* ORed into word 4 (ctrl_secondary) */
	uint32_t svm_exceptions;        /* exception intercept word 2 as the kernel writes it */
	uint32_t vmx_force_primary, vmx_clear_primary;
	uint32_t vmx_force_secondary, vmx_clear_secondary;
	uint32_t vmx_exceptions;        /* exception bitmap */
	bool with_state_foreign_blocks; /* with_state off the handler's thread: blocks forever (else DENIED) */
	uint32_t vcpu_caps;             /* caps one vCPU costs; 0 = not a fixed number */
	uint64_t vcpu_ram;              /* RAM one vCPU costs; 0 = not a fixed number */
	bool priority_ignored;          /* the kernel's VM root ignores the session's "priority" argument */
};

/* The profile called name ("vmsim", "base-hw", "nova"); NULL for any other name or NULL. */
const struct vmsim_profile *vmsim_profile_find(const char *name);
/* The controls the kernel programs for what the VMM charged (forced bits set, cleared bits cleared). */
void vmsim_profile_controls(const struct vmsim_profile *profile, enum vmsim_model model, uint64_t *ctrl_primary,
                            uint64_t *ctrl_secondary);
/* vmsim's exit_reason (0xfd for an SVM invalid state) as this kernel reports it; others unchanged. */
unsigned vmsim_profile_exit_reason(const struct vmsim_profile *profile, enum vmsim_model model,
                                   unsigned exit_reason);
/* The TSC offset in force after the VMM charged `charged` while `current` was programmed. */
uint64_t vmsim_profile_tsc_offset(const struct vmsim_profile *profile, enum vmsim_model model, uint64_t current,
                                  uint64_t charged);

#ifdef __cplusplus
}
#endif
#endif
