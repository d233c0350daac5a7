#!/usr/bin/env bash
# `stageproof stage` of the good update (acme-mail 1.1) N times in a row on a lab of its own, staging rolled back
# to 1.0 between runs; one line per run (exit code, verdict, wall time, where the time went, any FAIL reason) and
# the count of false FAILs. Usage: bench/stage-repeat.sh [N=10] [LABDIR] [ADDRESS_OCTET=140] [SSH_PORT=2442]
# (root; builds the CLI in Release first). CI runs the same check twice (LabStageTests).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10}
LAB=${2:-/var/tmp/stageproof-bench-stage}
OCTET=${3:-140}
PORT=${4:-2442}
. bench/lab-bench.sh
bench_lab_up
S=("$SP" --config "$LAB/stageproof.yaml" --state "$LAB/.stageproof")
D=$(freeze_good_update)
echo "command: ${S[*]} --json stage $D --env staging   (then: rollback --env staging)"
# soak_s: the soak window but the loads run inside it (the wall time the soak alone asked for); stageproof_s: the
# rest of the wall beyond load, soak, apt, the set's commands and readiness. old_s: the same with only the wait left for
# the window after compare and drift counted as soak (the split of the tables before 2026-12-03 late).
printf 'run\texit\tverdict\twall_s\tload_s\tsoak_s\tapt_s\tcommands_s\tready_s\tstageproof_s\tstageproof_%%\told_s\told_%%\treasons\n'
false_fails=0
for i in $(seq 1 "$N"); do
    set +e
    "${S[@]}" --json stage "$D" --env staging >"$OUT/run-$i.json" 2>"$OUT/run-$i.log"
    rc=$?
    set -e
    python3 - "$OUT/run-$i.json" "$i" "$rc" <<'PY'
import json, sys
path, run, rc = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    r = json.load(open(path))
except Exception as e:
    print(f"{run}\t{rc}\t-\t-\t-\t-\t-\t-\tno result: {e}"); sys.exit(0)
s = r.get("seconds", {})
total, load, wait, window, apt, commands, ready = (s.get(k, 0.0) for k in ("total", "load", "soak", "soak_window", "apt", "commands", "ready"))
own = total - load - window - apt - commands - ready
old = total - load - wait - apt - commands - ready
reasons = "; ".join(f"{x['step']}: {x['subject']}: {x['evidence'][:160]}" for x in r.get("reasons", []))
print(f"{run}\t{rc}\t{r['verdict']}\t{total:.1f}\t{load:.1f}\t{window:.1f}\t{apt:.1f}\t{commands:.1f}\t{ready:.1f}\t{own:.1f}\t{100 * own / total:.1f}\t{old:.1f}\t{100 * old / total:.1f}\t{reasons or '-'}")
PY
    [ "$rc" -eq 0 ] || false_fails=$((false_fails + 1))
    "${S[@]}" rollback --env staging >"$OUT/rollback-$i.log" 2>&1 || { echo "rollback after run $i failed: see $OUT/rollback-$i.log" >&2; exit 1; }
done
echo "false FAILs: $false_fails of $N"
