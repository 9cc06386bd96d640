#!/bin/sh
# vmsim_run_firmware.sh - `vmsim run --backend kvm --bios` on firmware this project did not write (Debian's SeaBIOS):
# it must print its banner on the debug console (0x402) under both models, as it does on unicorn
# (vmsim_run_firmware_test). A host whose KVM cannot start at the reset vector (the backend's probed cap
# RESET_VECTOR is a gap) skips with that reason. usage: vmsim_run_firmware.sh VMSIM BIOS.bin   (KVM lane)
vmsim=$1 bios=$2
tmp=${TMPDIR:-/tmp}/vmsim_run_firmware.$$
mkdir -p "$tmp"
passed=0 failed=0
"$vmsim" conform --backend kvm --model svm --filter modes/real_to_long_by_itself --json "$tmp/caps.json" \
	>/dev/null 2>&1
gap=$(grep -oE '"RESET_VECTOR": "[^"]*"' "$tmp/caps.json" | head -n 1)
if [ -n "$gap" ]; then
	echo "[  SKIPPED ] seabios banner on kvm: $gap"
	echo "[  PASSED  ] 0 test(s)."
	rm -rf "$tmp"
	exit 0
fi
for model in svm vmx; do
	"$vmsim" run --backend kvm --model $model --bios --console 0x402 --max-exits 3000 --timeout 60 "$bios" \
		>"$tmp/out" 2>"$tmp/err"
	rc=$?
	if grep -q "SeaBIOS (version" "$tmp/out" && grep -q "BUILD:" "$tmp/out"; then
		echo "[       OK ] seabios banner on kvm/$model (status $rc)"
		passed=$((passed + 1))
	else
		echo "[  FAILED  ] seabios banner on kvm/$model (status $rc)"
		head -c 2000 "$tmp/out"
		cat "$tmp/err"
		failed=$((failed + 1))
	fi
done
rm -rf "$tmp"
echo "[  PASSED  ] $passed test(s)."
[ "$failed" -eq 0 ] || echo "[  FAILED  ] $failed test(s), listed above"
[ "$failed" -eq 0 ]
