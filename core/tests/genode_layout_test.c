/* core/tests/genode_layout_test.c - Genode's Vcpu_state byte layout: literal offsets, round trips, refusals. */
#include <stdlib.h>

#include "vt_model.h"

#include <vmsim/genode_layout.h>

#define Y23 VMSIM_GENODE_LAYOUT_2023
#define Y24 VMSIM_GENODE_LAYOUT_2024

/* Little-endian bytes at buf[off]. */
static uint64_t le(const uint8_t *buf, size_t off, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)buf[off + i] << (8 * i);
	return v;
}

/* A state with the vmm_x86 reset values (genode-vm-session.md §4) and a few exit fields. */
static void sample_state(struct vmsim_vcpu_state *s)
{
	vmsim_vcpu_state_clear(s);
	vmsim_charge(s, ip, 0x1122334455667788ull);
	vmsim_charge(s, flags, 2);
	vmsim_charge(s, cs, (struct vmsim_segment){ 0xf000, 0x93, 0xffff, 0xffff0000 });
	vmsim_charge(s, gdtr, (struct vmsim_dtable){ 0xffff, 0x1000 });
	vmsim_charge(s, ctrl_primary, 0x88);
	vmsim_charge(s, inj_info, 0x80000b0e);
	vmsim_charge(s, tpr_threshold, 0xf);
	vmsim_charge(s, kernel_gs_base, 0xffff800000000000ull);
	s->exit_reason = 0xfc;
	s->fpu.buffer[0] = 0x7f;
	s->fpu.buffer[511] = 0xa5;
	vmsim_charge_fpu(s, 512);
}

/* Offsets by hand from repos/base/include/spec/x86/cpu/vcpu_state.h at 5e862b2c (see genode_layout.h). */
static void layout_2023_literal_offsets(void **unused)
{
	struct vmsim_vcpu_state s;
	uint8_t buf[1520];
	(void)unused;

	assert_int_equal(vmsim_genode_layout_size(Y23), 1520);
	sample_state(&s);
	memset(buf, 0xee, sizeof buf);
	VT_ASSERT_OK(vmsim_genode_layout_export(Y23, &s, buf, sizeof buf));
	assert_int_equal(le(buf, 128, 8), 0x1122334455667788ull); /* ip */
	assert_int_equal(buf[136], 1);                             /* ip._charged */
	assert_int_equal(le(buf, 137, 7), 0);                      /* padding zeroed */
	assert_int_equal(le(buf, 144, 8), 0);                      /* ip_len */
	assert_int_equal(buf[152], 0);
	assert_int_equal(le(buf, 160, 8), 2);                      /* flags */
	assert_int_equal(le(buf, 272, 2), 0xf000);                 /* cs.sel */
	assert_int_equal(le(buf, 274, 2), 0x93);                   /* cs.ar */
	assert_int_equal(le(buf, 276, 4), 0xffff);                 /* cs.limit */
	assert_int_equal(le(buf, 280, 8), 0xffff0000);             /* cs.base */
	assert_int_equal(buf[288], 1);
	assert_int_equal(le(buf, 368, 4), 0xffff);                 /* gdtr.limit */
	assert_int_equal(le(buf, 376, 8), 0x1000);                 /* gdtr.base */
	assert_int_equal(buf[384], 1);
	assert_int_equal(le(buf, 576, 4), 0x88);                   /* ctrl_primary: Register<uint32_t> */
	assert_int_equal(buf[580], 1);
	assert_int_equal(le(buf, 592, 4), 0x80000b0e);             /* inj_info */
	assert_int_equal(buf[596], 1);
	assert_int_equal(le(buf, 944, 8), 0xffff800000000000ull);  /* kernel_gs_base */
	assert_int_equal(le(buf, 968, 4), 0xf);                    /* tpr_threshold */
	assert_int_equal(buf[972], 1);
	assert_int_equal(le(buf, 976, 4), 0xfc);                   /* exit_reason */
	assert_int_equal(le(buf, 980, 8), 0);                      /* padding up to the 16-aligned FPU */
	assert_int_equal(buf[992], 0x7f);                          /* fpu State */
	assert_int_equal(buf[992 + 511], 0xa5);
	assert_int_equal(buf[1504], 1);                            /* fpu._charged */
	assert_int_equal(le(buf, 1505, 8), 0);
}

