//===- Device.cpp - the CPU device and device buffers ---------------------===//

#include "lora/Runtime/Device.h"

#include "lora/Runtime/MappedFile.h"
#include "lora/Runtime/Runtime.h"

#if LORA_ENABLE_CUDA
#include "CudaDriver.h"
#endif

#include <cstdlib>
#include <cstring>

using namespace lora_runtime;

Device::~Device() = default;

std::unique_ptr<CompiledFunction>
Device::loadFunction(const std::string &soPath, const std::string &name,
                     std::vector<TensorSpec> inputs,
                     std::vector<TensorSpec> outputs, std::string &error) {
  return CompiledFunction::load(soPath, name, std::move(inputs),
                                std::move(outputs), error);
}

namespace {

/// Host memory: weights.bin mapped read-only (compiled entry points never
/// write their arguments, see lora-mark-entry-points; a stray write would
/// fault instead of changing the weights for later runs), aligned buffers,
/// the caller's inputs and outputs as they are.
class CpuDevice final : public Device {
public:
  const char *name() const override { return "cpu"; }

  bool loadWeights(const std::string &path, uint64_t expectedBytes,
                   const uint8_t *&base, std::string &error) override {
    if (!MappedFile::open(path, MappedFile::Access::ReadOnly, weights,
                          error))
      return false;
    if (weights.size() != expectedBytes) {
      error = "'" + path + "' has " + std::to_string(weights.size()) +
              " bytes, but the manifest says weights.bytes = " +
              std::to_string(expectedBytes);
      return false;
    }
    base = weights.data();
    return true;
  }

  void *allocate(size_t bytes, std::string &error) override {
    // 64-byte aligned, like the buffers compiled code allocates itself.
    size_t rounded = (bytes + 63) / 64 * 64;
    void *buffer = std::aligned_alloc(64, rounded);
    if (!buffer) {
      error = "cannot allocate " + std::to_string(bytes) + " bytes";
      return nullptr;
    }
    std::memset(buffer, 0, rounded);
    return buffer;
  }

  void release(void *buffer) override { std::free(buffer); }

  bool upload(void *buffer, const void *host, size_t bytes,
              std::string &) override {
    std::memcpy(buffer, host, bytes);
    return true;
  }

  bool download(void *host, const void *buffer, size_t bytes,
                std::string &) override {
    std::memcpy(host, buffer, bytes);
    return true;
  }

  bool sharesHostMemory() const override { return true; }

  bool call(CompiledFunction &function, const void *const *arguments,
            void *const *outputs, std::string &) override {
    function.call(arguments, outputs);
    return true;
  }

private:
  MappedFile weights;
};

} // namespace

std::unique_ptr<Device>
lora_runtime::createDevice(const std::string &target, std::string &error,
                           const DeviceOptions &options) {
  // The CUDA target emulated on the host is host code like the CPU's.
  if (target == "cpu" || target == "cuda-emulated") {
    if (options.cudaGraphs.value_or(false)) {
      error = "CUDA graphs were asked for, but the model is compiled for "
              "target '" +
              target + "', which runs on the host";
      return nullptr;
    }
    return std::make_unique<CpuDevice>();
  }
  if (target == "cuda") {
#if LORA_ENABLE_CUDA
    return cuda::createCudaDevice(options, error);
#else
    error = "target 'cuda': this runtime was built without CUDA support "
            "(cuda.h was not found when it was configured)";
    return nullptr;
#endif
  }
#if LORA_ENABLE_CUDA
  const char *devices = "cpu, cuda-emulated, cuda";
#else
  const char *devices = "cpu, cuda-emulated";
#endif
  error = "this runtime has no device for target '" + target +
          "' (it has: " + devices + ")";
  return nullptr;
}

DeviceBuffer &DeviceBuffer::operator=(DeviceBuffer &&other) noexcept {
  if (this != &other) {
    reset();
    device = other.device;
    pointer = other.pointer;
    bytes = other.bytes;
    other.device = nullptr;
    other.pointer = nullptr;
    other.bytes = 0;
  }
  return *this;
}

bool DeviceBuffer::allocate(Device &device, size_t size, DeviceBuffer &buffer,
                            std::string &error) {
  buffer.reset();
  if (size == 0)
    return true;
  void *data = device.allocate(size, error);
  if (!data)
    return false;
  buffer = DeviceBuffer(&device, data, size);
  return true;
}

void DeviceBuffer::reset() {
  if (device && pointer)
    device->release(pointer);
  device = nullptr;
  pointer = nullptr;
  bytes = 0;
}
