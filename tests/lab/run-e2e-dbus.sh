#!/bin/bash
# End-to-end test of pixiecore's D-Bus service (org.pixiecore.Pixiecore1) with real firmware:
# a QEMU machine netboots from pixiecore (static mode, in the lab's network namespaces) while
# the test watches the bus, then the test steers the machine over D-Bus.
#
#   tests/lab/run-e2e-dbus.sh [MODE]        MODE: bios (default) | uefi-ipxe | uefi-native
#
#   boot 1  the configured (static) payload. The bus watcher must see InterfacesAdded for the
#           machine's Session object, its State values in boot order (script-sent, loading-kernel,
#           loading-initrd, booting, after whatever early states the firmware goes through), the
#           kernel and each initrd reaching BytesSent == BytesTotal > 0, TargetSource "static".
#   boot 2  after `pixiecorectl set-target MAC --once` (SetMachineTarget once=true) with a second
#           payload (same kernel, two new initrds with other marker tokens, another cmdline):
#           the machine boots that payload, TargetSource "machine-once".
#   boot 3  nothing changed: the once-target is used up, the machine boots the static payload
#           again; ResolveTarget says "static", ListMachineTargets is empty, CompletedBoots is 3.
#   boot 4  after `pixiecorectl ignore MAC` (IgnoreMachine): no PXL-BOOT-OK within
#           PXL_IGNORED_TIMEOUT (default 40 s), pixiecore logs the refusal, the Session's State
#           is "ignored", ResolveTarget says "ignored".
#
# The bus is a private dbus-daemon configured like a system bus (socket in the run dir, which
# the server namespace reaches through the file system); pixiecore and pixiecorectl find it
# through DBUS_SYSTEM_BUS_ADDRESS, busctl through --address. The watcher is
# `busctl monitor --json=short`; the recorded signals are checked by a small Python script.
#
# Environment: as run-e2e.sh (PIXIECORE, PXL_CACHE, PXL_TIMEOUT, PXL_KEEP_RUN, PXL_VERBOSE),
# plus PIXIECORECTL (default: next to PIXIECORE in the build tree; without it the mutations
# are sent with busctl) and PXL_IGNORED_TIMEOUT.
#
# Exit: 0 passed, 1 failed, 77 cannot run here (meson's "skipped").
set -euo pipefail

MODE=${1:-bios}
case $MODE in
bios | uefi-ipxe | uefi-native) ;;
*)
	echo "usage: $0 [bios|uefi-ipxe|uefi-native]" >&2
	exit 2
	;;
esac
NAME="e2e dbus $MODE"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/lab/lab.sh
source "$HERE/lab.sh"

lab_find_pixiecore "$NAME"
if [[ -z ${PIXIECORECTL:-} ]]; then
	for c in "$(dirname "$PIXIECORE")/ctl/pixiecorectl" "${PX_BUILD_ROOT:-/nonexistent}/src/ctl/pixiecorectl"; do
		if [[ -x $c ]]; then
			PIXIECORECTL=$c
			break
		fi
	done
fi
PIXIECORECTL=${PIXIECORECTL:-}
if ! lab_require_root_tools; then
	echo "$NAME: SKIP: the lab cannot run here" >&2
	exit 77
fi
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=$(command -v python3 || true)
for t in dbus-daemon busctl "$PYTHON"; do
	if [[ -z $t ]] || ! command -v "$t" >/dev/null 2>&1; then
		echo "$NAME: SKIP: needs dbus-daemon, busctl and python3 (missing: ${t:-python3})" >&2
		exit 77
	fi
done

TIMEOUT=${PXL_TIMEOUT:-120}
IGNORED_TIMEOUT=${PXL_IGNORED_TIMEOUT:-40}
TOKEN="pxl.test=first-$RANDOM"
CMDLINE="console=ttyS0 $TOKEN quiet"
TOKEN2="pxl.test=second-$RANDOM"
CMDLINE2="console=ttyS0 $TOKEN2 quiet"

T0=$(_pxl_now)
lab_payload "${PXL_CACHE}"
lab_up # the EXIT trap (lab_down) kills everything started with lab_bg / lab_run_vm

