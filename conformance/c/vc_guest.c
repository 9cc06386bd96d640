/* vc_guest.c - a guest VM over the public API: RAM, descriptor tables, start states and a recording VMM. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "vc.h"

static const uint32_t every_exit = VMSIM_INTERCEPT_HLT | VMSIM_INTERCEPT_RDTSC | VMSIM_INTERCEPT_RDTSCP |
                                   VMSIM_INTERCEPT_CPUID | VMSIM_INTERCEPT_IO | VMSIM_INTERCEPT_MSR |
                                   VMSIM_INTERCEPT_VMCALL | VMSIM_INTERCEPT_SHUTDOWN |
                                   VMSIM_INTERCEPT_UNRESTRICTED_GUEST;

/*
 * The VMM's controls from the manuals, not the model's encoder. SVM: VMCB intercept words 3 and 4
 * (APM vol. 2 appendix B; VMRUN, word 4 bit 0, always). VMX: primary and secondary processor-based
 * controls (SDM vol. 3C Tables 25-6, 25-7); I/O through unconditional I/O exiting (24), and "use MSR
 * bitmaps" (28) where MSRs are not intercepted (Genode's kernels pass empty bitmaps).
 */
static const struct {
	uint32_t intercept;
	uint8_t svm_word, svm_bit, vmx_word, vmx_bit; /* word 2 = none on that architecture */
} literal_controls[] = {
	{ VMSIM_INTERCEPT_INTR_WINDOW, 0, 4, 0, 2 },  { VMSIM_INTERCEPT_TSC_OFFSET, 2, 0, 0, 3 },
	{ VMSIM_INTERCEPT_HLT, 0, 24, 0, 7 },         { VMSIM_INTERCEPT_RDTSC, 0, 14, 0, 12 },
	{ VMSIM_INTERCEPT_NMI_WINDOW, 2, 0, 0, 22 },  { VMSIM_INTERCEPT_IO, 0, 27, 0, 24 },
	{ VMSIM_INTERCEPT_CPUID, 0, 18, 2, 0 },       { VMSIM_INTERCEPT_MSR, 0, 28, 2, 0 },
	{ VMSIM_INTERCEPT_SHUTDOWN, 0, 31, 2, 0 },    { VMSIM_INTERCEPT_VMCALL, 1, 1, 2, 0 },
	{ VMSIM_INTERCEPT_RDTSCP, 1, 7, 1, 3 },       { VMSIM_INTERCEPT_UNRESTRICTED_GUEST, 2, 0, 1, 7 },
};

void vt_encode_controls(uint32_t intercepts, uint64_t *primary, uint64_t *secondary)
{
	uint64_t w[3] = { 0, vc_svm() ? 1 : 0, 0 };
	for (size_t i = 0; i < sizeof literal_controls / sizeof literal_controls[0]; i++) {
		if (!(intercepts & literal_controls[i].intercept))
			continue;
		unsigned word = vc_svm() ? literal_controls[i].svm_word : literal_controls[i].vmx_word;
		w[word] |= 1ull << (vc_svm() ? literal_controls[i].svm_bit : literal_controls[i].vmx_bit);
	}
	if (!vc_svm() && (intercepts & VMSIM_INTERCEPT_RDTSCP))
		w[0] |= 1ull << 12; /* RDTSCP exits only with RDTSC exiting as well (SDM 26.1.3) */
	if (!vc_svm() && !(intercepts & VMSIM_INTERCEPT_MSR))
		w[0] |= 1ull << 28;
	*primary = w[0];
	*secondary = w[1];
}

/* Identity map of the low 4 GiB with 2 MiB pages: Unicorn ignores guest paging, KVM does not. */
static void write_page_tables(struct vt_vm *vm)
{
	uint64_t *pml4 = (uint64_t *)(vm->ram + VT_PML4), *pdpt = pml4 + 512, *pd = pdpt + 512;
	pml4[0] = (VT_PML4 + 0x1000) | 3;
	for (uint64_t i = 0; i < 4; i++) {
		pdpt[i] = (VT_PML4 + 0x2000 + i * 0x1000) | 3;
		for (uint64_t j = 0; j < 512; j++)
			pd[i * 512 + j] = ((i << 30) + (j << 21)) | 0x83; /* present, writeable, 2 MiB */
	}
}

