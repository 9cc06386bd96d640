/* tools/vmsim/tests/pc_test.c - vmsim run's PC devices (run_vmm_pc.c): the PICs as the guest programs them, PIT
 * channel 0 on IRQ 0 against a clock the test sets, the read-back command, the CMOS memory sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "run_vmm_internal.h"

enum { NS = 1000000000, Y2K = 946684800 /* 2000-01-01 00:00:00 UTC */ };

static void out(struct vmm_pc *pc, uint16_t port, uint8_t value, uint64_t now)
{
	assert_true(vmm_pc_out(pc, port, value, now));
}

static uint8_t in(struct vmm_pc *pc, uint16_t port, uint64_t now)
{
	uint8_t v = 0;
	assert_true(vmm_pc_in(pc, port, now, &v));
	return v;
}

/* What SeaBIOS and Linux write: ICW1 0x11, vector bases 0x08/0x70 (or 0x20/0x28), cascade on IRQ 2, ICW4 0x01. */
static void pic_init(struct vmm_pc *pc, uint8_t master_base, uint8_t slave_base)
{
	out(pc, 0x20, 0x11, 0);
	out(pc, 0xa0, 0x11, 0);
	out(pc, 0x21, master_base, 0);
	out(pc, 0xa1, slave_base, 0);
	out(pc, 0x21, 0x04, 0);
	out(pc, 0xa1, 0x02, 0);
	out(pc, 0x21, 0x01, 0);
	out(pc, 0xa1, 0x01, 0);
	out(pc, 0x21, 0x00, 0);
	out(pc, 0xa1, 0x00, 0);
}

static void nothing_before_the_guest_initialises_the_pic(void **unused)
{
	(void)unused;
	struct vmm_pc pc;
	vmm_pc_init(&pc, 16 << 20, 0, Y2K);
	vmm_pc_raise(&pc, 0);
	assert_false(vmm_pc_pic_ready(&pc));
	assert_int_equal(vmm_pc_pending_vector(&pc), -1);
	assert_int_equal(vmm_pc_acknowledge(&pc), -1);
	out(&pc, 0x20, 0x11, 0); /* mid-sequence: still nothing */
	out(&pc, 0x21, 0x08, 0);
	assert_false(vmm_pc_pic_ready(&pc));
}

static void acknowledge_and_eoi(void **unused)
{
	(void)unused;
	struct vmm_pc pc;
	vmm_pc_init(&pc, 16 << 20, 0, Y2K);
	pic_init(&pc, 0x08, 0x70);
	assert_true(vmm_pc_pic_ready(&pc));
	vmm_pc_raise(&pc, 1);
	vmm_pc_raise(&pc, 0);
	assert_int_equal(vmm_pc_pending_vector(&pc), 0x08); /* IRQ 0 first: fixed priority */
	assert_int_equal(vmm_pc_acknowledge(&pc), 0x08);
	assert_int_equal(vmm_pc_pending_vector(&pc), -1); /* IRQ 1 waits below IRQ 0 in service */
	out(&pc, 0x20, 0x0b, 0);                           /* OCW3: read ISR */
	assert_int_equal(in(&pc, 0x20, 0), 0x01);
	out(&pc, 0x20, 0x0a, 0);                           /* OCW3: read IRR */
	assert_int_equal(in(&pc, 0x20, 0), 0x02);
	vmm_pc_raise(&pc, 0);
	assert_int_equal(vmm_pc_pending_vector(&pc), -1); /* the same level is not nested either */
	out(&pc, 0x20, 0x20, 0);                           /* non-specific EOI */
	assert_int_equal(vmm_pc_acknowledge(&pc), 0x08);   /* the IRQ 0 latched meanwhile */
	out(&pc, 0x20, 0x60, 0);                           /* specific EOI, level 0 */
	assert_int_equal(vmm_pc_acknowledge(&pc), 0x09);
	out(&pc, 0x20, 0x20, 0);
	assert_int_equal(vmm_pc_pending_vector(&pc), -1);
}

static void mask_latches_but_holds_back(void **unused)
{
	(void)unused;
	struct vmm_pc pc;
	vmm_pc_init(&pc, 16 << 20, 0, Y2K);
	pic_init(&pc, 0x20, 0x28);
	out(&pc, 0x21, 0x01, 0); /* IRQ 0 masked */
	assert_int_equal(in(&pc, 0x21, 0), 0x01);
	vmm_pc_raise(&pc, 0);
	assert_int_equal(vmm_pc_pending_vector(&pc), -1);
	out(&pc, 0x21, 0x00, 0);
	assert_int_equal(vmm_pc_pending_vector(&pc), 0x20);
}