VM_MAC=$(lab_vm_mac "$MODE")
SESSION_PATH=/org/pixiecore/Pixiecore1/session/${VM_MAC//:/}
PXLOG=$PXL_RUN_DIR/pixiecore.log
MON=$PXL_RUN_DIR/bus-monitor.json
BUS_SOCKET=$PXL_RUN_DIR/system_bus_socket
BUS_ADDR=unix:path=$BUS_SOCKET
SERIAL=

report_failure() {
	echo "---- pixiecore log (tail) ----------------------------------------------"
	lab_tail "$PXLOG" 80 'pixiecore| '
	if [[ -n $SERIAL ]]; then
		echo "---- serial console of the last boot (tail) ----------------------------"
		lab_tail "$SERIAL" 40 'serial| '
	fi
	echo "---- bus signals from pixiecore (tail) ---------------------------------"
	"$PYTHON" - "$MON" <<'PYEOF' 2>&1 | tail -n 40 | sed 's/^/bus| /' || true
import json, sys
def short(v):
    v = v.get('data') if isinstance(v, dict) and set(v) == {'type', 'data'} else v
    return {k: short(x) for k, x in v.items()} if isinstance(v, dict) else v
keep = ('State', 'CurrentFile', 'BytesSent', 'BytesTotal', 'TargetSource', 'Sessions', 'CompletedBoots',
        'MachineTargets')
for line in open(sys.argv[1], errors='replace'):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get('type') != 'signal' or not m.get('path', '').startswith('/org/pixiecore/'):
        continue
    d = m['payload']['data']
    if m['member'] == 'InterfacesAdded':
        p = short(d[1].get('org.pixiecore.Pixiecore1.Session', {}))
        what = f"{d[0].rsplit('/', 1)[-1]} " + str({k: p[k] for k in keep if k in p})
    elif m['member'] == 'InterfacesRemoved':
        what = d[0].rsplit('/', 1)[-1]
    elif m['member'] == 'PropertiesChanged':
        p = short(d[1])
        what = f"{m['path'].rsplit('/', 1)[-1]} " + str({k: p[k] for k in keep if k in p})
    else:
        what = str(d)[:200]
    print(m.get('timestamp-realtime', 0) // 1000 % 10000000, m['member'], what)
PYEOF
	echo "---- dbus-daemon / watcher ---------------------------------------------"
	lab_tail "$PXL_RUN_DIR/dbus-daemon.log" 10 'dbus-daemon| '
	grep -av '^{' "$MON" 2>/dev/null | tail -n 5 | sed 's/^/busctl-monitor| /' || true
	echo "------------------------------------------------------------------------"
	echo "$NAME: FAILED"
}

FAILED=0
fail() {
	echo "$NAME: FAIL: $*"
	FAILED=1
}
# die MSG: fail, report, exit (the EXIT trap cleans up)
die() {
	fail "$*"
	report_failure
	exit 1
}

# ---- the private system bus and the watcher ------------------------------------------------
# A test-only bus: system-bus type, EXTERNAL auth, everything allowed (pixiecore itself lets
# only root mutate, which the test is). Started in the server namespace so that lab_down's
# namespace sweep ends it even if its pid was lost; the socket is a path, reachable from all.
cat >"$PXL_RUN_DIR/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$BUS_SOCKET</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
EOF
lab_bg "$PXL_NS_SRV" "$PXL_RUN_DIR/dbus-daemon.log" \
	dbus-daemon --config-file="$PXL_RUN_DIR/bus.conf" --nofork --nopidfile --nosyslog
BUS_PID=$LAB_BG_PID
for ((i = 0; i < 100; i++)); do
	[[ -S $BUS_SOCKET ]] && break
	kill -0 "$BUS_PID" 2>/dev/null || break
	sleep 0.05
done
[[ -S $BUS_SOCKET ]] || die "the private dbus-daemon did not start"

bus() { busctl --address="$BUS_ADDR" --timeout=10 "$@"; }

# Everything on the bus, one JSON object per message, flushed per line.
lab_bg "$PXL_NS_SRV" "$MON" busctl --address="$BUS_ADDR" monitor --json=short
MON_PID=$LAB_BG_PID
# (its stderr goes to the same file: "Monitoring bus message stream." says it is ready; the
# checker skips lines that are not JSON)
for ((i = 0; i < 100; i++)); do
	grep -q 'Monitoring bus' "$MON" 2>/dev/null && break
	sleep 0.05
done
grep -q 'Monitoring bus' "$MON" 2>/dev/null || die "busctl monitor did not start"

# ---- pixiecore ------------------------------------------------------------------------------
echo "$NAME: bus at $BUS_ADDR; starting $PIXIECORE in $PXL_NS_SRV ($PXL_SERVER_IP)"
lab_bg "$PXL_NS_SRV" "$PXLOG" env -u CACHE_DIRECTORY -u STATE_DIRECTORY -u http_proxy -u https_proxy \
	DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" \
	"$PIXIECORE" -kernel "$PXL_PAYLOAD_DIR/vmlinuz" \
	-initrd "$PXL_PAYLOAD_DIR/initrd-a.cpio.gz,$PXL_PAYLOAD_DIR/initrd-b.cpio.gz" \
	--cmdline "$CMDLINE" -state-dir "$PXL_RUN_DIR/state" -debug --bootloader ipxe
PXPID=$LAB_BG_PID
owned=0
for ((i = 0; i < 100; i++)); do
	if ! kill -0 "$PXPID" 2>/dev/null; then
		break
	fi
	if bus status org.pixiecore.Pixiecore1 >/dev/null 2>&1; then
		owned=1
		break
	fi
	sleep 0.1
done
((owned)) || die "pixiecore did not take org.pixiecore.Pixiecore1 on the private bus within 10 s"
echo "$NAME: pixiecore owns org.pixiecore.Pixiecore1 ($(bus get-property org.pixiecore.Pixiecore1 \
	/org/pixiecore/Pixiecore1 org.pixiecore.Pixiecore1.Manager Mode 2>/dev/null || echo '?'))"

# The second payload: two fresh initrds built by the lab's own builder (new marker tokens).
PAYLOAD2=$PXL_RUN_DIR/payload2
mkdir -p "$PAYLOAD2"
_pxl_build_initrds "$PAYLOAD2"
TOKEN2_A=$(sed -n 's/^PXL_TOKEN_A=//p' "$PAYLOAD2/tokens.env")
TOKEN2_B=$(sed -n 's/^PXL_TOKEN_B=//p' "$PAYLOAD2/tokens.env")
[[ -n $TOKEN2_A && -n $TOKEN2_B && $TOKEN2_A != "$PXL_TOKEN_A" ]] || die "could not build the second payload"

# ---- helpers --------------------------------------------------------------------------------

cat >"$PXL_RUN_DIR/check-bus.py" <<'PYEOF'
# check-bus.py MONITOR_LOG FROM_LINE SESSION_PATH EXPECT [options]
#   EXPECT boot:    one session that went through the boot states in order and booted
#   EXPECT ignored: sessions of this machine only ever "ignored" (or "discovered")
#   --source S      TargetSource of the booting session must be S
#   --initrds N     that many initrd transfers must complete
#   --final JSON    busctl --json=short GetAll reply: one more snapshot at the end
# Prints a one-line summary; exit 0 when all holds, 1 otherwise (reasons on stdout).
import argparse, json, sys

SESSION_IFACE = 'org.pixiecore.Pixiecore1.Session'
MANAGER_PATH = '/org/pixiecore/Pixiecore1'
ORDER = ['discovered', 'offered', 'pxe-acked', 'loading-bootloader', 'bootloader-loaded',
         'script-sent', 'loading-kernel', 'loading-initrd', 'booting']
REQUIRED = ['script-sent', 'loading-kernel', 'loading-initrd', 'booting']

ap = argparse.ArgumentParser()
ap.add_argument('log')
ap.add_argument('start', type=int)
ap.add_argument('path')
ap.add_argument('expect', choices=['boot', 'ignored'])
ap.add_argument('--source')
ap.add_argument('--initrds', type=int, default=2)
ap.add_argument('--final')
a = ap.parse_args()


def unwrap(v):
    # busctl --json: a variant is {"type": T, "data": D}
    if isinstance(v, dict) and set(v) == {'type', 'data'}:
        return v['data']
    return v


def props(d):
    return {k: unwrap(v) for k, v in (d or {}).items()}


events = []  # (kind, props)
with open(a.log, errors='replace') as f:
    lines = f.readlines()[a.start:]
for line in lines:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get('type') != 'signal':
        continue
    member, data = m.get('member'), (m.get('payload') or {}).get('data') or []
    if member == 'InterfacesAdded' and m.get('path') == MANAGER_PATH and data and data[0] == a.path:
        events.append(('added', props((data[1] or {}).get(SESSION_IFACE))))
    elif member == 'InterfacesRemoved' and m.get('path') == MANAGER_PATH and data and data[0] == a.path:
        events.append(('removed', {}))
    elif member == 'PropertiesChanged' and m.get('path') == a.path and data and data[0] == SESSION_IFACE:
        events.append(('changed', props(data[1])))
if a.final:
    try:
        reply = json.loads(a.final)
        events.append(('final', props(reply['data'][0])))
    except (ValueError, KeyError, IndexError, TypeError):
        pass

# Session instances: from an InterfacesAdded to the next InterfacesRemoved; the snapshots
# are the merged properties after each signal.
instances, cur = [], None
for kind, p in events:
    if kind == 'added':
        cur = {'snaps': [dict(p)], 'removed': False}
        instances.append(cur)
    elif kind == 'removed':
        if cur:
            cur['removed'] = True
        cur = None
    elif cur is not None:
        cur['snaps'].append({**cur['snaps'][-1], **p})
    elif kind == 'changed':
        # changes of a session announced before the window: keep them, but as not "added"
        cur = {'snaps': [dict(p)], 'removed': False, 'unannounced': True}
        instances.append(cur)

problems = []
added = sum(1 for k, _ in events if k == 'added')
removed = sum(1 for k, _ in events if k == 'removed')
changed = sum(1 for k, _ in events if k == 'changed')


def states_of(inst):
    seq = []
    for s in inst['snaps']:
        st = s.get('State')
        if st and (not seq or seq[-1] != st):
            seq.append(st)
    return seq


def transfers_of(inst):
    # a transfer: consecutive snapshots with the same State, CurrentFile and BytesTotal whose
    # BytesSent does not go down
    out = []
    for s in inst['snaps']:
        key = (s.get('State'), s.get('CurrentFile'), s.get('BytesTotal'))
        sent = s.get('BytesSent') or 0
        if out and out[-1]['key'] == key and sent >= out[-1]['sent']:
            out[-1]['sent'] = sent
            continue
        if s.get('State') == 'booting' and out and out[-1]['key'][1:] == key[1:]:
            # "booting" is set on the last file's completion: the same transfer
            out[-1]['sent'] = max(sent, out[-1]['sent'])
            continue
        out.append({'key': key, 'sent': sent})
    return out


if a.expect == 'boot':
    if added == 0:
        problems.append(f'no InterfacesAdded for {a.path}')
    booted = [i for i in instances if 'booting' in states_of(i)]
    if not booted:
        problems.append('no session reached State "booting" (states seen: %s)'
                        % ' | '.join('>'.join(states_of(i)) for i in instances))
        inst = instances[-1] if instances else {'snaps': []}
    else:
        inst = booted[-1]
        if inst.get('unannounced'):
            problems.append('the booting session was never announced with InterfacesAdded')
    seq = states_of(inst)
    unknown = [s for s in seq if s not in ORDER]
    if unknown:
        problems.append(f'unexpected states {unknown} in {seq}')
    ranks = [ORDER.index(s) for s in seq if s in ORDER]
    if ranks != sorted(ranks):
        problems.append(f'states out of order: {">".join(seq)}')
    pos = -1
    for r in REQUIRED:
        if r not in seq:
            problems.append(f'state "{r}" never announced (sequence {">".join(seq)})')
        elif seq.index(r) < pos:
            problems.append(f'state "{r}" out of order in {">".join(seq)}')
        else:
            pos = seq.index(r)
    xfers = transfers_of(inst)
    kernel = [x for x in xfers if x['key'][0] == 'loading-kernel']
    initrd = [x for x in xfers if x['key'][0] in ('loading-initrd', 'booting')]

    def complete(x):
        return (x['key'][2] or 0) > 0 and x['sent'] == x['key'][2]

    if not any(complete(x) for x in kernel):
        problems.append('no announcement with the kernel complete (BytesSent == BytesTotal > 0): %s'
                        % [(x['key'], x['sent']) for x in kernel])
    done = [x for x in initrd if complete(x)]
    if len(done) < a.initrds:
        problems.append(f'{len(done)} of {a.initrds} initrd transfers announced complete: '
                        + str([(x["key"], x["sent"]) for x in initrd]))
    last = inst['snaps'][-1] if inst['snaps'] else {}
    if a.source and last.get('TargetSource') != a.source:
        problems.append(f'TargetSource is {last.get("TargetSource")!r}, want {a.source!r}')
    kb = ' '.join(f'{x["key"][1]}={x["sent"]}/{x["key"][2]}' for x in kernel + initrd)
    print(f'states {">".join(seq)}; files (sent/total): {kb}; source {last.get("TargetSource")}; '
          f'signals: {added} added, {changed} changed, {removed} removed')
else:
    seen = [s for i in instances for s in states_of(i)]
    bad = sorted({s for s in seen if s not in ('discovered', 'ignored')})
    if 'ignored' not in seen:
        problems.append(f'no session of the machine announced State "ignored" (states seen: {seen})')
    if bad:
        problems.append(f'the ignored machine got further: states {bad}')
    print(f'states seen: {" ".join(sorted(set(seen)))}; signals: {added} added, {changed} changed, '
          f'{removed} removed')

for p in problems:
    print('PROBLEM: ' + p)
sys.exit(1 if problems else 0)
PYEOF

mon_lines() { wc -l <"$MON" 2>/dev/null || echo 0; }

# check_bus FROM_LINE EXPECT [args]: runs check-bus.py on the watcher's log; prints its
# summary, fails the test on its PROBLEM lines.
check_bus() {
	local from=$1 expect=$2 out rc=0 final
	shift 2
	sleep 0.6 # rate-limited progress is announced within 250 ms
	final=$(bus --json=short call org.pixiecore.Pixiecore1 "$SESSION_PATH" org.freedesktop.DBus.Properties \
		GetAll s org.pixiecore.Pixiecore1.Session 2>/dev/null || true)
	out=$("$PYTHON" "$PXL_RUN_DIR/check-bus.py" "$MON" "$from" "$SESSION_PATH" "$expect" \
		--final "${final:-null}" "$@" 2>&1) || rc=$?
	CHECK_SUMMARY=$(head -n1 <<<"$out")
	while IFS= read -r l; do
		case $l in
		PROBLEM:*) fail "bus: ${l#PROBLEM: }" ;;
		esac
	done <<<"$out"
	if ((rc != 0)) && ! grep -q '^PROBLEM:' <<<"$out"; then
		fail "check-bus.py failed: $out"
	fi
	return 0
}

# resolve_source: ResolveTarget's source for the VM
resolve_source() {
	bus --json=short call org.pixiecore.Pixiecore1 /org/pixiecore/Pixiecore1 org.pixiecore.Pixiecore1.Manager \
		ResolveTarget s "$VM_MAC" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["data"][0])'
}
# list_targets: "MAC kind once" per ListMachineTargets entry
list_targets() {
	bus --json=short call org.pixiecore.Pixiecore1 /org/pixiecore/Pixiecore1 org.pixiecore.Pixiecore1.Manager \
		ListMachineTargets | "$PYTHON" -c '
import json, sys
for t in json.load(sys.stdin)["data"][0]:
    print(t[0], t[1], "once" if t[5] else "always")'
}
manager_prop() {
	bus get-property org.pixiecore.Pixiecore1 /org/pixiecore/Pixiecore1 org.pixiecore.Pixiecore1.Manager "$1" |
		awk '{ print $2 }'
}

