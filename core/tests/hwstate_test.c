/* core/tests/hwstate_test.c - reference vectors: VMCB (APM vol. 2 app. B) and VMCS (SDM vol. 3D app. B) <-> Vcpu_state. */
#include "vt_model.h"

#include <vmsim/hwstate.h>

static uint64_t le(const uint8_t *buf, size_t off, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)buf[off + i] << (8 * i);
	return v;
}

static void put(uint8_t *buf, size_t off, unsigned n, uint64_t v)
{
	for (unsigned i = 0; i < n; i++)
		buf[off + i] = (uint8_t)(v >> (8 * i));
}

/* A #VMEXIT image written byte by byte at the APM's offsets (Table B-1 control, B-2 save area). */
static void vmcb_npf_image(uint8_t *v)
{
	memset(v, 0, 4096);
	put(v, 0x070, 8, 0x400);                /* EXITCODE VMEXIT_NPF */
	put(v, 0x078, 8, 0x100000006ull);       /* EXITINFO1: final gpa, US, RW */
	put(v, 0x080, 8, 0xfffff000);           /* EXITINFO2: gpa */
	put(v, 0x088, 8, 0x0000000e80000b0eull); /* EXITINTINFO: #PF delivery interrupted, error 0xe */
	put(v, 0x060, 8, 5);                    /* V_TPR */
	put(v, 0x068, 8, 1);                    /* interrupt shadow */
	put(v, 0x410, 2, 0xf000);               /* CS: sel, attrib, limit, base */
	put(v, 0x412, 2, 0x93);
	put(v, 0x414, 4, 0xffff);
	put(v, 0x418, 8, 0xffff0000);
	put(v, 0x464, 4, 0x27);                 /* GDTR limit, base */
	put(v, 0x468, 8, 0x1000);
	put(v, 0x4d0, 8, 0x1000);               /* EFER.SVME */
	put(v, 0x558, 8, 0x10);                 /* CR0 */
	put(v, 0x570, 8, 2);                    /* RFLAGS */
	put(v, 0x578, 8, 0xfff0);               /* RIP */
	put(v, 0x5d8, 8, 0x7c00);               /* RSP */
	put(v, 0x5f8, 8, 0x1234);               /* RAX */
	put(v, 0x620, 8, 0xffff800000000000ull); /* KernelGSBase */
	put(v, 0x640, 8, 0xdead0000);           /* CR2 */
}

static void vmcb_exit_npf(void **unused)
{
	static uint8_t v[4096];
	struct vmsim_vcpu_state st;
	struct vmsim_exit e;
	(void)unused;

	vmcb_npf_image(v);
	vmsim_vcpu_state_clear(&st);
	st.ip_len.value = 7; /* stale, from an earlier exit */
	VT_ASSERT_OK(vmsim_hwstate_from_vmcb(v, sizeof v, 0, &st));
	assert_int_equal(st.exit_reason, 0xfc);
	assert_int_equal(st.qual_primary.value, 0x100000006ull);
	assert_int_equal(st.qual_secondary.value, 0xfffff000);
	assert_int_equal(st.inj_info.value, 0x80000b0e);
	assert_int_equal(st.inj_error.value, 0xe);
	assert_int_equal(st.tpr.value, 5);
	assert_int_equal(st.intr_state.value, 1);
	assert_int_equal(st.cs.value.sel, 0xf000);
	assert_int_equal(st.cs.value.ar, 0x93);
	assert_int_equal(st.cs.value.limit, 0xffff);
	assert_int_equal(st.cs.value.base, 0xffff0000);
	assert_int_equal(st.gdtr.value.limit, 0x27);
	assert_int_equal(st.gdtr.value.base, 0x1000);
	assert_int_equal(st.efer.value, 0x1000);
	assert_int_equal(st.cr0.value, 0x10);
	assert_int_equal(st.ip.value, 0xfff0);
	assert_int_equal(st.sp.value, 0x7c00);
	assert_int_equal(st.ax.value, 0x1234);
	assert_int_equal(st.kernel_gs_base.value, 0xffff800000000000ull);
	assert_int_equal(st.cr2.value, 0xdead0000);
	assert_int_equal(st.ip_len.value, 7); /* no NRIP: SVM has no length, left as it was */
	assert_false(vmsim_charged(&st, ip_len));
	/* ... and the SVM model reads it as the APM defines it */
	VT_ASSERT_OK(vmsim_model_decode_exit(VMSIM_MODEL_SVM, &st, &e));
	assert_int_equal(e.kind, VMSIM_EXIT_NPF);
	assert_int_equal(e.u.npf.gpa, 0xfffff000);
	assert_int_equal(e.u.npf.access, VMSIM_ACCESS_WRITE);
	assert_true(e.u.npf.user);
	assert_false(e.u.npf.walk);
	assert_int_equal(e.u.npf.prot, 0);
	assert_int_equal(e.insn_len, 0);
}

