#!/usr/bin/env bash
# What one start of the demo service costs: the acme-mail binary of package A against package B's, started N times each,
# alternately, against one private PostgreSQL (127.0.98.1, its own port and socket directory, stopped at the end).
# Each is started from / as its init script starts it. Per start: seconds until the service writes its ready file, CPU
# seconds spent by then, after its first /health, and after 200 more /health requests one at a time, and 15 s later
# (the runtime's tiered compilation re-compiles hot methods in the background after such a burst: that CPU lands after
# the requests). Usage: bench/acme-mail-start.sh DEB_A DEB_B [N=5]
# (root: PostgreSQL runs as the postgres user). Example, the packages before and after ReadyToRun:
#   bench/acme-mail-start.sh /var/cache/stageproof/acme-mail-debs-8f994f652b76/acme-mail_1.1-1_amd64.deb \
#                            /var/cache/stageproof/acme-mail-debs-fa059406b089/acme-mail_1.1-1_amd64.deb 5
set -euo pipefail
A=${1:?usage: $0 DEB_A DEB_B [N]}
B=${2:?usage: $0 DEB_A DEB_B [N]}
N=${3:-5}
ADDR=127.0.98.1
PGPORT=5438
HTTPPORT=18088
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
WORK=$(mktemp -d /tmp/acme-mail-start.XXXXXX)
chmod 755 "$WORK"
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    [ -f "$WORK/pg/postmaster.pid" ] && su postgres -c "$PGBIN/pg_ctl -D '$WORK/pg' -m fast stop" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

for side in a b; do
    deb=$A; [ "$side" = b ] && deb=$B
    dpkg-deb -x "$deb" "$WORK/$side"
done
install -d -o postgres "$WORK/pg" "$WORK/run"
su postgres -c "$PGBIN/initdb -D '$WORK/pg' -A trust -U postgres" >/dev/null
su postgres -c "$PGBIN/pg_ctl -D '$WORK/pg' -o '-h $ADDR -p $PGPORT -k $WORK/run' -l '$WORK/run/pg.log' -w start" >/dev/null
psql -q -h "$ADDR" -p "$PGPORT" -U postgres -c "CREATE ROLE acme LOGIN SUPERUSER" -c "CREATE DATABASE mail OWNER acme"
printf 'db.connection = Host=%s;Port=%s;Database=mail;Username=acme\nlisten.address = %s\nlisten.port = %s\n' "$ADDR" "$PGPORT" "$ADDR" "$HTTPPORT" >"$WORK/host.conf"

cpu() { awk '{ print ($14 + $15) / 100 }' "/proc/$1/stat"; }

# Starts side $1's binary, waits for ready (at most 60 s), measures; prints one tab-separated line.
start_once() {
    local side=$1 root=$WORK/$1 ready=$WORK/ready t0 t1 at_ready first after
    rm -f "$ready"
    t0=$(date +%s.%N)
    # From /, as its init script starts it (service(8) changes to / first), the same process (exec).
    (cd / && ACME_MAIL_DEFAULTS=$root/usr/share/acme-mail/defaults.conf ACME_MAIL_CONF=$WORK/host.conf ACME_MAIL_HOST_CONF=$WORK/none.conf \
    ACME_MAIL_MIGRATIONS=$root/usr/share/acme-mail/migrations ACME_MAIL_FAULTS=$WORK/none.faults ACME_MAIL_LOG=$WORK/$side.log \
    ACME_MAIL_READY_FILE=$ready exec "$root/usr/lib/acme-mail/acme-mail") >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 3000); do [ -e "$ready" ] && break; sleep 0.02; done
    [ -e "$ready" ] || { echo "$side: not ready after 60 s; see $WORK/$side.log" >&2; exit 1; }
    t1=$(date +%s.%N)
    at_ready=$(cpu "$pid")
    curl -sf -o /dev/null --max-time 10 "http://$ADDR:$HTTPPORT/health"
    first=$(cpu "$pid")
    for _ in $(seq 200); do curl -sf -o /dev/null --max-time 10 "http://$ADDR:$HTTPPORT/health"; done
    after=$(cpu "$pid")
    sleep 15
    settled=$(cpu "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    printf '%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\n' "$run" "$side" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" "$at_ready" "$first" "$after" "$settled"
}

echo "A: $A"
echo "B: $B"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME")"
printf 'run\tside\tready_s\tcpu_at_ready_s\tcpu_after_first_request_s\tcpu_after_200_more_s\tcpu_15s_later_s\n'
run=0
start_once a >/dev/null # the first start migrates the empty database: not a restart, not measured
for run in $(seq 1 "$N"); do
    start_once a
    start_once b
done
