/* kvm_state.c - the neutral vmsim_cpu_state groups over KVM's REGS, SREGS, XSAVE, XCRS, MSRS, DEBUGREGS, EVENTS. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_internal.h"

enum { MSR_TSC = 0x10, MSR_XSS = 0xda0 };


bool kvmb_get_regs(struct kvmb_vcpu *v, struct kvm_regs *r)
{
	if ((v->sync & KVM_SYNC_X86_REGS) && v->synced) {
		*r = v->run->s.regs.regs;
		return true;
	}
	return ioctl(v->fd, KVM_GET_REGS, r) == 0;
}

bool kvmb_set_regs(struct kvmb_vcpu *v, const struct kvm_regs *r)
{
	if ((v->sync & KVM_SYNC_X86_REGS) && v->synced) {
		v->run->s.regs.regs = *r;
		v->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS; /* KVM applies and clears it on the next KVM_RUN */
		return true;
	}
	return ioctl(v->fd, KVM_SET_REGS, r) == 0;
}

bool kvmb_get_sregs(struct kvmb_vcpu *v, struct kvm_sregs *sr)
{
	if ((v->sync & KVM_SYNC_X86_SREGS) && v->synced && !v->sregs_stale) {
		*sr = v->run->s.regs.sregs;
		return true;
	}
	return ioctl(v->fd, KVM_GET_SREGS, sr) == 0;
}

/* Always the ioctl: KVM must know the mode before dirty REGS are applied (and it normalises what it takes). */
bool kvmb_set_sregs(struct kvmb_vcpu *v, const struct kvm_sregs *sr)
{
	if (ioctl(v->fd, KVM_SET_SREGS, sr) < 0)
		return false;
	v->sregs_stale = true;
	return true;
}

int kvmb_kvm_run(struct kvmb_vcpu *v)
{
	int rc = ioctl(v->fd, KVM_RUN, 0);
	int err = errno;

	if (v->sync) {
		v->synced = true;
		v->sregs_stale = false;
	}
	errno = err;
	return rc;
}

/* Genode's compressed 12-bit ar: type/S/DPL/P in bits 0-7, AVL/L/DB/G in 8-11, unusable in 12. */
void kvmb_seg_from_kvm(const struct kvm_segment *k, struct vmsim_segment *s)
{
	s->sel = k->selector;
	s->base = k->base;
	s->limit = k->limit;
	s->ar = (uint16_t)((k->type & 0xf) | (k->s & 1) << 4 | (k->dpl & 3) << 5 | (k->present & 1) << 7 |
	                   (k->avl & 1) << 8 | (k->l & 1) << 9 | (k->db & 1) << 10 | (k->g & 1) << 11 |
	                   (k->unusable & 1) << 12);
}

void kvmb_seg_to_kvm(const struct vmsim_segment *s, struct kvm_segment *k)
{
	memset(k, 0, sizeof *k);
	k->selector = s->sel;
	k->base = s->base;
	k->limit = s->limit;
	k->type = s->ar & 0xf;
	k->s = (s->ar >> 4) & 1;
	k->dpl = (s->ar >> 5) & 3;
	k->present = (s->ar >> 7) & 1;
	k->avl = (s->ar >> 8) & 1;
	k->l = (s->ar >> 9) & 1;
	k->db = (s->ar >> 10) & 1;
	k->g = (s->ar >> 11) & 1;
	k->unusable = (s->ar >> 12) & 1;
}

/* A kvm_msrs with room for n entries (flexible array: heap, not a struct member). */
static struct kvm_msrs *msrs_alloc(unsigned n)
{
	return calloc(1, sizeof(struct kvm_msrs) + n * sizeof(struct kvm_msr_entry));
}

