//===- ManifestReader.cpp - the manifest's strict, versioned reader -------===//
//
// Part of attn-mlir. parseManifest validates every value against the schema
// of docs/Runtime.md before anything is stored, so a Manifest that parsed is
// one the runtime can size, allocate and launch without further overflow
// checks. The keys' writer is in Manifest.cpp, next to the struct.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/Manifest.h"

#include "Json.h"

#include <algorithm>
#include <set>
#include <sstream>

using namespace attn::runtime;
namespace json = attn::runtime::json;

static std::string shapeString(const std::vector<int64_t> &shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i)
    os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

//===----------------------------------------------------------------------===//
// Reader
//===----------------------------------------------------------------------===//

namespace {

using Limits = ManifestLimits;

/// A short rendering of a value for "got ..." in messages.
std::string describe(const json::Value &v) {
  switch (v.kind) {
  case json::Value::Null:
    return "null";
  case json::Value::Bool:
    return v.boolean ? "true" : "false";
  case json::Value::Number:
    return v.text.size() > 40 ? v.text.substr(0, 40) + "..." : v.text;
  case json::Value::String:
    return json::quote(v.text.size() > 40 ? v.text.substr(0, 40) + "..."
                                          : v.text);
  case json::Value::Array:
    return "an array";
  case json::Value::Object:
    return "an object";
  }
  return "?";
}

bool isIdentifier(const std::string &s) {
  if (s.empty() || s.size() > Limits::kMaxString)
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '$' || c == '.';
  });
}

/// Reads the members of one JSON object against a schema. The first error
/// sticks (later reads are no-ops), and finish() refuses members nobody
/// read unless unknown keys are allowed (a newer minor version).
class ObjectReader {
public:
  ObjectReader(const json::Value &v, std::string where, bool allowUnknown)
      : v(v), where(std::move(where)), allowUnknown(allowUnknown) {
    if (v.kind != json::Value::Object)
      fail("expected an object, got " + describe(v));
  }

  bool ok() const { return status.ok; }

  /// The member `key`; null (and an error if `required`) when absent.
  const json::Value *get(const char *key, bool required) {
    if (!status.ok)
      return nullptr;
    seen.insert(key);
    const json::Value *m = v.find(key);
    if (!m && required)
      fail("missing required key '" + std::string(key) + "'");
    return m;
  }

  bool integer(const char *key, int64_t lo, int64_t hi, int64_t &out,
               bool required = true) {
    const json::Value *m = get(key, required);
    if (!m)
      return false;
    if (!json::toInt(*m, lo, hi, out))
      return fail("expected '" + std::string(key) + "' to be an integer in [" +
                  std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                  describe(*m));
    return true;
  }

  bool number(const char *key, double &out, bool required = true) {
    const json::Value *m = get(key, required);
    if (!m)
      return false;
    if (!json::toDouble(*m, out))
      return fail("expected '" + std::string(key) +
                  "' to be a finite number, got " + describe(*m));
    return true;
  }

  bool boolean(const char *key, bool &out, bool required = true) {
    const json::Value *m = get(key, required);
    if (!m)
      return false;
    if (m->kind != json::Value::Bool)
      return fail("expected '" + std::string(key) +
                  "' to be true or false, "
                  "got " +
                  describe(*m));
    out = m->boolean;
    return true;
  }

  /// A string; with `allowed`, one of those values; else an identifier.
  bool string(const char *key, std::string &out, bool required = true,
              std::vector<const char *> allowed = {}) {
    const json::Value *m = get(key, required);
    if (!m)
      return false;
    bool valid = m->kind == json::Value::String;
    if (valid && !allowed.empty())
      valid = std::any_of(allowed.begin(), allowed.end(),
                          [&](const char *a) { return m->text == a; });
    if (!valid) {
      std::string want;
      for (const char *a : allowed)
        want += (want.empty() ? "" : ", ") + std::string(a);
      return fail("expected '" + std::string(key) + "' to be " +
                  (allowed.empty() ? "a string" : "one of " + want) + ", got " +
                  describe(*m));
    }
    out = m->text;
    return true;
  }

  bool identifier(const char *key, std::string &out) {
    if (!string(key, out))
      return false;
    if (!isIdentifier(out))
      return fail("expected '" + std::string(key) + "' to be 1 to " +
                  std::to_string(Limits::kMaxString) +
                  " characters of [A-Za-z0-9_$.], got " + json::quote(out));
    return true;
  }

