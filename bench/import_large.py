"""Import time and peak memory on a Llama-shaped model with >= 4 GB of
external fp16 weights (made by bench/make_large_model.py, not committed).

    python bench/import_large.py [--dir DIR] [--layers 10]

Prints wall time and peak RSS of each command; the point is that importing
mmaps the weights instead of copying them, so peak memory stays far below
the weights' size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("LORA_BUILD_DIR", ROOT / "build"))


def measure(cmd):
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    stderr = proc.stderr.read().decode()
    rc = os.waitstatus_to_exitcode(status)
    return rc, seconds, usage.ru_maxrss / 1024.0, stderr


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dir", default=os.environ.get("LORA_BENCH_DIR", "/tmp/lora-bench-large"))
    p.add_argument("--layers", type=int, default=10)
    args = p.parse_args(argv)
    model = Path(args.dir) / "model.onnx"
    if not model.exists():
        subprocess.run([sys.executable, str(ROOT / "bench/make_large_model.py"), args.dir,
                        "--layers", str(args.layers)], check=True)
    weights = (Path(args.dir) / "weights.bin").stat().st_size
    print(f"model: {model} ({weights / 2**30:.2f} GiB of external fp16 weights)")
    shape = "--input-shape=input_ids:1x16"
    # Printing would hex-encode every weight, so the timed runs print nothing.
    lora_opt = str(BUILD / "bin/lora-opt")
    runs = {
        "import (lora-opt --no-output)": [lora_opt, str(model), shape, "--no-output"],
        "import + convert-onnx-to-tosa": [lora_opt, str(model), shape, "--convert-onnx-to-tosa", "--no-output"],
    }
    print(f"{'step':44} {'rc':>3} {'wall s':>8} {'peak RSS MiB':>13} {'RSS / weights':>14}")
    for name, cmd in runs.items():
        rc, seconds, rss, stderr = measure(cmd)
        print(f"{name:44} {rc:>3} {seconds:8.2f} {rss:13.1f} {rss * 2**20 / weights:14.4f}")
        if rc != 0:
            print("   " + stderr.strip().splitlines()[0][:300] if stderr.strip() else "   (no message)")


if __name__ == "__main__":
    main()
