/* core/vcpu_exec.c - the execution model: vCPU thread, exit path, with_state, pause (docs/spec.md §execution). */
#include <string.h>

#include "internal.h"

/*
 * Every backend call for a vCPU happens on the vCPU's own thread: in the
 * thread's loop or inside on_exit. Other threads (the entrypoint, pausers)
 * only flip flags under vcpu->lock and wake it. So a backend never sees two
 * threads at once, and an inline handler reaches the backend without a hop.
 */

static const struct vmsim_backend_ops *ops_of(const struct vmsim_vcpu *vcpu)
{
	return vcpu->session->ops;
}

static struct vmsim_env *env_of(const struct vmsim_vcpu *vcpu)
{
	return vcpu->session->env;
}

/* Wake waiters on vcpu->cond; lock held. The exit path skips the syscall-prone call when none wait. */
static void wake(struct vmsim_vcpu *vcpu)
{
	if (vcpu->waiters)
		pthread_cond_broadcast(&vcpu->cond);
}

static void wait_cond(struct vmsim_vcpu *vcpu)
{
	vcpu->waiters++;
	pthread_cond_wait(&vcpu->cond, &vcpu->lock);
	vcpu->waiters--;
}

/* Tell the handler its vCPU is stopped; lock held. */
static void signal_handler(struct vmsim_vcpu *vcpu)
{
	if (vcpu->ep) {
		ep_submit_signal(vcpu->ep, vcpu);
	} else {
		vcpu->signal_pending = true;
		wake(vcpu);
	}
}

/* Build the state with_state will show for this stop; lock held, vCPU thread. */
static void prepare_stop(struct vmsim_vcpu *vcpu, const struct vmsim_exit *exit)
{
	const struct vmsim_backend_ops *ops = ops_of(vcpu);
	struct vmsim_vcpu_state *st = &vcpu->state;
	enum vmsim_model model = vcpu->session->model;
	uint32_t groups = vcpu->exit_config.groups[exit->kind] & VMSIM_GROUP_ALL;

	vmsim_vcpu_state_discharge(st);
	vcpu->fresh_groups = 0;
	if (groups && ops->state_get) {
		enum vmsim_result r = ops->state_get(vcpu->backend_vcpu, groups, &vcpu->cpu);
		if (r == VMSIM_OK) {
			state_from_cpu(groups, &vcpu->cpu, st);
			vcpu->fresh_groups = groups;
		} else {
			vmsim_env_log(env_of(vcpu), VMSIM_LOG_ERROR, "vcpu %u: state_get failed: %s", vcpu->id,
			              vmsim_result_name(r));
		}
	}

	bool events = vcpu->fresh_groups & VMSIM_GROUP_EVENTS;
	if (events && vcpu->cpu.pending.valid) {
		/* an event whose delivery the exit interrupted (EXITINTINFO / IDT-vectoring info) */
		uint64_t info = 0, error = 0;
		if (vmsim_model_encode_event(model, &vcpu->cpu.pending, &info, &error) == VMSIM_OK) {
			vmsim_reg_charge(&st->inj_info, info);
			vmsim_reg_charge(&st->inj_error, error);
		}
	}
	if (vcpu->fresh_groups & VMSIM_GROUP_INTERCEPTS) {
		uint64_t primary = 0, secondary = 0;
		vmsim_model_encode_controls(model, vcpu->cpu.intercepts, &primary, &secondary);
		vmsim_reg_charge(&st->ctrl_primary, primary);
		vmsim_reg_charge(&st->ctrl_secondary, secondary);
	}

	enum vmsim_result r = vmsim_model_encode_exit(model, exit, events ? vcpu->cpu.interruptibility : 0,
	                                              events ? vcpu->cpu.activity : 0, st);
	if (r != VMSIM_OK)
		vmsim_env_log(env_of(vcpu), VMSIM_LOG_ERROR, "vcpu %u: %s model cannot encode a '%s' exit: %s",
		              vcpu->id, vmsim_model_name(model), vmsim_exit_kind_name(exit->kind),
		              vmsim_result_name(r));
	if (!events) {
		/* not transferred: the VMM must not mistake the model's zero for the vCPU's state */
		st->intr_state.charged = false;
		st->actv_state.charged = false;
	}

	vcpu->last_exit = *exit;
	vcpu->exit_counts[exit->kind]++;
	vcpu->exit_fresh = true;
	vcpu->run = VCPU_STOPPED;
	wake(vcpu);
}

