//===- Peft.h - PEFT LoRA adapters: config, module selection, I/O -*- C++
//-*-===//
//
// A PEFT LoRA adapter is a directory with two files:
//
//   adapter_config.json        LoraConfig (r, lora_alpha, target_modules, ...)
//   adapter_model.safetensors  base_model.model.<module>.lora_A.weight  [r, K]
//                              base_model.model.<module>.lora_B.weight  [N, r]
//
// lora_A and lora_B are always stored as torch nn.Linear weights (out x in),
// so for a layer with K inputs and N outputs the LoRA update is
// y += s * x * A^T * B^T with A = lora_A.weight, B = lora_B.weight. In the
// ONNX orientation of ARCHITECTURE.md (y = x*W + s*(x*A)*B, A: [K, r],
// B: [r, N]) A and B are the transposes of what the file holds.
//
// Module selection follows peft 0.17.1 (tuners_utils.check_target_module_exists
// and utils.other.get_pattern_key). PEFT's patterns are Python `re` regexes;
// we evaluate them with std::regex (ECMAScript), which agrees with Python on
// the usual constructs (., *, +, ?, |, groups, (?:...), classes, \d, \w, \.)
// and reports the rest (named groups (?P<...>), lookbehind, \Z) as an error.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_ADAPTER_PEFT_H
#define LORA_ADAPTER_PEFT_H

#include "lora/Adapter/Safetensors.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace mlir::lora {

/// `target_modules` or `exclude_modules` of a PEFT config, in one of its
/// three forms.
struct PeftModuleSpec {
  enum class Kind {
    /// JSON null: matches nothing. (For target_modules PEFT then picks a
    /// per-architecture default list, which only PEFT knows.)
    None,
    /// A list of names: a module matches when its name equals one of them or
    /// ends with "." followed by one of them.
    Names,
    /// A single string: a regex that must match the whole module name.
    Regex,
  };
  Kind kind = Kind::None;
  /// The names, for Kind::Names.
  std::vector<std::string> names;
  /// The regex, for Kind::Regex.
  std::string regex;

  /// A spec that matches nothing.
  static PeftModuleSpec none() { return {}; }
  /// A list of module names or name suffixes.
  static PeftModuleSpec list(std::vector<std::string> names) {
    return {Kind::Names, std::move(names), {}};
  }
  /// A regex that must match the whole module name.
  static PeftModuleSpec fullMatch(std::string regex) {
    return {Kind::Regex, {}, std::move(regex)};
  }
};

/// The fields of PEFT's LoraConfig (adapter_config.json) that lora-opt uses,
/// under PEFT's names. Fields we cannot honor are rejected when reading.
struct PeftConfig {
  /// `r`: the default rank.
  int64_t r = 8;
  /// `lora_alpha`: the default alpha. PEFT types it int; floats are accepted.
  double loraAlpha = 8;
  /// `target_modules`.
  PeftModuleSpec targetModules;
  /// `exclude_modules`.
  PeftModuleSpec excludeModules;
  /// `rank_pattern`: regex -> rank, in file order (the first match wins).
  std::vector<std::pair<std::string, int64_t>> rankPattern;
  /// `alpha_pattern`: regex -> alpha, in file order (the first match wins).
  std::vector<std::pair<std::string, double>> alphaPattern;
  /// `use_rslora`: scale alpha/sqrt(r) instead of alpha/r.
  bool useRslora = false;
  /// `fan_in_fan_out`: the base layer stores its weight as in x out (GPT-2's
  /// Conv1D). It only changes how PEFT merges A and B into the base weight;
  /// lora_A / lora_B are stored out x in either way.
  bool fanInFanOut = false;
  /// `init_lora_weights`: true, false, or a method name ("gaussian", ...).
  std::variant<bool, std::string> initLoraWeights = true;
  /// `lora_dropout`: kept for round trips; inference ignores it.
  double loraDropout = 0;
  /// `base_model_name_or_path` (empty for null).
  std::string baseModelNameOrPath;
  /// `task_type` (e.g. "CAUSAL_LM"); std::nullopt for null.
  std::optional<std::string> taskType;
};

/// Parses the text of an adapter_config.json. `fileName` is only used in
/// error messages. Fails on peft_type other than "LORA", on mistyped fields,
/// and on settings lora-opt cannot honor: use_dora, lora_bias, use_qalora,
/// bias other than "none", non-empty modules_to_save, layers_to_transform,
/// layers_pattern, layer_replication, target_parameters,
/// trainable_token_indices, and init_lora_weights methods that change the
/// base model (pissa*, olora, corda, loftq).
llvm::Expected<PeftConfig> parsePeftConfig(llvm::StringRef json,
                                           llvm::StringRef fileName);

/// Reads and parses the adapter_config.json at `path`.
llvm::Expected<PeftConfig> readPeftConfig(llvm::StringRef path);

/// Writes `config` as an adapter_config.json that peft's
/// LoraConfig.from_pretrained accepts (keys sorted and indented like PEFT's
/// own files, unused features written as their defaults), via a temporary
/// file renamed over `path`.
llvm::Error writePeftConfig(llvm::StringRef path, const PeftConfig &config);

