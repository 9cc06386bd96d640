"""`vmsim run` with a guest that takes itself from real mode to long mode: its own GDT, page tables, CR4.PAE,
EFER.LME by WRMSR (the run's MSR file writes it through to the vCPU), CR0.PG and a far jump into 64-bit code
above 64 KiB; then SYSCALL set up through STAR/LSTAR/SFMASK MSRs and read back with RDMSR.

Run by CTest (label unicorn) with VMSIM pointing at the built binary; VMSIM_BACKEND selects the backend.
"""
import json
import os
import subprocess

import pytest

VMSIM = os.environ.get("VMSIM", "vmsim")
BACKEND = os.environ.get("VMSIM_BACKEND", "unicorn")

# Loaded at 0x7c00, entered in real mode with CS:IP = 0:0x7c00 (vmsim run's default).
GUEST = r"""
	.set	LOAD, 0x7c00
	.set	PT, 0x70000
	.code16
start:
	cli
	xor	%ax, %ax
	mov	%ax, %ds
	lgdtl	LOAD + gdtr - start
	mov	%cr0, %eax
	or	$1, %eax
	mov	%eax, %cr0
	ljmpl	$0x08, $(0x20000 + pm32 - high)
	.balign	8
gdt:	.quad	0, 0x00cf9b000000ffff, 0x00cf93000000ffff, 0x00af9b000000ffff
gdtr:	.word	31
	.long	LOAD + gdt - start
	.org	0x10000 - LOAD + 0x20000 - 0x10000
high:				/* copied nowhere: vmsim run loads the whole image, so this lies at 0x20000 */
	.code32
pm32:
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	$PT, %edi
	xor	%eax, %eax
	mov	$(3 * 1024), %ecx
	rep stosl
	movl	$(PT + 0x1003), PT
	movl	$(PT + 0x2003), PT + 0x1000
	movl	$0x83, PT + 0x2000
	mov	%cr4, %eax
	or	$0x20, %eax
	mov	%eax, %cr4
	mov	$PT, %eax
	mov	%eax, %cr3
	mov	$0xc0000080, %ecx
	rdmsr
	or	$0x101, %eax		/* LME and SCE */
	wrmsr
	mov	%cr0, %eax
	or	$0x80000000, %eax
	mov	%eax, %cr0
	ljmp	$0x18, $(0x20000 + lm64 - high)
	.code64
lm64:
	mov	$0x3f8, %dx
	mov	$'L', %al
	out	%al, %dx
	mov	$'M', %al
	out	%al, %dx
	mov	$0xc0000080, %ecx	/* EFER reads back LME, LMA and SCE */
	rdmsr
	cmp	$0x501, %eax
	jne	fail
	mov	$0xc0000082, %ecx	/* LSTAR: written, read back */
	mov	$0x2040, %eax
	mov	$0x1, %edx
	wrmsr
	xor	%eax, %eax
	xor	%edx, %edx
	rdmsr
	cmp	$0x2040, %eax
	jne	fail
	cmp	$1, %edx
	jne	fail
	mov	$0x277, %ecx		/* PAT: the power-on value */
	rdmsr
	cmp	$0x00070406, %eax
	jne	fail
	mov	$0x3f8, %dx		/* RDMSR wrote EDX */
	mov	$'!', %al
	out	%al, %dx
	mov	$0, %al
	out	%al, $0xf4
fail:
	mov	$0x3f8, %dx
	mov	$'F', %al
	out	%al, %dx
	mov	$1, %al
	out	%al, $0xf4
"""


def build(tmp_path, source=GUEST):
    """Assemble AT&T source (its own .code16/32/64) into a flat image."""
    src, obj, out = tmp_path / "guest.S", tmp_path / "guest.o", tmp_path / "guest.bin"
    src.write_text(source)
    subprocess.run(["as", "--32", "-o", str(obj), str(src)], check=True)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(obj), str(out)], check=True)
    return out


