"""`vmsim run --linux` on a guest this project did not write: Debian's kernel (the one the KVM lane boots).

Run by CTest (label unicorn) with VMSIM pointing at the built binary; VMSIM_BACKEND selects the backend. The
kernel comes from scripts/kvm-lane/kernel.sh (fetched once with apt-get into the lanes' cache).

The kernel enters at 1 MiB in 32-bit protected mode with paging off (Linux's 32-bit boot protocol) and from
there does by itself what operating systems do: its decompressor builds identity page tables, enables PAE,
EFER.LME (an MSR exit) and paging, far-jumps into long mode, drops back to 32-bit compatibility mode with paging
off and on again in its trampoline (the 4/5-level check), prints on the 8250 at 0x3f8, decompresses itself
to 16 MiB and jumps there; the kernel proper switches to its own page tables with the kernel mapped at
0xffffffff81000000 (linear != physical), takes #PF in its early handler to build the direct map on demand
(its boot parameters are read through __va) and prints its first log lines once the early console is registered.
Later it patches its own code (text_poke_early, whose IRETQ once took a #GP on unicorn: docs/backends/unicorn.md),
registers ttyS0 and replays its log there, gives up calibrating the TSC against the PIT (the virtual clock's PIT
moves 1 us per port access), calibrates its delay loop on timer interrupts from vmsim run's PIT and PICs,
patches itself again (apply_alternatives) and ends in the panic for its missing root file system, as on KVM.
sim/kvm/tests/vmsim_run_linux.sh checks the same lines and the same I/O exits on KVM (QEMU lane).
"""
import json
import os
import subprocess
import sys

import pytest

VMSIM = os.environ.get("VMSIM", "vmsim")
BACKEND = os.environ.get("VMSIM_BACKEND", "unicorn")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
CMDLINE = "earlyprintk=serial,ttyS0,115200 console=ttyS0 nokaslr"
STATUS_BUDGET = 124  # --max-exits or --timeout reached (vmsim run --help)
# The decompressor's I/O exits: the 8250 set up (early_serial_init), then each character of its KASLR note as a
# poll of the line status register and a write of the character, '\n' as "\r\n" (shared with the KVM lane).
DECOMPRESSOR_IO = os.path.join(ROOT, "sim", "kvm", "tests", "linux_decompressor_io.txt")
# What the kernel prints, in this order, with the e820 map vmsim run hands it (128 MiB, the VMM's tables at the
# top); "Linux version" is followed by the version the image's setup header names.
EXPECTED = [
    "KASLR disabled: 'nokaslr' on cmdline.",
    "[    0.000000] Linux version {version} (",
    "[    0.000000] Command line: " + CMDLINE,
    "[    0.000000] BIOS-provided physical RAM map:",
    "[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
    "[    0.000000] BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved",
    "[    0.000000] BIOS-e820: [mem 0x0000000000100000-0x0000000007ff8fff] usable",
    "[    0.000000] BIOS-e820: [mem 0x0000000007ff9000-0x0000000007ffffff] reserved",
    "[    0.000000] printk: bootconsole [earlyser0] enabled",
    "[    0.000000] NX (Execute Disable) protection: active",
]


@pytest.fixture(scope="module")
def kernel():
    got = subprocess.run(["bash", os.path.join(ROOT, "scripts", "kvm-lane", "kernel.sh")], capture_output=True,
                         text=True, timeout=600)
    if got.returncode != 0:
        pytest.fail("Debian's kernel could not be had (scripts/kvm-lane/kernel.sh): " + got.stderr)
    return got.stdout.strip()


def kernel_version(path):
    """The version the bzImage's setup header names (kernel_version at 0x20e, relative to 0x200)."""
    with open(path, "rb") as f:
        image = f.read(0x10000)
    at = 0x200 + int.from_bytes(image[0x20e:0x210], "little")
    return image[at:image.index(b"\0", at)].decode().split()[0]


def in_order(text, lines):
    """The lines of `lines` that do not appear in `text` in this order (as whole lines), [] when all do."""
    # \x01: the baud divisor each 8250 setup writes to 0x3f8 with DLAB set, which the console stand-in prints
    have = [l.replace("\r", "").replace("\x01", "") for l in text.split("\n")]
    at = 0
    for i, want in enumerate(lines):
        while at < len(have) and not have[at].startswith(want):
            at += 1
        if at == len(have):
            return lines[i:]
        at += 1
    return []


def io_exits(trace_path):
    out = []
    with open(trace_path) as f:
        for line in f:
            rec = json.loads(line)
            if rec["kind"] == "io":
                out.append(f"out {rec['port']} {rec['value']}" if rec["dir"] == "out" else f"in {rec['port']}")
    return out


@pytest.mark.parametrize("model", ["svm", "vmx"])
def test_debian_kernel_boots_to_its_first_log_lines(model, kernel, tmp_path):
    trace = tmp_path / "trace.jsonl"
    # the NX line comes at about exit 2,000 on unicorn; the run ends on the exit budget (or the timeout)
    run = subprocess.run([VMSIM, "run", "--backend", BACKEND, "--model", model, "--linux", "--mem", "128M",
                          "--cmdline", CMDLINE, "--max-exits", "4000", "--timeout", "400", "--trace", str(trace),
                          "--disasm", kernel], capture_output=True, text=True, timeout=500)
    expected = [l.format(version=kernel_version(kernel)) for l in EXPECTED]
    missing = in_order(run.stdout, expected)
    assert not missing, f"missing, from: {missing[0]!r}\n" + run.stdout[-3000:] + run.stderr[-2000:]
    assert run.returncode == STATUS_BUDGET, run.stderr
    with open(DECOMPRESSOR_IO) as f:
        want = f.read().split("\n")[:-1]
    assert io_exits(trace)[:len(want)] == want
    # --disasm decodes at the linear RIP through the guest's page tables: the kernel proper runs at
    # 0xffffffff81000000 and up, mapped to 16 MiB and up, and its port I/O decodes as IN/OUT
    kernel_io = [rec for rec in map(json.loads, open(trace)) if rec["kind"] == "io" and rec["ip"] >= 0xffffffff80000000]
    assert len(kernel_io) > 1000
    assert all(rec.get("insn", "").split(" ")[0] in ("in", "out") for rec in kernel_io), kernel_io[0]


