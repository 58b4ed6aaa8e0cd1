#!/usr/bin/env bash
# Measure Redis GET and SET of values the size of a cached episode on
# loopback, as the reference the cache benchmarks compare against
# (BENCHMARKS.md (cache tiers)). Starts a throwaway redis-server on 127.0.0.1 on a
# free port, without persistence, runs redis-benchmark, and stops it.
#
#   scripts/bench-redis.sh [value-bytes] [requests]
#
# Needs Debian's redis-server and redis-tools (apt-get install -y
# redis-server redis-tools). Prints CSV rows: test, clients, pipeline, then
# redis-benchmark's rps and latency columns (milliseconds).
set -euo pipefail

size=${1:-1946}
requests=${2:-100000}

for bin in redis-server redis-benchmark redis-cli; do
	command -v "$bin" >/dev/null || { echo "bench-redis: $bin not found (apt-get install -y redis-server redis-tools)" >&2; exit 1; }
done

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
dir=$(mktemp -d)
redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$dir" \
	--daemonize no --loglevel warning >"$dir/redis.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

for _ in $(seq 1 100); do # up to 10 s for the server to answer
	redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break
	sleep 0.1
done
redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null

echo "test,clients,pipeline,rps,avg_latency_ms,min_latency_ms,p50_latency_ms,p95_latency_ms,p99_latency_ms,max_latency_ms"
# -c 1: one request at a time, like a single-threaded caller; -c 2 with the
# 2 goroutines of the mixed benchmark; -P 1000 pipelined, like a batch.
for run in "1 1" "2 1" "1 1000"; do
	set -- $run
	redis-benchmark -h 127.0.0.1 -p "$port" -t set,get -d "$size" -n "$requests" -c "$1" -P "$2" --csv --precision 3 |
		tail -n +2 | tr -d '"' | sed "s/^\([A-Z]*\),/\1,$1,$2,/"
done
