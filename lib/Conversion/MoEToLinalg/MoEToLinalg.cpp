//===- MoEToLinalg.cpp - moe steps to scf loops and linalg on tensors -----===//
//
// Routing and dispatch are short sequential scans per token; the expert FFNs are
// one pair of matmuls per expert over its own rows only, so the work grows with
// tokens x k, not tokens x experts.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "dialects/moe/IR/MoEOps.h"
#include "lib/Conversion/MatmulToVector/WeightPanels.h"
#include "lib/Conversion/MoEToLinalg/ExpertMath.h"
#include "lib/Transforms/WeightConstants.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace moe {
#define GEN_PASS_DEF_MOELOWERTOLINALG
#include "lib/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// Small builders shared by the lowerings: constants, element access and
/// loops carrying tensors.
struct Emitter {
  OpBuilder &b;
  Location loc;

  Value index(int64_t value) {
    return b.create<arith::ConstantIndexOp>(loc, value);
  }
  Value integer(Type type, int64_t value) {
    return b.create<arith::ConstantOp>(loc, type,
                                       b.getIntegerAttr(type, value));
  }
  Value real(Type type, double value) {
    return b.create<arith::ConstantOp>(loc, type, b.getFloatAttr(type, value));
  }
  Value dim(Value tensor, int64_t d) {
    return b.create<tensor::DimOp>(loc, tensor, d);
  }
  Value get(Value tensor, ValueRange indices) {
    return b.create<tensor::ExtractOp>(loc, tensor, indices);
  }
  Value set(Value value, Value tensor, ValueRange indices) {
    return b.create<tensor::InsertOp>(loc, value, tensor, indices);
  }
  Value toIndex(Value value) {
    return b.create<arith::IndexCastOp>(loc, b.getIndexType(), value);
  }
  Value fromIndex(Type type, Value value) {
    return b.create<arith::IndexCastOp>(loc, type, value);
  }
  /// A value of `type` (float) widened or narrowed to `to`.
  Value convert(Value value, Type to) {
    return ::moe::convertFloat(b, loc, value, to);
  }
  /// A tensor of `shape` (`dynamic` sizes for its dynamic dimensions) filled
  /// with `value`.
  Value filled(ArrayRef<int64_t> shape, ValueRange dynamic, Value value) {
    Value empty =
        b.create<tensor::EmptyOp>(loc, shape, value.getType(), dynamic);
    return b.create<linalg::FillOp>(loc, value, empty).getResult(0);
  }
  /// `for i in [lb, ub)` carrying `iterArgs`; `body` returns the next values.
  /// `independent` marks a loop whose iterations touch disjoint elements
  /// (`moe.independent_iterations`), which the GPU runs one per thread.
  ValueRange loop(Value lb, Value ub, ValueRange iterArgs,
                  function_ref<SmallVector<Value>(Value, ValueRange)> body,
                  bool independent = false) {
    auto forOp = b.create<scf::ForOp>(
        loc, lb, ub, index(1), iterArgs,
        [&](OpBuilder &nb, Location, Value iv, ValueRange args) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(nb.getInsertionBlock(),
                              nb.getInsertionPoint());
          SmallVector<Value> next = body(iv, args);
          b.create<scf::YieldOp>(loc, next);
        });
    if (independent)
      forOp->setAttr(::moe::kIndependentIterations, b.getUnitAttr());
    return forOp.getResults();
  }
  /// `then` when `cond` holds, else `values` unchanged.
  ValueRange when(Value cond, ValueRange values,
                  function_ref<SmallVector<Value>()> then) {
    auto ifOp = b.create<scf::IfOp>(
        loc, cond,
        [&](OpBuilder &nb, Location) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(nb.getInsertionBlock(),
                              nb.getInsertionPoint());
          b.create<scf::YieldOp>(loc, then());
        },
        [&](OpBuilder &nb, Location) {
          nb.create<scf::YieldOp>(loc, values);
        });
    return ifOp.getResults();
  }
  Value sigmoid(Value x) {
    Value one = real(x.getType(), 1.0);
    Value e = b.create<math::ExpOp>(loc, b.create<arith::NegFOp>(loc, x));
    return b.create<arith::DivFOp>(loc, one, b.create<arith::AddFOp>(loc, one, e));
  }
  Value isNaN(Value x) {
    return b.create<arith::CmpFOp>(loc, arith::CmpFPredicate::UNO, x, x);
  }
};

/// Routing is computed in f32 for narrower logits.
Type computeType(Type element) {
  return element.getIntOrFloatBitWidth() < 32
             ? Float32Type::get(element.getContext())
             : element;
}

//===----------------------------------------------------------------------===//
// moe.route
//===----------------------------------------------------------------------===//

