/* uc_events.c - delivering interrupts and exceptions through the guest IVT/IDT (2.0.1 never does). */
#include <string.h>

#include "uc_internal.h"

#define RFLAGS_NT (1u << 14)
#define RFLAGS_RF (1u << 16)
#define RFLAGS_AC (1u << 18)

/* Descriptor bits as QEMU caches them (bits 8-23 of the high dword, SDM Vol. 3A 3.4.5 Figure 3-8). */
#define DESC_S (1u << 12)  /* code or data, not system */
#define DESC_P (1u << 15)  /* present */
#define DESC_B (1u << 22)  /* D/B: 32-bit stack */
#define DESC_G (1u << 23)  /* limit in 4 KiB units */

#define SEG(i) (UCB_ENV_SEGS + (i) * UCB_ENV_SEG_SIZE)
#define SEG_CS SEG(1)
#define SEG_SS SEG(2)

bool ucb_interruptible(struct ucb_engine *eng)
{
	uint8_t *env;

	if (!(ucb_read_reg(eng, UC_X86_REG_EFLAGS) & UCB_RFLAGS_IF))
		return false;
	return ucb_ctx_load(eng, &env) && !(env_u32(env, UCB_ENV_HFLAGS) & UCB_HF_INHIBIT_IRQ);
}

bool ucb_nmi_blocked(struct ucb_engine *eng)
{
	uint8_t *env;

	return !ucb_ctx_load(eng, &env) || (env_u32(env, UCB_ENV_HFLAGS2) & UCB_HF2_NMI);
}

/* Stack pushes go straight to guest memory: linear equals guest-physical on 2.0.1. */
struct frame {
	struct ucb_engine *eng;
	uint64_t ss_base, sp, mask;
	bool ok;
};

static void push(struct frame *f, uint64_t value, unsigned bytes)
{
	if (!f->ok)
		return; /* the first push that failed says why (access_fault) */
	f->sp = (f->sp - bytes) & f->mask;
	if (!ucb_guest_write(f->eng, f->ss_base + f->sp, &value, bytes))
		f->ok = false;
}

/* One delivery: the interrupted context, the frame being pushed, and the handler's entry. */
struct delivery {
	struct ucb_engine *eng;
	uint8_t *env;               /* the engine's CPUX86State, patched in place */
	uint64_t rflags, rsp;       /* the interrupted ones, then the handler's */
	uint64_t return_rip, target;
	uint16_t old_cs, old_ss;
	unsigned cpl;
	bool has_error;
	uint32_t error;
	uint32_t ext;               /* error code bit 0 (EXT) of a fault raised by this delivery: 0 for INT n/INT3/INTO */
	struct frame f;
	struct ucb_delivery_fault *fault;
};

/* The delivery raises vector with error code error (EXT added): SDM Vol. 3A 6.13 "Error Code". */
static enum ucb_deliver_result delivery_fault(struct delivery *d, uint8_t vector, uint32_t error)
{
	d->fault->vector = vector;
	d->fault->error = error | d->ext;
	return UCB_FAULT;
}

/* The error code naming IDT entry vector: index, IDT bit (1); EXT is added by delivery_fault(). */
static uint32_t idt_error(uint8_t vector)
{
	return (uint32_t)vector * 8 + 2;
}

/* Code/stack segment descriptor from the GDT, in QEMU's cache form (SDM Vol. 3A 3.4.5 "Segment Descriptors"). */
static bool read_desc(struct ucb_engine *eng, const uint8_t *env, uint16_t sel, uint64_t *base, uint32_t *limit,
                      uint32_t *flags)
{
	uint64_t d;

	/* a null selector or one in the LDT (TI, bit 2) is not followed; the descriptor must lie inside the GDT */
	if ((sel & 4) || (sel & ~7u) == 0 || (uint32_t)(sel | 7) > env_u32(env, UCB_ENV_GDT + 16))
		return false;
	if (!ucb_guest_read(eng, env_u64(env, UCB_ENV_GDT + 8) + (sel & ~7u), &d, 8))
		return false;
	*flags = (uint32_t)(d >> 32) & 0x00f0ff00u;
	*base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000u);
	*limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	if (*flags & DESC_G)
		*limit = (*limit << 12) | 0xfff;
	return (*flags & DESC_P) && (*flags & DESC_S);
}