  /// An array of at most `maxLen` strings of [A-Za-z0-9_] (empty allowed).
  bool names(const char *key, size_t maxLen, std::vector<std::string> &out,
             bool required = true) {
    const json::Value *m = get(key, required);
    if (!m)
      return false;
    std::vector<std::string> values;
    bool valid = m->kind == json::Value::Array && m->array.size() <= maxLen;
    for (size_t i = 0; valid && i < m->array.size(); ++i) {
      const json::Value &e = m->array[i];
      valid = e.kind == json::Value::String &&
              (e.text.empty() || isIdentifier(e.text));
      if (valid)
        values.push_back(e.text);
    }
    if (!valid)
      return fail("expected '" + std::string(key) + "' to be an array of at "
                  "most " + std::to_string(maxLen) + " names, got " +
                  describe(*m));
    out = std::move(values);
    return true;
  }

  /// An array of `minLen`..`maxLen` integers, each in [lo, hi].
  bool ints(const char *key, size_t minLen, size_t maxLen, int64_t lo,
            int64_t hi, std::vector<int64_t> &out, bool required = true) {
    const json::Value *m = get(key, required);
    if (!m)
      return false;
    std::string want =
        "expected '" + std::string(key) + "' to be an array " + "of " +
        (minLen == maxLen
             ? std::to_string(minLen)
             : std::to_string(minLen) + " to " + std::to_string(maxLen)) +
        " integers in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    if (m->kind != json::Value::Array || m->array.size() < minLen ||
        m->array.size() > maxLen)
      return fail(want + ", got " + describe(*m) +
                  (m->kind == json::Value::Array
                       ? " of " + std::to_string(m->array.size())
                       : ""));
    std::vector<int64_t> values;
    for (const json::Value &e : m->array) {
      int64_t x;
      if (!json::toInt(e, lo, hi, x))
        return fail(want + ", got " + describe(e));
      values.push_back(x);
    }
    out = std::move(values);
    return true;
  }

  bool fail(const std::string &what) {
    if (status.ok)
      status = Status::error(ErrorCode::InvalidManifest,
                             "manifest: " + where + ": " + what);
    return false;
  }

  Status finish() {
    if (status.ok && !allowUnknown)
      for (const auto &[key, value] : v.object)
        if (!seen.count(key))
          fail("unknown key '" + key + "'");
    return status;
  }

private:
  const json::Value &v;
  std::string where;
  bool allowUnknown;
  std::set<std::string> seen;
  Status status;
};

constexpr int64_t kMaxDim = int64_t(1) << 48;
constexpr int64_t kMaxExtent = int64_t(1) << 40;

Status readVersion(const json::Value &root, int &major, int &minor) {
  const json::Value *v =
      root.kind == json::Value::Object ? root.find("schema_version") : nullptr;
  if (!v)
    return Status::error(
        ErrorCode::UnsupportedVersion,
        "manifest: expected a 'schema_version' [major, minor] (a manifest "
        "without one predates schema versions); this runtime reads version " +
            std::to_string(kManifestMajorVersion) +
            ".x: recompile the kernel with attn-compile");
  int64_t parts[2];
  if (v->kind != json::Value::Array || v->array.size() != 2 ||
      !json::toInt(v->array[0], 0, 1 << 20, parts[0]) ||
      !json::toInt(v->array[1], 0, 1 << 20, parts[1]))
    return Status::error(ErrorCode::InvalidManifest,
                         "manifest: expected 'schema_version' to be [major, "
                         "minor], two integers in [0, 1048576], got " +
                             describe(*v));
  major = static_cast<int>(parts[0]);
  minor = static_cast<int>(parts[1]);
  if (major != kManifestMajorVersion)
    return Status::error(
        ErrorCode::UnsupportedVersion,
        "manifest: schema version " + std::to_string(major) + "." +
            std::to_string(minor) + " is not supported: this runtime reads " +
            std::to_string(kManifestMajorVersion) + ".x (up to " +
            std::to_string(kManifestMajorVersion) + "." +
            std::to_string(kManifestMinorVersion) +
            "); use a runtime and compiler of the same release");
  return Status::success();
}

