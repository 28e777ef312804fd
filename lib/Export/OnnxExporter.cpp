//===- OnnxExporter.cpp - TOSA + func to an ONNX model --------------------===//
//
// The driver: picks the function, maps its signature onto graph inputs,
// outputs and LoRA parameter initializers, hands each op to ExportOps.cpp,
// and writes the model (and its external data) so that a failure leaves no
// file behind. The GraphBuilder below names values and nodes and turns
// constants into initializers.
//
//===----------------------------------------------------------------------===//

#include "GraphBuilder.h"

#include "lora/Dialect/Lora/Lora.h"
#include "lora/Dialect/Onnx/Onnx.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SwapByteOrder.h"

#include <climits>

using namespace mlir;
using namespace mlir::lora;
using namespace mlir::lora::onnx_export;

/// The ONNX IR version and default-domain opset we write. IR 10 is the
/// newest that our pinned ONNX Runtime reads; every op ExportOps.cpp emits is
/// used in the form opset 18 defines.
static constexpr int64_t kIrVersion = 10;
static constexpr int64_t kOpsetVersion = 18;
/// protobuf refuses to serialize messages of 2 GiB or more.
static constexpr int64_t kProtobufLimit = INT_MAX;
/// Offsets in the external data file are aligned so that readers that
/// mmap it can use the data in place.
static constexpr uint64_t kExternalAlignment = 64;

//===----------------------------------------------------------------------===//
// GraphBuilder
//===----------------------------------------------------------------------===//

std::optional<int32_t> onnx_export::getOnnxDataType(Type type) {
  using TP = ::onnx::TensorProto;
  if (type.isF32())
    return TP::FLOAT;
  if (type.isF64())
    return TP::DOUBLE;
  if (type.isF16())
    return TP::FLOAT16;
  if (type.isBF16())
    return TP::BFLOAT16;
  auto intType = dyn_cast<IntegerType>(type);
  if (!intType)
    return std::nullopt;
  if (intType.getWidth() == 1)
    return TP::BOOL;
  bool isUnsigned = intType.isUnsigned();
  switch (intType.getWidth()) {
  case 8:
    return isUnsigned ? TP::UINT8 : TP::INT8;
  case 16:
    return isUnsigned ? TP::UINT16 : TP::INT16;
  case 32:
    return isUnsigned ? TP::UINT32 : TP::INT32;
  case 64:
    return isUnsigned ? TP::UINT64 : TP::INT64;
  default:
    return std::nullopt;
  }
}

/// Bytes per element in ONNX's raw_data layout (bool: one byte).
static int64_t getElementBytes(Type type) {
  return type.isInteger(1) ? 1 : type.getIntOrFloatBitWidth() / 8;
}

/// The first name in `loc`: the ONNX node name the importer and the
/// converters keep. Empty when there is none.
static std::string getLocationName(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().str();
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location inner : fused.getLocations())
      if (std::string name = getLocationName(inner); !name.empty())
        return name;
  if (auto callSite = dyn_cast<CallSiteLoc>(loc))
    return getLocationName(callSite.getCallee());
  return "";
}

/// `base`, or `base_N` for the smallest N that makes it unique in `used`.
static std::string makeUnique(StringRef base, llvm::StringSet<> &used,
                              llvm::StringMap<unsigned> &suffixes) {
  if (used.insert(base).second)
    return base.str();
  unsigned &suffix = suffixes[base];
  while (true) {
    std::string candidate = (base + "_" + Twine(++suffix)).str();
    if (used.insert(candidate).second)
      return candidate;
  }
}

bool GraphBuilder::claim(StringRef name) {
  return valueNames.insert(name).second;
}

std::string GraphBuilder::uniqueValueName(StringRef base) {
  return makeUnique(base.empty() ? "value" : base, valueNames, valueSuffixes);
}

std::string GraphBuilder::uniqueNodeName(StringRef base) {
  return makeUnique(base, nodeNames, nodeSuffixes);
}

