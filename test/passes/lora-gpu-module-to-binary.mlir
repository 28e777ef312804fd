// RUN: lora-opt %s --lora-gpu-module-to-binary="format=isa" | FileCheck %s
// RUN: lora-opt %s --lora-gpu-module-to-binary="format=isa" --mlir-disable-threading | FileCheck %s
// RUN: lora-opt %s --gpu-module-to-binary="format=isa" | FileCheck %s

// Three modules become three binaries in their order, each with its PTX
// (format=isa: no ptxas), as upstream's gpu-module-to-binary makes them
// (the third RUN line), whether the modules are compiled in parallel or one
// after the other.
// CHECK-LABEL: module attributes {gpu.container_module}
// CHECK: gpu.binary @first [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, properties = {{.*}}O = 3 : i32}, assembly = "{{.*}}.target sm_90a{{.*}}.visible .entry first_kernel(
// CHECK: gpu.binary @second [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, {{.*}}.visible .entry second_kernel(
// CHECK: gpu.binary @third [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, {{.*}}.visible .entry third_kernel(
// CHECK-NOT: gpu.module
module attributes {gpu.container_module} {
  gpu.module @first [#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">] {
    llvm.func @first_kernel(%p: !llvm.ptr) attributes {gpu.kernel, nvvm.kernel} {
      %c = llvm.mlir.constant(1.0 : f32) : f32
      llvm.store %c, %p : f32, !llvm.ptr
      llvm.return
    }
  }
  gpu.module @second [#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">] {
    llvm.func @second_kernel(%p: !llvm.ptr) attributes {gpu.kernel, nvvm.kernel} {
      %c = llvm.mlir.constant(2.0 : f32) : f32
      llvm.store %c, %p : f32, !llvm.ptr
      llvm.return
    }
  }
  gpu.module @third [#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">] {
    llvm.func @third_kernel(%p: !llvm.ptr) attributes {gpu.kernel, nvvm.kernel} {
      llvm.return
    }
  }
}

