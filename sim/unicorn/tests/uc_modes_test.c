/* uc_modes_test.c - mode switches by state_set, the reset vector, state round trips, caps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vt_uc.h"

static int stop_first(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	(void)t, (void)exit, (void)s;
	return VMSIM_EXIT_ACTION_STOP;
}

/* real -> protected -> long and back to real on one vCPU; registers not in the set groups carry over. */
static void test_mode_switch(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state *s = calloc(1, sizeof *s);
	const uint32_t switch_groups = VMSIM_GROUP_IP | VMSIM_GROUP_SEGMENTS | VMSIM_GROUP_DTABLES |
	                               VMSIM_GROUP_CONTROL;
	(void)state;

	assert_non_null(s);
	vt_vm_init(&t, 0, 0);
	memcpy(t.ram + 0x10000, vt_guest_rm_exits.bytes, vt_guest_rm_exits.size);
	memcpy(t.ram + 0x40000, vt_guest_pm_exits.bytes, vt_guest_pm_exits.size);
	memcpy(t.ram + 0x50000, vt_guest_lm_exits.bytes, vt_guest_lm_exits.size);
	t.hook = stop_first;

	vt_state_real(s, 0);
	s->rbx = 0xfeedf00d;
	vt_set(&t, s);
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(t.exits[0].rip, vt_guest_sym(&vt_guest_rm_exits, "x_out_imm"));

	vt_state_prot(s, 0x40000);
	assert_int_equal(t.ops->state_set(t.vcpu, switch_groups, s), VMSIM_OK);
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(t.exits[1].rip, 0x40000 + vt_guest_sym(&vt_guest_pm_exits, "x_out_imm"));
	assert_int_equal(t.exits[1].insn_len, 2);
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_ALL, s), VMSIM_OK);
	assert_int_equal(s->rbx, 0xfeedf00d);
	assert_int_equal(s->cr0 & 1, 1);
	assert_int_equal(s->cs.ar, 0xc9b);

	vt_state_long(s, 0x50000);
	s->r8 = 0x1122334455667788ull;
	assert_int_equal(t.ops->state_set(t.vcpu, switch_groups | VMSIM_GROUP_GPR, s), VMSIM_OK);
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(t.exits[2].rip, 0x50000 + vt_guest_sym(&vt_guest_lm_exits, "x_out_imm"));
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_ALL, s), VMSIM_OK);
	assert_int_equal(s->r8, 0x1122334455667788ull);
	assert_true(s->efer & 0x400); /* LMA */
	assert_true(s->cr0 & 0x80000000u);
	assert_int_equal(s->cs.ar, 0xa9b);

	/* And back to real mode: the real-mode engine is reused with the new state. */
	s->rbx = 0xabcd;
	vt_state_real(s, 0);
	s->rbx = 0xabcd;
	assert_int_equal(t.ops->state_set(t.vcpu, switch_groups | VMSIM_GROUP_GPR, s), VMSIM_OK);
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(t.exits[3].rip, vt_guest_sym(&vt_guest_rm_exits, "x_out_imm"));
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_ALL, s), VMSIM_OK);
	assert_int_equal(s->rbx, 0xabcd);
	assert_int_equal(s->efer & 0x400, 0);
	vt_vm_fini(&t);
	free(s);
}

static int switch_to_long_in_exit(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	(void)s;
	if (t->user || exit->kind != VMSIM_EXIT_IO)
		return VMSIM_EXIT_ACTION_STOP;
	struct vmsim_cpu_state *next = calloc(1, sizeof *next);
	assert_non_null(next);
	vt_state_long(next, 0x50000);
	next->r9 = 0x9999;
	assert_int_equal(t->ops->state_set(t->vcpu, VMSIM_GROUP_ALL, next), VMSIM_OK);
	free(next);
	t->user = t;
	return VMSIM_EXIT_ACTION_RESUME;
}

