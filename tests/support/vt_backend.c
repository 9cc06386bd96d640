/* tests/support/vt_backend.c - the recording test-double backend; static state is fine in a test double. */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <cmocka.h>

#include "vt_backend.h"

static pthread_mutex_t vt_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vt_call *vt_log;
static size_t vt_log_len, vt_log_cap;
static bool vt_armed[VT_OP_COUNT];
static enum vmsim_result vt_armed_result[VT_OP_COUNT];

struct vt_vm {
	unsigned serial;
};

struct vt_vcpu {
	unsigned id;
};

/* Log the call; returns true and the armed result if a failure was armed for op. */
static bool vt_record(struct vt_call call, enum vmsim_result *armed)
{
	pthread_mutex_lock(&vt_lock);
	if (vt_log_len == vt_log_cap) {
		size_t cap = vt_log_cap ? vt_log_cap * 2 : 256;
		struct vt_call *grown = realloc(vt_log, cap * sizeof(*grown));
		assert_non_null(grown);
		vt_log = grown;
		vt_log_cap = cap;
	}
	vt_log[vt_log_len++] = call;
	bool fire = vt_armed[call.op];
	if (fire) {
		*armed = vt_armed_result[call.op];
		vt_armed[call.op] = false;
	}
	pthread_mutex_unlock(&vt_lock);
	return fire;
}

static enum vmsim_result vt_vm_create(const struct vmsim_backend_host *host, void **vm)
{
	(void)host;
	enum vmsim_result armed;
	*vm = NULL;
	if (vt_record((struct vt_call){.op = VT_VM_CREATE}, &armed))
		return armed;
	struct vt_vm *created = calloc(1, sizeof(*created));
	if (!created)
		return VMSIM_OUT_OF_RAM;
	*vm = created;
	return VMSIM_OK;
}

static void vt_vm_destroy(void *vm)
{
	enum vmsim_result ignored;
	(void)vt_record((struct vt_call){.op = VT_VM_DESTROY}, &ignored);
	free(vm);
}

static enum vmsim_result vt_mem_map(void *vm, uint64_t gpa, void *hva, uint64_t size, unsigned prot)
{
	(void)vm;
	enum vmsim_result armed;
	if (vt_record((struct vt_call){.op = VT_MAP, .gpa = gpa, .size = size, .prot = prot, .hva = hva}, &armed))
		return armed;
	return VMSIM_OK;
}

static enum vmsim_result vt_mem_unmap(void *vm, uint64_t gpa, uint64_t size)
{
	(void)vm;
	enum vmsim_result armed;
	if (vt_record((struct vt_call){.op = VT_UNMAP, .gpa = gpa, .size = size}, &armed))
		return armed;
	return VMSIM_OK;
}

static enum vmsim_result vt_vcpu_create(void *vm, unsigned id, void **vcpu)
{
	(void)vm;
	enum vmsim_result armed;
	*vcpu = NULL;
	if (vt_record((struct vt_call){.op = VT_VCPU_CREATE, .id = id}, &armed))
		return armed;
	struct vt_vcpu *created = calloc(1, sizeof(*created));
	if (!created)
		return VMSIM_OUT_OF_RAM;
	created->id = id;
	*vcpu = created;
	return VMSIM_OK;
}

static void vt_vcpu_destroy(void *vcpu)
{
	enum vmsim_result ignored;
	struct vt_vcpu *doomed = vcpu;
	(void)vt_record((struct vt_call){.op = VT_VCPU_DESTROY, .id = doomed ? doomed->id : 0}, &ignored);
	free(vcpu);
}

static const char *vt_cap_gap(uint64_t cap)
{
	(void)cap;
	return "the vt test double records calls and never runs guest code";
}

static const struct vmsim_backend_ops vt_ops = {
	.abi_version = VMSIM_BACKEND_ABI_VERSION,
	.struct_size = sizeof(struct vmsim_backend_ops),
	.name = "vt",
	.description = "recording test double",
	.caps = 0,
	.cap_gap = vt_cap_gap,
	.vm_create = vt_vm_create,
	.vm_destroy = vt_vm_destroy,
	.mem_map = vt_mem_map,
	.mem_unmap = vt_mem_unmap,
	.vcpu_create = vt_vcpu_create,
	.vcpu_destroy = vt_vcpu_destroy,
};

const struct vmsim_backend_ops *vt_backend_ops(void)
{
	return &vt_ops;
}

void vt_backend_reset(void)
{
	pthread_mutex_lock(&vt_lock);
	vt_log_len = 0;
	for (unsigned op = 0; op < VT_OP_COUNT; op++)
		vt_armed[op] = false;
	pthread_mutex_unlock(&vt_lock);
}

size_t vt_backend_calls(const struct vt_call **calls)
{
	pthread_mutex_lock(&vt_lock);
	size_t len = vt_log_len;
	if (calls)
		*calls = vt_log;
	pthread_mutex_unlock(&vt_lock);
	return len;
}

size_t vt_backend_count(enum vt_op op)
{
	size_t count = 0;
	pthread_mutex_lock(&vt_lock);
	for (size_t i = 0; i < vt_log_len; i++)
		count += vt_log[i].op == op;
	pthread_mutex_unlock(&vt_lock);
	return count;
}

void vt_backend_fail_next(enum vt_op op, enum vmsim_result result)
{
	assert_true((unsigned)op < VT_OP_COUNT);
	pthread_mutex_lock(&vt_lock);
	vt_armed[op] = true;
	vt_armed_result[op] = result;
	pthread_mutex_unlock(&vt_lock);
}

struct vmsim_env *vt_env_new(void)
{
	struct vmsim_env *env = NULL;
	assert_int_equal(vmsim_env_create(NULL, &env), VMSIM_OK);
	assert_non_null(env);
	assert_int_equal(vmsim_env_register_backend(env, vt_backend_ops()), VMSIM_OK);
	return env;
}

struct vmsim_session *vt_session_new(struct vmsim_env *env, enum vmsim_model model, uint64_t ram, uint64_t caps)
{
	struct vmsim_session_args args = {
		.ram_quota = ram,
		.cap_quota = caps,
		.label = "vt",
		.backend = "vt",
		.model = model,
	};
	struct vmsim_session *session = NULL;
	assert_int_equal(vmsim_session_open(env, &args, &session), VMSIM_OK);
	assert_non_null(session);
	return session;
}

static void *vt_count_alloc(void *ctx, size_t size)
{
	struct vt_counting_allocator *counter = ctx;
	void *ptr = malloc(size);
	if (ptr) {
		counter->allocs++;
		counter->live_bytes += size;
	}
	return ptr;
}

static void vt_count_free(void *ctx, void *ptr, size_t size)
{
	struct vt_counting_allocator *counter = ctx;
	assert_true(counter->live_bytes >= size);
	counter->frees++;
	counter->live_bytes -= size;
	free(ptr);
}

void vt_counting_allocator_init(struct vt_counting_allocator *counter)
{
	*counter = (struct vt_counting_allocator){.hooks = {vt_count_alloc, vt_count_free, counter}};
}
