//===- Device.h - where a loaded model's buffers live -----------*- C++ -*-===//
//
// Model (Model.h) does everything that does not depend on the target: the
// manifest and its check against the library, reading and checking PEFT
// adapters, argument order, input and output checks. A Device owns the memory
// the compiled code reads and writes, and how bytes get there:
//
//   - the CPU device uses host memory: weights.bin is a read-only mapping that
//     the code reads in place, LoRA parameters are host buffers, and inputs
//     and outputs are the caller's own buffers (no copies);
//   - a GPU device (the CUDA target) uploads weights.bin once, keeps LoRA
//     parameters in device memory (an adapter swap is one upload per
//     parameter), and stages inputs and outputs around each call.
//
// Adding a target means adding a Device; nothing above it changes.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_RUNTIME_DEVICE_H
#define LORA_RUNTIME_DEVICE_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lora_runtime {

class CompiledFunction;
struct TensorSpec;

class Device {
public:
  virtual ~Device();

  /// "cpu", "cuda", ...: the manifest's "target".
  virtual const char *name() const = 0;

  /// Makes the `expectedBytes` bytes of the weights file `path` available to
  /// compiled code and returns the address of its first byte there (null for
  /// an empty file). Called once, before anything else.
  virtual bool loadWeights(const std::string &path, uint64_t expectedBytes,
                           const uint8_t *&base, std::string &error) = 0;

  /// A zero-filled buffer of `bytes` (> 0) that compiled code can use, or
  /// null with `error` set.
  virtual void *allocate(size_t bytes, std::string &error) = 0;
  virtual void release(void *buffer) = 0;

  /// Copies between host memory and a buffer of this device.
  virtual bool upload(void *buffer, const void *host, size_t bytes,
                      std::string &error) = 0;
  virtual bool download(void *host, const void *buffer, size_t bytes,
                        std::string &error) = 0;

  /// True when compiled code reads and writes host memory directly, so the
  /// caller's inputs and outputs need no staging.
  virtual bool sharesHostMemory() const = 0;

  /// Checks, as far as the device can tell, that the caller's
  /// [`pointer`, `pointer` + `bytes`) is memory of this device that
  /// compiled code can use (Model::runOnDevice); `error` says what it is
  /// otherwise. Host devices cannot tell and accept it.
  virtual bool checkCallerBuffer(const void *pointer, size_t bytes,
                                 std::string &error) {
    (void)pointer, (void)bytes, (void)error;
    return true;
  }

  /// Loads entry point `name` of the model library `soPath`
  /// (CompiledFunction::load). The CUDA device also fails when the library's
  /// constructors, which load its kernels, reported an error.
  virtual std::unique_ptr<CompiledFunction>
  loadFunction(const std::string &soPath, const std::string &name,
               std::vector<TensorSpec> inputs, std::vector<TensorSpec> outputs,
               std::string &error);

  /// Calls `function` on device addresses (one per argument, then one per
  /// output) and returns when its results are complete.
  virtual bool call(CompiledFunction &function, const void *const *arguments,
                    void *const *outputs, std::string &error) = 0;

  /// Drops what the device keeps for the model's functions (the CUDA
  /// device's graphs, which hold their kernels); called before they are
  /// unloaded.
  virtual void forgetFunctions() {}

  /// True when steady calls are replayed from CUDA graphs (DeviceOptions).
  virtual bool usesCudaGraphs() const { return false; }
};

/// How a device runs a model's calls.
struct DeviceOptions {
  /// Replay the steady calls of a CUDA model from CUDA graphs
  /// (CudaDevice.cpp): true asks for them, and a device that cannot have
  /// them is an error (another target, a driver without graphs, the block
  /// cache turned off); false never uses them. Unset, the environment
  /// variable LORA_CUDA_GRAPHS=1 turns them on where they can be had.
  std::optional<bool> cudaGraphs;
};

/// The device for a manifest's "target": "cpu" (also for "cuda-emulated",
/// the CUDA target emulated on the host), or "cuda" (an error that
/// says why when no CUDA driver or GPU can be used); other targets are an
/// error that says which devices this runtime has. `options` the device
/// cannot honour are an error too.
std::unique_ptr<Device> createDevice(const std::string &target,
                                     std::string &error,
                                     const DeviceOptions &options = {});

/// A buffer of a device, released with it.
class DeviceBuffer {
public:
  DeviceBuffer() = default;
  DeviceBuffer(Device *device, void *data, size_t size)
      : device(device), pointer(data), bytes(size) {}
  DeviceBuffer(DeviceBuffer &&other) noexcept { *this = std::move(other); }
  DeviceBuffer &operator=(DeviceBuffer &&other) noexcept;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
  ~DeviceBuffer() { reset(); }

  /// Allocates `size` bytes on `device` (an empty buffer for 0 bytes).
  static bool allocate(Device &device, size_t size, DeviceBuffer &buffer,
                       std::string &error);

  void *data() const { return pointer; }
  size_t size() const { return bytes; }

private:
  void reset();
  Device *device = nullptr;
  void *pointer = nullptr;
  size_t bytes = 0;
};

} // namespace lora_runtime

#endif // LORA_RUNTIME_DEVICE_H
