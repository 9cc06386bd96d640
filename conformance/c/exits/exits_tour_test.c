/* exits_tour_test.c - every exit kind in real, protected and long mode: reason, ip, ip_len, qualifications exact. */
#include <string.h>

#include "../vc.h"

/*
 * Expected values are written from x86-exit-encodings.md and the instruction
 * encodings, independently of core's model tables: one test case per exit of
 * the rm/pm/lm_exits tours, per mode. Each case needs only its mode, port I/O
 * (the tour reports and ends through ports) and its own exit kind: before the
 * tour runs, every stop whose kind the backend does not declare is overwritten
 * with NOPs of the same length, so a backend lacking CPUID exits still runs the
 * IO, MMIO and HLT cases, and only the cases of the missing kinds skip.
 */
enum kind { IO, NPF_R, NPF_W, CPUID, RDTSC, RDTSCP, RDMSR, WRMSR, VMCALL, HLT };

struct stop {
	const char *label;
	enum kind kind;
	uint16_t port;
	uint8_t size;
	bool in, string, rep, imm;
	uint32_t value;   /* OUT: low bits of rAX the guest wrote */
	uint8_t len[3];   /* instruction length in real, protected, long mode */
};

#define P_IO(l, p, sz, i, s, r, im, v, a, b, c) { l, IO, p, sz, i, s, r, im, v, { a, b, c } }
#define P_OTHER(l, k, a, b, c) { l, k, 0, 0, 0, 0, 0, 0, 0, { a, b, c } }

static const struct stop tour[] = {
	P_IO("x_out_imm", 0x10, 1, 0, 0, 0, 1, 0x41, 2, 2, 2),      /* e6 10 */
	P_IO("x_out_dx", 0x80, 2, 0, 0, 0, 0, 0x1234, 1, 2, 2),     /* (66) ef */
	P_IO("x_in_imm", 0x11, 1, 1, 0, 0, 1, 0, 2, 2, 2),          /* e4 11 */
	P_IO("x_report", 0x12, 1, 0, 0, 0, 1, 0x5a, 2, 2, 2),       /* the IN's value came back in AL */
	P_IO("x_in_dx32", 0x80, 4, 1, 0, 0, 0, 0, 2, 1, 1),         /* (66) ed */
	P_IO("x_outsb", 0x80, 1, 0, 1, 0, 0, 0, 1, 1, 1),           /* 6e */
	P_IO("x_rep_outsw", 0x80, 2, 0, 1, 1, 0, 0, 2, 3, 3),       /* f3 (66) 6f */
	P_IO("x_rep_insb", 0x80, 1, 1, 1, 1, 0, 0, 2, 2, 2),        /* f3 6c */
	P_OTHER("x_cpuid", CPUID, 2, 2, 2),                         /* 0f a2 */
	P_OTHER("x_rdtsc", RDTSC, 2, 2, 2),                         /* 0f 31 */
	P_OTHER("x_rdtscp", RDTSCP, 3, 3, 3),                       /* 0f 01 f9 */
	P_OTHER("x_rdmsr", RDMSR, 2, 2, 2),                         /* 0f 32 */
	P_OTHER("x_wrmsr", WRMSR, 2, 2, 2),                         /* 0f 30 */
	P_OTHER("x_vmcall", VMCALL, 3, 3, 3),                       /* 0f 01 c1 */
	P_OTHER("x_mmio_read", NPF_R, 5, 4, 4),                     /* 26 8b 1e 20 00 | 66 8b 43 20 */
	P_OTHER("x_mmio_write", NPF_W, 10, 7, 8),                   /* 26 66 c7 06 .. | c7 43 40 .. | 48 c7 .. */
	P_OTHER("x_hlt", HLT, 1, 1, 1),
};

enum { TOUR_LEN = sizeof tour / sizeof tour[0] };

struct tour_case {
	enum vt_mode mode;
	unsigned index;
};

/* The capability that delivers the exit of stop x. */
static uint64_t stop_cap(const struct stop *x)
{
	static const uint64_t caps[] = { VMSIM_CAP_EXIT_IO, VMSIM_CAP_EXIT_NPF, VMSIM_CAP_EXIT_NPF,
		                         VMSIM_CAP_EXIT_CPUID, VMSIM_CAP_EXIT_RDTSC, VMSIM_CAP_EXIT_RDTSCP,
		                         VMSIM_CAP_EXIT_MSR, VMSIM_CAP_EXIT_MSR, VMSIM_CAP_EXIT_VMCALL,
		                         VMSIM_CAP_EXIT_HLT };
	return x->kind == IO && x->string ? VMSIM_CAP_EXIT_IO_STRING : caps[x->kind];
}

/* Replace the stops the backend cannot deliver by NOPs; the number of tour exits that remain. */
static unsigned keep_deliverable_stops(struct vt_vm *vm, enum vt_mode mode)
{
	uint64_t have = vc_target()->ops->caps;
	unsigned kept = 0;
	for (unsigned i = 0; i < TOUR_LEN; i++) {
		if (have & stop_cap(&tour[i])) {
			kept++;
			continue;
		}
		uint64_t at = VT_LOAD + vt_guest_sym(vm->guest, tour[i].label);
		memset(vm->ram + at, 0x90, tour[i].len[mode]);
	}
	return kept;
}