bool readDims(ObjectReader &r, const char *key, int64_t maxX, int64_t maxY,
              int64_t maxZ, std::array<int64_t, 3> &out,
              bool allowZero = false) {
  std::vector<int64_t> dims;
  // 0: an extent computed at launch (checked against the runtime lengths).
  if (!r.ints(key, 3, 3, 0, std::max({maxX, maxY, maxZ}), dims))
    return false;
  int64_t max[3] = {maxX, maxY, maxZ};
  for (int i = 0; i < 3; ++i) {
    if (dims[i] > max[i] || dims[i] < (allowZero ? 0 : 1))
      return r.fail("expected '" + std::string(key) + "'[" + std::to_string(i) +
                    "] in [" + (allowZero ? "0" : "1") + ", " +
                    std::to_string(max[i]) + "], got " +
                    std::to_string(dims[i]));
    out[i] = dims[i];
  }
  return true;
}

Status readTuning(const json::Value &v, bool allowUnknown, KernelTuning &t) {
  ObjectReader r(v, "'tuning'", allowUnknown);
  const int64_t hi = 1 << 20;
  r.integer("block_m", 0, hi, t.blockM, false);
  r.integer("block_n", 0, hi, t.blockN, false);
  r.integer("num_warps", 0, hi, t.numWarps, false);
  r.integer("num_splits", 0, hi, t.numSplits, false);
  r.integer("keys_per_warp", 0, hi, t.keysPerWarp, false);
  r.integer("stages", 0, hi, t.stages, false);
  return r.finish();
}

/// A dynamic dim (-1) is named by dim_symbols, which names nothing else;
/// lengths are i32 scalars; workspaces are static.
Status checkDynamicShape(const ManifestArgument &a) {
  auto fail = [&](const std::string &what) {
    return Status::error(ErrorCode::InvalidManifest,
                         "manifest: argument '" + a.name + "': " + what);
  };
  if (a.isLength() && (a.dtype != "i32" || !a.shape.empty()))
    return fail("expected a length to be an i32 of shape []");
  bool dynamic = std::find(a.shape.begin(), a.shape.end(), -1) != a.shape.end();
  if (!dynamic && a.dimSymbols.empty())
    return Status::success();
  if (a.isWorkspace() || a.dimSymbols.size() != a.shape.size())
    return fail("expected 'dim_symbols' of one name per dim exactly where "
                "the shape has a dynamic (-1) dim, not on a workspace");
  for (size_t i = 0; i < a.shape.size(); ++i)
    if ((a.shape[i] < 0) != !a.dimSymbols[i].empty())
      return fail("expected 'dim_symbols'[" + std::to_string(i) +
                  "] to name the length of exactly the dynamic dims");
  return Status::success();
}

Status readArgument(const json::Value &v, size_t index, bool allowUnknown,
                    ManifestArgument &a) {
  ObjectReader r(v, "argument " + std::to_string(index), allowUnknown);
  std::string role;
  r.identifier("name", a.name);
  if (r.string("dtype", a.dtype) && dtypeSize(a.dtype) == 0)
    r.fail("expected 'dtype' to be one of bf16, f16, f32, f64, i1, i8, i16, i32, "
           "i64, got " +
           json::quote(a.dtype));
  r.ints("shape", 0, Limits::kMaxRank, -1, kMaxDim, a.shape);
  // Optional (schema 1.1): absent means dense row-major.
  if (r.ints("strides", 0, Limits::kMaxRank, 0, kMaxDim, a.strides, false) &&
      a.strides.size() != a.shape.size())
    r.fail("expected 'strides' to have one entry per dim of 'shape' (" +
           std::to_string(a.shape.size()) + "), got " +
           std::to_string(a.strides.size()));
  if (r.string("role", role, true,
               {"input", "output", "inout", "workspace", "length",
                "tensor_map"}))
    parseRole(role, a.role);
  if (const json::Value *t = r.get("tensor_map", false)) {
    ObjectReader tr(*t, "argument " + std::to_string(index) + " 'tensor_map'",
                    allowUnknown);
    TensorMapSpec spec;
    tr.identifier("source", spec.source);
    tr.ints("box", 1, 5, 1, 256, spec.box);
    tr.integer("swizzle", 0, 128, spec.swizzle);
    if (tr.ok() && spec.swizzle != 0 && spec.swizzle != 32 &&
        spec.swizzle != 64 && spec.swizzle != 128)
      tr.fail("expected 'swizzle' of 0, 32, 64 or 128, got " +
              std::to_string(spec.swizzle));
    if (Status st = tr.finish(); !st)
      return st;
    a.tensorMap = std::move(spec);
  }
  r.names("dim_symbols", Limits::kMaxRank, a.dimSymbols, false);
  bool output = false;
  if (r.boolean("output", output, false) && output != a.isOutput())
    r.fail("expected 'output' to be " +
           std::string(a.isOutput() ? "true" : "false") + " for role '" + role +
           "'");
  if (r.integer("alignment", 1, 4096, a.alignment, false) &&
      (a.alignment & (a.alignment - 1)) != 0)
    r.fail("expected 'alignment' to be a power of two, got " +
           std::to_string(a.alignment));
  r.boolean("zero_init", a.zeroInit, false);
  if (!r.ok())
    return r.finish();
  if (Status s = checkDynamicShape(a); !s)
    return s;
  // Sizes the runtime allocates (workspaces) or checks must not wrap.
  uint64_t bytes = static_cast<uint64_t>(dtypeSize(a.dtype));
  for (int64_t d : a.shape)
    if (d >= 0 &&
        (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes) ||
         bytes > Limits::kMaxArgumentBytes))
      return Status::error(ErrorCode::InvalidManifest,
                           "manifest: argument '" + a.name +
                               "': expected at "
                               "most 2^48 bytes, got shape " +
                               shapeString(a.shape) + " of " + a.dtype);
  // So must the span a strided argument's elements cover (each term is
  // below 2^96, a sum of at most 8 below 2^99: exact in 128 bits).
  if (!a.strides.empty() && bytes != 0) {
    unsigned __int128 span = 1;
    for (size_t i = 0; i < a.shape.size(); ++i)
      span += static_cast<unsigned __int128>(a.shape[i] - 1) *
              static_cast<uint64_t>(a.strides[i]);
    if (span * static_cast<uint64_t>(dtypeSize(a.dtype)) >
        Limits::kMaxArgumentBytes)
      return Status::error(ErrorCode::InvalidManifest,
                           "manifest: argument '" + a.name +
                               "': expected its strides to span at most "
                               "2^48 bytes, got shape " +
                               shapeString(a.shape) + " and strides " +
                               shapeString(a.strides) + " of " + a.dtype);
  }
  return r.finish();
}

