/* sim/skeleton/skeleton_backend.c - a minimal third-party backend plugin: memory and state, no guest execution. */
#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include <vmsim/backend.h>
#include <vmsim/genode_layout.h>

/*
 * What a backend author starts from. It keeps guest mappings and per-vCPU
 * state, and its vcpu_run idles until vcpu_stop (a CPU that never executes
 * an instruction), so it can honestly declare STOP and nothing else: the
 * conformance suite then runs the quota, memory, lifecycle, with_state and
 * recall tests on it and skips the rest with cap_gap's reason.
 *
 * It also shows kernel-state mode (docs/spec.md): after a recall it hands
 * core the Vcpu_state page a kernel would have written, in Genode's 2023
 * layout, and core checks it against the model.
 */
enum { MAX_MAPPINGS = 1 << 16 };

struct mapping {
	uint64_t gpa, size;
};

struct skel_vm {
	pthread_mutex_t lock;
	struct mapping *maps;
	size_t nmaps;
};

struct skel_vcpu {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop_pending;
	bool recalled; /* vcpu_run returned for a stop: the next kernel_state is that recall's page */
	struct vmsim_cpu_state state;
	struct vmsim_genode_vcpu_state_2023 page;
};

static const char *skel_cap_gap(uint64_t cap)
{
	if (cap == VMSIM_CAP_STOP)
		return NULL;
	return "the skeleton backend executes no guest code (implement vcpu_run on a real engine to add this)";
}

static enum vmsim_result skel_vm_create(const struct vmsim_backend_host *host, void **out)
{
	(void)host;
	struct skel_vm *vm = calloc(1, sizeof *vm);
	if (!vm)
		return VMSIM_OUT_OF_RAM;
	pthread_mutex_init(&vm->lock, NULL);
	*out = vm;
	return VMSIM_OK;
}

static void skel_vm_destroy(void *opaque)
{
	struct skel_vm *vm = opaque;
	pthread_mutex_destroy(&vm->lock);
	free(vm->maps);
	free(vm);
}

static enum vmsim_result skel_mem_map(void *opaque, uint64_t gpa, void *hva, uint64_t size, unsigned prot)
{
	struct skel_vm *vm = opaque;
	(void)hva;
	(void)prot;
	if (!size || (gpa | size) & 0xfff)
		return VMSIM_INVALID_ARGUMENT;
	pthread_mutex_lock(&vm->lock);
	enum vmsim_result r = VMSIM_OK;
	for (size_t i = 0; i < vm->nmaps; i++)
		if (gpa < vm->maps[i].gpa + vm->maps[i].size && vm->maps[i].gpa < gpa + size)
			r = VMSIM_REGION_CONFLICT; /* core never asks for an overlap: a contract check */
	if (r == VMSIM_OK && vm->nmaps == MAX_MAPPINGS)
		r = VMSIM_OUT_OF_RAM;
	if (r == VMSIM_OK && vm->nmaps % 64 == 0) {
		struct mapping *grown = realloc(vm->maps, (vm->nmaps + 64) * sizeof *grown);
		if (!grown)
			r = VMSIM_OUT_OF_RAM;
		else
			vm->maps = grown;
	}
	if (r == VMSIM_OK)
		vm->maps[vm->nmaps++] = (struct mapping){ gpa, size };
	pthread_mutex_unlock(&vm->lock);
	return r;
}

static enum vmsim_result skel_mem_unmap(void *opaque, uint64_t gpa, uint64_t size)
{
	struct skel_vm *vm = opaque;
	enum vmsim_result r = VMSIM_INVALID_ARGUMENT;
	pthread_mutex_lock(&vm->lock);
	for (size_t i = 0; i < vm->nmaps; i++)
		if (vm->maps[i].gpa == gpa && vm->maps[i].size == size) {
			vm->maps[i] = vm->maps[--vm->nmaps];
			r = VMSIM_OK;
			break;
		}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

static enum vmsim_result skel_vcpu_create(void *vm, unsigned id, void **out)
{
	(void)vm;
	(void)id;
	struct skel_vcpu *v = aligned_alloc(alignof(struct skel_vcpu), sizeof *v); /* the FPU area is 64-aligned */
	if (!v)
		return VMSIM_OUT_OF_RAM;
	memset(v, 0, sizeof *v);
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->wake, NULL);
	v->state.rflags = 2;
	*out = v;
	return VMSIM_OK;
}

