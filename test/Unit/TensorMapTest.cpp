//===- TensorMapTest.cpp - tensor_map arguments: schema and derivation ----===//
//
// Part of attn-mlir. A hopper kernel with TMA loads takes tensor maps the
// runtime builds at launch (docs/Runtime.md, "tensor_map"): these tests pin
// the manifest schema of such an argument and the derivation of the
// cuTensorMapEncodeTiled parameters from it and the caller's tensor, a pure
// function; the encode call itself needs a GPU (bench/hopper_tma_run.sh).
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/Manifest.h"
#include "attn/Runtime/TensorMap.h"

#include <gtest/gtest.h>

#include <string>

using namespace attn::runtime;

namespace {

/// The hopper kernel of B 2, Hq 8, Hkv 2, L 1000, D 128, BHSD: Q, K, V, O,
/// then K's and V's tensor maps (boxes of 128 keys by a 64-column panel,
/// 128-byte swizzle) and Q's (128 rows).
Manifest tmaManifest() {
  Manifest m;
  m.symbol = "attention_kernel";
  m.chip = "sm_90a";
  m.family = "hopper";
  m.grid = {8, 16, 1};
  m.block = {384, 1, 1};
  m.gridFormula = "[ceil(Lq / block_m), B * Hq, 1]";
  m.sharedMemoryBytes = 164936;
  auto arg = [&](const char *name, std::vector<int64_t> shape,
                 ArgumentRole role) -> ManifestArgument & {
    ManifestArgument a;
    a.name = name;
    a.dtype = "bf16";
    a.shape = std::move(shape);
    a.role = role;
    m.arguments.push_back(a);
    return m.arguments.back();
  };
  arg("q", {2, 8, 1000, 128}, ArgumentRole::Input);
  arg("k", {2, 2, 1000, 128}, ArgumentRole::Input);
  arg("v", {2, 2, 1000, 128}, ArgumentRole::Input);
  arg("o", {2, 8, 1000, 128}, ArgumentRole::Output);
  auto map = [&](const char *name, const char *source,
                 std::vector<int64_t> shape, int64_t rows) {
    ManifestArgument &a = arg(name, std::move(shape), ArgumentRole::TensorMap);
    a.alignment = 64;
    a.tensorMap = TensorMapSpec{source, {1, 1, rows, 64}, 128};
  };
  map("k_tensor_map", "k", {2, 2, 1000, 128}, 128);
  map("v_tensor_map", "v", {2, 2, 1000, 128}, 128);
  map("q_tensor_map", "q", {2, 8, 1000, 128}, 128);
  return m;
}

std::string tmaJson() { return writeManifestJson(tmaManifest()); }

std::string edited(const std::string &from, const std::string &to) {
  std::string json = tmaJson();
  size_t at = json.find(from);
  EXPECT_NE(at, std::string::npos) << "'" << from << "' not in " << json;
  if (at != std::string::npos)
    json.replace(at, from.size(), to);
  return json;
}

void expectRefused(const std::string &json, const std::string &fragment) {
  Manifest m;
  Status s = parseManifest(json, m);
  EXPECT_FALSE(s.ok) << json;
  EXPECT_EQ(s.code, ErrorCode::InvalidManifest);
  EXPECT_NE(s.message.find(fragment), std::string::npos) << s.message;
}

} // namespace

