/* tools/vmsim/run_vmm.c - the embedded default VMM: the exit handler and the run (boot: run_vmm_boot.c, devices:
 * run_vmm_devices.c, trace: run_vmm_trace.c). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "run_vmm_internal.h"

void vmm_finish(struct vmm *vmm, int status)
{
	pthread_mutex_lock(&vmm->lock);
	if (!vmm->finished) {
		vmm->finished = true;
		vmm->status = status;
	}
	pthread_cond_broadcast(&vmm->cond);
	pthread_mutex_unlock(&vmm->lock);
}

/* ---- the handler -------------------------------------------------------------------------- */

struct exit_ctx {
	struct vmm *vmm;
	struct vmsim_vcpu *vcpu;
};

/*
 * The guest stopped (timed out, or the vCPU refused) at an instruction the backend says it cannot run (a cap it
 * lacks, e.g. kvm_pvm: VMCALL and real-mode INT n never leave KVM_RUN, protected-mode IRET fails): name it and the
 * backend's reason, which a bare "timed out" would hide.
 */
static void explain_stop(struct vmm *vmm, const struct vmsim_vcpu_state *st)
{
	const struct vmsim_backend_ops *ops = vmsim_env_backend(vmm->env, vmm->cfg->backend);
	cs_insn *insn = ops ? vmm_decode_at(vmm, st) : NULL;
	uint64_t cap = 0;

	if (!insn)
		return;
	switch (insn->id) {
	case X86_INS_VMCALL:
	case X86_INS_VMMCALL:
		cap = VMSIM_CAP_HOST_HYPERCALL;
		break;
	case X86_INS_INT:
	case X86_INS_INT3:
	case X86_INS_INTO:
	case X86_INS_IRET:
	case X86_INS_IRETD:
	case X86_INS_IRETQ:
		cap = VMSIM_CAP_INT_IRET;
		break;
	default:
		break;
	}
	if (cap && !(ops->caps & cap))
		fprintf(vmm->cfg->err, "vmsim run: the guest is at '%s%s%s', which backend %s cannot run (no %s): %s\n",
		        insn->mnemonic, insn->op_str[0] ? " " : "", insn->op_str, ops->name, vmsim_backend_cap_name(cap),
		        ops->cap_gap && ops->cap_gap(cap) ? ops->cap_gap(cap) : "no reason given");
	cs_free(insn, 1);
}

/* The timeout was reached at an exit at st's ip: say so and end the run. Only the timer's recall (PAUSED) can find
 * the guest stuck at an instruction; another exit there (a VMCALL exit, say) was the backend running it. */
static void stop_timed_out(struct vmm *vmm, const struct vmsim_vcpu_state *st, enum vmsim_exit_kind at)
{
	fprintf(vmm->cfg->err, "vmsim run: timed out after %.3g s (--timeout) at ip 0x%" PRIx64 "\n", vmm->cfg->timeout,
	        st->ip.value);
	if (at == VMSIM_EXIT_PAUSED)
		explain_stop(vmm, st);
	vmm_finish(vmm, RUN_STATUS_TIMEOUT);
}

/* The run is over (finished, traced its last, out of time or exits): false. Checked on every exit, since a recall
 * may have been absorbed by an exit already pending. */
static bool run_over(struct vmm *vmm, const struct vmsim_exit *ex, const struct vmsim_vcpu_state *st)
{
	const struct run_config *cfg = vmm->cfg;
	pthread_mutex_lock(&vmm->lock);
	bool done = vmm->finished, timed_out = vmm->timed_out;
	vmm->progress++;
	/* the handler runs inline on the vCPU's thread: its CPU time is what the spin watchdog counts */
	if (!vmm->vcpu_clock_known)
		vmm->vcpu_clock_known = pthread_getcpuclockid(pthread_self(), &vmm->vcpu_clock) == 0;
	pthread_mutex_unlock(&vmm->lock);
	if (done)
		return true;

	vmm->seq++;
	if (!cfg->host_clock && (ex->kind == VMSIM_EXIT_IO || ex->kind == VMSIM_EXIT_NPF))
		vmm->vclock += DEVICE_ACCESS_NS; /* exits both backends deliver alike: KVM keeps CPUID, MSRs in the kernel */
	if (cfg->trace && !vmm_trace(vmm, ex, st))
		return true;
	if (timed_out) {
		stop_timed_out(vmm, st, ex->kind);
		return true;
	}
	if (cfg->max_exits && vmm->seq > cfg->max_exits) {
		fprintf(cfg->err, "vmsim run: stopped after %" PRIu64 " exits (--max-exits)\n", cfg->max_exits);
		vmm_finish(vmm, RUN_STATUS_TIMEOUT);
		return true;
	}
	return false;
}

