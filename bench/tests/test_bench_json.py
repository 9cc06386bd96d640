"""bench/tests/test_bench_json.py - `vmsim bench --quick --json`: the document is complete and well formed (never timings)."""
import json
import math
import os
import subprocess

import pytest

VMSIM = os.environ.get("VMSIM", "vmsim")
REQUIRED = ("backend", "model", "case", "p50_ns", "p99_ns", "baseline_p50_ns", "ratio", "iterations")
PROVENANCE = ("cpu_model", "cores", "kernel", "unicorn", "capstone", "compiler", "build_type", "git_revision", "date")
EXIT_CASES = ("io_out", "io_in", "mmio_write", "mmio_read", "cpuid", "hlt_resume", "pause_latency",
              "io_out_entrypoint", "io_out_full_state", "io_out_pm32", "io_out_pm32_paged",
              "guest_loads", "guest_stores", "io_out_256_sites")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    proc = subprocess.run([VMSIM, "bench", "--quick", "--quiet", "--json", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    with open(out) as f:
        doc = json.load(f)
    return doc, proc.stdout, out


def test_provenance_complete(run):
    doc, _, _ = run
    assert doc["schema"] == "vmsim-bench/1"
    prov = doc["provenance"]
    for key in PROVENANCE:
        assert key in prov and prov[key] not in ("", None), key
    assert isinstance(prov["cores"], int) and prov["cores"] >= 1


def test_every_record_has_the_fields(run):
    doc, _, _ = run
    assert doc["records"]
    for rec in doc["records"]:
        for key in REQUIRED:
            assert key in rec, (key, rec)
        # measured (a p50) or skipped with a reason: a null p50 in a row not skipped is a writer bug
        if rec["p50_ns"] is None:
            assert rec["skipped"] is True and rec["reason"], ("p50 null without a skip reason", rec)
        if rec["skipped"]:
            assert isinstance(rec["reason"], str) and rec["reason"], rec
            continue
        assert rec["reason"] is None
        assert isinstance(rec["p50_ns"], (int, float)) and math.isfinite(rec["p50_ns"]) and rec["p50_ns"] >= 0
        assert rec["p99_ns"] >= rec["p50_ns"], rec
        assert isinstance(rec["iterations"], int) and rec["iterations"] > 0
        if rec["baseline_p50_ns"] is None:
            assert rec["ratio"] is None
        elif rec["baseline_p50_ns"] > 0:
            assert rec["ratio"] == pytest.approx(rec["p50_ns"] / rec["baseline_p50_ns"], rel=1e-3)


def test_every_backend_model_case_is_reported(run):
    """Rows of unavailable backends are skipped with a reason, never silently left out."""
    doc, _, _ = run
    seen = {(r["backend"], r["model"], r["case"]) for r in doc["records"]}
    for backend in ("unicorn", "kvm", "null"):
        for model in ("svm", "vmx"):
            for case in EXIT_CASES:
                assert (backend, model, case) in seen, (backend, model, case)
    # every Unicorn exit row is measured, pause_latency included: "failed: ..." is a failure, not a skip
    unicorn = [r for r in doc["records"] if r["backend"] == "unicorn" and r["case"] in EXIT_CASES]
    assert all(not r["skipped"] for r in unicorn), [(r["model"], r["case"], r["reason"]) for r in unicorn if r["skipped"]]


def test_no_row_failed(run):
    """A row may be skipped for a reason the host gives (no /dev/kvm, a backend without the feature), never because
    its measurement failed: "failed: ..." rows (a lost pause recall, a vCPU that died) fail the run."""
    doc, _, _ = run
    failed = [(r["backend"], r["model"], r["case"], r["reason"]) for r in doc["records"]
              if r["skipped"] and str(r["reason"]).startswith("failed")]
    assert failed == []
    series = {r["series"] for r in doc["records"] if r["backend"] == "unicorn" and not r["skipped"]}
    assert {"exit", "vcpus", "attach", "access", "detach", "session", "vcpu", "raw"} <= series


def test_the_raw_rows_are_measured(run):
    """Unicorn's raw-only rows (stop/restart, the backend's hook floors) are measured, each against the raw exit."""
    doc, table, _ = run
    raw = {r["case"]: r for r in doc["records"] if r["series"] == "raw"}
    for case in ("io_out_stop_restart", "io_out_backend_floor", "io_in_backend_floor"):
        assert case in raw and case in table, case
        assert not raw[case]["skipped"], raw[case]["reason"]
        assert raw[case]["backend"] == "unicorn" and raw[case]["model"] == "none"
        assert raw[case]["baseline_p50_ns"] and raw[case]["ratio"] is not None, raw[case]


def test_table_and_compare(run, tmp_path):
    doc, table, path = run
    for case in EXIT_CASES:
        assert case in table
    proc = subprocess.run([VMSIM, "bench", "--quick", "--quiet", "--backend", "null", "--compare", str(path)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "change against" in proc.stdout and "attach_10" in proc.stdout


def test_bad_compare_file_fails(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = subprocess.run([VMSIM, "bench", "--quick", "--quiet", "--backend", "null", "--compare", str(bad)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 2  # a usage error: nothing was measured
    assert "not a vmsim bench JSON document" in proc.stderr
