/* pm_io.S - every port I/O form x size for the conformance suite (32-bit flat, load 0x10000). */
/* x_* labels are the exiting instructions; the VMM steps over each one. */
	.code32
	.text
start:
	mov	$0x89abcdef, %eax
	mov	$0x3f8, %dx
x_outb_imm:
	outb	%al, $0x10
x_outw_imm:
	outw	%ax, $0x10
x_outl_imm:
	outl	%eax, $0x10
x_outb_dx:
	outb	%al, %dx
x_outw_dx:
	outw	%ax, %dx
x_outl_dx:
	outl	%eax, %dx
x_inb_imm:
	inb	$0x11, %al
x_inw_imm:
	inw	$0x11, %ax
x_inl_imm:
	inl	$0x11, %eax
x_inb_dx:
	inb	%dx, %al
x_inw_dx:
	inw	%dx, %ax
x_inl_dx:
	inl	%dx, %eax
	mov	$0x20000, %esi
x_outsb:
	outsb
x_outsw:
	outsw
x_outsl:
	outsl
	mov	$0x20100, %edi
x_insb:
	insb
x_insw:
	insw
x_insl:
	insl
	mov	$3, %ecx
x_rep_outsb:
	rep outsb
	mov	$3, %ecx
x_rep_outsw:
	rep outsw
	mov	$3, %ecx
x_rep_outsl:
	rep outsl
	mov	$3, %ecx
x_rep_insb:
	rep insb
	mov	$3, %ecx
x_rep_insw:
	rep insw
	mov	$3, %ecx
x_rep_insl:
	rep insl
x_done:
	outb	%al, $0xf0
	jmp	x_done
