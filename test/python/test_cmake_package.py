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
