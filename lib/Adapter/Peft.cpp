//===- Peft.cpp - PEFT LoRA adapters: config, module selection, I/O -------===//
//
// Semantics follow peft 0.17.1:
//   target/exclude matching  tuners/tuners_utils.py check_target_module_exists
//   rank/alpha patterns      utils/other.py get_pattern_key
//   scale                    tuners/lora/layer.py update_layer
//   key names                utils/save_and_load.py get_peft_model_state_dict
//
//===----------------------------------------------------------------------===//

#include "lora/Adapter/Peft.h"

#include "Support.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <regex>

using namespace llvm;
using namespace mlir::lora;

namespace {

constexpr StringLiteral kConfigFileName = "adapter_config.json";
constexpr StringLiteral kWeightsFileName = "adapter_model.safetensors";
constexpr StringLiteral kKeyPrefix = "base_model.model.";

/// The shortest decimal that reads back as `value`, written so that Python
/// reads a float ("0.0", not "0").
std::string formatDouble(double value) {
  char buffer[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value)
      break;
  }
  std::string text = buffer;
  if (text.find_first_of(".en") == std::string::npos)
    text += ".0";
  return text;
}

std::string formatNumber(int64_t value) { return std::to_string(value); }
std::string formatNumber(double value) { return formatDouble(value); }

//===----------------------------------------------------------------------===//
// Regexes
//===----------------------------------------------------------------------===//

/// Compiles `source` as an ECMAScript regex. std::regex reports a bad pattern
/// only by throwing, so this file is built with exceptions enabled.
Expected<std::regex> compileRegex(const Twine &what, StringRef pattern,
                                  const std::string &source) {
  try {
    return std::regex(source, std::regex::ECMAScript);
  } catch (const std::regex_error &error) {
    return createStringError(what + " regex '" + pattern +
                             "' does not compile: " + error.what());
  }
}

bool fullMatch(const std::regex &regex, StringRef text) {
  return std::regex_match(text.begin(), text.end(), regex);
}

/// get_pattern_key matches `re.match(rf"(.*\.)?({key})$", name)`: the key
/// must match a "."-separated suffix of the name.
std::string getPatternKeySource(StringRef key) {
  return ("(.*\\.)?(" + key + ")").str();
}

/// A compiled target_modules / exclude_modules.
struct ModuleMatcher {
  PeftModuleSpec::Kind kind = PeftModuleSpec::Kind::None;
  std::vector<std::string> names;
  std::optional<std::regex> regex;

  static Expected<ModuleMatcher> create(const PeftModuleSpec &spec,
                                        StringRef what) {
    ModuleMatcher matcher;
    matcher.kind = spec.kind;
    matcher.names = spec.names;
    if (spec.kind == PeftModuleSpec::Kind::Regex) {
      Expected<std::regex> regex = compileRegex(what, spec.regex, spec.regex);
      if (!regex)
        return regex.takeError();
      matcher.regex = std::move(*regex);
    }
    return matcher;
  }

  bool matches(StringRef name) const {
    switch (kind) {
    case PeftModuleSpec::Kind::None:
      return false;
    case PeftModuleSpec::Kind::Names:
      return any_of(names, [&](const std::string &suffix) {
        return name == suffix ||
               (name.ends_with(suffix) && name.size() > suffix.size() &&
                name[name.size() - suffix.size() - 1] == '.');
      });
    case PeftModuleSpec::Kind::Regex:
      return fullMatch(*regex, name);
    }
    llvm_unreachable("unknown PeftModuleSpec::Kind");
  }
};

template <typename T>
Expected<std::vector<std::pair<std::regex, T>>>
compilePatterns(ArrayRef<std::pair<std::string, T>> patterns, StringRef what) {
  std::vector<std::pair<std::regex, T>> compiled;
  for (const auto &[key, value] : patterns) {
    if (!(value > 0) || !std::isfinite(static_cast<double>(value)))
      return createStringError(what + " value for '" + key + "' is " +
                               formatNumber(value) + "; it must be > 0");
    Expected<std::regex> regex =
        compileRegex(what + " key", key, getPatternKeySource(key));
    if (!regex)
      return regex.takeError();
    compiled.emplace_back(std::move(*regex), value);
  }
  return compiled;
}

