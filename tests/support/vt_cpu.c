/* tests/support/vt_cpu.c - the interpreting test backend behind the execution-model tests (no CMocka: it is a plugin too). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <stddef.h>
#include <stdint.h>

#include "vt_cpu.h"

struct map {
	uint64_t gpa, size;
	uint8_t *hva;
	unsigned prot;
};

struct vm {
	pthread_mutex_t lock;
	struct map *maps; /* grown on demand: the suite attaches 10000 regions */
	unsigned count, cap;
};

struct cpu {
	struct vm *vm;
	atomic_bool stop;
	struct vmsim_cpu_state st;
};

static enum vmsim_result vm_create(const struct vmsim_backend_host *host, void **out)
{
	(void)host;
	struct vm *vm = calloc(1, sizeof *vm);
	if (!vm)
		return VMSIM_OUT_OF_RAM;
	pthread_mutex_init(&vm->lock, NULL);
	*out = vm;
	return VMSIM_OK;
}

static void vm_destroy(void *p)
{
	struct vm *vm = p;
	pthread_mutex_destroy(&vm->lock);
	free(vm->maps);
	free(vm);
}

static enum vmsim_result mem_map(void *p, uint64_t gpa, void *hva, uint64_t size, unsigned prot)
{
	struct vm *vm = p;
	pthread_mutex_lock(&vm->lock);
	if (vm->count == vm->cap) {
		unsigned cap = vm->cap ? vm->cap * 2 : 64;
		struct map *grown = realloc(vm->maps, cap * sizeof *grown);
		if (!grown) {
			pthread_mutex_unlock(&vm->lock);
			return VMSIM_OUT_OF_RAM;
		}
		vm->maps = grown;
		vm->cap = cap;
	}
	vm->maps[vm->count++] = (struct map){ gpa, size, hva, prot };
	pthread_mutex_unlock(&vm->lock);
	return VMSIM_OK;
}

static enum vmsim_result mem_unmap(void *p, uint64_t gpa, uint64_t size)
{
	struct vm *vm = p;
	pthread_mutex_lock(&vm->lock);
	for (unsigned i = 0; i < vm->count; i++)
		if (vm->maps[i].gpa == gpa && vm->maps[i].size == size) {
			vm->maps[i] = vm->maps[--vm->count];
			pthread_mutex_unlock(&vm->lock);
			return VMSIM_OK;
		}
	pthread_mutex_unlock(&vm->lock);
	return VMSIM_INVALID_ARGUMENT;
}

static enum vmsim_result vcpu_create(void *vm, unsigned id, void **out)
{
	(void)id;
	struct cpu *cpu = calloc(1, sizeof *cpu);
	if (!cpu)
		return VMSIM_OUT_OF_RAM;
	cpu->vm = vm;
	cpu->st.rflags = 2;
	*out = cpu;
	return VMSIM_OK;
}

static void vcpu_destroy(void *cpu)
{
	free(cpu);
}

/* Copy up to 3 instruction bytes at gpa; returns how many are mapped (0 = fetch fault). */
static unsigned fetch(struct vm *vm, uint64_t gpa, uint8_t *out)
{
	unsigned n = 0;
	pthread_mutex_lock(&vm->lock);
	for (; n < 3; n++) {
		bool found = false;
		for (unsigned i = 0; i < vm->count && !found; i++) {
			struct map *m = &vm->maps[i];
			if (gpa + n >= m->gpa && gpa + n < m->gpa + m->size) {
				out[n] = m->hva[gpa + n - m->gpa];
				found = true;
			}
		}
		if (!found)
			break;
	}
	pthread_mutex_unlock(&vm->lock);
	return n;
}

static enum vmsim_result vcpu_run(void *p, vmsim_exit_fn on_exit, void *ctx)
{
	struct cpu *cpu = p;