declare -A BOOT_TIME
# boot N LABEL: runs the VM once, serial log in $PXL_RUN_DIR/serial-N.log; sets BOOT_FROM
boot() {
	local n=$1 t=${2:-$TIMEOUT} rc=0
	SERIAL=$PXL_RUN_DIR/serial-$n.log
	BOOT_FROM=$(mon_lines)
	lab_run_vm "$MODE" "$SERIAL" "$t" || rc=$?
	BOOT_TIME[$n]=${LAB_VM_OK_SECONDS:-none (${LAB_VM_SECONDS} s)}
	return "$rc"
}

# assert_booted N TOKEN_A TOKEN_B CMDLINE_TOKEN
assert_booted() {
	local n=$1
	if ! PXL_TOKEN_A=$2 PXL_TOKEN_B=$3 lab_assert_boot "$SERIAL"; then
		fail "boot $n did not boot the expected payload (markers $2 / $3)"
	fi
	if ! lab_cmdline_has "$SERIAL" "$4"; then
		fail "boot $n: kernel cmdline lacks '$4' (got: '$(lab_cmdline_of "$SERIAL")')"
	fi
}

# ---- boot 1: the static payload, watched on the bus -----------------------------------------
echo "$NAME: boot 1: static payload"
boot 1 || fail "boot 1: the VM did not finish (rc $?)"
assert_booted 1 "$PXL_TOKEN_A" "$PXL_TOKEN_B" "$TOKEN"
check_bus "$BOOT_FROM" boot --source static --initrds 2
echo "$NAME: boot 1 bus: $CHECK_SUMMARY"
((FAILED == 0)) || die "boot 1 failed; not going on"

