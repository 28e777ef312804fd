"""LoRA dropout in the train step (issue 6), against PEFT and torch.

lora.dropout draws its mask from a counter-based hash of (seed, stream,
element index), documented in LoraOps.td; the model passes step n the seed
splitmix64(dropout seed, n). This file mirrors both in numpy and checks:

* the masks themselves: the kept fraction is 1 - p, and masks of different
  streams, steps and seeds are independent;
* AdamW steps with lora_dropout = 0.1 on the Llama export against PEFT +
  torch.optim.AdamW whose dropout modules apply the mirrored masks: the loss
  of every step and the trained parameters agree within 1e-4. Forward and
  backward both see the mask, so the agreement needs both right; the same
  steps without the masks (plain PEFT, no dropout) disagree;
* eval_step has no dropout; checkpoints keep the dropout seed, so a resumed
  run draws the masks of the uninterrupted one;
* the rate comes from --lora-dropout or the adapter's lora_dropout, is
  written to the saved adapter_config.json, and bad rates are refused;
* the Python compile() builds train steps too (mode="train").
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import onnx_models
from conftest import rel_err
from test_artifacts import lora_compile
from test_lora_peft import PeftCase
from test_training import (ADAMW_LR, SCALE, SgdCase, lora_parameters, make_labels,
                           torch_loss)

lora_opt = pytest.importorskip(
    "lora_opt", reason="the lora_opt package is installed by scripts/setup.sh")
torch = pytest.importorskip("torch")

pytestmark = pytest.mark.filterwarnings(
    "ignore:Could not find a config file:UserWarning")

TOL = 1e-4
RATE = 0.1
STEPS = 4
SEED = 1234

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer on a uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def splitmix(seed: int, n: int) -> int:
    """The n-th output of splitmix64 seeded with `seed`."""
    return int(mix(np.array([(seed + n * GOLDEN) & MASK64], dtype=np.uint64))[0])


def keep_mask(seed: int, stream: int, shape, rate: float) -> np.ndarray:
    """lora.dropout's mask: element i (row-major) is kept when the top 24
    bits of mix(key + (i+1)·G) reach round(rate·2²⁴), with
    key = splitmix(seed, stream + 1)."""
    key = np.array([splitmix(seed, stream + 1)], dtype=np.uint64)
    count = int(np.prod(shape))
    index = np.arange(1, count + 1, dtype=np.uint64)
    h = mix(key + index * np.uint64(GOLDEN))
    threshold = np.uint64(math.floor(rate * (1 << 24) + 0.5))
    return ((h >> np.uint64(40)) >= threshold).reshape(shape)


def step_seed(seed: int, step: int) -> int:
    """What the model passes as dropout_seed at step `step` (1-based)."""
    return splitmix(seed, step)


def test_mask_statistics():
    # The known first output of splitmix64 from seed 0.
    assert splitmix(0, 1) == 0xE220A8397B1DCDAF
    shape = (64, 128, 128)
    n = float(np.prod(shape))
    for rate in (0.05, 0.1, 0.5):
        mask = keep_mask(7, 0, shape, rate)
        sigma = math.sqrt(rate * (1 - rate) / n)
        assert abs(mask.mean() - (1 - rate)) < 5 * sigma, (rate, mask.mean())
    # Independent across streams, steps and seeds: two masks agree on a
    # fraction p² + (1-p)² of the elements.
    rate = 0.5
    base = keep_mask(step_seed(SEED, 1), 0, shape, rate)
    others = [keep_mask(step_seed(SEED, 1), 1, shape, rate),
              keep_mask(step_seed(SEED, 2), 0, shape, rate),
              keep_mask(step_seed(SEED + 1, 1), 0, shape, rate)]
    for other in others:
        agree = (base == other).mean()
        assert abs(agree - 0.5) < 5 * math.sqrt(0.25 / n), agree
    # Neighbouring elements are not correlated either.
    flat = base.reshape(-1)
    assert abs((flat[1:] == flat[:-1]).mean() - 0.5) < 5 * math.sqrt(0.25 / n)


class MirroredDropout(torch.nn.Module):
    """PEFT's lora_dropout module replaced by lora.dropout's mask of the
    layer's stream at the current step of `clock`."""

    def __init__(self, clock: dict, stream: int, rate: float):
        super().__init__()
        self.clock, self.stream, self.rate = clock, stream, rate

    def forward(self, x):
        mask = keep_mask(step_seed(self.clock["seed"], self.clock["step"]),
                         self.stream, tuple(x.shape), self.rate)
        scale = np.float32(1.0 / (1.0 - self.rate))
        return x * torch.from_numpy(mask.astype(np.float32)) * scale


