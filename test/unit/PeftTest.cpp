//===- PeftTest.cpp - PEFT config, module selection, adapter I/O ----------===//

#include "lora/Adapter/Peft.h"

#include "AdapterTestSupport.h"

#include "llvm/ADT/bit.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mlir::lora;
using namespace lora_test;

namespace {

const llvm::json::Object &expectedModules(llvm::StringRef adapter) {
  return *expectedValues().getObject(adapter)->getObject("modules");
}

std::vector<int64_t> toInts(const llvm::json::Array &array) {
  std::vector<int64_t> ints;
  for (const llvm::json::Value &value : array)
    ints.push_back(*value.getAsInteger());
  return ints;
}

std::vector<float> toFloats(const llvm::json::Array &array) {
  std::vector<float> floats;
  for (const llvm::json::Value &value : array)
    floats.push_back(static_cast<float>(*value.getAsNumber()));
  return floats;
}

//===----------------------------------------------------------------------===//
// Loading adapters saved by PEFT
//===----------------------------------------------------------------------===//

/// Checks every module of `adapter` against what PEFT reported when it saved
/// the fixture: rank, alpha, scale, torch shapes and first elements.
void checkAgainstPeft(const PeftAdapter &adapter, llvm::StringRef key) {
  const llvm::json::Object &modules = expectedModules(key);
  ASSERT_EQ(adapter.modules.size(), modules.size());
  for (const auto &[name, value] : modules) {
    SCOPED_TRACE(name.str());
    const llvm::json::Object &want = *value.getAsObject();
    const PeftAdapterModule *module = adapter.lookup(name);
    ASSERT_NE(module, nullptr);
    EXPECT_EQ(module->rank, *want.getInteger("rank"));
    EXPECT_EQ(module->alpha, *want.getNumber("alpha"));
    EXPECT_DOUBLE_EQ(module->scale, *want.getNumber("scale"));
    std::vector<int64_t> aShape = toInts(*want.getArray("lora_A_shape"));
    std::vector<int64_t> bShape = toInts(*want.getArray("lora_B_shape"));
    EXPECT_EQ(aShape, (std::vector<int64_t>{module->rank, module->inFeatures}));
    EXPECT_EQ(bShape,
              (std::vector<int64_t>{module->outFeatures, module->rank}));
    ASSERT_EQ(module->loraA.size(), size_t(aShape[0] * aShape[1]));
    ASSERT_EQ(module->loraB.size(), size_t(bShape[0] * bShape[1]));
    std::vector<float> aFirst = toFloats(*want.getArray("lora_A_first"));
    std::vector<float> bFirst = toFloats(*want.getArray("lora_B_first"));
    for (size_t i = 0; i < aFirst.size(); ++i)
      EXPECT_EQ(module->loraA[i], aFirst[i]) << "lora_A[" << i << "]";
    for (size_t i = 0; i < bFirst.size(); ++i)
      EXPECT_EQ(module->loraB[i], bFirst[i]) << "lora_B[" << i << "]";
    EXPECT_NE(module->loraB, std::vector<float>(module->loraB.size(), 0.0f));
  }
}

/// onnxA() is [K, r] with onnxA[k][i] = lora_A.weight[i][k]; onnxB() is
/// [r, N] with onnxB[i][n] = lora_B.weight[n][i].
void checkOnnxOrientation(const PeftAdapterModule &module) {
  int64_t k = module.inFeatures, n = module.outFeatures, r = module.rank;
  std::vector<float> a = module.onnxA(), b = module.onnxB();
  ASSERT_EQ(a.size(), size_t(k * r));
  ASSERT_EQ(b.size(), size_t(r * n));
  for (int64_t row = 0; row < k; ++row)
    for (int64_t i = 0; i < r; ++i)
      EXPECT_EQ(a[row * r + i], module.loraA[i * k + row]);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t col = 0; col < n; ++col)
      EXPECT_EQ(b[i * n + col], module.loraB[col * r + i]);
}