/* A VMM may switch the mode while handling an exit; the guest continues in the new mode. */
static void test_mode_switch_inside_exit(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	(void)state;

	vt_vm_init(&t, 0, 0);
	memcpy(t.ram + 0x10000, vt_guest_rm_exits.bytes, vt_guest_rm_exits.size);
	memcpy(t.ram + 0x50000, vt_guest_lm_exits.bytes, vt_guest_lm_exits.size);
	vt_state_real(&s, 0);
	vt_set(&t, &s);
	t.hook = switch_to_long_in_exit;
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 2);
	assert_int_equal(t.exits[0].rip, vt_guest_sym(&vt_guest_rm_exits, "x_out_imm"));
	assert_int_equal(t.exits[1].rip, 0x50000 + vt_guest_sym(&vt_guest_lm_exits, "x_out_imm"));
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_GPR, &s), VMSIM_OK);
	assert_int_equal(s.r9, 0x9999);
	vt_vm_fini(&t);
}

/* A vCPU in the reset state with nothing at the top of 4 GiB faults on gpa 0xfffffff0. */
static void test_reset_vector_npf(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	(void)state;

	vt_vm_init(&t, 0, 0);
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_ALL, &s), VMSIM_OK);
	assert_int_equal(s.cs.sel, 0xf000);
	assert_int_equal(s.cs.base, 0xffff0000u);
	assert_int_equal(s.rip, 0xfff0);
	s.intercepts = VMSIM_INTERCEPT_IO | VMSIM_INTERCEPT_HLT;
	assert_int_equal(t.ops->state_set(t.vcpu, VMSIM_GROUP_INTERCEPTS, &s), VMSIM_OK);
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 1);
	assert_int_equal(t.exits[0].kind, VMSIM_EXIT_NPF);
	assert_int_equal(t.exits[0].u.npf.gpa, 0xfffffff0u);
	assert_int_equal(t.exits[0].u.npf.access, VMSIM_ACCESS_FETCH);
	assert_int_equal(t.exits[0].rip, 0xfff0);
	vt_vm_fini(&t);
}

/* With the reset guest mapped at 0xfffff000 the first instruction runs at CS base 0xffff0000, IP 0xfff0. */
static void test_reset_vector_runs(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	uint8_t *rom = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	(void)state;

	assert_true(rom != MAP_FAILED);
	assert_int_equal(vt_guest_reset.size, 0x1000);
	memcpy(rom, vt_guest_reset.bytes, 0x1000);
	vt_vm_init(&t, 0, 0);
	assert_int_equal(t.ops->mem_map(t.vm, 0xfffff000u, rom, 0x1000, VMSIM_PROT_READ | VMSIM_PROT_EXEC),
	                 VMSIM_OK);
	s.intercepts = VMSIM_INTERCEPT_IO | VMSIM_INTERCEPT_HLT;
	assert_int_equal(t.ops->state_set(t.vcpu, VMSIM_GROUP_INTERCEPTS, &s), VMSIM_OK);
	t.hook = stop_first;
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(t.exits[0].kind, VMSIM_EXIT_IO);
	assert_int_equal(t.exits[0].rip, 0xf000 + vt_guest_sym(&vt_guest_reset, "x_reset"));
	assert_int_equal(t.exits[0].rip, 0xfff0);
	assert_int_equal(t.exits[0].u.io.port, 0x10);
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_SEGMENTS, &s), VMSIM_OK);
	assert_int_equal(s.cs.base, 0xffff0000u);
	vt_vm_fini(&t);
	munmap(rom, 0x1000);
}

