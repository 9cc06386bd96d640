/* kvm_host.c - pure: from the probe's answers to the host profile (caps, gap reasons naming the host, exit rules). */
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>

#include "kvm_host.h"

/* What KVM offers on any host that passes vm_create's checks; the probe only ever takes away (and adds MSR). */
#define KVMB_BASE_CAPS                                                                               \
	(VMSIM_CAP_EXIT_IO | VMSIM_CAP_EXIT_IO_STRING | VMSIM_CAP_EXIT_NPF | VMSIM_CAP_EXIT_MMIO_DECODE | \
	 VMSIM_CAP_EXIT_HLT | VMSIM_CAP_EXIT_SHUTDOWN | VMSIM_CAP_INJECT_EXTINT | VMSIM_CAP_INJECT_NMI |  \
	 VMSIM_CAP_INJECT_EXCEPTION | VMSIM_CAP_INTR_WINDOW | VMSIM_CAP_MODE_REAL |                      \
	 VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_MODE_LONG | VMSIM_CAP_MODE_SWITCH |                        \
	 VMSIM_CAP_RESET_VECTOR | VMSIM_CAP_READONLY_MEMORY | VMSIM_CAP_STOP | VMSIM_CAP_TSC_OFFSET |     \
	 VMSIM_CAP_FPU_STATE | VMSIM_CAP_INT_IRET | VMSIM_CAP_PAGING_LEGACY | VMSIM_CAP_HOST_HYPERCALL |  \
	 VMSIM_CAP_DELIVERY_PF)

/* Gaps of KVM itself, whatever the host: the kernel keeps these exits, or KVM has no such interface. */
static const struct {
	uint64_t cap;
	const char *why;
} kvm_gaps[] = {
	{ VMSIM_CAP_EXIT_CPUID, "KVM answers CPUID in the kernel from KVM_SET_CPUID2; KVM has no userspace CPUID exit "
	                        "(no capability or filter offers one)" },
	{ VMSIM_CAP_EXIT_VMCALL, "KVM handles VMCALL/VMMCALL as its own hypercall in the kernel" },
	{ VMSIM_CAP_EXIT_RDTSC, "KVM lets the guest read the offset TSC without an exit" },
	{ VMSIM_CAP_EXIT_RDTSCP, "KVM lets the guest run RDTSCP (with TSC_AUX) without an exit" },
	{ VMSIM_CAP_INJECT_SWINT, "software-interrupt injection on SVM without NRIPS (QEMU TCG) is not reliable in KVM" },
	{ VMSIM_CAP_INHOOK_EXIT, "every KVM exit returns from KVM_RUN; there is no in-hook path" },
	{ VMSIM_CAP_NOEXEC_MEMORY, "KVM memory slots have no no-execute flag" },
	{ VMSIM_CAP_NMI_WINDOW, "KVM has no NMI-window exit to userspace" },
	{ VMSIM_CAP_DELIVERY_NPF, "KVM takes guest memory without a slot for MMIO and cannot emulate an event's "
	                          "delivery into it: KVM_EXIT_INTERNAL_ERROR (kvm_amd in the QEMU lane: emulation "
	                          "failure), no exit the VMM can resolve" },
	{ VMSIM_CAP_EXCEPTION_INTERCEPT, "KVM gives userspace no exception exits (KVM_SET_GUEST_DEBUG reports #DB and "
	                                 "#BP only, as debug exits, and takes them from the guest's own debugging)" },
};

static unsigned bit_of(uint64_t cap)
{
	unsigned i = 0;
	while (i < 63 && !(cap & (1ull << i)))
		i++;
	return i;
}

static void drop(struct kvmb_host *h, uint64_t cap, const char *why)
{
	unsigned i = bit_of(cap);

	if (!(h->caps & cap) || i >= KVMB_CAP_BITS)
		return;
	h->caps &= ~cap;
	snprintf(h->gap[i], KVMB_GAP_LEN, "host KVM (%s) %s", h->name, why);
}

static const char *failure(enum kvmb_run_answer a)
{
	return a == KVMB_RUN_EMULATION_FAILURE ? "emulation failure"
	       : a == KVMB_RUN_NO_EXIT         ? "KVM_RUN kept running it without an exit"
	                                       : "the probe guest did not reach its exit";
}

