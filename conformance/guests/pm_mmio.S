/* pm_mmio.S - MMIO reads in the forms a VMM must answer (32-bit flat, load 0x10000): the VMM writes each */
/* x_* read's destination; the guest then reports every register on port 0x30 (outl) and ends on 0xf0. */
	.code32
	.text
start:
	mov	$0xe0000000, %ebx
	mov	$0x11111111, %eax
	mov	$0x22222222, %ecx
	mov	$0x33333333, %edx
	mov	$0x44444444, %esi
	mov	$0x55555555, %edi
x_mov_al:
	mov	0x10(%ebx), %al		/* 8a 43 10: plain MOV, 1 byte, merges into EAX */
x_mov_dx:
	mov	0x20(%ebx), %dx		/* 66 8b 53 20: plain MOV, 2 bytes, merges into EDX */
x_mov_ecx:
	mov	0x30(%ebx), %ecx	/* 8b 4b 30: plain MOV, 4 bytes */
x_mov_ah:
	mov	0x40(%ebx), %ah		/* 8a 63 40: the high byte of AX */
x_movzx_esi:
	movzbl	0x50(%ebx), %esi	/* 0f b6 73 50: zero-extends one byte */
x_add_edi:
	add	0x60(%ebx), %edi	/* 03 7b 60: arithmetic with the read value */
	outl	%eax, $0x30
x_moffs_eax:
	mov	0xe0000070, %eax	/* a1 70 00 00 e0: the moffs form, 4 bytes */
	outl	%eax, $0x30
	mov	%ecx, %eax
	outl	%eax, $0x30
	mov	%edx, %eax
	outl	%eax, $0x30
	mov	%esi, %eax
	outl	%eax, $0x30
	mov	%edi, %eax
	outl	%eax, $0x30
x_done:
	outb	%al, $0xf0
	jmp	x_done
