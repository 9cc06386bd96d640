/*
 * tools/vmsim/run_vmm_pc.c - the PC's timer, clock and interrupt controllers as the default VMM answers them:
 * the i8254 PIT (ports 0x40-0x43, channel 2's gate and output on port 0x61) counting from the host's monotonic
 * clock, the two cascaded i8259A PICs (0x20/0x21, 0xa0/0xa1, edge/level register 0x4d0/0x4d1) with PIT channel 0
 * on IRQ 0, and the MC146818 CMOS RTC/NVRAM (0x70/0x71) with the time of day and the memory sizes QEMU's
 * pc_cmos_init writes. The RTC raises no IRQ 8. run_vmm.c injects what the PICs deliver (docs/vmsim-run.md).
 * Why hand-written: no Debian package offers PIT/PIC/CMOS models as a library (QEMU's are built into its binaries).
 */
#include <time.h>

#include "run_vmm_internal.h"

enum {
	PIT_HZ = 1193182,
	PIT_COUNTER0 = 0x40,
	PIT_MODE_PORT = 0x43,
	PORT_B = 0x61,       /* bit 0 gate 2, bit 1 speaker, bit 4 refresh toggle, bit 5 channel 2 output */
	PIC_MASTER = 0x20,
	PIC_SLAVE = 0xa0,
	PIC_ELCR = 0x4d0,    /* 0x4d0 master, 0x4d1 slave: stored and read back, every input stays edge-triggered */
	PIC_CASCADE_IRQ = 2,
	CMOS_INDEX = 0x70,
	CMOS_DATA = 0x71,
	REFRESH_NS = 15085,  /* the refresh request toggles every 15.085 us */
};

#define NS_PER_S 1000000000ull

uint64_t vmm_pc_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ---- i8254 PIT ------------------------------------------------------------------------------ */

/* PIT input clock ticks since start (split so that the product cannot overflow). */
static uint64_t ticks_since(uint64_t start, uint64_t now)
{
	uint64_t ns = now > start ? now - start : 0;
	return ns / NS_PER_S * PIT_HZ + ns % NS_PER_S * PIT_HZ / NS_PER_S;
}

/* Host ns of PIT tick t after start, rounded up so that ticks_since() then counts t. */
static uint64_t tick_time(uint64_t start, uint64_t t)
{
	return start + t / PIT_HZ * NS_PER_S + (t % PIT_HZ * NS_PER_S + PIT_HZ - 1) / PIT_HZ;
}

static uint64_t period_of(const struct vmm_pit_channel *ch)
{
	return ch->reload ? ch->reload : 0x10000;
}

/* The counting element now and the channel's output (8254 data sheet, modes 0-5; 2/3 periodic). */
static uint16_t pit_count(const struct vmm_pit_channel *ch, uint64_t now, bool *out)
{
	uint64_t reload = period_of(ch), t = ticks_since(ch->start_ns, now);
	if (!ch->counting) {
		*out = ch->mode != 0; /* after a control word: mode 0 output low, the others high */
		return ch->reload;
	}
	switch (ch->mode) {
	case 2:
		*out = t % reload != reload - 1; /* low for the one clock before the reload */
		return (uint16_t)(reload - t % reload);
	case 3: {
		uint64_t half = reload / 2 ? reload / 2 : 1;
		*out = t % reload < (reload + 1) / 2; /* high for the first half of each period */
		return (uint16_t)(reload - 2 * (t % half));
	}
	default: /* 0, 1, 4, 5: one count down, then it wraps and keeps counting */
		*out = t >= reload;
		return (uint16_t)(reload - t);
	}
}

/* Modes whose output rises once per period (2, 3) or once at terminal count (0): the ones that interrupt. */
static bool pit_interrupts(const struct vmm_pit_channel *ch)
{
	return ch->counting && (ch->mode == 0 || ch->mode == 2 || ch->mode == 3);
}

/* Rising edges of the output from start until now: one per period, at most one in mode 0. */
static uint64_t pit_edges(const struct vmm_pit_channel *ch, uint64_t now)
{
	uint64_t edges = ticks_since(ch->start_ns, now) / period_of(ch);
	return ch->mode == 0 && edges > 1 ? 1 : edges;
}

static uint8_t pit_read(struct vmm_pit_channel *ch, uint64_t now)
{
	if (ch->status_latched) {
		ch->status_latched = false;
		return ch->status;
	}
	bool out;
	uint16_t v = ch->latched ? ch->latch : pit_count(ch, now, &out);
	bool high = ch->access == 2 || (ch->access == 3 && ch->read_high);
	if (ch->access == 3)
		ch->read_high = !ch->read_high;
	if (ch->latched && (ch->access != 3 || !ch->read_high))
		ch->latched = false; /* a latch holds until all of its bytes were read */
	return high ? (uint8_t)(v >> 8) : (uint8_t)v;
}

