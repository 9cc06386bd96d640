/* uc_backend.c - the Unicorn 2.0.1 backend's ops table, capabilities, VM and vCPU lifetime. */
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include <vmsim/backends.h>

#include "uc_internal.h"

#define UCB_CAPS                                                                              \
	(VMSIM_CAP_EXIT_IO | VMSIM_CAP_EXIT_IO_STRING | VMSIM_CAP_EXIT_NPF | VMSIM_CAP_EXIT_MMIO_DECODE | \
	 VMSIM_CAP_EXIT_CPUID | VMSIM_CAP_EXIT_HLT | VMSIM_CAP_EXIT_VMCALL | VMSIM_CAP_EXIT_RDTSC |      \
	 VMSIM_CAP_EXIT_RDTSCP | VMSIM_CAP_EXIT_MSR | VMSIM_CAP_EXIT_SHUTDOWN |                        \
	 VMSIM_CAP_INJECT_EXTINT | VMSIM_CAP_INJECT_NMI | VMSIM_CAP_INJECT_EXCEPTION |                  \
	 VMSIM_CAP_INJECT_SWINT | VMSIM_CAP_INTR_WINDOW | VMSIM_CAP_MODE_REAL |                         \
	 VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_MODE_LONG | VMSIM_CAP_MODE_SWITCH |                       \
	 VMSIM_CAP_RESET_VECTOR | VMSIM_CAP_READONLY_MEMORY | VMSIM_CAP_NOEXEC_MEMORY |                 \
	 VMSIM_CAP_STOP | VMSIM_CAP_TSC_OFFSET | VMSIM_CAP_INHOOK_EXIT | VMSIM_CAP_FPU_STATE |          \
	 VMSIM_CAP_NMI_WINDOW | VMSIM_CAP_ENTRY_AS_SVM | VMSIM_CAP_ENTRY_AS_VMX | VMSIM_CAP_INT_IRET |     \
	 VMSIM_CAP_PAGING_LEGACY | VMSIM_CAP_EXCEPTION_INTERCEPT | VMSIM_CAP_DELIVERY_PF |  \
	 VMSIM_CAP_DELIVERY_NPF)

/*
 * Capstone 4 sorts a global register table (X86_insn_reg_intel) lazily, at the first decode that needs it,
 * without a lock: two vCPU threads decoding for the first time race on it (TSan). Decode such instructions
 * once, under pthread_once, on the creating thread before any vCPU thread of this backend starts.
 */
static pthread_once_t capstone_once = PTHREAD_ONCE_INIT;

static void capstone_warm(void)
{
	static const uint8_t code[] = {0xe4, 0x60, 0xec, 0xee, 0xe6, 0x80, 0xa8, 0x01, 0x04, 0x01, 0xaa, 0x6c};
	csh h;
	if (cs_open(CS_ARCH_X86, CS_MODE_16, &h) != CS_ERR_OK)
		return;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	cs_insn *insn = NULL;
	size_t n = cs_disasm(h, code, sizeof code, 0, 0, &insn);
	if (n)
		cs_free(insn, n);
	cs_close(&h);
}

static const char *uc_cap_gap(uint64_t cap)
{
	if (cap & UCB_CAPS)
		return NULL;
	if (cap == VMSIM_CAP_HOST_HYPERCALL)
		return "a VMCALL/VMMCALL the VMM does not intercept raises #UD in the guest, as on a CPU without a "
		       "hypervisor behind it (uc_exits.c)";
	return "Unicorn 2.0.1 offers no mechanism for this capability.";
}

static enum vmsim_result uc_vm_create(const struct vmsim_backend_host *host, void **out)
{
	struct ucb_vm *vm = calloc(1, sizeof *vm);

	if (!vm)
		return VMSIM_OUT_OF_RAM;
	if (host)
		vm->host = *host;
	pthread_mutex_init(&vm->update_lock, NULL);
	pthread_mutex_init(&vm->list_lock, NULL);
	pthread_mutex_init(&vm->xcode_lock, NULL);
	atomic_init(&vm->generation, 1);
	atomic_init(&vm->xcode_lo, 0);
	atomic_init(&vm->xcode_hi, 0);
	/* 128 KiB of pages the kernel maps only where a bit is set */
	vm->xcode_filter = calloc(UCB_XCODE_FILTER_BYTES, sizeof *vm->xcode_filter);
	if (!vm->xcode_filter) {
		pthread_mutex_destroy(&vm->xcode_lock);
		pthread_mutex_destroy(&vm->list_lock);
		pthread_mutex_destroy(&vm->update_lock);
		free(vm);
		return VMSIM_OUT_OF_RAM;
	}
	*out = vm;
	return VMSIM_OK;
}

static void uc_vm_destroy(void *p)
{
	struct ucb_vm *vm = p;

	if (!vm)
		return;
	tdestroy(vm->maps, free);
	free(vm->vcpus);
	pthread_mutex_destroy(&vm->update_lock);
	pthread_mutex_destroy(&vm->list_lock);
	pthread_mutex_destroy(&vm->xcode_lock);
	free(vm->xcode_filter);
	free(vm);
}

