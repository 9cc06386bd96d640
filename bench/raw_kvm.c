/* bench/raw_kvm.c - the bare KVM_RUN baseline: the same guest loops with each exit answered right after KVM_RUN. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "bench_internal.h"

/* The backend's last error line while the bench asks it for a VM: the reason the KVM rows are skipped. */
struct refusal {
	char *why;
	size_t n;
};

static void keep_error(void *ctx, enum vmsim_log_level level, const char *message)
{
	struct refusal *r = ctx;
	if (level == VMSIM_LOG_ERROR)
		snprintf(r->why, r->n, "backend kvm cannot run on this host: %s", message);
}

/*
 * The KVM rows need the kvm backend registered by vmsim_register_builtin_backends (sim/kvm) and a host where it
 * can create a VM: asked of the backend itself, since a /dev/kvm that opens may still answer no KVM ioctl (a node
 * without the module behind it).
 */
const char *vmsim_bench_kvm_unavailable(const struct vmsim_env *env, char *why, size_t n)
{
	const struct vmsim_backend_ops *ops = vmsim_env_backend(env, "kvm");
	if (!ops)
		return "backend 'kvm' is not built into this libvmsim";
	struct refusal refusal = { why, n };
	struct vmsim_backend_host host = { .log = keep_error, .ctx = &refusal, .label = "bench probe" };
	void *vm = NULL;
	snprintf(why, n, "backend kvm cannot run on this host");
	enum vmsim_result r = ops->vm_create(&host, &vm);
	if (r != VMSIM_OK)
		return why;
	ops->vm_destroy(vm);
	return NULL;
}

static const char *const baselines[BENCH_CASE_COUNT] = {
	[BENCH_IO_OUT] = "raw KVM_RUN loop, KVM_EXIT_IO (OUT) re-entered",
	[BENCH_IO_IN] = "raw KVM_RUN loop, KVM_EXIT_IO (IN) answered in the run page",
	[BENCH_MMIO_WRITE] = "raw KVM_RUN loop, KVM_EXIT_MMIO write",
	[BENCH_MMIO_READ] = "raw KVM_RUN loop, KVM_EXIT_MMIO read answered in the run page",
	[BENCH_CPUID] = "none: KVM answers CPUID in the kernel",
	[BENCH_HLT] = "raw KVM_RUN loop, KVM_EXIT_HLT re-entered",
	[BENCH_PAUSE] = "raw KVM_RUN left by a signal from another thread",
	[BENCH_IO_OUT_EP] = "raw KVM_RUN loop, KVM_EXIT_IO (OUT) re-entered",
	[BENCH_IO_OUT_PM32] = "raw KVM_RUN loop, KVM_EXIT_IO (OUT) re-entered (the 64-bit io_out loop)",
	[BENCH_IO_OUT_PM32_PAGED] = "raw KVM_RUN loop, KVM_EXIT_IO (OUT) re-entered (the 64-bit io_out loop)",
	[BENCH_GUEST_LOADS] = "raw KVM_RUN loop, the same guest: 1,024 loads per KVM_EXIT_IO (OUT)",
	[BENCH_GUEST_STORES] = "raw KVM_RUN loop, the same guest: 1,024 stores per KVM_EXIT_IO (OUT)",
	[BENCH_IO_OUT_SITES] = "raw KVM_RUN loop, KVM_EXIT_IO (OUT) re-entered, the same guest",
	[BENCH_IO_OUT_FULL] = "raw KVM_EXIT_IO (OUT) + KVM_GET_REGS, KVM_GET_SREGS, KVM_GET_FPU",
};

const char *vmsim_bench_raw_kvm_baseline(enum bench_case c)
{
	return (unsigned)c < BENCH_CASE_COUNT ? baselines[c] : "";
}

struct rawk {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *ram;
	struct bench_batcher batch;
	uint64_t sink;
};

static bool fail(char *why, size_t n, const char *what)
{
	snprintf(why, n, "raw kvm: %s: %s", what, strerror(errno));
	return false;
}

