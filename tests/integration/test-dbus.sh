#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The D-Bus service org.pixiecore.Pixiecore1 and pixiecorectl, against the real daemon on a
# private bus configured like the system bus:
#
#  - dbus-daemon with <type>system</type>, a unix socket in a temp dir and an <includedir> holding
#    a copy of dbus/org.pixiecore.Pixiecore1.conf plus a policy letting the polkit mock own
#    org.freedesktop.PolicyKit1; python-dbusmock's polkitd template on it;
#  - pixiecore with DBUS_SYSTEM_BUS_ADDRESS pointing there, a temp -state-dir, loopback only
#    (-listen-addr 127.0.0.1 -port P -port-dhcp 0 -port-pxe 0 -port-tftp 0), static mode with
#    small generated kernel and initrds.
#
# Checks, with busctl (successes, properties, monitor) and gdbus (error names): every method's
# success and error paths, ResolveTarget for each source, ListMachineTargets, properties, polkit
# (nobody via setpriv: denied unless the mock allows org.pixiecore.Pixiecore1.manage-targets;
# reads open; polkit gone -> AccessDenied; root bypasses polkit), persistence across a restart,
# a corrupt targets.json, the served introspection against dbus/*.xml, signals during a boot
# over HTTP (InterfacesAdded, State script-sent -> loading-kernel -> loading-initrd -> booting,
# BytesSent reaching BytesTotal, progress rate limit, no secrets in broadcasts, eviction ->
# InterfacesRemoved), once-targets and ignores over HTTP, API mode, and pixiecorectl (text,
# --json, exit codes, watch, "not running").
#
# Needs root (setpriv to nobody; root bypasses polkit), dbus-daemon, busctl, gdbus, curl and
# python3-dbusmock (Debian package, for /usr/bin/python3). Prints TAP; exits 0 when all passed,
# 1 otherwise, 77 when it cannot run here. Every wait is bounded; everything started here is
# stopped and the temp dir removed on exit (PXT_KEEP=1 keeps it).
set -u

