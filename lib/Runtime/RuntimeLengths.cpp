//===- RuntimeLengths.cpp - dynamic dims: binding, checks, the grid ------===//
//
// Part of attn-mlir. A kernel over dynamic dims (B, Lq, Lk known only at
// launch) takes its lengths as i32 Length arguments: the runtime binds each
// one from the dims of the tensors passed (every dim of one length must
// agree), checks it, and computes the launch grid from the manifest's grid
// formula, the one statement of the grid the compiler wrote.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/Manifest.h"

#include <cctype>
#include <limits>

using namespace attn::runtime;

namespace {

/// Tensors the compiler accepts stay under this many bytes (its index math
/// is i64 and 2^40 leaves room for every product of it).
constexpr uint64_t kMaxTensorBytes = uint64_t(1) << 40;

Status mismatch(const std::string &message) {
  return Status::error(ErrorCode::ArgumentMismatch, message);
}

/// Binds `value` to the length `name`, or checks it against the binding.
/// `where` builds the message prefix, only on a mismatch (every launch of
/// a runtime-length kernel binds).
template <typename Where>
Status bind(RuntimeLengthValues &lengths, const std::string &name,
            int64_t value, Where where) {
  int64_t bound = lengths.get(name);
  if (bound >= 0 && bound != value)
    return mismatch(where() + "expected " + name + " = " + std::to_string(bound) +
                    " as in the arguments before it, got " +
                    std::to_string(value));
  if (value < 1 || value > std::numeric_limits<int32_t>::max())
    return mismatch(where() + "expected " + name + " in [1, 2^31 - 1], got " +
                    std::to_string(value));
  if (bound < 0)
    lengths.values.emplace_back(name, value);
  return Status::success();
}

/// A recursive-descent reader of grid formulas over int64 (every value the
/// formula sees is bounded, so no product of two can wrap).
class FormulaReader {
public:
  FormulaReader(const std::string &text,
                const std::vector<std::pair<std::string, int64_t>> &names)
      : text(text), names(names) {}

  Status read(std::array<int64_t, 3> &grid) {
    expect('[');
    for (int i = 0; i < 3 && status.ok; ++i) {
      if (i)
        expect(',');
      grid[i] = sum();
    }
    expect(']');
    skipSpace();
    if (status.ok && pos != text.size())
      fail("unexpected text after ']'");
    return status;
  }

private:
  void skipSpace() {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos])))
      ++pos;
  }
  bool accept(char c) {
    skipSpace();
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (status.ok && !accept(c))
      fail(std::string("expected '") + c + "'");
  }
  void fail(const std::string &what) {
    if (status.ok)
      status = Status::error(ErrorCode::InvalidArgument,
                             "grid formula '" + text + "': " + what +
                                 " at offset " + std::to_string(pos));
  }
  int64_t sum() {
    int64_t v = product();
    while (status.ok) {
      if (accept('+'))
        v += product();
      else if (accept('-'))
        v -= product();
      else
        break;
    }
    return v;
  }
  int64_t product() {
    int64_t v = atom();
    while (status.ok) {
      if (accept('*')) {
        int64_t w = atom();
        if (__builtin_mul_overflow(v, w, &v))
          fail("overflow");
      } else if (accept('/')) {
        int64_t d = atom();
        if (d <= 0) {
          fail("expected a positive divisor");
          return 0;
        }
        // Floor division, or exact division inside ceil().
        if (ceilDepth > 0)
          v = v >= 0 ? (v + d - 1) / d : -(-v / d);
        else
          v = v >= 0 ? v / d : -((-v + d - 1) / d);
      } else {
        break;
      }
    }
    return v;
  }
  int64_t atom() {
    skipSpace();
    if (!status.ok)
      return 0;
    if (accept('(')) {
      int64_t v = sum();
      expect(')');
      return v;
    }
    size_t start = pos;
    if (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      int64_t v = 0;
      while (pos < text.size() &&
             std::isdigit(static_cast<unsigned char>(text[pos])) && v < (1 << 30))
        v = v * 10 + (text[pos++] - '0');
      return v;
    }
    while (pos < text.size() &&
           (std::isalnum(static_cast<unsigned char>(text[pos])) || text[pos] == '_'))
      ++pos;
    std::string name = text.substr(start, pos - start);
    if (name.empty()) {
      fail("expected a number, a name or '('");
      return 0;
    }
    if (name == "ceil") {
      // ceil(x / y): the division inside rounds up.
      expect('(');
      ++ceilDepth;
      int64_t v = sum();
      --ceilDepth;
      expect(')');
      return v;
    }
    for (const auto &[known, value] : names)
      if (known == name)
        return value;
    fail("unknown name '" + name + "'");
    return 0;
  }

  const std::string &text;
  const std::vector<std::pair<std::string, int64_t>> &names;
  size_t pos = 0;
  int ceilDepth = 0;
  Status status = Status::success();
};

} // namespace

