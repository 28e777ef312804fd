//===- InsertLora.cpp - add explicit LoRA branches ------------------------===//
//
// y = x·W  becomes  y = x·W + s·(x·A)·B, written out in TOSA next to the
// frozen matmul (all in its accumulator type):
//
//   %t  = tosa.matmul %x, reshape(%A)   : [1, M, r]   (cast to x's type)
//   %u  = tosa.matmul %t, reshape(%B)   : [1, M, N]
//   %su = tosa.mul %u, s
//   %y  = tosa.add %xW, %su
//
// A: [K, r] and B: [r, N] are new function arguments named like PEFT's
// parameters, with their initial value attached. Every new op keeps the
// frozen matmul's location, so the branch still names its module.
//
//===----------------------------------------------------------------------===//

#include "LinearLayers.h"
#include "LoraSelection.h"

#include "lora/Passes/Passes.h"

#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"

#include <cmath>

namespace mlir::lora {
#define GEN_PASS_DEF_LORAINSERT
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;
using namespace mlir::lora;

namespace {

/// splitmix64: a small, fully specified generator, so initial weights are
/// the same on every platform and standard library.
class Random {
public:
  explicit Random(uint64_t seed) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1).
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  /// Standard normal (Box-Muller).
  double normal() {
    double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }

private:
  uint64_t state;
};

/// A per-module seed, so a layer's initial A does not depend on which other
/// layers are adapted.
uint64_t moduleSeed(uint64_t seed, StringRef module) {
  // FNV-1a: stable across runs and builds, unlike llvm::hash_value.
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : module)
    hash = (hash ^ c) * 0x100000001b3ull;
  return seed ^ hash;
}

struct LoraInsertPass : lora::impl::LoraInsertBase<LoraInsertPass> {
  using Base::Base;
  friend struct lora::SelectionOptions;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (init != "kaiming" && init != "gaussian" && init != "zeros") {
      module.emitError() << "init must be kaiming, gaussian or zeros, got '"
                         << init << "'";
      return signalPassFailure();
    }
    FailureOr<Selection> selection =
        selectLayers(module, SelectionOptions::from(*this),
                     /*requireMatch=*/true);
    if (failed(selection))
      return signalPassFailure();
    for (auto [layer, choice] :
         llvm::zip_equal(selection->layers, selection->choices))
      if (choice && failed(insertBranch(module, layer, *choice)))
        return signalPassFailure();
  }

  /// The initial [K, r] A (ONNX orientation) of a layer without adapter.
  std::vector<double> initialA(const LayerChoice &choice, int64_t k) {
    std::vector<double> a(k * choice.rank, 0.0);
    Random random(moduleSeed(seed, choice.module));
    if (init == "kaiming") {
      // PEFT: kaiming_uniform_(lora_A.weight, a=sqrt(5)) on [r, K], i.e.
      // gain sqrt(2 / (1 + 5)) * sqrt(3 / fan_in) = 1 / sqrt(K).
      double bound = 1.0 / std::sqrt(double(k));
      for (double &v : a)
        v = (2.0 * random.uniform() - 1.0) * bound;
    } else if (init == "gaussian") {
      // PEFT: normal_(lora_A.weight, std=1/r).
      for (double &v : a)
        v = random.normal() / double(choice.rank);
    }
    return a;
  }

  LogicalResult insertBranch(ModuleOp module, const LinearLayer &layer,
                             const LayerChoice &choice) {
    tosa::MatMulOp matmul = layer.matmul;
    auto func = matmul->getParentOfType<FunctionOpInterface>();
    if (!func || !SymbolTable::symbolKnownUseEmpty(func, module))
      return matmul.emitError()
             << "lora-insert adds arguments to the function of layer '"
             << choice.module << "', which must not be called";

    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
      if (auto param = func.getArgAttrOfType<StringAttr>(
              i, LoraDialect::getParamAttrName());
          param && getModuleOfParam(param.getValue()) == choice.module)
        return matmul.emitError() << "layer '" << choice.module
                                  << "' already has LoRA parameters (argument #"
                                  << i << ", '" << param.getValue() << "')";

    Type element = cast<ShapedType>(matmul.getA().getType()).getElementType();
    auto resultType = cast<RankedTensorType>(matmul.getType());
    Type acc = resultType.getElementType();
    int64_t k = layer.inFeatures, n = layer.outFeatures, r = choice.rank;
    int64_t m = resultType.getDimSize(1);
    auto aType = RankedTensorType::get({k, r}, element);
    auto bType = RankedTensorType::get({r, n}, element);

    std::vector<double> aInit, bInit(r * n, 0.0);
    if (choice.weights) {
      std::vector<float> a = choice.weights->onnxA(),
                         b = choice.weights->onnxB();
      aInit.assign(a.begin(), a.end());
      bInit.assign(b.begin(), b.end());
    } else {
      aInit = initialA(choice, k);
    }

    FailureOr<BlockArgument> a =
        addLoraParam(func, aType, getLoraParamName(choice.module, true), aInit,
                     matmul.getLoc());
    FailureOr<BlockArgument> bArg =
        addLoraParam(func, bType, getLoraParamName(choice.module, false), bInit,
                     matmul.getLoc());
    if (failed(a) || failed(bArg))
      return matmul.emitError() << "cannot add LoRA arguments";

    IRRewriter rewriter(matmul);
    rewriter.setInsertionPointAfter(matmul);
    Location loc = matmul.getLoc();
    auto reshape = [&](Value v, ArrayRef<int64_t> shape) -> Value {
      auto type = cast<RankedTensorType>(v.getType());
      ImplicitLocOpBuilder builder(loc, rewriter);
      return tosa::ReshapeOp::create(rewriter, loc, type.clone(shape), v,
                                     tosa::getTosaConstShape(builder, shape));
    };
    Value zeroPoint = *tosa::createZeroPointTensor(rewriter, loc, element);
    Value t = tosa::MatMulOp::create(
        rewriter, loc, RankedTensorType::get({1, m, r}, acc), matmul.getA(),
        reshape(*a, {1, k, r}), zeroPoint, zeroPoint);
    if (acc != element)
      t = tosa::CastOp::create(rewriter, loc,
                               RankedTensorType::get({1, m, r}, element), t);
    Value u =
        tosa::MatMulOp::create(rewriter, loc, resultType, t,
                               reshape(*bArg, {1, r, n}), zeroPoint, zeroPoint);
    auto scaleType = RankedTensorType::get({1, 1, 1}, acc);
    Value scale = tosa::ConstOp::create(
        rewriter, loc, scaleType,
        DenseElementsAttr::get(scaleType,
                               rewriter.getFloatAttr(acc, choice.scale)));
    auto shiftType = RankedTensorType::get({1}, rewriter.getI8Type());
    Value shift = tosa::ConstOp::create(
        rewriter, loc, shiftType,
        DenseElementsAttr::get(shiftType, rewriter.getI8IntegerAttr(0)));
    Value scaled =
        tosa::MulOp::create(rewriter, loc, resultType, u, scale, shift);
    auto sum = tosa::AddOp::create(rewriter, loc, resultType,
                                   matmul.getResult(), scaled);
    rewriter.replaceAllUsesExcept(matmul.getResult(), sum.getResult(), sum);
    return success();
  }
};

} // namespace
