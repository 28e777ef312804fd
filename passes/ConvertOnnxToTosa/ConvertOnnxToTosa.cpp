//===- ConvertOnnxToTosa.cpp - the convert-onnx-to-tosa pass --------------===//
//
// One conversion pattern matches every `onnx.node` and dispatches on its op
// type to the converter registered for the node's opset. The conversion runs
// without a type converter: node results are replaced by values whose
// (static) types the converters compute, and the function signature is
// updated to the refined result types at the end.
//
//===----------------------------------------------------------------------===//

#include "OnnxToTosa.h"

#include "lora/Passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/Dialect/Traits.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::lora {
#define GEN_PASS_DEF_CONVERTONNXTOTOSA
#include "lora/Passes/Passes.h.inc"
} // namespace mlir::lora

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::onnx_to_tosa;

//===----------------------------------------------------------------------===//
// Node
//===----------------------------------------------------------------------===//

std::string onnx_to_tosa::getNodeName(Operation *op) {
  if (auto nameLoc = dyn_cast<NameLoc>(op->getLoc()))
    return nameLoc.getName().str();
  return "<unnamed>";
}

std::string Node::name() { return getNodeName(op); }

Value Node::input(unsigned i) {
  if (i >= inputs.size() || isa<NoneType>(inputs[i].getType()))
    return {};
  return inputs[i];
}

RankedTensorType Node::type(unsigned i) {
  Value value = input(i);
  return value ? dyn_cast<RankedTensorType>(value.getType())
               : RankedTensorType();
}

int64_t Node::intAttr(StringRef name, int64_t defaultValue) {
  if (auto attr = dyn_cast_or_null<IntegerAttr>(op.getNodeAttr(name)))
    return attr.getInt();
  return defaultValue;
}

float Node::floatAttr(StringRef name, float defaultValue) {
  Attribute attr = op.getNodeAttr(name);
  if (auto f = dyn_cast_or_null<FloatAttr>(attr))
    return f.getValueAsDouble();
  if (auto i = dyn_cast_or_null<IntegerAttr>(attr))
    return static_cast<float>(i.getInt());
  return defaultValue;
}

std::string Node::stringAttr(StringRef name, StringRef defaultValue) {
  if (auto attr = dyn_cast_or_null<StringAttr>(op.getNodeAttr(name)))
    return attr.str();
  return defaultValue.str();
}

std::optional<SmallVector<int64_t>> Node::intsAttr(StringRef name) {
  if (auto attr = dyn_cast_or_null<DenseI64ArrayAttr>(op.getNodeAttr(name)))
    return SmallVector<int64_t>(attr.asArrayRef());
  return std::nullopt;
}

std::optional<SmallVector<float>> Node::floatsAttr(StringRef name) {
  if (auto attr = dyn_cast_or_null<DenseF32ArrayAttr>(op.getNodeAttr(name)))
    return SmallVector<float>(attr.asArrayRef());
  return std::nullopt;
}

ElementsAttr Node::tensorAttr(StringRef name) {
  return dyn_cast_or_null<ElementsAttr>(op.getNodeAttr(name));
}

ElementsAttr Node::constant(unsigned i) {
  Value value = input(i);
  ElementsAttr attr;
  if (value && matchPattern(value, m_Constant(&attr)))
    return attr;
  return {};
}

/// Reads every element of `attr` as a double or int64, for dense attributes
/// and for resource blobs alike.
template <typename T>
static std::optional<SmallVector<T>> readElements(ElementsAttr attr) {
  if (!attr)
    return std::nullopt;
  Type elementType = attr.getElementType();
  SmallVector<T> result;
  result.reserve(attr.getNumElements());
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    if (isa<FloatType>(elementType)) {
      for (const APFloat &v : dense.getValues<APFloat>())
        result.push_back(static_cast<T>(v.convertToDouble()));
      return result;
    }
    if (auto intType = dyn_cast<IntegerType>(elementType)) {
      for (const APInt &v : dense.getValues<APInt>())
        result.push_back(
            static_cast<T>(intType.isUnsigned() || intType.getWidth() == 1
                               ? static_cast<int64_t>(v.getZExtValue())
                               : v.getSExtValue()));
      return result;
    }
    return std::nullopt;
  }
  std::optional<ArrayRef<char>> bytes = resourceBytes(attr);
  if (!bytes)
    return std::nullopt;
  auto readAs = [&](auto tag) {
    using E = decltype(tag);
    const E *data = reinterpret_cast<const E *>(bytes->data());
    for (size_t i = 0, e = bytes->size() / sizeof(E); i < e; ++i)
      result.push_back(static_cast<T>(data[i]));
  };
  if (elementType.isF32())
    readAs(float());
  else if (elementType.isF64())
    readAs(double());
  else if (elementType.isInteger(64))
    readAs(int64_t());
  else if (elementType.isInteger(32))
    readAs(int32_t());
  else
    return std::nullopt;
  return result;
}

