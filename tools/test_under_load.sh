#!/usr/bin/env bash
# Run the whole test suite RUNS times in a row with BUSY busy processes beside it,
# the way a flaky test shows itself: on a loaded machine.  Stops at the first
# failing run.  Every busy process ends with this script (and after 3 hours at
# the latest), whatever happens.
#   tools/test_under_load.sh [RUNS] [BUSY]     (defaults: 5 runs, 2 busy processes)
#   make test-under-load RUNS=5 BUSY=2
# Extra pytest options: PYTEST_ARGS="-m 'not slow'" tools/test_under_load.sh 3
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
busy=${2:-2}
py=${PY:-.venv/bin/python}
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done; }
trap cleanup EXIT INT TERM
case $py in /*) exe=$py ;; *) exe=$PWD/$py ;; esac
# The kit's processes started with this venv's python (servers, clients, delay stages), sorted for comm.
kit_processes() { pgrep -af "^$exe -m lab" | sort || true; }
for _ in $(seq "$busy"); do
  timeout 10800 sh -c 'while :; do :; done' &
  pids+=($!)
done
for run in $(seq "$runs"); do
  echo "== run $run of $runs, with $busy busy processes beside it"
  started=$(date +%s)
  before=$(kit_processes)
  # shellcheck disable=SC2086
  if ! eval "$py -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-}"; then
    echo "== run $run FAILED after $(( $(date +%s) - started )) s: a test that fails only under load is a bug"
    exit 1
  fi
  # A run that passes but leaves a server, client or delay stage of this kit running is not clean.
  left=$(comm -13 <(echo "$before") <(kit_processes))
  if [ -n "$left" ]; then
    echo "== run $run passed but left these processes running:"
    echo "$left"
    exit 1
  fi
  echo "== run $run passed in $(( $(date +%s) - started )) s"
done
echo "== all $runs runs passed under load"
