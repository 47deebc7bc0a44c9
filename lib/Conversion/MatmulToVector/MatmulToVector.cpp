//===- MatmulToVector.cpp - register-blocked kernels for the CPU ----------===//
//
// The expert projections are `rows x W^T`. With W as it is (both operands
// contiguous along the reduction) the kernel keeps a block of rows x weight
// rows as vector accumulators over K and reduces them horizontally once; with
// W packed into panels of output columns (constant weights) it broadcasts
// each row's element against one vector of each panel, so the accumulators
// are columns of C and need no reduction. Both walk the weight in blocks that
// stay in cache while every row block passes over them.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "lib/Conversion/MatmulToVector/WeightPanels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace moe {
#define GEN_PASS_DEF_MOEVECTORIZEMATMULS
#include "lib/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

/// Rows x weight rows per register block in the main loop.
constexpr int64_t kRowBlock = 4, kColBlock = 2;
/// Weight rows per register block for leftover rows (one at a time).
constexpr int64_t kTailColBlock = 4;
/// Bytes of weight kept in cache while all row blocks pass over them.
constexpr int64_t kWeightBlockBytes = 256 * 1024;
/// Products of run-time operands with at least this many multiply-adds run
/// their batches and row chunks in parallel.
constexpr int64_t kParallelMultiplyAdds = 1 << 18;
/// Weights at least this large split their row blocks across threads
/// (`scf.parallel`); smaller ones are not worth a fork.
constexpr int64_t kParallelWeightBytes = 1 << 20;

/// Whether `op` runs inside a parallel loop already (an expert of a layer
/// whose experts run side by side): its kernel then runs serially.
bool inParallelLoop(Operation *op) {
  return op->getParentOfType<scf::ForallOp>() ||
         op->getParentOfType<scf::ParallelOp>();
}

/// `body(block)` for each block start in `[0, upper)` by `step`: the blocks
/// write disjoint columns of C, so they run in parallel (`scf.parallel`) for
/// weights of kParallelWeightBytes or more, unless `op` is in a parallel loop
/// already.
void emitWeightBlocks(OpBuilder &b, Location loc, Operation *op, int64_t upper,
                      int64_t step, int64_t weightBytes,
                      function_ref<void(OpBuilder &, Location, Value)> body) {
  auto cst = [&](int64_t v) -> Value {
    return b.create<arith::ConstantIndexOp>(loc, v);
  };
  if (weightBytes >= kParallelWeightBytes && !inParallelLoop(op)) {
    b.create<scf::ParallelOp>(
        loc, ValueRange{cst(0)}, ValueRange{cst(upper)}, ValueRange{cst(step)},
        [&](OpBuilder &nb, Location nl, ValueRange ivs) {
          body(nb, nl, ivs[0]);
        });
    return;
  }
  b.create<scf::ForOp>(loc, cst(0), cst(upper), cst(step), ValueRange{},
                       [&](OpBuilder &nb, Location nl, Value block, ValueRange) {
                         body(nb, nl, block);
                         nb.create<scf::YieldOp>(nl);
                       });
}

/// Whether every one of `values` is a memref of f32.
bool allF32(ValueRange values) {
  return llvm::all_of(values, [](Value v) {
    return cast<MemRefType>(v.getType()).getElementType().isF32();
  });
}

bool hasUnitInnerStride(MemRefType type) {
  SmallVector<int64_t> strides;
  int64_t offset;
  return succeeded(getStridesAndOffset(type, strides, offset)) &&
         !strides.empty() && strides.back() == 1;
}

