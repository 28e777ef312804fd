//===- ListLoraTargets.cpp - print the linear layers ----------------------===//
//
// The table users read before picking targets:
//
//   linear layers: 14 (2 selected by targets [q_proj])
//   module                                K x N      node         selected
//   model.layers.0.self_attn.q_proj      64 x 64    node_linear  r=8 alpha=16
//   scale=2
//   ...
//
//===----------------------------------------------------------------------===//

#include "LoraSelection.h"

#include "lora/Passes/Passes.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORALISTTARGETS
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;
using namespace mlir::lora;

namespace {
struct LoraListTargetsPass
    : lora::impl::LoraListTargetsBase<LoraListTargetsPass> {
  using Base::Base;
  friend struct lora::SelectionOptions;

  void runOnOperation() override {
    FailureOr<Selection> selection =
        selectLayers(getOperation(), SelectionOptions::from(*this),
                     /*requireMatch=*/false);
    if (failed(selection))
      return signalPassFailure();
    print(*selection, llvm::outs());
    markAllAnalysesPreserved();
  }

  void print(const Selection &selection, llvm::raw_ostream &os) {
    size_t chosen = llvm::count_if(selection.choices,
                                   [](const auto &c) { return c.has_value(); });
    bool anyOptions = !targets.empty() || !targetsRegex.empty() || allLinear ||
                      !adapter.empty();
    os << "linear layers: " << selection.layers.size();
    if (anyOptions)
      os << " (" << chosen << " selected by " << selection.description << ")";
    os << "\n";

    size_t moduleWidth = strlen("module"), nodeWidth = strlen("node");
    for (const LinearLayer &layer : selection.layers) {
      moduleWidth = std::max(moduleWidth, layer.module.size());
      nodeWidth = std::max(nodeWidth, layer.node.size());
    }
    os << llvm::left_justify("module", moduleWidth) << "  "
       << llvm::left_justify("K x N", 13) << "  "
       << llvm::left_justify("node", nodeWidth) << "  "
       << (anyOptions ? "selected" : "") << "\n";
    for (auto [layer, choice] :
         llvm::zip_equal(selection.layers, selection.choices)) {
      std::string shape = std::to_string(layer.inFeatures) + " x " +
                          std::to_string(layer.outFeatures);
      os << llvm::left_justify(layer.module, moduleWidth) << "  "
         << llvm::left_justify(shape, 13) << "  "
         << llvm::left_justify(layer.node, nodeWidth) << "  ";
      if (choice) {
        os << "r=" << choice->rank
           << " alpha=" << llvm::format("%g", choice->alpha)
           << " scale=" << llvm::format("%g", choice->scale);
        if (choice->module != layer.module)
          os << " (adapter module " << choice->module << ")";
      } else if (anyOptions) {
        os << "-";
      }
      if (layer.outputHead)
        os << (choice || anyOptions ? " " : "") << "[output head]";
      os << "\n";
    }
  }
};
} // namespace
