/* kvm_host_test.c - the host profile from each probe answer that matters (no /dev/kvm needed: pure function). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <linux/kvm.h>

#include "kvm_host.h"

#define ALL_MSR_REASONS (KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_FILTER)

/* The QEMU-TCG lane: kernel 6.1, kvm_amd on an emulated AMD CPU (measured in the lane). */
static struct kvmb_probe_answers svm_lane(void)
{
	struct kvmb_probe_answers a = {
		.opened = true, .module = "kvm_amd", .vendor = "AuthenticAMD", .cpuid_svm = true,
		.kernel = "6.1.0-57-amd64", .nr_memslots = 32764, .sync_regs = 7,
		.user_space_msr = ALL_MSR_REASONS, .msr_filter = true,
		.rip = { [KVMB_PX_OUT] = KVMB_RIP_AT, [KVMB_PX_IN] = KVMB_RIP_AT, [KVMB_PX_MMIO_WRITE] = KVMB_RIP_PAST,
		         [KVMB_PX_MMIO_READ] = KVMB_RIP_AT, [KVMB_PX_HLT] = KVMB_RIP_PAST },
		.moved_rip_drops_io = true,
		.real_mode = KVMB_RUN_OK, .reset_real = KVMB_RUN_OK, .rdtscp = KVMB_RUN_OK, .tsc_offset = KVMB_RUN_OK,
		.int_real = KVMB_RUN_OK, .intr_window = KVMB_RUN_OK, .iret_protected = KVMB_RUN_OK,
		.paging_legacy = KVMB_RUN_OK, .vmcall = KVMB_RUN_OK,
		.delivery_pf = KVMB_RUN_OK, .delivery_pf_reached = true, .delivery_pf_cr2 = 0x7ff8, .delivery_pf_error = 2,
	};
	return a;
}

/* kvm_pvm on Intel, kernel 6.18, as shared/docs/kvm-hosts.md measured it (no MSR filter set up there). */
static struct kvmb_probe_answers pvm_host(void)
{
	struct kvmb_probe_answers a = {
		.opened = true, .module = "kvm_pvm", .vendor = "GenuineIntel", .kernel = "6.18.44",
		.nr_memslots = 32764, .sync_regs = 7, .user_space_msr = 0, .msr_filter = false,
		.rip = { [KVMB_PX_OUT] = KVMB_RIP_PAST, [KVMB_PX_IN] = KVMB_RIP_AT, [KVMB_PX_MMIO_WRITE] = KVMB_RIP_PAST,
		         [KVMB_PX_MMIO_READ] = KVMB_RIP_AT, [KVMB_PX_HLT] = KVMB_RIP_PAST },
		.real_mode = KVMB_RUN_OK, .reset_real = KVMB_RUN_EMULATION_FAILURE,
		.rdtscp = KVMB_RUN_EMULATION_FAILURE,
	};
	return a;
}

/* kvm_pvm on AMD, kernel 6.18.44, measured by this probe on 2026-12-06 (docs/backends/kvm.md): reset runs there. */
static struct kvmb_probe_answers pvm_amd_host(void)
{
	struct kvmb_probe_answers a = pvm_host();
	strcpy(a.vendor, "AuthenticAMD");
	a.reset_real = KVMB_RUN_OK;
	a.tsc_offset = KVMB_RUN_OTHER_FAILURE;
	a.int_real = KVMB_RUN_NO_EXIT;
	a.intr_window = KVMB_RUN_OTHER_FAILURE;
	a.iret_protected = KVMB_RUN_EMULATION_FAILURE;
	a.paging_legacy = KVMB_RUN_OTHER_FAILURE;
	a.vmcall = KVMB_RUN_NO_EXIT;
	a.delivery_pf = KVMB_RUN_OTHER_FAILURE; /* measured 2026-12-07: its #PF handler ran with CR2 0 */
	a.delivery_pf_reached = true;
	a.delivery_pf_error = 2;
	return a;
}

