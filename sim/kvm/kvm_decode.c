/* kvm_decode.c - decoding the port-I/O instruction at an exit (KVM reports the access, not the instruction). */
#include <string.h>
#include <sys/ioctl.h>

#include <capstone/capstone.h>

#include "kvm_internal.h"

unsigned kvmb_code_bits(const struct kvm_sregs *sr)
{
	if (!(sr->cr0 & 1))
		return 16;
	if ((sr->efer & (1u << 10)) && sr->cs.l)
		return 64;
	return sr->cs.db ? 32 : 16;
}

/* Legacy prefixes and REX (SDM 2.1.1, 2.2.1), then one of E4-E7, EC-EF, 6C-6F. */
bool kvmb_decode_io(const uint8_t *b, size_t n, unsigned code_bits, struct kvmb_io_insn *out)
{
	bool opsize = false, addrsize = false;
	size_t i = 0;

	memset(out, 0, sizeof *out);
	out->seg = 3; /* DS */
	for (; i < n && i < 15; i++) {
		uint8_t p = b[i];
		if (p == 0x66)
			opsize = true;
		else if (p == 0x67)
			addrsize = true;
		else if (p == 0xf3 || p == 0xf2)
			out->rep = true;
		else if (p == 0x26)
			out->seg = 0;
		else if (p == 0x2e)
			out->seg = 1;
		else if (p == 0x36)
			out->seg = 2;
		else if (p == 0x3e)
			out->seg = 3;
		else if (p == 0x64)
			out->seg = 4;
		else if (p == 0x65)
			out->seg = 5;
		else if (p == 0xf0)
			continue;
		else if (code_bits == 64 && (p & 0xf0) == 0x40)
			continue; /* REX: no effect on I/O operand sizes */
		else
			break;
	}
	if (i >= n)
		return false;
	uint8_t op = b[i++];
	unsigned wide = code_bits == 16 ? (opsize ? 4 : 2) : (opsize ? 2 : 4);
	switch (op) {
	case 0xe4: case 0xe5: case 0xe6: case 0xe7:
		if (i >= n)
			return false;
		i++;
		out->imm = true;
		break;
	case 0xec: case 0xed: case 0xee: case 0xef:
		break;
	case 0x6c: case 0x6d: case 0x6e: case 0x6f:
		out->string = true;
		break;
	default:
		return false;
	}
	if (op >= 0xe4)
		out->in = (op & 0x02) == 0;
	else
		out->in = op <= 0x6d;
	out->size = (uint8_t)((op & 1) ? wide : 1);
	out->addr_size = (uint8_t)(code_bits == 64 ? (addrsize ? 4 : 8)
	                           : code_bits == 32 ? (addrsize ? 2 : 4) : (addrsize ? 4 : 2));
	if (!out->string) {
		out->rep = false;
		out->seg = 3;
	} else if (out->in) {
		out->seg = 0; /* INS always stores through ES (SDM "INS") */
	}
	out->len = (uint8_t)i;
	return true;
}

/* Does one instruction of exactly len bytes at b write memory with an operand of size bytes? */
static bool writes_memory(csh h, const uint8_t *b, size_t n, size_t len, unsigned size)
{
	cs_insn *insn = NULL;
	bool hit = false;

	if (cs_disasm(h, b, n, 0, 1, &insn) != 1)
		return false;
	if (insn->size == len && insn->detail) {
		const cs_x86 *x = &insn->detail->x86;
		for (unsigned i = 0; i < x->op_count && !hit; i++)
			hit = x->operands[i].type == X86_OP_MEM && x->operands[i].size == size &&
			      (x->operands[i].access & CS_AC_WRITE);
	}
	cs_free(insn, 1);
	return hit;
}

/*
 * KVM's emulator completes an MMIO write (RIP already past it) before it exits.
 * The instruction is the longest one that ends at RIP and writes `size` bytes:
 * a stray prefix-like byte before it can only lengthen it, never move its end.
 */
uint8_t kvmb_mmio_write_origin(struct kvmb_vcpu *v, const struct kvm_regs *r, unsigned size)
{
	struct kvm_sregs sr;
	uint8_t b[32];
	csh h;
	uint8_t found = 0;

	if (ioctl(v->fd, KVM_GET_SREGS, &sr) < 0)
		return 0;
	unsigned bits = kvmb_code_bits(&sr);
	cs_mode mode = bits == 64 ? CS_MODE_64 : bits == 32 ? CS_MODE_32 : CS_MODE_16;
	if (cs_open(CS_ARCH_X86, mode, &h) != CS_ERR_OK)
		return 0;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	for (unsigned k = 15; k >= 1 && !found; k--) {
		if (r->rip < k && bits != 64)
			continue;
		if (!kvmb_read_linear(v, sr.cs.base + r->rip - k, b, k))
			continue;
		if (writes_memory(h, b, k, k, size))
			found = (uint8_t)k;
	}
	cs_close(&h);
	return found;
}