/*
 * CPUID: one fixed table, the same on every backend: answered at CPUID exits, and given to backends that answer
 * CPUID without an exit (KVM) before the vCPU first runs, so a guest sees the same CPU on both (docs/vmsim-run.md).
 * Vendor "vmsimvmsimvm"; what an x86-64 kernel requires (leaf 1 EDX: FPU, PSE, TSC, MSR, PAE, CX8, SEP, PGE, CMOV,
 * PAT, CLFLUSH, MMX, FXSR, SSE, SSE2; 0x80000001 EDX: SYSCALL, NX, LM; 0x80000008: 40 physical, 48 linear address
 * bits); no APIC, no MTRR, no XSAVE. Any other leaf reads zeros.
 */
enum { CPUID_ENTRIES = 5, CPUID_1_EDX_TSC = 1u << 4 };
static const struct vmsim_cpuid_entry cpuid_table[CPUID_ENTRIES] = {
	{ .leaf = 0, .eax = 1, .ebx = 0x69736d76, .ecx = 0x6d766d69, .edx = 0x736d766d },
	{ .leaf = 1, .eax = 0x00000f61, .ebx = 0x00000800, .edx = 0x0789a979 },
	{ .leaf = 0x80000000, .eax = 0x80000008 },
	{ .leaf = 0x80000001, .edx = 0x20100800 },
	{ .leaf = 0x80000008, .eax = 0x00003028 },
};

/*
 * The table this run shows. --bios leaves TSC out: SeaBIOS then times with the PIT alone. With TSC it calibrates
 * by switching between 32-bit and real mode in a loop, and Unicorn 2.0.1 crashed in its real-mode engine's block
 * invalidation (page_collection_lock on a corrupt block list, as unicorn-engine/unicorn#1946) after ~300 exits.
 */
static void cpuid_entries(const struct vmm *vmm, struct vmsim_cpuid_entry out[CPUID_ENTRIES])
{
	memcpy(out, cpuid_table, sizeof cpuid_table);
	if (vmm->cfg->bios)
		out[1].edx &= ~CPUID_1_EDX_TSC;
}

static void answer_cpuid(const struct vmm *vmm, const struct vmsim_exit *ex, struct vmsim_vcpu_state *st)
{
	struct vmsim_cpuid_entry table[CPUID_ENTRIES], hit = { 0 };
	cpuid_entries(vmm, table);
	for (size_t i = 0; i < CPUID_ENTRIES; i++)
		if (table[i].leaf == ex->u.cpuid.leaf)
			hit = table[i];
	vmsim_charge(st, ax, hit.eax);
	vmsim_charge(st, bx, hit.ebx);
	vmsim_charge(st, cx, hit.ecx);
	vmsim_charge(st, dx, hit.edx);
	vmm_skip(ex, st, 2);
}

/* STARTUP: a backend that answers CPUID itself gets the table now, before the vCPU first runs. */
static bool give_cpuid_table(struct vmm *vmm, struct vmsim_vcpu *vcpu)
{
	struct vmsim_cpuid_entry table[CPUID_ENTRIES];
	cpuid_entries(vmm, table);
	enum vmsim_result r = vmsim_vcpu_cpuid_set(vcpu, table, CPUID_ENTRIES);
	if (r == VMSIM_OK || r == VMSIM_UNSUPPORTED) /* UNSUPPORTED: CPUID exits, answer_cpuid answers */
		return true;
	fprintf(vmm->cfg->err, "vmsim run: the backend refused the CPUID table: %s\n", vmsim_result_name(r));
	vmm_finish(vmm, RUN_STATUS_SETUP);
	return false;
}

/*
 * RDTSC(P): one time base for the vCPU: what an RDTSC the vCPU runs itself reads (the host TSC plus the vCPU's
 * TSC offset), so time never runs backwards between an intercepted and a native read.
 */
