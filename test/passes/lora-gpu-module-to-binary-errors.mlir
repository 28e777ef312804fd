// RUN: lora-opt %s --split-input-file --verify-diagnostics --lora-gpu-module-to-binary="format=isa"
// RUN: not lora-opt %s --split-input-file --lora-gpu-module-to-binary="format=elf" 2>&1 | FileCheck %s

// CHECK: lora-gpu-module-to-binary: unknown format 'elf'

// A module without a target cannot be compiled.
module attributes {gpu.container_module} {
  gpu.module @targeted [#nvvm.target<chip = "sm_90a", features = "+ptx80">] {
    llvm.func @k() attributes {gpu.kernel, nvvm.kernel} {
      llvm.return
    }
  }
  // expected-error @below {{the module has no target attributes}}
  gpu.module @untargeted {
    llvm.func @k() attributes {gpu.kernel, nvvm.kernel} {
      llvm.return
    }
  }
}

