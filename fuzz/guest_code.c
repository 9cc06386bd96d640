/* fuzz/guest_code.c - arbitrary guest bytes on the Unicorn backend, bounded, with Debian 2.0.1's abort paths avoided. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <vmsim/backends.h>

#include "fuzz_target.h"

/*
 * Input: a mode byte (bit 0: 32-bit protected mode, else real mode), then code
 * loaded at 0x1000 of a 64 KiB guest filled with HLT. A run ends after MAX_EXITS exits or when
 * the watchdog stops the vCPU WATCHDOG_MS after entry (endless loops); exits
 * with a known length are stepped over, others stop the run.
 *
 * Debian's Unicorn 2.0.1 aborts the whole process (tcg fatal error, issue #1716)
 * on FF /3 and FF /5 with a register operand (bytes FF D8-DF and FF E8-EF): an
 * input holding such a pair at any offset is skipped. Code the guest writes at
 * run time can still build one; that residual path is listed in docs/fuzzing.md.
 * Test code: one persistent VM in statics, as Unicorn's own harnesses reuse theirs.
 */
enum { RAM = 64 * 1024, CODE = 0x1000, GDT = 0x500, STACK = 0x8000, MAX_EXITS = 32, WATCHDOG_MS = 5 };

static const struct vmsim_backend_ops *ops;
static void *vm, *vcpu;
static _Alignas(4096) uint8_t ram[RAM];
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool armed;
	struct timespec deadline;
} dog = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, {0, 0}};

static void *watchdog(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&dog.lock);
	for (;;) {
		if (!dog.armed) {
			pthread_cond_wait(&dog.cond, &dog.lock);
			continue;
		}
		if (pthread_cond_timedwait(&dog.cond, &dog.lock, &dog.deadline) != 0 && dog.armed) {
			ops->vcpu_stop(vcpu);
			dog.armed = false;
		}
	}
	return NULL;
}

static void quiet(void *ctx, enum vmsim_log_level level, const char *message)
{
	(void)ctx, (void)level, (void)message;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	static const struct vmsim_backend_host host = {quiet, NULL, "guest_code"};
	ops = vmsim_backend_unicorn();
	FUZZ_CHECK(ops->vm_create(&host, &vm) == VMSIM_OK);
	FUZZ_CHECK(ops->vcpu_create(vm, 0, &vcpu) == VMSIM_OK);
	pthread_t thread;
	FUZZ_CHECK(pthread_create(&thread, NULL, watchdog, NULL) == 0);
	pthread_detach(thread);
	return 0;
}

static bool known_abort(const uint8_t *code, size_t size)
{
	for (size_t i = 0; i + 1 < size; i++) {
		unsigned modrm = code[i + 1], reg = modrm >> 3 & 7;
		if (code[i] == 0xff && modrm >> 6 == 3 && (reg == 3 || reg == 5))
			return true;
	}
	return false;
}

static void initial_state(struct vmsim_cpu_state *s, bool protected_mode)
{
	memset(s, 0, sizeof *s);
	s->rflags = 2;
	s->ldtr = (struct vmsim_segment){.ar = 0x1082};
	s->tr = (struct vmsim_segment){.ar = 0x8b, .limit = 0x67};
	s->intercepts = VMSIM_INTERCEPT_HLT | VMSIM_INTERCEPT_RDTSC | VMSIM_INTERCEPT_RDTSCP | VMSIM_INTERCEPT_CPUID |
	                VMSIM_INTERCEPT_IO | VMSIM_INTERCEPT_MSR | VMSIM_INTERCEPT_VMCALL | VMSIM_INTERCEPT_SHUTDOWN;
	s->rsp = STACK;
	s->rip = CODE;
	if (protected_mode) {
		struct vmsim_segment data = {.sel = 0x10, .ar = 0xc93, .limit = 0xffffffff, .base = 0};
		s->cs = (struct vmsim_segment){.sel = 0x08, .ar = 0xc9b, .limit = 0xffffffff, .base = 0};
		s->ds = s->es = s->fs = s->gs = s->ss = data;
		s->gdtr = (struct vmsim_dtable){.limit = 23, .base = GDT};
		s->cr0 = 0x11;
	} else {
		struct vmsim_segment seg = {.sel = 0, .ar = 0x93, .limit = 0xffff, .base = 0};
		s->ds = s->es = s->fs = s->gs = s->ss = seg;
		s->cs = seg;
		s->cs.ar = 0x9b;
		s->idtr = (struct vmsim_dtable){.limit = 0x3ff, .base = 0};
		s->cr0 = 0x10;
	}
}

