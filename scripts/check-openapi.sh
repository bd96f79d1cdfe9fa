#!/usr/bin/env bash
# Validates the OpenAPI documents in docs/openapi/ against the OpenAPI 3.0 schema with
# openapi-spec-validator (pinned; installed with pip when missing). When it cannot be installed
# (no network), the files are at least parsed as YAML and their top level checked, and the script
# says so.
set -euo pipefail
cd "$(dirname "$0")/.."

files=(docs/openapi/bridge.yaml docs/openapi/compliance-internal.yaml)
validator_version=0.7.1

if ! python3 -c 'import openapi_spec_validator' 2>/dev/null; then
  python3 -m pip install --quiet "openapi-spec-validator==${validator_version}" >/dev/null 2>&1 ||
    python3 -m pip install --quiet --break-system-packages "openapi-spec-validator==${validator_version}" >/dev/null 2>&1 ||
    true
fi

if python3 -c 'import openapi_spec_validator' 2>/dev/null; then
  for f in "${files[@]}"; do
    python3 -m openapi_spec_validator "$f"
  done
else
  echo "WARNING: openapi-spec-validator unavailable; only checking that the files are YAML" >&2
  for f in "${files[@]}"; do
    python3 - "$f" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
assert isinstance(doc, dict) and str(doc.get("openapi", "")).startswith("3."), "not OpenAPI 3"
assert doc.get("paths"), "no paths"
print(f"{sys.argv[1]}: YAML OK ({len(doc['paths'])} paths)")
PY
  done
fi
