#!/usr/bin/env bash
# Repeats, from a `dotnet test` console log (verbosity normal), every failed test with its message and the first lines
# of its stack trace, and any aborted test run: printed last, where a CI log cut to its end still shows them.
set -euo pipefail
log="${1:?usage: ci-failures.sh LOG}"
awk '
  /^  Failed / { block = 1; stack = 0; lines = 0; print ""; print; next }
  /^  (Passed|Skipped) / || /^\[xUnit/ || /^  Standard (Output|Error) Messages:/ { block = 0 }
  block {
    if (/^  Stack Trace:/) stack = 1
    else if (stack) stack++
    if (stack <= 4 && ++lines <= 40) print
  }
  /test run was aborted|Test host process crashed|Test Run Aborted/ { print ""; print }
' "$log"