struct run {
	unsigned exits;
};

static enum vmsim_exit_action on_exit(void *ctx, const struct vmsim_exit *exit)
{
	struct run *run = ctx;
	FUZZ_CHECK(exit && exit->kind > VMSIM_EXIT_NONE && exit->kind < VMSIM_EXIT_KIND_COUNT);
	if (++run->exits >= MAX_EXITS || exit->insn_len == 0 || exit->kind == VMSIM_EXIT_SHUTDOWN ||
	    exit->kind == VMSIM_EXIT_INVALID_STATE || exit->kind == VMSIM_EXIT_PAUSED)
		return VMSIM_EXIT_ACTION_STOP;
	/* what a VMM does for an emulated instruction: step over it and go on */
	static struct vmsim_cpu_state s;
	if (ops->state_get(vcpu, VMSIM_GROUP_IP, &s) != VMSIM_OK)
		return VMSIM_EXIT_ACTION_STOP;
	s.rip = exit->rip + exit->insn_len;
	return ops->state_set(vcpu, VMSIM_GROUP_IP, &s) == VMSIM_OK ? VMSIM_EXIT_ACTION_RESUME : VMSIM_EXIT_ACTION_STOP;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size - 1 > RAM - CODE || known_abort(data + 1, size - 1))
		return 0;
	bool protected_mode = data[0] & 1;
	/*
	 * Fresh memory each time (unmapping dropped Unicorn's translations of the last
	 * input's code), filled with HLT: code that runs or jumps off its end meets an
	 * exit at once, and MAX_EXITS ends the run.
	 */
	memset(ram, 0xf4, sizeof ram);
	static const uint64_t gdt[3] = {0, 0x00cf9b000000ffffull, 0x00cf93000000ffffull};
	memcpy(ram + GDT, gdt, sizeof gdt);
	memcpy(ram + CODE, data + 1, size - 1);
	FUZZ_CHECK(ops->mem_map(vm, 0, ram, RAM, VMSIM_PROT_READ | VMSIM_PROT_WRITE | VMSIM_PROT_EXEC) == VMSIM_OK);

	static struct vmsim_cpu_state s;
	initial_state(&s, protected_mode);
	FUZZ_CHECK(ops->state_set(vcpu, VMSIM_GROUP_ALL, &s) == VMSIM_OK);

	pthread_mutex_lock(&dog.lock);
	clock_gettime(CLOCK_REALTIME, &dog.deadline);
	dog.deadline.tv_nsec += WATCHDOG_MS * 1000000L;
	if (dog.deadline.tv_nsec >= 1000000000L) {
		dog.deadline.tv_sec++;
		dog.deadline.tv_nsec -= 1000000000L;
	}
	dog.armed = true;
	pthread_cond_signal(&dog.cond);
	pthread_mutex_unlock(&dog.lock);

	struct run run = {0};
	enum vmsim_result r = ops->vcpu_run(vcpu, on_exit, &run);

	pthread_mutex_lock(&dog.lock);
	dog.armed = false;
	pthread_cond_signal(&dog.cond);
	pthread_mutex_unlock(&dog.lock);

	FUZZ_CHECK((unsigned)r < VMSIM_RESULT_COUNT);
	FUZZ_CHECK(ops->state_get(vcpu, VMSIM_GROUP_ALL, &s) == VMSIM_OK);
	FUZZ_CHECK(ops->mem_unmap(vm, 0, RAM) == VMSIM_OK);
	return 0;
}
