"""What the large-model benchmarks share: the Llama-shaped model with >= 4 GB
of external fp16 weights (made once by make_large_model.py, not committed)
and a command's wall time and peak RSS."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("LORA_BUILD_DIR", ROOT / "build"))
DEFAULT_DIR = os.environ.get("LORA_BENCH_DIR", "/tmp/lora-bench-large")


def ensure_model(directory: str, layers: int) -> tuple[Path, int]:
    """The model in `directory` (written first if missing) and the size of
    its weights file in bytes."""
    model = Path(directory) / "model.onnx"
    if not model.exists():
        subprocess.run([sys.executable, str(ROOT / "bench/make_large_model.py"), directory,
                        "--layers", str(layers)], check=True)
    weights = (Path(directory) / "weights.bin").stat().st_size
    print(f"model: {model} ({weights / 2**30:.2f} GiB of external fp16 weights)")
    return model, weights


def measure(cmd) -> tuple[int, float, float, str, str]:
    """Runs `cmd`: (exit code, wall seconds, peak RSS in MiB, stdout, stderr).
    The output goes to files, so a chatty command cannot block on a pipe."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        return (os.waitstatus_to_exitcode(status), seconds, usage.ru_maxrss / 1024.0,
                out.read().decode(), err.read().decode())