/*
 * Real-address mode (SDM Vol. 3B 20.1.4 "Interrupt and Exception Handling"): the IVT at the IDTR base holds 4-byte
 * offset:segment pairs; push FLAGS, CS, IP (16 bits each), clear IF, TF and AC, jump to segment:offset. A vector
 * whose entry lies beyond the IDTR limit is #GP (SDM Vol. 2A "INT n", REAL-ADDRESS-MODE), no error code pushed.
 */
static enum ucb_deliver_result deliver_real(struct delivery *d, uint8_t vector)
{
	uint64_t idt = env_u64(d->env, UCB_ENV_IDT + 8);
	uint16_t vec[2];

	if ((uint32_t)vector * 4 + 3 > env_u32(d->env, UCB_ENV_IDT + 16))
		return delivery_fault(d, 13, 0);
	if (!ucb_guest_read(d->eng, idt + (uint32_t)vector * 4, vec, 4))
		return UCB_SHUTDOWN;
	d->f.mask = 0xffff;
	push(&d->f, d->rflags, 2);
	push(&d->f, d->old_cs, 2);
	push(&d->f, d->return_rip, 2);
	if (!d->f.ok)
		return UCB_SHUTDOWN;
	d->rflags &= ~(uint64_t)(UCB_RFLAGS_IF | UCB_RFLAGS_TF | RFLAGS_AC);
	env_put32(d->env, SEG_CS, vec[1]);
	env_put64(d->env, SEG_CS + 8, (uint64_t)vec[1] << 4);
	d->target = vec[0];
	d->rsp = (d->rsp & ~0xffffull) | d->f.sp;
	return UCB_DELIVERED;
}

/* An IDT gate, decoded. */
struct gate {
	uint64_t offset;
	uint16_t sel;
	unsigned type, dpl, ist;
	bool present, gate32, trap;
};

/*
 * IDT entry `vector`: 8 bytes in protected mode (SDM Vol. 3A 6.11 Figure 6-2), 16 in IA-32e mode (6.14.1 Figure 6-8);
 * type 6/7 = 16-bit interrupt/trap gate, 14/15 = 32-bit (64-bit in IA-32e mode) interrupt/trap gate (Table 3-2).
 */
static bool read_gate(struct ucb_engine *eng, const uint8_t *env, uint8_t vector, bool lm, struct gate *gate)
{
	unsigned gate_size = lm ? 16 : 8;
	uint64_t g[2] = { 0, 0 };

	if ((uint32_t)vector * gate_size + gate_size - 1 > env_u32(env, UCB_ENV_IDT + 16) ||
	    !ucb_guest_read(eng, env_u64(env, UCB_ENV_IDT + 8) + (uint64_t)vector * gate_size, g, gate_size))
		return false;
	gate->type = (g[0] >> 40) & 0x1f; /* with the S bit (12 of the high dword): a gate is a system descriptor, S clear */
	gate->dpl = (g[0] >> 45) & 3;
	gate->present = (g[0] >> 47) & 1;
	gate->gate32 = gate->type == 0xe || gate->type == 0xf;
	gate->trap = gate->type == 0xf || gate->type == 0x7;
	gate->sel = (uint16_t)(g[0] >> 16);
	gate->offset = (g[0] & 0xffff) | ((g[0] >> 32) & 0xffff0000u);
	if (lm)
		gate->offset |= g[1] << 32;
	gate->ist = lm ? (g[0] >> 32) & 7 : 0;
	return true;
}

/*
 * IA-32e mode (SDM Vol. 3A 6.14.2-6.14.5): the stack switches to the TSS's RSPn on a privilege change or to ISTn
 * when the gate names one (64-bit TSS, Figure 7-11: RSP0 at 4, IST1 at 0x24), is aligned to 16 bytes, and gets
 * SS, RSP, RFLAGS, CS, RIP and the error code, 8 bytes each; a privilege change loads SS with a null selector.
 */
