//===- CudaRuntimeWrappers.cpp - the mgpu* functions of generated code ----===//
//
// liblora_cuda_runtime.so: the functions that host code lowered by MLIR 22's
// gpu-to-llvm (gpu-lower-to-nvvm-pipeline) calls, with the signatures of its
// declarations (`declare ptr @mgpuMemAlloc(i64, ptr, i8)`, ...). The
// semantics are those of upstream's mlir/lib/ExecutionEngine/
// CudaRuntimeWrappers.cpp; the differences:
//
//   - libcuda is loaded at first use (CudaDriver.h), so the library loads,
//     and fails cleanly, on machines without a driver;
//   - nothing aborts: an error prints one line to stderr, naming the mgpu*
//     function and the CUDA error; the first since the last clear is this
//     thread's error (loraCudaGetLastError), which the CUDA device checks
//     after loading a model library and after each call;
//   - mgpuTensorMapEncodeTiledMemref caches the device copy of each tensor
//     map instead of allocating one per call (see there), and honours the
//     memref's offset and strides;
//   - mgpuSetDefaultDevice takes effect for later calls (upstream keeps the
//     context of the first device it saw);
//   - mgpuMemFree keeps device blocks for reuse by later mgpuMemAlloc calls
//     (CudaBlockCache.h; LORA_CUDA_CACHING=0 turns that off), so that a
//     model's calls after the first allocate nothing from the driver;
//   - mgpuStreamDestroy keeps the stream for the next mgpuStreamCreate;
//   - while the CUDA device captures a call into a CUDA graph
//     (loraCudaCaptureBegin), every stream of this thread is the capture's.
//
// Only mgpu* and loraCuda* are exported (see CMakeLists.txt's version
// script): the model library must bind to these and nothing else of ours.
//
//===----------------------------------------------------------------------===//

#include "CudaBlockCache.h"
#include "CudaDriver.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <tuple>
#include <vector>

using namespace lora_runtime::cuda;

#define LORA_CUDA_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

/// The device mgpu* calls on this thread use (mgpuSetDefaultDevice).
thread_local int32_t defaultDevice = 0;

/// This thread's first error since the last clear; empty when none. The
/// first, not the last: host code goes on after a failed call, and what
/// fails next is mostly a consequence (a launch of a kernel whose module did
/// not load, a kernel given the null buffer of a failed allocation).
thread_local std::string lastError;

/// The context the CUDA device keeps current on this thread while it runs
/// compiled code (loraCudaHoldContext), or null.
thread_local CUcontext heldContext = nullptr;

/// The stream this thread's calls are captured on (loraCudaCaptureBegin),
/// or null.
thread_local CUstream captureStream = nullptr;

/// Driver work done to set up kernels and buffers rather than to run them:
/// blocks allocated, kernels looked up or given shared memory, tensor maps
/// encoded, streams created (loraCudaSetupCount).
std::atomic<uint64_t> setupCount{0};

/// Device copies freed or replaced so far (tensor maps of a block given
/// back to the driver, a constant's stale copy): a CUDA graph captured
/// before may hold one (loraCudaStaleCount).
std::atomic<uint64_t> staleCount{0};

/// Driver work that a capture under way, in any thread, would refuse and
/// be invalidated by: freeing device memory, unloading a module. Captures
/// hold this shared from loraCudaCaptureBegin to loraCudaCaptureEnd; that
/// work holds it exclusively. (Captures are rare: a few per model.)
std::shared_mutex &getCaptureLock() {
  static auto *lock = new std::shared_mutex(); // Never destroyed, like the
  return *lock;                                // caches below.
}

/// How a free that would have to wait for a capture goes on.
enum class IfCapturing {
  Wait, ///< Until the capture ends: the caller holds no lock a capture needs.
  Keep, ///< Keep the memory (false): the caller holds a cache's mutex.
};

/// An exclusive hold of the capture lock for driver work a capture would
/// refuse; not held when this thread captures, or, with IfCapturing::Keep,
/// when another does.
std::unique_lock<std::shared_mutex> excludeCaptures(IfCapturing mode) {
  std::unique_lock<std::shared_mutex> lock(getCaptureLock(), std::defer_lock);
  if (captureStream)
    return lock;
  if (mode == IfCapturing::Wait)
    lock.lock();
  else
    (void)lock.try_lock();
  return lock;
}

/// Modules unloaded so far (mgpuModuleUnload): a model library's
/// destructors unload its kernels before its memory goes, so while this
/// stands still, no library's constants have left their addresses.
std::atomic<uint64_t> moduleUnloads{0};

void reportError(const char *function, const std::string &message) {
  std::string report = std::string(function) + ": " + message;
  // A failed capture is not the caller's error: the CUDA device runs the
  // call again without one, and says why once.
  if (!captureStream)
    std::fprintf(stderr, "lora_cuda_runtime: %s\n", report.c_str());
  if (lastError.empty())
    lastError = std::move(report);
}

/// One mgpu* call: finds the driver and, for calls that need one, makes the
/// primary context of the default device current until it is destroyed
/// (pushed and popped, so a context the caller made current is kept),
/// unless the CUDA device holds it current around the compiled code
/// (loraCudaHoldContext): two driver calls saved per launch. `false` when
/// the driver or the context is missing, after reporting why.
class Call {
public:
  enum class Context { Push, None };

  explicit Call(const char *function, Context context = Context::Push)
      : function(function) {
    std::string error;
    const Driver *loaded = getDriver(&error);
    if (!loaded) {
      reportError(function, error);
      return;
    }
    if (context == Context::Push) {
      CUcontext primary = getPrimaryContext(*loaded, defaultDevice, error);
      if (!primary) {
        reportError(function, error);
        return;
      }
      if (primary != heldContext &&
          !check(LORA_CUDA_CALL(*loaded, cuCtxPushCurrent, primary)))
        return;
      pushed = primary != heldContext;
    }
    driver = loaded;
  }

  ~Call() {
    CUcontext popped = nullptr;
    if (pushed)
      check(LORA_CUDA_CALL(*driver, cuCtxPopCurrent, &popped));
  }

  Call(const Call &) = delete;
  Call &operator=(const Call &) = delete;