/// Emits `C[m0 .. m0+rows, n0 .. n0+cols] += A[m0.., :] x B[n0.., :]^T` with
/// `rows x cols` vector accumulators of `lanes` f32 over `K`.
void emitBlock(OpBuilder &b, Location loc, Value A, Value B, Value C, Value m0,
               Value n0, int64_t rows, int64_t cols, int64_t K, int64_t lanes) {
  auto vecType = VectorType::get({lanes}, b.getF32Type());
  Value zero = b.create<arith::ConstantOp>(
      loc, vecType, DenseElementsAttr::get(vecType, 0.0f));
  SmallVector<Value> init(rows * cols, zero);
  auto offset = [&](Value base, int64_t i) -> Value {
    if (i == 0)
      return base;
    return b.create<arith::AddIOp>(loc, base,
                                   b.create<arith::ConstantIndexOp>(loc, i));
  };
  SmallVector<Value> rowIndex, colIndex;
  for (int64_t i = 0; i < rows; ++i)
    rowIndex.push_back(offset(m0, i));
  for (int64_t j = 0; j < cols; ++j)
    colIndex.push_back(offset(n0, j));
  auto loop = b.create<scf::ForOp>(
      loc, b.create<arith::ConstantIndexOp>(loc, 0),
      b.create<arith::ConstantIndexOp>(loc, K),
      b.create<arith::ConstantIndexOp>(loc, lanes), init,
      [&](OpBuilder &nb, Location nl, Value k, ValueRange accs) {
        SmallVector<Value> a, w, next;
        for (int64_t i = 0; i < rows; ++i)
          a.push_back(
              nb.create<vector::LoadOp>(nl, vecType, A, ValueRange{rowIndex[i], k}));
        for (int64_t j = 0; j < cols; ++j)
          w.push_back(
              nb.create<vector::LoadOp>(nl, vecType, B, ValueRange{colIndex[j], k}));
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t j = 0; j < cols; ++j)
            next.push_back(
                nb.create<vector::FMAOp>(nl, a[i], w[j], accs[i * cols + j]));
        nb.create<scf::YieldOp>(nl, next);
      });
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      Value sum = b.create<vector::ReductionOp>(loc, vector::CombiningKind::ADD,
                                                loop.getResult(i * cols + j));
      SmallVector<Value, 2> at{rowIndex[i], colIndex[j]};
      Value old = b.create<memref::LoadOp>(loc, C, at);
      b.create<memref::StoreOp>(loc, b.create<arith::AddFOp>(loc, old, sum), C,
                                at);
    }
}

/// A rewrite into a kernel of `lanes`-wide f32 vectors.
template <typename OpT> struct KernelPattern : OpRewritePattern<OpT> {
  KernelPattern(MLIRContext *ctx, int64_t lanes)
      : OpRewritePattern<OpT>(ctx), lanes(lanes) {}

  /// f32 lanes of a vector register.
  int64_t lanes;
};

/// linalg.matmul_transpose_b on f32 memrefs with static N and K (K a multiple
/// of the vector width, N of the column block) → the blocked kernel.
struct VectorizeMatmulTransposeB : KernelPattern<linalg::MatmulTransposeBOp> {
  using KernelPattern::KernelPattern;

  LogicalResult matchAndRewrite(linalg::MatmulTransposeBOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics())
      return rewriter.notifyMatchFailure(op, "not on memrefs");
    Value A = op.getDpsInputOperand(0)->get();
    Value B = op.getDpsInputOperand(1)->get();
    Value C = op.getDpsInitOperand(0)->get();
    auto aType = cast<MemRefType>(A.getType());
    auto bType = cast<MemRefType>(B.getType());
    if (!allF32({A, B, C}))
      return rewriter.notifyMatchFailure(op, "not f32");
    int64_t N = bType.getDimSize(0), K = bType.getDimSize(1);
    if (ShapedType::isDynamic(N) || ShapedType::isDynamic(K) ||
        K % lanes != 0 || N % kColBlock != 0)
      return rewriter.notifyMatchFailure(op, "N, K not static multiples");
    if (!hasUnitInnerStride(aType) || !hasUnitInnerStride(bType))
      return rewriter.notifyMatchFailure(op, "operands not contiguous in K");
    int64_t tailCols = N % kTailColBlock == 0 ? kTailColBlock : kColBlock;
    int64_t weightRows =
        std::max<int64_t>(kColBlock * tailCols,
                          kWeightBlockBytes / (K * 4) / (kColBlock * tailCols) *
                              (kColBlock * tailCols));

    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    auto cst = [&](int64_t v) -> Value {
      return b.create<arith::ConstantIndexOp>(loc, v);
    };
    Value M = b.create<memref::DimOp>(loc, A, 0);
    Value mMain = b.create<arith::SubIOp>(
        loc, M, b.create<arith::RemUIOp>(loc, M, cst(kRowBlock)));
    // Weight row blocks write disjoint columns of C: they may run in parallel.
    auto blockBody = [&](OpBuilder &nb, Location nl, Value nBlock) {
          Value nEnd = nb.create<arith::MinSIOp>(
              nl, nb.create<arith::AddIOp>(nl, nBlock, cst(weightRows)),
              cst(N));
          nb.create<scf::ForOp>(
              nl, cst(0), mMain, cst(kRowBlock), ValueRange{},
              [&](OpBuilder &mb, Location ml, Value m0, ValueRange) {
                mb.create<scf::ForOp>(
                    ml, nBlock, nEnd, cst(kColBlock), ValueRange{},
                    [&](OpBuilder &kb, Location kl, Value n0, ValueRange) {
                      emitBlock(kb, kl, A, B, C, m0, n0, kRowBlock, kColBlock,
                                K, lanes);
                      kb.create<scf::YieldOp>(kl);
                    });
                mb.create<scf::YieldOp>(ml);
              });
          nb.create<scf::ForOp>(
              nl, mMain, M, cst(1), ValueRange{},
              [&](OpBuilder &mb, Location ml, Value m0, ValueRange) {
                mb.create<scf::ForOp>(
                    ml, nBlock, nEnd, cst(tailCols), ValueRange{},
                    [&](OpBuilder &kb, Location kl, Value n0, ValueRange) {
                      emitBlock(kb, kl, A, B, C, m0, n0, 1, tailCols, K, lanes);
                      kb.create<scf::YieldOp>(kl);
                    });
                mb.create<scf::YieldOp>(ml);
              });
    };
    emitWeightBlocks(b, loc, op, N, weightRows, N * K * 4, blockBody);
    rewriter.eraseOp(op);
    return success();
  }
};

