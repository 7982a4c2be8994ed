# shellcheck shell=bash
# Netboot lab library for pixiecore: real PXE firmware (SeaBIOS+iPXE, OVMF+iPXE,
# OVMF's own PXE stack) in QEMU, inside network namespaces this library creates.
#
# Source it from a bash script that uses `set -euo pipefail`, then:
#   lab_payload [DIR]              build/cached kernel + two initrds (+ DIR/tokens.env)
#   lab_payload_net [DIR]          + DIR/initrd-net.cpio.gz: the NIC drivers (e1000, virtio-net)
#                                  for a guest that fetches pxl.url= (see the init below)
#   lab_up                         create the namespaces, start the primary DHCP server
#   lab_bg NS LOG CMD...           start CMD in namespace NS in the background (killed by lab_down)
#   lab_run_vm MODE LOG TIMEOUT_S  boot a VM (bios | uefi-ipxe | uefi-native) on the lab switch
#   lab_assert_boot LOG            check the serial log for the init's markers
#   lab_follow FILE PREFIX         print a log live (lab_unfollow stops it)
#   lab_down                       remove everything (also run by the EXIT trap lab_up installs)
#
# Network rule: every address used here (10.77.X.0/24, fd77::/64) lives only inside the
# namespaces created by lab_up; the host namespace's interfaces are never touched.
#
# Environment knobs:
#   PXL_CACHE      default payload dir (default /var/cache/pixiecore-lab)
#   PXL_KERNEL     use this vmlinuz instead of downloading Debian's
#   PXL_SUBNET_X   third octet of the lab subnet (default: derived from the pid, 2..251)
#   PXL_KEEP_RUN=1 keep PXL_RUN_DIR (logs, leases) after lab_down
#   PXL_ACCEL      force "tcg" or "kvm"

PXL_LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PXL_LAB_DIR

PXL_CACHE=${PXL_CACHE:-/var/cache/pixiecore-lab}
PXL_OVMF_CODE=${PXL_OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.fd}
PXL_OVMF_VARS=${PXL_OVMF_VARS:-/usr/share/OVMF/OVMF_VARS_4M.fd}

# Per-run state.
_PXL_PIDS=()
_PXL_FOLLOWERS=()
_PXL_NAMESPACES=()
_PXL_UP=0

_pxl_log() { printf '[lab] %s\n' "$*" >&2; }
_pxl_die() { printf '[lab] ERROR: %s\n' "$*" >&2; return 1; }

_pxl_now() { printf '%s' "${EPOCHREALTIME:-$(date +%s.%N)}"; }
# _pxl_elapsed START -> seconds with one decimal
_pxl_elapsed() { awk -v s="$1" -v e="$(_pxl_now)" 'BEGIN { printf "%.1f", e - s }'; }

# lab_find_pixiecore NAME: sets and exports PIXIECORE, made absolute: $PIXIECORE as given, else
# ./build/src/pixiecore, else the repository's build/src/pixiecore. Exits 77 (meson's "skipped")
# with a message naming NAME when there is no such binary.
lab_find_pixiecore() {
	if [[ -z ${PIXIECORE:-} ]]; then
		if [[ -x build/src/pixiecore ]]; then
			PIXIECORE=build/src/pixiecore
		else
			PIXIECORE=$(cd "$PXL_LAB_DIR/../.." && pwd)/build/src/pixiecore
		fi
	fi
	if [[ ! -x $PIXIECORE ]]; then
		echo "$1: SKIP: no pixiecore binary at $PIXIECORE" >&2
		exit 77
	fi
	PIXIECORE=$(readlink -f "$PIXIECORE")
	export PIXIECORE
}

