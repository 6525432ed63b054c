//===- UpstreamGuards.cpp - refuse input that crashes MLIR 22 -------------===//
//
// Part of attn-mlir. A small scanner, not a parser: it knows comments,
// string literals and identifiers, which is enough to find the two
// constructs of UpstreamGuards.h without matching them inside comments.
//
//===----------------------------------------------------------------------===//

#include "UpstreamGuards.h"

#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using llvm::StringRef;

namespace {

class Scanner {
public:
  explicit Scanner(StringRef text) : text(text) {}

  std::optional<std::string> run() {
    while (pos < text.size()) {
      char c = text[pos];
      if (text.substr(pos).starts_with("//")) {
        skipLine();
      } else if (c == '"') {
        skipString();
      } else if (isIdentifierStart(c) && !isSigil(pos)) {
        size_t start = pos;
        StringRef word = identifier();
        if (std::optional<std::string> error = checkWord(word, start))
          return error;
      } else {
        ++pos;
      }
    }
    return std::nullopt;
  }

private:
  static bool isIdentifierStart(char c) { return llvm::isAlpha(c) || c == '_'; }
  static bool isIdentifierChar(char c) {
    return llvm::isAlnum(c) || c == '_' || c == '.' || c == '$';
  }
  /// `%permutation`, `@dimensions`, `#array` ... are names, not keywords.
  bool isSigil(size_t at) const {
    return at > 0 && StringRef("%@#!^").contains(text[at - 1]);
  }

  void skipLine() {
    size_t end = text.find('\n', pos);
    pos = end == StringRef::npos ? text.size() : end + 1;
  }
  void skipString() {
    for (++pos; pos < text.size() && text[pos] != '"'; ++pos)
      if (text[pos] == '\\')
        ++pos;
    ++pos;
  }
  void skipSpace() {
    while (pos < text.size() && llvm::isSpace(text[pos]))
      ++pos;
  }
  StringRef identifier() {
    size_t start = pos;
    while (pos < text.size() && isIdentifierChar(text[pos]))
      ++pos;
    return text.slice(start, pos);
  }
  bool consume(char c) {
    skipSpace();
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  /// `-?(0x[0-9a-fA-F]+|[0-9]+)`.
  bool integer() {
    skipSpace();
    if (pos < text.size() && text[pos] == '-')
      ++pos;
    size_t start = pos;
    if (text.substr(pos).starts_with("0x"))
      pos += 2;
    while (pos < text.size() && llvm::isHexDigit(text[pos]))
      ++pos;
    return pos > start;
  }
  /// `[` (integer (`,` integer)*)? `]`.
  bool integerList() {
    if (!consume('['))
      return false;
    if (consume(']'))
      return true;
    do {
      if (!integer())
        return false;
    } while (consume(','));
    return consume(']');
  }

  std::string error(size_t at, StringRef message) const {
    StringRef before = text.take_front(at);
    size_t line = before.count('\n') + 1;
    size_t lineStart = before.rfind('\n');
    size_t column = at - (lineStart == StringRef::npos ? 0 : lineStart + 1) + 1;
    return std::to_string(line) + ":" + std::to_string(column) +
           ": error: " + message.str() +
           " (MLIR 22's parser would crash on it; see docs/Reliability.md)";
  }

  std::optional<std::string> checkWord(StringRef word, size_t start) {
    if (word == "array") {
      size_t after = pos;
      if (consume('<')) {
        skipSpace();
        if (identifier() == "index")
          return error(start, "expected a dense array of integer or float "
                              "elements, got `array<index ...>`");
      }
      pos = after;
      return std::nullopt;
    }
    if (word != "permutation" && word != "dimensions")
      return std::nullopt;
    size_t after = pos;
    if (!consume('=')) {
      pos = after;
      return std::nullopt;
    }
    skipSpace();
    size_t value = pos;
    if (text.substr(pos).starts_with("array<"))
      return std::nullopt;
    if (integerList())
      return std::nullopt;
    return error(value, ("expected `" + word + " = [i, j, ...]` with integer "
                         "entries")
                            .str());
  }

  StringRef text;
  size_t pos = 0;
};

} // namespace

std::optional<std::string> attn::findKnownUpstreamCrash(StringRef source) {
  return Scanner(source).run();
}