/* A stop core makes itself (startup, recall, refused entry): its rip comes from the backend. */
static void prepare_synthetic_stop(struct vmsim_vcpu *vcpu, enum vmsim_exit_kind kind,
                                   enum vmsim_invalid_reason why)
{
	struct vmsim_exit exit = { .kind = kind };
	const struct vmsim_backend_ops *ops = ops_of(vcpu);

	if (kind == VMSIM_EXIT_INVALID_STATE) {
		exit.u.invalid.reason = why;
		exit.rip = vcpu->state.ip.value; /* the rip the VMM asked for */
	} else if (ops->state_get) {
		struct vmsim_cpu_state ip;
		if (ops->state_get(vcpu->backend_vcpu, VMSIM_GROUP_IP, &ip) == VMSIM_OK)
			exit.rip = ip.rip;
	}
	prepare_stop(vcpu, &exit);
}

/* Load what the VMM charged; lock held, vCPU thread. Fails with *why for a refused entry. */
static enum vmsim_result load_charged(struct vmsim_vcpu *vcpu, enum vmsim_invalid_reason *why)
{
	const struct vmsim_backend_ops *ops = ops_of(vcpu);
	const struct vmsim_vcpu_state *st = &vcpu->state;
	struct vmsim_cpu_state *cpu = &vcpu->cpu;
	enum vmsim_model model = vcpu->session->model;
	const uint32_t checked = VMSIM_GROUP_IP | VMSIM_GROUP_CONTROL | VMSIM_GROUP_SEGMENTS | VMSIM_GROUP_EVENTS |
	                         VMSIM_GROUP_INTERCEPTS;
	uint32_t charged = state_charged_groups(st);
	enum vmsim_result r;

	*why = VMSIM_INVALID_NONE;
	if (!charged)
		return VMSIM_OK;

	/*
	 * A state the vCPU ran with was valid; only a change to what the checks read
	 * can make it invalid. rip alone is not among that (the fast path: ip += len).
	 */
	bool check = (charged & (checked & ~VMSIM_GROUP_IP)) || st->flags.charged;
	/* partially charged groups and the entry checks need the rest of their group's values */
	uint32_t fetch = (charged | (check ? checked : 0)) & ~vcpu->fresh_groups;
	if (fetch && ops->state_get) {
		r = ops->state_get(vcpu->backend_vcpu, fetch, cpu);
		if (r != VMSIM_OK) {
			*why = VMSIM_INVALID_BACKEND;
			return r;
		}
		vcpu->fresh_groups |= fetch;
	}
	state_to_cpu(charged, st, cpu);

	if (st->inj_info.charged || st->inj_error.charged) {
		r = vmsim_model_decode_event(model, st->inj_info.value, st->inj_error.value, st->ip_len.value,
		                             &cpu->pending, why);
		if (r != VMSIM_OK)
			return r;
	}
	if (st->intr_state.charged) {
		r = vmsim_model_decode_intr_state(model, st->intr_state.value, &cpu->interruptibility);
		if (r != VMSIM_OK) {
			*why = VMSIM_INVALID_EVENT;
			return r;
		}
	}
	if (st->actv_state.charged) {
		r = vmsim_model_decode_activity(model, st->actv_state.value, &cpu->activity);
		if (r != VMSIM_OK) {
			*why = VMSIM_INVALID_ACTIVITY;
			return r;
		}
	}
	if (charged & VMSIM_GROUP_INTERCEPTS) {
		uint32_t intercepts = 0;
		r = vmsim_model_decode_controls(model, st->ctrl_primary.value, st->ctrl_secondary.value, &intercepts,
		                                why);
		if (r != VMSIM_OK)
			return r;
		cpu->intercepts = intercepts | VCPU_KERNEL_INTERCEPTS;
	}
	if (check) {
		r = vmsim_model_check_entry(model, cpu, why);
		if (r != VMSIM_OK)
			return r;
	}
	if (!ops->state_set)
		return VMSIM_OK;
	r = ops->state_set(vcpu->backend_vcpu, charged, cpu);
	if (r != VMSIM_OK)
		*why = VMSIM_INVALID_BACKEND;
	return r;
}

static void cancel_signal(struct vmsim_vcpu *vcpu)
{
	if (vcpu->ep)
		ep_forget_queued(vcpu->ep, vcpu);
	vcpu->signal_pending = false;
}

/*
 * Wait while stopped; lock held. Runs inline handlers, loads charged state on
 * resume. Returns true to run the guest, false when the vCPU is destroyed.
 */
