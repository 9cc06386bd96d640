/* core/genode_layout.c - vmsim_vcpu_state <-> Genode's Vcpu_state bytes (genode_layout.h); pure, no state. */
#include <string.h>

#include <vmsim/genode_layout.h>

/* Registers per Genode type; the same names on both sides. */
#define GL_REGS64(X)                                                                                  \
	X(ax) X(cx) X(dx) X(bx) X(bp) X(si) X(di) X(sp) X(ip) X(ip_len) X(flags) X(cr0) X(cr2) X(cr3)  \
	X(cr4) X(dr7) X(sysenter_ip) X(sysenter_sp) X(sysenter_cs) X(qual_primary) X(qual_secondary)    \
	X(tsc) X(tsc_offset) X(tsc_aux) X(efer) X(pdpte_0) X(pdpte_1) X(pdpte_2) X(pdpte_3) X(r8) X(r9) \
	X(r10) X(r11) X(r12) X(r13) X(r14) X(r15) X(star) X(lstar) X(cstar) X(fmask) X(kernel_gs_base)
#define GL_REGS32(X)                                                                               \
	X(ctrl_primary) X(ctrl_secondary) X(inj_info) X(inj_error) X(intr_state) X(actv_state) X(tpr) \
	X(tpr_threshold)
#define GL_SEGMENTS(X) X(es) X(ds) X(fs) X(gs) X(cs) X(ss) X(tr) X(ldtr)
#define GL_TABLES(X) X(gdtr) X(idtr)

size_t vmsim_genode_layout_size(enum vmsim_genode_layout layout)
{
	switch (layout) {
	case VMSIM_GENODE_LAYOUT_2023: return sizeof(struct vmsim_genode_vcpu_state_2023);
	case VMSIM_GENODE_LAYOUT_2024: return sizeof(struct vmsim_genode_vcpu_state_2024);
	}
	return 0;
}

/* The shared registers of one image `g` from/into `s` (a macro: the two image types differ). */
#define GL_EXPORT_COMMON(g, s)                                                     \
	do {                                                                             \
		GL_REGS64(GL_EXPORT64_)                                                  \
		GL_REGS32(GL_EXPORT32_)                                                  \
		GL_SEGMENTS(GL_EXPORT_SEG_)                                              \
		GL_TABLES(GL_EXPORT_TABLE_)                                              \
		(g)->exit_reason = (s)->exit_reason;                                     \
	} while (0)
#define GL_EXPORT64_(r)                          \
	g->r.value = s->r.value;                 \
	g->r.charged = vmsim_charged(s, r);
#define GL_EXPORT32_(r)                          \
	if (s->r.value >> 32)                    \
		return VMSIM_INVALID_ARGUMENT;   \
	g->r.value = (uint32_t)s->r.value;       \
	g->r.charged = vmsim_charged(s, r);
#define GL_EXPORT_SEG_(r)                        \
	g->r.value.sel = s->r.value.sel;         \
	g->r.value.ar = s->r.value.ar;           \
	g->r.value.limit = s->r.value.limit;     \
	g->r.value.base = s->r.value.base;       \
	g->r.charged = vmsim_charged(s, r);
#define GL_EXPORT_TABLE_(r)                      \
	g->r.value.limit = s->r.value.limit;     \
	g->r.value.base = s->r.value.base;       \
	g->r.charged = vmsim_charged(s, r);

#define GL_IMPORT_COMMON(g, s)                                                          \
	do {                                                                            \
		GL_REGS64(GL_IMPORT64_)                                                 \
		GL_REGS32(GL_IMPORT64_)                                                 \
		GL_SEGMENTS(GL_IMPORT_SEG_)                                             \
		GL_TABLES(GL_IMPORT_TABLE_)                                             \
		(s)->exit_reason = (g)->exit_reason;                                    \
	} while (0)
#define GL_IMPORT64_(r)                          \
	s->r.value = g->r.value;                 \
	s->charged |= g->r.charged ? VMSIM_CHARGED(r) : 0;
#define GL_IMPORT_SEG_(r)                                                                          \
	s->r.value = (struct vmsim_segment){ g->r.value.sel, g->r.value.ar, g->r.value.limit,       \
	                                     g->r.value.base };                                     \
	s->charged |= g->r.charged ? VMSIM_CHARGED(r) : 0;
#define GL_IMPORT_TABLE_(r)                                                          \
	s->r.value = (struct vmsim_dtable){ g->r.value.limit, g->r.value.base };     \
	s->charged |= g->r.charged ? VMSIM_CHARGED(r) : 0;

/* Every charged byte of an image must be a C++ bool: 0 or 1. */
#define GL_CHARGED_OK_(r) ok = ok && g->r.charged <= 1;

