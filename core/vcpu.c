/* core/vcpu.c - vCPU creation charged against the session quota, the registry, and destruction. */
#include <string.h>

#include "internal.h"

void vcpu_registry_init(struct vcpu_registry *registry)
{
	memset(registry, 0, sizeof *registry);
}

/* Make room for id; session->lock held. Grows geometrically: ids are dense and never reused. */
static enum vmsim_result registry_reserve(struct vmsim_session *session, unsigned id)
{
	struct vcpu_registry *reg = &session->vcpus;

	if (id < reg->capacity)
		return VMSIM_OK;
	if (id == ~0u)
		return VMSIM_OUT_OF_CAPS; /* 2^32 - 1 vCPUs created: the id space is spent */
	unsigned capacity = reg->capacity ? reg->capacity : 8;
	while (capacity <= id)
		capacity = capacity > ~0u / 2 ? ~0u : capacity * 2;
	struct vmsim_vcpu **slots = vmsim_env_alloc(session->env, capacity * sizeof *slots);
	if (!slots)
		return VMSIM_OUT_OF_RAM;
	if (reg->slots) {
		memcpy(slots, reg->slots, reg->capacity * sizeof *slots);
		vmsim_env_free(session->env, reg->slots, reg->capacity * sizeof *slots);
	}
	reg->slots = slots;
	reg->capacity = capacity;
	return VMSIM_OK;
}

static enum vmsim_result backend_result(enum vmsim_result r)
{
	/* a backend may only speak the shared vocabulary; anything else is its own failure */
	return (unsigned)r < VMSIM_RESULT_COUNT && r != VMSIM_OK ? r : VMSIM_BACKEND_ERROR;
}

/* The backend half of a new vCPU: its backend vCPU with the kernel's own intercepts set. Nothing
 * is left behind on failure. */
static enum vmsim_result attach_backend(struct vmsim_session *session, struct vmsim_vcpu *vcpu)
{
	const struct vmsim_backend_ops *ops = session->ops;
	enum vmsim_result r = ops->vcpu_create(session->backend_vm, vcpu->id, &vcpu->backend_vcpu);

	if (r != VMSIM_OK || !vcpu->backend_vcpu) {
		vmsim_env_log(session->env, VMSIM_LOG_ERROR, "session '%s': backend '%s' vcpu_create failed: %s",
		              session->label, ops->name, vmsim_result_name(r));
		return backend_result(r);
	}
	if (ops->state_set) {
		/* what a hypervisor kernel intercepts before the VMM charges any control */
		vcpu->cpu.intercepts = VCPU_KERNEL_INTERCEPTS | session->forced_intercepts;
		r = ops->state_set(vcpu->backend_vcpu, VMSIM_GROUP_INTERCEPTS, &vcpu->cpu);
		if (r != VMSIM_OK) {
			ops->vcpu_destroy(vcpu->backend_vcpu);
			return backend_result(r);
		}
	}
	return VMSIM_OK;
}

/* The vCPU's lock, condition and thread, bound to its entrypoint. Nothing is left behind on failure. */
static enum vmsim_result start_thread(struct vmsim_session *session, struct vmsim_vcpu *vcpu)
{
	pthread_mutex_init(&vcpu->lock, NULL);
	pthread_cond_init(&vcpu->cond, NULL);
	if (vcpu->ep)
		ep_bind(vcpu->ep);
	if (pthread_create(&vcpu->thread, NULL, vcpu_thread_main, vcpu) == 0)
		return VMSIM_OK;
	vmsim_env_log(session->env, VMSIM_LOG_ERROR, "session '%s': cannot start a vCPU thread", session->label);
	if (vcpu->ep)
		ep_unbind(vcpu->ep);
	pthread_cond_destroy(&vcpu->cond);
	pthread_mutex_destroy(&vcpu->lock);
	return VMSIM_OUT_OF_RAM;
}

enum vmsim_result vmsim_vcpu_create(struct vmsim_session *session, const struct vmsim_vcpu_args *args,
                                    struct vmsim_vcpu **out)
{
	if (!session || !args || !args->handler || !out)
		return VMSIM_INVALID_ARGUMENT;
	*out = NULL;

	struct vmsim_env *env = session->env;
	struct vmsim_vcpu *vcpu = NULL;
	enum vmsim_result r;

	pthread_mutex_lock(&session->lock);
	r = session_charge(session, VMSIM_COST_VCPU_RAM, VMSIM_COST_VCPU_CAPS);
	if (r != VMSIM_OK)
		goto out_unlock;