static void test_state_roundtrip(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state *in = calloc(1, sizeof *in), *out = calloc(1, sizeof *out);
	(void)state;

	assert_true(in && out);
	vt_vm_init(&t, 0, 0);
	vt_state_prot(in, 0x12345);
	for (int i = 0; i < 8; i++)
		(&in->rax)[i] = 0x1111111 * (uint64_t)(i + 1);
	in->rflags = 0x246;
	in->fs = (struct vmsim_segment){ .sel = 0x23, .ar = 0xcf3, .limit = 0xfffff, .base = 0x7000 };
	in->gs = (struct vmsim_segment){ .sel = 0, .ar = 0x1000, .limit = 0, .base = 0 };
	in->tr = (struct vmsim_segment){ .sel = 0x28, .ar = 0x8b, .limit = 0x67, .base = 0x9000 };
	in->gdtr = (struct vmsim_dtable){ .limit = 0x3f, .base = 0x5000 };
	in->idtr = (struct vmsim_dtable){ .limit = 0x7ff, .base = 0x6000 };
	in->cr2 = 0xdead0000, in->cr3 = 0x3000, in->cr4 = 0x620, in->dr7 = 0x401;
	in->sysenter_cs = 8, in->sysenter_esp = 0x8000, in->sysenter_eip = 0x9000;
	in->star = 0x0013000800000000ull, in->lstar = 0x1234, in->cstar = 0x5678, in->fmask = 0x300;
	in->kernel_gs_base = 0xabc000;
	in->tsc_offset = 77, in->tsc_aux = 3;
	in->interruptibility = VMSIM_BLOCK_STI | VMSIM_BLOCK_NMI;
	in->pdpte[2] = 0x42, in->tpr = 5, in->tpr_threshold = 2, in->xcr0 = 7;
	/* FPU: FCW, MXCSR, ST0 = 1.0 (top 0, tag valid), XMM1 pattern */
	memset(in->fpu, 0, sizeof in->fpu);
	in->fpu[0] = 0x7f, in->fpu[1] = 0x02;
	in->fpu[4] = 0x01;
	in->fpu[24] = 0x80, in->fpu[25] = 0x1f;
	uint64_t one_mant = 0x8000000000000000ull;
	uint16_t one_exp = 0x3fff;
	memcpy(in->fpu + 32, &one_mant, 8);
	memcpy(in->fpu + 40, &one_exp, 2);
	for (int i = 0; i < 16; i++)
		in->fpu[160 + 16 + i] = (uint8_t)(0xa0 + i);
	vt_set(&t, in);
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_ALL, out), VMSIM_OK);
	assert_memory_equal(&in->rax, &out->rax, 8 * sizeof(uint64_t));
	assert_int_equal(out->rip, 0x12345);
	assert_int_equal(out->rflags, 0x246);
	assert_memory_equal(&in->cs, &out->cs, sizeof in->cs);
	assert_memory_equal(&in->fs, &out->fs, sizeof in->fs);
	assert_int_equal(out->gs.ar & 0x1000, 0x1000);
	assert_memory_equal(&in->tr, &out->tr, sizeof in->tr);
	assert_memory_equal(&in->gdtr, &out->gdtr, sizeof in->gdtr);
	assert_memory_equal(&in->idtr, &out->idtr, sizeof in->idtr);
	assert_int_equal(out->cr0, in->cr0);
	assert_int_equal(out->cr2, in->cr2);
	assert_int_equal(out->cr3, in->cr3);
	assert_int_equal(out->cr4, in->cr4);
	assert_int_equal(out->dr7, in->dr7);
	assert_int_equal(out->sysenter_cs, 8);
	assert_int_equal(out->sysenter_esp, 0x8000);
	assert_int_equal(out->sysenter_eip, 0x9000);
	assert_int_equal(out->star, in->star);
	assert_int_equal(out->lstar, 0x1234);
	assert_int_equal(out->kernel_gs_base, 0xabc000);
	assert_int_equal(out->tsc_offset, 77);
	assert_int_equal(out->tsc_aux, 3);
	assert_int_equal(out->interruptibility, VMSIM_BLOCK_STI | VMSIM_BLOCK_NMI);
	assert_int_equal(out->pdpte[2], 0x42);
	assert_int_equal(out->tpr, 5);
	assert_int_equal(out->xcr0, 7);
	assert_int_equal(out->intercepts, in->intercepts);
	assert_int_equal(out->fpu_size, 512);
	assert_int_equal(out->fpu[0], 0x7f);
	assert_int_equal(out->fpu[1], 0x02);
	assert_int_equal(out->fpu[4] & 1, 1);
	assert_memory_equal(out->fpu + 24, in->fpu + 24, 4);
	assert_memory_equal(out->fpu + 32, in->fpu + 32, 10);
	assert_memory_equal(out->fpu + 176, in->fpu + 176, 16);
	vt_vm_fini(&t);
	free(in);
	free(out);
}

/*
 * The long-mode engine reads GPRs, x87/SSE and MSRs out of a saved context (uc_state.c), while state_set writes
 * them through Unicorn's API: a round trip with every register distinct, TOP != 0 and XMM8-15 checks the offsets.
 */
