#!/bin/bash
# API mode, upstream cache: a proxied file is kept in -cache-dir, revalidated with
# If-Modified-Since (python's http.server answers 304), served from the copy when the upstream
# is down, and Range works on the copy. Loopback only. TAP.
set -euo pipefail

PIXIECORE=${PIXIECORE:-build/src/pixiecore}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }

MAC=52:54:00:aa:bb:01
UP=$(free_port)
HTTP=$(free_port)
mkdir -p "$WORK/www/v1/boot" "$WORK/cache" "$WORK/state"
head -c 2000000 /dev/urandom >"$WORK/www/kernel"
echo '{"kernel":"/kernel"}' >"$WORK/www/v1/boot/$MAC"

(cd "$WORK/www" && exec python3 -m http.server "$UP" --bind 127.0.0.1 >"$WORK/upstream.log" 2>&1) &
UPSTREAM_PID=$!
PIDS+=("$UPSTREAM_PID")
"$PIXIECORE" -api "http://127.0.0.1:$UP/" -listen-addr 127.0.0.1 -port "$HTTP" -port-dhcp 0 -port-pxe 0 \
	-port-tftp 0 -state-dir "$WORK/state" -cache-dir "$WORK/cache" -debug >"$WORK/pixiecore.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do
	curl -s -o /dev/null "http://127.0.0.1:$HTTP/" && curl -s -o /dev/null "http://127.0.0.1:$UP/" && break
	sleep 0.1
done

echo "1..8"
curl -s --max-time 10 "http://127.0.0.1:$HTTP/_/ipxe?mac=$MAC" >"$WORK/script"
K=$(grep -o 'http://[^ ]*/_/file/[^ ]*' "$WORK/script" | head -1)
check "script names a proxied kernel" '[[ -n $K ]]'

curl -s --max-time 10 -o "$WORK/k1" "$K"
check "first download is byte-identical" 'cmp -s "$WORK/k1" "$WORK/www/kernel"'
check "a copy and its metadata are in the cache" '[[ $(ls "$WORK/cache" | wc -l) -eq 2 ]]'

curl -s --max-time 10 -o "$WORK/k2" "$K"
check "second download is byte-identical" 'cmp -s "$WORK/k2" "$WORK/www/kernel"'
check "second download was revalidated (upstream answered 304)" 'grep -q "GET /kernel HTTP/1.1\" 304" "$WORK/upstream.log"'
check "upstream sent the file body only once" '[[ $(grep -c "GET /kernel HTTP/1.1\" 200" "$WORK/upstream.log") -eq 1 ]]'

kill "$UPSTREAM_PID"
wait "$UPSTREAM_PID" 2>/dev/null || true
curl -s --max-time 10 -o "$WORK/k3" "$K"
check "upstream down: served from the cache" 'cmp -s "$WORK/k3" "$WORK/www/kernel"'
range=$(curl -s --max-time 10 -r 100-199 "$K" | od -An -tx1 | tr -d ' \n')
want=$(dd if="$WORK/www/kernel" bs=1 skip=100 count=100 2>/dev/null | od -An -tx1 | tr -d ' \n')
check "Range on the cached copy" '[[ $range == "$want" ]]'

if ((fails)); then
	echo "# pixiecore log:"
	sed 's/^/# /' "$WORK/pixiecore.log" | tail -30
	exit 1
fi