@pytest.mark.parametrize("model", ["svm", "vmx"])
@pytest.mark.parametrize("fast", [False, True])
def test_guest_enters_long_mode_by_itself(tmp_path, model, fast):
    image = build(tmp_path)
    args = [VMSIM, "run", "--backend", BACKEND, "--model", model, "--max-exits", "1000", "--timeout", "30"]
    run = subprocess.run(args + (["--fast-exits"] if fast else []) + [str(image)],
                         capture_output=True, text=True, timeout=120)
    assert run.stdout == "LM!", (run.stdout, run.stderr)
    assert run.returncode == 0, run.stderr


# Real mode at 0x7c00: TSC_AUX = 7 by WRMSR, then RDTSC, RDTSCP, RDTSC must not run backwards (whichever of them
# the model intercepts) and RDTSCP must return TSC_AUX in ECX. Prints "T" and exits 0, or "B" and exits 1.
TIME_GUEST = r"""
	.code16
	mov	$0xc0000103, %ecx
	mov	$7, %eax
	xor	%edx, %edx
	wrmsr
	rdtsc
	mov	%eax, %esi		/* t1 in EDI:ESI */
	mov	%edx, %edi
	rdtscp
	cmp	$7, %ecx
	jne	bad
	mov	%eax, %ebx		/* t2 in ECX:EBX */
	mov	%edx, %ecx
	sub	%esi, %eax
	sbb	%edi, %edx		/* t2 - t1 */
	js	bad
	rdtsc
	sub	%ebx, %eax
	sbb	%ecx, %edx		/* t3 - t2 */
	js	bad
	mov	$0x3f8, %dx
	mov	$'T', %al
	out	%al, %dx
	mov	$0, %al
	out	%al, $0xf4
bad:
	mov	$0x3f8, %dx
	mov	$'B', %al
	out	%al, %dx
	mov	$1, %al
	out	%al, $0xf4
"""


@pytest.mark.parametrize("model", ["svm", "vmx"])
def test_intercepted_and_native_tsc_reads_share_one_time_base(tmp_path, model):
    image = build(tmp_path, TIME_GUEST)
    run = subprocess.run([VMSIM, "run", "--backend", BACKEND, "--model", model, "--trace", str(tmp_path / "trace"),
                          "--max-exits", "100", str(image)], capture_output=True, text=True, timeout=60)
    assert run.stdout == "T", (run.stdout, run.stderr)
    assert run.returncode == 0, run.stderr


