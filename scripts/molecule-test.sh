#!/usr/bin/env bash
# Runs `molecule test` for one scenario, keeping its whole output in .cache/molecule-logs/ and,
# when it fails, printing what failed again at the very end: CI shows only the tail of a run, and
# after the verifier Molecule still prints the destroy step, which would push pytest's summary and
# the failed Ansible task out of sight.
# Usage: scripts/molecule-test.sh <scenario>   (PYOPS_DISTRO etc. from the environment)
set -uo pipefail
scenario=${1:?usage: $0 <scenario>}
cd "$(dirname "$0")/.." || exit 1
mkdir -p .cache/molecule-logs
name=${scenario}-${PYOPS_DISTRO:-debian12}
log=.cache/molecule-logs/$name.log
junit=$PWD/.cache/molecule-logs/$name.xml
rm -f "$junit"

# Stamps each Molecule step banner ("default ➜ converge: Executing") with the seconds since the
# start, so the log says where a scenario's time goes (summed per step into timings.tsv below).
stamp_steps() {
  local line
  while IFS= read -r line; do
    case $line in
      *"➜"*) printf '%s [+%ss]\n' "$line" "$SECONDS" ;;
      *) printf '%s\n' "$line" ;;
    esac
  done
}

# The verifier's pytest inherits PYTEST_ADDOPTS: its results also go to a JUnit file, read below.
SECONDS=0
PYTEST_ADDOPTS="${PYTEST_ADDOPTS:-} --junitxml=$junit" molecule test -s "$scenario" 2>&1 | stamp_steps | tee "$log"
status=${PIPESTATUS[0]}
# One line per run: scenario, distro, status, total seconds, then each step and its seconds.
steps=$(sed -E 's/\x1b\[[0-9;]*m//g' "$log" | sed -nE 's/.* ➜ ([a-z_]+): Executing.*\[\+([0-9]+)s\]$/\1 \2/p' |
  awk -v end="$SECONDS" 'NR > 1 { printf "%s=%d ", name, $2 - t } { name = $1; t = $2 } END { if (NR) printf "%s=%d", name, end - t }')
printf '%s\t%s\t%s\t%ss\t%s\n' "$scenario" "${PYOPS_DISTRO:-debian12}" "$status" "$SECONDS" "$steps" |
  tee -a .cache/molecule-logs/timings.tsv
if [ "$status" -ne 0 ]; then
  # CI shows about the last 20 lines: keep this short, the failed tests last.
  echo "=== molecule test -s $scenario (${PYOPS_DISTRO:-debian12}) failed ($status); full log: $log"
  # A failed Ansible task (converge, idempotence, a prepare step): Molecule prefixes and colours lines.
  sed -E 's/\x1b\[[0-9;]*m//g; s/^ *│ ?//' "$log" | grep -E '^(fatal|failed): ' | cut -c1-300 | tail -n 3
  if [ -f "$junit" ]; then
    python3 - "$junit" <<'PY'
import sys
import xml.etree.ElementTree as ET

failed = []
for case in ET.parse(sys.argv[1]).iter("testcase"):
    for bad in list(case.findall("failure")) + list(case.findall("error")):
        message = " ".join((bad.get("message") or bad.text or "").split())
        failed.append(f"FAILED {case.get('name')}: {message[:300]}")
print("\n".join(failed[:8]))
if len(failed) > 8:
    print(f"... {len(failed)} failed tests in all")
PY
  fi
fi
exit "$status"