  explicit operator bool() const { return driver != nullptr; }

  /// Reports `error` (a callDriver message) unless it is empty.
  bool check(const std::string &error) const {
    if (error.empty())
      return true;
    reportError(function, error);
    return false;
  }

  void fail(const std::string &message) const {
    reportError(function, message);
  }

  const Driver *driver = nullptr;

private:
  const char *function;
  bool pushed = false;
};

/// Calls driver function `name` for `call` and reports its error.
#define LORA_CHECKED(call, name, ...)                                          \
  (call).check(LORA_CUDA_CALL(*(call).driver, name, __VA_ARGS__))

/// What launches set up before, so that each kernel's opt-in is a driver
/// call once, not three a launch (cuDeviceGet, cuDeviceGetAttribute,
/// cuFuncSetAttribute: 131 of each in a bf16 Llama train step, seen with the
/// fake driver of test_cuda_host.py). Every kernel with dynamic shared
/// memory opts in, not only those above 48 KiB: without it the driver
/// allows 48 KiB less the kernel's static shared memory (its mbarriers, for
/// one), which the launch does not know.
struct SharedMemoryLimits {
  std::mutex mutex;
  /// The dynamic shared memory each kernel was allowed. A handle may be
  /// reused by a kernel of a module loaded later, so the whole map is
  /// forgotten when a module is unloaded (model destruction, rare).
  std::map<CUfunction, int32_t> allowed;
};

/// Attribute `attribute` of the default device into `value`, read from the
/// driver once per device; false after `call` reported why it could not.
bool getDeviceAttribute(const Call &call, CUdevice_attribute attribute,
                        int &value) {
  static std::mutex mutex;
  static auto *known = new std::map<std::pair<int32_t, int>, int>(); // Never
  // destroyed, like the caches below.
  const std::pair<int32_t, int> key(defaultDevice, attribute);
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = known->find(key); it != known->end()) {
      value = it->second;
      return true;
    }
  }
  CUdevice device = 0;
  if (!LORA_CHECKED(call, cuDeviceGet, &device, defaultDevice) ||
      !LORA_CHECKED(call, cuDeviceGetAttribute, &value, attribute, device))
    return false;
  std::lock_guard<std::mutex> lock(mutex);
  (*known)[key] = value;
  return true;
}

SharedMemoryLimits &getSharedMemoryLimits() {
  static SharedMemoryLimits *limits = new SharedMemoryLimits(); // Never
  return *limits; // destroyed: model destructors may still run after ours.
}

/// The kernels mgpuModuleGetFunction found, by module and name: host code
/// looks its kernel up before every launch, a driver call (and a context
/// push and pop) each time otherwise. The name is the address of the
/// string in the model library, constant while its module is loaded; the
/// map is forgotten when a module is unloaded.
struct FunctionCache {
  std::mutex mutex;
  std::map<std::pair<CUmodule, const char *>, CUfunction> functions;
};

FunctionCache &getFunctionCache() {
  static FunctionCache *cache = new FunctionCache(); // Never destroyed,
  return *cache;                                     // as above.
}

/// Forgets what the two caches above know of kernels: a module is being
/// unloaded, and a later module's kernel may get one of its handles.
void forgetKernels() {
  {
    SharedMemoryLimits &limits = getSharedMemoryLimits();
    std::lock_guard<std::mutex> lock(limits.mutex);
    limits.allowed.clear();
  }
  FunctionCache &cache = getFunctionCache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.functions.clear();
}

/// Sets up `function` for `smem` bytes of dynamic shared memory.
bool prepareSharedMemory(const Call &call, CUfunction function, int32_t smem) {
  if (smem < 0) {
    call.fail("invalid dynamic shared memory size " + std::to_string(smem));
    return false;
  }
  if (smem == 0)
    return true;
  SharedMemoryLimits &limits = getSharedMemoryLimits();
  std::lock_guard<std::mutex> lock(limits.mutex);
  if (auto it = limits.allowed.find(function);
      it != limits.allowed.end() && it->second >= smem)
    return true;
  int maxShared = 0;
  if (!getDeviceAttribute(call,
                          CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                          maxShared))
    return false;
  if (smem > maxShared) {
    call.fail("the kernel asks for " + std::to_string(smem) +
              " bytes of dynamic shared memory, but device " +
              std::to_string(defaultDevice) + " allows at most " +
              std::to_string(maxShared));
    return false;
  }
  ++setupCount;
  if (!LORA_CHECKED(call, cuFuncSetAttribute, function,
                    CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem))
    return false;
  limits.allowed[function] = smem;
  return true;
}

/// Checks that launch dimensions (MLIR index values) fit the driver's
/// `unsigned int`.
bool checkDimensions(const Call &call, const char *what,
                     std::initializer_list<intptr_t> dims) {
  for (intptr_t dim : dims)
    if (dim < 1 || static_cast<uint64_t>(dim) > UINT32_MAX) {
      call.fail(std::string("invalid ") + what + " dimension " +
                std::to_string(dim));
      return false;
    }
  return true;
}

/// The head of a ranked memref descriptor; `rank` sizes and then `rank`
/// strides (in elements) follow it.
struct MemRefHead {
  char *allocated;
  char *aligned;
  int64_t offset;
};

const int64_t *sizesOf(const MemRefHead *descriptor) {
  return reinterpret_cast<const int64_t *>(descriptor + 1);
}

/// Bytes from the first to one past the last element a strided memref can
/// address (not its allocation: a view may cover part of one).
uint64_t spanBytes(int64_t rank, const MemRefHead *descriptor,
                   int64_t elementBytes) {
  const int64_t *sizes = sizesOf(descriptor), *strides = sizes + rank;
  int64_t lastElement = 0;
  for (int64_t i = 0; i < rank; ++i) {
    if (sizes[i] == 0)
      return 0;
    lastElement += (sizes[i] - 1) * strides[i];
  }
  return static_cast<uint64_t>(lastElement + 1) * elementBytes;
}

