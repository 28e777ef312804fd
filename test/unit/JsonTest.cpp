//===- JsonTest.cpp - the runtime's strict JSON reader --------------------===//

#include "lora/Runtime/Json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

using namespace lora_runtime;
using json::Value;

namespace {

Value parseOrFail(const std::string &text) {
  Value value;
  std::string error;
  EXPECT_TRUE(json::parse(text, value, error)) << error;
  return value;
}

std::string errorOf(const std::string &text) {
  Value value;
  std::string error;
  EXPECT_FALSE(json::parse(text, value, error)) << "parsed: " << text;
  return error;
}

TEST(Json, ParsesEveryKind) {
  Value root = parseOrFail(R"({"null": null, "yes": true, "no": false,
    "int": -12, "float": 1.5e3, "text": "a\"b\\c\/d\b\f\n\r\t",
    "array": [1, [], {}], "object": {"z": 1, "a": 2}})");
  ASSERT_TRUE(root.isObject());
  ASSERT_EQ(root.getNumMembers(), 8u);
  EXPECT_EQ(root.getKey(0), "null");
  EXPECT_TRUE(root.get("null")->isNull());
  EXPECT_EQ(root.get("yes")->getBool(), true);
  EXPECT_EQ(root.get("no")->getBool(), false);
  EXPECT_EQ(root.get("int")->getInteger(), -12);
  EXPECT_EQ(root.get("int")->getNumber(), -12.0);
  EXPECT_EQ(root.get("float")->getNumber(), 1500.0);
  EXPECT_FALSE(root.get("float")->getInteger());
  EXPECT_EQ(*root.get("text")->getString(), "a\"b\\c/d\b\f\n\r\t");
  const std::vector<Value> *array = root.get("array")->getArray();
  ASSERT_TRUE(array);
  ASSERT_EQ(array->size(), 3u);
  EXPECT_EQ((*array)[1].getArray()->size(), 0u);
  EXPECT_TRUE((*array)[2].isObject());
  // Members keep file order.
  const Value &object = *root.get("object");
  EXPECT_EQ(object.getKey(0), "z");
  EXPECT_EQ(object.getKey(1), "a");
  EXPECT_EQ(object.get("missing"), nullptr);
  // Wrong-kind accessors answer "no".
  EXPECT_FALSE(root.get("text")->getNumber());
  EXPECT_EQ(root.get("int")->getString(), nullptr);
  EXPECT_EQ(root.get("int")->get("x"), nullptr);
}

TEST(Json, ParsesScalarsAtTheTop) {
  EXPECT_TRUE(parseOrFail(" null ").isNull());
  EXPECT_EQ(parseOrFail("0").getInteger(), 0);
  EXPECT_EQ(*parseOrFail("\"\"").getString(), "");
  EXPECT_EQ(parseOrFail("\t\r\n true").getBool(), true);
}

TEST(Json, Numbers) {
  EXPECT_EQ(parseOrFail("9223372036854775807").getInteger(), INT64_MAX);
  EXPECT_EQ(parseOrFail("-9223372036854775808").getInteger(), INT64_MIN);
  // Beyond int64_t: still a number, no longer an integer.
  Value big = parseOrFail("9223372036854775808");
  EXPECT_FALSE(big.getInteger());
  EXPECT_EQ(big.getNumber(), 9223372036854775808.0);
  EXPECT_EQ(parseOrFail("1E-2").getNumber(), 0.01);
  EXPECT_EQ(parseOrFail("2.5e+1").getNumber(), 25.0);
  EXPECT_EQ(parseOrFail("0.1").getNumber(), 0.1);
  EXPECT_EQ(parseOrFail("4.9406564584124654e-324").getNumber(),
            std::ldexp(1.0, -1074));
  Value negativeZero = parseOrFail("-0.0");
  EXPECT_TRUE(std::signbit(*negativeZero.getNumber()));
}

