//===- Json.cpp - a strict, bounded JSON reader for the manifest ----------===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "Json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

using namespace attn::runtime;
using namespace attn::runtime::json;

const Value *Value::find(const std::string &key) const {
  for (const auto &[name, value] : object)
    if (name == key)
      return &value;
  return nullptr;
}

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

class Parser {
public:
  Parser(const std::string &text, int maxDepth)
      : text(text), maxDepth(maxDepth) {}

  Status parse(Value &out) {
    if (Status s = value(out, 0); !s)
      return s;
    skipSpace();
    if (pos != text.size())
      return fail("expected the end of the document");
    return Status::success();
  }

private:
  Status fail(const std::string &what) const {
    return Status::error(ErrorCode::InvalidManifest, "manifest JSON: " + what +
                                                         " at offset " +
                                                         std::to_string(pos));
  }
  void skipSpace() {
    // JSON whitespace only (not \v or \f).
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' ||
                                 text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
  }
  bool consume(char c) {
    skipSpace();
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }

  Status string(std::string &out) {
    if (!consume('"'))
      return fail("expected a string");
    while (pos < text.size() && text[pos] != '"') {
      unsigned char c = static_cast<unsigned char>(text[pos]);
      if (c < 0x20 || c >= 0x80)
        return fail("expected printable ASCII in strings");
      if (c != '\\') {
        out += text[pos++];
        continue;
      }
      if (++pos >= text.size())
        break;
      static const char escapes[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
      const char *hit = nullptr;
      for (const char *e = escapes; *e; e += 2)
        if (*e == text[pos])
          hit = e;
      if (!hit)
        return fail("expected one of the escapes \\\" \\\\ \\/ \\b \\f \\n "
                    "\\r \\t (no \\u: manifests are ASCII)");
      out += hit[1];
      ++pos;
    }
    if (pos >= text.size())
      return fail("unterminated string");
    ++pos;
    return Status::success();
  }

  /// The JSON number grammar, exactly: -?(0|[1-9][0-9]*)(.[0-9]+)?
  /// ([eE][+-]?[0-9]+)?. NaN, Infinity, hex, "+4" and ".5" do not match.
  Status number(Value &out) {
    size_t start = pos;
    if (text[pos] == '-')
      ++pos;
    if (pos < text.size() && text[pos] == '0') {
      ++pos;
    } else if (pos < text.size() && isDigit(text[pos])) {
      while (pos < text.size() && isDigit(text[pos]))
        ++pos;
    } else {
      pos = start;
      return fail("expected a value");
    }
    auto digits = [&]() {
      size_t first = pos;
      while (pos < text.size() && isDigit(text[pos]))
        ++pos;
      return pos > first;
    };
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      if (!digits())
        return fail("expected digits after '.'");
    }
    if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
      ++pos;
      if (pos < text.size() && (text[pos] == '+' || text[pos] == '-'))
        ++pos;
      if (!digits())
        return fail("expected exponent digits");
    }
    out.kind = Value::Number;
    out.text = text.substr(start, pos - start);
    return Status::success();
  }

  Status value(Value &out, int depth) {
    skipSpace();
    if (pos >= text.size())
      return fail("unexpected end");
    char c = text[pos];
    if ((c == '{' || c == '[') && depth >= maxDepth)
      return fail("expected at most " + std::to_string(maxDepth) +
                  " levels of nesting");
    if (c == '{')
      return object(out, depth);
    if (c == '[')
      return array(out, depth);
    if (c == '"') {
      out.kind = Value::String;
      return string(out.text);
    }
    for (const char *word : {"true", "false", "null"}) {
      size_t n = std::strlen(word);
      if (text.compare(pos, n, word) == 0) {
        pos += n;
        out.kind = word[0] == 'n' ? Value::Null : Value::Bool;
        out.boolean = word[0] == 't';
        return Status::success();
      }
    }
    return number(out);
  }

  Status object(Value &out, int depth) {
    ++pos;
    out.kind = Value::Object;
    if (consume('}'))
      return Status::success();
    do {
      std::string key;
      if (Status s = string(key); !s)
        return s;
      if (out.find(key))
        return fail("duplicate key '" + key + "'");
      if (!consume(':'))
        return fail("expected ':'");
      out.object.emplace_back(std::move(key), Value());
      if (Status s = value(out.object.back().second, depth + 1); !s)
        return s;
    } while (consume(','));
    return consume('}') ? Status::success() : fail("expected ',' or '}'");
  }

  Status array(Value &out, int depth) {
    ++pos;
    out.kind = Value::Array;
    if (consume(']'))
      return Status::success();
    do {
      out.array.emplace_back();
      if (Status s = value(out.array.back(), depth + 1); !s)
        return s;
    } while (consume(','));
    return consume(']') ? Status::success() : fail("expected ',' or ']'");
  }

  const std::string &text;
  const int maxDepth;
  size_t pos = 0;
};

} // namespace

Status json::parse(const std::string &text, int maxDepth, Value &out) {
  Value root;
  if (Status s = Parser(text, maxDepth).parse(root); !s)
    return s;
  out = std::move(root);
  return Status::success();
}

bool json::toInt(const Value &v, int64_t lo, int64_t hi, int64_t &out) {
  if (v.kind != Value::Number)
    return false;
  const std::string &t = v.text;
  bool negative = !t.empty() && t[0] == '-';
  size_t i = negative ? 1 : 0;
  if (i == t.size())
    return false;
  // Accumulate as a negative number: |INT64_MIN| has no positive int64.
  int64_t acc = 0;
  for (; i < t.size(); ++i) {
    if (!isDigit(t[i]))
      return false; // A fraction or exponent: not an exact integer.
    int64_t digit = t[i] - '0';
    if (__builtin_mul_overflow(acc, 10, &acc) ||
        __builtin_sub_overflow(acc, digit, &acc))
      return false;
  }
  if (!negative) {
    if (acc == std::numeric_limits<int64_t>::min())
      return false;
    acc = -acc;
  }
  if (acc < lo || acc > hi)
    return false;
  out = acc;
  return true;
}

bool json::toDouble(const Value &v, double &out) {
  if (v.kind != Value::Number)
    return false;
  // The text matched the JSON grammar, which strtod reads the same way in
  // the "C" locale; a locale with another decimal point would stop at '.'.
  errno = 0;
  char *end = nullptr;
  double d = std::strtod(v.text.c_str(), &end);
  if (end != v.text.c_str() + v.text.size() || errno == ERANGE ||
      !std::isfinite(d))
    return false;
  out = d;
  return true;
}

std::string json::quote(const std::string &s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      out += c;
    }
  }
  return out + "\"";
}

std::string json::formatDouble(double d) {
  char buffer[32];
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, d);
    if (std::strtod(buffer, nullptr) == d)
      break;
  }
  std::string s = buffer;
  // Keep it a JSON number that reads as a float: "1" -> "1.0".
  if (s.find_first_of(".eE") == std::string::npos)
    s += ".0";
  return s;
}