Status readAttention(const json::Value &v, bool allowUnknown,
                     AttentionInfo &a) {
  ObjectReader r(v, "'attention'", allowUnknown);
  r.string(
      "mask", a.mask, true,
      {"none", "causal_top_left", "causal_bottom_right", "sliding_window"});
  r.number("scale", a.scale);
  double softcap;
  if (r.number("softcap", softcap, false)) {
    if (!(softcap > 0))
      r.fail("expected 'softcap' > 0, got " + json::formatDouble(softcap));
    a.softcap = softcap;
  }
  std::vector<int64_t> window;
  if (r.ints("window", 2, 2, -1, kMaxExtent, window, false))
    a.window = std::array<int64_t, 2>{window[0], window[1]};
  if (r.ok() && a.window.has_value() != (a.mask == "sliding_window"))
    r.fail("expected 'window' exactly when 'mask' is sliding_window");
  r.string("layout", a.layout, true, {"bhsd", "bshd"});
  if (const json::Value *d = r.get("dtypes", true)) {
    ObjectReader dr(*d, "'attention.dtypes'", allowUnknown);
    for (auto [key, field] :
         {std::pair<const char *, std::string *>{"query", &a.queryDtype},
          {"key", &a.keyDtype},
          {"value", &a.valueDtype},
          {"output", &a.outputDtype}})
      if (dr.string(key, *field) && dtypeSize(*field) == 0)
        dr.fail("expected '" + std::string(key) + "' to be a dtype, got " +
                json::quote(*field));
    if (Status s = dr.finish(); !s)
      return s;
  }
  // -1: a runtime length (dynamic dim).
  r.integer("batch", -1, kMaxExtent, a.batch);
  r.integer("heads_q", 1, kMaxExtent, a.headsQ);
  r.integer("heads_kv", 1, kMaxExtent, a.headsKV);
  r.integer("seq_q", -1, kMaxExtent, a.seqQ);
  r.integer("seq_k", -1, kMaxExtent, a.seqK);
  for (int64_t extent : {a.batch, a.seqQ, a.seqK})
    if (r.ok() && extent == 0)
      r.fail("expected 'batch', 'seq_q' and 'seq_k' >= 1 or -1 (a runtime "
             "length)");
  r.integer("head_dim", 1, kMaxExtent, a.headDim);
  r.integer("value_head_dim", 1, kMaxExtent, a.valueHeadDim);
  if (r.ok() && a.headsQ % a.headsKV != 0)
    r.fail("expected 'heads_q' (" + std::to_string(a.headsQ) +
           ") to be a multiple of 'heads_kv' (" + std::to_string(a.headsKV) +
           ")");
  r.boolean("lse", a.lse);
  r.boolean("key_lengths", a.keyLengths);
  r.boolean("alibi", a.alibi);
  r.boolean("score_mod", a.scoreMod);
  r.identifier("kv_view", a.kvView);
  return r.finish();
}

