/* kvm_exits.c - KVM exits into neutral ones, with the state rolled back to before the exiting instruction. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_internal.h"

enum { RFLAGS_DF = 1u << 10 };

static void refill_in(struct kvmb_vcpu *v);

/* Let KVM finish the access it left pending (KVM_RUN with immediate_exit), then put the saved registers back. */
static bool complete_pending(struct kvmb_vcpu *v, const struct kvm_regs *restore, struct kvm_regs *after)
{
	struct kvm_run *run = v->run;
	bool ok = false;

	for (int round = 0; round < 64; round++) {
		__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_RELEASE);
		int rc = kvmb_kvm_run(v);
		__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_RELEASE);
		if (rc < 0 && errno == EINTR) {
			ok = true;
			break;
		}
		if (rc < 0)
			break;
		/* a split access asks again: reads float high, writes vanish */
		if (run->exit_reason == KVM_EXIT_MMIO && !run->mmio.is_write)
			memset(run->mmio.data, 0xff, sizeof run->mmio.data);
		else if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_IN)
			refill_in(v); /* the next batch of a REP INS */
		else if (run->exit_reason != KVM_EXIT_MMIO && run->exit_reason != KVM_EXIT_IO)
			break;
	}
	if (after && !kvmb_get_regs(v, after))
		ok = false;
	return kvmb_set_regs(v, restore) && ok;
}

static uint64_t addr_mask(unsigned addr_size)
{
	return addr_size == 8 ? ~0ull : addr_size == 4 ? 0xffffffffull : 0xffffull;
}

/*
 * An OUT or OUTS KVM already executed (RIP past it, nothing pending): KVM's
 * emulator ran it (OUTS always; OUT on hosts that emulate port I/O, e.g. PVM).
 * Find the instruction: a REP OUTS with elements left stays at RIP; otherwise
 * the one that ends at RIP (vmsim_x86_io_ending_at). RSI/RCX of an OUTS are put
 * back by one element.
 */
static bool out_origin(struct kvmb_vcpu *v, const struct kvm_sregs *sr, struct kvm_regs *r, unsigned bits,
                       unsigned size, uint16_t port, struct vmsim_x86_io *insn)
{
	uint8_t b[16];
	uint64_t cs = sr->cs.base;

	if (kvmb_read_linear(v, cs + r->rip, b, 15) && vmsim_x86_decode_io(b, 15, bits, insn) && insn->string &&
	    !insn->in && insn->size == size && insn->rep && (r->rcx & addr_mask(insn->addr_size)) != 0)
		goto found; /* a REP with elements left stays at the instruction */
	unsigned n = 15;
	while (n && ((r->rip < n && bits != 64) || !kvmb_read_linear(v, cs + r->rip - n, b, n)))
		n--; /* fewer bytes where the code starts near a page or slot edge */
	unsigned len = n ? vmsim_x86_io_ending_at(b, n, bits, false, size, port, (uint16_t)r->rdx, insn) : 0;
	if (!len)
		return false;
	r->rip -= len;
found:
	if (insn->string) {
		uint64_t m = addr_mask(insn->addr_size);
		uint64_t step = (r->rflags & RFLAGS_DF) ? -(uint64_t)size : size;
		r->rsi = (r->rsi & ~m) | ((r->rsi - step) & m);
		if (insn->rep)
			r->rcx = (r->rcx & ~m) | ((r->rcx + 1) & m);
	}
	return true;
}

/* Could an OUTS of size bytes end at RIP (an element KVM's emulator ran, RIP past it)? */
static bool outs_ends_at(struct kvmb_vcpu *v, const struct kvm_sregs *sr, const struct kvm_regs *r, unsigned bits,
                         unsigned size)
{
	struct vmsim_x86_io insn;
	uint8_t b[16];

	for (unsigned k = 1; k <= 15; k++) {
		if ((r->rip < k && bits != 64) || !kvmb_read_linear(v, sr->cs.base + r->rip - k, b, k))
			continue;
		if (vmsim_x86_decode_io(b, k, bits, &insn) && insn.len == k && insn.string && !insn.in && insn.size == size)
			return true;
	}
	return false;
}

/* Leave KVM's completion of the access at r's instruction pending until kvmb_settle (after the VMM's on_exit). */
static void defer_completion(struct kvmb_vcpu *v, const struct kvm_regs *r, bool in, bool mmio, uint8_t gpr,
                             uint8_t len, uint8_t size)
{
	v->pending_io = true;
	v->pending_in = in;
	v->pending_mmio = mmio;
	v->pending_gpr = gpr;
	v->pending_len = len;
	v->pending_size = size;
	v->pending_regs = *r;
}