/// Bytes per element of a tensor map type; 0 for types whose elements are
/// not whole bytes (the packed 4- and 6-bit types), which the memref entry
/// point cannot describe.
int64_t tensorMapElementBytes(int64_t dataType) {
  switch (dataType) {
  case CU_TENSOR_MAP_DATA_TYPE_UINT8:
    return 1;
  case CU_TENSOR_MAP_DATA_TYPE_UINT16:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT16:
  case CU_TENSOR_MAP_DATA_TYPE_BFLOAT16:
    return 2;
  case CU_TENSOR_MAP_DATA_TYPE_UINT32:
  case CU_TENSOR_MAP_DATA_TYPE_INT32:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT32:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT32_FTZ:
  case CU_TENSOR_MAP_DATA_TYPE_TFLOAT32:
  case CU_TENSOR_MAP_DATA_TYPE_TFLOAT32_FTZ:
    return 4;
  case CU_TENSOR_MAP_DATA_TYPE_UINT64:
  case CU_TENSOR_MAP_DATA_TYPE_INT64:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT64:
    return 8;
  default:
    return 0;
  }
}

/// Everything a tensor map encodes, plus the device it lives on.
using TensorMapKey = std::array<uint64_t, 22>;

/// Device copies of tensor maps, by everything they encode. Generated host
/// code encodes a tensor map before every launch that uses TMA; a fresh
/// cuMemAlloc per call would leak 128 bytes of device memory per launch.
/// Equal keys give equal maps (a map holds only what is in the key), so a
/// cached copy stays correct even when the buffer at its address was freed
/// and another allocated there. Entries live for the process: a map may be
/// in use by a kernel still running, and host code may keep the pointer.
/// The cache grows with the number of distinct (address, shape, box, type)
/// combinations, 128 bytes each; a model with fixed buffers has a fixed set
/// (the block cache gives them the same addresses on every call), and a
/// block given back to the driver drops its maps (by base address).
struct TensorMapCache {
  std::mutex mutex;
  std::map<TensorMapKey, CUdeviceptr> maps;
};

TensorMapCache &getTensorMapCache() {
  static TensorMapCache *cache = new TensorMapCache(); // Never destroyed:
  return *cache; // model destructors may still run after ours.
}

/// Whether this thread's mgpu* calls failed since the CUDA device cleared
/// the error for its call: a tensor map that could not be encoded (null in
/// the kernel's parameters), a buffer not allocated. The call has failed
/// already, and its kernels would read what was not set up, with a fault
/// that would poison the context every user of the device shares (PyTorch
/// too): the launches after the failure are skipped.
bool skipLaunches() { return !lastError.empty(); }

} // namespace

//===----------------------------------------------------------------------===//
// Error reporting
//===----------------------------------------------------------------------===//

/// The first error of an mgpu* function on this thread since the last
/// loraCudaClearLastError, e.g. "mgpuMemAlloc: cuMemAlloc failed with
/// CUDA_ERROR_OUT_OF_MEMORY (out of memory)", or null when there was none.
/// Valid until the next loraCudaClearLastError on this thread.
LORA_CUDA_EXPORT const char *loraCudaGetLastError() {
  return lastError.empty() ? nullptr : lastError.c_str();
}

/// Forgets this thread's error.
LORA_CUDA_EXPORT void loraCudaClearLastError() { lastError.clear(); }

//===----------------------------------------------------------------------===//
// Modules and kernels
//===----------------------------------------------------------------------===//

/// Loads a cubin or fatbin (`size` is unused: both formats carry theirs).
LORA_CUDA_EXPORT CUmodule mgpuModuleLoad(void *data, size_t /*size*/) {
  Call call(__func__);
  CUmodule module = nullptr;
  if (call)
    LORA_CHECKED(call, cuModuleLoadData, &module, data);
  return module;
}

/// Loads NUL-terminated PTX, compiled by the driver at `optLevel` (0-4).
LORA_CUDA_EXPORT CUmodule mgpuModuleLoadJIT(void *data, int optLevel) {
  Call call(__func__);
  CUmodule module = nullptr;
  if (!call)
    return nullptr;
  char log[4096] = {0};
  CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER,
                            CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                            CU_JIT_OPTIMIZATION_LEVEL};
  // The driver reads each option's value from the pointer-sized slot itself.
  void *values[] = {log, reinterpret_cast<void *>(sizeof(log)),
                    reinterpret_cast<void *>(static_cast<intptr_t>(optLevel))};
  std::string error = LORA_CUDA_CALL(*call.driver, cuModuleLoadDataEx, &module,
                                     data, 3, options, values);
  if (!error.empty()) {
    // The log has one line per ptxas message; the report stays one line.
    std::string message = log;
    for (char &c : message)
      if (c == '\n')
        c = ' ';
    call.check(error + (message.empty() ? "" : ": " + message));
  }
  return module;
}

/// Unloads `module` (null: nothing, its load failed and was reported).
/// Generated code calls this from the model library's destructors, which at
/// process exit may run after the driver shut down: that is not an error.
LORA_CUDA_EXPORT void mgpuModuleUnload(CUmodule module) {
  if (!module)
    return;
  Call call(__func__, Call::Context::None);
  if (!call)
    return;
  if (!call.driver->cuModuleUnload) {
    call.fail("the CUDA driver has no cuModuleUnload");
    return;
  }
  forgetKernels();
  ++moduleUnloads;
  std::unique_lock<std::shared_mutex> lock = excludeCaptures(IfCapturing::Wait);
  CUresult result = call.driver->cuModuleUnload(module);
  if (result != CUDA_SUCCESS && result != CUDA_ERROR_DEINITIALIZED)
    call.fail("cuModuleUnload failed with " +
              describeResult(*call.driver, result));
}

LORA_CUDA_EXPORT CUfunction mgpuModuleGetFunction(CUmodule module,
                                                  const char *name) {
  FunctionCache &cache = getFunctionCache();
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto found = cache.functions.find({module, name});
    if (found != cache.functions.end())
      return found->second;
  }
  Call call(__func__);
  CUfunction function = nullptr;
  if (!call)
    return nullptr;
  if (!module) {
    call.fail(std::string("no module to find '") + (name ? name : "") +
              "' in (its load failed)");
    return nullptr;
  }
  ++setupCount;
  if (!LORA_CHECKED(call, cuModuleGetFunction, &function, module, name))
    return nullptr;
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.functions[{module, name}] = function;
  return function;
}

