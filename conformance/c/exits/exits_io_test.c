/* exits_io_test.c - port I/O exits: IN/OUT x imm/DX x sizes 1/2/4, string and REP string, both encodings. */
#include "../vc.h"

/* The exits of pm_io.S in order; lengths from the instruction encodings (66 = operand-size prefix). */
struct io {
	const char *label;
	uint16_t port;
	uint8_t size, len;
	bool in, string, rep, imm;
	uint32_t value; /* OUT: what rAX holds */
};

static const struct io ios[] = {
	{ "x_outb_imm", 0x10, 1, 2, 0, 0, 0, 1, 0xef },          /* e6 10 */
	{ "x_outw_imm", 0x10, 2, 3, 0, 0, 0, 1, 0xcdef },        /* 66 e7 10 */
	{ "x_outl_imm", 0x10, 4, 2, 0, 0, 0, 1, 0x89abcdef },    /* e7 10 */
	{ "x_outb_dx", 0x3f8, 1, 1, 0, 0, 0, 0, 0xef },          /* ee */
	{ "x_outw_dx", 0x3f8, 2, 2, 0, 0, 0, 0, 0xcdef },        /* 66 ef */
	{ "x_outl_dx", 0x3f8, 4, 1, 0, 0, 0, 0, 0x89abcdef },    /* ef */
	{ "x_inb_imm", 0x11, 1, 2, 1, 0, 0, 1, 0 },              /* e4 11 */
	{ "x_inw_imm", 0x11, 2, 3, 1, 0, 0, 1, 0 },              /* 66 e5 11 */
	{ "x_inl_imm", 0x11, 4, 2, 1, 0, 0, 1, 0 },              /* e5 11 */
	{ "x_inb_dx", 0x3f8, 1, 1, 1, 0, 0, 0, 0 },              /* ec */
	{ "x_inw_dx", 0x3f8, 2, 2, 1, 0, 0, 0, 0 },              /* 66 ed */
	{ "x_inl_dx", 0x3f8, 4, 1, 1, 0, 0, 0, 0 },              /* ed */
	{ "x_outsb", 0x3f8, 1, 1, 0, 1, 0, 0, 0 },               /* 6e */
	{ "x_outsw", 0x3f8, 2, 2, 0, 1, 0, 0, 0 },               /* 66 6f */
	{ "x_outsl", 0x3f8, 4, 1, 0, 1, 0, 0, 0 },               /* 6f */
	{ "x_insb", 0x3f8, 1, 1, 1, 1, 0, 0, 0 },                /* 6c */
	{ "x_insw", 0x3f8, 2, 2, 1, 1, 0, 0, 0 },                /* 66 6d */
	{ "x_insl", 0x3f8, 4, 1, 1, 1, 0, 0, 0 },                /* 6d */
	{ "x_rep_outsb", 0x3f8, 1, 2, 0, 1, 1, 0, 0 },           /* f3 6e */
	{ "x_rep_outsw", 0x3f8, 2, 3, 0, 1, 1, 0, 0 },           /* f3 66 6f */
	{ "x_rep_outsl", 0x3f8, 4, 2, 0, 1, 1, 0, 0 },           /* f3 6f */
	{ "x_rep_insb", 0x3f8, 1, 2, 1, 1, 1, 0, 0 },            /* f3 6c */
	{ "x_rep_insw", 0x3f8, 2, 3, 1, 1, 1, 0, 0 },            /* f3 66 6d */
	{ "x_rep_insl", 0x3f8, 4, 2, 1, 1, 1, 0, 0 },            /* f3 6d */
};

enum { NIO = sizeof ios / sizeof ios[0], IN_VALUE = 0x5a5a5a5a };

static uint64_t mask_of(unsigned size)
{
	return size == 1 ? 0xff : size == 2 ? 0xffff : 0xffffffff;
}

