//===- LoraSelection.cpp - which layers get LoRA, with what ---------------===//

#include "LoraSelection.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;
using namespace mlir::lora;

/// Parses "regex=value" entries (split at the last '=').
template <typename T>
static LogicalResult
parsePatterns(ModuleOp module, StringRef option, ArrayRef<std::string> entries,
              std::vector<std::pair<std::string, T>> &out) {
  for (StringRef entry : entries) {
    auto [regex, value] = entry.rsplit('=');
    T parsed{};
    bool ok;
    if constexpr (std::is_same_v<T, int64_t>) {
      ok = !value.getAsInteger(10, parsed);
    } else {
      ok = !value.getAsDouble(parsed);
    }
    if (regex.empty() || value.empty() || !ok)
      return module.emitError()
             << option << " entry '" << entry
             << "' is not 'regex=value' with a numeric value";
    if (!(parsed > 0))
      return module.emitError()
             << option << " entry '" << entry << "' must have a value > 0";
    out.emplace_back(regex.str(), parsed);
  }
  return success();
}

static std::string join(ArrayRef<std::string> names) {
  return "[" + llvm::join(names, ", ") + "]";
}

/// The three module names closest to `query`, compared on as many trailing
/// '.'-segments as `query` has (targets match suffixes).
static std::vector<std::string> closestModules(StringRef query,
                                               ArrayRef<std::string> modules) {
  size_t segments = query.count('.') + 1;
  std::vector<std::string> suffixes;
  for (StringRef module : modules) {
    size_t start = module.size();
    for (size_t i = 0; i < segments && start != StringRef::npos; ++i)
      start = start == 0 ? StringRef::npos : module.rfind('.', start - 1);
    suffixes.push_back(
        module.substr(start == StringRef::npos ? 0 : start + 1).str());
  }
  std::vector<std::string> closest;
  for (const std::string &suffix : closestNames(query, suffixes, 3))
    for (auto [module, candidate] : llvm::zip_equal(modules, suffixes))
      if (candidate == suffix && !llvm::is_contained(closest, module) &&
          closest.size() < 3)
        closest.push_back(module);
  return closest;
}

/// Matches the adapter's modules to the layers; every mismatch is reported.
static LogicalResult chooseFromAdapter(ModuleOp module, Selection &selection) {
  const PeftAdapter &adapter = *selection.adapter;
  std::vector<std::string> problems;
  std::vector<std::string> layerNames;
  for (const LinearLayer &layer : selection.layers)
    layerNames.push_back(layer.module);
  for (const PeftAdapterModule &weights : adapter.modules) {
    SmallVector<size_t> matches;
    for (auto [i, layer] : llvm::enumerate(selection.layers))
      if (isModuleSuffix(layer.module, weights.name))
        matches.push_back(i);
    std::string shape = std::to_string(weights.inFeatures) + "x" +
                        std::to_string(weights.outFeatures);
    if (matches.empty()) {
      problems.push_back("module '" + weights.name + "' (K x N = " + shape +
                         ") matches no linear layer; closest: " +
                         join(closestModules(weights.name, layerNames)));
      continue;
    }
    if (matches.size() > 1) {
      std::vector<std::string> names;
      for (size_t i : matches)
        names.push_back(selection.layers[i].module);
      problems.push_back("module '" + weights.name +
                         "' matches several linear layers: " + join(names));
      continue;
    }
    const LinearLayer &layer = selection.layers[matches.front()];
    if (layer.inFeatures != weights.inFeatures ||
        layer.outFeatures != weights.outFeatures) {
      problems.push_back("module '" + weights.name + "' has K x N = " + shape +
                         " but the layer '" + layer.module + "' (node '" +
                         layer.node + "') is " +
                         std::to_string(layer.inFeatures) + "x" +
                         std::to_string(layer.outFeatures));
      continue;
    }
    std::optional<LayerChoice> &choice = selection.choices[matches.front()];
    if (choice) {
      problems.push_back("modules '" + choice->module + "' and '" +
                         weights.name + "' both match the layer '" +
                         layer.module + "'");
      continue;
    }
    choice = LayerChoice{weights.name, weights.rank, weights.alpha,
                         weights.scale, &weights};
  }
  if (adapter.modules.empty())
    problems.push_back("it has no LoRA weights");
  if (problems.empty())
    return success();
  InFlightDiagnostic diag = module.emitError()
                            << "adapter does not fit the model: "
                            << problems.size() << " problem(s)";
  for (const std::string &problem : problems)
    diag.attachNote() << problem;
  return failure();
}

