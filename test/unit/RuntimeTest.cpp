//===- RuntimeTest.cpp - load, swap adapters, run: C++ and C APIs ---------===//
//
// The tests write artifact folders the way lora-compile does (manifest.json,
// weights.bin, adapter/ in PEFT format) around the fixture library
// Inputs/fixture_model.c, whose `main` computes y = x*W + 2*(x*A)*B, and
// compare the runtime's results with float64 references.
//
//===----------------------------------------------------------------------===//

#include "lora-c/Runtime.h"
#include "lora/Runtime/Json.h"
#include "lora/Runtime/Manifest.h"
#include "lora/Runtime/MappedFile.h"
#include "lora/Runtime/Model.h"
#include "lora/Runtime/Safetensors.h"

#include "lora/Adapter/Safetensors.h"

#include "AdapterTestSupport.h"

#include "llvm/ADT/APFloat.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <thread>

namespace rt = lora_runtime;
namespace fs = std::filesystem;
using lora_test::inputPath;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), bytes.size());
  ASSERT_TRUE(out.good()) << path;
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// Replaces the one occurrence of `from` in `text`.
std::string replaceOnce(std::string text, const std::string &from,
                        const std::string &to) {
  size_t pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  EXPECT_EQ(text.find(from, pos + 1), std::string::npos) << from;
  if (pos != std::string::npos)
    text.replace(pos, from.size(), to);
  return text;
}

template <typename T> std::string bytesOf(const std::vector<T> &values) {
  return std::string(reinterpret_cast<const char *>(values.data()),
                     values.size() * sizeof(T));
}

/// A row-major [rows, cols] matrix transposed.
std::vector<float> transpose(const std::vector<float> &matrix, int rows,
                             int cols) {
  std::vector<float> result(matrix.size());
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      result[j * rows + i] = matrix[i * cols + j];
  return result;
}

/// One tensor of a safetensors file to write.
struct StTensor {
  std::string name;
  std::string dtype; // "F32", "F16", "BF16", ...
  std::vector<int64_t> shape;
  std::string data;
};

/// Float values encoded as F32, F16 or BF16 (lib/Adapter's conversions,
/// which are checked against APFloat).
std::string encode(const std::vector<float> &values, const std::string &dtype) {
  std::string bytes;
  for (float value : values) {
    if (dtype == "F32") {
      bytes.append(reinterpret_cast<const char *>(&value), 4);
      continue;
    }
    uint16_t bits = dtype == "F16" ? mlir::lora::floatToHalfBits(value)
                                   : mlir::lora::floatToBFloat16Bits(value);
    bytes.append(reinterpret_cast<const char *>(&bits), 2);
  }
  return bytes;
}

/// The bytes of a safetensors file: the header is written by hand, like the
/// Python library writes it (padded with spaces to a multiple of 8).
std::string safetensors(const std::vector<StTensor> &tensors,
                        const std::string &metadata = "") {
  std::string header = "{";
  if (!metadata.empty())
    header += "\"__metadata__\":" + metadata;
  std::string data;
  for (const StTensor &tensor : tensors) {
    if (header.size() > 1)
      header += ",";
    header += "\"" + tensor.name + "\":{\"dtype\":\"" + tensor.dtype +
              "\",\"shape\":[";
    for (size_t i = 0; i < tensor.shape.size(); ++i)
      header += (i ? "," : "") + std::to_string(tensor.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(data.size()) + "," +
              std::to_string(data.size() + tensor.data.size()) + "]}";
    data += tensor.data;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string file(8, '\0');
  uint64_t size = header.size();
  for (int i = 0; i < 8; ++i)
    file[i] = static_cast<char>(size >> (8 * i));
  return file + header + data;
}

/// A temporary folder, removed with its contents at the end of the test.
class TempDir {
public:
  TempDir() {
    std::string pattern = testing::TempDir() + "lora-runtime-XXXXXX";
    char *made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string operator/(const std::string &name) const {
    return path + "/" + name;
  }
  std::string path;
};

//===----------------------------------------------------------------------===//
// The fixture model: y = x*W + s*(x*A)*B, x [2,4], W [4,3], A [4,2], B [2,3]
//===----------------------------------------------------------------------===//

constexpr int kM = 2, kK = 4, kN = 3, kRank = 2;
constexpr double kCompiledScale = 2.0; // alpha 4 / rank 2, in fixture_model.c

const std::vector<float> kX = {0.5f, -1.0f, 2.0f,  0.25f,
                               1.5f, 0.75f, -0.5f, 1.0f};
const std::vector<float> kW = {0.1f,  -0.2f, 0.3f, 0.4f,  0.5f,   -0.6f,
                               -0.7f, 0.8f,  0.9f, 0.05f, -0.15f, 0.25f};
/// Adapter values are multiples of 1/8 below 4, exact in f16 and bf16.
const std::vector<float> kA1 = {0.5f,   -0.25f, 1.0f,  0.125f,
                                -0.75f, 0.5f,   0.25f, 1.5f}; // [K, r]
const std::vector<float> kB1 = {0.25f, -0.5f,  0.75f,
                                1.0f,  0.125f, -1.25f}; // [r, N]
const std::vector<float> kA2 = {-1.0f,  0.375f, 0.5f,    -0.5f,
                                0.625f, 0.25f,  -0.125f, 2.0f};
const std::vector<float> kB2 = {-0.5f, 1.5f, 0.25f, 0.875f, -0.375f, 0.5f};

/// y = x*W + scale*(x*A)*B in double; A: [K, r], B: [r, N] (ONNX).
std::vector<double> reference(const std::vector<float> &a,
                              const std::vector<float> &b, double scale) {
  std::vector<double> y(kM * kN);
  for (int i = 0; i < kM; ++i)
    for (int n = 0; n < kN; ++n) {
      double sum = 0;
      for (int k = 0; k < kK; ++k)
        sum += double(kX[i * kK + k]) * kW[k * kN + n];
      for (int j = 0; j < kRank; ++j) {
        double t = 0;
        for (int k = 0; k < kK; ++k)
          t += double(kX[i * kK + k]) * a[k * kRank + j];
        sum += scale * t * b[j * kN + n];
      }
      y[i * kN + n] = sum;
    }
  return y;
}

std::vector<double> baseReference() {
  return reference(std::vector<float>(kK * kRank, 0.0f),
                   std::vector<float>(kRank * kN, 0.0f), 0);
}

std::vector<float> floatsOf(const rt::Tensor &tensor) {
  std::vector<float> values(tensor.numElements());
  std::memcpy(values.data(), tensor.data.data(), tensor.data.size());
  return values;
}

/// Checks float32 results against a float64 reference.
void expectClose(const std::vector<float> &actual,
                 const std::vector<double> &expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual[i], expected[i], 1e-6 * (1 + std::fabs(expected[i])))
        << "element " << i;
}

/// A PEFT adapter_config.json.
std::string peftConfig(int r, double alpha, const std::string &extra = "") {
  return "{\n  \"peft_type\": \"LORA\",\n  \"r\": " + std::to_string(r) +
         ",\n  \"lora_alpha\": " + std::to_string(alpha) +
         ",\n  \"target_modules\": [\"layer\"],\n  \"use_dora\": false,\n"
         "  \"bias\": \"none\"" +
         extra + "\n}\n";
}

/// The PEFT tensors of module `module` for ONNX-orientation A [K, r] and
/// B [r, N]: lora_A.weight [r, K], lora_B.weight [N, r].
std::vector<StTensor> peftTensors(const std::vector<float> &a,
                                  const std::vector<float> &b,
                                  const std::string &dtype = "F32",
                                  const std::string &module = "layer",
                                  int k = kK, int rank = kRank, int n = kN) {
  std::string prefix = "base_model.model." + module;
  return {{prefix + ".lora_A.weight",
           dtype,
           {rank, k},
           encode(transpose(a, k, rank), dtype)},
          {prefix + ".lora_B.weight",
           dtype,
           {n, rank},
           encode(transpose(b, rank, n), dtype)}};
}

void writeAdapter(const std::string &dir, const std::string &config,
                  const std::vector<StTensor> &tensors) {
  fs::create_directories(dir);
  writeFile(dir + "/adapter_config.json", config);
  writeFile(dir + "/adapter_model.safetensors",
            safetensors(tensors, "{\"format\":\"pt\"}"));
}

/// The manifest of the fixture's `main`. W lies at offset 64 of a 112-byte
/// weights.bin whose first 64 bytes are NaNs.
std::string mainManifest() {
  return R"({
  "format": "lora-opt-artifact",
  "format_version": 1,
  "compiler": {"version": "test", "command": "none", "pipeline": "none"},
  "target": "cpu",
  "library": "model.so",
  "function": "main",
  "arguments": [
    {"name": "model.layer.weight", "kind": "weight", "dtype": "f32",
     "shape": [4, 3], "offset": 64, "bytes": 48},
    {"name": "x", "kind": "input", "dtype": "f32", "shape": [2, 4]},
    {"name": "base_model.model.layer.lora_A.weight", "kind": "lora_a",
     "module": "layer", "dtype": "f32", "shape": [4, 2]},
    {"name": "base_model.model.layer.lora_B.weight", "kind": "lora_b",
     "module": "layer", "dtype": "f32", "shape": [2, 3]}
  ],
  "outputs": [{"name": "y", "dtype": "f32", "shape": [2, 3]}],
  "weights": {"file": "weights.bin", "bytes": 112, "alignment": 64},
  "lora": {
    "merged": false,
    "adapter": "adapter",
    "modules": [{"name": "layer", "in_features": 4, "out_features": 3,
                 "rank": 2, "alpha": 4.0, "scale": 2.0}]
  },
  "future_key": {"ignored": [1, 2, 3]}
}
)";
}

