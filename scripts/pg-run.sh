#!/usr/bin/env bash
# pg-run.sh CMD...: run CMD with a throwaway PostgreSQL 15 (see pg-start.sh)
# whose URL is in ENGRAM_TEST_POSTGRES, and stop the server when CMD ends,
# however it ends. CMD's exit status is the script's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/engram-pg.XXXXXX")
trap '"$here/pg-stop.sh" "$dir"' EXIT
trap 'exit 130' INT TERM
url=$("$here/pg-start.sh" "$dir")
echo "pg-run.sh: PostgreSQL on $url (data in $dir)" >&2
ENGRAM_TEST_POSTGRES=$url "$@"
