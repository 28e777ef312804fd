"""`lora-compile --target=cuda`: whole models for H100/H200 (sm_90a).

The CUDA artifact of examples/tiny_llama.onnx has the layout and the
arguments of the CPU artifact of the same command (manifest target "cuda",
weights.bin byte for byte the same). Without a GPU, loading it fails with a
LoraOptError that names libcuda. With one, both artifacts get the same random
LoRA parameters and must give the same logits (max abs diff <= 1e-3 *
max(1, max |cpu|), no NaN), and a second call the same bits.

Skipped when ptxas is missing (the CUDA compile needs it).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, tool

lora_opt = pytest.importorskip(
    "lora_opt", reason="the lora_opt package is installed by scripts/setup.sh")

if not (Path("/usr/local/cuda/bin/ptxas").exists() or shutil.which("ptxas")):
    pytest.skip("ptxas is missing (neither /usr/local/cuda/bin/ptxas nor on PATH): "
                "--target=cuda needs the CUDA toolkit", allow_module_level=True)

MODEL = ROOT / "examples" / "tiny_llama.onnx"
INPUT = ROOT / "examples" / "input_ids.npy"
ARGS = ["--lora-targets=q_proj,v_proj", "--lora-rank=8", "--lora-alpha=16",
        "--input-shape=input_ids:1x8"]
TOL = 1e-3


def libcuda_loadable() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


def have_gpu() -> bool:
    if not libcuda_loadable():
        return False
    try:
        import torch
    except ImportError:
        return True            # a driver and no torch to ask: try the GPU
    return bool(torch.cuda.is_available())


HAVE_GPU = have_gpu()


def compile_model(out: Path, target: str) -> Path:
    proc = subprocess.run([tool("lora-compile"), "--quiet", str(MODEL), *ARGS,
                           f"--target={target}", "-o", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """(cpu artifact, cuda artifact), each compiled once for the module."""
    d = tmp_path_factory.mktemp("cuda_target")
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        cpu = pool.submit(compile_model, d / "cpu", "cpu")
        cuda = pool.submit(compile_model, d / "cuda", "cuda")
        return cpu.result(), cuda.result()


def manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def lora_parameters(m: dict, seed: int = 0, std: float = 0.02) -> dict:
    """Seeded random values for every lora_a / lora_b argument of manifest m."""
    rng = np.random.default_rng(seed)
    dtypes = {"f32": np.float32, "f16": np.float16, "f64": np.float64}
    params = {a["name"]: (std * rng.standard_normal(a["shape"])).astype(dtypes[a["dtype"]])
              for a in m["arguments"] if a["kind"] in ("lora_a", "lora_b")}
    assert params and all(np.any(v) for v in params.values())
    return params


def test_cuda_artifact_layout_and_manifest(artifacts):
    cpu, cuda = artifacts
    assert sorted(p.name for p in cuda.iterdir()) == [
        "adapter", "manifest.json", "model.so", "weights.bin"]
    assert (cuda / "model.so").stat().st_size > 0
    mc, mg = manifest(cpu), manifest(cuda)
    assert mc["target"] == "cpu" and mg["target"] == "cuda"
    assert mg["format"] == "lora-opt-artifact" and mg["format_version"] == 1
    assert mg["arguments"] == mc["arguments"]
    assert mg["outputs"] == mc["outputs"]
    assert mg["weights"] == mc["weights"]
    assert mg["lora"]["modules"] == mc["lora"]["modules"]
    kinds = [a["kind"] for a in mg["arguments"]]
    assert kinds.count("input") == 1 and kinds.count("lora_a") == kinds.count("lora_b") == 4
    assert (cuda / "weights.bin").read_bytes() == (cpu / "weights.bin").read_bytes()
    # The host code of the CUDA model.so calls the runtime's mgpu* functions
    # and carries sm_90a code; the CPU one does neither.
    so = (cuda / "model.so").read_bytes()
    assert b"mgpuModuleLoad" in so and b"mgpuLaunchKernel" in so
    assert b"sm_90a" in so
    assert b"mgpuLaunchKernel" not in (cpu / "model.so").read_bytes()


@pytest.mark.skipif(HAVE_GPU, reason="a GPU is here (the GPU test covers loading)")
def test_load_without_gpu_fails_clearly(artifacts):
    cpu, cuda = artifacts
    with pytest.raises(lora_opt.LoraOptError) as err:
        lora_opt.load(cuda)
    if not libcuda_loadable():
        assert "libcuda" in str(err.value), str(err.value)
    else:                      # a driver without a usable GPU
        assert "cuda" in str(err.value).lower(), str(err.value)
    # The CPU artifact of the same command still loads and runs here.
    with lora_opt.load(cpu) as m:
        logits = m(input_ids=np.load(INPUT))["logits"]
    assert logits.shape == (1, 8, 128) and np.isfinite(logits).all()


@pytest.mark.skipif(not HAVE_GPU, reason="needs an NVIDIA GPU (libcuda.so.1 and "
                    "torch.cuda.is_available())")
def test_cuda_logits_match_cpu(artifacts):
    cpu, cuda = artifacts
    x = np.load(INPUT)
    params = lora_parameters(manifest(cpu))
    logits = {}
    for name, path in (("cpu", cpu), ("cuda", cuda)):
        with lora_opt.load(path) as m:
            assert {a["name"] for a in m.manifest["arguments"]
                    if a["kind"] in ("lora_a", "lora_b")} == set(params)
            base = m(input_ids=x)["logits"]
            for pname, value in params.items():
                m.set_parameter(pname, value)
            first = m(input_ids=x)["logits"]
            second = m(input_ids=x)["logits"]
            assert first.tobytes() == second.tobytes(), f"{name}: two calls differ"
            logits[name] = (base, first)
    (cpu_base, cpu_out), (gpu_base, gpu_out) = logits["cpu"], logits["cuda"]
    assert not np.isnan(gpu_out).any()
    tol = TOL * max(1.0, float(np.abs(cpu_out).max()))
    diff = float(np.abs(gpu_out.astype(np.float64) - cpu_out).max())
    assert diff <= tol, f"max abs diff {diff:.3g} > {tol:.3g}"
    # Before the parameters were set (B = 0) the models agree too, and the
    # LoRA parameters change the logits far more than the tolerance.
    assert float(np.abs(gpu_base.astype(np.float64) - cpu_base).max()) <= tol
    assert float(np.abs(cpu_out.astype(np.float64) - cpu_base).max()) > 10 * tol
