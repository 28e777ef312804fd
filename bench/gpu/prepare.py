#!/usr/bin/env python3
"""Compiles the kernels that bench/gpu/run.py measures on a GPU machine.

Runs here, with our build (the GPU machine has no LLVM/MLIR). For each case
(one lora.linear, one lora.linear with its lora.linear_grad, or one plain
linalg.matmul, on bf16 with a dynamic row count M) it writes a small MLIR
file, runs

    lora-opt --lora-generate-cuda-kernels            (for the lora.abi JSON)
    lora-opt --lora-generate-cuda-kernels --gpu-lower-to-nvvm-pipeline=...   (cubins)

and writes into the output folder (default bench/gpu/artifacts):

    src/<case>.mlir              the input
    <case>.<gpu.module>.cubin    one cubin per gpu.module
    kernels.json                 the cases, each kernel's ABI + its cubin, and
                                 where the kernels came from (commit, lora-opt)

and (unless --no-model) the whole-model checks, one folder each (MODELS):

    model/       examples/tiny_llama.onnx (f32), against the CPU target
    model_bf16/  the same Llama config in bf16, exported here with torch
                 (test/python/onnx_models.py): every linear layer and the
                 attention's matmuls run in the generated tensor-core kernels;
                 against the --target=cuda-emulated artifact (the same call
                 sites with the kernels' math in linalg, run on the CPU)

Each holds the CUDA artifact (lora-compile --target=cuda), the reference
artifact's logits for examples/input_ids.npy with seeded random LoRA
parameters, the train step for CUDA (--mode=train, AdamW, LoRA dropout) with
the reference train step's losses from the same parameters, the runtime
libraries and a copy of the lora_opt Python package (see MODEL_FILES).
The kernel part needs only the standard library; the models' references are
computed in a python with numpy (and torch, transformers and onnx for the
bf16 export: --python; default this one if it has numpy, else
~/.cache/lora-opt/venv/bin/python).

    python3 bench/gpu/prepare.py [--cases 4096x4096:16,4096x1024:g16,4096x1024:mm]
                                 [--out DIR] [--no-model | --models NAMES]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import lora_abi  # noqa: E402

PASS = "lora-generate-cuda-kernels"
BUILD = Path(os.environ.get("LORA_BUILD_DIR", ROOT / "build"))
VENV_PYTHON = Path.home() / ".cache" / "lora-opt" / "venv" / "bin" / "python"
PIPELINE = ("gpu-lower-to-nvvm-pipeline=cubin-chip=sm_90a cubin-features=+ptx80 "
            "opt-level=3 cubin-format=bin")
TIMEOUT_S = 600


class PrepareError(Exception):
    pass


def lora_mlir(K: int, N: int, r: int, scale: float, dt: str, bias: bool = False) -> str:
    x, y = f"tensor<?x{K}x{dt}>", f"tensor<?x{N}x{dt}>"
    w, a, b = f"tensor<{K}x{N}x{dt}>", f"tensor<{K}x{r}x{dt}>", f"tensor<{r}x{N}x{dt}>"
    c = f"tensor<{N}x{dt}>"
    bias_arg, bias_use, bias_type = ((f", %bias: {c}", " bias(%bias)", f", {c}") if bias
                                     else ("", "", ""))
    return f"""\
// y = x·W + {scale}·(x·A)·B{" + bias" if bias else ""}  (alpha = {scale * r:g}, r = {r}); written by bench/gpu/prepare.py
func.func @lora_{K}x{N}_r{r}(%x: {x}, %w: {w}, %a: {a}, %b: {b}{bias_arg}) -> {y} {{
  %y = lora.linear %x, %w, %a, %b{bias_use} {{rank = {r} : i64, scale = {scale!r} : f64}} : ({x}, {w}, {a}, {b}{bias_type}) -> {y}
  return %y : {y}
}}
"""


def grad_mlir(K: int, N: int, r: int, scale: float, dt: str) -> str:
    """One LoRA layer's forward and backward: lora.linear and lora.linear_grad
    of the same operands, with g = dL/dy; returns y, dx, dA, dB."""
    x, y = f"tensor<?x{K}x{dt}>", f"tensor<?x{N}x{dt}>"
    w, a, b = f"tensor<{K}x{N}x{dt}>", f"tensor<{K}x{r}x{dt}>", f"tensor<{r}x{N}x{dt}>"
    attrs = f"{{rank = {r} : i64, scale = {scale!r} : f64}}"
    return f"""\
