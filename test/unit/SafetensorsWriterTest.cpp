//===- SafetensorsWriterTest.cpp - the runtime's safetensors writer -------===//
//
// Files written by lora_runtime::writeSafetensors() are read back with the
// runtime's own reader and compared byte for byte with what the Python
// safetensors library (0.6.2) writes for the same tensors.
//
//===----------------------------------------------------------------------===//

#include "lora/Runtime/Json.h"
#include "lora/Runtime/Runtime.h"
#include "lora/Runtime/Safetensors.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

namespace rt = lora_runtime;
namespace fs = std::filesystem;

namespace {

/// A fresh folder under the system's temporary folder, removed with its
/// contents at the end of the test.
class RuntimeSafetensorsWriter : public ::testing::Test {
protected:
  void SetUp() override {
    std::string pattern =
        (fs::temp_directory_path() / "lora-st-writer-XXXXXX").string();
    ASSERT_TRUE(::mkdtemp(pattern.data())) << std::strerror(errno);
    dir = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  std::string path(const std::string &name) const { return dir / name; }

  /// The names of the files in the folder.
  std::set<std::string> listing() const {
    std::set<std::string> names;
    for (const fs::directory_entry &entry : fs::directory_iterator(dir))
      names.insert(entry.path().filename().string());
    return names;
  }

  fs::path dir;
};

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), bytes.size());
  ASSERT_TRUE(out.good()) << path;
}

/// The 8-byte size field and the JSON header of a safetensors file.
std::string headerOf(const std::string &bytes) {
  if (bytes.size() < 8)
    return "";
  uint64_t size = 0;
  for (int i = 7; i >= 0; --i)
    size = size << 8 | static_cast<unsigned char>(bytes[i]);
  return bytes.substr(8, size);
}

/// An entry over the bytes of `values`.
template <typename T>
rt::SafetensorsEntry entry(std::string name, rt::DType dtype,
                           std::vector<int64_t> shape,
                           const std::vector<T> &values) {
  return {std::move(name), dtype, std::move(shape), values.data(),
          values.size() * sizeof(T)};
}

std::string bytesOf(const rt::SafetensorsTensor &tensor) {
  return std::string(reinterpret_cast<const char *>(tensor.data),
                     tensor.numBytes);
}

template <typename T> std::string bytesOf(const std::vector<T> &values) {
  return std::string(reinterpret_cast<const char *>(values.data()),
                     values.size() * sizeof(T));
}

//===----------------------------------------------------------------------===//
// Round trips through the runtime's reader
//===----------------------------------------------------------------------===//

