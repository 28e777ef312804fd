#!/usr/bin/env python3
"""Compiles the kernels that bench/gpu/run.py measures on a GPU machine.

Runs here, with our build (the GPU machine has no LLVM/MLIR). For each case
(one lora.linear, or one plain linalg.matmul, on bf16 with a dynamic row
count M) it writes a small MLIR file, runs

    lora-opt --lora-generate-cuda-kernels            (for the lora.abi JSON)
    lora-opt --lora-generate-cuda-kernels --gpu-lower-to-nvvm-pipeline=...   (cubins)

and writes into the output folder (default bench/gpu/artifacts):

    src/<case>.mlir              the input
    <case>.<gpu.module>.cubin    one cubin per gpu.module
    kernels.json                 the cases, each kernel's ABI + its cubin, and
                                 where the kernels came from (commit, lora-opt)

    python3 bench/gpu/prepare.py [--cases 4096x4096:16,4096x1024:mm] [--out DIR]
"""

from __future__ import annotations

import argparse
import concurrent.futures
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
PIPELINE = ("gpu-lower-to-nvvm-pipeline=cubin-chip=sm_90a cubin-features=+ptx80 "
            "opt-level=3 cubin-format=bin")
TIMEOUT_S = 600


class PrepareError(Exception):
    pass


def lora_mlir(K: int, N: int, r: int, scale: float, dt: str) -> str:
    x, y = f"tensor<?x{K}x{dt}>", f"tensor<?x{N}x{dt}>"
    w, a, b = f"tensor<{K}x{N}x{dt}>", f"tensor<{K}x{r}x{dt}>", f"tensor<{r}x{N}x{dt}>"
    return f"""\
// y = x·W + {scale}·(x·A)·B  (alpha = {scale * r:g}, r = {r}); written by bench/gpu/prepare.py
func.func @lora_{K}x{N}_r{r}(%x: {x}, %w: {w}, %a: {a}, %b: {b}) -> {y} {{
  %y = lora.linear %x, %w, %a, %b {{rank = {r} : i64, scale = {scale!r} : f64}} : ({x}, {w}, {a}, {b}) -> {y}
  return %y : {y}
}}
"""


def matmul_mlir(K: int, N: int, dt: str, init: str) -> str:
    """y = x·W as linalg.matmul; `init` is how its accumulator starts: "fill"
    (zero-filled, the exact meaning) or "empty" (tensor.empty)."""
    x, y, w = f"tensor<?x{K}x{dt}>", f"tensor<?x{N}x{dt}>", f"tensor<{K}x{N}x{dt}>"
    if init == "fill":
        acc = (f"  %zero = arith.constant 0.0 : {dt}\n"
               f"  %acc = linalg.fill ins(%zero : {dt}) outs(%e : {y}) -> {y}\n")
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


def compile_case(case: dict, lora_opt: str, env: dict, out: Path) -> dict:
    """Compiles one case; returns its kernels.json entry."""
    if case["op"] == "lora":
        sources = [lora_mlir(case["K"], case["N"], case["r"], case["scale"], case["dtype"])]
    else:
        # The zero-filled accumulator is what y = x·W means; tensor.empty is
        # tried second in case the generator only matches that form.
        sources = [matmul_mlir(case["K"], case["N"], case["dtype"], init)
                   for init in ("fill", "empty")]
    src_path = out / "src" / f"{case['id']}.mlir"
    abis = []
    for source in sources:
        src_path.write_text(source)
        gen = run_tool([lora_opt, f"--{PASS}", str(src_path)], env)
        abis = lora_abi.find_abis(gen)
        if abis:
            break
    if not abis:
        raise PrepareError(f"{case['id']}: --{PASS} generated no kernel with a "
                           f"lora.abi attribute (input {src_path})")
    for abi in abis:
        errors = lora_abi.check_kernel(abi, case)
        if errors:
            raise PrepareError(f"{case['id']}: kernel {abi.get('name')}: "
                               + "; ".join(errors) + f"\nabi: {json.dumps(abi)}")
        if f"gpu.func @{abi['name']}" not in gen:
            raise PrepareError(f"{case['id']}: no gpu.func @{abi['name']} in the output")
    kinds = sorted(a["kind"] for a in abis)
    want = ["lora_down", "lora_linear"] if case["op"] == "lora" else ["matmul"]
    if kinds != want:
        raise PrepareError(f"{case['id']}: kernels {kinds}, expected {want}")

    lowered = run_tool([lora_opt, f"--{PASS}", f"--{PIPELINE}", str(src_path)], env)
    binaries = lora_abi.find_binaries(lowered)
    kernels = []
    for abi in sorted(abis, key=lambda a: lora_abi.KERNEL_ORDER[a["kind"]]):
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
    entry = {k: case[k] for k in ("id", "op", "K", "N", "r", "scale", "dtype")}
    entry["source"] = f"src/{src_path.name}"
    entry["kernels"] = kernels
    return entry


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lora-opt", default=str(Path(os.environ.get(
        "LORA_BUILD_DIR", ROOT / "build")) / "bin" / "lora-opt"))
    ap.add_argument("--out", default=str(HERE / "artifacts"))
    ap.add_argument("--cases", help="comma-separated KxN:r (LoRA), KxN:mm "
                    "(matmul) or KxN (both, every rank); default: the issue's shapes")
    ap.add_argument("--jobs", type=int, default=2, help="parallel lora-opt runs (1 or 2)")
    args = ap.parse_args(argv)

    try:
        cases = lora_abi.parse_case_spec(args.cases)
        env, ptxas = check_tools(args.lora_opt)
    except (ValueError, PrepareError) as e:
        print(f"prepare.py: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    (out / "src").mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.cubin"):
        old.unlink()
    manifest_path = out / "kernels.json"
    if manifest_path.exists():
        manifest_path.unlink()

    jobs = max(1, min(2, args.jobs))
    entries, failures = {}, []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(compile_case, c, args.lora_opt, env, out): c for c in cases}
        for fut in concurrent.futures.as_completed(futures):
            case = futures[fut]
            try:
                entries[case["id"]] = fut.result()
                ks = entries[case["id"]]["kernels"]
                print(f"{case['id']}: " + ", ".join(
                    f"{k['name']} ({k['kind']}, tile {k['tile']}, block {k['block']}, "
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
