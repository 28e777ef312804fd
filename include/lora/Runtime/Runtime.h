//===- Runtime.h - load and run compiled lora-opt code ----------*- C++ -*-===//
//
// The runtime links no MLIR or LLVM library: it reads and writes .npy files
// and calls the `lora_entry_<name>` functions of a compiled shared object,
// passing one memref descriptor per argument (inputs, then outputs).
// Model.h loads a whole `lora-compile` artifact folder on top of this.
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

/// Converts IEEE binary16 bits to float; exact for every value.
float halfToFloat(uint16_t bits);
/// Converts bfloat16 bits to float; exact (bf16 is the top half of a float).
float bfloat16ToFloat(uint16_t bits);
/// Rounds `value` once, to nearest with ties to even, to IEEE binary16 bits:
/// subnormals are kept, values beyond the largest half overflow to infinity,
/// NaN becomes a quiet NaN. (Rounding a double through float first could round
/// twice; this never does.)
uint16_t doubleToHalf(double value);
/// Rounds `value` once, to nearest with ties to even, to bfloat16 bits, like
/// doubleToHalf().
uint16_t doubleToBFloat16(double value);
/// True for the element types storeFloat() writes: f32, f64, f16, bf16.
bool isFloatDType(DType dtype);
/// Stores `value` as one element of the float type `dtype` at `out` (native
/// byte order), rounding once to nearest even. `dtype` must be a float type.
void storeFloat(double value, DType dtype, void *out);

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

  int64_t numElements() const;
  /// numElements() * dtypeSize(dtype).
  size_t numBytes() const;
};

/// A shape as "2x16" ("scalar" for rank 0), for messages.
std::string formatShape(const std::vector<int64_t> &shape);

/// The type of a tensor as compiled code spells it in `lora_signature_<name>`:
/// "f32[2x16]", "i64[]" for a scalar.
std::string formatTensorType(DType dtype, const std::vector<int64_t> &shape);

/// The string `lora_signature_<name>` of code compiled for these arguments and
/// outputs: their tensor types joined by ",", then "->", then the outputs',
/// e.g. "i64[2x16],f32[128x64]->f32[2x16x128]".
std::string formatSignature(const std::vector<TensorSpec> &arguments,
                            const std::vector<TensorSpec> &outputs);

/// A compiled function in a shared object.
class CompiledFunction {
public:
  /// Opens `soPath` and finds `lora_entry_<name>` (and, if the library has
  /// it, `lora_signature_<name>`).
  static std::unique_ptr<CompiledFunction>
  load(const std::string &soPath, const std::string &name,
       std::vector<TensorSpec> inputs, std::vector<TensorSpec> outputs,
       std::string &error);
  ~CompiledFunction();
  CompiledFunction(const CompiledFunction &) = delete;
  CompiledFunction &operator=(const CompiledFunction &) = delete;

  /// The entry point's name (`main`, `eval_step`, ...).
  const std::string &name() const { return entryName; }
  const std::vector<TensorSpec> &inputs() const { return inputSpecs; }
  const std::vector<TensorSpec> &outputs() const { return outputSpecs; }

  /// The library's `lora_signature_<name>` string, or nullptr when it has
  /// none. Compare it with formatSignature(inputs(), outputs()).
  const char *librarySignature() const { return signature; }

  /// Checks `inputs` against the signature and runs the function.
  bool run(const std::vector<const Tensor *> &inputs,
           std::vector<Tensor> &outputs, std::string &error);

  /// Runs the function on dense row-major buffers: `inputs[i]` holds input i
  /// and `outputs[i]` receives output i, each with the dtype and shape of its
  /// spec. Nothing is checked; the buffers may live anywhere (e.g. in a
  /// mapped weights file).
  void call(const void *const *inputs, void *const *outputs);

private:
  CompiledFunction() = default;
  void *handle = nullptr;
  void (*entry)(void **) = nullptr;
  const char *signature = nullptr;
  std::string entryName;
  std::vector<TensorSpec> inputSpecs, outputSpecs;
};

} // namespace lora_runtime

#endif // LORA_RUNTIME_RUNTIME_H
