#!/usr/bin/env python3
"""Runs the kernels that prepare.py compiled, on an H100/H200 (sm_90a):
correctness against a float64 reference, then timings against cuBLAS, a
PEFT-style eager LoRA layer and torch.compile of it (for a grad case, the
layer's forward and backward: our 6 launches against cuBLAS x·W + g·Wᵀ and
autograd; for a bmm case, the attention's batched matmuls, against
torch.bmm). First, for each model folder prepare.py wrote (MODEL_DIRS), the
whole-model check: the `lora-compile --target=cuda` artifact (examples/
tiny_llama.onnx in f32; the same Llama in bf16, on the tensor-core kernels),
loaded with the copied lora_opt package and runtime, must give the reference
artifact's logits (the CPU target; the emulated CUDA target for bf16), and
its train step the reference train step's losses. See README.md.

    python3 bench/gpu/run.py [--artifacts DIR] [--out DIR] [--quick]
                             [--only-correctness] [--cases PATTERNS] [--dry-run]
                             [--no-model]

Needs only the standard library, torch and the CUDA driver (libcuda, through
ctypes) for the kernels; the whole-model check also numpy (the copied lora_opt
package imports it). --dry-run needs neither torch nor a GPU.

The work runs in a worker process (this file with --worker) that the main
process watches: a kernel that faults or hangs costs its own job, the worker
is restarted and the remaining jobs go on.
Exit code: 0 all correct, 1 some check failed or crashed, 2 cannot run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import lora_abi  # noqa: E402

# 1000: a multiple of no tile. With K = N = 4096, 128 rows run the 64x64
# variant, 384 the 128x128 one, 1000 and 2048 the 128x256 one.
CHECK_MS = [128, 384, 2048, 1000]
TIME_MS = [128, 2048, 8192, 16384]
TOL = 1e-2
GRAD_OUTPUTS = ("y", "dx", "da", "db")  # what a grad case's check compares
QUEUE_US = 150                      # bench's GPU sleep per run: the host's lead
GRAD_QUEUE_US = 600                 # the same for autograd, which does more on the host
GRAD_BAR = 1.10                     # goal: ours (forward+backward) <= 1.10x cuBLAS xW + gWt
L2_FLUSH_BYTES = 256 << 20          # > 5x the H200's 50 MiB L2
GUARD_VALUE = -7.0                  # rows after M that no kernel may write
# A sum of reduce-adds (dB's, dA's) with PDL against without, relative: f32 adds
# in another order move it by ~1e-7 (its bf16 rounding by a few ulps of a
# few elements); a lost or doubled partial tile by far more.
PDL_ORDER_TOL = 1e-3
COMPILE_AUTOTUNE_LIMIT_S = 60.0
DEVICE = "cuda"                     # tests run the worker on "cpu" with a fake driver
MODEL_DIRS = ("model", "model_bf16")  # under the artifacts folder (prepare.py's MODELS)
MODEL_DIR = MODEL_DIRS[0]
MODEL_ARTIFACT = "cuda"             # tests run the model job on the "cpu" artifact
MODEL_FILES = ["model.json", "input_ids.npy", "lora_params.npz", "cpu_logits.npy",
               "cuda/manifest.json", "cuda/model.so", "cuda/weights.bin",
               "lib/liblora_runtime.so", "lib/liblora_cuda_runtime.so",
               "lora_opt/__init__.py", "train_cuda/manifest.json", "train_cuda/model.so",
               "train_cuda/weights.bin", "train_reference.json"]
# Defaults of model.json's logits_tol and train_tol:
MODEL_TOL = 1e-3                    # max |gpu - ref| <= MODEL_TOL * max(1, max |ref|)
TRAIN_TOL = 1e-3                    # each train-step loss within TRAIN_TOL relative
MODEL_WARMUP, MODEL_ITERS = 3, 20
GRAPH_WARMUP = 4                    # calls before CUDA graphs replay (two direct, a capture)


def log(msg: str) -> None:
    print(msg, flush=True)


# --- artifacts -----------------------------------------------------------------

def load_manifest(artifacts: Path) -> dict:
    path = artifacts / "kernels.json"
    if not path.exists():
        raise SystemExit(f"run.py: {path} is missing: run bench/gpu/prepare.py on "
                         "the build machine and bring bench/gpu/artifacts along "
                         "(the device tool's carry)")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != 1:
        raise SystemExit(f"run.py: {path}: unknown format {manifest.get('format')}")
    return manifest


def check_artifacts(manifest: dict, artifacts: Path) -> list[str]:
    """Problems with the cubins and ABIs (empty when none)."""
    problems = []
    for case in manifest["cases"]:
        try:
            if lora_abi.launch_order(case, case["kernels"]) != case["kernels"]:
                problems.append(f"{case['id']}: kernels not in launch order")
            bindings = lora_abi.kernel_tensors(case, case["kernels"])
            variant_problems = lora_abi.check_row_variants(case["kernels"])
            problems += [f"{case['id']}: {e}" for e in variant_problems]
            if not variant_problems:
                # Every set of variants some M launches.
                for M in sorted({lora_abi.row_range(k)[0] for k in case["kernels"]}):
                    lora_abi.kernels_at(case, M)
        except (KeyError, ValueError) as e:
            problems.append(f"{case['id']}: {e}")
            continue
        for k, tensors in zip(case["kernels"], bindings):
            where = f"{case['id']}/{lora_abi.kernel_label(k)}"
            path = artifacts / k["cubin"]
            if not path.exists():
                problems.append(f"{where}: {path} missing")
                continue
            data = path.read_bytes()
            if data[:4] != b"\x7fELF":
                problems.append(f"{where}: {path} is not ELF")
                continue
            try:
                if k["name"] not in lora_abi.elf_symbols(data):
                    problems.append(f"{where}: no symbol {k['name']} in {path.name}")
            except ValueError as e:
                problems.append(f"{where}: {e}")
            problems += [f"{where}: {e}" for e in lora_abi.check_kernel(k, case, tensors)]
    return problems


# --- the whole model -------------------------------------------------------------

def import_model_package(model_dir: Path):
    """The lora_opt package prepare.py copied into model_dir, with its runtime
    libraries from model_dir/lib (LORA_OPT_LIB_DIR)."""
    os.environ["LORA_OPT_LIB_DIR"] = str(model_dir / "lib")
    sys.path.insert(0, str(model_dir))
    import lora_opt
    where = Path(lora_opt.__file__).resolve().parent
    if where != (model_dir / "lora_opt").resolve():
        raise RuntimeError(f"imported lora_opt from {where}, not the copy in {model_dir}")
    return lora_opt


def manifest_dtype(lora_opt, name: str):
    """The numpy dtype of a manifest dtype name, as the lora_opt package
    reads it (bf16: ml_dtypes' bfloat16, None without ml_dtypes)."""
    return lora_opt._DTYPES[lora_opt._DTYPE_NAMES.index(name)]


def model_static_problems(model_dir: Path) -> list[str]:
    """What can be checked of model_dir without a GPU (needs numpy): the
    copied package imports, the CUDA runtime library loads, and the saved
    parameters, input and logits fit the artifact's manifest."""
    import ctypes
    import numpy as np
    problems = []
    lora_opt = import_model_package(model_dir)
    ctypes.CDLL(str(model_dir / "lib" / "liblora_cuda_runtime.so"))
    info = json.loads((model_dir / "model.json").read_text())
    manifest = json.loads((model_dir / MODEL_ARTIFACT / "manifest.json").read_text())
    if manifest.get("target") != MODEL_ARTIFACT:
        problems.append(f"{MODEL_ARTIFACT}/manifest.json: target {manifest.get('target')!r}")
    train = json.loads((model_dir / f"train_{MODEL_ARTIFACT}" / "manifest.json").read_text())
    if train.get("target") != MODEL_ARTIFACT or not train.get("train"):
        problems.append(f"train_{MODEL_ARTIFACT}/manifest.json: not a {MODEL_ARTIFACT} "
                        "train step")
    weights = (model_dir / MODEL_ARTIFACT / "weights.bin").stat().st_size
    if weights != manifest.get("weights", {}).get("bytes"):
        problems.append(f"{MODEL_ARTIFACT}/weights.bin: {weights} bytes, the manifest "
                        f"says {manifest.get('weights', {}).get('bytes')}")

    args = manifest["arguments"]
    lora = {a["name"]: a for a in args if a["kind"] in ("lora_a", "lora_b")}
    with np.load(model_dir / "lora_params.npz") as params:
        if sorted(params.files) != sorted(lora):
            problems.append(f"lora_params.npz has {sorted(params.files)}, the manifest's "
                            f"LoRA parameters are {sorted(lora)}")
        for name in set(params.files) & set(lora):
            v, a = params[name], lora[name]
            want = (np.dtype(np.float32) if a["dtype"] == "bf16"
                    else manifest_dtype(lora_opt, a["dtype"]))
            if v.dtype != want or list(v.shape) != a["shape"]:
                problems.append(f"lora_params.npz[{name}]: {v.dtype} {list(v.shape)}, "
                                f"the model wants {a['dtype']} {a['shape']}")
            elif not np.any(v):
                problems.append(f"lora_params.npz[{name}] is all zero")
    inputs = [a for a in args if a["kind"] == "input"]
    x = np.load(model_dir / "input_ids.npy")
    if (len(inputs) != 1 or inputs[0]["name"] != info.get("input")
            or x.dtype != manifest_dtype(lora_opt, inputs[0]["dtype"])
            or list(x.shape) != inputs[0]["shape"]):
        problems.append(f"input_ids.npy ({x.dtype} {list(x.shape)}) does not fit the "
                        f"model's inputs {inputs}")
    outputs = manifest.get("outputs", [])
    ref = np.load(model_dir / "cpu_logits.npy")
    if (len(outputs) != 1 or outputs[0]["name"] != info.get("output")
            or list(ref.shape) != outputs[0]["shape"]):
        problems.append(f"cpu_logits.npy {list(ref.shape)} does not fit the model's "
                        f"outputs {outputs}")
    elif not np.isfinite(ref).all():
        problems.append("cpu_logits.npy is not finite")
    return problems


def check_model_artifacts(model_dir: Path) -> list[str]:
    """Problems with artifacts/model (empty when none): every file is there,
    and (in a child python, as the worker will) the copied package imports
    and the saved arrays fit the artifact."""
    missing = [f for f in MODEL_FILES if not (model_dir / f).exists()]
    if missing:
        return [f"model: {model_dir / f} missing" for f in missing]
    try:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()),
                               "--model-static-check", str(model_dir)],
                              capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return ["model: the static check timed out"]
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        err = (proc.stderr or proc.stdout).strip()
        last = err.splitlines()[-1] if err else ""
        return [f"model: the copied lora_opt package does not import or the model files "
                f"do not check out (exit {proc.returncode}, {sys.executable}): {last}\n"
                f"{err[-1200:]}"]
    return [f"model: {p}" for p in json.loads(lines[-1])]


def model_state(args, name: str = MODEL_DIR) -> tuple[str, list[str]]:
    """("run" | "absent" | "off", problems) for the whole-model check of
    artifacts/<name>."""
    model_dir = Path(args.artifacts) / name
    if getattr(args, "no_model", False):
        return "off", []
    if not model_dir.exists():
        return "absent", []
    return "run", check_model_artifacts(model_dir)


def model_states(args) -> dict[str, tuple[str, list[str]]]:
    """model_state of every folder of MODEL_DIRS, by name."""
    return {name: model_state(args, name) for name in MODEL_DIRS}


def set_lora_parameters(lora_opt, m, model_dir: Path) -> None:
    """Sets m's LoRA parameters from model_dir/lora_params.npz, each in the
    dtype the manifest gives it (bf16 is stored as float32: exact)."""
    import numpy as np
    dtypes = {a["name"]: manifest_dtype(lora_opt, a["dtype"])
              for a in m.manifest["arguments"]}
    with np.load(model_dir / "lora_params.npz") as params:
        for name in params.files:
            m.set_parameter(name, params[name].astype(dtypes.get(name, params[name].dtype)))


