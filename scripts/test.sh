#!/usr/bin/env bash
# scripts/test.sh — run the whole sso-gateway test suite on a fresh Debian 12 machine.
#
# What it does, stopping at the first failure:
#   1. installs missing build/test dependencies via apt (see TEST_APT_PACKAGES) and the
#      rustfmt/clippy rustup components if missing; `npm ci` in tests/oidc-provider
#      (the certified OpenID provider tests/oidc_interop.rs runs) and tests/op-client
#      (the certified relying party openid-client tests/op.rs runs; both need Node.js >= 20);
#   2. starts a throw-away PostgreSQL cluster and redis-server on free loopback ports
#      (everything lives in a mktemp -d directory that is removed on exit);
#   3. cargo fmt --check, cargo clippy -D warnings;
#   3b. samael's unit tests on the patched copy in vendor/samael;
#   4. suite 1: cargo test --all-targets against temp SQLite + the in-process cache;
#   5. suite 2: cargo test --all-targets against PostgreSQL + Redis;
#   5b. scripts/scim-conformance.sh: PyPI scim2-tester against a running gateway;
#   6. prints the wall time of each step and the total.
#
# Usage:
#   scripts/test.sh                      # everything
#   scripts/test.sh -- --nocapture       # extra args are appended to BOTH `cargo test` runs
#   scripts/test.sh some_test_name       # e.g. a test-name filter
#
# Environment:
#   CI                                set => CARGO_TERM_COLOR=never
#   SSO_GATEWAY_TEST_SOAK_SECONDS     length of the memory soak in suite 1 (default: 600 in CI, else 60)
#   SSO_GATEWAY_TEST_SERVICES_ONLY=1  only start PostgreSQL + Redis, print their URLs, check them
#                                     with `psql ... -c 'select 1'` / `redis-cli ping`, clean up
# Exported to suite 2 (never to suite 1):
#   SSO_GATEWAY_TEST_POSTGRES_URL=postgres://sso@127.0.0.1:<port>/postgres  (superuser, trust auth)
#   SSO_GATEWAY_TEST_REDIS_URL=redis://127.0.0.1:<port>
#   SSO_GATEWAY_TEST_POSTGRES_RESTART=<shell command restarting that cluster>
# Exported to both suites:
#   SSO_GATEWAY_TEST_WEBHOOK_PYTHON=<python of a venv under target/ with PyPI standardwebhooks>
#     (tests/webhooks.rs runs tests/webhook-receiver/receiver.py with it)
#
# PostgreSQL refuses to run as root: when run as root, the cluster is run as the system user
# `ssogwtest` (created with useradd if absent) via `runuser`.
set -euo pipefail

# apt packages needed to build and test. Add new ones here (e.g. chromium).
# chromium + chromium-driver: the admin UI journey in tests/admin_ui.rs runs in a real browser.
# simplesamlphp + php-*: the third-party SAML IdP of tests/simplesamlphp.rs (run with `php -S`).
TEST_APT_PACKAGES="postgresql redis-server pkg-config libxml2-dev libxmlsec1-dev libclang-dev xmlsec1 chromium chromium-driver simplesamlphp php-cli php-xml php-mbstring php-curl"
PG_OS_USER=ssogwtest

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT=$(pwd)

if [[ -n "${CI:-}" ]]; then
    export CARGO_TERM_COLOR=never
fi

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'scripts/test.sh: error: %s\n' "$*" >&2; exit 1; }

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1
# shellcheck source=scripts/services.sh
source "$REPO_ROOT/scripts/services.sh"

# ---------------------------------------------------------------------------------------------
# Step bookkeeping
STEP_NAMES=()
STEP_SECS=()
STEP_STATUS=()
SCRIPT_START=$(date +%s)

