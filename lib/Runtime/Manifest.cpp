//===- Manifest.cpp - manifest.json of a lora-compile artifact ------------===//

#include "lora/Runtime/Manifest.h"

#include "lora/Runtime/Json.h"

#include <limits>
#include <map>

using namespace lora_runtime;
using json::Checker;

namespace {

constexpr const char *kFormat = "lora-opt-artifact";
constexpr int64_t kFormatVersion = 1;

/// Checks the JSON document of one manifest and fills a Manifest.
class ManifestChecker {
public:
  ManifestChecker(const json::Value &root, const std::string &path,
                  Manifest &manifest, std::string &error)
      : root(root), check(path, error), manifest(manifest) {}

  bool run() {
    manifest = Manifest();
    if (!check.expectKind(root, "", json::Value::Kind::Object) ||
        !checkHeader() || !checkWeights() || !checkLora() || !checkTrain())
      return false;
    const json::Value *arguments, *outputs;
    if (!check.find(root, "", "arguments", true, arguments) ||
        !check.expectKind(*arguments, "arguments", json::Value::Kind::Array) ||
        !check.find(root, "", "outputs", true, outputs) ||
        !check.expectKind(*outputs, "outputs", json::Value::Kind::Array))
      return false;
    for (size_t i = 0; i < arguments->getArray()->size(); ++i)
      if (!checkArgument((*arguments->getArray())[i],
                         Checker::indexPath("arguments", i)))
        return false;
    for (size_t i = 0; i < outputs->getArray()->size(); ++i) {
      const json::Value &output = (*outputs->getArray())[i];
      std::string path = Checker::indexPath("outputs", i);
      TensorSpec spec;
      if (!check.expectKind(output, path, json::Value::Kind::Object) ||
          !checkTensor(output, path, spec))
        return false;
      manifest.outputs.push_back(std::move(spec));
    }
    return checkLoraArguments();
  }

private:
  /// format, format_version, the optional compiler and target, library and
  /// function.
  bool checkHeader() {
    std::string format;
    if (!check.getString(root, "", "format", format))
      return false;
    if (format != kFormat)
      return check.fail(*root.get("format"), "format",
                        std::string("expected \"") + kFormat + "\", got " +
                            root.get("format")->describe());
    int64_t version;
    if (!check.getInteger(root, "", "format_version", version, 0))
      return false;
    if (version != kFormatVersion)
      return check.fail(*root.get("format_version"), "format_version",
                        "format version " + std::to_string(version) +
                            " is not supported; this runtime reads format "
                            "version " +
                            std::to_string(kFormatVersion));
    // "compiler" is informational; only its type is checked. "target"
    // picks the runtime's device.
    const json::Value *compiler;
    if (!check.find(root, "", "compiler", false, compiler) ||
        (compiler &&
         !check.expectKind(*compiler, "compiler", json::Value::Kind::Object)) ||
        !check.getString(root, "", "target", manifest.target, false))
      return false;

    if (!check.getString(root, "", "library", manifest.library) ||
        !checkRelativePath(*root.get("library"), "library") ||
        !check.getString(root, "", "function", manifest.function))
      return false;
    bool identifier =
        !manifest.function.empty() &&
        !(manifest.function[0] >= '0' && manifest.function[0] <= '9');
    for (char c : manifest.function)
      identifier &= (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_';
    if (!identifier)
      return check.fail(*root.get("function"), "function",
                        "expected a C identifier (the library exports "
                        "lora_entry_<function>), got " +
                            root.get("function")->describe());
    return true;
  }

  /// Files named by the manifest stay inside the artifact folder. `value`
  /// is a string.
  bool checkRelativePath(const json::Value &value, const std::string &path) {
    const std::string &text = *value.getString();
    // No absolute path and no ".." component: the files stay inside the
    // artifact folder.
    bool parent = false;
    for (size_t start = 0; start <= text.size();) {
      size_t slash = text.find('/', start);
      if (slash == std::string::npos)
        slash = text.size();
      parent |= text.compare(start, slash - start, "..") == 0;
      start = slash + 1;
    }
    if (text.empty() || text[0] == '/' || parent)
      return check.fail(value, path,
                        "expected a path inside the artifact folder, got " +
                            value.describe());
    return true;
  }

  bool checkWeights() {
    const json::Value *weights;
    int64_t bytes, alignment;
    if (!check.find(root, "", "weights", true, weights) ||
        !check.expectKind(*weights, "weights", json::Value::Kind::Object) ||
        !check.getString(*weights, "weights", "file", manifest.weightsFile) ||
        !checkRelativePath(*weights->get("file"), "weights.file") ||
        !check.getInteger(*weights, "weights", "bytes", bytes, 0) ||
        !check.getInteger(*weights, "weights", "alignment", alignment, 1))
      return false;
    if ((alignment & (alignment - 1)) != 0)
      return check.fail(*weights->get("alignment"), "weights.alignment",
                        "expected a power of two, got " +
                            std::to_string(alignment));
    manifest.weightsBytes = bytes;
    manifest.weightsAlignment = alignment;
    return true;
  }

  bool checkLora() {
    const json::Value *lora;
    if (!check.find(root, "", "lora", true, lora, /*nullable=*/true))
      return false;
    if (lora->isNull())
      return true;
    manifest.hasLora = true;
    const json::Value *modules, *adapter;
    if (!check.expectKind(*lora, "lora", json::Value::Kind::Object) ||
        !check.getBool(*lora, "lora", "merged", manifest.merged) ||
        !check.find(*lora, "lora", "adapter", false, adapter) ||
        (adapter && (!check.expectKind(*adapter, "lora.adapter",
                                       json::Value::Kind::String) ||
                     !checkRelativePath(*adapter, "lora.adapter"))) ||
        !check.find(*lora, "lora", "modules", true, modules) ||
        !check.expectKind(*modules, "lora.modules", json::Value::Kind::Array))
      return false;
    if (adapter)
      manifest.adapter = *adapter->getString();
    for (size_t i = 0; i < modules->getArray()->size(); ++i) {
      const json::Value &module = (*modules->getArray())[i];
      std::string path = Checker::indexPath("lora.modules", i);
      LoraModuleSpec spec;
      if (!check.expectKind(module, path, json::Value::Kind::Object) ||
          !check.getString(module, path, "name", spec.name) ||
          !check.getInteger(module, path, "in_features", spec.inFeatures, 1) ||
          !check.getInteger(module, path, "out_features", spec.outFeatures,
                            1) ||
          !check.getInteger(module, path, "rank", spec.rank, 1) ||
          !check.getNumber(module, path, "alpha", spec.alpha, true) ||
          !check.getNumber(module, path, "scale", spec.scale, true))
        return false;
      if (!moduleIndex.emplace(spec.name, i).second)
        return check.fail(*module.get("name"), Checker::keyPath(path, "name"),
                          "module '" + spec.name + "' is listed twice");
      manifest.loraModules.push_back(std::move(spec));
    }
    moduleArguments.assign(manifest.loraModules.size(), {});
    return true;
  }

  bool checkTrain() {
    const json::Value *train;
    if (!check.find(root, "", "train", false, train, /*nullable=*/true))
      return false;
    if (!train || train->isNull())
      return true;
    TrainSpec spec;
    const json::Value *optimizer;
    if (!check.expectKind(*train, "train", json::Value::Kind::Object) ||
        !check.getString(*train, "train", "loss", spec.loss) ||
        !check.getInteger(*train, "train", "ignore_index", spec.ignoreIndex,
                          std::numeric_limits<int64_t>::min()) ||
        !check.getInteger(*train, "train", "num_classes", spec.numClasses, 0,
                          false) ||
        !check.getString(*train, "train", "lr_input", spec.lrInput) ||
        !check.getString(*train, "train", "step_input", spec.stepInput,
                         false) ||
        !check.find(*train, "train", "optimizer", true, optimizer) ||
        !check.expectKind(*optimizer, "train.optimizer",
                          json::Value::Kind::Object) ||
        !check.getString(*optimizer, "train.optimizer", "name", spec.optimizer))
      return false;
    for (size_t i = 0; i < optimizer->getNumMembers(); ++i) {
      const json::Value &member = optimizer->getMember(i);
      if (optimizer->getKey(i) == "name")
        continue;
      std::optional<double> number = member.getNumber();
      if (std::optional<bool> flag = member.getBool())
        number = *flag ? 1.0 : 0.0;
      if (!number)
        return check.fail(
            member, Checker::keyPath("train.optimizer", optimizer->getKey(i)),
            "expected a number or a boolean, got " + member.describe());
      spec.optimizerOptions.push_back({optimizer->getKey(i), *number});
    }
    const json::Value *dropout;
    if (!check.find(*train, "train", "dropout", false, dropout,
                    /*nullable=*/true))
      return false;
    if (dropout && !dropout->isNull()) {
      int64_t seed = 0;
      if (!check.expectKind(*dropout, "train.dropout",
                            json::Value::Kind::Object) ||
          !check.getNumber(*dropout, "train.dropout", "rate", spec.dropout,
                           /*positive=*/true) ||
          !check.getString(*dropout, "train.dropout", "seed_input",
                           spec.dropoutSeedInput) ||
          !check.getInteger(*dropout, "train.dropout", "seed", seed,
                            std::numeric_limits<int64_t>::min()))
        return false;
      if (!(spec.dropout < 1.0))
        return check.fail(*dropout, "train.dropout.rate", "must be below 1");
      spec.dropoutSeed = static_cast<uint64_t>(seed);
    }
    const json::Value *eval;
    if (!check.find(*train, "train", "eval", false, eval, /*nullable=*/true))
      return false;
    if (eval && !eval->isNull()) {
      const json::Value *arguments, *outputs;
      if (!check.expectKind(*eval, "train.eval", json::Value::Kind::Object) ||
          !check.getString(*eval, "train.eval", "function",
                           spec.evalFunction) ||
          !check.find(*eval, "train.eval", "arguments", true, arguments) ||
          !check.expectKind(*arguments, "train.eval.arguments",
                            json::Value::Kind::Array) ||
          !check.find(*eval, "train.eval", "outputs", true, outputs) ||
          !check.expectKind(*outputs, "train.eval.outputs",
                            json::Value::Kind::Array))
        return false;
      for (size_t i = 0; i < arguments->getArray()->size(); ++i) {
        const json::Value &name = (*arguments->getArray())[i];
        if (!check.expectKind(name,
                              Checker::indexPath("train.eval.arguments", i),
                              json::Value::Kind::String))
          return false;
        spec.evalArguments.push_back(*name.getString());
      }
      for (size_t i = 0; i < outputs->getArray()->size(); ++i) {
        const json::Value &output = (*outputs->getArray())[i];
        std::string path = Checker::indexPath("train.eval.outputs", i);
        TensorSpec tensor;
        if (!check.expectKind(output, path, json::Value::Kind::Object) ||
            !checkTensor(output, path, tensor))
          return false;
        spec.evalOutputs.push_back(std::move(tensor));
      }
    }
    manifest.train = std::move(spec);
    return true;
  }

  /// name, dtype and shape of an argument or output.
  bool checkTensor(const json::Value &object, const std::string &path,
                   TensorSpec &spec) {
    std::string dtype;
    if (!check.getString(object, path, "name", spec.name) ||
        !check.getString(object, path, "dtype", dtype))
      return false;
    if (spec.name.empty())
      return check.fail(*object.get("name"), Checker::keyPath(path, "name"),
                        "expected a non-empty name");
    if (!parseDType(dtype, spec.dtype))
      return check.fail(*object.get("dtype"), Checker::keyPath(path, "dtype"),
                        "unknown dtype '" + dtype +
                            "'; expected one of f32, f64, f16, bf16, i64, "
                            "i32, i16, i8, u8, bool");
    if (!check.getShape(object, path, "shape", spec.shape))
      return false;
    uint64_t bytes = dtypeSize(spec.dtype);
    for (int64_t dim : spec.shape)
      if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes) ||
          bytes > static_cast<uint64_t>(INT64_MAX))
        return check.fail(*object.get("shape"), Checker::keyPath(path, "shape"),
                          "shape " + formatShape(spec.shape) +
                              " is too large to address");
    return true;
  }

