/* uc_flags.c - recovering the arithmetic flags 2.0.1 leaves stale when a data access faults mid-block. */
#include <string.h>

#include "uc_internal.h"

/*
 * QEMU keeps the flags lazily: CC_DST/CC_SRC are stored before a memory access
 * can fault, but the operation that produced them (cc_op) only at block ends.
 * After a fault 2.0.1 exits without restoring cc_op, so EFLAGS is computed with
 * the wrong operation. Decoding the block up to the fault tells which
 * operation set the flags last; QEMU 5.0's CCOp numbering follows.
 */
enum { CC_EFLAGS = 1, CC_MUL = 2, CC_ADD = 6, CC_ADC = 10, CC_SUB = 14, CC_SBB = 18, CC_LOGIC = 22,
       CC_INC = 26, CC_DEC = 30, CC_SHL = 34, CC_SAR = 38, CC_CLR = 49 };

/* Capstone bits for "writes an arithmetic flag" (modify, reset, set, undefined). */
#define ARITH_WRITE                                                                            \
	(0x3full | (1ull << 21) | (1ull << 22) | (1ull << 25) | (1ull << 26) | (1ull << 29) |     \
	 (1ull << 30) | (0x3full << 40) | (1ull << 51) | (0x1full << 52))

static int size_index(uint8_t bytes)
{
	return bytes == 1 ? 0 : bytes == 2 ? 1 : bytes == 4 ? 2 : bytes == 8 ? 3 : -1;
}

/* cc_op after insn; 0 = QEMU stored it itself (variable shifts); -1 = not modelled. */
static int cc_op_after(const cs_insn *insn)
{
	const cs_x86 *x = &insn->detail->x86;
	int size = x->op_count ? size_index(x->operands[0].size) : -1;
	int base;

	switch (insn->id) {
	case X86_INS_ADD: base = CC_ADD; break;
	case X86_INS_ADC: base = CC_ADC; break;
	case X86_INS_SUB: case X86_INS_CMP: case X86_INS_NEG: base = CC_SUB; break;
	case X86_INS_SBB: base = CC_SBB; break;
	case X86_INS_AND: case X86_INS_OR: case X86_INS_TEST: base = CC_LOGIC; break;
	case X86_INS_XOR:
		if (x->op_count == 2 && x->operands[0].type == X86_OP_REG && x->operands[1].type == X86_OP_REG &&
		    x->operands[0].reg == x->operands[1].reg)
			return CC_CLR;
		base = CC_LOGIC;
		break;
	case X86_INS_INC: base = CC_INC; break;
	case X86_INS_DEC: base = CC_DEC; break;
	case X86_INS_MUL: case X86_INS_IMUL: base = CC_MUL; break;
	case X86_INS_SHL: case X86_INS_SAL: case X86_INS_SHR: case X86_INS_SAR:
		if (x->op_count == 2 && x->operands[1].type == X86_OP_REG)
			return 0;
		base = insn->id == X86_INS_SHL || insn->id == X86_INS_SAL ? CC_SHL : CC_SAR;
		break;
	case X86_INS_POPF: case X86_INS_POPFD: case X86_INS_POPFQ: case X86_INS_SAHF:
	case X86_INS_STC: case X86_INS_CLC: case X86_INS_CMC:
		return CC_EFLAGS;
	default:
		return -1;
	}
	return size < 0 ? -1 : base + size;
}

/*
 * Set the engine's cc_op to what the instructions from block (linear) up to the
 * faulting one at fault (linear) left. True when the engine's lazy flags are
 * exact now: nothing ran before the fault in this block (QEMU syncs cc_op at
 * block ends), nothing there wrote flags, QEMU stored cc_op itself, or it was
 * fixed here. False when the operation is not modelled or the block unreadable.
 */
bool ucb_fix_fault_flags(struct ucb_engine *eng, uint64_t block, uint64_t fault)
{
	struct ucb_vcpu *v = eng->vcpu;
	uint8_t buf[4096];
	int last = 0;
	bool found = false;

	if (fault == block)
		return true;
	if (fault < block || fault - block > sizeof buf || !ucb_guest_read(eng, block, buf, fault - block))
		return false;
	uint32_t bits = ucb_code_bits(eng);
	cs_option(v->cs, CS_OPT_MODE, bits == 64 ? CS_MODE_64 : bits == 32 ? CS_MODE_32 : CS_MODE_16);
	cs_option(v->cs, CS_OPT_DETAIL, CS_OPT_ON);
	cs_insn *insn = cs_malloc(v->cs);
	const uint8_t *code = buf;
	size_t left = fault - block;
	uint64_t at = block;
	while (insn && left && cs_disasm_iter(v->cs, &code, &left, &at, insn)) {
		if (insn->detail->x86.eflags & ARITH_WRITE) {
			last = cc_op_after(insn);
			found = true;
		}
	}
	if (insn)
		cs_free(insn, 1);
	cs_option(v->cs, CS_OPT_DETAIL, CS_OPT_OFF);
	if (!found || last == 0)
		return true;
	if (last < 0)
		return false;
	uint8_t *env;
	if (!ucb_ctx_load(eng, &env))
		return false;
	uint32_t op = (uint32_t)last;
	memcpy(env + UCB_ENV_CC_OP, &op, 4);
	return ucb_ctx_store(eng);
}
