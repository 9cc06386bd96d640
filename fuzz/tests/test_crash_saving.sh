#!/bin/bash
# fuzz/tests/test_crash_saving.sh - a crash found while fuzzing is saved, announced with a one-line
# reproduction command, and that command reproduces it. Usage: test_crash_saving.sh REPLAY_BINARY SEED_DIR SCRATCH
set -uo pipefail
bin=$1 seeds=$2 scratch=$3
rm -rf "$scratch" && mkdir -p "$scratch"
"$bin" -t 10 -s 7 -o "$scratch" -n crashy "$seeds" > "$scratch/out.log" 2>&1
status=$?
[ "$status" -ne 0 ] || { echo "the crashing target exited 0"; exit 1; }
files=("$scratch"/crash-crashy-*)
[ -f "${files[0]}" ] || { echo "no crash file saved"; cat "$scratch/out.log"; exit 1; }
line=$(grep '^reproduce: ' "$scratch/out.log") || { echo "no reproduction line"; cat "$scratch/out.log"; exit 1; }
[ "$line" = "reproduce: $bin ${files[0]}" ] || { echo "unexpected line: $line"; exit 1; }
# the line, run as printed, crashes again on the same invariant
${line#reproduce: } > "$scratch/again.log" 2>&1 && { echo "the saved input does not crash"; exit 1; }
grep -q 'invariant failed: size == 4' "$scratch/again.log" || { echo "a different crash:"; cat "$scratch/again.log"; exit 1; }
echo "crash saved as ${files[0]##*/} and reproduced"
