//===- Passes.h - lora-opt passes -------------------------------*- C++ -*-===//

#ifndef LORA_PASSES_PASSES_H
#define LORA_PASSES_PASSES_H

#include "lora/Dialect/Lora/Lora.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace lora {

#define GEN_PASS_DECL
#include "lora/Passes/Passes.h.inc"

/// Adds the pattern that converts supported `onnx.node` ops to TOSA.
void populateOnnxToTosaConversionPatterns(RewritePatternSet &patterns);

/// Adds the patterns that lower `lora.linear` (three `linalg.matmul`s and
/// one `linalg.generic` epilogue) and `lora.linear_grad` (five contractions
/// as `linalg.generic`s and their epilogues) to linalg on tensors.
void populateLoraToLinalgConversionPatterns(RewritePatternSet &patterns);

/// The name the runtime and artifact manifests give an element type ("f32",
/// "bf16", "i64", "u8", "bool", ...), or "" for a type compiled entry points
/// cannot take.
StringRef getRuntimeDTypeName(Type type);

#define GEN_PASS_REGISTRATION
#include "lora/Passes/Passes.h.inc"

} // namespace lora
} // namespace mlir

#endif // LORA_PASSES_PASSES_H
