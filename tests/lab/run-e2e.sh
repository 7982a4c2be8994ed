#!/bin/bash
# End-to-end netboot test: real firmware in QEMU boots the lab payload from pixiecore.
#
#   tests/lab/run-e2e.sh MODE [BOOTLOADER [VARIANT]]
#     MODE        bios | uefi-ipxe | uefi-native   (see lab_run_vm in lab.sh)
#     BOOTLOADER  passed to pixiecore --bootloader (default: ipxe)
#     VARIANT     (empty) static mode: pixiecore -kernel/-initrd/--cmdline
#                 api          API mode: tests/integration/fake-api.py in the server namespace
#                              answers the VM's MAC with the lab payload (kernel as a relative
#                              URL proxied from the API server, initrd-a and the NIC-module
#                              initrd as file://, initrd-b as an absolute-path URL) and a cmdline
#                              with pxl.url={{ URL "files/extra.txt" }}; the guest fetches that
#                              URL over the network and must print its token. The whole boot
#                              must cost exactly one API call.
#                 api-refused  API mode, the API answers 404 for the VM's MAC: the VM must not
#                              boot (no PXL-BOOT-OK within PXL_REFUSED_TIMEOUT, default 40 s),
#                              pixiecore must log the refusal and send no offer.
#                 flood        static mode, but first a bounded hostile flood from a fourth host
#                              on the lab switch (tests/integration/test-hostile.py workers:
#                              random datagrams, mutated DISCOVERs to 67/4011, DISCOVERs from
#                              thousands of MACs, malformed TFTP); then the daemon must be alive
#                              with bounded memory, and the VM must still boot.
#
# Environment:
#   PIXIECORE      the daemon binary (default: build/src/pixiecore, from the cwd or the repo root)
#   PXL_CACHE      payload cache dir (default /var/cache/pixiecore-lab)
#   PXL_TIMEOUT    seconds allowed for the VM (default 120)
#   PXL_PCAP=FILE  also capture DHCP/4011 packets on the lab switch into FILE
#   PXL_KEEP_RUN=1 keep the run dir (logs) afterwards
#   PXL_LIVE=1     show the VM's serial console and pixiecore's log live
#   PXL_VERBOSE=1  print pixiecore's log also on success
#   PXL_STRICT=1   also fail on an unclean daemon shutdown (SIGTERM status, GLib criticals)
#   PXL_API=1      same as VARIANT api (when no VARIANT is given)
#
# Exit: 0 booted, 1 failed, 77 cannot run here (meson's "skipped").
set -euo pipefail

MODE=${1:-}
BOOTLOADER=${2:-ipxe}
VARIANT=${3:-}
if [[ -z $VARIANT && ${PXL_API:-0} == 1 ]]; then
	VARIANT=api
