/*
 * uc_regs.c - the bottom layer of the Unicorn backend: CPU state facts every other file needs (the code size, the
 * mode, QEMU's hidden flags and segment caches in a saved CPUX86State) and the log. Calls nothing in sim/unicorn;
 * the register and context accessors on every exit's path are static inline in uc_internal.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "uc_internal.h"

/* General registers by their x86 number (0 = rAX ... 15 = R15; ModRM and REX order, SDM Vol. 2A Table 2-2). */
const int ucb_gpr64[16] = { UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX,
	                    UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI,
	                    UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
	                    UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15 };
const int ucb_gpr32[8] = { UC_X86_REG_EAX, UC_X86_REG_ECX, UC_X86_REG_EDX, UC_X86_REG_EBX,
	                   UC_X86_REG_ESP, UC_X86_REG_EBP, UC_X86_REG_ESI, UC_X86_REG_EDI };

void ucb_log(struct ucb_vm *vm, enum vmsim_log_level level, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	if (!vm->host.log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	vm->host.log(vm->host.ctx, level, buf);
}

uint32_t ucb_code_bits(struct ucb_engine *eng)
{
	return ucb_cs(eng)->bits;
}

enum ucb_mode ucb_mode_of(uint64_t cr0, uint64_t efer)
{
	if ((efer & UCB_EFER_LMA) || ((efer & UCB_EFER_LME) && (cr0 & UCB_CR0_PG) && (cr0 & UCB_CR0_PE)))
		return UCB_LONG;
	return (cr0 & UCB_CR0_PE) ? UCB_PROT : UCB_REAL;
}

/* QEMU keeps descriptor bits 8-23 of the high dword; Genode's ar packs bits 8-15 and 20-23. */
void ucb_seg_from_env(const uint8_t *env, int off, struct vmsim_segment *seg)
{
	uint32_t flags = env_u32(env, off + 20);

	seg->sel = (uint16_t)env_u32(env, off);
	seg->base = env_u64(env, off + 8);
	seg->limit = env_u32(env, off + 16);
	seg->ar = (uint16_t)(((flags >> 8) & 0xff) | ((flags >> 12) & 0xf00));
	if (!(flags & (1u << 15)) && off != UCB_ENV_GDT && off != UCB_ENV_IDT)
		seg->ar |= 0x1000; /* not present: unusable */
}

void ucb_seg_to_env(uint8_t *env, int off, const struct vmsim_segment *seg)
{
	uint32_t flags = ((uint32_t)(seg->ar & 0xff) << 8) | ((uint32_t)(seg->ar & 0xf00) << 12);

	if (seg->ar & 0x1000)
		flags = 0;
	env_put32(env, off, seg->sel);
	env_put64(env, off + 8, seg->base);
	env_put32(env, off + 16, seg->limit);
	env_put32(env, off + 20, flags);
}

/* QEMU's cpu_x86_load_seg_cache / cpu_x86_update_cr0 flag derivation, done once over the patched state. */
void ucb_hflags_recompute(uint8_t *env)
{
	uint32_t hf = env_u32(env, UCB_ENV_HFLAGS);
	uint64_t cr0 = env_u64(env, UCB_ENV_CR), cr4 = env_u64(env, UCB_ENV_CR + 32);
	uint64_t efer = env_u64(env, UCB_ENV_EFER);
	uint32_t cs = env_u32(env, UCB_ENV_SEGS + 1 * UCB_ENV_SEG_SIZE + 20);
	uint32_t ss = env_u32(env, UCB_ENV_SEGS + 2 * UCB_ENV_SEG_SIZE + 20);
	uint64_t es_base = env_u64(env, UCB_ENV_SEGS + 8);
	uint64_t ss_base = env_u64(env, UCB_ENV_SEGS + 2 * UCB_ENV_SEG_SIZE + 8);
	uint64_t ds_base = env_u64(env, UCB_ENV_SEGS + 3 * UCB_ENV_SEG_SIZE + 8);
	bool pe = cr0 & UCB_CR0_PE;

	hf &= ~(UCB_HF_CPL | UCB_HF_CS32 | UCB_HF_SS32 | UCB_HF_ADDSEG | UCB_HF_PE | UCB_HF_MP_EM_TS |
	        UCB_HF_LMA | UCB_HF_CS64 | UCB_HF_OSFXSR);
	if (pe) {
		hf |= UCB_HF_PE;
		hf |= (ss >> 13) & 3; /* QEMU takes CPL from SS.DPL */
	}
	if (efer & UCB_EFER_LMA)
		hf |= UCB_HF_LMA;
	if ((efer & UCB_EFER_LMA) && (cs & (1u << 21))) {
		hf |= UCB_HF_CS32 | UCB_HF_SS32 | UCB_HF_CS64;
	} else {
		if (cs & (1u << 22))
			hf |= UCB_HF_CS32;
		if (ss & (1u << 22))
			hf |= UCB_HF_SS32;
		if (!pe || !(hf & UCB_HF_CS32) || (ds_base | es_base | ss_base))
			hf |= UCB_HF_ADDSEG;
	}
	hf |= (uint32_t)(cr0 << 8) & UCB_HF_MP_EM_TS;
	if (cr4 & (1u << 9))
		hf |= UCB_HF_OSFXSR;
	env_put32(env, UCB_ENV_HFLAGS, hf);
}
