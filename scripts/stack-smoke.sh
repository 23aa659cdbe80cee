#!/usr/bin/env bash
# The compose stack's flow without Docker: the binaries built as the
# Dockerfile builds them (static, -trimpath -s -w), the server started with
# deploy/config.compose.toml and the compose environment, except what needs
# a container (EventStoreDB → the embedded store, Solana → off, service
# host names → loopback, ports moved off the defaults). Then: the
# healthcheck subcommand, a token from the `token` subcommand, three
# simulated nodes with the compose flags, the demo's `submit`, and a clean
# SIGTERM of nodes and server (both must exit 0).
#
#   scripts/stack-smoke.sh            PostgreSQL read models at $SMOKE_PG_URL
#   SMOKE_PG_URL= scripts/stack-smoke.sh   read models in memory
#   SMOKE_TLS=1 scripts/stack-smoke.sh     docker-compose.tls.yml's flow: `certs init`, the server
#                                          with TLS, mutual TLS and the push over TLS, every client
#                                          with --ca (nodes with their certificate), demo.sh with DEMO_TLS
set -euo pipefail
cd "$(dirname "$0")/.."

pg_url="${SMOKE_PG_URL-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
grpc_port="${SMOKE_GRPC_PORT:-50151}"
rest_port="${SMOKE_REST_PORT:-18080}"
work="$(mktemp -d)"
bin="$work/bin"
secret="smoke-test-jwt-secret-0123456789abcdef0123"
pids=()
schema="stack_smoke_$$"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$pg_url" ] && command -v psql >/dev/null; then
    psql "$pg_url" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== build (CGO_ENABLED=0 -trimpath -ldflags='-s -w')"
mkdir -p "$bin"
for c in cyxwiz-central cyxwiz-node-sim; do
  CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$bin/$c" "./cmd/$c"
done
if command -v file >/dev/null; then file "$bin/cyxwiz-central" | grep -q 'statically linked' && echo "static: yes"; fi

env_server=(
  "CYXWIZ_JWT_SECRET=$secret"
  "CYXWIZ_EVENTSTORE_BACKEND=embedded" "CYXWIZ_BLOCKCHAIN_NETWORK=disabled"
  "CYXWIZ_EVENTSTORE_DATA_DIR=$work/data"
  "CYXWIZ_SERVER_GRPC_ADDRESS=127.0.0.1:$grpc_port" "CYXWIZ_SERVER_REST_ADDRESS=127.0.0.1:$rest_port"
  "CYXWIZ_LOG=info"
)
if [ -n "$pg_url" ]; then
  env_server+=("CYXWIZ_DATABASE_URL=$pg_url" "CYXWIZ_DATABASE_SCHEMA=$schema")
fi
certs="$work/certs"
tls=() node_tls=() curl_tls=() rest_scheme=http
if [ -n "${SMOKE_TLS:-}" ]; then
  echo "== certs init (as the compose certs service, on loopback names)"
  "$bin/cyxwiz-central" certs init "$certs" --host localhost,127.0.0.1 --node sim-owner --node-host localhost,127.0.0.1 | sed 's/^/  /'
  env_server+=("CYXWIZ_SERVER_TLS_CERT_FILE=$certs/server.crt" "CYXWIZ_SERVER_TLS_KEY_FILE=$certs/server.key"
    "CYXWIZ_SERVER_TLS_CLIENT_CA_FILE=$certs/ca.crt" "CYXWIZ_SERVER_TLS_NODE_CA_FILE=$certs/ca.crt")
  tls=(--ca "$certs/ca.crt")
  node_tls=(--ca "$certs/ca.crt" --cert "$certs/node-sim-owner.crt" --key "$certs/node-sim-owner.key")
  curl_tls=(--cacert "$certs/ca.crt")
  rest_scheme=https
fi

echo "== server: deploy/config.compose.toml + compose environment (embedded store, settlement off)"
env "${env_server[@]}" "$bin/cyxwiz-central" serve --config deploy/config.compose.toml >"$work/central.log" 2>&1 &
central=$!; pids+=("$central")
for _ in $(seq 1 100); do
  "$bin/cyxwiz-central" healthcheck --addr "127.0.0.1:$grpc_port" --timeout 1s "${tls[@]}" >/dev/null 2>&1 && break
  sleep 0.2
done
"$bin/cyxwiz-central" healthcheck --addr "127.0.0.1:$grpc_port" "${tls[@]}"