/// Per token: scores, optional grouped pre-selection, k passes of arg-max
/// (chosen experts are marked NaN, ties go to the lower id), then the weights.
/// A second pass in token order drops assignments over capacity.
struct LowerRoute : OpRewritePattern<RouteOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RouteOp op,
                                PatternRewriter &rewriter) const override {
    Emitter e{rewriter, op.getLoc()};
    RoutingAttr routing = op.getRouting();
    Value logits = op.getLogits(), bias = op.getBias();
    auto logitsType = cast<RankedTensorType>(logits.getType());
    int64_t columns = logitsType.getDimSize(1);
    if (ShapedType::isDynamic(columns))
      return rewriter.notifyMatchFailure(op, "dynamic expert count");
    Type element = logitsType.getElementType();
    Type ct = computeType(element);
    Type idType = cast<ShapedType>(op.getIds().getType()).getElementType();
    int64_t k = routing.getK();
    RoutingKind kind = routing.getKind();

    SmallVector<Value> dynamicTokens;
    if (logitsType.isDynamicDim(0))
      dynamicTokens.push_back(e.dim(logits, 0));
    Value tokens = e.dim(logits, 0);
    Value weights = rewriter.create<tensor::EmptyOp>(
        e.loc, ArrayRef<int64_t>{logitsType.getDimSize(0), k}, element,
        dynamicTokens);
    Value ids = rewriter.create<tensor::EmptyOp>(
        e.loc, ArrayRef<int64_t>{logitsType.getDimSize(0), k}, idType,
        dynamicTokens);
    // Each token has its own scratch row, so tokens are independent.
    Value scratch = rewriter.create<tensor::EmptyOp>(
        e.loc, ArrayRef<int64_t>{logitsType.getDimSize(0), columns}, ct,
        dynamicTokens);
    int64_t groups = routing.getNumGroups();
    Value groupScratch = rewriter.create<tensor::EmptyOp>(
        e.loc, ArrayRef<int64_t>{logitsType.getDimSize(0), groups}, ct,
        dynamicTokens);
    Value c0 = e.index(0), cols = e.index(columns);
    Value negInf = e.real(ct, -INFINITY);
    Value nan = e.real(ct, NAN), zero = e.real(ct, 0.0);

    ValueRange perToken = e.loop(
        c0, tokens, {weights, ids, scratch, groupScratch},
        [&](Value t, ValueRange args) -> SmallVector<Value> {
          Value w = args[0], id = args[1], s = args[2], g = args[3];
          auto logit = [&](Value c) {
            return e.convert(e.get(logits, {t, c}), ct);
          };
          // Softmax statistics over all columns.
          Value max, sum;
          if (kind == RoutingKind::SoftmaxTopK) {
            max = e.loop(c0, cols, {negInf},
                         [&](Value c, ValueRange a) -> SmallVector<Value> {
                           return {rewriter.create<arith::MaximumFOp>(
                               e.loc, a[0], logit(c))};
                         })[0];
            sum = e.loop(c0, cols, {zero},
                         [&](Value c, ValueRange a) -> SmallVector<Value> {
                           Value x = rewriter.create<math::ExpOp>(
                               e.loc, rewriter.create<arith::SubFOp>(
                                          e.loc, logit(c), max));
                           return {rewriter.create<arith::AddFOp>(e.loc, a[0],
                                                                  x)};
                         })[0];
          }
          // The score that becomes the weight of a chosen column.
          auto score = [&](Value c) -> Value {
            Value l = logit(c);
            switch (kind) {
            case RoutingKind::SoftmaxTopK:
              return rewriter.create<arith::DivFOp>(
                  e.loc,
                  rewriter.create<math::ExpOp>(
                      e.loc, rewriter.create<arith::SubFOp>(e.loc, l, max)),
                  sum);
            case RoutingKind::TopKSoftmax:
            case RoutingKind::SparseMixer:
              return l;
            case RoutingKind::SigmoidTopK:
              return e.sigmoid(l);
            }
            llvm_unreachable("routing kind");
          };
          // Selection scores: the score plus the correction bias.
          s = e.loop(c0, cols, {s},
                     [&](Value c, ValueRange a) -> SmallVector<Value> {
                       Value v = score(c);
                       if (bias)
                         v = rewriter.create<arith::AddFOp>(
                             e.loc, v, e.convert(e.get(bias, {c}), ct));
                       return {e.set(v, a[0], {t, c})};
                     })[0];
          if (groups > 1)
            s = keepBestGroups(e, routing, s, g, t, columns);
          // k passes of arg-max.
          for (int64_t j = 0; j < k; ++j) {
            ValueRange best = e.loop(
                c0, cols, {negInf, e.index(-1)},
                [&](Value c, ValueRange a) -> SmallVector<Value> {
                  Value v = e.get(s, {t, c});
                  Value none = rewriter.create<arith::CmpIOp>(
                      e.loc, arith::CmpIPredicate::slt, a[1], c0);
                  Value better = rewriter.create<arith::CmpFOp>(
                      e.loc, arith::CmpFPredicate::OGT, v, a[0]);
                  Value take = rewriter.create<arith::AndIOp>(
                      e.loc,
                      rewriter.create<arith::XOrIOp>(
                          e.loc, e.isNaN(v),
                          rewriter.create<arith::ConstantIntOp>(e.loc, 1, 1)),
                      rewriter.create<arith::OrIOp>(e.loc, none, better));
                  return {rewriter.create<arith::SelectOp>(e.loc, take, v, a[0]),
                          rewriter.create<arith::SelectOp>(e.loc, take, c,
                                                           a[1])};
                });
            Value chosen = best[1];
            Value cj = e.index(j);
            Value weight = kind == RoutingKind::SparseMixer
                               ? sparseMixerWeight(e, routing, s, t, best[0],
                                                   logit)
                               : score(chosen);
            s = e.set(nan, s, {t, chosen});
            w = e.set(e.convert(weight, element), w, {t, cj});
            id = e.set(e.fromIndex(idType, chosen), id, {t, cj});
          }
          w = finishWeights(e, routing, w, t, element, ct);
          return {w, id, s, g};
        },
        /*independent=*/true);
    Value resultWeights = perToken[0], resultIds = perToken[1];
    if (!routing.getCapacityFactor().isZero())
      std::tie(resultWeights, resultIds) =
          dropOverCapacity(e, routing, resultWeights, resultIds, columns);
    rewriter.replaceOp(op, {resultWeights, resultIds});
    return success();
  }

  /// The sparse mixer's weight of the expert just chosen, whose logit is `m`:
  /// the softmax at it over the experts not chosen before (selection score
  /// not NaN) whose logit l has `m - l <= 2 jitter_eps max(|l|, m)`, which is
  /// `1 / sum exp(l - m)` over them.
  static Value sparseMixerWeight(Emitter &e, RoutingAttr routing, Value s,
                                 Value t, Value m,
                                 function_ref<Value(Value)> logit) {
    OpBuilder &b = e.b;
    Type ct = m.getType();
    Value zero = e.real(ct, 0.0);
    Value width =
        e.real(ct, 2.0 * routing.getJitterEps().convertToDouble());
    Value yes = b.create<arith::ConstantIntOp>(e.loc, 1, 1);
    Value sum = e.loop(
        e.index(0), e.dim(s, 1), {zero},
        [&](Value c, ValueRange a) -> SmallVector<Value> {
          Value l = logit(c);
          Value open = b.create<arith::XOrIOp>(e.loc, e.isNaN(e.get(s, {t, c})),
                                               yes);
          Value factor = b.create<arith::MaximumFOp>(
              e.loc, b.create<math::AbsFOp>(e.loc, l), m);
          Value far = b.create<arith::CmpFOp>(
              e.loc, arith::CmpFPredicate::OGT,
              b.create<arith::SubFOp>(e.loc, m, l),
              b.create<arith::MulFOp>(e.loc, width, factor));
          Value keep = b.create<arith::AndIOp>(
              e.loc, open, b.create<arith::XOrIOp>(e.loc, far, yes));
          Value term = b.create<arith::SelectOp>(
              e.loc, keep,
              b.create<math::ExpOp>(e.loc, b.create<arith::SubFOp>(e.loc, l, m)),
              zero);
          return {b.create<arith::AddFOp>(e.loc, a[0], term)};
        })[0];
    return b.create<arith::DivFOp>(e.loc, e.real(ct, 1.0), sum);
  }

  /// Masks (to -inf) the selection scores of every expert outside the best
  /// `topk_groups` groups; a group scores its best expert, or its best two
  /// summed with sigmoid routing (DeepSeek-V3).
  /// `g` is the token's group scratch, updated in place.
  static Value keepBestGroups(Emitter &e, RoutingAttr routing, Value s,
                              Value &g, Value t, int64_t columns) {
    OpBuilder &b = e.b;
    int64_t groups = routing.getNumGroups();
    int64_t size = columns / groups;
    Type ct = cast<ShapedType>(s.getType()).getElementType();
    Value c0 = e.index(0), negInf = e.real(ct, -INFINITY),
          posInf = e.real(ct, INFINITY);
    bool topTwo = routing.getKind() == RoutingKind::SigmoidTopK;
    g = e.loop(c0, e.index(groups), {g},
               [&](Value gi, ValueRange a) -> SmallVector<Value> {
                 Value first = b.create<arith::MulIOp>(e.loc, gi, e.index(size));
                 ValueRange top = e.loop(
                     first,
                     b.create<arith::AddIOp>(e.loc, first, e.index(size)),
                     {negInf, negInf},
                     [&](Value c, ValueRange m) -> SmallVector<Value> {
                       Value v = e.get(s, {t, c});
                       Value above = b.create<arith::CmpFOp>(
                           e.loc, arith::CmpFPredicate::OGT, v, m[0]);
                       Value second = b.create<arith::SelectOp>(
                           e.loc, above, m[0],
                           b.create<arith::MaximumFOp>(e.loc, m[1], v));
                       return {b.create<arith::MaximumFOp>(e.loc, m[0], v),
                               second};
                     });
                 Value groupScore =
                     topTwo ? b.create<arith::AddFOp>(e.loc, top[0], top[1])
                            : top[0];
                 return {e.set(groupScore, a[0], {t, gi})};
               })[0];
    // The best groups become +inf (chosen); ties go to the lower group.
    for (int64_t i = 0; i < routing.getTopkGroups(); ++i) {
      ValueRange best = e.loop(
          c0, e.index(groups), {negInf, e.index(-1)},
          [&](Value gi, ValueRange a) -> SmallVector<Value> {
            Value v = e.get(g, {t, gi});
            Value open = b.create<arith::CmpFOp>(e.loc, arith::CmpFPredicate::ONE,
                                                 v, posInf);
            Value none = b.create<arith::CmpIOp>(
                e.loc, arith::CmpIPredicate::slt, a[1], c0);
            Value better = b.create<arith::CmpFOp>(
                e.loc, arith::CmpFPredicate::OGT, v, a[0]);
            Value take = b.create<arith::AndIOp>(
                e.loc, open, b.create<arith::OrIOp>(e.loc, none, better));
            return {b.create<arith::SelectOp>(e.loc, take, v, a[0]),
                    b.create<arith::SelectOp>(e.loc, take, gi, a[1])};
          });
      g = e.set(posInf, g, {t, best[1]});
    }
    return e.loop(c0, e.index(columns), {s},
                  [&](Value c, ValueRange a) -> SmallVector<Value> {
                    Value gi = b.create<arith::DivUIOp>(e.loc, c, e.index(size));
                    Value kept = b.create<arith::CmpFOp>(
                        e.loc, arith::CmpFPredicate::OEQ, e.get(g, {t, gi}),
                        posInf);
                    Value v = b.create<arith::SelectOp>(e.loc, kept,
                                                        e.get(a[0], {t, c}),
                                                        negInf);
                    return {e.set(v, a[0], {t, c})};
                  })[0];
  }

  /// Softmax over the chosen logits (topk_softmax), renormalisation and scale
  /// of row `t`'s weights.
  static Value finishWeights(Emitter &e, RoutingAttr routing, Value w, Value t,
                             Type element, Type ct) {
    OpBuilder &b = e.b;
    int64_t k = routing.getK();
    auto read = [&](int64_t j) {
      return e.convert(e.get(w, {t, e.index(j)}), ct);
    };
    SmallVector<Value> values;
    for (int64_t j = 0; j < k; ++j)
      values.push_back(read(j));
    bool changed = ::moe::finishRoutingWeights(b, e.loc, routing, values);
    if (!changed)
      return w;
    for (int64_t j = 0; j < k; ++j)
      w = e.set(e.convert(values[j], element), w, {t, e.index(j)});
    return w;
  }

  /// Assignments beyond `ceil(capacity_factor * T * k / E)` per expert, in
  /// token order, get id -1 and weight 0.
  static std::pair<Value, Value> dropOverCapacity(Emitter &e,
                                                  RoutingAttr routing, Value w,
                                                  Value ids, int64_t columns) {
    OpBuilder &b = e.b;
    Type idType = cast<ShapedType>(ids.getType()).getElementType();
    Type element = cast<ShapedType>(w.getType()).getElementType();
    int64_t k = routing.getK();
    Value tokens = e.dim(ids, 0);
    Type f64 = b.getF64Type();
    Value assignments = b.create<arith::MulIOp>(e.loc, tokens, e.index(k));
    Value total = b.create<arith::UIToFPOp>(
        e.loc, f64, e.fromIndex(b.getI64Type(), assignments));
    Value capacityF = b.create<math::CeilOp>(
        e.loc, b.create<arith::MulFOp>(
                   e.loc, total,
                   e.real(f64, routing.getCapacityFactor().convertToDouble() /
                                   static_cast<double>(columns))));
    Value capacity = b.create<arith::FPToSIOp>(e.loc, idType, capacityF);
    Value counts = e.filled({columns}, {}, e.integer(idType, 0));
    Value c0 = e.index(0);
    ValueRange out = e.loop(
        c0, assignments, {w, ids, counts},
        [&](Value a, ValueRange args) -> SmallVector<Value> {
          Value t = b.create<arith::DivUIOp>(e.loc, a, e.index(k));
          Value j = b.create<arith::RemUIOp>(e.loc, a, e.index(k));
          Value id = e.get(args[1], {t, j});
          Value valid = b.create<arith::CmpIOp>(e.loc, arith::CmpIPredicate::sge,
                                                id, e.integer(idType, 0));
          return llvm::to_vector(e.when(valid, args, [&]() -> SmallVector<Value> {
            Value expert = e.toIndex(id);
            Value count = e.get(args[2], {expert});
            Value full = b.create<arith::CmpIOp>(
                e.loc, arith::CmpIPredicate::sge, count, capacity);
            Value newId = b.create<arith::SelectOp>(
                e.loc, full, e.integer(idType, -1), id);
            Value weight = b.create<arith::SelectOp>(
                e.loc, full, e.real(element, 0.0), e.get(args[0], {t, j}));
            Value newCount = b.create<arith::SelectOp>(
                e.loc, full, count,
                b.create<arith::AddIOp>(e.loc, count, e.integer(idType, 1)));
            return {e.set(weight, args[0], {t, j}),
                    e.set(newId, args[1], {t, j}),
                    e.set(newCount, args[2], {expert})};
          }));
        });
    return {out[0], out[1]};
  }
};

