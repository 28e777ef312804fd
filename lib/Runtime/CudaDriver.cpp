//===- CudaDriver.cpp - the CUDA driver, loaded at first use --------------===//

#include "CudaDriver.h"

#include <dlfcn.h>
#include <map>
#include <mutex>
#include <utility>

using namespace lora_runtime;
using namespace lora_runtime::cuda;

// Two steps, so that a macro argument (cuMemAlloc) is expanded to the symbol
// cuda.h maps it to (cuMemAlloc_v2) before it becomes a string.
#define LORA_CUDA_SYMBOL_NAME(name) LORA_CUDA_SYMBOL_NAME_IMPL(name)
#define LORA_CUDA_SYMBOL_NAME_IMPL(name) #name

namespace {
struct LoadedDriver {
  Driver driver;
  bool loaded = false;
  std::string error;
};
} // namespace

static LoadedDriver loadDriver() {
  LoadedDriver result;
  // libcuda.so.1 is the name the driver package installs (libcuda.so, the
  // unversioned link, comes only with development packages). The handle is
  // never closed: function pointers and contexts outlive any caller.
  void *handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *reason = dlerror();
    result.error = std::string("the CUDA driver could not be loaded (") +
                   (reason ? reason : "libcuda.so.1: unknown error") + ")";
    return result;
  }
  Driver &driver = result.driver;
#define LORA_CUDA_RESOLVE(name)                                                \
  driver.name = reinterpret_cast<decltype(driver.name)>(                       \
      dlsym(handle, LORA_CUDA_SYMBOL_NAME(name)));
  LORA_CUDA_DRIVER_FUNCTIONS(LORA_CUDA_RESOLVE)
#undef LORA_CUDA_RESOLVE
  // Without these nothing can be reported, set up or cleaned up; the others
  // are checked where they are called, so an old driver runs what it can.
  const std::pair<const char *, bool> required[] = {
      {"cuGetErrorName", driver.cuGetErrorName != nullptr},
      {"cuGetErrorString", driver.cuGetErrorString != nullptr},
      {"cuInit", driver.cuInit != nullptr},
      {"cuDeviceGet", driver.cuDeviceGet != nullptr},
      {"cuDevicePrimaryCtxRetain", driver.cuDevicePrimaryCtxRetain != nullptr},
      {"cuCtxPushCurrent", driver.cuCtxPushCurrent != nullptr},
      {"cuCtxPopCurrent", driver.cuCtxPopCurrent != nullptr},
      {"cuMemFree", driver.cuMemFree != nullptr}};
  for (const auto &[name, present] : required)
    if (!present) {
      result.error = std::string("the CUDA driver libcuda.so.1 has no ") +
                     name + "; it is too old for this runtime";
      return result;
    }
  result.loaded = true;
  return result;
}

const Driver *cuda::getDriver(std::string *error) {
  static const LoadedDriver loaded = loadDriver();
  if (!loaded.loaded) {
    if (error)
      *error = loaded.error;
    return nullptr;
  }
  return &loaded.driver;
}

std::string cuda::describeResult(const Driver &driver, CUresult result) {
  const char *name = nullptr, *text = nullptr;
  if (driver.cuGetErrorName(result, &name) != CUDA_SUCCESS || !name)
    return "CUDA error " + std::to_string(static_cast<int>(result));
  std::string description = name;
  if (driver.cuGetErrorString(result, &text) == CUDA_SUCCESS && text)
    description += std::string(" (") + text + ")";
  return description;
}

CUcontext cuda::getPrimaryContext(const Driver &driver, int ordinal,
                                  std::string &error) {
  // cuInit's result is kept: a failure (no device, a driver that does not
  // match the kernel module) is permanent, and retrying costs each call.
  static const CUresult initResult = driver.cuInit(0);
  if (initResult != CUDA_SUCCESS) {
    error = "cuInit failed with " + describeResult(driver, initResult);
    return nullptr;
  }
  static std::mutex mutex;
  static std::map<int, CUcontext> contexts;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = contexts.find(ordinal);
  if (found != contexts.end())
    return found->second;
  CUdevice device = 0;
  error = LORA_CUDA_CALL(driver, cuDeviceGet, &device, ordinal);
  if (!error.empty())
    return nullptr;
  CUcontext context = nullptr;
  // Retaining does not make the context current; callers push it around
  // each use, so the caller's own current context is left as it was.
  error = LORA_CUDA_CALL(driver, cuDevicePrimaryCtxRetain, &context, device);
  if (!error.empty())
    return nullptr;
  contexts.emplace(ordinal, context);
  return context;
}