# The long-mode guest above, extended: PML4 -> PDPT[1] maps linear 1 GiB (2 MiB page) to physical 4 MiB, where a
# copy of the GDT (0x40002000) and the data pages (0x40008000, 0x40009000) lie; the stack stays below 1 MiB so its
# faults map nothing there. A CR4.PGE toggle drops every mapping the backend made, then one synced store and one
# retired INC run before the instruction under test, whose own access is the first to touch that 2 MiB page.
# On unicorn that access is made inside a helper (descriptor loads, IRET/far-return pops, FXSAVE, CMPXCHG16B) or
# an atomic operation, which 2.0.1 does without syncing the PC: the run loop must still re-run exactly that
# instruction (an IRETQ that re-ran the PUSH before it popped a bad CS: Linux's #GP in text_poke_early).
# Prints "K" and exits 0 when the INC ran once and the instruction did its work, "F" and 1 otherwise.
# Until 2026-12-06 a reload of the same CR3 did the dropping; since the backend keeps what new tables map alike
# (20cc882) it dropped nothing, there was no first touch, and these cases passed even with every PC-sync hook
# removed. With the CR4 toggle, 14 of the 20 fail without those hooks (the other 6 load CS, hooked for that).
HELPER_ACCESS_PROLOGUE = GUEST[:GUEST.index("lm64:") + len("lm64:")].replace(
    "mov\t$(3 * 1024), %ecx", "mov\t$(4 * 1024), %ecx").replace(
    "movl\t$0x83, PT + 0x2000",
    "movl\t$0x83, PT + 0x2000\n\tmovl\t$(PT + 0x3003), PT + 0x1008\n\tmovl\t$0x400083, PT + 0x3000") + r"""
	mov	$0x40002000, %rdi
	mov	$(LOAD + gdt - start), %rsi
	mov	$32, %ecx
	rep movsb
	lgdt	(0x20000 + gdtr64 - high)
	movq	$0x1234, 0x40009000	/* a word for the CMPXCHG and XCHG checks to find */
	mov	$0x10, %eax
	xor	%ebx, %ebx
	mov	$0x60000, %rsp
	mov	%cr4, %rcx		/* a CR4.PGE toggle flushes every translation (SDM Vol. 3A 4.10.4.1): */
	xor	$0x80, %rcx		/* every engine mapping dropped. Reloading the same CR3 no longer drops */
	mov	%rcx, %cr4		/* them: the backend keeps what the new tables map alike (uc_mmu.c) */
	xor	$0x80, %rcx
	mov	%rcx, %cr4
	push	%rax			/* a synced store */
	inc	%rbx			/* retired: must not run twice */
"""
HELPER_ACCESS_EPILOGUE = r"""
back:
	cmp	$1, %rbx
	jne	bad
	mov	$0x3f8, %dx
	mov	$'K', %al
	out	%al, %dx
	mov	$0, %al
	out	%al, $0xf4
bad:
	mov	$0x3f8, %dx
	mov	$'F', %al
	out	%al, %dx
	mov	$1, %al
	out	%al, $0xf4
	.balign	8
gdtr64:	.word	31
	.quad	0x40002000
farptr:	.long	0x20000 + back - high
	.word	0x18
"""
HELPER_ACCESSES = {
    "iretq": "mov %ss, %ecx\n push %rcx\n lea 8(%rsp), %rcx\n push %rcx\n pushfq\n push $0x18\n"
             " push $(0x20000 + back - high)\n iretq",
    "lretq": "push $0x18\n push $(0x20000 + back - high)\n lretq",
    "ljmp": "ljmp *0x20000 + farptr - high",
    "mov_ss": "mov %eax, %ss\n mov %ss, %ecx\n cmp $0x10, %ecx\n jne bad",
    "mov_ds": "mov %eax, %ds\n mov %ds, %ecx\n cmp $0x10, %ecx\n jne bad",
    "lar": "lar %ax, %rcx\n jnz bad",
    "lock_inc": "lock incq 0x40009000\n cmpq $0x1235, 0x40009000\n jne bad",
    "xchg": "mov $7, %ecx\n xchg %rcx, 0x40009000\n cmp $0x1234, %rcx\n jne bad",
    "cmpxchg16b": "mov $0x1234, %eax\n xor %edx, %edx\n xor %ecx, %ecx\n push %rbx\n mov $9, %ebx\n"
                  " cmpxchg16b 0x40009000\n pop %rbx\n jnz bad\n cmpq $9, 0x40009000\n jne bad",
    "fxsave": "fxsave64 0x40008000\n cmpw $0x37f, 0x40008000\n jne bad",
}


@pytest.mark.parametrize("model", ["svm", "vmx"])
@pytest.mark.parametrize("what", sorted(HELPER_ACCESSES))
def test_first_touch_inside_an_instruction_reruns_only_that_instruction(tmp_path, model, what):
    image = build(tmp_path, HELPER_ACCESS_PROLOGUE + "\t" + HELPER_ACCESSES[what] + HELPER_ACCESS_EPILOGUE)
    run = subprocess.run([VMSIM, "run", "--backend", BACKEND, "--model", model, "--max-exits", "1000",
                          "--timeout", "30", str(image)], capture_output=True, text=True, timeout=60)
    assert (run.stdout, run.returncode) == ("K", 0), (run.stdout, run.stderr)


