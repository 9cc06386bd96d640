/* kvm_decode.c - finding the instruction of an exit KVM already retired (capstone); code size (vmsim/x86.h). */
#include <string.h>
#include <sys/ioctl.h>

#include <capstone/capstone.h>

#include "kvm_internal.h"

unsigned kvmb_code_bits(const struct kvm_sregs *sr)
{
	return vmsim_x86_code_bits(sr->cr0, sr->efer, sr->cs.l, sr->cs.db);
}

static int gpr_of(unsigned reg, unsigned *bytes);

/* What a candidate for the instruction KVM retired does: 0 no memory write of size bytes, 1 such a write, 2 such a
 * write whose address (from the registers after it) is the exit's. */
enum { NO_WRITE, WRITES, WRITES_THERE };

/* The linear address of a memory operand, from the registers as the instruction left them (next = its end). */
static bool operand_linear(const cs_x86 *x, const cs_x86_op *op, const struct kvm_regs *r, const struct kvm_sregs *sr,
                           unsigned bits, uint64_t next, uint64_t *lin)
{
	const __u64 *gpr = &r->rax;
	uint64_t base = 0, index = 0;
	unsigned width = 0;
	int i;

	if (op->mem.base == X86_REG_RIP || op->mem.base == X86_REG_EIP) {
		base = next;
	} else if (op->mem.base != X86_REG_INVALID) {
		if ((i = gpr_of(op->mem.base, &width)) < 0)
			return false;
		base = gpr[i];
	}
	if (op->mem.index != X86_REG_INVALID) {
		if ((i = gpr_of(op->mem.index, &width)) < 0)
			return false;
		index = gpr[i];
	}
	uint64_t ea = base + index * (uint64_t)(int64_t)op->mem.scale + (uint64_t)op->mem.disp;
	ea = x->addr_size == 8 ? ea : x->addr_size == 4 ? (uint32_t)ea : (uint16_t)ea;
	bool stack = op->mem.base == X86_REG_RSP || op->mem.base == X86_REG_ESP || op->mem.base == X86_REG_SP ||
	             op->mem.base == X86_REG_RBP || op->mem.base == X86_REG_EBP || op->mem.base == X86_REG_BP;
	const struct kvm_segment *seg = op->mem.segment == X86_REG_FS ? &sr->fs : op->mem.segment == X86_REG_GS ? &sr->gs
	                                : op->mem.segment == X86_REG_ES ? &sr->es : op->mem.segment == X86_REG_CS ? &sr->cs
	                                : op->mem.segment == X86_REG_SS || (op->mem.segment == X86_REG_INVALID && stack)
	                                        ? &sr->ss : &sr->ds;
	/* 64-bit code: only FS and GS have a base (SDM Vol. 3A 3.4.4) */
	uint64_t seg_base = bits == 64 && seg != &sr->fs && seg != &sr->gs ? 0 : seg->base;
	*lin = bits == 64 ? seg_base + ea : (uint32_t)(seg_base + ea);
	return true;
}

/* Is one instruction of exactly len bytes at b, ending at linear `next`, a write of size bytes (at gpa)? */
static int writes_memory(struct kvmb_vcpu *v, csh h, const uint8_t *b, size_t len, unsigned size,
                         const struct kvm_regs *r, const struct kvm_sregs *sr, unsigned bits, uint64_t gpa)
{
	cs_insn *insn = NULL;
	int found = NO_WRITE;

	if (cs_disasm(h, b, len, 0, 1, &insn) != 1)
		return NO_WRITE;
	if (insn->size == len && insn->detail) {
		const cs_x86 *x = &insn->detail->x86;
		for (unsigned i = 0; i < x->op_count && found != WRITES_THERE; i++) {
			const cs_x86_op *op = &x->operands[i];
			uint64_t lin, at;
			if (op->type != X86_OP_MEM || op->size != size || !(op->access & CS_AC_WRITE))
				continue;
			found = WRITES;
			if (operand_linear(x, op, r, sr, bits, r->rip, &lin) && kvmb_translate(v, lin, &at) && at == gpa)
				found = WRITES_THERE;
		}
	}
	cs_free(insn, 1);
	return found;
}

/* The vCPU's capstone handle for a code size, opened on first use (cs_open allocates: not once per exit). */
static bool handle_for(struct kvmb_vcpu *v, unsigned bits, csh *h)
{
	unsigned i = bits == 64 ? 2 : bits == 32 ? 1 : 0;

	if (!v->cs_handle[i]) {
		csh n;
		cs_mode mode = bits == 64 ? CS_MODE_64 : bits == 32 ? CS_MODE_32 : CS_MODE_16;
		if (cs_open(CS_ARCH_X86, mode, &n) != CS_ERR_OK)
			return false;
		cs_option(n, CS_OPT_DETAIL, CS_OPT_ON);
		v->cs_handle[i] = n;
	}
	*h = v->cs_handle[i];
	return true;
}

