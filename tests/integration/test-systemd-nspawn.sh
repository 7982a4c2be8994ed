#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The real thing: pixiecore.socket and pixiecore.service under a real systemd (252, Debian 12)
# as PID 1, in a systemd-nspawn container booted in a network namespace made here.
#
#  1. A Debian 12 rootfs (debootstrap, from the mirror this host's apt uses) with systemd, dbus,
#     polkitd, the runtime libraries, ipxe, pxelinux, syslinux-common and curl, cached under
#     /var/cache/pixiecore-lab/rootfs-bookworm (built once, ~1 min; under a lock; rebuilt when
#     the package list changes). Each run boots an overlayfs copy of it, thrown away afterwards.
#  2. `meson install --destdir` of the build into that copy, a test kernel and initrd in
#     /var/lib/pixiecore-test (plus a second initrd as an http:// URL, served from the client
#     namespace and downloaded by the sandboxed daemon at startup) and a config naming them at
#     the daemon's default config path (so ExecStart=pixiecore without arguments is tested).
#  3. Boot with `systemd-nspawn -b --register=no --keep-unit`, in its own cgroup, in namespace
#     "srv" (eth0 10.79.X.1/24); a second namespace "cli" (eth0 .2) on the other end of a veth
#     is the PXE client. Commands run inside via nsenter.
#  4. Checks: sysusers, systemd-analyze verify, socket start, activation by a real HTTP
#     request, StatusText, user/capabilities/seccomp of the process, the fds it holds, the D-Bus
#     name owned on the container's system bus (busctl status/get-property, pixiecorectl as
#     root through the sandbox), all four services from the client, systemd-analyze security
#     (exposure printed; must be <= 2.0), clean stop (exit status 0, not death by SIGTERM),
#     gated bus activation (introspecting the name does not start the service unless it is
#     enabled; enabled, it does), activation by a datagram, the watchdog, and the documented
#     non-activated drop-in (data/pixiecore-self-bind.conf.example).
#
# Network rule: traffic only inside the namespaces made here (deleted on exit); the debootstrap
# download is the only other traffic (the Debian mirror, a package registry).
# Needs root. Prints TAP; exits 1 if a check failed, 77 if it cannot run here.
#
# Knobs: PX_NSPAWN_CACHE (default /var/cache/pixiecore-lab), PX_DEBIAN_MIRROR,
# PX_NSPAWN_MAX_EXPOSURE (default 2.0), PX_KEEP_TMP=1 (keep the run dir and its logs).
set -u

SRC_ROOT=${PX_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD_ROOT=${PX_BUILD_ROOT:-$SRC_ROOT/build}
PIXIECORE=${PIXIECORE:-$BUILD_ROOT/src/pixiecore}
HARNESS="$SRC_ROOT/tests/integration/sd-listen-harness.py"
FIXTURES="$SRC_ROOT/tests/data/dhcp"
CACHE=${PX_NSPAWN_CACHE:-/var/cache/pixiecore-lab}
ROOTFS="$CACHE/rootfs-bookworm"
MAX_EXPOSURE=${PX_NSPAWN_MAX_EXPOSURE:-2.0}
BUS_NAME=org.pixiecore.Pixiecore1
BUS_PATH=/org/pixiecore/Pixiecore1
# debootstrap resolves no virtual packages: libpam-systemd provides the "logind" polkitd needs,
# dbus-user-session the session bus dconf-service (glib-networking -> libsoup) needs.
PACKAGES=systemd,dbus,polkitd,libpam-systemd,dbus-user-session,libsoup-3.0-0,libjson-glib-1.0-0,libglib2.0-0,ipxe,pxelinux,syslinux-common,curl,iproute2
ROOTFS_STAMP="pixiecore-rootfs v1 bookworm minbase $PACKAGES"

skip_all() {
	echo "1..0 # SKIP $*"
	exit 77
}

[[ $(id -u) -eq 0 ]] || skip_all "needs root"
for t in ip curl python3 sha256sum systemd-nspawn nsenter flock mount; do
	command -v "$t" >/dev/null 2>&1 || skip_all "$t not installed (systemd-nspawn: package systemd-container)"
done
[[ -x $PIXIECORE ]] || skip_all "pixiecore not built ($PIXIECORE)"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null
grep -qw overlay /proc/filesystems || skip_all "no overlayfs"

n=0
failed=0
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
}
check() { # check DESCRIPTION COMMAND...
	local d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}
diag() { sed 's/^/# /' "$@" >&2; }
# shellcheck disable=SC2001
diag_text() { [[ -z $* ]] || sed 's/^/# /' <<<"$*" >&2; }
bail() {
	echo "Bail out! $*"
	echo "1..$n"
	exit 1
}

# wait_for SECONDS COMMAND...: poll every 0.2 s
wait_for() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 5; i++)); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}

# --- the cached rootfs ------------------------------------------------------------------------

debian_mirror() {
	if [[ -n ${PX_DEBIAN_MIRROR:-} ]]; then
		printf '%s\n' "$PX_DEBIAN_MIRROR"
		return
	fi
	# the host's own Debian mirror, as apt sees it (deb822 or one-line sources)
	apt-cache policy 2>/dev/null |
		awk '$2 ~ /^https?:\/\// && $3 ~ /^bookworm(-updates)?\/main$/ { print $2; exit }'
}

