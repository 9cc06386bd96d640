"""test_conformance.py - the conformance harness: lanes, merged JUnit, matrix reports, canary, differential checks."""
import os
import re
import xml.etree.ElementTree as ET

import pytest

import vc_lanes

# Tests whose exit sequences must be equal across SVM and VMX: the neutral events do not depend on the model.
DIFF_SECTIONS = ("exits", "io", "memory", "state", "inject")
# ... except where the architectures are specified to differ (entry checks and injection rules).
MODEL_SPECIFIC = re.compile(r"(_only|_refuses|refused_by_both)$")


def test_every_lane_runs_and_exits_by_its_results(lanes):
    for lane in lanes:
        fails = [r for r in lane.data["results"] if r["status"] == "FAIL"]
        assert lane.returncode == (1 if fails else 0), lane.output[-4000:]
        assert not fails, [f'{r["model"]}/{r["section"]}/{r["name"]}' for r in fails]


def test_unicorn_lane_has_150_cases_per_model_none_skipped(lane_by_name):
    data = lane_by_name["unicorn"].data
    for model in ("svm", "vmx"):
        results = [r for r in data["results"] if r["model"] == model]
        assert len(results) >= 150
        assert sum(r["status"] == "PASS" for r in results) >= 150
        assert [r for r in results if r["status"] == "SKIP"] == []


def test_every_skip_has_a_reason(lanes):
    for lane in lanes:
        for r in lane.data["results"]:
            if r["status"] == "SKIP":
                # a missing capability with the backend's gap text, or a named backend limitation
                assert re.match(r"^(needs [A-Z_0-9]+ \(.+\): .+|known \w+ limitation \([A-Z_]+\): .+)$",
                                r["message"]), r


def test_matrix_agrees_with_junit(lanes):
    for lane in lanes:
        assert vc_lanes.junit_counts(lane.junit) == vc_lanes.json_counts(lane.data), lane.name
        root = ET.parse(lane.junit).getroot()
        results = lane.data["results"]
        assert int(root.get("tests")) == len(results)
        assert int(root.get("failures")) == sum(r["status"] == "FAIL" for r in results)
        assert int(root.get("skipped")) == sum(r["status"] == "SKIP" for r in results)


def test_merged_junit_and_matrix_reports(lanes, out_dir):
    merged = os.path.join(out_dir, "conformance.xml")
    totals = vc_lanes.merge_junit([lane.junit for lane in lanes], merged)
    assert totals["tests"] == sum(len(lane.data["results"]) for lane in lanes)
    assert totals["failures"] == 0
    md, page = os.path.join(out_dir, "matrix.md"), os.path.join(out_dir, "matrix.html")
    vc_lanes.write_markdown(lanes, md)
    vc_lanes.write_html(lanes, page)
    text, markup = open(md).read(), open(page).read()
    for lane in lanes:
        for model in ("svm", "vmx"):
            assert f"{lane.name}/{model}" in text
            assert f"{lane.name}/{model}" in markup
    assert "| session |" in text


def test_skeleton_plugin_appears_in_the_matrix(lane_by_name):
    if "skeleton" not in lane_by_name:
        pytest.skip("VMSIM_SKELETON does not name the built skeleton plugin")
    data = lane_by_name["skeleton"].data
    assert data["backends"][0]["plugin"]
    passed = [r for r in data["results"] if r["status"] == "PASS"]
    assert len(passed) >= 80  # quota, memory, lifecycle, with_state and recall tests need no guest code
    assert {r["section"] for r in passed} >= {"session", "quota", "attach", "detach", "flush"}
    gaps = {r["message"] for r in data["results"] if r["status"] == "SKIP"}
    assert gaps and all("skeleton backend executes no guest code" in g for g in gaps)


def test_canary_fails(out_dir):
    junit = os.path.join(out_dir, "canary.xml")
    proc = vc_lanes.run_conform(["--canary", "--backend", "null", "--model", "all", "--junit", junit])
    assert proc.returncode == 1, proc.stdout
    root = ET.parse(junit).getroot()
    assert int(root.get("failures")) == int(root.get("tests")) >= 2
    assert "FAIL" in proc.stdout


def test_tap_output_is_consistent():
    proc = vc_lanes.run_conform(["--backend", "null", "--model", "all", "--filter", "attach/*", "--tap"])
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    plan = [l for l in lines if re.match(r"^1\.\.\d+$", l)]
    assert len(plan) == 1
    results = [l for l in lines if re.match(r"^(not )?ok \d+ ", l)]
    assert len(results) == int(plan[0][3:])
    assert not [l for l in results if l.startswith("not ok")]


def test_bad_command_lines_are_usage_errors():
    assert vc_lanes.run_conform(["--model", "arm"]).returncode == 2
    assert vc_lanes.run_conform(["--backend", "no-such-backend"]).returncode == 2
    assert vc_lanes.run_conform(["--backend-so", "/nonexistent.so"]).returncode == 2
    assert vc_lanes.run_conform(["--backend", "null", "--filter", "no-test-is-named-this"]).returncode == 2


