#!/usr/bin/env bash
# scripts/bench.sh — the benchmarks, against the peers, in one run (see BENCHMARKS.md).
#
# What it does:
#   1. installs what the benches need if missing: apt (wrk, PostgreSQL, Redis, the SAML build
#      libraries), the peers from their registries — npm `@boxyhq/saml-jackson` into
#      bench/peers/jackson (npm ci from its lockfile) and PyPI `scim2-server` 0.8.3 into a venv
#      under target/bench-peers/;
#   2. starts a throw-away PostgreSQL and Redis on free loopback ports (scripts/services.sh,
#      shared with scripts/test.sh);
#   3. runs `cargo bench` for each selected bench (release build), which starts the gateway and
#      the peers itself and drives them from its own process / wrk; output goes to stdout and
#      to target/bench-results/<bench>.txt.
#
# Usage:
#   scripts/bench.sh                 # every bench: saml scim verify op
#   scripts/bench.sh scim verify     # some of them
# Environment knobs are listed at the top of each benches/*.rs (USERS, SECONDS, ...).
set -euo pipefail

BENCH_APT_PACKAGES="wrk postgresql redis-server pkg-config libxml2-dev libxmlsec1-dev libclang-dev xmlsec1 python3-venv nodejs npm"
SCIM2_SERVER_VERSION=0.8.3

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT=$(pwd)

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'scripts/bench.sh: error: %s\n' "$*" >&2; exit 1; }
IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1
# shellcheck source=scripts/services.sh
source "$REPO_ROOT/scripts/services.sh"
trap 'stop_services' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

BENCHES=("$@")
[[ ${#BENCHES[@]} -eq 0 ]] && BENCHES=(saml scim verify op)

# Only what is missing is installed: python3-venv/nodejs/npm may come from elsewhere.
apt_wanted=()
for p in $BENCH_APT_PACKAGES; do
    case $p in
    nodejs | npm) command -v "${p/nodejs/node}" >/dev/null 2>&1 || apt_wanted+=("$p") ;;
    python3-venv) python3 -m venv --help >/dev/null 2>&1 || apt_wanted+=("$p") ;;
    *) apt_wanted+=("$p") ;;
    esac
done
bash "$REPO_ROOT/scripts/apt-install.sh" "${apt_wanted[@]}"

PEERS_DIR="$REPO_ROOT/target/bench-peers"
mkdir -p "$PEERS_DIR" "$REPO_ROOT/target/bench-results"

log "peer: @boxyhq/saml-jackson (npm ci in bench/peers/jackson)"
if (cd "$REPO_ROOT/bench/peers/jackson" && npm ci --no-audit --no-fund --loglevel=error >&2); then
    export JACKSON_HARNESS="$REPO_ROOT/bench/peers/jackson"
else
    echo "saml-jackson could not be installed (npm ci failed, see above): its figures are n/a" >&2
fi

log "peer: PyPI scim2-server==$SCIM2_SERVER_VERSION (venv in $PEERS_DIR/scim2)"
if [[ ! -x "$PEERS_DIR/scim2/bin/scim2-server" ]] ||
    ! "$PEERS_DIR/scim2/bin/pip" show scim2-server 2>/dev/null | grep -q "^Version: $SCIM2_SERVER_VERSION$"; then
    python3 -m venv "$PEERS_DIR/scim2" && "$PEERS_DIR/scim2/bin/pip" install -q "scim2-server==$SCIM2_SERVER_VERSION" >&2 ||
        echo "scim2-server could not be installed (see above): its figures are n/a" >&2
fi
[[ -x "$PEERS_DIR/scim2/bin/scim2-server" ]] && export SCIM2_SERVER_BIN="$PEERS_DIR/scim2/bin/scim2-server"

start_services
export SSO_GATEWAY_BENCH_POSTGRES_URL="$SSO_GATEWAY_TEST_POSTGRES_URL_VALUE"
export SSO_GATEWAY_BENCH_REDIS_URL="$SSO_GATEWAY_TEST_REDIS_URL_VALUE"

for b in "${BENCHES[@]}"; do
    case $b in
    saml) target=saml_signin ;;
    scim) target=scim_sync ;;
    verify) target=verify_rss ;;
    op) target=op_roundtrip ;;
    *) die "unknown bench '$b' (saml, scim, verify, op)" ;;
    esac
    log "cargo bench --bench $target"
    cargo bench --bench "$target" 2>&1 | tee "$REPO_ROOT/target/bench-results/$target.txt"
done
