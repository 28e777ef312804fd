"""lora.linear_grad, the fused backward of lora.linear, compiled for the CPU:
against the formulas in float64 numpy, and against central finite
differences of the compiled forward (L = sum(g * y))."""

import numpy as np
import pytest

from conftest import compile_mlir

SHAPES = dict(x=(2, 3, 8), w=(8, 6), a=(8, 2), b=(2, 6), g=(2, 3, 6))
SCALE = 0.5


def signature(dtype: str) -> str:
    def t(shape):
        return "tensor<" + "x".join(map(str, shape)) + "x" + dtype + ">"
    return t


def forward_source(dtype: str) -> str:
    t = signature(dtype)
    x, w, a, b, y = (t(SHAPES["x"]), t(SHAPES["w"]), t(SHAPES["a"]),
                     t(SHAPES["b"]), t(SHAPES["g"]))
    return f"""
func.func @main(%x: {x} {{onnx.name = "x"}}, %w: {w} {{onnx.name = "w"}},
                %a: {a} {{onnx.name = "a"}}, %b: {b} {{onnx.name = "b"}})
    -> ({y} {{onnx.name = "y"}}) {{
  %y = lora.linear %x, %w, %a, %b {{rank = 2 : i64, scale = {SCALE}}}
      : ({x}, {w}, {a}, {b}) -> {y}
  return %y : {y}
}}
"""


def grad_source(dtype: str) -> str:
    t = signature(dtype)
    x, w, a, b, g = (t(SHAPES[k]) for k in ("x", "w", "a", "b", "g"))
    return f"""
func.func @main(%x: {x} {{onnx.name = "x"}}, %w: {w} {{onnx.name = "w"}},
                %a: {a} {{onnx.name = "a"}}, %b: {b} {{onnx.name = "b"}},
                %g: {g} {{onnx.name = "g"}})
    -> ({x} {{onnx.name = "dx"}}, {a} {{onnx.name = "da"}},
        {b} {{onnx.name = "db"}}) {{
  %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g
      {{rank = 2 : i64, scale = {SCALE}}}
      : ({x}, {w}, {a}, {b}, {g}) -> ({x}, {a}, {b})
  return %dx, %da, %db : {x}, {a}, {b}
}}
"""


def reference(v):
    """dx, dA, dB in float64 from the formulas of ARCHITECTURE.md."""
    x = v["x"].reshape(-1, 8).astype(np.float64)
    g = v["g"].reshape(-1, 6).astype(np.float64)
    w, a, b = (v[k].astype(np.float64) for k in ("w", "a", "b"))
    t = x @ a
    db = SCALE * t.T @ g
    dt = SCALE * g @ b.T
    da = x.T @ dt
    dx = g @ w.T + dt @ a.T
    return dx.reshape(SHAPES["x"]), da, db


def random_values(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


@pytest.mark.parametrize("dtype,tol", [("f64", 1e-12), ("f32", 1e-5)])
def test_linear_grad_matches_formulas(tmp_path, dtype, tol):
    np_dtype = {"f64": np.float64, "f32": np.float32}[dtype]
    grad = compile_mlir(tmp_path, "grad", grad_source(dtype))
    v = random_values(np_dtype)
    out = grad(**v)
    for name, expected in zip(("dx", "da", "db"), reference(v)):
        got = out[name].astype(np.float64)
        assert got.shape == expected.shape, name
        err = np.linalg.norm(got - expected) / np.linalg.norm(expected)
        assert err <= tol, (name, err)


def test_linear_grad_matches_finite_differences(tmp_path):
    forward = compile_mlir(tmp_path, "forward", forward_source("f64"))
    grad = compile_mlir(tmp_path, "grad", grad_source("f64"))
    v = random_values(np.float64, seed=1)
    g = v["g"]
    params = {k: v[k] for k in ("x", "w", "a", "b")}

    def loss(p):
        return float(np.sum(g * forward(**p)["y"]))

    out = grad(**v)
    rng = np.random.default_rng(2)
    eps = 1e-6
    for name, grad_name in (("x", "dx"), ("a", "da"), ("b", "db")):
        for _ in range(3):
            direction = rng.standard_normal(params[name].shape)
            plus = dict(params, **{name: params[name] + eps * direction})
            minus = dict(params, **{name: params[name] - eps * direction})
            numeric = (loss(plus) - loss(minus)) / (2 * eps)
            analytic = float(np.sum(out[grad_name] * direction))
            assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic)), (
                name, numeric, analytic)
