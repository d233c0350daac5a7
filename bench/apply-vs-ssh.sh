#!/usr/bin/env bash
# What `apply` costs per host beyond the change itself, on a lab of its own with six prod hosts. Each round makes the
# same kind of change two ways, alternating: a key edit of /etc/acme-mail/acme-mail.conf plus `service acme-mail
# restart` on the six hosts one after another —
#   peer:       a shell loop of OpenSSH `ssh HOST "sed -i … && service acme-mail restart"` (no rollback point, no
#               record, no verification: what an operator types by hand)
#   stageproof: `stageproof apply D --env prod` (facts before, rollback point, the edit, the restart, facts after,
#               every step recorded and audited)
# then the same two ways on one host only (so the fixed cost of a run — process start, configuration, the state
# store, the database dump of the rollback point — can be told from the cost each further host adds: the marginal
# overhead per host is ((apply_6 - apply_1) - (loop_6 - loop_1)) / 5), and then rolls one host back with
# `stageproof rollback --env prod --hosts prod-app-1` (no database restore: the schema did not change), reporting
# the rollback's wall time beside the part that is the restore and the set's restart.
# Usage: bench/apply-vs-ssh.sh [ROUNDS=5] [LABDIR] [ADDRESS_OCTET=140] [SSH_PORT=2442]  (root; Release build first)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
LAB=${2:-/var/tmp/stageproof-bench-apply}
OCTET=${3:-140}
PORT=${4:-2442}
. bench/lab-bench.sh
bench_lab_up 6
S=("$SP" --config "$LAB/stageproof.yaml" --state "$LAB/.stageproof")
mapfile -t ADDRS < <(python3 - "$LAB/stageproof.yaml" <<'PY'
import re, sys
for line in open(sys.argv[1]):
    m = re.match(r"\s+prod-app-\d+: \{ address: ([0-9.]+),", line)
    if m:
        print(m.group(1))
PY
)
SSH=(ssh -i "$LAB/keys/lab_ed25519" -o UserKnownHostsFile="$LAB/keys/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes -p "$PORT")
now() { date +%s.%N; }
echo "peer:       for h in ${ADDRS[*]}; do ${SSH[*]} root@\$h \"sed -i 's/^session.lifetime = .*/session.lifetime = V/' /etc/acme-mail/acme-mail.conf && service acme-mail restart\"; done"
echo "stageproof: ${S[*]} apply D --env prod        rollback: ${S[*]} --json rollback --env prod --hosts prod-app-1"
printf 'round\tssh_loop_s\tapply_s\tapply_exit\toverhead_per_host_ms\tloop_1_s\tapply_1_s\tmarginal_per_host_ms\trollback_s\trollback_restore_and_restart_s\trollback_rest_s\n'
loops=(); applies=(); rollbacks=(); rests=(); marginals=()
for i in $(seq 1 "$N"); do
    t0=$(now)
    for h in "${ADDRS[@]}"; do
        "${SSH[@]}" "root@$h" "sed -i 's/^session.lifetime = .*/session.lifetime = $((100 + i))/' /etc/acme-mail/acme-mail.conf && service acme-mail restart" >/dev/null 2>&1
    done
    t1=$(now)
    D=$(freeze_lifetime $((200 + i)))
    t2=$(now); set +e; "${S[@]}" apply "$D" --env prod >"$OUT/apply-$i.log" 2>&1; ra=$?; set -e; t3=$(now)
    u0=$(now)
    "${SSH[@]}" "root@${ADDRS[0]}" "sed -i 's/^session.lifetime = .*/session.lifetime = $((400 + i))/' /etc/acme-mail/acme-mail.conf && service acme-mail restart" >/dev/null 2>&1
    u1=$(now)
    E=$(freeze_lifetime $((500 + i)))
    u2=$(now); "${S[@]}" apply "$E" --env prod --hosts prod-app-1 >"$OUT/apply1-$i.log" 2>&1; u3=$(now)
    l1=$(echo "$u1 - $u0" | bc); a1=$(echo "$u3 - $u2" | bc)
    t4=$(now); "${S[@]}" --json rollback --env prod --hosts prod-app-1 >"$OUT/rollback-$i.json" 2>"$OUT/rollback-$i.log"; t5=$(now)
    inner=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["run"]; print(sum(v for h in r["hosts"] for v in h.get("stepSeconds", {}).values()))' "$OUT/rollback-$i.json")
    l=$(echo "$t1 - $t0" | bc); a=$(echo "$t3 - $t2" | bc); r=$(echo "$t5 - $t4" | bc)
    m=$(echo "(($a - $a1) - ($l - $l1)) * 1000 / (${#ADDRS[@]} - 1)" | bc -l)
    loops+=("$l"); applies+=("$a"); rollbacks+=("$r"); rests+=("$(echo "$r - $inner" | bc)"); marginals+=("$m")
    printf '%s\t%.2f\t%.2f\t%s\t%.0f\t%.2f\t%.2f\t%.0f\t%.2f\t%.2f\t%.2f\n' "$i" "$l" "$a" "$ra" "$(echo "($a - $l) * 1000 / ${#ADDRS[@]}" | bc -l)" "$l1" "$a1" "$m" "$r" "$inner" "$(echo "$r - $inner" | bc)"
done
python3 - "${loops[*]}" "${applies[*]}" "${rollbacks[*]}" "${rests[*]}" "${#ADDRS[@]}" "${marginals[*]}" <<'PY'
import statistics, sys
l, a, r, rest = ([float(x) for x in sys.argv[k].split()] for k in range(1, 5))
hosts = int(sys.argv[5]); marginal = [float(x) for x in sys.argv[6].split()]
ml, ma = statistics.median(l), statistics.median(a)
print(f"median ssh loop {ml:.2f}s, median apply {ma:.2f}s, ratio apply/loop {ma / ml:.2f}, "
      f"overhead per host {(ma - ml) * 1000 / hosts:.0f} ms (marginal, each further host: {statistics.median(marginal):.0f} ms); median rollback of one host {statistics.median(r):.2f}s, "
      f"of which beyond the restore and the restart {statistics.median(rest):.2f}s")
PY