static void write_gdt(struct vt_vm *vm)
{
	uint64_t gdt[3] = { 0, vm->mode == VT_LONG ? 0x00af9b000000ffffull : 0x00cf9b000000ffffull,
		            0x00cf93000000ffffull };
	memcpy(vm->ram + VT_GDT, gdt, sizeof gdt);
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

void vt_vm_open(struct vt_vm *vm, enum vt_mode mode, const struct vt_guest *g, uint64_t hole_lo, uint64_t hole_hi)
{
	memset(vm, 0, sizeof *vm);
	vm->prof_start_ns = now_ns();
	vm->cpu = calloc(64, sizeof *vm->cpu);
	assert_non_null(vm->cpu);
	vm->mode = mode;
	vm->guest = g;
	vm->intercepts = every_exit;
	vm->env = vt_env(0, 0);
	/* docs/quota.md: the session (8192 bytes, 1 cap) and 64 vCPUs (16384 bytes, 2 caps each), plus page tables */
	vm->session = vt_session(vm->env, 8192 + 64 * 16384 + 256 * 1024, 1 + 64 * 2);
	vm->ds = vt_ds(vm->env, VT_RAM);
	struct vmsim_local_attr la = { 0, 0, true };
	assert_int_equal(vmsim_local_attach(vm->env, vm->ds, &la, &vm->local), VMSIM_OK);
	vm->ram = vm->local.ptr;
	if (g) {
		assert_true(g->size <= VT_RAM - VT_LOAD);
		memcpy(vm->ram + VT_LOAD, g->bytes, g->size);
	}
	write_gdt(vm);
	if (mode == VT_LONG)
		write_page_tables(vm);
	if (hole_hi > hole_lo) {
		assert_int_equal(vt_attach(vm->session, vm->ds, 0, 0, hole_lo, true, true), VMSIM_OK);
		assert_int_equal(vt_attach(vm->session, vm->ds, hole_hi, hole_hi, VT_RAM - hole_hi, true, true),
		                 VMSIM_OK);
	} else {
		assert_int_equal(vt_attach(vm->session, vm->ds, 0, 0, 0, true, true), VMSIM_OK);
	}
	vm->prof_ns[0] = now_ns();
}

/* VMSIM_CONFORM_PROFILE=FILE: append where a guest case's time went (session+memory, vCPU creation, run, close). */
static void profile_line(const struct vt_vm *vm, uint64_t closed)
{
	const char *path = getenv("VMSIM_CONFORM_PROFILE");
	if (!path || !*path || !vm->prof_ns[0])
		return;
	FILE *f = fopen(path, "a");
	if (!f)
		return;
	uint64_t created = vm->prof_ns[1] ? vm->prof_ns[1] : vm->prof_ns[0];
	fprintf(f, "vc-profile %s: open %.2f ms, vcpu create %.2f ms, run %.2f ms, close %.2f ms (%u vCPUs)\n",
	        vc_target()->test ? vc_target()->test->name : "?", (vm->prof_ns[0] - vm->prof_start_ns) / 1e6,
	        (created - vm->prof_ns[0]) / 1e6, (vm->prof_ns[2] - created) / 1e6, (closed - vm->prof_ns[2]) / 1e6,
	        vm->ncpu);
	fclose(f);
}

void vt_vm_close(struct vt_vm *vm)
{
	vm->prof_ns[2] = now_ns();
	vt_vm_trace(vm);
	for (unsigned i = 0; i < vm->ncpu; i++)
		vmsim_vcpu_destroy(vm->cpu[i].vcpu);
	if (vm->ep)
		assert_int_equal(vmsim_entrypoint_destroy(vm->ep), VMSIM_OK);
	vmsim_session_close(vm->session);
	vmsim_local_release(vm->env, &vm->local);
	assert_int_equal(vmsim_ds_free(vm->env, vm->ds), VMSIM_OK);
	uint64_t ram, caps;
	vt_env_used(vm->env, &ram, &caps);
	assert_int_equal(ram, 0);
	assert_int_equal(caps, 0);
	vmsim_env_destroy(vm->env);
	for (unsigned i = 0; i < vm->ncpu; i++) {
		pthread_mutex_destroy(&vm->cpu[i].lock);
		pthread_cond_destroy(&vm->cpu[i].changed);
	}
	free(vm->cpu);
	vm->cpu = NULL;
	profile_line(vm, now_ns());
}

uint64_t vt_addr(struct vt_vm *vm, const char *label)
{
	uint64_t off = vt_guest_sym(vm->guest, label);
	return vm->mode == VT_REAL ? off : VT_LOAD + off;
}

/*
 * Exit codes from the manuals, not the model's table: SVM as Genode's VMM sees them (APM vol. 2
 * appendix C; NPF 0x400 as Genode's 0xfc), VMX basic exit reasons (SDM vol. 3D appendix C).
 */
static const struct {
	enum vmsim_exit_kind kind;
	unsigned svm, vmx;
} literal_codes[] = {
	{ VMSIM_EXIT_IO, 0x7b, 30 },     { VMSIM_EXIT_CPUID, 0x72, 10 },  { VMSIM_EXIT_HLT, 0x78, 12 },
	{ VMSIM_EXIT_RDTSC, 0x6e, 16 },  { VMSIM_EXIT_RDTSCP, 0x87, 51 }, { VMSIM_EXIT_VMCALL, 0x81, 18 },
	{ VMSIM_EXIT_NPF, 0xfc, 48 },    { VMSIM_EXIT_SHUTDOWN, 0x7f, 2 },
};

unsigned vt_code(enum vmsim_exit_kind kind)
{
	for (size_t i = 0; i < sizeof literal_codes / sizeof literal_codes[0]; i++)
		if (literal_codes[i].kind == kind)
			return vc_svm() ? literal_codes[i].svm : literal_codes[i].vmx;
	fail_msg("no literal exit code for kind %d", (int)kind);
	return 0;
}

int vt_io_port(const struct vmsim_vcpu_state *st)
{
	return st->exit_reason == vt_code(VMSIM_EXIT_IO) ? (int)(uint16_t)(st->qual_primary.value >> 16) : -1;
}

/* The MSR exits (SVM 0x7c with EXITINFO1 0 = RDMSR, 1 = WRMSR; VMX 31 RDMSR, 32 WRMSR); -1 for another exit. */
int vt_msr_write(const struct vmsim_vcpu_state *st)
{
	if (vc_svm())
		return st->exit_reason == 0x7c ? (int)(st->qual_primary.value & 1) : -1;
	return st->exit_reason == 31 ? 0 : st->exit_reason == 32 ? 1 : -1;
}

/* What the stand-in VMM needs of an exit, read with the manuals' layouts rather than the model's decoder. */
struct vmm_exit {
	enum vmsim_exit_kind kind;
	bool in, string, rep;
	unsigned size;
	uint16_t port;
};

static bool classify(const struct vmsim_vcpu_state *st, struct vmm_exit *e)
{
	uint64_t q = st->qual_primary.value;
	memset(e, 0, sizeof *e);
	if (st->exit_reason == (vc_svm() ? 0x7cu : 31u) || st->exit_reason == (vc_svm() ? 0x7cu : 32u)) {
		e->kind = VMSIM_EXIT_MSR;
		return true;
	}
	if (vc_svm() && st->exit_reason == 0x400) { /* raw VMEXIT_NPF, as a kernel may pass it */
		e->kind = VMSIM_EXIT_NPF;
		return true;
	}
	for (size_t i = 0; i < sizeof literal_codes / sizeof literal_codes[0]; i++)
		if (st->exit_reason == (vc_svm() ? literal_codes[i].svm : literal_codes[i].vmx))
			e->kind = literal_codes[i].kind;
	if (e->kind != VMSIM_EXIT_IO)
		return e->kind != VMSIM_EXIT_NONE;
	if (vc_svm()) {
		/* APM §15.10.2 EXITINFO1: TYPE bit 0 (1 = IN), STR 2, REP 3, SZ8/16/32 bits 4-6, PORT 31:16 */
		e->in = q & 1;
		e->string = q >> 2 & 1;
		e->rep = q >> 3 & 1;
		e->size = q & 0x10 ? 1 : q & 0x20 ? 2 : q & 0x40 ? 4 : 0;
	} else {
		/* SDM Table 28-5: size - 1 in bits 2:0, direction bit 3 (1 = IN), string 4, REP 5, port 31:16 */
		e->in = q >> 3 & 1;
		e->string = q >> 4 & 1;
		e->rep = q >> 5 & 1;
		e->size = (unsigned)(q & 7) + 1;
	}
	e->port = (uint16_t)(q >> 16);
	return e->size == 1 || e->size == 2 || e->size == 4;
}

unsigned vt_invalid_code(void)
{
	const struct vmsim_profile *p = vc_target()->profile;
	if (!vc_svm())
		return 33; /* SDM vol. 3D appendix C: VM-entry failure due to invalid guest state */
	return p ? p->svm_invalid_exit : 0xfd;
}

/* APM vol. 2 appendix B: intercept word 3 bit 24 is HLT; SDM vol. 3C Table 25-6 bit 7 HLT exiting. */
bool vt_profile_forces_hlt(void)
{
	const struct vmsim_profile *p = vc_target()->profile;
	return p && (vc_svm() ? (p->svm_force_misc1 >> 24 & 1) : (p->vmx_force_primary >> 7 & 1));
}

/* SDM vol. 3C Table 25-7: secondary control bit 7 is unrestricted guest (SVM needs no control for it). */
bool vt_profile_forces_unrestricted(void)
{
	const struct vmsim_profile *p = vc_target()->profile;
	return p && !vc_svm() && (p->vmx_force_secondary >> 7 & 1);
}

void vt_idt(struct vt_vm *vm, uint8_t vector, const char *label)
{
	uint64_t off = vt_addr(vm, label);
	uint64_t lo = (off & 0xffff) | (0x08ull << 16) | (0x8eull << 40) | ((off >> 16 & 0xffff) << 48);
	if (vm->mode == VT_LONG) {
		uint64_t hi = off >> 32;
		memcpy(vm->ram + VT_IDT + 16 * vector, &lo, 8);
		memcpy(vm->ram + VT_IDT + 16 * vector + 8, &hi, 8);
	} else {
		memcpy(vm->ram + VT_IDT + 8 * vector, &lo, 8);
	}
}

void vt_ivt(struct vt_vm *vm, uint8_t vector, const char *label)
{
	uint16_t entry[2] = { (uint16_t)vt_guest_sym(vm->guest, label), 0x1000 };
	memcpy(vm->ram + 4 * vector, entry, 4);
}

void vt_charge_start(struct vt_cpu *c, struct vmsim_vcpu_state *st, uint64_t ip)
{
	struct vt_vm *vm = c->vm;
	uint64_t p = 0, s = 0;
	vt_encode_controls(vm->intercepts, &p, &s);
	vmsim_charge(st, ctrl_primary, p);
	vmsim_charge(st, ctrl_secondary, s);
	vmsim_charge(st, ip, ip);
	vmsim_charge(st, flags, 2);
	vmsim_charge(st, sp, VT_STACK);
	vmsim_charge(st, cr3, 0);
	vmsim_charge(st, cr4, 0);
	vmsim_charge(st, efer, 0);
	vmsim_charge(st, dr7, 0x400);
	vmsim_charge(st, tr, (struct vmsim_segment){ 0, 0x8b, 0x67, 0 });
	vmsim_charge(st, ldtr, (struct vmsim_segment){ 0, 0x1082, 0, 0 });
	if (vm->mode == VT_REAL) {
		struct vmsim_segment seg = { 0x1000, 0x93, 0xffff, 0x10000 };
		vmsim_charge(st, ds, seg);
		vmsim_charge(st, es, seg);
		vmsim_charge(st, fs, seg);
		vmsim_charge(st, gs, seg);
		seg.ar = 0x9b;
		vmsim_charge(st, cs, seg);
		vmsim_charge(st, ss, (struct vmsim_segment){ 0, 0x93, 0xffff, 0 });
		vmsim_charge(st, idtr, (struct vmsim_dtable){ 0x3ff, 0 });
		vmsim_charge(st, gdtr, (struct vmsim_dtable){ 0xffff, 0 });
		vmsim_charge(st, cr0, 0x10);
		return;
	}
	struct vmsim_segment data = { 0x10, 0xc93, 0xffffffff, 0 };
	vmsim_charge(st, ds, data);
	vmsim_charge(st, es, data);
	vmsim_charge(st, fs, data);
	vmsim_charge(st, gs, data);
	vmsim_charge(st, ss, data);
	vmsim_charge(st, gdtr, (struct vmsim_dtable){ 23, VT_GDT });
	if (vm->mode == VT_PROT) {
		vmsim_charge(st, cs, (struct vmsim_segment){ 0x08, 0xc9b, 0xffffffff, 0 });
		vmsim_charge(st, idtr, (struct vmsim_dtable){ 256 * 8 - 1, VT_IDT });
		vmsim_charge(st, cr0, 0x11);
		return;
	}
	vmsim_charge(st, cs, (struct vmsim_segment){ 0x08, 0xa9b, 0xffffffff, 0 });
	vmsim_charge(st, idtr, (struct vmsim_dtable){ 256 * 16 - 1, VT_IDT });
	vmsim_charge(st, cr0, 0x80000011);
	vmsim_charge(st, cr3, VT_PML4);
	vmsim_charge(st, cr4, 0x20);
	vmsim_charge(st, efer, 0x500);
}

static uint64_t size_mask(unsigned size)
{
	return size == 1 ? 0xff : size == 2 ? 0xffff : size == 4 ? 0xffffffffull : ~0ull;
}

/* The stand-in VMM: emulate what the exit asks for, step over the instruction, resume. */
static bool default_vmm(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason == VMSIM_EXIT_CODE_STARTUP) {
		vt_charge_start(c, st, c->start_ip);
		return true;
	}
	struct vmm_exit e;
	if (!classify(st, &e))
		return false;
	struct vmsim_vcpu_state *s = st;
	uint64_t next = s->ip.value + s->ip_len.value;
	uint64_t amask = c->vm->mode == VT_REAL ? 0xffff : c->vm->mode == VT_PROT ? 0xffffffffull : ~0ull;
	vmsim_vcpu_state_discharge(s);
	switch (e.kind) {
	case VMSIM_EXIT_IO:
		if (e.port == VT_PORT_DONE)
			return false;
		if (e.port == 0x30 && c->nreports < 32)
			c->reports[c->nreports++] = (uint32_t)(s->ax.value & size_mask(e.size));
		if (e.port == 0x31)
			c->error_report = (uint32_t)(s->ax.value & size_mask(e.size));
		if (e.string) {
			uint64_t count = e.rep ? (s->cx.value & amask) : 1;
			struct vmsim_reg *ptr = e.in ? &s->di : &s->si;
			ptr->value = (ptr->value & ~amask) | ((ptr->value + count * e.size) & amask);
			s->charged |= vmsim_vcpu_state_bit(s, ptr);
			if (e.rep)
				vmsim_charge(s, cx, s->cx.value & ~amask);
		} else if (e.in) {
			uint64_t m = size_mask(e.size);
			uint64_t ax = (s->ax.value & ~m) | (c->in_value & m);
			vmsim_charge(s, ax, e.size == 4 ? (ax & 0xffffffffull) : ax);
		}
		break;
	case VMSIM_EXIT_CPUID:
		vmsim_charge(s, ax, 0x11);
		vmsim_charge(s, bx, 0x22);
		vmsim_charge(s, cx, 0x33);
		vmsim_charge(s, dx, 0x44);
		break;
	case VMSIM_EXIT_MSR:
		if (vt_msr_write(st) == 0) {
			vmsim_charge(s, ax, 0x55);
			vmsim_charge(s, dx, 0x66);
		}
		break;
	case VMSIM_EXIT_NPF:
		if (!s->ip_len.value)
			return false; /* a fetch or an undecoded access: nothing to emulate */
		break;
	case VMSIM_EXIT_RDTSC:
	case VMSIM_EXIT_RDTSCP:
	case VMSIM_EXIT_VMCALL:
	case VMSIM_EXIT_HLT:
		break;
	default:
		return false;
	}
	vmsim_charge(s, ip, next);
	return true;
}

