#!/usr/bin/env bash
# One command on a fresh Debian/Ubuntu machine, as root: install what is missing, build, run `stageproof demo`
# on a lab in ./lab. `./demo.sh down` removes the lab again (mounts, processes, files).
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

bash scripts/install-prerequisites.sh
dotnet build -c Release src/Stageproof.Cli -v quiet -nologo
stageproof=(dotnet src/Stageproof.Cli/bin/Release/net10.0/stageproof.dll)

# Leave `stageproof` on the PATH, so every command the demo and the README print works as typed. Only a launcher of
# ours is ever replaced.
launcher=/usr/local/bin/stageproof
if [ -w "$(dirname "$launcher")" ] && { [ ! -e "$launcher" ] || grep -q 'stageproof-launcher' "$launcher"; }; then
  printf '#!/bin/sh\n# stageproof-launcher: written by demo.sh\nexec dotnet %q "$@"\n' "$PWD/src/Stageproof.Cli/bin/Release/net10.0/stageproof.dll" > "$launcher"
  chmod 755 "$launcher"
fi

if [ "${1:-}" = "down" ]; then
  exec "${stageproof[@]}" lab down --dir lab
fi
exec "${stageproof[@]}" --state lab/.stageproof demo --dir lab "$@"
