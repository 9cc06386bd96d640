/* tools/vmsim/run_vmm_devices.c - the default VMM's stand-in devices: port I/O, unbacked memory, the MSR file;
 * guest memory and registers as the devices see them, instructions decoded with Capstone. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <vmsim/x86.h>

#include "run_vmm_internal.h"

/* ---- guest memory as the VMM sees it (guest-physical, or linear through the guest's page tables) ---- */

/* Host pointer for [gpa, gpa+len) if RAM or ROM backs all of it. */
uint8_t *vmm_guest_ptr(struct vmm *vmm, uint64_t gpa, uint64_t len)
{
	if (gpa + len < gpa)
		return NULL;
	if (vmm->rom.ptr) {
		/* with --bios the firmware alias, not RAM, sits below 1 MiB: look there first */
		uint64_t alias = vmm->rom.num_bytes < BIOS_ALIAS ? vmm->rom.num_bytes : BIOS_ALIAS;
		if (gpa >= MIB - alias && gpa + len <= MIB)
			return (uint8_t *)vmm->rom.ptr + vmm->rom.num_bytes - (MIB - gpa);
		if (gpa >= LOW_MEM_END && gpa < MIB)
			return NULL; /* the hole between low RAM and the alias */
		if (gpa >= vmm->rom_base && gpa + len <= vmm->rom_base + vmm->rom.num_bytes)
			return (uint8_t *)vmm->rom.ptr + (gpa - vmm->rom_base);
	}
	if (gpa + len <= vmm->ram.num_bytes && gpa < vmm->cfg->mem)
		return (uint8_t *)vmm->ram.ptr + gpa;
	return NULL;
}

static bool read_phys(void *ctx, uint64_t gpa, void *dst, size_t len)
{
	const uint8_t *p = vmm_guest_ptr(ctx, gpa, len);
	if (p)
		memcpy(dst, p, len);
	return p != NULL;
}

/*
 * Host pointer for the linear [lin, lin+len) within one page: through the guest's page tables when CR0.PG is set
 * (vmsim_x86_walk, supervisor access, A/D untouched as a VMM's own lookup), else lin is the guest-physical address.
 * NULL if the walk faults or nothing backs it. The exit must carry the control group (CR0/CR3/CR4/EFER).
 */
static uint8_t *linear_ptr(struct vmm *vmm, const struct vmsim_vcpu_state *st, uint64_t lin, uint64_t len)
{
	uint64_t gpa = lin;
	if (st->cr0.value & (1ull << 31)) {
		uint32_t ec;
		if ((lin & (PAGE - 1)) + len > PAGE ||
		    vmsim_x86_walk(st->cr0.value, st->cr3.value, st->cr4.value, st->efer.value, lin, 0, read_phys, vmm,
		                   &gpa, &ec) != VMSIM_X86_WALK_OK)
			return NULL;
	}
	return vmm_guest_ptr(vmm, gpa, len);
}

/* ---- registers by Capstone id ------------------------------------------------------------ */

struct gpr_ref {
	struct vmsim_vcpu_state *st;
	struct vmsim_reg *reg;
	unsigned width; /* bytes */
	unsigned shift; /* 8 for AH/CH/DH/BH */
};