TEST_F(RuntimeSafetensorsWriter, RoundTripsEveryDType) {
  std::vector<float> f32 = {1.5f, -2.25f, 0.0f, 3e38f, -1e-40f, 7.0f};
  std::vector<double> f64 = {1.0 / 3, -0.0};
  // 1.0, -2.0, 65504 (largest half), smallest subnormal.
  std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x7bff, 0x0001};
  // 1.0, -2.0, 3.3895314e38 (largest bf16).
  std::vector<uint16_t> bf16 = {0x3f80, 0xc000, 0x7f7f};
  std::vector<int64_t> i64 = {INT64_MIN, -1, INT64_MAX};
  std::vector<int32_t> i32 = {INT32_MIN, 0, INT32_MAX, 42};
  std::vector<int16_t> i16 = {INT16_MIN, INT16_MAX};
  std::vector<int8_t> i8 = {-128, 127, 0};
  std::vector<uint8_t> u8 = {0, 255, 128};
  std::vector<uint8_t> boolean = {1, 0, 0, 1};
  std::vector<rt::SafetensorsEntry> entries = {
      entry("f32", rt::DType::F32, {2, 3}, f32),
      entry("f64", rt::DType::F64, {2}, f64),
      entry("f16", rt::DType::F16, {2, 2}, f16),
      entry("bf16", rt::DType::BF16, {3, 1}, bf16),
      entry("i64", rt::DType::I64, {3}, i64),
      entry("i32", rt::DType::I32, {1, 4}, i32),
      entry("i16", rt::DType::I16, {2}, i16),
      entry("i8", rt::DType::I8, {3}, i8),
      entry("u8", rt::DType::U8, {3}, u8),
      entry("bool", rt::DType::Bool, {2, 1, 2}, boolean),
  };
  const char *dtypeNames[] = {"F32", "F64", "F16", "BF16", "I64",
                              "I32", "I16", "I8",  "U8",   "BOOL"};
  std::string error;
  std::string out = path("all.safetensors");
  ASSERT_TRUE(rt::writeSafetensors(out, entries, {}, error)) << error;

  auto file = rt::SafetensorsFile::open(out, error);
  ASSERT_TRUE(file) << error;
  ASSERT_EQ(file->tensors().size(), entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const rt::SafetensorsEntry &expected = entries[i];
    const rt::SafetensorsTensor *tensor = file->find(expected.name);
    ASSERT_TRUE(tensor) << expected.name;
    EXPECT_EQ(tensor->dtype, dtypeNames[i]) << expected.name;
    EXPECT_EQ(tensor->shape, expected.shape) << expected.name;
    EXPECT_EQ(bytesOf(*tensor),
              std::string(static_cast<const char *>(expected.data),
                          expected.numBytes))
        << expected.name;
  }

  // The float types also read back as values.
  std::vector<double> values;
  ASSERT_TRUE(file->readDoubles(*file->find("f32"), values, error)) << error;
  EXPECT_EQ(values, std::vector<double>(f32.begin(), f32.end()));
  ASSERT_TRUE(file->readDoubles(*file->find("f16"), values, error)) << error;
  EXPECT_EQ(values, (std::vector<double>{1.0, -2.0, 65504.0, 0x1p-24}));
  ASSERT_TRUE(file->readDoubles(*file->find("bf16"), values, error)) << error;
  EXPECT_EQ(values, (std::vector<double>{1.0, -2.0, 0x1.fep127}));
}

