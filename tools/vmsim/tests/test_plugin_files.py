"""`vmsim conform --backend-so FILE` on files that are not a loadable plugin: a clear error (exit 2), never a
crash (a truncated object was SIGBUS inside dlopen) or a hang (a FIFO blocked in dlopen's open).

Run by CTest with VMSIM (the binary) and VMSIM_SKELETON (the built skeleton plugin) set.
"""
import os
import subprocess

import pytest

VMSIM = os.environ.get("VMSIM", "vmsim")
SKELETON = os.environ.get("VMSIM_SKELETON", "")


def conform(plugin):
    return subprocess.run([VMSIM, "conform", "--backend-so", str(plugin), "--filter", "no-test-is-named-this"],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("keep", [1, 63, 64, 1000, 4096, 20000, -1])
def test_truncated_plugin_is_a_clear_error(tmp_path, keep):
    data = open(SKELETON, "rb").read()
    cut = tmp_path / "cut.so"
    cut.write_bytes(data[:keep] if keep > 0 else data[:keep])
    r = conform(cut)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "backend plugin" in r.stderr and ("truncated" in r.stderr or "too short" in r.stderr), r.stderr


def test_files_that_are_no_plugin_are_clear_errors(tmp_path):
    text = tmp_path / "text.so"
    text.write_text("not an object\n" * 10)
    fifo = tmp_path / "fifo.so"
    os.mkfifo(fifo)
    cases = {text: "not an ELF file", fifo: "not a regular file", tmp_path: "not a regular file",
             "/dev/zero": "not a regular file", VMSIM: "ET_DYN"}
    for path, why in cases.items():
        r = conform(path)
        if path == VMSIM and "position-independent" in r.stderr:
            why = "position-independent"  # a PIE is ET_DYN: dlopen itself refuses it, cleanly
        assert r.returncode == 2 and why in r.stderr, (path, r.returncode, r.stderr)


def test_the_intact_plugin_still_loads():
    r = conform(SKELETON)
    assert "cannot load" not in r.stderr and "no test matches" in r.stderr, r.stderr


def test_untrusted_plugin_path_is_logged_escaped(tmp_path):
    """Core's default log sink (not only the server's) escapes what it did not write: a path with a newline
    and a terminal escape cannot forge a second log line or recolour the terminal."""
    evil = tmp_path / "a\nvmsim: forged line\x1b[31m.so"
    evil.write_text("not an object\n")
    r = conform(evil)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "\x1b" not in r.stderr
    assert "a\\x0avmsim: forged line\\x1b[31m.so" in r.stderr, r.stderr
    assert not any(line.startswith("vmsim: forged line") for line in r.stderr.splitlines()), r.stderr
