/* core/x86/x86_walk.c - a guest page walk through caller-read memory (pure; api/include/vmsim/x86.h). */
#include <vmsim/x86.h>

enum {
	CR0_WP = 1u << 16,
	CR4_PSE = 1u << 4,
	CR4_PAE = 1u << 5,
	CR4_LA57 = 1u << 12,
	EFER_NXE = 1u << 11,
	EFER_LMA = 1u << 10,
	PTE_P = 1u << 0,
	PTE_RW = 1u << 1,
	PTE_US = 1u << 2,
	PTE_PS = 1u << 7
};
#define CR0_PG (1ull << 31)
#define PTE_XD (1ull << 63)
#define ADDR_MASK 0x000ffffffffff000ull /* bits 51:12 (MAXPHYADDR 52) */

/* Permission checks once the leaf is known (SDM Vol. 3A 4.6); fills the #PF error code (4.7). */
static enum vmsim_x86_walk_result check(uint64_t cr0, bool nx_mode, bool rw, bool us, bool xd, unsigned access,
                                        uint32_t *error_code)
{
	bool bad = ((access & VMSIM_X86_WRITE) && !rw && ((access & VMSIM_X86_USER) || (cr0 & CR0_WP))) ||
	           ((access & VMSIM_X86_USER) && !us) || ((access & VMSIM_X86_FETCH) && xd);
	if (!bad)
		return VMSIM_X86_WALK_OK;
	*error_code = PTE_P | (access & (VMSIM_X86_WRITE | VMSIM_X86_USER)) |
	              (nx_mode ? (access & VMSIM_X86_FETCH) : 0);
	return VMSIM_X86_WALK_FAULT;
}

static enum vmsim_x86_walk_result not_present(bool nx_mode, unsigned access, uint32_t *error_code)
{
	*error_code = (access & (VMSIM_X86_WRITE | VMSIM_X86_USER)) | (nx_mode ? (access & VMSIM_X86_FETCH) : 0);
	return VMSIM_X86_WALK_FAULT;
}

/* 32-bit paging: 4 KiB pages, 4 MiB pages with CR4.PSE (PSE-36 bits 20:13 -> 39:32) (SDM Vol. 3A 4.3). */
static enum vmsim_x86_walk_result walk32(uint64_t cr0, uint64_t cr3, uint64_t cr4, uint32_t gla, unsigned access,
                                         vmsim_x86_read_phys_fn read_phys, void *ctx, uint64_t *gpa,
                                         uint32_t *error_code)
{
	uint32_t pde, pte;

	if (!read_phys(ctx, (cr3 & 0xfffff000u) + ((gla >> 22) & 0x3ff) * 4u, &pde, 4))
		return VMSIM_X86_WALK_UNREADABLE;
	if (!(pde & PTE_P))
		return not_present(false, access, error_code);
	if ((cr4 & CR4_PSE) && (pde & PTE_PS)) {
		enum vmsim_x86_walk_result r = check(cr0, false, pde & PTE_RW, pde & PTE_US, false, access, error_code);
		*gpa = (pde & 0xffc00000u) | ((uint64_t)((pde >> 13) & 0xff) << 32) | (gla & 0x3fffff);
		return r;
	}
	if (!read_phys(ctx, (pde & 0xfffff000u) + ((gla >> 12) & 0x3ff) * 4u, &pte, 4))
		return VMSIM_X86_WALK_UNREADABLE;
	if (!(pte & PTE_P))
		return not_present(false, access, error_code);
	*gpa = (pte & 0xfffff000u) | (gla & 0xfff);
	return check(cr0, false, pde & pte & PTE_RW, pde & pte & PTE_US, false, access, error_code);
}

enum vmsim_x86_walk_result vmsim_x86_walk(uint64_t cr0, uint64_t cr3, uint64_t cr4, uint64_t efer, uint64_t gla,
                                          unsigned access, vmsim_x86_read_phys_fn read_phys, void *ctx,
                                          uint64_t *gpa, uint32_t *error_code)
{
	*error_code = 0;
	if (!(cr0 & CR0_PG)) {
		*gpa = (efer & EFER_LMA) ? gla : (gla & 0xffffffffull);
		return VMSIM_X86_WALK_OK;
	}
	if (!(cr4 & CR4_PAE))
		return walk32(cr0, cr3, cr4, (uint32_t)gla, access, read_phys, ctx, gpa, error_code);

	bool nx_mode = (efer & EFER_NXE) != 0;
	bool rw = true, us = true, xd = false;
	uint64_t table, e;
	int level; /* 4 = PML5 ... 0 = PT; an entry at level l maps bits 12 + 9l .. */

	if (efer & EFER_LMA) {
		/* 4-level (4.5): PML4 -> PDPT (1 GiB PS) -> PD (2 MiB PS) -> PT; 5-level with CR4.LA57 */
		level = (cr4 & CR4_LA57) ? 4 : 3;
		table = cr3 & ADDR_MASK;
	} else {
		/* PAE (4.4.1): CR3 bits 31:5 locate four PDPTEs; they carry only P (no R/W, U/S, XD) */
		if (!read_phys(ctx, (cr3 & 0xffffffe0u) + ((gla >> 30) & 3) * 8u, &e, 8))
			return VMSIM_X86_WALK_UNREADABLE;
		if (!(e & PTE_P))
			return not_present(nx_mode, access, error_code);
		level = 1;
		table = e & ADDR_MASK;
		gla &= 0xffffffffull;
	}
	for (;; level--) {
		if (!read_phys(ctx, table + ((gla >> (12 + 9 * level)) & 0x1ff) * 8u, &e, 8))
			return VMSIM_X86_WALK_UNREADABLE;
		if (!(e & PTE_P))
			return not_present(nx_mode, access, error_code);
		rw = rw && (e & PTE_RW);
		us = us && (e & PTE_US);
		xd = xd || (nx_mode && (e & PTE_XD));
		if (level == 0 || ((level == 1 || level == 2) && (e & PTE_PS))) {
			uint64_t page = 1ull << (12 + 9 * level);
			*gpa = (e & ADDR_MASK & ~(page - 1)) | (gla & (page - 1));
			return check(cr0, nx_mode, rw, us, xd, access, error_code);
		}
		table = e & ADDR_MASK;
	}
}