static void svm_lane_profile(void **state)
{
	(void)state;
	struct kvmb_probe_answers a = svm_lane();
	struct kvmb_host h;

	kvmb_host_profile(&a, &h);
	assert_int_equal(h.flavour, KVMB_FLAVOUR_SVM);
	assert_string_equal(h.name, "kvm_amd");
	assert_int_equal(h.rip[KVMB_PX_OUT], KVMB_RIP_AT);
	assert_int_equal(h.rip[KVMB_PX_HLT], KVMB_RIP_PAST);
	assert_int_equal(h.nr_memslots, 32764);
	assert_int_equal(h.sync_regs, 7);
	assert_true(h.msr_exits);
	assert_int_equal(h.msr_exit_reasons, ALL_MSR_REASONS);
	assert_true(h.caps & VMSIM_CAP_EXIT_MSR);
	assert_true(h.caps & VMSIM_CAP_MODE_REAL);
	assert_true(h.caps & VMSIM_CAP_RESET_VECTOR);
	assert_true(h.caps & VMSIM_CAP_TSC_OFFSET);
	assert_true(h.caps & VMSIM_CAP_INT_IRET);
	assert_true(h.caps & VMSIM_CAP_PAGING_LEGACY);
	assert_true(h.caps & VMSIM_CAP_HOST_HYPERCALL);
	assert_true(h.caps & VMSIM_CAP_INTR_WINDOW);
	assert_true(h.caps & VMSIM_CAP_DELIVERY_PF);
	assert_null(kvmb_host_cap_gap(&h, VMSIM_CAP_EXIT_MSR));
	assert_null(kvmb_host_cap_gap(&h, VMSIM_CAP_EXIT_IO));
	/* CPUID stays a gap on every host: KVM has no userspace CPUID exit */
	assert_false(h.caps & VMSIM_CAP_EXIT_CPUID);
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_EXIT_CPUID),
	                    "KVM answers CPUID in the kernel from KVM_SET_CPUID2; KVM has no userspace CPUID exit "
	                    "(no capability or filter offers one)");
	assert_true(h.defer_io);
	assert_true(h.moved_rip_drops_io);
	assert_true(h.caps & VMSIM_CAP_ENTRY_AS_SVM);
	assert_false(h.caps & VMSIM_CAP_ENTRY_AS_VMX);
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_ENTRY_AS_VMX),
	                    "host KVM (kvm_amd) enters guests by SVM's VMRUN, which refuses states the VMX model "
	                    "accepts (CR0.NW without CD, an injected vector-2 exception)");
	assert_string_equal(h.summary, "SVM (kvm_amd), vendor AuthenticAMD, kernel 6.1.0-57-amd64; exit rip out at in at "
	                               "mmio-w past mmio-r at hlt past, moved rip cancels io; 32764 memslots");
}

static void pvm_profile_as_measured(void **state)
{
	(void)state;
	struct kvmb_probe_answers a = pvm_host();
	struct kvmb_host h;

	kvmb_host_profile(&a, &h);
	assert_int_equal(h.flavour, KVMB_FLAVOUR_PVM);
	assert_int_equal(h.rip[KVMB_PX_OUT], KVMB_RIP_PAST);
	assert_int_equal(h.rip[KVMB_PX_IN], KVMB_RIP_AT);
	assert_int_equal(h.rip[KVMB_PX_MMIO_WRITE], KVMB_RIP_PAST);
	assert_int_equal(h.rip[KVMB_PX_MMIO_READ], KVMB_RIP_AT);
	assert_int_equal(h.nr_memslots, 32764);
	assert_false(h.defer_io); /* OUT is retired before the exit: nothing to cancel */
	assert_false(h.moved_rip_drops_io); /* the IN is fed to KVM's completion instead (kvm_exits.c fed) */
	/* simple real mode runs; the reset-state code does not; RDTSCP fails in KVM and the backend completes it */
	assert_true(h.caps & VMSIM_CAP_MODE_REAL);
	assert_false(h.caps & VMSIM_CAP_RESET_VECTOR);
	assert_true(h.caps & VMSIM_CAP_TSC_OFFSET);
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_RESET_VECTOR),
	                    "host KVM (kvm_pvm) cannot run real mode from the reset state (CS base 0xffff0000): "
	                    "emulation failure");
	assert_false(h.caps & (VMSIM_CAP_ENTRY_AS_SVM | VMSIM_CAP_ENTRY_AS_VMX));
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_ENTRY_AS_SVM),
	                    "host KVM (kvm_pvm) has no hardware VM entry: its entry checks follow neither model");
	assert_false(h.msr_exits);
	assert_int_equal(h.msr_exit_reasons, 0);
	assert_false(h.caps & VMSIM_CAP_EXIT_MSR);
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_EXIT_MSR),
	                    "host KVM (kvm_pvm) has no KVM_CAP_X86_USER_SPACE_MSR: RDMSR/WRMSR stay in the kernel");
}