std::string weightsBin() {
  std::vector<float> padding(16, std::nanf(""));
  return bytesOf(padding) + bytesOf(kW);
}

/// Writes an artifact folder `dir` around the fixture library, with the
/// initial adapter (kA1, kB1, alpha 4, r 2) in `dir`/adapter.
void writeArtifact(const std::string &dir,
                   const std::string &manifest = mainManifest()) {
  fs::create_directories(dir);
  writeFile(dir + "/manifest.json", manifest);
  writeFile(dir + "/weights.bin", weightsBin());
  fs::copy_file(LORA_RUNTIME_FIXTURE, dir + "/model.so",
                fs::copy_options::overwrite_existing);
  writeAdapter(dir + "/adapter", peftConfig(2, 4), peftTensors(kA1, kB1));
}

class RuntimeModel : public testing::Test {
protected:
  void SetUp() override { writeArtifact(dir / "out"); }

  std::unique_ptr<rt::Model> load(const std::string &name = "out") {
    std::string error;
    std::unique_ptr<rt::Model> model = rt::Model::load(dir / name, error);
    EXPECT_TRUE(model) << error;
    return model;
  }

  std::string loadError(const std::string &name = "out") {
    std::string error;
    EXPECT_FALSE(rt::Model::load(dir / name, error));
    return error;
  }

  /// Runs the model on kX.
  std::vector<float> run(rt::Model &model) {
    rt::Tensor x = rt::Tensor::zeros(rt::DType::F32, {kM, kK});
    std::memcpy(x.data.data(), kX.data(), x.data.size());
    std::vector<rt::Tensor> outputs;
    std::string error;
    EXPECT_TRUE(model.run({&x}, outputs, error)) << error;
    if (outputs.size() != 1)
      return {};
    return floatsOf(outputs[0]);
  }

  /// Writes an adapter folder `name` and sets it; returns the error ("" on
  /// success).
  std::string setAdapter(rt::Model &model, const std::string &name,
                         const std::string &config,
                         const std::vector<StTensor> &tensors) {
    writeAdapter(dir / name, config, tensors);
    std::string error;
    model.setAdapter(dir / name, error);
    return error;
  }

  TempDir dir;
};

//===----------------------------------------------------------------------===//
// Running and swapping adapters
//===----------------------------------------------------------------------===//

TEST_F(RuntimeModel, LoadsAndRunsWithTheInitialAdapter) {
  auto model = load();
  ASSERT_TRUE(model);
  ASSERT_EQ(model->inputs().size(), 1u);
  EXPECT_EQ(model->inputs()[0].name, "x");
  EXPECT_EQ(model->inputs()[0].shape, (std::vector<int64_t>{2, 4}));
  ASSERT_EQ(model->outputs().size(), 1u);
  EXPECT_EQ(model->outputs()[0].name, "y");
  EXPECT_TRUE(model->hasLora());
  EXPECT_FALSE(model->isMerged());
  ASSERT_EQ(model->loraModules().size(), 1u);
  EXPECT_EQ(model->loraModules()[0].name, "layer");
  EXPECT_EQ(model->loraModules()[0].rank, 2);
  EXPECT_EQ(model->loraModules()[0].scale, 2.0);
  expectClose(run(*model), reference(kA1, kB1, kCompiledScale));
}

TEST_F(RuntimeModel, SwapsAdaptersAndBack) {
  auto model = load();
  ASSERT_TRUE(model);
  std::vector<float> first = run(*model);
  EXPECT_EQ(
      setAdapter(*model, "second", peftConfig(2, 4), peftTensors(kA2, kB2)),
      "");
  expectClose(run(*model), reference(kA2, kB2, kCompiledScale));
  std::string error;
  ASSERT_TRUE(model->setAdapter(dir / "out/adapter", error)) << error;
  EXPECT_EQ(run(*model), first);
}

/// A device with memory of its own, as a GPU has: buffers live in its heap,
/// poisoned on allocation and release, and counted; the code may not see
/// host pointers (sharesHostMemory is false), so the model must stage inputs
/// and outputs through upload/download.
class StagingDevice final : public rt::Device {
public:
  const char *name() const override { return "staging"; }
  bool loadWeights(const std::string &path, uint64_t expectedBytes,
                   const uint8_t *&base, std::string &error) override {
    std::ifstream in(path, std::ios::binary);
    weights.assign(std::istreambuf_iterator<char>(in), {});
    if (weights.size() != expectedBytes) {
      error = "short weights";
      return false;
    }
    base = weights.data();
    return true;
  }
  void *allocate(size_t bytes, std::string &) override {
    ++allocations;
    auto *buffer = new uint8_t[bytes];
    std::memset(buffer, 0, bytes);
    live.insert(buffer);
    return buffer;
  }
  void release(void *buffer) override {
    ++releases;
    live.erase(static_cast<uint8_t *>(buffer));
    delete[] static_cast<uint8_t *>(buffer);
  }
  bool upload(void *buffer, const void *host, size_t bytes,
              std::string &) override {
    EXPECT_TRUE(live.count(static_cast<uint8_t *>(buffer)));
    ++uploads;
    std::memcpy(buffer, host, bytes);
    return true;
  }
  bool download(void *host, const void *buffer, size_t bytes,
                std::string &) override {
    EXPECT_TRUE(live.count(static_cast<uint8_t *>(const_cast<void *>(buffer))));
    ++downloads;
    std::memcpy(host, buffer, bytes);
    return true;
  }
  bool sharesHostMemory() const override { return false; }
  bool call(rt::CompiledFunction &function, const void *const *arguments,
            void *const *outputs, std::string &) override {
    ++calls;
    function.call(arguments, outputs);
    return true;
  }

  std::vector<uint8_t> weights;
  std::set<uint8_t *> live;
  int allocations = 0, releases = 0, uploads = 0, downloads = 0, calls = 0;
};

TEST_F(RuntimeModel, DeviceWithItsOwnMemory) {
  auto owned = std::make_unique<StagingDevice>();
  StagingDevice &device = *owned;
  std::string error;
  {
    auto model = rt::Model::load(dir / "out", error, std::move(owned));
    ASSERT_TRUE(model) << error;
    // The initial adapter: one upload per LoRA parameter.
    EXPECT_EQ(device.uploads, 2);
    expectClose(run(*model), reference(kA1, kB1, kCompiledScale));
    EXPECT_EQ(device.calls, 1);
    EXPECT_EQ(device.uploads, 3);   // the input
    EXPECT_EQ(device.downloads, 1); // the output
    EXPECT_EQ(
        setAdapter(*model, "second", peftConfig(2, 4), peftTensors(kA2, kB2)),
        "");
    EXPECT_EQ(device.uploads, 5);
    expectClose(run(*model), reference(kA2, kB2, kCompiledScale));
    // A failing swap touches no device memory.
    int uploads = device.uploads;
    EXPECT_NE(
        setAdapter(*model, "bad", peftConfig(3, 4), peftTensors(kA2, kB2)), "");
    EXPECT_EQ(device.uploads, uploads);
    expectClose(run(*model), reference(kA2, kB2, kCompiledScale));
    // Only the two current parameters stay allocated between runs.
    EXPECT_EQ(device.live.size(), 2u);
  }
}

