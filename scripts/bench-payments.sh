#!/usr/bin/env bash
# Sustained `/payment` throughput and latency of the bridge against the sandbox network with
# stellar-core's admission rules (one transaction per source account in the queue, 1 000
# operations per ledger), for several channel counts and ledger intervals.
#
# A benchmark, not a test: it asserts nothing and the numbers depend on the machine. See
# docs/PERFORMANCE.md for results and how to read them.
#
# For each ledger interval and channel count it starts a fresh `sandbox` (release build,
# --close-interval-ms, --max-ops-per-ledger 1000), funds a paying account and a destination
# (friendbot), starts a fresh `bridge` (release build, SQLite in a temp dir, `[channels] count`
# when > 0: created and funded at start-up, before the load), then runs the load client
# (`cargo bench -p bridge --bench payments`) for LEDGERS ledgers: CONCURRENCY clients, each
# posting 1 XLM payments with distinct ids one after another. It prints one Markdown row per run:
# payments answered 200, payments/s, the limit (one payment per transaction, so min(channels,
# 1000) per ledger, or 1 per ledger without channels), the ratio to it, p50/p99 latency in
# milliseconds and in ledgers, and the bridge's CPU time (user + system, from /proc) per payment.
#
# Knobs (environment):
#   CARGO_TARGET_DIR   where cargo builds (default: the workspace's target/)
#   SKIP_BUILD=1       use the binaries already in $CARGO_TARGET_DIR/release
#   CHANNELS           channel counts (default "0 1 10 50 200")
#   LEDGER_MS          ledger intervals in ms (default "1000 5000")
#   LEDGERS            ledgers of load per run (default 12)
#   CONCURRENCY        clients per run (default: one per channel, so that every channel is kept
#                      busy without requests queueing for one; 4 without channels)
#   INSTANCES          bridge instances sharing the database, the paying account and the
#                      channels (default 1; more than 1 needs DATABASE=mysql or postgres). The
#                      clients are spread over them round robin.
#   DATABASE           sqlite (default), mysql (MariaDB at 127.0.0.1:3306, root) or postgres
#                      (127.0.0.1:5432, postgres); a fresh database per run
#   COSIGNERS          co-signers (default 0): each a `cosigner` process (release build, its own
#                      SQLite file) guarding the paying account, made its signers with
#                      `bridge accounts setup --submit` before the bridge starts; the bridge then
#                      collects COSIGNERS_REQUIRED (default 1) co-signatures on every payment
#   RUST_LOG           server log level (default warn)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=lib/bench.sh
. "$ROOT/scripts/lib/bench.sh"

: "${CARGO_TARGET_DIR:=$ROOT/target}"
export CARGO_TARGET_DIR
CHANNELS=${CHANNELS:-0 1 10 50 200}
LEDGER_MS=${LEDGER_MS:-1000 5000}
LEDGERS=${LEDGERS:-12}
INSTANCES=${INSTANCES:-1}
DATABASE=${DATABASE:-sqlite}
COSIGNERS=${COSIGNERS:-0}
COSIGNERS_REQUIRED=${COSIGNERS_REQUIRED:-1}
case "$DATABASE" in
  sqlite) [ "$INSTANCES" = 1 ] || die "SQLite serves one instance: use DATABASE=mysql or postgres for INSTANCES=$INSTANCES" ;;
  mysql) require mariadb ;;
  postgres) require psql ;;
  *) die "DATABASE=$DATABASE: sqlite, mysql or postgres" ;;
esac
export RUST_LOG=${RUST_LOG:-warn}
CHANNEL_SEED=SADQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQP54X