static bool on_state(void *ctx, struct vmsim_vcpu_state *st)
{
	struct vt_cpu *c = ctx;
	struct vmsim_exit neutral;
	if (vmsim_model_decode_exit(vc_model(), st, &neutral) != VMSIM_OK)
		memset(&neutral, 0, sizeof neutral);
	pthread_mutex_lock(&c->lock);
	c->handler_calls++;
	c->paused += st->exit_reason == VMSIM_EXIT_CODE_PAUSED;
	if (c->n < VT_LOG)
		c->log[c->n] = (struct vt_exit){ st->exit_reason, st->ip.value, st->ip_len.value, st->qual_primary.value,
			                         st->qual_secondary.value, st->intr_state.value, st->actv_state.value,
			                         st->ax.value, st->bx.value, st->cx.value, st->dx.value,
			                         vmsim_charged(st, ax), neutral };
	pthread_mutex_unlock(&c->lock);
	int r = c->policy ? c->policy(c, st) : -1;
	bool resume = r >= 0 ? r == 1 : default_vmm(c, st);
	pthread_mutex_lock(&c->lock);
	c->n++;
	c->stopped = !resume;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
	return resume;
}

static void handler(void *ctx, struct vmsim_vcpu *vcpu)
{
	((struct vt_cpu *)ctx)->self = vcpu; /* only ever touched by the handler's thread */
	vt_handler_result(vmsim_vcpu_with_state(vcpu, on_state, ctx));
}

