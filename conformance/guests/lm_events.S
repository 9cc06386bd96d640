/* lm_events.S - the 64-bit twin of pm_events.S: injection, windows and fault handlers (load 0x10000). */
/* Each handler reports its vector on port 0x30 (and an error code on 0x31), then returns. */
	.code64
	.text
x_main:
	sti
x_ready1:
	outb	%al, $0xf1		/* the VMM injects one event at each of these */
x_ready2:
	outb	%al, $0xf1
x_ready3:
	outb	%al, $0xf1
x_ready4:
	outb	%al, $0xf1
	cli
x_window_ask:
	outb	%al, $0xf2		/* the VMM asks for an interrupt window; IF = 0 */
	nop
	sti
x_sti_shadow:
	nop				/* still blocked: STI shadow */
x_window_open:
	nop				/* the window opens before this instruction */
x_swint:
	int	$0x80
x_ud:
	ud2				/* #UD delivered through the IDT */
x_after_ud:
	hlt				/* HLT without intercept: idle until an event */
x_after_hlt:
	outb	%al, $0xf0
	jmp	x_after_hlt

x_isr_20:
	push	%rax
	mov	$0x20, %al
	outb	%al, $0x30
	pop	%rax
	iretq
x_isr_nmi:
	push	%rax
	mov	$0x02, %al
	outb	%al, $0x30
	pop	%rax
	iretq
x_isr_gp:
	xchg	%rax, (%rsp)		/* error code */
	outl	%eax, $0x31
	mov	$0x0d, %al
	outb	%al, $0x30
	pop	%rax
	iretq
x_isr_80:
	push	%rax
	mov	$0x80, %al
	outb	%al, $0x30
	pop	%rax
	iretq
x_isr_ud:
	mov	$0x06, %al
	outb	%al, $0x30
	addq	$2, (%rsp)		/* skip the ud2 */
	iretq