/* The x86 reset state (SDM 9.1.1): what a vCPU holds before the VMM sets anything. */
static void reset_state(struct vmsim_cpu_state *s)
{
	memset(s, 0, sizeof *s);
	s->rip = 0xfff0;
	s->rflags = 2;
	s->rdx = 0x600;
	s->cs = (struct vmsim_segment){ .sel = 0xf000, .ar = 0x9b, .limit = 0xffff, .base = 0xffff0000 };
	struct vmsim_segment data = { .sel = 0, .ar = 0x93, .limit = 0xffff, .base = 0 };
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->ldtr = (struct vmsim_segment){ .ar = 0x82, .limit = 0xffff };
	s->tr = (struct vmsim_segment){ .ar = 0x8b, .limit = 0xffff };
	s->gdtr.limit = s->idtr.limit = 0xffff;
	s->cr0 = 0x60000010;
	s->dr7 = 0x400;
	s->fpu_size = 512;
	s->fpu[0] = 0x7f; /* FCW 0x037f */
	s->fpu[1] = 0x03;
	s->fpu[24] = 0x80; /* MXCSR 0x1f80 */
	s->fpu[25] = 0x1f;
}

static enum vmsim_result uc_vcpu_create(void *p, unsigned id, void **out)
{
	struct ucb_vm *vm = p;
	struct ucb_vcpu *v = calloc(1, sizeof *v);
	enum vmsim_result r = VMSIM_OUT_OF_RAM;

	if (!v)
		return VMSIM_OUT_OF_RAM;
	v->vm = vm;
	v->id = id;
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->cond, NULL);
	atomic_init(&v->stop_requested, false);
	atomic_init(&v->run_state, UCB_IDLE);
	atomic_init(&v->waiters, 0);
	atomic_init(&v->remote_pending, false);
	pthread_once(&capstone_once, capstone_warm);
	v->cs_ok = cs_open(CS_ARCH_X86, CS_MODE_16, &v->cs) == CS_ERR_OK;
	if (!v->cs_ok) {
		r = VMSIM_BACKEND_ERROR;
		goto fail;
	}
	v->active = ucb_engine_get(v, UCB_REAL);
	if (!v->active) {
		r = VMSIM_BACKEND_ERROR;
		goto fail;
	}
	struct vmsim_cpu_state *s = malloc(sizeof *s);
	if (!s)
		goto fail;
	reset_state(s);
	r = ucb_engine_set_state(v->active, VMSIM_GROUP_ALL & ~VMSIM_GROUP_INTERCEPTS, s);
	free(s);
	if (r != VMSIM_OK)
		goto fail;

	pthread_mutex_lock(&vm->list_lock);
	if (vm->nvcpus == vm->vcpus_cap) {
		size_t cap = vm->vcpus_cap ? vm->vcpus_cap * 2 : 4;
		struct ucb_vcpu **n = realloc(vm->vcpus, cap * sizeof *n);
		if (!n) {
			pthread_mutex_unlock(&vm->list_lock);
			r = VMSIM_OUT_OF_RAM;
			goto fail;
		}
		vm->vcpus = n;
		vm->vcpus_cap = cap;
	}
	vm->vcpus[vm->nvcpus++] = v;
	pthread_mutex_unlock(&vm->list_lock);
	*out = v;
	return VMSIM_OK;
fail:
	for (int m = 0; m < UCB_MODE_COUNT; m++)
		ucb_engine_destroy(v->engines[m]);
	if (v->cs_ok)
		cs_close(&v->cs);
	pthread_cond_destroy(&v->cond);
	pthread_mutex_destroy(&v->lock);
	free(v);
	return r;
}

static void uc_vcpu_destroy(void *p)
{
	struct ucb_vcpu *v = p;
	struct ucb_vm *vm;

	if (!v)
		return;
	vm = v->vm;
	pthread_mutex_lock(&vm->update_lock);
	pthread_mutex_lock(&vm->list_lock);
	for (size_t i = 0; i < vm->nvcpus; i++) {
		if (vm->vcpus[i] == v) {
			vm->vcpus[i] = vm->vcpus[--vm->nvcpus];
			break;
		}
	}
	pthread_mutex_unlock(&vm->list_lock);
	pthread_mutex_unlock(&vm->update_lock);
	for (int m = 0; m < UCB_MODE_COUNT; m++)
		ucb_engine_destroy(v->engines[m]);
	free(v->code_phys.keys);
	free(v->remote_stale.keys);
	cs_close(&v->cs);
	pthread_cond_destroy(&v->cond);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

static enum vmsim_result uc_native(void *p, struct vmsim_native_vcpu *out)
{
	struct ucb_vcpu *v = p;

	memset(out, 0, sizeof *out);
	out->backend = "unicorn";
	out->fd = -1;
	out->engine = v->active ? v->active->uc : NULL;
	return VMSIM_OK;
}

static const struct vmsim_backend_ops unicorn_ops = {
	.abi_version = VMSIM_BACKEND_ABI_VERSION,
	.struct_size = sizeof(struct vmsim_backend_ops),
	.name = "unicorn",
	.description = "x86 emulation on Unicorn 2.0.1 with in-hook exits",
	.caps = UCB_CAPS,
	.cap_gap = uc_cap_gap,
	.vm_create = uc_vm_create,
	.vm_destroy = uc_vm_destroy,
	.mem_map = ucb_mem_map,
	.mem_unmap = ucb_mem_unmap,
	.vcpu_create = uc_vcpu_create,
	.vcpu_destroy = uc_vcpu_destroy,
	.vcpu_run = ucb_vcpu_run,
	.vcpu_stop = ucb_vcpu_stop,
	.state_get = ucb_state_get,
	.state_set = ucb_state_set,
	.native = uc_native,
	/* measured with vmsim serve (docs/quota.md): 2,845 KiB RSS per vCPU (its engines, TCG buffers) */
	.host_cost = { .vcpu_ram = 3u << 20 },
	.regs_set = ucb_regs_set,
};

const struct vmsim_backend_ops *vmsim_backend_unicorn(void)
{
	return &unicorn_ops;
}
