/* uc_events.c - delivering interrupts and exceptions through the guest IVT/IDT (2.0.1 never does). */
#include <string.h>

#include "uc_internal.h"

#define RFLAGS_NT (1u << 14)
#define RFLAGS_RF (1u << 16)
#define RFLAGS_AC (1u << 18)

static uint64_t env64(const uint8_t *env, int off)
{
	uint64_t v;
	memcpy(&v, env + off, 8);
	return v;
}

static uint32_t env32(const uint8_t *env, int off)
{
	uint32_t v;
	memcpy(&v, env + off, 4);
	return v;
}

static void put64(uint8_t *env, int off, uint64_t v)
{
	memcpy(env + off, &v, 8);
}

static void put32(uint8_t *env, int off, uint32_t v)
{
	memcpy(env + off, &v, 4);
}

#define SEG(i) (UCB_ENV_SEGS + (i) * UCB_ENV_SEG_SIZE)

bool ucb_interruptible(struct ucb_engine *eng)
{
	uint8_t *env;

	if (!(ucb_read_reg(eng, UC_X86_REG_EFLAGS) & UCB_RFLAGS_IF))
		return false;
	return ucb_ctx_load(eng, &env) && !(env32(env, UCB_ENV_HFLAGS) & UCB_HF_INHIBIT_IRQ);
}

bool ucb_nmi_blocked(struct ucb_engine *eng)
{
	uint8_t *env;

	return !ucb_ctx_load(eng, &env) || (env32(env, UCB_ENV_HFLAGS2) & UCB_HF2_NMI);
}

/* Stack pushes go straight to guest memory: linear equals guest-physical on 2.0.1. */
struct frame {
	struct ucb_engine *eng;
	uint64_t ss_base, sp, mask;
	bool ok;
};

static void push(struct frame *f, uint64_t value, unsigned bytes)
{
	f->sp = (f->sp - bytes) & f->mask;
	if (!ucb_guest_write(f->eng, f->ss_base + f->sp, &value, bytes))
		f->ok = false;
}

/* Code/stack segment descriptor from the GDT, in QEMU's cache form. */
static bool read_desc(struct ucb_engine *eng, const uint8_t *env, uint16_t sel, uint64_t *base, uint32_t *limit,
                      uint32_t *flags)
{
	uint64_t d;

	if ((sel & 4) || (sel & ~7u) == 0 || (uint32_t)(sel | 7) > env32(env, UCB_ENV_GDT + 16))
		return false;
	if (!ucb_guest_read(eng, env64(env, UCB_ENV_GDT + 8) + (sel & ~7u), &d, 8))
		return false;
	*flags = (uint32_t)(d >> 32) & 0x00f0ff00u;
	*base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000u);
	*limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	if (*flags & (1u << 23))
		*limit = (*limit << 12) | 0xfff;
	return (*flags & (1u << 15)) && (*flags & (1u << 12)); /* present, code/data */
}

