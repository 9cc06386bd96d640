/* pm_paging.S - a protected-mode guest that builds 32-bit page tables and pages with them: a linear page on
 * other physical memory (read, written, executed), #PF handled by the guest (CR2, error code), a page table
 * in memory that may be unattached. Load at 0x10000, flat segments, IDT vector 14 -> x_pf_handler.
 * Reports with OUT 0x30 (32-bit); x_* labels are the exits the tests expect. */
	.set	LOAD, 0x10000
	.set	PD, 0x50000		/* page directory; PT0 identity 0-1 MiB, PT1 for linear 4-8 MiB */
	.set	PT0, 0x51000
	.set	PT1, 0x52000
	.set	PD2, 0x53000		/* a second directory: linear 4 MiB -> PT2 */
	.set	PT2, 0x54000
	.set	WALK_PT, 0xb0000	/* PD[3]'s page table (linear 12-16 MiB): unattached in the walk test */
	.code32
	.text
start:
	/* PT0: identity map of the first MiB, P|RW */
	mov	$PT0, %edi
	mov	$3, %eax
	mov	$256, %ecx
1:	mov	%eax, (%edi)
	add	$0x1000, %eax
	add	$4, %edi
	loop	1b
	/* PT1: 0x400000 -> 0x30000 RW, 0x401000 -> 0x31000 RW, 0x402000 -> 0x32000 RO, 0x403000 -> 0x33000 RW */
	movl	$(0x30000 | 3), PT1
	movl	$(0x31000 | 3), PT1 + 4
	movl	$(0x32000 | 1), PT1 + 8
	movl	$(0x33000 | 3), PT1 + 12
	movl	$(PT0 | 3), PD
	movl	$(PT1 | 3), PD + 4
	movl	$(WALK_PT | 3), PD + 12
	movl	$(PT0 | 3), PD2
	movl	$(PT2 | 3), PD2 + 4
	movl	$(0x35000 | 3), PT2	/* 0x400000 -> 0x35000 under PD2 */
	movl	$0x33333333, 0x33000
	movl	$0x44444444, 0x34000
	movl	$0x55555555, 0x35000
	/* physical memory behind the remapped pages, written unpaged */
	movl	$0x600dcafe, 0x30000
	movl	$0x30e677b0, 0x31000	/* mov $0x77, %al; out %al, $0x30 */
	movb	$0xc3, 0x31004		/* ret */
	mov	$PD, %eax
	mov	%eax, %cr3
	mov	%cr0, %eax
	or	$0x80010000, %eax	/* PG | WP */
	mov	%eax, %cr0
	/* a linear page on other physical memory: read, written, executed */
	mov	0x400000, %eax
x_read:
	out	%eax, $0x30		/* 0x600dcafe */
	movl	$0x12345678, 0x400004	/* lands at physical 0x30004 */
	mov	$0x401000, %eax
	call	*%eax			/* its OUT exits at linear 0x401002 */
	/* a PTE the guest rewrites (a store into its page table), then INVLPG: the new page is seen */
	mov	0x403000, %eax
	out	%eax, $0x30		/* 0x33333333 */
	movl	$(0x34000 | 3), PT1 + 12
	invlpg	0x403000
	mov	0x403000, %eax
	out	%eax, $0x30		/* 0x44444444 */
	/* another address space by CR3, and back */
	mov	$PD2, %eax
	mov	%eax, %cr3
	mov	0x400000, %eax
	out	%eax, $0x30		/* 0x55555555 */
	mov	$PD, %eax
	mov	%eax, %cr3
	/* #PF the guest handles: not present (error code 0), write to read-only with WP (3) */
	movl	$(LOAD + r1 - start), (LOAD + resume - start)
x_pf_absent:
	mov	0x404000, %eax
r1:	movl	$(LOAD + r2 - start), (LOAD + resume - start)
x_pf_readonly:
	movl	$1, 0x402000
r2:	movl	$(LOAD + r3 - start), (LOAD + resume - start)
	/* PD[3]: its page table is at WALK_PT; unattached there, the walk itself is an NPF */
x_walk:
	mov	0xc00000, %eax
r3:
x_hlt:
	hlt

x_pf_handler:
	pop	%eax			/* error code */
	out	%eax, $0x30
	mov	%cr2, %eax
	out	%eax, $0x30
	mov	(LOAD + resume - start), %eax
	mov	%eax, (%esp)		/* return to the next step, not to the faulting access */
	iret

	.balign	4
resume:	.long	0
