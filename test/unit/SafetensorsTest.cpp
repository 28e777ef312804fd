//===- SafetensorsTest.cpp - safetensors reader, writer, conversions ------===//

#include "lora/Adapter/Safetensors.h"

#include "AdapterTestSupport.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/bit.h"
#include "llvm/Support/Endian.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace mlir::lora;
using namespace lora_test;
using llvm::APFloat;
using llvm::APInt;
using llvm::bit_cast;

namespace {

//===----------------------------------------------------------------------===//
// Conversions, checked against APFloat
//===----------------------------------------------------------------------===//

float apfloatToFloat(const llvm::fltSemantics &semantics, uint16_t bits) {
  APFloat value(semantics, APInt(16, bits));
  bool losesInfo;
  value.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven,
                &losesInfo);
  return value.convertToFloat();
}

uint16_t floatToAPFloatBits(const llvm::fltSemantics &semantics, float f) {
  APFloat value(f);
  bool losesInfo;
  value.convert(semantics, APFloat::rmNearestTiesToEven, &losesInfo);
  return value.bitcastToAPInt().getZExtValue();
}

void expectSameFloat(float expected, float actual, uint32_t input) {
  if (std::isnan(expected))
    EXPECT_TRUE(std::isnan(actual)) << std::hex << input;
  else
    EXPECT_EQ(bit_cast<uint32_t>(expected), bit_cast<uint32_t>(actual))
        << std::hex << input;
}

TEST(SafetensorsConversion, HalfToFloatIsExactForAllValues) {
  for (uint32_t bits = 0; bits <= 0xffff; ++bits)
    expectSameFloat(apfloatToFloat(APFloat::IEEEhalf(), bits),
                    halfBitsToFloat(bits), bits);
}

TEST(SafetensorsConversion, BFloat16ToFloatIsExactForAllValues) {
  for (uint32_t bits = 0; bits <= 0xffff; ++bits)
    expectSameFloat(apfloatToFloat(APFloat::BFloat(), bits),
                    bfloat16BitsToFloat(bits), bits);
}

/// Floats that exercise rounding: a stride through all bit patterns, plus
/// the neighbourhoods of every half / bf16 rounding boundary near the ends
/// of the half range (subnormals, overflow) and of exact ties.
std::vector<uint32_t> roundingInputs() {
  std::vector<uint32_t> inputs;
  for (uint64_t bits = 0; bits <= 0xffffffffu; bits += 65521)
    inputs.push_back(bits);
  for (uint32_t center :
       {0x33000000u, 0x33800000u, 0x387fe000u, 0x38800000u, 0x477fe000u,
        0x477ff000u, 0x47800000u, 0x3f801000u, 0x3f803000u, 0x3f808000u,
        0x3f818000u, 0x7f7f8000u, 0x7f800000u, 0x7f800001u, 0x7fc00000u,
        0x00000001u, 0x00800000u})
    for (uint32_t sign : {0u, 0x80000000u})
      for (int delta = -3; delta <= 3; ++delta)
        inputs.push_back((center + delta) ^ sign);
  return inputs;
}

TEST(SafetensorsConversion, FloatToHalfRoundsToNearestEven) {
  for (uint32_t bits : roundingInputs()) {
    float value = bit_cast<float>(bits);
    uint16_t expected = floatToAPFloatBits(APFloat::IEEEhalf(), value);
    uint16_t actual = floatToHalfBits(value);
    if (std::isnan(value))
      EXPECT_TRUE(std::isnan(halfBitsToFloat(actual))) << std::hex << bits;
    else
      EXPECT_EQ(expected, actual) << std::hex << bits;
  }
}

TEST(SafetensorsConversion, FloatToBFloat16RoundsToNearestEven) {
  for (uint32_t bits : roundingInputs()) {
    float value = bit_cast<float>(bits);
    uint16_t expected = floatToAPFloatBits(APFloat::BFloat(), value);
    uint16_t actual = floatToBFloat16Bits(value);
    if (std::isnan(value))
      EXPECT_TRUE(std::isnan(bfloat16BitsToFloat(actual))) << std::hex << bits;
    else
      EXPECT_EQ(expected, actual) << std::hex << bits;
  }
}

