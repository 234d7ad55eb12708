#!/usr/bin/env bash
# armsmoke.sh proves the linux/arm64 binary works: it runs under qemu-user
# (no binfmt needed) in front of the fake OpenAI upstream, and must answer
# a chat completion. Installs qemu-user-static from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v qemu-aarch64-static >/dev/null; then
  echo "armsmoke: installing qemu-user-static"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y -qq qemu-user-static >/dev/null || { $sudo apt-get update -qq && $sudo apt-get install -y -qq qemu-user-static >/dev/null; }
fi

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -ldflags "-s -w -X main.version=armsmoke" -o "$work/edgeway-arm64" ./cmd/edgeway
go build -o "$work/fakeupstream" ./scripts/fakeupstream

"$work/fakeupstream" -addr 127.0.0.1:0 -reply "hello from arm64" -max-lifetime 5m >"$work/fake.out" 2>"$work/fake.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/fake.out" ] && break; sleep 0.05; done
upstream="$(head -1 "$work/fake.out")"
[ -n "$upstream" ] || { echo "armsmoke: fake upstream did not start"; cat "$work/fake.err"; exit 1; }

port=$(( 20000 + RANDOM % 20000 ))
cat >"$work/edgeway.yaml" <<YAML
listen: 127.0.0.1:$port
data_dir: $work/data
providers:
  - name: cloud
    type: openai-compatible
    base_url: $upstream
    api_key: env:ARMSMOKE_KEY
models:
  chat: [cloud/gpt-4o-mini]
YAML
ARMSMOKE_KEY=sk-smoke qemu-aarch64-static "$work/edgeway-arm64" serve --config "$work/edgeway.yaml" >"$work/edgeway.out" 2>&1 &
pids+=($!)
for _ in $(seq 200); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done

resp="$(curl -sS -D "$work/headers" "http://127.0.0.1:$port/v1/chat/completions" \
  -H 'content-type: application/json' \
  -d '{"model":"chat","messages":[{"role":"user","content":"hi"}]}')"
if ! grep -q '"hello from arm64"' <<<"$resp" || ! grep -qi '^x-edgeway-provider: cloud' "$work/headers"; then
  echo "armsmoke: FAIL"; echo "$resp"; cat "$work/headers" "$work/edgeway.out"; exit 1
fi
echo "armsmoke: ok: $(qemu-aarch64-static "$work/edgeway-arm64" version) answered: $resp"