static void test_long_mode_state_round_trips_every_fxsave_field_and_msr(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state *in = calloc(1, sizeof *in), *out = calloc(1, sizeof *out);
	(void)state;

	assert_true(in && out);
	vt_vm_init(&t, 0, 0);
	vt_state_long(in, 0x4000);
	for (int i = 0; i < 16; i++)
		(&in->rax)[i] = 0x0123456789abcdefull ^ (0x1111111111111111ull * (uint64_t)i);
	in->sysenter_cs = 0x10, in->sysenter_esp = 0xffff800000008000ull, in->sysenter_eip = 0xffff800000009000ull;
	in->star = 0x0023001000000000ull, in->lstar = 0xffffffff81000000ull, in->cstar = 0xffffffff81000040ull;
	in->fmask = 0x47700, in->kernel_gs_base = 0xffff888000abc000ull;
	memset(in->fpu, 0, sizeof in->fpu);
	uint16_t fcw = 0x027f, fsw = 0x3000 | 0x0021, fop = 0x07ab; /* TOP = 6, PE and IE set */
	uint64_t fip = 0xffffffff81234567ull;
	uint32_t mxcsr = 0x1fa0;
	memcpy(in->fpu + 0, &fcw, 2);
	memcpy(in->fpu + 2, &fsw, 2);
	in->fpu[4] = 0xc1; /* physical registers 0, 6 and 7 hold values: ST(0), ST(1), ST(2) */
	memcpy(in->fpu + 6, &fop, 2);
	memcpy(in->fpu + 8, &fip, 8);
	memcpy(in->fpu + 24, &mxcsr, 4);
	for (int i = 0; i < 8; i++) {
		uint64_t mant = 0x8000000000000000ull | (0x0101010101010101ull * (uint64_t)(i + 1));
		uint16_t exp = (uint16_t)(0x3fff + i);
		memcpy(in->fpu + 32 + 16 * i, &mant, 8);
		memcpy(in->fpu + 40 + 16 * i, &exp, 2);
	}
	for (int r = 0; r < 16; r++)
		for (int i = 0; i < 16; i++)
			in->fpu[160 + 16 * r + i] = (uint8_t)(16 * r + i);
	vt_set(&t, in);
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_ALL, out), VMSIM_OK);
	assert_memory_equal(&in->rax, &out->rax, 16 * sizeof(uint64_t));
	assert_int_equal(out->sysenter_cs, in->sysenter_cs);
	assert_int_equal(out->sysenter_esp, in->sysenter_esp);
	assert_int_equal(out->sysenter_eip, in->sysenter_eip);
	assert_int_equal(out->star, in->star);
	assert_int_equal(out->lstar, in->lstar);
	assert_int_equal(out->cstar, in->cstar);
	assert_int_equal(out->fmask, in->fmask);
	assert_int_equal(out->kernel_gs_base, in->kernel_gs_base);
	assert_int_equal(out->fpu_size, 512);
	assert_memory_equal(out->fpu + 0, in->fpu + 0, 5); /* FCW, FSW with TOP, abridged tags */
	assert_memory_equal(out->fpu + 6, in->fpu + 6, 10); /* FOP, FIP */
	assert_memory_equal(out->fpu + 24, in->fpu + 24, 4);
	for (int i = 0; i < 8; i++)
		assert_memory_equal(out->fpu + 32 + 16 * i, in->fpu + 32 + 16 * i, 10);
	assert_memory_equal(out->fpu + 160, in->fpu + 160, 256);
	/* GPRs alone come from a batch read, not the context: the same values */
	memset(&out->rax, 0, 16 * sizeof(uint64_t));
	assert_int_equal(t.ops->state_get(t.vcpu, VMSIM_GROUP_GPR, out), VMSIM_OK);
	assert_memory_equal(&in->rax, &out->rax, 16 * sizeof(uint64_t));
	vt_vm_fini(&t);
	free(in);
	free(out);
}

/*
 * Real mode, code in linear page 0: call a NOP subroutine at 0x620, patch it into OUT 0x31, call it again. The
 * store's page is page 0, where the range of scans to forget starts a page below address 0.
 */
static const uint8_t page0_patch_guest[] = {
	0xb0, 0x01,                   /* 0x600: mov al, 1 */
	0xe8, 0x1b, 0x00,             /* 0x602: call 0x620 */
	0xc6, 0x06, 0x20, 0x06, 0xe6, /* 0x605: mov byte [0x620], 0xe6 */
	0xc6, 0x06, 0x21, 0x06, 0x31, /* 0x60a: mov byte [0x621], 0x31 */
	0xe8, 0x0e, 0x00,             /* 0x60f: call 0x620 */
	0xba, 0xf0, 0x00,             /* 0x612: mov dx, 0xf0 */
	0xee,                         /* 0x615: out dx, al */
	0xf4,                         /* 0x616: hlt */
};

