//===- CudaDevice.cpp - the device of the CUDA target ---------------------===//
//
// Device 0 through its primary context, the one the mgpu* functions of
// liblora_cuda_runtime.so use too, so that buffers allocated here are valid
// in the kernels the compiled code launches. weights.bin is uploaded once;
// every other buffer is device memory that Model stages through
// upload/download (sharesHostMemory() is false).
//
// Model allocates the staging buffers of a call's inputs and outputs for the
// call and releases them after. Released buffers are kept and handed out
// again for the same size, so that calls after the first allocate nothing
// from the driver (a cuMemAlloc and a cuMemFree per input and output each
// call otherwise; cuMemFree waits for the device). The kept buffers go back
// to the driver when an allocation of this device runs out of memory (with
// liblora_cuda_runtime's cached blocks), and when the device is destroyed;
// the compiled code's own allocations do not reach them. They are what the
// model's calls staged: the inputs and outputs of its functions, the
// parameters of an adapter swapped out.
//
//===----------------------------------------------------------------------===//

#include "CudaDriver.h"

#include "lora/Runtime/Device.h"
#include "lora/Runtime/Runtime.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <map>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace lora_runtime;
using namespace lora_runtime::cuda;

namespace {

/// The name of the library with the mgpu* functions (CMakeLists.txt).
constexpr const char *kRuntimeLibraryName = "liblora_cuda_runtime.so";

/// Makes `context` current on this thread while it lives, restoring the
/// caller's current context afterwards.
class ContextScope {
public:
  ContextScope(const Driver &driver, CUcontext context) : driver(driver) {
    error = LORA_CUDA_CALL(driver, cuCtxPushCurrent, context);
  }
  ~ContextScope() {
    CUcontext popped = nullptr;
    if (error.empty())
      driver.cuCtxPopCurrent(&popped);
  }
  ContextScope(const ContextScope &) = delete;
  ContextScope &operator=(const ContextScope &) = delete;

  /// Empty when the context is current.
  std::string error;

private:
  const Driver &driver;
};

using GetLastErrorFn = const char *(*)();
using ClearLastErrorFn = void (*)();
using EmptyCacheFn = void (*)();

class CudaDevice final : public Device {
public:
  CudaDevice(const Driver &driver, CUcontext context,
             GetLastErrorFn getLastError, ClearLastErrorFn clearLastError,
             EmptyCacheFn emptyCache)
      : driver(driver), context(context), getRuntimeError(getLastError),
        clearRuntimeError(clearLastError), emptyRuntimeCache(emptyCache) {}

  /// Also gives the device blocks that liblora_cuda_runtime keeps for reuse
  /// back to the driver: the compiled code's buffers, which no other user
  /// of the device (PyTorch, another model) could otherwise get.
  ~CudaDevice() override {
    if (weights)
      release(reinterpret_cast<void *>(weights));
    freeIdleBuffers();
    emptyRuntimeCache();
  }

  const char *name() const override { return "cuda"; }