TEST(PeftAdapter, LoadsLlamaAdapterWithRankAndAlphaPatterns) {
  ASSERT_EXPECTED(adapter, loadPeftAdapter(inputPath("peft_llama")));
  checkAgainstPeft(*adapter, "peft_llama");
  const PeftAdapterModule *q =
      adapter->lookup("model.layers.0.self_attn.q_proj");
  const PeftAdapterModule *v =
      adapter->lookup("model.layers.0.self_attn.v_proj");
  ASSERT_TRUE(q && v);
  EXPECT_EQ(q->rank, 4);
  EXPECT_EQ(q->scale, 8.0 / 4);
  EXPECT_EQ(v->rank, 2);  // rank_pattern {"v_proj": 2}
  EXPECT_EQ(v->alpha, 6); // alpha_pattern {"v_proj": 6}
  EXPECT_EQ(v->scale, 6.0 / 2);
  // v_proj maps 16 features to 8 (grouped-query attention): not square, so
  // a transposition mistake changes the shapes.
  EXPECT_EQ(v->inFeatures, 16);
  EXPECT_EQ(v->outFeatures, 8);
  checkOnnxOrientation(*q);
  checkOnnxOrientation(*v);

  const PeftConfig &config = adapter->config;
  EXPECT_EQ(config.r, 4);
  EXPECT_EQ(config.loraAlpha, 8);
  EXPECT_EQ(config.targetModules.kind, PeftModuleSpec::Kind::Names);
  std::vector<std::string> targets = config.targetModules.names;
  std::sort(targets.begin(), targets.end());
  EXPECT_EQ(targets, (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_EQ(config.excludeModules.kind, PeftModuleSpec::Kind::None);
  EXPECT_EQ(config.rankPattern,
            (std::vector<std::pair<std::string, int64_t>>{{"v_proj", 2}}));
  EXPECT_EQ(config.alphaPattern,
            (std::vector<std::pair<std::string, double>>{{"v_proj", 6}}));
  EXPECT_FALSE(config.useRslora);
  EXPECT_FALSE(config.fanInFanOut);
  EXPECT_EQ(std::get<bool>(config.initLoraWeights), true);
  EXPECT_EQ(config.taskType, std::nullopt);
}

TEST(PeftAdapter, LoadsGpt2Conv1DAdapter) {
  // GPT-2's c_attn is a Conv1D (weight stored in x out, fan_in_fan_out), but
  // PEFT's lora_A / lora_B are nn.Linear: [r, 8] and [24, r] all the same.
  ASSERT_EXPECTED(adapter, loadPeftAdapter(inputPath("peft_gpt2")));
  checkAgainstPeft(*adapter, "peft_gpt2");
  EXPECT_TRUE(adapter->config.fanInFanOut);
  const PeftAdapterModule *attn =
      adapter->lookup("transformer.h.0.attn.c_attn");
  ASSERT_NE(attn, nullptr);
  EXPECT_EQ(attn->inFeatures, 8);
  EXPECT_EQ(attn->outFeatures, 24);
  checkOnnxOrientation(*attn);
  EXPECT_EQ(adapter->lookup("transformer.h.0.attn"), nullptr);
}

//===----------------------------------------------------------------------===//
// Module selection against PEFT's own answers
//===----------------------------------------------------------------------===//

TEST(ModuleSelector, AgreesWithPeft) {
  const llvm::json::Array &cases = *expectedValues().getArray("selector_cases");
  ASSERT_FALSE(cases.empty());
  for (const llvm::json::Value &item : cases) {
    const llvm::json::Object &testCase = *item.getAsObject();
    llvm::StringRef json = *testCase.getString("config_json");
    SCOPED_TRACE(json.str());
    ASSERT_EXPECTED(config, parsePeftConfig(json, "case.json"));
    ASSERT_EXPECTED(selector, ModuleSelector::create(*config));
    for (const llvm::json::Value &row : *testCase.getArray("modules")) {
      const llvm::json::Object &want = *row.getAsObject();
      llvm::StringRef name = *want.getString("name");
      SCOPED_TRACE(name.str());
      EXPECT_EQ(selector->isTargeted(name), *want.getBoolean("targeted"));
      EXPECT_EQ(selector->getRank(name), *want.getInteger("rank"));
      EXPECT_EQ(selector->getAlpha(name), *want.getNumber("alpha"));
      EXPECT_DOUBLE_EQ(selector->getScale(name), *want.getNumber("scale"));
    }
  }
}

TEST(ModuleSelector, NamesMatchWholeDotSeparatedSuffixes) {
  ASSERT_EXPECTED(selector,
                  ModuleSelector::create(
                      PeftModuleSpec::list({"q_proj", "attn.c_attn"}),
                      PeftModuleSpec::list({"layers.3.self_attn.q_proj"}), 4, 8,
                      {}, {}, false));
  EXPECT_TRUE(selector->isTargeted("q_proj"));
  EXPECT_TRUE(selector->isTargeted("model.layers.0.self_attn.q_proj"));
  EXPECT_FALSE(selector->isTargeted("model.layers.0.self_attn.xq_proj"));
  EXPECT_FALSE(selector->isTargeted("model.layers.0.self_attn.q_proj.lora"));
  EXPECT_TRUE(selector->isTargeted("transformer.h.0.attn.c_attn"));
  EXPECT_FALSE(selector->isTargeted("transformer.h.0.xattn.c_attn"));
  EXPECT_TRUE(selector->isExcluded("model.layers.3.self_attn.q_proj"));
  EXPECT_FALSE(selector->isTargeted("model.layers.3.self_attn.q_proj"));
  EXPECT_FALSE(selector->isExcluded("model.layers.13.self_attn.q_proj"));
}

TEST(ModuleSelector, RegexMustMatchTheWholeName) {
  ASSERT_EXPECTED(selector, ModuleSelector::create(
                                PeftModuleSpec::fullMatch("layers\\.\\d+\\.q"),
                                PeftModuleSpec::fullMatch(".*\\.7\\..*"), 4, 8,
                                {}, {}, false));
  EXPECT_TRUE(selector->isTargeted("layers.12.q"));
  EXPECT_FALSE(selector->isTargeted("model.layers.12.q"));
  EXPECT_FALSE(selector->isTargeted("layers.12.q_proj"));
  EXPECT_FALSE(selector->isTargeted("layers.7.q"));
}

TEST(ModuleSelector, NullTargetsMatchNothing) {
  ASSERT_EXPECTED(selector, ModuleSelector::create(PeftModuleSpec::none(),
                                                   PeftModuleSpec::none(), 4, 8,
                                                   {}, {}, false));
  EXPECT_FALSE(selector->isTargeted("q_proj"));
  EXPECT_FALSE(selector->isExcluded("q_proj"));
}

TEST(ModuleSelector, FirstMatchingPatternWinsAndRsLoraScales) {
  ASSERT_EXPECTED(selector,
                  ModuleSelector::create(
                      PeftModuleSpec::list({"proj"}), PeftModuleSpec::none(), 8,
                      16, {{"q_proj", 2}, {"layers\\.0\\.q_proj", 32}},
                      {{"layers\\.0\\.q_proj", 4}, {"q_proj", 1}},
                      /*useRslora=*/true));
  EXPECT_EQ(selector->getRank("model.layers.0.q_proj"), 2);
  EXPECT_EQ(selector->getAlpha("model.layers.0.q_proj"), 4);
  EXPECT_EQ(selector->getScale("model.layers.0.q_proj"), 4 / std::sqrt(2.0));
  EXPECT_EQ(selector->getRank("model.layers.0.k_proj"), 8);
  EXPECT_EQ(selector->getScale("model.layers.0.k_proj"), 16 / std::sqrt(8.0));
  // A key matches only after a ".": "_proj" is no suffix pattern of "q_proj".
  ASSERT_EXPECTED(other, ModuleSelector::create(PeftModuleSpec::list({"proj"}),
                                                PeftModuleSpec::none(), 8, 16,
                                                {{"_proj", 2}}, {}, false));
  EXPECT_EQ(other->getRank("model.q_proj"), 8);
  EXPECT_EQ(other->getRank("model._proj"), 2);
}

TEST(ModuleSelector, RejectsBadRegexesAndValues) {
  auto create = [](PeftModuleSpec targets, int64_t rank, double alpha,
                   std::vector<std::pair<std::string, int64_t>> ranks,
                   std::vector<std::pair<std::string, double>> alphas) {
    return errorOf(ModuleSelector::create(targets, PeftModuleSpec::none(), rank,
                                          alpha, ranks, alphas, false));
  };
  PeftModuleSpec ok = PeftModuleSpec::list({"q"});
  std::string message =
      create(PeftModuleSpec::fullMatch("layers.(\\d+"), 4, 8, {}, {});
  EXPECT_CONTAINS(message, "target_modules regex 'layers.(\\d+' does not "
                           "compile: ");
  EXPECT_CONTAINS(create(ok, 4, 8, {{"(?P<x>q)", 2}}, {}),
                  "rank_pattern key regex '(?P<x>q)' does not compile");
  EXPECT_CONTAINS(create(ok, 0, 8, {}, {}), "r is 0; it must be > 0");
  EXPECT_CONTAINS(create(ok, 4, -1, {}, {}),
                  "lora_alpha is -1.0; it must be > 0");
  EXPECT_CONTAINS(create(ok, 4, 8, {{"q", 0}}, {}),
                  "rank_pattern value for 'q' is 0; it must be > 0");
  EXPECT_CONTAINS(create(ok, 4, 8, {}, {{"q", -2.5}}),
                  "alpha_pattern value for 'q' is -2.5; it must be > 0");
  EXPECT_CONTAINS(
      errorOf(ModuleSelector::create(ok, PeftModuleSpec::fullMatch("[a-"), 4, 8,
                                     {}, {}, false)),
      "exclude_modules regex '[a-' does not compile");
}

TEST(ModuleSelector, ClosestNames) {
  std::vector<std::string> names = {"model.layers.0.self_attn.q_proj",
                                    "model.layers.0.self_attn.k_proj",
                                    "model.layers.0.mlp.up_proj", "lm_head"};
  EXPECT_EQ(closestNames("model.layers.0.self_attn.q_prj", names, 2),
            (std::vector<std::string>{"model.layers.0.self_attn.q_proj",
                                      "model.layers.0.self_attn.k_proj"}));
  EXPECT_EQ(closestNames("lm_hed", names, 1),
            (std::vector<std::string>{"lm_head"}));
  EXPECT_EQ(closestNames("x", names, 10).size(), names.size());
  EXPECT_TRUE(closestNames("x", {}, 3).empty());
}

//===----------------------------------------------------------------------===//
// adapter_config.json
//===----------------------------------------------------------------------===//

std::string configError(llvm::StringRef json) {
  std::string message = errorOf(parsePeftConfig(json, "cfg.json"));
  EXPECT_EQ(llvm::StringRef(message).substr(0, 8), "cfg.json") << message;
  return message;
}

TEST(PeftConfig, ParsesEveryField) {
  ASSERT_EXPECTED(config, parsePeftConfig(R"({
    "peft_type": "LORA", "r": 6, "lora_alpha": 12.5, "lora_dropout": 0.1,
    "target_modules": "model\\..*proj", "exclude_modules": ["lm_head"],
    "rank_pattern": {"z": 1, "a": 2}, "alpha_pattern": {"k": 0.5},
    "use_rslora": true, "fan_in_fan_out": true, "init_lora_weights": "gaussian",
    "bias": "none", "base_model_name_or_path": "meta/llama",
    "task_type": "CAUSAL_LM", "modules_to_save": [], "layers_to_transform": null,
    "use_dora": false, "some_future_key": {"x": 1}})",
                                          "cfg.json"));
  EXPECT_EQ(config->r, 6);
  EXPECT_EQ(config->loraAlpha, 12.5);
  EXPECT_EQ(config->loraDropout, 0.1);
  EXPECT_EQ(config->targetModules.kind, PeftModuleSpec::Kind::Regex);
  EXPECT_EQ(config->targetModules.regex, "model\\..*proj");
  EXPECT_EQ(config->excludeModules.names, std::vector<std::string>{"lm_head"});
  // File order, not sorted order: PEFT takes the first match in dict order.
  EXPECT_EQ(config->rankPattern,
            (std::vector<std::pair<std::string, int64_t>>{{"z", 1}, {"a", 2}}));
  EXPECT_EQ(config->alphaPattern,
            (std::vector<std::pair<std::string, double>>{{"k", 0.5}}));
  EXPECT_TRUE(config->useRslora);
  EXPECT_TRUE(config->fanInFanOut);
  EXPECT_EQ(std::get<std::string>(config->initLoraWeights), "gaussian");
  EXPECT_EQ(config->baseModelNameOrPath, "meta/llama");
  EXPECT_EQ(config->taskType, "CAUSAL_LM");
}