/* KVM_GET/SET_MSRS for the state MSRs (vmsim/x86.h) of the given groups; false on any failure. */
static bool msrs_xfer(struct kvmb_vcpu *v, uint32_t groups, struct vmsim_cpu_state *s, bool set)
{
	size_t max;
	const struct vmsim_x86_state_msr *map = vmsim_x86_state_msrs(&max);
	struct kvm_msrs *m = msrs_alloc((unsigned)max);
	unsigned n = 0;
	bool ok = false;

	if (!m)
		return false;
	for (size_t i = 0; i < max; i++) {
		if (!(groups & map[i].group))
			continue;
		m->entries[n].index = map[i].index;
		if (set)
			memcpy(&m->entries[n].data, (uint8_t *)s + map[i].offset, 8);
		n++;
	}
	m->nmsrs = n;
	if (!n || ioctl(v->fd, set ? KVM_SET_MSRS : KVM_GET_MSRS, m) == (int)n) {
		ok = true;
		for (size_t j = 0, k = 0; !set && j < max; j++)
			if (groups & map[j].group)
				memcpy((uint8_t *)s + map[j].offset, &m->entries[k++].data, 8);
	}
	free(m);
	return ok;
}

bool kvmb_msr(struct kvmb_vcpu *v, uint32_t index, uint64_t *value, bool set)
{
	struct kvm_msrs *m = msrs_alloc(1);
	bool ok;

	if (!m)
		return false;
	m->nmsrs = 1;
	m->entries[0].index = index;
	m->entries[0].data = set ? *value : 0;
	ok = ioctl(v->fd, set ? KVM_SET_MSRS : KVM_GET_MSRS, m) == 1;
	if (ok)
		*value = m->entries[0].data;
	free(m);
	return ok;
}

static bool tsc_offset_xfer(struct kvmb_vcpu *v, uint64_t *offset, bool set)
{
	struct kvm_device_attr attr = {
		.group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET, .addr = (uint64_t)(uintptr_t)offset
	};
	return ioctl(v->fd, set ? KVM_SET_DEVICE_ATTR : KVM_GET_DEVICE_ATTR, &attr) == 0;
}

static void events_to_state(const struct kvm_vcpu_events *e, struct vmsim_cpu_state *s)
{
	uint8_t shadow = e->interrupt.shadow;
	/* SVM has one shadow bit, which KVM reports as both kinds: the neutral form of that one bit is STI */
	if (shadow == (KVM_X86_SHADOW_INT_STI | KVM_X86_SHADOW_INT_MOV_SS))
		shadow = KVM_X86_SHADOW_INT_STI;
	s->interruptibility = ((shadow & KVM_X86_SHADOW_INT_STI) ? VMSIM_BLOCK_STI : 0) |
	                      ((shadow & KVM_X86_SHADOW_INT_MOV_SS) ? VMSIM_BLOCK_MOVSS : 0) |
	                      (e->nmi.masked ? VMSIM_BLOCK_NMI : 0);
	memset(&s->pending, 0, sizeof s->pending);
	/* an event the exit interrupted: KVM re-injects it on the next entry */
	if (e->exception.injected) {
		s->pending = (struct vmsim_event){ .valid = true, .type = VMSIM_EVENT_HW_EXCEPTION,
			                           .vector = e->exception.nr, .has_error = e->exception.has_error_code,
			                           .error_code = e->exception.error_code };
	} else if (e->nmi.injected) {
		s->pending = (struct vmsim_event){ .valid = true, .type = VMSIM_EVENT_NMI, .vector = 2 };
	} else if (e->interrupt.injected) {
		s->pending = (struct vmsim_event){ .valid = true,
			                           .type = e->interrupt.soft ? VMSIM_EVENT_SW_INT : VMSIM_EVENT_EXTINT,
			                           .vector = e->interrupt.nr };
	}
}

