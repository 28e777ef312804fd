//===- BufferLifetimes.h - where a buffer is used ---------------*- C++ -*-===//
//
// What lora-shrink-buffer-lifetimes and lora-cuda-device-memory share:
// the span of a block in which an allocated buffer is used.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_PASSES_BUFFERLIFETIMES_H
#define LORA_PASSES_BUFFERLIFETIMES_H

#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace mlir::lora {

/// The ops of a buffer's block that use it: directly, through an op nested
/// in them, or through a value that may hold its address (every result of
/// an op using the buffer that is not a number: views, casts, TMA
/// descriptors, tokens, and conservatively the memrefs a call returns; the
/// address taken as an index; and everything computed from those).
struct BufferUses {
  /// The first and the last of them; the buffer's defining op when unused.
  Operation *first = nullptr;
  Operation *last = nullptr;
  /// The deallocations of the buffer or an alias in the same block.
  SmallVector<memref::DeallocOp> deallocs;
  /// Whether the buffer outlives the block: an alias is returned or
  /// yielded, used (deallocated included) outside the block, or a value
  /// holding its address is written to memory.
  bool escapes = false;
};

/// Finds where `buffer`, the result of an allocation (memref.alloc,
/// gpu.alloc), is used in its block; the deallocations are not counted as
/// uses.
BufferUses findBufferUses(Value buffer);

} // namespace mlir::lora

#endif // LORA_PASSES_BUFFERLIFETIMES_H
