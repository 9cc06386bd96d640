/* reset.S - one 4 KiB page for gpa 0xfffff000: the x86 reset vector (CS base 0xffff0000, IP 0xfff0). */
	.code16
	.text
	.org	0xff0
x_reset:
	outb	%al, $0x10		/* first instruction after reset: an exit at IP 0xfff0 */
	hlt
	.org	0x1000
