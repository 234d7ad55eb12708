#!/usr/bin/env bash
# gen.sh regenerates edge/pricing/catalog.json, the price table edgeway
# embeds, from the maintained @pydantic/genai-prices catalog on npm, at the
# version pinned here. To refresh prices: raise GENAI_PRICES_VERSION, run
# `make prices`, read the diff of catalog.json, commit both.
set -euo pipefail

GENAI_PRICES_VERSION="0.1.8"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/edgeway/genai-prices-${GENAI_PRICES_VERSION}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

source "$root/scripts/need-npm.sh"
if [ ! -d "$CACHE/node_modules/@pydantic/genai-prices" ]; then
  mkdir -p "$CACHE"
  (cd "$CACHE" && npm install --silent --no-audit --no-fund --no-save "@pydantic/genai-prices@${GENAI_PRICES_VERSION}" >/dev/null)
fi
cp "$root/scripts/prices/gen.mjs" "$CACHE/gen.mjs"
(cd "$CACHE" && node gen.mjs "$root/edge/pricing/catalog.json" "$CACHE/node_modules")