TEST_F(RuntimeModel, TargetWithoutADevice) {
  writeFile(dir / "out/manifest.json",
            replaceOnce(mainManifest(), "\"target\": \"cpu\"",
                        "\"target\": \"tpu\""));
  // The CUDA device is built wherever cuda.h was found.
  std::string error = loadError();
  EXPECT_EQ(error.rfind(dir / "out/manifest.json" +
                            ": this runtime has no device for target 'tpu' "
                            "(it has: cpu",
                        0),
            0u)
      << error;
}

TEST_F(RuntimeModel, FoldsAnotherScaleIntoB) {
  auto model = load();
  ASSERT_TRUE(model);
  // alpha 7 / r 2 = 3.5 instead of the compiled 2.
  EXPECT_EQ(
      setAdapter(*model, "alpha", peftConfig(2, 7), peftTensors(kA2, kB2)), "");
  expectClose(run(*model), reference(kA2, kB2, 3.5));
  // rsLoRA: alpha / sqrt(r).
  EXPECT_EQ(setAdapter(*model, "rslora",
                       peftConfig(2, 3, ",\n  \"use_rslora\": true"),
                       peftTensors(kA2, kB2)),
            "");
  expectClose(run(*model), reference(kA2, kB2, 3 / std::sqrt(2.0)));
}

TEST_F(RuntimeModel, PatternsChooseRankAndAlpha) {
  auto model = load();
  ASSERT_TRUE(model);
  // The first matching key in file order wins; "ayer" alone does not match
  // (keys match "."-separated suffixes of the module name).
  std::string config = peftConfig(
      8, 16,
      ",\n  \"rank_pattern\": {\"ayer\": 5, \"lay.r\": 2, \"layer\": 3},"
      "\n  \"alpha_pattern\": {\"l.*\": 6, \"layer\": 9}");
  EXPECT_EQ(setAdapter(*model, "patterns", config, peftTensors(kA2, kB2)), "");
  expectClose(run(*model), reference(kA2, kB2, 3.0));
}

TEST_F(RuntimeModel, ReadsHalfAndBFloat16Adapters) {
  auto model = load();
  ASSERT_TRUE(model);
  for (const char *dtype : {"F16", "BF16"}) {
    EXPECT_EQ(setAdapter(*model, dtype, peftConfig(2, 4),
                         peftTensors(kA2, kB2, dtype)),
              "");
    expectClose(run(*model), reference(kA2, kB2, kCompiledScale));
  }
}

TEST_F(RuntimeModel, AcceptsKeysWithAnAdapterName) {
  auto model = load();
  ASSERT_TRUE(model);
  std::vector<StTensor> tensors = peftTensors(kA2, kB2);
  tensors[0].name = "base_model.model.layer.lora_A.default.weight";
  tensors[1].name = "base_model.model.layer.lora_B.default.weight";
  EXPECT_EQ(setAdapter(*model, "named", peftConfig(2, 4), tensors), "");
  expectClose(run(*model), reference(kA2, kB2, kCompiledScale));
}

TEST_F(RuntimeModel, ModuleMissingFromTheAdapterGetsNoUpdate) {
  auto model = load();
  ASSERT_TRUE(model);
  EXPECT_EQ(setAdapter(*model, "empty", peftConfig(2, 4), {}), "");
  expectClose(run(*model), baseReference());
}

TEST_F(RuntimeModel, SetParameterTakesOnnxOrientation) {
  auto model = load();
  ASSERT_TRUE(model);
  rt::Tensor a = rt::Tensor::zeros(rt::DType::F32, {kK, kRank});
  std::memcpy(a.data.data(), kA2.data(), a.data.size());
  std::string error;
  ASSERT_TRUE(
      model->setParameter("base_model.model.layer.lora_A.weight", a, error))
      << error;
  ASSERT_TRUE(model->setParameter("base_model.model.layer.lora_B.weight",
                                  kB2.data(), kB2.size() * 4, error))
      << error;
  expectClose(run(*model), reference(kA2, kB2, kCompiledScale));

  rt::Tensor wrong = rt::Tensor::zeros(rt::DType::F32, {kRank, kK});
  EXPECT_FALSE(model->setParameter("base_model.model.layer.lora_A.weight",
                                   wrong, error));
  EXPECT_EQ(error, "parameter 'base_model.model.layer.lora_A.weight' must be "
                   "f32[4x2], got f32[2x4]");
  EXPECT_FALSE(model->setParameter("base_model.model.layer.lora_B.weight",
                                   kB2.data(), 8, error));
  EXPECT_EQ(error, "parameter 'base_model.model.layer.lora_B.weight' "
                   "(f32[2x3]) has 24 bytes, got 8");
  EXPECT_FALSE(model->setParameter("model.layer.weight", kW.data(), 48, error));
  EXPECT_EQ(error, "'model.layer.weight' is a frozen weight; only LoRA "
                   "parameters (lora_a, lora_b) can be set");
  EXPECT_FALSE(model->setParameter("nope", kW.data(), 48, error));
  EXPECT_EQ(error, "the model has no parameter 'nope'");
  expectClose(run(*model), reference(kA2, kB2, kCompiledScale));
}

TEST_F(RuntimeModel, WeightsFileIsUnchanged) {
  auto model = load();
  ASSERT_TRUE(model);
  run(*model);
  model.reset();
  EXPECT_EQ(readFile(dir / "out/weights.bin"), weightsBin());
}

//===----------------------------------------------------------------------===//
// Errors of load
//===----------------------------------------------------------------------===//

TEST_F(RuntimeModel, MissingFolderAndFiles) {
  EXPECT_EQ(loadError("nowhere"),
            "artifact folder '" + dir / "nowhere" + "' does not exist");

  fs::remove(dir / "out/model.so");
  EXPECT_EQ(loadError(), "cannot find '" + dir / "out/model.so" +
                             "' (\"library\" in " + dir / "out/manifest.json" +
                             ")");
  fs::remove(dir / "out/weights.bin");
  EXPECT_EQ(loadError(), "cannot open '" + dir / "out/weights.bin" +
                             "': No such file or directory");
  fs::remove(dir / "out/manifest.json");
  EXPECT_EQ(loadError(), "cannot open '" + dir / "out/manifest.json" +
                             "': No such file or directory");
}

TEST_F(RuntimeModel, WeightsFileOfTheWrongSize) {
  writeFile(dir / "out/weights.bin", weightsBin().substr(0, 100));
  EXPECT_EQ(loadError(),
            "'" + dir / "out/weights.bin" + "' has 100 bytes, but " +
                dir / "out/manifest.json" + " says weights.bytes = 112");
}

TEST_F(RuntimeModel, SignatureMismatch) {
  writeFile(
      dir / "out/manifest.json",
      replaceOnce(mainManifest(), "\"shape\": [2, 4]", "\"shape\": [3, 4]"));
  EXPECT_EQ(loadError(),
            dir / "out/manifest.json" + " does not match " +
                dir / "out/model.so" +
                ": argument 1 ('x') is f32[3x4] in the manifest but f32[2x4] "
                "in the library");
}

TEST_F(RuntimeModel, LibraryWithoutSignatureOrEntry) {
  std::string manifest = replaceOnce(mainManifest(), "\"function\": \"main\"",
                                     "\"function\": \"nosig\"");
  writeFile(dir / "out/manifest.json", manifest);
  EXPECT_EQ(loadError(), "'" + dir / "out/model.so" +
                             "' has no 'lora_signature_nosig'; it was not "
                             "written by lora-compile");
  writeFile(dir / "out/manifest.json",
            replaceOnce(manifest, "nosig", "absent"));
  EXPECT_EQ(loadError(), "'" + dir / "out/model.so" +
                             "' has no function 'lora_entry_absent'");
}

TEST_F(RuntimeModel, BadFormatVersion) {
  writeFile(dir / "out/manifest.json",
            replaceOnce(mainManifest(), "\"format_version\": 1",
                        "\"format_version\": 2"));
  EXPECT_EQ(loadError(), dir / "out/manifest.json" +
                             ":3:21: format_version: format version 2 is not "
                             "supported; this runtime reads format version 1");
}

TEST_F(RuntimeModel, BadInitialAdapter) {
  writeAdapter(dir / "out/adapter", peftConfig(2, 4),
               peftTensors(kA1, kB1, "F32", "other"));
  EXPECT_EQ(loadError(),
            "cannot load the initial adapter of '" + dir / "out" +
                "': adapter '" + dir / "out/adapter" +
                "' has modules the model was not compiled with: other");
}

//===----------------------------------------------------------------------===//
// Manifest checks
//===----------------------------------------------------------------------===//

