#!/usr/bin/env bash
# scripts/test.sh — run the whole sso-gateway test suite on a fresh Debian 12 machine.
#
# What it does, stopping at the first failure:
#   1. installs missing build/test dependencies via apt (see TEST_APT_PACKAGES) and the
#      rustfmt/clippy rustup components if missing; `npm ci` in tests/oidc-provider
#      (the certified OpenID provider tests/oidc_interop.rs runs; needs Node.js >= 20);
#   2. starts a throw-away PostgreSQL cluster and redis-server on free loopback ports
#      (everything lives in a mktemp -d directory that is removed on exit);
#   3. cargo fmt --check, cargo clippy -D warnings;
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
#   SSO_GATEWAY_TEST_SERVICES_ONLY=1  only start PostgreSQL + Redis, print their URLs, check them
#                                     with `psql ... -c 'select 1'` / `redis-cli ping`, clean up
#   SSO_GATEWAY_TEST_SOAK_SECONDS     length of the memory soak in suite 1 (default: 600 in CI, else 60)
# Exported to suite 2 (never to suite 1):
#   SSO_GATEWAY_TEST_POSTGRES_URL=postgres://sso@127.0.0.1:<port>/postgres  (superuser, trust auth)
#   SSO_GATEWAY_TEST_REDIS_URL=redis://127.0.0.1:<port>
#   SSO_GATEWAY_TEST_POSTGRES_RESTART=<shell command restarting that cluster>
#
# PostgreSQL refuses to run as root: when run as root, the cluster is run as the system user
# `ssogwtest` (created with useradd if absent) via `runuser`.
set -euo pipefail

# apt packages needed to build and test. Add new ones here (e.g. chromium).
# chromium + chromium-driver: the admin UI journey in tests/admin_ui.rs runs in a real browser.
TEST_APT_PACKAGES="postgresql redis-server pkg-config libxml2-dev libxmlsec1-dev libclang-dev xmlsec1 chromium chromium-driver"
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
WORK_DIR=""
PG_STARTED=0
PGDATA_DIR=""
PG_CTL=""
REDIS_PID=""
PG_RESTART_CMD=""

as_pg_user() {
    if [[ $IS_ROOT -eq 1 ]]; then
        # cd somewhere the unprivileged user can read; postgres tools dislike an unreadable cwd.
        (cd "$WORK_DIR" && runuser -u "$PG_OS_USER" -- "$@")
    else
        "$@"
    fi
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [[ -n "$CUR_STEP" ]]; then
        STEP_NAMES+=("$CUR_STEP")
        STEP_SECS+=("$(($(date +%s) - CUR_T0))")
        STEP_STATUS+=(" (FAILED, exit $rc)")
    fi
    if [[ $PG_STARTED -eq 1 && -n "$PGDATA_DIR" ]]; then
        as_pg_user "$PG_CTL" -D "$PGDATA_DIR" -m immediate -w -t 20 stop >/dev/null 2>&1
        # Belt and braces: if pg_ctl failed, kill the postmaster we started (by its pid file).
        if [[ -f "$PGDATA_DIR/postmaster.pid" ]]; then
            local pid
            pid=$(head -1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null)
            [[ -n "$pid" ]] && kill -QUIT "$pid" 2>/dev/null
            sleep 1
        fi
    fi
    if [[ -n "$REDIS_PID" ]]; then
        kill "$REDIS_PID" 2>/dev/null
        wait "$REDIS_PID" 2>/dev/null
    fi
    if [[ -n "$WORK_DIR" && -d "$WORK_DIR" ]]; then
        rm -rf "$WORK_DIR"
    fi
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

install_rust_components() {
    local comps=()
    cargo fmt --version >/dev/null 2>&1 || comps+=(rustfmt)
    cargo clippy --version >/dev/null 2>&1 || comps+=(clippy)
    [[ ${#comps[@]} -eq 0 ]] && return 0
    command -v rustup >/dev/null 2>&1 || die "cargo ${comps[*]} missing and rustup not available"
    log "rustup component add ${comps[*]}"
    rustup component add "${comps[@]}"
}

# tests/oidc_interop.rs runs the certified npm oidc-provider under Node; install its
# locked packages up front (the test would otherwise run `npm ci` itself).
install_node_packages() {
    local dir="$REPO_ROOT/tests/oidc-provider"
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        die "node and npm (Node.js >= 20) are needed for tests/oidc_interop.rs"
    fi
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    [[ $major -ge 20 ]] || die "Node.js >= 20 is needed for tests/oidc_interop.rs (found $(node --version))"
    npm ci --prefix "$dir" --no-audit --no-fund --silent
}

# ---------------------------------------------------------------------------------------------
# Services
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
        return
    fi
    local p i
    for i in $(seq 1 200); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    die "could not find a free port"
}

find_pg_bin() {
    local d
    # Newest versioned install first (sort -V on /usr/lib/postgresql/<ver>/bin).
    d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)
    if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]]; then
        echo "$d"
        return
    fi
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return
    fi
    die "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; apt package: postgresql"
}