SOURCE_ROOT=${PX_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/integration/testlib.sh
source "$SOURCE_ROOT/tests/integration/testlib.sh"
BUILD_ROOT=${PX_BUILD_ROOT:-$SOURCE_ROOT/build}
PIXIECORE=${PIXIECORE:-$BUILD_ROOT/src/pixiecore}
PIXIECORECTL=${PIXIECORECTL:-$BUILD_ROOT/src/ctl/pixiecorectl}
PYTHON=/usr/bin/python3 # python3-dbusmock is installed for the system's python
BUS_NAME=org.pixiecore.Pixiecore1
OBJ=/org/pixiecore/Pixiecore1
IFACE=org.pixiecore.Pixiecore1.Manager
SIFACE=org.pixiecore.Pixiecore1.Session
ERR=org.pixiecore.Pixiecore1.Error
ACTION=org.pixiecore.Pixiecore1.manage-targets
CMDLINE='console=ttyS0 quiet'
SECRET='pixie.token=s3cr3t-do-not-broadcast'

[ "$(id -u)" -eq 0 ] || skip_all "needs root (runs clients as nobody with setpriv; root bypasses polkit)"
for t in dbus-daemon busctl gdbus curl setpriv timeout sha256sum; do
	command -v "$t" >/dev/null 2>&1 || skip_all "$t not installed"
done
[ -x "$PYTHON" ] || skip_all "no $PYTHON"
"$PYTHON" -c 'import dbusmock' 2>/dev/null || skip_all "python3-dbusmock not installed (apt-get install python3-dbusmock)"
[ -x "$PIXIECORE" ] || skip_all "no pixiecore binary at $PIXIECORE (set PIXIECORE)"
[ -x "$PIXIECORECTL" ] || skip_all "no pixiecorectl binary at $PIXIECORECTL (set PIXIECORECTL)"
[ -r "$SOURCE_ROOT/dbus/org.pixiecore.Pixiecore1.conf" ] || skip_all "no dbus/org.pixiecore.Pixiecore1.conf"

tmp=$(mktemp -d /tmp/pxt-dbus.XXXXXX)
chmod 755 "$tmp" # nobody must reach the bus socket
bus_pid=
polkit_pid=
daemon_pid=
monitor_pid=
watch_pid=

stop_daemon() {
	stop_pid "$daemon_pid"
	daemon_pid=
}
cleanup() {
	trap '' INT TERM
	stop_pid "$watch_pid"
	stop_pid "$monitor_pid"
	stop_daemon
	stop_pid "$polkit_pid"
	stop_pid "$bus_pid"
	if [ "${PXT_KEEP:-0}" = 1 ]; then diag "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

sha() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }

# ---------------------------------------------------------------------------------------------
# The private "system" bus and the polkit mock
# ---------------------------------------------------------------------------------------------
mkdir -p "$tmp/bus.d"
cp "$SOURCE_ROOT/dbus/org.pixiecore.Pixiecore1.conf" "$tmp/bus.d/"
cat >"$tmp/bus.d/polkit-mock.conf" <<'EOF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="root">
    <allow own="org.freedesktop.PolicyKit1"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.freedesktop.PolicyKit1"/>
    <allow receive_sender="org.freedesktop.PolicyKit1"/>
  </policy>
</busconfig>
EOF
# The system bus's own defaults (Debian's /usr/share/dbus-1/system.conf), minus the service
# helper, pid file and syslog; then the test's includedir.
if private_bus_start "$tmp"; then
	ok "private system bus at $tmp/bus.sock (dbus-daemon, <type>system</type>, pixiecore's policy included)"
else
	not_ok "private system bus started" "$(cat "$tmp/bus.log")"
	echo "Bail out! no bus"
	exit 1
fi

"$PYTHON" -m dbusmock --system --template polkitd >"$tmp/polkit.log" 2>&1 </dev/null &
polkit_pid=$!
polkit_up() { timeout 5 busctl --system status org.freedesktop.PolicyKit1 >/dev/null 2>&1; }
if wait_for 15 polkit_up; then
	ok "polkitd mock (python-dbusmock template) owns org.freedesktop.PolicyKit1"
else
	not_ok "polkitd mock started" "$(cat "$tmp/polkit.log")"
fi
polkit_allow() { # polkit_allow ACTION...: the mock's SetAllowed
	timeout 10 busctl --system call org.freedesktop.PolicyKit1 /org/freedesktop/PolicyKit1/Authority \
		org.freedesktop.DBus.Mock SetAllowed as "$#" "$@"
}

# ---------------------------------------------------------------------------------------------
# Payload, bootloader stand-ins, the daemon
# ---------------------------------------------------------------------------------------------
mkdir -p "$tmp/state" "$tmp/files"
head -c 300000 /dev/urandom >"$tmp/files/vmlinuz"
head -c 70000 /dev/urandom >"$tmp/files/initrd-a.img"
head -c 50001 /dev/urandom >"$tmp/files/initrd-b.img"
head -c 123456 /dev/urandom >"$tmp/files/other-kernel"
head -c 4321 /dev/urandom >"$tmp/files/other-initrd"
head -c 200000 /dev/urandom >"$tmp/files/once-kernel"
head -c 12000000 /dev/urandom >"$tmp/files/big-kernel"
mkdir -p "$tmp/files/a-directory"
for f in undionly.kpxe ipxe.efi ipxe.pxe lpxelinux.0 ldlinux.c32; do printf 'fake %s\n' "$f" >"$tmp/$f"; done
printf '[pixiecore]\n' >"$tmp/empty.conf" # keeps a real /etc/pixiecore/pixiecore.conf out
chmod -R a+rX "$tmp/files"
K=$tmp/files/vmlinuz
IA=$tmp/files/initrd-a.img
IB=$tmp/files/initrd-b.img

# start_daemon LOGNAME ARGS...: static mode with K, IA, IB unless ARGS say otherwise; sets PORT,
# BASE, daemon_pid; waits until the bus name is owned
STATE=$tmp/state
start_daemon() {
	local log=$tmp/$1.log target_args=(-kernel "$K" -initrd "$IA,$IB" -cmdline "$CMDLINE")
	shift
	stop_daemon
	[[ " $* " == *" -api "* ]] && target_args=()
	for _ in 1 2 3; do
		PORT=$(free_port)
		"$PIXIECORE" -config "$tmp/empty.conf" -listen-addr 127.0.0.1 -port "$PORT" \
			-port-dhcp 0 -port-pxe 0 -port-tftp 0 -debug -state-dir "$STATE" \
			-ipxe-bios "$tmp/undionly.kpxe" -ipxe-efi64 "$tmp/ipxe.efi" -ipxe-ipxe "$tmp/ipxe.pxe" \
			-pxelinux "$tmp/lpxelinux.0" -ldlinux "$tmp/ldlinux.c32" "${target_args[@]}" "$@" \
			>"$log" 2>&1 </dev/null &
		daemon_pid=$!
		for _ in $(seq 1 100); do
			grep -q "owns $BUS_NAME on the system bus" "$log" 2>/dev/null && break
			kill -0 "$daemon_pid" 2>/dev/null || break
			sleep 0.1
		done
		if grep -q "owns $BUS_NAME on the system bus" "$log"; then
			BASE=http://127.0.0.1:$PORT
			return 0
		fi
		stop_daemon
		grep -q 'Address already in use' "$log" || break
	done
	diag "pixiecore did not come up on the bus:" "$(tail -20 "$log")"
	return 1
}

bc() { timeout 20 busctl --system "$@"; }
call() { bc call "$BUS_NAME" "$OBJ" "$IFACE" "$@"; }           # call METHOD [SIG ARGS...]
callj() { bc --json=short call "$BUS_NAME" "$OBJ" "$IFACE" "$@"; } # JSON reply
getp() { bc get-property "$BUS_NAME" "$OBJ" "$IFACE" "$1"; }
sgetp() { bc get-property "$BUS_NAME" "$1" "$SIFACE" "$2"; } # sgetp PATH PROPERTY
# gdbus prints error names (busctl only the message, and "Access denied" for AccessDenied)
gcall() { # gcall METHOD ARGS...: GOUT, GRC
	local m=$1
	shift
	GOUT=$(timeout 20 gdbus call --system --dest "$BUS_NAME" --object-path "$OBJ" --method "$IFACE.$m" "$@" 2>&1)
	GRC=$?
}
ngcall() { # as gcall, as nobody
	local m=$1
	shift
	GOUT=$(nobody timeout 20 gdbus call --system --dest "$BUS_NAME" --object-path "$OBJ" --method "$IFACE.$m" "$@" 2>&1)
	GRC=$?
}
expect_error() { # expect_error DESCRIPTION ERROR-NAME MESSAGE-SUBSTRING (after gcall/ngcall)
	if [ "$GRC" -ne 0 ] && [[ $GOUT == *"GDBus.Error:$2:"* && $GOUT == *"$3"* ]]; then
		ok "$1"
	else
		not_ok "$1" "rc $GRC: $GOUT" "want $2 with a message containing '$3'"
	fi
}
expect_success() { # expect_success DESCRIPTION (after gcall/ngcall)
	if [ "$GRC" -eq 0 ]; then ok "$1"; else not_ok "$1" "rc $GRC: $GOUT"; fi
}
targets_json() { callj ListMachineTargets; }

# jcheck DESCRIPTION JSON PYTHON-EXPRESSION [ARGS...]: ok if the expression over `d` (the parsed
# JSON) and `a` (the ARGS) is true; prints the JSON on failure
jcheck() {
	local d=$1 j=$2 e=$3
	shift 3
	if "$PYTHON" -c '
import json, sys
d = json.loads(sys.argv[1]); a = sys.argv[3:]
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' "$j" "$e" "$@" 2>"$tmp/jcheck.err"; then
		ok "$d"
	else
		not_ok "$d" "json: $j" "expression: $e" "$(cat "$tmp/jcheck.err")"
	fi
}

if start_daemon daemon; then
	ok "pixiecore owns $BUS_NAME on the private system bus (static mode, 127.0.0.1:$PORT)"
else
	not_ok "pixiecore owns $BUS_NAME on the private system bus"
	echo "Bail out! daemon did not start"
	exit 1
fi
status_out=$(bc status "$BUS_NAME" 2>&1)
check "busctl status $BUS_NAME: the daemon's PID" grep -qx "PID=$daemon_pid" <<<"$status_out"

# ---------------------------------------------------------------------------------------------
# Manager properties
# ---------------------------------------------------------------------------------------------
version=$("$PIXIECORE" -version | awk '{ print $2 }')
eq "Version is the daemon's version" "$(getp Version)" "s \"$version\""
eq "Mode is static" "$(getp Mode)" 's "static"'
eq "ApiURL is empty in static mode" "$(getp ApiURL)" 's ""'
eq "Bootloader is ipxe" "$(getp Bootloader)" 's "ipxe"'
eq "DefaultTarget is the configured target" "$(getp DefaultTarget)" \
	"(sass) \"$K\" 2 \"$IA\" \"$IB\" \"$CMDLINE\""
eq "MachineTargets, Sessions, CompletedBoots start at 0" "$(getp MachineTargets) $(getp Sessions) $(getp CompletedBoots)" \
	"u 0 u 0 t 0"
eq "GetManagedObjects: no sessions yet" "$(bc call "$BUS_NAME" "$OBJ" org.freedesktop.DBus.ObjectManager GetManagedObjects)" \
	"a{oa{sa{sv}}} 0"
all_nobody=$(nobody timeout 20 busctl --system --json=short call "$BUS_NAME" "$OBJ" org.freedesktop.DBus.Properties GetAll s "$IFACE" 2>&1)
jcheck "nobody may read all Manager properties (GetAll)" "$all_nobody" \
	'sorted(d["data"][0]) == sorted(["Version","Mode","ApiURL","Bootloader","DefaultTarget","MachineTargets","Counters","Sessions","CompletedBoots"])'

# The introspection served by the daemon matches the committed XML (docs and comments aside)
compare_xml() { # compare_xml SERVED-FILE COMMITTED-FILE INTERFACE
	"$PYTHON" - "$@" <<'EOF'
import difflib, sys, xml.etree.ElementTree as ET
DOC = "{http://www.freedesktop.org/dbus/1.0/doc.dtd}"
def lines(elem, depth=0):
    # ElementTree drops comments; doc:* elements and whitespace go here
    attrs = " ".join('%s="%s"' % kv for kv in sorted(elem.attrib.items()))
    out = ["  " * depth + "<%s %s>" % (elem.tag, attrs)]
    for c in elem:
        if isinstance(c.tag, str) and not c.tag.startswith(DOC):
            out += lines(c, depth + 1)
    return out
def interface(path, name):
    for i in ET.parse(path).getroot().iter("interface"):
        if i.get("name") == name:
            return lines(i)
    return ["(no interface %s in %s)" % (name, path)]
served, committed = interface(sys.argv[1], sys.argv[3]), interface(sys.argv[2], sys.argv[3])
if served != committed:
    sys.stdout.writelines(l + "\n" for l in difflib.unified_diff(committed, served, "committed", "served", lineterm=""))
    sys.exit(1)
EOF
}
bc introspect --xml-interface "$BUS_NAME" "$OBJ" >"$tmp/served-manager.xml" 2>&1
if out=$(compare_xml "$tmp/served-manager.xml" "$SOURCE_ROOT/dbus/$IFACE.xml" "$IFACE" 2>&1); then
	ok "served introspection of $IFACE matches dbus/$IFACE.xml"
else
	not_ok "served introspection of $IFACE matches dbus/$IFACE.xml" "$out"
fi
check "the root object also implements org.freedesktop.DBus.ObjectManager" \
	grep -q 'interface name="org.freedesktop.DBus.ObjectManager"' "$tmp/served-manager.xml"

# ---------------------------------------------------------------------------------------------
# Methods as root: success paths
# ---------------------------------------------------------------------------------------------
M1=52:54:00:00:00:01
M2=52:54:00:00:00:02
M3=52:54:00:00:00:03
M4=52:54:00:00:00:04
before=$(date +%s)
call SetMachineTarget 'ssassa{sv}' "$M1" "$tmp/files/other-kernel" 1 "$tmp/files/other-initrd" "quiet $SECRET" 0 >/dev/null 2>"$tmp/err"
check "SetMachineTarget (kernel, initrd, cmdline, no options)" test $? -eq 0
call SetMachineTarget 'ssassa{sv}' "$M2" "$K" 0 "" 1 once b true >/dev/null 2>>"$tmp/err"
check "SetMachineTarget with options {once: true}" test $? -eq 0
call IgnoreMachine s "$M3" >/dev/null 2>>"$tmp/err"
check "IgnoreMachine" test $? -eq 0
call SetMachineTarget 'ssassa{sv}' 52-54-00-AB-CD-EF "http://127.0.0.1:9/remote-kernel" 1 "https://127.0.0.1:9/remote-initrd" "" 0 >/dev/null 2>>"$tmp/err"
check "SetMachineTarget with a dashed uppercase MAC and http(s) URLs (not fetched)" test $? -eq 0
[ -s "$tmp/err" ] && diag "$(cat "$tmp/err")"
j=$(targets_json)
jcheck "ListMachineTargets: four rules sorted by MAC, with kind, files, cmdline, once" "$j" '
[r[:6] for r in d["data"][0]] == [
  [a[0], "target", a[1], [a[2]], "quiet " + a[3], False],
  [a[4], "target", a[5], [], "", True],
  [a[6], "ignore", "", [], "", False],
  ["52:54:00:ab:cd:ef", "target", "http://127.0.0.1:9/remote-kernel", ["https://127.0.0.1:9/remote-initrd"], "", False]]' \
	"$M1" "$tmp/files/other-kernel" "$tmp/files/other-initrd" "$SECRET" "$M2" "$K" "$M3"
jcheck "ListMachineTargets: set_usec is the time the rule was set" "$j" \
	'all(int(a[0]) * 10**6 - 10**6 <= r[6] <= (int(a[0]) + 120) * 10**6 for r in d["data"][0])' "$before"
eq "MachineTargets counts the rules" "$(getp MachineTargets)" "u 4"

resolve() { call ResolveTarget s "$1"; }
j=$(callj ResolveTarget s "$M1")
jcheck "ResolveTarget: machine (its own target)" "$j" \
	'd["data"] == ["machine", a[0], [a[1]], "quiet " + a[2], "the machine\x27s own target"]' \
	"$tmp/files/other-kernel" "$tmp/files/other-initrd" "$SECRET"
r=$(resolve "$M2")
check "ResolveTarget: machine-once (once-target, not used up by asking)" \
	grep -q "^ssasss \"machine-once\" \"$K\" 0 \"\"" <<<"$r"
r=$(resolve "$M3")
check "ResolveTarget: ignored (IgnoreMachine), no kernel" grep -q '^ssasss "ignored" "" 0 "" "' <<<"$r"
r=$(resolve "$M4")
check "ResolveTarget: static (configured target) for a machine without a rule" \
	grep -q "^ssasss \"static\" \"$K\" 2 \"$IA\" \"$IB\" \"$CMDLINE\"" <<<"$r"
eq "ResolveTarget accepts a dashed MAC" "$(resolve 52-54-00-00-00-01 | cut -d' ' -f2)" '"machine"'

call SetDefaultTarget sass "$tmp/files/other-kernel" 0 "default=1" >/dev/null
check "SetDefaultTarget" test $? -eq 0
eq "DefaultTarget shows the default set over D-Bus" "$(getp DefaultTarget)" "(sass) \"$tmp/files/other-kernel\" 0 \"default=1\""
r=$(resolve "$M4")
check "ResolveTarget: default (set over D-Bus) beats the configured target" \
	grep -q "^ssasss \"default\" \"$tmp/files/other-kernel\" 0 \"default=1\"" <<<"$r"
eq "ResolveTarget: a machine's own target beats the default" "$(resolve "$M1" | cut -d' ' -f2)" '"machine"'
call ClearDefaultTarget >/dev/null
check "ClearDefaultTarget" test $? -eq 0
eq "after ClearDefaultTarget: the configured target again" "$(resolve "$M4" | cut -d' ' -f2)" '"static"'
eq "DefaultTarget is the configured one again" "$(getp DefaultTarget)" "(sass) \"$K\" 2 \"$IA\" \"$IB\" \"$CMDLINE\""
call SetMachineTarget 'ssassa{sv}' "$M3" "$K" 0 "" 0 >/dev/null
eq "SetMachineTarget replaces an ignore" "$(resolve "$M3" | cut -d' ' -f2)" '"machine"'
call IgnoreMachine s "$M1" >/dev/null
eq "IgnoreMachine replaces a target" "$(resolve "$M1" | cut -d' ' -f2)" '"ignored"'
call ClearMachineTarget s "$M1" >/dev/null
check "ClearMachineTarget" test $? -eq 0
eq "after ClearMachineTarget: the configured target" "$(resolve "$M1" | cut -d' ' -f2)" '"static"'
call ClearMachineTarget s 52:54:00:ab:cd:ef >/dev/null
eq "MachineTargets after clearing two" "$(getp MachineTargets)" "u 2"
skip "ResolveTarget: none" "unreachable: the daemon refuses to start without -kernel or -api, so static mode always has a target"

# ---------------------------------------------------------------------------------------------
# Methods as root: error paths (gdbus shows the error names)
# ---------------------------------------------------------------------------------------------
snapshot=$(targets_json)
gcall SetMachineTarget "$M4" "$tmp/files/missing-kernel" "@as []" "" "@a{sv} {}"
expect_error "SetMachineTarget, missing kernel: InvalidTarget naming the file" "$ERR.InvalidTarget" "$tmp/files/missing-kernel"
gcall SetMachineTarget "$M4" "$K" "['$IA', '$tmp/files/missing-initrd']" "" "@a{sv} {}"
expect_error "SetMachineTarget, missing initrd: InvalidTarget naming it" "$ERR.InvalidTarget" "$tmp/files/missing-initrd"
gcall SetMachineTarget "$M4" "$tmp/files/a-directory" "@as []" "" "@a{sv} {}"
expect_error "SetMachineTarget, kernel is a directory: InvalidTarget" "$ERR.InvalidTarget" "$tmp/files/a-directory"
gcall SetMachineTarget "$M4" "ftp://127.0.0.1/kernel" "@as []" "" "@a{sv} {}"
expect_error "SetMachineTarget, ftp:// URL: InvalidTarget" "$ERR.InvalidTarget" "ftp://127.0.0.1/kernel"
gcall SetMachineTarget "$M4" "" "@as []" "" "@a{sv} {}"
check "SetMachineTarget, empty kernel: InvalidTarget" test "$GRC" -ne 0 -a -z "${GOUT##*GDBus.Error:$ERR.InvalidTarget*}"
gcall SetMachineTarget "$M4" "$K" "@as []" "'console=ttyS0\nrm -rf'" "@a{sv} {}"
expect_error "SetMachineTarget, cmdline with a newline: InvalidTarget" "$ERR.InvalidTarget" "cmdline"
gcall SetMachineTarget "52:54:00:00:00:0g" "$K" "@as []" "" "@a{sv} {}"
expect_error "SetMachineTarget, bad MAC: InvalidArgs naming it" org.freedesktop.DBus.Error.InvalidArgs "52:54:00:00:00:0g"
gcall SetMachineTarget "52:54:00:00:00" "$K" "@as []" "" "@a{sv} {}"
expect_error "SetMachineTarget, short MAC: InvalidArgs" org.freedesktop.DBus.Error.InvalidArgs "52:54:00:00:00"
gcall SetMachineTarget "$M4" "$K" "@as []" "" "{'forever': <true>}"
expect_error "SetMachineTarget, unknown option: InvalidArgs naming it" org.freedesktop.DBus.Error.InvalidArgs "forever"
gcall SetMachineTarget "$M4" "$K" "@as []" "" "{'once': <'yes'>}"
expect_error "SetMachineTarget, option once of the wrong type: InvalidArgs" org.freedesktop.DBus.Error.InvalidArgs ""
gcall ClearMachineTarget "$M4"
expect_error "ClearMachineTarget without a rule: NoSuchTarget" "$ERR.NoSuchTarget" "$M4"
gcall ClearMachineTarget "nonsense"
expect_error "ClearMachineTarget, bad MAC: InvalidArgs" org.freedesktop.DBus.Error.InvalidArgs "nonsense"
gcall IgnoreMachine "00:11:22:33:44"
expect_error "IgnoreMachine, bad MAC: InvalidArgs" org.freedesktop.DBus.Error.InvalidArgs "00:11:22:33:44"
gcall ClearDefaultTarget
expect_error "ClearDefaultTarget without a default: NoSuchTarget" "$ERR.NoSuchTarget" ""
gcall SetDefaultTarget "$tmp/files/missing-default" "@as []" ""
expect_error "SetDefaultTarget, missing kernel: InvalidTarget naming it" "$ERR.InvalidTarget" "$tmp/files/missing-default"
gcall ResolveTarget "52:54:00:00:00:001"
expect_error "ResolveTarget, bad MAC: InvalidArgs" org.freedesktop.DBus.Error.InvalidArgs "52:54:00:00:00:001"
eq "failed calls changed nothing (ListMachineTargets as before)" "$(targets_json)" "$snapshot"
eq "failed calls changed nothing (DefaultTarget as before)" "$(getp DefaultTarget)" "(sass) \"$K\" 2 \"$IA\" \"$IB\" \"$CMDLINE\""

# StorageFailed: the state directory vanishes under the running daemon
mv "$STATE" "$STATE.away"
gcall SetMachineTarget "$M4" "$K" "@as []" "" "@a{sv} {}"
expect_error "SetMachineTarget when the state cannot be saved: StorageFailed" "$ERR.StorageFailed" ""
gcall SetDefaultTarget "$K" "@as []" ""
expect_error "SetDefaultTarget when the state cannot be saved: StorageFailed" "$ERR.StorageFailed" ""
mv "$STATE.away" "$STATE"
eq "StorageFailed changed nothing" "$(targets_json)" "$snapshot"
eq "... and ResolveTarget agrees" "$(resolve "$M4" | cut -d' ' -f2)" '"static"'
skip "LimitExceeded" "needs 65536 rules; covered by tests/unit/test-targets.c"

# ---------------------------------------------------------------------------------------------
# polkit: nobody
# ---------------------------------------------------------------------------------------------
polkit_allow >/dev/null
ngcall SetMachineTarget "$M4" "$K" "@as []" "" "@a{sv} {}"
expect_error "nobody, polkit allows nothing: SetMachineTarget is AccessDenied" org.freedesktop.DBus.Error.AccessDenied "$ACTION"
ngcall ClearMachineTarget "$M2"
expect_error "nobody, polkit allows nothing: ClearMachineTarget is AccessDenied" org.freedesktop.DBus.Error.AccessDenied ""
ngcall IgnoreMachine "$M4"
expect_error "nobody, polkit allows nothing: IgnoreMachine is AccessDenied" org.freedesktop.DBus.Error.AccessDenied ""
ngcall SetDefaultTarget "$K" "@as []" ""
expect_error "nobody, polkit allows nothing: SetDefaultTarget is AccessDenied" org.freedesktop.DBus.Error.AccessDenied ""
ngcall ClearDefaultTarget
expect_error "nobody, polkit allows nothing: ClearDefaultTarget is AccessDenied" org.freedesktop.DBus.Error.AccessDenied ""
eq "denied calls changed nothing" "$(targets_json)" "$snapshot"
ngcall ListMachineTargets
expect_success "nobody may call ListMachineTargets"
ngcall ResolveTarget "$M2"
check "nobody may call ResolveTarget" test "$GRC" -eq 0 -a -z "${GOUT##*machine-once*}"
nobody timeout 20 busctl --system introspect "$BUS_NAME" "$OBJ" >/dev/null 2>&1
check "nobody may introspect" test $? -eq 0
polkit_allow org.example.other-action >/dev/null
ngcall SetMachineTarget "$M4" "$K" "@as []" "" "@a{sv} {}"
expect_error "nobody, polkit allows another action only: AccessDenied" org.freedesktop.DBus.Error.AccessDenied ""
polkit_allow "$ACTION" >/dev/null
ngcall SetMachineTarget "$M4" "$K" "@as []" "" "@a{sv} {}"
expect_success "nobody, polkit allows $ACTION: SetMachineTarget succeeds"
eq "... and the rule is there" "$(resolve "$M4" | cut -d' ' -f2)" '"machine"'
ngcall ClearMachineTarget "$M4"
expect_success "nobody, polkit allows $ACTION: ClearMachineTarget succeeds"
ngcall SetDefaultTarget "$K" "@as []" ""
expect_success "nobody, polkit allows $ACTION: SetDefaultTarget succeeds"
ngcall ClearDefaultTarget
expect_success "nobody, polkit allows $ACTION: ClearDefaultTarget succeeds"
polkit_allow >/dev/null
# polkit gone: AccessDenied (not a hang), root still allowed
stop_pid "$polkit_pid"
polkit_pid=
start=$SECONDS
ngcall SetMachineTarget "$M4" "$K" "@as []" "" "@a{sv} {}"
expect_error "nobody, polkit not running: AccessDenied" org.freedesktop.DBus.Error.AccessDenied ""
check "... answered at once ($((SECONDS - start)) s)" test $((SECONDS - start)) -lt 10
gcall SetMachineTarget "$M4" "$K" "@as []" "" "@a{sv} {}"
expect_success "root, polkit not running: allowed without asking polkit"
gcall ClearMachineTarget "$M4"
"$PYTHON" -m dbusmock --system --template polkitd >>"$tmp/polkit.log" 2>&1 </dev/null &
polkit_pid=$!
wait_for 15 polkit_up || diag "polkit mock did not come back"

# ---------------------------------------------------------------------------------------------
# A boot over HTTP, watched: InterfacesAdded, State sequence, progress, no secrets
# ---------------------------------------------------------------------------------------------
MARK_IFACE=org.pixiecore.Test
monitor_start() { # monitor_start FILE: busctl monitor for our signals, ready once a marker is seen
	local f=$1
	timeout 120 busctl --system monitor --json=short \
		--match="type=signal,sender=$BUS_NAME" --match="type=signal,interface=$MARK_IFACE" >"$f" 2>"$f.err" </dev/null &
	monitor_pid=$!
	marker "$f" start
}
marker() { # marker FILE NAME: emit, and wait until the monitor has it
	local i
	for i in $(seq 1 50); do
		bc emit /org/pixiecore/Test "$MARK_IFACE" Marker s "$2" 2>/dev/null
		grep -q "\"data\":\\[\"$2\"\\]" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
monitor_stop() {
	marker "$1" end || diag "monitor lost the end marker"
	stop_pid "$monitor_pid"
	monitor_pid=
}
fetch_script() { # fetch_script MAC FILE
	curl -s --max-time 10 -o "$2" "$BASE/_/ipxe?mac=$1&arch=0"
}
script_urls() { # script_urls SCRIPT: kernel URL, then initrd URLs
	awk '($1 == "kernel" || $1 == "initrd") { for (i = 2; i <= NF; i++) if ($i ~ /^http:/) { print $i; break } }' "$1"
}
session_path() { echo "$OBJ/session/$(tr -d ':-' <<<"$1" | tr 'A-F' 'a-f')"; }

MB=52:54:00:b0:07:01
PB=$(session_path "$MB")
call SetMachineTarget 'ssassa{sv}' "$MB" "$K" 2 "$IA" "$IB" "$CMDLINE $SECRET" 0 >/dev/null
if monitor_start "$tmp/boot.mon"; then
	ok "busctl monitor records the daemon's signals"
else
	not_ok "busctl monitor records the daemon's signals" "$(cat "$tmp/boot.mon.err")"
fi
call SetDefaultTarget sass "$tmp/files/other-kernel" 0 "$SECRET" >/dev/null
fetch_script "$MB" "$tmp/boot.ipxe"
i=0
for u in $(script_urls "$tmp/boot.ipxe"); do
	curl -s --max-time 20 -o "$tmp/boot.file$i" "$u"
	i=$((i + 1))
done
eq "iPXE script names kernel and two initrds; all three downloaded intact" \
	"$(sha "$tmp/boot.file0") $(sha "$tmp/boot.file1") $(sha "$tmp/boot.file2")" "$(sha "$K") $(sha "$IA") $(sha "$IB")"
boots_one() { [ "$(getp CompletedBoots)" = "t 1" ]; }
check "CompletedBoots becomes 1" wait_for 10 boots_one
monitor_stop "$tmp/boot.mon"

# analyse the recorded signals
analyse() { # analyse MONITOR-FILE WHAT ARGS...
	"$PYTHON" - "$@" <<'EOF'
import json, sys
path, what, args = sys.argv[1], sys.argv[2], sys.argv[3:]
msgs = []
for line in open(path):
    line = line.strip()
    if line:
        try:
            msgs.append(json.loads(line))
        except ValueError:
            pass
SIFACE = "org.pixiecore.Pixiecore1.Session"
def val(v):
    return v["data"]
def session_events(p):
    """(member, {prop: value}) for one session path, in order"""
    out = []
    for m in msgs:
        d = m.get("payload", {}).get("data", [])
        if m.get("member") == "InterfacesAdded" and d and d[0] == p and SIFACE in d[1]:
            out.append(("added", {k: val(v) for k, v in d[1][SIFACE].items()}))
        elif m.get("member") == "InterfacesRemoved" and d and d[0] == p:
            out.append(("removed", {"interfaces": d[1]}))
        elif m.get("member") == "PropertiesChanged" and m.get("path") == p and d[0] == SIFACE:
            out.append(("changed", {k: val(v) for k, v in d[1].items()}))
    return out
def fail(text):
    print(text)
    print(json.dumps([e for e in session_events(args[0])] if args else [], indent=None)[:3000])
    sys.exit(1)
if what == "added":
    ev = session_events(args[0])
    if not ev or ev[0][0] != "added" or ev[0][1].get("MACAddress") != args[1]:
        fail("no InterfacesAdded first for %s" % args[0])
    need = {"MACAddress","Firmware","Architecture","ClientAddress","State","CurrentFile","BytesSent","BytesTotal",
            "StartedUSec","UpdatedUSec","Error","TargetSource"}
    if set(ev[0][1]) != need:
        fail("InterfacesAdded properties: %s" % sorted(ev[0][1]))
elif what == "states":
    states = []
    for kind, props in session_events(args[0]):
        s = props.get("State")
        if s and (not states or states[-1] != s):
            states.append(s)
    if states != args[1].split():
        fail("states: %s" % states)
elif what == "complete":
    # every file, in order: a signal with BytesSent = BytesTotal = its size, while it is the
    # CurrentFile (named as given, or starting with it)
    want = list(zip(args[1::2], map(int, args[2::2])))
    got = []
    for kind, props in session_events(args[0]):
        f = props.get("CurrentFile", "")
        if props.get("BytesSent") is not None and props.get("BytesSent") == props.get("BytesTotal"):
            for prefix, size in want:
                if f.startswith(prefix) and size == props["BytesSent"] and (not got or got[-1] != (prefix, size)):
                    got.append((prefix, size))
    if got != want:
        fail("complete: %s, want %s" % (got, want))
elif what == "progress-signals":
    # number of PropertiesChanged while the given file was in flight, not complete
    count = sum(1 for kind, p in session_events(args[0])
                if kind == "changed" and p.get("CurrentFile") == args[1] and p.get("BytesSent", 0) < p.get("BytesTotal", 0))
    print(count)
elif what == "manager-boots":
    ok = any(m.get("member") == "PropertiesChanged" and m.get("path") == "/org/pixiecore/Pixiecore1"
             and m["payload"]["data"][0] == "org.pixiecore.Pixiecore1.Manager"
             and m["payload"]["data"][1].get("CompletedBoots", {}).get("data") == int(args[0]) for m in msgs)
    sys.exit(0 if ok else 1)
elif what == "default-invalidated":
    for m in msgs:
        d = m.get("payload", {}).get("data", [])
        if m.get("member") == "PropertiesChanged" and m.get("path") == "/org/pixiecore/Pixiecore1" and d[0].endswith(".Manager") \
                and "DefaultTarget" in d[2]:
            sys.exit(1 if "DefaultTarget" in d[1] else 0)
    sys.exit(1)
elif what == "removed":
    ev = session_events(args[0])
    sys.exit(0 if any(k == "removed" and SIFACE in p["interfaces"] for k, p in ev) else 1)
EOF
}
if out=$(analyse "$tmp/boot.mon" added "$PB" "$MB"); then
	ok "InterfacesAdded for $PB with all Session properties"
else
	not_ok "InterfacesAdded for $PB with all Session properties" "$out"
fi
if out=$(analyse "$tmp/boot.mon" states "$PB" "script-sent loading-kernel loading-initrd booting"); then
	ok "State: script-sent -> loading-kernel -> loading-initrd -> booting (InterfacesAdded, PropertiesChanged)"
else
	not_ok "State: script-sent -> loading-kernel -> loading-initrd -> booting" "$out"
fi
if out=$(analyse "$tmp/boot.mon" complete "$PB" kernel "$(stat -c %s "$K")" initrd-0 "$(stat -c %s "$IA")" initrd-1 "$(stat -c %s "$IB")"); then
	ok "PropertiesChanged: BytesSent reaches BytesTotal (the file's size) for kernel and both initrds"
else
	not_ok "PropertiesChanged: BytesSent reaches BytesTotal for each file" "$out"
fi
check "Manager PropertiesChanged: CompletedBoots 1" analyse "$tmp/boot.mon" manager-boots 1
counters=$(timeout 20 busctl --system --json=short get-property "$BUS_NAME" "$OBJ" "$IFACE" Counters 2>&1)
jcheck "Counters: the simulated boot counted HTTP requests and bytes, nothing malformed" "$counters" \
	'd["data"]["http-requests"] >= 4 and d["data"]["http-bytes-sent"] > 0 and d["data"]["dhcp-malformed"] == 0'
check "DefaultTarget changes are announced by name only (invalidated, no value)" analyse "$tmp/boot.mon" default-invalidated
if grep -q "s3cr3t" "$tmp/boot.mon"; then
	not_ok "no command line secret in any broadcast signal" "$(grep -m3 s3cr3t "$tmp/boot.mon")"
else
	ok "no command line secret in any broadcast signal"
fi
eq "Session State" "$(sgetp "$PB" State)" 's "booting"'
eq "Session MACAddress" "$(sgetp "$PB" MACAddress)" "s \"$MB\""
eq "Session TargetSource" "$(sgetp "$PB" TargetSource)" 's "machine"'
eq "Session ClientAddress" "$(sgetp "$PB" ClientAddress)" 's "127.0.0.1"'
eq "Session CurrentFile, BytesSent, BytesTotal at the end (initrd-N names for run-time targets too)" \
	"$(sgetp "$PB" CurrentFile) $(sgetp "$PB" BytesSent) $(sgetp "$PB" BytesTotal)" \
	"s \"initrd-1\" t $(stat -c %s "$IB") t $(stat -c %s "$IB")"
started=$(sgetp "$PB" StartedUSec | cut -d' ' -f2)
updated=$(sgetp "$PB" UpdatedUSec | cut -d' ' -f2)
check "Session StartedUSec <= UpdatedUSec, both recent" test "$started" -le "$updated" -a "$started" -ge $(((before - 5) * 1000000))
eq "Manager Sessions" "$(getp Sessions)" "u 1"
bc introspect --xml-interface "$BUS_NAME" "$PB" >"$tmp/served-session.xml" 2>&1
if out=$(compare_xml "$tmp/served-session.xml" "$SOURCE_ROOT/dbus/$SIFACE.xml" "$SIFACE" 2>&1); then
	ok "served introspection of $SIFACE matches dbus/$SIFACE.xml"
else
	not_ok "served introspection of $SIFACE matches dbus/$SIFACE.xml" "$out"
fi
j=$(bc --json=short call "$BUS_NAME" "$OBJ" org.freedesktop.DBus.ObjectManager GetManagedObjects)
jcheck "GetManagedObjects lists the session with its properties" "$j" \
	'd["data"][0][a[0]]["org.pixiecore.Pixiecore1.Session"]["State"]["data"] == "booting"' "$PB"
call ClearDefaultTarget >/dev/null

# Progress is rate limited: a 12 MB kernel read slowly (3 MB/s, small receive buffer: loopback
# would otherwise take it all at once) gives progress signals, at most ~4/s
MS=52:54:00:b0:07:02
PS=$(session_path "$MS")
call SetMachineTarget 'ssassa{sv}' "$MS" "$tmp/files/big-kernel" 0 "" 0 >/dev/null
monitor_start "$tmp/slow.mon" >/dev/null
fetch_script "$MS" "$tmp/slow.ipxe"
kurl=$(script_urls "$tmp/slow.ipxe" | head -n1)
start_ms=$(date +%s%3N)
timeout 60 "$PYTHON" - "$kurl" "$tmp/slow.kernel" 3000000 <<'EOF'
import socket, sys, time, urllib.parse
url, out, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
u = urllib.parse.urlsplit(url)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
s.settimeout(30)
s.connect((u.hostname, u.port))
s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (u.path, u.netloc)).encode())
data, start = bytearray(), time.monotonic()
while True:
    chunk = s.recv(16384)
    if not chunk:
        break
    data += chunk
    ahead = len(data) / rate - (time.monotonic() - start)
    if ahead > 0:
        time.sleep(ahead)