/* The AMD PVM host: everything KVM's instruction emulator cannot do is a gap, named with the probe's answer. */
static void pvm_amd_profile_as_measured(void **state)
{
	(void)state;
	struct kvmb_probe_answers a = pvm_amd_host();
	struct kvmb_host h;

	kvmb_host_profile(&a, &h);
	assert_true(h.caps & VMSIM_CAP_RESET_VECTOR);
	assert_true(h.caps & (VMSIM_CAP_MODE_REAL | VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_MODE_LONG));
	assert_false(h.caps & (VMSIM_CAP_TSC_OFFSET | VMSIM_CAP_INT_IRET | VMSIM_CAP_INTR_WINDOW |
	                       VMSIM_CAP_PAGING_LEGACY | VMSIM_CAP_HOST_HYPERCALL));
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_TSC_OFFSET),
	                    "host KVM (kvm_pvm) does not keep a TSC offset: with KVM_VCPU_TSC_OFFSET set to 2^62 the "
	                    "guest's TSC after a KVM_RUN is below it");
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_INT_IRET),
	                    "host KVM (kvm_pvm) cannot run INT n in real mode (KVM_RUN kept running it without an exit) "
	                    "nor IRET in 32-bit protected mode (emulation failure) (it runs such a guest in KVM's "
	                    "instruction emulator)");
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_INTR_WINDOW),
	                    "host KVM (kvm_pvm) does not return from KVM_RUN when a requested interrupt window opens (the "
	                    "guest ran past STI to its next exit)");
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_PAGING_LEGACY),
	                    "host KVM (kvm_pvm) cannot turn on paging outside long mode (CR0.PG, 32-bit tables): the "
	                    "probe guest did not reach its exit (it runs such a guest in KVM's instruction emulator)");
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_HOST_HYPERCALL),
	                    "host KVM (kvm_pvm) does not complete a VMCALL in 32-bit protected mode: KVM_RUN kept running "
	                    "it without an exit (it runs such a guest in KVM's instruction emulator)");
	assert_false(h.caps & VMSIM_CAP_DELIVERY_PF);
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_DELIVERY_PF),
	                    "host KVM (kvm_pvm) sets CR2 to 0 for the #PF an interrupt's frame on an absent page raises, "
	                    "not to the frame's address (it runs such a guest in KVM's instruction emulator)");
	/* a wrong error code is named before CR2 */
	a.delivery_pf_error = 3;
	kvmb_host_profile(&a, &h);
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_DELIVERY_PF),
	                    "host KVM (kvm_pvm) gives the #PF an interrupt's frame on an absent page raises error code "
	                    "0x3, not 2 (a supervisor write to a not-present page) (it runs such a guest in KVM's "
	                    "instruction emulator)");
	/* a probe whose #PF handler never ran says how it ended instead */
	a.delivery_pf_reached = false;
	a.delivery_pf = KVMB_RUN_NO_EXIT;
	kvmb_host_profile(&a, &h);
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_DELIVERY_PF),
	                    "host KVM (kvm_pvm) does not deliver the #PF an interrupt's frame on an absent page raises "
	                    "(long-mode probe): KVM_RUN kept running it without an exit (it runs such a guest in KVM's "
	                    "instruction emulator)");
	/* with INT n in real mode fine, the protected-mode IRET alone is the reason */
	a.int_real = KVMB_RUN_OK;
	kvmb_host_profile(&a, &h);
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_INT_IRET),
	                    "host KVM (kvm_pvm) cannot run IRET in 32-bit protected mode (emulation failure) (it runs such "
	                    "a guest in KVM's instruction emulator)");
	/* an RDTSCP the probe saw fail otherwise than in the emulator is not made up for */
	a.rdtscp = KVMB_RUN_OTHER_FAILURE;
	a.tsc_offset = KVMB_RUN_UNTESTED;
	kvmb_host_profile(&a, &h);
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_TSC_OFFSET),
	                    "host KVM (kvm_pvm) cannot run RDTSCP (TSC_AUX) in the guest: the probe guest did not reach "
	                    "its exit");
}

