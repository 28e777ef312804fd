"""End-to-end numerics of lora.linear on the CPU: convert-lora-to-linalg and
the CPU pipeline, run with lora-run, against a float64 numpy reference."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from conftest import output_file_name, rel_err, tool

RNG = np.random.default_rng(0)

MLIR_TYPES = {np.float32: "f32", np.float16: "f16", np.float64: "f64"}


def tensor_type(shape, dtype) -> str:
    return f"tensor<{'x'.join(map(str, shape))}x{MLIR_TYPES[dtype]}>"


def linear_module(x_shape, k, n, r, scale, dtype, bias: bool) -> str:
    """A public @main with one lora.linear; arguments and the result carry
    `onnx.name` as the importer writes it, so lora-run binds them by name."""
    names = ["x", "w", "a", "b"] + (["bias"] if bias else [])
    shapes = [x_shape, (k, n), (k, r), (r, n)] + ([(n,)] if bias else [])
    types = [tensor_type(s, dtype) for s in shapes]
    y_type = tensor_type(tuple(x_shape[:-1]) + (n,), dtype)
    args = ", ".join(f'%{name}: {t} {{onnx.name = "{name}"}}'
                     for name, t in zip(names, types))
    bias_operand = " bias(%bias)" if bias else ""
    return f"""
func.func @main({args}) -> ({y_type} {{onnx.name = "y"}}) {{
  %y = lora.linear %x, %w, %a, %b{bias_operand} {{rank = {r} : i64, scale = {scale!r} : f64}}
      : ({", ".join(types)}) -> {y_type}
  return %y : {y_type}
}}
"""


def run_mlir(tmp_path, source: str, inputs: dict) -> np.ndarray:
    """Compiles and runs @main with lora-run; returns its output `y`."""
    path = tmp_path / "linear.mlir"
    path.write_text(source)
    cmd = [tool("lora-run"), str(path), "--quiet",
           f"--output-dir={tmp_path / 'out'}"]
    for name, value in inputs.items():
        npy = tmp_path / f"{output_file_name(name)}.in.npy"
        np.save(npy, value)
        cmd += ["--input", f"{name}={npy}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return np.load(tmp_path / "out" / "y.npy")


def reference(x, w, a, b, scale, bias=None) -> np.ndarray:
    """x·W + s·(x·A)·B (+ bias) in float64 from the (already rounded)
    inputs."""
    x, w, a, b = (np.asarray(v, np.float64) for v in (x, w, a, b))
    y = x @ w + scale * ((x @ a) @ b)
    if bias is not None:
        y = y + np.asarray(bias, np.float64)
    return y


def make_inputs(x_shape, k, n, r, dtype, bias: bool) -> dict:
    inputs = {"x": RNG.standard_normal(x_shape),
              "w": RNG.standard_normal((k, n)) / np.sqrt(k),
              "a": RNG.standard_normal((k, r)) / np.sqrt(k),
              "b": RNG.standard_normal((r, n)) / np.sqrt(r)}
    if bias:
        inputs["bias"] = RNG.standard_normal((n,))
    return {name: v.astype(dtype) for name, v in inputs.items()}


@pytest.mark.parametrize("x_shape,bias", [
    ((2, 5, 16), True),   # batched input with bias
    ((7, 16), False),     # 2-D input, no reshape
    ((16,), True),        # rank-1 input: one row
])
def test_f32(tmp_path, x_shape, bias):
    k, n, r, scale = 16, 12, 4, 2.0
    inputs = make_inputs(x_shape, k, n, r, np.float32, bias)
    y = run_mlir(tmp_path,
                 linear_module(x_shape, k, n, r, scale, np.float32, bias),
                 inputs)
    assert y.dtype == np.float32 and y.shape == x_shape[:-1] + (n,)
    assert rel_err(y, reference(scale=scale, **inputs)) <= 1e-6


@pytest.mark.parametrize("x_shape", [(2, 5, 16), (16,)])
def test_f16(tmp_path, x_shape):
    """f16 accumulates in f32 and rounds once: every element is within half
    an f16 ulp of the exact result (plus the f32 sums' error)."""
    k, n, r, scale = 16, 12, 4, 2.0
    inputs = make_inputs(x_shape, k, n, r, np.float16, bias=True)
    y = run_mlir(tmp_path,
                 linear_module(x_shape, k, n, r, scale, np.float16, True),
                 inputs)
    assert y.dtype == np.float16 and y.shape == x_shape[:-1] + (n,)
    expected = reference(scale=scale, **inputs)
    half_ulp = 0.5 * np.spacing(np.abs(expected).astype(np.float16))
    f32_sums = 1e-6 * np.abs(expected).max()
    err = np.abs(y.astype(np.float64) - expected)
    assert np.all(err <= half_ulp.astype(np.float64) + f32_sums), err.max()
    assert rel_err(y, expected) <= 2e-3


def test_f64(tmp_path):
    k, n, r, scale = 16, 12, 4, 0.25
    inputs = make_inputs((3, 16), k, n, r, np.float64, bias=True)
    y = run_mlir(tmp_path,
                 linear_module((3, 16), k, n, r, scale, np.float64, True),
                 inputs)
    assert rel_err(y, reference(scale=scale, **inputs)) <= 1e-13
