//===- Attention.cpp - attention onnx.node lowerings ----------------------===//
//
// ONNX Runtime's com.microsoft.GroupQueryAttention, MultiHeadAttention and
// RotaryEmbedding as generic linalg, with the semantics of ONNX Runtime's CPU
// kernels. GroupQueryAttention: rotary embedding of the new queries and keys
// at their positions, the present key and value caches (each batch entry's
// past tokens followed by this step's), scores of every query against the
// cached keys under the causal, sliding-window and padding masks, a softmax
// that may count a sink logit, and the weighted values. With a window-sized
// cache (sliding_window_cache), the cache holds each entry's most recent
// positions, evicting as ONNX Runtime's contract says, and a query reads its
// window from the past cache and this step's keys. MultiHeadAttention:
// the same over keys after the past ones, with an additive key padding mask.
// Reads whose coordinates the model's run-time inputs decide are guarded, so
// inconsistent lengths read zeros, never memory outside a tensor. The
// sparse-attention lowering replaces these
// loops with a fast kernel.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "dialects/onnx/IR/OnnxMatchers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace ::moe::match;
using namespace ::moe::onnx_to_linalg;

namespace {

using utils::IteratorType;

Value indexConstant(OpBuilder &b, Location loc, int64_t value) {
  return b.create<arith::ConstantIndexOp>(loc, value);
}

Value sizeOf(OpBuilder &b, Location loc, Value tensor, int64_t dim) {
  return getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, tensor, dim));
}

/// `tensor[coords]` when every coordinate lies inside `sizes` (the tensor's,
/// read before the loop), else `fallback`.
Value guardedExtract(OpBuilder &b, Location loc, Value tensor,
                     ArrayRef<Value> sizes, ValueRange coords, Value fallback) {
  Value zero = indexConstant(b, loc, 0);
  Value inside = b.create<arith::ConstantIntOp>(loc, 1, 1);
  for (auto [coord, size] : llvm::zip(coords, sizes)) {
    Value low =
        b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::sge, coord, zero);
    Value high =
        b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::slt, coord, size);
    inside = b.create<arith::AndIOp>(
        loc, inside, b.create<arith::AndIOp>(loc, low, high));
  }
  auto guarded = b.create<scf::IfOp>(
      loc, inside,
      [&](OpBuilder &tb, Location tl) {
        tb.create<scf::YieldOp>(
            tl, tb.create<tensor::ExtractOp>(tl, tensor, coords).getResult());
      },
      [&](OpBuilder &eb, Location el) {
        eb.create<scf::YieldOp>(el, fallback);
      });
  return guarded.getResult(0);
}

SmallVector<Value> sizesOf(OpBuilder &b, Location loc, Value tensor) {
  SmallVector<Value> sizes;
  for (int64_t d = 0; d < cast<RankedTensorType>(tensor.getType()).getRank();
       ++d)
    sizes.push_back(sizeOf(b, loc, tensor, d));
  return sizes;
}

/// The sizes both rotary caches have: the fewer positions of the two.
SmallVector<Value> cacheSizesOf(OpBuilder &b, Location loc, Value cos,
                                Value sin) {
  return {b.create<arith::MinSIOp>(loc, sizeOf(b, loc, cos, 0),
                                   sizeOf(b, loc, sin, 0)),
          sizeOf(b, loc, cos, 1)};
}

/// What one GroupQueryAttention node computes with: its attributes, the sizes
/// it runs at, and the inputs the loop bodies read.
struct Gqa {
  NodeOp node;
  Type element;
  int64_t numHeads = 0, kvHeads = 0, headSize = 0;
  double scale = 0, softcap = 0;
  int64_t window = -1;
  bool rotary = false, interleaved = false, smooth = false;
  /// Index values: batch, new tokens, past buffer length, present length.
  Value batch, seq, past, present;
  /// With sliding_window_cache, the cache holds the most recent positions of
  /// each entry in `past` (the capacity) rows.
  bool windowed = false;
  /// Whether this is the first prompt (no past is read).
  Value firstPrompt;
  Value seqlensK;
  SmallVector<Value> seqlensSizes;
  Value cos, sin, positionIds, bias, sink;
  SmallVector<Value> positionSizes, biasSizes, cacheSizes;

  Value zero(OpBuilder &b, Location loc) const {
    return zeroOf(b, loc, element);
  }

  /// Batch entry `entry`'s past tokens and its total tokens, from seqlens_k
  /// (the total less one): the past is what precedes this step's tokens,
  /// none in the first prompt.
  std::pair<Value, Value> lengths(OpBuilder &b, Location loc,
                                  Value entry) const {
    Value raw = guardedExtract(b, loc, seqlensK, seqlensSizes, entry,
                               zeroOf(b, loc, elementTypeOf(seqlensK)));
    Value total = b.create<arith::AddIOp>(
        loc, b.create<arith::IndexCastOp>(loc, b.getIndexType(), raw),
        indexConstant(b, loc, 1));
    Value pastTokens = b.create<arith::SelectOp>(
        loc, firstPrompt, indexConstant(b, loc, 0),
        b.create<arith::SubIOp>(loc, total, seq));
    return {pastTokens, total};
  }

  /// How many of an entry's `tokens` most recent positions a windowed cache
  /// of capacity C = `past` holds: all while they fit, else evicting
  /// G = C - W + 1 positions at a time, which keeps the window resident.
  Value resident(OpBuilder &b, Location loc, Value tokens) const {
    Value one = indexConstant(b, loc, 1);
    Value evict = b.create<arith::MaxSIOp>(
        loc,
        b.create<arith::AddIOp>(
            loc, b.create<arith::SubIOp>(loc, past,
                                         indexConstant(b, loc, window)),
            one),
        one);
    Value over = b.create<arith::MaxSIOp>(
        loc, b.create<arith::SubIOp>(loc, tokens, past),
        indexConstant(b, loc, 0));
    return b.create<arith::SubIOp>(
        loc, tokens,
        b.create<arith::MulIOp>(
            loc, evict, b.create<arith::CeilDivSIOp>(loc, over, evict)));
  }

  /// The key or value of kv head `head` at absolute position `position` of
  /// entry `entry` in a windowed cache: this step's (`fresh`, `[B, S, KV, D]`)
  /// from the past length on, else the row of `cache` (`[B, KV, C, D]`) that
  /// holds it. Zero where neither does.
  Value cachedAt(OpBuilder &b, Location loc, Value fresh,
                 ArrayRef<Value> freshSizes, Value cache,
                 ArrayRef<Value> cacheSizes, Value entry, Value head,
                 Value position, Value d) const {
    Value pastTokens = lengths(b, loc, entry).first;
    Value zeroValue = zero(b, loc);
    Value fromFresh = guardedExtract(
        b, loc, fresh, freshSizes,
        ValueRange{entry, b.create<arith::SubIOp>(loc, position, pastTokens),
                   head, d},
        zeroValue);
    Value first = b.create<arith::SubIOp>(loc, pastTokens,
                                          resident(b, loc, pastTokens));
    Value fromCache = guardedExtract(
        b, loc, cache, cacheSizes,
        ValueRange{entry, head, b.create<arith::SubIOp>(loc, position, first),
                   d},
        zeroValue);
    Value isFresh = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::sge,
                                            position, pastTokens);
    return b.create<arith::SelectOp>(loc, isFresh, fromFresh, fromCache);
  }
};

