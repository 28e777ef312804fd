//===- Safetensors.cpp - read .safetensors files in the runtime -----------===//

#include "lora/Runtime/Safetensors.h"

#include "lora/Runtime/Json.h"
#include "lora/Runtime/Runtime.h"

#include <cstring>

using namespace lora_runtime;

namespace {

struct DTypeSize {
  const char *name;
  size_t size;
};

/// Every element type of the format; only F32, F16 and BF16 can be read.
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
