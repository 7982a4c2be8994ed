#!/bin/bash
# bench-e2e: end-to-end netboot wall time in QEMU, pixiecore against a reference setup.
#
#   tests/bench/e2e/bench-e2e.sh [--quick] [--reps N] [--modes bios,uefi-ipxe,uefi-native] [--tuned]
#                                [--keep]
#
# For each mode (see lab_run_vm in tests/lab/lab.sh) the same payload (the lab's kernel and two
# initrds, the same cmdline) boots alternately
#   pixiecore  the lab's primary DHCP server (dnsmasq, addresses only) plus pixiecore in static
#              mode with the iPXE bootloader in the server namespace, as tests/lab/run-e2e.sh does;
#   reference  dnsmasq as the only DHCP server, also the TFTP server (undionly.kpxe / ipxe.efi
#              from /usr/lib/ipxe for firmware that is not iPXE yet) and, for DHCP from iPXE
#              (user class "iPXE"), the URL of an iPXE script on busybox httpd in the server
#              namespace, which loads the kernel and initrds from that httpd too.
#   reference-tuned  (only with --tuned or BENCH_E2E_TUNED=1) the reference plus the iPXE option
#              "no-proxydhcp" (175.176 = 1, from dnsmasq's example config): iPXE then requests its
#              lease at once instead of waiting ~2 s for ProxyDHCP offers that never come.
# Only one setup runs at a time: the lab's primary dnsmasq is stopped and replaced
# by the reference dnsmasq (same address range, same RA trick), and pixiecore and httpd share
# the server's port 80 in turn.
#
# Measured: wall time from VM start to the guest's PXL-BOOT-OK line on the serial console
# (lab_assert_boot must pass, and the cmdline must carry this run's token). Every boot is also
# captured on the lab switch (IPv4 DHCP/TFTP/HTTP, tcpdump) and its serial log timestamped per
# line, so that the report shows where the time goes: DHCP, TFTP, script, kernel, initrds,
# Linux. Repetitions are interleaved (the setups alternate, the order rotates every
# repetition) so that load from other processes hits both alike. Medians are reported.
#
# Defaults: 3 repetitions of bios, uefi-ipxe and uefi-native, within a time budget
# (BENCH_E2E_BUDGET seconds, default 560): when the next round of boots would not fit, further
# repetitions are dropped (the table shows the runs it has). --quick: 1 repetition, bios only.
#
# Environment: PIXIECORE (default build/src/pixiecore), PXL_CACHE (payload), BENCH_E2E_REPS,
# BENCH_E2E_MODES, BENCH_E2E_BUDGET, BENCH_E2E_STRICT=1 (exit 1 when pixiecore is slower),
# PXL_KEEP_RUN=1 or --keep (keep logs and captures).
# Exit: 0 all boots succeeded (target met or not, unless strict), 1 a boot failed, 77 cannot run.
#
# Not in lab.sh, so done here: stopping/replacing the primary DHCP server, a per-line
# timestamped copy of a log (bench_stamp), the switch capture, waiting for listening ports.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=${PX_SOURCE_ROOT:-$(cd "$HERE/../../.." && pwd)}
# shellcheck source=SCRIPTDIR/../../lab/lab.sh
source "$HERE/../../lab/lab.sh"

REPS=${BENCH_E2E_REPS:-3}
MODES=${BENCH_E2E_MODES:-bios,uefi-ipxe,uefi-native}
BUDGET=${BENCH_E2E_BUDGET:-560}
SETUPS=(pixiecore reference)
[[ ${BENCH_E2E_TUNED:-0} == 1 ]] && SETUPS+=(reference-tuned)
while (($#)); do
	case $1 in
	--quick) REPS=1 MODES=bios ;;
	--reps) REPS=$2 && shift ;;
	--modes) MODES=$2 && shift ;;
	--keep) export PXL_KEEP_RUN=1 ;;
	--tuned) SETUPS=(pixiecore reference reference-tuned) ;;
	*)
		echo "usage: $0 [--quick] [--reps N] [--modes bios,uefi-ipxe,uefi-native] [--tuned] [--keep]" >&2
		exit 2
		;;
	esac
	shift