rootfs_ok() { [[ -r $ROOTFS/.pixiecore-rootfs && $(cat "$ROOTFS/.pixiecore-rootfs") == "$ROOTFS_STAMP" ]]; }

# Holds the cache lock on fd 9 for the whole run: shared while the rootfs is in use (any number of
# runs), exclusive only to build it.
prepare_rootfs() {
	mkdir -p "$CACHE"
	exec 9>"$ROOTFS.lock"
	flock -w 900 -s 9 || { echo "# timeout waiting for $ROOTFS.lock" >&2; return 1; }
	if rootfs_ok; then
		ROOTFS_HOW="cached"
		return 0
	fi
	flock -u 9
	flock -w 900 -x 9 || { echo "# timeout waiting for $ROOTFS.lock" >&2; return 1; }
	if rootfs_ok; then
		ROOTFS_HOW="cached (built by a concurrent run)"
	else
		command -v debootstrap >/dev/null 2>&1 || return 2
		local mirror new start
		mirror=$(debian_mirror)
		[[ -n $mirror ]] || { echo "# no Debian bookworm mirror in the apt sources (set PX_DEBIAN_MIRROR)" >&2; return 1; }
		new="$ROOTFS.new.$$"
		rm -rf "$new"
		start=$SECONDS
		echo "# building $ROOTFS from $mirror (once; about a minute)" >&2
		if ! timeout 900 debootstrap --variant=minbase --include="$PACKAGES" bookworm "$new" "$mirror" \
			>"$CACHE/rootfs-bookworm.build.log" 2>&1; then
			echo "# debootstrap failed; see $CACHE/rootfs-bookworm.build.log" >&2
			tail -n 20 "$CACHE/rootfs-bookworm.build.log" | diag
			rm -rf "$new"
			return 1
		fi
		# no login prompt on the container's console, and no apt caches in the image
		ln -sf /dev/null "$new/etc/systemd/system/console-getty.service"
		rm -rf "$new"/var/cache/apt/archives/*.deb "$new"/var/lib/apt/lists/*
		printf '%s\n' "$ROOTFS_STAMP" >"$new/.pixiecore-rootfs"
		rm -rf "$ROOTFS"
		mv "$new" "$ROOTFS"
		ROOTFS_HOW="built in $((SECONDS - start)) s"
	fi
	# other runs may now use it too, but nobody may rebuild it under us
	flock -s 9
}

# --- per-run state and teardown ---------------------------------------------------------------

RUN=
ROOT=
MACHINE="pxns-$$"
NS_S="pxns-$$-srv"
NS_C="pxns-$$-cli"
X=$(($$ % 250 + 2))
SERVER_IP="10.79.$X.1"
CLIENT_IP="10.79.$X.2"
namespaces=()
cgroups=()
nspawn_pid=
www_pid=
CPID=

teardown() {
	local rc=$? i pid ns cg
	set +e
	trap '' INT TERM # finish the cleanup even if signalled again
	if [[ -n $nspawn_pid ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
		# nspawn turns SIGTERM into an orderly poweroff of the container
		kill -TERM "$nspawn_pid" 2>/dev/null
		for ((i = 0; i < 150; i++)); do
			kill -0 "$nspawn_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$nspawn_pid" 2>/dev/null
	fi
	[[ -n $www_pid ]] && kill -TERM "$www_pid" 2>/dev/null
	for pid in $nspawn_pid $www_pid; do
		wait "$pid" 2>/dev/null
	done
	for ns in "${namespaces[@]}"; do
		# anything still running in our own namespaces was started by this test
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	for cg in "${cgroups[@]}"; do
		for ((i = 0; i < 20; i++)); do
			find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
			[[ -d $cg ]] || break
			sleep 0.1
		done
	done
	if [[ -n $ROOT ]] && mountpoint -q "$ROOT"; then
		umount "$ROOT" 2>/dev/null || umount -l "$ROOT"
	fi
	rmdir "/run/systemd/nspawn/propagate/$MACHINE" 2>/dev/null
	if [[ -n $RUN ]]; then
		if [[ ${PX_KEEP_TMP:-0} == 1 ]]; then
			echo "# kept $RUN" >&2
		else
			rm -rf "$RUN"
		fi
	fi
	exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# cin CMD...: run CMD inside the container (all its namespaces), with a clean environment
cin() {
	nsenter -t "$CPID" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		LC_ALL=C.UTF-8 TERM=dumb SYSTEMD_PAGER=cat SYSTEMD_COLORS=0 "$@"
}
in_c() { ip netns exec "$NS_C" "$@"; }
sha() { sha256sum <"$1" | cut -d' ' -f1; }
prop() { cin systemctl show -P "$2" "$1" 2>/dev/null; }
# host pid of the daemon: a child of the container's PID 1
daemon_host_pid() { pgrep -P "$CPID" -x pixiecore | head -n1; }

# --- 1: rootfs --------------------------------------------------------------------------------
prepare_rootfs
case $? in
0) ok "Debian 12 rootfs with systemd at $ROOTFS ($ROOTFS_HOW)" ;;
2) skip_all "no cached rootfs at $ROOTFS and debootstrap is not installed" ;;
*)
	not_ok "Debian 12 rootfs with systemd at $ROOTFS"
	bail "no rootfs"
	;;
esac

RUN=$(mktemp -d /var/tmp/pxns-run.XXXXXX)
ROOT="$RUN/root"
mkdir -p "$RUN/upper" "$RUN/work" "$ROOT"
mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$RUN/upper,workdir=$RUN/work" "$ROOT" ||
	bail "cannot mount an overlay of $ROOTFS"

# --- 2: install the project -------------------------------------------------------------------
install_project() {
	if command -v meson >/dev/null 2>&1 && [[ -r $BUILD_ROOT/meson-private/install.dat ]]; then
		meson install -C "$BUILD_ROOT" --no-rebuild --quiet --destdir "$ROOT" >"$RUN/install.log" 2>&1 &&
			return 0
		diag "$RUN/install.log"
		return 1
	fi
	# Without meson: the same files by hand, at the paths the build configured.
	local execstart
	execstart=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$BUILD_ROOT/units/pixiecore.service")
	install -D -m 755 "$PIXIECORE" "$ROOT$execstart" &&
		install -D -m 644 "$BUILD_ROOT/units/pixiecore.service" "$ROOT/usr/lib/systemd/system/pixiecore.service" &&
		install -D -m 644 "$SRC_ROOT/units/pixiecore.socket" "$ROOT/usr/lib/systemd/system/pixiecore.socket" &&
		install -D -m 644 "$SRC_ROOT/data/sysusers.d/pixiecore.conf" "$ROOT/usr/lib/sysusers.d/pixiecore.conf" &&
		install -D -m 644 "$SRC_ROOT/data/pixiecore-self-bind.conf.example" \
			"$ROOT/usr/share/doc/pixiecore/pixiecore-self-bind.conf.example" &&
		install -D -m 644 "$SRC_ROOT/dbus/org.pixiecore.Pixiecore1.conf" \
			"$ROOT/usr/share/dbus-1/system.d/org.pixiecore.Pixiecore1.conf" &&
		install -D -m 644 "$SRC_ROOT/dbus/org.pixiecore.Pixiecore1.service" \
			"$ROOT/usr/share/dbus-1/system-services/org.pixiecore.Pixiecore1.service" &&
		install -D -m 644 "$SRC_ROOT/data/org.pixiecore.Pixiecore1.policy" \
			"$ROOT/usr/share/polkit-1/actions/org.pixiecore.Pixiecore1.policy" &&
		if [[ -x $BUILD_ROOT/src/ctl/pixiecorectl ]]; then
			install -D -m 755 "$BUILD_ROOT/src/ctl/pixiecorectl" "$ROOT$(dirname "$execstart")/pixiecorectl"
		fi
}
if install_project; then
	ok "project installed into the container (meson install --destdir)"
else
	not_ok "project installed into the container"
	bail "install failed"
fi
# units outside systemd's search path (e.g. a prefix like /opt) go to /etc/systemd/system
unit_file=$(cd "$ROOT" && find etc/systemd/system usr/lib/systemd/system usr/local/lib/systemd/system \
	-maxdepth 1 -name pixiecore.socket 2>/dev/null | head -n1)
if [[ -z $unit_file ]]; then
	find "$ROOT" -path "$ROOT/proc" -prune -o -name 'pixiecore.s*' -path '*systemd/system/*' \
		-exec cp {} "$ROOT/etc/systemd/system/" \;
fi
self_bind_example=$(find "$ROOT/usr" -name pixiecore-self-bind.conf.example | head -n1)
# D-Bus files outside dbus-daemon's search path (a prefix like /usr/local or /opt): the policy
# goes to /etc/dbus-1/system.d and the activation file to /usr/share/dbus-1/system-services, as
# a local administrator would do. (dbus-daemon reads policies from /etc/dbus-1/system.d and
# /usr/share/dbus-1/system.d only; activation files also from /usr/local/share.)
dbus_files=$(find "$ROOT/usr/share" "$ROOT/usr/local/share" "$ROOT/opt" \
	\( -path '*/dbus-1/system.d/org.pixiecore.Pixiecore1.conf' -o \
	-path '*/dbus-1/system-services/org.pixiecore.Pixiecore1.service' \) 2>/dev/null)
dbus_policy=$(grep -m1 '/system\.d/' <<<"$dbus_files")
dbus_activation=$(grep -m1 '/system-services/' <<<"$dbus_files")
case ${dbus_policy#"$ROOT"} in
/usr/share/dbus-1/system.d/*) ;;
/*) install -D -m 644 "$dbus_policy" "$ROOT/etc/dbus-1/system.d/org.pixiecore.Pixiecore1.conf" ;;
esac
case ${dbus_activation#"$ROOT"} in
/usr/share/dbus-1/system-services/* | /usr/local/share/dbus-1/system-services/*) ;;
/*) install -D -m 644 "$dbus_activation" "$ROOT/usr/share/dbus-1/system-services/org.pixiecore.Pixiecore1.service" ;;
esac

# payload and config, at the default config path compiled into the daemon
conf_path=$("$PIXIECORE" --help | sed -n 's/.*-config FILE.*default \([^ ]*\).*/\1/p')
[[ -n $conf_path ]] || conf_path=/etc/pixiecore/pixiecore.conf
mkdir -p "$ROOT/var/lib/pixiecore-test" "$ROOT$(dirname "$conf_path")"
head -c 2000000 /dev/urandom >"$ROOT/var/lib/pixiecore-test/vmlinuz"
head -c 300000 /dev/urandom >"$ROOT/var/lib/pixiecore-test/initrd.img"
chmod 755 "$ROOT/var/lib/pixiecore-test"
chmod 644 "$ROOT"/var/lib/pixiecore-test/*
# The second initrd is a URL (served from the client namespace below): the daemon downloads it
# at startup into CacheDirectory=, through the sandbox.
mkdir -p "$RUN/www"
head -c 200000 /dev/urandom >"$RUN/www/initrd-extra.img"
cat >"$ROOT$conf_path" <<EOF
# written by test-systemd-nspawn.sh
[pixiecore]
kernel=/var/lib/pixiecore-test/vmlinuz
initrd=/var/lib/pixiecore-test/initrd.img,http://$CLIENT_IP:8000/initrd-extra.img
cmdline=console=ttyS0 quiet
EOF
chmod 644 "$ROOT$conf_path"

# --- 3: namespaces, cgroup, boot --------------------------------------------------------------
for ns in "$NS_S" "$NS_C"; do
	ip netns add "$ns" || bail "ip netns add $ns"
	namespaces+=("$ns")
	ip -n "$ns" link set lo up
done
ip -n "$NS_S" link add eth0 type veth peer name eth0 netns "$NS_C"
ip -n "$NS_S" addr add "$SERVER_IP/24" dev eth0
ip -n "$NS_C" addr add "$CLIENT_IP/24" dev eth0
ip -n "$NS_S" link set eth0 up
ip -n "$NS_C" link set eth0 up
ip netns exec "$NS_C" python3 -m http.server --bind "$CLIENT_IP" --directory "$RUN/www" 8000 \
	>"$RUN/www.log" 2>&1 </dev/null 9>&- &
www_pid=$!

nspawn_args=(-q -b --register=no --keep-unit -D "$ROOT" -M "$MACHINE"
	--network-namespace-path="/run/netns/$NS_S" --console=read-only
	systemd.log_color=0)
if [[ -d /run/systemd/system ]]; then
	# a systemd host: a scope of its own (what --keep-unit is meant for)
	systemd-run --scope --quiet --collect -p Delegate=yes systemd-nspawn "${nspawn_args[@]}" \
		>"$RUN/console.log" 2>&1 </dev/null 9>&- &
	nspawn_pid=$!
else
	# No systemd on the host: a cgroup of our own in each hierarchy nspawn uses (two containers
	# started from the same cgroup break each other).
	# (cgroup v2 at /sys/fs/cgroup, or hybrid: v2 at .../unified plus v1 name=systemd)
	for h in /sys/fs/cgroup /sys/fs/cgroup/unified /sys/fs/cgroup/systemd; do
		[[ -e $h/cgroup.procs ]] || continue
		mkdir -p "$h/$MACHINE" && cgroups+=("$h/$MACHINE")
	done
	(
		for cg in "${cgroups[@]}"; do echo "$BASHPID" >"$cg/cgroup.procs"; done
		exec 9>&-
		exec systemd-nspawn "${nspawn_args[@]}"
	) >"$RUN/console.log" 2>&1 </dev/null &
	nspawn_pid=$!
fi

find_cpid() {
	local p
	for p in $(pgrep -f "systemd-nspawn .*-M $MACHINE "); do
		CPID=$(pgrep -P "$p" | head -n1)
		[[ -n $CPID ]] && [[ $(readlink "/proc/$CPID/exe") == */systemd ]] && return 0
	done
	return 1
}
booted() { [[ $(cin systemctl is-system-running 2>/dev/null) =~ ^(running|degraded)$ ]]; }
start=$SECONDS
if wait_for 30 find_cpid && wait_for 60 booted; then
	state=$(cin systemctl is-system-running 2>/dev/null)
	ok "container booted with systemd $(cin systemctl --version | awk 'NR==1 { print $2 }') as PID 1 in $((SECONDS - start)) s ($state)"
	[[ $state == running ]] || cin systemctl --failed --no-legend | diag