TEST(PeftConfig, PatternOrderSurvivesEscapesAndNesting) {
  ASSERT_EXPECTED(ordered, parsePeftConfig(R"({
    "peft_type": "LORA", "target_modules": ["q"],
    "other": {"rank_pattern": {"no": 1}},
    "rank_pattern": {"m\\.\"xA": 3, "\u0061": 4, "c": 5}})",
                                           "cfg.json"));
  EXPECT_EQ(ordered->rankPattern, (std::vector<std::pair<std::string, int64_t>>{
                                      {"m\\.\"xA", 3}, {"a", 4}, {"c", 5}}));
}

TEST(PeftConfig, RejectsWhatCannotBeHonored) {
  EXPECT_CONTAINS(configError(R"({"peft_type": "LORA", "use_dora": true})"),
                  "sets \"use_dora\": DoRA adapters are not supported");
  EXPECT_CONTAINS(configError(R"({"peft_type": "LORA", "bias": "all"})"),
                  "has bias 'all'; only \"none\" is supported");
  EXPECT_CONTAINS(
      configError(R"({"peft_type": "LORA", "modules_to_save": ["score"]})"),
      "sets \"modules_to_save\"");
  EXPECT_CONTAINS(
      configError(R"({"peft_type": "LORA", "layers_to_transform": [0, 1]})"),
      "sets \"layers_to_transform\"");
  EXPECT_CONTAINS(
      configError(R"({"peft_type": "LORA", "layers_pattern": "layers"})"),
      "sets \"layers_pattern\"");
  EXPECT_CONTAINS(configError(R"({"peft_type": "LORA", "lora_bias": true})"),
                  "sets \"lora_bias\"");
  EXPECT_CONTAINS(
      configError(R"({"peft_type": "LORA", "init_lora_weights": "pissa"})"),
      "init_lora_weights 'pissa', which modifies the base model");
  EXPECT_CONTAINS(configError(R"({"peft_type": "IA3"})"),
                  "has peft_type 'IA3'; only LORA adapters are supported");
  EXPECT_CONTAINS(configError(R"({"r": 4})"), "has no string \"peft_type\"");
}