# Real mode, CS 0 with its 64 KiB limit: a transfer to EIP 0x12345 must raise #GP(0) at the transfer itself (SDM
# Vol. 3A 5.3), pushing the transfer's IP with SP as it was before it. The handler prints G if so, W if not; the
# target prints J (what Unicorn 2.0.1 alone did, and the QEMU-TCG KVM lane does: TCG checks no CS limit).
CS_LIMIT_GUEST = r"""
	.set	LOAD, 0x7c00
	.code16
start:
	xor	%ax, %ax
	mov	%ax, %ds
	mov	%ax, %ss
	mov	$0x7000, %sp
	movw	$(LOAD + gp - start), 13 * 4
	movw	$0, 13 * 4 + 2
	mov	$0x3f8, %dx
	mov	$'S', %al
	out	%al, %dx
	mov	$0x12345, %eax
	pushl	$0x12345
xfer:	TRANSFER
gp:	pop	%bx
	pop	%cx
	pop	%cx
	mov	$'G', %al
	cmp	$(LOAD + xfer - start), %bx
	jne	wrong
	cmp	$(0x7000 - 4), %sp
	je	print
wrong:	mov	$'W', %al
print:	out	%al, %dx
	xor	%al, %al
	out	%al, $0xf4
	.org	0x12345 - LOAD
	mov	$'J', %al
	out	%al, %dx
	xor	%al, %al
	out	%al, $0xf4
"""
CS_LIMIT_TRANSFERS = {
    "jmp_rel32": ".byte 0x66, 0xe9\n .long 0x12345 - (LOAD + . + 4 - start)",
    "call_rel32": ".byte 0x66, 0xe8\n .long 0x12345 - (LOAD + . + 4 - start)",
    "ret_o32": "retl",
    "jmp_eax": "jmpl *%eax",
    "ljmp_ptr16_32": "ljmpl $0, $0x12345",
}


@pytest.mark.parametrize("model", ["svm", "vmx"])
@pytest.mark.parametrize("transfer", sorted(CS_LIMIT_TRANSFERS))
def test_real_mode_transfer_beyond_the_cs_limit_faults_at_itself(tmp_path, model, transfer):
    image = build(tmp_path, CS_LIMIT_GUEST.replace("TRANSFER", CS_LIMIT_TRANSFERS[transfer]))
    run = subprocess.run([VMSIM, "run", "--backend", BACKEND, "--model", model, "--max-exits", "100",
                          "--timeout", "30", str(image)], capture_output=True, text=True, timeout=60)
    assert (run.stdout[:10], run.returncode) == ("SG", 0), (run.stdout[:100], run.stderr)


# Long mode (vmsim run --mode long: the first 4 GiB identity-mapped with 2 MiB pages): the guest maps its second GiB
# onto physical 0 as well, then patches an OUT a few bytes on, in the same page, through that alias (as Linux's
# text_poke writes kernel text through its poking mm), and serialises with CPUID, as cross-modifying code must (SDM
# Vol. 3A 8.1.3; without it KVM in the QEMU lane ran the old OUT). The CPU then runs the new bytes: an OUT to 0x31.
# Unicorn's backend once faulted on that store for good ("faults again after mapping it").
SELF_ALIAS_GUEST = r"""
	.code64
	.text
	.globl	_start
_start:
	mov	%cr3, %rax
	mov	(%rax), %rbx		/* PML4[0] -> PDPT */
	and	$~0xfff, %rbx
	mov	8(%rbx), %rcx		/* PDPT[1] -> the page directory of the second GiB */
	and	$~0xfff, %rcx
	movq	$0x83, (%rcx)		/* 0x40000000: 2 MiB at physical 0 */
	mov	%cr3, %rax
	mov	%rax, %cr3
	movb	$0x31, 0x40000000 + (target + 1)
	xor	%eax, %eax
	cpuid
	mov	$0x41, %al
target:
	out	%al, $0x30
	mov	$0, %al
	out	%al, $0xf4
"""


