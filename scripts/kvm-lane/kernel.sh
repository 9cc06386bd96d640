#!/usr/bin/env bash
# kernel.sh - the Debian kernel the KVM lanes boot (and `vmsim run --linux` tests run as a guest): the version
# linux-image-amd64 points at today (old ABI numbers vanish from the archive), fetched once into a cache shared by
# every lane (vmlinuz and the KVM modules). Sourced by kvm-lane.sh (lane_kernel_fetch sets kpkg, kver, kdir from
# $cache); run directly, `kernel.sh [CACHE]` prints the path of the cached vmlinuz (exit 1 when it cannot be had).

resolve_kernel() {
	apt-cache depends linux-image-amd64 2>/dev/null | sed -nE 's/.*Depends: (linux-image-[0-9.]+-[0-9]+-amd64)$/\1/p' | head -n1
}

# Sets kpkg, kver and kdir ($cache/$kver holding vmlinuz and modules/); 1 with a message when it cannot.
lane_kernel_fetch() {
	kpkg=$(resolve_kernel)
	if [ -z "$kpkg" ] && [ "$(id -u)" -eq 0 ]; then
		apt-get update >/dev/null 2>&1 || true # empty package lists on a fresh machine
		kpkg=$(resolve_kernel)
	fi
	if [ -z "$kpkg" ]; then
		# a cached .deb or an unpacked kernel directory (ls fails for the pattern that matches nothing)
		kpkg=$( (cd "$cache" && ls -1d linux-image-*-amd64_*.deb [0-9]*-amd64 2>/dev/null || true) |
			sed -E 's/_.*//; s/^([0-9])/linux-image-\1/' | sort -V | tail -n1)
		[ -n "$kpkg" ] || { say "cannot resolve linux-image-amd64 (run apt-get update) and nothing is cached"; return 1; }
		say "apt-cache could not resolve linux-image-amd64; using cached $kpkg"
	fi
	kver=${kpkg#linux-image-}
	kdir=$cache/$kver
	# several lanes (kvm_lane, conform_kvm, bench_kvm_lane) share the cache: one fetches, the others wait
	exec 9>"$cache/.lock"
	flock 9 2>/dev/null || true
	if [ ! -f "$kdir/vmlinuz" ]; then
		say "fetching $kpkg into $cache"
		local deb
		deb=$(ls -1 "$cache/${kpkg}"_*.deb 2>/dev/null | tail -n1 || true)
		if [ -z "$deb" ]; then
			(cd "$cache" && apt-get download "$kpkg" >/dev/null 2>&1) || { say "apt-get download $kpkg failed"; flock -u 9; return 1; }
			deb=$(ls -1 "$cache/${kpkg}"_*.deb | tail -n1)
		fi
		rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp/x"
		dpkg -x "$deb" "$kdir.tmp/x"
		cp "$kdir.tmp/x/boot/vmlinuz-$kver" "$kdir.tmp/vmlinuz"
		mkdir -p "$kdir.tmp/modules"
		for m in virt/lib/irqbypass.ko drivers/crypto/ccp/ccp.ko arch/x86/kvm/kvm.ko arch/x86/kvm/kvm-amd.ko; do
			cp "$kdir.tmp/x/lib/modules/$kver/kernel/$m" "$kdir.tmp/modules/"
		done
		rm -rf "$kdir.tmp/x" "$deb"
		rm -rf "$kdir" && mv "$kdir.tmp" "$kdir"
	fi
	flock -u 9 2>/dev/null || true
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	cache=${1:-${VMSIM_KVM_LANE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/vmsim-kvm-lane}}
	mkdir -p "$cache"
	say() { echo "kernel.sh: $*" >&2; }
	lane_kernel_fetch || exit 1
	echo "$kdir/vmlinuz"
fi