TEST(PeftConfig, RejectsMistypedFields) {
  EXPECT_CONTAINS(configError(R"({"peft_type": "LORA", "r": "4"})"),
                  "has \"r\" that is not an integer");
  EXPECT_CONTAINS(configError(R"({"peft_type": "LORA", "r": 4.5})"),
                  "has \"r\" that is not an integer");
  EXPECT_CONTAINS(
      configError(R"({"peft_type": "LORA", "target_modules": [1]})"),
      "\"target_modules\" that is not a list of strings, a string or null");
  EXPECT_CONTAINS(
      configError(R"({"peft_type": "LORA", "rank_pattern": {"q": 1.5}})"),
      "\"rank_pattern\" entry 'q' that is not an integer");
  EXPECT_CONTAINS(configError(R"({"peft_type": "LORA", "use_rslora": 1})"),
                  "\"use_rslora\" that is not true or false");
  EXPECT_CONTAINS(configError("{\"peft_type\": "), "is not valid JSON");
  EXPECT_CONTAINS(configError(R"({"peft_type": "LORA", "r": 0})"),
                  "cfg.json: r is 0; it must be > 0");
  EXPECT_CONTAINS(
      configError(R"({"peft_type": "LORA", "target_modules": "(q"})"),
      "target_modules regex '(q' does not compile");
}

class PeftConfigFile : public TempDirTest {};

TEST_F(PeftConfigFile, WriteThenReadGivesTheSameConfig) {
  PeftConfig config;
  config.r = 4;
  config.loraAlpha = 7.5;
  config.targetModules = PeftModuleSpec::list({"q_proj", "v_proj"});
  config.excludeModules = PeftModuleSpec::fullMatch(".*\\.3\\..*");
  config.rankPattern = {{"v_proj", 2}, {"a\\.q_proj", 8}};
  config.alphaPattern = {{"v_proj", 3}, {"k", 0.25}};
  config.useRslora = true;
  config.fanInFanOut = true;
  config.initLoraWeights = std::string("gaussian");
  config.loraDropout = 0.05;
  config.baseModelNameOrPath = "tiny";
  config.taskType = "CAUSAL_LM";
  std::string file = path("adapter_config.json");
  ASSERT_NO_ERROR(writePeftConfig(file, config));
  ASSERT_EXPECTED(back, readPeftConfig(file));
  EXPECT_EQ(back->r, config.r);
  EXPECT_EQ(back->loraAlpha, config.loraAlpha);
  EXPECT_EQ(back->targetModules.names, config.targetModules.names);
  EXPECT_EQ(back->excludeModules.regex, config.excludeModules.regex);
  EXPECT_EQ(back->rankPattern, config.rankPattern);
  EXPECT_EQ(back->alphaPattern, config.alphaPattern);
  EXPECT_EQ(back->useRslora, config.useRslora);
  EXPECT_EQ(back->fanInFanOut, config.fanInFanOut);
  EXPECT_EQ(back->initLoraWeights, config.initLoraWeights);
  EXPECT_EQ(back->loraDropout, config.loraDropout);
  EXPECT_EQ(back->baseModelNameOrPath, config.baseModelNameOrPath);
  EXPECT_EQ(back->taskType, config.taskType);
  std::string text = readBytes(file);
  // Like PEFT's own files: integral alphas stay ints, floats look like
  // floats, and the usual keys are present.
  EXPECT_CONTAINS(text, "\"lora_alpha\": 7.5,");
  EXPECT_CONTAINS(text, "\"v_proj\": 3,");
  EXPECT_CONTAINS(text, "\"lora_dropout\": 0.05,");
  EXPECT_CONTAINS(text, "\"peft_type\": \"LORA\"");
  EXPECT_CONTAINS(text, "\"use_dora\": false");
  EXPECT_EQ(listDir(), std::vector<std::string>{"adapter_config.json"});
}

//===----------------------------------------------------------------------===//
// Bad adapters
//===----------------------------------------------------------------------===//

class PeftBadAdapter : public TempDirTest {
protected:
  /// Writes an adapter directory "a" with `config` and these tensors.
  std::string makeAdapter(llvm::StringRef config,
                          llvm::ArrayRef<SafetensorsTensorRef> tensors) {
    std::string dir = path("a");
    EXPECT_FALSE(llvm::sys::fs::create_directories(dir));
    writeFile("a/adapter_config.json", config);
    if (llvm::Error error =
            writeSafetensors(path("a/adapter_model.safetensors"), tensors))
      ADD_FAILURE() << llvm::toString(std::move(error));
    return dir;
  }

  std::string loadError(const std::string &dir) {
    return errorOf(loadPeftAdapter(dir));
  }

  static constexpr llvm::StringLiteral kConfig =
      R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4,
          "target_modules": ["q"], "rank_pattern": {"layers\\.1\\.q": 1}})";
  std::vector<char> zeros = std::vector<char>(1024, 0);
  std::vector<int64_t> a2x4 = {2, 4}, b3x2 = {3, 2}, b3x1 = {3, 1},
                       a1x4 = {1, 4}, a2x2x2 = {2, 2, 2}, v4 = {4};

  SafetensorsTensorRef f32(llvm::StringRef name,
                           const std::vector<int64_t> &shape) {
    int64_t count = 1;
    for (int64_t dim : shape)
      count *= dim;
    return {name, SafetensorsDType::F32, shape,
            llvm::ArrayRef(zeros).take_front(4 * count)};
  }
};

