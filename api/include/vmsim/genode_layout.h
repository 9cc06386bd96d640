/* vmsim/genode_layout.h - Genode's x86 Vcpu_state in its exact byte layout: C mirrors, export and import. */
#ifndef VMSIM_API_GENODE_LAYOUT_H
#define VMSIM_API_GENODE_LAYOUT_H

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

#include <vmsim/result.h>
#include <vmsim/vcpu_state.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The page a Genode kernel (base-hw: core and the VMM share it) fills from a
 * VMCB/VMCS, read from genodelabs/genode repos/base/include/spec/x86/cpu/vcpu_state.h:
 *
 * 2023: commit 5e862b2cd35fd86779afa5c52d7747820d74954c (read field by field):
 *   Register<T> { T _value; bool _charged; } in declaration order, addr_t and
 *   uint64_t registers 16 bytes, Register<uint32_t> (ctrl_*, inj_*, intr_state,
 *   actv_state, tpr, tpr_threshold) 8 bytes, Segment {sel, ar, limit, base} and
 *   Range {limit, base} registers 24 bytes, then `unsigned exit_reason` and
 *   `Fpu fpu __attribute__((aligned(16)))` = { State (512 bytes, aligned 16); bool _charged }.
 * 2024: ff506b0375 (#5314, 2024-09-04) as genode-vm-session.md records it: xcr0
 *   and xss (uint64 registers) after tpr_threshold, exit_reason at 1008, the FPU
 *   at 1024 with a 2560-byte State aligned 64 and a 64-bit size. The order of the
 *   size and the charged flag after the buffer is NOT read from the header:
 *   vmsim assumes size first (both orders give the same total size).
 * `charged` is C++ bool (one byte, 0 or 1) and kept as uint8_t here so that a
 * foreign image with another byte value can be refused instead of misread.
 */
enum vmsim_genode_layout {
	VMSIM_GENODE_LAYOUT_2023 = 1, /* 1520 bytes, FXSAVE area 512 */
	VMSIM_GENODE_LAYOUT_2024 = 2  /* 3648 bytes, XSAVE area 2560 + size */
};

struct vmsim_genode_reg {   /* Register<addr_t> / Register<uint64_t> */
	uint64_t value;
	uint8_t charged;
};
struct vmsim_genode_reg32 { /* Register<uint32_t> */
	uint32_t value;
	uint8_t charged;
};
struct vmsim_genode_segment_reg { /* Register<Segment> */
	struct {
		uint16_t sel, ar;
		uint32_t limit;
		uint64_t base;
	} value;
	uint8_t charged;
};
struct vmsim_genode_range_reg { /* Register<Range> */
	struct {
		uint32_t limit;
		uint64_t base;
	} value;
	uint8_t charged;
};

/* Every register both layouts share, in Genode's declaration order. */
#define VMSIM_GENODE_COMMON_REGISTERS                                                  \
	struct vmsim_genode_reg ax, cx, dx, bx, bp, si, di, sp, ip, ip_len, flags;      \
	struct vmsim_genode_segment_reg es, ds, fs, gs, cs, ss, tr, ldtr;               \
	struct vmsim_genode_range_reg gdtr, idtr;                                       \
	struct vmsim_genode_reg cr0, cr2, cr3, cr4, dr7;                                \
	struct vmsim_genode_reg sysenter_ip, sysenter_sp, sysenter_cs;                  \
	struct vmsim_genode_reg qual_primary, qual_secondary;                           \
	struct vmsim_genode_reg32 ctrl_primary, ctrl_secondary;                         \
	struct vmsim_genode_reg32 inj_info, inj_error;                                  \
	struct vmsim_genode_reg32 intr_state, actv_state;                               \
	struct vmsim_genode_reg tsc, tsc_offset, tsc_aux;                               \
	struct vmsim_genode_reg efer;                                                   \
	struct vmsim_genode_reg pdpte_0, pdpte_1, pdpte_2, pdpte_3;                     \
	struct vmsim_genode_reg r8, r9, r10, r11, r12, r13, r14, r15;                   \
	struct vmsim_genode_reg star, lstar, cstar, fmask, kernel_gs_base;              \
	struct vmsim_genode_reg32 tpr, tpr_threshold;

struct vmsim_genode_vcpu_state_2023 {
	VMSIM_GENODE_COMMON_REGISTERS
	unsigned exit_reason;
	struct {
		alignas(16) uint8_t buffer[512];
		uint8_t charged;
	} fpu;
};

struct vmsim_genode_vcpu_state_2024 {
	VMSIM_GENODE_COMMON_REGISTERS
	struct vmsim_genode_reg xcr0, xss;
	unsigned exit_reason;
	struct {
		alignas(64) uint8_t buffer[2560];
		uint64_t size;    /* assumed before charged (see above) */
		uint8_t charged;
	} fpu;
};

#ifdef __cplusplus
#define VMSIM_GENODE_ASSERT_(cond, msg) static_assert(cond, msg)
#else
#define VMSIM_GENODE_ASSERT_(cond, msg) _Static_assert(cond, msg)
#endif
/* Offsets computed by hand from the Genode header (x86-64 SysV), not from this struct. */
#define VMSIM_GENODE_ASSERT_AT_(year, field, off) \
	VMSIM_GENODE_ASSERT_(offsetof(struct vmsim_genode_vcpu_state_##year, field) == (off), #field " offset")
VMSIM_GENODE_ASSERT_AT_(2023, cx, 16);
VMSIM_GENODE_ASSERT_AT_(2023, ip, 128);
VMSIM_GENODE_ASSERT_AT_(2023, ip_len, 144);
VMSIM_GENODE_ASSERT_AT_(2023, es, 176);
VMSIM_GENODE_ASSERT_AT_(2023, ldtr, 344);
VMSIM_GENODE_ASSERT_AT_(2023, gdtr, 368);
VMSIM_GENODE_ASSERT_AT_(2023, cr0, 416);
VMSIM_GENODE_ASSERT_AT_(2023, sysenter_ip, 496);
VMSIM_GENODE_ASSERT_AT_(2023, qual_primary, 544);
VMSIM_GENODE_ASSERT_AT_(2023, qual_secondary, 560);
VMSIM_GENODE_ASSERT_AT_(2023, ctrl_primary, 576);
VMSIM_GENODE_ASSERT_AT_(2023, ctrl_secondary, 584);
VMSIM_GENODE_ASSERT_AT_(2023, inj_info, 592);
VMSIM_GENODE_ASSERT_AT_(2023, inj_error, 600);
VMSIM_GENODE_ASSERT_AT_(2023, intr_state, 608);
VMSIM_GENODE_ASSERT_AT_(2023, actv_state, 616);
VMSIM_GENODE_ASSERT_AT_(2023, tsc, 624);
VMSIM_GENODE_ASSERT_AT_(2023, tsc_aux, 656);
VMSIM_GENODE_ASSERT_AT_(2023, efer, 672);
VMSIM_GENODE_ASSERT_AT_(2023, pdpte_0, 688);
VMSIM_GENODE_ASSERT_AT_(2023, r8, 752);
VMSIM_GENODE_ASSERT_AT_(2023, star, 880);
VMSIM_GENODE_ASSERT_AT_(2023, kernel_gs_base, 944);
VMSIM_GENODE_ASSERT_AT_(2023, tpr, 960);
VMSIM_GENODE_ASSERT_AT_(2023, tpr_threshold, 968);
VMSIM_GENODE_ASSERT_AT_(2023, exit_reason, 976);
VMSIM_GENODE_ASSERT_AT_(2023, fpu, 992);
VMSIM_GENODE_ASSERT_AT_(2023, fpu.charged, 1504);
VMSIM_GENODE_ASSERT_(sizeof(struct vmsim_genode_vcpu_state_2023) == 1520, "2023 size");
VMSIM_GENODE_ASSERT_AT_(2024, tpr_threshold, 968);
VMSIM_GENODE_ASSERT_AT_(2024, xcr0, 976);
VMSIM_GENODE_ASSERT_AT_(2024, xss, 992);
VMSIM_GENODE_ASSERT_AT_(2024, exit_reason, 1008);
VMSIM_GENODE_ASSERT_AT_(2024, fpu, 1024);
VMSIM_GENODE_ASSERT_AT_(2024, fpu.size, 3584);
VMSIM_GENODE_ASSERT_AT_(2024, fpu.charged, 3592);
VMSIM_GENODE_ASSERT_(sizeof(struct vmsim_genode_vcpu_state_2024) == 3648, "2024 size");
#undef VMSIM_GENODE_ASSERT_AT_

/* Bytes of Genode's Vcpu_state in this layout (1520 / 3648); 0 for a value outside the enum. */
size_t vmsim_genode_layout_size(enum vmsim_genode_layout layout);
/*
 * Write state into buf in Genode's layout (padding zeroed). INVALID_ARGUMENT if buf is short, a 32-bit
 * register holds more, or the 2023 layout would drop charged xcr0/xss or an FPU image above 512 bytes.
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_genode_layout_export(enum vmsim_genode_layout layout,
                                                              const struct vmsim_vcpu_state *state,
                                                              void *buf, size_t size);
/*
 * Read a Genode Vcpu_state image (any alignment) into *state. INVALID_ARGUMENT if buf is short, a charged
 * byte is not 0/1 or the 2024 FPU size exceeds 2560; *state is untouched then.
 */
VMSIM_MUST_CHECK enum vmsim_result vmsim_genode_layout_import(enum vmsim_genode_layout layout, const void *buf,
                                                              size_t size, struct vmsim_vcpu_state *state);

#ifdef __cplusplus
}
#endif
#endif
