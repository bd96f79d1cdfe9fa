#!/usr/bin/env bash
# Throughput benchmark of the federation server (SEP-2) on SQLite and MariaDB.
#
# A benchmark, not a test: it asserts nothing and the numbers depend on the machine. See
# docs/PERFORMANCE.md for results and how to read them.
#
# It builds the release binary, fills a `people` table with 10 000 rows (a SQLite file in a temp
# dir, and a fresh MariaDB database `bench_federation`), starts the server on 127.0.0.1 for each
# backend and runs wrk against
#   - `GET /static-ceiling`: an unknown path, answered by a static JSON 404 through the same
#     middleware stack without touching the database (the ceiling), and
#   - `GET /federation?type=name&q=userN*bank.test`: name lookups, N random in 1..10 000.
# It prints requests/s, p50 and p99 latency for each, the server's CPU time (user + system) and
# context switches per request during the run, its thread count and RSS after the load.
#
# Knobs (environment):
#   CARGO_TARGET_DIR   where cargo builds (default: the workspace's target/)
#   SKIP_BUILD=1       use the binary already in $CARGO_TARGET_DIR/release
#   BACKENDS           "sqlite mysql" (default); either alone to run one
#   MYSQL_URL          mysql://root@127.0.0.1:3306/bench_federation (the database is recreated)
#   MAX_CONNECTIONS    [database] max_connections (default: unset = the server's default, 10)
#   THREADS CONNECTIONS DURATION WARMUP   wrk -t/-c/-d and the warm-up run (2 / 64 / 15s / 3s)
#   RUST_LOG           server log level (default: warn, so per-request info logs do not dominate)
#   PERF=1             perf record (-F 499 --call-graph dwarf, 5 s) the server during the lookups
#                      and write the top symbols (inclusive and self) to $PERF_OUT.BACKEND
#                      (default PERF_OUT=$CARGO_TARGET_DIR/bench-federation-perf)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=lib/bench.sh
. "$ROOT/scripts/lib/bench.sh"

