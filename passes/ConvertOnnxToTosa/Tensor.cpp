//===- Tensor.cpp - data movement and shape ONNX ops to TOSA --------------===//
//
// Shapes are static, so every operand that decides a result shape (Reshape's
// shape, Slice's starts, Expand's shape, ...) must be a constant, and result
// types are computed here exactly. Two kinds of result never reach TOSA:
//  - results without elements become empty constants, because TOSA tensors
//    cannot have zero-sized dims;
//  - when the data is constant and the result small, the op runs on the host,
//    so that TorchScript shape subgraphs (Shape -> Gather -> Unsqueeze ->
//    Concat -> Reshape) fold to constants. These ops only move elements, so
//    the host version of each is the list of source positions of its result
//    elements, computed next to the op's shape rules. Fold.cpp folds the ops
//    that compute new values.
//
//===----------------------------------------------------------------------===//

#include "OnnxToTosa.h"

#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "mlir/IR/Matchers.h"

#include <algorithm>
#include <numeric>

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::onnx_to_tosa;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// Emits an error unless inputs 0 .. `count`-1 are present.
static LogicalResult requireInputs(Node &node, unsigned count) {
  for (unsigned i = 0; i < count; ++i) {
    if (!node.input(i)) {
      node.emitError() << "input #" << i << " is required";
      return failure();
    }
  }
  return success();
}

/// The values of input `i`, which decides a static shape and so must be a
/// constant of integers; an error naming it as `what` otherwise.
static FailureOr<SmallVector<int64_t>>
requireConstantInts(Node &node, unsigned i, StringRef what) {
  if (!isa<IntegerType>(node.elementType(i))) {
    node.emitError() << "input '" << what << "' must hold integers, got "
                     << node.type(i);
    return failure();
  }
  std::optional<SmallVector<int64_t>> values = node.constantInts(i);
  if (!values) {
    node.emitError() << "input '" << what
                     << "' must be a constant: static shapes depend on it";
    return failure();
  }
  return *values;
}

/// `requireConstantInts` for an optional input: no values when it is absent.
static FailureOr<SmallVector<int64_t>>
optionalConstantInts(Node &node, unsigned i, StringRef what) {
  if (!node.input(i))
    return SmallVector<int64_t>();
  return requireConstantInts(node, i, what);
}

/// The values of input `i`, a constant 1-D tensor of non-negative dims named
/// `what`; an error otherwise.
static FailureOr<SmallVector<int64_t>>
requireConstantShape(Node &node, unsigned i, StringRef what) {
  auto shape = requireConstantInts(node, i, what);
  if (failed(shape))
    return failure();
  if (node.rank(i) != 1 ||
      llvm::any_of(*shape, [](int64_t d) { return d < 0; })) {
    node.emitError() << "the shape must be a 1-D tensor of non-negative "
                        "dims, got "
                     << node.type(i);
    return failure();
  }
  return shape;
}

/// Emits an error unless input `i` holds i32 or i64 indices.
static LogicalResult requireIndexType(Node &node, unsigned i) {
  if (node.elementType(i).isInteger(32) || node.elementType(i).isInteger(64))
    return success();
  node.emitError() << "indices must be i32 or i64, got " << node.type(i);
  return failure();
}

/// An `arith.constant` of i64 `values` with `shape`.
static Value i64Constant(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                         ArrayRef<int64_t> values) {
  auto type = RankedTensorType::get(shape, b.getI64Type());
  return arith::ConstantOp::create(b, loc,
                                   DenseIntElementsAttr::get(type, values));
}

/// A `tosa.const` of i32 `values` with `shape`, for gather indices.
static Value i32Constant(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                         ArrayRef<int64_t> values) {
  auto type = RankedTensorType::get(shape, b.getI32Type());
  SmallVector<int32_t> narrow(values.begin(), values.end());
  return tosa::ConstOp::create(b, loc, type,
                               DenseElementsAttr::get(type, ArrayRef(narrow)));
}

/// The only element of `attr`; null when it is absent or has more.
static Attribute singleElement(ElementsAttr attr) {
  if (!attr || attr.getNumElements() != 1)
    return {};
  auto values = attr.tryGetValues<Attribute>();
  return values ? *values->begin() : Attribute();
}

/// A constant of `type` without elements: TOSA cannot hold zero-sized dims,
/// and an empty result needs no computation anyway.
static Value emptyConstant(OpBuilder &b, Location loc, RankedTensorType type) {
  return arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(type, ArrayRef<Attribute>()));
}

namespace {
/// The elements of a constant, read where they are: a dense attribute, or
/// the bytes of a resource blob (large initializers), which are not copied.
struct ConstantElements {
  DenseElementsAttr dense;
  ArrayRef<char> bytes;
};
} // namespace

/// The elements of `value` when it is a constant of whole-byte or boolean
/// elements.
static std::optional<ConstantElements> readConstant(Value value) {
  ElementsAttr attr;
  if (!matchPattern(value, m_Constant(&attr)))
    return std::nullopt;
  if (auto dense = dyn_cast<DenseElementsAttr>(attr))
    return ConstantElements{dense, {}};
  std::optional<ArrayRef<char>> bytes = resourceBytes(attr);
  Type elementType = attr.getElementType();
  // Booleans never come as blobs: the importer keeps them dense.
  if (!bytes || !elementType.isIntOrFloat() || elementType.isInteger(1) ||
      elementType.getIntOrFloatBitWidth() % 8 != 0)
    return std::nullopt;
  if (static_cast<int64_t>(bytes->size()) !=
      attr.getNumElements() * elementType.getIntOrFloatBitWidth() / 8)
    return std::nullopt;
  return ConstantElements{{}, *bytes};
}

/// A constant of `type` whose element i is element `positions[i]` of the
/// flattened `sources` laid end to end. Works on raw bytes, so it serves every
/// element type of a whole number of bytes, and booleans.
static Value gatherConstant(OpBuilder &b, Location loc,
                            ArrayRef<ConstantElements> sources,
                            RankedTensorType type,
                            ArrayRef<int64_t> positions) {
  Type elementType = type.getElementType();
  size_t width =
      elementType.isInteger(1) ? 0 : elementType.getIntOrFloatBitWidth() / 8;
  // starts[s] is the position of source s's first element.
  SmallVector<int64_t> starts = {0};
  for (const ConstantElements &source : sources)
    starts.push_back(starts.back() +
                     (source.dense
                          ? source.dense.getNumElements()
                          : static_cast<int64_t>(source.bytes.size() / width)));
  auto locate = [&](int64_t position) {
    auto it = llvm::upper_bound(starts, position);
    size_t s = std::distance(starts.begin(), it) - 1;
    return std::make_pair(sources[s], position - starts[s]);
  };

  if (elementType.isInteger(1)) {
    SmallVector<bool> values;
    for (int64_t position : positions) {
      auto [source, offset] = locate(position);
      values.push_back(*(source.dense.value_begin<bool>() + offset));
    }
    return arith::ConstantOp::create(b, loc,
                                     DenseElementsAttr::get(type, values));
  }
  SmallVector<char> bytes(positions.size() * width);
  for (auto [i, position] : llvm::enumerate(positions)) {
    auto [source, offset] = locate(position);
    ArrayRef<char> raw =
        source.dense ? source.dense.getRawData() : source.bytes;
    // A splat stores its one element once.
    bool splat = source.dense && source.dense.isSplat();
    std::memcpy(&bytes[i * width], &raw[splat ? 0 : offset * width], width);
  }
  return arith::ConstantOp::create(
      b, loc, DenseElementsAttr::getFromRawBuffer(type, bytes));
}

/// Source positions of a data-movement result, or false when they depend on
/// something that is not constant.
using PositionsFn = function_ref<bool(SmallVectorImpl<int64_t> &)>;

/// One result of a data-movement op, of `type`, that moves the elements of
/// `sources`: an empty constant when it has no elements; a constant when all
/// `sources` are constant, the result is small and `positions` can say where
/// each element comes from (see gatherConstant); else what `build` emits.
static Value moveData(Node &node, ValueRange sources, RankedTensorType type,
                      PositionsFn positions, function_ref<Value()> build) {
  OpBuilder &b = node.rewriter;
  if (type.getNumElements() == 0)
    return emptyConstant(b, node.loc, type);
  Type elementType = type.getElementType();
  bool wholeBytes = elementType.isInteger(1) ||
                    (elementType.isIntOrFloat() &&
                     elementType.getIntOrFloatBitWidth() % 8 == 0);
  if (wholeBytes && type.getNumElements() <= kFoldLimit) {
    SmallVector<ConstantElements> constants;
    for (Value source : sources) {
      std::optional<ConstantElements> elements = readConstant(source);
      if (!elements)
        break;
      constants.push_back(*elements);
    }
    SmallVector<int64_t> where;
    if (constants.size() == sources.size() && positions(where))
      return gatherConstant(b, node.loc, constants, type, where);
  }
  return build();
}