static enum vmsim_result export_2023(const struct vmsim_vcpu_state *s, struct vmsim_genode_vcpu_state_2023 *g)
{
	/* The 2023 page has no xcr0/xss and a 512-byte FXSAVE area: refuse to drop what was charged. */
	if (vmsim_charged(s, xcr0) || vmsim_charged(s, xss) ||
	    (vmsim_charged(s, fpu) && s->fpu.size > sizeof g->fpu.buffer))
		return VMSIM_INVALID_ARGUMENT;
	GL_EXPORT_COMMON(g, s);
	memcpy(g->fpu.buffer, s->fpu.buffer, sizeof g->fpu.buffer);
	g->fpu.charged = vmsim_charged(s, fpu);
	return VMSIM_OK;
}

static enum vmsim_result export_2024(const struct vmsim_vcpu_state *s, struct vmsim_genode_vcpu_state_2024 *g)
{
	_Static_assert(sizeof g->fpu.buffer == VMSIM_FPU_AREA_SIZE, "2024 FPU area is vmsim's");
	if (s->fpu.size > sizeof g->fpu.buffer)
		return VMSIM_INVALID_ARGUMENT;
	GL_EXPORT_COMMON(g, s);
	GL_EXPORT64_(xcr0)
	GL_EXPORT64_(xss)
	memcpy(g->fpu.buffer, s->fpu.buffer, sizeof g->fpu.buffer);
	g->fpu.size = s->fpu.size;
	g->fpu.charged = vmsim_charged(s, fpu);
	return VMSIM_OK;
}

enum vmsim_result vmsim_genode_layout_export(enum vmsim_genode_layout layout, const struct vmsim_vcpu_state *state,
                                             void *buf, size_t size)
{
	size_t need = vmsim_genode_layout_size(layout);
	enum vmsim_result r;

	if (!need || !state || !buf || size < need)
		return VMSIM_INVALID_ARGUMENT;
	if (layout == VMSIM_GENODE_LAYOUT_2023) {
		struct vmsim_genode_vcpu_state_2023 g;
		memset(&g, 0, sizeof g);
		r = export_2023(state, &g);
		if (r == VMSIM_OK)
			memcpy(buf, &g, sizeof g);
		return r;
	}
	struct vmsim_genode_vcpu_state_2024 g;
	memset(&g, 0, sizeof g);
	r = export_2024(state, &g);
	if (r == VMSIM_OK)
		memcpy(buf, &g, sizeof g);
	return r;
}

static enum vmsim_result import_2023(const struct vmsim_genode_vcpu_state_2023 *g, struct vmsim_vcpu_state *s)
{
	bool ok = g->fpu.charged <= 1;

	GL_REGS64(GL_CHARGED_OK_) GL_REGS32(GL_CHARGED_OK_) GL_SEGMENTS(GL_CHARGED_OK_) GL_TABLES(GL_CHARGED_OK_)
	if (!ok)
		return VMSIM_INVALID_ARGUMENT;
	vmsim_vcpu_state_clear(s);
	GL_IMPORT_COMMON(g, s);
	memcpy(s->fpu.buffer, g->fpu.buffer, sizeof g->fpu.buffer);
	s->fpu.size = sizeof g->fpu.buffer; /* the 2023 State is always the whole FXSAVE image */
	s->charged |= g->fpu.charged ? VMSIM_CHARGED(fpu) : 0;
	return VMSIM_OK;
}

static enum vmsim_result import_2024(const struct vmsim_genode_vcpu_state_2024 *g, struct vmsim_vcpu_state *s)
{
	bool ok = g->fpu.charged <= 1 && g->xcr0.charged <= 1 && g->xss.charged <= 1 &&
	          g->fpu.size <= sizeof g->fpu.buffer;

	GL_REGS64(GL_CHARGED_OK_) GL_REGS32(GL_CHARGED_OK_) GL_SEGMENTS(GL_CHARGED_OK_) GL_TABLES(GL_CHARGED_OK_)
	if (!ok)
		return VMSIM_INVALID_ARGUMENT;
	vmsim_vcpu_state_clear(s);
	GL_IMPORT_COMMON(g, s);
	GL_IMPORT64_(xcr0)
	GL_IMPORT64_(xss)
	memcpy(s->fpu.buffer, g->fpu.buffer, sizeof g->fpu.buffer);
	s->fpu.size = g->fpu.size;
	s->charged |= g->fpu.charged ? VMSIM_CHARGED(fpu) : 0;
	return VMSIM_OK;
}

enum vmsim_result vmsim_genode_layout_import(enum vmsim_genode_layout layout, const void *buf, size_t size,
                                             struct vmsim_vcpu_state *state)
{
	size_t need = vmsim_genode_layout_size(layout);

	if (!need || !state || !buf || size < need)
		return VMSIM_INVALID_ARGUMENT;
	/* Copy first: the page may be unaligned, and the import must not half-write *state. */
	if (layout == VMSIM_GENODE_LAYOUT_2023) {
		struct vmsim_genode_vcpu_state_2023 g;
		memcpy(&g, buf, sizeof g);
		return import_2023(&g, state);
	}
	struct vmsim_genode_vcpu_state_2024 g;
	memcpy(&g, buf, sizeof g);
	return import_2024(&g, state);
}
