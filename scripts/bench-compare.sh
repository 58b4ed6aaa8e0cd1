#!/usr/bin/env bash
# The side-by-side benchmarks of BENCHMARKS.md (bench-compare): engram beside
# C SQLite, Redis, a plain net/http handler and a plain SELECT, in one run
# (engram bench compare). Installs Debian's redis-server when missing (as
# root with apt-get), starts it on 127.0.0.1 on a free port without
# persistence in a temporary directory, and stops it on exit. Extra
# arguments go to `engram bench compare` (e.g. --episodes 2000 for a quick look).
#
#   scripts/bench-compare.sh [engram bench compare flags] > compare.txt
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! command -v redis-server >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "bench-compare: installing redis-server" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >&2
	else
		echo "bench-compare: redis-server not found (apt-get install redis-server)" >&2
		exit 1
	fi
fi
command -v python3 >/dev/null || { echo "bench-compare: python3 not found" >&2; exit 1; }

dir=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$dir"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$dir" \
	--daemonize no --loglevel warning >"$dir/redis.log" 2>&1 &
pid=$!
python3 - "$port" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
for _ in range(100):  # up to 10 s for the server to answer PING
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit("bench-compare: redis-server did not answer on port %d" % port)
PY

go build -o "$root/.bin/engram" ./cmd/engram
echo "== lscpu | head"; lscpu | head
echo "== uptime"; uptime
"$root/.bin/engram" bench compare --redis "127.0.0.1:$port" "$@"
echo "== uptime"; uptime