/// The rotary embedding of element `d` of a head (`value`, its pair partner
/// read by `readPartner(partnerD)`) at `position`, with `cos` and `sin`
/// `[positions, half]` caches (of `cacheSizes`, read before the loop)
/// rotating the first 2 * half dimensions: halves (x1 | x2), or neighbours
/// (x1, x2) when `interleaved`, become y1 = x1 cos - x2 sin and
/// y2 = x2 cos + x1 sin; later dimensions stay. A position past the cache
/// reads its last row (ONNX Runtime refuses it); an empty cache rotates
/// nothing: the cache is never read outside.
Value rotaryElement(OpBuilder &nb, Location nl, Value value, Value d,
                    Value position, Value cos, Value sin,
                    ArrayRef<Value> cacheSizes, bool interleaved,
                    function_ref<Value(Value)> readPartner) {
  auto cacheType = cast<RankedTensorType>(cos.getType());
  int64_t half = cacheType.getDimSize(1);
  Value halfValue = indexConstant(nb, nl, half);
  Value rotated = nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::slt, d,
                                           indexConstant(nb, nl, 2 * half));
  Value partner, frequency, isFirst;
  if (interleaved) {
    Value two = indexConstant(nb, nl, 2);
    isFirst = nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::eq,
                                       nb.create<arith::RemUIOp>(nl, d, two),
                                       indexConstant(nb, nl, 0));
    partner = nb.create<arith::SelectOp>(
        nl, isFirst, nb.create<arith::AddIOp>(nl, d, indexConstant(nb, nl, 1)),
        nb.create<arith::SubIOp>(nl, d, indexConstant(nb, nl, 1)));
    frequency = nb.create<arith::DivUIOp>(nl, d, two);
  } else {
    isFirst =
        nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::slt, d, halfValue);
    partner = nb.create<arith::SelectOp>(
        nl, isFirst, nb.create<arith::AddIOp>(nl, d, halfValue),
        nb.create<arith::SubIOp>(nl, d, halfValue));
    frequency = nb.create<arith::SelectOp>(
        nl, isFirst, d, nb.create<arith::SubIOp>(nl, d, halfValue));
  }
  // Outside the rotary dimensions both stay in range and are unused.
  partner = nb.create<arith::SelectOp>(nl, rotated, partner, d);
  frequency = nb.create<arith::SelectOp>(nl, rotated, frequency,
                                         indexConstant(nb, nl, 0));
  position = nb.create<arith::MaxSIOp>(
      nl, indexConstant(nb, nl, 0),
      nb.create<arith::MinSIOp>(
          nl, position,
          nb.create<arith::SubIOp>(nl, cacheSizes[0],
                                   indexConstant(nb, nl, 1))));
  Type element = cacheType.getElementType();
  Value cosine = guardedExtract(nb, nl, cos, cacheSizes,
                                ValueRange{position, frequency},
                                oneOf(nb, nl, element));
  Value sine = guardedExtract(nb, nl, sin, cacheSizes,
                              ValueRange{position, frequency},
                              zeroOf(nb, nl, element));
  Value other = readPartner(partner);
  Value signedSine = nb.create<arith::SelectOp>(
      nl, isFirst, nb.create<arith::NegFOp>(nl, sine), sine);
  Value y = nb.create<arith::AddFOp>(
      nl, nb.create<arith::MulFOp>(nl, value, cosine),
      nb.create<arith::MulFOp>(nl, other, signedSine));
  return nb.create<arith::SelectOp>(nl, rotated, y, value);
}

/// Checks that `cos` and `sin` are rotary caches `[positions, half]` of one
/// type, `element`, with a static half >= 1 and 2 * half <= `headSize` (the
/// positions may be computed as the model runs).
bool isRotaryCache(Value cos, Value sin, int64_t headSize, Type element) {
  auto type = dyn_cast_or_null<RankedTensorType>(cos ? cos.getType() : Type());
  auto sinType =
      dyn_cast_or_null<RankedTensorType>(sin ? sin.getType() : Type());
  return type && sinType && type.getRank() == 2 && sinType.getRank() == 2 &&
         !type.isDynamicDim(1) && sinType.getDimSize(1) == type.getDimSize(1) &&
         type.getDimSize(1) >= 1 && 2 * type.getDimSize(1) <= headSize &&
         type.getElementType() == element &&
         sinType.getElementType() == element;
}

/// A tensor of `sizes` whose element at each index is `at(indices)`: a
/// linalg.generic over them with no inputs.
Value tabulate(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
               Type element,
               function_ref<Value(OpBuilder &, Location, ArrayRef<Value>)> at) {
  int64_t rank = sizes.size();
  Value init = b.create<tensor::EmptyOp>(loc, sizes, element);
  return b
      .create<linalg::GenericOp>(
          loc, init.getType(), ValueRange{}, ValueRange{init},
          ArrayRef<AffineMap>{b.getMultiDimIdentityMap(rank)},
          SmallVector<IteratorType>(rank, IteratorType::parallel),
          [&](OpBuilder &nb, Location nl, ValueRange) {
            SmallVector<Value> indices;
            for (int64_t d = 0; d < rank; ++d)
              indices.push_back(nb.create<linalg::IndexOp>(nl, d));
            nb.create<linalg::YieldOp>(nl, at(nb, nl, indices));
          })
      .getResult(0);
}

/// Element `coords` (entry, head, row j, d) of the `past` cache where j is
/// below `pastTokens`, else `fresh`; zero where `past` has no such element.
Value pastOr(OpBuilder &b, Location loc, Value past, ArrayRef<Value> pastSizes,
             ValueRange coords, Value pastTokens, Value fresh) {
  Value fromPast = guardedExtract(b, loc, past, pastSizes, coords,
                                  zeroOf(b, loc, fresh.getType()));
  Value isPast = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::slt,
                                         coords[2], pastTokens);
  return b.create<arith::SelectOp>(loc, isPast, fromPast, fresh);
}

/// Heads `[offset, offset + heads)` of the `[B, S, hidden]` projection `x` as
/// `[B, S, heads, D]`, rotated at each token's position when `rotate`.
Value headsOf(OpBuilder &b, Location loc, const Gqa &g, Value x, int64_t offset,
              int64_t heads, bool rotate) {
  SmallVector<OpFoldResult> sizes{dimOf(b, loc, x, 0), dimOf(b, loc, x, 1),
                                  b.getIndexAttr(heads),
                                  b.getIndexAttr(g.headSize)};
  return tabulate(
      b, loc, sizes, g.element,
      [&](OpBuilder &nb, Location nl, ArrayRef<Value> at) -> Value {
        Value entry = at[0], token = at[1], head = at[2], d = at[3];
        Value base = nb.create<arith::MulIOp>(
            nl,
            nb.create<arith::AddIOp>(nl, head, indexConstant(nb, nl, offset)),
            indexConstant(nb, nl, g.headSize));
        auto read = [&](Value within) {
          return nb
              .create<tensor::ExtractOp>(
                  nl, x,
                  ValueRange{entry, token,
                             nb.create<arith::AddIOp>(nl, base, within)})
              .getResult();
        };
        Value value = read(d);
        if (!rotate)
          return value;
        // Tokens sit at past + s, or where position_ids put them: in a first
        // prompt, ONNX Runtime's kernel reads only the tensor's first element
        // and counts on from it, for every entry.
        Value position = nb.create<arith::AddIOp>(
            nl, g.lengths(nb, nl, entry).first, token);
        if (g.positionIds) {
          Value zeroIndex = indexConstant(nb, nl, 0);
          Value readEntry = nb.create<arith::SelectOp>(nl, g.firstPrompt,
                                                       zeroIndex, entry);
          Value readToken = nb.create<arith::SelectOp>(nl, g.firstPrompt,
                                                       zeroIndex, token);
          Value raw = guardedExtract(
              nb, nl, g.positionIds, g.positionSizes,
              ValueRange{readEntry, readToken},
              zeroOf(nb, nl, elementTypeOf(g.positionIds)));
          Value given =
              nb.create<arith::IndexCastOp>(nl, nb.getIndexType(), raw);
          position = nb.create<arith::SelectOp>(
              nl, g.firstPrompt, nb.create<arith::AddIOp>(nl, given, token),
              given);
        }
        return rotaryElement(nb, nl, value, d, position, g.cos, g.sin,
                             g.cacheSizes, g.interleaved, read);
      });
}

