/* pm_events.S - handlers and waiting points for injection, windows and faults (32-bit, load 0x10000). */
/* Each handler reports its vector on port 0x30 (and an error code on 0x31), then returns: events.inc. */
	.code32
	.set	GUEST_BITS, 32
	.include "events.inc"
