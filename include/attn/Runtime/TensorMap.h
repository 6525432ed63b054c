//===- TensorMap.h - TMA descriptor parameters from a manifest -*- C++ -*-===//
//
// Part of attn-mlir. What the runtime passes to cuTensorMapEncodeTiled for
// a tensor_map argument, derived from the manifest's TensorMapSpec and the
// tensor the caller passes for its source: a pure function (no CUDA), so
// that the derivation is tested without a GPU and the launch only encodes.
// The enum codes are cuda.h's (Runtime.cpp asserts that they agree).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_TENSORMAP_H
#define ATTN_RUNTIME_TENSORMAP_H

#include "attn/Runtime/Manifest.h"

#include <array>
#include <cstdint>

namespace attn::runtime {

/// The arguments of cuTensorMapEncodeTiled, innermost dim first.
struct TensorMapParams {
  /// CUtensorMapDataType: 6 float16, 7 float32, 9 bfloat16.
  uint32_t dataType = 0;
  uint32_t rank = 0;
  uint64_t globalAddress = 0;
  std::array<uint64_t, 5> globalDim{};
  /// Bytes between consecutive elements of dims 1 .. rank - 1.
  std::array<uint64_t, 4> globalStrides{};
  std::array<uint32_t, 5> boxDim{};
  std::array<uint32_t, 5> elementStrides{};
  /// CUtensorMapInterleave: 0 none.
  uint32_t interleave = 0;
  /// CUtensorMapSwizzle: 0 none, 1 32B, 2 64B, 3 128B.
  uint32_t swizzle = 0;
  /// CUtensorMapL2promotion: 3 = 256B (K/V rows are reread by every CTA of
  /// a head).
  uint32_t l2Promotion = 3;
  /// CUtensorMapFloatOOBfill: 0 = out-of-bounds elements read as zeros.
  uint32_t oobFill = 0;
};

/// The parameters of tensor map `map` (a tensor_map argument of a manifest
/// parseManifest accepted) over `source`, the tensor the caller passes for
/// its source argument (checkArguments accepted it): the source's shape
/// and strides reversed, the box likewise, the swizzle code. ArgumentMismatch
/// where the tensor breaks a TMA rule (its address not 16-byte aligned, a
/// stride not a multiple of 16 bytes or past 2^40, an extent past 2^32).
Status deriveTensorMapParams(const ManifestArgument &map,
                             const TensorArg &source, TensorMapParams &out);

/// One tensor map of a launch signature: its parameters (globalAddress is
/// the signature's pointer, 0 for a launch plan) and its source, the
/// manifest argument whose address each launch puts in globalAddress (a
/// caller's tensor, or a workspace slice such as f32-compute's rounded
/// copies, dense in the manifest's shape).
struct SignatureTensorMap {
  TensorMapParams params;
  size_t sourceArgument = 0;
};

/// The manifest's tensor maps in order over `signature` (the caller's
/// arguments, which checkSignature accepted): InvalidManifest for a map
/// without its source, ArgumentMismatch where deriveTensorMapParams refuses.
Status deriveSignatureTensorMaps(const Manifest &manifest,
                                 const std::vector<TensorArg> &signature,
                                 std::vector<SignatureTensorMap> &out);

} // namespace attn::runtime

#endif // ATTN_RUNTIME_TENSORMAP_H