else
	not_ok "container booted"
	tail -n 30 "$RUN/console.log" | diag
	bail "no container"
fi

# --- 4: inside --------------------------------------------------------------------------------
missing_libs=$(cin ldd "$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$BUILD_ROOT/units/pixiecore.service")" 2>&1 |
	grep 'not found')
if [[ -z $missing_libs ]]; then
	ok "the daemon's libraries resolve in the container"
else
	not_ok "the daemon's libraries resolve in the container"
	diag_text "$missing_libs"
fi

cin systemd-sysusers >"$RUN/sysusers.log" 2>&1
px_uid=$(cin getent passwd pixiecore | cut -d: -f3)
if [[ -n $px_uid ]]; then
	ok "systemd-sysusers created user pixiecore (uid $px_uid) from sysusers.d/pixiecore.conf"
else
	not_ok "systemd-sysusers created user pixiecore"
	diag "$RUN/sysusers.log"
fi
cin systemctl daemon-reload
# dbus-daemon ignores a <policy user="pixiecore"> it read before the user existed: re-read the
# policy now (what a package's postinst does after creating the user)
if [[ -n $dbus_policy ]] && cin systemctl reload dbus.service 2>"$RUN/dbus-reload.err"; then
	ok "D-Bus policy for $BUS_NAME installed; dbus-daemon reloaded it"
