/* rm_switch.S - a guest that switches modes by itself: real -> protected (far jump above 64 KiB) -> long mode
 * with page tables it builds itself, patching its own code on the way. Load at 0x10000, CS = 0x1000, IP = 0.
 * Reports progress with OUT 0x30 (1 real, 2 protected, 3 long); x_* labels are the exits the tests expect.
 * A VMM that resumes past the first HLT sees the way back: long -> compatibility mode -> paging off (long mode
 * deactivates) -> EFER.LME cleared -> 32-bit protected (5) -> 16-bit protected -> real mode (6) -> HLT. */
	.set	LOAD, 0x10000
	.set	PT, 0x70000		/* PML4, PDPT, PD: 4 KiB each, the guest writes them */
	.code16
	.text
start:
	cli
	mov	%cs, %ax
	mov	%ax, %ds
	mov	$1, %al
x_rm_report:
	outb	%al, $0x30
	lgdtl	gdtr - start		/* DS = CS: the offset is the label's */
	mov	%cr0, %eax
	or	$1, %eax
	mov	%eax, %cr0
	/* 66 ea: a 32-bit far jump from 16-bit code; the target lies above 64 KiB */
	ljmpl	$0x08, $(LOAD + pm32 - start)

	.balign	8
gdt:	.quad	0
	.quad	0x00cf9b000000ffff	/* 0x08: 32-bit code, flat */
	.quad	0x00cf93000000ffff	/* 0x10: data, flat */
	.quad	0x00af9b000000ffff	/* 0x18: 64-bit code */
	.quad	0x00009b010000ffff	/* 0x20: 16-bit code, base LOAD */
	.quad	0x000093000000ffff	/* 0x28: 16-bit data, flat 64 KiB */
gdtr:	.word	47
	.long	LOAD + gdt - start

	.code32
pm32:
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	$0x9000, %esp
	mov	$2, %al
x_pm_report:
	outb	%al, $0x30
	/* self-modifying code: the first pass runs two NOPs, then writes `out %al, $0x32` over them */
	mov	$2, %ecx
	mov	$0x5a, %al
smc_loop:
x_smc:
	nop
	nop
	movw	$0x32e6, (LOAD + x_smc - start)
	loop	smc_loop
	/* identity map of the first 2 MiB: PML4[0] -> PDPT, PDPT[0] -> PD, PD[0] = 2 MiB page, P|RW|PS */
	mov	$PT, %edi
	xor	%eax, %eax
	mov	$(3 * 1024), %ecx
	rep stosl
	movl	$(PT + 0x1000 + 3), PT
	movl	$(PT + 0x2000 + 3), PT + 0x1000
	movl	$0x83, PT + 0x2000
	mov	%cr4, %eax
	or	$0x20, %eax		/* PAE */
	mov	%eax, %cr4
	mov	$PT, %eax
	mov	%eax, %cr3
	mov	$0xc0000080, %ecx	/* EFER.LME */
x_rdmsr:
	rdmsr
	or	$0x100, %eax
x_wrmsr:
	wrmsr
	mov	%cr0, %eax
	or	$0x80000000, %eax	/* PG: long mode becomes active */
	mov	%eax, %cr0
	ljmp	$0x18, $(LOAD + lm64 - start)

	.code64
lm64:
	mov	$3, %al
x_lm_report:
	outb	%al, $0x30
	mov	$0x123456789, %rax	/* only a 64-bit engine keeps the upper half */
	shr	$32, %rax
	add	$3, %al			/* 4 */
x_lm_report2:
	outb	%al, $0x30
x_hlt:
	hlt
	/* the way back (SDM 9.8.5.4, 9.9.2): a far jump through memory to 32-bit code, compatibility mode */
	ljmpl	*(LOAD + back_ptr - start)
back_ptr:
	.long	LOAD + pm_back - start
	.word	0x08

	.code32
pm_back:
	mov	%cr0, %eax
	and	$0x7fffffff, %eax	/* PG off: long mode deactivates (EFER.LMA = 0) */
	mov	%eax, %cr0
	mov	$0xc0000080, %ecx
	xor	%eax, %eax
	xor	%edx, %edx
x_wrmsr_back:
	wrmsr				/* EFER.LME = 0 */
	mov	$5, %al
x_pm_back_report:
	outb	%al, $0x30
	ljmp	$0x20, $(pm16 - start)	/* 16-bit protected mode, CS base LOAD */

	.code16
pm16:
	mov	$0x28, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%cr0, %eax
	and	$0xfffffffe, %eax	/* PE off: real mode */
	mov	%eax, %cr0
	ljmp	$0x1000, $(rm_back - start)
rm_back:
	mov	%cs, %ax
	mov	%ax, %ds
	mov	%ax, %ss
	mov	$6, %al
x_rm_back_report:
	outb	%al, $0x30
x_hlt_back:
	hlt