  bool checkArgument(const json::Value &object, const std::string &path) {
    ArgumentSpec argument;
    std::string kind;
    if (!check.expectKind(object, path, json::Value::Kind::Object) ||
        !checkTensor(object, path, argument.tensor) ||
        !check.getString(object, path, "kind", kind))
      return false;
    auto [previous, inserted] =
        argumentIndex.emplace(argument.tensor.name, manifest.arguments.size());
    if (!inserted)
      return check.fail(*object.get("name"), Checker::keyPath(path, "name"),
                        "argument name '" + argument.tensor.name +
                            "' is used twice (also by arguments[" +
                            std::to_string(previous->second) + "])");
    const json::Value &kindValue = *object.get("kind");
    std::string kindPath = Checker::keyPath(path, "kind");
    if (kind == "input") {
      argument.kind = ArgumentKind::Input;
    } else if (kind == "weight") {
      argument.kind = ArgumentKind::Weight;
      if (!checkWeight(object, path, argument))
        return false;
    } else if (kind == "state") {
      argument.kind = ArgumentKind::State;
    } else if (kind == "lora_a" || kind == "lora_b") {
      argument.kind =
          kind == "lora_a" ? ArgumentKind::LoraA : ArgumentKind::LoraB;
      if (!manifest.hasLora || manifest.merged)
        return check.fail(kindValue, kindPath,
                          std::string("a ") + kind + " argument, but " +
                              (manifest.hasLora ? "lora.merged is true"
                                                : "\"lora\" is null"));
      if (!checkLoraParameter(object, path, kind, argument))
        return false;
    } else {
      return check.fail(kindValue, kindPath,
                        "unknown kind '" + kind +
                            "'; expected input, weight, lora_a, lora_b or "
                            "state");
    }
    manifest.arguments.push_back(std::move(argument));
    return true;
  }