/// The present cache `[B, KV, T, D]`: entry b's past tokens from `past` (when
/// given), then this step's `fresh` `[B, S, KV, D]` tokens, zeros after.
Value presentCache(OpBuilder &b, Location loc, const Gqa &g, Value past,
                   Value fresh) {
  SmallVector<OpFoldResult> sizes{g.batch, b.getIndexAttr(g.kvHeads),
                                  g.present, b.getIndexAttr(g.headSize)};
  SmallVector<Value> pastSizes;
  if (past)
    pastSizes = sizesOf(b, loc, past);
  SmallVector<Value> freshSizes = sizesOf(b, loc, fresh);
  return tabulate(
      b, loc, sizes, g.element,
      [&](OpBuilder &nb, Location nl, ArrayRef<Value> at) {
        Value entry = at[0], head = at[1], j = at[2], d = at[3];
        Value pastTokens = g.lengths(nb, nl, entry).first;
        Value value = guardedExtract(
            nb, nl, fresh, freshSizes,
            ValueRange{entry, nb.create<arith::SubIOp>(nl, j, pastTokens), head,
                       d},
            g.zero(nb, nl));
        return past ? pastOr(nb, nl, past, pastSizes, at, pastTokens, value)
                    : value;
      });
}

/// The present cache of a windowed GroupQueryAttention, `[B, KV, C, D]`:
/// rows [0, L(T)) hold an entry's most recent L(T) positions in order, the
/// rows after them zeros.
Value windowedPresent(OpBuilder &b, Location loc, const Gqa &g, Value past,
                      Value fresh) {
  SmallVector<OpFoldResult> sizes{g.batch, b.getIndexAttr(g.kvHeads), g.past,
                                  b.getIndexAttr(g.headSize)};
  SmallVector<Value> pastSizes = sizesOf(b, loc, past);
  SmallVector<Value> freshSizes = sizesOf(b, loc, fresh);
  return tabulate(
      b, loc, sizes, g.element,
      [&](OpBuilder &nb, Location nl, ArrayRef<Value> at) -> Value {
        Value entry = at[0], head = at[1], row = at[2], d = at[3];
        Value total = g.lengths(nb, nl, entry).second;
        Value kept = g.resident(nb, nl, total);
        Value position = nb.create<arith::AddIOp>(
            nl, nb.create<arith::SubIOp>(nl, total, kept), row);
        Value value = g.cachedAt(nb, nl, fresh, freshSizes, past, pastSizes,
                                 entry, head, position, d);
        Value held =
            nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::slt, row, kept);
        return nb.create<arith::SelectOp>(nl, held, value, g.zero(nb, nl));
      });
}

/// The absolute position of key `w` of query `token`'s window of entry
/// `entry`: the window ends at the query's own position.
Value windowPosition(OpBuilder &b, Location loc, const Gqa &g, Value entry,
                     Value token, Value w) {
  Value start = b.create<arith::SubIOp>(
      loc, b.create<arith::AddIOp>(loc, g.lengths(b, loc, entry).first, token),
      indexConstant(b, loc, g.window - 1));
  return b.create<arith::AddIOp>(loc, start, w);
}

/// A linalg.generic with `ins` read through `maps` (the last one the result's)
/// into a tensor of `sizes` filled with `initial`.
Value generic(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
              Type element, Value initial, ValueRange ins,
              ArrayRef<AffineMap> maps, ArrayRef<IteratorType> iterators,
              function_ref<void(OpBuilder &, Location, ValueRange)> body) {
  Value init = b.create<tensor::EmptyOp>(loc, sizes, element);
  if (initial)
    init = b.create<linalg::FillOp>(loc, initial, init).getResult(0);
  return b
      .create<linalg::GenericOp>(loc, init.getType(), ins, ValueRange{init},
                                 maps, iterators, body)
      .getResult(0);
}

/// The map of `count` loops to `exprs`.
AffineMap loopMap(OpBuilder &b, unsigned count, ArrayRef<AffineExpr> exprs) {
  return AffineMap::get(count, 0, exprs, b.getContext());
}

/// Sums over the fifth loop the products of `lhs` and `rhs` (read through
/// `lhsMap` and `rhsMap`) into a tensor of `sizes` over the first four.
Value contract(OpBuilder &b, Location loc, Type element,
               ArrayRef<OpFoldResult> sizes, Value lhs, Value rhs,
               AffineMap lhsMap, AffineMap rhsMap) {
  AffineMap out = loopMap(b, 5,
                          {b.getAffineDimExpr(0), b.getAffineDimExpr(1),
                           b.getAffineDimExpr(2), b.getAffineDimExpr(3)});
  SmallVector<IteratorType> iterators(4, IteratorType::parallel);
  iterators.push_back(IteratorType::reduction);
  return generic(b, loc, sizes, element, zeroOf(b, loc, element),
                 ValueRange{lhs, rhs}, {lhsMap, rhsMap, out}, iterators,
                 [&](OpBuilder &nb, Location nl, ValueRange args) {
                   nb.create<linalg::YieldOp>(
                       nl, nb.create<arith::AddFOp>(
                               nl, args[2],
                               nb.create<arith::MulFOp>(nl, args[0], args[1]))
                               .getResult());
                 });
}

/// Sums over the fifth loop the products of `lhs` (read through `lhsMap`)
/// and `readRhs(loop indices)` into a tensor of `sizes` over the first four.
Value gatherContract(
    OpBuilder &b, Location loc, Type element, ArrayRef<OpFoldResult> sizes,
    Value lhs, AffineMap lhsMap,
    function_ref<Value(OpBuilder &, Location, ArrayRef<Value>)> readRhs) {
  AffineMap out = loopMap(b, 5,
                          {b.getAffineDimExpr(0), b.getAffineDimExpr(1),
                           b.getAffineDimExpr(2), b.getAffineDimExpr(3)});
  SmallVector<IteratorType> iterators(4, IteratorType::parallel);
  iterators.push_back(IteratorType::reduction);
  return generic(b, loc, sizes, element, zeroOf(b, loc, element),
                 ValueRange{lhs}, {lhsMap, out}, iterators,
                 [&](OpBuilder &nb, Location nl, ValueRange args) {
                   SmallVector<Value> at;
                   for (int64_t d = 0; d < 5; ++d)
                     at.push_back(nb.create<linalg::IndexOp>(nl, d));
                   Value rhs = readRhs(nb, nl, at);
                   nb.create<linalg::YieldOp>(
                       nl, nb.create<arith::AddFOp>(
                               nl, args[1],
                               nb.create<arith::MulFOp>(nl, args[0], rhs))
                               .getResult());
                 });
}