else
	not_ok "D-Bus policy for $BUS_NAME installed (${dbus_policy:-not found}); dbus-daemon reloaded it"
	diag "$RUN/dbus-reload.err"
fi

socket_path=$(prop pixiecore.socket FragmentPath)
service_path=$(prop pixiecore.service FragmentPath)
verify_out=$(cin systemd-analyze verify "$socket_path" "$service_path" 2>&1)
verify_rc=$?
if [[ $verify_rc -eq 0 && -z $verify_out ]]; then
	ok "systemd-analyze verify is clean for $socket_path and $service_path"
else
	not_ok "systemd-analyze verify is clean (rc $verify_rc)"
	diag_text "$verify_out"
fi

check "pixiecore.socket is not started at boot (is-enabled: $(cin systemctl is-enabled pixiecore.socket 2>&1))" \
	test "$(cin systemctl is-active pixiecore.socket)" != active

cin systemctl start pixiecore.socket
check "systemctl start pixiecore.socket: active" test "$(cin systemctl is-active pixiecore.socket)" = active

# listeners: PID 1 ("systemd") holds 0.0.0.0:67/4011/69 UDP and 0.0.0.0:80 TCP; no daemon yet
listeners=$(ip netns exec "$NS_S" ss -Hlnup; ip netns exec "$NS_S" ss -Hltnp)
all_four=1
for l in "0.0.0.0:67 " "0.0.0.0:4011 " "0.0.0.0:69 " "0.0.0.0:80 "; do
	grep -F "$l" <<<"$listeners" | grep -q '"systemd"' || all_four=0