print_summary() {
    [[ ${#STEP_NAMES[@]} -gt 0 ]] || return 0
    printf '\n==> timings\n' >&2
    local i
    for i in "${!STEP_NAMES[@]}"; do
        printf 'step %s: %s s%s\n' "${STEP_NAMES[$i]}" "${STEP_SECS[$i]}" "${STEP_STATUS[$i]}" >&2
    done
    printf 'total: %s s\n' "$(($(date +%s) - SCRIPT_START))" >&2
}

# run_step NAME CMD... : banner, run, record wall time. CMD runs in the current shell with
# errexit in force (deliberately NOT `CMD || ...`, which would disable `set -e` inside functions);
# if it fails, the script exits and cleanup() records the step as failed.
CUR_STEP=""
CUR_T0=0
run_step() {
    local name=$1
    shift
    printf '\n======================================================================\n' >&2
    printf '==> step %s: %s\n' "$name" "$*" >&2
    printf '======================================================================\n' >&2
    CUR_STEP=$name
    CUR_T0=$(date +%s)
    "$@"
    STEP_NAMES+=("$name")
    STEP_SECS+=("$(($(date +%s) - CUR_T0))")
    STEP_STATUS+=("")
    CUR_STEP=""
}

# ---------------------------------------------------------------------------------------------
# Cleanup: always runs, never masks the exit code.
cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [[ -n "$CUR_STEP" ]]; then
        STEP_NAMES+=("$CUR_STEP")
        STEP_SECS+=("$(($(date +%s) - CUR_T0))")
        STEP_STATUS+=(" (FAILED, exit $rc)")
    fi
    stop_services
    print_summary
    if [[ $rc -eq 0 ]]; then
        printf '\n==> all steps passed\n' >&2
    else
        printf '\n==> FAILED (exit %s)\n' "$rc" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Dependencies
install_apt_packages() {
    # shellcheck disable=SC2086 # the list is space-separated on purpose
    bash "$REPO_ROOT/scripts/apt-install.sh" $TEST_APT_PACKAGES
}

# tests/oidc_interop.rs runs the certified npm oidc-provider under Node, tests/op.rs the
# certified relying party openid-client; install their locked packages up front (the
# tests would otherwise run `npm ci` themselves).
install_node_packages() {
    local dir="$REPO_ROOT/tests/oidc-provider"
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        die "node and npm (Node.js >= 20) are needed for tests/oidc_interop.rs"
    fi
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    [[ $major -ge 20 ]] || die "Node.js >= 20 is needed for tests/oidc_interop.rs (found $(node --version))"
    npm ci --prefix "$dir" --no-audit --no-fund --silent
    npm ci --prefix "$REPO_ROOT/tests/op-client" --no-audit --no-fund --silent
}

# tests/webhooks.rs verifies every delivery with the reference Standard Webhooks
# library: PyPI standardwebhooks in a virtualenv under target/, as schemathesis.sh does.
STANDARDWEBHOOKS_VERSION=1.1.0
WEBHOOK_VENV="$REPO_ROOT/target/webhook-receiver-venv"
install_webhook_receiver() {
    if ! "$WEBHOOK_VENV/bin/python" -c 'import standardwebhooks' >/dev/null 2>&1; then
        python3 -m venv "$WEBHOOK_VENV"
        "$WEBHOOK_VENV/bin/pip" install -q --disable-pip-version-check "standardwebhooks==$STANDARDWEBHOOKS_VERSION"
    fi
    export SSO_GATEWAY_TEST_WEBHOOK_PYTHON="$WEBHOOK_VENV/bin/python"
}

install_rust_components() {
    local comps=()
    cargo fmt --version >/dev/null 2>&1 || comps+=(rustfmt)
    cargo clippy --version >/dev/null 2>&1 || comps+=(clippy)
    [[ ${#comps[@]} -eq 0 ]] && return 0
    command -v rustup >/dev/null 2>&1 || die "cargo ${comps[*]} missing and rustup not available"
    log "rustup component add ${comps[*]}"
    rustup component add "${comps[@]}"
}

check_services() {
    echo "SSO_GATEWAY_TEST_POSTGRES_URL=$SSO_GATEWAY_TEST_POSTGRES_URL_VALUE"
    echo "SSO_GATEWAY_TEST_REDIS_URL=$SSO_GATEWAY_TEST_REDIS_URL_VALUE"
    "$PSQL" "$SSO_GATEWAY_TEST_POSTGRES_URL_VALUE" -v ON_ERROR_STOP=1 -c 'select 1'
    redis-cli -h 127.0.0.1 -p "$REDISPORT" ping
}

# ---------------------------------------------------------------------------------------------
# Test steps
# The memory soak in tests/faults.rs: the full ten minutes in CI (on the
# in-process cache, where a leak would show), a short one locally.
if [[ -n "${CI:-}" ]]; then
    SOAK_SECONDS=${SSO_GATEWAY_TEST_SOAK_SECONDS:-600}
else
    SOAK_SECONDS=${SSO_GATEWAY_TEST_SOAK_SECONDS:-60}
fi

suite_sqlite() {
    env -u SSO_GATEWAY_TEST_POSTGRES_URL -u SSO_GATEWAY_TEST_REDIS_URL \
        -u SSO_GATEWAY_TEST_POSTGRES_RESTART \
        SSO_GATEWAY_TEST_SOAK_SECONDS="$SOAK_SECONDS" \
        cargo test --all-targets "$@"
}

suite_postgres() {
    SSO_GATEWAY_TEST_POSTGRES_URL="$SSO_GATEWAY_TEST_POSTGRES_URL_VALUE" \
        SSO_GATEWAY_TEST_REDIS_URL="$SSO_GATEWAY_TEST_REDIS_URL_VALUE" \
        SSO_GATEWAY_TEST_POSTGRES_RESTART="$PG_RESTART_CMD" \
        SSO_GATEWAY_TEST_SOAK_SECONDS=30 \
        cargo test --all-targets "$@"
}

run_step deps install_apt_packages

if [[ "${SSO_GATEWAY_TEST_SERVICES_ONLY:-}" == "1" ]]; then
    run_step services start_services
    run_step check-services check_services
    exit 0
fi

run_step rust-components install_rust_components
run_step node-packages install_node_packages
run_step webhook-receiver install_webhook_receiver
run_step services start_services

run_step fmt cargo fmt --all -- --check
LOCKED=()
[[ -f "$REPO_ROOT/Cargo.lock" ]] && LOCKED=(--locked)
run_step clippy cargo clippy --all-targets "${LOCKED[@]}" -- -D warnings
# samael's own unit tests on the vendored, patched copy (vendor/README.md).
run_step test-samael cargo test -p samael --lib "${LOCKED[@]}"
run_step test-sqlite suite_sqlite "$@"
run_step test-postgres-redis suite_postgres "$@"
# The SCIM conformance suite from PyPI (scim2-tester) against the debug binary
# the suites just built: every check must pass.
run_step scim-conformance bash "$REPO_ROOT/scripts/scim-conformance.sh" "$REPO_ROOT/target/debug/sso-gateway"
run_step schemathesis bash "$REPO_ROOT/scripts/schemathesis.sh" "$REPO_ROOT/target/debug/sso-gateway"