/// Positions that keep the element order (reshape-like ops).
static bool samePositions(RankedTensorType type,
                          SmallVectorImpl<int64_t> &positions) {
  positions.resize(type.getNumElements());
  std::iota(positions.begin(), positions.end(), 0);
  return true;
}

/// Calls `fn` with every index of `shape`, in row-major order.
static void forEachIndex(ArrayRef<int64_t> shape,
                         function_ref<void(ArrayRef<int64_t>)> fn) {
  if (computeProduct(shape) == 0)
    return;
  SmallVector<int64_t> index(shape.size(), 0);
  while (true) {
    fn(index);
    int64_t d = static_cast<int64_t>(shape.size()) - 1;
    for (; d >= 0; --d) {
      if (++index[d] < shape[d])
        break;
      index[d] = 0;
    }
    if (d < 0)
      return;
  }
}

/// `moveData` for a result whose element at each index always comes from
/// position `position(index)` of the sources.
static Value moveElements(Node &node, ValueRange sources, RankedTensorType type,
                          function_ref<int64_t(ArrayRef<int64_t>)> position,
                          function_ref<Value()> build) {
  return moveData(
      node, sources, type,
      [&](SmallVectorImpl<int64_t> &positions) {
        forEachIndex(type.getShape(), [&](ArrayRef<int64_t> index) {
          positions.push_back(position(index));
        });
        return true;
      },
      build);
}

/// Replaces `node` by input 0 with the same elements in `shape`.
static LogicalResult replaceByReshape(Node &node, ArrayRef<int64_t> shape) {
  RankedTensorType type = node.type(0).clone(shape);
  return node.replace(moveData(
      node, node.input(0), type,
      [&](SmallVectorImpl<int64_t> &positions) {
        return samePositions(type, positions);
      },
      [&] { return reshape(node.rewriter, node.loc, node.input(0), shape); }));
}

/// `size` elements of `value` from `start` along `axis`.
static Value sliceAxis(OpBuilder &b, Location loc, Value value, int64_t axis,
                       int64_t start, int64_t size) {
  RankedTensorType type = tensorType(value);
  SmallVector<int64_t> starts(type.getRank(), 0);
  SmallVector<int64_t> sizes(type.getShape());
  starts[axis] = start;
  sizes[axis] = size;
  return sliceValue(b, loc, value, starts, sizes);
}

/// i32 `indices` (any shape) with negative entries wrapped by `dims`, which
/// broadcasts against them: ONNX counts negative indices from the end.
static Value wrapNegative(OpBuilder &b, Location loc, Value indices,
                          Value dims) {
  RankedTensorType type = tensorType(indices);
  Value zero = scalarLike(b, loc, indices, 0);
  Value negative =
      binary<tosa::GreaterOp>(b, loc, zero, indices, b.getI1Type());
  Value wrapped = binary<tosa::AddOp>(b, loc, indices, dims);
  return tosa::SelectOp::create(b, loc, type, negative, wrapped, indices);
}

/// Gathers slices of `data` along `axis` at the in-range i32 `indices`, of
/// any shape: the result is `data` with dim `axis` replaced by their shape.
/// tosa.gather picks rows K of [N, K, C]. With N the dims before `axis` and C
/// the ones after, row-major data already has that layout: only reshapes.
static Value gatherAlongAxis(OpBuilder &b, Location loc, Value data,
                             int64_t axis, Value indices) {
  RankedTensorType type = tensorType(data);
  RankedTensorType indicesType = tensorType(indices);
  ArrayRef<int64_t> shape = type.getShape();
  int64_t n = computeProduct(shape.take_front(axis));
  int64_t k = shape[axis];
  int64_t c = computeProduct(shape.drop_front(axis + 1));
  int64_t w = indicesType.getNumElements();
  Value values = reshape(b, loc, data, {n, k, c});
  Value rows = reshape(b, loc, indices, {1, w});
  if (n > 1)
    rows = tosa::TileOp::create(b, loc,
                                RankedTensorType::get({n, w}, b.getI32Type()),
                                rows, shapeValue(b, loc, {n, 1}));
  Value gathered =
      tosa::GatherOp::create(b, loc, type.clone({n, w, c}), values, rows);
  SmallVector<int64_t> resultShape(shape.take_front(axis));
  llvm::append_range(resultShape, indicesType.getShape());
  llvm::append_range(resultShape, shape.drop_front(axis + 1));
  return reshape(b, loc, gathered, resultShape);
}

/// Source positions of tosa.gather on [N, K, C] data picking `rows`: one row
/// list of W for every n (`perBatch`), or one shared by all.
static void gatherPositions(int64_t n, int64_t k, int64_t c,
                            ArrayRef<int64_t> rows, bool perBatch,
                            SmallVectorImpl<int64_t> &positions) {
  int64_t w = perBatch ? static_cast<int64_t>(rows.size()) / n
                       : static_cast<int64_t>(rows.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < w; ++j)
      for (int64_t l = 0; l < c; ++l)
        positions.push_back((i * k + rows[perBatch ? i * w + j : j]) * c + l);
}

/// `index` made non-negative for a dim of size `dim`; an error when it is out
/// of [-dim, dim).
static FailureOr<int64_t> normalizeIndex(Node &node, int64_t index,
                                         int64_t dim) {
  if (index < -dim || index >= dim) {
    node.emitError() << "index " << index << " is out of range for a dim of "
                     << "size " << dim;
    return failure();
  }
  return index < 0 ? index + dim : index;
}

//===----------------------------------------------------------------------===//
// Constants and shapes
//===----------------------------------------------------------------------===//

/// Constant-1 has `value`; Constant-12 adds the scalar and list forms, which
/// ONNX types as f32 and i64.
static LogicalResult convertConstant(Node &node) {
  OpBuilder &b = node.rewriter;
  TypedAttr value;
  if (ElementsAttr tensor = node.tensorAttr("value")) {
    value = cast<TypedAttr>(tensor);
  } else if (node.hasAttr("value_float")) {
    value = DenseElementsAttr::get(RankedTensorType::get({}, b.getF32Type()),
                                   node.floatAttr("value_float", 0));
  } else if (auto floats = node.floatsAttr("value_floats")) {
    auto type = RankedTensorType::get({static_cast<int64_t>(floats->size())},
                                      b.getF32Type());
    value = DenseElementsAttr::get(type, ArrayRef(*floats));
  } else if (node.hasAttr("value_int")) {
    value = DenseElementsAttr::get(RankedTensorType::get({}, b.getI64Type()),
                                   node.intAttr("value_int", 0));
  } else if (auto ints = node.intsAttr("value_ints")) {
    auto type = RankedTensorType::get({static_cast<int64_t>(ints->size())},
                                      b.getI64Type());
    value = DenseElementsAttr::get(type, ArrayRef(*ints));
  } else if (node.hasAttr("value_string") || node.hasAttr("value_strings")) {
    node.emitError() << "string constants are not supported";
    return failure();
  } else if (node.hasAttr("sparse_value")) {
    node.emitError() << "sparse constants are not supported";
    return failure();
  } else {
    node.emitError() << "expects one of the attributes 'value', "
                        "'value_float', 'value_floats', 'value_int' or "
                        "'value_ints'";
    return failure();
  }
  return node.replace(Value(arith::ConstantOp::create(b, node.loc, value)));
}

/// Shape-15 adds `start` and `end`, clamped like Python slices; before that
/// they are absent and take the whole shape.
static LogicalResult convertShape(Node &node) {
  if (failed(requireInputs(node, 1)))
    return failure();
  int64_t rank = node.rank(0);
  auto clamp = [&](int64_t i) {
    return std::clamp<int64_t>(i < 0 ? i + rank : i, 0, rank);
  };
  int64_t start = clamp(node.intAttr("start", 0));
  int64_t end = clamp(node.intAttr("end", rank));
  ArrayRef<int64_t> dims =
      node.shape(0).slice(start, std::max<int64_t>(end - start, 0));
  return node.replace(i64Constant(node.rewriter, node.loc,
                                  {static_cast<int64_t>(dims.size())}, dims));
}

/// Size is known from the static type.
static LogicalResult convertSize(Node &node) {
  if (failed(requireInputs(node, 1)))
    return failure();
  return node.replace(i64Constant(node.rewriter, node.loc, {},
                                  {node.type(0).getNumElements()}));
}

