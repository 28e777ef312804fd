//===- OnnxDialect.td - the ONNX import dialect ------------*- tablegen -*-===//
//
// The `onnx` dialect is the import form of an ONNX graph: the importer maps
// every node mechanically onto one generic `onnx.node` op. The meaning of each
// ONNX operator lives in the conversion patterns (convert-onnx-to-tosa), which
// are tested from textual IR.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_DIALECT_ONNX_ONNXDIALECT_TD
#define LORA_DIALECT_ONNX_ONNXDIALECT_TD

include "mlir/IR/OpBase.td"

def Onnx_Dialect : Dialect {
  let name = "onnx";
  let summary = "Import form of ONNX graphs: one generic op per ONNX node";
  let description = [{
    An ONNX graph imported mechanically. Each ONNX node becomes one
    `onnx.node` op that keeps the operator type, its domain, the opset version
    in force for that domain, and every attribute; the node name is the op's
    location. Missing optional inputs are `onnx.none` values. Graph
    initializers become `arith.constant` ops named by their location.
  }];
  let cppNamespace = "::mlir::lora::onnx";
  let useDefaultTypePrinterParser = 1;
}

class Onnx_Op<string mnemonic, list<Trait> traits = []>
    : Op<Onnx_Dialect, mnemonic, traits>;

include "mlir/IR/AttrTypeBase.td"

def Onnx_UnknownType : TypeDef<Onnx_Dialect, "Unknown"> {
  let mnemonic = "unknown";
  let summary = "A value whose type the model does not declare";
  let description = [{
    ONNX models need not declare the type of intermediate values. The
    importer gives such node results `!onnx.unknown`; the conversion computes
    their real types from the operands.
  }];
}

#endif // LORA_DIALECT_ONNX_ONNXDIALECT_TD