TEST(Json, StringsDecodeEscapesAndKeepUtf8) {
  EXPECT_EQ(*parseOrFail(R"("\u00e9\u20AC")").getString(),
            "\xc3\xa9\xe2\x82\xac");
  // A surrogate pair is one code point, U+1F600.
  EXPECT_EQ(*parseOrFail(R"("\ud83d\ude00")").getString(), "\xf0\x9f\x98\x80");
  EXPECT_EQ(*parseOrFail("\"caf\xc3\xa9 \xf0\x9f\x98\x80\"").getString(),
            "caf\xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(*parseOrFail(R"("a\u0000b")").getString(), std::string("a\0b", 3));
}

TEST(Json, ValuesKnowTheirPosition) {
  Value root = parseOrFail("{\n  \"a\": [1,\n    true],\n\t\"b\": \"x\"\n}");
  EXPECT_EQ(root.getLine(), 1u);
  EXPECT_EQ(root.getColumn(), 1u);
  const Value &a = *root.get("a");
  EXPECT_EQ(a.getLine(), 2u);
  EXPECT_EQ(a.getColumn(), 8u);
  EXPECT_EQ((*a.getArray())[1].getLine(), 3u);
  EXPECT_EQ((*a.getArray())[1].getColumn(), 5u);
  EXPECT_EQ(root.get("b")->getLine(), 4u);
  EXPECT_EQ(root.get("b")->getColumn(), 7u);
}

TEST(Json, Describe) {
  EXPECT_EQ(parseOrFail("null").describe(), "null");
  EXPECT_EQ(parseOrFail("true").describe(), "true");
  EXPECT_EQ(parseOrFail("-3").describe(), "-3");
  EXPECT_EQ(parseOrFail("0.5").describe(), "0.5");
  EXPECT_EQ(parseOrFail("\"f8\"").describe(), "\"f8\"");
  EXPECT_EQ(parseOrFail("[]").describe(), "an array");
  EXPECT_EQ(parseOrFail("{}").describe(), "an object");
}

struct ErrorCase {
  std::string text;
  std::string error;
};

TEST(Json, ErrorsGiveLineAndColumn) {
  const ErrorCase cases[] = {
      {"", "1:1: unexpected end of input; expected a value"},
      {"  \n   ", "2:4: unexpected end of input; expected a value"},
      {"[1, 2", "1:6: expected ',' or ']' in an array, got end of input"},
      {"{\"a\": }", "1:7: unexpected '}'; expected a value"},
      {"+1", "1:1: unexpected '+'; expected a value"},
      {".5", "1:1: unexpected '.'; expected a value"},
      {"NaN", "1:1: unexpected 'N'; expected a value"},
      {"// comment\n{}", "1:1: unexpected '/'; expected a value"},
      {"\xef\xbb\xbf{}", "1:1: unexpected byte 0xef; expected a value"},
      {"tru", "1:1: invalid literal; expected 'true'"},
      {"[fals]", "1:2: invalid literal; expected 'false'"},
      {"nul", "1:1: invalid literal; expected 'null'"},
      {"{} x", "1:4: unexpected 'x' after the JSON value"},
      {"truex", "1:5: unexpected 'x' after the JSON value"},
      {"[1 2]", "1:4: expected ',' or ']' in an array, got '2'"},
      {"[1,]", "1:3: trailing comma before ']'"},
      {"{\"a\": 1,}", "1:8: trailing comma before '}'"},
      {"{1: 2}", "1:2: expected a string key in an object, got '1'"},
      {"{\"a\" 1}", "1:6: expected ':' after an object key, got '1'"},
      {"{\"a\": 1 \"b\": 2}",
       "1:9: expected ',' or '}' in an object, got '\"'"},
      {"{\"a\": 1,\n \"a\": 2}", "2:2: duplicate key \"a\""},
      {"01", "1:1: invalid number: leading zeros are not allowed"},
      {"-", "1:2: invalid number: expected a digit, got end of input"},
      {"-a", "1:2: invalid number: expected a digit, got 'a'"},
      {"1.", "1:3: invalid number: expected a digit after '.', got end of "
             "input"},
      {"1e+", "1:4: invalid number: expected a digit in the exponent, got "
              "end of input"},
      {"[1e400]", "1:2: number 1e400 is out of the range of a 64-bit float"},
      {"\"abc", "1:1: unterminated string"},
      {"\"a\nb\"", "1:3: control character U+000A in a string must be "
                   "escaped"},
      {"\"a\tb\"", "1:3: control character U+0009 in a string must be "
                   "escaped"},
      {"\"\\x\"", "1:2: invalid escape sequence: '\\' followed by 'x'"},
      {"\"\\", "1:2: unterminated escape sequence"},
      {"\"\\u12g4\"", "1:2: invalid \\u escape: expected 4 hex digits"},
      {"\"\\u12", "1:2: invalid \\u escape: expected 4 hex digits"},
      {"\"\\ud800\"", "1:2: unpaired high surrogate in a \\u escape"},
      {"\"\\ud800\\u0041\"", "1:2: unpaired high surrogate in a \\u escape"},
      {"\"\\ud800\\u00\"", "1:8: invalid \\u escape: expected 4 hex digits"},
      {"\"\\udc00\"", "1:2: unpaired low surrogate in a \\u escape"},
      {"\"\xff\"", "1:2: invalid UTF-8 in a string"},
      {"\"a\xc3\"", "1:3: invalid UTF-8 in a string"},            // Truncated.
      {"\"\xc0\xaf\"", "1:2: invalid UTF-8 in a string"},         // Overlong.
      {"\"\xed\xa0\x80\"", "1:2: invalid UTF-8 in a string"},     // Surrogate.
      {"\"\xf4\x90\x80\x80\"", "1:2: invalid UTF-8 in a string"}, // >U+10FFFF
      {"{\n  \"a\": [1,\n   2,,]\n}", "3:6: unexpected ','; expected a value"},
      {std::string(600, '['), "1:513: nesting deeper than 512 levels"},
  };
  for (const ErrorCase &c : cases)
    EXPECT_EQ(errorOf(c.text), c.error) << "for: " << c.text;
}

TEST(Json, DeepButAllowedNesting) {
  std::string text = std::string(512, '[') + std::string(512, ']');
  parseOrFail(text);
}

TEST(Json, ParseFile) {
  std::string path = testing::TempDir() + "lora-json-test.json";
  {
    std::ofstream out(path);
    out << "{\n  \"a\": [1,]\n}\n";
  }
  Value value;
  std::string error;
  EXPECT_FALSE(json::parseFile(path, value, error));
  EXPECT_EQ(error, path + ":2:10: trailing comma before ']'");
  std::remove(path.c_str());
  EXPECT_FALSE(json::parseFile(path, value, error));
  EXPECT_EQ(error, "cannot open '" + path + "': No such file or directory");
}

TEST(JsonChecker, ReportsFilePositionAndKeyPath) {
  Value root = parseOrFail("{\"list\": [{\"n\": -3, \"s\": 1, \"x\": null,\n"
                           "  \"f\": 0}], \"b\": \"yes\"}");
  std::string error;
  json::Checker check("dir/manifest.json", error);
  const Value &item = (*root.get("list")->getArray())[0];
  std::string path = json::Checker::indexPath("list", 0);
  EXPECT_EQ(path, "list[0]");
  EXPECT_EQ(json::Checker::keyPath(path, "n"), "list[0].n");
  EXPECT_EQ(json::Checker::keyPath("", "n"), "n");

  int64_t integer = 7;
  EXPECT_FALSE(check.getInteger(item, path, "n", integer, 0));
  EXPECT_EQ(error,
            "dir/manifest.json:1:17: list[0].n: expected an integer >= 0, "
            "got -3");
  EXPECT_EQ(integer, 7);

  std::string text;
  EXPECT_FALSE(check.getString(item, path, "s", text));
  EXPECT_EQ(error,
            "dir/manifest.json:1:26: list[0].s: expected a string, got 1");
  EXPECT_FALSE(check.getString(item, path, "missing", text));
  EXPECT_EQ(error, "dir/manifest.json:1:11: list[0]: missing key \"missing\"");
  EXPECT_FALSE(check.getString(item, path, "x", text));
  EXPECT_EQ(error,
            "dir/manifest.json:1:11: list[0]: missing key \"x\" (it is null)");
  // Optional members keep the default when absent or null.
  text = "default";
  EXPECT_TRUE(check.getString(item, path, "x", text, /*required=*/false));
  EXPECT_TRUE(check.getString(item, path, "y", text, /*required=*/false));
  EXPECT_EQ(text, "default");

  double number;
  EXPECT_FALSE(check.getNumber(item, path, "f", number, /*positive=*/true));
  EXPECT_EQ(error,
            "dir/manifest.json:2:8: list[0].f: expected a number > 0, got 0");
  EXPECT_TRUE(check.getNumber(item, path, "f", number, /*positive=*/false));
  EXPECT_EQ(number, 0.0);

  bool flag;
  EXPECT_FALSE(check.getBool(root, "", "b", flag));
  EXPECT_EQ(error,
            "dir/manifest.json:2:18: b: expected a boolean, got \"yes\"");

  std::vector<int64_t> shape;
  EXPECT_FALSE(check.getShape(root, "", "list", shape));
  EXPECT_EQ(error, "dir/manifest.json:1:11: list[0]: expected an integer >= "
                   "0, got an object");
}

} // namespace