void GraphBuilder::setOp(Operation *op, StringRef name) {
  currentOp = op;
  currentBase = name.empty() ? getLocationName(op->getLoc()) : name.str();
  if (currentBase.empty())
    currentBase = op->getName().getStringRef().str();
}

InFlightDiagnostic GraphBuilder::emitError() {
  return emitError(currentOp->getLoc());
}

InFlightDiagnostic GraphBuilder::emitError(Location loc) {
  hadError = true;
  return mlir::emitError(loc);
}

void GraphBuilder::setName(Value value, StringRef name) {
  names[value] = name.str();
}

std::string GraphBuilder::operand(Value value) {
  auto it = names.find(value);
  if (it != names.end())
    return it->second;
  // Ops are exported in order, so only constants are left unnamed here.
  Operation *def = value.getDefiningOp();
  ElementsAttr attr;
  if (!def || !matchPattern(value, m_Constant(&attr))) {
    emitError() << "cannot export: an operand has no ONNX value";
    return "";
  }
  std::string base = getLocationName(def->getLoc());
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr))
    base = resource.getRawHandle().getKey().str();
  std::string name =
      addInitializer(attr, base.empty() ? "const" : base, def->getLoc());
  names[value] = name;
  return name;
}

::onnx::NodeProto &GraphBuilder::addNode(StringRef opType,
                                         ArrayRef<std::string> inputs,
                                         StringRef output) {
  ::onnx::NodeProto &node = *graph.add_node();
  node.set_op_type(opType.str());
  node.set_name(uniqueNodeName(currentBase));
  for (const std::string &input : inputs)
    node.add_input(input);
  node.add_output(output.empty() ? uniqueValueName(node.name() + "_output_0")
                                 : output.str());
  return node;
}

::onnx::NodeProto &GraphBuilder::addNode(StringRef opType,
                                         ArrayRef<std::string> inputs,
                                         Value result) {
  auto it = result ? names.find(result) : names.end();
  ::onnx::NodeProto &node =
      addNode(opType, inputs, it != names.end() ? it->second : "");
  if (result)
    names[result] = node.output(0);
  return node;
}

FailureOr<ArrayRef<char>>
GraphBuilder::rawBytes(ElementsAttr attr, Location loc, std::string &storage) {
  auto type = cast<ShapedType>(attr.getType());
  Type elementType = type.getElementType();
  int64_t count = type.getNumElements();
  int64_t elementBytes = getElementBytes(elementType);
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    // Dense booleans are bit-packed; ONNX stores one byte each.
    if (elementType.isInteger(1)) {
      storage.reserve(count);
      for (bool bit : dense.getValues<bool>())
        storage.push_back(bit ? 1 : 0);
      return ArrayRef<char>(storage.data(), storage.size());
    }
    ArrayRef<char> data = dense.getRawData();
    if (dense.isSplat()) {
      storage.reserve(count * elementBytes);
      for (int64_t i = 0; i < count; ++i)
        storage.append(data.data(), elementBytes);
      return ArrayRef<char>(storage.data(), storage.size());
    }
    return data;
  }
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
    StringRef key = resource.getRawHandle().getKey();
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob) {
      emitError(loc) << "constant '" << key
                     << "' has no data: its resource blob is missing (was "
                        "the IR printed with elided resources?)";
      return failure();
    }
    ArrayRef<char> data = blob->getData();
    if (static_cast<int64_t>(data.size()) != count * elementBytes) {
      emitError(loc) << "constant '" << key << "' has " << data.size()
                     << " bytes, but " << type << " needs "
                     << count * elementBytes;
      return failure();
    }
    return data;
  }
  emitError(loc) << "cannot export a constant held as " << attr
                 << " (only dense and dense_resource elements are supported)";
  return failure();
}

