#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Faults around the persisted boot policy (targets.json and file-id.key in the state directory),
# against the real daemon on a private system bus (dbus-daemon, <type>system</type>, pixiecore's
# bus policy), loopback only (-listen-addr 127.0.0.1, HTTP on a free port, no DHCP/PXE/TFTP).
# Calls are made as root, which needs no polkit.
#
#  (i)   crash safety: a writer makes SetMachineTarget calls back to back (each for a new MAC)
#        while the daemon is SIGKILLed 20 times at random moments and started again each time.
#        Afterwards targets.json parses, every call that returned success is in it with exactly
#        the values sent (no acknowledged write lost, none mixed up), no restart found it
#        damaged, and no temporary file is left once the daemon has started again.
#  (ii)  disk full: the state directory on a 256 KiB tmpfs in a private mount namespace, filled
#        up. SetMachineTarget, IgnoreMachine and SetDefaultTarget fail with
#        org.pixiecore.Pixiecore1.Error.StorageFailed naming targets.json and "No space left on
#        device"; the daemon keeps running and serving (D-Bus and HTTP); targets.json is
#        byte-identical and no temporary file is left; a restart on the full disk loads it;
#        once space is freed, changes work again. A first start on a full disk (no key yet)
#        runs degraded with a warning naming the directory and the problem.
#  (iii) unwritable state directory: read-only bind mounts (even root cannot write) and, as
#        nobody, a 0500 directory. An existing but unwritable directory means degraded running:
#        the daemon starts, warns naming the directory and the problem, serves the persisted
#        targets and refuses changes with StorageFailed; without a key file it uses a key kept
#        in memory (warning says file links will not survive a restart). A state directory that
#        does not exist and cannot be created, and a key file that exists but cannot be read,
#        stop startup with a non-zero exit and a message naming the path and the problem.
#  (iv)  a corrupt targets.json at startup (truncated JSON, binary garbage): the daemon starts,
#        logs it, moves it aside byte for byte to targets.json.corrupt-*, and can save again.
#
# Needs root, dbus-daemon, busctl, gdbus, curl, unshare, nsenter, mount, setpriv, python3.
# Prints TAP; exits 0 when all passed, 1 otherwise, 77 when it cannot run here. Every wait and
# loop is bounded; everything started here is stopped and the temp dir removed (PXT_KEEP=1).
set -u

SOURCE_ROOT=${PX_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/integration/testlib.sh
source "$SOURCE_ROOT/tests/integration/testlib.sh"
BUILD_ROOT=${PX_BUILD_ROOT:-$SOURCE_ROOT/build}
PIXIECORE=${PIXIECORE:-$BUILD_ROOT/src/pixiecore}
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3 || echo python3)
BUS_NAME=org.pixiecore.Pixiecore1
OBJ=/org/pixiecore/Pixiecore1
IFACE=org.pixiecore.Pixiecore1.Manager
ERR=org.pixiecore.Pixiecore1.Error
KILLS=${PXT_KILLS:-20}

[ "$(id -u)" -eq 0 ] || skip_all "needs root (mount namespaces, tmpfs, setpriv)"
for t in dbus-daemon busctl gdbus curl unshare nsenter mount setpriv timeout cmp; do
	command -v "$t" >/dev/null 2>&1 || skip_all "$t not installed"
done
[ -x "$PIXIECORE" ] || skip_all "no pixiecore binary at $PIXIECORE (set PIXIECORE)"
[ -r "$SOURCE_ROOT/dbus/org.pixiecore.Pixiecore1.conf" ] || skip_all "no dbus/org.pixiecore.Pixiecore1.conf"
unshare -m true 2>/dev/null || skip_all "cannot create mount namespaces"

tmp=$(mktemp -d /tmp/pxt-faults.XXXXXX)
chmod 755 "$tmp" # nobody must reach the bus socket and the files
bus_pid=
daemon_pid=
holder_pid=
writer_pid=

