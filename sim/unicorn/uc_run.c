/* uc_run.c - the vCPU run loop: entering Unicorn, and what happens each time it comes back. */
#include <string.h>

#include "uc_internal.h"

static uint64_t begin_address(struct ucb_engine *eng)
{
	uint64_t rip = ucb_read_rip(eng);

	if (eng->mode == UCB_REAL) {
		/*
		 * uc_emu_start(16-bit) sets IP = begin - CS.selector * 16 and leaves the CS base alone. Only IP: real-mode
		 * code above 0xffff runs in the 32-bit engine (ucb_follow_guest_mode).
		 */
		uint64_t sel = ucb_read_reg(eng, UC_X86_REG_CS) & 0xffff;
		return sel * 16 + (rip & 0xffff);
	}
	return rip;
}

static enum vmsim_exit_action plain_exit(struct ucb_vcpu *v, enum vmsim_exit_kind kind, uint8_t insn_len)
{
	struct vmsim_exit exit;

	memset(&exit, 0, sizeof exit);
	exit.kind = kind;
	exit.rip = ucb_read_rip(v->active);
	exit.insn_len = insn_len;
	return ucb_call_exit(v, &exit);
}

static void shutdown(struct ucb_vcpu *v)
{
	if (v->intercepts & VMSIM_INTERCEPT_SHUTDOWN)
		plain_exit(v, VMSIM_EXIT_SHUTDOWN, 0);
	else
		v->activity = VMSIM_ACTIVITY_SHUTDOWN;
}

/* SDM Vol. 3A Table 6-4: benign, contributory (#DE #TS #NP #SS #GP) or page fault. */
enum exception_class { BENIGN, CONTRIBUTORY, PAGE_FAULT };

static enum exception_class class_of(uint8_t vector, enum vmsim_event_type type)
{
	if (type != VMSIM_EVENT_HW_EXCEPTION)
		return BENIGN; /* interrupts, NMI, INT n, INT3/INTO/INT1 */
	if (vector == 14)
		return PAGE_FAULT;
	return vector == 0 || (vector >= 10 && vector <= 13) ? CONTRIBUTORY : BENIGN;
}

/*
 * The delivery of an event reached memory no attachment backs: an NPF exit at the event's instruction, as hardware
 * exits during event delivery (APM vol. 2 15.7.2 EXITINTINFO, SDM Vol. 3C 28.2.4 IDT-vectoring information). The
 * event stays pending, so the exit shows it (the EVENTS group) and the next entry delivers it again unless the VMM
 * charges another; the registers are as before the delivery. INT3, INTO and INT1 are not kept: their instruction
 * runs again, as KVM re-executes them, since the SVM model has no event type for them (APM 15.20 reports them as
 * exceptions, whose injection would not step past the instruction).
 */
static void delivery_npf(struct ucb_vcpu *v, const struct ucb_access_fault *npf, uint8_t vector,
                         enum vmsim_event_type type, bool has_error, uint32_t error, uint64_t at, uint8_t insn_len)
{
	bool again = type == VMSIM_EVENT_SW_EXCEPTION || type == VMSIM_EVENT_PRIV_SW_EXCEPTION;
	struct vmsim_exit exit = { .kind = VMSIM_EXIT_NPF, .rip = at, .insn_len = again ? 0 : insn_len };

	if (!again) {
		v->pending.valid = true; /* its window requests stay as they are */
		v->pending.type = type;
		v->pending.vector = vector;
		v->pending.has_error = has_error;
		v->pending.error_code = has_error ? error : 0;
		v->pending.insn_len = insn_len;
	}
	exit.u.npf.access = npf->write ? VMSIM_ACCESS_WRITE : VMSIM_ACCESS_READ;
	exit.u.npf.gpa = npf->gpa;
	exit.u.npf.gla = npf->lin;
	exit.u.npf.gla_valid = true;
	exit.u.npf.walk = npf->walk;
	exit.u.npf.prot = (uint8_t)ucb_vcpu_prot(v, npf->gpa);
	ucb_write_rip(v->active, at);
	v->activity = VMSIM_ACTIVITY_ACTIVE;
	ucb_call_exit(v, &exit);
}

/*
 * Deliver an event (return_rip: what its frame holds; insn_len: a software event's length). An exception the
 * delivery raises is delivered in its place, at the event's own instruction, or becomes #DF where SDM Vol. 3A Table
 * 6-5 says so (contributory after contributory, contributory or #PF after #PF); one raised delivering #DF is a
 * shutdown. A failure not classified (UCB_SHUTDOWN) goes to #DF as before.
 */
