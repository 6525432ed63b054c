//===- RaiseInternal.h - the pieces of attn-raise ---------------*- C++ -*-===//
//
// Part of attn-mlir. Private to lib/Transforms: the declarations that the
// files of attn-raise share. The matcher is anchored at the Q.K^T
// contraction. Every tensor it meets is described by *labels*: for each
// tensor dimension, the logical dimensions (batch, head, query row, key row,
// head dim, value column) whose product it indexes, major first.
// Contractions assign the labels; view ops (collapse/expand_shape,
// transposes, repeat_kv broadcasts) only move them. That one mechanism
// handles 3-D [B*H, L, D] and 4-D forms, K^T written as a transpose or
// folded into indexing maps, BSHD operands and GQA repeats, and it tells
// which axis a softmax or reduction runs over.
//
//   RaiseLabels.cpp   labels and the view ops that move them
//   RaiseBodies.cpp   scalars and the elementwise bodies on the scores
//   RaiseMasks.cpp    masks: index conditions evaluated at compile time
//   RaiseSoftmax.cpp  the decomposed softmax
//   RaiseMatcher.cpp  the chain from Q.K^T to P.V and its operands
//   Raise.cpp         the rewrite pattern and the pass
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_TRANSFORMS_RAISEINTERNAL_H
#define ATTN_LIB_TRANSFORMS_RAISEINTERNAL_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Transforms/IndexEvaluator.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallVector.h"

#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace mlir::attn::raise {

//===----------------------------------------------------------------------===//
// Labels (RaiseLabels.cpp)
//===----------------------------------------------------------------------===//

/// Logical dimensions of attention. `Rep` marks the copy index of a
/// repeat_kv broadcast; `Unit` a static extent of 1 that carries nothing.
enum class Dim : uint8_t { B, H, Q, K, D, V, Rep, Unit };

/// One tensor dimension: the logical dimensions it linearises, major first.
using DimLabel = SmallVector<Dim, 2>;
/// One DimLabel per tensor dimension.
using Labels = SmallVector<DimLabel, 4>;

inline bool isLabel(const DimLabel &label, Dim dim) {
  return label.size() == 1 && label.front() == dim;
}

/// Scores whose magnitude is at least this (or -inf) count as "masked":
/// exp(s - max) underflows to exactly 0 in f32 for any score range below
/// 1e4, so adding or selecting them is the same as masking.
constexpr double kMaskedThreshold = -1.0e4;
/// Upper bound on Lq * Lk for evaluating a mask elementwise at compile time.
constexpr int64_t kMaxMaskElements = int64_t(1) << 22;

/// Logs why a candidate was rejected and fails.
LogicalResult reject(const Twine &why);

bool isPowerOfTwo(double value);

/// Merges the labels of a group of dimensions into one (collapse forward,
/// expand backward). Unit labels vanish unless the whole group is units.
DimLabel mergeLabels(ArrayRef<DimLabel> group);

/// A point on a chain of view ops: a value whose labels are known, and the
/// view ops crossed to reach it from the attention core.
struct Point {
  Value value;
  Labels labels;
  /// View (and scale) ops crossed from the core to this point.
  SmallVector<Operation *> ops;
  /// Product of the constant scales crossed (Q/K chains only).
  double scale = 1.0;
  bool inexact = false;
};

/// The result labels of a reshape given its source's (forward) or the
/// source labels given the result's (backward).
FailureOr<Labels> reshapeLabels(Operation *op, const Labels &known,
                                bool forward, bool repMinor);

/// A generic with one input and one init whose body only yields the input:
/// a transpose, a broadcast or a copy, described by its maps.
linalg::GenericOp getCopyGeneric(Operation *op);

/// The points reached from `start` by stepping backward through single-use
/// view ops (and, with `allowScale`, constant scales) as far as possible.
SmallVector<Point> walkBack(Point start, bool allowScale);

/// The points reached from `start` by stepping forward through single-use
/// view ops (the output side).
SmallVector<Point> walkForward(Point start);

/// Sizes of a 4-D Q/K/V/O tensor in logical order [B, H, S, last].
struct Shape4 {
  Layout layout;
  int64_t b, h, s, x;
  /// A rank-3 [B*H, S, last] tensor the rewrite expands to [B, H, S, last].
  bool merged = false;
  /// Stored as [.., last, S] (K given as K^T); the rewrite transposes it.
  bool swapped = false;
};

/// Classifies a point as a 4-D operand in BHSD or BSHD layout whose labels
/// are exactly {B, H, seq, last}, or (merged) a rank-3 one labelled
/// {B*H, seq, last} read as B*H batches of one head. Batch or head labels
/// that the contraction did not carry (a plain matmul) may be static unit
/// dimensions. With `allowSwap`, BHSD and merged operands may store the last
/// two dimensions swapped.
std::optional<Shape4> classify(const Point &point, Dim seq, Dim last,
                               bool allowSwap = false);

