"""vc_lanes.py - run `vmsim conform` per backend lane, read its JUnit/JSON, merge them, render the matrix."""
import html
import json
import os
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field


@dataclass
class Lane:
    name: str                 # the backend's name as the matrix shows it
    args: list                # how to select it: ["--backend", "unicorn"] or ["--backend-so", PATH]
    junit: str = ""
    json: str = ""
    trace: str = ""
    returncode: int = -1
    output: str = ""
    data: dict = field(default_factory=dict)


def vmsim_binary():
    path = os.environ.get("VMSIM")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError("set VMSIM to the built vmsim binary (CTest does)")
    return path


def run_conform(args, timeout=900, env_extra=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([vmsim_binary(), "conform", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def kvm_verdict():
    """Whether the kvm backend runs here, as vmsim itself finds: (True, "") or (False, why). A /dev/kvm the process
    may open can still answer no KVM ioctl (a device node without the module behind it): vmsim says 77 then."""
    probe = run_conform(["--backend", "kvm", "--model", "svm", "--filter", "session/open_charges_session_cost"])
    if probe.returncode == 0:
        return True, ""
    if probe.returncode in (2, 77):  # 2: no such backend in this build; 77: it cannot run on this host
        return False, (probe.stderr.strip().splitlines() or ["status %d" % probe.returncode])[-1]
    raise RuntimeError("vmsim conform's KVM probe failed (status %d): %s" % (probe.returncode, probe.stderr))


def available_lanes():
    """Every lane this build can run: unicorn, null, the skeleton plugin, and KVM where vmsim finds it usable."""
    lanes = [Lane("unicorn", ["--backend", "unicorn"]), Lane("null", ["--backend", "null"])]
    skeleton = os.environ.get("VMSIM_SKELETON")
    if skeleton and os.path.exists(skeleton):
        lanes.append(Lane("skeleton", ["--backend-so", skeleton]))
    if os.access("/dev/kvm", os.F_OK) and kvm_verdict()[0]:
        lanes.append(Lane("kvm", ["--backend", "kvm"]))
    return lanes


def run_lane(lane, out_dir):
    lane.junit = os.path.join(out_dir, f"{lane.name}.xml")
    lane.json = os.path.join(out_dir, f"{lane.name}.json")
    lane.trace = os.path.join(out_dir, "trace")
    proc = run_conform([*lane.args, "--model", "all", "--junit", lane.junit, "--json", lane.json],
                       env_extra={"VMSIM_CONFORM_TRACE": lane.trace})
    lane.returncode, lane.output = proc.returncode, proc.stdout + proc.stderr
    with open(lane.json) as f:
        lane.data = json.load(f)
    return lane


def junit_counts(path):
    """{(backend, model, section): [pass, skip, fail]} from a JUnit file."""
    counts = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        backend, model, section = case.get("classname").split(".", 2)
        status = 2 if case.find("failure") is not None else 1 if case.find("skipped") is not None else 0
        counts.setdefault((backend, model, section), [0, 0, 0])[status] += 1
    return counts


def json_counts(data):
    return {(m["backend"], m["model"], m["section"]): [m["pass"], m["skip"], m["fail"]] for m in data["matrix"]}


def merge_junit(paths, out):
    root = ET.Element("testsuites", name="vmsim conformance")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for path in paths:
        for suite in ET.parse(path).getroot().iter("testsuite"):
            root.append(suite)
            for key in totals:
                totals[key] += int(suite.get(key, "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)
    return totals


def matrix_rows(lanes):
    """Sections in suite order and the columns (backend/model) with their cells."""
    sections, columns, cells = [], [], {}
    for lane in lanes:
        for m in lane.data["matrix"]:
            if m["section"] not in sections:
                sections.append(m["section"])
            col = f'{m["backend"]}/{m["model"]}'
            if col not in columns:
                columns.append(col)
            cells[(m["section"], col)] = (m["pass"], m["skip"], m["fail"])
    return sections, columns, cells


def write_markdown(lanes, out):
    sections, columns, cells = matrix_rows(lanes)
    lines = ["# vmsim conformance matrix", "", "pass / skip / fail per section x backend x model", "",
             "| section | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for s in sections:
        row = [("%d / %d / %d" % cells[(s, c)]) if (s, c) in cells else "-" for c in columns]
        lines.append(f"| {s} | " + " | ".join(row) + " |")
    lines += ["", "## Why tests were skipped", ""]
    for lane in lanes:
        reasons = sorted({r["message"] for r in lane.data["results"] if r["status"] == "SKIP"})
        for reason in reasons:
            lines.append(f"- {lane.name}: {reason}")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_html(lanes, out):
    sections, columns, cells = matrix_rows(lanes)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = []
    for s in sections:
        tds = []
        for c in columns:
            p, k, fl = cells.get((s, c), (0, 0, 0))
            colour = "#f8d7da" if fl else "#fff3cd" if k and not p else "#d4edda"
            tds.append(f'<td style="background:{colour}">{p} / {k} / {fl}</td>')
        rows.append(f"<tr><th>{html.escape(s)}</th>{''.join(tds)}</tr>")
    with open(out, "w") as f:
        f.write("<!doctype html><html><head><meta charset='utf-8'><title>vmsim conformance</title></head><body>"
                "<h1>vmsim conformance matrix</h1><p>pass / skip / fail</p>"
                f"<table border='1' cellspacing='0' cellpadding='4'><tr><th>section</th>{head}</tr>"
                + "".join(rows) + "</table></body></html>\n")


def read_traces(trace_dir, backend, model):
    base = os.path.join(trace_dir, backend, model)
    if not os.path.isdir(base):
        return {}
    traces = {}
    for name in os.listdir(base):
        with open(os.path.join(base, name)) as f:
            traces[name[:-len(".trace")]] = f.read()
    return traces