std::optional<SmallVector<int64_t>> Node::constantInts(unsigned i) {
  return readElements<int64_t>(constant(i));
}

std::optional<SmallVector<double>> Node::constantFloats(unsigned i) {
  return readElements<double>(constant(i));
}

InFlightDiagnostic Node::emitError() {
  return op.emitError() << "node '" << name() << "' (" << opType() << ", opset "
                        << opset() << "): ";
}

LogicalResult Node::replace(ValueRange values) {
  rewriter.replaceOp(op, values);
  return success();
}

FailureOr<int64_t> Node::normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1)) {
    emitError() << "axis " << axis << " is out of range for rank " << rank;
    return failure();
  }
  return axis < 0 ? axis + rank : axis;
}

FailureOr<SmallVector<int64_t>> Node::normalizeAxes(ArrayRef<int64_t> axes,
                                                    int64_t rank) {
  SmallVector<int64_t> result;
  for (int64_t axis : axes) {
    auto normalized = normalizeAxis(axis, rank);
    if (failed(normalized))
      return failure();
    result.push_back(*normalized);
  }
  llvm::sort(result);
  result.erase(llvm::unique(result), result.end());
  return result;
}

//===----------------------------------------------------------------------===//
// Checks and type rules
//===----------------------------------------------------------------------===//

LogicalResult onnx_to_tosa::checkRequiredInputs(Node &node,
                                                unsigned numRequired) {
  for (unsigned i = 0; i < numRequired; ++i) {
    if (node.input(i))
      continue;
    node.emitError() << "expects " << numRequired << " input(s), input " << i
                     << " is missing";
    return failure();
  }
  return success();
}

LogicalResult onnx_to_tosa::checkNumOutputs(Node &node, unsigned numOutputs) {
  if (node.numOutputs() == numOutputs)
    return success();
  node.emitError() << "expects " << numOutputs << " output"
                   << (numOutputs == 1 ? "" : "s") << ", got "
                   << node.numOutputs();
  return failure();
}

Type onnx_to_tosa::accumulatorType(Type elementType) {
  if (elementType.isF16() || elementType.isBF16())
    return Float32Type::get(elementType.getContext());
  return elementType;
}

Type onnx_to_tosa::onnxElementType(MLIRContext *context, int64_t dataType) {
  Builder b(context);
  switch (dataType) {
  case 1:
    return b.getF32Type();
  case 2:
    return IntegerType::get(context, 8, IntegerType::Unsigned);
  case 3:
    return b.getI8Type();
  case 4:
    return IntegerType::get(context, 16, IntegerType::Unsigned);
  case 5:
    return b.getI16Type();
  case 6:
    return b.getI32Type();
  case 7:
    return b.getI64Type();
  case 9:
    return b.getI1Type();
  case 10:
    return b.getF16Type();
  case 11:
    return b.getF64Type();
  case 12:
    return IntegerType::get(context, 32, IntegerType::Unsigned);
  case 16:
    return b.getBF16Type();
  default:
    return {};
  }
}

std::optional<ArrayRef<char>> onnx_to_tosa::resourceBytes(ElementsAttr attr) {
  auto resource = dyn_cast_or_null<DenseResourceElementsAttr>(attr);
  if (!resource || !resource.getRawHandle().getBlob())
    return std::nullopt;
  return resource.getRawHandle().getBlob()->getData();
}

//===----------------------------------------------------------------------===//
// TOSA building blocks
//===----------------------------------------------------------------------===//

Value onnx_to_tosa::shapeValue(OpBuilder &b, Location loc,
                               ArrayRef<int64_t> shape) {
  ImplicitLocOpBuilder builder(loc, b);
  return tosa::getTosaConstShape(builder, shape);
}