static void slave_through_the_cascade(void **unused)
{
	(void)unused;
	struct vmm_pc pc;
	vmm_pc_init(&pc, 16 << 20, 0, Y2K);
	pic_init(&pc, 0x08, 0x70);
	vmm_pc_raise(&pc, 8);
	assert_int_equal(vmm_pc_pending_vector(&pc), 0x70);
	out(&pc, 0x21, 0x04, 0); /* the cascade input masked on the master */
	assert_int_equal(vmm_pc_pending_vector(&pc), -1);
	out(&pc, 0x21, 0x00, 0);
	assert_int_equal(vmm_pc_acknowledge(&pc), 0x70);
	out(&pc, 0x20, 0x0b, 0);
	assert_int_equal(in(&pc, 0x20, 0), 0x04); /* the master has IRQ 2 in service */
	out(&pc, 0xa0, 0x0b, 0);
	assert_int_equal(in(&pc, 0xa0, 0), 0x01);
	vmm_pc_raise(&pc, 3);
	assert_int_equal(vmm_pc_pending_vector(&pc), -1); /* below IRQ 2 in service */
	vmm_pc_raise(&pc, 0);
	assert_int_equal(vmm_pc_pending_vector(&pc), 0x08); /* above it */
	out(&pc, 0xa0, 0x20, 0);
	out(&pc, 0x20, 0x20, 0);
	assert_int_equal(vmm_pc_acknowledge(&pc), 0x08);
}

static void auto_eoi(void **unused)
{
	(void)unused;
	struct vmm_pc pc;
	vmm_pc_init(&pc, 16 << 20, 0, Y2K);
	out(&pc, 0x20, 0x13, 0); /* single, ICW4 */
	out(&pc, 0x21, 0x30, 0);
	out(&pc, 0x21, 0x03, 0); /* AEOI */
	vmm_pc_raise(&pc, 0);
	assert_int_equal(vmm_pc_acknowledge(&pc), 0x30);
	vmm_pc_raise(&pc, 0);
	assert_int_equal(vmm_pc_pending_vector(&pc), 0x30); /* nothing stayed in service */
}

/* Channel 0 in mode 2 with count n: IRQ 0 at start + k*n ticks of 1.193182 MHz; missed periods coalesce. */
static void pit_periodic_irq0(void **unused)
{
	(void)unused;
	struct vmm_pc pc;
	uint64_t t0 = 5ull * NS;
	vmm_pc_init(&pc, 16 << 20, 0, Y2K);
	pic_init(&pc, 0x08, 0x70);
	assert_int_equal(vmm_pc_next_irq(&pc), UINT64_MAX); /* not programmed */
	out(&pc, 0x43, 0x34, t0);                            /* channel 0, lo/hi, mode 2 */
	out(&pc, 0x40, 0x9c, t0);                            /* 11932 = 0x2e9c: 10 ms */
	assert_int_equal(vmm_pc_next_irq(&pc), UINT64_MAX);  /* counting starts with the high byte */
	out(&pc, 0x40, 0x2e, t0);
	uint64_t due = vmm_pc_next_irq(&pc);
	assert_in_range(due, t0 + 10000000 - 1000, t0 + 10000000 + 1000);
	vmm_pc_tick(&pc, due - 1);
	assert_int_equal(vmm_pc_pending_vector(&pc), -1);
	vmm_pc_tick(&pc, due);
	assert_int_equal(vmm_pc_acknowledge(&pc), 0x08);
	out(&pc, 0x20, 0x20, 0);
	vmm_pc_tick(&pc, due + 35000000); /* three more periods passed: one request */
	assert_int_equal(vmm_pc_acknowledge(&pc), 0x08);
	out(&pc, 0x20, 0x20, 0);
	assert_int_equal(vmm_pc_pending_vector(&pc), -1);
	uint64_t next = vmm_pc_next_irq(&pc);
	assert_in_range(next, t0 + 50000000 - 1000, t0 + 50000000 + 1000);
	out(&pc, 0x21, 0x01, 0); /* IRQ 0 masked: nothing to wake the vCPU for */
	assert_int_equal(vmm_pc_next_irq(&pc), UINT64_MAX);
}