static void io_exit(const void *p)
{
	const struct io *x = p;
	unsigned index = (unsigned)(x - ios);
	struct vt_vm vm;
	vt_vm_open(&vm, VT_PROT, &vt_guest_pm_io, 0, 0);
	struct vt_cpu *c = vt_cpu_start(&vm, NULL, NULL);
	vt_wait_stopped(c);
	assert_int_equal(c->n, 1 + NIO + 1);
	const struct vt_exit *e = &c->log[1 + index];
	assert_int_equal(e->reason, vc_svm() ? 0x7b : 30);
	assert_int_equal(e->ip, vt_addr(&vm, x->label));
	assert_int_equal(e->ip_len, x->len);
	if (vc_svm()) {
		/* EXITINFO1: TYPE, STR, REP, one-hot SZ8/16/32, one-hot A16/A32/A64, SEG (strings), port */
		uint64_t want = (uint64_t)x->in | (uint64_t)x->string << 2 | (uint64_t)x->rep << 3 |
		                (x->size == 1 ? 1u << 4 : x->size == 2 ? 1u << 5 : 1u << 6) | (uint64_t)x->port << 16;
		if (x->string) {
			assert_int_equal(e->qual_primary, want | 1u << 8 | (x->in ? 0u : 3u << 10));
		} else {
			uint64_t q = e->qual_primary & ~(7ull << 10);
			assert_true(q == want || q == (want | 1u << 8));
		}
		assert_int_equal(e->qual_secondary, e->ip + x->len);
	} else {
		uint64_t want = (uint64_t)(x->size - 1) | (uint64_t)x->in << 3 | (uint64_t)x->string << 4 |
		                (uint64_t)x->rep << 5 | (uint64_t)x->imm << 6 | (uint64_t)x->port << 16;
		assert_int_equal(e->qual_primary, want);
		assert_int_equal(e->qual_secondary, 0);
	}
	if (!x->in && !x->string)
		assert_int_equal(e->ax & mask_of(x->size), x->value);
	if (x->in && !x->string) /* the VMM's value reached the guest's rAX before its next exit */
		assert_int_equal(c->log[2 + index].ax & mask_of(x->size), IN_VALUE & mask_of(x->size));
	if (x->rep)
		assert_int_equal(e->cx & 0xffffffff, 3);
	vt_vm_close(&vm);
}

#define IO_CAPS (VMSIM_CAP_MODE_PROTECTED | VMSIM_CAP_EXIT_IO)
#define STR_CAPS (IO_CAPS | VMSIM_CAP_EXIT_IO_STRING)

static const struct vc_test tests[] = {
	{ "io", "outb_imm", IO_CAPS, io_exit, &ios[0] },
	{ "io", "outw_imm", IO_CAPS, io_exit, &ios[1] },
	{ "io", "outl_imm", IO_CAPS, io_exit, &ios[2] },
	{ "io", "outb_dx", IO_CAPS, io_exit, &ios[3] },
	{ "io", "outw_dx", IO_CAPS, io_exit, &ios[4] },
	{ "io", "outl_dx", IO_CAPS, io_exit, &ios[5] },
	{ "io", "inb_imm", IO_CAPS, io_exit, &ios[6] },
	{ "io", "inw_imm", IO_CAPS, io_exit, &ios[7] },
	{ "io", "inl_imm", IO_CAPS, io_exit, &ios[8] },
	{ "io", "inb_dx", IO_CAPS, io_exit, &ios[9] },
	{ "io", "inw_dx", IO_CAPS, io_exit, &ios[10] },
	{ "io", "inl_dx", IO_CAPS, io_exit, &ios[11] },
	{ "io", "outsb", STR_CAPS, io_exit, &ios[12] },
	{ "io", "outsw", STR_CAPS, io_exit, &ios[13] },
	{ "io", "outsl", STR_CAPS, io_exit, &ios[14] },
	{ "io", "insb", STR_CAPS, io_exit, &ios[15] },
	{ "io", "insw", STR_CAPS, io_exit, &ios[16] },
	{ "io", "insl", STR_CAPS, io_exit, &ios[17] },
	{ "io", "rep_outsb", STR_CAPS, io_exit, &ios[18] },
	{ "io", "rep_outsw", STR_CAPS, io_exit, &ios[19] },
	{ "io", "rep_outsl", STR_CAPS, io_exit, &ios[20] },
	{ "io", "rep_insb", STR_CAPS, io_exit, &ios[21] },
	{ "io", "rep_insw", STR_CAPS, io_exit, &ios[22] },
	{ "io", "rep_insl", STR_CAPS, io_exit, &ios[23] },
};

struct vc_test_list vc_exit_io_tests(void)
{
	return VC_LIST(tests);
}