static void pit_write(struct vmm_pit_channel *ch, uint8_t value, uint64_t now)
{
	if (ch->access == 1 || (ch->access == 3 && !ch->write_high)) {
		ch->reload = (ch->reload & 0xff00) | value;
		if (ch->access == 3) {
			ch->write_high = true;
			return; /* counting restarts once the high byte is written */
		}
	} else {
		ch->reload = (uint16_t)((ch->reload & 0x00ff) | (uint16_t)value << 8);
		ch->write_high = false;
	}
	ch->start_ns = now;
	ch->edges = 0;
	ch->counting = true;
}

static void pit_latch_count(struct vmm_pit_channel *ch, uint64_t now)
{
	bool out;
	if (!ch->latched) {
		ch->latch = pit_count(ch, now, &out);
		ch->latched = true;
		ch->read_high = false;
	}
}

/* Read-back (8254): latch the count and/or the status of every selected channel. */
static void pit_read_back(struct vmm_pc *pc, uint8_t value, uint64_t now)
{
	for (unsigned i = 0; i < 3; i++) {
		struct vmm_pit_channel *ch = &pc->pit[i];
		if (!(value & (2u << i)))
			continue;
		if (!(value & 0x20))
			pit_latch_count(ch, now);
		if (!(value & 0x10) && !ch->status_latched) {
			bool out;
			pit_count(ch, now, &out);
			ch->status = (uint8_t)((out ? 0x80 : 0) | (ch->counting ? 0 : 0x40) | ch->access << 4 | ch->mode << 1);
			ch->status_latched = true;
		}
	}
}

static void pit_control(struct vmm_pc *pc, uint8_t value, uint64_t now)
{
	unsigned sel = value >> 6, access = (value >> 4) & 3;
	if (sel == 3) {
		pit_read_back(pc, value, now);
		return;
	}
	struct vmm_pit_channel *ch = &pc->pit[sel];
	if (access == 0) {
		pit_latch_count(ch, now);
		return;
	}
	unsigned mode = (value >> 1) & 7;
	ch->mode = (uint8_t)(mode > 5 ? mode - 4 : mode); /* 6 and 7 are 2 and 3 */
	ch->access = (uint8_t)access;
	ch->read_high = ch->write_high = ch->latched = ch->status_latched = false;
	ch->counting = false; /* until the new count is written */
}

/* ---- i8259A PICs ---------------------------------------------------------------------------- */

static bool cascaded(const struct vmm_pc *pc)
{
	return !pc->pic[0].single;
}

/* The IRQ a chip requests now: the highest-priority unmasked request above its highest level in service. */
static int chip_request(const struct vmm_pic_chip *c, uint8_t extra)
{
	uint8_t req = (uint8_t)((c->irr | extra) & ~c->imr);
	if (!c->initialized || !req)
		return -1;
	int irq = __builtin_ctz(req), in_service = c->isr ? __builtin_ctz(c->isr) : 8;
	return irq < in_service ? irq : -1;
}

/* The slave's INT output, wired to the master's IRQ 2. */
static uint8_t slave_line(const struct vmm_pc *pc)
{
	return cascaded(pc) && chip_request(&pc->pic[1], 0) >= 0 ? 1u << PIC_CASCADE_IRQ : 0;
}

void vmm_pc_raise(struct vmm_pc *pc, unsigned irq)
{
	if (irq < 16)
		pc->pic[irq >> 3].irr |= (uint8_t)(1u << (irq & 7));
}

/* The request the PICs present to the CPU: the master's IRQ in *m, the slave's in *s when it comes through the
 * cascade (else -1); false if there is none. */
static bool presented(const struct vmm_pc *pc, int *m, int *s)
{
	*m = chip_request(&pc->pic[0], slave_line(pc));
	*s = *m == PIC_CASCADE_IRQ && cascaded(pc) ? chip_request(&pc->pic[1], 0) : -1;
	return *m >= 0;
}

int vmm_pc_pending_vector(const struct vmm_pc *pc)
{
	int m, s;
	if (!presented(pc, &m, &s))
		return -1;
	return s >= 0 ? pc->pic[1].base + s : pc->pic[0].base + m;
}

static int chip_acknowledge(struct vmm_pic_chip *c, int irq)
{
	c->irr &= (uint8_t)~(1u << irq);
	if (!c->auto_eoi)
		c->isr |= (uint8_t)(1u << irq);
	return c->base + irq;
}

