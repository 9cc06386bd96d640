/* core/profile.c - the kernel profiles (profile.h): constant tables and the three rules they change. */
#include <stddef.h>
#include <string.h>

#include <vmsim/profile.h>
#include <vmsim/quota.h>
#include <vmsim/vcpu_state.h>

static const struct vmsim_profile profiles[] = {
	{
		.name = "vmsim",
		.source = "docs/spec-parts/models.md, docs/quota.md",
		.svm_invalid_exit = VMSIM_EXIT_CODE_SVM_INVALID,
		.with_state_foreign_blocks = false,
		.vcpu_caps = VMSIM_COST_VCPU_CAPS,
		.vcpu_ram = VMSIM_COST_VCPU_RAM,
	},
	{
		/*
		 * genodelabs/genode repos/base-hw/src/core/spec/x86_64/virtualization/kernel/svm.cc
		 * (0d1716b07dee1bc3f32b2e604ab3ff9bced30002) and kernel/vmx.cc
		 * (71e9b603a7541a98e6ee1d5a40898a170a7c2dc0).
		 */
		.name = "base-hw",
		.source = "base-hw kernel/svm.cc 0d1716b0, kernel/vmx.cc 71e9b603",
		.svm_invalid_exit = 0xffffffffu, /* get_exitcode(): -1 logged and passed on */
		.svm_ip_len_stale = true,        /* write_vcpu_state(): ip_len.set_charged() only */
		.svm_tsc_offset_adds = true,     /* read_vcpu_state(): Tsc_offset = old + charged */
		/* enforce_intercepts(): INTR NMI INIT INVD HLT IOIO_PROT MSR_PROT SHUTDOWN; VMLOAD VMSAVE CLGI SKINIT */
		.svm_force_misc1 = 0x9940000bu,
		.svm_force_misc2 = 0x6cu,
		/* initialize(): Intercept_ex::Vectors written with 17, i.e. vectors 0 and 4, not 1 << 17 (#AC) */
		.svm_exceptions = 0x11u,
		/* enforce_execution_controls(): HLT, TPR shadow, unconditional I/O, secondary controls ... */
		.vmx_force_primary = 0x81200080u,
		/* ... and never INVLPG, CR3 load/store, I/O bitmaps, MSR bitmaps */
		.vmx_clear_primary = 0x12018200u,
		.vmx_force_secondary = 0x82u, /* EPT, unrestricted guest */
		.vmx_clear_secondary = 0x20u, /* VPID */
		.vmx_exceptions = 0x20002u,   /* prepare_vmcs(): #AC and #DB */
		.with_state_foreign_blocks = true, /* genode-vm-session.md: error + sleep_forever() */
		.vcpu_caps = 0,                    /* the accounted allocator: no fixed table */
		.vcpu_ram = 0,
		.priority_ignored = true, /* base-hw core/vm_root.h does not read "priority" */
	},
	{
		.name = "nova",
		.source = "genode-vm-session.md (base-nova vm_session_component.cc, lib/base/x86/vm.cc)",
		.svm_invalid_exit = VMSIM_EXIT_CODE_SVM_INVALID, /* NOVA/Fiasco.OC convention */
		.with_state_foreign_blocks = true,
		.vcpu_caps = 4, /* SM/EC caps at NUM_INITIAL_PT_RESERVED + id * 4 */
		.vcpu_ram = 0,
	},
};

const struct vmsim_profile *vmsim_profile_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
		if (strcmp(profiles[i].name, name) == 0)
			return &profiles[i];
	return NULL;
}

void vmsim_profile_controls(const struct vmsim_profile *profile, enum vmsim_model model, uint64_t *ctrl_primary,
                            uint64_t *ctrl_secondary)
{
	if (!profile || !ctrl_primary || !ctrl_secondary)
		return;
	if (model == VMSIM_MODEL_SVM) {
		*ctrl_primary |= profile->svm_force_misc1;
		*ctrl_secondary |= profile->svm_force_misc2;
	} else if (model == VMSIM_MODEL_VMX) {
		*ctrl_primary = (*ctrl_primary | profile->vmx_force_primary) & ~(uint64_t)profile->vmx_clear_primary;
		*ctrl_secondary =
		        (*ctrl_secondary | profile->vmx_force_secondary) & ~(uint64_t)profile->vmx_clear_secondary;
	}
}

unsigned vmsim_profile_exit_reason(const struct vmsim_profile *profile, enum vmsim_model model,
                                   unsigned exit_reason)
{
	if (profile && model == VMSIM_MODEL_SVM && exit_reason == VMSIM_EXIT_CODE_SVM_INVALID)
		return profile->svm_invalid_exit;
	return exit_reason;
}

uint64_t vmsim_profile_tsc_offset(const struct vmsim_profile *profile, enum vmsim_model model, uint64_t current,
                                  uint64_t charged)
{
	if (profile && model == VMSIM_MODEL_SVM && profile->svm_tsc_offset_adds)
		return current + charged; /* wraps modulo 2^64 like the VMCB field */
	return charged;
}