static void vmcb_exit_codes(void **unused)
{
	static uint8_t v[4096];
	struct vmsim_vcpu_state st;
	struct vmsim_exit e;
	(void)unused;

	vmcb_npf_image(v);
	put(v, 0x070, 8, 0x60); /* INTR: Genode's PAUSED */
	VT_ASSERT_OK(vmsim_hwstate_from_vmcb(v, sizeof v, 0, &st));
	assert_int_equal(st.exit_reason, 0xff);
	put(v, 0x070, 8, ~0ull); /* VMEXIT_INVALID */
	VT_ASSERT_OK(vmsim_hwstate_from_vmcb(v, sizeof v, 0, &st));
	assert_int_equal(st.exit_reason, 0xffffffffu);
	VT_ASSERT_OK(vmsim_hwstate_from_vmcb(v, sizeof v, VMSIM_HWSTATE_SVM_INVALID_AS_FD, &st));
	assert_int_equal(st.exit_reason, 0xfd);

	/* IOIO: OUT dx, al at 0xff83 (ee, 1 byte); NRIP and EXITINFO2 both say 0xff84 */
	put(v, 0x070, 8, 0x7b);
	put(v, 0x078, 8, 0x00800010); /* port 0x80, SZ8, OUT */
	put(v, 0x080, 8, 0xff84);
	put(v, 0x0c8, 8, 0xff84);
	put(v, 0x578, 8, 0xff83);
	vmsim_vcpu_state_clear(&st);
	VT_ASSERT_OK(vmsim_hwstate_from_vmcb(v, sizeof v, 0, &st));
	assert_int_equal(st.ip_len.value, 1);
	assert_true(vmsim_charged(&st, ip_len));
	VT_ASSERT_OK(vmsim_model_decode_exit(VMSIM_MODEL_SVM, &st, &e));
	assert_int_equal(e.kind, VMSIM_EXIT_IO);
	assert_int_equal(e.u.io.port, 0x80);
	assert_int_equal(e.insn_len, 1);

	/* #PF intercept: EXITINFO1 error code, EXITINFO2 CR2 (APM 15.12) */
	put(v, 0x070, 8, 0x4e);
	put(v, 0x078, 8, 0x2);
	put(v, 0x080, 8, 0xb8000);
	VT_ASSERT_OK(vmsim_hwstate_from_vmcb(v, sizeof v, 0, &st));
	VT_ASSERT_OK(vmsim_model_decode_exit(VMSIM_MODEL_SVM, &st, &e));
	assert_int_equal(e.u.exception.vector, 14);
	assert_int_equal(e.u.exception.error_code, 2);
	assert_int_equal(e.u.exception.qual, 0xb8000);

	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_hwstate_from_vmcb(v, 4095, 0, &st));
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_hwstate_from_vmcb(v, sizeof v, 2, &st));
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_hwstate_from_vmcb(NULL, sizeof v, 0, &st));
}