/// The error of parsing the main manifest with `from` replaced by `to`.
std::string manifestError(const std::string &from, const std::string &to) {
  rt::Manifest manifest;
  std::string error;
  EXPECT_FALSE(rt::parseManifest(replaceOnce(mainManifest(), from, to),
                                 "out/manifest.json", manifest, error));
  return error;
}

TEST(RuntimeManifest, ParsesTheFixtureManifest) {
  rt::Manifest manifest;
  std::string error;
  ASSERT_TRUE(
      rt::parseManifest(mainManifest(), "manifest.json", manifest, error))
      << error;
  EXPECT_EQ(manifest.library, "model.so");
  EXPECT_EQ(manifest.function, "main");
  ASSERT_EQ(manifest.arguments.size(), 4u);
  EXPECT_EQ(manifest.arguments[0].kind, rt::ArgumentKind::Weight);
  EXPECT_EQ(manifest.arguments[0].offset, 64u);
  EXPECT_EQ(manifest.arguments[1].kind, rt::ArgumentKind::Input);
  EXPECT_EQ(manifest.arguments[2].kind, rt::ArgumentKind::LoraA);
  EXPECT_EQ(manifest.arguments[3].module, "layer");
  EXPECT_EQ(manifest.weightsBytes, 112u);
  EXPECT_TRUE(manifest.hasLora);
  EXPECT_EQ(manifest.adapter, "adapter");
  EXPECT_EQ(manifest.signature(),
            "f32[4x3],f32[2x4],f32[4x2],f32[2x3]->f32[2x3]");
}

TEST(RuntimeManifest, SignatureFormat) {
  EXPECT_EQ(rt::formatSignature({{"ids", rt::DType::I64, {2, 16}},
                                 {"step", rt::DType::I32, {}}},
                                {{"logits", rt::DType::BF16, {2, 16, 128}}}),
            "i64[2x16],i32[]->bf16[2x16x128]");
}

TEST(RuntimeManifest, Errors) {
  EXPECT_EQ(manifestError("\"format\": \"lora-opt-artifact\"",
                          "\"format\": \"onnx\""),
            "out/manifest.json:2:13: format: expected "
            "\"lora-opt-artifact\", got \"onnx\"");
  EXPECT_EQ(manifestError("\"format_version\": 1", "\"format_version\": \"1\""),
            "out/manifest.json:3:21: format_version: expected an integer >= "
            "0, got \"1\"");
  EXPECT_EQ(manifestError("\"library\": \"model.so\",", ""),
            "out/manifest.json:1:1: missing key \"library\"");
  EXPECT_EQ(manifestError("\"library\": \"model.so\"",
                          "\"library\": \"/abs/model.so\""),
            "out/manifest.json:6:14: library: expected a path inside the "
            "artifact folder, got \"/abs/model.so\"");
  EXPECT_EQ(manifestError("\"library\": \"model.so\"",
                          "\"library\": \"../other/model.so\""),
            "out/manifest.json:6:14: library: expected a path inside the "
            "artifact folder, got \"../other/model.so\"");
  EXPECT_EQ(manifestError("\"function\": \"main\"", "\"function\": \"a-b\""),
            "out/manifest.json:7:15: function: expected a C identifier (the "
            "library exports lora_entry_<function>), got \"a-b\"");
  EXPECT_EQ(manifestError("\"kind\": \"input\"", "\"kind\": \"output\""),
            "out/manifest.json:11:27: arguments[1].kind: unknown kind "
            "'output'; expected input, weight, lora_a, lora_b or state");
  EXPECT_EQ(manifestError("\"kind\": \"input\", \"dtype\": \"f32\"",
                          "\"kind\": \"input\", \"dtype\": \"f8\""),
            "out/manifest.json:11:45: arguments[1].dtype: unknown dtype 'f8'; "
            "expected one of f32, f64, f16, bf16, i64, i32, i16, i8, u8, "
            "bool");
  EXPECT_EQ(manifestError("\"shape\": [2, 4]", "\"shape\": [2, -4]"),
            "out/manifest.json:11:65: arguments[1].shape[1]: expected an "
            "integer >= 0, got -4");
  EXPECT_EQ(manifestError("\"bytes\": 48", "\"bytes\": 40"),
            "out/manifest.json:10:46: arguments[0].bytes: 40 bytes, but "
            "f32[4x3] has 48");
  EXPECT_EQ(manifestError("\"offset\": 64", "\"offset\": 32"),
            "out/manifest.json:10:33: arguments[0].offset: offset 32 is not "
            "a multiple of weights.alignment (64) and of the element size");
  EXPECT_EQ(manifestError("\"bytes\": 112", "\"bytes\": 100"),
            "out/manifest.json:10:33: arguments[0].offset: bytes [64, 64 + "
            "48) reach past the end of weights.bin (weights.bytes = 100)");
  EXPECT_EQ(manifestError("\"alignment\": 64", "\"alignment\": 48"),
            "out/manifest.json:18:65: weights.alignment: expected a power of "
            "two, got 48");
  EXPECT_EQ(manifestError("\"module\": \"layer\", \"dtype\": \"f32\", "
                          "\"shape\": [4, 2]",
                          "\"module\": \"other\", \"dtype\": \"f32\", "
                          "\"shape\": [4, 2]"),
            "out/manifest.json:13:16: arguments[2].module: module 'other' is "
            "not in lora.modules");
  EXPECT_EQ(manifestError("\"shape\": [4, 2]", "\"shape\": [4, 3]"),
            "out/manifest.json:13:50: arguments[2].shape: lora_a of module "
            "'layer' must be 4x2 (in_features x rank), got 4x3");
  EXPECT_EQ(manifestError("\"module\": \"layer\", \"dtype\": \"f32\", "
                          "\"shape\": [2, 3]",
                          "\"module\": \"layer\", \"dtype\": \"i32\", "
                          "\"shape\": [2, 3]"),
            "out/manifest.json:15:34: arguments[3].dtype: a LoRA parameter "
            "must be f32, f64, f16 or bf16, got i32");
  EXPECT_EQ(manifestError("\"kind\": \"lora_b\",\n     \"module\": \"layer\", "
                          "\"dtype\": \"f32\", \"shape\": [2, 3]",
                          "\"kind\": \"lora_a\",\n     \"module\": \"layer\", "
                          "\"dtype\": \"f32\", \"shape\": [4, 2]"),
            "out/manifest.json:14:5: arguments[3]: module 'layer' has a "
            "second lora_a argument (the first is arguments[2])");
  EXPECT_EQ(
      manifestError("\"name\": \"x\"", "\"name\": \"model.layer.weight\""),
      "out/manifest.json:11:14: arguments[1].name: argument name "
      "'model.layer.weight' is used twice (also by arguments[0])");
  EXPECT_EQ(manifestError("\"merged\": false", "\"merged\": true"),
            "out/manifest.json:12:62: arguments[2].kind: a lora_a argument, "
            "but lora.merged is true");
  EXPECT_EQ(manifestError("\"scale\": 2.0", "\"scale\": 0"),
            "out/manifest.json:23:52: lora.modules[0].scale: expected a "
            "number > 0, got 0");
  EXPECT_EQ(manifestError("\"outputs\"", "\"outputz\""),
            "out/manifest.json:1:1: missing key \"outputs\"");
  EXPECT_EQ(manifestError("\"ignored\": [1, 2, 3]}", "\"ignored\": [1, 2, 3]"),
            "out/manifest.json:27:1: expected ',' or '}' in an object, got "
            "end of input");
}

/// The main manifest with a "train" object whose "dropout" is `dropout`.
std::string trainManifest(const std::string &dropout) {
  return replaceOnce(mainManifest(), "\"future_key\"",
                     R"("train": {"loss": "mse", "ignore_index": -100,
    "num_classes": 0, "optimizer": {"name": "sgd"}, "lr_input": "lr",
    "step_input": null, "dropout": )" +
                         dropout + R"(, "eval": null},
  "future_key")");
}

