"""Builds the `lora_opt` package: copies the C API libraries of a lora-opt
CMake build (liblora_runtime.so, liblora_compiler.so) into the package.

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
        subprocess.run(["cmake", "--build", str(build), "--target",
                        *LIBRARIES.keys()], check=True)
        super().run()
        target = Path(self.build_lib) / "lora_opt" / "_lib"
        target.mkdir(parents=True, exist_ok=True)
        for name in LIBRARIES.values():
            shutil.copy2(build / "lib" / name, target / name)


setup(cmdclass={"build_py": BuildWithLibraries})
