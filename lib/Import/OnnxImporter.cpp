//===- OnnxImporter.cpp - ONNX protobuf to the onnx dialect ---------------===//
//
// Maps a ModelProto onto MLIR without interpreting any operator:
//   graph inputs        -> func.func arguments (`onnx.name` argument attribute)
//   initializers        -> arith.constant, location = initializer name
//   nodes               -> onnx.node, location = node name
//   graph outputs       -> func.return operands (`onnx.name` result attribute)
// Large initializers are not copied: raw_data strings are moved into resource
// blobs and external data is mmapped slice by slice.
//
//===----------------------------------------------------------------------===//

#include "lora/Import/OnnxImporter.h"

#include "lora/Dialect/Onnx/Onnx.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/unknown_field_set.h>
#include <onnx/onnx_pb.h>

#include <climits>
#include <memory>

using namespace mlir;
using namespace mlir::lora;

/// torch.onnx's dynamo exporter records on each node the module scopes it
/// was traced in, as a Python list literal from the root module to the
/// node itself: "['', 'model', 'model.layers.0', ..., 'linear']".
static constexpr llvm::StringLiteral kNameScopesKey =
    "pkg.torch.onnx.name_scopes";
static constexpr int kNodeMetadataPropsField = 9;

/// The innermost module scope of a name-scopes list: the entry before the
/// last one (the last names the traced op, not a module). None for a list
/// with no module.
static std::optional<StringRef> moduleScope(StringRef list) {
  SmallVector<StringRef> entries;
  while (true) {
    size_t open = list.find_first_of("'\"");
    if (open == StringRef::npos)
      break;
    size_t close = list.find(list[open], open + 1);
    if (close == StringRef::npos)
      break;
    entries.push_back(list.slice(open + 1, close));
    list = list.drop_front(close + 1);
  }
  if (entries.size() < 2 || entries[entries.size() - 2].empty())
    return std::nullopt;
  return entries[entries.size() - 2];
}

namespace {

/// Element type and byte size of an ONNX TensorProto data type, or null type
/// for types we do not support.
std::pair<Type, int64_t> getElementType(int32_t dataType, MLIRContext *ctx) {
  using TP = ::onnx::TensorProto;
  Builder b(ctx);
  switch (dataType) {
  case TP::FLOAT:
    return {b.getF32Type(), 4};
  case TP::FLOAT16:
    return {b.getF16Type(), 2};
  case TP::BFLOAT16:
    return {b.getBF16Type(), 2};
  case TP::DOUBLE:
    return {b.getF64Type(), 8};
  case TP::INT64:
    return {b.getI64Type(), 8};
  case TP::INT32:
    return {b.getI32Type(), 4};
  case TP::INT16:
    return {b.getI16Type(), 2};
  case TP::INT8:
    return {b.getI8Type(), 1};
  case TP::UINT8:
    return {IntegerType::get(ctx, 8, IntegerType::Unsigned), 1};
  case TP::UINT16:
    return {IntegerType::get(ctx, 16, IntegerType::Unsigned), 2};
  case TP::UINT32:
    return {IntegerType::get(ctx, 32, IntegerType::Unsigned), 4};
  case TP::UINT64:
    return {IntegerType::get(ctx, 64, IntegerType::Unsigned), 8};
  case TP::BOOL:
    return {b.getI1Type(), 1};
  default:
    return {Type(), 0};
  }
}

std::string dataTypeName(int32_t dataType) {
  if (::onnx::TensorProto_DataType_IsValid(dataType))
    return ::onnx::TensorProto_DataType_Name(
        static_cast<::onnx::TensorProto_DataType>(dataType));
  return "unknown data type " + std::to_string(dataType);
}

/// Holds the state of one import.
class Importer {
public:
  Importer(MLIRContext *ctx, StringRef bufferName, StringRef baseDir,
           const OnnxImportOptions &options)
      : ctx(ctx), b(ctx), bufferName(bufferName.str()), baseDir(baseDir.str()),
        options(options), fileLoc(FileLineColLoc::get(ctx, bufferName, 0, 0)) {}