static void vmcb_entry(void **unused)
{
	static uint8_t v[4096];
	struct vmsim_vcpu_state st;
	(void)unused;

	memset(v, 0xaa, sizeof v);
	vmsim_vcpu_state_clear(&st);
	vmsim_charge(&st, ip, 0xff83);
	vmsim_charge(&st, ctrl_primary, 1u << 24);           /* HLT */
	vmsim_charge(&st, ctrl_secondary, 1);                /* VMRUN */
	vmsim_charge(&st, inj_info, 0x80001030);             /* INTR 0x30 + Genode's window request */
	vmsim_charge(&st, inj_error, 0);
	vmsim_charge(&st, intr_state, 0);
	vmsim_charge(&st, tpr, 3);
	vmsim_charge(&st, ss, (struct vmsim_segment){ 0x10, 0xc93, 0xfffff, 0 });
	vmsim_charge(&st, idtr, (struct vmsim_dtable){ 0x3ff, 0 });
	VT_ASSERT_OK(vmsim_hwstate_to_vmcb(&st, v, sizeof v));
	assert_int_equal(le(v, 0x578, 8), 0xff83);
	assert_int_equal(le(v, 0x00c, 4), 0x01000010); /* HLT + VINTR for the window */
	assert_int_equal(le(v, 0x010, 4), 1);
	assert_int_equal(le(v, 0x0a8, 8), 0x80000030); /* EVENTINJ without bit 12 */
	assert_int_equal(le(v, 0x060, 1), 3);          /* V_TPR */
	assert_int_equal(le(v, 0x060, 8) & 0x100100, 0x100100); /* V_IRQ, V_IGN_TPR */
	assert_int_equal(le(v, 0x068, 8), 0xaaaaaaaaaaaaaaaaull & ~1ull);
	assert_int_equal(le(v, 0x420, 2), 0x10);
	assert_int_equal(le(v, 0x422, 2), 0xc93);
	assert_int_equal(le(v, 0x424, 4), 0xfffff);
	assert_int_equal(le(v, 0x428, 8), 0);
	assert_int_equal(le(v, 0x484, 4), 0x3ff);
	assert_int_equal(le(v, 0x5f8, 8), 0xaaaaaaaaaaaaaaaaull); /* RAX not charged: untouched */
	assert_int_equal(le(v, 0x410, 8), 0xaaaaaaaaaaaaaaaaull); /* CS likewise */

	st.inj_info.value = 0x80000030; /* no window: V_IRQ, V_IGN_TPR and VINTR cleared again */
	VT_ASSERT_OK(vmsim_hwstate_to_vmcb(&st, v, sizeof v));
	assert_int_equal(le(v, 0x060, 8) & 0x100100, 0);
	assert_int_equal(le(v, 0x00c, 4), 0x01000000);

	st.tpr.value = 0x100;
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_hwstate_to_vmcb(&st, v, sizeof v));
	st.tpr.value = 3;
	st.inj_error.value = 1ull << 32;
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_hwstate_to_vmcb(&st, v, sizeof v));
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_hwstate_to_vmcb(&st, v, 4095));
}

/* SDM vol. 3C 25.4.1 access rights vs. Genode's 12-bit ar (base-hw's vmx.h conversion). */
static void access_rights(void **unused)
{
	(void)unused;
	assert_int_equal(vmsim_hwstate_ar_to_genode(0xc093), 0xc93);   /* G, D/B, P, S, data rw accessed */
	assert_int_equal(vmsim_hwstate_ar_to_genode(0xa09b), 0xa9b);   /* 64-bit code: G, L */
	assert_int_equal(vmsim_hwstate_ar_to_genode(0x10000), 0x1000); /* unusable */
	assert_int_equal(vmsim_hwstate_ar_to_genode(0x8b), 0x8b);      /* busy TSS */
	assert_int_equal(vmsim_hwstate_ar_to_intel(0xc93), 0xc093);
	assert_int_equal(vmsim_hwstate_ar_to_intel(0x1000), 0x10000);
	assert_int_equal(vmsim_hwstate_ar_to_intel(0x93), 0x93);
	for (uint32_t ar = 0; ar < 0x2000; ar++)
		assert_int_equal(vmsim_hwstate_ar_to_genode(vmsim_hwstate_ar_to_intel((uint16_t)ar)), ar);
}

