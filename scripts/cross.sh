#!/usr/bin/env bash
# cross.sh builds the static release binaries: linux/arm64 (Jetson, Pi 4/5
# with a 64-bit OS), linux/arm v7 (32-bit Raspberry Pi OS) and linux/amd64.
# CGO_ENABLED=0 keeps them static; -trimpath and -s -w keep them small.
set -euo pipefail
out="${1:-bin}"
version="${VERSION:-dev}"
mkdir -p "$out"
for target in linux/arm64 linux/arm/7 linux/amd64; do
  IFS=/ read -r os arch arm <<<"$target"
  name="edgeway-$os-$arch${arm:+v$arm}"
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOARM=$arm \
    go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$out/$name" ./cmd/edgeway
  awk -v n="$name" -v s="$(stat -c %s "$out/$name")" 'BEGIN { printf "%-28s %6.1f MB\n", n, s / 1048576 }'
done