/// ConstantOfShape fills a constant shape with `value` (default f32 0).
static LogicalResult convertConstantOfShape(Node &node) {
  if (failed(requireInputs(node, 1)))
    return failure();
  auto shape = requireConstantShape(node, 0, "input");
  if (failed(shape))
    return failure();
  Attribute element = FloatAttr::get(node.rewriter.getF32Type(), 0.0);
  if (ElementsAttr value = node.tensorAttr("value")) {
    element = singleElement(value);
    if (!element) {
      node.emitError() << "attribute 'value' must hold one element, got "
                       << value.getType();
      return failure();
    }
  }
  auto type = RankedTensorType::get(*shape, cast<TypedAttr>(element).getType());
  if (type.getNumElements() == 0)
    return node.replace(emptyConstant(node.rewriter, node.loc, type));
  return node.replace(Value(arith::ConstantOp::create(
      node.rewriter, node.loc, DenseElementsAttr::get(type, element))));
}

/// Range(start, limit, delta) with constant scalars is itself a constant.
/// Elements accumulate `delta` in the element type, as ONNX Runtime does.
static LogicalResult convertRange(Node &node) {
  if (failed(requireInputs(node, 3)))
    return failure();
  Type elementType = node.elementType(0);
  for (unsigned i = 0; i < 3; ++i) {
    if (node.elementType(i) != elementType ||
        node.type(i).getNumElements() != 1) {
      node.emitError() << "start, limit and delta must be scalars of one "
                          "type, got "
                       << node.type(0) << ", " << node.type(1) << ", "
                       << node.type(2);
      return failure();
    }
  }
  bool isFloat = elementType.isF32() || elementType.isF64();
  if (!isFloat && !elementType.isInteger(16) && !elementType.isInteger(32) &&
      !elementType.isInteger(64)) {
    node.emitError() << "element type " << elementType
                     << " is not supported (f32, f64, i16, i32, i64)";
    return failure();
  }
  auto start = node.constantFloats(0), limit = node.constantFloats(1),
       delta = node.constantFloats(2);
  if (!start || !limit || !delta) {
    node.emitError() << "start, limit and delta must be constants: the "
                        "result size depends on them";
    return failure();
  }
  if ((*delta)[0] == 0) {
    node.emitError() << "delta must not be zero";
    return failure();
  }
  // Elements a Range may create on the host; more is not a sensible model.
  constexpr int64_t kMaxElements = 1 << 26;
  // ONNX Runtime subtracts in the element type, then divides in double.
  double span = elementType.isF32()
                    ? static_cast<double>(static_cast<float>((*limit)[0]) -
                                          static_cast<float>((*start)[0]))
                    : (*limit)[0] - (*start)[0];
  double count = std::max(std::ceil(span / (*delta)[0]), 0.0);
  if (!(count <= kMaxElements)) {
    node.emitError() << "the result would have more than " << kMaxElements
                     << " elements";
    return failure();
  }
  auto n = static_cast<int64_t>(count);
  auto type = RankedTensorType::get({n}, elementType);
  OpBuilder &b = node.rewriter;
  if (n == 0)
    return node.replace(emptyConstant(b, node.loc, type));
  DenseElementsAttr attr;
  if (elementType.isF32()) {
    SmallVector<float> values;
    float value = (*start)[0], step = (*delta)[0];
    for (int64_t i = 0; i < n; ++i, value += step)
      values.push_back(value);
    attr = DenseElementsAttr::get(type, ArrayRef(values));
  } else if (elementType.isF64()) {
    SmallVector<double> values;
    double value = (*start)[0], step = (*delta)[0];
    for (int64_t i = 0; i < n; ++i, value += step)
      values.push_back(value);
    attr = DenseElementsAttr::get(type, ArrayRef(values));
  } else {
    unsigned width = elementType.getIntOrFloatBitWidth();
    SmallVector<APInt> values;
    APInt value(width, *node.constantInts(0)->begin(), /*isSigned=*/true,
                /*implicitTrunc=*/true);
    APInt step(width, *node.constantInts(2)->begin(), /*isSigned=*/true,
               /*implicitTrunc=*/true);
    for (int64_t i = 0; i < n; ++i, value += step)
      values.push_back(value);
    attr = DenseElementsAttr::get(type, values);
  }
  return node.replace(Value(arith::ConstantOp::create(b, node.loc, attr)));
}

//===----------------------------------------------------------------------===//
// Reshapes
//===----------------------------------------------------------------------===//

/// Reshape's target for `requested`: -1 is inferred, 0 copies the input dim
/// unless `allowZero`.
static FailureOr<SmallVector<int64_t>>
resolveReshape(Node &node, ArrayRef<int64_t> requested, bool allowZero) {
  ArrayRef<int64_t> in = node.shape(0);
  int64_t total = node.type(0).getNumElements();
  SmallVector<int64_t> shape;
  std::optional<size_t> inferred;
  int64_t known = 1;
  for (auto [i, value] : llvm::enumerate(requested)) {
    int64_t dim = value;
    if (dim == -1) {
      if (inferred) {
        node.emitError() << "shape [" << requested << "] has more than one -1";
        return failure();
      }
      inferred = i;
      shape.push_back(1);
      continue;
    }
    if (dim == 0 && !allowZero) {
      if (i >= in.size()) {
        node.emitError() << "shape [" << requested << "] copies dim " << i
                         << " with 0, but the input " << node.type(0)
                         << " has rank " << in.size();
        return failure();
      }
      dim = in[i];
    }
    if (dim < 0 ||
        (dim > 0 && known > std::numeric_limits<int64_t>::max() / dim)) {
      node.emitError() << "shape [" << requested << "] has an invalid dim "
                       << dim;
      return failure();
    }
    shape.push_back(dim);
    known *= dim;
  }
  if (inferred) {
    if (known == 0 || total % known != 0) {
      node.emitError() << "cannot infer the -1 in shape [" << requested
                       << "] for " << total << " elements of " << node.type(0);
      return failure();
    }
    shape[*inferred] = total / known;
  } else if (known != total) {
    node.emitError() << "shape [" << requested << "] has " << known
                     << " elements, but the input " << node.type(0) << " has "
                     << total;
    return failure();
  }
  return shape;
}

/// Reshape-1: the shape is an attribute.
static LogicalResult convertReshapeAttr(Node &node) {
  if (failed(requireInputs(node, 1)))
    return failure();
  auto requested = node.intsAttr("shape");
  if (!requested) {
    node.emitError() << "requires the 'shape' attribute";
    return failure();
  }
  auto shape = resolveReshape(node, *requested, /*allowZero=*/false);
  if (failed(shape))
    return failure();
  return replaceByReshape(node, *shape);
}

/// Reshape-5 takes the shape as an input; Reshape-14 adds `allowzero`.
static LogicalResult convertReshape(Node &node) {
  if (failed(requireInputs(node, 2)))
    return failure();
  auto requested = requireConstantInts(node, 1, "shape");
  if (failed(requested))
    return failure();
  auto shape =
      resolveReshape(node, *requested, node.intAttr("allowzero", 0) != 0);
  if (failed(shape))
    return failure();
  return replaceByReshape(node, *shape);
}

/// Squeezes `axes`, or every size-1 dim when there are none.
static LogicalResult squeeze(Node &node,
                             std::optional<SmallVector<int64_t>> axes) {
  ArrayRef<int64_t> in = node.shape(0);
  SmallVector<int64_t> squeezed;
  if (axes) {
    auto normalized = node.normalizeAxes(*axes, node.rank(0));
    if (failed(normalized))
      return failure();
    for (int64_t axis : *normalized) {
      if (in[axis] != 1) {
        node.emitError() << "cannot squeeze dim " << axis << " of size "
                         << in[axis] << " in " << node.type(0);
        return failure();
      }
    }
    squeezed = *normalized;
  } else {
    for (auto [i, dim] : llvm::enumerate(in))
      if (dim == 1)
        squeezed.push_back(i);
  }
  SmallVector<int64_t> shape;
  for (auto [i, dim] : llvm::enumerate(in))
    if (!llvm::is_contained(squeezed, static_cast<int64_t>(i)))
      shape.push_back(dim);
  return replaceByReshape(node, shape);
}

/// Squeeze-1 and -11: axes are an attribute.
static LogicalResult convertSqueezeAttr(Node &node) {
  if (failed(requireInputs(node, 1)))
    return failure();
  return squeeze(node, node.intsAttr("axes"));
}

/// Squeeze-13: axes are an optional input.
static LogicalResult convertSqueeze(Node &node) {
  if (failed(requireInputs(node, 1)))
    return failure();
  if (!node.input(1))
    return squeeze(node, std::nullopt);
  auto axes = requireConstantInts(node, 1, "axes");
  if (failed(axes))
    return failure();
  return squeeze(node, *axes);
}