TEST_F(PeftBadAdapter, ValidMinimalAdapterLoads) {
  std::string dir = makeAdapter(
      kConfig, {f32("base_model.model.layers.0.q.lora_A.weight", a2x4),
                f32("base_model.model.layers.0.q.lora_B.weight", b3x2),
                f32("base_model.model.layers.1.q.lora_A.weight", a1x4),
                f32("base_model.model.layers.1.q.lora_B.weight", b3x1)});
  ASSERT_EXPECTED(adapter, loadPeftAdapter(dir));
  ASSERT_EQ(adapter->modules.size(), 2u);
  EXPECT_EQ(adapter->modules[0].name, "layers.0.q");
  EXPECT_EQ(adapter->modules[1].rank, 1);
  EXPECT_EQ(adapter->modules[1].scale, 4.0);
}

TEST_F(PeftBadAdapter, AcceptsAdapterNameSegment) {
  std::string dir = makeAdapter(
      kConfig,
      {f32("base_model.model.layers.0.q.lora_A.default.weight", a2x4),
       f32("base_model.model.layers.0.q.lora_B.default.weight", b3x2)});
  ASSERT_EXPECTED(adapter, loadPeftAdapter(dir));
  EXPECT_EQ(adapter->modules.at(0).name, "layers.0.q");
}

