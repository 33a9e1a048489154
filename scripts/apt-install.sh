#!/usr/bin/env bash
# scripts/apt-install.sh PACKAGE... — installs the Debian packages that are
# missing (as root, or through sudo); does nothing where all are present or
# where the system has no dpkg. Shared by scripts/run.sh and scripts/test.sh.
set -euo pipefail
if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "not a dpkg-based system; install these yourself if missing: $*" >&2
    exit 0
fi
missing=()
for p in "$@"; do
    [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
echo "installing missing apt packages: ${missing[*]}" >&2
sudo=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "missing packages (${missing[*]}); not root and no sudo: install them first" >&2; exit 1; }
    sudo=(sudo)
fi
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
