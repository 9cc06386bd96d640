/* bench_raw.c - ns per OUT exit: raw Unicorn INSN hook vs the backend's in-hook exit path (not a test). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <unicorn/unicorn.h>
#include <vmsim/backends.h>

/* 64-bit guest at 0x1000: loop: out dx, al; dec ecx; jnz loop; hlt */
static const uint8_t loop_code[] = { 0xee, 0xff, 0xc9, 0x75, 0xfb, 0xf4 };
enum { CODE = 0x1000 };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

struct raw_ctx {
	int nregs;
	uint64_t sink;
};

static void raw_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *user)
{
	static const int ids[18] = { UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX,
		                     UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI,
		                     UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
		                     UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15,
		                     UC_X86_REG_RIP, UC_X86_REG_RFLAGS };
	struct raw_ctx *c = user;
	(void)port, (void)size;
	for (int i = 0; i < c->nregs; i++) {
		uint64_t v;
		uc_reg_read(uc, ids[i], &v);
		c->sink += v;
	}
	c->sink += value;
}

static double bench_raw(int nregs, uint32_t iters)
{
	uc_engine *uc;
	uc_hook h;
	struct raw_ctx c = { nregs, 0 };
	uint64_t rcx = iters;

	if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK)
		return -1;
	uc_mem_map(uc, 0, 0x10000, UC_PROT_ALL);
	uc_mem_write(uc, CODE, loop_code, sizeof loop_code);
	uc_hook_add(uc, &h, UC_HOOK_INSN, (void *)raw_out, &c, 1, 0, UC_X86_INS_OUT);
	uc_reg_write(uc, UC_X86_REG_RCX, &rcx);
	double t0 = now();
	uc_emu_start(uc, CODE, 0x8000dead00000001ull, 0, 0);
	double t1 = now();
	uc_close(uc);
	return (t1 - t0) / iters;
}

struct backend_ctx {
	const struct vmsim_backend_ops *ops;
	void *vcpu;
	struct vmsim_cpu_state *s;
	uint32_t groups;
	uint64_t exits;
};

static enum vmsim_exit_action backend_exit(void *ctx, const struct vmsim_exit *exit)
{
	struct backend_ctx *c = ctx;

	c->exits++;
	if (exit->kind != VMSIM_EXIT_IO)
		return VMSIM_EXIT_ACTION_STOP;
	if (c->groups) {
		c->ops->state_get(c->vcpu, c->groups, c->s);
		c->s->rip = exit->rip + exit->insn_len;
		c->ops->state_set(c->vcpu, c->groups, c->s);
	} else {
		c->ops->state_get(c->vcpu, VMSIM_GROUP_IP, c->s);
		c->s->rip = exit->rip + exit->insn_len;
		c->ops->state_set(c->vcpu, VMSIM_GROUP_IP, c->s);
	}
	return VMSIM_EXIT_ACTION_RESUME;
}

static double bench_backend(uint32_t groups, uint32_t iters)
{
	const struct vmsim_backend_ops *ops = vmsim_backend_unicorn();
	struct vmsim_cpu_state *s = calloc(1, sizeof *s);
	uint8_t *ram = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *vm, *vcpu;
	struct backend_ctx c = { ops, NULL, s, groups, 0 };

	if (!s || ram == MAP_FAILED || ops->vm_create(&(struct vmsim_backend_host){ 0 }, &vm) != VMSIM_OK)
		return -1;
	memcpy(ram + CODE, loop_code, sizeof loop_code);
	ops->mem_map(vm, 0, ram, 0x10000, 7);
	ops->vcpu_create(vm, 0, &vcpu);
	c.vcpu = vcpu;
	s->rflags = 2;
	s->cs = (struct vmsim_segment){ .sel = 8, .ar = 0xa9b, .limit = 0xffffffff };
	s->ds = s->es = s->ss = s->fs = s->gs = (struct vmsim_segment){ .sel = 0x10, .ar = 0xc93, .limit = ~0u };
	s->ldtr.ar = 0x1082;
	s->tr = (struct vmsim_segment){ .ar = 0x8b, .limit = 0x67 };
	s->cr0 = 0x80000011, s->cr4 = 0x20, s->efer = 0x500;
	s->rip = CODE, s->rcx = iters;
	s->intercepts = VMSIM_INTERCEPT_IO | VMSIM_INTERCEPT_HLT;
	ops->state_set(vcpu, VMSIM_GROUP_ALL & ~VMSIM_GROUP_FPU, s);
	double t0 = now();
	ops->vcpu_run(vcpu, backend_exit, &c);
	double t1 = now();
	ops->vcpu_destroy(vcpu);
	ops->vm_destroy(vm);
	munmap(ram, 0x10000);
	free(s);
	return (t1 - t0) / (double)c.exits;
}

int main(int argc, char **argv)
{
	uint32_t iters = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 1000000;

	printf("OUT exit cost, %" PRIu32 " exits per run, 64-bit guest loop (lower is better)\n", iters);
	printf("raw unicorn INSN hook, 0 register reads : %8.1f ns/exit\n", bench_raw(0, iters));
	printf("raw unicorn INSN hook, 3 register reads : %8.1f ns/exit\n", bench_raw(3, iters));
	printf("raw unicorn INSN hook, 18 register reads: %8.1f ns/exit\n", bench_raw(18, iters));
	printf("backend in-hook exit, state IP only     : %8.1f ns/exit\n", bench_backend(0, iters));
	printf("backend in-hook exit, state GPR+IP      : %8.1f ns/exit\n",
	       bench_backend(VMSIM_GROUP_GPR | VMSIM_GROUP_IP, iters));
	return 0;
}
