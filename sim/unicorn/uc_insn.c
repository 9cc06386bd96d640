/*
 * uc_insn.c - instructions in guest memory: what the byte classifier makes of one (the sites the block scanner
 * hooks), the table of those sites by address, and instruction lengths at a rip (Capstone, remembered).
 */
#include <stdlib.h>
#include <string.h>

#include "uc_internal.h"

/* Legacy prefixes and REX ahead of the opcode (SDM Vol. 2A 2.1.1 "Instruction Prefixes", 2.2.1 "REX Prefixes"). */
struct prefixes {
	bool opsize, addrsize, rep; /* 66, 67, F2/F3 */
	bool lock;                  /* F0 */
	int seg;                    /* segment override: 0 = ES ... 5 = GS, -1 none */
	uint8_t rex;                /* 40-4F in 64-bit code, 0 none */
};

/* The index of the opcode byte in b[0..n) (n if there is none). */
static size_t parse_prefixes(const uint8_t *b, size_t n, uint32_t bits, struct prefixes *p)
{
	size_t i = 0;

	*p = (struct prefixes){ .seg = -1 };
	for (; i < n; i++) {
		uint8_t c = b[i];
		if (c == 0x66)
			p->opsize = true;
		else if (c == 0x67)
			p->addrsize = true;
		else if (c == 0xf2 || c == 0xf3)
			p->rep = true;
		else if (c == 0xf0)
			p->lock = true;
		else if (c == 0x26 || c == 0x2e || c == 0x36 || c == 0x3e)
			p->seg = (c >> 3) & 3; /* 26=ES 2e=CS 36=SS 3e=DS */
		else if (c == 0x64 || c == 0x65)
			p->seg = c - 0x60; /* FS, GS */
		else if (bits == 64 && (c & 0xf0) == 0x40)
			p->rex = c;
		else
			break;
	}
	return i;
}

/*
 * IN, OUT, INS, OUTS at b[i] (one-byte opcode map, SDM Vol. 2D Table A-2): E4-E7 take an imm8 port, EC-EF use DX,
 * 6C-6F are the string forms; bit 0 selects the operand size over a byte, bit 1 = OUT. False for other opcodes.
 */
static bool classify_io(const uint8_t *b, size_t i, size_t n, uint32_t bits, const struct prefixes *p,
                        struct ucb_insn *out)
{
	uint8_t op = b[i];

	switch (op) {
	case 0xe4: case 0xe5: case 0xe6: case 0xe7:
		out->io_imm = true;
		out->io_port_imm = i + 1 < n ? b[i + 1] : 0;
		out->len = (uint8_t)(i + 2);
		break;
	case 0xec: case 0xed: case 0xee: case 0xef:
		out->len = (uint8_t)(i + 1);
		break;
	case 0x6c: case 0x6d: case 0x6e: case 0x6f:
		out->io_string = true;
		out->io_rep = p->rep;
		out->len = (uint8_t)(i + 1);
		out->seg = op < 0x6e ? 0 : (p->seg >= 0 ? (uint8_t)p->seg : 3); /* INS always writes ES */
		break;
	default:
		return false;
	}
	out->kind = UCB_SITE_IO;
	out->io_in = !(op & 2);
	out->io_size = (op & 1) ? ((bits == 16) ^ p->opsize ? 2 : 4) : 1;
	return true;
}

/* HLT (F4), INT n (CD ib), INT3 (CC), INT1 (F1), INTO (CE, invalid in 64-bit mode): SDM Vol. 2D Table A-2. */
static void classify_one_byte(const uint8_t *b, size_t i, size_t n, uint32_t bits, struct ucb_insn *out)
{
	uint8_t op = b[i];

	switch (op) {
	case 0xf4:
		out->kind = UCB_SITE_HLT;
		out->len = (uint8_t)(i + 1);
		return;
	case 0xcd:
		out->kind = UCB_SITE_SWINT;
		out->vector = i + 1 < n ? b[i + 1] : 0;
		out->len = (uint8_t)(i + 2);
		return;
	case 0xcc: case 0xf1:
		out->kind = UCB_SITE_SWINT;
		out->vector = op == 0xcc ? 3 : 1; /* #BP, #DB */
		out->sw_exception = true;
		out->len = (uint8_t)(i + 1);
		return;
	case 0xce:
		if (bits != 64) {
			out->kind = UCB_SITE_SWINT;
			out->vector = 4; /* #OF */
			out->into = out->sw_exception = true;
			out->len = (uint8_t)(i + 1);
		}
		return;
	default:
		return;
	}
}

