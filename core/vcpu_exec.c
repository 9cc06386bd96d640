/* core/vcpu_exec.c - the execution model: vCPU thread, exit path, with_state, pause (docs/spec.md §execution). */
#include <stddef.h>
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

/* Wake waiters on vcpu->cond and spinners; lock held. The syscall-prone broadcast only when some block. */
static void wake(struct vmsim_vcpu *vcpu)
{
	atomic_fetch_add_explicit(&vcpu->kicks, 1, memory_order_release);
	if (vcpu->waiters)
		pthread_cond_broadcast(&vcpu->cond);
}

/*
 * Before blocking, a vCPU whose handler runs on an entrypoint spins a bounded
 * while for the entrypoint's answer: a futex wake-up per hand-off cost 15-25 us
 * here (docs/benchmarks.md), a spin hand-off a few hundred ns. Bounded, so an
 * idle vCPU burns no core; lock held on entry and exit. True if kicked.
 */
static bool spin_for_kick(struct vmsim_vcpu *vcpu)
{
	unsigned seen = atomic_load_explicit(&vcpu->kicks, memory_order_relaxed);
	bool kicked = false;

	pthread_mutex_unlock(&vcpu->lock);
	kicked = spin_until_changed(&vcpu->kicks, seen, VCPU_SPIN_NS);
	pthread_mutex_lock(&vcpu->lock);
	return kicked;
}

static void wait_cond(struct vmsim_vcpu *vcpu)
{
	vcpu->waiters++;
	pthread_cond_wait(&vcpu->cond, &vcpu->lock);
	vcpu->waiters--;
}

static uint32_t ctl_of(const struct vmsim_vcpu *vcpu)
{
	return atomic_load_explicit(&((struct vmsim_vcpu *)vcpu)->ctl, memory_order_acquire);
}

static bool pause_pending(const struct vmsim_vcpu *vcpu)
{
	return ctl_of(vcpu) & VCPU_CTL_PAUSE;
}

static bool destroying(const struct vmsim_vcpu *vcpu)
{
	return ctl_of(vcpu) & VCPU_CTL_DESTROY;
}

/* Only one thread shows stops at a time (the vCPU thread, or the dispatcher while it is stopped): no RMW. */
static void count_exit(struct vmsim_vcpu *vcpu, enum vmsim_exit_kind kind)
{
	uint64_t n = atomic_load_explicit(&vcpu->exit_counts[kind], memory_order_relaxed);
	atomic_store_explicit(&vcpu->exit_counts[kind], n + 1, memory_order_relaxed);
}

/* A seqlock over atomic words, so any thread may read the last exit while the vCPU thread runs unlocked. */
static void publish_words(struct vmsim_vcpu *vcpu, const void *words, unsigned n)
{
	unsigned seq = atomic_load_explicit(&vcpu->last_exit_seq, memory_order_relaxed);

	/* release stores instead of fences (TSan models no fences): no word moves above the odd sequence */
	atomic_store_explicit(&vcpu->last_exit_seq, seq + 1, memory_order_relaxed);
	for (unsigned i = 0; i < n; i++) {
		uint64_t word;
		memcpy(&word, (const char *)words + 8 * i, 8);
		atomic_store_explicit(&vcpu->last_exit_words[i], word, memory_order_release);
	}
	atomic_store_explicit(&vcpu->last_exit_seq, seq + 2, memory_order_release);
}

static void publish_last_exit(struct vmsim_vcpu *vcpu, const struct vmsim_exit *exit)
{
	_Static_assert(sizeof(struct vmsim_exit) % 8 == 0, "vmsim_exit copies as whole words");
	publish_words(vcpu, exit, sizeof vcpu->last_exit_words / sizeof vcpu->last_exit_words[0]);
}

/*
 * Running again: kind NONE. Only the first word, which holds kind, is rewritten, built here rather than from a
 * zeroed vmsim_exit (its memset was ~2 % of an inline exit).
 */