  OwningOpRef<ModuleOp> import(::onnx::ModelProto &model);

private:
  InFlightDiagnostic error() { return emitError(fileLoc); }
  /// NameLoc(node name), with the innermost module scope of the node as
  /// child location when the exporter recorded one, see moduleScope().
  Location nodeLoc(const ::onnx::NodeProto &node, int index) {
    std::string name = node.name().empty()
                           ? node.op_type() + "#" + std::to_string(index)
                           : node.name();
    // NodeProto.metadata_props (field 9, ONNX >= 1.16) is newer than the
    // system's onnx.proto, so it arrives as an unknown field.
    const google::protobuf::UnknownFieldSet &unknown = node.unknown_fields();
    for (int i = 0, e = unknown.field_count(); i < e; ++i) {
      const google::protobuf::UnknownField &field = unknown.field(i);
      if (field.number() != kNodeMetadataPropsField ||
          field.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED)
        continue;
      ::onnx::StringStringEntryProto prop;
      if (!prop.ParseFromString(field.length_delimited()) ||
          prop.key() != kNameScopesKey)
        continue;
      if (std::optional<StringRef> scope = moduleScope(prop.value()))
        return NameLoc::get(b.getStringAttr(name),
                            NameLoc::get(b.getStringAttr(*scope)));
    }
    return NameLoc::get(b.getStringAttr(name));
  }

  FailureOr<Type> convertType(const ::onnx::TypeProto &type,
                              StringRef valueName);
  FailureOr<ElementsAttr> convertTensor(::onnx::TensorProto &tensor,
                                        StringRef what);
  FailureOr<ElementsAttr> makeElements(RankedTensorType type, StringRef name,
                                       std::shared_ptr<void> owner,
                                       ArrayRef<char> bytes, int64_t elemSize);
  FailureOr<Attribute> convertAttribute(::onnx::AttributeProto &attr,
                                        const ::onnx::NodeProto &node);
  Value getValue(StringRef name) { return values.lookup(name); }

  MLIRContext *ctx;
  Builder b;
  std::string bufferName;
  std::string baseDir;
  const OnnxImportOptions &options;
  Location fileLoc;
  llvm::StringMap<Value> values;
  llvm::StringMap<Type> declaredTypes;
  llvm::StringMap<int64_t> opsets;
};

FailureOr<Type> Importer::convertType(const ::onnx::TypeProto &type,
                                      StringRef valueName) {
  if (!type.has_tensor_type()) {
    error() << "value '" << valueName
            << "' is not a tensor (sequence, map and optional values are not "
               "supported)";
    return failure();
  }
  const auto &tensorType = type.tensor_type();
  Type elementType = getElementType(tensorType.elem_type(), ctx).first;
  if (!elementType) {
    error() << "value '" << valueName << "' has unsupported dtype "
            << dataTypeName(tensorType.elem_type());
    return failure();
  }
  if (!tensorType.has_shape())
    return Type(UnrankedTensorType::get(elementType));
  SmallVector<int64_t> shape;
  for (const auto &dim : tensorType.shape().dim())
    shape.push_back(dim.has_dim_value() && dim.dim_value() >= 0
                        ? dim.dim_value()
                        : ShapedType::kDynamic);
  return Type(RankedTensorType::get(shape, elementType));
}

FailureOr<ElementsAttr> Importer::makeElements(RankedTensorType type,
                                               StringRef name,
                                               std::shared_ptr<void> owner,
                                               ArrayRef<char> bytes,
                                               int64_t elemSize) {
  Type elementType = type.getElementType();
  // Booleans are one byte each in ONNX but bit-packed in dense attributes.
  if (elementType.isInteger(1)) {
    SmallVector<bool> bits;
    bits.reserve(bytes.size());
    for (char c : bytes)
      bits.push_back(c != 0);
    return ElementsAttr(DenseElementsAttr::get(type, bits));
  }
  if (type.getNumElements() <= options.inlineElementLimit) {
    bool isSplat = false;
    if (!DenseElementsAttr::isValidRawBuffer(type, bytes, isSplat)) {
      error() << "initializer '" << name << "': cannot interpret "
              << bytes.size() << " bytes as " << type;
      return failure();
    }
    return ElementsAttr(DenseElementsAttr::getFromRawBuffer(type, bytes));
  }
  // Large tensors alias the bytes they came in: a string moved out of the
  // protobuf or an mmapped slice of an external data file.
  uintptr_t address = reinterpret_cast<uintptr_t>(bytes.data());
  if (address % elemSize != 0) {
    AsmResourceBlob blob =
        HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, elemSize);
    return ElementsAttr(
        DenseResourceElementsAttr::get(type, name, std::move(blob)));
  }
  AsmResourceBlob blob(
      bytes, elemSize,
      [owner = std::move(owner)](void *, size_t, size_t) mutable {
        owner.reset();
      },
      /*dataIsMutable=*/false);
  return ElementsAttr(
      DenseResourceElementsAttr::get(type, name, std::move(blob)));
}

