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

/* The run is over (finished, traced its last, out of time or exits): false. Checked on every exit, since a recall
 * may have been absorbed by an exit already pending. */
static bool run_over(struct vmm *vmm, const struct vmsim_exit *ex, const struct vmsim_vcpu_state *st)
{
	const struct run_config *cfg = vmm->cfg;
	pthread_mutex_lock(&vmm->lock);
	bool done = vmm->finished, timed_out = vmm->timed_out;
	pthread_mutex_unlock(&vmm->lock);
	if (done)
		return true;

	vmm->seq++;
	if (cfg->trace && !vmm_trace(vmm, ex, st))
		return true;
	if (timed_out) {
		fprintf(cfg->err, "vmsim run: timed out after %.3g s (--timeout) at ip 0x%" PRIx64 "\n", cfg->timeout,
		        st->ip.value);
		vmm_finish(vmm, RUN_STATUS_TIMEOUT);
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
	vmsim_reg_charge(&st->ax, hit.eax);
	vmsim_reg_charge(&st->bx, hit.ebx);
	vmsim_reg_charge(&st->cx, hit.ecx);
	vmsim_reg_charge(&st->dx, hit.edx);
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
	vmsim_reg_charge(&st->ax, (uint32_t)tsc);
	vmsim_reg_charge(&st->dx, tsc >> 32);
	if (ex->kind == VMSIM_EXIT_RDTSCP)
		vmsim_reg_charge(&st->cx, (uint32_t)st->tsc_aux.value); /* TSC_AUX, as the MSR file holds it */
	vmm_skip(ex, st, ex->kind == VMSIM_EXIT_RDTSCP ? 3 : 2);
}

static bool on_exit_state(void *ctx, struct vmsim_vcpu_state *st)
{
	struct vmm *vmm = ((struct exit_ctx *)ctx)->vmm;
	const struct run_config *cfg = vmm->cfg;
	struct vmsim_exit ex;
	vmsim_vcpu_last_exit(((struct exit_ctx *)ctx)->vcpu, &ex);
	if (run_over(vmm, &ex, st))
		return false;

	/* the exit charged what it transferred: load back only what a handler below charges */
	vmsim_vcpu_state_discharge(st);

	switch (ex.kind) {
	case VMSIM_EXIT_STARTUP:
		if (!give_cpuid_table(vmm, ((struct exit_ctx *)ctx)->vcpu))
			return false;
		vmm_start_state(vmm, st);
		return true;
	case VMSIM_EXIT_IO:
		return vmm_handle_io(vmm, &ex, st);
	case VMSIM_EXIT_NPF:
		return vmm_handle_npf(vmm, &ex, st);
	case VMSIM_EXIT_CPUID:
		answer_cpuid(vmm, &ex, st);
		return true;
	case VMSIM_EXIT_RDTSC:
	case VMSIM_EXIT_RDTSCP:
		answer_tsc(&ex, st);
		return true;
	case VMSIM_EXIT_MSR:
		vmm_msr_access(vmm, st, ex.u.msr.write);
		vmm_skip(&ex, st, 2);
		return true;
	case VMSIM_EXIT_VMCALL:
		vmm_skip(&ex, st, 3);
		return true;
	case VMSIM_EXIT_HLT:
		vmm_finish(vmm, 0);
		return false;
	case VMSIM_EXIT_PAUSED:
		return true; /* a recall before the timeout (none is made today): resume */
	case VMSIM_EXIT_SHUTDOWN:
		fprintf(cfg->err, "vmsim run: triple fault (shutdown) at ip 0x%" PRIx64 "\n", ex.rip);
		vmm_finish(vmm, RUN_STATUS_GUEST_FAULT);
		return false;
	case VMSIM_EXIT_INVALID_STATE:
		fprintf(cfg->err, "vmsim run: the vCPU refused its state (invalid guest state, reason %d) at ip 0x%"
		        PRIx64 "\n", (int)ex.u.invalid.reason, ex.rip);
		vmm_finish(vmm, RUN_STATUS_GUEST_FAULT);
		return false;
	default:
		fprintf(cfg->err, "vmsim run: unexpected '%s' exit (code %u) at ip 0x%" PRIx64 "\n",
		        vmsim_exit_kind_name(ex.kind), st->exit_reason, ex.rip);
		vmm_finish(vmm, RUN_STATUS_GUEST_FAULT);
		return false;
	}
}

static void handler(void *ctx, struct vmsim_vcpu *vcpu)
{
	struct exit_ctx ec = { ctx, vcpu };
	if (vmsim_vcpu_with_state(vcpu, on_exit_state, &ec) != VMSIM_OK)
		vmm_finish(ctx, RUN_STATUS_SETUP);
}

static void *timer_main(void *arg)
{
	struct vmm *vmm = arg;
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	double whole = (double)(time_t)vmm->cfg->timeout;
	deadline.tv_sec += (time_t)vmm->cfg->timeout;
	deadline.tv_nsec += (long)((vmm->cfg->timeout - whole) * 1e9);
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&vmm->lock);
	while (!vmm->finished) {
		if (pthread_cond_timedwait(&vmm->cond, &vmm->lock, &deadline) == ETIMEDOUT) {
			vmm->timed_out = true;
			break;
		}
	}
	/* Recall until the handler has seen timed_out: a recall that lands while the vCPU sits on a fresh exit is
	 * absorbed by that exit's with_state, and a guest that then spins without exits would never stop. */
	while (vmm->timed_out && !vmm->finished) {
		pthread_mutex_unlock(&vmm->lock);
		if (vmsim_vcpu_pause(vmm->vcpu) != VMSIM_OK) {
			vmm_finish(vmm, RUN_STATUS_TIMEOUT);
			return NULL;
		}
		pthread_mutex_lock(&vmm->lock);
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += RECALL_INTERVAL_MS * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		while (!vmm->finished && pthread_cond_timedwait(&vmm->cond, &vmm->lock, &deadline) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&vmm->lock);
	return NULL;
}

int run_vmm(const struct run_config *cfg, const uint8_t *image, uint64_t image_size)
{
	struct vmm vmm = { .cfg = cfg, .status = RUN_STATUS_SETUP, .msr_pat = 0x0007040600070406ull };
	pthread_mutex_init(&vmm.lock, NULL);
	pthread_cond_init(&vmm.cond, NULL);
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
		bool fast_ok = cfg->minimal_exit_config && !cfg->disasm; /* --disasm decodes at every exit */
		struct vmsim_vcpu_args args = { handler, &vmm, fast_ok ? &fast : NULL, NULL };
		enum vmsim_result r = vmsim_vcpu_create(vmm.session, &args, &vmm.vcpu);
		if (r != VMSIM_OK)
			status = vmm_setup_error(cfg, "creating the vCPU", r);
	}
	if (!status && cfg->timeout > 0)
		timer_started = pthread_create(&timer, NULL, timer_main, &vmm) == 0;
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
