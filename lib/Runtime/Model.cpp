//===- Model.cpp - a loaded lora-compile artifact -------------------------===//

#include "lora/Runtime/Model.h"

#include "lora/Runtime/Json.h"
#include "lora/Runtime/Safetensors.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <regex>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace lora_runtime;

namespace {

std::string joinPath(const std::string &dir, const std::string &file) {
  if (dir.empty() || dir.back() == '/')
    return dir + file;
  return dir + "/" + file;
}

bool isRegularFile(const std::string &path) {
  struct stat status;
  return stat(path.c_str(), &status) == 0 && S_ISREG(status.st_mode);
}

//===----------------------------------------------------------------------===//
// adapter_config.json
//===----------------------------------------------------------------------===//

/// The fields of PEFT's LoraConfig that decide each module's rank and scale,
/// with PEFT's defaults.
class AdapterConfig {
public:
  /// Reads `path`; pattern keys are compiled as regexes here.
  bool read(const std::string &path, std::string &error) {
    json::Value root;
    if (!json::parseFile(path, root, error))
      return false;
    json::Checker check(path, error);
    std::string peftType = "LORA";
    bool useDora = false;
    if (!check.expectKind(root, "", json::Value::Kind::Object) ||
        !check.getString(root, "", "peft_type", peftType, false) ||
        !check.getInteger(root, "", "r", rank, 1, false) ||
        !check.getNumber(root, "", "lora_alpha", alpha, true, false) ||
        !check.getBool(root, "", "use_rslora", useRslora, false) ||
        !check.getBool(root, "", "use_dora", useDora, false))
      return false;
    if (peftType != "LORA")
      return check.fail(*root.get("peft_type"), "peft_type",
                        "expected \"LORA\", got \"" + peftType + "\"");
    if (useDora)
      return check.fail(*root.get("use_dora"), "use_dora",
                        "DoRA adapters are not supported");
    return readPatterns(root, "rank_pattern", check, rankPattern) &&
           readPatterns(root, "alpha_pattern", check, alphaPattern);
  }

  /// The rank and the scale PEFT gives `module`.
  int64_t rankOf(const std::string &module) const {
    return static_cast<int64_t>(
        lookup(rankPattern, module, static_cast<double>(rank)));
  }
  double scaleOf(const std::string &module) const {
    double r = static_cast<double>(rankOf(module));
    return lookup(alphaPattern, module, alpha) / (useRslora ? std::sqrt(r) : r);
  }

private:
  struct Pattern {
    std::regex regex;
    double value;
  };

  /// Reads a {regex: value} object in file order. Ranks must be integers
  /// >= 1, alphas numbers > 0.
  bool readPatterns(const json::Value &root, const char *key,
                    json::Checker &check, std::vector<Pattern> &patterns) {
    const json::Value *object;
    if (!check.find(root, "", key, false, object))
      return false;
    if (!object)
      return true;
    if (!check.expectKind(*object, key, json::Value::Kind::Object))
      return false;
    bool isRank = std::strcmp(key, "rank_pattern") == 0;
    for (size_t i = 0; i < object->getNumMembers(); ++i) {
      const std::string &pattern = object->getKey(i);
      const json::Value &value = object->getMember(i);
      std::string path = json::Checker::keyPath(key, pattern);
      Pattern entry;
      int64_t integer;
      if (isRank ? !check.expectInteger(value, path, integer, 1)
                 : !check.expectNumber(value, path, entry.value, true))
        return false;
      if (isRank)
        entry.value = static_cast<double>(integer);
      // PEFT's get_pattern_key: the key matches a "."-separated suffix of
      // the module name.
      try {
        entry.regex = std::regex("(.*\\.)?(" + pattern + ")");
      } catch (const std::regex_error &regexError) {
        return check.fail(value, path,
                          "the key is not a valid regular expression: " +
                              std::string(regexError.what()));
      }
      patterns.push_back(std::move(entry));
    }
    return true;
  }

  /// The value of the first pattern matching `module`, else `fallback`.
  static double lookup(const std::vector<Pattern> &patterns,
                       const std::string &module, double fallback) {
    for (const Pattern &pattern : patterns)
      if (std::regex_match(module, pattern.regex))
        return pattern.value;
    return fallback;
  }

  int64_t rank = 8;
  double alpha = 8;
  bool useRslora = false;
  std::vector<Pattern> rankPattern, alphaPattern;
};

//===----------------------------------------------------------------------===//
// adapter_model.safetensors
//===----------------------------------------------------------------------===//

/// A tensor key split into its parts:
/// base_model.model.<module>.lora_{A,B}[.<adapter name>].weight.
struct LoraKey {
  std::string module;
  bool isA = true;
  std::string adapterName; // Empty when the key has none.
};

bool parseLoraKey(const std::string &key, LoraKey &result) {
  const std::string prefix = "base_model.model.";
  if (key.compare(0, prefix.size(), prefix) != 0)
    return false;
  std::string rest = key.substr(prefix.size());
  for (bool isA : {true, false}) {
    std::string marker = isA ? ".lora_A." : ".lora_B.";
    size_t pos = rest.rfind(marker);
    if (pos == std::string::npos || pos == 0)
      continue;
    std::string tail = rest.substr(pos + marker.size());
    if (tail == "weight") {
      result.adapterName.clear();
    } else {
      size_t dot = tail.find('.');
      if (dot == 0 || dot == std::string::npos || tail.substr(dot) != ".weight")
        return false;
      result.adapterName = tail.substr(0, dot);
    }
    result.module = rest.substr(0, pos);
    result.isA = isA;
    return true;
  }
  return false;
}

/// The first difference between two signatures (`t0,t1,...->r0,...`), named
/// after the manifest's argument or output.
std::string describeSignatureMismatch(const Manifest &manifest,
                                      const std::string &described,
                                      const std::string &compiled) {
  auto split = [](const std::string &signature) {
    std::vector<std::string> inputs, outputs;
    size_t arrow = signature.find("->");
    auto splitList = [](const std::string &list,
                        std::vector<std::string> &out) {
      size_t start = 0;
      while (start <= list.size() && !list.empty()) {
        size_t comma = list.find(',', start);
        out.push_back(list.substr(start, comma - start));
        if (comma == std::string::npos)
          break;
        start = comma + 1;
      }
    };
    splitList(signature.substr(0, arrow), inputs);
    if (arrow != std::string::npos)
      splitList(signature.substr(arrow + 2), outputs);
    return std::make_pair(inputs, outputs);
  };
  auto [manifestArgs, manifestResults] = split(described);
  auto [libraryArgs, libraryResults] = split(compiled);
  if (manifestArgs.size() != libraryArgs.size())
    return "the manifest lists " + std::to_string(manifestArgs.size()) +
           " arguments, the library takes " +
           std::to_string(libraryArgs.size());
  if (manifestResults.size() != libraryResults.size())
    return "the manifest lists " + std::to_string(manifestResults.size()) +
           " outputs, the library returns " +
           std::to_string(libraryResults.size());
  for (size_t i = 0; i < manifestArgs.size(); ++i)
    if (manifestArgs[i] != libraryArgs[i])
      return "argument " + std::to_string(i) + " ('" +
             manifest.arguments[i].tensor.name + "') is " + manifestArgs[i] +
             " in the manifest but " + libraryArgs[i] + " in the library";
  for (size_t i = 0; i < manifestResults.size(); ++i)
    if (manifestResults[i] != libraryResults[i])
      return "output " + std::to_string(i) + " ('" +
             manifest.outputs[i].name + "') is " + manifestResults[i] +
             " in the manifest but " + libraryResults[i] + " in the library";
  return "the manifest describes `" + described +
         "`, the library was compiled for `" + compiled + "`";
}

std::string joinNames(const std::vector<std::string> &names) {
  std::string text;
  for (size_t i = 0; i < names.size(); ++i)
    text += (i ? ", " : "") + names[i];
  return text;
}

} // namespace