TEST(RuntimeManifest, TrainDropout) {
  rt::Manifest manifest;
  std::string error;
  ASSERT_TRUE(rt::parseManifest(
      trainManifest(R"({"rate": 0.1, "seed_input": "dropout_seed",
                        "seed": 42})"),
      "manifest.json", manifest, error))
      << error;
  ASSERT_TRUE(manifest.train.has_value());
  EXPECT_EQ(manifest.train->dropout, 0.1);
  EXPECT_EQ(manifest.train->dropoutSeedInput, "dropout_seed");
  EXPECT_EQ(manifest.train->dropoutSeed, 42u);
  // A negative seed is the two's complement of a 64-bit one.
  ASSERT_TRUE(rt::parseManifest(
      trainManifest(R"({"rate": 0.5, "seed_input": "s", "seed": -1})"),
      "manifest.json", manifest, error))
      << error;
  EXPECT_EQ(manifest.train->dropoutSeed, ~uint64_t(0));
  ASSERT_TRUE(rt::parseManifest(trainManifest("null"), "manifest.json",
                                manifest, error))
      << error;
  EXPECT_EQ(manifest.train->dropout, 0.0);
  EXPECT_TRUE(manifest.train->dropoutSeedInput.empty());

  auto parseError = [](const std::string &dropout) {
    rt::Manifest manifest;
    std::string error;
    EXPECT_FALSE(
        rt::parseManifest(trainManifest(dropout), "m.json", manifest, error));
    return error;
  };
  EXPECT_NE(parseError(R"({"rate": 1.5, "seed_input": "s", "seed": 0})")
                .find("train.dropout.rate: must be below 1"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"rate": 0, "seed_input": "s", "seed": 0})")
                .find("train.dropout.rate: expected a number > 0, got 0"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"rate": 0.1, "seed": 0})")
                .find("missing key \"seed_input\""),
            std::string::npos);
  // Optimizer hyper-parameters are numbers or booleans (checkpoints compare
  // them).
  rt::Manifest other;
  EXPECT_FALSE(rt::parseManifest(
      replaceOnce(trainManifest("null"), "{\"name\": \"sgd\"}",
                  "{\"name\": \"sgd\", \"momentum\": \"high\"}"),
      "m.json", other, error));
  EXPECT_NE(error.find("train.optimizer.momentum: expected a number or a "
                       "boolean, got \"high\""),
            std::string::npos)
      << error;
}

TEST(RuntimeModelTraining, DropoutSeedOfStepIsSplitmix64) {
  // splitmix64's known outputs from seed 0, and the step-th from a seed.
  EXPECT_EQ(rt::Model::dropoutSeedOfStep(0, 1), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(rt::Model::dropoutSeedOfStep(0, 2), 0x6E789E6AA1B965F4ULL);
  EXPECT_EQ(rt::Model::dropoutSeedOfStep(0, 3), 0x06C45D188009454FULL);
  EXPECT_NE(rt::Model::dropoutSeedOfStep(1, 1),
            rt::Model::dropoutSeedOfStep(0, 1));
}

TEST(RuntimeManifest, LoraBWithoutLoraA) {
  std::string text = replaceOnce(
      mainManifest(),
      R"({"name": "base_model.model.layer.lora_A.weight", "kind": "lora_a",
     "module": "layer", "dtype": "f32", "shape": [4, 2]},
)",
      "");
  rt::Manifest manifest;
  std::string error;
  EXPECT_FALSE(rt::parseManifest(text, "m.json", manifest, error));
  EXPECT_EQ(error, "m.json:20:17: lora.modules[0]: module 'layer' has no "
                   "lora_a argument");
}

//===----------------------------------------------------------------------===//
// Errors of setAdapter: each leaves the previous adapter in place
//===----------------------------------------------------------------------===//

class RuntimeAdapterErrors : public RuntimeModel {
protected:
  void SetUp() override {
    RuntimeModel::SetUp();
    model = load();
    ASSERT_TRUE(model);
    before = run(*model);
  }

  void TearDown() override {
    if (model) {
      EXPECT_EQ(run(*model), before) << "a failed setAdapter changed the model";
    }
  }

  std::unique_ptr<rt::Model> model;
  std::vector<float> before;
};

TEST_F(RuntimeAdapterErrors, UnknownModules) {
  std::vector<StTensor> tensors = peftTensors(kA2, kB2);
  for (const char *module : {"b.q_proj", "a.q_proj"})
    for (StTensor &tensor : peftTensors(kA2, kB2, "F32", module))
      tensors.push_back(tensor);
  EXPECT_EQ(setAdapter(*model, "unknown", peftConfig(2, 4), tensors),
            "adapter '" + dir / "unknown" +
                "' has modules the model was not compiled with: a.q_proj, "
                "b.q_proj");
}

TEST_F(RuntimeAdapterErrors, WrongRank) {
  std::vector<float> a(kK * 3, 0.5f), b(3 * kN, 0.25f);
  EXPECT_EQ(setAdapter(*model, "rank3", peftConfig(3, 6),
                       peftTensors(a, b, "F32", "layer", kK, 3, kN)),
            "adapter '" + dir / "rank3" +
                "': module 'layer': tensor "
                "'base_model.model.layer.lora_A.weight' has shape 3x4, "
                "expected 2x4 (rank x in_features of the compiled module: "
                "rank 2, in_features 4, out_features 3)");
}

TEST_F(RuntimeAdapterErrors, WrongK) {
  std::vector<float> a(5 * kRank, 0.5f);
  EXPECT_EQ(setAdapter(*model, "k5", peftConfig(2, 4),
                       peftTensors(a, kB2, "F32", "layer", 5, kRank, kN)),
            "adapter '" + dir / "k5" +
                "': module 'layer': tensor "
                "'base_model.model.layer.lora_A.weight' has shape 2x5, "
                "expected 2x4 (rank x in_features of the compiled module: "
                "rank 2, in_features 4, out_features 3)");
}

TEST_F(RuntimeAdapterErrors, WrongN) {
  std::vector<float> b(kRank * 4, 0.5f);
  EXPECT_EQ(setAdapter(*model, "n4", peftConfig(2, 4),
                       peftTensors(kA2, b, "F32", "layer", kK, kRank, 4)),
            "adapter '" + dir / "n4" +
                "': module 'layer': tensor "
                "'base_model.model.layer.lora_B.weight' has shape 4x2, "
                "expected 3x2 (out_features x rank of the compiled module: "
                "rank 2, in_features 4, out_features 3)");
}

TEST_F(RuntimeAdapterErrors, ConfigRankDisagrees) {
  EXPECT_EQ(setAdapter(*model, "r4", peftConfig(4, 8), peftTensors(kA2, kB2)),
            "adapter '" + dir / "r4" +
                "': module 'layer': adapter_config.json gives it rank 4 (r / "
                "rank_pattern), but its tensors have rank 2");
}

TEST_F(RuntimeAdapterErrors, MissingB) {
  std::vector<StTensor> tensors = peftTensors(kA2, kB2);
  tensors.pop_back();
  EXPECT_EQ(setAdapter(*model, "noB", peftConfig(2, 4), tensors),
            "adapter '" + dir / "noB" +
                "': module 'layer': has lora_A but no lora_B");
}

TEST_F(RuntimeAdapterErrors, UnsupportedTensorsAndDtypes) {
  std::vector<StTensor> tensors = peftTensors(kA2, kB2);
  tensors.push_back(
      {"base_model.model.layer.bias", "F32", {3}, encode({1, 2, 3}, "F32")});
  EXPECT_EQ(setAdapter(*model, "bias", peftConfig(2, 4), tensors),
            dir / "bias/adapter_model.safetensors" +
                ": tensors that are not LoRA weights "
                "(base_model.model.<module>.lora_A/lora_B.weight): "
                "base_model.model.layer.bias");
  tensors = peftTensors(kA2, kB2);
  tensors[1].dtype = "I32";
  tensors[1].data = encode(kB2, "F32");
  EXPECT_EQ(setAdapter(*model, "i32", peftConfig(2, 4), tensors),
            "tensor 'base_model.model.layer.lora_B.weight' in " +
                dir / "i32/adapter_model.safetensors" +
                " has dtype I32; supported: F32, F16, BF16");
  tensors = peftTensors(kA2, kB2);
  tensors[1].name = "base_model.model.layer.lora_B.other.weight";
  tensors[0].name = "base_model.model.layer.lora_A.default.weight";
  EXPECT_EQ(setAdapter(*model, "two", peftConfig(2, 4), tensors),
            dir / "two/adapter_model.safetensors" +
                ": holds the weights of several adapters ('default', "
                "'other'); save one adapter per folder");
}

TEST_F(RuntimeAdapterErrors, TruncatedSafetensors) {
  writeAdapter(dir / "cut", peftConfig(2, 4), peftTensors(kA2, kB2));
  std::string path = dir / "cut/adapter_model.safetensors";
  std::string bytes = readFile(path);
  writeFile(path, bytes.substr(0, bytes.size() - 4));
  std::string error;
  EXPECT_FALSE(model->setAdapter(dir / "cut", error));
  EXPECT_EQ(error, path + ": tensor 'base_model.model.layer.lora_B.weight': "
                          "data_offsets [32, 56] reach past the end of the "
                          "data section (52 bytes); is the file truncated?");
  writeFile(path, bytes.substr(0, 100));
  EXPECT_FALSE(model->setAdapter(dir / "cut", error));
  EXPECT_CONTAINS(error, path + ": the header size ");
  EXPECT_CONTAINS(error, "reaches past the end of the file (92 bytes follow "
                         "the size field)");
}

