//===- CudaDriver.h - the CUDA driver, loaded at first use ------*- C++ -*-===//
//
// The runtime never links libcuda: a deployment without a GPU (and every
// build machine) must load and run CPU models, and the driver that matches
// the GPU is the one installed on the machine, not one found at build time.
// libcuda.so.1 is opened with dlopen the first time a CUDA function is
// needed, and each cu* function comes from dlsym. cuda.h is used for types,
// enums and the prototypes only.
//
// cuda.h maps many names to versioned symbols with macros (cuMemAlloc is
// cuMemAlloc_v2, cuCtxPopCurrent is cuCtxPopCurrent_v2, ...): the ABI its
// prototypes describe is the versioned one, and the unversioned symbol in
// libcuda is the old ABI kept for old binaries. The table below is written
// with the plain names; they go through the same macros, so a member named
// `cuMemAlloc` is really `cuMemAlloc_v2` and is resolved as that symbol.
//
// This file is compiled into the runtime (for the CUDA device) and into
// liblora_cuda_runtime.so (for the mgpu* functions of generated code); both
// copies find the same libcuda and the same primary context.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_RUNTIME_CUDADRIVER_H
#define LORA_RUNTIME_CUDADRIVER_H

#include <cuda.h>

#include <memory>
#include <string>

namespace lora_runtime {

class Device;
struct DeviceOptions;

namespace cuda {

/// The driver functions the runtime uses, as an X-macro list.
#define LORA_CUDA_DRIVER_FUNCTIONS(X)                                          \
  X(cuGetErrorName)                                                            \
  X(cuGetErrorString)                                                          \
  X(cuInit)                                                                    \
  X(cuDriverGetVersion)                                                        \
  X(cuDeviceGet)                                                               \
  X(cuDeviceGetCount)                                                          \
  X(cuDeviceGetName)                                                           \
  X(cuDeviceGetAttribute)                                                      \
  X(cuDevicePrimaryCtxRetain)                                                  \
  X(cuDevicePrimaryCtxRelease)                                                 \
  X(cuCtxPushCurrent)                                                          \
  X(cuCtxPopCurrent)                                                           \
  X(cuCtxSynchronize)                                                          \
  X(cuModuleLoadData)                                                          \
  X(cuModuleLoadDataEx)                                                        \
  X(cuModuleUnload)                                                            \
  X(cuModuleGetFunction)                                                       \
  X(cuFuncSetAttribute)                                                        \
  X(cuLaunchKernel)                                                            \
  X(cuLaunchKernelEx)                                                          \
  X(cuStreamCreate)                                                            \
  X(cuStreamDestroy)                                                           \
  X(cuStreamSynchronize)                                                       \
  X(cuStreamBeginCapture)                                                      \
  X(cuStreamEndCapture)                                                        \
  X(cuGraphInstantiate)                                                        \
  X(cuGraphDestroy)                                                            \
  X(cuGraphLaunch)                                                             \
  X(cuGraphExecDestroy)                                                        \
  X(cuStreamWaitEvent)                                                         \
  X(cuEventCreate)                                                             \
  X(cuEventDestroy)                                                            \
  X(cuEventSynchronize)                                                        \
  X(cuEventRecord)                                                             \
  X(cuMemAlloc)                                                                \
  X(cuMemAllocManaged)                                                         \
  X(cuMemFree)                                                                 \
  X(cuMemcpy)                                                                  \
  X(cuMemcpyAsync)                                                             \
  X(cuMemcpyHtoD)                                                              \
  X(cuMemcpyDtoH)                                                              \
  X(cuMemsetD8)                                                                \
  X(cuMemsetD16Async)                                                          \
  X(cuMemsetD32Async)                                                          \
  X(cuMemHostRegister)                                                         \
  X(cuMemHostUnregister)                                                       \
  X(cuTensorMapEncodeTiled)                                                    \
  X(cuPointerGetAttributes)

/// Pointers to the functions of libcuda.so.1. A pointer is null when the
/// driver lacks the function (a driver older than the call); calling code
/// checks before use (see Driver::check).
struct Driver {
#define LORA_CUDA_DRIVER_MEMBER(name) decltype(&::name) name = nullptr;
  LORA_CUDA_DRIVER_FUNCTIONS(LORA_CUDA_DRIVER_MEMBER)
#undef LORA_CUDA_DRIVER_MEMBER
};

/// The driver of this process, loaded on the first call (thread-safe). Null
/// when libcuda.so.1 cannot be loaded or lacks the functions without which
/// nothing works; then `error` (if given) says why, e.g. "the CUDA driver
/// could not be loaded (libcuda.so.1: cannot open shared object file: No
/// such file or directory)".
const Driver *getDriver(std::string *error = nullptr);

/// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)": the name and the description
/// the driver gives for `result`.
std::string describeResult(const Driver &driver, CUresult result);

/// "<callee> failed with <describeResult>", or "the CUDA driver has no
/// <callee>" when `function` is null; empty when the call succeeded.
template <typename Function, typename... Args>
std::string callDriver(const Driver &driver, const char *callee,
                       Function *function, Args... args) {
  if (!function)
    return std::string("the CUDA driver has no ") + callee +
           " (the installed driver is older than this runtime needs)";
  CUresult result = function(args...);
  if (result == CUDA_SUCCESS)
    return {};
  return std::string(callee) + " failed with " + describeResult(driver, result);
}

/// Calls driver function `name` of `driver` with the remaining arguments (at
/// least one; call callDriver directly for none) and gives callDriver's
/// message. `#name` is the name as written (cuMemAlloc), which reads better
/// in messages than the symbol (cuMemAlloc_v2).
#define LORA_CUDA_CALL(driver, name, ...)                                      \
  ::lora_runtime::cuda::callDriver((driver), #name, (driver).name, __VA_ARGS__)

/// The primary context of device `ordinal`, retained on the first request
/// and kept for the life of the process: kernels and modules of a model
/// outlive any one object that uses them, and module unloading runs in the
/// model library's destructors, whose order against ours is not ours to set.
/// Null with `error` set when the driver, cuInit or the device fails.
CUcontext getPrimaryContext(const Driver &driver, int ordinal,
                            std::string &error);

/// The CUDA device (CudaDevice.cpp): device 0's primary context, weights in
/// device memory, compiled code whose mgpu* calls go to
/// liblora_cuda_runtime.so. Null with `error` set when no driver or no GPU,
/// or when `options` ask for what the driver or the runtime cannot do.
std::unique_ptr<Device> createCudaDevice(const DeviceOptions &options,
                                         std::string &error);

} // namespace cuda
} // namespace lora_runtime

#endif // LORA_RUNTIME_CUDADRIVER_H