TEST_F(PeftBadAdapter, MissingConfig) {
  std::string dir =
      makeAdapter(kConfig, {f32("base_model.model.q.lora_A.weight", a2x4)});
  ASSERT_FALSE(llvm::sys::fs::remove(path("a/adapter_config.json")));
  std::string message = loadError(dir);
  EXPECT_CONTAINS(message, "cannot open '" + path("a/adapter_config.json"));
}

TEST_F(PeftBadAdapter, MissingWeights) {
  std::string dir = path("a");
  ASSERT_FALSE(llvm::sys::fs::create_directories(dir));
  writeFile("a/adapter_config.json", kConfig);
  EXPECT_CONTAINS(loadError(dir),
                  "cannot open '" + path("a/adapter_model.safetensors"));
  writeFile("a/adapter_model.bin", "pickle");
  EXPECT_CONTAINS(loadError(dir), "holds adapter_model.bin, a pickle");
}

TEST_F(PeftBadAdapter, UseDora) {
  std::string dir = makeAdapter(
      R"({"peft_type": "LORA", "target_modules": ["q"], "use_dora": true})",
      {});
  std::string message = loadError(dir);
  EXPECT_CONTAINS(message, path("a/adapter_config.json"));
  EXPECT_CONTAINS(message, "DoRA adapters are not supported");
}