TEST_F(RuntimeAdapterErrors, MissingOrMalformedFiles) {
  writeAdapter(dir / "a", peftConfig(2, 4), peftTensors(kA2, kB2));
  fs::remove(dir / "a/adapter_config.json");
  std::string error;
  EXPECT_FALSE(model->setAdapter(dir / "a", error));
  EXPECT_EQ(error, "cannot open '" + dir / "a/adapter_config.json" +
                       "': No such file or directory");

  writeFile(dir / "a/adapter_config.json", "{\"r\": 2,\n \"lora_alpha\": }");
  EXPECT_FALSE(model->setAdapter(dir / "a", error));
  EXPECT_EQ(error, dir / "a/adapter_config.json" +
                       ":2:16: unexpected '}'; expected a value");

  writeFile(dir / "a/adapter_config.json", "{\"r\": 2, \"use_rslora\": 1}");
  EXPECT_FALSE(model->setAdapter(dir / "a", error));
  EXPECT_EQ(error, dir / "a/adapter_config.json" +
                       ":1:24: use_rslora: expected a boolean, got 1");

  writeFile(dir / "a/adapter_config.json",
            "{\"r\": 2, \"rank_pattern\": {\"(\": 2}}");
  EXPECT_FALSE(model->setAdapter(dir / "a", error));
  EXPECT_CONTAINS(error, dir / "a/adapter_config.json" +
                             ":1:32: rank_pattern.(: the key is not a valid "
                             "regular expression");

  writeFile(dir / "a/adapter_config.json", "{\"peft_type\": \"IA3\"}");
  EXPECT_FALSE(model->setAdapter(dir / "a", error));
  EXPECT_EQ(error, dir / "a/adapter_config.json" +
                       ":1:15: peft_type: expected \"LORA\", got \"IA3\"");

  writeFile(dir / "a/adapter_config.json", peftConfig(2, 4));
  fs::remove(dir / "a/adapter_model.safetensors");
  EXPECT_FALSE(model->setAdapter(dir / "a", error));
  EXPECT_EQ(error, "cannot open '" + dir / "a/adapter_model.safetensors" +
                       "': No such file or directory");
  writeFile(dir / "a/adapter_model.bin", "pickle");
  EXPECT_FALSE(model->setAdapter(dir / "a", error));
  EXPECT_CONTAINS(error, "holds adapter_model.bin, a pickle");

  EXPECT_FALSE(model->setAdapter(dir / "nowhere", error));
  EXPECT_EQ(error, "cannot open '" + dir / "nowhere/adapter_config.json" +
                       "': No such file or directory");
}

//===----------------------------------------------------------------------===//
// Inputs
//===----------------------------------------------------------------------===//

TEST_F(RuntimeModel, InputOfTheWrongDtypeOrShape) {
  auto model = load();
  ASSERT_TRUE(model);
  std::vector<rt::Tensor> outputs;
  std::string error;
  rt::Tensor f64 = rt::Tensor::zeros(rt::DType::F64, {2, 4});
  EXPECT_FALSE(model->run({&f64}, outputs, error));
  EXPECT_EQ(error, "input 'x' must be f32[2x4], got f64[2x4]");
  rt::Tensor shape = rt::Tensor::zeros(rt::DType::F32, {4, 2});
  EXPECT_FALSE(model->run({&shape}, outputs, error));
  EXPECT_EQ(error, "input 'x' must be f32[2x4], got f32[4x2]");
  EXPECT_FALSE(model->run({}, outputs, error));
  EXPECT_EQ(error, "the model takes 1 inputs, got 0");
  EXPECT_TRUE(outputs.empty());
  EXPECT_FALSE(model->run({nullptr}, outputs, error));
  EXPECT_EQ(error, "input 'x' must be f32[2x4], got null");
}

//===----------------------------------------------------------------------===//
// Merged models, models without LoRA, f16 / bf16 parameters
//===----------------------------------------------------------------------===//

/// A manifest for the fixture's `base` (W, x) with `lora` as given.
std::string baseManifest(const std::string &lora) {
  std::string text = mainManifest();
  size_t begin = text.find(",\n    {\"name\": \"base_model.model.layer.lora_A");
  size_t end = text.find("\n  ],\n  \"outputs\"");
  text.erase(begin, end - begin);
  text = replaceOnce(text, "\"function\": \"main\"", "\"function\": \"base\"");
  begin = text.find("\"lora\": {");
  end = text.find("\n  \"future_key\"");
  return text.replace(begin, end - begin, "\"lora\": " + lora + ",");
}

TEST_F(RuntimeModel, MergedModelRefusesAdapters) {
  writeFile(dir / "out/manifest.json",
            baseManifest(R"({"merged": true, "adapter": null, "modules": [
      {"name": "layer", "in_features": 4, "out_features": 3, "rank": 2,
       "alpha": 4, "scale": 2}]})"));
  auto model = load();
  ASSERT_TRUE(model);
  EXPECT_TRUE(model->hasLora());
  EXPECT_TRUE(model->isMerged());
  expectClose(run(*model), baseReference());
  std::string error;
  EXPECT_FALSE(model->setAdapter(dir / "out/adapter", error));
  EXPECT_EQ(error, "cannot set adapter '" + dir / "out/adapter" +
                       "': the model in '" + dir / "out" +
                       "' was compiled with --merge, so its adapter is part "
                       "of the frozen weights; compile without --merge to "
                       "swap adapters");
}

TEST_F(RuntimeModel, ModelWithoutLora) {
  writeFile(dir / "out/manifest.json", baseManifest("null"));
  auto model = load();
  ASSERT_TRUE(model);
  EXPECT_FALSE(model->hasLora());
  expectClose(run(*model), baseReference());
  std::string error;
  EXPECT_FALSE(model->setAdapter(dir / "out/adapter", error));
  EXPECT_CONTAINS(error, "has no LoRA parameters (\"lora\" is null in its "
                         "manifest.json)");
}

/// The manifest of the fixture's `echo`: A f16 [4,2] and B bf16 [2,3] of
/// module "layer" (scale 2), copied to the outputs; weights.bin is empty.
std::string echoManifest() {
  return R"({"format": "lora-opt-artifact", "format_version": 1,
  "library": "model.so", "function": "echo",
  "arguments": [
    {"name": "A", "kind": "lora_a", "module": "layer", "dtype": "f16",
     "shape": [4, 2]},
    {"name": "B", "kind": "lora_b", "module": "layer", "dtype": "bf16",
     "shape": [2, 3]}],
  "outputs": [{"name": "a", "dtype": "f16", "shape": [4, 2]},
              {"name": "b", "dtype": "bf16", "shape": [2, 3]}],
  "weights": {"file": "weights.bin", "bytes": 0, "alignment": 64},
  "lora": {"merged": false, "adapter": "adapter", "modules": [
    {"name": "layer", "in_features": 4, "out_features": 3, "rank": 2,
     "alpha": 4, "scale": 2}]}})";
}

/// `value` rounded once to `semantics` with APFloat.
uint16_t apfloatBits(const llvm::fltSemantics &semantics, double value) {
  llvm::APFloat number(value);
  bool losesInfo;
  number.convert(semantics, llvm::APFloat::rmNearestTiesToEven, &losesInfo);
  return static_cast<uint16_t>(number.bitcastToAPInt().getZExtValue());
}

TEST_F(RuntimeModel, HalfAndBFloat16ParametersAreRoundedOnce) {
  std::string out = dir / "echo";
  writeArtifact(out, echoManifest());
  writeFile(out + "/weights.bin", "");
  // Values that need rounding in f16 and bf16; the scale 3 / 2 (alpha 3)
  // is folded into B in double before the one rounding.
  std::vector<float> a = {0.1f,     -1.0f / 3, 65519.0f,      1e-7f,
                          3.14159f, -2.71828f, 1.0009765625f, 6e-5f};
  std::vector<float> b = {0.1f, 1.0f / 3, -3.0e38f, 1.00390625f, 1e-40f, 7.0f};
  writeAdapter(out + "/adapter", peftConfig(2, 3), peftTensors(a, b));
  auto model = load("echo");
  ASSERT_TRUE(model);
  EXPECT_TRUE(model->inputs().empty());
  std::vector<rt::Tensor> outputs;
  std::string error;
  ASSERT_TRUE(model->run({}, outputs, error)) << error;
  ASSERT_EQ(outputs.size(), 2u);
  for (size_t i = 0; i < a.size(); ++i) {
    uint16_t bits;
    std::memcpy(&bits, outputs[0].data.data() + 2 * i, 2);
    EXPECT_EQ(bits, apfloatBits(llvm::APFloat::IEEEhalf(), a[i])) << i;
  }
  for (size_t i = 0; i < b.size(); ++i) {
    uint16_t bits;
    std::memcpy(&bits, outputs[1].data.data() + 2 * i, 2);
    EXPECT_EQ(bits, apfloatBits(llvm::APFloat::BFloat(), b[i] * 0.75)) << i;
  }
}