FailureOr<ElementsAttr> Importer::convertTensor(::onnx::TensorProto &tensor,
                                                StringRef what) {
  std::string name = tensor.name().empty() ? what.str() : tensor.name();
  auto [elementType, elemSize] = getElementType(tensor.data_type(), ctx);
  if (!elementType) {
    error() << "tensor '" << name << "' has unsupported dtype "
            << dataTypeName(tensor.data_type());
    return failure();
  }
  if (tensor.has_segment()) {
    error() << "tensor '" << name << "' is segmented, which is not supported";
    return failure();
  }
  SmallVector<int64_t> shape;
  int64_t numElements = 1;
  for (int64_t dim : tensor.dims()) {
    if (dim < 0 || (dim > 0 && numElements > (INT64_MAX / 16) / dim)) {
      error() << "tensor '" << name << "' has an invalid shape";
      return failure();
    }
    shape.push_back(dim);
    numElements *= dim;
  }
  auto type = RankedTensorType::get(shape, elementType);
  int64_t expectedBytes = numElements * elemSize;

  if (tensor.data_location() == ::onnx::TensorProto::EXTERNAL) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto &entry : tensor.external_data()) {
      if (entry.key() == "location") {
        location = entry.value();
      } else if (entry.key() == "offset" || entry.key() == "length") {
        int64_t value;
        if (!llvm::to_integer(entry.value(), value, 10) || value < 0) {
          error() << "tensor '" << name << "': invalid external data "
                  << entry.key() << " '" << entry.value() << "'";
          return failure();
        }
        (entry.key() == "offset" ? offset : length) = value;
      }
    }
    if (location.empty()) {
      error() << "tensor '" << name << "' has external data without a location";
      return failure();
    }
    if (llvm::sys::path::is_absolute(location) ||
        llvm::is_contained(llvm::make_range(llvm::sys::path::begin(location),
                                            llvm::sys::path::end(location)),
                           "..")) {
      error() << "tensor '" << name << "': external data location '" << location
              << "' must be a relative path inside the model's "
              << "folder";
      return failure();
    }
    SmallString<256> path(baseDir);
    llvm::sys::path::append(path, location);
    uint64_t fileSize;
    if (std::error_code ec = llvm::sys::fs::file_size(path, fileSize)) {
      error() << "tensor '" << name << "': cannot open external data file '"
              << path << "': " << ec.message();
      return failure();
    }
    if (length < 0)
      length = static_cast<int64_t>(fileSize) - offset;
    if (offset < 0 || static_cast<uint64_t>(offset) > fileSize ||
        static_cast<uint64_t>(length) > fileSize - offset) {
      error() << "tensor '" << name << "': external data in '" << path
              << "' at offset " << offset << " with length " << length
              << " runs past the end of the file (" << fileSize << " bytes)";
      return failure();
    }
    if (length != expectedBytes) {
      error() << "tensor '" << name << "': external data in '" << path
              << "' at offset " << offset << " has " << length << " bytes, but "
              << type << " needs " << expectedBytes;
      return failure();
    }
    if (expectedBytes == 0)
      return ElementsAttr(DenseElementsAttr::getFromRawBuffer(type, {}));
    auto bufferOr = llvm::MemoryBuffer::getFileSlice(path, length, offset,
                                                     /*IsVolatile=*/false);
    if (!bufferOr) {
      error() << "tensor '" << name << "': cannot map external data file '"
              << path << "': " << bufferOr.getError().message();
      return failure();
    }
    std::shared_ptr<llvm::MemoryBuffer> buffer = std::move(*bufferOr);
    ArrayRef<char> bytes(buffer->getBufferStart(), buffer->getBufferSize());
    return makeElements(type, name, buffer, bytes, elemSize);
  }

  if (tensor.has_raw_data()) {
    if (static_cast<int64_t>(tensor.raw_data().size()) != expectedBytes) {
      error() << "tensor '" << name << "': raw_data has "
              << tensor.raw_data().size() << " bytes, but " << type << " needs "
              << expectedBytes;
      return failure();
    }
    std::shared_ptr<std::string> data(tensor.release_raw_data());
    ArrayRef<char> bytes(data->data(), data->size());
    return makeElements(type, name, data, bytes, elemSize);
  }

  // Typed fields. 16-bit floats and small integers are stored widened in
  // int32_data; unsigned 32/64-bit integers in uint64_data.
  auto data = std::make_shared<std::string>();
  data->resize(expectedBytes);
  auto fill = [&](const auto &field, auto narrow) -> LogicalResult {
    if (field.size() != numElements) {
      error() << "tensor '" << name << "' has " << field.size()
              << " typed values, but " << type << " needs " << numElements;
      return failure();
    }
    char *out = data->data();
    for (const auto &value : field) {
      auto narrowed = narrow(value);
      static_assert(std::is_trivially_copyable_v<decltype(narrowed)>);
      memcpy(out, &narrowed, sizeof(narrowed));
      out += sizeof(narrowed);
    }
    return success();
  };
  using TP = ::onnx::TensorProto;
  LogicalResult filled = failure();
  switch (tensor.data_type()) {
  case TP::FLOAT:
    filled = fill(tensor.float_data(), [](float v) { return v; });
    break;
  case TP::DOUBLE:
    filled = fill(tensor.double_data(), [](double v) { return v; });
    break;
  case TP::INT64:
    filled = fill(tensor.int64_data(), [](int64_t v) { return v; });
    break;
  case TP::INT32:
    filled = fill(tensor.int32_data(), [](int32_t v) { return v; });
    break;
  case TP::INT16:
    filled = fill(tensor.int32_data(),
                  [](int32_t v) { return static_cast<int16_t>(v); });
    break;
  case TP::UINT16:
  case TP::FLOAT16:
  case TP::BFLOAT16:
    filled = fill(tensor.int32_data(),
                  [](int32_t v) { return static_cast<uint16_t>(v); });
    break;
  case TP::INT8:
  case TP::UINT8:
  case TP::BOOL:
    filled = fill(tensor.int32_data(),
                  [](int32_t v) { return static_cast<uint8_t>(v); });
    break;
  case TP::UINT32:
    filled = fill(tensor.uint64_data(),
                  [](uint64_t v) { return static_cast<uint32_t>(v); });
    break;
  case TP::UINT64:
    filled = fill(tensor.uint64_data(), [](uint64_t v) { return v; });
    break;
  }
  if (failed(filled))
    return failure();
  ArrayRef<char> bytes(data->data(), data->size());
  return makeElements(type, name, data, bytes, elemSize);
}