/// The softmax over the last dimension of `logits` (`[B, N, S, T]`, whose
/// rows are `rowSizes`). `sinkLogit`, when it gives a value (for the head of
/// loop 1), is a logit that takes part in the shift and the denominator with
/// no value of its own. A row whose every logit is -inf weighs nothing.
Value softmaxRows(OpBuilder &b, Location loc, Type element, Value logits,
                  ArrayRef<OpFoldResult> rowSizes,
                  function_ref<Value(OpBuilder &, Location)> sinkLogit) {
  AffineMap identity4 = b.getMultiDimIdentityMap(4);
  AffineMap identity3 = b.getMultiDimIdentityMap(3);
  AffineMap toRow = loopMap(b, 4,
                            {b.getAffineDimExpr(0), b.getAffineDimExpr(1),
                             b.getAffineDimExpr(2)});
  SmallVector<IteratorType> parallel3(3, IteratorType::parallel);
  SmallVector<IteratorType> parallel4(4, IteratorType::parallel);
  SmallVector<IteratorType> rowReduce(parallel3);
  rowReduce.push_back(IteratorType::reduction);
  auto zero = [&](OpBuilder &nb, Location nl) {
    return zeroOf(nb, nl, element);
  };
  Value minusInf = b.create<arith::ConstantOp>(
      loc, b.getFloatAttr(element, -std::numeric_limits<double>::infinity()));
  // Row maxima, then the shift each row's exponentials use (the sink logit
  // takes part; a row with every key masked shifts by 0) and the sink's share
  // of the denominator.
  Value rowMax = generic(
      b, loc, rowSizes, element, minusInf, ValueRange{logits},
      {identity4, toRow}, rowReduce,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        nb.create<linalg::YieldOp>(
            nl, nb.create<arith::MaximumFOp>(nl, args[0], args[1]).getResult());
      });
  Value shift = generic(
      b, loc, rowSizes, element, Value(), ValueRange{rowMax},
      {identity3, identity3}, parallel3,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value m = args[0];
        if (Value sink = sinkLogit(nb, nl))
          m = nb.create<arith::MaximumFOp>(nl, m, sink);
        Value masked = nb.create<arith::CmpFOp>(nl, arith::CmpFPredicate::OEQ,
                                                m, minusInf);
        nb.create<linalg::YieldOp>(
            nl,
            nb.create<arith::SelectOp>(nl, masked, zero(nb, nl), m).getResult());
      });
  Value sinkShare = generic(
      b, loc, rowSizes, element, Value(), ValueRange{shift},
      {identity3, identity3}, parallel3,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value share = zero(nb, nl);
        if (Value sink = sinkLogit(nb, nl))
          share = nb.create<math::ExpOp>(
              nl, nb.create<arith::SubFOp>(nl, sink, args[0]));
        nb.create<linalg::YieldOp>(nl, share);
      });
  // The sums start from the sink's share.
  Value denominator =
      b.create<linalg::GenericOp>(
           loc, sinkShare.getType(), ValueRange{logits, shift},
           ValueRange{sinkShare}, ArrayRef<AffineMap>{identity4, toRow, toRow},
           rowReduce,
           [&](OpBuilder &nb, Location nl, ValueRange args) {
             Value term = nb.create<math::ExpOp>(
                 nl, nb.create<arith::SubFOp>(nl, args[0], args[1]));
             nb.create<linalg::YieldOp>(
                 nl, nb.create<arith::AddFOp>(nl, args[2], term).getResult());
           })
          .getResult(0);
  return generic(
      b, loc, tensor::getMixedSizes(b, loc, logits), element, Value(),
      ValueRange{logits, shift, denominator},
      {identity4, toRow, toRow, identity4}, parallel4,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value term = nb.create<math::ExpOp>(
            nl, nb.create<arith::SubFOp>(nl, args[0], args[1]));
        Value positive = nb.create<arith::CmpFOp>(
            nl, arith::CmpFPredicate::OGT, args[2], zero(nb, nl));
        nb.create<linalg::YieldOp>(
            nl, nb.create<arith::SelectOp>(
                    nl, positive, nb.create<arith::DivFOp>(nl, term, args[2]),
                    zero(nb, nl))
                    .getResult());
      });
}

