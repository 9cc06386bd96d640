#!/usr/bin/env bash
# kvm-lane.sh - run vmsim test binaries against a real /dev/kvm, in one of two lanes (docs/ci-kvm.md):
#   --lane host  directly on this machine's own /dev/kvm (a loud skip, 77, where it has none);
#   --lane qemu  inside a Debian kernel booted under QEMU TCG with an emulated AMD SVM CPU, on every machine.
# The QEMU lane's results come back over the serial console: per-test logs, CMocka JUnit XML, one status.
# Each lane first prints the KVM host it runs on (@@HOST: flavour, CPU vendor, kernel).
#
# usage: kvm-lane.sh --lane host|qemu [--out DIR] [--cache DIR] [--smp N] [--timeout S] [--file PATH]...
#        NAME=BINARY[,ARG...] ...
# --file makes PATH (and, for a program, its shared objects) available as @files@/BASENAME (--file @kernel@: the
# lane's Debian kernel, as @files@/vmlinuz); an argument
# starting with @files@/ is rewritten to that lane's directory (/tests/files in the guest, OUT/files on the host).
# exit: 0 all tests passed; 1 a test failed or the lane broke; 77 the lane cannot run here (a loud skip).
set -euo pipefail

out=${VMSIM_KVM_LANE_OUT:-$PWD/kvm-lane}
cache=${VMSIM_KVM_LANE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/vmsim-kvm-lane}
smp=2
timeout_s=170
lane=
tests=()
files=()
while [ $# -gt 0 ]; do
	case $1 in
	--lane) lane=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--cache) cache=$2; shift 2 ;;
	--smp) smp=$2; shift 2 ;;
	--timeout) timeout_s=$2; shift 2 ;;
	--file) files+=("$2"); shift 2 ;;
	-*) echo "kvm-lane: unknown option $1" >&2; exit 1 ;;
	*) tests+=("$1"); shift ;;
	esac
done
[ ${#tests[@]} -gt 0 ] || { echo "kvm-lane: no tests given" >&2; exit 1; }
case $lane in
host | qemu) ;;
*) echo "kvm-lane: --lane host or --lane qemu is required (got '${lane}')" >&2; exit 1 ;;
esac

say() { echo "kvm-lane: $*"; }
skip_loudly() {
	echo "################################################################################"
	echo "kvm-lane ($lane lane): SKIPPED, NOT PASSED: $*"
	echo "kvm-lane: no KVM test ran; this is not a pass."
	echo "################################################################################"
	exit 77
}

rm -rf "$out"
mkdir -p "$out" "$cache"