done
if ((all_four)) && [[ $(cin systemctl is-active pixiecore.service) != active ]]; then
	ok "PID 1 listens on UDP 0.0.0.0:67, 0.0.0.0:4011, 0.0.0.0:69 and TCP 0.0.0.0:80; service not started yet"
else
	not_ok "PID 1 listens on all four (IPv4) and the service waits for traffic"
	diag_text "$listeners"
fi

# Activation by a real request from the client namespace: the iPXE script over HTTP
mac=d0:50:99:4e:05:57
in_c curl -sS -m 20 -o "$RUN/script" "http://$SERVER_IP/_/ipxe?mac=$mac&arch=0" 2>"$RUN/curl.err"
curl_rc=$?
if [[ $curl_rc -eq 0 && $(cin systemctl is-active pixiecore.service) == active ]] && grep -q '^#!ipxe' "$RUN/script"; then
	ok "an HTTP request from the client activated pixiecore.service (iPXE script served)"
else
	not_ok "an HTTP request from the client activated pixiecore.service (curl rc $curl_rc)"
	diag "$RUN/curl.err"
	cin journalctl -b -u pixiecore.service -u pixiecore.socket --no-pager | tail -n 20 | diag
fi

status=$(prop pixiecore.service StatusText)
if [[ $status == Serving*"ProxyDHCP, PXE, TFTP, HTTP"* ]]; then
	ok "StatusText=$status"
else
	not_ok "StatusText names the four services (got '$status')"
fi

# D-Bus: the sandboxed daemon owns its name on the container's system bus
bus_owned() { cin busctl status "$BUS_NAME" >"$RUN/busctl-status" 2>&1; }
if wait_for 10 bus_owned && grep -qx 'Unit=pixiecore.service' "$RUN/busctl-status" &&
	grep -qx "EUID=$px_uid" "$RUN/busctl-status"; then
	ok "busctl status $BUS_NAME: owned by pixiecore.service (EUID $px_uid) on the system bus"
else
	not_ok "busctl status $BUS_NAME: owned by pixiecore.service"
	diag "$RUN/busctl-status"
	cin journalctl -b -u pixiecore.service -u dbus.service --no-pager | tail -n 20 | diag
fi
check "BusName=$BUS_NAME in the unit" test "$(prop pixiecore.service BusName)" = "$BUS_NAME"
mode=$(cin busctl get-property "$BUS_NAME" "$BUS_PATH" "$BUS_NAME.Manager" Mode 2>&1)
dflt=$(cin busctl get-property "$BUS_NAME" "$BUS_PATH" "$BUS_NAME.Manager" DefaultTarget 2>&1)
if [[ $mode == 's "static"' && $dflt == '(sass) "/var/lib/pixiecore-test/vmlinuz" 2 '* ]]; then
	ok "busctl get-property: Mode static, DefaultTarget from the config"
else
	not_ok "busctl get-property Mode/DefaultTarget (got '$mode', '$dflt')"