def compare_logits(y, ref, tol: float = MODEL_TOL) -> dict:
    """Our logits against the reference artifact's: max abs diff, max abs
    diff over max |ref| (max_rel_diff), ||y - ref|| / ||ref||, NaNs, and
    PASS/FAIL with max abs diff <= tol * max(1, max |ref|) and no NaN."""
    import numpy as np
    y = np.asarray(y, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if y.shape != ref.shape:
        return dict(status="FAIL", error=f"shape {list(y.shape)}, expected {list(ref.shape)}")
    nan = int(np.isnan(y).sum())
    ref_max = float(np.max(np.abs(ref))) if ref.size else 0.0
    diff = np.abs(y - ref)
    max_abs = float("inf") if nan else float(np.max(diff)) if diff.size else 0.0
    tol = tol * max(1.0, ref_max)
    den = float(np.linalg.norm(ref))
    return dict(status="PASS" if nan == 0 and max_abs <= tol else "FAIL",
                max_abs_diff=max_abs, max_rel_diff=max_abs / ref_max if ref_max else max_abs,
                rel_l2=(float("inf") if nan else float(np.linalg.norm(y - ref)) / den
                        if den else 0.0),
                tol=tol, nan=nan, ref_max_abs=ref_max, shape=list(y.shape))


def plan_case(case: dict, M: int, addresses: dict,
              l2_promotion: int | None = None,
              sms: int | None = None) -> list[dict]:
    """The launches of one case at M rows: per kernel its grid, block, smem,
    index param values and the cuTensorMapEncodeTiled arguments of each param
    (in param order, with the case's tensor it binds as "tensor"), with
    `addresses[tensor]` as the tensors' addresses (and every map's L2
    promotion `l2_promotion` bytes where given, else the ABI's); persistent
    grids at most `sms` CTAs where given."""
    plans = []
    B = case.get("B")
    kernels = lora_abi.kernels_at(case, M)
    for k, tensors in zip(kernels, lora_abi.kernel_tensors(case, kernels)):
        plan = lora_abi.launch_plan(k, M, B, sms)
        plan["name"] = k["name"]
        plan["label"] = lora_abi.kernel_label(k)
        plan["kind"] = k["kind"]
        plan["tensormaps"] = [
            dict(lora_abi.tensormap_args(p, M, addresses[tensors[p["role"]]], B,
                                         l2_promotion),
                 tensor=tensors[p["role"]]) for p in k["params"]]
        plans.append(plan)
    return plans


def dry_run(manifest: dict, artifacts: Path, cases: list[dict], ms: list[int],
            models: dict[str, tuple[str, list[str]]] | None = None) -> int:
    problems = check_artifacts(manifest, artifacts)
    prov = manifest.get("provenance", {})
    log(f"artifacts: {artifacts} (commit {prov.get('commit', '?')[:12]}"
        f"{' dirty' if prov.get('dirty') else ''}, {prov.get('created', '?')})")
    for name, (state, model_problems) in (models or {}).items():
        if state == "run":
            problems += model_problems
            info = {}
            try:
                info = json.loads((artifacts / name / "model.json").read_text())
            except (OSError, ValueError):
                pass
            log(f"model: {artifacts / name / MODEL_ARTIFACT} ({info.get('onnx', '?')}, "
                f"{info.get('parameters', '?')} LoRA parameters, logits "
                f"{info.get('output_shape', '?')}, against "
                f"{info.get('reference_target', 'cpu')}): "
                f"{'files ok, the copied lora_opt imports' if not model_problems else 'PROBLEMS'}")
        elif state == "absent":
            log(f"model: {artifacts / name} not prepared (prepare.py --no-model): "
                "no whole-model check")
    names = ("x", "w", "a", "t", "b", "bias", "y", "g", "ts", "dt", "db", "dbt", "da", "daf",
             "dx")
    fake = {name: 0x7F0000000000 + (i << 32) for i, name in enumerate(names)}
    for case in cases:
        batch = (f" B={case['B']}{' w transposed' if case['transposed'] else ''}"
                 if case["op"] == "bmm" else "")
        log(f"{case['id']}: {case['op']}{batch} K={case['K']} N={case['N']} r={case['r']} "
            f"scale={case['scale']} {case['dtype']}")
        try:
            case_ms = sorted(set(lora_abi.check_ms_for(case, ms)))
        except ValueError as e:
            problems.append(f"{case['id']}: {e}")
            continue
        for M in case_ms:
            try:
                plans = plan_case(case, M, fake)
            except (ValueError, KeyError, StopIteration) as e:
                problems.append(f"{case['id']} M={M}: {e!r}")
                continue
            for p in plans:
                index = f" index {p['index']}" if p["index"] else ""
                log(f"  M={M:<6} {p['label']} ({p['kind']}): grid {p['grid']} block "
                    f"{p['block']} smem {p['smem']}{index}")
                for t in p["tensormaps"]:
                    what = t["role"] if t["tensor"] == t["role"] else f"{t['role']}={t['tensor']}"
                    log(f"    {what:<5} type {t['dataType']} rank {t['rank']} "
                        f"dim {t['globalDim']} strides {t['globalStrides']} box "
                        f"{t['boxDim']} swizzle {t['swizzle']} l2 promotion "
                        f"{t['l2Promotion']}")
    for p in problems:
        log(f"PROBLEM: {p}")
    log(f"dry run: {len(cases)} cases, {len(problems)} problems")
    return 1 if problems else 0


def load_with_graphs(lora_opt, path: Path):
    """The artifact at `path` with CUDA graphs asked for when it is compiled
    for the CUDA target (load(cuda_graphs=True), which fails where graphs
    cannot be had); other targets have none and load as usual."""
    target = json.loads((path / "manifest.json").read_text())["target"]
    return lora_opt.load(path, cuda_graphs=True if target == "cuda" else None)


def host_timing(fn) -> dict:
    """Median, min and max host wall time (us) of MODEL_ITERS calls of fn
    after MODEL_WARMUP."""
    for _ in range(MODEL_WARMUP):
        fn()
    times = []
    for _ in range(MODEL_ITERS):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e6)
    times.sort()
    n = len(times)
    return dict(median_us=times[n // 2] if n % 2 else
                0.5 * (times[n // 2 - 1] + times[n // 2]),
                min_us=times[0], max_us=times[-1], n=n, warmup=MODEL_WARMUP)


# --- the CUDA driver through ctypes (worker only) --------------------------------

# CUlaunchAttributeID of programmatic dependent launch (PDL), from cuda.h.
CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION = 6


def launch_structs(ct):
    """(CUlaunchAttribute, CUlaunchConfig) as cuda.h lays them out, for
    cuLaunchKernelEx (test_bench_gpu checks their sizes and offsets against
    a C compiler's)."""
    class LaunchAttributeValue(ct.Union):
        _fields_ = [("pad", ct.c_char * 64),
                    ("programmaticStreamSerializationAllowed", ct.c_int)]

    class LaunchAttribute(ct.Structure):
        _fields_ = [("id", ct.c_int), ("pad", ct.c_char * 4),
                    ("value", LaunchAttributeValue)]

    class LaunchConfig(ct.Structure):
        _fields_ = [("gridDimX", ct.c_uint), ("gridDimY", ct.c_uint),
                    ("gridDimZ", ct.c_uint), ("blockDimX", ct.c_uint),
                    ("blockDimY", ct.c_uint), ("blockDimZ", ct.c_uint),
                    ("sharedMemBytes", ct.c_uint), ("hStream", ct.c_void_p),
                    ("attrs", ct.POINTER(LaunchAttribute)), ("numAttrs", ct.c_uint)]
    return LaunchAttribute, LaunchConfig


class Driver:
    """The few driver calls we need, on torch's (primary) context."""

    def __init__(self):
        import ctypes
        import torch
        self.ct = ct = ctypes
        torch.cuda.init()
        torch.zeros(1, device=DEVICE)            # makes the primary context current
        lib = None
        for name in ("libcuda.so.1", "libcuda.so"):
            try:
                lib = ct.CDLL(name)
                break
            except OSError:
                pass
        if lib is None:
            raise RuntimeError("cannot load libcuda.so.1")
        self.lib = lib
        P, U, I, VP = ct.POINTER, ct.c_uint, ct.c_int, ct.c_void_p
        sig = {
            "cuInit": [U],
            "cuDriverGetVersion": [P(I)],
            "cuGetErrorName": [I, P(ct.c_char_p)],
            "cuGetErrorString": [I, P(ct.c_char_p)],
            "cuCtxGetCurrent": [P(VP)],
            "cuCtxSetCurrent": [VP],
            "cuDeviceGet": [P(I), I],
            "cuDeviceGetAttribute": [P(I), I, I],
            "cuDevicePrimaryCtxRetain": [P(VP), I],
            "cuModuleLoadData": [P(VP), VP],
            "cuModuleGetFunction": [P(VP), VP, ct.c_char_p],
            "cuFuncSetAttribute": [VP, I, I],
            "cuFuncGetAttribute": [P(I), I, VP],
            "cuTensorMapEncodeTiled": [VP, I, ct.c_uint32, VP, P(ct.c_uint64),
                                       P(ct.c_uint64), P(ct.c_uint32), P(ct.c_uint32),
                                       I, I, I, I],
            "cuLaunchKernel": [VP, U, U, U, U, U, U, U, VP, P(VP), P(VP)],
        }
        self.LaunchAttribute, self.LaunchConfig = launch_structs(ct)
        sig["cuLaunchKernelEx"] = [P(self.LaunchConfig), VP, P(VP), P(VP)]
        for fn, argtypes in sig.items():
            f = getattr(lib, fn)
            f.argtypes = argtypes
            f.restype = I
        self.check(lib.cuInit(0), "cuInit")
        ctx = VP()
        self.check(lib.cuCtxGetCurrent(ct.byref(ctx)), "cuCtxGetCurrent")
        if not ctx.value:
            dev = I()
            self.check(lib.cuDeviceGet(ct.byref(dev), torch.cuda.current_device()),
                       "cuDeviceGet")
            self.check(lib.cuDevicePrimaryCtxRetain(ct.byref(ctx), dev.value),
                       "cuDevicePrimaryCtxRetain")
            self.check(lib.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
        self.ctx = ctx
        v = I()
        self.check(lib.cuDriverGetVersion(ct.byref(v)), "cuDriverGetVersion")
        self.driver_version = v.value
        dev = I()
        self.check(lib.cuDeviceGet(ct.byref(dev), torch.cuda.current_device()), "cuDeviceGet")
        smem = I()
        self.check(lib.cuDeviceGetAttribute(ct.byref(smem), 97, dev.value),  # ..._OPTIN
                   "cuDeviceGetAttribute")
        self.max_smem_optin = smem.value
        self._map_host = (ct.c_uint8 * (lora_abi.TENSORMAP_BYTES + lora_abi.TENSORMAP_ALIGN))()

    def check(self, rc: int, what: str) -> None:
        if rc != 0:
            ct = self.ct
            name, text = ct.c_char_p(), ct.c_char_p()
            self.lib.cuGetErrorName(rc, ct.byref(name))
            self.lib.cuGetErrorString(rc, ct.byref(text))
            raise RuntimeError(f"{what}: CUDA error {rc} "
                               f"{(name.value or b'?').decode()}: "
                               f"{(text.value or b'').decode()}")

    def load_module(self, image: bytes):
        """cuModuleLoadData; the image buffer is kept with the module."""
        ct = self.ct
        mod = ct.c_void_p()
        buf = ct.create_string_buffer(image, len(image))
        self.check(self.lib.cuModuleLoadData(ct.byref(mod), buf), "cuModuleLoadData")
        return (mod, buf)

    def get_function(self, module, name: str, smem: int):
        """(function, its attributes) with the dynamic smem limit raised."""
        ct = self.ct
        fn = ct.c_void_p()
        self.check(self.lib.cuModuleGetFunction(ct.byref(fn), module[0], name.encode()),
                   f"cuModuleGetFunction({name})")
        if smem > self.max_smem_optin:
            raise RuntimeError(f"{name}: dynamic smem {smem} > the device's opt-in "
                               f"limit {self.max_smem_optin}")
        if smem > 48 * 1024:
            self.check(self.lib.cuFuncSetAttribute(fn, 8, smem),  # MAX_DYNAMIC_SHARED_SIZE_BYTES
                       f"cuFuncSetAttribute({name}, {smem})")
        info = {}
        for key, attr in (("max_threads", 0), ("static_smem", 1), ("local_bytes", 3),
                          ("regs", 4)):
            v = ct.c_int()
            self.check(self.lib.cuFuncGetAttribute(ct.byref(v), attr, fn), "cuFuncGetAttribute")
            info[key] = v.value
        return fn, info

    def encode(self, a: dict) -> bytes:
        """cuTensorMapEncodeTiled from lora_abi.tensormap_args' dict: the 128
        bytes of the CUtensorMap (encoded into a 64-byte-aligned host buffer)."""
        ct = self.ct
        rank = a["rank"]
        U64, U32 = ct.c_uint64, ct.c_uint32
        gdim = (U64 * rank)(*a["globalDim"])
        gstr = (U64 * max(1, rank - 1))(*(a["globalStrides"] or [0]))
        box = (U32 * rank)(*a["boxDim"])
        est = (U32 * rank)(*a["elementStrides"])
        base = ct.addressof(self._map_host)
        aligned = (base + lora_abi.TENSORMAP_ALIGN - 1) & ~(lora_abi.TENSORMAP_ALIGN - 1)
        ct.memset(aligned, 0, lora_abi.TENSORMAP_BYTES)
        self.check(self.lib.cuTensorMapEncodeTiled(
            ct.c_void_p(aligned), a["dataType"], rank, ct.c_void_p(a["globalAddress"]),
            gdim, gstr, box, est, a["interleave"], a["swizzle"], a["l2Promotion"],
            a["oobFill"]), f"cuTensorMapEncodeTiled({a['role']}: {a})")
        return ct.string_at(aligned, lora_abi.TENSORMAP_BYTES)

    def launch(self, fn, grid, block, smem, stream: int, params, pdl: bool = False) -> None:
        """cuLaunchKernel; with `pdl`, cuLaunchKernelEx with programmatic
        stream serialization: the kernel may start while the one before it
        in the stream runs (ours wait for it in griddepcontrol.wait)."""
        ct = self.ct
        if not pdl:
            self.check(self.lib.cuLaunchKernel(fn, grid[0], grid[1], grid[2], block[0],
                                               block[1], block[2], smem,
                                               ct.c_void_p(stream), params, None),
                       "cuLaunchKernel")
            return
        attr = self.LaunchAttribute()
        attr.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION
        attr.value.programmaticStreamSerializationAllowed = 1
        config = self.LaunchConfig(grid[0], grid[1], grid[2], block[0], block[1], block[2],
                                   smem, ct.c_void_p(stream), ct.pointer(attr), 1)
        self.check(self.lib.cuLaunchKernelEx(ct.byref(config), fn, params, None),
                   "cuLaunchKernelEx (PDL)")


# --- worker --------------------------------------------------------------------

class Worker:
    def __init__(self, manifest: dict, artifacts: Path, args, driver=None):
        import torch
        self.torch = torch
        self.args = args
        self.cases = {c["id"]: c for c in manifest["cases"]}
        self.artifacts = artifacts
        self.drv = driver or Driver()
        # Every job on a stream of its own, not the legacy default stream,
        # which may serialize launches its own way (PDL's overlap is defined
        # for kernels in one stream); cuBLAS and torch's runs use it too.
        if DEVICE == "cuda":
            torch.cuda.set_stream(torch.cuda.Stream())
        self.modules = {}        # cubin file -> (CUmodule, image buffer)
        self.functions = {}      # (case, kernel label) -> (CUfunction, attributes)
        self.kernel_info = {}    # "case/module/kernel" -> attributes (registers, ...)
        self.cache_key = None    # (K, N): the tensors below belong to it
        self.cache = {}
        self.flush = None
        self.compile_mode = args.compile_mode
        self.compiled = None     # ((K, N, op), mode, compiled fn)

    # environment and buffers

    def env(self) -> dict:
        torch = self.torch
        p = torch.cuda.get_device_properties(torch.cuda.current_device())
        return dict(gpu=p.name, capability=f"{p.major}.{p.minor}", sms=p.multi_processor_count,
                    memory_gib=round(p.total_memory / 2**30, 1),
                    driver=self.drv.driver_version, torch=torch.__version__,
                    torch_cuda=torch.version.cuda, max_smem_optin=self.drv.max_smem_optin,
                    python=sys.version.split()[0])

    def function(self, case: dict, k: dict):
        """(CUfunction, attributes) of kernel k; modules loaded once per cubin."""
        key = (case["id"], lora_abi.kernel_label(k))
        if key not in self.functions:
            # The module's cubin, or its PTX for a driver that runs PTX (the
            # emulator's image_key).
            image_key = getattr(self.drv, "image_key", "cubin")
            if image_key not in k:
                raise RuntimeError(f"{k['name']}: no {image_key} in kernels.json "
                                   "(prepare.py --ptx writes the PTX)")
            if k[image_key] not in self.modules:
                image = (self.artifacts / k[image_key]).read_bytes()
                self.modules[k[image_key]] = self.drv.load_module(image)
            self.functions[key] = self.drv.get_function(self.modules[k[image_key]], k["name"],
                                                        int(k["dynamic_smem"]))
            self.kernel_info["/".join(key)] = self.functions[key][1]
        return self.functions[key]

    def group(self, K: int, N: int, B: int | None = None) -> dict:
        """The tensor cache of one (K, N) (and batch); switching frees the
        previous one."""
        if self.cache_key != (K, N, B):
            self.cache.clear()
            self.cache_key = (K, N, B)
            if DEVICE == "cuda":
                self.torch.cuda.empty_cache()
        return self.cache

    def gen(self, *key) -> "object":
        g = self.torch.Generator(device=DEVICE)
        g.manual_seed(_stable_seed(key))
        return g

    def inputs(self, K, N, r, M, dtype, bias=False, grad=False) -> dict:
        """x [M,K], w [K,N] (and a [K,r], b [r,N], bias [N], g = dL/dy [M,N])
        as the issue draws them: x ~ N(0,1), W, A ~ N(0,1)/sqrt(K),
        B ~ N(0,1)/sqrt(r), g ~ N(0,1) like x."""
        cache = self.group(K, N)

        def randn(shape, std, *key):
            return self.randn(cache, shape, std, dtype, *key)

        out = dict(x=randn((M, K), 1.0, "x"), w=randn((K, N), 1 / math.sqrt(K), "w"))
        if r:
            out["a"] = randn((K, r), 1 / math.sqrt(K), "a")
            out["b"] = randn((r, N), 1 / math.sqrt(r), "b")
        if bias:
            out["bias"] = randn((N,), 1.0, "bias")
        if grad:
            out["g"] = randn((M, N), 1.0, "g")
        return out

    def bmm_inputs(self, B, K, N, M, transposed, dtype) -> dict:
        """x [B, M, K] ~ N(0, 1) and w [B, K, N] ~ N(0, 1)/sqrt(K) (stored
        [B, N, K] when transposed), as attention's q and k or probabilities
        and v are scaled."""
        cache = self.group(K, N, B)
        w = (B, N, K) if transposed else (B, K, N)
        return dict(x=self.randn(cache, (B, M, K), 1.0, dtype, "x"),
                    w=self.randn(cache, w, 1 / math.sqrt(K), dtype, "w"))

    def randn(self, cache: dict, shape, std: float, dtype: str, *key):
        """N(0, std²) of `shape` in `dtype`, drawn once per (shape, std,
        dtype, key) from a generator seeded by them, and kept in `cache`."""
        torch = self.torch
        ck = ("rand", tuple(shape), std, dtype) + key
        if ck not in cache:
            cache[ck] = (torch.randn(shape, generator=self.gen(*ck), device=DEVICE,
                                     dtype=torch.float32) * std).to(torch_dtype(torch, dtype))
        return cache[ck]

    def case_inputs(self, case: dict, M: int) -> dict:
        """The inputs of the case's kernels at M rows."""
        if case["op"] == "bmm":
            return self.bmm_inputs(case["B"], case["K"], case["N"], M, case["transposed"],
                                   case["dtype"])
        return self.inputs(case["K"], case["N"], case["r"], M, case["dtype"],
                           bias=any(p["role"] == "bias" for k in case["kernels"]
                                    for p in k["params"]),
                           grad=case["op"] == "grad")

    def ours(self, case: dict, M: int, bufs: dict, l2_promotion: int | None = None):
        """A callable that launches the case's kernels on the current stream,
        with every kernel's output (t, y; for a grad case also ts, dt, db,
        da, dx, and dbt and daf, dB's and dA's f32 accumulators) allocated
        with a tile of guard
        rows after it (a batched output: one guard matrix after the last),
        its tensor maps with `l2_promotion` bytes where given (else the
        ABI's); returns (fn, bufs, guards, keep, plans).

        A kernel that adds into an accumulator (lora_abi.accumulated_roles:
        a lora_input_grad with "fuse_b_grad" and dbt, with "fuse_a_grad" and
        daf) needs it zeroed before it runs, and the case's output is the
        accumulator (transposed where lora_abi.ACCUMULATED says so: db =
        dbtᵀ, da = daf) rounded to the dtype: the callable
        zeroes every accumulator before its first launch and computes those
        outputs after its last, as the generated host code does, so that
        both are timed with the launches (and with the accumulating kernel
        in run.each). Its `accumulated` names those tensors, whose values
        depend on the order in which the CTAs' f32 adds arrive."""
        torch = self.torch
        bufs = dict(bufs)
        guards = {}
        B = case.get("B")
        kernels = lora_abi.kernels_at(case, M)
        bindings = lora_abi.kernel_tensors(case, kernels)
        tile_m = max(k["tile"][0] for k in kernels)
        guard = 1 if case["op"] == "bmm" else tile_m

        def allocate(tensor, shape, dtype):
            # In the kernel's own output type (an f32 y of a matmul whose
            # inputs are bf16; dB's f32 accumulator).
            storage = torch.full((shape[0] + guard,) + tuple(shape[1:]), GUARD_VALUE,
                                 device=DEVICE, dtype=torch_dtype(torch, dtype))
            bufs[tensor] = storage[:shape[0]]
            guards[tensor] = storage[shape[0]:]
        uses = {}                # tensor -> [(kernel, param)]
        # (index of the kernel, accumulator, the case's output, whether transposed)
        accumulators = []
        for i, (k, tensors) in enumerate(zip(kernels, bindings)):
            for p in k["params"]:
                tensor = tensors[p["role"]]
                uses.setdefault(tensor, []).append((k, p))
                if p["role"] in lora_abi.written_roles(k) and tensor not in guards:
                    allocate(tensor, lora_abi.param_shape(p, M, B), p["dtype"])
            for role in lora_abi.accumulated_roles(k):
                acc = tensors[role]
                out, transposed = lora_abi.ACCUMULATED[acc]
                accumulators.append((i, acc, out, transposed))
                if out not in guards:
                    allocate(out, lora_abi.param_shape(
                        dict(role=out, dims=lora_abi.case_tensor_dims(case, out)), M, B),
                        case["dtype"])
        for tensor, used in uses.items():
            if tensor not in bufs:
                raise RuntimeError(f"{case['id']}: no buffer for tensor {tensor!r}")
            for k, p in used:
                want = lora_abi.param_shape(p, M, B)
                if list(bufs[tensor].shape) != want or not bufs[tensor].is_contiguous():
                    raise RuntimeError(f"{case['id']}: {tensor} is "
                                       f"{list(bufs[tensor].shape)}, {k['name']}'s "
                                       f"{p['role']} wants contiguous {want}")
        addresses = {name: t.data_ptr() for name, t in bufs.items()}
        # A persistent kernel's grid: at most one CTA per SM, as the
        # generated launcher sizes it (loraCudaMultiprocessorCount).
        sms = (torch.cuda.get_device_properties(torch.cuda.current_device())
               .multi_processor_count if DEVICE == "cuda" else None)
        plans = plan_case(case, M, addresses, l2_promotion, sms)
        blobs = b"".join(self.drv.encode(t) for p in plans for t in p["tensormaps"])
        maps = torch.empty(len(blobs), dtype=torch.uint8, device=DEVICE)
        maps.copy_(torch.frombuffer(bytearray(blobs), dtype=torch.uint8))
        ct = self.drv.ct
        launches, keep, off = [], [maps, bufs, guards], maps.data_ptr()
        for k, p in zip(kernels, plans):
            fn, info = self.function(case, k)
            if p["block"][0] * p["block"][1] * p["block"][2] > info["max_threads"]:
                raise RuntimeError(f"{k['name']}: block {p['block']} > the cubin's "
                                   f"max {info['max_threads']} threads")
            values = []
            for _ in p["tensormaps"]:
                assert off % lora_abi.TENSORMAP_ALIGN == 0
                values.append(ct.c_uint64(off))
                off += lora_abi.TENSORMAP_BYTES
            values += [ct.c_uint64(v) for v in p["index"]]
            params = (ct.c_void_p * len(values))(
                *[ct.cast(ct.pointer(v), ct.c_void_p) for v in values])
            keep += [values, params]
            launches.append((fn, p["grid"], p["block"], p["smem"], params))
        drv = self.drv

        def launcher(chosen, pdl=False):
            """The launches of the kernels at indices `chosen`, with the
            zeroing of their accumulators before and their outputs after."""
            zero = [bufs[acc] for i, acc, _, _ in accumulators if i in chosen]
            finish = [(bufs[out], bufs[acc].t() if transposed else bufs[acc])
                      for i, acc, out, transposed in accumulators if i in chosen]

            def run():
                stream = torch.cuda.current_stream().cuda_stream if DEVICE == "cuda" else 0
                for acc in zero:
                    acc.zero_()
                for n, i in enumerate(chosen):
                    fn, grid, block, smem, params = launches[i]
                    if pdl and n:
                        drv.launch(fn, grid, block, smem, stream, params, pdl=True)
                    else:
                        drv.launch(fn, grid, block, smem, stream, params)
                for out, acc in finish:         # dB = dbtᵀ, dA = daf, rounded
                    out.copy_(acc)
            return run

        everything = list(range(len(launches)))
        run = launcher(everything)
        # Every launch after the first with PDL: the next kernel's launch and
        # prologue overlap the tail of the one before.
        run.pdl = launcher(everything, pdl=True) if len(launches) > 1 else None
        # Each launch on its own, by kernel name, for time_ours' breakdown.
        run.each = {}
        for i, k in enumerate(kernels):
            name = k["name"] if k["name"] not in run.each else f"{k['module']}/{k['name']}"
            run.each[name] = launcher([i])
        run.accumulated = [t for _, acc, out, _ in accumulators for t in (acc, out)]
        return run, bufs, guards, keep, plans

    # jobs

    def check(self, job: dict) -> dict:
        torch = self.torch
        case = self.cases[job["case"]]
        M, r = job["M"], case["r"]
        run, bufs, guards, keep, plans = self.ours(case, M, self.case_inputs(case, M))
        for name in guards:                       # every output
            bufs[name].fill_(float("nan"))
        sync(torch)
        run()
        sync(torch)
        d = {k: v.double() for k, v in bufs.items()}
        res = dict(M=M, launches=[dict(name=p["label"], grid=p["grid"], block=p["block"],
                                       smem=p["smem"], index=p["index"]) for p in plans])
        kernels = lora_abi.kernels_at(case, M)
        res["kernel_attrs"] = {
            lora_abi.kernel_label(k): self.kernel_info.get(
                f"{case['id']}/{lora_abi.kernel_label(k)}") for k in kernels}
        y = d["y"]
        res["y_nan"] = int(torch.isnan(y).sum())
        tile_m = max(k["tile"][0] for k in kernels)
        tail = (M // tile_m) * tile_m
        res["y_nan_tail_rows"] = int(torch.isnan(y[..., tail:, :]).sum()) if tail < M else 0
        res["guard_ok"] = all(bool((g == GUARD_VALUE).all()) for g in guards.values())
        # A driver that does not model PDL (the CPU emulator) runs each launch
        # after the last has finished either way: nothing to compare.
        if run.pdl and getattr(self.drv, "models_pdl", True):
            self.check_pdl(run, bufs, guards, res)
        if case["op"] == "grad":
            ok = self.check_grad(case, d, res)
            res["status"] = "PASS" if ok and res["guard_ok"] else "FAIL"
            del keep
            return res
        w = d["w"].transpose(-1, -2) if case.get("transposed") else d["w"]
        base = d["x"] @ w                         # a bmm case: batched
        if r:
            scale = float(case["scale"])
            xa = d["x"] @ d["a"]
            t_exact = scale * xa
            t_round = t_exact.to(torch_dtype(torch, case["dtype"])).double()
            lora_round = t_round @ d["b"]
            y_ref = base + lora_round
            y_ref_exact = base + t_exact @ d["b"]
            if "bias" in d:
                y_ref = y_ref + d["bias"]
                y_ref_exact = y_ref_exact + d["bias"]
            t = d["t"]
            res["t_nan"] = int(torch.isnan(t).sum())
            res["t_err"] = rel(torch, t, t_round)
            res["y_err_exact_t"] = rel(torch, y, y_ref_exact)
            # Hints for a kernel that disagrees with the ABI's meaning of t.
            res["t_err_vs_unscaled"] = rel(torch, t, xa)
            res["y_err_vs_no_lora"] = rel(torch, y, base + (d["bias"] if "bias" in d else 0))
        else:
            y_ref = base
        res["y_err"] = rel(torch, y, y_ref)
        res["reference"] = ("float64 from the bf16 inputs; t rounded to "
                            f"{case['dtype']} as the kernel stores it" if r else
                            "float64 from the bf16 inputs")
        ok = (res["y_nan"] == 0 and res["y_err"] <= TOL and res["guard_ok"])
        if r:
            # t is an output too (a backward reads it): a fused lora_linear
            # whose y is right may still have stored a wrong t.
            res["t_ok"] = res["t_nan"] == 0 and res["t_err"] <= TOL
            ok = ok and res["t_ok"]
        res["status"] = "PASS" if ok else "FAIL"
        del keep
        return res

    def check_pdl(self, run, bufs: dict, guards: dict, res: dict) -> None:
        """The same launches again with PDL (run.pdl) on poisoned outputs:
        `pdl_same` when every output is bit for bit what the plain launches
        wrote (a kernel that touched memory before its griddepcontrol.wait
        would race with the one before it), else the outputs that differ;
        `pdl_error` when the driver refused the launch. An output summed by
        reduce-adds (run.accumulated: dB's, dA's) is summed in the order the CTAs
        arrive, which no launch fixes: it must agree within PDL_ORDER_TOL
        (relative), not bit for bit."""
        torch = self.torch
        first = {name: bufs[name].clone() for name in guards}
        try:
            for name in guards:
                bufs[name].fill_(float("nan"))
            sync(torch)
            run.pdl()
            sync(torch)
        except Exception as e:      # noqa: BLE001 - reported, not fatal
            # Unless the context is gone (a faulting kernel): then the job
            # fails and the worker restarts.
            if not context_healthy(torch):
                raise
            res["pdl_error"] = str(e)[:300]
            return
        differ = [name for name in guards if name not in run.accumulated
                  and not torch.equal(bufs[name].view(torch.int16), first[name].view(torch.int16))]
        differ += [name for name in guards if name in run.accumulated
                   and not rel(torch, bufs[name].double(), first[name].double()) <= PDL_ORDER_TOL]
        differ += [f"{name} (guard rows)" for name, g in guards.items()
                   if not bool((g == GUARD_VALUE).all())]
        res["pdl_same"] = not differ
        if differ:
            res["pdl_differ"] = differ

    def check_grad(self, case: dict, d: dict, res: dict) -> bool:
        """A grad case's outputs (float64 copies in `d`, with its inputs)
        against float64 references from the same bf16 inputs, with t and dt
        rounded to the dtype as the kernels store them (as a bf16 autograd
        does): y = x·W + t·B, dx = g·Wᵀ + dt·Aᵀ, dA = xᵀ·dt, dB = tᵀ·g with
        t = scale·x·A, dt = scale·g·Bᵀ. Adds each output's error (also against
        the references with t and dt unrounded, `*_err_exact`), t's, ts's and
        dt's, and every output's NaNs to `res`; True when y, dx, dA and dB
        are within TOL and no output has a NaN."""
        torch = self.torch
        dtype = torch_dtype(torch, case["dtype"])
        scale = float(case["scale"])
        x, w, a, b, g = (d[name] for name in ("x", "w", "a", "b", "g"))
        t_exact, dt_exact = scale * (x @ a), scale * (g @ b.t())
        t_round, dt_round = (v.to(dtype).double() for v in (t_exact, dt_exact))
        xw, gw = x @ w, g @ w.t()

        def refs(t, dt):
            return dict(y=xw + t @ b, dx=gw + dt @ a.t(), da=x.t() @ dt, db=t.t() @ g)
        exact = refs(t_exact, dt_exact)
        for name, ref in refs(t_round, dt_round).items():
            res[f"{name}_err"] = rel(torch, d[name], ref)
            res[f"{name}_err_exact"] = rel(torch, d[name], exact[name])
        res["t_err"] = rel(torch, d["t"], t_round)
        # A backward without lora_down reads the forward's t as its ts.
        res["ts_reads_t"] = "ts" not in d
        res["ts_err"] = rel(torch, d["ts"], t_round) if "ts" in d else res["t_err"]
        res["dt_err"] = rel(torch, d["dt"], dt_round)
        res["nan"] = {name: int(torch.isnan(d[name]).sum())
                      for name in ("t", "y", "ts", "dt", "db", "da", "dx") if name in d}
        res["reference"] = ("float64 from the bf16 inputs; t and dt rounded to "
                            f"{case['dtype']} as the kernels store them")
        return (all(res[f"{name}_err"] <= TOL for name in GRAD_OUTPUTS)
                and not any(res["nan"].values()))

    def model(self, job: dict) -> dict:
        """A whole model: artifacts/<job's dir>/cuda through the copied
        lora_opt package with the saved LoRA parameters, against the
        reference logits (model.json's logits_tol); then the model call timed
        on the host (median of MODEL_ITERS after MODEL_WARMUP; numpy in and
        out, so copies included)."""
        import numpy as np
        name = job.get("dir", MODEL_DIR)
        model_dir = self.artifacts / name
        manifest = json.loads((model_dir / MODEL_ARTIFACT / "manifest.json").read_text())
        if any(a.get("dtype") == "bf16" for a in manifest.get("arguments", [])
               + manifest.get("outputs", [])):
            try:
                import ml_dtypes  # noqa: F401 - lora_opt's bf16 arrays need it
            except ImportError:
                return dict(status="skipped", error=f"{name} has bf16 tensors, which the "
                            "lora_opt package reads with ml_dtypes: pip install ml_dtypes")
        lora_opt = import_model_package(model_dir)
        info = json.loads((model_dir / "model.json").read_text())
        x = np.load(model_dir / "input_ids.npy")
        ref = np.load(model_dir / "cpu_logits.npy")
        t0 = time.perf_counter()
        m = lora_opt.load(model_dir / MODEL_ARTIFACT)
        res = dict(artifact=f"{name}/{MODEL_ARTIFACT}",
                   target=m.manifest.get("target"), load_s=round(time.perf_counter() - t0, 3))
        try:
            set_lora_parameters(lora_opt, m, model_dir)
            res["parameters"] = sum(a["kind"] in ("lora_a", "lora_b")
                                    for a in m.manifest["arguments"])
            inputs = {info["input"]: x}
            out = info["output"]
            t0 = time.perf_counter()
            y = m(**inputs)[out]
            res["first_call_s"] = round(time.perf_counter() - t0, 3)
            again = m(**inputs)[out]
            res.update(compare_logits(y, ref, info.get("logits_tol", MODEL_TOL)))
            res["repeat_identical"] = bool(y.tobytes() == again.tobytes())
            if not res["repeat_identical"]:
                res["status"] = "FAIL"
                res["repeat_max_abs_diff"] = float(np.nanmax(np.abs(
                    y.astype(np.float64) - again)))
            res.update(host_timing(lambda: m(**inputs)))
        finally:
            m.close()
        res["graphs"] = self.graphs_forward(lora_opt, model_dir, inputs, out, y)
        if res["graphs"]["status"] != "PASS" and res.get("status") == "PASS":
            res["status"] = "FAIL"
        res["train"] = self.train(lora_opt, model_dir, info, x, name)
        if res["train"].get("status") != "PASS" and res.get("status") == "PASS":
            res["status"] = "FAIL"
        return res

    def graphs_forward(self, lora_opt, model_dir: Path, inputs: dict, out: str, y) -> dict:
        """The same calls with CUDA graphs (load_with_graphs: from the
        third call on, one cuGraphLaunch each): every output bit for bit the
        direct calls' `y`, then timed as they were."""
        m = load_with_graphs(lora_opt, model_dir / MODEL_ARTIFACT)
        try:
            set_lora_parameters(lora_opt, m, model_dir)
            outs = [m(**inputs)[out] for _ in range(GRAPH_WARMUP + 2)]
            identical = all(o.tobytes() == y.tobytes() for o in outs)
            res = dict(status="PASS" if identical else "FAIL", identical=identical)
            res.update(host_timing(lambda: m(**inputs)))
            try:
                res["device"] = self.device_tensors_forward(m, inputs, out, y)
            except Exception as e:  # the rest of the model job stands
                res["device"] = dict(status="FAIL", error=f"{type(e).__name__}: {e}"[:600])
            if res["device"]["status"] == "FAIL":
                res["status"] = "FAIL"
        finally:
            m.close()
        return res

    def device_tensors_forward(self, m, inputs: dict, out: str, y) -> dict:
        """The same calls on PyTorch tensors already on the model's device
        (run_on_device: on the GPU for the CUDA target, so no copy through
        the host; the same tensors each call, so graphs replay): the output,
        poisoned with NaN before each call, bit for bit `y` after each, then
        timed as the others."""
        try:
            import torch
        except ImportError:
            return dict(status="skipped", error="PyTorch is not installed")
        device = "cuda" if m.manifest.get("target") == "cuda" else "cpu"
        ins = {k: torch.from_numpy(v).to(device) for k, v in inputs.items()}
        outs = {o.name: torch.empty(o.shape, dtype=getattr(torch, o.dtype.name),
                                    device=device) for o in m.outputs}
        identical = True
        for _ in range(GRAPH_WARMUP + 2):
            for t in outs.values():
                t.fill_(float("nan") if t.is_floating_point() else -1)
            m.run_on_device(ins, outs)
            got = outs[out].cpu().contiguous().view(torch.uint8).numpy().tobytes()
            identical = identical and got == y.tobytes()
        res = dict(status="PASS" if identical else "FAIL", identical=identical, device=device)
        res.update(host_timing(lambda: m.run_on_device(ins, outs)))
        return res

    def train(self, lora_opt, model_dir: Path, info: dict, x, name: str) -> dict:
        """The train step (artifacts/<name>/train_<artifact>): the reference
        train step's steps from the same parameters, each loss within
        model.json's train_tol relative, then the eval loss; then one step
        timed on the host."""
        import numpy as np
        ref = json.loads((model_dir / "train_reference.json").read_text())
        tol = info.get("train_tol", TRAIN_TOL)
        t0 = time.perf_counter()
        m = lora_opt.load(model_dir / f"train_{MODEL_ARTIFACT}")
        res = dict(artifact=f"{name}/train_{MODEL_ARTIFACT}",
                   load_s=round(time.perf_counter() - t0, 3))
        try:
            set_lora_parameters(lora_opt, m, model_dir)
            batch = {info["input"]: x, "labels": x}
            losses = [m.train_step(**batch, lr=ref["lr"]) for _ in range(ref["steps"])]
            losses.append(m.eval_step(**batch))
            want = ref["losses"] + [ref["eval_loss"]]
            errors = [abs(a - b) / max(abs(b), 1e-30) for a, b in zip(losses, want)]
            ok = all(np.isfinite(losses)) and max(errors) <= tol
            res.update(status="PASS" if ok else "FAIL", losses=losses, reference=want,
                       max_rel_diff=max(errors), tol=tol)
            # More steps than the reference's, then the same with CUDA graphs
            # (two steps captured, one per parameter buffer set, the rest
            # replayed): each loss bit for bit the direct step's.
            later = [m.train_step(**batch, lr=ref["lr"]) for _ in range(GRAPH_WARMUP + 2)]
            res.update(host_timing(lambda: m.train_step(**batch, lr=0.0)))
        finally:
            m.close()
        g = load_with_graphs(lora_opt, model_dir / f"train_{MODEL_ARTIFACT}")
        try:
            set_lora_parameters(lora_opt, g, model_dir)
            direct = losses[:ref["steps"]] + later
            replayed = [g.train_step(**batch, lr=ref["lr"]) for _ in range(len(direct))]
            same = replayed == direct
            res["graphs"] = dict(status="PASS" if same else "FAIL", identical=same,
                                 losses=replayed, **host_timing(
                                     lambda: g.train_step(**batch, lr=0.0)))
        finally:
            g.close()
        if not same and res.get("status") == "PASS":
            res["status"] = "FAIL"
        return res

    def bench(self, fn, warmup: int, iters: int, queue_us: int = QUEUE_US) -> dict:
        """Median/min of `iters` runs of fn timed with CUDA events, each after
        a 256 MiB memset that evicts the L2 (so every run starts cold), after
        `warmup` runs. A GPU sleep first (`queue_us` per run: more where the
        host does more per run, as autograd does) lets the host enqueue ahead
        of the GPU, so launch overhead on the host does not leak into the
        events."""
        torch = self.torch
        if self.flush is None:
            self.flush = torch.empty(L2_FLUSH_BYTES, dtype=torch.uint8, device=DEVICE)
        for _ in range(warmup):
            fn()
        sync(torch)
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
        try:
            torch.cuda._sleep(int(iters * queue_us * 2000))      # cycles at ~2 GHz
        except Exception:
            pass
        for s, e in zip(starts, ends):
            self.flush.zero_()
            s.record()
            fn()
            e.record()
        sync(torch)
        us = sorted(s.elapsed_time(e) * 1000.0 for s, e in zip(starts, ends))
        return dict(median_us=us[len(us) // 2] if len(us) % 2 else
                    0.5 * (us[len(us) // 2 - 1] + us[len(us) // 2]),
                    min_us=us[0], p90_us=us[min(len(us) - 1, int(0.9 * len(us)))], n=len(us))

    def time_ours(self, job: dict) -> dict:
        """The case's kernels, all launches (a grad case: the forward's two
        and the backward's five)."""
        case = self.cases[job["case"]]
        M = job["M"]
        run, _, _, keep, _ = self.ours(case, M, self.case_inputs(case, M))
        res = self.bench(run, self.args.warmup, self.args.iters)
        # The same launches with PDL, side by side.
        if run.pdl:
            try:
                res["pdl_us"] = self.bench(run.pdl, self.args.warmup,
                                           self.args.iters)["median_us"]
            except Exception as e:  # noqa: BLE001 - reported, not fatal
                if not context_healthy(self.torch):
                    raise
                res["pdl_error"] = str(e)[:300]
        # Where the time goes: each launch timed alone the same way (its
        # inputs as the launches before it left them, the L2 flushed).
        if len(run.each) > 1:
            res["kernels_us"] = {name: self.bench(fn, self.args.warmup,
                                                  self.args.iters)["median_us"]
                                 for name, fn in run.each.items()}
        del run, keep
        # The same launches with no L2 promotion in their maps, side by side
        # (after the promoted ones, on fresh inputs): what the generator's
        # 256 B promotion buys.
        if not getattr(self.args, "no_l2_ab", False):
            plain, _, _, keep, _ = self.ours(case, M, self.case_inputs(case, M),
                                             l2_promotion=0)
            res["no_l2_promotion_us"] = self.bench(plain, self.args.warmup,
                                                   self.args.iters)["median_us"]
            if len(plain.each) > 1:
                res["kernels_no_l2_promotion_us"] = {
                    name: self.bench(fn, self.args.warmup, self.args.iters)["median_us"]
                    for name, fn in plain.each.items()}
            del plain, keep
        return res

    def time_cublas(self, job: dict) -> dict:
        """torch.mm(x, W): the frozen layer without LoRA; for op "grad" also
        torch.mm(g, Wᵀ), the frozen layer's forward and backward; for op
        "bmm" torch.bmm(x, w) (w a transposed view of the stored [B, N, K]
        where the case reads it so: cuBLAS's batched GEMM with op T)."""
        torch = self.torch
        if job.get("op") == "bmm":
            b = self.bmm_inputs(job["B"], job["K"], job["N"], job["M"], job["transposed"],
                                job["dtype"])
            x, w = b["x"], b["w"].transpose(1, 2) if job["transposed"] else b["w"]
            y = torch.empty((job["B"], job["M"], job["N"]), dtype=x.dtype, device=DEVICE)
            return self.bench(lambda: torch.bmm(x, w, out=y), self.args.warmup,
                              self.args.iters)
        grad = job.get("op") == "grad"
        b = self.inputs(job["K"], job["N"], None, job["M"], job["dtype"], grad=grad)
        x, w = b["x"], b["w"]
        y = torch.empty((x.shape[0], w.shape[1]), dtype=x.dtype, device=DEVICE)
        if not grad:
            return self.bench(lambda: torch.mm(x, w, out=y), self.args.warmup,
                              self.args.iters)
        g, wt = b["g"], w.t()
        dx = torch.empty_like(x)

        def fwd_bwd():
            torch.mm(x, w, out=y)
            torch.mm(g, wt, out=dx)
        return self.bench(fwd_bwd, self.args.warmup, self.args.iters)

    def layer(self, job: dict, forward):
        """(a callable that runs the LoRA layer `forward` on the job's inputs,
        the tensors of M and r: x, A, B). For op "grad" the callable is a
        training step's share of the layer: the forward, then the backward for
        g with W frozen and x, A, B requiring gradients, through
        torch.autograd.grad (so nothing accumulates between runs)."""
        torch = self.torch
        grad = job.get("op") == "grad"
        b = self.inputs(job["K"], job["N"], job["r"], job["M"], job["dtype"], grad=grad)
        x, w, a, bb = b["x"], b["w"], b["a"], b["b"]
        if not grad:
            return (lambda: forward(x, w, a, bb)), (x, a, bb)
        x, a, bb = (v.detach().requires_grad_() for v in (x, a, bb))
        g = b["g"]

        def step():
            y = forward(x, w, a, bb)
            return (y,) + torch.autograd.grad(y, (x, a, bb), g)
        return step, (x, a, bb)

    def time_eager(self, job: dict) -> dict:
        run, _ = self.layer(job, peft_forward(job["scale"]))
        return self.bench(run, self.args.warmup, self.args.iters,
                          GRAD_QUEUE_US if job.get("op") == "grad" else QUEUE_US)

    def time_compile(self, job: dict) -> dict:
        """torch.compile of the eager layer, one graph per (K, N) and op with
        M and r dynamic (compiled at the first M; for op "grad" AOTAutograd
        compiles the backward too, at the first backward); mode
        max-autotune-no-cudagraphs while compiles take <= 60 s, else
        default."""
        torch = self.torch
        import torch._dynamo
        mode = job.get("mode") or self.compile_mode
        if mode == "auto":
            mode = "max-autotune-no-cudagraphs"
        res = {}
        key = ((job["K"], job["N"], job.get("op", "lora")), mode)
        if self.compiled is None or self.compiled[:2] != key:
            torch._dynamo.reset()
            fn = torch.compile(peft_forward(job["scale"]), mode=None if mode == "default" else mode)
            self.compiled = (key[0], mode, fn)
            res["compiled_here"] = True
        run, (x, a, bb) = self.layer(job, self.compiled[2])
        mark = getattr(torch._dynamo, "maybe_mark_dynamic", torch._dynamo.mark_dynamic)
        mark(x, 0)
        mark(a, 1)
        mark(bb, 0)
        t0 = time.perf_counter()
        run()
        sync(torch)
        res["first_call_s"] = round(time.perf_counter() - t0, 2)
        if (res.get("compiled_here") and mode != "default"
                and res["first_call_s"] > COMPILE_AUTOTUNE_LIMIT_S
                and self.compile_mode == "auto"):
            self.compile_mode = "default"            # for the next shapes
            res["switch_to_default"] = True
        res["mode"] = mode
        res.update(self.bench(run, self.args.warmup, self.args.iters,
                              GRAD_QUEUE_US if job.get("op") == "grad" else QUEUE_US))
        return res


def sync(torch) -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def context_healthy(torch) -> bool:
    """False after a sticky CUDA error (a faulting kernel): every later call fails."""
    if DEVICE != "cuda":
        return True
    try:
        torch.cuda.synchronize()
        return float(torch.ones(1, device="cuda").sum().item()) == 1.0
    except Exception:  # noqa: BLE001
        return False


def _stable_seed(key) -> int:
    import zlib
    return zlib.crc32(repr(key).encode()) & 0x7FFFFFFF


def torch_dtype(torch, name: str):
    return {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[name]


def rel(torch, a, b) -> float:
    """||a - b|| / ||b|| (Frobenius); inf when a has NaN."""
    if bool(torch.isnan(a).any()):
        return float("inf")
    den = float(torch.linalg.vector_norm(b))
    return float(torch.linalg.vector_norm(a - b)) / max(den, 1e-300)


def peft_forward(scale: float):
    """What peft.tuners.lora.Linear.forward computes (dropout 0, one adapter):
    base_layer(x) + lora_B(lora_A(x)) * scaling, with W, A, B as [K,N],
    [K,r], [r,N]: three matmuls, a mul and an add."""
    def forward(x, w, a, b):
        result = x @ w
        return result + ((x @ a) @ b) * scale
    return forward


def worker_main(args) -> int:
    artifacts = Path(args.artifacts)
    manifest = load_manifest(artifacts)
    jobs = json.loads(Path(args.worker).read_text())
    out = open(args.worker_out, "a")

    def emit(event: dict) -> None:
        out.write(json.dumps(event) + "\n")
        out.flush()
        os.fsync(out.fileno())

    w = Worker(manifest, artifacts, args)
    emit(dict(event="env", env=w.env()))
    for idx, job in jobs:
        emit(dict(event="start", i=idx))
        now = time.time()
        if now > args.deadline and (job["type"] == "compile" or now > args.hard_deadline):
            emit(dict(event="done", i=idx, result=dict(status="skipped",
                                                       error="time budget spent")))
            continue
        t0 = time.perf_counter()
        try:
            res = getattr(w, {"check": "check", "ours": "time_ours", "cublas": "time_cublas",
                              "eager": "time_eager", "compile": "time_compile",
                              "model": "model"}[job["type"]])(job)
            res.setdefault("status", "ok")
            if res.pop("switch_to_default", False):
                emit(dict(event="compile_mode", mode="default"))
        except Exception as e:  # noqa: BLE001 - reported, and the worker restarts
            import traceback
            res = dict(status="error", error=f"{type(e).__name__}: {e}",
                       trace=traceback.format_exc()[-3000:])
            res["seconds"] = round(time.perf_counter() - t0, 2)
            emit(dict(event="done", i=idx, result=res))
            if not context_healthy(w.torch):
                return 3           # e.g. a kernel faulted: start afresh
            continue
        res["seconds"] = round(time.perf_counter() - t0, 2)
        emit(dict(event="done", i=idx, result=res))
    return 0


# --- main process: jobs, watchdog, tables ----------------------------------------

def make_jobs(cases: list[dict], args, skip_ours=()) -> list[dict]:
    """Correctness jobs, then (unless --only-correctness) timing jobs grouped
    by (K, N), then the torch.compile jobs."""
    return check_jobs(cases, args) + ([] if args.only_correctness else
                                      timing_jobs(cases, args, skip_ours))


def check_jobs(cases: list[dict], args) -> list[dict]:
    return [dict(type="check", case=c["id"], M=M) for c in cases
            for M in lora_abi.check_ms_for(c, args.check_ms)]


def timing_jobs(cases: list[dict], args, skip_ours=()) -> list[dict]:
    """`skip_ours`: cases whose kernels crashed or hung in the check; their
    timing jobs are marked skip=True (listed, not run). The baselines of a
    grad case (the forward and backward) are jobs with op="grad"; the
    torch.compile jobs come last, the forward's of a shape before its
    forward+backward's (one compiled function each)."""
    jobs, shapes = [], []
    for c in cases:
        if (c["K"], c["N"]) not in shapes and c["op"] != "bmm":
            shapes.append((c["K"], c["N"]))

    def layer(kind, c, M):
        job = dict(type=kind, K=c["K"], N=c["N"], r=c["r"], M=M, scale=c["scale"],
                   dtype=c["dtype"])
        return dict(job, op="grad") if c["op"] == "grad" else job
    for K, N in shapes:
        group = [c for c in cases if (c["K"], c["N"]) == (K, N) and c["op"] != "bmm"]
        dtype = group[0]["dtype"]
        for M in args.time_ms:
            if any(c["op"] != "grad" for c in group):
                jobs.append(dict(type="cublas", K=K, N=N, M=M, dtype=dtype))
            if any(c["op"] == "grad" for c in group):
                jobs.append(dict(type="cublas", op="grad", K=K, N=N, M=M, dtype=dtype))
            for c in group:
                job = dict(type="ours", case=c["id"], K=K, N=N, M=M)
                if c["id"] in skip_ours:
                    job["skip"] = True
                jobs.append(job)
                # A tuning case shares its default case's baselines.
                if c["op"] != "matmul" and not c.get("pass_options"):
                    jobs.append(layer("eager", c, M))
    # Batched matmuls: cuBLAS's batched GEMM and ours, nothing else.
    for c in cases:
        if c["op"] != "bmm":
            continue
        for M in args.time_ms:
            if not c.get("pass_options"):
                jobs.append(dict(type="cublas", op="bmm", B=c["B"], K=c["K"], N=c["N"],
                                 M=M, transposed=c["transposed"], dtype=c["dtype"]))
            job = dict(type="ours", case=c["id"], K=c["K"], N=c["N"], M=M)
            if c["id"] in skip_ours:
                job["skip"] = True
            jobs.append(job)
    if args.compile_mode != "off":
        for K, N in shapes:
            for op in ("lora", "grad"):
                for c in cases:
                    if (c["K"], c["N"]) == (K, N) and c["op"] == op \
                            and not c.get("pass_options"):
                        jobs += [layer("compile", c, M) for M in args.time_ms]
    return jobs


class Runner:
    """Runs jobs in worker processes, restarting after a crash or a hang."""

    def __init__(self, args, out: Path):
        self.args = args
        self.out = out
        self.results: dict[int, dict] = {}
        self.env = None
        self.compile_mode = args.compile_mode
        self.t0 = time.perf_counter()
        self.starts = 0

    def timeout(self, job: dict) -> float:
        if job["type"] == "compile":
            return self.args.compile_timeout_s
        if job["type"] == "model":
            return getattr(self.args, "model_timeout_s", 120.0)
        # A kernel that hangs does so in its correctness check, which runs
        # first: a short limit there keeps a hang from eating the budget.
        if job["type"] == "check":
            return getattr(self.args, "check_timeout_s", self.args.job_timeout_s)
        return self.args.job_timeout_s

    def worker_cmd(self, jobfile, resfile, deadline, hard_deadline) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve()), "--worker", str(jobfile),
                "--worker-out", str(resfile), "--artifacts", str(self.args.artifacts),
                "--warmup", str(self.args.warmup), "--iters", str(self.args.iters),
                "--compile-mode", self.compile_mode, "--deadline", repr(deadline),
                "--hard-deadline", repr(hard_deadline)] + (
                    ["--no-l2-ab"] if getattr(self.args, "no_l2_ab", False) else [])

    def run(self, jobs: list[dict], on_done, indices=None) -> None:
        """Runs jobs[i] for i in `indices` (default: all); jobs with skip=True
        are reported as skipped without running."""
        pending = []
        for i in (range(len(jobs)) if indices is None else indices):
            if jobs[i].get("skip"):
                self.results[i] = dict(status="skipped",
                                       error="its correctness check crashed or hung")
                on_done(i, jobs[i], self.results[i])
            else:
                pending.append(i)
        deadline = time.time() + self.args.budget_s - (time.perf_counter() - self.t0)
        hard_deadline = deadline + 0.5 * self.args.budget_s
        fruitless = 0        # worker runs in a row that finished no job
        requeued = set()
        while pending:
            self.starts += 1
            work = self.out / "work"
            jobfile = work / f"jobs-{self.starts}.json"
            resfile = work / f"events-{self.starts}.jsonl"
            logfile = work / f"worker-{self.starts}.log"
            jobfile.write_text(json.dumps([[i, jobs[i]] for i in pending]))
            resfile.write_bytes(b"")
            cmd = self.worker_cmd(jobfile, resfile, deadline, hard_deadline)
            current, since, offset, partial = None, time.perf_counter(), 0, b""
            got_env, reason, finished = False, None, 0

            def read_events():
                nonlocal offset, partial
                with open(resfile, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
                offset += len(chunk)
                partial += chunk
                *lines, partial = partial.split(b"\n")
                return [json.loads(line) for line in lines if line.strip()]

            with open(logfile, "wb") as logf:
                proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                        start_new_session=True)
                while True:
                    rc = proc.poll()               # before reading: no event is lost
                    for ev in read_events():
                        if ev["event"] == "env":
                            got_env = True
                            self.env = ev["env"]
                            e = ev["env"]
                            log(f"worker {self.starts}: {e['gpu']}, driver {e['driver']}, "
                                f"torch {e['torch']}")
                        elif ev["event"] == "start":
                            current, since = ev["i"], time.perf_counter()
                        elif ev["event"] == "compile_mode":
                            self.compile_mode = ev["mode"]
                            log(f"torch.compile: mode {ev['mode']} from now on (a "
                                f"max-autotune compile took > {COMPILE_AUTOTUNE_LIMIT_S:.0f} s)")
                        elif ev["event"] == "done":
                            i = ev["i"]
                            self.results[i] = ev["result"]
                            pending.remove(i)
                            finished += 1
                            on_done(i, jobs[i], ev["result"])
                            current, since = None, time.perf_counter()
                    if rc is not None:
                        if current is not None:
                            reason = f"worker died (exit {rc}) during the job"
                        elif not got_env:
                            reason = f"worker could not start (exit {rc})"
                        break
                    now = time.perf_counter()
                    if current is not None and now - since > self.timeout(jobs[current]):
                        reason = f"timed out after {self.timeout(jobs[current]):.0f} s"
                        break
                    if current is None and now - since > self.args.startup_timeout_s:
                        reason = f"worker idle for {self.args.startup_timeout_s:.0f} s"
                        break
                    time.sleep(0.1)
                if proc.poll() is None:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)   # the worker's own group
                    except ProcessLookupError:
                        pass
                    proc.wait()
            tail = logfile.read_text(errors="replace")[-2000:]
            if reason and current is not None:
                job = jobs[current]
                if (job["type"] == "compile" and self.args.compile_mode == "auto"
                        and self.compile_mode != "default" and current not in requeued):
                    self.compile_mode = "default"
                    requeued.add(current)
                    log(f"torch.compile {job}: {reason}; again in default mode")
                    fruitless = 0
                    continue
                self.results[current] = dict(status="crash", error=reason, log_tail=tail)
                pending.remove(current)
                on_done(current, job, self.results[current])
                fruitless = 0
                continue
            if reason:
                log(f"worker {self.starts}: {reason}\n{tail}")
            fruitless = 0 if finished else fruitless + 1
            if pending and (fruitless >= 2 or not got_env):
                why = reason or f"worker exited ({proc.returncode}) without progress"
                log(f"giving up on {len(pending)} jobs: {why}")
                for i in list(pending):
                    self.results[i] = dict(status="crash", error=why, log_tail=tail)
                    on_done(i, jobs[i], self.results[i])
                pending = []


def fmt_err(x):
    return f"{x:.2e}" if isinstance(x, (int, float)) else "-"


def tuning_label(case: dict) -> str:
    """A table row's suffix naming a tuning case's pass options."""
    return f"  [{case['pass_options']}]" if case.get("pass_options") else ""


def fmt_us(x):
    return f"{x:9.1f}" if isinstance(x, (int, float)) else f"{'-':>9}"


def tflops(fl, us):
    return fl / (us * 1e-6) / 1e12 if isinstance(us, (int, float)) and us > 0 else None


def graph_lines(graphs: dict | None, direct: dict, indent: str, what: str) -> list[str]:
    """The results.txt line of the same calls with CUDA graphs."""
    if not graphs:
        return []
    line = (f"{indent}with CUDA graphs: {graphs['status']}, "
            f"{what} {'bit for bit the direct ones' if graphs.get('identical') else 'DIFFERENT'}")
    if "median_us" in graphs:
        line += f"; median {graphs['median_us']:.1f} us (min {graphs['min_us']:.1f})"
        if direct.get("median_us"):
            line += (f", {graphs['median_us'] / direct['median_us']:.2f}x the median of "
                     f"the direct {what}")
    return [line]


def model_lines(model: dict | None) -> list[str]:
    """The results.txt lines of one whole-model check."""
    if not model:
        return []
    info = model.get("info") or {}
    ref = info.get("reference_target", "cpu")
    what = (f"{info.get('onnx', '?')}, lora-compile --target=cuda, LoRA "
            f"{' '.join(a for a in info.get('lora_compile_args', []) if a.startswith('--lora'))}")
    st = model.get("status", "not run")
    lines = [f"Whole model ({what}): {st}"]
    if info.get("note"):
        lines.append(f"  {info['note']}")
    if st in ("PASS", "FAIL") and "max_abs_diff" in model:
        lines.append(
            f"  {info.get('output', 'output')} {model.get('shape')} vs the {ref} artifact: max "
            f"abs diff {model['max_abs_diff']:.2e} (tol {model['tol']:.2e} = "
            f"{info.get('logits_tol', MODEL_TOL):g} * max(1, max |{ref}| = "
            f"{model['ref_max_abs']:.3g})), max rel diff "
            f"{model['max_rel_diff']:.2e}, rel L2 {model['rel_l2']:.2e}, NaN {model['nan']}, "
            f"second call {'identical' if model.get('repeat_identical') else 'DIFFERENT'}")
        if "median_us" in model:
            lines.append(
                f"  model call: median {model['median_us']:.1f} us (min {model['min_us']:.1f}), "
                f"{model['n']} calls after {model['warmup']} warm-ups, host wall time with "
                f"numpy in/out; load {model.get('load_s')} s, first call "
                f"{model.get('first_call_s')} s")
        lines += graph_lines(model.get("graphs"), model, "  ", "calls")
        device = (model.get("graphs") or {}).get("device") or {}
        if "median_us" in device:
            lines.append(
                f"  with CUDA graphs on {device['device']} tensors (run_on_device, no host "
                f"copies): {device['status']}, output "
                f"{'bit for bit the direct one' if device['identical'] else 'DIFFERENT'}; "
                f"median {device['median_us']:.1f} us (min {device['min_us']:.1f})"
                + (f", {device['median_us'] / model['median_us']:.2f}x the median of the "
                   "direct calls" if model.get("median_us") else ""))
        elif device.get("error"):
            lines.append(f"  on device tensors: {device['status']} ({device['error']})")
    elif st in ("PASS", "FAIL"):
        lines.append(f"  {model.get('error', '')}"[:400])
    elif model.get("error"):
        lines.append(f"  {model['error']}"[:600])
    train = model.get("train")
    if train:
        lines.append(f"  train step ({' '.join(info.get('train_compile_args', [])[1:])}): "
                     f"{train.get('status', 'not run')}")
        if "losses" in train:
            lines.append(
                f"    losses {' '.join(f'{v:.6f}' for v in train['losses'])} vs the {ref} "
                f"train step's {' '.join(f'{v:.6f}' for v in train['reference'])} (last: "
                f"eval step): max rel diff {train['max_rel_diff']:.2e} (tol {train['tol']:g})")
        if "median_us" in train:
            lines.append(
                f"    train step: median {train['median_us']:.1f} us (min "
                f"{train['min_us']:.1f}), {train['n']} steps after {train['warmup']} "
                f"warm-ups, host wall time with numpy in/out")
        lines += graph_lines(train.get("graphs"), train, "    ", "steps")
        if train.get("error"):
            lines.append(f"    {train['error']}"[:600])
    return lines


def main_tile(case: dict, M: int) -> str:
    """The tile of the kernel doing x·W (the forward's lora_linear, or the
    matmul) at M rows, as "128x256": the variant that M picks."""
    try:
        k = next(k for k in lora_abi.kernels_at(case, M)
                 if lora_abi.kernel_name(k) in ("lora_linear", "matmul"))
    except (ValueError, KeyError, StopIteration):
        return "-"
    return f"{k['tile'][0]}x{k['tile'][1]}"


def build_report(cases, jobs, results, env, manifest, args,
                 models: dict[str, dict] | None = None) -> tuple[dict, str]:
    by = {}
    for i, job in enumerate(jobs):
        by[json.dumps({k: v for k, v in job.items()
                       if k not in ("scale", "dtype", "mode", "skip")},
                      sort_keys=True)] = results.get(i, dict(status="not run"))

    def get(**key):
        return by.get(json.dumps(key, sort_keys=True), {})

    lines = []
    prov = manifest.get("provenance", {})
    lines.append(f"lora-opt GPU benchmark  {time.strftime('%Y-%m-%d %H:%M:%S')}")
    if env:
        lines.append(f"device: {env['gpu']} (sm_{env['capability'].replace('.', '')}, "
                     f"{env['sms']} SMs), driver {env['driver']}, torch {env['torch']} "
                     f"(CUDA {env['torch_cuda']})")
    lines.append(f"kernels: commit {prov.get('commit', '?')[:12]}"
                 f"{' (dirty)' if prov.get('dirty') else ''}, {prov.get('created', '?')}")
    lines.append("")
    for model in (models or {}).values():
        lines += model_lines(model)
        lines.append("")
    lines.append(f"Correctness: ||y - y_ref|| / ||y_ref|| <= {TOL:g}, y_ref in float64 from "
                 "the same bf16 inputs with t = bf16(scale*x*A) rounded as the kernel stores "
                 "it (y_err_t64: with t unrounded); no NaN in y (outputs poisoned with NaN); "
                 "guard rows after M (a bmm case: a guard matrix after the last) untouched.")
    lines.append(f"{'case':<22}{'M':>6}  {'status':<6}{'y_err':>10}{'y_err_t64':>11}"
                 f"{'t_err':>10}{'NaN y/t':>10}{'tailNaN':>8}{'guard':>7}")
    grad_lines = [
        "", f"LoRA forward+backward correctness: y, dx, dA, dB each ||out - ref|| / ||ref|| "
        f"<= {TOL:g}, refs in float64 from the same bf16 inputs (g ~ N(0,1)) with "
        "t = bf16(scale*x*A) and dt = bf16(scale*g*B^T) rounded as the kernels store them "
        "(on a FAIL also the errors with t, dt unrounded); no NaN in any output (all "
        "poisoned with NaN); guard rows after every output untouched.",
        f"{'case':<22}{'M':>6}  {'status':<6}{'y_err':>10}{'dx_err':>10}{'dA_err':>10}"
        f"{'dB_err':>10}{'ts/dt_err':>19}{'NaN':>6}{'guard':>7}"]
    correct = {}
    for c in cases:
        ok = True
        out = grad_lines if c["op"] == "grad" else lines
        for M in lora_abi.check_ms_for(c, args.check_ms):
            r = get(type="check", case=c["id"], M=M)
            st = r.get("status", "not run")
            ok = ok and st == "PASS"
            if st in ("PASS", "FAIL") and c["op"] == "grad":
                out.append(
                    f"{c['id']:<22}{M:>6}  {st:<6}"
                    + "".join(f"{r[f'{n}_err']:>10.2e}" for n in GRAD_OUTPUTS)
                    + f"{r['ts_err']:>10.2e}/{r['dt_err']:.2e}{sum(r['nan'].values()):>6}"
                    f"{'ok' if r['guard_ok'] else 'BAD':>7}")
                if st == "FAIL":
                    out.append(f"{'':<28}unrounded t, dt: " + " ".join(
                        f"{n}_err {r[f'{n}_err_exact']:.2e}" for n in GRAD_OUTPUTS)
                        + f"; t_err {r['t_err']:.2e}; NaN {r['nan']}")
            elif st in ("PASS", "FAIL"):
                out.append(
                    f"{c['id']:<22}{M:>6}  {st:<6}{r['y_err']:>10.2e}"
                    f"{fmt_err(r.get('y_err_exact_t')):>11}{fmt_err(r.get('t_err')):>10}"
                    f"{str(r['y_nan']) + '/' + str(r.get('t_nan', '-')):>10}"
                    f"{r['y_nan_tail_rows']:>8}{'ok' if r['guard_ok'] else 'BAD':>7}")
                if c["r"] and not r.get("t_ok", True):
                    out.append(f"{'':<28}t check failed: t_err {r['t_err']:.2e}; t vs x*A "
                               f"without scale {r['t_err_vs_unscaled']:.2e}")
                if st == "FAIL" and c["r"]:
                    out.append(f"{'':<28}y vs x*W alone: {r['y_err_vs_no_lora']:.2e}")
            else:
                out.append(f"{c['id']:<22}{M:>6}  {st.upper():<6}  "
                           f"{(r.get('error') or '')[:200]}")
        correct[c["id"]] = ok
    if any(c["op"] == "grad" for c in cases):
        lines += grad_lines
    n_ok = sum(correct.values())
    lines.append(f"{n_ok} of {len(cases)} cases pass at M in {args.check_ms} and at the "
                 "first M of each kernel variant that those do not launch")
    # The launches again with PDL (every one after the first may start
    # while the one before it runs): the outputs must be the same bits.
    pdl = [(c["id"], M, get(type="check", case=c["id"], M=M)) for c in cases
           for M in lora_abi.check_ms_for(c, args.check_ms)]
    pdl = [(case, M, r) for case, M, r in pdl if "pdl_same" in r or "pdl_error" in r]
    if pdl:
        same = sum(bool(r.get("pdl_same")) for _, _, r in pdl)
        roles = {role for c in cases for k in c.get("kernels", [])
                 for role in lora_abi.accumulated_roles(k)}
        summed = " and ".join(name for role, name in (("db", "dB"), ("da", "dA"))
                              if role in roles)
        lines.append(f"With PDL (cuLaunchKernelEx, programmatic stream serialization, on "
                     f"every launch after a case's first): {same} of {len(pdl)} checks "
                     "wrote the same bits" + (
                         f" ({summed} summed by reduce-adds, in no fixed order: within "
                         f"{PDL_ORDER_TOL:g} relative)" if summed else ""))
        for case, M, r in pdl:
            if not r.get("pdl_same"):
                lines.append(f"    {case} M={M}: " + (
                    f"error {r['pdl_error']}" if "pdl_error" in r
                    else f"differ in {', '.join(r.get('pdl_differ', []))}"))

    rows = []
    if not args.only_correctness:
        lines.append("")
        lines.append("Timings: median of %d runs after %d warm-up runs, CUDA events around "
                     "each run, L2 flushed before each (256 MiB memset, outside the events). "
                     "TF/s counts 2MKN for x*W plus 2Mr(K+N) for the LoRA branch. Ratios "
                     "are time ours / time theirs (< 1: ours faster). ! = the case failed "
                     "correctness." % (args.iters, args.warmup))
        for op in ("lora", "grad"):
            group = [c for c in cases if c["op"] == op]
            if not group:
                continue
            if op == "grad":
                lines.append("")
                lines.append(
                    "LoRA forward+backward (W frozen; dx, dA, dB): ours = the 6 launches "
                    "(forward lora_down, lora_linear; backward lora_t_grad, lora_b_grad "
                    "on the forward's t, lora_a_grad, lora_input_grad); cuBLAS = torch.mm(x, W) + "
                    "torch.mm(g, W^T), the frozen layer's forward and backward; eager = the "
                    "PEFT layer's forward then torch.autograd.grad for x, A, B; compile = "
                    "the same with the forward torch.compile'd (AOTAutograd compiles the "
                    "backward). TF/s counts 4MKN (cuBLAS: all of its work) plus 6Mr(K+N) "
                    f"for the LoRA terms. The bar: /cuBLAS <= {GRAD_BAR:.2f}.")
            base_name = "xW+gWt" if op == "grad" else "cuBLAS xW"
            hdr = (f"{'K':>6}{'N':>7}{'r':>4}{'M':>7}{'tile':>8} | {'ours us':>9}{'TF/s':>6} | "
                   f"{base_name:>9}{'TF/s':>6} | {'eager':>9}{'TF/s':>6} | "
                   f"{'compile':>9}{'TF/s':>6} | {'/cuBLAS':>7}{'/eager':>7}{'/compile':>9}")
            lines.append(hdr)
            lines.append("-" * len(hdr))
            key = dict(op="grad") if op == "grad" else {}
            count = lora_abi.grad_flops if op == "grad" else lora_abi.flops
            within = []
            for c in group:
                K, N, r = c["K"], c["N"], c["r"]
                for M in args.time_ms:
                    ours = get(type="ours", case=c["id"], K=K, N=N, M=M)
                    cub = get(type="cublas", K=K, N=N, M=M, **key)
                    eag = get(type="eager", K=K, N=N, r=r, M=M, **key)
                    com = get(type="compile", K=K, N=N, r=r, M=M, **key)
                    base, extra = count(K, N, M, r)
                    t = {n: v.get("median_us") for n, v in
                         (("ours", ours), ("cublas", cub), ("eager", eag), ("compile", com))}
                    row = dict(op=op, K=K, N=N, r=r, M=M, case=c["id"],
                               correct=correct[c["id"]], flops=base + extra, flops_xw=base,
                               **{f"{n}_us": v for n, v in t.items()},
                               **{f"{n}_status": v.get("status", "not run") for n, v in
                                  (("ours", ours), ("cublas", cub), ("eager", eag),
                                   ("compile", com))},
                               compile_mode=com.get("mode"), tile=main_tile(c, M),
                               ours_kernels_us=ours.get("kernels_us"),
                               ours_pdl_us=ours.get("pdl_us"))

                    def ratio(a, b):
                        return a / b if a and b else None
                    row["ours_over_cublas"] = ratio(t["ours"], t["cublas"])
                    row["ours_over_eager"] = ratio(t["ours"], t["eager"])
                    row["ours_over_compile"] = ratio(t["ours"], t["compile"])
                    rows.append(row)
                    # The bar counts the default cases; a tuning case is a
                    # candidate beside its default.
                    if op == "grad" and not c.get("pass_options"):
                        within.append(correct[c["id"]] and row["ours_over_cublas"] is not None
                                      and row["ours_over_cublas"] <= GRAD_BAR)

                    def tf(us, fl):
                        v = tflops(fl, us)
                        return f"{v:6.0f}" if v is not None else f"{'-':>6}"

                    def rt(v):
                        return f"{v:7.2f}" if v else f"{'-':>7}"
                    lines.append(
                        f"{K:>6}{N:>7}{r:>4}{M:>7}{row['tile']:>8} | {fmt_us(t['ours'])}"
                        f"{tf(t['ours'], base + extra)}"
                        f" | {fmt_us(t['cublas'])}{tf(t['cublas'], base)}"
                        f" | {fmt_us(t['eager'])}{tf(t['eager'], base + extra)}"
                        f" | {fmt_us(t['compile'])}{tf(t['compile'], base + extra)}"
                        f" | {rt(row['ours_over_cublas'])}{rt(row['ours_over_eager'])}"
                        f"{rt(row['ours_over_compile']):>9}{'' if correct[c['id']] else '  !'}"
                        + tuning_label(c))
            if op == "grad":
                lines.append(f"{sum(within)} of {len(within)} rows correct and within "
                             f"{GRAD_BAR:.2f}x of cuBLAS x*W + g*W^T")
            # The breakdown of ours: each launch alone, L2 flushed (so each
            # reads its inputs from memory: the sum can exceed the whole).
            breakdown = []
            for c in group:
                for M in args.time_ms:
                    timed = get(type="ours", case=c["id"], K=c["K"], N=c["N"], M=M)
                    each = timed.get("kernels_us")
                    plain = timed.get("kernels_no_l2_promotion_us") or {}
                    if each:
                        whole = timed.get("median_us")
                        breakdown.append(f"    {c['id']:<22} M={M:<6} " + ", ".join(
                            f"{name} {us:.1f}"
                            + (f" [{plain[name]:.1f}]" if name in plain else "")
                            for name, us in each.items())
                            + f" (sum {sum(each.values()):.1f}"
                            + (f"; all together {whole:.1f}" if whole else "")
                            + (f", with PDL {timed['pdl_us']:.1f}" if "pdl_us" in timed
                               else "") + ")")
            lines.append("  ours by kernel, each launched alone (us; [in brackets] the "
                         "same with no L2 promotion in the tensor maps; then all the "
                         "launches together, and with PDL on every one after the first):"
                         + ("" if breakdown else " not measured"))
            lines += breakdown
        mm = [c for c in cases if c["op"] == "matmul"]
        if mm:
            lines.append("")
            lines.append("Plain matmul y = x*W (bf16 out); last, ours with no L2 "
                         "promotion in the tensor maps:")
            hdr = (f"{'K':>6}{'N':>7}{'M':>7}{'tile':>8} | {'ours us':>9}{'TF/s':>6} | "
                   f"{'cuBLAS':>9}{'TF/s':>6} | {'/cuBLAS':>7} | {'no L2 pr.':>9}")
            lines.append(hdr)
            lines.append("-" * len(hdr))
            for c in mm:
                K, N = c["K"], c["N"]
                for M in args.time_ms:
                    timed = get(type="ours", case=c["id"], K=K, N=N, M=M)
                    ours, plain = timed.get("median_us"), timed.get("no_l2_promotion_us")
                    cub = get(type="cublas", K=K, N=N, M=M).get("median_us")
                    base, _ = lora_abi.flops(K, N, M, None)
                    rat = ours / cub if ours and cub else None
                    tile = main_tile(c, M)
                    rows.append(dict(op="matmul", K=K, N=N, r=None, M=M, case=c["id"],
                                     correct=correct[c["id"]], flops=base, ours_us=ours,
                                     cublas_us=cub, ours_over_cublas=rat, tile=tile,
                                     ours_no_l2_promotion_us=plain))
                    tfo, tfc = tflops(base, ours), tflops(base, cub)
                    lines.append(
                        f"{K:>6}{N:>7}{M:>7}{tile:>8} | {fmt_us(ours)}"
                        f"{(f'{tfo:6.0f}' if tfo else '     -')} | {fmt_us(cub)}"
                        f"{(f'{tfc:6.0f}' if tfc else '     -')} | "
                        f"{(f'{rat:7.2f}' if rat else '      -')} | {fmt_us(plain)}"
                        f"{'' if correct[c['id']] else '  !'}"
                        + tuning_label(c))
        bmm = [c for c in cases if c["op"] == "bmm"]
        if bmm:
            lines.append("")
            lines.append("Batched matmul y[b] = x[b]*w[b] (the attention's q*k^T with k read "
                         "as stored, and probabilities*v; bf16 out); cuBLAS = torch.bmm, w^T "
                         "a transposed view; last, ours with no L2 promotion:")
            hdr = (f"{'B':>4}{'K':>6}{'N':>7}{'wT':>3}{'M':>7} | {'ours us':>9}{'TF/s':>6} | "
                   f"{'cuBLAS':>9}{'TF/s':>6} | {'/cuBLAS':>7} | {'no L2 pr.':>9}")
            lines.append(hdr)
            lines.append("-" * len(hdr))
            for c in bmm:
                B, K, N = c["B"], c["K"], c["N"]
                for M in args.time_ms:
                    timed = get(type="ours", case=c["id"], K=K, N=N, M=M)
                    ours, plain = timed.get("median_us"), timed.get("no_l2_promotion_us")
                    cub = get(type="cublas", op="bmm", B=B, K=K, N=N, M=M,
                              transposed=c["transposed"]).get("median_us")
                    fl = lora_abi.bmm_flops(B, K, N, M)
                    rat = ours / cub if ours and cub else None
                    rows.append(dict(op="bmm", B=B, K=K, N=N, r=None, M=M, case=c["id"],
                                     transposed=c["transposed"], correct=correct[c["id"]],
                                     flops=fl, ours_us=ours, cublas_us=cub,
                                     ours_over_cublas=rat, ours_no_l2_promotion_us=plain))
                    tfo, tfc = tflops(fl, ours), tflops(fl, cub)
                    lines.append(
                        f"{B:>4}{K:>6}{N:>7}{'T' if c['transposed'] else '-':>3}{M:>7} | "
                        f"{fmt_us(ours)}{(f'{tfo:6.0f}' if tfo else '     -')} | "
                        f"{fmt_us(cub)}{(f'{tfc:6.0f}' if tfc else '     -')} | "
                        f"{(f'{rat:7.2f}' if rat else '      -')} | {fmt_us(plain)}"
                        f"{'' if correct[c['id']] else '  !'}"
                        + tuning_label(c))
        problems = [(jobs[i], r) for i, r in sorted(results.items())
                    if r.get("status") in ("error", "crash", "skipped")
                    and jobs[i]["type"] not in ("check", "model")]
        if problems:
            lines.append("")
            lines.append("Jobs that did not give a time:")
            for job, r in problems:
                lines.append(f"  {job}: {r['status']}: {(r.get('error') or '')[:300]}")
    report = dict(env=env, provenance=prov,
                  config=dict(check_ms=args.check_ms, time_ms=args.time_ms, iters=args.iters,
                              warmup=args.warmup, tol=TOL, l2_flush_bytes=L2_FLUSH_BYTES,
                              compile_mode=args.compile_mode, quick=args.quick),
                  correct=correct, rows=rows,
                  model=(models or {}).get(MODEL_DIR), models=models,
                  jobs=[dict(job=jobs[i], result=results.get(i)) for i in range(len(jobs))])
    return report, "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Correctness and timings of lora-opt's "
                                 "generated CUDA kernels (see bench/gpu/README.md)")
    ap.add_argument("--artifacts", default=str(HERE / "artifacts"))
    ap.add_argument("--out", default=os.environ.get("OUT") or "./bench-gpu-out")
    ap.add_argument("--quick", action="store_true",
                    help="two shapes, r=16, fewer M and runs, torch.compile default mode")
    ap.add_argument("--only-correctness", action="store_true")
    ap.add_argument("--cases", help="comma-separated id globs (lora_4096x*_r16, matmul_*, "
                    "grad_*, bmm_*) or specs (4096x4096:16, 4096x1024:g16, 4096x1024:mm, "
                    "4096x4096, 32x128x2048:bmmt)")
    ap.add_argument("--dry-run", action="store_true",
                    help="check the artifacts and print the launch plan; no GPU needed")
    ap.add_argument("--iters", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--compile-mode", default=None,
                    choices=["auto", "max-autotune-no-cudagraphs", "default", "off"])
    ap.add_argument("--budget-s", type=float, default=270.0,
                    help="after this many seconds torch.compile jobs are skipped "
                    "(everything after 1.5x)")
    ap.add_argument("--job-timeout-s", type=float, default=60.0)
    ap.add_argument("--check-timeout-s", type=float, default=40.0,
                    help="limit of one case's correctness checks (a hung kernel)")
    ap.add_argument("--compile-timeout-s", type=float, default=150.0)
    ap.add_argument("--startup-timeout-s", type=float, default=120.0)
    ap.add_argument("--model-timeout-s", type=float, default=120.0)
    ap.add_argument("--no-l2-ab", action="store_true",
                    help="time ours only with the ABI's L2 promotion, not also without "
                         "(fewer timings, for a short lease)")
    ap.add_argument("--no-model", action="store_true",
                    help="skip the whole-model checks (artifacts/model, artifacts/model_bf16)")
    ap.add_argument("--model-static-check", help=argparse.SUPPRESS)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    ap.add_argument("--deadline", type=float, default=float("inf"), help=argparse.SUPPRESS)
    ap.add_argument("--hard-deadline", type=float, default=float("inf"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.artifacts = Path(args.artifacts).resolve()

    if args.model_static_check:          # internal: a child of check_model_artifacts
        print(json.dumps(model_static_problems(Path(args.model_static_check).resolve())))
        return 0
    if args.worker:
        args.warmup = args.warmup if args.warmup is not None else 10
        args.iters = args.iters if args.iters is not None else 50
        args.compile_mode = args.compile_mode or "auto"
        return worker_main(args)

    manifest = load_manifest(args.artifacts)
    cases = manifest["cases"]
    if args.quick:
        cases = [c for c in cases if c["op"] == "bmm" or (
            (c["K"], c["N"]) in ((4096, 4096), (4096, 14336)) and c["r"] in (None, 16))]
    try:
        cases = lora_abi.select_cases(cases, args.cases)
    except ValueError as e:
        print(f"run.py: {e}", file=sys.stderr)
        return 2
    if not cases:
        print("run.py: no case matches --cases", file=sys.stderr)
        return 2
    args.check_ms = [128, 1000] if args.quick else list(CHECK_MS)
    args.time_ms = [128, 2048, 8192] if args.quick else list(TIME_MS)
    args.iters = args.iters or (20 if args.quick else 50)
    args.warmup = args.warmup or (5 if args.quick else 10)
    args.compile_mode = args.compile_mode or ("default" if args.quick else "auto")

    models = model_states(args)
    if args.dry_run:
        return dry_run(manifest, args.artifacts, cases, sorted(set(args.check_ms + args.time_ms)),
                       models)

    problems = check_artifacts(manifest, args.artifacts)
    if problems:
        print("run.py: bad artifacts:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    try:
        import torch
    except ImportError:
        print("run.py: torch is not installed: this needs a GPU machine with PyTorch "
              "(--dry-run checks the artifacts without one)", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("run.py: no CUDA GPU here (torch.cuda.is_available() is False); "
              "--dry-run checks the artifacts without one", file=sys.stderr)
        return 2
    cap = torch.cuda.get_device_capability()
    if cap != (9, 0):
        print(f"run.py: the kernels are sm_90a (H100/H200); this GPU is sm_{cap[0]}{cap[1]}",
              file=sys.stderr)
        return 2

    out = Path(args.out)
    (out / "work").mkdir(parents=True, exist_ok=True)
    # Each model's result, or None where its job runs (first, in the worker).
    model_results, model_infos = {}, {}
    for name, (state, model_problems) in models.items():
        model_infos[name] = None
        if state != "off" and (args.artifacts / name / "model.json").exists():
            try:
                model_infos[name] = json.loads(
                    (args.artifacts / name / "model.json").read_text())
            except ValueError:
                pass
        if state == "off":
            model_results[name] = dict(status="skipped", error="--no-model")
        elif state == "absent":
            model_results[name] = dict(
                status="not prepared", error=f"{args.artifacts / name} is missing "
                "(prepare.py --no-model): no whole-model check")
        elif model_problems:
            model_results[name] = dict(status="error", error="bad model artifacts: "
                                       + "; ".join(model_problems))
        else:
            model_results[name] = None
    model_jobs = [dict(type="model", dir=name)
                  for name, result in model_results.items() if result is None]
    jobs = model_jobs + check_jobs(cases, args)
    log(f"{len(cases)} cases, {len(jobs)} correctness checks (whole models: "
        + ", ".join(f"{name} {result['status'] if result else 'first'}"
                    for name, result in model_results.items())
        + f"); output in {out}")
    runner = Runner(args, out)
    done = [0]

    def on_done(i, job, res):
        done[0] += 1
        what = " ".join(f"{k}={v}" for k, v in job.items()
                        if k not in ("scale", "dtype", "skip"))
        if job["type"] == "check":
            detail = (" ".join(f"{n}_err {res[f'{n}_err']:.2e}" for n in GRAD_OUTPUTS
                               if f"{n}_err" in res) or res.get("error", ""))
        elif job["type"] == "model":
            detail = (f"max abs diff {res['max_abs_diff']:.2e} (tol {res['tol']:.2e}), "
                      f"second call {'identical' if res.get('repeat_identical') else 'differs'}"
                      + (f", median {res['median_us']:.1f} us" if "median_us" in res else "")
                      if "max_abs_diff" in res else res.get("error", ""))
        else:
            detail = (f"{res['median_us']:.1f} us" if "median_us" in res
                      else res.get("error", ""))
            if res.get("first_call_s") is not None:
                detail += f" (first call {res['first_call_s']} s, {res.get('mode')})"
        log(f"[{done[0]} {time.perf_counter() - runner.t0:5.0f}s] {what}: "
            f"{res.get('status')} {detail}"[:400])

    # Each model in a worker of its own: a process imports one copied
    # lora_opt package and loads one runtime library.
    for i in range(len(model_jobs)):
        runner.run(jobs, on_done, indices=[i])
    runner.run(jobs, on_done, indices=range(len(model_jobs), len(jobs)))
    if not args.only_correctness:
        crashed = {jobs[i]["case"] for i, r in runner.results.items()
                   if r.get("status") in ("crash", "error") and jobs[i]["type"] == "check"}
        first = len(jobs)
        jobs += timing_jobs(cases, args, skip_ours=crashed)
        log(f"{len(jobs) - first} timing jobs")
        runner.run(jobs, on_done, indices=range(first, len(jobs)))
    for i, job in enumerate(model_jobs):
        model_results[job["dir"]] = dict(runner.results.get(i, dict(status="not run")))
    for name, result in model_results.items():
        result["info"] = model_infos[name]
    report, text = build_report(cases, jobs, runner.results, runner.env, manifest, args,
                                models=model_results)
    report["seconds"] = round(time.perf_counter() - runner.t0, 1)
    (out / "results.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (out / "results.txt").write_text(text)
    log("")
    log(text)
    log(f"wrote {out / 'results.txt'} and {out / 'results.json'} "
        f"({report['seconds']} s)")
    model_ok = all(r.get("status") in ("PASS", "skipped", "not prepared")
                   for r in model_results.values())
    return 0 if all(report["correct"].values()) and model_ok else 1


if __name__ == "__main__":
    sys.exit(main())