static bool push_long(struct delivery *d, const struct gate *gate, unsigned new_cpl, uint64_t tss)
{
	struct frame *f = &d->f;

	f->mask = ~0ull;
	f->ss_base = 0;
	if (new_cpl < d->cpl || gate->ist) {
		uint64_t off = gate->ist ? 0x24 + 8 * (gate->ist - 1) : 4 + 8 * new_cpl;
		if (!ucb_guest_read(d->eng, tss + off, &f->sp, 8))
			return false;
	}
	f->sp &= ~0xfull;
	push(f, d->old_ss, 8);
	push(f, d->rsp, 8);
	push(f, d->rflags, 8);
	push(f, d->old_cs, 8);
	push(f, d->return_rip, 8);
	if (d->has_error)
		push(f, d->error, 8);
	if (new_cpl < d->cpl) {
		env_put32(d->env, SEG_SS, new_cpl);
		env_put64(d->env, SEG_SS + 8, 0);
		env_put32(d->env, SEG_SS + 20, 0x00c09300u | (new_cpl << 13)); /* present writable data, DPL new_cpl */
	}
	return true;
}

/*
 * Protected mode (SDM Vol. 3A 6.12.1, Figure 6-4): to a more privileged handler the stack switches to SS0:ESP0 of the
 * 32-bit TSS (Figure 7-2: ESP0 at 4, SS0 at 8) and the old SS:ESP are pushed first; then EFLAGS, CS, EIP and the
 * error code, 4 bytes each through a 32-bit gate, 2 through a 16-bit one.
 */
static bool push_legacy(struct delivery *d, const struct gate *gate, unsigned new_cpl, uint64_t tss)
{
	struct frame *f = &d->f;
	unsigned width = gate->gate32 ? 4 : 2;

	if (new_cpl < d->cpl) {
		uint32_t esp0 = 0, ss_limit, ss_flags;
		uint16_t ss0 = 0;
		uint64_t ss_base;
		if (!ucb_guest_read(d->eng, tss + 4, &esp0, 4) || !ucb_guest_read(d->eng, tss + 8, &ss0, 2) ||
		    !read_desc(d->eng, d->env, ss0, &ss_base, &ss_limit, &ss_flags))
			return false;
		f->ss_base = ss_base;
		f->sp = esp0;
		f->mask = (ss_flags & DESC_B) ? 0xffffffffu : 0xffff;
		push(f, d->old_ss, width);
		push(f, d->rsp, width);
		env_put32(d->env, SEG_SS, ss0);
		env_put64(d->env, SEG_SS + 8, ss_base);
		env_put32(d->env, SEG_SS + 16, ss_limit);
		env_put32(d->env, SEG_SS + 20, ss_flags);
	} else {
		f->mask = (env_u32(d->env, SEG_SS + 20) & DESC_B) ? 0xffffffffu : 0xffff;
	}
	push(f, d->rflags, width);
	push(f, d->old_cs, width);
	push(f, d->return_rip, width);
	if (d->has_error)
		push(f, d->error, width);
	return true;
}

/*
 * The handler's code segment (SDM Vol. 3A 6.12.1.1 and "Interrupt 13/11" conditions): a null selector is #GP(EXT),
 * one past the GDT limit, not a code segment or more privileged than the CPL... is #GP(selector), a not-present
 * one #NP(selector). LDT selectors are not followed (UCB_SHUTDOWN).
 */
static enum ucb_deliver_result handler_cs(struct delivery *d, uint16_t sel, uint64_t *base, uint32_t *limit,
                                          uint32_t *flags)
{
	uint32_t sel_error = sel & 0xfffcu;

	if ((sel & ~3u) == 0)
		return delivery_fault(d, 13, 0);
	if (sel & 4)
		return UCB_SHUTDOWN;
	if ((uint32_t)(sel | 7) > env_u32(d->env, UCB_ENV_GDT + 16))
		return delivery_fault(d, 13, sel_error);
	*flags = ~0u; /* read_desc leaves it so when it could not read the descriptor at all */
	if (!read_desc(d->eng, d->env, sel, base, limit, flags) && *flags == ~0u)
		return UCB_SHUTDOWN;
	bool code = (*flags & DESC_S) && (*flags & (1u << 11));
	if (!code || ((*flags >> 13) & 3) > d->cpl)
		return delivery_fault(d, 13, sel_error); /* not code, or less privileged than the interrupted code: before P */
	if (!(*flags & DESC_P))
		return delivery_fault(d, 11, sel_error);
	return UCB_DELIVERED;
}

