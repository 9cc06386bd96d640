/* core/tests/vcpu_state_test.c - Vcpu_state helpers: discharge keeps values and zeroes exit_reason, clear, count,
 * the charged bits. */
#include <stdlib.h>

#include "vt_model.h"

/* The test's own list of every register (genode-vm-session.md §2), independent of vcpu_state.c. */
#define VT_REGS(X)                                                                                   \
	X(ax) X(cx) X(dx) X(bx) X(bp) X(si) X(di) X(sp) X(ip) X(ip_len) X(flags) X(cr0) X(cr2) X(cr3) \
	X(cr4) X(dr7) X(sysenter_ip) X(sysenter_sp) X(sysenter_cs) X(qual_primary) X(qual_secondary)  \
	X(ctrl_primary) X(ctrl_secondary) X(inj_info) X(inj_error) X(intr_state) X(actv_state) X(tsc) \
	X(tsc_offset) X(tsc_aux) X(efer) X(pdpte_0) X(pdpte_1) X(pdpte_2) X(pdpte_3) X(r8) X(r9)      \
	X(r10) X(r11) X(r12) X(r13) X(r14) X(r15) X(star) X(lstar) X(cstar) X(fmask)                  \
	X(kernel_gs_base) X(tpr) X(tpr_threshold) X(xcr0) X(xss)
#define VT_SEGS(X) X(es) X(ds) X(fs) X(gs) X(cs) X(ss) X(tr) X(ldtr)
#define VT_DTABLES(X) X(gdtr) X(idtr)

enum { VT_REG_COUNT = 52, VT_SEG_COUNT = 8, VT_DTABLE_COUNT = 2 };

/* A Vcpu_state is 64-byte aligned; keep it off the stack so the tests also cover the heap case. */
static struct vmsim_vcpu_state *vt_state_alloc(void)
{
	struct vmsim_vcpu_state *state = aligned_alloc(64, sizeof *state);
	assert_non_null(state);
	memset(state, 0xa5, sizeof *state);
	return state;
}

/* Charge every register with a value derived from its position; returns how many were charged. */
static unsigned vt_charge_all(struct vmsim_vcpu_state *state)
{
	unsigned n = 0;

#define VT_CHARGE_REG_(name) n++, vmsim_charge(state, name, 0x1000u + n);
#define VT_CHARGE_SEG_(name) \
	n++, vmsim_charge(state, name, (struct vmsim_segment){ (uint16_t)n, 0x93, 0xffff, 0x10000u * n });
#define VT_CHARGE_DT_(name) n++, vmsim_charge(state, name, (struct vmsim_dtable){ 0xfff, 0x2000u * n });
	VT_REGS(VT_CHARGE_REG_)
	VT_SEGS(VT_CHARGE_SEG_)
	VT_DTABLES(VT_CHARGE_DT_)
	for (unsigned i = 0; i < VMSIM_FPU_AREA_SIZE; i++)
		state->fpu.buffer[i] = (uint8_t)(i * 7);
	vmsim_charge_fpu(state, 512);
	return n + 1;
}

static void vt_assert_values_kept(const struct vmsim_vcpu_state *state)
{
	unsigned n = 0;

#define VT_CHECK_REG_(name) \
	n++, assert_int_equal(state->name.value, 0x1000u + n), assert_false(vmsim_charged(state, name));
#define VT_CHECK_SEG_(name)                                               \
	n++, assert_int_equal(state->name.value.sel, n),                  \
	     assert_int_equal(state->name.value.ar, 0x93),                \
	     assert_int_equal(state->name.value.limit, 0xffff),           \
	     assert_int_equal(state->name.value.base, 0x10000u * n),      \
	     assert_false(vmsim_charged(state, name));
#define VT_CHECK_DT_(name)                                                \
	n++, assert_int_equal(state->name.value.limit, 0xfff),            \
	     assert_int_equal(state->name.value.base, 0x2000u * n),       \
	     assert_false(vmsim_charged(state, name));
	VT_REGS(VT_CHECK_REG_)
	VT_SEGS(VT_CHECK_SEG_)
	VT_DTABLES(VT_CHECK_DT_)
	for (unsigned i = 0; i < VMSIM_FPU_AREA_SIZE; i++)
		assert_int_equal(state->fpu.buffer[i], (uint8_t)(i * 7));
	assert_int_equal(state->fpu.size, 512);
	assert_false(vmsim_charged(state, fpu));
}

static void discharge_keeps_values_clears_flags(void **unused)
{
	struct vmsim_vcpu_state *state = vt_state_alloc();
	(void)unused;

	vmsim_vcpu_state_clear(state);
	assert_int_equal(vt_charge_all(state), VT_REG_COUNT + VT_SEG_COUNT + VT_DTABLE_COUNT + 1);
	assert_int_equal(vmsim_vcpu_state_charged_count(state), 63);
	state->exit_reason = 0x30;

	vmsim_vcpu_state_discharge(state);
	assert_int_equal(vmsim_vcpu_state_charged_count(state), 0);
	vt_assert_values_kept(state);
	free(state);
}

