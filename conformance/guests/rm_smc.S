/* rm_smc.S - self-modifying code: a subroutine runs, is patched with an OUT, runs again, is patched back to NOPs
 * and runs a third time. Load at 0x10000, CS = DS = 0x1000, IP = 0; x_* labels are where exits must be. */
	.code16
	.text
start:
	mov	%cs, %ax
	mov	%ax, %ds
	call	sub
	movw	$0x31e6, patch		/* out %al, $0x31 over the two NOPs (code that already ran) */
	call	sub
	movw	$0x9090, patch		/* and back: the OUT must not exit any more */
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
