//===- CudaHostCode.h - the CUDA target's host code in LLVM IR --*- C++ -*-===//
//
// The host code of `--target=cuda` is a launch sequence: translated
// gpu.launch_func and TMA descriptors calling liblora_cuda_runtime's mgpu*
// functions. What is done to it in LLVM IR, before emitCpuSharedLibrary
// optimizes and compiles it (Cpu.h), is here, with the rest of the CUDA
// target.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_TARGET_CUDAHOSTCODE_H
#define LORA_TARGET_CUDAHOSTCODE_H

namespace llvm {
class Module;
} // namespace llvm

namespace mlir::lora::cuda {

/// Lets the stack memory of the CUDA runtime calls in `module`'s host code
/// share one buffer per function; gives the number of allocas it replaced.
///
/// Translated gpu.launch_func (and the lowering of TMA descriptors) gives
/// every launch allocas of its own, for its argument struct and pointer
/// array (and every tensor map its memref descriptor and box): some 27 KB a
/// layer of a train step, all in one frame, as nothing marks their
/// lifetimes. Their values are read only by the one call they are made for
/// (mgpuLaunchKernel, mgpuLaunchClusterKernel: cuLaunchKernel copies the
/// arguments; mgpuTensorMapEncodeTiledMemref), and written in the same
/// block after the call before it. Each such call's allocas become slices
/// of one buffer of the function, as large as the largest call needs. An
/// alloca with any other use, or whose uses interleave with another call's,
/// is left alone.
unsigned shareCallArgumentMemory(llvm::Module &module);

/// Sends the host code's copies of its constants to device memory through
/// liblora_cuda_runtime's cache of device copies; gives the number of copies
/// rewritten.
///
/// A constant the kernels read (memref.get_global on the host,
/// lora-cuda-device-memory) is copied into a fresh device buffer on every
/// call: `mgpuMemcpy(buffer, @constant, bytes, stream)`, a copy from pageable
/// host memory, which the driver stages and which a CUDA graph cannot
/// capture. Such a call, whose source is (inside) a constant global of the
/// module, becomes `loraCudaCopyConstant` with the same arguments: a
/// stream-ordered copy from the runtime's device copy of the constant, made
/// once.
unsigned copyConstantsThroughRuntime(llvm::Module &module);

} // namespace mlir::lora::cuda

#endif // LORA_TARGET_CUDAHOSTCODE_H
