//===- Safetensors.h - read .safetensors files in the runtime ---*- C++ -*-===//
//
// The safetensors format (https://github.com/huggingface/safetensors):
//
//   u64 N (little-endian) | N bytes of JSON header | data section
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets":
// [begin, end]}, offsets relative to the first byte of the data section; the
// "__metadata__" entry is ignored. lib/Adapter has a reader too, but it links
// LLVM, which the runtime must not.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_RUNTIME_SAFETENSORS_H
#define LORA_RUNTIME_SAFETENSORS_H

#include "lora/Runtime/MappedFile.h"

#include <cstdint>
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

} // namespace lora_runtime

#endif // LORA_RUNTIME_SAFETENSORS_H
