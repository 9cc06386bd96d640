#!/usr/bin/python3
"""function-lengths.py: C functions longer than a limit (issue 11: "no function over 80 lines").

A function's length is its lines from the one with its name to its closing brace, as Universal Ctags reports
them (--fields=+ne). Prints every function over --max lines, longest first, and a summary line; exits 1 if there is
one, 0 if there is none, 2 on bad input (ctags missing or failing, no C file found). A function named by --allow
PATH:NAME is listed as allowed and does not fail the run (a known one waiting for its split); an --allow naming no
function over the limit is reported as stale, so the list shrinks with the debt.

  function-lengths.py [--ctags CTAGS] [--max N] [--exclude SUBSTRING ...] [--allow PATH:NAME ...] PATH ...

A PATH that is a directory stands for every .c file below it; names are printed relative to the current directory.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys


def c_files(paths, excludes):
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    if name.endswith(".c"):
                        yield os.path.relpath(os.path.join(root, name))
        elif path.endswith(".c"):
            yield os.path.relpath(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ctags", default="ctags")
    ap.add_argument("--max", type=int, default=80)
    ap.add_argument("--exclude", action="append", default=[], help="skip files whose path contains this")
    ap.add_argument("--allow", action="append", default=[], metavar="PATH:NAME",
                    help="a function allowed over the limit (reported, not failed)")
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    if not shutil.which(args.ctags):
        print("function-lengths: %s not found (Debian package universal-ctags)" % args.ctags, file=sys.stderr)
        return 2
    files = [f for f in c_files(args.paths, args.exclude) if not any(x in f for x in args.exclude)]
    if not files:
        print("function-lengths: no .c file in %s" % " ".join(args.paths), file=sys.stderr)
        return 2
    out = subprocess.run([args.ctags, "--output-format=json", "--fields=+ne", "--kinds-C=f", "--languages=C",
                          "--language-force=C", "-f", "-"] + files, capture_output=True, text=True)
    if out.returncode != 0:
        print("function-lengths: ctags failed: %s" % out.stderr.strip(), file=sys.stderr)
        return 2
    functions, long_ones = 0, []
    for line in out.stdout.splitlines():
        tag = json.loads(line)
        if tag.get("_type") != "tag" or tag.get("kind") != "function" or "end" not in tag:
            continue
        functions += 1
        length = tag["end"] - tag["line"] + 1
        if length > args.max:
            long_ones.append((length, tag["path"], tag["line"], tag["name"]))
    failing, allowed = [], set(args.allow)
    for length, path, line, name in sorted(long_ones, key=lambda t: (-t[0], t[1], t[2])):
        known = "%s:%s" % (path, name) in allowed
        print("%s:%d: %s is %d lines (over %d)%s" % (path, line, name, length, args.max,
                                                     ", allowed for now" if known else ""))
        allowed.discard("%s:%s" % (path, name))
        if not known:
            failing.append(name)
    for stale in sorted(allowed):
        print("%s: allowed but not over %d lines: drop it from the allow list" % (stale, args.max))
    print("%d files, %d functions, %d over %d lines (%d allowed)" % (len(files), functions, len(long_ones), args.max,
                                                                    len(long_ones) - len(failing)))
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