static void answer_tsc(const struct vmsim_exit *ex, struct vmsim_vcpu_state *st)
{
	uint64_t tsc = __builtin_ia32_rdtsc() + st->tsc_offset.value;
	vmsim_charge(st, ax, (uint32_t)tsc);
	vmsim_charge(st, dx, tsc >> 32);
	if (ex->kind == VMSIM_EXIT_RDTSCP)
		vmsim_charge(st, cx, (uint32_t)st->tsc_aux.value); /* TSC_AUX, as the MSR file holds it */
	vmm_skip(ex, st, ex->kind == VMSIM_EXIT_RDTSCP ? 3 : 2);
}

/* ---- interrupts: the PICs' requests into the vCPU ------------------------------------------------ */

enum {
	RFLAGS_IF = 1u << 9,
	BLOCK_STI_MOVSS = 3,         /* intr_state bits 0 and 1, both models */
	INJ_VALID = 1u << 31,        /* inj_info: type 0 (external interrupt) in bits 10:8 */
	INJ_WANT_WINDOW = 1u << 12   /* Genode's interrupt-window request */
};

/* A CLOCK_MONOTONIC time in ns as the deadline vmm->cond waits for. */
static struct timespec monotonic_at(uint64_t ns)
{
	return (struct timespec){ (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
}

/* Tell the timer thread when to recall the vCPU for the next timer IRQ (0: never). */
static void publish_irq_due(struct vmm *vmm, uint64_t due)
{
	pthread_mutex_lock(&vmm->lock);
	if (vmm->irq_due != due) {
		vmm->irq_due = due;
		pthread_cond_broadcast(&vmm->cond);
	}
	pthread_mutex_unlock(&vmm->lock);
}

/* What an exit reported about events, read before the handler discharges the state (charged = transferred). */
struct exit_events {
	bool known;          /* the exit transferred the EVENTS group */
	uint64_t in_flight;  /* inj_info: an event whose delivery the exit interrupted (valid bit), else 0 */
};

/*
 * Before the vCPU resumes, once the guest has initialised its PIC: inject the interrupt the PICs deliver if the
 * guest takes interrupts now (IF = 1, no STI/MOV SS shadow, no event already on its way), else ask for an
 * interrupt window; and arm the timer thread for the next timer IRQ, which recalls a vCPU that does not exit.
 */
static void deliver_irq(struct vmm *vmm, struct vmsim_vcpu_state *st, struct exit_events ev, bool computing)
{
	struct vmm_pc *pc = &vmm->pc;
	if (!vmm_pc_pic_ready(pc) || !ev.known)
		return;
	vmm_pc_tick(pc, vmm_now(vmm));
	/* a handler's own injection (an exception handed back) or the exit's interrupted event goes first */
	uint64_t before =
		(vmsim_charged(st, inj_info) ? st->inj_info.value : ev.in_flight) & ~(uint64_t)INJ_WANT_WINDOW;
	uint64_t info = before;
	bool takes = (st->flags.value & RFLAGS_IF) && !(st->intr_state.value & BLOCK_STI_MOVSS);
	if (!(info & INJ_VALID) && takes && vmm_pc_pending_vector(pc) >= 0)
		info = INJ_VALID | (uint32_t)vmm_pc_acknowledge(pc);
	bool want_window = vmm_pc_pending_vector(pc) >= 0;
	if (info != before || want_window || vmm->window_requested)
		vmsim_charge(st, inj_info, info | (want_window ? INJ_WANT_WINDOW : 0));
	vmm->window_requested = want_window;
	/* virtual clock: a recall that found IF = 0 met a vCPU computing, not waiting: no more until it exits */
	uint64_t due = vmm_pc_next_irq(pc);
	bool armed = due != UINT64_MAX && (vmm->cfg->host_clock || !computing);
	publish_irq_due(vmm, armed ? due : 0);
}

uint64_t vmm_now(const struct vmm *vmm)
{
	return vmm->cfg->host_clock ? vmm_pc_now() : vmm->vclock;
}

/* The virtual clock reaches t (a timer IRQ the vCPU waits for in HLT, or spins for): it skips the wait. */
static void skip_to(struct vmm *vmm, uint64_t t)
{
	if (!vmm->cfg->host_clock && t != UINT64_MAX && t > vmm->vclock)
		vmm->vclock = t;
}

/*
 * HLT: with IF = 1 and an interrupt the PICs can deliver (now, or when the PIT next fires), the vCPU waits past
 * the HLT for it, as a halted CPU does (the virtual clock skips the wait); with nothing that can wake it the run
 * ends (status 0). False: it ended.
 */
static bool halt(struct vmm *vmm, const struct vmsim_exit *ex, struct vmsim_vcpu_state *st)
{
	struct vmm_pc *pc = &vmm->pc;
	uint64_t now = vmm_now(vmm);
	vmm_pc_tick(pc, now);
	uint64_t due = vmm_pc_pending_vector(pc) >= 0 ? now : vmm_pc_next_irq(pc);
	if (!(st->flags.value & RFLAGS_IF) || due == UINT64_MAX) {
		vmm_finish(vmm, 0);
		return false;
	}
	vmm_skip(ex, st, 1);
	vmsim_charge(st, intr_state, st->intr_state.value & ~(uint64_t)BLOCK_STI_MOVSS); /* the shadowed HLT ran */
	if (!vmm->cfg->host_clock) {
		skip_to(vmm, due);
		return true;
	}
	struct timespec until = monotonic_at(due);
	pthread_mutex_lock(&vmm->lock);
	vmm->irq_due = 0; /* this thread waits for it itself */
	while (!vmm->finished && !vmm->timed_out && vmm_pc_now() < due)
		pthread_cond_timedwait(&vmm->cond, &vmm->lock, &until);
	bool finished = vmm->finished, timed_out = vmm->timed_out;
	pthread_mutex_unlock(&vmm->lock);
	if (finished)
		return false;
	if (timed_out) {
		stop_timed_out(vmm, st, VMSIM_EXIT_HLT);
		return false;
	}
	return true;
}

/*
 * An exception --exceptions intercepted (it is in the trace already): the guest gets it as it would have, through
 * an injection, and #PF with CR2 (an intercepted #PF leaves CR2 unwritten). INT3, INTO and INT1 come with their
 * length: VMX injects them as the software exceptions they are; SVM has no such event type, so the VMM moves RIP
 * past the instruction and injects the exception, as KVM does (the handler then returns after it either way).
 */
static bool hand_back(struct vmm *vmm, const struct vmsim_exit *ex, struct vmsim_vcpu_state *st)
{
	uint8_t v = ex->u.exception.vector;
	enum vmsim_model model = vmsim_session_model(vmm->session);
	struct vmsim_event event = { .valid = true, .type = VMSIM_EVENT_HW_EXCEPTION, .vector = v,
		                     .has_error = ex->u.exception.has_error, .error_code = ex->u.exception.error_code };
	if (ex->insn_len && model == VMSIM_MODEL_VMX) {
		event.type = v == 1 ? VMSIM_EVENT_PRIV_SW_EXCEPTION : VMSIM_EVENT_SW_EXCEPTION;
		event.insn_len = ex->insn_len;
		vmsim_charge(st, ip_len, ex->insn_len);
	} else if (ex->insn_len) {
		vmsim_charge(st, ip, ex->rip + ex->insn_len);
	}
	uint64_t info = 0, error = 0;
	if (vmsim_model_encode_event(model, &event, &info, &error) != VMSIM_OK) {
		fprintf(vmm->cfg->err, "vmsim run: cannot hand exception %u at ip 0x%" PRIx64 " back to the guest\n", v,
		        ex->rip);
		vmm_finish(vmm, RUN_STATUS_GUEST_FAULT);
		return false;
	}
	vmsim_charge(st, inj_info, info);
	vmsim_charge(st, inj_error, error);
	if (v == 14)
		vmsim_charge(st, cr2, ex->u.exception.qual);
	return true;
}

/* The exit's device or answer; false: the run ends. */
static bool handle_exit(struct vmm *vmm, struct vmsim_vcpu *vcpu, const struct vmsim_exit *ex,
                        struct vmsim_vcpu_state *st)
{
	const struct run_config *cfg = vmm->cfg;
	switch (ex->kind) {
	case VMSIM_EXIT_STARTUP:
		if (!give_cpuid_table(vmm, vcpu))
			return false;
		if (vmsim_vcpu_intercept_exceptions(vcpu, cfg->exceptions) != VMSIM_OK) {
			fprintf(cfg->err, "vmsim run: --exceptions: the vCPU refused the intercepts\n");
			vmm_finish(vmm, RUN_STATUS_SETUP);
			return false;
		}
		vmm_start_state(vmm, st);
		return true;
	case VMSIM_EXIT_EXCEPTION:
		return hand_back(vmm, ex, st);
	case VMSIM_EXIT_IO:
		return vmm_handle_io(vmm, ex, st);
	case VMSIM_EXIT_NPF:
		return vmm_handle_npf(vmm, ex, st);
	case VMSIM_EXIT_CPUID:
		answer_cpuid(vmm, ex, st);
		return true;
	case VMSIM_EXIT_RDTSC:
	case VMSIM_EXIT_RDTSCP:
		answer_tsc(ex, st);
		return true;
	case VMSIM_EXIT_MSR:
		vmm_msr_access(vmm, st, ex->u.msr.write);
		vmm_skip(ex, st, 2);
		return true;
	case VMSIM_EXIT_VMCALL:
		vmm_skip(ex, st, 3);
		return true;
	case VMSIM_EXIT_HLT:
		return halt(vmm, ex, st);
	case VMSIM_EXIT_PAUSED:
		/* the timer thread's recall of a vCPU without exits: with IF = 1 it waits for the timer (the virtual clock
		 * skips to the IRQ, delivered below); with IF = 0 it computes and its clock stays */
		if (st->flags.value & RFLAGS_IF)
			skip_to(vmm, vmm_pc_next_irq(&vmm->pc));
		return true;
	case VMSIM_EXIT_INTR_WINDOW: /* the guest takes interrupts again: delivered below */
		return true;
	case VMSIM_EXIT_SHUTDOWN:
		fprintf(cfg->err, "vmsim run: triple fault (shutdown) at ip 0x%" PRIx64 "\n", ex->rip);
		vmm_finish(vmm, RUN_STATUS_GUEST_FAULT);
		return false;
	case VMSIM_EXIT_INVALID_STATE:
		fprintf(cfg->err, "vmsim run: the vCPU refused its state (invalid guest state, reason %d) at ip 0x%"
		        PRIx64 "\n", (int)ex->u.invalid.reason, ex->rip);
		explain_stop(vmm, st);
		vmm_finish(vmm, RUN_STATUS_GUEST_FAULT);
		return false;
	default:
		fprintf(cfg->err, "vmsim run: unexpected '%s' exit (code %u) at ip 0x%" PRIx64 "\n",
		        vmsim_exit_kind_name(ex->kind), st->exit_reason, ex->rip);
		vmm_finish(vmm, RUN_STATUS_GUEST_FAULT);
		return false;
	}
}

static bool on_exit_state(void *ctx, struct vmsim_vcpu_state *st)
{
	struct vmm *vmm = ((struct exit_ctx *)ctx)->vmm;
	struct vmsim_vcpu *vcpu = ((struct exit_ctx *)ctx)->vcpu;
	struct vmsim_exit ex;
	vmsim_vcpu_last_exit(vcpu, &ex);
	if (run_over(vmm, &ex, st))
		return false;

	struct exit_events ev = { vmsim_charged(st, intr_state), vmsim_charged(st, inj_info) ? st->inj_info.value : 0 };
	/* the exit charged what it transferred: load back only what a handler below charges */
	vmsim_vcpu_state_discharge(st);
	if (!handle_exit(vmm, vcpu, &ex, st))
		return false;
	deliver_irq(vmm, st, ev, ex.kind == VMSIM_EXIT_PAUSED && !(st->flags.value & RFLAGS_IF));
	return true;
}

static void handler(void *ctx, struct vmsim_vcpu *vcpu)
{
	struct exit_ctx ec = { ctx, vcpu };
	if (vmsim_vcpu_with_state(vcpu, on_exit_state, &ec) != VMSIM_OK)
		vmm_finish(ctx, RUN_STATUS_SETUP);
}

/*
 * The timer thread recalls the vCPU (vmsim_vcpu_pause) for a timer IRQ a vCPU without exits would otherwise never
 * take (it gets it at the PAUSED exit): with the host clock when the IRQ is due, with the virtual clock once the
 * vCPU has run SPIN_CHECK_MS of its own CPU time without an exit (the clock then skips to the IRQ). CPU time, not
 * wall time: a vCPU thread the host did not schedule for a while made no progress, and recalling it then put the
 * clock skip at a place that depended on the host's load (the SeaBIOS repeatability test, under ASan on a busy
 * CI machine, saw a timer IRQ 3,500 exits early). And once the timeout has passed: then
 * every RECALL_INTERVAL_MS until the handler has seen timed_out, since a recall that lands while the vCPU sits on a
 * fresh exit is absorbed by that exit's with_state, and a guest that then spins without exits would never stop.
 */
/* The vCPU thread's CPU time in ns into *ns; false before its first exit told which thread it is, or if its
 * clock cannot be read (the watchdog then falls back to wall time). Under vmm->lock. */
static bool vcpu_cpu_time(const struct vmm *vmm, uint64_t *ns)
{
	struct timespec ts;

	if (!vmm->vcpu_clock_known || clock_gettime(vmm->vcpu_clock, &ts) != 0)
		return false;
	*ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return true;
}

static void *timer_main(void *arg)
{
	struct vmm *vmm = arg;
	uint64_t timeout_at = vmm->cfg->timeout > 0 ? vmm_pc_now() + (uint64_t)(vmm->cfg->timeout * 1e9) : UINT64_MAX;
	uint64_t progress_seen = 0, progress_at = 0; /* the exit count last seen, and the vCPU's CPU time then */
	bool progress_cpu = false;                   /* progress_at is CPU time (else wall time) */
	pthread_mutex_lock(&vmm->lock);
	while (!vmm->finished) {
		uint64_t now = vmm_pc_now(), wake = timeout_at, ran;
		if (now >= timeout_at)
			vmm->timed_out = true;
		bool recall = vmm->timed_out;
		if (!recall && vmm->irq_due && vmm->cfg->host_clock) {
			recall = now >= vmm->irq_due;
			if (!recall && vmm->irq_due < wake)
				wake = vmm->irq_due;
		} else if (!recall && vmm->irq_due) {
			bool cpu = vcpu_cpu_time(vmm, &ran);
			if (!cpu)
				ran = now;
			if (vmm->progress != progress_seen || cpu != progress_cpu) {
				progress_cpu = cpu;
				progress_seen = vmm->progress;
				progress_at = ran;
			}
			uint64_t spin_until = progress_at + SPIN_CHECK_MS * 1000000ull;
			recall = ran >= spin_until;
			/* CPU time advances no faster than wall time: look again once it could have got there */
			if (!recall && now + (spin_until - ran) < wake)
				wake = now + (spin_until - ran);
		}
		if (recall) {
			vmm->irq_due = 0; /* the handler arms the next one at the exit this recall causes */
			pthread_mutex_unlock(&vmm->lock);
			enum vmsim_result r = vmsim_vcpu_pause(vmm->vcpu);
			if (r != VMSIM_OK) {
				fprintf(vmm->cfg->err, "vmsim run: cannot recall the vCPU: %s\n", vmsim_result_name(r));
				vmm_finish(vmm, RUN_STATUS_TIMEOUT);
				return NULL;
			}
			pthread_mutex_lock(&vmm->lock);
			if (!vmm->timed_out)
				continue;
			wake = vmm_pc_now() + RECALL_INTERVAL_MS * 1000000ull;
		}
		if (vmm->finished)
			break;
		if (wake == UINT64_MAX) {
			pthread_cond_wait(&vmm->cond, &vmm->lock);
		} else {
			struct timespec until = monotonic_at(wake);
			pthread_cond_timedwait(&vmm->cond, &vmm->lock, &until);
		}
	}
	pthread_mutex_unlock(&vmm->lock);
	return NULL;
}

int run_vmm(const struct run_config *cfg, const uint8_t *image, uint64_t image_size)
{
	struct vmm vmm = { .cfg = cfg, .status = RUN_STATUS_SETUP, .msr_pat = 0x0007040600070406ull };
	/* the virtual clock starts at 0 with the RTC at 2000-01-01 00:00:00 UTC, so that runs repeat exactly */
	vmm_pc_init(&vmm.pc, cfg->mem, cfg->host_clock ? vmm_pc_now() : 0,
	            cfg->host_clock ? (int64_t)time(NULL) : 946684800);
	pthread_mutex_init(&vmm.lock, NULL);
	pthread_condattr_t monotonic;
	pthread_condattr_init(&monotonic);
	pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC); /* the devices' time base (vmm_pc_now) */
	pthread_cond_init(&vmm.cond, &monotonic);
	pthread_condattr_destroy(&monotonic);
	const cs_mode modes[3] = { CS_MODE_16, CS_MODE_32, CS_MODE_64 };
	for (unsigned i = 0; i < 3; i++) {
		if (cs_open(CS_ARCH_X86, modes[i], &vmm.cs[i]) != CS_ERR_OK) {
			fprintf(cfg->err, "vmsim run: cannot open the Capstone decoder\n");
			return RUN_STATUS_SETUP;
		}
		cs_option(vmm.cs[i], CS_OPT_DETAIL, CS_OPT_ON);
	}

	int status = vmm_open_session(&vmm);
	if (!status)
		status = vmm_build_memory(&vmm, image, image_size);
	pthread_t timer;
	bool timer_started = false;
	if (!status) {
		struct vmsim_exit_config fast;
		vmsim_exit_config_minimal(&fast);
		fast.groups[VMSIM_EXIT_STARTUP] = VMSIM_GROUP_ALL;
		/* CONTROL: string I/O reads and writes guest memory through the guest's page tables */
		fast.groups[VMSIM_EXIT_IO] = VMSIM_GROUP_GPR | VMSIM_GROUP_IP | VMSIM_GROUP_SEGMENTS | VMSIM_GROUP_CONTROL;
		fast.groups[VMSIM_EXIT_NPF] = VMSIM_GROUP_GPR | VMSIM_GROUP_IP | VMSIM_GROUP_SEGMENTS | VMSIM_GROUP_CONTROL;
		fast.groups[VMSIM_EXIT_MSR] = VMSIM_GROUP_ALL; /* the MSR file reads and writes vCPU state */
		fast.groups[VMSIM_EXIT_RDTSC] = fast.groups[VMSIM_EXIT_RDTSCP] = VMSIM_GROUP_GPR | VMSIM_GROUP_IP |
		                                                              VMSIM_GROUP_TSC;
		/* where a run may end (timeout's recall, a refused state): explain_stop decodes at CS:IP through CR0 */
		fast.groups[VMSIM_EXIT_PAUSED] = fast.groups[VMSIM_EXIT_INVALID_STATE] =
		        VMSIM_GROUP_GPR | VMSIM_GROUP_IP | VMSIM_GROUP_SEGMENTS | VMSIM_GROUP_CONTROL;
		/* every exit: what interrupt delivery reads (RFLAGS.IF, the shadow, an event on its way) */
		for (unsigned k = 0; k < VMSIM_EXIT_KIND_COUNT; k++)
			fast.groups[k] |= VMSIM_GROUP_IP | VMSIM_GROUP_EVENTS;
		bool fast_ok = cfg->minimal_exit_config && !cfg->disasm; /* --disasm decodes at every exit */
		struct vmsim_vcpu_args args = { handler, &vmm, fast_ok ? &fast : NULL, NULL };
		enum vmsim_result r = vmsim_vcpu_create(vmm.session, &args, &vmm.vcpu);
		if (r != VMSIM_OK)
			status = vmm_setup_error(cfg, "creating the vCPU", r);
	}
	if (!status) {
		timer_started = pthread_create(&timer, NULL, timer_main, &vmm) == 0;
		if (!timer_started) {
			fprintf(cfg->err, "vmsim run: cannot start the timer thread\n");
			vmm_finish(&vmm, RUN_STATUS_SETUP);
		}
	}
	if (!status) {
		pthread_mutex_lock(&vmm.lock);
		while (!vmm.finished)
			pthread_cond_wait(&vmm.cond, &vmm.lock);
		status = vmm.status;
		pthread_mutex_unlock(&vmm.lock);
	}
	if (timer_started) {
		vmm_finish(&vmm, status);
		pthread_join(timer, NULL);
	}

	vmsim_session_close(vmm.session);
	if (vmm.ram.ptr)
		vmsim_local_release(vmm.env, &vmm.ram);
	if (vmm.rom.ptr)
		vmsim_local_release(vmm.env, &vmm.rom);
	vmsim_env_destroy(vmm.env); /* frees the dataspaces */
	for (unsigned i = 0; i < 3; i++)
		cs_close(&vmm.cs[i]);
	pthread_cond_destroy(&vmm.cond);
	pthread_mutex_destroy(&vmm.lock);
	return status;
}
