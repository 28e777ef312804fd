"""`lora-compile --target=cuda-emulated`: the CUDA target's numerics, on the CPU.

The CUDA target lowers everything but its tensor-core kernels through its
own passes (parallel dims first, parallel loops collapsed and tiled into
blocks of 256 threads with bounds checks, kernel outlining, device memory
with early frees, one stream per function). `cuda-emulated` runs exactly
that host code and those kernels on the CPU (lora-cuda-emulate-on-host:
each kernel as loops over its blocks and threads; a float buffer is set to
NaN when allocated and before it is freed, so a read before the first write
or after the free shows), and builds the call sites
of the tensor-core kernels as the CUDA target does, with reference
launchers that compute the kernels' math in linalg. Without a GPU it checks:

* f32 GPT-2, BERT and Llama (torch.onnx dynamo exports) with a PEFT
  adapter: the logits match PEFT + torch to 1e-5 relative error.
* The f32 Llama train step (AdamW, LoRA dropout, causal-LM loss): 8 steps
  give the CPU artifact's losses, eval loss and saved adapter to 1e-6.
* bf16 Llama, GPT-2 and BERT, where every linear layer goes to the
  generated kernels (LoRA layers, frozen layers; in Llama's train step also
  the fused backward and g·Wᵀ): forward (and Llama's train step) match the
  CPU target to bf16 tolerances, with the call sites counted.

What it does not check: the kernels themselves (bench/gpu/ on a GPU does),
the NVVM lowering, the runtime's CUDA driver calls and the concurrency of
the GPU (the host runs the work in order).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

import onnx_models
from conftest import BUILD, rel_err, shape_spec
from test_artifacts import lora_compile
from test_lora_peft import PeftCase
from test_training import make_labels

lora_opt = pytest.importorskip(
    "lora_opt", reason="the lora_opt package is installed by scripts/setup.sh")
torch = pytest.importorskip("torch")
safetensors_numpy = pytest.importorskip("safetensors.numpy")
ml_dtypes = pytest.importorskip("ml_dtypes")

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


def train_steps(artifact: Path, inputs: dict, labels: np.ndarray, steps: int):
    with lora_opt.load(artifact) as model:
        return [model.train_step(**inputs, labels=labels, lr=1e-2)
                for _ in range(steps)]


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


# ----------------------------------------------------------------------------
# bf16: the call sites of the generated tensor-core kernels
# ----------------------------------------------------------------------------
#
# In bf16 every LoRA layer (lora.linear, and lora.linear_grad in the train
# step) and every frozen linear layer (tosa.matmul with a weight, g·Wᵀ in
# the backward) goes to the generated kernels. cuda-emulated builds the same
# call sites with reference launchers (the kernels' math in linalg), so the
# glue around every kernel runs here: operand order, layouts, collapsed batch
# dims, the fused f32 -> bf16 casts. The CPU target lowers the same graph
# through linalg with one difference in rounding: the CPU keeps t = s·x·A in
# f32, the kernels store it in bf16 (as a bf16 autograd would). Hence bf16
# tolerances: 0.8-1.9% measured with LoRA parameters of std 0.2, where LoRA
# itself moves the logits by far more.

BF16_TOL = 3e-2


@pytest.fixture(scope="module")
def export_bf16(tmp_path_factory):
    """export_bf16(family) -> the dynamo export of the bf16 model, made once."""
    cache = {}

    def get(family: str) -> str:
        if family not in cache:
            path = tmp_path_factory.mktemp("bf16") / f"{family}_bf16.onnx"
            model = onnx_models.build_model(family, 0).to(torch.bfloat16)
            onnx_models.export_model(family, "dynamo", str(path), model=model)
            cache[family] = str(path)
        return cache[family]

    return get


@pytest.fixture(scope="module")
def llama_bf16(export_bf16):
    return export_bf16("llama")


# LoRA targets, and the generated kernels' call sites of the forward: LoRA
# layers plus frozen ones (attention, MLP, the LM head; 2 layers each), and
# the attention's batched matmuls (q·kᵀ and probabilities·v, 2 layers).
BF16_CASES = {
    # q, v with LoRA; k, o, gate, up, down frozen; lm_head.
    "llama": ("q_proj,v_proj", 15, 4),
    # c_attn, c_fc with LoRA (Gemm with a bias); two c_proj frozen; lm_head.
    "gpt2": ("c_attn,c_fc", 9, 4),
    # query, value with LoRA; key, attention output, intermediate, output,
    # the MLM head's transform and decoder frozen.
    "bert": ("query,value", 14, 4),
}


LORA_ARGS = ["--lora-targets=q_proj,v_proj", "--lora-rank=8", "--lora-alpha=16"]


def kernel_call_sites(onnx_path, tmp_path, *args) -> dict:
    """{launcher kind: count} in the cuda-emulated linalg of the model."""
    out = tmp_path / "sites.mlir"
    lora_compile(onnx_path, *args, "--target=cuda-emulated", "--emit=linalg",
                 "-o", out)
    text = out.read_text()
    assert "gpu.module" not in text
    # Batched kernels (the attention's matmuls) take [B, M, K] operands.
    batched = set(re.findall(
        r"func\.func private @(lora_kernels_\d+_launch)\(%\w+: memref<\?x\?x",
        text))
    sites = [
        "batched" if f"lora_kernels_{n}_launch" in batched else kind or "forward"
        for n, kind in re.findall(r"call @lora_kernels_(\d+)(_\w+)?_launch\(",
                                  text)
    ]
    return {kind: sites.count(kind) for kind in set(sites)}


def bf16_logits_errors(path, tmp_path, lora: list, inputs: dict,
                       emulated: tuple = ()) -> tuple[float, float]:
    """(error of the cuda-emulated logits against the CPU target's, the
    LoRA parameters' effect on the CPU logits), both relative, with LoRA
    parameters of std 0.2; checks the base models agree too. `emulated`:
    more lora-compile arguments for the cuda-emulated artifact."""
    logits = {}
    for target in ("cpu", "cuda-emulated"):
        out = tmp_path / target
        extra = emulated if target == "cuda-emulated" else ()
        lora_compile(path, *lora, *extra, f"--target={target}", "--opt-level=1",
                     "-o", out)
        with lora_opt.load(out) as model:
            name = model.manifest["outputs"][0]["name"]
            base = model(**inputs)[name].astype(np.float64)
            rng = np.random.default_rng(0)
            for a in model.manifest["arguments"]:
                if a["kind"] in ("lora_a", "lora_b"):
                    model.set_parameter(a["name"], (0.2 * rng.standard_normal(
                        a["shape"])).astype(ml_dtypes.bfloat16))
            logits[target] = (base, model(**inputs)[name].astype(np.float64))
    (cpu_base, cpu), (base, emulated) = logits["cpu"], logits["cuda-emulated"]
    assert not np.isnan(emulated).any()
    assert rel_err(base, cpu_base) <= BF16_TOL
    return rel_err(emulated, cpu), rel_err(cpu, cpu_base)


@pytest.mark.parametrize("family", list(BF16_CASES))
def test_bf16_forward_matches_cpu(export_bf16, tmp_path, family):
    path = export_bf16(family)
    targets, call_sites, batched = BF16_CASES[family]
    lora = [f"--lora-targets={targets}", "--lora-rank=8", "--lora-alpha=16"]
    assert kernel_call_sites(path, tmp_path, *lora) == {
        "forward": call_sites, "batched": batched}
    inputs = onnx_models.make_inputs(family, path=path)
    err, effect = bf16_logits_errors(path, tmp_path, lora, inputs)
    print(f"{family} bf16 forward: rel_err {err:.3e} against the CPU target, "
          f"LoRA effect {effect:.3e}")
    assert err <= BF16_TOL
    # A wrong operand or layout at a call site would move the logits by as
    # much as LoRA does.
    assert effect > 5 * err, "LoRA hardly changes the logits"


def test_bf16_unaligned_sizes_match_cpu(tmp_path, monkeypatch):
    """Sizes whose rows TMA cannot stride: 13 tokens (the attention's q·kᵀ
    has N = 13, probabilities·v K = 13) and a vocabulary of 101 (the LM
    head's N). The kernels compute on zero-padded copies and the results
    are sliced, so every matmul keeps its call site, and the logits match
    the CPU target's."""
    config_cls, model_cls, kw = onnx_models._MODELS["llama"]
    monkeypatch.setitem(onnx_models._MODELS, "llama",
                        (config_cls, model_cls, dict(kw, vocab_size=101)))
    path = tmp_path / "llama_bf16_odd.onnx"
    model = onnx_models.build_model("llama", 0).to(torch.bfloat16)
    onnx_models.export_model("llama", "dynamo", str(path), batch=1, seq=13, model=model)
    lora = LORA_ARGS
    assert kernel_call_sites(path, tmp_path, *lora) == {"forward": 15, "batched": 4}
    rng = np.random.default_rng(0)
    inputs = {"input_ids": rng.integers(1, 101, size=(1, 13), dtype=np.int64),
              "attention_mask": np.ones((1, 13), dtype=np.int64)}
    err, effect = bf16_logits_errors(path, tmp_path, lora, inputs)
    print(f"llama bf16, 13 tokens, vocabulary 101: rel_err {err:.3e} against the "
          f"CPU target, LoRA effect {effect:.3e}")
    assert err <= BF16_TOL
    assert effect > 5 * err, "LoRA hardly changes the logits"
    # The train step: the backward's g·Wᵀ of the LM head contracts over the
    # 101 logits, and the attention's backward over the 13 tokens.
    train = ["--mode=train", "--loss=causal-lm"]
    assert kernel_call_sites(path, tmp_path, *lora, *train) == {
        "forward": 40, "batched": 15, "_lora_t_grad": 4, "_lora_b_grad": 4,
        "_lora_a_grad": 4, "_lora_input_grad": 2}
    labels = rng.integers(0, 101, size=(1, 13), dtype=np.int64)
    labels[:, ::5] = -100
    losses = {}
    for target in ("cpu", "cuda-emulated"):
        lora_compile(path, *lora, *train, f"--target={target}", "--opt-level=1",
                     "-o", tmp_path / f"train-{target}")
        losses[target] = train_steps(tmp_path / f"train-{target}", inputs, labels, steps=4)
    print("cpu:", losses["cpu"], "\ncuda-emulated:", losses["cuda-emulated"])
    assert np.isfinite(losses["cuda-emulated"]).all()
    assert losses["cuda-emulated"][-1] < losses["cuda-emulated"][0]
    assert rel_err(losses["cuda-emulated"], losses["cpu"]) <= 5e-3


def test_bf16_train_step_matches_cpu(llama_bf16, tmp_path):
    train = ["--mode=train", "--loss=causal-lm"]
    sites = kernel_call_sites(llama_bf16, tmp_path, *LORA_ARGS, *train)
    # Each of the 4 LoRA layers' backward as lora_t_grad, lora_b_grad and
    # lora_a_grad on the forward's t (no lora_down of its own), and dx
    # (lora_input_grad) for layer 1's two, which pass gradients on to layer
    # 0's; the forwards of the train and eval steps (15 each) and 10 frozen
    # g·Wᵀ of the backward; the attention's batched matmuls: 4 in each
    # forward and 7 in the backward (the gradients on a path to a LoRA
    # parameter).
    assert sites == {"forward": 40, "batched": 15, "_lora_t_grad": 4,
                     "_lora_b_grad": 4, "_lora_a_grad": 4,
                     "_lora_input_grad": 2}, sites
    inputs = onnx_models.make_inputs("llama", path=llama_bf16)
    labels = make_labels(inputs)
    results = {}
    for target in ("cpu", "cuda-emulated"):
        lora_compile(llama_bf16, *LORA_ARGS, *train, f"--target={target}",
                     "--opt-level=1", "-o", tmp_path / target)
        results[target] = train_steps(tmp_path / target, inputs, labels, steps=8)
    cpu, emulated = results["cpu"], results["cuda-emulated"]
    print("cpu:", cpu, "\ncuda-emulated:", emulated)
    assert np.isfinite(emulated).all() and emulated[-1] < 0.9 * emulated[0]
    assert rel_err(emulated, cpu) <= 5e-3


def bf16_train_losses(model: Path, tmp_path: Path, inputs: dict, labels: np.ndarray,
                      options: str) -> dict:
    """The losses of 4 train steps of `model`'s LoRA layers (LORA_ARGS) by
    target: "cpu", and "cuda-emulated" with `options` (--cuda-kernel-options)."""
    train = ["--mode=train", "--loss=causal-lm"]
    losses = {}
    for target, extra in (("cpu", ()), ("cuda-emulated", (options,))):
        lora_compile(model, *LORA_ARGS, *train, *extra, f"--target={target}",
                     "--opt-level=1", "-o", tmp_path / f"train-{target}")
        losses[target] = train_steps(tmp_path / f"train-{target}", inputs, labels,
                                     steps=4)
    print("cpu:", losses["cpu"], "\ncuda-emulated:", losses["cuda-emulated"])
    return losses


def test_bf16_kernel_options_match_cpu(llama_bf16, tmp_path):
    """`--cuda-kernel-options` reaches lora-generate-cuda-kernels (the
    manifest's pipeline has them). For --target=cuda the LoRA layers become
    fused lora_linear kernels and no lora_down (8 tokens take 64x64 tiles:
    no multicast pair here). On cuda-emulated the fused launchers hand their
    reference x, w, A, t, B and y in the kernel's parameter order; a wrong
    order would move the logits and the train step's losses (whose backward
    reads the t the forward stored) away from the CPU target's, as a
    reference computes the same math fused or not. Bad options fail
    cleanly."""
    options = "--cuda-kernel-options=fuse-lora-down multicast=2"
    # The CUDA target builds the fused kernels: no lora_down, two
    # lora_linear (q and v, each shared by the two layers; 8 tokens take
    # 64x64 tiles, one consumer, so no multicast pair).
    if Path("/usr/local/cuda/bin/ptxas").exists() or shutil.which("ptxas"):
        out = tmp_path / "cuda-linalg.mlir"
        lora_compile(llama_bf16, *LORA_ARGS, options, "--target=cuda",
                     "--emit=linalg", "-o", out)
        kernels = re.findall(r"gpu\.func @(\w+)\(", out.read_text())
        assert sorted(set(kernels)) == ["lora_linear", "matmul"], kernels
        assert kernels.count("lora_linear") == 2
        assert out.read_text().count("fuse_down\\22:true") == 2
    # One call site per layer as without the options: a fused layer's
    # launcher computes t itself (its reference: x·A into t, then x·W and
    # t·B into y).
    assert kernel_call_sites(llama_bf16, tmp_path, *LORA_ARGS, options) == {
        "forward": 15, "batched": 4}
    inputs = onnx_models.make_inputs("llama", path=llama_bf16)
    err, effect = bf16_logits_errors(llama_bf16, tmp_path, LORA_ARGS, inputs,
                                     emulated=(options,))
    print(f"llama bf16 forward, {options}: rel_err {err:.3e} against the CPU "
          f"target, LoRA effect {effect:.3e}")
    assert err <= BF16_TOL
    assert effect > 5 * err, "LoRA hardly changes the logits"
    manifest_text = json.dumps(manifest(tmp_path / "cuda-emulated"))
    assert "fuse-lora-down=true" in manifest_text and "multicast=2" in manifest_text
    train = ["--mode=train", "--loss=causal-lm"]
    labels = make_labels(inputs)
    losses = bf16_train_losses(llama_bf16, tmp_path, inputs, labels, options)
    assert np.isfinite(losses["cuda-emulated"]).all()
    assert rel_err(losses["cuda-emulated"], losses["cpu"]) <= 5e-3
    # The train step's call sites (test_bf16_train_step_matches_cpu has them
    # without the options): layer 1's two dx kernels compute dt themselves
    # (their launchers: g·Bᵀ into dt, then g·Wᵀ + dt·Aᵀ), so only layer 0's
    # layers, which need no dx, still launch lora_t_grad; dA reads the dt
    # the dx kernel stored, which the losses above would show if it were
    # wrong.
    sites = kernel_call_sites(llama_bf16, tmp_path, *LORA_ARGS, *train, options)
    assert sites == {"forward": 40, "batched": 15, "_lora_t_grad": 2,
                     "_lora_b_grad": 4, "_lora_a_grad": 4,
                     "_lora_input_grad": 2}, sites
    # An option the pass does not take, one it rejects, and options without
    # a CUDA target: an error naming them, no artifact.
    for args, message in (
            (("--cuda-kernel-options=bogus=1", "--target=cuda-emulated"),
             "invalid CUDA kernel options 'bogus=1'"),
            (("--cuda-kernel-options=multicast=3", "--target=cuda-emulated"),
             "multicast must be 1 or 2, not 3"),
            (("--cuda-kernel-options=fuse-lora-down",),
             "need --target=cuda or cuda-emulated")):
        bad = tmp_path / f"bad-{len(list(tmp_path.iterdir()))}"
        proc = lora_compile(llama_bf16, *LORA_ARGS, *args, "-o", bad, check=False)
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr[-2000:]
        assert not bad.exists()


@pytest.mark.parametrize("a_grad", [False, True], ids=["db", "db_da"])
def test_bf16_fused_weight_grads_train_step_matches_cpu(llama_bf16, tmp_path, a_grad):
    """`fuse-lora-b-grad`: the dx kernels that compute dt (layer 1's q and v
    projections; layer 0's need no dx) compute dB = tsᵀ·g too, adding into
    an f32 dBᵀ that their launcher zeroes and one elementwise op transposes
    and rounds, so only layer 0's two layers still launch lora_b_grad; with
    `fuse-lora-a-grad` they compute dA = xᵀ·dt as well (into a zeroed f32
    dA, rounded after), and only layer 0's launch lora_a_grad. On
    cuda-emulated the launchers' reference adds gᵀ·ts and xᵀ·dt into the
    zeroed sums: a wrong operand order, a sum not zeroed or a transposition
    the wrong way round would move the losses of the train steps (whose
    AdamW updates of A and B follow dA and dB) away from the CPU target's.
    Without the option it builds on, each is an error, and no artifact is
    left."""
    options = "--cuda-kernel-options=fuse-lora-down fuse-lora-b-grad" + (
        " fuse-lora-a-grad" if a_grad else "")
    train = ["--mode=train", "--loss=causal-lm"]
    if Path("/usr/local/cuda/bin/ptxas").exists() or shutil.which("ptxas"):
        out = tmp_path / "cuda-linalg.mlir"
        lora_compile(llama_bf16, *LORA_ARGS, *train, options, "--target=cuda",
                     "--emit=linalg", "-o", out)
        text = out.read_text()
        assert text.count("fuse_b_grad\\22:true") == 2
        assert text.count("fuse_a_grad\\22:true") == (2 if a_grad else 0)
        assert "lora_b_grad" in text and "lora_a_grad" in text   # layer 0's
    sites = kernel_call_sites(llama_bf16, tmp_path, *LORA_ARGS, *train, options)
    assert sites == {"forward": 40, "batched": 15, "_lora_t_grad": 2,
                     "_lora_b_grad": 2, "_lora_a_grad": 2 if a_grad else 4,
                     "_lora_input_grad": 2}, sites
    inputs = onnx_models.make_inputs("llama", path=llama_bf16)
    labels = make_labels(inputs)
    losses = bf16_train_losses(llama_bf16, tmp_path, inputs, labels, options)
    assert np.isfinite(losses["cuda-emulated"]).all()
    assert losses["cuda-emulated"][-1] < losses["cuda-emulated"][0]
    assert rel_err(losses["cuda-emulated"], losses["cpu"]) <= 5e-3
    alone, needs = (("fuse-lora-down fuse-lora-a-grad", "fuse-lora-a-grad needs fuse-lora-b-grad")
                    if a_grad else
                    ("fuse-lora-b-grad", "fuse-lora-b-grad needs fuse-lora-down"))
    bad = tmp_path / "bad"
    proc = lora_compile(llama_bf16, *LORA_ARGS, *train, "--target=cuda-emulated",
                        f"--cuda-kernel-options={alone}", "-o", bad, check=False)
    assert proc.returncode != 0
    assert needs in proc.stderr, proc.stderr[-2000:]
    assert not bad.exists()


def dynamic_symbols(library: Path, undefined: bool) -> set[str]:
    """The dynamic symbols `library` defines (or, `undefined`, needs)."""
    flag = "--undefined-only" if undefined else "--defined-only"
    out = subprocess.run(["nm", "-D", flag, library], capture_output=True,
                         text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


@pytest.mark.skipif(not (Path("/usr/local/cuda/bin/ptxas").exists() or shutil.which("ptxas")),
                    reason="ptxas is needed for --target=cuda")
@pytest.mark.skipif(not shutil.which("nm"), reason="nm reads the dynamic symbols")
def test_persistent_model_binds_to_the_runtime(llama_bf16, tmp_path):
    """A model with persistent kernels (`persistent=132`) asks the runtime
    for the GPU's SM count at each launch: model.so needs
    loraCudaMultiprocessorCount, and liblora_cuda_runtime.so, the library
    it binds to when it is loaded, exports it and every other mgpu* or
    loraCuda* function model.so calls. Without the persistent option it
    does not ask."""
    runtime = BUILD / "lib" / "liblora_cuda_runtime.so"
    if not runtime.exists():
        pytest.skip("this build has no CUDA runtime library")
    exported = dynamic_symbols(runtime, undefined=False)
    needed = {}
    for name, extra in (("persistent", ("--cuda-kernel-options=persistent=132",)),
                        ("plain", ())):
        out = tmp_path / name
        lora_compile(llama_bf16, *LORA_ARGS, *extra, "--target=cuda", "-o", out)
        needed[name] = {s for s in dynamic_symbols(out / "model.so", undefined=True)
                        if s.startswith(("mgpu", "loraCuda"))}
        assert needed[name] <= exported, needed[name] - exported
    assert "loraCudaMultiprocessorCount" in needed["persistent"]
    assert "loraCudaMultiprocessorCount" not in needed["plain"]
    assert "mgpuLaunchKernel" in needed["plain"]