stop_daemon() {
	stop_pid "$daemon_pid"
	daemon_pid=
}
cleanup() {
	trap '' INT TERM
	stop_pid "$writer_pid"
	stop_daemon
	stop_pid "$holder_pid" # its mount namespace (and the tmpfs in it) goes with it
	stop_pid "$bus_pid"
	chmod -R u+rwX "$tmp" 2>/dev/null
	if [ "${PXT_KEEP:-0}" = 1 ]; then diag "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# The private "system" bus: pixiecore's policy, plus nobody may own the name (case iii as nobody)
# ---------------------------------------------------------------------------------------------
mkdir -p "$tmp/bus.d"
cp "$SOURCE_ROOT/dbus/org.pixiecore.Pixiecore1.conf" "$tmp/bus.d/"
cat >"$tmp/bus.d/nobody.conf" <<'EOF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="nobody">
    <allow own="org.pixiecore.Pixiecore1"/>
  </policy>
</busconfig>
EOF
if private_bus_start "$tmp"; then
	ok "private system bus at $tmp/bus.sock"
else
	not_ok "private system bus started" "$(cat "$tmp/bus.log")"
	echo "Bail out! no bus"
	exit 1
fi

# The mount namespace holder: a sleeper in a private mount namespace. Daemons for (ii) and (iii)
# run in it (nsenter), so the tmpfs and read-only mounts stay out of the host's view and vanish
# with it.
unshare -m --propagation private sleep 900 </dev/null >/dev/null 2>&1 &
holder_pid=$!
in_ns() { nsenter -t "$holder_pid" -m -- "$@"; }
if ! wait_for 5 in_ns true; then
	echo "Bail out! no mount namespace holder"
	exit 1
fi

# ---------------------------------------------------------------------------------------------
# Payload and the daemon
# ---------------------------------------------------------------------------------------------
mkdir -p "$tmp/files"
head -c 200000 /dev/urandom >"$tmp/files/vmlinuz"
head -c 100000 /dev/urandom >"$tmp/files/vmlinuz-2"
head -c 50000 /dev/urandom >"$tmp/files/initrd.img"
for f in undionly.kpxe ipxe.efi ipxe.pxe; do printf 'fake %s\n' "$f" >"$tmp/files/$f"; done
printf '[pixiecore]\n' >"$tmp/empty.conf" # keeps a real /etc/pixiecore/pixiecore.conf out
chmod -R a+rX "$tmp/files" "$tmp/empty.conf"
K=$tmp/files/vmlinuz
K2=$tmp/files/vmlinuz-2
I=$tmp/files/initrd.img

# start_daemon LOG STATE [ns] [nobody]: static mode on 127.0.0.1; ns: inside the mount namespace
# holder; nobody: as uid 65534. Returns 0 once it owns the bus name (sets daemon_pid, PORT,
# BASE); 1 if it exited first (daemon_rc set) or did not come up within 15 s.
start_daemon() {
	local r
	# exit 126/127: the binary was being relinked by a concurrent build; try again
	for _ in 1 2 3; do
		start_daemon_once "$@" && return 0
		r=${daemon_rc:-}
		[ "$r" = 126 ] || [ "$r" = 127 ] || return 1
		sleep 2
	done
	return 1
}
start_daemon_once() {
	local log=$1 state=$2 where=${3:-} who=${4:-} pre=() i
	stop_daemon
	daemon_rc=
	[ "$where" = ns ] && pre+=(nsenter -t "$holder_pid" -m --)
	[ "$who" = nobody ] && pre+=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	PORT=$(free_port)
	"${pre[@]}" "$PIXIECORE" -config "$tmp/empty.conf" -listen-addr 127.0.0.1 -port "$PORT" \
		-port-dhcp 0 -port-pxe 0 -port-tftp 0 -state-dir "$state" \
		-ipxe-bios "$tmp/files/undionly.kpxe" -ipxe-efi64 "$tmp/files/ipxe.efi" -ipxe-ipxe "$tmp/files/ipxe.pxe" \
		-kernel "$K" -initrd "$I" -cmdline 'console=ttyS0' >>"$log" 2>&1 </dev/null &
	daemon_pid=$!
	BASE=http://127.0.0.1:$PORT
	for ((i = 0; i < 150; i++)); do
		if ! kill -0 "$daemon_pid" 2>/dev/null; then
			daemon_rc=0
			wait "$daemon_pid" || daemon_rc=$?
			daemon_pid=
			return 1
		fi
		# the name is what the test needs; the log line says the daemon got it
		if timeout 2 busctl --system status "$BUS_NAME" 2>/dev/null | grep -qx "PID=$daemon_pid"; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

bc() { timeout 20 busctl --system "$@"; }
callj() { bc --json=short call "$BUS_NAME" "$OBJ" "$IFACE" "$@"; }
targets_json() { callj ListMachineTargets; }
resolve_source() { bc call "$BUS_NAME" "$OBJ" "$IFACE" ResolveTarget s "$1" | cut -d' ' -f2; }
gcall() { # gcall METHOD ARGS...: GOUT, GRC (gdbus prints the error name)
	local m=$1
	shift
	GOUT=$(timeout 20 gdbus call --system --dest "$BUS_NAME" --object-path "$OBJ" --method "$IFACE.$m" "$@" 2>&1)
	GRC=$?
}
expect_error() { # expect_error DESCRIPTION ERROR-NAME SUBSTRING...
	local d=$1 name=$2 s bad=0
	shift 2
	[ "$GRC" -ne 0 ] && [[ $GOUT == *"GDBus.Error:$name:"* ]] || bad=1
	for s in "$@"; do [[ $GOUT == *"$s"* ]] || bad=1; done
	if [ $bad = 0 ]; then ok "$d"; else not_ok "$d" "rc $GRC: $GOUT" "want $name with: $*"; fi
}
set_target() { # set_target MAC KERNEL CMDLINE: SetMachineTarget with one initrd, as busctl
	bc call "$BUS_NAME" "$OBJ" "$IFACE" SetMachineTarget 'ssassa{sv}' "$1" "$2" 1 "$I" "$3" 0 >/dev/null
}
serves_script() { # serves_script MAC: the iPXE script for MAC comes back with a kernel line
	curl -sS -m 10 "$BASE/_/ipxe?mac=$1&arch=0" 2>/dev/null | grep -q '^kernel '
}
temp_files() { # temp_files DIR [ns]: the names of leftover temporaries of atomic writes
	if [ "${2:-}" = ns ]; then in_ns ls -A "$1"; else ls -A "$1"; fi | grep -E '^\.(targets\.json|file-id\.key)\.' || true
}
json_ok() { # json_ok FILE: targets.json parses, version 1
	"$PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d.get("version") == 1 and isinstance(d.get("machines"), list) else 1)' "$1" 2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# (i) SIGKILL while SetMachineTarget calls stream in
# ---------------------------------------------------------------------------------------------
S1=$tmp/state-kill
if start_daemon "$tmp/kill.log" "$S1"; then
	ok "(i) daemon up (pid $daemon_pid, state $S1)"
else
	not_ok "(i) daemon up" "$(tail -n 20 "$tmp/kill.log")"
	echo "Bail out! daemon does not start"
	exit 1
fi
set_target 52:54:00:0f:00:01 "$K" "base=1" && set_target 52:54:00:0f:00:02 "$K2" "base=2" &&
	bc call "$BUS_NAME" "$OBJ" "$IFACE" IgnoreMachine s 52:54:00:0f:00:03 >/dev/null &&
	bc call "$BUS_NAME" "$OBJ" "$IFACE" SetDefaultTarget sass "$K2" 0 "default=1" >/dev/null
check "(i) initial targets set (two machines, an ignore, a default)" test $? -eq 0

# The writer: one SetMachineTarget per line of $tmp/acks ("<i> ok" / "<i> fail"), a new MAC
# each time, until $tmp/stop-writer appears (at most 4000 calls and 240 s).
rm -f "$tmp/stop-writer"
: >"$tmp/acks"
(
	end=$((SECONDS + 240))
	for ((i = 0; i < 4000 && SECONDS < end; i++)); do
		[ -e "$tmp/stop-writer" ] && break
		mac=$(printf '52:54:00:10:%02x:%02x' $((i / 256)) $((i % 256)))
		k=$K
		((i % 2)) && k=$K2
		if timeout 5 busctl --system --timeout=4 call "$BUS_NAME" "$OBJ" "$IFACE" SetMachineTarget \
			'ssassa{sv}' "$mac" "$k" 1 "$I" "n=$i" 0 >/dev/null 2>&1; then
			echo "$i ok" >>"$tmp/acks"
		else
			echo "$i fail" >>"$tmp/acks"
			sleep 0.02 # no busy loop while the daemon is down
		fi
	done
) &
writer_pid=$!

restarts_ok=0
leftovers=0
for ((k = 1; k <= KILLS; k++)); do
	# a random moment while calls are being served: 50..450 ms after the daemon came up
	sleep "0.$(printf '%03d' $((RANDOM % 400 + 50)))"
	kill -KILL "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
	leftovers=$((leftovers + $(temp_files "$S1" | wc -l)))
	if start_daemon "$tmp/kill.log" "$S1"; then
		restarts_ok=$((restarts_ok + 1))
	else
		diag "restart $k failed: $(tail -n 5 "$tmp/kill.log")"
	fi
done
touch "$tmp/stop-writer"
wait "$writer_pid"
writer_pid=
eq "(i) $KILLS SIGKILLs, the daemon came back every time" "$restarts_ok" "$KILLS"
acked=$(grep -c ' ok$' "$tmp/acks")
refused=$(grep -c ' fail$' "$tmp/acks")
diag "writer: $acked calls acknowledged, $refused failed (daemon down or killed mid-call); $leftovers temporary file(s) seen after kills"
check "(i) calls were acknowledged between the kills ($acked) and some failed because of them ($refused)" \
	test "$acked" -ge "$KILLS" -a "$refused" -ge 1
check "(i) targets.json parses (version 1, a machines list)" json_ok "$S1/targets.json"

# Every acknowledged call is in the file with the values sent; nothing else unexpected in it.
verify_acks() { # verify_acks JSON-FILE (targets.json or ListMachineTargets): prints problems; non-zero if any
	"$PYTHON" - "$tmp/acks" "$K" "$K2" "$I" "$1" <<'EOF'
import json, sys
acks, K, K2, I, src = sys.argv[1:6]
d = json.load(open(src))
if 'machines' in d:
    rules = {m['mac']: (m['kind'], m['kernel'], m['initrds'], m['cmdline']) for m in d['machines']}
else:  # ListMachineTargets: a(sssassbt) = mac, kind, kernel, initrds, cmdline, once, set_usec
    rules = {r[0]: (r[1], r[2], r[3], r[4]) for r in d['data'][0]}
bad = []
for line in open(acks):
    i, status = line.split()
    i = int(i)
    mac = '52:54:00:10:%02x:%02x' % (i // 256, i % 256)
    want = ('target', K2 if i % 2 else K, [I], 'n=%d' % i)
    got = rules.get(mac)
    if status == 'ok' and got != want:
        bad.append('%s acknowledged but %s' % (mac, 'missing' if got is None else 'stored as %r' % (got,)))
    if status == 'fail' and got is not None and got != want:
        bad.append('%s (failed call) stored with other values: %r' % (mac, got))
for mac, want in (('52:54:00:0f:00:01', ('target', K, [I], 'base=1')),
                  ('52:54:00:0f:00:02', ('target', K2, [I], 'base=2'))):
    if rules.get(mac) != want:
        bad.append('initial rule %s: %r' % (mac, rules.get(mac)))
if rules.get('52:54:00:0f:00:03', ('',))[0] != 'ignore':
    bad.append('initial ignore rule lost: %r' % (rules.get('52:54:00:0f:00:03'),))
print('\n'.join(bad[:20]))
sys.exit(1 if bad else 0)
EOF
}
if out=$(verify_acks "$S1/targets.json" 2>&1); then
	ok "(i) targets.json holds all $acked acknowledged targets with the values sent, and the initial rules"
else
	not_ok "(i) targets.json holds every acknowledged target" "$out"
fi
targets_json >"$tmp/kill-list.json"
if out=$(verify_acks "$tmp/kill-list.json" 2>&1); then
	ok "(i) the restarted daemon serves them (ListMachineTargets)"
else
	not_ok "(i) the restarted daemon serves every acknowledged target" "$out"
fi
default=$(bc get-property "$BUS_NAME" "$OBJ" "$IFACE" DefaultTarget 2>&1)
eq "(i) the default target survived" "$default" "(sass) \"$K2\" 0 \"default=1\""
check "(i) no restart found targets.json damaged" test -z "$(grep -i 'damaged\|corrupt' "$tmp/kill.log")"
check "(i) no targets.json.corrupt-* file" test -z "$(find "$S1" -name 'targets.json.corrupt*')"
eq "(i) no temporary file left after the last start" "$(temp_files "$S1")" ""
stop_daemon

# ---------------------------------------------------------------------------------------------
# (ii) disk full: a 256 KiB tmpfs in the holder's mount namespace
# ---------------------------------------------------------------------------------------------
FULL=$tmp/full
mkdir -p "$FULL"
if in_ns mount -t tmpfs -o size=256k,mode=0755 pxt-full "$FULL"; then
	ok "(ii) 256 KiB tmpfs at $FULL (private mount namespace)"
else
	not_ok "(ii) tmpfs mounted"
fi
in_ns mkdir -p "$FULL/state" "$FULL/fresh"
S2=$FULL/state
M1=52:54:00:0e:00:01
M2=52:54:00:0e:00:02
M3=52:54:00:0e:00:03
if start_daemon "$tmp/full.log" "$S2" ns; then
	set_target "$M1" "$K" "full=1" && bc call "$BUS_NAME" "$OBJ" "$IFACE" IgnoreMachine s "$M2" >/dev/null
	check "(ii) targets set while there is space" test $? -eq 0
else
	not_ok "(ii) daemon up on the tmpfs" "$(tail -n 20 "$tmp/full.log")"
fi
snapshot=$(targets_json)
in_ns cat "$S2/targets.json" >"$tmp/full-before.json"
# fill it: pages until ENOSPC, then the last bytes
in_ns dd if=/dev/zero of="$FULL/filler" bs=4096 status=none 2>/dev/null
in_ns dd if=/dev/zero of="$FULL/filler2" bs=1 count=4096 status=none 2>/dev/null
free=$(in_ns df --output=avail -B1 "$FULL" | tail -n1 | tr -d ' ')
diag "tmpfs free after filling: $free bytes"

gcall SetMachineTarget "$M3" "$K" "@as []" "full=3" "@a{sv} {}"
expect_error "(ii) SetMachineTarget on a full disk: StorageFailed naming targets.json and ENOSPC" \
	"$ERR.StorageFailed" "$S2/targets.json" "No space left on device"
gcall IgnoreMachine "$M3"
expect_error "(ii) IgnoreMachine on a full disk: StorageFailed" "$ERR.StorageFailed" "No space left on device"
gcall SetDefaultTarget "$K2" "@as []" ""
expect_error "(ii) SetDefaultTarget on a full disk: StorageFailed" "$ERR.StorageFailed" "No space left on device"
check "(ii) the daemon is still running" kill -0 "${daemon_pid:-0}"
eq "(ii) ... its targets unchanged (ListMachineTargets)" "$(targets_json)" "$snapshot"
eq "(ii) ... ResolveTarget still answers from them" "$(resolve_source "$M1") $(resolve_source "$M3")" '"machine" "static"'
check "(ii) ... and it serves boots over HTTP (iPXE script)" serves_script "$M1"
in_ns cat "$S2/targets.json" >"$tmp/full-after.json"
check "(ii) targets.json is byte-identical" cmp -s "$tmp/full-before.json" "$tmp/full-after.json"
eq "(ii) no temporary file left in the state directory" "$(temp_files "$S2" ns)" ""

if start_daemon "$tmp/full-restart.log" "$S2" ns; then
	ok "(ii) restart on the full disk"
	eq "(ii) ... targets.json still loads (ListMachineTargets as before)" "$(targets_json)" "$snapshot"
	check "(ii) ... without calling it damaged" test -z "$(grep -i 'damaged' "$tmp/full-restart.log")"
else
	not_ok "(ii) restart on the full disk" "$(tail -n 20 "$tmp/full-restart.log")"
fi
stop_daemon

# A first start on the full disk, with no key file yet: degraded, not dead.
if start_daemon "$tmp/full-fresh.log" "$FULL/fresh" ns; then
	ok "(ii) first start on a full disk (no file-id.key yet): the daemon runs"
	check "(ii) ... it warns naming the directory and the problem" \
		grep -q "state directory $FULL/fresh: .*No space left on device.*kept in memory" "$tmp/full-fresh.log"
	check "(ii) ... and serves boots" serves_script "$M1"
else
	not_ok "(ii) first start on a full disk runs (degraded)" "exit ${daemon_rc:-?}: $(tail -n 5 "$tmp/full-fresh.log")"
fi
stop_daemon

# Space again: changes work again, without a restart.
start_daemon "$tmp/full.log" "$S2" ns
in_ns rm -f "$FULL/filler" "$FULL/filler2"
set_target "$M3" "$K" "full=3"
check "(ii) after freeing space: SetMachineTarget succeeds again" test $? -eq 0
in_ns cat "$S2/targets.json" >"$tmp/full-freed.json"
check "(ii) ... and targets.json parses" json_ok "$tmp/full-freed.json"
stop_daemon

# ---------------------------------------------------------------------------------------------
# (iii) unwritable state directory
# ---------------------------------------------------------------------------------------------
# a) existing state, read-only bind mount (EROFS, even for root)
S3=$tmp/state-ro
start_daemon "$tmp/ro-seed.log" "$S3"
set_target "$M1" "$K" "ro=1"
check "(iii) seed targets for the read-only case" test $? -eq 0
stop_daemon
cp "$S3/targets.json" "$tmp/ro-before.json"
in_ns mount --bind "$S3" "$S3" && in_ns mount -o remount,bind,ro "$S3"
check "(iii) $S3 bind-mounted read-only (in the namespace)" in_ns test ! -w "$S3"
if start_daemon "$tmp/ro.log" "$S3" ns; then
	ok "(iii) read-only state directory with existing state: the daemon starts"
	check "(iii) ... warning names the directory and the problem" \
		grep -q "state directory $S3 is not writable (Read-only file system)" "$tmp/ro.log"
	eq "(iii) ... the persisted target is served" "$(resolve_source "$M1")" '"machine"'
	check "(iii) ... boots are served over HTTP" serves_script "$M1"
	gcall SetMachineTarget "$M3" "$K" "@as []" "" "@a{sv} {}"
	expect_error "(iii) ... SetMachineTarget: StorageFailed naming the file and EROFS" "$ERR.StorageFailed" \
		"$S3/targets.json" "Read-only file system"
	check "(iii) ... still running after the refusal" kill -0 "${daemon_pid:-0}"
else
	not_ok "(iii) read-only state directory with existing state: the daemon starts" \
		"exit ${daemon_rc:-?}: $(tail -n 5 "$tmp/ro.log")"
fi
stop_daemon
check "(iii) targets.json unchanged" cmp -s "$tmp/ro-before.json" "$S3/targets.json"

# b) empty state directory, read-only: no key can be made
S4=$tmp/state-ro-empty
mkdir -p "$S4"
in_ns mount --bind "$S4" "$S4" && in_ns mount -o remount,bind,ro "$S4"
if start_daemon "$tmp/ro-empty.log" "$S4" ns; then
	ok "(iii) empty read-only state directory: the daemon starts (degraded)"
	check "(iii) ... warning: directory, the key file, EROFS, links do not survive a restart" \
		grep -q "state directory $S4: .*file-id.key: Read-only file system; using a file ID key kept in memory only" "$tmp/ro-empty.log"
	check "(iii) ... boots are served over HTTP" serves_script "$M1"
	gcall SetMachineTarget "$M3" "$K" "@as []" "" "@a{sv} {}"
	expect_error "(iii) ... SetMachineTarget: StorageFailed" "$ERR.StorageFailed" "Read-only file system"
else
	not_ok "(iii) empty read-only state directory: the daemon starts (degraded)" \
		"exit ${daemon_rc:-?}: $(tail -n 5 "$tmp/ro-empty.log")"
fi
stop_daemon

# c) the state directory does not exist and cannot be created: a configuration error
RO_PARENT=$tmp/ro-parent
mkdir -p "$RO_PARENT"
in_ns mount --bind "$RO_PARENT" "$RO_PARENT" && in_ns mount -o remount,bind,ro "$RO_PARENT"
if start_daemon "$tmp/ro-missing.log" "$RO_PARENT/state" ns; then
	not_ok "(iii) missing state directory under a read-only parent: startup fails" "the daemon runs"
else
	check "(iii) missing state directory under a read-only parent: non-zero exit (${daemon_rc:-timeout})" \
		test "${daemon_rc:-0}" -ne 0
	check "(iii) ... the message names the directory and the problem" \
		grep -q "$RO_PARENT/state.*Read-only file system" "$tmp/ro-missing.log"
fi
stop_daemon

# d) as nobody: a 0500 state directory with a readable key and targets.json
S5=$tmp/state-nobody
start_daemon "$tmp/nobody-seed.log" "$S5"
set_target "$M1" "$K" "nobody=1"
stop_daemon
chown -R 65534:65534 "$S5"
chmod 0500 "$S5"
if start_daemon "$tmp/nobody.log" "$S5" "" nobody; then
	ok "(iii) as nobody, state directory mode 0500: the daemon starts"
	check "(iii) ... warning names the directory and EACCES" \
		grep -q "state directory $S5 is not writable (Permission denied)" "$tmp/nobody.log"
	eq "(iii) ... the persisted target is served" "$(resolve_source "$M1")" '"machine"'
	gcall SetMachineTarget "$M3" "$K" "@as []" "" "@a{sv} {}"
	expect_error "(iii) ... SetMachineTarget: StorageFailed naming the file and EACCES" "$ERR.StorageFailed" \
		"$S5/targets.json" "Permission denied"
else
	not_ok "(iii) as nobody, state directory mode 0500: the daemon starts" \
		"exit ${daemon_rc:-?}: $(tail -n 5 "$tmp/nobody.log")"
fi
stop_daemon

# e) as nobody: the key file exists but belongs to root (0600): never replaced, startup fails
chmod 0700 "$S5"
chown 0:0 "$S5/file-id.key"
chmod 0600 "$S5/file-id.key"
cp "$S5/file-id.key" "$tmp/key-before"
if start_daemon "$tmp/nobody-key.log" "$S5" "" nobody; then
	not_ok "(iii) as nobody, unreadable file-id.key: startup fails" "the daemon runs"
else
	check "(iii) as nobody, unreadable file-id.key: non-zero exit (${daemon_rc:-timeout})" test "${daemon_rc:-0}" -ne 0
	check "(iii) ... the message names the key file and the problem" \
		grep -q "$S5/file-id.key: Permission denied" "$tmp/nobody-key.log"
	check "(iii) ... the key file is left alone" cmp -s "$tmp/key-before" "$S5/file-id.key"
fi
stop_daemon

# ---------------------------------------------------------------------------------------------
# (iv) a corrupt targets.json at startup
# ---------------------------------------------------------------------------------------------
S6=$tmp/state-corrupt
start_daemon "$tmp/corrupt-seed.log" "$S6"
set_target "$M1" "$K" "c=1" && set_target "$M2" "$K2" "c=2"
stop_daemon
good=$(cat "$S6/targets.json")
corrupt_case() { # corrupt_case LABEL: $S6/targets.json already damaged
	local label=$1 aside
	rm -f "$S6"/targets.json.corrupt*
	cp "$S6/targets.json" "$tmp/corrupt-$label.copy"
	if start_daemon "$tmp/corrupt-$label.log" "$S6"; then
		ok "(iv) $label targets.json: the daemon starts"
		check "(iv) ... logged as damaged, naming the file" grep -q "$S6/targets.json is damaged" "$tmp/corrupt-$label.log"
		aside=$(find "$S6" -maxdepth 1 -name 'targets.json.corrupt-*' | head -n1)
		check "(iv) ... moved aside byte for byte (${aside##*/})" cmp -s "${aside:-/nonexistent}" "$tmp/corrupt-$label.copy"
		eq "(iv) ... no machine targets then" "$(targets_json)" '{"type":"a(sssassbt)","data":[[]]}'
		set_target "$M3" "$K" "after=1"
		check "(iv) ... a target can be saved again, and targets.json parses" json_ok "$S6/targets.json"
	else
		not_ok "(iv) $label targets.json: the daemon starts" "exit ${daemon_rc:-?}: $(tail -n 5 "$tmp/corrupt-$label.log")"
	fi
	stop_daemon
}
printf '%s' "${good:0:$((${#good} / 2))}" >"$S6/targets.json" # a torn write
corrupt_case truncated
head -c 3000 /dev/urandom >"$S6/targets.json"
corrupt_case garbage

tap_done
