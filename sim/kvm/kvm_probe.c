/* kvm_probe.c - ask the host's /dev/kvm what it is and how it exits: capabilities and tiny probe guests. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "kvm_host.h"

enum { LOW_SIZE = 0x10000, RESET_GPA = 0xfffff000, CODE = 0x1000, RDTSCP_CODE = 0x2000, MMIO_BX = 0x20000 };

/*
 * 32-bit protected-mode probes (flat CS 0x08 / data 0x10 from the GDT at 0x4000), each ending in an OUT:
 * IRET to the next instruction, paging turned on without long mode, and a VMCALL nobody intercepts.
 */
enum { GDT = 0x4000, IRET_CODE = 0x3000, PAGING_CODE = 0x3100, VMCALL_CODE = 0x3200, PD = 0x5000, PT = 0x6000,
       PM_STACK = 0x8000, PORT_IRET = 0x12, PORT_PAGING = 0x13, PORT_VMCALL = 0x14, INT_CODE = 0x2100,
       INT_HANDLER = 0x2110, PORT_INT = 0x15, WINDOW_CODE = 0x2200, PORT_WINDOW = 0x16 };
static const uint64_t gdt[4] = { 0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull, 0x00af9a000000ffffull };
static const uint8_t iret_code[] = {
	0x9c,                         /* pushfl */
	0x6a, 0x08,                   /* push $0x08 */
	0x68, 0x09, 0x30, 0x00, 0x00, /* push $0x3009 */
	0xcf,                         /* iret (to 0x3009) */
	0xe6, PORT_IRET, 0xf4,        /* 3009: out %al, $0x12; hlt */
};
static const uint8_t paging_code[] = {
	0xb8, 0x00, 0x50, 0x00, 0x00, /* mov $PD, %eax */
	0x0f, 0x22, 0xd8,             /* mov %eax, %cr3 */
	0x0f, 0x20, 0xc0,             /* mov %cr0, %eax */
	0x0d, 0x00, 0x00, 0x00, 0x80, /* or $0x80000000, %eax */
	0x0f, 0x22, 0xc0,             /* mov %eax, %cr0 */
	0xe6, PORT_PAGING, 0xf4,      /* out %al, $0x13; hlt */
};
static const uint8_t vmcall_code[] = { 0x0f, 0x01, 0xc1, 0xe6, PORT_VMCALL, 0xf4 }; /* vmcall; out; hlt */
/* and one in real mode: INT 0x80 through the IVT to a handler that OUTs */
static const uint8_t int_code[] = { 0xcd, 0x80, 0xf4 };
static const uint8_t int_handler[] = { 0xe6, PORT_INT, 0xf4 };
/* an interrupt window asked for before STI: KVM_RUN returns when it opens, before the OUT */
static const uint8_t window_code[] = { 0xfb, 0x90, 0x90, 0xe6, PORT_WINDOW, 0xf4 };

/*
 * A probe guest may not exit at all (kvm_pvm re-runs an unintercepted VMCALL in
 * place): a watchdog thread signals the probing thread, whose KVM_RUN returns
 * EINTR. The signal is the run loop's stop signal, kept blocked outside KVM_RUN
 * (KVM_SET_SIGNAL_MASK) as there: never delivered, so no handler is needed.
 */
int kvmb_stop_signal(void)
{
	return SIGRTMIN + 4;
}

/*
 * When a probe guest counts as never exiting: its thread spent WATCHDOG_CPU_MS of CPU time in KVM_RUN
 * (far above a few instructions even under QEMU TCG's nested SVM, ~1 ms); CPU time, so that a thread
 * that is merely not scheduled on a loaded machine is not mistaken for one that spins. WATCHDOG_WALL_MS
 * bounds it where the thread's CPU clock cannot be read.
 */
enum { WATCHDOG_CPU_MS = 20, WATCHDOG_WALL_MS = 5000, WATCHDOG_POLL_MS = 2 };

