#!/usr/bin/env bash
# scripts/schemathesis.sh BINARY — checks the admin API against its own OpenAPI
# document: PyPI schemathesis (in a virtualenv under target/) runs every check
# against a fresh, populated gateway on a free loopback port, and this fails
# on any finding.
#
# Environment: SCHEMATHESIS_MAX_EXAMPLES (default 40) and
# SCHEMATHESIS_MAX_TIME (seconds, default 240) bound the run on a small machine;
# SCHEMATHESIS_SEED (default 1) keeps it reproducible, or explores anew.
set -euo pipefail
BIN=$(realpath "${1:?usage: schemathesis.sh path/to/sso-gateway}")
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION=4.32.5
VENV="$ROOT/target/schemathesis-venv"
if [[ "$("$VENV/bin/schemathesis" --version 2>/dev/null)" != *"$VERSION" ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$VERSION"
fi
WORK=$(mktemp -d)
PID=""
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
cd "$WORK"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
export SSO_GATEWAY__DATABASE__URL="sqlite://$WORK/gateway.db"
export SSO_GATEWAY__SERVER__BIND="127.0.0.1:$PORT" SSO_GATEWAY__SERVER__PUBLIC_URL="$BASE"
export SSO_GATEWAY__SERVER__LOG_LEVEL=warn SSO_GATEWAY__SCIM__RATE_LIMIT_PER_MINUTE=100000
# Domain verification asks a nameserver nobody runs: each look-up fails fast
# (a 422 the document declares) instead of waiting on the system's resolver.
export SSO_GATEWAY__DNS__NAMESERVERS='["127.0.0.1:9"]' SSO_GATEWAY__DNS__TIMEOUT_MS=200
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
ADMIN=$("$BIN" org create --name "OpenAPI conformance" --json | json '["admin_token"]')
"$BIN" serve 2>serve.log &
PID=$!
for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done
# An org with something in every list, so responses are checked with data in them.
call() {
    curl -sf -X "$1" "$BASE$2" -H "Authorization: Bearer $3" -H 'content-type: application/json' -d "${4:-{\}}"
}
api() { call "$1" "/api/v1$2" "$ADMIN" "${3:-{\}}"; }
api POST /teams '{"name":"Engineering","preapproved_domains":["example.com","example.org"]}' >/dev/null
GONE=$(api POST /teams '{"name":"Former team"}' | json '["id"]')
api DELETE "/teams/$GONE" >/dev/null
CERT=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$ROOT/fixtures/certs/idp-cert.pem")
ID=$(api POST /integrations "{\"kind\":\"saml\",\"sso_url\":\"https://idp.example.com/sso\",\"certificate_pem\":$CERT}" | json '["id"]')
SCIM_TOKEN=$(api POST "/integrations/$ID/provisioning" | json '["token"]')
for who in ada grace; do
    call POST "/scim/v2/$ID/Users" "$SCIM_TOKEN" "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"$who@example.com\",\"externalId\":\"$who\",\"name\":{\"givenName\":\"$who\",\"familyName\":\"Example\"},\"emails\":[{\"value\":\"$who@example.com\",\"type\":\"work\",\"primary\":true}],\"active\":true}" >/dev/null
done
api POST /domains '{"domain":"example.com"}' >/dev/null
api POST /users '{"email":"invited@example.org","role":"admin"}' >/dev/null
# Two things the document states but no schema can, so the checks are told:
# * restore brings a DELETEd team back: stateful runs would take the GET after
#   it for a use-after-free, and a restore of a live team (404) for a lost one;
# * an integration's settings are checked against the IdP (a certificate must
#   parse, metadata must be fetched), so a well-formed body may still get 422.
cat > schemathesis.toml <<'TOML'
[[operations]]
include-path = "/api/v1/teams/{team_id}/restore"
phases.stateful.enabled = false

[[operations]]
include-path-regex = "^/api/v1/integrations(/\\{id\\})?$"
include-method-regex = "^(POST|PATCH)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

# A domain must be a real host name and is verified only by its DNS record; an
# invitation needs an email address: schema-valid strings may still get 422.
[[operations]]
include-path-regex = "^/api/v1/(domains(/\\{domain\\}/verify)?|users)$"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

# A cursor is an id this API handed out: a well-formed one beyond the stream's
# end is the caller's mistake (400), which no schema can say.
[[operations]]
include-path = "/api/v1/events"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]
TOML
# No response links to a member or to the integration made above, so point
# their routes at real ones (the removal at a member of its own).
json_users() { curl -sf "$BASE/api/v1/users" -H "Authorization: Bearer $ADMIN" | json "[\"users\"][$1][\"id\"]"; }
cat >> schemathesis.toml <<TOML

[[operations]]
include-path = "/api/v1/users/{user_id}"
include-method-regex = '^(GET|PATCH)\$'
parameters = { user_id = "$(json_users 0)" }

[[operations]]
include-path = "/api/v1/users/{user_id}"
include-method = "DELETE"
parameters = { user_id = "$(json_users 1)" }

[[operations]]
include-path = "/api/v1/integrations/{id}"
include-method-regex = '^(GET|PATCH)\$'
parameters = { id = "$ID" }

[[operations]]
include-path = "/api/v1/integrations/{id}/provisioning"
parameters = { id = "$ID" }
TOML
set +e
# Rotating the admin token would revoke the one this run authenticates with.
timeout 900 "$VENV/bin/schemathesis" --config-file schemathesis.toml run "$BASE/api/v1/openapi.json" \
    --checks all --header "Authorization: Bearer $ADMIN" \
    --exclude-path /api/v1/admin-token/rotate \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-40}" --max-time "${SCHEMATHESIS_MAX_TIME:-240}" \
    --workers 2 --seed "${SCHEMATHESIS_SEED:-1}" --no-color > report.txt 2>&1
RC=$?
set -e
cat report.txt
[[ $RC -eq 0 ]] || { echo "gateway log (tail):"; tail -20 serve.log; }
SUMMARY=$(grep -E '^=+ .* in [0-9.]+s =+$' report.txt | tail -1 | sed -E 's/^=+ //; s/ =+$//')
CASES=$(grep -A1 '^Test cases:' report.txt | tail -1 | sed -E 's/^ +//')
echo "schemathesis: ${SUMMARY:-no summary}; test cases: ${CASES:-none} (exit $RC)"
[[ $RC -eq 0 ]]