def streams_of(manifest: dict) -> dict:
    """{module: stream}: the position of the module's A among the LoRA
    parameter arguments (lora-autodiff's rule)."""
    params = [a["name"] for a in manifest["arguments"]
              if a["kind"] in ("lora_a", "lora_b")]
    return {name[:-len(".lora_A.weight")]: i for i, name in enumerate(params)
            if name.endswith(".lora_A.weight")}


class DropoutCase:
    """The Llama export with a PEFT adapter, compiled --mode=train with
    --lora-dropout."""

    def __init__(self, onnx_path: str, folder: Path):
        self.peft = PeftCase("llama", "plain", folder / "adapter")
        self.artifact = folder / "train"
        lora_compile(onnx_path, f"--adapter={self.peft.adapter}", "--mode=train",
                     "--loss=causal-lm", f"--lora-dropout={RATE}",
                     f"--lora-seed={SEED}", "--opt-level=1", "-o", self.artifact)
        self.manifest = json.loads((self.artifact / "manifest.json").read_text())
        self.inputs = onnx_models.make_inputs("llama", path=onnx_path)
        self.labels = make_labels(self.inputs)

    def load(self):
        return lora_opt.load(self.artifact)

    def step(self, model) -> float:
        return model.train_step(**self.inputs, lr=ADAMW_LR, labels=self.labels)


@pytest.fixture(scope="module")
def dropout_case(exported, tmp_path_factory):
    return DropoutCase(exported("llama", "dynamo"),
                       tmp_path_factory.mktemp("llama_dropout"))


def test_manifest_and_adapter_config(dropout_case, tmp_path):
    dropout = dropout_case.manifest["train"]["dropout"]
    assert dropout == {"rate": RATE, "seed_input": "dropout_seed", "seed": SEED}
    config = json.loads(
        (dropout_case.artifact / "adapter" / "adapter_config.json").read_text())
    assert config["lora_dropout"] == RATE
    model = dropout_case.load()
    assert model.dropout_seed == SEED
    model.save_adapter(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "adapter_config.json").read_text())
    assert saved["lora_dropout"] == RATE
    # The eval step does not take the seed: it runs without dropout.
    assert "dropout_seed" not in dropout_case.manifest["train"]["eval"]["arguments"]


def test_adamw_steps_with_dropout_match_peft(dropout_case, tmp_path):
    model = dropout_case.load()
    ours = np.array([dropout_case.step(model) for _ in range(STEPS)])

    def reference_run(mirror_masks: bool):
        reference = PeftCase("llama", "plain", tmp_path / f"ref{mirror_masks}").model
        clock = {"seed": SEED, "step": 0}
        if mirror_masks:
            streams = streams_of(dropout_case.manifest)
            replaced = 0
            for name, module in reference.named_modules():
                if hasattr(module, "lora_dropout") and "default" in module.lora_dropout:
                    module.lora_dropout["default"] = MirroredDropout(
                        clock, streams[name], RATE)
                    replaced += 1
            assert replaced == len(streams) == dropout_case.peft.n_modules
        params = lora_parameters(reference)
        opt = torch.optim.AdamW(params.values(), lr=ADAMW_LR, betas=(0.9, 0.999),
                                eps=1e-8, weight_decay=0.0)
        losses = []
        for step in range(1, STEPS + 1):
            clock["step"] = step
            opt.zero_grad()
            loss = torch_loss(reference, dropout_case.inputs, dropout_case.labels)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return np.array(losses), params

    theirs, params = reference_run(mirror_masks=True)
    errors = np.abs(ours - theirs) / np.abs(theirs)
    assert errors.max() <= TOL, f"step {errors.argmax() + 1}: {ours} vs {theirs}"

    # The trained parameters, through the saved adapter (PEFT orientation).
    from safetensors.numpy import load_file
    model.save_adapter(tmp_path / "saved")
    tensors = load_file(str(tmp_path / "saved" / "adapter_model.safetensors"))
    for name, p in params.items():
        assert rel_err(tensors[name], p.detach().numpy()) <= TOL, name

    # Without the masks the same steps give other losses: dropout is live.
    plain, _ = reference_run(mirror_masks=False)
    assert np.abs(ours - plain).max() > 100 * TOL * np.abs(plain).max(), (ours, plain)


def test_eval_step_has_no_dropout(dropout_case):
    model = dropout_case.load()
    reference = dropout_case.peft.model
    with torch.no_grad():
        expected = torch_loss(reference, dropout_case.inputs,
                              dropout_case.labels).item()
    ours = model.eval_step(**dropout_case.inputs, labels=dropout_case.labels)
    assert abs(ours - expected) <= TOL * abs(expected), (ours, expected)
    # The train step's loss at the same parameters is the dropped-out one.
    dropped = dropout_case.step(model)
    assert abs(dropped - ours) > 10 * TOL * abs(ours), (dropped, ours)