  bool checkWeight(const json::Value &object, const std::string &path,
                   ArgumentSpec &argument) {
    int64_t offset, bytes;
    if (!check.getInteger(object, path, "offset", offset, 0) ||
        !check.getInteger(object, path, "bytes", bytes, 0))
      return false;
    const TensorSpec &tensor = argument.tensor;
    if (static_cast<uint64_t>(bytes) != tensor.numBytes())
      return check.fail(*object.get("bytes"), Checker::keyPath(path, "bytes"),
                        std::to_string(bytes) + " bytes, but " +
                            formatTensorType(tensor.dtype, tensor.shape) +
                            " has " + std::to_string(tensor.numBytes()));
    uint64_t alignment = manifest.weightsAlignment;
    if (offset % alignment != 0 || offset % dtypeSize(tensor.dtype) != 0)
      return check.fail(*object.get("offset"), Checker::keyPath(path, "offset"),
                        "offset " + std::to_string(offset) +
                            " is not a multiple of weights.alignment (" +
                            std::to_string(alignment) +
                            ") and of the element size");
    if (static_cast<uint64_t>(bytes) > manifest.weightsBytes ||
        static_cast<uint64_t>(offset) > manifest.weightsBytes - bytes)
      return check.fail(*object.get("offset"), Checker::keyPath(path, "offset"),
                        "bytes [" + std::to_string(offset) + ", " +
                            std::to_string(offset) + " + " +
                            std::to_string(bytes) +
                            ") reach past the end of " + manifest.weightsFile +
                            " (weights.bytes = " +
                            std::to_string(manifest.weightsBytes) + ")");
    argument.offset = offset;
    argument.bytes = bytes;
    return true;
  }

