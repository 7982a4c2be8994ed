#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end fault test: pixiecore is killed in the middle of a real firmware boot and comes back
# through socket activation, and the machine still boots.
#
#   tests/lab/run-e2e-restart.sh [MODE]      MODE: bios (default) | uefi-ipxe
#
# pixiecore runs in the lab's server namespace under tests/integration/sd-listen-harness.py
# activate, which does what systemd does for pixiecore.socket + pixiecore.service: it holds UDP 67,
# 4011, 69 and TCP 80 (all named "pixiecore.socket", in the unit's order), starts the daemon when
# one of them becomes readable, and starts it again on the next packet or connection after it
# died. A QEMU VM (SeaBIOS + QEMU's iPXE ROM for bios) netboots the lab payload while the daemon
# is SIGKILLed at each kill point of PXL_KILL_AT in turn (default "startup kernel"):
#   startup  the daemon the VM's first DHCP packet started, as soon as it runs pixiecore (usually
#            before READY=1; printed): the packet is still queued and starts the next one
#   dhcp     right after the daemon logged its ProxyDHCP offer to the VM
#   kernel   as soon as the daemon logged GET /_/file/ (the kernel download began): iPXE's fetch
#            fails, the script's ":failed" branch sleeps 5 s and chains the script URL again;
#            that connection waits in the listening socket and starts a new daemon
#
# Checks: no daemon before the first packet; each kill ended a daemon by SIGKILL and a new one
# was started after it because of a packet or connection (which socket, and how long after the
# kill, is printed); kills+1 .. kills+3 starts in all (no restart loop); the guest reached
# PXL-BOOT-OK with both initrd markers and the cmdline token within PXL_TIMEOUT; a daemon sent
# the kernel in full; with "kernel": the killed daemon had not, and the serial console shows
# the script's retry branch.
#
# Environment: PIXIECORE, PXL_CACHE, PXL_TIMEOUT (VM time limit, default 300 s), PXL_KILL_AT,
# PXL_KEEP_RUN=1, PXL_VERBOSE=1 (print the logs on success too).
# Exit: 0 passed, 1 failed, 77 cannot run here (meson's "skipped").
set -euo pipefail

MODE=${1:-bios}
case $MODE in
bios | uefi-ipxe) ;;
*)
	echo "usage: $0 [bios|uefi-ipxe]" >&2
	exit 2
	;;
esac
NAME="e2e $MODE restart"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/lab/lab.sh
source "$HERE/lab.sh"

lab_find_pixiecore "$NAME"
HARNESS=$ROOT/tests/integration/sd-listen-harness.py
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=$(command -v python3 || true)
if [[ -z $PYTHON || ! -r $HARNESS ]]; then
	echo "$NAME: SKIP: needs python3 and $HARNESS" >&2
	exit 77
fi
if ! lab_require_root_tools; then
	echo "$NAME: SKIP: the lab cannot run here" >&2
	exit 77
fi

TIMEOUT=${PXL_TIMEOUT:-300}
read -r -a KILL_POINTS <<<"${PXL_KILL_AT:-startup kernel}"
for p in "${KILL_POINTS[@]}"; do
	case $p in
	startup | dhcp | kernel) ;;
	*)
		echo "$NAME: PXL_KILL_AT: unknown kill point '$p' (startup, dhcp, kernel)" >&2
		exit 2
		;;
	esac