# ---- boot 2: set-target --once --------------------------------------------------------------
echo "$NAME: set-target $VM_MAC --once (second payload) with ${PIXIECORECTL:-busctl}"
FROM=$(mon_lines)
if [[ -n $PIXIECORECTL ]]; then
	DBUS_SYSTEM_BUS_ADDRESS=$BUS_ADDR timeout 30 "$PIXIECORECTL" --no-ask-password set-target "$VM_MAC" \
		--kernel "$PXL_PAYLOAD_DIR/vmlinuz" --initrd "$PAYLOAD2/initrd-a.cpio.gz" \
		--initrd "$PAYLOAD2/initrd-b.cpio.gz" --cmdline "$CMDLINE2" --once ||
		die "pixiecorectl set-target --once failed"
else
	bus call org.pixiecore.Pixiecore1 /org/pixiecore/Pixiecore1 org.pixiecore.Pixiecore1.Manager \
		SetMachineTarget 'ssassa{sv}' "$VM_MAC" "$PXL_PAYLOAD_DIR/vmlinuz" 2 "$PAYLOAD2/initrd-a.cpio.gz" \
		"$PAYLOAD2/initrd-b.cpio.gz" "$CMDLINE2" 1 once b true || die "SetMachineTarget failed"
fi
src=$(resolve_source || true)
[[ $src == machine-once ]] || fail "after set-target --once ResolveTarget says '$src', want 'machine-once'"
targets=$(list_targets || true)
[[ $targets == "$VM_MAC target once" ]] || fail "ListMachineTargets after set-target --once: '$targets'"
sleep 0.3
if ! sed -n "$((FROM + 1)),\$p" "$MON" | grep -a '"member":"PropertiesChanged"' | grep -a '"path":"/org/pixiecore/Pixiecore1"' |
	grep -aq '"MachineTargets":{"type":"u","data":1}'; then
	fail "no PropertiesChanged with MachineTargets=1 on the Manager after set-target"
