/* kvm_backend.c - the /dev/kvm backend's ops table, capabilities, VM and vCPU lifetime (raw ioctls, no wrapper). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vmsim/backends.h>

#include "kvm_internal.h"

/* Caps and their gaps are the host's: kvm_host.c derives them from what kvm_probe.c found. */
static const char *kvm_cap_gap(uint64_t cap)
{
	return kvmb_host_cap_gap(kvmb_host_get(), cap);
}

void kvmb_log(struct kvmb_vm *vm, enum vmsim_log_level level, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	if (!vm->host.log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	vm->host.log(vm->host.ctx, level, buf);
}

static void vm_free(struct kvmb_vm *vm)
{
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	free(vm->cpuid);
	kvmb_slots_fini(&vm->slots);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

static enum vmsim_result kvm_vm_create(const struct vmsim_backend_host *host, void **out)
{
	struct kvmb_vm *vm = calloc(1, sizeof *vm);

	if (!vm)
		return VMSIM_OUT_OF_RAM;
	if (host)
		vm->host = *host;
	vm->vm_fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		kvmb_log(vm, VMSIM_LOG_ERROR, "kvm: cannot open /dev/kvm: %s", strerror(errno));
		vm_free(vm);
		return VMSIM_UNSUPPORTED;
	}
	if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION ||
	    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0 ||
	    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0) {
		kvmb_log(vm, VMSIM_LOG_ERROR, "kvm: /dev/kvm lacks API 12, user memory or immediate_exit");
		vm_free(vm);
		return VMSIM_UNSUPPORTED;
	}
	vm->profile = kvmb_host_get();
	kvmb_slots_init(&vm->slots, vm->profile->nr_memslots);
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	vm->cpuid = kvmb_supported_cpuid(vm->kvm_fd);
	if (!vm->cpuid || vm->run_size < (int)sizeof(struct kvm_run)) {
		vm_free(vm);
		return VMSIM_OUT_OF_RAM;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		kvmb_log(vm, VMSIM_LOG_ERROR, "kvm: KVM_CREATE_VM: %s", strerror(errno));
		vm_free(vm);
		return VMSIM_BACKEND_ERROR;
	}
	kvmb_log(vm, VMSIM_LOG_DEBUG, "kvm: host %s", vm->profile->summary);
	if (vm->profile->msr_exit_reasons) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_X86_USER_SPACE_MSR,
			                      .args = { vm->profile->msr_exit_reasons } };
		if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) == 0)
			vm->msr_reasons = vm->profile->msr_exit_reasons;
		else
			kvmb_log(vm, VMSIM_LOG_WARN, "kvm: KVM_ENABLE_CAP X86_USER_SPACE_MSR: %s", strerror(errno));
	}
	/* VMX runs real mode through a TSS KVM keeps in guest space; SVM ignores it. Below the reset page. */
	(void)ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul);
	*out = vm;
	return VMSIM_OK;
}

/*
 * KVM_X86_SET_MSR_FILTER is per VM, intercepts are per vCPU: while any vCPU
 * intercepts MSRs, every guest RDMSR/WRMSR exits (one range of one denied MSR
 * plus default deny: KVM refuses a deny-all filter without ranges); exits of a
 * vCPU that does not intercept are answered through KVM_GET/SET_MSRS.
 */
