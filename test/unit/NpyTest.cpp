//===- NpyTest.cpp - .npy reader and writer -------------------------------===//

#include "lora/Runtime/Runtime.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

using namespace lora_runtime;

namespace {

std::string tempPath(const char *name) {
  return std::string(testing::TempDir()) + name;
}

TEST(Npy, RoundTripsEveryDType) {
  for (DType dtype : {DType::F32, DType::F64, DType::F16, DType::BF16,
                      DType::I64, DType::I32, DType::I16, DType::I8,
                      DType::U8, DType::Bool}) {
    Tensor t = Tensor::zeros(dtype, {2, 3});
    for (size_t i = 0; i < t.data.size(); ++i)
      t.data[i] = static_cast<uint8_t>(dtype == DType::Bool ? i % 2 : i * 7);
    std::string path = tempPath("roundtrip.npy"), error;
    ASSERT_TRUE(writeNpy(path, t, error)) << error;
    Tensor back;
    ASSERT_TRUE(readNpy(path, back, error)) << error;
    EXPECT_EQ(back.dtype, dtype) << dtypeName(dtype);
    EXPECT_EQ(back.shape, t.shape);
    EXPECT_EQ(back.data, t.data);
  }
}

TEST(Npy, ScalarAndVectorShapes) {
  for (std::vector<int64_t> shape : {std::vector<int64_t>{},
                                     std::vector<int64_t>{5},
                                     std::vector<int64_t>{1, 0, 3}}) {
    Tensor t = Tensor::zeros(DType::F32, shape);
    std::string path = tempPath("shape.npy"), error;
    ASSERT_TRUE(writeNpy(path, t, error)) << error;
    Tensor back;
    ASSERT_TRUE(readNpy(path, back, error)) << error;
    EXPECT_EQ(back.shape, shape);
  }
}

TEST(Npy, TruncatedDataIsAnError) {
  Tensor t = Tensor::zeros(DType::F32, {4, 4});
  std::string path = tempPath("truncated.npy"), error;
  ASSERT_TRUE(writeNpy(path, t, error)) << error;
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), bytes.size() - 8);
  }
  Tensor back;
  EXPECT_FALSE(readNpy(path, back, error));
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
}

TEST(Npy, NotANpyFile) {
  std::string path = tempPath("garbage.npy"), error;
  {
    std::ofstream out(path);
    out << "hello";
  }
  Tensor back;
  EXPECT_FALSE(readNpy(path, back, error));
  EXPECT_NE(error.find("not a .npy file"), std::string::npos) << error;
}

TEST(Npy, MissingFile) {
  Tensor back;
  std::string error;
  EXPECT_FALSE(readNpy(tempPath("does-not-exist.npy"), back, error));
  EXPECT_NE(error.find("cannot open"), std::string::npos) << error;
}

} // namespace