FailureOr<SmallVector<Value>> lowerGroupQueryAttention(NodeOp node,
                                                       RewriterBase &b) {
  auto fail = [&](const Twine &message) -> FailureOr<SmallVector<Value>> {
    node.emitError() << "GroupQueryAttention " << message;
    return failure();
  };
  Gqa g;
  g.node = node;
  g.numHeads = intAttr(node, "num_heads", 0);
  g.kvHeads = intAttr(node, "kv_num_heads", 0);
  if (g.numHeads <= 0 || g.kvHeads <= 0 || g.numHeads % g.kvHeads != 0)
    return fail("needs num_heads and kv_num_heads above 0, num_heads a "
                "multiple of kv_num_heads");
  g.windowed = intAttr(node, "sliding_window_cache", 0) != 0;
  if (intAttr(node, "qk_output", 0) != 0)
    return fail("qk_output is not supported");
  if (intAttr(node, "kv_cache_bit_width", 0) != 0 ||
      stringAttr(node, "k_quant_type", "NONE") != "NONE" ||
      stringAttr(node, "v_quant_type", "NONE") != "NONE")
    return fail("with a quantized KV cache is not supported");
  for (unsigned i = 12; i < node.getInputs().size(); ++i)
    if (input(node, i))
      return fail("input " + Twine(i) +
                  " (KV-cache scales or fused QK norm) is not supported");
  for (unsigned i = 3; i < node.getNumResults(); ++i)
    if (!node.getResult(i).use_empty())
      return fail("output " + Twine(i) + " (output_qk) is not supported");
  g.window = intAttr(node, "local_window_size", -1);
  if (g.window == 0 || g.window < -1)
    return fail("local_window_size must be -1 or at least 1");
  g.softcap = floatAttr(node, "softcap", 0.0);
  g.rotary = intAttr(node, "do_rotary", 0) != 0;
  g.interleaved = intAttr(node, "rotary_interleaved", 0) != 0;
  g.smooth = intAttr(node, "smooth_softmax", 0) == 1;

  Value query = input(node, 0), key = input(node, 1), value = input(node, 2);
  auto rank = [](Value v, int64_t r) {
    auto type = dyn_cast_or_null<RankedTensorType>(v ? v.getType() : Type());
    return type && type.getRank() == r;
  };
  if (!rank(query, 3) ||
      ShapedType::isDynamic(
          cast<RankedTensorType>(query.getType()).getDimSize(2)))
    return fail("query must be [batch, sequence, hidden] with a static hidden "
                "size");
  g.element = elementTypeOf(query);
  if (!isFloat(g.element))
    return fail("is supported on floating-point tensors only");
  int64_t hidden = cast<RankedTensorType>(query.getType()).getDimSize(2);
  bool packed = !key && !value;
  int64_t packedHeads = packed ? g.numHeads + 2 * g.kvHeads : g.numHeads;
  if (hidden % packedHeads != 0)
    return fail("query hidden size " + Twine(hidden) + " is not a multiple of " +
                Twine(packedHeads) + " heads");
  g.headSize = hidden / packedHeads;
  if (!packed) {
    for (Value kv : {key, value})
      if (!rank(kv, 3) ||
          cast<RankedTensorType>(kv.getType()).getDimSize(2) !=
              g.kvHeads * g.headSize ||
          elementTypeOf(kv) != g.element)
        return fail("key and value must both be [batch, sequence, " +
                    Twine(g.kvHeads * g.headSize) + "] of the query's type");
  }
  Value pastKey = input(node, 3), pastValue = input(node, 4);
  if (!pastKey != !pastValue)
    return fail("needs both past_key and past_value, or neither");
  for (Value past : {pastKey, pastValue}) {
    if (!past)
      continue;
    auto type = dyn_cast<RankedTensorType>(past.getType());
    if (!type || type.getRank() != 4 || type.getElementType() != g.element ||
        (!type.isDynamicDim(1) && type.getDimSize(1) != g.kvHeads) ||
        (!type.isDynamicDim(3) && type.getDimSize(3) != g.headSize))
      return fail("past_key and past_value must be [batch, " +
                  Twine(g.kvHeads) + ", past, " + Twine(g.headSize) +
                  "] of the query's type");
  }
  if (g.windowed) {
    auto pastType = dyn_cast_or_null<RankedTensorType>(
        pastKey ? pastKey.getType() : Type());
    if (g.window <= 0 || !pastType)
      return fail("with sliding_window_cache = 1 needs local_window_size "
                  "above 0 and the window-sized past_key and past_value");
    if (!pastType.isDynamicDim(2) && pastType.getDimSize(2) < g.window)
      return fail("with sliding_window_cache = 1 needs a cache capacity "
                  "(past_key dimension 2, " +
                  Twine(pastType.getDimSize(2)) +
                  ") of at least local_window_size (" + Twine(g.window) + ")");
  }
  g.seqlensK = input(node, 5);
  Value totalInput = input(node, 6);
  if (!rank(g.seqlensK, 1) || !isa<IntegerType>(elementTypeOf(g.seqlensK)))
    return fail("seqlens_k (input 5) must be a 1-D integer tensor");
  if (!isOneElement(totalInput) || !isa<IntegerType>(elementTypeOf(totalInput)))
    return fail("total_sequence_length (input 6) must be one integer");
  if (g.rotary) {
    g.cos = input(node, 7);
    g.sin = input(node, 8);
    if (!isRotaryCache(g.cos, g.sin, g.headSize, g.element))
      return fail("with do_rotary needs cos_cache and sin_cache [positions, "
                  "rotary dim / 2 <= " +
                  Twine(g.headSize / 2) + "] of the query's type");
    g.positionIds = input(node, 9);
    if (g.positionIds && (!rank(g.positionIds, 2) ||
                          !isa<IntegerType>(elementTypeOf(g.positionIds))))
      return fail("position_ids (input 9) must be [batch, sequence] integers");
  }
  g.bias = input(node, 10);
  if (g.bias && (!rank(g.bias, 4) || elementTypeOf(g.bias) != g.element))
    return fail("attention_bias (input 10) must be [batch or 1, heads or 1, "
                "sequence, total] of the query's type");
  g.sink = input(node, 11);
  if (g.sink) {
    auto type = dyn_cast<RankedTensorType>(g.sink.getType());
    if (!type || type.getRank() != 1 || type.getDimSize(0) != g.numHeads ||
        type.getElementType() != g.element)
      return fail("head_sink (input 11) must be [" + Twine(g.numHeads) +
                  "] of the query's type");
  }

  Location loc = node.getLoc();
  g.batch = sizeOf(b, loc, query, 0);
  g.seq = sizeOf(b, loc, query, 1);
  g.past = pastKey ? sizeOf(b, loc, pastKey, 2) : indexConstant(b, loc, 0);
  Value total = b.create<arith::IndexCastOp>(loc, b.getIndexType(),
                                             extractOne(b, loc, totalInput));
  g.present = g.windowed ? g.past
                         : b.create<arith::MaxSIOp>(loc, total, g.past)
                               .getResult();
  g.firstPrompt = b.create<arith::AndIOp>(
      loc,
      b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::sgt, g.seq,
                              indexConstant(b, loc, 1)),
      b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::eq, g.seq, total));
  g.seqlensSizes = sizesOf(b, loc, g.seqlensK);
  if (g.positionIds)
    g.positionSizes = sizesOf(b, loc, g.positionIds);
  if (g.bias)
    g.biasSizes = sizesOf(b, loc, g.bias);
  if (g.rotary)
    g.cacheSizes = cacheSizesOf(b, loc, g.cos, g.sin);

  // Queries and this step's keys rotated; values as they are.
  Value q = headsOf(b, loc, g, query, 0, g.numHeads, g.rotary);
  Value k = packed ? headsOf(b, loc, g, query, g.numHeads, g.kvHeads, g.rotary)
                   : headsOf(b, loc, g, key, 0, g.kvHeads, g.rotary);
  Value v = packed ? headsOf(b, loc, g, query, g.numHeads + g.kvHeads,
                             g.kvHeads, false)
                   : headsOf(b, loc, g, value, 0, g.kvHeads, false);
  Value presentKey = g.windowed ? windowedPresent(b, loc, g, pastKey, k)
                               : presentCache(b, loc, g, pastKey, k);
  Value presentValue = g.windowed ? windowedPresent(b, loc, g, pastValue, v)
                                  : presentCache(b, loc, g, pastValue, v);

  // Scores [B, N, S, T]: query head n reads key head n / (N / KV). Key j is
  // row j of the present cache, or with a windowed cache (which may no
  // longer hold keys this step reads) key j of the query's window, gathered
  // from the past cache and this step's keys.
  int64_t group = g.numHeads / g.kvHeads;
  AffineExpr e0 = b.getAffineDimExpr(0), e1 = b.getAffineDimExpr(1),
             e2 = b.getAffineDimExpr(2), e3 = b.getAffineDimExpr(3),
             e4 = b.getAffineDimExpr(4);
  SmallVector<OpFoldResult> scoreSizes{
      g.batch, b.getIndexAttr(g.numHeads), g.seq,
      g.windowed ? OpFoldResult(b.getIndexAttr(g.window)) : g.present};
  SmallVector<OpFoldResult> rowSizes{g.batch, b.getIndexAttr(g.numHeads),
                                     g.seq};
  SmallVector<Value> pastKeySizes, pastValueSizes, kSizes, vSizes;
  if (g.windowed) {
    pastKeySizes = sizesOf(b, loc, pastKey);
    pastValueSizes = sizesOf(b, loc, pastValue);
    kSizes = sizesOf(b, loc, k);
    vSizes = sizesOf(b, loc, v);
  }
  // (b, n, s, j, d): q[b, s, n, d] * k[b, n / group, j, d].
  Value scores =
      g.windowed
          ? gatherContract(
                b, loc, g.element, scoreSizes, q, loopMap(b, 5, {e0, e2, e1, e4}),
                [&](OpBuilder &nb, Location nl, ArrayRef<Value> at) {
                  Value position = windowPosition(nb, nl, g, at[0], at[2], at[3]);
                  return g.cachedAt(
                      nb, nl, k, kSizes, pastKey, pastKeySizes, at[0],
                      nb.create<arith::DivUIOp>(nl, at[1],
                                                indexConstant(nb, nl, group)),
                      position, at[4]);
                })
          : contract(b, loc, g.element, scoreSizes, q, presentKey,
                     loopMap(b, 5, {e0, e2, e1, e4}),
                     loopMap(b, 5, {e0, e1.floorDiv(group), e3, e4}));

  // Scaled, capped, biased and masked logits.
  double scale = floatAttr(node, "scale", 0.0);
  if (scale == 0.0)
    scale = 1.0 / std::sqrt(static_cast<double>(g.headSize));
  AffineMap identity4 = b.getMultiDimIdentityMap(4);
  SmallVector<IteratorType> parallel4(4, IteratorType::parallel);
  Value minusInf = b.create<arith::ConstantOp>(
      loc, b.getFloatAttr(g.element, -std::numeric_limits<double>::infinity()));
  Value logits = generic(
      b, loc, scoreSizes, g.element, Value(), ValueRange{scores},
      {identity4, identity4}, parallel4,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value x = nb.create<arith::MulFOp>(
            nl, args[0],
            nb.create<arith::ConstantOp>(nl,
                                         nb.getFloatAttr(g.element, scale)));
        if (g.softcap > 0) {
          Value cap = nb.create<arith::ConstantOp>(
              nl, nb.getFloatAttr(g.element, g.softcap));
          x = nb.create<arith::MulFOp>(
              nl, cap,
              nb.create<math::TanhOp>(nl,
                                      nb.create<arith::DivFOp>(nl, x, cap)));
        }
        Value entry = nb.create<linalg::IndexOp>(nl, 0);
        Value head = nb.create<linalg::IndexOp>(nl, 1);
        Value token = nb.create<linalg::IndexOp>(nl, 2);
        Value j = nb.create<linalg::IndexOp>(nl, 3);
        if (g.windowed)
          j = windowPosition(nb, nl, g, entry, token, j);
        if (g.bias) {
          auto biasType = cast<RankedTensorType>(g.bias.getType());
          Value zeroIndex = indexConstant(nb, nl, 0);
          Value biasEntry = biasType.getDimSize(0) == 1 ? zeroIndex : entry;
          Value biasHead = biasType.getDimSize(1) == 1 ? zeroIndex : head;
          x = nb.create<arith::AddFOp>(
              nl, x,
              guardedExtract(nb, nl, g.bias, g.biasSizes,
                             ValueRange{biasEntry, biasHead, token, j},
                             g.zero(nb, nl)));
        }
        auto [pastTokens, totalTokens] = g.lengths(nb, nl, entry);
        // Query s sits at past + s: it sees keys up to itself within the
        // entry's tokens and, with a window, the last `window` of those.
        Value end = nb.create<arith::MinSIOp>(
            nl,
            nb.create<arith::AddIOp>(
                nl, nb.create<arith::AddIOp>(nl, pastTokens, token),
                indexConstant(nb, nl, 1)),
            totalTokens);
        Value keep =
            nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::slt, j, end);
        if (g.windowed)
          keep = nb.create<arith::AndIOp>(
              nl, keep,
              nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::sge, j,
                                       indexConstant(nb, nl, 0)));
        if (g.window > 0)
          keep = nb.create<arith::AndIOp>(
              nl, keep,
              nb.create<arith::CmpIOp>(
                  nl, arith::CmpIPredicate::sge,
                  nb.create<arith::AddIOp>(nl, j,
                                           indexConstant(nb, nl, g.window)),
                  end));
        nb.create<linalg::YieldOp>(
            nl, nb.create<arith::SelectOp>(nl, keep, x, minusInf).getResult());
      });

  auto sinkLogit = [&](OpBuilder &nb, Location nl) -> Value {
    if (g.sink)
      return nb.create<tensor::ExtractOp>(
          nl, g.sink, ValueRange{nb.create<linalg::IndexOp>(nl, 1)});
    if (g.smooth)
      return g.zero(nb, nl);
    return Value();
  };
  Value probabilities =
      softmaxRows(b, loc, g.element, logits, rowSizes, sinkLogit);

  // (b, s, n, d, j): p[b, n, s, j] * v[b, n / group, j, d].
  SmallVector<OpFoldResult> outSizes{g.batch, g.seq, b.getIndexAttr(g.numHeads),
                                     b.getIndexAttr(g.headSize)};
  Value heads =
      g.windowed
          ? gatherContract(
                b, loc, g.element, outSizes, probabilities,
                loopMap(b, 5, {e0, e2, e1, e4}),
                [&](OpBuilder &nb, Location nl, ArrayRef<Value> at) {
                  Value position = windowPosition(nb, nl, g, at[0], at[1], at[4]);
                  return g.cachedAt(
                      nb, nl, v, vSizes, pastValue, pastValueSizes, at[0],
                      nb.create<arith::DivUIOp>(nl, at[2],
                                                indexConstant(nb, nl, group)),
                      position, at[3]);
                })
          : contract(b, loc, g.element, outSizes, probabilities, presentValue,
                     loopMap(b, 5, {e0, e2, e1, e4}),
                     loopMap(b, 5, {e0, e2.floorDiv(group), e4, e3}));
  Value output = b.create<tensor::CollapseShapeOp>(
      loc, heads, ArrayRef<ReassociationIndices>{{0}, {1}, {2, 3}});
  SmallVector<Value> results{output, presentKey, presentValue};
  results.resize(node.getNumResults());
  return results;
}

