"""`vmsim run --bios` on firmware this project did not write: Debian's SeaBIOS (package seabios).

Run by CTest (label unicorn) with VMSIM pointing at the built binary; VMSIM_BACKEND selects the backend.
SeaBIOS starts at the reset vector in real mode, switches to 32-bit protected mode with a far jump into
0xf0000-0xfffff, writes its own data in the firmware region (RAM, as QEMU's microvm has it) and prints its
banner on the debug console, port 0x402. Without a chipset it then waits for devices that do not exist,
so the run ends on --max-exits.
"""
import os
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