fi
# a change as root, through the sandbox: the daemon checks the caller (euid 0, no polkit needed)
# and saves it in its StateDirectory (ProtectSystem=strict, PrivateUsers=yes)
if cin sh -c 'command -v pixiecorectl' >/dev/null 2>&1; then
	cin pixiecorectl set-target 52:54:00:0d:b0:05 --kernel /var/lib/pixiecore-test/vmlinuz --once \
		>"$RUN/ctl.out" 2>&1
	ctl_rc=$?
	resolved=$(cin pixiecorectl resolve 52:54:00:0d:b0:05 --json 2>&1)
	if [[ $ctl_rc -eq 0 && $resolved == *'"source":"machine-once"'* ]] &&
		cin grep -q '52:54:00:0d:b0:05' /var/lib/pixiecore/targets.json; then
		ok "pixiecorectl set-target as root: applied and saved to /var/lib/pixiecore/targets.json"
	else
		not_ok "pixiecorectl set-target as root (rc $ctl_rc; resolve: $resolved)"
		diag "$RUN/ctl.out"
	fi
	cin pixiecorectl clear-target 52:54:00:0d:b0:05 >/dev/null 2>&1
else
	not_ok "pixiecorectl installed in the container"
fi

# the process: user, capabilities, no_new_privs, seccomp; its directories
dpid=$(daemon_host_pid)
if [[ -n $dpid ]]; then
	st=$(cat "/proc/$dpid/status")
	uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' <<<"$st")
	caps=$(awk '/^Cap(Inh|Prm|Eff|Bnd|Amb):/ { printf "%s ", $2 }' <<<"$st")
	if [[ $uids == "$px_uid $px_uid $px_uid $px_uid" && $caps != *[1-9a-f]* ]] &&
		grep -q '^NoNewPrivs:[[:space:]]*1' <<<"$st" && grep -q '^Seccomp:[[:space:]]*2' <<<"$st"; then
		ok "daemon runs as user pixiecore with no capabilities, no_new_privs and a seccomp filter"
	else
		not_ok "daemon runs as user pixiecore with no capabilities (uids $uids; caps $caps)"
		grep -E '^(Uid|Gid|Cap|NoNewPrivs|Seccomp)' <<<"$st" | diag
	fi
	dirs=$(cin stat -c '%U %n' /var/lib/pixiecore /var/cache/pixiecore /run/pixiecore 2>&1)
	check "StateDirectory, CacheDirectory, RuntimeDirectory owned by pixiecore" \
		test "$(grep -c '^pixiecore ' <<<"$dirs")" -eq 3
	# the fds: exactly the four sockets PID 1 bound, no socket of its own on a service port
	python3 "$HARNESS" sockets "$CPID" >"$RUN/pid1.sockets" 2>&1
	python3 "$HARNESS" sockets "$dpid" >"$RUN/daemon.sockets" 2>&1
	# (listening ones only: accepted HTTP connections are on port 80 too)
	svc() { awk '$3 ~ /:(67|69|4011|80)$/ && $4 ~ /^(LISTEN|UNCONN)$/ { print $1 }' "$1" | sort; }
	if [[ $(svc "$RUN/pid1.sockets" | wc -l) -eq 4 && "$(svc "$RUN/pid1.sockets")" == "$(svc "$RUN/daemon.sockets")" ]]; then
		ok "daemon holds the 4 sockets PID 1 passed and bound none of its own on 67/4011/69/80"
	else
		not_ok "daemon holds exactly the sockets PID 1 passed"
		diag "$RUN/pid1.sockets" "$RUN/daemon.sockets"
	fi
else
	not_ok "daemon process found"
fi

# the four services, from the client namespace
kurl=$(awk '$1 == "kernel" { for (i = 2; i <= NF; i++) if ($i ~ /^http:/) { print $i; exit } }' "$RUN/script")
in_c curl -sS -m 20 -o "$RUN/kernel" "$kurl" 2>"$RUN/curl.err"
if [[ -s $RUN/kernel && $(sha "$RUN/kernel") == "$(sha "$ROOT/var/lib/pixiecore-test/vmlinuz")" ]]; then
	ok "HTTP: kernel from the config served at $kurl"
else
	not_ok "HTTP: kernel served (URL '${kurl:-none}')"
	diag "$RUN/curl.err"
fi
iurl=$(awk '$1 == "initrd" && $3 == "initrd1" { for (i = 2; i <= NF; i++) if ($i ~ /^http:/) { print $i; exit } }' "$RUN/script")
in_c curl -sS -m 20 -o "$RUN/initrd1" "$iurl" 2>"$RUN/curl.err"
if [[ -s $RUN/initrd1 && $(sha "$RUN/initrd1") == "$(sha "$RUN/www/initrd-extra.img")" ]]; then
	ok "HTTP: initrd configured as a URL, downloaded by the sandboxed daemon at startup, served at $iurl"
else
	not_ok "HTTP: initrd configured as a URL served (URL '${iurl:-none}')"
	diag "$RUN/curl.err" "$RUN/script"
fi
in_c curl -sS -m 20 -o "$RUN/undionly.kpxe" "tftp://$SERVER_IP/undionly.kpxe" 2>"$RUN/curl.err"
if [[ -s $RUN/undionly.kpxe && $(sha "$RUN/undionly.kpxe") == "$(sha "$ROOT/usr/lib/ipxe/undionly.kpxe")" ]]; then
	ok "TFTP: undionly.kpxe (Debian's ipxe package) through the activated socket"
else
	not_ok "TFTP: undionly.kpxe through the activated socket"
	diag "$RUN/curl.err"
