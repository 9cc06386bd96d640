/* core/x86/x86_walk.c - a guest page walk through caller-read memory (pure; api/include/vmsim/x86.h). */
#include <string.h>

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
	PTE_A = 1u << 5,
	PTE_D = 1u << 6,
	PTE_PS = 1u << 7
};
#define CR0_PG (1ull << 31)
#define PTE_XD (1ull << 63)
#define ADDR_MASK 0x000ffffffffff000ull /* bits 51:12 (MAXPHYADDR 52) */

/* What one walk saw: the entries it used, for the A/D update once the translation stands. */
struct walk {
	uint64_t at[5];   /* guest-physical address of each entry used */
	uint64_t val[5];
	uint8_t size[5];  /* 4 or 8 */
	bool leaf[5];
	unsigned n;
	bool pae_pdpte;   /* at[0] is a PAE PDPTE: it has no accessed flag to set */
};

static bool fetch(struct walk *w, vmsim_x86_read_phys_fn read_phys, void *ctx, uint64_t gpa, size_t len,
                  uint64_t *value, struct vmsim_x86_walk_info *info)
{
	uint64_t v = 0;

	if (!read_phys(ctx, gpa, &v, len)) {
		if (info)
			info->fault_gpa = gpa;
		return false;
	}
	if (w->n < 5) {
		w->at[w->n] = gpa;
		w->val[w->n] = v;
		w->size[w->n] = (uint8_t)len;
		w->leaf[w->n] = false;
		w->n++;
	}
	*value = v;
	return true;
}

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

static void leaf_info(struct walk *w, struct vmsim_x86_walk_info *info, uint64_t page, bool rw, bool us, bool xd)
{
	w->leaf[w->n - 1] = true;
	if (!info)
		return;
	uint64_t e = w->val[w->n - 1];
	info->page_size = page;
	info->writable = rw;
	info->user = us;
	info->nx = xd;
	info->accessed = (e & PTE_A) != 0;
	info->dirty = (e & PTE_D) != 0;
}

/* 32-bit paging: 4 KiB pages, 4 MiB pages with CR4.PSE (PSE-36 bits 20:13 -> 39:32) (SDM Vol. 3A 4.3). */
static enum vmsim_x86_walk_result walk32(struct walk *w, uint64_t cr0, uint64_t cr3, uint64_t cr4, uint32_t gla,
                                         unsigned access, vmsim_x86_read_phys_fn read_phys, void *ctx,
                                         uint64_t *gpa, uint32_t *error_code, struct vmsim_x86_walk_info *info)
{
	uint64_t pde, pte;

	if (!fetch(w, read_phys, ctx, (cr3 & 0xfffff000u) + ((gla >> 22) & 0x3ff) * 4u, 4, &pde, info))
		return VMSIM_X86_WALK_UNREADABLE;
	if (!(pde & PTE_P))
		return not_present(false, access, error_code);
	if ((cr4 & CR4_PSE) && (pde & PTE_PS)) {
		enum vmsim_x86_walk_result r = check(cr0, false, pde & PTE_RW, pde & PTE_US, false, access, error_code);
		*gpa = (pde & 0xffc00000u) | ((uint64_t)((pde >> 13) & 0xff) << 32) | (gla & 0x3fffff);
		leaf_info(w, info, 1u << 22, pde & PTE_RW, pde & PTE_US, false);
		return r;
	}
	if (!fetch(w, read_phys, ctx, (pde & 0xfffff000u) + ((gla >> 12) & 0x3ff) * 4u, 4, &pte, info))
		return VMSIM_X86_WALK_UNREADABLE;
	if (!(pte & PTE_P))
		return not_present(false, access, error_code);
	*gpa = (pte & 0xfffff000u) | (gla & 0xfff);
	leaf_info(w, info, 4096, pde & pte & PTE_RW, pde & pte & PTE_US, false);
	return check(cr0, false, pde & pte & PTE_RW, pde & pte & PTE_US, false, access, error_code);
}

static enum vmsim_x86_walk_result walk_paged(struct walk *w, uint64_t cr0, uint64_t cr3, uint64_t cr4, uint64_t efer,
                                             uint64_t gla, unsigned access, vmsim_x86_read_phys_fn read_phys,
                                             void *ctx, uint64_t *gpa, uint32_t *error_code,
                                             struct vmsim_x86_walk_info *info)
{
	if (!(cr4 & CR4_PAE))
		return walk32(w, cr0, cr3, cr4, (uint32_t)gla, access, read_phys, ctx, gpa, error_code, info);