static void skel_vcpu_destroy(void *opaque)
{
	struct skel_vcpu *v = opaque;
	pthread_cond_destroy(&v->wake);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

/* Idle until stopped: no instruction ever retires, so no exit is ever reported. */
static enum vmsim_result skel_vcpu_run(void *opaque, vmsim_exit_fn on_exit, void *ctx)
{
	struct skel_vcpu *v = opaque;
	(void)on_exit;
	(void)ctx;
	pthread_mutex_lock(&v->lock);
	while (!v->stop_pending)
		pthread_cond_wait(&v->wake, &v->lock);
	v->stop_pending = false;
	v->recalled = true;
	pthread_mutex_unlock(&v->lock);
	return VMSIM_OK;
}

/*
 * Kernel-state mode: the page a kernel writes for a recall. base-hw recalls with a physical
 * interrupt (VMEXIT_INTR 0x60 / external interrupt) and reports it to the VMM as 0xff (PAUSED).
 */
static enum vmsim_result skel_kernel_state(void *opaque, struct vmsim_kernel_state *out)
{
	struct skel_vcpu *v = opaque;
	pthread_mutex_lock(&v->lock);
	bool recalled = v->recalled;
	v->recalled = false;
	if (recalled) {
		memset(&v->page, 0, sizeof v->page);
		v->page.exit_reason = 0xff;
		v->page.ip.value = v->state.rip;
		v->page.ip.charged = 1;
	}
	pthread_mutex_unlock(&v->lock);
	if (!recalled)
		return VMSIM_UNSUPPORTED; /* a stop the kernel did not make */
	*out = (struct vmsim_kernel_state){ VMSIM_KERNEL_STATE_GENODE_2023, &v->page, sizeof v->page };
	return VMSIM_OK;
}

static void skel_vcpu_stop(void *opaque)
{
	struct skel_vcpu *v = opaque;
	pthread_mutex_lock(&v->lock);
	v->stop_pending = true;
	pthread_cond_signal(&v->wake);
	pthread_mutex_unlock(&v->lock);
}

/* Copy the fields of the requested groups (the unit of transfer in backend.h). */
static void copy_groups(struct vmsim_cpu_state *to, const struct vmsim_cpu_state *from, uint32_t groups)
{
	if (groups & VMSIM_GROUP_GPR)
		memcpy(&to->rax, &from->rax, 16 * sizeof to->rax);
	if (groups & VMSIM_GROUP_IP)
		to->rip = from->rip, to->rflags = from->rflags;
	if (groups & VMSIM_GROUP_SEGMENTS)
		memcpy(&to->es, &from->es, 8 * sizeof to->es);
	if (groups & VMSIM_GROUP_DTABLES)
		to->gdtr = from->gdtr, to->idtr = from->idtr;
	if (groups & VMSIM_GROUP_CONTROL)
		to->cr0 = from->cr0, to->cr2 = from->cr2, to->cr3 = from->cr3, to->cr4 = from->cr4,
		to->efer = from->efer, to->dr7 = from->dr7;
	if (groups & VMSIM_GROUP_SYSENTER)
		to->sysenter_cs = from->sysenter_cs, to->sysenter_esp = from->sysenter_esp,
		to->sysenter_eip = from->sysenter_eip;
	if (groups & VMSIM_GROUP_SYSCALL)
		to->star = from->star, to->lstar = from->lstar, to->cstar = from->cstar, to->fmask = from->fmask,
		to->kernel_gs_base = from->kernel_gs_base;
	if (groups & VMSIM_GROUP_TSC)
		to->tsc = from->tsc, to->tsc_offset = from->tsc_offset, to->tsc_aux = from->tsc_aux;
	if (groups & VMSIM_GROUP_EVENTS)
		to->interruptibility = from->interruptibility, to->activity = from->activity, to->pending = from->pending;
	if (groups & VMSIM_GROUP_PDPTE)
		memcpy(to->pdpte, from->pdpte, sizeof to->pdpte);
	if (groups & VMSIM_GROUP_TPR)
		to->tpr = from->tpr, to->tpr_threshold = from->tpr_threshold;
	if (groups & VMSIM_GROUP_XSAVE)
		to->xcr0 = from->xcr0, to->xss = from->xss;
	if (groups & VMSIM_GROUP_FPU) {
		to->fpu_size = from->fpu_size;
		memcpy(to->fpu, from->fpu, sizeof to->fpu);
	}
	if (groups & VMSIM_GROUP_INTERCEPTS)
		to->intercepts = from->intercepts;
}

static enum vmsim_result skel_state_get(void *opaque, uint32_t groups, struct vmsim_cpu_state *out)
{
	struct skel_vcpu *v = opaque;
	pthread_mutex_lock(&v->lock);
	copy_groups(out, &v->state, groups);
	pthread_mutex_unlock(&v->lock);
	return VMSIM_OK;
}

static enum vmsim_result skel_state_set(void *opaque, uint32_t groups, const struct vmsim_cpu_state *in)
{
	struct skel_vcpu *v = opaque;
	pthread_mutex_lock(&v->lock);
	copy_groups(&v->state, in, groups);
	pthread_mutex_unlock(&v->lock);
	return VMSIM_OK;
}

static const struct vmsim_backend_ops skeleton_ops = {
	.abi_version = VMSIM_BACKEND_ABI_VERSION,
	.struct_size = sizeof(struct vmsim_backend_ops),
	.name = "skeleton",
	.description = "third-party plugin template: guest memory and vCPU state, no instruction execution",
	.caps = VMSIM_CAP_STOP,
	.cap_gap = skel_cap_gap,
	.vm_create = skel_vm_create,
	.vm_destroy = skel_vm_destroy,
	.mem_map = skel_mem_map,
	.mem_unmap = skel_mem_unmap,
	.vcpu_create = skel_vcpu_create,
	.vcpu_destroy = skel_vcpu_destroy,
	.vcpu_run = skel_vcpu_run,
	.vcpu_stop = skel_vcpu_stop,
	.state_get = skel_state_get,
	.state_set = skel_state_set,
	.native = NULL,
	.kernel_state = skel_kernel_state,
};

/* The one exported symbol (VMSIM_BACKEND_ENTRY_SYMBOL); everything else is hidden. */
__attribute__((visibility("default"))) const struct vmsim_backend_ops *vmsim_backend_entry_v1(void);

const struct vmsim_backend_ops *vmsim_backend_entry_v1(void)
{
	return &skeleton_ops;
}
