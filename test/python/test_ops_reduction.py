"""End-to-end checks of MatMul/Gemm, the Reduce* family, ArgMax/ArgMin,
Softmax/LogSoftmax, LayerNormalization, RMSNormalization and CumSum against
ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest
import onnx
from onnx import TensorProto, helper, numpy_helper

from conftest import check_against_ort, ort_run, run_lora, save_model

RNG = np.random.default_rng(0)

DTYPES = {
    np.float32: TensorProto.FLOAT,
    np.float64: TensorProto.DOUBLE,
    np.float16: TensorProto.FLOAT16,
    np.int32: TensorProto.INT32,
    np.int64: TensorProto.INT64,
}


def rand(shape, dtype=np.float32):
    if np.issubdtype(dtype, np.integer):
        return RNG.integers(-20, 20, size=shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


def graph(op, inputs, outputs=1, attrs=None, initializers=(),
          node_inputs=None, out_dtype=None, opset=18):
    """A one-node graph; `inputs` maps graph input names to arrays. Outputs
    have the first input's element type unless `out_dtype` (one type, or one
    per output) says otherwise, and the shapes ONNX infers at `opset`."""
    vis = [helper.make_tensor_value_info(n, DTYPES[a.dtype.type], a.shape)
           for n, a in inputs.items()]
    if out_dtype is None:
        out_dtype = next(iter(inputs.values())).dtype.type
    if not isinstance(out_dtype, list):
        out_dtype = [out_dtype] * outputs
    outs = [helper.make_tensor_value_info(f"y{i}", DTYPES[t], None)
            for i, t in enumerate(out_dtype)]
    node = helper.make_node(op, node_inputs or list(inputs),
                            [o.name for o in outs], **(attrs or {}))
    g = helper.make_graph([node], op.lower(), vis, outs, list(initializers))
    # The checker wants output shapes: let ONNX shape inference fill them in.
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    inferred = onnx.shape_inference.infer_shapes(model)
    return inferred.graph


def const(name, values, dtype=np.int64):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


# --- MatMul / Gemm ----------------------------------------------------------

@pytest.mark.parametrize("a_shape,b_shape", [
    ((2, 16, 64), (64, 32)),        # linear layer
    ((2, 4, 16, 8), (2, 4, 8, 16)),  # attention scores
    ((2, 1, 5, 8), (3, 8, 4)),       # batch broadcast both ways
    ((5, 8), (3, 8, 4)),             # weight-like left side
    ((8,), (8, 4)),                  # vector x matrix
    ((2, 5, 8), (8,)),               # matrix x vector
    ((8,), (8,)),                    # dot product
    ((3, 8), (1, 1, 8, 4)),          # rank-promoted unit batch
])
def test_matmul(tmp_path, a_shape, b_shape):
    inputs = {"a": rand(a_shape), "b": rand(b_shape)}
    check_against_ort(tmp_path, graph("MatMul", inputs), inputs, opset=13)


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.int64])
def test_matmul_dtypes(tmp_path, dtype):
    inputs = {"a": rand((2, 3, 5), dtype), "b": rand((5, 4), dtype)}
    check_against_ort(tmp_path, graph("MatMul", inputs), inputs, opset=13)


@pytest.mark.parametrize("c_shape", [None, (), (1,), (6,), (4, 1), (1, 6),
                                     (4, 6)])
@pytest.mark.parametrize("trans_a,trans_b,alpha,beta",
                         [(0, 0, 1.0, 1.0), (1, 1, 0.5, 2.0)])
def test_gemm(tmp_path, c_shape, trans_a, trans_b, alpha, beta):
    a = rand((5, 4) if trans_a else (4, 5))
    b = rand((6, 5) if trans_b else (5, 6))
    inputs = {"a": a, "b": b}
    if c_shape is not None:
        inputs["c"] = rand(c_shape)
    attrs = dict(transA=trans_a, transB=trans_b, alpha=alpha, beta=beta)
    check_against_ort(tmp_path, graph("Gemm", inputs, attrs=attrs), inputs,
                      opset=13)


def test_gemm_opset9_and_beta0(tmp_path):
    inputs = {"a": rand((4, 5)), "b": rand((5, 6)), "c": rand((6,))}
    check_against_ort(tmp_path, graph("Gemm", inputs), inputs, opset=9)
    check_against_ort(tmp_path, graph("Gemm", inputs, attrs={"beta": 0.0}),
                      inputs, opset=13)


# --- Reduce* ---------------------------------------------------------------

REDUCE_OPS = ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin",
              "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare",
              "ReduceLogSum", "ReduceLogSumExp"]


def reduce_graph(op, x, axes, keepdims, opset):
    inputs = {"x": x}
    attrs = {} if keepdims is None else {"keepdims": keepdims}
    axes_as_input = opset >= (13 if op == "ReduceSum" else 18)
    if axes is None:
        return graph(op, inputs, attrs=attrs, opset=opset)
    if not axes_as_input:
        return graph(op, inputs, attrs={**attrs, "axes": axes}, opset=opset)
    return graph(op, inputs, attrs=attrs, node_inputs=["x", "axes"],
                 initializers=[const("axes", axes)], opset=opset)


def reduce_input(op, shape):
    x = rand(shape)
    if op == "ReduceLogSum":
        return np.abs(x) + 0.1
    if op == "ReduceProd":
        return (1.0 + 0.1 * x).astype(np.float32)
    return x


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("opset,axes,keepdims", [
    (13, [-1], 1), (13, [0, 2], 0),  # axes attribute (input for ReduceSum)
    (18, None, 1), (18, [1, 2], None),  # axes input
])
def test_reduce(tmp_path, op, opset, axes, keepdims):
    x = reduce_input(op, (2, 3, 8))
    check_against_ort(tmp_path, reduce_graph(op, x, axes, keepdims, opset),
                      {"x": x}, opset=opset)


def test_reduce_sum_axes_attribute(tmp_path):
    x = rand((2, 3, 8))
    check_against_ort(tmp_path, reduce_graph("ReduceSum", x, [0, -1], 0, 11),
                      {"x": x}, opset=11)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMax", "ReduceMin",
                                "ReduceSumSquare", "ReduceL1"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_reduce_int(tmp_path, op, dtype):
    x = rand((3, 5), dtype)
    check_against_ort(tmp_path, reduce_graph(op, x, [1], 0, 18),
                      {"x": x}, opset=18)


def test_reduce_noop_with_empty_axes(tmp_path):
    x = rand((2, 3))
    inputs = {"x": x}
    g = graph("ReduceMax", inputs, attrs={"noop_with_empty_axes": 1},
              node_inputs=["x", "axes"],
              initializers=[const("axes", np.zeros(0))])
    check_against_ort(tmp_path, g, inputs, opset=18)
    # ORT 1.23 rejects a missing axes input with noop_with_empty_axes=1
    # ("output size should be 1"); ONNX defines it as the identity.
    g = graph("ReduceSum", inputs, attrs={"noop_with_empty_axes": 1},
              opset=13)
    (actual,) = run_lora(save_model(g, tmp_path / "noop.onnx", 13), inputs)
    np.testing.assert_array_equal(actual, x)


def test_reduce_mean_accuracy(tmp_path):
    # Llama's RMSNorm is Pow -> ReduceMean(-1): the bar is 1e-6 relative.
    x = (3.0 * rand((2, 16, 64)) + 1.0).astype(np.float32)
    g = reduce_graph("ReduceMean", x, [-1], 1, 18)
    check_against_ort(tmp_path, g, {"x": x}, opset=18, tol=1e-6)
    g = reduce_graph("ReduceMean", x, [-1], None, 17)
    check_against_ort(tmp_path, g, {"x": x}, opset=17, tol=1e-6)


def test_reduce_logsumexp_infinities(tmp_path):
    x = rand((4, 6))
    x[0, :] = -np.inf
    x[1, 2] = np.inf
    x[2, 3] = -np.inf
    path = save_model(reduce_graph("ReduceLogSumExp", x, [1], 1, 18),
                      tmp_path / "m.onnx", 18)
    (expected,) = ort_run(path, {"x": x})
    (actual,) = run_lora(path, {"x": x})
    np.testing.assert_allclose(actual, expected, rtol=1e-6)
    assert actual[0, 0] == -np.inf and actual[1, 0] == np.inf


# --- ArgMax / ArgMin -------------------------------------------------------

@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
@pytest.mark.parametrize("axis,keepdims,last", [(0, 1, 0), (-1, 0, 0),
                                                (1, 1, 1)])
def test_arg(tmp_path, op, dtype, axis, keepdims, last):
    # Few distinct values, so that ties exercise select_last_index.
    x = RNG.integers(0, 3, size=(3, 5, 4)).astype(dtype)
    attrs = {"axis": axis, "keepdims": keepdims, "select_last_index": last}
    g = graph(op, {"x": x}, attrs=attrs, out_dtype=np.int64)
    check_against_ort(tmp_path, g, {"x": x}, opset=13)


# --- Softmax / LogSoftmax --------------------------------------------------

@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("opset,axis", [(13, None), (13, 1), (13, -3),
                                        (11, None), (11, -1), (11, 0),
                                        (1, 2)])
def test_softmax(tmp_path, op, opset, axis):
    x = (4.0 * rand((2, 3, 5, 4))).astype(np.float32)
    attrs = {} if axis is None else {"axis": axis}
    check_against_ort(tmp_path, graph(op, {"x": x}, attrs=attrs, opset=opset),
                      {"x": x}, opset=opset)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_masked_rows(tmp_path, op):
    # The causal/padding mask pattern: additive -inf, one row fully masked.
    x = rand((2, 4, 6))
    x[0, 1, 3:] = -np.inf
    x[1, 2, :] = -np.inf
    x[1, 3, 0] = -np.inf
    path = save_model(graph(op, {"x": x}), tmp_path / "m.onnx", 13)
    (expected,) = ort_run(path, {"x": x})
    (actual,) = run_lora(path, {"x": x})
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    assert np.isnan(actual[1, 2]).all()
    if op == "Softmax":
        assert (actual[0, 1, 3:] == 0).all() and actual[1, 3, 0] == 0
    else:
        assert (actual[0, 1, 3:] == -np.inf).all()
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)


def test_softmax_f64(tmp_path):
    x = rand((3, 7), np.float64)
    check_against_ort(tmp_path, graph("Softmax", {"x": x}), {"x": x},
                      opset=13)


# --- LayerNormalization / RMSNormalization ---------------------------------

@pytest.mark.parametrize("shape,axis", [((2, 16, 64), -1), ((2, 3, 4, 8), 2),
                                        ((4, 6), 0)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_layer_norm(tmp_path, shape, axis, with_bias):
    x = (2.0 * rand(shape) + 0.5).astype(np.float32)
    norm_shape = shape[axis:] if axis != -1 else shape[-1:]
    inputs = {"x": x}
    inits = [numpy_helper.from_array(rand(norm_shape), "scale")]
    names = ["x", "scale"]
    if with_bias:
        inits.append(numpy_helper.from_array(rand(norm_shape), "bias"))
        names.append("bias")
    g = graph("LayerNormalization", inputs, outputs=3, node_inputs=names,
              attrs={"axis": axis, "epsilon": 1e-5}, initializers=inits)
    check_against_ort(tmp_path, g, inputs, opset=17)


@pytest.mark.parametrize("epsilon,stash", [(1e-12, None), (1e-5, 1)])
def test_layer_norm_export_forms(tmp_path, epsilon, stash):
    # GPT-2/BERT: axis -1, scale and bias initializers, Y only.
    x = rand((2, 16, 64))
    attrs = {"axis": -1, "epsilon": epsilon}
    if stash is not None:
        attrs["stash_type"] = stash
    inits = [numpy_helper.from_array(rand((64,)), "scale"),
             numpy_helper.from_array(rand((64,)), "bias")]
    g = graph("LayerNormalization", {"x": x}, attrs=attrs,
              node_inputs=["x", "scale", "bias"], initializers=inits)
    check_against_ort(tmp_path, g, {"x": x}, opset=17)


def test_layer_norm_f64(tmp_path):
    # ORT's double kernel computes in double whatever stash_type says.
    x = rand((3, 10), np.float64)
    inits = [numpy_helper.from_array(rand((10,), np.float64), "scale")]
    g = graph("LayerNormalization", {"x": x}, outputs=3,
              node_inputs=["x", "scale"], initializers=inits,
              out_dtype=[np.float64, np.float32, np.float32])
    check_against_ort(tmp_path, g, {"x": x}, opset=17)


@pytest.mark.parametrize("axis", [-1, 1])
def test_rms_norm(tmp_path, axis):
    x = rand((2, 16, 64))
    scale_shape = (64,) if axis == -1 else (16, 64)
    inits = [numpy_helper.from_array(rand(scale_shape), "scale")]
    g = graph("RMSNormalization", {"x": x}, attrs={"axis": axis,
                                                   "epsilon": 1e-6},
              node_inputs=["x", "scale"], initializers=inits, opset=23)
    check_against_ort(tmp_path, g, {"x": x}, opset=23)


# --- CumSum -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.int64])
@pytest.mark.parametrize("axis,exclusive,reverse", [(1, 0, 0), (-1, 1, 0),
                                                    (0, 0, 1), (1, 1, 1)])
def test_cumsum(tmp_path, dtype, axis, exclusive, reverse):
    x = rand((3, 13, 2), dtype)
    g = graph("CumSum", {"x": x}, node_inputs=["x", "axis"],
              attrs={"exclusive": exclusive, "reverse": reverse},
              initializers=[const("axis", axis)])
    check_against_ort(tmp_path, g, {"x": x}, opset=14)


def test_cumsum_long_axis(tmp_path):
    # 9 doubling steps; the grouping differs from ORT's running sum.
    x = rand((2, 300))
    g = graph("CumSum", {"x": x}, node_inputs=["x", "axis"],
              initializers=[const("axis", [1])])
    check_against_ort(tmp_path, g, {"x": x}, opset=11)


# --- float16 --------------------------------------------------------------
# ORT runs f16 nodes without a CPU f16 kernel in f32 between casts, which is
# what the converters do: the results agree to f16 rounding.

F16_CASES = {
    "MatMul": ({"a": (2, 4, 64), "b": (64, 8)}, [], {}),
    "Gemm": ({"a": (4, 64), "b": (8, 64), "c": (8,)}, [], {"transB": 1}),
    "ReduceMean": ({"x": (2, 16, 64)}, [("axes", [-1])], {}),
    "ReduceSum": ({"x": (2, 16, 64)}, [("axes", [1, 2])], {}),
    "ReduceMax": ({"x": (2, 16, 64)}, [("axes", [0])], {"keepdims": 0}),
    "Softmax": ({"x": (2, 16, 64)}, [], {}),
    "LayerNormalization": ({"x": (2, 16, 64)}, [("scale", (64,)),
                                                ("bias", (64,))], {}),
    "CumSum": ({"x": (2, 16, 8)}, [("axis", 1)], {}),
    "ArgMax": ({"x": (2, 16, 8)}, [], {"axis": 1}),
}


@pytest.mark.parametrize("op", F16_CASES)
def test_f16(tmp_path, op):
    shapes, inits, attrs = F16_CASES[op]
    inputs = {n: rand(sh).astype(np.float16) for n, sh in shapes.items()}
    initializers = [const(n, v) if n in ("axes", "axis") else
                    numpy_helper.from_array(rand(v).astype(np.float16), n)
                    for n, v in inits]
    g = graph(op, inputs, attrs=attrs, initializers=initializers,
              node_inputs=list(inputs) + [n for n, _ in inits],
              out_dtype=np.int64 if op == "ArgMax" else None)
    opset = 17 if op == "LayerNormalization" else 18
    check_against_ort(tmp_path, g, inputs, opset=opset, tol=1e-3)

