"""End-to-end checks of the elementwise family (arithmetic, activations,
comparisons, logic, Where, Cast, Clip, Dropout, ...) against ONNX Runtime.

Results that ORT computes exactly (division, square root, casts, selects,
comparisons) must match bit for bit; transcendental functions, where ORT uses
its own approximations, to a relative error of 1e-6 (1e-5 for float16)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import ort_run, rel_err, run_lora, save_model

DTYPES = {
    np.float32: TensorProto.FLOAT,
    np.float64: TensorProto.DOUBLE,
    np.float16: TensorProto.FLOAT16,
    np.int8: TensorProto.INT8,
    np.int16: TensorProto.INT16,
    np.int32: TensorProto.INT32,
    np.int64: TensorProto.INT64,
    np.bool_: TensorProto.BOOL,
}


def rand(shape, dtype=np.float32, seed=0, low=-20, high=20):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return np.asarray(rng.integers(0, 2, size=shape)).astype(bool)
    if np.issubdtype(dtype, np.integer):
        return np.asarray(rng.integers(low, high, size=shape)).astype(dtype)
    return np.asarray(rng.standard_normal(shape) * 2).astype(dtype)


def nonzero(shape, dtype=np.float32, seed=1):
    """Random values away from zero, for divisors."""
    x = rand(shape, dtype, seed)
    if np.issubdtype(dtype, np.integer):
        return np.where(x == 0, 7, x).astype(dtype)
    return np.where(np.abs(x) < 0.1, 0.5, x).astype(dtype)


def const(name, values, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def build(nodes, inputs, outputs, initializers=(), opset=18):
    """A graph of `nodes` with typed inputs; output types are inferred."""
    vis = [helper.make_tensor_value_info(n, DTYPES[a.dtype.type], a.shape)
           for n, a in inputs.items()]
    g = helper.make_graph(nodes, "g", vis,
                          [onnx.ValueInfoProto(name=o) for o in outputs],
                          list(initializers))
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    return onnx.shape_inference.infer_shapes(model, strict_mode=True).graph


def node_graph(op, inputs, attrs=None, node_inputs=None, initializers=(),
               outputs=1, opset=18):
    """One `op` node over the graph inputs (or `node_inputs`)."""
    names = [f"y{i}" for i in range(outputs)]
    node = helper.make_node(op, list(node_inputs or inputs), names,
                            **(attrs or {}))
    return build([node], inputs, names, initializers, opset)


def check(tmp_path, graph, inputs, opset=18, exact=False, tol=None):
    """Runs `graph` in lora-run and ORT. Integer, bool and `exact` outputs
    must be identical (NaN matching NaN); others within `tol`, with the same
    infinities and NaNs."""
    path = save_model(graph, tmp_path / "model.onnx", opset)
    expected = ort_run(path, inputs)
    actual = run_lora(path, inputs)
    for a, e in zip(actual, expected):
        assert a.dtype == e.dtype and a.shape == e.shape, (a.dtype, a.shape,
                                                           e.dtype, e.shape)
        if exact or not np.issubdtype(e.dtype, np.floating):
            np.testing.assert_array_equal(a, e)
            continue
        finite = np.isfinite(e)
        np.testing.assert_array_equal(a[~finite], e[~finite])
        limit = tol if tol is not None else (
            1e-5 if e.dtype == np.float16 else 1e-6)
        assert rel_err(a[finite], e[finite]) <= limit, rel_err(a[finite],
                                                               e[finite])
    return actual


# --- Binary arithmetic -------------------------------------------------------

SHAPES = [
    ((2, 3, 4), (2, 3, 4)),   # same shape
    ((2, 3, 4), (4,)),        # trailing-dim broadcast
    ((3, 1), (2, 1, 4)),      # both sides broadcast, lhs lower rank
    ((), (2, 3)),             # scalar lhs
]


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("a_shape,b_shape", SHAPES,
                         ids=["same", "trailing", "both", "scalar"])
def test_arith_broadcast(tmp_path, op, a_shape, b_shape):
    inputs = {"a": rand(a_shape), "b": nonzero(b_shape)}
    # Float division is correctly rounded, like ORT's.
    check(tmp_path, node_graph(op, inputs), inputs, exact=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int8, np.int16,
                                   np.int32, np.int64])
def test_arith_dtypes(tmp_path, dtype):
    inputs = {"a": rand((3, 4), dtype), "b": nonzero((4,), dtype)}
    nodes = [helper.make_node(op, ["a", "b"], [op.lower()])
             for op in ["Add", "Sub", "Mul", "Div"]]
    if dtype in (np.int8, np.int16):
        # ORT has no int8/int16 Add/Sub/Mul/Div kernels; int32 is the
        # reference, wrapped back like our narrow arithmetic.
        graph = build(nodes, inputs, ["add", "sub", "mul", "div"])
        path = save_model(graph, tmp_path / "model.onnx")
        a, b = inputs["a"].astype(np.int32), inputs["b"].astype(np.int32)
        expected = [a + b, a - b, a * b, np.trunc(a / b).astype(np.int32)]
        for got, want in zip(run_lora(path, inputs), expected):
            np.testing.assert_array_equal(got, want.astype(dtype))
        return
    check(tmp_path, build(nodes, inputs, ["add", "sub", "mul", "div"]),
          inputs, exact=dtype != np.float16)


def test_int_div_truncates(tmp_path):
    inputs = {"a": np.array([-7, 7, -7, 7, 0, -1], np.int64),
              "b": np.array([2, -2, -2, 2, 3, 5], np.int64)}
    check(tmp_path, node_graph("Div", inputs), inputs)


def test_int64_large_values(tmp_path):
    # TorchScript shape arithmetic runs on int64; values past 2^32 must stay
    # exact.
    big = np.array([1 << 40, -(1 << 41) + 3, (1 << 62) // 3], np.int64)
    inputs = {"a": big, "b": np.array([3, -5, 2], np.int64)}
    nodes = [helper.make_node(op, ["a", "b"], [op.lower()])
             for op in ["Add", "Sub", "Mul", "Div", "Equal", "Greater"]]
    check(tmp_path, build(nodes, inputs,
                          ["add", "sub", "mul", "div", "equal", "greater"]),
          inputs)


@pytest.mark.parametrize("divisor", [8.0, 0.25, 1.4142135, -3.0])
def test_div_by_constant(tmp_path, divisor):
    inputs = {"a": rand((4, 6))}
    graph = node_graph("Div", inputs, node_inputs=["a", "d"],
                       initializers=[const("d", divisor)])
    check(tmp_path, graph, inputs, exact=True)


def test_div_one_by_x(tmp_path):
    # TorchScript's attention scale: Div(1, Sqrt(d)).
    inputs = {"a": nonzero((2, 5))}
    graph = node_graph("Div", inputs, node_inputs=["one", "a"],
                       initializers=[const("one", [[[1.0]]])])
    check(tmp_path, graph, inputs, exact=True)


def test_div_special_values(tmp_path):
    a = np.array([1, -1, 0, 0, np.inf, 3e38, 1e-38, np.nan, 5], np.float32)
    b = np.array([0, 0, 0, -2, np.inf, 1e-3, 3e10, 1, -np.inf], np.float32)
    inputs = {"a": a, "b": b}
    check(tmp_path, node_graph("Div", inputs), inputs, exact=True)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Pow"])
def test_arith_legacy_broadcast(tmp_path, op):
    # Opset 6: B aligns with A's dims from `axis` on.
    inputs = {"a": np.abs(rand((2, 3, 4))) + 0.5, "b": nonzero((3,))}
    graph = node_graph(op, inputs, {"broadcast": 1, "axis": 1}, opset=6)
    path = save_model(graph, tmp_path / "model.onnx", 6)
    a, b = inputs["a"], inputs["b"].reshape(1, 3, 1)
    want = {"Add": a + b, "Sub": a - b, "Mul": a * b, "Div": a / b,
            "Pow": np.power(a, b)}[op]
    # ORT no longer runs opset 6 Add & co.; numpy is the reference.
    got = run_lora(path, inputs)[0]
    assert rel_err(got, want) <= 1e-6


# --- Pow -------------------------------------------------------------------

@pytest.mark.parametrize("exponent", [2.0, 3.0, 1.0, 0.5, -1.5])
def test_pow_constant_exponent(tmp_path, exponent):
    inputs = {"x": rand((3, 8))}
    if exponent != int(exponent):
        inputs["x"] = np.abs(inputs["x"]) + 0.1
    graph = node_graph("Pow", inputs, node_inputs=["x", "e"],
                       initializers=[const("e", exponent)])
    # x^2 and x^3 are multiplications in ORT too, so they match exactly.
    check(tmp_path, graph, inputs, exact=exponent in (1.0, 2.0, 3.0))


@pytest.mark.parametrize("exp_dtype", [np.float32, np.int64, np.int32])
def test_pow_tensor_exponent(tmp_path, exp_dtype):
    inputs = {"x": np.abs(rand((2, 3, 4))) + 0.1,
              "e": rand((4,), exp_dtype, seed=3, low=-3, high=4)}
    check(tmp_path, node_graph("Pow", inputs), inputs)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_pow_int_base(tmp_path, dtype):
    inputs = {"x": np.array([2, -3, 5, 2, 7, 0], dtype),
              "e": np.array([10, 3, 0, -1, 2, 4], dtype)}
    check(tmp_path, node_graph("Pow", inputs), inputs)


def test_pow_float_dtypes(tmp_path):
    inputs = {"x": np.abs(rand((5,), np.float64)) + 0.1,
              "e": rand((5,), np.float64, seed=2)}
    check(tmp_path, node_graph("Pow", inputs), inputs)


# --- Mod ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int8])
@pytest.mark.parametrize("fmod", [0, 1])
def test_mod_int(tmp_path, dtype, fmod):
    a = np.array([-7, 7, -7, 7, 6, -6, 0, 5], dtype)
    b = np.array([3, -3, -3, 3, 3, -3, 4, 7], dtype)
    inputs = {"a": a, "b": b}
    check(tmp_path, node_graph("Mod", inputs, {"fmod": fmod}), inputs)


def test_mod_float(tmp_path):
    # Quotients just off an integer (3 / 0.1) are where x - trunc(x/y)*y
    # goes wrong without the correction steps.
    a = np.concatenate([np.array([-7.5, 7.5, 6.0, -6.0, 0.3, 1e6 + 0.7,
                                  3.0, 0.0, -3.0, 1.0], np.float32),
                        rand((256,), seed=4) * 50])
    b = np.concatenate([np.array([2, -2, 3, 3, 0.1, 0.7, 0.1, 2, 0.1, 0.2],
                                 np.float32),
                        nonzero((256,), seed=5)])
    inputs = {"a": a, "b": b}
    check(tmp_path, node_graph("Mod", inputs, {"fmod": 1}), inputs,
          exact=True)


def test_mod_float64(tmp_path):
    # f64 has no wider type to make x - q*y exact: a few ulp of |y| at most.
    inputs = {"a": rand((64,), np.float64, seed=4) * 50,
              "b": nonzero((64,), np.float64, seed=5)}
    check(tmp_path, node_graph("Mod", inputs, {"fmod": 1}), inputs,
          tol=1e-13)


# --- Variadic ------------------------------------------------------------------

@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
def test_variadic(tmp_path, op):
    inputs = {"a": rand((2, 1, 4)), "b": rand((3, 1), seed=1),
              "c": rand((4,), seed=2)}
    check(tmp_path, node_graph(op, inputs), inputs, exact=True)


@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
def test_variadic_single_input(tmp_path, op):
    inputs = {"a": rand((2, 3))}
    check(tmp_path, node_graph(op, inputs), inputs, exact=True)


@pytest.mark.parametrize("op", ["Max", "Min"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float64])
def test_max_min_dtypes(tmp_path, op, dtype):
    inputs = {"a": rand((3, 4), dtype), "b": rand((4,), dtype, seed=1)}
    check(tmp_path, node_graph(op, inputs), inputs)


def test_max_min_nan(tmp_path):
    inputs = {"a": np.array([np.nan, 1, 2], np.float32),
              "b": np.array([1, np.nan, 3], np.float32)}
    nodes = [helper.make_node(op, ["a", "b"], [op]) for op in ["Max", "Min"]]
    check(tmp_path, build(nodes, inputs, ["Max", "Min"]), inputs)


# --- Unary ---------------------------------------------------------------------

POSITIVE = {"Sqrt", "Log"}
UNARY = ["Sqrt", "Reciprocal", "Exp", "Log", "Tanh", "Sigmoid", "Erf", "Cos",
         "Sin", "Floor", "Ceil", "Neg", "Abs", "Relu", "Sign", "Softplus"]
EXACT = {"Sqrt", "Reciprocal", "Floor", "Ceil", "Neg", "Abs", "Relu", "Sign"}
# Float types ORT's CPU provider has no kernel for.
ORT_MISSING = {("Erf", np.float64), ("Cos", np.float64)}


@pytest.mark.parametrize("op", UNARY)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_unary_float(tmp_path, op, dtype):
    x = rand((4, 50), dtype) * 3
    if op in POSITIVE:
        x = np.abs(x)
    x.flat[:4] = [0, -0.0, 1, -1] if op not in POSITIVE else [0, 1, 4, 2]
    inputs = {"x": x}
    if (op, dtype) in ORT_MISSING:
        pytest.skip(f"ORT has no {op} kernel for {np.dtype(dtype).name}")
    # f64 Sqrt is 1 / rsqrt(x): within 2 ulp, not correctly rounded.
    exact = op in EXACT and dtype == np.float32 or (
        op in EXACT - {"Sqrt"} and dtype == np.float64)
    check(tmp_path, node_graph(op, inputs), inputs, exact=exact,
          tol=1e-15 if dtype == np.float64 else None)


@pytest.mark.parametrize("op", ["Sqrt", "Log", "Exp", "Reciprocal", "Tanh",
                                "Sigmoid", "Erf", "Floor", "Ceil", "Relu",
                                "Abs", "Neg", "Sign", "Softplus", "Cos"])
def test_unary_special_values(tmp_path, op):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-40, 88.8,
                  -88.8, 3e38, -3e38, 2.5, -2.5], np.float32)
    if op == "Erf":
        x = x[1:]  # ORT's Erf(NaN) is 1
    inputs = {"x": x}
    exact = op in EXACT
    if op in {"Sign", "Relu"}:
        # ORT's Relu and Sign give +0 for -0 where we may give -0; compare
        # values (signed zeros are equal) rather than bits.
        exact = False
    check(tmp_path, node_graph(op, inputs), inputs, exact=exact)


@pytest.mark.parametrize("op", ["Neg", "Abs", "Relu", "Sign"])
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64])
def test_unary_int(tmp_path, op, dtype):
    inputs = {"x": rand((3, 7), dtype)}
    check(tmp_path, node_graph(op, inputs), inputs)


def test_softplus_tails(tmp_path):
    # log1p keeps the tiny tail values that log(1 + t) would round to 0.
    x = np.array([-100, -30, -20, -5, 0, 5, 20, 30, 100], np.float32)
    inputs = {"x": x}
    [got] = check(tmp_path, node_graph("Softplus", inputs), inputs)
    assert got[1] > 0 and abs(got[2] / 2.0611537e-09 - 1) < 1e-6


@pytest.mark.parametrize("op,attrs", [
    ("LeakyRelu", {}), ("LeakyRelu", {"alpha": 0.2}),
    ("Elu", {}), ("Elu", {"alpha": 0.5}),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_piecewise_activations(tmp_path, op, attrs, dtype):
    x = rand((4, 16), dtype)
    x.flat[:3] = [0, -0.0, np.nan]
    inputs = {"x": x}
    check(tmp_path, node_graph(op, inputs, attrs), inputs,
          exact=op == "LeakyRelu")


@pytest.mark.parametrize("op,attrs,opset", [
    ("HardSigmoid", {}, 6), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, 6),
    ("HardSwish", {}, 14),
    ("Selu", {}, 6), ("Selu", {"alpha": 1.5, "gamma": 0.9}, 6),
    ("Celu", {}, 12), ("Celu", {"alpha": 0.5}, 12),
    ("ThresholdedRelu", {}, 10), ("ThresholdedRelu", {"alpha": 0.5}, 10),
    ("Mish", {}, 18),
], ids=lambda v: str(v) if not isinstance(v, dict) else
    "-".join(f"{k}{w}" for k, w in v.items()) or "default")
def test_more_activations(tmp_path, op, attrs, opset):
    x = rand((4, 32)) * 2
    x.flat[:4] = [0, -0.0, 3.0, -3.0]
    inputs = {"x": x}
    check(tmp_path, node_graph(op, inputs, attrs, opset=opset), inputs,
          opset=opset, tol=2e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
@pytest.mark.parametrize("slope_shape", [(), (4,), (3, 1)])
def test_prelu(tmp_path, dtype, slope_shape):
    inputs = {"x": rand((2, 3, 4), dtype),
              "slope": rand(slope_shape, dtype, seed=1, low=-3, high=3)}
    check(tmp_path, node_graph("PRelu", inputs, opset=16), inputs, opset=16,
          exact=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round(tmp_path, dtype):
    x = np.concatenate([
        np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, -0.0, 2.0,
                  8388609.0, 1e30, np.inf, -np.inf, np.nan], dtype),
        rand((64,), dtype) * 10])
    inputs = {"x": x}
    check(tmp_path, node_graph("Round", inputs, opset=11), inputs, opset=11,
          exact=True)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(tmp_path, approximate):
    inputs = {"x": rand((2, 8, 16))}
    graph = node_graph("Gelu", inputs, {"approximate": approximate}, opset=20)
    check(tmp_path, graph, inputs, opset=20)


def test_isnan_isinf(tmp_path):
    x = np.array([np.nan, np.inf, -np.inf, 0, -1, 3e38], np.float32)
    inputs = {"x": x}
    nodes = [
        helper.make_node("IsNaN", ["x"], ["nan"]),
        helper.make_node("IsInf", ["x"], ["inf"]),
        helper.make_node("IsInf", ["x"], ["pos"], detect_negative=0),
        helper.make_node("IsInf", ["x"], ["neg"], detect_positive=0),
        helper.make_node("IsInf", ["x"], ["none"], detect_positive=0,
                         detect_negative=0),
    ]
    check(tmp_path, build(nodes, inputs, ["nan", "inf", "pos", "neg", "none"]),
          inputs)


# --- Comparison and logic ----------------------------------------------------

COMPARE = ["Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"]


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int32])
def test_comparisons(tmp_path, dtype):
    a = rand((3, 4), dtype, low=-2, high=2)
    b = rand((4,), dtype, seed=1, low=-2, high=2)
    if dtype == np.float32:
        a, b = np.round(a), np.round(b)  # ties, so Equal sees some
        a.flat[:2] = [np.nan, -0.0]
        b[:2] = [np.nan, 0.0]
    inputs = {"a": a, "b": b}
    nodes = [helper.make_node(op, ["a", "b"], [op]) for op in COMPARE]
    check(tmp_path, build(nodes, inputs, COMPARE), inputs)


def test_equal_bool(tmp_path):
    inputs = {"a": rand((2, 5), np.bool_), "b": rand((5,), np.bool_, seed=1)}
    check(tmp_path, node_graph("Equal", inputs), inputs)


def test_logic(tmp_path):
    inputs = {"a": rand((2, 3, 4), np.bool_), "b": rand((3, 1), np.bool_, 1)}
    nodes = [helper.make_node(op, ["a", "b"], [op])
             for op in ["And", "Or", "Xor"]]
    nodes.append(helper.make_node("Not", ["a"], ["Not"]))
    check(tmp_path, build(nodes, inputs, ["And", "Or", "Xor", "Not"]), inputs)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int8])
def test_bitwise(tmp_path, dtype):
    inputs = {"a": rand((3, 4), dtype, low=-100, high=100),
              "b": rand((4,), dtype, seed=1, low=-100, high=100)}
    ops = ["BitwiseAnd", "BitwiseOr", "BitwiseXor"]
    nodes = [helper.make_node(op, ["a", "b"], [op]) for op in ops]
    nodes.append(helper.make_node("BitwiseNot", ["a"], ["BitwiseNot"]))
    check(tmp_path, build(nodes, inputs, ops + ["BitwiseNot"]), inputs)


# --- Where ---------------------------------------------------------------------

def test_where_additive_mask(tmp_path):
    # The decoders' mask: Where(bool_mask, 0.0, -inf) with scalar constants.
    inputs = {"m": rand((2, 1, 4, 4), np.bool_)}
    graph = node_graph("Where", inputs, node_inputs=["m", "zero", "ninf"],
                       initializers=[const("zero", 0.0),
                                     const("ninf", -np.inf)])
    check(tmp_path, graph, inputs, exact=True)


def test_where_bert_mask(tmp_path):
    # BERT: Where(Cast<bool>(1 - mask), finfo.min, 1 - mask).
    mask = rand((2, 16), np.int64, low=0, high=2)
    inputs = {"mask": mask}
    nodes = [
        helper.make_node("Cast", ["mask"], ["mf"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["one", "mf"], ["inv"]),
        helper.make_node("Cast", ["inv"], ["invb"], to=TensorProto.BOOL),
        helper.make_node("Where", ["invb", "fmin", "inv"], ["y"]),
    ]
    graph = build(nodes, inputs, ["y"],
                  [const("one", 1.0), const("fmin", -3.4028235e38)])
    check(tmp_path, graph, inputs, exact=True)


def test_where_isnan_guard(tmp_path):
    # Decoders: Where(IsNaN(p), 0.0, p) after Softmax.
    p = rand((2, 4, 8))
    p[0, 1, :] = np.nan
    inputs = {"p": p}
    nodes = [helper.make_node("IsNaN", ["p"], ["isnan"]),
             helper.make_node("Where", ["isnan", "zero", "p"], ["y"])]
    check(tmp_path, build(nodes, inputs, ["y"], [const("zero", 0.0)]),
          inputs, exact=True)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.float16])
def test_where_broadcast_all(tmp_path, dtype):
    inputs = {"c": rand((2, 1, 4), np.bool_), "x": rand((3, 1), dtype, 1),
              "y": rand((4,), dtype, 2)}
    check(tmp_path, node_graph("Where", inputs), inputs, exact=True)


def test_where_bool_values(tmp_path):
    # ORT has no bool Where kernel; numpy is the reference.
    inputs = {"c": rand((2, 1, 4), np.bool_), "x": rand((3, 1), np.bool_, 1),
              "y": rand((4,), np.bool_, 2)}
    path = save_model(node_graph("Where", inputs), tmp_path / "model.onnx")
    [got] = run_lora(path, inputs)
    np.testing.assert_array_equal(got, np.where(inputs["c"], inputs["x"],
                                                inputs["y"]))


# --- Cast ------------------------------------------------------------------

CAST_VALUES = np.array([0, -0.0, 0.4, -0.6, 1.5, -1.5, 2.5, -2.5, 127.9,
                        -128.9, 200.7, -200.7, 40000.5, -70000.2, 3e9, -3e9,
                        1e19, -1e19, np.nan, np.inf, -np.inf], np.float32)


def cast_graph(inputs, targets):
    """Casts input x to each of `targets` (one output each)."""
    names = [f"to_{np.dtype(t).name}" for t in targets]
    nodes = [helper.make_node("Cast", ["x"], [n], to=DTYPES[t])
             for n, t in zip(names, targets)]
    return build(nodes, inputs, names)


@pytest.mark.parametrize("src", [np.float32, np.float64])
def test_cast_float_to_int(tmp_path, src):
    # Truncation toward zero; out-of-range and NaN follow ORT on x86.
    inputs = {"x": CAST_VALUES.astype(src)}
    targets = [np.int8, np.int16, np.int32, np.int64, np.bool_]
    check(tmp_path, cast_graph(inputs, targets), inputs)


@pytest.mark.parametrize("src", [np.int64, np.int32, np.int8, np.bool_,
                                 np.float16, np.float32, np.float64])
def test_cast_matrix(tmp_path, src):
    if src == np.bool_:
        x = rand((4, 6), np.bool_)
    elif np.issubdtype(src, np.integer):
        x = rand((4, 6), src, low=-128, high=127)
        if src == np.int64:
            x.flat[:3] = [1 << 40, -(1 << 35) - 1, 300]
    else:
        x = (rand((4, 6), src) * 40).astype(src)
        x.flat[:3] = [0.5, -0.0, 65504]
    inputs = {"x": x}
    targets = [np.float32, np.float64, np.float16, np.int8, np.int32,
               np.int64, np.bool_]
    check(tmp_path, cast_graph(inputs, targets), inputs, exact=True)


def test_cast_same_type_is_identity(tmp_path):
    inputs = {"x": rand((2, 3))}
    check(tmp_path, node_graph("Cast", inputs, {"to": TensorProto.FLOAT}),
          inputs, exact=True)


def test_cast_like(tmp_path):
    inputs = {"x": CAST_VALUES, "t": np.zeros((1,), np.int32)}
    check(tmp_path, node_graph("CastLike", inputs), inputs)


# --- Clip ------------------------------------------------------------------

@pytest.mark.parametrize("bounds", [(-0.5, 0.5), (None, 1.0), (-1.0, None),
                                    (None, None), (2.0, 1.0)],
                         ids=["both", "max", "min", "none", "min>max"])
def test_clip_constant(tmp_path, bounds):
    x = rand((3, 10))
    x.flat[0] = np.nan
    inputs = {"x": x}
    inits, names = [], ["x"]
    for name, value in zip(["lo", "hi"], bounds):
        names.append(name if value is not None else "")
        if value is not None:
            inits.append(const(name, value))
    graph = node_graph("Clip", inputs, node_inputs=names, initializers=inits,
                       opset=13)
    check(tmp_path, graph, inputs, opset=13, exact=True)


def test_clip_computed_bounds(tmp_path):
    inputs = {"x": rand((3, 10)), "lo": np.array(-0.5, np.float32),
              "hi": np.array([0.7], np.float32)}
    graph = node_graph("Clip", inputs, node_inputs=["x", "lo", "hi"],
                       opset=11)
    check(tmp_path, graph, inputs, opset=11, exact=True)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int8])
def test_clip_int(tmp_path, dtype):
    inputs = {"x": rand((3, 10), dtype)}
    graph = node_graph("Clip", inputs, node_inputs=["x", "lo", "hi"],
                       initializers=[const("lo", -5, dtype),
                                     const("hi", 7, dtype)], opset=13)
    check(tmp_path, graph, inputs, opset=13)


def test_clip_opset6(tmp_path):
    inputs = {"x": rand((3, 10))}
    graph = node_graph("Clip", inputs, {"min": -0.25, "max": 0.5}, opset=6)
    check(tmp_path, graph, inputs, opset=6, exact=True)


# --- Identity, Dropout --------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_identity(tmp_path, dtype):
    inputs = {"x": rand((2, 3), dtype)}
    check(tmp_path, node_graph("Identity", inputs), inputs, exact=True)


def dropout_graph(opset, mask_type):
    if opset >= 12:
        node = helper.make_node("Dropout", ["x", "r", "t"], ["y", "mask"])
        inits = [const("r", 0.3), const("t", False, np.bool_)]
    else:
        node = helper.make_node("Dropout", ["x"], ["y", "mask"], ratio=0.3)
        inits = []
    return helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                    (2, 6))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, (2, 6)),
         helper.make_tensor_value_info("mask", mask_type, (2, 6))], inits)


def test_dropout_inference(tmp_path):
    inputs = {"x": rand((2, 6))}
    check(tmp_path, dropout_graph(13, TensorProto.BOOL), inputs, opset=13,
          exact=True)


@pytest.mark.parametrize("opset,mask_type", [(7, TensorProto.FLOAT),
                                             (10, TensorProto.BOOL)])
def test_dropout_inference_old_opsets(tmp_path, opset, mask_type):
    # The mask keeps everything, as in ONNX's reference implementation (ORT
    # returns zeros for opsets 7-11, unlike its own opset 12+ kernel).
    inputs = {"x": rand((2, 6))}
    path = save_model(dropout_graph(opset, mask_type),
                      tmp_path / "model.onnx", opset)
    y, mask = run_lora(path, inputs)
    np.testing.assert_array_equal(y, inputs["x"])
    assert mask.dtype == helper.tensor_dtype_to_np_dtype(mask_type)
    assert mask.all()


# --- Export patterns -------------------------------------------------------

def test_gelu_tanh_spelled_out(tmp_path):
    # GPT-2 gelu_new: 0.5*x*(1+Tanh(0.79788456*(x+0.044715*Pow(x,3)))).
    inputs = {"x": rand((2, 16, 64))}
    nodes = [
        helper.make_node("Pow", ["x", "three"], ["x3"]),
        helper.make_node("Mul", ["c", "x3"], ["cx3"]),
        helper.make_node("Add", ["x", "cx3"], ["inner"]),
        helper.make_node("Mul", ["k", "inner"], ["scaled"]),
        helper.make_node("Tanh", ["scaled"], ["t"]),
        helper.make_node("Add", ["one", "t"], ["onept"]),
        helper.make_node("Mul", ["half", "x"], ["hx"]),
        helper.make_node("Mul", ["hx", "onept"], ["y"]),
    ]
    inits = [const("three", 3.0), const("c", 0.044715),
             const("k", 0.7978845834732056), const("one", 1.0),
             const("half", 0.5)]
    check(tmp_path, build(nodes, inputs, ["y"], inits), inputs)


def test_gelu_erf_spelled_out(tmp_path):
    # BERT: 0.5*x*(1+Erf(x/1.4142135)).
    inputs = {"x": rand((2, 16, 64))}
    nodes = [
        helper.make_node("Div", ["x", "sqrt2"], ["xs"]),
        helper.make_node("Erf", ["xs"], ["e"]),
        helper.make_node("Add", ["e", "one"], ["ope"]),
        helper.make_node("Mul", ["x", "ope"], ["xo"]),
        helper.make_node("Mul", ["xo", "half"], ["y"]),
    ]
    inits = [const("sqrt2", 1.4142135), const("one", 1.0), const("half", 0.5)]
    check(tmp_path, build(nodes, inputs, ["y"], inits), inputs)


@pytest.mark.parametrize("form", ["reciprocal", "div"])
def test_rmsnorm_scale_chain(tmp_path, form):
    # Llama: Pow(x, 2) -> (mean) -> Add eps -> Sqrt -> Reciprocal / Div(1, .)
    inputs = {"ms": np.abs(rand((2, 16, 1))) + 1e-3}
    last = (helper.make_node("Reciprocal", ["s"], ["y"]) if form == "reciprocal"
            else helper.make_node("Div", ["one", "s"], ["y"]))
    nodes = [helper.make_node("Pow", ["ms", "two"], ["sq"]),
             helper.make_node("Add", ["sq", "eps"], ["v"]),
             helper.make_node("Sqrt", ["v"], ["s"]), last]
    inits = [const("two", 2.0), const("eps", 1e-6), const("one", 1.0)]
    check(tmp_path, build(nodes, inputs, ["y"], inits), inputs, exact=True)


def test_silu(tmp_path):
    inputs = {"x": rand((2, 16, 128))}
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"]),
             helper.make_node("Mul", ["x", "s"], ["y"])]
    check(tmp_path, build(nodes, inputs, ["y"]), inputs)
