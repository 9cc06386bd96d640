#!/bin/sh
# vmsim_run_diff.sh - `vmsim run --backend kvm` against `--backend unicorn` on the same guests, both models: same
# status, same console, same exit trace once the exits KVM keeps in the kernel (its cap_gap) are left out of
# Unicorn's. MODE is real/protected/long for guests that end by themselves, or bios for firmware this project did
# not write (Debian's SeaBIOS): it runs until --max-exits, so there the shorter trace and console must be the
# start of the longer one (KVM's in-kernel CPUID exits shift where each backend's exit budget ends).
# usage: vmsim_run_diff.sh VMSIM MODE:GUEST.bin[:CAP+...] ...   (prints CMocka-style summary lines for the KVM lane)
vmsim=$1
shift
passed=0 failed=0 skipped=0
tmp=${TMPDIR:-/tmp}/vmsim_run_diff.$$
mkdir -p "$tmp"

# Why KVM here lacks capability $1 (the backend's own reason, from `vmsim conform --json`), or nothing.
cap_gap() {
	[ -s "$tmp/caps.json" ] || "$vmsim" conform --backend kvm --model svm --filter modes/real_to_long_by_itself \
		--json "$tmp/caps.json" >/dev/null 2>&1
	grep -oE "\"$1\": \"[^\"]*\"" "$tmp/caps.json" 2>/dev/null | head -n 1
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

# run_kvm_alone MODEL MODE GUEST: KVM alone, briefly, stderr into $tmp/kvm.err; its status
run_kvm_alone() {
	if [ "$2" = bios ]; then
		set -- "$1" "$3" --bios --console 0x402 --timeout 60
	else
		set -- "$1" "$3" --mode "$2" --exit-port 0xf0 --timeout 3
	fi
	model=$1 guest=$2
	shift 2
	"$vmsim" run --backend kvm --model "$model" "$@" "$guest" >/dev/null 2>"$tmp/kvm.err"
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

# SPEC is MODE:GUEST[:CAP+CAP...]: the capabilities the guest needs besides the mode's own (bios: RESET_VECTOR;
# protected and long: HOST_HYPERCALL, for the exit tour's VMCALL that vmsim run cannot intercept on KVM)
for spec in "$@"; do
	mode=${spec%%:*} guest=${spec#*:} needs=
	case $guest in *:*) needs=${guest#*:} guest=${guest%%:*} ;; esac
	case $mode in bios) needs="RESET_VECTOR${needs:++$needs}" ;; *) needs="HOST_HYPERCALL${needs:++$needs}" ;; esac
	gap= missing=
	for cap in $(echo "$needs" | tr + " "); do
		gap=$(cap_gap "$cap")
		missing=$cap
		[ -z "$gap" ] || break
	done
	for model in svm vmx; do
		if [ -n "$gap" ] && { [ "$missing" = HOST_HYPERCALL ] || [ "$missing" = INT_IRET ]; }; then
			# no diff, but KVM's run must end saying which instruction it cannot run and why (run_vmm.c)
			run_kvm_alone $model "$mode" "$guest"
			rc_k=$?
			if grep -q "which backend kvm cannot run (no $missing): host KVM" "$tmp/kvm.err"; then
				echo "[       OK ] $mode:$guest/$model: status $rc_k, no diff ($missing absent), the run says why:" \
					"$(grep -o "the guest is at '[^']*'" "$tmp/kvm.err")"
				passed=$((passed + 1))
			else
				echo "[  FAILED  ] $mode:$guest/$model: status $rc_k without naming $missing's gap:"
				cat "$tmp/kvm.err"
				failed=$((failed + 1))
			fi
			continue
		fi
		if [ -n "$gap" ]; then
			echo "[  SKIPPED ] $mode:$guest/$model: $gap"
			skipped=$((skipped + 1))
			continue
		fi
		run unicorn $model "$mode" "$guest"
		run kvm $model "$mode" "$guest"
		rc_u=$(cat "$tmp/unicorn.rc") rc_k=$(cat "$tmp/kvm.rc")
		[ "$mode" = bios ] && common_start
		if cmp -s "$tmp/unicorn.rc" "$tmp/kvm.rc" && cmp -s "$tmp/unicorn.out" "$tmp/kvm.out" &&
			cmp -s "$tmp/unicorn.trace" "$tmp/kvm.trace" && [ -s "$tmp/kvm.trace" ]; then
			echo "[       OK ] $mode:$guest/$model: status $rc_k, $(wc -l <"$tmp/kvm.trace") exits alike," \
				"$(wc -c <"$tmp/kvm.out") console bytes alike"
			passed=$((passed + 1))
		else
			echo "[  FAILED  ] $mode:$guest/$model: status unicorn $rc_u kvm $rc_k"
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