TEST(SafetensorsConversion, KnownRoundings) {
  EXPECT_EQ(floatToHalfBits(65504.0f), 0x7bff);
  EXPECT_EQ(floatToHalfBits(65520.0f), 0x7c00); // Tie goes to infinity.
  EXPECT_EQ(floatToHalfBits(0x1p-25f), 0x0000); // Tie goes to zero.
  EXPECT_EQ(floatToHalfBits(0x1.8p-25f), 0x0001);
  EXPECT_EQ(floatToBFloat16Bits(1.0f + 0x1p-8f), 0x3f80); // Tie to even.
  EXPECT_EQ(floatToBFloat16Bits(1.0f + 0x3p-8f), 0x3f82); // Tie to even.
}

TEST(SafetensorsDType, NamesAndSizes) {
  EXPECT_EQ(parseSafetensorsDType("BF16"), SafetensorsDType::BF16);
  EXPECT_EQ(parseSafetensorsDType("BOOL"), SafetensorsDType::Bool);
  EXPECT_EQ(parseSafetensorsDType("f32"), std::nullopt);
  EXPECT_EQ(getSafetensorsDTypeName(SafetensorsDType::F8_E4M3), "F8_E4M3");
  EXPECT_EQ(getSafetensorsDTypeSize(SafetensorsDType::F64), 8u);
  EXPECT_EQ(getSafetensorsDTypeSize(SafetensorsDType::BF16), 2u);
}

//===----------------------------------------------------------------------===//
// Reading the fixtures written by Python
//===----------------------------------------------------------------------===//

void checkHalfFixture(llvm::StringRef file, llvm::StringRef key,
                      SafetensorsDType dtype) {
  const llvm::json::Object &expected = *expectedValues().getObject(key);
  llvm::StringRef name = *expected.getString("name");
  llvm::Expected<SafetensorsFile> st = SafetensorsFile::open(inputPath(file));
  ASSERT_TRUE(bool(st)) << llvm::toString(st.takeError());
  ASSERT_EQ(st->getTensors().size(), 1u);
  const SafetensorsTensor *tensor = st->lookup(name);
  ASSERT_NE(tensor, nullptr);
  EXPECT_EQ(tensor->dtype, dtype);
  std::vector<int64_t> shape;
  for (const llvm::json::Value &dim : *expected.getArray("shape"))
    shape.push_back(*dim.getAsInteger());
  EXPECT_EQ(std::vector<int64_t>(tensor->shape.begin(), tensor->shape.end()),
            shape);
  EXPECT_EQ(tensor->data.size(), 2u * tensor->getNumElements());
  llvm::Expected<std::vector<float>> values = st->readFloat(name);
  ASSERT_TRUE(bool(values)) << llvm::toString(values.takeError());
  const llvm::json::Array &want = *expected.getArray("values");
  ASSERT_EQ(values->size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    float w = static_cast<float>(*want[i].getAsNumber());
    // Bitwise, so that -0.0 is told from 0.0.
    EXPECT_EQ(bit_cast<uint32_t>((*values)[i]), bit_cast<uint32_t>(w))
        << "element " << i << ": " << (*values)[i] << " vs " << w;
  }
}

TEST(SafetensorsReader, ReadsF16FromPython) {
  checkHalfFixture("f16.safetensors", "f16", SafetensorsDType::F16);
  llvm::Expected<SafetensorsFile> st =
      SafetensorsFile::open(inputPath("f16.safetensors"));
  ASSERT_TRUE(bool(st)) << llvm::toString(st.takeError());
  std::map<std::string, std::string> metadata = {
      {"made_by", "make_adapter_fixtures.py"}};
  EXPECT_EQ(st->getMetadata(), metadata);
}