fi
if in_c timeout 30 python3 "$HARNESS" dhcp --fixture "$FIXTURES/bios-discover.hex" --to 255.255.255.255:67 \
	--device eth0 --timeout 15 >"$RUN/dhcp67" 2>&1 &&
	grep -qx 'option 60 PXEClient' "$RUN/dhcp67" && grep -qx "siaddr $SERVER_IP" "$RUN/dhcp67"; then
	ok "ProxyDHCP: offer for a broadcast PXE DHCPDISCOVER ($(grep '^file ' "$RUN/dhcp67"))"
else
	not_ok "ProxyDHCP: offer for a broadcast PXE DHCPDISCOVER"
	diag "$RUN/dhcp67"
fi
if in_c timeout 30 python3 "$HARNESS" dhcp --fixture "$FIXTURES/bios-request-4011.hex" --to "$SERVER_IP:4011" \
	--bind-port 0 --ciaddr "$CLIENT_IP" --timeout 15 >"$RUN/dhcp4011" 2>&1 && grep -qx 'option 53 05' "$RUN/dhcp4011"; then
	ok "PXE boot server: ACK on UDP 4011"
else
	not_ok "PXE boot server: ACK on UDP 4011"
	diag "$RUN/dhcp4011"
fi

journal=$(cin journalctl -b -u pixiecore.service --no-pager -o cat 2>&1)
if grep -qiE 'unexpected socket|cannot take sockets|denied|EPERM|not permitted' <<<"$journal"; then
	not_ok "journal of pixiecore.service has no socket or sandbox errors"
	diag_text "$journal"
else
	ok "journal of pixiecore.service has no socket or sandbox errors"
fi

# systemd-analyze security
cin systemd-analyze security pixiecore.service --no-pager >"$RUN/security" 2>&1
exposure=$(sed -n 's/.*Overall exposure level for pixiecore.service: \([0-9.]*\).*/\1/p' "$RUN/security")
grep -E '^✗' "$RUN/security" | sed 's/  */ /g' | diag
if [[ -n $exposure ]] && awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }'; then
	ok "systemd-analyze security pixiecore.service: exposure $exposure (<= $MAX_EXPOSURE)"
else
	not_ok "systemd-analyze security pixiecore.service: exposure ${exposure:-?} (want <= $MAX_EXPOSURE)"
	tail -n 5 "$RUN/security" | diag
fi

# clean stop; the socket stays and a datagram activates the service again
cin systemctl stop pixiecore.service 2>>"$RUN/systemctl.log"
stop_rc=$?
result="$(prop pixiecore.service Result) $(prop pixiecore.service ExecMainCode) $(prop pixiecore.service ExecMainStatus)"
if [[ $stop_rc -eq 0 && $(cin systemctl is-active pixiecore.service) != active && $result == "success 1 0" &&
	$(cin systemctl is-active pixiecore.socket) == active ]]; then
	ok "systemctl stop pixiecore.service: exit status 0, Result=success; pixiecore.socket still listening"
else
	not_ok "systemctl stop pixiecore.service cleanly (rc $stop_rc, Result/code/status: $result)"
	cin journalctl -b -u pixiecore.service --no-pager | tail -n 10 | diag
fi
# Gated bus activation: while pixiecore.service is not enabled, the activation file's
# SystemdService=dbus-org.pixiecore.Pixiecore1.service does not exist, so introspecting the name
# (what a GDBusObjectManagerClient does on its own) must not start a PXE server.
inactive() { [[ $(cin systemctl is-active pixiecore.service) =~ ^(inactive|failed)$ ]]; }
if [[ $(cin systemctl is-enabled pixiecore.service 2>&1) != enabled ]] &&
	! cin test -e /etc/systemd/system/dbus-org.pixiecore.Pixiecore1.service; then
	cin timeout 60 busctl introspect "$BUS_NAME" "$BUS_PATH" >"$RUN/introspect-disabled.out" 2>&1
	intro_rc=$?
	sleep 1
	# (the refusal must come from the gate: systemd has no unit dbus-org.pixiecore.Pixiecore1)
	if [[ $intro_rc -ne 0 ]] && inactive && grep -q 'dbus-org.pixiecore.Pixiecore1.service' "$RUN/introspect-disabled.out"; then
		ok "not enabled: busctl introspect $BUS_NAME fails and does not start pixiecore.service"
		diag "$RUN/introspect-disabled.out"
	else
		not_ok "not enabled: busctl introspect must not start the service (rc $intro_rc, $(cin systemctl is-active pixiecore.service))"
		diag "$RUN/introspect-disabled.out"
	fi
else
	not_ok "pixiecore.service is not enabled before the gated-activation check"
fi
# enabled: the alias exists, and the same introspection activates the service
cin systemctl enable pixiecore.service >"$RUN/enable.log" 2>&1
cin timeout 60 busctl introspect "$BUS_NAME" "$BUS_PATH" >"$RUN/introspect.out" 2>&1
intro_rc=$?
if [[ $intro_rc -eq 0 && $(cin systemctl is-active pixiecore.service) == active ]] &&
	grep -q "$BUS_NAME.Manager" "$RUN/introspect.out" &&
	cin test -L /etc/systemd/system/dbus-org.pixiecore.Pixiecore1.service; then
	ok "enabled (Alias=dbus-org.pixiecore.Pixiecore1.service): busctl introspect activates the service"
