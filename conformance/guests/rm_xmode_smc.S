/* rm_xmode_smc.S - code patched in another mode: a real-mode subroutine runs, the guest switches to protected
 * mode, writes an OUT over two of the subroutine's NOPs, switches back to real mode and runs it again (the new
 * OUT must exit). Load at 0x10000, CS = DS = 0x1000, IP = 0; x_* labels are where exits must be. */
	.set	LOAD, 0x10000
	.code16
	.text
start:
	cli
	mov	%cs, %ax
	mov	%ax, %ds
	mov	%ax, %ss
	mov	$0x8000, %sp
	call	sub
	lgdtl	gdtr - start
	mov	%cr0, %eax
	or	$1, %eax
	mov	%eax, %cr0
	ljmpl	$0x08, $(LOAD + pm32 - start)

	.balign	8
gdt:	.quad	0
	.quad	0x00cf9b000000ffff	/* 0x08: 32-bit code, flat */
	.quad	0x00cf93000000ffff	/* 0x10: data, flat */
	.quad	0x00009b010000ffff	/* 0x18: 16-bit code, base LOAD */
	.quad	0x000093010000ffff	/* 0x20: 16-bit data, base LOAD */
gdtr:	.word	39
	.long	LOAD + gdt - start

	.code32
pm32:
	mov	$0x10, %ax
	mov	%ax, %ds
	movw	$0x31e6, (LOAD + patch - start)	/* out %al, $0x31 over the NOPs real mode ran */
	ljmp	$0x18, $(pm16 - start)

	.code16
pm16:
	mov	$0x20, %ax
	mov	%ax, %ds
	mov	%ax, %ss
	mov	%cr0, %eax
	and	$0xfffffffe, %eax	/* PE off: real mode */
	mov	%eax, %cr0
	ljmp	$0x1000, $(rm_back - start)
rm_back:
	mov	%cs, %ax
	mov	%ax, %ds
	mov	%ax, %ss
	call	sub
x_hlt:
	hlt
sub:
	mov	$0x41, %al
x_sub_out:
	outb	%al, $0x30
x_patch:
patch:
	nop
	nop
	ret
