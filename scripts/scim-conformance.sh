#!/usr/bin/env bash
# scripts/scim-conformance.sh BINARY — runs the scim2-tester conformance suite
# (PyPI scim2-cli + scim2-tester, in a virtualenv under target/) against a
# fresh gateway on a free loopback port, twice: on a tenant with an empty
# directory, and on one that already holds users (one deactivated) and
# groups with members, as a directory an IdP has been syncing does. Fails
# unless every check of both runs passes.
set -euo pipefail
BIN=$(realpath "${1:?usage: scim-conformance.sh path/to/sso-gateway}")
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/target/scim-tester-venv"
if [[ ! -x "$VENV/bin/scim2" ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "scim2-cli==0.6.0" "scim2-tester==0.5.2"
fi
WORK=$(mktemp -d)
PID=""
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
cd "$WORK"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
export SSO_GATEWAY__SERVER__BIND="127.0.0.1:$PORT" SSO_GATEWAY__SERVER__PUBLIC_URL="$BASE"
export SSO_GATEWAY__SERVER__LOG_LEVEL=warn SSO_GATEWAY__SCIM__RATE_LIMIT_PER_MINUTE=100000
json() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
ADMIN_EMPTY=$("$BIN" org create --name "SCIM conformance, empty" --json | json admin_token)
ADMIN_SEEDED=$("$BIN" org create --name "SCIM conformance, populated" --json | json admin_token)
"$BIN" serve 2>serve.log &
PID=$!
for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done
CERT=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$ROOT/fixtures/certs/idp-cert.pem")

# tenant ADMIN_TOKEN: "integration-id token" of a new SAML integration with SCIM on.
tenant() {
    local api=(curl -sf -X POST -H "Authorization: Bearer $1" -H 'content-type: application/json')
    local id token
    id=$("${api[@]}" "$BASE/api/v1/integrations" \
        -d "{\"kind\":\"saml\",\"sso_url\":\"https://idp.example.com/sso\",\"certificate_pem\":$CERT}" | json id)
    token=$("${api[@]}" "$BASE/api/v1/integrations/$id/provisioning" -d '{}' | json token)
    echo "$id $token"
}

# scim METHOD PATH BODY-FILE: the SCIM call's response body; fails on an HTTP error.
scim() {
    curl -sf -X "$1" "$SCIM_URL$2" -H "Authorization: Bearer $SCIM_TOKEN" \
        -H 'content-type: application/scim+json' --data-binary "@$3"
}

# Users and groups an IdP would have pushed, from fixtures/scim/.
seed() {
    local fixtures="$ROOT/fixtures/scim" ids=() user id
    for user in ada grace alan; do
        ids+=("$(scim POST /Users "$fixtures/user-$user.json" | json id)")
    done
    scim PATCH "/Users/${ids[2]}" "$fixtures/patch-deactivate.json" >/dev/null
    for group in engineering research; do
        sed -e "s/@ADA@/${ids[0]}/; s/@GRACE@/${ids[1]}/; s/@ALAN@/${ids[2]}/" \
            "$fixtures/group-$group.json" >"group-$group.json"
        scim POST /Groups "group-$group.json" >/dev/null
    done
}

# suite NAME: runs scim2-tester on $SCIM_URL; prints what did not pass and a tally.
FAILURES=0
suite() {
    local rc passed failed
    set +e
    SCIM_CLI_HEADERS="Authorization: Bearer $SCIM_TOKEN" timeout 600 "$VENV/bin/scim2" --url "$SCIM_URL" test >"report-$1.txt" 2>&1
    rc=$?
    set -e
    passed=$(grep -c '^SUCCESS' "report-$1.txt" || true)
    failed=$(grep -c '^ERROR\|^CRITICAL' "report-$1.txt" || true)
    grep -v '^SUCCESS' "report-$1.txt" | grep -v '^  ' || true
    echo "scim2-tester, $1 directory: $passed passed, $failed failed"
    if [[ $rc -ne 0 || $failed -ne 0 ]]; then FAILURES=$((FAILURES + 1)); fi
}

read -r ID SCIM_TOKEN < <(tenant "$ADMIN_EMPTY")
SCIM_URL="$BASE/scim/v2/$ID"
suite empty

read -r ID SCIM_TOKEN < <(tenant "$ADMIN_SEEDED")
SCIM_URL="$BASE/scim/v2/$ID"
seed
suite populated

[[ $FAILURES -eq 0 ]]
