//===- Json.cpp - a small, strict JSON reader -----------------------------===//

#include "lora/Runtime/Json.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <unordered_set>

using namespace lora_runtime;
using namespace lora_runtime::json;

//===----------------------------------------------------------------------===//
// Value
//===----------------------------------------------------------------------===//

std::optional<bool> Value::getBool() const {
  if (kind != Kind::Bool)
    return std::nullopt;
  return boolean;
}

std::optional<double> Value::getNumber() const {
  if (kind != Kind::Number)
    return std::nullopt;
  return number;
}

std::optional<int64_t> Value::getInteger() const {
  if (kind != Kind::Number || !isInteger)
    return std::nullopt;
  return integer;
}

const std::string *Value::getString() const {
  return kind == Kind::String ? &string : nullptr;
}

const std::vector<Value> *Value::getArray() const {
  return kind == Kind::Array ? &items : nullptr;
}

const Value *Value::get(std::string_view key) const {
  if (kind != Kind::Object)
    return nullptr;
  for (size_t i = 0; i < keys.size(); ++i)
    if (keys[i] == key)
      return &items[i];
  return nullptr;
}

static const char *kindName(Value::Kind kind) {
  switch (kind) {
  case Value::Kind::Null:
    return "null";
  case Value::Kind::Bool:
    return "a boolean";
  case Value::Kind::Number:
    return "a number";
  case Value::Kind::String:
    return "a string";
  case Value::Kind::Array:
    return "an array";
  case Value::Kind::Object:
    return "an object";
  }
  return "a value";
}

std::string Value::describe() const {
  switch (kind) {
  case Kind::Bool:
    return boolean ? "true" : "false";
  case Kind::Number: {
    if (isInteger)
      return std::to_string(integer);
    char text[32];
    std::snprintf(text, sizeof(text), "%.17g", number);
    return text;
  }
  case Kind::String:
    if (string.size() > 40)
      return "\"" + string.substr(0, 37) + "...\"";
    return "\"" + string + "\"";
  default:
    return kindName(kind);
  }
}

//===----------------------------------------------------------------------===//
// Parser
//===----------------------------------------------------------------------===//

namespace lora_runtime::json {

/// A recursive-descent parser over the bytes of one document.
class Parser {
public:
  Parser(std::string_view text, std::string &error)
      : cur(text.data()), end(text.data() + text.size()), lineStart(cur),
        error(error) {}

  bool parseDocument(Value &result) {
    skipWhitespace();
    if (!parseValue(result, 0))
      return false;
    skipWhitespace();
    if (cur != end)
      return fail(here(),
                  "unexpected " + describeNext() + " after the JSON value");
    return true;
  }

private:
  /// Deeper documents are rejected rather than allowed to exhaust the stack.
  static constexpr unsigned kMaxDepth = 512;

  struct Position {
    unsigned line, column;
  };

  Position here() const {
    return {line, static_cast<unsigned>(cur - lineStart) + 1};
  }

  bool fail(Position at, const std::string &message) {
    error = std::to_string(at.line) + ":" + std::to_string(at.column) + ": " +
            message;
    return false;
  }

  /// The next character, for messages: "'x'", "byte 0xc3", "end of input".
  std::string describeNext() const {
    if (cur == end)
      return "end of input";
    unsigned char c = *cur;
    if (c >= 0x20 && c < 0x7f)
      return std::string("'") + static_cast<char>(c) + "'";
    char text[16];
    std::snprintf(text, sizeof(text), "byte 0x%02x", c);
    return text;
  }

  void skipWhitespace() {
    for (; cur != end; ++cur) {
      if (*cur == '\n') {
        ++line;
        lineStart = cur + 1;
      } else if (*cur != ' ' && *cur != '\t' && *cur != '\r') {
        return;
      }
    }
  }

  bool parseValue(Value &value, unsigned depth) {
    Position start = here();
    value.line = start.line;
    value.column = start.column;
    if (cur == end)
      return fail(start, "unexpected end of input; expected a value");
    switch (*cur) {
    case '{':
      return parseObject(value, depth);
    case '[':
      return parseArray(value, depth);
    case '"':
      value.kind = Value::Kind::String;
      return parseString(value.string);
    case 't':
    case 'f':
    case 'n':
      return parseLiteral(value);
    default:
      if (*cur == '-' || (*cur >= '0' && *cur <= '9'))
        return parseNumber(value);
      return fail(start, "unexpected " + describeNext() + "; expected a value");
    }
  }