Status readCost(const json::Value &v, bool allowUnknown, KernelCost &c) {
  ObjectReader r(v, "'cost'", allowUnknown);
  // Counts up to 2^62 (a 2^40-element problem's FLOPs fit many times over).
  const int64_t hi = int64_t(1) << 62;
  r.string("gpu", c.gpu);
  r.integer("gemm_flops", 0, hi, c.gemmFlops);
  r.integer("visible_gemm_flops", 0, hi, c.visibleGemmFlops);
  r.integer("dense_gemm_flops", 0, hi, c.denseGemmFlops);
  r.integer("exponentials", 0, hi, c.exponentials);
  r.integer("softmax_flops", 0, hi, c.softmaxFlops);
  r.integer("bytes_read", 0, hi, c.bytesRead);
  r.integer("bytes_written", 0, hi, c.bytesWritten);
  for (auto [key, field] : {std::pair<const char *, double *>{
                                "arithmetic_intensity", &c.arithmeticIntensity},
                            {"bound_us", &c.boundUs},
                            {"compute_us", &c.computeUs},
                            {"memory_us", &c.memoryUs},
                            {"exp_us", &c.expUs}})
    if (r.number(key, *field) && *field < 0)
      r.fail("expected '" + std::string(key) + "' >= 0, got " +
             json::formatDouble(*field));
  r.string("limiter", c.limiter, true, {"compute", "memory", "exp"});
  return r.finish();
}

/// A tensor map describes an earlier passed argument: the same dtype, shape
/// and strides, a box of one extent per dim whose innermost row is a
/// multiple of 16 bytes and fits the swizzle span.
Status checkTensorMaps(const Manifest &m) {
  for (size_t i = 0; i < m.arguments.size(); ++i) {
    const ManifestArgument &a = m.arguments[i];
    auto fail = [&](const std::string &what) {
      return Status::error(ErrorCode::InvalidManifest,
                           "manifest: argument '" + a.name + "': " + what);
    };
    if (a.isTensorMap() != a.tensorMap.has_value())
      return fail("expected a 'tensor_map' object exactly on a tensor_map "
                  "argument");
    if (!a.tensorMap)
      continue;
    const TensorMapSpec &t = *a.tensorMap;
    const ManifestArgument *source = nullptr;
    // A caller's tensor, or a workspace slice (f32-compute's rounded
    // copies, dense in their manifest shape).
    for (size_t j = 0; j < i; ++j)
      if (m.arguments[j].name == t.source &&
          (m.arguments[j].isPassed() || m.arguments[j].isWorkspace()))
        source = &m.arguments[j];
    if (!source)
      return fail("expected tensor map source '" + t.source +
                  "' to name an earlier argument the caller passes or a "
                  "workspace");
    if (a.dtype != source->dtype || a.shape != source->shape ||
        a.elementStrides() != source->elementStrides())
      return fail("expected the dtype, shape and strides of its source '" +
                  t.source + "'");
    if (t.box.size() != a.shape.size() || a.shape.empty())
      return fail("expected a box of one extent per dim of " +
                  shapeString(a.shape) + ", got " + shapeString(t.box));
    int64_t rowBytes = t.box.back() * dtypeSize(a.dtype);
    if (rowBytes % 16 != 0 || (t.swizzle && rowBytes > t.swizzle))
      return fail("expected the box's innermost extent to span a multiple of "
                  "16 bytes and at most the swizzle (" +
                  std::to_string(t.swizzle) + " bytes), got " +
                  std::to_string(rowBytes) + " bytes");
    if (a.alignment != 64)
      return fail("expected a tensor map's 'alignment' to be 64, got " +
                  std::to_string(a.alignment));
  }
  return Status::success();
}

