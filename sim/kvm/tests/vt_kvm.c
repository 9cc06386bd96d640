/* vt_kvm.c - KVM backend test helpers: binding the stand-in VMM over ops (vt_ops_vm) to KVM, paging, capability filters. */
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

bool vt_kvm_usable(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

void vt_kvm_require(void)
{
	if (!vt_kvm_usable()) {
		print_message("SKIPPED: no usable /dev/kvm here; the KVM lane (scripts/kvm-lane) runs this for real\n");
		skip();
	}
}

void vt_kvm_need(uint64_t cap)
{
	const struct vmsim_backend_ops *ops = vmsim_backend_kvm();

	vt_kvm_require();
	if (!(ops->caps & cap)) {
		print_message("SKIPPED: needs %s: %s\n", vmsim_backend_cap_name(cap), ops->cap_gap ? ops->cap_gap(cap) : "");
		skip();
	}
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