TEST(TensorMapSchema, RoundTripsAndIsNotPassedByTheCaller) {
  std::string json = tmaJson();
  // The writer's keys for a map (docs/Runtime.md).
  EXPECT_NE(json.find(R"("role": "tensor_map")"), std::string::npos);
  EXPECT_NE(json.find(R"("tensor_map": {"source": "k", "box": [1, 1, 128, 64], "swizzle": 128})"),
            std::string::npos)
      << json;
  Manifest m;
  Status s = parseManifest(json, m);
  ASSERT_TRUE(s.ok) << s.message;
  ASSERT_EQ(m.arguments.size(), 7u);
  EXPECT_TRUE(m.hasTensorMaps());
  EXPECT_TRUE(m.arguments[4].isTensorMap());
  EXPECT_FALSE(m.arguments[4].isPassed());
  ASSERT_TRUE(m.arguments[6].tensorMap.has_value());
  EXPECT_EQ(*m.arguments[6].tensorMap, (TensorMapSpec{"q", {1, 1, 128, 64}, 128}));
  EXPECT_EQ(writeManifestJson(m), json);
  // The caller passes Q, K, V and O only: the maps are the runtime's.
  std::vector<TensorArg> args;
  for (int i = 0; i < 4; ++i)
    args.emplace_back(0x10000 * (i + 1), "bf16", m.arguments[i].shape);
  EXPECT_TRUE(checkArguments(m, args).ok);
  args.emplace_back(0x50000, "bf16", m.arguments[4].shape);
  EXPECT_FALSE(checkArguments(m, args).ok);
}

TEST(TensorMapSchema, MalformedMapsAreRefused) {
  expectRefused(edited(R"("source": "k")", R"("source": "kk")"),
                "expected tensor map source 'kk' to name an earlier argument");
  // A map of a map, or of an argument after it.
  expectRefused(edited(R"("source": "q")", R"("source": "k_tensor_map")"),
                "to name an earlier argument the caller passes");
  expectRefused(edited(R"("box": [1, 1, 128, 64], "swizzle": 128})",
                       R"("box": [1, 128, 64], "swizzle": 128})"),
                "expected a box of one extent per dim");
  // 128 bf16 = 256 bytes: wider than the 128-byte swizzle span.
  expectRefused(edited(R"("box": [1, 1, 128, 64], "swizzle": 128})",
                       R"("box": [1, 1, 128, 128], "swizzle": 128})"),
                "at most the swizzle (128 bytes), got 256 bytes");
  expectRefused(edited(R"("box": [1, 1, 128, 64])", R"("box": [1, 1, 512, 64])"),
                "'box'");
  expectRefused(edited(R"("swizzle": 128)", R"("swizzle": 96)"),
                "expected 'swizzle' of 0, 32, 64 or 128, got 96");
  // The map repeats its source's shape.
  expectRefused(edited(R"("name": "k_tensor_map", "role": "tensor_map", "dtype": "bf16", "shape": [2, 2, 1000, 128])",
                       R"("name": "k_tensor_map", "role": "tensor_map", "dtype": "bf16", "shape": [2, 2, 999, 128])"),
                "expected the dtype, shape and strides of its source 'k'");
  // A tensor_map role without its object, or the object on another role.
  std::string json = tmaJson();
  size_t at = json.find(R"(, "tensor_map": {"source": "v")");
  std::string stripped = json;
  stripped.erase(at, json.find('}', at) + 1 - at);
  expectRefused(stripped, "expected a 'tensor_map' object exactly on a "
                          "tensor_map argument");
}

TEST(TensorMapSchema, ReadersBefore12RefuseTheRole) {
  // What a 1.1 reader sees: the role is not in its list, so it refuses the
  // kernel rather than launching it without its maps. Emulated by the role
  // vocabulary: a manifest naming an unknown role is refused.
  expectRefused(edited(R"("role": "tensor_map")", R"("role": "tensor_mapx")"),
                "'role'");
}

TEST(TensorMapParams, BhsdOperandReversesDimsAndStrides) {
  Manifest m = tmaManifest();
  // K [2, 2, 1000, 128] bf16, dense: strides 256000, 128000, 128, 1 elements.
  TensorArg k(0x7f0000001000, "bf16", {2, 2, 1000, 128});
  TensorMapParams p;
  Status s = deriveTensorMapParams(m.arguments[4], k, p);
  ASSERT_TRUE(s.ok) << s.message;
  EXPECT_EQ(p.dataType, 9u); // CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
  EXPECT_EQ(p.rank, 4u);
  EXPECT_EQ(p.globalAddress, 0x7f0000001000u);
  // Innermost first: D, L, H, B.
  EXPECT_EQ(p.globalDim, (std::array<uint64_t, 5>{128, 1000, 2, 2, 0}));
  // Bytes: a row 128 * 2, a head 1000 rows, a batch 2 heads.
  EXPECT_EQ(p.globalStrides, (std::array<uint64_t, 4>{256, 256000, 512000, 0}));
  EXPECT_EQ(p.boxDim, (std::array<uint32_t, 5>{64, 128, 1, 1, 0}));
  EXPECT_EQ(p.elementStrides, (std::array<uint32_t, 5>{1, 1, 1, 1, 0}));
  EXPECT_EQ(p.swizzle, 3u);  // CU_TENSOR_MAP_SWIZZLE_128B
  EXPECT_EQ(p.oobFill, 0u);  // rows past Lk read as zeros
  EXPECT_EQ(p.interleave, 0u);
}