// y = x·W + {scale}·(x·A)·B and its backward for g = dL/dy: dx = g·Wᵀ + {scale}·(g·Bᵀ)·Aᵀ,
// dA = {scale}·xᵀ·(g·Bᵀ), dB = {scale}·(x·A)ᵀ·g (alpha = {scale * r:g}, r = {r}); written by bench/gpu/prepare.py
func.func @lora_grad_{K}x{N}_r{r}(%x: {x}, %w: {w}, %a: {a}, %b: {b}, %g: {y}) -> ({y}, {x}, {a}, {b}) {{
  %y = lora.linear %x, %w, %a, %b {attrs} : ({x}, {w}, {a}, {b}) -> {y}
  %dx, %da, %db = lora.linear_grad %x, %w, %a, %b, %g {attrs} : ({x}, {w}, {a}, {b}, {y}) -> ({x}, {a}, {b})
  return %y, %dx, %da, %db : {y}, {x}, {a}, {b}
}}
"""


def matmul_mlir(K: int, N: int, dt: str, init: str, out_dt: str | None = None) -> str:
    """y = x·W as linalg.matmul, y in `out_dt` (default: dt); `init` is how
    its accumulator starts: "fill" (zero-filled, the exact meaning) or
    "empty" (tensor.empty)."""
    out_dt = out_dt or dt
    x, y, w = f"tensor<?x{K}x{dt}>", f"tensor<?x{N}x{out_dt}>", f"tensor<{K}x{N}x{dt}>"
    if init == "fill":
        acc = (f"  %zero = arith.constant 0.0 : {out_dt}\n"
               f"  %acc = linalg.fill ins(%zero : {out_dt}) outs(%e : {y}) -> {y}\n")
    else:
        acc = ""
    out = "%acc" if init == "fill" else "%e"
    return f"""\
// y = x·W; written by bench/gpu/prepare.py
func.func @matmul_{K}x{N}(%x: {x}, %w: {w}) -> {y} {{
  %c0 = arith.constant 0 : index
  %m = tensor.dim %x, %c0 : {x}
  %e = tensor.empty(%m) : {y}
{acc}  %y = linalg.matmul ins(%x, %w : {x}, {w}) outs({out} : {y}) -> {y}
  return %y : {y}
}}
"""


def bmm_mlir(K: int, N: int, transposed: bool, dt: str) -> str:
    """y[b] = x[b]·w[b], bf16 out, as an ONNX model's attention has it after
    lora-opt's import: a tosa.matmul [B, M, K] x [B, K, N] whose f32 result is
    rounded (the cast the kernel fuses), B and M dynamic; with `transposed`,
    w is a [0, 2, 1] transpose of a stored [B, N, K] (q·kᵀ)."""
    x, y = f"tensor<?x?x{K}x{dt}>", f"tensor<?x?x{N}x{dt}>"
    acc = f"tensor<?x?x{N}xf32>"
    rhs = f"tensor<?x{K}x{N}x{dt}>"
    stored = f"tensor<?x{N}x{K}x{dt}>" if transposed else rhs
    zp = f'"tosa.const"() <{{values = dense<0.0> : tensor<1x{dt}>}}> : () -> tensor<1x{dt}>'
    body = f"  %zp = {zp}\n"
    w = "%w"
    if transposed:
        body += (f"  %wt = tosa.transpose %w {{perms = array<i32: 0, 2, 1>}} : "
                 f"({stored}) -> {rhs}\n")
        w = "%wt"
    body += (f"  %acc = tosa.matmul %x, {w}, %zp, %zp : ({x}, {rhs}, tensor<1x{dt}>, "
             f"tensor<1x{dt}>) -> {acc}\n"
             f"  %y = tosa.cast %acc : ({acc}) -> {y}\n")
    what = "x·wᵀ, w stored [B, N, K]" if transposed else "x·w"
    return f"""\
// y[b] = {what} for every b; written by bench/gpu/prepare.py
func.func @bmm_{K}x{N}{'_t' if transposed else ''}(%x: {x}, %w: {stored}) -> {y} {{
{body}  return %y : {y}
}}
"""


def run_python(cmd: list[str], env: dict) -> subprocess.CompletedProcess:
    """A child python of the model step; a timeout is a PrepareError."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=env,
                              timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise PrepareError(f"timed out after {TIMEOUT_S} s: {' '.join(cmd)}")


def run_tool(cmd: list[str], env: dict) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                              timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise PrepareError(f"timed out after {TIMEOUT_S} s: {' '.join(cmd)}")
    if proc.returncode != 0:
        raise PrepareError(f"failed ({proc.returncode}): {' '.join(cmd)}\n"
                           f"{proc.stderr[-4000:]}")
    return proc.stdout