/*
 * Did the VMM emulate the pending IN (or plain-MOV MMIO read) exactly as KVM's
 * completion would: RIP past it, only the destination's low size bytes changed,
 * a 4-byte result zero-extended? Then the value goes into run->io (run->mmio)
 * data and KVM's own completion writes it on the next KVM_RUN: one KVM_RUN per
 * exit on every host where these wait at the instruction, PVM's emulator included.
 */
static bool fed(struct kvmb_vcpu *v, const struct kvm_regs *now)
{
	struct kvm_regs want = v->pending_regs;
	struct kvm_run *run = v->run;
	unsigned size = v->pending_size;
	size_t at = (size_t)v->pending_gpr * sizeof(uint64_t); /* rax..r15 lead struct kvm_regs, 8 bytes each */
	uint64_t low = size >= 8 ? ~0ull : size == 4 ? 0xffffffffull : (1ull << (8 * size)) - 1, old, got;

	/* only where the VMM's registers went to run->s.regs (not yet to KVM): see kvmb_settle */
	if (!(v->sync & KVM_SYNC_X86_REGS) || !v->synced)
		return false;
	if (v->pending_in ? run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_IN ||
	                        run->io.count != 1 || run->io.size != size
	                  : run->exit_reason != KVM_EXIT_MMIO || run->mmio.is_write || run->mmio.len != size)
		return false;
	memcpy(&old, (const uint8_t *)&want + at, 8);
	memcpy(&got, (const uint8_t *)now + at, 8);
	uint64_t result = size >= 4 ? (got & low) : ((old & ~low) | (got & low));
	memcpy((uint8_t *)&want + at, &result, 8);
	want.rip = v->pending_regs.rip + v->pending_len;
	if (memcmp(&want, now, sizeof want) != 0)
		return false;
	memcpy(v->pending_in ? (uint8_t *)run + run->io.data_offset : run->mmio.data, &got, size);
	return true;
}

/*
 * After the VMM's on_exit for a deferred IN/OUT (v->pending_io): KVM still holds
 * its completion. Where the VMM moved RIP, KVM drops it on the next KVM_RUN (the
 * probe saw so: moved_rip_drops_io); where it did not, the instruction must run
 * again, so KVM's completion is run now and the VMM's registers put back.
 */
bool kvmb_settle(struct kvmb_vcpu *v, bool leaving)
{
	struct kvm_regs now;

	if (!v->pending_io)
		return true;
	v->pending_io = false;
	if (!kvmb_get_regs(v, &now))
		return false;
	if ((v->pending_in || v->pending_mmio) && fed(v, &now)) {
		/*
		 * KVM's own completion writes the value and retires the instruction on the next KVM_RUN. KVM still
		 * holds the registers of the exit, so none are set: registers set now would make KVM's emulator
		 * drop its pending write-back (x86.c emulate_regs_need_sync_from_vcpu; seen in the QEMU lane as an
		 * MMIO-read MOV AL that kept its old value).
		 */
		v->run->s.regs.regs = v->pending_regs;
		v->run->kvm_dirty_regs &= ~(uint64_t)KVM_SYNC_X86_REGS;
		return !leaving || complete_pending(v, &now, NULL);
	}
	if (now.rip != v->pending_regs.rip && v->vm->profile->moved_rip_drops_io && !v->pending_mmio && !leaving)
		return true;
	/* leaving vcpu_run: nothing may stay pending behind a later state_set, whatever RIP says */
	return complete_pending(v, &now, NULL);
}

/* INS: let KVM store what memory already holds, so completing the pending element changes nothing. */
static void ins_fill(struct kvmb_vcpu *v, const struct kvm_sregs *sr, const struct kvm_regs *r,
                     const struct vmsim_x86_io *insn)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint64_t m = addr_mask(insn->addr_size);
	int64_t step = (r->rflags & RFLAGS_DF) ? -(int64_t)run->io.size : run->io.size;

	for (uint32_t i = 0; i < run->io.count; i++) {
		uint64_t gla = sr->es.base + ((r->rdi + (uint64_t)(step * (int64_t)i)) & m);
		if (!kvmb_read_linear(v, gla, data + (size_t)i * run->io.size, run->io.size))
			memset(data + (size_t)i * run->io.size, 0xff, run->io.size);
	}
}

