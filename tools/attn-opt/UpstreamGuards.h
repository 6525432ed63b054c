//===- UpstreamGuards.h - refuse input that crashes MLIR 22 -----*- C++ -*-===//
//
// Part of attn-mlir. MLIR 22's parser crashes (instead of diagnosing) on a
// few malformed inputs; our tools scan their input for them before parsing
// so that they answer with a diagnostic and a non-zero exit. See
// docs/Reliability.md ("Known upstream crashes") for the bug reports.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TOOLS_UPSTREAMGUARDS_H
#define ATTN_TOOLS_UPSTREAMGUARDS_H

#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace mlir::attn {

/// Scans MLIR source text (outside comments and string literals) for the
/// constructs that crash MLIR 22's parser:
///  * `array<index ...>`: a dense array of `index` elements (the parser asks
///    index for a float/int bit width and segfaults);
///  * `permutation = ` or `dimensions = ` not followed by a list of integers
///    `[i, j, ...]` or an `array<...>` attribute (the custom parsers of
///    linalg.transpose / broadcast / reduce store a null attribute after the
///    list fails to parse and segfault).
/// Returns "line:column: error: ..." for the first one, or nullopt.
std::optional<std::string> findKnownUpstreamCrash(llvm::StringRef source);

} // namespace mlir::attn

#endif // ATTN_TOOLS_UPSTREAMGUARDS_H
