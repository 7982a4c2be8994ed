#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Fetches a 5 MiB random file from the TFTP server (tests/integration/tftp-serve on 127.0.0.1,
# any free port) with real clients: curl, tftp-hpa, atftp. Compares SHA-256 each time.
# Prints TAP; exits non-zero if any test failed.
set -u

BUILD_ROOT=${PX_BUILD_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)/build}
SERVE=${PX_TFTP_SERVE:-$BUILD_ROOT/tests/integration/tftp-serve}
TIMEOUT=${PX_TFTP_CLIENT_TIMEOUT:-60}

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
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
have() { command -v "$1" >/dev/null 2>&1; }

if [ ! -x "$SERVE" ]; then
        echo "1..0 # SKIP tftp-serve not built ($SERVE)"
        exit 0
fi

head -c $((5 * 1024 * 1024)) /dev/urandom >"$tmp/payload.bin"
head -c 1000 /dev/urandom >"$tmp/small.bin"
want=$(sha256sum <"$tmp/payload.bin" | cut -d' ' -f1)

"$SERVE" --port 0 --timeout-ms 1000 payload.bin="$tmp/payload.bin" small.bin="$tmp/small.bin" \
        >"$tmp/port" 2>"$tmp/serve.log" &
server_pid=$!
for _ in $(seq 1 100); do
        grep -q '^PORT ' "$tmp/port" 2>/dev/null && break
        sleep 0.05
done
port=$(awk '/^PORT /{print $2}' "$tmp/port")
if [ -z "$port" ]; then
        echo "1..0 # SKIP tftp-serve did not start"
        cat "$tmp/serve.log" >&2
        exit 1
fi

echo "1..12"

# check NAME OUTFILE: compare OUTFILE with the payload
check() {
        local got
        got=$(sha256sum <"$2" 2>/dev/null | cut -d' ' -f1)
        if [ "$got" = "$want" ]; then ok "$1"; else not_ok "$1 (sha256 ${got:-none})"; fi
}

# 1-3: curl
if have curl; then
        out="$tmp/curl-default"
        timeout "$TIMEOUT" curl -sS -o "$out" "tftp://127.0.0.1:$port/payload.bin"
        check "curl default options" "$out"

        out="$tmp/curl-1468"
        timeout "$TIMEOUT" curl -sS --tftp-blksize 1468 -o "$out" "tftp://127.0.0.1:$port/payload.bin"
        check "curl --tftp-blksize 1468" "$out"

        out="$tmp/curl-noopt"
        timeout "$TIMEOUT" curl -sS --tftp-no-options -o "$out" "tftp://127.0.0.1:$port/payload.bin"
        check "curl --tftp-no-options (plain RFC 1350, 512-byte blocks)" "$out"
else
        for t in "curl default options" "curl --tftp-blksize 1468" "curl --tftp-no-options"; do
                skip "$t" "curl not installed"
        done
fi

# 4: tftp-hpa (its client negotiates no options at all)
if have tftp && tftp -V 2>&1 | grep -q tftp-hpa; then
        out="$tmp/tftp-hpa"
        (cd "$tmp" && timeout "$TIMEOUT" tftp -m binary 127.0.0.1 "$port" -c get payload.bin tftp-hpa) >/dev/null 2>&1
        check "tftp-hpa binary get" "$out"
else
        skip "tftp-hpa binary get" "tftp-hpa not installed"
fi

# 5-8: atftp (Debian's 0.8 has windowsize, RFC 7440)
if have atftp; then
        out="$tmp/atftp-plain"
        timeout "$TIMEOUT" atftp -g -r payload.bin -l "$out" 127.0.0.1 "$port" >/dev/null 2>&1
        check "atftp no options" "$out"

        out="$tmp/atftp-1468-w4"
        timeout "$TIMEOUT" atftp --option "blksize 1468" --option "tsize 0" --option "windowsize 4" \
                -g -r payload.bin -l "$out" 127.0.0.1 "$port" >/dev/null 2>&1
        check "atftp blksize 1468 tsize windowsize 4 (EDK2-like)" "$out"

        out="$tmp/atftp-8192-w16"
        timeout "$TIMEOUT" atftp --option "blksize 8192" --option "tsize 0" --option "windowsize 16" \
                -g -r payload.bin -l "$out" 127.0.0.1 "$port" >/dev/null 2>&1
        check "atftp blksize 8192 tsize windowsize 16" "$out"

        out="$tmp/atftp-timeout"
        timeout "$TIMEOUT" atftp --option "blksize 1428" --option "timeout 2" --option "windowsize 64" \
                -g -r payload.bin -l "$out" 127.0.0.1 "$port" >/dev/null 2>&1
        check "atftp blksize 1428 timeout 2 windowsize 64" "$out"
else
        for t in "atftp no options" "atftp windowsize 4" "atftp windowsize 16" "atftp windowsize 64"; do
                skip "$t" "atftp not installed"
        done
fi

# 9: 8 concurrent curl fetches
if have curl; then
        pids=()
        for i in $(seq 1 8); do
                timeout "$TIMEOUT" curl -sS --tftp-blksize 1468 -o "$tmp/conc-$i" \
                        "tftp://127.0.0.1:$port/payload.bin" &
                pids+=($!)
        done
        wait "${pids[@]}"
        bad=0
        for i in $(seq 1 8); do
                [ "$(sha256sum <"$tmp/conc-$i" 2>/dev/null | cut -d' ' -f1)" = "$want" ] || bad=$((bad + 1))
        done
        if [ "$bad" -eq 0 ]; then ok "8 concurrent curl fetches"; else not_ok "8 concurrent curl fetches ($bad bad)"; fi
else
        skip "8 concurrent curl fetches" "curl not installed"
fi

# 10: unknown file fails fast (iPXE probes autoexec.ipxe on every boot)
if have curl; then
        start=$(date +%s%N)
        timeout "$TIMEOUT" curl -sS -o /dev/null "tftp://127.0.0.1:$port/autoexec.ipxe" 2>"$tmp/curl-404.err"
        rc=$?
        ms=$((($(date +%s%N) - start) / 1000000))
        if [ "$rc" -ne 0 ] && [ "$ms" -lt 2000 ]; then
                ok "unknown file refused in ${ms} ms (curl rc $rc)"
        else
                not_ok "unknown file: rc $rc after ${ms} ms"
        fi
else
        skip "unknown file refused" "curl not installed"
fi

# 11: small file, tftp-hpa
if have tftp; then
        (cd "$tmp" && timeout "$TIMEOUT" tftp -m binary 127.0.0.1 "$port" -c get small.bin small.out) >/dev/null 2>&1
        if cmp -s "$tmp/small.bin" "$tmp/small.out"; then ok "tftp-hpa small file"; else not_ok "tftp-hpa small file"; fi
else
        skip "tftp-hpa small file" "tftp not installed"
fi

# 12: the server saw no failures and shuts down cleanly
kill -TERM "$server_pid"
wait "$server_pid"
rc=$?
server_pid=
stats=$(grep 'requests=' "$tmp/serve.log")
if [ "$rc" -eq 0 ] && echo "$stats" | grep -q ' failed=0 '; then
        ok "server clean exit: $stats"
else
        not_ok "server exit rc $rc: $stats"
        cat "$tmp/serve.log" >&2
fi

[ "$failed" -eq 0 ]