/// "'a', 'b'" (at most `limit` items, then "and N more").
std::string quoteList(ArrayRef<std::string> items, size_t limit = 8) {
  std::string text;
  for (auto [i, item] : enumerate(items)) {
    if (i == limit) {
      text += ", and " + std::to_string(items.size() - limit) + " more";
      break;
    }
    text += (i ? ", '" : "'") + item + "'";
  }
  return text;
}

std::string describeSpec(const PeftModuleSpec &spec) {
  switch (spec.kind) {
  case PeftModuleSpec::Kind::None:
    return "null";
  case PeftModuleSpec::Kind::Names:
    return "[" + quoteList(spec.names) + "]";
  case PeftModuleSpec::Kind::Regex:
    return "regex '" + spec.regex + "'";
  }
  llvm_unreachable("unknown PeftModuleSpec::Kind");
}

//===----------------------------------------------------------------------===//
// adapter_config.json
//===----------------------------------------------------------------------===//

/// Keys of the object under top-level key `key` of `text`, in file order.
/// llvm::json::Object does not keep the order, but PEFT takes the first
/// matching rank_pattern / alpha_pattern key in dict order, which is file
/// order. `text` must be valid JSON (parsed before).
std::vector<std::string> getNestedKeyOrder(StringRef text, StringRef key) {
  std::vector<std::string> keys;
  int depth = 0;
  bool valueIsTarget = false; // The next top-level value is under `key`.
  bool inTarget = false;
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    if (c == '"') {
      size_t begin = i++;
      while (i < text.size() && text[i] != '"')
        i += text[i] == '\\' ? 2 : 1;
      StringRef token = text.slice(begin, ++i);
      size_t next = text.find_first_not_of(" \t\r\n", i);
      if (next == StringRef::npos || text[next] != ':')
        continue; // A value, not a key.
      // Let the JSON parser undo escapes.
      Expected<json::Value> decoded = json::parse(token);
      if (!decoded) {
        consumeError(decoded.takeError());
        continue;
      }
      std::optional<StringRef> name = decoded->getAsString();
      if (depth == 1)
        valueIsTarget = name && *name == key;
      else if (depth == 2 && inTarget && name)
        keys.push_back(name->str());
      continue;
    }
    if (c == '{' || c == '[') {
      ++depth;
      if (depth == 2)
        inTarget = valueIsTarget && c == '{';
      valueIsTarget = false;
    } else if (c == '}' || c == ']') {
      if (depth == 2)
        inTarget = false;
      --depth;
    }
    ++i;
  }
  return keys;
}

/// Reads one adapter_config.json; errors are prefixed with the file name.
class ConfigParser {
public:
  ConfigParser(StringRef text, StringRef fileName)
      : text(text), fileName(fileName) {}

  Expected<PeftConfig> parse() {
    Expected<json::Value> root = json::parse(text);
    if (!root)
      return error("is not valid JSON: " + toString(root.takeError()));
    object = root->getAsObject();
    if (!object)
      return error("is not a JSON object");

    std::optional<StringRef> peftType = object->getString("peft_type");
    if (!peftType)
      return error("has no string \"peft_type\"");
    if (*peftType != "LORA")
      return error("has peft_type '" + *peftType +
                   "'; only LORA adapters are supported");

    PeftConfig config;
    if (Error err = getInteger("r", config.r))
      return std::move(err);
    if (Error err = getNumber("lora_alpha", config.loraAlpha))
      return std::move(err);
    if (Error err = getModuleSpec("target_modules", config.targetModules))
      return std::move(err);
    if (Error err = getModuleSpec("exclude_modules", config.excludeModules))
      return std::move(err);
    if (Error err = getPatterns("rank_pattern", config.rankPattern))
      return std::move(err);
    if (Error err = getPatterns("alpha_pattern", config.alphaPattern))
      return std::move(err);
    if (Error err = getBool("use_rslora", config.useRslora))
      return std::move(err);
    if (Error err = getBool("fan_in_fan_out", config.fanInFanOut))
      return std::move(err);
    if (Error err = getNumber("lora_dropout", config.loraDropout))
      return std::move(err);
    if (Error err = getOptionalString("base_model_name_or_path",
                                      config.baseModelNameOrPath))
      return std::move(err);
    std::string taskType;
    if (Error err = getOptionalString("task_type", taskType))
      return std::move(err);
    if (const json::Value *value = object->get("task_type");
        value && !value->getAsNull())
      config.taskType = taskType;
    if (Error err = getInitLoraWeights(config.initLoraWeights))
      return std::move(err);
    if (Error err = rejectUnsupported())
      return std::move(err);

    // Compile the regexes and check the values now, so a bad config fails
    // when it is read, with the file named.
    Expected<ModuleSelector> selector = ModuleSelector::create(config);
    if (!selector)
      return error(toString(selector.takeError()), /*colon=*/true);
    return config;
  }

private:
  Error error(const Twine &message, bool colon = false) const {
    return createStringError(fileName + (colon ? ": " : " ") + message);
  }

