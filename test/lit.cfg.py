# lit configuration for lora-opt.
import os

import lit.formats
from lit.llvm import llvm_config

config.name = "LORA"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "unit", "python", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.lora_obj_root, "test")

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(
    ["lora-opt", "lora-translate", "lora-run", "lora-compile"], [config.lora_tools_dir])

# Upstream mlir-opt, by its full path so no other mlir-opt on PATH is taken,
# and our plugin for it (test/lib/Plugin).
llvm_config.add_tool_substitutions(["mlir-opt"], [config.llvm_tools_dir])
config.substitutions.append(("%lora_plugin", config.lora_plugin))

# ptxas from the CUDA toolkit, for tests that build cubins (REQUIRES: ptxas);
# MLIR's NVVM target looks for it on PATH.
cuda_bin = "/usr/local/cuda/bin"
if os.path.exists(os.path.join(cuda_bin, "ptxas")):
    config.available_features.add("ptxas")
    llvm_config.with_environment("PATH", cuda_bin, append_path=True)

# The PTX of a gpu.binary printed with format=isa: its `assembly` string,
# unescaped by one sed (MLIR prints newline, tab, '"' and '\' as \0A, \09, \22, \5C).
config.substitutions.append(("%extract_ptx", r"""sed -n -e '/assembly = "/{s/.*assembly = "\([^"]*\)".*/\1/; s/\\0A/\n/g; s/\\09/\t/g; s/\\22/"/g; s/\\5C/\\/g; p}'"""))

# mlir-runner runs host code of the CUDA target emulated on the CPU
# (lora-cuda-emulate-on-host), printing with MLIR's runner utilities.
llvm_config.add_tool_substitutions(["mlir-runner"], [config.llvm_tools_dir])
mlir_lib_dir = os.path.join(os.path.dirname(config.llvm_tools_dir), "lib")
config.substitutions.append(
    ("%mlir_runner_utils", os.path.join(mlir_lib_dir, "libmlir_runner_utils.so")))
config.substitutions.append(
    ("%mlir_c_runner_utils", os.path.join(mlir_lib_dir, "libmlir_c_runner_utils.so")))