/* An IN KVM asks data for while completing: INS gets what memory holds (a no-op store), IN all-ones. */
static void refill_in(struct kvmb_vcpu *v)
{
	struct kvm_run *run = v->run;
	struct kvm_regs r;
	struct kvm_sregs sr;
	struct vmsim_x86_io insn;
	uint8_t b[16];

	if (kvmb_get_regs(v, &r) && kvmb_get_sregs(v, &sr) &&
	    kvmb_read_linear(v, sr.cs.base + r.rip, b, 15) && vmsim_x86_decode_io(b, 15, kvmb_code_bits(&sr), &insn) &&
	    insn.string && insn.in)
		ins_fill(v, &sr, &r, &insn);
	else
		memset((uint8_t *)run + run->io.data_offset, 0xff, (size_t)run->io.size * run->io.count);
}

/*
 * IN, INS and OUT exit before the instruction retires, with a completion KVM
 * runs on the next KVM_RUN; OUTS exits after each element, with nothing left
 * pending. Completing first (and watching whether RIP moved) tells them apart.
 */
static bool handle_io(struct kvmb_vcpu *v, struct vmsim_exit *exit)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	struct kvm_regs r, after;
	struct kvm_sregs sr;
	struct vmsim_x86_io insn;
	uint8_t b[16];
	bool in = run->io.direction == KVM_EXIT_IO_IN;
	uint16_t port = run->io.port;
	uint8_t size = run->io.size;
	uint32_t value = 0;

	if (!(v->intercepts & VMSIM_INTERCEPT_IO)) {
		/* no device behind the port: reads float high, writes vanish; KVM completes it on resume */
		if (in)
			memset(data, 0xff, (size_t)size * run->io.count);
		return false;
	}
	if (!in)
		memcpy(&value, data, size);
	if (!kvmb_get_regs(v, &r) || !kvmb_get_sregs(v, &sr))
		return false;
	unsigned bits = kvmb_code_bits(&sr);
	bool decoded = kvmb_read_linear(v, sr.cs.base + r.rip, b, 15) && vmsim_x86_decode_io(b, 15, bits, &insn) &&
	               insn.in == in && insn.size == size;

	bool in_waits = in && v->vm->profile->rip[KVMB_PX_IN] == KVMB_RIP_AT;
	if (decoded && !insn.string && (in_waits || (v->vm->profile->defer_io && !outs_ends_at(v, &sr, &r, bits, size)))) {
		/* one KVM_RUN per exit: KVM's completion waits; kvmb_settle feeds it the VMM's IN value or cancels it */
		if (in)
			memset(data, 0xff, (size_t)size * run->io.count);
		defer_completion(v, &r, in, false, 0, insn.len, size);
	} else if (in) {
		if (decoded && insn.string)
			ins_fill(v, &sr, &r, &insn);
		else
			memset(data, 0xff, (size_t)size * run->io.count);
		decoded = complete_pending(v, &r, NULL) && decoded;
	} else if (v->vm->profile->rip[KVMB_PX_OUT] == KVMB_RIP_PAST || (decoded && insn.string)) {
		/* the probe saw this host retire OUT before exiting (PVM), or it is an OUTS element: nothing pending */
		decoded = out_origin(v, &sr, &r, bits, size, port, &insn) && kvmb_set_regs(v, &r);
	} else if (!complete_pending(v, &r, &after)) {
		decoded = false;
	} else if (after.rip == r.rip) {
		/* nothing was pending: an OUT/OUTS KVM already executed; show the state before it */
		decoded = out_origin(v, &sr, &r, bits, size, port, &insn) && kvmb_set_regs(v, &r);
	} else {
		decoded = decoded && !insn.string;
	}
	memset(exit, 0, sizeof *exit);
	exit->kind = VMSIM_EXIT_IO;
	exit->rip = r.rip;
	exit->insn_len = decoded ? insn.len : 0;
	exit->u.io.port = port;
	exit->u.io.size = size;
	exit->u.io.in = in;
	exit->u.io.string = decoded && insn.string;
	exit->u.io.rep = decoded && insn.rep;
	exit->u.io.imm = decoded && insn.imm;
	exit->u.io.addr_size = decoded ? insn.addr_size : (uint8_t)(bits / 8);
	exit->u.io.seg = decoded ? insn.seg : 3;
	exit->u.io.value = value;
	return true;
}

