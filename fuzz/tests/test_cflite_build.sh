#!/bin/bash
# fuzz/tests/test_cflite_build.sh - run .clusterfuzzlite/build.sh as OSS-Fuzz would and check what lands in $OUT.
# Usage: test_cflite_build.sh SOURCE_DIR SCRATCH_DIR. Needs clang-14 (libFuzzer) and zip.
set -euo pipefail
src=$(cd "$1" && pwd)
scratch=$2
rm -rf "$scratch"
mkdir -p "$scratch/src" "$scratch/work" "$scratch/out"
ln -s "$src" "$scratch/src/vmsim"

# the variables OSS-Fuzz's base-builder sets for an ASan libFuzzer build (paths moved under the scratch dir)
export CC=clang-14 CXX=clang++-14
export CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only -fsanitize=address -fsanitize-address-use-after-scope -fsanitize=fuzzer-no-link"
export LIB_FUZZING_ENGINE=-fsanitize=fuzzer
export SRC=$scratch/src WORK=$scratch/work OUT=$scratch/out
"$src/.clusterfuzzlite/build.sh" > "$scratch/build.log" 2>&1 || { tail -30 "$scratch/build.log"; exit 1; }

fail=0
for t in rpc_decode rpc_session vcpu_state guest_code model_diff hwstate; do
	for f in "$t" "$t.dict" "$t.options" "${t}_seed_corpus.zip"; do
		[ -s "$OUT/$f" ] || { echo "missing $OUT/$f"; fail=1; }
	done
	[ -x "$OUT/$t" ] || { echo "$t is not executable"; fail=1; continue; }
	grep -q '^\[libfuzzer\]' "$OUT/$t.options" || { echo "$t.options has no [libfuzzer] section"; fail=1; }
	readelf -d "$OUT/$t" | grep -q 'R.*PATH.*\$ORIGIN' || { echo "$t does not look for libraries in \$ORIGIN"; fail=1; }
	# the bot's first step: run the seed corpus, unpacked, once
	mkdir -p "$scratch/seeds/$t"
	unzip -q -o "$OUT/${t}_seed_corpus.zip" -d "$scratch/seeds/$t"
	(cd "$OUT" && "./$t" -runs=0 -dict="$t.dict" "$scratch/seeds/$t" > "$scratch/$t.log" 2>&1) ||
		{ echo "$t failed on its seeds:"; tail -5 "$scratch/$t.log"; fail=1; }
	grep -q 'INITED' "$scratch/$t.log" || { echo "$t did not start libFuzzer"; fail=1; }
done
# Unicorn and Capstone ride along: only $OUT exists on the bots
ls "$OUT" | grep -q '^libunicorn\.so' || { echo "libunicorn not shipped in \$OUT"; fail=1; }
[ "$fail" = 0 ] && echo "ClusterFuzzLite build: every target, corpus, dict and options in \$OUT"
exit "$fail"