/// Inserts size-1 dims at `axes`, which index the result.
static LogicalResult unsqueeze(Node &node, ArrayRef<int64_t> axes) {
  int64_t rank = node.rank(0) + static_cast<int64_t>(axes.size());
  auto normalized = node.normalizeAxes(axes, rank);
  if (failed(normalized))
    return failure();
  if (normalized->size() != axes.size()) {
    node.emitError() << "axes [" << axes << "] repeat a dim";
    return failure();
  }
  SmallVector<int64_t> shape;
  ArrayRef<int64_t> in = node.shape(0);
  for (int64_t i = 0; i < rank; ++i) {
    if (llvm::is_contained(*normalized, i)) {
      shape.push_back(1);
    } else {
      shape.push_back(in.front());
      in = in.drop_front();
    }
  }
  return replaceByReshape(node, shape);
}

/// Unsqueeze-1 and -11: axes are an attribute.
static LogicalResult convertUnsqueezeAttr(Node &node) {
  if (failed(requireInputs(node, 1)))
    return failure();
  auto axes = node.intsAttr("axes");
  if (!axes) {
    node.emitError() << "requires the 'axes' attribute";
    return failure();
  }
  return unsqueeze(node, *axes);
}

/// Unsqueeze-13: axes are an input.
static LogicalResult convertUnsqueeze(Node &node) {
  if (failed(requireInputs(node, 2)))
    return failure();
  auto axes = requireConstantInts(node, 1, "axes");
  if (failed(axes))
    return failure();
  return unsqueeze(node, *axes);
}

/// Flatten to 2-D at `axis`, which may equal the rank (then the inner dim
/// is 1).
static LogicalResult convertFlatten(Node &node) {
  if (failed(requireInputs(node, 1)))
    return failure();
  int64_t rank = node.rank(0);
  int64_t axis = node.intAttr("axis", 1);
  if (axis < -rank || axis > rank) {
    node.emitError() << "axis " << axis << " is out of range [" << -rank << ", "
                     << rank << "]";
    return failure();
  }
  if (axis < 0)
    axis += rank;
  ArrayRef<int64_t> in = node.shape(0);
  return replaceByReshape(node, {computeProduct(in.take_front(axis)),
                                 computeProduct(in.drop_front(axis))});
}

//===----------------------------------------------------------------------===//
// Permutations, concatenation, slices
//===----------------------------------------------------------------------===//

/// Transpose by `perm`, reversing the dims by default.
static LogicalResult convertTranspose(Node &node) {
  if (failed(requireInputs(node, 1)))
    return failure();
  int64_t rank = node.rank(0);
  SmallVector<int64_t> perm =
      llvm::to_vector(llvm::reverse(llvm::seq<int64_t>(0, rank)));
  if (auto attr = node.intsAttr("perm"))
    perm = *attr;
  if (static_cast<int64_t>(perm.size()) != rank || !isPermutationVector(perm)) {
    node.emitError() << "perm [" << perm << "] is not a permutation of the "
                     << rank << " dims of " << node.type(0);
    return failure();
  }
  ArrayRef<int64_t> in = node.shape(0);
  RankedTensorType type = node.type(0).clone(applyPermutation(in, perm));
  SmallVector<int64_t> strides = computeSuffixProduct(in);
  return node.replace(moveElements(
      node, node.input(0), type,
      [&](ArrayRef<int64_t> index) {
        int64_t position = 0;
        for (auto [i, p] : llvm::enumerate(perm))
          position += index[i] * strides[p];
        return position;
      },
      [&] { return transpose(node.rewriter, node.loc, node.input(0), perm); }));
}

/// Concat along `axis`; inputs share the element type and all other dims.
static LogicalResult convertConcat(Node &node) {
  if (node.numInputs() == 0) {
    node.emitError() << "expects at least one input";
    return failure();
  }
  if (failed(requireInputs(node, node.numInputs())))
    return failure();
  // Concat-1 defaults the axis to 1; from Concat-4 on it is required.
  if (!node.hasAttr("axis") && node.opset() >= 4) {
    node.emitError() << "requires the 'axis' attribute";
    return failure();
  }
  RankedTensorType first = node.type(0);
  if (first.getRank() == 0) {
    node.emitError() << "inputs must have rank >= 1, got " << first;
    return failure();
  }
  auto axis = node.normalizeAxis(node.intAttr("axis", 1), first.getRank());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(first.getShape());
  shape[*axis] = 0;
  for (unsigned i = 0; i < node.numInputs(); ++i) {
    RankedTensorType type = node.type(i);
    bool matches = type.getElementType() == first.getElementType() &&
                   type.getRank() == first.getRank();
    for (int64_t d = 0; matches && d < type.getRank(); ++d)
      matches = d == *axis || type.getDimSize(d) == first.getDimSize(d);
    if (!matches) {
      node.emitError() << "input #" << i << " of type " << type
                       << " does not match " << first << " outside axis "
                       << *axis;
      return failure();
    }
    shape[*axis] += type.getDimSize(*axis);
  }
  RankedTensorType type = first.clone(shape);
  // Each input's block of positions and its offset along the axis.
  SmallVector<int64_t> bases = {0}, offsets = {0};
  for (unsigned i = 0; i < node.numInputs(); ++i) {
    bases.push_back(bases.back() + node.type(i).getNumElements());
    offsets.push_back(offsets.back() + node.shape(i)[*axis]);
  }
  return node.replace(moveElements(
      node, node.inputs, type,
      [&](ArrayRef<int64_t> index) {
        size_t i = std::distance(offsets.begin(),
                                 llvm::upper_bound(offsets, index[*axis])) -
                   1;
        SmallVector<int64_t> local(index);
        local[*axis] -= offsets[i];
        return bases[i] + linearize(local, computeSuffixProduct(node.shape(i)));
      },
      [&]() -> Value {
        SmallVector<Value> parts;
        for (Value input : node.inputs)
          if (tensorType(input).getNumElements() != 0)
            parts.push_back(input);
        if (parts.size() == 1)
          return parts.front();
        return tosa::ConcatOp::create(node.rewriter, node.loc, type, parts,
                                      node.rewriter.getI32IntegerAttr(*axis));
      }));
}

/// Slices input 0. Empty `axes` means the first dims; empty `steps` ones.
static LogicalResult slice(Node &node, ArrayRef<int64_t> starts,
                           ArrayRef<int64_t> ends, ArrayRef<int64_t> axes,
                           ArrayRef<int64_t> steps) {
  int64_t rank = node.rank(0);
  ArrayRef<int64_t> in = node.shape(0);
  SmallVector<int64_t> allAxes(axes);
  if (allAxes.empty())
    allAxes = llvm::to_vector(llvm::seq<int64_t>(0, starts.size()));
  if (ends.size() != starts.size() || allAxes.size() != starts.size() ||
      (!steps.empty() && steps.size() != starts.size())) {
    node.emitError() << "starts, ends, axes and steps must have one entry "
                        "per sliced axis, got "
                     << starts.size() << ", " << ends.size() << ", "
                     << allAxes.size() << ", " << steps.size();
    return failure();
  }
  if (rank == 0) {
    node.emitError() << "cannot slice the scalar " << node.type(0);
    return failure();
  }
  // Per dim of the input: first element, step and number of elements taken.
  SmallVector<int64_t> first(rank, 0), step(rank, 1), count(in);
  SmallVector<bool> seen(rank, false);
  for (auto [i, rawAxis] : llvm::enumerate(allAxes)) {
    auto axis = node.normalizeAxis(rawAxis, rank);
    if (failed(axis))
      return failure();
    if (seen[*axis]) {
      node.emitError() << "axis " << rawAxis << " is sliced twice";
      return failure();
    }
    seen[*axis] = true;
    int64_t s = steps.empty() ? 1 : steps[i];
    if (s == 0) {
      node.emitError() << "steps must not be zero";
      return failure();
    }
    int64_t dim = in[*axis];
    int64_t start = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t end = ends[i] < 0 ? ends[i] + dim : ends[i];
    int64_t n;
    if (dim == 0) {
      n = 0;
    } else if (s > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      n = std::max<int64_t>(0, llvm::divideCeil(end - start, s));
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      n = std::max<int64_t>(0, llvm::divideCeil(start - end, -s));
    }
    first[*axis] = start;
    step[*axis] = s;
    count[*axis] = n;
  }
  RankedTensorType type = node.type(0).clone(count);
  SmallVector<int64_t> strides = computeSuffixProduct(in);
  return node.replace(moveElements(
      node, node.input(0), type,
      [&](ArrayRef<int64_t> index) {
        int64_t position = 0;
        for (int64_t d = 0; d < rank; ++d)
          position += (first[d] + index[d] * step[d]) * strides[d];
        return position;
      },
      [&] {
        // Cut out the span the elements lie in, then pick every step-th:
        // by reversing for step -1, by a gather of constant indices else.
        OpBuilder &b = node.rewriter;
        SmallVector<int64_t> lo(rank), span(rank);
        for (int64_t d = 0; d < rank; ++d) {
          lo[d] = step[d] > 0 ? first[d] : first[d] + (count[d] - 1) * step[d];
          span[d] = (count[d] - 1) * std::abs(step[d]) + 1;
        }
        Value value = sliceValue(b, node.loc, node.input(0), lo, span);
        for (int64_t d = 0; d < rank; ++d) {
          if (step[d] == 1)
            continue;
          RankedTensorType valueType = tensorType(value);
          if (step[d] == -1) {
            value = tosa::ReverseOp::create(b, node.loc, valueType, value,
                                            b.getI32IntegerAttr(d));
            continue;
          }
          SmallVector<int64_t> picks;
          for (int64_t i = 0; i < count[d]; ++i)
            picks.push_back(std::abs(step[d]) *
                            (step[d] > 0 ? i : count[d] - 1 - i));
          value = gatherAlongAxis(b, node.loc, value, d,
                                  i32Constant(b, node.loc, {count[d]}, picks));
        }
        return value;
      }));
}

