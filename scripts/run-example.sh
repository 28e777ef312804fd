#!/usr/bin/env bash
# The main job on the bundled example: import examples/tiny_llama.onnx,
# convert it to TOSA, compile it for the CPU, run it, and compare the logits
# with ONNX Runtime's (examples/expected_logits.npy).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${LORA_BUILD_DIR:-$ROOT/build}"
VENV="${LORA_VENV:-$HOME/.cache/lora-opt/venv}"
OUT="${LORA_EXAMPLE_OUT:-$BUILD_DIR/example-out}"
EX="$ROOT/examples"

echo "== lora-opt example: $EX/tiny_llama.onnx (Llama, 2 layers, exported by torch.onnx)"
echo "-- import + convert-onnx-to-tosa:"
"$BUILD_DIR/bin/lora-opt" "$EX/tiny_llama.onnx" --input-shape=input_ids:1x8 \
  --lora-onnx-to-tosa-pipeline --mlir-elide-resource-strings-if-larger=16 \
  -o "$OUT.tosa.mlir"
"$VENV/bin/python" - "$OUT.tosa.mlir" <<'PY'
import collections, re, sys
ops = collections.Counter(re.findall(r"= (?:\"?)((?:tosa|onnx|arith|tensor)\.[a-z_]+)", open(sys.argv[1]).read()))
print("   ops after conversion:", ", ".join(f"{k} x{v}" for k, v in ops.most_common()))
assert not any(k.startswith("onnx.") for k in ops), "onnx ops left after conversion"
PY
echo "-- compile for the CPU and run (lora-run):"
rm -rf "$OUT"
"$BUILD_DIR/bin/lora-run" "$EX/tiny_llama.onnx" --input-shape=input_ids:1x8 \
  --input input_ids="$EX/input_ids.npy" --output-dir="$OUT" --repeat=20
"$VENV/bin/python" - "$OUT/logits.npy" "$EX/expected_logits.npy" <<'PY'
import sys
import numpy as np
ours, ref = np.load(sys.argv[1]), np.load(sys.argv[2])
err = float(np.abs(ours - ref).max() / np.abs(ref).max())
print(f"-- logits {list(ours.shape)} vs ONNX Runtime: max relative error {err:.2e}")
sys.exit(0 if err <= 1e-5 else 1)
PY