static void publish_running(struct vmsim_vcpu *vcpu)
{
	_Static_assert(offsetof(struct vmsim_exit, kind) == 0 && sizeof(enum vmsim_exit_kind) <= 8,
	               "kind lies in the first word");
	enum vmsim_exit_kind none = VMSIM_EXIT_NONE;
	uint64_t word = 0;
	memcpy(&word, &none, sizeof none);
	publish_words(vcpu, &word, 1);
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

/* Build the state with_state will show for this stop; vCPU thread, lock held unless on the fast path. */
static void prepare_stop(struct vmsim_vcpu *vcpu, const struct vmsim_exit *exit)
{
	const struct vmsim_backend_ops *ops = ops_of(vcpu);
	struct vmsim_vcpu_state *st = &vcpu->state;
	enum vmsim_model model = vcpu->session->model;
	uint32_t groups = vcpu->exit_config.groups[exit->kind] & VMSIM_GROUP_ALL;

	/* nothing touches the state between a resume and the next stop: what load_charged found is all there is */
	state_discharge_groups(st, vcpu->charged_groups);
	vcpu->charged_groups = 0;
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
			vmsim_charge(st, inj_info, info);
			vmsim_charge(st, inj_error, error);
		}
	}
	if (vcpu->fresh_groups & VMSIM_GROUP_INTERCEPTS) {
		uint64_t primary = 0, secondary = 0;
		vmsim_model_encode_controls(model, vcpu->cpu.intercepts, &primary, &secondary);
		vmsim_profile_controls(vcpu->session->profile, model, &primary, &secondary);
		vmsim_charge(st, ctrl_primary, primary);
		vmsim_charge(st, ctrl_secondary, secondary);
	}

	enum vmsim_result r = vmsim_model_encode_exit(model, exit, events ? vcpu->cpu.interruptibility : 0,
	                                              events ? vcpu->cpu.activity : 0, st);
	st->exit_reason = vmsim_profile_exit_reason(vcpu->session->profile, model, st->exit_reason);
	if (r != VMSIM_OK)
		vmsim_env_log(env_of(vcpu), VMSIM_LOG_ERROR, "vcpu %u: %s model cannot encode a '%s' exit: %s",
		              vcpu->id, vmsim_model_name(model), vmsim_exit_kind_name(exit->kind),
		              vmsim_result_name(r));
	if (!events) {
		/* not transferred: the VMM must not mistake the model's zero for the vCPU's state */
		vmsim_uncharge(st, intr_state);
		vmsim_uncharge(st, actv_state);
	}

	kernel_state_check(vcpu, exit); /* kernel-state mode: the backend's kernel page against this encoding */
	publish_last_exit(vcpu, exit);
	count_exit(vcpu, exit->kind);
	vcpu->exit_fresh = true;
	vcpu->run = VCPU_STOPPED;
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
	wake(vcpu);
}

typedef enum vmsim_result (*regs_set_fn)(void *vcpu, uint32_t regs, const struct vmsim_cpu_state *in);

static regs_set_fn regs_set_of(const struct vmsim_backend_ops *ops)
{
	size_t end = offsetof(struct vmsim_backend_ops, regs_set) + sizeof ops->regs_set;
	return ops->struct_size >= end ? ops->regs_set : NULL;
}

/* The model-encoded fields the VMM charged (injection, interruptibility, activity, controls) into cpu. */
static enum vmsim_result decode_model_fields(struct vmsim_vcpu *vcpu, uint32_t charged, enum vmsim_invalid_reason *why)
{
	const struct vmsim_vcpu_state *st = &vcpu->state;
	struct vmsim_cpu_state *cpu = &vcpu->cpu;
	enum vmsim_model model = vcpu->session->model;
	enum vmsim_result r;