/* Self-modifying code in page 0 exits as written: its scans are forgotten like any other page's. */
static void test_code_patched_in_page_zero_exits_as_written(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	static const uint8_t sub[] = { 0x90, 0x90, 0xc3 }; /* nop; nop; ret */
	(void)state;

	vt_vm_init(&t, 0, 0);
	memcpy(t.ram + 0x600, page0_patch_guest, sizeof page0_patch_guest);
	memcpy(t.ram + 0x620, sub, sizeof sub);
	vt_state_real(&s, 0x600);
	s.cs.sel = s.ds.sel = 0;
	s.cs.base = s.ds.base = 0;
	vt_set(&t, &s);
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 2);
	assert_int_equal(t.exits[0].kind, VMSIM_EXIT_IO);
	assert_int_equal(t.exits[0].u.io.port, 0x31);
	assert_int_equal(t.exits[0].rip, 0x620);
	assert_int_equal(t.exits[1].u.io.port, 0xf0);
	vt_vm_fini(&t);
}

static void test_invalid_state(void **state)
{
	struct vt_vm t;
	struct vmsim_cpu_state s;
	(void)state;

	vt_vm_init(&t, 0, 0);
	vt_load(&t, &vt_guest_pm_exits);
	vt_state_prot(&s, VT_LOAD);
	s.rflags |= 1u << 17; /* virtual-8086 mode: not supported */
	vt_set(&t, &s);
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(atomic_load(&t.nexits), 1);
	assert_int_equal(t.exits[0].kind, VMSIM_EXIT_INVALID_STATE);
	assert_int_equal(t.exits[0].u.invalid.reason, VMSIM_INVALID_BACKEND);
	vt_vm_fini(&t);
}

/* The segments' access rights at the guest's report on port 0x30 (t->user: uint16_t[3] = CS, SS, DS). */
static int record_segments(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	uint16_t *ar = t->user;
	if (exit->kind == VMSIM_EXIT_IO && exit->u.io.port == 0x30) {
		assert_int_equal(t->ops->state_get(t->vcpu, VMSIM_GROUP_SEGMENTS, s), VMSIM_OK);
		ar[0] = s->cs.ar;
		ar[1] = s->ss.ar;
		ar[2] = s->ds.ar;
	}
	return -1;
}

/*
 * A far JMP to a code descriptor without its A bit, and MOVs to SS/DS of a data descriptor without it: the
 * segments the guest loaded read back accessed, as the CPU sets A on every load (QEMU's far JMP leaves CS
 * without it, which VMX entry refuses). What the VMM sets reads back as set (test_state_roundtrip).
 */
static void test_guest_loaded_segments_are_accessed(void **state)
{
	static const uint8_t guest[] = {
		0xea, 0x07, 0x00, 0x01, 0x00, 0x18, 0x00, /* ljmp 0x18:VT_LOAD + 7 */
		0x66, 0xb8, 0x20, 0x00,                   /* mov ax, 0x20 */
		0x8e, 0xd0,                               /* mov ss, ax */
		0x8e, 0xd8,                               /* mov ds, ax */
		0xe6, 0x30,                               /* out 0x30, al */
		0xba, 0xf0, 0x00, 0x00, 0x00,             /* mov edx, 0xf0 */
		0xee,                                     /* out dx, al */
	};
	struct vt_vm t;
	struct vmsim_cpu_state s;
	(void)state;

	vt_vm_init(&t, 0, 0);
	/* GDT: 0x08/0x10 as vt_state_prot has them, 0x18 code and 0x20 data, both flat and not yet accessed */
	uint64_t gdt[5] = { 0, 0x00cf9b000000ffffull, 0x00cf93000000ffffull, 0x00cf9a000000ffffull,
		            0x00cf92000000ffffull };
	memcpy(t.ram + VT_GDT, gdt, sizeof gdt);
	memcpy(t.ram + VT_LOAD, guest, sizeof guest);
	vt_state_prot(&s, VT_LOAD);
	s.gdtr.limit = sizeof gdt - 1;
	vt_set(&t, &s);
	uint16_t ar[3] = { 0 };
	t.hook = record_segments;
	t.user = ar;
	assert_int_equal(vt_run(&t), VMSIM_OK);
	assert_int_equal(ar[0], 0xc9b);
	assert_int_equal(ar[1], 0xc93);
	assert_int_equal(ar[2], 0xc93);
	vt_vm_fini(&t);
}