done
# every kill costs one start; allow two spare starts (e.g. a packet that arrives while one dies)
MAX_STARTS=$((${#KILL_POINTS[@]} + 3))
VM_MAC=$(lab_vm_mac "$MODE")
TOKEN="pxl.test=restart-$RANDOM"
CMDLINE="console=ttyS0 $TOKEN quiet"

lab_payload "${PXL_CACHE}"
lab_up

PXLOG=$PXL_RUN_DIR/pixiecore.log
HARNESS_OUT=$PXL_RUN_DIR/harness.out
EVENTS=$PXL_RUN_DIR/events
KILLS=$PXL_RUN_DIR/kills
SERIAL=$PXL_RUN_DIR/serial-$MODE.log
: >"$PXLOG"
: >"$EVENTS"
: >"$KILLS"

report() {
	echo "---- harness events ----------------------------------------------------"
	lab_tail "$EVENTS" 20 'event| '
	lab_tail "$KILLS" 10 'kill| '
	echo "---- pixiecore log (all instances, tail) -------------------------------"
	lab_tail "$PXLOG" 80 'pixiecore| '
	echo "---- serial console (tail) ---------------------------------------------"
	lab_tail "$SERIAL" 60 'serial| '
	echo "------------------------------------------------------------------------"
}

# The harness: its stdout ("FD ...", "PID ...") to HARNESS_OUT, the daemons' stderr to PXLOG.
echo "$NAME: $PIXIECORE under sd-listen-harness.py activate in $PXL_NS_SRV ($PXL_SERVER_IP)"
# shellcheck disable=SC2016 # expanded by the inner bash
lab_bg "$PXL_NS_SRV" "$HARNESS_OUT" bash -c 'log=$1; shift; exec "$@" 2>>"$log"' _ "$PXLOG" \
	"$PYTHON" "$HARNESS" activate \
	--fd udp:0.0.0.0:67:pixiecore.socket --fd udp:0.0.0.0:4011:pixiecore.socket \
	--fd udp:0.0.0.0:69:pixiecore.socket --fd tcp:0.0.0.0:80:pixiecore.socket \
	--notify-log "$PXL_RUN_DIR/notify.log" --events "$EVENTS" --max-starts "$MAX_STARTS" -- \
	"$PIXIECORE" -kernel "$PXL_PAYLOAD_DIR/vmlinuz" \
	-initrd "$PXL_PAYLOAD_DIR/initrd-a.cpio.gz,$PXL_PAYLOAD_DIR/initrd-b.cpio.gz" \
	--cmdline "$CMDLINE" -debug
HARNESS_PID=$LAB_BG_PID
for ((i = 0; i < 100; i++)); do
	(($(grep -c '^FD ' "$HARNESS_OUT" 2>/dev/null || true) >= 4)) && break
	sleep 0.05
done
if (($(grep -c '^FD ' "$HARNESS_OUT" 2>/dev/null || true) < 4)); then
	echo "$NAME: FAIL: the harness did not bind its four sockets"
	lab_tail "$HARNESS_OUT" 20 'harness| '
	lab_tail "$PXLOG" 20 'harness| '
	exit 1
fi
sleep 1
ok=1
if grep -q '^PID ' "$HARNESS_OUT"; then
	echo "$NAME: FAIL: the daemon was started before any packet arrived"
	ok=0
fi

# The killer: for each kill point in turn, wait (bounded) until the running daemon reaches it,
# then SIGKILL that daemon. Times are taken with the harness's clock, time.monotonic_ns():
#   startup  as soon as the started child runs pixiecore (exec done; usually before READY=1)
#   dhcp     the daemon logged its ProxyDHCP offer to the VM
#   kernel   the daemon logged GET /_/file/ (the kernel download began)
# Points are taken in order, each looked for only in what the log got after the previous kill
# (so "startup dhcp" cannot work when the first daemon offered before its kill).
"$PYTHON" - "$HARNESS_OUT" "$PXLOG" "$KILLS" "$VM_MAC" "$TIMEOUT" "$HARNESS_PID" "$PIXIECORE" "${KILL_POINTS[@]}" <<'KILLER' &
import os, sys, time
harness_out, log, kills, mac, timeout, harness, exe = sys.argv[1:8]
points = sys.argv[8:]
want = {'dhcp': mac + ' offered', 'kernel': 'GET /_/file/'}
deadline = time.monotonic() + int(timeout)
offset, last = 0, None

def running_daemon():
    with open(harness_out) as f:
        pids = [line.split()[1] for line in f if line.startswith('PID ')]
    if not pids or pids[-1] == last:
        return None
    try:
        os.kill(int(pids[-1]), 0)
    except ProcessLookupError:
        return None
    return pids[-1]

for point in points:
    while True:
        if time.monotonic() > deadline:
            sys.exit(1)
        os.kill(int(harness), 0)  # the harness is gone: give up (raises)
        pid = running_daemon()
        if pid:
            with open(log, 'rb') as f:
                f.seek(offset)
                seen = f.read().decode('utf-8', 'replace')
            if point == 'startup':
                try:  # once the child runs pixiecore (no longer the harness's fork)
                    hit = os.readlink(f'/proc/{pid}/exe') == exe
                except OSError:
                    hit = False
            else:
                hit = want[point] in seen
            if hit:
                ns = time.monotonic_ns()  # before the kill: a restart can follow within a millisecond
                os.kill(int(pid), 9)
                offset = os.path.getsize(log)  # what the daemons had logged by then
                with open(kills, 'a') as f:
                    f.write(f'{ns} KILL {pid} {point} {offset}\n')
                last = pid
                break
        time.sleep(0.001 if point == 'startup' else 0.02)
KILLER
KILLER_PID=$!
_PXL_PIDS+=("$KILLER_PID")

lab_run_vm "$MODE" "$SERIAL" "$TIMEOUT" || ok=0
wait "$KILLER_PID" 2>/dev/null || true

# --- checks -------------------------------------------------------------------------------------
mapfile -t starts < <(awk '$2 == "START" { print $1, $3 }' "$EVENTS")
nkills=0
while read -r kill_ns _ killed_pid point _; do
	nkills=$((nkills + 1))
	status=$(awk -v p="$killed_pid" '$2 == "EXIT" && $3 == p { print $4 }' "$EVENTS")
	ready=$(awk -v p="$killed_pid" -v k="$kill_ns" '$2 == "READY" && $3 == p { print ($1 < k ? "after" : "before") }' "$EVENTS")
	if [[ $status == -9 ]]; then
		echo "$NAME: kill at $point: daemon $killed_pid ended by SIGKILL, ${ready:-before} READY=1"
	else
		echo "$NAME: FAIL: kill at $point: daemon $killed_pid did not end by SIGKILL (exit status '${status:-none}')"
		ok=0
	fi
	# A daemon started after the kill, by a packet or connection (TRIGGER right before START).
	restart=$(awk -v k="$kill_ns" '$2 == "TRIGGER" && $1 > k { t = $1; fd = $3; next }
		$2 == "START" && $1 > k && t { print $1, $3, fd; exit }' "$EVENTS")
	if [[ -n $restart ]]; then
		read -r restart_ns restart_pid restart_fd <<<"$restart"
		port=$(awk -v n=$((restart_fd + 3)) '$1 == "FD" && $2 == n { print $3, $4 }' "$HARNESS_OUT")
		delay=$(awk -v a="$kill_ns" -v b="$restart_ns" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
		echo "$NAME: kill at $point: restarted by socket activation (pid $restart_pid) ${delay} s later, woken by $port"
	else
		echo "$NAME: FAIL: kill at $point: no daemon started after it"
		ok=0
	fi
done <"$KILLS"
if ((nkills != ${#KILL_POINTS[@]})); then
	echo "$NAME: FAIL: $nkills of ${#KILL_POINTS[@]} kills happened (points: ${KILL_POINTS[*]})"
	ok=0
fi
nstarts=${#starts[@]}
if ((nstarts < nkills + 1 || nstarts > nkills + 3)); then
	echo "$NAME: FAIL: $nstarts daemon starts for $nkills kills (want $((nkills + 1))..$((nkills + 3)))"
	ok=0
fi
if lab_assert_boot "$SERIAL"; then
	echo "$NAME: the guest booted ${LAB_VM_OK_SECONDS:-?} s after power-on, with the daemon killed $nkills time(s)"
else
	ok=0
fi
if ! lab_cmdline_has "$SERIAL" "$TOKEN"; then
	echo "$NAME: FAIL: kernel cmdline lacks '$TOKEN' (got: '$(lab_cmdline_of "$SERIAL")')"
	ok=0
fi
# A daemon served the kernel to the end ("sent kernel (N bytes)"; all instances log to PXLOG) ...
kernel_size=$(stat -c %s "$PXL_PAYLOAD_DIR/vmlinuz")
if grep -q "sent kernel ($kernel_size bytes)" "$PXLOG"; then
	echo "$NAME: a restarted daemon sent the kernel in full ($kernel_size bytes)"
else
	echo "$NAME: FAIL: no daemon logged 'sent kernel ($kernel_size bytes)'"
	ok=0
fi
if [[ " ${KILL_POINTS[*]} " == *" kernel "* ]]; then
	# ... but not the one killed at "kernel": the kill really interrupted the download, and
	# iPXE recovered through the script's retry branch.
	offset=$(awk '$4 == "kernel" { print $5 }' "$KILLS")
	if [[ -z $offset ]] || head -c "$offset" "$PXLOG" | grep -q 'sent kernel'; then
		echo "$NAME: FAIL: the kernel was sent in full before the kill at 'kernel' (or no such kill)"
		ok=0
	fi
	if _pxl_clean "$SERIAL" | grep -q 'pixiecore: boot failed, retrying'; then
		echo "$NAME: iPXE took the script's retry branch (seen on the serial console)"
	else
		echo "$NAME: FAIL: no 'pixiecore: boot failed, retrying' on the serial console"
		ok=0
	fi
fi

# Clean stop: SIGTERM to the harness stops the running daemon (status 0 expected).
kill -TERM "$HARNESS_PID" 2>/dev/null || true
for ((i = 0; i < 150; i++)); do
	kill -0 "$HARNESS_PID" 2>/dev/null || break
	sleep 0.1
done

if ((ok)); then
	[[ ${PXL_VERBOSE:-0} == 1 ]] && report
	echo "$NAME: PASS (daemon starts: $nstarts)"
	exit 0
fi
report
echo "$NAME: FAILED"
exit 1