/*
 * KVM reports the guest's own page walk reading an entry in memory without a slot as an MMIO read of the
 * entry: where the instruction's memory operand walks into exactly that entry, it is an NPF on the walk.
 */
static void mark_walk(struct kvmb_vcpu *v, const struct kvm_regs *r, struct vmsim_exit *exit)
{
	struct kvm_sregs sr;
	uint64_t gla[2];

	if (exit->u.npf.access != VMSIM_ACCESS_READ || !kvmb_get_sregs(v, &sr) || !(sr.cr0 & (1ull << 31)))
		return;
	/* only a read of one whole paging-structure entry can be the walk's (no decoding on other MMIO reads) */
	unsigned entry = (sr.cr4 & (1u << 5)) ? 8 : 4;
	if (v->run->mmio.len != entry || (exit->u.npf.gpa & (entry - 1)))
		return;
	unsigned n = kvmb_mem_operands(v, r, &sr, gla);
	for (unsigned i = 0; i < n; i++) {
		if (kvmb_walk_stops_at(v, &sr, gla[i], exit->u.npf.gpa)) {
			exit->u.npf.walk = true;
			exit->u.npf.gla = gla[i];
			exit->u.npf.gla_valid = true;
			exit->u.npf.decoded = false; /* the read was the entry's, not the instruction's */
			exit->u.npf.size = 0;
			return;
		}
	}
}

/* KVM_EXIT_MMIO: an access to guest-physical memory without a slot (or a write to a read-only one). */
static bool handle_mmio(struct kvmb_vcpu *v, struct vmsim_exit *exit)
{
	struct kvm_run *run = v->run;
	struct kvm_regs r, after;
	struct kvmb_mmio_mov mov;
	bool write = run->mmio.is_write;
	uint64_t value = 0;

	memset(exit, 0, sizeof *exit);
	exit->kind = VMSIM_EXIT_NPF;
	exit->u.npf.gpa = run->mmio.phys_addr;
	exit->u.npf.access = write ? VMSIM_ACCESS_WRITE : VMSIM_ACCESS_READ;
	exit->u.npf.prot = (uint8_t)kvmb_mem_prot(v->vm, run->mmio.phys_addr);
	exit->u.npf.size = (uint8_t)run->mmio.len;
	exit->u.npf.decoded = true;
	if (write) {
		memcpy(&value, run->mmio.data, run->mmio.len <= 8 ? run->mmio.len : 8);
		exit->u.npf.value = value;
	}
	if (!kvmb_get_regs(v, &r))
		return false;
	if (!write)
		mark_walk(v, &r, exit); /* an entry the guest's walk read is not the instruction's operand: no feed */
	if (write && v->vm->profile->rip[KVMB_PX_MMIO_WRITE] != KVMB_RIP_AT) {
		/* KVM's emulator finished the write before exiting: find the instruction it executed */
		uint8_t len = kvmb_mmio_write_origin(v, &r, run->mmio.len, run->mmio.phys_addr);
		exit->insn_len = len;
		if (len) {
			r.rip -= len;
			if (!kvmb_set_regs(v, &r))
				return false;
		}
	} else if (!write && !exit->u.npf.walk && v->vm->profile->rip[KVMB_PX_MMIO_READ] == KVMB_RIP_AT &&
	           kvmb_mmio_read_plain(v, &r, run->mmio.len, &mov)) {
		/* one KVM_RUN per exit: the completion waits for the VMM's value (kvmb_settle feeds or cancels it) */
		memset(run->mmio.data, 0xff, sizeof run->mmio.data);
		exit->insn_len = mov.len;
		defer_completion(v, &r, false, true, mov.gpr, mov.len, mov.size);
	} else {
		/* a read (or, where the probe saw it pending, a write): finish it and see how far RIP moves */
		if (!write)
			memset(run->mmio.data, 0xff, sizeof run->mmio.data);
		if (!complete_pending(v, &r, &after))
			return false;
		uint64_t delta = after.rip - r.rip;
		exit->insn_len = delta && delta <= 15 ? (uint8_t)delta : 0;
	}
	exit->rip = r.rip;
	return true;
}

/*
 * KVM's instruction emulator has no RDTSCP, and kvm_pvm runs a guest that is
 * not PVM-aware through that emulator (every instruction at CPL 0), so there
 * RDTSCP ends in an emulation failure. The guest gets what the CPU would give:
 * EDX:EAX = its TSC (KVM's IA32_TSC, offset included, the value KVM's own
 * RDTSC gives), ECX = TSC_AUX, zero-extended as QEMU (the reference) does.
 * Only where RDTSCP may run (CPL 0 or CR4.TSD clear); anything else stays an error.
 */