/// Slice-1: starts, ends and axes are attributes.
static LogicalResult convertSliceAttr(Node &node) {
  if (failed(requireInputs(node, 1)))
    return failure();
  auto starts = node.intsAttr("starts");
  auto ends = node.intsAttr("ends");
  if (!starts || !ends) {
    node.emitError() << "requires the 'starts' and 'ends' attributes";
    return failure();
  }
  return slice(node, *starts, *ends,
               node.intsAttr("axes").value_or(SmallVector<int64_t>()), {});
}

/// Slice-10 on: starts, ends, axes and steps are (constant) inputs.
static LogicalResult convertSlice(Node &node) {
  if (failed(requireInputs(node, 3)))
    return failure();
  auto starts = requireConstantInts(node, 1, "starts");
  if (failed(starts))
    return failure();
  auto ends = requireConstantInts(node, 2, "ends");
  if (failed(ends))
    return failure();
  auto axes = optionalConstantInts(node, 3, "axes");
  if (failed(axes))
    return failure();
  auto steps = optionalConstantInts(node, 4, "steps");
  if (failed(steps))
    return failure();
  return slice(node, *starts, *ends, *axes, *steps);
}

/// Splits input 0 along `axis` into pieces of `sizes`.
static LogicalResult splitInto(Node &node, int64_t axis,
                               ArrayRef<int64_t> sizes) {
  ArrayRef<int64_t> in = node.shape(0);
  if (static_cast<int64_t>(sizes.size()) != node.numOutputs() ||
      llvm::any_of(sizes, [](int64_t s) { return s < 0; }) ||
      std::accumulate(sizes.begin(), sizes.end(), int64_t(0)) != in[axis]) {
    node.emitError() << "split sizes [" << sizes << "] must be "
                     << node.numOutputs()
                     << " non-negative numbers adding up to dim " << axis
                     << " of " << node.type(0);
    return failure();
  }
  SmallVector<Value> results;
  SmallVector<int64_t> strides = computeSuffixProduct(in);
  int64_t offset = 0;
  for (int64_t size : sizes) {
    SmallVector<int64_t> shape(in);
    shape[axis] = size;
    RankedTensorType type = node.type(0).clone(shape);
    results.push_back(moveElements(
        node, node.input(0), type,
        [&](ArrayRef<int64_t> index) {
          return linearize(index, strides) + offset * strides[axis];
        },
        [&] {
          return sliceAxis(node.rewriter, node.loc, node.input(0), axis, offset,
                           size);
        }));
    offset += size;
  }
  return node.replace(results);
}

/// Splits into `sizes` when given, else into equal parts (the last one
/// smaller when `ceilParts`, as num_outputs allows from Split-18 on).
static LogicalResult
split(Node &node, std::optional<SmallVector<int64_t>> sizes, bool ceilParts) {
  if (failed(requireInputs(node, 1)))
    return failure();
  if (node.rank(0) == 0) {
    node.emitError() << "cannot split the scalar " << node.type(0);
    return failure();
  }
  auto axis = node.normalizeAxis(node.intAttr("axis", 0), node.rank(0));
  if (failed(axis))
    return failure();
  if (sizes)
    return splitInto(node, *axis, *sizes);
  int64_t dim = node.shape(0)[*axis];
  int64_t parts = node.numOutputs();
  int64_t part = 0;
  if (parts > 0)
    part = ceilParts ? llvm::divideCeil(dim, parts) : dim / parts;
  if (parts == 0 || (!ceilParts && dim % parts != 0) ||
      part * (parts - 1) > dim) {
    node.emitError() << "cannot split dim " << *axis << " of " << node.type(0)
                     << " into " << parts
                     << (ceilParts ? " parts" : " equal parts");
    return failure();
  }
  SmallVector<int64_t> equal(parts, part);
  equal.back() = dim - part * (parts - 1);
  return splitInto(node, *axis, equal);
}

/// Split-1 and -2: sizes in the `split` attribute (Split-1 also took them
/// as a second input).
static LogicalResult convertSplitAttr(Node &node) {
  if (auto sizes = node.intsAttr("split"))
    return split(node, *sizes, /*ceilParts=*/false);
  if (node.input(1)) {
    auto sizes = requireConstantInts(node, 1, "split");
    if (failed(sizes))
      return failure();
    return split(node, *sizes, /*ceilParts=*/false);
  }
  return split(node, std::nullopt, /*ceilParts=*/false);
}

/// Split-13: sizes in the optional `split` input; an empty one counts as
/// absent, as in ONNX Runtime.
static LogicalResult convertSplit(Node &node) {
  if (!node.input(1) || node.type(1).getNumElements() == 0)
    return split(node, std::nullopt, /*ceilParts=*/false);
  auto sizes = requireConstantInts(node, 1, "split");
  if (failed(sizes))
    return failure();
  return split(node, *sizes, /*ceilParts=*/false);
}

/// Split-18: the `split` input or the `num_outputs` attribute.
static LogicalResult convertSplitNumOutputs(Node &node) {
  if (node.input(1) && node.hasAttr("num_outputs")) {
    node.emitError() << "takes either the 'split' input or the "
                        "'num_outputs' attribute, not both";
    return failure();
  }
  if (node.hasAttr("num_outputs") &&
      node.intAttr("num_outputs", 0) !=
          static_cast<int64_t>(node.numOutputs())) {
    node.emitError() << "num_outputs = " << node.intAttr("num_outputs", 0)
                     << " but the node has " << node.numOutputs() << " outputs";
    return failure();
  }
  if (!node.input(1))
    return split(node, std::nullopt, /*ceilParts=*/true);
  return convertSplit(node);
}

//===----------------------------------------------------------------------===//
// Gathers
//===----------------------------------------------------------------------===//

/// Gather along `axis` with indices of any shape. Constant indices are
/// checked and made non-negative here; run-time ones wrap negatives in TOSA
/// (out-of-range ones are undefined, as in ONNX).
static LogicalResult convertGather(Node &node) {
  if (failed(requireInputs(node, 2)) || failed(requireIndexType(node, 1)))
    return failure();
  RankedTensorType dataType = node.type(0);
  if (dataType.getRank() == 0) {
    node.emitError() << "cannot gather from the scalar " << dataType;
    return failure();
  }
  auto axis = node.normalizeAxis(node.intAttr("axis", 0), dataType.getRank());
  if (failed(axis))
    return failure();
  ArrayRef<int64_t> in = dataType.getShape();
  int64_t dim = in[*axis];
  SmallVector<int64_t> shape(in.take_front(*axis));
  llvm::append_range(shape, node.shape(1));
  llvm::append_range(shape, in.drop_front(*axis + 1));
  RankedTensorType type = dataType.clone(shape);

  std::optional<SmallVector<int64_t>> indices = node.constantInts(1);
  if (indices) {
    for (int64_t &index : *indices) {
      auto normalized = normalizeIndex(node, index, dim);
      if (failed(normalized))
        return failure();
      index = *normalized;
    }
  }
  if (!indices && dataType.getNumElements() == 0 &&
      type.getNumElements() != 0) {
    node.emitError() << "cannot gather from the empty " << dataType;
    return failure();
  }
  OpBuilder &b = node.rewriter;
  return node.replace(moveData(
      node, node.input(0), type,
      [&](SmallVectorImpl<int64_t> &positions) {
        if (!indices)
          return false;
        gatherPositions(computeProduct(in.take_front(*axis)), dim,
                        computeProduct(in.drop_front(*axis + 1)), *indices,
                        /*perBatch=*/false, positions);
        return true;
      },
      [&] {
        Value rows;
        if (indices) {
          rows = i32Constant(b, node.loc, node.shape(1), *indices);
        } else {
          rows = castTo(b, node.loc, node.input(1), b.getI32Type());
          rows = wrapNegative(
              b, node.loc, rows,
              scalar(b, node.loc, b.getI32Type(), dim, node.rank(1)));
        }
        return gatherAlongAxis(b, node.loc, node.input(0), *axis, rows);
      }));
}

