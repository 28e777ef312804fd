//===- Safetensors.h - read and write .safetensors files --------*- C++ -*-===//
//
// The safetensors format (https://github.com/huggingface/safetensors):
//
//   u64 N (little-endian) | N bytes of JSON header | data section
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets":
// [begin, end]}, offsets relative to the first byte of the data section; the
// reader ignores the "__metadata__" entry. lib/Adapter has a reader and a
// writer too, but it links LLVM, which the runtime must not.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_RUNTIME_SAFETENSORS_H
#define LORA_RUNTIME_SAFETENSORS_H

#include "lora/Runtime/MappedFile.h"
#include "lora/Runtime/Runtime.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace lora_runtime {

/// One tensor of a SafetensorsFile: a view of the mapped file.
struct SafetensorsTensor {
  std::string name;
  /// The header's spelling of the element type: "F32", "BF16", ...
  std::string dtype;
  std::vector<int64_t> shape;
  /// The tensor's little-endian, row-major bytes; valid while the file that
  /// handed them out is alive.
  const uint8_t *data = nullptr;
  size_t numBytes = 0;

  /// Product of the dims (1 for a scalar).
  int64_t numElements() const;
};

/// A memory-mapped safetensors file whose header has been checked.
class SafetensorsFile {
public:
  /// Maps `path` and checks it: the file holds the 8-byte header size and
  /// the header, the header is a JSON object, every tensor has a known dtype,
  /// a shape of non-negative dims and data_offsets [begin, end] inside the
  /// data section spanning numel * dtype size bytes. Errors name the file
  /// and, where one is at fault, the tensor.
  static std::unique_ptr<SafetensorsFile> open(const std::string &path,
                                               std::string &error);

  const std::string &path() const { return filePath; }

  /// The tensors in header order.
  const std::vector<SafetensorsTensor> &tensors() const { return entries; }

  /// The tensor called `name`, or nullptr.
  const SafetensorsTensor *find(const std::string &name) const;

  /// The elements of an F32, F16 or BF16 tensor, row-major, widened exactly
  /// to double. Fails, naming the tensor and the file, for other dtypes.
  bool readDoubles(const SafetensorsTensor &tensor, std::vector<double> &values,
                   std::string &error) const;

private:
  SafetensorsFile() = default;
  std::string filePath;
  MappedFile file;
  std::vector<SafetensorsTensor> entries;
  std::unordered_map<std::string, size_t> indexByName;
};

/// The format's name of `dtype` ("F32", "BF16", ...), or nullptr for a
/// value outside the enum.
const char *safetensorsDTypeName(DType dtype);

/// One tensor to write: its name, element type, shape and little-endian,
/// row-major bytes (numBytes of them at data, which may be nullptr when
/// numBytes is 0).
struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void *data = nullptr;
  size_t numBytes = 0;
};

/// Writes `entries`, and `metadata` as the "__metadata__" object (omitted
/// when empty), to `path` the way the Python safetensors library does: the
/// compact JSON header lists "__metadata__" first, then the tensors by
/// descending dtype (U64, I64, F64, F32, ..., I8, U8, BOOL: the library's
/// order) and by name (bytewise) within a dtype, each as {"dtype", "shape",
/// "data_offsets"}; the data section follows in the same order. The header
/// is padded with spaces so that the data starts 8-byte aligned. Metadata
/// keys are written in sorted order (the library's order is a hash order).
///
/// The file is written to a temporary file in the folder of `path`, synced
/// and renamed over `path`: on failure `path` is left as it was and the
/// temporary file is removed. Fails, with `error` naming `path` and the
/// tensor at fault, on an empty, duplicate or "__metadata__" name, a name or
/// metadata string that is not valid UTF-8, a negative dim, numBytes other
/// than numel * dtype size, and any I/O error.
bool writeSafetensors(const std::string &path,
                      const std::vector<SafetensorsEntry> &entries,
                      const std::map<std::string, std::string> &metadata,
                      std::string &error);

} // namespace lora_runtime

#endif // LORA_RUNTIME_SAFETENSORS_H