  Error mistyped(StringRef key, StringRef expected) const {
    return error("has \"" + key + "\" that is not " + expected);
  }

  /// The value of `key`, or nullptr when it is absent (the caller then
  /// keeps PEFT's default).
  const json::Value *get(StringRef key) const { return object->get(key); }

  Error getInteger(StringRef key, int64_t &out) const {
    const json::Value *value = get(key);
    if (!value)
      return Error::success();
    std::optional<int64_t> integer = value->getAsInteger();
    if (!integer)
      return mistyped(key, "an integer");
    out = *integer;
    return Error::success();
  }

  Error getNumber(StringRef key, double &out) const {
    const json::Value *value = get(key);
    if (!value)
      return Error::success();
    std::optional<double> number = value->getAsNumber();
    if (!number)
      return mistyped(key, "a number");
    out = *number;
    return Error::success();
  }

  Error getBool(StringRef key, bool &out) const {
    const json::Value *value = get(key);
    if (!value)
      return Error::success();
    std::optional<bool> flag = value->getAsBoolean();
    if (!flag)
      return mistyped(key, "true or false");
    out = *flag;
    return Error::success();
  }

  Error getOptionalString(StringRef key, std::string &out) const {
    const json::Value *value = get(key);
    if (!value || value->getAsNull())
      return Error::success();
    std::optional<StringRef> string = value->getAsString();
    if (!string)
      return mistyped(key, "a string or null");
    out = string->str();
    return Error::success();
  }

  Error getModuleSpec(StringRef key, PeftModuleSpec &out) const {
    const json::Value *value = get(key);
    if (!value || value->getAsNull())
      return Error::success();
    if (std::optional<StringRef> regex = value->getAsString()) {
      out = PeftModuleSpec::fullMatch(regex->str());
      return Error::success();
    }
    const json::Array *array = value->getAsArray();
    if (!array)
      return mistyped(key, "a list of strings, a string or null");
    std::vector<std::string> names;
    for (const json::Value &item : *array) {
      std::optional<StringRef> name = item.getAsString();
      if (!name)
        return mistyped(key, "a list of strings, a string or null");
      names.push_back(name->str());
    }
    out = PeftModuleSpec::list(std::move(names));
    return Error::success();
  }

  template <typename T>
  Error getPatterns(StringRef key,
                    std::vector<std::pair<std::string, T>> &out) const {
    const json::Value *value = get(key);
    if (!value || value->getAsNull())
      return Error::success();
    const json::Object *patterns = value->getAsObject();
    if (!patterns)
      return mistyped(key, "an object");
    std::vector<std::string> order = getNestedKeyOrder(text, key);
    // Keys the scan missed (it should miss none) go last, sorted.
    std::vector<std::string> rest;
    for (const auto &entry : *patterns)
      if (!is_contained(order, entry.first.str()))
        rest.push_back(entry.first.str());
    llvm::sort(rest);
    llvm::append_range(order, rest);
    StringSet<> seen;
    for (const std::string &pattern : order) {
      const json::Value *item = patterns->get(pattern);
      if (!item || !seen.insert(pattern).second)
        continue;
      std::optional<T> number;
      if constexpr (std::is_integral_v<T>)
        number = item->getAsInteger();
      else
        number = item->getAsNumber();
      if (!number)
        return error("has \"" + key + "\" entry '" + pattern +
                     "' that is not " +
                     (std::is_integral_v<T> ? "an integer" : "a number"));
      out.emplace_back(pattern, *number);
    }
    return Error::success();
  }

