/* rm_events.S - real-mode handlers for injection through the IVT; load at 0x10000, CS = 0x1000. */
	.code16
	.text
x_main:
	sti
x_ready1:
	outb	%al, $0xf1
x_ready2:
	outb	%al, $0xf1
x_ready3:
	outb	%al, $0xf1
x_swint:
	int	$0x80
x_after:
	outb	%al, $0xf0
	jmp	x_after
x_isr_20:
	push	%ax
	mov	$0x20, %al
	outb	%al, $0x30
	pop	%ax
	iret
x_isr_nmi:
	push	%ax
	mov	$0x02, %al
	outb	%al, $0x30
	pop	%ax
	iret
x_isr_80:
	push	%ax
	mov	$0x80, %al
	outb	%al, $0x30
	pop	%ax
	iret
/* #GP: the IP its frame holds (port 0x31), then 0x0d (port 0x30); it does not return to the faulting INT */
x_isr_gp:
	mov	%sp, %bp
	mov	(%bp), %ax
	outw	%ax, $0x31
	mov	$0x0d, %al
	outb	%al, $0x30
	jmp	x_after
/* #DF: reports 0x08 and does not return (a #DF here would otherwise loop through the INT) */
x_isr_df:
	mov	$0x08, %al
	outb	%al, $0x30
	jmp	x_after