static enum vmsim_result events_from_state(const struct vmsim_cpu_state *s, struct kvm_vcpu_events *e)
{
	memset(e, 0, sizeof *e);
	e->flags = KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_NMI_PENDING;
	e->interrupt.shadow = (uint8_t)(((s->interruptibility & VMSIM_BLOCK_STI) ? KVM_X86_SHADOW_INT_STI : 0) |
	                                ((s->interruptibility & VMSIM_BLOCK_MOVSS) ? KVM_X86_SHADOW_INT_MOV_SS : 0));
	e->nmi.masked = (s->interruptibility & VMSIM_BLOCK_NMI) != 0;
	if (!s->pending.valid)
		return VMSIM_OK;
	switch (s->pending.type) {
	case VMSIM_EVENT_EXTINT:
		e->interrupt.injected = 1;
		e->interrupt.nr = s->pending.vector;
		return VMSIM_OK;
	case VMSIM_EVENT_NMI:
		e->nmi.injected = 1;
		return VMSIM_OK;
	case VMSIM_EVENT_HW_EXCEPTION:
		e->exception.injected = 1;
		e->exception.nr = s->pending.vector;
		e->exception.has_error_code = s->pending.has_error;
		e->exception.error_code = s->pending.error_code;
		return VMSIM_OK;
	default:
		return VMSIM_UNSUPPORTED; /* software events: cap_gap INJECT_SWINT */
	}
}

static void regs_to_state(const struct kvm_regs *r, struct vmsim_cpu_state *s, uint32_t groups)
{
	if (groups & VMSIM_GROUP_GPR) {
		s->rax = r->rax, s->rcx = r->rcx, s->rdx = r->rdx, s->rbx = r->rbx;
		s->rsp = r->rsp, s->rbp = r->rbp, s->rsi = r->rsi, s->rdi = r->rdi;
		s->r8 = r->r8, s->r9 = r->r9, s->r10 = r->r10, s->r11 = r->r11;
		s->r12 = r->r12, s->r13 = r->r13, s->r14 = r->r14, s->r15 = r->r15;
	}
	if (groups & VMSIM_GROUP_IP) {
		s->rip = r->rip;
		s->rflags = r->rflags;
	}
}

static void regs_from_state(const struct vmsim_cpu_state *s, struct kvm_regs *r, uint32_t groups)
{
	if (groups & VMSIM_GROUP_GPR) {
		r->rax = s->rax, r->rcx = s->rcx, r->rdx = s->rdx, r->rbx = s->rbx;
		r->rsp = s->rsp, r->rbp = s->rbp, r->rsi = s->rsi, r->rdi = s->rdi;
		r->r8 = s->r8, r->r9 = s->r9, r->r10 = s->r10, r->r11 = s->r11;
		r->r12 = s->r12, r->r13 = s->r13, r->r14 = s->r14, r->r15 = s->r15;
	}
	if (groups & VMSIM_GROUP_IP) {
		r->rip = s->rip;
		r->rflags = s->rflags;
	}
}

#define SREGS_GROUPS (VMSIM_GROUP_SEGMENTS | VMSIM_GROUP_DTABLES | VMSIM_GROUP_CONTROL | VMSIM_GROUP_TPR)

/* Segments, descriptor tables, control registers (DR7 too) and TPR from KVM_GET_SREGS. */
static enum vmsim_result sregs_get(struct kvmb_vcpu *v, uint32_t groups, struct vmsim_cpu_state *s)
{
	struct kvm_sregs sr;
	if (!kvmb_get_sregs(v, &sr))
		return VMSIM_BACKEND_ERROR;
	if (groups & VMSIM_GROUP_SEGMENTS) {
		kvmb_seg_from_kvm(&sr.es, &s->es), kvmb_seg_from_kvm(&sr.cs, &s->cs);
		kvmb_seg_from_kvm(&sr.ss, &s->ss), kvmb_seg_from_kvm(&sr.ds, &s->ds);
		kvmb_seg_from_kvm(&sr.fs, &s->fs), kvmb_seg_from_kvm(&sr.gs, &s->gs);
		kvmb_seg_from_kvm(&sr.ldt, &s->ldtr), kvmb_seg_from_kvm(&sr.tr, &s->tr);
		/*
		 * A usable code or data segment is accessed: the CPU sets A on every descriptor load (SDM 3.4.5.1),
		 * and VMX entry requires it of CS. QEMU's TCG (the QEMU lane's "hardware") loads CS by far transfers
		 * without it, so Linux's decompressor reached a VMX-model entry with CS type 0xa (INVALID_STATE).
		 */
		struct vmsim_segment *segs[] = { &s->es, &s->cs, &s->ss, &s->ds, &s->fs, &s->gs };
		for (unsigned i = 0; i < 6; i++)
			if ((segs[i]->ar & 0x1090) == 0x90)
				segs[i]->ar |= 1;
	}
	if (groups & VMSIM_GROUP_DTABLES) {
		s->gdtr = (struct vmsim_dtable){ sr.gdt.limit, sr.gdt.base };
		s->idtr = (struct vmsim_dtable){ sr.idt.limit, sr.idt.base };
	}
	if (groups & VMSIM_GROUP_CONTROL) {
		s->cr0 = sr.cr0, s->cr2 = sr.cr2, s->cr3 = sr.cr3, s->cr4 = sr.cr4, s->efer = sr.efer;
		struct kvm_debugregs d;
		if (ioctl(v->fd, KVM_GET_DEBUGREGS, &d) < 0)
			return VMSIM_BACKEND_ERROR;
		s->dr7 = d.dr7;
	}
	if (groups & VMSIM_GROUP_TPR) {
		s->tpr = (uint32_t)(sr.cr8 << 4); /* CR8 is TPR[7:4] (SDM 10.8.6.1) */
		s->tpr_threshold = v->tpr_threshold;
	}
	return VMSIM_OK;
}

