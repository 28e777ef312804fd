//===- Support.h - helpers shared by the adapter readers/writers -*- C++
//-*-===//
//
// Private to LoraAdapter.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_ADAPTER_SUPPORT_H
#define LORA_ADAPTER_SUPPORT_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace mlir::lora {

/// Calls `write` on a stream to a new temporary file next to `path`, then
/// renames it over `path`. On any failure the temporary file is removed and
/// `path` is left as it was; the error names `path`.
llvm::Error
writeFileAtomically(llvm::StringRef path,
                    llvm::function_ref<void(llvm::raw_ostream &)> write);

/// "[2, 3]": a shape as error messages print it.
std::string formatShape(llvm::ArrayRef<int64_t> shape);

} // namespace mlir::lora

#endif // LORA_ADAPTER_SUPPORT_H