static unsigned svm_code(enum kind k)
{
	static const unsigned codes[] = { 0x7b, 0xfc, 0xfc, 0x72, 0x6e, 0x87, 0x7c, 0x7c, 0x81, 0x78 };
	return codes[k];
}

static unsigned vmx_code(enum kind k)
{
	static const unsigned codes[] = { 30, 48, 48, 10, 16, 51, 31, 32, 18, 12 };
	return codes[k];
}

/* Address-size bytes of a string instruction in each mode (no 0x67 prefixes in the guests). */
static unsigned addr_size(enum vt_mode mode)
{
	return mode == VT_REAL ? 2 : mode == VT_PROT ? 4 : 8;
}

static void check_io(const struct stop *x, const struct vt_exit *e, enum vt_mode mode)
{
	if (vc_svm()) {
		uint64_t sz = x->size == 1 ? 1u << 4 : x->size == 2 ? 1u << 5 : 1u << 6;
		uint64_t a = addr_size(mode) == 2 ? 1u << 7 : addr_size(mode) == 4 ? 1u << 8 : 1u << 9;
		uint64_t want = (uint64_t)x->in | (uint64_t)x->string << 2 | (uint64_t)x->rep << 3 | sz |
		                (uint64_t)x->port << 16;
		if (x->string) {
			/* OUTS reads DS:rSI (segment 3), INS writes ES:rDI (segment 0) */
			want |= a | (x->in ? 0u : 3u << 10);
			assert_int_equal(e->qual_primary, want);
		} else {
			/* SEG is defined for INS/OUTS only; the address size may be given or left 0 */
			uint64_t q = e->qual_primary & ~(7ull << 10);
			assert_true(q == want || q == (want | a));
		}
		assert_int_equal(e->qual_secondary, e->ip + e->ip_len); /* EXITINFO2 = next rIP */
	} else {
		uint64_t want = (uint64_t)(x->size - 1) | (uint64_t)x->in << 3 | (uint64_t)x->string << 4 |
		                (uint64_t)x->rep << 5 | (uint64_t)x->imm << 6 | (uint64_t)x->port << 16;
		assert_int_equal(e->qual_primary, want);
		assert_int_equal(e->qual_secondary, 0);
	}
	if (!x->in && !x->string) {
		uint64_t mask = x->size == 1 ? 0xff : x->size == 2 ? 0xffff : 0xffffffff;
		assert_int_equal(e->ax & mask, x->value); /* rAX holds what the OUT writes */
	}
}

static void check_npf(const struct stop *x, const struct vt_exit *e, enum vt_mode mode)
{
	uint64_t base = mode == VT_REAL ? 0xb0000 : 0xe0000000;
	bool write = x->kind == NPF_W;
	assert_int_equal(e->qual_secondary, base + (write ? 0x40 : 0x20));
	if (vc_svm())
		assert_int_equal(e->qual_primary, (write ? 2u : 0u) | (1ull << 32)); /* not present, final gpa */
	else {
		assert_int_equal(e->qual_primary & 0x3f, write ? 2 : 1); /* nothing mapped: R/W/X bits 0 */
		assert_int_equal(e->qual_primary & ~0x1bfull, 0);
	}
}

