#!/bin/sh
# vmsim_run_linux.sh - `vmsim run --backend kvm --linux` on a guest this project did not write: the lane's own
# Debian kernel. It pages, switches modes and takes #PF by itself (tools/vmsim/tests/test_run_linux.py says what it
# does); here it must print the lines it prints on unicorn, in the same order, and make the same I/O exits through
# its decompressor (LINUX_IO, shared with the unicorn test), under both models.
# usage: vmsim_run_linux.sh VMSIM VMLINUZ LINUX_IO   (KVM lane; prints CMocka-style summary lines)
vmsim=$1 kernel=$2 expected_io=$3
backend=${VMSIM_BACKEND:-kvm} # unicorn: the same checks off the lane
cmdline="earlyprintk=serial,ttyS0,115200 console=ttyS0 nokaslr"
tmp=${TMPDIR:-/tmp}/vmsim_run_linux.$$
mkdir -p "$tmp"
# the lane boots this very kernel: its version is the guest's (VMSIM_LINUX_VERSION names it off the lane)
cat >"$tmp/lines" <<LINES
KASLR disabled: 'nokaslr' on cmdline.
[    0.000000] Linux version ${VMSIM_LINUX_VERSION:-$(uname -r)} (
[    0.000000] Command line: $cmdline
[    0.000000] BIOS-provided physical RAM map:
[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable
[    0.000000] BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved
[    0.000000] BIOS-e820: [mem 0x0000000000100000-0x0000000007ff8fff] usable
[    0.000000] BIOS-e820: [mem 0x0000000007ff9000-0x0000000007ffffff] reserved
[    0.000000] printk: bootconsole [earlyser0] enabled
[    0.000000] NX (Execute Disable) protection: active
LINES
passed=0 failed=0
# The kernel returns from its own early #PF handler (early_make_pgtable) with IRETQ before "Linux version": a KVM
# that cannot run a guest's IRET (INT_IRET absent: kvm_pvm, which runs such a guest in KVM's instruction emulator)
# cannot boot it. The backend's own reason, from `vmsim conform --json`.
if [ "$backend" = kvm ]; then
	"$vmsim" conform --backend kvm --model svm --filter modes/real_to_long_by_itself --json "$tmp/caps.json" \
		>/dev/null 2>&1
	gap=$(grep -oE '"INT_IRET": "[^"]*"' "$tmp/caps.json" 2>/dev/null | head -n 1)
	if [ -n "$gap" ]; then
		echo "[  SKIPPED ] debian kernel on kvm/svm, kvm/vmx: $gap"
		rm -rf "$tmp"
		echo "[  PASSED  ] 0 test(s)."
		echo "[  SKIPPED ] 2 test(s), listed above"
		exit 0
	fi
fi
for model in svm vmx; do
	"$vmsim" run --backend "$backend" --model $model --linux --mem 128M --cmdline "$cmdline" --max-exits 4000 --timeout 150 \
		--trace "$tmp/trace" "$kernel" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	# the expected lines in order, each starting a console line after the previous one (awk: the lane adds it);
	# \001 is the baud divisor each 8250 setup writes to 0x3f8 with DLAB set, which the console stand-in prints
	missing=$(tr -d '\r\001' <"$tmp/out" | awk 'NR == FNR { want[n++] = $0; next }
		i < n && index($0, want[i]) == 1 { i++ }
		END { if (i < n) print want[i] }' "$tmp/lines" -)
	n=$(wc -l <"$expected_io")
	grep '"kind":"io"' "$tmp/trace" | head -n "$n" |
		sed -E 's/.*"port":([0-9]+),"size":[0-9]+,"dir":"(in|out)","value":([0-9]+).*/\2 \1 \3/; s/^in ([0-9]+) [0-9]+$/in \1/' \
		>"$tmp/io"
	if [ -z "$missing" ] && cmp -s "$tmp/io" "$expected_io" && [ "$rc" = 124 ]; then
		echo "[       OK ] debian kernel on $backend/$model: its first log lines, $n decompressor I/O exits alike (status $rc)"
		passed=$((passed + 1))
	else
		echo "[  FAILED  ] debian kernel on $backend/$model (status $rc)${missing:+, missing: $missing}"
		diff "$expected_io" "$tmp/io" | head -n 20
		tail -c 3000 "$tmp/out"
		tail -n 5 "$tmp/err"
		failed=$((failed + 1))
	fi
done
rm -rf "$tmp"
echo "[  PASSED  ] $passed test(s)."
[ "$failed" -eq 0 ] || echo "[  FAILED  ] $failed test(s), listed above"
[ "$failed" -eq 0 ]
