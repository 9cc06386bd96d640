/* core/x86/x86_decode.c - decoding port-I/O instructions and the code size (pure; api/include/vmsim/x86.h). */
#include <string.h>

#include <vmsim/x86.h>

unsigned vmsim_x86_code_bits(uint64_t cr0, uint64_t efer, bool cs_l, bool cs_db)
{
	if (!(cr0 & 1))
		return 16; /* real mode (SDM Vol. 3A 20.1) */
	if ((efer & (1u << 10)) && cs_l)
		return 64; /* EFER.LMA with CS.L: 64-bit mode (SDM Vol. 3A 5.2.1) */
	return cs_db ? 32 : 16;
}

/* Legacy prefixes and REX (SDM Vol. 2A 2.1.1, 2.2.1), then one of E4-E7, EC-EF, 6C-6F. */
bool vmsim_x86_decode_io(const uint8_t *b, size_t n, unsigned code_bits, struct vmsim_x86_io *out)
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
	if (i >= n || i >= 15)
		return false;
	uint8_t op = b[i++];
	unsigned wide = code_bits == 16 ? (opsize ? 4 : 2) : (opsize ? 2 : 4);
	switch (op) {
	case 0xe4: case 0xe5: case 0xe6: case 0xe7:
		if (i >= n)
			return false;
		out->port = b[i++];
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

unsigned vmsim_x86_io_ending_at(const uint8_t *b, size_t n, unsigned code_bits, bool in, unsigned size, uint16_t port,
                                uint16_t dx, struct vmsim_x86_io *out)
{
	size_t max = n < 15 ? n : 15;

	/* IN/OUT: a stray prefix-like byte before it would only fake a longer one, so the shortest fits */
	for (size_t k = 1; k <= max; k++)
		if (vmsim_x86_decode_io(b + n - k, k, code_bits, out) && out->len == k && !out->string && out->in == in &&
		    out->size == size && (out->imm ? out->port == port : dx == port))
			return (unsigned)k;
	/* INS/OUTS: REP, segment and address-size prefixes are part of it, so the longest fits */
	for (size_t k = max; k >= 1; k--)
		if (vmsim_x86_decode_io(b + n - k, k, code_bits, out) && out->len == k && out->string && out->in == in &&
		    out->size == size)
			return (unsigned)k;
	return 0;
}