/// Launches `function`. Grid and block sizes are MLIR index values
/// (intptr_t); `paramsCount`, the number of `params`, is unused, as the
/// driver knows the kernel's parameters. A grid without blocks (a generic
/// kernel over a dynamic extent of 0) launches nothing.
LORA_CUDA_EXPORT void mgpuLaunchKernel(CUfunction function, intptr_t gridX,
                                       intptr_t gridY, intptr_t gridZ,
                                       intptr_t blockX, intptr_t blockY,
                                       intptr_t blockZ, int32_t smem,
                                       CUstream stream, void **params,
                                       void **extra, size_t /*paramsCount*/) {
  if (gridX == 0 || gridY == 0 || gridZ == 0 || skipLaunches())
    return;
  Call call(__func__);
  if (!call)
    return;
  if (!function) {
    call.fail("no kernel to launch (its lookup failed)");
    return;
  }
  if (!checkDimensions(call, "grid", {gridX, gridY, gridZ}) ||
      !checkDimensions(call, "block", {blockX, blockY, blockZ}) ||
      !prepareSharedMemory(call, function, smem))
    return;
  LORA_CHECKED(call, cuLaunchKernel, function, static_cast<unsigned>(gridX),
               static_cast<unsigned>(gridY), static_cast<unsigned>(gridZ),
               static_cast<unsigned>(blockX), static_cast<unsigned>(blockY),
               static_cast<unsigned>(blockZ), static_cast<unsigned>(smem),
               stream, params, extra);
}

/// Launches `function` in thread block clusters of clusterX x clusterY x
/// clusterZ blocks (sm_90+); `grid` counts blocks, as in mgpuLaunchKernel.
LORA_CUDA_EXPORT void
mgpuLaunchClusterKernel(CUfunction function, intptr_t clusterX,
                        intptr_t clusterY, intptr_t clusterZ, intptr_t gridX,
                        intptr_t gridY, intptr_t gridZ, intptr_t blockX,
                        intptr_t blockY, intptr_t blockZ, int32_t smem,
                        CUstream stream, void **params, void **extra) {
  if (skipLaunches())
    return;
  Call call(__func__);
  if (!call)
    return;
  if (!function) {
    call.fail("no kernel to launch (its lookup failed)");
    return;
  }
  if (!checkDimensions(call, "cluster", {clusterX, clusterY, clusterZ}) ||
      !checkDimensions(call, "grid", {gridX, gridY, gridZ}) ||
      !checkDimensions(call, "block", {blockX, blockY, blockZ}) ||
      !prepareSharedMemory(call, function, smem))
    return;
  // Clusters of more than 8 blocks are "non-portable" and need an opt-in.
  constexpr intptr_t kMaxPortableClusterSize = 8;
  if (clusterX * clusterY * clusterZ > kMaxPortableClusterSize &&
      !LORA_CHECKED(call, cuFuncSetAttribute, function,
                    CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1))
    return;
  CUlaunchAttribute attributes[2] = {};
  attributes[0].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
  attributes[0].value.clusterDim.x = static_cast<unsigned>(clusterX);
  attributes[0].value.clusterDim.y = static_cast<unsigned>(clusterY);
  attributes[0].value.clusterDim.z = static_cast<unsigned>(clusterZ);
  // Spread a cluster's blocks over the SMs of its GPC, as upstream does.
  attributes[1].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE;
  attributes[1].value.clusterSchedulingPolicyPreference =
      CU_CLUSTER_SCHEDULING_POLICY_SPREAD;
  CUlaunchConfig config = {};
  config.gridDimX = static_cast<unsigned>(gridX);
  config.gridDimY = static_cast<unsigned>(gridY);
  config.gridDimZ = static_cast<unsigned>(gridZ);
  config.blockDimX = static_cast<unsigned>(blockX);
  config.blockDimY = static_cast<unsigned>(blockY);
  config.blockDimZ = static_cast<unsigned>(blockZ);
  config.sharedMemBytes = static_cast<unsigned>(smem);
  config.hStream = stream;
  config.attrs = attributes;
  config.numAttrs = 2;
  LORA_CHECKED(call, cuLaunchKernelEx, &config, function, params, extra);
}

//===----------------------------------------------------------------------===//
// Devices
//===----------------------------------------------------------------------===//

/// The streaming multiprocessors of the default device, read from the driver
/// once per device: a persistent kernel's launcher runs at most one CTA per
/// SM, on whichever GPU the model runs. After reporting an error, 1, which
/// keeps the launch valid (the caller's error check then sees why).
LORA_CUDA_EXPORT int32_t loraCudaMultiprocessorCount() {
  Call call(__func__, Call::Context::None);
  int count = 0;
  if (!call || !getDeviceAttribute(
                   call, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, count))
    return 1;
  if (count < 1) {
    call.fail("device " + std::to_string(defaultDevice) + " reports " +
              std::to_string(count) + " multiprocessors");
    return 1;
  }
  return count;
}

//===----------------------------------------------------------------------===//
// Streams and events
//===----------------------------------------------------------------------===//

static BlockCache &getBlockCache();

/// The streams of mgpuStreamCreate, kept by mgpuStreamDestroy for the next
/// mgpuStreamCreate: host code creates a stream for the GPU work of each
/// block (lora-cuda-stream-order) and destroys it once it has waited for
/// it, at least once per call, and creating and destroying one costs more
/// than a launch. A stream may still have work queued when it is handed out
/// again; that only orders the new work after it.
struct StreamPool {
  std::mutex mutex;
  /// Every stream of the pool: its device, and whether it is idle.
  std::map<CUstream, std::pair<int32_t, bool>> streams;
  std::map<int32_t, std::vector<CUstream>> idle;
};

static StreamPool &getStreamPool() {
  static StreamPool *pool = new StreamPool(); // Never destroyed, like the
  return *pool;                               // caches above.
}

