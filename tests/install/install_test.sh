#!/usr/bin/env bash
# tests/install/install_test.sh - install a vmsim build tree into a temporary prefix; build and run a consumer both ways.
# Usage: install_test.sh CMAKE BUILD_DIR TEST_SOURCE_DIR CC PKG_CONFIG
set -euo pipefail
cmake_cmd=$1 build_dir=$2 here=$3 cc=$4 pkg_config=$5

work=$(mktemp -d "${TMPDIR:-/tmp}/vmsim-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

"$cmake_cmd" --install "$build_dir" --prefix "$prefix" >"$work/install.log"
for f in include/vmsim/vmsim.h include/vmsim/backend.h bin/vmsim; do
	[[ -e $prefix/$f ]] || { echo "install test: $f was not installed" >&2; exit 1; }
done
"$prefix/bin/vmsim" --version

# 1. CMake: find_package(vmsim) and the imported target vmsim::vmsim.
"$cmake_cmd" -S "$here/find_package" -B "$work/find_package" -DCMAKE_PREFIX_PATH="$prefix" \
	-DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Debug >"$work/configure.log" || { cat "$work/configure.log"; exit 1; }
"$cmake_cmd" --build "$work/find_package" >"$work/build.log" || { cat "$work/build.log"; exit 1; }
"$work/find_package/consumer" find_package

# 2. pkg-config: libvmsim is static, so its private requirements come with --static.
pc=$(find "$prefix" -name vmsim.pc)
[[ -n $pc ]] || { echo "install test: vmsim.pc was not installed" >&2; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
cflags=$("$pkg_config" --cflags vmsim)
libs=$("$pkg_config" --static --libs vmsim)
echo "pkg-config: cflags '$cflags' libs '$libs'"
# shellcheck disable=SC2086 # the flags are meant to split
"$cc" -std=c11 -Wall -Wextra -Werror $cflags "$here/consumer.c" -o "$work/consumer-pc" $libs
"$work/consumer-pc" pkg-config
echo "install test: consumer built and run with find_package and with pkg-config"