# Summarise the per-test result lines ("@@RESULT name rc passed failed") written to $out/results.
summarise() {
	local where=$1 ok=0 bad=0 pass=0 fail=0 name rc p f
	[ -s "$out/results" ] || { say "no test results came back ($where)"; return 1; }
	while read -r name rc p f; do
		# a program that is not a CMocka binary (no counts) and exited 0 counts as one passed test
		[ "$rc" = 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && p=1
		pass=$((pass + p)); fail=$((fail + f))
		if [ "$rc" = 0 ]; then ok=$((ok + 1)); else bad=$((bad + 1)); say "FAILED: $name (exit $rc, log $out/$name.log)"; fi
		# a binary that failed (crash, deadline) without a CMocka failure still counts as one failed test
		[ "$rc" = 0 ] || [ "$f" -gt 0 ] || fail=$((fail + 1))
	done <"$out/results"
	local expected=${#tests[@]} got
	got=$(wc -l <"$out/results")
	if [ "$got" -ne "$expected" ]; then
		say "only $got of $expected test binaries reported back"
		bad=$((bad + expected - got))
		fail=$((fail + expected - got))
	fi
	say "$where: $ok binaries passed, $bad failed; CMocka tests: $pass passed, $fail failed"
	echo "kvm: $pass passed, $fail failed"
	[ "$bad" -eq 0 ] && [ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
}

# "passed failed" of one binary, from its CMocka JUnit XML (tests, failures, errors, skipped per suite).
count_cmocka() {
	local xml=$1 log=${1%.xml}.log p f
	if [ ! -s "$xml" ]; then
		# no JUnit (stdout mode, or a crash): CMocka's own summary lines, if any
		p=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) test.*/\1/p' "$log" 2>/dev/null | awk '{s+=$1} END {print s+0}')
		f=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) test.*/\1/p' "$log" 2>/dev/null | awk '{s+=$1} END {print s+0}')
		echo "$p $f"
		return
	fi
	grep -oE '<testsuite [^>]*>' "$xml" | awk '
		{ t = f = e = s = 0
		  if (match($0, / tests="[0-9]+"/)) t = substr($0, RSTART + 8, RLENGTH - 9)
		  if (match($0, / failures="[0-9]+"/)) f = substr($0, RSTART + 11, RLENGTH - 12)
		  if (match($0, / errors="[0-9]+"/)) e = substr($0, RSTART + 9, RLENGTH - 10)
		  if (match($0, / skipped="[0-9]+"/)) s = substr($0, RSTART + 10, RLENGTH - 11)
		  pass += t - f - e - s; fail += f + e }
		END { print pass + 0, fail + 0 }'
}

# ---- the host lane: this machine's own /dev/kvm ----
if [ "$lane" = host ]; then
	if [ ! -e /dev/kvm ]; then
		# a KVM module can be in the kernel and still decline (e.g. kvm_pvm inside a PVM guest): say which and why
		why=
		for m in kvm_intel kvm_amd kvm_pvm; do
			[ -d "/sys/module/$m" ] || continue
			said=$(dmesg 2>/dev/null | grep -E "(${m}|${m//_/-}):" | tail -n 1 | sed 's/^\[[^]]*\] *//') || true
			why="$why; $m is in the kernel but provides no device${said:+ (kernel log: $said)}"
		done
		skip_loudly "this host has no /dev/kvm${why} (the QEMU lane, --lane qemu, still runs KVM under emulation)"
	fi
	[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] ||
		skip_loudly "this host's /dev/kvm is not usable by $(id -un 2>/dev/null || id -u) ($(ls -l /dev/kvm 2>&1))"
	# a node that opens may still have no KVM behind it (no module, a stale node in a container): ask it,
	# KVM_GET_API_VERSION (_IO(0xAE, 0)) = 12, with Debian's python rather than a helper binary to build
	api=$(/usr/bin/python3 -c 'import fcntl, os; print(fcntl.ioctl(os.open("/dev/kvm", os.O_RDWR), 0xAE00))' 2>&1 |
		tail -n 1) || true
	[ "$api" = 12 ] ||
		skip_loudly "this host's /dev/kvm answers no KVM API (KVM_GET_API_VERSION: ${api:-no answer}; $(ls -l /dev/kvm 2>&1))"
	# shellcheck source=host-info.sh
	. "$(dirname "${BASH_SOURCE[0]}")/host-info.sh"
	echo "@@HOST $(kvm_host_info)"
	say "host lane: running the tests on this machine's /dev/kvm"
	mkdir -p "$out/files"
	for f in ${files[@]+"${files[@]}"}; do
		if [ "$f" = @kernel@ ]; then
			# shellcheck source=kernel.sh
			. "$(dirname "${BASH_SOURCE[0]}")/kernel.sh"
			lane_kernel_fetch || exit 1
			f=$kdir/vmlinuz
			# the guest kernel is the lane's, not this host's: vmsim_run_linux.sh expects its version
			export VMSIM_LINUX_VERSION=$kver
		fi
		[ -e "$f" ] || { say "file $f is missing (build first)"; exit 1; }
		ln -sf "$(readlink -f "$f")" "$out/files/$(basename "$f")"
	done
	: >"$out/results"
	start=$(date +%s)
	for spec in "${tests[@]}"; do
		name=${spec%%=*}; IFS=, read -r -a argv <<<"${spec#*=}"
		argv=("${argv[@]//@files@/$out/files}")
		rc=0
		CMOCKA_MESSAGE_OUTPUT=xml CMOCKA_XML_FILE="$out/$name.xml" "${argv[@]}" >"$out/$name.log" 2>&1 || rc=$?
		cat "$out/$name.log"
		echo "$name $rc $(count_cmocka "$out/$name.xml")" >>"$out/results"
	done
	say "host lane took $(($(date +%s) - start))s"
	summarise "host lane, kernel $(uname -r)"
	exit $?
fi

# ---- the QEMU lane: boot a Debian kernel under QEMU TCG (-cpu max has SVM with NPT) ----
qemu=${VMSIM_KVM_LANE_QEMU:-$(command -v qemu-system-x86_64 || true)}
[ -n "$qemu" ] && [ -x "$qemu" ] || skip_loudly "qemu-system-x86_64 is not installed, so the QEMU KVM lane cannot run"
"$qemu" -accel help 2>/dev/null | grep -qx tcg || skip_loudly "$qemu has no TCG accelerator"
busybox=/bin/busybox # busybox-static's path (scripts/setup-deps.sh installs it)
[ -x "$busybox" ] || { say "busybox-static is required (scripts/setup-deps.sh installs it)"; exit 1; }

# The kernel (scripts/kvm-lane/kernel.sh): the version linux-image-amd64 points at today, fetched once into $cache.
# shellcheck source=kernel.sh
. "$(dirname "${BASH_SOURCE[0]}")/kernel.sh"
lane_kernel_fetch || exit 1
say "kernel $kver (Debian $kpkg), QEMU $("$qemu" --version | head -n1 | awk '{print $4}'), -smp $smp, -accel ${VMSIM_KVM_LANE_ACCEL:-tcg,thread=single}"

# ---- the initramfs: busybox, modules, test binaries and the shared objects they load ----
root=$out/initramfs
mkdir -p "$root"/{bin,dev,proc,sys,tmp,out,lib64,modules,tests}
cp "$busybox" "$root/bin/busybox"
for a in sh mount insmod cat echo dd sleep mkdir printf poweroff sync ls timeout tee sed grep cmp diff wc uname head tail sort tr cp rm date tar awk; do ln -sf busybox "$root/bin/$a"; done
cp "$kdir"/modules/*.ko "$root/modules/"
copy_libs() {
	local lib
	for lib in $(ldd "$1" 2>/dev/null | grep -oE '/[^ ]+\.so[^ ]*' | sort -u); do
		mkdir -p "$root$(dirname "$lib")"
		[ -e "$root$lib" ] || cp -L "$lib" "$root$lib"
	done
}
mkdir -p "$root/tests/files"
for f in ${files[@]+"${files[@]}"}; do
	[ "$f" = @kernel@ ] && f=$kdir/vmlinuz # the lane's own kernel, as a guest for `vmsim run --linux`
	[ -e "$f" ] || { say "file $f is missing (build first)"; exit 1; }
	cp "$f" "$root/tests/files/"
	[ -x "$f" ] && copy_libs "$f"
done
: >"$root/tests/list"
for spec in "${tests[@]}"; do
	name=${spec%%=*}; IFS=, read -r -a argv <<<"${spec#*=}"
	[ -x "${argv[0]}" ] || { say "test binary ${argv[0]} is missing (build first)"; exit 1; }
	cp "${argv[0]}" "$root/tests/$name.bin"
	copy_libs "${argv[0]}"
	args=("${argv[@]:1}")
	echo "$name ${args[*]//@files@//tests/files}" >>"$root/tests/list"
done
# each binary's deadline: the lane's own less boot time, unless given
printf 'per_test=%s\noutput=%s\n' "${VMSIM_KVM_LANE_TEST_TIMEOUT:-$((timeout_s > 80 ? timeout_s - 20 : 60))}" \
	"${VMSIM_KVM_LANE_OUTPUT:-xml}" >"$root/tests/env"
for assignment in ${VMSIM_KVM_LANE_ENV:-}; do echo "export $assignment" >>"$root/tests/env"; done
cp "$(dirname "${BASH_SOURCE[0]}")/init.sh" "$root/init"
cp "$(dirname "${BASH_SOURCE[0]}")/host-info.sh" "$root/host-info.sh"
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/initrd.gz"

# ---- boot; isa-debug-exit turns the guest's verdict into QEMU's exit status: 1 pass, 3 fail ----
say "booting ($(du -h "$out/initrd.gz" | cut -f1) initramfs)"
start=$(date +%s)
rc=0
timeout "$timeout_s" "$qemu" -accel "${VMSIM_KVM_LANE_ACCEL:-tcg,thread=single}" -cpu max -m 512 -smp "$smp" -nographic -no-reboot -net none \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-kernel "$kdir/vmlinuz" -initrd "$out/initrd.gz" \
	-append "console=ttyS0 quiet loglevel=${VMSIM_KVM_LANE_LOGLEVEL:-3} panic=-1" </dev/null >"$out/console.log" 2>"$out/qemu.err" || rc=$?
elapsed=$(($(date +%s) - start))
tr -d '\r' <"$out/console.log" >"$out/console.txt"
if [ "$rc" -eq 124 ]; then
	say "QEMU run timed out after ${timeout_s}s"
elif [ "$rc" -ne 1 ] && [ "$rc" -ne 3 ] && grep -q . "$out/qemu.err" && ! grep -q '@@BOOTED' "$out/console.txt"; then
	cat "$out/qemu.err" >&2
	skip_loudly "QEMU could not start (exit $rc): $(head -n1 "$out/qemu.err")"
fi

# Split the console into per-test logs and JUnit files; echo the tests' output for the CTest log.
awk -v out="$out" '
	/^@@LOG-BEGIN / { f = out "/" $2 ".log"; printf "" > f; next }
	/^@@LOG-END / { close(f); f = ""; next }
	/^@@XML-BEGIN / { x = out "/" $2 ".xml"; printf "" > x; next }
	/^@@XML-END / { close(x); x = ""; next }
	/^@@RESULT / { print $2, $3 >> (out "/rc"); next }
	x != "" { print > x; next }
	f != "" { print > f }
' "$out/console.txt"
awk '/^@@XML-BEGIN /{s=1} /^@@XML-END /{s=0; next} !s' "$out/console.txt"
: >"$out/results"
if [ -f "$out/rc" ]; then
	while read -r name trc; do
		echo "$name $trc $(count_cmocka "$out/$name.xml")" >>"$out/results"
	done <"$out/rc"
fi
say "QEMU exit $rc after ${elapsed}s (1 = guest reported pass, 3 = fail, other = the guest never reported)"
verdict=0
summarise "QEMU lane, kernel $kver under QEMU TCG" || verdict=1
[ "$rc" -eq 1 ] || verdict=1
exit $verdict