/// A stream of the default device that does not synchronize with the
/// legacy default stream: an idle one of the pool, else a new one.
LORA_CUDA_EXPORT CUstream mgpuStreamCreate() {
  if (captureStream)
    return captureStream;
  Call call(__func__);
  if (!call)
    return nullptr;
  StreamPool &pool = getStreamPool();
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    std::vector<CUstream> &idle = pool.idle[defaultDevice];
    if (!idle.empty()) {
      CUstream stream = idle.back();
      idle.pop_back();
      pool.streams[stream].second = false;
      return stream;
    }
  }
  CUstream stream = nullptr;
  ++setupCount;
  if (!LORA_CHECKED(call, cuStreamCreate, &stream, CU_STREAM_NON_BLOCKING))
    return nullptr;
  std::lock_guard<std::mutex> lock(pool.mutex);
  pool.streams[stream] = {defaultDevice, false};
  return stream;
}

/// Returns a stream of mgpuStreamCreate to the pool; destroys any other.
LORA_CUDA_EXPORT void mgpuStreamDestroy(CUstream stream) {
  if (stream && stream == captureStream)
    return;
  StreamPool &pool = getStreamPool();
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    auto it = pool.streams.find(stream);
    if (it != pool.streams.end()) {
      auto &[device, idle] = it->second;
      if (idle) {
        // Pooled twice, it would be handed to two callers at once.
        reportError(__func__, "stream destroyed twice");
        return;
      }
      idle = true;
      pool.idle[device].push_back(stream);
      return;
    }
  }
  Call call(__func__);
  if (call)
    LORA_CHECKED(call, cuStreamDestroy, stream);
}

/// Waits for the work queued on `stream`; the blocks freed on it may then
/// go to work on any stream. A capture's stream has nothing to wait for
/// (its work runs when the graph does, which the CUDA device waits for).
LORA_CUDA_EXPORT void mgpuStreamSynchronize(CUstream stream) {
  if (stream && stream == captureStream)
    return;
  Call call(__func__);
  if (call && LORA_CHECKED(call, cuStreamSynchronize, stream))
    getBlockCache().synchronized(stream);
}

LORA_CUDA_EXPORT void mgpuStreamWaitEvent(CUstream stream, CUevent event) {
  Call call(__func__);
  if (call)
    LORA_CHECKED(call, cuStreamWaitEvent, stream, event, /*flags=*/0u);
}

/// An event for ordering only (no timing, which is cheaper to record).
LORA_CUDA_EXPORT CUevent mgpuEventCreate() {
  Call call(__func__);
  CUevent event = nullptr;
  if (call)
    LORA_CHECKED(call, cuEventCreate, &event, CU_EVENT_DISABLE_TIMING);
  return event;
}

LORA_CUDA_EXPORT void mgpuEventDestroy(CUevent event) {
  Call call(__func__);
  if (call)
    LORA_CHECKED(call, cuEventDestroy, event);
}

LORA_CUDA_EXPORT void mgpuEventSynchronize(CUevent event) {
  Call call(__func__);
  if (call && captureStream) {
    call.fail("the host code waits for an event, which a CUDA graph cannot "
              "capture");
    return;
  }
  if (call)
    LORA_CHECKED(call, cuEventSynchronize, event);
}

LORA_CUDA_EXPORT void mgpuEventRecord(CUevent event, CUstream stream) {
  Call call(__func__);
  if (call)
    LORA_CHECKED(call, cuEventRecord, event, stream);
}

//===----------------------------------------------------------------------===//
// Memory
//===----------------------------------------------------------------------===//

/// Frees the cached tensor maps of the buffer at `base`: once the buffer
/// is given back to the driver no kernel can be using them, and another
/// allocation may get the address. The caller excludes captures.
static void forgetTensorMaps(const Driver &driver, void *base) {
  TensorMapCache &cache = getTensorMapCache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  for (auto it = cache.maps.begin(); it != cache.maps.end();) {
    if (it->first[1] != reinterpret_cast<uintptr_t>(base)) {
      ++it;
      continue;
    }
    if (driver.cuMemFree)
      driver.cuMemFree(it->second);
    ++staleCount;
    it = cache.maps.erase(it);
  }
}

/// Gives `block` back to the driver (in `call`'s context), with its tensor
/// maps, unless a capture is under way (see excludeCaptures): false then,
/// and the block is kept.
static bool freeOnDevice(const Call &call, void *block, IfCapturing mode) {
  std::unique_lock<std::shared_mutex> lock = excludeCaptures(mode);
  if (!lock.owns_lock())
    return false;
  forgetTensorMaps(*call.driver, block);
  LORA_CHECKED(call, cuMemFree, reinterpret_cast<CUdeviceptr>(block));
  return true;
}

/// Whether freed device blocks are kept for reuse; LORA_CUDA_CACHING=0
/// gives each one back to the driver at once (for memory checkers such as
/// compute-sanitizer).
static bool cachingEnabled() {
  static const bool enabled = [] {
    const char *value = std::getenv("LORA_CUDA_CACHING");
    return !value || std::string(value) != "0";
  }();
  return enabled;
}

/// Why the block cache's last cuMemAlloc on this thread failed.
thread_local std::string allocationError;

/// The blocks of mgpuMemAlloc (CudaBlockCache.h). The driver functions it
/// calls run inside an mgpu* call, which made the device's context current;
/// a block given back to the driver from loraCudaEmptyCache gets its
/// device's context made current for it.
static BlockCache &getBlockCache() {
  static BlockCache *cache = new BlockCache( // Never destroyed, like the
      [](size_t bytes, bool &outOfMemory) -> void * { // tensor maps.
        const Driver *driver = getDriver(nullptr);
        CUdeviceptr pointer = 0;
        ++setupCount;
        if (!driver || !driver->cuMemAlloc) {
          allocationError = "the CUDA driver has no cuMemAlloc";
          return nullptr;
        }
        CUresult result = driver->cuMemAlloc(&pointer, bytes);
        if (result != CUDA_SUCCESS) {
          outOfMemory = result == CUDA_ERROR_OUT_OF_MEMORY;
          allocationError = "cuMemAlloc of " + std::to_string(bytes) +
                            " bytes failed with " +
                            describeResult(*driver, result);
          return nullptr;
        }
        return reinterpret_cast<void *>(pointer);
      },
      [](int device, void *block) {
        // The cache's mutex is held: a capture that needs it must not be
        // waited for.
        int32_t current = defaultDevice;
        defaultDevice = device;
        bool freed = true;
        {
          Call call("mgpuMemFree");
          if (call)
            freed = freeOnDevice(call, block, IfCapturing::Keep);
        }
        defaultDevice = current;
        return freed;
      });
  return *cache;
}