/* What KVM_GET_SUPPORTED_CPUID offers, as the kvm backend gives its vCPUs (long mode needs LM in CPUID). */
static bool set_cpuid(struct rawk *k)
{
	for (unsigned n = 64; n <= 1024; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof *c + n * sizeof c->entries[0]);
		if (!c)
			return false;
		c->nent = n;
		if (ioctl(k->kvm, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			bool ok = ioctl(k->vcpu, KVM_SET_CPUID2, c) == 0;
			free(c);
			return ok;
		}
		int err = errno;
		free(c);
		if (err != E2BIG)
			return false;
	}
	return false;
}

static struct kvm_segment segment(uint16_t selector, uint8_t type, bool code)
{
	return (struct kvm_segment){ .base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
		                     .present = 1, .s = 1, .l = code, .db = !code, .g = 1 };
}

/* The flat 64-bit state vm.c charges: paging on BENCH_TABLES, rdx = port, rbx = MMIO address. */
static bool set_start_state(struct rawk *k)
{
	struct kvm_sregs sr;
	if (ioctl(k->vcpu, KVM_GET_SREGS, &sr) < 0)
		return false;
	sr.cs = segment(0x08, 0xb, true);
	sr.ds = sr.es = sr.ss = sr.fs = sr.gs = segment(0x10, 0x3, false);
	sr.tr = (struct kvm_segment){ .limit = 0xffff, .type = 0xb, .present = 1 };
	sr.ldt = (struct kvm_segment){ .limit = 0xffff, .type = 0x2, .unusable = 1 };
	sr.gdt = (struct kvm_dtable){ .base = BENCH_GDT, .limit = 23 };
	sr.idt = (struct kvm_dtable){ .base = 0, .limit = 0 };
	sr.cr0 = 0x80000011;
	sr.cr3 = BENCH_TABLES;
	sr.cr4 = 0x20;
	sr.efer = 0x500;
	if (ioctl(k->vcpu, KVM_SET_SREGS, &sr) < 0)
		return false;
	struct kvm_regs r = { .rflags = 2, .rsp = BENCH_STACK, .rdx = BENCH_PORT, .rbx = BENCH_MMIO,
		              .rip = BENCH_CODE };
	return ioctl(k->vcpu, KVM_SET_REGS, &r) == 0;
}

static void rawk_close(struct rawk *k)
{
	if (k->run)
		munmap(k->run, k->run_size);
	if (k->vcpu >= 0)
		close(k->vcpu);
	if (k->vm >= 0)
		close(k->vm);
	if (k->kvm >= 0)
		close(k->kvm);
	if (k->ram)
		munmap(k->ram, BENCH_RAM);
	k->run = NULL, k->ram = NULL;
	k->vcpu = k->vm = k->kvm = -1;
}

