//===- Json.h - a strict, bounded JSON reader for the manifest --*- C++ -*-===//
//
// Part of attn-mlir (private to lib/Runtime). RFC 8259 JSON with the limits
// a manifest needs: nesting bounded (the parser recurses at most maxDepth
// levels, so hostile input cannot overflow the stack), duplicate keys
// refused, numbers kept as their source text so integers are read exactly
// and never through a double, strings ASCII without \u escapes. The runtime
// must not depend on LLVM, so this is our own.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_RUNTIME_JSON_H
#define ATTN_LIB_RUNTIME_JSON_H

#include "attn/Runtime/Status.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace attn::runtime::json {

struct Value {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool boolean = false;
  /// Number: the source text, which matches the JSON number grammar.
  /// String: the decoded string.
  std::string text;
  std::vector<Value> array;
  /// In source order; keys are unique.
  std::vector<std::pair<std::string, Value>> object;

  /// The member called `key`, or null.
  const Value *find(const std::string &key) const;
};

/// Parses `text` as one JSON value; InvalidManifest with the offset on
/// failure.
Status parse(const std::string &text, int maxDepth, Value &out);

/// The number as an exact int64 in [lo, hi]: only `-?(0|[1-9][0-9]*)`, no
/// fraction or exponent; false otherwise (overflow included).
bool toInt(const Value &v, int64_t lo, int64_t hi, int64_t &out);
/// The number as a finite double; false for out-of-range values (1e999).
bool toDouble(const Value &v, double &out);

/// `s` as a JSON string literal (quotes and escapes).
std::string quote(const std::string &s);
/// `d` in the shortest form that reads back as the same double.
std::string formatDouble(double d);

} // namespace attn::runtime::json

#endif // ATTN_LIB_RUNTIME_JSON_H
