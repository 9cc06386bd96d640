/* vt_ops_vm.c - the stand-in VMM over backend ops: memory, states, descriptor tables, exit log (vt_ops_vm.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vt_ops_vm.h"

/* The backend's log: counts the idle messages (vt_wait_idle), drops the rest. */
static void count_idles(void *ctx, enum vmsim_log_level level, const char *message)
{
	struct vt_vm *t = ctx;
	if (level == VMSIM_LOG_DEBUG && strstr(message, " idle "))
		atomic_fetch_add(&t->idles, 1);
}

struct handshake {
	struct vt_vm *t;
	const volatile uint32_t *word; /* vt_wait_store; NULL: vt_wait_idle */
	int seen;
	const atomic_bool *done;
};

static bool handshake_happened(const struct handshake *h)
{
	return h->word ? *h->word != 0 : atomic_load(&h->t->idles) > h->seen;
}

static bool handshake_or_done(void *ctx)
{
	const struct handshake *h = ctx;
	return handshake_happened(h) || (h->done && atomic_load(h->done));
}

bool vt_wait_store(struct vt_vm *t, uint64_t gpa, const atomic_bool *done)
{
	assert_true(gpa % 4 == 0 && gpa + 4 <= VT_RAM);
	struct handshake h = { t, (const volatile uint32_t *)(t->ram + gpa), 0, done };
	vt_wait_until(handshake_or_done, &h, "the guest's store");
	return handshake_happened(&h);
}

bool vt_wait_idle(struct vt_vm *t, int seen, const atomic_bool *done)
{
	struct handshake h = { t, NULL, seen, done };
	vt_wait_until(handshake_or_done, &h, "the vCPU to idle");
	return handshake_happened(&h);
}

void vt_vm_init_on(struct vt_vm *t, const struct vmsim_backend_ops *ops, uint64_t skip_lo, uint64_t skip_hi)
{
	vt_vm_init_ram(t, ops, skip_lo, skip_hi, MAP_SHARED); /* as vmsim's dataspaces */
}

void vt_vm_init_ram(struct vt_vm *t, const struct vmsim_backend_ops *ops, uint64_t skip_lo, uint64_t skip_hi,
                    int sharing)
{
	memset(t, 0, sizeof *t);
	t->ops = ops;
	t->ram = mmap(NULL, VT_RAM, PROT_READ | PROT_WRITE, sharing | MAP_ANONYMOUS, -1, 0);
	assert_true(t->ram != MAP_FAILED);
	t->state = calloc(1, sizeof *t->state);
	assert_non_null(t->state);
	t->in_value = 0x5a5a5a5a;
	assert_int_equal(t->ops->vm_create(&(struct vmsim_backend_host){ count_idles, t, "vt" }, &t->vm), VMSIM_OK);
	unsigned rwx = VMSIM_PROT_READ | VMSIM_PROT_WRITE | VMSIM_PROT_EXEC;
	/* identity page tables for long mode (vt_state_long): PML4 -> PDPT of four 1 GiB pages */
	uint64_t pml4e = (VT_PDPT | 3), pdpte[4];
	for (int i = 0; i < 4; i++)
		pdpte[i] = ((uint64_t)i << 30) | 0x83;
	memcpy(t->ram + VT_PML4, &pml4e, 8);
	memcpy(t->ram + VT_PDPT, pdpte, sizeof pdpte);
	if (skip_hi > skip_lo) {
		assert_int_equal(t->ops->mem_map(t->vm, 0, t->ram, skip_lo, rwx), VMSIM_OK);
		assert_int_equal(t->ops->mem_map(t->vm, skip_hi, t->ram + skip_hi, VT_RAM - skip_hi, rwx), VMSIM_OK);
	} else {
		assert_int_equal(t->ops->mem_map(t->vm, 0, t->ram, VT_RAM, rwx), VMSIM_OK);
	}
	assert_int_equal(t->ops->vcpu_create(t->vm, 0, &t->vcpu), VMSIM_OK);
}

void vt_vm_fini(struct vt_vm *t)
{
	if (t->vcpu)
		t->ops->vcpu_destroy(t->vcpu);
	t->ops->vm_destroy(t->vm);
	munmap(t->ram, VT_RAM);
	free(t->state);
}

