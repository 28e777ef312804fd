//===- Safetensors.h - read and write .safetensors files --------*- C++ -*-===//
//
// The safetensors format (https://github.com/huggingface/safetensors):
//
//   u64 N (little-endian) | N bytes of JSON header | data section
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets":
// [begin, end]}, offsets relative to the first byte of the data section; the
// optional "__metadata__" entry maps strings to strings. Tensor data is
// little-endian, row-major, and the data section is covered exactly once by
// the tensors' ranges (no overlaps, no holes), which the reader checks.
//
// The reader maps the file and hands out views of its bytes; nothing is
// copied until a caller asks for floats.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_ADAPTER_SAFETENSORS_H
#define LORA_ADAPTER_SAFETENSORS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir::lora {

/// Element types of the safetensors format, named as in its header.
enum class SafetensorsDType {
  Bool,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  F64,
  I64,
  U64,
};

/// The header spelling of `dtype`: "F32", "BF16", "BOOL", ...
llvm::StringRef getSafetensorsDTypeName(SafetensorsDType dtype);

/// Parses a header spelling; std::nullopt for names the format does not have.
std::optional<SafetensorsDType> parseSafetensorsDType(llvm::StringRef name);

/// Size in bytes of one element of `dtype`.
size_t getSafetensorsDTypeSize(SafetensorsDType dtype);

/// True for the element types readFloat() converts: F32, F16 and BF16.
bool isSafetensorsFloatDType(SafetensorsDType dtype);

/// Converts IEEE binary16 bits to float; exact for every value (subnormals,
/// infinities and NaNs included).
float halfBitsToFloat(uint16_t bits);

/// Converts a float to IEEE binary16 bits, rounding to nearest, ties to even;
/// values beyond the largest half overflow to infinity, NaN stays NaN.
uint16_t floatToHalfBits(float value);

/// Converts bfloat16 bits to float (exact: bf16 is the top half of a float).
float bfloat16BitsToFloat(uint16_t bits);

/// Converts a float to bfloat16 bits, rounding to nearest, ties to even;
/// NaN stays NaN.
uint16_t floatToBFloat16Bits(float value);

/// One tensor of an open SafetensorsFile: a view into the mapped file.
struct SafetensorsTensor {
  std::string name;
  SafetensorsDType dtype;
  llvm::SmallVector<int64_t> shape;
  /// The tensor's bytes in the file, little-endian, row-major. Valid while
  /// the SafetensorsFile that handed it out is alive.
  llvm::ArrayRef<char> data;

  /// Product of the dims (1 for a scalar).
  int64_t getNumElements() const;
};

/// A validated, memory-mapped safetensors file.
class SafetensorsFile {
public:
  /// Maps `path` and checks the header against the format: the header size
  /// fits the file, the header is a JSON object, each tensor has a known
  /// dtype, non-negative dims and a [begin, end) range inside the data
  /// section whose length is numel * dtype size, and the ranges cover the
  /// data section without overlaps or holes. Errors name the file and, where
  /// one is at fault, the tensor.
  static llvm::Expected<SafetensorsFile> open(llvm::StringRef path);

  /// The path this file was opened from.
  llvm::StringRef getPath() const { return path; }

  /// All tensors, sorted by name.
  llvm::ArrayRef<SafetensorsTensor> getTensors() const { return tensors; }

  /// The tensor called `name`, or nullptr.
  const SafetensorsTensor *lookup(llvm::StringRef name) const;

  /// The "__metadata__" entries (empty when the header has none).
  const std::map<std::string, std::string> &getMetadata() const {
    return metadata;
  }

  /// The elements of tensor `name` as floats, row-major; F16 and BF16 are
  /// widened exactly. Fails when there is no such tensor or its dtype is not
  /// F32, F16 or BF16.
  llvm::Expected<std::vector<float>> readFloat(llvm::StringRef name) const;

  /// Same as readFloat(name) for a tensor of this file.
  llvm::Expected<std::vector<float>>
  readFloat(const SafetensorsTensor &tensor) const;

private:
  SafetensorsFile() = default;

  std::string path;
  std::unique_ptr<llvm::MemoryBuffer> buffer;
  std::vector<SafetensorsTensor> tensors;
  llvm::StringMap<size_t> indexByName;
  std::map<std::string, std::string> metadata;
};

/// A tensor to write: name, element type, shape and its little-endian,
/// row-major bytes (numel * dtype size of them).
struct SafetensorsTensorRef {
  llvm::StringRef name;
  SafetensorsDType dtype;
  llvm::ArrayRef<int64_t> shape;
  llvm::ArrayRef<char> data;
};

/// A float tensor to write in some float dtype.
struct SafetensorsFloatTensorRef {
  llvm::StringRef name;
  llvm::ArrayRef<int64_t> shape;
  llvm::ArrayRef<float> values;
};

/// Writes `tensors` and `metadata` to `path` the way the Python safetensors
/// library does: header entries and data in name order, the JSON header
/// padded with spaces to a multiple of 8 bytes. The file is written to a
/// temporary file in the same directory and renamed over `path`, so on
/// failure `path` is left as it was. Fails on duplicate or reserved names
/// ("__metadata__"), negative dims and byte counts that do not match the
/// shape.
llvm::Error
writeSafetensors(llvm::StringRef path,
                 llvm::ArrayRef<SafetensorsTensorRef> tensors,
                 const std::map<std::string, std::string> &metadata = {});

/// Like writeSafetensors(), converting every tensor's floats to `dtype`
/// (F32, F16 or BF16; round to nearest even).
llvm::Error
writeSafetensorsFloat(llvm::StringRef path,
                      llvm::ArrayRef<SafetensorsFloatTensorRef> tensors,
                      SafetensorsDType dtype,
                      const std::map<std::string, std::string> &metadata = {});

} // namespace mlir::lora

#endif // LORA_ADAPTER_SAFETENSORS_H
