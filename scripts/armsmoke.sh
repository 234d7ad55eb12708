#!/usr/bin/env bash
# armsmoke.sh proves the linux/arm64 and linux/arm (v7) binaries work: each
# runs under qemu-user (no binfmt needed) in front of the fake OpenAI
# upstream, and must answer a chat completion (the first one from the
# upstream, the second from the response cache in the bbolt file).
# Installs qemu-user-static from Debian when missing.
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

go build -o "$work/fakeupstream" ./scripts/fakeupstream
"$work/fakeupstream" -addr 127.0.0.1:0 -reply "hello from arm" -max-lifetime 5m >"$work/fake.out" 2>"$work/fake.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/fake.out" ] && break; sleep 0.05; done
upstream="$(head -1 "$work/fake.out")"
[ -n "$upstream" ] || { echo "armsmoke: fake upstream did not start"; cat "$work/fake.err"; exit 1; }

for target in arm64:qemu-aarch64-static arm:qemu-arm-static; do
  arch="${target%%:*}" qemu="${target#*:}"
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch GOARM=7 go build -trimpath -ldflags "-s -w -X main.version=armsmoke" -o "$work/edgeway-$arch" ./cmd/edgeway
  port=$(( 20000 + RANDOM % 20000 ))
  cat >"$work/edgeway-$arch.yaml" <<YAML
listen: 127.0.0.1:$port
data_dir: $work/data-$arch
providers:
  - name: cloud
    type: openai-compatible
    base_url: $upstream
    api_key: env:ARMSMOKE_KEY
models:
  chat: [cloud/gpt-4o-mini]
YAML
  ARMSMOKE_KEY=sk-smoke "$qemu" "$work/edgeway-$arch" serve --config "$work/edgeway-$arch.yaml" >"$work/edgeway-$arch.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
  for want in "cloud" "cache"; do
    resp="$(curl -sS -D "$work/headers" "http://127.0.0.1:$port/v1/chat/completions" \
      -H 'content-type: application/json' \
      -d '{"model":"chat","temperature":0,"messages":[{"role":"user","content":"hi"}]}')"
    if ! grep -q '"hello from arm"' <<<"$resp" || ! grep -qi "^x-edgeway-provider: $want" "$work/headers"; then
      echo "armsmoke: $arch: FAIL (want provider $want)"; echo "$resp"; cat "$work/headers" "$work/edgeway-$arch.out"; exit 1
    fi
    sleep 0.3 # the cache write is asynchronous
  done
  echo "armsmoke: ok: $("$qemu" "$work/edgeway-$arch" version) answered from the upstream, then from its cache"
done
