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
// parameters of an adapter swapped out. A released buffer goes to the next
// allocation of its size last in, first out: a call that releases its
// buffers in the reverse order of their allocation (Model::call does) gets
// the same buffers on the next call, argument by argument.
//
// With CUDA graphs (DeviceOptions::cudaGraphs, or LORA_CUDA_GRAPHS=1 when
// it is unset), calls are replayed from them: a generated host function
// launches each kernel itself (128 launches in a forward of the tiny Llama,
// 363 in its train step), a few microseconds of driver time each, where one
// cuGraphLaunch does it all. A function's call is captured
// once its calls no longer set anything up (liblora_cuda_runtime's
// loraCudaSetupCount stood still over a call) and its arguments and outputs
// are at addresses a call before used: the graph holds the kernels' device
// addresses, so it serves only calls with the same ones, which the buffer
// reuse above gives. The capture runs the host code with every stream
// redirected to the device's graph stream (loraCudaCaptureBegin); the blocks
// its host code allocates stay with that stream for the graph's replays
// (and for the device's later captures, whose replays are ordered on the
// same stream). Each function keeps its graphs for its last
// kMaxGraphsPerFunction argument sets (a train step alternates between two:
// the parameters it reads and those it writes). A capture that fails (host
// code the capture cannot hold, such as a wait for an event) is reported
// once on stderr, and the function's calls go on without graphs.
//
//===----------------------------------------------------------------------===//

#include "CudaDriver.h"

#include "lora/Runtime/Device.h"
#include "lora/Runtime/Runtime.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <iterator>
#include <map>
#include <sys/stat.h>
#include <type_traits>
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

/// The functions of liblora_cuda_runtime.so the device calls (see there).
struct RuntimeLibrary {
  const char *(*getLastError)() = nullptr;
  void (*clearLastError)() = nullptr;
  void (*emptyCache)() = nullptr;
  uint64_t (*setupCount)() = nullptr;
  bool (*captureBegin)(CUstream) = nullptr;
  void (*captureEnd)() = nullptr;
  void (*streamUnpin)(CUstream) = nullptr;
  void (*holdContext)(CUcontext) = nullptr;
  bool (*freeDeviceMemory)(CUdeviceptr) = nullptr;
  uint64_t (*staleCount)() = nullptr;
  bool (*cachingEnabled)() = nullptr;
};

/// Whether the device replays calls from CUDA graphs: `options.cudaGraphs`,
/// or unset, LORA_CUDA_GRAPHS=1. They need the block cache, where captured
/// calls leave their buffers, and the driver's graph functions; when those
/// are missing, asking in `options` is an error, and the variable is
/// ignored with a line on stderr.
bool graphsEnabled(const Driver &driver, const RuntimeLibrary &runtime,
                   const DeviceOptions &options, std::string &error) {
  bool asked = options.cudaGraphs.has_value();
  if (asked && !*options.cudaGraphs)
    return false;
  if (!asked) {
    const char *value = std::getenv("LORA_CUDA_GRAPHS");
    if (!value || std::string(value) != "1")
      return false;
  }
  std::string missing;
  if (!runtime.cachingEnabled())
    missing = "LORA_CUDA_CACHING=0 turns off the block cache that graphs "
              "replay from";
  else if (!driver.cuStreamBeginCapture || !driver.cuStreamEndCapture ||
           !driver.cuGraphInstantiate || !driver.cuGraphDestroy ||
           !driver.cuGraphLaunch || !driver.cuGraphExecDestroy)
    missing = "the CUDA driver has no stream capture or graph functions";
  if (missing.empty())
    return true;
  if (asked) {
    error = "target 'cuda': CUDA graphs were asked for, but " + missing;
    return false;
  }
  static bool told = false;
  if (!told)
    std::fprintf(stderr, "lora-opt: LORA_CUDA_GRAPHS=1 is ignored: %s\n",
                 missing.c_str());
  told = true;
  return false;
}

/// The alignment runOnDevice asks of the caller's buffers: that of
/// cuMemAlloc's, which the device's own buffers have.
constexpr uintptr_t kCallerAlignment = 256;

