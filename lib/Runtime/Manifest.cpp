//===- Manifest.cpp - the manifest: vocabulary, writer, checks ------------===//
//
// Part of attn-mlir. Roles and dtypes, the JSON writer (with the reader in
// ManifestReader.cpp, the only code that knows the keys), the checks of
// launch arguments and of the attention a kernel computes, and the
// workspace layout.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/Manifest.h"

#include "Json.h"

#include <algorithm>
#include <limits>
#include <map>
#include <sstream>
#include <type_traits>

using namespace attn::runtime;
namespace json = attn::runtime::json;

//===----------------------------------------------------------------------===//
// Small vocabulary
//===----------------------------------------------------------------------===//

const char *attn::runtime::roleName(ArgumentRole role) {
  switch (role) {
  case ArgumentRole::Input:
    return "input";
  case ArgumentRole::Output:
    return "output";
  case ArgumentRole::InOut:
    return "inout";
  case ArgumentRole::Workspace:
    return "workspace";
  case ArgumentRole::Length:
    return "length";
  case ArgumentRole::TensorMap:
    return "tensor_map";
  }
  return "input";
}

bool attn::runtime::parseRole(const std::string &name, ArgumentRole &role) {
  for (ArgumentRole r : {ArgumentRole::Input, ArgumentRole::Output,
                         ArgumentRole::InOut, ArgumentRole::Workspace,
                         ArgumentRole::Length, ArgumentRole::TensorMap})
    if (name == roleName(r)) {
      role = r;
      return true;
    }
  return false;
}