FailureOr<Attribute> Importer::convertAttribute(::onnx::AttributeProto &attr,
                                                const ::onnx::NodeProto &node) {
  using AP = ::onnx::AttributeProto;
  auto unsupported = [&](StringRef kind) -> FailureOr<Attribute> {
    error() << "node '" << node.name() << "' (" << node.op_type()
            << "): attribute '" << attr.name() << "' is a " << kind
            << ", which is not supported";
    return failure();
  };
  if (!attr.ref_attr_name().empty())
    return unsupported("reference to a function attribute");
  switch (attr.type()) {
  case AP::FLOAT:
    return Attribute(b.getF32FloatAttr(attr.f()));
  case AP::INT:
    return Attribute(b.getI64IntegerAttr(attr.i()));
  case AP::STRING:
    return Attribute(b.getStringAttr(attr.s()));
  case AP::TENSOR: {
    auto elements = convertTensor(*attr.mutable_t(), attr.name());
    if (failed(elements))
      return failure();
    return Attribute(*elements);
  }
  case AP::FLOATS:
    return Attribute(b.getDenseF32ArrayAttr(
        SmallVector<float>(attr.floats().begin(), attr.floats().end())));
  case AP::INTS:
    return Attribute(b.getDenseI64ArrayAttr(
        SmallVector<int64_t>(attr.ints().begin(), attr.ints().end())));
  case AP::STRINGS: {
    SmallVector<Attribute> strings;
    for (const auto &s : attr.strings())
      strings.push_back(b.getStringAttr(s));
    return Attribute(b.getArrayAttr(strings));
  }
  case AP::TENSORS: {
    SmallVector<Attribute> tensors;
    for (auto &t : *attr.mutable_tensors()) {
      auto elements = convertTensor(t, attr.name());
      if (failed(elements))
        return failure();
      tensors.push_back(*elements);
    }
    return Attribute(b.getArrayAttr(tensors));
  }
  case AP::GRAPH:
  case AP::GRAPHS:
    return unsupported("subgraph (control flow such as If/Loop/Scan)");
  case AP::SPARSE_TENSOR:
  case AP::SPARSE_TENSORS:
    return unsupported("sparse tensor");
  case AP::TYPE_PROTO:
  case AP::TYPE_PROTOS:
    return unsupported("type");
  default:
    return unsupported("attribute of unknown kind");
  }
}