//===----------------------------------------------------------------------===//
// Conversions and the safetensors reader
//===----------------------------------------------------------------------===//

TEST(RuntimeConversion, WideningIsExact) {
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    float half = rt::halfToFloat(bits);
    float expected = mlir::lora::halfBitsToFloat(bits);
    if (std::isnan(expected))
      EXPECT_TRUE(std::isnan(half)) << bits;
    else
      EXPECT_EQ(half, expected) << bits;
    float brain = rt::bfloat16ToFloat(bits);
    expected = mlir::lora::bfloat16BitsToFloat(bits);
    if (std::isnan(expected))
      EXPECT_TRUE(std::isnan(brain)) << bits;
    else
      EXPECT_EQ(brain, expected) << bits;
  }
}

TEST(RuntimeConversion, NarrowingMatchesAPFloat) {
  std::vector<double> values = {0.0,
                                -0.0,
                                1.0,
                                65504.0,
                                65519.99,
                                65520.0,
                                1e10,
                                -1e300,
                                5.960464477539063e-08,
                                2.9802322387695312e-08, // Half of the smallest
                                2.98023223876953125e-08 * 1.0000001,
                                1.0 + 1.0 / 2048,
                                1.0 + 3.0 / 2048,
                                1.0 + 1.0 / 256,
                                1.0 + 3.0 / 256,
                                3.3895313892515355e38,
                                3.4e38,
                                1e-45,
                                1e-39,
                                std::numeric_limits<double>::infinity(),
                                std::numeric_limits<double>::denorm_min()};
  std::mt19937_64 random(42);
  for (int i = 0; i < 200000; ++i) {
    // Random bit patterns around the f16 / bf16 ranges, and exact ties.
    int exponent = static_cast<int>(random() % 300) - 150;
    double mantissa = 1 + static_cast<double>(random() >> 11) * 0x1p-53;
    double value = std::ldexp(mantissa, exponent) * (random() & 1 ? -1 : 1);
    values.push_back(value);
    values.push_back(static_cast<float>(value));
  }
  for (double value : values) {
    EXPECT_EQ(rt::doubleToHalf(value),
              apfloatBits(llvm::APFloat::IEEEhalf(), value))
        << value;
    EXPECT_EQ(rt::doubleToBFloat16(value),
              apfloatBits(llvm::APFloat::BFloat(), value))
        << value;
    float single;
    rt::storeFloat(value, rt::DType::F32, &single);
    EXPECT_EQ(single, static_cast<float>(value)) << value;
  }
  EXPECT_EQ(rt::doubleToHalf(std::nan("")) & 0x7e00, 0x7e00);
  EXPECT_EQ(rt::doubleToBFloat16(-std::nan("")), 0xffc0);
}

TEST(RuntimeSafetensors, ReadsTheAdapterFixtures) {
  for (const char *name : {"f16", "bf16"}) {
    const llvm::json::Object *expected =
        lora_test::expectedValues().getObject(name);
    ASSERT_TRUE(expected);
    std::string error;
    auto file = rt::SafetensorsFile::open(
        inputPath(std::string(name) + ".safetensors"), error);
    ASSERT_TRUE(file) << error;
    ASSERT_EQ(file->tensors().size(), 1u);
    const rt::SafetensorsTensor *tensor =
        file->find(expected->getString("name")->str());
    ASSERT_TRUE(tensor);
    EXPECT_EQ(tensor->shape, (std::vector<int64_t>{3, 4}));
    std::vector<double> values;
    ASSERT_TRUE(file->readDoubles(*tensor, values, error)) << error;
    const llvm::json::Array &reference = *expected->getArray("values");
    ASSERT_EQ(values.size(), reference.size());
    for (size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(values[i], *reference[i].getAsNumber()) << name << " " << i;
      EXPECT_EQ(std::signbit(values[i]),
                std::signbit(*reference[i].getAsNumber()));
    }
  }
}

/// The error of opening a safetensors file with `bytes`.
std::string safetensorsError(const std::string &bytes) {
  TempDir dir;
  writeFile(dir / "t.safetensors", bytes);
  std::string error;
  EXPECT_FALSE(rt::SafetensorsFile::open(dir / "t.safetensors", error));
  return error.substr(error.find(".safetensors") + 12);
}

std::string withHeader(const std::string &header, const std::string &data) {
  std::string size(8, '\0');
  size[0] = static_cast<char>(header.size());
  return size + header + data;
}