head, _, body = bytes(data).partition(b"\r\n\r\n")
open(out, "wb").write(body)
EOF
dur_ms=$(($(date +%s%3N) - start_ms))
sleep 0.5
monitor_stop "$tmp/slow.mon"
count=$(analyse "$tmp/slow.mon" progress-signals "$PS" kernel)
limit=$((dur_ms * 4 / 1000 + 3))
if [ "$(sha "$tmp/slow.kernel")" = "$(sha "$tmp/files/big-kernel")" ] && [ "${count:-0}" -ge 2 ] && [ "${count:-0}" -le "$limit" ]; then
	ok "progress announced while sending, rate limited: $count PropertiesChanged in ${dur_ms} ms (<= $limit)"
else
	not_ok "progress announced while sending, rate limited (got ${count:-?} in ${dur_ms} ms, want 2..$limit)"
fi
if out=$(analyse "$tmp/slow.mon" complete "$PS" kernel "$(stat -c %s "$tmp/files/big-kernel")"); then
	ok "... and the completed transfer is announced (BytesSent = BytesTotal)"
else
	not_ok "... and the completed transfer is announced" "$out"
fi
call ClearMachineTarget s "$MS" >/dev/null

# ---------------------------------------------------------------------------------------------
# once-targets and ignores over HTTP
# ---------------------------------------------------------------------------------------------
MO=52:54:00:0e:ce:01
PO=$(session_path "$MO")
"$PIXIECORECTL" set-target "$MO" --kernel "$tmp/files/once-kernel" --cmdline "once=1" --once >/dev/null 2>"$tmp/ctl.err"
check "pixiecorectl set-target --once" test $? -eq 0
fetch_script "$MO" "$tmp/once1.ipxe"
curl -s --max-time 10 -o "$tmp/once1.kernel" "$(script_urls "$tmp/once1.ipxe" | head -n1)"
eq "first boot after set-target --once gets the once-target's kernel" "$(sha "$tmp/once1.kernel")" "$(sha "$tmp/files/once-kernel")"
check "... and its cmdline" grep -q '^boot .* once=1' "$tmp/once1.ipxe"
eq "... Session TargetSource machine-once" "$(sgetp "$PO" TargetSource)" 's "machine-once"'
eq "the once-rule is used up by the script" "$(resolve "$MO" | cut -d' ' -f2)" '"static"'
fetch_script "$MO" "$tmp/once2.ipxe"
curl -s --max-time 10 -o "$tmp/once2.kernel" "$(script_urls "$tmp/once2.ipxe" | head -n1)"
eq "second boot gets the default (configured) kernel" "$(sha "$tmp/once2.kernel")" "$(sha "$K")"
eq "... Session TargetSource static" "$(sgetp "$PO" TargetSource)" 's "static"'

