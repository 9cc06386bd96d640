/* uc_fpu.c - the FPU group as an FXSAVE image: read from a saved CPUX86State, written through the x87/SSE registers 2.0.1 exposes. */
#include <string.h>

#include "uc_internal.h"

/* 2.0.1 moves an x87 register as a 64-bit mantissa followed by a 16-bit sign/exponent. */
struct fp80 {
	uint64_t mantissa;
	uint16_t exponent;
};

void ucb_fpu_get(const struct ucb_engine *eng, const uint8_t *env, struct vmsim_cpu_state *s)
{
	uint8_t *f = s->fpu;
	unsigned nxmm = eng->mode == UCB_LONG ? 16 : 8;
	unsigned top = env_u32(env, UCB_ENV_FPSTT) & 7;
	uint16_t fsw = (uint16_t)((env[UCB_ENV_FPUS] | env[UCB_ENV_FPUS + 1] << 8) & ~0x3800);

	fsw |= (uint16_t)(top << 11); /* QEMU keeps TOP apart from the status word */
	memset(f, 0, 512);
	memcpy(f + 0, env + UCB_ENV_FPUC, 2);
	memcpy(f + 2, &fsw, 2);
	for (unsigned i = 0; i < 8; i++)
		if (!env[UCB_ENV_FPTAGS + i]) /* abridged tag: bit i set when physical register i is not empty */
			f[4] |= (uint8_t)(1u << i);
	memcpy(f + 6, env + UCB_ENV_FPOP, 2);
	memcpy(f + 8, env + UCB_ENV_FPIP, 8);
	memcpy(f + 24, env + UCB_ENV_MXCSR, 4);
	uint32_t mask = 0xffff;
	memcpy(f + 28, &mask, 4);
	for (unsigned i = 0; i < 8; i++) /* FXSAVE stores ST(i); QEMU keeps physical registers */
		memcpy(f + 32 + 16 * i, env + UCB_ENV_FPREGS + 16 * ((top + i) & 7), 10);
	for (unsigned i = 0; i < nxmm; i++)
		memcpy(f + 160 + 16 * i, env + UCB_ENV_XMM + UCB_ENV_XMM_SIZE * i, 16);
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
