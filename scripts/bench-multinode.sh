#!/usr/bin/env bash
# The many-nodes benchmarks of BENCHMARKS.md, in one run: a throwaway
# PostgreSQL (fsync on, scripts/pg-start.sh), three engram serve processes on
# it, each with its own data directory; then
#   - cross-node visibility lag, a write on node 1 until nodes 2 and 3 serve
#     it: with LISTEN/NOTIFY (the default) and with polling only
#     (--sync-no-listen, at the default 2 s interval);
#   - get-episode over HTTP at 32 clients against 1 node, then spread over 3.
#
#   scripts/bench-multinode.sh [writes] [seconds] > bench.txt
set -euo pipefail
cd "$(dirname "$0")/.."
writes=${1:-200}
secs=${2:-10}

work=$(mktemp -d)
pgdir=$(mktemp -d) # its own: pg-start.sh hands it to the postgres user
bin=$work/engram
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	scripts/pg-stop.sh "$pgdir" >/dev/null 2>&1 || true
	rm -rf "$work" "$pgdir"
}
trap cleanup EXIT

echo "== machine"
nproc
go version
uptime
go build -o "$bin" ./cmd/engram
pg=$(scripts/pg-start.sh "$pgdir")

# start_nodes FLAGS...: three servers on ports 7461-7463.
start_nodes() {
	for i in 1 2 3; do
		"$bin" serve --data-dir "$work/node$i" --durable "$pg" --listen 127.0.0.1:746$i --log-level warn "$@" 2>>"$work/serve.log" &
		pids+=($!)
	done
	for i in 1 2 3; do
		until curl -sf http://127.0.0.1:746$i/healthz >/dev/null; do sleep 0.1; done
	done
}
stop_nodes() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	pids=()
}
n1=http://127.0.0.1:7461 n2=http://127.0.0.1:7462 n3=http://127.0.0.1:7463

echo "== lag, LISTEN/NOTIFY (sync interval 2 s as the fallback)"
start_nodes
"$bin" --server $n1 bench lag --nodes $n2,$n3 --writes "$writes"
uptime
echo "== get-episode, 32 clients, 1 node"
"$bin" --server $n1 bench http --op get-episode --clients 32 --duration "${secs}s"
uptime
echo "== get-episode, 32 clients, 3 nodes"
"$bin" --server $n1 bench http --nodes $n2,$n3 --op get-episode --clients 32 --duration "${secs}s"
uptime
stop_nodes

echo "== lag, polling only (--sync-no-listen, sync interval 2 s)"
start_nodes --sync-no-listen
"$bin" --server $n1 bench lag --nodes $n2,$n3 --writes "$((writes / 4))"
uptime
stop_nodes