OwningOpRef<ModuleOp> Importer::import(::onnx::ModelProto &model) {
  if (!model.has_graph()) {
    error() << "model has no graph";
    return nullptr;
  }
  for (const auto &opset : model.opset_import()) {
    std::string domain = opset.domain() == "ai.onnx" ? "" : opset.domain();
    opsets[domain] = opset.version();
  }
  auto defaultOpset = opsets.find("");
  if (defaultOpset == opsets.end()) {
    error() << "model imports no opset for the default ONNX domain";
    return nullptr;
  }
  if (defaultOpset->second > lora::onnx::kMaxSupportedOpset ||
      defaultOpset->second < 1) {
    error() << "model uses default-domain opset " << defaultOpset->second
            << "; lora-opt supports opsets 1 to "
            << lora::onnx::kMaxSupportedOpset;
    return nullptr;
  }

  ::onnx::GraphProto &graph = *model.mutable_graph();
  if (graph.node_size() == 0 && graph.output_size() == 0) {
    error() << "model graph '" << graph.name()
            << "' is empty: it has no nodes and no outputs";
    return nullptr;
  }
  if (graph.sparse_initializer_size() > 0) {
    error() << "model has sparse initializers ('"
            << graph.sparse_initializer(0).values().name()
            << "'), which are not supported";
    return nullptr;
  }
  if (model.functions_size() > 0) {
    error() << "model defines local functions ('" << model.functions(0).name()
            << "'); inline them first (onnx.inliner.inline_local_functions)";
    return nullptr;
  }

  // Declared types of values, so that results keep what the exporter knew.
  for (const auto *list : {&graph.value_info(), &graph.output()})
    for (const auto &info : *list) {
      if (!info.has_type())
        continue;
      auto type = convertType(info.type(), info.name());
      if (failed(type))
        return nullptr;
      declaredTypes[info.name()] = *type;
    }

  llvm::StringSet<> initializerNames;
  for (const auto &init : graph.initializer())
    initializerNames.insert(init.name());

  // Arguments: graph inputs that are not initializers, specialised by
  // --input-shape.
  SmallVector<Type> argTypes;
  SmallVector<std::string> argNames;
  llvm::StringSet<> usedOverrides;
  for (const auto &input : graph.input()) {
    if (initializerNames.contains(input.name()))
      continue;
    auto type = convertType(input.type(), input.name());
    if (failed(type))
      return nullptr;
    auto it = options.inputShapes.find(input.name());
    if (it != options.inputShapes.end()) {
      usedOverrides.insert(input.name());
      ArrayRef<int64_t> shape = it->second;
      auto ranked = dyn_cast<RankedTensorType>(*type);
      if (ranked && ranked.getRank() != static_cast<int64_t>(shape.size())) {
        error() << "--input-shape for '" << input.name() << "' has rank "
                << shape.size() << ", but the model declares " << ranked;
        return nullptr;
      }
      if (ranked)
        for (auto [i, dim] : llvm::enumerate(ranked.getShape()))
          if (!ShapedType::isDynamic(dim) && dim != shape[i]) {
            error() << "--input-shape for '" << input.name()
                    << "' contradicts static dim " << i << " of " << ranked
                    << " (" << dim << " vs " << shape[i] << ")";
            return nullptr;
          }
      type = Type(RankedTensorType::get(
          shape, cast<ShapedType>(*type).getElementType()));
    }
    argTypes.push_back(*type);
    argNames.push_back(input.name());
  }
  for (const auto &entry : options.inputShapes)
    if (!usedOverrides.contains(entry.getKey())) {
      auto diag = error() << "--input-shape names '" << entry.getKey()
                          << "', which is not a graph input (inputs:";
      for (const auto &name : argNames)
        diag << " " << name;
      diag << ")";
      return nullptr;
    }

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  if (!model.producer_name().empty())
    (*module)->setAttr("onnx.producer",
                       b.getStringAttr(model.producer_name() + " " +
                                       model.producer_version()));
  (*module)->setAttr("onnx.opset", b.getI64IntegerAttr(defaultOpset->second));
  OpBuilder builder = OpBuilder::atBlockEnd(module->getBody());
  auto func = func::FuncOp::create(builder, fileLoc, options.funcName,
                                   builder.getFunctionType(argTypes, {}));
  Block *body = func.addEntryBlock();
  for (auto [i, name] : llvm::enumerate(argNames)) {
    func.setArgAttr(i, "onnx.name", b.getStringAttr(name));
    values[name] = body->getArgument(i);
  }
  builder.setInsertionPointToStart(body);

  for (auto &init : *graph.mutable_initializer()) {
    std::string name = init.name();
    auto elements = convertTensor(init, name);
    if (failed(elements))
      return nullptr;
    auto loc = NameLoc::get(b.getStringAttr(name));
    values[name] =
        arith::ConstantOp::create(builder, loc, cast<TypedAttr>(*elements));
  }

  Value none;
  for (auto [index, node] : llvm::enumerate(*graph.mutable_node())) {
    Location loc = nodeLoc(node, index);
    if (node.op_type().empty()) {
      error() << "node #" << index << " ('" << node.name()
              << "') has no op_type";
      return nullptr;
    }
    std::string domain = node.domain() == "ai.onnx" ? "" : node.domain();
    auto opset = opsets.find(domain);
    if (opset == opsets.end()) {
      error() << "node '" << node.name() << "' (" << node.op_type()
              << ") is in domain '" << domain
              << "', which the model does not import";
      return nullptr;
    }
    if (opset->second < 1) {
      error() << "node '" << node.name() << "' (" << node.op_type()
              << "): the model imports domain '" << domain
              << "' at invalid opset version " << opset->second;
      return nullptr;
    }
    SmallVector<Value> operands;
    for (const auto &inputName : node.input()) {
      if (inputName.empty()) {
        if (!none) {
          OpBuilder::InsertionGuard guard(builder);
          builder.setInsertionPointToStart(body);
          none = lora::onnx::NoneOp::create(builder, fileLoc,
                                            builder.getNoneType());
        }
        operands.push_back(none);
        continue;
      }
      Value value = getValue(inputName);
      if (!value) {
        error() << "node '" << node.name() << "' (" << node.op_type()
                << ") uses '" << inputName
                << "', which no earlier node, input or initializer defines";
        return nullptr;
      }
      operands.push_back(value);
    }
    NamedAttrList attrs;
    for (auto &attr : *node.mutable_attribute()) {
      auto converted = convertAttribute(attr, node);
      if (failed(converted))
        return nullptr;
      attrs.set(attr.name(), *converted);
    }
    SmallVector<Type> resultTypes;
    for (const auto &outputName : node.output()) {
      Type declared = declaredTypes.lookup(outputName);
      resultTypes.push_back(declared ? declared
                                     : Type(lora::onnx::UnknownType::get(ctx)));
    }
    auto op = lora::onnx::NodeOp::create(
        builder, loc, resultTypes, b.getStringAttr(node.op_type()),
        domain.empty() ? StringAttr() : b.getStringAttr(domain),
        b.getI64IntegerAttr(opset->second),
        attrs.empty() ? DictionaryAttr() : attrs.getDictionary(ctx), operands);
    for (auto [outputName, result] :
         llvm::zip_equal(node.output(), op.getResults()))
      if (!outputName.empty())
        values[outputName] = result;
  }

  SmallVector<Value> results;
  for (const auto &output : graph.output()) {
    Value value = getValue(output.name());
    if (!value) {
      error() << "graph output '" << output.name()
              << "' is not produced by any node, input or initializer";
      return nullptr;
    }
    results.push_back(value);
  }
  func::ReturnOp::create(builder, fileLoc, results);
  func.setFunctionType(
      builder.getFunctionType(argTypes, ValueRange(results).getTypes()));
  for (auto [i, output] : llvm::enumerate(graph.output()))
    func.setResultAttr(i, "onnx.name", b.getStringAttr(output.name()));
  return module;
}

} // namespace