/*
 * The backend remembers the CS base between exits (reading it costs a whole context save): a far JMP into a code
 * segment with another base, and back, must still give each OUT its rip relative to the CS it ran under. Three
 * rounds, so the later ones run blocks scanned already (a first scan re-enters the engine, which forgets the base).
 */
static void test_exit_rip_follows_far_jumps_between_cs_bases(void **state)
{
	enum { BASE = 0x30000, OFF = 0x100 };
	static const uint8_t low[] = {
		0xe6, 0x30,                                     /* out 0x30, al */
		0xea, OFF & 0xff, OFF >> 8, 0x00, 0x00, 0x18, 0x00, /* ljmp 0x18:OFF (linear BASE + OFF) */
		0xe6, 0x32,                                     /* back: out 0x32, al */
		0x49, 0x75, 0xf2,                               /* dec ecx; jnz to the first OUT */
		0xba, VT_PORT_DONE, 0x00, 0x00, 0x00, 0xee,     /* mov edx, VT_PORT_DONE; out dx, al */
	};
	static const uint8_t high[] = {
		0xe6, 0x31,                                     /* out 0x31, al */
		0xea, 0x09, 0x00, 0x01, 0x00, 0x08, 0x00,       /* ljmp 0x08:VT_LOAD + 9 (back) */
	};
	struct vt_vm t;
	struct vmsim_cpu_state s;
	(void)state;

	vt_vm_init(&t, 0, 0);
	/* GDT: 0x08/0x10 flat as vt_state_prot has them, 0x18 a 32-bit code segment based at BASE */
	uint64_t gdt[4] = { 0, 0x00cf9b000000ffffull, 0x00cf93000000ffffull,
		            0x00cf9b000000ffffull | ((uint64_t)(BASE >> 16) << 32) };
	memcpy(t.ram + VT_GDT, gdt, sizeof gdt);
	memcpy(t.ram + VT_LOAD, low, sizeof low);
	memcpy(t.ram + BASE + OFF, high, sizeof high);
	vt_state_prot(&s, VT_LOAD);
	s.gdtr.limit = sizeof gdt - 1;
	s.rcx = 3;
	vt_set(&t, &s);
	assert_int_equal(vt_run(&t), VMSIM_OK);
	const uint64_t want[3] = { VT_LOAD, OFF, VT_LOAD + 9 };
	size_t seen = 0;
	for (size_t i = 0; i < atomic_load(&t.nexits); i++) {
		const struct vmsim_exit *e = &t.exits[i];
		if (e->kind != VMSIM_EXIT_IO || e->u.io.port < 0x30 || e->u.io.port > 0x32)
			continue;
		assert_int_equal(e->u.io.port, 0x30 + seen % 3);
		assert_int_equal(e->rip, want[seen % 3]);
		seen++;
	}
	assert_int_equal(seen, 9);
	vt_vm_fini(&t);
}

/* Real-mode guests for the CS limit checks: CS 0x1000 (base 0x10000), #GP handler at IP 0x200 (out 0x40). */
enum { LIMIT_GP_IP = 0x200, LIMIT_TARGET = 0x12345, LIMIT_PORT_GP = 0x40, LIMIT_PORT_RAN = 0x41 };

static struct vmsim_cpu_state limit_seen;
static bool limit_target_goes_on; /* the target's first OUT resumes (a legal jump) or ends the run (a missed #GP) */

static int stop_at_limit_ports(struct vt_vm *t, const struct vmsim_exit *exit, struct vmsim_cpu_state *s)
{
	if (t->hook_calls > 64)
		return VMSIM_EXIT_ACTION_STOP; /* a guest gone astray: the assertions say how */
	if (exit->kind != VMSIM_EXIT_IO || exit->u.io.port < LIMIT_PORT_GP || exit->u.io.port > LIMIT_PORT_RAN + 1)
		return -1;
	limit_seen = *s;
	assert_int_equal(t->ops->state_get(t->vcpu, VMSIM_GROUP_SEGMENTS, &limit_seen), VMSIM_OK);
	return exit->u.io.port == LIMIT_PORT_RAN && limit_target_goes_on ? -1 : VMSIM_EXIT_ACTION_STOP;
}

