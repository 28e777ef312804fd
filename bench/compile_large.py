"""lora-compile at scale: compile time, peak memory and artifact load time on
a Llama-shaped model with >= 4 GB of external fp16 weights (made by
bench/make_large_model.py, not committed).

    python bench/compile_large.py [--dir DIR] [--layers 10] [--opt-level 3]
                                  [--target cpu|cuda|cuda-emulated]
                                  [--mode infer|train] [--run]

Measures, each in its own process (peak RSS from wait4):
  1. `lora-compile model.onnx --lora-targets=q_proj,v_proj --lora-rank=16
     --lora-alpha=32 -o OUT` with its per-stage times (`--target=cuda`
     includes compiling every kernel to a cubin with ptxas; `--mode=train`
     the train step with a causal-LM loss and AdamW);
  2. loading OUT with the runtime (lora_opt.load: manifest, dlopen, mmap of
     weights.bin, initial adapter) and swapping the adapter (set_adapter);
  3. with --run, one forward pass on 1x16 tokens (touches every weight).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

from large_model import BUILD, DEFAULT_DIR, ensure_model, measure

VENV_PYTHON = Path(os.environ.get("LORA_VENV", Path.home() / ".cache/lora-opt/venv")) / "bin/python"


LOAD = """
import sys, time, numpy as np, lora_opt
out, run = sys.argv[1], sys.argv[2] == "1"
t = time.perf_counter(); m = lora_opt.load(out); load = time.perf_counter() - t
t = time.perf_counter(); m.set_adapter(out + "/adapter"); swap = time.perf_counter() - t
line = f"load {load:.4f} set_adapter {swap:.4f}"
if run:
    ids = np.arange(16, dtype=np.int64).reshape(1, 16)
    t = time.perf_counter(); y = m(input_ids=ids)["logits"]; first = time.perf_counter() - t
    t = time.perf_counter(); y = m(input_ids=ids)["logits"]; second = time.perf_counter() - t
    line += f" run1 {first:.3f} run2 {second:.3f}"
print(line)
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dir", default=DEFAULT_DIR)
    p.add_argument("--layers", type=int, default=10)
    p.add_argument("--opt-level", type=int, default=3)
    p.add_argument("--target", default="cpu", choices=["cpu", "cuda", "cuda-emulated"])
    p.add_argument("--mode", default="infer", choices=["infer", "train"])
    p.add_argument("--run", action="store_true")
    args = p.parse_args(argv)
    if args.run and args.mode == "train":
        p.error("--run runs the forward: not with --mode=train")
    model, weights = ensure_model(args.dir, args.layers)
    out = Path(args.dir) / "artifact"
    shutil.rmtree(out, ignore_errors=True)

    cmd = [str(BUILD / "bin/lora-compile"), str(model), "--input-shape=input_ids:1x16",
           "--lora-targets=q_proj,v_proj", "--lora-rank=16", "--lora-alpha=32",
           f"--opt-level={args.opt_level}", f"--target={args.target}",
           f"--mode={args.mode}", "-o", str(out)]
    if args.mode == "train":
        cmd.insert(-2, "--loss=causal-lm")
    rc, seconds, rss, _, err = measure(cmd)
    print(f"$ {' '.join(cmd)}")
    if rc != 0:
        print(err[-3000:])
        return 1
    for line in err.splitlines():
        if m := re.match(r"lora-compile: (.*) \.\.\. ([0-9.]+ s.*)", line):
            print(f"  {m.group(1):44} {m.group(2)}")
    print(f"lora-compile: {seconds:.1f} s wall, peak RSS {rss:.0f} MiB "
          f"({rss * 2**20 / weights:.3f} of the weights); "
          f"model.so {(out / 'model.so').stat().st_size / 2**20:.1f} MiB, "
          f"weights.bin {(out / 'weights.bin').stat().st_size / 2**30:.2f} GiB")

    if args.target == "cuda":
        print("runtime: not loaded (the cuda target's artifact needs a GPU)")
        return 0
    rc, seconds, rss, stdout, err = measure(
        [str(VENV_PYTHON), "-c", LOAD, str(out), "1" if args.run else "0"])
    if rc != 0:
        print(err[-3000:])
        return 1
    print(f"runtime (python lora_opt): {stdout.strip()} (seconds); process "
          f"{seconds:.2f} s wall, peak RSS {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
