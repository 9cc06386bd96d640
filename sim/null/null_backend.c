/* sim/null/null_backend.c - the null CPU backend: keeps memory and register bookkeeping, runs no guest code. */
#include <pthread.h>
#include <search.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vmsim/backend.h>

/*
 * Declared in <vmsim/backends.h>; repeated here because a backend may include
 * only <vmsim/backend.h> (backends.h pulls in the env, which backends never see).
 */
const struct vmsim_backend_ops *vmsim_backend_null(void);

enum { NULL_PAGE_SIZE = 4096 };

struct null_mapping {
	uint64_t gpa;
	uint64_t size;
	void *hva;
	unsigned prot;
};

struct null_vm {
	/* Core serialises map/unmap per session already; the lock keeps this backend safe on its own. */
	pthread_mutex_t lock;
	/*
	 * Mappings in libc's balanced search tree (tsearch): O(log n) map and unmap at any size, where a sorted
	 * array's insert and delete moved O(n) entries (detach 8.8 us at 100,000).
	 */
	void *maps;
};

struct null_vcpu {
	struct null_vm *vm;
	unsigned id;
	struct vmsim_cpu_state state;
};

/* The byte range of struct vmsim_cpu_state each state group owns, in field order. */
struct group_span {
	uint32_t group;
	size_t begin;
	size_t end;
};

#define SPAN(group, first, next) {group, offsetof(struct vmsim_cpu_state, first), offsetof(struct vmsim_cpu_state, next)}

static const struct group_span group_spans[] = {
	SPAN(VMSIM_GROUP_GPR, rax, rip),
	SPAN(VMSIM_GROUP_IP, rip, es),
	SPAN(VMSIM_GROUP_SEGMENTS, es, gdtr),
	SPAN(VMSIM_GROUP_DTABLES, gdtr, cr0),
	SPAN(VMSIM_GROUP_CONTROL, cr0, sysenter_cs),
	SPAN(VMSIM_GROUP_SYSENTER, sysenter_cs, star),
	SPAN(VMSIM_GROUP_SYSCALL, star, tsc),
	SPAN(VMSIM_GROUP_TSC, tsc, interruptibility),
	SPAN(VMSIM_GROUP_EVENTS, interruptibility, pdpte),
	SPAN(VMSIM_GROUP_PDPTE, pdpte, tpr),
	SPAN(VMSIM_GROUP_TPR, tpr, xcr0),
	SPAN(VMSIM_GROUP_XSAVE, xcr0, intercepts),
	SPAN(VMSIM_GROUP_INTERCEPTS, intercepts, fpu_size),
	{VMSIM_GROUP_FPU, offsetof(struct vmsim_cpu_state, fpu_size), sizeof(struct vmsim_cpu_state)},
};

#undef SPAN

_Static_assert(sizeof group_spans / sizeof group_spans[0] == 14, "one span per state group");

static const char gap_reason[] = "the null backend executes no guest code";

static const char *null_cap_gap(uint64_t cap)
{
	(void)cap; /* caps is 0: every capability is absent for the same reason */
	return gap_reason;
}

static enum vmsim_result null_vm_create(const struct vmsim_backend_host *host, void **vm)
{
	(void)host;
	if (!vm)
		return VMSIM_INVALID_ARGUMENT;
	struct null_vm *nvm = calloc(1, sizeof *nvm);
	if (!nvm)
		return VMSIM_BACKEND_ERROR;
	if (pthread_mutex_init(&nvm->lock, NULL) != 0) {
		free(nvm);
		return VMSIM_BACKEND_ERROR;
	}
	*vm = nvm;
	return VMSIM_OK;
}

static void null_vm_destroy(void *vm)
{
	struct null_vm *nvm = vm;
	if (!nvm)
		return;
	pthread_mutex_destroy(&nvm->lock);
	tdestroy(nvm->maps, free);
	free(nvm);
}

/* Mappings never overlap, so "ends before / starts after" orders them; a range equals any mapping it overlaps. */
static int compare_ranges(const void *a, const void *b)
{
	const struct null_mapping *x = a, *y = b;
	if (x->gpa + (x->size - 1) < y->gpa)
		return -1;
	return y->gpa + (y->size - 1) < x->gpa ? 1 : 0;
}

static bool range_valid(uint64_t gpa, uint64_t size)
{
	if (size == 0 || gpa % NULL_PAGE_SIZE || size % NULL_PAGE_SIZE)
		return false;
	return gpa + size > gpa; /* the range must end below 2^64 */
}

static enum vmsim_result null_mem_map(void *vm, uint64_t gpa, void *hva, uint64_t size, unsigned prot)
{
	struct null_vm *nvm = vm;
	if (!nvm || !hva || !range_valid(gpa, size) || (prot & ~7u))
		return VMSIM_INVALID_ARGUMENT;
	struct null_mapping *m = malloc(sizeof *m);
	if (!m)
		return VMSIM_BACKEND_ERROR;
	*m = (struct null_mapping){ .gpa = gpa, .size = size, .hva = hva, .prot = prot };