static void pvm_with_msr_filter_offers_msr_exits(void **state)
{
	(void)state;
	struct kvmb_probe_answers a = pvm_host();
	struct kvmb_host h;

	a.user_space_msr = ALL_MSR_REASONS;
	a.msr_filter = true;
	kvmb_host_profile(&a, &h);
	assert_true(h.caps & VMSIM_CAP_EXIT_MSR);
	assert_int_equal(h.msr_exit_reasons, ALL_MSR_REASONS);
}

static void user_space_msr_without_filter_is_unknown_msrs_only(void **state)
{
	(void)state;
	struct kvmb_probe_answers a = svm_lane();
	struct kvmb_host h;

	a.msr_filter = false;
	kvmb_host_profile(&a, &h);
	assert_false(h.msr_exits);
	assert_int_equal(h.msr_exit_reasons, KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN);
	assert_false(h.caps & VMSIM_CAP_EXIT_MSR);
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_EXIT_MSR),
	                    "host KVM (kvm_amd) has KVM_CAP_X86_USER_SPACE_MSR without MSR filters: only unknown MSRs "
	                    "leave the kernel");
}

/* Bare-metal Intel: kvm_intel, OUT at the instruction (fast PIO), everything runs. */
static void bare_vmx_profile(void **state)
{
	(void)state;
	struct kvmb_probe_answers a = svm_lane();
	struct kvmb_host h;

	strcpy(a.module, "kvm_intel");
	strcpy(a.vendor, "GenuineIntel");
	a.cpuid_svm = false;
	a.cpuid_vmx = true;
	a.nr_memslots = 509;
	kvmb_host_profile(&a, &h);
	assert_int_equal(h.flavour, KVMB_FLAVOUR_VMX);
	assert_int_equal(h.nr_memslots, 509);
	assert_int_equal(h.rip[KVMB_PX_OUT], KVMB_RIP_AT);
	assert_true(h.caps & VMSIM_CAP_RESET_VECTOR);
	assert_true(h.caps & VMSIM_CAP_EXIT_MSR);
	assert_false(h.caps & (VMSIM_CAP_ENTRY_AS_SVM | VMSIM_CAP_ENTRY_AS_VMX));
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_ENTRY_AS_SVM),
	                    "host KVM (kvm_intel) enters guests by VMX's VMLAUNCH, which refuses states the SVM model "
	                    "accepts (RFLAGS bit 1 clear, an activity state above 3)");
}

/* Deferring port I/O needs both rules at the instruction and the probe's moved-RIP answer. */
static void defer_io_needs_every_answer(void **state)
{
	(void)state;
	struct kvmb_probe_answers a = svm_lane();
	struct kvmb_host h;

	a.moved_rip_drops_io = false;
	kvmb_host_profile(&a, &h);
	assert_false(h.defer_io);
	a = svm_lane();
	a.rip[KVMB_PX_IN] = KVMB_RIP_UNKNOWN;
	kvmb_host_profile(&a, &h);
	assert_false(h.defer_io);
	a = pvm_host();
	a.moved_rip_drops_io = true; /* whatever it says: OUT is past on PVM */
	kvmb_host_profile(&a, &h);
	assert_false(h.defer_io);
}

/* Without a module name the virtualization bit, then "other", names the flavour. */
static void flavour_without_module(void **state)
{
	(void)state;
	struct kvmb_probe_answers a = svm_lane();
	struct kvmb_host h;

	a.module[0] = 0;
	kvmb_host_profile(&a, &h);
	assert_int_equal(h.flavour, KVMB_FLAVOUR_SVM);
	assert_string_equal(h.name, "SVM");
	a.cpuid_svm = false;
	a.cpuid_vmx = true;
	kvmb_host_profile(&a, &h);
	assert_int_equal(h.flavour, KVMB_FLAVOUR_VMX);
	a.cpuid_vmx = false;
	kvmb_host_profile(&a, &h);
	assert_int_equal(h.flavour, KVMB_FLAVOUR_OTHER);
	assert_string_equal(h.name, "other");
}