  Error getInitLoraWeights(std::variant<bool, std::string> &out) const {
    const json::Value *value = get("init_lora_weights");
    if (!value)
      return Error::success();
    if (std::optional<bool> flag = value->getAsBoolean()) {
      out = *flag;
      return Error::success();
    }
    std::optional<StringRef> method = value->getAsString();
    if (!method)
      return mistyped("init_lora_weights", "true, false or a string");
    // These start from a modified base model (residual or quantized); the
    // adapter is only valid against that model, which we do not have.
    if (method->starts_with("pissa") || *method == "olora" ||
        *method == "corda" || *method == "loftq")
      return error("has init_lora_weights '" + *method +
                   "', which modifies the base model; convert the adapter "
                   "to plain LoRA first (PEFT's save_pretrained with "
                   "path_initial_model_for_weight_conversion)");
    out = method->str();
    return Error::success();
  }

  /// True when `key` holds something other than null, false, "" or an empty
  /// list / object.
  bool isSet(StringRef key) const {
    const json::Value *value = get(key);
    if (!value || value->getAsNull())
      return false;
    if (std::optional<bool> flag = value->getAsBoolean())
      return *flag;
    if (std::optional<StringRef> string = value->getAsString())
      return !string->empty();
    if (const json::Array *array = value->getAsArray())
      return !array->empty();
    if (const json::Object *nested = value->getAsObject())
      return !nested->empty();
    return true;
  }

  Error rejectUnsupported() const {
    std::optional<StringRef> bias = object->getString("bias");
    if (get("bias") && !bias)
      return mistyped("bias", "a string");
    if (bias && *bias != "none")
      return error("has bias '" + *bias +
                   "'; only \"none\" is supported (trained biases of the "
                   "base model are not part of a LoRA branch)");
    static const std::pair<StringLiteral, StringLiteral> kUnsupported[] = {
        {"use_dora", "DoRA adapters are not supported"},
        {"lora_bias", "a bias on lora_B is not supported"},
        {"use_qalora", "QA-LoRA adapters are not supported"},
        {"modules_to_save", "fully trained modules (modules_to_save) are "
                            "not supported"},
        {"layers_to_transform", "layer selection by index is not supported; "
                                "use target_modules"},
        {"layers_pattern", "layer selection by index is not supported; use "
                           "target_modules"},
        {"layer_replication", "layer replication is not supported"},
        {"target_parameters", "LoRA on parameters (target_parameters) is "
                              "not supported"},
        {"trainable_token_indices", "trainable tokens are not supported"},
    };
    for (const auto &[key, reason] : kUnsupported)
      if (isSet(key))
        return error("sets \"" + key + "\": " + reason);
    return Error::success();
  }

  StringRef text;
  StringRef fileName;
  const json::Object *object = nullptr;
};

/// lora_alpha is an int in PEFT; keep integral values integers.
void writeAlpha(json::OStream &json, double alpha) {
  if (alpha == std::floor(alpha) && std::abs(alpha) < 0x1p53)
    json.value(static_cast<int64_t>(alpha));
  else
    json.rawValue(formatDouble(alpha));
}

void writeModuleSpec(json::OStream &json, const PeftModuleSpec &spec) {
  switch (spec.kind) {
  case PeftModuleSpec::Kind::None:
    json.value(nullptr);
    return;
  case PeftModuleSpec::Kind::Names:
    json.array([&] {
      for (const std::string &name : spec.names)
        json.value(name);
    });
    return;
  case PeftModuleSpec::Kind::Regex:
    json.value(spec.regex);
    return;
  }
}

//===----------------------------------------------------------------------===//
// Adapter weights
//===----------------------------------------------------------------------===//

/// A tensor key split into its parts:
/// base_model.model.<module>.lora_{A,B}[.<adapter>].weight.
struct LoraKey {
  StringRef module;
  bool isA;
  StringRef adapter; // Empty when the key has no adapter segment.
};

std::optional<LoraKey> parseLoraKey(StringRef key) {
  if (!key.consume_front(kKeyPrefix))
    return std::nullopt;
  for (bool isA : {true, false}) {
    StringRef marker = isA ? ".lora_A." : ".lora_B.";
    size_t pos = key.rfind(marker);
    if (pos == StringRef::npos || pos == 0)
      continue;
    StringRef rest = key.drop_front(pos + marker.size());
    if (!rest.consume_back("weight"))
      return std::nullopt;
    if (!rest.empty() && !rest.consume_back("."))
      return std::nullopt;
    if (rest.contains('.'))
      return std::nullopt;
    return LoraKey{key.take_front(pos), isA, rest};
  }
  return std::nullopt;
}

