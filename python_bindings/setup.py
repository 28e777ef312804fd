"""Builds the `lora_opt` package: copies the C API libraries of a lora-opt
CMake build (liblora_runtime.so, liblora_compiler.so) into the package, and
liblora_cuda_runtime.so when the build has it (cuda.h was found): the
runtime's CUDA device loads it from the folder of liblora_runtime.so.

The build folder is $LORA_BUILD_DIR, else ../build next to this folder (what
scripts/setup.sh makes). The two targets are (re)built with `cmake --build`
first, so `pip install ./python_bindings` after a source change installs the
current code.
"""

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
LIBRARIES = {"LoraRuntimeC": "liblora_runtime.so",
             "LoraCompilerC": "liblora_compiler.so"}
OPTIONAL_LIBRARIES = {"LoraCudaRuntime": "liblora_cuda_runtime.so"}


def has_target(build: Path, target: str) -> bool:
    """True when the CMake build defines `target` (ninja knows it)."""
    proc = subprocess.run(["cmake", "--build", str(build), "--target", "help"],
                          capture_output=True, text=True)
    return proc.returncode == 0 and f"{target}:" in proc.stdout


def build_dir() -> Path:
    path = Path(os.environ.get("LORA_BUILD_DIR", HERE.parent / "build"))
    if not (path / "CMakeCache.txt").exists():
        raise SystemExit(
            f"lora_opt: no CMake build in {path}; run scripts/setup.sh first "
            "or set LORA_BUILD_DIR")
    return path


class BuildWithLibraries(build_py):
    def run(self):
        build = build_dir()
        libraries = dict(LIBRARIES)
        libraries.update({t: name for t, name in OPTIONAL_LIBRARIES.items()
                          if has_target(build, t)})
        subprocess.run(["cmake", "--build", str(build), "--target",
                        *libraries.keys()], check=True)
        super().run()
        target = Path(self.build_lib) / "lora_opt" / "_lib"
        target.mkdir(parents=True, exist_ok=True)
        for name in libraries.values():
            shutil.copy2(build / "lib" / name, target / name)


setup(cmdclass={"build_py": BuildWithLibraries})