void vt_load(struct vt_vm *t, const struct vt_guest *g)
{
	assert_true(g->size <= VT_RAM - VT_LOAD);
	memcpy(t->ram + VT_LOAD, g->bytes, g->size);
}

static const uint32_t all_intercepts =
	VMSIM_INTERCEPT_HLT | VMSIM_INTERCEPT_RDTSC | VMSIM_INTERCEPT_RDTSCP | VMSIM_INTERCEPT_CPUID |
	VMSIM_INTERCEPT_IO | VMSIM_INTERCEPT_MSR | VMSIM_INTERCEPT_VMCALL | VMSIM_INTERCEPT_SHUTDOWN;

static void common(struct vmsim_cpu_state *s)
{
	memset(s, 0, sizeof *s);
	s->rflags = 2;
	s->ldtr = (struct vmsim_segment){ .ar = 0x1082 };
	s->tr = (struct vmsim_segment){ .ar = 0x8b, .limit = 0x67 };
	s->intercepts = all_intercepts;
	s->fpu_size = 512;
	s->fpu[0] = 0x7f, s->fpu[1] = 0x03, s->fpu[24] = 0x80, s->fpu[25] = 0x1f;
}

void vt_state_real(struct vmsim_cpu_state *s, uint64_t ip)
{
	common(s);
	struct vmsim_segment seg = { .sel = 0x1000, .ar = 0x93, .limit = 0xffff, .base = 0x10000 };
	s->cs = seg;
	s->cs.ar = 0x9b;
	s->ds = s->es = s->fs = s->gs = seg;
	s->ss = (struct vmsim_segment){ .sel = 0, .ar = 0x93, .limit = 0xffff, .base = 0 };
	s->rsp = VT_STACK;
	s->rip = ip;
	s->idtr = (struct vmsim_dtable){ .limit = 0x3ff, .base = 0 };
	s->cr0 = 0x10;
}

void vt_state_prot(struct vmsim_cpu_state *s, uint64_t rip)
{
	common(s);
	struct vmsim_segment data = { .sel = 0x10, .ar = 0xc93, .limit = 0xffffffff, .base = 0 };
	s->cs = (struct vmsim_segment){ .sel = 0x08, .ar = 0xc9b, .limit = 0xffffffff, .base = 0 };
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->rsp = VT_STACK;
	s->rip = rip;
	s->gdtr = (struct vmsim_dtable){ .limit = 23, .base = VT_GDT };
	s->idtr = (struct vmsim_dtable){ .limit = 256 * 8 - 1, .base = VT_IDT };
	s->cr0 = 0x11;
}

void vt_state_long(struct vmsim_cpu_state *s, uint64_t rip)
{
	vt_state_prot(s, rip);
	s->cs.ar = 0xa9b;
	s->idtr.limit = 256 * 16 - 1;
	s->cr0 = 0x80000011;
	s->cr3 = VT_PML4;
	s->cr4 = 0x20;
	s->efer = 0x500;
}

void vt_set(struct vt_vm *t, const struct vmsim_cpu_state *s)
{
	assert_int_equal(t->ops->state_set(t->vcpu, VMSIM_GROUP_ALL, s), VMSIM_OK);
}

void vt_tables(struct vt_vm *t, int long_mode, const uint8_t *vec, const uint64_t *target, size_t n)
{
	uint64_t gdt[3] = { 0, long_mode ? 0x00af9b000000ffffull : 0x00cf9b000000ffffull, 0x00cf93000000ffffull };
	memcpy(t->ram + VT_GDT, gdt, sizeof gdt);
	memset(t->ram + VT_IDT, 0, 256 * 16);
	for (size_t i = 0; i < n; i++) {
		uint64_t off = target[i];
		uint64_t lo = (off & 0xffff) | (0x08ull << 16) | (0x8eull << 40) | ((off >> 16 & 0xffff) << 48);
		if (long_mode) {
			uint64_t hi = off >> 32;
			memcpy(t->ram + VT_IDT + 16 * vec[i], &lo, 8);
			memcpy(t->ram + VT_IDT + 16 * vec[i] + 8, &hi, 8);
		} else {
			memcpy(t->ram + VT_IDT + 8 * vec[i], &lo, 8);
		}
	}
}

