"""`vmsim run --bios` on firmware this project did not write: Debian's SeaBIOS (package seabios).

Run by CTest (label unicorn) with VMSIM pointing at the built binary; VMSIM_BACKEND selects the backend.
SeaBIOS starts at the reset vector in real mode, switches to 32-bit protected mode with a far jump into
0xf0000-0xfffff, writes its own data in the firmware region (RAM, as QEMU's microvm has it) and prints its
banner on the debug console, port 0x402. Without a chipset it then waits for devices that do not exist,
so the run ends on --max-exits.
"""
import os
import re
import subprocess

import pytest

VMSIM = os.environ.get("VMSIM", "vmsim")
BACKEND = os.environ.get("VMSIM_BACKEND", "unicorn")
SEABIOS = "/usr/share/seabios/bios.bin"
STATUS_BUDGET = 124  # --max-exits or --timeout reached (vmsim run --help)


@pytest.mark.parametrize("model", ["svm", "vmx"])
def test_seabios_prints_its_banner(model):
    if not os.path.exists(SEABIOS):
        pytest.fail(f"{SEABIOS} is missing: scripts/setup-deps.sh installs the seabios package")
    run = subprocess.run([VMSIM, "run", "--backend", BACKEND, "--model", model, "--bios", "--console", "0x402",
                          "--max-exits", "3000", "--timeout", "60", SEABIOS],
                         capture_output=True, text=True, timeout=120)
    assert "SeaBIOS (version" in run.stdout, run.stdout[-2000:] + run.stderr[-2000:]
    # the build line follows the banner: the firmware got through its own 32-bit C code
    assert "BUILD:" in run.stdout
    assert run.returncode == STATUS_BUDGET, run.stderr


GUEST_FAULT = 122  # SeaBIOS's last way to reset is a triple fault (vmsim run --help)


def seabios_run(model, tmp_path, name):
    trace = tmp_path / f"{name}.json"
    run = subprocess.run([VMSIM, "run", "--backend", BACKEND, "--model", model, "--bios", "--console", "0x402",
                          "--max-exits", "40000", "--timeout", "120", "--trace", str(trace), SEABIOS],
                         capture_output=True, text=True, timeout=180)
    return run, trace


@pytest.mark.parametrize("model", ["svm", "vmx"])
def test_seabios_runs_its_post_to_the_boot_failure_and_reboots(model, tmp_path):
    # With the PIT, the PICs and timer interrupts SeaBIOS goes through its whole POST, finds nothing to boot from,
    # waits 60 s (virtual: HLT skips to each tick) and resets; its last resort is a triple fault.
    run, _ = seabios_run(model, tmp_path, "post")
    out = run.stdout
    for line in ("=== PCI bus & bridge init ===", "Copying SMBIOS", "ATA controller 1 at 1f0", "Press ESC for boot menu.",
                 "e820 map has", "Booting from Floppy...", "Booting from Hard Disk...",
                 "No bootable device.  Retrying in 60 seconds.", "Rebooting."):
        assert line in out, out[-3000:] + run.stderr[-2000:]
    assert run.returncode == GUEST_FAULT, run.stderr
    assert "triple fault" in run.stderr


def comparable(trace):
    """The exits of a trace without their sequence numbers and without recalls, whose number depends on host speed."""
    return [re.sub(r'"seq":\d+,', "", line) for line in trace.read_text().splitlines() if '"kind":"paused"' not in line]


def test_seabios_runs_are_repeatable(tmp_path):
    first, t1 = seabios_run("svm", tmp_path, "first")
    second, t2 = seabios_run("svm", tmp_path, "second")
    assert first.stdout == second.stdout
    a, b = comparable(t1), comparable(t2)
    assert len(a) > 5000
    assert a == b
