//===- DeduplicateSymbols.h - one copy of identical symbols ------*- C++ -*-===//
//
// What lora-dedup-gpu-modules and lora-outline-loop-nests share: the
// symbols that are the same but for their name (a model's layers of one
// shape give the same kernels and loop nests) kept once.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_PASSES_DEDUPLICATESYMBOLS_H
#define LORA_PASSES_DEDUPLICATESYMBOLS_H

#include "mlir/IR/Operation.h"

namespace mlir::lora {

/// Erases each op of `symbols` (symbols of the symbol table `symbolTable`)
/// that is the same as an earlier one of them but for its name: the same
/// op, attributes and properties besides the name, and regions (locations
/// aside). The symbol references to an erased op, in `symbolTable`'s ops
/// outside nested symbol tables, then name the earlier one. Returns how
/// many it erased.
int64_t deduplicateSymbols(ArrayRef<Operation *> symbols,
                           Operation *symbolTable);

} // namespace mlir::lora

#endif // LORA_PASSES_DEDUPLICATESYMBOLS_H
