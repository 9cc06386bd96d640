/* pm_exits.S - 32-bit protected-mode tour of the exits; flat segments, load at 0x10000 (no absolute labels). */
	.code32
	.include "exits.inc"
x_mmio_read:
	mov	0x20(%ebx), %ax		/* NPF read gpa 0xe0000020, size 2 */
x_mmio_write:
	movl	$0xdeadbeef, 0x40(%ebx)	/* NPF write gpa 0xe0000040, size 4 */
x_hlt:
	hlt
x_done:
	outb	%al, $0xf0
	jmp	x_done