/*
 * Group 7, 0F 01 (SDM Vol. 2D Table A-6): /7 with a memory operand is INVLPG, F9 RDTSCP, C1 VMCALL (Intel), D9 VMMCALL
 * (AMD APM Vol. 3). b[i] is the 0F byte.
 */
static void classify_group7(const uint8_t *b, size_t i, size_t n, struct ucb_insn *out)
{
	if (i + 2 >= n)
		return;
	uint8_t modrm = b[i + 2];
	if ((modrm & 0x38) == 0x38 && (modrm >> 6) != 3) {
		out->kind = UCB_SITE_INVLPG; /* length from Capstone when it runs (memory operand) */
		out->len = (uint8_t)(i + 3);
		return;
	}
	if (modrm == 0xf9)
		out->kind = UCB_SITE_RDTSCP;
	else if (modrm == 0xc1 || modrm == 0xd9)
		out->kind = UCB_SITE_VMCALL;
	else
		return;
	out->len = (uint8_t)(i + 3);
}

/* Two-byte opcodes 0F xx at b[i] (SDM Vol. 2D Table A-3): CPUID, RDTSC, RDMSR, WRMSR, MOV to/from CRn, group 7. */
static void classify_0f(const uint8_t *b, size_t i, size_t n, uint8_t rex, struct ucb_insn *out)
{
	if (i + 1 >= n)
		return;
	switch (b[i + 1]) {
	case 0xa2: out->kind = UCB_SITE_CPUID; break;
	case 0x31: out->kind = UCB_SITE_RDTSC; break;
	case 0x32: out->kind = UCB_SITE_RDMSR; break;
	case 0x30: out->kind = UCB_SITE_WRMSR; break;
	case 0x20: case 0x22:
		/* MOV from/to CRn: always the register form (the mod bits are ignored, SDM Vol. 2B "MOV") */
		if (i + 2 >= n)
			return;
		out->kind = UCB_SITE_MOVCR;
		out->cr_read = b[i + 1] == 0x20;
		out->cr = (uint8_t)(((b[i + 2] >> 3) & 7) | ((rex & 4) ? 8 : 0)); /* ModRM.reg, REX.R */
		out->gpr = (uint8_t)((b[i + 2] & 7) | ((rex & 1) ? 8 : 0));       /* ModRM.rm, REX.B */
		out->len = (uint8_t)(i + 3);
		return;
	case 0x01:
		classify_group7(b, i, n, out);
		return;
	default:
		return;
	}
	out->len = (uint8_t)(i + 2);
}

/* What the instruction in b[0..n) is to the backend (kind 0: nothing it hooks), in code of the given size. */
void ucb_classify(const uint8_t *b, size_t n, uint32_t bits, struct ucb_insn *out)
{
	struct prefixes p;
	size_t i = parse_prefixes(b, n, bits, &p);

	memset(out, 0, sizeof *out);
	if (i >= n)
		return;
	out->loads_cs = ucb_insn_changes_cs(b, n, bits);
	out->limit_check = ucb_insn_checks_cs_limit(b, n, bits);
	/* 67 toggles 16 <-> 32 bits, and 64 -> 32 in 64-bit code (SDM Vol. 1 3.6 "Operand-size and address-size") */
	out->addr_size = bits == 16 ? (p.addrsize ? 4 : 2) : bits == 32 ? (p.addrsize ? 2 : 4) : (p.addrsize ? 4 : 8);
	out->seg = 3; /* DS, the default data segment */
	if ((b[i] == 0xca || b[i] == 0xcb) && bits != 64) {
		out->far_ret = (bits == 32) != p.opsize ? 4 : 2;
		out->ret_imm = b[i] == 0xca && i + 2 < n ? (uint16_t)(b[i + 1] | b[i + 2] << 8) : 0;
	}
	if (classify_io(b, i, n, bits, &p, out))
		return;
	if (b[i] == 0x0f)
		classify_0f(b, i, n, p.rex, out);
	else
		classify_one_byte(b, i, n, bits, out);
}