/// Grid extents of 0 and dim symbols only with Length arguments, and every
/// symbol one of them.
Status checkRuntimeLengths(const Manifest &m) {
  auto fail = [](const std::string &what) {
    return Status::error(ErrorCode::InvalidManifest, "manifest: " + what);
  };
  bool lengths = m.hasRuntimeLengths();
  for (int64_t extent : m.grid)
    if (extent == 0 && !lengths)
      return fail("expected 'grid' extents >= 1 (0: computed at launch, "
                  "only for a kernel with length arguments)");
  for (const ManifestArgument &a : m.arguments)
    for (const std::string &symbol : a.dimSymbols) {
      if (symbol.empty())
        continue;
      bool known = false;
      for (const ManifestArgument &l : m.arguments)
        known |= l.isLength() && l.name == symbol;
      if (!known)
        return fail("argument '" + a.name + "': expected dim symbol '" +
                    symbol + "' to name a length argument");
    }
  if (lengths && m.gridFormula.empty())
    return fail("expected a 'grid_formula' for a kernel with length "
                "arguments (its grid is computed at launch)");
  return Status::success();
}

} // namespace

Status attn::runtime::parseManifest(const std::string &text, Manifest &out) {
  if (text.size() > Limits::kMaxBytes)
    return Status::error(ErrorCode::InvalidManifest,
                         "manifest: expected at most " +
                             std::to_string(Limits::kMaxBytes) +
                             " bytes, got " + std::to_string(text.size()));
  json::Value root;
  if (Status s = json::parse(text, Limits::kMaxDepth, root); !s)
    return s;
  if (root.kind != json::Value::Object)
    return Status::error(ErrorCode::InvalidManifest,
                         "manifest: expected a JSON object, got " +
                             describe(root));
  Manifest m;
  if (Status s = readVersion(root, m.majorVersion, m.minorVersion); !s)
    return s;
  // A newer minor version may add keys this reader does not know.
  bool allowUnknown = m.minorVersion > kManifestMinorVersion;
  ObjectReader r(root, "top level", allowUnknown);
  r.get("schema_version", true);
  r.identifier("kernel", m.symbol);
  r.string("family", m.family, true,
           {"prefill", "decode", "hopper", "backward", "hopper-backward",
            "convert", "custom"});
  r.string("chip", m.chip);
  readDims(r, "grid", Limits::kMaxGridX, Limits::kMaxGridYZ, Limits::kMaxGridYZ,
           m.grid, /*allowZero=*/true);
  readDims(r, "block", Limits::kMaxBlockXY, Limits::kMaxBlockXY,
           Limits::kMaxBlockZ, m.block);
  if (r.ok() && m.block[0] * m.block[1] * m.block[2] > Limits::kMaxThreads)
    r.fail("expected at most " + std::to_string(Limits::kMaxThreads) +
           " threads per block, got " +
           std::to_string(m.block[0] * m.block[1] * m.block[2]));
  r.string("grid_formula", m.gridFormula, false);
  r.integer("shared_memory_bytes", 0, Limits::kMaxSharedMemoryBytes,
            m.sharedMemoryBytes);
  std::string abi;
  r.string("abi", abi, false, {"bare-pointer"});
  if (const json::Value *t = r.get("tuning", false))
    if (Status s = readTuning(*t, allowUnknown, m.tuning); !s)
      return s;
  if (const json::Value *args = r.get("arguments", true)) {
    if (args->kind != json::Value::Array ||
        args->array.size() > Limits::kMaxArguments)
      r.fail("expected 'arguments' to be an array of at most " +
             std::to_string(Limits::kMaxArguments) + " objects, got " +
             describe(*args));
    for (size_t i = 0; r.ok() && i < args->array.size(); ++i) {
      ManifestArgument a;
      if (Status s = readArgument(args->array[i], i, allowUnknown, a); !s)
        return s;
      for (const ManifestArgument &other : m.arguments)
        if (other.name == a.name)
          r.fail("duplicate argument name '" + a.name + "'");
      m.arguments.push_back(std::move(a));
    }
  }
  if (const json::Value *a = r.get("attention", false)) {
    AttentionInfo info;
    if (Status s = readAttention(*a, allowUnknown, info); !s)
      return s;
    m.attention = std::move(info);
  }
  if (const json::Value *c = r.get("cost", false)) {
    KernelCost cost;
    if (Status s = readCost(*c, allowUnknown, cost); !s)
      return s;
    m.cost = std::move(cost);
  }
  if (Status s = r.finish(); !s)
    return s;
  if (Status s = checkRuntimeLengths(m); !s)
    return s;
  if (Status s = checkTensorMaps(m); !s)
    return s;
  out = std::move(m);
  return Status::success();
}