  bool parseLiteral(Value &value) {
    Position start = here();
    for (const char *word : {"true", "false", "null"}) {
      size_t length = std::strlen(word);
      if (*cur != word[0])
        continue;
      if (static_cast<size_t>(end - cur) < length ||
          std::memcmp(cur, word, length) != 0)
        return fail(start,
                    std::string("invalid literal; expected '") + word + "'");
      cur += length;
      if (word[0] == 'n') {
        value.kind = Value::Kind::Null;
      } else {
        value.kind = Value::Kind::Bool;
        value.boolean = word[0] == 't';
      }
      return true;
    }
    return fail(start, "unexpected " + describeNext() + "; expected a value");
  }

  bool isDigit() const { return cur != end && *cur >= '0' && *cur <= '9'; }

  bool parseNumber(Value &value) {
    Position start = here();
    const char *begin = cur;
    bool integral = true;
    if (*cur == '-')
      ++cur;
    if (!isDigit())
      return fail(here(),
                  "invalid number: expected a digit, got " + describeNext());
    if (*cur == '0') {
      ++cur;
      if (isDigit())
        return fail(start, "invalid number: leading zeros are not allowed");
    } else {
      while (isDigit())
        ++cur;
    }
    if (cur != end && *cur == '.') {
      integral = false;
      ++cur;
      if (!isDigit())
        return fail(here(), "invalid number: expected a digit after '.', got " +
                                describeNext());
      while (isDigit())
        ++cur;
    }
    if (cur != end && (*cur == 'e' || *cur == 'E')) {
      integral = false;
      ++cur;
      if (cur != end && (*cur == '+' || *cur == '-'))
        ++cur;
      if (!isDigit())
        return fail(here(),
                    "invalid number: expected a digit in the exponent, got " +
                        describeNext());
      while (isDigit())
        ++cur;
    }
    value.kind = Value::Kind::Number;
    if (integral) {
      auto [ptr, ec] = std::from_chars(begin, cur, value.integer);
      if (ec == std::errc() && ptr == cur) {
        value.isInteger = true;
        value.number = static_cast<double>(value.integer);
        return true;
      }
      // Too large for int64_t: still a valid number, as a double.
    }
    auto [ptr, ec] = std::from_chars(begin, cur, value.number);
    if (ec != std::errc() || ptr != cur)
      return fail(start, "number " + std::string(begin, cur) +
                             " is out of the range of a 64-bit float");
    return true;
  }

  /// Reads 4 hex digits of a \u escape.
  bool parseHex4(Position escape, uint32_t &code) {
    code = 0;
    for (int i = 0; i < 4; ++i, ++cur) {
      char c = cur == end ? '\0' : *cur;
      uint32_t digit;
      if (c >= '0' && c <= '9')
        digit = c - '0';
      else if (c >= 'a' && c <= 'f')
        digit = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        digit = c - 'A' + 10;
      else
        return fail(escape, "invalid \\u escape: expected 4 hex digits");
      code = code << 4 | digit;
    }
    return true;
  }

