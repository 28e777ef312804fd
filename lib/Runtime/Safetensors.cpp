//===- Safetensors.cpp - read and write .safetensors files ----------------===//

#include "lora/Runtime/Safetensors.h"

#include "lora/Runtime/Json.h"
#include "lora/Runtime/Runtime.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <string_view>
#include <unistd.h>
#include <unordered_set>

using namespace lora_runtime;

namespace {

struct DTypeSize {
  const char *name;
  size_t size;
};

/// Every element type of the format; only F32, F16 and BF16 can be read.
/// In the order of the Python library's Dtype enum, which orders the tensors
/// of the files it writes (see writeSafetensors).
constexpr DTypeSize kDTypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
    {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
    {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8},
};

size_t elementSize(const std::string &dtype) {
  for (const DTypeSize &entry : kDTypes)
    if (dtype == entry.name)
      return entry.size;
  return 0;
}

uint64_t readLittleEndian64(const uint8_t *bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i)
    value = value << 8 | bytes[i];
  return value;
}

uint16_t readLittleEndian16(const uint8_t *bytes) {
  return static_cast<uint16_t>(bytes[0] | bytes[1] << 8);
}

float readLittleEndianFloat(const uint8_t *bytes) {
  uint32_t bits = 0;
  for (int i = 3; i >= 0; --i)
    bits = bits << 8 | bytes[i];
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

/// Parses one tensor entry of the header against the data section
/// [data, data + dataSize).
bool parseEntry(const std::string &path, const std::string &name,
                const json::Value &entry, const uint8_t *data,
                uint64_t dataSize, SafetensorsTensor &tensor,
                std::string &error) {
  auto fail = [&](const std::string &message) {
    error = path + ": tensor '" + name + "': " + message;
    return false;
  };
  if (!entry.isObject())
    return fail("header entry is " + entry.describe() + ", not an object");
  tensor.name = name;

  const json::Value *dtype = entry.get("dtype");
  if (!dtype || !dtype->getString())
    return fail("\"dtype\" is missing or not a string");
  tensor.dtype = *dtype->getString();
  size_t size = elementSize(tensor.dtype);
  if (size == 0)
    return fail("unknown dtype '" + tensor.dtype + "'");

  const json::Value *shape = entry.get("shape");
  if (!shape || !shape->getArray())
    return fail("\"shape\" is missing or not an array");
  uint64_t bytes = size;
  for (const json::Value &dim : *shape->getArray()) {
    std::optional<int64_t> value = dim.getInteger();
    if (!value || *value < 0)
      return fail("\"shape\" has " + dim.describe() +
                  ", not a non-negative integer");
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(*value), &bytes))
      return fail("\"shape\" is too large to address");
    tensor.shape.push_back(*value);
  }

  const json::Value *offsets = entry.get("data_offsets");
  const std::vector<json::Value> *pair =
      offsets ? offsets->getArray() : nullptr;
  std::optional<int64_t> begin, end;
  if (pair && pair->size() == 2) {
    begin = (*pair)[0].getInteger();
    end = (*pair)[1].getInteger();
  }
  if (!begin || !end || *begin < 0 || *end < *begin)
    return fail("\"data_offsets\" must be [begin, end] with 0 <= begin <= "
                "end");
  std::string range =
      "[" + std::to_string(*begin) + ", " + std::to_string(*end) + "]";
  if (static_cast<uint64_t>(*end) > dataSize)
    return fail("data_offsets " + range +
                " reach past the end of the data section (" +
                std::to_string(dataSize) + " bytes); is the file truncated?");
  if (static_cast<uint64_t>(*end - *begin) != bytes)
    return fail(tensor.dtype + " tensor of shape " + formatShape(tensor.shape) +
                " needs " + std::to_string(bytes) + " bytes but data_offsets " +
                range + " span " + std::to_string(*end - *begin));
  tensor.numBytes = bytes;
  tensor.data = data + *begin;
  return true;
}

} // namespace