MI=52:54:00:19:00:01
call IgnoreMachine s "$MI" >/dev/null
fetch_script "$MI" "$tmp/ignored.ipxe"
if grep -q '^#!ipxe' "$tmp/ignored.ipxe" && ! grep -qE '^(kernel|initrd|boot)' "$tmp/ignored.ipxe" && grep -qi 'ignored' "$tmp/ignored.ipxe"; then
	ok "IgnoreMachine: the iPXE script is a refusal (no kernel, says ignored)"
else
	not_ok "IgnoreMachine: the iPXE script is a refusal" "$(cat "$tmp/ignored.ipxe")"
fi
eq "... Session State ignored" "$(sgetp "$(session_path "$MI")" State)" 's "ignored"'

# ---------------------------------------------------------------------------------------------
# pixiecorectl
# ---------------------------------------------------------------------------------------------
ctl() { CTL_OUT=$(timeout 30 "$PIXIECORECTL" "$@" 2>"$tmp/ctl.err"); CTL_RC=$?; CTL_ERR=$(cat "$tmp/ctl.err"); }
ctl status
if [ $CTL_RC -eq 0 ] && grep -q '^ *Mode: static$' <<<"$CTL_OUT" && grep -q "^ *Version: $version\$" <<<"$CTL_OUT" &&
	grep -q "^ *Default kernel: $K\$" <<<"$CTL_OUT" && grep -q '^ *Bootloader: ipxe$' <<<"$CTL_OUT"; then
	ok "pixiecorectl status"
