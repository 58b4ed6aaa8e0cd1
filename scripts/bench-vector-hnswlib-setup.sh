#!/bin/sh
# Installs hnswlib-node twice into .bin/hnswlib (ignored by git): the stock
# build (stock/) and one rebuilt for this CPU with -march=native (native/).
# Node headers come from the system (/usr/include/node) when present, so no
# header download is needed.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.bin/hnswlib"
mkdir -p "$dir/stock" "$dir/native"
nodedir=""
if [ -f /usr/include/node/node.h ]; then nodedir="--nodedir=/usr"; fi
for v in stock native; do
	cd "$dir/$v"
	[ -f package.json ] || echo '{"name":"bench-'$v'","private":true}' > package.json
	if [ ! -d node_modules/hnswlib-node ]; then
		npm_config_nodedir=${nodedir#--nodedir=} npm install --no-audit --no-fund hnswlib-node@3 >/dev/null
	fi
done
# npm may skip install scripts, so build both explicitly: the stock flags,
# and the same sources for this CPU.
if [ ! -f "$dir/stock/node_modules/hnswlib-node/build/Release/addon.node" ]; then
	(cd "$dir/stock/node_modules/hnswlib-node" && npx --yes node-gyp rebuild $nodedir >/dev/null)
fi
if [ ! -f "$dir/native/.march-native" ]; then
	(cd "$dir/native/node_modules/hnswlib-node" && CXXFLAGS="-march=native" npx --yes node-gyp rebuild $nodedir >/dev/null)
	touch "$dir/native/.march-native"
fi
echo "hnswlib-node installed in $dir (stock/ and native/)"