/// Where a broadcast-FMA kernel reads and writes: `C[cLead..., row, column]
/// += A[aLead..., row, k] * B(k, column)`, B either `[K, N]` rows at
/// `B[bLead..., k, column]` or panels `[N / W, K, W]` (column `p * W + l` in
/// lane `l` of panel `p`, bf16 widened to f32).
struct BroadcastOperands {
  Value A, B, C;
  SmallVector<Value> aLead, bLead, cLead;
  /// W of B's panels; 0 when B is `[K, N]`.
  int64_t panelWidth = 0;
  /// f32 lanes of a vector register.
  int64_t lanes = 8;
  /// C holds zeros (its fill is left out): blocks start from zero instead of
  /// loading it.
  bool zeroInit = false;
};

/// The `linalg.fill` of zeros into `C` that `op` accumulates onto, when
/// nothing between them touches memory: the kernel can start from zero and
/// the fill can go.
linalg::FillOp zeroFillBefore(Operation *op, Value C) {
  for (Operation *prev = op->getPrevNode(); prev; prev = prev->getPrevNode()) {
    if (auto fill = dyn_cast<linalg::FillOp>(prev)) {
      auto zero = fill.value().getDefiningOp<arith::ConstantOp>();
      auto value = zero ? dyn_cast<FloatAttr>(zero.getValue()) : FloatAttr();
      if (fill.getOutputs()[0] == C && value && value.getValue().isZero())
        return fill;
      return nullptr;
    }
    if (!isMemoryEffectFree(prev))
      return nullptr;
  }
  return nullptr;
}