//===----------------------------------------------------------------------===//
// moe.dispatch
//===----------------------------------------------------------------------===//

/// A histogram of the ids, its exclusive prefix sum, then one stable pass that
/// gives every assignment its row; the rows are gathered last.
struct LowerDispatch : OpRewritePattern<DispatchOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(DispatchOp op,
                                PatternRewriter &rewriter) const override {
    Emitter e{rewriter, op.getLoc()};
    OpBuilder &b = rewriter;
    Value tokens = op.getTokens(), ids = op.getIds();
    auto offsetsType = cast<RankedTensorType>(op.getOffsets().getType());
    auto permType = cast<RankedTensorType>(op.getPermutation().getType());
    auto rowsType = cast<RankedTensorType>(op.getRows().getType());
    Type idType = cast<ShapedType>(ids.getType()).getElementType();
    Type offType = offsetsType.getElementType();
    Type permElement = permType.getElementType();
    int64_t experts = offsetsType.getDimSize(0) - 1;
    if (ShapedType::isDynamic(offsetsType.getDimSize(0)))
      return rewriter.notifyMatchFailure(op, "dynamic expert count");
    int64_t k = cast<ShapedType>(ids.getType()).getDimSize(1);
    Value c0 = e.index(0), ck = e.index(k);
    Value assignments = b.create<arith::MulIOp>(e.loc, e.dim(ids, 0), ck);
    auto expertOf = [&](Value a, Value idsTensor) {
      Value t = b.create<arith::DivUIOp>(e.loc, a, ck);
      Value j = b.create<arith::RemUIOp>(e.loc, a, ck);
      return e.get(idsTensor, {t, j});
    };
    auto routed = [&](Value id) {
      return b.create<arith::AndIOp>(
          e.loc,
          b.create<arith::CmpIOp>(e.loc, arith::CmpIPredicate::sge, id,
                                  e.integer(idType, 0)),
          b.create<arith::CmpIOp>(e.loc, arith::CmpIPredicate::slt, id,
                                  e.integer(idType, experts)));
    };
    // The slot of an assignment: its expert, or E for the others (dropped,
    // or a zero-computation expert), which follow offsets[E].
    Value last = e.integer(idType, experts);
    auto slotOf = [&](Value a) -> Value {
      Value id = expertOf(a, ids);
      return b.create<arith::SelectOp>(e.loc, routed(id), id, last);
    };
    // counts[x]: each slot scans the assignments for its own, so slots are
    // independent (one GPU thread each; the scans read the ids in step).
    Value slots = e.index(experts + 1);
    Value counts = b.create<tensor::EmptyOp>(
        e.loc, ArrayRef<int64_t>{experts + 1}, offType);
    counts = e.loop(
        c0, slots, {counts},
        [&](Value x, ValueRange args) -> SmallVector<Value> {
          Value mine = e.fromIndex(idType, x);
          Value n = e.loop(c0, assignments, {e.integer(offType, 0)},
                           [&](Value a, ValueRange count) -> SmallVector<Value> {
                             Value match = b.create<arith::CmpIOp>(
                                 e.loc, arith::CmpIPredicate::eq, slotOf(a), mine);
                             Value one = b.create<arith::ExtUIOp>(e.loc, offType, match);
                             return {b.create<arith::AddIOp>(e.loc, count[0], one)};
                           })[0];
          return {e.set(n, args[0], {x})};
        },
        /*independent=*/true)[0];
    // offsets = exclusive prefix sum of the experts' counts.
    Value offsets = b.create<tensor::EmptyOp>(
        e.loc, offsetsType.getShape(), offType);
    offsets = e.set(e.integer(offType, 0), offsets, {c0});
    offsets = e.loop(c0, e.index(experts), {offsets},
                     [&](Value x, ValueRange args) -> SmallVector<Value> {
                       Value next = b.create<arith::AddIOp>(e.loc, x, e.index(1));
                       Value v = b.create<arith::AddIOp>(
                           e.loc, e.get(args[0], {x}), e.get(counts, {x}));
                       return {e.set(v, args[0], {next})};
                     })[0];
    // Each slot places its assignments, in order, from its offset: a stable
    // placement, independent across slots.
    SmallVector<Value> dynamicRows;
    if (permType.isDynamicDim(0))
      dynamicRows.push_back(assignments);
    Value perm = b.create<tensor::EmptyOp>(e.loc, permType.getShape(),
                                           permElement, dynamicRows);
    perm = e.loop(
        c0, slots, {perm},
        [&](Value x, ValueRange args) -> SmallVector<Value> {
          Value mine = e.fromIndex(idType, x);
          Value start = e.get(offsets, {x});
          return {e.loop(c0, assignments, {args[0], start},
                         [&](Value a, ValueRange state) -> SmallVector<Value> {
                           Value match = b.create<arith::CmpIOp>(
                               e.loc, arith::CmpIPredicate::eq, slotOf(a), mine);
                           return llvm::to_vector(e.when(
                               match, state, [&]() -> SmallVector<Value> {
                                 Value row = state[1];
                                 return {e.set(e.fromIndex(permElement, a),
                                               state[0], {e.toIndex(row)}),
                                         b.create<arith::AddIOp>(
                                             e.loc, row, e.integer(offType, 1))};
                               }));
                         })[0]};
        },
        /*independent=*/true)[0];
    // rows[r] = tokens[perm[r] / k] (times weights[perm[r] / k, perm[r] % k]
    // when the weights scale the inputs).
    MLIRContext *ctx = b.getContext();
    Value weights = op.getWeights();
    Value rowsInit = b.create<tensor::EmptyOp>(
        e.loc, rowsType.getShape(), rowsType.getElementType(), dynamicRows);
    AffineMap rowOnly = AffineMap::get(2, 0, getAffineDimExpr(0, ctx), ctx);
    Value rows =
        b.create<linalg::GenericOp>(
             e.loc, rowsType, ValueRange{perm}, ValueRange{rowsInit},
             ArrayRef<AffineMap>{rowOnly,
                                 AffineMap::getMultiDimIdentityMap(2, ctx)},
             ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                           utils::IteratorType::parallel},
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               Value a = nb.create<arith::IndexCastOp>(nl, nb.getIndexType(),
                                                       args[0]);
               Value t = nb.create<arith::DivUIOp>(
                   nl, a, nb.create<arith::ConstantIndexOp>(nl, k));
               Value h = nb.create<linalg::IndexOp>(nl, 1);
               Value v = nb.create<tensor::ExtractOp>(nl, tokens,
                                                      ValueRange{t, h});
               if (weights) {
                 Value j = nb.create<arith::RemUIOp>(
                     nl, a, nb.create<arith::ConstantIndexOp>(nl, k));
                 v = nb.create<arith::MulFOp>(
                     nl,
                     nb.create<tensor::ExtractOp>(nl, weights,
                                                  ValueRange{t, j}),
                     v);
               }
               nb.create<linalg::YieldOp>(nl, ValueRange{v});
             })
            .getResult(0);
    rewriter.replaceOp(op, {rows, offsets, perm});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// moe.experts