static bool gpr_of(struct vmsim_vcpu_state *st, unsigned id, struct gpr_ref *out)
{
	static const struct {
		unsigned id;
		size_t off;
		unsigned width, shift;
	} table[] = {
#define F(r) offsetof(struct vmsim_vcpu_state, r)
		{ X86_REG_AL, F(ax), 1, 0 }, { X86_REG_AH, F(ax), 1, 8 }, { X86_REG_AX, F(ax), 2, 0 },
		{ X86_REG_EAX, F(ax), 4, 0 }, { X86_REG_RAX, F(ax), 8, 0 },
		{ X86_REG_CL, F(cx), 1, 0 }, { X86_REG_CH, F(cx), 1, 8 }, { X86_REG_CX, F(cx), 2, 0 },
		{ X86_REG_ECX, F(cx), 4, 0 }, { X86_REG_RCX, F(cx), 8, 0 },
		{ X86_REG_DL, F(dx), 1, 0 }, { X86_REG_DH, F(dx), 1, 8 }, { X86_REG_DX, F(dx), 2, 0 },
		{ X86_REG_EDX, F(dx), 4, 0 }, { X86_REG_RDX, F(dx), 8, 0 },
		{ X86_REG_BL, F(bx), 1, 0 }, { X86_REG_BH, F(bx), 1, 8 }, { X86_REG_BX, F(bx), 2, 0 },
		{ X86_REG_EBX, F(bx), 4, 0 }, { X86_REG_RBX, F(bx), 8, 0 },
		{ X86_REG_SI, F(si), 2, 0 }, { X86_REG_ESI, F(si), 4, 0 }, { X86_REG_RSI, F(si), 8, 0 },
		{ X86_REG_DI, F(di), 2, 0 }, { X86_REG_EDI, F(di), 4, 0 }, { X86_REG_RDI, F(di), 8, 0 },
		{ X86_REG_BP, F(bp), 2, 0 }, { X86_REG_EBP, F(bp), 4, 0 }, { X86_REG_RBP, F(bp), 8, 0 },
		{ X86_REG_R8, F(r8), 8, 0 }, { X86_REG_R8D, F(r8), 4, 0 }, { X86_REG_R9, F(r9), 8, 0 },
		{ X86_REG_R9D, F(r9), 4, 0 }, { X86_REG_R10, F(r10), 8, 0 }, { X86_REG_R10D, F(r10), 4, 0 },
		{ X86_REG_R11, F(r11), 8, 0 }, { X86_REG_R11D, F(r11), 4, 0 },
#undef F
	};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (table[i].id == id) {
			*out = (struct gpr_ref){ st, (struct vmsim_reg *)((char *)st + table[i].off), table[i].width,
				                 table[i].shift };
			return true;
		}
	return false;
}

/* Write value into a register as x86 does: 32-bit writes zero-extend, 8/16-bit ones merge. */
static void gpr_write(struct gpr_ref ref, uint64_t value)
{
	uint64_t old = ref.reg->value, v;
	if (ref.width == 8 || ref.width == 4) {
		v = ref.width == 4 ? (uint32_t)value : value;
	} else {
		uint64_t mask = (ref.width == 2 ? 0xffffull : 0xffull) << ref.shift;
		v = (old & ~mask) | ((value << ref.shift) & mask);
	}
	ref.reg->value = v;
	ref.st->charged |= vmsim_vcpu_state_bit(ref.st, ref.reg);
}

