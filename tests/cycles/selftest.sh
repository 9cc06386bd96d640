#!/usr/bin/env bash
# selftest.sh PYTHON SCRIPT NM OBJECTS: call-cycles.py finds the one cycle the fixture has (ring_a <-> ring_b,
# not tail), exits 1 on it, and exits 0 where there is none (ring_b left out; a scope outside the cycle).
set -euo pipefail
py=$1 script=$2 nm=$3 objects=$4
rc=0
out=$("$py" "$script" --nm "$nm" --objects tests/cycles/ "$objects") || rc=$?
expected='cycle of 2 files: tests/cycles/fixture/ring_a.c tests/cycles/fixture/ring_b.c
    tests/cycles/fixture/ring_a.c -> tests/cycles/fixture/ring_b.c
    tests/cycles/fixture/ring_b.c -> tests/cycles/fixture/ring_a.c
all files: 3 files, 1 call cycles between files'
[ "$rc" = 1 ] || { echo "exit $rc on a cyclic graph, expected 1"; echo "$out"; exit 1; }
[ "$out" = "$expected" ] || { echo "output differs; got:"; echo "$out"; echo "expected:"; echo "$expected"; exit 1; }
# without ring_b the edge tail -> ring_a remains but no cycle: exit 0
acyclic=$(tr ';' '\n' <<<"$objects" | grep -E '/(tail|ring_a)\.c\.o$' | paste -sd ';')
out=$("$py" "$script" --nm "$nm" --objects tests/cycles/ "$acyclic") || { echo "exit $? without a cycle"; exit 1; }
[ "$out" = "all files: 2 files, 0 call cycles between files" ] || { echo "got: $out"; exit 1; }
# a scope the cycle does not touch reports nothing
out=$("$py" "$script" --nm "$nm" --objects tests/cycles/ "$objects" --scope tests/cycles/fixture/tail) ||
	{ echo "exit $? for a scope outside the cycle"; exit 1; }
[ "$out" = "tests/cycles/fixture/tail: 1 files, 0 call cycles between files" ] || { echo "got: $out"; exit 1; }
echo "call-cycles.py: the fixture's cycle found; no cycle without ring_b or outside the scope"