	enum vmsim_result result = VMSIM_OK;
	pthread_mutex_lock(&nvm->lock);
	struct null_mapping **slot = tsearch(m, &nvm->maps, compare_ranges);
	if (!slot)
		result = VMSIM_BACKEND_ERROR;
	else if (*slot != m)
		result = VMSIM_INVALID_ARGUMENT; /* overlaps *slot */
	pthread_mutex_unlock(&nvm->lock);
	if (result != VMSIM_OK)
		free(m);
	return result;
}

static enum vmsim_result null_mem_unmap(void *vm, uint64_t gpa, uint64_t size)
{
	struct null_vm *nvm = vm;
	if (!nvm || !range_valid(gpa, size))
		return VMSIM_INVALID_ARGUMENT;

	enum vmsim_result result = VMSIM_INVALID_ARGUMENT;
	struct null_mapping key = { .gpa = gpa, .size = size };
	pthread_mutex_lock(&nvm->lock);
	struct null_mapping **slot = tfind(&key, &nvm->maps, compare_ranges);
	if (slot && (*slot)->gpa == gpa && (*slot)->size == size) {
		struct null_mapping *m = *slot;
		tdelete(&key, &nvm->maps, compare_ranges);
		free(m);
		result = VMSIM_OK;
	}
	pthread_mutex_unlock(&nvm->lock);
	return result;
}

static enum vmsim_result null_vcpu_create(void *vm, unsigned id, void **vcpu)
{
	if (!vm || !vcpu)
		return VMSIM_INVALID_ARGUMENT;
	struct null_vcpu *nvcpu = aligned_alloc(alignof(struct null_vcpu), sizeof *nvcpu);
	if (!nvcpu)
		return VMSIM_BACKEND_ERROR;
	memset(nvcpu, 0, sizeof *nvcpu);
	nvcpu->vm = vm;
	nvcpu->id = id;
	*vcpu = nvcpu;
	return VMSIM_OK;
}

static void null_vcpu_destroy(void *vcpu)
{
	free(vcpu);
}

static enum vmsim_result null_vcpu_run(void *vcpu, vmsim_exit_fn on_exit, void *ctx)
{
	(void)vcpu;
	(void)on_exit;
	(void)ctx;
	return VMSIM_UNSUPPORTED;
}

static void null_vcpu_stop(void *vcpu)
{
	(void)vcpu; /* nothing ever runs, so there is nothing to stop */
}

/* Copy the spans of the requested groups from src to dst; INVALID_ARGUMENT for unknown group bits. */
static enum vmsim_result copy_groups(uint32_t groups, struct vmsim_cpu_state *dst, const struct vmsim_cpu_state *src)
{
	if (groups & ~(uint32_t)VMSIM_GROUP_ALL)
		return VMSIM_INVALID_ARGUMENT;
	for (size_t i = 0; i < sizeof group_spans / sizeof group_spans[0]; i++) {
		const struct group_span *span = &group_spans[i];
		if (groups & span->group)
			memcpy((char *)dst + span->begin, (const char *)src + span->begin, span->end - span->begin);
	}
	return VMSIM_OK;
}

static enum vmsim_result null_state_get(void *vcpu, uint32_t groups, struct vmsim_cpu_state *out)
{
	struct null_vcpu *nvcpu = vcpu;
	if (!nvcpu || !out)
		return VMSIM_INVALID_ARGUMENT;
	return copy_groups(groups, out, &nvcpu->state);
}

static enum vmsim_result null_state_set(void *vcpu, uint32_t groups, const struct vmsim_cpu_state *in)
{
	struct null_vcpu *nvcpu = vcpu;
	if (!nvcpu || !in)
		return VMSIM_INVALID_ARGUMENT;
	return copy_groups(groups, &nvcpu->state, in);
}

static const struct vmsim_backend_ops null_ops = {
	.abi_version = VMSIM_BACKEND_ABI_VERSION,
	.struct_size = sizeof(struct vmsim_backend_ops),
	.name = "null",
	.description = "maps memory and stores vCPU state but never runs guest code",
	.caps = 0,
	.cap_gap = null_cap_gap,
	.vm_create = null_vm_create,
	.vm_destroy = null_vm_destroy,
	.mem_map = null_mem_map,
	.mem_unmap = null_mem_unmap,
	.vcpu_create = null_vcpu_create,
	.vcpu_destroy = null_vcpu_destroy,
	.vcpu_run = null_vcpu_run,
	.vcpu_stop = null_vcpu_stop,
	.state_get = null_state_get,
	.state_set = null_state_set,
	.native = NULL, /* no native handle: core answers UNSUPPORTED */
	/* measured with vmsim serve (docs/quota.md): ~8 KiB per vCPU beside core's thread */
	.host_cost = { .vcpu_ram = 8u << 10 },
};

const struct vmsim_backend_ops *vmsim_backend_null(void)
{
	return &null_ops;
}