/* The 2024 layout (ff506b0375): xcr0/xss, exit_reason 1008, FPU 1024 (genode-vm-session.md). */
static void layout_2024_literal_offsets(void **unused)
{
	struct vmsim_vcpu_state s;
	uint8_t *buf = malloc(3648);
	(void)unused;

	assert_non_null(buf);
	assert_int_equal(vmsim_genode_layout_size(Y24), 3648);
	sample_state(&s);
	vmsim_charge(&s, xcr0, 7);
	vmsim_charge(&s, xss, 0x100);
	s.fpu.buffer[2559] = 0x5a;
	vmsim_charge_fpu(&s, 2560);
	VT_ASSERT_OK(vmsim_genode_layout_export(Y24, &s, buf, 3648));
	assert_int_equal(le(buf, 128, 8), 0x1122334455667788ull);
	assert_int_equal(le(buf, 576, 4), 0x88);
	assert_int_equal(le(buf, 976, 8), 7);      /* xcr0 */
	assert_int_equal(buf[984], 1);
	assert_int_equal(le(buf, 992, 8), 0x100);  /* xss */
	assert_int_equal(le(buf, 1008, 4), 0xfc);  /* exit_reason */
	assert_int_equal(buf[1024], 0x7f);         /* fpu State, 64-aligned */
	assert_int_equal(buf[1024 + 2559], 0x5a);
	assert_int_equal(le(buf, 3584, 8), 2560);  /* fpu size (assumed before charged) */
	assert_int_equal(buf[3592], 1);
	free(buf);
}

static uint64_t next(uint64_t *seed)
{
	*seed ^= *seed << 13;
	*seed ^= *seed >> 7;
	*seed ^= *seed << 17;
	return *seed;
}

/* Random values everywhere (32-bit registers kept to 32 bits), random charged flags. */
/* The register's value, then whether it is charged: two draws, in that order. */
static void charge_at(struct vmsim_vcpu_state *s, struct vmsim_reg *reg, uint64_t *seed)
{
	reg->value = next(seed);
	s->charged |= (next(seed) & 1) ? vmsim_vcpu_state_bit(s, reg) : 0;
}

static void random_state(struct vmsim_vcpu_state *s, uint64_t *seed, bool xsave)
{
	struct vmsim_reg *regs[] = {
		&s->ax, &s->cx, &s->dx, &s->bx, &s->bp, &s->si, &s->di, &s->sp, &s->ip, &s->ip_len, &s->flags,
		&s->cr0, &s->cr2, &s->cr3, &s->cr4, &s->dr7, &s->sysenter_ip, &s->sysenter_sp, &s->sysenter_cs,
		&s->qual_primary, &s->qual_secondary, &s->tsc, &s->tsc_offset, &s->tsc_aux, &s->efer, &s->pdpte_0,
		&s->pdpte_1, &s->pdpte_2, &s->pdpte_3, &s->r8, &s->r9, &s->r10, &s->r11, &s->r12, &s->r13, &s->r14,
		&s->r15, &s->star, &s->lstar, &s->cstar, &s->fmask, &s->kernel_gs_base,
	};
	struct vmsim_reg *regs32[] = { &s->ctrl_primary, &s->ctrl_secondary, &s->inj_info, &s->inj_error,
		                       &s->intr_state, &s->actv_state, &s->tpr, &s->tpr_threshold };
	struct vmsim_seg_reg *segs[] = { &s->es, &s->ds, &s->fs, &s->gs, &s->cs, &s->ss, &s->tr, &s->ldtr };

	vmsim_vcpu_state_clear(s);
	for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++)
		charge_at(s, regs[i], seed);
	for (size_t i = 0; i < sizeof regs32 / sizeof regs32[0]; i++)
		charge_at(s, regs32[i], seed), regs32[i]->value &= 0xffffffffu;
	for (size_t i = 0; i < 8; i++) {
		uint64_t v = next(seed);
		segs[i]->value = (struct vmsim_segment){ (uint16_t)v, (uint16_t)(v >> 16), (uint32_t)(v >> 32),
		                                         next(seed) };
		s->charged |= (v & 1) ? vmsim_vcpu_state_bit(s, segs[i]) : 0;
	}
	vmsim_charge(s, gdtr, (struct vmsim_dtable){ (uint32_t)next(seed), next(seed) });
	s->idtr.value = (struct vmsim_dtable){ (uint32_t)next(seed), next(seed) };
	if (xsave) {
		vmsim_charge(s, xcr0, next(seed));
		s->xss.value = next(seed);
	}
	s->exit_reason = (unsigned)next(seed);
	size_t fpu = xsave ? VMSIM_FPU_AREA_SIZE : 512;
	for (size_t i = 0; i < fpu; i++)
		s->fpu.buffer[i] = (uint8_t)next(seed);
	vmsim_charge_fpu(s, fpu);
}

