"""End-to-end checks of the data-movement / shape converters and of constant
folding against ONNX Runtime.

Each case is a one- or few-node graph run through lora-run and ORT.  Inputs
given as numpy arrays are graph inputs (run-time data, the TOSA path);
`inits` become initializers (constants, the folding path).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import check_against_ort

INT64_MAX = np.iinfo(np.int64).max
rng = np.random.default_rng(0)


def rand(*shape, dtype=np.float32):
    if dtype == np.bool_:
        return rng.random(shape) > 0.5
    if np.issubdtype(dtype, np.integer):
        return rng.integers(-50, 50, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def check(tmp_path, nodes, inputs, opset=18, inits=None, outputs=("y",)):
    """Builds a graph of `nodes`; output types come from ONNX shape inference."""
    inits = inits or {}
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(
            n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for n, v in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None)
         for o in outputs],
        [numpy_helper.from_array(np.asarray(v), n) for n, v in inits.items()])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)])
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    known = {vi.name: vi for vi in inferred.graph.output}
    del graph.output[:]
    graph.output.extend(known[o] for o in outputs)
    return check_against_ort(tmp_path, graph, inputs, opset)


def const(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


# --- Reshape family ---------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.float16])
@pytest.mark.parametrize("shape,opset,allowzero", [
    ([-1, 0, 2], 13, 0), ([4, -1], 14, 1), ([24], 5, 0)])
def test_reshape(tmp_path, dtype, shape, opset, allowzero):
    attrs = {"allowzero": allowzero} if opset >= 14 else {}
    node = helper.make_node("Reshape", ["x", "s"], ["y"], **attrs)
    check(tmp_path, [node], {"x": rand(2, 3, 4, dtype=dtype)}, opset,
          {"s": np.array(shape, np.int64)})


@pytest.mark.parametrize("opset,axes", [(11, [0, -2]), (13, [0, 2]),
                                        (13, None)])
def test_squeeze(tmp_path, opset, axes):
    if opset < 13:
        node = helper.make_node("Squeeze", ["x"], ["y"], axes=axes)
        inits = {}
    elif axes is None:
        node = helper.make_node("Squeeze", ["x"], ["y"])
        inits = {}
    else:
        node = helper.make_node("Squeeze", ["x", "a"], ["y"])
        inits = {"a": np.array(axes, np.int64)}
    check(tmp_path, [node], {"x": rand(1, 3, 1, 4)}, opset, inits)


@pytest.mark.parametrize("opset,axes", [(11, [0, -1]), (13, [1, -1])])
def test_unsqueeze(tmp_path, opset, axes):
    if opset < 13:
        node = helper.make_node("Unsqueeze", ["x"], ["y"], axes=axes)
        inits = {}
    else:
        node = helper.make_node("Unsqueeze", ["x", "a"], ["y"])
        inits = {"a": np.array(axes, np.int64)}
    check(tmp_path, [node], {"x": rand(3, 4, dtype=np.int64)}, opset, inits)


@pytest.mark.parametrize("axis", [0, 2, -1])
def test_flatten(tmp_path, axis):
    node = helper.make_node("Flatten", ["x"], ["y"], axis=axis)
    check(tmp_path, [node], {"x": rand(2, 3, 4, dtype=np.bool_)}, 13)


# --- Transpose / Concat -----------------------------------------------------

@pytest.mark.parametrize("perm", [None, (0, 2, 1, 3), (0, 2, 3, 1),
                                  (0, 1, 3, 2)])
def test_transpose(tmp_path, perm):
    attrs = {"perm": perm} if perm else {}
    node = helper.make_node("Transpose", ["x"], ["y"], **attrs)
    check(tmp_path, [node], {"x": rand(2, 3, 4, 5)}, 13)


@pytest.mark.parametrize("dtype,axis", [(np.float32, -1), (np.int64, 0),
                                        (np.bool_, 1)])
def test_concat(tmp_path, dtype, axis):
    node = helper.make_node("Concat", ["a", "b", "c"], ["y"], axis=axis)
    shapes = {-1: [(2, 3, 1), (2, 3, 4), (2, 3, 2)],
              0: [(1, 3, 4), (2, 3, 4), (3, 3, 4)],
              1: [(2, 1, 4), (2, 2, 4), (2, 5, 4)]}[axis]
    check(tmp_path, [node], {n: rand(*s, dtype=dtype)
                             for n, s in zip("abc", shapes)}, 13)


def test_concat_with_constant(tmp_path):
    node = helper.make_node("Concat", ["x", "c"], ["y"], axis=0)
    check(tmp_path, [node], {"x": rand(2, 3)}, 13, {"c": rand(1, 3)})


# --- Slice ------------------------------------------------------------------

@pytest.mark.parametrize("starts,ends,axes,steps", [
    ([0], [8], [3], [1]),                        # rotate_half first half
    ([8], [INT64_MAX], [3], [1]),                # second half, INT64_MAX end
    ([-3, 1], [-1, 100], [1, 2], None),          # negative / clamped
    ([INT64_MAX], [-INT64_MAX], [-1], [-1]),     # full reverse
    ([5, 0], [0, 16], [1, 3], [-2, 3]),          # negative and >1 steps
    ([1], [5], None, None),                      # axes omitted
    ([3], [1], [2], [1]),                        # empty -> empty constant
])
def test_slice(tmp_path, starts, ends, axes, steps):
    names = ["x", "starts", "ends"]
    inits = {"starts": np.array(starts, np.int64),
             "ends": np.array(ends, np.int64)}
    if axes is not None or steps is not None:
        names.append("axes")
        inits["axes"] = np.array(axes if axes is not None
                                 else range(len(starts)), np.int64)
    if steps is not None:
        names.append("steps")
        inits["steps"] = np.array(steps, np.int64)
    node = helper.make_node("Slice", names, ["y"])
    if ends == [1]:
        # An empty result: feed it to a Concat so the graph output is not.
        nodes = [helper.make_node("Slice", names, ["s"]),
                 helper.make_node("Concat", ["s", "x"], ["y"], axis=2)]
        check(tmp_path, nodes, {"x": rand(2, 6, 4, 16)}, 13, inits)
        return
    check(tmp_path, [node], {"x": rand(2, 6, 4, 16)}, 13, inits)


def test_slice_opset1(tmp_path):
    node = helper.make_node("Slice", ["x"], ["y"], starts=[1, -3],
                            ends=[100, -1], axes=[0, 2])
    check(tmp_path, [node], {"x": rand(3, 4, 5)}, 9)


def test_slice_int32_params(tmp_path):
    node = helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"])
    check(tmp_path, [node], {"x": rand(6, 7, dtype=np.int64)}, 13,
          {"s": np.array([-1], np.int32), "e": np.array([-8], np.int32),
           "a": np.array([1], np.int32), "t": np.array([-3], np.int32)})


# --- Split ------------------------------------------------------------------

@pytest.mark.parametrize("opset,form", [
    (11, "attr"), (13, "input"), (13, "equal"), (17, "input"),
    (18, "num_outputs"), (18, "input")])
def test_split(tmp_path, opset, form):
    outs = ["y0", "y1", "y2"]
    x = rand(2, 3, 11) if form == "num_outputs" else rand(2, 3, 12)
    inits = {}
    if form == "attr":
        node = helper.make_node("Split", ["x"], outs, axis=2, split=[4, 6, 2])
    elif form == "input":
        node = helper.make_node("Split", ["x", "s"], outs, axis=-1)
        inits = {"s": np.array([4, 6, 2], np.int64)}
    elif form == "equal":
        node = helper.make_node("Split", ["x"], outs, axis=2)
    else:
        node = helper.make_node("Split", ["x"], outs, axis=2, num_outputs=3)
    check(tmp_path, [node], {"x": x}, opset, inits, outputs=outs)


# --- Gather family ----------------------------------------------------------

def test_gather_embedding(tmp_path):
    node = helper.make_node("Gather", ["w", "ids"], ["y"], axis=0)
    ids = rng.integers(0, 128, (2, 16)).astype(np.int64)
    check(tmp_path, [node], {"w": rand(128, 64), "ids": ids}, 13)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
@pytest.mark.parametrize("axis,indices", [
    (1, [[0, -1, 2], [-4, 1, 3]]),   # negative run-time indices
    (-1, [[4, 0]]),
    (0, 2),                          # scalar index drops the dim
    (2, [-5, 3, 3])])
def test_gather(tmp_path, dtype, axis, indices):
    node = helper.make_node("Gather", ["x", "i"], ["y"], axis=axis)
    check(tmp_path, [node], {"x": rand(3, 4, 5, dtype=dtype),
                             "i": np.array(indices, np.int64)}, 13)


@pytest.mark.parametrize("index_dtype", [np.int64, np.int32])
def test_gather_constant_indices(tmp_path, index_dtype):
    # TorchScript position embeddings: Gather(wpe, Constant [1, S]).
    node = helper.make_node("Gather", ["x", "i"], ["y"], axis=1)
    check(tmp_path, [node], {"x": rand(3, 6, 2)}, 13,
          {"i": np.array([[0, -1, 2, 5]], index_dtype)})


def test_gather_bool_mask(tmp_path):
    # TorchScript padding mask: Flatten a bool mask, Gather rows b*S + kv.
    nodes = [helper.make_node("Cast", ["m"], ["b"], to=TensorProto.BOOL),
             helper.make_node("Flatten", ["b"], ["f"], axis=2),
             helper.make_node("Gather", ["f", "i"], ["y"], axis=0)]
    mask = rng.integers(0, 2, (2, 4, 1)).astype(np.int64)
    idx = (np.arange(2)[:, None, None] * 4 + np.arange(4)).astype(np.int64)
    check(tmp_path, nodes, {"m": mask, "i": idx}, 13)


@pytest.mark.parametrize("batch_dims,constant", [(0, True), (0, False),
                                                 (1, False), (1, True)])
def test_gather_nd(tmp_path, batch_dims, constant):
    x = rand(2, 3, 4, 5)
    if batch_dims == 0:
        idx = np.array([[[0, 2], [1, -1]], [[-2, 2], [0, 0]]], np.int64)
    else:
        idx = np.array([[[2, 3], [-1, 0]], [[0, 1], [1, -4]]], np.int64)
    node = helper.make_node("GatherND", ["x", "i"], ["y"],
                            batch_dims=batch_dims)
    if constant:
        check(tmp_path, [node], {"x": x}, 13, {"i": idx})
    else:
        check(tmp_path, [node], {"x": x, "i": idx}, 13)


def test_gather_nd_dynamo_mask(tmp_path):
    # dynamo padding mask: GatherND(bool mask [B,S], int64 init [B,1,1,S,2]).
    b, s = 2, 5
    idx = np.stack(np.broadcast_arrays(
        np.arange(b)[:, None, None, None], np.arange(s)[None, None, None, :]),
        axis=-1).astype(np.int64)
    nodes = [helper.make_node("Cast", ["m"], ["c"], to=TensorProto.BOOL),
             helper.make_node("GatherND", ["c", "i"], ["y"], batch_dims=0)]
    mask = rng.integers(0, 2, (b, s)).astype(np.int64)
    check(tmp_path, nodes, {"m": mask}, 18, {"i": idx})


@pytest.mark.parametrize("axis,constant", [(0, False), (1, True), (-1, False)])
def test_gather_elements(tmp_path, axis, constant):
    x = rand(3, 4)
    idx = rng.integers(-3, 3, (2, 4) if axis == 0 else (3, 3)).astype(np.int64)
    node = helper.make_node("GatherElements", ["x", "i"], ["y"], axis=axis)
    if constant:
        check(tmp_path, [node], {"x": x}, 13, {"i": idx})
    else:
        check(tmp_path, [node], {"x": x, "i": idx}, 13)


# --- Expand / Tile / Trilu / Pad -------------------------------------------

@pytest.mark.parametrize("dtype,in_shape,shape", [
    (np.float32, (3, 1), [2, 1, 4]),
    (np.bool_, (1, 1, 4), [2, 3, 1]),
    (np.int64, (2, 1, 16), [1, 2, 1, 1]),
    (np.float32, (1, 8, 1), [1, 8, 1])])
def test_expand(tmp_path, dtype, in_shape, shape):
    node = helper.make_node("Expand", ["x", "s"], ["y"])
    check(tmp_path, [node], {"x": rand(*in_shape, dtype=dtype)}, 13,
          {"s": np.array(shape, np.int64)})


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_tile(tmp_path, dtype):
    node = helper.make_node("Tile", ["x", "r"], ["y"])
    check(tmp_path, [node], {"x": rand(2, 1, 3, dtype=dtype)}, 13,
          {"r": np.array([2, 3, 1], np.int64)})


@pytest.mark.parametrize("upper,k", [(1, None), (0, None), (1, 1), (0, -1),
                                     (1, -2)])
def test_trilu(tmp_path, upper, k):
    names = ["x"] + (["k"] if k is not None else [])
    inits = {"k": np.array(k, np.int64)} if k is not None else {}
    node = helper.make_node("Trilu", names, ["y"], upper=upper)
    check(tmp_path, [node], {"x": rand(2, 4, 5)}, 14, inits)


@pytest.mark.parametrize("mode,pads,opset", [
    ("constant", [0, 1, 2, 1, 0, 3], 13),
    ("constant", [0, -1, 1, 0, 2, -1], 13),
    ("edge", [1, 0, 2, 2, 1, 0], 13),
    ("reflect", [0, 2, 1, 0, 1, 3], 13),
    ("wrap", [1, 3, 0, 0, 2, 4], 19)])
def test_pad(tmp_path, mode, pads, opset):
    node = helper.make_node("Pad", ["x", "p", "v"], ["y"], mode=mode)
    inits = {"p": np.array(pads, np.int64)}
    if mode == "constant":
        inits["v"] = np.array(1.5, np.float32)
    else:
        node = helper.make_node("Pad", ["x", "p"], ["y"], mode=mode)
    check(tmp_path, [node], {"x": rand(2, 3, 4)}, opset, inits)


def test_pad_attr_and_axes(tmp_path):
    node = helper.make_node("Pad", ["x"], ["y"], pads=[1, 0, 0, 2], value=-2.0)
    check(tmp_path, [node], {"x": rand(3, 4)}, 2)
    node = helper.make_node("Pad", ["x", "p", "", "a"], ["y"])
    check(tmp_path, [node], {"x": rand(3, 4, dtype=np.int64)}, 18,
          {"p": np.array([1, 2], np.int64), "a": np.array([-1], np.int64)})


# --- Shape-valued ops and constants ----------------------------------------

@pytest.mark.parametrize("start,end", [(None, None), (1, None), (-2, -1),
                                       (0, 100)])
def test_shape(tmp_path, start, end):
    attrs = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    nodes = [helper.make_node("Shape", ["x"], ["y"], **attrs),
             helper.make_node("Size", ["x"], ["z"])]
    check(tmp_path, nodes, {"x": rand(2, 3, 4)}, 15, outputs=("y", "z"))


@pytest.mark.parametrize("attr,value", [
    ("value_float", 2.5), ("value_floats", [1.0, -2.0]), ("value_int", 7),
    ("value_ints", [3, -4, 5]),
    ("value", numpy_helper.from_array(np.array([[1, 2]], np.int32)))])
def test_constant(tmp_path, attr, value):
    c = helper.make_node("Constant", [], ["c"], **{attr: value})
    dtype = {"value_float": np.float32, "value_floats": np.float32,
             "value": np.int32}.get(attr, np.int64)
    nodes = [c, helper.make_node("Add", ["x", "c"], ["y"])]
    check(tmp_path, nodes, {"x": rand(2, 1, dtype=dtype)}, 13)


@pytest.mark.parametrize("dtype,args", [
    (np.float32, (0.5, 3.2, 0.37)), (np.int64, (10, -3, -3)),
    (np.int32, (-2, 9, 4)), (np.float64, (1.0, -1.0, -0.25))])
def test_range(tmp_path, dtype, args):
    inits = {n: np.array(v, dtype) for n, v in zip(["s", "l", "d"], args)}
    nodes = [helper.make_node("Range", ["s", "l", "d"], ["r"]),
             helper.make_node("Add", ["r", "x"], ["y"])]
    check(tmp_path, nodes, {"x": rand(1, dtype=dtype)}, 13, inits)


@pytest.mark.parametrize("value", [None, np.array([True]),
                                   np.array([3], np.int64)])
def test_constant_of_shape(tmp_path, value):
    attrs = {"value": numpy_helper.from_array(value)} if value is not None \
        else {}
    dtype = np.float32 if value is None else value.dtype
    op = "Xor" if dtype == np.bool_ else "Add"
    nodes = [helper.make_node("ConstantOfShape", ["s"], ["c"], **attrs),
             helper.make_node(op, ["c", "x"], ["y"])]
    check(tmp_path, nodes, {"x": rand(3, dtype=dtype)}, 13,
          {"s": np.array([2, 3], np.int64)})


# --- Folding ------------------------------------------------------------------

def test_fold_torchscript_reshape_chain(tmp_path):
    # Shape -> Gather -> Unsqueeze -> Concat -> Reshape (split heads).
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["b"], axis=0),
        helper.make_node("Gather", ["s", "one"], ["t"], axis=0),
        helper.make_node("Unsqueeze", ["b", "ax"], ["bu"]),
        helper.make_node("Unsqueeze", ["t", "ax"], ["tu"]),
        helper.make_node("Concat", ["bu", "tu", "heads"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    check(tmp_path, nodes, {"x": rand(2, 5, 8)}, 17,
          {"zero": np.array(0, np.int64), "one": np.array(1, np.int64),
           "ax": np.array([0], np.int64),
           "heads": np.array([4, 2], np.int64)})


def test_fold_attention_scale(tmp_path):
    # Shape -> Slice -> Cast(float) -> Sqrt -> Div(1, .) -> Sqrt, times q.
    nodes = [
        helper.make_node("Shape", ["q"], ["s"]),
        helper.make_node("Slice", ["s", "m1", "big"], ["d"]),
        helper.make_node("Cast", ["d"], ["df"], to=TensorProto.FLOAT),
        helper.make_node("Sqrt", ["df"], ["r"]),
        helper.make_node("Div", ["one", "r"], ["inv"]),
        helper.make_node("Sqrt", ["inv"], ["scale"]),
        helper.make_node("Mul", ["q", "scale"], ["y"]),
    ]
    check(tmp_path, nodes, {"q": rand(2, 4, 3, 16)}, 17,
          {"m1": np.array([-1], np.int64),
           "big": np.array([INT64_MAX], np.int64),
           "one": np.array(1.0, np.float32)})


def test_fold_expand_shape(tmp_path):
    # torch expand(-1 ...) -> ConstantOfShape, Mul, Equal, Where, Expand.
    nodes = [
        helper.make_node("ConstantOfShape", ["n"], ["ones"],
                         value=numpy_helper.from_array(
                             np.array([1], np.int64))),
        helper.make_node("Mul", ["ones", "m1"], ["neg"]),
        helper.make_node("Equal", ["want", "neg"], ["eq"]),
        helper.make_node("Where", ["eq", "ones", "want"], ["shape"]),
        helper.make_node("Expand", ["x", "shape"], ["y"]),
    ]
    check(tmp_path, nodes, {"x": rand(2, 1, 5)}, 17,
          {"n": np.array([3], np.int64), "m1": np.array(-1, np.int64),
           "want": np.array([2, 3, -1], np.int64)})


def test_fold_logic_and_compare(tmp_path):
    # The TorchScript causal mask: LessOrEqual of constants, And, Not, Or.
    nodes = [
        helper.make_node("LessOrEqual", ["kv", "q"], ["le"]),
        helper.make_node("Greater", ["kv", "q"], ["gt"]),
        helper.make_node("Not", ["gt"], ["ngt"]),
        helper.make_node("And", ["le", "ngt"], ["both"]),
        helper.make_node("Or", ["both", "gt"], ["all"]),
        helper.make_node("And", ["le", "m"], ["y"]),
        helper.make_node("Xor", ["all", "m"], ["z"]),
    ]
    check(tmp_path, nodes, {"m": rand(1, 1, 4, 4, dtype=np.bool_)}, 17,
          {"kv": np.arange(4, dtype=np.int64).reshape(1, 1, 1, 4),
           "q": np.arange(4, dtype=np.int64).reshape(1, 1, 4, 1)},
          outputs=("y", "z"))


@pytest.mark.parametrize("op,a,b", [
    ("Div", [7, -7, 9], [2, 2, -4]), ("Mod", [7, -7, 9], [3, 3, -4]),
    ("Sub", [1, 2, 3], [5, 5, 5]), ("Max", [1, 9, -3], [2, 2, 2]),
    ("Div", [1.0, 3.0, -2.0], [3.0, 7.0, 0.1])])
def test_fold_arithmetic(tmp_path, op, a, b):
    dtype = np.float32 if isinstance(a[0], float) else np.int64
    nodes = [helper.make_node(op, ["a", "b"], ["c"]),
             helper.make_node("Add", ["c", "x"], ["y"])]
    check(tmp_path, nodes, {"x": rand(3, dtype=dtype)}, 13,
          {"a": np.array(a, dtype), "b": np.array(b, dtype)})


@pytest.mark.parametrize("to,values", [
    (TensorProto.INT64, [1.9, -2.7, 0.0]), (TensorProto.INT32, [3, -4, 5]),
    (TensorProto.FLOAT16, [0.1, 1e4, -3.3]), (TensorProto.BOOL, [0.0, 2.0, -0.5])])
def test_fold_cast(tmp_path, to, values):
    nodes = [helper.make_node("Cast", ["a"], ["c"], to=to),
             helper.make_node("Concat", ["c", "x"], ["y"], axis=0)]
    dtype = helper.tensor_dtype_to_np_dtype(to)
    source = np.int64 if to == TensorProto.INT32 else np.float32
    check(tmp_path, nodes, {"x": rand(2, dtype=dtype)}, 13,
          {"a": np.array(values, source)})


def test_fold_torchscript_llama(tmp_path):
    """The TorchScript Llama export is full of shape subgraphs (83 int64
    Constants, Shape/Gather/Concat/ConstantOfShape/Equal/Where chains): all
    of them must fold, leaving int64 only where the graph inputs enter.
    (test_models.py compares the exports' numerics with ONNX Runtime.)"""
    import subprocess

    from conftest import tool
    onnx_models = pytest.importorskip("onnx_models")
    path = str(tmp_path / "llama_ts.onnx")
    onnx_models.export_model("llama", "torchscript", path)
    ir = subprocess.run(
        [tool("lora-opt"), path, "--input-shape=input_ids:2x16,"
         "attention_mask:2x16", "--convert-onnx-to-tosa",
         "--mlir-elide-elementsattrs-if-larger=8",
         "--mlir-elide-resource-strings-if-larger=8"],
        capture_output=True, text=True, check=True).stdout
    assert "onnx.node" not in ir
    int64_ops = [line.strip() for line in ir.splitlines()
                 if "= tosa." in line and "i64" in line]
    assert all(op.split(" = ")[1].startswith("tosa.cast %arg")
               for op in int64_ops), int64_ops


@pytest.mark.parametrize("data_shape,indices,update_shape", [
    # Rows of a matrix, in a new order, one left alone.
    ((4, 3), [[2], [0], [3]], (3, 3)),
    # Single elements of a 3-D tensor, with a negative index.
    ((2, 3, 4), [[0, 1, 2], [1, -1, 0]], (2,)),
    # Every element, as the TorchScript mask update writes it.
    ((2, 1, 3, 3), np.stack(np.meshgrid(np.arange(2), [0], np.arange(3), np.arange(3),
                                        indexing="ij"), -1).tolist(), (2, 1, 3, 3)),
])
def test_scatternd(tmp_path, data_shape, indices, update_shape):
    indices = np.array(indices, dtype=np.int64)
    graph = helper.make_graph(
        [helper.make_node("ScatterND", ["data", "idx", "upd"], ["y"], name="s")], "g",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, list(data_shape)),
         helper.make_tensor_value_info("upd", TensorProto.FLOAT, list(update_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(data_shape))],
        [numpy_helper.from_array(indices, "idx")])
    rng = np.random.default_rng(0)
    inputs = {"data": rng.standard_normal(data_shape).astype(np.float32),
              "upd": rng.standard_normal(update_shape).astype(np.float32)}
    check_against_ort(tmp_path, graph, inputs, opset=17)