/// `C[m0 .. m0+rows, vector v0 .. v0+cols] += A[m0.., :] x B`: the block of C
/// in `rows x cols` vector registers over all of K, each step one load of
/// each column vector (widened to f32) and one broadcast of each row's
/// element.
void emitBroadcastBlock(OpBuilder &b, Location loc, const BroadcastOperands &o,
                        Value m0, Value v0, int64_t rows, int64_t cols,
                        Value K) {
  auto vecType = VectorType::get({o.lanes}, b.getF32Type());
  Type weightElement = cast<MemRefType>(o.B.getType()).getElementType();
  auto weightVecType = VectorType::get({o.lanes}, weightElement);
  auto cst = [&](int64_t v) -> Value {
    return b.create<arith::ConstantIndexOp>(loc, v);
  };
  auto plus = [&](Value base, int64_t i) -> Value {
    return i == 0 ? base : b.create<arith::AddIOp>(loc, base, cst(i));
  };
  auto at = [](ArrayRef<Value> lead, std::initializer_list<Value> rest) {
    SmallVector<Value> indices(lead);
    indices.append(rest);
    return indices;
  };
  SmallVector<Value> rowIndex, column, panel, lane;
  for (int64_t i = 0; i < rows; ++i)
    rowIndex.push_back(plus(m0, i));
  for (int64_t j = 0; j < cols; ++j) {
    Value c = b.create<arith::MulIOp>(loc, plus(v0, j), cst(o.lanes));
    column.push_back(c);
    if (o.panelWidth) {
      panel.push_back(b.create<arith::DivUIOp>(loc, c, cst(o.panelWidth)));
      lane.push_back(b.create<arith::RemUIOp>(loc, c, cst(o.panelWidth)));
    }
  }
  SmallVector<Value> init;
  Value zero;
  if (o.zeroInit)
    zero = b.create<arith::ConstantOp>(loc, vecType,
                                       DenseElementsAttr::get(vecType, 0.0f));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      init.push_back(o.zeroInit ? zero
                                : b.create<vector::LoadOp>(
                                      loc, vecType, o.C,
                                      at(o.cLead, {rowIndex[i], column[j]})));
  auto loop = b.create<scf::ForOp>(
      loc, cst(0), K, cst(1), init,
      [&](OpBuilder &nb, Location nl, Value k, ValueRange accs) {
        SmallVector<Value> w, next;
        for (int64_t j = 0; j < cols; ++j) {
          SmallVector<Value> where = o.panelWidth
                                         ? at(o.bLead, {panel[j], k, lane[j]})
                                         : at(o.bLead, {k, column[j]});
          Value v = nb.create<vector::LoadOp>(nl, weightVecType, o.B, where);
          if (weightVecType != vecType)
            v = nb.create<arith::ExtFOp>(nl, vecType, v);
          w.push_back(v);
        }
        for (int64_t i = 0; i < rows; ++i) {
          Value a = nb.create<vector::BroadcastOp>(
              nl, vecType,
              nb.create<memref::LoadOp>(nl, o.A,
                                        at(o.aLead, {rowIndex[i], k})));
          for (int64_t j = 0; j < cols; ++j)
            next.push_back(
                nb.create<vector::FMAOp>(nl, a, w[j], accs[i * cols + j]));
        }
        nb.create<scf::YieldOp>(nl, next);
      });
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      b.create<vector::StoreOp>(loc, loop.getResult(i * cols + j), o.C,
                                at(o.cLead, {rowIndex[i], column[j]}));
}

/// Register blocks of a broadcast-FMA kernel: rows in blocks of 6 x 4
/// vectors with 512-bit vectors (8 x 2 where the columns are no multiple of
/// 4 vectors), 6 x 2 with 256-bit ones, the rest in blocks of 4, 2 and 1 rows
/// x up to 4 vectors, each width the largest power of two up to that
/// dividing `vectors` (unknown: 2 and 4, with 1-vector blocks for what is
/// left).
struct RegisterBlocks {
  RegisterBlocks(int64_t lanes, int64_t vectors) {
    auto widest = [&](int64_t most) {
      if (ShapedType::isDynamic(vectors))
        return most;
      int64_t v = most;
      while (vectors % v != 0)
        v /= 2;
      return v;
    };
    int64_t mainRows = 6, mainVectors = widest(2), narrowVectors = widest(4);
    // 32 registers: 6 x 4 accumulators load 4 vectors and broadcast 6 rows
    // for 24 FMAs (8 x 2 where the columns are no multiple of 4 vectors).
    if (lanes >= 16 && narrowVectors == 4)
      mainVectors = 4;
    else if (lanes >= 16)
      mainRows = 8;
    unit = std::max(mainVectors, narrowVectors);
    ragged = ShapedType::isDynamic(vectors);
    blocks.push_back({mainRows, mainVectors});
    for (int64_t rows : {4, 2, 1})
      blocks.push_back({rows, narrowVectors});
  }

  /// (rows, vectors) of each block, widest first.
  SmallVector<std::pair<int64_t, int64_t>> blocks;
  /// Every block width divides a multiple of this.
  int64_t unit;
  /// Whether a column range may leave vectors no block width divides.
  bool ragged;

