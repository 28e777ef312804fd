"""The ONNX importer: every dtype, attribute kind and data location, and
every kind of bad input (clear error, non-zero exit, no output file)."""

from __future__ import annotations

import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_lora, save_model, tool

try:
    import ml_dtypes
except ImportError:  # pragma: no cover - pinned in requirements.txt
    ml_dtypes = None


def translate(model_path, *args, output=None):
    cmd = [tool("lora-translate"), "--import-onnx", str(model_path),
           "--mlir-elide-resource-strings-if-larger=64", *args]
    if output:
        cmd += ["-o", str(output)]
    return subprocess.run(cmd, capture_output=True, text=True)


def identity_graph(init: TensorProto, out_type: int):
    node = helper.make_node("Identity", [init.name], ["y"], name="id")
    return helper.make_graph(
        [node], "g", [], [helper.make_tensor_value_info("y", out_type, list(init.dims))],
        [init])


DTYPES = [
    (np.float32, TensorProto.FLOAT, "f32"),
    (np.float64, TensorProto.DOUBLE, "f64"),
    (np.float16, TensorProto.FLOAT16, "f16"),
    (np.int64, TensorProto.INT64, "i64"),
    (np.int32, TensorProto.INT32, "i32"),
    (np.int8, TensorProto.INT8, "i8"),
    (np.uint8, TensorProto.UINT8, "ui8"),
    (np.bool_, TensorProto.BOOL, "i1"),
]


def sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -100), min(info.max, 100), shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("typed_fields", [False, True], ids=["raw_data", "typed"])
@pytest.mark.parametrize("np_dtype,onnx_dtype,mlir", DTYPES, ids=[d[2] for d in DTYPES])
@pytest.mark.parametrize("shape", [(3, 4), (40, 50)], ids=["inline", "resource"])
def test_initializer_dtypes_round_trip(tmp_path, np_dtype, onnx_dtype, mlir, typed_fields, shape):
    """Initializer bytes reach the compiled code unchanged, whichever field
    holds them and whether they are inlined or kept as a resource blob."""
    value = sample(np_dtype, shape)
    if typed_fields:
        init = helper.make_tensor("w", onnx_dtype, shape, value.flatten().tolist())
    else:
        init = numpy_helper.from_array(value, "w")
    path = save_model(identity_graph(init, onnx_dtype), tmp_path / "m.onnx")
    result = translate(path)
    assert result.returncode == 0, result.stderr
    assert f"tensor<{shape[0]}x{shape[1]}x{mlir}>" in result.stdout
    (out,) = run_lora(path, {})
    np.testing.assert_array_equal(out, value)


@pytest.mark.skipif(ml_dtypes is None, reason="ml_dtypes not installed")
def test_bf16_initializer(tmp_path):
    value = np.arange(12, dtype=np.float32).reshape(3, 4) / 8
    bits = value.astype(ml_dtypes.bfloat16).view(np.uint16)
    init = helper.make_tensor("w", TensorProto.BFLOAT16, [3, 4], bits.tobytes(), raw=True)
    path = save_model(identity_graph(init, TensorProto.BFLOAT16), tmp_path / "m.onnx")
    result = translate(path)
    assert result.returncode == 0, result.stderr
    assert "tensor<3x4xbf16>" in result.stdout


