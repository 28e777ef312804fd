//===- MappedFile.h - a file mapped into memory -----------------*- C++ -*-===//

#ifndef LORA_RUNTIME_MAPPEDFILE_H
#define LORA_RUNTIME_MAPPEDFILE_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace lora_runtime {

/// A regular file mapped into memory with mmap, unmapped on destruction.
class MappedFile {
public:
  enum class Access {
    /// The mapping can only be read.
    ReadOnly,
    /// The mapping can be written, but writes stay private to this process
    /// (MAP_PRIVATE): compiled code that writes into a weight can never
    /// change the file.
    CopyOnWrite,
  };

  /// Maps all of `path`. An empty file gives an empty mapping (data() is
  /// nullptr). Errors name the path and the reason.
  static bool open(const std::string &path, Access access, MappedFile &file,
                   std::string &error);

  MappedFile() = default;
  MappedFile(MappedFile &&other) noexcept;
  MappedFile &operator=(MappedFile &&other) noexcept;
  MappedFile(const MappedFile &) = delete;
  MappedFile &operator=(const MappedFile &) = delete;
  ~MappedFile();

  uint8_t *data() const { return bytes; }
  size_t size() const { return length; }

private:
  void reset();
  uint8_t *bytes = nullptr;
  size_t length = 0;
};

} // namespace lora_runtime

#endif // LORA_RUNTIME_MAPPEDFILE_H