enum ucb_deliver_result ucb_deliver(struct ucb_engine *eng, uint8_t vector, enum vmsim_event_type type,
                                    bool has_error, uint32_t error, uint64_t return_rip)
{
	uint8_t *env;
	uint64_t rflags = ucb_read_reg(eng, UC_X86_REG_EFLAGS);
	uint64_t rsp = ucb_read_reg(eng, eng->mode == UCB_LONG ? UC_X86_REG_RSP : UC_X86_REG_ESP);
	uint64_t target = 0;

	if (!ucb_ctx_load(eng, &env))
		return UCB_DELIVER_ERROR;
	uint64_t cr0 = env64(env, UCB_ENV_CR);
	uint32_t hflags = env32(env, UCB_ENV_HFLAGS);
	uint64_t idt = env64(env, UCB_ENV_IDT + 8);
	uint32_t idt_limit = env32(env, UCB_ENV_IDT + 16);
	unsigned cpl = hflags & UCB_HF_CPL;
	struct frame f = { eng, env64(env, SEG(2) + 8), rsp, 0, true };
	uint16_t old_cs = (uint16_t)env32(env, SEG(1)), old_ss = (uint16_t)env32(env, SEG(2));
	bool software = type == VMSIM_EVENT_SW_INT || type == VMSIM_EVENT_SW_EXCEPTION;

	if (!(cr0 & UCB_CR0_PE)) {
		uint16_t vec[2];
		if ((uint32_t)vector * 4 + 3 > idt_limit ||
		    !ucb_guest_read(eng, idt + (uint32_t)vector * 4, vec, 4))
			return UCB_SHUTDOWN;
		f.mask = 0xffff;
		push(&f, rflags, 2);
		push(&f, old_cs, 2);
		push(&f, return_rip, 2);
		if (!f.ok)
			return UCB_SHUTDOWN;
		rflags &= ~(uint64_t)(UCB_RFLAGS_IF | UCB_RFLAGS_TF | RFLAGS_AC);
		put32(env, SEG(1), vec[1]);
		put64(env, SEG(1) + 8, (uint64_t)vec[1] << 4);
		target = vec[0];
		rsp = (rsp & ~0xffffull) | f.sp;
	} else {
		bool lm = hflags & UCB_HF_LMA;
		unsigned gate_size = lm ? 16 : 8;
		uint64_t g[2] = { 0, 0 };
		if ((uint32_t)vector * gate_size + gate_size - 1 > idt_limit ||
		    !ucb_guest_read(eng, idt + (uint64_t)vector * gate_size, g, gate_size))
			return UCB_SHUTDOWN;
		unsigned gtype = (g[0] >> 40) & 0xf, dpl = (g[0] >> 45) & 3;
		bool present = (g[0] >> 47) & 1;
		bool gate32 = gtype == 0xe || gtype == 0xf, trap = gtype == 0xf || gtype == 0x7;
		if (!present || (lm ? !gate32 : !(gate32 || gtype == 0x6 || gtype == 0x7)))
			return UCB_SHUTDOWN; /* task gates are not supported */
		if (software && dpl < cpl)
			return UCB_SHUTDOWN;
		uint16_t sel = (uint16_t)(g[0] >> 16);
		target = (g[0] & 0xffff) | ((g[0] >> 32) & 0xffff0000u);
		if (lm)
			target |= g[1] << 32;
		uint64_t cs_base;
		uint32_t cs_limit, cs_flags;
		if (!read_desc(eng, env, sel, &cs_base, &cs_limit, &cs_flags))
			return UCB_SHUTDOWN;
		unsigned new_cpl = (cs_flags >> 13) & 3;
		if (new_cpl > cpl)
			return UCB_SHUTDOWN;
		uint64_t tss = env64(env, UCB_ENV_TR + 8);
		unsigned ist = lm ? (g[0] >> 32) & 7 : 0;
		bool switch_stack = new_cpl < cpl || ist;
		if (lm) {
			f.mask = ~0ull;
			f.ss_base = 0;
			if (switch_stack) {
				uint64_t off = ist ? 0x24 + 8 * (ist - 1) : 4 + 8 * new_cpl;
				if (!ucb_guest_read(eng, tss + off, &f.sp, 8))
					return UCB_SHUTDOWN;
			}
			f.sp &= ~0xfull;
			push(&f, old_ss, 8);
			push(&f, rsp, 8);
			push(&f, rflags, 8);
			push(&f, old_cs, 8);
			push(&f, return_rip, 8);
			if (has_error)
				push(&f, error, 8);
			if (new_cpl < cpl) {
				put32(env, SEG(2), new_cpl);
				put64(env, SEG(2) + 8, 0);
				put32(env, SEG(2) + 20, 0x00c09300u | (new_cpl << 13));
			}
		} else {
			unsigned width = gate32 ? 4 : 2;
			if (new_cpl < cpl) {
				uint32_t esp0 = 0;
				uint16_t ss0 = 0;
				uint64_t ss_base;
				uint32_t ss_limit, ss_flags;
				if (!ucb_guest_read(eng, tss + 4, &esp0, 4) ||
				    !ucb_guest_read(eng, tss + 8, &ss0, 2) ||
				    !read_desc(eng, env, ss0, &ss_base, &ss_limit, &ss_flags))
					return UCB_SHUTDOWN;
				f.ss_base = ss_base;
				f.sp = esp0;
				f.mask = (ss_flags & (1u << 22)) ? 0xffffffffu : 0xffff;
				push(&f, old_ss, width);
				push(&f, rsp, width);
				put32(env, SEG(2), ss0);
				put64(env, SEG(2) + 8, ss_base);
				put32(env, SEG(2) + 16, ss_limit);
				put32(env, SEG(2) + 20, ss_flags);
			} else {
				f.mask = (env32(env, SEG(2) + 20) & (1u << 22)) ? 0xffffffffu : 0xffff;
			}
			push(&f, rflags, width);
			push(&f, old_cs, width);
			push(&f, return_rip, width);
			if (has_error)
				push(&f, error, width);
		}
		if (!f.ok)
			return UCB_SHUTDOWN;
		rsp = f.mask == 0xffff ? (rsp & ~0xffffull) | f.sp : f.sp;
		rflags &= ~(uint64_t)(UCB_RFLAGS_TF | RFLAGS_NT | RFLAGS_RF | UCB_RFLAGS_VM);
		if (!trap)
			rflags &= ~(uint64_t)UCB_RFLAGS_IF;
		put32(env, SEG(1), (sel & ~3u) | new_cpl);
		put64(env, SEG(1) + 8, cs_base);
		put32(env, SEG(1) + 16, cs_limit);
		put32(env, SEG(1) + 20, cs_flags);
	}
	uint32_t hf = env32(env, UCB_ENV_HFLAGS) & ~UCB_HF_INHIBIT_IRQ;
	put32(env, UCB_ENV_HFLAGS, hf);
	if (type == VMSIM_EVENT_NMI)
		put32(env, UCB_ENV_HFLAGS2, env32(env, UCB_ENV_HFLAGS2) | UCB_HF2_NMI);
	ucb_hflags_recompute(env);
	if (!ucb_ctx_store(eng))
		return UCB_DELIVER_ERROR;
	bool wide = eng->mode == UCB_LONG;
	uc_reg_write(eng->uc, wide ? UC_X86_REG_RSP : UC_X86_REG_ESP, &rsp);
	uc_reg_write(eng->uc, wide ? UC_X86_REG_RFLAGS : UC_X86_REG_EFLAGS, &rflags);
	return ucb_write_rip(eng, target) ? UCB_DELIVERED : UCB_DELIVER_ERROR;
}
