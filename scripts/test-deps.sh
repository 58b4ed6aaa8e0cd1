#!/usr/bin/env bash
# Makes sure the programs engram's integration tests run are on this machine.
# Each is a Debian package; as root with apt-get this installs what is missing,
# otherwise it names the packages to install and fails.
set -euo pipefail

need=()
command -v strace >/dev/null || need+=(strace)   # sqlstore: fsync counting and EIO injection
command -v mount >/dev/null || need+=(mount)     # tmpfs for disk-full and read-only tests
[ -x /usr/bin/chromium ] || need+=(chromium)     # internal/console: the console's browser tests (chromedp)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v redis-server >/dev/null || need+=(redis-server) # cmd/engram: bench compare's Redis client

[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "test-deps: installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
else
	echo "test-deps: missing ${need[*]}; install them (apt-get install ${need[*]})" >&2
	exit 1
fi
