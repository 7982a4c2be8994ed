#!/bin/bash
# Runs the benchmarks (tests/bench/*) side by side with the peer servers and prints their tables.
#   tools/run-benchmarks.sh [benchmark name...]     e.g. bench-tftp bench-http
# As root, on an otherwise idle machine. Results also land in build/meson-logs/benchmarklog.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
	echo "run-benchmarks: run as root (network namespaces, cgroups)" >&2
	exit 2
fi
tools/install-deps.sh
tools/install-bench-deps.sh
BUILD=${BUILD_DIR:-build}
[[ -d $BUILD ]] || meson setup "$BUILD"
meson compile -C "$BUILD"
export PX_BENCH_PEERS=${PX_BENCH_PEERS:-/var/cache/pixiecore-bench}
meson test -C "$BUILD" --benchmark --verbose --num-processes 1 "$@"
