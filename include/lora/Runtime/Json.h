//===- Json.h - a small, strict JSON reader ---------------------*- C++ -*-===//
//
// Reads manifest.json, adapter_config.json and safetensors headers without
// LLVM (the runtime links no LLVM library, so llvm::json is not available).
//
// The reader follows RFC 8259 to the letter: no comments, no trailing commas,
// no NaN/Infinity, no leading zeros or '+', no raw control characters in
// strings, valid UTF-8 only, \uXXXX escapes with surrogate pairs checked, and
// no duplicate keys. Every value remembers where it starts (1-based line and
// column, the column counted in bytes), so that the code checking a document
// can point at the value at fault.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_RUNTIME_JSON_H
#define LORA_RUNTIME_JSON_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lora_runtime::json {

/// One JSON value and its position in the text it was parsed from.
class Value {
public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Kind getKind() const { return kind; }
  bool isNull() const { return kind == Kind::Null; }
  bool isObject() const { return kind == Kind::Object; }

  /// The boolean of a `true` or `false`.
  std::optional<bool> getBool() const;
  /// The value of any number.
  std::optional<double> getNumber() const;
  /// The value of a number written as an integer (no fraction, no exponent)
  /// that fits int64_t.
  std::optional<int64_t> getInteger() const;
  /// The (unescaped, UTF-8) text of a string; nullptr for other kinds.
  const std::string *getString() const;
  /// The elements of an array; nullptr for other kinds.
  const std::vector<Value> *getArray() const;

  /// Number of members of an object (0 for other kinds).
  size_t getNumMembers() const { return isObject() ? keys.size() : 0; }
  /// Key of member `i` of an object, in file order.
  const std::string &getKey(size_t i) const { return keys[i]; }
  /// Value of member `i` of an object, in file order.
  const Value &getMember(size_t i) const { return items[i]; }
  /// The member called `key` of an object; nullptr if there is none or this
  /// is not an object.
  const Value *get(std::string_view key) const;

  /// 1-based line of the value's first character.
  unsigned getLine() const { return line; }
  /// 1-based column, in bytes, of the value's first character.
  unsigned getColumn() const { return column; }

  /// What the value is, for messages: "null", "true", "a string", "3.5",
  /// "an array", ...
  std::string describe() const;

private:
  friend class Parser;
  Kind kind = Kind::Null;
  bool boolean = false;
  bool isInteger = false;
  int64_t integer = 0;
  double number = 0;
  std::string string;
  /// Keys of an object; `items` holds the members' values (same index) or
  /// the elements of an array.
  std::vector<std::string> keys;
  std::vector<Value> items;
  unsigned line = 1, column = 1;
};

/// Parses `text` as one JSON document. On failure returns false and sets
/// `error` to "<line>:<column>: <message>".
bool parse(std::string_view text, Value &result, std::string &error);

/// Reads and parses the file `path`. Errors are
/// "<path>:<line>:<column>: <message>" or "cannot open '<path>': <reason>".
bool parseFile(const std::string &path, Value &result, std::string &error);

/// Typed access to the values of a parsed file, with errors that name the
/// file, the position and the key path of the value at fault, e.g.
/// "out/manifest.json:9:15: arguments[2].shape[1]: expected an integer >= 0,
/// got -3". Each method returns false after setting the error.
class Checker {
public:
  /// Reports errors about values of `file` into `error`.
  Checker(std::string file, std::string &error)
      : fileName(std::move(file)), errorOut(error) {}

  /// The key path of member `key` of the value at `path`: "a.b", or "b" at
  /// the top.
  static std::string keyPath(const std::string &path, const std::string &key);
  /// The key path of element `index` of the array at `path`: "a[3]".
  static std::string indexPath(const std::string &path, size_t index);

  /// Sets the error "<file>:<line>:<column>: <path>: <message>" at `value`.
  bool fail(const Value &value, const std::string &path,
            const std::string &message);

  /// Checks that `value` is `kind`.
  bool expectKind(const Value &value, const std::string &path,
                  Value::Kind kind);
  /// Reads an integer >= `min`.
  bool expectInteger(const Value &value, const std::string &path,
                     int64_t &result, int64_t min);
  /// Reads a number; with `positive`, it must be > 0.
  bool expectNumber(const Value &value, const std::string &path, double &result,
                    bool positive);

  /// Finds member `key` of `object` (at `path`). A missing member is an
  /// error when `required`; otherwise `member` is set to nullptr. A null
  /// member counts as missing unless `nullable`.
  bool find(const Value &object, const std::string &path, const char *key,
            bool required, const Value *&member, bool nullable = false);

  /// Reads member `key` of `object` (at `path`); when it is absent (or null)
  /// and not `required`, `result` keeps its value.
  bool getString(const Value &object, const std::string &path, const char *key,
                 std::string &result, bool required = true);
  bool getBool(const Value &object, const std::string &path, const char *key,
               bool &result, bool required = true);
  /// Reads an integer >= `min`.
  bool getInteger(const Value &object, const std::string &path, const char *key,
                  int64_t &result, int64_t min, bool required = true);
  /// Reads a number; with `positive`, it must be > 0.
  bool getNumber(const Value &object, const std::string &path, const char *key,
                 double &result, bool positive, bool required = true);
  /// Reads an array of integers >= 0 (a tensor shape).
  bool getShape(const Value &object, const std::string &path, const char *key,
                std::vector<int64_t> &result);

private:
  std::string fileName;
  std::string &errorOut;
};

} // namespace lora_runtime::json

#endif // LORA_RUNTIME_JSON_H
