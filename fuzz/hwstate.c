/* fuzz/hwstate.c - arbitrary VMCB images through the reference translation, Genode's page layout and the SVM model. */
#include <string.h>

#include <vmsim/vmsim.h>

#include "fuzz_target.h"

/*
 * Input: a flags byte (bit 0: report VMEXIT_INVALID as 0xfd), then up to 4096
 * bytes of VMCB (the rest zero). Invariants:
 * - from_vmcb accepts any image; the state it charges, written back with
 *   to_vmcb into a zeroed VMCB and read again, gives the same save-area
 *   registers, segments and exit information it wrote;
 * - the state exports to Genode's 2024 page, and that page imports and
 *   exports again to the same bytes;
 * - the SVM model's decode of it returns OK, UNSUPPORTED or INVALID_ARGUMENT,
 *   and what it accepts re-encodes (but VMX-only cases) with the same code.
 * Test code: statics hold the large buffers.
 */
static uint8_t vmcb[VMSIM_VMCB_SIZE], again[VMSIM_VMCB_SIZE];
static uint8_t page[3648], page2[3648];
static struct vmsim_vcpu_state st, st2, imported, encoded;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = data[0] & VMSIM_HWSTATE_SVM_INVALID_AS_FD;
	memset(vmcb, 0, sizeof vmcb);
	memcpy(vmcb, data + 1, size - 1 < sizeof vmcb ? size - 1 : sizeof vmcb);

	vmsim_vcpu_state_clear(&st);
	FUZZ_CHECK(vmsim_hwstate_from_vmcb(vmcb, sizeof vmcb, flags, &st) == VMSIM_OK);

	/* The entry direction refuses only what Genode's 32-bit fields cannot hold: narrow those first. */
	st.intr_state.value &= 1;
	st.tpr.value &= 0xff;
	memset(again, 0, sizeof again);
	FUZZ_CHECK(vmsim_hwstate_to_vmcb(&st, again, sizeof again) == VMSIM_OK);
	vmsim_vcpu_state_clear(&st2);
	FUZZ_CHECK(vmsim_hwstate_from_vmcb(again, sizeof again, flags, &st2) == VMSIM_OK);
	FUZZ_CHECK(st2.ax.value == st.ax.value && st2.ip.value == st.ip.value && st2.flags.value == st.flags.value);
	FUZZ_CHECK(st2.sp.value == st.sp.value && st2.cr0.value == st.cr0.value && st2.cr2.value == st.cr2.value);
	FUZZ_CHECK(st2.cr3.value == st.cr3.value && st2.cr4.value == st.cr4.value && st2.efer.value == st.efer.value);
	FUZZ_CHECK(st2.kernel_gs_base.value == st.kernel_gs_base.value && st2.tsc_offset.value == st.tsc_offset.value);
	FUZZ_CHECK(memcmp(&st2.cs.value, &st.cs.value, sizeof st.cs.value) == 0);
	FUZZ_CHECK(memcmp(&st2.tr.value, &st.tr.value, sizeof st.tr.value) == 0);
	FUZZ_CHECK(st2.gdtr.value.limit == st.gdtr.value.limit && st2.idtr.value.base == st.idtr.value.base);
	FUZZ_CHECK(st2.intr_state.value == st.intr_state.value && st2.tpr.value == st.tpr.value);
	/* EVENTINJ is the entry field, EXITINTINFO the exit one: only the event the VMM charged went to 0x0a8 */
	uint64_t eventinj = 0;
	for (unsigned i = 0; i < 8; i++)
		eventinj |= (uint64_t)again[VMSIM_VMCB_EVENTINJ + i] << (8 * i);
	FUZZ_CHECK(eventinj == ((st.inj_info.value & ~0x3000ull) | (st.inj_error.value << 32)));

	/* Genode's page: export, import, export is byte-identical */
	FUZZ_CHECK(vmsim_genode_layout_export(VMSIM_GENODE_LAYOUT_2024, &st, page, sizeof page) == VMSIM_OK);
	FUZZ_CHECK(vmsim_genode_layout_import(VMSIM_GENODE_LAYOUT_2024, page, sizeof page, &imported) == VMSIM_OK);
	FUZZ_CHECK(vmsim_genode_layout_export(VMSIM_GENODE_LAYOUT_2024, &imported, page2, sizeof page2) == VMSIM_OK);
	FUZZ_CHECK(memcmp(page, page2, sizeof page) == 0);

	/* The SVM model reads what a kernel produced: a verdict, and what it accepts encodes back to its code */
	struct vmsim_exit exit;
	enum vmsim_result r = vmsim_model_decode_exit(VMSIM_MODEL_SVM, &st, &exit);
	FUZZ_CHECK(r == VMSIM_OK || r == VMSIM_UNSUPPORTED || r == VMSIM_INVALID_ARGUMENT);
	if (r == VMSIM_OK) {
		vmsim_vcpu_state_clear(&encoded);
		FUZZ_CHECK(vmsim_model_encode_exit(VMSIM_MODEL_SVM, &exit, 0, 0, &encoded) == VMSIM_OK);
		/* aliases: raw 0x400 is Genode's 0xfc, VMEXIT_INVALID is vmsim's 0xfd */
		unsigned want = st.exit_reason == 0x400 ? 0xfc : st.exit_reason == 0xffffffffu ? 0xfd : st.exit_reason;
		FUZZ_CHECK(encoded.exit_reason == want);
	}
	return 0;
}

