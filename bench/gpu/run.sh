#!/usr/bin/env bash
# The GPU half of the benchmark, for the device tool: run from the repository
# root with bench/gpu/artifacts carried (made here by bench/gpu/prepare.py):
#   bash bench/gpu/run.sh [run.py options, e.g. --quick]
# Results go to $OUT (the device tool's output folder; bench/gpu/bench-gpu-out if unset).
# With bench/gpu/artifacts/model (prepare.py's model step) the whole-model check
# runs first; it needs numpy (the copied lora_opt package imports it), and the
# bf16 model ml_dtypes.
set -u
cd "$(dirname "$0")/../.."
OUT="${OUT:-bench/gpu/bench-gpu-out}"
mkdir -p "$OUT"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3 python; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import torch' 2>/dev/null; then
      PY="$cand"; break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "run.sh: no python with torch found (set PYTHON=...)" >&2
  exit 2
fi
if [ ! -f bench/gpu/artifacts/kernels.json ]; then
  echo "run.sh: bench/gpu/artifacts/kernels.json is missing: run bench/gpu/prepare.py" \
       "on the build machine and carry bench/gpu/artifacts" >&2
  exit 2
fi
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv > "$OUT/nvidia-smi.txt" 2>&1
"$PY" bench/gpu/run.py --out "$OUT" "$@" 2>&1 | tee "$OUT/run.log"
exit "${PIPESTATUS[0]}"
