# shellcheck shell=bash
# A private bus configured like the system bus, for the D-Bus integration tests (test-dbus.sh,
# test-faults.sh). Source it, put the policy files the test needs into DIR/bus.d, then
#   private_bus_start DIR     dbus-daemon with <type>system</type> on DIR/bus.sock, including
#                             DIR/bus.d; sets bus_pid, exports DBUS_SYSTEM_BUS_ADDRESS, unsets
#                             DBUS_SESSION_BUS_ADDRESS (never the host's buses); waits up to 10 s
#                             until it answers. Returns 1 (the log is in DIR/bus.log) if it does not.
# The caller stops $bus_pid.

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