//===----------------------------------------------------------------------===//
// Model
//===----------------------------------------------------------------------===//

Model::~Model() {
  if (device)
    device->forgetFunctions();
}

std::unique_ptr<Model> Model::load(const std::string &dir, std::string &error,
                                   const DeviceOptions &options) {
  return loadOnto(dir, error, options, nullptr);
}

std::unique_ptr<Model> Model::load(const std::string &dir, std::string &error,
                                   std::unique_ptr<Device> device) {
  return loadOnto(dir, error, {}, std::move(device));
}

std::unique_ptr<Model> Model::loadOnto(const std::string &dir,
                                       std::string &error,
                                       const DeviceOptions &options,
                                       std::unique_ptr<Device> device) {
  struct stat status;
  if (stat(dir.c_str(), &status) != 0 || !S_ISDIR(status.st_mode)) {
    error = "artifact folder '" + dir + "' does not exist";
    return nullptr;
  }
  std::unique_ptr<Model> model(new Model());
  model->directory = dir;
  Manifest &info = model->info;
  std::string manifestPath = joinPath(dir, "manifest.json");
  if (!readManifest(manifestPath, info, error))
    return nullptr;
  if (!device) {
    device = createDevice(info.target, error, options);
    if (!device) {
      error = manifestPath + ": " + error;
      return nullptr;
    }
  }
  model->device = std::move(device);

  std::string weightsPath = joinPath(dir, info.weightsFile);
  if (stat(weightsPath.c_str(), &status) == 0 &&
      static_cast<uint64_t>(status.st_size) != info.weightsBytes) {
    error = "'" + weightsPath + "' has " + std::to_string(status.st_size) +
            " bytes, but " + manifestPath +
            " says weights.bytes = " + std::to_string(info.weightsBytes);
    return nullptr;
  }
  if (!model->device->loadWeights(weightsPath, info.weightsBytes,
                                  model->weights, error))
    return nullptr;

  std::string libraryPath = joinPath(dir, info.library);
  if (!isRegularFile(libraryPath)) {
    error = "cannot find '" + libraryPath + "' (\"library\" in " +
            manifestPath + ")";
    return nullptr;
  }
  model->function = model->device->loadFunction(
      libraryPath, info.function, info.argumentSpecs(), info.outputs, error);
  if (!model->function)
    return nullptr;
  const char *compiled = model->function->librarySignature();
  if (!compiled) {
    error = "'" + libraryPath + "' has no 'lora_signature_" + info.function +
            "'; it was not written by lora-compile";
    return nullptr;
  }
  std::string described = info.signature();
  if (described != compiled) {
    error = manifestPath + " does not match " + libraryPath + ": " +
            describeSignatureMismatch(info, described, compiled);
    return nullptr;
  }

  model->parameters.resize(info.arguments.size());
  for (size_t i = 0; i < info.arguments.size(); ++i) {
    const ArgumentSpec &argument = info.arguments[i];
    if (argument.kind == ArgumentKind::Input)
      model->inputSpecs.push_back(argument.tensor);
    if ((argument.kind == ArgumentKind::LoraA ||
         argument.kind == ArgumentKind::LoraB) &&
        !DeviceBuffer::allocate(*model->device, argument.tensor.numBytes(),
                                model->parameters[i], error))
      return nullptr;
    // Optimizer state starts at zero.
    if (argument.kind == ArgumentKind::State) {
      std::vector<uint8_t> zeros(argument.tensor.numBytes());
      if (!DeviceBuffer::allocate(*model->device, zeros.size(),
                                  model->parameters[i], error) ||
          (!zeros.empty() &&
           !model->device->upload(model->parameters[i].data(), zeros.data(),
                                  zeros.size(), error)))
        return nullptr;
    }
  }
  if (model->isTraining() && !model->prepareTraining(error)) {
    error = manifestPath + ": " + error;
    return nullptr;
  }

  if (info.hasLora && !info.merged && !info.loraModules.empty() &&
      !info.adapter.empty()) {
    std::string adapterError;
    if (!model->setAdapter(joinPath(dir, info.adapter), adapterError)) {
      error =
          "cannot load the initial adapter of '" + dir + "': " + adapterError;
      return nullptr;
    }
  }
  return model;
}

