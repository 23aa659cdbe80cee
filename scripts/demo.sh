#!/usr/bin/env bash
# Demo against the compose stack (docker compose up --build -d first):
# mints a user token with the server's own `token` subcommand, then
# submits a few unpaid training jobs with `cyxwiz-node-sim submit` (in the
# same image, so nothing else needs installing) and prints their progress
# until each is terminal.
#
#   scripts/demo.sh [JOBS]        (default 3; or: make demo JOBS=5)
#
# Environment: COMPOSE (default "docker compose"), DEMO_USER (default demo),
# DEMO_DEVICE (default cuda), DEMO_TIMEOUT (default 5m), DEMO_REST (default
# http://127.0.0.1:8080, https:// with DEMO_TLS). DEMO_TLS=1 for the TLS
# variant (make demo-tls): the in-container clients verify the server with
# the certs volume's CA; the REST call from the host needs DEMO_CACERT (a
# copy of that ca.crt) and is skipped without it. scripts/stack-smoke.sh
# runs this script with a COMPOSE stand-in that maps the calls onto local
# processes.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs="${1:-3}"
compose=${COMPOSE:-docker compose}
user="${DEMO_USER:-demo}"
tls=()    # the in-container clients' TLS flags
rest="${DEMO_REST:-http://127.0.0.1:8080}"
curl_tls=()
if [ -n "${DEMO_TLS:-}" ]; then
  tls=(--ca /etc/cyxwiz/certs/ca.crt)
  rest="${DEMO_REST:-https://127.0.0.1:8080}"
  curl_tls=(--cacert "${DEMO_CACERT:-/nonexistent}")
fi

echo "== waiting for the central server to be healthy"
for _ in $(seq 1 60); do
  if $compose exec -T central /cyxwiz-central healthcheck "${tls[@]}" >/dev/null 2>&1; then break; fi
  sleep 2
done
$compose exec -T central /cyxwiz-central healthcheck "${tls[@]}"

echo "== minting a token for \"$user\""
token="$($compose exec -T central /cyxwiz-central token --sub "$user" --ttl 1h --config /etc/cyxwiz/config.toml)"

echo "== nodes the server knows (REST; the operator API needs role operator)"
ops="$($compose exec -T central /cyxwiz-central token --sub demo-ops --role operator --ttl 1h --config /etc/cyxwiz/config.toml)"
curl -fsS "${curl_tls[@]}" -H "Authorization: Bearer $ops" "$rest/api/nodes" || echo "(REST not reachable from here; skipping)"
echo

echo "== submitting $jobs unpaid jobs and following them"
# payment_amount is 0: with settlement on, the server must accept unpaid
# jobs for this to pass (see README, "Full stack with docker compose").
$compose run --rm --no-deps -T node-sim submit \
  --server central:50051 --token "$token" --jobs "$jobs" "${tls[@]}" \
  --device "${DEMO_DEVICE:-cuda}" --timeout "${DEMO_TIMEOUT:-5m}"
