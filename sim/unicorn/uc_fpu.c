/* uc_fpu.c - the FPU group as an FXSAVE image, assembled from the x87/SSE registers 2.0.1 exposes. */
#include <string.h>

#include "uc_internal.h"

/* 2.0.1 moves an x87 register as a 64-bit mantissa followed by a 16-bit sign/exponent. */
struct fp80 {
	uint64_t mantissa;
	uint16_t exponent;
};

void ucb_fpu_get(struct ucb_engine *eng, struct vmsim_cpu_state *s)
{
	uint8_t *f = s->fpu;
	uint64_t fcw = 0, fsw = 0, ftw = 0, fop = 0, fip = 0, mxcsr = 0;
	struct fp80 st[8];
	uint8_t xmm[16][16];
	unsigned nxmm = eng->mode == UCB_LONG ? 16 : 8;
	/* one uc_reg_read_batch instead of 30 uc_reg_read calls (each ~7 ns of API overhead) */
	int ids[6 + 8 + 16] = { UC_X86_REG_FPCW, UC_X86_REG_FPSW, UC_X86_REG_FPTAG,
		                UC_X86_REG_FOP,  UC_X86_REG_FIP,  UC_X86_REG_MXCSR };
	void *vals[6 + 8 + 16] = { &fcw, &fsw, &ftw, &fop, &fip, &mxcsr };
	for (unsigned i = 0; i < 8; i++) {
		st[i] = (struct fp80){ 0, 0 };
		ids[6 + i] = UC_X86_REG_FP0 + (int)i;
		vals[6 + i] = &st[i];
	}
	for (unsigned i = 0; i < nxmm; i++) {
		ids[14 + i] = UC_X86_REG_XMM0 + (int)i;
		vals[14 + i] = xmm[i];
	}
	uc_reg_read_batch(eng->uc, ids, vals, (int)(14 + nxmm));

	unsigned top = (fsw >> 11) & 7;
	memset(f, 0, 512);
	memcpy(f + 0, &fcw, 2);
	memcpy(f + 2, &fsw, 2);
	for (unsigned i = 0; i < 8; i++)
		if (((ftw >> (2 * i)) & 3) != 3)
			f[4] |= (uint8_t)(1u << i);
	memcpy(f + 6, &fop, 2);
	memcpy(f + 8, &fip, 8);
	memcpy(f + 24, &mxcsr, 4);
	uint32_t mask = 0xffff;
	memcpy(f + 28, &mask, 4);
	for (unsigned i = 0; i < 8; i++) {
		const struct fp80 *reg = &st[(top + i) & 7]; /* FXSAVE stores ST(i), Unicorn names physical FPn */
		memcpy(f + 32 + 16 * i, &reg->mantissa, 8);
		memcpy(f + 40 + 16 * i, &reg->exponent, 2);
	}
	for (unsigned i = 0; i < nxmm; i++)
		memcpy(f + 160 + 16 * i, xmm[i], 16);
	s->fpu_size = 512;
}

void ucb_fpu_set(struct ucb_engine *eng, const struct vmsim_cpu_state *s)
{
	const uint8_t *f = s->fpu;
	uint64_t fcw = 0, fsw = 0, fop = 0, fip = 0, mxcsr = 0, ftw = 0;
	unsigned nxmm = eng->mode == UCB_LONG ? 16 : 8;

	memcpy(&fcw, f + 0, 2);
	memcpy(&fsw, f + 2, 2);
	memcpy(&fop, f + 6, 2);
	memcpy(&fip, f + 8, 8);
	memcpy(&mxcsr, f + 24, 4);
	for (unsigned i = 0; i < 8; i++)
		if (!(f[4] & (1u << i)))
			ftw |= 3ull << (2 * i);
	unsigned top = (fsw >> 11) & 7;
	uc_reg_write(eng->uc, UC_X86_REG_FPCW, &fcw);
	uc_reg_write(eng->uc, UC_X86_REG_FPSW, &fsw);
	for (unsigned i = 0; i < 8; i++) {
		struct fp80 st;
		memcpy(&st.mantissa, f + 32 + 16 * i, 8);
		memcpy(&st.exponent, f + 40 + 16 * i, 2);
		uc_reg_write(eng->uc, UC_X86_REG_FP0 + (int)((top + i) & 7), &st);
	}
	uc_reg_write(eng->uc, UC_X86_REG_FPTAG, &ftw);
	uc_reg_write(eng->uc, UC_X86_REG_FOP, &fop);
	uc_reg_write(eng->uc, UC_X86_REG_FIP, &fip);
	uc_reg_write(eng->uc, UC_X86_REG_MXCSR, &mxcsr);
	for (unsigned i = 0; i < nxmm; i++)
		uc_reg_write(eng->uc, UC_X86_REG_XMM0 + (int)i, f + 160 + 16 * i);
}