/// Row-major [rows, cols] -> [cols, rows].
std::vector<float> transpose(ArrayRef<float> matrix, int64_t rows,
                             int64_t cols) {
  std::vector<float> result(matrix.size());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      result[j * rows + i] = matrix[i * cols + j];
  return result;
}

std::string joinPath(StringRef dir, StringRef file) {
  SmallString<256> path(dir);
  sys::path::append(path, file);
  return std::string(path);
}

} // namespace

//===----------------------------------------------------------------------===//
// PeftConfig
//===----------------------------------------------------------------------===//

Expected<PeftConfig> mlir::lora::parsePeftConfig(StringRef json,
                                                 StringRef fileName) {
  return ConfigParser(json, fileName).parse();
}

Expected<PeftConfig> mlir::lora::readPeftConfig(StringRef path) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> buffer =
      MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return createStringError("cannot open '" + path +
                             "': " + buffer.getError().message());
  return parsePeftConfig((*buffer)->getBuffer(), path);
}

Error mlir::lora::writePeftConfig(StringRef path, const PeftConfig &config) {
  // PEFT writes json.dumps(indent=2, sort_keys=True); keys below are in
  // sorted order, except inside the patterns, whose order is meaningful.
  std::string text;
  {
    raw_string_ostream os(text);
    json::OStream json(os, /*IndentSize=*/2);
    json.object([&] {
      json.attributeObject("alpha_pattern", [&] {
        for (const auto &[pattern, alpha] : config.alphaPattern) {
          json.attributeBegin(pattern);
          writeAlpha(json, alpha);
          json.attributeEnd();
        }
      });
      json.attribute("auto_mapping", nullptr);
      if (config.baseModelNameOrPath.empty())
        json.attribute("base_model_name_or_path", nullptr);
      else
        json.attribute("base_model_name_or_path", config.baseModelNameOrPath);
      json.attribute("bias", "none");
      // exclude_modules is recent (peft 0.14); older versions would warn
      // about the key even when it is null.
      if (config.excludeModules.kind != PeftModuleSpec::Kind::None) {
        json.attributeBegin("exclude_modules");
        writeModuleSpec(json, config.excludeModules);
        json.attributeEnd();
      }
      json.attribute("fan_in_fan_out", config.fanInFanOut);
      json.attribute("inference_mode", true);
      if (const bool *flag = std::get_if<bool>(&config.initLoraWeights))
        json.attribute("init_lora_weights", *flag);
      else
        json.attribute("init_lora_weights",
                       std::get<std::string>(config.initLoraWeights));
      json.attribute("layers_pattern", nullptr);
      json.attribute("layers_to_transform", nullptr);
      json.attributeBegin("lora_alpha");
      writeAlpha(json, config.loraAlpha);
      json.attributeEnd();
      json.attributeBegin("lora_dropout");
      json.rawValue(formatDouble(config.loraDropout));
      json.attributeEnd();
      json.attribute("modules_to_save", nullptr);
      json.attribute("peft_type", "LORA");
      json.attribute("r", config.r);
      json.attributeObject("rank_pattern", [&] {
        for (const auto &[pattern, rank] : config.rankPattern)
          json.attribute(pattern, rank);
      });
      json.attribute("revision", nullptr);
      json.attributeBegin("target_modules");
      writeModuleSpec(json, config.targetModules);
      json.attributeEnd();
      if (config.taskType)
        json.attribute("task_type", *config.taskType);
      else
        json.attribute("task_type", nullptr);
      json.attribute("use_dora", false);
      json.attribute("use_rslora", config.useRslora);
    });
  }
  return writeFileAtomically(path, [&](raw_ostream &os) { os << text; });
}

//===----------------------------------------------------------------------===//
// ModuleSelector
//===----------------------------------------------------------------------===//

struct ModuleSelector::Impl {
  ModuleMatcher targets;
  ModuleMatcher exclude;
  int64_t rank;
  double alpha;
  bool useRslora;
  std::vector<std::pair<std::regex, int64_t>> rankPattern;
  std::vector<std::pair<std::regex, double>> alphaPattern;
};

