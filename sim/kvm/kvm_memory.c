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
	enum vmsim_result r = VMSIM_OUT_OF_RAM;

	if (!vm || !hva || !size || ((gpa | size | (uint64_t)(uintptr_t)hva) & 0xfff) || gpa + size < gpa ||
	    (prot & ~7u))
		return VMSIM_INVALID_ARGUMENT;
	pthread_mutex_lock(&vm->lock);
	unsigned free_index = vm->nslots;
	for (unsigned i = 0; i < vm->nslots; i++) {
		const struct kvmb_slot *s = &vm->slots[i];
		if (!s->used) {
			if (free_index == vm->nslots)
				free_index = i;
			continue;
		}
		if (gpa < s->gpa + s->size && s->gpa < gpa + size) {
			r = VMSIM_REGION_CONFLICT;
			goto out;
		}
	}
	if (free_index == vm->nslots)
		goto out; /* every slot KVM offers is in use */
	if (set_slot(vm, free_index, gpa, size, hva, prot) < 0) {
		kvmb_log(vm, VMSIM_LOG_ERROR, "kvm: map gpa %#llx size %#llx: %s", (unsigned long long)gpa,
		         (unsigned long long)size, strerror(errno));
		r = errno == ENOMEM ? VMSIM_OUT_OF_RAM : VMSIM_BACKEND_ERROR;
		goto out;
	}
	vm->slots[free_index] = (struct kvmb_slot){ true, gpa, size, hva, prot };
	r = VMSIM_OK;
out:
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
	for (unsigned i = 0; i < vm->nslots; i++) {
		struct kvmb_slot *s = &vm->slots[i];
		if (!s->used || s->gpa != gpa || s->size != size)
			continue;
		if (set_slot(vm, i, gpa, 0, s->hva, s->prot) < 0) {
			kvmb_log(vm, VMSIM_LOG_ERROR, "kvm: unmap gpa %#llx: %s", (unsigned long long)gpa, strerror(errno));
			r = VMSIM_BACKEND_ERROR;
		} else {
			s->used = false;
			r = VMSIM_OK;
		}
		break;
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

unsigned kvmb_mem_prot(struct kvmb_vm *vm, uint64_t gpa)
{
	unsigned prot = 0;

	pthread_mutex_lock(&vm->lock);
	for (unsigned i = 0; i < vm->nslots; i++) {
		const struct kvmb_slot *s = &vm->slots[i];
		if (s->used && gpa >= s->gpa && gpa - s->gpa < s->size)
			prot = s->prot;
	}
	pthread_mutex_unlock(&vm->lock);
	return prot;
}

bool kvmb_translate(struct kvmb_vcpu *v, uint64_t gla, uint64_t *gpa)
{
	struct kvm_translation t = { .linear_address = gla };

	if (ioctl(v->fd, KVM_TRANSLATE, &t) < 0 || !t.valid)
		return false;
	*gpa = t.physical_address;
	return true;
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
		for (unsigned i = 0; i < vm->nslots && !found; i++) {
			const struct kvmb_slot *s = &vm->slots[i];
			if (s->used && gpa >= s->gpa && gpa - s->gpa + chunk <= s->size) {
				memcpy(out, (const uint8_t *)s->hva + (gpa - s->gpa), chunk);
				found = true;
			}
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