def test_external_data_is_read_at_offset(tmp_path):
    """Initializers in an external file, at offsets, as ONNX writes them."""
    a = sample(np.float32, (64, 32), seed=1)
    b = sample(np.float32, (32,), seed=2)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "a"], ["t"], name="mm"),
         helper.make_node("Add", ["t", "b"], ["y"], name="add")],
        "g", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 32])],
        [numpy_helper.from_array(a, "a"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    onnx.save(model, str(tmp_path / "m.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    inputs = {"x": sample(np.float32, (3, 64), seed=3)}
    (out,) = run_lora(tmp_path / "m.onnx", inputs)
    np.testing.assert_allclose(out, inputs["x"] @ a + b, rtol=1e-5, atol=1e-5)


def test_attributes_and_names(tmp_path):
    """Every attribute kind is kept; node names become locations; dynamic
    input dims are specialised by --input-shape."""
    node = helper.make_node(
        "Foo", ["x", "", "x"], ["y", "z"], name="/model/foo", domain="com.example",
        i=3, f=0.25, s="text", t=numpy_helper.from_array(np.array([1, 2], np.int64)),
        ints=[1, -2], floats=[0.5, 1.5], strings=["a", "b"])
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
    model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 18), helper.make_opsetid("com.example", 2)])
    model.ir_version = 10
    onnx.save(model, str(tmp_path / "m.onnx"))
    result = translate(tmp_path / "m.onnx", "--input-shape=x:2x4", "--mlir-print-debuginfo")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert '%arg0: tensor<2x4xf32> {onnx.name = "x"}' in text
    assert "onnx.none" in text
    assert 'onnx.node "Foo"(%arg0, %0, %arg0) attrs {f = 2.500000e-01 : f32, ' \
           'floats = array<f32: 5.000000e-01, 1.500000e+00>, i = 3 : i64, ' \
           'ints = array<i64: 1, -2>, s = "text", strings = ["a", "b"], ' \
           't = dense<[1, 2]> : tensor<2xi64>} opset 2 domain "com.example"' in text
    assert 'loc("/model/foo")' in text
    assert "-> (tensor<?x4xf32>, !onnx.unknown)" in text


def test_name_scopes_become_module_locations(tmp_path):
    """The dynamo exporter's name scopes give each node's module as the
    child of its name location (what LoRA uses to name linear layers)."""
    scoped = helper.make_node("Relu", ["x"], ["h"], name="node_relu")
    scoped.metadata_props.add(
        key="pkg.torch.onnx.name_scopes",
        value="['', 'model', 'model.layers.0', 'model.layers.0.mlp', 'relu']")
    # A list without a module (only the op's own name) gives no scope.
    bare = helper.make_node("Relu", ["h"], ["y"], name="node_relu_1")
    bare.metadata_props.add(key="pkg.torch.onnx.name_scopes", value="['relu_1']")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    graph = helper.make_graph([scoped, bare], "g", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    onnx.save(model, str(tmp_path / "m.onnx"))
    result = translate(tmp_path / "m.onnx", "--mlir-print-debuginfo",
                       "--mlir-print-local-scope")
    assert result.returncode == 0, result.stderr
    assert 'loc("node_relu"("model.layers.0.mlp"))' in result.stdout
    assert 'loc("node_relu_1")' in result.stdout


# ---------------------------------------------------------------------------
# Bad input: one clear error, a non-zero exit and no output file.
# ---------------------------------------------------------------------------

def small_model(tmp_path, opset=18, **graph_kwargs):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")], "g", [x],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    return path, model


def expect_error(tmp_path, model_path, message, *args):
    out = tmp_path / "out.mlir"
    result = translate(model_path, *args, output=out)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert not out.exists(), "a failed import left an output file"
    return result.stderr


def test_truncated_file(tmp_path):
    path, _ = small_model(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    expect_error(tmp_path, path, "the protobuf is truncated or corrupt")


def test_corrupt_file(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"\xff\xff\xff\xff garbage \x00\x01")
    expect_error(tmp_path, path, "cannot parse")


def test_missing_file(tmp_path):
    result = subprocess.run([tool("lora-opt"), str(tmp_path / "nope.onnx")],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "cannot open" in result.stderr


def test_empty_graph(tmp_path):
    model = helper.make_model(helper.make_graph([], "empty", [], []),
                              opset_imports=[helper.make_opsetid("", 18)])
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    expect_error(tmp_path, path, "model graph 'empty' is empty")


def test_opset_too_new(tmp_path):
    path, _ = small_model(tmp_path, opset=99)
    expect_error(tmp_path, path, "model uses default-domain opset 99; lora-opt supports opsets 1 to")


def test_unsupported_dtype(tmp_path):
    init = helper.make_tensor("s", TensorProto.STRING, [1], [b"hello"])
    path = save_model(identity_graph(init, TensorProto.STRING), tmp_path / "m.onnx")
    expect_error(tmp_path, path, "value 'y' has unsupported dtype STRING")


def test_unsupported_initializer_dtype(tmp_path):
    init = helper.make_tensor("c", TensorProto.COMPLEX64, [1], [1.0, 2.0])
    graph = identity_graph(init, TensorProto.FLOAT)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    expect_error(tmp_path, path, "tensor 'c' has unsupported dtype COMPLEX64")


def test_raw_data_size_mismatch(tmp_path):
    init = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 4], raw_data=b"\x00" * 12)
    path = tmp_path / "m.onnx"
    model = helper.make_model(identity_graph(init, TensorProto.FLOAT),
                              opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(model, str(path))
    expect_error(tmp_path, path, "tensor 'w': raw_data has 12 bytes, but 'tensor<4x4xf32>' needs 64")


def external_model(tmp_path, length=None, offset=0, location="weights.bin", file_bytes=256):
    init = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[8, 8],
                       data_location=TensorProto.EXTERNAL)
    entries = {"location": location, "offset": str(offset)}
    if length is not None:
        entries["length"] = str(length)
    for k, v in entries.items():
        init.external_data.add(key=k, value=v)
    model = helper.make_model(identity_graph(init, TensorProto.FLOAT),
                              opset_imports=[helper.make_opsetid("", 18)])
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    if file_bytes is not None:
        (tmp_path / "weights.bin").write_bytes(b"\x00" * file_bytes)
    return path


def test_missing_external_data_file(tmp_path):
    path = external_model(tmp_path, file_bytes=None)
    expect_error(tmp_path, path, "tensor 'w': cannot open external data file")


def test_external_data_past_end(tmp_path):
    path = external_model(tmp_path, length=256, offset=128, file_bytes=256)
    expect_error(tmp_path, path, "at offset 128 with length 256 runs past the end of the file (256 bytes)")


def test_external_data_too_short(tmp_path):
    path = external_model(tmp_path, length=128, offset=0, file_bytes=256)
    expect_error(tmp_path, path, "has 128 bytes, but 'tensor<8x8xf32>' needs 256")


def test_external_data_outside_model_folder(tmp_path):
    path = external_model(tmp_path, location="../weights.bin")
    expect_error(tmp_path, path, "must be a relative path inside the model's folder")


def test_input_shape_names_no_input(tmp_path):
    path, _ = small_model(tmp_path)
    expect_error(tmp_path, path, "--input-shape names 'nope', which is not a graph input (inputs: x)",
                 "--input-shape=nope:2x4")


def test_input_shape_contradicts_static_dim(tmp_path):
    path, _ = small_model(tmp_path)
    expect_error(tmp_path, path, "--input-shape for 'x' contradicts static dim 1 of 'tensor<2x4xf32>' (4 vs 5)",
                 "--input-shape=x:2x5")


def test_input_shape_wrong_rank(tmp_path):
    path, _ = small_model(tmp_path)
    expect_error(tmp_path, path, "--input-shape for 'x' has rank 3, but the model declares 'tensor<2x4xf32>'",
                 "--input-shape=x:2x4x1")


def test_malformed_input_shape(tmp_path):
    path, _ = small_model(tmp_path)
    expect_error(tmp_path, path, "'2xq' is not of the form name:DxDx", "--input-shape=2xq")


def test_subgraph_attribute(tmp_path):
    branch = helper.make_graph([], "b", [], [])
    node = helper.make_node("If", ["c"], ["y"], name="if0", then_branch=branch, else_branch=branch)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    expect_error(tmp_path, path, "node 'if0' (If): attribute 'else_branch' is a subgraph")


def test_undefined_value(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["nowhere"], ["y"], name="relu")], "g", [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    expect_error(tmp_path, path, "node 'relu' (Relu) uses 'nowhere', which no earlier node")


def test_unknown_op_fails_conversion_naming_every_node(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Frobnicate", ["x"], ["t"], name="first"),
         helper.make_node("Wibble", ["t"], ["y"], name="second")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    out = tmp_path / "out.mlir"
    result = subprocess.run([tool("lora-opt"), str(path), "--convert-onnx-to-tosa", "-o", str(out)],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "node 'first': ONNX operator 'Frobnicate' (opset 18) is not supported" in result.stderr
    assert "node 'second': ONNX operator 'Wibble' (opset 18) is not supported" in result.stderr
    assert not out.exists()


def test_dynamic_input_needs_a_shape(tmp_path):
    x = helper.make_tensor_value_info("tokens", TensorProto.FLOAT, ["batch", 4])
    graph = helper.make_graph([helper.make_node("Identity", ["tokens"], ["y"], name="r")],
                              "g", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
    path = save_model(graph, tmp_path / "m.onnx")
    result = subprocess.run([tool("lora-opt"), str(path), "--convert-onnx-to-tosa"],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "input 'tokens' has type 'tensor<?x4xf32>' with dynamic dimensions; " \
           "give it a static shape with --input-shape=tokens:DxDx..." in result.stderr


def test_node_without_op_type(tmp_path):
    """Found by the fuzzer: an empty op_type must be an error, not an
    invalid module."""
    graph = helper.make_graph(
        [helper.make_node("", ["x"], ["y"], name="mm")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    expect_error(tmp_path, path, "node #0 ('mm') has no op_type")


def test_domain_with_invalid_opset(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Foo", ["x"], ["y"], name="foo", domain="com.x")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18),
                                                    helper.make_opsetid("com.x", 0)])
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    expect_error(tmp_path, path, "the model imports domain 'com.x' at invalid opset version 0")
