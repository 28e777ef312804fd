//===- AdapterTestSupport.h - helpers for the adapter gtests ----*- C++ -*-===//

#ifndef LORA_TEST_UNIT_ADAPTERTESTSUPPORT_H
#define LORA_TEST_UNIT_ADAPTERTESTSUPPORT_H

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <string>

/// Fails the test with the error's message when `expr` (an llvm::Error)
/// is a failure.
#define ASSERT_NO_ERROR(expr)                                                  \
  do {                                                                         \
    if (llvm::Error assertError = (expr))                                      \
      FAIL() << llvm::toString(std::move(assertError));                        \
  } while (false)

/// Unwraps an llvm::Expected into `var`, failing the test with its message.
#define ASSERT_EXPECTED(var, expr)                                             \
  auto var = (expr);                                                           \
  if (!var)                                                                    \
  FAIL() << llvm::toString(var.takeError())

/// Checks that `haystack` (a std::string) contains `needle`.
#define EXPECT_CONTAINS(haystack, needle)                                      \
  EXPECT_NE(std::string(haystack).find(llvm::StringRef(needle)),               \
            std::string::npos)                                                 \
      << "'" << std::string(haystack) << "' does not contain '"                \
      << llvm::StringRef(needle).str() << "'"

namespace lora_test {

/// Path of a file under test/unit/Inputs.
inline std::string inputPath(llvm::StringRef name) {
  llvm::SmallString<256> path(LORA_TEST_INPUTS);
  llvm::sys::path::append(path, name);
  return std::string(path);
}

/// The bytes of `path` ("" when it cannot be read; the test then fails on
/// what it expected to find).
inline std::string readBytes(llvm::StringRef path) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                  /*RequiresNullTerminator=*/false);
  return buffer ? (*buffer)->getBuffer().str() : std::string();
}

/// test/unit/Inputs/expected.json, written by make_adapter_fixtures.py.
inline const llvm::json::Object &expectedValues() {
  static llvm::json::Value value = [] {
    llvm::Expected<llvm::json::Value> parsed =
        llvm::json::parse(readBytes(inputPath("expected.json")));
    if (!parsed) {
      ADD_FAILURE() << llvm::toString(parsed.takeError());
      return llvm::json::Value(llvm::json::Object());
    }
    return std::move(*parsed);
  }();
  return *value.getAsObject();
}

/// The message of a failed Expected, or "" (and a test failure) if it holds
/// a value.
template <typename T> std::string errorOf(llvm::Expected<T> result) {
  if (result) {
    ADD_FAILURE() << "expected an error";
    return "";
  }
  return llvm::toString(result.takeError());
}

/// The message of an Error, or "" (and a test failure) for success.
inline std::string errorOf(llvm::Error error) {
  if (!error) {
    ADD_FAILURE() << "expected an error";
    return "";
  }
  return llvm::toString(std::move(error));
}

/// A fresh directory per test, removed afterwards.
class TempDirTest : public testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(
        llvm::sys::fs::createUniqueDirectory("lora-adapter-test", tempDir));
  }
  void TearDown() override { llvm::sys::fs::remove_directories(tempDir); }

  /// `name` inside the test's directory.
  std::string path(llvm::StringRef name) const {
    llvm::SmallString<256> result(tempDir);
    llvm::sys::path::append(result, name);
    return std::string(result);
  }

  /// Writes `bytes` to `name` in the test's directory; returns its path.
  std::string writeFile(llvm::StringRef name, llvm::StringRef bytes) const {
    std::string file = path(name);
    std::error_code ec;
    llvm::raw_fd_ostream os(file, ec);
    EXPECT_FALSE(ec) << ec.message();
    os << bytes;
    return file;
  }

  /// Names of the entries of the test's directory (or of `sub` in it).
  std::vector<std::string> listDir(llvm::StringRef sub = "") const {
    std::vector<std::string> names;
    std::error_code ec;
    std::string dir = sub.empty() ? std::string(tempDir) : path(sub);
    for (llvm::sys::fs::directory_iterator it(dir, ec), end; !ec && it != end;
         it.increment(ec))
      names.push_back(llvm::sys::path::filename(it->path()).str());
    std::sort(names.begin(), names.end());
    return names;
  }

  llvm::SmallString<128> tempDir;
};

} // namespace lora_test

#endif // LORA_TEST_UNIT_ADAPTERTESTSUPPORT_H
