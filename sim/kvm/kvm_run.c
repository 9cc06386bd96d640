/* kvm_run.c - the vCPU's KVM_RUN loop, stopping it from another thread, and turning KVM exits into neutral ones. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "kvm_internal.h"

enum { RFLAGS_DF = 1u << 10 };

int kvmb_stop_signal(void)
{
	return SIGRTMIN + 4;
}

/*
 * The stop signal stays blocked on the vCPU thread and is unblocked only inside
 * KVM_RUN (KVM_SET_SIGNAL_MASK): a stop that lands just before KVM_RUN is still
 * pending when the kernel checks, so KVM_RUN returns EINTR at once; nothing is
 * ever delivered, so no handler (process-wide state) is needed.
 */
static bool block_stop_signal(struct kvmb_vcpu *v)
{
	sigset_t block, mask;
	struct {
		struct kvm_signal_mask hdr;
		uint8_t set[8];
	} km;

	sigemptyset(&block);
	sigaddset(&block, kvmb_stop_signal());
	if (pthread_sigmask(SIG_BLOCK, &block, &mask) != 0)
		return false;
	sigdelset(&mask, kvmb_stop_signal());
	km.hdr.len = 8; /* the kernel's sigset_t */
	memcpy(km.set, &mask, 8);
	return ioctl(v->fd, KVM_SET_SIGNAL_MASK, &km) == 0;
}

static void drain_stop_signal(void)
{
	sigset_t set;
	struct timespec zero = { 0, 0 };

	sigemptyset(&set);
	sigaddset(&set, kvmb_stop_signal());
	while (sigtimedwait(&set, NULL, &zero) >= 0)
		;
}

static enum vmsim_exit_action call_exit(struct kvmb_vcpu *v, struct vmsim_exit *exit)
{
	v->state_changed = false;
	return v->on_exit(v->on_exit_ctx, exit);
}

static void refill_in(struct kvmb_vcpu *v);

/* Let KVM finish the access it left pending (KVM_RUN with immediate_exit), then put the saved registers back. */
static bool complete_pending(struct kvmb_vcpu *v, const struct kvm_regs *restore, struct kvm_regs *after)
{
	struct kvm_run *run = v->run;
	bool ok = false;

	for (int round = 0; round < 64; round++) {
		__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_RELEASE);
		int rc = ioctl(v->fd, KVM_RUN, 0);
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
	if (after && ioctl(v->fd, KVM_GET_REGS, after) < 0)
		ok = false;
	return ioctl(v->fd, KVM_SET_REGS, restore) == 0 && ok;
}

static uint64_t addr_mask(unsigned addr_size)
{
	return addr_size == 8 ? ~0ull : addr_size == 4 ? 0xffffffffull : 0xffffull;
}

/* OUTS: KVM's emulator already moved RSI/RCX (and RIP past a last element). Find the instruction before it. */
static bool outs_origin(struct kvmb_vcpu *v, const struct kvm_sregs *sr, struct kvm_regs *r, unsigned bits,
                        unsigned size, struct kvmb_io_insn *insn)
{
	uint8_t b[16];
	uint64_t cs = sr->cs.base;

	if (kvmb_read_linear(v, cs + r->rip, b, 15) && kvmb_decode_io(b, 15, bits, insn) && insn->string &&
	    !insn->in && insn->size == size && insn->rep && (r->rcx & addr_mask(insn->addr_size)) != 0)
		goto found; /* a REP with elements left stays at the instruction */
	for (unsigned k = 15; k >= 1; k--) {
		if (!kvmb_read_linear(v, cs + r->rip - k, b, k))
			continue;
		if (kvmb_decode_io(b, k, bits, insn) && insn->len == k && insn->string && !insn->in && insn->size == size) {
			r->rip -= k;
			goto found;
		}
	}
	return false;
found: {
	uint64_t m = addr_mask(insn->addr_size);
	uint64_t step = (r->rflags & RFLAGS_DF) ? -(uint64_t)size : size;
	r->rsi = (r->rsi & ~m) | ((r->rsi - step) & m);
	if (insn->rep)
		r->rcx = (r->rcx & ~m) | ((r->rcx + 1) & m);
	return true;
}
}