Value onnx_to_tosa::reshape(OpBuilder &b, Location loc, Value value,
                            ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getShape() == shape)
    return value;
  return tosa::ReshapeOp::create(
      b, loc, RankedTensorType::get(shape, type.getElementType()), value,
      shapeValue(b, loc, shape));
}

Value onnx_to_tosa::transpose(OpBuilder &b, Location loc, Value value,
                              ArrayRef<int64_t> perm) {
  auto type = cast<RankedTensorType>(value.getType());
  if (llvm::equal(perm, llvm::seq<int64_t>(0, perm.size())))
    return value;
  SmallVector<int64_t> shape;
  SmallVector<int32_t> perms;
  for (int64_t p : perm) {
    shape.push_back(type.getDimSize(p));
    perms.push_back(static_cast<int32_t>(p));
  }
  return tosa::TransposeOp::create(
      b, loc, RankedTensorType::get(shape, type.getElementType()), value,
      b.getDenseI32ArrayAttr(perms));
}

Value onnx_to_tosa::castTo(OpBuilder &b, Location loc, Value value,
                           Type elementType) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getElementType() == elementType)
    return value;
  return tosa::CastOp::create(b, loc, type.clone(elementType), value);
}

static Attribute scalarAttr(Type elementType, double value) {
  if (isa<FloatType>(elementType))
    return FloatAttr::get(elementType, value);
  return IntegerAttr::get(elementType, static_cast<int64_t>(value));
}

Value onnx_to_tosa::splat(OpBuilder &b, Location loc, RankedTensorType type,
                          double value) {
  auto attr =
      DenseElementsAttr::get(type, scalarAttr(type.getElementType(), value));
  return tosa::ConstOp::create(b, loc, type, attr);
}

Value onnx_to_tosa::scalar(OpBuilder &b, Location loc, Type elementType,
                           double value, int64_t rank) {
  SmallVector<int64_t> shape(rank, 1);
  return splat(b, loc, RankedTensorType::get(shape, elementType), value);
}

Value onnx_to_tosa::scalarLike(OpBuilder &b, Location loc, Value like,
                               double value) {
  RankedTensorType type = tensorType(like);
  return scalar(b, loc, type.getElementType(), value, type.getRank());
}

void onnx_to_tosa::equalizeRanks(OpBuilder &b, Location loc, Value &lhs,
                                 Value &rhs) {
  auto lhsType = cast<RankedTensorType>(lhs.getType());
  auto rhsType = cast<RankedTensorType>(rhs.getType());
  auto expand = [&](Value &v, RankedTensorType type, int64_t rank) {
    SmallVector<int64_t> shape(rank - type.getRank(), 1);
    llvm::append_range(shape, type.getShape());
    v = reshape(b, loc, v, shape);
  };
  if (lhsType.getRank() < rhsType.getRank())
    expand(lhs, lhsType, rhsType.getRank());
  else if (rhsType.getRank() < lhsType.getRank())
    expand(rhs, rhsType, lhsType.getRank());
}

FailureOr<SmallVector<int64_t>>
onnx_to_tosa::broadcastShape(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  SmallVector<int64_t> result;
  if (!OpTrait::util::getBroadcastedShape(a, b, result))
    return failure();
  return result;
}

Value onnx_to_tosa::mul(OpBuilder &b, Location loc, Value lhs, Value rhs) {
  equalizeRanks(b, loc, lhs, rhs);
  auto lhsType = cast<RankedTensorType>(lhs.getType());
  auto rhsType = cast<RankedTensorType>(rhs.getType());
  auto shape = broadcastShape(lhsType.getShape(), rhsType.getShape());
  assert(succeeded(shape) && "caller checks broadcastability");
  auto shiftType = RankedTensorType::get({1}, b.getI8Type());
  Value shift = tosa::ConstOp::create(
      b, loc, shiftType,
      DenseElementsAttr::get(shiftType, b.getI8IntegerAttr(0)));
  return tosa::MulOp::create(
      b, loc, RankedTensorType::get(*shape, lhsType.getElementType()), lhs, rhs,
      shift);
}