fi

echo "$NAME: boot 2: the once-target"
boot 2 || fail "boot 2: the VM did not finish (rc $?)"
assert_booted 2 "$TOKEN2_A" "$TOKEN2_B" "$TOKEN2"
check_bus "$BOOT_FROM" boot --source machine-once --initrds 2
echo "$NAME: boot 2 bus: $CHECK_SUMMARY"
grep -q "$VM_MAC.*once-target used" "$PXLOG" || fail "pixiecore did not log that the once-target was used"

# ---- boot 3: back to the static payload -----------------------------------------------------
src=$(resolve_source || true)
[[ $src == static ]] || fail "after the once-boot ResolveTarget says '$src', want 'static'"
targets=$(list_targets || true)
[[ -z $targets ]] || fail "ListMachineTargets is not empty after the once-boot: '$targets'"
echo "$NAME: boot 3: static payload again (once-target used up)"
boot 3 || fail "boot 3: the VM did not finish (rc $?)"
assert_booted 3 "$PXL_TOKEN_A" "$PXL_TOKEN_B" "$TOKEN"
check_bus "$BOOT_FROM" boot --source static --initrds 2
echo "$NAME: boot 3 bus: $CHECK_SUMMARY"
boots=$(manager_prop CompletedBoots || true)
[[ $boots == 3 ]] || fail "CompletedBoots is '$boots' after three boots, want 3"