/*
 * Protected and IA-32e mode through an interrupt or trap gate (task gates are not supported): the gate, its code
 * segment, the stack frame; then TF, NT, RF and VM clear, and IF too through an interrupt gate (SDM Vol. 3A 6.12.1.3).
 * What the delivery finds wrong on the way is the exception the CPU raises there (handler_cs, and SDM Vol. 3A 6.12.1:
 * an entry past the IDT limit or not an interrupt/trap gate #GP, a not-present gate #NP, INT n to a gate below the
 * CPL #GP, a handler beyond its CS limit #GP(0)).
 */
static enum ucb_deliver_result deliver_protected(struct delivery *d, uint8_t vector, bool software)
{
	bool lm = env_u32(d->env, UCB_ENV_HFLAGS) & UCB_HF_LMA;
	struct gate gate;
	uint64_t cs_base;
	uint32_t cs_limit, cs_flags = 0;
	unsigned gate_size = lm ? 16 : 8;

	if ((uint32_t)vector * gate_size + gate_size - 1 > env_u32(d->env, UCB_ENV_IDT + 16))
		return delivery_fault(d, 13, idt_error(vector));
	if (!read_gate(d->eng, d->env, vector, lm, &gate))
		return UCB_SHUTDOWN; /* the IDT's memory cannot be read */
	if (lm ? !gate.gate32 : !(gate.gate32 || gate.type == 0x6 || gate.type == 0x7))
		return gate.type == 0x5 && !lm ? UCB_SHUTDOWN : delivery_fault(d, 13, idt_error(vector)); /* 5: a task gate */
	if (software && gate.dpl < d->cpl)
		return delivery_fault(d, 13, idt_error(vector) & ~1u); /* INT n above the gate's DPL: EXT stays 0 */
	if (!gate.present)
		return delivery_fault(d, 11, idt_error(vector));
	enum ucb_deliver_result cs = handler_cs(d, gate.sel, &cs_base, &cs_limit, &cs_flags);
	if (cs != UCB_DELIVERED)
		return cs;
	bool code64 = lm && (cs_flags & (1u << 21)) && !(cs_flags & DESC_B); /* CS.L, and D clear (L with D: reserved) */
	if (lm && !code64)
		return delivery_fault(d, 13, gate.sel & 0xfffcu); /* IA-32e mode enters 64-bit code only (SDM 6.14.1) */
	if (code64 && (uint64_t)((int64_t)(gate.offset << 16) >> 16) != gate.offset)
		return delivery_fault(d, 13, 0); /* a non-canonical handler address: #GP(EXT) (SDM Vol. 2A "INT n") */
	if (!code64 && gate.offset > cs_limit)
		return delivery_fault(d, 13, 0);
	unsigned new_cpl = (cs_flags >> 13) & 3; /* the handler's CS.DPL */
	uint64_t tss = env_u64(d->env, UCB_ENV_TR + 8);
	if (!(lm ? push_long(d, &gate, new_cpl, tss) : push_legacy(d, &gate, new_cpl, tss)) || !d->f.ok)
		return UCB_SHUTDOWN;
	d->rsp = d->f.mask == 0xffff ? (d->rsp & ~0xffffull) | d->f.sp : d->f.sp;
	d->rflags &= ~(uint64_t)(UCB_RFLAGS_TF | RFLAGS_NT | RFLAGS_RF | UCB_RFLAGS_VM);
	if (!gate.trap)
		d->rflags &= ~(uint64_t)UCB_RFLAGS_IF;
	env_put32(d->env, SEG_CS, (gate.sel & ~3u) | new_cpl);
	env_put64(d->env, SEG_CS + 8, cs_base);
	env_put32(d->env, SEG_CS + 16, cs_limit);
	env_put32(d->env, SEG_CS + 20, cs_flags);
	d->target = gate.offset;
	return UCB_DELIVERED;
}

