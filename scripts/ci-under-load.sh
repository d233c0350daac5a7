#!/usr/bin/env bash
# CI under load: what issue 19 asks CI to survive. A clean clone of this repository's HEAD (with ../shared beside it
# when there is one) runs `CI=true bash .ci/run` while `stress-ng --cpu 2` keeps both cores busy, N times in a row.
# Usage: scripts/ci-under-load.sh [RUNS=3] [WORKDIR=/var/tmp/stageproof-ci-under-load]   (root, like .ci/run)
# Prints one line per run (commit, exit code, seconds); logs in WORKDIR/run-N.log. Stops at the first failure.
set -uo pipefail
RUNS=${1:-3}
WORK=${2:-/var/tmp/stageproof-ci-under-load}
REPO=$(cd "$(dirname "$0")/.." && pwd)
command -v stress-ng >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng >/dev/null; }
mkdir -p "$WORK"
for n in $(seq 1 "$RUNS"); do
    dir="$WORK/run-$n"
    rm -rf "$dir" && mkdir -p "$dir"
    git clone -q "$REPO" "$dir/main"
    [ -d "$REPO/../shared" ] && cp -r "$REPO/../shared" "$dir/shared"
    stress-ng --cpu 2 --timeout 5400s >/dev/null 2>&1 &
    stress=$!
    start=$(date +%s)
    (cd "$dir/main" && CI=true timeout 5400 bash .ci/run) > "$WORK/run-$n.log" 2>&1
    rc=$?
    kill "$stress" 2>/dev/null; wait "$stress" 2>/dev/null
    echo "run $n: commit $(git -C "$dir/main" rev-parse --short HEAD), exit $rc, $(( $(date +%s) - start )) s, log $WORK/run-$n.log"
    rm -rf "$dir"
    [ "$rc" -eq 0 ] || exit "$rc"
done
