"""Peak memory and time of the compiled CPU train step against the compiled
forward alone, on a transformers Llama export (random weights), side by
side in one run.

    python bench/train_memory.py [--batch 4] [--seq 64] [--repeat 10]

Both artifacts come from the same ONNX file with LoRA on q_proj and v_proj
(rank 8), and PyTorch eager with PEFT on the same model is measured the same
way as the yardstick: `lora-compile` for the forward, `lora-compile --mode=train
--loss=causal-lm` (AdamW) for the train step, and the same with
`--lora-dropout` (default 0.1). Each is measured in a fresh
process: how much the first call after loading raises the peak resident
set size (VmHWM: what the call's buffers add on top of the loaded model), and the median time of `--repeat` calls after it. The train step also keeps
the forward's activations that its backward reads; the ratio says what
that costs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("LORA_BUILD_DIR", ROOT / "build"))
sys.path.insert(0, str(ROOT / "test" / "python"))

# The end of both scripts below, which run in a fresh interpreter and define
# `call` and `repeat`: how much the first call raises the peak RSS (VmHWM:
# what its buffers add on top of the loaded model), then the median time of
# `repeat` more calls.
_MEASURE_CALL = r"""
def peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
before = peak_kib()
call()
after = peak_kib()
times = []
for _ in range(repeat):
    start = time.perf_counter()
    call()
    times.append(time.perf_counter() - start)
print(json.dumps({"loaded_kib": before, "peak_kib": after,
                  "call_kib": after - before,
                  "median_ms": 1e3 * sorted(times)[len(times) // 2]}))
"""

# Our artifact's forward or train step.
_MEASURE = r"""
import json, sys, time
import numpy as np
import lora_opt
artifact, batch_path, mode, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
batch = dict(np.load(batch_path))
model = lora_opt.load(artifact)
if mode == "train":
    call = lambda: model.train_step(**batch, lr=1e-3)
else:
    batch.pop("labels")
    call = lambda: model(**batch)
"""


# The same measurement of PyTorch eager on the same model (transformers Llama,
# same config and seed, PEFT LoRA on q_proj and v_proj, rank 8): the forward
# under no_grad, and forward + causal-LM loss + backward + AdamW step. Its
# ratio is the yardstick for ours: what autograd keeps for the backward.
_TORCH_MEASURE = r"""
import json, sys, time
import numpy as np
import torch
sys.path.insert(0, sys.argv[4])
import onnx_models
from peft import LoraConfig, get_peft_model
torch.set_num_threads(1)
batch_path, mode, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
batch = {k: torch.from_numpy(v) for k, v in np.load(batch_path).items()}
labels = batch.pop("labels")
model = onnx_models.build_model("llama", attn_implementation="eager")
model = get_peft_model(model, LoraConfig(r=8, lora_alpha=8,
                                         target_modules=["q_proj", "v_proj"]))
if mode == "train":
    model.train()
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-3)
    def call():
        loss = model(**batch, labels=labels, use_cache=False).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
else:
    def call():
        with torch.no_grad():
            model(**batch, use_cache=False)
"""


def measure_torch(batch: Path, mode: str, repeat: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _TORCH_MEASURE + _MEASURE_CALL,
                          str(batch), mode, str(repeat),
                          str(ROOT / "test" / "python")],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(artifact: Path, batch: Path, mode: str, repeat: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEASURE + _MEASURE_CALL,
                          str(artifact), str(batch), mode, str(repeat)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--dropout", type=float, default=0.1,
                        help="LoRA dropout of the third artifact")
    args = parser.parse_args()

    import numpy as np
    import onnx_models

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "llama.onnx"
        onnx_models.export_model("llama", "dynamo", str(model),
                                 batch=args.batch, seq=args.seq)
        inputs = onnx_models.make_inputs("llama", batch=args.batch,
                                         seq=args.seq, path=str(model))
        labels = np.random.default_rng(0).integers(
            0, onnx_models.VOCAB, size=inputs["input_ids"].shape)
        batch = tmp / "batch.npz"
        np.savez(batch, labels=labels, **inputs)
        lora = ["--lora-targets=q_proj,v_proj", "--lora-rank=8", "--quiet"]
        forward, train = tmp / "forward", tmp / "train"
        dropout = tmp / "train_dropout"
        lora_compile = str(BUILD / "bin" / "lora-compile")
        subprocess.run([lora_compile, str(model), *lora, "-o", str(forward)],
                       check=True)
        subprocess.run([lora_compile, str(model), *lora, "--mode=train",
                        "--loss=causal-lm", "-o", str(train)], check=True)
        subprocess.run([lora_compile, str(model), *lora, "--mode=train",
                        "--loss=causal-lm", f"--lora-dropout={args.dropout}",
                        "-o", str(dropout)], check=True)
        results = {"forward": measure(forward, batch, "forward", args.repeat),
                   "train_step": measure(train, batch, "train", args.repeat),
                   "+dropout": measure(dropout, batch, "train", args.repeat)}
        torch_results = {"forward": measure_torch(batch, "forward", args.repeat),
                         "train_step": measure_torch(batch, "train", args.repeat)}

    f, t = results["forward"], results["train_step"]
    print(f"Llama export (tiny config), batch {args.batch} x seq {args.seq}, "
          "LoRA q_proj,v_proj r=8, CPU, one thread")
    print(f"{'':12} {'call peak (MiB)':>16} {'loaded (MiB)':>13} "
          f"{'median (ms)':>12}")
    for name, r in results.items():
        print(f"{name:12} {r['call_kib'] / 1024:16.2f} "
              f"{r['loaded_kib'] / 1024:13.1f} {r['median_ms']:12.2f}")
    ratio = t["call_kib"] / max(f["call_kib"], 1)
    print(f"train step / forward: {ratio:.2f}x call peak, "
          f"{t['median_ms'] / f['median_ms']:.2f}x time")
    tf, tt = torch_results["forward"], torch_results["train_step"]
    print("PyTorch eager + PEFT, same model and batch (dropout 0), one thread:")
    for name, r in torch_results.items():
        print(f"{name:12} {r['call_kib'] / 1024:16.2f} "
              f"{r['loaded_kib'] / 1024:13.1f} {r['median_ms']:12.2f}")
    print(f"PyTorch train step / forward: "
          f"{tt['call_kib'] / max(tf['call_kib'], 1):.2f}x call peak, "
          f"{tt['median_ms'] / tf['median_ms']:.2f}x time")
    print(f"ours / PyTorch: forward {f['call_kib'] / max(tf['call_kib'], 1):.2f}x, "
          f"train step {t['call_kib'] / max(tt['call_kib'], 1):.2f}x call peak; "
          f"time {f['median_ms'] / tf['median_ms']:.2f}x, "
          f"{t['median_ms'] / tt['median_ms']:.2f}x")
    d = results["+dropout"]
    print(f"train step with LoRA dropout {args.dropout} / without: "
          f"{d['call_kib'] / max(t['call_kib'], 1):.2f}x call peak, "
          f"{d['median_ms'] / t['median_ms']:.2f}x time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
