/* pm_exits.S - 32-bit protected-mode tour of the exits; flat segments, load at 0x10000 (no absolute labels). */
	.code32
	.text
start:
	mov	$0x41, %al
x_out_imm:
	outb	%al, $0x10
	mov	$0x80, %dx
	mov	$0x1234, %ax
x_out_dx:
	outw	%ax, %dx
x_in_imm:
	inb	$0x11, %al
x_report:
	outb	%al, $0x12
x_in_dx32:
	inl	%dx, %eax
	mov	$0x20000, %esi		/* data page: the test stores "Hello!" there */
x_outsb:
	outsb
	mov	$3, %ecx
	mov	$0x20000, %esi
x_rep_outsw:
	rep outsw
	mov	$0x20100, %edi
	mov	$2, %ecx
x_rep_insb:
	rep insb
	xor	%eax, %eax
	mov	$7, %ecx
x_cpuid:
	cpuid
x_rdtsc:
	rdtsc
x_rdtscp:
	rdtscp
	mov	$0xc0000080, %ecx
x_rdmsr:
	rdmsr
	mov	$0x1122, %edx
	mov	$0x3344, %eax
	mov	$0x174, %ecx
x_wrmsr:
	wrmsr
x_vmcall:
	vmcall
	mov	$0xe0000000, %ebx
x_mmio_read:
	mov	0x20(%ebx), %ax		/* NPF read gpa 0xe0000020, size 2 */
x_mmio_write:
	movl	$0xdeadbeef, 0x40(%ebx)	/* NPF write gpa 0xe0000040, size 4 */
x_hlt:
	hlt
x_done:
	outb	%al, $0xf0
	jmp	x_done