/* INS: let KVM store what memory already holds, so completing the pending element changes nothing. */
static void ins_fill(struct kvmb_vcpu *v, const struct kvm_sregs *sr, const struct kvm_regs *r,
                     const struct kvmb_io_insn *insn)
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
	struct kvmb_io_insn insn;
	uint8_t b[16];

	if (ioctl(v->fd, KVM_GET_REGS, &r) == 0 && ioctl(v->fd, KVM_GET_SREGS, &sr) == 0 &&
	    kvmb_read_linear(v, sr.cs.base + r.rip, b, 15) && kvmb_decode_io(b, 15, kvmb_code_bits(&sr), &insn) &&
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
	struct kvmb_io_insn insn;
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
	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sr) < 0)
		return false;
	unsigned bits = kvmb_code_bits(&sr);
	bool decoded = kvmb_read_linear(v, sr.cs.base + r.rip, b, 15) && kvmb_decode_io(b, 15, bits, &insn) &&
	               insn.in == in && insn.size == size;

	if (in) {
		if (decoded && insn.string)
			ins_fill(v, &sr, &r, &insn);
		else
			memset(data, 0xff, (size_t)size * run->io.count);
		decoded = complete_pending(v, &r, NULL) && decoded;
	} else if (!complete_pending(v, &r, &after)) {
		decoded = false;
	} else if (after.rip == r.rip) {
		/* nothing was pending: an OUTS element KVM already executed; show the state before it */
		decoded = outs_origin(v, &sr, &r, bits, size, &insn) && ioctl(v->fd, KVM_SET_REGS, &r) == 0;
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

/* KVM_EXIT_MMIO: an access to guest-physical memory without a slot (or a write to a read-only one). */
static bool handle_mmio(struct kvmb_vcpu *v, struct vmsim_exit *exit)
{
	struct kvm_run *run = v->run;
	struct kvm_regs r, after;
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
	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0)
		return false;
	if (write) {
		/* KVM's emulator finished the write before exiting: find the instruction it executed */
		uint8_t len = kvmb_mmio_write_origin(v, &r, run->mmio.len);
		exit->insn_len = len;
		if (len) {
			r.rip -= len;
			if (ioctl(v->fd, KVM_SET_REGS, &r) < 0)
				return false;
		}
	} else {
		memset(run->mmio.data, 0xff, sizeof run->mmio.data);
		if (!complete_pending(v, &r, &after))
			return false;
		uint64_t delta = after.rip - r.rip;
		exit->insn_len = delta && delta <= 15 ? (uint8_t)delta : 0;
	}
	exit->rip = r.rip;
	return true;
}

/* An emulation failure on a fetch from memory without a slot is the fetch NPF the model expects. */
static bool handle_internal(struct kvmb_vcpu *v, struct vmsim_exit *exit)
{
	struct kvm_regs r;
	struct kvm_sregs sr;
	uint64_t gpa;

	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sr) < 0)
		return false;
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
static bool fetch_fault(struct kvmb_vcpu *v, struct vmsim_exit *exit)
{
	struct kvm_regs r;
	struct kvm_sregs sr;
	uint64_t gpa;

	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sr) < 0 ||
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

/* Without an in-kernel irqchip KVM returns on HLT with RIP past it; the neutral exit is at the HLT. */
static bool handle_hlt(struct kvmb_vcpu *v, struct vmsim_exit *exit)
{
	struct kvm_regs r;

	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0)
		return false;
	if (!(v->intercepts & VMSIM_INTERCEPT_HLT)) {
		v->activity = VMSIM_ACTIVITY_HLT;
		return false;
	}
	r.rip -= 1;
	if (ioctl(v->fd, KVM_SET_REGS, &r) < 0)
		return false;
	memset(exit, 0, sizeof *exit);
	exit->kind = VMSIM_EXIT_HLT;
	exit->rip = r.rip;
	exit->insn_len = 1;
	return true;
}

