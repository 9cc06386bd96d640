"""`vmsim bench --compare FILE` validates FILE (jansson) before any benchmark runs: a bad file is a clear error
at once, never an over-read (a `\\u` escape at the end of the text), an endless read (/dev/zero) or a hang (FIFO).

Run by CTest (label bench) with VMSIM pointing at the built binary.
"""
import os
import subprocess

import pytest

VMSIM = os.environ.get("VMSIM", "vmsim")

GOOD_RECORD = '{"backend": "null", "model": "svm", "case": "cpuid", "p50_ns": 1, "ratio": 1}'
BAD_DOCUMENTS = {
    "syntax": "{not json",
    "u_escape_at_end": '{"records": [], "x": "\\u',
    "u_escape_short": '{"records": [], "x": "\\u12"}',
    "nul_inside": '{"records": []}\0trailing',
    "not_object": "[1, 2]",
    "no_records": '{"provenance": {}}',
    "records_not_array": '{"records": {}}',
    "record_not_object": '{"records": [1]}',
    "record_without_strings": '{"records": [{"backend": 1, "model": "svm", "case": "cpuid"}]}',
    "duplicate_keys": '{"records": [], "records": []}',
    "deep_nesting": "[" * 100000 + "]" * 100000,
    "empty": "",
}


def compare(path):
    # one quick case: had the check come after the benchmark, its summary line would be on stdout
    return subprocess.run([VMSIM, "bench", "--quick", "--quiet", "--backend", "null", "--case", "cpuid",
                           "--compare", str(path)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", sorted(BAD_DOCUMENTS))
def test_bad_documents_fail_before_the_benchmark(tmp_path, name):
    path = tmp_path / f"{name}.json"
    path.write_bytes(BAD_DOCUMENTS[name].encode())
    r = compare(path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "not a vmsim bench JSON document" in r.stderr, r.stderr
    assert "records in" not in r.stdout  # the benchmark's summary line: it never ran


def test_files_that_are_not_documents(tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero", tmp_path, tmp_path / "missing.json"):
        r = compare(path)
        assert r.returncode == 2 and "--compare" in r.stderr, (path, r.stderr)
        assert "records in" not in r.stdout


def test_a_valid_document_is_accepted(tmp_path):
    path = tmp_path / "old.json"
    path.write_text('{"provenance": {"git_revision": "abc", "date": "d"}, "records": [' + GOOD_RECORD + "]}")
    r = subprocess.run([VMSIM, "bench", "--quick", "--quiet", "--backend", "null", "--compare", str(path)],
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    assert "change against" in r.stdout
