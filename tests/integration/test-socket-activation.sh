#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Socket activation without systemd: sd-listen-harness.py binds UDP 67, 4011, 69 and TCP 80 in a
# network namespace made here and execs pixiecore with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES and
# NOTIFY_SOCKET/WATCHDOG_USEC exactly as systemd does. A second namespace, joined by a veth, is
# the client: it sends a PXE DHCPDISCOVER broadcast to 67, a PXE request to 4011, fetches a
# bootloader over TFTP and the kernel over HTTP.
#
# Cases (LISTEN_FDNAMES):
#   a) all four named "pixiecore.socket", in pixiecore.socket's order (what the shipped unit
#      passes): the daemon must tell them apart by type and port
#   b) named dhcp/pxe/tftp/http, in shuffled order
#   c) no LISTEN_FDNAMES at all (names "unknown", as from systemd before v227)
#   d) named, TFTP on UDP 6969 while the config says 69: the name must win
#
# Checks per case: READY=1 (from the daemon's pid) and STATUS= on NOTIFY_SOCKET, watchdog pings,
# the daemon holds exactly the passed listening sockets and binds no other socket on a service
# port, the four services answer, no "unexpected socket" warning, clean exit on SIGTERM.
# Case a) runs on a config made from data/pixiecore.conf.example with every key uncommented.
#
# Network rule: every address (10.78.X.0/24) lives only in the two namespaces made here, which
# are deleted on exit. Needs root. Prints TAP; exits 1 if a check failed, 77 if it cannot run.
set -u