/// Chooses layers from the target/exclude/rank/alpha options.
static LogicalResult chooseFromOptions(ModuleOp module,
                                       const SelectionOptions &options,
                                       bool requireMatch,
                                       Selection &selection) {
  if (!options.targets.empty() && !options.targetsRegex.empty())
    return module.emitError() << "give targets or targets-regex, not both";
  if (!options.exclude.empty() && !options.excludeRegex.empty())
    return module.emitError() << "give exclude or exclude-regex, not both";
  bool anyTarget = !options.targets.empty() || !options.targetsRegex.empty() ||
                   options.allLinear;
  if (!anyTarget && requireMatch)
    return module.emitError()
           << "no layers to adapt: give targets, targets-regex, all-linear "
              "or adapter (lora-list-targets shows the module names)";

  auto spec = [](ArrayRef<std::string> list, StringRef regex) {
    if (!regex.empty())
      return PeftModuleSpec::fullMatch(regex.str());
    if (!list.empty())
      return PeftModuleSpec::list(list.vec());
    return PeftModuleSpec::none();
  };
  // Values are checked here so that errors name our options, not PEFT's
  // config fields.
  if (options.rank <= 0)
    return module.emitError() << "rank must be > 0, got " << options.rank;
  if (!(options.alpha > 0))
    return module.emitError() << "alpha must be > 0, got " << options.alpha;
  std::vector<std::pair<std::string, int64_t>> rankPattern;
  std::vector<std::pair<std::string, double>> alphaPattern;
  if (failed(parsePatterns(module, "rank-pattern", options.rankPattern,
                           rankPattern)) ||
      failed(parsePatterns(module, "alpha-pattern", options.alphaPattern,
                           alphaPattern)))
    return failure();
  llvm::Expected<ModuleSelector> selector = ModuleSelector::create(
      options.allLinear ? PeftModuleSpec::fullMatch(".*")
                        : spec(options.targets, options.targetsRegex),
      spec(options.exclude, options.excludeRegex), options.rank, options.alpha,
      rankPattern, alphaPattern, options.rslora);
  if (!selector)
    return module.emitError() << llvm::toString(selector.takeError());

  for (auto [layer, choice] :
       llvm::zip_equal(selection.layers, selection.choices)) {
    if (!selector->isTargeted(layer.module) ||
        (options.allLinear && layer.outputHead))
      continue;
    choice = LayerChoice{layer.module, selector->getRank(layer.module),
                         selector->getAlpha(layer.module),
                         selector->getScale(layer.module), nullptr};
  }
  if (!requireMatch || llvm::any_of(selection.choices, [](const auto &c) {
        return c.has_value();
      }))
    return success();

  std::vector<std::string> layerNames;
  for (const LinearLayer &layer : selection.layers)
    layerNames.push_back(layer.module);
  InFlightDiagnostic diag = module.emitError()
                            << selection.description << " matched none of the "
                            << selection.layers.size() << " linear layers";
  std::vector<std::string> queries = options.targets;
  if (queries.empty() && !options.targetsRegex.empty())
    queries.push_back(options.targetsRegex);
  for (const std::string &query : queries)
    diag.attachNote() << "closest module names to '" << query
                      << "': " << join(closestModules(query, layerNames));
  return failure();
}

FailureOr<Selection> lora::selectLayers(ModuleOp module,
                                        const SelectionOptions &options,
                                        bool requireMatch) {
  Selection selection;
  selection.layers = findLinearLayers(module);
  selection.choices.resize(selection.layers.size());

  if (!options.adapter.empty()) {
    if (!options.targets.empty() || !options.targetsRegex.empty() ||
        !options.exclude.empty() || !options.excludeRegex.empty() ||
        options.allLinear || !options.rankPattern.empty() ||
        !options.alphaPattern.empty() || options.rslora)
      return module.emitError()
             << "adapter gives the targets, ranks and alphas itself; do not "
                "combine it with targets, exclude, all-linear, patterns or "
                "rslora";
    FailureOr<PeftAdapter> adapter = loadAdapter(module, options.adapter);
    if (failed(adapter))
      return failure();
    selection.adapter = std::move(*adapter);
    selection.description = "adapter '" + options.adapter + "'";
    if (failed(chooseFromAdapter(module, selection)))
      return failure();
  } else {
    if (options.allLinear)
      selection.description = "all-linear";
    else if (!options.targetsRegex.empty())
      selection.description = "targets-regex '" + options.targetsRegex + "'";
    else
      selection.description = "targets " + join(options.targets);
    if (failed(chooseFromOptions(module, options, requireMatch, selection)))
      return failure();
  }

  // One name per chosen layer (they name the LoRA parameters), and ranks
  // that make sense for the layer's shape.
  llvm::StringMap<const LinearLayer *> byName;
  for (auto [layer, choice] :
       llvm::zip_equal(selection.layers, selection.choices)) {
    if (!choice)
      continue;
    int64_t limit = std::min(layer.inFeatures, layer.outFeatures);
    if (choice->rank > limit)
      return layer.matmul.emitError()
             << "rank " << choice->rank << " of module '" << choice->module
             << "' exceeds min(K, N) = min(" << layer.inFeatures << ", "
             << layer.outFeatures << ") = " << limit;
    auto [it, inserted] = byName.try_emplace(choice->module, &layer);
    if (!inserted && requireMatch)
      return layer.matmul.emitError()
             << "module name '" << choice->module
             << "' is shared by the linear layers of nodes '"
             << it->second->node << "' and '" << layer.node
             << "'; exclude one of them";
  }
  return selection;
}
