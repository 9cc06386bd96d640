/* bench/raw_unicorn.c - the raw Unicorn baselines: the same guest loops with each exit handled in Unicorn's own hook. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <unicorn/unicorn.h>

#include "bench_internal.h"

#define RAW_UNTIL 0x8000dead00000001ull /* an address the guest never reaches (ignored: exits are on) */

struct raw {
	uc_engine *uc;
	uint8_t *ram;
	struct bench_batcher batch;
	bool done;
	bool full_state;
	uint64_t sink;
};

static bool fail(char *why, size_t n, const char *what, uc_err err)
{
	snprintf(why, n, "raw unicorn: %s: %s", what, uc_strerror(err));
	return false;
}

static bool raw_open(struct raw *r, const struct bench_guest *g, char *why, size_t n)
{
	memset(r, 0, sizeof *r);
	r->ram = mmap(NULL, BENCH_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->ram == MAP_FAILED) {
		r->ram = NULL;
		snprintf(why, n, "raw unicorn: no memory for guest RAM");
		return false;
	}
	memcpy(r->ram + BENCH_CODE, g->code, g->size);
	uc_err err = uc_open(UC_ARCH_X86, UC_MODE_64, &r->uc);
	if (err != UC_ERR_OK)
		return fail(why, n, "uc_open", err);
	/* as the backend does: no `until`, whose code 2.0.1 invalidates after every uc_emu_start */
	err = uc_ctl_exits_enable(r->uc);
	if (err != UC_ERR_OK)
		return fail(why, n, "uc_ctl_exits_enable", err);
	err = uc_mem_map_ptr(r->uc, 0, BENCH_RAM, UC_PROT_ALL, r->ram);
	if (err != UC_ERR_OK)
		return fail(why, n, "uc_mem_map_ptr", err);
	uint64_t rsp = BENCH_STACK, rdx = BENCH_PORT, rbx = BENCH_MMIO, rip = BENCH_CODE;
	uc_reg_write(r->uc, UC_X86_REG_RSP, &rsp);
	uc_reg_write(r->uc, UC_X86_REG_RDX, &rdx);
	uc_reg_write(r->uc, UC_X86_REG_RBX, &rbx);
	uc_reg_write(r->uc, UC_X86_REG_RIP, &rip);
	return true;
}

static void raw_close(struct raw *r)
{
	if (r->uc)
		uc_close(r->uc);
	if (r->ram)
		munmap(r->ram, BENCH_RAM);
	r->uc = NULL;
	r->ram = NULL;
}

/* Enter at rip until a hook says done (a stop can also come back early: re-enter). */
static bool raw_run(struct raw *r, char *why, size_t n)
{
	while (!r->done) {
		uint64_t rip;
		uc_reg_read(r->uc, UC_X86_REG_RIP, &rip);
		uc_err err = uc_emu_start(r->uc, rip, RAW_UNTIL, 0, 0);
		if (err != UC_ERR_OK)
			return fail(why, n, "uc_emu_start", err);
	}
	return true;
}

static void tick(struct raw *r)
{
	if (vmsim_bench_batch_tick(&r->batch)) {
		r->done = true;
		uc_emu_stop(r->uc);
	}
}

/* Everything a VMM could look at on an exit, in one batch read (the full Exit_config's counterpart). */
static void read_everything(struct raw *r)
{
	static const int gpr_ids[] = {
		UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX, UC_X86_REG_RSP, UC_X86_REG_RBP,
		UC_X86_REG_RSI, UC_X86_REG_RDI, UC_X86_REG_R8, UC_X86_REG_R9, UC_X86_REG_R10, UC_X86_REG_R11,
		UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15, UC_X86_REG_RIP, UC_X86_REG_RFLAGS,
		UC_X86_REG_ES, UC_X86_REG_CS, UC_X86_REG_SS, UC_X86_REG_DS, UC_X86_REG_FS, UC_X86_REG_GS,
		UC_X86_REG_CR0, UC_X86_REG_CR2, UC_X86_REG_CR3, UC_X86_REG_CR4, UC_X86_REG_DR7,
		UC_X86_REG_FS_BASE, UC_X86_REG_GS_BASE, UC_X86_REG_FPCW, UC_X86_REG_FPSW, UC_X86_REG_MXCSR,
	};
	static const int mmr_ids[] = { UC_X86_REG_GDTR, UC_X86_REG_IDTR, UC_X86_REG_LDTR, UC_X86_REG_TR };
	enum { NG = sizeof gpr_ids / sizeof gpr_ids[0], NM = 4, NX = 8, N = NG + NM + NX };
	int ids[N];
	void *vals[N];
	uint64_t gpr[NG];
	uc_x86_mmr mmr[NM];
	uint8_t xmm[NX][16];

	for (int i = 0; i < NG; i++)
		ids[i] = gpr_ids[i], vals[i] = &gpr[i];
	for (int i = 0; i < NM; i++)
		ids[NG + i] = mmr_ids[i], vals[NG + i] = &mmr[i];
	for (int i = 0; i < NX; i++)
		ids[NG + NM + i] = UC_X86_REG_XMM0 + i, vals[NG + NM + i] = xmm[i];
	uc_reg_read_batch(r->uc, ids, vals, N);
	/* cppcheck-suppress uninitvar ; uc_reg_read_batch filled them through vals */
	r->sink += gpr[0] + mmr[0].base + xmm[0][0];
}