bool Model::setAdapter(const std::string &dir, std::string &error) {
  if (!info.hasLora || info.merged) {
    error =
        "cannot set adapter '" + dir + "': the model in '" + directory +
        (info.merged ? "' was compiled with --merge, so its adapter is part of "
                       "the frozen weights; compile without --merge to swap "
                       "adapters"
                     : "' has no LoRA parameters (\"lora\" is null in its "
                       "manifest.json)");
    return false;
  }
  AdapterConfig config;
  if (!config.read(joinPath(dir, "adapter_config.json"), error))
    return false;
  std::string weightsPath = joinPath(dir, "adapter_model.safetensors");
  if (!isRegularFile(weightsPath) &&
      isRegularFile(joinPath(dir, "adapter_model.bin"))) {
    error = "cannot open '" + weightsPath + "': '" + dir +
            "' holds adapter_model.bin, a pickle; re-save the adapter with "
            "save_pretrained(..., safe_serialization=True)";
    return false;
  }
  std::unique_ptr<SafetensorsFile> file =
      SafetensorsFile::open(weightsPath, error);
  if (!file)
    return false;

  // The adapter's A and B of each module.
  struct Pair {
    const SafetensorsTensor *a = nullptr, *b = nullptr;
  };
  std::map<std::string, Pair> found;
  std::vector<std::string> unsupported;
  std::string adapterName;
  for (const SafetensorsTensor &tensor : file->tensors()) {
    LoraKey key;
    if (!parseLoraKey(tensor.name, key)) {
      unsupported.push_back(tensor.name);
      continue;
    }
    if (!key.adapterName.empty()) {
      if (!adapterName.empty() && adapterName != key.adapterName) {
        error = weightsPath + ": holds the weights of several adapters ('" +
                adapterName + "', '" + key.adapterName +
                "'); save one adapter per folder";
        return false;
      }
      adapterName = key.adapterName;
    }
    const SafetensorsTensor *&slot =
        key.isA ? found[key.module].a : found[key.module].b;
    if (slot) {
      error = weightsPath + ": module '" + key.module + "' has two " +
              (key.isA ? "lora_A" : "lora_B") + " tensors: '" + slot->name +
              "' and '" + tensor.name + "'";
      return false;
    }
    slot = &tensor;
  }
  if (!unsupported.empty()) {
    error = weightsPath +
            ": tensors that are not LoRA weights (base_model.model.<module>"
            ".lora_A/lora_B.weight): " +
            joinNames(unsupported);
    return false;
  }
  std::map<std::string, size_t> compiled;
  for (size_t i = 0; i < info.loraModules.size(); ++i)
    compiled[info.loraModules[i].name] = i;
  // An adapter module matches the compiled module of the same name, or the
  // one compiled module whose name ends with "." + its name (the ONNX export
  // may have wrapped the model PEFT adapted), as in lora-insert.
  std::map<std::string, Pair> byCompiled;
  std::map<std::string, std::string> adapterNameOf;
  std::vector<std::string> unknown;
  for (const auto &[name, pair] : found) {
    std::vector<std::string> matches;
    if (compiled.count(name)) {
      matches.push_back(name);
    } else {
      for (const auto &entry : compiled) {
        const std::string &candidate = entry.first;
        if (candidate.size() > name.size() &&
            candidate.compare(candidate.size() - name.size(), name.size(),
                              name) == 0 &&
            candidate[candidate.size() - name.size() - 1] == '.')
          matches.push_back(candidate);
      }
    }
    if (matches.empty()) {
      unknown.push_back(name);
      continue;
    }
    if (matches.size() > 1) {
      error = "adapter '" + dir + "': module '" + name +
              "' matches several compiled modules: " + joinNames(matches);
      return false;
    }
    if (byCompiled.count(matches.front())) {
      error = "adapter '" + dir + "': modules '" +
              adapterNameOf[matches.front()] + "' and '" + name +
              "' both match the compiled module '" + matches.front() + "'";
      return false;
    }
    byCompiled[matches.front()] = pair;
    adapterNameOf[matches.front()] = name;
  }
  if (!unknown.empty()) {
    error =
        "adapter '" + dir +
        "' has modules the model was not compiled with: " + joinNames(unknown);
    return false;
  }
  found.swap(byCompiled);

  // Stage every parameter (zero for modules the adapter lacks); nothing the
  // model uses changes until all of them are ready.
  std::vector<std::vector<uint8_t>> staged(info.arguments.size());
  std::vector<size_t> indexA(info.loraModules.size()),
      indexB(info.loraModules.size());
  for (size_t i = 0; i < info.arguments.size(); ++i) {
    const ArgumentSpec &argument = info.arguments[i];
    if (argument.kind != ArgumentKind::LoraA &&
        argument.kind != ArgumentKind::LoraB)
      continue;
    staged[i].assign(argument.tensor.numBytes(), 0);
    size_t module = compiled[argument.module];
    (argument.kind == ArgumentKind::LoraA ? indexA : indexB)[module] = i;
  }
  std::vector<double> a, b;
  for (size_t m = 0; m < info.loraModules.size(); ++m) {
    const LoraModuleSpec &module = info.loraModules[m];
    auto it = found.find(module.name);
    if (it == found.end())
      continue;
    auto fail = [&](const std::string &message) {
      error = "adapter '" + dir + "': module '" + module.name + "': " + message;
      return false;
    };
    const Pair &pair = it->second;
    if (!pair.a || !pair.b)
      return fail(pair.a ? "has lora_A but no lora_B"
                         : "has lora_B but no lora_A");
    int64_t rank = module.rank, k = module.inFeatures, n = module.outFeatures;
    // PEFT stores torch nn.Linear weights: lora_A [r, K], lora_B [N, r].
    for (const SafetensorsTensor *tensor : {pair.a, pair.b}) {
      std::vector<int64_t> expected = tensor == pair.a
                                          ? std::vector<int64_t>{rank, k}
                                          : std::vector<int64_t>{n, rank};
      if (tensor->shape != expected)
        return fail("tensor '" + tensor->name + "' has shape " +
                    formatShape(tensor->shape) + ", expected " +
                    formatShape(expected) +
                    (tensor == pair.a ? " (rank x in_features"
                                      : " (out_features x rank") +
                    " of the compiled module: rank " + std::to_string(rank) +
                    ", in_features " + std::to_string(k) + ", out_features " +
                    std::to_string(n) + ")");
    }
    const std::string &adapterModule = adapterNameOf[module.name];
    if (config.rankOf(adapterModule) != rank)
      return fail("adapter_config.json gives it rank " +
                  std::to_string(config.rankOf(adapterModule)) +
                  " (r / rank_pattern), but its tensors have rank " +
                  std::to_string(rank));
    if (!file->readDoubles(*pair.a, a, error) ||
        !file->readDoubles(*pair.b, b, error))
      return false;
    double scale = config.scaleOf(adapterModule);
    double ratio = 1;
    if (std::fabs(scale - module.scale) > 1e-12 * module.scale)
      ratio = scale / module.scale;

    const ArgumentSpec &argA = info.arguments[indexA[m]];
    const ArgumentSpec &argB = info.arguments[indexB[m]];
    size_t sizeA = dtypeSize(argA.tensor.dtype);
    size_t sizeB = dtypeSize(argB.tensor.dtype);
    uint8_t *outA = staged[indexA[m]].data();
    uint8_t *outB = staged[indexB[m]].data();
    // Transpose into ONNX orientation: A [K, r], B [r, N].
    for (int64_t j = 0; j < rank; ++j)
      for (int64_t i = 0; i < k; ++i)
        storeFloat(a[j * k + i], argA.tensor.dtype,
                   outA + (i * rank + j) * sizeA);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < rank; ++j)
        storeFloat(b[i * rank + j] * ratio, argB.tensor.dtype,
                   outB + (j * n + i) * sizeB);
  }

  // `staged` has the layout of `parameters`: empty but for LoRA parameters.
  // Each goes to a new device buffer; the old ones stay until all arrived.
  // (Optimizer state buffers are not the adapter's and stay.)
  std::vector<DeviceBuffer> buffers(staged.size());
  for (size_t i = 0; i < staged.size(); ++i) {
    if (staged[i].empty())
      continue;
    if (!DeviceBuffer::allocate(*device, staged[i].size(), buffers[i], error) ||
        !device->upload(buffers[i].data(), staged[i].data(), staged[i].size(),
                        error))
      return false;
  }
  for (size_t i = 0; i < staged.size(); ++i)
    if (!staged[i].empty())
      parameters[i] = std::move(buffers[i]);
  return true;
}

