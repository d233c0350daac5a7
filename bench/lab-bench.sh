# What the lab benchmarks share (sourced, not run): set LAB, OCTET and PORT first, then `bench_lab_up [APP_HOSTS]`
# builds the CLI in Release, prints the machine, brings a lab of the benchmark's own up and takes it down on exit.
# `freeze_lifetime V` freezes a set that edits session.lifetime to V and restarts acme-mail, with "${S[@]}" (the
# benchmark's stageproof command line), and prints its digest. `freeze_good_update` freezes the lab's good update
# (acme-mail 1.1 and its restart) as $OUT/acme-mail-1.1.yaml and prints its digest.
# STAGEPROOF_BENCH_CLI=PATH measures another build of the CLI, e.g. one published ReadyToRun:
# dotnet publish src/Stageproof.Cli -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true -o /tmp/sp-r2r
SP=${STAGEPROOF_BENCH_CLI:-src/Stageproof.Cli/bin/Release/net10.0/stageproof}
OUT="$LAB-results"

bench_lab_up() {
    dotnet build -c Release src/Stageproof.Cli >/dev/null
    mkdir -p "$OUT"
    trap '"$SP" --state "$LAB-state" lab down --dir "$LAB" >/dev/null 2>&1 || true' EXIT INT TERM
    echo "machine: nproc=$(nproc); $(lscpu | grep 'Model name' | sed 's/  */ /g'); $(grep MemTotal /proc/meminfo | sed 's/  */ /g')"
    "$SP" --state "$LAB-state" lab up --dir "$LAB" --address-octet "$OCTET" --ssh-port "$PORT" ${1:+--app-hosts "$1"} >/dev/null 2>&1
}

freeze_lifetime() {
    cat > "$OUT/set-$1.yaml" <<YAML
id: BENCH-$1
title: session lifetime $1
reason: benchmark
severity: low
author: bench
files:
  - { path: /etc/acme-mail/acme-mail.conf, set: { session.lifetime: "$1" } }
commands:
  post: [{ run: "service acme-mail restart", timeout: 60 }]
YAML
    "${S[@]}" patch freeze "$OUT/set-$1.yaml" 2>/dev/null
}

freeze_good_update() {
    cat > "$OUT/acme-mail-1.1.yaml" <<'YAML'
id: ACME-2026-11-01
title: acme-mail 1.1 security update
reason: the mailbox endpoint answers for another user's token
severity: critical
author: bench
packages:
  - { name: acme-mail, version: "1.1-1" }
commands:
  post: [{ run: "service acme-mail restart", timeout: 60 }]
YAML
    "${S[@]}" patch freeze "$OUT/acme-mail-1.1.yaml" 2>/dev/null
}