def find_ptxas() -> str | None:
    found = shutil.which("ptxas")
    if found:
        return found
    for var in ("CUDA_ROOT", "CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            p = Path(os.environ[var]) / "bin" / "ptxas"
            if p.exists():
                return str(p)
    p = Path("/usr/local/cuda/bin/ptxas")
    return str(p) if p.exists() else None


def check_tools(lora_opt: str) -> tuple[dict, str]:
    """(environment for lora-opt with ptxas on PATH, ptxas path); raises
    PrepareError when lora-opt, its kernel pass or ptxas is missing."""
    if not (os.path.isfile(lora_opt) and os.access(lora_opt, os.X_OK)):
        raise PrepareError(f"lora-opt not found at {lora_opt}: build the project "
                           "(cmake --build build) or pass --lora-opt PATH")
    helptext = subprocess.run([lora_opt, "--help"], capture_output=True,
                              text=True).stdout
    if f"--{PASS}" not in helptext:
        raise PrepareError(f"{lora_opt} has no --{PASS} pass: rebuild it from a "
                           "tree that has the CUDA kernel generator")
    ptxas = find_ptxas()
    if not ptxas:
        raise PrepareError("ptxas not found (PATH, CUDA_ROOT/CUDA_HOME/CUDA_PATH, "
                           "/usr/local/cuda/bin): install the CUDA toolkit; the "
                           "cubins are made by ptxas through lora-opt")
    env = dict(os.environ)
    env["PATH"] = str(Path(ptxas).parent) + os.pathsep + env.get("PATH", "")
    return env, ptxas


def provenance(lora_opt: str, ptxas: str) -> dict:
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=60).stdout.strip()
        except OSError:
            return ""
    h = hashlib.sha256()
    with open(lora_opt, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    git = ["git", "-C", str(ROOT)]
    return dict(
        lora_opt=os.path.abspath(lora_opt),
        lora_opt_sha256=h.hexdigest(),
        lora_opt_version=out([lora_opt, "--version"]),
        commit=out(git + ["rev-parse", "HEAD"]),
        dirty=bool(out(git + ["status", "--porcelain", "--untracked-files=no"])),
        ptxas=ptxas,
        ptxas_version=out([ptxas, "--version"]).splitlines()[-1:] or [""],
        pipeline=f"--{PASS} --{PIPELINE}",
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )


def compile_case(case: dict, lora_opt: str, env: dict, out: Path,
                 ptx: bool = False) -> dict:
    """Compiles one case; returns its kernels.json entry. With `ptx`, each
    kernel's module is also written as PTX (`ptx` in its entry), which
    ptx_emu.py runs on the CPU."""
    if case["op"] == "lora":
        sources = [lora_mlir(case["K"], case["N"], case["r"], case["scale"], case["dtype"],
                             case.get("bias", False))]
    elif case["op"] == "grad":
        sources = [grad_mlir(case["K"], case["N"], case["r"], case["scale"], case["dtype"])]
    elif case["op"] == "bmm":
        sources = [bmm_mlir(case["K"], case["N"], case["transposed"], case["dtype"])]
    else:
        # The zero-filled accumulator is what y = x·W means; tensor.empty is
        # tried second in case the generator only matches that form.
        sources = [matmul_mlir(case["K"], case["N"], case["dtype"], init,
                               case.get("out_dtype"))
                   for init in ("fill", "empty")]
    src_path = out / "src" / f"{case['id']}.mlir"
    # A tuning case: the same problem with the pass's options overridden.
    generate = f"--{PASS}" + (f"={case['pass_options']}" if case.get("pass_options") else "")
    abis = []
    for source in sources:
        src_path.write_text(source)
        gen = run_tool([lora_opt, generate, str(src_path)], env)
        abis = lora_abi.find_abis(gen)
        if abis:
            break
    if not abis:
        raise PrepareError(f"{case['id']}: --{PASS} generated no kernel with a "
                           f"lora.abi attribute (input {src_path})")
    try:
        abis = lora_abi.launch_order(case, abis)
        bindings = lora_abi.kernel_tensors(case, abis)
    except (KeyError, ValueError) as e:
        raise PrepareError(f"{case['id']}: {e}")
    variant_errors = lora_abi.check_row_variants(abis)
    if variant_errors:
        raise PrepareError(f"{case['id']}: " + "; ".join(variant_errors))
    for abi, tensors in zip(abis, bindings):
        errors = lora_abi.check_kernel(abi, case, tensors)
        if errors:
            raise PrepareError(f"{case['id']}: kernel {lora_abi.kernel_label(abi)}: "
                               + "; ".join(errors) + f"\nabi: {json.dumps(abi)}")
        if f"gpu.func @{abi['name']}" not in gen:
            raise PrepareError(f"{case['id']}: no gpu.func @{abi['name']} in the output")

    lowered = run_tool([lora_opt, generate, f"--{PIPELINE}", str(src_path)], env)
    binaries = lora_abi.find_binaries(lowered)
    assembly = {}
    if ptx:
        isa = PIPELINE.replace("cubin-format=bin", "cubin-format=isa")
        assembly = lora_abi.find_binaries(
            run_tool([lora_opt, generate, f"--{isa}", str(src_path)], env), key="assembly")
    kernels = []
    for abi in abis:
        module = abi["module"]
        if module not in binaries:
            raise PrepareError(f"{case['id']}: no gpu.binary @{module} for kernel "
                               f"{abi['name']} (binaries: {sorted(binaries)})")
        cubin = binaries[module]
        try:
            symbols = lora_abi.elf_symbols(cubin)
        except ValueError as e:
            raise PrepareError(f"{case['id']}: @{module}: bad cubin: {e}")
        if abi["name"] not in symbols:
            raise PrepareError(f"{case['id']}: @{module}'s cubin has no symbol "
                               f"{abi['name']}")
        name = f"{case['id']}.{module}.cubin"
        if not (out / name).exists():
            (out / name).write_bytes(cubin)
        kernels.append(dict(abi, cubin=name, cubin_bytes=len(cubin),
                            cubin_sha256=hashlib.sha256(cubin).hexdigest()))
        if ptx:
            if module not in assembly:
                raise PrepareError(f"{case['id']}: no PTX for @{module}")
            kernels[-1]["ptx"] = f"{case['id']}.{module}.ptx"
            (out / kernels[-1]["ptx"]).write_bytes(assembly[module])
    entry = {k: case[k] for k in ("id", "op", "K", "N", "r", "scale", "dtype", "B",
                                  "transposed", "pass_options", "bias") if k in case}
    entry["source"] = f"src/{src_path.name}"
    entry["kernels"] = kernels
    return entry


# --- the whole-model check ---------------------------------------------------------

MODEL_ONNX = ROOT / "examples" / "tiny_llama.onnx"
MODEL_INPUT = ROOT / "examples" / "input_ids.npy"
MODEL_ARGS = ["--lora-targets=q_proj,v_proj", "--lora-rank=8", "--lora-alpha=16",
              "--input-shape=input_ids:1x8"]
MODEL_SEED = 0
MODEL_PARAM_STD = 0.02


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One whole-model check: the folder under <out>, the ONNX file (None:
    exported here, see export_bf16_model), the artifact whose outputs are the
    reference, the LoRA parameters' std and run.py's tolerances."""
    name: str
    onnx: Path | None
    reference: str
    param_std: float
    logits_tol: float       # max |cuda - ref| <= logits_tol * max(1, max |ref|)
    train_tol: float        # every loss within train_tol relative
    note: str


MODELS = [
    ModelSpec("model", MODEL_ONNX, "cpu", MODEL_PARAM_STD, 1e-3, 1e-3,
              "f32: the generic kernels only, against the CPU target"),
    # bf16: the kernels round t = s·x·A to bf16 and sum in another order than
    # the CPU target (whose t stays f32), so the reference is the emulated
    # CUDA target, which computes the kernels' math at the same call sites.
    # Measured with it against the CPU target (LoRA std 0.2): logits 9.0e-3
    # of max |ref|, losses 5.0e-4 relative; the GPU should be closer still.
    # std 0.2: the LoRA branch moves the logits by 130% of their max, far
    # above the tolerance.
    ModelSpec("model_bf16", None, "cuda-emulated", 0.2, 3e-2, 5e-3,
              "bf16: every linear layer and the attention's matmuls on the "
              "generated tensor-core kernels, against --target=cuda-emulated"),
]
# The train step of the same model (AdamW, LoRA dropout, labels = the input
# ids, causal-LM shift): TRAIN_STEPS steps at TRAIN_LR from the saved
# parameters, then the eval loss; run.py repeats them on the GPU.
MODEL_TRAIN_ARGS = ["--mode=train", "--loss=causal-lm", "--lora-dropout=0.1"]
TRAIN_STEPS = 5
TRAIN_LR = 1e-2
RUNTIME_LIBS = ("liblora_runtime.so", "liblora_cuda_runtime.so")
# What run.py reads from each model folder, <out>/<ModelSpec.name> (run.py's
# MODEL_FILES must list the same). cpu_logits.npy holds the reference
# artifact's logits, computed on this machine's CPU (model.json's
# reference_target: the CPU target, or the emulated CUDA target).
MODEL_FILES = ["model.json", "input_ids.npy", "lora_params.npz", "cpu_logits.npy",
               "cuda/manifest.json", "cuda/model.so", "cuda/weights.bin",
               "lib/liblora_runtime.so", "lib/liblora_cuda_runtime.so",
               "lora_opt/__init__.py", "train_cuda/manifest.json", "train_cuda/model.so",
               "train_cuda/weights.bin", "train_reference.json"]


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def find_numpy_python(explicit: str | None) -> str:
    """A python that imports numpy: --python, this one, or the project venv's."""
    cands = [explicit] if explicit else [sys.executable, str(VENV_PYTHON)]
    for py in cands:
        if not py or not os.path.exists(py):
            continue
        try:
            ok = subprocess.run([py, "-c", "import numpy"], capture_output=True,
                                timeout=120).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return py
    raise PrepareError(f"no python with numpy ({', '.join(c for c in cands if c)}): pass "
                       "--python PATH (e.g. the venv of scripts/setup.sh) or --no-model")


def export_bf16_model(path: Path) -> None:
    """Runs in the numpy python (prepare.py --export-bf16): the example's
    Llama config (test/python/onnx_models.py, seed 0) in bf16, exported with
    the dynamo exporter as examples/make_example.py exports the f32 one
    (batch 1, 8 tokens, no attention mask)."""
    sys.path.insert(0, str(ROOT / "test" / "python"))
    try:
        import torch
        import onnx_models
    except ImportError as e:
        raise PrepareError(f"the bf16 model is exported with torch, transformers and onnx "
                           f"({e}): pass --python with them (the venv of "
                           "scripts/setup.sh) or --no-model")
    model = onnx_models.build_model("llama", 0).to(torch.bfloat16)
    onnx_models.export_model("llama", "dynamo", str(path), batch=1, seq=8, seed=0,
                             with_mask=False, model=model)


def stored(array):
    """How a reference array is saved: bf16 as float32 (exact), which numpy
    reads without ml_dtypes."""
    import numpy as np
    return array.astype(np.float32) if array.dtype.name == "bfloat16" else array


def model_reference(model_dir: Path, ref_dir: Path, seed: int, std: float) -> dict:
    """Runs in the numpy python (prepare.py --model-reference): with the copied
    lora_opt package and runtime in model_dir, loads the reference artifact
    ref_dir, sets every LoRA parameter to seeded N(0, std) values (rounded to
    the parameter's dtype) and writes lora_params.npz and cpu_logits.npy
    (bf16 stored as float32); then runs the train step of
    ref_dir.parent / f"train_{ref_dir.name}". Returns facts for model.json."""
    import numpy as np
    os.environ["LORA_OPT_LIB_DIR"] = str(model_dir / "lib")
    sys.path.insert(0, str(model_dir))
    import lora_opt
    if Path(lora_opt.__file__).resolve().parent != (model_dir / "lora_opt").resolve():
        raise PrepareError(f"imported {lora_opt.__file__}, not the copy in {model_dir}")
    x = np.load(model_dir / "input_ids.npy")
    rng = np.random.default_rng(seed)
    with lora_opt.load(ref_dir) as m:
        if len(m.inputs) != 1 or len(m.outputs) != 1:
            raise PrepareError(f"expected one input and one output, got {m.inputs} "
                               f"and {m.outputs}")
        inp, outp = m.inputs[0].name, m.outputs[0].name
        base = m(**{inp: x})[outp].astype(np.float64)
        params = {}
        for a in m.manifest["arguments"]:
            if a["kind"] in ("lora_a", "lora_b"):
                dtype = lora_opt._DTYPES[lora_opt._DTYPE_NAMES.index(a["dtype"])]
                params[a["name"]] = (std * rng.standard_normal(a["shape"])).astype(dtype)
        if not params:
            raise PrepareError(f"{ref_dir}: no lora_a/lora_b arguments in the manifest")
        for name, value in params.items():
            m.set_parameter(name, value)
        logits = m(**{inp: x})[outp]
        again = m(**{inp: x})[outp]
    wide = logits.astype(np.float64)
    if not np.isfinite(wide).all():
        raise PrepareError(f"the {ref_dir.name} logits are not finite")
    if logits.tobytes() != again.tobytes():
        raise PrepareError(f"two runs of the {ref_dir.name} artifact differ")
    effect = float(np.max(np.abs(wide - base)))
    if effect <= 1e-3 * max(1.0, float(np.max(np.abs(wide)))):
        raise PrepareError(f"the random LoRA parameters barely change the logits "
                           f"(max abs {effect:.3g}): the check would not see them")
    np.savez(model_dir / "lora_params.npz", **{k: stored(v) for k, v in params.items()})
    np.save(model_dir / "cpu_logits.npy", stored(logits))
    # The reference target's train step from the same parameters.
    with lora_opt.load(ref_dir.parent / f"train_{ref_dir.name}") as t:
        for name, value in params.items():
            t.set_parameter(name, value)
        losses = [t.train_step(**{inp: x}, labels=x, lr=TRAIN_LR)
                  for _ in range(TRAIN_STEPS)]
        eval_loss = t.eval_step(**{inp: x}, labels=x)
    if not np.isfinite(losses + [eval_loss]).all() or not eval_loss < losses[0]:
        raise PrepareError(f"the {ref_dir.name} train steps do not train: losses "
                           f"{losses}, then {eval_loss}")
    (model_dir / "train_reference.json").write_text(json.dumps(dict(
        steps=TRAIN_STEPS, lr=TRAIN_LR, labels="the input ids", losses=losses,
        eval_loss=eval_loss)) + "\n")
    return dict(input=inp, output=outp, output_shape=list(logits.shape),
                output_dtype=str(logits.dtype), parameters=len(params),
                cpu_logits_max_abs=float(np.max(np.abs(wide))),
                lora_effect_max_abs=effect)


FAKE_DRIVER_DIR = BUILD / "lib" / "fake-cuda"
FAKE_DRIVER_CHILD = ROOT / "test" / "python" / "fake_cuda_child.py"


def host_code_preflight(folder: Path, python: str, env: dict) -> str:
    """Runs the host code of folder's CUDA artifacts (two forwards; two train
    steps, an eval step and save_adapter) on the fake libcuda.so.1 of
    test/lib/FakeCuda, which checks every driver call and runs no kernel:
    host code that fails does so here, not in the GPU's time. What happened,
    for model.json; a PrepareError when the host code fails."""
    if not (FAKE_DRIVER_DIR / "libcuda.so.1").exists():
        return f"skipped: {FAKE_DRIVER_DIR}/libcuda.so.1 is not built"
    child_env = dict(env)
    child_env["LD_LIBRARY_PATH"] = os.pathsep.join(
        [str(FAKE_DRIVER_DIR), *filter(None, [env.get("LD_LIBRARY_PATH")])])
    launches, replays = {}, {}
    # Each artifact twice: as run.py first calls it, then with CUDA graphs
    # (load(cuda_graphs=True), as run.py), for enough calls that the last
    # ones replay.
    for artifact, graphs, calls in [(a, g, n) for a in ("cuda", "train_cuda")
                                    for g, n in ((False, 2), (True, 6))]:
        trace = folder / f"{artifact}.fake_trace.jsonl"
        trace.unlink(missing_ok=True)
        child_env["LORA_FAKE_CUDA_TRACE"] = str(trace)
        child_env.pop("LORA_CUDA_GRAPHS", None)
        child_env["CHILD_CUDA_GRAPHS"] = "1" if graphs else "0"
        proc = run_python([python, str(FAKE_DRIVER_CHILD), "run", str(folder / artifact),
                           str(folder / "input_ids.npy"), str(calls),
                           str(folder / "preflight_adapter")], child_env)
        entries = [json.loads(line) for line in trace.read_text().splitlines()] \
            if trace.exists() else []
        trace.unlink(missing_ok=True)
        errors = [e["error"] for e in entries if "error" in e]
        fallback = [line for line in proc.stderr.splitlines() if "without a CUDA graph" in line]
        replayed = sum("replay" in e for e in entries)
        if proc.returncode != 0 or errors or fallback or (graphs and not replayed):
            raise PrepareError(f"{folder / artifact}: its host code failed on the fake driver "
                               f"({FAKE_DRIVER_DIR}{', with CUDA graphs' if graphs else ''}): "
                               f"{errors[:3] or fallback or 'no call replayed a graph'}\n"
                               f"{(proc.stdout + proc.stderr)[-3000:]}")
        if graphs:
            replays[artifact] = replayed
        else:
            launches[artifact] = sum("launch" in e for e in entries)
    shutil.rmtree(folder / "preflight_adapter", ignore_errors=True)
    return ("passed on the fake driver (test/lib/FakeCuda): "
            + ", ".join(f"{a} {n} launches" for a, n in launches.items())
            + "; with CUDA graphs, "
            + ", ".join(f"{a} {n} of 6 calls replayed" for a, n in replays.items()))


def prepare_model(spec: ModelSpec, out: Path, lora_compile: str, lib_dir: Path,
                  python: str, env: dict, ptxas: str) -> dict:
    """Writes out/<spec.name> (via out/<spec.name>.tmp, so a failure leaves no
    half folder)."""
    if not (os.path.isfile(lora_compile) and os.access(lora_compile, os.X_OK)):
        raise PrepareError(f"lora-compile not found at {lora_compile}: build the project "
                           "or pass --lora-compile PATH (or --no-model)")
    for lib in RUNTIME_LIBS:
        if not (lib_dir / lib).exists():
            raise PrepareError(f"{lib_dir / lib} is missing: build the project or pass "
                               "--runtime-lib-dir DIR (or --no-model)")
    for f in (spec.onnx, MODEL_INPUT):
        if f is not None and not f.exists():
            raise PrepareError(f"{f} is missing")
    final, tmp = out / spec.name, out / f"{spec.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "lib").mkdir(parents=True)
    env_py = dict(os.environ)
    env_py.pop("LORA_OPT_LIB_DIR", None)
    onnx = spec.onnx
    if onnx is None:
        onnx = tmp / "model.onnx"
        proc = run_python([python, str(Path(__file__).resolve()), "--export-bf16",
                           str(onnx)], env_py)
        if proc.returncode != 0 or not onnx.exists():
            raise PrepareError(f"the bf16 export failed ({proc.returncode}, {python}):\n"
                               f"{(proc.stdout + proc.stderr)[-4000:]}")
    base = [lora_compile, "--quiet", str(onnx), *MODEL_ARGS]
    cmds = {}
    for target in dict.fromkeys(("cuda", spec.reference)):
        cmds[target] = base + [f"--target={target}", "-o", str(tmp / target)]
        cmds[f"train_{target}"] = base + MODEL_TRAIN_ARGS + [
            f"--target={target}", "-o", str(tmp / f"train_{target}")]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {t: pool.submit(run_tool, cmd, env) for t, cmd in cmds.items()}
        for f in futures.values():
            f.result()
    for name in cmds:
        target = name.removeprefix("train_")
        m = json.loads((tmp / name / "manifest.json").read_text())
        if m.get("target") != target:
            raise PrepareError(f"{tmp / name}: manifest target {m.get('target')!r}, "
                               f"expected {target!r}")
    for lib in RUNTIME_LIBS:
        shutil.copy2(lib_dir / lib, tmp / "lib" / lib)
    shutil.copytree(ROOT / "python_bindings" / "lora_opt", tmp / "lora_opt",
                    ignore=shutil.ignore_patterns("_lib", "__pycache__", "*.pyc"))
    shutil.copy2(MODEL_INPUT, tmp / "input_ids.npy")
    proc = run_python([python, str(Path(__file__).resolve()), "--model-reference",
                       str(tmp), str(tmp / spec.reference), str(MODEL_SEED),
                       repr(spec.param_std)], env_py)
    if proc.returncode != 0:
        raise PrepareError(f"the {spec.reference} reference failed ({proc.returncode}, "
                           f"{python}):\n{(proc.stdout + proc.stderr)[-4000:]}")
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    facts["host_preflight"] = host_code_preflight(tmp, python, env_py)
    # The reference artifact stays in the folder: where the reference came
    # from (and what tests run the model job on).
    source = (str(spec.onnx.relative_to(ROOT)) if spec.onnx is not None else
              f"{spec.name}/model.onnx (bench/gpu/prepare.py --export-bf16)")
    info = dict(
        format=1,
        name=spec.name,
        note=spec.note,
        onnx=source,
        input_file="input_ids.npy",
        lora_compile_args=[source, *MODEL_ARGS, "--target=cuda"],
        reference_target=spec.reference,
        param_seed=MODEL_SEED, param_std=spec.param_std,
        param_values=f"numpy default_rng({MODEL_SEED}).standard_normal(shape) * "
                     f"{spec.param_std}, in manifest order of the lora_a/lora_b arguments, "
                     "rounded to their dtype (bf16 stored as float32)",
        logits_tol=spec.logits_tol,
        tolerance=f"max |cuda - {spec.reference}| <= {spec.logits_tol:g} * max(1, max "
                  f"|{spec.reference}|), no NaN",
        train_compile_args=[source, *MODEL_ARGS, *MODEL_TRAIN_ARGS, "--target=cuda"],
        train_tol=spec.train_tol,
        train_tolerance=f"every loss within {spec.train_tol:g} relative of the "
                        f"{spec.reference} train step's",
        reference_python=python,
        **facts,
        provenance=dict(
            commit=_git("rev-parse", "HEAD"),
            dirty=bool(_git("status", "--porcelain", "--untracked-files=no")),
            lora_compile=os.path.abspath(lora_compile),
            lora_compile_sha256=sha256(lora_compile),
            runtime_sha256={lib: sha256(tmp / "lib" / lib) for lib in RUNTIME_LIBS},
            ptxas=ptxas,
            created=datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds")),
    )
    (tmp / "model.json").write_text(json.dumps(info, indent=1) + "\n")
    missing = [f for f in MODEL_FILES if not (tmp / f).exists()]
    if missing:
        raise PrepareError(f"model files missing after the model step: {missing}")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return info


def _git(*args) -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                              text=True, timeout=60).stdout.strip()
    except OSError:
        return ""


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--model-reference"]:      # internal: runs in the numpy python
        _, model_dir, ref_dir, seed, std = argv
        try:
            facts = model_reference(Path(model_dir), Path(ref_dir), int(seed), float(std))
        except PrepareError as e:
            print(f"prepare.py: {e}", file=sys.stderr)
            return 1
        print(json.dumps(facts))
        return 0
    if argv[:1] == ["--export-bf16"]:          # internal: runs in the numpy python
        try:
            export_bf16_model(Path(argv[1]))
        except PrepareError as e:
            print(f"prepare.py: {e}", file=sys.stderr)
            return 1
        return 0

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lora-opt", default=str(Path(os.environ.get(
        "LORA_BUILD_DIR", ROOT / "build")) / "bin" / "lora-opt"))
    ap.add_argument("--out", default=str(HERE / "artifacts"))
    ap.add_argument("--cases", help="comma-separated KxN:r (LoRA), KxN:gR (LoRA "
                    "forward+backward), KxN:mm (matmul), KxN (the shape's default "
                    "cases) or BxKxN:bmm / BxKxN:bmmt (batched matmul, w transposed); "
                    "default: the issue's shapes and the attention's matmuls")
    ap.add_argument("--jobs", type=int, default=2, help="parallel lora-opt runs (1 or 2)")
    ap.add_argument("--models", help="comma-separated model folders to prepare (default: "
                    + ",".join(m.name for m in MODELS) + ")")
    ap.add_argument("--no-model", action="store_true",
                    help="skip the whole-model checks (and remove earlier model folders)")
    ap.add_argument("--lora-compile", default=str(BUILD / "bin" / "lora-compile"))
    ap.add_argument("--runtime-lib-dir", default=str(BUILD / "lib"),
                    help="where liblora_runtime.so and liblora_cuda_runtime.so are")
    ap.add_argument("--python", help="a python with numpy for the models' references (and "
                    "torch, transformers, onnx for the bf16 export)")
    ap.add_argument("--ptx", action="store_true",
                    help="also write each module's PTX, for run.py --emulate (ptx_emu.py)")
    args = ap.parse_args(argv)

    try:
        cases = lora_abi.parse_case_spec(args.cases)
        names = [m.name for m in MODELS]
        wanted = (names if not args.models else
                  [n.strip() for n in args.models.split(",") if n.strip()])
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise ValueError(f"unknown model folders {unknown}: the models are {names}")
        models = [] if args.no_model else [m for m in MODELS if m.name in wanted]
        env, ptxas = check_tools(args.lora_opt)
        python = find_numpy_python(args.python) if models else None
    except (ValueError, PrepareError) as e:
        print(f"prepare.py: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    (out / "src").mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.cubin"), *out.glob("*.ptx")]:
        old.unlink()
    for spec in MODELS:                                   # made anew below (or not at all)
        shutil.rmtree(out / spec.name, ignore_errors=True)
    manifest_path = out / "kernels.json"
    if manifest_path.exists():
        manifest_path.unlink()

    jobs = max(1, min(2, args.jobs))
    entries, failures = {}, []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(compile_case, c, args.lora_opt, env, out, args.ptx): c for c in cases}
        for fut in concurrent.futures.as_completed(futures):
            case = futures[fut]
            try:
                entries[case["id"]] = fut.result()
                ks = entries[case["id"]]["kernels"]
                print(f"{case['id']}: " + ", ".join(
                    f"{lora_abi.kernel_label(k)} ({k['kind']}, tile {k['tile']}, block {k['block']}, "
                    f"smem {k['dynamic_smem']}, {k['cubin_bytes']} B)" for k in ks),
                    flush=True)
            except PrepareError as e:
                failures.append(str(e))
                print(f"{case['id']}: FAILED\n{e}", file=sys.stderr, flush=True)
    if failures:
        print(f"prepare.py: {len(failures)} of {len(cases)} cases failed; "
              "no kernels.json written", file=sys.stderr)
        return 1
    manifest = dict(format=1, provenance=provenance(args.lora_opt, ptxas),
                    cases=[entries[c["id"]] for c in cases])
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {manifest_path} ({len(cases)} cases, "
          f"{sum(len(e['kernels']) for e in manifest['cases'])} kernels)")

    for spec in models:
        try:
            info = prepare_model(spec, out, args.lora_compile, Path(args.runtime_lib_dir),
                                 python, env, ptxas)
        except (PrepareError, OSError, ValueError) as e:
            shutil.rmtree(out / f"{spec.name}.tmp", ignore_errors=True)
            print(f"prepare.py: the model step {spec.name} failed (--no-model skips "
                  f"it): {e}", file=sys.stderr)
            return 1
        print(f"wrote {out / spec.name} ({info['onnx']} for CUDA, {info['parameters']} "
              f"LoRA parameters, {spec.reference} logits {info['output_shape']}, LoRA "
              f"effect {info['lora_effect_max_abs']:.3g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
