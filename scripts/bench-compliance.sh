#!/usr/bin/env bash
# Throughput benchmark of the compliance server's AUTH_SERVER (SEP-3 `POST /`).
#
# A benchmark, not a test: it asserts nothing and the numbers depend on the machine. See
# docs/PERFORMANCE.md for results and how to read them.
#
# It builds the release binary, serves the sender's stellar.toml (`stellar.org`, SIGNING_KEY of
# vectors/compliance-send.json) from a python3 static file server on 127.0.0.1, starts
# `compliance` with a SQLite database in a temp dir (no callbacks, needs_auth = false, the
# stellar.org override pointing at that file server), sends the vector once (approved and
# stored), then runs wrk against
#   - `GET /static-ceiling` on the external port: an unknown path, answered by the static JSON 404
#     through the same middleware stack without any work (the ceiling), and
#   - `POST /` with the vector's `data` and `sig` (form-urlencoded): every request is parsed and
#     checked (base64, AuthData JSON, transaction XDR, attachment JSON, sha256 of the attachment
#     against the memo), the sender's cached stellar.toml gives the key, the ed25519 signature is
#     verified, the transaction hash is computed and the stored approval is read (one database
#     read): the same request repeated is answered from that approval, 200;
#   - `POST /auth` (SEP-10, `[peering.anchor]`) with one challenge signed by the official Python
#     SDK (compliance/tests/interop/sep10.py): every request reads the challenge in full, checks
#     the server's and the client's ed25519 signatures and issues an HS256 token, 200 (no
#     database; the account does not exist and no Horizon is configured: its master key signs).
# It prints requests/s, p50 and p99 latency for each, the server's CPU time (user + system) and
# context switches per request during the run, its thread count and RSS after the load.
#
# The per-core ceiling of the cryptography and parsing alone is measured separately with
# `cargo bench -p compliance --bench verify` (BENCH_VERIFY=1 runs it at the end).
#
# Knobs (environment):
#   CARGO_TARGET_DIR   where cargo builds (default: the workspace's target/)
#   SKIP_BUILD=1       use the binary already in $CARGO_TARGET_DIR/release
#   THREADS CONNECTIONS DURATION WARMUP   wrk -t/-c/-d and the warm-up run (2 / 64 / 15s / 3s)
#   RUST_LOG           server log level (default: warn, so per-request info logs do not dominate)
#   BENCH_VERIFY=1     also run `cargo bench -p compliance --bench verify`
#   PERF=1             perf record (-F 499 --call-graph dwarf, 5 s) the server during the auth run
#                      and print the top symbols (inclusive and self) to stderr, or to PERF_OUT
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=lib/bench.sh
. "$ROOT/scripts/lib/bench.sh"

: "${CARGO_TARGET_DIR:=$ROOT/target}"
export CARGO_TARGET_DIR
THREADS=${THREADS:-2}
EXTERNAL_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-3s}
export RUST_LOG=${RUST_LOG:-warn}
VECTOR=$ROOT/vectors/compliance-send.json

require wrk python3 curl

# --- build ---------------------------------------------------------------------------------
BIN=$(release_binary compliance)

