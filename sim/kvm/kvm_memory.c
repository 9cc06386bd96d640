/* kvm_memory.c - core's mappings as KVM memory slots, and reading guest memory through them. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_internal.h"

static int set_slot(struct kvmb_vm *vm, unsigned index, uint64_t gpa, uint64_t size, void *hva, unsigned prot)
{
	struct kvm_userspace_memory_region region = {
		.slot = index,
		.flags = (prot & VMSIM_PROT_WRITE) ? 0 : KVM_MEM_READONLY,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
	};
	return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
}

enum vmsim_result kvmb_mem_map(void *p, uint64_t gpa, void *hva, uint64_t size, unsigned prot)
{
	struct kvmb_vm *vm = p;
	uint32_t id;

	if (!vm || !hva || !size || ((gpa | size | (uint64_t)(uintptr_t)hva) & 0xfff) || gpa + size < gpa ||
	    (prot & ~7u))
		return VMSIM_INVALID_ARGUMENT;
	pthread_mutex_lock(&vm->lock);
	enum vmsim_result r = kvmb_slots_add(&vm->slots, gpa, size, hva, prot, &id);
	if (r == VMSIM_OK && set_slot(vm, id, gpa, size, hva, prot) < 0) {
		int err = errno;
		kvmb_log(vm, VMSIM_LOG_ERROR, "kvm: map gpa %#llx size %#llx: %s", (unsigned long long)gpa,
		         (unsigned long long)size, strerror(err));
		kvmb_slots_remove(&vm->slots, kvmb_slots_exact(&vm->slots, gpa, size));
		r = err == ENOMEM ? VMSIM_OUT_OF_RAM : VMSIM_BACKEND_ERROR;
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

/* KVM removes a slot with size 0 and flushes its NPT entries before the ioctl returns: no vCPU sees it after. */
enum vmsim_result kvmb_mem_unmap(void *p, uint64_t gpa, uint64_t size)
{
	struct kvmb_vm *vm = p;
	enum vmsim_result r = VMSIM_INVALID_ARGUMENT;

	if (!vm)
		return VMSIM_INVALID_ARGUMENT;
	pthread_mutex_lock(&vm->lock);
	const struct kvmb_slot *s = kvmb_slots_exact(&vm->slots, gpa, size);
	if (s && set_slot(vm, s->id, gpa, 0, s->hva, s->prot) < 0) {
		kvmb_log(vm, VMSIM_LOG_ERROR, "kvm: unmap gpa %#llx: %s", (unsigned long long)gpa, strerror(errno));
		r = VMSIM_BACKEND_ERROR;
	} else if (s) {
		kvmb_slots_remove(&vm->slots, s);
		r = VMSIM_OK;
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

unsigned kvmb_mem_prot(struct kvmb_vm *vm, uint64_t gpa)
{
	pthread_mutex_lock(&vm->lock);
	const struct kvmb_slot *s = kvmb_slots_find(&vm->slots, gpa);
	unsigned prot = s ? s->prot : 0;
	pthread_mutex_unlock(&vm->lock);
	return prot;
}

/* Guest-physical reads for the page walk: paging structures live in slots. */
static bool read_phys(void *ctx, uint64_t gpa, void *dst, size_t len)
{
	struct kvmb_vm *vm = ctx;
	bool ok = false;

	pthread_mutex_lock(&vm->lock);
	const struct kvmb_slot *s = kvmb_slots_find(&vm->slots, gpa);
	if (s && gpa - s->gpa + len <= s->size) {
		memcpy(dst, (const uint8_t *)s->hva + (gpa - s->gpa), len);
		ok = true;
	}
	pthread_mutex_unlock(&vm->lock);
	return ok;
}

/* The guest's own page walk (vmsim/x86.h) on the exit's CR0/CR3/CR4/EFER: no KVM_TRANSLATE ioctl per page. */
bool kvmb_translate(struct kvmb_vcpu *v, uint64_t gla, uint64_t *gpa)
{
	struct kvm_sregs sr;
	uint32_t error_code;

	if (!kvmb_get_sregs(v, &sr))
		return false;
	return vmsim_x86_walk(sr.cr0, sr.cr3, sr.cr4, sr.efer, gla, 0, read_phys, v->vm, gpa, &error_code) ==
	       VMSIM_X86_WALK_OK;
}

/* Does the guest's own walk of gla (the exit's CR0/CR3/CR4/EFER) stop at a paging-structure entry at gpa? */
bool kvmb_walk_stops_at(struct kvmb_vcpu *v, const struct kvm_sregs *sr, uint64_t gla, uint64_t gpa)
{
	struct vmsim_x86_walk_info info;
	uint32_t error_code;

	return vmsim_x86_walk_ad(sr->cr0, sr->cr3, sr->cr4, sr->efer, gla, 0, read_phys, NULL, v->vm, &info,
	                         &error_code) == VMSIM_X86_WALK_UNREADABLE &&
	       info.fault_gpa == gpa;
}

/* Byte by byte across pages: a guest instruction may straddle two differently backed pages. */
bool kvmb_read_linear(struct kvmb_vcpu *v, uint64_t gla, void *dst, size_t len)
{
	struct kvmb_vm *vm = v->vm;
	uint8_t *out = dst;

	while (len) {
		uint64_t gpa;
		size_t chunk = 4096 - (gla & 0xfff);
		if (chunk > len)
			chunk = len;
		if (!kvmb_translate(v, gla, &gpa))
			return false;
		bool found = false;
		pthread_mutex_lock(&vm->lock);
		const struct kvmb_slot *s = kvmb_slots_find(&vm->slots, gpa);
		if (s && gpa - s->gpa + chunk <= s->size) {
			memcpy(out, (const uint8_t *)s->hva + (gpa - s->gpa), chunk);
			found = true;
		}
		pthread_mutex_unlock(&vm->lock);
		if (!found)
			return false;
		out += chunk;
		gla += chunk;
		len -= chunk;
	}
	return true;
}