static void deliver(struct ucb_vcpu *v, uint8_t vector, enum vmsim_event_type type, bool has_error, uint32_t error,
                    uint64_t return_rip, uint8_t insn_len)
{
	struct ucb_delivery_fault fault;
	uint64_t at = return_rip - insn_len; /* where a fault in the delivery restarts: the event's own instruction */
	enum ucb_deliver_result r = ucb_deliver(v->active, vector, type, has_error, error, return_rip, &fault);

	for (unsigned nested = 0; (r == UCB_FAULT || r == UCB_SHUTDOWN) && nested < 3; nested++) {
		bool in_double = vector == 8 && type == VMSIM_EVENT_HW_EXCEPTION;
		if (in_double)
			break; /* triple fault */
		enum exception_class first = class_of(vector, type);
		bool to_double = r == UCB_SHUTDOWN;
		if (r == UCB_FAULT) {
			enum exception_class second = class_of(fault.vector, VMSIM_EVENT_HW_EXCEPTION);
			to_double = (first == CONTRIBUTORY && second == CONTRIBUTORY) ||
			            (first == PAGE_FAULT && second != BENIGN);
		}
		if (r == UCB_FAULT && fault.has_cr2) /* a #PF sets CR2 when it is detected, #DF or not (SDM Vol. 3A 6.15) */
			uc_reg_write(v->active->uc, UC_X86_REG_CR2, &fault.cr2);
		vector = to_double ? 8 : fault.vector;
		error = to_double ? 0 : fault.error;
		type = VMSIM_EVENT_HW_EXCEPTION;
		/* every exception a delivery raises pushes an error code, except in real mode (where none does) */
		has_error = (ucb_read_reg(v->active, UC_X86_REG_CR0) & UCB_CR0_PE) != 0;
		insn_len = 0;
		r = ucb_deliver(v->active, vector, type, has_error, error, at, &fault);
	}
	if (r == UCB_NPF) {
		delivery_npf(v, &fault.npf, vector, type, has_error, error, at, insn_len);
		return;
	}
	if (r == UCB_DELIVER_ERROR)
		ucb_log(v->vm, VMSIM_LOG_ERROR, "unicorn: vCPU %u: event delivery failed in the engine", v->id);
	if (r != UCB_DELIVERED)
		shutdown(v);
	else
		v->activity = VMSIM_ACTIVITY_ACTIVE;
}

/*
 * An exception the VMM intercepts (vmsim_vcpu_intercept_exceptions) exits instead of being delivered, the guest as
 * before it: at the faulting instruction (after it for a trap), at INT3/INTO/INT1 with their length, CR2 unwritten
 * (DR6 holds what 2.0.1 set for a single step before reporting it). INT n, INT 3 included, is not an exception.
 * False: deliver it.
 */
static bool exception_exit(struct ucb_vcpu *v, uint8_t vector, enum vmsim_event_type type, bool has_error,
                           uint32_t error, uint64_t return_rip, uint8_t insn_len, uint64_t qual)
{
	if (vector >= 32 || type == VMSIM_EVENT_SW_INT || !(v->exception_intercepts & (1u << vector)))
		return false;
	struct vmsim_exit exit = { .kind = VMSIM_EXIT_EXCEPTION, .rip = return_rip - insn_len, .insn_len = insn_len };
	exit.u.exception.vector = vector;
	exit.u.exception.has_error = has_error;
	exit.u.exception.error_code = has_error ? error : 0;
	exit.u.exception.qual = qual;
	ucb_write_rip(v->active, exit.rip);
	v->activity = VMSIM_ACTIVITY_ACTIVE;
	ucb_call_exit(v, &exit);
	return true;
}

static void inject_pending(struct ucb_vcpu *v)
{
	struct vmsim_event e = v->pending;
	uint64_t rip = ucb_read_rip(v->active);
	bool software = e.type == VMSIM_EVENT_SW_INT || e.type == VMSIM_EVENT_SW_EXCEPTION ||
	                e.type == VMSIM_EVENT_PRIV_SW_EXCEPTION;
	uint8_t vector = e.type == VMSIM_EVENT_NMI ? 2 : e.vector;

	v->pending.valid = false;
	uint8_t len = software ? e.insn_len : 0;
	deliver(v, vector, e.type, e.has_error, e.error_code, rip + len, len);
}

