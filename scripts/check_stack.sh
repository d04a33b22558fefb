#!/usr/bin/env bash
# Check a running local stack (`make up`) from outside, as a client would:
#   - the Airflow API refuses anonymous calls (401/403),
#   - a token from POST /auth/token (simple auth manager, the generated admin password) is accepted,
#   - the connections of airflow_settings.yaml are in Airflow's DB (GET /api/v2/connections),
#   - the Driftline page's API (plugin) refuses anonymous calls and answers with a token,
#   - every server of the stack listens on 127.0.0.1 only.
# Env: DRIFTLINE_HOME (default ./.driftline), DRIFTLINE_AIRFLOW_PORT / _MLFLOW_PORT / _MOTO_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
HOME_DIR="${DRIFTLINE_HOME:-$PWD/.driftline}"
AF="http://127.0.0.1:${DRIFTLINE_AIRFLOW_PORT:-8080}"
PASSWORDS="$HOME_DIR/airflow/passwords.json"
fail() { echo "FAIL: $*" >&2; exit 1; }

code=$(curl -s -o /dev/null -w '%{http_code}' "$AF/api/v2/dags")
[[ "$code" == 401 || "$code" == 403 ]] || fail "anonymous GET /api/v2/dags answered $code, expected 401/403"
echo "ok: anonymous GET /api/v2/dags -> $code"

[[ -f "$PASSWORDS" ]] || fail "$PASSWORDS does not exist (run make up)"
mode=$(stat -c '%a' "$PASSWORDS")
[[ "$mode" == 600 ]] || fail "$PASSWORDS has mode $mode, expected 600"
password=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$PASSWORDS")

bad=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$AF/auth/token" -H 'Content-Type: application/json' \
  -d '{"username": "admin", "password": "not-the-password"}')
[[ "$bad" == 401 || "$bad" == 403 ]] || fail "a wrong password got $bad from POST /auth/token"
echo "ok: wrong password -> $bad"

token=$(curl -sf -X POST "$AF/auth/token" -H 'Content-Type: application/json' \
  -d "{\"username\": \"admin\", \"password\": \"$password\"}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') || fail "POST /auth/token refused the admin password"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$AF/api/v2/dags")
[[ "$code" == 200 ]] || fail "GET /api/v2/dags with a token answered $code"
echo "ok: GET /api/v2/dags with a token -> 200"

code=$(curl -s -o /dev/null -w '%{http_code}' "$AF/driftline/api/models")
[[ "$code" == 401 ]] || fail "anonymous GET /driftline/api/models answered $code, expected 401"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$AF/driftline/api/models")
[[ "$code" == 200 ]] || fail "GET /driftline/api/models with a token answered $code (is the Driftline plugin loaded?)"
echo "ok: the Driftline page's API: anonymous -> 401, with a token -> 200 ($AF/plugin/driftline)"

listed=$(curl -sf -H "Authorization: Bearer $token" "$AF/api/v2/connections?limit=1000" |
  python3 -c 'import json,sys; print(" ".join(sorted(c["connection_id"] for c in json.load(sys.stdin)["connections"])))')
expected=$(python3 -c '
import sys, yaml
doc = yaml.safe_load(open("airflow_settings.yaml")) or {}
print(" ".join(sorted(c["conn_id"] for c in (doc.get("airflow") or {}).get("connections") or [])))' 2>/dev/null ||
  .venv/bin/python -c '
import yaml
doc = yaml.safe_load(open("airflow_settings.yaml")) or {}
print(" ".join(sorted(c["conn_id"] for c in (doc.get("airflow") or {}).get("connections") or [])))')
for conn in $expected; do
  [[ " $listed " == *" $conn "* ]] || fail "connection $conn of airflow_settings.yaml is not in Airflow (listed: $listed)"
done
echo "ok: connections in Airflow: $listed"

if command -v ss >/dev/null; then
  pids=""
  for f in "$HOME_DIR"/run/*.pid; do [[ -f "$f" ]] && pids+=" $(cat "$f")"; done
  addrs=""
  for pid in $pids; do
    for p in $pid $(pgrep -g "$pid" 2>/dev/null); do
      addrs+=" $(ss -Hltnp 2>/dev/null | grep "pid=$p," | awk '{print $4}' | tr '\n' ' ' || true)"
    done
  done
  addrs=$(echo $addrs | tr ' ' '\n' | sort -u | tr '\n' ' ')
  open=$(echo $addrs | tr ' ' '\n' | grep -v -E '^(127\.0\.0\.1|\[::1\]):' || true)
  [[ -z "$open" ]] || fail "stack processes listen beyond loopback: $open"
  echo "ok: the stack's processes listen on $addrs(loopback only)"
fi
echo "stack check passed"
