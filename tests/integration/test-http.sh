#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# HTTP side of pixiecore, with curl, against the real daemon on 127.0.0.1 only:
#   pixiecore -listen-addr 127.0.0.1 -port <free> -port-dhcp 0 -port-pxe 0 -port-tftp 0
# (no root needed). Checks the iPXE script, byte-identical kernel/initrd downloads through the
# script's own URLs, Content-Length, Range, HEAD, 404/400/405, path traversal, PXELINUX configs
# and support files, and a kernel/initrd given as http:// URLs (served by python3 -m http.server
# on another loopback port; the daemon must fetch them once at startup).
# Prints TAP; exits 0 when all passed, 1 otherwise.
set -u

SOURCE_ROOT=${PX_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
PIXIECORE=${PIXIECORE:-$SOURCE_ROOT/build/src/pixiecore}
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
LDLINUX_SYSTEM=/usr/lib/syslinux/modules/bios/ldlinux.c32
MAC=52:54:00:12:34:56
DMAC=52-54-00-12-34-56
CMDLINE='console=ttyS0,115200n8 quiet pixie.token=t0k3n root=/dev/ram0'

n=0
failed=0
failures=()
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)); failed=$((failed + 1)); failures+=("$n - $1"); echo "not ok $n - $1"
	shift
	local l
	for l in "$@"; do printf '#   %s\n' "$l"; done
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
diag() { printf '# %s\n' "$@"; }
# check NAME CONDITION-COMMAND... : ok if the command succeeds
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name" "failed: $*"; fi
}
# eq NAME GOT WANT
eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got:  $(printf '%q' "$2")" "want: $(printf '%q' "$3")"; fi
}

if ! command -v curl >/dev/null 2>&1; then
	echo "1..0 # SKIP curl not installed"
	exit 77
fi
if [ ! -x "$PIXIECORE" ]; then
	echo "1..0 # SKIP no pixiecore binary at $PIXIECORE (set PIXIECORE)"
	exit 77
fi

tmp=$(mktemp -d /tmp/pxt-http.XXXXXX)
daemon_pid=
web_pid=
stop_daemon() {
	if [ -n "$daemon_pid" ]; then
		kill -TERM "$daemon_pid" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
		daemon_rc=$?
		daemon_pid=
	fi
}
cleanup() {
	stop_daemon
	if [ -n "$web_pid" ]; then
		kill "$web_pid" 2>/dev/null
		wait "$web_pid" 2>/dev/null
		web_pid=
	fi
	if [ "${PXT_KEEP:-0}" = 1 ]; then diag "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE # stdout closed (e.g. piped into head): still clean up

free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Payload and stand-in bootloaders
head -c 300000 /dev/urandom >"$tmp/vmlinuz"
head -c 70000 /dev/urandom >"$tmp/initrd-a.img"
head -c 50001 /dev/urandom >"$tmp/initrd-b.img"
for f in undionly.kpxe ipxe.efi ipxe.pxe lpxelinux.0; do printf 'fake %s\n' "$f" >"$tmp/$f"; done
if [ -r "$LDLINUX_SYSTEM" ]; then
	LDLINUX=$LDLINUX_SYSTEM
else
	printf 'fake ldlinux.c32\n' >"$tmp/ldlinux.c32"
	LDLINUX=$tmp/ldlinux.c32
fi
printf '[pixiecore]\n' >"$tmp/empty.conf" # keeps a real /etc/pixiecore/pixiecore.conf out
sha() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }

# start_daemon LOGNAME ARGS... : sets PORT, BASE, daemon_pid; returns non-zero if it did not start
start_daemon() {
	local log=$tmp/$1.log
	shift
	stop_daemon
	for _ in 1 2 3; do
		PORT=$(free_port)
		"$PIXIECORE" -config "$tmp/empty.conf" -listen-addr 127.0.0.1 -port "$PORT" \
			-port-dhcp 0 -port-pxe 0 -port-tftp 0 -debug \
			-ipxe-bios "$tmp/undionly.kpxe" -ipxe-efi64 "$tmp/ipxe.efi" -ipxe-ipxe "$tmp/ipxe.pxe" \
			-pxelinux "$tmp/lpxelinux.0" -ldlinux "$LDLINUX" "$@" >"$log" 2>&1 </dev/null &
		daemon_pid=$!
		for _ in $(seq 1 100); do
			grep -q 'Serving' "$log" 2>/dev/null && break
			kill -0 "$daemon_pid" 2>/dev/null || break
			sleep 0.05
		done
		if grep -q 'Serving' "$log"; then
			BASE=http://127.0.0.1:$PORT
			return 0
		fi
		wait "$daemon_pid" 2>/dev/null
		daemon_pid=
		grep -q 'Address already in use' "$log" || break # only a port race is worth a retry
	done
	diag "pixiecore did not start:" "$(tail -20 "$log")"
	return 1
}