echo "== token"
token="$(env "${env_server[@]}" "$bin/cyxwiz-central" token --sub demo --config deploy/config.compose.toml 2>/dev/null)"
[ -n "$token" ]

echo "== three simulated nodes (the compose flags, on loopback)"
CYXWIZ_JWT_SECRET="$secret" "$bin/cyxwiz-node-sim" run --server "127.0.0.1:$grpc_port" --sub sim-owner --nodes 3 \
  --device cuda:24,cuda:80,cpu:64 --region eu-west,us-east,ap-south --price 1.5,2.5,0.5 \
  --train 1s --progress 4 --failure 0.1 --reject 0.05 --seed 1 --heartbeat 1s \
  --listen 127.0.0.1 --advertise 127.0.0.1 --base-port 17003 --port-offset 3 --drain 5s "${node_tls[@]}" >"$work/sim.log" 2>&1 &
sim=$!; pids+=("$sim")
for _ in $(seq 1 50); do grep -q "3 nodes running" "$work/sim.log" && break; sleep 0.2; done
grep "registered as\|nodes running" "$work/sim.log"

echo "== REST: nodes (operator token)"
ops="$(env "${env_server[@]}" "$bin/cyxwiz-central" token --sub ops --role operator --config deploy/config.compose.toml 2>/dev/null)"
curl -fsS "${curl_tls[@]}" -H "Authorization: Bearer $ops" "$rest_scheme://127.0.0.1:$rest_port/api/nodes" | head -c 400; echo

echo "== submit (the demo client)"
"$bin/cyxwiz-node-sim" submit --server "127.0.0.1:$grpc_port" --token "$token" --jobs 3 --timeout 60s "${tls[@]}"

echo "== scripts/demo.sh, with a stand-in for docker compose that runs the same commands here"
cat >"$work/compose" <<'SHIM'
#!/usr/bin/env bash
# Maps the two calls demo.sh makes onto local processes:
#   exec -T central /cyxwiz-central ARGS…   |   run --rm --no-deps -T node-sim ARGS…
set -euo pipefail
args=()
for a in "$@"; do
  case "$a" in
    central:50051) args+=("127.0.0.1:$SHIM_GRPC_PORT") ;;
    /etc/cyxwiz/config.toml) args+=("deploy/config.compose.toml") ;;
    /etc/cyxwiz/certs/*) args+=("$SHIM_CERTS/${a#/etc/cyxwiz/certs/}") ;;
    *) args+=("$a") ;;
  esac
done
set -- "${args[@]}"
case "$1 $2 $3" in
  "exec -T central") shift 3; [ "$1" = /cyxwiz-central ] || { echo "unexpected exec $1" >&2; exit 2; }; shift
    # In the container the server listens on the healthcheck's default address.
    if [ "$1" = healthcheck ]; then set -- "$@" --addr "127.0.0.1:$SHIM_GRPC_PORT"; fi
    # shellcheck disable=SC2086 # SHIM_SERVER_ENV is a list of VAR=value words without spaces
    exec env $SHIM_SERVER_ENV "$SHIM_BIN/cyxwiz-central" "$@" ;;
  "run --rm --no-deps") [ "$4 $5" = "-T node-sim" ] || { echo "unexpected run $*" >&2; exit 2; }; shift 5
    exec "$SHIM_BIN/cyxwiz-node-sim" "$@" ;;
esac
echo "unexpected compose call: $*" >&2; exit 2
SHIM
chmod +x "$work/compose"
SHIM_GRPC_PORT="$grpc_port" SHIM_BIN="$bin" SHIM_SERVER_ENV="${env_server[*]}" SHIM_CERTS="$certs" \
  DEMO_TLS="${SMOKE_TLS:-}" DEMO_CACERT="$certs/ca.crt" \
  COMPOSE="$work/compose" DEMO_REST="$rest_scheme://127.0.0.1:$rest_port" DEMO_TIMEOUT=60s scripts/demo.sh 2 | tail -n 4

echo "== SIGTERM: nodes, then server"
kill -TERM "$sim"; sim_rc=0; wait "$sim" || sim_rc=$?
tail -n 2 "$work/sim.log"
kill -TERM "$central"; central_rc=0; wait "$central" || central_rc=$?
pids=()
echo "node-sim exit $sim_rc, central exit $central_rc"
if [ "$sim_rc" != 0 ] || [ "$central_rc" != 0 ]; then
  echo "--- central.log"; tail -n 30 "$work/central.log"; exit 1
fi
echo "smoke: ok"