	if (vmsim_charged(st, inj_info) || vmsim_charged(st, inj_error)) {
		r = vmsim_model_decode_event(model, st->inj_info.value, st->inj_error.value, st->ip_len.value,
		                             &cpu->pending, why);
		if (r != VMSIM_OK)
			return r;
	}
	if (vmsim_charged(st, intr_state)) {
		r = vmsim_model_decode_intr_state(model, st->intr_state.value, &cpu->interruptibility);
		if (r != VMSIM_OK) {
			*why = VMSIM_INVALID_EVENT;
			return r;
		}
	}
	if (vmsim_charged(st, actv_state)) {
		r = vmsim_model_decode_activity(model, st->actv_state.value, &cpu->activity);
		if (r != VMSIM_OK) {
			*why = VMSIM_INVALID_ACTIVITY;
			return r;
		}
	}
	if (charged & VMSIM_GROUP_INTERCEPTS) {
		uint32_t intercepts = 0;
		uint64_t primary = st->ctrl_primary.value, secondary = st->ctrl_secondary.value;
		vmsim_profile_controls(vcpu->session->profile, model, &primary, &secondary); /* what the kernel forces */
		r = vmsim_model_decode_controls(model, primary, secondary, &intercepts, why);
		if (r != VMSIM_OK)
			return r;
		cpu->intercepts = intercepts | VCPU_KERNEL_INTERCEPTS;
	}
	return VMSIM_OK;
}

/* The vectors vmsim_vcpu_intercept_exceptions asked for, beside the intercepts core keeps current in cpu. */
static enum vmsim_result load_exception_intercepts(struct vmsim_vcpu *vcpu)
{
	const struct vmsim_backend_ops *ops = ops_of(vcpu);

	atomic_fetch_and_explicit(&vcpu->ctl, ~VCPU_CTL_EXCEPTIONS, memory_order_acquire);
	vcpu->cpu.exception_intercepts = atomic_load_explicit(&vcpu->exception_request, memory_order_relaxed);
	enum vmsim_result r =
	        ops->state_set ? ops->state_set(vcpu->backend_vcpu, VMSIM_GROUP_INTERCEPTS, &vcpu->cpu) : VMSIM_OK;
	if (r != VMSIM_OK)
		atomic_fetch_or_explicit(&vcpu->ctl, VCPU_CTL_EXCEPTIONS, memory_order_relaxed); /* the next entry tries again */
	return r;
}

/* Load what the VMM charged; vCPU thread (lock as for prepare_stop). Fails with *why for a refused entry. */
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

	vcpu->charged_groups = charged;
	*why = VMSIM_INVALID_NONE;
	if (atomic_load_explicit(&vcpu->ctl, memory_order_relaxed) & VCPU_CTL_EXCEPTIONS) {
		r = load_exception_intercepts(vcpu);
		if (r != VMSIM_OK) {
			*why = VMSIM_INVALID_BACKEND;
			return r;
		}
	}
	if (!charged)
		return VMSIM_OK;

	/*
	 * A state the vCPU ran with was valid; only a change to what the checks read
	 * can make it invalid. rip alone is not among that (the fast path: ip += len).
	 */
	bool check = (charged & (checked & ~VMSIM_GROUP_IP)) || vmsim_charged(st, flags);
	if (!check && !(charged & ~(uint32_t)(VMSIM_GROUP_GPR | VMSIM_GROUP_IP)) && regs_set_of(ops)) {
		/* the common resume (ip += len, a result in ax): exactly those registers, nothing fetched */
		r = regs_set_of(ops)(vcpu->backend_vcpu, state_regs_to_cpu(st, cpu), cpu);
		if (r != VMSIM_OK)
			*why = VMSIM_INVALID_BACKEND;
		return r;
	}
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
	uint64_t tsc_offset = cpu->tsc_offset; /* the profile's rule may add the charged one to it */
	state_to_cpu(charged, st, cpu);
	if (vmsim_charged(st, tsc_offset))
		cpu->tsc_offset = vmsim_profile_tsc_offset(vcpu->session->profile, model, tsc_offset, st->tsc_offset.value);

	r = decode_model_fields(vcpu, charged, why);
	if (r != VMSIM_OK)
		return r;
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

