/* rm_switch.S - a guest that switches modes by itself: real -> protected (far jump above 64 KiB) -> long mode
 * with page tables it builds itself, patching its own code on the way. Load at 0x10000, CS = 0x1000, IP = 0.
 * Reports progress with OUT 0x30 (1 real, 2 protected, 3 long); x_* labels are the exits the tests expect. */
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
gdtr:	.word	31
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