TEST(TensorMapParams, StridedOperandUsesTheCallersStrides) {
  // A BSHD buffer [B, L, H, D] = [1, 64, 4, 64] f16 seen as BHSD (torch's
  // x.transpose(1, 2)): element strides 16384, 64, 256, 1.
  ManifestArgument map;
  map.name = "q_tensor_map";
  map.role = ArgumentRole::TensorMap;
  map.dtype = "f16";
  map.shape = {1, 4, 64, 64};
  map.strides = {16384, 64, 256, 1};
  map.tensorMap = TensorMapSpec{"q", {1, 1, 64, 64}, 128};
  TensorArg q(0x1000, "f16", {1, 4, 64, 64}, {16384, 64, 256, 1});
  TensorMapParams p;
  Status s = deriveTensorMapParams(map, q, p);
  ASSERT_TRUE(s.ok) << s.message;
  EXPECT_EQ(p.dataType, 6u); // CU_TENSOR_MAP_DATA_TYPE_FLOAT16
  EXPECT_EQ(p.globalDim, (std::array<uint64_t, 5>{64, 64, 4, 1, 0}));
  // Row (seq) 256 elements = 512 bytes apart, head 64 = 128, batch 32768.
  EXPECT_EQ(p.globalStrides, (std::array<uint64_t, 4>{512, 128, 32768, 0}));
}

TEST(TensorMapParams, TmaRulesOnTheCallersTensorAreMismatches) {
  Manifest m = tmaManifest();
  TensorMapParams p;
  // TMA needs a 16-byte aligned base address.
  Status s = deriveTensorMapParams(
      m.arguments[4], TensorArg(0x1008, "bf16", {2, 2, 1000, 128}), p);
  EXPECT_EQ(s.code, ErrorCode::ArgumentMismatch);
  EXPECT_NE(s.message.find("16-byte aligned address"), std::string::npos);
  // Strides in bytes must be multiples of 16: D = 4 bf16 rows are 8 bytes.
  ManifestArgument narrow = m.arguments[4];
  narrow.shape = {1, 1, 8, 4};
  narrow.tensorMap->box = {1, 1, 8, 4};
  s = deriveTensorMapParams(narrow, TensorArg(0x1000, "bf16", {1, 1, 8, 4}), p);
  EXPECT_EQ(s.code, ErrorCode::ArgumentMismatch);
  EXPECT_NE(s.message.find("multiple of 16 bytes"), std::string::npos)
      << s.message;
  // Not a map at all.
  s = deriveTensorMapParams(m.arguments[1],
                            TensorArg(0x1000, "bf16", {2, 2, 1000, 128}), p);
  EXPECT_EQ(s.code, ErrorCode::InvalidArgument);
}