  /// Rows [rowBegin, rowEnd) x vectors [vBegin, vEnd) of `o`'s C.
  void emit(OpBuilder &b, Location loc, const BroadcastOperands &o,
            Value rowBegin, Value rowEnd, Value vBegin, Value vEnd,
            Value K) const {
    auto cst = [&](int64_t v) -> Value {
      return b.create<arith::ConstantIndexOp>(loc, v);
    };
    // [begin, end) cut to a multiple of `step` from begin.
    auto whole = [&](Value begin, Value end, int64_t step) -> Value {
      Value left = b.create<arith::SubIOp>(loc, end, begin);
      return b.create<arith::SubIOp>(
          loc, end, b.create<arith::RemUIOp>(loc, left, cst(step)));
    };
    Value start = rowBegin;
    for (auto [rows, cols] : blocks) {
      Value end = whole(start, rowEnd, rows);
      int64_t r = rows, c = cols;
      b.create<scf::ForOp>(
          loc, start, end, cst(rows), ValueRange{},
          [&](OpBuilder &mb, Location ml, Value m0, ValueRange) {
            auto columns = [&](Value from, Value to, int64_t width) {
              mb.create<scf::ForOp>(
                  ml, from, to, cst(width), ValueRange{},
                  [&](OpBuilder &kb, Location kl, Value v0, ValueRange) {
                    emitBroadcastBlock(kb, kl, o, m0, v0, r, width, K);
                    kb.create<scf::YieldOp>(kl);
                  });
            };
            if (!ragged || c == 1) {
              columns(vBegin, vEnd, c);
            } else {
              Value vMain = whole(vBegin, vEnd, c);
              columns(vBegin, vMain, c);
              columns(vMain, vEnd, 1);
            }
            mb.create<scf::YieldOp>(ml);
          });
      start = end;
    }
  }
};

/// `C [M, N] += A [M, K] x panels [N / W, K, W]` (column `p * W + l` of C
/// reads lane `l` of panel `p`), as moe-lower-to-linalg writes it for packed
/// weights → the broadcast-FMA kernel.
struct VectorizePanelMatmul : KernelPattern<linalg::GenericOp> {
  using KernelPattern::KernelPattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
        op.getNumDpsInits() != 1 || op.getNumLoops() != 4)
      return rewriter.notifyMatchFailure(op, "not a panel product on memrefs");
    Value A = op.getDpsInputOperand(0)->get();
    Value panels = op.getDpsInputOperand(1)->get();
    Value C = op.getDpsInitOperand(0)->get();
    auto aType = cast<MemRefType>(A.getType());
    auto pType = cast<MemRefType>(panels.getType());
    auto cType = cast<MemRefType>(C.getType());
    if (aType.getRank() != 2 || pType.getRank() != 3 || cType.getRank() != 2 ||
        !aType.getElementType().isF32() || !cType.getElementType().isF32() ||
        !(pType.getElementType().isF32() || pType.getElementType().isBF16()))
      return rewriter.notifyMatchFailure(op,
                                         "not f32 rows and f32/bf16 panels");
    int64_t numPanels = pType.getDimSize(0), K = pType.getDimSize(1),
            width = pType.getDimSize(2);
    if (ShapedType::isDynamic(numPanels) || ShapedType::isDynamic(K) ||
        ShapedType::isDynamic(width) || width % lanes != 0 ||
        cType.getDimSize(1) != numPanels * width)
      return rewriter.notifyMatchFailure(op, "panels not static vectors");
    MLIRContext *ctx = op.getContext();
    AffineExpr m = getAffineDimExpr(0, ctx), p = getAffineDimExpr(1, ctx),
               l = getAffineDimExpr(2, ctx), k = getAffineDimExpr(3, ctx);
    SmallVector<AffineMap> expected{
        AffineMap::get(4, 0, {m, k}, ctx), AffineMap::get(4, 0, {p, k, l}, ctx),
        AffineMap::get(4, 0, {m, p * width + l}, ctx)};
    SmallVector<utils::IteratorType> iterators{
        utils::IteratorType::parallel, utils::IteratorType::parallel,
        utils::IteratorType::parallel, utils::IteratorType::reduction};
    if (op.getIndexingMapsArray() != expected ||
        op.getIteratorTypesArray() != iterators ||
        !::moe::isMultiplyAdd(op, /*widened=*/true))
      return rewriter.notifyMatchFailure(op, "not C += A x panels");
    SmallVector<int64_t> pStrides;
    int64_t pOffset;
    if (!hasUnitInnerStride(aType) || !hasUnitInnerStride(cType) ||
        failed(getStridesAndOffset(pType, pStrides, pOffset)) ||
        pStrides[2] != 1 || pStrides[1] != width)
      return rewriter.notifyMatchFailure(op, "operands not contiguous");

    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    auto cst = [&](int64_t v) -> Value {
      return b.create<arith::ConstantIndexOp>(loc, v);
    };
    int64_t weightBytes = pType.getElementType().getIntOrFloatBitWidth() / 8;
    int64_t vectors = numPanels * width / lanes;
    RegisterBlocks blocks(lanes, vectors);
    // Weight columns (in vectors) per cache block: about kWeightBlockBytes.
    int64_t blockVectors = std::min(
        vectors, std::max<int64_t>(blocks.unit, kWeightBlockBytes /
                                                    (K * lanes * weightBytes) /
                                                    blocks.unit * blocks.unit));
    BroadcastOperands operands{A, panels, C, {}, {}, {}, width, lanes};
    if (linalg::FillOp fill = zeroFillBefore(op, C)) {
      operands.zeroInit = true;
      rewriter.eraseOp(fill);
    }
    Value M = b.create<memref::DimOp>(loc, A, 0);
    auto blockBody = [&](OpBuilder &nb, Location nl, Value vBlock) {
      Value vEnd = nb.create<arith::MinSIOp>(
          nl, nb.create<arith::AddIOp>(nl, vBlock, cst(blockVectors)),
          cst(vectors));
      blocks.emit(nb, nl, operands, cst(0), M, vBlock, vEnd, cst(K));
    };
    emitWeightBlocks(b, loc, op, vectors, blockVectors,
                     numPanels * K * width * weightBytes, blockBody);
    rewriter.eraseOp(op);
    return success();
  }
};

