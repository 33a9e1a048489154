#!/usr/bin/env bash
# scripts/run.sh [ARGS...] — the one command that runs the gateway on a fresh
# machine: installs the build libraries samael/xmlsec need (if missing), then
# builds and runs `sso-gateway serve` (release). Arguments go to `serve`,
# e.g. `scripts/run.sh --config my.toml`. No database or cache server is
# needed: the default is an SQLite file under ./data and an in-process cache.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/apt-install.sh pkg-config libxml2-dev libxmlsec1-dev libclang-dev
exec cargo run --release --locked -- serve "$@"
