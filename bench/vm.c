/* bench/vm.c - the benchmark's VMM: one session with guest RAM, a vCPU on an exit loop, and its handler. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_vm.h"

enum { GDT = BENCH_GDT, TABLES = BENCH_TABLES };

void vmsim_bench_guest_memory(uint8_t *ram, const struct bench_guest *g)
{
	memset(ram, 0, BENCH_RAM);
	memcpy(ram + BENCH_CODE, g->code, g->size);
	uint64_t gdt[4] = { 0, 0x00af9a000000ffffull, 0x00cf92000000ffffull, 0x00cf9a000000ffffull };
	memcpy(ram + GDT, gdt, sizeof gdt);
	uint64_t *p = (uint64_t *)(ram + TABLES);
	p[0] = (TABLES + 0x1000) | 3;
	for (unsigned i = 0; i < 4; i++)
		p[512 + i] = (TABLES + 0x2000 + i * 0x1000) | 3;
	for (unsigned i = 0; i < 4 * 512; i++)
		p[1024 + i] = ((uint64_t)i << 21) | 0x83;
	uint32_t *pd = (uint32_t *)(ram + BENCH_TABLES32);
	for (uint32_t i = 0; i < 1024; i++)
		pd[i] = (i << 22) | 0x83;
}

/* The 32-bit protected-mode cases: flat 32-bit code, paging off or on the identity 4 MiB directory. */
static void pm32_state(const struct bench_vm *b, struct vmsim_vcpu_state *st)
{
	bool paged = b->which == BENCH_IO_OUT_PM32_PAGED;
	vmsim_charge(st, cs, (struct vmsim_segment){ 0x18, 0xc9b, 0xffffffff, 0 });
	vmsim_charge(st, gdtr, (struct vmsim_dtable){ 31, GDT });
	vmsim_charge(st, cr0, paged ? 0x80000011 : 0x11);
	vmsim_charge(st, cr3, paged ? BENCH_TABLES32 : 0);
	vmsim_charge(st, cr4, paged ? 0x10 : 0);
	vmsim_charge(st, efer, 0);
}

/* A flat 64-bit guest at BENCH_CODE with rdx = port and rbx = the MMIO address. */
static void start_state(const struct bench_vm *b, struct vmsim_vcpu_state *st)
{
	uint64_t primary = 0, secondary = 0;
	bool unpaged = b->which == BENCH_IO_OUT_PM32;
	vmsim_model_encode_controls(b->model, VMSIM_INTERCEPT_HLT | (unpaged ? VMSIM_INTERCEPT_UNRESTRICTED_GUEST : 0),
	                            &primary, &secondary);
	vmsim_charge(st, ctrl_primary, primary);
	vmsim_charge(st, ctrl_secondary, secondary);
	struct vmsim_segment code = { 0x08, 0xa9b, 0xffffffff, 0 }, data = { 0x10, 0xc93, 0xffffffff, 0 };
	vmsim_charge(st, cs, code);
	vmsim_charge(st, ds, data);
	vmsim_charge(st, es, data);
	vmsim_charge(st, ss, data);
	vmsim_charge(st, fs, data);
	vmsim_charge(st, gs, data);
	vmsim_charge(st, tr, (struct vmsim_segment){ 0, 0x8b, 0xffff, 0 });
	vmsim_charge(st, ldtr, (struct vmsim_segment){ 0, 0x1000, 0xffff, 0 });
	vmsim_charge(st, gdtr, (struct vmsim_dtable){ 31, GDT });
	vmsim_charge(st, idtr, (struct vmsim_dtable){ 0, 0 });
	vmsim_charge(st, cr0, 0x80000011);
	vmsim_charge(st, cr3, TABLES);
	vmsim_charge(st, cr4, 0x20);
	vmsim_charge(st, efer, 0x500);
	vmsim_charge(st, flags, 2);
	vmsim_charge(st, sp, BENCH_STACK);
	vmsim_charge(st, ax, 0);
	vmsim_charge(st, dx, BENCH_PORT);
	vmsim_charge(st, bx, BENCH_MMIO);
	vmsim_charge(st, ip, BENCH_CODE);
	if (b->which == BENCH_IO_OUT_PM32 || b->which == BENCH_IO_OUT_PM32_PAGED)
		pm32_state(b, st);
}