/* One-byte opcodes of ucb_insn_needs_pc_sync; b[i+1] is the ModRM byte where there is one. */
static bool one_byte_needs_pc_sync(const uint8_t *b, size_t i, size_t n, uint32_t bits)
{
	uint8_t reg = i + 1 < n ? (b[i + 1] >> 3) & 7 : 0;
	bool mem = i + 1 < n && (b[i + 1] >> 6) != 3;

	switch (b[i]) {
	case 0x07: case 0x17: case 0x1f: /* POP ES/SS/DS */
	case 0x62:                       /* BOUND (EVEX in 64-bit code) */
	case 0x9a: case 0xea:            /* far CALL/JMP ptr16:32 */
	case 0xc4: case 0xc5:            /* LES/LDS (VEX in 64-bit code) */
		return bits != 64;
	case 0x86: case 0x87: /* XCHG r, m: locked without the prefix */
		return mem;
	case 0x8e:                       /* MOV Sreg */
	case 0xca: case 0xcb: case 0xcf: /* far RET, IRET */
		return true;
	case 0xff: /* far CALL/JMP m16:xx */
		return mem && (reg == 3 || reg == 5);
	case 0xd9: case 0xdd: case 0xdf: /* FLDENV/FNSTENV, FRSTOR/FNSAVE, FBLD/FBSTP */
		return mem && (reg == 4 || reg == 6);
	case 0xdb: /* FLD/FSTP m80 */
		return mem && (reg == 5 || reg == 7);
	default:
		return false;
	}
}

/* Two-byte opcodes 0F b[i+1] of ucb_insn_needs_pc_sync. */
static bool two_byte_needs_pc_sync(const uint8_t *b, size_t i, size_t n)
{
	uint8_t reg = i + 2 < n ? (b[i + 2] >> 3) & 7 : 0;
	bool mem = i + 2 < n && (b[i + 2] >> 6) != 3;

	switch (i + 1 < n ? b[i + 1] : 0xff) {
	case 0x00: /* LLDT, LTR, VERR, VERW */
		return reg >= 2 && reg <= 5;
	case 0x02: case 0x03:            /* LAR, LSL */
	case 0xa1: case 0xa9:            /* POP FS/GS */
	case 0xb2: case 0xb4: case 0xb5: /* LSS, LFS, LGS */
	case 0xf7:                       /* MASKMOVQ/MASKMOVDQU */
		return true;
	case 0xae: /* FXSAVE, FXRSTOR, XSAVE, XRSTOR, XSAVEOPT */
		return mem && (reg <= 1 || (reg >= 4 && reg <= 6));
	case 0xc7: /* CMPXCHG8B/16B */
		return mem && reg == 1;
	default:
		return false;
	}
}

/*
 * Instructions whose memory accesses 2.0.1 makes inside a helper (descriptor
 * tables, IRET/far-return stack pops, FPU/XSAVE images, CMPXCHG8B/16B) or as
 * atomic operations (LOCK, XCHG with memory) rather than through plain TCG
 * loads and stores: only the latter sync the PC. A fault there would report
 * the PC of an earlier instruction in the block, and the run loop would re-run
 * instructions that had retired (measured: an IRETQ whose GDT page was
 * unmapped re-ran the PUSH before it and popped a bad CS).
 */
bool ucb_insn_needs_pc_sync(const uint8_t *b, size_t n, uint32_t bits)
{
	struct prefixes p;
	size_t i = parse_prefixes(b, n, bits, &p);

	if (i >= n)
		return false;
	if (p.lock)
		return true; /* only a memory operand may be locked: anything else is #UD, which syncs itself */
	return b[i] == 0x0f ? two_byte_needs_pc_sync(b, i, n) : one_byte_needs_pc_sync(b, i, n, bits);
}