struct vt_cpu *vt_cpu_start(struct vt_vm *vm, const char *label, vt_policy policy)
{
	assert_true(vm->ncpu < 64);
	struct vt_cpu *c = &vm->cpu[vm->ncpu];
	memset(c, 0, sizeof *c);
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->changed, &ca);
	pthread_condattr_destroy(&ca);
	c->vm = vm;
	c->index = vm->ncpu;
	c->policy = policy;
	c->in_value = 0x5a5a5a5a;
	c->start_ip = label ? vt_addr(vm, label) : (vm->mode == VT_REAL ? 0 : VT_LOAD);
	struct vmsim_vcpu_args args = { handler, c, vm->config, vm->ep };
	assert_int_equal(vmsim_vcpu_create(vm->session, &args, &c->vcpu), VMSIM_OK);
	if (!vm->prof_ns[1])
		vm->prof_ns[1] = now_ns();
	vm->ncpu++;
	return c;
}

/*
 * Wait on c->changed (no polling: under the QEMU lane a polling test thread takes the emulated CPU from the vCPU)
 * until the handler left the vCPU stopped; bounded like vt_wait_until (20 s, then the test fails).
 */
void vt_wait_stopped(struct vt_cpu *c)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 20;
	bool timed_out = false, done;
	pthread_mutex_lock(&c->lock);
	while (!(done = c->stopped) && !timed_out)
		timed_out = pthread_cond_timedwait(&c->changed, &c->lock, &deadline) == ETIMEDOUT;
	pthread_mutex_unlock(&c->lock);
	if (!done)
		fail_msg("timed out after 20 s waiting for: the handler to leave the vCPU stopped");
}

