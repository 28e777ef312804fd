#!/usr/bin/env bash
# Nsight Compute on one of our kernels, for the device tool: run from the
# repository root with bench/gpu/artifacts carried, like run.sh:
#   bash bench/gpu/profile.sh [CASE [KERNEL]]
# (default: lora_4096x4096_r16's lora_down and lora_linear; KERNEL is an
# extended regex of kernel names). It runs run.py's correctness
# checks of CASE (--only-correctness: M = 128, 384, 2048, 1000 and the first
# M of each variant those miss, one launch of each kernel per M) under ncu,
# which profiles the launches of KERNEL and of its split variants
# (KERNEL_splitN: lora_down_split4 at M = 2048, lora_down_split2 at 3649,
# lora_down at 7361; lora_linear, the 128x256 tiles, at 2048, 3649 and
# 7361) with its clocks left alone, and writes the report to
# $OUT/ncu-CASE-KERNEL.txt (KERNEL's other characters as -)
# (bench/gpu/bench-gpu-out if OUT is unset). About a minute; ncu reads the
# hardware counters on the H200's Firecracker machines, not under gVisor.
set -u
cd "$(dirname "$0")/../.."
OUT="${OUT:-bench/gpu/bench-gpu-out}"
CASE="${1:-lora_4096x4096_r16}"
KERNEL="${2:-lora_down|lora_linear}"
mkdir -p "$OUT"
NCU="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)"
if [ -z "$NCU" ]; then
  echo "profile.sh: ncu not found (PATH, /opt/nvidia/nsight-compute/*/ncu)" >&2
  exit 2
fi
PY="${PYTHON:-python3}"
REPORT="$OUT/ncu-$CASE-$(printf %s "$KERNEL" | tr -c 'A-Za-z0-9_\n' '-').txt"
# The workers are child processes of run.py: --target-processes all.
"$NCU" --clock-control none --target-processes all \
  --kernel-name "regex:^(${KERNEL})(_split[0-9]+)?\$" --launch-count 9 \
  --section SpeedOfLight --section MemoryWorkloadAnalysis \
  --section LaunchStats --section Occupancy --section WarpStateStats \
  --section SchedulerStats \
  "$PY" bench/gpu/run.py --only-correctness --no-model --cases "$CASE" \
  --out "$OUT/profile" > "$REPORT" 2>&1
rc=$?
tail -n 200 "$REPORT"
exit "$rc"