void kvmb_decode_fini(struct kvmb_vcpu *v)
{
	for (unsigned i = 0; i < 3; i++)
		if (v->cs_handle[i]) {
			csh h = v->cs_handle[i];
			cs_close(&h);
			v->cs_handle[i] = 0;
		}
}

/*
 * KVM's emulator completes an MMIO write (RIP already past it) before it exits. The instruction ends at RIP and
 * writes `size` bytes; several byte runs ending there may decode so (`00 89 47 08 88 27` is an ADD to [rcx+..]
 * as well as `88 27`, MOV [rdi], AH, after other code). The longest whose operand, computed from the registers
 * as it left them, translates to the exit's gpa is it; if none does (an instruction that moved its own address
 * register, as STOS), the longest that writes `size` bytes, since a stray prefix-like byte before an instruction
 * can only lengthen it. A per-vCPU cache keyed by the linear RIP remembers the answer together with the 15 bytes
 * before RIP: a hit needs those bytes unchanged (code may change).
 */
uint8_t kvmb_mmio_write_origin(struct kvmb_vcpu *v, const struct kvm_regs *r, unsigned size, uint64_t gpa)
{
	struct kvm_sregs sr;
	uint8_t b[32], window[15];
	csh h;
	uint8_t found = 0, longest = 0;

	if (!kvmb_get_sregs(v, &sr))
		return 0;
	unsigned bits = kvmb_code_bits(&sr);
	uint64_t end = sr.cs.base + r->rip;
	bool have_window = (r->rip >= 15 || bits == 64) && kvmb_read_linear(v, end - 15, window, 15);
	struct kvmb_decode_entry *e = &v->decode_cache[(end ^ (end >> 7)) % KVMB_DECODE_CACHE];
	if (have_window && e->len && e->end == end && e->bits == bits && e->size == size &&
	    !memcmp(e->bytes, window, 15))
		return e->len;
	if (!handle_for(v, bits, &h))
		return 0;
	for (unsigned k = 15; k >= 1 && !found; k--) {
		if (r->rip < k && bits != 64)
			continue;
		if (have_window)
			memcpy(b, window + 15 - k, k);
		else if (!kvmb_read_linear(v, end - k, b, k))
			continue;
		int w = writes_memory(v, h, b, k, size, r, &sr, bits, gpa);
		if (w == WRITES_THERE)
			found = (uint8_t)k;
		else if (w == WRITES && !longest)
			longest = (uint8_t)k;
	}
	if (!found)
		found = longest;
	if (have_window && found) {
		*e = (struct kvmb_decode_entry){ end, (uint8_t)bits, (uint8_t)size, found, { 0 } };
		memcpy(e->bytes, window, 15);
	}
	return found;
}

/* The GPR (index into struct kvm_regs, rax..r15 order) a capstone register names, and its width; -1 for
 * AH/BH/CH/DH and non-GPRs (their bytes are not the low ones, so a plain feed cannot express them). */
static int gpr_of(unsigned reg, unsigned *bytes)
{
	static const unsigned names[16][4] = {
		{ X86_REG_AL, X86_REG_AX, X86_REG_EAX, X86_REG_RAX },     { X86_REG_BL, X86_REG_BX, X86_REG_EBX, X86_REG_RBX },
		{ X86_REG_CL, X86_REG_CX, X86_REG_ECX, X86_REG_RCX },     { X86_REG_DL, X86_REG_DX, X86_REG_EDX, X86_REG_RDX },
		{ X86_REG_SIL, X86_REG_SI, X86_REG_ESI, X86_REG_RSI },    { X86_REG_DIL, X86_REG_DI, X86_REG_EDI, X86_REG_RDI },
		{ X86_REG_SPL, X86_REG_SP, X86_REG_ESP, X86_REG_RSP },    { X86_REG_BPL, X86_REG_BP, X86_REG_EBP, X86_REG_RBP },
		{ X86_REG_R8B, X86_REG_R8W, X86_REG_R8D, X86_REG_R8 },    { X86_REG_R9B, X86_REG_R9W, X86_REG_R9D, X86_REG_R9 },
		{ X86_REG_R10B, X86_REG_R10W, X86_REG_R10D, X86_REG_R10 }, { X86_REG_R11B, X86_REG_R11W, X86_REG_R11D, X86_REG_R11 },
		{ X86_REG_R12B, X86_REG_R12W, X86_REG_R12D, X86_REG_R12 }, { X86_REG_R13B, X86_REG_R13W, X86_REG_R13D, X86_REG_R13 },
		{ X86_REG_R14B, X86_REG_R14W, X86_REG_R14D, X86_REG_R14 }, { X86_REG_R15B, X86_REG_R15W, X86_REG_R15D, X86_REG_R15 },
	};
	/* struct kvm_regs order: rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8..r15 (linux/kvm.h) */
	for (int i = 0; i < 16; i++)
		for (unsigned w = 0; w < 4; w++)
			if (names[i][w] == reg) {
				*bytes = 1u << w;
				return i;
			}
	return -1;
}

