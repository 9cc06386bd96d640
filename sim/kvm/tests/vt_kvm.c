/* vt_kvm.c - KVM backend test helpers: binding vt_uc's mini VMM to a backend, paging, capability filters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vt_kvm.h"

void vt_kvm_require(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		print_message("SKIPPED: no usable /dev/kvm here; the KVM lane (scripts/kvm-lane) runs this for real\n");
		skip();
	}
	close(fd);
}

void vt_vm_init_on(struct vt_vm *t, const struct vmsim_backend_ops *ops, uint64_t skip_lo, uint64_t skip_hi)
{
	memset(t, 0, sizeof *t);
	t->ops = ops;
	t->ram = mmap(NULL, VT_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(t->ram != MAP_FAILED);
	t->state = calloc(1, sizeof *t->state);
	assert_non_null(t->state);
	t->in_value = 0x5a5a5a5a;
	assert_int_equal(ops->vm_create(&(struct vmsim_backend_host){ 0 }, &t->vm), VMSIM_OK);
	unsigned rwx = VMSIM_PROT_READ | VMSIM_PROT_WRITE | VMSIM_PROT_EXEC;
	if (skip_hi > skip_lo) {
		assert_int_equal(ops->mem_map(t->vm, 0, t->ram, skip_lo, rwx), VMSIM_OK);
		assert_int_equal(ops->mem_map(t->vm, skip_hi, t->ram + skip_hi, VT_RAM - skip_hi, rwx), VMSIM_OK);
	} else {
		assert_int_equal(ops->mem_map(t->vm, 0, t->ram, VT_RAM, rwx), VMSIM_OK);
	}
	assert_int_equal(ops->vcpu_create(t->vm, 0, &t->vcpu), VMSIM_OK);
}

void vt_kvm_long_paging(struct vt_vm *t, struct vmsim_cpu_state *s)
{
	uint64_t *pml4 = (uint64_t *)(t->ram + VT_KVM_PML4);
	uint64_t *pdpt = pml4 + 512, *pd_low = pml4 + 1024, *pd_high = pml4 + 1536;

	memset(pml4, 0, 4 * 4096);
	pml4[0] = (VT_KVM_PML4 + 0x1000) | 3;
	pdpt[0] = (VT_KVM_PML4 + 0x2000) | 3;
	pdpt[3] = (VT_KVM_PML4 + 0x3000) | 3;
	for (uint64_t i = 0; i < 512; i++) {
		pd_low[i] = (i << 21) | 0x83;
		pd_high[i] = (0xc0000000ull + (i << 21)) | 0x83;
	}
	s->cr3 = VT_KVM_PML4;
}

void vt_kvm_nop_vmcall(struct vt_vm *t, const struct vt_guest *g)
{
	uint8_t *at = t->ram + VT_LOAD + vt_guest_sym(g, "x_vmcall");
	static const uint8_t vmcall[3] = { 0x0f, 0x01, 0xc1 };

	assert_memory_equal(at, vmcall, 3);
	memset(at, 0x90, 3);
}

uint64_t vt_kvm_exit_cap(enum vmsim_exit_kind kind)
{
	static const struct {
		enum vmsim_exit_kind kind;
		uint64_t cap;
	} need[] = {
		{ VMSIM_EXIT_CPUID, VMSIM_CAP_EXIT_CPUID },   { VMSIM_EXIT_VMCALL, VMSIM_CAP_EXIT_VMCALL },
		{ VMSIM_EXIT_RDTSC, VMSIM_CAP_EXIT_RDTSC },   { VMSIM_EXIT_RDTSCP, VMSIM_CAP_EXIT_RDTSCP },
		{ VMSIM_EXIT_MSR, VMSIM_CAP_EXIT_MSR },       { VMSIM_EXIT_HLT, VMSIM_CAP_EXIT_HLT },
		{ VMSIM_EXIT_SHUTDOWN, VMSIM_CAP_EXIT_SHUTDOWN }, { VMSIM_EXIT_NPF, VMSIM_CAP_EXIT_NPF },
		{ VMSIM_EXIT_IO, VMSIM_CAP_EXIT_IO },         { VMSIM_EXIT_NMI_WINDOW, VMSIM_CAP_NMI_WINDOW },
		{ VMSIM_EXIT_INTR_WINDOW, VMSIM_CAP_INTR_WINDOW },
	};
	for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
		if (need[i].kind == kind)
			return need[i].cap;
	return 0;
}

bool vt_kvm_kind_missing(const struct vmsim_backend_ops *ops, enum vmsim_exit_kind kind)
{
	uint64_t cap = vt_kvm_exit_cap(kind);
	return cap && !(ops->caps & cap);
}

struct watchdog {
	struct vt_vm *t;
	unsigned seconds;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done, fired;
};

static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += w->seconds;
	pthread_mutex_lock(&w->lock);
	while (!w->done && pthread_cond_timedwait(&w->cond, &w->lock, &until) == 0)
		;
	if (!w->done) {
		w->fired = true;
		w->t->ops->vcpu_stop(w->t->vcpu);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

enum vmsim_result vt_kvm_run_bounded(struct vt_vm *t, unsigned seconds)
{
	struct watchdog w = { .t = t, .seconds = seconds };
	pthread_t thread;

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	assert_int_equal(pthread_create(&thread, NULL, watchdog_main, &w), 0);
	enum vmsim_result r = vt_run(t);
	pthread_mutex_lock(&w.lock);
	w.done = true;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
	pthread_join(thread, NULL);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	if (w.fired) {
		struct vmsim_cpu_state s;
		assert_int_equal(t->ops->state_get(t->vcpu, VMSIM_GROUP_IP | VMSIM_GROUP_GPR | VMSIM_GROUP_SEGMENTS, &s),
		                 VMSIM_OK);
		fail_msg("the guest ran %u s without the expected exits: rip %#llx cs.base %#llx rax %#llx", seconds,
		         (unsigned long long)s.rip, (unsigned long long)s.cs.base, (unsigned long long)s.rax);
	}
	return r;
}