/// Where one projection of a MultiHeadAttention node reads its heads: a
/// `[B, L, N * D]` input, a `[B, N, L, D]` one, or slot `slot` of a packed
/// `[B, L, N, slots, D]` one, with the bias from `biasOffset` on when given.
struct HeadSource {
  enum Layout { Hidden, Heads, Packed };
  Value tensor;
  Layout layout = Hidden;
  int64_t slot = 0;
  int64_t headSize = 0;
  int64_t biasOffset = -1;

  /// The number of tokens it holds.
  Value tokens(OpBuilder &b, Location loc) const {
    return sizeOf(b, loc, tensor, layout == Heads ? 2 : 1);
  }

  /// Element `d` of head `head` of token `token` of entry `entry`, its bias
  /// added; zero where the coordinates lie outside the tensor (of `sizes`,
  /// read before the loop).
  Value read(OpBuilder &b, Location loc, ArrayRef<Value> sizes, Value entry,
             Value token, Value head, Value d, Value bias) const {
    Type element = elementTypeOf(tensor);
    Value inHead = b.create<arith::AddIOp>(
        loc, b.create<arith::MulIOp>(loc, head, indexConstant(b, loc, headSize)),
        d);
    SmallVector<Value> coords;
    switch (layout) {
    case Hidden:
      coords = {entry, token, inHead};
      break;
    case Heads:
      coords = {entry, head, token, d};
      break;
    case Packed:
      coords = {entry, token, head, indexConstant(b, loc, slot), d};
      break;
    }
    Value x = guardedExtract(b, loc, tensor, sizes, coords, zeroOf(b, loc, element));
    if (bias && biasOffset >= 0)
      x = b.create<arith::AddFOp>(
          loc, x,
          b.create<tensor::ExtractOp>(
              loc, bias,
              ValueRange{b.create<arith::AddIOp>(
                  loc, inHead, indexConstant(b, loc, biasOffset))}));
    return x;
  }
};

/// The heads `[B, N, P + L, D]` of `source`: the `past` ones (`[B, N, P, D]`,
/// when given), then the source's L tokens.
Value gatherHeads(OpBuilder &b, Location loc, const HeadSource &source,
                  Value past, Value bias, Value batch, int64_t heads) {
  Type element = elementTypeOf(source.tensor);
  Value pastLength = past ? sizeOf(b, loc, past, 2) : indexConstant(b, loc, 0);
  Value length =
      b.create<arith::AddIOp>(loc, pastLength, source.tokens(b, loc));
  SmallVector<OpFoldResult> sizes{batch, b.getIndexAttr(heads), length,
                                  b.getIndexAttr(source.headSize)};
  SmallVector<Value> sourceSizes = sizesOf(b, loc, source.tensor);
  SmallVector<Value> pastSizes;
  if (past)
    pastSizes = sizesOf(b, loc, past);
  return tabulate(
      b, loc, sizes, element,
      [&](OpBuilder &nb, Location nl, ArrayRef<Value> at) {
        Value entry = at[0], head = at[1], j = at[2], d = at[3];
        Value value = source.read(
            nb, nl, sourceSizes, entry,
            nb.create<arith::SubIOp>(nl, j, pastLength), head, d, bias);
        return past ? pastOr(nb, nl, past, pastSizes, at, pastLength, value)
                    : value;
      });
}

