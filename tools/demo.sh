#!/bin/bash
# pixiecore demo for a fresh Debian 12 machine, as root:
#
#   sudo tools/demo.sh
#
# Installs the build and lab packages, builds pixiecore with meson (setup if build/ is missing), then
# netboots one BIOS virtual machine from it: QEMU runs SeaBIOS + iPXE in private network
# namespaces (a bridge, a primary DHCP server that hands out addresses only, and pixiecore as
# ProxyDHCP/PXE/TFTP/HTTP server). You see the VM's serial console and pixiecore's log live.
# Nothing touches the host's own network interfaces; everything is removed at the end.
#
# Environment: MODE (bios | uefi-ipxe | uefi-native, default bios), BOOTLOADER (default ipxe),
# SKIP_APT=1 to skip the package step, PXL_CACHE for the kernel/initrd cache.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
MODE=${MODE:-bios}
BOOTLOADER=${BOOTLOADER:-ipxe}

say() { printf '\n==> %s\n' "$*"; }

if [[ $(id -u) -ne 0 ]]; then
	echo "demo.sh: run as root (it creates network namespaces and installs packages)" >&2
	exit 1
fi

PKGS=(
	# build
	meson ninja-build pkg-config gcc libsystemd-dev libglib2.0-dev libsoup-3.0-dev libjson-glib-dev libgnutls28-dev
	# lab: firmware, bootloaders, a primary DHCP server, payload tools
	qemu-system-x86 ipxe ipxe-qemu ovmf pxelinux syslinux-common syslinux-efi
	dnsmasq-base busybox-static cpio iproute2 tcpdump curl
)

if [[ ${SKIP_APT:-0} != 1 ]]; then
	missing=()
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if ((${#missing[@]})); then
		say "installing: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q
		apt-get install -y -q --no-install-recommends "${missing[@]}"
	else
		say "packages already installed"
	fi
fi

if [[ ! -d build ]]; then
	say "building (meson setup build && meson compile -C build)"
	meson setup build
	meson compile -C build
else
	say "updating the build (meson compile -C build)"
	meson compile -C build
fi
[[ -x build/src/pixiecore ]] || {
	echo "demo.sh: build/src/pixiecore was not built" >&2
	exit 1
}

say "netbooting a $MODE VM from pixiecore (bootloader $BOOTLOADER); serial console and pixiecore log follow"
rc=0
PXL_LIVE=1 PIXIECORE="$ROOT/build/src/pixiecore" timeout 600 \
	"$ROOT/tests/lab/run-e2e.sh" "$MODE" "$BOOTLOADER" || rc=$?
if ((rc == 0)); then
	say "demo OK: the VM netbooted the kernel and both initrds from pixiecore"
else
	say "demo FAILED (status $rc)"
	((rc == 77)) && rc=1
fi
exit "$rc"