static uint64_t ones(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* ---- instruction decode (Capstone) ------------------------------------------------------- */

static csh decoder_for(struct vmm *vmm, const struct vmsim_vcpu_state *st)
{
	if (!(st->cr0.value & 1))
		return vmm->cs[0];
	if (st->cs.value.ar & (1u << 9)) /* L */
		return vmm->cs[2];
	return (st->cs.value.ar & (1u << 10)) ? vmm->cs[1] : vmm->cs[0];
}

/* Decode the instruction at cs:ip; NULL if its bytes are not in RAM/ROM. Free with cs_free(insn, 1). */
cs_insn *vmm_decode_at(struct vmm *vmm, const struct vmsim_vcpu_state *st)
{
	uint64_t linear = st->cs.value.base + st->ip.value;
	uint8_t code[15];
	size_t have = 0;
	/* page by page (each translated on its own), as far as memory backs it: an instruction may end short of 15 */
	while (have < sizeof code) {
		uint64_t at = linear + have, chunk = PAGE - (at & (PAGE - 1));
		if (chunk > sizeof code - have)
			chunk = sizeof code - have;
		const uint8_t *p = linear_ptr(vmm, st, at, chunk);
		if (!p) {
			while (chunk > 1 && !(p = linear_ptr(vmm, st, at, --chunk)))
				;
			if (!p)
				break;
		}
		memcpy(code + have, p, chunk);
		have += chunk;
		if ((at + chunk) & (PAGE - 1))
			break; /* stopped short of the page's end: nothing more backs it */
	}
	cs_insn *insn = NULL;
	if (have && cs_disasm(decoder_for(vmm, st), code, have, linear, 1, &insn) == 1)
		return insn;
	return NULL;
}

/* ---- devices --------------------------------------------------------------------------- */

static bool is_console(const struct vmm *vmm, uint16_t port)
{
	for (unsigned i = 0; i < vmm->cfg->console_count; i++)
		if (vmm->cfg->consoles[i] == port)
			return true;
	return false;
}

enum { CONSOLE_READBACK = 0xe9 }; /* what QEMU's isa-debugcon (and Bochs's port 0xe9) reads back */

/* IN of one element: a console port reads back 0xe9, the PIT, PICs and CMOS answer theirs (a wider access reads the
 * ports above too), anything else floats high. */
static uint32_t port_in(struct vmm *vmm, uint16_t port, unsigned size)
{
	uint32_t value = 0;
	uint64_t now = vmm_now(vmm);
	for (unsigned i = 0; i < size; i++) {
		uint16_t at = (uint16_t)(port + i);
		uint8_t byte;
		if (is_console(vmm, at))
			byte = CONSOLE_READBACK; /* firmware probes its debug port so (SeaBIOS's qemu_debug_preinit) */
		else if (!vmm_pc_in(&vmm->pc, at, now, &byte))
			byte = 0xff;
		value |= (uint32_t)byte << (8 * i);
	}
	return value;
}

/* OUT of one element: console bytes to stdout, the exit port ends the run. False: the run ends. */
static bool port_out(struct vmm *vmm, uint16_t port, unsigned size, uint32_t value)
{
	uint64_t now = vmm_now(vmm);
	for (unsigned i = 0; i < size; i++)
		(void)vmm_pc_out(&vmm->pc, (uint16_t)(port + i), (uint8_t)(value >> (8 * i)), now);
	if (port == vmm->cfg->exit_port) {
		vmm_finish(vmm, RUN_STATUS_GUEST(value & 0xff));
		return false;
	}
	if (is_console(vmm, port)) {
		bool ok = true;
		for (unsigned i = 0; i < size && ok; i++)
			ok = fputc((int)((value >> (8 * i)) & 0xff), vmm->cfg->out) != EOF;
		if (!ok || fflush(vmm->cfg->out) != 0) {
			int err = errno;
			fprintf(vmm->cfg->err, "vmsim run: cannot write the console output: %s\n", strerror(err));
			vmm_finish(vmm, RUN_STATUS_OUTPUT);
			return false;
		}
	}
	return true; /* anything else is ignored */
}

/* The base of the segment an exit names (0 = ES .. 5 = GS, the SVM/VMX numbering). */
static uint64_t segment_base(const struct vmsim_vcpu_state *st, unsigned seg)
{
	const struct vmsim_seg_reg *segs[] = { &st->es, &st->cs, &st->ss, &st->ds, &st->fs, &st->gs };
	return segs[seg < 6 ? seg : 3]->value.base;
}

/* INS/OUTS emulated as a VMM on hardware must (the exit comes before it runs), at most STRING_IO_CHUNK elements
 * per exit: *more is set when REP elements remain, the ip stays and the instruction exits again for them. */
static bool string_io(struct vmm *vmm, const struct vmsim_exit *ex, struct vmsim_vcpu_state *st, bool *more)
{
	uint64_t amask = ex->u.io.addr_size >= 8 ? ~0ull : ex->u.io.addr_size == 4 ? 0xffffffffull : 0xffffull;
	uint64_t remaining = ex->u.io.rep ? (st->cx.value & amask) : 1;
	uint64_t count = remaining > STRING_IO_CHUNK ? STRING_IO_CHUNK : remaining;
	*more = remaining > count;
	int64_t step = (st->flags.value & (1u << 10)) ? -(int64_t)ex->u.io.size : (int64_t)ex->u.io.size;
	struct vmsim_reg *index = ex->u.io.in ? &st->di : &st->si;
	uint64_t index_bit = ex->u.io.in ? VMSIM_CHARGED(di) : VMSIM_CHARGED(si);
	/* INS always writes through ES; OUTS reads through DS or its override */
	uint64_t base = ex->u.io.in ? st->es.value.base : segment_base(st, ex->u.io.seg);

	for (uint64_t i = 0; i < count; i++) {
		uint64_t off = index->value & amask;
		uint8_t *p = linear_ptr(vmm, st, base + off, ex->u.io.size);
		if (ex->u.io.in) {
			uint32_t value = port_in(vmm, ex->u.io.port, ex->u.io.size);
			if (p)
				memcpy(p, &value, ex->u.io.size);
		} else {
			uint32_t value = 0;
			if (p)
				memcpy(&value, p, ex->u.io.size);
			else
				value = (uint32_t)ones(ex->u.io.size);
			if (!port_out(vmm, ex->u.io.port, ex->u.io.size, value))
				return false;
		}
		index->value = (index->value & ~amask) | ((off + (uint64_t)step) & amask);
		st->charged |= index_bit;
	}
	if (ex->u.io.rep)
		vmsim_charge(st, cx, (st->cx.value & ~amask) | (remaining - count));
	return true;
}

bool vmm_handle_io(struct vmm *vmm, const struct vmsim_exit *ex, struct vmsim_vcpu_state *st)
{
	if (ex->u.io.string) {
		bool more = false;
		if (!string_io(vmm, ex, st, &more))
			return false;
		if (more)
			return true; /* the ip stays: the rest of the REP is the next exit's, after the budget checks */
	} else if (ex->u.io.in) {
		struct gpr_ref ax = { st, &st->ax, ex->u.io.size, 0 };
		gpr_write(ax, port_in(vmm, ex->u.io.port, ex->u.io.size));
	} else if (!port_out(vmm, ex->u.io.port, ex->u.io.size, ex->u.io.value)) {
		return false;
	}
	vmsim_charge(st, ip, ex->rip + ex->insn_len);
	return true;
}

/* Unbacked memory: reads float high, writes are dropped; a fetch from there ends the run. */
bool vmm_handle_npf(struct vmm *vmm, const struct vmsim_exit *ex, struct vmsim_vcpu_state *st)
{
	if (ex->u.npf.access == VMSIM_ACCESS_FETCH) {
		fprintf(vmm->cfg->err, "vmsim run: the guest executes unbacked memory at gpa 0x%" PRIx64 " (ip 0x%" PRIx64
		        ")\n", ex->u.npf.gpa, ex->rip);
		vmm_finish(vmm, RUN_STATUS_GUEST_FAULT);
		return false;
	}
	cs_insn *insn = vmm_decode_at(vmm, st);
	if (!insn) {
		fprintf(vmm->cfg->err, "vmsim run: cannot decode the instruction at ip 0x%" PRIx64 " touching gpa 0x%" PRIx64
		        "\n", ex->rip, ex->u.npf.gpa);
		vmm_finish(vmm, RUN_STATUS_GUEST_FAULT);
		return false;
	}
	bool ok = true;
	if (ex->u.npf.access == VMSIM_ACCESS_READ) {
		cs_x86 *x86 = &insn->detail->x86;
		struct gpr_ref dst;
		unsigned size = ex->u.npf.decoded ? ex->u.npf.size : 0;
		if (x86->op_count >= 2 && x86->operands[0].type == X86_OP_REG && x86->operands[1].type == X86_OP_MEM &&
		    gpr_of(st, x86->operands[0].reg, &dst)) {
			if (!size)
				size = x86->operands[1].size;
			uint64_t value = ones(size);
			if (insn->id == X86_INS_MOVSX || insn->id == X86_INS_MOVSXD)
				value = ~0ull; /* all-ones sign-extends to all-ones */
			gpr_write(dst, value);
		} else if (!(x86->op_count >= 1 && x86->operands[0].type == X86_OP_MEM)) {
			fprintf(vmm->cfg->err, "vmsim run: unsupported MMIO read by '%s %s' at ip 0x%" PRIx64 "\n",
			        insn->mnemonic, insn->op_str, ex->rip);
			ok = false;
		}
		/* a read-modify-write to MMIO (op0 is memory) reads ones and writes back: dropped */
	}
	uint64_t len = ex->insn_len ? ex->insn_len : insn->size;
	cs_free(insn, 1);
	if (!ok) {
		vmm_finish(vmm, RUN_STATUS_GUEST_FAULT);
		return false;
	}
	vmsim_charge(st, ip, ex->rip + len);
	return true;
}

void vmm_skip(const struct vmsim_exit *ex, struct vmsim_vcpu_state *st, uint64_t fallback_len)
{
	vmsim_charge(st, ip, ex->rip + (ex->insn_len ? ex->insn_len : fallback_len));
}

/* ---- the MSR file ---------------------------------------------------------------------------- */

enum { MSR_PAT = 0x277, MSR_EFER = 0xc0000080, MSR_FS_BASE = 0xc0000100, MSR_GS_BASE = 0xc0000101 };

/*
 * MSRs whose value is CPU state (SDM vol. 4, table 2-2; APM vol. 2, 3.1.7 for EFER): a WRMSR is written through
 * to the vCPU and a RDMSR answered from it, so a guest can enable long mode, SYSCALL or SYSENTER itself.
 * MSR exits transfer every group (see run_vcpu), so the values here are current. Others read as 0, except
 * PAT (a register file entry, power-on value 0x0007040600070406); writes to them are dropped.
 */
static struct vmsim_reg *msr_reg(struct vmsim_vcpu_state *st, uint32_t index)
{
	switch (index) {
	case 0x174: return &st->sysenter_cs;
	case 0x175: return &st->sysenter_sp;
	case 0x176: return &st->sysenter_ip;
	case MSR_EFER: return &st->efer;
	case 0xc0000081: return &st->star;
	case 0xc0000082: return &st->lstar;
	case 0xc0000083: return &st->cstar;
	case 0xc0000084: return &st->fmask;
	case 0xc0000102: return &st->kernel_gs_base;
	case 0xc0000103: return &st->tsc_aux;
	default: return NULL;
	}
}

void vmm_msr_access(struct vmm *vmm, struct vmsim_vcpu_state *st, bool write)
{
	uint32_t index = (uint32_t)st->cx.value;
	uint64_t value = (st->dx.value << 32) | (uint32_t)st->ax.value;
	struct vmsim_reg *reg = msr_reg(st, index);
	struct vmsim_seg_reg *seg = index == MSR_FS_BASE ? &st->fs : index == MSR_GS_BASE ? &st->gs : NULL;

	if (write) {
		if (reg) {
			/* LMA is the CPU's to set (APM 3.1.7): keep what it is now */
			if (index == MSR_EFER)
				value = (value & ~0x400ull) | (st->efer.value & 0x400);
			reg->value = value;
			st->charged |= vmsim_vcpu_state_bit(st, reg);
		} else if (seg) {
			struct vmsim_segment s = seg->value;
			s.base = value;
			seg->value = s;
			st->charged |= vmsim_vcpu_state_bit(st, seg);
		} else if (index == MSR_PAT) {
			vmm->msr_pat = value;
		}
		return;
	}
	value = reg ? reg->value : seg ? seg->value.base : index == MSR_PAT ? vmm->msr_pat : 0;
	vmsim_charge(st, ax, (uint32_t)value);
	vmsim_charge(st, dx, value >> 32);
}
