#!/usr/bin/env bash
# Wall time of `stageproof lab up`: the first up of the session (base image cached or not, as found), then
# `lab down` + `lab up` three times with the cached base. Prints one line per run and the median.
# Usage: bench/lab-up.sh [LABDIR] [SSH_PORT] [APP_HOSTS]     (root; builds the CLI in Release first)
set -euo pipefail
cd "$(dirname "$0")/.."
LAB=${1:-/var/tmp/stageproof-bench-lab}
PORT=${2:-2422}
APP_HOSTS=${3:-2}
SP=src/Stageproof.Cli/bin/Release/net10.0/stageproof
dotnet build -c Release src/Stageproof.Cli >/dev/null
STATE="$LAB-state"   # audit/state of the lab commands themselves, outside the lab dir

cleanup() { "$SP" --state "$STATE" lab down --dir "$LAB" >/dev/null 2>&1 || true; }
trap cleanup EXIT INT TERM

# No other lab may use the default addresses (127.0.10/20/30.x): refuse if any lab mount exists.
if ss -ltn | grep -Eq "127\.0\.(10|20|30)\.[0-9]+:"; then
    echo "something listens on 127.0.10/20/30.x (the default lab addresses: another lab?); refusing" >&2; exit 1
fi

echo "machine: nproc=$(nproc); $(lscpu | grep 'Model name' | sed 's/  */ /g'); $(grep MemTotal /proc/meminfo | sed 's/  */ /g')"
echo "base caches before: $(ls /var/cache/stageproof/ 2>/dev/null | grep '^base-' | tr '\n' ' ')"

run_up() {
    local t0 t1 out
    t0=$(date +%s.%N)
    out=$("$SP" --state "$STATE" lab up --dir "$LAB" --app-hosts "$APP_HOSTS" --ssh-port "$PORT" 2>&1) || { echo "$out" >&2; return 1; }
    t1=$(date +%s.%N)
    printf '%s\t%.2f\t%s\n' "$1" "$(echo "$t1 - $t0" | bc)" "$(echo "$out" | grep -o 'Lab up in .*image)' || true)"
}

cleanup
echo -e "run\twall s\tCLI says"
run_up first
times=()
for i in 1 2 3; do
    t0=$(date +%s.%N); "$SP" --state "$STATE" lab down --dir "$LAB" >/dev/null; t1=$(date +%s.%N)
    printf 'down-%d\t%.2f\n' "$i" "$(echo "$t1 - $t0" | bc)"
    line=$(run_up "warm-$i"); echo "$line"
    times+=("$(echo "$line" | cut -f2)")
done
echo "median warm up: $(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p) s"