/* States 2.0.1 (or this backend's event delivery) cannot run. */
static bool runnable(struct ucb_vcpu *v)
{
	struct vmsim_cpu_state s;

	if (ucb_engine_get_state(v->active, VMSIM_GROUP_IP | VMSIM_GROUP_SEGMENTS | VMSIM_GROUP_CONTROL, &s) !=
	    VMSIM_OK)
		return false;
	if (s.rflags & UCB_RFLAGS_VM)
		return false; /* virtual-8086 mode */
	if ((s.efer & UCB_EFER_LMA) && !(s.cr0 & UCB_CR0_PE))
		return false;
	if ((s.efer & UCB_EFER_LMA) && (s.cs.ar & 0x200) && (s.cs.ar & 0x400))
		return false; /* CS.L and CS.D both set */
	return true;
}

/* HLT (not intercepted), shutdown and wait-for-SIPI idle here until a stop or a memory update. */
static void idle(struct ucb_vcpu *v)
{
	/* said before waiting: a test waits for it (a handshake), then stops or wakes the vCPU */
	ucb_log(v->vm, VMSIM_LOG_DEBUG, "unicorn: vCPU %u idle (activity %u)", v->id, (unsigned)v->activity);
	pthread_mutex_lock(&v->lock);
	while (!atomic_load(&v->stop_requested) && atomic_load(&v->vm->generation) == v->acked_local)
		pthread_cond_wait(&v->cond, &v->lock);
	pthread_mutex_unlock(&v->lock);
}

static bool native_hlt(struct ucb_engine *eng)
{
	uint8_t byte = 0;
	uint64_t rip = ucb_read_rip(eng);

	return rip && ucb_guest_read(eng, ucb_cs(eng)->base + rip - 1, &byte, 1) && byte == 0xf4;
}

static bool exit_is_data_fault(struct ucb_vcpu *v)
{
	return v->fault.type != UC_MEM_FETCH_UNMAPPED && v->fault.type != UC_MEM_FETCH_PROT;
}

/* A fault while the guest pages (uc_mmu.c): map and run again, deliver #PF, or exit with an NPF. */
static bool paged_fault(struct ucb_vcpu *v, enum vmsim_result *result)
{
	struct ucb_engine *eng = v->active;
	struct vmsim_exit exit;
	struct ucb_mmu_npf npf;
	uint32_t error_code = 0;
	uint64_t cr2 = 0;

	enum ucb_mmu_outcome out = ucb_mmu_fault(v, &error_code, &cr2, &npf);
	if (out == UCB_MMU_NPF) {
		ucb_build_paged_npf(v, &exit, &npf);
		/* its next runs exit from its code hook, without stopping the engine (uc_exits.c mmio_exit) */
		if (!npf.walked && !exit.u.npf.prot && exit_is_data_fault(v) && eng->mode == UCB_LONG)
			ucb_learn_mmio_site(eng, v->fault_rip);
	}
	v->fault.valid = false;
	if (out == UCB_MMU_NPF) {
		ucb_call_exit(v, &exit);
		return true;
	}
	/* a store stepped through an alias into its own page (uc_mmu.c): the hook that ends it, after the store */
	if (out == UCB_MMU_RETRY && eng->shadow.step && !eng->shadow.step_next) {
		uint8_t len = ucb_insn_len_at(v, v->fault_rip);
		eng->shadow.step = len != 0;
		eng->shadow.step_next = v->fault_rip + ucb_cs_base(eng) + len;
		if (len)
			ucb_add_sync_site(eng, eng->shadow.step_next);
	}
	/* as before the access: the instruction runs again, or the #PF returns to it */
	ucb_write_rip(eng, v->fault_rip);
	uc_reg_write(eng->uc, eng->mode == UCB_LONG ? UC_X86_REG_RFLAGS : UC_X86_REG_EFLAGS, &v->fault_rflags);
	if (out == UCB_MMU_PF) {
		if (exception_exit(v, 14, VMSIM_EVENT_HW_EXCEPTION, true, error_code, v->fault_rip, 0, cr2))
			return true;
		uc_reg_write(eng->uc, UC_X86_REG_CR2, &cr2);
		deliver(v, 14, VMSIM_EVENT_HW_EXCEPTION, true, error_code, v->fault_rip, 0);
	} else if (out == UCB_MMU_ERROR) {
		*result = VMSIM_BACKEND_ERROR;
		return false;
	}
	return true;
}

/*
 * The #DB exit qualification (SDM Vol. 3C Table 28-1) from the DR6 2.0.1 wrote when it raised #DB (single step):
 * B0-B3, BD and BS as they are; RTM is inverted (DR6 bit 16 clear means "in an RTM region", the qualification's
 * bit 16 set means it), and 2.0.1, without RTM, keeps DR6 bit 16 set.
 */
