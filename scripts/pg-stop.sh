#!/usr/bin/env bash
# pg-stop.sh DIR: stop the server pg-start.sh started in DIR and remove DIR.
set -uo pipefail
dir=${1:?usage: pg-stop.sh DIR}
PG_BIN=${PG_BIN:-$(dirname "$(command -v pg_ctl 2>/dev/null || echo /usr/local/bin/pg_ctl)")}
if [ -f "$dir/data/postmaster.pid" ]; then
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
	else
		"$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
	fi
fi
rm -rf "$dir"