static void round_trips(void **unused)
{
	static struct vmsim_vcpu_state in, out;
	static uint8_t buf[3648 + 1], again[3648];
	uint64_t seed = 0x6e0de1a70u;
	(void)unused;

	for (int i = 0; i < 200; i++) {
		enum vmsim_genode_layout y = (i & 1) ? Y24 : Y23;
		random_state(&in, &seed, y == Y24);
		/* +1: an unaligned page image */
		VT_ASSERT_OK(vmsim_genode_layout_export(y, &in, buf + 1, sizeof buf - 1));
		VT_ASSERT_OK(vmsim_genode_layout_import(y, buf + 1, sizeof buf - 1, &out));
		/* export(import(export(x))) is byte-identical, and the fields came back */
		VT_ASSERT_OK(vmsim_genode_layout_export(y, &out, again, sizeof again));
		assert_memory_equal(buf + 1, again, vmsim_genode_layout_size(y));
		assert_int_equal(vmsim_vcpu_state_charged_count(&out), vmsim_vcpu_state_charged_count(&in));
		assert_int_equal(out.kernel_gs_base.value, in.kernel_gs_base.value);
		assert_int_equal(out.tpr_threshold.value, in.tpr_threshold.value);
		assert_int_equal(out.ldtr.value.base, in.ldtr.value.base);
		assert_int_equal(out.ldtr.value.ar, in.ldtr.value.ar);
		assert_int_equal(out.idtr.value.limit, in.idtr.value.limit);
		assert_int_equal(out.xcr0.value, in.xcr0.value);
		assert_int_equal(out.exit_reason, in.exit_reason);
		assert_int_equal(out.fpu.size, in.fpu.size);
		assert_memory_equal(out.fpu.buffer, in.fpu.buffer, in.fpu.size);
	}
}

static void refusals(void **unused)
{
	static struct vmsim_vcpu_state s, out;
	static uint8_t buf[3648];
	(void)unused;

	sample_state(&s);
	assert_int_equal(vmsim_genode_layout_size((enum vmsim_genode_layout)3), 0);
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_genode_layout_export((enum vmsim_genode_layout)0, &s, buf, 3648));
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_genode_layout_export(Y23, &s, buf, 1519));
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_genode_layout_export(Y23, NULL, buf, 1520));
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_genode_layout_export(Y23, &s, NULL, 1520));
	s.inj_info.value = 0x100000000ull; /* Genode's inj_info is 32 bits */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_genode_layout_export(Y24, &s, buf, 3648));
	sample_state(&s);
	vmsim_charge(&s, xcr0, 7); /* the 2023 page has no xcr0 */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_genode_layout_export(Y23, &s, buf, 1520));
	sample_state(&s);
	vmsim_charge_fpu(&s, 576); /* more than the 512-byte FXSAVE State */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_genode_layout_export(Y23, &s, buf, 1520));

	sample_state(&s);
	VT_ASSERT_OK(vmsim_genode_layout_export(Y23, &s, buf, 1520));
	buf[136] = 2; /* ip._charged is a C++ bool */
	memset(&out, 0x11, sizeof out);
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_genode_layout_import(Y23, buf, 1520, &out));
	assert_int_equal(out.ip.value, 0x1111111111111111ull); /* untouched */
	buf[136] = 1;
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_genode_layout_import(Y23, buf, 1519, &out));
	VT_ASSERT_OK(vmsim_genode_layout_import(Y23, buf, 1520, &out));
	assert_int_equal(out.fpu.size, 512);
	assert_int_equal(out.exit_reason, 0xfc);
	assert_false(vmsim_charged(&out, xcr0));

	sample_state(&s);
	VT_ASSERT_OK(vmsim_genode_layout_export(Y24, &s, buf, 3648));
	buf[3584 + 1] = 0x10; /* FPU size 0x1000 + 512 > 2560 */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_genode_layout_import(Y24, buf, 3648, &out));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(layout_2023_literal_offsets),
		cmocka_unit_test(layout_2024_literal_offsets),
		cmocka_unit_test(round_trips),
		cmocka_unit_test(refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