/// GatherND-11 (batch_dims = 0) and -12 (batch_dims).
/// With b batch dims and m = indices.shape[-1], the data is [B, K, C] with
/// B = data[:b], K = data[b:b+m], C = data[b+m:]: each index tuple becomes
/// one row of K (its row-major linearization) for tosa.gather.
static LogicalResult convertGatherND(Node &node) {
  if (failed(requireInputs(node, 2)) || failed(requireIndexType(node, 1)))
    return failure();
  ArrayRef<int64_t> in = node.shape(0), idx = node.shape(1);
  int64_t rank = in.size(), batchDims = node.intAttr("batch_dims", 0);
  if (idx.empty() || batchDims < 0 ||
      batchDims >= std::min<int64_t>(rank, idx.size())) {
    node.emitError() << "batch_dims = " << batchDims
                     << " must be below the ranks of data " << node.type(0)
                     << " and indices " << node.type(1)
                     << " (indices must have rank >= 1)";
    return failure();
  }
  int64_t m = idx.back();
  if (m < 1 || m > rank - batchDims ||
      in.take_front(batchDims) != idx.take_front(batchDims)) {
    node.emitError() << "indices " << node.type(1) << " do not fit data "
                     << node.type(0) << " with batch_dims = " << batchDims;
    return failure();
  }
  ArrayRef<int64_t> tupleDims = in.slice(batchDims, m);
  int64_t batch = computeProduct(in.take_front(batchDims));
  int64_t k = computeProduct(tupleDims);
  int64_t c = computeProduct(in.drop_front(batchDims + m));
  int64_t w = computeProduct(idx.slice(batchDims, idx.size() - batchDims - 1));
  SmallVector<int64_t> shape(idx.drop_back());
  llvm::append_range(shape, in.drop_front(batchDims + m));
  RankedTensorType type = node.type(0).clone(shape);
  SmallVector<int64_t> strides = computeSuffixProduct(tupleDims);

  // Rows of K for constant indices.
  std::optional<SmallVector<int64_t>> rows;
  if (auto values = node.constantInts(1)) {
    rows.emplace();
    for (int64_t t = 0; t < batch * w; ++t) {
      int64_t row = 0;
      for (int64_t j = 0; j < m; ++j) {
        auto index = normalizeIndex(node, (*values)[t * m + j], tupleDims[j]);
        if (failed(index))
          return failure();
        row += *index * strides[j];
      }
      rows->push_back(row);
    }
  }
  if (!rows && node.type(0).getNumElements() == 0 &&
      type.getNumElements() != 0) {
    node.emitError() << "cannot gather from the empty " << node.type(0);
    return failure();
  }
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  return node.replace(moveData(
      node, node.input(0), type,
      [&](SmallVectorImpl<int64_t> &positions) {
        if (!rows)
          return false;
        gatherPositions(batch, k, c, *rows, /*perBatch=*/true, positions);
        return true;
      },
      [&] {
        Value rowValues;
        if (rows) {
          rowValues = i32Constant(b, loc, {batch, w}, *rows);
        } else {
          Value tuples =
              castTo(b, loc, reshape(b, loc, node.input(1), {batch, w, m}),
                     b.getI32Type());
          tuples = wrapNegative(b, loc, tuples,
                                i32Constant(b, loc, {1, 1, m}, tupleDims));
          if (m > 1)
            tuples = reduceSum(
                b, loc,
                mul(b, loc, tuples, i32Constant(b, loc, {1, 1, m}, strides)),
                {2});
          rowValues = reshape(b, loc, tuples, {batch, w});
        }
        Value values = reshape(b, loc, node.input(0), {batch, k, c});
        Value gathered = tosa::GatherOp::create(
            b, loc, type.clone({batch, w, c}), values, rowValues);
        return reshape(b, loc, gathered, shape);
      }));
}

/// GatherElements: out[i...] = data[i... with i[axis] = indices[i...]].
/// Each output element reads one data element, at a position that is the
/// index times the axis stride plus a constant offset from the other
/// coordinates; tosa.gather on the data as [1, size, 1] reads it.
static LogicalResult convertGatherElements(Node &node) {
  if (failed(requireInputs(node, 2)) || failed(requireIndexType(node, 1)))
    return failure();
  ArrayRef<int64_t> in = node.shape(0), idx = node.shape(1);
  int64_t rank = in.size();
  if (rank == 0 || static_cast<int64_t>(idx.size()) != rank) {
    node.emitError() << "data " << node.type(0) << " and indices "
                     << node.type(1) << " must have the same rank >= 1";
    return failure();
  }
  auto axis = node.normalizeAxis(node.intAttr("axis", 0), rank);
  if (failed(axis))
    return failure();
  for (int64_t d = 0; d < rank; ++d) {
    if (d != *axis && idx[d] > in[d]) {
      node.emitError() << "indices " << node.type(1) << " exceed data "
                       << node.type(0) << " in dim " << d;
      return failure();
    }
  }
  int64_t total = node.type(0).getNumElements();
  if (total > std::numeric_limits<int32_t>::max()) {
    node.emitError() << "data " << node.type(0)
                     << " has too many elements for i32 positions";
    return failure();
  }
  RankedTensorType type = node.type(0).clone(idx);
  if (total == 0 && type.getNumElements() != 0) {
    node.emitError() << "cannot gather from the empty " << node.type(0);
    return failure();
  }
  SmallVector<int64_t> strides = computeSuffixProduct(in);
  // The position each output element reads, less index * stride[axis].
  SmallVector<int64_t> offsets;
  forEachIndex(idx, [&](ArrayRef<int64_t> index) {
    SmallVector<int64_t> at(index);
    at[*axis] = 0;
    offsets.push_back(linearize(at, strides));
  });
  std::optional<SmallVector<int64_t>> positions = node.constantInts(1);
  if (positions) {
    for (auto [position, offset] : llvm::zip_equal(*positions, offsets)) {
      auto index = normalizeIndex(node, position, in[*axis]);
      if (failed(index))
        return failure();
      position = *index * strides[*axis] + offset;
    }
  }
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  int64_t w = type.getNumElements();
  return node.replace(moveData(
      node, node.input(0), type,
      [&](SmallVectorImpl<int64_t> &result) {
        if (!positions)
          return false;
        llvm::append_range(result, *positions);
        return true;
      },
      [&] {
        Value rows;
        if (positions) {
          rows = i32Constant(b, loc, {1, w}, *positions);
        } else {
          Value index = castTo(b, loc, node.input(1), b.getI32Type());
          index = wrapNegative(b, loc, index,
                               scalar(b, loc, b.getI32Type(), in[*axis], rank));
          index = mul(b, loc, index,
                      scalar(b, loc, b.getI32Type(), strides[*axis], rank));
          index = binary<tosa::AddOp>(b, loc, index,
                                      i32Constant(b, loc, idx, offsets));
          rows = reshape(b, loc, index, {1, w});
        }
        Value values = reshape(b, loc, node.input(0), {1, total, 1});
        Value gathered =
            tosa::GatherOp::create(b, loc, type.clone({1, w, 1}), values, rows);
        return reshape(b, loc, gathered, idx);
      }));
}

//===----------------------------------------------------------------------===//
// Broadcasts, tiles, masks, pads
//===----------------------------------------------------------------------===//