TEST_F(RuntimeSafetensorsWriter, RoundTripsScalarsAndEmptyTensors) {
  std::vector<double> scalar = {2.5};
  std::vector<rt::SafetensorsEntry> entries = {
      entry("scalar", rt::DType::F64, {}, scalar),
      {"empty", rt::DType::F32, {0}, nullptr, 0},
      {"empty2d", rt::DType::I64, {3, 0}, nullptr, 0},
  };
  std::string error;
  std::string out = path("edge.safetensors");
  ASSERT_TRUE(rt::writeSafetensors(out, entries, {}, error)) << error;

  auto file = rt::SafetensorsFile::open(out, error);
  ASSERT_TRUE(file) << error;
  ASSERT_EQ(file->tensors().size(), 3u);
  const rt::SafetensorsTensor *tensor = file->find("scalar");
  ASSERT_TRUE(tensor);
  EXPECT_TRUE(tensor->shape.empty());
  EXPECT_EQ(tensor->numElements(), 1);
  EXPECT_EQ(bytesOf(*tensor), bytesOf(scalar));
  for (const char *name : {"empty", "empty2d"}) {
    tensor = file->find(name);
    ASSERT_TRUE(tensor) << name;
    EXPECT_EQ(tensor->numBytes, 0u) << name;
    EXPECT_EQ(tensor->numElements(), 0) << name;
  }
  EXPECT_EQ(file->find("empty2d")->shape, (std::vector<int64_t>{3, 0}));

  // Only empty tensors: a header and no data at all.
  ASSERT_TRUE(rt::writeSafetensors(out, {entries[1]}, {}, error)) << error;
  std::string bytes = readFile(out);
  EXPECT_EQ(bytes.size(), 8 + headerOf(bytes).size());
  EXPECT_TRUE(rt::SafetensorsFile::open(out, error)) << error;

  // No tensors at all.
  ASSERT_TRUE(rt::writeSafetensors(out, {}, {}, error)) << error;
  EXPECT_EQ(readFile(out), std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  file = rt::SafetensorsFile::open(out, error);
  ASSERT_TRUE(file) << error;
  EXPECT_TRUE(file->tensors().empty());
}

TEST_F(RuntimeSafetensorsWriter, EscapesNames) {
  std::vector<std::string> names = {"quote\"d", "back\\slash",
                                    "ctrl\x01\x1f\b\t\n\f\r", "slash/é\x7f",
                                    "\\u0041"};
  std::vector<std::vector<uint8_t>> data;
  std::vector<rt::SafetensorsEntry> entries;
  for (size_t i = 0; i < names.size(); ++i) {
    data.push_back({static_cast<uint8_t>(i)});
    entries.push_back(entry(names[i], rt::DType::U8, {1}, data.back()));
  }
  std::string error;
  std::string out = path("names.safetensors");
  ASSERT_TRUE(rt::writeSafetensors(out, entries, {}, error)) << error;
  auto file = rt::SafetensorsFile::open(out, error);
  ASSERT_TRUE(file) << error;
  ASSERT_EQ(file->tensors().size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    const rt::SafetensorsTensor *tensor = file->find(names[i]);
    ASSERT_TRUE(tensor) << names[i];
    EXPECT_EQ(tensor->data[0], i) << names[i];
  }
  std::string header = headerOf(readFile(out));
  EXPECT_NE(header.find(R"("ctrl\u0001\u001f\b\t\n\f\r")"), std::string::npos)
      << header;
  EXPECT_NE(header.find(R"("quote\"d")"), std::string::npos) << header;
  EXPECT_NE(header.find(R"("back\\slash")"), std::string::npos) << header;
  EXPECT_NE(header.find(R"("\\u0041")"), std::string::npos) << header;
}

TEST_F(RuntimeSafetensorsWriter, WritesMetadata) {
  std::vector<float> one = {1.0f};
  std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"note", "a \"quoted\"\\value\n"}, {"empty", ""}};
  std::string error;
  std::string out = path("meta.safetensors");
  ASSERT_TRUE(rt::writeSafetensors(out, {entry("w", rt::DType::F32, {1}, one)},
                                   metadata, error))
      << error;

  // The reader skips the metadata ...
  auto file = rt::SafetensorsFile::open(out, error);
  ASSERT_TRUE(file) << error;
  ASSERT_EQ(file->tensors().size(), 1u);
  EXPECT_EQ(file->tensors()[0].name, "w");

  // ... which is the first member of the header, in key order.
  rt::json::Value header;
  ASSERT_TRUE(rt::json::parse(headerOf(readFile(out)), header, error)) << error;
  ASSERT_EQ(header.getNumMembers(), 2u);
  EXPECT_EQ(header.getKey(0), "__metadata__");
  const rt::json::Value &object = header.getMember(0);
  ASSERT_EQ(object.getNumMembers(), metadata.size());
  size_t i = 0;
  for (const auto &[key, value] : metadata) {
    EXPECT_EQ(object.getKey(i), key);
    ASSERT_TRUE(object.getMember(i).getString()) << key;
    EXPECT_EQ(*object.getMember(i).getString(), value);
    ++i;
  }

  // Without metadata, there is no "__metadata__" member.
  ASSERT_TRUE(rt::writeSafetensors(out, {entry("w", rt::DType::F32, {1}, one)},
                                   {}, error))
      << error;
  EXPECT_EQ(headerOf(readFile(out)).find("__metadata__"), std::string::npos);
}

//===----------------------------------------------------------------------===//
// The layout
//===----------------------------------------------------------------------===//

