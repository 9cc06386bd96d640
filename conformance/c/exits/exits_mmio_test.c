/* exits_mmio_test.c - MMIO reads in every form a VMM answers: the VMM's value reaches the guest's register. */
#include "../vc.h"

/* The reads of pm_mmio.S (gpa 0xe00000X0), each answered with `value` written into its destination. */
struct mmio_read {
	const char *label;
	uint8_t len; /* from the encodings in pm_mmio.S */
	uint32_t value;
};

static const struct mmio_read reads[] = {
	{ "x_mov_al", 3, 0xa1 },          /* 8a 43 10 */
	{ "x_mov_dx", 4, 0xb2c3 },        /* 66 8b 53 20 */
	{ "x_mov_ecx", 3, 0xd4e5f607 },   /* 8b 4b 30 */
	{ "x_mov_ah", 3, 0x5a },          /* 8a 63 40 */
	{ "x_movzx_esi", 4, 0x9c },       /* 0f b6 73 50 */
	{ "x_add_edi", 3, 0x01010101 },   /* 03 7b 60 */
	{ "x_moffs_eax", 5, 0x13572468 }, /* a1 70 00 00 e0 */
};

enum { NREADS = sizeof reads / sizeof reads[0] };

static unsigned npf_code(void)
{
	return vc_svm() ? 0xfc : 48; /* Genode's SVM NPF code (VMEXIT_NPF 0x400 in the APM); SDM 48, EPT violation */
}

/* Emulate the read the exit stopped at, as a device model would: the instruction's semantics by label. */
static int answer_read(struct vt_cpu *c, struct vmsim_vcpu_state *st)
{
	if (st->exit_reason != npf_code())
		return -1;
	uint64_t ip = st->ip.value;
	for (unsigned i = 0; i < NREADS; i++) {
		if (ip != vt_addr(c->vm, reads[i].label))
			continue;
		const struct mmio_read *r = &reads[i];
		uint64_t ax = st->ax.value, dx = st->dx.value, di = st->di.value;
		vmsim_vcpu_state_discharge(st);
		switch (i) {
		case 0: vmsim_charge(st, ax, (ax & ~0xffull) | r->value); break;
		case 1: vmsim_charge(st, dx, (dx & ~0xffffull) | r->value); break;
		case 2: vmsim_charge(st, cx, r->value); break;
		case 3: vmsim_charge(st, ax, (ax & ~0xff00ull) | (uint64_t)r->value << 8); break;
		case 4: vmsim_charge(st, si, r->value); break;
		case 5: vmsim_charge(st, di, (uint32_t)(di + r->value)); break;
		default: vmsim_charge(st, ax, r->value); break;
		}
		vmsim_charge(st, ip, ip + r->len);
		c->user_state++;
		return 1;
	}
	return 0; /* an MMIO read this test did not place: stop */
}

static void mmio_read_forms(const void *p)
{
	(void)p;
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_mmio, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, answer_read);
	vt_wait_stopped(c);
	assert_int_equal(c->user_state, NREADS);
	for (unsigned i = 0; i < NREADS; i++) {
		const struct vt_exit *e = &c->log[1 + i + (i == NREADS - 1)]; /* EAX is reported before the moffs read */
		assert_int_equal(e->reason, npf_code());
		assert_int_equal(e->ip, vt_addr(&vm, reads[i].label));
		assert_int_equal(e->ip_len, reads[i].len);
	}
	/* eax after AL and AH, eax after the moffs read, ecx, edx, esi, edi */
	static const uint32_t want[] = { 0x11115aa1, 0x13572468, 0xd4e5f607, 0x3333b2c3, 0x9c, 0x56565656 };
	assert_int_equal(c->nreports, 6);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(c->reports[i], want[i]);
	vt_vm_close(&vm);
}

static const struct vc_test tests[] = {
	{ "exits", "mmio_read_forms_reach_the_guest",
	  VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_EXIT_IO | VMSIM_CAP_EXIT_NPF | VMSIM_CAP_EXIT_MMIO_DECODE,
	  mmio_read_forms, NULL },
};

struct vc_test_list vc_exit_mmio_tests(void)
{
	return VC_LIST(tests);
}