int64_t attn::runtime::dtypeSize(const std::string &dtype) {
  static const std::map<std::string, int64_t> sizes = {
      {"i1", 1},  {"i8", 1},  {"i16", 2}, {"f16", 2}, {"bf16", 2},
      {"i32", 4}, {"f32", 4}, {"i64", 8}, {"f64", 8}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

uint64_t ManifestArgument::byteSize() const {
  uint64_t bytes = static_cast<uint64_t>(dtypeSize(dtype));
  for (int64_t d : shape)
    bytes *= static_cast<uint64_t>(d);
  return bytes;
}

std::vector<int64_t>
attn::runtime::denseStrides(const std::vector<int64_t> &shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;)
    strides[i - 1] = strides[i] * std::max<int64_t>(shape[i], 1);
  return strides;
}

std::vector<int64_t> ManifestArgument::elementStrides() const {
  return strides.empty() ? denseStrides(shape) : strides;
}

bool AttentionInfo::operator==(const AttentionInfo &o) const {
  return mask == o.mask && scale == o.scale && softcap == o.softcap &&
         window == o.window && layout == o.layout &&
         queryDtype == o.queryDtype && keyDtype == o.keyDtype &&
         valueDtype == o.valueDtype && outputDtype == o.outputDtype &&
         batch == o.batch && headsQ == o.headsQ && headsKV == o.headsKV &&
         seqQ == o.seqQ && seqK == o.seqK && headDim == o.headDim &&
         valueHeadDim == o.valueHeadDim && lse == o.lse &&
         keyLengths == o.keyLengths && alibi == o.alibi &&
         scoreMod == o.scoreMod && kvView == o.kvView;
}

bool KernelCost::operator==(const KernelCost &o) const {
  return gpu == o.gpu && gemmFlops == o.gemmFlops &&
         visibleGemmFlops == o.visibleGemmFlops &&
         denseGemmFlops == o.denseGemmFlops &&
         exponentials == o.exponentials && softmaxFlops == o.softmaxFlops &&
         bytesRead == o.bytesRead && bytesWritten == o.bytesWritten &&
         arithmeticIntensity == o.arithmeticIntensity &&
         boundUs == o.boundUs && computeUs == o.computeUs &&
         memoryUs == o.memoryUs && expUs == o.expUs && limiter == o.limiter;
}

static std::string shapeString(const std::vector<int64_t> &shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i)
    os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

//===----------------------------------------------------------------------===//
// Writer
//===----------------------------------------------------------------------===//

namespace {

/// Appends `"key": value` lines with commas between them.
class ObjectWriter {
public:
  ObjectWriter(std::string &out, int indent) : out(out), indent(indent) {
    out += "{";
  }
  void raw(const char *key, const std::string &value) {
    out += first ? "\n" : ",\n";
    first = false;
    out += std::string(indent + 2, ' ') + json::quote(key) + ": " + value;
  }
  void str(const char *key, const std::string &v) { raw(key, json::quote(v)); }
  void integer(const char *key, int64_t v) { raw(key, std::to_string(v)); }
  void boolean(const char *key, bool v) { raw(key, v ? "true" : "false"); }
  void ints(const char *key, const int64_t *v, size_t n) {
    std::string s = "[";
    for (size_t i = 0; i < n; ++i)
      s += (i ? ", " : "") + std::to_string(v[i]);
    raw(key, s + "]");
  }
  void close() { out += "\n" + std::string(indent, ' ') + "}"; }

private:
  std::string &out;
  int indent;
  bool first = true;
};

std::string attentionJson(const AttentionInfo &a) {
  std::string s;
  ObjectWriter w(s, 2);
  w.str("mask", a.mask);
  w.raw("scale", json::formatDouble(a.scale));
  if (a.softcap)
    w.raw("softcap", json::formatDouble(*a.softcap));
  if (a.window)
    w.ints("window", a.window->data(), 2);
  w.str("layout", a.layout);
  w.raw("dtypes", "{\"query\": " + json::quote(a.queryDtype) +
                      ", \"key\": " + json::quote(a.keyDtype) +
                      ", \"value\": " + json::quote(a.valueDtype) +
                      ", \"output\": " + json::quote(a.outputDtype) + "}");
  w.integer("batch", a.batch);
  w.integer("heads_q", a.headsQ);
  w.integer("heads_kv", a.headsKV);
  w.integer("seq_q", a.seqQ);
  w.integer("seq_k", a.seqK);
  w.integer("head_dim", a.headDim);
  w.integer("value_head_dim", a.valueHeadDim);
  w.boolean("lse", a.lse);
  w.boolean("key_lengths", a.keyLengths);
  w.boolean("alibi", a.alibi);
  w.boolean("score_mod", a.scoreMod);
  w.str("kv_view", a.kvView);
  w.close();
  return s;
}

std::string costJson(const KernelCost &c) {
  std::string s;
  ObjectWriter w(s, 2);
  w.str("gpu", c.gpu);
  w.integer("gemm_flops", c.gemmFlops);
  w.integer("visible_gemm_flops", c.visibleGemmFlops);
  w.integer("dense_gemm_flops", c.denseGemmFlops);
  w.integer("exponentials", c.exponentials);
  w.integer("softmax_flops", c.softmaxFlops);
  w.integer("bytes_read", c.bytesRead);
  w.integer("bytes_written", c.bytesWritten);
  w.raw("arithmetic_intensity", json::formatDouble(c.arithmeticIntensity));
  w.raw("bound_us", json::formatDouble(c.boundUs));
  w.raw("compute_us", json::formatDouble(c.computeUs));
  w.raw("memory_us", json::formatDouble(c.memoryUs));
  w.raw("exp_us", json::formatDouble(c.expUs));
  w.str("limiter", c.limiter);
  w.close();
  return s;
}

std::string tuningJson(const KernelTuning &t) {
  // Only the parameters the family has (nonzero).
  std::string s = "{";
  auto add = [&](const char *key, int64_t v) {
    if (v == 0)
      return;
    s += (s.size() > 1 ? ", " : "") + json::quote(key) + ": " +
         std::to_string(v);
  };
  add("block_m", t.blockM);
  add("block_n", t.blockN);
  add("num_warps", t.numWarps);
  add("num_splits", t.numSplits);
  add("keys_per_warp", t.keysPerWarp);
  add("stages", t.stages);
  return s + "}";
}

std::string argumentJson(const ManifestArgument &a) {
  std::string s = "{\"name\": " + json::quote(a.name) +
                  ", \"role\": " + json::quote(roleName(a.role)) +
                  ", \"dtype\": " + json::quote(a.dtype) + ", \"shape\": [";
  for (size_t i = 0; i < a.shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(a.shape[i]);
  s += "]";
  // Only where the kernel does not read a dense row-major buffer.
  if (!a.strides.empty() && a.strides != denseStrides(a.shape)) {
    s += ", \"strides\": [";
    for (size_t i = 0; i < a.strides.size(); ++i)
      s += (i ? ", " : "") + std::to_string(a.strides[i]);
    s += "]";
  }
  s += ", \"alignment\": " + std::to_string(a.alignment);
  // Kept for readers older than roles: true iff the kernel writes it.
  s += std::string(", \"output\": ") + (a.isOutput() ? "true" : "false");
  if (a.zeroInit)
    s += ", \"zero_init\": true";
  if (!a.dimSymbols.empty()) {
    s += ", \"dim_symbols\": [";
    for (size_t i = 0; i < a.dimSymbols.size(); ++i)
      s += (i ? ", " : "") + json::quote(a.dimSymbols[i]);
    s += "]";
  }
  if (a.tensorMap) {
    s += ", \"tensor_map\": {\"source\": " + json::quote(a.tensorMap->source) +
         ", \"box\": [";
    for (size_t i = 0; i < a.tensorMap->box.size(); ++i)
      s += (i ? ", " : "") + std::to_string(a.tensorMap->box[i]);
    s += "], \"swizzle\": " + std::to_string(a.tensorMap->swizzle) + "}";
  }
  return s + "}";
}

} // namespace

std::string attn::runtime::writeManifestJson(const Manifest &m) {
  std::string s;
  ObjectWriter w(s, 0);
  int64_t version[2] = {kManifestMajorVersion, kManifestMinorVersion};
  w.ints("schema_version", version, 2);
  w.str("kernel", m.symbol);
  w.str("family", m.family);
  w.str("chip", m.chip);
  w.ints("grid", m.grid.data(), 3);
  w.str("grid_formula", m.gridFormula);
  w.ints("block", m.block.data(), 3);
  w.integer("shared_memory_bytes", m.sharedMemoryBytes);
  w.raw("tuning", tuningJson(m.tuning));
  w.str("abi", "bare-pointer");
  std::string args = "[";
  for (size_t i = 0; i < m.arguments.size(); ++i)
    args += std::string(i ? "," : "") + "\n    " + argumentJson(m.arguments[i]);
  w.raw("arguments", args + (m.arguments.empty() ? "]" : "\n  ]"));
  if (m.attention)
    w.raw("attention", attentionJson(*m.attention));
  if (m.cost)
    w.raw("cost", costJson(*m.cost));
  w.close();
  return s;
}

std::string Manifest::toJson() const { return writeManifestJson(*this); }

//===----------------------------------------------------------------------===//
// Argument and attention checks
//===----------------------------------------------------------------------===//

Status attn::runtime::checkAttention(const Manifest &manifest,
                                     const AttentionInfo &want) {
  const std::string where = "kernel '" + manifest.symbol + "': ";
  if (!manifest.attention)
    return Status::error(ErrorCode::ArgumentMismatch,
                         where + "the manifest records no attention to check");
  const AttentionInfo &got = *manifest.attention;
  auto show = [](const auto &v) -> std::string {
    using T = std::decay_t<decltype(v)>;
    if constexpr (std::is_same_v<T, std::string>)
      return v;
    else if constexpr (std::is_same_v<T, bool>)
      return v ? "true" : "false";
    else if constexpr (std::is_same_v<T, double>)
      return json::formatDouble(v);
    else if constexpr (std::is_same_v<T, std::optional<double>>)
      return v ? json::formatDouble(*v) : "none";
    else if constexpr (std::is_same_v<T, std::optional<std::array<int64_t, 2>>>)
      return v ? "[" + std::to_string((*v)[0]) + ", " +
                     std::to_string((*v)[1]) + "]"
               : "none";
    else
      return std::to_string(v);
  };
  Status s = Status::success();
  auto field = [&](const char *name, const auto &kernel, const auto &asked) {
    if (s.ok && !(kernel == asked))
      s = Status::error(ErrorCode::ArgumentMismatch,
                        where + "computes " + name + " " + show(kernel) +
                            ", expected " + show(asked));
  };
  field("mask", got.mask, want.mask);
  field("scale", got.scale, want.scale);
  field("softcap", got.softcap, want.softcap);
  field("window", got.window, want.window);
  field("layout", got.layout, want.layout);
  field("query dtype", got.queryDtype, want.queryDtype);
  field("key dtype", got.keyDtype, want.keyDtype);
  field("value dtype", got.valueDtype, want.valueDtype);
  field("output dtype", got.outputDtype, want.outputDtype);
  // A runtime length (-1) serves every extent the request asks for.
  auto length = [&](const char *name, int64_t kernel, int64_t asked) {
    if (kernel != -1)
      field(name, kernel, asked);
  };
  length("batch", got.batch, want.batch);
  field("heads_q", got.headsQ, want.headsQ);
  field("heads_kv", got.headsKV, want.headsKV);
  length("seq_q", got.seqQ, want.seqQ);
  length("seq_k", got.seqK, want.seqK);
  field("head_dim", got.headDim, want.headDim);
  field("value_head_dim", got.valueHeadDim, want.valueHeadDim);
  field("lse", got.lse, want.lse);
  field("key_lengths", got.keyLengths, want.keyLengths);
  field("alibi", got.alibi, want.alibi);
  field("score_mod", got.scoreMod, want.scoreMod);
  field("kv_view", got.kvView, want.kvView);
  return s;
}

/// Whether two stride lists address a tensor of `shape` alike: a dim of
/// extent 0 or 1 is never stepped along, so its stride does not matter
/// (torch reports arbitrary ones there).
static bool sameStrides(const std::vector<int64_t> &shape,
                        const std::vector<int64_t> &a,
                        const std::vector<int64_t> &b) {
  if (a.size() != shape.size() || b.size() != shape.size())
    return false;
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] > 1 && a[i] != b[i])
      return false;
  return true;
}

