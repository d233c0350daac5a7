#!/usr/bin/env bash
# `stageproof facts prod` vs Ansible (setup + package_facts) over SSH on a lab with 50 prod app hosts, same
# parallelism on both sides (ssh.parallelism 16 <-> forks 16), 3 runs each, alternating, and the SSH floor beside
# them: 50 bare `ssh HOST true` (OpenSSH, same keys, same sshd, 16 at a time). Then both with their connections held:
# Ansible run again at once (its ControlPersist masters still open) and `stageproof --server URL facts prod` through a
# `stageproof serve` on 127.0.0.1 that keeps each host's connection (ssh.keep_open) from a first, untimed collection.
# Prints every run, the medians, the ratios ansible/stageproof (cold and warm) and stageproof/floor.
# Usage: bench/facts-vs-ansible.sh [LABDIR] [SSH_PORT] [RUNS] [SERVER_PORT]     (root; Debian's ansible installed)
set -euo pipefail
cd "$(dirname "$0")/.."
LAB=${1:-/var/tmp/stageproof-bench-lab}
PORT=${2:-2422}
RUNS=${3:-3}
SERVER_PORT=${4:-8471}
FORKS=16
SP=$PWD/src/Stageproof.Cli/bin/Release/net10.0/stageproof
dotnet build -c Release src/Stageproof.Cli >/dev/null
STATE="$LAB-state"
WORK=$(mktemp -d /var/tmp/stageproof-bench-ansible.XXXXXX)

SERVER_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    "$SP" --state "$STATE" lab down --dir "$LAB" >/dev/null 2>&1 || true; rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if ss -ltn | grep -Eq "127\.0\.(10|20|30)\.[0-9]+:"; then
    echo "something listens on 127.0.10/20/30.x (the default lab addresses: another lab?); refusing" >&2; exit 1
fi
echo "machine: nproc=$(nproc); $(lscpu | grep 'Model name' | sed 's/  */ /g'); $(grep MemTotal /proc/meminfo | sed 's/  */ /g'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(ansible --version | head -1); $("$SP" --version 2>/dev/null | head -1)"

"$SP" --state "$STATE" lab down --dir "$LAB" >/dev/null 2>&1 || true
"$SP" --state "$STATE" lab up --dir "$LAB" --app-hosts 50 --ssh-port "$PORT" | tail -1
CONFIG="$LAB/stageproof.yaml"
grep -q '^  parallelism: 16$' "$CONFIG" || { echo "expected ssh.parallelism 16 in $CONFIG" >&2; exit 1; }

# Ansible inventory of the prod environment, from the lab's stageproof.yaml.
python3 - "$CONFIG" "$LAB" > "$WORK/inventory.ini" <<'PY'
import sys, yaml, os
cfg = yaml.safe_load(open(sys.argv[1])); lab = os.path.abspath(sys.argv[2])
print("[prod]")
for name in cfg["environments"]["prod"]["hosts"]:
    h = cfg["hosts"][name]
    print(f"{name} ansible_host={h['address']} ansible_port={h['port']} ansible_user={h['user']} "
          f"ansible_ssh_private_key_file={lab}/{h['identity']}")
print("[prod:vars]")
print(f"ansible_ssh_common_args='-o UserKnownHostsFile={lab}/keys/known_hosts -o StrictHostKeyChecking=yes'")
print("ansible_python_interpreter=/usr/bin/python3")
PY
echo "inventory: $(grep -c ansible_host "$WORK/inventory.ini") prod hosts"
grep -o 'ansible_host=[0-9.]*' "$WORK/inventory.ini" | cut -d= -f2 > "$WORK/addresses"
cat > "$WORK/facts.yml" <<'YML'
- hosts: prod
  gather_facts: true
  tasks:
    - name: packages
      package_facts:
        manager: apt
YML

# Ansible settings: strict host key checking (as Stageproof), no fact cache (memory = per run), default
# ControlPersist=60s (connections reused within one run, gone before the next: each run starts cold, like
# Stageproof), pipelining on (fewer round trips), no retry files, quiet output.
export ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_CACHE_PLUGIN=memory ANSIBLE_GATHERING=implicit ANSIBLE_PIPELINING=True \
       ANSIBLE_RETRY_FILES_ENABLED=False ANSIBLE_FORKS=$FORKS ANSIBLE_LOCAL_TEMP="$WORK/tmp" \
       ANSIBLE_SSH_CONTROL_PATH_DIR="$WORK/cp" ANSIBLE_DEPRECATION_WARNINGS=False

SSH_CMD="ansible-playbook -i $WORK/inventory.ini -f $FORKS $WORK/facts.yml"
SP_CMD="$SP --config $CONFIG --state $LAB/.stageproof facts prod"

