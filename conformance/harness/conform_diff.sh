#!/bin/sh
# conform_diff.sh - the conformance suite on KVM, then the differential check against Unicorn, in either KVM lane
# (the host's /dev/kvm or the QEMU-TCG guest; POSIX sh, runs under busybox). Both backends run the suite with
# VMSIM_CONFORM_TRACE; for every case of the exits/io/memory/state/inject/paging/modes sections that passed on both, under each
# model, the neutral exit sequences must be equal once the exit kinds KVM declares absent (its caps, from the JSON)
# are left out of Unicorn's. At least MIN (default 100) cases must be compared: a run that compares fewer fails.
# usage: conform_diff.sh VMSIM [MIN [UNICORN.tar]]
#          exit 0: KVM suite passed, traces equal, >= MIN compared; 1 otherwise. UNICORN.tar: Unicorn's side made
#          beforehand (below), so the QEMU lane does not run Unicorn under emulation.
#        conform_diff.sh --unicorn VMSIM OUT.tar   make Unicorn's side (traces and JSON) as a tar file
unset CMOCKA_MESSAGE_OUTPUT CMOCKA_XML_FILE # vmsim conform is no CMocka binary of the lane
sections="exits io memory state inject paging modes"

# Unicorn's traces and JSON reports of the compared sections, into $1 (trace/unicorn/..., unicorn-SECTION.json)
unicorn_side() {
	for section in $sections; do
		VMSIM_CONFORM_TRACE=$1/trace "$vmsim" conform --backend unicorn --model all --timeout 60 \
			--filter "$section/" --json "$1/unicorn-$section.json" >"$1/unicorn-$section.out" 2>&1
	done
}

if [ "${1:-}" = --unicorn ]; then
	vmsim=$2 bundle=$3
	[ -x "$vmsim" ] && [ -n "$bundle" ] || { echo "usage: conform_diff.sh --unicorn VMSIM OUT.tar" >&2; exit 1; }
	work=$bundle.d
	rm -rf "$work" && mkdir -p "$work"
	unicorn_side "$work"
	(cd "$work" && tar -cf "$bundle.tmp" trace unicorn-*.json) && mv "$bundle.tmp" "$bundle" && rm -rf "$work"
	exit $?
fi

vmsim=$1
min=${2:-100}
bundle=${3:-}
[ -x "$vmsim" ] || { echo "conform_diff: no vmsim at '$vmsim'" >&2; exit 1; }
tmp=${TMPDIR:-/tmp}/conform_diff.$$
rm -rf "$tmp"
mkdir -p "$tmp"
status=0

t0=$(date +%s)
# the suite on KVM: its own verdict first (the lane's main result), with the progress and matrix on stdout
VMSIM_CONFORM_TRACE=$tmp/trace "$vmsim" conform --backend kvm --model all --timeout 60 --json "$tmp/kvm.json" ||
	status=1
t1=$(date +%s)
# the same sections on Unicorn, for the traces only (its own verdict is conform_unicorn's): made beforehand, or here
if [ -n "$bundle" ]; then
	tar -xf "$bundle" -C "$tmp" || { echo "conform_diff: cannot unpack $bundle" >&2; exit 1; }
	how="unpacked from $(basename "$bundle")"
else
	unicorn_side "$tmp"
	how="run here"
fi
t2=$(date +%s)
echo "conform_diff: suite on kvm $((t1 - t0)) s, the compared sections on unicorn $((t2 - t1)) s ($how)"
# "model section name" of every PASS in a JSON report
passes() {
	sed -nE 's/.*"model": "([a-z]+)", "section": "([a-z_0-9]+)", "name": "([^"]+)", "status": "PASS".*/\1 \2 \3/p' "$@"
}
passes "$tmp/kvm.json" | sort >"$tmp/kvm.pass"
passes "$tmp"/unicorn-*.json | sort >"$tmp/unicorn.pass"

# exit kinds KVM lacks: the trace's kind names of each capability whose value in the kvm backend's caps is a
# string (its cap_gap reason) instead of true
grep -E '^ *\{"name": "kvm", "plugin": ' "$tmp/kvm.json" | grep -oE '"EXIT_[A-Z_]+": "' |
	sed -E 's/"(EXIT_[A-Z_]+)".*/\1/' >"$tmp/kvm.gaps"
drop=
for cap in $(cat "$tmp/kvm.gaps"); do
	case $cap in
	EXIT_CPUID) drop="$drop|cpuid" ;;
	EXIT_RDTSC) drop="$drop|rdtsc" ;;
	EXIT_RDTSCP) drop="$drop|rdtscp" ;;
	EXIT_MSR) drop="$drop|msr" ;;
	EXIT_VMCALL) drop="$drop|vmcall" ;;
	EXIT_HLT) drop="$drop|hlt" ;;
	esac
done
drop=${drop#|}
echo "conform_diff: kvm lacks ${drop:-no exit kind}; those exits are left out of Unicorn's traces"

compared=0 differ=0
while read -r model section name; do
	case " $sections " in *" $section "*) ;; *) continue ;; esac
	grep -qx "$model $section $name" "$tmp/unicorn.pass" || continue
	k=$tmp/trace/kvm/$model/${section}__$name.trace
	u=$tmp/trace/unicorn/$model/${section}__$name.trace
	[ -f "$k" ] && [ -f "$u" ] || continue
	if [ -n "$drop" ]; then
		grep -vE "^cpu[0-9]+ ($drop) " "$u" >"$tmp/u.trace"
	else
		cp "$u" "$tmp/u.trace"
	fi
	# A shutdown exit is compared by kind only: after a SHUTDOWN intercept the VMCB's guest state is undefined
	# (AMD APM vol. 2, 15.11), and KVM on an SVM host resets the vCPU there (rip 0xfff0), while Unicorn keeps
	# the faulting instruction. docs/backends/kvm.md.
	sed -E 's/^(cpu[0-9]+ shutdown) .*/\1/' "$tmp/u.trace" >"$tmp/u2.trace"
	sed -E 's/^(cpu[0-9]+ shutdown) .*/\1/' "$k" >"$tmp/k.trace"
	compared=$((compared + 1))
	if ! cmp -s "$tmp/u2.trace" "$tmp/k.trace"; then
		differ=$((differ + 1))
		echo "[  FAILED  ] differential $model $section/$name: unicorn (less $drop) vs kvm"
		diff "$tmp/u2.trace" "$tmp/k.trace" | head -n 8
	fi
done <"$tmp/kvm.pass"
echo "conform_diff: $compared cases compared (unicorn vs kvm, both models), $differ differ; minimum $min"
[ "$differ" -eq 0 ] || status=1
if [ "$compared" -lt "$min" ]; then
	echo "[  FAILED  ] differential: only $compared cases compared, fewer than $min"
	status=1
fi
rm -rf "$tmp"
exit $status
