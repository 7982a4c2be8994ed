#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The sample API server (examples/api-server) on 127.0.0.1, any free port: its JSON answer for a
# MAC, the files that answer points to (resolved against <api>/v1 as pixiecore does), the
# refusal of a malformed MAC, and its request log. Prints TAP; exits non-zero if a test failed.
set -u

BUILD_ROOT=${PX_BUILD_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)/build}
EXAMPLE=${PX_API_EXAMPLE:-$BUILD_ROOT/examples/pixiecore-api-example}

tmp=$(mktemp -d)
server_pid=
cleanup() {
        if [ -n "$server_pid" ]; then
                kill "$server_pid" 2>/dev/null
                wait "$server_pid" 2>/dev/null
        fi
        rm -rf "$tmp"
}
trap cleanup EXIT

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (got '$2', want '$3')"; fi; }

if [ ! -x "$EXAMPLE" ]; then
        echo "1..0 # SKIP pixiecore-api-example not built ($EXAMPLE)"
        exit 0
fi
for tool in curl python3; do
        if ! command -v "$tool" >/dev/null; then
                echo "1..0 # SKIP $tool not installed"
                exit 0
        fi
done

head -c 300000 /dev/urandom >"$tmp/vmlinuz"
head -c 200000 /dev/urandom >"$tmp/initrd-a.img"
head -c 1000 /dev/urandom >"$tmp/initrd-b.img"
printf '#cloud-config\nhostname: demo\n' >"$tmp/cloud-config"

"$EXAMPLE" -listen 127.0.0.1 -port 0 -kernel "$tmp/vmlinuz" \
        -initrd "$tmp/initrd-a.img,$tmp/initrd-b.img" --initrd=https://mirror.example/extra.img \
        -cmdline 'console=ttyS0 cloud-config-url={{ URL "files/cloud-config" }}' \
        -message 'Booting the demo' -file cloud-config="$tmp/cloud-config" >"$tmp/log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
        grep -q '^listening on ' "$tmp/log" 2>/dev/null && break
        sleep 0.05
done
api=$(awk '/^listening on /{print $3; exit}' "$tmp/log")
if [ -z "$api" ]; then
        echo "1..0 # SKIP pixiecore-api-example did not start"
        cat "$tmp/log" >&2
        exit 1
fi

echo "1..13"

mac=52:54:00:12:34:56
status=$(curl -sS -o "$tmp/answer.json" -w '%{http_code}' "${api}v1/boot/$mac?arch=7&firmware=efi64")
check "GET /v1/boot/<mac> answers 200" "$status" 200

# field NAME: the JSON field, lists joined by spaces
field() {
        python3 -c 'import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2])
print(" ".join(v) if isinstance(v, list) else v)' "$tmp/answer.json" "$1"
}
check "kernel is a relative URL to the server itself" "$(field kernel)" "files/kernel"
check "initrds in order, local ones relative, URLs unchanged" "$(field initrd)" \
        "files/initrd-0 files/initrd-1 https://mirror.example/extra.img"
check "cmdline is passed through as a template" "$(field cmdline)" \
        'console=ttyS0 cloud-config-url={{ URL "files/cloud-config" }}'
check "message" "$(field message)" "Booting the demo"

# fetch NAME REF FILE: resolve REF against <api>/v1 (as pixiecore does), download, compare
fetch() {
        local url got want
        url=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urljoin(sys.argv[1], sys.argv[2]))' \
                "${api}v1" "$2")
        got=$(curl -sS --fail "$url" | sha256sum | cut -d' ' -f1)
        want=$(sha256sum <"$3" | cut -d' ' -f1)
        check "$1 ($url)" "$got" "$want"
}
fetch "kernel downloads" files/kernel "$tmp/vmlinuz"
fetch "first initrd downloads" files/initrd-0 "$tmp/initrd-a.img"
fetch "second initrd downloads" files/initrd-1 "$tmp/initrd-b.img"
fetch "cmdline URL target downloads" files/cloud-config "$tmp/cloud-config"

length=$(curl -sS -I "${api}files/kernel" | tr -d '\r' | awk -F': ' 'tolower($1)=="content-length"{print $2}')
check "files carry Content-Length" "$length" 300000

status=$(curl -sS -o /dev/null -w '%{http_code}' "${api}v1/boot/not-a-mac")
check "malformed MAC: not 200 (do not boot)" "$status" 404
status=$(curl -sS -o /dev/null -w '%{http_code}' "${api}files/nothing-here")
check "unknown file: 404" "$status" 404

if grep -q "boot request: mac=$mac arch=7 firmware=efi64" "$tmp/log"; then
        ok "request logged with mac, arch and firmware"
else
        not_ok "request logged with mac, arch and firmware"
        cat "$tmp/log" >&2
fi

[ "$failed" -eq 0 ]