# ---- boot 4: ignored ------------------------------------------------------------------------
echo "$NAME: ignore $VM_MAC with ${PIXIECORECTL:-busctl}"
if [[ -n $PIXIECORECTL ]]; then
	DBUS_SYSTEM_BUS_ADDRESS=$BUS_ADDR timeout 30 "$PIXIECORECTL" --no-ask-password ignore "$VM_MAC" ||
		fail "pixiecorectl ignore failed"
else
	bus call org.pixiecore.Pixiecore1 /org/pixiecore/Pixiecore1 org.pixiecore.Pixiecore1.Manager \
		IgnoreMachine s "$VM_MAC" || fail "IgnoreMachine failed"
fi
src=$(resolve_source || true)
[[ $src == ignored ]] || fail "after IgnoreMachine ResolveTarget says '$src', want 'ignored'"
targets=$(list_targets || true)
[[ $targets == "$VM_MAC ignore always" ]] || fail "ListMachineTargets after IgnoreMachine: '$targets'"
echo "$NAME: boot 4: ignored machine (${IGNORED_TIMEOUT} s)"
LOG_FROM=$(wc -l <"$PXLOG")
boot 4 "$IGNORED_TIMEOUT" || true
if grep -q 'PXL-BOOT-OK' "$SERIAL" 2>/dev/null; then
	fail "boot 4: the ignored machine booted"
