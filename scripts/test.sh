#!/usr/bin/env bash
# The whole test suite: formatting, lints, docs, dependency checks, and every test on SQLite,
# MariaDB and PostgreSQL.
#
# It installs what it needs (Debian packages, cargo-deny and cargo-machete from crates.io, the
# pinned Python SDK for interop tests) and starts MariaDB and PostgreSQL when they are installed
# but stopped. When something cannot be installed or started it says exactly what and stops: no
# backend is ever skipped silently. The one check that can be skipped is `cargo deny`'s
# advisories, when the RustSec database cannot be fetched from github.com and no copy is given
# in ADVISORY_DB_GIT (a git URL or path); the script then says so in a WARNING
# (REQUIRE_ADVISORIES=1 makes that an error).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }
die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

# --- Debian packages -----------------------------------------------------------------------
packages=(pkg-config libssl-dev libsqlite3-dev libpq-dev libmariadb-dev mariadb-server postgresql nginx
  chromium chromium-driver firefox-esr fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
    || { as_root apt-get update >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; } \
    || die "could not install ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})"
fi

# --- MariaDB -------------------------------------------------------------------------------
mysql_up() { mariadb -h127.0.0.1 -P3306 -uroot -e 'SELECT 1' >/dev/null 2>&1; }
if [ -z "${TEST_MYSQL_URL:-}" ] && ! mysql_up; then
  say "starting MariaDB"
  as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld || true
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- \
    --user=mysql --bind-address=127.0.0.1 --port=3306 || true
  for _ in $(seq 60); do mysql_up && break; sleep 1; done
  mysql_up || die "MariaDB is not reachable at 127.0.0.1:3306 as root without password; start it (start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd) or set TEST_MYSQL_URL"
fi

# --- PostgreSQL ----------------------------------------------------------------------------
pg_up() { psql -h127.0.0.1 -p5432 -Upostgres -c 'SELECT 1' postgres >/dev/null 2>&1; }
if [ -z "${TEST_POSTGRES_URL:-}" ] && ! pg_up; then
  say "starting PostgreSQL"
  for v in $(ls /etc/postgresql 2>/dev/null); do
    as_root pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
  done
  for _ in $(seq 60); do pg_up && break; sleep 1; done
  pg_up || die "PostgreSQL is not reachable at 127.0.0.1:5432 as postgres with trust auth; start it (pg_ctlcluster --skip-systemctl-redirect 15 main start) or set TEST_POSTGRES_URL"
fi

# --- Cargo tools for the documentation and dependency checks, and geckodriver ----------------
# Installed from crates.io when missing; the versions are the ones deny.toml and the
# [package.metadata.cargo-machete] sections are written for.
cargo_tool() { # <command> <crate> <version requirement>
  command -v "$1" >/dev/null && return
  say "installing $2 $3 from crates.io (once; a few minutes)"
  cargo install --locked "$2" --version "$3" \
    || die "$1 is missing and could not be installed: cargo install --locked $2 --version '$3'"
}
cargo_tool cargo-deny cargo-deny '^0.20'
cargo_tool cargo-machete cargo-machete '^0.9'
# Firefox's WebDriver server for the console's browser test (Debian does not package it).
cargo_tool geckodriver geckodriver '=0.37.1'

# --- The official Python SDK, for interop tests ---------------------------------------------
if ! python3 -c 'import stellar_sdk, sys; sys.exit(stellar_sdk.__version__ != "16.1.1")' 2>/dev/null; then
  say "installing stellar-sdk==16.1.1 from PyPI"
  python3 -m pip install --quiet 'stellar-sdk==16.1.1' \
    || die "could not install the Python SDK: python3 -m pip install stellar-sdk==16.1.1"
fi

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
say "cargo doc -D warnings"
RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -D warnings" cargo doc --workspace --no-deps --locked
say "cargo machete (unused dependencies)"
cargo machete
say "cargo deny (licenses, bans and duplicate versions, sources, advisories)"
# The advisory database (RustSec) is a git repository on github.com. Without it the other
# checks still run and the skip is said out loud; REQUIRE_ADVISORIES=1 makes it an error.
# A copy of the database (a git URL or path to clone) for machines without github.com:
# ADVISORY_DB_GIT. It goes where cargo-deny keeps the default database, and is checked offline.
local_advisory_db() {
  local dir="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-3157b0e258782691"
  [ -n "${ADVISORY_DB_GIT:-}" ] || return 1
  rm -rf "$dir" && mkdir -p "$(dirname "$dir")" && git clone --quiet "$ADVISORY_DB_GIT" "$dir" || return 1
  say "advisories from a local copy of the RustSec database ($ADVISORY_DB_GIT, last change $(git -C "$dir" log -1 --format=%cs))"
}
if cargo deny --log-level error fetch db; then
  cargo deny --locked check
elif local_advisory_db; then
  # --offline also keeps cargo metadata from downloading: fetch every package of the lock
  # file first (crates.io is reachable; a new machine has only what its builds used, not the
  # other platforms' crates that cargo-deny reads too).
  cargo fetch --locked --quiet
  cargo deny --offline --locked check
else
  if [ "${REQUIRE_ADVISORIES:-0}" = 1 ]; then
    die "advisories: the RustSec advisory database (https://github.com/rustsec/advisory-db) could not be fetched (see above) and REQUIRE_ADVISORIES=1"
  fi
  printf '\nWARNING: advisories NOT checked: the RustSec advisory database could not be fetched (see above).\n' >&2
  printf 'WARNING: checking licenses, bans (duplicate versions) and sources only; run `cargo deny check advisories` where github.com is reachable.\n\n' >&2
  cargo deny --locked check licenses bans sources
fi
say "OpenAPI documents"
./scripts/check-openapi.sh
say "cargo test (SQLite, MariaDB, PostgreSQL)"
export TEST_BACKENDS="${TEST_BACKENDS:-sqlite,mysql,postgres}"
cargo test --workspace --locked
say "all tests passed on: $TEST_BACKENDS"