static void tour_exit(const void *p)
{
	const struct tour_case *tc = p;
	static const struct vt_guest *guests[3] = { &vt_guest_rm_exits, &vt_guest_pm_exits, &vt_guest_lm_exits };
	struct vt_vm vm;
	if (tc->mode == VT_REAL)
		vt_vm_open(&vm, VT_REAL, guests[tc->mode], 0xa0000, 0xc0000);
	else
		vt_vm_open(&vm, tc->mode, guests[tc->mode], 0, 0);
	memcpy(vm.ram + VT_DATA, "Hello!", 6);
	const struct stop *x = &tour[tc->index];
	assert_true(vc_target()->ops->caps & stop_cap(x)); /* the case's caps include its own kind */
	unsigned kept = keep_deliverable_stops(&vm, tc->mode);
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, NULL);
	vt_wait_stopped(c);
	/* STARTUP, the deliverable tour stops in guest order, the final OUT to 0xf0; the case finds its exit by address */
	assert_int_equal(c->n, 1 + kept + 1);
	assert_int_equal(c->log[c->n - 1].ip, vt_addr(&vm, "x_done"));
	const struct vt_exit *e = NULL;
	for (unsigned i = 1; i < c->n; i++) {
		if (i > 1)
			assert_true(c->log[i].ip > c->log[i - 1].ip);
		if (c->log[i].ip == vt_addr(&vm, x->label))
			e = &c->log[i];
	}
	assert_non_null(e);
	print_message("%s: reason %#x ip %#llx len %llu q1 %#llx q2 %#llx\n", x->label, e->reason,
	              (unsigned long long)e->ip, (unsigned long long)e->ip_len, (unsigned long long)e->qual_primary,
	              (unsigned long long)e->qual_secondary);
	assert_int_equal(e->reason, vc_svm() ? svm_code(x->kind) : vmx_code(x->kind));
	assert_int_equal(e->ip, vt_addr(&vm, x->label));
	if (x->kind == NPF_R || x->kind == NPF_W) {
		if (vc_target()->ops->caps & VMSIM_CAP_EXIT_MMIO_DECODE)
			assert_int_equal(e->ip_len, x->len[tc->mode]);
		check_npf(x, e, tc->mode);
	} else {
		assert_int_equal(e->ip_len, x->len[tc->mode]);
	}
	if (x->kind == IO)
		check_io(x, e, tc->mode);
	if (x->kind == RDMSR || x->kind == WRMSR) {
		assert_int_equal(e->qual_primary, vc_svm() && x->kind == WRMSR ? 1 : 0); /* SVM EXITINFO1 */
		assert_int_equal(e->cx & 0xffffffff, x->kind == RDMSR ? 0xc0000080u : 0x174);
	}
	if (x->kind == CPUID)
		assert_int_equal(e->cx & 0xffffffff, 7); /* the subleaf the guest asked for */
	if (x->kind != IO && x->kind != NPF_R && x->kind != NPF_W && x->kind != WRMSR) {
		assert_int_equal(e->qual_primary, 0);
		assert_int_equal(e->qual_secondary, 0);
	}
	vt_vm_close(&vm);
}

#define CASES(m, M)                                                                              \
	static const struct tour_case m##0 = { M, 0 }, m##1 = { M, 1 }, m##2 = { M, 2 }, m##3 = { M, 3 },  \
	                              m##4 = { M, 4 }, m##5 = { M, 5 }, m##6 = { M, 6 }, m##7 = { M, 7 },  \
	                              m##8 = { M, 8 }, m##9 = { M, 9 }, m##10 = { M, 10 }, m##11 = { M, 11 }, \
	                              m##12 = { M, 12 }, m##13 = { M, 13 }, m##14 = { M, 14 },               \
	                              m##15 = { M, 15 }, m##16 = { M, 16 }
CASES(rm, VT_REAL);
CASES(pm, VT_PROT);
CASES(lm, VT_LONG);

/*
 * The tour reports (IN, then OUT of its value) and ends (OUT 0xf0) through ports, so every case needs port
 * I/O and its mode; beyond that only its own exit kind (stops of missing kinds become NOPs, see above).
 */
#define TOUR_BASE VMSIM_CAP_EXIT_IO
#define T(sec, name, mode, c, cap) { sec, name, TOUR_BASE | VMSIM_CAP_MODE_##mode | (cap), tour_exit, &c }
#define MODE_CASES(sec, pfx, v, mode) \
	T(sec, pfx "out_imm_byte", mode, v##0, 0), \
	T(sec, pfx "out_dx_word", mode, v##1, 0), \
	T(sec, pfx "in_imm_byte", mode, v##2, 0), \
	T(sec, pfx "out_imm_echoes_in_value", mode, v##3, 0), \
	T(sec, pfx "in_dx_dword", mode, v##4, 0), \
	T(sec, pfx "outsb", mode, v##5, VMSIM_CAP_EXIT_IO_STRING), \
	T(sec, pfx "rep_outsw", mode, v##6, VMSIM_CAP_EXIT_IO_STRING), \
	T(sec, pfx "rep_insb", mode, v##7, VMSIM_CAP_EXIT_IO_STRING), \
	T(sec, pfx "cpuid", mode, v##8, VMSIM_CAP_EXIT_CPUID), \
	T(sec, pfx "rdtsc", mode, v##9, VMSIM_CAP_EXIT_RDTSC), \
	T(sec, pfx "rdtscp", mode, v##10, VMSIM_CAP_EXIT_RDTSCP), \
	T(sec, pfx "rdmsr", mode, v##11, VMSIM_CAP_EXIT_MSR), \
	T(sec, pfx "wrmsr", mode, v##12, VMSIM_CAP_EXIT_MSR), \
	T(sec, pfx "vmcall", mode, v##13, VMSIM_CAP_EXIT_VMCALL), \
	T(sec, pfx "mmio_read_npf", mode, v##14, VMSIM_CAP_EXIT_NPF), \
	T(sec, pfx "mmio_write_npf", mode, v##15, VMSIM_CAP_EXIT_NPF), \
	T(sec, pfx "hlt", mode, v##16, VMSIM_CAP_EXIT_HLT)

static const struct vc_test tests[] = {
	MODE_CASES("exits", "real_", rm, REAL),
	MODE_CASES("exits", "prot_", pm, PROTECTED),
	MODE_CASES("exits", "long_", lm, LONG),
};

struct vc_test_list vc_exit_tour_tests(void)
{
	return VC_LIST(tests);
}