//===----------------------------------------------------------------------===//

/// One loop over experts; each takes its rows as a slice and runs
/// `rows x gate_up[e]^T`, the activation, and `x down[e]^T` on them. With
/// `grouped`, the experts run side by side from kSideBySideRows assignments
/// on, and each projection is grouped over column blocks below.
struct LowerExperts : OpRewritePattern<ExpertsOp> {
  LowerExperts(MLIRContext *ctx, int64_t panelWidth, bool bf16Weights,
               bool grouped)
      : OpRewritePattern(ctx), panelWidth(panelWidth), bf16Weights(bf16Weights),
        grouped(grouped) {}

  /// Output columns per weight panel (0: weights as they are), whether
  /// panels hold bf16, and whether the experts run in parallel loops (side
  /// by side, or each projection grouped over column blocks).
  int64_t panelWidth;
  bool bf16Weights, grouped;

  /// Assignments (tokens x k) from which experts run side by side.
  static constexpr int64_t kSideBySideRows = 16;

  /// Bytes of one expert's weight per column block of a grouped projection.
  static constexpr int64_t kGroupedBlockBytes = 256 * 1024;

  /// The expert weights of a projection: the bank `[E, N, K]`, or its panels
  /// `[E, N / W, K, W]` when packed.
  struct Bank {
    Value weights, panels;
  };