fi
if ! sed -n "$((LOG_FROM + 1)),\$p" "$PXLOG" | grep -qE "$VM_MAC.*not booting this machine"; then
	fail "boot 4: pixiecore did not log that it ignores $VM_MAC"
fi
if sed -n "$((LOG_FROM + 1)),\$p" "$PXLOG" | grep -qE "$VM_MAC (offered|answered boot server)"; then
	fail "boot 4: pixiecore answered the ignored machine: $(sed -n "$((LOG_FROM + 1)),\$p" "$PXLOG" |
		grep -E "$VM_MAC (offered|answered)" | head -n1)"
fi
check_bus "$BOOT_FROM" ignored
echo "$NAME: boot 4 bus: $CHECK_SUMMARY"
src=$(resolve_source || true)
[[ $src == ignored ]] || fail "after boot 4 ResolveTarget says '$src', want 'ignored'"

if ! kill -0 "$PXPID" 2>/dev/null; then
	fail "pixiecore died during the test"
fi
if ! kill -0 "$BUS_PID" 2>/dev/null || ! kill -0 "$MON_PID" 2>/dev/null; then
	fail "the private bus or its watcher died during the test"
fi

echo "$NAME: boot 1 (static): PXL-BOOT-OK at ${BOOT_TIME[1]} s"
echo "$NAME: boot 2 (set-target --once): PXL-BOOT-OK at ${BOOT_TIME[2]} s"
echo "$NAME: boot 3 (once used up): PXL-BOOT-OK at ${BOOT_TIME[3]} s"
echo "$NAME: boot 4 (ignored): no boot within ${IGNORED_TIMEOUT} s (PXL-BOOT-OK: ${BOOT_TIME[4]})"
echo "$NAME: total $(_pxl_elapsed "$T0") s"
if ((FAILED)); then
	report_failure
	exit 1
fi
if [[ ${PXL_VERBOSE:-0} == 1 ]]; then
	lab_tail "$PXLOG" 200 'pixiecore| '
fi
echo "$NAME: passed"
exit 0
