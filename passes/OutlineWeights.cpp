//===- OutlineWeights.cpp - frozen weights as named function arguments ----===//
//
// lora-compile writes the `lora.init` of each `lora.weight` argument to
// weights.bin and the runtime passes a pointer into the mapped file, so the
// compiled code holds no weight bytes. The value moves from the constant to
// the argument attribute unchanged: a resource blob stays the mmapped slice of
// the ONNX file the importer made it.
//
//===----------------------------------------------------------------------===//

#include "LinearLayers.h"

#include "lora/Passes/Passes.h"

#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::lora {
#define GEN_PASS_DEF_LORAOUTLINEWEIGHTS
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;
using namespace mlir::lora;

namespace {

/// The value of a constant op, or null for other ops.
ElementsAttr getConstantValue(Operation *op) {
  if (auto constant = dyn_cast<arith::ConstantOp>(op))
    return dyn_cast<ElementsAttr>(constant.getValue());
  if (auto constant = dyn_cast<tosa::ConstOp>(op))
    return constant.getValues();
  return {};
}

/// Bytes of `attr`'s data when it is worth outlining: numeric, not i1, not a
/// splat; 0 otherwise.
int64_t getOutlinedBytes(ElementsAttr attr) {
  Type element = attr.getElementType();
  if (getRuntimeDTypeName(element).empty() || element.isInteger(1))
    return 0;
  if (auto dense = dyn_cast<DenseElementsAttr>(attr); dense && dense.isSplat())
    return 0;
  if (!isa<DenseElementsAttr, DenseResourceElementsAttr>(attr))
    return 0;
  return attr.getNumElements() * element.getIntOrFloatBitWidth() / 8;
}

/// The module name of each weight constant that feeds a linear layer, a
/// merged one or a `lora.linear`.
DenseMap<Operation *, std::string> getLayerWeights(func::FuncOp func) {
  DenseMap<Operation *, std::string> modules;
  for (LinearLayer &layer : findLinearLayers(func))
    modules.try_emplace(layer.weightSource, layer.module);
  func.walk([&](LinearOp linear) {
    Operation *source = getConstantSource(linear.getWeight());
    auto a = dyn_cast<BlockArgument>(linear.getLoraA());
    if (!source || !a)
      return;
    auto param = func.getArgAttrOfType<StringAttr>(
        a.getArgNumber(), LoraDialect::getParamAttrName());
    if (StringRef module = param ? getModuleOfParam(param) : "";
        !module.empty())
      modules[source] = module.str();
  });
  return modules;
}

/// The initializer name an imported constant carries as its location.
StringRef getInitializerName(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().getValue();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location inner : fused.getLocations())
      if (StringRef name = getInitializerName(inner); !name.empty())
        return name;
  return "";
}

struct LoraOutlineWeightsPass
    : lora::impl::LoraOutlineWeightsBase<LoraOutlineWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal() || !func.isPublic() ||
          !SymbolTable::symbolKnownUseEmpty(func, module))
        continue;
      if (failed(outline(func)))
        return signalPassFailure();
    }
  }

  LogicalResult outline(func::FuncOp func) {
    SmallVector<std::pair<Operation *, ElementsAttr>> constants;
    func.walk([&](Operation *op) {
      ElementsAttr value = getConstantValue(op);
      if (value && getOutlinedBytes(value) >= std::max<int64_t>(minBytes, 1))
        constants.emplace_back(op, value);
    });
    if (constants.empty())
      return success();

    DenseMap<Operation *, std::string> layerWeights = getLayerWeights(func);
    llvm::StringSet<> used;
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
      if (auto name = func.getArgAttrOfType<StringAttr>(
              i, LoraDialect::getWeightAttrName()))
        used.insert(name);
    auto uniqueName = [&](std::string name) {
      if (name.empty())
        name = "weight_" + std::to_string(used.size());
      std::string candidate = name;
      for (unsigned n = 1; used.contains(candidate); ++n)
        candidate = name + "_" + std::to_string(n);
      used.insert(candidate);
      return candidate;
    };

    Builder b(func.getContext());
    for (auto [op, value] : constants) {
      std::string name;
      if (auto it = layerWeights.find(op); it != layerWeights.end())
        name = it->second + ".weight";
      else
        name = getInitializerName(op->getLoc()).str();
      NamedAttribute attrs[] = {
          b.getNamedAttr(LoraDialect::getWeightAttrName(),
                         b.getStringAttr(uniqueName(name))),
          b.getNamedAttr(LoraDialect::getInitAttrName(), value)};
      unsigned index = func.getNumArguments();
      if (failed(func.insertArgument(index, op->getResult(0).getType(),
                                     b.getDictionaryAttr(attrs), op->getLoc())))
        return op->emitError("cannot add a weight argument to '")
               << func.getName() << "'";
      op->getResult(0).replaceAllUsesWith(func.getArgument(index));
      op->erase();
    }
    return success();
  }
};

} // namespace
