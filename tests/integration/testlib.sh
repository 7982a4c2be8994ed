# shellcheck shell=bash
# Shared by the shell integration tests that use a private system bus (test-dbus.sh,
# test-faults.sh). Source it after setting SOURCE_ROOT; the caller sets PYTHON before free_port.
#
# TAP: ok NAME; not_ok NAME DETAIL...; skip NAME WHY; diag LINE...; check NAME COMMAND...;
#   eq NAME GOT WANT; skip_all WHY (exit 77); tap_done (plan, summary, exit status).
# Processes: stop_pid PID (TERM, up to 5 s, then KILL; reaps it); wait_for SECONDS COMMAND...
#   (poll every 0.1 s); free_port (a free TCP port on 127.0.0.1); nobody COMMAND... (as 65534).
# The bus: private_bus_start DIR: put the policy files the test needs into DIR/bus.d, then it
#   starts dbus-daemon with <type>system</type> on DIR/bus.sock, including DIR/bus.d; sets
#   bus_pid, exports DBUS_SYSTEM_BUS_ADDRESS, unsets DBUS_SESSION_BUS_ADDRESS (never the host's
#   buses); waits up to 10 s until it answers. Returns 1 (the log is in DIR/bus.log) if it does
#   not. The caller stops $bus_pid.

n=0
failed=0
failures=()
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)); failed=$((failed + 1)); failures+=("$n - $1"); echo "not ok $n - $1"
	shift
	local l
	for l in "$@"; do printf '%s\n' "$l" | head -c 4000 | sed 's/^/#   /'; done
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
diag() { printf '# %s\n' "$@"; }
check() { # check NAME COMMAND...: ok if the command succeeds
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name" "failed: $*"; fi
}
eq() { # eq NAME GOT WANT
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got:  $(printf '%q' "$2")" "want: $(printf '%q' "$3")"; fi
}
skip_all() {
	echo "1..0 # SKIP $*"
	exit 77
}
tap_done() {
	echo "1..$n"
	if ((failed)); then
		diag "$failed of $n failed:" "${failures[@]}"
		exit 1
	fi
	exit 0
}

stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}
wait_for() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

private_bus_start() {
	local dir=$1 i
	cat >"$dir/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$dir/bus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus" send_member="UpdateActivationEnvironment"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  <includedir>$dir/bus.d</includedir>
</busconfig>
EOF
	dbus-daemon --config-file="$dir/bus.conf" --nofork --nopidfile --nosyslog >"$dir/bus.log" 2>&1 </dev/null &
	bus_pid=$!
	export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$dir/bus.sock"
	unset DBUS_SESSION_BUS_ADDRESS
	for ((i = 0; i < 100; i++)); do
		if [[ -S $dir/bus.sock ]] && timeout 5 busctl --system status org.freedesktop.DBus >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$bus_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