static void vmcs_exit(void **unused)
{
	static struct vmsim_vmcs vmcs;
	struct vmsim_vcpu_state st;
	struct vmsim_exit e;
	uint32_t blocking;
	(void)unused;

	memset(&vmcs, 0, sizeof vmcs);
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x4402, 48));         /* EPT violation */
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x6400, 0x38a));      /* write, R, GLA, final, user */
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x2400, 0x7000));     /* guest-physical address */
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x681e, 0x401000));   /* RIP */
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x440c, 3));          /* exit instruction length */
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x0802, 0x8));        /* CS selector */
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x4816, 0xa09b));     /* CS access rights */
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x4802, 0xffffffff)); /* CS limit */
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x4820, 0x10000));    /* LDTR unusable */
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x4408, 0x80000b0e)); /* IDT vectoring: #PF */
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x440a, 0x2));
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x4016, 0x80000030)); /* an entry event, not shown here */
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x4824, 0x11));       /* STI blocking + enclave */
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x2806, 0xd01));      /* EFER */
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x2810, 0x5003));     /* PDPTE3 */
	vmsim_vcpu_state_clear(&st);
	VT_ASSERT_OK(vmsim_hwstate_from_vmcs(&vmcs, &st));
	assert_int_equal(st.exit_reason, 48);
	assert_int_equal(st.qual_primary.value, 0x38a);
	assert_int_equal(st.qual_secondary.value, 0x7000);
	assert_int_equal(st.ip.value, 0x401000);
	assert_int_equal(st.ip_len.value, 3);
	assert_int_equal(st.cs.value.sel, 0x8);
	assert_int_equal(st.cs.value.ar, 0xa9b);
	assert_int_equal(st.cs.value.limit, 0xffffffff);
	assert_int_equal(st.ldtr.value.ar, 0x1000);
	assert_int_equal(st.inj_info.value, 0x80000b0e);
	assert_int_equal(st.inj_error.value, 2);
	assert_int_equal(st.intr_state.value, 0x11);
	assert_int_equal(st.efer.value, 0xd01);
	assert_int_equal(st.pdpte_3.value, 0x5003);
	VT_ASSERT_OK(vmsim_model_decode_exit(VMSIM_MODEL_VMX, &st, &e));
	assert_int_equal(e.kind, VMSIM_EXIT_NPF);
	assert_int_equal(e.u.npf.gpa, 0x7000);
	assert_int_equal(e.u.npf.access, VMSIM_ACCESS_WRITE);
	assert_true(e.u.npf.user);
	assert_true(e.u.npf.gla_valid);
	VT_ASSERT_OK(vmsim_model_decode_intr_state(VMSIM_MODEL_VMX, st.intr_state.value, &blocking));
	assert_int_equal(blocking, VMSIM_BLOCK_STI);

	/* External interrupt (1) is Genode's PAUSED, and then the undelivered entry event is shown. */
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x4402, 1));
	VT_ASSERT_OK(vmsim_hwstate_from_vmcs(&vmcs, &st));
	assert_int_equal(st.exit_reason, 0xff);
	assert_int_equal(st.inj_info.value, 0x80000030);
	/* A failed entry: bit 31 set, basic reason 33 kept */
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x4402, 0x80000021));
	VT_ASSERT_OK(vmsim_hwstate_from_vmcs(&vmcs, &st));
	assert_int_equal(st.exit_reason, 33);
	assert_int_equal(st.inj_info.value, 0x80000030);
}