int vmm_pc_acknowledge(struct vmm_pc *pc)
{
	int m, s;
	if (!presented(pc, &m, &s))
		return -1;
	int vector = chip_acknowledge(&pc->pic[0], m);
	return s >= 0 ? chip_acknowledge(&pc->pic[1], s) : vector;
}

bool vmm_pc_pic_ready(const struct vmm_pc *pc)
{
	return pc->pic[0].initialized;
}

static void pic_command(struct vmm_pic_chip *c, uint8_t value)
{
	if (value & 0x10) { /* ICW1: the initialisation sequence restarts, masks and requests clear */
		*c = (struct vmm_pic_chip){ .elcr = c->elcr, .init_step = 1, .want_icw4 = value & 1, .single = value & 2 };
		return;
	}
	if (value & 0x08) { /* OCW3: which register the command port reads (bit 1 set: bit 0 selects ISR) */
		if (value & 0x02)
			c->read_isr = value & 0x01;
		return;
	}
	switch (value >> 5) { /* OCW2 */
	case 1: /* non-specific EOI */
	case 5: /* rotate on non-specific EOI: priorities stay fixed here, the EOI is the same */
		if (c->isr)
			c->isr &= (uint8_t)(c->isr - 1); /* the highest priority in service: the lowest bit */
		break;
	case 3: /* specific EOI */
	case 7:
		c->isr &= (uint8_t)~(1u << (value & 7));
		break;
	default: /* rotation and priority commands: fixed priority is kept */
		break;
	}
}

static void pic_data(struct vmm_pic_chip *c, uint8_t value)
{
	switch (c->init_step) {
	case 1: /* ICW2: the vector base */
		c->base = value & 0xf8;
		c->init_step = c->single ? (c->want_icw4 ? 3 : 0) : 2;
		break;
	case 2: /* ICW3: cascade wiring, fixed here */
		c->init_step = c->want_icw4 ? 3 : 0;
		break;
	case 3: /* ICW4: auto-EOI */
		c->auto_eoi = value & 0x02;
		c->init_step = 0;
		break;
	default: /* OCW1 */
		c->imr = value;
		return;
	}
	if (c->init_step == 0)
		c->initialized = true;
}

/* ---- MC146818 CMOS ------------------------------------------------------------------------------ */

static uint8_t bcd(unsigned v)
{
	return (uint8_t)((v / 10) << 4 | v % 10);
}

static uint8_t cmos_read(struct vmm_pc *pc, uint64_t now)
{
	unsigned i = pc->cmos_index;
	bool binary = pc->cmos[0x0b] & 0x04;
	time_t t = (time_t)(pc->wall_clock + (int64_t)((now - pc->boot_ns) / NS_PER_S));
	struct tm tm;
	gmtime_r(&t, &tm);
	unsigned v;
	switch (i) {
	case 0x00: v = (unsigned)tm.tm_sec; break;
	case 0x02: v = (unsigned)tm.tm_min; break;
	case 0x04: v = (unsigned)tm.tm_hour; break;
	case 0x06: v = (unsigned)tm.tm_wday + 1; break;
	case 0x07: v = (unsigned)tm.tm_mday; break;
	case 0x08: v = (unsigned)tm.tm_mon + 1; break;
	case 0x09: v = (unsigned)tm.tm_year % 100; break;
	case 0x32: v = (unsigned)(tm.tm_year + 1900) / 100; break;
	case 0x0a: return pc->cmos[0x0a] & 0x7f; /* UIP clear: an update is never in progress */
	case 0x0c: return 0;                      /* no interrupt flags */
	case 0x0d: return 0x80;                   /* VRT: RAM and time valid */
	default: return pc->cmos[i];
	}
	return binary ? (uint8_t)v : bcd(v);
}

/* Memory sizes where PC firmware looks for them (QEMU's pc_cmos_init): KiB below 1 MiB and above it, 64 KiB above
 * 16 MiB and above 4 GiB. */
static void cmos_init(struct vmm_pc *pc, uint64_t ram)
{
	uint64_t below4g = ram < (4ull << 30) ? ram : (4ull << 30), above4g = ram - below4g;
	uint64_t ext = below4g > MIB ? (below4g - MIB) / 1024 : 0;
	uint64_t ext16 = below4g > 16 * MIB ? (below4g - 16 * MIB) >> 16 : 0;
	if (ext > 0xffff)
		ext = 0xffff;
	if (ext16 > 0xffff)
		ext16 = 0xffff;
	pc->cmos[0x0a] = 0x26; /* 32.768 kHz time base, 1.024 kHz rate */
	pc->cmos[0x0b] = 0x02; /* 24-hour, BCD */
	pc->cmos[0x15] = 640 & 0xff;
	pc->cmos[0x16] = 640 >> 8;
	pc->cmos[0x17] = pc->cmos[0x30] = (uint8_t)ext;
	pc->cmos[0x18] = pc->cmos[0x31] = (uint8_t)(ext >> 8);
	pc->cmos[0x34] = (uint8_t)ext16;
	pc->cmos[0x35] = (uint8_t)(ext16 >> 8);
	pc->cmos[0x5b] = (uint8_t)(above4g >> 16);
	pc->cmos[0x5c] = (uint8_t)(above4g >> 24);
	pc->cmos[0x5d] = (uint8_t)(above4g >> 32);
}

