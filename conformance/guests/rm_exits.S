/* rm_exits.S - real-mode tour of every exit kind; load at 0x10000, CS = DS = ES = 0x1000, IP = 0. */
/* Exported x_* labels are the exact IPs the tests expect exits at. */
	.code16
	.text
start:
	mov	$0x41, %al
x_out_imm:
	outb	%al, $0x10		/* IO out, imm port, size 1, value 0x41 */
	mov	$0x80, %dx
	mov	$0x1234, %ax
x_out_dx:
	outw	%ax, %dx		/* IO out, DX port, size 2 */
x_in_imm:
	inb	$0x11, %al		/* IO in: the VMM's value comes back in AL */
x_report:
	outb	%al, $0x12		/* echoes the IN value */
x_in_dx32:
	inl	%dx, %eax		/* 66 ed: size 4 */
	mov	$msg, %si
x_outsb:
	outsb				/* string out, value 'H' */
	mov	$3, %cx
	mov	$msg, %si
x_rep_outsw:
	rep outsw			/* REP string out, count 3 in CX */
	mov	$buf, %di
	mov	$2, %cx
x_rep_insb:
	rep insb			/* REP string in, ES:DI */
	xor	%eax, %eax
	mov	$7, %ecx
x_cpuid:
	cpuid				/* leaf 0, subleaf 7 */
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
	wrmsr				/* value 0x0000112200003344 */
x_vmcall:
	vmcall
	mov	$0xb000, %ax
	mov	%ax, %es
x_mmio_read:
	mov	%es:0x20, %bx		/* NPF read gpa 0xb0020, size 2 */
x_mmio_write:
	movl	$0xdeadbeef, %es:0x40	/* NPF write gpa 0xb0040, size 4 */
x_hlt:
	hlt
x_done:
	outb	%al, $0xf0
	jmp	x_done
msg:
	.ascii	"Hello!"
buf:
	.byte	0, 0, 0, 0
