/* kvm_run.c - the vCPU's KVM_RUN loop, stopping it from another thread, and turning KVM exits into neutral ones. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "kvm_internal.h"

/*
 * The stop signal stays blocked on the vCPU thread and is unblocked only inside
 * KVM_RUN (KVM_SET_SIGNAL_MASK): a stop that lands just before KVM_RUN is still
 * pending when the kernel checks, so KVM_RUN returns EINTR at once; nothing is
 * ever delivered, so no handler (process-wide state) is needed.
 */
static bool block_stop_signal(struct kvmb_vcpu *v)
{
	sigset_t block, mask;
	struct kvm_signal_mask *km = calloc(1, sizeof *km + 8);
	bool ok;

	if (!km)
		return false;
	sigemptyset(&block);
	sigaddset(&block, kvmb_stop_signal());
	if (pthread_sigmask(SIG_BLOCK, &block, &mask) != 0) {
		free(km);
		return false;
	}
	sigdelset(&mask, kvmb_stop_signal());
	km->len = 8; /* the kernel's sigset_t */
	memcpy(km->sigset, &mask, 8);
	ok = ioctl(v->fd, KVM_SET_SIGNAL_MASK, km) == 0;
	free(km);
	return ok;
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
	enum vmsim_exit_action a = v->on_exit(v->on_exit_ctx, exit);
	if (!kvmb_settle(v, a == VMSIM_EXIT_ACTION_STOP))
		kvmb_log(v->vm, VMSIM_LOG_ERROR, "kvm: vCPU %u: completing a port access: %s", v->id, strerror(errno));
	return a;
}

/* HLT (not intercepted) and shutdown idle here until a stop: there is no interrupt source without the VMM. */
static void idle(struct kvmb_vcpu *v)
{
	pthread_mutex_lock(&v->lock);
	while (!atomic_load(&v->stop_requested))
		pthread_cond_wait(&v->cond, &v->lock);
	pthread_mutex_unlock(&v->lock);
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
		if (kvmb_kvm_run(v) < 0) {
			int err = errno;
			if (err == EINTR || err == EAGAIN)
				continue;
			if (kvmb_fetch_fault(v, &exit)) {
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
		if (!kvmb_translate_exit(v, &exit))
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