/// `sizeBytes` of device memory, or of managed memory (reachable from host
/// and device) when `isHostShared`; null for 0 bytes. Device memory comes
/// from the block cache: a block freed on `stream` whose work may still be
/// queued, or one that no work uses.
LORA_CUDA_EXPORT void *mgpuMemAlloc(uint64_t sizeBytes, CUstream stream,
                                    bool isHostShared) {
  if (captureStream && !stream)
    stream = captureStream; // Its blocks stay with the graph.
  Call call(__func__);
  CUdeviceptr pointer = 0;
  if (!call || sizeBytes == 0)
    return nullptr;
  if (isHostShared)
    return LORA_CHECKED(call, cuMemAllocManaged, &pointer, sizeBytes,
                        CU_MEM_ATTACH_GLOBAL)
               ? reinterpret_cast<void *>(pointer)
               : nullptr;
  if (!cachingEnabled())
    return LORA_CHECKED(call, cuMemAlloc, &pointer, sizeBytes)
               ? reinterpret_cast<void *>(pointer)
               : nullptr;
  void *block = getBlockCache().allocate(defaultDevice, sizeBytes, stream);
  if (!block)
    call.fail(allocationError);
  return block;
}

/// Frees memory of mgpuMemAlloc (null: nothing) that work queued on
/// `stream` may still use: a device block is kept for reuse on `stream`
/// until it is synchronized; anything else goes back to the driver, whose
/// cuMemFree waits for the device.
LORA_CUDA_EXPORT void mgpuMemFree(void *pointer, CUstream stream) {
  if (!pointer)
    return;
  if (captureStream && !stream)
    stream = captureStream; // Its blocks stay with the graph.
  if (cachingEnabled()) {
    BlockCache::Release released = getBlockCache().release(pointer, stream);
    if (released == BlockCache::Release::Kept)
      return;
    if (released == BlockCache::Release::AlreadyFree) {
      // Giving it to the driver would let the cache hand it out again.
      reportError(__func__, "device memory freed twice");
      return;
    }
  }
  Call call(__func__);
  if (call && !freeOnDevice(call, pointer, IfCapturing::Wait))
    call.fail("cannot give device memory back to the driver while a CUDA "
              "graph is captured");
}

/// Gives `pointer`, device memory of the caller's cuMemAlloc, back to the
/// driver once no capture is under way (the CUDA device's staging
/// buffers); false when this thread captures, which a free would break.
LORA_CUDA_EXPORT bool loraCudaFreeDeviceMemory(CUdeviceptr pointer) {
  std::unique_lock<std::shared_mutex> lock = excludeCaptures(IfCapturing::Wait);
  const Driver *driver = getDriver(nullptr);
  if (!lock.owns_lock() || !driver || !driver->cuMemFree)
    return false;
  return driver->cuMemFree(pointer) == CUDA_SUCCESS;
}

/// Gives the device blocks kept for reuse back to the driver.
LORA_CUDA_EXPORT void loraCudaEmptyCache() { getBlockCache().emptyCache(); }

/// Whether freed device blocks are kept (not LORA_CUDA_CACHING=0), which
/// CUDA graphs need.
LORA_CUDA_EXPORT bool loraCudaCachingEnabled() { return cachingEnabled(); }

/// The bytes of device blocks handed out by mgpuMemAlloc and not freed, and
/// of freed ones kept for reuse; either pointer may be null.
LORA_CUDA_EXPORT void loraCudaMemoryStats(uint64_t *inUseBytes,
                                          uint64_t *cachedBytes) {
  BlockCache::Stats stats = getBlockCache().stats();
  if (inUseBytes)
    *inUseBytes = stats.inUseBytes;
  if (cachedBytes)
    *cachedBytes = stats.cachedBytes;
}

/// Tells this thread's mgpu* calls that `context` is current and stays so
/// until loraCudaHoldContext(nullptr): the CUDA device pushes it around
/// each call of compiled code, whose mgpu* calls then need not push and pop
/// it again (the tiny Llama forward: 264 driver calls fewer).
LORA_CUDA_EXPORT void loraCudaHoldContext(CUcontext context) {
  heldContext = context;
}

//===----------------------------------------------------------------------===//
// CUDA graphs
//===----------------------------------------------------------------------===//

/// How many times the runtime has gone to the driver to set something up
/// (see setupCount) since the process started: a call that leaves it as it
/// was has reached the steady state a CUDA graph can capture.
LORA_CUDA_EXPORT uint64_t loraCudaSetupCount() { return setupCount.load(); }

/// Sends this thread's mgpu* calls to `stream`, which the CUDA device is
/// capturing into a graph (cuStreamBeginCapture, relaxed mode), until
/// loraCudaCaptureEnd: mgpuStreamCreate returns it, mgpuStreamSynchronize
/// and mgpuStreamDestroy leave it alone, and the blocks freed on it stay
/// with it until loraCudaStreamUnpin (BlockCache::pinStream): the graph's
/// replays use them again without any host code to allocate them. False,
/// with this thread's error set, when graphs cannot be captured.
LORA_CUDA_EXPORT bool loraCudaCaptureBegin(CUstream stream) {
  if (!stream || captureStream) {
    reportError(__func__, stream ? "a capture is already under way"
                                 : "no stream to capture on");
    return false;
  }
  if (!cachingEnabled()) {
    // Each free would go to the driver, which a capture cannot do.
    reportError(__func__, "LORA_CUDA_CACHING=0 turns the block cache off, "
                          "without which no call can be captured");
    return false;
  }
  getCaptureLock().lock_shared(); // Waits for frees under way.
  getBlockCache().pinStream(stream);
  captureStream = stream;
  return true;
}

/// Ends the redirection of loraCudaCaptureBegin on this thread, and its
/// hold of the capture lock.
LORA_CUDA_EXPORT void loraCudaCaptureEnd() {
  if (!captureStream)
    return;
  captureStream = nullptr;
  getCaptureLock().unlock_shared();
}

