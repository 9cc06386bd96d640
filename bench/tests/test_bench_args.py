"""`vmsim bench --backend NAME` and `--case NAME` name things that exist: anything else is a usage error (2) that
says what does exist, before anything is measured, never an empty table with status 0.

Run by CTest (label bench) with VMSIM pointing at the built binary.
"""
import os
import subprocess

import pytest

VMSIM = os.environ.get("VMSIM", "vmsim")


def bench(*args):
    return subprocess.run([VMSIM, "bench", "--quick", "--quiet", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, wrong, listed", [
    (("--backend", "nosuch"), "no backend 'nosuch'", ("unicorn", "kvm", "null")),
    (("--backend", ""), "no backend ''", ("unicorn",)),
    (("--case", "io_outt"), "no case 'io_outt'", ("io_out", "guest_loads", "io_out_stop_restart", "io_in_backend_floor")),
    (("--backend", "null", "--case", "CPUID"), "no case 'CPUID'", ("cpuid",)),
])
def test_unknown_names_are_usage_errors(args, wrong, listed):
    r = bench(*args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert wrong in r.stderr, r.stderr
    for name in listed:
        assert name in r.stderr, r.stderr
    assert r.stdout == "", "nothing is measured or printed on a bad name"


def test_a_known_case_is_measured():
    # the check must not refuse what exists: the raw-only row is a case name too
    r = bench("--backend", "unicorn", "--case", "io_out_stop_restart")
    assert r.returncode == 0, r.stderr
    assert "io_out_stop_restart" in r.stdout
    r = bench("--backend", "unicorn", "--case", "io_out_backend_floor")
    assert r.returncode == 0, r.stderr
    assert "io_out_backend_floor" in r.stdout and "io_out_stop_restart" not in r.stdout
    r = bench("--backend", "null", "--case", "cpuid")
    assert r.returncode == 0, r.stderr
    assert "cpuid" in r.stdout and "skipped" in r.stdout  # null has no CPUID exit: a row with its reason
