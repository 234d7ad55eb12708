#!/usr/bin/env bash
# build-ollama.sh builds the real Ollama server from the Go module proxy, once,
# into a versioned cache folder outside the checkout (CI runs in a fresh clone
# on the same machine, so a cache inside the checkout would rebuild every run).
# It prints the path of the binary on stdout.
#
# Module zips drop vendor/ folders, so llama.cpp's vendored headers (nlohmann,
# miniaudio, stb) are missing; they ship in the npm package llama.rn, which we
# fetch and point CGO_CPPFLAGS at. The first build takes ~8 minutes on 2 cores.
set -euo pipefail

OLLAMA_VERSION="${OLLAMA_VERSION:-0.17.4}"
LLAMARN_VERSION="0.12.9"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/edgeway/ollama-v${OLLAMA_VERSION}"
BIN="$CACHE/ollama"

if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$CACHE"
work="$(mktemp -d "$CACHE/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "building ollama v${OLLAMA_VERSION} (first time only, ~8 min on 2 cores) into $CACHE" >&2
inc="$CACHE/include"
if [ ! -d "$inc/nlohmann" ]; then
  source "$(dirname "$0")/need-npm.sh"
  (cd "$work" && npm pack --silent "llama.rn@${LLAMARN_VERSION}" >/dev/null && tar -xzf llama.rn-*.tgz)
  mkdir -p "$inc.tmp"
  cp -r "$work/package/cpp/nlohmann" "$inc.tmp/"
  cp -r "$work/package/cpp/tools/mtmd/miniaudio" "$inc.tmp/"
  cp -r "$work/package/cpp/tools/mtmd/stb" "$inc.tmp/"
  rm -rf "$inc" && mv "$inc.tmp" "$inc"
fi

GOBIN="$work/bin" CGO_ENABLED=1 CGO_CPPFLAGS="-I$inc" GOFLAGS=-mod=mod \
  go install -trimpath \
  -ldflags "-X github.com/ollama/ollama/version.Version=${OLLAMA_VERSION} -s -w" \
  "github.com/ollama/ollama@v${OLLAMA_VERSION}" >&2

# Rename into place last so an interrupted build never leaves a half binary.
mv "$work/bin/ollama" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
echo "$BIN"