done
IFS=, read -r -a MODE_LIST <<<"$MODES"
for m in "${MODE_LIST[@]}"; do
	lab_vm_mac "$m" >/dev/null || { echo "bench-e2e: unknown mode '$m'" >&2 && exit 2; }
done
[[ $REPS =~ ^[1-9][0-9]*$ ]] || { echo "bench-e2e: bad --reps '$REPS'" >&2 && exit 2; }

skip() {
	echo "bench-e2e: SKIP: $*" >&2
	exit 77
}
if [[ -z ${PIXIECORE:-} ]]; then
	PIXIECORE=$ROOT/build/src/pixiecore
	[[ -x build/src/pixiecore ]] && PIXIECORE=build/src/pixiecore
fi
[[ -x $PIXIECORE ]] || skip "no pixiecore binary at $PIXIECORE"
PIXIECORE=$(readlink -f "$PIXIECORE")
lab_require_root_tools || skip "the lab cannot run here"
for t in tcpdump python3 ss; do
	command -v "$t" >/dev/null 2>&1 || skip "missing $t"
done
busybox --list 2>/dev/null | grep -x httpd >/dev/null || skip "busybox has no httpd applet"
IPXE_DIR=/usr/lib/ipxe
[[ -r $IPXE_DIR/undionly.kpxe && -r $IPXE_DIR/ipxe.efi ]] || skip "no $IPXE_DIR/{undionly.kpxe,ipxe.efi} (package ipxe)"
PYTHON=$(command -v python3)
TIMELINE=$HERE/e2e_timeline.py

VM_TIMEOUT=${PXL_TIMEOUT:-120}
TOKEN="pxl.bench=e2e-$RANDOM$RANDOM"
CMDLINE="console=ttyS0 $TOKEN quiet"

lab_payload "${PXL_CACHE}"
lab_up
RUN=$PXL_RUN_DIR
# A private copy: a rebuild during the run must not swap the binary between boots.
cp "$PIXIECORE" "$RUN/pixiecore"
PIXIECORE_ORIG=$PIXIECORE
PIXIECORE=$RUN/pixiecore
RESULTS=$RUN/results.jsonl
: >"$RESULTS"

# --- helpers that lab.sh lacks ------------------------------------------------------------

