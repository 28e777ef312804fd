#!/usr/bin/env bash
# The main job on the bundled example: import examples/tiny_llama.onnx,
# convert it to TOSA, compile it for the CPU, run it, and compare the logits
# with ONNX Runtime's (examples/expected_logits.npy); then compile it with
# LoRA on q_proj/v_proj into a deployable folder (lora-compile), run that
# with lora-run and from Python, and swap an adapter in without recompiling.
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
echo "-- lora-compile with LoRA (q_proj, v_proj; r=8, alpha=16) to $OUT.artifact:"
"$BUILD_DIR/bin/lora-compile" "$EX/tiny_llama.onnx" --input-shape=input_ids:1x8 \
  --lora-targets=q_proj,v_proj --lora-rank=8 --lora-alpha=16 -o "$OUT.artifact"
ls -l "$OUT.artifact" | sed 's/^/   /'
echo "-- lora-run on the artifact (B starts at zero: the base model's logits):"
"$BUILD_DIR/bin/lora-run" "$OUT.artifact" --input input_ids="$EX/input_ids.npy" \
  --output-dir="$OUT.artifact-run" --repeat=20
echo "-- the same from Python, then a changed adapter swapped in (no recompile):"
"$VENV/bin/python" - "$OUT.artifact" "$EX" <<'PY'
import shutil, sys, tempfile
import numpy as np
import lora_opt
out, ex = sys.argv[1], sys.argv[2]
ref = np.load(f"{ex}/expected_logits.npy")
m = lora_opt.load(out)
y = m(input_ids=np.load(f"{ex}/input_ids.npy"))["logits"]
err = float(np.abs(y - ref).max() / np.abs(ref).max())
print(f"   lora_opt: {len(m.lora_modules)} LoRA modules, logits vs ONNX Runtime {err:.2e}")
assert err <= 1e-5
# A PEFT adapter with B != 0: out/adapter with its lora_B scaled up.
from safetensors.numpy import load_file, save_file
d = tempfile.mkdtemp()
shutil.copy(f"{out}/adapter/adapter_config.json", d)
t = load_file(f"{out}/adapter/adapter_model.safetensors")
t = {k: (v + 0.05 if "lora_B" in k else v) for k, v in t.items()}
save_file(t, f"{d}/adapter_model.safetensors", metadata={"format": "pt"})
m.set_adapter(d)
y2 = m(input_ids=np.load(f"{ex}/input_ids.npy"))["logits"]
print(f"   after set_adapter: logits moved by {float(np.abs(y2 - y).max()):.3f}")
m.set_adapter(f"{out}/adapter")
assert np.array_equal(m(input_ids=np.load(f"{ex}/input_ids.npy"))["logits"], y)
print("   swapped back: the first logits again, bit for bit")
PY
