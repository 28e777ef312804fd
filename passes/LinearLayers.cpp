//===- LinearLayers.cpp - linear layers of a TOSA graph -------------------===//

#include "LinearLayers.h"

#include "lora/Adapter/Peft.h"
#include "lora/Dialect/Lora/Lora.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SmallPtrSet.h"

#include <cstring>

using namespace mlir;
using namespace mlir::lora;

Operation *lora::getConstantSource(Value value) {
  while (Operation *def = value.getDefiningOp()) {
    if (isa<arith::ConstantOp, tosa::ConstOp>(def))
      return def;
    if (!isa<tosa::ReshapeOp, tosa::TransposeOp, tosa::CastOp>(def))
      return nullptr;
    value = def->getOperand(0);
  }
  return nullptr;
}

/// The outermost NameLoc in `loc`, looking into fused and call-site
/// locations.
static NameLoc findNameLoc(Location loc) {
  NameLoc found;
  loc->walk([&](Location inner) {
    if (auto name = dyn_cast<NameLoc>(inner)) {
      found = name;
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return found;
}

std::string lora::getNodeName(Location loc) {
  NameLoc name = findNameLoc(loc);
  return name ? name.getName().str() : std::string();
}

std::string lora::getModuleName(Operation *matmul, Operation *weightSource) {
  NameLoc name = findNameLoc(matmul->getLoc());
  // 1. The exporter's module scope (importer: child of the node's NameLoc).
  if (name)
    if (auto scope = dyn_cast<NameLoc>(name.getChildLoc()))
      return scope.getName().str();
  // 2. A node name path: "/model/layers.0/self_attn/q_proj/MatMul".
  StringRef node = name ? name.getName().getValue() : "";
  if (node.starts_with("/") && node.count('/') >= 2) {
    std::string path = node.drop_front().rsplit('/').first.str();
    llvm::replace(path, '/', '.');
    return path;
  }
  // 3. The weight initializer: "model.layers.0.self_attn.q_proj.weight".
  if (weightSource) {
    if (NameLoc init = findNameLoc(weightSource->getLoc())) {
      StringRef weight = init.getName().getValue();
      if (weight.ends_with(".weight") && !weight.contains("::"))
        return weight.drop_back(strlen(".weight")).str();
    }
  }
  return node.str();
}

std::string lora::getLoraParamName(StringRef module, bool isA) {
  return ("base_model.model." + module + (isA ? ".lora_A" : ".lora_B") +
          ".weight")
      .str();
}

StringRef lora::getModuleOfParam(StringRef param) {
  if (!param.consume_front("base_model.model."))
    return "";
  if (param.consume_back(".lora_A.weight") ||
      param.consume_back(".lora_B.weight"))
    return param;
  return "";
}

/// True when `value` reaches a function result through reshapes, casts and
/// additions of constants only.
static bool reachesResult(Value value) {
  SmallVector<Value> work{value};
  llvm::SmallPtrSet<Operation *, 8> seen;
  while (!work.empty()) {
    Value v = work.pop_back_val();
    for (OpOperand &use : v.getUses()) {
      Operation *user = use.getOwner();
      if (!seen.insert(user).second)
        continue;
      if (isa<func::ReturnOp>(user))
        return true;
      // Reshapes, casts, slices (last token), transposes, and scaling or
      // biasing by constants (logit_scale). A nonlinearity (even a tanh
      // softcap) ends the walk: the module name rule below covers lm_head.
      if (isa<tosa::ReshapeOp, tosa::CastOp, tosa::SliceOp, tosa::TransposeOp>(
              user)) {
        work.push_back(user->getResult(0));
      } else if (isa<tosa::AddOp, tosa::MulOp, tosa::SubOp>(user)) {
        Value lhs = user->getOperand(0), rhs = user->getOperand(1);
        Value other = lhs == v ? rhs : lhs;
        if (getConstantSource(other))
          work.push_back(user->getResult(0));
      }
    }
  }
  return false;
}

SmallVector<LinearLayer> lora::findLinearLayers(Operation *root) {
  SmallVector<LinearLayer> layers;
  root->walk([&](tosa::MatMulOp matmul) {
    auto lhs = cast<RankedTensorType>(matmul.getA().getType());
    auto rhs = cast<RankedTensorType>(matmul.getB().getType());
    // LoRA adapts float layers; quantized (integer) matmuls are left alone.
    if (lhs.getDimSize(0) != 1 || rhs.getDimSize(0) != 1 ||
        !rhs.hasStaticShape() || !isa<FloatType>(lhs.getElementType()))
      return;
    // A product of two constants (rotary tables) is no layer.
    Operation *source = getConstantSource(matmul.getB());
    if (!source || getConstantSource(matmul.getA()))
      return;
    LinearLayer layer;
    layer.matmul = matmul;
    layer.weightSource = source;
    layer.module = getModuleName(matmul, source);
    // A layer without any name gets its position among the layers.
    if (layer.module.empty())
      layer.module = "linear_" + std::to_string(layers.size());
    layer.node = getNodeName(matmul.getLoc());
    layer.inFeatures = rhs.getDimSize(1);
    layer.outFeatures = rhs.getDimSize(2);
    // PEFT leaves out the output embedding by module; lm_head is its usual
    // name when the graph after it is more than we follow.
    layer.outputHead = reachesResult(matmul.getResult()) ||
                       StringRef(layer.module).ends_with("lm_head");
    layers.push_back(std::move(layer));
  });
  return layers;
}

FailureOr<SmallVector<double>> lora::readFloatElements(ElementsAttr attr) {
  auto floatType = dyn_cast<FloatType>(attr.getElementType());
  if (!floatType)
    return failure();
  int64_t count = attr.getNumElements();
  SmallVector<double> values;
  values.reserve(count);
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    for (const APFloat &v : dense.getValues<APFloat>())
      values.push_back(v.convertToDouble());
    return values;
  }
  auto resource = dyn_cast<DenseResourceElementsAttr>(attr);
  if (!resource)
    return failure();
  AsmResourceBlob *blob = resource.getRawHandle().getBlob();
  if (!blob)
    return failure();
  ArrayRef<char> data = blob->getData();
  unsigned width = floatType.getWidth();
  if (width % 8 != 0 || data.size() != size_t(count) * width / 8)
    return failure();
  const llvm::fltSemantics &semantics = floatType.getFloatSemantics();
  for (int64_t i = 0; i < count; ++i) {
    uint64_t bits = 0;
    // Resource blobs hold the little-endian bytes of the host.
    std::memcpy(&bits, data.data() + i * width / 8, width / 8);
    values.push_back(APFloat(semantics, APInt(width, bits)).convertToDouble());
  }
  return values;
}

FailureOr<SmallVector<double>> lora::readConstantValues(Value value) {
  Operation *def = value.getDefiningOp();
  if (!def)
    return failure();
  if (auto constant = dyn_cast<arith::ConstantOp>(def)) {
    auto attr = dyn_cast<ElementsAttr>(constant.getValue());
    if (!attr)
      return failure();
    return readFloatElements(attr);
  }
  if (auto constant = dyn_cast<tosa::ConstOp>(def))
    return readFloatElements(constant.getValues());
  if (isa<tosa::ReshapeOp>(def) ||
      (isa<tosa::CastOp>(def) &&
       isa<FloatType>(getElementTypeOrSelf(def->getOperand(0)))))
    return readConstantValues(def->getOperand(0));
  auto transpose = dyn_cast<tosa::TransposeOp>(def);
  if (!transpose)
    return failure();
  FailureOr<SmallVector<double>> input =
      readConstantValues(transpose.getInput1());
  auto inType = cast<RankedTensorType>(transpose.getInput1().getType());
  if (failed(input) || !inType.hasStaticShape())
    return failure();
  // out[i] = in[j] with j[perms[d]] = i[d].
  ArrayRef<int32_t> perms = transpose.getPerms();
  ArrayRef<int64_t> inShape = inType.getShape();
  int64_t rank = inType.getRank();
  SmallVector<int64_t> inStrides(rank, 1), outShape(rank);
  for (int64_t d = rank - 2; d >= 0; --d)
    inStrides[d] = inStrides[d + 1] * inShape[d + 1];
  for (int64_t d = 0; d < rank; ++d)
    outShape[d] = inShape[perms[d]];
  SmallVector<double> out(input->size());
  SmallVector<int64_t> index(rank, 0);
  for (double &v : out) {
    int64_t offset = 0;
    for (int64_t d = 0; d < rank; ++d)
      offset += index[d] * inStrides[perms[d]];
    v = (*input)[offset];
    for (int64_t d = rank - 1; d >= 0 && ++index[d] == outShape[d]; --d)
      index[d] = 0;
  }
  return out;
}

ElementsAttr lora::makeFloatElements(RankedTensorType type,
                                     ArrayRef<double> values,
                                     StringRef blobName) {
  auto floatType = cast<FloatType>(type.getElementType());
  const llvm::fltSemantics &semantics = floatType.getFloatSemantics();
  unsigned width = floatType.getWidth();
  std::vector<char> bytes(values.size() * width / 8);
  for (auto [i, v] : llvm::enumerate(values)) {
    APFloat value(v);
    bool lostInfo;
    value.convert(semantics, APFloat::rmNearestTiesToEven, &lostInfo);
    uint64_t bits = value.bitcastToAPInt().getZExtValue();
    std::memcpy(bytes.data() + i * width / 8, &bits, width / 8);
  }
  // Big constants as resources: printed IR can elide them, as for imports.
  if (values.size() > 1024)
    return DenseResourceElementsAttr::get(
        type, blobName,
        HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, width / 8));
  return DenseElementsAttr::getFromRawBuffer(type, bytes);
}

DictionaryAttr lora::getOnnxNameDict(MLIRContext *context, StringRef name) {
  Builder b(context);
  return b.getDictionaryAttr(
      b.getNamedAttr("onnx.name", b.getStringAttr(name)));
}

FailureOr<BlockArgument> lora::addNamedInput(FunctionOpInterface func,
                                             Type type, StringRef name,
                                             Location loc, StringRef user) {
  for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
    if (auto taken = func.getArgAttrOfType<StringAttr>(i, "onnx.name");
        taken && taken.getValue() == name)
      return func.emitError() << user << " needs an input named '" << name
                              << "', but argument #" << i << " has that name";
  unsigned index = func.getNumArguments();
  if (failed(func.insertArgument(
          index, type, getOnnxNameDict(func.getContext(), name), loc)))
    return failure();
  return func.getArgument(index);
}

FailureOr<BlockArgument>
lora::addLoraParam(FunctionOpInterface func, RankedTensorType type,
                   StringRef name, ArrayRef<double> init, Location loc) {
  Builder b(func.getContext());
  NamedAttribute attrs[] = {
      b.getNamedAttr(LoraDialect::getParamAttrName(), b.getStringAttr(name)),
      b.getNamedAttr(LoraDialect::getInitAttrName(),
                     makeFloatElements(type, init, name))};
  unsigned index = func.getNumArguments();
  if (failed(func.insertArgument(index, type, b.getDictionaryAttr(attrs), loc)))
    return failure();
  return func.getArgument(index);
}

FailureOr<SmallVector<double>> lora::readParamValues(Value value) {
  if (auto arg = dyn_cast<BlockArgument>(value)) {
    auto func = dyn_cast<FunctionOpInterface>(arg.getOwner()->getParentOp());
    if (!func)
      return failure();
    auto init = func.getArgAttrOfType<ElementsAttr>(
        arg.getArgNumber(), LoraDialect::getInitAttrName());
    if (!init)
      return failure();
    return readFloatElements(init);
  }
  return readConstantValues(value);
}

void lora::addLowRankProduct(MutableArrayRef<double> w, ArrayRef<double> a,
                             ArrayRef<double> b, int64_t k, int64_t r,
                             int64_t n, double factor) {
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < r; ++j) {
      double aij = factor * a[i * r + j];
      for (int64_t l = 0; l < n; ++l)
        w[i * n + l] += aij * b[j * n + l];
    }
}

bool lora::isModuleSuffix(StringRef module, StringRef name) {
  return module == name || (module.ends_with(name) &&
                            module[module.size() - name.size() - 1] == '.');
}

FailureOr<PeftAdapter> lora::loadAdapter(ModuleOp module, StringRef dir) {
  llvm::Expected<PeftAdapter> adapter = loadPeftAdapter(dir);
  if (!adapter)
    return module.emitError()
           << "cannot load adapter: " << llvm::toString(adapter.takeError());
  return std::move(*adapter);
}

const PeftAdapterModule *lora::findAdapterModule(const PeftAdapter &adapter,
                                                 StringRef module) {
  for (const PeftAdapterModule &candidate : adapter.modules)
    if (isModuleSuffix(module, candidate.name))
      return &candidate;
  return nullptr;
}

void lora::eraseIfDead(RewriterBase &rewriter, Value value) {
  Operation *def = value.getDefiningOp();
  if (!def || !def->use_empty() || !isPure(def))
    return;
  SmallVector<Value> operands(def->getOperands());
  rewriter.eraseOp(def);
  for (Value operand : operands)
    eraseIfDead(rewriter, operand);
}