TEST_F(RuntimeSafetensorsWriter, MatchesPythonByteForByte) {
  // The tensors in an order the library does not write them in; the expected
  // header is what safetensors 0.6.2 serialize() writes for them.
  std::vector<float> weight = {1, 2, 3, 4, 5, 6}, bias = {-1, 0, 1};
  std::vector<uint16_t> a = {0x3c00}, b = {0x3f80, 0xbf80};
  std::vector<int64_t> steps = {1000};
  std::vector<int32_t> ids = {1, 2, 3, 4};
  std::vector<int8_t> q = {-1, 1};
  std::vector<uint8_t> e = {1, 2, 3}, mask = {1, 0, 0, 1};
  std::vector<double> x = {0.5};
  std::vector<rt::SafetensorsEntry> entries = {
      entry("weight", rt::DType::F32, {2, 3}, weight),
      entry("bias", rt::DType::F32, {3}, bias),
      entry("a", rt::DType::F16, {1}, a),
      entry("b", rt::DType::BF16, {2}, b),
      entry("steps", rt::DType::I64, {}, steps),
      entry("ids", rt::DType::I32, {4}, ids),
      {"s", rt::DType::I16, {0}, nullptr, 0},
      entry("q\"uote\\back", rt::DType::I8, {2}, q),
      entry("\xc3\xa9\x01\n", rt::DType::U8, {3}, e),
      entry("mask", rt::DType::Bool, {2, 2}, mask),
      entry("x", rt::DType::F64, {1}, x),
  };
  std::string error;
  std::string out = path("python.safetensors");
  ASSERT_TRUE(rt::writeSafetensors(out, entries,
                                   {{"note", "a \"quoted\"\tvalue"}}, error))
      << error;

  std::string expectedHeader =
      R"({"__metadata__":{"note":"a \"quoted\"\tvalue"},)"
      R"("steps":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
      R"("x":{"dtype":"F64","shape":[1],"data_offsets":[8,16]},)"
      R"("bias":{"dtype":"F32","shape":[3],"data_offsets":[16,28]},)"
      R"("weight":{"dtype":"F32","shape":[2,3],"data_offsets":[28,52]},)"
      R"("ids":{"dtype":"I32","shape":[4],"data_offsets":[52,68]},)"
      R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[68,72]},)"
      R"("a":{"dtype":"F16","shape":[1],"data_offsets":[72,74]},)"
      R"("s":{"dtype":"I16","shape":[0],"data_offsets":[74,74]},)"
      R"("q\"uote\\back":{"dtype":"I8","shape":[2],"data_offsets":[74,76]},)"
      "\"\xc3\xa9"
      R"(\u0001\n":{"dtype":"U8","shape":[3],"data_offsets":[76,79]},)"
      R"("mask":{"dtype":"BOOL","shape":[2,2],"data_offsets":[79,83]}})"
      "      ";
  ASSERT_EQ(expectedHeader.size(), 696u);
  std::string expectedSize("\xb8\x02\0\0\0\0\0\0", 8);
  std::string expectedData = bytesOf(steps) + bytesOf(x) + bytesOf(bias) +
                             bytesOf(weight) + bytesOf(ids) + bytesOf(b) +
                             bytesOf(a) + bytesOf(q) + bytesOf(e) +
                             bytesOf(mask);
  EXPECT_EQ(readFile(out), expectedSize + expectedHeader + expectedData);
}

TEST_F(RuntimeSafetensorsWriter, PadsHeaderToEightBytes) {
  std::vector<uint8_t> bytes(8, 7);
  std::string error;
  std::string out = path("pad.safetensors");
  // Names of every length mod 8 give every amount of padding.
  for (size_t length = 1; length <= 16; ++length) {
    std::string name(length, 'n');
    ASSERT_TRUE(rt::writeSafetensors(
        out, {entry(name, rt::DType::U8, {8}, bytes)}, {}, error))
        << error;
    std::string file = readFile(out);
    std::string header = headerOf(file);
    EXPECT_EQ(header.size() % 8, 0u) << name;
    EXPECT_EQ(file.size(), 8 + header.size() + 8) << name;
    size_t end = header.find_last_not_of(' ');
    ASSERT_NE(end, std::string::npos);
    EXPECT_EQ(header[end], '}') << name;
    EXPECT_LT(header.size() - end - 1, 8u) << name;
    rt::json::Value value;
    EXPECT_TRUE(rt::json::parse(header, value, error)) << error;
    EXPECT_EQ(file.substr(file.size() - 8), bytesOf(bytes)) << name;
  }
}

TEST_F(RuntimeSafetensorsWriter, ReplacesAnExistingFile) {
  std::string out = path("w.safetensors");
  writeFile(out, "old contents");
  std::vector<int32_t> values = {5};
  std::string error;
  ASSERT_TRUE(rt::writeSafetensors(
      out, {entry("v", rt::DType::I32, {1}, values)}, {}, error))
      << error;
  auto file = rt::SafetensorsFile::open(out, error);
  ASSERT_TRUE(file) << error;
  EXPECT_EQ(bytesOf(*file->find("v")), bytesOf(values));
  EXPECT_EQ(listing(), std::set<std::string>{"w.safetensors"});
}