def test_profile_selects_expectations_and_is_named(out_dir):
    """--profile: base-hw/nova block in a foreign with_state (SKIP with the reason); the reports name the profile."""
    args = ["--backend", "null", "--model", "svm", "--filter", "state/foreign_thread_denied"]
    default = vc_lanes.run_conform(args)
    assert default.returncode == 0 and "PASS null/svm state/foreign_thread_denied" in default.stdout
    assert "profile vmsim" in default.stdout
    junit, js = os.path.join(out_dir, "profile.xml"), os.path.join(out_dir, "profile.json")
    p = vc_lanes.run_conform(args + ["--profile", "base-hw", "--junit", junit, "--json", js])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SKIP null/svm state/foreign_thread_denied" in p.stdout
    assert "profile base-hw: with_state off the handler's thread blocks forever" in p.stdout
    assert "profile base-hw" in p.stdout
    assert ET.parse(junit).getroot().get("profile") == "base-hw"
    import json
    assert json.load(open(js))["profile"] == "base-hw"
    cost = vc_lanes.run_conform(["--backend", "null", "--model", "svm", "--filter", "session/vcpu_cost_exact",
                                 "--profile", "nova"])
    assert cost.returncode == 0 and "profile nova: a vCPU has no fixed cost" in cost.stdout
    bad = vc_lanes.run_conform(args + ["--profile", "l4re"])
    assert bad.returncode == 2
    assert "--profile must be vmsim, base-hw or nova, not 'l4re'" in bad.stderr
    assert "--profile NAME" in vc_lanes.run_conform(["--help"]).stdout


def test_a_named_backend_that_cannot_run_here_is_77_not_failures():
    """kvm without a usable /dev/kvm: one clear line and status 77 (before: every case ran and failed)."""
    p = vc_lanes.run_conform(["--backend", "kvm", "--model", "svm", "--filter", "io/outb_imm"])
    if vc_lanes.kvm_verdict()[0]:
        assert p.returncode == 0, p.stdout + p.stderr  # the host can run it: the case runs and passes
        return
    assert p.returncode == 77, p.stdout + p.stderr
    assert "backend kvm cannot run on this host (UNSUPPORTED" in p.stderr
    # the backend's own line says why: no /dev/kvm to open, or one that answers no KVM ioctl
    assert ("cannot open /dev/kvm" in p.stderr) != ("/dev/kvm lacks API 12" in p.stderr), p.stderr
    assert "FAIL" not in p.stdout
    both = vc_lanes.run_conform(["--backend", "unicorn,kvm", "--model", "svm", "--filter", "io/outb_imm"])
    assert both.returncode == 77 and "PASS" not in both.stdout  # nothing runs when one named backend cannot


def executing_lanes(lanes):
    return [lane for lane in lanes if any(r["section"] == "io" and r["status"] == "PASS" for r in lane.data["results"])]


def passed(lane, model):
    return {f'{r["section"]}__{r["name"]}' for r in lane.data["results"] if r["model"] == model and r["status"] == "PASS"}


def test_differential_models_agree(lanes):
    """Same guest, same backend: the neutral exit sequence under SVM equals the one under VMX."""
    compared = 0
    for lane in executing_lanes(lanes):
        svm = vc_lanes.read_traces(lane.trace, lane.name, "svm")
        vmx = vc_lanes.read_traces(lane.trace, lane.name, "vmx")
        both = passed(lane, "svm") & passed(lane, "vmx")
        for key in sorted(both & svm.keys() & vmx.keys()):
            section, name = key.split("__", 1)
            if section not in DIFF_SECTIONS or MODEL_SPECIFIC.search(name):
                continue
            assert svm[key] == vmx[key], f"{lane.name} {key}: svm and vmx exit sequences differ"
            compared += 1
    assert compared >= 100


# The trace's exit kind of each capability a backend may lack: such exits stay in the other backend's trace only.
GAP_KINDS = {"EXIT_CPUID": "cpuid", "EXIT_RDTSC": "rdtsc", "EXIT_RDTSCP": "rdtscp", "EXIT_MSR": "msr",
             "EXIT_VMCALL": "vmcall", "EXIT_HLT": "hlt"}


def lacking_kinds(lane):
    """Exit kinds this lane's backend declares absent (the conformance tour runs NOPs in their place)."""
    caps = next(b["caps"] for b in lane.data["backends"] if b["name"] == lane.name)
    return {kind for cap, kind in GAP_KINDS.items() if caps.get(cap) is not True}  # absent: the gap's reason


def without(trace, kinds):
    """The trace less its lines ("cpuN KIND rip=...") of the given exit kinds; a shutdown line keeps its kind only
    (guest state is undefined after an SVM shutdown intercept, APM vol. 2 15.11; KVM on SVM resets the vCPU)."""
    out = []
    for line in trace.splitlines(True):
        words = line.split() + ["", ""]
        if words[1] in kinds:
            continue
        out.append(f"{words[0]} shutdown\n" if words[1] == "shutdown" else line)
    return "".join(out)


def test_differential_backends_agree(lanes):
    """Same guest, same model: every executing backend reports the same neutral exit sequence, less the exit kinds
    either one declares absent; at least 100 cases are compared against each other backend."""
    runners = executing_lanes(lanes)
    if len(runners) < 2:
        pytest.skip("only one backend here executes guest code (%s); KVM joins where /dev/kvm is usable"
                    % ", ".join(l.name for l in runners))
    base = runners[0]
    for other in runners[1:]:
        gaps = lacking_kinds(base) | lacking_kinds(other)
        compared = 0
        for model in ("svm", "vmx"):
            a = vc_lanes.read_traces(base.trace, base.name, model)
            b = vc_lanes.read_traces(other.trace, other.name, model)
            for key in sorted(passed(base, model) & passed(other, model) & a.keys() & b.keys()):
                if key.split("__", 1)[0] in DIFF_SECTIONS:
                    assert without(a[key], gaps) == without(b[key], gaps), f"{base.name} vs {other.name} {model} {key}"
                    compared += 1
        assert compared >= 100, f"{base.name} vs {other.name}: only {compared} cases compared"