bool vmsim_bench_vm_wait_running(struct bench_vm *b, unsigned i, uint64_t timeout_ns, struct vmsim_exit *last)
{
	struct vmsim_vcpu *vcpu = b->vcpus[i].vcpu;
	struct timespec poll = { 0, 100000 };

	/*
	 * Kind NONE alone is no proof: a vCPU whose thread has not published its
	 * STARTUP yet reads NONE too. STARTUP is published before it is counted.
	 */
	for (uint64_t t0 = vmsim_bench_now_ns();; nanosleep(&poll, NULL)) {
		bool started = vmsim_vcpu_exit_count(vcpu, VMSIM_EXIT_STARTUP) > 0;
		vmsim_vcpu_last_exit(vcpu, last);
		if (started && last->kind != VMSIM_EXIT_STARTUP)
			return last->kind == VMSIM_EXIT_NONE;
		if (atomic_load(&b->finished) || vmsim_bench_now_ns() - t0 > timeout_ns)
			return false;
	}
}

void vmsim_bench_vm_finish(struct bench_vm *b, const char *failure)
{
	pthread_mutex_lock(&b->lock);
	if (failure && !b->failure[0])
		snprintf(b->failure, sizeof b->failure, "%s", failure);
	atomic_store(&b->finished, true);
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* The VMM's work per exit: what a device model would do, charging only what it changes. */
static bool on_state(void *ctx, struct vmsim_vcpu_state *st)
{
	struct bench_vcpu *vc = ctx;
	struct bench_vm *b = vc->vm;
	unsigned reason = st->exit_reason;

	if (atomic_load_explicit(&b->finished, memory_order_relaxed))
		return false;
	if (reason == VMSIM_EXIT_CODE_STARTUP) {
		vmsim_vcpu_state_discharge(st);
		start_state(b, st);
		if (b->on_start)
			return b->on_start(vc);
		vmsim_bench_batch_start(&vc->batch, &b->lim, &vc->samples);
		return true;
	}
	if (reason != b->expect) {
		char msg[160];
		snprintf(msg, sizeof msg, "unexpected exit %#x (%s) at ip %#llx", reason,
		         vmsim_model_exit_name(b->model, reason), (unsigned long long)st->ip.value);
		vmsim_bench_vm_finish(b, msg);
		return false;
	}
	uint64_t ip = st->ip.value, len = st->ip_len.value ? st->ip_len.value : b->guest->exit_len;
	vmsim_vcpu_state_discharge(st);
	switch (b->which) {
	case BENCH_IO_IN:
		vmsim_charge(st, ax, BENCH_IN_VALUE);
		break;
	case BENCH_MMIO_READ:
		vmsim_charge(st, ax, 0xffffffffu);
		break;
	case BENCH_CPUID:
		vmsim_charge(st, ax, 1);
		vmsim_charge(st, bx, 0x69736d76);
		vmsim_charge(st, cx, 0x6d766d69);
		vmsim_charge(st, dx, 0x736d766d);
		break;
	case BENCH_PAUSE: {
		/* a recall: nothing to change, resume where it stopped */
		uint64_t t = vmsim_bench_now_ns(), t0 = atomic_load(&b->pause_at);
		vmsim_bench_sample_add(&vc->samples, (double)(t - t0));
		atomic_fetch_add(&b->answered, 1);
		return true;
	}
	default:
		break;
	}
	vmsim_charge(st, ip, ip + len);
	if (b->on_exit)
		return b->on_exit(vc);
	if (vmsim_bench_batch_tick(&vc->batch)) {
		vmsim_bench_vm_finish(b, NULL);
		return false;
	}
	return true;
}

static void handler(void *ctx, struct vmsim_vcpu *vcpu)
{
	struct bench_vcpu *vc = ctx;
	struct bench_vm *b = vc->vm;
	enum vmsim_result r = vmsim_vcpu_with_state(vcpu, on_state, vc);
	if (r != VMSIM_OK) {
		char msg[96];
		snprintf(msg, sizeof msg, "with_state: %s", vmsim_result_name(r));
		vmsim_bench_vm_finish(b, msg);
	}
}

enum vmsim_result vmsim_bench_vm_open(struct bench_vm *b, const struct bench_vm_args *args)
{
	memset(b, 0, sizeof *b);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	b->model = args->model;
	b->which = args->which;
	b->guest = vmsim_bench_guest(args->which);
	b->lim = args->lim;
	b->on_start = args->on_start;
	b->on_exit = args->on_exit;
	b->user = args->user;
	static const enum vmsim_exit_kind kinds[BENCH_CASE_COUNT] = {
		[BENCH_IO_OUT] = VMSIM_EXIT_IO, [BENCH_IO_IN] = VMSIM_EXIT_IO, [BENCH_MMIO_WRITE] = VMSIM_EXIT_NPF,
		[BENCH_MMIO_READ] = VMSIM_EXIT_NPF, [BENCH_CPUID] = VMSIM_EXIT_CPUID, [BENCH_HLT] = VMSIM_EXIT_HLT,
		[BENCH_PAUSE] = VMSIM_EXIT_PAUSED, [BENCH_IO_OUT_EP] = VMSIM_EXIT_IO, [BENCH_IO_OUT_FULL] = VMSIM_EXIT_IO,
		[BENCH_IO_OUT_PM32] = VMSIM_EXIT_IO, [BENCH_IO_OUT_PM32_PAGED] = VMSIM_EXIT_IO,
		[BENCH_GUEST_LOADS] = VMSIM_EXIT_IO, [BENCH_GUEST_STORES] = VMSIM_EXIT_IO, [BENCH_IO_OUT_SITES] = VMSIM_EXIT_IO,
	};
	b->expect = (unsigned)vmsim_model_exit_code(args->model, kinds[args->which]);

	struct vmsim_env_config cfg = { .ram_pool = 1ull << 30 };
	enum vmsim_result r = vmsim_env_create(&cfg, &b->env);
	if (r == VMSIM_OK)
		r = vmsim_register_builtin_backends(b->env);
	unsigned n = args->vcpus ? args->vcpus : 1;
	struct vmsim_session_args sa = { .ram_quota = (4ull << 20) + (uint64_t)n * VMSIM_COST_VCPU_RAM +
	                                              args->extra_ram_quota,
		                         .cap_quota = 4 + n * VMSIM_COST_VCPU_CAPS, .label = "bench",
		                         .backend = args->backend, .model = args->model };
	if (r == VMSIM_OK)
		r = vmsim_session_open(b->env, &sa, &b->session);
	if (r == VMSIM_OK)
		r = vmsim_ds_alloc(b->env, BENCH_RAM, &b->ram_ds);
	if (r == VMSIM_OK)
		r = vmsim_local_attach(b->env, b->ram_ds, &(struct vmsim_local_attr){ 0, 0, true }, &b->ram);
	if (r == VMSIM_OK) {
		vmsim_bench_guest_memory(b->ram.ptr, b->guest);
		struct vmsim_range range;
		r = vmsim_session_attach(b->session, b->ram_ds, 0, &(struct vmsim_attach_attr){ 0, 0, true, true },
		                         &range);
	}
	if (r == VMSIM_OK && args->entrypoint)
		r = vmsim_entrypoint_create(b->env, "bench-ep", &b->ep);
	struct vmsim_exit_config ec;
	if (args->full_state)
		vmsim_exit_config_all(&ec);
	else
		vmsim_exit_config_minimal(&ec);
	ec.groups[VMSIM_EXIT_STARTUP] = VMSIM_GROUP_ALL;
	if (r == VMSIM_OK && !(b->vcpus = calloc(n, sizeof *b->vcpus)))
		r = VMSIM_OUT_OF_RAM;
	for (unsigned i = 0; r == VMSIM_OK && i < n; i++) {
		struct bench_vcpu *vc = &b->vcpus[i];
		vc->vm = b;
		vc->index = i;
		b->nvcpus = i + 1;
		struct vmsim_vcpu_args va = { handler, vc, &ec, b->ep };
		r = vmsim_vcpu_create(b->session, &va, &vc->vcpu);
	}
	if (r != VMSIM_OK)
		vmsim_bench_vm_close(b);
	return r;
}

bool vmsim_bench_vm_wait(struct bench_vm *b, uint64_t timeout_ns)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += (time_t)(timeout_ns / 1000000000ull);
	deadline.tv_nsec += (long)(timeout_ns % 1000000000ull);
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&b->lock);
	while (!atomic_load(&b->finished))
		if (pthread_cond_timedwait(&b->cond, &b->lock, &deadline) != 0)
			break;
	bool done = atomic_load(&b->finished);
	pthread_mutex_unlock(&b->lock);
	if (!done)
		vmsim_bench_vm_finish(b, "timed out");
	return done && !b->failure[0];
}

void vmsim_bench_vm_close(struct bench_vm *b)
{
	vmsim_session_close(b->session);
	if (b->ep && vmsim_entrypoint_destroy(b->ep) != VMSIM_OK)
		fprintf(stderr, "vmsim bench: entrypoint still busy\n");
	if (b->ram.ptr)
		vmsim_local_release(b->env, &b->ram);
	vmsim_env_destroy(b->env);
	for (unsigned i = 0; i < b->nvcpus; i++)
		vmsim_bench_samples_free(&b->vcpus[i].samples);
	free(b->vcpus);
	b->vcpus = NULL;
	b->nvcpus = 0;
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	b->session = NULL;
	b->env = NULL;
	b->ep = NULL;
}