  LogicalResult matchAndRewrite(ExpertsOp op,
                                PatternRewriter &rewriter) const override {
    Emitter e{rewriter, op.getLoc()};
    OpBuilder &b = rewriter;
    Value rows = op.getRows(), offsets = op.getOffsets();
    auto rowsType = cast<RankedTensorType>(rows.getType());
    auto gateUpType = cast<RankedTensorType>(op.getGateUp().getType());
    int64_t experts = gateUpType.getDimSize(0);
    int64_t hidden = rowsType.getDimSize(1);
    if (ShapedType::isDynamic(experts) || ShapedType::isDynamic(hidden) ||
        !gateUpType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic expert weights");
    Type element = rowsType.getElementType();
    SmallVector<Value> dynamicRows;
    if (rowsType.isDynamicDim(0))
      dynamicRows.push_back(e.dim(rows, 0));
    Value zero = e.real(element, 0.0);
    Value out = e.filled(rowsType.getShape(), dynamicRows, zero);
    Bank gateUp = bankOf(e, op.getGateUp()), up = bankOf(e, op.getUp()),
         down = bankOf(e, op.getDown());
    // Expert `x`'s rows through its FFN: the rows' place and the result.
    auto ffn = [&](Value x) -> std::tuple<Value, Value, Value> {
      Value lo = e.toIndex(e.get(offsets, {x}));
      Value hi = e.toIndex(
          e.get(offsets, {b.create<arith::AddIOp>(e.loc, x, e.index(1))}));
      Value n = b.create<arith::SubIOp>(e.loc, hi, lo);
      Value mine = slice2d(e, rows, lo, n, hidden);
      return {lo, n, expertFFN(e, op, x, mine, n, gateUp, up, down)};
    };
    auto place = [&](Value lo, Value n) {
      SmallVector<OpFoldResult> offs{lo, b.getIndexAttr(0)};
      SmallVector<OpFoldResult> sizes{n, b.getIndexAttr(hidden)};
      return std::make_pair(offs, sizes);
    };
    SmallVector<OpFoldResult> strides(2, b.getIndexAttr(1));
    auto inTurn = [&]() -> SmallVector<Value> {
      return e.loop(e.index(0), e.index(experts), {out},
                    [&](Value x, ValueRange args) -> SmallVector<Value> {
                      auto [lo, n, y] = ffn(x);
                      auto [offs, sizes] = place(lo, n);
                      return {b.create<tensor::InsertSliceOp>(
                          e.loc, y, args[0], offs, sizes, strides)};
                    });
    };
    if (!grouped) {
      rewriter.replaceOp(op, inTurn());
      return success();
    }
    // From kSideBySideRows assignments on, experts run side by side: each
    // expert's whole FFN in one iteration of a parallel loop (its kernels
    // serial), its rows and intermediates staying in cache from one
    // projection to the next. Below (decode), too few experts have rows to
    // share out: each projection is grouped over column blocks instead.
    Value count = e.dim(rows, 0);
    Value wide = b.create<arith::CmpIOp>(e.loc, arith::CmpIPredicate::uge,
                                         count, e.index(kSideBySideRows));
    auto branch = b.create<scf::IfOp>(
        e.loc, wide,
        [&](OpBuilder &nb, Location nl) {
          OpBuilder::InsertionGuard guard(b);
          auto forall = b.create<scf::ForallOp>(
              nl, ArrayRef<OpFoldResult>{b.getIndexAttr(experts)},
              ValueRange{out}, std::nullopt);
          b.setInsertionPointToStart(forall.getBody());
          auto [lo, n, y] = ffn(forall.getInductionVars()[0]);
          auto [offs, sizes] = place(lo, n);
          b.setInsertionPointToStart(forall.getTerminator().getBody());
          b.create<tensor::ParallelInsertSliceOp>(
              nl, y, forall.getRegionIterArgs()[0], offs, sizes, strides);
          b.setInsertionPointAfter(forall);
          b.create<scf::YieldOp>(nl, forall.getResults());
        },
        [&](OpBuilder &nb, Location nl) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
          b.create<scf::YieldOp>(nl,
                                 groupedFFN(e, op, gateUp, up, down, experts));
        });
    rewriter.replaceOp(op, branch.getResults());
    return success();
  }