/* XCR0, IA32_XSS and the FPU/XSAVE area. */
static enum vmsim_result xsave_get(struct kvmb_vcpu *v, uint32_t groups, struct vmsim_cpu_state *s)
{
	if (groups & VMSIM_GROUP_XSAVE) {
		struct kvm_xcrs x;
		memset(&x, 0, sizeof x);
		if (ioctl(v->fd, KVM_GET_XCRS, &x) < 0)
			return VMSIM_BACKEND_ERROR;
		s->xcr0 = 0;
		for (unsigned i = 0; i < x.nr_xcrs; i++)
			if (x.xcrs[i].xcr == 0)
				s->xcr0 = x.xcrs[i].value;
		if (!kvmb_msr(v, MSR_XSS, &s->xss, false))
			s->xss = 0; /* no XSAVES in the guest's CPUID: IA32_XSS does not exist */
	}
	if (groups & VMSIM_GROUP_FPU) {
		struct kvm_xsave *x = malloc(sizeof *x);
		if (!x)
			return VMSIM_OUT_OF_RAM;
		if (ioctl(v->fd, KVM_GET_XSAVE, x) < 0) {
			free(x);
			return VMSIM_BACKEND_ERROR;
		}
		memcpy(s->fpu, x->region, VMSIM_FPU_AREA_SIZE); /* legacy FXSAVE area, XSAVE header, AVX... */
		s->fpu_size = VMSIM_FPU_AREA_SIZE;
		free(x);
	}
	return VMSIM_OK;
}