/// TOSA has only rsqrt; 1 / rsqrt(x) is exact at 0, -0 and inf and, done in
/// f64 for narrower types, rounds back correctly: the f64 result's relative
/// error (below 2^-51) is smaller than the distance from the square root of
/// a narrow operand to a rounding boundary. f64 inputs keep a 2 ulp bound.
Value onnx_to_tosa::sqrtFloat(OpBuilder &b, Location loc, Value x) {
  Type elementType = tensorType(x).getElementType();
  Type wide = elementType.isF64() ? elementType : b.getF64Type();
  Value root = unary<tosa::ReciprocalOp>(
      b, loc, unary<tosa::RsqrtOp>(b, loc, castTo(b, loc, x, wide)));
  return castTo(b, loc, root, elementType);
}

Value onnx_to_tosa::sliceValue(OpBuilder &b, Location loc, Value value,
                               ArrayRef<int64_t> starts,
                               ArrayRef<int64_t> sizes) {
  RankedTensorType type = tensorType(value);
  if (type.getShape() == sizes)
    return value;
  return tosa::SliceOp::create(b, loc, type.clone(sizes), value,
                               shapeValue(b, loc, starts),
                               shapeValue(b, loc, sizes));
}

Value onnx_to_tosa::reduceSum(OpBuilder &b, Location loc, Value value,
                              ArrayRef<int64_t> axes) {
  for (int64_t axis : axes) {
    auto type = cast<RankedTensorType>(value.getType());
    SmallVector<int64_t> shape(type.getShape());
    shape[axis] = 1;
    value = tosa::ReduceSumOp::create(b, loc, type.clone(shape), value,
                                      b.getI32IntegerAttr(axis));
  }
  return value;
}

//===----------------------------------------------------------------------===//
// The pattern and the pass
//===----------------------------------------------------------------------===//

namespace {

/// The converters, by op type, sorted by descending `sinceOpset`.
class ConverterTable {
public:
  ConverterTable() {
    SmallVector<Converter> all;
    addElementwiseConverters(all);
    addMatMulConverters(all);
    addReductionConverters(all);
    addTensorConverters(all);
    for (const Converter &c : all)
      byType[c.opType].push_back(c);
    for (auto &entry : byType)
      llvm::sort(entry.second, [](const Converter &a, const Converter &b) {
        return a.sinceOpset > b.sinceOpset;
      });
  }

  /// The converter for `op`, or null when there is none.
  const Converter *lookup(onnx::NodeOp op) const {
    if (!op.getDomainOrDefault().empty())
      return nullptr;
    auto it = byType.find(op.getOpType());
    if (it == byType.end())
      return nullptr;
    for (const Converter &c : it->second)
      if (c.sinceOpset <= static_cast<int64_t>(op.getOpset()))
        return &c;
    return nullptr;
  }

  /// Every supported op type, for error messages.
  SmallVector<StringRef> opTypes() const {
    SmallVector<StringRef> types;
    for (const auto &entry : byType)
      types.push_back(entry.getKey());
    llvm::sort(types);
    return types;
  }

private:
  llvm::StringMap<SmallVector<Converter>> byType;
};

const ConverterTable &getConverterTable() {
  static const ConverterTable table;
  return table;
}

struct ConvertNode : OpConversionPattern<onnx::NodeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(onnx::NodeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    const Converter *converter = getConverterTable().lookup(op);
    if (!converter)
      return rewriter.notifyMatchFailure(op, "no converter");
    Node node(op, adaptor.getInputs(), rewriter);
    for (Value input : adaptor.getInputs()) {
      if (isa<NoneType>(input.getType()))
        continue;
      auto type = dyn_cast<RankedTensorType>(input.getType());
      if (!type || !type.hasStaticShape()) {
        node.emitError() << "operand of type " << input.getType()
                         << " has no static shape";
        return failure();
      }
    }
    if (auto folded = tryFoldNode(node))
      return node.replace(*folded);
    return converter->convert(node);
  }
};

/// Returns the converted values; the signature is refined after conversion.
struct ConvertReturn : OpConversionPattern<func::ReturnOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(func::ReturnOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOpWithNewOp<func::ReturnOp>(op, adaptor.getOperands());
    return success();
  }
};