/*
 * CS loads (SDM Vol. 3A 5.8 "Privilege Level Checking When Transferring
 * Program Control"): far JMP/CALL/RET, IRET, INT n/INT3/INT1/INTO,
 * SYSCALL/SYSRET, SYSENTER/SYSEXIT and RSM. MOV and POP to CS do not exist.
 */
bool ucb_insn_changes_cs(const uint8_t *b, size_t n, uint32_t bits)
{
	struct prefixes p;
	size_t i = parse_prefixes(b, n, bits, &p);
	uint8_t reg = i + 1 < n ? (b[i + 1] >> 3) & 7 : 0;

	if (i >= n)
		return false;
	switch (b[i]) {
	case 0x9a: case 0xea:                       /* far CALL/JMP ptr16:xx */
	case 0xca: case 0xcb: case 0xcf:            /* far RET, IRET */
	case 0xcc: case 0xcd: case 0xce: case 0xf1: /* INT3, INT n, INTO, INT1 */
		return true;
	case 0xff: /* far CALL/JMP m16:xx */
		return i + 1 < n && (b[i + 1] >> 6) != 3 && (reg == 3 || reg == 5);
	case 0x0f:
		if (i + 1 >= n)
			return false;
		return b[i + 1] == 0x05 || b[i + 1] == 0x07 || b[i + 1] == 0x34 || b[i + 1] == 0x35 || b[i + 1] == 0xaa;
	default:
		return false;
	}
}

/*
 * Control transfers whose target the CS limit can refuse (SDM Vol. 3A 5.3 "Limit Checking": a JMP, CALL, RET or
 * IRET to an EIP beyond the limit raises #GP(0) and has no effect) where 16-bit arithmetic cannot keep the target
 * inside a 64 KiB limit: near ones with a 32-bit operand size in 16-bit code (gcc -m16 code calls and returns this
 * way), and far ones outside 64-bit code (a new CS brings its own limit). 2.0.1 checks no code limit at all.
 */
bool ucb_insn_checks_cs_limit(const uint8_t *b, size_t n, uint32_t bits)
{
	struct prefixes p;
	size_t i = parse_prefixes(b, n, bits, &p);
	uint8_t reg = i + 1 < n ? (b[i + 1] >> 3) & 7 : 0;
	bool o32_in_16 = bits == 16 && p.opsize;

	if (i >= n || bits == 64)
		return false;
	switch (b[i]) {
	case 0x9a: case 0xea: case 0xca: case 0xcb: case 0xcf: /* far CALL/JMP ptr16:xx, far RET, IRET */
		return true;
	case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
	case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f: /* Jcc rel8 */
	case 0xe0: case 0xe1: case 0xe2: case 0xe3: /* LOOPcc, JCXZ */
	case 0xe8: case 0xe9: case 0xeb:            /* CALL/JMP rel */
	case 0xc2: case 0xc3:                       /* near RET */
		return o32_in_16;
	case 0xff: /* CALL/JMP r/m (near), m16:xx (far) */
		if (reg == 3 || reg == 5)
			return i + 1 < n && (b[i + 1] >> 6) != 3;
		return o32_in_16 && (reg == 2 || reg == 4);
	case 0x0f: /* Jcc rel16/32 */
		return o32_in_16 && i + 1 < n && (b[i + 1] & 0xf0) == 0x80;
	default:
		return false;
	}
}

/* The site table keeps what the scanner decoded so a hook does not decode again. */
struct ucb_site *ucb_site_find(struct ucb_sites *t, uint64_t addr)
{
	if (!t->cap)
		return NULL;
	for (size_t i = ucb_mix(addr) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		if (!t->slots[i].used)
			return NULL;
		if (t->slots[i].addr == addr)
			return &t->slots[i];
	}
}