/// Decides, like PEFT, which modules an adapter applies to and with which
/// rank, alpha and scale.
class ModuleSelector {
public:
  /// Builds a selector; every regex (the regex forms of `targets` and
  /// `exclude`, the keys of both pattern maps) is compiled here, and `rank`,
  /// `alpha` and all pattern values must be > 0. Errors quote the offending
  /// regex or value.
  static llvm::Expected<ModuleSelector>
  create(const PeftModuleSpec &targets, const PeftModuleSpec &exclude,
         int64_t rank, double alpha,
         llvm::ArrayRef<std::pair<std::string, int64_t>> rankPattern,
         llvm::ArrayRef<std::pair<std::string, double>> alphaPattern,
         bool useRslora);

  /// Builds the selector of `config`.
  static llvm::Expected<ModuleSelector> create(const PeftConfig &config);

  ModuleSelector(ModuleSelector &&);
  ModuleSelector &operator=(ModuleSelector &&);
  ~ModuleSelector();

  /// True when `moduleName` (e.g. "model.layers.0.self_attn.q_proj") is
  /// matched by the targets and not by the excludes.
  bool isTargeted(llvm::StringRef moduleName) const;

  /// True when `moduleName` is matched by the excludes.
  bool isExcluded(llvm::StringRef moduleName) const;

  /// The rank of `moduleName`: the value of the first rank_pattern key that
  /// matches it the way PEFT's get_pattern_key does (the key, as a regex,
  /// matches a "."-separated suffix of the name: `(.*\.)?(key)` matches the
  /// whole name), else the default rank.
  int64_t getRank(llvm::StringRef moduleName) const;

  /// The alpha of `moduleName`, chosen from alpha_pattern like getRank().
  double getAlpha(llvm::StringRef moduleName) const;

  /// The LoRA scale of `moduleName`: alpha / r, or alpha / sqrt(r) with
  /// rsLoRA.
  double getScale(llvm::StringRef moduleName) const;

private:
  struct Impl;
  explicit ModuleSelector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

/// Up to `n` of `candidates` closest to `query` by edit distance (closest
/// first; ties in candidate order), for "did you mean" hints in errors.
std::vector<std::string> closestNames(llvm::StringRef query,
                                      llvm::ArrayRef<std::string> candidates,
                                      unsigned n);

/// The LoRA weights of one adapted layer with K inputs and N outputs, as PEFT
/// stores them (torch out x in orientation).
struct PeftAdapterModule {
  /// Module name without the "base_model.model." prefix, e.g.
  /// "model.layers.0.self_attn.q_proj".
  std::string name;
  int64_t rank = 0;
  double alpha = 0;
  /// alpha / rank, or alpha / sqrt(rank) with rsLoRA.
  double scale = 0;
  /// K: input features of the layer.
  int64_t inFeatures = 0;
  /// N: output features of the layer.
  int64_t outFeatures = 0;
  /// lora_A.weight: [rank, K] row-major.
  std::vector<float> loraA;
  /// lora_B.weight: [N, rank] row-major.
  std::vector<float> loraB;

  /// A in ONNX orientation: [K, rank] row-major, the transpose of
  /// lora_A.weight, so that the update is x * onnxA() * onnxB(). This holds
  /// for nn.Linear and GPT-2's Conv1D alike: PEFT's lora_A / lora_B are
  /// nn.Linear in both cases (fan_in_fan_out only changes merging).
  std::vector<float> onnxA() const;

  /// B in ONNX orientation: [rank, N] row-major, the transpose of
  /// lora_B.weight (see onnxA()).
  std::vector<float> onnxB() const;
};

/// A loaded PEFT LoRA adapter.
struct PeftAdapter {
  PeftConfig config;
  /// One entry per adapted module, sorted by name.
  std::vector<PeftAdapterModule> modules;

  /// The module called `name` (without "base_model.model."), or nullptr.
  const PeftAdapterModule *lookup(llvm::StringRef name) const;
};

/// Loads `dir`/adapter_config.json and `dir`/adapter_model.safetensors.
/// Tensor keys are `base_model.model.<module>.lora_{A,B}[.<adapter>].weight`
/// (one adapter name at most); any other key is an error that lists it. Each
/// module needs both A ([r, K]) and B ([N, r]) in F32, F16 or BF16, with r
/// equal to the config's rank for that module (rank_pattern included), and
/// must be selected by the config's target_modules / exclude_modules.
llvm::Expected<PeftAdapter> loadPeftAdapter(llvm::StringRef dir);

/// The weights of one module to save, in ONNX orientation.
struct PeftAdapterModuleRef {
  /// Module name without "base_model.model.".
  llvm::StringRef name;
  /// K.
  int64_t inFeatures;
  /// N.
  int64_t outFeatures;
  int64_t rank;
  /// A: [K, rank] row-major.
  llvm::ArrayRef<float> onnxA;
  /// B: [rank, N] row-major.
  llvm::ArrayRef<float> onnxB;
};

/// Saves an adapter that peft's PeftModel.from_pretrained loads: creates
/// `dir` if needed and writes adapter_model.safetensors (A and B transposed
/// back to lora_A.weight [r, K] / lora_B.weight [N, r], stored as `dtype`:
/// F32, F16 or BF16, metadata {"format": "pt"}) and adapter_config.json.
/// Everything is checked before anything is written (sizes, each module
/// selected by the config with the config's rank), and each file goes
/// through a temporary file renamed into place.
llvm::Error savePeftAdapter(llvm::StringRef dir, const PeftConfig &config,
                            llvm::ArrayRef<PeftAdapterModuleRef> modules,
                            SafetensorsDType dtype = SafetensorsDType::F32);

} // namespace mlir::lora

#endif // LORA_ADAPTER_PEFT_H