/// com.microsoft.MultiHeadAttention, as ONNX Runtime's CPU kernel computes
/// it: the projections (separate, key and value as heads, or packed) with
/// their bias, keys and values after the past ones (the present outputs),
/// scaled scores plus attention_bias, mask_filter_value added where
/// key_padding_mask marks padding, and, when unidirectional, no key after
/// the query's own position (past + s).
FailureOr<SmallVector<Value>> lowerMultiHeadAttention(NodeOp node,
                                                      RewriterBase &b) {
  auto fail = [&](const Twine &message) -> FailureOr<SmallVector<Value>> {
    node.emitError() << "MultiHeadAttention " << message;
    return failure();
  };
  int64_t heads = intAttr(node, "num_heads", 0);
  if (heads <= 0)
    return fail("needs num_heads above 0");
  if (input(node, 8) || input(node, 9))
    return fail("with past_sequence_length or cache_indirection (inputs 8 "
                "and 9: a shared KV buffer, beam search) is not supported");
  if (node.getNumResults() > 3 && !node.getResult(3).use_empty())
    return fail("output 3 (qk) is not supported");
  auto ranked = [](Value v) {
    return dyn_cast_or_null<RankedTensorType>(v ? v.getType() : Type());
  };
  auto staticSize = [](RankedTensorType type, int64_t d) {
    return type.isDynamicDim(d) ? int64_t(-1) : type.getDimSize(d);
  };
  Value query = input(node, 0), key = input(node, 1), value = input(node, 2);
  Value bias = input(node, 3), mask = input(node, 4);
  Value attentionBias = input(node, 5);
  Value pastKey = input(node, 6), pastValue = input(node, 7);
  RankedTensorType queryType = ranked(query);
  if (!queryType || !isFloat(queryType.getElementType()))
    return fail("query must be a ranked floating-point tensor");
  Type element = queryType.getElementType();
  for (Value operand : {key, value, bias, attentionBias, pastKey, pastValue})
    if (operand && (!ranked(operand) || elementTypeOf(operand) != element))
      return fail("needs key, value, bias, attention_bias and the pasts as "
                  "ranked tensors of the query's type");

  HeadSource q, k, v;
  using Layout = HeadSource::Layout;
  if (queryType.getRank() == 5) {
    if (key || value)
      return fail("with packed QKV (a 5-D query) takes no key or value");
    if (staticSize(queryType, 2) != heads || staticSize(queryType, 3) != 3 ||
        staticSize(queryType, 4) <= 0)
      return fail("packed QKV must be [batch, sequence, " + Twine(heads) +
                  ", 3, head size] with a static head size");
    int64_t size = queryType.getDimSize(4);
    q = {query, Layout::Packed, 0, size};
    k = {query, Layout::Packed, 1, size};
    v = {query, Layout::Packed, 2, size};
  } else {
    if (queryType.getRank() != 3 || staticSize(queryType, 2) <= 0 ||
        queryType.getDimSize(2) % heads != 0)
      return fail("query must be [batch, sequence, hidden] with a static "
                  "hidden size that is a multiple of " +
                  Twine(heads) + " heads, or packed QKV");
    int64_t size = queryType.getDimSize(2) / heads;
    q = {query, Layout::Hidden, 0, size};
    RankedTensorType keyType = ranked(key), valueType = ranked(value);
    if (keyType && keyType.getRank() == 5 && !value) {
      if (staticSize(keyType, 2) != heads || staticSize(keyType, 3) != 2 ||
          staticSize(keyType, 4) != size)
        return fail("packed KV must be [batch, kv sequence, " + Twine(heads) +
                    ", 2, " + Twine(size) + "]");
      k = {key, Layout::Packed, 0, size};
      v = {key, Layout::Packed, 1, size};
    } else if (keyType && valueType && keyType.getRank() == 3 &&
               valueType.getRank() == 3) {
      int64_t valueHidden = staticSize(valueType, 2);
      if (staticSize(keyType, 2) != heads * size || valueHidden <= 0 ||
          valueHidden % heads != 0)
        return fail("key must be [batch, kv sequence, " + Twine(heads * size) +
                    "] and value [batch, kv sequence, a static multiple of " +
                    Twine(heads) + "]");
      k = {key, Layout::Hidden, 0, size};
      v = {value, Layout::Hidden, 0, valueHidden / heads};
    } else if (keyType && valueType && keyType.getRank() == 4 &&
               valueType.getRank() == 4) {
      if (staticSize(keyType, 1) != heads || staticSize(keyType, 3) != size ||
          staticSize(valueType, 1) != heads || staticSize(valueType, 3) <= 0)
        return fail("key and value given as heads must be [batch, " +
                    Twine(heads) + ", kv sequence, " + Twine(size) +
                    "] and [batch, " + Twine(heads) +
                    ", kv sequence, a static head size]");
      if (pastKey || pastValue || bias)
        return fail("with key and value given as heads takes no past_key, "
                    "past_value or bias");
      k = {key, Layout::Heads, 0, size};
      v = {value, Layout::Heads, 0, valueType.getDimSize(3)};
    } else {
      return fail("needs key and value as [batch, kv sequence, hidden], as "
                  "heads [batch, num_heads, kv sequence, head size], or packed "
                  "KV [batch, kv sequence, num_heads, 2, head size]");
    }
  }
  if (bias) {
    int64_t expected = heads * (2 * q.headSize + v.headSize);
    RankedTensorType biasType = ranked(bias);
    if (biasType.getRank() != 1 || staticSize(biasType, 0) != expected)
      return fail("bias (input 3) must be [" + Twine(expected) + "]");
    q.biasOffset = 0;
    k.biasOffset = heads * q.headSize;
    v.biasOffset = 2 * heads * q.headSize;
  }
  if (!pastKey != !pastValue)
    return fail("needs both past_key and past_value, or neither");
  for (auto [past, size] : {std::pair{pastKey, k.headSize},
                            std::pair{pastValue, v.headSize}}) {
    if (!past)
      continue;
    RankedTensorType type = ranked(past);
    if (type.getRank() != 4 ||
        (!type.isDynamicDim(1) && type.getDimSize(1) != heads) ||
        (!type.isDynamicDim(3) && type.getDimSize(3) != size))
      return fail("past_key and past_value must be [batch, " + Twine(heads) +
                  ", past, head size]");
  }
  RankedTensorType maskType = ranked(mask);
  if (mask && (!maskType || maskType.getRank() > 3 ||
               !isa<IntegerType>(maskType.getElementType())))
    return fail("key_padding_mask (input 4) must be integers: [batch] "
                "lengths, [batch, total] or [batch, sequence, total]");
  if (attentionBias && ranked(attentionBias).getRank() != 4)
    return fail("attention_bias (input 5) must be [batch or 1, heads or 1, "
                "sequence, total]");

  Location loc = node.getLoc();
  Value batch = sizeOf(b, loc, query, 0);
  Value seq = sizeOf(b, loc, query, 1);
  Value pastLength =
      pastKey ? sizeOf(b, loc, pastKey, 2) : indexConstant(b, loc, 0);
  Value qh = gatherHeads(b, loc, q, Value(), bias, batch, heads);
  Value kh = gatherHeads(b, loc, k, pastKey, bias, batch, heads);
  Value vh = gatherHeads(b, loc, v, pastValue, bias, batch, heads);
  Value total = sizeOf(b, loc, kh, 2);

  AffineExpr e0 = b.getAffineDimExpr(0), e1 = b.getAffineDimExpr(1),
             e2 = b.getAffineDimExpr(2), e3 = b.getAffineDimExpr(3),
             e4 = b.getAffineDimExpr(4);
  SmallVector<OpFoldResult> scoreSizes{batch, b.getIndexAttr(heads), seq,
                                       total};
  SmallVector<OpFoldResult> rowSizes{batch, b.getIndexAttr(heads), seq};
  // (b, n, s, j, d): q[b, n, s, d] * k[b, n, j, d].
  Value scores = contract(b, loc, element, scoreSizes, qh, kh,
                          loopMap(b, 5, {e0, e1, e2, e4}),
                          loopMap(b, 5, {e0, e1, e3, e4}));

  double scale = floatAttr(node, "scale", 0.0);
  if (scale == 0.0)
    scale = 1.0 / std::sqrt(static_cast<double>(q.headSize));
  double filter = floatAttr(node, "mask_filter_value", -10000.0);
  bool causal = intAttr(node, "unidirectional", 0) != 0;
  SmallVector<Value> biasSizes, maskSizes;
  if (attentionBias)
    biasSizes = sizesOf(b, loc, attentionBias);
  if (mask)
    maskSizes = sizesOf(b, loc, mask);
  AffineMap identity4 = b.getMultiDimIdentityMap(4);
  Value logits = generic(
      b, loc, scoreSizes, element, Value(), ValueRange{scores},
      {identity4, identity4}, SmallVector<IteratorType>(4, IteratorType::parallel),
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value x = nb.create<arith::MulFOp>(
            nl, args[0],
            nb.create<arith::ConstantOp>(nl, nb.getFloatAttr(element, scale)));
        Value entry = nb.create<linalg::IndexOp>(nl, 0);
        Value head = nb.create<linalg::IndexOp>(nl, 1);
        Value token = nb.create<linalg::IndexOp>(nl, 2);
        Value j = nb.create<linalg::IndexOp>(nl, 3);
        Value zeroIndex = indexConstant(nb, nl, 0);
        if (attentionBias) {
          auto type = cast<RankedTensorType>(attentionBias.getType());
          x = nb.create<arith::AddFOp>(
              nl, x,
              guardedExtract(
                  nb, nl, attentionBias, biasSizes,
                  ValueRange{type.getDimSize(0) == 1 ? zeroIndex : entry,
                             type.getDimSize(1) == 1 ? zeroIndex : head, token,
                             j},
                  zeroOf(nb, nl, element)));
        }
        if (mask) {
          // Keys are padding where the mask holds 0, or past an entry's
          // length; a mask too small to say keeps them.
          Type maskElement = elementTypeOf(mask);
          Value padded;
          if (maskType.getRank() == 1) {
            Value length = guardedExtract(
                nb, nl, mask, maskSizes, ValueRange{entry},
                nb.create<arith::IndexCastOp>(nl, maskElement, total));
            padded = nb.create<arith::CmpIOp>(
                nl, arith::CmpIPredicate::sge, j,
                nb.create<arith::IndexCastOp>(nl, nb.getIndexType(), length));
          } else {
            SmallVector<Value> coords{entry, token, j};
            if (maskType.getRank() == 2)
              coords = {entry, j};
            Value kept = guardedExtract(nb, nl, mask, maskSizes, coords,
                                        oneOf(nb, nl, maskElement));
            padded = nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::eq,
                                              kept, zeroOf(nb, nl, maskElement));
          }
          x = nb.create<arith::AddFOp>(
              nl, x,
              nb.create<arith::SelectOp>(
                  nl, padded,
                  nb.create<arith::ConstantOp>(nl,
                                               nb.getFloatAttr(element, filter)),
                  zeroOf(nb, nl, element)));
        }
        if (causal) {
          Value after = nb.create<arith::CmpIOp>(
              nl, arith::CmpIPredicate::sgt, j,
              nb.create<arith::AddIOp>(nl, pastLength, token));
          x = nb.create<arith::SelectOp>(
              nl, after,
              nb.create<arith::ConstantOp>(
                  nl, nb.getFloatAttr(element,
                                      -std::numeric_limits<double>::infinity())),
              x);
        }
        nb.create<linalg::YieldOp>(nl, x);
      });
  Value probabilities = softmaxRows(
      b, loc, element, logits, rowSizes,
      [](OpBuilder &, Location) { return Value(); });

  // (b, s, n, d, j): p[b, n, s, j] * v[b, n, j, d].
  SmallVector<OpFoldResult> outSizes{batch, seq, b.getIndexAttr(heads),
                                     b.getIndexAttr(v.headSize)};
  Value out = contract(b, loc, element, outSizes, probabilities, vh,
                       loopMap(b, 5, {e0, e2, e1, e4}),
                       loopMap(b, 5, {e0, e2, e4, e3}));
  SmallVector<Value> results{
      b.create<tensor::CollapseShapeOp>(
          loc, out, ArrayRef<ReassociationIndices>{{0}, {1}, {2, 3}}),
      kh, vh};
  results.resize(node.getNumResults());
  return results;
}