static void hook_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *user)
{
	struct raw *r = user;
	(void)uc, (void)size;
	r->sink += port + value;
	if (r->full_state)
		read_everything(r);
	tick(r);
}

static uint32_t hook_in(uc_engine *uc, uint32_t port, int size, void *user)
{
	struct raw *r = user;
	(void)uc, (void)size;
	r->sink += port;
	tick(r);
	return BENCH_IN_VALUE;
}

static int hook_cpuid(uc_engine *uc, void *user)
{
	struct raw *r = user;
	uint64_t leaf = 0, subleaf = 0, a = 1, b = 0x69736d76, c = 0x6d766d69, d = 0x736d766d;
	/* a CPUID handler answers the leaf and subleaf it is asked for: read them as the backend does (one batch) */
	int ids[2] = { UC_X86_REG_RAX, UC_X86_REG_RCX };
	void *vals[2] = { &leaf, &subleaf };
	uc_reg_read_batch(uc, ids, vals, 2);
	r->sink += leaf ^ subleaf;
	uc_reg_write(uc, UC_X86_REG_RAX, &a);
	uc_reg_write(uc, UC_X86_REG_RBX, &b);
	uc_reg_write(uc, UC_X86_REG_RCX, &c);
	uc_reg_write(uc, UC_X86_REG_RDX, &d);
	tick(r);
	return 1; /* handled: skip Unicorn's own CPUID */
}

static uint64_t mmio_read(uc_engine *uc, uint64_t offset, unsigned size, void *user)
{
	struct raw *r = user;
	(void)uc, (void)size;
	r->sink += offset;
	tick(r);
	return ~0ull;
}

static void mmio_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *user)
{
	struct raw *r = user;
	(void)uc, (void)size;
	r->sink += offset + value;
	tick(r);
}

static void hook_out_stop(uc_engine *uc, uint32_t port, int size, uint32_t value, void *user)
{
	struct raw *r = user;
	(void)size;
	r->sink += port + value;
	if (vmsim_bench_batch_tick(&r->batch))
		r->done = true;
	uc_emu_stop(uc); /* every exit leaves uc_emu_start; raw_run enters again */
}

/* HLT ends uc_emu_start (rip after the hlt): the exit is the return, the resume a new start. */
static bool run_hlt(struct raw *r, char *why, size_t n)
{
	while (!r->done) {
		uint64_t rip;
		uc_reg_read(r->uc, UC_X86_REG_RIP, &rip);
		uc_err err = uc_emu_start(r->uc, rip, RAW_UNTIL, 0, 0);
		if (err != UC_ERR_OK)
			return fail(why, n, "uc_emu_start", err);
		if (vmsim_bench_batch_tick(&r->batch))
			r->done = true;
	}
	return true;
}

struct pauser {
	struct raw *r;
	atomic_uint_fast64_t stop_at;  /* when the last uc_emu_stop was called */
	atomic_uint_fast64_t answered;  /* returns from uc_emu_start */
	atomic_bool quit;
	struct bench_samples *out;
};

