#!/bin/sh
# vmsim_run_diff.sh - `vmsim run --backend kvm` against `--backend unicorn` on the same guests, both models: same
# status, same console, same exit trace once the exits KVM keeps in the kernel (its cap_gap) are left out of
# Unicorn's. MODE is real/protected/long for guests that end by themselves, or bios for firmware this project did
# not write (Debian's SeaBIOS): it runs until --max-exits, so there the shorter trace and console must be the
# start of the longer one (KVM's in-kernel CPUID exits shift where each backend's exit budget ends).
# usage: vmsim_run_diff.sh VMSIM MODE:GUEST.bin ...   (prints CMocka-style summary lines for the KVM lane)
vmsim=$1
shift
passed=0 failed=0 skipped=0
tmp=${TMPDIR:-/tmp}/vmsim_run_diff.$$
mkdir -p "$tmp"

# why KVM cannot start at the reset vector here (the backend's probed RESET_VECTOR gap), or nothing
reset_vector_gap() {
	"$vmsim" conform --backend kvm --model svm --filter modes/real_to_long_by_itself --json "$tmp/caps.json" \
		>/dev/null 2>&1
	grep -oE '"RESET_VECTOR": "[^"]*"' "$tmp/caps.json" 2>/dev/null | head -n 1
}

# run BACKEND MODEL MODE GUEST: trace, console and status into $tmp/BACKEND.*
run() {
	if [ "$3" = bios ]; then
		set -- "$1" "$2" "$4" --bios --console 0x402 --max-exits 20000 --timeout 240
	else
		set -- "$1" "$2" "$4" --mode "$3" --exit-port 0xf0 --timeout 20
	fi
	backend=$1 model=$2 guest=$3
	shift 3
	"$vmsim" run --backend "$backend" --model "$model" "$@" --trace "$tmp/$backend.jsonl" "$guest" \
		>"$tmp/$backend.out" 2>"$tmp/$backend.err"
	echo $? >"$tmp/$backend.rc"
	# drop what KVM cannot deliver, the recalls of a vCPU computing without exits (how many depends on host speed:
	# docs/vmsim-run.md "TIME") and the sequence numbers those gaps shift; a SHUTDOWN compares by kind only
	# (guest state is undefined after an SVM SHUTDOWN intercept and KVM on SVM resets the vCPU: docs/spec.md)
	grep -vE '"kind":"(cpuid|msr|rdtsc|rdtscp|vmcall|paused)"' "$tmp/$backend.jsonl" |
		sed -E -e 's/"seq":[0-9]+,//' -e '/"kind":"shutdown"/s/,"ip":[0-9]+//' >"$tmp/$backend.trace"
}

# cut FILE to N lines (-n) or N bytes (-c) in place
cut_to() {
	head "$1" "$2" "$3" >"$3.cut"
	mv "$3.cut" "$3"
}

# the bios runs end at the exit budget: compare the common start of trace and console
common_start() {
	lines_u=$(wc -l <"$tmp/unicorn.trace") lines_k=$(wc -l <"$tmp/kvm.trace")
	lines=$((lines_u < lines_k ? lines_u : lines_k))
	cut_to -n "$lines" "$tmp/unicorn.trace"
	cut_to -n "$lines" "$tmp/kvm.trace"
	bytes_u=$(wc -c <"$tmp/unicorn.out") bytes_k=$(wc -c <"$tmp/kvm.out")
	bytes=$((bytes_u < bytes_k ? bytes_u : bytes_k))
	cut_to -c "$bytes" "$tmp/unicorn.out"
	cut_to -c "$bytes" "$tmp/kvm.out"
}

gap=
for spec in "$@"; do
	mode=${spec%%:*} guest=${spec#*:}
	if [ "$mode" = bios ] && [ -z "$gap" ]; then
		gap=$(reset_vector_gap)
		[ -n "$gap" ] || gap=none
	fi
	for model in svm vmx; do
		if [ "$mode" = bios ] && [ "$gap" != none ]; then
			echo "[  SKIPPED ] $spec/$model: $gap"
			skipped=$((skipped + 1))
			continue
		fi
		run unicorn $model "$mode" "$guest"
		run kvm $model "$mode" "$guest"
		rc_u=$(cat "$tmp/unicorn.rc") rc_k=$(cat "$tmp/kvm.rc")
		[ "$mode" = bios ] && common_start
		if cmp -s "$tmp/unicorn.rc" "$tmp/kvm.rc" && cmp -s "$tmp/unicorn.out" "$tmp/kvm.out" &&
			cmp -s "$tmp/unicorn.trace" "$tmp/kvm.trace" && [ -s "$tmp/kvm.trace" ]; then
			echo "[       OK ] $spec/$model: status $rc_k, $(wc -l <"$tmp/kvm.trace") exits alike," \
				"$(wc -c <"$tmp/kvm.out") console bytes alike"
			passed=$((passed + 1))
		else
			echo "[  FAILED  ] $spec/$model: status unicorn $rc_u kvm $rc_k"
			cat "$tmp/kvm.err"
			diff "$tmp/unicorn.out" "$tmp/kvm.out" | head -n 20
			diff "$tmp/unicorn.trace" "$tmp/kvm.trace" | head -n 40
			failed=$((failed + 1))
		fi
	done
done
rm -rf "$tmp"
echo "[  PASSED  ] $passed test(s)."
[ "$skipped" -eq 0 ] || echo "[  SKIPPED ] $skipped test(s), listed above"
[ "$failed" -eq 0 ] || echo "[  FAILED  ] $failed test(s), listed above"
[ "$failed" -eq 0 ]