TEST(SafetensorsReader, ReadsBF16FromPython) {
  checkHalfFixture("bf16.safetensors", "bf16", SafetensorsDType::BF16);
}

TEST(SafetensorsReader, TensorsAreSortedAndLookupMisses) {
  llvm::Expected<SafetensorsFile> st =
      SafetensorsFile::open(inputPath("peft_llama/adapter_model.safetensors"));
  ASSERT_TRUE(bool(st)) << llvm::toString(st.takeError());
  ASSERT_EQ(st->getTensors().size(), 4u);
  for (size_t i = 1; i < st->getTensors().size(); ++i)
    EXPECT_LT(st->getTensors()[i - 1].name, st->getTensors()[i].name);
  EXPECT_EQ(st->lookup("nope"), nullptr);
  std::string error = errorOf(st->readFloat("nope"));
  EXPECT_NE(error.find("no tensor 'nope'"), std::string::npos) << error;
  EXPECT_NE(error.find("adapter_model.safetensors"), std::string::npos)
      << error;
}

//===----------------------------------------------------------------------===//
// Writer
//===----------------------------------------------------------------------===//

class SafetensorsWriter : public TempDirTest {};

TEST_F(SafetensorsWriter, MatchesPythonByteForByte) {
  // The fixtures hold exactly the values listed in expected.json; writing
  // them again must give the bytes the Python library wrote.
  for (auto [file, key, dtype] :
       {std::tuple("f16.safetensors", "f16", SafetensorsDType::F16),
        std::tuple("bf16.safetensors", "bf16", SafetensorsDType::BF16)}) {
    const llvm::json::Object &expected = *expectedValues().getObject(key);
    std::vector<float> values;
    for (const llvm::json::Value &v : *expected.getArray("values"))
      values.push_back(static_cast<float>(*v.getAsNumber()));
    std::vector<int64_t> shape = {3, 4};
    std::map<std::string, std::string> metadata;
    if (dtype == SafetensorsDType::F16)
      metadata["made_by"] = "make_adapter_fixtures.py";
    std::string out = path(file);
    ASSERT_NO_ERROR(writeSafetensorsFloat(
        out, {{*expected.getString("name"), shape, values}}, dtype, metadata));
    EXPECT_EQ(readBytes(out), readBytes(inputPath(file))) << file;
  }
}

TEST_F(SafetensorsWriter, RoundTripsEveryFloatDTypeAndShape) {
  std::vector<float> values = {0.0f, -0.0f, 1.5f, -3.25f, 1e-3f, 300.0f};
  std::vector<int64_t> matrix = {2, 3}, vector = {6}, scalar = {},
                       empty = {0, 4};
  for (SafetensorsDType dtype :
       {SafetensorsDType::F32, SafetensorsDType::F16, SafetensorsDType::BF16}) {
    std::string out = path("roundtrip.safetensors");
    ASSERT_NO_ERROR(writeSafetensorsFloat(
        out,
        {{"m", matrix, values},
         {"v", vector, values},
         {"s", scalar, llvm::ArrayRef(values).take_front(1)},
         {"e", empty, {}}},
        dtype, {{"format", "pt"}}));
    llvm::Expected<SafetensorsFile> st = SafetensorsFile::open(out);
    ASSERT_TRUE(bool(st)) << llvm::toString(st.takeError());
    EXPECT_EQ(st->getMetadata().at("format"), "pt");
    ASSERT_EQ(st->getTensors().size(), 4u);
    EXPECT_EQ(st->getTensors()[0].name, "e"); // Sorted by name.
    EXPECT_EQ(st->lookup("s")->shape.size(), 0u);
    EXPECT_EQ(st->lookup("s")->getNumElements(), 1);
    EXPECT_EQ(st->lookup("e")->getNumElements(), 0);
    for (llvm::StringRef name : {"m", "v"}) {
      EXPECT_EQ(st->lookup(name)->dtype, dtype);
      llvm::Expected<std::vector<float>> back = st->readFloat(name);
      ASSERT_TRUE(bool(back)) << llvm::toString(back.takeError());
      ASSERT_EQ(back->size(), values.size());
      for (size_t i = 0; i < values.size(); ++i) {
        float rounded = values[i];
        if (dtype == SafetensorsDType::F16)
          rounded = halfBitsToFloat(floatToHalfBits(values[i]));
        if (dtype == SafetensorsDType::BF16)
          rounded = bfloat16BitsToFloat(floatToBFloat16Bits(values[i]));
        EXPECT_EQ(bit_cast<uint32_t>((*back)[i]), bit_cast<uint32_t>(rounded))
            << name.str() << "[" << i << "]";
      }
    }
  }
}