int64_t Model::findArgument(const std::string &name) const {
  for (size_t i = 0; i < info.arguments.size(); ++i)
    if (info.arguments[i].tensor.name == name)
      return static_cast<int64_t>(i);
  return -1;
}

bool Model::checkParameter(const std::string &name, int64_t index,
                           size_t numBytes, std::string &error) const {
  if (index < 0) {
    error = "the model has no parameter '" + name + "'";
    return false;
  }
  const ArgumentSpec &argument = info.arguments[index];
  if (argument.kind != ArgumentKind::LoraA &&
      argument.kind != ArgumentKind::LoraB) {
    error = "'" + name + "' is " +
            (argument.kind == ArgumentKind::Input   ? "a graph input"
             : argument.kind == ArgumentKind::State ? "optimizer state"
                                                    : "a frozen weight") +
            "; only LoRA parameters (lora_a, lora_b) can be set";
    return false;
  }
  if (numBytes != argument.tensor.numBytes()) {
    error = "parameter '" + name + "' (" +
            formatTensorType(argument.tensor.dtype, argument.tensor.shape) +
            ") has " + std::to_string(argument.tensor.numBytes()) +
            " bytes, got " + std::to_string(numBytes);
    return false;
  }
  return true;
}

bool Model::setParameter(const std::string &name, const Tensor &value,
                         std::string &error) {
  int64_t index = findArgument(name);
  if (!checkParameter(name, index, value.data.size(), error))
    return false;
  const TensorSpec &spec = info.arguments[index].tensor;
  if (value.dtype != spec.dtype || value.shape != spec.shape) {
    error = "parameter '" + name + "' must be " +
            formatTensorType(spec.dtype, spec.shape) + ", got " +
            formatTensorType(value.dtype, value.shape);
    return false;
  }
  return setParameter(name, value.data.data(), value.data.size(), error);
}

bool Model::setParameter(const std::string &name, const void *data,
                         size_t numBytes, std::string &error) {
  int64_t index = findArgument(name);
  if (!checkParameter(name, index, numBytes, error))
    return false;
  if (numBytes != 0 && !data) {
    error = "the data for parameter '" + name + "' is null";
    return false;
  }
  return numBytes == 0 ||
         device->upload(parameters[index].data(), data, numBytes, error);
}

bool Model::run(const std::vector<const Tensor *> &inputs,
                std::vector<Tensor> &outputs, std::string &error) {
  if (inputs.size() != inputSpecs.size()) {
    error = "the model takes " + std::to_string(inputSpecs.size()) +
            " inputs, got " + std::to_string(inputs.size());
    return false;
  }
  std::vector<const void *> inputData;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSpec &spec = inputSpecs[i];
    if (!inputs[i] || inputs[i]->dtype != spec.dtype ||
        inputs[i]->shape != spec.shape ||
        inputs[i]->data.size() != spec.numBytes()) {
      error = "input '" + spec.name + "' must be " +
              formatTensorType(spec.dtype, spec.shape) + ", got " +
              (inputs[i] ? formatTensorType(inputs[i]->dtype, inputs[i]->shape)
                         : std::string("null"));
      return false;
    }
    inputData.push_back(inputs[i]->data.data());
  }
  std::vector<Tensor> results;
  std::vector<void *> outputData;
  for (const TensorSpec &spec : info.outputs) {
    results.push_back(Tensor::zeros(spec.dtype, spec.shape));
    outputData.push_back(results.back().data.data());
  }
  if (!run(inputData.data(), outputData.data(), error))
    return false;
  outputs = std::move(results);
  return true;
}

std::vector<size_t> Model::allArguments() const {
  std::vector<size_t> indices(info.arguments.size());
  std::iota(indices.begin(), indices.end(), 0);
  return indices;
}

bool Model::run(const void *const *inputs, void *const *outputs,
                std::string &error) {
  return call(*function, allArguments(), info.outputs, inputs, outputs, error);
}