int64_t SafetensorsTensor::numElements() const {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string &path,
                                                       std::string &error) {
  std::unique_ptr<SafetensorsFile> result(new SafetensorsFile());
  result->filePath = path;
  if (!MappedFile::open(path, MappedFile::Access::ReadOnly, result->file,
                        error))
    return nullptr;
  const uint8_t *bytes = result->file.data();
  uint64_t size = result->file.size();
  if (size < 8) {
    error = path + ": the file is truncated: it has " + std::to_string(size) +
            " bytes, and a safetensors file starts with an 8-byte header "
            "size";
    return nullptr;
  }
  uint64_t headerSize = readLittleEndian64(bytes);
  if (headerSize > size - 8) {
    error = path + ": the header size " + std::to_string(headerSize) +
            " reaches past the end of the file (" + std::to_string(size - 8) +
            " bytes follow the size field); the file is truncated or not a "
            "safetensors file";
    return nullptr;
  }
  json::Value header;
  std::string parseError;
  if (!json::parse(std::string_view(reinterpret_cast<const char *>(bytes) + 8,
                                    headerSize),
                   header, parseError)) {
    error = path + ": the header is not valid JSON: " + parseError;
    return nullptr;
  }
  if (!header.isObject()) {
    error =
        path + ": the header is " + header.describe() + ", not a JSON object";
    return nullptr;
  }
  const uint8_t *data = bytes + 8 + headerSize;
  uint64_t dataSize = size - 8 - headerSize;
  for (size_t i = 0; i < header.getNumMembers(); ++i) {
    const std::string &name = header.getKey(i);
    if (name == "__metadata__")
      continue;
    SafetensorsTensor tensor;
    if (!parseEntry(path, name, header.getMember(i), data, dataSize, tensor,
                    error))
      return nullptr;
    result->indexByName[name] = result->entries.size();
    result->entries.push_back(std::move(tensor));
  }
  return result;
}

const SafetensorsTensor *SafetensorsFile::find(const std::string &name) const {
  auto it = indexByName.find(name);
  return it == indexByName.end() ? nullptr : &entries[it->second];
}

bool SafetensorsFile::readDoubles(const SafetensorsTensor &tensor,
                                  std::vector<double> &values,
                                  std::string &error) const {
  size_t count = tensor.numElements();
  values.resize(count);
  const uint8_t *bytes = tensor.data;
  if (tensor.dtype == "F32") {
    for (size_t i = 0; i < count; ++i)
      values[i] = readLittleEndianFloat(bytes + 4 * i);
  } else if (tensor.dtype == "F16") {
    for (size_t i = 0; i < count; ++i)
      values[i] = halfToFloat(readLittleEndian16(bytes + 2 * i));
  } else if (tensor.dtype == "BF16") {
    for (size_t i = 0; i < count; ++i)
      values[i] = bfloat16ToFloat(readLittleEndian16(bytes + 2 * i));
  } else {
    error = "tensor '" + tensor.name + "' in " + filePath + " has dtype " +
            tensor.dtype + "; supported: F32, F16, BF16";
    return false;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Writer
//===----------------------------------------------------------------------===//

const char *lora_runtime::safetensorsDTypeName(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "F32";
  case DType::F64:
    return "F64";
  case DType::F16:
    return "F16";
  case DType::BF16:
    return "BF16";
  case DType::I64:
    return "I64";
  case DType::I32:
    return "I32";
  case DType::I16:
    return "I16";
  case DType::I8:
    return "I8";
  case DType::U8:
    return "U8";
  case DType::Bool:
    return "BOOL";
  }
  return nullptr;
}

namespace {

/// Appends `text` as a JSON string, escaped like serde_json (which the
/// Python library uses) escapes it: `"`, `\`, \b \t \n \f \r, other control
/// characters as \u00xx; everything else, UTF-8 included, verbatim.
void appendJsonString(std::string &out, std::string_view text) {
  out += '"';
  for (char c : text) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\f':
      out += "\\f";
      break;
    case '\r':
      out += "\\r";
      break;
    default:
      if (unsigned char byte = static_cast<unsigned char>(c); byte < 0x20) {
        const char *hex = "0123456789abcdef";
        out += "\\u00";
        out += hex[byte >> 4];
        out += hex[byte & 0xf];
      } else {
        out += c;
      }
    }
  }
  out += '"';
}

/// Whether `text` is valid UTF-8, as the JSON reader (and the Python
/// library, whose strings are Rust strings) requires.
bool isValidUtf8(std::string_view text) {
  std::string quoted;
  appendJsonString(quoted, text);
  json::Value value;
  std::string ignored;
  return json::parse(quoted, value, ignored);
}

/// A checked entry, with its dtype name and its place in the file order.
struct Planned {
  const SafetensorsEntry *entry;
  const char *dtype;
  /// Index of the dtype in kDTypes: the Python library's order.
  size_t rank;
};