std::string GraphBuilder::addInitializer(ElementsAttr attr, StringRef name,
                                         Location loc, bool exactName) {
  if (!exactName)
    if (auto it = initializers.find(attr); it != initializers.end())
      return it->second;
  auto type = dyn_cast<RankedTensorType>(attr.getType());
  if (!type || !type.hasStaticShape()) {
    emitError(loc) << "cannot export a constant of type " << attr.getType()
                   << ": ONNX initializers need a static shape";
    return "";
  }
  std::optional<int32_t> dataType = getOnnxDataType(type.getElementType());
  if (!dataType) {
    emitError(loc) << "cannot export a constant of type " << type
                   << ": ONNX has no element type " << type.getElementType();
    return "";
  }
  std::string tensorName = exactName ? name.str() : uniqueValueName(name);
  int64_t byteSize =
      type.getNumElements() * getElementBytes(type.getElementType());
  bool toExternal = !options.externalDataPath.empty() &&
                    byteSize >= options.externalDataThreshold;
  if (!toExternal && inlineBytes + byteSize >= kProtobufLimit) {
    emitError(loc) << "initializer '" << tensorName << "' (" << byteSize
                   << " bytes) takes the model past protobuf's 2 GiB limit ("
                   << inlineBytes
                   << " bytes of initializers before it); write large "
                      "initializers as external data "
                      "(--onnx-external-data=FILE)";
    return "";
  }

  std::string storage;
  FailureOr<ArrayRef<char>> bytes = rawBytes(attr, loc, storage);
  if (failed(bytes))
    return "";
  ::onnx::TensorProto &tensor = *graph.add_initializer();
  tensor.set_name(tensorName);
  tensor.set_data_type(*dataType);
  for (int64_t dim : type.getShape())
    tensor.add_dims(dim);
  if (toExternal) {
    if (!storage.empty()) {
      external.owned.push_back(std::move(storage));
      bytes = ArrayRef<char>(external.owned.back().data(),
                             external.owned.back().size());
    }
    int64_t offset = llvm::alignTo(external.size, kExternalAlignment);
    external.chunks.push_back({offset, *bytes});
    external.size = offset + byteSize;
    tensor.set_data_location(::onnx::TensorProto::EXTERNAL);
    auto addEntry = [&](StringRef key, StringRef value) {
      ::onnx::StringStringEntryProto &entry = *tensor.add_external_data();
      entry.set_key(key.str());
      entry.set_value(value.str());
    };
    addEntry("location", llvm::sys::path::filename(options.externalDataPath));
    addEntry("offset", std::to_string(offset));
    addEntry("length", std::to_string(byteSize));
  } else {
    tensor.set_raw_data(bytes->data(), bytes->size());
    inlineBytes += byteSize;
  }
  if (!exactName)
    initializers[attr] = tensorName;
  return tensorName;
}

std::string GraphBuilder::addInt64s(ArrayRef<int64_t> values) {
  Builder b(currentOp->getContext());
  auto type = RankedTensorType::get({static_cast<int64_t>(values.size())},
                                    b.getI64Type());
  return addInitializer(DenseElementsAttr::get(type, values), "const",
                        currentOp->getLoc());
}

std::string GraphBuilder::addScalar(TypedAttr value) {
  auto type = RankedTensorType::get({}, value.getType());
  return addInitializer(DenseElementsAttr::get(type, value), "const",
                        currentOp->getLoc());
}

LogicalResult GraphBuilder::setValueInfo(::onnx::ValueInfoProto &info,
                                         StringRef name, Type type,
                                         Location loc) {
  auto tensorType = dyn_cast<TensorType>(type);
  std::optional<int32_t> dataType =
      tensorType ? getOnnxDataType(tensorType.getElementType()) : std::nullopt;
  if (!dataType) {
    emitError(loc) << "cannot export '" << name << "' of type " << type
                   << ": ONNX graph inputs and outputs are tensors of "
                      "float, integer or bool elements";
    return failure();
  }
  info.set_name(name.str());
  auto &onnxType = *info.mutable_type()->mutable_tensor_type();
  onnxType.set_elem_type(*dataType);
  if (!tensorType.hasRank())
    return success();
  auto &shape = *onnxType.mutable_shape();
  for (int64_t dim : tensorType.getShape()) {
    auto &onnxDim = *shape.add_dim();
    if (!ShapedType::isDynamic(dim))
      onnxDim.set_dim_value(dim);
  }
  return success();
}

