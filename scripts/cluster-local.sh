#!/usr/bin/env bash
# Run N central-server replicas on this machine (default 3) on one
# PostgreSQL log and one Redis, each on its own ports: gRPC 50051+10i,
# REST 8080+10i. Clients and nodes take every gRPC address at once, e.g.
#   cyxwiz-load -mode lifecycle -addr 127.0.0.1:50051,127.0.0.1:50061,127.0.0.1:50071 ...
# Ctrl-C stops them all.
#
#   PG_URL     PostgreSQL of the log     (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable)
#   PG_SCHEMA  schema of the log         (default cyxwiz_cluster)
#   REDIS_URL  Redis of the leases       (default redis://127.0.0.1:6379/0)
#   REDIS_PREFIX  key prefix            (default cyxwiz-local:)
#   N          replicas                  (default 3)
#   BIN        the cyxwiz-central binary (default: built into a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-3}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
PG_SCHEMA="${PG_SCHEMA:-cyxwiz_cluster}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
: "${CYXWIZ_JWT_SECRET:?set CYXWIZ_JWT_SECRET (at least 32 bytes), shared by every replica}"
if [ -z "${BIN:-}" ]; then
  BIN="$(mktemp -d)/cyxwiz-central"
  go build -o "$BIN" ./cmd/cyxwiz-central
fi
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
for i in $(seq 0 $((N - 1))); do
  CYXWIZ_EVENTSTORE_BACKEND=postgres CYXWIZ_EVENTSTORE_POSTGRES_URL="$PG_URL" \
  CYXWIZ_EVENTSTORE_POSTGRES_SCHEMA="$PG_SCHEMA" CYXWIZ_EVENTSTORE_DATA_DIR="$(mktemp -d)" \
  CYXWIZ_REDIS_URL="$REDIS_URL" CYXWIZ_REDIS_KEY_PREFIX="${REDIS_PREFIX:-cyxwiz-local:}" CYXWIZ_REDIS_REPLICA_ID="r$i" \
  CYXWIZ_SERVER_GRPC_ADDRESS="127.0.0.1:$((50051 + 10 * i))" CYXWIZ_SERVER_REST_ADDRESS="127.0.0.1:$((8080 + 10 * i))" \
    "$BIN" serve --config config.toml "$@" &
  pids+=($!)
done
wait