ModuleSelector::ModuleSelector(std::unique_ptr<Impl> impl)
    : impl(std::move(impl)) {}
ModuleSelector::ModuleSelector(ModuleSelector &&) = default;
ModuleSelector &ModuleSelector::operator=(ModuleSelector &&) = default;
ModuleSelector::~ModuleSelector() = default;

Expected<ModuleSelector> ModuleSelector::create(
    const PeftModuleSpec &targets, const PeftModuleSpec &exclude, int64_t rank,
    double alpha, ArrayRef<std::pair<std::string, int64_t>> rankPattern,
    ArrayRef<std::pair<std::string, double>> alphaPattern, bool useRslora) {
  if (rank <= 0)
    return createStringError("r is " + Twine(rank) + "; it must be > 0");
  if (!(alpha > 0) || !std::isfinite(alpha))
    return createStringError("lora_alpha is " + formatDouble(alpha) +
                             "; it must be > 0");
  auto impl = std::make_unique<Impl>();
  impl->rank = rank;
  impl->alpha = alpha;
  impl->useRslora = useRslora;
  Expected<ModuleMatcher> targetMatcher =
      ModuleMatcher::create(targets, "target_modules");
  if (!targetMatcher)
    return targetMatcher.takeError();
  impl->targets = std::move(*targetMatcher);
  Expected<ModuleMatcher> excludeMatcher =
      ModuleMatcher::create(exclude, "exclude_modules");
  if (!excludeMatcher)
    return excludeMatcher.takeError();
  impl->exclude = std::move(*excludeMatcher);
  Expected<std::vector<std::pair<std::regex, int64_t>>> ranks =
      compilePatterns(rankPattern, "rank_pattern");
  if (!ranks)
    return ranks.takeError();
  impl->rankPattern = std::move(*ranks);
  Expected<std::vector<std::pair<std::regex, double>>> alphas =
      compilePatterns(alphaPattern, "alpha_pattern");
  if (!alphas)
    return alphas.takeError();
  impl->alphaPattern = std::move(*alphas);
  return ModuleSelector(std::move(impl));
}

Expected<ModuleSelector> ModuleSelector::create(const PeftConfig &config) {
  return create(config.targetModules, config.excludeModules, config.r,
                config.loraAlpha, config.rankPattern, config.alphaPattern,
                config.useRslora);
}

bool ModuleSelector::isExcluded(StringRef moduleName) const {
  return impl->exclude.matches(moduleName);
}

bool ModuleSelector::isTargeted(StringRef moduleName) const {
  return !isExcluded(moduleName) && impl->targets.matches(moduleName);
}

int64_t ModuleSelector::getRank(StringRef moduleName) const {
  for (const auto &[regex, rank] : impl->rankPattern)
    if (fullMatch(regex, moduleName))
      return rank;
  return impl->rank;
}

double ModuleSelector::getAlpha(StringRef moduleName) const {
  for (const auto &[regex, alpha] : impl->alphaPattern)
    if (fullMatch(regex, moduleName))
      return alpha;
  return impl->alpha;
}

double ModuleSelector::getScale(StringRef moduleName) const {
  double rank = static_cast<double>(getRank(moduleName));
  return getAlpha(moduleName) / (impl->useRslora ? std::sqrt(rank) : rank);
}

std::vector<std::string>
mlir::lora::closestNames(StringRef query, ArrayRef<std::string> candidates,
                         unsigned n) {
  std::vector<std::pair<unsigned, size_t>> ranked;
  for (auto [index, candidate] : enumerate(candidates))
    ranked.emplace_back(query.edit_distance(candidate), index);
  llvm::stable_sort(ranked, [](const auto &lhs, const auto &rhs) {
    return lhs.first < rhs.first;
  });
  std::vector<std::string> names;
  for (const auto &entry : ArrayRef(ranked).take_front(n))
    names.push_back(candidates[entry.second]);
  return names;
}

//===----------------------------------------------------------------------===//
// PeftAdapter
//===----------------------------------------------------------------------===//

std::vector<float> PeftAdapterModule::onnxA() const {
  return transpose(loraA, rank, inFeatures);
}

