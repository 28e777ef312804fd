"""Shared helpers for lora-opt's end-to-end tests.

Models run through the real command-line tools of the build tree
(LORA_BUILD_DIR, default <repo>/build) and are compared with ONNX Runtime.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("LORA_BUILD_DIR", ROOT / "build"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# ONNX Runtime in our pinned version reads IR versions up to 10.
ORT_IR_VERSION = 10


def tool(name: str) -> str:
    path = BUILD / "bin" / name
    if not path.exists():
        pytest.fail(f"{path} is missing: build the project first")
    return str(path)


def compile_mlir(tmp_path, name: str, source: str):
    """Writes `source` (MLIR with a public @main) to tmp_path, compiles it
    with lora-compile for the CPU into tmp_path/name and loads the folder."""
    import lora_opt  # noqa: PLC0415 (tests without it need not have it)
    path = tmp_path / f"{name}.mlir"
    path.write_text(source)
    out = tmp_path / name
    subprocess.run([tool("lora-compile"), "--quiet", str(path),
                    "--target=cpu", "-o", str(out)], check=True)
    return lora_opt.load(out)


def output_file_name(name: str) -> str:
    """The .npy name lora-run gives an output (see tools/lora-run)."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name) or "output"


def shape_spec(inputs: dict) -> str:
    return ",".join(f"{k}:{'x'.join(map(str, v.shape)) or 'scalar'}"
                    for k, v in inputs.items())


def run_lora(model_path, inputs: dict, input_shapes: bool = True,
             extra_args=()) -> list[np.ndarray]:
    """Compiles `model_path` for the CPU with lora-run and runs it.

    Returns the outputs in graph order. Raises RuntimeError with lora-run's
    stderr when it fails.
    """
    model = onnx.load(str(model_path), load_external_data=False)
    outputs = [o.name for o in model.graph.output]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [tool("lora-run"), str(model_path), "--quiet",
               f"--output-dir={tmp}/out"]
        if input_shapes and inputs:
            cmd.append(f"--input-shape={shape_spec(inputs)}")
        for name, value in inputs.items():
            path = os.path.join(tmp, output_file_name(name) + ".in.npy")
            np.save(path, value)
            cmd += ["--input", f"{name}={path}"]
        cmd += list(extra_args)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"lora-run failed ({proc.returncode}):\n"
                               f"{proc.stderr[-4000:]}")
        return [np.load(os.path.join(tmp, "out", output_file_name(n) + ".npy"))
                for n in outputs]


def ort_run(model_path, inputs: dict) -> list[np.ndarray]:
    import onnxruntime as ort
    model = onnx.load(str(model_path))
    model.ir_version = min(model.ir_version, ORT_IR_VERSION)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


def rel_err(actual: np.ndarray, expected: np.ndarray) -> float:
    """max |a - e| / max |e|, the figure the issue's bar is stated in."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(np.abs(expected).max(initial=0.0), 1e-30)
    return float(np.abs(actual - expected).max(initial=0.0) / scale)


def save_model(graph: onnx.GraphProto, path, opset: int = 18) -> str:
    """Saves a hand-built graph as a model ONNX Runtime can read."""
    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
    model.ir_version = ORT_IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def check_against_ort(tmp_path, graph: onnx.GraphProto, inputs: dict,
                      opset: int = 18, tol: float = 1e-5):
    """Builds, runs with lora-run and ONNX Runtime, compares every output."""
    path = save_model(graph, tmp_path / "model.onnx", opset)
    expected = ort_run(path, inputs)
    actual = run_lora(path, inputs)
    for a, e in zip(actual, expected):
        assert a.dtype == e.dtype, (a.dtype, e.dtype)
        if np.issubdtype(e.dtype, np.floating):
            assert rel_err(a, e) <= tol, rel_err(a, e)
        else:
            np.testing.assert_array_equal(a, e)
    return actual


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """Exports each model once per session, on first use; shared by every
    test file: exported(family, exporter, dynamic=False) -> path."""
    import onnx_models

    cache = {}

    def get(family, exporter, dynamic=False):
        key = (family, exporter, dynamic)
        if key not in cache:
            path = tmp_path_factory.mktemp("models") / (
                f"{family}_{exporter}{'_dyn' if dynamic else ''}.onnx")
            onnx_models.export_model(family, exporter, str(path), dynamic=dynamic)
            cache[key] = str(path)
        return cache[key]

    return get