static void *pause_runner(void *arg)
{
	struct pauser *p = arg;
	while (!atomic_load(&p->quit)) {
		uint64_t rip;
		uc_reg_read(p->r->uc, UC_X86_REG_RIP, &rip);
		if (uc_emu_start(p->r->uc, rip, RAW_UNTIL, 0, 0) != UC_ERR_OK)
			break;
		uint64_t t = vmsim_bench_now_ns(), t0 = atomic_load(&p->stop_at);
		if (t0 && !atomic_load(&p->quit))
			vmsim_bench_sample_add(p->out, (double)(t - t0));
		atomic_fetch_add(&p->answered, 1);
	}
	atomic_fetch_add(&p->answered, 1);
	return NULL;
}

static void sleep_ns(long ns)
{
	struct timespec ts = { 0, ns };
	nanosleep(&ts, NULL);
}

/* Stop, wait for the return; a stop that lands between two starts is lost, so repeat it after 20 ms. */
static bool stop_and_wait(struct pauser *p)
{
	uint64_t before = atomic_load(&p->answered);
	for (int tries = 0; tries < 50; tries++) {
		atomic_store(&p->stop_at, vmsim_bench_now_ns());
		uc_emu_stop(p->r->uc);
		for (int i = 0; i < 2000 && atomic_load(&p->answered) == before; i++)
			sleep_ns(10000);
		if (atomic_load(&p->answered) != before)
			return true;
	}
	return false;
}

static bool run_pause(struct raw *r, const struct bench_limits *lim, struct bench_samples *out, char *why,
                      size_t n)
{
	struct pauser p = { .r = r, .out = out };
	pthread_t th;
	if (pthread_create(&th, NULL, pause_runner, &p) != 0) {
		snprintf(why, n, "raw unicorn: cannot start the vCPU thread");
		return false;
	}
	uint64_t t_start = vmsim_bench_now_ns();
	bool ok = true;
	while (ok && out->n < lim->max_samples && vmsim_bench_now_ns() - t_start < lim->duration_ns) {
		sleep_ns(200000); /* let the guest run into its loop */
		ok = stop_and_wait(&p);
	}
	atomic_store(&p.quit, true);
	while (pthread_tryjoin_np(th, NULL) != 0) {
		uc_emu_stop(r->uc);
		sleep_ns(100000);
	}
	if (!ok)
		snprintf(why, n, "raw unicorn: uc_emu_stop from another thread was never answered");
	return ok;
}

bool vmsim_bench_raw_uc_case(enum bench_case c, const struct bench_limits *lim, struct bench_samples *out,
                             char *why, size_t n)
{
	struct raw r;
	uc_hook h;
	uc_err err = UC_ERR_OK;
	bool ok = raw_open(&r, vmsim_bench_guest(c), why, n);

	vmsim_bench_batch_start(&r.batch, lim, out);
	if (ok) {
		switch (c) {
		case BENCH_IO_OUT_FULL:
			r.full_state = true;
			/* fall through */
		case BENCH_IO_OUT:
		case BENCH_IO_OUT_EP:
		case BENCH_GUEST_LOADS:
		case BENCH_GUEST_STORES:
		case BENCH_IO_OUT_SITES:
			err = uc_hook_add(r.uc, &h, UC_HOOK_INSN, (void *)hook_out, &r, 1, 0, UC_X86_INS_OUT);
			break;
		case BENCH_IO_IN:
			err = uc_hook_add(r.uc, &h, UC_HOOK_INSN, (void *)hook_in, &r, 1, 0, UC_X86_INS_IN);
			break;
		case BENCH_CPUID:
			err = uc_hook_add(r.uc, &h, UC_HOOK_INSN, (void *)hook_cpuid, &r, 1, 0, UC_X86_INS_CPUID);
			break;
		case BENCH_MMIO_READ:
		case BENCH_MMIO_WRITE:
			err = uc_mmio_map(r.uc, BENCH_MMIO, 0x1000, mmio_read, &r, mmio_write, &r);
			break;
		default:
			break;
		}
		if (err != UC_ERR_OK)
			ok = fail(why, n, "installing the hook", err);
	}
	if (ok) {
		vmsim_bench_batch_start(&r.batch, lim, out);
		if (c == BENCH_HLT)
			ok = run_hlt(&r, why, n);
		else if (c == BENCH_PAUSE)
			ok = run_pause(&r, lim, out, why, n);
		else
			ok = raw_run(&r, why, n);
	}
	raw_close(&r);
	return ok;
}