require curl awk python3
SANDBOX_BIN=$(release_binary sandbox)
BRIDGE_BIN=$(release_binary bridge)
if [ "$COSIGNERS" -gt 0 ]; then COSIGNER_BIN=$(release_binary cosigner); fi
# The load client (bridge/benches/payments.rs), built once and run directly, so that nothing
# is rebuilt between runs.
say "building the load client: cargo bench -p bridge --bench payments --no-run"
CLIENT_BIN=$(cargo bench -p bridge --bench payments --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "payments" and m.get("executable"):
        print(m["executable"])')
[ -x "$CLIENT_BIN" ] || die "the load client did not build (cargo bench -p bridge --bench payments --no-run)"
client() { "$CLIENT_BIN" 2>/dev/null; }

WORK=$(mktemp -d -t bench-payments.XXXXXX)
SANDBOX_PID=
SERVER_PIDS=()
COSIGNER_PIDS=()
stop() {
  for pid in "${SERVER_PIDS[@]}" "${COSIGNER_PIDS[@]}" "$SANDBOX_PID"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  SERVER_PIDS=(); COSIGNER_PIDS=(); SANDBOX_PID=
}

# database_url NAME: a fresh, empty database of $DATABASE, and its URL.
database_url() {
  case "$DATABASE" in
    sqlite) printf 'sqlite://%s/%s.db\n' "$WORK" "$1" ;;
    mysql)
      mariadb -h127.0.0.1 -P3306 -uroot -e "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1" >&2
      printf 'mysql://root@127.0.0.1:3306/%s\n' "$1" ;;
    postgres)
      psql -q -h127.0.0.1 -p5432 -Upostgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" postgres >&2
      printf 'postgres://postgres@127.0.0.1:5432/%s\n' "$1" ;;
  esac
}

# cpu_ticks_all [PID…]: utime + stime of every bridge instance (or of the PIDs given), in
# clock ticks.
cpu_ticks_all() {
  local total=0 pid pids=("$@")
  [ $# -gt 0 ] || pids=("${SERVER_PIDS[@]}")
  for pid in "${pids[@]}"; do
    total=$(( total + $(SERVER_PID=$pid cpu_ticks) ))
  done
  echo "$total"
}
trap 'stop; rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for() { # URL
  for _ in $(seq 600); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "nothing answers at $1"
}

# start_cosigners BASE: starts $COSIGNERS co-signers guarding BASE for the bridge (whose
# requests are signed with BASE's key), each on its own SQLite file; writes the bridge's
# [cosigning] section to $WORK/cosigning.toml.
start_cosigners() {
  local base=$1 seeds urls="" i port seed
  IFS=, read -r -a seeds <<<"$COSIGNER_SEEDS"
  for i in "${!seeds[@]}"; do
    port=$(free_port); seed=${seeds[$i]}
    printf 'port = %s\nbind_address = "127.0.0.1"\nnetwork_passphrase = "Standalone Network ; February 2017"\nsigning_seed = "%s"\naccounts = ["%s"]\n[database]\nurl = "sqlite://%s/cosigner-%s.db"\n[[clients]]\nname = "bench-bridge"\npublic_key = "%s"\n[[limits]]\nasset_code = "XLM"\nper_payment = "1000"\nper_day = "100000000"\n' \
      "$port" "$seed" "$base" "$WORK" "$i" "$base" >"$WORK/cosigner-$i.cfg"
    "$COSIGNER_BIN" -c "$WORK/cosigner-$i.cfg" >"$WORK/cosigner-$i.out" 2>"$WORK/cosigner-$i.err" &
    COSIGNER_PIDS+=($!)
    wait_for "http://127.0.0.1:$port/health"
    urls="${urls:+$urls, }\"http://127.0.0.1:$port/\""
  done
  printf '[cosigning]\ncosigners = [%s]\nrequired = %s\n' "$urls" "$COSIGNERS_REQUIRED" \
    >"$WORK/cosigning.toml"
}