static bool complete_rdtscp(struct kvmb_vcpu *v, struct kvm_regs *r, const struct kvm_sregs *sr)
{
	static const uint8_t rdtscp[3] = { 0x0f, 0x01, 0xf9 };
	uint8_t bytes[3];
	uint64_t tsc, aux;
	bool cpl0 = !(sr->cr0 & 1) || (sr->cs.selector & 3) == 0;

	if (v->run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION || (!cpl0 && (sr->cr4 & (1u << 2))) ||
	    !kvmb_read_linear(v, sr->cs.base + r->rip, bytes, sizeof bytes) || memcmp(bytes, rdtscp, sizeof bytes) ||
	    !kvmb_msr(v, 0x10 /* IA32_TSC */, &tsc, false) || !kvmb_msr(v, 0xc0000103 /* TSC_AUX */, &aux, false))
		return false;
	r->rax = (uint32_t)tsc;
	r->rdx = tsc >> 32;
	r->rcx = (uint32_t)aux;
	r->rip = sr->cs.l ? r->rip + 3 : (uint32_t)(r->rip + 3);
	if (!sr->cs.db && !sr->cs.l)
		r->rip &= 0xffff;
	r->rflags &= ~(1ull << 16); /* RF: the instruction completed */
	return kvmb_set_regs(v, r);
}

/* An emulation failure on a fetch from memory without a slot is the fetch NPF the model expects. */
static bool handle_internal(struct kvmb_vcpu *v, struct vmsim_exit *exit)
{
	struct kvm_regs r;
	struct kvm_sregs sr;
	uint64_t gpa;

	if (!kvmb_get_regs(v, &r) || !kvmb_get_sregs(v, &sr))
		return false;
	if (complete_rdtscp(v, &r, &sr))
		return false; /* nothing for the VMM: KVM has no RDTSCP exit, the guest runs on */
	memset(exit, 0, sizeof *exit);
	exit->rip = r.rip;
	if (v->run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    kvmb_translate(v, sr.cs.base + r.rip, &gpa) && !(kvmb_mem_prot(v->vm, gpa) & VMSIM_PROT_READ)) {
		exit->kind = VMSIM_EXIT_NPF;
		exit->u.npf.gpa = gpa;
		exit->u.npf.gla = sr.cs.base + r.rip;
		exit->u.npf.gla_valid = true;
		exit->u.npf.access = VMSIM_ACCESS_FETCH;
		return true;
	}
	kvmb_log(v->vm, VMSIM_LOG_ERROR, "kvm: vCPU %u: internal error %u at rip %#llx", v->id,
	         v->run->internal.suberror, (unsigned long long)r.rip);
	exit->kind = VMSIM_EXIT_INVALID_STATE;
	exit->u.invalid.reason = VMSIM_INVALID_BACKEND;
	return true;
}

/* KVM fails KVM_RUN itself (ENOSPC on 6.1 SVM) when the instruction to fetch has no memory slot. */
bool kvmb_fetch_fault(struct kvmb_vcpu *v, struct vmsim_exit *exit)
{
	struct kvm_regs r;
	struct kvm_sregs sr;
	uint64_t gpa;

	if (!kvmb_get_regs(v, &r) || !kvmb_get_sregs(v, &sr) ||
	    !kvmb_translate(v, sr.cs.base + r.rip, &gpa) || (kvmb_mem_prot(v->vm, gpa) & VMSIM_PROT_READ))
		return false;
	memset(exit, 0, sizeof *exit);
	exit->kind = VMSIM_EXIT_NPF;
	exit->rip = r.rip;
	exit->u.npf.gpa = gpa;
	exit->u.npf.gla = sr.cs.base + r.rip;
	exit->u.npf.gla_valid = true;
	exit->u.npf.access = VMSIM_ACCESS_FETCH;
	return true;
}