fi
case $MODE/$VARIANT in
bios/* | uefi-ipxe/* | uefi-native/*) ;;
*) MODE= ;;
esac
case $VARIANT in
'' | api | api-refused | flood) ;;
*) MODE= ;;
esac
if [[ -z $MODE ]]; then
	echo "usage: $0 bios|uefi-ipxe|uefi-native [BOOTLOADER [api|api-refused|flood]]" >&2
	exit 2
fi
NAME="e2e $MODE $BOOTLOADER${VARIANT:+ $VARIANT}"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/lab/lab.sh
source "$HERE/lab.sh"

lab_find_pixiecore "$NAME"
if ! lab_require_root_tools; then
	echo "$NAME: SKIP: the lab cannot run here" >&2
	exit 77
fi

TIMEOUT=${PXL_TIMEOUT:-120}
TOKEN="pxl.test=hello-$RANDOM"
CMDLINE="console=ttyS0 $TOKEN quiet"

lab_payload "${PXL_CACHE}"
if [[ $VARIANT == api ]] && ! lab_payload_net "$PXL_PAYLOAD_DIR"; then
	echo "$NAME: FAIL: cannot build the NIC-module initrd the guest needs to fetch pxl.url"
	exit 1
fi
lab_up

PXLOG=$PXL_RUN_DIR/pixiecore.log
SERIAL=$PXL_RUN_DIR/serial-$MODE.log

report_failure() {
	if [[ $LIVE == 1 ]]; then
		echo "$NAME: FAILED (logs above)"
		return
	fi
	echo "---- pixiecore log (tail) ----------------------------------------------"
	lab_tail "$PXLOG" 80 'pixiecore| '
	echo "---- serial console (tail) ---------------------------------------------"
	lab_tail "$SERIAL" 60 'serial| '
	echo "---- primary DHCP server (tail) ----------------------------------------"
	lab_tail "$PXL_RUN_DIR/dnsmasq-primary.log" 25 'primary| '
	if [[ $VARIANT == api* ]]; then
		echo "---- fake API (tail) ---------------------------------------------------"
		lab_tail "$PXL_RUN_DIR/fake-api.log" 20 'fake-api| '
	fi
	echo "------------------------------------------------------------------------"
	echo "$NAME: FAILED"
}

if [[ -n ${PXL_PCAP:-} ]]; then
	lab_bg "$PXL_NS_SW" "$PXL_RUN_DIR/tcpdump.log" \
		tcpdump -i br0 -U -s 0 -w "$PXL_PCAP" 'udp port 67 or udp port 68 or udp port 4011'
fi

VM_MAC=$(lab_vm_mac "$MODE")
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=$(command -v python3)
FAKE_API=$ROOT/tests/integration/fake-api.py
# api_calls MAC: how many times the fake API was asked about MAC (empty if it cannot tell)
api_calls() {
	ip netns exec "$PXL_NS_SRV" "$PYTHON" -c '
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
c.request("GET", "/_calls")
d = json.loads(c.getresponse().read())
print(d["calls"].get(sys.argv[2], 0), " ".join(d["queries"].get(sys.argv[2], [])))
' "$API_PORT" "$1" 2>/dev/null || true
}

if [[ $VARIANT == api* ]]; then
	# The API server: fake-api.py on 127.0.0.1 inside the server namespace, mounted under /lab/.
	printf 'pxl-extra-%s\n' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" >"$PXL_RUN_DIR/extra.txt"
	URL_TOKEN=$(cat "$PXL_RUN_DIR/extra.txt")
	"$PYTHON" - "$PXL_RUN_DIR/fake-api.json" "$VARIANT" "$VM_MAC" "$PXL_PAYLOAD_DIR" "$CMDLINE" \
		"$PXL_RUN_DIR/extra.txt" "${PXL_INITRD_NET:-}" <<'EOF'
import json, sys
out, variant, mac, payload, cmdline, extra, net = sys.argv[1:8]
if variant == 'api':
    answer = {'json': {
        'kernel': 'files/kernel',                            # relative: <api>/files/kernel
        'initrd': [f'file://{payload}/initrd-a.cpio.gz',     # local file on the pixiecore host
                   '/lab/files/initrd-b',                    # absolute path on the API host
                   f'file://{net}'],                         # NIC modules for the pxl.url fetch
        'cmdline': cmdline + ' pxl.url={{ URL "files/extra.txt" }}',
        'message': 'pixiecore e2e: booting what the API said',
    }}
else:
    answer = {'status': 404, 'body': 'not this machine\n'}
cfg = {'default': {'status': 404, 'body': 'unknown machine\n'}, 'macs': {mac: answer},
       'files': {'kernel': {'path': f'{payload}/vmlinuz'}, 'initrd-b': {'path': f'{payload}/initrd-b.cpio.gz'},
                 'extra.txt': {'path': extra}}}
with open(out, 'w') as f:
    json.dump(cfg, f, indent=1)
EOF
	lab_bg "$PXL_NS_SRV" "$PXL_RUN_DIR/fake-api.log" \
		"$PYTHON" "$FAKE_API" --listen 127.0.0.1 --port 0 --port-file "$PXL_RUN_DIR/fake-api.port" \
		--prefix /lab --config "$PXL_RUN_DIR/fake-api.json" --max-time 60
	for ((i = 0; i < 100; i++)); do
		[[ -s $PXL_RUN_DIR/fake-api.port ]] && break
		sleep 0.05
	done
	API_PORT=$(cat "$PXL_RUN_DIR/fake-api.port" 2>/dev/null || true)
	if [[ -z $API_PORT ]]; then
		echo "$NAME: the fake API did not start"
		lab_tail "$PXL_RUN_DIR/fake-api.log" 20 'fake-api| '
		exit 1
	fi
	echo "$NAME: fake API on 127.0.0.1:$API_PORT in $PXL_NS_SRV; starting $PIXIECORE -api there"
	lab_bg "$PXL_NS_SRV" "$PXLOG" env -u http_proxy -u https_proxy -u all_proxy -u CACHE_DIRECTORY \
		"$PIXIECORE" -api "http://127.0.0.1:$API_PORT/lab" -state-dir "$PXL_RUN_DIR/state" \
		-debug --bootloader "$BOOTLOADER"
else
	echo "$NAME: starting $PIXIECORE in $PXL_NS_SRV ($PXL_SERVER_IP)"
	lab_bg "$PXL_NS_SRV" "$PXLOG" \
		"$PIXIECORE" -kernel "$PXL_PAYLOAD_DIR/vmlinuz" \
		-initrd "$PXL_PAYLOAD_DIR/initrd-a.cpio.gz,$PXL_PAYLOAD_DIR/initrd-b.cpio.gz" \
		--cmdline "$CMDLINE" -debug --bootloader "$BOOTLOADER"
fi
PXPID=$LAB_BG_PID
LIVE=${PXL_LIVE:-0}
if [[ $LIVE == 1 ]]; then
	lab_follow "$PXLOG" 'pixiecore| '
	lab_follow "$SERIAL" 'vm| '
fi
sleep 1
if ! kill -0 "$PXPID" 2>/dev/null; then
	rc=0
	wait "$PXPID" || rc=$?
	lab_unfollow
	echo "$NAME: pixiecore exited early (status $rc)"
	report_failure
	exit 1
fi

# vm_rss_kib PID: the daemon's resident memory now
vm_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

ok=1
if [[ $VARIANT == flood ]]; then
	# A fourth host on the lab switch floods the daemon, bounded by count and time per worker.
	FLOOD_NS="pxl-$$-flood"
	ip netns add "$FLOOD_NS"
	_PXL_NAMESPACES+=("$FLOOD_NS") # lab_down removes it
	ip -n "$FLOOD_NS" link set lo up
	# the workers bind to the device test-hostile.py's own client namespace has: veth-c
	ip -n "$PXL_NS_SW" link add swflood type veth peer name veth-c netns "$FLOOD_NS"
	ip -n "$PXL_NS_SW" link set swflood master br0 up
	ip -n "$FLOOD_NS" addr add "$PXL_SUBNET.50/24" dev veth-c
	ip -n "$FLOOD_NS" link set veth-c up
	rss_before=$(vm_rss_kib "$PXPID")
	for worker in garbage mutate macs tftp-bad; do
		if ! out=$(timeout 120 ip netns exec "$FLOOD_NS" "$PYTHON" "$ROOT/tests/integration/test-hostile.py" \
			--worker "$worker" --server "$PXL_SERVER_IP" --seed 7 2>&1); then
			echo "$NAME: FAIL: flood worker $worker did not finish: ${out:0:300}"
			ok=0
		fi
		echo "$NAME: flood $worker: ${out:0:200}"
	done
	rss_after=$(vm_rss_kib "$PXPID")
	echo "$NAME: daemon VmRSS ${rss_before} KiB before the flood, ${rss_after} KiB after"
	if ! kill -0 "$PXPID" 2>/dev/null; then
		echo "$NAME: FAIL: pixiecore died during the flood"
		report_failure
		exit 1
	fi
	if ((rss_after > rss_before + 32768)); then
		echo "$NAME: FAIL: the flood grew the daemon by more than 32 MiB"
		ok=0
	fi
fi
if [[ $VARIANT == api-refused ]]; then
	# The VM must not boot: run it for a bounded time and expect nothing.
	lab_run_vm "$MODE" "$SERIAL" "${PXL_REFUSED_TIMEOUT:-40}" || true
	lab_unfollow
	if grep -q 'PXL-BOOT-OK' "$SERIAL" 2>/dev/null; then
		echo "$NAME: FAIL: the VM booted although the API refused its MAC"
		ok=0
	fi
	if ! grep -qE "$VM_MAC (not booting this machine|API says no boot)" "$PXLOG"; then
		echo "$NAME: FAIL: pixiecore did not log the refusal for $VM_MAC"
		ok=0
	fi
	if grep -qE "$VM_MAC offered" "$PXLOG"; then
		echo "$NAME: FAIL: pixiecore sent an offer to the refused $VM_MAC: $(grep -E "$VM_MAC offered" "$PXLOG" | head -n1)"
		ok=0
	fi
	read -r calls queries <<<"$(api_calls "$VM_MAC")"
	echo "$NAME: the API was asked ${calls:-?} times about $VM_MAC (${queries:-no queries})"
	if [[ -z $calls || $calls -lt 1 ]]; then
		echo "$NAME: FAIL: the API was never asked about $VM_MAC"
		ok=0
	fi
else
	lab_run_vm "$MODE" "$SERIAL" "$TIMEOUT" || ok=0
	lab_unfollow
	lab_assert_boot "$SERIAL" || ok=0
	if ! lab_cmdline_has "$SERIAL" "$TOKEN"; then
		echo "$NAME: FAIL: kernel cmdline lacks '$TOKEN' (got: '$(lab_cmdline_of "$SERIAL")')"
		ok=0
	fi
fi
if [[ $VARIANT == api ]]; then
	got=$(sed -e 's/\r//g' "$SERIAL" | sed -n 's/^.*PXL-URL-CONTENT: //p' | tail -n1)
	if [[ $got != "$URL_TOKEN" ]]; then
		echo "$NAME: FAIL: the guest fetched pxl.url and got '$got', want '$URL_TOKEN'"
		sed -e 's/\r//g' "$SERIAL" | grep -E 'PXL-(NET|URL)' | sed 's/^/serial| /' || true
		ok=0
	else
		echo "$NAME: the guest fetched its {{ URL }} through pixiecore: '$got'"
	fi
	if ! lab_cmdline_of "$SERIAL" | grep -qE "pxl\.url=http://$PXL_SERVER_IP/_/file/${VM_MAC//:/-}/[A-Za-z0-9_-]+( |$)"; then
		echo "$NAME: FAIL: pxl.url in the cmdline is not a pixiecore /_/file URL: '$(lab_cmdline_of "$SERIAL")'"
		ok=0
	fi
	read -r calls queries <<<"$(api_calls "$VM_MAC")"
	echo "$NAME: API calls for this boot: ${calls:-?} (queries: ${queries:-none})"
	if [[ $calls != 1 ]]; then
		echo "$NAME: FAIL: the boot cost ${calls:-?} API calls, want exactly 1"
		ok=0
	fi
fi
if ! kill -0 "$PXPID" 2>/dev/null; then
	echo "$NAME: FAIL: pixiecore died during the boot"
	ok=0
fi

# Graceful shutdown: SIGTERM must end the daemon promptly with status 0 and no GLib
# criticals. Reported always; fails the test only with PXL_STRICT=1.
if kill -0 "$PXPID" 2>/dev/null; then
	kill -TERM "$PXPID" 2>/dev/null || true
	sd_rc=timeout
	for ((i = 0; i < 50; i++)); do
		if ! kill -0 "$PXPID" 2>/dev/null; then
			sd_rc=0
			wait "$PXPID" || sd_rc=$?
			break
		fi
		sleep 0.1
	done
	sd_bad=$(grep -aE 'assertion|CRITICAL|error: \[GLib' "$PXLOG" || true)
	if [[ $sd_rc != 0 || -n $sd_bad ]]; then
		echo "$NAME: WARN: unclean shutdown on SIGTERM (exit: $sd_rc)${sd_bad:+; log: $sd_bad}"
		[[ ${PXL_STRICT:-0} == 1 ]] && ok=0
	fi
fi

if ((ok)); then
	if [[ ${PXL_VERBOSE:-0} == 1 && $LIVE != 1 ]]; then
		lab_tail "$PXLOG" 200 'pixiecore| '
	fi
	if [[ $VARIANT == api-refused ]]; then
		echo "$NAME: refused as the API said: no offer, no boot in ${LAB_VM_SECONDS} s"
	else
		echo "$NAME: booted in ${LAB_VM_OK_SECONDS:-$LAB_VM_SECONDS} s"
	fi
	exit 0
fi
report_failure
exit 1
