#!/bin/sh
# vmsim_run_diff.sh - `vmsim run --backend kvm` against `--backend unicorn` on the same guests: same status, same
# console, same exit trace once the exits KVM keeps in the kernel (its cap_gap) are left out of Unicorn's.
# usage: vmsim_run_diff.sh VMSIM MODE:GUEST.bin ...   (prints CMocka-style summary lines for the KVM lane)
vmsim=$1
shift
passed=0 failed=0
tmp=${TMPDIR:-/tmp}/vmsim_run_diff.$$
mkdir -p "$tmp"
for spec in "$@"; do
	mode=${spec%%:*} guest=${spec#*:}
	for backend in unicorn kvm; do
		"$vmsim" run --backend $backend --mode "$mode" --exit-port 0xf0 --timeout 20 \
			--trace "$tmp/$backend.jsonl" "$guest" >"$tmp/$backend.out" 2>"$tmp/$backend.err"
		echo $? >"$tmp/$backend.rc"
		# drop what KVM cannot deliver, and the sequence numbers those gaps shift
		grep -vE '"kind":"(cpuid|msr|rdtsc|rdtscp|vmcall)"' "$tmp/$backend.jsonl" |
			sed -E 's/"seq":[0-9]+,//' >"$tmp/$backend.trace"
	done
	if cmp -s "$tmp/unicorn.rc" "$tmp/kvm.rc" && cmp -s "$tmp/unicorn.out" "$tmp/kvm.out" &&
		cmp -s "$tmp/unicorn.trace" "$tmp/kvm.trace" && [ -s "$tmp/kvm.trace" ]; then
		echo "[       OK ] $spec: status $(cat "$tmp/kvm.rc"), $(wc -l <"$tmp/kvm.trace") exits alike"
		passed=$((passed + 1))
	else
		echo "[  FAILED  ] $spec: status unicorn $(cat "$tmp/unicorn.rc") kvm $(cat "$tmp/kvm.rc")"
		cat "$tmp/kvm.err"
		diff "$tmp/unicorn.trace" "$tmp/kvm.trace"
		failed=$((failed + 1))
	fi
done
rm -rf "$tmp"
echo "[  PASSED  ] $passed test(s)."
[ "$failed" -eq 0 ] || echo "[  FAILED  ] $failed test(s), listed above"
[ "$failed" -eq 0 ]