# lab_require_root_tools: returns non-zero (with a message) when the lab cannot run here.
lab_require_root_tools() {
	local missing=() t
	if [[ $(id -u) -ne 0 ]]; then
		_pxl_log "lab needs root (network namespaces, tap devices)"
		return 1
	fi
	for t in ip qemu-system-x86_64 dnsmasq cpio gzip busybox; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	[[ -e /dev/net/tun ]] || missing+=(/dev/net/tun)
	[[ -r $PXL_OVMF_CODE && -r $PXL_OVMF_VARS ]] || missing+=(ovmf)
	if ((${#missing[@]})); then
		_pxl_log "missing: ${missing[*]}"
		return 1
	fi
}

# ---------------------------------------------------------------------------
# Payload
# ---------------------------------------------------------------------------

_pxl_kernel_pkg() {
	local pkg
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9].*-amd64$/ { print $2; exit }')
	if [[ -z $pkg ]]; then
		_pxl_log "apt lists look empty; running apt-get update"
		apt-get update -qq >/dev/null 2>&1 || true
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '/Depends: linux-image-[0-9].*-amd64$/ { print $2; exit }')
	fi
	[[ -n $pkg ]] || { _pxl_die "cannot find the Debian kernel package (apt-cache depends linux-image-amd64)"; return 1; }
	printf '%s\n' "$pkg"
}

_pxl_fetch_kernel() {
	local dir=$1 pkg tmp
	if [[ -n ${PXL_KERNEL:-} ]]; then
		cp -f "$PXL_KERNEL" "$dir/vmlinuz"
		return 0
	fi
	pkg=$(_pxl_kernel_pkg) || return 1
	tmp=$(mktemp -d "$dir/.kdl.XXXXXX")
	_pxl_log "downloading $pkg"
	if ! (cd "$tmp" && timeout 300 apt-get download -q "$pkg" >/dev/null 2>&1); then
		rm -rf "$tmp"
		_pxl_die "apt-get download $pkg failed"
		return 1
	fi
	dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*'
	local vm
	vm=$(find "$tmp/boot" -name 'vmlinuz-*' -type f | head -n1)
	[[ -n $vm ]] || { rm -rf "$tmp"; _pxl_die "no boot/vmlinuz-* in $pkg"; return 1; }
	cp -f "$vm" "$dir/vmlinuz.tmp" && mv -f "$dir/vmlinuz.tmp" "$dir/vmlinuz"
	printf '%s\n' "$pkg" >"$dir/kernel-package"
	rm -rf "$tmp"
}

_pxl_token() { printf '%s-%s' "$1" "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"; }

# Bumped whenever the guest's /init changes, so that cached initrds are rebuilt.
_PXL_INIT_VERSION=2

# _pxl_cpio SRC_DIR OUT: newc cpio (root-owned entries), gzip -9
_pxl_cpio() {
	local src=$1 out=$2
	(cd "$src" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
		gzip -9n >"$out.tmp"
	mv -f "$out.tmp" "$out"
}

_pxl_build_initrds() {
	local dir=$1 ta tb stage
	ta=$(_pxl_token pxl-a)
	tb=$(_pxl_token pxl-b)
	stage=$(mktemp -d "$dir/.stage.XXXXXX")

	# initrd-a: busybox + /init + marker-a
	mkdir -p "$stage/a/bin" "$stage/a/sbin" "$stage/a/etc" "$stage/a/proc" \
		"$stage/a/sys" "$stage/a/dev" "$stage/a/tmp"
	cp "$(readlink -f "$(command -v busybox)")" "$stage/a/bin/busybox"
	ln -s busybox "$stage/a/bin/sh"
	mknod -m 600 "$stage/a/dev/console" c 5 1 2>/dev/null || true
	printf '%s\n' "$ta" >"$stage/a/etc/marker-a"
	cat >"$stage/a/init" <<'EOF'
#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
out=/dev/ttyS0
[ -c "$out" ] || out=/dev/console
{
	echo "PXL-CMDLINE: $(cat /proc/cmdline)"
	echo "PXL-MARKER-A: $(cat /etc/marker-a 2>/dev/null || echo MISSING)"
	echo "PXL-MARKER-B: $(cat /etc/marker-b 2>/dev/null || echo MISSING)"
} >"$out" 2>&1
# pxl.url=http://HOST[:PORT]/PATH on the cmdline: bring up eth0 (drivers from initrd-net, if
# given), DHCP, fetch the URL with nc (busybox-static's wget segfaults) and print its body.
url=
for arg in $(cat /proc/cmdline); do
	case $arg in
	pxl.url=*) url=${arg#pxl.url=} ;;
	esac
done
if [ -n "$url" ]; then
	{
		if [ -r /etc/pxl-modules ]; then
			while read -r m; do
				insmod "/lib/modules/pxl/$m.ko" || echo "PXL-NET: insmod $m failed"
			done </etc/pxl-modules
		fi
		i=0
		while [ ! -e /sys/class/net/eth0 ] && [ "$i" -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		ip link set lo up
		ip link set eth0 up
		udhcpc -i eth0 -n -q -t 10 -T 1 -s /bin/pxl-udhcpc >/dev/null 2>&1 || echo "PXL-NET: no DHCP lease"
		echo "PXL-NET: $(ip -4 -o addr show dev eth0 2>&1 | awk '{ print $4 }')"
		rest=${url#http://}
		hostport=${rest%%/*}
		path=/${rest#*/}
		[ "$rest" = "$hostport" ] && path=/
		host=${hostport%%:*}
		port=80
		case $hostport in *:*) port=${hostport#*:} ;; esac
		printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$hostport" |
			timeout 30 nc "$host" "$port" >/tmp/pxl-url 2>/dev/null
		echo "PXL-URL-STATUS: $(head -n1 /tmp/pxl-url | tr -d '\r')"
		echo "PXL-URL-CONTENT: $(sed '1,/^\r\{0,1\}$/d' /tmp/pxl-url | tr -d '\r' | head -n1)"
	} >"$out" 2>&1
fi
echo "PXL-BOOT-OK" >"$out" 2>&1
sync
poweroff -f
# should not get here; keep PID 1 alive so the kernel does not panic over it
while :; do sleep 60; done
EOF
	chmod 755 "$stage/a/init"
	cat >"$stage/a/bin/pxl-udhcpc" <<'EOF'
#!/bin/sh
# udhcpc event script: just the address (no routes or DNS needed on the lab segment)
case $1 in
bound | renew) ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up ;;
deconfig) ifconfig "$interface" 0.0.0.0 ;;
esac
exit 0
EOF
	chmod 755 "$stage/a/bin/pxl-udhcpc"

	# initrd-b: just the second marker; the kernel merges it over initrd-a
	mkdir -p "$stage/b/etc"
	printf '%s\n' "$tb" >"$stage/b/etc/marker-b"

	_pxl_cpio "$stage/a" "$dir/initrd-a.cpio.gz"
	_pxl_cpio "$stage/b" "$dir/initrd-b.cpio.gz"
	rm -rf "$stage"
	printf 'PXL_TOKEN_A=%s\nPXL_TOKEN_B=%s\nPXL_INIT_VERSION=%s\n' "$ta" "$tb" "$_PXL_INIT_VERSION" \
		>"$dir/tokens.env.tmp"
	mv -f "$dir/tokens.env.tmp" "$dir/tokens.env"
}

# lab_payload [DIR]: DIR/vmlinuz, DIR/initrd-a.cpio.gz, DIR/initrd-b.cpio.gz, DIR/tokens.env
# Idempotent: reuses what DIR already has. Exports PXL_PAYLOAD_DIR, PXL_TOKEN_A, PXL_TOKEN_B.
lab_payload() {
	local dir=${1:-$PXL_CACHE}
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	# One builder at a time per cache dir (parallel meson tests share it).
	exec {_pxl_lockfd}>"$dir/.lock"
	flock -w 600 "$_pxl_lockfd" || { _pxl_die "timeout waiting for $dir/.lock"; return 1; }
	local rc=0
	{
		if [[ ! -s $dir/vmlinuz ]]; then
			_pxl_fetch_kernel "$dir"
		fi
		if [[ ! -s $dir/initrd-a.cpio.gz || ! -s $dir/initrd-b.cpio.gz || ! -s $dir/tokens.env ]] ||
			! grep -qx "PXL_INIT_VERSION=$_PXL_INIT_VERSION" "$dir/tokens.env"; then
			_pxl_build_initrds "$dir"
		fi
	} || rc=$?
	exec {_pxl_lockfd}>&-
	((rc == 0)) || return "$rc"
	# shellcheck disable=SC1091
	source "$dir/tokens.env"
	export PXL_PAYLOAD_DIR=$dir PXL_TOKEN_A PXL_TOKEN_B
	_pxl_log "payload in $dir: kernel $(stat -c %s "$dir/vmlinuz") B, initrds $(stat -c %s "$dir/initrd-a.cpio.gz")+$(stat -c %s "$dir/initrd-b.cpio.gz") B"
}

# _pxl_net_add NAME: (for _pxl_build_net_initrd) dependencies first, each module once; uses
# its caller's tmp, kver, pkg, seen and order.
_pxl_net_add() {
	local name=$1 ko deps d
	[[ -n ${seen[$name]:-} ]] && return 0
	seen[$name]=1
	ko=$(find "$tmp/x/lib/modules/$kver" -name "$name.ko" | head -n1)
	[[ -n $ko ]] || { _pxl_die "module $name.ko not in $pkg"; return 1; }
	deps=$(tr '\0' '\n' <"$ko" | sed -n 's/^depends=//p' | head -n1)
	for d in ${deps//,/ }; do
		_pxl_net_add "$d" || return 1
	done
	cp "$ko" "$tmp/stage/lib/modules/pxl/$name.ko"
	order+=("$name")
}

# _pxl_build_net_initrd DIR: DIR/initrd-net.cpio.gz with the modules a guest needs for eth0 on
# the lab's NICs (e1000 for bios/uefi-ipxe, virtio-net for uefi-native), taken from the
# Debian package of DIR/vmlinuz, plus /etc/pxl-modules (load order, dependencies first).
_pxl_build_net_initrd() {
	local dir=$1 pkg tmp kver m
	local -A seen=()
	local -a order=()
	pkg=$(cat "$dir/kernel-package" 2>/dev/null) || pkg=
	[[ -n $pkg ]] || pkg=$(_pxl_kernel_pkg) || return 1
	tmp=$(mktemp -d "$dir/.ndl.XXXXXX")
	_pxl_log "downloading $pkg (for the NIC modules)"
	if ! (cd "$tmp" && timeout 300 apt-get download -q "$pkg" >/dev/null 2>&1); then
		rm -rf "$tmp"
		_pxl_die "apt-get download $pkg failed"
		return 1
	fi
	mkdir -p "$tmp/x"
	dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp/x" --wildcards './boot/vmlinuz-*' \
		'./lib/modules/*/kernel/drivers/net/*.ko' './lib/modules/*/kernel/drivers/virtio/*.ko' \
		'./lib/modules/*/kernel/net/*.ko'
	if ! cmp -s "$tmp"/x/boot/vmlinuz-* "$dir/vmlinuz"; then
		rm -rf "$tmp"
		_pxl_die "$pkg's vmlinuz differs from $dir/vmlinuz, so its modules would not load (delete $dir/vmlinuz to refetch)"
		return 1
	fi
	kver=$(basename "$(find "$tmp/x/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n1)")
	mkdir -p "$tmp/stage/lib/modules/pxl" "$tmp/stage/etc"
	for m in e1000 virtio_pci virtio_net; do
		_pxl_net_add "$m" || { rm -rf "$tmp"; return 1; }
	done
	printf '%s\n' "${order[@]}" >"$tmp/stage/etc/pxl-modules"
	_pxl_cpio "$tmp/stage" "$dir/initrd-net.cpio.gz"
	_pxl_log "initrd-net for $kver: ${order[*]}"
	rm -rf "$tmp"
}

# lab_payload_net [DIR]: DIR/initrd-net.cpio.gz (NIC modules matching DIR/vmlinuz), built once.
# Run lab_payload first. Exports PXL_INITRD_NET. Fails with PXL_KERNEL (no package to match).
lab_payload_net() {
	local dir=${1:-${PXL_PAYLOAD_DIR:-$PXL_CACHE}}
	dir=$(cd "$dir" && pwd)
	exec {_pxl_lockfd}>"$dir/.lock"
	flock -w 600 "$_pxl_lockfd" || { _pxl_die "timeout waiting for $dir/.lock"; return 1; }
	local rc=0
	if [[ ! -s $dir/initrd-net.cpio.gz ]]; then
		if [[ -n ${PXL_KERNEL:-} ]]; then
			_pxl_die "PXL_KERNEL is set: no Debian package to take matching NIC modules from"
			rc=1
		else
			_pxl_build_net_initrd "$dir" || rc=$?
		fi
	fi
	exec {_pxl_lockfd}>&-
	((rc == 0)) || return "$rc"
	export PXL_INITRD_NET=$dir/initrd-net.cpio.gz
}

# ---------------------------------------------------------------------------
# Namespaces
# ---------------------------------------------------------------------------

# lab_up: switch namespace (br0 + tap0), dhcp host (.1, dnsmasq addresses only + RA trick),
# server host (.2). Exports PXL_NS_SW PXL_NS_DHCP PXL_NS_SRV PXL_SERVER_IP PXL_DHCP_IP
# PXL_SUBNET PXL_RUN_DIR. Installs an EXIT trap that calls lab_down.
lab_up() {
	lab_require_root_tools || return 1
	local id=$$ x
	x=${PXL_SUBNET_X:-$((id % 250 + 2))}
	export PXL_NS_SW="pxl-$id-sw" PXL_NS_DHCP="pxl-$id-dhcp" PXL_NS_SRV="pxl-$id-srv"
	export PXL_SUBNET="10.77.$x" PXL_DHCP_IP="10.77.$x.1" PXL_SERVER_IP="10.77.$x.2"
	PXL_RUN_DIR=$(mktemp -d "/tmp/pxl-run-$id.XXXXXX")
	export PXL_RUN_DIR
	_PXL_UP=1
	trap 'lab_down' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	local ns
	for ns in "$PXL_NS_SW" "$PXL_NS_DHCP" "$PXL_NS_SRV"; do
		ip netns add "$ns"
		_PXL_NAMESPACES+=("$ns")
		ip -n "$ns" link set lo up
	done

	# switch: bridge without address, tap for QEMU, switch ends of the two veths
	ip -n "$PXL_NS_SW" link add br0 type bridge
	ip -n "$PXL_NS_SW" link set br0 type bridge forward_delay 0 stp_state 0
	ip -n "$PXL_NS_SW" tuntap add dev tap0 mode tap
	ip -n "$PXL_NS_SW" link add swdhcp type veth peer name eth0 netns "$PXL_NS_DHCP"
	ip -n "$PXL_NS_SW" link add swsrv type veth peer name eth0 netns "$PXL_NS_SRV"
	local l
	for l in tap0 swdhcp swsrv; do
		ip -n "$PXL_NS_SW" link set "$l" master br0
		ip -n "$PXL_NS_SW" link set "$l" up
	done
	ip -n "$PXL_NS_SW" link set br0 up

	ip -n "$PXL_NS_DHCP" addr add "$PXL_DHCP_IP/24" dev eth0
	ip -n "$PXL_NS_DHCP" addr add fd77::1/64 dev eth0 nodad
	ip -n "$PXL_NS_DHCP" link set eth0 up
	ip -n "$PXL_NS_SRV" addr add "$PXL_SERVER_IP/24" dev eth0
	ip -n "$PXL_NS_SRV" link set eth0 up

	# The network's primary DHCP server: addresses only, no boot options. The RA with
	# router lifetime 0 stops Debian 12's iPXE from waiting ~15 s per stage for IPv6.
	lab_bg "$PXL_NS_DHCP" "$PXL_RUN_DIR/dnsmasq-primary.log" \
		dnsmasq --keep-in-foreground --conf-file=/dev/null --user=root --group=root \
		--port=0 --no-ping --no-resolv --no-hosts \
		--interface=eth0 --bind-interfaces \
		--dhcp-range="$PXL_SUBNET.100,$PXL_SUBNET.199,255.255.255.0,1h" \
		--dhcp-leasefile="$PXL_RUN_DIR/primary.leases" \
		--enable-ra --dhcp-range=fd77::,ra-only,64 --ra-param=eth0,10,0 \
		--log-dhcp --log-facility=- \
		--pid-file="$PXL_RUN_DIR/dnsmasq-primary.pid"
	# wait until it listens on 67
	local i
	for ((i = 0; i < 50; i++)); do
		if ip netns exec "$PXL_NS_DHCP" ss -Hlun 'sport = :67' 2>/dev/null | grep -q .; then
			break
		fi
		sleep 0.1
	done
	_pxl_log "lab up: switch=$PXL_NS_SW dhcp=$PXL_NS_DHCP($PXL_DHCP_IP) server=$PXL_NS_SRV($PXL_SERVER_IP) run=$PXL_RUN_DIR"
}

# lab_bg NS LOGFILE CMD... : run CMD inside namespace NS in the background, stdout+stderr to
# LOGFILE. Sets LAB_BG_PID; lab_down kills it.
lab_bg() {
	local ns=$1 log=$2
	shift 2
	ip netns exec "$ns" "$@" >"$log" 2>&1 </dev/null &
	LAB_BG_PID=$!
	_PXL_PIDS+=("$LAB_BG_PID")
}

_pxl_kill() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 30; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# lab_down: idempotent; kills what lab_bg/lab_run_vm started, deletes the namespaces.
lab_down() {
	local rc=$?
	((_PXL_UP)) || return "$rc"
	_PXL_UP=0
	set +e
	local pid ns
	for pid in "${_PXL_PIDS[@]}"; do
		_pxl_kill "$pid"
	done
	_PXL_PIDS=()
	for ns in "${_PXL_NAMESPACES[@]}"; do
		# anything still inside our own namespaces was started by this run
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	_PXL_NAMESPACES=()
	if [[ ${PXL_KEEP_RUN:-0} == 1 ]]; then
		_pxl_log "kept run dir $PXL_RUN_DIR"
	elif [[ -n ${PXL_RUN_DIR:-} && -d $PXL_RUN_DIR ]]; then
		rm -rf "$PXL_RUN_DIR"
	fi
	trap - EXIT INT TERM
	return "$rc"
}

# ---------------------------------------------------------------------------
# VMs
# ---------------------------------------------------------------------------

lab_accel() {
	if [[ -n ${PXL_ACCEL:-} ]]; then
		printf '%s\n' "$PXL_ACCEL"
	elif [[ -e /dev/kvm && (-d /sys/module/kvm_intel || -d /sys/module/kvm_amd) ]]; then
		printf 'kvm\n'
	else
		printf 'tcg\n' # /dev/kvm may be kvm_pvm, which cannot run firmware guests
	fi
}

# lab_vm_mac MODE
lab_vm_mac() {
	case $1 in
	bios) printf '52:54:00:77:00:01\n' ;;
	uefi-ipxe) printf '52:54:00:77:00:02\n' ;;
	uefi-native) printf '52:54:00:77:00:03\n' ;;
	*) return 1 ;;
	esac
}

