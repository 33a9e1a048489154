#!/usr/bin/env bash
# scripts/services.sh — sourced by scripts/test.sh and scripts/bench.sh: starts a throw-away
# PostgreSQL cluster and redis-server on free loopback ports (everything in one mktemp -d
# directory) and stops them again.
#
#   start_services   sets PGPORT, REDISPORT, SSO_GATEWAY_TEST_POSTGRES_URL_VALUE (superuser `sso`,
#                    trust auth), SSO_GATEWAY_TEST_REDIS_URL_VALUE, PSQL, WORK_DIR, and
#                    PG_RESTART_CMD (a shell command restarting the cluster, for tests/faults.rs)
#   stop_services    stops both and removes WORK_DIR (safe to call twice, or before start)
#
# The caller provides log() and die(), and IS_ROOT (1 when root). PostgreSQL refuses to run as
# root: as root, the cluster runs as the system user $PG_OS_USER (created if absent).

PG_OS_USER=${PG_OS_USER:-ssogwtest}
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

stop_services() {
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
    PG_STARTED=0
    REDIS_PID=""
    WORK_DIR=""
}

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

    # tests/faults.rs restarts this cluster to prove the gateway survives it.
    local restart
    restart=$(printf '%q ' "$PG_CTL" -D "$PGDATA_DIR" -l "$pg_log" -m fast -w -t 30 restart)
    if [[ $IS_ROOT -eq 1 ]]; then
        restart="cd $(printf '%q' "$WORK_DIR") && runuser -u $PG_OS_USER -- $restart"
    fi
    PG_RESTART_CMD="$restart"

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

    SSO_GATEWAY_TEST_POSTGRES_URL_VALUE="postgres://sso@127.0.0.1:$PGPORT/postgres"
    SSO_GATEWAY_TEST_REDIS_URL_VALUE="redis://127.0.0.1:$REDISPORT"
    log "services up: $SSO_GATEWAY_TEST_POSTGRES_URL_VALUE  $SSO_GATEWAY_TEST_REDIS_URL_VALUE"
}

