"""lora-translate --export-onnx: what lora-opt produces runs in ONNX Runtime.

GPT-2, BERT and Llama (dynamo and TorchScript exports) are converted to TOSA
with --lora-onnx-to-tosa-pipeline, exported back to ONNX and run in ONNX
Runtime: the logits match ONNX Runtime on the original model. A hand-written
function with every exported op runs with lora-run (our semantics, from the
MLIR) and in ONNX Runtime (from the export) with equal results, and LoRA
parameters export as graph inputs or as initializers.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess

import numpy as np
import onnx
import pytest

import onnx_models
from conftest import ORT_IR_VERSION, ort_run, output_file_name, rel_err, tool

CASES = [(f, e) for f in onnx_models.FAMILIES for e in onnx_models.EXPORTERS]


def run_tool(*args):
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]


def to_tosa(model_path, out_path):
    """model.onnx -> TOSA, keeping locations (the ONNX node names)."""
    run_tool(tool("lora-opt"), model_path, "--lora-onnx-to-tosa-pipeline",
             "--mlir-print-debuginfo", "-o", out_path)
    return out_path


def export(mlir_path, out_path, *args):
    run_tool(tool("lora-translate"), "--export-onnx", mlir_path, "-o", out_path,
             *args)
    onnx.checker.check_model(str(out_path), full_check=True)
    model = onnx.load(str(out_path), load_external_data=False)
    assert model.ir_version == ORT_IR_VERSION
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 18)]
    return model


def model_inputs(family, path):
    inputs = onnx_models.make_inputs(family, batch=2, seq=16, seed=1, path=path)
    if "attention_mask" in inputs:
        inputs["attention_mask"][1, 11:] = 0  # padding in the second sequence
    return inputs


@pytest.mark.parametrize("family,exporter", CASES, ids=[f"{f}-{e}" for f, e in CASES])
def test_exported_model_matches_original(exported, tmp_path, family, exporter):
    path = exported(family, exporter)
    tosa = to_tosa(path, tmp_path / "model.mlir")
    model = export(tosa, tmp_path / "model.onnx")

    original = onnx.load(path, load_external_data=False)
    assert [i.name for i in model.graph.input] == [i.name for i in original.graph.input]
    assert [o.name for o in model.graph.output] == [o.name for o in original.graph.output]
    # Every node is named after the ONNX node it came from (made unique).
    names = {n.name for n in original.graph.node}
    assert all(n.name in names or re.sub(r"_\d+$", "", n.name) in names
               for n in model.graph.node)

    inputs = model_inputs(family, path)
    (expected,) = ort_run(path, inputs)
    (actual,) = ort_run(tmp_path / "model.onnx", inputs)
    assert rel_err(actual, expected) <= 1e-5


def test_external_data(exported, tmp_path):
    path = exported("llama", "dynamo")
    tosa = to_tosa(path, tmp_path / "model.mlir")
    data = tmp_path / "model.onnx.data"
    model = export(tosa, tmp_path / "model.onnx", f"--onnx-external-data={data}")
    external = [t for t in model.graph.initializer
                if t.data_location == onnx.TensorProto.EXTERNAL]
    assert external and os.path.getsize(data) > 300_000
    assert os.path.getsize(tmp_path / "model.onnx") < 100_000

    inputs = model_inputs("llama", path)
    (expected,) = ort_run(path, inputs)
    (actual,) = ort_run(tmp_path / "model.onnx", inputs)
    assert rel_err(actual, expected) <= 1e-5


# Every op the exporter handles, on values that reach its edge cases: casts
# of halves, of values out of the int range and of infinities (tosa.cast
# rounds half to even and saturates, ONNX Cast truncates), integer division
# of negatives, gathers, pads and reverses.
OPS_MLIR = r"""
func.func @main(%x: tensor<2x6xf32> {onnx.name = "x"},
                %u: tensor<2x3xf32> {onnx.name = "u"},
                %i: tensor<2x3xi32> {onnx.name = "i"},
                %j: tensor<2x3xi32> {onnx.name = "j"},
                %ids: tensor<2x4xi32> {onnx.name = "ids"})
    -> (tensor<2x6xi32> {onnx.name = "cast_i32"},
        tensor<2x6xi8> {onnx.name = "cast_i8"},
        tensor<2x6xi64> {onnx.name = "cast_i64"},
        tensor<2x6xi32> {onnx.name = "cast_f16_i32"},
        tensor<2x6xf32> {onnx.name = "cast_bool"},
        tensor<2x3xf32> {onnx.name = "unary"},
        tensor<2x3xf32> {onnx.name = "binary"},
        tensor<2x3xi32> {onnx.name = "ints"},
        tensor<2x3xf32> {onnx.name = "select"},
        tensor<2x1xf32> {onnx.name = "reduce"},
        tensor<2xi32> {onnx.name = "argmax"},
        tensor<5x8xf32> {onnx.name = "movement"},
        tensor<2x4x3xf32> {onnx.name = "gather"},
        tensor<2x3x3xf32> {onnx.name = "matmul"}) {
  %zero8 = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %fzero = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %izero = "tosa.const"() <{values = dense<0> : tensor<1xi32>}> : () -> tensor<1xi32>

  %c0 = tosa.cast %x : (tensor<2x6xf32>) -> tensor<2x6xi32>
  %c1 = tosa.cast %x : (tensor<2x6xf32>) -> tensor<2x6xi8>
  %c2 = tosa.cast %x : (tensor<2x6xf32>) -> tensor<2x6xi64>
  %h = tosa.cast %x : (tensor<2x6xf32>) -> tensor<2x6xf16>
  %c3 = tosa.cast %h : (tensor<2x6xf16>) -> tensor<2x6xi32>
  %b = tosa.cast %x : (tensor<2x6xf32>) -> tensor<2x6xi1>
  %c4 = tosa.cast %b : (tensor<2x6xi1>) -> tensor<2x6xf32>

  %u0 = tosa.sin %u : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %u1 = tosa.cos %u0 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %u2 = tosa.exp %u1 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %u3 = tosa.log %u2 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %u4 = tosa.tanh %u3 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %u5 = tosa.erf %u4 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %u6 = tosa.sigmoid %u5 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %u7 = tosa.reciprocal %u6 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %u8 = tosa.rsqrt %u7 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %u9 = tosa.negate %u8, %fzero, %fzero : (tensor<2x3xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<2x3xf32>
  %u10 = tosa.abs %u9 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %u11 = tosa.floor %u : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %u12 = tosa.ceil %u : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %u13 = tosa.add %u10, %u11 : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %unary = tosa.sub %u13, %u12 : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>

  %v0 = tosa.pow %u, %u : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %v1 = tosa.maximum %v0, %u : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %v2 = tosa.minimum %v1, %u12 : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %v3 = tosa.mul %v2, %u, %zero8 : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<1xi8>) -> tensor<2x3xf32>
  %binary = tosa.clamp %v3 {min_val = 0.5 : f32, max_val = 4.0 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>

  %w0 = tosa.intdiv %i, %j : (tensor<2x3xi32>, tensor<2x3xi32>) -> tensor<2x3xi32>
  %w1 = tosa.bitwise_and %w0, %i : (tensor<2x3xi32>, tensor<2x3xi32>) -> tensor<2x3xi32>
  %w2 = tosa.bitwise_or %w1, %j : (tensor<2x3xi32>, tensor<2x3xi32>) -> tensor<2x3xi32>
  %w3 = tosa.bitwise_xor %w2, %i : (tensor<2x3xi32>, tensor<2x3xi32>) -> tensor<2x3xi32>
  %w4 = tosa.bitwise_not %w3 : (tensor<2x3xi32>) -> tensor<2x3xi32>
  %w5 = tosa.mul %w4, %j, %zero8 : (tensor<2x3xi32>, tensor<2x3xi32>, tensor<1xi8>) -> tensor<2x3xi32>
  %w6 = tosa.clamp %w5 {min_val = -20 : i32, max_val = 20 : i32} : (tensor<2x3xi32>) -> tensor<2x3xi32>
  %ints = tosa.negate %w6, %izero, %izero : (tensor<2x3xi32>, tensor<1xi32>, tensor<1xi32>) -> tensor<2x3xi32>

  %p0 = tosa.equal %i, %j : (tensor<2x3xi32>, tensor<2x3xi32>) -> tensor<2x3xi1>
  %p1 = tosa.greater_equal %i, %j : (tensor<2x3xi32>, tensor<2x3xi32>) -> tensor<2x3xi1>
  %p2 = tosa.greater %u, %u12 : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
  %p3 = tosa.logical_or %p0, %p2 : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  %p4 = tosa.logical_xor %p3, %p1 : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  %p5 = tosa.logical_not %p4 : (tensor<2x3xi1>) -> tensor<2x3xi1>
  %p6 = tosa.logical_and %p5, %p1 : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  %select = tosa.select %p6, %u, %unary : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>

  %r0 = tosa.reduce_sum %u {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %r1 = tosa.reduce_max %u {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %r2 = tosa.reduce_min %u {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %r3 = tosa.reduce_product %u {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %r4 = tosa.add %r0, %r1 : (tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<2x1xf32>
  %r5 = tosa.sub %r4, %r2 : (tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<2x1xf32>
  %reduce = tosa.add %r5, %r3 : (tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<2x1xf32>
  %argmax = tosa.argmax %u {axis = 1 : i32} : (tensor<2x3xf32>) -> tensor<2xi32>

  %s32 = tosa.const_shape {values = dense<[3, 2]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %m0 = tosa.reshape %u, %s32 : (tensor<2x3xf32>, !tosa.shape<2>) -> tensor<3x2xf32>
  %m1 = tosa.transpose %m0 {perms = array<i32: 1, 0>} : (tensor<3x2xf32>) -> tensor<2x3xf32>
  %start = tosa.const_shape {values = dense<[0, 1]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %size = tosa.const_shape {values = dense<[2, 2]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %m2 = tosa.slice %m1, %start, %size : (tensor<2x3xf32>, !tosa.shape<2>, !tosa.shape<2>) -> tensor<2x2xf32>
  %m3 = tosa.reverse %m2 {axis = 1 : i32} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %m4 = tosa.reverse %m3 {axis = 0 : i32} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %m5 = tosa.concat %m4, %m2 {axis = 1 : i32} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4xf32>
  %mult = tosa.const_shape {values = dense<[1, 2]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %m6 = tosa.tile %m5, %mult : (tensor<2x4xf32>, !tosa.shape<2>) -> tensor<2x8xf32>
  %padding = tosa.const_shape {values = dense<[2, 1, 0, 0]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %padValue = "tosa.const"() <{values = dense<-7.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %movement = tosa.pad %m6, %padding, %padValue : (tensor<2x8xf32>, !tosa.shape<4>, tensor<1xf32>) -> tensor<5x8xf32>

  %table = "tosa.const"() <{values = dense<[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], [[-1.0, -2.0, -3.0], [-4.0, -5.0, -6.0], [-7.0, -8.0, -9.0]]]> : tensor<2x3x3xf32>}> : () -> tensor<2x3x3xf32>
  %gather = tosa.gather %table, %ids : (tensor<2x3x3xf32>, tensor<2x4xi32>) -> tensor<2x4x3xf32>

  %s132 = tosa.const_shape {values = dense<[1, 3, 2]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %a3 = tosa.reshape %u, %s132 : (tensor<2x3xf32>, !tosa.shape<3>) -> tensor<1x3x2xf32>
  %s123 = tosa.const_shape {values = dense<[1, 2, 3]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %b3 = tosa.reshape %unary, %s123 : (tensor<2x3xf32>, !tosa.shape<3>) -> tensor<1x2x3xf32>
  %mm = tosa.matmul %a3, %b3, %fzero, %fzero : (tensor<1x3x2xf32>, tensor<1x2x3xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x3x3xf32>
  %mult2 = tosa.const_shape {values = dense<[2, 1, 1]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %matmul = tosa.tile %mm, %mult2 : (tensor<1x3x3xf32>, !tosa.shape<3>) -> tensor<2x3x3xf32>

  return %c0, %c1, %c2, %c3, %c4, %unary, %binary, %ints, %select, %reduce, %argmax, %movement, %gather, %matmul : tensor<2x6xi32>, tensor<2x6xi8>, tensor<2x6xi64>, tensor<2x6xi32>, tensor<2x6xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xi32>, tensor<2x3xf32>, tensor<2x1xf32>, tensor<2xi32>, tensor<5x8xf32>, tensor<2x4x3xf32>, tensor<2x3x3xf32>
}
"""


def run_lora_mlir(mlir_path, inputs: dict, outputs: list[str], tmp_path):
    """Runs a TOSA function with lora-run (the CPU pipeline)."""
    cmd = [tool("lora-run"), str(mlir_path), "--quiet",
           f"--output-dir={tmp_path}/out"]
    for name, value in inputs.items():
        path = tmp_path / f"{output_file_name(name)}.in.npy"
        np.save(path, value)
        cmd += ["--input", f"{name}={path}"]
    run_tool(*cmd)
    return [np.load(tmp_path / "out" / f"{output_file_name(n)}.npy")
            for n in outputs]


def test_ops_match_lora_run(tmp_path):
    mlir = tmp_path / "ops.mlir"
    mlir.write_text(OPS_MLIR)
    model = export(mlir, tmp_path / "ops.onnx")
    inputs = {
        "x": np.array([[0.5, 1.5, 2.5, -0.5, -1.5, 3.7],
                       [-2.5, 1e10, -1e10, 127.5, -128.6, 0.0]], np.float32),
        "u": np.array([[0.3, 1.2, 2.7], [0.9, 1.5, 0.4]], np.float32),
        "i": np.array([[7, -7, 9], [12, -3, 5]], np.int32),
        "j": np.array([[2, 2, -4], [5, 3, 5]], np.int32),
        "ids": np.array([[0, 2, 1, 2], [1, 1, 0, 2]], np.int32),
    }
    names = [o.name for o in model.graph.output]
    expected = run_lora_mlir(mlir, inputs, names, tmp_path)
    actual = ort_run(tmp_path / "ops.onnx", inputs)
    for name, a, e in zip(names, actual, expected):
        assert a.dtype == e.dtype, (name, a.dtype, e.dtype)
        if np.issubdtype(e.dtype, np.floating):
            assert rel_err(a, e) <= 1e-6, (name, a, e)
        else:
            np.testing.assert_array_equal(a, e, err_msg=name)
    # The saturating casts are what make these equal.
    np.testing.assert_array_equal(
        actual[names.index("cast_i32")][1],
        [-2, 2**31 - 1, -2**31, 128, -129, 0])


def dense(array: np.ndarray) -> str:
    return f"dense<{np.array2string(array, separator=', ', floatmode='unique', threshold=1 << 30)}>"


def resource_blob(array: np.ndarray) -> str:
    """A builtin dialect resource: the alignment, then the little-endian data."""
    return "0x" + (struct.pack("<I", 4) + array.astype("<f4").tobytes()).hex()


def lora_mlir(w, a_init, b_init, scale):
    """y = x·W + scale·(x·A)·B with A, B LoRA parameters ([K,r], [r,N])."""
    (k, n), r = w.shape, a_init.shape[1]
    return f"""
func.func @main(%x: tensor<2x{k}xf32> {{onnx.name = "x"}},
    %a: tensor<{k}x{r}xf32> {{lora.param = "base_model.model.fc.lora_A.weight",
                              lora.init = dense_resource<fc_lora_a> : tensor<{k}x{r}xf32>}},
    %b: tensor<{r}x{n}xf32> {{lora.param = "base_model.model.fc.lora_B.weight",
                              lora.init = {dense(b_init)} : tensor<{r}x{n}xf32>}})
    -> (tensor<2x{n}xf32> {{onnx.name = "y"}}) {{
  %w = "tosa.const"() <{{values = {dense(w)} : tensor<{k}x{n}xf32>}}> : () -> tensor<{k}x{n}xf32>
  %s = "tosa.const"() <{{values = dense<{scale}> : tensor<1x1x1xf32>}}> : () -> tensor<1x1x1xf32>
  %zp = "tosa.const"() <{{values = dense<0.0> : tensor<1xf32>}}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{{values = dense<0> : tensor<1xi8>}}> : () -> tensor<1xi8>
  %sx = tosa.const_shape {{values = dense<[1, 2, {k}]> : tensor<3xindex>}} : () -> !tosa.shape<3>
  %sw = tosa.const_shape {{values = dense<[1, {k}, {n}]> : tensor<3xindex>}} : () -> !tosa.shape<3>
  %sa = tosa.const_shape {{values = dense<[1, {k}, {r}]> : tensor<3xindex>}} : () -> !tosa.shape<3>
  %sb = tosa.const_shape {{values = dense<[1, {r}, {n}]> : tensor<3xindex>}} : () -> !tosa.shape<3>
  %sy = tosa.const_shape {{values = dense<[2, {n}]> : tensor<2xindex>}} : () -> !tosa.shape<2>
  %x3 = tosa.reshape %x, %sx : (tensor<2x{k}xf32>, !tosa.shape<3>) -> tensor<1x2x{k}xf32>
  %w3 = tosa.reshape %w, %sw : (tensor<{k}x{n}xf32>, !tosa.shape<3>) -> tensor<1x{k}x{n}xf32>
  %a3 = tosa.reshape %a, %sa : (tensor<{k}x{r}xf32>, !tosa.shape<3>) -> tensor<1x{k}x{r}xf32>
  %b3 = tosa.reshape %b, %sb : (tensor<{r}x{n}xf32>, !tosa.shape<3>) -> tensor<1x{r}x{n}xf32>
  %base = tosa.matmul %x3, %w3, %zp, %zp : (tensor<1x2x{k}xf32>, tensor<1x{k}x{n}xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x2x{n}xf32>
  %t = tosa.matmul %x3, %a3, %zp, %zp : (tensor<1x2x{k}xf32>, tensor<1x{k}x{r}xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x2x{r}xf32>
  %tb = tosa.matmul %t, %b3, %zp, %zp : (tensor<1x2x{r}xf32>, tensor<1x{r}x{n}xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x2x{n}xf32>
  %scaled = tosa.mul %tb, %s, %shift : (tensor<1x2x{n}xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<1x2x{n}xf32>
  %sum = tosa.add %base, %scaled : (tensor<1x2x{n}xf32>, tensor<1x2x{n}xf32>) -> tensor<1x2x{n}xf32>
  %y = tosa.reshape %sum, %sy : (tensor<1x2x{n}xf32>, !tosa.shape<2>) -> tensor<2x{n}xf32>
  return %y : tensor<2x{n}xf32>
}}

{{-#
  dialect_resources: {{
    builtin: {{
      fc_lora_a: "{resource_blob(a_init)}"
    }}
  }}
#-}}
"""


def test_lora_params_as_inputs_or_initializers(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    a_init = rng.standard_normal((4, 2)).astype(np.float32)
    b_init = rng.standard_normal((2, 3)).astype(np.float32)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    scale = 2.0
    mlir = tmp_path / "lora.mlir"
    mlir.write_text(lora_mlir(w, a_init, b_init, scale))

    def reference(a, b):
        return x @ w + scale * ((x @ a) @ b)

    a_name = "base_model.model.fc.lora_A.weight"
    b_name = "base_model.model.fc.lora_B.weight"

    # Default: the parameters are graph inputs, fed (hot-swapped) at run time.
    model = export(mlir, tmp_path / "inputs.onnx")
    assert [i.name for i in model.graph.input] == ["x", a_name, b_name]
    a = rng.standard_normal((4, 2)).astype(np.float32)
    b = rng.standard_normal((2, 3)).astype(np.float32)
    (y,) = ort_run(tmp_path / "inputs.onnx", {"x": x, a_name: a, b_name: b})
    assert rel_err(y, reference(a, b)) <= 1e-6

    # Initializers holding lora.init (dense_resource for A, dense for B).
    model = export(mlir, tmp_path / "init.onnx", "--lora-params=initializers")
    assert [i.name for i in model.graph.input] == ["x"]
    assert {a_name, b_name} <= {t.name for t in model.graph.initializer}
    (y,) = ort_run(tmp_path / "init.onnx", {"x": x})
    assert rel_err(y, reference(a_init, b_init)) <= 1e-6
