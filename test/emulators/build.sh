#!/usr/bin/env bash
# Builds the Pub/Sub fake (pstestd) and the Bigtable fake (bttestd) from Debian's golang-google-cloud-dev
# sources into .bin/. Needs: apt-get install golang-go golang-google-cloud-dev. GOPATH mode only: Debian
# ships GOPATH-layout sources, not a module cache, so module mode cannot resolve cloud.google.com/go offline.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if ! command -v go >/dev/null 2>&1; then
  echo "build.sh: 'go' not found. Install it: apt-get install -y golang-go golang-google-cloud-dev" >&2
  exit 1
fi
if [ ! -d /usr/share/gocode/src/cloud.google.com/go/pubsub/pstest ]; then
  echo "build.sh: /usr/share/gocode has no cloud.google.com/go. Install it: apt-get install -y golang-google-cloud-dev" >&2
  exit 1
fi
export GO111MODULE=off
export GOPATH="$repo/test/emulators/gopath:/usr/share/gocode"
export GOCACHE="$repo/.cache/go"
export GOFLAGS=
mkdir -p "$repo/.bin"
for name in pstestd bttestd; do
  go build -o "$repo/.bin/$name" "tessera/$name"
  echo "built $repo/.bin/$name"
done