/* KVM_CREATE_VM, one memslot with the case's guest at gpa 0, one vCPU in the start state. */
static bool rawk_open(struct rawk *k, const struct bench_guest *g, char *why, size_t n)
{
	memset(k, 0, sizeof *k);
	k->kvm = k->vm = k->vcpu = -1;
	if ((k->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0)
		return fail(why, n, "open /dev/kvm");
	if ((k->vm = ioctl(k->kvm, KVM_CREATE_VM, 0)) < 0)
		return fail(why, n, "KVM_CREATE_VM");
	(void)ioctl(k->vm, KVM_SET_TSS_ADDR, 0xfffbd000ul); /* needed on VMX only; SVM ignores it */
	k->ram = mmap(NULL, BENCH_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (k->ram == MAP_FAILED) {
		k->ram = NULL;
		return fail(why, n, "guest RAM");
	}
	vmsim_bench_guest_memory(k->ram, g);
	struct kvm_userspace_memory_region slot = { .slot = 0, .guest_phys_addr = 0, .memory_size = BENCH_RAM,
		                                    .userspace_addr = (uint64_t)(uintptr_t)k->ram };
	if (ioctl(k->vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		return fail(why, n, "KVM_SET_USER_MEMORY_REGION");
	int size = ioctl(k->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0)
		return fail(why, n, "KVM_GET_VCPU_MMAP_SIZE");
	if ((k->vcpu = ioctl(k->vm, KVM_CREATE_VCPU, 0)) < 0)
		return fail(why, n, "KVM_CREATE_VCPU");
	k->run_size = (size_t)size;
	k->run = mmap(NULL, k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, k->vcpu, 0);
	if (k->run == MAP_FAILED) {
		k->run = NULL;
		return fail(why, n, "mmap of the run page");
	}
	if (!set_cpuid(k))
		return fail(why, n, "KVM_SET_CPUID2");
	if (!set_start_state(k))
		return fail(why, n, "setting the start state");
	return true;
}

/* Everything a VMM could look at on an exit (the full Exit_config's counterpart). */
static bool read_everything(struct rawk *k)
{
	struct kvm_regs r;
	struct kvm_sregs sr;
	struct kvm_fpu fpu;
	if (ioctl(k->vcpu, KVM_GET_REGS, &r) < 0 || ioctl(k->vcpu, KVM_GET_SREGS, &sr) < 0 ||
	    ioctl(k->vcpu, KVM_GET_FPU, &fpu) < 0)
		return false;
	k->sink += r.rax + sr.cr3 + fpu.xmm[0][0];
	return true;
}

static uint32_t expected_exit(enum bench_case c)
{
	switch (c) {
	case BENCH_MMIO_WRITE:
	case BENCH_MMIO_READ:
		return KVM_EXIT_MMIO;
	case BENCH_HLT:
		return KVM_EXIT_HLT;
	default:
		return KVM_EXIT_IO;
	}
}

/* KVM_RUN until the batch clock says enough; each exit answered as vm.c's handler answers it. */
static bool run_exits(struct rawk *k, enum bench_case c, char *why, size_t n)
{
	uint32_t expect = expected_exit(c);
	for (;;) {
		if (ioctl(k->vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return fail(why, n, "KVM_RUN");
		}
		struct kvm_run *run = k->run;
		if (run->exit_reason != expect) {
			snprintf(why, n, "raw kvm: unexpected exit reason %u (expected %u)", run->exit_reason, expect);
			return false;
		}
		if (expect == KVM_EXIT_IO) {
			uint8_t *data = (uint8_t *)run + run->io.data_offset;
			if (run->io.direction == KVM_EXIT_IO_IN)
				memset(data, BENCH_IN_VALUE, run->io.size); /* KVM writes it to al on re-entry */
			else
				k->sink += run->io.port + data[0];
			if (c == BENCH_IO_OUT_FULL && !read_everything(k))
				return fail(why, n, "reading the full state");
		} else if (expect == KVM_EXIT_MMIO) {
			if (run->mmio.is_write)
				k->sink += run->mmio.phys_addr + run->mmio.data[0];
			else
				memset(run->mmio.data, 0xff, sizeof run->mmio.data); /* eax = 0xffffffff on re-entry */
		}
		if (vmsim_bench_batch_tick(&k->batch))
			return true;
	}
}

/* ---- pause: another thread signals the vCPU thread out of KVM_RUN (the kvm backend's recall) ---- */

struct pauser {
	struct rawk *k;
	int signo;
	pthread_t thread;
	atomic_uint_fast64_t signal_at;
	atomic_uint_fast64_t answered;
	atomic_bool quit, broken;
	struct bench_samples *out;
};

/*
 * The signal stays blocked on the vCPU thread and is unblocked only inside
 * KVM_RUN (KVM_SET_SIGNAL_MASK): one that lands between two KVM_RUNs stays
 * pending and ends the next one at once, so no recall is lost and no handler runs.
 */
static bool block_signal(struct pauser *p)
{
	sigset_t block, mask;
	/* the header and the kernel's 8-byte sigset after it (a struct with the header first is a clang error) */
	union {
		struct kvm_signal_mask hdr;
		uint8_t raw[sizeof(struct kvm_signal_mask) + 8];
	} km;
	sigemptyset(&block);
	sigaddset(&block, p->signo);
	if (pthread_sigmask(SIG_BLOCK, &block, &mask) != 0)
		return false;
	sigdelset(&mask, p->signo);
	km.hdr.len = 8; /* the kernel's sigset_t */
	memcpy(km.raw + offsetof(struct kvm_signal_mask, sigset), &mask, 8);
	return ioctl(p->k->vcpu, KVM_SET_SIGNAL_MASK, &km) == 0;
}

static bool take_signal(int signo)
{
	sigset_t set;
	struct timespec zero = { 0, 0 };
	sigemptyset(&set);
	sigaddset(&set, signo);
	return sigtimedwait(&set, NULL, &zero) >= 0;
}

static void *pause_runner(void *arg)
{
	struct pauser *p = arg;
	if (!block_signal(p)) {
		atomic_store(&p->broken, true);
		return NULL;
	}
	while (!atomic_load(&p->quit)) {
		int rc = ioctl(p->k->vcpu, KVM_RUN, 0);
		if (rc == 0 || errno != EINTR) {
			atomic_store(&p->broken, true); /* the spin loop has no exits */
			break;
		}
		uint64_t t = vmsim_bench_now_ns(), t0 = atomic_load(&p->signal_at);
		if (!take_signal(p->signo))
			continue;
		if (!atomic_load(&p->quit))
			vmsim_bench_sample_add(p->out, (double)(t - t0));
		atomic_fetch_add(&p->answered, 1);
	}
	return NULL;
}

static void sleep_ns(long ns)
{
	struct timespec ts = { 0, ns };
	nanosleep(&ts, NULL);
}

static bool run_pause(struct rawk *k, const struct bench_limits *lim, struct bench_samples *out, char *why, size_t n)
{
	struct pauser p = { .k = k, .signo = SIGRTMIN + 5, .out = out };
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, p.signo);
	/* the thread inherits the block, so the signal can never reach a default handler */
	pthread_sigmask(SIG_BLOCK, &block, &old);
	int err = pthread_create(&p.thread, NULL, pause_runner, &p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		snprintf(why, n, "raw kvm: cannot start the vCPU thread");
		return false;
	}
	bool ok = true;
	sleep_ns(2000000); /* the first KVM_RUN takes milliseconds under emulation */
	uint64_t t_start = vmsim_bench_now_ns();
	/* at least one recall, however slow the (emulated, shared) machine is */
	while (ok && (out->n == 0 || (out->n < lim->max_samples && vmsim_bench_now_ns() - t_start < lim->duration_ns))) {
		uint64_t before = atomic_load(&p.answered);
		sleep_ns(200000);
		atomic_store(&p.signal_at, vmsim_bench_now_ns());
		pthread_kill(p.thread, p.signo);
		for (int i = 0; ok && atomic_load(&p.answered) == before; i++) {
			if (i > 200000 || atomic_load(&p.broken))
				ok = false;
			else
				sleep_ns(10000);
		}
	}
	atomic_store(&p.quit, true);
	pthread_kill(p.thread, p.signo);
	pthread_join(p.thread, NULL);
	if (!ok)
		snprintf(why, n, "raw kvm: the vCPU thread did not leave KVM_RUN on a signal");
	return ok;
}

bool vmsim_bench_raw_kvm_case(enum bench_case c, const struct bench_limits *lim, struct bench_samples *out,
                              char *why, size_t why_size)
{
	if (c == BENCH_CPUID) {
		snprintf(why, why_size, "KVM answers CPUID in the kernel: there is no userspace exit to time");
		return false;
	}
	struct rawk k;
	bool ok = rawk_open(&k, vmsim_bench_guest(c), why, why_size);
	if (ok && c == BENCH_PAUSE) {
		ok = run_pause(&k, lim, out, why, why_size);
	} else if (ok) {
		vmsim_bench_batch_start(&k.batch, lim, out);
		ok = run_exits(&k, c, why, why_size);
	}
	rawk_close(&k);
	return ok;
}
