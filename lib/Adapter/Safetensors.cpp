//===- Safetensors.cpp - read and write .safetensors files ----------------===//

#include "lora/Adapter/Safetensors.h"

#include "Support.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/bit.h"
#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <tuple>

using namespace llvm;
using namespace mlir::lora;

namespace {

struct DTypeInfo {
  SafetensorsDType dtype;
  const char *name;
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {SafetensorsDType::Bool, "BOOL", 1},
    {SafetensorsDType::U8, "U8", 1},
    {SafetensorsDType::I8, "I8", 1},
    {SafetensorsDType::F8_E5M2, "F8_E5M2", 1},
    {SafetensorsDType::F8_E4M3, "F8_E4M3", 1},
    {SafetensorsDType::I16, "I16", 2},
    {SafetensorsDType::U16, "U16", 2},
    {SafetensorsDType::F16, "F16", 2},
    {SafetensorsDType::BF16, "BF16", 2},
    {SafetensorsDType::I32, "I32", 4},
    {SafetensorsDType::U32, "U32", 4},
    {SafetensorsDType::F32, "F32", 4},
    {SafetensorsDType::F64, "F64", 8},
    {SafetensorsDType::I64, "I64", 8},
    {SafetensorsDType::U64, "U64", 8},
};

const DTypeInfo &getInfo(SafetensorsDType dtype) {
  for (const DTypeInfo &info : kDTypes)
    if (info.dtype == dtype)
      return info;
  llvm_unreachable("every SafetensorsDType is in kDTypes");
}

constexpr StringLiteral kMetadataKey = "__metadata__";

/// Elements of a tensor of `shape`; std::nullopt for a negative dim or
/// overflow.
std::optional<int64_t> getNumElements(ArrayRef<int64_t> shape) {
  std::optional<int64_t> count = 1;
  for (int64_t dim : shape) {
    if (dim < 0)
      return std::nullopt;
    count = checkedMul(*count, dim);
    if (!count)
      return std::nullopt;
  }
  return count;
}

/// Bytes of a `dtype` tensor of `shape`; std::nullopt for a negative dim or
/// more than 2^63 bytes.
std::optional<int64_t> getByteSize(SafetensorsDType dtype,
                                   ArrayRef<int64_t> shape) {
  std::optional<int64_t> count = getNumElements(shape);
  if (!count)
    return std::nullopt;
  return checkedMul(*count, static_cast<int64_t>(getInfo(dtype).size));
}

Error fileError(StringRef path, const Twine &message) {
  return createStringError(path + ": " + message);
}

/// Reads a non-negative integer that fits int64_t from a JSON value.
std::optional<int64_t> getNonNegativeInteger(const json::Value &value) {
  std::optional<int64_t> integer = value.getAsInteger();
  if (!integer || *integer < 0)
    return std::nullopt;
  return integer;
}

/// Parses one tensor entry of the header; checks everything that does not
/// depend on the other tensors.
Expected<SafetensorsTensor> parseTensorEntry(StringRef path, StringRef name,
                                             const json::Value &value,
                                             uint64_t dataSize, uint64_t &begin,
                                             uint64_t &end) {
  auto error = [&](const Twine &message) {
    return fileError(path, "tensor '" + name + "': " + message);
  };
  const json::Object *entry = value.getAsObject();
  if (!entry)
    return error("header entry is not a JSON object");

  SafetensorsTensor tensor;
  tensor.name = name.str();

  std::optional<StringRef> dtypeName = entry->getString("dtype");
  if (!dtypeName)
    return error("\"dtype\" is missing or not a string");
  std::optional<SafetensorsDType> dtype = parseSafetensorsDType(*dtypeName);
  if (!dtype)
    return error("unknown dtype '" + *dtypeName + "'");
  tensor.dtype = *dtype;

  const json::Array *shape = entry->getArray("shape");
  if (!shape)
    return error("\"shape\" is missing or not an array");
  for (const json::Value &dim : *shape) {
    std::optional<int64_t> size = getNonNegativeInteger(dim);
    if (!size)
      return error("\"shape\" has an entry that is not a non-negative "
                   "integer");
    tensor.shape.push_back(*size);
  }

  const json::Array *offsets = entry->getArray("data_offsets");
  if (!offsets || offsets->size() != 2)
    return error("\"data_offsets\" is missing or not an array of two "
                 "integers");
  std::optional<int64_t> first = getNonNegativeInteger((*offsets)[0]);
  std::optional<int64_t> second = getNonNegativeInteger((*offsets)[1]);
  if (!first || !second)
    return error("\"data_offsets\" has an entry that is not a non-negative "
                 "integer");
  begin = *first;
  end = *second;
  if (begin > end)
    return error("data_offsets [" + Twine(begin) + ", " + Twine(end) +
                 "] end before they begin");
  if (end > dataSize)
    return error("data_offsets [" + Twine(begin) + ", " + Twine(end) +
                 "] reach past the data section, which has " + Twine(dataSize) +
                 " bytes");

  std::optional<int64_t> bytes = getByteSize(*dtype, tensor.shape);
  if (!bytes)
    return error("shape " + formatShape(tensor.shape) +
                 " has more bytes than fit in 64 bits");
  if (static_cast<uint64_t>(*bytes) != end - begin)
    return error("header lies about sizes: " + *dtypeName + " " +
                 formatShape(tensor.shape) + " needs " + Twine(*bytes) +
                 " bytes but data_offsets [" + Twine(begin) + ", " +
                 Twine(end) + "] span " + Twine(end - begin));
  return tensor;
}

} // namespace

