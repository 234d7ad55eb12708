#!/usr/bin/env bash
# npm-anthropic-sdk.sh installs the official Anthropic TypeScript SDK
# (@anthropic-ai/sdk, pinned) from the npm registry, once, into a versioned
# cache folder outside the checkout, and prints the folder holding its
# node_modules on stdout. The e2e tests drive edgeway with it through node
# (EDGEWAY_NODE_ANTHROPIC_SDK overrides the folder).
set -euo pipefail

SDK_VERSION="1.17.0"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/edgeway/npm-anthropic-sdk-${SDK_VERSION}"

if [ -f "$CACHE/node_modules/@anthropic-ai/sdk/package.json" ]; then
  echo "$CACHE"
  exit 0
fi

source "$(dirname "$0")/need-npm.sh"
mkdir -p "$CACHE"
echo "npm: installing @anthropic-ai/sdk@${SDK_VERSION} into $CACHE (first time only)" >&2
(cd "$CACHE" && npm install --no-audit --no-fund --silent "@anthropic-ai/sdk@${SDK_VERSION}" >&2)
echo "$CACHE"
