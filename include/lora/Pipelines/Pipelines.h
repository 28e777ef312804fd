//===- Pipelines.h - named lora-opt pass pipelines --------------*- C++ -*-===//

#ifndef LORA_PIPELINES_PIPELINES_H
#define LORA_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

namespace mlir::lora {

/// onnx dialect -> TOSA with static shapes (`lora-onnx-to-tosa-pipeline`).
void buildOnnxToTosaPipeline(OpPassManager &pm);

/// TOSA, lora.linear and linalg on tensors -> LLVM dialect for the host CPU,
/// with a `lora_entry_<name>` packed entry point per public function
/// (`lora-cpu-pipeline`).
void buildCpuLoweringPipeline(OpPassManager &pm);

/// The two halves of buildCpuLoweringPipeline: TOSA and lora.linear to linalg
/// on tensors (elementwise ops fused, entry points marked), then linalg on
/// tensors to the LLVM dialect. `lora-compile --emit=linalg` stops between.
void buildCpuToLinalgPipeline(OpPassManager &pm);
void buildCpuLinalgToLLVMPipeline(OpPassManager &pm);

/// The CUDA target (`lora-cuda-pipeline`): lora.linear and matmuls on bf16 or
/// f16 become generated sm_90a tensor-core kernels
/// (lora-generate-cuda-kernels); the rest goes to linalg as on the CPU, then
/// to parallel loops mapped to blocks and threads, outlined kernels, device
/// buffers (lora-cuda-device-memory), and through upstream's
/// gpu-lower-to-nvvm-pipeline to host LLVM with embedded cubins. Needs
/// `ptxas` (PATH or CUDA_ROOT).
void buildCudaLoweringPipeline(OpPassManager &pm);
void buildCudaToLinalgPipeline(OpPassManager &pm);
void buildCudaLinalgToLLVMPipeline(OpPassManager &pm);

/// The CUDA target emulated on the host (`lora-cuda-emulated-pipeline`,
/// `lora-compile --target=cuda-emulated`): the CUDA target's pipeline with
/// reference launchers in place of the tensor-core kernels (the same call
/// sites, computing with linalg), lora-cuda-emulate-on-host in place of
/// NVVM, and the CPU's lowering to LLVM. The result runs on the CPU and
/// checks the CUDA lowering's numerics without a GPU.
void buildCudaEmulatedLoweringPipeline(OpPassManager &pm);
void buildCudaEmulatedToLinalgPipeline(OpPassManager &pm);
void buildCudaEmulatedLinalgToLLVMPipeline(OpPassManager &pm);

/// The first half of the CUDA target (`referenceLaunchers`: of the emulated
/// one) with lora-generate-cuda-kernels' options `kernelOptions`, in the
/// pass's own syntax ("multicast=2 fuse-lora-down"). Fails on an option the
/// pass does not take, with the pass's message through `errorHandler`.
LogicalResult buildCudaToLinalgPipeline(
    OpPassManager &pm, StringRef kernelOptions, bool referenceLaunchers,
    function_ref<LogicalResult(const Twine &)> errorHandler);

/// Registers the pipelines above with the pass registry.
void registerLoraPipelines();

/// Registers every dialect lora-opt's pipelines touch, with their
/// translations to LLVM IR.
void registerLoraDialects(DialectRegistry &registry);

} // namespace mlir::lora

#endif // LORA_PIPELINES_PIPELINES_H