SRC_ROOT=${PX_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD_ROOT=${PX_BUILD_ROOT:-$SRC_ROOT/build}
PIXIECORE=${PIXIECORE:-$BUILD_ROOT/src/pixiecore}
HARNESS="$SRC_ROOT/tests/integration/sd-listen-harness.py"
EXAMPLE_CONF="$BUILD_ROOT/data/pixiecore.conf.example"
FIXTURES="$SRC_ROOT/tests/data/dhcp"
STEP_TIMEOUT=${PX_SA_STEP_TIMEOUT:-10}

skip_all() {
	echo "1..0 # SKIP $*"
	exit 77
}

[[ $(id -u) -eq 0 ]] || skip_all "needs root (network namespaces)"
for t in ip curl python3 sha256sum; do
	command -v "$t" >/dev/null 2>&1 || skip_all "$t not installed"
done
[[ -x $PIXIECORE ]] || skip_all "pixiecore not built ($PIXIECORE)"
[[ -r $HARNESS ]] || skip_all "no $HARNESS"
ip netns add "pxsa-probe-$$" 2>/dev/null || skip_all "cannot create network namespaces"
ip netns del "pxsa-probe-$$"

tmp=$(mktemp -d /tmp/pxsa.XXXXXX)
NS_S="pxsa-$$-srv"
NS_C="pxsa-$$-cli"
X=$(($$ % 250 + 2))
SERVER_IP="10.78.$X.1"
CLIENT_IP="10.78.$X.2"
harness_pid=
namespaces=()

cleanup() {
	local pid ns i
	if [[ -n $harness_pid ]] && kill -0 "$harness_pid" 2>/dev/null; then
		kill -TERM "$harness_pid" 2>/dev/null
		for ((i = 0; i < 30; i++)); do
			kill -0 "$harness_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$harness_pid" 2>/dev/null
		wait "$harness_pid" 2>/dev/null
	fi
	for ns in "${namespaces[@]}"; do
		# anything still running in our own namespaces was started by this test
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	if [[ ${PX_KEEP_TMP:-0} == 1 ]]; then
		echo "# kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

n=0
failed=0
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
}
check() { # check DESCRIPTION COMMAND...
	local d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}
diag() { sed 's/^/# /' "$@" >&2; }

# --- namespaces: server (eth0 .1) <-> client (eth0 .2) -----------------------------------------
for ns in "$NS_S" "$NS_C"; do
	ip netns add "$ns" || { echo "Bail out! ip netns add $ns"; exit 1; }
	namespaces+=("$ns")
	ip -n "$ns" link set lo up
done
ip -n "$NS_S" link add eth0 type veth peer name eth0 netns "$NS_C"
ip -n "$NS_S" addr add "$SERVER_IP/24" dev eth0
ip -n "$NS_C" addr add "$CLIENT_IP/24" dev eth0
ip -n "$NS_S" link set eth0 up
ip -n "$NS_C" link set eth0 up

# --- payload and config -----------------------------------------------------------------------
head -c 1000000 /dev/urandom >"$tmp/kernel"
head -c 100000 /dev/urandom >"$tmp/initrd-a"
head -c 50000 /dev/urandom >"$tmp/initrd-b"
head -c 70000 /dev/urandom >"$tmp/undionly.kpxe"
head -c 90000 /dev/urandom >"$tmp/ipxe.efi"
head -c 80000 /dev/urandom >"$tmp/ipxe.pxe"

# The example config with every key uncommented (except those without a usable default), the
# payload appended, and the iPXE files pointed at our stand-ins.
if [[ -r $EXAMPLE_CONF ]]; then
	sed -E -e '/^#(kernel|initrd|api|ipxe-efi32|interface)=/d' -e 's/^#([a-z0-9-]+=)/\1/' \
		-e "s|^ipxe-bios=.*|ipxe-bios=$tmp/undionly.kpxe|" \
		-e "s|^ipxe-efi64=.*|ipxe-efi64=$tmp/ipxe.efi|" \
		-e "s|^ipxe-ipxe=.*|ipxe-ipxe=$tmp/ipxe.pxe|" \
		"$EXAMPLE_CONF" >"$tmp/example.conf"
	printf 'kernel=%s\ninitrd=%s,%s\ninterface=eth0\n' "$tmp/kernel" "$tmp/initrd-a" "$tmp/initrd-b" \
		>>"$tmp/example.conf"
else
	echo "# $EXAMPLE_CONF not built; case a uses the plain config" >&2
fi
cat >"$tmp/plain.conf" <<EOF
[pixiecore]
kernel=$tmp/kernel
initrd=$tmp/initrd-a,$tmp/initrd-b
cmdline=console=ttyS0
ipxe-bios=$tmp/undionly.kpxe
ipxe-efi64=$tmp/ipxe.efi
ipxe-ipxe=$tmp/ipxe.pxe
EOF
chmod -R a+rX "$tmp"

sha() { sha256sum <"$1" | cut -d' ' -f1; }
in_s() { ip netns exec "$NS_S" "$@"; }
in_c() { ip netns exec "$NS_C" "$@"; }

# wait_for SECONDS COMMAND...: poll every 0.1 s
wait_for() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# --- one case ---------------------------------------------------------------------------------
# run_case LABEL CONFIG TFTP_PORT FDSPEC...
run_case() {
	local label=$1 conf=$2 tftp_port=$3
	shift 3
	local dir="$tmp/$label" spec fdargs=() daemon_pid pid line
	mkdir -p "$dir"
	chmod 755 "$dir"
	for spec in "$@"; do fdargs+=(--fd "$spec"); done
	[[ $label == c-* ]] && fdargs+=(--no-names)

	echo "# case $label: fds ${*}"
	in_s python3 "$HARNESS" exec "${fdargs[@]}" --notify-log "$dir/notify.log" \
		--watchdog-usec 1000000 -- "$PIXIECORE" --config "$conf" \
		>"$dir/harness.out" 2>"$dir/daemon.log" </dev/null &
	harness_pid=$!
	wait_for "$STEP_TIMEOUT" grep -qs '^PID ' "$dir/harness.out"
	daemon_pid=$(awk '/^PID /{ print $2 }' "$dir/harness.out")
	if [[ -z $daemon_pid ]]; then
		not_ok "$label: harness started the daemon"
		diag "$dir/daemon.log"
		return
	fi

	if wait_for "$STEP_TIMEOUT" grep -qs -e ' READY=1$' -e '^- EXIT' "$dir/notify.log" &&
		grep -q "^$daemon_pid READY=1\$" "$dir/notify.log"; then
		ok "$label: READY=1 on NOTIFY_SOCKET from the daemon (pid $daemon_pid)"
	else
		not_ok "$label: READY=1 on NOTIFY_SOCKET from the daemon (pid $daemon_pid)"
		diag "$dir/notify.log" "$dir/daemon.log"
		kill -TERM "$harness_pid" 2>/dev/null
		wait "$harness_pid" 2>/dev/null
		harness_pid=
		return
	fi
	line=$(grep -m1 "^$daemon_pid STATUS=" "$dir/notify.log" | cut -d' ' -f2-)
	if [[ $line == "STATUS=Serving "*"ProxyDHCP, PXE, TFTP, HTTP"* ]]; then
		ok "$label: $line"
	else
		not_ok "$label: STATUS= names all four services (got '${line:-none}')"
	fi

	# The daemon must hold every passed socket, and no other inet socket on a service port.
	local passed held extra=() missing=() inode
	passed=$(sed -n 's/^FD .* inode=\([0-9]*\)$/\1/p' "$dir/harness.out" | sort)
	in_s python3 "$HARNESS" sockets "$daemon_pid" >"$dir/sockets" 2>&1
	held=$(awk '{ print $1 }' "$dir/sockets" | sort)
	for inode in $passed; do
		grep -qx "$inode" <<<"$held" || missing+=("$inode")
	done
	while read -r inode proto addr state; do
		# listening sockets only (accepted HTTP connections are on port 80 too)
		[[ $state == LISTEN || $state == UNCONN ]] || continue
		case ${addr##*:} in
		67 | 69 | 4011 | 80 | "$tftp_port") ;;
		*) continue ;;
		esac
		grep -qx "$inode" <<<"$passed" || extra+=("$proto $addr $state")
	done <"$dir/sockets"
	if ((${#missing[@]} == 0 && ${#extra[@]} == 0)); then
		ok "$label: daemon uses the $(wc -w <<<"$passed") passed sockets and bound no other on 67/4011/69/80"
	else
		not_ok "$label: passed sockets in use (missing inodes: ${missing[*]:-none}; self-bound: ${extra[*]:-none})"
		diag "$dir/harness.out" "$dir/sockets"
	fi

	# ProxyDHCP: a BIOS PXE DHCPDISCOVER broadcast from the client namespace, answered by broadcast
	if in_c timeout 20 python3 "$HARNESS" dhcp --fixture "$FIXTURES/bios-discover.hex" \
		--to 255.255.255.255:67 --device eth0 --timeout "$STEP_TIMEOUT" >"$dir/dhcp67" 2>&1 &&
		grep -qx 'option 60 PXEClient' "$dir/dhcp67" && grep -qx "siaddr $SERVER_IP" "$dir/dhcp67"; then
		ok "$label: ProxyDHCP offer on UDP 67 ($(grep '^file ' "$dir/dhcp67"))"
	else
		not_ok "$label: ProxyDHCP offer on UDP 67"
		diag "$dir/dhcp67"
	fi
	# PXE boot server: the follow-up request to 4011, unicast
	if in_c timeout 20 python3 "$HARNESS" dhcp --fixture "$FIXTURES/bios-request-4011.hex" \
		--to "$SERVER_IP:4011" --bind-port 0 --ciaddr "$CLIENT_IP" --timeout "$STEP_TIMEOUT" \
		>"$dir/dhcp4011" 2>&1 && grep -qx 'option 53 05' "$dir/dhcp4011"; then
		ok "$label: PXE boot server ACK on UDP 4011"
	else
		not_ok "$label: PXE boot server ACK on UDP 4011"
		diag "$dir/dhcp4011"
	fi
	# TFTP
	rm -f "$dir/tftp.out"
	in_c curl -sS -m "$STEP_TIMEOUT" -o "$dir/tftp.out" "tftp://$SERVER_IP:$tftp_port/undionly.kpxe" 2>"$dir/tftp.err"
	if [[ -s $dir/tftp.out && $(sha "$dir/tftp.out") == "$(sha "$tmp/undionly.kpxe")" ]]; then
		ok "$label: TFTP fetch of undionly.kpxe on UDP $tftp_port (curl)"
	else
		not_ok "$label: TFTP fetch of undionly.kpxe on UDP $tftp_port (curl)"
		diag "$dir/tftp.err"
	fi
	# HTTP: the iPXE script, then the kernel it names
	rm -f "$dir/kernel.out"
	in_c curl -sS -m "$STEP_TIMEOUT" -o "$dir/script" "http://$SERVER_IP/_/ipxe?mac=d0:50:99:4e:05:57&arch=0" 2>"$dir/http.err"
	local kurl
	kurl=$(awk '$1 == "kernel" { for (i = 2; i <= NF; i++) if ($i ~ /^http:/) { print $i; exit } }' "$dir/script" 2>/dev/null)
	[[ -n $kurl ]] && in_c curl -sS -m "$STEP_TIMEOUT" -o "$dir/kernel.out" "$kurl" 2>>"$dir/http.err"
	if [[ $kurl == "http://$SERVER_IP/"* && -s $dir/kernel.out && $(sha "$dir/kernel.out") == "$(sha "$tmp/kernel")" ]]; then
		ok "$label: HTTP iPXE script and kernel on TCP 80 (curl)"
	else
		not_ok "$label: HTTP iPXE script and kernel on TCP 80 (curl, kernel URL '${kurl:-none}')"
		diag "$dir/http.err" "$dir/script"
	fi

	# sd_event_set_watchdog() pings at half of WATCHDOG_USEC (1 s here) while the loop runs
	local pings
	pings_seen() { (($(grep -c "^$daemon_pid WATCHDOG=1\$" "$dir/notify.log") >= 2)); }
	wait_for "$STEP_TIMEOUT" pings_seen
	pings=$(grep -c "^$daemon_pid WATCHDOG=1\$" "$dir/notify.log")
	if ((pings >= 2)); then
		ok "$label: watchdog pings (WATCHDOG=1 x $pings)"
	else
		not_ok "$label: watchdog pings (WATCHDOG=1 x $pings)"
	fi

	if grep -qi 'unexpected socket\|cannot take sockets' "$dir/daemon.log"; then
		not_ok "$label: no warning about the passed sockets"
		diag "$dir/daemon.log"
	else
		ok "$label: no warning about the passed sockets"
	fi

	# SIGTERM (what systemctl stop sends) -> STOPPING=1, exit 0
	kill -TERM "$daemon_pid" 2>/dev/null
	local rc=0
	if wait_for "$STEP_TIMEOUT" grep -qs '^- EXIT' "$dir/notify.log"; then
		wait "$harness_pid"
		rc=$?
	else
		rc=timeout
	fi
	harness_pid=
	if [[ $rc == 0 ]] && grep -q "^$daemon_pid STOPPING=1\$" "$dir/notify.log"; then
		ok "$label: SIGTERM -> STOPPING=1, exit status 0"
	else
		not_ok "$label: SIGTERM -> STOPPING=1, exit status 0 (got $rc)"
		diag "$dir/notify.log" "$dir/daemon.log"
	fi
}

conf_a="$tmp/example.conf"
[[ -r $conf_a ]] || conf_a="$tmp/plain.conf"

run_case a-same-name "$conf_a" 69 \
	udp:0.0.0.0:67:pixiecore.socket udp:0.0.0.0:4011:pixiecore.socket \
	udp:0.0.0.0:69:pixiecore.socket tcp:0.0.0.0:80:pixiecore.socket
run_case b-named-shuffled "$tmp/plain.conf" 69 \
	tcp:0.0.0.0:80:http udp:0.0.0.0:69:tftp udp:0.0.0.0:67:dhcp udp:0.0.0.0:4011:pxe
run_case c-no-names "$tmp/plain.conf" 69 \
	udp:0.0.0.0:4011: tcp:0.0.0.0:80: udp:0.0.0.0:67: udp:0.0.0.0:69:
run_case d-name-beats-port "$tmp/plain.conf" 6969 \
	udp:0.0.0.0:4011:pxe udp:0.0.0.0:6969:tftp tcp:0.0.0.0:80:http udp:0.0.0.0:67:dhcp

echo "1..$n"
((failed == 0)) || echo "# $failed of $n checks failed" >&2
((failed == 0))