static uint64_t debug_qual(struct ucb_vcpu *v)
{
	uint64_t dr6 = 0;

	if (v->deliver_vector != 1 || v->deliver_type != VMSIM_EVENT_HW_EXCEPTION)
		return 0;
	uc_reg_read(v->active->uc, UC_X86_REG_DR6, &dr6);
	return (dr6 & (VMSIM_DB_QUAL_MASK & ~0x10000ull)) | (~dr6 & 0x10000);
}

/*
 * 2.0.1 remembers the exception it raised (old_exception) for its double-fault check, and only its own delivery,
 * which never runs here, forgets it: the guest's second #GP ever came to the hook as #DF, and later exceptions as
 * an internal halt. The backend delivers or presents the exception, so it forgets it.
 */
static bool forget_raised(struct ucb_engine *eng)
{
	uint8_t *env;

	eng->vcpu->deliver_raised = false;
	if (!ucb_ctx_load(eng, &env))
		return false;
	env_put32(env, UCB_ENV_OLD_EXCEPTION, (uint32_t)-1);
	return ucb_ctx_store(eng);
}

/* Handle why uc_emu_start returned; false: leave vcpu_run with *result. */
static bool after_engine(struct ucb_vcpu *v, uc_err err, enum ucb_leave leave, enum vmsim_result *result)
{
	struct ucb_engine *eng = v->active;
	struct vmsim_exit exit;

	switch (leave) {
	case UCB_LEAVE_FAULT:
		if (eng->shadow.paged)
			return paged_fault(v, result);
		if (v->fault.lazy) {
			/* not a guest-visible fault: put the state back as it was before the access, map, run again */
			ucb_write_rip(eng, v->fault_rip);
			uc_reg_write(eng->uc, eng->mode == UCB_LONG ? UC_X86_REG_RFLAGS : UC_X86_REG_EFLAGS,
			             &v->fault_rflags);
			v->fault.valid = false;
			ucb_engine_map_lazy(eng, v->fault.addr);
			return true;
		}
		if (exit_is_data_fault(v))
			ucb_add_sync_site(eng, v->fault_rip + ucb_cs_base(eng));
		ucb_build_npf(v, &exit);
		v->fault.valid = false;
		ucb_call_exit(v, &exit);
		return true;
	case UCB_LEAVE_DELIVER:
		if (v->deliver_raised && !forget_raised(eng)) {
			*result = VMSIM_BACKEND_ERROR;
			return false;
		}
		if (eng->transfer_undo) {
			/* a transfer beyond the CS limit faults as itself, with no effect (docs: "CS limits") */
			eng->transfer_undo = false;
			eng->cs.known = false;
			if (uc_context_restore(eng->uc, eng->transfer_ctx) != UC_ERR_OK) {
				*result = VMSIM_BACKEND_ERROR;
				return false;
			}
		}
		if (!exception_exit(v, v->deliver_vector, v->deliver_type, v->deliver_has_error, v->deliver_error,
		                    v->deliver_return, v->deliver_insn_len, debug_qual(v)))
			deliver(v, v->deliver_vector, v->deliver_type, v->deliver_has_error, v->deliver_error,
			        v->deliver_return, v->deliver_insn_len);
		return true;
	case UCB_LEAVE_HALT:
		ucb_write_rip(eng, ucb_read_rip(eng) + 1);
		v->activity = VMSIM_ACTIVITY_HLT;
		return true;
	case UCB_LEAVE_WINDOW:
	case UCB_LEAVE_RESTART:
	case UCB_LEAVE_STOP:
		return true;
	case UCB_LEAVE_NONE:
		break;
	}
	if (atomic_load(&v->stop_requested))
		return true;
	if (err == UC_ERR_OK && native_hlt(eng)) {
		/* A HLT Unicorn executed itself: 2.0.1 returns with rip after it. */
		if (v->intercepts & VMSIM_INTERCEPT_HLT) {
			ucb_write_rip(eng, ucb_read_rip(eng) - 1);
			plain_exit(v, VMSIM_EXIT_HLT, 1);
		} else {
			v->activity = VMSIM_ACTIVITY_HLT;
		}
		return true;
	}
	if (err == UC_ERR_OK)
		return true;
	ucb_log(v->vm, VMSIM_LOG_ERROR, "unicorn: vCPU %u: uc_emu_start: %s", v->id, uc_strerror(err));
	*result = VMSIM_BACKEND_ERROR;
	return false;
}

/* What the run loop does next: enter the engine, go round again (something was done instead), or return. */
enum step { STEP_ENTER, STEP_AGAIN, STEP_DONE };

/* A state the engine cannot run: an INVALID_STATE exit; a handler that changed nothing ends vcpu_run. */
static enum step invalid_state(struct ucb_vcpu *v)
{
	struct vmsim_exit exit;

