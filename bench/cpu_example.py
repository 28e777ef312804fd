"""CPU run time of the bundled example (and optionally other models), ours
vs ONNX Runtime, measured side by side in one run on this machine.

    python bench/cpu_example.py [--repeat 200] [MODEL.onnx INPUT=FILE.npy ...]

Both sides run single-threaded (ORT intra_op_num_threads=1; our compiled
code has no threading yet) on the same inputs; medians over `--repeat` runs
after warm-up. Ratio = ours / ORT (lower is better).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("LORA_BUILD_DIR", ROOT / "build"))


def ours(model, inputs, repeat, opt_level=3):
    shapes = ",".join(f"{k}:{'x'.join(map(str, np.load(v).shape))}" for k, v in inputs.items())
    cmd = [str(BUILD / "bin/lora-run"), str(model), f"--input-shape={shapes}",
           f"--repeat={repeat}", f"--opt-level={opt_level}"] + [f"--input={k}={v}" for k, v in inputs.items()]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return float(re.search(r"median ([0-9.]+) ms", out).group(1))


def onnxruntime_ms(model, inputs, repeat, threads):
    m = onnx.load(str(model))
    m.ir_version = min(m.ir_version, 10)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feeds = {k: np.load(v) for k, v in inputs.items()}
    for _ in range(10):
        sess.run(None, feeds)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeat", type=int, default=200)
    p.add_argument("model", nargs="?", default=str(ROOT / "examples/tiny_llama.onnx"))
    p.add_argument("inputs", nargs="*", default=[f"input_ids={ROOT / 'examples/input_ids.npy'}"])
    args = p.parse_args(argv)
    inputs = dict(kv.split("=", 1) for kv in args.inputs)
    a = ours(args.model, inputs, args.repeat)
    b = onnxruntime_ms(args.model, inputs, args.repeat, threads=1)
    print(f"model {Path(args.model).name}: lora-run {a:.3f} ms, ONNX Runtime (1 thread) "
          f"{b:.3f} ms, ratio ours/ORT = {a / b:.2f}")


if __name__ == "__main__":
    main()