/* Run bytes at IP ip under CS limit cs_limit; the handler at LIMIT_GP_IP and the target at LIMIT_TARGET exit. */
static void limit_run(struct vt_vm *t, uint16_t ip, const uint8_t *bytes, size_t n, uint64_t rax, uint32_t cs_limit)
{
	static const uint8_t gp_handler[] = { 0xe6, LIMIT_PORT_GP };                      /* out 0x40, al */
	static const uint8_t target[] = { 0xe6, LIMIT_PORT_RAN, 0xe6, LIMIT_PORT_RAN + 1 }; /* out 0x41; out 0x42 */
	static const uint8_t far_return[4] = { LIMIT_TARGET & 0xff, (LIMIT_TARGET >> 8) & 0xff, LIMIT_TARGET >> 16, 0 };
	struct vmsim_cpu_state s;

	vt_vm_init(t, 0, 0);
	memcpy(t->ram + VT_LOAD + ip, bytes, n);
	memcpy(t->ram + VT_LOAD + LIMIT_GP_IP, gp_handler, sizeof gp_handler);
	memcpy(t->ram + VT_LOAD + LIMIT_TARGET, target, sizeof target);
	memcpy(t->ram + VT_STACK, far_return, sizeof far_return); /* what an o32 RET pops */
	vt_ivt(t, 13, LIMIT_GP_IP);
	vt_state_real(&s, ip);
	s.cs.limit = cs_limit;
	s.rax = rax;
	s.rbx = 0;
	vt_set(t, &s);
	memset(&limit_seen, 0, sizeof limit_seen);
	t->hook = stop_at_limit_ports;
	assert_int_equal(vt_run(t), VMSIM_OK);
}

/* The #GP(0) the handler saw: pushed IP, CS 0x1000, and the stack as it was before the faulting instruction. */
static void assert_limit_gp(struct vt_vm *t, uint16_t pushed_ip)
{
	uint16_t frame[3];

	assert_int_equal(limit_seen.rip, LIMIT_GP_IP); /* not LIMIT_TARGET: the transfer did not happen */
	assert_int_equal(limit_seen.rsp, VT_STACK - 6);
	memcpy(frame, t->ram + VT_STACK - 6, sizeof frame);
	assert_int_equal(frame[0], pushed_ip);
	assert_int_equal(frame[1], 0x1000);
	assert_int_equal(limit_seen.cs.sel, 0x1000);
}

/*
 * 32-bit-operand transfers in real mode to an EIP beyond the 64 KiB limit raise #GP(0) at the transfer, which has
 * no effect (SDM Vol. 3A 5.3): no push, no pop, no CS load. 2.0.1 ran the target (and the run loop then cut its
 * EIP to 16 bits at the next exit).
 */
static void test_real_mode_transfers_beyond_the_cs_limit_fault_as_themselves(void **state)
{
	static const struct {
		const char *what;
		uint8_t bytes[8];
		size_t n;
		uint64_t rax;
	} cases[] = {
		{ "jmp rel32", { 0x66, 0xe9, 0x3f, 0x23, 0x01, 0x00 }, 6, 0 },
		{ "call rel32", { 0x66, 0xe8, 0x3f, 0x23, 0x01, 0x00 }, 6, 0 },
		{ "ret (o32)", { 0x66, 0xc3 }, 2, 0 },
		{ "jmp eax", { 0x66, 0xff, 0xe0 }, 3, LIMIT_TARGET },
		{ "jmp far ptr16:32", { 0x66, 0xea, 0x45, 0x23, 0x01, 0x00, 0x00, 0x10 }, 8, 0 },
	};
	(void)state;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct vt_vm t;
		limit_run(&t, 0, cases[i].bytes, cases[i].n, cases[i].rax, 0xffff);
		if (limit_seen.rip != LIMIT_GP_IP)
			fail_msg("%s: no #GP, the guest went on at ip %#llx", cases[i].what,
			         (unsigned long long)limit_seen.rip);
		uint16_t pushed_ip;
		memcpy(&pushed_ip, t.ram + VT_STACK - 6, sizeof pushed_ip);
		if (pushed_ip != 0 || limit_seen.rsp != VT_STACK - 6)
			fail_msg("%s: #GP with ip %#x, sp %#llx pushed (want the transfer's ip 0, sp %#x)", cases[i].what,
			         pushed_ip, (unsigned long long)limit_seen.rsp, VT_STACK - 6);
		assert_limit_gp(&t, 0);
		vt_vm_fini(&t);
	}
}

