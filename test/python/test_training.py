"""Training end to end in fp32 (issue 6), against PEFT and torch.

* Gradients: `lora-opt --lora-insert=adapter --lora-fuse --lora-autodiff`
  compiled with `lora-compile --function=train_step` gives the loss and
  dL/dA, dL/dB of every LoRA parameter; they must equal torch autograd's on
  the PEFT model (GPT-2 and Llama with the causal-LM loss, BERT's masked LM
  with cross-entropy; labels include ignored tokens).
* AdamW: a `lora-compile --mode=train` artifact stepped 50 times with
  Model.train_step follows torch.optim.AdamW on the PEFT model's LoRA
  parameters; the adapter it saves loads in PEFT and gives our loss.
* Checkpoints: resuming from one gives the same losses as not stopping; a
  save replaces the previous checkpoint, a failed save leaves it intact, and
  another model's checkpoint is refused.
* SGD with momentum, weight decay and Nesterov on a small hand-written
  lora.linear model, against torch.optim.SGD on the same math.
* Bad input: labels out of range, train_step on an inference artifact and
  bad train options of lora-compile.

The bar is the issue's: relative error (max |a - e| / max |e|) <= 1e-4.
The LoRA weights are seeded random non-zero values (PEFT initialises B to
zero, which would make dL/dA zero and the comparison of A trivial).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import onnx_models
from conftest import rel_err, tool
from test_artifacts import lora_compile
from test_lora_peft import PeftCase, lora_opt_ok

lora_opt = pytest.importorskip(
    "lora_opt", reason="the lora_opt package is installed by scripts/setup.sh")
torch = pytest.importorskip("torch")

pytestmark = pytest.mark.filterwarnings(
    "ignore:Could not find a config file:UserWarning")

TOL = 1e-4
# The loss each family is trained with (BERT is BertForMaskedLM).
LOSSES = {"gpt2": "causal-lm", "bert": "cross-entropy", "llama": "causal-lm"}
IGNORE_INDEX = -100
ADAMW_LR = 1e-2
ADAMW_STEPS = 50


def make_labels(inputs: dict, seed: int = 5) -> np.ndarray:
    """Random token labels shaped like input_ids, every fifth one ignored."""
    shape = inputs["input_ids"].shape
    labels = np.random.default_rng(seed).integers(
        0, onnx_models.VOCAB, size=shape, dtype=np.int64)
    labels[:, ::5] = IGNORE_INDEX
    return labels


def peft_name(name: str) -> str:
    """PEFT's parameter name without the adapter name, as in its saved
    adapters and in our manifests: ...lora_A.default.weight -> ...lora_A.weight."""
    return re.sub(r"\.(lora_[AB])\.default\.weight$", r".\1.weight", name)


def lora_parameters(model) -> dict:
    """{PEFT tensor name: parameter} of every LoRA A and B of a PeftModel."""
    return {peft_name(n): p for n, p in model.named_parameters()
            if ".lora_A." in n or ".lora_B." in n}


def torch_loss(model, inputs: dict, labels: np.ndarray):
    """The transformers model's own loss for `labels` (not reduced by us)."""
    kw = {k: torch.from_numpy(v) for k, v in inputs.items()}
    return model(**kw, labels=torch.from_numpy(labels), return_dict=True).loss


