//===- Status.h - runtime status: an error code and a message ---*- C++ -*-===//
//
// Part of attn-mlir. The status every lib/Runtime call returns. The codes are
// the C ABI's (include/attn-c/Runtime.h, ATTN_STATUS_*): a host branches on
// the code and logs the message, which names the call, the argument and the
// expected and actual values.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_STATUS_H
#define ATTN_RUNTIME_STATUS_H

#include <string>

namespace attn::runtime {

/// Why a runtime call failed. Values are part of the C ABI: never renumber,
/// only append.
enum class ErrorCode : int {
  Ok = 0,
  /// A null pointer, a negative count or rank, an unknown flag: the call
  /// itself is malformed.
  InvalidArgument = 1,
  /// The launch arguments do not match the manifest (count, dtype, shape,
  /// alignment, a null tensor pointer, a workspace too small).
  ArgumentMismatch = 2,
  /// The manifest is not valid JSON or breaks the schema (a missing or
  /// duplicate key, a wrong type, a value out of range).
  InvalidManifest = 3,
  /// The manifest's schema major version is not the one this runtime reads.
  UnsupportedVersion = 4,
  /// A file could not be read.
  Io = 5,
  /// No driver, no device, or a device ordinal out of range.
  NoDevice = 6,
  /// A CUDA driver call failed; the message has the driver's error.
  Cuda = 7,
  /// An allocation (host or device) failed.
  OutOfMemory = 8,
  /// The kernel needs more than the device offers (shared memory, threads).
  Unsupported = 9,
  /// An unexpected internal failure (e.g. an exception stopped at the C ABI).
  Internal = 10,
};

/// Success, or a code and a message that says what went wrong and where.
struct Status {
  bool ok = true;
  std::string message;
  ErrorCode code = ErrorCode::Ok;

  static Status success() { return {}; }
  static Status error(ErrorCode code, std::string message) {
    return {false, std::move(message), code};
  }
  explicit operator bool() const { return ok; }
};

} // namespace attn::runtime

#endif // ATTN_RUNTIME_STATUS_H