bool kvmb_msr_intercept(struct kvmb_vm *vm, bool on)
{
	uint8_t deny_bitmap[1] = { 0 }; /* 0: denied; KVM copies it during the ioctl */
	bool ok = true;

	pthread_mutex_lock(&vm->lock);
	unsigned before = vm->msr_intercepting;
	vm->msr_intercepting = on ? before + 1 : (before ? before - 1 : 0);
	if ((before == 0) != (vm->msr_intercepting == 0) && (vm->msr_reasons & KVM_MSR_EXIT_REASON_FILTER)) {
		struct kvm_msr_filter f;
		memset(&f, 0, sizeof f);
		if (vm->msr_intercepting) {
			f.flags = KVM_MSR_FILTER_DEFAULT_DENY;
			f.ranges[0] = (struct kvm_msr_filter_range){ .flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
				                                     .nmsrs = 1, .base = 0, .bitmap = deny_bitmap };
		}
		if (ioctl(vm->vm_fd, KVM_X86_SET_MSR_FILTER, &f) < 0) {
			kvmb_log(vm, VMSIM_LOG_ERROR, "kvm: KVM_X86_SET_MSR_FILTER: %s", strerror(errno));
			vm->msr_intercepting = before;
			ok = false;
		}
	}
	pthread_mutex_unlock(&vm->lock);
	return ok;
}

static void kvm_vm_destroy(void *p)
{
	if (p)
		vm_free(p);
}

/* The x86 reset state is KVM's own after KVM_CREATE_VCPU (SDM 9.1.1); only the FPU needs FNINIT values. */
static enum vmsim_result kvm_vcpu_create(void *p, unsigned id, void **out)
{
	struct kvmb_vm *vm = p;
	struct kvmb_vcpu *v = calloc(1, sizeof *v);

	if (!v)
		return VMSIM_OUT_OF_RAM;
	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0) {
		kvmb_log(vm, VMSIM_LOG_ERROR, "kvm: KVM_CREATE_VCPU %u: %s", id, strerror(errno));
		free(v);
		return errno == ENOMEM ? VMSIM_OUT_OF_RAM : VMSIM_BACKEND_ERROR;
	}
	v->run_size = vm->run_size;
	v->run = mmap(NULL, (size_t)v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED || ioctl(v->fd, KVM_SET_CPUID2, vm->cpuid) < 0) {
		kvmb_log(vm, VMSIM_LOG_ERROR, "kvm: vCPU %u setup: %s", id, strerror(errno));
		if (v->run != MAP_FAILED)
			munmap(v->run, (size_t)v->run_size);
		close(v->fd);
		free(v);
		return VMSIM_BACKEND_ERROR;
	}
	/* KVM_CAP_SYNC_REGS: every exit leaves REGS and SREGS in kvm_run; KVM_SYNC_X86_EVENTS stays with ioctls */
	v->sync = vm->profile->sync_regs & (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS);
	if (getenv("KVMB_NO_SYNC_REGS"))
		v->sync = 0; /* for measuring the ioctl path */
	v->run->kvm_valid_regs = v->sync;
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->cond, NULL);
	atomic_init(&v->stop_requested, false);
	*out = v;
	return VMSIM_OK;
}

