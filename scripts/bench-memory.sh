#!/usr/bin/env bash
# Memory of the servers at rest, under millions of requests, and under a slow-body attack.
#
# A benchmark, not a test: it asserts nothing. See docs/PERFORMANCE.md ("Memory") for results.
#
# 1. federation (release build, SQLite, 10 000 rows, no rate limit): resident memory (RSS) idle,
#    after about 100 000 lookups, and after about 5 000 000 (wrk, nobody scraping /metrics):
#    the targets are under 30 MiB idle and growth within 10 MiB between the last two.
# 2. compliance (release build, SQLite): RSS idle; then 3 000 connections each send the headers
#    of a `POST /` announcing 1 000 bytes and 10 of them, and stall. While they hang: the time
#    `GET /health` takes on the attacked external port and on the internal port, and the RSS;
#    then, 60 s later (bodies are cut after `request_body_timeout_seconds`, 5 s), the RSS again.
#
# Knobs: CARGO_TARGET_DIR, SKIP_BUILD=1, LONG (wrk duration of the long run, default 80s),
#        STALLED (default 3000), RUST_LOG (default warn).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=lib/bench.sh
. "$ROOT/scripts/lib/bench.sh"

: "${CARGO_TARGET_DIR:=$ROOT/target}"
export CARGO_TARGET_DIR
LONG=${LONG:-80s}
STALLED=${STALLED:-3000}
export RUST_LOG=${RUST_LOG:-warn}
require wrk python3 curl

FEDERATION=$(release_binary federation)
COMPLIANCE=$(release_binary compliance)
WORK=$(mktemp -d -t bench-memory.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

rss() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
url_of() { # OUTFILE PATTERN
  for _ in $(seq 100); do
    local u
    u=$(sed -n "s/^$2 //p" "$1" | head -1)
    [ -n "$u" ] && { printf '%s\n' "$u"; return; }
    sleep 0.1
  done
  die "no '$2' line in $1"
}

# --- 1. federation under millions of lookups -----------------------------------------------------
python3 - "$WORK" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"{sys.argv[1]}/federation.db")
db.execute("CREATE TABLE people (id VARCHAR(56), name VARCHAR(64), domain VARCHAR(128), "
           "memo_type VARCHAR(8), memo VARCHAR(128), PRIMARY KEY (name, domain))")
db.executemany("INSERT INTO people VALUES (?, ?, 'bank.test', 'id', ?)",
               [("GBYJZW5XFAI6XV73H5SAIUYK6XZI4CGGVBUBO3ANA2SV7KKDAXTV6AEB", f"user{i}", str(i))
                for i in range(1, 10001)])
db.commit()
PY
cat >"$WORK/federation.cfg" <<CFG
port = 0
bind_address = "127.0.0.1"
[database]
url = "sqlite://$WORK/federation.db"
[rate_limit]
per_second = 0
[queries]
federation = "SELECT id, memo_type, memo FROM people WHERE name = ? AND domain = ?"
CFG
"$FEDERATION" -c "$WORK/federation.cfg" >"$WORK/federation.out" 2>"$WORK/federation.err" &
FED=$!; PIDS+=("$FED")
FED_URL=$(url_of "$WORK/federation.out" "federation listening on")
sleep 2
FED_IDLE=$(rss "$FED")
cat >"$WORK/lookup.lua" <<'LUA'
function request()
  return wrk.format("GET", "/federation?type=name&q=user" .. math.random(1, 10000) .. "*bank.test")
end
LUA
lookups() { wrk -t2 -c64 -d"$1" -s "$WORK/lookup.lua" "$FED_URL" | awk '/ requests in / {print $1}'; }
say "federation: idle RSS $FED_IDLE MiB; about 100 000 lookups"
N1=$(lookups 2s)
FED_100K=$(rss "$FED")
say "federation: $N1 lookups, RSS $FED_100K MiB; now $LONG more"
N2=$(lookups "$LONG")
FED_LONG=$(rss "$FED")
TOTAL=$((N1 + N2))
kill "$FED"

# --- 2. compliance under stalled bodies ----------------------------------------------------------
cat >"$WORK/compliance.cfg" <<CFG
external_port = 0
internal_port = 0
external_bind_address = "127.0.0.1"
network_passphrase = "Standalone Network ; February 2017"
api_key = "compliance-bench-key-0123"
[database]
url = "sqlite://$WORK/compliance.db"
[keys]
signing_seed = "SDWTLFPALQSP225BSMX7HPZ7ZEAYSUYNDLJ5QI3YGVBNRUIIELWH3XUV"
CFG
"$COMPLIANCE" -c "$WORK/compliance.cfg" >"$WORK/compliance.out" 2>"$WORK/compliance.err" &
COMP=$!; PIDS+=("$COMP")
for _ in $(seq 100); do grep -q "listening" "$WORK/compliance.out" && break; sleep 0.1; done
EXTERNAL=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/compliance.out" | sed -n 1p)
INTERNAL=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/compliance.out" | sed -n 2p)
[ -n "$EXTERNAL" ] && [ -n "$INTERNAL" ] || die "compliance did not start: $(cat "$WORK/compliance.err")"
sleep 2
COMP_IDLE=$(rss "$COMP")
say "compliance: idle RSS $COMP_IDLE MiB; $STALLED stalled bodies on $EXTERNAL"
python3 - "$EXTERNAL" "$STALLED" >"$WORK/stall.out" 2>&1 <<'PY' &
import resource, socket, sys, time, urllib.parse
url = urllib.parse.urlparse(sys.argv[1]); n = int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024), hard))
held = []
for _ in range(n):
    s = socket.create_connection((url.hostname, url.port))
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
              b"Content-Length: 1000\r\n\r\ndata=aaaaa")
    held.append(s)
print(f"{len(held)} connections open", flush=True)
time.sleep(90)
PY
STALLER=$!; PIDS+=("$STALLER")
for _ in $(seq 300); do grep -q "connections open" "$WORK/stall.out" 2>/dev/null && break; sleep 0.1; done
health_ms() { curl -s -o /dev/null -w '%{time_total}' "$1/health" | awk '{printf "%.1f", $1 * 1000}'; }
H_EXT=$(health_ms "$EXTERNAL"); H_INT=$(health_ms "$INTERNAL")
COMP_ATTACK=$(rss "$COMP")
say "compliance: /health $H_EXT ms (external) / $H_INT ms (internal), RSS $COMP_ATTACK MiB; waiting 60 s"
sleep 60
COMP_AFTER=$(rss "$COMP")
kill "$STALLER" 2>/dev/null || true

say "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| server | measure | value |"
echo "|---|---|---:|"
echo "| federation | RSS idle | $FED_IDLE MiB |"
echo "| federation | RSS after $N1 lookups | $FED_100K MiB |"
echo "| federation | RSS after $TOTAL lookups (no /metrics scrape) | $FED_LONG MiB |"
echo "| compliance | RSS idle | $COMP_IDLE MiB |"
echo "| compliance | \`GET /health\` with $STALLED stalled bodies: external / internal port | $H_EXT / $H_INT ms |"
echo "| compliance | RSS with $STALLED stalled bodies | $COMP_ATTACK MiB |"
echo "| compliance | RSS 60 s later (bodies cut after 5 s) | $COMP_AFTER MiB |"