/* Leave a stop for the guest; lock held or fast path. */
static void enter_running(struct vmsim_vcpu *vcpu)
{
	vcpu->run = VCPU_RUNNING;
	vcpu->exit_fresh = false;
	vcpu->fresh_groups = 0;
	publish_running(vcpu);
}

/*
 * Wait while stopped; lock held. Runs inline handlers, loads charged state on
 * resume. Returns true to run the guest, false when the vCPU is destroyed.
 */
static bool stopped_loop(struct vmsim_vcpu *vcpu)
{
	bool spun = false;

	/* blocked here: a pauser must signal the handler, stopping the backend would not wake us */
	atomic_fetch_and(&vcpu->ctl, ~VCPU_CTL_IN_RUN);
	for (;;) {
		if (destroying(vcpu))
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
			if (pause_pending(vcpu)) {
				/* a recall that arrived after the last with_state: stop again, show PAUSED */
				prepare_synthetic_stop(vcpu, VMSIM_EXIT_PAUSED, VMSIM_INVALID_NONE);
				signal_handler(vcpu);
				continue;
			}
			cancel_signal(vcpu);
			enter_running(vcpu);
			atomic_fetch_or(&vcpu->ctl, VCPU_CTL_IN_RUN);
			return true;
		}
		if (!vcpu->ep && vcpu->signal_pending) {
			vcpu->signal_pending = false;
			pthread_mutex_unlock(&vcpu->lock);
			vcpu->handler(vcpu->handler_ctx, vcpu);
			pthread_mutex_lock(&vcpu->lock);
			continue;
		}
		if (vcpu->ep && !spun) {
			spun = true; /* conditions are checked again under the lock before any blocking wait */
			spin_for_kick(vcpu);
			continue;
		}
		wait_cond(vcpu);
		spun = false;
	}
}

/*
 * The inline fast path (docs/spec.md "The inline fast path"): an inline vCPU's
 * exit with no recall or destruction pending is shown, handled and resumed on
 * the vCPU thread without the lock. VCPU_CTL_IN_RUN stays set, so a recall
 * arriving meanwhile stops the backend (the next run returns PAUSED) instead
 * of signalling a handler that is running already. Anything else falls back
 * to the locked path with exactly the state the fast path left.
 */
static bool fast_path_open(const struct vmsim_vcpu *vcpu)
{
	return !(ctl_of(vcpu) & (VCPU_CTL_PAUSE | VCPU_CTL_DESTROY));
}

static enum vmsim_exit_action fast_exit(struct vmsim_vcpu *vcpu, const struct vmsim_exit *exit)
{
	enum vmsim_invalid_reason why = VMSIM_INVALID_NONE;
	enum vmsim_result r = VMSIM_OK;

	prepare_stop(vcpu, exit);
	vcpu->in_fast = true;
	vcpu->handler(vcpu->handler_ctx, vcpu);
	vcpu->in_fast = false;
	if (vcpu->resume_requested && vcpu->with_state_depth == 0 && fast_path_open(vcpu)) {
		vcpu->resume_requested = false;
		r = load_charged(vcpu, &why);
		if (r == VMSIM_OK) {
			enter_running(vcpu);
			return VMSIM_EXIT_ACTION_RESUME;
		}
	}
	pthread_mutex_lock(&vcpu->lock);
	if (r != VMSIM_OK) {
		vmsim_env_log(env_of(vcpu), VMSIM_LOG_INFO, "vcpu %u: entry refused (%s, reason %d)", vcpu->id,
		              vmsim_result_name(r), (int)why);
		prepare_synthetic_stop(vcpu, VMSIM_EXIT_INVALID_STATE, why);
		signal_handler(vcpu);
	} else if (pause_pending(vcpu)) {
		signal_handler(vcpu); /* a recall that met the fast path only stopped the backend: show it now */
	}
	bool run = stopped_loop(vcpu);
	pthread_mutex_unlock(&vcpu->lock);
	return run ? VMSIM_EXIT_ACTION_RESUME : VMSIM_EXIT_ACTION_STOP;
}