static void kvm_vcpu_destroy(void *p)
{
	struct kvmb_vcpu *v = p;

	if (!v)
		return;
	if (v->intercepts & VMSIM_INTERCEPT_MSR)
		(void)kvmb_msr_intercept(v->vm, false);
	kvmb_decode_fini(v);
	munmap(v->run, (size_t)v->run_size);
	close(v->fd);
	pthread_cond_destroy(&v->cond);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

static enum vmsim_result kvm_native(void *p, struct vmsim_native_vcpu *out)
{
	struct kvmb_vcpu *v = p;

	memset(out, 0, sizeof *out);
	out->backend = "kvm";
	out->fd = v->fd;
	out->run_area = v->run;
	out->run_area_size = (uint64_t)v->run_size;
	return VMSIM_OK;
}

/*
 * KVM recomputes CPUID.1:EDX.APIC from IA32_APIC_BASE.EN at run time, and a vCPU starts with EN set even without an
 * in-kernel APIC: so a table without APIC also needs EN clear (the guest then sees the bit as the table has it).
 */
static enum vmsim_result apic_as_cpuid_says(struct kvmb_vcpu *v, const struct vmsim_cpuid_entry *entries,
                                            uint32_t count)
{
	enum { APIC_BASE_MSR = 0x1b, APIC_BASE_BSP = 1u << 8, APIC_BASE_EN = 1u << 11, CPUID_1_EDX_APIC = 1u << 9 };
	bool apic = false;
	for (uint32_t i = 0; i < count; i++)
		if (entries[i].leaf == 1)
			apic = entries[i].edx & CPUID_1_EDX_APIC;
	uint64_t base = 0xfee00000u | (v->id == 0 ? APIC_BASE_BSP : 0) | (apic ? APIC_BASE_EN : 0);
	if (kvmb_msr(v, APIC_BASE_MSR, &base, true))
		return VMSIM_OK;
	kvmb_log(v->vm, VMSIM_LOG_WARN, "kvm: IA32_APIC_BASE for a CPUID %s an APIC was refused", apic ? "with" : "without");
	return VMSIM_BACKEND_ERROR;
}

/* The VMM's CPUID table replaces KVM_GET_SUPPORTED_CPUID's (KVM answers CPUID in the kernel, never exits). */
static enum vmsim_result kvm_cpuid_set(void *p, const struct vmsim_cpuid_entry *entries, uint32_t count)
{
	struct kvmb_vcpu *v = p;
	struct kvm_cpuid2 *c = calloc(1, sizeof *c + (size_t)count * sizeof c->entries[0]);

	if (!c)
		return VMSIM_OUT_OF_RAM;
	c->nent = count;
	for (uint32_t i = 0; i < count; i++) {
		const struct vmsim_cpuid_entry *e = &entries[i];
		c->entries[i] = (struct kvm_cpuid_entry2){
			.function = e->leaf, .index = e->subleaf, .eax = e->eax, .ebx = e->ebx, .ecx = e->ecx, .edx = e->edx,
			.flags = (e->flags & VMSIM_CPUID_BY_SUBLEAF) ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0,
		};
	}
	int rc = ioctl(v->fd, KVM_SET_CPUID2, c);
	int err = errno;
	free(c);
	if (rc == 0)
		return apic_as_cpuid_says(v, entries, count);
	kvmb_log(v->vm, VMSIM_LOG_WARN, "kvm: KVM_SET_CPUID2 with %u entries: %s", count, strerror(err));
	return err == EBUSY ? VMSIM_DENIED : err == EINVAL || err == E2BIG ? VMSIM_INVALID_ARGUMENT : VMSIM_BACKEND_ERROR;
}

/* Written once (caps, from the host probe) under pthread_once in vmsim_backend_kvm; see kvm_probe.c. */
static struct vmsim_backend_ops kvm_ops = {
	.abi_version = VMSIM_BACKEND_ABI_VERSION,
	.struct_size = sizeof(struct vmsim_backend_ops),
	.name = "kvm",
	.description = "hardware virtualization through /dev/kvm ioctls",
	.cap_gap = kvm_cap_gap,
	.vm_create = kvm_vm_create,
	.vm_destroy = kvm_vm_destroy,
	.mem_map = kvmb_mem_map,
	.mem_unmap = kvmb_mem_unmap,
	.vcpu_create = kvm_vcpu_create,
	.vcpu_destroy = kvm_vcpu_destroy,
	.vcpu_run = kvmb_vcpu_run,
	.vcpu_stop = kvmb_vcpu_stop,
	.state_get = kvmb_state_get,
	.state_set = kvmb_state_set,
	.native = kvm_native,
	/* /dev/kvm and the VM fd per VM, the vCPU fd and its kvm_run mapping per vCPU (docs/quota.md) */
	.host_cost = { .vm_fds = 2, .vcpu_fds = 1, .vcpu_ram = 64u << 10 },
	.cpuid_set = kvm_cpuid_set,
};

static void fill_caps(void)
{
	kvm_ops.caps = kvmb_host_get()->caps;
	kvm_ops.description = kvmb_host_get()->description; /* names the host the probe found */
}

const struct vmsim_backend_ops *vmsim_backend_kvm(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, fill_caps);
	return &kvm_ops;
}
