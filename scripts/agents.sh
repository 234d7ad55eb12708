#!/usr/bin/env bash
# agents.sh installs the agent CLIs and JavaScript SDKs the e2e suite
# drives as real clients, pinned, from the npm registry into a cache
# outside the checkout (once; about 850 MB, mostly the two CLIs' native
# builds), and prints the node_modules directory holding them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pkgs=(
  @openai/codex@0.171.0
  @anthropic-ai/claude-code@2.1.332
  openai@7.60.0
  @anthropic-ai/sdk@1.17.0
  ollama@0.6.4
  ai@7.0.185
  @ai-sdk/openai@4.0.126
)
key="$(printf '%s\n' "${pkgs[@]}" | sha256sum | cut -c1-12)"
dir="${EDGEWAY_CACHE:-$HOME/.cache/edgeway}/agents-$key"
# The CLIs run in a network namespace of their own (unshare, ip).
if ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y -qq util-linux iproute2 >/dev/null 2>&1 || { $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq util-linux iproute2 >/dev/null; }
fi
if [ ! -x "$dir/node_modules/.bin/codex" ] || [ ! -f "$dir/.complete" ]; then
  source "$here/need-npm.sh"
  echo "agents: installing ${pkgs[*]} into $dir (first time only)" >&2
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  (cd "$dir.tmp" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error "${pkgs[@]}" >&2)
  touch "$dir.tmp/.complete"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
fi
echo "$dir/node_modules"
