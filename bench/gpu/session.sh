#!/usr/bin/env bash
# One device-tool call for a GPU session: the Nsight Compute profile of
# lora_down and lora_linear (profile.sh, skipped where ncu is missing), then
# the whole benchmark (run.sh) within BUDGET_S seconds of timing jobs, then
# the worker logs packed into one archive (the device tool returns at most 8
# files). From the repository root, with bench/gpu/artifacts carried:
#   bash bench/gpu/session.sh [run.py options]
# e.g. command "bash bench/gpu/session.sh", carry ["bench/gpu/artifacts"],
# timeout_s 540. PROFILE=0 skips the profile; BUDGET_S (default 240) is
# run.py's --budget-s.
set -u
cd "$(dirname "$0")/../.."
OUT="${OUT:-bench/gpu/bench-gpu-out}"
export OUT
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ "${PROFILE:-1}" != 0 ]; then
  timeout 120 bash bench/gpu/profile.sh > "$OUT/profile.log" 2>&1
  echo "profile.sh: exit $? (report: $OUT/ncu-*.txt, log: $OUT/profile.log)"
fi
timeout 400 bash bench/gpu/run.sh --budget-s "${BUDGET_S:-240}" "$@"
rc=$?
if [ -d "$OUT/work" ]; then
  tar czf "$OUT/work.tgz" -C "$OUT" work && rm -rf "$OUT/work"
fi
exit "$rc"
