//===- GraphBuilder.h - building one ONNX graph from MLIR -------*- C++ -*-===//
//
// Private to lib/Export. The GraphBuilder owns the naming and the
// initializers of the graph under construction; ExportOps.cpp turns each op
// into nodes through it.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_LIB_EXPORT_GRAPHBUILDER_H
#define LORA_LIB_EXPORT_GRAPHBUILDER_H

#include "lora/Export/OnnxExporter.h"

#include "mlir/IR/BuiltinAttributeInterfaces.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <onnx/onnx_pb.h>

#include <deque>
#include <optional>

namespace mlir::lora::onnx_export {

/// The ONNX data type (TensorProto enum) of `type`, or nullopt for element
/// types ONNX has no counterpart for. Signless integers are signed.
std::optional<int32_t> getOnnxDataType(Type type);

/// Initializer bytes that go to the external data file, in file order.
struct ExternalData {
  struct Chunk {
    int64_t offset;
    llvm::ArrayRef<char> bytes;
  };
  std::vector<Chunk> chunks;
  int64_t size = 0;
  /// Bytes that are not views of attribute storage (splats, booleans).
  std::deque<std::string> owned;
};

/// Builds one GraphProto: gives every value a unique name, turns constants
/// into initializers on first use, and names nodes after the location of
/// the op they come from. Errors are emitted on that op (or the constant at
/// fault) and recorded: callers check `hasError()` after each op.
class GraphBuilder {
public:
  GraphBuilder(::onnx::GraphProto &graph, const OnnxExportOptions &options)
      : graph(graph), options(options) {}

  /// Claims `name` for a graph input, output or named initializer, which
  /// must keep it exactly. Returns false when it is taken already.
  bool claim(llvm::StringRef name);

  /// Sets the op whose nodes are emitted next; they are named after `name`,
  /// or else after the op's location.
  void setOp(Operation *op, llvm::StringRef name = {});

  /// Emits an error on the current op and records the failure.
  InFlightDiagnostic emitError();
  /// Emits an error at `loc` and records the failure.
  InFlightDiagnostic emitError(Location loc);
  bool hasError() const { return hadError; }

  /// Gives `value` the (claimed) name `name`: graph inputs, and values that
  /// are returned, whose defining node then outputs the graph output.
  void setName(Value value, llvm::StringRef name);
  /// The name of `value`. A constant becomes an initializer on first use.
  std::string operand(Value value);

  /// Adds a node of `opType` for the current op. Its single output defines
  /// `result` when given, else it is a temporary. Returns the node; its
  /// output's name is `node.output(0)`.
  ::onnx::NodeProto &addNode(llvm::StringRef opType,
                             llvm::ArrayRef<std::string> inputs,
                             Value result = {});
  /// Adds a node whose output is the claimed name `output`.
  ::onnx::NodeProto &addNode(llvm::StringRef opType,
                             llvm::ArrayRef<std::string> inputs,
                             llvm::StringRef output);

  /// Adds `attr` as an initializer. When `exactName` is set, it is named
  /// `name` (claimed by the caller); otherwise `name` is a base for a unique
  /// name. The same attribute used twice is stored once.
  std::string addInitializer(ElementsAttr attr, llvm::StringRef name,
                             Location loc, bool exactName = false);
  /// A 1-D int64 initializer (shapes, axes, starts).
  std::string addInt64s(llvm::ArrayRef<int64_t> values);
  /// A rank-0 initializer holding `value` (a typed attribute).
  std::string addScalar(TypedAttr value);

  /// Fills `info` with `name` and the tensor type `type`.
  LogicalResult setValueInfo(::onnx::ValueInfoProto &info, llvm::StringRef name,
                             Type type, Location loc);

  ExternalData &getExternalData() { return external; }
  /// Bytes of initializer data stored inside the model.
  int64_t getInlineBytes() const { return inlineBytes; }

private:
  std::string uniqueValueName(llvm::StringRef base);
  std::string uniqueNodeName(llvm::StringRef base);
  /// The bytes of `attr` in ONNX's raw_data layout.
  FailureOr<llvm::ArrayRef<char>> rawBytes(ElementsAttr attr, Location loc,
                                           std::string &storage);

  ::onnx::GraphProto &graph;
  const OnnxExportOptions &options;
  Operation *currentOp = nullptr;
  /// Base name for the current op's nodes and values.
  std::string currentBase;
  bool hadError = false;

  llvm::DenseMap<Value, std::string> names;
  llvm::DenseMap<Attribute, std::string> initializers;
  llvm::StringSet<> valueNames;
  llvm::StringMap<unsigned> valueSuffixes;
  llvm::StringSet<> nodeNames;
  llvm::StringMap<unsigned> nodeSuffixes;

  ExternalData external;
  int64_t inlineBytes = 0;
};

/// Adds the nodes for `op` (any op but constants and the terminator).
/// Returns failure, with an error on `op`, when it cannot be exported.
LogicalResult exportOperation(GraphBuilder &builder, Operation *op);

/// Node attribute helpers.
void addAttribute(::onnx::NodeProto &node, llvm::StringRef name, int64_t value);
void addAttribute(::onnx::NodeProto &node, llvm::StringRef name,
                  llvm::ArrayRef<int64_t> values);

} // namespace mlir::lora::onnx_export

#endif // LORA_LIB_EXPORT_GRAPHBUILDER_H