/// `C [batch..., M, N] += A [batch..., M, K] x B [batch..., K, N]` of f32
/// with B's rows contiguous along N and B computed at run time (attention's
/// score and value products; a batch dimension of A or B may broadcast) →
/// the broadcast-FMA kernel reading B's rows where they are. Batches and
/// chunks of rows run in parallel; columns past the last whole vector go
/// through scalar loops.
struct VectorizeBatchedMatmul : KernelPattern<linalg::GenericOp> {
  using KernelPattern::KernelPattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    int64_t loops = op.getNumLoops();
    if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
        op.getNumDpsInits() != 1 || loops < 3 ||
        !::moe::isMultiplyAdd(op, /*widened=*/false))
      return rewriter.notifyMatchFailure(op, "not a matmul on memrefs");
    SmallVector<utils::IteratorType> iterators(loops - 1,
                                               utils::IteratorType::parallel);
    iterators.push_back(utils::IteratorType::reduction);
    if (op.getIteratorTypesArray() != iterators)
      return rewriter.notifyMatchFailure(op, "not batch..., m, n, k loops");
    Value A = op.getDpsInputOperand(0)->get();
    Value B = op.getDpsInputOperand(1)->get();
    Value C = op.getDpsInitOperand(0)->get();
    auto bType = cast<MemRefType>(B.getType());
    auto cType = cast<MemRefType>(C.getType());
    if (!allF32({A, B, C}))
      return rewriter.notifyMatchFailure(op, "not f32");
    if (!hasUnitInnerStride(bType) || !hasUnitInnerStride(cType))
      return rewriter.notifyMatchFailure(op, "B or C not contiguous along N");
    int64_t batchRank = loops - 3;
    MLIRContext *ctx = op.getContext();
    AffineExpr m = getAffineDimExpr(batchRank, ctx),
               n = getAffineDimExpr(batchRank + 1, ctx),
               k = getAffineDimExpr(batchRank + 2, ctx);
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    // An operand's leading results: batch dimensions or 0 (a broadcast one).
    auto leads = [&](AffineMap map, AffineExpr row, AffineExpr col) {
      ArrayRef<AffineExpr> results = map.getResults();
      if (results.size() < 2 || results[results.size() - 2] != row ||
          results.back() != col)
        return false;
      return llvm::all_of(results.drop_back(2), [&](AffineExpr e) {
        if (auto d = dyn_cast<AffineDimExpr>(e))
          return int64_t(d.getPosition()) < batchRank;
        auto c = dyn_cast<AffineConstantExpr>(e);
        return c && c.getValue() == 0;
      });
    };
    SmallVector<AffineExpr> cExprs;
    for (int64_t d = 0; d < loops - 1; ++d)
      cExprs.push_back(getAffineDimExpr(d, ctx));
    if (!leads(maps[0], m, k) || !leads(maps[1], k, n) ||
        maps[2] != AffineMap::get(loops, 0, cExprs, ctx))
      return rewriter.notifyMatchFailure(op, "not A x B into C");

    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    auto cst = [&](int64_t v) -> Value {
      return b.create<arith::ConstantIndexOp>(loc, v);
    };
    int64_t staticN = cType.getDimSize(batchRank + 1);
    int64_t staticK = bType.getDimSize(bType.getRank() - 2);
    int64_t vectors =
        ShapedType::isDynamic(staticN) ? ShapedType::kDynamic : staticN / lanes;
    RegisterBlocks blocks(lanes, vectors);
    // Rows per parallel iteration: a few dozen register blocks.
    int64_t chunkRows = blocks.blocks.front().first * 16;
    Value M = b.createOrFold<memref::DimOp>(loc, C, batchRank);
    Value N = b.createOrFold<memref::DimOp>(loc, C, batchRank + 1);
    Value K = b.createOrFold<memref::DimOp>(loc, B, bType.getRank() - 2);
    Value numVectors = b.createOrFold<arith::DivUIOp>(loc, N, cst(lanes));
    Value vectorColumns =
        b.createOrFold<arith::MulIOp>(loc, numVectors, cst(lanes));
    // B's columns (in vectors) per cache block: about kWeightBlockBytes.
    int64_t blockVectors =
        ShapedType::isDynamic(staticK)
            ? 0
            : std::max<int64_t>(blocks.unit, kWeightBlockBytes /
                                                 (staticK * lanes * 4) /
                                                 blocks.unit * blocks.unit);
    Value chunks = b.create<arith::CeilDivUIOp>(loc, M, cst(chunkRows));

    linalg::FillOp fill = zeroFillBefore(op, C);
    SmallVector<Value> upper;
    for (int64_t d = 0; d < batchRank; ++d)
      upper.push_back(b.createOrFold<memref::DimOp>(loc, C, d));
    upper.push_back(chunks);
    auto body = [&](OpBuilder &nb, Location nl, ValueRange ivs) {
      auto ncst = [&](int64_t v) -> Value {
        return nb.create<arith::ConstantIndexOp>(nl, v);
      };
      auto lead = [&](AffineMap map) {
        SmallVector<Value> indices;
        for (AffineExpr e : map.getResults().drop_back(2)) {
          if (auto d = dyn_cast<AffineDimExpr>(e))
            indices.push_back(ivs[d.getPosition()]);
          else
            indices.push_back(ncst(0));
        }
        return indices;
      };
      BroadcastOperands operands{
          A, B,     C,         lead(maps[0]), lead(maps[1]), lead(maps[2]),
          0, lanes, bool(fill)};
      Value rowBegin =
          nb.create<arith::MulIOp>(nl, ivs.back(), ncst(chunkRows));
      Value rowEnd = nb.create<arith::MinUIOp>(
          nl, nb.create<arith::AddIOp>(nl, rowBegin, ncst(chunkRows)), M);
      if (blockVectors == 0) {
        blocks.emit(nb, nl, operands, rowBegin, rowEnd, ncst(0), numVectors, K);
      } else {
        nb.create<scf::ForOp>(
            nl, ncst(0), numVectors, ncst(blockVectors), ValueRange{},
            [&](OpBuilder &vb, Location vl, Value vBlock, ValueRange) {
              Value vEnd = vb.create<arith::MinUIOp>(
                  vl,
                  vb.create<arith::AddIOp>(
                      vl, vBlock,
                      vb.create<arith::ConstantIndexOp>(vl, blockVectors)),
                  numVectors);
              blocks.emit(vb, vl, operands, rowBegin, rowEnd, vBlock, vEnd, K);
              vb.create<scf::YieldOp>(vl);
            });
      }
      if (!ShapedType::isDynamic(staticN) && staticN % lanes == 0)
        return;
      // Columns past the last whole vector, one element at a time.
      nb.create<scf::ForOp>(
          nl, rowBegin, rowEnd, ncst(1), ValueRange{},
          [&](OpBuilder &rb, Location rl, Value row, ValueRange) {
            rb.create<scf::ForOp>(
                rl, vectorColumns, N, ncst(1), ValueRange{},
                [&](OpBuilder &cb, Location cl, Value col, ValueRange) {
                  auto at = [&](ArrayRef<Value> lead, Value i, Value j) {
                    SmallVector<Value> indices(lead);
                    indices.append({i, j});
                    return indices;
                  };
                  SmallVector<Value> cAt = at(operands.cLead, row, col);
                  Value init =
                      fill ? cb.create<arith::ConstantOp>(cl,
                                                          cb.getF32FloatAttr(0))
                           : cb.create<memref::LoadOp>(cl, C, cAt).getResult();
                  auto sum = cb.create<scf::ForOp>(
                      cl, ncst(0), K, ncst(1), ValueRange{init},
                      [&](OpBuilder &kb, Location kl, Value kk,
                          ValueRange acc) {
                        Value a = kb.create<memref::LoadOp>(
                            kl, A, at(operands.aLead, row, kk));
                        Value w = kb.create<memref::LoadOp>(
                            kl, B, at(operands.bLead, kk, col));
                        Value product = kb.create<arith::MulFOp>(kl, a, w);
                        kb.create<scf::YieldOp>(
                            kl, ValueRange{kb.create<arith::AddFOp>(kl, acc[0],
                                                                    product)});
                      });
                  cb.create<memref::StoreOp>(cl, sum.getResult(0), C, cAt);
                  cb.create<scf::YieldOp>(cl);
                });
            rb.create<scf::YieldOp>(rl);
          });
    };
    SmallVector<Value> zeros(upper.size(), cst(0)), ones(upper.size(), cst(1));
    auto serial = [&](OpBuilder &nb, Location nl) {
      scf::buildLoopNest(nb, nl, zeros, upper, ones,
                         [&](OpBuilder &lb, Location ll, ValueRange ivs) {
                           body(lb, ll, ivs);
                         });
    };
    auto parallel = [&](OpBuilder &nb, Location nl) {
      nb.create<scf::ParallelOp>(nl, zeros, upper, ones,
                                 [&](OpBuilder &lb, Location ll,
                                     ValueRange ivs) { body(lb, ll, ivs); });
    };
    // A small product (attention's at decode) is not worth a fork: the
    // multiply-adds are counted at run time.
    Value work =
        b.create<arith::MulIOp>(loc, b.create<arith::MulIOp>(loc, M, N), K);
    for (int64_t d = 0; d < batchRank; ++d)
      work = b.create<arith::MulIOp>(loc, work, upper[d]);
    if (inParallelLoop(op)) {
      serial(b, loc);
    } else {
      Value large = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::uge,
                                            work, cst(kParallelMultiplyAdds));
      b.create<scf::IfOp>(
          loc, large,
          [&](OpBuilder &tb, Location tl) {
            parallel(tb, tl);
            tb.create<scf::YieldOp>(tl);
          },
          [&](OpBuilder &eb, Location el) {
            serial(eb, el);
            eb.create<scf::YieldOp>(el);
          });
    }
    if (fill)
      rewriter.eraseOp(fill);
    rewriter.eraseOp(op);
    return success();
  }
};

struct MoEVectorizeMatmulsPass
    : ::moe::impl::MoEVectorizeMatmulsBase<MoEVectorizeMatmulsPass> {
  using MoEVectorizeMatmulsBase::MoEVectorizeMatmulsBase;

  void runOnOperation() override {
    if (vectorBits != 256 && vectorBits != 512) {
      getOperation().emitError()
          << "moe-vectorize-matmuls: vector-bits=" << int64_t(vectorBits)
          << " is not 256 (AVX2) or 512 (AVX-512)";
      return signalPassFailure();
    }
    int64_t lanes = vectorBits / 32;
    RewritePatternSet patterns(&getContext());
    patterns.add<VectorizeMatmulTransposeB, VectorizePanelMatmul,
                 VectorizeBatchedMatmul>(&getContext(), lanes);
    GreedyRewriteConfig config;
    config.strictMode = GreedyRewriteStrictness::ExistingOps;
    if (failed(applyPatternsAndFoldGreedily(getOperation(), std::move(patterns),
                                            config)))
      signalPassFailure();
  }
};

} // namespace