else
	not_ok "pixiecorectl status (rc $CTL_RC)" "$CTL_OUT" "$CTL_ERR"
fi
ctl
check "pixiecorectl without a command is status" grep -q '^ *Mode: static$' <<<"$CTL_OUT"
ctl status --json
jcheck "pixiecorectl status --json" "$CTL_OUT" '
d["Version"] == a[0] and d["Mode"] == "static" and d["ApiURL"] == "" and d["Bootloader"] == "ipxe"
and d["DefaultTarget"] == {"kernel": a[1], "initrds": [a[2], a[3]], "cmdline": a[4]}
and d["MachineTargets"] == 4 and d["Sessions"] == 4 and d["CompletedBoots"] >= 1' \
	"$version" "$K" "$IA" "$IB" "$CMDLINE"
ctl targets --json
jcheck "pixiecorectl targets --json matches ListMachineTargets" "$CTL_OUT" \
	'[[t["mac"], t["kind"], t["kernel"], t["initrds"], t["cmdline"], t["once"], t["set_usec"]] for t in d] == json.loads(a[0])["data"][0]' \
	"$(targets_json)"
ctl targets
check "pixiecorectl targets (table)" grep -qE "^$M2 +target +yes " <<<"$CTL_OUT"
ctl resolve "$M2" --json
jcheck "pixiecorectl resolve --json" "$CTL_OUT" \
	'd == {"mac": a[0], "source": "machine-once", "kernel": a[1], "initrds": [], "cmdline": "", "reason": d["reason"]} and d["reason"]' \
	"$M2" "$K"
