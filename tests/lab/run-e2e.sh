#!/bin/bash
# End-to-end netboot test: real firmware in QEMU boots the lab payload from pixiecore.
#
#   tests/lab/run-e2e.sh MODE [BOOTLOADER]
#     MODE        bios | uefi-ipxe | uefi-native   (see lab_run_vm in lab.sh)
#     BOOTLOADER  passed to pixiecore --bootloader (default: ipxe)
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
#
# Exit: 0 booted, 1 failed, 77 cannot run here (meson's "skipped").
set -euo pipefail

MODE=${1:-}
BOOTLOADER=${2:-ipxe}
case $MODE in
bios | uefi-ipxe | uefi-native) ;;
*)
	echo "usage: $0 bios|uefi-ipxe|uefi-native [BOOTLOADER]" >&2
	exit 2
	;;
esac

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/lab/lab.sh
source "$HERE/lab.sh"

if [[ -z ${PIXIECORE:-} ]]; then
	if [[ -x build/src/pixiecore ]]; then
		PIXIECORE=build/src/pixiecore
	else
		PIXIECORE=$ROOT/build/src/pixiecore
	fi
fi
if [[ ! -x $PIXIECORE ]]; then
	echo "e2e $MODE $BOOTLOADER: SKIP: no pixiecore binary at $PIXIECORE" >&2
	exit 77
fi
PIXIECORE=$(readlink -f "$PIXIECORE")
if ! lab_require_root_tools; then
	echo "e2e $MODE $BOOTLOADER: SKIP: the lab cannot run here" >&2
	exit 77
fi

TIMEOUT=${PXL_TIMEOUT:-120}
TOKEN="pxl.test=hello-$RANDOM"
CMDLINE="console=ttyS0 $TOKEN quiet"

lab_payload "${PXL_CACHE}"
lab_up

PXLOG=$PXL_RUN_DIR/pixiecore.log
SERIAL=$PXL_RUN_DIR/serial-$MODE.log

report_failure() {
	if [[ $LIVE == 1 ]]; then
		echo "e2e $MODE $BOOTLOADER: FAILED (logs above)"
		return
	fi
	echo "---- pixiecore log (tail) ----------------------------------------------"
	lab_tail "$PXLOG" 80 'pixiecore| '
	echo "---- serial console (tail) ---------------------------------------------"
	lab_tail "$SERIAL" 60 'serial| '
	echo "---- primary DHCP server (tail) ----------------------------------------"
	lab_tail "$PXL_RUN_DIR/dnsmasq-primary.log" 25 'primary| '
	echo "------------------------------------------------------------------------"
	echo "e2e $MODE $BOOTLOADER: FAILED"
}

if [[ -n ${PXL_PCAP:-} ]]; then
	lab_bg "$PXL_NS_SW" "$PXL_RUN_DIR/tcpdump.log" \
		tcpdump -i br0 -U -s 0 -w "$PXL_PCAP" 'udp port 67 or udp port 68 or udp port 4011'
fi

echo "e2e $MODE $BOOTLOADER: starting $PIXIECORE in $PXL_NS_SRV ($PXL_SERVER_IP)"
lab_bg "$PXL_NS_SRV" "$PXLOG" \
	"$PIXIECORE" -kernel "$PXL_PAYLOAD_DIR/vmlinuz" \
	-initrd "$PXL_PAYLOAD_DIR/initrd-a.cpio.gz,$PXL_PAYLOAD_DIR/initrd-b.cpio.gz" \
	--cmdline "$CMDLINE" -debug --bootloader "$BOOTLOADER"
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
	echo "e2e $MODE $BOOTLOADER: pixiecore exited early (status $rc)"
	report_failure
	exit 1
fi

ok=1
lab_run_vm "$MODE" "$SERIAL" "$TIMEOUT" || ok=0
lab_unfollow
lab_assert_boot "$SERIAL" || ok=0
if ! lab_cmdline_has "$SERIAL" "$TOKEN"; then
	echo "e2e $MODE $BOOTLOADER: FAIL: kernel cmdline lacks '$TOKEN' (got: '$(lab_cmdline_of "$SERIAL")')"
	ok=0
fi
if ! kill -0 "$PXPID" 2>/dev/null; then
	echo "e2e $MODE $BOOTLOADER: FAIL: pixiecore died during the boot"
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
		echo "e2e $MODE $BOOTLOADER: WARN: unclean shutdown on SIGTERM (exit: $sd_rc)${sd_bad:+; log: $sd_bad}"
		[[ ${PXL_STRICT:-0} == 1 ]] && ok=0
	fi
fi

if ((ok)); then
	if [[ ${PXL_VERBOSE:-0} == 1 && $LIVE != 1 ]]; then
		lab_tail "$PXLOG" 200 'pixiecore| '
	fi
	echo "e2e $MODE $BOOTLOADER: booted in ${LAB_VM_OK_SECONDS:-$LAB_VM_SECONDS} s"
	exit 0
fi
report_failure
exit 1