static void plain(struct kvmb_vcpu *v, struct vmsim_exit *exit, enum vmsim_exit_kind kind)
{
	struct kvm_regs r;

	memset(exit, 0, sizeof *exit);
	exit->kind = kind;
	if (ioctl(v->fd, KVM_GET_REGS, &r) == 0)
		exit->rip = r.rip;
}

/* HLT (not intercepted) and shutdown idle here until a stop: there is no interrupt source without the VMM. */
static void idle(struct kvmb_vcpu *v)
{
	pthread_mutex_lock(&v->lock);
	while (!atomic_load(&v->stop_requested))
		pthread_cond_wait(&v->cond, &v->lock);
	pthread_mutex_unlock(&v->lock);
}

/* One KVM exit into at most one neutral exit; false: nothing for the VMM, run on. */
static bool translate_exit(struct kvmb_vcpu *v, struct vmsim_exit *exit)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return handle_io(v, exit);
	case KVM_EXIT_MMIO:
		return handle_mmio(v, exit);
	case KVM_EXIT_HLT:
		return handle_hlt(v, exit);
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

enum vmsim_result kvmb_vcpu_run(void *p, vmsim_exit_fn on_exit, void *ctx)
{
	struct kvmb_vcpu *v = p;
	enum vmsim_result result = VMSIM_OK;
	struct vmsim_exit exit;
	unsigned failures = 0;

	if (!v || !on_exit)
		return VMSIM_INVALID_ARGUMENT;
	/* before in_run: a stop may signal this thread from the moment in_run is visible */
	if (!block_stop_signal(v)) {
		kvmb_log(v->vm, VMSIM_LOG_ERROR, "kvm: vCPU %u: KVM_SET_SIGNAL_MASK: %s", v->id, strerror(errno));
		return VMSIM_BACKEND_ERROR;
	}
	pthread_mutex_lock(&v->lock);
	if (v->in_run) {
		pthread_mutex_unlock(&v->lock);
		return VMSIM_INVALID_ARGUMENT;
	}
	v->in_run = true;
	v->thread = pthread_self();
	pthread_mutex_unlock(&v->lock);
	v->on_exit = on_exit;
	v->on_exit_ctx = ctx;
	v->debug = getenv("KVMB_DEBUG") != NULL;

	for (;;) {
		if (atomic_exchange(&v->stop_requested, false)) {
			__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_RELEASE);
			drain_stop_signal();
			break;
		}
		if (v->activity != VMSIM_ACTIVITY_ACTIVE) {
			idle(v);
			continue;
		}
		v->run->request_interrupt_window = v->want_intr_window;
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			int err = errno;
			if (err == EINTR || err == EAGAIN)
				continue;
			if (fetch_fault(v, &exit)) {
				failures = 0;
				if (call_exit(v, &exit) == VMSIM_EXIT_ACTION_STOP)
					break;
				continue;
			}
			if (err == ENOSPC && ++failures < 4)
				continue; /* another vCPU's handler mapped the page meanwhile: fetch again */
			errno = err;
			kvmb_log(v->vm, VMSIM_LOG_ERROR, "kvm: vCPU %u: KVM_RUN: %s", v->id, strerror(errno));
			result = VMSIM_BACKEND_ERROR;
			break;
		}
		failures = 0;
		if (v->debug)
			fprintf(stderr, "kvm: vCPU %u: exit reason %u\n", v->id, v->run->exit_reason);
		if (!translate_exit(v, &exit))
			continue;
		if (call_exit(v, &exit) == VMSIM_EXIT_ACTION_STOP)
			break;
		if (exit.kind == VMSIM_EXIT_INVALID_STATE && !v->state_changed)
			break; /* nothing changed: it still cannot run; core shows the VMM again */
	}
	pthread_mutex_lock(&v->lock);
	v->in_run = false;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	return result;
}

/* Any thread: flag, immediate_exit for a vCPU between checks, and a signal for one inside KVM_RUN. */
void kvmb_vcpu_stop(void *p)
{
	struct kvmb_vcpu *v = p;

	if (!v)
		return;
	atomic_store(&v->stop_requested, true);
	pthread_mutex_lock(&v->lock);
	if (v->in_run) {
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELEASE);
		pthread_kill(v->thread, kvmb_stop_signal());
	}
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}