struct watchdog {
	pthread_t target, thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

static uint64_t clock_ms(clockid_t id)
{
	struct timespec t;
	return clock_gettime(id, &t) == 0 ? (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000 : 0;
}

static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	clockid_t cpu;
	bool has_cpu = pthread_getcpuclockid(w->target, &cpu) == 0;
	uint64_t cpu0 = has_cpu ? clock_ms(cpu) : 0, wall0 = clock_ms(CLOCK_REALTIME);

	pthread_mutex_lock(&w->lock);
	while (!w->done) {
		uint64_t now = clock_ms(CLOCK_REALTIME);
		if ((has_cpu && clock_ms(cpu) - cpu0 >= WATCHDOG_CPU_MS) || now - wall0 >= WATCHDOG_WALL_MS) {
			pthread_kill(w->target, kvmb_stop_signal());
			break;
		}
		uint64_t until = now + WATCHDOG_POLL_MS;
		struct timespec ts = { .tv_sec = (time_t)(until / 1000), .tv_nsec = (long)(until % 1000) * 1000000 };
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* The exit probe (real mode at 0x1000), as repro/kvm-exit-rip-probe.c: where is RIP at each exit? */
static const uint8_t exit_code[] = {
	0xe6, 0x80, /* 1000: out 0x80, al */
	0xee,       /* 1002: out dx, al */
	0xe4, 0x81, /* 1003: in al, 0x81 */
	0x88, 0x07, /* 1005: mov [bx], al  (bx = 0x20000 >> 4 segment: see ds) -> MMIO write */
	0x8a, 0x27, /* 1007: mov ah, [bx] -> MMIO read */
	0xf4,       /* 1009: hlt */
};
static const struct {
	uint32_t reason;
	uint16_t at, past;
	enum kvmb_probe_exit which;
} exit_steps[] = {
	{ KVM_EXIT_IO, 0x1000, 0x1002, KVMB_PX_OUT },
	{ KVM_EXIT_IO, 0x1002, 0x1003, KVMB_PX_OUT },
	{ KVM_EXIT_IO, 0x1003, 0x1005, KVMB_PX_IN },
	{ KVM_EXIT_MMIO, 0x1005, 0x1007, KVMB_PX_MMIO_WRITE },
	{ KVM_EXIT_MMIO, 0x1007, 0x1009, KVMB_PX_MMIO_READ },
	{ KVM_EXIT_HLT, 0x1009, 0x100a, KVMB_PX_HLT },
};

struct probe_vm {
	int kvm, vm, run_size;
	uint8_t *low, *reset;
	struct kvm_cpuid2 *cpuid;
};

struct probe_cpu {
	int fd;
	struct kvm_run *run;
	int run_size;
};

static bool cpu_open(struct probe_vm *p, unsigned id, struct probe_cpu *c)
{
	c->run_size = p->run_size;
	c->fd = ioctl(p->vm, KVM_CREATE_VCPU, (unsigned long)id);
	if (c->fd < 0)
		return false;
	c->run = mmap(NULL, (size_t)p->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
	if (c->run == MAP_FAILED) {
		close(c->fd);
		return false;
	}
	if (p->cpuid)
		(void)ioctl(c->fd, KVM_SET_CPUID2, p->cpuid);
	return true;
}

static void cpu_close(struct probe_cpu *c)
{
	munmap(c->run, (size_t)c->run_size);
	close(c->fd);
}

/* Real mode at CS = 0 (KVM's reset state otherwise), RIP ip. */
static bool real_mode_at(struct probe_cpu *c, uint64_t ip)
{
	struct kvm_sregs s;
	struct kvm_regs g;

	if (ioctl(c->fd, KVM_GET_SREGS, &s) < 0)
		return false;
	s.cs.base = 0;
	s.cs.selector = 0;
	s.ds.base = MMIO_BX & ~0xffffull; /* ds:bx = 0x20000 + 0: no slot there */
	s.ds.selector = (uint16_t)(MMIO_BX >> 4);
	if (ioctl(c->fd, KVM_SET_SREGS, &s) < 0)
		return false;
	memset(&g, 0, sizeof g);
	g.rip = ip;
	g.rflags = 2;
	g.rdx = 0x3f8;
	g.rbx = 0;
	g.rax = 0x41;
	return ioctl(c->fd, KVM_SET_REGS, &g) == 0;
}

/* One KVM_RUN; the exit reason, or -1 when KVM_RUN failed. */
static int run_once(struct probe_cpu *c)
{
	if (ioctl(c->fd, KVM_RUN, 0) < 0)
		return -1;
	return (int)c->run->exit_reason;
}

static uint64_t rip_of(struct probe_cpu *c)
{
	struct kvm_regs g;
	return ioctl(c->fd, KVM_GET_REGS, &g) == 0 ? g.rip : ~0ull;
}

static enum kvmb_run_answer failed(struct probe_cpu *c, int reason)
{
	if (reason == KVM_EXIT_INTERNAL_ERROR && c->run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION)
		return KVMB_RUN_EMULATION_FAILURE;
	return KVMB_RUN_OTHER_FAILURE;
}

/* Finish what KVM left pending (immediate_exit), feeding reads all-ones. */
static void complete(struct probe_cpu *c)
{
	struct kvm_run *run = c->run;

	if (run->exit_reason == KVM_EXIT_MMIO && !run->mmio.is_write)
		memset(run->mmio.data, 0xff, sizeof run->mmio.data);
	if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_IN)
		memset((uint8_t *)run + run->io.data_offset, 0xff, (size_t)run->io.size * run->io.count);
	run->immediate_exit = 1;
	(void)ioctl(c->fd, KVM_RUN, 0);
	run->immediate_exit = 0;
}

/*
 * The VMM emulated the pending IN/OUT: RIP moved past it (and AX holds the IN
 * result). Does KVM then drop its own completion (Linux complete_fast_pio_in/out
 * compare the linear RIP with the one at the exit)? RIP and AX must stay.
 */
static bool moved_rip_drops(struct probe_cpu *c, uint64_t past, bool in)
{
	struct kvm_regs g;

	if (ioctl(c->fd, KVM_GET_REGS, &g) < 0)
		return false;
	g.rip = past;
	if (in)
		g.rax = 0x1234;
	if (ioctl(c->fd, KVM_SET_REGS, &g) < 0)
		return false;
	complete(c);
	if (ioctl(c->fd, KVM_GET_REGS, &g) < 0)
		return false;
	bool drops = g.rip == past && (!in || (g.rax & 0xffff) == 0x1234);
	g.rip = past; /* where it did not drop it, KVM skipped once more: the probe goes on at the next instruction */
	return ioctl(c->fd, KVM_SET_REGS, &g) == 0 && drops;
}

/* 32-bit protected mode, flat segments from the probe GDT, RIP ip, interrupts off. */
static bool prot_mode_at(struct probe_cpu *c, uint64_t ip)
{
	struct kvm_sregs s;
	struct kvm_regs g;
	const struct kvm_segment code = { .base = 0, .limit = 0xffffffff, .selector = 0x08, .type = 0xb, .present = 1,
	                                  .db = 1, .s = 1, .g = 1 };
	const struct kvm_segment data = { .base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0x3, .present = 1,
	                                  .db = 1, .s = 1, .g = 1 };

	if (ioctl(c->fd, KVM_GET_SREGS, &s) < 0)
		return false;
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.gdt.base = GDT;
	s.gdt.limit = sizeof gdt - 1;
	s.cr0 = 0x11; /* PE, ET */
	s.cr4 = 0;
	s.efer = 0;
	if (ioctl(c->fd, KVM_SET_SREGS, &s) < 0)
		return false;
	memset(&g, 0, sizeof g);
	g.rip = ip;
	g.rsp = PM_STACK;
	g.rflags = 2;
	return ioctl(c->fd, KVM_SET_REGS, &g) == 0;
}

/* Run until an exit, or the watchdog: KVMB_RUN_OK if it is an OUT to port, else what went wrong. */
static enum kvmb_run_answer run_to_out(struct probe_cpu *c, uint16_t port)
{
	struct watchdog w = { .target = pthread_self(), .done = false };
	sigset_t block, old;
	struct kvm_signal_mask *km = calloc(1, sizeof *km + 8);
	enum kvmb_run_answer answer = KVMB_RUN_UNTESTED; /* until the guest ran: no signal mask or thread, no answer */

	if (!km)
		return KVMB_RUN_UNTESTED;
	sigemptyset(&block);
	sigaddset(&block, kvmb_stop_signal());
	pthread_sigmask(SIG_BLOCK, &block, &old);
	sigset_t inside = old;
	sigdelset(&inside, kvmb_stop_signal());
	km->len = 8; /* the kernel's sigset_t */
	memcpy(km->sigset, &inside, 8);
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	if (ioctl(c->fd, KVM_SET_SIGNAL_MASK, km) == 0 && pthread_create(&w.thread, NULL, watchdog_main, &w) == 0) {
		int rc = ioctl(c->fd, KVM_RUN, 0);
		bool interrupted = rc < 0 && errno == EINTR;
		pthread_mutex_lock(&w.lock);
		w.done = true;
		pthread_cond_signal(&w.cond);
		pthread_mutex_unlock(&w.lock);
		pthread_join(w.thread, NULL);
		if (interrupted)
			answer = KVMB_RUN_NO_EXIT;
		else if (rc == 0 && c->run->exit_reason == KVM_EXIT_IO && c->run->io.port == port)
			answer = KVMB_RUN_OK;
		else
			answer = failed(c, rc < 0 ? -1 : (int)c->run->exit_reason);
	}
	/* a signal sent as KVM_RUN returned stays pending: take it before unblocking */
	struct timespec zero = { 0, 0 };
	while (sigtimedwait(&block, NULL, &zero) >= 0)
		;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	free(km);
	return answer;
}

/* One probe guest that ends in an OUT (or never exits), on a vCPU of its own and a thread of its own. */
struct probe_step {
	struct probe_vm *p;
	unsigned vcpu_id;
	bool real; /* real mode at ip, else 32-bit protected mode */
	uint64_t ip;
	uint16_t port;
	enum kvmb_run_answer *answer;
	pthread_t thread;
};

static void *probe_step_main(void *arg)
{
	struct probe_step *st = arg;
	struct probe_cpu c;

	if (!cpu_open(st->p, st->vcpu_id, &c))
		return NULL;
	if (st->real ? real_mode_at(&c, st->ip) : prot_mode_at(&c, st->ip))
		*st->answer = run_to_out(&c, st->port);
	cpu_close(&c);
	return NULL;
}

/*
 * INT n, the interrupt window, IRET, paging without long mode, VMCALL. The steps run at once, each on
 * its thread: on a host where some never exit (kvm_pvm) the probe then costs one watchdog, not two.
 */
static void probe_protected(struct probe_vm *p, struct kvmb_probe_answers *a)
{
	struct probe_step steps[] = {
		{ .p = p, .vcpu_id = 3, .real = true, .ip = INT_CODE, .port = PORT_INT, .answer = &a->int_real },
		{ .p = p, .vcpu_id = 4, .ip = IRET_CODE, .port = PORT_IRET, .answer = &a->iret_protected },
		{ .p = p, .vcpu_id = 5, .ip = PAGING_CODE, .port = PORT_PAGING, .answer = &a->paging_legacy },
		{ .p = p, .vcpu_id = 6, .ip = VMCALL_CODE, .port = PORT_VMCALL, .answer = &a->vmcall },
	};
	enum { STEPS = sizeof steps / sizeof steps[0] };
	bool threaded[STEPS];

	for (size_t i = 0; i < STEPS; i++) {
		threaded[i] = pthread_create(&steps[i].thread, NULL, probe_step_main, &steps[i]) == 0;
		if (!threaded[i])
			probe_step_main(&steps[i]);
	}
	struct probe_cpu rc;
	if (cpu_open(p, 7, &rc)) {
		if (real_mode_at(&rc, WINDOW_CODE)) {
			rc.run->request_interrupt_window = 1;
			int reason = run_once(&rc);
			a->intr_window = reason == KVM_EXIT_IRQ_WINDOW_OPEN ? KVMB_RUN_OK : failed(&rc, reason);
		}
		cpu_close(&rc);
	}
	for (size_t i = 0; i < STEPS; i++)
		if (threaded[i])
			pthread_join(steps[i].thread, NULL);
}

static void probe_exits(struct probe_vm *p, struct kvmb_probe_answers *a)
{
	struct probe_cpu c;
	enum kvmb_rip_rule seen[KVMB_PX_COUNT] = { 0 };
	bool conflict[KVMB_PX_COUNT] = { 0 };

	if (!cpu_open(p, 0, &c))
		return;
	if (!real_mode_at(&c, CODE)) {
		a->real_mode = KVMB_RUN_OTHER_FAILURE;
		cpu_close(&c);
		return;
	}
	a->real_mode = KVMB_RUN_OK;
	for (size_t i = 0; i < sizeof exit_steps / sizeof exit_steps[0]; i++) {
		int reason = run_once(&c);
		if (reason != (int)exit_steps[i].reason) {
			a->real_mode = failed(&c, reason);
			break;
		}
		uint64_t rip = rip_of(&c);
		enum kvmb_rip_rule r = rip == exit_steps[i].at ? KVMB_RIP_AT
		                       : rip == exit_steps[i].past ? KVMB_RIP_PAST : KVMB_RIP_UNKNOWN;
		enum kvmb_probe_exit w = exit_steps[i].which;
		if (r == KVMB_RIP_AT && reason == KVM_EXIT_IO && exit_steps[i].at != CODE) {
			/* the second OUT and the IN: does a VMM-moved RIP cancel KVM's completion? */
			bool in = c.run->io.direction == KVM_EXIT_IO_IN;
			bool drops = moved_rip_drops(&c, exit_steps[i].past, in);
			a->moved_rip_drops_io = (in ? a->moved_rip_drops_io : true) && drops;
		} else if (r == KVMB_RIP_AT && reason != KVM_EXIT_HLT) {
			complete(&c); /* AT means pending: the completion must retire it */
			if (rip_of(&c) != exit_steps[i].past)
				r = KVMB_RIP_UNKNOWN;
		}
		if (seen[w] != KVMB_RIP_UNKNOWN && seen[w] != r)
			conflict[w] = true;
		seen[w] = r;
		if (r == KVMB_RIP_UNKNOWN)
			conflict[w] = true;
		if (reason == KVM_EXIT_HLT && r == KVMB_RIP_AT)
			break; /* the HLT would run again */
	}
	for (unsigned w = 0; w < KVMB_PX_COUNT; w++)
		a->rip[w] = conflict[w] ? KVMB_RIP_UNKNOWN : seen[w];
	cpu_close(&c);
}

/* From KVM's reset state (CS base 0xffff0000, IP 0xfff0): JMP to 0xff7e, NOP, OUT 0x10. */
static void probe_reset(struct probe_vm *p, struct kvmb_probe_answers *a)
{
	struct probe_cpu c;

	if (!p->reset || !cpu_open(p, 1, &c))
		return;
	int reason = run_once(&c);
	if (reason == KVM_EXIT_IO && c.run->io.port == 0x10 && c.run->io.direction == KVM_EXIT_IO_OUT)
		a->reset_real = KVMB_RUN_OK;
	else
		a->reset_real = failed(&c, reason);
	cpu_close(&c);
}

/* RDTSCP in real mode (the vmm_x86 scenario's first instruction), then OUT 0x11. */
static void probe_rdtscp(struct probe_vm *p, struct kvmb_probe_answers *a)
{
	struct probe_cpu c;

	if (!cpu_open(p, 2, &c))
		return;
	if (!real_mode_at(&c, RDTSCP_CODE)) {
		cpu_close(&c);
		return;
	}
	/* with a TSC offset of 2^62: the guest's TSC (RDTSCP's EDX:EAX, else KVM's IA32_TSC) must be above it */
	uint64_t offset = 1ull << 62, tsc = 0;
	struct kvm_device_attr attr = { .group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET,
		                        .addr = (uint64_t)(uintptr_t)&offset };
	bool offset_set = ioctl(c.fd, KVM_SET_DEVICE_ATTR, &attr) == 0;
	int reason = run_once(&c);
	struct kvm_regs g;
	if (reason == KVM_EXIT_IO && c.run->io.port == 0x11) {
		a->rdtscp = KVMB_RUN_OK;
		if (ioctl(c.fd, KVM_GET_REGS, &g) == 0)
			tsc = (g.rdx << 32) | (uint32_t)g.rax;
	} else {
		a->rdtscp = failed(&c, reason);
		struct kvm_msrs *m = calloc(1, sizeof *m + sizeof m->entries[0]);
		if (m) {
			m->nmsrs = 1;
			m->entries[0].index = 0x10; /* IA32_TSC */
			if (ioctl(c.fd, KVM_GET_MSRS, m) == 1)
				tsc = m->entries[0].data;
			free(m);
		}
	}
	a->tsc_offset = !offset_set ? KVMB_RUN_UNTESTED : tsc >= (1ull << 62) ? KVMB_RUN_OK : KVMB_RUN_OTHER_FAILURE;
	cpu_close(&c);
}

/*
 * Long mode (64-bit code 0x18, identity 4 KiB pages over the probe's 64 KiB but for LM_ABSENT): an external
 * interrupt injected at entry with RSP at LM_ABSENT's top. Its frame faults: #PF (SDM Vol. 3A 6.15), on IST1, whose
 * handler OUTs to PORT_PF with CR2 in RAX and the error code in RCX. What a host's own delivery does there is what
 * the conformance case inject/interrupt_frame_on_an_absent_page_is_pf checks.
 */
enum { LM_PML4 = 0x9000, LM_PT = 0xc000, LM_IDT = 0xd000, LM_HANDLER = 0xd800, LM_START = 0xd900, LM_TSS = 0xe000,
       LM_IST1 = 0xf000, LM_ABSENT = 0x7000, LM_VECTOR = 0x20, PORT_PF = 0x17 };

/* A 64-bit interrupt gate: CS 0x18, handler at `handler`, stack from TSS IST slot `ist` (0: none). */
static void lm_gate(uint8_t *low, unsigned vector, uint64_t handler, unsigned ist)
{
	uint64_t lo = (handler & 0xffff) | (0x18ull << 16) | ((uint64_t)ist << 32) | (0x8eull << 40);
	memcpy(low + LM_IDT + 16 * vector, &lo, 8);
}

static void lm_tables(uint8_t *low)
{
	/* pop %rcx (the error code); mov %cr2,%rax; out %eax,$PORT_PF (the probe reads RCX and RAX); hlt */
	static const uint8_t handler[] = { 0x59, 0x0f, 0x20, 0xd0, 0xe7, PORT_PF, 0xf4 };
	uint64_t *pml4 = (uint64_t *)(low + LM_PML4), *pt = (uint64_t *)(low + LM_PT);
	memset(low + LM_PML4, 0, 0x4000); /* PML4, PDPT, PD, PT */
	pml4[0] = (LM_PML4 + 0x1000) | 3;
	pml4[512] = (LM_PML4 + 0x2000) | 3; /* PDPT[0] */
	pml4[1024] = LM_PT | 3;             /* PD[0] */
	for (uint64_t page = 0; page < LOW_SIZE; page += 0x1000)
		pt[page >> 12] = page == LM_ABSENT ? 0 : page | 3;
	memset(low + LM_IDT, 0, 16 * (LM_VECTOR + 1));
	lm_gate(low, 14, LM_HANDLER, 1);
	lm_gate(low, LM_VECTOR, LM_START, 0);
	memset(low + LM_TSS, 0, 0x68);
	uint64_t ist1 = LM_IST1;
	memcpy(low + LM_TSS + 0x24, &ist1, 8);
	memcpy(low + LM_HANDLER, handler, sizeof handler);
}

static bool lm_at_with_interrupt(struct probe_cpu *c)
{
	struct kvm_sregs s;
	struct kvm_regs g = { .rip = LM_START, .rsp = LM_ABSENT + 0x1000, .rflags = 0x202 };
	struct kvm_vcpu_events e;
	const struct kvm_segment code = { .limit = 0xffffffff, .selector = 0x18, .type = 0xb, .present = 1, .s = 1,
	                                  .l = 1, .g = 1 };
	const struct kvm_segment data = { .limit = 0xffffffff, .selector = 0x10, .type = 0x3, .present = 1, .db = 1,
	                                  .s = 1, .g = 1 };
	const struct kvm_segment tr = { .base = LM_TSS, .limit = 0x67, .selector = 0x20, .type = 0xb, .present = 1 };

	if (ioctl(c->fd, KVM_GET_SREGS, &s) < 0)
		return false;
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.tr = tr;
	s.gdt.base = GDT;
	s.gdt.limit = sizeof gdt - 1;
	s.idt.base = LM_IDT;
	s.idt.limit = 16 * (LM_VECTOR + 1) - 1;
	s.cr0 = 0x80000011; /* PG, ET, PE */
	s.cr3 = LM_PML4;
	s.cr4 = 0x20; /* PAE */
	s.efer = 0x500; /* LMA, LME */
	if (ioctl(c->fd, KVM_SET_SREGS, &s) < 0 || ioctl(c->fd, KVM_SET_REGS, &g) < 0 ||
	    ioctl(c->fd, KVM_GET_VCPU_EVENTS, &e) < 0)
		return false;
	e.flags = 0;
	e.interrupt.injected = 1; /* as the backend injects (kvm_state.c events_from_state) */
	e.interrupt.nr = LM_VECTOR;
	e.interrupt.soft = 0;
	return ioctl(c->fd, KVM_SET_VCPU_EVENTS, &e) == 0;
}

static void probe_delivery_pf(struct probe_vm *p, struct kvmb_probe_answers *a)
{
	struct probe_cpu c;

	if (!cpu_open(p, 8, &c))
		return;
	if (lm_at_with_interrupt(&c)) {
		a->delivery_pf = run_to_out(&c, PORT_PF);
		struct kvm_regs g;
		if (a->delivery_pf == KVMB_RUN_OK && ioctl(c.fd, KVM_GET_REGS, &g) < 0)
			a->delivery_pf = KVMB_RUN_OTHER_FAILURE;
		if (a->delivery_pf == KVMB_RUN_OK) {
			a->delivery_pf_reached = true;
			a->delivery_pf_cr2 = g.rax;
			a->delivery_pf_error = (uint32_t)g.rcx;
			/* the frame's five slots below the 16-byte aligned RSP: any may fault first; a supervisor write to a
			 * not-present page: error code 2 */
			uint64_t top = LM_ABSENT + 0x1000;
			if (a->delivery_pf_cr2 < top - 40 || a->delivery_pf_cr2 > top - 8 || a->delivery_pf_error != 2)
				a->delivery_pf = KVMB_RUN_OTHER_FAILURE;
		}
	}
	cpu_close(&c);
}

struct kvm_cpuid2 *kvmb_supported_cpuid(int kvm_fd)
{
	for (unsigned n = 64; n <= 1024; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof *c + n * sizeof c->entries[0]);
		if (!c)
			return NULL;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		int err = errno;
		free(c);
		if (err != E2BIG)
			return NULL;
	}
	return NULL;
}

static void cpuid_facts(const struct kvm_cpuid2 *c, struct kvmb_probe_answers *a)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == 0) {
			memcpy(a->vendor, &e->ebx, 4);
			memcpy(a->vendor + 4, &e->edx, 4);
			memcpy(a->vendor + 8, &e->ecx, 4);
			a->vendor[12] = 0;
		} else if (e->function == 1) {
			a->cpuid_vmx = (e->ecx >> 5) & 1;
		} else if (e->function == 0x80000001) {
			a->cpuid_svm = (e->ecx >> 2) & 1;
		}
	}
}