  bool checkLoraParameter(const json::Value &object, const std::string &path,
                          const std::string &kind, ArgumentSpec &argument) {
    if (!check.getString(object, path, "module", argument.module))
      return false;
    auto it = moduleIndex.find(argument.module);
    if (it == moduleIndex.end())
      return check.fail(*object.get("module"), Checker::keyPath(path, "module"),
                        "module '" + argument.module +
                            "' is not in lora.modules");
    const TensorSpec &tensor = argument.tensor;
    if (!isFloatDType(tensor.dtype))
      return check.fail(*object.get("dtype"), Checker::keyPath(path, "dtype"),
                        std::string("a LoRA parameter must be f32, f64, f16 "
                                    "or bf16, got ") +
                            dtypeName(tensor.dtype));
    const LoraModuleSpec &module = manifest.loraModules[it->second];
    bool isA = argument.kind == ArgumentKind::LoraA;
    std::vector<int64_t> expected =
        isA ? std::vector<int64_t>{module.inFeatures, module.rank}
            : std::vector<int64_t>{module.rank, module.outFeatures};
    if (tensor.shape != expected)
      return check.fail(
          *object.get("shape"), Checker::keyPath(path, "shape"),
          kind + " of module '" + module.name + "' must be " +
              formatShape(expected) +
              (isA ? " (in_features x rank)" : " (rank x out_features)") +
              ", got " + formatShape(tensor.shape));
    size_t &slot =
        isA ? moduleArguments[it->second].a : moduleArguments[it->second].b;
    if (slot != kNone)
      return check.fail(object, path,
                        "module '" + module.name + "' has a second " + kind +
                            " argument (the first is arguments[" +
                            std::to_string(slot) + "])");
    slot = manifest.arguments.size();
    return true;
  }