static bool fails(enum kvmb_run_answer a)
{
	return a == KVMB_RUN_EMULATION_FAILURE || a == KVMB_RUN_OTHER_FAILURE || a == KVMB_RUN_NO_EXIT;
}

/* kvm_pvm runs a guest that is not PVM-aware in KVM's instruction emulator: say so where that is the cause. */
static const char *emulated(const struct kvmb_host *h)
{
	return h->flavour == KVMB_FLAVOUR_PVM ? " (it runs such a guest in KVM's instruction emulator)" : "";
}

static const char *flavour_text(enum kvmb_flavour f)
{
	switch (f) {
	case KVMB_FLAVOUR_VMX: return "VMX";
	case KVMB_FLAVOUR_SVM: return "SVM";
	case KVMB_FLAVOUR_PVM: return "PVM";
	case KVMB_FLAVOUR_OTHER: return "other";
	default: return "none";
	}
}

static const char *rule_text(enum kvmb_rip_rule r)
{
	return r == KVMB_RIP_AT ? "at" : r == KVMB_RIP_PAST ? "past" : "?";
}

/* The kernel module names the flavour best; without one, the virtualization bit KVM passes on, then the vendor. */
static enum kvmb_flavour flavour_of(const struct kvmb_probe_answers *a)
{
	if (!a->opened)
		return KVMB_FLAVOUR_NONE;
	if (!strcmp(a->module, "kvm_pvm"))
		return KVMB_FLAVOUR_PVM;
	if (!strcmp(a->module, "kvm_amd"))
		return KVMB_FLAVOUR_SVM;
	if (!strcmp(a->module, "kvm_intel"))
		return KVMB_FLAVOUR_VMX;
	if (a->cpuid_svm)
		return KVMB_FLAVOUR_SVM;
	if (a->cpuid_vmx)
		return KVMB_FLAVOUR_VMX;
	return KVMB_FLAVOUR_OTHER;
}

static void describe(struct kvmb_host *h)
{
	snprintf(h->description, sizeof h->description, "hardware virtualization through /dev/kvm ioctls; host %s",
	         h->summary);
}

/* Which model's VM-entry verdicts the host's entry matches. On an SVM host KVM enters by VMRUN, whose
 * consistency checks are the SVM model's (APM 15.5.1): every state only VMX refuses runs there (all 8
 * such cases measured in the QEMU lane). A VMX host is not declared: KVM's own KVM_SET_SREGS checks (CR0.NW
 * without CD among them) can refuse what VMX entry accepts, and no such host was run. PVM has no VM entry. */
static void model_entry(struct kvmb_host *h)
{
	const char *refuses_vmx = "enters guests by SVM's VMRUN, which refuses states the VMX model accepts "
	                          "(CR0.NW without CD, an injected vector-2 exception)";
	switch (h->flavour) {
	case KVMB_FLAVOUR_SVM:
		h->caps |= VMSIM_CAP_ENTRY_AS_SVM;
		snprintf(h->gap[bit_of(VMSIM_CAP_ENTRY_AS_VMX)], KVMB_GAP_LEN, "host KVM (%s) %s", h->name, refuses_vmx);
		break;
	case KVMB_FLAVOUR_VMX:
		snprintf(h->gap[bit_of(VMSIM_CAP_ENTRY_AS_SVM)], KVMB_GAP_LEN,
		         "host KVM (%s) enters guests by VMX's VMLAUNCH, which refuses states the SVM model accepts "
		         "(RFLAGS bit 1 clear, an activity state above 3)", h->name);
		snprintf(h->gap[bit_of(VMSIM_CAP_ENTRY_AS_VMX)], KVMB_GAP_LEN,
		         "host KVM (%s) checks KVM_SET_SREGS itself (CR0.NW without CD) beyond VMX entry; not yet "
		         "measured on a VMX host", h->name);
		break;
	default:
		for (int i = 0; i < 2; i++)
			snprintf(h->gap[bit_of(i ? VMSIM_CAP_ENTRY_AS_VMX : VMSIM_CAP_ENTRY_AS_SVM)], KVMB_GAP_LEN,
			         "host KVM (%s) has no hardware VM entry: its entry checks follow neither model", h->name);
		break;
	}
}