//===----------------------------------------------------------------------===//
// Element types and conversions
//===----------------------------------------------------------------------===//

StringRef mlir::lora::getSafetensorsDTypeName(SafetensorsDType dtype) {
  return getInfo(dtype).name;
}

std::optional<SafetensorsDType>
mlir::lora::parseSafetensorsDType(StringRef name) {
  for (const DTypeInfo &info : kDTypes)
    if (name == info.name)
      return info.dtype;
  return std::nullopt;
}

size_t mlir::lora::getSafetensorsDTypeSize(SafetensorsDType dtype) {
  return getInfo(dtype).size;
}

bool mlir::lora::isSafetensorsFloatDType(SafetensorsDType dtype) {
  return dtype == SafetensorsDType::F32 || dtype == SafetensorsDType::F16 ||
         dtype == SafetensorsDType::BF16;
}

float mlir::lora::halfBitsToFloat(uint16_t bits) {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000) << 16;
  uint32_t exponent = (bits >> 10) & 0x1f;
  uint32_t mantissa = bits & 0x3ff;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return bit_cast<float>(sign | bit_cast<uint32_t>(magnitude));
  }
  if (exponent == 0x1f) // Infinity or NaN (payload kept).
    return bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  // Rebias the exponent from 15 to 127.
  return bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t mlir::lora::floatToHalfBits(float value) {
  uint32_t bits = bit_cast<uint32_t>(value);
  uint16_t sign = (bits >> 16) & 0x8000;
  bits &= 0x7fffffff;
  if (bits > 0x7f800000) // NaN: quiet it, keep the payload's top bits.
    return sign | 0x7e00 | ((bits >> 13) & 0x3ff);
  // 65520 is halfway between the largest half (65504) and 2^16; the tie
  // goes to the even neighbour, which is infinity.
  if (bits >= 0x477ff000)
    return sign | 0x7c00;
  if (bits < 0x38800000) {
    // Below the smallest normal half (2^-14): the result is the subnormal
    // round(value / 2^-24). value = m * 2^(e-150) with the implicit bit in m,
    // so value / 2^-24 = m >> (126 - e); 2^-25 and below round to zero.
    if (bits <= 0x33000000)
      return sign;
    uint32_t exponent = bits >> 23;
    uint32_t mantissa = (bits & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - exponent;
    uint32_t result = mantissa >> shift;
    uint32_t rest = mantissa & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (result & 1)))
      ++result; // May carry into the smallest normal, which is still right.
    return sign | result;
  }
  // Normal: rebias the exponent from 127 to 15 and drop 13 mantissa bits;
  // a carry out of the mantissa correctly bumps the exponent.
  uint32_t result = (bits - 0x38000000) >> 13;
  uint32_t rest = bits & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (result & 1)))
    ++result;
  return sign | result;
}