static void module_fact(struct kvmb_probe_answers *a)
{
	static const char *const mods[] = { "kvm_pvm", "kvm_amd", "kvm_intel" };
	char path[64];
	struct stat st;

	for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++) {
		snprintf(path, sizeof path, "/sys/module/%s", mods[i]);
		if (stat(path, &st) == 0) {
			snprintf(a->module, sizeof a->module, "%s", mods[i]);
			return;
		}
	}
}

static void guests(int kvm, struct kvmb_probe_answers *a, struct kvm_cpuid2 *cpuid)
{
	struct probe_vm p = { .kvm = kvm, .cpuid = cpuid };

	p.run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	p.vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (p.vm < 0 || p.run_size < (int)sizeof(struct kvm_run))
		goto out;
	(void)ioctl(p.vm, KVM_SET_TSS_ADDR, 0xfffbd000ul);
	p.low = mmap(NULL, LOW_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	p.reset = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p.low == MAP_FAILED || p.reset == MAP_FAILED)
		goto out;
	/* anything that runs away halts: HLT everywhere (the IVT too, so a fault ends in a fetch without a slot) */
	memset(p.low, 0xf4, LOW_SIZE);
	memset(p.reset, 0xf4, 4096);
	memcpy(p.low + CODE, exit_code, sizeof exit_code);
	static const uint8_t rdtscp[] = { 0x0f, 0x01, 0xf9, 0xe6, 0x11, 0xf4 };
	memcpy(p.low + RDTSCP_CODE, rdtscp, sizeof rdtscp);
	static const uint8_t reset_jmp[] = { 0xeb, 0x8c };            /* fff0: jmp 0xff7e */
	static const uint8_t reset_body[] = { 0x90, 0xe6, 0x10, 0xf4 }; /* ff7e: nop; out 0x10, al; hlt */
	memcpy(p.reset + 0xff0, reset_jmp, sizeof reset_jmp);
	memcpy(p.reset + 0xf7e, reset_body, sizeof reset_body);
	memcpy(p.low + GDT, gdt, sizeof gdt);
	memcpy(p.low + IRET_CODE, iret_code, sizeof iret_code);
	memcpy(p.low + PAGING_CODE, paging_code, sizeof paging_code);
	memcpy(p.low + VMCALL_CODE, vmcall_code, sizeof vmcall_code);
	memcpy(p.low + INT_CODE, int_code, sizeof int_code);
	memcpy(p.low + INT_HANDLER, int_handler, sizeof int_handler);
	memcpy(p.low + WINDOW_CODE, window_code, sizeof window_code);
	const uint16_t vector_80[2] = { INT_HANDLER, 0 }; /* IVT entry 0x80: offset, segment */
	memcpy(p.low + 0x80 * 4, vector_80, sizeof vector_80);
	uint32_t pde = PT | 3, *pd = (uint32_t *)(p.low + PD), *pt = (uint32_t *)(p.low + PT);
	pd[0] = pde; /* 0-4 MiB through one table, identity for the 64 KiB the probe has */
	for (uint32_t i = 0; i < LOW_SIZE / 4096; i++)
		pt[i] = (i << 12) | 3;
	struct kvm_userspace_memory_region low = { 0, 0, 0, LOW_SIZE, (uint64_t)(uintptr_t)p.low };
	struct kvm_userspace_memory_region rst = { 1, 0, RESET_GPA, 4096, (uint64_t)(uintptr_t)p.reset };
	if (ioctl(p.vm, KVM_SET_USER_MEMORY_REGION, &low) < 0)
		goto out;
	if (ioctl(p.vm, KVM_SET_USER_MEMORY_REGION, &rst) < 0) {
		munmap(p.reset, 4096);
		p.reset = NULL;
	}
	probe_exits(&p, a);
	probe_reset(&p, a);
	probe_rdtscp(&p, a);
	probe_protected(&p, a);
	lm_tables(p.low);
	probe_delivery_pf(&p, a);
out:
	if (p.low && p.low != MAP_FAILED)
		munmap(p.low, LOW_SIZE);
	if (p.reset && p.reset != MAP_FAILED)
		munmap(p.reset, 4096);
	if (p.vm >= 0)
		close(p.vm);
}