@pytest.mark.parametrize("model", ["svm", "vmx"])
def test_store_through_an_alias_into_its_own_code_page_runs_the_new_code(tmp_path, model):
    src, obj, elf, image = (tmp_path / n for n in ("alias.S", "alias.o", "alias.elf", "alias.bin"))
    src.write_text(SELF_ALIAS_GUEST)
    subprocess.run(["as", "--64", "-o", str(obj), str(src)], check=True)
    subprocess.run(["ld", "-Ttext", "0x100000", "-e", "_start", "--oformat", "elf64-x86-64", "-o", str(elf),
                    str(obj)], check=True)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(elf), str(image)], check=True)
    trace = tmp_path / "trace.json"
    run = subprocess.run([VMSIM, "run", "--backend", BACKEND, "--model", model, "--mode", "long", "--max-exits", "100",
                          "--timeout", "30", "--trace", str(trace), str(image)], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    ports = [rec["port"] for rec in map(json.loads, trace.read_text().splitlines()) if rec["kind"] == "io"]
    assert ports == [0x31, 0xF4], ports


# A 64-bit guest with its own IDT that takes four exceptions and handles each: INT3 (#BP, a trap), UD2 (#UD, its
# handler skips it), a single step (RFLAGS.TF: #DB after the next instruction, its handler clears TF) and a read
# above the 4 GiB vmsim run maps (#PF, error code 0; the handler checks CR2).
EXCEPTIONS_GUEST = r"""
	.code64
	.text
	.globl	_start
	.macro	gate vec, handler	/* a present 64-bit interrupt gate to CS 0x08 */
	lea	\handler(%rip), %rax
	lea	idt + \vec * 16(%rip), %rdi
	mov	%ax, (%rdi)
	movw	$0x08, 2(%rdi)
	movw	$0x8e00, 4(%rdi)
	shr	$16, %rax
	mov	%ax, 6(%rdi)
	shr	$16, %rax
	mov	%eax, 8(%rdi)
	movl	$0, 12(%rdi)
	.endm
	.macro	say ch
	mov	$0x3f8, %dx
	mov	$\ch, %al
	out	%al, %dx
	.endm
_start:
	gate	1, db_handler
	gate	3, bp_handler
	gate	6, ud_handler
	gate	14, pf_handler
	lidt	idtr(%rip)
at_int3:
	int3
at_ud2:
	ud2
	pushf
	orq	$0x100, (%rsp)
	popf
	nop
after_step:
	mov	$0x100000000, %rbx
at_load:
	mov	(%rbx), %eax
	say	'!'
	mov	$0, %al
	out	%al, $0xf4
bp_handler:
	say	'B'
	iretq
db_handler:
	say	'D'
	andq	$~0x100, 16(%rsp)	/* TF off in the RFLAGS it returns to */
	iretq
ud_handler:
	say	'U'
	addq	$2, (%rsp)
	iretq
pf_handler:
	pop	%rcx			/* the error code: a read of a page that is not present */
	test	%rcx, %rcx
	jnz	fail
	mov	%cr2, %rax
	cmp	%rax, %rbx
	jne	fail
	say	'P'
	addq	$2, (%rsp)
	iretq
fail:
	say	'F'
	mov	$1, %al
	out	%al, $0xf4
idtr:	.word	16 * 16 - 1
	.quad	idt
	.balign	16
idt:	.space	16 * 16
"""


def build_linked(tmp_path, source, name):
    """Assemble 64-bit source and link it at 0x100000 (vmsim run's load address outside real mode) into an image,
    with the addresses of its labels."""
    src, obj, elf, image = (tmp_path / f"{name}{ext}" for ext in (".S", ".o", ".elf", ".bin"))
    src.write_text(source)
    subprocess.run(["as", "--64", "-o", str(obj), str(src)], check=True)
    subprocess.run(["ld", "-Ttext", "0x100000", "-e", "_start", "--oformat", "elf64-x86-64", "-o", str(elf),
                    str(obj)], check=True)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(elf), str(image)], check=True)
    nm = subprocess.run(["nm", str(elf)], capture_output=True, text=True, check=True).stdout
    return image, {w[2]: int(w[0], 16) for w in (line.split() for line in nm.splitlines()) if len(w) == 3}


