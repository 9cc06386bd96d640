#!/usr/bin/env bash
# scripts/lint.sh [BUILD_DIR] - cppcheck over every C file a preset compiles (BUILD_DIR/compile_commands.json,
# default build/default), with the checks and suppressions checked in here and in scripts/cppcheck-suppressions.txt.
# Exit 0 with no findings, 1 with any (printed as file:line: severity/id: message), 77 when cppcheck is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/default}
[[ $build = /* ]] || build=$root/$build
if ! command -v cppcheck >/dev/null; then
	echo "lint: cppcheck not found (scripts/setup-deps.sh installs it)" >&2
	exit 77
fi
if [[ ! -f $build/compile_commands.json ]]; then
	echo "lint: $build/compile_commands.json missing: configure a preset first (cmake --preset default)" >&2
	exit 1
fi
mkdir -p "$build/cppcheck"
# The checks: every error, plus warning (likely bugs), performance and portability. style is left out: its
# advice (const parameters, narrower scopes) is taste, and a finding must be something worth fixing.
report=$build/cppcheck/findings.txt
cd "$root"
cppcheck --project="$build/compile_commands.json" --cppcheck-build-dir="$build/cppcheck" \
	--enable=warning,performance,portability --std=c11 --inline-suppr --quiet -j "${JOBS:-2}" \
	--suppressions-list=scripts/cppcheck-suppressions.txt -i "$build" \
	--template='{file}:{line}: {severity}/{id}: {message}' 2>"$report"
findings=$(grep -c . "$report" || true)
cat "$report"
echo "lint: cppcheck $(cppcheck --version | awk '{print $2}'): $findings findings"
[[ $findings -eq 0 ]]