int64_t RuntimeLengthValues::get(const std::string &name) const {
  for (const auto &[known, value] : values)
    if (known == name)
      return value;
  return -1;
}

bool Manifest::hasRuntimeLengths() const {
  for (const ManifestArgument &a : arguments)
    if (a.isLength())
      return true;
  return false;
}

bool Manifest::hasTensorMaps() const {
  for (const ManifestArgument &a : arguments)
    if (a.isTensorMap())
      return true;
  return false;
}

Status attn::runtime::bindRuntimeLengths(const Manifest &manifest,
                                         const std::vector<TensorArg> &args,
                                         RuntimeLengthValues &lengths) {
  lengths.values.clear();
  if (!manifest.hasRuntimeLengths())
    return Status::success();
  auto where = [&] { return "kernel '" + manifest.symbol + "': "; };
  auto next = args.begin();
  for (const ManifestArgument &want : manifest.arguments) {
    if (!want.isPassed())
      continue;
    const TensorArg &got = *next++;
    auto arg = [&] { return where() + "argument '" + want.name + "': "; };
    for (size_t d = 0; d < want.dimSymbols.size(); ++d)
      if (want.shape[d] < 0)
        if (Status s = bind(lengths, want.dimSymbols[d], got.shape[d], arg); !s)
          return s;
    // checkArguments bounded every extent to 2^31 - 1 and the rank to 8;
    // the running product stops at the limit before it could wrap.
    uint64_t bytes = static_cast<uint64_t>(dtypeSize(got.dtype));
    for (int64_t extent : got.shape) {
      bytes *= static_cast<uint64_t>(extent);
      if (bytes >= kMaxTensorBytes)
        return mismatch(arg() + "expected a tensor under 2^40 bytes");
    }
  }
  for (const ManifestArgument &a : manifest.arguments)
    if (a.isLength() && lengths.get(a.name) < 0)
      return mismatch(where() + "no dim of the arguments gives the length '" +
                      a.name + "'");
  return Status::success();
}

Status attn::runtime::evaluateGridFormula(const Manifest &m,
                                          const RuntimeLengthValues &lengths,
                                          std::array<int64_t, 3> &grid) {
  std::vector<std::pair<std::string, int64_t>> names = lengths.values;
  auto add = [&](const char *name, int64_t value) {
    for (const auto &[known, v] : names)
      if (known == name)
        return;
    if (value >= 1)
      names.emplace_back(name, value);
  };
  if (m.attention) {
    const AttentionInfo &a = *m.attention;
    add("B", a.batch);
    add("Hq", a.headsQ);
    add("Hkv", a.headsKV);
    add("Lq", a.seqQ);
    add("Lk", a.seqK);
    add("D", a.headDim);
    add("Dv", a.valueHeadDim);
  }
  const KernelTuning &t = m.tuning;
  add("block_m", t.blockM);
  add("block_n", t.blockN);
  add("num_warps", t.numWarps);
  add("num_splits", t.numSplits);
  add("keys_per_warp", t.keysPerWarp);
  add("stages", t.stages);
  return FormulaReader(m.gridFormula, names).read(grid);
}

Status attn::runtime::launchGrid(const Manifest &m,
                                 const RuntimeLengthValues &lengths,
                                 std::array<int64_t, 3> &grid) {
  if (!m.hasRuntimeLengths()) {
    grid = m.grid;
    return Status::success();
  }
  if (Status s = evaluateGridFormula(m, lengths, grid); !s)
    return s;
  const int64_t max[3] = {ManifestLimits::kMaxGridX, ManifestLimits::kMaxGridYZ,
                          ManifestLimits::kMaxGridYZ};
  for (int i = 0; i < 3; ++i)
    if (grid[i] < 1 || grid[i] > max[i])
      return mismatch("kernel '" + m.symbol + "': the grid formula '" +
                      m.gridFormula + "' gives grid[" + std::to_string(i) +
                      "] = " + std::to_string(grid[i]) + ", expected [1, " +
                      std::to_string(max[i]) + "]");
  return Status::success();
}