TEST_F(SafetensorsWriter, PadsHeaderWithSpacesToEightBytes) {
  // Names of different lengths give every header length modulo 8.
  for (int length = 1; length <= 8; ++length) {
    std::string name(length, 'x');
    std::vector<int64_t> shape = {1};
    float one = 1.0f;
    std::string out = path("pad.safetensors");
    ASSERT_NO_ERROR(writeSafetensorsFloat(out, {{name, shape, one}},
                                          SafetensorsDType::F32));
    std::string bytes = readBytes(out);
    ASSERT_GE(bytes.size(), 8u);
    uint64_t headerSize = llvm::support::endian::read64le(bytes.data());
    EXPECT_EQ(headerSize % 8, 0u);
    ASSERT_EQ(bytes.size(), 8 + headerSize + 4);
    std::string header = bytes.substr(8, headerSize);
    std::string json = "{\"" + name +
                       "\":{\"dtype\":\"F32\",\"shape\":[1],"
                       "\"data_offsets\":[0,4]}}";
    EXPECT_EQ(header, json + std::string(headerSize - json.size(), ' '));
    EXPECT_LT(headerSize - json.size(), 8u);
    EXPECT_EQ(bytes.substr(8 + headerSize), std::string("\0\0\x80\x3f", 4));
  }
}

TEST_F(SafetensorsWriter, RawTensorsKeepTheirBytes) {
  std::vector<int64_t> shape = {2};
  const char ints[] = {1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0};
  std::string out = path("raw.safetensors");
  ASSERT_NO_ERROR(
      writeSafetensors(out, {{"i", SafetensorsDType::I64, shape, ints}}));
  llvm::Expected<SafetensorsFile> st = SafetensorsFile::open(out);
  ASSERT_TRUE(bool(st)) << llvm::toString(st.takeError());
  EXPECT_EQ(st->lookup("i")->dtype, SafetensorsDType::I64);
  EXPECT_EQ(
      std::string(st->lookup("i")->data.begin(), st->lookup("i")->data.end()),
      std::string(ints, sizeof(ints)));
}

TEST_F(SafetensorsWriter, RejectsBadTensorsAndWritesNothing) {
  std::vector<int64_t> shape = {2, 2}, negative = {-1, 2};
  std::vector<float> four(4), three(3);
  std::string out = path("bad.safetensors");
  auto check = [&](llvm::Error error, llvm::StringRef needle) {
    std::string message = errorOf(std::move(error));
    EXPECT_NE(message.find(needle), std::string::npos) << message;
    EXPECT_NE(message.find(out), std::string::npos) << message;
    EXPECT_TRUE(listDir().empty());
  };
  check(
      writeSafetensorsFloat(out, {{"a", shape, three}}, SafetensorsDType::F32),
      "tensor 'a' has 3 values but shape [2, 2] needs 4");
  check(writeSafetensorsFloat(out, {{"a", shape, four}, {"a", shape, four}},
                              SafetensorsDType::F16),
        "tensor 'a' appears twice");
  check(writeSafetensorsFloat(out, {{"__metadata__", shape, four}},
                              SafetensorsDType::F32),
        "reserved name");
  check(writeSafetensorsFloat(out, {{"n", negative, four}},
                              SafetensorsDType::F32),
        "invalid shape [-1, 2]");
  check(writeSafetensorsFloat(out, {{"a", shape, four}}, SafetensorsDType::I32),
        "dtype I32 is not a float type");
  const char bytes[3] = {};
  check(writeSafetensors(out, {{"r", SafetensorsDType::U8, shape, bytes}}),
        "tensor 'r' has 3 bytes but U8 [2, 2] needs 4");
}