void kvmb_probe(struct kvmb_probe_answers *a)
{
	struct utsname u;

	memset(a, 0, sizeof *a);
	if (uname(&u) == 0)
		snprintf(a->kernel, sizeof a->kernel, "%s", u.release);
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return;
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION ||
	    ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0 ||
	    ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0) {
		close(kvm);
		return;
	}
	a->opened = true;
	module_fact(a);
	a->nr_memslots = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	a->sync_regs = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	a->user_space_msr = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_X86_USER_SPACE_MSR);
	if (a->user_space_msr < 0)
		a->user_space_msr = 0;
	if (a->sync_regs < 0)
		a->sync_regs = 0;
	/* KVM_CAP_X86_USER_SPACE_MSR answers 1 on kernels that only report presence: all three reasons then */
	if (a->user_space_msr == 1)
		a->user_space_msr = KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_FILTER;
	a->msr_filter = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_X86_MSR_FILTER) > 0;
	struct kvm_cpuid2 *cpuid = kvmb_supported_cpuid(kvm);
	if (cpuid)
		cpuid_facts(cpuid, a);
	guests(kvm, a, cpuid);
	free(cpuid);
	close(kvm);
}

/*
 * The one process-wide cache of this backend. The ops table is process-wide by
 * contract (vmsim_backend_kvm() returns one table, whose caps every env and the
 * conformance runner read before any VM exists), and so is the host's /dev/kvm;
 * probing per VM would spin up probe guests for every session. Written once under
 * pthread_once, read-only afterwards.
 */
static pthread_once_t host_once = PTHREAD_ONCE_INIT;
static struct kvmb_host host_profile;

static void probe_host(void)
{
	struct kvmb_probe_answers a;

	kvmb_probe(&a);
	kvmb_host_profile(&a, &host_profile);
	if (getenv("KVMB_DEBUG"))
		fprintf(stderr, "kvm: host %s\n", host_profile.summary);
}

const struct kvmb_host *kvmb_host_get(void)
{
	pthread_once(&host_once, probe_host);
	return &host_profile;
}