bool Model::runOnDevice(const void *const *inputs, void *const *outputs,
                        std::string &error) {
  if ((!inputs && !inputSpecs.empty()) || (!outputs && !info.outputs.empty())) {
    error = !inputs ? "the input array is null" : "the output array is null";
    return false;
  }
  // Every buffer is checked before anything runs: an output that overlaps
  // an input or another output would be written while it is read.
  struct Buffer {
    const char *kind;
    const TensorSpec *spec;
    uintptr_t begin, end;
  };
  std::vector<Buffer> buffers;
  auto add = [&](const char *kind, const TensorSpec &spec,
                 const void *pointer) {
    size_t bytes = spec.numBytes();
    if (!bytes)
      return true;
    if (!pointer) {
      error = std::string(kind) + " '" + spec.name + "' is null";
      return false;
    }
    std::string why;
    if (!device->checkCallerBuffer(pointer, bytes, why)) {
      error = std::string(kind) + " '" + spec.name + "' (" +
              formatTensorType(spec.dtype, spec.shape) + "): " + why;
      return false;
    }
    uintptr_t begin = reinterpret_cast<uintptr_t>(pointer);
    buffers.push_back({kind, &spec, begin, begin + bytes});
    return true;
  };
  for (size_t i = 0; i < inputSpecs.size(); ++i)
    if (!add("input", inputSpecs[i], inputs[i]))
      return false;
  size_t numInputs = buffers.size();
  for (size_t i = 0; i < info.outputs.size(); ++i)
    if (!add("output", info.outputs[i], outputs[i]))
      return false;
  for (size_t o = numInputs; o < buffers.size(); ++o)
    for (size_t other = 0; other < o; ++other)
      if (buffers[o].begin < buffers[other].end &&
          buffers[other].begin < buffers[o].end) {
        error = "output '" + buffers[o].spec->name + "' overlaps " +
                buffers[other].kind + " '" + buffers[other].spec->name + "'";
        return false;
      }
  return call(*function, allArguments(), info.outputs, inputs, outputs, error,
              {}, /*onDevice=*/true);
}

bool Model::call(CompiledFunction &fn,
                 const std::vector<size_t> &argumentIndices,
                 const std::vector<TensorSpec> &outputSpecs,
                 const void *const *inputs, void *const *outputs,
                 std::string &error, const std::vector<void *> &directOutputs,
                 bool onDevice) {
  auto direct = [&](size_t i) -> void * {
    return i < directOutputs.size() ? directOutputs[i] : nullptr;
  };
  // Which graph input each argument is, for the arguments that are inputs.
  std::vector<int64_t> inputOf(info.arguments.size(), -1);
  for (size_t i = 0, next = 0; i < info.arguments.size(); ++i)
    if (info.arguments[i].kind == ArgumentKind::Input)
      inputOf[i] = static_cast<int64_t>(next++);
  std::vector<bool> used(inputSpecs.size());
  for (size_t index : argumentIndices)
    if (inputOf[index] >= 0)
      used[inputOf[index]] = true;
  if ((!inputs && !inputSpecs.empty()) || (!outputs && !outputSpecs.empty())) {
    error = !inputs ? "the input array is null" : "the output array is null";
    return false;
  }
  for (size_t i = 0; i < inputSpecs.size(); ++i)
    if (used[i] && !inputs[i] && inputSpecs[i].numBytes() != 0) {
      error = "input '" + inputSpecs[i].name + "' is null";
      return false;
    }
  for (size_t i = 0; i < outputSpecs.size(); ++i)
    if (!outputs[i] && !direct(i) && outputSpecs[i].numBytes() != 0) {
      error = "output '" + outputSpecs[i].name + "' is null";
      return false;
    }
  // Inputs and outputs go to the device unless it reads host memory or
  // they are on the device already.
  bool staging = !device->sharesHostMemory() && !onDevice;
  std::vector<DeviceBuffer> inputBuffers(inputSpecs.size()),
      outputBuffers(outputSpecs.size());
  std::vector<const void *> deviceInputs(inputs, inputs + inputSpecs.size());
  std::vector<void *> deviceOutputs(outputs, outputs + outputSpecs.size());
  if (staging) {
    for (size_t i = 0; i < inputSpecs.size(); ++i) {
      size_t bytes = inputSpecs[i].numBytes();
      if (!used[i])
        continue;
      if (!DeviceBuffer::allocate(*device, bytes, inputBuffers[i], error) ||
          (bytes &&
           !device->upload(inputBuffers[i].data(), inputs[i], bytes, error)))
        return false;
      deviceInputs[i] = inputBuffers[i].data();
    }
    for (size_t i = 0; i < outputSpecs.size(); ++i) {
      if (direct(i))
        continue;
      if (!DeviceBuffer::allocate(*device, outputSpecs[i].numBytes(),
                                  outputBuffers[i], error))
        return false;
      deviceOutputs[i] = outputBuffers[i].data();
    }
  }
  for (size_t i = 0; i < outputSpecs.size(); ++i)
    if (direct(i))
      deviceOutputs[i] = direct(i);

  std::vector<const void *> arguments;
  for (size_t i : argumentIndices) {
    const ArgumentSpec &argument = info.arguments[i];
    switch (argument.kind) {
    case ArgumentKind::Input:
      arguments.push_back(deviceInputs[inputOf[i]]);
      break;
    case ArgumentKind::Weight:
      arguments.push_back(weights ? weights + argument.offset : nullptr);
      break;
    case ArgumentKind::LoraA:
    case ArgumentKind::LoraB:
    case ArgumentKind::State:
      arguments.push_back(parameters[i].data());
      break;
    }
  }
  if (!device->call(fn, arguments.data(), deviceOutputs.data(), error))
    return false;
  if (staging)
    for (size_t i = 0; i < outputSpecs.size(); ++i)
      if (size_t bytes = outputSpecs[i].numBytes();
          bytes && !direct(i) &&
          !device->download(outputs[i], outputBuffers[i].data(), bytes, error))
        return false;
  // Released in the reverse order of their allocation, the staging buffers
  // go to the next call's inputs and outputs one for one (the device hands
  // out the buffer of a size released last first): the compiled code sees
  // the same addresses on every call, which its CUDA graphs need.
  for (auto it = outputBuffers.rbegin(); it != outputBuffers.rend(); ++it)
    *it = DeviceBuffer();
  for (auto it = inputBuffers.rbegin(); it != inputBuffers.rend(); ++it)
    *it = DeviceBuffer();
  return true;
}

