//===- OnnxOps.td - ops of the ONNX import dialect ---------*- tablegen -*-===//

#ifndef LORA_DIALECT_ONNX_ONNXOPS_TD
#define LORA_DIALECT_ONNX_ONNXOPS_TD

include "OnnxDialect.td"
include "mlir/IR/BuiltinAttributes.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Onnx_NodeOp : Onnx_Op<"node", [Pure]> {
  let summary = "One ONNX node, kept generic";
  let description = [{
    An ONNX node exactly as it stands in the model: `op_type` and `domain`
    name the operator, `opset` is the opset version imported for that domain,
    and `node_attrs` holds the node's attributes (ints as i64, floats as f32,
    strings, tensors as elements attributes, lists as arrays). The node name
    is the op's location.

    Example:

    ```mlir
    %y = onnx.node "Softmax"(%x) attrs {axis = -1 : i64} opset 18
        : (tensor<2x8xf32>) -> tensor<2x8xf32> loc("/attn/Softmax")
    ```

    Result types are whatever the model declared (value_info or graph
    outputs); values it left undeclared are unranked and get their shapes
    from the conversion.
  }];

  let arguments = (ins StrAttr:$op_type,
                       OptionalAttr<StrAttr>:$domain,
                       I64Attr:$opset,
                       OptionalAttr<DictionaryAttr>:$node_attrs,
                       Variadic<AnyType>:$inputs);
  let results = (outs Variadic<AnyType>:$outputs);

  let assemblyFormat = [{
    $op_type `(` $inputs `)` (`attrs` $node_attrs^)? `opset` $opset
    (`domain` $domain^)? attr-dict `:` functional-type($inputs, $outputs)
  }];

  let extraClassDeclaration = [{
    /// Returns the ONNX attribute `name`, or null when the node lacks it.
    ::mlir::Attribute getNodeAttr(::llvm::StringRef name) {
      auto attrs = getNodeAttrsAttr();
      return attrs ? attrs.get(name) : ::mlir::Attribute();
    }
    /// Returns the domain, "" for the default ONNX domain.
    ::llvm::StringRef getDomainOrDefault() {
      return getDomain().value_or("");
    }
  }];
  let hasVerifier = 1;
}

def Onnx_NoneOp : Onnx_Op<"none", [Pure]> {
  let summary = "Placeholder for an ONNX optional input that is absent";
  let description = [{
    ONNX marks a skipped optional input with an empty name. The importer
    passes the result of `onnx.none` in its place.

    ```mlir
    %none = onnx.none
    %y = onnx.node "Clip"(%x, %none, %max) opset 18 : (tensor<4xf32>, none, tensor<f32>) -> tensor<4xf32>
    ```
  }];
  let results = (outs NoneType:$result);
  let assemblyFormat = "attr-dict";
}

#endif // LORA_DIALECT_ONNX_ONNXOPS_TD