TEST_F(SafetensorsWriter, FailureLeavesExistingFileAlone) {
  std::string out = writeFile("keep.safetensors", "old contents");
  std::vector<int64_t> shape = {2};
  std::vector<float> one(1);
  EXPECT_CONTAINS(errorOf(writeSafetensorsFloat(out, {{"a", shape, one}},
                                                SafetensorsDType::F32)),
                  "has 1 values but shape [2] needs 2");
  EXPECT_EQ(readBytes(out), "old contents");
  std::string missing = path("no/such/dir/x.safetensors");
  std::string message = errorOf(writeSafetensorsFloat(
      missing, {{"a", shape, std::vector<float>(2)}}, SafetensorsDType::F32));
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_EQ(listDir(), std::vector<std::string>{"keep.safetensors"});
}

//===----------------------------------------------------------------------===//
// Bad files
//===----------------------------------------------------------------------===//

class SafetensorsBadFile : public TempDirTest {
protected:
  /// A file with `header` as its JSON and `data` as its data section; the
  /// size field is the header's length unless `headerSize` says otherwise.
  std::string makeFile(llvm::StringRef header, llvm::StringRef data = "",
                       std::optional<uint64_t> headerSize = std::nullopt) {
    char size[8];
    llvm::support::endian::write64le(size, headerSize.value_or(header.size()));
    return writeFile("bad.safetensors",
                     std::string(size, 8) + header.str() + data.str());
  }

  /// Opens `file`, expects failure, and returns the message, which must
  /// name the file.
  std::string openError(const std::string &file) {
    std::string message = errorOf(SafetensorsFile::open(file));
    EXPECT_NE(message.find(file), std::string::npos) << message;
    return message;
  }
};

TEST_F(SafetensorsBadFile, MissingFile) {
  EXPECT_CONTAINS(openError(path("absent.safetensors")), "cannot open");
}

TEST_F(SafetensorsBadFile, ShorterThanSizeField) {
  std::string file = writeFile("short.safetensors", "abc");
  EXPECT_CONTAINS(openError(file), "file has 3 bytes");
}

TEST_F(SafetensorsBadFile, TruncatedFile) {
  std::string bytes = readBytes(inputPath("f16.safetensors"));
  ASSERT_GT(bytes.size(), 4u);
  std::string file =
      writeFile("truncated.safetensors", llvm::StringRef(bytes).drop_back(4));
  EXPECT_CONTAINS(openError(file), "tensor 'half': data_offsets [0, 24] reach "
                                   "past the data section, which has 20 "
                                   "bytes");
}

TEST_F(SafetensorsBadFile, HeaderSizeLargerThanFile) {
  EXPECT_CONTAINS(openError(makeFile("{}", "", 1000)),
                  "header size 1000 exceeds the 2 bytes");
  EXPECT_CONTAINS(openError(makeFile("{}", "", ~uint64_t(0))),
                  "header size 18446744073709551615 exceeds");
}

TEST_F(SafetensorsBadFile, InvalidJson) {
  EXPECT_CONTAINS(openError(makeFile("{\"a\": ")), "header is not valid JSON");
  EXPECT_CONTAINS(openError(makeFile("[1, 2]")), "header is not a JSON object");
}

