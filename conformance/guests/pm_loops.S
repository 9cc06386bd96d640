/* pm_loops.S - loops for stop, unmap and two-vCPU tests (32-bit flat, load 0x10000). */
	.code32
	.text
x_out_loop:
	outb	%al, $0x10		/* an exit per iteration */
	jmp	x_out_loop
x_spin:
	jmp	x_spin			/* no exits at all */
x_read_loop:
	mov	0x200000, %eax		/* reads a page another thread unmaps */
	jmp	x_read_loop
x_count:
	incl	(%edi)			/* ECX times: this vCPU's counter at EDI */
	loop	x_count
x_wait_other:
	cmpl	%edx, (%esi)		/* until the other vCPU's counter (ESI) reaches EDX */
	jne	x_wait_other
	outb	%al, $0xf0
x_count_done:
	jmp	x_count_done
x_write_ro:
	movl	$1, 0x30000		/* the test maps this page read-only */
x_jump_nx:
	jmp	*%ebx			/* EBX = an address in a non-executable page */
/* The same loops, announced: a 1 at EDI first tells the test the vCPU is in the guest (a handshake, no sleep). */
x_flag_spin:
	movl	$1, (%edi)
	jmp	x_spin
x_flag_read_loop:
	movl	$1, (%edi)
	jmp	x_read_loop