/// Replaces `node` by input 0, reshaped to `multiples.size()` dims, tiled by
/// `multiples`. Element o of the result reads element o % dim in every dim.
/// ScatterND (reduction "none") with constant indices: the output is `data`
/// with the slices named by `indices` replaced by rows of `updates`. Once the
/// indices are known, so is the source of every output row, so the op is one
/// tosa.gather with constant rows from [data rows; update rows] laid end to
/// end as [1, K + W, C] (K data rows and W update rows of C elements each).
/// TorchScript exports of several decoders (OPT, Falcon, BLOOM, GPT-J, ...)
/// use it to write the padding mask into the causal mask.
static LogicalResult convertScatterND(Node &node) {
  if (failed(requireInputs(node, 3)) || failed(checkNumOutputs(node, 1)))
    return failure();
  std::string reduction = node.stringAttr("reduction", "none");
  if (reduction != "none") {
    node.emitError() << "reduction '" << reduction
                     << "' is not supported, only 'none'";
    return failure();
  }
  RankedTensorType dataType = node.type(0);
  ArrayRef<int64_t> dataShape = dataType.getShape();
  ArrayRef<int64_t> indicesShape = node.shape(1);
  if (node.elementType(2) != dataType.getElementType()) {
    node.emitError() << "updates " << node.type(2)
                     << " must have the element type of data " << dataType;
    return failure();
  }
  int64_t depth = indicesShape.empty() ? 0 : indicesShape.back();
  if (depth < 1 || depth > dataType.getRank()) {
    node.emitError() << "the last dim of indices " << node.type(1)
                     << " must be in [1, " << dataType.getRank() << "]";
    return failure();
  }
  SmallVector<int64_t> updatesShape(indicesShape.drop_back());
  llvm::append_range(updatesShape, dataShape.drop_front(depth));
  if (node.shape(2) != ArrayRef<int64_t>(updatesShape)) {
    node.emitError() << "updates " << node.type(2) << " must have shape "
                     << "indices.shape[:-1] + data.shape[" << depth
                     << ":] for data " << dataType << " and indices "
                     << node.type(1);
    return failure();
  }
  auto indices = requireConstantInts(node, 1, "indices");
  if (failed(indices))
    return failure();

  int64_t k = computeProduct(dataShape.take_front(depth));
  int64_t c = computeProduct(dataShape.drop_front(depth));
  int64_t w = computeProduct(indicesShape.drop_back());
  if ((k + w) * std::max<int64_t>(c, 1) >= (int64_t(1) << 31)) {
    node.emitError() << "data and updates are too large to scatter";
    return failure();
  }
  if (w == 0 || c == 0)
    return node.replace(node.input(0));
  SmallVector<int64_t> rows(k);
  std::iota(rows.begin(), rows.end(), 0);
  for (int64_t u = 0; u < w; ++u) {
    int64_t row = 0;
    for (int64_t d = 0; d < depth; ++d) {
      auto index =
          normalizeIndex(node, (*indices)[u * depth + d], dataShape[d]);
      if (failed(index))
        return failure();
      row = row * dataShape[d] + *index;
    }
    // ONNX leaves duplicate indices undefined; refuse them rather than pick.
    if (rows[row] != row) {
      node.emitError() << "indices write the same slice twice (update "
                       << rows[row] - k << " and " << u << ")";
      return failure();
    }
    rows[row] = k + u;
  }

  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  Value data = node.input(0), updates = node.input(2);
  Value result = moveData(
      node, {data, updates}, dataType,
      [&](SmallVectorImpl<int64_t> &positions) {
        gatherPositions(1, k + w, c, rows, /*perBatch=*/false, positions);
        return true;
      },
      [&] {
        Type elementType = dataType.getElementType();
        Value both = tosa::ConcatOp::create(
            b, loc, RankedTensorType::get({1, k + w, c}, elementType),
            ValueRange{reshape(b, loc, data, {1, k, c}),
                       reshape(b, loc, updates, {1, w, c})},
            b.getI32IntegerAttr(1));
        Value gathered = tosa::GatherOp::create(
            b, loc, RankedTensorType::get({1, k, c}, elementType), both,
            i32Constant(b, loc, {1, k}, rows));
        return reshape(b, loc, gathered, dataShape);
      });
  return node.replace(result);
}

static LogicalResult replaceByTile(Node &node, ArrayRef<int64_t> multiples) {
  SmallVector<int64_t> in(multiples.size() - node.rank(0), 1);
  llvm::append_range(in, node.shape(0));
  SmallVector<int64_t> shape;
  for (auto [dim, times] : llvm::zip_equal(in, multiples))
    shape.push_back(dim * times);
  RankedTensorType type = node.type(0).clone(shape);
  SmallVector<int64_t> strides = computeSuffixProduct(in);
  return node.replace(moveElements(
      node, node.input(0), type,
      [&](ArrayRef<int64_t> index) {
        int64_t position = 0;
        for (auto [i, dim] : llvm::enumerate(in))
          position += (index[i] % dim) * strides[i];
        return position;
      },
      [&]() -> Value {
        OpBuilder &b = node.rewriter;
        Value value = reshape(b, node.loc, node.input(0), in);
        if (llvm::all_of(multiples, [](int64_t m) { return m == 1; }))
          return value;
        return tosa::TileOp::create(b, node.loc, type, value,
                                    shapeValue(b, node.loc, multiples));
      }));
}

/// Expand broadcasts both ways (numpy rules) to a constant shape.
static LogicalResult convertExpand(Node &node) {
  if (failed(requireInputs(node, 2)))
    return failure();
  auto requested = requireConstantShape(node, 1, "shape");
  if (failed(requested))
    return failure();
  auto shape = broadcastShape(node.shape(0), *requested);
  if (failed(shape)) {
    node.emitError() << "cannot broadcast " << node.type(0) << " to ["
                     << *requested << "]";
    return failure();
  }
  SmallVector<int64_t> in(shape->size() - node.rank(0), 1);
  llvm::append_range(in, node.shape(0));
  SmallVector<int64_t> multiples;
  for (auto [from, to] : llvm::zip_equal(in, *shape))
    multiples.push_back(from == to ? 1 : to);
  return replaceByTile(node, multiples);
}

/// Tile-6 on: one constant repeat count per dim.
static LogicalResult convertTile(Node &node) {
  if (failed(requireInputs(node, 2)))
    return failure();
  auto repeats = requireConstantInts(node, 1, "repeats");
  if (failed(repeats))
    return failure();
  if (static_cast<int64_t>(repeats->size()) != node.rank(0) ||
      llvm::any_of(*repeats, [](int64_t r) { return r < 0; })) {
    node.emitError() << "repeats [" << *repeats << "] must be " << node.rank(0)
                     << " non-negative counts for " << node.type(0);
    return failure();
  }
  return replaceByTile(node, *repeats);
}

/// Tile-1: `tiles` copies along the single dim `axis`.
static LogicalResult convertTileAxis(Node &node) {
  if (failed(requireInputs(node, 3)))
    return failure();
  auto tiles = requireConstantInts(node, 1, "tiles");
  if (failed(tiles))
    return failure();
  auto axis = requireConstantInts(node, 2, "axis");
  if (failed(axis))
    return failure();
  if (tiles->size() != 1 || axis->size() != 1 || tiles->front() < 0) {
    node.emitError() << "tiles and axis must be single values, tiles >= 0";
    return failure();
  }
  auto normalized = node.normalizeAxis(axis->front(), node.rank(0));
  if (failed(normalized))
    return failure();
  SmallVector<int64_t> multiples(node.rank(0), 1);
  multiples[*normalized] = tiles->front();
  return replaceByTile(node, multiples);
}

/// Trilu keeps the upper (j - i >= k) or lower (j - i <= k) triangle of the
/// last two dims and zeroes the rest: a select with a constant mask.
static LogicalResult convertTrilu(Node &node) {
  if (failed(requireInputs(node, 1)))
    return failure();
  RankedTensorType type = node.type(0);
  int64_t rank = type.getRank();
  if (rank < 2) {
    node.emitError() << "input must have rank >= 2, got " << type;
    return failure();
  }
  int64_t k = 0;
  if (node.input(1)) {
    auto values = requireConstantInts(node, 1, "k");
    if (failed(values))
      return failure();
    if (values->size() != 1) {
      node.emitError() << "k must be a single value, got " << node.type(1);
      return failure();
    }
    k = values->front();
  }
  bool upper = node.intAttr("upper", 1) != 0;
  int64_t rows = type.getDimSize(rank - 2), cols = type.getDimSize(rank - 1);
  SmallVector<bool> mask;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      mask.push_back(upper ? j - i >= k : j - i <= k);
  OpBuilder &b = node.rewriter;
  if (type.getNumElements() == 0)
    return node.replace(emptyConstant(b, node.loc, type));
  if (llvm::all_of(mask, [](bool keep) { return keep; }))
    return node.replace(node.input(0));
  SmallVector<int64_t> maskShape(rank - 2, 1);
  maskShape.append({rows, cols});
  auto maskType = RankedTensorType::get(maskShape, b.getI1Type());
  Value maskValue = tosa::ConstOp::create(
      b, node.loc, maskType, DenseElementsAttr::get(maskType, mask));
  Value zero = scalarLike(b, node.loc, node.input(0), 0);
  return node.replace(Value(tosa::SelectOp::create(b, node.loc, type, maskValue,
                                                   node.input(0), zero)));
}

