#!/usr/bin/env bash
# False FAILs on a busy machine: `stageproof stage` of the good update (acme-mail 1.1) N times with staging's control
# (`lab clone staging staging-control --control`), then M times without it (the noise floor decides), then the
# slow-search bad update B times with the control — all while a second lab runs its own check suite (load included)
# in a loop on the same machine. One line per run (mode, exit, verdict, wall time, the mail-load p95 ratios before/after
# and against the control, inconclusive warnings, reasons), then the counts.
# Usage: bench/stage-control.sh [N=20] [M=5] [B=3]   (root; builds the CLI in Release first)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
M=${2:-5}
B=${3:-3}
LAB=/var/tmp/stageproof-bench-control
OCTET=150
PORT=2462
NEIGHBOUR=/var/tmp/stageproof-bench-neighbour
. bench/lab-bench.sh
bench_lab_up
S=("$SP" --config "$LAB/stageproof.yaml" --state "$LAB/.stageproof")
N_S=("$SP" --config "$NEIGHBOUR/stageproof.yaml" --state "$NEIGHBOUR/.stageproof")
neighbour_pid=
cleanup() {
    [ -n "$neighbour_pid" ] && kill "$neighbour_pid" 2>/dev/null && wait "$neighbour_pid" 2>/dev/null || true
    "$SP" --state "$NEIGHBOUR-state" lab down --dir "$NEIGHBOUR" >/dev/null 2>&1 || true
    "$SP" --state "$LAB-state" lab down --dir "$LAB" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM
"$SP" --state "$LAB-state" lab clone staging staging-control --control --dir "$LAB" >/dev/null
"$SP" --state "$NEIGHBOUR-state" lab up --dir "$NEIGHBOUR" --address-octet 200 --ssh-port 2472 >/dev/null 2>&1
# The neighbour: its own suite (health, logins, 8-client mail load, 32-client login load, SQL, logs) against its prod, back to back.
( while :; do "${N_S[@]}" check --env prod >/dev/null 2>&1 || true; done ) &
neighbour_pid=$!
echo "neighbour: lab on 127.0.200.x, \`${N_S[*]} check --env prod\` in a loop (pid $neighbour_pid)"

GOOD=$(freeze_good_update)
SLOW_VERSION=$("${S[@]}" --json lab repo add-bad dropped-search-index --dir "$LAB" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
sed -e "s/ACME-2026-11-01/ACME-SLOW-SEARCH/" -e "s/\"1.1-1\"/\"$SLOW_VERSION\"/" "$OUT/acme-mail-1.1.yaml" > "$OUT/slow-search.yaml"
SLOW=$("${S[@]}" patch freeze "$OUT/slow-search.yaml" 2>/dev/null)
echo "command: ${S[*]} --json stage DIGEST --env staging   (then: rollback --env staging [--database restore])"
printf 'mode\trun\texit\tverdict\twall_s\tbefore/after p95 ratio\tvs control\teffect\tnoise floor\tinconclusive\treasons\n'

stage() { # MODE RUN DIGEST
    set +e
    "${S[@]}" --json stage "$3" --env staging >"$OUT/$1-$2.json" 2>"$OUT/$1-$2.log"
    local rc=$?
    set -e
    python3 - "$OUT/$1-$2.json" "$1" "$2" "$rc" <<'PY'
import json, sys
path, mode, run, rc = sys.argv[1:5]
try:
    r = json.load(open(path))
except Exception as e:
    print(f"{mode}\t{run}\t{rc}\t-\t-\t-\t-\t-\t-\t-\tno result: {e}"); sys.exit(0)
def f(v): return "-" if v is None else f"{v:.2f}"
load = next((c["load"] for c in r.get("comparisons", []) if c["name"] == "mail-load" and c.get("load")), {})
control = (load.get("control") or {}).get("p95Ratio")
unsure = sum(1 for w in r.get("warnings", []) if "inconclusive" in w["evidence"])
reasons = "; ".join(f"{x['step']}: {x['subject']}: {x['evidence'][:120]}" for x in r.get("reasons", []))
print(f"{mode}\t{run}\t{rc}\t{r['verdict']}\t{r['seconds']['total']:.1f}\t{f(load.get('p95Ratio'))}\t{f(control)}\t{f(load.get('controlEffect'))}\t{f(load.get('noiseFloor'))}\t{unsure}\t{reasons or '-'}")
PY
    # A PASS leaves staging patched, as a proven change does; a FAIL has already returned it to its rollback point.
    if [ "$rc" -eq 0 ]; then
        "${S[@]}" rollback --env staging >"$OUT/rollback-$1-$2.log" 2>&1 \
            || { echo "rollback after $1 run $2 failed: see $OUT/rollback-$1-$2.log" >&2; exit 1; }
    fi
    return "$rc"
}

false_fails=0; noise_false_fails=0; missed=0
for i in $(seq 1 "$N"); do stage control "$i" "$GOOD" || false_fails=$((false_fails + 1)); done
cp "$LAB/stageproof.yaml" "$OUT/stageproof-with-control.yaml"
sed -i '/^    control: staging-control$/d' "$LAB/stageproof.yaml"
for i in $(seq 1 "$M"); do stage noise-floor "$i" "$GOOD" || noise_false_fails=$((noise_false_fails + 1)); done
cp "$OUT/stageproof-with-control.yaml" "$LAB/stageproof.yaml"
for i in $(seq 1 "$B"); do
    if stage slow-search "$i" "$SLOW"; then missed=$((missed + 1)); fi
done
echo "good update with the control: false FAILs $false_fails of $N"
echo "good update without it (noise floor): false FAILs $noise_false_fails of $M"
echo "slow-search update with the control: missed $missed of $B"