WORK=$(mktemp -d -t bench-compliance.XXXXXX)
SERVER_PID=
TOML_PID=
cleanup() {
  for pid in "$SERVER_PID" "$TOML_PID"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- the vector: stellar.toml, request body, config -----------------------------------------
# body.txt: data=…&sig=… form-urlencoded; stellar.toml with the vector's SIGNING_KEY.
python3 - "$VECTOR" "$WORK" <<'PY'
import json, os, sys, urllib.parse
vector, work = sys.argv[1], sys.argv[2]
v = json.load(open(vector))
os.makedirs(f"{work}/www/.well-known")
with open(f"{work}/www/.well-known/stellar.toml", "w") as f:
    f.write(f'SIGNING_KEY = "{v["signing_key"]}"\n')
with open(f"{work}/body.txt", "w") as f:
    f.write(urllib.parse.urlencode({"data": v["data"], "sig": v["sig"]}))
with open(f"{work}/vector.env", "w") as f:
    f.write(f'PASSPHRASE="{v["network_passphrase"]}"\nSEED="{v["signing_seed"]}"\n')
PY
# shellcheck disable=SC1091
. "$WORK/vector.env"

TOML_PORT=$(free_port)
(cd "$WORK/www" && exec python3 -m http.server "$TOML_PORT" --bind 127.0.0.1) \
  >"$WORK/toml.out" 2>&1 &
TOML_PID=$!
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$TOML_PORT/.well-known/stellar.toml" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$TOML_PORT/.well-known/stellar.toml" >/dev/null \
  || die "the stellar.toml server did not start: $(cat "$WORK/toml.out")"
own_fetches=$(grep -c 'GET /.well-known/stellar.toml' "$WORK/toml.out" || true)

cat >"$WORK/compliance.cfg" <<CFG
external_port = $EXTERNAL_PORT
internal_port = 0
external_bind_address = "127.0.0.1"
needs_auth = false
network_passphrase = "$PASSPHRASE"

[database]
url = "sqlite://$WORK/compliance.db"

[keys]
signing_seed = "$SEED"

# One load generator on one address: the per-client rate limit would measure itself.
[rate_limit]
per_second = 0

[stellar_toml.overrides]
"stellar.org" = "http://127.0.0.1:$TOML_PORT/.well-known/stellar.toml"

# A SEP-31 receiving anchor too, for the SEP-10 load.
[peering.anchor]
home_domain = "bank.example"
web_auth_endpoint = "http://127.0.0.1:$EXTERNAL_PORT/auth"
jwt_secret = "a-benchmark-secret-of-at-least-32-characters"
receiving_account = "GAQMYJUJQPL7JSGDSK5IE6D7NGFQLHI523L7B6TEVLEQS7BKZLOJRPGV"

[[peering.anchor.assets]]
code = "USD"
issuer = "GAQMYJUJQPL7JSGDSK5IE6D7NGFQLHI523L7B6TEVLEQS7BKZLOJRPGV"
CFG

# --- wrk script ----------------------------------------------------------------------------
# Each load is one fixed request, which wrk formats once (init() sets it; no request() function):
# wrk shares the two cores with the server, and a Lua request() per request would take CPU from it.
cat >"$WORK/bench.lua" <<LUA
function init(args)
  if (args[1] or "auth") == "static" then
    wrk.method = "GET"
    wrk.path = "/static-ceiling"
  elseif args[1] == "sep10" then
    local f = assert(io.open("$WORK/sep10.json", "rb"))
    wrk.body = f:read("*a")
    f:close()
    wrk.method = "POST"
    wrk.path = "/auth"
    wrk.headers["Content-Type"] = "application/json"
  else
    local f = assert(io.open("$WORK/body.txt", "rb"))
    wrk.body = f:read("*a")
    f:close()
    wrk.method = "POST"
    wrk.path = "/"
    wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  end
end
LUA

# --- server --------------------------------------------------------------------------------
say "starting compliance (stellar.toml of stellar.org from 127.0.0.1:$TOML_PORT)"
"$BIN" -c "$WORK/compliance.cfg" >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
URL=
for _ in $(seq 100); do
  URL=$(sed -n 's/^compliance listening: external \([^ ]*\) internal .*/\1/p' "$WORK/server.out")
  [ -n "$URL" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
[ -n "$URL" ] || die "the server did not start: $(cat "$WORK/server.err")"
URL=${URL%/}

# The first request is decided and stored; every later one is a repeat of an approved request.
for attempt in 1 2; do
  status=$(curl -sS -o "$WORK/probe.json" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/x-www-form-urlencoded' --data-binary @"$WORK/body.txt" "$URL/")
  [ "$status" = 200 ] || die "auth request $attempt answered $status: $(cat "$WORK/probe.json") $(cat "$WORK/server.err")"
done
say "probe: $(cat "$WORK/probe.json")"

# A SEP-10 challenge for a fresh account, signed by the official SDK: valid 15 minutes, and
# token issuance keeps no state, so the same signed challenge can be posted again and again.
CLIENT_SEED=$(python3 -c 'from stellar_sdk import Keypair; print(Keypair.random().secret)') \
  || die "the Python SDK is needed for the SEP-10 load: python3 -m pip install stellar-sdk==16.1.1"
CLIENT=$(python3 -c "from stellar_sdk import Keypair; print(Keypair.from_secret('$CLIENT_SEED').public_key)")
SERVER_KEY=$(python3 -c "from stellar_sdk import Keypair; print(Keypair.from_secret('$SEED').public_key)")
CHALLENGE=$(curl -fsS "$URL/auth?account=$CLIENT" | python3 -c 'import json, sys; print(json.load(sys.stdin)["transaction"])')
python3 "$ROOT/compliance/tests/interop/sep10.py" sign --challenge "$CHALLENGE" --client-seed "$CLIENT_SEED" \
  --server-account "$SERVER_KEY" --home-domain bank.example --web-auth-domain "127.0.0.1:$EXTERNAL_PORT" \
  --network-passphrase "$PASSPHRASE" | python3 -c 'import json, sys; print(json.dumps({"transaction": json.load(sys.stdin)["transaction"]}))' \
  >"$WORK/sep10.json"
status=$(curl -sS -o "$WORK/probe.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data-binary @"$WORK/sep10.json" "$URL/auth")
[ "$status" = 200 ] || die "SEP-10 token request answered $status: $(cat "$WORK/probe.json")"

stop_server() {
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

RESULTS=()
run() { # endpoint mode
  local endpoint=$1 mode=$2 perf_out=
  if [ "${PERF:-}" = 1 ] && [ "$mode" = auth ]; then perf_out=${PERF_OUT:-/dev/stderr}; fi
  measure "$mode" "$perf_out"
  # The ceiling answers 404 by design; an auth or token request should always answer 200.
  if [ "$mode" != static ] && [ -n "$M_NON2XX" ]; then
    printf 'WARNING: %s non-2xx answers on %s requests\n' "$M_NON2XX" "$mode" >&2
  fi
  RESULTS+=("| $endpoint | $M_RPS | $M_P50 | $M_P99 | $M_CPU | $M_CS | $M_THREADS | $M_RSS (peak $M_HWM) | $M_LOAD |")
  eval "RPS_${mode}=$M_RPS"
}

say "static ceiling (GET /static-ceiling)"
run "static ceiling" static
say "auth requests (POST / with the vector's data and sig)"
run "AUTH POST /" auth
say "SEP-10 token requests (POST /auth with one signed challenge)"
run "SEP-10 POST /auth" sep10
stop_server
kill "$TOML_PID" 2>/dev/null || true
wait "$TOML_PID" 2>/dev/null || true
TOML_PID=
# One fetch of the stellar.toml is expected (then cached).
fetches=$(grep -c 'GET /.well-known/stellar.toml' "$WORK/toml.out" || true)

say "results (wrk -t$THREADS -c$CONNECTIONS -d$DURATION, RUST_LOG=$RUST_LOG, SQLite)"
echo "| endpoint | req/s | p50 ms | p99 ms | server CPU µs/req | ctx switches/req | threads | RSS MiB after load | load avg (1/5/15) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${RESULTS[@]}"
awk -v n="$RPS_auth" -v t="$RPS_sep10" -v s="$RPS_static" \
  'BEGIN { if (s > 0) printf "auth / static ceiling = %.2f, SEP-10 / static ceiling = %.2f\n", n / s, t / s }'
echo "stellar.toml fetched by the server: $((fetches - own_fetches)) time(s) (cached afterwards)"

if [ "${BENCH_VERIFY:-}" = 1 ]; then
  say "per-core ceiling: cargo bench -p compliance --bench verify"
  cargo bench -p compliance --bench verify
fi
exit 0