/// How many device copies (tensor maps, constants) have been freed or
/// replaced: a graph captured when it was lower may read one.
LORA_CUDA_EXPORT uint64_t loraCudaStaleCount() { return staleCount.load(); }

/// The graphs captured on `stream` are destroyed and their work is done:
/// the blocks they used are free for any stream.
LORA_CUDA_EXPORT void loraCudaStreamUnpin(CUstream stream) {
  getBlockCache().unpinStream(stream);
}

/// Device copies of the model libraries' constants (loraCudaCopyConstant),
/// by device, host address and size, each with the bytes it was made from:
/// a library unloaded and another loaded at its address may have other
/// bytes there, which then get a new copy. The bytes are compared only
/// after a module was unloaded (a causal mask of 2048 tokens is 8 MiB).
struct ConstantCache {
  std::mutex mutex;
  struct Copy {
    std::vector<uint8_t> bytes;
    CUdeviceptr device;
    uint64_t checkedAt; ///< moduleUnloads when the bytes were last compared.
  };
  std::map<std::tuple<int32_t, const void *, size_t>, Copy> copies;
};

static ConstantCache &getConstantCache() {
  static ConstantCache *cache = new ConstantCache(); // Never destroyed, like
  return *cache;                                     // the caches above.
}

/// Copies the `sizeBytes` of constant `constant` (host memory of a model
/// library) to `dst` on `stream`, from a device copy made on first use:
/// a device-to-device copy, which a CUDA graph can capture, where a copy
/// from pageable host memory cannot be (HostCode.cpp,
/// copyConstantsThroughRuntime, rewrites host code's mgpuMemcpy of a
/// constant into this call).
LORA_CUDA_EXPORT void loraCudaCopyConstant(void *dst, void *constant,
                                           size_t sizeBytes, CUstream stream) {
  if (sizeBytes == 0)
    return;
  Call call(__func__);
  if (!call)
    return;
  ConstantCache &cache = getConstantCache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  auto key = std::make_tuple(defaultDevice, static_cast<const void *>(constant),
                             sizeBytes);
  auto found = cache.copies.find(key);
  uint64_t unloads = moduleUnloads.load();
  if (found != cache.copies.end() && found->second.checkedAt != unloads &&
      std::memcmp(found->second.bytes.data(), constant, sizeBytes) == 0)
    found->second.checkedAt = unloads;
  if (found == cache.copies.end() || found->second.checkedAt != unloads) {
    ++setupCount;
    CUdeviceptr copy = 0;
    if (!LORA_CHECKED(call, cuMemAlloc, &copy, sizeBytes))
      return;
    // As for tensor maps: the copy from pageable memory may return before
    // it is done, and `stream` does not wait for the legacy stream.
    if (!LORA_CHECKED(call, cuMemcpyHtoD, copy, constant, sizeBytes) ||
        !LORA_CHECKED(call, cuStreamSynchronize, nullptr)) {
      if (excludeCaptures(IfCapturing::Keep).owns_lock())
        call.driver->cuMemFree(copy);
      return;
    }
    // The stale copy (of a library unloaded) goes back to the driver unless
    // a capture is under way, which a free would break; then it is left.
    if (found != cache.copies.end()) {
      ++staleCount;
      if (std::unique_lock<std::shared_mutex> free =
              excludeCaptures(IfCapturing::Keep);
          free.owns_lock())
        call.driver->cuMemFree(found->second.device);
    }
    auto *first = static_cast<const uint8_t *>(constant);
    cache.copies[key] = {std::vector<uint8_t>(first, first + sizeBytes), copy,
                         unloads};
    found = cache.copies.find(key);
  }
  LORA_CHECKED(call, cuMemcpyAsync, reinterpret_cast<CUdeviceptr>(dst),
               found->second.device, sizeBytes, stream);
}

/// Copies `sizeBytes` on `stream`; either side may be host or device memory
/// (unified addressing tells them apart).
LORA_CUDA_EXPORT void mgpuMemcpy(void *dst, void *src, size_t sizeBytes,
                                 CUstream stream) {
  Call call(__func__);
  if (call)
    LORA_CHECKED(call, cuMemcpyAsync, reinterpret_cast<CUdeviceptr>(dst),
                 reinterpret_cast<CUdeviceptr>(src), sizeBytes, stream);
}

/// Sets `count` 32-bit words at `dst` to `value` on `stream`.
LORA_CUDA_EXPORT void mgpuMemset32(void *dst, unsigned int value, size_t count,
                                   CUstream stream) {
  Call call(__func__);
  if (call)
    LORA_CHECKED(call, cuMemsetD32Async, reinterpret_cast<CUdeviceptr>(dst),
                 value, count, stream);
}

/// Sets `count` 16-bit words at `dst` to `value` on `stream`.
LORA_CUDA_EXPORT void mgpuMemset16(void *dst, unsigned short value,
                                   size_t count, CUstream stream) {
  Call call(__func__);
  if (call)
    LORA_CHECKED(call, cuMemsetD16Async, reinterpret_cast<CUdeviceptr>(dst),
                 value, count, stream);
}

/// Page-locks host memory so the device can reach it (gpu.host_register).
LORA_CUDA_EXPORT void mgpuMemHostRegister(void *pointer, uint64_t sizeBytes) {
  Call call(__func__);
  if (call && sizeBytes != 0)
    LORA_CHECKED(call, cuMemHostRegister, pointer, sizeBytes, /*flags=*/0u);
}

/// mgpuMemHostRegister of the elements a memref addresses; `descriptor` is
/// a ranked memref descriptor of rank `rank`.
LORA_CUDA_EXPORT void mgpuMemHostRegisterMemRef(int64_t rank,
                                                MemRefHead *descriptor,
                                                int64_t elementSizeBytes) {
  char *first = descriptor->aligned + descriptor->offset * elementSizeBytes;
  mgpuMemHostRegister(first, spanBytes(rank, descriptor, elementSizeBytes));
}

LORA_CUDA_EXPORT void mgpuMemHostUnregister(void *pointer) {
  Call call(__func__);
  if (call)
    LORA_CHECKED(call, cuMemHostUnregister, pointer);
}