else
	not_ok "enabled: busctl introspect activates the service (rc $intro_rc, $(cin systemctl is-active pixiecore.service))"
	diag "$RUN/enable.log" "$RUN/introspect.out"
	cin journalctl -b -u pixiecore.service -u dbus.service --no-pager | tail -n 10 | diag
fi
cin systemctl disable pixiecore.service >>"$RUN/enable.log" 2>&1
cin systemctl stop pixiecore.service 2>>"$RUN/systemctl.log"
wait_for 10 inactive

rm -f "$RUN/undionly.kpxe"
in_c curl -sS -m 20 -o "$RUN/undionly.kpxe" "tftp://$SERVER_IP/undionly.kpxe" 2>"$RUN/curl.err"
if [[ -s $RUN/undionly.kpxe && $(sha "$RUN/undionly.kpxe") == "$(sha "$ROOT/usr/lib/ipxe/undionly.kpxe")" &&
	$(cin systemctl is-active pixiecore.service) == active ]]; then
	ok "a TFTP request (datagram) activated the service again and was answered"
else
	not_ok "a TFTP request (datagram) activated the service again and was answered"
	diag "$RUN/curl.err"
fi

# The watchdog, with a short WatchdogSec= in a drop-in: the daemon must keep pinging.
mkdir -p "$ROOT/etc/systemd/system/pixiecore.service.d"
printf '[Service]\nWatchdogSec=2s\n' >"$ROOT/etc/systemd/system/pixiecore.service.d/50-test-watchdog.conf"
cin systemctl daemon-reload
cin systemctl restart pixiecore.service
main1=$(prop pixiecore.service MainPID)
wd1=$(prop pixiecore.service WatchdogTimestampMonotonic)
sleep 5
main2=$(prop pixiecore.service MainPID)
wd2=$(prop pixiecore.service WatchdogTimestampMonotonic)
if [[ $(cin systemctl is-active pixiecore.service) == active && $main1 == "$main2" && $main1 != 0 &&
	${wd2:-0} -gt ${wd1:-0} && $(prop pixiecore.service NRestarts) == 0 ]]; then
	ok "watchdog: with WatchdogSec=2s the service pings and stays up (WatchdogTimestamp advanced)"
else
	not_ok "watchdog: with WatchdogSec=2s the service pings and stays up (pid $main1 -> $main2, ts $wd1 -> $wd2)"
	cin journalctl -b -u pixiecore.service --no-pager | tail -n 10 | diag
fi
rm -f "$ROOT/etc/systemd/system/pixiecore.service.d/50-test-watchdog.conf"
cin systemctl daemon-reload
cin systemctl stop pixiecore.service 2>>"$RUN/systemctl.log"

# The documented non-activated mode: the drop-in example, socket masked, daemon binds itself.
if [[ -n $self_bind_example ]]; then
	cin systemctl stop pixiecore.socket pixiecore.service
	cin systemctl mask pixiecore.socket >/dev/null 2>&1
	cp "$self_bind_example" "$ROOT/etc/systemd/system/pixiecore.service.d/self-bind.conf"
	cin systemctl daemon-reload
	cin systemctl start pixiecore.service 2>"$RUN/start.err"
	start_rc=$?
	dpid=$(daemon_host_pid)
	capeff=$(awk '/^CapEff:/ { print $2 }' "/proc/${dpid:-0}/status" 2>/dev/null)
	listeners=$(ip netns exec "$NS_S" ss -Hlnup; ip netns exec "$NS_S" ss -Hltnp)
	self_bound=$(grep -cE '0\.0\.0\.0:(67|4011|69|80) .*"pixiecore"' <<<"$listeners")
	in_c curl -sS -m 20 -o "$RUN/root-page" "http://$SERVER_IP/" 2>"$RUN/curl.err"
	if [[ $start_rc -eq 0 && $capeff == 0000000000000400 && $self_bound -eq 4 ]] &&
		! grep -q '"systemd"' <<<"$listeners" && grep -q '^pixiecore' "$RUN/root-page"; then
		ok "self-bind drop-in example: daemon binds all four itself with only CAP_NET_BIND_SERVICE"
	else
		not_ok "self-bind drop-in example (start rc $start_rc, CapEff ${capeff:-?}, self-bound $self_bound)"
		diag "$RUN/start.err"
		diag_text "$listeners"
		cin journalctl -b -u pixiecore.service --no-pager | tail -n 10 | diag
	fi
	cin systemctl stop pixiecore.service 2>>"$RUN/systemctl.log"
	check "systemctl stop (self-bind mode): Result=success" test "$(prop pixiecore.service Result)" = success
else
	not_ok "self-bind drop-in example installed"
fi

# orderly poweroff of the container
kill -TERM "$nspawn_pid" 2>/dev/null
nspawn_gone() { ! kill -0 "$nspawn_pid" 2>/dev/null; }
if wait_for 30 nspawn_gone; then
	wait "$nspawn_pid" 2>/dev/null
	ok "container powered off"
else
	not_ok "container powered off within 30 s"
	tail -n 20 "$RUN/console.log" | diag
fi

echo "1..$n"
((failed == 0)) || echo "# $failed of $n checks failed" >&2
((failed == 0))