struct resume_job {
	struct vt_cpu *c;
	_Atomic int result; /* -1 until the job ran */
};

static bool past_hlt(void *ctx, struct vmsim_vcpu_state *st)
{
	(void)ctx;
	vmsim_charge(st, ip, st->ip.value + st->ip_len.value);
	return true;
}

/* with_state is the handler's own: the job runs on the vCPUs' entrypoint. */
static void resume_past_hlt(void *ctx)
{
	struct resume_job *j = ctx;
	j->result = vmsim_vcpu_with_state(j->c->vcpu, past_hlt, NULL);
}

static bool resumed(void *ctx)
{
	return ((struct resume_job *)ctx)->result != -1;
}

void vt_resume_past_hlt(struct vt_vm *vm, struct vt_cpu *c)
{
	assert_non_null(vm->ep);
	pthread_mutex_lock(&c->lock);
	c->stopped = false;
	pthread_mutex_unlock(&c->lock);
	/* on the heap: a wait that times out leaves the test while the entrypoint may still run the job */
	struct resume_job *job = malloc(sizeof *job);
	assert_non_null(job);
	*job = (struct resume_job){ c, -1 };
	assert_int_equal(vmsim_entrypoint_post(vm->ep, resume_past_hlt, job), VMSIM_OK);
	vt_wait_until(resumed, job, "the vCPU resumed past its HLT");
	int result = job->result;
	free(job);
	assert_int_equal(result, VMSIM_OK);
}