/* What the probe guests could not run takes its capability away, with the answer as the reason. */
static void guest_gaps(const struct kvmb_probe_answers *a, struct kvmb_host *h)
{
	if (fails(a->real_mode)) {
		char why[120];
		snprintf(why, sizeof why, "cannot run real mode: %s", failure(a->real_mode));
		drop(h, VMSIM_CAP_RESET_VECTOR, why);
		drop(h, VMSIM_CAP_MODE_REAL, why);
	}
	if (fails(a->reset_real)) {
		char why[120];
		snprintf(why, sizeof why, "cannot run real mode from the reset state (CS base 0xffff0000): %s",
		         failure(a->reset_real));
		drop(h, VMSIM_CAP_RESET_VECTOR, why);
	}
	/* an emulation failure at RDTSCP the backend completes itself (kvm_exits.c, complete_rdtscp) */
	if (a->rdtscp == KVMB_RUN_OTHER_FAILURE) {
		char why[120];
		snprintf(why, sizeof why, "cannot run RDTSCP (TSC_AUX) in the guest: %s", failure(a->rdtscp));
		drop(h, VMSIM_CAP_TSC_OFFSET, why);
	}
	if (a->tsc_offset == KVMB_RUN_OTHER_FAILURE)
		drop(h, VMSIM_CAP_TSC_OFFSET, "does not keep a TSC offset: with KVM_VCPU_TSC_OFFSET set to 2^62 the guest's TSC "
		                              "after a KVM_RUN is below it");
	if (fails(a->int_real) || fails(a->iret_protected)) {
		char why[200], intn[80] = "", iret[80] = "";
		if (fails(a->int_real))
			snprintf(intn, sizeof intn, "INT n in real mode (%s)", failure(a->int_real));
		if (fails(a->iret_protected))
			snprintf(iret, sizeof iret, "IRET in 32-bit protected mode (%s)", failure(a->iret_protected));
		snprintf(why, sizeof why, "cannot run %s%s%s%s", intn, intn[0] && iret[0] ? " nor " : "", iret, emulated(h));
		drop(h, VMSIM_CAP_INT_IRET, why);
	}
	if (fails(a->intr_window))
		drop(h, VMSIM_CAP_INTR_WINDOW, a->intr_window == KVMB_RUN_OTHER_FAILURE
		                                   ? "does not return from KVM_RUN when a requested interrupt window "
		                                     "opens (the guest ran past STI to its next exit)"
		                                   : "could not run the interrupt-window probe guest");
	if (fails(a->paging_legacy)) {
		char why[160];
		snprintf(why, sizeof why, "cannot turn on paging outside long mode (CR0.PG, 32-bit tables): %s%s",
		         failure(a->paging_legacy), emulated(h));
		drop(h, VMSIM_CAP_PAGING_LEGACY, why);
	}
	if (fails(a->delivery_pf)) {
		char why[200];
		if (a->delivery_pf_reached && a->delivery_pf_error != 2)
			snprintf(why, sizeof why, "gives the #PF an interrupt's frame on an absent page raises error code "
			         "%#x, not 2 (a supervisor write to a not-present page)%s", a->delivery_pf_error, emulated(h));
		else if (a->delivery_pf_reached)
			snprintf(why, sizeof why, "sets CR2 to %#llx for the #PF an interrupt's frame on an absent page "
			         "raises, not to the frame's address%s", (unsigned long long)a->delivery_pf_cr2, emulated(h));
		else
			snprintf(why, sizeof why, "does not deliver the #PF an interrupt's frame on an absent page raises "
			         "(long-mode probe): %s%s", failure(a->delivery_pf), emulated(h));
		drop(h, VMSIM_CAP_DELIVERY_PF, why);
	}
	if (fails(a->vmcall)) {
		char why[160];
		snprintf(why, sizeof why, "does not complete a VMCALL in 32-bit protected mode: %s%s", failure(a->vmcall),
		         emulated(h));
		drop(h, VMSIM_CAP_HOST_HYPERCALL, why);
	}
}