TEST_F(SafetensorsBadFile, MissingOrMistypedFields) {
  EXPECT_CONTAINS(openError(makeFile(R"({"t": 3})")),
                  "tensor 't': header entry is not a JSON object");
  EXPECT_CONTAINS(
      openError(
          makeFile(R"({"t": {"shape": [1], "data_offsets": [0, 4]}})", "abcd")),
      "tensor 't': \"dtype\" is missing");
  EXPECT_CONTAINS(
      openError(makeFile(R"({"t": {"dtype": "F32", "data_offsets": [0, 4]}})",
                         "abcd")),
      "tensor 't': \"shape\" is missing");
  EXPECT_CONTAINS(
      openError(makeFile(R"({"t": {"dtype": "F32", "shape": [1]}})", "abcd")),
      "tensor 't': \"data_offsets\" is missing");
  EXPECT_CONTAINS(
      openError(makeFile(
          R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})",
          "abcd")),
      "not an array of two integers");
  EXPECT_CONTAINS(
      openError(makeFile(
          R"({"t": {"dtype": "F32", "shape": ["1"], "data_offsets": [0, 4]}})",
          "abcd")),
      "\"shape\" has an entry that is not a non-negative integer");
  EXPECT_CONTAINS(openError(makeFile(R"({"__metadata__": {"k": 1}})")),
                  "\"__metadata__\" entry 'k' is not a string");
}

TEST_F(SafetensorsBadFile, NegativeDim) {
  EXPECT_CONTAINS(
      openError(makeFile(
          R"({"t": {"dtype": "F32", "shape": [-1, 2], "data_offsets": [0, 8]}})",
          "abcdefgh")),
      "tensor 't': \"shape\" has an entry that is not a non-negative integer");
}

TEST_F(SafetensorsBadFile, UnknownDType) {
  EXPECT_CONTAINS(
      openError(makeFile(
          R"({"t": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}})",
          std::string(16, 'x'))),
      "tensor 't': unknown dtype 'F128'");
}

TEST_F(SafetensorsBadFile, HeaderLiesAboutSizes) {
  EXPECT_CONTAINS(
      openError(makeFile(
          R"({"t": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})",
          std::string(20, 'x'))),
      "tensor 't': header lies about sizes: F32 [2, 3] needs 24 bytes but "
      "data_offsets [0, 20] span 20");
  EXPECT_CONTAINS(
      openError(makeFile(
          R"({"t": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 0]}})")),
      "more bytes than fit in 64 bits");
}

TEST_F(SafetensorsBadFile, OffsetsOutOfBounds) {
  EXPECT_CONTAINS(
      openError(makeFile(
          R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
          std::string(8, 'x'))),
      "data_offsets [4, 12] reach past the data section, which has 8 bytes");
  EXPECT_CONTAINS(
      openError(makeFile(
          R"({"t": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}})",
          std::string(8, 'x'))),
      "end before they begin");
}

TEST_F(SafetensorsBadFile, OverlappingRanges) {
  EXPECT_CONTAINS(
      openError(makeFile(
          R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
          std::string(12, 'x'))),
      "tensors 'a' and 'b' overlap");
}

TEST_F(SafetensorsBadFile, HolesAndTrailingBytes) {
  EXPECT_CONTAINS(
      openError(makeFile(
          R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
              "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
          std::string(12, 'x'))),
      "bytes [4, 8) of the data section belong to no tensor");
  EXPECT_CONTAINS(
      openError(makeFile(
          R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
          std::string(6, 'x'))),
      "bytes [4, 6) of the data section belong to no tensor");
}

TEST_F(SafetensorsBadFile, UnsupportedDTypeIsAnErrorOnlyWhenReadAsFloat) {
  std::string file = makeFile(
      R"({"d": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}})",
      std::string(8, '\0'));
  llvm::Expected<SafetensorsFile> st = SafetensorsFile::open(file);
  ASSERT_TRUE(bool(st)) << llvm::toString(st.takeError());
  EXPECT_EQ(st->lookup("d")->dtype, SafetensorsDType::F64);
  std::string message = errorOf(st->readFloat("d"));
  EXPECT_EQ(message, "tensor 'd' in " + file +
                         " has dtype F64; supported: F32, F16, BF16");
}

} // namespace
