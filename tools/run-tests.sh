#!/bin/bash
# Installs what is needed, builds, and runs the whole test suite (unit, integration in network
# namespaces, systemd in nspawn, end-to-end QEMU netboots). Then two more passes:
#   - build-asan: unit + integration again, everything (the daemon too) under ASan+UBSan with
#     LeakSanitizer on; any sanitizer report from any process fails the pass;
#   - build-fuzz: clang -Dfuzzing=true, each libFuzzer target runs for a bounded time (suite fuzz).
# Ends with "N passed, N failed" over all three (failures are labelled [asan] / [fuzz]).
#   tools/run-tests.sh [extra meson test args, e.g. --suite unit]   (they apply to the main pass)
# Knobs: PX_TESTS_SKIP_MAIN=1, PX_TESTS_SKIP_ASAN=1, PX_TESTS_SKIP_FUZZ=1 skip a pass;
#   FUZZ_SECONDS=N sets each fuzzer's time budget (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
	echo "run-tests: run as root (the tests create network namespaces and VMs)" >&2
	exit 2
fi
tools/install-deps.sh
# the lab's kernel comes from Debian's archive; apt needs its lists for 'apt-get download'
[[ -n $(ls /var/lib/apt/lists/*Packages* 2>/dev/null) ]] || apt-get update -q

status=0
logs=()     # LABEL=testlog.json for the summary
extra=()    # LABEL:what, failures outside meson test (build failures, sanitizer reports)

# --- main pass ---
BUILD=${BUILD_DIR:-build}
if [[ ${PX_TESTS_SKIP_MAIN:-0} != 1 ]]; then
	if [[ ! -d $BUILD ]]; then
		meson setup "$BUILD"
	fi
	meson compile -C "$BUILD"
	meson test -C "$BUILD" --print-errorlogs --num-processes 2 "$@" || status=$?
	logs+=("=$BUILD/meson-logs/testlog.json")
fi

# --- sanitizer pass: ASan + UBSan + LeakSanitizer ---
# Not here: systemd-nspawn (installs the binary into a container that has no libasan) and most
# of e2e (minutes of QEMU). Two real firmware boots do run against the sanitized daemon: a static
# boot and an API-mode boot (e2e-bios-ipxe, e2e-bios-api), so a full boot of each kind is checked
# for leaks and memory errors. Sanitizer output goes to files (log_path) rather
# than stderr so that a report from a daemon a test script started in the background, whose
# stderr nobody reads and whose exit status a test may not check, still fails the pass.
if [[ ${PX_TESTS_SKIP_ASAN:-0} != 1 ]]; then
	ASAN_BUILD=build-asan
	san_dir=$PWD/$ASAN_BUILD/meson-logs/sanitizer
	san_start=$SECONDS
	if { [[ -d $ASAN_BUILD ]] || meson setup "$ASAN_BUILD" --buildtype=debug \
			-Db_sanitize=address,undefined -Db_lundef=false; } && meson compile -C "$ASAN_BUILD"; then
		mapfile -t asan_tests < <(meson test -C "$ASAN_BUILD" --no-rebuild --list \
			--suite unit --suite integration 2>/dev/null | sed -n 's|^[^ ]* / ||p' | grep -vx 'systemd-nspawn')
		if ((${#asan_tests[@]} == 0)); then
			# no names would make meson test run everything, e2e included
			echo "run-tests: cannot list the tests of $ASAN_BUILD" >&2
			exit 1
		fi
		asan_tests+=(e2e-bios-ipxe e2e-bios-api)
		rm -rf "$san_dir"
		mkdir -p "$san_dir"
		lsan_opts=
		if [[ -f tools/lsan.supp ]]; then
			lsan_opts=suppressions=$PWD/tools/lsan.supp:print_suppressions=0
		fi
		ubsan_opts=halt_on_error=1:print_stacktrace=1:log_path=$san_dir/ubsan
		if [[ -f tools/ubsan.supp ]]; then
			ubsan_opts+=:suppressions=$PWD/tools/ubsan.supp
		fi
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:log_path=$san_dir/asan \
		UBSAN_OPTIONS=$ubsan_opts LSAN_OPTIONS=$lsan_opts \
			meson test -C "$ASAN_BUILD" --print-errorlogs --num-processes 2 "${asan_tests[@]}" || status=$?
		logs+=("asan=$ASAN_BUILD/meson-logs/testlog.json")
		shopt -s nullglob
		reports=("$san_dir"/*)
		shopt -u nullglob
		if ((${#reports[@]})); then
			for r in "${reports[@]}"; do
				echo "=== sanitizer report $r ==="
				head -n 60 "$r"
			done
			extra+=("asan:sanitizer reports (${#reports[@]}) in $san_dir")
			status=1
		fi
	else
		extra+=("asan:build of $ASAN_BUILD")
		status=1
	fi
	echo "run-tests: sanitizer pass took $((SECONDS - san_start))s"
fi

# --- fuzz pass: each libFuzzer target for FUZZ_SECONDS (default 30) on its seed corpus ---
if [[ ${PX_TESTS_SKIP_FUZZ:-0} != 1 ]]; then
	FUZZ_BUILD=build-fuzz
	fuzz_start=$SECONDS
	if ! command -v clang >/dev/null; then
		extra+=("fuzz:clang not installed")
		status=1
	elif { [[ -d $FUZZ_BUILD ]] || CC=clang meson setup "$FUZZ_BUILD" --buildtype=debugoptimized \
			-Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false; } && meson compile -C "$FUZZ_BUILD"; then
		# crashes, leaks and UBSan findings are printed on stderr (kept in the test log) and leave
		# the input in $FUZZ_BUILD/tests/fuzz/artifacts-<name>/
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			meson test -C "$FUZZ_BUILD" --print-errorlogs --num-processes 2 --suite fuzz || status=$?
		logs+=("fuzz=$FUZZ_BUILD/meson-logs/testlog.json")
	else
		extra+=("fuzz:build of $FUZZ_BUILD")
		status=1
	fi
	echo "run-tests: fuzz pass took $((SECONDS - fuzz_start))s"
fi

python3 - "${logs[@]/#/log:}" "${extra[@]/#/extra:}" <<'PY'
import json, sys
passed = failed = skipped = 0
for arg in sys.argv[1:]:
    kind, _, rest = arg.partition(":")
    if kind == "extra":
        label, _, what = rest.partition(":")
        failed += 1
        print(f"FAILED: [{label}] {what}")
        continue
    label, _, path = rest.partition("=")
    prefix = f"[{label}] " if label else ""
    try:
        f = open(path)
    except OSError as e:
        failed += 1
        print(f"FAILED: {prefix}no test log ({e})")
        continue
    with f:
        for line in f:
            r = json.loads(line)
            res = r.get("result")
            if res in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif res == "SKIP":
                skipped += 1
            else:
                failed += 1
                print(f"FAILED: {prefix}{r.get('name')} ({res})")
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit $status