LogicalResult mlir::lora::parseInputShapeSpec(StringRef spec,
                                              OnnxImportOptions &options,
                                              std::string &error) {
  SmallVector<StringRef> entries;
  spec.split(entries, ',', -1, /*KeepEmpty=*/false);
  for (StringRef entry : entries) {
    auto [name, dims] = entry.trim().rsplit(':');
    if (name.empty() || dims.empty()) {
      error = ("--input-shape entry '" + entry +
               "' is not of the form name:DxDx...")
                  .str();
      return failure();
    }
    SmallVector<int64_t> shape;
    SmallVector<StringRef> dimStrs;
    dims.split(dimStrs, 'x');
    for (StringRef dim : dimStrs) {
      int64_t value;
      if (dim == "scalar" && dimStrs.size() == 1)
        break;
      if (dim.getAsInteger(10, value) || value < 0) {
        error = ("--input-shape entry '" + entry + "': '" + dim +
                 "' is not a non-negative dimension")
                    .str();
        return failure();
      }
      shape.push_back(value);
    }
    options.inputShapes[name] = shape;
  }
  return success();
}

OwningOpRef<ModuleOp>
mlir::lora::importOnnxModel(StringRef bytes, StringRef bufferName,
                            StringRef baseDir, MLIRContext *context,
                            const OnnxImportOptions &options) {
  context->loadDialect<lora::onnx::OnnxDialect, func::FuncDialect,
                       arith::ArithDialect>();
  ::onnx::ModelProto model;
  google::protobuf::io::ArrayInputStream rawInput(
      bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), INT_MAX)));
  google::protobuf::io::CodedInputStream input(&rawInput);
  input.SetTotalBytesLimit(INT_MAX);
  if (bytes.size() > INT_MAX || !model.ParseFromCodedStream(&input) ||
      !input.ConsumedEntireMessage()) {
    emitError(FileLineColLoc::get(context, bufferName, 0, 0))
        << "cannot parse '" << bufferName
        << "' as an ONNX model: the protobuf is truncated or corrupt";
    return nullptr;
  }
  Importer importer(context, bufferName, baseDir, options);
  return importer.import(model);
}