float mlir::lora::bfloat16BitsToFloat(uint16_t bits) {
  return bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

uint16_t mlir::lora::floatToBFloat16Bits(float value) {
  uint32_t bits = bit_cast<uint32_t>(value);
  if ((bits & 0x7fffffff) > 0x7f800000) // NaN: quiet it.
    return (bits >> 16) | 0x0040;
  // Round to nearest even on the 16 bits dropped; overflow reaches infinity.
  return (bits + 0x7fff + ((bits >> 16) & 1)) >> 16;
}

//===----------------------------------------------------------------------===//
// Reader
//===----------------------------------------------------------------------===//

int64_t SafetensorsTensor::getNumElements() const {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

Expected<SafetensorsFile> SafetensorsFile::open(StringRef path) {
  // Mapped, not read: adapters and base weights can be large.
  ErrorOr<std::unique_ptr<MemoryBuffer>> buffer =
      MemoryBuffer::getFile(path, /*IsText=*/false,
                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return createStringError("cannot open '" + path +
                             "': " + buffer.getError().message());
  StringRef bytes = (*buffer)->getBuffer();
  if (bytes.size() < 8)
    return fileError(path, "file has " + Twine(bytes.size()) +
                               " bytes; a safetensors file starts with an "
                               "8-byte header size");
  uint64_t headerSize =
      support::endian::read64le(reinterpret_cast<const void *>(bytes.data()));
  if (headerSize > bytes.size() - 8)
    return fileError(path, "header size " + Twine(headerSize) +
                               " exceeds the " + Twine(bytes.size() - 8) +
                               " bytes after the size field");
  StringRef headerText = bytes.substr(8, headerSize);
  StringRef data = bytes.drop_front(8 + headerSize);

  Expected<json::Value> header = json::parse(headerText);
  if (!header)
    return fileError(path, "header is not valid JSON: " +
                               toString(header.takeError()));
  const json::Object *entries = header->getAsObject();
  if (!entries)
    return fileError(path, "header is not a JSON object");

  SafetensorsFile file;
  file.path = path.str();

  // Tensors with their byte ranges, to check coverage below.
  std::vector<std::tuple<uint64_t, uint64_t, SafetensorsTensor>> ranged;
  for (const auto &[key, value] : *entries) {
    if (key.str() == kMetadataKey) {
      const json::Object *metadata = value.getAsObject();
      if (!metadata)
        return fileError(path, "\"__metadata__\" is not a JSON object");
      for (const auto &[metaKey, metaValue] : *metadata) {
        std::optional<StringRef> text = metaValue.getAsString();
        if (!text)
          return fileError(path, "\"__metadata__\" entry '" + metaKey.str() +
                                     "' is not a string");
        file.metadata[metaKey.str()] = text->str();
      }
      continue;
    }
    uint64_t begin, end;
    Expected<SafetensorsTensor> tensor =
        parseTensorEntry(path, key, value, data.size(), begin, end);
    if (!tensor)
      return tensor.takeError();
    tensor->data = ArrayRef<char>(data.data() + begin, end - begin);
    ranged.emplace_back(begin, end, std::move(*tensor));
  }

  // The format requires the ranges to tile the data section exactly.
  llvm::sort(ranged, [](const auto &lhs, const auto &rhs) {
    return std::tie(std::get<0>(lhs), std::get<1>(lhs)) <
           std::tie(std::get<0>(rhs), std::get<1>(rhs));
  });
  uint64_t covered = 0;
  const SafetensorsTensor *previous = nullptr;
  for (const auto &[begin, end, tensor] : ranged) {
    if (begin < covered)
      return fileError(path, "tensors '" + previous->name + "' and '" +
                                 tensor.name + "' overlap (bytes [" +
                                 Twine(begin) + ", " + Twine(covered) +
                                 ") of the data section)");
    if (begin > covered)
      return fileError(path, "bytes [" + Twine(covered) + ", " + Twine(begin) +
                                 ") of the data section belong to no tensor");
    covered = end;
    previous = &tensor;
  }
  if (covered != data.size())
    return fileError(path, "bytes [" + Twine(covered) + ", " +
                               Twine(data.size()) +
                               ") of the data section belong to no tensor");

  for (auto &entry : ranged)
    file.tensors.push_back(std::move(std::get<2>(entry)));
  llvm::sort(file.tensors,
             [](const SafetensorsTensor &lhs, const SafetensorsTensor &rhs) {
               return lhs.name < rhs.name;
             });
  for (auto [index, tensor] : llvm::enumerate(file.tensors))
    file.indexByName[tensor.name] = index;
  file.buffer = std::move(*buffer);
  return file;
}

const SafetensorsTensor *SafetensorsFile::lookup(StringRef name) const {
  auto it = indexByName.find(name);
  return it == indexByName.end() ? nullptr : &tensors[it->second];
}

Expected<std::vector<float>> SafetensorsFile::readFloat(StringRef name) const {
  const SafetensorsTensor *tensor = lookup(name);
  if (!tensor)
    return createStringError("no tensor '" + name + "' in " + path);
  return readFloat(*tensor);
}

Expected<std::vector<float>>
SafetensorsFile::readFloat(const SafetensorsTensor &tensor) const {
  if (!isSafetensorsFloatDType(tensor.dtype))
    return createStringError(
        "tensor '" + tensor.name + "' in " + path + " has dtype " +
        getSafetensorsDTypeName(tensor.dtype) + "; supported: F32, F16, BF16");
  size_t count = tensor.getNumElements();
  std::vector<float> values(count);
  const char *bytes = tensor.data.data();
  switch (tensor.dtype) {
  case SafetensorsDType::F32:
    for (size_t i = 0; i < count; ++i)
      values[i] = bit_cast<float>(support::endian::read32le(bytes + 4 * i));
    break;
  case SafetensorsDType::F16:
    for (size_t i = 0; i < count; ++i)
      values[i] = halfBitsToFloat(support::endian::read16le(bytes + 2 * i));
    break;
  case SafetensorsDType::BF16:
    for (size_t i = 0; i < count; ++i)
      values[i] = bfloat16BitsToFloat(support::endian::read16le(bytes + 2 * i));
    break;
  default:
    llvm_unreachable("checked by isSafetensorsFloatDType");
  }
  return values;
}

//===----------------------------------------------------------------------===//
// Writer
//===----------------------------------------------------------------------===//

Error mlir::lora::writeSafetensors(
    StringRef path, ArrayRef<SafetensorsTensorRef> tensors,
    const std::map<std::string, std::string> &metadata) {
  std::vector<const SafetensorsTensorRef *> sorted;
  StringSet<> names;
  for (const SafetensorsTensorRef &tensor : tensors) {
    auto error = [&](const Twine &message) {
      return createStringError("cannot write " + path + ": tensor '" +
                               tensor.name + "' " + message);
    };
    if (tensor.name == kMetadataKey)
      return error("has a reserved name");
    if (!names.insert(tensor.name).second)
      return error("appears twice");
    std::optional<int64_t> bytes = getByteSize(tensor.dtype, tensor.shape);
    if (!bytes)
      return error("has an invalid shape " + formatShape(tensor.shape));
    if (static_cast<uint64_t>(*bytes) != tensor.data.size())
      return error("has " + Twine(tensor.data.size()) + " bytes but " +
                   getSafetensorsDTypeName(tensor.dtype) + " " +
                   formatShape(tensor.shape) + " needs " + Twine(*bytes));
    sorted.push_back(&tensor);
  }
  llvm::sort(sorted, [](const SafetensorsTensorRef *lhs,
                        const SafetensorsTensorRef *rhs) {
    return lhs->name < rhs->name;
  });

  // Compact JSON like the Python library writes; metadata first.
  std::string header;
  {
    raw_string_ostream os(header);
    json::OStream json(os);
    json.object([&] {
      if (!metadata.empty())
        json.attributeObject(kMetadataKey, [&] {
          for (const auto &[key, value] : metadata)
            json.attribute(key, value);
        });
      uint64_t offset = 0;
      for (const SafetensorsTensorRef *tensor : sorted) {
        json.attributeObject(tensor->name, [&] {
          json.attribute("dtype", getSafetensorsDTypeName(tensor->dtype));
          json.attributeArray("shape", [&] {
            for (int64_t dim : tensor->shape)
              json.value(dim);
          });
          json.attributeArray("data_offsets", [&] {
            json.value(static_cast<int64_t>(offset));
            json.value(static_cast<int64_t>(offset + tensor->data.size()));
          });
        });
        offset += tensor->data.size();
      }
    });
  }
  // Pad with spaces so the data section starts 8-byte aligned.
  header.append((8 - header.size() % 8) % 8, ' ');

  return writeFileAtomically(path, [&](raw_ostream &os) {
    char size[8];
    support::endian::write64le(size, header.size());
    os.write(size, sizeof(size));
    os << header;
    for (const SafetensorsTensorRef *tensor : sorted)
      os.write(tensor->data.data(), tensor->data.size());
  });
}

Error mlir::lora::writeSafetensorsFloat(
    StringRef path, ArrayRef<SafetensorsFloatTensorRef> tensors,
    SafetensorsDType dtype,
    const std::map<std::string, std::string> &metadata) {
  if (!isSafetensorsFloatDType(dtype))
    return createStringError("cannot write " + path + ": dtype " +
                             getSafetensorsDTypeName(dtype) +
                             " is not a float type; supported: F32, F16, "
                             "BF16");
  size_t elementSize = getSafetensorsDTypeSize(dtype);
  std::vector<std::vector<char>> buffers;
  std::vector<SafetensorsTensorRef> refs;
  buffers.reserve(tensors.size());
  for (const SafetensorsFloatTensorRef &tensor : tensors) {
    std::optional<int64_t> count = getNumElements(tensor.shape);
    if (count && static_cast<uint64_t>(*count) != tensor.values.size())
      return createStringError(
          "cannot write " + path + ": tensor '" + tensor.name + "' has " +
          Twine(tensor.values.size()) + " values but shape " +
          formatShape(tensor.shape) + " needs " + Twine(*count));
    std::vector<char> &bytes =
        buffers.emplace_back(tensor.values.size() * elementSize);
    for (auto [i, value] : llvm::enumerate(tensor.values)) {
      char *out = bytes.data() + i * elementSize;
      switch (dtype) {
      case SafetensorsDType::F32:
        support::endian::write32le(out, bit_cast<uint32_t>(value));
        break;
      case SafetensorsDType::F16:
        support::endian::write16le(out, floatToHalfBits(value));
        break;
      default:
        support::endian::write16le(out, floatToBFloat16Bits(value));
        break;
      }
    }
    refs.push_back({tensor.name, dtype, tensor.shape, bytes});
  }
  return writeSafetensors(path, refs, metadata);
}