TEST_F(PeftBadAdapter, UnknownKeysAreListed) {
  std::string dir = makeAdapter(
      kConfig, {f32("base_model.model.layers.0.q.lora_A.weight", a2x4),
                f32("base_model.model.layers.0.q.lora_B.weight", b3x2),
                f32("base_model.model.layers.0.q.lora_magnitude_vector", v4),
                f32("base_model.model.embed.lora_embedding_A", a2x4),
                f32("base_model.model.layers.0.q.lora_B.bias", v4)});
  std::string message = loadError(dir);
  EXPECT_CONTAINS(message, path("a/adapter_model.safetensors"));
  EXPECT_CONTAINS(message, "unsupported tensors");
  EXPECT_CONTAINS(message,
                  "'base_model.model.layers.0.q.lora_magnitude_vector'");
  EXPECT_CONTAINS(message, "'base_model.model.embed.lora_embedding_A'");
  EXPECT_CONTAINS(message, "'base_model.model.layers.0.q.lora_B.bias'");
}

TEST_F(PeftBadAdapter, RankMismatchBetweenAAndB) {
  std::string dir = makeAdapter(
      kConfig, {f32("base_model.model.layers.0.q.lora_A.weight", a2x4),
                f32("base_model.model.layers.0.q.lora_B.weight", b3x1)});
  EXPECT_CONTAINS(loadError(dir), "module 'layers.0.q': lora_A [2, 4] has "
                                  "rank 2 but lora_B [3, 1] has rank 1");
}

TEST_F(PeftBadAdapter, RankDisagreesWithRankPattern) {
  std::string dir = makeAdapter(
      kConfig, {f32("base_model.model.layers.1.q.lora_A.weight", a2x4),
                f32("base_model.model.layers.1.q.lora_B.weight", b3x2)});
  std::string message = loadError(dir);
  EXPECT_CONTAINS(message, "module 'layers.1.q' has rank 2 but " +
                               path("a/adapter_config.json") +
                               " gives it rank 1 (r / rank_pattern)");
}

TEST_F(PeftBadAdapter, WrongShapesAndMissingHalves) {
  std::string dir = makeAdapter(
      kConfig, {f32("base_model.model.layers.0.q.lora_A.weight", a2x2x2),
                f32("base_model.model.layers.0.q.lora_B.weight", b3x2)});
  EXPECT_CONTAINS(loadError(dir), "lora_A has shape [2, 2, 2] and lora_B "
                                  "[3, 2]; expected 2-D");
  ASSERT_FALSE(llvm::sys::fs::remove_directories(dir));
  dir = makeAdapter(kConfig,
                    {f32("base_model.model.layers.0.q.lora_A.weight", a2x4)});
  EXPECT_CONTAINS(loadError(dir),
                  "module 'layers.0.q' has lora_A but no lora_B");
}

TEST_F(PeftBadAdapter, ModuleNotSelectedByConfig) {
  std::string dir = makeAdapter(
      kConfig, {f32("base_model.model.layers.0.k.lora_A.weight", a2x4),
                f32("base_model.model.layers.0.k.lora_B.weight", b3x2)});
  EXPECT_CONTAINS(loadError(dir),
                  "has weights for module 'layers.0.k', which " +
                      path("a/adapter_config.json") +
                      " does not select (target_modules "
                      "['q'], exclude_modules null)");
}

TEST_F(PeftBadAdapter, UnsupportedDType) {
  std::vector<int64_t> shape = {2, 4};
  std::string dir = makeAdapter(
      kConfig,
      {{"base_model.model.layers.0.q.lora_A.weight", SafetensorsDType::F64,
        shape, llvm::ArrayRef(zeros).take_front(64)},
       f32("base_model.model.layers.0.q.lora_B.weight", b3x2)});
  EXPECT_CONTAINS(loadError(dir),
                  "tensor 'base_model.model.layers.0.q.lora_A.weight' in " +
                      path("a/adapter_model.safetensors") +
                      " has dtype F64; supported: F32, F16, BF16");
}

TEST_F(PeftBadAdapter, EmptyAndMixedAdapters) {
  std::string dir = makeAdapter(kConfig, {});
  EXPECT_CONTAINS(loadError(dir), "holds no LoRA weights");
  ASSERT_FALSE(llvm::sys::fs::remove_directories(dir));
  dir = makeAdapter(
      kConfig, {f32("base_model.model.layers.0.q.lora_A.one.weight", a2x4),
                f32("base_model.model.layers.0.q.lora_B.two.weight", b3x2)});
  EXPECT_CONTAINS(loadError(dir), "holds weights of several adapters");
}

//===----------------------------------------------------------------------===//
// Saving
//===----------------------------------------------------------------------===//

class PeftSave : public TempDirTest {};