  bool loadWeights(const std::string &path, uint64_t expectedBytes,
                   const uint8_t *&base, std::string &error) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      error = "cannot open '" + path + "': " + std::strerror(errno);
      return false;
    }
    bool loaded = uploadFile(fd, path, expectedBytes, error);
    ::close(fd);
    if (loaded)
      base = reinterpret_cast<const uint8_t *>(weights);
    return loaded;
  }

  void *allocate(size_t bytes, std::string &error) override {
    ContextScope scope(driver, context);
    CUdeviceptr pointer = 0;
    if (!check(scope.error, error))
      return nullptr;
    if (auto idle = idleBuffers.find(bytes); idle != idleBuffers.end()) {
      pointer = idle->second;
      idleBuffers.erase(idle);
    }
    // Out of memory: the blocks the compiled code freed and the buffers kept
    // here may be what fills the device; give them back and try again.
    if (!pointer && driver.cuMemAlloc &&
        driver.cuMemAlloc(&pointer, bytes) == CUDA_ERROR_OUT_OF_MEMORY) {
      freeIdleBuffers();
      emptyRuntimeCache();
    }
    if (!pointer &&
        !check(LORA_CUDA_CALL(driver, cuMemAlloc, &pointer, bytes), error,
               "cannot allocate " + std::to_string(bytes) +
                   " bytes on the CUDA device"))
      return nullptr;
    buffers[pointer] = {bytes, /*idle=*/false};
    if (!check(LORA_CUDA_CALL(driver, cuMemsetD8, pointer, 0, bytes), error)) {
      freeBuffer(pointer);
      return nullptr;
    }
    return reinterpret_cast<void *>(pointer);
  }

  /// Keeps `buffer` for the next allocation of its size (see the top of the
  /// file); the weights go back to the driver. A buffer released twice, or
  /// not of allocate(), is left alone.
  void release(void *buffer) override {
    auto pointer = reinterpret_cast<CUdeviceptr>(buffer);
    if (!pointer)
      return;
    if (pointer == weights) {
      freeBuffer(pointer);
      return;
    }
    auto found = buffers.find(pointer);
    if (found == buffers.end() || found->second.idle)
      return;
    found->second.idle = true;
    idleBuffers.emplace(found->second.bytes, pointer);
  }

  bool upload(void *buffer, const void *host, size_t bytes,
              std::string &error) override {
    ContextScope scope(driver, context);
    return check(scope.error, error) &&
           check(LORA_CUDA_CALL(driver, cuMemcpyHtoD,
                                reinterpret_cast<CUdeviceptr>(buffer), host,
                                bytes),
                 error);
  }

  bool download(void *host, const void *buffer, size_t bytes,
                std::string &error) override {
    ContextScope scope(driver, context);
    return check(scope.error, error) &&
           check(LORA_CUDA_CALL(driver, cuMemcpyDtoH, host,
                                reinterpret_cast<CUdeviceptr>(buffer), bytes),
                 error);
  }

  bool sharesHostMemory() const override { return false; }

  /// The model library's constructors load its kernels (mgpuModuleLoad);
  /// they cannot fail the load, so a module the driver rejects would
  /// otherwise show only as "no kernel to launch" in the first call.
  std::unique_ptr<CompiledFunction>
  loadFunction(const std::string &soPath, const std::string &name,
               std::vector<TensorSpec> inputs, std::vector<TensorSpec> outputs,
               std::string &error) override {
    clearRuntimeError();
    auto function = Device::loadFunction(soPath, name, std::move(inputs),
                                         std::move(outputs), error);
    if (const char *runtimeError = getRuntimeError()) {
      error = "cannot load the kernels of '" + soPath + "': " + runtimeError;
      return nullptr;
    }
    return function;
  }

  bool call(CompiledFunction &function, const void *const *arguments,
            void *const *outputs, std::string &error) override {
    ContextScope scope(driver, context);
    // Uploads may still be in flight (a copy from pageable memory returns
    // once staged), and the compiled code works on streams of its own that
    // do not wait for them: wait here.
    if (!check(scope.error, error) ||
        !check(callDriver(driver, "cuCtxSynchronize", driver.cuCtxSynchronize),
               error))
      return false;
    // The compiled code's mgpu* calls cannot return errors; they leave them
    // in liblora_cuda_runtime's last error of this thread.
    clearRuntimeError();
    function.call(arguments, outputs);
    // The code waits for its own streams, but a kernel fault shows only in
    // a later call; synchronizing makes it this run's error.
    std::string syncError =
        callDriver(driver, "cuCtxSynchronize", driver.cuCtxSynchronize);
    if (const char *runtimeError = getRuntimeError()) {
      error = std::string("the compiled code failed on the CUDA device: ") +
              runtimeError;
      return false;
    }
    return check(syncError, error,
                 "the compiled code failed on the CUDA device");
  }

private:
  /// Sets `error` to `context: failure` unless `failure` is empty.
  static bool check(const std::string &failure, std::string &error,
                    const std::string &context = "CUDA device") {
    if (failure.empty())
      return true;
    error = context + ": " + failure;
    return false;
  }

  /// Copies the file on `fd` to a new device buffer, `weights`, in slices
  /// (weights may be larger than the host memory one would want to spend
  /// on a staging copy).
  bool uploadFile(int fd, const std::string &path, uint64_t expectedBytes,
                  std::string &error) {
    struct stat status;
    if (fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
      error = "'" + path + "' is not a regular file";
      return false;
    }
    if (static_cast<uint64_t>(status.st_size) != expectedBytes) {
      error = "'" + path + "' has " + std::to_string(status.st_size) +
              " bytes, but the manifest says weights.bytes = " +
              std::to_string(expectedBytes);
      return false;
    }
    if (expectedBytes == 0)
      return true;
    void *buffer = allocate(expectedBytes, error);
    if (!buffer) {
      error = "cannot load '" + path + "': " + error;
      return false;
    }
    weights = reinterpret_cast<CUdeviceptr>(buffer);
    constexpr uint64_t kSliceBytes = 64 << 20;
    std::vector<uint8_t> slice(std::min(expectedBytes, kSliceBytes));
    for (uint64_t offset = 0; offset < expectedBytes;) {
      size_t want = std::min<uint64_t>(slice.size(), expectedBytes - offset);
      ssize_t got = ::pread(fd, slice.data(), want, offset);
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0) {
        error = "cannot read '" + path + "' at byte " + std::to_string(offset) +
                ": " + (got < 0 ? std::strerror(errno) : "unexpected end");
        return false;
      }
      if (!upload(reinterpret_cast<void *>(weights + offset), slice.data(),
                  static_cast<size_t>(got), error)) {
        error = "cannot load '" + path + "': " + error;
        return false;
      }
      offset += static_cast<uint64_t>(got);
    }
    return true;
  }

  /// Returns `pointer`, a buffer of allocate(), to the driver.
  void freeBuffer(CUdeviceptr pointer) {
    buffers.erase(pointer);
    // Nothing to report to: a failed free leaves the memory to the context.
    ContextScope scope(driver, context);
    if (scope.error.empty())
      driver.cuMemFree(pointer);
  }

  void freeIdleBuffers() {
    for (const auto &idle : idleBuffers)
      freeBuffer(idle.second);
    idleBuffers.clear();
  }

  const Driver &driver;
  CUcontext context;
  GetLastErrorFn getRuntimeError;
  ClearLastErrorFn clearRuntimeError;
  EmptyCacheFn emptyRuntimeCache;
  CUdeviceptr weights = 0;
  /// Each buffer of allocate() not yet given back to the driver.
  struct Buffer {
    size_t bytes;
    bool idle; ///< Released, in idleBuffers.
  };
  std::map<CUdeviceptr, Buffer> buffers;
  /// Released buffers, by size, for allocate() to hand out again.
  std::multimap<size_t, CUdeviceptr> idleBuffers;
};