/// Writes all of [data, data + size) to `fd`.
bool writeAll(int fd, const void *data, size_t size) {
  const char *bytes = static_cast<const char *>(data);
  while (size > 0) {
    ssize_t written = ::write(fd, bytes, size);
    if (written < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    bytes += written;
    size -= static_cast<size_t>(written);
  }
  return true;
}

/// Writes `header` and the data of `plan` to `path` through a temporary
/// file in the same folder, renamed over `path` once complete and synced.
bool writeFileAtomically(const std::string &path, const std::string &header,
                         const std::vector<Planned> &plan, std::string &error) {
  // pid + counter: unique among concurrent writers in this and other
  // processes; O_EXCL catches a stale file of a crashed process.
  static std::atomic<unsigned> counter{0};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0 && attempt < 100; ++attempt) {
    tmp = path + ".tmp." + std::to_string(::getpid()) + "." +
          std::to_string(counter++);
    // 0666 minus the umask, like any other file the runtime writes.
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST)
      break;
  }
  if (fd < 0) {
    int code = errno;
    error = "cannot write '" + path + "': cannot create '" + tmp +
            "': " + std::strerror(code);
    return false;
  }
  auto fail = [&](const std::string &what) {
    int code = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    error = "cannot write '" + path + "': " + what + ": " + std::strerror(code);
    return false;
  };

  char size[8];
  for (int i = 0; i < 8; ++i)
    size[i] = static_cast<char>(static_cast<uint64_t>(header.size()) >> 8 * i);
  if (!writeAll(fd, size, sizeof(size)) ||
      !writeAll(fd, header.data(), header.size()))
    return fail("writing '" + tmp + "' failed");
  for (const Planned &planned : plan)
    if (!writeAll(fd, planned.entry->data, planned.entry->numBytes))
      return fail("writing '" + tmp + "' failed");
  // Without the sync, a crash soon after the rename could leave `path`
  // empty on some file systems.
  if (::fsync(fd) != 0)
    return fail("syncing '" + tmp + "' failed");
  if (::close(fd) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
    int code = errno;
    ::unlink(tmp.c_str());
    error = "cannot write '" + path + "': moving '" + tmp +
            "' there failed: " + std::strerror(code);
    return false;
  }
  return true;
}

} // namespace

bool lora_runtime::writeSafetensors(
    const std::string &path, const std::vector<SafetensorsEntry> &entries,
    const std::map<std::string, std::string> &metadata, std::string &error) {
  std::vector<Planned> plan;
  plan.reserve(entries.size());
  std::unordered_set<std::string_view> names;
  for (const SafetensorsEntry &entry : entries) {
    auto fail = [&](const std::string &message) {
      error = "cannot write '" + path + "': tensor '" + entry.name +
              "': " + message;
      return false;
    };
    if (entry.name.empty()) {
      error = "cannot write '" + path + "': a tensor has an empty name";
      return false;
    }
    if (entry.name == "__metadata__")
      return fail("the name is reserved for the metadata");
    if (!isValidUtf8(entry.name))
      return fail("the name is not valid UTF-8");
    if (!names.insert(entry.name).second)
      return fail("the name appears twice");
    const char *dtype = safetensorsDTypeName(entry.dtype);
    if (!dtype)
      return fail("unknown dtype " +
                  std::to_string(static_cast<int>(entry.dtype)));
    size_t rank = 0;
    while (std::strcmp(kDTypes[rank].name, dtype) != 0)
      ++rank;
    uint64_t bytes = kDTypes[rank].size;
    for (int64_t dim : entry.shape) {
      if (dim < 0)
        return fail("shape " + formatShape(entry.shape) +
                    " has a negative dim");
      if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes))
        return fail("shape " + formatShape(entry.shape) +
                    " is too large to address");
    }
    if (bytes != entry.numBytes)
      return fail(std::string(dtype) + " tensor of shape " +
                  formatShape(entry.shape) + " needs " + std::to_string(bytes) +
                  " bytes, got " + std::to_string(entry.numBytes));
    if (!entry.data && entry.numBytes != 0)
      return fail("data is null");
    plan.push_back({&entry, dtype, rank});
  }
  for (const auto &[key, value] : metadata)
    if (!isValidUtf8(key) || !isValidUtf8(value)) {
      error = "cannot write '" + path + "': metadata entry '" + key +
              "' is not valid UTF-8";
      return false;
    }

  std::sort(plan.begin(), plan.end(),
            [](const Planned &lhs, const Planned &rhs) {
              if (lhs.rank != rhs.rank)
                return lhs.rank > rhs.rank;
              return lhs.entry->name < rhs.entry->name;
            });

  // Compact JSON, byte for byte as the Python library writes it.
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    for (const auto &[key, value] : metadata) {
      if (header.back() != '{')
        header += ',';
      appendJsonString(header, key);
      header += ':';
      appendJsonString(header, value);
    }
    header += '}';
  }
  uint64_t offset = 0;
  for (const Planned &planned : plan) {
    if (header.size() > 1)
      header += ',';
    appendJsonString(header, planned.entry->name);
    header += ":{\"dtype\":\"";
    header += planned.dtype;
    header += "\",\"shape\":[";
    for (size_t i = 0; i < planned.entry->shape.size(); ++i)
      header += (i ? "," : "") + std::to_string(planned.entry->shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + ",";
    if (__builtin_add_overflow(offset, planned.entry->numBytes, &offset)) {
      error = "cannot write '" + path + "': the tensors are too large";
      return false;
    }
    header += std::to_string(offset) + "]}";
  }
  header += '}';
  // The data section starts after the 8-byte size and the header; spaces
  // keep it 8-byte aligned.
  header.append((8 - header.size() % 8) % 8, ' ');

  return writeFileAtomically(path, header, plan, error);
}