ctl resolve "$MI"
check "pixiecorectl resolve (text)" grep -q '^ *Source: ignored$' <<<"$CTL_OUT"
ctl sessions --json
jcheck "pixiecorectl sessions --json" "$CTL_OUT" \
	'any(s["MACAddress"] == a[0] and s["State"] == "booting" and s["Path"] == a[1] and s["BytesSent"] == s["BytesTotal"] for s in d)' \
	"$MB" "$PB"
ctl sessions
if grep -qE "^$MB +[a-z0-9]+ +127\.0\.0\.1 +booting +initrd-1 +100% \(48\.8 KiB/48\.8 KiB\)" <<<"$CTL_OUT"; then
	ok "pixiecorectl sessions (table with progress)"
else
	not_ok "pixiecorectl sessions (table with progress)" "$CTL_OUT"
fi
(cd "$tmp/files" && timeout 30 "$PIXIECORECTL" set-target "$M4" --kernel other-kernel --initrd other-initrd --initrd ./initrd-a.img >/dev/null 2>&1)
jcheck "pixiecorectl set-target makes relative paths absolute" "$(callj ResolveTarget s "$M4")" \
	'd["data"][:4] == ["machine", a[0], [a[1], a[2]], ""]' "$tmp/files/other-kernel" "$tmp/files/other-initrd" "$IA"
