#!/bin/sh
# The vector benchmark of BENCHMARKS.md: engram's index, the exact scan and
# hnswlib-node (stock and -march=native builds) on the same 100,000 x 384
# clustered vectors, in one run. Extra arguments go to `engram bench vector`
# (e.g. --n 20000 for a quick look).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/bench-vector-hnswlib-setup.sh"
go build -o "$root/.bin/engram" ./cmd/engram
echo "== lscpu | head"; lscpu | head
echo "== uptime"; uptime
"$root/.bin/engram" bench vector --hnswlib "$root/.bin/hnswlib" --work-dir "$root/.bin/bench-vector" "$@"
echo "== uptime"; uptime