//===----------------------------------------------------------------------===//
// Failures leave the file system as it was
//===----------------------------------------------------------------------===//

TEST_F(RuntimeSafetensorsWriter, RejectsBadEntries) {
  std::string out = path("keep.safetensors");
  std::vector<float> four(4), three(3);
  // Writes `entries` over a file with known contents; expects a failure
  // naming the file and `problem`, the old contents kept and no other file
  // left behind.
  auto check = [&](const std::vector<rt::SafetensorsEntry> &entries,
                   const std::string &problem,
                   const std::map<std::string, std::string> &metadata = {}) {
    writeFile(out, "old contents");
    std::string error;
    EXPECT_FALSE(rt::writeSafetensors(out, entries, metadata, error));
    EXPECT_NE(error.find("cannot write '" + out + "'"), std::string::npos)
        << error;
    EXPECT_NE(error.find(problem), std::string::npos)
        << "'" << error << "' does not contain '" << problem << "'";
    EXPECT_EQ(readFile(out), "old contents") << problem;
    EXPECT_EQ(listing(), std::set<std::string>{"keep.safetensors"}) << problem;
  };
  check({entry("a", rt::DType::F32, {2, 2}, three)},
        "tensor 'a': F32 tensor of shape 2x2 needs 16 bytes, got 12");
  check({entry("a", rt::DType::F16, {2, 2}, four)},
        "tensor 'a': F16 tensor of shape 2x2 needs 8 bytes, got 16");
  check({entry("a", rt::DType::F32, {4}, four),
         entry("b", rt::DType::F32, {4}, four),
         entry("a", rt::DType::I32, {4}, four)},
        "tensor 'a': the name appears twice");
  check({entry("", rt::DType::F32, {4}, four)}, "a tensor has an empty name");
  check({entry("__metadata__", rt::DType::F32, {4}, four)},
        "tensor '__metadata__': the name is reserved");
  check({entry("n", rt::DType::F32, {-1, -4}, four)},
        "tensor 'n': shape -1x-4 has a negative dim");
  check({entry("big", rt::DType::F64, {1 << 30, 1 << 30, 1 << 30}, four)},
        "tensor 'big': shape 1073741824x1073741824x1073741824 is too large");
  check({{"null", rt::DType::F32, {4}, nullptr, 16}},
        "tensor 'null': data is null");
  check({entry("bad\xff", rt::DType::F32, {4}, four)}, "not valid UTF-8");
  check({entry("a", rt::DType::F32, {4}, four)},
        "metadata entry 'k' is not valid UTF-8", {{"k", "\xc3"}});
}

TEST_F(RuntimeSafetensorsWriter, FailsOnAMissingFolder) {
  std::vector<float> one = {1.0f};
  std::string out = path("missing/w.safetensors");
  std::string error;
  EXPECT_FALSE(rt::writeSafetensors(out, {entry("w", rt::DType::F32, {1}, one)},
                                    {}, error));
  EXPECT_NE(error.find("cannot write '" + out + "'"), std::string::npos)
      << error;
  EXPECT_NE(error.find("No such file or directory"), std::string::npos)
      << error;
  EXPECT_TRUE(listing().empty());
}

TEST_F(RuntimeSafetensorsWriter, FailsOnAFolderInTheWay) {
  // The temporary file is written, then cannot be renamed over a folder: it
  // must be removed again.
  std::vector<float> one = {1.0f};
  std::string out = path("folder");
  fs::create_directory(out);
  std::string error;
  EXPECT_FALSE(rt::writeSafetensors(out, {entry("w", rt::DType::F32, {1}, one)},
                                    {}, error));
  EXPECT_NE(error.find("cannot write '" + out + "'"), std::string::npos)
      << error;
  EXPECT_EQ(listing(), std::set<std::string>{"folder"});
  EXPECT_TRUE(fs::is_empty(out));
}

} // namespace
