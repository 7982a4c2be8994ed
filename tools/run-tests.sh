#!/bin/bash
# Installs what is needed, builds, and runs the whole test suite (unit, integration in network
# namespaces, systemd in nspawn, end-to-end QEMU netboots). Ends with "N passed, N failed".
#   tools/run-tests.sh [extra meson test args, e.g. --suite unit]
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
	echo "run-tests: run as root (the tests create network namespaces and VMs)" >&2
	exit 2
fi
tools/install-deps.sh
# the lab's kernel comes from Debian's archive; apt needs its lists for 'apt-get download'
[[ -n $(ls /var/lib/apt/lists/*Packages* 2>/dev/null) ]] || apt-get update -q

BUILD=${BUILD_DIR:-build}
if [[ ! -d $BUILD ]]; then
	meson setup "$BUILD"
fi
meson compile -C "$BUILD"

status=0
meson test -C "$BUILD" --print-errorlogs --num-processes 2 "$@" || status=$?

python3 - "$BUILD/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)
        res = r.get("result")
        if res in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif res == "SKIP":
            skipped += 1
        else:
            failed += 1
            print(f"FAILED: {r.get('name')} ({res})")
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit $status