//===----------------------------------------------------------------------===//
// Training
//===----------------------------------------------------------------------===//

namespace {

/// `rows` x `cols` elements of `size` bytes, transposed.
std::vector<uint8_t> transposeBytes(const std::vector<uint8_t> &in,
                                    int64_t rows, int64_t cols, size_t size) {
  std::vector<uint8_t> out(in.size());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      std::memcpy(&out[(j * rows + i) * size], &in[(i * cols + j) * size],
                  size);
  return out;
}

/// `text` as a JSON string literal.
std::string jsonQuote(const std::string &text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

/// Creates the folder `dir` unless it exists.
bool makeFolder(const std::string &dir, std::string &error) {
  struct stat status;
  if (stat(dir.c_str(), &status) == 0) {
    if (S_ISDIR(status.st_mode))
      return true;
    error = "'" + dir + "' exists and is not a folder";
    return false;
  }
  if (mkdir(dir.c_str(), 0777) != 0) {
    error = "cannot create '" + dir + "': " + std::strerror(errno);
    return false;
  }
  return true;
}

/// Removes the folder `dir` and the plain files in it.
void removeFolder(const std::string &dir) {
  if (DIR *handle = opendir(dir.c_str())) {
    while (dirent *entry = readdir(handle))
      if (std::strcmp(entry->d_name, ".") && std::strcmp(entry->d_name, ".."))
        unlink(joinPath(dir, entry->d_name).c_str());
    closedir(handle);
  }
  rmdir(dir.c_str());
}

bool copyFile(const std::string &from, const std::string &to,
              std::string &error) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  if (!in || !out || !(out << in.rdbuf()) || !out.flush()) {
    error = "cannot copy '" + from + "' to '" + to + "'";
    return false;
  }
  return true;
}

/// Host buffers for the outputs of a train or eval step, whose first
/// output is the f32 or f64 loss.
struct HostOutputs {
  /// Host memory for every output without a `direct` device buffer.
  explicit HostOutputs(const std::vector<TensorSpec> &specs,
                       const std::vector<void *> &direct = {})
      : specs(specs) {
    for (size_t i = 0; i < specs.size(); ++i) {
      bool onDevice = i < direct.size() && direct[i];
      data.emplace_back(onDevice ? 0 : specs[i].numBytes());
      pointers.push_back(onDevice ? nullptr : data.back().data());
    }
  }
  double loss() const {
    return specs[0].dtype == DType::F64
               ? *reinterpret_cast<const double *>(data[0].data())
               : *reinterpret_cast<const float *>(data[0].data());
  }
  const std::vector<TensorSpec> &specs;
  std::vector<std::vector<uint8_t>> data;
  std::vector<void *> pointers;
};

constexpr const char *kCheckpointFile = "checkpoint.json";
constexpr const char *kOptimizerFile = "optimizer.safetensors";

} // namespace

std::string Model::hyperparameters() const {
  const TrainSpec &train = *info.train;
  std::ostringstream out;
  out << train.optimizer;
  for (const auto &[name, value] : train.optimizerOptions)
    out << " " << name << "=" << value;
  if (train.dropout > 0)
    out << " lora_dropout=" << train.dropout;
  return out.str();
}