def test_debian_kernel_prints_on_an_mmio_uart(kernel, tmp_path):
    """earlycon on an 8250 at unbacked MMIO (mmio32 at 0xfe000000): the kernel's readl/writel are NPF exits, each
    decoded write with its value; after an instruction's first one the Unicorn backend presents them from its MMIO
    sites instead of its fault path (docs/backends/unicorn.md "Exits inside hooks"). The bytes the kernel writes
    to the data register are its first log lines (the line status reads all ones: always ready). The console
    line comes at about exit 670."""
    cmdline = "earlycon=uart8250,mmio32,0xfe000000 console=ttyS0 nokaslr"
    trace = tmp_path / "trace.jsonl"
    run = subprocess.run([VMSIM, "run", "--backend", BACKEND, "--model", "svm", "--linux", "--mem", "128M",
                          "--cmdline", cmdline, "--max-exits", "1500", "--timeout", "400", "--trace", str(trace),
                          kernel], capture_output=True, text=True, timeout=500)
    assert run.returncode == STATUS_BUDGET, run.stderr
    mmio = [rec for rec in map(json.loads, open(trace)) if rec["kind"] == "mmio"]
    assert mmio and all(rec["size"] == 4 and 0xfe000000 <= rec["gpa"] < 0xfe000020 for rec in mmio), mmio[:3]
    assert any(not rec["write"] and rec["gpa"] == 0xfe000014 for rec in mmio)  # LSR polled
    text = "".join(chr(rec["value"] & 0xff) for rec in mmio if rec["write"] and rec["gpa"] == 0xfe000000)
    missing = in_order(text, ["[    0.000000] Linux version {} (".format(kernel_version(kernel)),
                              "[    0.000000] Command line: " + cmdline])
    assert not missing, text[-2000:]


def test_debian_kernel_boots_to_its_root_fs_panic(kernel):
    """The boot on unicorn through the kernel's first code patches (text_poke_early), its switch to ttyS0 (which
    replays the whole log), its delay-loop calibration on timer interrupts (~41,900 exits with the virtual clock),
    apply_alternatives and the rest of its init, to the panic KVM reaches too without a root file system (~64,500
    exits, about 3 minutes on an idle 2-core machine). Each once failed: a crash inside Unicorn 2.0.1
    (page_collection_lock), the #GP on text_poke_early's IRETQ (its GDT read inside 2.0.1's helper re-ran the PUSH
    before it), a wait for a timer tick at "tsc: Marking TSC unstable" until vmsim run had a PIT and PICs, and a
    patched call site that ran as the old call because 2.0.1 had filed its block under another region
    (docs/backends/unicorn.md). svm only: the time is the same for both models and the exit path is shared. The run
    is stopped at the panic's last line: after it the kernel idles, one 100-ms recall per exit."""
    proc = subprocess.Popen([VMSIM, "run", "--backend", BACKEND, "--model", "svm", "--linux", "--mem", "128M",
                             "--cmdline", CMDLINE, "--max-exits", "80000", "--timeout", "700", kernel],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    out = []
    try:
        for line in proc.stdout:
            out.append(line)
            if "end Kernel panic" in line:
                break
    finally:
        proc.kill()
        proc.wait(timeout=60)
    text = "".join(out)
    assert "end Kernel panic - not syncing: VFS: Unable to mount root fs" in text, text[-3000:]
    for bad in ("general protection fault", "Oops", "BUG:", "invalid opcode"):
        assert bad not in text, text[-3000:]
    assert in_order(text, ["[    0.000000] ftrace: allocating", "[    0.000000] Dynamic Preempt: voluntary",
                           "[    0.000000] printk: console [ttyS0] enabled",
                           "[    0.000000] APIC: Keep in PIC mode(8259)"]) == [], text[-3000:]
    # then, on timer ticks (their timestamps are the kernel's jiffies: not compared)
    at = text.index("APIC: Keep in PIC mode(8259)")
    for want in ("tsc: Marking TSC unstable", "Calibrating delay loop... ", "Freeing SMP alternatives memory",
                 "Kernel panic - not syncing: VFS: Unable to mount root fs"):
        found = text.find(want, at)
        assert found > at, f"missing after {text[at:at + 60]!r}: {want!r}\n" + text[-3000:]
        at = found


def test_bad_images_are_refused(tmp_path):
    raw = tmp_path / "raw.bin"
    raw.write_bytes(b"\xf4" * 4096)
    run = subprocess.run([VMSIM, "run", "--linux", str(raw)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "not a bzImage" in run.stderr
    run = subprocess.run([VMSIM, "run", "--linux", "--mode", "long", str(raw)], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2
    assert "drop --mode" in run.stderr
    run = subprocess.run([VMSIM, "run", "--cmdline", "x", str(raw)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "--cmdline is the kernel command line of --linux" in run.stderr


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
