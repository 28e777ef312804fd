//===- LoraSelection.h - which layers get LoRA, with what -------*- C++ -*-===//
//
// The selection options shared by lora-insert and lora-list-targets, with
// PEFT's LoraConfig meaning, and the choice they make on a module.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_PASSES_LORASELECTION_H
#define LORA_PASSES_LORASELECTION_H

#include "LinearLayers.h"

#include "lora/Adapter/Peft.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::lora {

/// The values of LoraSelectionOptions (Passes.td).
struct SelectionOptions {
  std::vector<std::string> targets;
  std::string targetsRegex;
  std::vector<std::string> exclude;
  std::string excludeRegex;
  bool allLinear = false;
  int64_t rank = 8;
  double alpha = 8;
  std::vector<std::string> rankPattern;
  std::vector<std::string> alphaPattern;
  bool rslora = false;
  std::string adapter;

  /// Copies the options of a pass declared with LoraSelectionOptions (the
  /// pass declares SelectionOptions a friend).
  template <typename PassT> static SelectionOptions from(const PassT &pass) {
    SelectionOptions o;
    o.targets.assign(pass.targets.begin(), pass.targets.end());
    o.targetsRegex = pass.targetsRegex;
    o.exclude.assign(pass.exclude.begin(), pass.exclude.end());
    o.excludeRegex = pass.excludeRegex;
    o.allLinear = pass.allLinear;
    o.rank = pass.rank;
    o.alpha = pass.alpha;
    o.rankPattern.assign(pass.rankPattern.begin(), pass.rankPattern.end());
    o.alphaPattern.assign(pass.alphaPattern.begin(), pass.alphaPattern.end());
    o.rslora = pass.rslora;
    o.adapter = pass.adapter;
    return o;
  }
};

/// The LoRA settings of one chosen layer.
struct LayerChoice {
  /// The PEFT module name its parameters get: the adapter's name for it when
  /// an adapter is given (which may be a suffix of the layer's module name),
  /// else the layer's module name.
  std::string module;
  int64_t rank = 0;
  double alpha = 0, scale = 0;
  /// The adapter's weights for it, when an adapter is given.
  const PeftAdapterModule *weights = nullptr;
};

/// The layers of a module and, for each, the choice made (if any).
struct Selection {
  SmallVector<LinearLayer> layers;
  /// Parallel to `layers`.
  SmallVector<std::optional<LayerChoice>> choices;
  /// The adapter the weights come from (owned here).
  std::optional<PeftAdapter> adapter;
  /// One line describing the selection ("targets [q_proj, v_proj]", ...).
  std::string description;
};

/// Chooses the layers of `module` to adapt. Errors (reported on `module`):
/// bad options (regex, rank, alpha, patterns), an adapter that cannot be
/// read or does not fit, a rank above min(K, N), two chosen layers with one
/// module name, and, when `requireMatch`, nothing chosen.
FailureOr<Selection> selectLayers(ModuleOp module,
                                  const SelectionOptions &options,
                                  bool requireMatch);

} // namespace mlir::lora

#endif // LORA_PASSES_LORASELECTION_H