/* Without an in-kernel irqchip KVM returns on HLT (RIP past it where the probe saw so); the neutral exit is at the HLT. */
static bool handle_hlt(struct kvmb_vcpu *v, struct vmsim_exit *exit)
{
	struct kvm_regs r;

	if (!kvmb_get_regs(v, &r))
		return false;
	if (!(v->intercepts & VMSIM_INTERCEPT_HLT)) {
		v->activity = VMSIM_ACTIVITY_HLT;
		return false;
	}
	if (v->vm->profile->rip[KVMB_PX_HLT] != KVMB_RIP_AT) {
		/* past the HLT (every host measured so far; also the guess where the probe did not see it) */
		r.rip -= 1;
		if (!kvmb_set_regs(v, &r))
			return false;
	}
	memset(exit, 0, sizeof *exit);
	exit->kind = VMSIM_EXIT_HLT;
	exit->rip = r.rip;
	exit->insn_len = 1;
	return true;
}

/*
 * KVM_EXIT_X86_RDMSR/WRMSR (user-space MSR exits): KVM finishes the access on
 * the next KVM_RUN from run->msr (error: #GP). For the VMM the exit is at the
 * instruction: KVM's completion is run at once as a no-op and the registers put
 * back. A vCPU that does not intercept MSRs gets what KVM would have done.
 */
static bool handle_msr(struct kvmb_vcpu *v, struct vmsim_exit *exit)
{
	struct kvm_run *run = v->run;
	bool write = run->exit_reason == KVM_EXIT_X86_WRMSR;
	struct kvm_regs r;

	if (!(v->intercepts & VMSIM_INTERCEPT_MSR)) {
		uint64_t value = run->msr.data;
		/* filtered only because another vCPU intercepts: do it host-side; an unknown MSR is #GP as on hardware */
		bool ok = run->msr.reason == KVM_MSR_EXIT_REASON_FILTER && kvmb_msr(v, run->msr.index, &value, write);
		run->msr.error = ok ? 0 : 1;
		if (ok && !write)
			run->msr.data = value;
		return false;
	}
	if (!kvmb_get_regs(v, &r))
		return false;
	memset(exit, 0, sizeof *exit);
	exit->kind = VMSIM_EXIT_MSR;
	exit->rip = r.rip;
	exit->insn_len = 2; /* 0F 32 / 0F 30 */
	exit->u.msr.index = run->msr.index;
	exit->u.msr.write = write;
	if (write)
		exit->u.msr.value = run->msr.data;
	run->msr.error = 0;
	run->msr.data = (r.rdx << 32) | (uint32_t)r.rax;
	return complete_pending(v, &r, NULL);
}

static void plain(struct kvmb_vcpu *v, struct vmsim_exit *exit, enum vmsim_exit_kind kind)
{
	struct kvm_regs r;

	memset(exit, 0, sizeof *exit);
	exit->kind = kind;
	if (kvmb_get_regs(v, &r))
		exit->rip = r.rip;
}

/* One KVM exit into at most one neutral exit; false: nothing for the VMM, run on. */
bool kvmb_translate_exit(struct kvmb_vcpu *v, struct vmsim_exit *exit)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return handle_io(v, exit);
	case KVM_EXIT_MMIO:
		return handle_mmio(v, exit);
	case KVM_EXIT_HLT:
		return handle_hlt(v, exit);
	case KVM_EXIT_X86_RDMSR:
	case KVM_EXIT_X86_WRMSR:
		return handle_msr(v, exit);
	case KVM_EXIT_INTERNAL_ERROR:
		return handle_internal(v, exit);
	case KVM_EXIT_SHUTDOWN:
		if (!(v->intercepts & VMSIM_INTERCEPT_SHUTDOWN)) {
			v->activity = VMSIM_ACTIVITY_SHUTDOWN;
			return false;
		}
		plain(v, exit, VMSIM_EXIT_SHUTDOWN);
		return true;
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		if (!v->want_intr_window)
			return false;
		plain(v, exit, VMSIM_EXIT_INTR_WINDOW);
		return true;
	case KVM_EXIT_FAIL_ENTRY:
		plain(v, exit, VMSIM_EXIT_INVALID_STATE);
		exit->u.invalid.reason = VMSIM_INVALID_BACKEND;
		kvmb_log(v->vm, VMSIM_LOG_INFO, "kvm: vCPU %u: entry failed, hardware reason %#llx", v->id,
		         (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return true;
	case KVM_EXIT_INTR:
		return false;
	default:
		kvmb_log(v->vm, VMSIM_LOG_ERROR, "kvm: vCPU %u: unexpected exit reason %u", v->id, run->exit_reason);
		plain(v, exit, VMSIM_EXIT_INVALID_STATE);
		exit->u.invalid.reason = VMSIM_INVALID_BACKEND;
		return true;
	}
}

