/* tools/vmsim/run_vmm.c - the embedded default VMM: builds RAM/ROM, starts one vCPU, emulates stand-in devices. */
#include <capstone/capstone.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "run_vmm.h"

enum {
	PAGE = 4096,
	BIOS_ALIAS = 128 * 1024,
	LOW_MEM_END = 0xe0000,     /* RAM below the firmware alias */
	MIB = 1024 * 1024,
	TABLE_PAGES = 7,           /* long mode: PML4, PDPT, 4 PDs (4 GiB of 2 MiB pages), GDT */
	STRING_IO_CHUNK = 4096,    /* REP INS/OUTS elements per exit; the rest re-executes (a new exit) */
	RECALL_INTERVAL_MS = 50    /* after the timeout: how often the timer recalls a vCPU not yet stopped */
};

struct vmm {
	const struct run_config *cfg;
	struct vmsim_env *env;
	struct vmsim_session *session;
	struct vmsim_vcpu *vcpu;
	vmsim_ds_cap ram_ds, rom_ds;
	struct vmsim_local_attachment ram, rom;
	uint64_t rom_base;          /* guest-physical start of the ROM (bios) */
	csh cs[3];                  /* capstone handles: 16, 32, 64 bit */
	uint64_t seq;
	uint64_t msr_pat;           /* the one MSR kept here rather than in the vCPU */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool finished;              /* under lock */
	bool timed_out;             /* under lock */
	int status;
};

/* ---- guest memory as the VMM sees it (identity paging or none) ------------------------- */

/* Host pointer for [gpa, gpa+len) if RAM or ROM backs all of it. */
static uint8_t *guest_ptr(struct vmm *vmm, uint64_t gpa, uint64_t len)
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

static void finish(struct vmm *vmm, int status)
{
	pthread_mutex_lock(&vmm->lock);
	if (!vmm->finished) {
		vmm->finished = true;
		vmm->status = status;
	}
	pthread_cond_broadcast(&vmm->cond);
	pthread_mutex_unlock(&vmm->lock);
}

/* ---- registers by Capstone id ------------------------------------------------------------ */

