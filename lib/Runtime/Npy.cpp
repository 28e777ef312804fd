//===- Npy.cpp - .npy files and host tensors ------------------------------===//

#include "lora/Runtime/Runtime.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

using namespace lora_runtime;

namespace {
struct DTypeInfo {
  DType dtype;
  const char *name;
  const char *npy;
  size_t size;
};
// bf16 has no numpy dtype of its own; ml_dtypes writes it as raw 2-byte
// voids, which is what we read and write too.
constexpr DTypeInfo kDTypes[] = {
    {DType::F32, "f32", "<f4", 4},  {DType::F64, "f64", "<f8", 8},
    {DType::F16, "f16", "<f2", 2},  {DType::BF16, "bf16", "<V2", 2},
    {DType::I64, "i64", "<i8", 8},  {DType::I32, "i32", "<i4", 4},
    {DType::I16, "i16", "<i2", 2},  {DType::I8, "i8", "|i1", 1},
    {DType::U8, "u8", "|u1", 1},    {DType::Bool, "bool", "|b1", 1},
};

const DTypeInfo &info(DType dtype) {
  for (const DTypeInfo &i : kDTypes)
    if (i.dtype == dtype)
      return i;
  return kDTypes[0];
}
} // namespace

size_t lora_runtime::dtypeSize(DType dtype) { return info(dtype).size; }
const char *lora_runtime::dtypeName(DType dtype) { return info(dtype).name; }

bool lora_runtime::parseDType(const std::string &name, DType &dtype) {
  for (const DTypeInfo &i : kDTypes)
    if (name == i.name) {
      dtype = i.dtype;
      return true;
    }
  return false;
}

int64_t Tensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

Tensor Tensor::zeros(DType dtype, std::vector<int64_t> shape) {
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data.assign(t.numElements() * dtypeSize(dtype), 0);
  return t;
}

/// Extracts the value of `key` from the header dict, e.g. 'descr': '<f4'.
static bool findHeaderValue(const std::string &header, const std::string &key,
                            std::string &value) {
  size_t pos = header.find("'" + key + "'");
  if (pos == std::string::npos)
    return false;
  pos = header.find(':', pos);
  if (pos == std::string::npos)
    return false;
  ++pos;
  while (pos < header.size() && header[pos] == ' ')
    ++pos;
  if (pos >= header.size())
    return false;
  size_t end;
  if (header[pos] == '\'') {
    end = header.find('\'', pos + 1);
    if (end == std::string::npos)
      return false;
    value = header.substr(pos + 1, end - pos - 1);
  } else if (header[pos] == '(') {
    end = header.find(')', pos);
    if (end == std::string::npos)
      return false;
    value = header.substr(pos + 1, end - pos - 1);
  } else {
    end = header.find_first_of(",}", pos);
    value = header.substr(pos, end - pos);
  }
  return true;
}

bool lora_runtime::readNpy(const std::string &path, Tensor &tensor,
                            std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot open '" + path + "'";
    return false;
  }
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) {
    error = "'" + path + "' is not a .npy file";
    return false;
  }
  uint32_t headerLength = 0;
  unsigned char lengthBytes[4] = {0, 0, 0, 0};
  int lengthSize = magic[6] == 1 ? 2 : 4;
  if (!in.read(reinterpret_cast<char *>(lengthBytes), lengthSize)) {
    error = "'" + path + "': truncated .npy header";
    return false;
  }
  for (int i = lengthSize - 1; i >= 0; --i)
    headerLength = headerLength << 8 | lengthBytes[i];
  if (headerLength > (1u << 20)) {
    error = "'" + path + "': .npy header is too large";
    return false;
  }
  std::string header(headerLength, '\0');
  if (!in.read(header.data(), headerLength)) {
    error = "'" + path + "': truncated .npy header";
    return false;
  }
  std::string descr, fortran, shape;
  if (!findHeaderValue(header, "descr", descr) ||
      !findHeaderValue(header, "fortran_order", fortran) ||
      !findHeaderValue(header, "shape", shape)) {
    error = "'" + path + "': malformed .npy header";
    return false;
  }
  if (fortran.find("True") != std::string::npos) {
    error = "'" + path + "': Fortran-order arrays are not supported";
    return false;
  }
  if (descr == "<b1")
    descr = "|b1";
  if (descr == "<i1")
    descr = "|i1";
  if (descr == "<u1")
    descr = "|u1";
  bool found = false;
  for (const DTypeInfo &i : kDTypes)
    if (descr == i.npy) {
      tensor.dtype = i.dtype;
      found = true;
    }
  if (!found) {
    error = "'" + path + "': unsupported .npy dtype '" + descr + "'";
    return false;
  }
  tensor.shape.clear();
  std::stringstream dims(shape);
  std::string dim;
  while (std::getline(dims, dim, ',')) {
    size_t start = dim.find_first_not_of(' ');
    if (start == std::string::npos)
      continue;
    char *end = nullptr;
    long long value = std::strtoll(dim.c_str() + start, &end, 10);
    if (value < 0 || end == dim.c_str() + start) {
      error = "'" + path + "': malformed .npy shape '(" + shape + ")'";
      return false;
    }
    tensor.shape.push_back(value);
  }
  size_t bytes = tensor.numElements() * dtypeSize(tensor.dtype);
  tensor.data.resize(bytes);
  if (!in.read(reinterpret_cast<char *>(tensor.data.data()), bytes)) {
    error = "'" + path + "': .npy data is truncated (expected " +
            std::to_string(bytes) + " bytes)";
    return false;
  }
  return true;
}

bool lora_runtime::writeNpy(const std::string &path, const Tensor &tensor,
                             std::string &error) {
  std::string header = "{'descr': '" + std::string(info(tensor.dtype).npy) +
                       "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < tensor.shape.size(); ++i)
    header += (i ? ", " : "") + std::to_string(tensor.shape[i]);
  if (tensor.shape.size() == 1)
    header += ",";
  header += "), }";
  // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) {
      error = "cannot write '" + path + "'";
      return false;
    }
    out.write("\x93NUMPY\x01\x00", 8);
    uint16_t length = static_cast<uint16_t>(header.size());
    char lengthBytes[2] = {static_cast<char>(length & 0xff),
                           static_cast<char>(length >> 8)};
    out.write(lengthBytes, 2);
    out << header;
    out.write(reinterpret_cast<const char *>(tensor.data.data()),
              tensor.data.size());
    if (!out) {
      error = "cannot write '" + path + "'";
      std::remove(tmp.c_str());
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot rename '" + tmp + "' to '" + path + "'";
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}