/// com.microsoft.RotaryEmbedding: `input` as `[B, S, hidden]` or
/// `[B, N, S, D]`, each head's first rotary_embedding_dim dimensions (all the
/// cache covers when 0) rotated at `position_ids` (`[B, S]`, or one offset
/// that token s adds s to).
FailureOr<SmallVector<Value>> lowerRotaryEmbedding(NodeOp node, RewriterBase &b) {
  auto fail = [&](const Twine &message) -> FailureOr<SmallVector<Value>> {
    node.emitError() << "RotaryEmbedding " << message;
    return failure();
  };
  Value x = input(node, 0), positions = input(node, 1), cos = input(node, 2),
        sin = input(node, 3);
  auto type = dyn_cast_or_null<RankedTensorType>(x ? x.getType() : Type());
  if (!type || (type.getRank() != 3 && type.getRank() != 4) ||
      type.isDynamicDim(type.getRank() - 1) || !isFloat(type.getElementType()))
    return fail("input must be floating-point [batch, sequence, hidden] or "
                "[batch, heads, sequence, head size] with a static last size");
  if (intAttr(node, "is_packed_batching", 0) != 0)
    return fail("with is_packed_batching is not supported");
  if (floatAttr(node, "scale", 1.0) != 1.0)
    return fail("with a scale other than 1 is not supported");
  auto cacheType =
      dyn_cast_or_null<RankedTensorType>(cos ? cos.getType() : Type());
  if (!cacheType || cacheType.getRank() != 2 || cacheType.isDynamicDim(1))
    return fail("needs cos_cache and sin_cache [positions, rotary dim / 2] "
                "with a static rotary dim");
  int64_t rotaryDim = intAttr(node, "rotary_embedding_dim", 0);
  if (rotaryDim == 0)
    rotaryDim = 2 * cacheType.getDimSize(1);
  int64_t last = type.getDimSize(type.getRank() - 1);
  int64_t numHeads = intAttr(node, "num_heads", 0);
  int64_t headSize = type.getRank() == 4 ? last
                     : numHeads > 0      ? last / numHeads
                                         : rotaryDim;
  if (headSize <= 0 || last % headSize != 0 ||
      2 * cacheType.getDimSize(1) != rotaryDim ||
      !isRotaryCache(cos, sin, headSize, type.getElementType()))
    return fail("cos_cache and sin_cache must be [positions, " +
                Twine(rotaryDim / 2) + "] within a head of " + Twine(headSize) +
                ", of the input's type");
  auto positionType = dyn_cast_or_null<RankedTensorType>(
      positions ? positions.getType() : Type());
  bool offsetOnly = positionType && positionType.getRank() == 1;
  if (!positionType || !isa<IntegerType>(positionType.getElementType()) ||
      (positionType.getRank() != 2 &&
       !(offsetOnly && positionType.getDimSize(0) == 1)))
    return fail("position_ids must be [batch, sequence] or one offset");
  bool interleaved = intAttr(node, "interleaved", 0) != 0;
  Location loc = node.getLoc();
  int64_t rank = type.getRank();
  SmallVector<Value> positionSizes = sizesOf(b, loc, positions);
  SmallVector<Value> cacheSizes = cacheSizesOf(b, loc, cos, sin);
  Value rotated = tabulate(
      b, loc, tensor::getMixedSizes(b, loc, x), type.getElementType(),
      [&](OpBuilder &nb, Location nl, ArrayRef<Value> at) {
        Value entry = at[0], token = at[rank == 4 ? 2 : 1];
        Value column = at[rank - 1];
        Value size = indexConstant(nb, nl, headSize);
        // Within its head, and where the head starts in the last dimension.
        Value d = nb.create<arith::RemUIOp>(nl, column, size);
        Value base = nb.create<arith::SubIOp>(nl, column, d);
        auto read = [&](Value within) {
          SmallVector<Value> coords(at);
          coords.back() = nb.create<arith::AddIOp>(nl, base, within);
          return nb.create<tensor::ExtractOp>(nl, x, coords).getResult();
        };
        Value raw =
            offsetOnly
                ? guardedExtract(nb, nl, positions, positionSizes,
                                 ValueRange{indexConstant(nb, nl, 0)},
                                 zeroOf(nb, nl, positionType.getElementType()))
                : guardedExtract(nb, nl, positions, positionSizes,
                                 ValueRange{entry, token},
                                 zeroOf(nb, nl, positionType.getElementType()));
        Value position =
            nb.create<arith::IndexCastOp>(nl, nb.getIndexType(), raw);
        if (offsetOnly)
          position = nb.create<arith::AddIOp>(nl, position, token);
        return rotaryElement(nb, nl, read(d), d, position, cos, sin,
                             cacheSizes, interleaved, read);
      });
  return SmallVector<Value>{rotated};
}

} // namespace

void moe::onnx_to_linalg::registerAttentionLowerings(HandlerTable &table) {
  table.add("com.microsoft", "GroupQueryAttention", 1,
            lowerGroupQueryAttention);
  table.add("com.microsoft", "MultiHeadAttention", 1,
            lowerMultiHeadAttention);
  table.add("com.microsoft", "RotaryEmbedding", 1, lowerRotaryEmbedding);
}
