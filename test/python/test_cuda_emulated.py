"""`lora-compile --target=cuda-emulated`: the CUDA target's numerics, on the CPU.

The CUDA target lowers everything but its tensor-core kernels through its
own passes (parallel dims first, parallel loops collapsed and tiled into
blocks of 256 threads with bounds checks, kernel outlining, device memory
with early frees, one stream per function). `cuda-emulated` runs exactly
that host code and those kernels on the CPU (lora-cuda-emulate-on-host:
each kernel as loops over its blocks and threads; a freed float buffer is
set to NaN first, so a read after a free shows), which checks all of it
without a GPU:

* GPT-2, BERT and Llama (torch.onnx dynamo exports) with a PEFT adapter:
  the logits match PEFT + torch to 1e-5 relative error, like the CPU target.
* The Llama train step (AdamW, LoRA dropout, causal-LM loss): 8 steps give
  the CPU artifact's losses, eval loss and saved adapter to 1e-6 relative
  error, and the loss falls.

What it does not check: the NVVM lowering, the generated tensor-core
kernels (bf16/f16 lora.linear and matmuls; the emulation lowers those
through linalg like the CPU), the runtime's CUDA driver calls and the
concurrency of the GPU (the host runs the work in order).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

import onnx_models
from conftest import rel_err, shape_spec
from test_artifacts import lora_compile
from test_lora_peft import PeftCase
from test_training import make_labels

lora_opt = pytest.importorskip(
    "lora_opt", reason="the lora_opt package is installed by scripts/setup.sh")
torch = pytest.importorskip("torch")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

pytestmark = pytest.mark.filterwarnings(
    "ignore:Could not find a config file:UserWarning")

TOL = 1e-5          # against PEFT + torch, as for the CPU target
SAME_TOL = 1e-6     # against the CPU artifact of the same command


def manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


@pytest.mark.parametrize("family", onnx_models.FAMILIES)
def test_adapter_matches_peft(exported, tmp_path, family):
    path = exported(family, "dynamo")
    case = PeftCase(family, "plain", tmp_path / "adapter")
    inputs = onnx_models.make_inputs(family, batch=2, seq=16, seed=1, path=path)
    if "attention_mask" in inputs:
        inputs["attention_mask"][1, 11:] = 0  # padding in the second sequence
    out = tmp_path / "emulated"
    lora_compile(path, f"--adapter={case.adapter}", "--target=cuda-emulated",
                 f"--input-shape={shape_spec(inputs)}", "--opt-level=1", "-o", out)
    m = manifest(out)
    assert m["target"] == "cuda-emulated"
    assert "lora-cuda-stream-order,lora-cuda-emulate-on-host" in m["compiler"]["pipeline"]
    # Host code only: no CUDA driver call, no cubin.
    so = (out / "model.so").read_bytes()
    assert b"mgpuLaunchKernel" not in so and b"sm_90a" not in so

    expected = case.logits(inputs)
    with lora_opt.load(out) as model:
        actual = model(**inputs)["logits"]
    assert not np.isnan(actual).any()
    err = rel_err(actual, expected)
    print(f"{family}: rel_err {err:.3e} against PEFT")
    assert err <= TOL
    assert rel_err(expected, case.base_logits(inputs)) > 100 * TOL, (
        "the adapter hardly changes the logits: the comparison proves nothing")


def train(artifact: Path, inputs: dict, labels: np.ndarray, steps: int):
    """(losses of `steps` AdamW steps, eval loss after, saved adapter)."""
    with lora_opt.load(artifact) as model:
        losses = [model.train_step(**inputs, labels=labels, lr=1e-2)
                  for _ in range(steps)]
        eval_loss = model.eval_step(**inputs, labels=labels)
        with tempfile.TemporaryDirectory() as folder:
            model.save_adapter(folder)
            adapter = safetensors_numpy.load_file(
                os.path.join(folder, "adapter_model.safetensors"))
    return losses, eval_loss, adapter


def test_train_step_matches_cpu(exported, tmp_path):
    path = exported("llama", "dynamo")
    inputs = onnx_models.make_inputs("llama", path=path)
    labels = make_labels(inputs)
    common = [path, "--lora-targets=q_proj,v_proj", "--lora-rank=8",
              "--lora-alpha=16", "--mode=train", "--loss=causal-lm",
              "--lora-dropout=0.1", "--opt-level=1"]
    results = {}
    for target in ("cpu", "cuda-emulated"):
        lora_compile(*common, f"--target={target}", "-o", tmp_path / target)
        results[target] = train(tmp_path / target, inputs, labels, steps=8)
    (cpu_losses, cpu_eval, cpu_adapter) = results["cpu"]
    (losses, eval_loss, adapter) = results["cuda-emulated"]
    print("cpu:", cpu_losses, "\ncuda-emulated:", losses)
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.9 * losses[0]
    assert rel_err(losses, cpu_losses) <= SAME_TOL
    assert rel_err(eval_loss, cpu_eval) <= SAME_TOL
    assert sorted(adapter) == sorted(cpu_adapter) and adapter
    for name, value in adapter.items():
        assert rel_err(value, cpu_adapter[name]) <= SAME_TOL, name