/// Pads input 0 by `pads` ([begin of each axis..., end of each axis...]) on
/// `axes` (all when empty); `constant` is the rank-1 fill for mode
/// "constant". Negative pads crop first; the other modes concatenate slices.
static LogicalResult pad(Node &node, ArrayRef<int64_t> pads,
                         ArrayRef<int64_t> axes, StringRef mode,
                         function_ref<FailureOr<Value>()> constant) {
  RankedTensorType type = node.type(0);
  int64_t rank = type.getRank();
  SmallVector<int64_t> allAxes(axes);
  if (allAxes.empty())
    allAxes = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  if (pads.size() != 2 * allAxes.size()) {
    node.emitError() << "pads [" << pads << "] must have 2 x " << allAxes.size()
                     << " entries";
    return failure();
  }
  if (mode != "constant" && mode != "edge" && mode != "reflect" &&
      mode != "wrap") {
    node.emitError() << "mode '" << mode
                     << "' is not one of constant, edge, reflect, wrap";
    return failure();
  }
  SmallVector<int64_t> before(rank, 0), after(rank, 0);
  SmallVector<bool> seen(rank, false);
  for (auto [i, rawAxis] : llvm::enumerate(allAxes)) {
    auto axis = node.normalizeAxis(rawAxis, rank);
    if (failed(axis))
      return failure();
    if (seen[*axis]) {
      node.emitError() << "axis " << rawAxis << " is padded twice";
      return failure();
    }
    seen[*axis] = true;
    before[*axis] = pads[i];
    after[*axis] = pads[i + allAxes.size()];
  }
  // Crop negative pads away.
  SmallVector<int64_t> starts(rank), sizes(rank), shape(rank);
  for (int64_t d = 0; d < rank; ++d) {
    starts[d] = std::max<int64_t>(-before[d], 0);
    sizes[d] = type.getDimSize(d) - starts[d] - std::max<int64_t>(-after[d], 0);
    before[d] = std::max<int64_t>(before[d], 0);
    after[d] = std::max<int64_t>(after[d], 0);
    shape[d] = sizes[d] + before[d] + after[d];
    if (sizes[d] < 0) {
      node.emitError() << "pads [" << pads << "] crop more than dim " << d
                       << " of " << type << " holds";
      return failure();
    }
  }
  OpBuilder &b = node.rewriter;
  Location loc = node.loc;
  RankedTensorType resultType = type.clone(shape);
  if (resultType.getNumElements() == 0)
    return node.replace(emptyConstant(b, loc, resultType));
  bool emptyInput = computeProduct(sizes) == 0;
  if (mode == "constant") {
    FailureOr<Value> fill = constant();
    if (failed(fill))
      return failure();
    if (emptyInput)
      return node.replace(Value(tosa::TileOp::create(
          b, loc, resultType,
          reshape(b, loc, *fill, SmallVector<int64_t>(rank, 1)),
          shapeValue(b, loc, shape))));
    Value value = sliceValue(b, loc, node.input(0), starts, sizes);
    if (value.getType() == resultType)
      return node.replace(value);
    SmallVector<int64_t> padding;
    for (int64_t d = 0; d < rank; ++d)
      padding.append({before[d], after[d]});
    return node.replace(Value(tosa::PadOp::create(
        b, loc, resultType, value, shapeValue(b, loc, padding), *fill)));
  }
  if (emptyInput) {
    node.emitError() << "mode '" << mode << "' cannot pad the empty " << type;
    return failure();
  }
  for (int64_t d = 0; d < rank; ++d) {
    int64_t limit = mode == "reflect" ? sizes[d] - 1
                    : mode == "wrap"  ? sizes[d]
                                      : std::numeric_limits<int64_t>::max();
    if (before[d] > limit || after[d] > limit) {
      node.emitError() << "mode '" << mode << "' pads dim " << d << " of "
                       << type << " by more than " << limit;
      return failure();
    }
  }
  Value value = sliceValue(b, loc, node.input(0), starts, sizes);
  for (int64_t d = 0; d < rank; ++d) {
    if (before[d] == 0 && after[d] == 0)
      continue;
    int64_t dim = sizes[d];
    // The piece of `count` elements that goes before (or after) the data.
    auto piece = [&](int64_t count, bool isBefore) -> Value {
      if (mode == "edge") {
        Value edge = sliceAxis(b, loc, value, d, isBefore ? 0 : dim - 1, 1);
        SmallVector<int64_t> multiples(rank, 1);
        multiples[d] = count;
        RankedTensorType edgeType = tensorType(edge);
        SmallVector<int64_t> pieceShape(edgeType.getShape());
        pieceShape[d] = count;
        if (count == 1)
          return edge;
        return tosa::TileOp::create(b, loc, edgeType.clone(pieceShape), edge,
                                    shapeValue(b, loc, multiples));
      }
      if (mode == "wrap")
        return sliceAxis(b, loc, value, d, isBefore ? dim - count : 0, count);
      // reflect: the mirror image without the edge element.
      Value mirror =
          sliceAxis(b, loc, value, d, isBefore ? 1 : dim - 1 - count, count);
      if (count == 1)
        return mirror;
      return tosa::ReverseOp::create(b, loc, mirror.getType(), mirror,
                                     b.getI32IntegerAttr(d));
    };
    SmallVector<Value> parts;
    if (before[d] > 0)
      parts.push_back(piece(before[d], /*isBefore=*/true));
    parts.push_back(value);
    if (after[d] > 0)
      parts.push_back(piece(after[d], /*isBefore=*/false));
    RankedTensorType valueType = tensorType(value);
    SmallVector<int64_t> padded(valueType.getShape());
    padded[d] += before[d] + after[d];
    value = tosa::ConcatOp::create(b, loc, valueType.clone(padded), parts,
                                   b.getI32IntegerAttr(d));
  }
  return node.replace(value);
}

/// Pad-2 (and Pad-1, which named the pads `paddings`): attributes only.
static LogicalResult convertPadAttr(Node &node) {
  if (failed(requireInputs(node, 1)))
    return failure();
  auto pads = node.intsAttr(node.hasAttr("pads") ? "pads" : "paddings");
  if (!pads) {
    node.emitError() << "requires the 'pads' attribute";
    return failure();
  }
  return pad(node, *pads, {}, node.stringAttr("mode", "constant"),
             [&]() -> FailureOr<Value> {
               auto fillType = RankedTensorType::get({1}, node.elementType(0));
               return splat(node.rewriter, node.loc, fillType,
                            node.floatAttr("value", 0));
             });
}

/// Pad-11 on: pads, constant_value and (Pad-18) axes are inputs.
static LogicalResult convertPad(Node &node) {
  if (failed(requireInputs(node, 2)))
    return failure();
  auto pads = requireConstantInts(node, 1, "pads");
  if (failed(pads))
    return failure();
  auto axes = optionalConstantInts(node, 3, "axes");
  if (failed(axes))
    return failure();
  return pad(node, *pads, *axes, node.stringAttr("mode", "constant"),
             [&]() -> FailureOr<Value> {
               auto fillType = RankedTensorType::get({1}, node.elementType(0));
               if (!node.input(2))
                 return splat(node.rewriter, node.loc, fillType, 0);
               Attribute element = singleElement(node.constant(2));
               if (!element || node.elementType(2) != node.elementType(0)) {
                 node.emitError()
                     << "constant_value must be a constant with one "
                        "element of the data's type, got "
                     << node.type(2);
                 return failure();
               }
               return Value(tosa::ConstOp::create(
                   node.rewriter, node.loc, fillType,
                   DenseElementsAttr::get(fillType, element)));
             });
}

void onnx_to_tosa::addTensorConverters(SmallVectorImpl<Converter> &converters) {
  converters.append({
      {"Concat", 1, convertConcat},
      {"Constant", 1, convertConstant},
      {"ConstantOfShape", 9, convertConstantOfShape},
      {"Expand", 8, convertExpand},
      {"Flatten", 1, convertFlatten},
      {"Gather", 1, convertGather},
      {"GatherElements", 11, convertGatherElements},
      {"GatherND", 11, convertGatherND},
      {"ScatterND", 11, convertScatterND},
      {"Pad", 1, convertPadAttr},
      {"Pad", 11, convertPad},
      {"Range", 11, convertRange},
      {"Reshape", 1, convertReshapeAttr},
      {"Reshape", 5, convertReshape},
      {"Shape", 1, convertShape},
      {"Size", 1, convertSize},
      {"Slice", 1, convertSliceAttr},
      {"Slice", 10, convertSlice},
      {"Split", 1, convertSplitAttr},
      {"Split", 13, convertSplit},
      {"Split", 18, convertSplitNumOutputs},
      {"Squeeze", 1, convertSqueezeAttr},
      {"Squeeze", 13, convertSqueeze},
      {"Tile", 1, convertTileAxis},
      {"Tile", 6, convertTile},
      {"Transpose", 1, convertTranspose},
      {"Trilu", 14, convertTrilu},
      {"Unsqueeze", 1, convertUnsqueezeAttr},
      {"Unsqueeze", 13, convertUnsqueeze},
  });
}