/// Whether `got` is `want`'s shape, a dynamic dim (-1) matching any extent
/// in [1, 2^31 - 1] (bindRuntimeLengths then checks it).
static bool shapeMatches(const std::vector<int64_t> &want,
                         const std::vector<int64_t> &got) {
  if (want.size() != got.size())
    return false;
  for (size_t i = 0; i < want.size(); ++i)
    if (want[i] >= 0 ? got[i] != want[i]
                     : got[i] < 1 || got[i] > std::numeric_limits<int32_t>::max())
      return false;
  return true;
}

Status attn::runtime::checkArguments(const Manifest &manifest,
                                     const std::vector<TensorArg> &args,
                                     RuntimeLengthValues *lengths) {
  if (Status s = checkSignature(manifest, args, lengths); !s)
    return s;
  std::vector<uint64_t> pointers;
  pointers.reserve(args.size());
  for (const TensorArg &a : args)
    pointers.push_back(a.devicePtr);
  return checkPointers(manifest, pointers.data());
}

// Messages are built only on a mismatch: these checks run on every launch.
static std::string argumentPrefix(const Manifest &m, size_t i,
                                  const ManifestArgument &a) {
  return "kernel '" + m.symbol + "': argument " + std::to_string(i) + " ('" +
         a.name + "'): ";
}

