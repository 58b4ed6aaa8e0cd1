#!/usr/bin/env bash
# The cache benchmarks of BENCHMARKS.md (cache tiers), in one run: the machine, the
# Go benchmarks of the RAM tier and the cache file, and Redis GET/SET of the
# same value size on loopback as the reference.
#
#   scripts/bench-cache.sh [count] > bench.txt
#
# count repeats every Go benchmark (default 3); the tables quote medians.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-3}

echo "== machine"
nproc
lscpu | head -20
go version
uptime

echo "== go: RAM tier"
go test -run '^$' -bench . -benchtime 200000x -count "$count" ./ramcache
echo "== go: cache file, reads"
go test -run '^$' -bench 'BoltHit|BoltMiss' -benchtime 100000x -count "$count" ./boltcache
echo "== go: cache file, writes"
go test -run '^$' -bench 'SinglePut' -benchtime 2000x -count "$count" ./boltcache
go test -run '^$' -bench 'BatchedPuts' -benchtime 50x -count "$count" ./boltcache
go test -run '^$' -bench 'Mixed' -benchtime 50000x -count "$count" ./boltcache

echo "== redis: 1,946-byte values on 127.0.0.1"
scripts/bench-redis.sh 1946 100000