void onnx_export::addAttribute(::onnx::NodeProto &node, StringRef name,
                               int64_t value) {
  ::onnx::AttributeProto &attr = *node.add_attribute();
  attr.set_name(name.str());
  attr.set_type(::onnx::AttributeProto::INT);
  attr.set_i(value);
}

void onnx_export::addAttribute(::onnx::NodeProto &node, StringRef name,
                               ArrayRef<int64_t> values) {
  ::onnx::AttributeProto &attr = *node.add_attribute();
  attr.set_name(name.str());
  attr.set_type(::onnx::AttributeProto::INTS);
  for (int64_t value : values)
    attr.add_ints(value);
}

//===----------------------------------------------------------------------===//
// The model
//===----------------------------------------------------------------------===//

namespace {

/// The function to export: the one `options` names, or the only public one.
FailureOr<func::FuncOp> selectFunction(ModuleOp module,
                                       const OnnxExportOptions &options) {
  if (!options.funcName.empty()) {
    auto func = module.lookupSymbol<func::FuncOp>(options.funcName);
    if (!func || func.isExternal()) {
      emitError(module.getLoc())
          << "no function '" << options.funcName << "' with a body to export";
      return failure();
    }
    return func;
  }
  SmallVector<func::FuncOp> candidates;
  for (auto func : module.getOps<func::FuncOp>())
    if (func.isPublic() && !func.isExternal())
      candidates.push_back(func);
  if (candidates.size() == 1)
    return candidates.front();
  auto diag = emitError(module.getLoc());
  if (candidates.empty()) {
    diag << "the module has no public function to export";
    return failure();
  }
  diag << "the module has " << candidates.size() << " public functions (";
  llvm::interleaveComma(candidates, diag,
                        [&](func::FuncOp f) { diag << "@" << f.getName(); });
  diag << "); name the one to export (--export-func=NAME)";
  return failure();
}

/// The name of function argument `index` in the graph.
std::string getArgumentName(func::FuncOp func, unsigned index) {
  if (auto param = func.getArgAttrOfType<StringAttr>(
          index, LoraDialect::getParamAttrName()))
    return param.str();
  if (auto name = func.getArgAttrOfType<StringAttr>(index, "onnx.name"))
    return name.str();
  return "input_" + std::to_string(index);
}

LogicalResult buildGraph(func::FuncOp func, GraphBuilder &builder,
                         ::onnx::GraphProto &graph,
                         const OnnxExportOptions &options) {
  if (!func.getBody().hasOneBlock()) {
    func.emitError() << "cannot export a function with "
                     << func.getBody().getBlocks().size()
                     << " blocks: an ONNX graph has no control flow";
    return failure();
  }
  Block &body = func.getBody().front();
  graph.set_name(func.getName().str());

  for (BlockArgument arg : body.getArguments()) {
    unsigned index = arg.getArgNumber();
    std::string name = getArgumentName(func, index);
    if (!builder.claim(name))
      return func.emitError() << "argument #" << index << " is named '" << name
                              << "', like an earlier argument";
    builder.setName(arg, name);
    bool isLoraParam =
        bool(func.getArgAttr(index, LoraDialect::getParamAttrName()));
    if (!isLoraParam ||
        options.loraParams == OnnxExportOptions::LoraParams::Inputs) {
      if (failed(builder.setValueInfo(*graph.add_input(), name, arg.getType(),
                                      arg.getLoc())))
        return failure();
      continue;
    }
    auto init = func.getArgAttrOfType<ElementsAttr>(
        index, LoraDialect::getInitAttrName());
    if (!init)
      return func.emitError()
             << "LoRA parameter '" << name << "' (argument #" << index
             << ") has no '" << LoraDialect::getInitAttrName()
             << "' attribute to initialize it from (needed with "
                "lora-params=initializers)";
    // The lora dialect's verifier has checked that it has the arg's type.
    builder.addInitializer(init, name, func.getLoc(), /*exactName=*/true);
    if (builder.hasError())
      return failure();
  }

  // Returned values take their output's name where a node defines them;
  // arguments, constants and values returned twice go through Identity.
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  SmallVector<std::string> outputNames;
  llvm::DenseSet<Value> namedResults;
  for (auto [index, value] : llvm::enumerate(ret.getOperands())) {
    auto nameAttr = func.getResultAttrOfType<StringAttr>(index, "onnx.name");
    std::string name =
        nameAttr ? nameAttr.str() : "output_" + std::to_string(index);
    if (!builder.claim(name))
      return func.emitError() << "result #" << index << " is named '" << name
                              << "', like an argument or an earlier result";
    outputNames.push_back(name);
    Operation *def = value.getDefiningOp();
    if (def && !def->hasTrait<OpTrait::ConstantLike>() &&
        namedResults.insert(value).second)
      builder.setName(value, name);
  }

  for (Operation &op : body.without_terminator()) {
    // Constants become initializers when a node first uses them; shape
    // operands are read by the ops that take them.
    if (op.hasTrait<OpTrait::ConstantLike>())
      continue;
    if (failed(exportOperation(builder, &op)) || builder.hasError())
      return failure();
  }

  for (auto [index, value] : llvm::enumerate(ret.getOperands())) {
    builder.setOp(ret, outputNames[index]);
    std::string name = builder.operand(value);
    if (builder.hasError())
      return failure();
    if (name != outputNames[index])
      builder.addNode("Identity", {name}, StringRef(outputNames[index]));
    if (failed(builder.setValueInfo(*graph.add_output(), outputNames[index],
                                    value.getType(), ret.getLoc())))
      return failure();
  }
  return success();
}

/// An exported model, with the data of its external initializers.
struct ExportedModel {
  ::onnx::ModelProto model;
  ExternalData external;
};

LogicalResult buildModel(ModuleOp module, const OnnxExportOptions &options,
                         ExportedModel &result) {
  if constexpr (llvm::sys::IsBigEndianHost) {
    // raw_data is little endian; attribute storage is in host order.
    return emitError(module.getLoc())
           << "exporting ONNX on a big-endian host is not supported";
  }
  FailureOr<func::FuncOp> func = selectFunction(module, options);
  if (failed(func))
    return failure();
  ::onnx::ModelProto &model = result.model;
  model.set_ir_version(kIrVersion);
  model.set_producer_name("lora-opt");
  ::onnx::OperatorSetIdProto &opset = *model.add_opset_import();
  opset.set_domain("");
  opset.set_version(kOpsetVersion);
  ::onnx::GraphProto &graph = *model.mutable_graph();
  GraphBuilder builder(graph, options);
  if (failed(buildGraph(*func, builder, graph, options)))
    return failure();
  result.external = std::move(builder.getExternalData());
  size_t modelBytes = model.ByteSizeLong();
  if (modelBytes >= static_cast<size_t>(kProtobufLimit))
    return func->emitError()
           << "the ONNX model takes " << modelBytes
           << " bytes, over protobuf's 2 GiB limit; write large initializers "
              "as external data (--onnx-external-data=FILE)";
  return success();
}

/// Writes the external data file, if there is one, through a temporary file.
LogicalResult writeExternalData(ModuleOp module, const ExportedModel &exported,
                                const OnnxExportOptions &options) {
  if (options.externalDataPath.empty())
    return success();
  llvm::Error error = llvm::writeToOutput(
      options.externalDataPath, [&](llvm::raw_ostream &os) -> llvm::Error {
        uint64_t position = 0;
        for (const ExternalData::Chunk &chunk : exported.external.chunks) {
          os.write_zeros(chunk.offset - position);
          os.write(chunk.bytes.data(), chunk.bytes.size());
          position = chunk.offset + chunk.bytes.size();
        }
        return llvm::Error::success();
      });
  if (error)
    return emitError(module.getLoc()) << "cannot write the external data: "
                                      << llvm::toString(std::move(error));
  return success();
}

} // namespace

