#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Command line and config file handling of the real pixiecore binary:
#  - bad configuration stops startup with a non-zero exit and a message that says what is wrong
#    (flag or file and key, the offending value or path, and the package to install);
#  - the seed's command forms still parse (checked by running the daemon on 127.0.0.1 with DHCP,
#    PXE and TFTP disabled and an unprivileged HTTP port, until it logs "Serving");
#  - command line values override the config file, and the file's other values still apply.
# No root needed; nothing but 127.0.0.1. Prints TAP; exits 0 when all passed, 1 otherwise.
set -u

SOURCE_ROOT=${PX_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
PIXIECORE=${PIXIECORE:-$SOURCE_ROOT/build/src/pixiecore}
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)

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
diag() { printf '# %s\n' "$@"; }

if [ ! -x "$PIXIECORE" ]; then
	echo "1..0 # SKIP no pixiecore binary at $PIXIECORE (set PIXIECORE)"
	exit 77
fi

tmp=$(mktemp -d /tmp/pxt-config.XXXXXX)
daemon_pid=
cleanup() {
	if [ -n "$daemon_pid" ]; then
		kill -KILL "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	if [ "${PXT_KEEP:-0}" = 1 ]; then diag "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE # stdout closed (e.g. piped into head): still clean up

cd "$tmp" || exit 1
K=$tmp/vmlinuz
printf 'kernel\n' >"$K"
for f in a b c; do printf 'initrd %s\n' "$f" >"$tmp/$f"; done
for f in undionly.kpxe ipxe.efi ipxe.pxe lpxelinux.0 ldlinux.c32; do printf 'fake %s\n' "$f" >"$tmp/$f"; done
printf '[pixiecore]\n' >"$tmp/empty.conf"
# Every run: explicit config (hermetic), stand-in loaders, nothing privileged.
LOADERS=(-ipxe-bios "$tmp/undionly.kpxe" -ipxe-efi64 "$tmp/ipxe.efi" -ipxe-ipxe "$tmp/ipxe.pxe"
	-pxelinux "$tmp/lpxelinux.0" -ldlinux "$tmp/ldlinux.c32")
free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
SAFE() { # the options that keep a run unprivileged and local; sets PORT
	PORT=$(free_port)
	SAFE_ARGS=(-listen-addr 127.0.0.1 -port "$PORT" -port-dhcp 0 -port-pxe 0 -port-tftp 0)
}

# refused NAME PATTERN... -- ARGS... : pixiecore ARGS must exit non-zero within 10 s, without
# serving, and its output must match every (extended, case-insensitive) PATTERN.
refused() {
	local name=$1 pats=() rc out
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do pats+=("$1"); shift; done
	shift
	# bounded: 10 s at most, and stopped at once if it starts serving instead of refusing
	"$PIXIECORE" "$@" >"$tmp/out" 2>&1 </dev/null &
	local pid=$! i
	daemon_pid=$pid # so that the EXIT trap kills it if we are interrupted
	for i in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || break
		grep -q 'Serving' "$tmp/out" 2>/dev/null && break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		daemon_pid=
		out=$(head -c 2000 "$tmp/out")
		not_ok "$name: refused at startup" "it kept running" "output: $out"
		return
	fi
	wait "$pid"
	rc=$?
	daemon_pid=
	out=$(head -c 2000 "$tmp/out")
	if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ]; then
		not_ok "$name: refused with a non-zero exit" "exit $rc" "output: $out"
		return
	fi
	if grep -q 'Serving' "$tmp/out"; then
		not_ok "$name: refused before serving" "output: $out"
		return
	fi
	local p missing=()
	for p in "${pats[@]}"; do
		grep -qiE -- "$p" "$tmp/out" || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		ok "$name: refused (exit $rc): $(head -n1 "$tmp/out")"
	else
		not_ok "$name: message says why" "exit $rc" "output: $out" "missing: ${missing[*]}"
	fi
}

