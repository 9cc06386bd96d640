#!/usr/bin/env bash
# selftest.sh PYTHON SCRIPT CTAGS FIXTURE_DIR: function-lengths.py reports the fixture's 81-line function and not the
# 80-line one (exit 1), passes with a limit of 81 or the long one allowed (exit 0, a needless allow reported), and
# refuses a tree without C files (exit 2).
set -euo pipefail
py=$1 script=$2 ctags=$3 dir=$4
cd "$(dirname "$dir")"
fixture=$(basename "$dir")
rc=0
out=$("$py" "$script" --ctags "$ctags" "$fixture") || rc=$?
expected="$fixture/lengths.c:2: eighty_one is 81 lines (over 80)
1 files, 3 functions, 1 over 80 lines (0 allowed)"
[ "$rc" = 1 ] || { echo "exit $rc with an 81-line function, expected 1"; echo "$out"; exit 1; }
[ "$out" = "$expected" ] || { echo "output differs; got:"; echo "$out"; echo "expected:"; echo "$expected"; exit 1; }
out=$("$py" "$script" --ctags "$ctags" --max 81 "$fixture") || { echo "exit $? with --max 81"; exit 1; }
[ "$out" = "1 files, 3 functions, 0 over 81 lines (0 allowed)" ] || { echo "got: $out"; exit 1; }
# an allowed function is reported, does not fail; an allow entry for a short function is reported stale
out=$("$py" "$script" --ctags "$ctags" --allow "$fixture/lengths.c:eighty_one" --allow "$fixture/lengths.c:four" \
	"$fixture") || { echo "exit $? with the long function allowed"; exit 1; }
expected="$fixture/lengths.c:2: eighty_one is 81 lines (over 80), allowed for now
$fixture/lengths.c:four: allowed but not over 80 lines: drop it from the allow list
1 files, 3 functions, 1 over 80 lines (1 allowed)"
[ "$out" = "$expected" ] || { echo "allow output differs; got:"; echo "$out"; echo "expected:"; echo "$expected"; exit 1; }
rc=0
"$py" "$script" --ctags "$ctags" --exclude lengths.c "$fixture" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || { echo "exit $rc without C files, expected 2"; exit 1; }
echo "function-lengths.py: the 81-line function found, the 80-line one passes, an allowed one is reported, not failed"