  /// Output columns per block of a grouped projection: about
  /// kGroupedBlockBytes of one expert's weight, a multiple of the panel width
  /// that divides `columns` (all of them when none does).
  int64_t blockColumns(int64_t columns, int64_t depth, int64_t bytes) const {
    int64_t unit = panelWidth > 0 && columns % panelWidth == 0 ? panelWidth : 1;
    int64_t want = std::max<int64_t>(
        unit,
        kGroupedBlockBytes / std::max<int64_t>(1, depth * bytes) / unit * unit);
    for (int64_t width = std::min(want, columns); width >= unit; width -= unit)
      if (columns % width == 0)
        return width;
    return columns;
  }

  /// Every expert's rows `[lo_x, hi_x)` of `input [R, K]` times its weight,
  /// `[R, N]` into `init`: one `scf.forall` over blocks of output columns,
  /// each iteration running every expert's rows against that block of its
  /// weight (and bias). The blocks are alike in work however the tokens were
  /// routed, and a layer forks threads once per projection.
  Value groupedProject(Emitter &e, Value input, Value offsets, Bank bank,
                       Value bias, int64_t experts, Value init) const {
    OpBuilder &b = e.b;
    auto type = cast<RankedTensorType>(bank.weights.getType());
    int64_t columns = type.getDimSize(1), depth = type.getDimSize(2);
    Type stored =
        bank.panels
            ? cast<RankedTensorType>(bank.panels.getType()).getElementType()
            : type.getElementType();
    int64_t width =
        blockColumns(columns, depth, stored.getIntOrFloatBitWidth() / 8);
    Type element = type.getElementType();
    Value count = e.dim(input, 0);
    SmallVector<OpFoldResult> unit(2, b.getIndexAttr(1));
    auto forall = b.create<scf::ForallOp>(
        e.loc, ArrayRef<OpFoldResult>{b.getIndexAttr(columns / width)},
        ValueRange{init}, std::nullopt);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forall.getBody());
    Value col = b.create<arith::MulIOp>(e.loc, forall.getInductionVars()[0],
                                        e.index(width));
    auto tileType =
        RankedTensorType::get({ShapedType::kDynamic, width}, element);
    Value tile = b.create<tensor::ExtractSliceOp>(
        e.loc, tileType, forall.getRegionIterArgs()[0],
        ArrayRef<OpFoldResult>{b.getIndexAttr(0), col},
        ArrayRef<OpFoldResult>{count, b.getIndexAttr(width)}, unit);
    Value done = e.loop(
        e.index(0), e.index(experts), {tile},
        [&](Value x, ValueRange args) -> SmallVector<Value> {
          Value lo = e.toIndex(e.get(offsets, {x}));
          Value hi = e.toIndex(
              e.get(offsets, {b.create<arith::AddIOp>(e.loc, x, e.index(1))}));
          Value n = b.create<arith::SubIOp>(e.loc, hi, lo);
          Value rows = slice2d(e, input, lo, n, depth);
          SmallVector<OpFoldResult> at{lo, b.getIndexAttr(0)};
          SmallVector<OpFoldResult> size{n, b.getIndexAttr(width)};
          Value acc = b.create<linalg::FillOp>(
                           e.loc, e.real(element, 0.0),
                           Value(b.create<tensor::ExtractSliceOp>(
                               e.loc, tileType, args[0], at, size, unit)))
                          .getResult(0);
          Value product;
          if (bank.panels) {
            auto panelsType = cast<RankedTensorType>(bank.panels.getType());
            int64_t lanes = panelsType.getDimSize(3);
            Value first = b.create<arith::DivUIOp>(e.loc, col, e.index(lanes));
            Value mine = b.create<tensor::ExtractSliceOp>(
                e.loc,
                RankedTensorType::get({width / lanes, depth, lanes},
                                      panelsType.getElementType()),
                bank.panels,
                ArrayRef<OpFoldResult>{x, first, b.getIndexAttr(0),
                                       b.getIndexAttr(0)},
                ArrayRef<OpFoldResult>{
                    b.getIndexAttr(1), b.getIndexAttr(width / lanes),
                    b.getIndexAttr(depth), b.getIndexAttr(lanes)},
                SmallVector<OpFoldResult>(4, b.getIndexAttr(1)));
            product = panelMatmul(e, rows, mine, acc);
          } else {
            Value mine = b.create<tensor::ExtractSliceOp>(
                e.loc, RankedTensorType::get({width, depth}, element),
                bank.weights, ArrayRef<OpFoldResult>{x, col, b.getIndexAttr(0)},
                ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(width),
                                       b.getIndexAttr(depth)},
                SmallVector<OpFoldResult>(3, b.getIndexAttr(1)));
            product = b.create<linalg::MatmulTransposeBOp>(
                           e.loc, acc.getType(), ValueRange{rows, mine},
                           ValueRange{acc})
                          .getResult(0);
          }
          if (bias) {
            Value row = b.create<tensor::ExtractSliceOp>(
                e.loc, RankedTensorType::get({width}, element), bias,
                ArrayRef<OpFoldResult>{x, col},
                ArrayRef<OpFoldResult>{b.getIndexAttr(1),
                                       b.getIndexAttr(width)},
                unit);
            product = addBias(e, product, row);
          }
          return {b.create<tensor::InsertSliceOp>(e.loc, product, args[0], at,
                                                  size, unit)};
        })[0];
    b.setInsertionPointToStart(forall.getTerminator().getBody());
    b.create<tensor::ParallelInsertSliceOp>(
        e.loc, done, forall.getRegionIterArgs()[0],
        ArrayRef<OpFoldResult>{b.getIndexAttr(0), col},
        ArrayRef<OpFoldResult>{count, b.getIndexAttr(width)}, unit);
    return forall.getResult(0);
  }

  /// The layer's experts as grouped projections over all rows: the first
  /// projection(s), the activation of every row, then the down projection
  /// into zeros (rows routed to no expert stay zero).
  Value groupedFFN(Emitter &e, ExpertsOp op, Bank gateUp, Bank up, Bank down,
                   int64_t experts) const {
    OpBuilder &b = e.b;
    Value rows = op.getRows(), offsets = op.getOffsets();
    ActivationAttr act = op.getActivation();
    auto rowsType = cast<RankedTensorType>(rows.getType());
    Type element = rowsType.getElementType();
    int64_t inter = cast<ShapedType>(op.getDown().getType()).getDimSize(2);
    Value count = e.dim(rows, 0);
    auto empty = [&](Value bank) -> Value {
      int64_t columns = cast<ShapedType>(bank.getType()).getDimSize(1);
      return b.create<tensor::EmptyOp>(
          e.loc, ArrayRef<int64_t>{ShapedType::kDynamic, columns}, element,
          ValueRange{count});
    };
    Value first = groupedProject(e, rows, offsets, gateUp, op.getGateUpBias(),
                                 experts, empty(op.getGateUp()));
    Value second;
    if (act.getGated() == GateLayout::Separate)
      second = groupedProject(e, rows, offsets, up, op.getUpBias(), experts,
                              empty(op.getUp()));
    Value hidden = applyActivation(e, act, first, second, count, inter);
    SmallVector<Value> dynamicRows;
    if (rowsType.isDynamicDim(0))
      dynamicRows.push_back(count);
    Value zeros =
        e.filled(rowsType.getShape(), dynamicRows, e.real(element, 0.0));
    return groupedProject(e, hidden, offsets, down, op.getDownBias(), experts,
                          zeros);
  }

  /// Rows `[lo, lo + n)` of a `[R, width]` tensor, with `step`/`start`
  /// selecting every `step`-th column from `start`.
  static Value slice2d(Emitter &e, Value tensor, Value lo, Value n,
                       int64_t width, int64_t start = 0, int64_t step = 1) {
    OpBuilder &b = e.b;
    Type element = cast<ShapedType>(tensor.getType()).getElementType();
    SmallVector<OpFoldResult> offs{lo, b.getIndexAttr(start)};
    SmallVector<OpFoldResult> sizes{n, b.getIndexAttr(width)};
    SmallVector<OpFoldResult> strides{b.getIndexAttr(1), b.getIndexAttr(step)};
    return b.create<tensor::ExtractSliceOp>(
        e.loc, RankedTensorType::get({ShapedType::kDynamic, width}, element),
        tensor, offs, sizes, strides);
  }

  /// `bank`, and its panels when it is a constant f32 weight whose output
  /// size is a multiple of the panel width: panel `p` holds output columns
  /// `p * W .. p * W + W - 1`, the `W` values of each `k` contiguous, so a
  /// kernel loads one vector of columns per `k` and broadcasts the row's
  /// element against it (the B panels of a broadcast-FMA GEMM, packed once
  /// here instead of on every call).
  Bank bankOf(Emitter &e, Value bank) const {
    if (!bank || panelWidth <= 0)
      return {bank, Value()};
    auto type = cast<RankedTensorType>(bank.getType());
    std::vector<char> storage;
    std::optional<ArrayRef<char>> bytes = ::moe::constantBytesOf(bank, storage);
    if (!bytes || !type.getElementType().isF32() ||
        type.getDimSize(1) % panelWidth != 0)
      return {bank, Value()};
    return {bank, ::moe::packWeightPanels(
                      e.b, e.loc, *bytes, type.getDimSize(0),
                      type.getDimSize(1), type.getDimSize(2),
                      /*depthMajor=*/false, panelWidth, bf16Weights)};
  }

  /// Expert `x`'s slice of a `[E, ...]` bank, without its leading dimension.
  static Value expertMatrix(Emitter &e, Value bank, Value x) {
    OpBuilder &b = e.b;
    auto type = cast<RankedTensorType>(bank.getType());
    SmallVector<OpFoldResult> offs(type.getRank(), b.getIndexAttr(0));
    offs[0] = x;
    SmallVector<OpFoldResult> sizes{b.getIndexAttr(1)};
    for (int64_t d = 1; d < type.getRank(); ++d)
      sizes.push_back(b.getIndexAttr(type.getDimSize(d)));
    SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
    return b.create<tensor::ExtractSliceOp>(
        e.loc,
        RankedTensorType::get(type.getShape().drop_front(),
                              type.getElementType()),
        bank, offs, sizes, strides);
  }

  static Value panelMatmul(Emitter &e, Value input, Value panels, Value acc) {
    return ::moe::createPanelMatmul(e.b, e.loc, input, panels, acc);
  }

  /// `input [n, in] x bank[x]^T (+ bias[x])`: `[n, out]`.
  static Value project(Emitter &e, Value input, Value n, Bank bank, Value bias,
                       Value x) {
    OpBuilder &b = e.b;
    auto bankType = cast<RankedTensorType>(bank.weights.getType());
    int64_t outSize = bankType.getDimSize(1);
    Type element = bankType.getElementType();
    Value acc =
        e.filled({ShapedType::kDynamic, outSize}, {n}, e.real(element, 0.0));
    Value product;
    if (bank.panels) {
      product = panelMatmul(e, input, expertMatrix(e, bank.panels, x), acc);
    } else {
      Value weight = expertMatrix(e, bank.weights, x);
      product = b.create<linalg::MatmulTransposeBOp>(e.loc, acc.getType(),
                                                     ValueRange{input, weight},
                                                     ValueRange{acc})
                    .getResult(0);
    }
    if (!bias)
      return product;
    SmallVector<OpFoldResult> offs{x, b.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes{b.getIndexAttr(1), b.getIndexAttr(outSize)};
    SmallVector<OpFoldResult> strides(2, b.getIndexAttr(1));
    Value row = b.create<tensor::ExtractSliceOp>(
        e.loc, RankedTensorType::get({outSize}, element), bias, offs, sizes,
        strides);
    return addBias(e, product, row);
  }

  /// `product [n, N] + row [N]` on every row.
  static Value addBias(Emitter &e, Value product, Value row) {
    OpBuilder &b = e.b;
    MLIRContext *ctx = b.getContext();
    AffineMap id = AffineMap::getMultiDimIdentityMap(2, ctx);
    AffineMap column = AffineMap::get(2, 0, getAffineDimExpr(1, ctx), ctx);
    return b
        .create<linalg::GenericOp>(
            e.loc, product.getType(), ValueRange{row}, ValueRange{product},
            ArrayRef<AffineMap>{column, id},
            ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                          utils::IteratorType::parallel},
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              nb.create<linalg::YieldOp>(
                  nl, ValueRange{nb.create<arith::AddFOp>(nl, args[1],
                                                          args[0])});
            })
        .getResult(0);
  }

  /// `[n, F]` first projection (and `[n, I]` up) → `[n, I]` activation.
  static Value applyActivation(Emitter &e, ActivationAttr act, Value first,
                               Value up, Value n, int64_t inter) {
    OpBuilder &b = e.b;
    MLIRContext *ctx = b.getContext();
    Type element = cast<ShapedType>(first.getType()).getElementType();
    SmallVector<Value> ins;
    switch (act.getGated()) {
    case GateLayout::None:
      ins = {first};
      break;
    case GateLayout::Separate:
      ins = {first, up};
      break;
    case GateLayout::Concatenated:
      ins = {slice2d(e, first, e.index(0), n, inter, 0),
             slice2d(e, first, e.index(0), n, inter, inter)};
      break;
    case GateLayout::Interleaved:
      ins = {slice2d(e, first, e.index(0), n, inter, 0, 2),
             slice2d(e, first, e.index(0), n, inter, 1, 2)};
      break;
    }
    Value init = b.create<tensor::EmptyOp>(
        e.loc, ArrayRef<int64_t>{ShapedType::kDynamic, inter}, element,
        ValueRange{n});
    SmallVector<AffineMap> maps(ins.size() + 1,
                                AffineMap::getMultiDimIdentityMap(2, ctx));
    return b
        .create<linalg::GenericOp>(
            e.loc, init.getType(), ins, ValueRange{init}, maps,
            ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                          utils::IteratorType::parallel},
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              Value up = act.isGated() ? args[1] : Value();
              Value y = ::moe::activateScalar(nb, nl, act, args[0], up);
              nb.create<linalg::YieldOp>(nl, ValueRange{y});
            })
        .getResult(0);
  }

  static Value expertFFN(Emitter &e, ExpertsOp op, Value x, Value rows, Value n,
                         Bank gateUp, Bank up, Bank down) {
    ActivationAttr act = op.getActivation();
    int64_t inter = cast<ShapedType>(op.getDown().getType()).getDimSize(2);
    Value first = project(e, rows, n, gateUp, op.getGateUpBias(), x);
    Value second;
    if (act.getGated() == GateLayout::Separate)
      second = project(e, rows, n, up, op.getUpBias(), x);
    Value hidden = applyActivation(e, act, first, second, n, inter);
    return project(e, hidden, n, down, op.getDownBias(), x);
  }
};