struct ConvertOnnxToTosaPass
    : lora::impl::ConvertOnnxToTosaBase<ConvertOnnxToTosaPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;

    // Report every node that has no conversion before converting anything.
    bool unsupported = false;
    bool hasNodes = false;
    const ConverterTable &table = getConverterTable();
    func.walk([&](onnx::NodeOp op) {
      hasNodes = true;
      if (table.lookup(op))
        return;
      unsupported = true;
      StringRef domain = op.getDomainOrDefault();
      auto diag = op.emitError()
                  << "node '" << getNodeName(op) << "': ONNX operator '"
                  << (domain.empty() ? "" : domain.str() + "::")
                  << op.getOpType() << "' (opset " << op.getOpset()
                  << ") is not supported";
      (void)diag;
    });
    if (unsupported)
      return signalPassFailure();
    if (!hasNodes)
      return;

    // A dynamic input dimension makes every static shape below unknowable.
    for (auto [i, type] : llvm::enumerate(func.getArgumentTypes())) {
      auto shaped = dyn_cast<ShapedType>(type);
      if (!shaped || (shaped.hasRank() && shaped.hasStaticShape()))
        continue;
      auto name = func.getArgAttrOfType<StringAttr>(i, "onnx.name");
      func.emitError() << "input '"
                       << (name ? name.str() : "#" + std::to_string(i))
                       << "' has type " << type
                       << " with dynamic dimensions; give it a static shape "
                          "with --input-shape="
                       << (name ? name.str() : "name") << ":DxDx...";
      return signalPassFailure();
    }

    ConversionTarget target(getContext());
    target.addIllegalDialect<onnx::OnnxDialect>();
    target.addLegalOp<onnx::NoneOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    target.addDynamicallyLegalOp<func::ReturnOp>([](func::ReturnOp op) {
      return llvm::none_of(op.getOperands(), [](Value v) {
        return isa_and_present<onnx::NodeOp>(v.getDefiningOp());
      });
    });
    RewritePatternSet patterns(&getContext());
    populateOnnxToTosaConversionPatterns(patterns);
    // A converter that fails has already said why; the driver's generic
    // "failed to legalize" for the same node adds nothing, so drop it.
    bool converterError = false;
    ScopedDiagnosticHandler dropRedundant(
        &getContext(), [&](Diagnostic &diag) -> LogicalResult {
          if (diag.getSeverity() != DiagnosticSeverity::Error)
            return failure();
          if (converterError &&
              StringRef(diag.str())
                  .starts_with("failed to legalize operation 'onnx.node'"))
            return success();
          converterError = true;
          return failure();
        });
    if (failed(applyPartialConversion(func, target, std::move(patterns))))
      return signalPassFailure();

    // Converted values have static types the declared ones lacked.
    auto ret = cast<func::ReturnOp>(func.getBody().back().getTerminator());
    func.setFunctionType(FunctionType::get(
        &getContext(), func.getArgumentTypes(), ret.getOperandTypes()));
    func.walk([](onnx::NoneOp none) {
      if (none.use_empty())
        none.erase();
    });
  }
};

} // namespace

void mlir::lora::populateOnnxToTosaConversionPatterns(
    RewritePatternSet &patterns) {
  patterns.add<ConvertNode, ConvertReturn>(patterns.getContext());
}

Value onnx_to_tosa::broadcastTo(OpBuilder &b, Location loc, Value value,
                                ArrayRef<int64_t> shape) {
  RankedTensorType type = tensorType(value);
  if (type.getShape() == shape)
    return value;
  SmallVector<int64_t> multiples;
  for (auto [have, want] : llvm::zip_equal(type.getShape(), shape))
    multiples.push_back(have == want ? 1 : want);
  return tosa::TileOp::create(b, loc, type.clone(shape), value,
                              shapeValue(b, loc, multiples));
}

Value onnx_to_tosa::selectBroadcast(OpBuilder &b, Location loc, Value cond,
                                    Value onTrue, Value onFalse) {
  // Pairwise rank equalization leaves all three at the greatest rank.
  equalizeRanks(b, loc, cond, onTrue);
  equalizeRanks(b, loc, cond, onFalse);
  equalizeRanks(b, loc, onTrue, onFalse);
  auto shape = broadcastShape(tensorType(cond).getShape(),
                              tensorType(onTrue).getShape());
  assert(succeeded(shape) && "caller checks broadcastability");
  shape = broadcastShape(*shape, tensorType(onFalse).getShape());
  assert(succeeded(shape) && "caller checks broadcastability");
  return tosa::SelectOp::create(
      b, loc,
      RankedTensorType::get(*shape, tensorType(onTrue).getElementType()), cond,
      onTrue, onFalse);
}
