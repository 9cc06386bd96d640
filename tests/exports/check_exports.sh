#!/usr/bin/env bash
# check_exports.sh NM LIBRARY: every global symbol LIBRARY defines is named vmsim_*; anything else is an
# internal name that could collide with a user's symbols (docs/architecture.md, "Exported symbols").
set -euo pipefail
nm_tool=$1 lib=$2
globals=$("$nm_tool" -g --defined-only "$lib" | awk 'NF == 3 { print $3 }' | sort -u)
public=$(grep -c '^vmsim_' <<<"$globals" || true)
foreign=$(grep -v '^vmsim_' <<<"$globals" || true)
if [ -n "$foreign" ]; then
	echo "$lib defines $(wc -l <<<"$foreign") global symbols without the vmsim_ prefix:"
	echo "$foreign"
	exit 1
fi
# an empty or unreadable library would pass the check above: the API must be there
for sym in vmsim_env_create vmsim_session_open vmsim_vcpu_create vmsim_backend_unicorn; do
	grep -qx "$sym" <<<"$globals" || { echo "$lib does not define $sym"; exit 1; }
done
echo "$lib: $public global symbols, all vmsim_*"
