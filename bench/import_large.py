"""Import time and peak memory on a Llama-shaped model with >= 4 GB of
external fp16 weights (made by bench/make_large_model.py, not committed).

    python bench/import_large.py [--dir DIR] [--layers 10]

Prints wall time and peak RSS of each command; the point is that importing
mmaps the weights instead of copying them, so peak memory stays far below
the weights' size.
"""

from __future__ import annotations

import argparse

from large_model import BUILD, DEFAULT_DIR, ensure_model, measure


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dir", default=DEFAULT_DIR)
    p.add_argument("--layers", type=int, default=10)
    args = p.parse_args(argv)
    model, weights = ensure_model(args.dir, args.layers)
    shape = "--input-shape=input_ids:1x16"
    # Printing would hex-encode every weight, so the timed runs print nothing.
    lora_opt = str(BUILD / "bin/lora-opt")
    runs = {
        "import (lora-opt --no-output)": [lora_opt, str(model), shape, "--no-output"],
        "import + convert-onnx-to-tosa": [lora_opt, str(model), shape, "--convert-onnx-to-tosa", "--no-output"],
    }
    print(f"{'step':44} {'rc':>3} {'wall s':>8} {'peak RSS MiB':>13} {'RSS / weights':>14}")
    for name, cmd in runs.items():
        rc, seconds, rss, _, stderr = measure(cmd)
        print(f"{name:44} {rc:>3} {seconds:8.2f} {rss:13.1f} {rss * 2**20 / weights:14.4f}")
        if rc != 0:
            print("   " + stderr.strip().splitlines()[0][:300] if stderr.strip() else "   (no message)")


if __name__ == "__main__":
    main()