static bool stopped_loop(struct vmsim_vcpu *vcpu)
{
	for (;;) {
		if (vcpu->destroying)
			return false;
		if (vcpu->resume_requested && vcpu->with_state_depth == 0) {
			enum vmsim_invalid_reason why;
			vcpu->resume_requested = false;
			enum vmsim_result r = load_charged(vcpu, &why);
			if (r != VMSIM_OK) {
				vmsim_env_log(env_of(vcpu), VMSIM_LOG_INFO, "vcpu %u: entry refused (%s, reason %d)",
				              vcpu->id, vmsim_result_name(r), (int)why);
				prepare_synthetic_stop(vcpu, VMSIM_EXIT_INVALID_STATE, why);
				signal_handler(vcpu);
				continue;
			}
			if (vcpu->pause_pending) {
				/* a recall that arrived after the last with_state: stop again, show PAUSED */
				prepare_synthetic_stop(vcpu, VMSIM_EXIT_PAUSED, VMSIM_INVALID_NONE);
				signal_handler(vcpu);
				continue;
			}
			cancel_signal(vcpu);
			vcpu->run = VCPU_RUNNING;
			vcpu->exit_fresh = false;
			vcpu->fresh_groups = 0;
			vcpu->last_exit.kind = VMSIM_EXIT_NONE;
			return true;
		}
		if (!vcpu->ep && vcpu->signal_pending) {
			vcpu->signal_pending = false;
			pthread_mutex_unlock(&vcpu->lock);
			vcpu->handler(vcpu->handler_ctx, vcpu);
			pthread_mutex_lock(&vcpu->lock);
			continue;
		}
		wait_cond(vcpu);
	}
}

/* The backend's exit callback: the whole exit path runs here, inside its hook. */
static enum vmsim_exit_action on_exit(void *ctx, const struct vmsim_exit *exit)
{
	struct vmsim_vcpu *vcpu = ctx;

	if (!exit || (unsigned)exit->kind >= VMSIM_EXIT_KIND_COUNT || exit->kind == VMSIM_EXIT_NONE) {
		vmsim_env_log(env_of(vcpu), VMSIM_LOG_ERROR, "vcpu %u: backend reported an invalid exit", vcpu->id);
		return VMSIM_EXIT_ACTION_STOP;
	}
	pthread_mutex_lock(&vcpu->lock);
	if (vcpu->destroying) {
		pthread_mutex_unlock(&vcpu->lock);
		return VMSIM_EXIT_ACTION_STOP;
	}
	prepare_stop(vcpu, exit);
	signal_handler(vcpu);
	bool run = stopped_loop(vcpu);
	pthread_mutex_unlock(&vcpu->lock);
	return run ? VMSIM_EXIT_ACTION_RESUME : VMSIM_EXIT_ACTION_STOP;
}

void *vcpu_thread_main(void *arg)
{
	struct vmsim_vcpu *vcpu = arg;
	const struct vmsim_backend_ops *ops = ops_of(vcpu);

	pthread_mutex_lock(&vcpu->lock);
	vcpu->self = pthread_self();
	vcpu->self_known = true;
	prepare_synthetic_stop(vcpu, VMSIM_EXIT_STARTUP, VMSIM_INVALID_NONE);
	signal_handler(vcpu);
	bool run = stopped_loop(vcpu);
	while (run) {
		pthread_mutex_unlock(&vcpu->lock);
		enum vmsim_result r = ops->vcpu_run ? ops->vcpu_run(vcpu->backend_vcpu, on_exit, vcpu)
		                                    : VMSIM_UNSUPPORTED;
		pthread_mutex_lock(&vcpu->lock);
		if (vcpu->destroying)
			break;
		if (r != VMSIM_OK) {
			vmsim_env_log(env_of(vcpu), VMSIM_LOG_ERROR, "vcpu %u: backend '%s' run failed: %s", vcpu->id,
			              ops->name, vmsim_result_name(r));
			prepare_synthetic_stop(vcpu, VMSIM_EXIT_INVALID_STATE, VMSIM_INVALID_BACKEND);
			signal_handler(vcpu);
		} else if (vcpu->pause_pending || vcpu->stop_requested) {
			vcpu->stop_requested = false;
			prepare_synthetic_stop(vcpu, VMSIM_EXIT_PAUSED, VMSIM_INVALID_NONE);
			if (vcpu->pause_pending)
				signal_handler(vcpu);
		} else {
			continue; /* a stop whose request an exit already answered: run on */
		}
		run = stopped_loop(vcpu);
	}
	vcpu->exited = true;
	wake(vcpu);
	pthread_mutex_unlock(&vcpu->lock);
	return NULL;
}