	for (;;) {
		if (atomic_exchange(&cpu->stop, false))
			return VMSIM_OK;
		uint64_t gpa = cpu->st.cs.base + cpu->st.rip;
		uint8_t b[3] = { 0 };
		unsigned n = fetch(cpu->vm, gpa, b);
		struct vmsim_exit ex = { .rip = cpu->st.rip };

		if (n == 0) {
			ex.kind = VMSIM_EXIT_NPF;
			ex.u.npf.gpa = gpa;
			ex.u.npf.access = VMSIM_ACCESS_FETCH;
		} else if (b[0] == 0x90) {
			cpu->st.rip += 1;
			continue;
		} else if (b[0] == 0xf4) {
			if (!(cpu->st.intercepts & VMSIM_INTERCEPT_HLT)) {
				sched_yield(); /* halted, no event source: idle until stopped */
				continue;
			}
			ex.kind = VMSIM_EXIT_HLT;
			ex.insn_len = 1;
		} else if (b[0] == 0xeb && n >= 2) {
			if (b[1] == 0xfe)
				sched_yield();
			cpu->st.rip = (cpu->st.rip + 2 + (int8_t)b[1]) & 0xffff;
			continue;
		} else if ((b[0] == 0xe6 || b[0] == 0xe4) && n >= 2) {
			ex.kind = VMSIM_EXIT_IO;
			ex.insn_len = 2;
			ex.u.io.port = b[1];
			ex.u.io.size = 1;
			ex.u.io.imm = true;
			ex.u.io.in = b[0] == 0xe4;
			ex.u.io.value = ex.u.io.in ? 0 : (uint8_t)cpu->st.rax;
		} else if (b[0] == 0x0f && n >= 2 && b[1] == 0xa2) {
			ex.kind = VMSIM_EXIT_CPUID;
			ex.insn_len = 2;
			ex.u.cpuid.leaf = (uint32_t)cpu->st.rax;
		} else if (b[0] == 0x0f && n == 3 && b[1] == 0x01 && b[2] == 0xf9) {
			if (!(cpu->st.intercepts & VMSIM_INTERCEPT_RDTSCP)) {
				cpu->st.rcx = cpu->st.tsc_aux;
				cpu->st.rip += 3;
				continue;
			}
			ex.kind = VMSIM_EXIT_RDTSCP;
			ex.insn_len = 3;
		} else if (b[0] == 0x0f && n == 3 && b[1] == 0x01 && b[2] == 0xc1) {
			ex.kind = VMSIM_EXIT_VMCALL;
			ex.insn_len = 3;
		} else {
			ex.kind = VMSIM_EXIT_SHUTDOWN;
		}
		if (on_exit(ctx, &ex) == VMSIM_EXIT_ACTION_STOP)
			return VMSIM_OK;
	}
}

static void vcpu_stop(void *p)
{
	struct cpu *cpu = p;
	atomic_store(&cpu->stop, true);
}

/* Groups are copied whole: the double keeps one struct, like a VMCB. */
static enum vmsim_result state_get(void *p, uint32_t groups, struct vmsim_cpu_state *out)
{
	struct cpu *cpu = p;
	(void)groups;
	*out = cpu->st;
	return VMSIM_OK;
}

#define COPY_IF(grp, ...)                                                                                 \
	do {                                                                                              \
		if (groups & (grp)) {                                                                     \
			__VA_ARGS__;                                                                      \
		}                                                                                         \
	} while (0)

static enum vmsim_result state_set(void *p, uint32_t groups, const struct vmsim_cpu_state *in)
{
	struct cpu *cpu = p;
	struct vmsim_cpu_state *st = &cpu->st;
	COPY_IF(VMSIM_GROUP_GPR, memcpy(&st->rax, &in->rax, 16 * sizeof(uint64_t)));
	COPY_IF(VMSIM_GROUP_IP, st->rip = in->rip; st->rflags = in->rflags);
	COPY_IF(VMSIM_GROUP_SEGMENTS, st->es = in->es; st->cs = in->cs; st->ss = in->ss; st->ds = in->ds;
	        st->fs = in->fs; st->gs = in->gs; st->ldtr = in->ldtr; st->tr = in->tr);
	COPY_IF(VMSIM_GROUP_DTABLES, st->gdtr = in->gdtr; st->idtr = in->idtr);
	COPY_IF(VMSIM_GROUP_CONTROL, st->cr0 = in->cr0; st->cr2 = in->cr2; st->cr3 = in->cr3; st->cr4 = in->cr4;
	        st->efer = in->efer; st->dr7 = in->dr7);
	COPY_IF(VMSIM_GROUP_TSC, st->tsc = in->tsc; st->tsc_offset = in->tsc_offset; st->tsc_aux = in->tsc_aux);
	COPY_IF(VMSIM_GROUP_EVENTS, st->interruptibility = in->interruptibility; st->activity = in->activity;
	        st->pending = in->pending);
	COPY_IF(VMSIM_GROUP_INTERCEPTS, st->intercepts = in->intercepts);
	COPY_IF(VMSIM_GROUP_FPU, memcpy(st->fpu, in->fpu, sizeof st->fpu); st->fpu_size = in->fpu_size);
	return VMSIM_OK;
}

static const char *cap_gap(uint64_t cap)
{
	(void)cap;
	return "vt-cpu interprets nine encodings (vt_cpu.h) in a flat address space: no modes, events or memory protection";
}

static const struct vmsim_backend_ops ops = {
	.abi_version = VMSIM_BACKEND_ABI_VERSION,
	.struct_size = sizeof(struct vmsim_backend_ops),
	.name = "vt-cpu",
	.description = "interpreting test double for core's execution model",
	.caps = VMSIM_CAP_EXIT_IO | VMSIM_CAP_EXIT_HLT | VMSIM_CAP_EXIT_CPUID | VMSIM_CAP_STOP |
	        VMSIM_CAP_INHOOK_EXIT,
	.cap_gap = cap_gap,
	.vm_create = vm_create,
	.vm_destroy = vm_destroy,
	.mem_map = mem_map,
	.mem_unmap = mem_unmap,
	.vcpu_create = vcpu_create,
	.vcpu_destroy = vcpu_destroy,
	.vcpu_run = vcpu_run,
	.vcpu_stop = vcpu_stop,
	.state_get = state_get,
	.state_set = state_set,
};

const struct vmsim_backend_ops *vt_cpu_ops(void)
{
	return &ops;
}
