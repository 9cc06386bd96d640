#!/usr/bin/env bash
# scripts/setup-deps.sh - install the Debian 12 packages vmsim builds and tests with; a quick no-op when all are present.
set -euo pipefail

packages=(
	build-essential cmake pkg-config # toolchain
	libunicorn-dev libcapstone-dev   # the Unicorn backend and its decoder
	libcmocka-dev python3-pytest     # tests
	clang-14 libclang-rt-14-dev llvm-14 # fuzzing (libFuzzer, sanitizer runtimes, llvm-symbolizer)
	qemu-system-x86 busybox-static cpio binutils # the KVM backend's tests: a Linux guest under QEMU TCG
	seabios # firmware from outside the project for `vmsim run --bios` tests
	gnuplot-nox                      # benchmark plots
	libjansson-dev                   # JSON reading (vmsim bench --compare)
	cppcheck                         # make lint (scripts/lint.sh)
	universal-ctags                  # function lengths (scripts/function-lengths.py, CTest function_lengths)
)

if ! command -v dpkg-query >/dev/null; then
	echo "setup-deps: dpkg-query not found: this script installs Debian 12 packages; install these by hand:" >&2
	echo "  ${packages[*]}" >&2
	exit 1
fi

# Print the subset of the given packages that is not installed (one dpkg-query for all: this is the fast path).
not_installed() {
	local installed
	installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>/dev/null | awk '$2 == "installed" {print $1}' || true)
	for package in "$@"; do
		grep -qxF "$package" <<<"$installed" || echo "$package"
	done
}

mapfile -t missing < <(not_installed "${packages[@]}")

if ((${#missing[@]} == 0)); then
	echo "setup-deps: all ${#packages[@]} packages present"
	exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
	as_root=(env)
elif command -v sudo >/dev/null; then
	as_root=(sudo env)
else
	echo "setup-deps: missing ${missing[*]}; installing needs root, and sudo is not available" >&2
	exit 1
fi

echo "setup-deps: installing ${missing[*]}"
"${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"

mapfile -t still_missing < <(not_installed "${missing[@]}")
if ((${#still_missing[@]} > 0)); then
	echo "setup-deps: still missing after apt-get install: ${still_missing[*]}" >&2
	exit 1
fi
echo "setup-deps: installed ${missing[*]}"