static void discharge_zeroes_exit_reason(void **unused)
{
	struct vmsim_vcpu_state *state = vt_state_alloc();
	(void)unused;

	/* vmm_x86 reads exit_reason first, then discharges: what it read must not survive. */
	vmsim_vcpu_state_clear(state);
	state->exit_reason = 0xfe;
	vmsim_charge(state, ip, 0xfff0);
	unsigned seen = state->exit_reason;
	vmsim_vcpu_state_discharge(state);
	assert_int_equal(seen, 0xfe);
	assert_int_equal(state->exit_reason, 0);
	assert_int_equal(state->ip.value, 0xfff0);
	assert_false(vmsim_charged(state, ip));
	free(state);
}

static void charged_count_counts_each_kind_once(void **unused)
{
	struct vmsim_vcpu_state *state = vt_state_alloc();
	(void)unused;

	vmsim_vcpu_state_clear(state);
	assert_int_equal(vmsim_vcpu_state_charged_count(state), 0);
	vmsim_charge(state, ax, 1);
	vmsim_charge(state, xss, 1); /* the last plain register */
	assert_int_equal(vmsim_vcpu_state_charged_count(state), 2);
	vmsim_charge(state, ldtr, (struct vmsim_segment){ 0, 0x1000, 0xffff, 0 });
	vmsim_charge(state, idtr, (struct vmsim_dtable){ 0xffff, 0 });
	assert_int_equal(vmsim_vcpu_state_charged_count(state), 4);
	vmsim_charge_fpu(state, VMSIM_FPU_AREA_SIZE); /* the FPU counts as one */
	assert_int_equal(vmsim_vcpu_state_charged_count(state), 5);
	state->exit_reason = 0xff; /* no flag: never counted */
	assert_int_equal(vmsim_vcpu_state_charged_count(state), 5);
	state->charged |= UINT64_C(1) << 63; /* the spare bit names no register */
	assert_int_equal(vmsim_vcpu_state_charged_count(state), 5);
	free(state);
}

static void clear_zeroes_everything(void **unused)
{
	struct vmsim_vcpu_state *state = vt_state_alloc();
	const unsigned char *bytes = (const unsigned char *)state;
	(void)unused;

	vt_charge_all(state);
	state->exit_reason = 0x7f;
	vmsim_vcpu_state_clear(state);
	for (size_t i = 0; i < sizeof *state; i++)
		assert_int_equal(bytes[i], 0);
	assert_int_equal(vmsim_vcpu_state_charged_count(state), 0);
	free(state);
}

/* Bits 0..51 follow Genode's declaration order (the test's own list), then segments, tables and the FPU: the RPC's
 * charged bitmap (docs/rpc.md) is this word, so the order is part of the wire format. */
static void charged_bits_follow_genode_order(void **unused)
{
	unsigned n = 0;
	uint64_t seen = 0;
	(void)unused;

#define VT_SLOT_(name)                                              \
	assert_int_equal(VMSIM_SLOT_##name, n), n++,                \
	assert_int_equal(seen & VMSIM_CHARGED(name), 0), seen |= VMSIM_CHARGED(name);
	VT_REGS(VT_SLOT_)
	assert_int_equal(n, VT_REG_COUNT);
	VT_SEGS(VT_SLOT_)
	VT_DTABLES(VT_SLOT_)
	VT_SLOT_(fpu)
	assert_int_equal(n, VMSIM_SLOT_COUNT);
	assert_int_equal(seen, (UINT64_C(1) << 63) - 1);
}

/* vmsim_vcpu_state_bit finds each register from its address, and nothing else. */
static void bit_locates_each_register_and_nothing_else(void **unused)
{
	struct vmsim_vcpu_state *state = vt_state_alloc(), *other = vt_state_alloc();
	(void)unused;

#define VT_BIT_(name) assert_int_equal(vmsim_vcpu_state_bit(state, &state->name), VMSIM_CHARGED(name));
	VT_REGS(VT_BIT_)
	VT_SEGS(VT_BIT_)
	VT_DTABLES(VT_BIT_)
	VT_BIT_(fpu)
	assert_int_equal(vmsim_vcpu_state_bit(state, &state->charged), 0);
	assert_int_equal(vmsim_vcpu_state_bit(state, &state->exit_reason), 0);
	assert_int_equal(vmsim_vcpu_state_bit(state, &state->cs.value.base), 0); /* inside a register */
	assert_int_equal(vmsim_vcpu_state_bit(state, state->fpu.buffer + 8), 0);
	assert_int_equal(vmsim_vcpu_state_bit(state, &other->ax), 0); /* another state's register */
	assert_int_equal(vmsim_vcpu_state_bit(state, NULL), 0);
	assert_int_equal(vmsim_vcpu_state_bit(NULL, &state->ax), 0);
	free(state);
	free(other);
}

static void null_state_is_harmless(void **unused)
{
	(void)unused;
	vmsim_vcpu_state_discharge(NULL);
	vmsim_vcpu_state_clear(NULL);
	assert_int_equal(vmsim_vcpu_state_charged_count(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(discharge_keeps_values_clears_flags),
		cmocka_unit_test(discharge_zeroes_exit_reason),
		cmocka_unit_test(charged_count_counts_each_kind_once),
		cmocka_unit_test(clear_zeroes_everything),
		cmocka_unit_test(charged_bits_follow_genode_order),
		cmocka_unit_test(bit_locates_each_register_and_nothing_else),
		cmocka_unit_test(null_state_is_harmless),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