# run LEDGER_MS CHANNELS: one row.
run() {
  local ms=$1 channels=$2 port sandbox_url bridge_port base dest concurrency limit_per_ledger \
    ticks0 ticks1 out payments other seconds p50 p99 rate limit ratio cpu
  port=$(free_port)
  "$SANDBOX_BIN" --port "$port" --close-interval-ms "$ms" --max-ops-per-ledger 1000 \
    >"$WORK/sandbox.out" 2>"$WORK/sandbox.err" &
  SANDBOX_PID=$!
  sandbox_url=http://127.0.0.1:$port
  wait_for "$sandbox_url/"
  eval "$(SANDBOX_URL=$sandbox_url BENCH_MODE=setup COSIGNERS=$COSIGNERS client)"
  base=$BASE_SEED; dest=$DEST
  local cosigning=""
  if [ "$COSIGNERS" -gt 0 ]; then
    start_cosigners "$BASE"
    cosigning=$(cat "$WORK/cosigning.toml")
  fi
  local db_url urls="" i
  db_url=$(database_url "bench_payments_${ms}_${channels}_$INSTANCES")
  for i in $(seq "$INSTANCES"); do
    bridge_port=$(free_port)
    {
      printf 'port = %s\nhorizon = "%s"\nnetwork_passphrase = "Standalone Network ; February 2017"\n' \
        "$bridge_port" "$sandbox_url"
      printf 'pending_wait_seconds = %s\n' "$(( ms * 3 / 1000 + 10 ))"
      printf '[database]\nurl = "%s"\n' "$db_url"
      printf '[accounts]\nbase_seed = "%s"\n' "$base"
      if [ "$channels" -gt 0 ]; then
        printf '[channels]\nseed = "%s"\ncount = %s\n' "$CHANNEL_SEED" "$channels"
      fi
      printf '%s' "$cosigning"
    } >"$WORK/bridge-$i.cfg"
    if [ "$i" = 1 ] && [ -n "$cosigning" ]; then
      local flags=() key
      for key in ${COSIGNER_KEYS//,/ }; do flags+=(--cosigner "$key"); done
      "$BRIDGE_BIN" accounts setup "${flags[@]}" --submit -c "$WORK/bridge-1.cfg" \
        >"$WORK/setup.out" 2>&1 || { cat "$WORK/setup.out" >&2; die "bridge accounts setup failed"; }
    fi
    "$BRIDGE_BIN" -c "$WORK/bridge-$i.cfg" >"$WORK/bridge-$i.out" 2>"$WORK/bridge-$i.err" &
    SERVER_PIDS+=($!)
    wait_for "http://127.0.0.1:$bridge_port/health"
    urls="${urls:+$urls,}http://127.0.0.1:$bridge_port"
  done
  concurrency=${CONCURRENCY:-$(( channels > 0 ? channels : 4 ))}
  local label=$DATABASE co0=0 co1=0
  ticks0=$(cpu_ticks_all)
  [ "$COSIGNERS" = 0 ] || co0=$(cpu_ticks_all "${COSIGNER_PIDS[@]}")
  out=$(BRIDGE_URL=$urls DEST=$dest CONCURRENCY=$concurrency \
    DURATION_MS=$(( ms * LEDGERS )) ID_PREFIX="c$channels" client)
  ticks1=$(cpu_ticks_all)
  [ "$COSIGNERS" = 0 ] || co1=$(cpu_ticks_all "${COSIGNER_PIDS[@]}")
  stop
  payments=$(sed -n 's/.*payments=\([0-9]*\).*/\1/p' <<<"$out")
  other=$(sed -n 's/.*other=\([0-9]*\).*/\1/p' <<<"$out")
  seconds=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$out")
  p50=$(sed -n 's/.*p50_ms=\([0-9]*\).*/\1/p' <<<"$out")
  p99=$(sed -n 's/.*p99_ms=\([0-9]*\).*/\1/p' <<<"$out")
  limit_per_ledger=$(( channels == 0 ? 1 : (channels < 1000 ? channels : 1000) ))
  if [ "$COSIGNERS" -gt 0 ]; then
    label=$(awk -v d="$DATABASE" -v n="$COSIGNERS" -v r="$COSIGNERS_REQUIRED" -v p="$payments" \
      -v t="$((co1 - co0))" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        printf "%s, %d co-signer(s), %d required (co-signers CPU %.0f µs per payment)", d, n, r,
          (p > 0 ? 1e6 * t / hz / p : 0) }')
  fi
  awk -v ch="$channels" -v ms="$ms" -v n="$payments" -v o="$other" -v s="$seconds" \
    -v lim="$limit_per_ledger" -v p50="$p50" -v p99="$p99" -v t="$((ticks1 - ticks0))" \
    -v hz="$(getconf CLK_TCK)" -v c="$concurrency" -v inst="$INSTANCES" -v db="$label" 'BEGIN {
      rate = n / s; limit = lim * 1000 / ms
      printf "| %s | %d | %d | %d ms | %d | %d | %d | %.1f | %.1f | **%.2f** | %d / %d ms (%.1f / %.1f ledgers) | %.0f µs |\n",
        db, inst, ch, ms, c, n, o, rate, limit, rate / limit, p50, p99, p50 / ms, p99 / ms,
        (n > 0 ? 1e6 * t / hz / n : 0) }'
}

say "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| database | instances | channels | ledger | clients | payments (200) | other answers | payments/s | limit/s | ratio | p50 / p99 | bridge CPU per payment |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
for ms in $LEDGER_MS; do
  for channels in $CHANNELS; do
    run "$ms" "$channels"
  done
done
say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