/* ---- the board ------------------------------------------------------------------------------------ */

void vmm_pc_init(struct vmm_pc *pc, uint64_t ram, uint64_t now, int64_t wall_clock)
{
	*pc = (struct vmm_pc){ .boot_ns = now, .wall_clock = wall_clock };
	for (unsigned i = 0; i < 3; i++)
		pc->pit[i] = (struct vmm_pit_channel){ .access = 3, .start_ns = now };
	cmos_init(pc, ram);
}

void vmm_pc_tick(struct vmm_pc *pc, uint64_t now)
{
	struct vmm_pit_channel *ch = &pc->pit[0];
	if (!pit_interrupts(ch))
		return;
	uint64_t edges = pit_edges(ch, now);
	if (edges > ch->edges) {
		ch->edges = edges;
		vmm_pc_raise(pc, 0);
	}
}

uint64_t vmm_pc_next_irq(const struct vmm_pc *pc)
{
	const struct vmm_pit_channel *ch = &pc->pit[0];
	if (!vmm_pc_pic_ready(pc) || (pc->pic[0].imr & 1) || !pit_interrupts(ch) || (ch->mode == 0 && ch->edges))
		return UINT64_MAX;
	return tick_time(ch->start_ns, (ch->edges + 1) * period_of(ch));
}

bool vmm_pc_in(struct vmm_pc *pc, uint16_t port, uint64_t now, uint8_t *value)
{
	bool out;
	switch (port) {
	case PIT_COUNTER0:
	case PIT_COUNTER0 + 1:
	case PIT_COUNTER0 + 2:
		*value = pit_read(&pc->pit[port - PIT_COUNTER0], now);
		return true;
	case PIT_MODE_PORT:
	case CMOS_INDEX:
		*value = 0xff; /* write-only */
		return true;
	case PORT_B:
		pit_count(&pc->pit[2], now, &out);
		*value = (uint8_t)((pc->port_b & 0x0f) | ((now / REFRESH_NS) & 1) << 4 |
		                   (uint8_t)(out && (pc->port_b & 1)) << 5);
		return true;
	case PIC_MASTER:
	case PIC_SLAVE: {
		const struct vmm_pic_chip *c = &pc->pic[port == PIC_SLAVE];
		*value = c->read_isr ? c->isr : c->irr;
		return true;
	}
	case PIC_MASTER + 1:
	case PIC_SLAVE + 1:
		*value = pc->pic[port == PIC_SLAVE + 1].imr;
		return true;
	case PIC_ELCR:
	case PIC_ELCR + 1:
		*value = pc->pic[port - PIC_ELCR].elcr;
		return true;
	case CMOS_DATA:
		*value = cmos_read(pc, now);
		return true;
	default:
		return false;
	}
}

bool vmm_pc_out(struct vmm_pc *pc, uint16_t port, uint8_t value, uint64_t now)
{
	switch (port) {
	case PIT_COUNTER0:
	case PIT_COUNTER0 + 1:
	case PIT_COUNTER0 + 2:
		pit_write(&pc->pit[port - PIT_COUNTER0], value, now);
		return true;
	case PIT_MODE_PORT:
		pit_control(pc, value, now);
		return true;
	case PORT_B:
		pc->port_b = value & 0x0f;
		return true;
	case PIC_MASTER:
	case PIC_SLAVE:
		pic_command(&pc->pic[port == PIC_SLAVE], value);
		return true;
	case PIC_MASTER + 1:
	case PIC_SLAVE + 1:
		pic_data(&pc->pic[port == PIC_SLAVE + 1], value);
		return true;
	case PIC_ELCR:
	case PIC_ELCR + 1:
		pc->pic[port - PIC_ELCR].elcr = value;
		return true;
	case CMOS_INDEX:
		pc->cmos_index = value & 0x7f; /* bit 7 masks NMIs: there are none */
		return true;
	case CMOS_DATA:
		if (pc->cmos_index != 0x0c && pc->cmos_index != 0x0d)
			pc->cmos[pc->cmos_index] = value;
		return true;
	default:
		return false;
	}
}
