/* rm_smp_smc.S - code patched by another vCPU: vCPU 0 runs a real-mode subroutine and halts; vCPU 1 (started at
 * x_patcher) writes an OUT over two of its NOPs and halts; vCPU 0, resumed past its HLT, calls it again and the
 * new OUT must exit. Load at 0x10000, CS = DS = 0x1000, IP = 0; x_* labels are where exits must be. */
	.code16
	.text
start:
	cli
	mov	%cs, %ax
	mov	%ax, %ds
	mov	%ax, %ss
	mov	$0x8000, %sp
	call	sub
x_wait:
	hlt				/* the VMM runs vCPU 1 now, then resumes this one past the HLT */
	call	sub
x_hlt:
	hlt

x_patcher:
	mov	%cs, %ax
	mov	%ax, %ds
	movw	$0x31e6, patch		/* out %al, $0x31 over the two NOPs vCPU 0 already ran */
x_patched:
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
