#!/usr/bin/env bash
# The demo: a sandbox network and two banks exchanging a compliance payment, narrated.
# Installs the Debian build packages when missing (the servers link SQLite, MariaDB's and
# PostgreSQL's client libraries), then runs it. Arguments go to the demo (`--keep-running`).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(pkg-config libssl-dev libsqlite3-dev libpq-dev libmariadb-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages needed to build: ${missing[*]}"
  run() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null ||
    { run apt-get update >/dev/null && run env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null; } ||
    { echo "cannot install ${missing[*]}: run as root or: sudo apt-get install ${missing[*]}" >&2; exit 1; }
fi
exec cargo run --quiet -p demo -- "$@"