def checkpoint_files(path: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


# ----------------------------------------------------------------------------
# 1. Gradients of every LoRA parameter against PEFT + torch autograd
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("family", onnx_models.FAMILIES)
def test_gradients_match_peft(exported, tmp_path, family):
    path = exported(family, "dynamo")
    case = PeftCase(family, "plain", tmp_path / "adapter")
    inputs = onnx_models.make_inputs(family, path=path)
    labels = make_labels(inputs)

    mlir = tmp_path / "grad.mlir"
    lora_opt_ok(path, f"--lora-insert=adapter={case.adapter}", "--lora-fuse",
                f"--lora-autodiff=loss={LOSSES[family]}", "-o", mlir)
    lora_compile(mlir, "--function=train_step", "--opt-level=1", "-o",
                 tmp_path / "grad")
    ours = lora_opt.load(tmp_path / "grad")(**inputs, labels=labels)

    loss = torch_loss(case.model, inputs, labels)
    loss.backward()
    params = lora_parameters(case.model)

    assert rel_err(ours["loss"], loss.item()) <= TOL, (ours["loss"], loss.item())
    grads = {name[:-len(".grad")]: g for name, g in ours.items()
             if name != "loss"}
    # One gradient per PEFT LoRA parameter, under its name, and no other.
    assert len(params) == 2 * case.n_modules
    assert sorted(grads) == sorted(params)
    for name, p in params.items():
        # Ours is in ONNX orientation (A [K, r], B [r, N]): PEFT's transposed.
        expected = p.grad.numpy().T
        assert np.linalg.norm(expected) > 0 and np.linalg.norm(grads[name]) > 0, (
            f"{name}: a zero gradient proves nothing")
        err = rel_err(grads[name], expected)
        assert err <= TOL, f"{name}: rel_err {err:.3e}"


# ----------------------------------------------------------------------------
# The Llama train step (AdamW), compiled once for tests 2, 3, 5 and 6
# ----------------------------------------------------------------------------

class TrainCase:
    """The Llama export compiled by `lora-compile --mode=train` with a PEFT
    adapter, and the batch it is trained on."""

    def __init__(self, onnx_path: str, folder: Path):
        self.onnx = onnx_path
        self.peft = PeftCase("llama", "plain", folder / "adapter")
        self.artifact = folder / "train"
        lora_compile(onnx_path, f"--adapter={self.peft.adapter}", "--mode=train",
                     "--loss=causal-lm", "--opt-level=1", "-o", self.artifact)
        self.inputs = onnx_models.make_inputs("llama", path=onnx_path)
        self.labels = make_labels(self.inputs)

    def load(self):
        """A fresh Model: the adapter's parameters, zero optimizer state."""
        return lora_opt.load(self.artifact)

    def step(self, model, lr: float = ADAMW_LR, labels=None) -> float:
        return model.train_step(**self.inputs, lr=lr,
                                labels=self.labels if labels is None else labels)

    def current_loss(self, model) -> float:
        """The loss at the current parameters (the eval step, which changes
        nothing)."""
        return model.eval_step(**self.inputs, labels=self.labels)


@pytest.fixture(scope="session")
def llama_train(exported, tmp_path_factory):
    return TrainCase(exported("llama", "dynamo"),
                     tmp_path_factory.mktemp("llama_train"))


# ----------------------------------------------------------------------------
# 2. AdamW steps against torch.optim.AdamW on the PEFT model
# ----------------------------------------------------------------------------

def test_adamw_steps_match_peft(llama_train, tmp_path):
    from peft import PeftModel, get_peft_model_state_dict

    model = llama_train.load()
    assert model.is_training and model.step == 0
    ours = np.array([llama_train.step(model) for _ in range(ADAMW_STEPS)])
    assert model.step == ADAMW_STEPS

    reference = PeftCase("llama", "plain", tmp_path / "reference").model
    params = lora_parameters(reference)
    opt = torch.optim.AdamW(params.values(), lr=ADAMW_LR, betas=(0.9, 0.999),
                            eps=1e-8, weight_decay=0.0)
    theirs = []
    for _ in range(ADAMW_STEPS):
        opt.zero_grad()
        loss = torch_loss(reference, llama_train.inputs, llama_train.labels)
        loss.backward()
        opt.step()
        theirs.append(loss.item())
    theirs = np.array(theirs)

    errors = np.abs(ours - theirs) / np.abs(theirs)
    assert errors.max() <= TOL, f"step {errors.argmax() + 1}: {ours} vs {theirs}"
    assert ours[-1] < 0.6 * ours[0], ours

    # The saved adapter: PEFT's names and orientation ([r, K] and [N, r]),
    # the torch-trained values, and it loads in PEFT with our loss.
    saved = tmp_path / "saved"
    model.save_adapter(saved)
    from safetensors.numpy import load_file
    tensors = load_file(str(saved / "adapter_model.safetensors"))
    expected = {k: v.detach().numpy()
                for k, v in get_peft_model_state_dict(reference).items()}
    assert sorted(tensors) == sorted(expected) == sorted(params)
    for name, value in tensors.items():
        assert value.shape == expected[name].shape, name
        assert rel_err(value, expected[name]) <= TOL, name

    loaded = PeftModel.from_pretrained(onnx_models.build_model("llama", seed=0),
                                       str(saved))
    loaded.eval()
    with torch.no_grad():
        peft_loss = torch_loss(loaded, llama_train.inputs, llama_train.labels).item()
        trained_loss = torch_loss(reference, llama_train.inputs,
                                  llama_train.labels).item()
    ours_now = llama_train.current_loss(model)
    assert abs(peft_loss - ours_now) <= TOL * abs(ours_now), (peft_loss, ours_now)
    assert abs(trained_loss - ours_now) <= TOL * abs(ours_now), (trained_loss, ours_now)
    # eval_step changed nothing: the next train step starts from that loss.
    assert model.step == ADAMW_STEPS
    assert llama_train.step(model) == pytest.approx(ours_now, rel=1e-7)


# ----------------------------------------------------------------------------
# 3. Checkpoints: resume, replace, failed save
# ----------------------------------------------------------------------------

def test_checkpoint_resume(llama_train, tmp_path):
    ckpt = tmp_path / "ckpt"
    first = llama_train.load()
    for _ in range(10):
        llama_train.step(first)
    first.save_checkpoint(ckpt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    straight = [llama_train.step(first) for _ in range(10)]

    resumed = llama_train.load()
    resumed.load_checkpoint(ckpt)
    assert resumed.step == 10
    again = [llama_train.step(resumed) for _ in range(10)]
    np.testing.assert_allclose(again, straight, rtol=1e-7, atol=0)
    assert resumed.step == 20

    # A second save replaces the first (and leaves no staging folder).
    first.save_checkpoint(ckpt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    after_second_save = llama_train.step(first)
    saved = checkpoint_files(ckpt)

    # A failed save: the staging folder cannot be created where a file is.
    (tmp_path / "ckpt.saving").write_text("in the way")
    for _ in range(3):
        llama_train.step(first)
    with pytest.raises(lora_opt.LoraOptError, match="ckpt.saving"):
        first.save_checkpoint(ckpt)
    assert checkpoint_files(ckpt) == saved

    reloaded = llama_train.load()
    reloaded.load_checkpoint(ckpt)
    assert reloaded.step == 20
    assert llama_train.step(reloaded) == pytest.approx(after_second_save,
                                                       rel=1e-7, abs=0)


# ----------------------------------------------------------------------------
# 4. SGD (momentum, weight decay, Nesterov) on a small lora.linear model
# ----------------------------------------------------------------------------

M, K, N, RANK, SCALE = 6, 8, 5, 2, 0.5
SGD_OPTIONS = dict(momentum=0.9, weight_decay=0.01, nesterov=True)
SGD_LRS = [0.05] * 4 + [0.1] * 4  # a schedule: lr is an input of each step
A_NAME = "base_model.model.l.lora_A.weight"
B_NAME = "base_model.model.l.lora_B.weight"


def dense(value: np.ndarray) -> str:
    """An f32 dense attribute of `value`, exactly (shortest round-trip)."""
    def rows(a):
        if a.ndim == 0:
            return np.format_float_positional(a, unique=True, trim="-")
        return "[" + ", ".join(rows(x) for x in a) + "]"
    return f"dense<{rows(value)}> : {ttype(*value.shape)}"


def ttype(*shape) -> str:
    return "tensor<" + "x".join(map(str, shape)) + "xf32>"


class SgdCase:
    """y = x·W + s·(x·A)·B with the LoRA parameters named like PEFT's,
    trained on mse(y, targets) with SGD; W, A0, B0, x and targets seeded."""

    def __init__(self, folder: Path):
        rng = np.random.default_rng(7)
        self.w = rng.standard_normal((K, N)).astype(np.float32)
        self.a = (0.3 * rng.standard_normal((K, RANK))).astype(np.float32)
        self.b = (0.3 * rng.standard_normal((RANK, N))).astype(np.float32)
        self.x = rng.standard_normal((M, K)).astype(np.float32)
        self.targets = rng.standard_normal((M, N)).astype(np.float32)
        x, w, a, b, y = (ttype(M, K), ttype(K, N), ttype(K, RANK),
                         ttype(RANK, N), ttype(M, N))
        source = f"""
func.func @main(%x: {x} {{onnx.name = "x"}},
    %a: {a} {{lora.param = "{A_NAME}", lora.init = {dense(self.a)}}},
    %b: {b} {{lora.param = "{B_NAME}", lora.init = {dense(self.b)}}})
    -> ({y} {{onnx.name = "y"}}) {{
  %w = arith.constant {dense(self.w)}
  %y = lora.linear %x, %w, %a, %b {{rank = {RANK} : i64, scale = {SCALE} : f64}}
      : ({x}, {w}, {a}, {b}) -> {y}
  return %y : {y}
}}
"""
        self.mlir = folder / "linear.mlir"
        self.mlir.write_text(source)
        self.artifact = folder / "sgd"
        lora_compile(self.mlir, "--mode=train", "--loss=mse", "--optimizer=sgd",
                     f"--momentum={SGD_OPTIONS['momentum']}",
                     f"--weight-decay={SGD_OPTIONS['weight_decay']}",
                     "--nesterov", "-o", self.artifact)

    def load(self):
        return lora_opt.load(self.artifact)

    def step(self, model, lr: float) -> float:
        return model.train_step(x=self.x, targets=self.targets, lr=lr)


@pytest.fixture(scope="session")
def sgd_case(tmp_path_factory):
    return SgdCase(tmp_path_factory.mktemp("sgd"))


def test_sgd_momentum_matches_torch(sgd_case, tmp_path):
    from safetensors.numpy import load_file

    model = sgd_case.load()
    # The same math in float64, stepped by torch.optim.SGD.
    a = torch.tensor(sgd_case.a, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(sgd_case.b, dtype=torch.float64, requires_grad=True)
    x, w, t = (torch.tensor(v, dtype=torch.float64)
               for v in (sgd_case.x, sgd_case.w, sgd_case.targets))
    opt = torch.optim.SGD([a, b], lr=SGD_LRS[0], **SGD_OPTIONS)
    for step, lr in enumerate(SGD_LRS, start=1):
        for group in opt.param_groups:
            group["lr"] = lr
        ours = sgd_case.step(model, lr)
        opt.zero_grad()
        loss = ((x @ w + SCALE * (x @ a) @ b - t) ** 2).mean()
        loss.backward()
        opt.step()
        assert ours == pytest.approx(loss.item(), rel=1e-6), step

        model.save_adapter(tmp_path / "adapter")
        saved = load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))
        # Saved in PEFT's orientation: A as [r, K], B as [N, r].
        assert saved[A_NAME].shape == (RANK, K) and saved[B_NAME].shape == (N, RANK)
        assert rel_err(saved[A_NAME].T, a.detach().numpy()) <= 1e-6, step
        assert rel_err(saved[B_NAME].T, b.detach().numpy()) <= 1e-6, step
    assert model.step == len(SGD_LRS)
    assert rel_err(a.detach().numpy(), sgd_case.a) > 1e-2  # it moved

    # The momentum buffers travel in the checkpoint (ONNX orientation).
    model.save_checkpoint(tmp_path / "ckpt")
    state = load_file(str(tmp_path / "ckpt" / "optimizer.safetensors"))
    assert sorted(state) == [f"{A_NAME}.momentum_buffer", f"{B_NAME}.momentum_buffer"]
    for name, p in ((A_NAME, a), (B_NAME, b)):
        expected = opt.state[p]["momentum_buffer"].numpy()
        assert rel_err(state[f"{name}.momentum_buffer"], expected) <= 1e-6, name


# ----------------------------------------------------------------------------
# 5. Another model's checkpoint
# ----------------------------------------------------------------------------

def test_checkpoint_of_another_model_is_refused(llama_train, sgd_case, tmp_path):
    small = sgd_case.load()
    sgd_case.step(small, 0.05)
    small.save_checkpoint(tmp_path / "small")

    model = llama_train.load()
    for _ in range(3):
        llama_train.step(model)
    before = llama_train.current_loss(model)
    step = model.step
    with pytest.raises(lora_opt.LoraOptError, match="another model"):
        model.load_checkpoint(tmp_path / "small")
    assert model.step == step
    assert llama_train.current_loss(model) == before

    # And the other way round.
    model.save_checkpoint(tmp_path / "llama")
    small_before = sgd_case.step(small, 0.0)
    with pytest.raises(lora_opt.LoraOptError, match="another model"):
        small.load_checkpoint(tmp_path / "llama")
    assert small.step == 2
    assert sgd_case.step(small, 0.0) == small_before


# ----------------------------------------------------------------------------
# 6. Bad input
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [onnx_models.VOCAB, -1])
def test_negative_labels_out_of_range(llama_train, bad):
    model = llama_train.load()
    llama_train.step(model)
    before = llama_train.current_loss(model)
    labels = llama_train.labels.copy()
    labels[1, 3] = bad
    index = labels.shape[1] + 3  # flat index of [1, 3]
    with pytest.raises(lora_opt.LoraOptError) as error:
        llama_train.step(model, labels=labels)
    assert f"labels[{index}] = {bad}" in str(error.value)
    assert f"[0, {onnx_models.VOCAB})" in str(error.value)
    assert model.step == 1
    assert llama_train.current_loss(model) == before


def test_negative_train_step_on_inference_artifact(sgd_case, tmp_path):
    lora_compile(sgd_case.mlir, "-o", tmp_path / "infer")
    model = lora_opt.load(tmp_path / "infer")
    assert not model.is_training
    with pytest.raises(lora_opt.LoraOptError, match="--mode=train"):
        model.train_step(x=sgd_case.x, lr=0.1)
    with pytest.raises(lora_opt.LoraOptError, match="not a train step"):
        model.save_checkpoint(tmp_path / "ckpt")
    assert not (tmp_path / "ckpt").exists()
    with pytest.raises(lora_opt.LoraOptError, match="not a train step"):
        model.load_checkpoint(tmp_path / "ckpt")


BAD_OPTIONS = [
    (["--mode=bogus"], "unknown --mode=bogus (expected infer or train)"),
    # The Llama's output is its logits.
    (["--mode=train", "--loss=output"], "not a scalar; choose a loss"),
    (["--mode=train", "--loss=bogus"], "unknown loss 'bogus'"),
    (["--mode=train", "--loss=causal-lm", "--optimizer=bogus"],
     "unknown optimizer 'bogus'"),
]


@pytest.mark.parametrize("options,message", BAD_OPTIONS,
                         ids=["mode", "loss-output", "loss", "optimizer"])
def test_negative_train_compile_options(llama_train, tmp_path, options, message):
    out = tmp_path / "out"
    proc = lora_compile(llama_train.onnx, f"--adapter={llama_train.peft.adapter}",
                        *options, "-o", out, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr[-3000:]
    assert not out.exists(), "lora-compile left an output folder behind"


def test_negative_learning_rate_not_finite(sgd_case):
    model = sgd_case.load()
    sgd_case.step(model, 0.05)
    for lr in (float("nan"), float("inf")):
        with pytest.raises(lora_opt.LoraOptError,
                           match="the learning rate is not finite"):
            sgd_case.step(model, lr)
    assert model.step == 1


def edited_artifact(sgd_case, tmp_path, edit) -> Path:
    """A copy of the SGD artifact whose manifest `edit` changes."""
    import json
    import shutil
    copy = tmp_path / "edited"
    shutil.copytree(sgd_case.artifact, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    edit(manifest)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def test_negative_hand_edited_train_manifest(sgd_case, tmp_path):
    def set_key(path, value):
        def edit(manifest):
            node = manifest
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        return edit

    cases = [
        (("train", "lr_input"), "x",
         "train.lr_input 'x' is not an f64 scalar input of the function"),
        (("train", "eval", "arguments"), ["x", "nope"],
         "train.eval.arguments names 'nope', which is not an argument of "
         "'train_step'"),
        (("train", "eval", "outputs"),
         [{"name": "loss", "dtype": "i64", "shape": []}],
         "the first output of the eval step must be the f32 or f64 loss"),
        (("train", "dropout"), {"rate": 0.1, "seed_input": "x", "seed": 0},
         "train.dropout.seed_input 'x' is not an i64 scalar input of the "
         "function"),
    ]
    for i, (path, value, message) in enumerate(cases):
        folder = edited_artifact(sgd_case, tmp_path / str(i), set_key(path, value))
        with pytest.raises(lora_opt.LoraOptError) as error:
            lora_opt.load(folder)
        assert message in str(error.value), (path, str(error.value))


def test_negative_hand_edited_checkpoint(sgd_case, tmp_path):
    import json
    from safetensors.numpy import load_file, save_file

    model = sgd_case.load()
    sgd_case.step(model, 0.05)
    model.save_checkpoint(tmp_path / "ckpt")
    meta = json.loads((tmp_path / "ckpt" / "checkpoint.json").read_text())

    bad_step = tmp_path / "bad_step"
    import shutil
    shutil.copytree(tmp_path / "ckpt", bad_step)
    (bad_step / "checkpoint.json").write_text(json.dumps({**meta, "step": -1}))
    with pytest.raises(lora_opt.LoraOptError, match="is not a lora-opt checkpoint"):
        sgd_case.load().load_checkpoint(bad_step)

    bad_dtype = tmp_path / "bad_dtype"
    shutil.copytree(tmp_path / "ckpt", bad_dtype)
    state = load_file(str(bad_dtype / "optimizer.safetensors"))
    name = f"{A_NAME}.momentum_buffer"
    assert state[name].dtype == np.float32
    state[name] = state[name].astype(np.float64)
    save_file(state, str(bad_dtype / "optimizer.safetensors"))
    fresh = sgd_case.load()
    with pytest.raises(lora_opt.LoraOptError) as error:
        fresh.load_checkpoint(bad_dtype)
    assert f"has no f32[{K}x{RANK}] tensor '{name}'" in str(error.value)
    assert fresh.step == 0


def test_negative_save_adapter_without_lora(tmp_path):
    plain = tmp_path / "plain.mlir"
    plain.write_text("""
func.func @main(%x: tensor<2xf32> {onnx.name = "x"}) -> (tensor<2xf32> {onnx.name = "y"}) {
  %y = tosa.add %x, %x : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  return %y : tensor<2xf32>
}
""")
    lora_compile(plain, "-o", tmp_path / "plain")
    model = lora_opt.load(tmp_path / "plain")
    with pytest.raises(lora_opt.LoraOptError, match="has no LoRA parameters to save"):
        model.save_adapter(tmp_path / "adapter")
    assert not (tmp_path / "adapter").exists()


def test_negative_checkpoint_of_other_hyperparameters(sgd_case, tmp_path):
    # Same graph, same signature, another momentum: torch would restore the
    # saved hyper-parameters; a compiled step cannot, so it refuses.
    other = tmp_path / "other"
    lora_compile(sgd_case.mlir, "--mode=train", "--loss=mse", "--optimizer=sgd",
                 "--momentum=0.5", f"--weight-decay={SGD_OPTIONS['weight_decay']}",
                 "--nesterov", "-o", other)
    model = sgd_case.load()
    sgd_case.step(model, 0.05)
    model.save_checkpoint(tmp_path / "ckpt")
    meta = (tmp_path / "ckpt" / "checkpoint.json").read_text()
    assert "momentum=0.9" in meta and "nesterov=1" in meta
    resumed = lora_opt.load(other)
    with pytest.raises(lora_opt.LoraOptError) as error:
        resumed.load_checkpoint(tmp_path / "ckpt")
    assert "was saved by a train step with sgd" in str(error.value)
    assert "momentum=0.9" in str(error.value) and "momentum=0.5" in str(error.value)
    assert resumed.step == 0
    # The same settings load.
    again = sgd_case.load()
    again.load_checkpoint(tmp_path / "ckpt")
    assert again.step == 1
