#!/usr/bin/env bash
# Scale, measured: rollouts over a SIMULATED estate (bench/Stageproof.Bench/Scale/SimulatedEstate.cs: in-process hosts
# that answer the patch engine's commands after a fixed latency; no SSH, no real host) by 1, 2 and 4 worker processes,
# each a node of the clustered Quartz.NET job store, all sharing one real PostgreSQL state (a private PostgreSQL 15 on
# 127.0.3.x, started and removed by the benchmark). Builds the bench project only, then runs its scale suite.
# Usage (root; the machine-wide lock keeps it apart from latency-judging tests):
#   flock /tmp/stageproof-tests-machine-load.lock nice -n 10 bench/rollout-scale.sh [--hosts 1000] [--environments 8] \
#       [--workers 1,2,4] [--latency-ms 20] [--parallelism 16] [--batch-percent 10]
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build bench/Stageproof.Bench -c Release -v quiet -nologo >/dev/null
BIN=bench/Stageproof.Bench/bin/Release/net10.0/Stageproof.Bench
[ -x "$BIN" ] || BIN=$(find bench/Stageproof.Bench/bin/Release -name Stageproof.Bench -type f -perm -u+x | head -1)
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(awk '/MemTotal/ {print $2" kB"}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bench || echo ' (with uncommitted changes)')"
exec "$BIN" scale "$@"