# serves NAME ARGS... : pixiecore ARGS (plus SAFE_ARGS, set by the caller via SAFE) must log
# "Serving" within 10 s; leaves it running (daemon_pid, LOG) for further checks; stop with stop.
serves() {
	local name=$1 i
	shift
	LOG=$tmp/serve-$n.log
	"$PIXIECORE" "$@" >"$LOG" 2>&1 </dev/null &
	daemon_pid=$!
	for i in $(seq 1 200); do
		grep -q 'Serving' "$LOG" 2>/dev/null && break
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.05
	done
	if grep -q 'Serving' "$LOG"; then
		ok "$name: parses and serves"
		return 0
	fi
	not_ok "$name: parses and serves" "$(tail -5 "$LOG")"
	stop
	return 1
}
stop() {
	local i
	[ -n "$daemon_pid" ] || return 0
	kill -TERM "$daemon_pid" 2>/dev/null
	for i in $(seq 1 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
}
script() { curl -s --max-time 5 "http://127.0.0.1:$PORT/_/ipxe?mac=52:54:00:12:34:56&arch=0"; }
# script_check NAME WANT-INITRD-COUNT WANT-BOOT-LINE-PREFIX
script_check() {
	local s count boot
	s=$(script)
	count=$(grep -c '^initrd ' <<<"$s")
	boot=$(grep '^boot ' <<<"$s")
	if [ "$count" = "$2" ] && [[ $boot == "$3" || $boot == "$3 ||"* ]]; then
		ok "$1: script has $2 initrds and '$3'"
	else
		not_ok "$1: script" "initrds: $count (want $2)" "boot line: $boot" "want:      $3"
	fi
}
# initrd_sha_check NAME INDEX FILE: /_/file/<mac>/initrd-INDEX is FILE
initrd_sha_check() {
	local got want
	got=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/_/file/52-54-00-12-34-56/initrd-$2" | sha256sum | cut -d' ' -f1)
	want=$(sha256sum <"$3" | cut -d' ' -f1)
	if [ "$got" = "$want" ]; then ok "$1: initrd-$2 is $(basename "$3")"; else not_ok "$1: initrd-$2 is $(basename "$3")"; fi
}

C=(-config "$tmp/empty.conf")

# ---------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------
SAFE
refused "missing kernel file" "$tmp/no-such-vmlinuz" "no such file|not found|does not exist" -- \
	"${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$tmp/no-such-vmlinuz"
refused "missing initrd file" "$tmp/no-such-initrd" -- \
	"${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K" -initrd "$tmp/a,$tmp/no-such-initrd"
refused "kernel is a directory" "$tmp" "regular file|directory" -- \
	"${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$tmp"
refused "-api together with -kernel" "api" "kernel" -- \
	"${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -api http://127.0.0.1:9/ -kernel "$K"
refused "-api with a non-http URL" "api" "ftp://127.0.0.1/" -- \
	"${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -api ftp://127.0.0.1/
refused "no kernel and no API" "kernel" "api" -- "${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}"
refused "-initrd without -kernel" "initrd" "kernel" -- "${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -initrd "$tmp/a"
refused "unknown flag" "-frobnicate" "unknown|unrecognized" -- "${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K" -frobnicate
refused "unknown --flag" "--frobnicate" -- "${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K" --frobnicate=1
refused "flag without its value" "kernel" "value|argument" -- "${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel
refused "-port 0" "port" "'0'|\b0\b" -- "${C[@]}" "${LOADERS[@]}" -kernel "$K" -listen-addr 127.0.0.1 -port 0
refused "-port 70000" "port" "70000" -- "${C[@]}" "${LOADERS[@]}" -kernel "$K" -listen-addr 127.0.0.1 -port 70000
refused "-port abc" "port" "abc" -- "${C[@]}" "${LOADERS[@]}" -kernel "$K" -listen-addr 127.0.0.1 -port abc
refused "-port-dhcp 65536" "port-dhcp" "65536" -- "${C[@]}" "${LOADERS[@]}" -kernel "$K" -port-dhcp 65536
refused "-listen-addr 300.1.2.3" "listen-addr" "300\.1\.2\.3" -- "${C[@]}" "${LOADERS[@]}" -kernel "$K" -listen-addr 300.1.2.3
refused "-listen-addr not-an-ip" "listen-addr" "not-an-ip" -- "${C[@]}" "${LOADERS[@]}" -kernel "$K" -listen-addr not-an-ip
refused "-listen-addr IPv6" "listen-addr" -- "${C[@]}" "${LOADERS[@]}" -kernel "$K" -listen-addr ::1
refused "-bootloader foo" "bootloader" "foo" "ipxe|pxelinux" -- "${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K" -bootloader foo
refused "-ipxe-bios /nonexistent" "/nonexistent" "'ipxe'|package ipxe|ipxe package" -- \
	"${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K" -ipxe-bios /nonexistent
refused "-ipxe-efi64 /nonexistent" "/nonexistent" "'ipxe'|package ipxe|ipxe package" -- \
	"${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K" -ipxe-efi64 /nonexistent
refused "-pxelinux /nonexistent under --bootloader pxelinux" "/nonexistent" "pxelinux" -- \
	"${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K" --bootloader pxelinux -pxelinux /nonexistent
refused "-interface that does not exist" "interface" "nosuchif0" -- \
	"${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K" -interface nosuchif0
refused "-max-sessions 0" "max-sessions" -- "${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K" -max-sessions 0
refused "-api-timeout soon" "api-timeout" "soon" -- "${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K" -api-timeout soon
refused "unexpected positional argument" "frob" -- "${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K" frob
refused "boot without a kernel" "boot" -- "${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" boot

# cmdlines iPXE would change: refused under ipxe (saying why), accepted under pxelinux
CMDLINE_BAD=('root=/dev/sda ${x}' 'root=/dev/sda #comment' 'root=/dev/sda  quiet' ' quiet' 'quiet ' 'a || b')
CMDLINE_WHY=('\$\{' "#" "space" "space" "space" "\|\|")
for i in "${!CMDLINE_BAD[@]}"; do
	cl=${CMDLINE_BAD[$i]}
	refused "cmdline '$cl' under ipxe" "cmdline" "${CMDLINE_WHY[$i]}" "ipxe" -- \
		"${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K" -cmdline "$cl"
	SAFE
	if serves "cmdline '$cl' under --bootloader pxelinux" "${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" \
		-kernel "$K" --bootloader pxelinux -cmdline "$cl"; then
		cfg=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/pxelinux.cfg/01-52-54-00-12-34-56")
		appended=$(grep -E '^[[:space:]]*APPEND' <<<"$cfg" | sed -E 's/^[[:space:]]*APPEND ?//')
		if [ "$appended" = "$cl" ]; then
			ok "cmdline '$cl' under pxelinux: APPEND carries it unchanged"
		else
			not_ok "cmdline '$cl' under pxelinux: APPEND carries it unchanged" "APPEND: '$appended'"
		fi
		stop
	fi
done
# -bootmsg becomes "echo <line>" in the iPXE script: iPXE syntax in it must not get through
for msg in 'Booting ${net0/mac}' 'hello && chain http://127.0.0.1:9/x' 'hello #note' 'a || b'; do
	refused "-bootmsg '$msg' under ipxe" "bootmsg|message" -- \
		"${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K" -bootmsg "$msg"
done
SAFE
if serves "-bootmsg 'a && b \${x}' under --bootloader pxelinux (SAY lines)" "${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" \
	-kernel "$K" --bootloader pxelinux -bootmsg 'a && b ${x}'; then
	cfg=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/pxelinux.cfg/01-52-54-00-12-34-56")
	if grep -qxF 'SAY a && b ${x}' <<<"$cfg"; then ok "-bootmsg under pxelinux: shown by a SAY line"; else not_ok "-bootmsg under pxelinux: SAY line" "$cfg"; fi
	stop
fi
SAFE
if serves "-bootmsg 'Booting, please wait' under ipxe" "${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" \
	-kernel "$K" -bootmsg 'Booting, please wait'; then
	if script | grep -qxF 'echo Booting, please wait'; then ok "-bootmsg under ipxe: echoed"; else not_ok "-bootmsg under ipxe: echoed"; fi
	stop
fi
refused "cmdline with a tab, even under pxelinux" "cmdline" "control" -- \
	"${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K" --bootloader pxelinux -cmdline "$(printf 'a\tb')"
refused "cmdline longer than the kernel accepts" "cmdline" "bytes|long" -- \
	"${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K" -cmdline "$(printf 'x%.0s' $(seq 1 3000))"

# config files
printf '[pixiecore]\nkernel = %s\nfrobnicate = 1\n' "$K" >"$tmp/unknown-key.conf"
refused "config file with an unknown key" "unknown-key\.conf" "frobnicate" -- \
	-config "$tmp/unknown-key.conf" "${SAFE_ARGS[@]}" "${LOADERS[@]}"
printf '[pixiecore]\nkernel = %s\n[network]\nport = 80\n' "$K" >"$tmp/unknown-section.conf"
refused "config file with an unknown section" "unknown-section\.conf" "network" -- \
	-config "$tmp/unknown-section.conf" "${SAFE_ARGS[@]}" "${LOADERS[@]}"
printf '[pixiecore]\nkernel = %s\nport = eighty\n' "$K" >"$tmp/bad-value.conf"
refused "config file with a bad value" "bad-value\.conf" "port" "eighty" -- \
	-config "$tmp/bad-value.conf" -listen-addr 127.0.0.1 -port-dhcp 0 -port-pxe 0 -port-tftp 0 "${LOADERS[@]}"
printf '[pixiecore]\nkernel = %s\nbootloader = grub\n' "$K" >"$tmp/bad-bootloader.conf"
refused "config file with bootloader = grub" "bad-bootloader\.conf" "bootloader" "grub" -- \
	-config "$tmp/bad-bootloader.conf" "${SAFE_ARGS[@]}" "${LOADERS[@]}"
printf '[pixiecore]\nkernel = %s\ndebug = maybe\n' "$K" >"$tmp/bad-bool.conf"
refused "config file with debug = maybe" "bad-bool\.conf" "debug" "maybe" -- \
	-config "$tmp/bad-bool.conf" "${SAFE_ARGS[@]}" "${LOADERS[@]}"
printf 'this is not a key file\n' >"$tmp/garbage.conf"
refused "config file that is not a key file" "garbage\.conf" -- \
	-config "$tmp/garbage.conf" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K"
printf '[pixiecore]\nkernel = %s\ncmdline = a ${b}\n' "$K" >"$tmp/bad-cmdline.conf"
refused "config file with a cmdline iPXE would expand" "cmdline" '\$\{' -- \
	-config "$tmp/bad-cmdline.conf" "${SAFE_ARGS[@]}" "${LOADERS[@]}"
refused "--config pointing to a missing file" "$tmp/no-such\.conf" -- \
	--config "$tmp/no-such.conf" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K"
refused "--config= (empty)" "config" -- --config= "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K"

# ---------------------------------------------------------------------------
# Forms that must work
# ---------------------------------------------------------------------------
for h in -help --help -h; do
	timeout 10 "$PIXIECORE" "$h" >"$tmp/help" 2>&1 </dev/null
	rc=$?
	if [ "$rc" -eq 0 ] && grep -qi 'usage' "$tmp/help" && grep -q -- '-kernel' "$tmp/help"; then
		ok "pixiecore $h: exit 0 with usage"
	else
		not_ok "pixiecore $h: exit 0 with usage" "exit $rc" "$(head -3 "$tmp/help")"
	fi
done
timeout 10 "$PIXIECORE" -version >"$tmp/version" 2>&1 </dev/null
rc=$?
if [ "$rc" -eq 0 ] && grep -qi 'pixiecore' "$tmp/version"; then ok "pixiecore -version: exit 0"; else not_ok "pixiecore -version" "exit $rc"; fi

SAFE
if serves "seed form: -kernel K -initrd a,b,c --cmdline x -debug" "${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" \
	-kernel "$K" -initrd "$tmp/a,$tmp/b,$tmp/c" --cmdline x -debug; then
	script_check "seed form -initrd a,b,c" 3 "boot kernel initrd=initrd0 initrd=initrd1 initrd=initrd2 x"
	initrd_sha_check "seed form -initrd a,b,c" 2 "$tmp/c"
	sleep 0.1
	if grep -q 'GET /_/ipxe' "$LOG"; then ok "seed form: -debug logs requests"; else not_ok "seed form: -debug logs requests"; fi
	stop
fi
SAFE
if serves "seed form: boot K a b" "${C[@]}" boot "$K" "$tmp/a" "$tmp/b" "${SAFE_ARGS[@]}" "${LOADERS[@]}"; then
	script_check "boot K a b" 2 "boot kernel initrd=initrd0 initrd=initrd1"
	initrd_sha_check "boot K a b" 1 "$tmp/b"
	stop
fi
SAFE
if serves "boot K a b after the flags" "${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" boot "$K" "$tmp/a" "$tmp/b"; then
	script_check "boot K a b after the flags" 2 "boot kernel initrd=initrd0 initrd=initrd1"
	stop
fi
SAFE
if serves "--kernel=K --initrd=a --cmdline=x" "${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" --kernel="$K" --initrd="$tmp/a" --cmdline=x; then
	script_check "--kernel=K" 1 "boot kernel initrd=initrd0 x"
	stop
fi
SAFE
if serves "-initrd repeated: -initrd a -initrd b" "${C[@]}" "${SAFE_ARGS[@]}" "${LOADERS[@]}" -kernel "$K" -initrd "$tmp/a" -initrd "$tmp/b"; then
	script_check "-initrd a -initrd b" 2 "boot kernel initrd=initrd0 initrd=initrd1"
	initrd_sha_check "-initrd a -initrd b" 0 "$tmp/a"
	stop
fi
SAFE
if serves "short flags: -d -l 127.0.0.1 -p PORT" "${C[@]}" -port-dhcp 0 -port-pxe 0 -port-tftp 0 "${LOADERS[@]}" \
	-kernel "$K" -d -l 127.0.0.1 -p "$PORT"; then
	script_check "short flags" 0 "boot kernel"
	stop
fi

# ---------------------------------------------------------------------------
# Config file values, and the command line on top of them
# ---------------------------------------------------------------------------
P1=$(free_port)
cat >"$tmp/full.conf" <<EOF
# a comment
[pixiecore]
kernel = $K
initrd = $tmp/a
cmdline = from-file
listen-addr = 127.0.0.1
port = $P1
port-dhcp = 0
port-pxe = 0
port-tftp = 0
ipxe-bios = $tmp/undionly.kpxe
ipxe-efi64 = $tmp/ipxe.efi
debug = true
EOF
PORT=$P1
if serves "config file alone" -config "$tmp/full.conf"; then
	if grep -q "HTTP :$P1" "$LOG"; then ok "config file alone: HTTP port from the file"; else not_ok "config file alone: HTTP port from the file" "$(grep Serving "$LOG")"; fi
	script_check "config file alone" 1 "boot kernel initrd=initrd0 from-file"
	stop
fi
PORT=$(free_port)
if serves "config file + -port/-cmdline on the command line" -config "$tmp/full.conf" -port "$PORT" -cmdline from-cli; then
	if grep -q "HTTP :$PORT" "$LOG"; then ok "command line -port overrides the file"; else not_ok "command line -port overrides the file" "$(grep Serving "$LOG")"; fi
	script_check "command line -cmdline overrides the file, the file's initrd stays" 1 "boot kernel initrd=initrd0 from-cli"
	stop
fi
PORT=$(free_port)
if serves "config file + -initrd b" -config "$tmp/full.conf" -port "$PORT" -initrd "$tmp/b"; then
	script_check "command line -initrd replaces the file's list" 1 "boot kernel initrd=initrd0 from-file"
	initrd_sha_check "command line -initrd replaces the file's list" 0 "$tmp/b"
	stop
fi
PORT=$(free_port)
if serves "config file + -cmdline initrd=x (a value that starts with 'initrd')" -config "$tmp/full.conf" -port "$PORT" -cmdline initrd=x; then
	script_check "a flag value starting with 'initrd' keeps the file's initrd" 1 "boot kernel initrd=initrd0 initrd=x"
	stop
fi
PORT=$(free_port)
if serves "-config F boot K b" -config "$tmp/full.conf" -port "$PORT" boot "$K" "$tmp/b"; then
	script_check "boot K b after -config: b replaces the file's initrd" 1 "boot kernel initrd=initrd0 from-file"
	initrd_sha_check "boot K b after -config" 0 "$tmp/b"
	stop
fi
PORT=$(free_port)
if serves "--config=F form" --config="$tmp/full.conf" -port "$PORT"; then
	script_check "--config=F" 1 "boot kernel initrd=initrd0 from-file"
	stop
fi
PORT=$(free_port)
if serves "config file + --bootloader pxelinux on the command line with a cmdline the file refuses under ipxe" \
	-config "$tmp/bad-cmdline.conf" -listen-addr 127.0.0.1 -port "$PORT" -port-dhcp 0 -port-pxe 0 -port-tftp 0 \
	"${LOADERS[@]}" --bootloader pxelinux; then
	stop
fi

echo "1..$n"
if [ "$failed" -ne 0 ]; then
	diag "$failed of $n failed:" "${failures[@]}"
	exit 1
fi
diag "all $n passed"
exit 0