	bool nx_mode = (efer & EFER_NXE) != 0;
	bool rw = true, us = true, xd = false;
	uint64_t table, e;
	int level; /* 4 = PML5 ... 0 = PT; an entry at level l maps bits 12 + 9l .. */

	if (efer & EFER_LMA) {
		/* 4-level (4.5): PML4 -> PDPT (1 GiB PS) -> PD (2 MiB PS) -> PT; 5-level with CR4.LA57 */
		level = (cr4 & CR4_LA57) ? 4 : 3;
		table = cr3 & ADDR_MASK;
	} else {
		/* PAE (4.4.1): CR3 bits 31:5 locate four PDPTEs; they carry only P (no R/W, U/S, XD, A) */
		if (!fetch(w, read_phys, ctx, (cr3 & 0xffffffe0u) + ((gla >> 30) & 3) * 8u, 8, &e, info))
			return VMSIM_X86_WALK_UNREADABLE;
		w->pae_pdpte = true;
		if (!(e & PTE_P))
			return not_present(nx_mode, access, error_code);
		level = 1;
		table = e & ADDR_MASK;
		gla &= 0xffffffffull;
	}
	for (;; level--) {
		if (!fetch(w, read_phys, ctx, table + ((gla >> (12 + 9 * level)) & 0x1ff) * 8u, 8, &e, info))
			return VMSIM_X86_WALK_UNREADABLE;
		if (!(e & PTE_P))
			return not_present(nx_mode, access, error_code);
		rw = rw && (e & PTE_RW);
		us = us && (e & PTE_US);
		xd = xd || (nx_mode && (e & PTE_XD));
		if (level == 0 || ((level == 1 || level == 2) && (e & PTE_PS))) {
			uint64_t page = 1ull << (12 + 9 * level);
			*gpa = (e & ADDR_MASK & ~(page - 1)) | (gla & (page - 1));
			leaf_info(w, info, page, rw, us, xd);
			return check(cr0, nx_mode, rw, us, xd, access, error_code);
		}
		table = e & ADDR_MASK;
	}
}

enum vmsim_x86_walk_result vmsim_x86_walk_ad(uint64_t cr0, uint64_t cr3, uint64_t cr4, uint64_t efer, uint64_t gla,
                                             unsigned access, vmsim_x86_read_phys_fn read_phys,
                                             vmsim_x86_write_phys_fn write_phys, void *ctx,
                                             struct vmsim_x86_walk_info *info, uint32_t *error_code)
{
	struct walk w;
	uint64_t gpa = 0;

	memset(&w, 0, sizeof w);
	memset(info, 0, sizeof *info);
	*error_code = 0;
	if (!(cr0 & CR0_PG)) {
		info->gpa = (efer & EFER_LMA) ? gla : (gla & 0xffffffffull);
		info->page_size = 4096;
		info->writable = info->user = info->accessed = info->dirty = true;
		return VMSIM_X86_WALK_OK;
	}
	enum vmsim_x86_walk_result r =
		walk_paged(&w, cr0, cr3, cr4, efer, gla, access, read_phys, ctx, &gpa, error_code, info);
	info->gpa = gpa;
	info->entries = w.n;
	for (unsigned i = 0; i < w.n; i++)
		info->entry_gpa[i] = w.at[i];
	if (r != VMSIM_X86_WALK_OK || !write_phys)
		return r;
	/* SDM Vol. 3A 4.8: A in every entry used, D in the leaf on a write; only bits that change are written */
	for (unsigned i = w.pae_pdpte ? 1 : 0; i < w.n; i++) {
		uint64_t want = w.val[i] | PTE_A | (w.leaf[i] && (access & VMSIM_X86_WRITE) ? PTE_D : 0);
		if (want != w.val[i] && !write_phys(ctx, w.at[i], &want, w.size[i])) {
			info->fault_gpa = w.at[i];
			return VMSIM_X86_WALK_UNREADABLE;
		}
	}
	info->accessed = true;
	info->dirty = info->dirty || (access & VMSIM_X86_WRITE);
	return r;
}

enum vmsim_x86_walk_result vmsim_x86_walk(uint64_t cr0, uint64_t cr3, uint64_t cr4, uint64_t efer, uint64_t gla,
                                          unsigned access, vmsim_x86_read_phys_fn read_phys, void *ctx,
                                          uint64_t *gpa, uint32_t *error_code)
{
	struct vmsim_x86_walk_info info;
	enum vmsim_x86_walk_result r =
		vmsim_x86_walk_ad(cr0, cr3, cr4, efer, gla, access, read_phys, NULL, ctx, &info, error_code);

	if (r == VMSIM_X86_WALK_OK || r == VMSIM_X86_WALK_FAULT)
		*gpa = info.gpa;
	return r;
}
