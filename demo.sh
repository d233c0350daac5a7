#!/usr/bin/env bash
# One command on a fresh Debian/Ubuntu machine, as root: install what is missing, build, run `stageproof demo`
# on a lab in ./lab. `./demo.sh down` removes the lab again (mounts, processes, files).
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

bash scripts/install-prerequisites.sh
dotnet build -c Release src/Stageproof.Cli -v quiet -nologo
stageproof=(dotnet src/Stageproof.Cli/bin/Release/net10.0/stageproof.dll)

if [ "${1:-}" = "down" ]; then
  exec "${stageproof[@]}" lab down --dir lab
fi
exec "${stageproof[@]}" --state lab/.stageproof demo --dir lab "$@"