/// The argument sets of a function that keep a graph each.
constexpr size_t kMaxGraphsPerFunction = 2;

class CudaDevice final : public Device {
public:
  CudaDevice(const Driver &driver, CUcontext context,
             const RuntimeLibrary &runtime, bool useGraphs)
      : driver(driver), context(context), runtime(runtime),
        useGraphs(useGraphs) {}

  /// Also gives the device blocks that liblora_cuda_runtime keeps for reuse
  /// back to the driver: the compiled code's buffers, which no other user
  /// of the device (PyTorch, another model) could otherwise get.
  ~CudaDevice() override {
    forgetFunctions(); // Waits for the graph stream and unpins its blocks.
    if (graphStream) {
      ContextScope scope(driver, context);
      if (scope.error.empty())
        driver.cuStreamDestroy(graphStream);
    }
    if (weights)
      release(reinterpret_cast<void *>(weights));
    freeIdleBuffers();
    runtime.emptyCache();
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
    // The buffer of this size released last (see the top of the file).
    if (auto [first, last] = idleBuffers.equal_range(bytes); first != last) {
      pointer = std::prev(last)->second;
      idleBuffers.erase(std::prev(last));
    }
    // Out of memory: the blocks the compiled code freed and the buffers kept
    // here may be what fills the device; give them back and try again.
    if (!pointer && driver.cuMemAlloc &&
        driver.cuMemAlloc(&pointer, bytes) == CUDA_ERROR_OUT_OF_MEMORY) {
      freeIdleBuffers();
      runtime.emptyCache();
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

  /// Asks the driver what the pointer is (cuPointerGetAttributes, which
  /// gives empty answers for an address it does not know): device memory of
  /// device 0 and of this context (memory of a stream-ordered pool or mapped
  /// with the VMM calls, as PyTorch's expandable segments are, has no
  /// context to compare), with `bytes` inside the range the driver gives
  /// (a whole cudaMalloc segment of PyTorch's caching allocator, a whole
  /// reservation for VMM memory: it catches little there). And aligned as
  /// the device's own buffers are: kernels take tensor maps of their
  /// operands, whose addresses must be 16-byte aligned, and an encode that
  /// fails fails the call. A driver without the call is asked nothing.
  bool checkCallerBuffer(const void *pointer, size_t bytes,
                         std::string &error) override {
    char where[32];
    std::snprintf(where, sizeof(where), "%p", pointer);
    if (reinterpret_cast<uintptr_t>(pointer) % kCallerAlignment) {
      error = std::string(where) + " is not " +
              std::to_string(kCallerAlignment) +
              "-byte aligned, as the model's own buffers are (a view into "
              "another tensor? pass a tensor of its own)";
      return false;
    }
    if (!driver.cuPointerGetAttributes)
      return true;
    ContextScope scope(driver, context);
    if (!check(scope.error, error))
      return false;
    unsigned memoryType = 0;
    int ordinal = -1;
    CUcontext owner = nullptr;
    CUdeviceptr start = 0;
    size_t size = 0;
    CUpointer_attribute attributes[] = {
        CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
        CU_POINTER_ATTRIBUTE_CONTEXT, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR,
        CU_POINTER_ATTRIBUTE_RANGE_SIZE};
    void *values[] = {&memoryType, &ordinal, &owner, &start, &size};
    CUdeviceptr address = reinterpret_cast<CUdeviceptr>(pointer);
    if (!check(LORA_CUDA_CALL(driver, cuPointerGetAttributes,
                              std::size(attributes), attributes, values,
                              address),
               error))
      return false;
    if (memoryType != CU_MEMORYTYPE_DEVICE &&
        memoryType != CU_MEMORYTYPE_UNIFIED) {
      error = std::string(where) +
              (memoryType == CU_MEMORYTYPE_HOST
                   ? " is host memory, not device memory"
                   : " is not memory the CUDA driver knows of (a host "
                     "address, or freed)");
      return false;
    }
    if (ordinal != 0) {
      error = std::string(where) + " is memory of device " +
              std::to_string(ordinal) + "; the model runs on device 0";
      return false;
    }
    if (owner && owner != context) {
      error = std::string(where) +
              " belongs to another CUDA context than "
              "device 0's primary one, which the model uses";
      return false;
    }
    if (size && (address < start || address - start + bytes > size)) {
      error = std::to_string(bytes) + " bytes from " + where +
              " run past the end of its allocation (" + std::to_string(size) +
              " bytes, starting " + std::to_string(address - start) +
              " bytes before it)";
      return false;
    }
    return true;
  }

  /// The model library's constructors load its kernels (mgpuModuleLoad);
  /// they cannot fail the load, so a module the driver rejects would
  /// otherwise show only as "no kernel to launch" in the first call.
  std::unique_ptr<CompiledFunction>
  loadFunction(const std::string &soPath, const std::string &name,
               std::vector<TensorSpec> inputs, std::vector<TensorSpec> outputs,
               std::string &error) override {
    runtime.clearLastError();
    auto function = Device::loadFunction(soPath, name, std::move(inputs),
                                         std::move(outputs), error);
    if (const char *runtimeError = runtime.getLastError()) {
      error = "cannot load the kernels of '" + soPath + "': " + runtimeError;
      return nullptr;
    }
    return function;
  }

  bool call(CompiledFunction &function, const void *const *arguments,
            void *const *outputs, std::string &error) override {
    ContextScope scope(driver, context);
    // Uploads may still be in flight on the legacy stream (a copy from
    // pageable memory returns once staged), and the compiled code works on
    // streams of its own that do not wait for it: wait here. (Not for the
    // context, which another thread's capture would refuse.)
    if (!check(scope.error, error) || !syncLegacyStream(error))
      return false;
    if (useGraphs) {
      // A graph may hold a device copy freed since (a tensor map of a block
      // given back to the driver): those captured before go.
      if (uint64_t stale = runtime.staleCount(); stale != staleSeen) {
        destroyGraphs();
        staleSeen = stale;
      }
      GraphKey key = makeKey(function, arguments, outputs);
      FunctionGraphs &state = graphs[&function];
      if (CUgraphExec graph = state.find(key))
        return replay(graph, error);
      if (state.readyToCapture(key)) {
        if (CUgraphExec graph = capture(function, arguments, outputs, state)) {
          state.keep(std::move(key), graph, driver);
          return replay(graph, error);
        }
      }
      uint64_t before = runtime.setupCount();
      if (!callDirectly(function, arguments, outputs, error))
        return false;
      state.called(std::move(key), runtime.setupCount() == before);
      return true;
    }
    return callDirectly(function, arguments, outputs, error);
  }

  bool usesCudaGraphs() const override { return useGraphs; }

  /// Destroys the graphs of the model's functions, which hold their kernels:
  /// the model is about to unload them.
  void forgetFunctions() override {
    ContextScope scope(driver, context);
    if (!scope.error.empty())
      return;
    destroyGraphs();
    graphs.clear();
  }

private:
  /// What a graph depends on: the function and the device addresses of its
  /// arguments and outputs.
  using GraphKey = std::vector<const void *>;

  /// The CUDA graphs of one function and what its calls so far showed.
  struct FunctionGraphs {
    /// The graphs, the most recently used last.
    std::vector<std::pair<GraphKey, CUgraphExec>> graphs;
    /// The argument sets of the last direct calls, the latest last.
    std::vector<GraphKey> recent;
    /// The last direct call set nothing up.
    bool steady = false;
    /// A capture failed: no more graphs.
    bool failed = false;

    CUgraphExec find(const GraphKey &key) {
      for (size_t i = 0; i < graphs.size(); ++i)
        if (graphs[i].first == key) {
          std::rotate(graphs.begin() + i, graphs.begin() + i + 1, graphs.end());
          return graphs.back().second;
        }
      return nullptr;
    }
    bool readyToCapture(const GraphKey &key) const {
      return !failed && steady &&
             std::find(recent.begin(), recent.end(), key) != recent.end();
    }
    void called(GraphKey key, bool setNothingUp) {
      steady = setNothingUp;
      recent.erase(std::remove(recent.begin(), recent.end(), key),
                   recent.end());
      recent.push_back(std::move(key));
      if (recent.size() > kMaxGraphsPerFunction)
        recent.erase(recent.begin());
    }
    void keep(GraphKey key, CUgraphExec graph, const Driver &driver) {
      if (graphs.size() == kMaxGraphsPerFunction) {
        driver.cuGraphExecDestroy(graphs.front().second);
        graphs.erase(graphs.begin());
      }
      graphs.emplace_back(std::move(key), graph);
    }
    void destroy(const Driver &driver) {
      for (auto &graph : graphs)
        driver.cuGraphExecDestroy(graph.second);
      graphs.clear();
    }
  };

  /// Destroys every graph and lets the blocks they used go to any stream.
  void destroyGraphs() {
    for (auto &entry : graphs)
      entry.second.destroy(driver);
    unpinIfNoGraphs();
  }

  /// With no graph left, the blocks their captures used are free for any
  /// stream (and for the driver); the next capture pins them again.
  void unpinIfNoGraphs() {
    if (!graphStream)
      return;
    for (const auto &entry : graphs)
      if (!entry.second.graphs.empty())
        return;
    driver.cuStreamSynchronize(graphStream);
    runtime.streamUnpin(graphStream);
  }

  /// Waits for the legacy stream (uploads, downloads, memsets).
  bool syncLegacyStream(std::string &error) {
    return check(LORA_CUDA_CALL(driver, cuStreamSynchronize, nullptr), error,
                 "the compiled code failed on the CUDA device");
  }

  static GraphKey makeKey(const CompiledFunction &function,
                          const void *const *arguments, void *const *outputs) {
    GraphKey key(arguments, arguments + function.inputs().size());
    key.insert(key.end(), outputs, outputs + function.outputs().size());
    return key;
  }

  /// Captures a call of `function` into a graph, which has not run yet;
  /// null after a failure, which is reported on stderr (once: `state` is
  /// marked failed).
  CUgraphExec capture(CompiledFunction &function, const void *const *arguments,
                      void *const *outputs, FunctionGraphs &state) {
    std::string failure;
    // Non-blocking: the legacy stream's copies (the tensor maps a capture may
    // still encode) neither wait for it nor break its capture.
    if (!graphStream) {
      failure = LORA_CUDA_CALL(driver, cuStreamCreate, &graphStream,
                               CU_STREAM_NON_BLOCKING);
      if (!failure.empty())
        graphStream = nullptr;
    }
    CUgraph graph = nullptr;
    CUgraphExec exec = nullptr;
    runtime.clearLastError();
    if (failure.empty() && !runtime.captureBegin(graphStream))
      failure = runtime.getLastError();
    if (failure.empty()) {
      failure = LORA_CUDA_CALL(driver, cuStreamBeginCapture, graphStream,
                               CU_STREAM_CAPTURE_MODE_RELAXED);
      if (failure.empty()) {
        runCompiledCode(function, arguments, outputs);
        failure =
            LORA_CUDA_CALL(driver, cuStreamEndCapture, graphStream, &graph);
      }
      runtime.captureEnd();
      // The host code's own error comes first: the capture ends invalidated
      // because of it.
      if (const char *hostError = runtime.getLastError())
        failure = hostError;
    }
    if (failure.empty())
      failure = LORA_CUDA_CALL(driver, cuGraphInstantiate, &exec, graph, 0ull);
    if (graph)
      driver.cuGraphDestroy(graph);
    runtime.clearLastError();
    if (failure.empty())
      return exec;
    state.failed = true;
    unpinIfNoGraphs();
    std::fprintf(stderr,
                 "lora-opt: the calls of '%s' run without a CUDA graph: its "
                 "capture failed (%s)\n",
                 function.name().c_str(), failure.c_str());
    return nullptr;
  }

  /// Runs `graph` and waits for it.
  bool replay(CUgraphExec graph, std::string &error) {
    return check(LORA_CUDA_CALL(driver, cuGraphLaunch, graph, graphStream),
                 error, "the compiled code failed on the CUDA device") &&
           check(LORA_CUDA_CALL(driver, cuStreamSynchronize, graphStream),
                 error, "the compiled code failed on the CUDA device");
  }

  /// Calls `function`'s host code with this device's context, which the
  /// caller made current, held for its mgpu* calls.
  void runCompiledCode(CompiledFunction &function, const void *const *arguments,
                       void *const *outputs) {
    runtime.holdContext(context);
    function.call(arguments, outputs);
    runtime.holdContext(nullptr);
  }

  /// Runs the host code of `function`, which launches its kernels.
  bool callDirectly(CompiledFunction &function, const void *const *arguments,
                    void *const *outputs, std::string &error) {
    // The compiled code's mgpu* calls cannot return errors; they leave them
    // in liblora_cuda_runtime's last error of this thread.
    runtime.clearLastError();
    runCompiledCode(function, arguments, outputs);
    // The code waits for its own streams, which reports a kernel fault; the
    // legacy stream's work, the copies it may have queued there, is waited
    // for too.
    std::string syncError =
        LORA_CUDA_CALL(driver, cuStreamSynchronize, nullptr);
    if (const char *runtimeError = runtime.getLastError()) {
      error = std::string("the compiled code failed on the CUDA device: ") +
              runtimeError;
      return false;
    }
    return check(syncError, error,
                 "the compiled code failed on the CUDA device");
  }

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
    // The runtime's free waits for captures under way in other threads,
    // which a free would break.
    ContextScope scope(driver, context);
    if (scope.error.empty())
      runtime.freeDeviceMemory(pointer);
  }

  void freeIdleBuffers() {
    for (const auto &idle : idleBuffers)
      freeBuffer(idle.second);
    idleBuffers.clear();
  }

  const Driver &driver;
  CUcontext context;
  RuntimeLibrary runtime;
  CUdeviceptr weights = 0;
  /// graphsEnabled().
  const bool useGraphs;
  /// The stream of every capture and replay (created at the first capture).
  CUstream graphStream = nullptr;
  std::map<const CompiledFunction *, FunctionGraphs> graphs;
  /// loraCudaStaleCount when the graphs were last checked against it.
  uint64_t staleSeen = 0;
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

std::unique_ptr<Device> cuda::createCudaDevice(const DeviceOptions &options,
                                               std::string &error) {
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
  RuntimeLibrary library;
  std::string missing;
  auto resolve = [&](auto &function, const char *name) {
    function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(
        dlsym(runtime, name));
    if (!function)
      missing += std::string(missing.empty() ? "" : ", ") + name;
  };
  resolve(library.getLastError, "loraCudaGetLastError");
  resolve(library.clearLastError, "loraCudaClearLastError");
  resolve(library.emptyCache, "loraCudaEmptyCache");
  resolve(library.setupCount, "loraCudaSetupCount");
  resolve(library.captureBegin, "loraCudaCaptureBegin");
  resolve(library.captureEnd, "loraCudaCaptureEnd");
  resolve(library.streamUnpin, "loraCudaStreamUnpin");
  resolve(library.holdContext, "loraCudaHoldContext");
  resolve(library.freeDeviceMemory, "loraCudaFreeDeviceMemory");
  resolve(library.staleCount, "loraCudaStaleCount");
  resolve(library.cachingEnabled, "loraCudaCachingEnabled");
  if (!missing.empty()) {
    error = std::string("target 'cuda': ") + kRuntimeLibraryName + " has no " +
            missing + "; it is not this version of lora-opt's CUDA runtime";
    return nullptr;
  }
  std::string graphsError;
  bool useGraphs = graphsEnabled(*driver, library, options, graphsError);
  if (!graphsError.empty()) {
    error = graphsError;
    return nullptr;
  }
  return std::make_unique<CudaDevice>(*driver, context, library, useGraphs);
}