/*
 * An MMIO read at RIP that KVM's completion can take the VMM's value for: a plain
 * MOV from memory into a GPR of the access's size (8A/8B, A0/A1). Anything else
 * (MOVZX, arithmetic, AH..DH, string moves) keeps the completion-run path.
 */
bool kvmb_mmio_read_plain(struct kvmb_vcpu *v, const struct kvm_regs *r, unsigned size, struct kvmb_mmio_mov *out)
{
	struct kvm_sregs sr;
	uint8_t b[15];
	cs_insn *insn = NULL;
	csh h;
	bool ok = false;

	if (!kvmb_get_sregs(v, &sr))
		return false;
	unsigned bits = kvmb_code_bits(&sr);
	if (!kvmb_read_linear(v, sr.cs.base + r->rip, b, sizeof b) || !handle_for(v, bits, &h))
		return false;
	if (cs_disasm(h, b, sizeof b, 0, 1, &insn) != 1)
		return false;
	const cs_x86 *x = insn->detail ? &insn->detail->x86 : NULL;
	unsigned bytes = 0;
	if (x && insn->id == X86_INS_MOV && x->op_count == 2 && x->operands[0].type == X86_OP_REG &&
	    x->operands[1].type == X86_OP_MEM && x->operands[1].size == size) {
		int gpr = gpr_of(x->operands[0].reg, &bytes);
		if (gpr >= 0 && bytes == size) {
			out->gpr = (uint8_t)gpr;
			out->size = (uint8_t)size;
			out->len = insn->size;
			ok = true;
		}
	}
	cs_free(insn, 1);
	return ok;
}

/* A general register's value as capstone names it (its width's bits; RIP/EIP as the next instruction's). */
static bool reg_value(const struct kvm_regs *r, x86_reg reg, uint64_t next_rip, uint64_t *out)
{
	unsigned bytes = 0;
	if (reg == X86_REG_INVALID) {
		*out = 0;
		return true;
	}
	if (reg == X86_REG_RIP || reg == X86_REG_EIP) {
		*out = next_rip;
		return true;
	}
	int gpr = gpr_of(reg, &bytes);
	if (gpr < 0)
		return false;
	uint64_t value;
	memcpy(&value, (const uint8_t *)r + (size_t)gpr * sizeof(uint64_t), sizeof value); /* rax..r15 lead kvm_regs */
	*out = bytes == 8 ? value : value & ((1ull << (8 * bytes)) - 1);
	return true;
}

static uint64_t seg_base(const struct kvm_sregs *sr, x86_reg seg, x86_reg base, unsigned bits)
{
	if (seg == X86_REG_FS)
		return sr->fs.base;
	if (seg == X86_REG_GS)
		return sr->gs.base;
	if (bits == 64)
		return 0; /* CS/DS/ES/SS bases are ignored in 64-bit mode */
	if (seg == X86_REG_ES)
		return sr->es.base;
	if (seg == X86_REG_CS)
		return sr->cs.base;
	if (seg == X86_REG_SS || (seg == X86_REG_INVALID && (base == X86_REG_ESP || base == X86_REG_EBP ||
	                                                      base == X86_REG_SP || base == X86_REG_BP)))
		return sr->ss.base;
	return sr->ds.base;
}

unsigned kvmb_mem_operands(struct kvmb_vcpu *v, const struct kvm_regs *r, const struct kvm_sregs *sr, uint64_t gla[2])
{
	unsigned bits = kvmb_code_bits(sr), n = 0;
	uint8_t b[15];
	size_t len = 0;
	cs_insn *insn = NULL;
	csh h;

	if (kvmb_read_linear(v, sr->cs.base + r->rip, b, sizeof b))
		len = sizeof b; /* one walk per page; byte by byte only where the 15 bytes reach unbacked memory */
	else
		while (len < sizeof b && kvmb_read_linear(v, sr->cs.base + r->rip + len, b + len, 1))
			len++;
	if (!len || !handle_for(v, bits, &h) || cs_disasm(h, b, len, r->rip, 1, &insn) != 1)
		return 0;
	const cs_x86 *x = insn->detail ? &insn->detail->x86 : NULL;
	for (unsigned i = 0; x && i < x->op_count && n < 2; i++) {
		const cs_x86_op *op = &x->operands[i];
		uint64_t base, index;
		if (op->type != X86_OP_MEM ||
		    !reg_value(r, op->mem.base, r->rip + insn->size, &base) ||
		    !reg_value(r, op->mem.index, r->rip + insn->size, &index))
			continue;
		uint64_t ea = base + index * (uint64_t)op->mem.scale + (uint64_t)op->mem.disp;
		if (x->addr_size == 4)
			ea = (uint32_t)ea;
		else if (x->addr_size == 2)
			ea = (uint16_t)ea;
		ea += seg_base(sr, op->mem.segment, op->mem.base, bits);
		gla[n++] = bits == 64 ? ea : (uint32_t)ea;
	}
	cs_free(insn, 1);
	return n;
}
