#!/bin/bash -eu
# .clusterfuzzlite/build.sh - every fuzz target into $OUT with its seed corpus zip, dictionary and options.
#
# OSS-Fuzz/ClusterFuzzLite contract: compile with $CC $CFLAGS, link $LIB_FUZZING_ENGINE, write to $OUT; $SRC and
# $WORK are given. Only $OUT exists when the fuzzers run, so the shared libraries libvmsim links (Unicorn,
# Capstone) are copied next to the targets, which find them through RUNPATH $ORIGIN. Exercised locally by
# fuzz/tests/test_cflite_build.sh with the same variables set.
src=${SRC}/vmsim
[ -d "$src" ] || src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
targets="rpc_decode rpc_session vcpu_state guest_code model_diff hwstate"

cmake -S "$src" -B "$WORK/vmsim-build" -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DVMSIM_TESTS=OFF -DVMSIM_FUZZ=ON -DVMSIM_FUZZ_CFLAGS="$CFLAGS" -DVMSIM_FUZZ_LDFLAGS="$CFLAGS $LIB_FUZZING_ENGINE"
cmake --build "$WORK/vmsim-build" -j "$(nproc)" --target $(printf 'fuzz_%s ' $targets)

for t in $targets; do
	cp "$WORK/vmsim-build/fuzz/fuzz_$t" "$OUT/$t"
	cp "$src/fuzz/dict/$t.dict" "$OUT/$t.dict"
	cp "$src/fuzz/options/$t.options" "$OUT/$t.options"
	rm -f "$OUT/${t}_seed_corpus.zip"
	(cd "$src/fuzz/corpus/$t" && zip -q -j "$OUT/${t}_seed_corpus.zip" ./*)
done

# ship what the bots do not have: every non-libc library of the targets that comes from the build image
for lib in $(ldd "$OUT/guest_code" | awk '/unicorn|capstone/ {print $3}'); do
	cp -L "$lib" "$OUT/"
done