LORA_CUDA_EXPORT void mgpuMemHostUnregisterMemRef(int64_t /*rank*/,
                                                  MemRefHead *descriptor,
                                                  int64_t elementSizeBytes) {
  mgpuMemHostUnregister(descriptor->aligned +
                        descriptor->offset * elementSizeBytes);
}

/// Makes later mgpu* calls of this thread use device `device`.
LORA_CUDA_EXPORT void mgpuSetDefaultDevice(int32_t device) {
  defaultDevice = device;
}

//===----------------------------------------------------------------------===//
// Tensor maps (TMA descriptors, sm_90+)
//===----------------------------------------------------------------------===//

/// cuTensorMapEncodeTiled into host memory `tensorMap`.
LORA_CUDA_EXPORT void mgpuTensorMapEncodeTiled(
    CUtensorMap *tensorMap, CUtensorMapDataType dataType, cuuint32_t rank,
    void *globalAddress, const cuuint64_t *globalDim,
    const cuuint64_t *globalStrides, const cuuint32_t *boxDim,
    const cuuint32_t *elementStrides, CUtensorMapInterleave interleave,
    CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2Promotion,
    CUtensorMapFloatOOBfill oobFill) {
  Call call(__func__);
  if (call)
    LORA_CHECKED(call, cuTensorMapEncodeTiled, tensorMap, dataType, rank,
                 globalAddress, globalDim, globalStrides, boxDim,
                 elementStrides, interleave, swizzle, l2Promotion, oobFill);
}

/// The device address of a tensor map for memref `descriptor` (rank `rank`)
/// with box `boxDims` (outermost first, like the memref's sizes), or null
/// after reporting an error. The enum arguments arrive as i64 from the
/// lowering. Maps are cached (see TensorMapCache): the same arguments give
/// the same device address, and no allocation after the first.
LORA_CUDA_EXPORT void *mgpuTensorMapEncodeTiledMemref(
    int64_t rank, MemRefHead *descriptor, int64_t dataType, int64_t interleave,
    int64_t swizzle, int64_t l2Promotion, int64_t oobFill, int64_t *boxDims) {
  Call call(__func__);
  if (!call)
    return nullptr;
  constexpr int64_t kMaxRank = 5; // The most cuTensorMapEncodeTiled takes.
  int64_t elementBytes = tensorMapElementBytes(dataType);
  if (rank < 1 || rank > kMaxRank || elementBytes == 0) {
    call.fail("cannot describe a rank-" + std::to_string(rank) +
              " memref of tensor map data type " + std::to_string(dataType) +
              " (rank 1 to 5, whole-byte element types only)");
    return nullptr;
  }
  // The driver counts dimensions innermost first; a memref's sizes and
  // strides are outermost first. globalStrides[i] is the byte stride of
  // dimension i + 1 (dimension 0 must be contiguous).
  const int64_t *sizes = sizesOf(descriptor), *strides = sizes + rank;
  cuuint64_t globalDim[kMaxRank] = {}, globalStrides[kMaxRank - 1] = {};
  cuuint32_t boxDim[kMaxRank] = {}, elementStrides[kMaxRank] = {};
  for (int64_t i = 0; i < rank; ++i) {
    globalDim[i] = static_cast<cuuint64_t>(sizes[rank - 1 - i]);
    boxDim[i] = static_cast<cuuint32_t>(boxDims[rank - 1 - i]);
    elementStrides[i] = 1;
  }
  for (int64_t i = 0; i + 1 < rank; ++i)
    globalStrides[i] =
        static_cast<cuuint64_t>(strides[rank - 2 - i] * elementBytes);
  char *globalAddress = descriptor->aligned + descriptor->offset * elementBytes;

  TensorMapKey key = {};
  size_t next = 0;
  key[next++] = static_cast<uint64_t>(defaultDevice);
  key[next++] = reinterpret_cast<uintptr_t>(globalAddress);
  key[next++] = static_cast<uint64_t>(rank);
  for (cuuint64_t dim : globalDim)
    key[next++] = dim;
  for (cuuint64_t stride : globalStrides)
    key[next++] = stride;
  for (cuuint32_t box : boxDim)
    key[next++] = box;
  for (int64_t value : {dataType, interleave, swizzle, l2Promotion, oobFill})
    key[next++] = static_cast<uint64_t>(value);

  TensorMapCache &cache = getTensorMapCache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  auto found = cache.maps.find(key);
  if (found != cache.maps.end())
    return reinterpret_cast<void *>(found->second);

  // The driver requires 64-byte alignment of a CUtensorMap (cuda.h declares
  // the type so); device allocations are aligned to at least 256 bytes.
  CUtensorMap tensorMap;
  ++setupCount;
  if (!LORA_CHECKED(call, cuTensorMapEncodeTiled, &tensorMap,
                    static_cast<CUtensorMapDataType>(dataType),
                    static_cast<cuuint32_t>(rank), globalAddress, globalDim,
                    globalStrides, boxDim, elementStrides,
                    static_cast<CUtensorMapInterleave>(interleave),
                    static_cast<CUtensorMapSwizzle>(swizzle),
                    static_cast<CUtensorMapL2promotion>(l2Promotion),
                    static_cast<CUtensorMapFloatOOBfill>(oobFill)))
    return nullptr;
  CUdeviceptr deviceMap = 0;
  if (!LORA_CHECKED(call, cuMemAlloc, &deviceMap, sizeof(CUtensorMap)))
    return nullptr;
  // A copy from pageable memory may return before its DMA is done, and the
  // kernel that reads the map runs on a stream that does not wait for the
  // legacy stream the copy uses: wait for that stream before handing out
  // the map (once per map, thanks to the cache).
  if (!LORA_CHECKED(call, cuMemcpyHtoD, deviceMap, &tensorMap,
                    sizeof(CUtensorMap)) ||
      !LORA_CHECKED(call, cuStreamSynchronize, nullptr)) {
    if (call.driver->cuMemFree &&
        excludeCaptures(IfCapturing::Keep).owns_lock())
      call.driver->cuMemFree(deviceMap);
    return nullptr;
  }
  cache.maps.emplace(key, deviceMap);
  return reinterpret_cast<void *>(deviceMap);
}
