// lora-compile --target=cuda on a bf16 LoRA layer followed by an elementwise
// op: the layer becomes the generated tensor-core kernels, the sigmoid a
// generic kernel from linalg, both embedded as sm_90a cubins in model.so,
// whose host code calls the runtime's mgpu* functions. Running it needs a
// GPU (test/python/test_cuda_target.py).
// REQUIRES: ptxas
// RUN: rm -rf %t && mkdir -p %t
// RUN: lora-compile --quiet %s --target=cuda --emit=llvm -o %t/model.mlir
// RUN: FileCheck %s --check-prefix=LLVM < %t/model.mlir
// RUN: FileCheck %s --check-prefix=HOST < %t/model.mlir
// RUN: lora-compile --quiet %s --target=cuda -o %t/out
// RUN: FileCheck %s --check-prefix=MANIFEST < %t/out/manifest.json
// RUN: nm -D %t/out/model.so | FileCheck %s --check-prefix=SYMBOLS

// The generated kernels and the outlined sigmoid, as cubins; buffers from
// mgpuMemAlloc.
// LLVM-DAG: gpu.binary @lora_kernels_0 [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, {{.*}}bin = "\7FELF
// LLVM-DAG: gpu.binary @main_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, {{.*}}bin = "\7FELF
// LLVM-DAG: llvm.call @mgpuMemAlloc(
// LLVM-DAG: llvm.func @lora_entry_main(

// The host code queues all its work on one stream (the launchers inlined,
// allocations and frees on the stream too) and waits once, at the end.
// The sigmoid's 256x256 elements are one dim of 256 blocks of 256
// threads.
// HOST-LABEL: llvm.func @main(
// HOST-DAG: %[[B:[0-9]+]] = llvm.mlir.constant(256 : index) : i64
// HOST-DAG: %[[ONE:[0-9]+]] = llvm.mlir.constant(1 : index) : i64
// HOST: %[[S:.*]] = llvm.call @mgpuStreamCreate()
// HOST-NOT: mgpuStream
// HOST: llvm.call @mgpuMemAlloc(%{{.*}}, %[[S]], %{{.*}})
// HOST-NOT: mgpuStream
// HOST: gpu.launch_func <%[[S]] : !llvm.ptr> @lora_kernels_0::@lora_down
// HOST-NOT: mgpuStream
// HOST: gpu.launch_func <%[[S]] : !llvm.ptr> @lora_kernels_0::@lora_linear
// HOST-NOT: mgpuStream
// HOST: llvm.call @mgpuMemFree(%{{.*}}, %[[S]])
// HOST-NOT: mgpuStream
// HOST: gpu.launch_func <%[[S]] : !llvm.ptr> @main_kernel::@main_kernel blocks in (%[[B]], %[[ONE]], %[[ONE]]) threads in (%[[B]], %[[ONE]], %[[ONE]])
// HOST-NOT: mgpuStream
// HOST: llvm.call @mgpuStreamSynchronize(%[[S]])
// HOST-NEXT: llvm.call @mgpuStreamDestroy(%[[S]])
// HOST-NEXT: llvm.return
// HOST-NOT: @lora_kernels_0_launch

// MANIFEST: "dtype": "bf16"
// MANIFEST: "target": "cuda"

// SYMBOLS-DAG: T lora_entry_main
// SYMBOLS-DAG: R lora_signature_main
// SYMBOLS-DAG: U mgpuLaunchKernel
// SYMBOLS-DAG: U mgpuModuleLoad
// SYMBOLS-DAG: U mgpuTensorMapEncodeTiledMemref

func.func @main(%x: tensor<256x512xbf16> {onnx.name = "x"},
                %w: tensor<512x256xbf16> {onnx.name = "w"},
                %a: tensor<512x16xbf16> {onnx.name = "a"},
                %b: tensor<16x256xbf16> {onnx.name = "b"})
    -> (tensor<256x256xbf16> {onnx.name = "y"}) {
  %y = lora.linear %x, %w, %a, %b {rank = 16 : i64, scale = 2.0}
      : (tensor<256x512xbf16>, tensor<512x256xbf16>, tensor<512x16xbf16>,
         tensor<16x256xbf16>) -> tensor<256x256xbf16>
  %s = tosa.sigmoid %y : (tensor<256x256xbf16>) -> tensor<256x256xbf16>
  return %s : tensor<256x256xbf16>
}