bool vmsim_bench_raw_uc_stop_restart(const struct bench_limits *lim, struct bench_samples *out, char *why, size_t n)
{
	struct raw r;
	uc_hook h;
	bool ok = raw_open(&r, vmsim_bench_guest(BENCH_IO_OUT), why, n);
	if (ok) {
		uc_err err = uc_hook_add(r.uc, &h, UC_HOOK_INSN, (void *)hook_out_stop, &r, 1, 0, UC_X86_INS_OUT);
		ok = err == UC_ERR_OK ? true : fail(why, n, "installing the hook", err);
	}
	if (ok) {
		vmsim_bench_batch_start(&r.batch, lim, out);
		ok = raw_run(&r, why, n);
	}
	raw_close(&r);
	return ok;
}

/*
 * The floor under the backend's in-hook port I/O exit: the hooks it must register, doing no work but the exit's own
 * register reads. 2.0.1's INSN hooks see a stale RIP, so the backend's exit runs in a UC_HOOK_CODE on the
 * instruction, which reads EDX for the port of `out dx,al`/`in al,dx` (io_exit) and EAX for an OUT's value; the OUT
 * then runs through 2.0.1's INSN hook walk, an IN through the IN hook that returns its value. A global block hook and
 * a PC-sync data hook no access reaches are there too, as ucb_engine_get registers them; its fault, interrupt,
 * invalid-instruction and code-write hooks are left out: nothing in these loops fires them.
 */
static void floor_site_out(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
	struct raw *r = user;
	uint32_t edx = 0, eax = 0;
	(void)addr, (void)size;
	uc_reg_read(uc, UC_X86_REG_EDX, &edx);
	uc_reg_read(uc, UC_X86_REG_EAX, &eax);
	r->sink += edx + eax;
	tick(r);
}

static void floor_site_in(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
	struct raw *r = user;
	uint32_t edx = 0;
	(void)size;
	uc_reg_read(uc, UC_X86_REG_EDX, &edx);
	r->sink += addr + edx;
	tick(r);
}

static uint32_t floor_in(uc_engine *uc, uint32_t port, int size, void *user)
{
	(void)uc, (void)port, (void)size, (void)user;
	return BENCH_IN_VALUE;
}

static int floor_cpuid(uc_engine *uc, void *user)
{
	(void)uc, (void)user;
	return 0;
}

static void floor_block(uc_engine *uc, uint64_t addr, uint32_t size, void *user)
{
	struct raw *r = user;
	(void)uc, (void)size;
	r->sink ^= addr;
}

static void floor_data(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value, void *user)
{
	(void)uc, (void)type, (void)addr, (void)size, (void)value, (void)user;
}

bool vmsim_bench_raw_uc_floor(enum bench_case c, const struct bench_limits *lim, struct bench_samples *out,
                              char *why, size_t n)
{
	struct raw r;
	uc_hook h;
	bool ok = raw_open(&r, vmsim_bench_guest(c), why, n);
	uc_err err = UC_ERR_ARG;

	if (ok && (c == BENCH_IO_OUT || c == BENCH_IO_IN)) {
		void *site = c == BENCH_IO_OUT ? (void *)floor_site_out : (void *)floor_site_in;
		err = uc_hook_add(r.uc, &h, UC_HOOK_BLOCK, (void *)floor_block, &r, 1, 0);
		if (err == UC_ERR_OK)
			err = uc_hook_add(r.uc, &h, UC_HOOK_INSN, (void *)floor_in, &r, 1, 0, UC_X86_INS_IN);
		if (err == UC_ERR_OK)
			err = uc_hook_add(r.uc, &h, UC_HOOK_INSN, (void *)floor_cpuid, &r, 1, 0, UC_X86_INS_CPUID);
		if (err == UC_ERR_OK)
			err = uc_hook_add(r.uc, &h, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, (void *)floor_data, &r,
			                  RAW_UNTIL, RAW_UNTIL);
		if (err == UC_ERR_OK) /* the loops' exiting instruction is their first */
			err = uc_hook_add(r.uc, &h, UC_HOOK_CODE, site, &r, BENCH_CODE, BENCH_CODE);
	}
	if (ok && err != UC_ERR_OK)
		ok = fail(why, n, "installing the hooks", err);
	if (ok) {
		vmsim_bench_batch_start(&r.batch, lim, out);
		ok = raw_run(&r, why, n);
	}
	raw_close(&r);
	return ok;
}