static void vmcs_entry(void **unused)
{
	static struct vmsim_vmcs vmcs;
	struct vmsim_vcpu_state st;
	(void)unused;

	memset(&vmcs, 0, sizeof vmcs);
	vmsim_vcpu_state_clear(&st);
	vmsim_charge(&st, ip, 0x1000);
	vmsim_charge(&st, ip_len, 2);
	vmsim_charge(&st, ctrl_primary, 0x88);
	vmsim_charge(&st, inj_info, 0x80002b0e); /* #PF with error code + NMI-window request */
	vmsim_charge(&st, inj_error, 0x1c);
	vmsim_charge(&st, efer, 0x500);          /* LME | LMA */
	vmsim_charge(&st, cr0, 0x80000011);
	vmsim_charge(&st, cs, (struct vmsim_segment){ 0x8, 0xa9b, 0xffffffff, 0 });
	vmsim_charge(&st, ldtr, (struct vmsim_segment){ 0, 0x1000, 0, 0 });
	VT_ASSERT_OK(vmsim_hwstate_to_vmcs(&st, &vmcs));
	assert_int_equal(vmsim_hwstate_vmcs_get(&vmcs, 0x681e), 0x1000);
	assert_int_equal(vmsim_hwstate_vmcs_get(&vmcs, 0x401a), 2);          /* entry instruction length */
	assert_int_equal(vmsim_hwstate_vmcs_get(&vmcs, 0x4002), 0x400088);   /* + NMI-window exiting */
	assert_int_equal(vmsim_hwstate_vmcs_get(&vmcs, 0x4016), 0x80000b0e); /* window bit masked */
	assert_int_equal(vmsim_hwstate_vmcs_get(&vmcs, 0x4018), 0x1c);
	assert_int_equal(vmsim_hwstate_vmcs_get(&vmcs, 0x2806), 0x500);
	assert_int_equal(vmsim_hwstate_vmcs_get(&vmcs, 0x4012), 0x200);      /* IA-32e mode guest */
	assert_int_equal(vmsim_hwstate_vmcs_get(&vmcs, 0x6800), 0x80000011);
	assert_int_equal(vmsim_hwstate_vmcs_get(&vmcs, 0x6004), 0x80000011); /* CR0 read shadow */
	assert_int_equal(vmsim_hwstate_vmcs_get(&vmcs, 0x0802), 0x8);
	assert_int_equal(vmsim_hwstate_vmcs_get(&vmcs, 0x4816), 0xa09b);
	assert_int_equal(vmsim_hwstate_vmcs_get(&vmcs, 0x4802), 0xffffffff);
	assert_int_equal(vmsim_hwstate_vmcs_get(&vmcs, 0x4820), 0x10000);
	assert_int_equal(vmsim_hwstate_vmcs_get(&vmcs, 0x6820), 0);          /* flags not charged: never written */
	assert_int_equal(vmcs.count, 17);

	/* A value too wide for its field: nothing written */
	unsigned count = vmcs.count;
	vmsim_charge(&st, sysenter_cs, 1ull << 32); /* 0x482a is a 32-bit field */
	vmsim_charge(&st, flags, 0x202);
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_hwstate_to_vmcs(&st, &vmcs));
	assert_int_equal(vmcs.count, count);
}

/* SDM vol. 3D B: width in bits 14:13, bit 0 = high half of a 64-bit field, bit 12 and 31:15 reserved. */
static void vmcs_encodings(void **unused)
{
	static struct vmsim_vmcs vmcs;
	(void)unused;

	memset(&vmcs, 0, sizeof vmcs);
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_hwstate_vmcs_set(&vmcs, 0x0800, 0x10000)); /* 16-bit */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_hwstate_vmcs_set(&vmcs, 0x4824, 1ull << 32)); /* 32-bit */
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x2400, ~0ull));                              /* 64-bit */
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x2401, 0xffffffff));                         /* its high half */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_hwstate_vmcs_set(&vmcs, 0x2401, 1ull << 32));
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_hwstate_vmcs_set(&vmcs, 0x4403, 0)); /* high of 32-bit */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_hwstate_vmcs_set(&vmcs, 0x1000, 0)); /* bit 12 */
	VT_ASSERT_RESULT(VMSIM_INVALID_ARGUMENT, vmsim_hwstate_vmcs_set(&vmcs, 0x18000, 0));
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x6400, ~0ull));                              /* natural */
	assert_int_equal(vmsim_hwstate_vmcs_get(&vmcs, 0x6400), ~0ull);
	assert_int_equal(vmsim_hwstate_vmcs_get(&vmcs, 0x6402), 0); /* never written */
	for (uint32_t i = vmcs.count; i < VMSIM_VMCS_MAX_FIELDS; i++)
		VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x6800 + 2 * i, i));
	VT_ASSERT_RESULT(VMSIM_OUT_OF_RAM, vmsim_hwstate_vmcs_set(&vmcs, 0x6c00, 1));
	VT_ASSERT_OK(vmsim_hwstate_vmcs_set(&vmcs, 0x6400, 5)); /* an existing field can still be written */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vmcb_exit_npf),
		cmocka_unit_test(vmcb_exit_codes),
		cmocka_unit_test(vmcb_entry),
		cmocka_unit_test(access_rights),
		cmocka_unit_test(vmcs_exit),
		cmocka_unit_test(vmcs_entry),
		cmocka_unit_test(vmcs_encodings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