/* A real-mode failure takes real mode and the reset vector; its exit rules are unknown (decided per exit). */
static void real_mode_failure(void **state)
{
	(void)state;
	struct kvmb_probe_answers a = pvm_host();
	struct kvmb_host h;

	a.real_mode = KVMB_RUN_EMULATION_FAILURE;
	kvmb_host_profile(&a, &h);
	assert_false(h.caps & VMSIM_CAP_MODE_REAL);
	assert_false(h.caps & VMSIM_CAP_RESET_VECTOR);
	assert_true(h.caps & VMSIM_CAP_MODE_PROTECTED);
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_MODE_REAL),
	                    "host KVM (kvm_pvm) cannot run real mode: emulation failure");
	/* the first reason recorded stays: real mode as a whole */
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_RESET_VECTOR),
	                    "host KVM (kvm_pvm) cannot run real mode: emulation failure");
	for (unsigned w = 0; w < KVMB_PX_COUNT; w++)
		assert_int_equal(h.rip[w], KVMB_RIP_UNKNOWN);
	a.real_mode = KVMB_RUN_OTHER_FAILURE;
	kvmb_host_profile(&a, &h);
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_MODE_REAL),
	                    "host KVM (kvm_pvm) cannot run real mode: the probe guest did not reach its exit");
}

/* Untested probes (e.g. no reset page) take nothing away. */
static void untested_probes_keep_caps(void **state)
{
	(void)state;
	struct kvmb_probe_answers a = svm_lane();
	struct kvmb_host h;

	a.reset_real = KVMB_RUN_UNTESTED;
	a.rdtscp = KVMB_RUN_UNTESTED;
	a.delivery_pf = KVMB_RUN_UNTESTED;
	kvmb_host_profile(&a, &h);
	assert_true(h.caps & VMSIM_CAP_RESET_VECTOR);
	assert_true(h.caps & VMSIM_CAP_TSC_OFFSET);
	assert_true(h.caps & VMSIM_CAP_DELIVERY_PF);
}

/* No /dev/kvm: the general caps (vm_create fails), 32 slots, no rules. */
static void no_dev_kvm(void **state)
{
	(void)state;
	struct kvmb_probe_answers a;
	struct kvmb_host h;

	memset(&a, 0, sizeof a);
	kvmb_host_profile(&a, &h);
	assert_int_equal(h.flavour, KVMB_FLAVOUR_NONE);
	assert_int_equal(h.nr_memslots, 32);
	assert_true(h.caps & VMSIM_CAP_EXIT_IO);
	assert_false(h.caps & VMSIM_CAP_EXIT_MSR);
	assert_string_equal(h.summary, "no usable /dev/kvm");
	assert_string_equal(h.description, "hardware virtualization through /dev/kvm ioctls; host no usable /dev/kvm");
	assert_int_equal(h.rip[KVMB_PX_OUT], KVMB_RIP_UNKNOWN);
	assert_string_equal(kvmb_host_cap_gap(&h, VMSIM_CAP_NMI_WINDOW), "KVM has no NMI-window exit to userspace");
}

/* sync_regs keeps only the bits the backend knows; memslots not reported: 32. */
static void sync_regs_and_memslots(void **state)
{
	(void)state;
	struct kvmb_probe_answers a = svm_lane();
	struct kvmb_host h;

	a.sync_regs = 0xff;
	a.nr_memslots = 0;
	kvmb_host_profile(&a, &h);
	assert_int_equal(h.sync_regs, 7);
	assert_int_equal(h.nr_memslots, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(svm_lane_profile),
		cmocka_unit_test(pvm_profile_as_measured),
		cmocka_unit_test(pvm_amd_profile_as_measured),
		cmocka_unit_test(pvm_with_msr_filter_offers_msr_exits),
		cmocka_unit_test(user_space_msr_without_filter_is_unknown_msrs_only),
		cmocka_unit_test(bare_vmx_profile),
		cmocka_unit_test(defer_io_needs_every_answer),
		cmocka_unit_test(flavour_without_module),
		cmocka_unit_test(real_mode_failure),
		cmocka_unit_test(untested_probes_keep_caps),
		cmocka_unit_test(no_dev_kvm),
		cmocka_unit_test(sync_regs_and_memslots),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