/// Labels of the dimensions of a tensor read through `map` from an
/// iteration space labelled `iterLabels`; constant-0 reads are units.
std::optional<Labels> operandLabels(AffineMap map, const Labels &iterLabels,
                                    RankedTensorType type);

/// The labels a projected-permutation `map` reads from `iter`.
Labels labelsThrough(AffineMap map, const Labels &iter);

//===----------------------------------------------------------------------===//
// Scalars and bodies (RaiseBodies.cpp)
//===----------------------------------------------------------------------===//

/// `value` as a double, whatever its semantics.
double toDouble(APFloat value);

/// A float constant: an arith.constant, or a block argument of `generic`
/// bound to a splat constant tensor.
std::optional<double> getFloatConstant(Value v, linalg::GenericOp generic);

/// Whether `init` is a tensor filled with a value accepted by `isValue`
/// (linalg.fill or a splat).
bool isFilledWith(Value init, llvm::function_ref<bool(double)> isValue);

inline bool isZero(double v) { return v == 0.0; }
inline bool isMasked(double v) { return v <= kMaskedThreshold; }

/// An all-parallel generic with one result and identity output map.
bool isElementwise(linalg::GenericOp generic);

/// The single user of `v` inside a body, or null.
Operation *soleUser(Value v);

/// A unary elementwise generic applying `Op` to its single input `x`.
template <typename Op> bool isUnaryGeneric(Operation *op, Value x) {
  auto generic = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!isElementwise(generic) || generic.getNumDpsInputs() != 1 ||
      generic.getDpsInputs()[0] != x ||
      !generic.getIndexingMapsArray()[0].isIdentity())
    return false;
  Operation *user = soleUser(generic.getBody()->getArgument(0));
  return isa_and_nonnull<Op>(user) &&
         soleUser(user->getResult(0)) == generic.getBody()->getTerminator();
}

/// Scales a Q or K operand by a constant: a generic with one input, whose
/// body is x * c, c * x or x / c with identity maps.
std::optional<double> matchOperandScale(Operation *op);

//===----------------------------------------------------------------------===//
// Masks (RaiseMasks.cpp)
//===----------------------------------------------------------------------===//

/// Evaluates integer, index and i1 scalars of linalg bodies at a query row
/// i and key row j: linalg.index of the Q and K dimensions, i1 tensors that
/// are constants or are computed from indices alone, and whatever the
/// folders make of them (IndexEvaluator). Anything else (including a
/// dependence on batch or head) makes the condition unknown.
class MaskEvaluator {
public:
  MaskEvaluator();

  /// Registers the iteration-dimension labels of a generic whose body the
  /// evaluator may enter.
  void addGeneric(linalg::GenericOp generic, const Labels &iterLabels) {
    generics[generic.getBody()] = {generic, iterLabels};
  }

  /// The value of `v` at (i, j) (sign-extended; i1 true is -1), or nullopt
  /// when it is unknown.
  std::optional<int64_t> evaluate(Value v, int64_t i, int64_t j);

  /// Generics producing i1 tensors entered while evaluating: they are part
  /// of the chain and die with it.
  llvm::SetVector<Operation *> producers;

private:
  struct GenericInfo {
    linalg::GenericOp op;
    Labels iterLabels;
  };
  /// The leaves only the raise knows: linalg.index and body arguments.
  Attribute resolve(Value v);
  Attribute tensorElement(Value tensor, AffineMap map,
                          const Labels &iterLabels);

  IndexEvaluator eval;
  DenseMap<Block *, GenericInfo> generics;
  int64_t row = 0, col = 0;
};

/// Row-major position of element (i, j) in a tensor whose dimensions are
/// labelled only Q, K or Unit.
std::optional<int64_t> maskPosition(const Labels &labels, RankedTensorType type,
                                    int64_t i, int64_t j);

/// Whether key j is kept for query i; nullopt when unknown.
using KeepFn = llvm::function_ref<std::optional<bool>(int64_t, int64_t)>;

/// Evaluates `keep` at every (i, j) of Lq x Lk scores and clears the
/// masked entries of `matrix` (row-major; all kept when empty), so that
/// several masks of one chain combine as they do in the graph.
LogicalResult evaluateKeep(int64_t lq, int64_t lk, KeepFn keep,
                           std::vector<bool> &matrix);

/// A mask attn.attention expresses by position.
struct StructuralMask {
  MaskKind kind = MaskKind::None;
  /// [left, right] for MaskKind::SlidingWindow.
  SmallVector<int64_t, 2> window;
};

