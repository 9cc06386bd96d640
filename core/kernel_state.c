/* core/kernel_state.c - kernel-state mode: check the page or VMCB/VMCS a backend's kernel produced (docs/spec.md). */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <vmsim/genode_layout.h>
#include <vmsim/hwstate.h>

#include "internal.h"

/* The image as a vmsim_vcpu_state; the converter's refusal otherwise. */
static enum vmsim_result to_state(const struct vmsim_session *session, const struct vmsim_kernel_state *ks,
                                  struct vmsim_vcpu_state *out)
{
	if (!ks->image)
		return VMSIM_INVALID_ARGUMENT;
	switch (ks->format) {
	case VMSIM_KERNEL_STATE_VCPU_STATE:
		if (ks->size != sizeof *out)
			return VMSIM_INVALID_ARGUMENT;
		memcpy(out, ks->image, sizeof *out);
		return VMSIM_OK;
	case VMSIM_KERNEL_STATE_GENODE_2023:
		return vmsim_genode_layout_import(VMSIM_GENODE_LAYOUT_2023, ks->image, ks->size, out);
	case VMSIM_KERNEL_STATE_GENODE_2024:
		return vmsim_genode_layout_import(VMSIM_GENODE_LAYOUT_2024, ks->image, ks->size, out);
	case VMSIM_KERNEL_STATE_VMCB: {
		/* -1 passes through as 0xffffffff only where the session's kernel does that (base-hw) */
		unsigned flags = session->profile->svm_invalid_exit == VMSIM_EXIT_CODE_SVM_INVALID
		                         ? VMSIM_HWSTATE_SVM_INVALID_AS_FD
		                         : 0;
		return vmsim_hwstate_from_vmcb(ks->image, ks->size, flags, out);
	}
	case VMSIM_KERNEL_STATE_VMCS:
		if (ks->size != sizeof(struct vmsim_vmcs))
			return VMSIM_INVALID_ARGUMENT;
		return vmsim_hwstate_from_vmcs(ks->image, out);
	}
	return VMSIM_INVALID_ARGUMENT;
}

static void say(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
}

/* What the decoded kernel exit and the backend's neutral exit must share; why stays "" when they do. */
static void compare_exits(const struct vmsim_exit *k, const struct vmsim_exit *e, char *why, size_t size)
{
	if (k->kind != e->kind) {
		say(why, size, "it decodes to a '%s' exit", vmsim_exit_kind_name(k->kind));
		return;
	}
	switch (e->kind) {
	case VMSIM_EXIT_IO:
		if (k->u.io.port != e->u.io.port)
			say(why, size, "port 0x%x, the exit's 0x%x", k->u.io.port, e->u.io.port);
		else if (k->u.io.size != e->u.io.size || k->u.io.in != e->u.io.in || k->u.io.string != e->u.io.string ||
		         k->u.io.rep != e->u.io.rep)
			say(why, size, "I/O size/direction/string/REP %u/%d/%d/%d, the exit's %u/%d/%d/%d", k->u.io.size,
			    k->u.io.in, k->u.io.string, k->u.io.rep, e->u.io.size, e->u.io.in, e->u.io.string, e->u.io.rep);
		break;
	case VMSIM_EXIT_NPF:
		if (k->u.npf.gpa != e->u.npf.gpa)
			say(why, size, "gpa 0x%llx, the exit's 0x%llx", (unsigned long long)k->u.npf.gpa,
			    (unsigned long long)e->u.npf.gpa);
		break;
	case VMSIM_EXIT_MSR:
		if (k->u.msr.write != e->u.msr.write)
			say(why, size, "an MSR %s, the exit's %s", k->u.msr.write ? "write" : "read",
			    e->u.msr.write ? "write" : "read");
		break;
	case VMSIM_EXIT_EXCEPTION:
		if (k->u.exception.vector != VMSIM_VECTOR_UNKNOWN && k->u.exception.vector != e->u.exception.vector)
			say(why, size, "vector %u, the exit's %u", k->u.exception.vector, e->u.exception.vector);
		break;
	default:
		break;
	}
}