/* The handler runs: no STI/MOV SS shadow, NMIs blocked after an NMI (SDM Vol. 3A 6.7.1), the new RSP, RFLAGS, RIP. */
static enum ucb_deliver_result enter_handler(struct delivery *d, enum vmsim_event_type type)
{
	struct ucb_engine *eng = d->eng;
	bool wide = eng->mode == UCB_LONG;

	env_put32(d->env, UCB_ENV_HFLAGS, env_u32(d->env, UCB_ENV_HFLAGS) & ~UCB_HF_INHIBIT_IRQ);
	if (type == VMSIM_EVENT_NMI)
		env_put32(d->env, UCB_ENV_HFLAGS2, env_u32(d->env, UCB_ENV_HFLAGS2) | UCB_HF2_NMI);
	ucb_hflags_recompute(d->env);
	if (!ucb_ctx_store(eng))
		return UCB_DELIVER_ERROR;
	uc_reg_write(eng->uc, wide ? UC_X86_REG_RSP : UC_X86_REG_ESP, &d->rsp);
	uc_reg_write(eng->uc, wide ? UC_X86_REG_RFLAGS : UC_X86_REG_EFLAGS, &d->rflags);
	return ucb_write_rip(eng, d->target) ? UCB_DELIVERED : UCB_DELIVER_ERROR;
}

enum ucb_deliver_result ucb_deliver(struct ucb_engine *eng, uint8_t vector, enum vmsim_event_type type,
                                    bool has_error, uint32_t error, uint64_t return_rip,
                                    struct ucb_delivery_fault *fault)
{
	struct delivery d = { .eng = eng, .return_rip = return_rip, .has_error = has_error, .error = error,
		              .fault = fault };
	/* EXT: the event is external to the program (an interrupt, NMI, an exception or INT1), not INT n/INT3/INTO */
	d.ext = type != VMSIM_EVENT_SW_INT && type != VMSIM_EVENT_SW_EXCEPTION;

	d.rflags = ucb_read_reg(eng, UC_X86_REG_EFLAGS);
	d.rsp = ucb_read_reg(eng, eng->mode == UCB_LONG ? UC_X86_REG_RSP : UC_X86_REG_ESP);
	if (!ucb_ctx_load(eng, &d.env))
		return UCB_DELIVER_ERROR;
	d.cpl = env_u32(d.env, UCB_ENV_HFLAGS) & UCB_HF_CPL;
	d.old_cs = (uint16_t)env_u32(d.env, SEG_CS);
	d.old_ss = (uint16_t)env_u32(d.env, SEG_SS);
	d.f = (struct frame){ eng, env_u64(d.env, SEG_SS + 8), d.rsp, 0, true };
	bool software = type == VMSIM_EVENT_SW_INT || type == VMSIM_EVENT_SW_EXCEPTION;
	eng->access_fault.kind = UCB_ACCESS_OK;
	fault->has_cr2 = false;
	enum ucb_deliver_result r = (env_u64(d.env, UCB_ENV_CR) & UCB_CR0_PE) ? deliver_protected(&d, vector, software)
	                                                                        : deliver_real(&d, vector);
	if (r == UCB_SHUTDOWN && eng->access_fault.kind == UCB_ACCESS_PF) {
		/*
		 * A frame push, or a read of the IDT, GDT or TSS, met a not-present or protected page: #PF at its linear
		 * address (SDM Vol. 3A 6.15 "Interrupt 14"), with the walk's error code (which has no EXT bit).
		 */
		fault->vector = 14;
		fault->error = eng->access_fault.error;
		fault->has_cr2 = true;
		fault->cr2 = eng->access_fault.lin;
		return UCB_FAULT;
	}
	if (r == UCB_SHUTDOWN && eng->access_fault.kind == UCB_ACCESS_NPF) {
		/* ... or memory no attachment backs: the NPF/EPT violation of a VM exit during event delivery */
		fault->npf = eng->access_fault;
		return UCB_NPF;
	}
	return r == UCB_DELIVERED ? enter_handler(&d, type) : r;
}