LogicalResult mlir::lora::exportOnnxModel(ModuleOp module,
                                          llvm::raw_ostream &os,
                                          const OnnxExportOptions &options) {
  ExportedModel exported;
  if (failed(buildModel(module, options, exported)) ||
      failed(writeExternalData(module, exported, options)))
    return failure();
  std::string bytes;
  if (!exported.model.SerializeToString(&bytes))
    return emitError(module.getLoc()) << "cannot serialize the ONNX model";
  os << bytes;
  return success();
}

LogicalResult mlir::lora::exportOnnxFile(ModuleOp module, StringRef path,
                                         const OnnxExportOptions &options) {
  if (!options.externalDataPath.empty()) {
    SmallString<256> modelDir(path), dataDir(options.externalDataPath);
    llvm::sys::path::remove_filename(modelDir);
    llvm::sys::path::remove_filename(dataDir);
    if (modelDir != dataDir)
      return emitError(module.getLoc())
             << "external data file '" << options.externalDataPath
             << "' must be in the folder of the model '" << path
             << "', which refers to it by file name";
  }
  ExportedModel exported;
  if (failed(buildModel(module, options, exported)) ||
      failed(writeExternalData(module, exported, options)))
    return failure();
  bool serialized = true;
  llvm::Error error =
      llvm::writeToOutput(path, [&](llvm::raw_ostream &os) -> llvm::Error {
        std::string bytes;
        serialized = exported.model.SerializeToString(&bytes);
        if (!serialized)
          return llvm::createStringError("cannot serialize the ONNX model");
        os << bytes;
        return llvm::Error::success();
      });
  if (!error)
    return success();
  if (!options.externalDataPath.empty())
    llvm::sys::fs::remove(options.externalDataPath);
  return emitError(module.getLoc())
         << "cannot write the ONNX model: " << llvm::toString(std::move(error));
}

