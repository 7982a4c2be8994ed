#!/bin/bash
# Installs the peer servers and load tools the benchmarks compare against (Debian 12, as root):
# dnsmasq, tftpd-hpa, nginx, wrk, tftp clients, busybox. atftpd conflicts with tftpd-hpa as a
# package, so its binary is unpacked from the .deb into $PX_BENCH_PEERS (never installed; no
# service of either package is left running).
set -euo pipefail
PEERS=${PX_BENCH_PEERS:-/var/cache/pixiecore-bench}
pkgs=(dnsmasq-base tftpd-hpa nginx wrk curl tftp-hpa atftp busybox linux-perf qemu-system-x86 ipxe-qemu)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	apt-get update -q
	# policy-rc.d 101: the packages' services must not start (they would take ports 69 and 80)
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" || { rm -f /usr/sbin/policy-rc.d; exit 1; }
	rm -f /usr/sbin/policy-rc.d
fi
if [[ ! -x $PEERS/atftpd/usr/sbin/atftpd ]]; then
	mkdir -p "$PEERS"
	(cd "$PEERS" && rm -f atftpd_*.deb && apt-get download atftpd && rm -rf atftpd && dpkg-deb -x atftpd_*.deb atftpd)
fi
# whatever the packages may have started anyway
pkill -x nginx 2>/dev/null || true
pkill -x in.tftpd 2>/dev/null || true
echo "install-bench-deps: peers ready (atftpd at $PEERS/atftpd/usr/sbin/atftpd)"
