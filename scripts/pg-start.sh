#!/usr/bin/env bash
# pg-start.sh DIR: initialise a throwaway PostgreSQL cluster in DIR (created if
# absent; it must be new or empty), start it on 127.0.0.1 on a free port with
# fsync on, and print its URL on stdout. The server runs as the postgres user
# (PostgreSQL refuses to run as root). Stop it with pg-stop.sh DIR.
#
# Tools: initdb, pg_ctl and postgres from PG_BIN (default: their directory on
# PATH, else /usr/local/bin).
set -euo pipefail

dir=${1:?usage: pg-start.sh DIR}
PG_BIN=${PG_BIN:-$(dirname "$(command -v initdb 2>/dev/null || echo /usr/local/bin/initdb)")}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}
if [ "$(id -u)" = 0 ]; then
	chown postgres: "$dir"
fi
chmod 700 "$dir"

# initdb takes seconds on a busy machine, so the cluster it makes is kept once
# as a template (per PostgreSQL version, owned by postgres) and copied: a copy
# takes a fraction of a second. initdb's files need no durability (--no-sync):
# the template is rebuilt if damaged, and the server itself runs with fsync on.
password=engram-test
version=$("$PG_BIN/postgres" --version | tr -cd '0-9.')
template=${ENGRAM_PG_TEMPLATE:-${TMPDIR:-/tmp}/engram-pg-template-$version-scram}
if [ ! -f "$template/data/PG_VERSION" ]; then
	tmp=$(mktemp -d "$template.new.XXXXXX")
	[ "$(id -u)" = 0 ] && chown postgres: "$tmp"
	# TCP connections need the password (so that tests can see a wrong one
	# refused); the throwaway cluster's password is in the URL printed.
	echo "$password" >"$tmp/pwfile"
	[ "$(id -u)" = 0 ] && chown postgres: "$tmp/pwfile"
	as_pg "$PG_BIN/initdb" -D "$tmp/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 --pwfile="$tmp/pwfile" \
		-E UTF8 --locale=C --no-sync >"$tmp/initdb.log" 2>&1 ||
		{ cat "$tmp/initdb.log" >&2; rm -rf "$tmp"; exit 1; }
	# Another run may have made it meanwhile: keep theirs.
	mv -T "$tmp" "$template" 2>/dev/null || rm -rf "$tmp"
fi
as_pg cp -a "$template/data" "$dir/data"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null ||
		echo $((20000 + RANDOM % 40000))
}

# Another process can take the port between choosing and binding it: retry.
for attempt in 1 2 3 4 5; do
	port=$(free_port)
	if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
		-o "-h 127.0.0.1 -p $port -k $dir -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_connections=200 -c shared_buffers=64MB" \
		start >/dev/null 2>&1; then
		echo "$port" >"$dir/port"
		echo "postgres://postgres:$password@127.0.0.1:$port/postgres?sslmode=disable"
		exit 0
	fi
done
echo "pg-start.sh: PostgreSQL did not start; see $dir/server.log:" >&2
tail -20 "$dir/server.log" >&2 || true
exit 1