def test_seed_and_checkpoint_resume(dropout_case, tmp_path):
    first = dropout_case.load()
    first.dropout_seed = 99
    for _ in range(2):
        dropout_case.step(first)
    first.save_checkpoint(tmp_path / "ckpt")
    straight = [dropout_case.step(first) for _ in range(3)]

    resumed = dropout_case.load()
    assert resumed.dropout_seed == SEED
    resumed.load_checkpoint(tmp_path / "ckpt")
    assert resumed.dropout_seed == 99 and resumed.step == 2
    again = [dropout_case.step(resumed) for _ in range(3)]
    np.testing.assert_allclose(again, straight, rtol=1e-7, atol=0)

    # Another seed draws other masks: other losses from the same state.
    other = dropout_case.load()
    other.load_checkpoint(tmp_path / "ckpt")
    other.dropout_seed = 100
    assert abs(dropout_case.step(other) - straight[0]) > 1e-6 * abs(straight[0])

    # A checkpoint without the seed is refused by a model with dropout.
    meta = json.loads((tmp_path / "ckpt" / "checkpoint.json").read_text())
    assert meta["dropout_seed"] == "99"
    broken = tmp_path / "broken"
    shutil.copytree(tmp_path / "ckpt", broken)
    del meta["dropout_seed"]
    (broken / "checkpoint.json").write_text(json.dumps(meta))
    with pytest.raises(lora_opt.LoraOptError, match="no dropout_seed"):
        dropout_case.load().load_checkpoint(broken)


def test_rate_from_the_adapter_and_bad_rates(dropout_case, tmp_path, exported):
    onnx_path = exported("llama", "dynamo")
    adapter = tmp_path / "adapter"
    shutil.copytree(dropout_case.peft.adapter, adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["lora_dropout"] = 0.25
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    mlir = tmp_path / "train.mlir"
    lora_compile(onnx_path, f"--adapter={adapter}", "--mode=train",
                 "--loss=causal-lm", "--emit=lora", "-o", mlir)
    text = mlir.read_text()
    # One per layer in the forward, and the backward's where a gradient
    # flows through the layer's input.
    assert text.count("lora_input(") >= 2 * dropout_case.peft.n_modules
    assert text.count("lora.dropout") > dropout_case.peft.n_modules
    assert "rate = 2.500000e-01" in text
    # --lora-dropout overrides the adapter's; 0 means none.
    lora_compile(onnx_path, f"--adapter={adapter}", "--mode=train",
                 "--loss=causal-lm", "--lora-dropout=0", "--emit=lora", "-o", mlir)
    assert "lora.dropout" not in mlir.read_text()

    proc = lora_compile(onnx_path, f"--adapter={dropout_case.peft.adapter}",
                        "--mode=train", "--lora-dropout=1", "-o",
                        tmp_path / "bad", check=False)
    assert proc.returncode != 0
    assert "the LoRA dropout must be in [0, 1), not 1\n" in proc.stderr
    assert not (tmp_path / "bad").exists()
    config["lora_dropout"] = -0.5
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    proc = lora_compile(onnx_path, f"--adapter={adapter}", "--mode=train",
                        "-o", tmp_path / "bad", check=False)
    assert proc.returncode != 0
    assert "not -0.5 (the adapter's lora_dropout)" in proc.stderr


def test_python_compile_builds_train_steps(tmp_path):
    case = SgdCase(tmp_path)
    out = lora_opt.compile(case.mlir, tmp_path / "py", mode="train", loss="mse",
                           optimizer="sgd", momentum=0.9, lora_dropout=0.5)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["train"]["optimizer"] == {"name": "sgd", "weight_decay": 0.0,
                                              "momentum": 0.9, "nesterov": False}
    assert manifest["train"]["dropout"]["rate"] == 0.5
    model = lora_opt.load(out)
    losses = [model.train_step(x=case.x, targets=case.targets, lr=0.05)
              for _ in range(5)]
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses

    # With rate 0.5 and mse on y = x·W + s·(drop(x)·A)·B, the first loss
    # is the mirrored mask's.
    x = case.x.astype(np.float64)
    keep = keep_mask(step_seed(0, 1), 0, x.shape, 0.5)
    dropped = np.where(keep, x * 2.0, 0.0)
    y = x @ case.w + SCALE * (dropped @ case.a) @ case.b
    expected = np.mean((y - case.targets) ** 2)
    fresh = lora_opt.load(out)
    assert fresh.train_step(x=case.x, targets=case.targets, lr=0.05) == \
        pytest.approx(expected, rel=1e-5)

    with pytest.raises(lora_opt.LoraOptError,
                       match="option 'loss' configures training"):
        lora_opt.compile(case.mlir, tmp_path / "bad", loss="mse")
    with pytest.raises(lora_opt.LoraOptError, match="'mode' must be"):
        lora_opt.compile(case.mlir, tmp_path / "bad", mode="serve")
