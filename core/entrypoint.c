/* core/entrypoint.c - Genode's Entrypoint: one thread dispatching vCPU signals and posted jobs in order. */
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#include "internal.h"

struct vmsim_entrypoint {
	struct vmsim_env *env;
	char name[64];
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ep_node *head, *tail;          /* under lock */
	struct vmsim_vcpu *dispatching;       /* whose handler runs now, under lock */
	atomic_uint posted;                   /* bumped by every enqueue: what a spinning ep thread watches */
	unsigned bound;                       /* vCPUs using this ep, under lock */
	bool stopping;
};

static void enqueue(struct vmsim_entrypoint *ep, struct ep_node *node)
{
	node->next = NULL;
	node->queued = true;
	if (ep->tail)
		ep->tail->next = node;
	else
		ep->head = node;
	ep->tail = node;
	atomic_fetch_add_explicit(&ep->posted, 1, memory_order_release);
	pthread_cond_broadcast(&ep->cond);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool spin_until_changed(atomic_uint *word, unsigned seen, uint64_t ns)
{
	uint64_t until = now_ns() + ns;

	for (unsigned i = 1;; i++) {
		if (atomic_load_explicit(word, memory_order_acquire) != seen)
			return true;
		if (i < 64) {
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#endif
			continue;
		}
		/* past a few microseconds, yield: on a loaded host the thread to hand off to may need this core */
		sched_yield();
		if (now_ns() >= until)
			return false;
	}
}

static void unlink_node(struct vmsim_entrypoint *ep, struct ep_node *node)
{
	struct ep_node **link = &ep->head, *prev = NULL;

	while (*link && *link != node) {
		prev = *link;
		link = &(*link)->next;
	}
	if (!*link)
		return;
	*link = node->next;
	if (ep->tail == node)
		ep->tail = prev;
	node->queued = false;
	node->next = NULL;
}

static void *ep_main(void *arg)
{
	struct vmsim_entrypoint *ep = arg;

	pthread_mutex_lock(&ep->lock);
	for (;;) {
		if (!ep->head && !ep->stopping) {
			/* the next signal usually follows within microseconds: spin a bounded while, then block */
			unsigned seen = atomic_load_explicit(&ep->posted, memory_order_relaxed);
			pthread_mutex_unlock(&ep->lock);
			spin_until_changed(&ep->posted, seen, EP_SPIN_NS);
			pthread_mutex_lock(&ep->lock);
		}
		while (!ep->head && !ep->stopping)
			pthread_cond_wait(&ep->cond, &ep->lock);
		if (!ep->head)
			break; /* stopping with nothing left to do */
		struct ep_node *node = ep->head;
		unlink_node(ep, node);
		struct vmsim_vcpu *vcpu = node->vcpu;
		ep->dispatching = vcpu;
		pthread_mutex_unlock(&ep->lock);

		if (vcpu)
			vcpu->handler(vcpu->handler_ctx, vcpu);
		else {
			node->fn(node->ctx);
			vmsim_env_free(ep->env, node, sizeof *node);
		}

		pthread_mutex_lock(&ep->lock);
		ep->dispatching = NULL;
		pthread_cond_broadcast(&ep->cond);
	}
	pthread_mutex_unlock(&ep->lock);
	return NULL;
}

enum vmsim_result vmsim_entrypoint_create(struct vmsim_env *env, const char *name, struct vmsim_entrypoint **out)
{
	if (!env || !out)
		return VMSIM_INVALID_ARGUMENT;
	*out = NULL;
	struct vmsim_entrypoint *ep = vmsim_env_alloc(env, sizeof *ep);
	if (!ep)
		return VMSIM_OUT_OF_RAM;
	ep->env = env;
	strncpy(ep->name, name ? name : "ep", sizeof ep->name - 1);
	pthread_mutex_init(&ep->lock, NULL);
	pthread_cond_init(&ep->cond, NULL);
	if (pthread_create(&ep->thread, NULL, ep_main, ep) != 0) {
		pthread_cond_destroy(&ep->cond);
		pthread_mutex_destroy(&ep->lock);
		vmsim_env_free(env, ep, sizeof *ep);
		return VMSIM_OUT_OF_RAM;
	}
	*out = ep;
	return VMSIM_OK;
}

enum vmsim_result vmsim_entrypoint_destroy(struct vmsim_entrypoint *ep)
{
	if (!ep)
		return VMSIM_INVALID_ARGUMENT;
	if (ep_is_current(ep))
		return VMSIM_DENIED;
	pthread_mutex_lock(&ep->lock);
	if (ep->bound) {
		pthread_mutex_unlock(&ep->lock);
		vmsim_env_log(ep->env, VMSIM_LOG_ERROR, "entrypoint '%s': %u vCPUs still bound", ep->name, ep->bound);
		return VMSIM_DENIED;
	}
	ep->stopping = true; /* posted jobs still run before the thread leaves */
	pthread_cond_broadcast(&ep->cond);
	pthread_mutex_unlock(&ep->lock);
	pthread_join(ep->thread, NULL);
	pthread_cond_destroy(&ep->cond);
	pthread_mutex_destroy(&ep->lock);
	vmsim_env_free(ep->env, ep, sizeof *ep);
	return VMSIM_OK;
}

enum vmsim_result vmsim_entrypoint_post(struct vmsim_entrypoint *ep, void (*fn)(void *ctx), void *ctx)
{
	if (!ep || !fn)
		return VMSIM_INVALID_ARGUMENT;
	struct ep_node *node = vmsim_env_alloc(ep->env, sizeof *node);
	if (!node)
		return VMSIM_OUT_OF_RAM;
	node->fn = fn;
	node->ctx = ctx;
	pthread_mutex_lock(&ep->lock);
	if (ep->stopping) {
		pthread_mutex_unlock(&ep->lock);
		vmsim_env_free(ep->env, node, sizeof *node);
		return VMSIM_DENIED;
	}
	enqueue(ep, node);
	pthread_mutex_unlock(&ep->lock);
	return VMSIM_OK;
}

bool vmsim_entrypoint_current(const struct vmsim_entrypoint *ep)
{
	return ep && ep_is_current(ep);
}

bool ep_is_current(const struct vmsim_entrypoint *ep)
{
	return pthread_equal(pthread_self(), ep->thread);
}

void ep_bind(struct vmsim_entrypoint *ep)
{
	pthread_mutex_lock(&ep->lock);
	ep->bound++;
	pthread_mutex_unlock(&ep->lock);
}

void ep_unbind(struct vmsim_entrypoint *ep)
{
	pthread_mutex_lock(&ep->lock);
	ep->bound--;
	pthread_mutex_unlock(&ep->lock);
}

void ep_submit_signal(struct vmsim_entrypoint *ep, struct vmsim_vcpu *vcpu)
{
	pthread_mutex_lock(&ep->lock);
	if (!vcpu->signal.queued) {
		vcpu->signal.vcpu = vcpu;
		enqueue(ep, &vcpu->signal);
	}
	pthread_mutex_unlock(&ep->lock);
}

void ep_forget_queued(struct vmsim_entrypoint *ep, struct vmsim_vcpu *vcpu)
{
	pthread_mutex_lock(&ep->lock);
	if (vcpu->signal.queued)
		unlink_node(ep, &vcpu->signal);
	pthread_mutex_unlock(&ep->lock);
}

void ep_forget_vcpu(struct vmsim_entrypoint *ep, struct vmsim_vcpu *vcpu)
{
	pthread_mutex_lock(&ep->lock);
	if (vcpu->signal.queued)
		unlink_node(ep, &vcpu->signal);
	/* From the ep thread itself the caller is the running handler: it knows what it does. */
	while (ep->dispatching == vcpu && !ep_is_current(ep))
		pthread_cond_wait(&ep->cond, &ep->lock);
	pthread_mutex_unlock(&ep->lock);
}
