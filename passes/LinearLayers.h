//===- LinearLayers.h - linear layers of a TOSA graph -----------*- C++ -*-===//
//
// What the LoRA passes share: finding the linear layers of a graph, naming
// them like the PyTorch modules they came from, naming their LoRA
// parameters like PEFT, and reading/writing float constants.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_PASSES_LINEARLAYERS_H
#define LORA_PASSES_LINEARLAYERS_H

#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

#include <string>

namespace mlir::lora {

struct PeftAdapter;
struct PeftAdapterModule;

/// The discardable attribute lora-merge puts on the matmul of a merged
/// layer: {module, rank, scale, lora_a, lora_b, param_a, param_b}, what
/// lora-unmerge needs to undo the merge.
inline constexpr llvm::StringLiteral kMergedAttrName = "lora.merged";

/// A linear layer `y = x·W`: a `tosa.matmul` [1, M, K] x [1, K, N] whose
/// right side is a constant (the form convert-onnx-to-tosa gives an ONNX
/// MatMul or Gemm with a weight).
struct LinearLayer {
  tosa::MatMulOp matmul;
  /// The constant op the weight is computed from (reshapes, transposes and
  /// casts only).
  Operation *weightSource = nullptr;
  /// The module name, e.g. "model.layers.0.self_attn.q_proj".
  std::string module;
  /// The ONNX node the matmul came from (for messages).
  std::string node;
  /// K and N.
  int64_t inFeatures = 0, outFeatures = 0;
  /// True when the layer's result reaches a function result through
  /// reshapes, casts and constant additions only: the model's output head
  /// (lm_head), which `all-linear` leaves out like PEFT.
  bool outputHead = false;
};

/// The constant op (arith.constant or tosa.const) `value` is computed from
/// through tosa.reshape, tosa.transpose and tosa.cast only, or null.
Operation *getConstantSource(Value value);

/// Every linear layer under `root`, in IR order, named (see lora-insert's
/// description for the naming rules).
SmallVector<LinearLayer> findLinearLayers(Operation *root);

/// The module name of a matmul from its location and its weight's source.
std::string getModuleName(Operation *matmul, Operation *weightSource);

/// The ONNX node name in `loc` (its outermost NameLoc), or "".
std::string getNodeName(Location loc);

/// PEFT's key of a LoRA parameter: "base_model.model.<module>.lora_A.weight"
/// (or lora_B).
std::string getLoraParamName(StringRef module, bool isA);

/// The module of a PEFT parameter key (the inverse of getLoraParamName), or
/// "" when `param` is not such a key.
StringRef getModuleOfParam(StringRef param);

/// The values of a float constant (dense or dense_resource; f64, f32, f16,
/// bf16) as doubles, row-major. Fails for other element types.
FailureOr<SmallVector<double>> readFloatElements(ElementsAttr attr);

/// The values of `value`, row-major in its own shape, when it is a float
/// constant seen through tosa.reshape, tosa.transpose and float tosa.cast
/// (values are not re-rounded at casts). Fails otherwise.
FailureOr<SmallVector<double>> readConstantValues(Value value);

/// A constant of `type` (float element type) holding `values` rounded to
/// nearest-even. Large constants become resource blobs named `blobName`.
ElementsAttr makeFloatElements(RankedTensorType type, ArrayRef<double> values,
                               StringRef blobName);

/// {`onnx.name` = `name`}: the attributes of a named argument or result.
DictionaryAttr getOnnxNameDict(MLIRContext *context, StringRef name);

/// Appends an input argument of `type` named `name` (`onnx.name`) to
/// `func`; fails with an error "<user> needs an input named ..." when an
/// argument has that name already.
FailureOr<BlockArgument> addNamedInput(FunctionOpInterface func, Type type,
                                       StringRef name, Location loc,
                                       StringRef user);

/// Appends a LoRA parameter argument to `func`: `lora.param` = `name`,
/// `lora.init` = `init` (row-major, rounded to `type`).
FailureOr<BlockArgument> addLoraParam(FunctionOpInterface func,
                                      RankedTensorType type, StringRef name,
                                      ArrayRef<double> init, Location loc);

/// The initial value of a LoRA parameter: the `lora.init` of a function
/// argument, or a constant (see readConstantValues).
FailureOr<SmallVector<double>> readParamValues(Value value);

/// Erases the op defining `value` if nothing uses it any more, and then its
/// operands' defining ops likewise (a dead weight and its reshapes).
void eraseIfDead(RewriterBase &rewriter, Value value);

/// `w += factor · a·b` for row-major w [K, N], a [K, r], b [r, N], in f64.
void addLowRankProduct(MutableArrayRef<double> w, ArrayRef<double> a,
                       ArrayRef<double> b, int64_t k, int64_t r, int64_t n,
                       double factor);

/// True when `module` is `name` or ends with "." + `name`: how an adapter's
/// module names match ours (the ONNX export may have wrapped the model).
bool isModuleSuffix(StringRef module, StringRef name);

/// Loads the PEFT adapter in `dir`, reporting a failure on `module`.
FailureOr<PeftAdapter> loadAdapter(ModuleOp module, StringRef dir);

/// The module of `adapter` whose name is `module` or a '.'-suffix of it (the
/// adapter may come from a model the ONNX export wrapped), or null.
const PeftAdapterModule *findAdapterModule(const PeftAdapter &adapter,
                                           StringRef module);

} // namespace mlir::lora

#endif // LORA_PASSES_LINEARLAYERS_H