TEST(RuntimeSafetensors, Errors) {
  EXPECT_EQ(safetensorsError("abc"),
            ": the file is truncated: it has 3 bytes, and a safetensors file "
            "starts with an 8-byte header size");
  EXPECT_EQ(safetensorsError(withHeader("{}", "").substr(0, 9)),
            ": the header size 2 reaches past the end of the file (1 bytes "
            "follow the size field); the file is truncated or not a "
            "safetensors file");
  EXPECT_EQ(safetensorsError(withHeader("{\"t\":", "")),
            ": the header is not valid JSON: 1:6: unexpected end of input; "
            "expected a value");
  EXPECT_EQ(safetensorsError(withHeader("[]", "")),
            ": the header is an array, not a JSON object");
  EXPECT_EQ(
      safetensorsError(withHeader(
          R"({"t":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}})", "abcd")),
      ": tensor 't': unknown dtype 'F7'");
  EXPECT_EQ(
      safetensorsError(withHeader(
          R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "abcd")),
      ": tensor 't': F32 tensor of shape 2 needs 8 bytes but data_offsets [0, "
      "4] span 4");
  EXPECT_EQ(
      safetensorsError(withHeader(
          R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "abcd")),
      ": tensor 't': data_offsets [0, 8] reach past the end of the data "
      "section (4 bytes); is the file truncated?");
  EXPECT_EQ(
      safetensorsError(withHeader(
          R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", "abcd")),
      ": tensor 't': \"data_offsets\" must be [begin, end] with 0 <= begin "
      "<= end");
  EXPECT_EQ(safetensorsError(withHeader(
                R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
                "abcd")),
            ": tensor 't': \"shape\" has -1, not a non-negative integer");
  EXPECT_EQ(safetensorsError(withHeader(R"({"t":{"shape":[1]}})", "")),
            ": tensor 't': \"dtype\" is missing or not a string");
}

TEST(RuntimeMappedFile, CopyOnWriteNeverReachesTheFile) {
  TempDir dir;
  writeFile(dir / "w.bin", "original");
  rt::MappedFile file;
  std::string error;
  ASSERT_TRUE(rt::MappedFile::open(
      dir / "w.bin", rt::MappedFile::Access::CopyOnWrite, file, error))
      << error;
  ASSERT_EQ(file.size(), 8u);
  std::memcpy(file.data(), "modified", 8);
  EXPECT_EQ(std::string(reinterpret_cast<char *>(file.data()), 8), "modified");
  EXPECT_EQ(readFile(dir / "w.bin"), "original");

  writeFile(dir / "empty.bin", "");
  ASSERT_TRUE(rt::MappedFile::open(
      dir / "empty.bin", rt::MappedFile::Access::ReadOnly, file, error));
  EXPECT_EQ(file.size(), 0u);
  EXPECT_FALSE(rt::MappedFile::open(dir.path, rt::MappedFile::Access::ReadOnly,
                                    file, error));
  EXPECT_EQ(error, "'" + dir.path + "' is not a regular file");
}

//===----------------------------------------------------------------------===//
// The C API
//===----------------------------------------------------------------------===//

TEST_F(RuntimeModel, CApi) {
  LoraModel *model = loraModelLoad((dir / "out").c_str());
  ASSERT_TRUE(model) << loraGetLastError();
  ASSERT_EQ(loraModelGetNumInputs(model), 1u);
  ASSERT_EQ(loraModelGetNumOutputs(model), 1u);
  EXPECT_STREQ(loraModelGetInputName(model, 0), "x");
  EXPECT_EQ(loraModelGetInputDType(model, 0), LORA_DTYPE_F32);
  ASSERT_EQ(loraModelGetInputRank(model, 0), 2u);
  EXPECT_EQ(loraModelGetInputShape(model, 0)[0], 2);
  EXPECT_EQ(loraModelGetInputShape(model, 0)[1], 4);
  EXPECT_STREQ(loraModelGetOutputName(model, 0), "y");
  EXPECT_EQ(loraModelGetOutputDType(model, 0), LORA_DTYPE_F32);
  ASSERT_EQ(loraModelGetOutputRank(model, 0), 2u);
  EXPECT_EQ(loraModelGetOutputShape(model, 0)[1], 3);
  EXPECT_EQ(loraModelGetInputName(model, 1), nullptr);
  EXPECT_STREQ(loraGetLastError(),
               "input index 1 is out of range (the model has 1)");

  std::vector<float> y(kM * kN);
  const void *inputs[] = {kX.data()};
  void *outputs[] = {y.data()};
  ASSERT_EQ(loraModelRun(model, inputs, outputs), 0) << loraGetLastError();
  expectClose(y, reference(kA1, kB1, kCompiledScale));

  writeAdapter(dir / "second", peftConfig(2, 4), peftTensors(kA2, kB2));
  ASSERT_EQ(loraModelSetAdapter(model, (dir / "second").c_str()), 0)
      << loraGetLastError();
  ASSERT_EQ(loraModelRun(model, inputs, outputs), 0) << loraGetLastError();
  expectClose(y, reference(kA2, kB2, kCompiledScale));

  EXPECT_NE(loraModelSetAdapter(model, (dir / "nowhere").c_str()), 0);
  EXPECT_EQ(std::string(loraGetLastError()),
            "cannot open '" + dir / "nowhere/adapter_config.json" +
                "': No such file or directory");

  ASSERT_EQ(loraModelSetParameter(model, "base_model.model.layer.lora_B.weight",
                                  kB1.data(), kB1.size() * sizeof(float)),
            0)
      << loraGetLastError();
  ASSERT_EQ(loraModelRun(model, inputs, outputs), 0);
  expectClose(y, reference(kA2, kB1, kCompiledScale));
  EXPECT_NE(loraModelSetParameter(model, "x", kX.data(), 32), 0);
  EXPECT_STREQ(loraGetLastError(), "'x' is a graph input; only LoRA "
                                   "parameters (lora_a, lora_b) can be set");

  const void *nullInputs[] = {nullptr};
  EXPECT_NE(loraModelRun(model, nullInputs, outputs), 0);
  EXPECT_STREQ(loraGetLastError(), "input 'x' is null");
  EXPECT_NE(loraModelRun(nullptr, inputs, outputs), 0);
  EXPECT_STREQ(loraGetLastError(), "model is NULL");
  loraModelDestroy(model);

  EXPECT_EQ(loraModelLoad((dir / "nowhere").c_str()), nullptr);
  EXPECT_EQ(std::string(loraGetLastError()),
            "artifact folder '" + dir / "nowhere" + "' does not exist");
  EXPECT_EQ(loraModelLoad(nullptr), nullptr);
  EXPECT_STREQ(loraGetLastError(), "dir is NULL");
  loraModelDestroy(nullptr);
}

TEST_F(RuntimeModel, CApiLoadFlags) {
  std::string out = dir / "out";
  // The fixture is a CPU artifact: declining graphs loads it, asking for
  // them names the target.
  LoraModel *model = loraModelLoadWithFlags(out.c_str(), 0);
  ASSERT_TRUE(model) << loraGetLastError();
  EXPECT_EQ(loraModelUsesCudaGraphs(model), 0);
  loraModelDestroy(model);
  model = loraModelLoadWithFlags(out.c_str(), LORA_LOAD_NO_CUDA_GRAPHS);
  ASSERT_TRUE(model) << loraGetLastError();
  EXPECT_EQ(loraModelUsesCudaGraphs(model), 0);
  loraModelDestroy(model);
  EXPECT_EQ(loraModelLoadWithFlags(out.c_str(), LORA_LOAD_CUDA_GRAPHS),
            nullptr);
  EXPECT_EQ(std::string(loraGetLastError()),
            dir / "out/manifest.json" +
                ": CUDA graphs were asked for, but the model is compiled for "
                "target 'cpu', which runs on the host");

  EXPECT_EQ(loraModelLoadWithFlags(out.c_str(), 0x14), nullptr);
  EXPECT_STREQ(loraGetLastError(), "unknown load flags 0x14");
  EXPECT_EQ(loraModelLoadWithFlags(out.c_str(), LORA_LOAD_CUDA_GRAPHS |
                                                    LORA_LOAD_NO_CUDA_GRAPHS),
            nullptr);
  EXPECT_STREQ(loraGetLastError(), "LORA_LOAD_CUDA_GRAPHS and "
                                   "LORA_LOAD_NO_CUDA_GRAPHS contradict each "
                                   "other");
  EXPECT_EQ(loraModelLoadWithFlags(nullptr, 0), nullptr);
  EXPECT_STREQ(loraGetLastError(), "dir is NULL");
  EXPECT_EQ(loraModelUsesCudaGraphs(nullptr), 0);
}

TEST_F(RuntimeModel, CApiRunOnDevice) {
  // On the CPU the device's memory is the host's: the caller's buffers are
  // used in place, as by loraModelRun, after the same checks as on a GPU.
  LoraModel *model = loraModelLoad((dir / "out").c_str());
  ASSERT_TRUE(model) << loraGetLastError();
  std::vector<float> y(kM * kN, -1.0f);
  const void *inputs[] = {kX.data()};
  void *outputs[] = {y.data()};
  ASSERT_EQ(loraModelRunOnDevice(model, inputs, outputs), 0)
      << loraGetLastError();
  expectClose(y, reference(kA1, kB1, kCompiledScale));

  // y = [2, 3] floats written over x = [2, 4] floats would clobber x.
  std::vector<float> shared(kM * kK + kM * kN);
  std::copy(kX.begin(), kX.end(), shared.begin());
  const void *sharedInputs[] = {shared.data()};
  void *overlapping[] = {shared.data() + 5};
  EXPECT_NE(loraModelRunOnDevice(model, sharedInputs, overlapping), 0);
  EXPECT_STREQ(loraGetLastError(), "output 'y' overlaps input 'x'");
  void *after[] = {shared.data() + kM * kK};
  ASSERT_EQ(loraModelRunOnDevice(model, sharedInputs, after), 0)
      << loraGetLastError();
  expectClose(std::vector<float>(shared.begin() + kM * kK, shared.end()),
              reference(kA1, kB1, kCompiledScale));

  const void *nullInputs[] = {nullptr};
  EXPECT_NE(loraModelRunOnDevice(model, nullInputs, outputs), 0);
  EXPECT_STREQ(loraGetLastError(), "input 'x' is null");
  EXPECT_NE(loraModelRunOnDevice(model, inputs, nullptr), 0);
  EXPECT_STREQ(loraGetLastError(), "the output array is null");
  EXPECT_NE(loraModelRunOnDevice(nullptr, inputs, outputs), 0);
  EXPECT_STREQ(loraGetLastError(), "model is NULL");
  loraModelDestroy(model);
}

TEST(RuntimeCApi, LastErrorIsPerThread) {
  EXPECT_EQ(loraModelLoad(nullptr), nullptr);
  std::string other;
  std::thread([&] {
    other = loraGetLastError();
    EXPECT_NE(loraModelSetAdapter(nullptr, "x"), 0);
  }).join();
  EXPECT_EQ(other, "");
  EXPECT_STREQ(loraGetLastError(), "dir is NULL");
}

TEST(RuntimeCApi, LibraryExportsOnlyTheCApi) {
  void *library = dlopen(LORA_RUNTIME_C_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  ASSERT_TRUE(library) << dlerror();
  EXPECT_TRUE(dlsym(library, "loraModelLoad"));
  EXPECT_TRUE(dlsym(library, "loraGetLastError"));
  EXPECT_TRUE(dlsym(library, "loraModelLoadWithFlags"));
  // lora_runtime::Model::loadCheckpoint(std::string const&, std::string&),
  // which the library contains (`nm` lists it as a local symbol) but must
  // not export.
  EXPECT_FALSE(dlsym(library,
                     "_ZN12lora_runtime5Model14loadCheckpointERKNSt7__cxx1112"
                     "basic_stringIcSt11char_traitsIcESaIcEEERS6_"));
  dlclose(library);
}

} // namespace
