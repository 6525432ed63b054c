//===- TensorMap.cpp - TMA descriptor parameters from a manifest ----------===//
//
// Part of attn-mlir.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/TensorMap.h"

#include <algorithm>
#include <optional>
#include <string>

using namespace attn::runtime;

static bool dataTypeCode(const std::string &dtype, uint32_t &code) {
  if (dtype == "f16")
    code = 6;
  else if (dtype == "f32")
    code = 7;
  else if (dtype == "bf16")
    code = 9;
  else
    return false;
  return true;
}

static uint32_t swizzleCode(int64_t bytes) {
  switch (bytes) {
  case 32:
    return 1;
  case 64:
    return 2;
  case 128:
    return 3;
  default:
    return 0;
  }
}

Status attn::runtime::deriveTensorMapParams(const ManifestArgument &map,
                                            const TensorArg &source,
                                            TensorMapParams &out) {
  auto mismatch = [&](const std::string &what) {
    return Status::error(ErrorCode::ArgumentMismatch,
                         "tensor map '" + map.name + "': " + what);
  };
  if (!map.tensorMap)
    return Status::error(ErrorCode::InvalidArgument,
                         "argument '" + map.name + "' is not a tensor map");
  const TensorMapSpec &spec = *map.tensorMap;
  TensorMapParams p;
  if (!dataTypeCode(source.dtype, p.dataType))
    return mismatch("expected a bf16, f16 or f32 tensor, got " + source.dtype);
  size_t rank = source.shape.size();
  if (rank == 0 || rank > 5 || spec.box.size() != rank)
    return mismatch("expected a tensor of rank 1 to 5 matching the box (" +
                    std::to_string(spec.box.size()) + " dims), got rank " +
                    std::to_string(rank));
  if (source.devicePtr % 16 != 0)
    return mismatch("expected a 16-byte aligned address");
  std::vector<int64_t> strides =
      source.strides.empty() ? denseStrides(source.shape) : source.strides;
  if (strides.size() != rank || strides[rank - 1] != 1)
    return mismatch("expected a unit stride along the innermost dim");
  uint64_t elementBytes = static_cast<uint64_t>(dtypeSize(source.dtype));
  p.rank = static_cast<uint32_t>(rank);
  p.globalAddress = source.devicePtr;
  for (size_t i = 0; i < rank; ++i) {
    // Dim i of the map is dim rank - 1 - i of the tensor.
    size_t dim = rank - 1 - i;
    int64_t extent = source.shape[dim];
    if (extent < 1 || static_cast<uint64_t>(extent) > (uint64_t(1) << 32))
      return mismatch("expected extents in [1, 2^32], got " +
                      std::to_string(extent));
    p.globalDim[i] = static_cast<uint64_t>(extent);
    p.boxDim[i] = static_cast<uint32_t>(spec.box[dim]);
    p.elementStrides[i] = 1;
    if (i == 0)
      continue;
    if (strides[dim] < 0)
      return mismatch("expected non-negative strides");
    uint64_t bytes = static_cast<uint64_t>(strides[dim]) * elementBytes;
    if (bytes % 16 != 0 || bytes >= (uint64_t(1) << 40))
      return mismatch("expected the stride of dim " + std::to_string(dim) +
                      " to be a multiple of 16 bytes under 2^40, got " +
                      std::to_string(bytes) + " bytes");
    p.globalStrides[i - 1] = bytes;
  }
  p.swizzle = swizzleCode(spec.swizzle);
  out = p;
  return Status::success();
}

Status attn::runtime::deriveSignatureTensorMaps(
    const Manifest &manifest, const std::vector<TensorArg> &signature,
    std::vector<SignatureTensorMap> &out) {
  out.clear();
  for (const ManifestArgument &map : manifest.arguments) {
    if (!map.isTensorMap())
      continue;
    // The source: a caller's tensor (its position among the arguments a
    // caller passes) or a workspace slice, dense in its manifest shape.
    size_t index = 0;
    std::optional<size_t> argument;
    for (size_t j = 0; j < manifest.arguments.size() && !argument; ++j) {
      const ManifestArgument &a = manifest.arguments[j];
      if (a.name == map.tensorMap->source && (a.isPassed() || a.isWorkspace()))
        argument = j;
      else if (a.isPassed())
        ++index;
    }
    const ManifestArgument *source =
        argument ? &manifest.arguments[*argument] : nullptr;
    if (!source || (source->isPassed() && index >= signature.size()))
      return Status::error(ErrorCode::InvalidManifest,
                           "tensor map '" + map.name + "': no source argument");
    if (source->isWorkspace() &&
        std::any_of(source->shape.begin(), source->shape.end(),
                    [](int64_t extent) { return extent < 0; }))
      return Status::error(ErrorCode::InvalidManifest,
                           "tensor map '" + map.name +
                               "': a workspace source of dynamic shape");
    SignatureTensorMap derived;
    derived.sourceArgument = *argument;
    TensorArg workspace(0, source->dtype, source->shape);
    if (Status s = deriveTensorMapParams(
            map, source->isWorkspace() ? workspace : signature[index],
            derived.params);
        !s)
      return s;
    out.push_back(derived);
  }
  return Status::success();
}