@pytest.mark.parametrize("model", ["svm", "vmx"])
@pytest.mark.parametrize("which", ["bp,ud,pf", "all"])
def test_exceptions_are_traced_and_handed_back(tmp_path, model, which):
    """--exceptions: each exception the guest takes is an exit in the trace (vector, error code, #PF's address, #DB's
    DR6 bits, at the faulting instruction; at INT3 itself; after the stepped instruction), and the guest's own
    handlers then see exactly what they see without it (its console is the same)."""
    image, sym = build_linked(tmp_path, EXCEPTIONS_GUEST, "exceptions")
    plain = subprocess.run([VMSIM, "run", "--backend", BACKEND, "--model", model, "--mode", "long", "--max-exits",
                            "100", str(image)], capture_output=True, text=True, timeout=60)
    assert (plain.returncode, plain.stdout) == (0, "BUDP!"), plain.stderr
    trace = tmp_path / "trace.json"
    run = subprocess.run([VMSIM, "run", "--backend", BACKEND, "--model", model, "--mode", "long", "--max-exits",
                          "100", "--exceptions", which, "--trace", str(trace), str(image)], capture_output=True,
                         text=True, timeout=60)
    assert (run.returncode, run.stdout) == (0, "BUDP!"), run.stderr
    taken = [rec for rec in map(json.loads, trace.read_text().splitlines()) if rec["kind"] == "exception"]
    want = [(3, sym["at_int3"]), (6, sym["at_ud2"]), (1, sym["after_step"]), (14, sym["at_load"])]
    if which != "all":
        want.remove((1, sym["after_step"]))  # #DB not asked for: delivered without an exit
    assert [(r["vector"], r["ip"]) for r in taken] == want, taken
    by_vector = {r["vector"]: r for r in taken}
    assert all("error" not in by_vector[v] for v in by_vector if v != 14)
    if which == "all":
        assert by_vector[1]["dr6"] == 0x4000  # BS alone: a single step (SDM Vol. 3C Table 28-1)
    assert (by_vector[14]["error"], by_vector[14]["address"]) == (0, 0x100000000)


def test_exceptions_refused_where_the_backend_cannot_intercept(tmp_path):
    """KVM gives userspace no exception exits: --exceptions there is a usage error naming the reason, nothing runs."""
    image, _ = build_linked(tmp_path, EXCEPTIONS_GUEST, "exceptions")
    run = subprocess.run([VMSIM, "run", "--backend", "kvm", "--exceptions", "pf", str(image)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    assert "--exceptions: backend kvm cannot intercept exceptions: KVM gives userspace no exception exits" in run.stderr
    assert run.stdout == ""
    bad = subprocess.run([VMSIM, "run", "--exceptions", "nmi", str(image)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "give all, or vectors 0-31 but 2" in bad.stderr
    # numbers are decimal (a leading zero is not octal: 08 is #DF) or 0x hex; nothing here raises #DF or #TS
    for vectors in ("08", "010,0xe"):
        ok = subprocess.run([VMSIM, "run", "--backend", BACKEND, "--mode", "long", "--max-exits", "100", "--exceptions",
                             vectors, str(image)], capture_output=True, text=True, timeout=60)
        assert (ok.returncode, ok.stdout) == (0, "BUDP!"), (vectors, ok.stderr)