OwningOpRef<ModuleOp>
mlir::lora::importOnnxFile(StringRef path, MLIRContext *context,
                           const OnnxImportOptions &options) {
  auto bufferOr = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                              /*RequiresNullTerminator=*/false);
  if (!bufferOr) {
    emitError(FileLineColLoc::get(context, path, 0, 0))
        << "cannot open '" << path << "': " << bufferOr.getError().message();
    return nullptr;
  }
  SmallString<256> baseDir(path);
  llvm::sys::path::remove_filename(baseDir);
  return importOnnxModel((*bufferOr)->getBuffer(), path, baseDir, context,
                         options);
}

void mlir::lora::registerOnnxImportDialects(DialectRegistry &registry) {
  registry.insert<lora::onnx::OnnxDialect, func::FuncDialect,
                  arith::ArithDialect>();
}

void mlir::lora::registerOnnxImportTranslation() {
  static llvm::cl::opt<std::string> inputShape(
      "input-shape",
      llvm::cl::desc("Static shapes for graph inputs, e.g. "
                     "input_ids:2x16,attention_mask:2x16"),
      llvm::cl::init(""));
  TranslateToMLIRRegistration registration(
      "import-onnx", "Import an ONNX model (.onnx) into the onnx dialect",
      [](llvm::SourceMgr &sourceMgr,
         MLIRContext *context) -> OwningOpRef<Operation *> {
        OnnxImportOptions options;
        std::string error;
        if (failed(parseInputShapeSpec(inputShape, options, error))) {
          emitError(UnknownLoc::get(context)) << error;
          return nullptr;
        }
        const llvm::MemoryBuffer *buffer =
            sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
        StringRef name = buffer->getBufferIdentifier();
        SmallString<256> baseDir(name);
        llvm::sys::path::remove_filename(baseDir);
        return importOnnxModel(buffer->getBuffer(), name, baseDir, context,
                               options);
      },
      registerOnnxImportDialects);
}