	unsigned id = session->vcpus.next_id;
	r = registry_reserve(session, id);
	if (r != VMSIM_OK)
		goto out_uncharge;
	vcpu = vmsim_env_alloc(env, sizeof *vcpu);
	if (!vcpu) {
		r = VMSIM_OUT_OF_RAM;
		goto out_uncharge;
	}
	vcpu->session = session;
	vcpu->id = id;
	vcpu->handler = args->handler;
	vcpu->handler_ctx = args->handler_ctx;
	vcpu->ep = args->entrypoint;
	if (args->exit_config)
		vcpu->exit_config = *args->exit_config;
	else
		vmsim_exit_config_all(&vcpu->exit_config);
	vcpu->run = VCPU_STOPPED;

	r = attach_backend(session, vcpu);
	if (r != VMSIM_OK)
		goto out_free;
	r = start_thread(session, vcpu);
	if (r != VMSIM_OK)
		goto out_backend;
	session->vcpus.slots[id] = vcpu;
	session->vcpus.next_id = id + 1;
	session->vcpus.live++;
	pthread_mutex_unlock(&session->lock);
	*out = vcpu;
	return VMSIM_OK;

out_backend:
	session->ops->vcpu_destroy(vcpu->backend_vcpu);
out_free:
	vmsim_env_free(env, vcpu, sizeof *vcpu);
out_uncharge:
	session_uncharge(session, VMSIM_COST_VCPU_RAM, VMSIM_COST_VCPU_CAPS);
out_unlock:
	pthread_mutex_unlock(&session->lock);
	return r;
}

enum vmsim_result vmsim_vcpu_destroy(struct vmsim_vcpu *vcpu)
{
	if (!vcpu)
		return VMSIM_INVALID_ARGUMENT;
	struct vmsim_session *session = vcpu->session;
	const struct vmsim_backend_ops *ops = session->ops;

	if (pthread_equal(pthread_self(), vcpu->thread)) {
		vmsim_env_log(session->env, VMSIM_LOG_ERROR,
		              "vcpu %u: cannot be destroyed from its own inline handler; destroy it from another thread",
		              vcpu->id);
		return VMSIM_DENIED;
	}
	pthread_mutex_lock(&vcpu->lock);
	vcpu_exec_request_destroy(vcpu);
	pthread_mutex_unlock(&vcpu->lock);
	if (ops->vcpu_stop)
		ops->vcpu_stop(vcpu->backend_vcpu);
	if (vcpu->ep)
		ep_forget_vcpu(vcpu->ep, vcpu);
	pthread_join(vcpu->thread, NULL);
	ops->vcpu_destroy(vcpu->backend_vcpu);

	pthread_mutex_lock(&session->lock);
	session->vcpus.slots[vcpu->id] = NULL;
	session->vcpus.live--;
	session_uncharge(session, VMSIM_COST_VCPU_RAM, VMSIM_COST_VCPU_CAPS);
	pthread_mutex_unlock(&session->lock);

	if (vcpu->ep)
		ep_unbind(vcpu->ep);
	pthread_cond_destroy(&vcpu->cond);
	pthread_mutex_destroy(&vcpu->lock);
	vmsim_env_free(session->env, vcpu, sizeof *vcpu);
	return VMSIM_OK;
}

void vcpu_registry_destroy_all(struct vmsim_session *session)
{
	struct vcpu_registry *reg = &session->vcpus;

	for (unsigned id = 0; id < reg->next_id; id++) {
		pthread_mutex_lock(&session->lock);
		struct vmsim_vcpu *vcpu = reg->slots ? reg->slots[id] : NULL;
		pthread_mutex_unlock(&session->lock);
		if (vcpu)
			(void)vmsim_vcpu_destroy(vcpu); /* close runs on no vCPU thread: it cannot be DENIED */
	}
	if (reg->slots)
		vmsim_env_free(session->env, reg->slots, reg->capacity * sizeof *reg->slots);
	memset(reg, 0, sizeof *reg);
}

unsigned vmsim_vcpu_id(const struct vmsim_vcpu *vcpu)
{
	return vcpu ? vcpu->id : ~0u;
}

struct vmsim_session *vmsim_vcpu_session(const struct vmsim_vcpu *vcpu)
{
	return vcpu ? vcpu->session : NULL;
}

const struct vmsim_exit_config *vmsim_vcpu_exit_config(const struct vmsim_vcpu *vcpu)
{
	return vcpu ? &vcpu->exit_config : NULL;
}