/*
 * Inside a block: an instruction whose bytes cross the limit faults at its own IP after the ones before it ran;
 * falling through to IP 0x10000 faults there (pushed as IP 0).
 */
static void test_real_mode_code_running_past_the_cs_limit_faults(void **state)
{
	static const uint8_t straddle[] = { 0x43, 0xb8, 0x34, 0x12 }; /* 0xfffd: inc bx; 0xfffe: mov ax, 0x1234 */
	static const uint8_t fall[] = { 0x43, 0xe6, LIMIT_PORT_RAN };  /* 0xffff: inc bx; 0x10000: out 0x41 */
	struct vt_vm t;
	(void)state;

	limit_run(&t, 0xfffd, straddle, sizeof straddle, 0x5555, 0xffff);
	assert_limit_gp(&t, 0xfffe);
	assert_int_equal(limit_seen.rbx, 1);
	assert_int_equal(limit_seen.rax & 0xffff, 0x5555);
	vt_vm_fini(&t);

	limit_run(&t, 0xffff, fall, sizeof fall, 0, 0xffff);
	assert_limit_gp(&t, 0);
	assert_int_equal(limit_seen.rbx, 1);
	vt_vm_fini(&t);
}

/* Under a CS limit above 64 KiB ("unreal" mode) the same jump runs, and EIP stays whole across exits. */
static void test_real_mode_eip_above_64k_under_a_large_cs_limit(void **state)
{
	static const uint8_t jmp[] = { 0x66, 0xe9, 0x3f, 0x23, 0x01, 0x00 };
	struct vt_vm t;
	(void)state;

	limit_target_goes_on = true;
	limit_run(&t, 0, jmp, sizeof jmp, 0, 0xfffff);
	limit_target_goes_on = false;
	size_t n = atomic_load(&t.nexits);
	assert_true(n >= 2);
	assert_int_equal(t.exits[n - 2].u.io.port, LIMIT_PORT_RAN);
	assert_int_equal(t.exits[n - 2].rip, LIMIT_TARGET);
	assert_int_equal(t.exits[n - 1].u.io.port, LIMIT_PORT_RAN + 1);
	assert_int_equal(t.exits[n - 1].rip, LIMIT_TARGET + 2); /* resumed at the full EIP, not at 0x2347 */
	vt_vm_fini(&t);
}

static void test_caps_explained(void **state)
{
	const struct vmsim_backend_ops *ops = vmsim_backend_unicorn();
	(void)state;

	assert_int_equal(ops->abi_version, VMSIM_BACKEND_ABI_VERSION);
	assert_string_equal(ops->name, "unicorn");
	for (int bit = 0; bit < 28; bit++) {
		uint64_t cap = 1ull << bit;
		const char *gap = ops->cap_gap(cap);
		if (ops->caps & cap)
			assert_null(gap);
		else
			assert_non_null(gap);
	}
	assert_true(ops->caps & VMSIM_CAP_INHOOK_EXIT);
	assert_true(ops->caps & VMSIM_CAP_STOP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_switch),
		cmocka_unit_test(test_mode_switch_inside_exit),
		cmocka_unit_test(test_reset_vector_npf),
		cmocka_unit_test(test_reset_vector_runs),
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_long_mode_state_round_trips_every_fxsave_field_and_msr),
		cmocka_unit_test(test_invalid_state),
		cmocka_unit_test(test_code_patched_in_page_zero_exits_as_written),
		cmocka_unit_test(test_guest_loaded_segments_are_accessed),
		cmocka_unit_test(test_exit_rip_follows_far_jumps_between_cs_bases),
		cmocka_unit_test(test_real_mode_transfers_beyond_the_cs_limit_fault_as_themselves),
		cmocka_unit_test(test_real_mode_code_running_past_the_cs_limit_faults),
		cmocka_unit_test(test_real_mode_eip_above_64k_under_a_large_cs_limit),
		cmocka_unit_test(test_caps_explained),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
