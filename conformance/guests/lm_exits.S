/* lm_exits.S - 64-bit long-mode tour of the exits; flat, load at 0x10000, position independent. */
	.code64
	.include "exits.inc"
x_mmio_read:
	mov	0x20(%rbx), %ax
x_mmio_write:
	movq	$-0x21524111, 0x40(%rbx)	/* NPF write gpa 0xe0000040, size 8, 0xffffffffdeadbeef */
x_hlt:
	hlt
x_done:
	outb	%al, $0xf0
	jmp	x_done
