# What the scripts/bench-*.sh scripts share (sourced): messages, the release build, and one
# measured wrk load against a running server.
#
# measure() expects THREADS CONNECTIONS WARMUP DURATION (wrk settings), WORK (a temp dir holding
# bench.lua), URL (the server's base URL) and SERVER_PID. The server's CPU and context switches
# are read from /proc around the load: they depend much less on the rest of the machine's load
# than requests/s do.

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }

# require TOOL...: stop with the package to install when one is missing.
require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool is required (apt-get install $tool)"
  done
}

# release_binary NAME: the path of the release build of the binary NAME (crate NAME), built
# first unless SKIP_BUILD=1.
release_binary() {
  local bin=$CARGO_TARGET_DIR/release/$1
  if [ "${SKIP_BUILD:-}" != 1 ]; then
    say "building: cargo build --release -p $1 --bin $1 (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    cargo build --release -p "$1" --bin "$1" >&2
  fi
  [ -x "$bin" ] || die "no binary at $bin (unset SKIP_BUILD to build it)"
  printf '%s\n' "$bin"
}

# Latency in wrk's notation (12.34us, 1.20ms, 1.01s) → milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.2f", n }'
}

# utime + stime of the server, in clock ticks (fields 14 and 15 of /proc/PID/stat).
cpu_ticks() {
  sed 's/^.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}'
}

# Context switches (voluntary + involuntary) summed over the server's live threads.
ctx_switches() {
  cat /proc/"$SERVER_PID"/task/*/status 2>/dev/null \
    | awk '/^(non)?voluntary_ctxt_switches:/ {n += $2} END {print n + 0}'
}

# measure MODE [PERF_OUT]: a warm-up of WARMUP, then DURATION of `wrk ... bench.lua URL -- MODE`.
# With PERF_OUT, perf records the server for 5 s of the load and writes the 120 largest symbols
# (inclusive and self percentages) there. wrk's own report goes to stderr. Sets M_RPS, M_P50 and
# M_P99 (ms), M_CPU (server CPU µs per request), M_CS (context switches per request; threads
# that exited during the run are not counted, so a lower bound), M_THREADS, M_RSS and M_HWM
# (MiB), M_LOAD (load average before the load), M_NON2XX.
measure() {
  local mode=$1 perf_out=${2:-} out total ticks0 ticks1 ctx0 ctx1 errors perf_pid=
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$WORK/bench.lua" "$URL" -- "$mode" >/dev/null
  M_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
  ticks0=$(cpu_ticks); ctx0=$(ctx_switches)
  if [ -n "$perf_out" ]; then
    perf record -F 499 --call-graph dwarf -p "$SERVER_PID" -o "$WORK/perf.data" -- sleep 5 \
      >/dev/null 2>&1 &
    perf_pid=$!
  fi
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/bench.lua" "$URL" -- "$mode")
  ticks1=$(cpu_ticks); ctx1=$(ctx_switches)
  M_THREADS=$(ls "/proc/$SERVER_PID/task" | wc -l)
  printf '%s\n' "$out" >&2
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || true
    perf report -i "$WORK/perf.data" --children --sort symbol --stdio -g none 2>/dev/null \
      | grep -E '^ +[0-9]' | head -120 | cut -c1-200 >"$perf_out" || true
  fi
  M_RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
  total=$(awk '/ requests in / {print $1}' <<<"$out")
  M_CPU=$(awk -v t="$((ticks1 - ticks0))" -v hz="$(getconf CLK_TCK)" -v n="$total" \
    'BEGIN { if (n > 0) printf "%.1f", 1e6 * t / hz / n }')
  M_CS=$(awk -v c="$((ctx1 - ctx0))" -v n="$total" 'BEGIN { if (n > 0) printf "%.2f", c / n }')
  M_P50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  M_P99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  M_NON2XX=$(awk -F': ' '/Non-2xx or 3xx responses/ {print $2}' <<<"$out")
  M_RSS=$(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$SERVER_PID/status")
  M_HWM=$(awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$SERVER_PID/status")
  errors=$(awk '/Socket errors:/ {print}' <<<"$out")
  [ -n "$errors" ] && printf 'WARNING: %s\n' "$errors" >&2
  return 0
}