# bench_stop PID: SIGTERM, then SIGKILL after 3 s; reaps it.
bench_stop() {
	local pid=$1 i
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 30; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# bench_wait_listen NS PROTO PORT: until something in NS listens there (5 s at most).
bench_wait_listen() {
	local ns=$1 proto=$2 port=$3 i flag=-Hltn
	[[ $proto == udp ]] && flag=-Hlun
	for ((i = 0; i < 100; i++)); do
		ip netns exec "$ns" ss "$flag" "sport = :$port" 2>/dev/null | grep -q . && return 0
		sleep 0.05
	done
	echo "bench-e2e: nothing listens on $proto/$port in $ns" >&2
	return 1
}

# bench_wait_free NS PROTO PORT: until nothing in NS listens there (5 s at most).
bench_wait_free() {
	local ns=$1 proto=$2 port=$3 i flag=-Hltn
	[[ $proto == udp ]] && flag=-Hlun
	for ((i = 0; i < 100; i++)); do
		ip netns exec "$ns" ss "$flag" "sport = :$port" 2>/dev/null | grep -q . || return 0
		sleep 0.05
	done
	echo "bench-e2e: $proto/$port in $ns still busy" >&2
	return 1
}

# bench_stamp FILE OUT [FROM]: follow FILE (inotify) and write "<epoch> <line>" for each line
# to OUT, from line FROM (tail -n syntax, default +1: all). Sets STAMP_PID (the tail; killing
# it ends the writer too).
bench_stamp() {
	local f=$1 o=$2 from=${3:-+1}
	[[ -e $f ]] || : >"$f"
	tail -n "$from" -F "$f" 2>/dev/null > >(while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done >"$o") &
	STAMP_PID=$!
	_PXL_PIDS+=("$STAMP_PID")
}

# The DHCP server of the dhcp namespace: "primary" (the lab's, addresses only; same options as
# lab_up uses), "reference" (also TFTP and the boot file / iPXE script URL) or
# "reference-tuned" (also no-proxydhcp for iPXE).
DHCP_PID=
DHCP_KIND=
# shellcheck disable=SC2054 # commas are dnsmasq's option syntax
dhcp_use() {
	local kind=$1
	[[ $kind == "$DHCP_KIND" ]] && kill -0 "$DHCP_PID" 2>/dev/null && return 0
	bench_stop "$DHCP_PID"
	DHCP_PID='' DHCP_KIND=''

	bench_wait_free "$PXL_NS_DHCP" udp 67 || return 1
	local -a args=(dnsmasq --keep-in-foreground --conf-file=/dev/null --user=root --group=root
		--port=0 --no-ping --no-resolv --no-hosts --interface=eth0 --bind-interfaces
		--dhcp-range="$PXL_SUBNET.100,$PXL_SUBNET.199,255.255.255.0,1h"
		--dhcp-leasefile="$RUN/$kind.leases"
		--enable-ra --dhcp-range=fd77::,ra-only,64 --ra-param=eth0,10,0
		--log-dhcp --log-facility=-)
	if [[ $kind == reference* ]]; then
		# dnsmasq keeps dhcp-boot lines in reverse order; the tags make them exclusive anyway.
		args+=(--enable-tftp --tftp-root="$IPXE_DIR"
			--dhcp-userclass=set:ipxe,iPXE
			--dhcp-match=set:efi64,option:client-arch,7
			--dhcp-match=set:efi64,option:client-arch,9
			--dhcp-boot=tag:ipxe,"http://$PXL_SERVER_IP/boot.ipxe"
			--dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi
			--dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe)
	fi
	if [[ $kind == reference-tuned ]]; then
		args+=(--dhcp-option=tag:ipxe,encap:175,176,1b)
	fi
	lab_bg "$PXL_NS_DHCP" "$RUN/dnsmasq-$kind.log" "${args[@]}"
	DHCP_PID=$LAB_BG_PID DHCP_KIND=$kind
	bench_wait_listen "$PXL_NS_DHCP" udp 67 || return 1
	if [[ $kind == reference* ]]; then
		bench_wait_listen "$PXL_NS_DHCP" udp 69 || return 1
	fi
}

# The lab_up primary dnsmasq becomes ours to stop and restart.
PRIMARY_PID=$(cat "$RUN/dnsmasq-primary.pid" 2>/dev/null || true)
if [[ -n $PRIMARY_PID ]] && kill -0 "$PRIMARY_PID" 2>/dev/null; then
	DHCP_PID=$PRIMARY_PID DHCP_KIND=lab-primary
fi

# The reference document root: the payload and an iPXE script equivalent to pixiecore's
# (named images, initrd=initrdN arguments for the EFI stub, the same cmdline).
WWW=$RUN/www
mkdir -p "$WWW"
ln -s "$PXL_PAYLOAD_DIR/vmlinuz" "$WWW/vmlinuz"
ln -s "$PXL_PAYLOAD_DIR/initrd-a.cpio.gz" "$WWW/initrd-a.cpio.gz"
ln -s "$PXL_PAYLOAD_DIR/initrd-b.cpio.gz" "$WWW/initrd-b.cpio.gz"
cat >"$WWW/boot.ipxe" <<EOF
#!ipxe
kernel --name kernel http://$PXL_SERVER_IP/vmlinuz || goto failed
initrd --name initrd0 http://$PXL_SERVER_IP/initrd-a.cpio.gz || goto failed
initrd --name initrd1 http://$PXL_SERVER_IP/initrd-b.cpio.gz || goto failed
boot kernel initrd=initrd0 initrd=initrd1 $CMDLINE || goto failed
:failed
echo reference: boot failed
sleep 5
exit 1
EOF
: >"$RUN/httpd.conf"

# server_start SETUP LOG: pixiecore or busybox httpd on the server's port 80. Sets SERVER_PID.
SERVER_PID=
server_start() {
	local setup=$1 log=$2
	bench_wait_free "$PXL_NS_SRV" tcp 80 || return 1
	if [[ $setup == pixiecore ]]; then
		bench_wait_free "$PXL_NS_SRV" udp 67 || return 1
		lab_bg "$PXL_NS_SRV" "$log" "$PIXIECORE" -kernel "$PXL_PAYLOAD_DIR/vmlinuz" \
			-initrd "$PXL_PAYLOAD_DIR/initrd-a.cpio.gz,$PXL_PAYLOAD_DIR/initrd-b.cpio.gz" \
			--cmdline "$CMDLINE" -debug --bootloader ipxe
		SERVER_PID=$LAB_BG_PID
		bench_wait_listen "$PXL_NS_SRV" udp 67 || return 1
	else
		lab_bg "$PXL_NS_SRV" "$log" busybox httpd -f -vv -p "$PXL_SERVER_IP:80" -h "$WWW" -c "$RUN/httpd.conf"
		SERVER_PID=$LAB_BG_PID
	fi
	bench_wait_listen "$PXL_NS_SRV" tcp 80
}

# check_served SETUP LOG: the boot really went through that setup's servers.
check_served() {
	local setup=$1 log=$2
	if [[ $setup == pixiecore ]]; then
		grep -q 'sent kernel' "$log" && grep -q 'sent initrd-1' "$log"
	else
		grep -q 'vmlinuz' "$log" && grep -q 'initrd-b.cpio.gz' "$log" &&
			grep -q "http://$PXL_SERVER_IP/boot.ipxe" "$RUN/dnsmasq-$setup.log"
	fi
}

FAILED=0
START_ALL=$EPOCHREALTIME
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed_all() { awk -v s="$START_ALL" -v e="$EPOCHREALTIME" 'BEGIN { printf "%d", e - s }'; }
declare -A LAST_PAIR=()

# boot_once MODE SETUP REP: one measured boot; appends a JSON line to $RESULTS.
boot_once() {
	local mode=$1 setup=$2 rep=$3
	local tag="$setup-$mode-$rep"
	local serial=$RUN/serial-$tag.log slog=$RUN/server-$tag.log pcap=$RUN/switch-$tag.pcap
	local stamp_pids=() start secs ok=1

	# (set -e does not apply in here: the caller tests the status)
	local dhcp_kind=primary
	[[ $setup == pixiecore ]] || dhcp_kind=$setup
	if ! dhcp_use "$dhcp_kind"; then
		echo "bench-e2e: $tag: the $dhcp_kind DHCP server did not start" >&2
		lab_tail "$RUN/dnsmasq-$dhcp_kind.log" 20 'dnsmasq| ' >&2
		FAILED=1
		return 1
	fi
	if ! server_start "$setup" "$slog"; then
		echo "bench-e2e: $tag: $setup did not start" >&2
		lab_tail "$slog" 20 "$setup| " >&2
		bench_stop "$SERVER_PID"
		FAILED=1
		return 1
	fi
	bench_stamp "$slog" "$slog.ts"
	stamp_pids+=("$STAMP_PID")
	bench_stamp "$RUN/dnsmasq-$DHCP_KIND.log" "$RUN/dhcp-$tag.log.ts" 0
	stamp_pids+=("$STAMP_PID")
	: >"$serial"
	bench_stamp "$serial" "$serial.ts"
	stamp_pids+=("$STAMP_PID")
	lab_bg "$PXL_NS_SW" "$RUN/tcpdump-$tag.log" tcpdump -i br0 -U -n -s 700 -w "$pcap" 'ip and (udp or tcp port 80)'
	local tcpdump_pid=$LAB_BG_PID i
	for ((i = 0; i < 100; i++)); do
		grep -q 'listening on' "$RUN/tcpdump-$tag.log" 2>/dev/null && break
		sleep 0.05
	done

	start=$EPOCHREALTIME
	lab_run_vm "$mode" "$serial" "$VM_TIMEOUT" >/dev/null 2>"$RUN/vm-$tag.err" || ok=0
	sleep 0.3 # let the followers catch up with the last lines
	bench_stop "$tcpdump_pid"
	for i in "${stamp_pids[@]}"; do
		bench_stop "$i"
	done
	bench_stop "$SERVER_PID"
	SERVER_PID=

	if ! lab_assert_boot "$serial" 2>"$RUN/assert-$tag.err"; then
		ok=0
	elif ! lab_cmdline_has "$serial" "$TOKEN"; then
		echo "bench-e2e: $tag: cmdline lacks $TOKEN: $(lab_cmdline_of "$serial")" >&2
		ok=0
	elif ! check_served "$setup" "$slog"; then
		echo "bench-e2e: $tag: the boot did not go through the $setup servers" >&2
		ok=0
	fi
	local timeline
	timeline=$("$PYTHON" "$TIMELINE" boot "$pcap" "$serial.ts" "$start" "$PXL_SERVER_IP") || timeline=null
	# Primary measure: the stamped serial line (ms resolution); lab_run_vm's 0.2 s poll otherwise.
	secs=$("$PYTHON" -c 'import json, sys; t = json.loads(sys.argv[1]); print("" if not t or t.get("boot_ok") is None else t["boot_ok"])' "$timeline")
	[[ -n $secs ]] || secs=${LAB_VM_OK_SECONDS:-}
	if ((ok == 0)) || [[ -z $secs ]]; then
		echo "bench-e2e: $tag: FAILED (VM ${LAB_VM_SECONDS:-?} s)" >&2
		cat "$RUN/vm-$tag.err" "$RUN/assert-$tag.err" >&2 || true
		lab_tail "$serial" 30 'serial| ' >&2
		lab_tail "$slog" 30 "$setup| " >&2
		lab_tail "$RUN/dnsmasq-$DHCP_KIND.log" 20 'dnsmasq| ' >&2
		FAILED=1
		return 1
	fi
	printf '  %-11s %-15s rep %d: %6.2f s (lab_run_vm: %s s)\n' "$mode" "$setup" "$rep" "$secs" "${LAB_VM_OK_SECONDS:-?}"
	printf '{"mode": "%s", "setup": "%s", "rep": %d, "seconds": %s, "vm_ok_poll": %s, "timeline": %s}\n' \
		"$mode" "$setup" "$rep" "$secs" "${LAB_VM_OK_SECONDS:-null}" "$timeline" >>"$RESULTS"
	[[ ${PXL_KEEP_RUN:-0} == 1 ]] || rm -f "$pcap"
	return 0
}

echo "bench-e2e: $PIXIECORE_ORIG vs dnsmasq $(dnsmasq --version | awk 'NR == 1 { print $3 }') + busybox httpd;" \
	"modes ${MODE_LIST[*]}, $REPS repetition(s), accel $(lab_accel), budget ${BUDGET} s; run dir $RUN"
for ((rep = 1; rep <= REPS; rep++)); do
	for mode in "${MODE_LIST[@]}"; do
		# A round costs about what the last round of this mode cost (30 s a boot before the first).
		need=${LAST_PAIR[$mode]:-$((30 * ${#SETUPS[@]}))}
		if ((rep > 1 && $(elapsed_all) + need > BUDGET)); then
			echo "bench-e2e: time budget: skipping $mode repetition $rep ($(elapsed_all) s used, a round takes ~$need s)"
			continue
		fi
		t0=$EPOCHREALTIME
		# rotate the order every repetition
		order=("${SETUPS[@]:$(((rep - 1) % ${#SETUPS[@]}))}" "${SETUPS[@]:0:$(((rep - 1) % ${#SETUPS[@]}))}")
		for setup in "${order[@]}"; do
			boot_once "$mode" "$setup" "$rep" || true
		done
		LAST_PAIR[$mode]=$(awk -v s="$t0" -v e="$EPOCHREALTIME" 'BEGIN { printf "%d", e - s + 1 }')
	done
done
echo "bench-e2e: $(wc -l <"$RESULTS") boots in $(elapsed_all) s; load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"

verdict=0
"$PYTHON" "$TIMELINE" report "$RESULTS" || verdict=$?
if ((FAILED)) || ((verdict & 1)); then
	echo "bench-e2e: FAIL: some boots failed (see above)"
	exit 1
fi
if ((verdict & 2)); then
	echo "bench-e2e: pixiecore is slower than the reference in at least one mode"
	[[ ${BENCH_E2E_STRICT:-0} == 1 ]] && exit 1
fi
exit 0