/* The backend's exit callback: the whole exit path runs here, inside its hook. */
static enum vmsim_exit_action on_exit(void *ctx, const struct vmsim_exit *exit)
{
	struct vmsim_vcpu *vcpu = ctx;

	if (!exit || (unsigned)exit->kind >= VMSIM_EXIT_KIND_COUNT || exit->kind == VMSIM_EXIT_NONE) {
		vmsim_env_log(env_of(vcpu), VMSIM_LOG_ERROR, "vcpu %u: backend reported an invalid exit", vcpu->id);
		return VMSIM_EXIT_ACTION_STOP;
	}
	if (!vcpu->ep && fast_path_open(vcpu))
		return fast_exit(vcpu, exit);
	pthread_mutex_lock(&vcpu->lock);
	if (destroying(vcpu)) {
		pthread_mutex_unlock(&vcpu->lock);
		return VMSIM_EXIT_ACTION_STOP;
	}
	prepare_stop(vcpu, exit);
	wake(vcpu);
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
	atomic_store_explicit(&vcpu->self_known, true, memory_order_release);
	prepare_synthetic_stop(vcpu, VMSIM_EXIT_STARTUP, VMSIM_INVALID_NONE);
	signal_handler(vcpu);
	bool run = stopped_loop(vcpu);
	while (run) {
		vcpu->ran = true;
		pthread_mutex_unlock(&vcpu->lock);
		enum vmsim_result r = ops->vcpu_run ? ops->vcpu_run(vcpu->backend_vcpu, on_exit, vcpu)
		                                    : VMSIM_UNSUPPORTED;
		pthread_mutex_lock(&vcpu->lock);
		if (destroying(vcpu))
			break;
		if (r != VMSIM_OK) {
			vmsim_env_log(env_of(vcpu), VMSIM_LOG_ERROR, "vcpu %u: backend '%s' run failed: %s", vcpu->id,
			              ops->name, vmsim_result_name(r));
			prepare_synthetic_stop(vcpu, VMSIM_EXIT_INVALID_STATE, VMSIM_INVALID_BACKEND);
			signal_handler(vcpu);
		} else if (pause_pending(vcpu) || vcpu->stop_requested) {
			vcpu->stop_requested = false;
			prepare_synthetic_stop(vcpu, VMSIM_EXIT_PAUSED, VMSIM_INVALID_NONE);
			if (pause_pending(vcpu))
				signal_handler(vcpu);
		} else {
			continue; /* a stop whose request an exit already answered: run on */
		}
		run = stopped_loop(vcpu);
	}
	atomic_fetch_and(&vcpu->ctl, ~VCPU_CTL_IN_RUN);
	vcpu->exited = true;
	wake(vcpu);
	pthread_mutex_unlock(&vcpu->lock);
	return NULL;
}

void vcpu_exec_request_destroy(struct vmsim_vcpu *vcpu)
{
	atomic_fetch_or(&vcpu->ctl, VCPU_CTL_DESTROY);
	atomic_fetch_add_explicit(&vcpu->kicks, 1, memory_order_release);
	pthread_cond_broadcast(&vcpu->cond);
}

static bool on_vcpu_thread(const struct vmsim_vcpu *vcpu)
{
	return atomic_load_explicit(&((struct vmsim_vcpu *)vcpu)->self_known, memory_order_acquire) &&
	       pthread_equal(pthread_self(), vcpu->self);
}

static bool on_dispatch_thread(const struct vmsim_vcpu *vcpu)
{
	return vcpu->ep ? ep_is_current(vcpu->ep) : on_vcpu_thread(vcpu);
}