struct count_wait {
	struct vt_cpu *c;
	unsigned n;
};

static bool has_exits(void *ctx)
{
	struct count_wait *w = ctx;
	pthread_mutex_lock(&w->c->lock);
	bool ok = w->c->n >= w->n;
	pthread_mutex_unlock(&w->c->lock);
	return ok;
}

/*
 * Still polled: pause_while_halted recalls in a loop until a recall lands past the HLT, and relies on the poll's
 * pause to let the vCPU reach it (woken at once, it recalls before the HLT retires more often than VT_LOG allows).
 */
void vt_wait_exits(struct vt_cpu *c, unsigned count)
{
	struct count_wait w = { c, count };
	vt_wait_until(has_exits, &w, "exits");
}

int vt_find_reason(struct vt_cpu *c, unsigned reason, unsigned from)
{
	pthread_mutex_lock(&c->lock);
	int found = -1;
	for (unsigned i = from; i < c->n && i < VT_LOG; i++)
		if (c->log[i].reason == reason) {
			found = (int)i;
			break;
		}
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* One neutral exit as a line: only what both encodings carry (SVM loses imm and the OUT value, VMX the address size). */
static void trace_line(FILE *f, unsigned cpu, const struct vmsim_exit *e)
{
	fprintf(f, "cpu%u %s rip=%#llx len=%u", cpu, vmsim_exit_kind_name(e->kind), (unsigned long long)e->rip,
	        e->insn_len);
	if (e->kind == VMSIM_EXIT_IO)
		fprintf(f, " port=%#x size=%u in=%d string=%d rep=%d", e->u.io.port, e->u.io.size, e->u.io.in,
		        e->u.io.string, e->u.io.rep);
	if (e->kind == VMSIM_EXIT_NPF)
		fprintf(f, " gpa=%#llx access=%u", (unsigned long long)e->u.npf.gpa, e->u.npf.access);
	if (e->kind == VMSIM_EXIT_MSR)
		fprintf(f, " write=%d", e->u.msr.write);
	fputc('\n', f);
}

void vt_vm_trace(const struct vt_vm *vm)
{
	const char *dir = getenv("VMSIM_CONFORM_TRACE");
	const struct vc_target *t = vc_target();
	if (!dir || !*dir || !t->test)
		return;
	char path[1024];
	mkdir(dir, 0777);
	snprintf(path, sizeof path, "%s/%s", dir, t->backend);
	mkdir(path, 0777);
	snprintf(path, sizeof path, "%s/%s/%s", dir, t->backend, vmsim_model_name(t->model));
	mkdir(path, 0777);
	snprintf(path, sizeof path, "%s/%s/%s/%s__%s.trace", dir, t->backend, vmsim_model_name(t->model),
	         t->test->section, t->test->name);
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	for (unsigned i = 0; i < vm->ncpu; i++) {
		struct vt_cpu *c = &vm->cpu[i];
		pthread_mutex_lock(&c->lock);
		for (unsigned j = 0; j < c->n && j < VT_LOG; j++)
			trace_line(f, i, &c->log[j].neutral);
		pthread_mutex_unlock(&c->lock);
	}
	fclose(f);
}