/// Opens liblora_cuda_runtime.so so that the model library can be loaded.
///
/// The host code of a CUDA model calls mgpu* functions that model.so does
/// not define and does not name a library for (it is linked without a path
/// to our runtime, which is not known at compile time). When model.so is
/// dlopen'ed with RTLD_NOW, the dynamic linker resolves those calls in the
/// global scope only: the executable, its dependencies, and libraries opened
/// with RTLD_GLOBAL. And resolution cannot wait: model.so's constructors
/// already call mgpuModuleLoad. So the runtime library is opened globally
/// here, before the model; executables need not link it, and CPU-only
/// deployments need not have it.
///
/// It is looked for next to the library (or executable) this code is in,
/// then in ../lib from there (an executable in bin/ of a build or install
/// tree), then through the normal search path (LD_LIBRARY_PATH, ...).
void *openRuntimeLibrary(std::string &error) {
  std::vector<std::string> candidates;
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&openRuntimeLibrary), &info) &&
      info.dli_fname) {
    std::string self = info.dli_fname;
    size_t slash = self.rfind('/');
    std::string dir = slash == std::string::npos ? "." : self.substr(0, slash);
    candidates.push_back(dir + "/" + kRuntimeLibraryName);
    candidates.push_back(dir + "/../lib/" + kRuntimeLibraryName);
  }
  candidates.push_back(kRuntimeLibraryName);
  std::string reasons;
  for (const std::string &candidate : candidates) {
    // A bare name is searched for; a path that does not exist is skipped
    // quietly, since all but one of them are guesses.
    if (candidate.find('/') != std::string::npos &&
        ::access(candidate.c_str(), F_OK) != 0)
      continue;
    if (void *handle =
            dlopen(candidate.c_str(), RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE))
      return handle;
    const char *reason = dlerror();
    reasons += std::string(reasons.empty() ? "" : "; ") +
               (reason ? reason : candidate + ": unknown error");
  }
  error = std::string("cannot load the CUDA runtime library ") +
          kRuntimeLibraryName + " (" + reasons + ")";
  return nullptr;
}

} // namespace

std::unique_ptr<Device> cuda::createCudaDevice(std::string &error) {
  std::string reason;
  const Driver *driver = getDriver(&reason);
  CUcontext context = driver ? getPrimaryContext(*driver, 0, reason) : nullptr;
  void *runtime = context ? openRuntimeLibrary(reason) : nullptr;
  if (!runtime) {
    error = "target 'cuda': " + reason;
    return nullptr;
  }
  // The handle is not closed: loaded models keep calling into it, and
  // RTLD_NODELETE keeps it even if someone else closes theirs.
  auto getLastError =
      reinterpret_cast<GetLastErrorFn>(dlsym(runtime, "loraCudaGetLastError"));
  auto clearLastError = reinterpret_cast<ClearLastErrorFn>(
      dlsym(runtime, "loraCudaClearLastError"));
  auto emptyCache =
      reinterpret_cast<EmptyCacheFn>(dlsym(runtime, "loraCudaEmptyCache"));
  if (!getLastError || !clearLastError || !emptyCache) {
    error = std::string("target 'cuda': ") + kRuntimeLibraryName +
            " has no loraCudaGetLastError, loraCudaClearLastError or "
            "loraCudaEmptyCache; it is not this version of lora-opt's CUDA "
            "runtime";
    return nullptr;
  }
  return std::make_unique<CudaDevice>(*driver, context, getLastError,
                                      clearLastError, emptyCache);
}