void kvmb_host_profile(const struct kvmb_probe_answers *a, struct kvmb_host *h)
{
	memset(h, 0, sizeof *h);
	h->flavour = flavour_of(a);
	if (a->module[0])
		snprintf(h->name, sizeof h->name, "%s", a->module);
	else
		snprintf(h->name, sizeof h->name, "%s", flavour_text(h->flavour));
	h->caps = KVMB_BASE_CAPS;
	for (size_t i = 0; i < sizeof kvm_gaps / sizeof kvm_gaps[0]; i++)
		snprintf(h->gap[bit_of(kvm_gaps[i].cap)], KVMB_GAP_LEN, "%s", kvm_gaps[i].why);
	h->nr_memslots = 32; /* KVM's minimum before KVM_CAP_NR_MEMSLOTS existed */
	if (!a->opened) {
		/* vm_create fails with UNSUPPORTED; the caps say what KVM offers in general */
		snprintf(h->gap[bit_of(VMSIM_CAP_EXIT_MSR)], KVMB_GAP_LEN,
		         "no /dev/kvm here: user-space MSR exits depend on the host KVM");
		snprintf(h->summary, sizeof h->summary, "no usable /dev/kvm");
		describe(h);
		return;
	}
	model_entry(h);
	if (a->nr_memslots > 0)
		h->nr_memslots = (unsigned)a->nr_memslots;
	h->sync_regs = (unsigned)a->sync_regs & (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS);

	/* the exit rules come from the real-mode probe guest; where it failed they are decided per exit */
	if (a->real_mode == KVMB_RUN_OK)
		memcpy(h->rip, a->rip, sizeof h->rip);
	/* one KVM_RUN per port-I/O exit: only where both wait at the instruction and a moved RIP cancels them */
	h->moved_rip_drops_io = a->moved_rip_drops_io;
	h->defer_io = a->moved_rip_drops_io && h->rip[KVMB_PX_OUT] == KVMB_RIP_AT && h->rip[KVMB_PX_IN] == KVMB_RIP_AT;

	guest_gaps(a, h);

	/* MSR exits: every RDMSR/WRMSR needs a deny-all filter; unknown MSRs alone need only the capability */
	uint32_t want = KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_FILTER;
	h->msr_exit_reasons = (uint32_t)a->user_space_msr & want;
	if (!a->msr_filter)
		h->msr_exit_reasons &= ~(uint32_t)KVM_MSR_EXIT_REASON_FILTER;
	h->msr_exits = (h->msr_exit_reasons & KVM_MSR_EXIT_REASON_FILTER) != 0;
	if (h->msr_exits)
		h->caps |= VMSIM_CAP_EXIT_MSR;
	else if (h->msr_exit_reasons)
		snprintf(h->gap[bit_of(VMSIM_CAP_EXIT_MSR)], KVMB_GAP_LEN,
		         "host KVM (%s) has KVM_CAP_X86_USER_SPACE_MSR without MSR filters: only unknown MSRs "
		         "leave the kernel", h->name);
	else
		snprintf(h->gap[bit_of(VMSIM_CAP_EXIT_MSR)], KVMB_GAP_LEN,
		         "host KVM (%s) has no KVM_CAP_X86_USER_SPACE_MSR: RDMSR/WRMSR stay in the kernel", h->name);

	snprintf(h->summary, sizeof h->summary,
	         "%s (%s), vendor %s, kernel %s; exit rip out %s in %s mmio-w %s mmio-r %s hlt %s%s; %u memslots",
	         flavour_text(h->flavour), h->name, a->vendor[0] ? a->vendor : "?", a->kernel[0] ? a->kernel : "?",
	         rule_text(h->rip[KVMB_PX_OUT]), rule_text(h->rip[KVMB_PX_IN]), rule_text(h->rip[KVMB_PX_MMIO_WRITE]),
	         rule_text(h->rip[KVMB_PX_MMIO_READ]), rule_text(h->rip[KVMB_PX_HLT]),
	         h->defer_io ? ", moved rip cancels io" : "", h->nr_memslots);
	describe(h);
}

const char *kvmb_host_cap_gap(const struct kvmb_host *h, uint64_t cap)
{
	if (cap & h->caps)
		return NULL;
	unsigned i = bit_of(cap);
	if (i < KVMB_CAP_BITS && h->gap[i][0])
		return h->gap[i];
	return "the KVM backend does not offer this capability.";
}