static Status mismatch(std::string message) {
  return Status::error(ErrorCode::ArgumentMismatch, std::move(message));
}

Status attn::runtime::checkSignature(const Manifest &manifest,
                                     const std::vector<TensorArg> &args,
                                     RuntimeLengthValues *lengths) {
  // The caller passes everything but the workspaces and lengths.
  size_t expectedCount = 0;
  for (const ManifestArgument &a : manifest.arguments)
    expectedCount += a.isPassed();
  if (args.size() != expectedCount) {
    std::string names, workspaces;
    for (const ManifestArgument &a : manifest.arguments) {
      if (a.isLength() || a.isTensorMap())
        continue;
      std::string &list = a.isWorkspace() ? workspaces : names;
      list += (list.empty() ? "" : ", ") + a.name;
    }
    return mismatch(
        "kernel '" + manifest.symbol + "': expected " +
        std::to_string(expectedCount) + " arguments (" + names + "), got " +
        std::to_string(args.size()) +
        (workspaces.empty() ? ""
                            : "; do not pass the workspaces (" + workspaces +
                                  "): they are given separately"));
  }
  size_t i = 0;
  for (const ManifestArgument &want : manifest.arguments) {
    if (!want.isPassed())
      continue;
    const TensorArg &got = args[i];
    auto arg = [&] { return argumentPrefix(manifest, i, want); };
    if (got.dtype != want.dtype)
      return mismatch(arg() + "expected dtype " + want.dtype + ", got " +
                      got.dtype);
    if (!shapeMatches(want.shape, got.shape))
      return mismatch(arg() + "expected shape " + shapeString(want.shape) +
                      (want.dimSymbols.empty()
                           ? ""
                           : " (-1: a runtime length in [1, 2^31 - 1])") +
                      ", got " + shapeString(got.shape));
    // A kernel reads exactly the strides it was compiled for: a tensor laid
    // out otherwise would be read wrong, not slowly.
    // (A runtime-length kernel is dense row-major over the extents passed.)
    std::vector<int64_t> wantStrides = want.strides.empty()
                                           ? denseStrides(got.shape)
                                           : want.elementStrides();
    std::vector<int64_t> gotStrides =
        got.strides.empty() ? denseStrides(got.shape) : got.strides;
    if (!sameStrides(got.shape, gotStrides, wantStrides))
      return mismatch(arg() + "expected strides " + shapeString(wantStrides) +
                      (want.strides.empty() ? " (dense)" : "") + ", got " +
                      shapeString(gotStrides) +
                      (got.strides.empty() ? " (dense)" : "") +
                      ": compile the kernel for the tensor's strides (or "
                      "pass a tensor laid out as the kernel reads it)");
    ++i;
  }
  RuntimeLengthValues bound;
  return bindRuntimeLengths(manifest, args, lengths ? *lengths : bound);
}