/* The counters are written on the vCPU thread, with or without vcpu->lock (the fast path), and read anywhere. */
static void stats_lock(struct vmsim_vcpu *vcpu)
{
	while (atomic_exchange_explicit(&vcpu->kernel_state_busy, true, memory_order_acquire))
		;
}

static void stats_unlock(struct vmsim_vcpu *vcpu)
{
	atomic_store_explicit(&vcpu->kernel_state_busy, false, memory_order_release);
}

/* Apart from kernel_state_check: its ~3 KB frame cost every exit ~2 ns of prologue when the check is off. */
__attribute__((noinline)) static void compare_with_kernel(struct vmsim_vcpu *vcpu, const struct vmsim_exit *exit)
{
	const struct vmsim_backend_ops *ops = vcpu->session->ops;
	enum vmsim_model model = vcpu->session->model;
	struct vmsim_kernel_state ks = { 0 };
	enum vmsim_result r = ops->kernel_state(vcpu->backend_vcpu, &ks);
	if (r == VMSIM_UNSUPPORTED)
		return;

	char why[sizeof vcpu->kernel_state.last] = "";
	struct vmsim_vcpu_state kst;
	struct vmsim_exit kexit;
	vmsim_vcpu_state_clear(&kst);
	if (r != VMSIM_OK) {
		say(why, sizeof why, "kernel_state failed: %s", vmsim_result_name(r));
	} else if ((r = to_state(vcpu->session, &ks, &kst)) != VMSIM_OK) {
		say(why, sizeof why, "image (format %d, %zu bytes) refused: %s", (int)ks.format, ks.size,
		    vmsim_result_name(r));
	} else if (kst.exit_reason != vcpu->state.exit_reason) {
		say(why, sizeof why, "exit_reason 0x%x, the model's 0x%x", kst.exit_reason, vcpu->state.exit_reason);
	} else if ((r = vmsim_model_decode_exit(model, &kst, &kexit)) != VMSIM_OK) {
		say(why, sizeof why, "the %s model refuses it (%s)", vmsim_model_name(model), vmsim_result_name(r));
	} else {
		compare_exits(&kexit, exit, why, sizeof why);
		if (!why[0] && vmsim_charged(&kst, ip) && kst.ip.value != exit->rip)
			say(why, sizeof why, "ip 0x%llx, the exit's 0x%llx", (unsigned long long)kst.ip.value,
			    (unsigned long long)exit->rip);
	}
	stats_lock(vcpu);
	vcpu->kernel_state.checked++;
	if (why[0]) {
		vcpu->kernel_state.mismatches++;
		memcpy(vcpu->kernel_state.last, why, sizeof why);
	}
	stats_unlock(vcpu);
	if (!why[0])
		return;
	session_log(vcpu->session, VMSIM_LOG_ERROR, "vcpu %u: kernel state for a '%s' exit differs from the model: %s",
	            vcpu->id, vmsim_exit_kind_name(exit->kind), why);
}

void kernel_state_check(struct vmsim_vcpu *vcpu, const struct vmsim_exit *exit)
{
	const struct vmsim_backend_ops *ops = vcpu->session->ops;

	if (ops->struct_size < offsetof(struct vmsim_backend_ops, kernel_state) + sizeof ops->kernel_state ||
	    !ops->kernel_state || exit->kind == VMSIM_EXIT_STARTUP || exit->kind == VMSIM_EXIT_INVALID_STATE)
		return; /* off, or one of core's own stops */
	compare_with_kernel(vcpu, exit);
}

void vmsim_vcpu_kernel_state_stats(const struct vmsim_vcpu *vcpu, struct vmsim_kernel_state_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof *out);
	if (!vcpu)
		return;
	struct vmsim_vcpu *v = (struct vmsim_vcpu *)vcpu;
	stats_lock(v);
	*out = v->kernel_state;
	stats_unlock(v);
}
