#!/usr/bin/env bash
# Where the time goes: one run of each side on the 50-host lab, with the CPU seconds spent on the client side
# (the command and its waited-for children, from /usr/bin/time) and on the hosts (user+sys of the children reaped
# by every lab sshd: the sessions and the commands they ran, from /proc/PID/stat cutime+cstime).
# Usage: bench/facts-cpu.sh [LABDIR] [SSH_PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
LAB=${1:-/var/tmp/stageproof-bench-lab}; PORT=${2:-2422}
SP=$PWD/src/Stageproof.Cli/bin/Release/net10.0/stageproof
dotnet build -c Release src/Stageproof.Cli >/dev/null
STATE="$LAB-state"; WORK=$(mktemp -d /var/tmp/stageproof-bench-cpu.XXXXXX)
cleanup() { "$SP" --state "$STATE" lab down --dir "$LAB" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM
if ss -ltn | grep -Eq "127\.0\.(10|20|30)\.[0-9]+:"; then echo "default lab addresses in use; refusing" >&2; exit 1; fi
"$SP" --state "$STATE" lab up --dir "$LAB" --app-hosts 50 --ssh-port "$PORT" >/dev/null
CONFIG="$LAB/stageproof.yaml"
python3 - "$CONFIG" "$LAB" > "$WORK/inventory.ini" <<'PY'
import sys, yaml, os
cfg = yaml.safe_load(open(sys.argv[1])); lab = os.path.abspath(sys.argv[2])
print("[prod]")
for name in cfg["environments"]["prod"]["hosts"]:
    h = cfg["hosts"][name]
    print(f"{name} ansible_host={h['address']} ansible_port={h['port']} ansible_user={h['user']} ansible_ssh_private_key_file={lab}/{h['identity']}")
print("[prod:vars]")
print(f"ansible_ssh_common_args='-o UserKnownHostsFile={lab}/keys/known_hosts -o StrictHostKeyChecking=yes'")
print("ansible_python_interpreter=/usr/bin/python3")
PY
printf -- '- hosts: prod\n  gather_facts: true\n  tasks:\n    - package_facts: { manager: apt }\n' > "$WORK/facts.yml"
export ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_CACHE_PLUGIN=memory ANSIBLE_PIPELINING=True ANSIBLE_RETRY_FILES_ENABLED=False \
       ANSIBLE_LOCAL_TEMP="$WORK/tmp" ANSIBLE_SSH_CONTROL_PATH_DIR="$WORK/cp"
TICK=$(getconf CLK_TCK)
host_cpu() {  # CPU seconds reaped by the lab's sshd daemons (prod app hosts only: 127.0.10.x)
    local total=0 p
    for p in $(pgrep -x sshd); do
        [[ "$(readlink /proc/$p/root 2>/dev/null)" == "$LAB"/hosts/prod-app-* ]] || continue
        [ "$(ps -o comm= -p "$(ps -o ppid= -p "$p" | tr -d ' ')")" = sshd ] && continue
        total=$((total + $(awk '{print $16 + $17}' /proc/$p/stat)))
    done
    echo "$total"
}
settle() {  # end Ansible's ControlPersist masters (ours, by their sockets) and wait until every host session has
            # exited, so that its CPU has been reaped into the sshd daemon's cutime/cstime
    local s p n i
    for s in "$WORK"/cp/*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit dummy >/dev/null 2>&1 || true; done
    for i in $(seq 1 100); do
        n=0
        for p in $(pgrep -x sshd); do
            [[ "$(readlink /proc/$p/root 2>/dev/null)" == "$LAB"/hosts/prod-app-* ]] || continue
            [ "$(ps -o comm= -p "$(ps -o ppid= -p "$p" | tr -d ' ')")" = sshd ] && n=$((n + 1))
        done
        [ $n -eq 0 ] && return 0; sleep 0.2
    done
    echo "warning: $n host sessions still open" >&2
}
measure() {  # NAME CMD...
    local h0 h1 out
    settle; h0=$(host_cpu)
    out=$( { /usr/bin/time -f '%e %U %S' "${@:2}" >"$WORK/$1.log" 2>"$WORK/$1.err"; } 2>&1; tail -1 "$WORK/$1.err")
    settle; h1=$(host_cpu)
    read -r e u s <<<"$out"
    printf '%s\twall %s s\tclient CPU %.2f s (user %s, sys %s)\thost-side CPU %.2f s\n' "$1" "$e" "$(echo "$u + $s" | bc)" "$u" "$s" "$(echo "scale=2; ($h1 - $h0) / $TICK" | bc)"
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
measure ansible ansible-playbook -i "$WORK/inventory.ini" -f 16 "$WORK/facts.yml"
sleep 1
measure stageproof "$SP" --config "$CONFIG" --state "$LAB/.stageproof" facts prod
measure ansible-2 ansible-playbook -i "$WORK/inventory.ini" -f 16 "$WORK/facts.yml"
sleep 1
measure stageproof-2 "$SP" --config "$CONFIG" --state "$LAB/.stageproof" facts prod
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