bool vmsim_bench_raw_uc_open_close(unsigned count, struct bench_samples *out)
{
	for (unsigned i = 0; i < count; i++) {
		uc_engine *uc;
		uint64_t t0 = vmsim_bench_now_ns();
		uint64_t rip = BENCH_CODE;
		if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK)
			return false;
		uc_reg_write(uc, UC_X86_REG_RIP, &rip); /* 2.x builds the machine on first use: make it */
		uc_close(uc);
		vmsim_bench_sample_add(out, (double)(vmsim_bench_now_ns() - t0));
	}
	return true;
}

/* ---- n engines on n threads, started together (the vCPU scaling baseline) ---- */

struct raw_group {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned ready, failed;
	bool go;
	atomic_bool stop;
};

struct raw_thread {
	struct raw r;
	struct raw_group *g;
	struct bench_samples s;
	pthread_t th;
	char why[160];
};

static void hook_out_group(uc_engine *uc, uint32_t port, int size, uint32_t value, void *user)
{
	struct raw_thread *t = user;
	(void)size;
	t->r.sink += port + value;
	if (atomic_load_explicit(&t->g->stop, memory_order_relaxed)) {
		t->r.done = true;
		uc_emu_stop(uc);
		return;
	}
	vmsim_bench_batch_tick(&t->r.batch);
}

static void *group_main(void *arg)
{
	struct raw_thread *t = arg;
	struct raw_group *g = t->g;
	uc_hook h;
	bool ok = raw_open(&t->r, vmsim_bench_guest(BENCH_IO_OUT), t->why, sizeof t->why) &&
	          uc_hook_add(t->r.uc, &h, UC_HOOK_INSN, (void *)hook_out_group, t, 1, 0, UC_X86_INS_OUT) == UC_ERR_OK;

	pthread_mutex_lock(&g->lock);
	if (ok)
		g->ready++;
	else
		g->failed++;
	pthread_cond_broadcast(&g->cond);
	while (!g->go)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
	if (ok && !atomic_load(&g->stop)) {
		struct bench_limits forever = { (size_t)-1, ~0ull, BENCH_BATCH };
		vmsim_bench_batch_start(&t->r.batch, &forever, &t->s);
		raw_run(&t->r, t->why, sizeof t->why);
	}
	raw_close(&t->r);
	return NULL;
}

bool vmsim_bench_raw_uc_threads(unsigned n, uint64_t duration_ns, struct bench_samples *out, uint64_t *exits,
                                char *why, size_t why_size)
{
	struct raw_group g = { .ready = 0 };
	struct raw_thread *t = calloc(n, sizeof *t);
	unsigned started = 0;

	*exits = 0;
	if (!t) {
		snprintf(why, why_size, "raw unicorn: out of memory");
		return false;
	}
	pthread_mutex_init(&g.lock, NULL);
	pthread_cond_init(&g.cond, NULL);
	for (; started < n; started++) {
		t[started].g = &g;
		if (pthread_create(&t[started].th, NULL, group_main, &t[started]) != 0)
			break;
	}
	pthread_mutex_lock(&g.lock);
	while (g.ready + g.failed < started)
		pthread_cond_wait(&g.cond, &g.lock);
	bool ok = started == n && !g.failed;
	if (!ok)
		atomic_store(&g.stop, true);
	g.go = true;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	if (ok)
		sleep_ns(0), nanosleep(&(struct timespec){ (time_t)(duration_ns / 1000000000ull),
		                                             (long)(duration_ns % 1000000000ull) }, NULL);
	atomic_store(&g.stop, true);
	for (unsigned i = 0; i < started; i++) {
		pthread_join(t[i].th, NULL);
		*exits += t[i].r.batch.exits;
		for (size_t k = 0; k < t[i].s.n; k++)
			vmsim_bench_sample_add(out, t[i].s.v[k]);
		if (t[i].why[0] && why[0] == 0)
			snprintf(why, why_size, "%s", t[i].why);
		vmsim_bench_samples_free(&t[i].s);
	}
	if (!ok && !why[0])
		snprintf(why, why_size, "raw unicorn: could not start %u engines", n);
	pthread_cond_destroy(&g.cond);
	pthread_mutex_destroy(&g.lock);
	free(t);
	return ok;
}