: "${CARGO_TARGET_DIR:=$ROOT/target}"
export CARGO_TARGET_DIR
PERF_OUT=${PERF_OUT:-$CARGO_TARGET_DIR/bench-federation-perf}
BACKENDS=${BACKENDS:-"sqlite mysql"}
MYSQL_URL=${MYSQL_URL:-mysql://root@127.0.0.1:3306/bench_federation}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-3s}
export RUST_LOG=${RUST_LOG:-warn}
ROWS=10000
# One valid account id for every row: the server checks the id of each answered row.
ACCOUNT=GD2GJPL3UOK5LX7TWXOACK2ZPWPFSLBNKL3GTGH6BLBNISK4BGWMFBBG

require wrk python3 curl

# --- build ---------------------------------------------------------------------------------
BIN=$(release_binary federation)

WORK=$(mktemp -d -t bench-federation.XXXXXX)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- data ----------------------------------------------------------------------------------
# Rows: name userN, domain bank.test, memo_type id, memo N.
python3 - "$WORK" "$ROWS" "$ACCOUNT" <<'PY'
import sqlite3, sys
work, rows, account = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ddl = ("CREATE TABLE people (id VARCHAR(56), name VARCHAR(64), domain VARCHAR(128), "
       "memo_type VARCHAR(8), memo VARCHAR(128), PRIMARY KEY (name, domain))")
data = [(account, f"user{i}", "bank.test", "id", str(i)) for i in range(1, rows + 1)]
db = sqlite3.connect(f"{work}/federation.db")
db.execute(ddl)
db.executemany("INSERT INTO people VALUES (?, ?, ?, ?, ?)", data)
db.commit()
db.close()
with open(f"{work}/people.sql", "w") as f:
    f.write(ddl + ";\n")
    for start in range(0, rows, 1000):
        values = ",".join("('%s','%s','%s','%s','%s')" % r for r in data[start:start + 1000])
        f.write(f"INSERT INTO people VALUES {values};\n")
PY

mysql_client() {
  # mysql://user[:pass]@host[:port]/db → client arguments (no database).
  local rest=${MYSQL_URL#mysql://} creds hostport user pass host port
  creds=${rest%%@*}; hostport=${rest#*@}; hostport=${hostport%%/*}
  user=${creds%%:*}; pass=; [ "$creds" != "$user" ] && pass=${creds#*:}
  host=${hostport%%:*}; port=3306; [ "$hostport" != "$host" ] && port=${hostport#*:}
  local cmd=mariadb; command -v mariadb >/dev/null || cmd=mysql
  "$cmd" -h"$host" -P"$port" -u"$user" ${pass:+-p"$pass"} "$@"
}

if [[ " $BACKENDS " == *" mysql "* ]]; then
  db_name=${MYSQL_URL##*/}; db_name=${db_name%%\?*}
  say "loading $ROWS rows into MariaDB database $db_name"
  mysql_client -e "DROP DATABASE IF EXISTS \`$db_name\`; CREATE DATABASE \`$db_name\`" \
    || die "MariaDB is not reachable as $MYSQL_URL (set MYSQL_URL or BACKENDS=sqlite)"
  mysql_client "$db_name" <"$WORK/people.sql"
fi

# --- wrk script ----------------------------------------------------------------------------
# Both endpoints go through the same request() function so wrk's own per-request cost (it shares
# the machine with the server) is the same for the ceiling and the lookups.
cat >"$WORK/bench.lua" <<'LUA'
local counter = 1
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  mode = args[1] or "name"
  math.randomseed(os.time() * 1000 + id)
end
function request()
  if mode == "static" then
    return wrk.format("GET", "/static-ceiling")
  end
  return wrk.format("GET", "/federation?type=name&q=user" .. math.random(1, 10000) .. "*bank.test")
end
LUA

# --- runs ----------------------------------------------------------------------------------
start_server() { # backend url
  local cfg=$WORK/federation-$1.cfg
  {
    echo 'port = 0'
    echo 'bind_address = "127.0.0.1"'
    echo
    echo '[database]'
    echo "url = \"$2\""
    [ -n "${MAX_CONNECTIONS:-}" ] && echo "max_connections = $MAX_CONNECTIONS"
    echo
    # One load generator on one address: the per-client rate limit would measure itself.
    echo '[rate_limit]'
    echo 'per_second = 0'
    echo
    echo '[queries]'
    echo 'federation = "SELECT id, memo_type, memo FROM people WHERE name = ? AND domain = ?"'
  } >"$cfg"
  "$BIN" -c "$cfg" >"$WORK/server-$1.out" 2>"$WORK/server-$1.err" &
  SERVER_PID=$!
  URL=
  for _ in $(seq 100); do
    URL=$(sed -n 's/^federation listening on //p' "$WORK/server-$1.out")
    [ -n "$URL" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$URL" ] || die "the server did not start on $1: $(cat "$WORK/server-$1.err")"
  local probe
  probe=$(curl -fsS "$URL/federation?type=name&q=user42*bank.test") \
    || die "a lookup on $1 failed: $(cat "$WORK/server-$1.err")"
  [[ $probe == *"$ACCOUNT"* ]] || die "unexpected answer on $1: $probe"
}

stop_server() {
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

RESULTS=()
run() { # backend endpoint mode
  local backend=$1 endpoint=$2 mode=$3 perf_out=
  if [ "${PERF:-}" = 1 ] && [ "$mode" = name ]; then
    perf_out=$PERF_OUT.$backend
    mkdir -p "$(dirname "$perf_out")"
  fi
  measure "$mode" "$perf_out"
  # The ceiling answers 404 by design; a lookup should never fail.
  if [ "$mode" = name ] && [ -n "$M_NON2XX" ]; then
    printf 'WARNING: %s non-2xx answers on %s lookups\n' "$M_NON2XX" "$backend" >&2
  fi
  RESULTS+=("| $endpoint | $backend | $M_RPS | $M_P50 | $M_P99 | $M_CPU | $M_CS | $M_THREADS | $M_RSS (peak $M_HWM) | $M_LOAD |")
  eval "RPS_${backend}_${mode}=$M_RPS"
}

for backend in $BACKENDS; do
  case $backend in
    sqlite) url="sqlite://$WORK/federation.db" ;;
    mysql) url=$MYSQL_URL ;;
    *) die "unknown backend $backend (sqlite or mysql)" ;;
  esac
  say "$backend: starting the server"
  start_server "$backend" "$url"
  say "$backend: static ceiling (GET /static-ceiling)"
  run "$backend" "static ceiling" static
  say "$backend: name lookups (GET /federation?type=name&q=userN*bank.test)"
  run "$backend" "name lookup" name
  stop_server
done

say "results (wrk -t$THREADS -c$CONNECTIONS -d$DURATION, RUST_LOG=$RUST_LOG, max_connections=${MAX_CONNECTIONS:-default})"
echo "| endpoint | backend | req/s | p50 ms | p99 ms | server CPU µs/req | ctx switches/req | threads | RSS MiB after load | load avg (1/5/15) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${RESULTS[@]}"
for backend in $BACKENDS; do
  s=$(eval "echo \${RPS_${backend}_static:-}"); n=$(eval "echo \${RPS_${backend}_name:-}")
  [ -n "$s" ] && [ -n "$n" ] && [ "$s" -gt 0 ] \
    && awk -v b="$backend" -v n="$n" -v s="$s" \
      'BEGIN { printf "%s: lookups / static ceiling = %.2f\n", b, n / s }'
done
exit 0