uint64_t Model::dropoutSeedOfStep(uint64_t seed, int64_t step) {
  uint64_t z = seed + static_cast<uint64_t>(step) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

bool Model::prepareTraining(std::string &error) {
  const TrainSpec &train = *info.train;
  auto findInput = [&](const std::string &name) -> int64_t {
    for (size_t i = 0; i < inputSpecs.size(); ++i)
      if (inputSpecs[i].name == name)
        return static_cast<int64_t>(i);
    return -1;
  };
  // The inputs the model fills itself: a scalar of `dtype` named `name`.
  auto findScalar = [&](const char *key, const std::string &name, DType dtype,
                        int64_t &index) {
    index = findInput(name);
    if (index >= 0 && inputSpecs[index].dtype == dtype &&
        inputSpecs[index].shape.empty())
      return true;
    error = std::string("train.") + key + " '" + name + "' is not an " +
            dtypeName(dtype) + " scalar input of the function";
    return false;
  };
  if (!findScalar("lr_input", train.lrInput, DType::F64, lrInput) ||
      (!train.stepInput.empty() &&
       !findScalar("step_input", train.stepInput, DType::I64, stepInput)) ||
      (!train.dropoutSeedInput.empty() &&
       !findScalar("dropout.seed_input", train.dropoutSeedInput, DType::I64,
                   dropoutSeedInput)))
    return false;
  dropoutSeed = train.dropoutSeed;
  if (train.numClasses > 0) {
    labelsInput = findInput("labels");
    if (labelsInput < 0 || inputSpecs[labelsInput].dtype != DType::I64) {
      error = "the " + train.loss + " loss has no i64 'labels' input";
      return false;
    }
  }
  if (info.outputs.empty() || info.outputs[0].numBytes() == 0 ||
      (info.outputs[0].dtype != DType::F32 &&
       info.outputs[0].dtype != DType::F64)) {
    error = "the first output of a train step must be the f32 or f64 loss";
    return false;
  }
  if (!train.evalFunction.empty()) {
    std::vector<TensorSpec> specs;
    for (const std::string &name : train.evalArguments) {
      int64_t index = findArgument(name);
      if (index < 0) {
        error = "train.eval.arguments names '" + name +
                "', which is not an argument of '" + info.function + "'";
        return false;
      }
      evalArguments.push_back(static_cast<size_t>(index));
      specs.push_back(info.arguments[index].tensor);
    }
    if (train.evalOutputs.empty() ||
        (train.evalOutputs[0].dtype != DType::F32 &&
         train.evalOutputs[0].dtype != DType::F64) ||
        !train.evalOutputs[0].shape.empty()) {
      error = "the first output of the eval step must be the f32 or f64 loss";
      return false;
    }
    evalFunction = device->loadFunction(joinPath(directory, info.library),
                                        train.evalFunction, specs,
                                        train.evalOutputs, error);
    if (!evalFunction)
      return false;
    const char *compiled = evalFunction->librarySignature();
    if (!compiled || formatSignature(specs, train.evalOutputs) != compiled) {
      error = "train.eval does not match '" + train.evalFunction +
              "' in the library";
      return false;
    }
  }
  // Every parameter and state tensor has an output of the same name.
  for (size_t i = 0; i < info.arguments.size(); ++i) {
    const ArgumentSpec &argument = info.arguments[i];
    if (argument.kind != ArgumentKind::LoraA &&
        argument.kind != ArgumentKind::LoraB &&
        argument.kind != ArgumentKind::State)
      continue;
    size_t j = 1;
    while (j < info.outputs.size() &&
           info.outputs[j].name != argument.tensor.name)
      ++j;
    if (j == info.outputs.size() ||
        info.outputs[j].dtype != argument.tensor.dtype ||
        info.outputs[j].shape != argument.tensor.shape) {
      error = "the train step returns no new value of '" +
              argument.tensor.name +
              "' (an output of the same name, dtype "
              "and shape)";
      return false;
    }
    updates.push_back({j, i});
  }
  return true;
}

bool Model::checkLabels(const void *labels, std::string &error) const {
  const TrainSpec &train = *info.train;
  const TensorSpec &spec = inputSpecs[labelsInput];
  const auto *values = static_cast<const int64_t *>(labels);
  for (int64_t i = 0, e = spec.numBytes() / sizeof(int64_t); i < e; ++i)
    if (values[i] != train.ignoreIndex &&
        (values[i] < 0 || values[i] >= train.numClasses)) {
      error = "labels[" + std::to_string(i) +
              "] = " + std::to_string(values[i]) + " is not a class in [0, " +
              std::to_string(train.numClasses) + ") nor the ignore index " +
              std::to_string(train.ignoreIndex);
      return false;
    }
  return true;
}

bool Model::trainStep(const void *const *inputs, double lr, double &loss,
                      std::string &error) {
  if (!isTraining()) {
    error = "the model in '" + directory +
            "' is not a train step; compile it with lora-compile "
            "--mode=train";
    return false;
  }
  if (!inputs && !inputSpecs.empty()) {
    error = "the input array is null";
    return false;
  }
  if (!std::isfinite(lr)) {
    error = "the learning rate is not finite";
    return false;
  }
  std::vector<const void *> all(inputs, inputs + inputSpecs.size());
  int64_t step = stepCount + 1;
  all[lrInput] = &lr;
  if (stepInput >= 0)
    all[stepInput] = &step;
  uint64_t stepSeed = dropoutSeedOfStep(dropoutSeed, step);
  if (dropoutSeedInput >= 0)
    all[dropoutSeedInput] = &stepSeed;
  if (labelsInput >= 0 && all[labelsInput] &&
      !checkLabels(all[labelsInput], error))
    return false;
  // The new parameters and state go straight into new device buffers (no
  // round trip through the host), which replace the old ones once the step
  // has run: a failed step leaves those of the previous one.
  std::vector<DeviceBuffer> staged(updates.size());
  std::vector<void *> direct(info.outputs.size(), nullptr);
  for (size_t u = 0; u < updates.size(); ++u) {
    size_t output = updates[u].first;
    if (!DeviceBuffer::allocate(*device, info.outputs[output].numBytes(),
                                staged[u], error))
      return false;
    direct[output] = staged[u].data();
  }
  HostOutputs results(info.outputs, direct);
  if (!call(*function, allArguments(), info.outputs, all.data(),
            results.pointers.data(), error, direct))
    return false;
  // Last staged, first released: the next step stages its updates in the
  // buffers this one read, update by update (see Model::call).
  for (size_t u = updates.size(); u-- > 0;)
    parameters[updates[u].second] = std::move(staged[u]);
  loss = results.loss();
  stepCount = step;
  return true;
}

bool Model::evalStep(const void *const *inputs, double &loss,
                     std::string &error) {
  if (!evalFunction) {
    error = "the model in '" + directory + "' has no eval step" +
            (isTraining() ? "" : "; compile it with lora-compile --mode=train");
    return false;
  }
  if (!inputs && !inputSpecs.empty()) {
    error = "the input array is null";
    return false;
  }
  if (labelsInput >= 0 && inputs[labelsInput] &&
      !checkLabels(inputs[labelsInput], error))
    return false;
  const std::vector<TensorSpec> &outputSpecs = info.train->evalOutputs;
  HostOutputs results(outputSpecs);
  if (!call(*evalFunction, evalArguments, outputSpecs, inputs,
            results.pointers.data(), error))
    return false;
  loss = results.loss();
  return true;
}

bool Model::saveAdapter(const std::string &dir, std::string &error) {
  if (!info.hasLora || info.merged || info.adapter.empty()) {
    error = "the model in '" + directory + "' has no LoRA parameters to save";
    return false;
  }
  // Host copies of every parameter, transposed to PEFT's [r, K] and [N, r].
  std::vector<std::vector<uint8_t>> data;
  std::vector<SafetensorsEntry> entries;
  data.reserve(info.arguments.size());
  for (size_t i = 0; i < info.arguments.size(); ++i) {
    const ArgumentSpec &argument = info.arguments[i];
    if (argument.kind != ArgumentKind::LoraA &&
        argument.kind != ArgumentKind::LoraB)
      continue;
    const TensorSpec &spec = argument.tensor;
    std::vector<uint8_t> bytes(spec.numBytes());
    if (!bytes.empty() && !device->download(bytes.data(), parameters[i].data(),
                                            bytes.size(), error))
      return false;
    data.push_back(transposeBytes(bytes, spec.shape[0], spec.shape[1],
                                  dtypeSize(spec.dtype)));
    entries.push_back({spec.name,
                       spec.dtype,
                       {spec.shape[1], spec.shape[0]},
                       data.back().data(),
                       data.back().size()});
  }
  if (!makeFolder(dir, error) ||
      !copyFile(
          joinPath(joinPath(directory, info.adapter), "adapter_config.json"),
          joinPath(dir, "adapter_config.json"), error))
    return false;
  return writeSafetensors(joinPath(dir, "adapter_model.safetensors"), entries,
                          {}, error);
}

bool Model::saveCheckpoint(const std::string &dir, std::string &error) {
  if (!isTraining()) {
    error = "the model in '" + directory + "' is not a train step";
    return false;
  }
  // Sibling names of the folder itself, whatever slashes `dir` ends with.
  std::string folder = dir;
  while (folder.size() > 1 && folder.back() == '/')
    folder.pop_back();
  std::string staging = folder + ".saving";
  removeFolder(staging);
  auto fail = [&]() {
    removeFolder(staging);
    return false;
  };
  if (!saveAdapter(staging, error))
    return fail();
  std::vector<std::vector<uint8_t>> data;
  std::vector<SafetensorsEntry> entries;
  data.reserve(info.arguments.size());
  for (size_t i = 0; i < info.arguments.size(); ++i) {
    const ArgumentSpec &argument = info.arguments[i];
    if (argument.kind != ArgumentKind::State)
      continue;
    data.emplace_back(argument.tensor.numBytes());
    if (!data.back().empty() &&
        !device->download(data.back().data(), parameters[i].data(),
                          data.back().size(), error))
      return fail();
    entries.push_back({argument.tensor.name, argument.tensor.dtype,
                       argument.tensor.shape, data.back().data(),
                       data.back().size()});
  }
  if (!writeSafetensors(joinPath(staging, kOptimizerFile), entries, {}, error))
    return fail();
  {
    std::ofstream out(joinPath(staging, kCheckpointFile), std::ios::trunc);
    out << "{\"format\": \"lora-opt-checkpoint\", \"signature\": "
        << jsonQuote(info.signature())
        << ", \"optimizer\": " << jsonQuote(info.train->optimizer)
        << ", \"step\": " << stepCount
        << ", \"hyperparameters\": " << jsonQuote(hyperparameters());
    // A decimal string: JSON numbers are doubles, seeds 64 bits.
    if (dropoutSeedInput >= 0)
      out << ", \"dropout_seed\": \"" << dropoutSeed << "\"";
    out << "}\n";
    if (!out.flush()) {
      error = "cannot write '" + joinPath(staging, kCheckpointFile) + "'";
      return fail();
    }
  }
  // Swap the new checkpoint in; the old one goes only after that worked.
  std::string old = folder + ".old";
  removeFolder(old);
  struct stat status;
  bool hadOld = stat(folder.c_str(), &status) == 0;
  if (hadOld && rename(folder.c_str(), old.c_str()) != 0) {
    error = "cannot replace '" + folder + "': " + std::strerror(errno);
    return fail();
  }
  if (rename(staging.c_str(), folder.c_str()) != 0) {
    error = "cannot write '" + folder + "': " + std::strerror(errno);
    if (hadOld && rename(old.c_str(), folder.c_str()) != 0)
      error += "; the previous checkpoint is in '" + old + "'";
    return fail();
  }
  removeFolder(old);
  return true;
}

bool Model::loadCheckpoint(const std::string &dir, std::string &error) {
  if (!isTraining()) {
    error = "the model in '" + directory + "' is not a train step";
    return false;
  }
  std::string metaPath = joinPath(dir, kCheckpointFile);
  json::Value meta;
  if (!json::parseFile(metaPath, meta, error))
    return false;
  const json::Value *signature = meta.get("signature");
  const json::Value *step = meta.get("step");
  if (!signature || !signature->getString() || !step || !step->getNumber() ||
      *step->getNumber() < 0 ||
      *step->getNumber() != std::floor(*step->getNumber())) {
    error = "'" + metaPath + "' is not a lora-opt checkpoint";
    return false;
  }
  if (*signature->getString() != info.signature()) {
    error = "'" + dir +
            "' is a checkpoint of another model: it was saved "
            "for `" +
            *signature->getString() + "`, the model in '" + directory +
            "' is `" + info.signature() + "`";
    return false;
  }
  // The state only continues the same optimizer: torch would restore the
  // saved hyper-parameters, a compiled step cannot.
  if (const json::Value *saved = meta.get("hyperparameters");
      saved && saved->getString() && *saved->getString() != hyperparameters()) {
    error = "'" + dir + "' was saved by a train step with " +
            *saved->getString() + "; the model in '" + directory + "' has " +
            hyperparameters();
    return false;
  }
  // Checkpoints of steps without dropout have no seed; one with dropout
  // has it as a decimal string.
  std::optional<uint64_t> savedSeed;
  if (dropoutSeedInput >= 0) {
    const json::Value *seed = meta.get("dropout_seed");
    const std::string *text = seed ? seed->getString() : nullptr;
    char *end = nullptr;
    errno = 0;
    unsigned long long value =
        text && !text->empty() && std::isdigit((*text)[0])
            ? std::strtoull(text->c_str(), &end, 10)
            : 0;
    if (!end || *end || errno) {
      error = "'" + metaPath + "' has no dropout_seed (a decimal string)";
      return false;
    }
    savedSeed = value;
  }
  auto optimizer = SafetensorsFile::open(joinPath(dir, kOptimizerFile), error);
  if (!optimizer)
    return false;
  std::vector<std::pair<size_t, const SafetensorsTensor *>> states;
  for (size_t i = 0; i < info.arguments.size(); ++i) {
    const ArgumentSpec &argument = info.arguments[i];
    if (argument.kind != ArgumentKind::State)
      continue;
    const SafetensorsTensor *tensor = optimizer->find(argument.tensor.name);
    if (!tensor || tensor->shape != argument.tensor.shape ||
        tensor->dtype != safetensorsDTypeName(argument.tensor.dtype) ||
        tensor->numBytes != argument.tensor.numBytes()) {
      error = "'" + optimizer->path() + "' has no " +
              formatTensorType(argument.tensor.dtype, argument.tensor.shape) +
              " tensor '" + argument.tensor.name + "'";
      return false;
    }
    states.push_back({i, tensor});
  }
  if (!setAdapter(dir, error))
    return false;
  for (auto [index, tensor] : states)
    if (tensor->numBytes &&
        !device->upload(parameters[index].data(), tensor->data,
                        tensor->numBytes, error))
      return false;
  stepCount = static_cast<int64_t>(*step->getNumber());
  if (savedSeed)
    dropoutSeed = *savedSeed;
  return true;
}