struct vmsim_vcpu *vmsim_session_vcpu(const struct vmsim_session *session, unsigned id)
{
	if (!session)
		return NULL;
	struct vmsim_session *s = (struct vmsim_session *)session;
	pthread_mutex_lock(&s->lock);
	struct vmsim_vcpu *vcpu = id < s->vcpus.capacity ? s->vcpus.slots[id] : NULL;
	pthread_mutex_unlock(&s->lock);
	return vcpu;
}

unsigned vmsim_session_vcpu_count(const struct vmsim_session *session)
{
	if (!session)
		return 0;
	struct vmsim_session *s = (struct vmsim_session *)session;
	pthread_mutex_lock(&s->lock);
	unsigned live = s->vcpus.live;
	pthread_mutex_unlock(&s->lock);
	return live;
}

void vmsim_session_for_each_vcpu(const struct vmsim_session *session,
                                 bool (*fn)(void *ctx, struct vmsim_vcpu *vcpu), void *ctx)
{
	if (!session || !fn)
		return;
	/* look up id by id without holding the lock across fn: fn may create or destroy vCPUs */
	for (unsigned id = 0;; id++) {
		struct vmsim_session *s = (struct vmsim_session *)session;
		pthread_mutex_lock(&s->lock);
		unsigned end = s->vcpus.next_id;
		struct vmsim_vcpu *vcpu = id < end ? s->vcpus.slots[id] : NULL;
		pthread_mutex_unlock(&s->lock);
		if (id >= end)
			return;
		if (vcpu && !fn(ctx, vcpu))
			return;
	}
}

enum vmsim_result vmsim_vcpu_native(struct vmsim_vcpu *vcpu, struct vmsim_native_vcpu *out)
{
	if (!vcpu || !out)
		return VMSIM_INVALID_ARGUMENT;
	const struct vmsim_backend_ops *ops = vcpu->session->ops;
	memset(out, 0, sizeof *out);
	out->fd = -1;
	if (!ops->native)
		return VMSIM_UNSUPPORTED;
	enum vmsim_result r = ops->native(vcpu->backend_vcpu, out);
	out->backend = ops->name;
	return r == VMSIM_OK ? VMSIM_OK : backend_result(r);
}

enum vmsim_result vmsim_vcpu_intercept_exceptions(struct vmsim_vcpu *vcpu, uint32_t vectors)
{
	/* vector 2 is the NMI: both models report it by its own intercept, never as an exception exit */
	if (!vcpu || (vectors & (1u << 2)))
		return VMSIM_INVALID_ARGUMENT;
	if (vectors && !(vcpu->session->ops->caps & VMSIM_CAP_EXCEPTION_INTERCEPT))
		return VMSIM_UNSUPPORTED;
	/* the vCPU thread applies it at its next entry (vcpu_exec.c load_charged): no lock, it may be running */
	atomic_store_explicit(&vcpu->exception_request, vectors, memory_order_relaxed);
	atomic_fetch_or_explicit(&vcpu->ctl, VCPU_CTL_EXCEPTIONS, memory_order_release);
	return VMSIM_OK;
}

enum vmsim_result vmsim_vcpu_cpuid_set(struct vmsim_vcpu *vcpu, const struct vmsim_cpuid_entry *entries,
                                       uint32_t count)
{
	if (!vcpu || (!entries && count) || count > VMSIM_CPUID_MAX_ENTRIES)
		return VMSIM_INVALID_ARGUMENT;
	const struct vmsim_backend_ops *ops = vcpu->session->ops;
	size_t end = offsetof(struct vmsim_backend_ops, cpuid_set) + sizeof ops->cpuid_set;
	if (ops->struct_size < end || !ops->cpuid_set)
		return VMSIM_UNSUPPORTED;
	for (uint32_t i = 0; i < count; i++)
		if (entries[i].flags & ~(uint32_t)VMSIM_CPUID_BY_SUBLEAF)
			return VMSIM_INVALID_ARGUMENT;
	/* under the lock: the vCPU thread sets ran under it before its first vcpu_run, so the table cannot race it */
	pthread_mutex_lock(&vcpu->lock);
	enum vmsim_result r = vcpu->ran ? VMSIM_DENIED : ops->cpuid_set(vcpu->backend_vcpu, entries, count);
	pthread_mutex_unlock(&vcpu->lock);
	return r == VMSIM_OK || r == VMSIM_DENIED ? r : backend_result(r);
}