ctl clear-target "$M4"
check "pixiecorectl clear-target" test $CTL_RC -eq 0
ctl set-default --kernel "$tmp/files/other-kernel" --cmdline x=1
eq "pixiecorectl set-default" "$CTL_RC $(getp DefaultTarget)" "0 (sass) \"$tmp/files/other-kernel\" 0 \"x=1\""
ctl clear-default
eq "pixiecorectl clear-default" "$CTL_RC $(resolve "$M4" | cut -d' ' -f2)" '0 "static"'
ctl ignore "$M4"
eq "pixiecorectl ignore" "$CTL_RC $(resolve "$M4" | cut -d' ' -f2)" '0 "ignored"'
"$PIXIECORECTL" clear-target "$M4" >/dev/null 2>&1
ctl set-target "$M4" --kernel "$tmp/files/missing-kernel"
check "pixiecorectl set-target, missing kernel: exit 1, the message names the file" \
	test $CTL_RC -eq 1 -a -z "${CTL_ERR##*"$tmp/files/missing-kernel"*}"
ctl set-target 52:54:00:zz:00:01 --kernel "$K"
check "pixiecorectl set-target, bad MAC: exit 1, says so" test $CTL_RC -eq 1 -a -z "${CTL_ERR##*Invalid MAC address*}"
ctl clear-target "$M4"
check "pixiecorectl clear-target without a rule: exit 1" test $CTL_RC -eq 1 -a -n "$CTL_ERR"
ctl clear-default
check "pixiecorectl clear-default without a default: exit 1" test $CTL_RC -eq 1 -a -n "$CTL_ERR"
ctl set-target "$M4"
check "pixiecorectl set-target without --kernel: exit 2" test $CTL_RC -eq 2
ctl frobnicate
check "pixiecorectl unknown command: exit 2" test $CTL_RC -eq 2
ctl status --once
check "pixiecorectl option that does not apply: exit 2" test $CTL_RC -eq 2
ctl set-target --help
check "pixiecorectl set-target --help: exit 0, describes --once" test $CTL_RC -eq 0 -a -z "${CTL_OUT##*--once*}"
out=$(nobody timeout 30 "$PIXIECORECTL" --no-ask-password set-target "$M4" --kernel "$K" 2>&1)
rc=$?
check "pixiecorectl as nobody, polkit says no: exit 1, not authorized" test $rc -eq 1 -a -z "${out##*Not authorized*}"
out=$(nobody timeout 30 "$PIXIECORECTL" targets --json 2>&1)
jcheck "pixiecorectl as nobody: targets --json works" "$out" 'isinstance(d, list) and len(d) == 4'

