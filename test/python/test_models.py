"""GPT-2, BERT and Llama exported by torch.onnx (dynamo at opset 18 and
TorchScript at opset 17), converted to TOSA and run on the CPU: no onnx op is
left and the logits match ONNX Runtime to 1e-5 relative error (fp32)."""

from __future__ import annotations

import re
import subprocess

import pytest

import onnx_models
from conftest import ort_run, rel_err, run_lora, shape_spec, tool

CASES = [(f, e) for f in onnx_models.FAMILIES for e in onnx_models.EXPORTERS]

# The models come from the session fixture `exported` of conftest.py.


# An operation name where an operation is printed: at the start of a line,
# after "%results = ", possibly in generic form ("tosa.add" or "\"tosa.add\"").
# Attribute names such as onnx.name / onnx.opset are not operations.
_OP = re.compile(r'^\s*(?:%[^=]*=\s*)?"?([a-z_]+\.[a-z_]+)\b', re.M)


def converted_ops(model_path, inputs):
    """The operation names in the model after the onnx-to-tosa pipeline."""
    result = subprocess.run(
        [tool("lora-opt"), model_path, f"--input-shape={shape_spec(inputs)}",
         "--lora-onnx-to-tosa-pipeline", "--mlir-elide-resource-strings-if-larger=16",
         "--mlir-elide-elementsattrs-if-larger=16"],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return set(_OP.findall(result.stdout))


@pytest.mark.parametrize("family,exporter", CASES, ids=[f"{f}-{e}" for f, e in CASES])
def test_no_onnx_op_left(exported, family, exporter):
    path = exported(family, exporter)
    inputs = onnx_models.make_inputs(family, path=path)
    ops = converted_ops(path, inputs)
    assert not {op for op in ops if op.startswith("onnx.")}, sorted(ops)
    assert "tosa.matmul" in ops


@pytest.mark.parametrize("family,exporter", CASES, ids=[f"{f}-{e}" for f, e in CASES])
def test_matches_onnxruntime(exported, family, exporter):
    path = exported(family, exporter)
    inputs = onnx_models.make_inputs(family, batch=2, seq=16, seed=1, path=path)
    if "attention_mask" in inputs:
        inputs["attention_mask"][1, 11:] = 0  # padding in the second sequence
    (expected,) = ort_run(path, inputs)
    (actual,) = run_lora(path, inputs)
    assert rel_err(actual, expected) <= 1e-5


@pytest.mark.parametrize("family,exporter", CASES, ids=[f"{f}-{e}" for f, e in CASES])
def test_dynamic_export_specialised_by_input_shape(exported, family, exporter):
    path = exported(family, exporter, dynamic=True)
    inputs = onnx_models.make_inputs(family, batch=3, seq=9, seed=2, path=path)
    (expected,) = ort_run(path, inputs)
    (actual,) = run_lora(path, inputs)
    assert rel_err(actual, expected) <= 1e-5