static void pit_one_shot_and_control_word(void **unused)
{
	(void)unused;
	struct vmm_pc pc;
	vmm_pc_init(&pc, 16 << 20, 0, Y2K);
	pic_init(&pc, 0x20, 0x28);
	out(&pc, 0x43, 0x30, 0); /* mode 0 */
	out(&pc, 0x40, 0x00, 0);
	out(&pc, 0x40, 0x01, 0); /* 256 ticks */
	uint64_t due = vmm_pc_next_irq(&pc);
	assert_true(due > 0 && due < UINT64_MAX);
	vmm_pc_tick(&pc, due + NS); /* long after: one edge */
	assert_int_equal(vmm_pc_acknowledge(&pc), 0x20);
	out(&pc, 0x20, 0x20, 0);
	assert_int_equal(vmm_pc_next_irq(&pc), UINT64_MAX);
	vmm_pc_tick(&pc, due + 2ull * NS);
	assert_int_equal(vmm_pc_pending_vector(&pc), -1);
	out(&pc, 0x43, 0x34, NS); /* a control word stops the count until it is written */
	vmm_pc_tick(&pc, 10ull * NS);
	assert_int_equal(vmm_pc_pending_vector(&pc), -1);
}

/* Read-back (SeaBIOS's timer read: 0xd2 then two reads of port 0x40) latches the count at that moment. */
static void pit_read_back(void **unused)
{
	(void)unused;
	struct vmm_pc pc;
	vmm_pc_init(&pc, 16 << 20, 0, Y2K);
	out(&pc, 0x43, 0x34, 0);
	out(&pc, 0x40, 0x00, 0);
	out(&pc, 0x40, 0x00, 0); /* 65536 */
	uint64_t t = 1000000;    /* 1 ms: 1193 ticks */
	out(&pc, 0x43, 0xd2, t);
	uint16_t count = in(&pc, 0x40, 5 * t);
	count |= (uint16_t)(in(&pc, 0x40, 9 * t) << 8);
	assert_in_range(count, 65536 - 1194, 65536 - 1192);
	out(&pc, 0x43, 0xe2, t); /* status only */
	assert_int_equal(in(&pc, 0x40, t) & 0x3f, 0x34);
	out(&pc, 0x43, 0x00, t); /* counter latch command */
	uint16_t again = in(&pc, 0x40, 2 * t);
	again |= (uint16_t)(in(&pc, 0x40, 2 * t) << 8);
	assert_int_equal(again, count);
}

static void cmos_memory_sizes(void **unused)
{
	(void)unused;
	struct vmm_pc pc;
	vmm_pc_init(&pc, 128ull << 20, 0, Y2K);
	out(&pc, 0x70, 0x34, 0);
	uint16_t above16 = in(&pc, 0x71, 0);
	out(&pc, 0x70, 0x35, 0);
	above16 |= (uint16_t)(in(&pc, 0x71, 0) << 8);
	assert_int_equal(above16, (128 - 16) * 16); /* 64 KiB units */
	out(&pc, 0x70, 0x8a, 0);                     /* NMI-disable bit ignored, register A */
	assert_int_equal(in(&pc, 0x71, 0) & 0x80, 0); /* no update in progress */
	uint8_t unused_port;
	assert_false(vmm_pc_in(&pc, 0x3f8, 0, &unused_port));
}

/* The RTC runs from the wall clock it was given, on the device clock (BCD, 24-hour as the firmware left it). */
static void rtc_follows_the_device_clock(void **unused)
{
	(void)unused;
	struct vmm_pc pc;
	vmm_pc_init(&pc, 16 << 20, 7 * (uint64_t)NS, Y2K);
	out(&pc, 0x70, 0x32, 7ull * NS);
	assert_int_equal(in(&pc, 0x71, 7ull * NS), 0x20); /* century */
	out(&pc, 0x70, 0x09, 7ull * NS);
	assert_int_equal(in(&pc, 0x71, 7ull * NS), 0x00); /* year 00 */
	uint64_t later = (7 + 3600 + 61) * (uint64_t)NS;
	out(&pc, 0x70, 0x00, later);
	assert_int_equal(in(&pc, 0x71, later), 0x01); /* seconds */
	out(&pc, 0x70, 0x02, later);
	assert_int_equal(in(&pc, 0x71, later), 0x01); /* minutes */
	out(&pc, 0x70, 0x04, later);
	assert_int_equal(in(&pc, 0x71, later), 0x01); /* hours */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nothing_before_the_guest_initialises_the_pic),
		cmocka_unit_test(acknowledge_and_eoi),
		cmocka_unit_test(mask_latches_but_holds_back),
		cmocka_unit_test(slave_through_the_cascade),
		cmocka_unit_test(auto_eoi),
		cmocka_unit_test(pit_periodic_irq0),
		cmocka_unit_test(pit_one_shot_and_control_word),
		cmocka_unit_test(pit_read_back),
		cmocka_unit_test(cmos_memory_sizes),
		cmocka_unit_test(rtc_follows_the_device_clock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