# The server: the lab's configuration with ssh.keep_open 600 (in the lab's directory: its key paths are relative),
# the same state, an admin's token.
sed 's/^  parallelism: 16$/  parallelism: 16\n  keep_open: 600/' "$CONFIG" > "$LAB/server.yaml"
grep -q '^  keep_open: 600$' "$LAB/server.yaml" || { echo "could not set ssh.keep_open in $LAB/server.yaml" >&2; exit 1; }
"$SP" --config "$LAB/server.yaml" --state "$LAB/.stageproof" user add "$(id -un)" --role admin >/dev/null 2>&1 || true
"$SP" --config "$LAB/server.yaml" --state "$LAB/.stageproof" token create "$(id -un)" -o "$WORK/token" >/dev/null
"$SP" --config "$LAB/server.yaml" --state "$LAB/.stageproof" serve --urls "http://127.0.0.1:$SERVER_PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$SERVER_PORT/healthz" >/dev/null && break; sleep 0.2; done
curl -fs "http://127.0.0.1:$SERVER_PORT/healthz" >/dev/null || { echo "the server did not start:" >&2; tail -20 "$WORK/server.log" >&2; exit 1; }
SERVER_CMD="$SP --server http://127.0.0.1:$SERVER_PORT --token-file $WORK/token facts prod"
$SERVER_CMD >/dev/null 2>&1 || { echo "the first collection through the server failed" >&2; exit 1; }  # opens the connections it keeps
FLOOR_CMD="xargs -P $FORKS -I{} ssh -i $LAB/keys/lab_ed25519 -o UserKnownHostsFile=$LAB/keys/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -p $PORT root@{} true"
echo "ansible:    $SSH_CMD"
echo "stageproof: $SP_CMD"
echo "ssh floor:  $FLOOR_CMD < addresses (50 lines)"
echo "server:     $SERVER_CMD   (warm: connections kept since an untimed first run)"
echo "ansible warm: the same playbook again at once, its ControlPersist masters (60 s) still open"

timed() {  # timed NAME LOG CMD... -> prints seconds; fails if the command fails
    local t0 t1 rc=0; t0=$(date +%s.%N)
    "${@:3}" >"$2" 2>&1 || rc=$?
    t1=$(date +%s.%N)
    [ $rc -eq 0 ] || { echo "$1 failed (exit $rc), see:" >&2; tail -20 "$2" >&2; return 1; }
    printf '%.2f' "$(echo "$t1 - $t0" | bc)"
}

floor() { $FLOOR_CMD < "$WORK/addresses"; }
a=(); s=(); f=(); aw=(); sw=()
echo -e "run\tansible s\tstageproof s\tssh floor s\tansible warm s\tserver warm s"
for i in $(seq 1 "$RUNS"); do
    rm -rf "$WORK/cp"; sleep 1
    ta=$(timed ansible "$WORK/ansible-$i.log" $SSH_CMD)
    taw=$(timed "ansible warm" "$WORK/ansible-warm-$i.log" $SSH_CMD)
    sleep 1
    ts=$(timed stageproof "$WORK/stageproof-$i.log" $SP_CMD)
    sleep 1
    tsw=$(timed server "$WORK/server-$i.log" $SERVER_CMD)
    sleep 1
    tf=$(timed floor "$WORK/floor-$i.log" floor)
    a+=("$ta"); s+=("$ts"); f+=("$tf"); aw+=("$taw"); sw+=("$tsw")
    echo -e "$i\t$ta\t$ts\t$tf\t$taw\t$tsw\t(ansible recap: $(grep -o 'ok=[0-9]* *changed=[0-9]* *unreachable=[0-9]* *failed=[0-9]*' "$WORK/ansible-$i.log" | sort | uniq -c | tr -s ' ' | tr '\n' ';'))"
done
grep -q 'packages' "$WORK/server-1.log" || { echo "the server's collection printed no table:" >&2; cat "$WORK/server-1.log" >&2; exit 1; }
echo "server: $(curl -fs -H "Authorization: Bearer $(cat "$WORK/token")" "http://127.0.0.1:$SERVER_PORT/metrics" | grep -E '^stageproof_ssh_connections' | tr '\n' ' ')"
cp "$WORK/ansible-1.log" /tmp/bench-ansible-1.log; cp "$WORK/stageproof-1.log" /tmp/bench-stageproof-1.log
med() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
ma=$(med "${a[@]}"); ms=$(med "${s[@]}"); mf=$(med "${f[@]}"); maw=$(med "${aw[@]}"); msw=$(med "${sw[@]}")
echo -e "median\t$ma\t$ms\t$mf\t$maw\t$msw"
echo "ratio ansible/stageproof (medians): $(echo "scale=2; $ma / $ms" | bc); ratio stageproof/ssh floor: $(echo "scale=2; $ms / $mf" | bc)"
echo "warm: ratio ansible warm/server warm: $(echo "scale=2; $maw / $msw" | bc); ansible (cold)/server warm: $(echo "scale=2; $ma / $msw" | bc); server warm/ssh floor: $(echo "scale=2; $msw / $mf" | bc)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
