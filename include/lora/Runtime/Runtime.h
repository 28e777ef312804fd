//===- Runtime.h - load and run compiled lora-opt code ----------*- C++ -*-===//
//
// The runtime links no MLIR or LLVM library: it reads and writes .npy files
// and calls the `lora_entry_<name>` functions of a compiled shared object,
// passing one memref descriptor per argument (inputs, then outputs).
//
//===----------------------------------------------------------------------===//

#ifndef LORA_RUNTIME_RUNTIME_H
#define LORA_RUNTIME_RUNTIME_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lora_runtime {

/// Element types the runtime moves around.
enum class DType { F32, F64, F16, BF16, I64, I32, I16, I8, U8, Bool };

/// Size in bytes of one element.
size_t dtypeSize(DType dtype);
/// Short name: "f32", "i64", ...
const char *dtypeName(DType dtype);
/// Parses a short name; returns false for unknown names.
bool parseDType(const std::string &name, DType &dtype);

/// A dense, row-major host tensor that owns its bytes.
struct Tensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;

  int64_t numElements() const;
  /// Allocates zeroed storage for `shape`.
  static Tensor zeros(DType dtype, std::vector<int64_t> shape);
};

/// Reads a .npy file (format 1.0-3.0, little-endian, C order).
bool readNpy(const std::string &path, Tensor &tensor, std::string &error);
/// Writes a .npy file (format 1.0), atomically: a temporary file renamed.
bool writeNpy(const std::string &path, const Tensor &tensor,
              std::string &error);

/// Name, element type and static shape of one function argument.
struct TensorSpec {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
};

/// A compiled function in a shared object.
class CompiledFunction {
public:
  /// Opens `soPath` and finds `lora_entry_<name>`.
  static std::unique_ptr<CompiledFunction>
  load(const std::string &soPath, const std::string &name,
       std::vector<TensorSpec> inputs, std::vector<TensorSpec> outputs,
       std::string &error);
  ~CompiledFunction();

  const std::vector<TensorSpec> &inputs() const { return inputSpecs; }
  const std::vector<TensorSpec> &outputs() const { return outputSpecs; }

  /// Checks `inputs` against the signature and runs the function.
  bool run(const std::vector<const Tensor *> &inputs,
           std::vector<Tensor> &outputs, std::string &error);

private:
  CompiledFunction() = default;
  void *handle = nullptr;
  void (*entry)(void **) = nullptr;
  std::vector<TensorSpec> inputSpecs, outputSpecs;
};

} // namespace lora_runtime

#endif // LORA_RUNTIME_RUNTIME_H
