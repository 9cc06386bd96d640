/* pm_alias_smc.S - code patched through another linear address: with paging on, linear 0x400000 and the identity
 * address 0x31000 both map the physical page 0x31000, which holds a subroutine (OUT 0x30, two NOPs, RET). The
 * guest stores next to it through 0x31000 (a writable mapping made before the code runs), calls it at 0x400000,
 * writes an OUT over the NOPs through 0x31000 and calls it at 0x400000 again: the new OUT must exit (the CPU sees
 * stores by physical address, whatever linear address made them). x_smp_main does the same with a HLT where
 * another vCPU, started at x_patcher, makes the store; x_race_reader and x_race_writer with both vCPUs running. Load at 0x10000, flat segments; x_* labels are where exits
 * must be. */
	.set	LOAD, 0x10000
	.set	PD, 0x50000		/* page directory: PT0 identity 0-1 MiB, PT1 for linear 4-8 MiB */
	.set	PT0, 0x51000
	.set	PT1, 0x52000
	.set	SUB, 0x31000		/* the subroutine's physical page */
	.set	ALIAS, 0x400000		/* where the guest calls it */
	.set	NEWCODE, 0x32000	/* what the writer stores over the NOPs; on a page of their own: */
	.set	ECHO, 0x32004		/* what it stored last */
	.set	STOP, 0x32008
	.code32
	.text
start:
	call	setup
	mov	$ALIAS, %eax
	call	*%eax			/* OUT 0x30 at ALIAS + 2 */
	movw	$0x31e6, SUB + 4	/* out %al, $0x31 over the NOPs, through the identity address */
	mov	$ALIAS, %eax
	call	*%eax			/* OUT 0x30, then the new OUT 0x31 at ALIAS + 4 */
x_hlt:
	hlt

x_smp_main:
	call	setup
	mov	$ALIAS, %eax
	call	*%eax
x_wait:
	hlt				/* vCPU 1 patches the subroutine now */
	mov	$ALIAS, %eax
	call	*%eax
x_smp_hlt:
	hlt

x_patcher:
	call	paging_on
	movw	$0x31e6, SUB + 4
x_patched:
	hlt

/*
 * Both vCPUs running: the writer maps the page writable (a store next to the subroutine) before the reader's
 * first call publishes it as code, and keeps storing NEWCODE over the NOPs from one loop that never leaves its
 * translated block; the reader sets NEWCODE to an OUT, waits until the writer echoes it, leaves for the VMM
 * (OUT 0x32: a VM exit and entry serialise) and calls the subroutine again.
 */
x_race_writer:
	call	setup			/* the tables, the subroutine, and the store next to it */
	movl	$0x9090, NEWCODE	/* the flags' page mapped too: the loop below faults nowhere */
	movl	$0, ECHO
	movl	$0, STOP
x_race_mapped:
	out	%al, $0x33		/* the test starts the reader once this exit is seen */
1:	movw	NEWCODE, %bx
	movw	%bx, SUB + 4
	movw	%bx, ECHO
	cmpb	$1, STOP
	jne	1b
x_race_written:
	hlt

x_race_reader:
	call	paging_on		/* the writer's tables */
	mov	$ALIAS, %eax
	call	*%eax
	movw	$0x31e6, NEWCODE	/* out %al, $0x31 */
1:	cmpw	$0x31e6, ECHO
	jne	1b
x_race_sync:
	out	%al, $0x32
	mov	$ALIAS, %eax
	call	*%eax
	movb	$1, STOP
x_race_hlt:
	hlt

setup:
	mov	$PT0, %edi
	mov	$3, %eax
	mov	$256, %ecx
1:	mov	%eax, (%edi)
	add	$0x1000, %eax
	add	$4, %edi
	loop	1b
	movl	$(SUB | 3), PT1
	movl	$(PT0 | 3), PD
	movl	$(PT1 | 3), PD + 4
	/* the subroutine, written unpaged: mov $0x41, %al; out %al, $0x30; nop; nop; ret */
	movl	$0x30e641b0, SUB
	movw	$0x9090, SUB + 4
	movb	$0xc3, SUB + 6
	call	paging_on
	movl	$0, SUB + 0x100		/* maps the identity address of the page writable before its code runs */
	ret

paging_on:
	mov	$PD, %eax
	mov	%eax, %cr3
	mov	%cr0, %eax
	or	$0x80000000, %eax	/* PG */
	mov	%eax, %cr0
	ret