Status attn::runtime::checkPointers(const Manifest &manifest,
                                    const uint64_t *devicePtrs) {
  size_t i = 0;
  for (const ManifestArgument &want : manifest.arguments) {
    if (!want.isPassed())
      continue;
    uint64_t ptr = devicePtrs[i];
    if (ptr == 0)
      return mismatch(argumentPrefix(manifest, i, want) + "null pointer");
    if (want.alignment > 1 && ptr % static_cast<uint64_t>(want.alignment) != 0)
      return mismatch(argumentPrefix(manifest, i, want) + "expected a " +
                      std::to_string(want.alignment) + "-byte aligned pointer");
    ++i;
  }
  return Status::success();
}

//===----------------------------------------------------------------------===//
// Workspaces and C-array arguments
//===----------------------------------------------------------------------===//

void attn::runtime::layOutWorkspaces(const Manifest &m,
                                     std::vector<WorkspaceSlice> &slices,
                                     size_t &total) {
  total = 0;
  for (size_t i = 0; i < m.arguments.size(); ++i) {
    const ManifestArgument &a = m.arguments[i];
    if (!a.isWorkspace())
      continue;
    // parseManifest bounds each argument to 2^48 bytes and their number to
    // 64, so neither the rounding nor the sum can wrap.
    size_t bytes = static_cast<size_t>(a.byteSize());
    slices.push_back({i, total, bytes, a.zeroInit});
    total += (bytes + kWorkspaceAlignment - 1) / kWorkspaceAlignment *
             kWorkspaceAlignment;
  }
  // An empty workspace still gets a valid (unused) pointer.
  if (!slices.empty())
    total = std::max(total, kWorkspaceAlignment);
}

Status attn::runtime::readTensorArgs(const Manifest &m, int numArgs,
                                     const uint64_t *devicePtrs,
                                     const char *const *dtypes,
                                     const int32_t *ranks,
                                     const int64_t *shapes,
                                     std::vector<TensorArg> &args,
                                     const int64_t *strides) {
  size_t expected = 0;
  for (const ManifestArgument &a : m.arguments)
    expected += a.isPassed();
  if (numArgs < 0)
    return Status::error(ErrorCode::InvalidArgument,
                         "attnKernelLaunch: expected numArgs >= 0, got " +
                             std::to_string(numArgs));
  if (static_cast<size_t>(numArgs) != expected) {
    std::string names;
    for (const ManifestArgument &a : m.arguments)
      if (a.isPassed())
        names += (names.empty() ? "" : ", ") + a.name;
    return Status::error(ErrorCode::ArgumentMismatch,
                         "kernel '" + m.symbol + "': expected " +
                             std::to_string(expected) + " arguments (" + names +
                             "), got " + std::to_string(numArgs));
  }
  if (numArgs && (!devicePtrs || !dtypes || !ranks || !shapes))
    return Status::error(ErrorCode::InvalidArgument,
                         "attnKernelLaunch: null array argument");
  args.resize(static_cast<size_t>(numArgs));
  const int64_t *dim = shapes;
  for (int i = 0; i < numArgs; ++i) {
    if (ranks[i] < 0 ||
        static_cast<size_t>(ranks[i]) > ManifestLimits::kMaxRank)
      return Status::error(ErrorCode::InvalidArgument,
                           "attnKernelLaunch: argument " + std::to_string(i) +
                               ": expected a rank in [0, " +
                               std::to_string(ManifestLimits::kMaxRank) +
                               "], got " + std::to_string(ranks[i]));
    args[i].devicePtr = devicePtrs[i];
    args[i].dtype = dtypes[i] ? dtypes[i] : "";
    args[i].shape.assign(dim, dim + ranks[i]);
    if (strides)
      args[i].strides.assign(strides + (dim - shapes),
                             strides + (dim - shapes) + ranks[i]);
    dim += ranks[i];
  }
  return Status::success();
}