struct ucb_site *ucb_site_add(struct ucb_sites *t, uint64_t addr)
{
	if ((t->count + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct ucb_site *slots = calloc(cap, sizeof *slots);
		if (!slots)
			return NULL;
		for (size_t i = 0; i < t->cap; i++) {
			if (!t->slots[i].used)
				continue;
			size_t j = ucb_mix(t->slots[i].addr) & (cap - 1);
			while (slots[j].used)
				j = (j + 1) & (cap - 1);
			slots[j] = t->slots[i];
		}
		free(t->slots);
		t->slots = slots;
		t->cap = cap;
	}
	size_t i = ucb_mix(addr) & (t->cap - 1);
	while (t->slots[i].used)
		i = (i + 1) & (t->cap - 1);
	memset(&t->slots[i], 0, sizeof t->slots[i]);
	t->slots[i].used = true;
	t->slots[i].addr = addr;
	t->count++;
	return &t->slots[i];
}

/*
 * Hook sizes are unreliable for instructions 2.0.1 treats as invalid, so sites re-decode after remaps instead.
 * Kind-0 sites (PC sync, CS loads) are returned too: the hook needs their loads_cs.
 */
void ucb_site_set_code(struct ucb_site *s, const uint8_t *bytes, size_t len)
{
	s->code_len = (uint8_t)(len < sizeof s->code ? len : sizeof s->code);
	memset(s->code, 0, sizeof s->code); /* zero past code_len: check_rewritten compares all 8 bytes, masked */
	memcpy(s->code, bytes, s->code_len);
}

struct ucb_site *ucb_site_fresh(struct ucb_engine *eng, uint64_t addr)
{
	struct ucb_site *s = ucb_site_find(&eng->sites, addr);
	uint8_t bytes[16];
	size_t n = 0;