void vt_ivt(struct vt_vm *t, uint8_t vector, uint16_t ip)
{
	uint16_t entry[2] = { ip, 0x1000 };
	memcpy(t->ram + 4 * vector, entry, 4);
}

static void advance_string(struct vmsim_cpu_state *s, const struct vmsim_exit *e)
{
	uint64_t mask = e->u.io.addr_size == 2 ? 0xffff : e->u.io.addr_size == 4 ? 0xffffffffull : ~0ull;
	uint64_t count = e->u.io.rep ? (s->rcx & mask) : 1;
	uint64_t *ptr = e->u.io.in ? &s->rdi : &s->rsi;
	*ptr = (*ptr & ~mask) | ((*ptr + count * e->u.io.size) & mask);
	if (e->u.io.rep)
		s->rcx &= ~mask;
}

enum vmsim_exit_action vt_on_exit(void *ctx, const struct vmsim_exit *exit)
{
	struct vt_vm *t = ctx;
	struct vmsim_cpu_state *s = t->state;
	size_t n = atomic_load(&t->nexits);
	const uint32_t groups = VMSIM_GROUP_GPR | VMSIM_GROUP_IP;

	if (getenv("VT_TRACE"))
		fprintf(stderr, "exit kind %d rip %#llx len %u port %#x\n", exit->kind, (unsigned long long)exit->rip,
		        exit->insn_len, exit->kind == VMSIM_EXIT_IO ? exit->u.io.port : 0);
	if (n < VT_MAX_EXITS) {
		t->exits[n] = *exit;
		atomic_store(&t->nexits, n + 1);
	}
	assert_int_equal(t->ops->state_get(t->vcpu, groups, s), VMSIM_OK);
	assert_int_equal(s->rip, exit->rip);
	if (t->hook) {
		int r = t->hook(t, exit, s);
		t->hook_calls++;
		if (r >= 0)
			return (enum vmsim_exit_action)r;
	}
	switch (exit->kind) {
	case VMSIM_EXIT_IO:
		if (exit->u.io.port == VT_PORT_DONE)
			return VMSIM_EXIT_ACTION_STOP;
		if (exit->u.io.string)
			advance_string(s, exit);
		else if (exit->u.io.in) {
			uint64_t mask = exit->u.io.size == 4 ? 0xffffffffull : exit->u.io.size == 2 ? 0xffff : 0xff;
			s->rax = (s->rax & ~mask) | (t->in_value & mask);
			if (exit->u.io.size == 4)
				s->rax &= 0xffffffffull; /* a 32-bit write zero-extends */
		}
		break;
	case VMSIM_EXIT_CPUID:
		s->rax = 0x11, s->rbx = 0x22, s->rcx = 0x33, s->rdx = 0x44;
		break;
	case VMSIM_EXIT_MSR:
		if (!exit->u.msr.write)
			s->rax = 0x55, s->rdx = 0x66;
		break;
	case VMSIM_EXIT_NPF:
		if (!exit->u.npf.decoded)
			return VMSIM_EXIT_ACTION_STOP;
		break;
	case VMSIM_EXIT_RDTSC:
	case VMSIM_EXIT_RDTSCP:
	case VMSIM_EXIT_VMCALL:
	case VMSIM_EXIT_HLT:
		break;
	default:
		return VMSIM_EXIT_ACTION_STOP;
	}
	s->rip += exit->insn_len;
	assert_int_equal(t->ops->state_set(t->vcpu, groups, s), VMSIM_OK);
	return VMSIM_EXIT_ACTION_RESUME;
}

enum vmsim_result vt_run(struct vt_vm *t)
{
	return t->ops->vcpu_run(t->vcpu, vt_on_exit, t);
}

int vt_find(struct vt_vm *t, uint64_t rip, size_t from)
{
	size_t n = atomic_load(&t->nexits);
	for (size_t i = from; i < n; i++)
		if (t->exits[i].rip == rip)
			return (int)i;
	return -1;
}