/* Segments, descriptor tables, control registers (DR7 too) and TPR through KVM_SET_SREGS. */
static enum vmsim_result sregs_set(struct kvmb_vcpu *v, uint32_t groups, const struct vmsim_cpu_state *s)
{
	struct kvm_sregs sr;
	if (!kvmb_get_sregs(v, &sr))
		return VMSIM_BACKEND_ERROR;
	if (groups & VMSIM_GROUP_SEGMENTS) {
		kvmb_seg_to_kvm(&s->es, &sr.es), kvmb_seg_to_kvm(&s->cs, &sr.cs);
		kvmb_seg_to_kvm(&s->ss, &sr.ss), kvmb_seg_to_kvm(&s->ds, &sr.ds);
		kvmb_seg_to_kvm(&s->fs, &sr.fs), kvmb_seg_to_kvm(&s->gs, &sr.gs);
		kvmb_seg_to_kvm(&s->ldtr, &sr.ldt), kvmb_seg_to_kvm(&s->tr, &sr.tr);
	}
	if (groups & VMSIM_GROUP_DTABLES) {
		sr.gdt.base = s->gdtr.base, sr.gdt.limit = (uint16_t)s->gdtr.limit;
		sr.idt.base = s->idtr.base, sr.idt.limit = (uint16_t)s->idtr.limit;
	}
	if (groups & VMSIM_GROUP_CONTROL) {
		sr.cr0 = s->cr0, sr.cr2 = s->cr2, sr.cr3 = s->cr3, sr.cr4 = s->cr4, sr.efer = s->efer;
	}
	if (groups & VMSIM_GROUP_TPR)
		sr.cr8 = (s->tpr >> 4) & 0xf;
	memset(sr.interrupt_bitmap, 0, sizeof sr.interrupt_bitmap);
	if (!kvmb_set_sregs(v, &sr))
		return VMSIM_INVALID_ARGUMENT; /* KVM refuses states the architecture forbids */
	if (groups & VMSIM_GROUP_CONTROL) {
		struct kvm_debugregs d;
		if (ioctl(v->fd, KVM_GET_DEBUGREGS, &d) < 0)
			return VMSIM_BACKEND_ERROR;
		d.dr7 = s->dr7;
		if (ioctl(v->fd, KVM_SET_DEBUGREGS, &d) < 0)
			return VMSIM_INVALID_ARGUMENT;
	}
	if (groups & VMSIM_GROUP_TPR)
		v->tpr_threshold = s->tpr_threshold;
	return VMSIM_OK;
}

/* XCR0, IA32_XSS and the FPU/XSAVE area (XSTATE_BV marks x87/SSE written for a legacy-size area). */
static enum vmsim_result xsave_set(struct kvmb_vcpu *v, uint32_t groups, const struct vmsim_cpu_state *s)
{
	if (groups & VMSIM_GROUP_XSAVE) {
		struct kvm_xcrs x;
		memset(&x, 0, sizeof x);
		x.nr_xcrs = 1;
		x.xcrs[0].xcr = 0;
		x.xcrs[0].value = s->xcr0;
		if (ioctl(v->fd, KVM_SET_XCRS, &x) < 0)
			return VMSIM_INVALID_ARGUMENT;
		uint64_t xss = s->xss;
		if (!kvmb_msr(v, MSR_XSS, &xss, true) && s->xss)
			return VMSIM_INVALID_ARGUMENT;
	}
	if (groups & VMSIM_GROUP_FPU) {
		struct kvm_xsave *x = malloc(sizeof *x);
		if (!x)
			return VMSIM_OUT_OF_RAM;
		size_t n = s->fpu_size < VMSIM_FPU_AREA_SIZE ? (size_t)s->fpu_size : VMSIM_FPU_AREA_SIZE;
		bool ok = ioctl(v->fd, KVM_GET_XSAVE, x) == 0;
		if (ok) {
			memcpy(x->region, s->fpu, n);
			if (n <= 512)
				((uint8_t *)x->region)[512] |= 3; /* XSTATE_BV: x87 and SSE now hold what was written */
			ok = ioctl(v->fd, KVM_SET_XSAVE, x) == 0;
		}
		free(x);
		if (!ok)
			return VMSIM_INVALID_ARGUMENT;
	}
	return VMSIM_OK;
}

enum vmsim_result kvmb_state_get(void *p, uint32_t groups, struct vmsim_cpu_state *s)
{
	struct kvmb_vcpu *v = p;