# watch: a live table while a machine boots; ends by itself after --timeout
MW=52:54:00:3a:7c:01
timeout 30 "$PIXIECORECTL" watch --timeout 4 >"$tmp/watch.out" 2>"$tmp/watch.err" </dev/null &
watch_pid=$!
wait_for 5 grep -q 'pixiecore' "$tmp/watch.out"
fetch_script "$MW" "$tmp/watch.ipxe"
# (one redraw per batch of signals: let it show this state before the files go out)
wait_for 5 grep -qE "^$MW +script-sent " "$tmp/watch.out"
for u in $(script_urls "$tmp/watch.ipxe"); do curl -s --max-time 10 -o /dev/null "$u"; done
start=$SECONDS
wait "$watch_pid"
rc=$?
watch_pid=
if [ $rc -eq 0 ] && [ $((SECONDS - start)) -le 10 ] && grep -qE "^$MW +booting +initrd-1 +\[#{24}\] +100%" "$tmp/watch.out" &&
	grep -qE "^$MW +script-sent " "$tmp/watch.out"; then
	ok "pixiecorectl watch: redrawn from script-sent to booting with a full progress bar; exits 0 after --timeout"
else
	not_ok "pixiecorectl watch (rc $rc)" "$(tail -n 12 "$tmp/watch.out")" "$(cat "$tmp/watch.err")"
fi

# ---------------------------------------------------------------------------------------------
# Persistence: restart with the same state directory; a corrupt targets.json
# ---------------------------------------------------------------------------------------------
call SetDefaultTarget sass "$tmp/files/other-kernel" 1 "$tmp/files/other-initrd" "persist=1" >/dev/null
before_targets=$(targets_json)
before_default=$(getp DefaultTarget)
if start_daemon restart; then
	eq "after a restart: ListMachineTargets unchanged (incl. once and set_usec)" "$(targets_json)" "$before_targets"
	eq "after a restart: DefaultTarget unchanged" "$(getp DefaultTarget)" "$before_default"
	eq "after a restart: ResolveTarget default" "$(resolve 52:54:00:77:77:77 | cut -d' ' -f2)" '"default"'
	eq "after a restart: ResolveTarget machine-once" "$(resolve "$M2" | cut -d' ' -f2)" '"machine-once"'
	eq "after a restart: no sessions" "$(getp Sessions)" "u 0"
else
	not_ok "daemon restarts with the same state directory"
fi
stop_daemon
check "the targets are kept in <state-dir>/targets.json" test -s "$STATE/targets.json"
printf '{"version": 1, "machines": [ {"mac": "52:54:00' >"$STATE/targets.json"
cp "$STATE/targets.json" "$tmp/corrupt.copy"
if start_daemon corrupt; then
	ok "a corrupt targets.json does not stop startup"
	eq "... no targets then" "$(targets_json)" '{"type":"a(sssassbt)","data":[[]]}'
	eq "... DefaultTarget is the configured one" "$(getp DefaultTarget)" "(sass) \"$K\" 2 \"$IA\" \"$IB\" \"$CMDLINE\""
	aside=$(find "$STATE" -maxdepth 1 -name 'targets.json.corrupt*' | head -n1)
	check "... the damaged file is kept aside (${aside##*/})" cmp -s "${aside:-/nonexistent}" "$tmp/corrupt.copy"
	check "... and logged" grep -qi 'damaged\|corrupt' "$tmp/corrupt.log"
	call SetMachineTarget 'ssassa{sv}' "$M1" "$K" 0 "" 0 >/dev/null
	check "... targets can be set again" test $? -eq 0
else
	not_ok "a corrupt targets.json does not stop startup" "$(tail -n 5 "$tmp/corrupt.log")"
fi

# Eviction (-max-sessions 1): InterfacesRemoved for the old session, InterfacesAdded for the new
if start_daemon evict -max-sessions 1; then
	ME1=52:54:00:e1:00:01
	ME2=52:54:00:e1:00:02
	fetch_script "$ME1" "$tmp/e1.ipxe"
	monitor_start "$tmp/evict.mon" >/dev/null
	fetch_script "$ME2" "$tmp/e2.ipxe"
	monitor_stop "$tmp/evict.mon"
	check "eviction: InterfacesRemoved for the evicted session" analyse "$tmp/evict.mon" removed "$(session_path "$ME1")"
	if out=$(analyse "$tmp/evict.mon" added "$(session_path "$ME2")" "$ME2"); then
		ok "eviction: InterfacesAdded for the new session"
	else
		not_ok "eviction: InterfacesAdded for the new session" "$out"
	fi
	eq "eviction: Sessions stays 1" "$(getp Sessions)" "u 1"
else
	not_ok "daemon starts with -max-sessions 1"
fi

# ---------------------------------------------------------------------------------------------
# API mode (the API is not contacted by ResolveTarget)
# ---------------------------------------------------------------------------------------------
STATE=$tmp/state-api
if start_daemon api -api "http://127.0.0.1:9/"; then
	eq "API mode: Mode api" "$(getp Mode)" 's "api"'
	eq "API mode: ApiURL" "$(getp ApiURL)" 's "http://127.0.0.1:9/"'
	eq "API mode: DefaultTarget empty" "$(getp DefaultTarget)" '(sass) "" 0 ""'
	eq "API mode: ResolveTarget api" "$(resolve "$M4")" \
		'ssasss "api" "" 0 "" "the boot API decides when the machine boots"'
	call SetMachineTarget 'ssassa{sv}' "$M4" "$K" 0 "" 0 >/dev/null
	eq "API mode: a machine's own target beats the API" "$(resolve "$M4" | cut -d' ' -f2)" '"machine"'
	ctl status --json
	jcheck "API mode: pixiecorectl status --json" "$CTL_OUT" \
		'd["Mode"] == "api" and d["ApiURL"] == "http://127.0.0.1:9/" and d["DefaultTarget"] is None'
else
	not_ok "daemon starts in API mode"
fi

# ---------------------------------------------------------------------------------------------
# Not running
# ---------------------------------------------------------------------------------------------
stop_daemon
ctl status
eq "pixiecorectl status, daemon stopped: exit 3 and says so" "$CTL_RC $CTL_ERR" \
	"3 pixiecore is not running (no owner for $BUS_NAME on the system bus)"
ctl set-target "$M4" --kernel "$K"
check "pixiecorectl set-target, daemon stopped: exit 3" test $CTL_RC -eq 3
ctl targets --json
check "pixiecorectl targets, daemon stopped: exit 3, nothing on stdout" test $CTL_RC -eq 3 -a -z "$CTL_OUT"
ctl watch --timeout 2
check "pixiecorectl watch, daemon stopped: exit 3" test $CTL_RC -eq 3

tap_done