/// The structural mask that keeps exactly `keep` (Lq x Lk, row-major):
/// none, causal in either alignment, or a sliding window bounded on both
/// sides, written in the op's bottom-right frame (a top-left window
/// [l, r] is [l + Lk - Lq, r - Lk + Lq] there, when both stay >= 0).
std::optional<StructuralMask> classifyMask(int64_t lq, int64_t lk,
                                           const std::vector<bool> &keep);

//===----------------------------------------------------------------------===//
// The match (RaiseMatcher.cpp, RaiseBodies.cpp, RaiseSoftmax.cpp)
//===----------------------------------------------------------------------===//

/// Everything the rewrite needs, collected before anything is changed.
struct AttentionMatch {
  Point q, k, v, out;
  Shape4 qShape, kShape, vShape, outShape;
  double scale = 1.0;
  bool inexact = false;
  int nonPowerOfTwoMultiplies = 0;
  MaskKind maskKind = MaskKind::None;
  /// [left, right] for a sliding window.
  SmallVector<int64_t, 2> window;
  /// The bias tensor and the logical labels of its dimensions.
  Value bias;
  Labels biasLabels;
  /// The graph's log(sum(exp(s))) (f32), the op computing it (replaced by
  /// the raised op's LSE) and its labels.
  Value lse;
  Labels lseLabels;
  /// Ops of the chain between the roots and the output, erased after the
  /// output is replaced.
  llvm::SetVector<Operation *> ops;
};

/// Contraction dims of a linalg op computing sum_k A * B into a zero init,
/// one dimension each of m, n and k.
FailureOr<linalg::ContractionDimensions> getContraction(linalg::LinalgOp op);

class AttentionMatcher {
public:
  explicit AttentionMatcher(linalg::LinalgOp qk) : qk(qk) {}

  LogicalResult match();
  AttentionMatch result;

  /// The op the matcher was looking at when it stopped, and why.
  struct Rejection {
    Operation *op = nullptr;
    std::string why;
  } rejection;

private:
  LogicalResult matchScoreChain(Value scores, Labels labels);
  LogicalResult matchElementwise(linalg::GenericOp generic, unsigned mainArg,
                                 const Labels &labels);
  LogicalResult applyScale(double factor, bool isDivision);
  LogicalResult applyAddend(linalg::GenericOp generic, unsigned arg,
                            const Labels &labels);
  /// ANDs a mask into the chain's keep matrix; `fill` is the (most
  /// positive) score that the mask gives masked keys.
  LogicalResult applyMask(KeepFn keep, std::pair<int64_t, int64_t> lengths,
                          double fill);
  /// Turns the chain's keep matrix into the op's mask kind and window.
  LogicalResult finishMask();
  /// Records why the candidate stopped, at `cursor`, and fails.
  LogicalResult fail(const Twine &why);
  FailureOr<Value> matchDecomposedSoftmax(Value x, const Labels &labels);
  LogicalResult matchValueProduct(linalg::LinalgOp pv, Value probs,
                                  const Labels &labels);
  LogicalResult chooseOperands(ArrayRef<Point> qs, ArrayRef<Point> ks,
                               ArrayRef<Point> vs, ArrayRef<Point> outs);
  LogicalResult choose4D(ArrayRef<Point> qs, ArrayRef<Point> ks,
                         ArrayRef<Point> vs, ArrayRef<Point> outs);
  LogicalResult chooseMerged(ArrayRef<Point> qs, ArrayRef<Point> ks,
                             ArrayRef<Point> vs, ArrayRef<Point> outs);
  /// log(rowsum) + rowmax beside the softmax: the LSE result.
  LogicalResult matchLse(Operation *sumUser, Operation *maxUser, Value sum,
                         Value max, AffineMap rowMap, const Labels &labels);

  std::optional<int64_t> keyAxis(const Labels &labels) const {
    for (auto [i, label] : llvm::enumerate(labels))
      if (isLabel(label, Dim::K))
        return i;
    return std::nullopt;
  }
  /// Static extents of the dimensions labelled Q and K in a score tensor.
  std::optional<std::pair<int64_t, int64_t>> scoreLengths(Value scores,
                                                          const Labels &labels);

  linalg::LinalgOp qk;
  SmallVector<Point> qPoints, kPoints;
  bool haveBias = false;
  /// The masks seen so far, combined (row-major over maskLengths).
  bool haveMask = false;
  std::vector<bool> keepMatrix;
  /// The op of the last mask: where a mask that fits no kind is reported.
  Operation *maskOp = nullptr;
  std::pair<int64_t, int64_t> maskLengths;
  double maskFill = -std::numeric_limits<double>::infinity();
  /// The op being matched: where a rejection is reported.
  Operation *cursor = nullptr;
};

} // namespace mlir::attn::raise

#endif // ATTN_LIB_TRANSFORMS_RAISEINTERNAL_H
