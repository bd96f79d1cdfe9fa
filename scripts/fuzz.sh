#!/usr/bin/env bash
# The long run of the parser fuzz tests: the same tests the suite runs with a few thousand
# cases each, here with FUZZ_CASES (default 10 000 000) per parser, in release mode. A failure
# prints the case and the FUZZ_SEED that replays it:
#   FUZZ_SEED=<seed> FUZZ_CASES=<n> cargo test --release -p <crate> <test>
# Results are recorded in docs/PERFORMANCE.md ("Fuzzing").
#
# Knobs: FUZZ_CASES, FUZZ_SEED (default: a fixed seed), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_CASES=${FUZZ_CASES:-10000000}
# crate, test binary (--lib, or the name of an integration test), test name: every parser that reads untrusted bytes.
targets=(
  "stellar-base --lib the_text_parsers_hold_on_mutated_input"
  "horizon --lib the_framing_holds_on_mutated_streams"
  "horizon --lib result_codes_hold_on_mutated_xdr"
  "stellar-toml it parse::the_parser_holds_on_mutated_documents"
  "compliance --lib the_auth_request_checks_hold_on_mutated_input"
  "bridge --lib the_payment_form_holds_on_mutated_input"
  "bridge --lib the_builder_json_holds_on_mutated_input"
  "federation it api::the_query_holds_on_mutated_input"
)
for target in "${targets[@]}"; do
  read -r crate kind name <<<"$target"
  printf '\n== %s %s: %s cases (FUZZ_SEED=%s)\n' "$crate" "$name" "$FUZZ_CASES" "${FUZZ_SEED:-default}"
  started=$(date +%s)
  if [ "$kind" = --lib ]; then
    cargo test --release -q -p "$crate" --lib -- "$name"
  else
    cargo test --release -q -p "$crate" --test "$kind" -- "$name"
  fi
  printf '== %s: passed in %s s\n' "$name" "$(( $(date +%s) - started ))"
done