# lab_run_vm MODE LOGFILE TIMEOUT_S
#   bios        SeaBIOS + QEMU's iPXE NIC ROM, e1000
#   uefi-ipxe   OVMF (q35) + QEMU's iPXE EFI ROM, e1000
#   uefi-native OVMF (q35), virtio-net-pci with no ROM: EDK2's own PXE client
# Returns 0 when QEMU exits by itself within TIMEOUT_S, non-zero on timeout (QEMU killed).
# Sets LAB_VM_SECONDS (wall time to exit) and LAB_VM_OK_SECONDS (to PXL-BOOT-OK, if seen).
# shellcheck disable=SC2054 # commas are QEMU's option syntax
lab_run_vm() {
	local mode=$1 log=$2 timeout_s=${3:-120}
	local mac accel
	mac=$(lab_vm_mac "$mode") || { _pxl_die "unknown VM mode '$mode' (bios|uefi-ipxe|uefi-native)"; return 2; }
	accel=$(lab_accel)
	local -a args=(-nodefaults -no-reboot -display none -vga none
		-m 512 -smp 1 -accel "$accel"
		-serial "file:$log"
		-netdev tap,id=n0,ifname=tap0,script=no,downscript=no)
	case $mode in
	bios)
		args+=(-machine pc,graphics=off
			-device "e1000,netdev=n0,mac=$mac,bootindex=1")
		;;
	uefi-ipxe | uefi-native)
		local vars="$PXL_RUN_DIR/OVMF_VARS-$mode.fd"
		cp -f "$PXL_OVMF_VARS" "$vars"
		args+=(-machine q35,graphics=off
			-drive "if=pflash,format=raw,unit=0,readonly=on,file=$PXL_OVMF_CODE"
			-drive "if=pflash,format=raw,unit=1,file=$vars")
		if [[ $mode == uefi-ipxe ]]; then
			args+=(-device "e1000,netdev=n0,mac=$mac,bootindex=1")
		else
			args+=(-device "virtio-net-pci,netdev=n0,mac=$mac,romfile=,bootindex=1")
		fi
		;;
	esac
	: >"$log"
	_pxl_log "starting VM mode=$mode mac=$mac accel=$accel timeout=${timeout_s}s log=$log"
	local start pid rc=0
	start=$(_pxl_now)
	ip netns exec "$PXL_NS_SW" qemu-system-x86_64 "${args[@]}" \
		>"$PXL_RUN_DIR/qemu-$mode.out" 2>&1 </dev/null &
	pid=$!
	_PXL_PIDS+=("$pid")
	LAB_VM_OK_SECONDS=
	local deadline timed_out=0
	deadline=$(awk -v s="$start" -v t="$timeout_s" 'BEGIN { printf "%d", s + t }')
	while kill -0 "$pid" 2>/dev/null; do
		if [[ -z $LAB_VM_OK_SECONDS ]] && grep -q 'PXL-BOOT-OK' "$log" 2>/dev/null; then
			LAB_VM_OK_SECONDS=$(_pxl_elapsed "$start")
		fi
		if (($(date +%s) >= deadline)); then
			timed_out=1
			break
		fi
		sleep 0.2
	done
	if ((timed_out)); then
		_pxl_kill "$pid"
		rc=124
	else
		wait "$pid" || rc=$?
	fi
	LAB_VM_SECONDS=$(_pxl_elapsed "$start")
	if [[ -z $LAB_VM_OK_SECONDS ]] && grep -q 'PXL-BOOT-OK' "$log" 2>/dev/null; then
		LAB_VM_OK_SECONDS=$LAB_VM_SECONDS
	fi
	export LAB_VM_SECONDS LAB_VM_OK_SECONDS
	if ((timed_out)); then
		_pxl_log "VM $mode: TIMEOUT after ${LAB_VM_SECONDS}s (killed)"
	else
		_pxl_log "VM $mode: qemu exited rc=$rc after ${LAB_VM_SECONDS}s${LAB_VM_OK_SECONDS:+ (PXL-BOOT-OK at ${LAB_VM_OK_SECONDS}s)}"
		if ((rc != 0)); then
			sed 's/^/[qemu] /' "$PXL_RUN_DIR/qemu-$mode.out" >&2 || true
		fi
	fi
	return "$rc"
}