std::vector<float> PeftAdapterModule::onnxB() const {
  return transpose(loraB, outFeatures, rank);
}

const PeftAdapterModule *PeftAdapter::lookup(StringRef name) const {
  auto it = partition_point(modules, [&](const PeftAdapterModule &module) {
    return StringRef(module.name) < name;
  });
  return it != modules.end() && it->name == name ? &*it : nullptr;
}

Expected<PeftAdapter> mlir::lora::loadPeftAdapter(StringRef dir) {
  std::string configPath = joinPath(dir, kConfigFileName);
  std::string weightsPath = joinPath(dir, kWeightsFileName);
  Expected<PeftConfig> config = readPeftConfig(configPath);
  if (!config)
    return config.takeError();
  if (!sys::fs::exists(weightsPath) &&
      sys::fs::exists(joinPath(dir, "adapter_model.bin")))
    return createStringError(
        "cannot open '" + weightsPath + "': " + dir +
        " holds adapter_model.bin, a pickle; re-save the adapter with "
        "save_pretrained(..., safe_serialization=True)");
  Expected<SafetensorsFile> file = SafetensorsFile::open(weightsPath);
  if (!file)
    return file.takeError();
  Expected<ModuleSelector> selector = ModuleSelector::create(*config);
  if (!selector)
    return selector.takeError();

  auto error = [&](const Twine &message) {
    return createStringError(weightsPath + ": " + message);
  };

  struct ABPair {
    const SafetensorsTensor *a = nullptr;
    const SafetensorsTensor *b = nullptr;
  };
  std::map<std::string, ABPair> pairs;
  std::vector<std::string> unsupported;
  std::optional<std::string> adapterName;
  for (const SafetensorsTensor &tensor : file->getTensors()) {
    std::optional<LoraKey> key = parseLoraKey(tensor.name);
    if (!key) {
      unsupported.push_back(tensor.name);
      continue;
    }
    if (!key->adapter.empty()) {
      if (adapterName && *adapterName != key->adapter)
        return error("holds weights of several adapters ('" + *adapterName +
                     "', '" + key->adapter +
                     "'); save one adapter per directory");
      adapterName = key->adapter.str();
    }
    ABPair &pair = pairs[key->module.str()];
    const SafetensorsTensor *&slot = key->isA ? pair.a : pair.b;
    if (slot)
      return error("module '" + key->module + "' has two " +
                   (key->isA ? "lora_A" : "lora_B") + " tensors: '" +
                   slot->name + "' and '" + tensor.name + "'");
    slot = &tensor;
  }
  if (!unsupported.empty())
    return error("unsupported tensors (lora-opt reads only "
                 "base_model.model.<module>.lora_A/lora_B.weight): " +
                 quoteList(unsupported));
  if (pairs.empty())
    return error("holds no LoRA weights");

  PeftAdapter adapter;
  for (const auto &[name, pair] : pairs) {
    if (!pair.a || !pair.b)
      return error("module '" + name + "' has " +
                   (pair.a ? "lora_A but no lora_B" : "lora_B but no lora_A"));
    const SafetensorsTensor &a = *pair.a, &b = *pair.b;
    if (a.shape.size() != 2 || b.shape.size() != 2)
      return error("module '" + name + "': lora_A has shape " +
                   formatShape(a.shape) + " and lora_B " +
                   formatShape(b.shape) +
                   "; expected 2-D lora_A [r, in] and lora_B [out, r]");
    if (a.shape[0] != b.shape[1])
      return error("module '" + name + "': lora_A " + formatShape(a.shape) +
                   " has rank " + Twine(a.shape[0]) + " but lora_B " +
                   formatShape(b.shape) + " has rank " + Twine(b.shape[1]));
    if (config->targetModules.kind != PeftModuleSpec::Kind::None &&
        !selector->isTargeted(name))
      return error("has weights for module '" + name + "', which " +
                   configPath + " does not select (target_modules " +
                   describeSpec(config->targetModules) + ", exclude_modules " +
                   describeSpec(config->excludeModules) + ")");
    int64_t rank = selector->getRank(name);
    if (a.shape[0] != rank)
      return error("module '" + name + "' has rank " + Twine(a.shape[0]) +
                   " but " + configPath + " gives it rank " + Twine(rank) +
                   " (r / rank_pattern)");

    PeftAdapterModule module;
    module.name = name;
    module.rank = rank;
    module.alpha = selector->getAlpha(name);
    module.scale = selector->getScale(name);
    module.inFeatures = a.shape[1];
    module.outFeatures = b.shape[0];
    Expected<std::vector<float>> aValues = file->readFloat(a);
    if (!aValues)
      return aValues.takeError();
    Expected<std::vector<float>> bValues = file->readFloat(b);
    if (!bValues)
      return bValues.takeError();
    module.loraA = std::move(*aValues);
    module.loraB = std::move(*bValues);
    adapter.modules.push_back(std::move(module));
  }
  adapter.config = std::move(*config);
  return adapter;
}