void vcpu_exec_request_destroy(struct vmsim_vcpu *vcpu)
{
	vcpu->destroying = true;
	pthread_cond_broadcast(&vcpu->cond);
}

/* lock held for inline vCPUs: self is written by the vCPU thread itself */
static bool on_dispatch_thread(const struct vmsim_vcpu *vcpu)
{
	return vcpu->ep ? ep_is_current(vcpu->ep) : vcpu->self_known && pthread_equal(pthread_self(), vcpu->self);
}

enum vmsim_result vmsim_vcpu_with_state(struct vmsim_vcpu *vcpu, vmsim_with_state_fn fn, void *ctx)
{
	if (!vcpu || !fn)
		return VMSIM_INVALID_ARGUMENT;
	pthread_mutex_lock(&vcpu->lock);
	if (!on_dispatch_thread(vcpu)) {
		pthread_mutex_unlock(&vcpu->lock);
		vmsim_env_log(env_of(vcpu), VMSIM_LOG_WARN,
		              "vcpu %u: with_state refused off the handler's entrypoint thread", vcpu->id);
		return VMSIM_DENIED;
	}
	if (vcpu->run == VCPU_RUNNING && !vcpu->destroying) {
		vcpu->stop_requested = true;
		pthread_mutex_unlock(&vcpu->lock);
		if (ops_of(vcpu)->vcpu_stop)
			ops_of(vcpu)->vcpu_stop(vcpu->backend_vcpu);
		pthread_mutex_lock(&vcpu->lock);
		while (vcpu->run == VCPU_RUNNING && !vcpu->destroying)
			wait_cond(vcpu);
	}
	if (vcpu->destroying) {
		pthread_mutex_unlock(&vcpu->lock);
		return VMSIM_DENIED;
	}
	if (vcpu->pause_pending) {
		if (!vcpu->exit_fresh) {
			/* the recall meets a vCPU that was already stopped: Genode shows PAUSED */
			vcpu->state.exit_reason = VMSIM_EXIT_CODE_PAUSED;
			vcpu->last_exit.kind = VMSIM_EXIT_PAUSED;
			vcpu->exit_counts[VMSIM_EXIT_PAUSED]++;
		}
		vcpu->pause_pending = false;
	}
	/* what the handler was signalled for is shown now: a signal still queued for it would be stale */
	cancel_signal(vcpu);
	vcpu->exit_fresh = false;
	vcpu->with_state_depth++;
	pthread_mutex_unlock(&vcpu->lock);

	bool resume = fn(ctx, &vcpu->state);

	pthread_mutex_lock(&vcpu->lock);
	vcpu->with_state_depth--;
	if (resume)
		vcpu->resume_requested = true;
	wake(vcpu);
	pthread_mutex_unlock(&vcpu->lock);
	return VMSIM_OK;
}

enum vmsim_result vmsim_vcpu_pause(struct vmsim_vcpu *vcpu)
{
	if (!vcpu)
		return VMSIM_INVALID_ARGUMENT;
	pthread_mutex_lock(&vcpu->lock);
	if (vcpu->destroying) {
		pthread_mutex_unlock(&vcpu->lock);
		return VMSIM_DENIED;
	}
	vcpu->pause_pending = true;
	bool running = vcpu->run == VCPU_RUNNING;
	if (!running)
		signal_handler(vcpu);
	pthread_mutex_unlock(&vcpu->lock);
	/* a stop that lands after the vCPU stopped by itself is answered by a spurious return: harmless */
	if (running && ops_of(vcpu)->vcpu_stop)
		ops_of(vcpu)->vcpu_stop(vcpu->backend_vcpu);
	return VMSIM_OK;
}

uint64_t vmsim_vcpu_exit_count(const struct vmsim_vcpu *vcpu, enum vmsim_exit_kind kind)
{
	if (!vcpu || (unsigned)kind >= VMSIM_EXIT_KIND_COUNT)
		return 0;
	struct vmsim_vcpu *v = (struct vmsim_vcpu *)vcpu;
	pthread_mutex_lock(&v->lock);
	uint64_t count = v->exit_counts[kind];
	pthread_mutex_unlock(&v->lock);
	return count;
}

void vmsim_vcpu_last_exit(const struct vmsim_vcpu *vcpu, struct vmsim_exit *out)
{
	if (!vcpu || !out)
		return;
	struct vmsim_vcpu *v = (struct vmsim_vcpu *)vcpu;
	pthread_mutex_lock(&v->lock);
	*out = v->last_exit;
	pthread_mutex_unlock(&v->lock);
}