  static void appendUtf8(std::string &out, uint32_t code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xc0 | code >> 6);
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xe0 | code >> 12);
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | code >> 18);
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    }
  }

  bool parseEscape(std::string &out) {
    Position escape = here();
    ++cur; // The backslash.
    if (cur == end)
      return fail(escape, "unterminated escape sequence");
    char c = *cur++;
    switch (c) {
    case '"':
    case '\\':
    case '/':
      out += c;
      return true;
    case 'b':
      out += '\b';
      return true;
    case 'f':
      out += '\f';
      return true;
    case 'n':
      out += '\n';
      return true;
    case 'r':
      out += '\r';
      return true;
    case 't':
      out += '\t';
      return true;
    case 'u':
      break;
    default:
      --cur;
      return fail(escape, "invalid escape sequence: '\\' followed by " +
                              describeNext());
    }
    uint32_t code;
    if (!parseHex4(escape, code))
      return false;
    if (code >= 0xdc00 && code <= 0xdfff)
      return fail(escape, "unpaired low surrogate in a \\u escape");
    if (code >= 0xd800 && code <= 0xdbff) {
      // A high surrogate must be followed by an escaped low surrogate.
      uint32_t low = 0;
      if (end - cur < 2 || cur[0] != '\\' || cur[1] != 'u')
        return fail(escape, "unpaired high surrogate in a \\u escape");
      Position lowEscape = here();
      cur += 2;
      if (!parseHex4(lowEscape, low))
        return false;
      if (low < 0xdc00 || low > 0xdfff)
        return fail(escape, "unpaired high surrogate in a \\u escape");
      code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
    }
    appendUtf8(out, code);
    return true;
  }

  /// Checks one UTF-8 encoded character (RFC 3629: no overlong forms, no
  /// surrogates, nothing above U+10FFFF) and copies it.
  bool copyUtf8(std::string &out) {
    auto byte = [&](ptrdiff_t i) -> unsigned {
      return cur + i < end ? static_cast<unsigned char>(cur[i]) : 0;
    };
    unsigned lead = byte(0);
    int length = 0;
    unsigned low = 0x80, high = 0xbf; // Range of the second byte.
    if (lead >= 0xc2 && lead <= 0xdf) {
      length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      if (lead == 0xe0)
        low = 0xa0;
      if (lead == 0xed)
        high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      if (lead == 0xf0)
        low = 0x90;
      if (lead == 0xf4)
        high = 0x8f;
    }
    bool valid = length != 0 && byte(1) >= low && byte(1) <= high;
    for (int i = 2; valid && i < length; ++i)
      valid = byte(i) >= 0x80 && byte(i) <= 0xbf;
    if (!valid)
      return fail(here(), "invalid UTF-8 in a string");
    out.append(cur, length);
    cur += length;
    return true;
  }

  bool parseString(std::string &out) {
    Position start = here();
    ++cur; // The opening quote.
    while (true) {
      if (cur == end)
        return fail(start, "unterminated string");
      unsigned char c = *cur;
      if (c == '"') {
        ++cur;
        return true;
      }
      if (c == '\\') {
        if (!parseEscape(out))
          return false;
      } else if (c < 0x20) {
        char text[80];
        std::snprintf(text, sizeof(text),
                      "control character U+%04X in a string must be escaped",
                      c);
        return fail(here(), text);
      } else if (c < 0x80) {
        out += static_cast<char>(c);
        ++cur;
      } else if (!copyUtf8(out)) {
        return false;
      }
    }
  }

  bool checkDepth(unsigned depth) {
    if (depth < kMaxDepth)
      return true;
    return fail(here(),
                "nesting deeper than " + std::to_string(kMaxDepth) + " levels");
  }

  bool parseArray(Value &value, unsigned depth) {
    if (!checkDepth(depth))
      return false;
    value.kind = Value::Kind::Array;
    ++cur;
    skipWhitespace();
    if (cur != end && *cur == ']') {
      ++cur;
      return true;
    }
    while (true) {
      value.items.emplace_back();
      if (!parseValue(value.items.back(), depth + 1))
        return false;
      skipWhitespace();
      if (cur != end && *cur == ']') {
        ++cur;
        return true;
      }
      if (cur == end || *cur != ',')
        return fail(here(),
                    "expected ',' or ']' in an array, got " + describeNext());
      Position comma = here();
      ++cur;
      skipWhitespace();
      if (cur != end && *cur == ']')
        return fail(comma, "trailing comma before ']'");
    }
  }

  bool parseObject(Value &value, unsigned depth) {
    if (!checkDepth(depth))
      return false;
    value.kind = Value::Kind::Object;
    ++cur;
    skipWhitespace();
    if (cur != end && *cur == '}') {
      ++cur;
      return true;
    }
    std::unordered_set<std::string> seen;
    while (true) {
      Position keyStart = here();
      if (cur == end || *cur != '"')
        return fail(keyStart, "expected a string key in an object, got " +
                                  describeNext());
      std::string key;
      if (!parseString(key))
        return false;
      if (!seen.insert(key).second)
        return fail(keyStart, "duplicate key \"" + key + "\"");
      skipWhitespace();
      if (cur == end || *cur != ':')
        return fail(here(),
                    "expected ':' after an object key, got " + describeNext());
      ++cur;
      skipWhitespace();
      value.keys.push_back(std::move(key));
      value.items.emplace_back();
      if (!parseValue(value.items.back(), depth + 1))
        return false;
      skipWhitespace();
      if (cur != end && *cur == '}') {
        ++cur;
        return true;
      }
      if (cur == end || *cur != ',')
        return fail(here(),
                    "expected ',' or '}' in an object, got " + describeNext());
      Position comma = here();
      ++cur;
      skipWhitespace();
      if (cur != end && *cur == '}')
        return fail(comma, "trailing comma before '}'");
    }
  }

  const char *cur, *end;
  /// The first byte of the current line, for columns.
  const char *lineStart;
  unsigned line = 1;
  std::string &error;
};

} // namespace lora_runtime::json