  /// Unless merged, every module has its A and B.
  bool checkLoraArguments() {
    if (!manifest.hasLora || manifest.merged)
      return true;
    for (size_t i = 0; i < moduleArguments.size(); ++i) {
      const char *missing = moduleArguments[i].a == kNone   ? "lora_a"
                            : moduleArguments[i].b == kNone ? "lora_b"
                                                            : nullptr;
      const json::Value &module =
          (*root.get("lora")->get("modules")->getArray())[i];
      if (missing)
        return check.fail(module, Checker::indexPath("lora.modules", i),
                          "module '" + manifest.loraModules[i].name +
                              "' has no " + missing + " argument");
    }
    return true;
  }

  static constexpr size_t kNone = ~size_t(0);
  struct ModuleArguments {
    size_t a = kNone, b = kNone;
  };

  const json::Value &root;
  Checker check;
  Manifest &manifest;
  std::map<std::string, size_t> moduleIndex, argumentIndex;
  std::vector<ModuleArguments> moduleArguments;
};

bool checkManifest(const json::Value &root, const std::string &path,
                   Manifest &manifest, std::string &error) {
  return ManifestChecker(root, path, manifest, error).run();
}

} // namespace

std::vector<TensorSpec> Manifest::argumentSpecs() const {
  std::vector<TensorSpec> specs;
  for (const ArgumentSpec &argument : arguments)
    specs.push_back(argument.tensor);
  return specs;
}

std::string Manifest::signature() const {
  return formatSignature(argumentSpecs(), outputs);
}

bool lora_runtime::parseManifest(std::string_view text, const std::string &path,
                                 Manifest &manifest, std::string &error) {
  json::Value root;
  if (!json::parse(text, root, error)) {
    error = path + ":" + error;
    return false;
  }
  return checkManifest(root, path, manifest, error);
}

bool lora_runtime::readManifest(const std::string &path, Manifest &manifest,
                                std::string &error) {
  json::Value root;
  return json::parseFile(path, root, error) &&
         checkManifest(root, path, manifest, error);
}