TEST_F(PeftSave, RoundTripsTheLlamaFixture) {
  ASSERT_EXPECTED(original, loadPeftAdapter(inputPath("peft_llama")));
  std::vector<std::vector<float>> as, bs;
  std::vector<PeftAdapterModuleRef> refs;
  for (const PeftAdapterModule &module : original->modules) {
    as.push_back(module.onnxA());
    bs.push_back(module.onnxB());
  }
  for (auto [i, module] : llvm::enumerate(original->modules))
    refs.push_back({module.name, module.inFeatures, module.outFeatures,
                    module.rank, as[i], bs[i]});
  std::string dir = path("out/adapter");
  ASSERT_NO_ERROR(savePeftAdapter(dir, original->config, refs));
  EXPECT_EQ(listDir("out/adapter"),
            (std::vector<std::string>{"adapter_config.json",
                                      "adapter_model.safetensors"}));

  ASSERT_EXPECTED(back, loadPeftAdapter(dir));
  ASSERT_EQ(back->modules.size(), original->modules.size());
  for (size_t i = 0; i < back->modules.size(); ++i) {
    EXPECT_EQ(back->modules[i].name, original->modules[i].name);
    EXPECT_EQ(back->modules[i].scale, original->modules[i].scale);
    EXPECT_EQ(back->modules[i].loraA, original->modules[i].loraA);
    EXPECT_EQ(back->modules[i].loraB, original->modules[i].loraB);
  }
  // Same keys, shapes and bytes as the file PEFT wrote.
  ASSERT_EXPECTED(ours,
                  SafetensorsFile::open(dir + "/adapter_model.safetensors"));
  ASSERT_EXPECTED(theirs, SafetensorsFile::open(inputPath(
                              "peft_llama/adapter_model.safetensors")));
  ASSERT_EQ(ours->getTensors().size(), theirs->getTensors().size());
  for (size_t i = 0; i < ours->getTensors().size(); ++i) {
    const SafetensorsTensor &x = ours->getTensors()[i];
    const SafetensorsTensor &y = theirs->getTensors()[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.shape, y.shape);
    EXPECT_EQ(x.data, y.data) << x.name;
  }
  EXPECT_EQ(ours->getMetadata(), theirs->getMetadata());
}

TEST_F(PeftSave, StoresBFloat16) {
  PeftConfig config;
  config.r = 1;
  config.targetModules = PeftModuleSpec::list({"q"});
  std::vector<float> a = {1.0f, 1.0f / 3}, b = {0.1f, -2.0f, 3.0f};
  ASSERT_NO_ERROR(savePeftAdapter(path("bf"), config, {{"m.q", 2, 3, 1, a, b}},
                                  SafetensorsDType::BF16));
  ASSERT_EXPECTED(back, loadPeftAdapter(path("bf")));
  const PeftAdapterModule &module = back->modules.at(0);
  EXPECT_EQ(module.loraA[1], bfloat16BitsToFloat(floatToBFloat16Bits(a[1])));
  EXPECT_EQ(module.onnxB()[0], bfloat16BitsToFloat(floatToBFloat16Bits(b[0])));
}

TEST_F(PeftSave, RejectsInconsistentModulesAndWritesNothing) {
  PeftConfig config;
  config.r = 2;
  config.targetModules = PeftModuleSpec::list({"q"});
  config.rankPattern = {{"layers\\.1\\.q", 1}};
  std::vector<float> a(8), b(6);
  std::string dir = path("never");
  auto check = [&](PeftAdapterModuleRef module, llvm::StringRef needle) {
    EXPECT_CONTAINS(errorOf(savePeftAdapter(dir, config, {module})), needle);
    EXPECT_FALSE(llvm::sys::fs::exists(dir));
  };
  check({"layers.0.q", 4, 3, 2, llvm::ArrayRef(a).drop_back(), b},
        "module 'layers.0.q' has 7 values for A but [K, r] = [4, 2] needs 8");
  check({"layers.0.q", 4, 3, 2, a, llvm::ArrayRef(b).drop_back()},
        "has 5 values for B but [r, N] = [2, 3] needs 6");
  check({"layers.1.q", 4, 3, 2, a, b},
        "has rank 2 but the config gives it 1 (r / rank_pattern)");
  check({"layers.0.k", 4, 3, 2, a, b},
        "module 'layers.0.k' is not selected by the config");
  check({"layers.0.q", 0, 3, 2, a, b}, "all must be > 0");
  EXPECT_CONTAINS(
      errorOf(savePeftAdapter(dir, config, {{"layers.0.q", 4, 3, 2, a, b}},
                              SafetensorsDType::F64)),
      "dtype F64 is not a float type");
  EXPECT_FALSE(llvm::sys::fs::exists(dir));
}

} // namespace
