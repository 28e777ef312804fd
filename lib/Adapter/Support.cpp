//===- Support.cpp - helpers shared by the adapter readers/writers --------===//

#include "Support.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"

using namespace llvm;

Error mlir::lora::writeFileAtomically(StringRef path,
                                      function_ref<void(raw_ostream &)> write) {
  // Same directory as `path`, so the rename cannot cross file systems.
  Expected<sys::fs::TempFile> temp =
      sys::fs::TempFile::create(path + ".tmp-%%%%%%");
  if (!temp)
    return createStringError("cannot create a temporary file next to '" + path +
                             "': " + toString(temp.takeError()));
  std::error_code writeError;
  {
    raw_fd_ostream os(temp->FD, /*shouldClose=*/false);
    write(os);
    os.flush();
    writeError = os.error();
    os.clear_error();
  }
  if (writeError) {
    consumeError(temp->discard());
    return createStringError("cannot write '" + path +
                             "': " + writeError.message());
  }
  // keep() removes the temporary file itself when the rename fails.
  if (Error error = temp->keep(path))
    return createStringError("cannot write '" + path +
                             "': " + toString(std::move(error)));
  return Error::success();
}

std::string mlir::lora::formatShape(ArrayRef<int64_t> shape) {
  return "[" +
         join(map_range(shape, [](int64_t d) { return itostr(d); }), ", ") +
         "]";
}
