"""find_package(LoraOpt) from another CMake project: install lora-opt into
a prefix, build test/cmake/consumer against it, and run lora-fuse through
the installed libraries."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT


def run(*cmd, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake")
def test_find_package_consumer(tmp_path):
    prefix = tmp_path / "prefix"
    run("cmake", "--install", BUILD, "--prefix", prefix)
    assert (prefix / "lib" / "cmake" / "LoraOpt" / "LoraOptConfig.cmake").exists()
    assert (prefix / "include" / "lora" / "Passes" / "Passes.h.inc").exists()
    assert (prefix / "lib" / "LoraPlugin.so").exists()
    build = tmp_path / "consumer"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    run("cmake", "-S", ROOT / "test" / "cmake" / "consumer", "-B", build,
        *generator, f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_BUILD_TYPE=Release")
    run("cmake", "--build", build, "-j2")
    out = run(build / "consumer")
    assert "lora.linear" in out and "scale = 2.000000e+00" in out, out
    assert "tosa.matmul" not in out, out

    # The C deployment program runs an artifact through liblora_runtime.so,
    # which needs no MLIR or LLVM library.
    libs = run("ldd", prefix / "lib" / "liblora_runtime.so")
    assert "MLIR" not in libs and "LLVM" not in libs, libs
    artifact = tmp_path / "artifact"
    run(BUILD / "bin" / "lora-compile", "--quiet", ROOT / "test" / "tools" / "lora-compile.mlir",
        "--lora-targets=up_proj", "--lora-rank=2", "--lora-alpha=4", "--opt-level=0",
        "-o", artifact)
    out = run(build / "deploy", artifact)
    # x = 1: y[0] = sum over k of W[k, 0] = 30 (B starts at zero).
    assert "input x: 64 elements" in out and "output logits: first value 30.0000" in out, out
    proc = subprocess.run([str(build / "deploy"), str(tmp_path / "none")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "does not exist" in proc.stderr, proc.stderr