//===----------------------------------------------------------------------===//
// moe.combine
//===----------------------------------------------------------------------===//

/// Inverts the permutation, then `result[t] = sum_j weights[t, j] *
/// expert_rows[inverse[t*k + j]]`, summed in ascending j.
struct LowerCombine : OpRewritePattern<CombineOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CombineOp op,
                                PatternRewriter &rewriter) const override {
    Emitter e{rewriter, op.getLoc()};
    OpBuilder &b = rewriter;
    MLIRContext *ctx = b.getContext();
    Value rows = op.getExpertRows(), weights = op.getWeights(),
          perm = op.getPermutation();
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    auto permType = cast<RankedTensorType>(perm.getType());
    int64_t k = cast<ShapedType>(weights.getType()).getDimSize(1);
    Value count = e.dim(perm, 0);
    SmallVector<Value> dynamicCount;
    if (permType.isDynamicDim(0))
      dynamicCount.push_back(count);
    Value inverse = b.create<tensor::EmptyOp>(
        e.loc, permType.getShape(), b.getIndexType(), dynamicCount);
    inverse = e.loop(e.index(0), count, {inverse},
                     [&](Value r, ValueRange args) -> SmallVector<Value> {
                       Value a = e.toIndex(e.get(perm, {r}));
                       return {e.set(r, args[0], {a})};
                     },
                     /*independent=*/true)[0];
    Type element = resultType.getElementType();
    SmallVector<Value> dynamicTokens;
    if (resultType.isDynamicDim(0))
      dynamicTokens.push_back(e.dim(weights, 0));
    Value init =
        e.filled(resultType.getShape(), dynamicTokens, e.real(element, 0.0));
    AffineExpr t = getAffineDimExpr(0, ctx), h = getAffineDimExpr(1, ctx),
               j = getAffineDimExpr(2, ctx);
    Value result =
        b.create<linalg::GenericOp>(
             e.loc, resultType, ValueRange{weights},
             ValueRange{init},
             ArrayRef<AffineMap>{AffineMap::get(3, 0, {t, j}, ctx),
                                 AffineMap::get(3, 0, {t, h}, ctx)},
             ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                           utils::IteratorType::parallel,
                                           utils::IteratorType::reduction},
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               Value ti = nb.create<linalg::IndexOp>(nl, 0);
               Value hi = nb.create<linalg::IndexOp>(nl, 1);
               Value ji = nb.create<linalg::IndexOp>(nl, 2);
               Value a = nb.create<arith::AddIOp>(
                   nl,
                   nb.create<arith::MulIOp>(
                       nl, ti, nb.create<arith::ConstantIndexOp>(nl, k)),
                   ji);
               Value r = nb.create<tensor::ExtractOp>(nl, inverse, a);
               Value v = nb.create<tensor::ExtractOp>(nl, rows,
                                                      ValueRange{r, hi});
               Value term = nb.create<arith::MulFOp>(nl, args[0], v);
               nb.create<linalg::YieldOp>(
                   nl, ValueRange{nb.create<arith::AddFOp>(nl, args[1], term)});
             })
            .getResult(0);
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct MoELowerToLinalgPass
    : ::moe::impl::MoELowerToLinalgBase<MoELowerToLinalgPass> {
  using MoELowerToLinalgBase::MoELowerToLinalgBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<LowerRoute, LowerDispatch, LowerCombine>(&getContext());
    patterns.add<LowerExperts>(&getContext(), panelWidth, bf16Weights, grouped);
    GreedyRewriteConfig config;
    config.strictMode = GreedyRewriteStrictness::ExistingOps;
    if (failed(applyPatternsAndFoldGreedily(getOperation(), std::move(patterns),
                                            config)))
      return signalPassFailure();
    WalkResult left = getOperation().walk([](Operation *op) {
      if (isa<RouteOp, DispatchOp, ExpertsOp, CombineOp, LayerOp>(op)) {
        op->emitError() << op->getName()
                        << " cannot be lowered: its expert count or weight "
                           "shapes are dynamic (run moe-expand first for "
                           "moe.layer)";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (left.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
