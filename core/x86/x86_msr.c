/* core/x86/x86_msr.c - the MSRs of the neutral CPU state and their fields (constant data; vmsim/x86.h). */
#include <stddef.h>

#include <vmsim/x86.h>

/* SDM Vol. 4 2.1 (architectural MSRs); TSC_AUX is AMD64 Vol. 2 / SDM RDTSCP. */
static const struct vmsim_x86_state_msr state_msrs[] = {
	{ 0x174, VMSIM_GROUP_SYSENTER, offsetof(struct vmsim_cpu_state, sysenter_cs) },
	{ 0x175, VMSIM_GROUP_SYSENTER, offsetof(struct vmsim_cpu_state, sysenter_esp) },
	{ 0x176, VMSIM_GROUP_SYSENTER, offsetof(struct vmsim_cpu_state, sysenter_eip) },
	{ 0xc0000081, VMSIM_GROUP_SYSCALL, offsetof(struct vmsim_cpu_state, star) },
	{ 0xc0000082, VMSIM_GROUP_SYSCALL, offsetof(struct vmsim_cpu_state, lstar) },
	{ 0xc0000083, VMSIM_GROUP_SYSCALL, offsetof(struct vmsim_cpu_state, cstar) },
	{ 0xc0000084, VMSIM_GROUP_SYSCALL, offsetof(struct vmsim_cpu_state, fmask) },
	{ 0xc0000102, VMSIM_GROUP_SYSCALL, offsetof(struct vmsim_cpu_state, kernel_gs_base) },
	{ 0xc0000103, VMSIM_GROUP_TSC, offsetof(struct vmsim_cpu_state, tsc_aux) },
};

const struct vmsim_x86_state_msr *vmsim_x86_state_msrs(size_t *count)
{
	*count = sizeof state_msrs / sizeof state_msrs[0];
	return state_msrs;
}