start_services() {
    local base=${TMPDIR:-/tmp}
    [[ $IS_ROOT -eq 1 ]] && base=/tmp # must be traversable by $PG_OS_USER
    WORK_DIR=$(mktemp -d "$base/sso-gateway-test.XXXXXX")

    local pg_bin
    pg_bin=$(find_pg_bin)
    PG_CTL="$pg_bin/pg_ctl"
    PG_ISREADY="$pg_bin/pg_isready"
    [[ -x "$PG_ISREADY" ]] || PG_ISREADY=$(command -v pg_isready) || die "pg_isready not found"
    PSQL="$pg_bin/psql"
    [[ -x "$PSQL" ]] || PSQL=$(command -v psql || echo psql)

    if [[ $IS_ROOT -eq 1 ]]; then
        if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
            log "creating system user $PG_OS_USER (PostgreSQL refuses to run as root)"
            useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_OS_USER"
        fi
        chown "$PG_OS_USER" "$WORK_DIR"
    fi

    PGDATA_DIR="$WORK_DIR/pgdata"
    local sock_dir="$WORK_DIR/pgsock" pg_log="$WORK_DIR/postgres.log"
    as_pg_user mkdir -p "$sock_dir"
    PGPORT=$(free_port)

    log "initdb ($pg_bin) in $PGDATA_DIR"
    as_pg_user "$pg_bin/initdb" -D "$PGDATA_DIR" --auth=trust -U sso --encoding=UTF8 --locale=C \
        --no-sync >"$WORK_DIR/initdb.log" 2>&1 ||
        {
            tail -n 30 "$WORK_DIR/initdb.log" >&2
            die "initdb failed"
        }
    # Settings go into the config file (robust against spaces in paths, unlike pg_ctl -o).
    as_pg_user tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null <<EOF

# --- added by scripts/test.sh (throw-away test cluster) ---
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$sock_dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
EOF

    log "starting postgres on 127.0.0.1:$PGPORT"
    PG_STARTED=1
    # -w: pg_ctl waits for startup and notices at once if the postmaster dies (bad config, ...).
    as_pg_user "$PG_CTL" -D "$PGDATA_DIR" -l "$pg_log" -w -t 30 start >/dev/null ||
        {
            tail -n 40 "$pg_log" >&2 || true
            die "postgres failed to start (log tail above)"
        }
    local deadline=$(($(date +%s) + 30))
    until "$PG_ISREADY" -q -h 127.0.0.1 -p "$PGPORT" -U sso -d postgres; do
        if [[ $(date +%s) -ge $deadline ]]; then
            tail -n 40 "$pg_log" >&2 || true
            die "postgres did not become ready on 127.0.0.1:$PGPORT within 30 s (log tail above)"
        fi
        sleep 0.3
    done

    REDISPORT=$(free_port)
    while [[ "$REDISPORT" == "$PGPORT" ]]; do REDISPORT=$(free_port); done
    local redis_log="$WORK_DIR/redis.log"
    mkdir -p "$WORK_DIR/redis"
    log "starting redis-server on 127.0.0.1:$REDISPORT"
    redis-server --bind 127.0.0.1 --port "$REDISPORT" --save '' --appendonly no \
        --daemonize no --dir "$WORK_DIR/redis" >"$redis_log" 2>&1 &
    REDIS_PID=$!
    deadline=$(($(date +%s) + 30))
    until [[ "$(redis-cli -h 127.0.0.1 -p "$REDISPORT" ping 2>/dev/null)" == "PONG" ]]; do
        if ! kill -0 "$REDIS_PID" 2>/dev/null || [[ $(date +%s) -ge $deadline ]]; then
            tail -n 40 "$redis_log" >&2 || true
            die "redis-server did not answer PING on 127.0.0.1:$REDISPORT (log tail above)"
        fi
        sleep 0.2
    done

    # tests/faults.rs restarts this cluster to prove the gateway survives it.
    local restart
    restart=$(printf '%q ' "$PG_CTL" -D "$PGDATA_DIR" -l "$pg_log" -m fast -w -t 30 restart)
    if [[ $IS_ROOT -eq 1 ]]; then
        restart="cd $(printf '%q' "$WORK_DIR") && runuser -u $PG_OS_USER -- $restart"
    fi
    PG_RESTART_CMD="$restart"

    SSO_GATEWAY_TEST_POSTGRES_URL_VALUE="postgres://sso@127.0.0.1:$PGPORT/postgres"
    SSO_GATEWAY_TEST_REDIS_URL_VALUE="redis://127.0.0.1:$REDISPORT"
    log "services up: $SSO_GATEWAY_TEST_POSTGRES_URL_VALUE  $SSO_GATEWAY_TEST_REDIS_URL_VALUE"
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
run_step services start_services

run_step fmt cargo fmt --all -- --check
LOCKED=()
[[ -f "$REPO_ROOT/Cargo.lock" ]] && LOCKED=(--locked)
run_step clippy cargo clippy --all-targets "${LOCKED[@]}" -- -D warnings
run_step test-sqlite suite_sqlite "$@"
run_step test-postgres-redis suite_postgres "$@"
# The SCIM conformance suite from PyPI (scim2-tester) against the debug binary
# the suites just built: every check must pass.
run_step scim-conformance bash "$REPO_ROOT/scripts/scim-conformance.sh" "$REPO_ROOT/target/debug/sso-gateway"
