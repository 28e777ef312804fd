//===- MappedFile.cpp - a file mapped into memory -------------------------===//

#include "lora/Runtime/MappedFile.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace lora_runtime;

bool MappedFile::open(const std::string &path, Access access, MappedFile &file,
                      std::string &error) {
  file.reset();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  struct stat status;
  if (fstat(fd, &status) != 0) {
    error = "cannot read '" + path + "': " + std::strerror(errno);
    ::close(fd);
    return false;
  }
  if (!S_ISREG(status.st_mode)) {
    error = "'" + path + "' is not a regular file";
    ::close(fd);
    return false;
  }
  size_t size = static_cast<size_t>(status.st_size);
  if (size == 0) { // mmap rejects empty mappings.
    ::close(fd);
    return true;
  }
  int protection =
      access == Access::CopyOnWrite ? PROT_READ | PROT_WRITE : PROT_READ;
  void *mapping = mmap(nullptr, size, protection, MAP_PRIVATE, fd, 0);
  int mapErrno = errno;
  ::close(fd); // The mapping keeps the file alive.
  if (mapping == MAP_FAILED) {
    error = "cannot map '" + path + "': " + std::strerror(mapErrno);
    return false;
  }
  file.bytes = static_cast<uint8_t *>(mapping);
  file.length = size;
  return true;
}

MappedFile::MappedFile(MappedFile &&other) noexcept
    : bytes(other.bytes), length(other.length) {
  other.bytes = nullptr;
  other.length = 0;
}

MappedFile &MappedFile::operator=(MappedFile &&other) noexcept {
  if (this != &other) {
    reset();
    bytes = other.bytes;
    length = other.length;
    other.bytes = nullptr;
    other.length = 0;
  }
  return *this;
}

MappedFile::~MappedFile() { reset(); }

void MappedFile::reset() {
  if (bytes)
    munmap(bytes, length);
  bytes = nullptr;
  length = 0;
}