bool json::parse(std::string_view text, Value &result, std::string &error) {
  result = Value();
  return Parser(text, error).parseDocument(result);
}

bool json::parseFile(const std::string &path, Value &result,
                     std::string &error) {
  std::FILE *file = std::fopen(path.c_str(), "rb");
  if (!file) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  std::string text;
  char buffer[65536];
  size_t count;
  while ((count = std::fread(buffer, 1, sizeof(buffer), file)) > 0)
    text.append(buffer, count);
  bool failed = std::ferror(file);
  std::fclose(file);
  if (failed) {
    error = "cannot read '" + path + "'";
    return false;
  }
  if (!parse(text, result, error)) {
    error = path + ":" + error;
    return false;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Checker
//===----------------------------------------------------------------------===//

std::string Checker::keyPath(const std::string &path, const std::string &key) {
  return path.empty() ? key : path + "." + key;
}

std::string Checker::indexPath(const std::string &path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

bool Checker::fail(const Value &value, const std::string &path,
                   const std::string &message) {
  errorOut = fileName + ":" + std::to_string(value.getLine()) + ":" +
             std::to_string(value.getColumn()) + ": " +
             (path.empty() ? "" : path + ": ") + message;
  return false;
}

bool Checker::expectKind(const Value &value, const std::string &path,
                         Value::Kind kind) {
  if (value.getKind() == kind)
    return true;
  return fail(value, path,
              std::string("expected ") + kindName(kind) + ", got " +
                  value.describe());
}

bool Checker::expectInteger(const Value &value, const std::string &path,
                            int64_t &result, int64_t min) {
  std::optional<int64_t> integer = value.getInteger();
  if (!integer || *integer < min)
    return fail(value, path,
                "expected an integer >= " + std::to_string(min) + ", got " +
                    value.describe());
  result = *integer;
  return true;
}

bool Checker::expectNumber(const Value &value, const std::string &path,
                           double &result, bool positive) {
  std::optional<double> number = value.getNumber();
  if (!number || (positive && !(*number > 0)))
    return fail(
        value, path,
        std::string(positive ? "expected a number > 0" : "expected a number") +
            ", got " + value.describe());
  result = *number;
  return true;
}

bool Checker::find(const Value &object, const std::string &path,
                   const char *key, bool required, const Value *&member,
                   bool nullable) {
  member = object.get(key);
  if (member && member->isNull() && !nullable)
    member = nullptr;
  if (!member && required)
    return fail(object, path,
                std::string("missing key \"") + key + "\"" +
                    (object.get(key) ? " (it is null)" : ""));
  return true;
}

bool Checker::getString(const Value &object, const std::string &path,
                        const char *key, std::string &result, bool required) {
  const Value *member;
  if (!find(object, path, key, required, member))
    return false;
  if (!member)
    return true;
  if (!expectKind(*member, keyPath(path, key), Value::Kind::String))
    return false;
  result = *member->getString();
  return true;
}

bool Checker::getBool(const Value &object, const std::string &path,
                      const char *key, bool &result, bool required) {
  const Value *member;
  if (!find(object, path, key, required, member))
    return false;
  if (!member)
    return true;
  if (!expectKind(*member, keyPath(path, key), Value::Kind::Bool))
    return false;
  result = *member->getBool();
  return true;
}

bool Checker::getInteger(const Value &object, const std::string &path,
                         const char *key, int64_t &result, int64_t min,
                         bool required) {
  const Value *member;
  if (!find(object, path, key, required, member))
    return false;
  return !member || expectInteger(*member, keyPath(path, key), result, min);
}

bool Checker::getNumber(const Value &object, const std::string &path,
                        const char *key, double &result, bool positive,
                        bool required) {
  const Value *member;
  if (!find(object, path, key, required, member))
    return false;
  return !member || expectNumber(*member, keyPath(path, key), result, positive);
}

bool Checker::getShape(const Value &object, const std::string &path,
                       const char *key, std::vector<int64_t> &result) {
  const Value *member;
  if (!find(object, path, key, /*required=*/true, member))
    return false;
  std::string shapePath = keyPath(path, key);
  if (!expectKind(*member, shapePath, Value::Kind::Array))
    return false;
  result.clear();
  const std::vector<Value> &dims = *member->getArray();
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t dim;
    if (!expectInteger(dims[i], indexPath(shapePath, i), dim, 0))
      return false;
    result.push_back(dim);
  }
  return true;
}
