#!/usr/bin/env bash
# scripts/scim-conformance.sh BINARY — runs the scim2-tester conformance suite
# (PyPI scim2-cli + scim2-tester, in a virtualenv under target/) against a
# fresh gateway on a free loopback port, and fails unless every check passes.
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
export SSO_GATEWAY__SERVER__BIND="127.0.0.1:$PORT" SSO_GATEWAY__SERVER__PUBLIC_URL="http://127.0.0.1:$PORT"
export SSO_GATEWAY__SERVER__LOG_LEVEL=warn SSO_GATEWAY__SCIM__RATE_LIMIT_PER_MINUTE=100000
json() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
ADMIN=$("$BIN" org create --name "SCIM conformance" --json | json admin_token)
"$BIN" serve 2>serve.log &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
CERT=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$ROOT/fixtures/certs/idp-cert.pem")
api() { curl -sf -X POST "http://127.0.0.1:$PORT/api/v1$1" -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' -d "${2:-{\}}"; }
ID=$(api /integrations "{\"kind\":\"saml\",\"sso_url\":\"https://idp.example.com/sso\",\"certificate_pem\":$CERT}" | json id)
TOKEN=$(api "/integrations/$ID/provisioning" | json token)
set +e
SCIM_CLI_HEADERS="Authorization: Bearer $TOKEN" timeout 600 "$VENV/bin/scim2" --url "http://127.0.0.1:$PORT/scim/v2/$ID" test > report.txt 2>&1
RC=$?
set -e
PASSED=$(grep -c '^SUCCESS' report.txt || true)
FAILED=$(grep -c '^ERROR\|^CRITICAL' report.txt || true)
grep -v '^SUCCESS' report.txt | grep -v '^  ' || true
echo "scim2-tester: $PASSED passed, $FAILED failed"
[[ $RC -eq 0 && $FAILED -eq 0 ]]
