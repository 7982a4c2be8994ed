#!/bin/bash
# Installs everything pixiecore needs to build and to run its whole test suite, from Debian's
# packages (Debian 12). Idempotent; run as root.
set -euo pipefail

PACKAGES=(
	# build
	meson ninja-build pkg-config gcc clang libsystemd-dev libglib2.0-dev libsoup-3.0-dev libjson-glib-dev libgnutls28-dev
	# bootloaders pixiecore serves
	ipxe pxelinux syslinux-common syslinux-efi
	# the netboot lab: firmware, VMs, a primary DHCP server, the guest payload
	qemu-system-x86 ipxe-qemu ovmf dnsmasq-base busybox-static cpio iproute2 tcpdump
	# real clients and peers used by the tests
	curl tftp-hpa atftp python3 systemd systemd-container debootstrap dbus
	# the D-Bus tests: a polkitd mock (dbusmock template) on a private system bus
	python3-dbusmock
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
