/* vmsim/x86.h - pure x86 helpers for backends and tools: port-I/O decoding, code size, guest page walks. */
#ifndef VMSIM_API_X86_H
#define VMSIM_API_X86_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmsim/backend.h>

#ifdef __cplusplus
extern "C" {
#endif

/* No state, no allocation: every function works only on its arguments. */

/* One decoded IN/OUT/INS/OUTS. */
struct vmsim_x86_io {
	uint8_t len;       /* instruction length, prefixes included */
	uint8_t size;      /* operand size: 1, 2 or 4 */
	bool in, string, rep, imm;
	uint8_t port;      /* imm: the immediate port byte */
	uint8_t addr_size; /* 2, 4 or 8 */
	uint8_t seg;       /* 0 = ES ... 5 = GS: OUTS source (overridable), ES for INS; DS otherwise */
};

/* Decode the IN/OUT/INS/OUTS at b[0..n) in code of code_bits (16, 32, 64) bits; false if it is none of them.
 * SDM Vol. 2A 2.1.1 (prefixes), "IN", "INS", Vol. 2B "OUT", "OUTS". */
bool vmsim_x86_decode_io(const uint8_t *b, size_t n, unsigned code_bits, struct vmsim_x86_io *out);

/* The IN/OUT (in) of size bytes to port that ends exactly at b + n, as KVM leaves it when it retired it before the
 * exit: a non-string one (immediate = port, or dx = port) shortest first, else the longest INS/OUTS; its length or 0. */
unsigned vmsim_x86_io_ending_at(const uint8_t *b, size_t n, unsigned code_bits, bool in, unsigned size, uint16_t port,
                                uint16_t dx, struct vmsim_x86_io *out);

/* Default code size (16, 32, 64) from CR0.PE, EFER.LMA, CS.L and CS.D (SDM Vol. 3A 3.4.5, 5.2.1). */
unsigned vmsim_x86_code_bits(uint64_t cr0, uint64_t efer, bool cs_l, bool cs_db);

/* Read len (4 or 8) bytes of guest-physical memory at gpa into dst; false where nothing backs it. */
typedef bool (*vmsim_x86_read_phys_fn)(void *ctx, uint64_t gpa, void *dst, size_t len);

/* Access kinds for a walk, as the #PF error-code bits (SDM Vol. 3A 4.7). */
enum vmsim_x86_access {
	VMSIM_X86_WRITE = 1u << 1,
	VMSIM_X86_USER = 1u << 2,
	VMSIM_X86_FETCH = 1u << 4
};

enum vmsim_x86_walk_result {
	VMSIM_X86_WALK_OK = 0,         /* *gpa holds the translation */
	VMSIM_X86_WALK_FAULT = 1,      /* a #PF: *error_code holds its error code */
	VMSIM_X86_WALK_UNREADABLE = 2  /* a paging-structure entry lies in memory read_phys cannot read */
};

/* Translate gla in the paging mode CR0/CR4/EFER select (none, 32-bit, PAE, 4-level, 5-level; SDM Vol. 3A 4.1.1,
 * 4.3-4.5) with P, R/W (CR0.WP), U/S and NX checks; reserved bits, SMEP/SMAP and keys are not checked. */
enum vmsim_x86_walk_result vmsim_x86_walk(uint64_t cr0, uint64_t cr3, uint64_t cr4, uint64_t efer, uint64_t gla,
                                          unsigned access, vmsim_x86_read_phys_fn read_phys, void *ctx,
                                          uint64_t *gpa, uint32_t *error_code);

/* Write len (4 or 8) bytes to guest-physical memory at gpa (A/D updates); false where nothing backs it. */
typedef bool (*vmsim_x86_write_phys_fn)(void *ctx, uint64_t gpa, const void *src, size_t len);

/* What vmsim_x86_walk_ad found. */
struct vmsim_x86_walk_info {
	uint64_t gpa;          /* OK and FAULT after a leaf: the translation */
	uint64_t page_size;    /* the leaf's size: 4 KiB, 2 MiB, 4 MiB or 1 GiB (4 KiB unpaged) */
	uint64_t fault_gpa;    /* UNREADABLE: the entry's guest-physical address */
	uint64_t entry_gpa[5]; /* the paging-structure entries read, top level first */
	unsigned entries;
	bool writable, user, nx; /* effective rights of the whole walk (nx only with EFER.NXE) */
	bool accessed, dirty;    /* the leaf's A and D (after the update) */
};

/* vmsim_x86_walk that also reports the leaf and, with write_phys, sets A (every entry) and D (leaf, on a write)
 * after a successful translation (SDM Vol. 3A 4.8); write_phys NULL: nothing is written. */
enum vmsim_x86_walk_result vmsim_x86_walk_ad(uint64_t cr0, uint64_t cr3, uint64_t cr4, uint64_t efer, uint64_t gla,
                                             unsigned access, vmsim_x86_read_phys_fn read_phys,
                                             vmsim_x86_write_phys_fn write_phys, void *ctx,
                                             struct vmsim_x86_walk_info *info, uint32_t *error_code);

/* One MSR of the neutral state: its index, the state group it belongs to, its vmsim_cpu_state field. */
struct vmsim_x86_state_msr {
	uint32_t index;
	uint32_t group;  /* VMSIM_GROUP_SYSENTER, _SYSCALL or _TSC */
	size_t offset;   /* offsetof(struct vmsim_cpu_state, field): a uint64_t */
};

/* The MSRs vmsim_cpu_state carries (SYSENTER_CS/ESP/EIP, STAR, LSTAR, CSTAR, FMASK, KERNEL_GS_BASE, TSC_AUX;
 * SDM Vol. 4 2.1); *count gets their number. The table is constant. */
const struct vmsim_x86_state_msr *vmsim_x86_state_msrs(size_t *count);

#ifdef __cplusplus
}
#endif
#endif