void mlir::lora::registerOnnxExportDialects(DialectRegistry &registry) {
  // The onnx dialect is registered so that IR still holding onnx.node ops
  // reports "cannot export 'onnx.node'" rather than failing to parse.
  registry.insert<arith::ArithDialect, func::FuncDialect, tosa::TosaDialect,
                  LoraDialect, lora::onnx::OnnxDialect>();
}

void mlir::lora::registerOnnxExportTranslation() {
  static llvm::cl::opt<std::string> exportFunc(
      "export-func",
      llvm::cl::desc("Function to export with --export-onnx (default: the "
                     "module's only public function)"),
      llvm::cl::init(""));
  static llvm::cl::opt<OnnxExportOptions::LoraParams> loraParams(
      "lora-params",
      llvm::cl::desc("What --export-onnx makes of LoRA parameters "
                     "(arguments with a lora.param attribute)"),
      llvm::cl::values(clEnumValN(OnnxExportOptions::LoraParams::Inputs,
                                  "inputs",
                                  "graph inputs named by lora.param (default)"),
                       clEnumValN(OnnxExportOptions::LoraParams::Initializers,
                                  "initializers",
                                  "initializers holding the lora.init values")),
      llvm::cl::init(OnnxExportOptions::LoraParams::Inputs));
  static llvm::cl::opt<std::string> externalData(
      "onnx-external-data",
      llvm::cl::desc("With --export-onnx, write initializers of 1 KiB or "
                     "more to this file, which must sit next to the model "
                     "(needed for models over 2 GiB)"),
      llvm::cl::init(""));
  TranslateFromMLIRRegistration registration(
      "export-onnx", "Export TOSA + func as an ONNX model (.onnx)",
      [](ModuleOp module, llvm::raw_ostream &os) {
        OnnxExportOptions options;
        options.funcName = exportFunc;
        options.loraParams = loraParams;
        options.externalDataPath = externalData;
        return exportOnnxModel(module, os, options);
      },
      registerOnnxExportDialects);
}
