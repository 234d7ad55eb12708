#!/usr/bin/env bash
# tiny-model.sh OUTDIR writes OUTDIR/tiny.gguf (a deterministic tiny
# random-weight llama model, see scripts/tinygguf) and OUTDIR/Modelfile for
# it, ready for:
#
#   ollama create tiny -f OUTDIR/Modelfile
#
# Both files are rewritten atomically on every run with the same bytes, so
# running it twice is harmless. Run it from anywhere inside the checkout.
set -euo pipefail

if [ "$#" -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi

out="$1"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

(cd "$root" && go run ./scripts/tinygguf -o "$out/tiny.gguf" -modelfile "$out/Modelfile")
echo "$out/Modelfile"