enum vmsim_result vmsim_vcpu_with_state(struct vmsim_vcpu *vcpu, vmsim_with_state_fn fn, void *ctx)
{
	if (!vcpu || !fn)
		return VMSIM_INVALID_ARGUMENT;
	if (!vcpu->ep && on_vcpu_thread(vcpu) && vcpu->in_fast && fast_path_open(vcpu)) {
		/* the fast path's handler: stopped, nothing queued, nobody else waits (see fast_exit) */
		vcpu->exit_fresh = false;
		vcpu->with_state_depth++;
		bool resume = fn(ctx, &vcpu->state);
		vcpu->with_state_depth--;
		if (resume)
			vcpu->resume_requested = true;
		return VMSIM_OK;
	}
	pthread_mutex_lock(&vcpu->lock);
	if (!on_dispatch_thread(vcpu)) {
		pthread_mutex_unlock(&vcpu->lock);
		vmsim_env_log(env_of(vcpu), VMSIM_LOG_WARN,
		              "vcpu %u: with_state refused off the handler's entrypoint thread", vcpu->id);
		return VMSIM_DENIED;
	}
	if (vcpu->run == VCPU_RUNNING && !destroying(vcpu)) {
		vcpu->stop_requested = true;
		pthread_mutex_unlock(&vcpu->lock);
		if (ops_of(vcpu)->vcpu_stop)
			ops_of(vcpu)->vcpu_stop(vcpu->backend_vcpu);
		pthread_mutex_lock(&vcpu->lock);
		while (vcpu->run == VCPU_RUNNING && !destroying(vcpu))
			wait_cond(vcpu);
	}
	if (destroying(vcpu)) {
		pthread_mutex_unlock(&vcpu->lock);
		return VMSIM_DENIED;
	}
	/* exactly once: whichever with_state clears the recall is the one that shows it */
	if (atomic_fetch_and(&vcpu->ctl, ~VCPU_CTL_PAUSE) & VCPU_CTL_PAUSE) {
		if (!vcpu->exit_fresh) {
			/* the recall meets a vCPU that was already stopped: Genode shows PAUSED */
			struct vmsim_exit paused;
			vcpu->state.exit_reason = VMSIM_EXIT_CODE_PAUSED;
			vmsim_vcpu_last_exit(vcpu, &paused);
			paused.kind = VMSIM_EXIT_PAUSED;
			publish_words(vcpu, &paused, 1); /* only kind changes: the rest stays the last exit's */
			count_exit(vcpu, VMSIM_EXIT_PAUSED);
		}
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
	uint32_t was = atomic_fetch_or(&vcpu->ctl, VCPU_CTL_PAUSE);
	if (was & VCPU_CTL_DESTROY) {
		pthread_mutex_unlock(&vcpu->lock);
		return VMSIM_DENIED;
	}
	/* IN_RUN changes under the lock: the vCPU thread is in vcpu_run (stop it) or blocked stopped (signal) */
	bool running = was & VCPU_CTL_IN_RUN;
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
	return atomic_load_explicit(&((struct vmsim_vcpu *)vcpu)->exit_counts[kind], memory_order_relaxed);
}

void vmsim_vcpu_last_exit(const struct vmsim_vcpu *vcpu, struct vmsim_exit *out)
{
	enum { WORDS = sizeof vcpu->last_exit_words / sizeof vcpu->last_exit_words[0] };
	struct vmsim_vcpu *v = (struct vmsim_vcpu *)vcpu;
	uint64_t words[WORDS];
	unsigned before, after;

	if (!vcpu || !out)
		return;
	do {
		before = atomic_load_explicit(&v->last_exit_seq, memory_order_acquire);
		for (unsigned i = 0; i < (unsigned)WORDS; i++)
			words[i] = atomic_load_explicit(&v->last_exit_words[i], memory_order_acquire);
		after = atomic_load_explicit(&v->last_exit_seq, memory_order_relaxed);
	} while ((before & 1) || before != after);
	memcpy(out, words, sizeof *out);
	if (out->kind == VMSIM_EXIT_NONE)
		memset(out, 0, sizeof *out); /* running: the rest of the words are stale */
}