# _pxl_clean FILE: the serial log without CRs and terminal escape sequences
_PXL_SED_CLEAN=(-e 's/\r//g' -e 's/\x1b\[[0-9;?=]*[A-Za-z]//g' -e 's/\x1b[()][0-9A-Za-z]//g' -e 's/\x1b[0-9A-Za-z=>]//g')
_pxl_clean() {
	sed "${_PXL_SED_CLEAN[@]}" "$1"
}

# lab_follow FILE PREFIX: print FILE's lines live (cleaned, prefixed) to stdout until
# lab_unfollow or lab_down. Sets LAB_FOLLOW_PID.
lab_follow() {
	local f=$1 p=$2
	[[ -e $f ]] || : >"$f"
	tail -n +1 -F "$f" 2>/dev/null > >(sed -u "${_PXL_SED_CLEAN[@]}" | awk -v p="$p" '{ print p $0; fflush() }') &
	LAB_FOLLOW_PID=$!
	_PXL_PIDS+=("$LAB_FOLLOW_PID")
	_PXL_FOLLOWERS+=("$LAB_FOLLOW_PID")
}

# lab_unfollow: stop all lab_follow printers (after letting them catch up a moment)
lab_unfollow() {
	local pid
	((${#_PXL_FOLLOWERS[@]})) || return 0
	sleep 0.5
	for pid in "${_PXL_FOLLOWERS[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	_PXL_FOLLOWERS=()
	sleep 0.1
}

# lab_cmdline_of LOGFILE: prints the kernel cmdline the init saw (empty if none)
lab_cmdline_of() {
	_pxl_clean "$1" | sed -n 's/^.*PXL-CMDLINE: //p' | tail -n1
}

# lab_cmdline_has LOGFILE TOKEN: the cmdline contains TOKEN as a whole argument
lab_cmdline_has() {
	local arg
	for arg in $(lab_cmdline_of "$1"); do
		[[ $arg == "$2" ]] && return 0
	done
	return 1
}

# lab_assert_boot LOGFILE: PXL-BOOT-OK and both marker tokens in the serial log
lab_assert_boot() {
	local log=$1 ok=0 clean
	if [[ -z ${PXL_TOKEN_A:-} || -z ${PXL_TOKEN_B:-} ]]; then
		# shellcheck disable=SC1091
		[[ -r ${PXL_PAYLOAD_DIR:-$PXL_CACHE}/tokens.env ]] && source "${PXL_PAYLOAD_DIR:-$PXL_CACHE}/tokens.env"
	fi
	[[ -r $log ]] || { _pxl_log "FAIL: no serial log $log"; return 1; }
	clean=$(_pxl_clean "$log")
	if ! grep -q 'PXL-CMDLINE: ' <<<"$clean"; then
		_pxl_log "FAIL: the init never ran (no PXL-CMDLINE line in $log)"
		ok=1
	else
		printf '[lab] cmdline seen by init: %s\n' "$(lab_cmdline_of "$log")" >&2
	fi
	if ! grep -q "PXL-MARKER-A: ${PXL_TOKEN_A:-?}\$" <<<"$clean"; then
		_pxl_log "FAIL: initrd-a marker missing/wrong (want ${PXL_TOKEN_A:-?}, got '$(sed -n 's/^.*PXL-MARKER-A: //p' <<<"$clean")')"
		ok=1
	fi
	if ! grep -q "PXL-MARKER-B: ${PXL_TOKEN_B:-?}\$" <<<"$clean"; then
		_pxl_log "FAIL: initrd-b marker missing/wrong (want ${PXL_TOKEN_B:-?}, got '$(sed -n 's/^.*PXL-MARKER-B: //p' <<<"$clean")')"
		ok=1
	fi
	if ! grep -q 'PXL-BOOT-OK$' <<<"$clean"; then
		_pxl_log "FAIL: no PXL-BOOT-OK in $log"
		ok=1
	fi
	((ok == 0)) && _pxl_log "boot OK: init ran with both initrds"
	return "$ok"
}

# lab_tail FILE [N] [PREFIX]: last N lines (printable), for failure reports
lab_tail() {
	local f=$1 n=${2:-40} p=${3:-}
	if [[ -r $f ]]; then
		_pxl_clean "$f" | tail -n "$n" | awk -v p="$p" '{ print p $0 }'
	else
		printf '%s(no file %s)\n' "$p" "$f"
	fi
}
