// The train step compiles for the CUDA target: forward, backward
// (lora.linear_grad) and AdamW update as sm_90a kernels in model.so. This
// f32 layer goes through the generic linalg → gpu path; running it needs a
// GPU.
// REQUIRES: ptxas
// RUN: rm -rf %t && mkdir -p %t
// RUN: lora-compile --quiet %s --mode=train --loss=mse --target=cuda --emit=llvm -o %t/model.mlir
// RUN: FileCheck %s < %t/model.mlir
// RUN: lora-compile --quiet %s --mode=train --loss=mse --target=cuda -o %t/out
// RUN: nm -D %t/out/model.so | FileCheck %s --check-prefix=SYMBOLS
// With LoRA dropout the masks are made on the device too (the generic
// path's kernels hash the seed and the index).
// RUN: lora-compile --quiet %s --mode=train --loss=mse --target=cuda --lora-dropout=0.1 --emit=llvm -o %t/dropout.mlir
// RUN: FileCheck %s --check-prefix=DROPOUT < %t/dropout.mlir
// A bf16 layer gets the generated kernels, the backward's too: the train
// step launches the forward's pair and the weight gradients' four (x is an
// input, so no dx); the eval step only the forward's.
// RUN: lora-compile --quiet %S/Inputs/train-bf16-layer.mlir --mode=train --loss=mse --target=cuda --emit=llvm -o %t/bf16.mlir
// RUN: FileCheck %s --check-prefix=BF16 < %t/bf16.mlir

// CHECK-DAG: gpu.binary @train_step_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, {{.*}}bin = "\7FELF
// CHECK-DAG: gpu.binary @eval_step_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, {{.*}}bin = "\7FELF
// CHECK-DAG: gpu.launch_func <%{{[0-9]+}} : !llvm.ptr> @train_step_kernel
// The loss, a 0-d value, comes back with a device copy.
// CHECK-DAG: llvm.call @mgpuMemcpy(
// CHECK-DAG: llvm.func @lora_entry_train_step(

// DROPOUT: gpu.binary @train_step_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, {{.*}}bin = "\7FELF
// DROPOUT: llvm.func @lora_entry_train_step(

// BF16-DAG: gpu.launch_func <%{{[0-9]+}} : !llvm.ptr> @lora_kernels_{{[0-9]+}}::@lora_linear
// BF16-DAG: gpu.launch_func <%{{[0-9]+}} : !llvm.ptr> @lora_kernels_[[GRAD:[0-9]+]]::@lora_t_grad
// BF16-DAG: gpu.launch_func <%{{[0-9]+}} : !llvm.ptr> @lora_kernels_[[GRAD]]::@lora_b_grad
// BF16-DAG: gpu.launch_func <%{{[0-9]+}} : !llvm.ptr> @lora_kernels_[[GRAD]]::@lora_a_grad
// BF16-DAG: gpu.binary @lora_kernels_[[GRAD]] [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, {{.*}}bin = "\7FELF
// BF16-NOT: @lora_input_grad

// SYMBOLS-DAG: T lora_entry_train_step
// SYMBOLS-DAG: R lora_signature_train_step
// SYMBOLS-DAG: U mgpuLaunchKernel
func.func @main(%x: tensor<1x2x4xf32> {onnx.name = "x"},
                %a: tensor<4x2xf32> {lora.param = "base_model.model.l.lora_A.weight", lora.init = dense<0.5> : tensor<4x2xf32>},
                %b: tensor<2x4xf32> {lora.param = "base_model.model.l.lora_B.weight", lora.init = dense<0.25> : tensor<2x4xf32>})
    -> (tensor<1x2x4xf32> {onnx.name = "y"}) {
  %w = arith.constant dense<0.1> : tensor<4x4xf32>
  %y = lora.linear %x, %w, %a, %b {rank = 2 : i64, scale = 1.0 : f64}
      : (tensor<1x2x4xf32>, tensor<4x4xf32>, tensor<4x2xf32>, tensor<2x4xf32>)
      -> tensor<1x2x4xf32>
  return %y : tensor<1x2x4xf32>
}