Error mlir::lora::savePeftAdapter(StringRef dir, const PeftConfig &config,
                                  ArrayRef<PeftAdapterModuleRef> modules,
                                  SafetensorsDType dtype) {
  if (!isSafetensorsFloatDType(dtype))
    return createStringError("cannot save adapter to " + dir + ": dtype " +
                             getSafetensorsDTypeName(dtype) +
                             " is not a float type; supported: F32, F16, "
                             "BF16");
  Expected<ModuleSelector> selector = ModuleSelector::create(config);
  if (!selector)
    return createStringError("cannot save adapter to " + dir + ": " +
                             toString(selector.takeError()));
  std::vector<std::string> keys;
  std::vector<std::array<int64_t, 2>> shapes;
  std::vector<std::vector<float>> values;
  StringSet<> names;
  for (const PeftAdapterModuleRef &module : modules) {
    auto error = [&](const Twine &message) {
      return createStringError("cannot save adapter to " + dir + ": module '" +
                               module.name + "' " + message);
    };
    if (module.name.empty())
      return createStringError("cannot save adapter to " + dir +
                               ": a module has an empty name");
    if (!names.insert(module.name).second)
      return error("appears twice");
    int64_t k = module.inFeatures, n = module.outFeatures, r = module.rank;
    if (k <= 0 || n <= 0 || r <= 0)
      return error("has in/out features " + Twine(k) + "/" + Twine(n) +
                   " and rank " + Twine(r) + "; all must be > 0");
    if (static_cast<int64_t>(module.onnxA.size()) != k * r)
      return error("has " + Twine(module.onnxA.size()) +
                   " values for A but [K, r] = [" + Twine(k) + ", " + Twine(r) +
                   "] needs " + Twine(k * r));
    if (static_cast<int64_t>(module.onnxB.size()) != r * n)
      return error("has " + Twine(module.onnxB.size()) +
                   " values for B but [r, N] = [" + Twine(r) + ", " + Twine(n) +
                   "] needs " + Twine(r * n));
    if (config.targetModules.kind != PeftModuleSpec::Kind::None &&
        !selector->isTargeted(module.name))
      return error("is not selected by the config (target_modules " +
                   describeSpec(config.targetModules) + ", exclude_modules " +
                   describeSpec(config.excludeModules) +
                   "); PEFT would ignore its weights");
    if (selector->getRank(module.name) != r)
      return error("has rank " + Twine(r) + " but the config gives it " +
                   Twine(selector->getRank(module.name)) +
                   " (r / rank_pattern)");
    std::string prefix = (kKeyPrefix + module.name).str();
    keys.push_back(prefix + ".lora_A.weight");
    shapes.push_back({r, k});
    values.push_back(transpose(module.onnxA, k, r));
    keys.push_back(prefix + ".lora_B.weight");
    shapes.push_back({n, r});
    values.push_back(transpose(module.onnxB, r, n));
  }

  std::vector<SafetensorsFloatTensorRef> tensors;
  for (size_t i = 0; i < keys.size(); ++i)
    tensors.push_back({keys[i], shapes[i], values[i]});

  if (std::error_code ec = sys::fs::create_directories(dir))
    return createStringError("cannot create directory '" + dir +
                             "': " + ec.message());
  // Weights first: a directory with a config but no weights would look
  // complete to a reader that only checks the config.
  if (Error err = writeSafetensorsFloat(joinPath(dir, kWeightsFileName),
                                        tensors, dtype, {{"format", "pt"}}))
    return err;
  return writePeftConfig(joinPath(dir, kConfigFileName), config);
}