# fetch PATH [CURL-ARGS...] : body in $tmp/body, headers in $tmp/headers, status in $STATUS
fetch() {
	local path=$1
	shift
	: >"$tmp/body"
	: >"$tmp/headers"
	STATUS=$(curl -s --path-as-is --max-time 5 -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' "$@" "$BASE$path")
}
header() { # header NAME: value of the last such header in $tmp/headers
	tr -d '\r' <"$tmp/headers" | awk -v h="$(echo "$1" | tr 'A-Z' 'a-z')" -F': ' \
		'tolower($1) == h { v = substr($0, length($1) + 3) } END { print v }'
}

# ---------------------------------------------------------------------------
# iPXE mode
# ---------------------------------------------------------------------------
if ! start_daemon ipxe -kernel "$tmp/vmlinuz" -initrd "$tmp/initrd-a.img,$tmp/initrd-b.img" -cmdline "$CMDLINE"; then
	not_ok "daemon starts on 127.0.0.1 (iPXE mode)"
	echo "1..$n"
	exit 1
fi
ok "daemon starts on 127.0.0.1:$PORT with DHCP, PXE and TFTP disabled"

fetch "/_/ipxe?mac=$MAC&arch=0"
eq "/_/ipxe: status 200" "$STATUS" 200
cp "$tmp/body" "$tmp/script"
check "/_/ipxe: Content-Type text/plain" grep -qi '^content-type: text/plain' "$tmp/headers"
eq "/_/ipxe: first line #!ipxe" "$(head -n1 "$tmp/script")" '#!ipxe'
# URL of a named image: "kernel --name kernel URL [|| goto failed]"
image_url() { awk -v c="$1" -v nm="$2" '$1 == c && $2 == "--name" && $3 == nm { print $4; exit }' "$tmp/script"; }
kurl=$(image_url kernel kernel)
i0url=$(image_url initrd initrd0)
i1url=$(image_url initrd initrd1)
eq "/_/ipxe: kernel URL" "$kurl" "$BASE/_/file/$DMAC/kernel"
eq "/_/ipxe: initrd0 URL" "$i0url" "$BASE/_/file/$DMAC/initrd-0"
eq "/_/ipxe: initrd1 URL" "$i1url" "$BASE/_/file/$DMAC/initrd-1"
check "/_/ipxe: no third initrd" test "$(grep -c '^initrd ' "$tmp/script")" = 2
check "/_/ipxe: kernel is loaded before the initrds" \
	test "$(grep -n '^kernel ' "$tmp/script" | cut -d: -f1)" -lt "$(grep -n '^initrd ' "$tmp/script" | head -n1 | cut -d: -f1)"
boot_line=$(grep '^boot ' "$tmp/script")
want_boot="boot kernel initrd=initrd0 initrd=initrd1 $CMDLINE"
# iPXE ends a command at a "||" word, so a trailing "|| goto failed" is not part of the cmdline
if [ "$boot_line" = "$want_boot" ] || [ "$boot_line" = "$want_boot || goto failed" ]; then
	ok "/_/ipxe: boot line is exactly '$want_boot' (optionally followed by '|| goto failed')"
else
	not_ok "/_/ipxe: boot line" "got:  $boot_line" "want: $want_boot"
fi
check "/_/ipxe: exactly one boot line" test "$(grep -c '^boot ' "$tmp/script")" = 1
check "/_/ipxe: no \${...} expansions in the script" bash -c "! grep -q '\\\${' '$tmp/script'"

fetch "/_/ipxe?mac=$MAC&arch=0" -H 'Host: evil.example:666'
check "/_/ipxe with a forged Host header: URLs still name 127.0.0.1:$PORT" \
	bash -c "grep -q '$BASE/_/file/$DMAC/kernel' '$tmp/body' && ! grep -q evil '$tmp/body'"

fetch "/_/ipxe?mac=52-54-00-12-34-56&arch=7"
eq "/_/ipxe with a dashed MAC and arch=7: 200" "$STATUS" 200

# downloads through the script's URLs
for pair in "kernel:$kurl:$tmp/vmlinuz" "initrd0:$i0url:$tmp/initrd-a.img" "initrd1:$i1url:$tmp/initrd-b.img"; do
	what=${pair%%:*}
	rest=${pair#*:}
	file=${rest##*:}
	url=${rest%:*}
	if [ -z "$url" ]; then
		not_ok "$what: URL in the script"
		continue
	fi
	fetch "${url#"$BASE"}"
	eq "$what: GET status 200" "$STATUS" 200
	eq "$what: sha256 identical to the source file" "$(sha "$tmp/body")" "$(sha "$file")"
	eq "$what: Content-Length = file size" "$(header Content-Length)" "$(stat -c %s "$file")"
	check "$what: not chunked" bash -c "! grep -qi '^transfer-encoding: chunked' '$tmp/headers'"
done

kpath=/_/file/$DMAC/kernel
ksize=$(stat -c %s "$tmp/vmlinuz")
fetch "$kpath" -r 0-99
eq "Range 0-99: 206" "$STATUS" 206
eq "Range 0-99: bytes" "$(sha "$tmp/body")" "$(head -c 100 "$tmp/vmlinuz" | sha256sum | cut -d' ' -f1)"
eq "Range 0-99: Content-Range" "$(header Content-Range)" "bytes 0-99/$ksize"
eq "Range 0-99: Content-Length 100" "$(header Content-Length)" 100
fetch "$kpath" -r 100-
eq "Range 100-: 206" "$STATUS" 206
eq "Range 100-: bytes" "$(sha "$tmp/body")" "$(tail -c +101 "$tmp/vmlinuz" | sha256sum | cut -d' ' -f1)"
eq "Range 100-: Content-Range" "$(header Content-Range)" "bytes 100-$((ksize - 1))/$ksize"
fetch "$kpath" -r -50
eq "Range -50 (suffix): 206" "$STATUS" 206
eq "Range -50: the last 50 bytes" "$(sha "$tmp/body")" "$(tail -c 50 "$tmp/vmlinuz" | sha256sum | cut -d' ' -f1)"
fetch "$kpath" -r 0-9,20-29
eq "Range 0-9,20-29 (multi-range): 206" "$STATUS" 206
check "multi-range: multipart/byteranges" grep -qi '^content-type: multipart/byteranges' "$tmp/headers"
check "multi-range: both parts present" bash -c "grep -qa 'bytes 0-9/$ksize' '$tmp/body' && grep -qa 'bytes 20-29/$ksize' '$tmp/body'"
fetch "$kpath" -r "$((ksize + 10))-"
eq "Range beyond the end: 416" "$STATUS" 416

fetch "$kpath" -I
eq "HEAD kernel: 200" "$STATUS" 200
eq "HEAD kernel: Content-Length = file size" "$(header Content-Length)" "$ksize"
# raw HTTP/1.0 HEAD: the server closes after the headers; nothing may follow them
if exec 3<>"/dev/tcp/127.0.0.1/$PORT"; then
	printf 'HEAD %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$kpath" >&3
	timeout 5 cat <&3 >"$tmp/head-raw"
	exec 3<&-
	after=$("$PYTHON" -c 'import sys; d = open(sys.argv[1], "rb").read(); print(len(d.split(b"\r\n\r\n", 1)[1]) if b"\r\n\r\n" in d else -1)' "$tmp/head-raw")
	eq "HEAD kernel: no body after the headers (raw socket)" "$after" 0
else
	not_ok "HEAD kernel: raw connection"
fi

fetch "/_/file/52:54:00:99:99:99/kernel"
eq "kernel requested with another MAC (static mode boots everyone): 200" "$STATUS" 200

fetch "/undionly.kpxe"
eq "/undionly.kpxe: 200" "$STATUS" 200
eq "/undionly.kpxe: the configured file" "$(sha "$tmp/body")" "$(sha "$tmp/undionly.kpxe")"
fetch "/ipxe.efi"
eq "/ipxe.efi: the configured file" "$(sha "$tmp/body")" "$(sha "$tmp/ipxe.efi")"

fetch "/_/booting?mac=$MAC"
eq "/_/booting: 200" "$STATUS" 200
check "/_/booting: an iPXE script" grep -q '^#!ipxe' "$tmp/body"

fetch "/"
eq "/: 200" "$STATUS" 200

# errors
fetch "/no/such/thing"
eq "unknown path: 404" "$STATUS" 404
body_size=$(stat -c %s "$tmp/body")
check "unknown path: short text body (1-512 bytes, got $body_size)" test "$body_size" -gt 0 -a "$body_size" -le 512
check "unknown path: text/plain" grep -qi '^content-type: text/plain' "$tmp/headers"
fetch "/_/file/$DMAC/nonexistent"
eq "/_/file/<mac>/nonexistent: 404" "$STATUS" 404
fetch "/_/file/$DMAC/initrd-2"
eq "/_/file/<mac>/initrd-2 (only 2 initrds): 404" "$STATUS" 404
fetch "/_/file/$DMAC/loader/undionly.kpxe"
eq "/_/file/<mac>/loader/undionly.kpxe (store IDs of loaders are not boot files): 404" "$STATUS" 404
fetch "/_/file/nomac/kernel"
eq "/_/file/<bad mac>/kernel: 404" "$STATUS" 404
fetch "/_/file/$DMAC"
eq "/_/file/<mac> without a name: 404" "$STATUS" 404

for p in "/_/file/$DMAC/../../etc/passwd" "/_/file/$DMAC/%2e%2e/%2e%2e/etc/passwd" \
	"/_/file/$DMAC/%2E%2E/%2E%2E/%2E%2E/etc/passwd" "/_/file/$DMAC/kernel/../../../../etc/passwd" \
	"/_/file/../../../../etc/passwd" "/_/file/$DMAC/....//....//etc/passwd" "/../../../../etc/passwd" \
	"/_/file/$DMAC/%252e%252e/%252e%252e/etc/passwd"; do
	fetch "$p"
	eq "traversal $p: 404" "$STATUS" 404
	check "traversal $p: no /etc/passwd content" bash -c "! grep -qa '^root:' '$tmp/body'"
done
# libsoup itself refuses an encoded '/' or NUL in the path with 400 before the handler runs
for p in "/_/file/$DMAC/..%2f..%2fetc%2fpasswd" "/_/file/$DMAC/..%2F..%2F..%2Fetc%2Fpasswd" \
	"/_/file/$DMAC/kernel%00.txt"; do
	fetch "$p"
	check "traversal $p: refused with 404 or 400 (got $STATUS)" test "$STATUS" = 404 -o "$STATUS" = 400
	check "traversal $p: no content" bash -c "! grep -qa '^root:' '$tmp/body'"
done

fetch "$kpath" -X POST -d x=1
eq "POST: 405" "$STATUS" 405
check "POST: Allow header lists GET" grep -qi '^allow:.*GET' "$tmp/headers"
fetch "$kpath" -X PUT -d x=1
eq "PUT: 405" "$STATUS" 405
fetch "$kpath" -X DELETE
eq "DELETE: 405" "$STATUS" 405

fetch "/_/ipxe"
eq "/_/ipxe without mac: 400" "$STATUS" 400
fetch "/_/ipxe?arch=0"
eq "/_/ipxe?arch=0 without mac: 400" "$STATUS" 400
fetch "/_/ipxe?mac=not-a-mac&arch=0"
eq "/_/ipxe with a bad mac: 400" "$STATUS" 400
fetch "/_/ipxe?mac=52:54:00:12:34&arch=0"
eq "/_/ipxe with a 5-byte mac: 400" "$STATUS" 400
fetch "/pxelinux.cfg/01-$DMAC"
eq "/pxelinux.cfg/... in iPXE mode: 404" "$STATUS" 404

check "daemon still running after all requests" kill -0 "$daemon_pid"
stop_daemon
eq "daemon exits 0 on SIGTERM" "$daemon_rc" 0

# ---------------------------------------------------------------------------
# PXELINUX mode (its cmdline may carry what iPXE would mangle)
# ---------------------------------------------------------------------------
PXL_CMDLINE='console=ttyS0 x=${y} #not-a-comment'
if start_daemon pxelinux --bootloader pxelinux -kernel "$tmp/vmlinuz" \
	-initrd "$tmp/initrd-a.img" -initrd "$tmp/initrd-b.img" -cmdline "$PXL_CMDLINE"; then
	ok "daemon starts with --bootloader pxelinux"
	fetch "/pxelinux.cfg/01-$DMAC"
	eq "/pxelinux.cfg/01-<mac>: 200" "$STATUS" 200
	cp "$tmp/body" "$tmp/pxelinux.cfg"
	kline=$(grep -E '^[[:space:]]*KERNEL ' "$tmp/pxelinux.cfg" | sed 's/^[[:space:]]*//')
	aline=$(grep -E '^[[:space:]]*APPEND ' "$tmp/pxelinux.cfg" | sed 's/^[[:space:]]*//')
	eq "pxelinux.cfg: KERNEL line" "$kline" "KERNEL $BASE/_/file/$DMAC/kernel"
	eq "pxelinux.cfg: APPEND initrd=a,b cmdline" "$aline" \
		"APPEND initrd=$BASE/_/file/$DMAC/initrd-0,$BASE/_/file/$DMAC/initrd-1 $PXL_CMDLINE"
	check "pxelinux.cfg: DEFAULT names a LABEL" bash -c \
		"d=\$(awk '\$1 == \"DEFAULT\" { print \$2 }' '$tmp/pxelinux.cfg'); grep -q \"^LABEL \$d\$\" '$tmp/pxelinux.cfg'"
	check "pxelinux.cfg: no LINUX directive (KERNEL boots non-Linux images too)" \
		bash -c "! grep -qE '^[[:space:]]*LINUX ' '$tmp/pxelinux.cfg'"
	fetch "/pxelinux.cfg/01-52:54:00:12:34:56"
	check "/pxelinux.cfg/01-<colon mac>: 200 or 404 (got $STATUS)" test "$STATUS" = 200 -o "$STATUS" = 404
	for name in default 0A4E0502 0A4E05 0A 00000000-0000-0000-0000-000000000000 01-zz-54-00-12-34-56; do
		start_ns=$(date +%s%N)
		fetch "/pxelinux.cfg/$name"
		ms=$((($(date +%s%N) - start_ns) / 1000000))
		eq "/pxelinux.cfg/$name: 404" "$STATUS" 404
		check "/pxelinux.cfg/$name: answered quickly (${ms} ms < 1000 ms)" test "$ms" -lt 1000
	done
	fetch "/ldlinux.c32"
	eq "/ldlinux.c32: 200" "$STATUS" 200
	if [ "$LDLINUX" = "$LDLINUX_SYSTEM" ]; then
		eq "/ldlinux.c32: identical to $LDLINUX_SYSTEM" "$(sha "$tmp/body")" "$(sha "$LDLINUX_SYSTEM")"
	else
		eq "/ldlinux.c32: identical to the configured file" "$(sha "$tmp/body")" "$(sha "$LDLINUX")"
		skip "/ldlinux.c32 vs $LDLINUX_SYSTEM" "syslinux-common not installed"
	fi
	eq "/ldlinux.c32: Content-Length" "$(header Content-Length)" "$(stat -c %s "$LDLINUX")"
	fetch "/lpxelinux.0"
	eq "/lpxelinux.0: the configured file" "$(sha "$tmp/body")" "$(sha "$tmp/lpxelinux.0")"
	fetch "/undionly.kpxe"
	eq "/undionly.kpxe in pxelinux mode: 404" "$STATUS" 404
	fetch "/_/file/$DMAC/initrd-1"
	eq "pxelinux mode: initrd-1 identical" "$(sha "$tmp/body")" "$(sha "$tmp/initrd-b.img")"
	fetch "/_/ipxe?mac=$MAC&arch=0"
	diag "/_/ipxe in pxelinux mode: $STATUS"
	stop_daemon
else
	not_ok "daemon starts with --bootloader pxelinux"
fi

# ---------------------------------------------------------------------------
# Kernel and initrd as http:// URLs: fetched once at startup, served identically
# ---------------------------------------------------------------------------
mkdir -p "$tmp/www"
cp "$tmp/vmlinuz" "$tmp/initrd-a.img" "$tmp/initrd-b.img" "$tmp/www/"
WEB_PORT=$(free_port)
(cd "$tmp/www" && exec "$PYTHON" -m http.server --bind 127.0.0.1 "$WEB_PORT") >"$tmp/web.log" 2>&1 </dev/null &
web_pid=$!
for _ in $(seq 1 100); do
	curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$WEB_PORT/" && break
	sleep 0.05
done
WEB=http://127.0.0.1:$WEB_PORT
: >"$tmp/web.log" # only count the daemon's requests from here on
if start_daemon remote -kernel "$WEB/vmlinuz" -initrd "$WEB/initrd-a.img,$WEB/initrd-b.img" -cmdline "$CMDLINE"; then
	ok "daemon starts with -kernel/-initrd as http:// URLs"
	fetch "/_/file/$DMAC/kernel"
	eq "remote kernel: 200" "$STATUS" 200
	eq "remote kernel: identical bytes" "$(sha "$tmp/body")" "$(sha "$tmp/vmlinuz")"
	eq "remote kernel: Content-Length" "$(header Content-Length)" "$(stat -c %s "$tmp/vmlinuz")"
	fetch "/_/file/$DMAC/initrd-0"
	eq "remote initrd0: identical bytes" "$(sha "$tmp/body")" "$(sha "$tmp/initrd-a.img")"
	fetch "/_/file/$DMAC/initrd-1"
	eq "remote initrd1: identical bytes" "$(sha "$tmp/body")" "$(sha "$tmp/initrd-b.img")"
	fetch "/_/file/$DMAC/kernel"
	eq "remote kernel, second download: identical bytes" "$(sha "$tmp/body")" "$(sha "$tmp/vmlinuz")"
	sleep 0.2
	eq "upstream saw exactly one GET /vmlinuz (fetched at startup, not per request)" \
		"$(grep -c 'GET /vmlinuz' "$tmp/web.log")" 1
	eq "upstream saw exactly one GET /initrd-a.img" "$(grep -c 'GET /initrd-a.img' "$tmp/web.log")" 1
	stop_daemon
else
	not_ok "daemon starts with -kernel/-initrd as http:// URLs" "$(tail -5 "$tmp/remote.log" 2>/dev/null)"
fi

# An unreachable or missing upstream file stops startup with a message naming the URL.
log=$tmp/remote-missing.log
PORT=$(free_port)
timeout 30 "$PIXIECORE" -config "$tmp/empty.conf" -listen-addr 127.0.0.1 -port "$PORT" -port-dhcp 0 -port-pxe 0 \
	-port-tftp 0 -ipxe-bios "$tmp/undionly.kpxe" -ipxe-efi64 "$tmp/ipxe.efi" \
	-kernel "$WEB/no-such-kernel" >"$log" 2>&1 </dev/null
rc=$?
check "missing upstream kernel: startup fails (rc $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "missing upstream kernel: message names the URL" grep -q "$WEB/no-such-kernel" "$log"

echo "1..$n"
if [ "$failed" -ne 0 ]; then
	diag "$failed of $n failed:" "${failures[@]}"
	exit 1
fi
diag "all $n passed"
exit 0
