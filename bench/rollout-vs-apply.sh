#!/usr/bin/env bash
# What a rollout costs over a plain apply of the same kind of change to the same six prod hosts, on a lab of its own.
# Each round applies a key edit of /etc/acme-mail/acme-mail.conf (and a service restart) with `apply` (the peer:
# hosts one after another, no checks) and then a different value with `promote` (canary 1, batches of 50%, a 2 s
# settle and health + service checks after each batch, the patched scope compared with staging at the end).
# One line per run, then the medians and their ratio.
# Usage: bench/rollout-vs-apply.sh [ROUNDS=5] [LABDIR] [ADDRESS_OCTET=140] [SSH_PORT=2442]  (root; Release build first)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
LAB=${2:-/var/tmp/stageproof-bench-rollout}
OCTET=${3:-140}
PORT=${4:-2442}
. bench/lab-bench.sh
bench_lab_up 6
# The lab's lifecycle with prod alone and no approvals: this measures the rollout, not the gate.
python3 - "$LAB/stageproof.yaml" "$LAB/bench.yaml" <<'PY'
import sys
s = open(sys.argv[1]).read()
s = s[:s.index("lifecycle:")] + """lifecycle:
  stages:
    - environment: prod
      rollout: { canary: 1, batch: 50%, max_failures: 0, pause: 0s, settle: 2s, checks: [health, service], rollback: all }
"""
open(sys.argv[2], "w").write(s)
PY
S=("$SP" --config "$LAB/bench.yaml" --state "$LAB/.stageproof")
"${S[@]}" --actor bench user add bench --role operator >/dev/null
echo "commands: ${S[*]} apply D --env prod   |   ${S[*]} --actor bench promote D --to prod"
printf 'round\tapply_s\tapply_exit\trollout_s\trollout_exit\n'
apply_times=(); rollout_times=()
for i in $(seq 1 "$N"); do
    D=$(freeze_lifetime $((200 + i)))
    t0=$(date +%s.%N); set +e; "${S[@]}" apply "$D" --env prod >"$OUT/apply-$i.log" 2>&1; ra=$?; set -e; t1=$(date +%s.%N)
    E=$(freeze_lifetime $((300 + i)))
    # Staging gets the set first (untimed), as it would have in its stage run: the rollout's final comparison is zero.
    "${S[@]}" apply "$E" --env staging >"$OUT/staging-$i.log" 2>&1
    t2=$(date +%s.%N)
    set +e; "${S[@]}" --actor bench promote "$E" --to prod >"$OUT/rollout-$i.log" 2>&1; rr=$?; set -e; t3=$(date +%s.%N)
    # (Until 2026-11-30 the apply column also held the freeze and the untimed staging apply: t1 was taken twice.)
    a=$(echo "$t1 - $t0" | bc); r=$(echo "$t3 - $t2" | bc)
    apply_times+=("$a"); rollout_times+=("$r")
    printf '%s\t%.1f\t%s\t%.1f\t%s\n' "$i" "$a" "$ra" "$r" "$rr"
done
python3 - "${apply_times[*]}" "${rollout_times[*]}" <<'PY'
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]; r = [float(x) for x in sys.argv[2].split()]
ma, mr = statistics.median(a), statistics.median(r)
print(f"median apply {ma:.1f}s, median rollout {mr:.1f}s, ratio rollout/apply {mr / ma:.2f}")
PY
