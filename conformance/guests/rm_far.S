/* rm_far.S - far returns in real mode under a CS base other than 0: RETF, RETF imm16 and the 32-bit RETF after far
 * calls, then a RETF into another segment. Load at 0x10000, CS = DS = 0x1000, IP = 0; x_* labels are where exits
 * must be, each OUT reports what the return left behind. */
	.code16
	.text
start:
	mov	%cs, %ax
	mov	%ax, %ds
	mov	%ax, %ss
	mov	$0xf000, %sp
	lcall	$0x1000, $far_sub		/* RETF */
x_ret:
	outb	%al, $0x30
	pushw	$0x5555				/* popped by RETF 2 */
	lcall	$0x1000, $far_sub_imm
x_ret_imm:
	outb	%al, $0x31
	mov	%sp, %ax			/* 0xf000 again: the imm16 released the pushed word */
	mov	%ah, %al
x_sp:
	outb	%al, $0x34
	lcalll	$0x1000, $far_sub32		/* 32-bit far call and RETF: 8 bytes */
x_ret32:
	outb	%al, $0x32
	mov	%sp, %ax
	mov	%ah, %al
x_sp32:
	outb	%al, $0x35
	pushw	$0x0fff				/* the same code, reached through CS 0x0fff: IP 16 higher */
	pushw	$(x_other_seg + 0x10)
	lret
x_other_seg:
	mov	%cs, %ax
	outb	%al, $0x33
x_hlt:
	hlt
far_sub:
	mov	$0x41, %al
	lret
far_sub_imm:
	mov	$0x42, %al
	lret	$2
far_sub32:
	mov	$0x43, %al
	lretl