// A launch plan derives the maps once from the signature (no pointers) and
// each launch fills in its source's pointer: the maps are in manifest order
// and name their source's manifest argument (q 0, k 1, v 2: here also its
// position among the caller's arguments), with the parameters a launch
// with pointers derives.
TEST(TensorMapParams, SignatureMapsNameTheirSources) {
  Manifest m = tmaManifest();
  std::vector<TensorArg> signature = {
      TensorArg(0, "bf16", {2, 8, 1000, 128}), TensorArg(0, "bf16", {2, 2, 1000, 128}),
      TensorArg(0, "bf16", {2, 2, 1000, 128}), TensorArg(0, "bf16", {2, 8, 1000, 128})};
  std::vector<SignatureTensorMap> maps;
  Status s = deriveSignatureTensorMaps(m, signature, maps);
  ASSERT_TRUE(s.ok) << s.message;
  ASSERT_EQ(maps.size(), 3u);
  EXPECT_EQ(maps[0].sourceArgument, 1u); // k_tensor_map
  EXPECT_EQ(maps[1].sourceArgument, 2u); // v_tensor_map
  EXPECT_EQ(maps[2].sourceArgument, 0u); // q_tensor_map
  EXPECT_FALSE(m.arguments[maps[0].sourceArgument].isWorkspace());
  TensorArg k(0x7f0000001000, "bf16", {2, 2, 1000, 128});
  TensorMapParams withPointer;
  ASSERT_TRUE(deriveTensorMapParams(m.arguments[4], k, withPointer).ok);
  EXPECT_EQ(maps[0].params.globalAddress, 0u);
  EXPECT_EQ(maps[0].params.globalDim, withPointer.globalDim);
  EXPECT_EQ(maps[0].params.globalStrides, withPointer.globalStrides);
  EXPECT_EQ(maps[0].params.boxDim, withPointer.boxDim);
  EXPECT_EQ(maps[0].params.swizzle, withPointer.swizzle);

  // A map whose source is not among the arguments is the manifest's fault.
  m.arguments[4].tensorMap->source = "nothing";
  s = deriveSignatureTensorMaps(m, signature, maps);
  EXPECT_EQ(s.code, ErrorCode::InvalidManifest);
  EXPECT_NE(s.message.find("tensor map 'k_tensor_map': no source argument"),
            std::string::npos)
      << s.message;
}

// f32-compute's rounded copies are workspace slices: a map over one takes
// the slice's dense manifest shape (no caller tensor), and its launch the
// slice's address (sourceArgument: the manifest position).
TEST(TensorMapParams, WorkspaceSourcesAreDenseManifestShapes) {
  Manifest m = tmaManifest();
  ManifestArgument copy;
  copy.name = "k_bf16";
  copy.dtype = "bf16";
  copy.shape = {2, 2, 1000, 128};
  copy.role = ArgumentRole::Workspace;
  m.arguments.insert(m.arguments.begin() + 4, copy);
  m.arguments[5].tensorMap->source = "k_bf16"; // k_tensor_map
  std::vector<TensorArg> signature = {TensorArg(0, "bf16", {2, 8, 1000, 128}),
                                      TensorArg(0, "bf16", {2, 2, 1000, 128}),
                                      TensorArg(0, "bf16", {2, 2, 1000, 128}),
                                      TensorArg(0, "bf16", {2, 8, 1000, 128})};
  std::vector<SignatureTensorMap> maps;
  Status s = deriveSignatureTensorMaps(m, signature, maps);
  ASSERT_TRUE(s.ok) << s.message;
  ASSERT_EQ(maps.size(), 3u);
  EXPECT_EQ(maps[0].sourceArgument, 4u);
  EXPECT_TRUE(m.arguments[maps[0].sourceArgument].isWorkspace());
  TensorMapParams dense;
  ASSERT_TRUE(deriveTensorMapParams(m.arguments[5],
                                    TensorArg(0, "bf16", {2, 2, 1000, 128}),
                                    dense)
                  .ok);
  EXPECT_EQ(maps[0].params.globalDim, dense.globalDim);
  EXPECT_EQ(maps[0].params.globalStrides, dense.globalStrides);
  // The reader takes a workspace source as well.
  Manifest reread;
  ASSERT_TRUE(parseManifest(writeManifestJson(m), reread).ok);
  // A workspace of dynamic shape cannot be described.
  m.arguments[4].shape = {2, 2, -1, 128};
  EXPECT_EQ(deriveSignatureTensorMaps(m, signature, maps).code,
            ErrorCode::InvalidManifest);
}