struct gpr_ref {
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
			*out = (struct gpr_ref){ (struct vmsim_reg *)((char *)st + table[i].off), table[i].width,
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
	vmsim_reg_charge(ref.reg, v);
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
static cs_insn *decode_at(struct vmm *vmm, const struct vmsim_vcpu_state *st)
{
	uint64_t linear = st->cs.value.base + st->ip.value;
	for (unsigned len = 15; len > 0; len--) {
		const uint8_t *code = guest_ptr(vmm, linear, len);
		if (!code)
			continue;
		cs_insn *insn = NULL;
		if (cs_disasm(decoder_for(vmm, st), code, len, linear, 1, &insn) == 1)
			return insn;
		return NULL;
	}
	return NULL;
}

/* ---- trace ----------------------------------------------------------------------------------- */

/* One JSON line for the exit; false (the run ends with RUN_STATUS_OUTPUT) once the trace cannot be written. */
static bool trace(struct vmm *vmm, const struct vmsim_exit *ex, const struct vmsim_vcpu_state *st)
{
	FILE *f = vmm->cfg->trace;
	const char *kind = vmsim_exit_kind_name(ex->kind);
	if (ex->kind == VMSIM_EXIT_NPF && ex->u.npf.decoded && ex->u.npf.access != VMSIM_ACCESS_FETCH)
		kind = "mmio";
	fprintf(f, "{\"vcpu\":0,\"seq\":%" PRIu64 ",\"exit\":%u,\"kind\":\"%s\",\"ip\":%" PRIu64, vmm->seq,
	        st->exit_reason, kind, ex->rip);
	if (ex->kind == VMSIM_EXIT_IO)
		fprintf(f, ",\"port\":%u,\"size\":%u,\"dir\":\"%s\",\"value\":%" PRIu32 ",\"string\":%s,\"rep\":%s",
		        ex->u.io.port, ex->u.io.size, ex->u.io.in ? "in" : "out", ex->u.io.value,
		        ex->u.io.string ? "true" : "false", ex->u.io.rep ? "true" : "false");
	if (ex->kind == VMSIM_EXIT_NPF)
		fprintf(f, ",\"gpa\":%" PRIu64 ",\"size\":%u,\"write\":%s,\"fetch\":%s", ex->u.npf.gpa, ex->u.npf.size,
		        ex->u.npf.access == VMSIM_ACCESS_WRITE ? "true" : "false",
		        ex->u.npf.access == VMSIM_ACCESS_FETCH ? "true" : "false");
	if (ex->kind == VMSIM_EXIT_CPUID)
		fprintf(f, ",\"leaf\":%" PRIu32 ",\"subleaf\":%" PRIu32, ex->u.cpuid.leaf, ex->u.cpuid.subleaf);
	if (ex->kind == VMSIM_EXIT_MSR)
		fprintf(f, ",\"msr\":%" PRIu32 ",\"write\":%s", ex->u.msr.index, ex->u.msr.write ? "true" : "false");
	if (vmm->cfg->disasm && ex->kind != VMSIM_EXIT_STARTUP) {
		cs_insn *insn = decode_at(vmm, st);
		if (insn) {
			fprintf(f, ",\"insn\":\"%s%s%s\"", insn->mnemonic, insn->op_str[0] ? " " : "", insn->op_str);
			cs_free(insn, 1);
		}
	}
	if (fputs("}\n", f) == EOF || ferror(f)) {
		int err = errno;
		fprintf(vmm->cfg->err, "vmsim run: cannot write the trace: %s\n", strerror(err));
		finish(vmm, RUN_STATUS_OUTPUT);
		return false;
	}
	return true;
}

/* ---- devices --------------------------------------------------------------------------- */

static bool is_console(const struct vmm *vmm, uint16_t port)
{
	for (unsigned i = 0; i < vmm->cfg->console_count; i++)
		if (vmm->cfg->consoles[i] == port)
			return true;
	return false;
}

/* OUT of one element: console bytes to stdout, the exit port ends the run. False: the run ends. */
static bool port_out(struct vmm *vmm, uint16_t port, unsigned size, uint32_t value)
{
	if (port == vmm->cfg->exit_port) {
		finish(vmm, RUN_STATUS_GUEST(value & 0xff));
		return false;
	}
	if (is_console(vmm, port)) {
		bool ok = true;
		for (unsigned i = 0; i < size && ok; i++)
			ok = fputc((int)((value >> (8 * i)) & 0xff), vmm->cfg->out) != EOF;
		if (!ok || fflush(vmm->cfg->out) != 0) {
			int err = errno;
			fprintf(vmm->cfg->err, "vmsim run: cannot write the console output: %s\n", strerror(err));
			finish(vmm, RUN_STATUS_OUTPUT);
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
	/* INS always writes through ES; OUTS reads through DS or its override */
	uint64_t base = ex->u.io.in ? st->es.value.base : segment_base(st, ex->u.io.seg);

	for (uint64_t i = 0; i < count; i++) {
		uint64_t off = index->value & amask;
		uint8_t *p = guest_ptr(vmm, base + off, ex->u.io.size);
		if (ex->u.io.in) {
			if (p)
				memset(p, 0xff, ex->u.io.size);
		} else {
			uint32_t value = 0;
			if (p)
				memcpy(&value, p, ex->u.io.size);
			else
				value = (uint32_t)ones(ex->u.io.size);
			if (!port_out(vmm, ex->u.io.port, ex->u.io.size, value))
				return false;
		}
		vmsim_reg_charge(index, (index->value & ~amask) | ((off + (uint64_t)step) & amask));
	}
	if (ex->u.io.rep)
		vmsim_reg_charge(&st->cx, (st->cx.value & ~amask) | (remaining - count));
	return true;
}

static bool handle_io(struct vmm *vmm, const struct vmsim_exit *ex, struct vmsim_vcpu_state *st)
{
	if (ex->u.io.string) {
		bool more = false;
		if (!string_io(vmm, ex, st, &more))
			return false;
		if (more)
			return true; /* the ip stays: the rest of the REP is the next exit's, after the budget checks */
	} else if (ex->u.io.in) {
		struct gpr_ref ax = { &st->ax, ex->u.io.size, 0 };
		gpr_write(ax, ones(ex->u.io.size)); /* nothing answers: the bus floats high */
	} else if (!port_out(vmm, ex->u.io.port, ex->u.io.size, ex->u.io.value)) {
		return false;
	}
	vmsim_reg_charge(&st->ip, ex->rip + ex->insn_len);
	return true;
}

/* Unbacked memory: reads float high, writes are dropped; a fetch from there ends the run. */
static bool handle_npf(struct vmm *vmm, const struct vmsim_exit *ex, struct vmsim_vcpu_state *st)
{
	if (ex->u.npf.access == VMSIM_ACCESS_FETCH) {
		fprintf(vmm->cfg->err, "vmsim run: the guest executes unbacked memory at gpa 0x%" PRIx64 " (ip 0x%" PRIx64
		        ")\n", ex->u.npf.gpa, ex->rip);
		finish(vmm, RUN_STATUS_GUEST_FAULT);
		return false;
	}
	cs_insn *insn = decode_at(vmm, st);
	if (!insn) {
		fprintf(vmm->cfg->err, "vmsim run: cannot decode the instruction at ip 0x%" PRIx64 " touching gpa 0x%" PRIx64
		        "\n", ex->rip, ex->u.npf.gpa);
		finish(vmm, RUN_STATUS_GUEST_FAULT);
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
		finish(vmm, RUN_STATUS_GUEST_FAULT);
		return false;
	}
	vmsim_reg_charge(&st->ip, ex->rip + len);
	return true;
}

static void skip(const struct vmsim_exit *ex, struct vmsim_vcpu_state *st, uint64_t fallback_len)
{
	vmsim_reg_charge(&st->ip, ex->rip + (ex->insn_len ? ex->insn_len : fallback_len));
}

/* ---- the vCPU's start state per mode ------------------------------------------------------ */

static uint64_t gdt_gpa(const struct vmm *vmm)
{
	return vmm->cfg->mem - PAGE;
}

static uint64_t pml4_gpa(const struct vmm *vmm)
{
	return vmm->cfg->mem - TABLE_PAGES * PAGE;
}

/* Identity-map the first 4 GiB with 2 MiB pages, and a flat GDT, at the top of RAM. */
static void build_tables(struct vmm *vmm)
{
	uint64_t *gdt = (uint64_t *)guest_ptr(vmm, gdt_gpa(vmm), PAGE);
	gdt[0] = 0;
	gdt[1] = vmm->cfg->mode == RUN_MODE_LONG ? 0x00af9a000000ffffull : 0x00cf9a000000ffffull; /* code */
	gdt[2] = 0x00cf92000000ffffull; /* data */
	if (vmm->cfg->mode != RUN_MODE_LONG)
		return;
	uint64_t pml4 = pml4_gpa(vmm), pdpt = pml4 + PAGE, pd = pdpt + PAGE;
	uint64_t *p = (uint64_t *)guest_ptr(vmm, pml4, 6 * PAGE);
	memset(p, 0, 6 * PAGE);
	p[0] = pdpt | 3;
	for (unsigned i = 0; i < 4; i++)
		p[512 + i] = (pd + i * PAGE) | 3;
	for (unsigned i = 0; i < 4 * 512; i++)
		p[1024 + i] = ((uint64_t)i << 21) | 0x83; /* present, writeable, 2 MiB */
}

static void start_state(struct vmm *vmm, struct vmsim_vcpu_state *st)
{
	const struct run_config *cfg = vmm->cfg;
	enum vmsim_model model = vmsim_session_model(vmm->session);
	uint32_t intercepts = VMSIM_INTERCEPT_HLT | VMSIM_INTERCEPT_RDTSCP | VMSIM_INTERCEPT_UNRESTRICTED_GUEST;
	uint64_t primary = 0, secondary = 0;
	vmsim_model_encode_controls(model, intercepts, &primary, &secondary);
	vmsim_reg_charge(&st->ctrl_primary, primary);
	vmsim_reg_charge(&st->ctrl_secondary, secondary);
	vmsim_reg_charge(&st->flags, 2);
	vmsim_seg_charge(&st->tr, (struct vmsim_segment){ 0, 0x8b, 0xffff, 0 });
	vmsim_seg_charge(&st->ldtr, (struct vmsim_segment){ 0, 0x1000, 0xffff, 0 });

	if (cfg->bios || cfg->mode == RUN_MODE_REAL) {
		struct vmsim_segment data = { 0, 0x93, 0xffff, 0 };
		struct vmsim_segment code = { 0xf000, 0x9b, 0xffff, 0xffff0000 }; /* the x86 reset state */
		uint64_t ip = 0xfff0;
		if (!cfg->bios) {
			code = (struct vmsim_segment){ (uint16_t)((cfg->entry & ~0xffffull) >> 4), 0x9b, 0xffff,
				                       cfg->entry & ~0xffffull };
			ip = cfg->entry & 0xffff;
		}
		vmsim_reg_charge(&st->cr0, 0x10);
		vmsim_seg_charge(&st->cs, code);
		vmsim_reg_charge(&st->ip, ip);
		vmsim_seg_charge(&st->ds, data);
		vmsim_seg_charge(&st->es, data);
		vmsim_seg_charge(&st->ss, data);
		vmsim_seg_charge(&st->fs, data);
		vmsim_seg_charge(&st->gs, data);
		vmsim_dtable_charge(&st->gdtr, (struct vmsim_dtable){ 0xffff, 0 });
		vmsim_dtable_charge(&st->idtr, (struct vmsim_dtable){ 0x3ff, 0 });
		vmsim_reg_charge(&st->sp, 0x7000);
		return;
	}
	bool lm = cfg->mode == RUN_MODE_LONG;
	struct vmsim_segment code = { 0x08, lm ? 0xa9b : 0xc9b, 0xffffffff, 0 };
	struct vmsim_segment data = { 0x10, 0xc93, 0xffffffff, 0 };
	vmsim_seg_charge(&st->cs, code);
	vmsim_seg_charge(&st->ds, data);
	vmsim_seg_charge(&st->es, data);
	vmsim_seg_charge(&st->ss, data);
	vmsim_seg_charge(&st->fs, data);
	vmsim_seg_charge(&st->gs, data);
	vmsim_dtable_charge(&st->gdtr, (struct vmsim_dtable){ 3 * 8 - 1, gdt_gpa(vmm) });
	vmsim_dtable_charge(&st->idtr, (struct vmsim_dtable){ 0, 0 });
	vmsim_reg_charge(&st->cr0, lm ? 0x80000011 : 0x11);
	vmsim_reg_charge(&st->cr3, lm ? pml4_gpa(vmm) : 0);
	vmsim_reg_charge(&st->cr4, lm ? 0x20 : 0);
	vmsim_reg_charge(&st->efer, lm ? 0x500 : 0);
	vmsim_reg_charge(&st->ip, cfg->entry);
	vmsim_reg_charge(&st->sp, pml4_gpa(vmm) & ~0xfull);
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

static void msr_access(struct vmm *vmm, struct vmsim_vcpu_state *st, bool write)
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
			vmsim_reg_charge(reg, value);
		} else if (seg) {
			struct vmsim_segment s = seg->value;
			s.base = value;
			vmsim_seg_charge(seg, s);
		} else if (index == MSR_PAT) {
			vmm->msr_pat = value;
		}
		return;
	}
	value = reg ? reg->value : seg ? seg->value.base : index == MSR_PAT ? vmm->msr_pat : 0;
	vmsim_reg_charge(&st->ax, (uint32_t)value);
	vmsim_reg_charge(&st->dx, value >> 32);
}

/* ---- the handler -------------------------------------------------------------------------- */

struct exit_ctx {
	struct vmm *vmm;
	struct vmsim_vcpu *vcpu;
};

static bool on_exit_state(void *ctx, struct vmsim_vcpu_state *st)
{
	struct vmm *vmm = ((struct exit_ctx *)ctx)->vmm;
	const struct run_config *cfg = vmm->cfg;
	struct vmsim_exit ex;
	vmsim_vcpu_last_exit(((struct exit_ctx *)ctx)->vcpu, &ex);

	pthread_mutex_lock(&vmm->lock);
	bool done = vmm->finished, timed_out = vmm->timed_out;
	pthread_mutex_unlock(&vmm->lock);
	if (done)
		return false;

	vmm->seq++;
	if (cfg->trace && !trace(vmm, &ex, st))
		return false;
	/* the budgets are checked on every exit: a recall may have been absorbed by an exit already pending */
	if (timed_out) {
		fprintf(cfg->err, "vmsim run: timed out after %.3g s (--timeout) at ip 0x%" PRIx64 "\n", cfg->timeout,
		        st->ip.value);
		finish(vmm, RUN_STATUS_TIMEOUT);
		return false;
	}
	if (cfg->max_exits && vmm->seq > cfg->max_exits) {
		fprintf(cfg->err, "vmsim run: stopped after %" PRIu64 " exits (--max-exits)\n", cfg->max_exits);
		finish(vmm, RUN_STATUS_TIMEOUT);
		return false;
	}

	/* the exit charged what it transferred: load back only what a handler below charges */
	vmsim_vcpu_state_discharge(st);

	switch (ex.kind) {
	case VMSIM_EXIT_STARTUP:
		start_state(vmm, st);
		return true;
	case VMSIM_EXIT_IO:
		return handle_io(vmm, &ex, st);
	case VMSIM_EXIT_NPF:
		return handle_npf(vmm, &ex, st);
	case VMSIM_EXIT_CPUID:
		/* a small, fixed answer: max leaf 1, vendor "vmsimvmsimvm", no features */
		vmsim_reg_charge(&st->ax, ex.u.cpuid.leaf == 0 ? 1 : 0);
		vmsim_reg_charge(&st->bx, ex.u.cpuid.leaf == 0 ? 0x69736d76 : 0);
		vmsim_reg_charge(&st->dx, ex.u.cpuid.leaf == 0 ? 0x736d766d : 0);
		vmsim_reg_charge(&st->cx, ex.u.cpuid.leaf == 0 ? 0x6d766d69 : 0);
		skip(&ex, st, 2);
		return true;
	case VMSIM_EXIT_RDTSC:
	case VMSIM_EXIT_RDTSCP: {
		/*
		 * One time base for the vCPU: what an RDTSC the vCPU runs itself reads (the host TSC plus the vCPU's
		 * TSC offset), so time never runs backwards between an intercepted and a native read.
		 */
		uint64_t tsc = __builtin_ia32_rdtsc() + st->tsc_offset.value;
		vmsim_reg_charge(&st->ax, (uint32_t)tsc);
		vmsim_reg_charge(&st->dx, tsc >> 32);
		if (ex.kind == VMSIM_EXIT_RDTSCP)
			vmsim_reg_charge(&st->cx, (uint32_t)st->tsc_aux.value); /* TSC_AUX, as the MSR file holds it */
		skip(&ex, st, ex.kind == VMSIM_EXIT_RDTSCP ? 3 : 2);
		return true;
	}
	case VMSIM_EXIT_MSR:
		msr_access(vmm, st, ex.u.msr.write);
		skip(&ex, st, 2);
		return true;
	case VMSIM_EXIT_VMCALL:
		skip(&ex, st, 3);
		return true;
	case VMSIM_EXIT_HLT:
		finish(vmm, 0);
		return false;
	case VMSIM_EXIT_PAUSED:
		return true; /* a recall before the timeout (none is made today): resume */
	case VMSIM_EXIT_SHUTDOWN:
		fprintf(cfg->err, "vmsim run: triple fault (shutdown) at ip 0x%" PRIx64 "\n", ex.rip);
		finish(vmm, RUN_STATUS_GUEST_FAULT);
		return false;
	case VMSIM_EXIT_INVALID_STATE:
		fprintf(cfg->err, "vmsim run: the vCPU refused its state (invalid guest state, reason %d) at ip 0x%"
		        PRIx64 "\n", (int)ex.u.invalid.reason, ex.rip);
		finish(vmm, RUN_STATUS_GUEST_FAULT);
		return false;
	default:
		fprintf(cfg->err, "vmsim run: unexpected '%s' exit (code %u) at ip 0x%" PRIx64 "\n",
		        vmsim_exit_kind_name(ex.kind), st->exit_reason, ex.rip);
		finish(vmm, RUN_STATUS_GUEST_FAULT);
		return false;
	}
}

static void handler(void *ctx, struct vmsim_vcpu *vcpu)
{
	struct exit_ctx ec = { ctx, vcpu };
	if (vmsim_vcpu_with_state(vcpu, on_exit_state, &ec) != VMSIM_OK)
		finish(ctx, RUN_STATUS_SETUP);
}

/* ---- building the VM ------------------------------------------------------------------------ */

static int setup_error(const struct run_config *cfg, const char *what, enum vmsim_result r)
{
	fprintf(cfg->err, "vmsim run: %s: %s (%s)\n", what, vmsim_result_name(r), vmsim_result_text(r));
	return RUN_STATUS_SETUP;
}

static enum vmsim_result attach(struct vmm *vmm, vmsim_ds_cap ds, uint64_t gpa, uint64_t offset, uint64_t size,
                                bool writeable)
{
	struct vmsim_attach_attr attr = { offset, size, true, writeable };
	struct vmsim_range range;
	return vmsim_session_attach(vmm->session, ds, gpa, &attr, &range);
}

static uint64_t page_round(uint64_t v)
{
	return (v + PAGE - 1) & ~(uint64_t)(PAGE - 1);
}

/* RAM at 0 (split around the firmware alias with --bios), the image, and for --bios the ROM. */
static int build_memory(struct vmm *vmm, const uint8_t *image, uint64_t image_size)
{
	const struct run_config *cfg = vmm->cfg;
	enum vmsim_result r;
	struct vmsim_local_attr whole = { 0, 0, true };

	if ((r = vmsim_ds_alloc(vmm->env, cfg->mem, &vmm->ram_ds)) != VMSIM_OK)
		return setup_error(cfg, "allocating guest RAM", r);
	if ((r = vmsim_local_attach(vmm->env, vmm->ram_ds, &whole, &vmm->ram)) != VMSIM_OK)
		return setup_error(cfg, "mapping guest RAM", r);

	if (!cfg->bios) {
		memcpy((uint8_t *)vmm->ram.ptr + cfg->load, image, image_size);
		if ((r = attach(vmm, vmm->ram_ds, 0, 0, 0, true)) != VMSIM_OK)
			return setup_error(cfg, "attaching guest RAM", r);
		if (cfg->mode != RUN_MODE_REAL)
			build_tables(vmm);
		return 0;
	}

	uint64_t rom_size = page_round(image_size);
	if ((r = vmsim_ds_alloc(vmm->env, rom_size, &vmm->rom_ds)) != VMSIM_OK)
		return setup_error(cfg, "allocating the firmware ROM", r);
	if ((r = vmsim_local_attach(vmm->env, vmm->rom_ds, &whole, &vmm->rom)) != VMSIM_OK)
		return setup_error(cfg, "mapping the firmware ROM", r);
	memcpy((uint8_t *)vmm->rom.ptr + rom_size - image_size, image, image_size); /* ends at 4 GiB */
	vmm->rom_base = 0x100000000ull - rom_size;
	uint64_t alias = rom_size < BIOS_ALIAS ? rom_size : BIOS_ALIAS;
	/*
	 * The firmware image is RAM, at the top of 4 GiB and aliased below 1 MiB, as on QEMU's microvm: without a
	 * chipset to unlock shadow RAM (SeaBIOS: "Unable to unlock ram - bridge not found") firmware writes its
	 * own data there.
	 */
	if ((r = attach(vmm, vmm->rom_ds, vmm->rom_base, 0, 0, true)) != VMSIM_OK ||
	    (r = attach(vmm, vmm->rom_ds, MIB - alias, rom_size - alias, alias, true)) != VMSIM_OK)
		return setup_error(cfg, "attaching the firmware ROM", r);
	uint64_t low = cfg->mem < LOW_MEM_END ? cfg->mem : LOW_MEM_END;
	if ((r = attach(vmm, vmm->ram_ds, 0, 0, low & ~(uint64_t)(PAGE - 1), true)) != VMSIM_OK)
		return setup_error(cfg, "attaching low RAM", r);
	if (cfg->mem > MIB && (r = attach(vmm, vmm->ram_ds, MIB, MIB, cfg->mem - MIB, true)) != VMSIM_OK)
		return setup_error(cfg, "attaching high RAM", r);
	return 0;
}

static int open_session(struct vmm *vmm)
{
	const struct run_config *cfg = vmm->cfg;
	/* session + one vCPU + a few attachments and the nested page tables covering mem and the ROM */
	uint64_t tables = (cfg->mem >> 21) + 64;
	struct vmsim_session_args args = {
		.ram_quota = VMSIM_COST_SESSION_RAM + VMSIM_COST_VCPU_RAM + 8 * VMSIM_COST_ATTACH_META_RAM +
		             tables * VMSIM_COST_PAGE_TABLE_RAM,
		.cap_quota = VMSIM_COST_SESSION_CAPS + VMSIM_COST_VCPU_CAPS + 8,
		.label = "vmsim run",
		.backend = cfg->backend,
		.model = cfg->model,
	};
	struct vmsim_env_config env_cfg = { .ram_pool = cfg->mem + (32ull << 20) + args.ram_quota };
	enum vmsim_result r = vmsim_env_create(&env_cfg, &vmm->env);
	if (r != VMSIM_OK)
		return setup_error(cfg, "creating the environment", r);
	if ((r = vmsim_register_builtin_backends(vmm->env)) != VMSIM_OK)
		return setup_error(cfg, "registering the built-in backends", r);
	if (!vmsim_env_backend(vmm->env, cfg->backend)) {
		fprintf(cfg->err, "vmsim run: unknown backend '%s'\n", cfg->backend);
		return RUN_STATUS_USAGE;
	}
	if ((r = vmsim_session_open(vmm->env, &args, &vmm->session)) != VMSIM_OK)
		return setup_error(cfg, "opening the VM session", r);
	return 0;
}

static void *timer_main(void *arg)
{
	struct vmm *vmm = arg;
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	double whole = (double)(time_t)vmm->cfg->timeout;
	deadline.tv_sec += (time_t)vmm->cfg->timeout;
	deadline.tv_nsec += (long)((vmm->cfg->timeout - whole) * 1e9);
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&vmm->lock);
	while (!vmm->finished) {
		if (pthread_cond_timedwait(&vmm->cond, &vmm->lock, &deadline) == ETIMEDOUT) {
			vmm->timed_out = true;
			break;
		}
	}
	/* Recall until the handler has seen timed_out: a recall that lands while the vCPU sits on a fresh exit is
	 * absorbed by that exit's with_state, and a guest that then spins without exits would never stop. */
	while (vmm->timed_out && !vmm->finished) {
		pthread_mutex_unlock(&vmm->lock);
		if (vmsim_vcpu_pause(vmm->vcpu) != VMSIM_OK) {
			finish(vmm, RUN_STATUS_TIMEOUT);
			return NULL;
		}
		pthread_mutex_lock(&vmm->lock);
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += RECALL_INTERVAL_MS * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		while (!vmm->finished && pthread_cond_timedwait(&vmm->cond, &vmm->lock, &deadline) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&vmm->lock);
	return NULL;
}

int run_vmm(const struct run_config *cfg, const uint8_t *image, uint64_t image_size)
{
	struct vmm vmm = { .cfg = cfg, .status = RUN_STATUS_SETUP, .msr_pat = 0x0007040600070406ull };
	pthread_mutex_init(&vmm.lock, NULL);
	pthread_cond_init(&vmm.cond, NULL);
	const cs_mode modes[3] = { CS_MODE_16, CS_MODE_32, CS_MODE_64 };
	for (unsigned i = 0; i < 3; i++) {
		if (cs_open(CS_ARCH_X86, modes[i], &vmm.cs[i]) != CS_ERR_OK) {
			fprintf(cfg->err, "vmsim run: cannot open the Capstone decoder\n");
			return RUN_STATUS_SETUP;
		}
		cs_option(vmm.cs[i], CS_OPT_DETAIL, CS_OPT_ON);
	}

	int status = open_session(&vmm);
	if (!status)
		status = build_memory(&vmm, image, image_size);
	pthread_t timer;
	bool timer_started = false;
	if (!status) {
		struct vmsim_exit_config fast;
		vmsim_exit_config_minimal(&fast);
		fast.groups[VMSIM_EXIT_STARTUP] = VMSIM_GROUP_ALL;
		fast.groups[VMSIM_EXIT_IO] = VMSIM_GROUP_GPR | VMSIM_GROUP_IP | VMSIM_GROUP_SEGMENTS;
		fast.groups[VMSIM_EXIT_NPF] = VMSIM_GROUP_GPR | VMSIM_GROUP_IP | VMSIM_GROUP_SEGMENTS | VMSIM_GROUP_CONTROL;
		fast.groups[VMSIM_EXIT_MSR] = VMSIM_GROUP_ALL; /* the MSR file reads and writes vCPU state */
		fast.groups[VMSIM_EXIT_RDTSC] = fast.groups[VMSIM_EXIT_RDTSCP] = VMSIM_GROUP_GPR | VMSIM_GROUP_IP |
		                                                              VMSIM_GROUP_TSC;
		bool fast_ok = cfg->minimal_exit_config && !cfg->disasm; /* --disasm decodes at every exit */
		struct vmsim_vcpu_args args = { handler, &vmm, fast_ok ? &fast : NULL, NULL };
		enum vmsim_result r = vmsim_vcpu_create(vmm.session, &args, &vmm.vcpu);
		if (r != VMSIM_OK)
			status = setup_error(cfg, "creating the vCPU", r);
	}
	if (!status && cfg->timeout > 0)
		timer_started = pthread_create(&timer, NULL, timer_main, &vmm) == 0;
	if (!status) {
		pthread_mutex_lock(&vmm.lock);
		while (!vmm.finished)
			pthread_cond_wait(&vmm.cond, &vmm.lock);
		status = vmm.status;
		pthread_mutex_unlock(&vmm.lock);
	}
	if (timer_started) {
		finish(&vmm, status);
		pthread_join(timer, NULL);
	}

	vmsim_session_close(vmm.session);
	if (vmm.ram.ptr)
		vmsim_local_release(vmm.env, &vmm.ram);
	if (vmm.rom.ptr)
		vmsim_local_release(vmm.env, &vmm.rom);
	vmsim_env_destroy(vmm.env); /* frees the dataspaces */
	for (unsigned i = 0; i < 3; i++)
		cs_close(&vmm.cs[i]);
	pthread_cond_destroy(&vmm.cond);
	pthread_mutex_destroy(&vmm.lock);
	return status;
}
