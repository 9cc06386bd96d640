/* lm_events.S - the 64-bit twin of pm_events.S: injection, windows and fault handlers (load 0x10000). */
/* The program is events.inc, assembled 64-bit (iretq, the 64-bit stack). */
	.code64
	.set	GUEST_BITS, 64
	.include "events.inc"