	memset(&exit, 0, sizeof exit);
	exit.kind = VMSIM_EXIT_INVALID_STATE;
	exit.rip = ucb_read_rip(v->active);
	exit.u.invalid.reason = VMSIM_INVALID_BACKEND;
	if (ucb_call_exit(v, &exit) == VMSIM_EXIT_ACTION_RESUME && !v->check_state)
		return STEP_DONE; /* nothing changed: it still cannot run */
	return STEP_AGAIN;
}

/* Before each entry: state checks, the engine of the guest's mode, then events, windows and idling, in that order. */
static enum step before_entry(struct ucb_vcpu *v, enum vmsim_result *result)
{
	if (v->check_state) {
		v->check_state = false;
		if (!runnable(v))
			return invalid_state(v);
	}
	if (ucb_follow_guest_mode(v) != VMSIM_OK) {
		ucb_log(v->vm, VMSIM_LOG_ERROR, "unicorn: vCPU %u: cannot switch engines to the guest's mode", v->id);
		*result = VMSIM_BACKEND_ERROR;
		return STEP_DONE;
	}
	struct ucb_engine *eng = v->active;
	if (v->pending.valid) {
		inject_pending(v);
		return STEP_AGAIN;
	}
	if (v->pending.want_intr_window && ucb_interruptible(eng)) {
		plain_exit(v, VMSIM_EXIT_INTR_WINDOW, 0);
		return STEP_AGAIN;
	}
	if (v->pending.want_nmi_window && !ucb_nmi_blocked(eng)) {
		plain_exit(v, VMSIM_EXIT_NMI_WINDOW, 0);
		return STEP_AGAIN;
	}
	if (v->activity != VMSIM_ACTIVITY_ACTIVE) {
		idle(v);
		return STEP_AGAIN;
	}
	return STEP_ENTER;
}

/* One uc_emu_start on the active engine, and what made it return; false: leave vcpu_run with *result. */
static bool run_engine(struct ucb_vcpu *v, enum vmsim_result *result)
{
	struct ucb_engine *eng = v->active;

	ucb_engine_enter(eng);
	ucb_mmu_prepare(eng);
	if (eng->rewritten_page) {
		ucb_code_rewritten(eng, eng->rewritten_page - 1);
		eng->rewritten_page = 0;
	}
	if (eng->flush_to) {
		ucb_remove_cache(eng, eng->flush_from, eng->flush_to);
		eng->flush_to = 0;
	}
	v->leave = UCB_LEAVE_NONE;
	uc_err err = uc_emu_start(eng->uc, begin_address(eng), UCB_UNTIL, 0, 0);
	eng->transfer_pending = false; /* its snapshot is only good for the block right after the transfer */
	enum ucb_leave leave = v->leave;
	v->leave = UCB_LEAVE_NONE;
	if (v->resume_valid) {
		v->resume_valid = false;
		ucb_write_rip(eng, v->resume_rip);
	}
	return after_engine(v, err, leave, result);
}

enum vmsim_result ucb_vcpu_run(void *p, vmsim_exit_fn on_exit, void *ctx)
{
	struct ucb_vcpu *v = p;
	enum vmsim_result result = VMSIM_OK;

	if (!v || !on_exit)
		return VMSIM_INVALID_ARGUMENT;
	pthread_mutex_lock(&v->lock);
	if (atomic_load(&v->run_state) != UCB_IDLE) {
		pthread_mutex_unlock(&v->lock);
		return VMSIM_INVALID_ARGUMENT;
	}
	atomic_store(&v->run_state, UCB_RUNNING);
	pthread_mutex_unlock(&v->lock);
	v->on_exit = on_exit;
	v->on_exit_ctx = ctx;
	v->leave = UCB_LEAVE_NONE;
	v->exit_stop = false;
	v->check_state = true;

	for (;;) {
		ucb_vcpu_sync_running(v);
		if (atomic_exchange(&v->stop_requested, false) || v->exit_stop)
			break;
		enum step step = before_entry(v, &result);
		if (step == STEP_DONE || (step == STEP_ENTER && !run_engine(v, &result)))
			break;
	}

	pthread_mutex_lock(&v->lock);
	atomic_store(&v->run_state, UCB_IDLE);
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	return result;
}

void ucb_vcpu_stop(void *p)
{
	struct ucb_vcpu *v = p;

	if (!v)
		return;
	/* Only a flag: the vCPU checks it at every block start, so no cross-thread Unicorn call is needed. */
	atomic_store(&v->stop_requested, true);
	pthread_mutex_lock(&v->lock);
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}