	if (!v || !s)
		return VMSIM_INVALID_ARGUMENT;
	if (groups & (VMSIM_GROUP_GPR | VMSIM_GROUP_IP)) {
		struct kvm_regs r;
		if (!kvmb_get_regs(v, &r))
			return VMSIM_BACKEND_ERROR;
		regs_to_state(&r, s, groups);
	}
	if (groups & SREGS_GROUPS) {
		enum vmsim_result r = sregs_get(v, groups, s);
		if (r != VMSIM_OK)
			return r;
	}
	if ((groups & (VMSIM_GROUP_SYSENTER | VMSIM_GROUP_SYSCALL | VMSIM_GROUP_TSC)) &&
	    !msrs_xfer(v, groups, s, false))
		return VMSIM_BACKEND_ERROR;
	if (groups & VMSIM_GROUP_TSC) {
		if (!kvmb_msr(v, MSR_TSC, &s->tsc, false) || !tsc_offset_xfer(v, &s->tsc_offset, false))
			return VMSIM_BACKEND_ERROR;
	}
	if (groups & VMSIM_GROUP_EVENTS) {
		struct kvm_vcpu_events e;
		if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &e) < 0)
			return VMSIM_BACKEND_ERROR;
		events_to_state(&e, s);
		s->activity = v->activity;
		s->pending.want_intr_window = v->want_intr_window;
		s->pending.want_nmi_window = v->want_nmi_window;
	}
	if (groups & VMSIM_GROUP_PDPTE)
		memcpy(s->pdpte, v->pdpte, sizeof v->pdpte);
	if (groups & (VMSIM_GROUP_XSAVE | VMSIM_GROUP_FPU)) {
		enum vmsim_result r = xsave_get(v, groups, s);
		if (r != VMSIM_OK)
			return r;
	}
	if (groups & VMSIM_GROUP_INTERCEPTS)
		s->intercepts = v->intercepts;
	return VMSIM_OK;
}

enum vmsim_result kvmb_state_set(void *p, uint32_t groups, const struct vmsim_cpu_state *s)
{
	struct kvmb_vcpu *v = p;

	if (!v || !s)
		return VMSIM_INVALID_ARGUMENT;
	if ((groups & VMSIM_GROUP_EVENTS) && s->activity > VMSIM_ACTIVITY_WAIT_SIPI)
		return VMSIM_INVALID_ARGUMENT;
	v->state_changed = true;
	/* SREGS before REGS: KVM derives the CPU mode from CR0/EFER/CS, and RIP is checked against it. */
	if (groups & SREGS_GROUPS) {
		enum vmsim_result r = sregs_set(v, groups, s);
		if (r != VMSIM_OK)
			return r;
	}
	if (groups & (VMSIM_GROUP_GPR | VMSIM_GROUP_IP)) {
		struct kvm_regs r;
		if (!kvmb_get_regs(v, &r))
			return VMSIM_BACKEND_ERROR;
		regs_from_state(s, &r, groups);
		if (!kvmb_set_regs(v, &r))
			return VMSIM_INVALID_ARGUMENT;
	}
	if (groups & (VMSIM_GROUP_SYSENTER | VMSIM_GROUP_SYSCALL | VMSIM_GROUP_TSC)) {
		if (!msrs_xfer(v, groups, (struct vmsim_cpu_state *)s, true))
			return VMSIM_INVALID_ARGUMENT;
	}
	if (groups & VMSIM_GROUP_TSC) {
		uint64_t offset = s->tsc_offset;
		if (!tsc_offset_xfer(v, &offset, true))
			return VMSIM_BACKEND_ERROR;
	}
	if (groups & (VMSIM_GROUP_XSAVE | VMSIM_GROUP_FPU)) {
		enum vmsim_result r = xsave_set(v, groups, s);
		if (r != VMSIM_OK)
			return r;
	}
	if (groups & VMSIM_GROUP_EVENTS) {
		struct kvm_vcpu_events e;
		enum vmsim_result r = events_from_state(s, &e);
		if (r != VMSIM_OK)
			return r;
		if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &e) < 0)
			return VMSIM_INVALID_ARGUMENT;
		v->activity = s->activity;
		v->want_intr_window = s->pending.want_intr_window;
		v->want_nmi_window = s->pending.want_nmi_window;
	}
	if (groups & VMSIM_GROUP_PDPTE)
		memcpy(v->pdpte, s->pdpte, sizeof v->pdpte);
	if (groups & VMSIM_GROUP_INTERCEPTS) {
		bool was = v->intercepts & VMSIM_INTERCEPT_MSR, now = s->intercepts & VMSIM_INTERCEPT_MSR;
		if (was != now && !kvmb_msr_intercept(v->vm, now))
			return VMSIM_BACKEND_ERROR;
		v->intercepts = s->intercepts;
	}
	return VMSIM_OK;
}