	if (!s)
		return NULL;
	if (s->gen != eng->applied_gen) {
		while (n < 15 && ucb_guest_read(eng, addr + n, bytes + n, 1))
			n++;
		ucb_classify(bytes, n, ucb_code_bits(eng), &s->insn);
		ucb_site_set_code(s, bytes, s->insn.len < n ? s->insn.len : n);
		s->gen = eng->applied_gen;
		s->mmio.valid = false; /* learnt again by the next NPF there (ucb_learn_mmio_site) */
	}
	return s;
}

const struct ucb_insn *ucb_site_insn(struct ucb_engine *eng, uint64_t addr)
{
	struct ucb_site *s = ucb_site_fresh(eng, addr);

	return s ? &s->insn : NULL;
}

/* The instruction's bytes: one read where it can (a page walk per call under guest paging), else byte by byte. */
static size_t read_insn_bytes(struct ucb_engine *eng, uint64_t lin, uint8_t *buf, size_t max)
{
	size_t n = 0;

	if (ucb_guest_read(eng, lin, buf, max))
		return max;
	while (n < max && ucb_guest_read(eng, lin + n, buf + n, 1))
		n++;
	return n;
}

uint8_t ucb_insn_len_at(struct ucb_vcpu *v, uint64_t rip)
{
	struct ucb_engine *eng = v->active;
	uint64_t lin = ucb_cs(eng)->base + rip;
	uint32_t bits = ucb_code_bits(eng);
	uint64_t shadow_gen = eng->shadow.unmaps + eng->shadow.flushes;
	/*
	 * An MMIO exit repeats at the same few instructions: remember their lengths (decoding every time was
	 * half of such an exit) until memory, paging or the code there changes.
	 */
	struct ucb_len_entry *e = &eng->len_cache[(lin ^ (lin >> 6)) % UCB_LEN_CACHE];
	if (e->used && e->lin == lin && e->bits == bits && e->applied_gen == eng->applied_gen &&
	    e->tlb_gen == v->tlb_gen && e->code_gen == eng->code_gen && e->shadow_gen == shadow_gen)
		return e->len;

	uint8_t buf[15];
	size_t n = read_insn_bytes(eng, lin, buf, sizeof buf);
	cs_insn *insn = NULL;
	uint8_t len = 0;
	if (!n)
		return 0;
	cs_option(v->cs, CS_OPT_MODE, bits == 64 ? CS_MODE_64 : bits == 32 ? CS_MODE_32 : CS_MODE_16);
	if (cs_disasm(v->cs, buf, n, lin, 1, &insn) == 1)
		len = (uint8_t)insn->size;
	if (insn)
		cs_free(insn, 1);
	if (len)
		*e = (struct ucb_len_entry){ lin, eng->applied_gen, v->tlb_gen, eng->code_gen, shadow_gen, bits, len, true };
	return len;
}

/* Capstone's names of a general register at 64, 32 and 16 bits, and 2.0.1's ids for a 64-bit and another engine. */
static const struct {
	x86_reg r64, r32, r16;
	int uc64, uc32;
} addr_regs[16] = {
	{ X86_REG_RAX, X86_REG_EAX, X86_REG_AX, UC_X86_REG_RAX, UC_X86_REG_EAX },
	{ X86_REG_RCX, X86_REG_ECX, X86_REG_CX, UC_X86_REG_RCX, UC_X86_REG_ECX },
	{ X86_REG_RDX, X86_REG_EDX, X86_REG_DX, UC_X86_REG_RDX, UC_X86_REG_EDX },
	{ X86_REG_RBX, X86_REG_EBX, X86_REG_BX, UC_X86_REG_RBX, UC_X86_REG_EBX },
	{ X86_REG_RSP, X86_REG_ESP, X86_REG_SP, UC_X86_REG_RSP, UC_X86_REG_ESP },
	{ X86_REG_RBP, X86_REG_EBP, X86_REG_BP, UC_X86_REG_RBP, UC_X86_REG_EBP },
	{ X86_REG_RSI, X86_REG_ESI, X86_REG_SI, UC_X86_REG_RSI, UC_X86_REG_ESI },
	{ X86_REG_RDI, X86_REG_EDI, X86_REG_DI, UC_X86_REG_RDI, UC_X86_REG_EDI },
	{ X86_REG_R8, X86_REG_R8D, X86_REG_R8W, UC_X86_REG_R8, -1 },
	{ X86_REG_R9, X86_REG_R9D, X86_REG_R9W, UC_X86_REG_R9, -1 },
	{ X86_REG_R10, X86_REG_R10D, X86_REG_R10W, UC_X86_REG_R10, -1 },
	{ X86_REG_R11, X86_REG_R11D, X86_REG_R11W, UC_X86_REG_R11, -1 },
	{ X86_REG_R12, X86_REG_R12D, X86_REG_R12W, UC_X86_REG_R12, -1 },
	{ X86_REG_R13, X86_REG_R13D, X86_REG_R13W, UC_X86_REG_R13, -1 },
	{ X86_REG_R14, X86_REG_R14D, X86_REG_R14W, UC_X86_REG_R14, -1 },
	{ X86_REG_R15, X86_REG_R15D, X86_REG_R15W, UC_X86_REG_R15, -1 },
};

/* The value of an address register (next_ip for RIP-relative addressing, 0 for none); false if it is none of these. */
static bool addr_reg_value(struct ucb_engine *eng, x86_reg reg, uint64_t next_ip, uint64_t *value)
{
	bool wide = eng->mode == UCB_LONG;

	*value = 0;
	if (reg == X86_REG_INVALID)
		return true;
	if (reg == X86_REG_RIP || reg == X86_REG_EIP || reg == X86_REG_IP) {
		*value = next_ip;
		return true;
	}
	for (size_t i = 0; i < sizeof addr_regs / sizeof addr_regs[0]; i++) {
		unsigned width = reg == addr_regs[i].r64 ? 64 : reg == addr_regs[i].r32 ? 32 : reg == addr_regs[i].r16 ? 16 : 0;
		int id = wide ? addr_regs[i].uc64 : addr_regs[i].uc32;
		if (!width)
			continue;
		if (id < 0 || (width == 64 && !wide))
			return false;
		uint64_t v = ucb_read_reg(eng, id);
		*value = width == 64 ? v : width == 32 ? (uint32_t)v : (uint16_t)v;
		return true;
	}
	return false;
}

/* ES ... GS as 0 ... 5, the default (SS for stack-based addresses, else DS) for none. */
static int addr_segment(x86_reg seg, x86_reg base)
{
	static const x86_reg segs[6] = { X86_REG_ES, X86_REG_CS, X86_REG_SS, X86_REG_DS, X86_REG_FS, X86_REG_GS };

	for (int i = 0; i < 6; i++)
		if (seg == segs[i])
			return i;
	bool stack = base == X86_REG_RSP || base == X86_REG_ESP || base == X86_REG_SP || base == X86_REG_RBP ||
	             base == X86_REG_EBP || base == X86_REG_BP;
	return stack ? 2 : 3;
}

bool ucb_insn_mem_linear(struct ucb_engine *eng, uint64_t rip, uint64_t *lin, uint8_t *len)
{
	struct ucb_vcpu *v = eng->vcpu;
	uint64_t at = ucb_cs(eng)->base + rip;
	uint32_t bits = ucb_code_bits(eng);
	uint8_t buf[15];
	size_t n = read_insn_bytes(eng, at, buf, sizeof buf);
	cs_insn *insn = NULL;
	bool ok = false;

	if (!n || !v->cs_ok)
		return false;
	cs_option(v->cs, CS_OPT_MODE, bits == 64 ? CS_MODE_64 : bits == 32 ? CS_MODE_32 : CS_MODE_16);
	cs_option(v->cs, CS_OPT_DETAIL, CS_OPT_ON);
	if (cs_disasm(v->cs, buf, n, at, 1, &insn) == 1) {
		const cs_x86 *x = &insn->detail->x86;
		for (uint8_t i = 0; i < x->op_count; i++) {
			const cs_x86_op *op = &x->operands[i];
			uint64_t base, index;
			if (op->type != X86_OP_MEM)
				continue;
			if (!addr_reg_value(eng, op->mem.base, rip + insn->size, &base) ||
			    !addr_reg_value(eng, op->mem.index, rip + insn->size, &index))
				break;
			uint64_t ea = base + index * (uint64_t)(int64_t)op->mem.scale + (uint64_t)op->mem.disp;
			if (x->addr_size == 4)
				ea = (uint32_t)ea;
			else if (x->addr_size == 2)
				ea = (uint16_t)ea;
			int seg = addr_segment(op->mem.segment, op->mem.base);
			/* 64-bit code: only FS and GS have a base (SDM Vol. 3A 3.4.4) */
			uint64_t seg_base = bits == 64 && seg != 4 && seg != 5 ? 0 : ucb_seg_base(eng, seg);
			*lin = bits == 64 ? seg_base + ea : (uint32_t)(seg_base + ea);
			*len = (uint8_t)insn->size;
			ok = true;
			break;
		}
	}
	if (insn)
		cs_free(insn, 1);
	cs_option(v->cs, CS_OPT_DETAIL, CS_OPT_OFF);
	return ok;
}

/* A general register as its number 0-15 (and the shift of AH..BH); -1 for anything else (Capstone's ids). */
static int gpr_number(x86_reg reg, unsigned *width, uint8_t *shift)
{
	static const x86_reg low8[16] = { X86_REG_AL,   X86_REG_CL,   X86_REG_DL,   X86_REG_BL,   X86_REG_SPL,  X86_REG_BPL,
		                          X86_REG_SIL,  X86_REG_DIL,  X86_REG_R8B,  X86_REG_R9B,  X86_REG_R10B, X86_REG_R11B,
		                          X86_REG_R12B, X86_REG_R13B, X86_REG_R14B, X86_REG_R15B };
	static const x86_reg high8[4] = { X86_REG_AH, X86_REG_CH, X86_REG_DH, X86_REG_BH };

	*shift = 0;
	for (int i = 0; i < 16; i++) {
		*width = reg == addr_regs[i].r64 ? 64 : reg == addr_regs[i].r32 ? 32 : reg == addr_regs[i].r16 ? 16
		         : reg == low8[i] ? 8 : 0;
		if (*width)
			return i;
	}
	for (int i = 0; i < 4; i++)
		if (reg == high8[i]) {
			*width = 8;
			*shift = 8;
			return i;
		}
	return -1;
}

/*
 * Prefixes an MMIO site's decode can follow as 2.0.1 executes them: no segment override (2.0.1 adds the base of an
 * explicit ES/CS/SS/DS in 64-bit code, and FS/GS would need a context save per exit), no LOCK, and a REX only
 * right before the opcode (2.0.1 applies one a legacy prefix follows; Capstone, like the CPU, ignores it).
 */
static bool plain_prefixes(const uint8_t *b, size_t len)
{
	struct prefixes p;
	size_t opcode = parse_prefixes(b, len, 64, &p), rex_bytes = 0;

	for (size_t i = 0; i < opcode; i++)
		rex_bytes += (b[i] & 0xf0) == 0x40;
	return opcode < len && p.seg < 0 && !p.lock &&
	       (!rex_bytes || (rex_bytes == 1 && (b[opcode - 1] & 0xf0) == 0x40));
}

/*
 * Only the plain MOV forms (88/89/8A/8B/C6/C7 and A0-A3) in 64-bit code: their one memory access is the whole
 * effect besides the destination register, so the VMM's NPF handling of the stop path applies unchanged. Not one
 * that crosses a page: forgetting code goes by the page of an instruction's first byte (uc_shadow.c).
 */
bool ucb_mmio_decode(struct ucb_engine *eng, uint64_t lin, struct ucb_mmio_op *op)
{
	struct ucb_vcpu *v = eng->vcpu;
	uint8_t buf[15];
	cs_insn *insn = NULL;
	bool ok = false;

	memset(op, 0, sizeof *op);
	if (!v->cs_ok || eng->mode != UCB_LONG || ucb_code_bits(eng) != 64)
		return false;
	size_t n = read_insn_bytes(eng, lin, buf, sizeof buf);
	if (!n)
		return false;
	cs_option(v->cs, CS_OPT_MODE, CS_MODE_64);
	cs_option(v->cs, CS_OPT_DETAIL, CS_OPT_ON);
	if (cs_disasm(v->cs, buf, n, lin, 1, &insn) == 1 &&
	    (insn->id == X86_INS_MOV || insn->id == X86_INS_MOVABS /* Capstone's name of A0-A3 */)) {
		const cs_x86 *x = &insn->detail->x86;
		const cs_x86_op *mem = NULL, *other = NULL;
		for (uint8_t i = 0; i < x->op_count && x->op_count == 2; i++) {
			if (x->operands[i].type == X86_OP_MEM)
				mem = &x->operands[i];
			else
				other = &x->operands[i];
		}
		unsigned width = 0, iw = 0;
		uint8_t shift = 0, ishift = 0;
		int base = UCB_MMIO_NONE, index = UCB_MMIO_NONE;
		bool plain = plain_prefixes(insn->bytes, insn->size) &&
		                 (lin & (UCB_PAGE - 1)) + insn->size <= UCB_PAGE;
		if (mem && mem->mem.base == X86_REG_RIP)
			base = UCB_MMIO_RIP;
		else if (mem && mem->mem.base != X86_REG_INVALID)
			base = gpr_number(mem->mem.base, &width, &shift);
		bool base_ok = mem && (base == UCB_MMIO_RIP || mem->mem.base == X86_REG_INVALID ||
		                       (base >= 0 && width == x->addr_size * 8u));
		if (mem && mem->mem.index != X86_REG_INVALID)
			index = gpr_number(mem->mem.index, &iw, &ishift);
		bool index_ok = mem && (mem->mem.index == X86_REG_INVALID || (index >= 0 && iw == x->addr_size * 8u));
		bool size_ok = mem && (mem->size == 1 || mem->size == 2 || mem->size == 4 || mem->size == 8);
		if (mem && other && plain && base_ok && index_ok && size_ok && (x->addr_size == 4 || x->addr_size == 8)) {
			op->write = mem == &x->operands[0];
			op->size = mem->size;
			op->len = (uint8_t)insn->size;
			op->addr_size = x->addr_size;
			op->base = (int8_t)base;
			op->index = (int8_t)index;
			op->scale = (uint8_t)mem->mem.scale;
			op->disp = mem->mem.disp;
			op->src = UCB_MMIO_NONE;
			if (other->type == X86_OP_REG) {
				int r = gpr_number(other->reg, &width, &shift);
				ok = r >= 0 && width == mem->size * 8u;
				op->src = (int8_t)r;
				op->src_shift = shift;
			} else {
				ok = other->type == X86_OP_IMM && op->write;
				op->imm = (uint64_t)other->imm;
			}
		}
	}
	if (insn)
		cs_free(insn, 1);
	cs_option(v->cs, CS_OPT_DETAIL, CS_OPT_OFF);
	op->valid = ok;
	return ok;
}
