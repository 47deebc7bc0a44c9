//===- MoEToGPU.cpp - MoE layers as CUDA kernels, routing on the device ---===//
//
// moe.dispatch → moe.experts → moe.combine as four kernels that never hand
// the routing back to the host:
//
//   align     one block: per-expert counts (a warp per expert, ballots over
//             the assignments), the offsets, a table of M tiles (expert, first
//             row) and a stable placement of every assignment;
//   gate/up   one grouped GEMM over the table, the rows gathered through the
//             permutation, gate and up in one block, the activation fused;
//   down      one grouped GEMM over the same table;
//   combine   each token sums its k rows in ascending j.
//
// The grouped GEMMs stage A and B tiles in shared memory (B by cp.async) and
// run mma.sync from ldmatrix fragments for bf16 and f16, or FMA on the f32
// tiles. Sizes that depend on the routing are bounded on the host from T:
// at most ceil(T k / M tile) + min(E, T k) tiles, and blocks past the table's
// end return at once.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "dialects/gpu/IR/MoEGpuDialect.h"
#include "dialects/moe/IR/MoEOps.h"
#include "lib/Conversion/MoEToLinalg/ExpertMath.h"
#include "lib/Transforms/WeightConstants.h"
#include "moe/GPU/MmaLayout.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

namespace moe {
#define GEN_PASS_DEF_MOELOWERTOGPU
#define GEN_PASS_DEF_MOEEXPANDGPUKERNELS
#include "lib/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;
using namespace mlir::moe;
using Layout = ::moe::gpu::M16N8K16;

namespace {

constexpr int64_t kWarp = 32;
constexpr int64_t kAlignThreads = 1024;
constexpr int64_t kAlignWarps = kAlignThreads / kWarp;
/// The grouped GEMMs' block tile and its threads: 4 warps, each 16 x 32 of
/// the 32 x 64 tile (mma.sync), or 4 x 4 elements per thread (FMA).
constexpr int64_t kTileM = 32, kTileN = 64, kTileK = 32;
/// On sm_90a, a warpgroup per 64 rows of the tile, each multiplying its rows
/// by all the tile's columns (wgmma m64nNk16): 64 or 128 rows (the tile
/// table's rows, chosen per call from the token count), 128 columns (64 when
/// a projection has no more), K 64 deep: a row of a tile is one 128-byte
/// swizzle span.
constexpr int64_t kWgmmaRows = 64, kWgmmaWideRows = 128, kWgmmaTileK = 64;
constexpr int64_t kSwizzleBytes = 128;
/// sm_90a's stages, in dynamic shared memory (at most 192 KiB: 128-row tiles
/// with gate and up): two tiles' copies and one wgmma group in flight while
/// the next is issued.
constexpr int64_t kWgmmaStages = 4;
/// The dynamic shared memory a block may opt in to on sm_90 (227 KiB).
constexpr int64_t kMaxDynamicSharedBytes = 227 * 1024;
constexpr int64_t kWarpgroup = 128;
/// The registers a thread of sm_90a's warp-specialised GEMMs holds with
/// 128-row tiles (3 warpgroups: 168 each at launch, 64512 in all): the
/// producer's (its address arithmetic and A's conversions without spills),
/// the rest to the consumers' accumulators (setmaxnreg).
constexpr int32_t kProducerRegisters = 64, kConsumerRegisters = 216;
/// The span of the 128-byte swizzle's pattern, to which its tiles align.
constexpr int64_t kSwizzleSpan = 8 * kSwizzleBytes;
constexpr int64_t kGemmThreads = 128;
/// Static shared memory a block may have (ptxas refuses more).
constexpr int64_t kStaticSharedBytes = 48 * 1024;
constexpr int64_t kCombineThreads = 256;
constexpr int64_t kCopyBytes = 16;

/// Builders for kernel bodies.
struct Emit {
  OpBuilder &b;
  Location loc;

  Value idx(int64_t v) { return b.create<arith::ConstantIndexOp>(loc, v); }
  Value i32(int64_t v) {
    return b.create<arith::ConstantOp>(loc, b.getI32IntegerAttr(v));
  }
  Value f32(double v) {
    return b.create<arith::ConstantOp>(loc, b.getF32FloatAttr(v));
  }
  Value add(Value x, Value y) { return b.create<arith::AddIOp>(loc, x, y); }
  Value add(Value x, int64_t y) { return y ? add(x, idx(y)) : x; }
  Value sub(Value x, Value y) { return b.create<arith::SubIOp>(loc, x, y); }
  Value mul(Value x, Value y) { return b.create<arith::MulIOp>(loc, x, y); }
  Value mul(Value x, int64_t y) { return mul(x, idx(y)); }
  Value div(Value x, int64_t y) {
    return b.create<arith::DivUIOp>(loc, x, idx(y));
  }
  Value rem(Value x, int64_t y) {
    return b.create<arith::RemUIOp>(loc, x, idx(y));
  }
  Value ceilDiv(Value x, int64_t y) {
    return b.create<arith::CeilDivUIOp>(loc, x, idx(y));
  }
  Value lt(Value x, Value y) {
    return b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::slt, x, y);
  }
  Value eq(Value x, Value y) {
    return b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::eq, x, y);
  }
  Value both(Value x, Value y) { return b.create<arith::AndIOp>(loc, x, y); }
  Value select(Value c, Value x, Value y) {
    return b.create<arith::SelectOp>(loc, c, x, y);
  }
  Value load(Value memref, ValueRange indices) {
    return b.create<memref::LoadOp>(loc, memref, indices);
  }
  void store(Value v, Value memref, ValueRange indices) {
    b.create<memref::StoreOp>(loc, v, memref, indices);
  }
  Value toIndex(Value v) {
    return b.create<arith::IndexCastOp>(loc, b.getIndexType(), v);
  }
  Value toI32(Value v) {
    return b.create<arith::IndexCastOp>(loc, b.getI32Type(), v);
  }
  /// A float widened or narrowed to `to`.
  Value convert(Value v, Type to) { return ::moe::convertFloat(b, loc, v, to); }
  void ifThen(Value cond, function_ref<void()> then) {
    auto op = b.create<scf::IfOp>(loc, cond, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(op.thenBlock());
    then();
  }
  /// `for i in [lb, ub) step s` carrying `inits`; `body` returns the next.
  SmallVector<Value>
  loop(Value lb, Value ub, Value step, ValueRange inits,
       function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    auto op = b.create<scf::ForOp>(
        loc, lb, ub, step, inits,
        [&](OpBuilder &nb, Location, Value iv, ValueRange args) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
          SmallVector<Value> next = body(iv, args);
          b.create<scf::YieldOp>(loc, next);
        });
    return SmallVector<Value>(op.getResults());
  }
  void barrier() { b.create<gpu::BarrierOp>(loc); }
  /// The lanes of the warp whose `pred` holds, as a mask.
  Value ballot(Value pred) {
    return b.create<NVVM::VoteBallotOp>(loc, b.getI32Type(), i32(-1), pred);
  }
  Value popc(Value v) { return b.create<LLVM::CtPopOp>(loc, v.getType(), v); }
};

/// A launch of `grid` x 1 x 1 blocks of `threads` with static workgroup
/// buffers of `shared` types and `dynamicShared` bytes of dynamic shared
/// memory; `body` builds the kernel before its terminator, given the launch.
void launch(OpBuilder &b, Location loc, Value gridX, Value gridY,
            int64_t threads, TypeRange shared,
            function_ref<void(OpBuilder &, gpu::LaunchOp)> body,
            int64_t dynamicShared = 0) {
  Value one = b.create<arith::ConstantIndexOp>(loc, 1);
  Value block = b.create<arith::ConstantIndexOp>(loc, threads);
  Value dynamic = dynamicShared
                      ? b.create<arith::ConstantOp>(
                            loc, b.getI32IntegerAttr(int32_t(dynamicShared)))
                      : Value();
  auto op = b.create<gpu::LaunchOp>(loc, gridX, gridY, one, block, one, one,
                                    /*dynamicSharedMemorySize=*/dynamic,
                                    /*asyncTokenType=*/nullptr,
                                    /*asyncDependencies=*/ValueRange(), shared);
  OpBuilder inner = OpBuilder::atBlockEnd(&op.getBody().front());
  Operation *terminator = inner.create<gpu::TerminatorOp>(loc);
  inner.setInsertionPoint(terminator);
  body(inner, op);
}

MemRefType sharedType(ArrayRef<int64_t> shape, Type element) {
  return MemRefType::get(
      shape, element, MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(element.getContext(),
                                 gpu::AddressSpace::Workgroup));
}

/// The work items of a persistent kernel over the tile table: the table's
/// entries in use times its column tiles, the entries fastest.
struct WorkItems {
  Value used, count, tileExpert;
  /// Item `item`'s table entry, column tile and expert.
  std::array<Value, 3> at(Emit &e, Value item) const {
    Value entry = e.b.create<arith::RemUIOp>(e.loc, item, used);
    Value column = e.b.create<arith::DivUIOp>(e.loc, item, used);
    return {entry, column, e.toIndex(e.load(tileExpert, entry))};
  }
};

/// What a persistent kernel over the tile table does with one work item,
/// given the value carried from the block's previous item; returns the value
/// for the next.
using TileBody = function_ref<Value(Emit &, gpu::LaunchOp, const WorkItems &,
                                    Value item, Value carried)>;

/// A persistent kernel of `threads` with `shared` workgroup buffers (and
/// `dynamicShared` bytes) over the tile table's `tileCount[0]` entries in use
/// (at most `entries`) times `columnTiles` column tiles: as many blocks as the
/// device holds at once (moe_gpu.resident_grid), block b taking the work
/// items b, b + its grid's size, ..., the table's entries fastest, so that
/// the blocks at work at once share a column tile's weights. `body` builds
/// the block's code, given its work items.
void launchPersistent(
    OpBuilder &b, Location loc, Value entries, Value tileCount,
    int64_t columnTiles, int64_t threads, TypeRange shared, Value tileExpert,
    function_ref<void(Emit &, gpu::LaunchOp, const WorkItems &)> body,
    int64_t dynamicShared = 0) {
  Emit h{b, loc};
  Value grid = b.create<moe_gpu::ResidentGridOp>(loc, b.getIndexType(),
                                                 h.mul(entries, columnTiles));
  launch(
      b, loc, grid, h.idx(1), threads, shared,
      [&](OpBuilder &kb, gpu::LaunchOp op) {
        Emit e{kb, loc};
        Value used = e.toIndex(e.load(tileCount, e.idx(0)));
        body(e, op, WorkItems{used, e.mul(used, columnTiles), tileExpert});
      },
      dynamicShared);
}

/// launchPersistent's kernel with `body` run for each of the block's work
/// items in turn, carrying an index from item to item (0 first).
void launchOverTiles(OpBuilder &b, Location loc, Value entries, Value tileCount,
                     int64_t columnTiles, int64_t threads, TypeRange shared,
                     Value tileExpert, TileBody body) {
  launchPersistent(
      b, loc, entries, tileCount, columnTiles, threads, shared, tileExpert,
      [&](Emit &e, gpu::LaunchOp op, const WorkItems &items) {
        e.loop(op.getBlockIds().x, items.count, op.getGridSize().x, {e.idx(0)},
               [&](Value item, ValueRange carried) -> SmallVector<Value> {
                 return {body(e, op, items, item, carried[0])};
               });
      });
}

/// The buffer of tensor `t` as a memref whose innermost stride is 1 (all
/// the kernels assume), read only.
Value bufferOf(OpBuilder &b, Location loc, Value t) {
  auto type = cast<RankedTensorType>(t.getType());
  SmallVector<int64_t> strides(type.getRank(), ShapedType::kDynamic);
  strides.back() = 1;
  auto layout =
      StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic, strides);
  auto memref =
      MemRefType::get(type.getShape(), type.getElementType(), layout);
  return b.create<bufferization::ToMemrefOp>(loc, memref, t,
                                             /*read_only=*/true);
}

//===----------------------------------------------------------------------===//
// Weights in the compute type
//===----------------------------------------------------------------------===//

/// Weight `w` in element type `to`: converted in the compiler when it is a
/// constant (rounded to nearest even), else by a kernel at run time.
Value weightIn(OpBuilder &b, Location loc, Value w, Type to) {
  auto type = cast<RankedTensorType>(w.getType());
  Type from = type.getElementType();
  if (from == to)
    return w;
  auto target = RankedTensorType::get(type.getShape(), to);
  Attribute value;
  if (matchPattern(w, m_Constant(&value)) && type.hasStaticShape()) {
    int64_t count = type.getNumElements();
    int64_t inWidth = from.getIntOrFloatBitWidth() / 8;
    std::vector<char> splat;
    std::optional<ArrayRef<char>> bytes =
        ::moe::constantBytes(value, count, inWidth, splat);
    if (bytes && (from.isF32() || from.isBF16() || from.isF16())) {
      int64_t outWidth = to.getIntOrFloatBitWidth() / 8;
      std::vector<char> out(count * outWidth);
      const auto &semantics = cast<FloatType>(to).getFloatSemantics();
      for (int64_t i = 0; i < count; ++i) {
        float x;
        const char *p = bytes->data() + i * inWidth;
        if (from.isF32()) {
          std::memcpy(&x, p, 4);
        } else {
          uint16_t h;
          std::memcpy(&h, p, 2);
          if (from.isBF16()) {
            uint32_t bits = static_cast<uint32_t>(h) << 16;
            std::memcpy(&x, &bits, 4);
          } else {
            bool lost;
            APFloat v(APFloat::IEEEhalf(), APInt(16, h));
            v.convert(APFloat::IEEEsingle(), APFloat::rmNearestTiesToEven,
                      &lost);
            x = v.convertToFloat();
          }
        }
        char *q = out.data() + i * outWidth;
        if (to.isF32()) {
          std::memcpy(q, &x, 4);
        } else if (to.isBF16()) {
          uint16_t h = ::moe::toBf16Bits(x);
          std::memcpy(q, &h, 2);
        } else {
          bool lost;
          APFloat v(x);
          v.convert(semantics, APFloat::rmNearestTiesToEven, &lost);
          uint16_t h = static_cast<uint16_t>(
              v.bitcastToAPInt().getZExtValue());
          std::memcpy(q, &h, 2);
        }
      }
      return ::moe::createWeightConstant(b, loc, target, "gpu_weight", out);
    }
  }
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps(
      2, AffineMap::getMultiDimIdentityMap(type.getRank(), ctx));
  SmallVector<Value> dynamic;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      dynamic.push_back(b.create<tensor::DimOp>(loc, w, d));
  Value init = b.create<tensor::EmptyOp>(loc, type.getShape(), to, dynamic);
  return b
      .create<linalg::GenericOp>(
          loc, target, ValueRange{w}, ValueRange{init}, maps,
          SmallVector<utils::IteratorType>(type.getRank(),
                                           utils::IteratorType::parallel),
          [&](OpBuilder &nb, Location nl, ValueRange args) {
            Emit e{nb, nl};
            nb.create<linalg::YieldOp>(nl, e.convert(args[0], to));
          })
      .getResult(0);
}

/// A B source of a projection as its weight's rows: output column j reads row
/// `scale * j + offset` of `weight [E, rows, depth]`.
struct SourceRows {
  Value weight;
  int64_t scale, offset;
};

/// The side of a weight tile, and the index in a tile of 16-bit element
/// (r, c): rows of 128 bytes in the 128-byte swizzle.
constexpr int64_t kWeightTile = moe_gpu::RoutedFfnOp::kWeightTile;
constexpr int64_t tilePlace(int64_t r, int64_t c) {
  return ::moe::gpu::swizzle(unsigned((r * kWeightTile + c) * 2), 128) / 2;
}

/// The index of element (`row`, `col`) of a tile of rows of `rowLength`
/// 16-bit elements in the 128-byte swizzle: the 16-byte chunks of a row
/// XORed with its place in its group of 8 rows (as tilePlace, in IR).
Value swizzledIndex(Emit &e, Value row, Value col, int64_t rowLength) {
  constexpr int64_t kPerChunk = 8;
  Value chunk =
      e.b.create<arith::XOrIOp>(e.loc, e.div(col, kPerChunk), e.rem(row, 8));
  return e.add(e.add(e.mul(row, rowLength), e.mul(chunk, kPerChunk)),
               e.rem(col, kPerChunk));
}

/// The sources' weights (in the 16-bit compute type) as the tiles sm_90a's
/// kernels bulk-copy, `[E, S, tiles(columns), ceil(depth / 64), 4096]`
/// (moe_gpu.routed_ffn's `intermediate` form), packed here; null unless
/// every weight is a constant (packing weights that are inputs would cost a
/// pass over them every call).
Value tilesOf(OpBuilder &b, Location loc, ArrayRef<SourceRows> sources,
              int64_t columns, Type compute) {
  constexpr int64_t kTile = kWeightTile;
  auto first = cast<RankedTensorType>(sources[0].weight.getType());
  int64_t experts = first.getDimSize(0), depth = first.getDimSize(2);
  int64_t numSources = sources.size();
  int64_t nTiles = moe_gpu::RoutedFfnOp::columnTiles(columns);
  int64_t kTiles = (depth + kTile - 1) / kTile;
  auto type = RankedTensorType::get(
      {experts, numSources, nTiles, kTiles, kTile * kTile}, compute);
  constexpr int64_t kWidth = 2;
  std::vector<std::vector<char>> splats(sources.size());
  SmallVector<ArrayRef<char>> bytes;
  for (auto [i, source] : llvm::enumerate(sources)) {
    auto weight = cast<RankedTensorType>(source.weight.getType());
    Attribute value;
    if (!matchPattern(source.weight, m_Constant(&value)))
      break;
    std::optional<ArrayRef<char>> data =
        ::moe::constantBytes(value, weight.getNumElements(), kWidth, splats[i]);
    if (!data)
      break;
    bytes.push_back(*data);
  }
  if (int64_t(bytes.size()) == numSources) {
    std::vector<char> out(size_t(type.getNumElements() * kWidth), 0);
    for (int64_t e = 0; e < experts; ++e)
      for (auto [s, source] : llvm::enumerate(sources)) {
        int64_t rows =
            cast<RankedTensorType>(source.weight.getType()).getDimSize(1);
        for (int64_t j = 0; j < columns; ++j) {
          int64_t row = source.scale * j + source.offset;
          const char *from =
              bytes[s].data() + (e * rows + row) * depth * kWidth;
          for (int64_t k = 0; k < depth; ++k) {
            int64_t tile =
                ((e * numSources + int64_t(s)) * nTiles + j / kTile) * kTiles +
                k / kTile;
            int64_t at = tile * kTile * kTile + tilePlace(j % kTile, k % kTile);
            std::memcpy(&out[size_t(at * kWidth)], from + k * kWidth, kWidth);
          }
        }
      }
    return ::moe::createWeightConstant(b, loc, type, "gpu_weight_tiles", out);
  }
  return Value();
}

/// Warp-wide reductions (butterfly shuffles: every lane ends with the result).
struct WarpMath {
  Emit &e;

  Value shuffle(Value v, int64_t offset) {
    return e.b
        .create<gpu::ShuffleOp>(e.loc, v, e.i32(offset), e.i32(kWarp),
                                gpu::ShuffleMode::XOR)
        .getShuffleResult();
  }
  Value maximum(Value v) {
    for (int64_t offset = kWarp / 2; offset > 0; offset /= 2)
      v = e.b.create<arith::MaximumFOp>(e.loc, v, shuffle(v, offset));
    return v;
  }
  Value sum(Value v) {
    for (int64_t offset = kWarp / 2; offset > 0; offset /= 2)
      v = e.b.create<arith::AddFOp>(e.loc, v, shuffle(v, offset));
    return v;
  }
  /// The best two of each lane's (first, second), as the serial scan keeps
  /// them.
  std::pair<Value, Value> topTwo(Value first, Value second) {
    for (int64_t offset = kWarp / 2; offset > 0; offset /= 2) {
      Value otherFirst = shuffle(first, offset);
      Value otherSecond = shuffle(second, offset);
      Value lower = e.b.create<arith::MinimumFOp>(e.loc, first, otherFirst);
      first = e.b.create<arith::MaximumFOp>(e.loc, first, otherFirst);
      second = e.b.create<arith::MaximumFOp>(
          e.loc, lower,
          e.b.create<arith::MaximumFOp>(e.loc, second, otherSecond));
    }
    return {first, second};
  }
  /// The best (value, column) of the warp: a column (>= 0) beats none, a
  /// greater value beats a smaller, and of equal values the lower column.
  std::pair<Value, Value> argmax(Value value, Value column) {
    for (int64_t offset = kWarp / 2; offset > 0; offset /= 2) {
      Value otherValue = shuffle(value, offset);
      Value otherColumn = shuffle(column, offset);
      Value none = e.lt(column, e.i32(0));
      Value otherSome = e.lt(e.i32(-1), otherColumn);
      Value greater = e.b.create<arith::CmpFOp>(
          e.loc, arith::CmpFPredicate::OGT, otherValue, value);
      Value equal = e.b.create<arith::CmpFOp>(e.loc, arith::CmpFPredicate::OEQ,
                                              otherValue, value);
      Value lower = e.lt(otherColumn, column);
      Value better = e.b.create<arith::OrIOp>(
          e.loc, greater, e.both(equal, lower));
      Value take = e.both(otherSome,
                          e.b.create<arith::OrIOp>(e.loc, none, better));
      value = e.select(take, otherValue, value);
      column = e.select(take, otherColumn, column);
    }
    return {value, column};
  }
};

//===----------------------------------------------------------------------===//
// The grouped GEMM
//===----------------------------------------------------------------------===//

/// One B operand of a grouped GEMM: `weight [E, rows, depth]` in the compute
/// type and the weight row that output column `j` reads; or, on sm_90a, the
/// layer's weight tiles `[E, S, tiles(columns), ceil(depth / 64), 4096]`
/// (moe_gpu.routed_ffn) and this source's place among their S.
struct BSource {
  Value weight;
  std::function<Value(Emit &, Value)> rowOf;
  Value tiles = {};
  int64_t tileSource = 0;

  /// What locates output column `j`'s weights: its weight row, or with
  /// tiles the column itself.
  Value rowKey(Emit &e, Value j) const { return tiles ? j : rowOf(e, j); }
  /// The memref and indices of the weights of the column `key` locates
  /// (rowKey) from depth `k` on, along the innermost dimension: 16 bytes from
  /// a k that is a multiple of 8 stay within one tile's swizzled chunk.
  std::pair<Value, SmallVector<Value>> at(Emit &e, Value expert, Value key,
                                          Value k) const {
    if (!tiles)
      return {weight, {expert, key, k}};
    Value place = swizzledIndex(e, e.rem(key, kWeightTile),
                                e.rem(k, kWeightTile), kWeightTile);
    return {tiles,
            {expert, e.idx(tileSource), e.div(key, kWeightTile),
             e.div(k, kWeightTile), place}};
  }
};

/// `out[r, j] = epilogue(r, j, sum_k A(r, k) B_s[e, rowOf_s(j), k])` for the
/// rows `r` of each tile of the table, every B source `s` accumulated in f32
/// at once (gate and up).
struct GroupedGemm {
  /// The tile table, its entries in use (`[1]`) and the expert offsets.
  Value tileExpert, tileRow, tileCount, offsets;
  int64_t columns, depth;
  Type compute;
  /// What loadA needs of row `r` of the tile (its token, its routing
  /// weight), computed once per 16-byte chunk of the row.
  std::function<SmallVector<Value>(Emit &, Value)> prepareRow;
  /// `n` f32 elements of A from `k` on (k + n <= depth), for a prepared row.
  std::function<SmallVector<Value>(Emit &, ArrayRef<Value>, Value, int64_t)>
      loadA;
  /// Or A's rows themselves, `[rows, depth]` in the compute type and
  /// 16-byte aligned (a buffer of the kernels' own), which cp.async copies.
  Value aRows;
  SmallVector<BSource> sources;
  /// Given the expert, the row, the column and one f32 sum per source.
  std::function<void(Emit &, Value, Value, Value, ArrayRef<Value>)> epilogue;
  /// The sm_90a kernel: wgmma on 128-byte swizzled tiles.
  bool wgmma = false;

  /// The block's tile: on sm_90a `tileM` rows (a warpgroup per 64) by
  /// `tileN` columns (wgmmaShape sets both), else kTileM x kTileN.
  int64_t tileM = kTileM, tileN = kTileN;

  bool tensorCores() const { return !compute.isF32(); }
  /// Whether B comes from the layer's weight tiles, by bulk copies.
  bool tiled() const { return sources.front().tiles != nullptr; }
  int64_t tileK() const { return wgmma ? kWgmmaTileK : kTileK; }
  /// On sm_90a a consumer warpgroup per 64 rows and the producer's.
  int64_t threads() const {
    return wgmma ? (tileM / kWgmmaRows + 1) * kWarpgroup : kGemmThreads;
  }
  /// sm_90a's kernel for tiles of `rows` rows: its columns as many as the
  /// projection's weight tiles cover at a time (moe_gpu.routed_ffn's
  /// columnTiles: two 64-column tiles, or the one a narrow weight has).
  void wgmmaShape(int64_t rows) {
    wgmma = true;
    tileM = rows;
    tileN = std::min<int64_t>(moe_gpu::RoutedFfnOp::columnTiles(columns), 2) *
            kWeightTile;
  }
  /// The 16-bit elements of a shared row: 16 bytes added to each for
  /// mma.sync (a warp's ldmatrix rows fall in different banks, rows stay
  /// 16-byte aligned); none for wgmma, whose swizzle spreads the rows.
  int64_t rowLength() const {
    int64_t width = compute.getIntOrFloatBitWidth() / 8;
    return wgmma ? tileK() : tileK() + kCopyBytes / width;
  }
  /// The bytes of one stage of every tile.
  int64_t stageBytes() const {
    int64_t width = compute.getIntOrFloatBitWidth() / 8;
    return (tileM + tileN * int64_t(sources.size())) * rowLength() * width;
  }
  /// Shared-memory stages of the tiles: for wgmma four, in dynamic shared
  /// memory; else as many as fit the 48 KiB of static shared memory, at most
  /// three: three of 16-bit elements (38400 bytes with gate and up), two of
  /// f32 (46080).
  int64_t stages() const {
    if (wgmma)
      return kWgmmaStages;
    return std::min<int64_t>(3, kStaticSharedBytes / stageBytes());
  }
  /// The index in a stage's shared tile of element (`row`, `col`): rows of
  /// rowLength(), the 16-byte chunks of each XORed with its row's place in
  /// its group of 8 for wgmma (the 128-byte swizzle).
  SmallVector<Value> sharedIndex(Emit &e, Value stage, Value row,
                                 Value col) const {
    if (!wgmma)
      return {stage, row, col};
    return {stage, swizzledIndex(e, row, col, rowLength())};
  }

  void build(OpBuilder &b, Location loc, Value entries) {
    assert((!tiled() || wgmma) && "weight tiles are sm_90a's wgmma kernels'");
    int64_t width = compute.getIntOrFloatBitWidth() / 8;
    auto tileShape = [&](int64_t rows) -> SmallVector<int64_t> {
      if (wgmma)
        return {stages(), rows * rowLength()};
      return {stages(), rows, rowLength()};
    };
    tileTypes = {sharedType(tileShape(tileM), compute)};
    for (size_t s = 0; s < sources.size(); ++s)
      tileTypes.push_back(sharedType(tileShape(tileN), compute));
    if (wgmma)
      return buildWarpSpecialized(b, loc, entries, width);
    launchOverTiles(
        b, loc, entries, tileCount, columnTiles(), threads(), tileTypes,
        tileExpert,
        [&](Emit &e, gpu::LaunchOp op, const WorkItems &items, Value item,
            Value step0) { return body(e, op, items, item, step0, width); });
  }

private:
  /// The shared tiles' types: A's, then each source's.
  SmallVector<Type> tileTypes;

  int64_t columnTiles() const { return (columns + tileN - 1) / tileN; }
  int64_t steps() const { return (depth + tileK() - 1) / tileK(); }

  /// The tiles as views of the launch's dynamic shared memory, from its
  /// first address aligned to the swizzle's span (which the hardware's
  /// swizzle assumes), one after the other.
  SmallVector<Value> dynamicTiles(Emit &e) {
    auto bytesType = MemRefType::get(
        {ShapedType::kDynamic}, e.b.getI8Type(), MemRefLayoutAttrInterface(),
        gpu::AddressSpaceAttr::get(e.b.getContext(),
                                   gpu::AddressSpace::Workgroup));
    Value bytes = e.b.create<gpu::DynamicSharedMemoryOp>(e.loc, bytesType);
    Value base =
        e.b.create<memref::ExtractAlignedPointerAsIndexOp>(e.loc, bytes);
    Value offset = e.rem(e.sub(e.idx(kSwizzleSpan), e.rem(base, kSwizzleSpan)),
                         kSwizzleSpan);
    SmallVector<Value> views;
    for (Type type : tileTypes) {
      views.push_back(
          e.b.create<memref::ViewOp>(e.loc, type, bytes, offset, ValueRange{}));
      auto memref = cast<MemRefType>(type);
      offset = e.add(offset, memref.getNumElements() *
                                 (compute.getIntOrFloatBitWidth() / 8));
    }
    return views;
  }

  /// A work item's tile: its expert, its first row and the expert's end, its
  /// first column.
  struct Item {
    Value expert, first, end, column0;
  };

  Item itemAt(Emit &e, const WorkItems &items, Value index) {
    auto [entry, column, expert] = items.at(e, index);
    return Item{expert, e.toIndex(e.load(tileRow, entry)),
                e.toIndex(e.load(offsets, e.add(expert, 1))),
                e.mul(column, tileN)};
  }

  /// Stage `stage` of the shared tiles from depth `k0` on for item `it`,
  /// copied by `copiers` threads (`tid` each one's index among them): A's
  /// rows and, without weight tiles, B's by cp.async (one group, returned),
  /// else B's weight tiles by thread 0's bulk copies, whose bytes it
  /// expects on the stage's mbarrier `bars[stage]`. Past the depth
  /// everything is zero (copies of 0 bytes).
  Value stageTile(Emit &e, ArrayRef<Value> shared, Value bars, Value tid,
                  int64_t copiers, const Item &it, Value stage, Value k0,
                  int64_t width) {
    Value aTile = shared[0];
    int64_t perCopy = kCopyBytes / width;
    int64_t tileK = this->tileK();
    int64_t copiesPerRow = tileK / perCopy;
    auto tokenType = nvgpu::DeviceAsyncTokenType::get(e.b.getContext());
    SmallVector<Value> copies;
    // A, rows of the table's tile: 16-byte copies of rows in the compute
    // type, or one element a thread and step, converted.
    for (int64_t q = 0; aRows && q < tileM * copiesPerRow / copiers; ++q) {
      Value linear = e.add(tid, q * copiers);
      Value row = e.div(linear, copiesPerRow);
      Value chunk = e.mul(e.rem(linear, copiesPerRow), perCopy);
      Value r = e.add(it.first, row), k = e.add(k0, chunk);
      Value ok = e.both(e.lt(r, it.end), e.lt(k, e.idx(depth)));
      copies.push_back(e.b.create<nvgpu::DeviceAsyncCopyOp>(
          e.loc, tokenType, aTile, sharedIndex(e, stage, row, chunk), aRows,
          ValueRange{e.select(ok, r, it.first), e.select(ok, k, e.idx(0))},
          e.b.getIndexAttr(perCopy), e.select(ok, e.idx(perCopy), e.idx(0)),
          e.b.getUnitAttr()));
    }
    // Or a 16-byte chunk of a row at a time, each element loaded and
    // converted, the chunks of a thread in a loop (a register's worth at a
    // time).
    int64_t chunks = tileM * copiesPerRow / copiers;
    if (!aRows)
      e.loop(e.idx(0), e.idx(chunks), e.idx(1), {},
             [&](Value q, ValueRange) -> SmallVector<Value> {
               Value linear = e.add(tid, e.mul(q, copiers));
               Value row = e.div(linear, copiesPerRow);
               Value chunk = e.mul(e.rem(linear, copiesPerRow), perCopy);
               Value r = e.add(it.first, row), k = e.add(k0, chunk);
               Value ok = e.both(e.lt(r, it.end), e.lt(k, e.idx(depth)));
               SmallVector<Value> values =
                   loadA(e, prepareRow(e, e.select(ok, r, it.first)),
                         e.select(ok, k, e.idx(0)), perCopy);
               for (auto [i, v] : llvm::enumerate(values))
                 e.store(e.convert(e.select(ok, v, e.f32(0.0)), compute), aTile,
                         sharedIndex(e, stage, row, e.add(chunk, int64_t(i))));
               return {};
             });
    // B from weight tiles: thread 0 expects their bytes on the stage's
    // mbarrier and bulk-copies the block's 8 KiB tiles of each source, one
    // after the other.
    if (tiled()) {
      e.ifThen(e.eq(tid, e.idx(0)), [&] {
        int64_t bytes = kWeightTile * tileK * width;
        int64_t perSource = tileN / kWeightTile;
        e.b.create<moe_gpu::MbarrierArriveOp>(
            e.loc, bars, stage,
            e.b.getI64IntegerAttr(bytes * perSource * int64_t(sources.size())));
        Value firstTile = e.div(it.column0, kWeightTile);
        for (auto [s, source] : llvm::enumerate(sources))
          for (int64_t c = 0; c < perSource; ++c)
            e.b.create<moe_gpu::BulkCopyOp>(
                e.loc, shared[1 + s],
                ValueRange{stage, e.idx(c * kWeightTile * rowLength())},
                source.tiles,
                ValueRange{it.expert, e.idx(source.tileSource),
                           e.add(firstTile, c), e.div(k0, tileK), e.idx(0)},
                bars, stage, e.b.getI64IntegerAttr(bytes));
      });
    }
    // B: 16-byte cp.async copies, zero-filled past the weight's rows.
    for (auto [s, source] :
         llvm::enumerate(tiled() ? ArrayRef<BSource>() : ArrayRef(sources))) {
      for (int64_t q = 0; q < tileN * copiesPerRow / copiers; ++q) {
        Value linear = e.add(tid, q * copiers);
        Value row = e.div(linear, copiesPerRow);
        Value chunk = e.mul(e.rem(linear, copiesPerRow), perCopy);
        Value j = e.add(it.column0, row), k = e.add(k0, chunk);
        Value ok = e.both(e.lt(j, e.idx(columns)), e.lt(k, e.idx(depth)));
        Value weightRow = e.select(ok, source.rowOf(e, j), e.idx(0));
        Value copied = e.select(ok, e.idx(perCopy), e.idx(0));
        copies.push_back(e.b.create<nvgpu::DeviceAsyncCopyOp>(
            e.loc, tokenType, shared[1 + s], sharedIndex(e, stage, row, chunk),
            source.weight,
            ValueRange{it.expert, weightRow, e.select(ok, k, e.idx(0))},
            e.b.getIndexAttr(perCopy), copied, e.b.getUnitAttr()));
      }
    }
    // No group when nothing goes by cp.async (A stored, B by bulk copies).
    if (copies.empty())
      return Value();
    return e.b.create<nvgpu::DeviceAsyncCreateGroupOp>(e.loc, tokenType,
                                                       copies);
  }

  /// Element (`row`, `col`) of item `it`'s tile, one value per source, to
  /// the epilogue when it is in the expert's rows and the projection.
  void finish(Emit &e, const Item &it, Value row, Value col,
              ArrayRef<Value> values) {
    Value r = e.add(it.first, row), j = e.add(it.column0, col);
    e.ifThen(e.both(e.lt(r, it.end), e.lt(j, e.idx(columns))),
             [&] { epilogue(e, it.expert, r, j, values); });
  }

  /// sm_80 and FMA: one work item, `item`, a block's barrier between its
  /// steps; its K steps are the block's steps `step0`... (the stages run on
  /// from item to item); returns the step after.
  Value body(Emit &e, gpu::LaunchOp op, const WorkItems &items, Value item,
             Value step0, int64_t width) {
    Value tid = op.getThreadIds().x;
    Item current = itemAt(e, items, item);
    SmallVector<Value> shared(op.getWorkgroupAttributions());
    // Every thread is done with the block's previous item (its stages read)
    // before this item's first copies.
    e.barrier();
    int64_t threads = this->threads();
    int64_t perSource = tileM * tileN / threads;
    SmallVector<Value> init(sources.size() * perSource, e.f32(0.0));
    // `stages` stages: while the block multiplies tile t, the copies of
    // tiles t + 1 ... t + stages - 1 are in flight. Tile t + stages - 1 goes
    // to the stage of the step before, which its closing barrier freed; the
    // copies are issued first, so stages - 1 groups may stay outstanding at
    // the wait.
    int64_t stages = this->stages(), ahead = stages - 1;
    auto stageOf = [&](Value t) { return e.rem(e.add(step0, t), stages); };
    auto stageStep = [&](Value t) {
      return stageTile(e, shared, Value(), tid, threads, current, stageOf(t),
                       e.mul(t, tileK()), width);
    };
    for (int64_t t = 0; t < ahead; ++t)
      stageStep(e.idx(t));
    SmallVector<Value> sums = e.loop(
        e.idx(0), e.idx(steps()), e.idx(1), init,
        [&](Value step, ValueRange acc) -> SmallVector<Value> {
          // (The wait's token only links it: the wait counts groups.)
          Value group = stageStep(e.add(step, ahead));
          e.b.create<nvgpu::DeviceAsyncWaitOp>(e.loc, group,
                                               e.b.getI32IntegerAttr(ahead));
          e.barrier();
          Value stage = stageOf(step);
          SmallVector<Value> sumsNext =
              tensorCores() ? mmaStep(e, tid, shared, stage, acc)
                            : fmaStep(e, tid, shared, stage, acc);
          e.barrier();
          return sumsNext;
        });
    // The last group (zeros past the depth) lands before the block ends.
    Value last = e.b.create<nvgpu::DeviceAsyncCreateGroupOp>(
        e.loc, nvgpu::DeviceAsyncTokenType::get(e.b.getContext()),
        ValueRange{});
    e.b.create<nvgpu::DeviceAsyncWaitOp>(e.loc, last, e.b.getI32IntegerAttr(0));
    for (int64_t i = 0; i < perSource; ++i) {
      Value row, col;
      if (tensorCores()) {
        // Warp (wm, wn) holds rows 16 wm.., columns 32 wn..: n8 tile i / 4,
        // register i % 4 of the C fragment.
        Value lane = e.rem(tid, kWarp), warp = e.div(tid, kWarp);
        int64_t tileN = i / Layout::kCRegisters, reg = i % Layout::kCRegisters;
        row = e.add(e.add(e.mul(e.div(warp, 2), 16), e.div(lane, 4)),
                    Layout::kCRowOffset[reg]);
        col = e.add(e.add(e.mul(e.rem(warp, 2), 32), e.mul(e.rem(lane, 4), 2)),
                    tileN * 8 + Layout::kCColOffset[reg]);
      } else {
        // Thread (tid / 16, tid % 16) holds rows 4 (tid / 16) + i / 4 and
        // columns tid % 16 + 16 (i % 4).
        row = e.add(e.mul(e.div(tid, 16), 4), i / 4);
        col = e.add(e.rem(tid, 16), 16 * (i % 4));
      }
      SmallVector<Value> values;
      for (size_t s = 0; s < sources.size(); ++s)
        values.push_back(sums[s * perSource + i]);
      finish(e, current, row, col, values);
    }
    return e.add(step0, e.idx(steps()));
  }

  /// The sm_90a kernel, warp-specialised: a producer warpgroup and tileM /
  /// 64 consumer warpgroups, the branches of a conditional marked
  /// moe_gpu.roles, that synchronise by two mbarriers a stage alone. The
  /// block's work items (b, b + its grid's size, ...) are one run of K
  /// steps each, and both roles walk the block's steps g in order:
  /// - the producer waits until stage g % stages is empty (from the
  ///   stages-th step on), copies step g's tiles into it and arrives on its
  ///   full barrier once they have landed (its cp.async group waited for a
  ///   step later; bulk copies complete the barrier's bytes themselves);
  /// - the consumers wait until the stage is full, issue its wgmmas (the
  ///   item's sums starting from zeros), wait for all but that group, which
  ///   frees the stage of step g - 1 (they arrive on its empty barrier), and
  ///   after an item's last step wait for every group and run the epilogue.
  /// The producer thus runs up to `stages` steps ahead, through the next
  /// item's tiles while the consumers run an epilogue, and no block barrier
  /// holds either role back. With 128-row tiles (384 threads, 168
  /// registers a thread at launch) the producer gives registers up to the
  /// consumers (setmaxnreg).
  void buildWarpSpecialized(OpBuilder &b, Location loc, Value entries,
                            int64_t width) {
    int64_t stages = this->stages(), steps = this->steps();
    int64_t consumers = tileM / kWgmmaRows * kWarpgroup;
    int64_t dynamicShared = stages * stageBytes() + kSwizzleSpan;
    assert(dynamicShared <= kMaxDynamicSharedBytes &&
           "tiles past sm_90's 227 KiB");
    bool asyncCopies = aRows || !tiled();
    // full[s] = bars[s], empty[s] = bars[stages + s].
    Type barsType = sharedType({2 * stages}, b.getI64Type());
    launchPersistent(
        b, loc, entries, tileCount, columnTiles(), threads(),
        TypeRange{barsType}, tileExpert,
        [&](Emit &e, gpu::LaunchOp op, const WorkItems &items) {
          Value tid = op.getThreadIds().x;
          Value bars = op.getWorkgroupAttributions()[0];
          SmallVector<Value> shared = dynamicTiles(e);
          auto full = [&](Value s) { return s; };
          auto empty = [&](Value s) { return e.add(s, stages); };
          // A stage is full once every producer thread has arrived (and,
          // with weight tiles, thread 0's arrival expecting their bytes),
          // empty once every consumer thread has.
          e.ifThen(e.eq(tid, e.idx(0)), [&] {
            for (int64_t s = 0; s < stages; ++s) {
              e.b.create<moe_gpu::MbarrierInitOp>(
                  e.loc, bars, e.idx(s),
                  e.b.getI64IntegerAttr(kWarpgroup + (tiled() ? 1 : 0)));
              e.b.create<moe_gpu::MbarrierInitOp>(
                  e.loc, bars, e.idx(stages + s),
                  e.b.getI64IntegerAttr(consumers));
            }
            // The TMA unit completes the barriers' transactions through the
            // async proxy: the initialisations, generic writes, go before.
            e.b.create<moe_gpu::FenceProxyAsyncOp>(e.loc);
          });
          e.barrier();
          Value block = op.getBlockIds().x, gridSize = op.getGridSize().x;
          Value mine = e.select(e.lt(block, items.count),
                                e.b.create<arith::CeilDivUIOp>(
                                    e.loc, e.sub(items.count, block), gridSize),
                                e.idx(0));
          Value total = e.mul(mine, steps);
          auto itemOf = [&](Value g) {
            return itemAt(e, items,
                          e.add(block, e.mul(e.div(g, steps), gridSize)));
          };
          auto k0Of = [&](Value g) { return e.mul(e.rem(g, steps), tileK()); };
          bool rebalance = threads() > 2 * kWarpgroup;
          // The thread's warpgroup as its warp's lane 0 has it, which ptxas
          // then knows to be the same across the warp: the roles' branches
          // are not divergent paths to it (else it serialises their
          // wgmmas).
          Value warpgroup =
              e.b.create<gpu::ShuffleOp>(loc, e.toI32(e.div(tid, kWarpgroup)),
                                         e.i32(0), e.i32(kWarp),
                                         gpu::ShuffleMode::IDX)
                  .getShuffleResult();
          auto roles = e.b.create<scf::IfOp>(
              loc,
              e.b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::eq,
                                        warpgroup, e.i32(0)),
              /*withElseRegion=*/true);
          roles->setAttr(::moe::kWarpRoles, e.b.getUnitAttr());
          {
            // The producer.
            OpBuilder::InsertionGuard guard(e.b);
            e.b.setInsertionPoint(roles.thenBlock()->getTerminator());
            if (rebalance)
              e.b.create<NVVM::SetMaxRegisterOp>(
                  loc, kProducerRegisters,
                  NVVM::SetMaxRegisterAction::decrease);
            auto arriveFull = [&](Value s) {
              // Its writes, and the copies it waited for, go before the
              // consumers' wgmmas, which read through the async proxy.
              e.b.create<moe_gpu::FenceProxyAsyncOp>(e.loc);
              e.b.create<moe_gpu::MbarrierArriveOp>(e.loc, bars, full(s));
            };
            e.loop(e.idx(0), total, e.idx(1), {},
                   [&](Value g, ValueRange) -> SmallVector<Value> {
                     Value stage = e.rem(g, stages);
                     // The consumers' (g / stages)-th release of the stage.
                     e.ifThen(e.lt(e.idx(stages - 1), g), [&] {
                       e.b.create<moe_gpu::MbarrierWaitOp>(
                           e.loc, bars, empty(stage),
                           e.rem(e.add(e.div(g, stages), 1), 2));
                     });
                     Value group = stageTile(e, shared, bars, tid, kWarpgroup,
                                             itemOf(g), stage, k0Of(g), width);
                     if (!asyncCopies) {
                       arriveFull(stage);
                       return {};
                     }
                     // Step g - 1's copies have landed once at most step g's
                     // group is in flight.
                     e.ifThen(e.lt(e.idx(0), g), [&] {
                       e.b.create<nvgpu::DeviceAsyncWaitOp>(
                           e.loc, group, e.b.getI32IntegerAttr(1));
                       arriveFull(e.rem(e.add(g, stages - 1), stages));
                     });
                     return {};
                   });
            if (asyncCopies)
              e.ifThen(e.lt(e.idx(0), total), [&] {
                Value last = e.b.create<nvgpu::DeviceAsyncCreateGroupOp>(
                    e.loc, nvgpu::DeviceAsyncTokenType::get(e.b.getContext()),
                    ValueRange{});
                e.b.create<nvgpu::DeviceAsyncWaitOp>(e.loc, last,
                                                     e.b.getI32IntegerAttr(0));
                arriveFull(e.rem(e.add(total, stages - 1), stages));
              });
          }
          // The consumers.
          OpBuilder::InsertionGuard guard(e.b);
          e.b.setInsertionPoint(roles.elseBlock()->getTerminator());
          if (rebalance)
            e.b.create<NVVM::SetMaxRegisterOp>(
                loc, kConsumerRegisters, NVVM::SetMaxRegisterAction::increase);
          Value ctid = e.sub(tid, e.idx(kWarpgroup));
          int64_t perSource = kWgmmaRows * tileN / kWarpgroup;
          SmallVector<Value> init(sources.size() * perSource, e.f32(0.0));
          e.loop(
              e.idx(0), mine, e.idx(1), {},
              [&](Value n, ValueRange) -> SmallVector<Value> {
                Value base = e.mul(n, steps);
                SmallVector<Value> sums = e.loop(
                    e.idx(0), e.idx(steps), e.idx(1), init,
                    [&](Value k, ValueRange acc) -> SmallVector<Value> {
                      Value g = e.add(base, k);
                      Value stage = e.rem(g, stages);
                      e.b.create<moe_gpu::MbarrierWaitOp>(
                          e.loc, bars, full(stage), e.rem(e.div(g, stages), 2));
                      SmallVector<Value> next =
                          wgmmaStep(e, ctid, shared, stage, acc, /*pending=*/1);
                      // Step g - 1's group is done: its stage is free.
                      e.ifThen(e.lt(e.idx(0), g), [&] {
                        e.b.create<moe_gpu::MbarrierArriveOp>(
                            e.loc, bars,
                            empty(e.rem(e.add(g, stages - 1), stages)));
                      });
                      return next;
                    });
                // Every group waited for, the sums go to the epilogue.
                auto drained = e.b.create<moe_gpu::WgmmaWaitOp>(
                    e.loc, ValueRange(sums).getTypes(),
                    e.b.getI64IntegerAttr(0), sums);
                epilogueWgmma(e, ctid, itemOf(base), drained.getResults());
                return {};
              });
        },
        dynamicShared);
  }

  /// The epilogue of a wgmma tile: register i of consumer thread t of its
  /// warpgroup is element WgmmaM64NK16::d(t, i) of the warpgroup's 64 rows,
  /// the register's offset from thread 0's plus the thread's own place (its
  /// warp's 16 rows, warpgroup w's warps holding rows 64 w.., its group of
  /// four, its pair of columns).
  void epilogueWgmma(Emit &e, Value ctid, const Item &it, ValueRange sums) {
    int64_t perSource = kWgmmaRows * tileN / kWarpgroup;
    Value lane = e.rem(ctid, kWarp), warp = e.div(ctid, kWarp);
    for (int64_t i = 0; i < perSource; ++i) {
      ::moe::gpu::MatrixCoord at = ::moe::gpu::WgmmaM64NK16::d(0, int(i));
      Value row = e.add(e.add(e.mul(warp, 16), e.div(lane, 4)), at.row);
      Value col = e.add(e.mul(e.rem(lane, 4), 2), at.col);
      SmallVector<Value> values;
      for (size_t s = 0; s < sources.size(); ++s)
        values.push_back(sums[s * perSource + i]);
      finish(e, it, row, col, values);
    }
  }

  /// The two k16 steps of a 32-deep tile on tensor cores: A and B fragments
  /// by ldmatrix.x4 from the shared tiles, one mma.sync per n8 tile.
  SmallVector<Value> mmaStep(Emit &e, Value tid, ArrayRef<Value> shared,
                             Value stage, ValueRange acc) {
    Value lane = e.rem(tid, kWarp), warp = e.div(tid, kWarp);
    Value rowBase = e.mul(e.div(warp, 2), 16);
    Value colBase = e.mul(e.rem(warp, 2), 32);
    Value lane8 = e.rem(lane, 8);
    auto fragment = [&](Value tileMemref, Value row, Value col) {
      auto type = VectorType::get({4, 2}, compute);
      Value m = e.b.create<nvgpu::LdMatrixOp>(e.loc, type, tileMemref,
                                              ValueRange{stage, row, col},
                                              /*transpose=*/false,
                                              /*numTiles=*/4u);
      SmallVector<Value> registers;
      for (int64_t i = 0; i < 4; ++i) {
        Value pair = e.b.create<vector::ExtractOp>(e.loc, m, i);
        Value word = e.b.create<vector::BitCastOp>(
            e.loc, VectorType::get({1}, e.b.getI32Type()), pair);
        registers.push_back(e.b.create<vector::ExtractOp>(e.loc, word, 0));
      }
      return registers;
    };
    SmallVector<Value> next(acc.begin(), acc.end());
    for (int64_t ks = 0; ks < kTileK / 16; ++ks) {
      // A: matrices (rows 0-7 | 8-15) x (k 0-7 | 8-15), in a0..a3's order.
      SmallVector<Value> a = fragment(
          shared[0],
          e.add(e.add(rowBase, lane8), e.mul(e.rem(e.div(lane, 8), 2), 8)),
          e.add(e.mul(e.div(lane, 16), 8), ks * 16));
      for (size_t s = 0; s < sources.size(); ++s) {
        for (int64_t pair = 0; pair < 2; ++pair) {
          // B: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15,
          // k 8-15): b0, b1 of two n8 tiles.
          SmallVector<Value> bRegs = fragment(
              shared[1 + s],
              e.add(e.add(colBase, lane8),
                    e.add(e.mul(e.div(lane, 16), 8), pair * 16)),
              e.add(e.mul(e.rem(e.div(lane, 8), 2), 8), ks * 16));
          for (int64_t half = 0; half < 2; ++half) {
            int64_t tileN = pair * 2 + half;
            SmallVector<Value> registers(a);
            registers.push_back(bRegs[2 * half]);
            registers.push_back(bRegs[2 * half + 1]);
            int64_t at = s * 16 + tileN * 4;
            registers.append(next.begin() + at, next.begin() + at + 4);
            auto mma = e.b.create<moe_gpu::MmaSyncOp>(
                e.loc, SmallVector<Type>(4, e.b.getF32Type()), registers,
                e.b.getI64IntegerAttr(16), TypeAttr::get(compute));
            for (int64_t r = 0; r < 4; ++r)
              next[at + r] = mma.getD()[r];
          }
        }
      }
    }
    return next;
  }

  /// The four k16 steps of a 64-deep tile on sm_90a: for each source one
  /// wgmma m64nNk16 of each warpgroup (its 64 rows of A, all of B), the
  /// descriptors' start 32 bytes further along the swizzled rows each step;
  /// all of them one group, then a wait until at most `pending` groups run.
  /// `tid` is the thread's place among the consumers.
  SmallVector<Value> wgmmaStep(Emit &e, Value tid, ArrayRef<Value> shared,
                               Value stage, ValueRange acc, int64_t pending) {
    int64_t perSource = kWgmmaRows * tileN / kWarpgroup;
    // A's element (row 0, k) of the thread's warpgroup.
    bool several = tileM > kWgmmaRows;
    Value rows =
        several ? e.mul(e.mul(e.div(tid, kWarpgroup), kWgmmaRows), rowLength())
                : Value();
    auto aAt = [&](int64_t k) { return several ? e.add(rows, k) : e.idx(k); };
    SmallVector<Value> next(acc.begin(), acc.end());
    e.b.create<moe_gpu::WgmmaFenceOp>(e.loc);
    // 8 rows of 128 bytes between the operands' 8-row groups.
    int64_t groupBytes = 8 * kSwizzleBytes;
    for (int64_t ks = 0; ks < kWgmmaTileK / 16; ++ks) {
      for (size_t s = 0; s < sources.size(); ++s) {
        ValueRange c(ArrayRef<Value>(next).slice(s * perSource, perSource));
        auto mma = e.b.create<moe_gpu::WgmmaOp>(
            e.loc, SmallVector<Type>(perSource, e.b.getF32Type()), shared[0],
            ValueRange{stage, aAt(ks * 16)}, shared[1 + s],
            ValueRange{stage, e.idx(ks * 16)}, c, e.b.getI64IntegerAttr(tileN),
            e.b.getI64IntegerAttr(kSwizzleBytes), e.b.getI64IntegerAttr(16),
            e.b.getI64IntegerAttr(groupBytes),
            e.b.getI64IntegerAttr(groupBytes));
        for (int64_t r = 0; r < perSource; ++r)
          next[s * perSource + r] = mma.getD()[r];
      }
    }
    e.b.create<moe_gpu::WgmmaCommitOp>(e.loc);
    auto wait =
        e.b.create<moe_gpu::WgmmaWaitOp>(e.loc, ValueRange(next).getTypes(),
                                         e.b.getI64IntegerAttr(pending), next);
    return SmallVector<Value>(wait.getResults());
  }

  /// A 32-deep tile by FMA: each thread's 4 x 4 outputs per source.
  SmallVector<Value> fmaStep(Emit &e, Value tid, ArrayRef<Value> shared,
                             Value stage, ValueRange acc) {
    Value rowBase = e.mul(e.div(tid, 16), 4), colBase = e.rem(tid, 16);
    return e.loop(
        e.idx(0), e.idx(kTileK), e.idx(1), acc,
        [&](Value k, ValueRange sums) -> SmallVector<Value> {
          SmallVector<Value> a, next(sums.begin(), sums.end());
          for (int64_t i = 0; i < 4; ++i)
            a.push_back(e.load(shared[0], {stage, e.add(rowBase, i), k}));
          for (size_t s = 0; s < sources.size(); ++s)
            for (int64_t j = 0; j < 4; ++j) {
              Value w =
                  e.load(shared[1 + s], {stage, e.add(colBase, 16 * j), k});
              for (int64_t i = 0; i < 4; ++i) {
                Value &sum = next[s * 16 + i * 4 + j];
                sum = e.b.create<math::FmaOp>(e.loc, a[i], w, sum);
              }
            }
          return next;
        });
  }
};

//===----------------------------------------------------------------------===//
// The decode GEMM
//===----------------------------------------------------------------------===//

/// The decode kernels' shape: 8 warps a block, each warp 2 output columns of
/// every source, its lanes split along K in 16-byte loads, 2 loads of each
/// weight row in flight per lane, up to 4 rows of the expert's tile at a time.
constexpr int64_t kDecodeWarps = 8, kDecodeColumns = 2, kDecodeUnroll = 2;
constexpr int64_t kDecodeRows = 4;

/// The grouped projection for few tokens, when an expert has few rows and
/// its weights are the bytes to move: every weight row an expert's tile
/// needs is read once, by one warp, with 16-byte loads (`moe_gpu.load`)
/// spread over all the blocks, each lane's partial sums over its share of K
/// then reduced across the warp by shuffles (split-K within the warp). The
/// rows of a tile are taken kDecodeRows at a time, so any row count is
/// correct; past that many rows the weights are read once per group.
struct DecodeGemm {
  /// The tile table, its entries in use (`[1]`) and the expert offsets.
  Value tileExpert, tileRow, tileCount, offsets;
  /// The rows of a tile of the table (chosen per call on sm_90a).
  Value tileRows;
  int64_t columns, depth;
  Type compute;
  /// What loadA needs of row `r` of the tile, computed before the K loop.
  std::function<SmallVector<Value>(Emit &, Value)> prepareRow;
  /// `n` f32 elements of A from `k` on, for a prepared row.
  std::function<SmallVector<Value>(Emit &, ArrayRef<Value>, Value, int64_t)>
      loadA;
  SmallVector<BSource> sources;
  /// As GroupedGemm's: the expert, the row, the column, one sum per source.
  std::function<void(Emit &, Value, Value, Value, ArrayRef<Value>)> epilogue;

  void build(OpBuilder &b, Location loc, Value entries) {
    int64_t perBlock = kDecodeWarps * kDecodeColumns;
    launchOverTiles(b, loc, entries, tileCount,
                    (columns + perBlock - 1) / perBlock, kDecodeWarps * kWarp,
                    {}, tileExpert,
                    [&](Emit &e, gpu::LaunchOp op, const WorkItems &items,
                        Value item, Value carried) {
                      auto [entry, group, expert] = items.at(e, item);
                      body(e, op, expert, entry, group);
                      return carried;
                    });
  }

private:
  /// `cond ? body(values) : values`, as an scf.if.
  static SmallVector<Value>
  guarded(Emit &e, Value cond, ArrayRef<Value> values,
          function_ref<SmallVector<Value>(ArrayRef<Value>)> body) {
    auto op = e.b.create<scf::IfOp>(e.loc, ValueRange(values).getTypes(),
                                    cond, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(e.b);
      e.b.setInsertionPointToStart(op.thenBlock());
      e.b.create<scf::YieldOp>(e.loc, body(values));
      e.b.setInsertionPointToStart(op.elseBlock());
      e.b.create<scf::YieldOp>(e.loc, values);
    }
    return SmallVector<Value>(op.getResults());
  }

  /// The rows of table entry `entry` for column group `group`.
  void body(Emit &e, gpu::LaunchOp op, Value expert, Value entry, Value group) {
    Type f32 = e.b.getF32Type();
    Value tid = op.getThreadIds().x;
    Value lane = e.rem(tid, kWarp), warp = e.div(tid, kWarp);
    Value first = e.toIndex(e.load(tileRow, entry));
    Value end = e.b.create<arith::MinUIOp>(
        e.loc, e.add(first, tileRows),
        e.toIndex(e.load(offsets, e.add(expert, 1))));
    Value column0 =
        e.mul(e.add(e.mul(group, kDecodeWarps), warp), kDecodeColumns);
    int64_t n = kCopyBytes / (compute.getIntOrFloatBitWidth() / 8);
    int64_t stride = kWarp * n;
    int64_t numSources = sources.size();
    // The weight row each source and column reads; columns past the end
    // read the last one, and their sums are dropped.
    SmallVector<Value> column(kDecodeColumns), valid(kDecodeColumns);
    SmallVector<Value> weightRow(numSources * kDecodeColumns);
    for (int64_t c = 0; c < kDecodeColumns; ++c) {
      Value j = e.add(column0, c);
      valid[c] = e.lt(j, e.idx(columns));
      column[c] = e.select(valid[c], j, e.idx(columns - 1));
      for (int64_t s = 0; s < numSources; ++s)
        weightRow[s * kDecodeColumns + c] = sources[s].rowKey(e, column[c]);
    }
    auto at = [&](int64_t i, int64_t s, int64_t c) {
      return (i * numSources + s) * kDecodeColumns + c;
    };
    // Uniform in the block: the tile's rows, kDecodeRows at a time.
    e.loop(first, end, e.idx(kDecodeRows), {},
           [&](Value rowBase, ValueRange) -> SmallVector<Value> {
      Value rows = e.b.create<arith::MinUIOp>(e.loc, e.idx(kDecodeRows),
                                              e.sub(end, rowBase));
      SmallVector<SmallVector<Value>> prepared;
      SmallVector<Value> present;
      for (int64_t i = 0; i < kDecodeRows; ++i) {
        present.push_back(e.lt(e.idx(i), rows));
        Value r = e.add(rowBase, i);
        prepared.push_back(
            prepareRow(e, e.select(present[i], r, e.sub(end, e.idx(1)))));
      }
      SmallVector<Value> init(kDecodeRows * numSources * kDecodeColumns,
                              e.f32(0.0));
      SmallVector<Value> sums = e.loop(
          e.mul(lane, n), e.idx(depth), e.idx(stride * kDecodeUnroll), init,
          [&](Value k, ValueRange acc) -> SmallVector<Value> {
            // Every load of the step first, then the products.
            SmallVector<Value> ks, inDepth, w;
            for (int64_t u = 0; u < kDecodeUnroll; ++u) {
              Value ku = e.add(k, u * stride);
              inDepth.push_back(u ? e.lt(ku, e.idx(depth)) : Value());
              ks.push_back(u ? e.select(inDepth[u], ku, e.idx(0)) : ku);
              for (int64_t s = 0; s < numSources; ++s)
                for (int64_t c = 0; c < kDecodeColumns; ++c) {
                  // Kept packed until the products: 4 registers a load.
                  auto [memref, indices] = sources[s].at(
                      e, expert, weightRow[s * kDecodeColumns + c], ks[u]);
                  w.push_back(e.b.create<moe_gpu::LoadOp>(
                      e.loc, VectorType::get({n}, compute), memref, indices));
                }
            }
            SmallVector<Value> next(acc.begin(), acc.end());
            for (int64_t u = 0; u < kDecodeUnroll; ++u) {
              auto step = [&](ArrayRef<Value> current) -> SmallVector<Value> {
                SmallVector<Value> updated(current.begin(), current.end());
                for (int64_t i = 0; i < kDecodeRows; ++i) {
                  SmallVector<Value> mine;
                  for (int64_t s = 0; s < numSources; ++s)
                    for (int64_t c = 0; c < kDecodeColumns; ++c)
                      mine.push_back(updated[at(i, s, c)]);
                  mine = guarded(e, present[i], mine,
                                 [&](ArrayRef<Value> old) {
                    SmallVector<Value> out(old.begin(), old.end());
                    SmallVector<Value> a = loadA(e, prepared[i], ks[u], n);
                    for (int64_t s = 0; s < numSources; ++s)
                      for (int64_t c = 0; c < kDecodeColumns; ++c) {
                        Value &sum = out[s * kDecodeColumns + c];
                        Value wv =
                            w[(u * numSources + s) * kDecodeColumns + c];
                        for (int64_t q = 0; q < n; ++q)
                          sum = e.b.create<math::FmaOp>(
                              e.loc, a[q],
                              e.convert(
                                  e.b.create<vector::ExtractOp>(e.loc, wv, q),
                                  f32),
                              sum);
                      }
                    return out;
                  });
                  for (int64_t s = 0; s < numSources; ++s)
                    for (int64_t c = 0; c < kDecodeColumns; ++c)
                      updated[at(i, s, c)] = mine[s * kDecodeColumns + c];
                }
                return updated;
              };
              next = u ? guarded(e, inDepth[u], next, step) : step(next);
            }
            return next;
          });
      // Each present row: the lanes' sums reduced across the warp; lane c
      // finishes column c.
      WarpMath warpMath{e};
      for (int64_t i = 0; i < kDecodeRows; ++i) {
        e.ifThen(present[i], [&] {
          SmallVector<Value> total(numSources * kDecodeColumns);
          for (int64_t s = 0; s < numSources; ++s)
            for (int64_t c = 0; c < kDecodeColumns; ++c)
              total[s * kDecodeColumns + c] = warpMath.sum(sums[at(i, s, c)]);
          for (int64_t c = 0; c < kDecodeColumns; ++c)
            e.ifThen(e.both(valid[c], e.eq(lane, e.idx(c))), [&] {
              SmallVector<Value> values;
              for (int64_t s = 0; s < numSources; ++s)
                values.push_back(total[s * kDecodeColumns + c]);
              epilogue(e, expert, e.add(rowBase, i), column[c], values);
            });
        });
      }
      return {};
    });
  }
};

//===----------------------------------------------------------------------===//
// The chain
//===----------------------------------------------------------------------===//

/// The operands of a dispatch → experts → combine chain this pass lowers.
struct Chain {
  DispatchOp dispatch;
  ExpertsOp experts;
  CombineOp combine;
};

/// Why the chain at `combine` cannot run on these kernels, or "".
std::string unsupported(CombineOp combine, Chain &chain, Type compute) {
  auto experts = combine.getExpertRows().getDefiningOp<ExpertsOp>();
  if (!experts || !experts->hasOneUse())
    return "its rows do not come from moe.experts alone";
  auto dispatch = experts.getRows().getDefiningOp<DispatchOp>();
  if (!dispatch || experts.getOffsets() != dispatch.getOffsets() ||
      combine.getPermutation() != dispatch.getPermutation() ||
      !dispatch.getRows().hasOneUse())
    return "its experts' rows and offsets, and its permutation, do not come "
           "from one moe.dispatch";
  auto tokens = cast<RankedTensorType>(dispatch.getTokens().getType());
  auto gateUp = cast<RankedTensorType>(experts.getGateUp().getType());
  auto down = cast<RankedTensorType>(experts.getDown().getType());
  if (!gateUp.hasStaticShape() || !down.hasStaticShape() ||
      tokens.isDynamicDim(1))
    return "its weights or hidden size are dynamic";
  for (Value v : {dispatch.getOffsets(), dispatch.getPermutation()})
    if (!cast<ShapedType>(v.getType()).getElementType().isInteger(32))
      return "its offsets or permutation are not i32";
  int64_t perCopy = kCopyBytes / (compute.getIntOrFloatBitWidth() / 8);
  if (tokens.getDimSize(1) % perCopy || down.getDimSize(2) % perCopy)
    return "its hidden and intermediate sizes are not multiples of " +
           std::to_string(perCopy) + " (16-byte rows)";
  chain = {dispatch, experts, combine};
  return "";
}

/// The chain as a moe_gpu.routed_ffn on the buffers of its operands, its
/// results' buffers allocated here; with `tiles`, a 16-bit compute type and
/// constant weights, its weights as sm_90a's tiles.
void lowerChain(const Chain &chain, Type compute, bool tiles) {
  DispatchOp dispatch = chain.dispatch;
  ExpertsOp experts = chain.experts;
  CombineOp combine = chain.combine;
  OpBuilder b(combine);
  Location loc = combine.getLoc();
  Emit h{b, loc};
  auto tokensType = cast<RankedTensorType>(dispatch.getTokens().getType());
  int64_t k = cast<ShapedType>(dispatch.getIds().getType()).getDimSize(1);
  int64_t slots =
      cast<ShapedType>(experts.getGateUp().getType()).getDimSize(0) + 1;
  Value tokensCount = b.create<tensor::DimOp>(loc, dispatch.getTokens(), 0);
  Value assignments = h.mul(tokensCount, k);
  // The weights in the compute type first: every tensor is final before
  // the first buffer is taken, so that bufferization reuses none of them.
  Value gateUp = weightIn(b, loc, experts.getGateUp(), compute);
  Value up = experts.getUp() ? weightIn(b, loc, experts.getUp(), compute)
                             : Value();
  Value down = weightIn(b, loc, experts.getDown(), compute);
  int64_t hidden = tokensType.getDimSize(1);
  int64_t inter = cast<RankedTensorType>(down.getType()).getDimSize(2);
  IntegerAttr intermediate;
  if (tiles && !compute.isF32()) {
    SmallVector<SourceRows> sources{{gateUp, 1, 0}};
    switch (experts.getActivation().getGated()) {
    case GateLayout::None:
      break;
    case GateLayout::Concatenated:
      sources.push_back({gateUp, 1, inter});
      break;
    case GateLayout::Interleaved:
      sources.assign({{gateUp, 2, 0}, {gateUp, 2, 1}});
      break;
    case GateLayout::Separate:
      sources.push_back({up, 1, 0});
      break;
    }
    Value gateUpTiles = tilesOf(b, loc, sources, inter, compute);
    Value downTiles = gateUpTiles
                          ? tilesOf(b, loc, {{down, 1, 0}}, hidden, compute)
                          : Value();
    if (downTiles) {
      gateUp = gateUpTiles;
      up = Value();
      down = downTiles;
      intermediate = b.getI64IntegerAttr(inter);
    } else if (gateUpTiles) {
      gateUpTiles.getDefiningOp()->erase();
    }
  }
  auto buffer = [&](Value v) { return v ? bufferOf(b, loc, v) : Value(); };
  Type i32 = b.getI32Type();
  int64_t dyn = ShapedType::kDynamic;
  Value offsets =
      b.create<memref::AllocOp>(loc, MemRefType::get({slots}, i32));
  Value permutation = b.create<memref::AllocOp>(
      loc, MemRefType::get({dyn}, i32), assignments);
  Value result = b.create<memref::AllocOp>(
      loc, MemRefType::get(tokensType.getShape(), tokensType.getElementType()),
      tokensType.isDynamicDim(0) ? ValueRange{tokensCount} : ValueRange{});
  b.create<moe_gpu::RoutedFfnOp>(
      loc, buffer(dispatch.getTokens()), buffer(dispatch.getIds()),
      buffer(dispatch.getWeights()), buffer(combine.getWeights()),
      buffer(gateUp), buffer(up), buffer(down), buffer(experts.getGateUpBias()),
      buffer(experts.getUpBias()), buffer(experts.getDownBias()), offsets,
      permutation, result, experts.getActivation(), TypeAttr::get(compute),
      intermediate);
  auto tensorOf = [&](Value memref) {
    return b.create<bufferization::ToTensorOp>(loc, memref, /*restrict=*/true,
                                               /*writable=*/true);
  };
  combine.getResult().replaceAllUsesWith(tensorOf(result));
  // The dispatch's offsets and permutation where they are used past the
  // chain (experts and combine go first).
  bool offsetsUsed = !llvm::all_of(dispatch.getOffsets().getUsers(),
                                   [&](Operation *user) { return user == experts; });
  bool permutationUsed =
      !llvm::all_of(dispatch.getPermutation().getUsers(),
                    [&](Operation *user) { return user == combine; });
  Value offsetsTensor = offsetsUsed ? tensorOf(offsets) : Value();
  Value permutationTensor = permutationUsed ? tensorOf(permutation) : Value();
  combine->erase();
  experts->erase();
  if (offsetsTensor)
    dispatch.getOffsets().replaceAllUsesWith(offsetsTensor);
  if (permutationTensor)
    dispatch.getPermutation().replaceAllUsesWith(permutationTensor);
  dispatch->erase();
}

/// moe_gpu.routed_ffn → its four kernels, with its scratch buffers; the
/// projections are the decode kernels when there are at most `decodeTokens`
/// tokens (the host decides, from T alone), else the grouped GEMMs, on
/// wgmma when `wgmma` (sm_90a) and the compute type is 16-bit. With
/// `atomicCombine` the down projection adds its rows into the output itself.
void expandFfn(moe_gpu::RoutedFfnOp op, int64_t decodeTokens,
               int64_t wideTokens, bool wgmma, bool atomicCombine) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  Emit h{b, loc};
  Type i32 = b.getI32Type();
  Type compute = op.getCompute();
  auto act = cast<ActivationAttr>(op.getActivation());
  GateLayout gated = act.getGated();
  Value x = op.getTokens(), ids = op.getIds(), scale = op.getScale();
  Value combineWeights = op.getWeights();
  Value gateUp = op.getGateUp(), up = op.getUp(), down = op.getDown();
  Value gateUpBias = op.getGateUpBias(), upBias = op.getUpBias();
  Value downBias = op.getDownBias();
  Value offsets = op.getOffsets(), permutation = op.getPermutation();
  Value result = op.getResult();
  auto tokensType = cast<MemRefType>(x.getType());
  Type element = cast<MemRefType>(result.getType()).getElementType();
  int64_t hidden = tokensType.getDimSize(1);
  int64_t k = cast<MemRefType>(ids.getType()).getDimSize(1);
  int64_t numExperts = cast<MemRefType>(gateUp.getType()).getDimSize(0);
  bool tiled = op.isTiled();
  int64_t inter = tiled ? op.getTiledIntermediate()
                        : cast<MemRefType>(down.getType()).getDimSize(2);
  int64_t slots = numExperts + 1;
  wgmma = wgmma && !compute.isF32();
  Value tokensCount = b.create<memref::DimOp>(loc, x, 0);
  Value assignments = h.mul(tokensCount, k);
  // The tile table's rows per tile: the GEMMs' M tile. On sm_90a it is
  // chosen per call: 128 rows (two warpgroups) above `wideTokens` tokens
  // (by default where the experts average more than 64 rows), so that each
  // weight tile is read half as often; else 64, so that an expert's few rows
  // take half a tile's work.
  int64_t tileM = wgmma ? kWgmmaRows : kTileM;
  Value wide = wgmma ? h.lt(h.idx(wideTokens), tokensCount) : Value();
  Value tileRows =
      wide ? h.select(wide, h.idx(kWgmmaWideRows), h.idx(kWgmmaRows))
           : h.idx(tileM);

  SmallVector<Value> scratch;
  auto alloc = [&](ArrayRef<int64_t> shape, Type type, ValueRange dynamic) {
    Value buffer =
        b.create<memref::AllocOp>(loc, MemRefType::get(shape, type), dynamic);
    scratch.push_back(buffer);
    return buffer;
  };
  int64_t dyn = ShapedType::kDynamic;
  // At most one partial tile per expert that has rows (the table's entries
  // for the narrowest tiles).
  Value maxTiles =
      h.add(h.ceilDiv(assignments, tileM),
            b.create<arith::MinUIOp>(loc, assignments, h.idx(numExperts)));
  Value grid = b.create<arith::MaxUIOp>(loc, maxTiles, h.idx(1));
  Value inverse = alloc({dyn}, i32, assignments);
  Value tileExpert = alloc({dyn}, i32, grid);
  Value tileRow = alloc({dyn}, i32, grid);
  Value tileCount = alloc({1}, i32, {});
  Value hiddenRows = alloc({dyn, inter}, compute, assignments);
  Value expertRows =
      atomicCombine ? Value() : alloc({dyn, hidden}, element, assignments);
  // The output's elements, a thread each: combined in order, or zeroed for
  // the down projection's atomic adds.
  Value elements = h.mul(tokensCount, hidden);
  Value combineGrid = b.create<arith::MaxUIOp>(
      loc, h.ceilDiv(elements, kCombineThreads), h.idx(1));
  auto perElement = [&](function_ref<void(Emit &, Value, Value)> body) {
    launch(b, loc, combineGrid, h.idx(1), kCombineThreads, {},
           [&](OpBuilder &kb, gpu::LaunchOp op) {
             Emit e{kb, loc};
             Value linear = e.add(e.mul(op.getBlockIds().x, kCombineThreads),
                                  op.getThreadIds().x);
             e.ifThen(e.lt(linear, elements), [&] {
               body(e, e.div(linear, hidden), e.rem(linear, hidden));
             });
           });
  };
  if (atomicCombine)
    perElement([&](Emit &e, Value t, Value col) {
      e.store(e.b.create<arith::ConstantOp>(e.loc, element,
                                            e.b.getFloatAttr(element, 0.0)),
              result, {t, col});
    });

  // align: counts, offsets, the tile table, the placement.
  SmallVector<Type> alignShared{sharedType({slots}, i32),
                                sharedType({slots}, i32),
                                sharedType({slots}, i32)};
  launch(b, loc, h.idx(1), h.idx(1), kAlignThreads, alignShared,
         [&](OpBuilder &kb, gpu::LaunchOp op) {
           Emit e{kb, loc};
           Value tid = op.getThreadIds().x;
           Value lane = e.rem(tid, kWarp), warp = e.div(tid, kWarp);
           Value counts = op.getWorkgroupAttributions()[0];
           Value base = op.getWorkgroupAttributions()[1];
           Value tileBase = op.getWorkgroupAttributions()[2];
           Value chunks = e.ceilDiv(assignments, kWarp);
           Value c0 = e.idx(0), c1 = e.idx(1);
           // The slot of assignment `a`, when `a` is in range: its expert,
           // or E for an id of no routed expert (dropped, or a
           // zero-computation expert).
           auto slotOf = [&](Value a) {
             Value id = e.load(ids, {e.div(a, k), e.rem(a, k)});
             Value id64 = e.toIndex(id);
             Value routed = e.both(e.lt(id64, e.idx(numExperts)),
                                   e.lt(e.idx(-1), id64));
             return e.select(routed, id64, e.idx(numExperts));
           };
           // Per warp and slot, over the assignments 32 at a time: which
           // lanes' assignments are the slot's.
           auto forSlots = [&](function_ref<void(Value, Value)> perSlot) {
             e.loop(c0, e.idx(slots), e.idx(kAlignWarps), {},
                    [&](Value slotBase, ValueRange) -> SmallVector<Value> {
                      perSlot(e.add(slotBase, warp),
                              e.lt(e.add(slotBase, warp), e.idx(slots)));
                      return {};
                    });
           };
           auto matches = [&](Value chunk, Value slot, Value &a, Value &mine) {
             a = e.add(e.mul(chunk, kWarp), lane);
             Value inRange = e.lt(a, assignments);
             Value s = slotOf(e.select(inRange, a, c0));
             mine = e.both(inRange, e.eq(s, slot));
             return e.ballot(mine);
           };
           forSlots([&](Value slot, Value active) {
             Value count = e.loop(c0, chunks, c1, {e.i32(0)},
                                  [&](Value chunk, ValueRange acc)
                                      -> SmallVector<Value> {
                                    Value a, mine;
                                    Value mask = matches(chunk, slot, a, mine);
                                    return {e.b.create<arith::AddIOp>(
                                        e.loc, acc[0], e.popc(mask))};
                                  })[0];
             e.ifThen(e.both(active, e.eq(lane, c0)),
                      [&] { e.store(count, counts, slot); });
           });
           e.barrier();
           // The offsets and each expert's first tile: an exclusive scan of
           // the counts (and of the tiles they take), 32 slots at a time by
           // shuffles. Every warp scans, so that the shuffles run in the
           // whole block; warp 0 writes.
           auto scan = [&](Value v) {
             for (int64_t offset = 1; offset < kWarp; offset *= 2) {
               Value up = e.b.create<gpu::ShuffleOp>(e.loc, v, e.i32(offset),
                                                     e.i32(kWarp),
                                                     gpu::ShuffleMode::UP)
                              .getShuffleResult();
               v = e.b.create<arith::AddIOp>(
                   e.loc, v, e.select(e.lt(lane, e.idx(offset)), e.i32(0), up));
             }
             return v;
           };
           auto last = [&](Value v) {
             return e.b
                 .create<gpu::ShuffleOp>(e.loc, v, e.i32(kWarp - 1),
                                         e.i32(kWarp), gpu::ShuffleMode::IDX)
                 .getShuffleResult();
           };
           Value rows32 = e.toI32(tileRows);
           auto tilesOf = [&](Value count) {
             return e.b.create<arith::CeilDivUIOp>(e.loc, count, rows32);
           };
           SmallVector<Value> total = e.loop(
               c0, e.idx(slots), e.idx(kWarp), {e.i32(0), e.i32(0)},
               [&](Value first, ValueRange acc) -> SmallVector<Value> {
                 Value s = e.add(first, lane);
                 Value inRange = e.lt(s, e.idx(slots));
                 Value count = e.select(
                     inRange, e.load(counts, e.select(inRange, s, c0)),
                     e.i32(0));
                 Value tiles = e.select(e.lt(s, e.idx(numExperts)),
                                        tilesOf(count), e.i32(0));
                 Value rows = scan(count), taken = scan(tiles);
                 e.ifThen(e.both(inRange, e.lt(warp, c1)), [&] {
                   Value start = e.b.create<arith::AddIOp>(
                       e.loc, acc[0],
                       e.b.create<arith::SubIOp>(e.loc, rows, count));
                   e.store(start, base, s);
                   e.store(start, offsets, s);
                   e.store(e.b.create<arith::AddIOp>(
                               e.loc, acc[1],
                               e.b.create<arith::SubIOp>(e.loc, taken, tiles)),
                           tileBase, s);
                 });
                 return {e.b.create<arith::AddIOp>(e.loc, acc[0], last(rows)),
                         e.b.create<arith::AddIOp>(e.loc, acc[1], last(taken))};
               });
           // The entries in use, which the GEMMs' blocks take their work from.
           e.ifThen(e.eq(tid, c0), [&] { e.store(total[1], tileCount, c0); });
           e.barrier();
           // The table: a warp per expert writes its tiles (the entries past
           // those in use are not read).
           forSlots([&](Value slot, Value active) {
             Value expert = e.both(active, e.lt(slot, e.idx(numExperts)));
             Value at = e.select(expert, slot, c0);
             Value mine = e.select(expert, e.toIndex(tilesOf(e.load(counts, at))),
                                   c0);
             Value firstTile = e.toIndex(e.load(tileBase, at));
             Value firstRow = e.load(base, at);
             e.loop(lane, mine, e.idx(kWarp), {},
                    [&](Value i, ValueRange) -> SmallVector<Value> {
                      Value entry = e.add(firstTile, i);
                      e.store(e.toI32(slot), tileExpert, entry);
                      e.store(e.b.create<arith::AddIOp>(
                                  e.loc, firstRow, e.toI32(e.mul(i, tileRows))),
                              tileRow, entry);
                      return {};
                    });
           });
           // The placement: a slot's assignments in order, each lane's
           // rank the matching lanes below it.
           forSlots([&](Value slot, Value active) {
             Value start =
                 e.load(base, e.select(active, slot, c0));
             e.loop(c0, chunks, c1, {start},
                    [&](Value chunk, ValueRange acc) -> SmallVector<Value> {
                      Value a, mine;
                      Value mask = matches(chunk, slot, a, mine);
                      Value below = e.b.create<arith::SubIOp>(
                          e.loc,
                          e.b.create<arith::ShLIOp>(e.loc, e.i32(1),
                                                    e.toI32(lane)),
                          e.i32(1));
                      Value rank = e.popc(
                          e.b.create<arith::AndIOp>(e.loc, mask, below));
                      e.ifThen(e.both(active, mine), [&] {
                        Value row =
                            e.b.create<arith::AddIOp>(e.loc, acc[0], rank);
                        e.store(e.toI32(a), permutation, e.toIndex(row));
                        e.store(row, inverse, a);
                      });
                      return {e.b.create<arith::AddIOp>(e.loc, acc[0],
                                                        e.popc(mask))};
                    });
           });
         });

  // gate/up: the rows gathered through the permutation (scaled by their
  // routing weight with scale_inputs), the activation in the epilogue.
  auto gateRow = [&](Emit &e, Value j) -> Value {
    return gated == GateLayout::Interleaved ? e.mul(j, 2) : j;
  };
  auto upRow = [&](Emit &e, Value j) -> Value {
    if (gated == GateLayout::Interleaved)
      return e.add(e.mul(j, 2), 1);
    if (gated == GateLayout::Concatenated)
      return e.add(j, inter);
    return j;
  };
  GroupedGemm first;
  first.tileExpert = tileExpert;
  first.tileRow = tileRow;
  first.tileCount = tileCount;
  first.offsets = offsets;
  first.columns = inter;
  first.depth = hidden;
  first.compute = compute;
  // Gate/up's A: row r of the dispatched rows is its token's row (the
  // permutation says which), times the routing weight with scale_inputs.
  // tokenRow gives the token and the weight, tokenElement an f32 element.
  auto tokenRow = [&](Emit &e, Value r) -> SmallVector<Value> {
    Value a = e.toIndex(e.load(permutation, r));
    Value t = e.div(a, k);
    if (!scale)
      return {t};
    return {t, e.convert(e.load(scale, {t, e.rem(a, k)}), e.b.getF32Type())};
  };
  auto tokenElement = [&](Emit &e, ArrayRef<Value> row, Value col) {
    Value v = e.convert(e.load(x, {row[0], col}), e.b.getF32Type());
    if (row.size() > 1)
      v = e.b.create<arith::MulFOp>(e.loc, v, row[1]);
    return v;
  };
  first.prepareRow = tokenRow;
  first.loadA = [&](Emit &e, ArrayRef<Value> row, Value col, int64_t n) {
    SmallVector<Value> values;
    for (int64_t q = 0; q < n; ++q)
      values.push_back(tokenElement(e, row, e.add(col, q)));
    return values;
  };
  if (tiled) {
    first.sources.push_back({Value(), gateRow, gateUp, 0});
    if (gated != GateLayout::None)
      first.sources.push_back({Value(), upRow, gateUp, 1});
  } else {
    first.sources.push_back({gateUp, gateRow});
    if (gated == GateLayout::Separate)
      first.sources.push_back({up, upRow});
    else if (gated != GateLayout::None)
      first.sources.push_back({gateUp, upRow});
  }
  first.epilogue = [&](Emit &e, Value expert, Value r, Value j,
                       ArrayRef<Value> sums) {
    auto withBias = [&](Value sum, Value biasMemref, Value row) {
      if (!biasMemref)
        return sum;
      return e.b.create<arith::AddFOp>(
                 e.loc, sum,
                 e.convert(e.load(biasMemref, {expert, row}),
                           e.b.getF32Type()))
          .getResult();
    };
    Value gate = withBias(sums[0], gateUpBias, gateRow(e, j));
    Value upValue;
    if (sums.size() > 1)
      upValue = gated == GateLayout::Separate
                    ? withBias(sums[1], upBias, j)
                    : withBias(sums[1], gateUpBias, upRow(e, j));
    Value y = ::moe::activateScalar(e.b, e.loc, act, gate, upValue);
    e.store(e.convert(y, compute), hiddenRows, {r, j});
  };

  // down: the intermediate rows as they lie.
  GroupedGemm second = first;
  second.columns = hidden;
  second.depth = inter;
  second.prepareRow = nullptr;
  second.loadA = nullptr;
  second.aRows = hiddenRows;
  auto sameRow = [](Emit &, Value j) { return j; };
  second.sources = {tiled ? BSource{Value(), sameRow, down, 0}
                          : BSource{down, sameRow}};
  second.epilogue = [&](Emit &e, Value expert, Value r, Value j,
                        ArrayRef<Value> sums) {
    Value y = sums[0];
    if (downBias)
      y = e.b.create<arith::AddFOp>(
          e.loc, y,
          e.convert(e.load(downBias, {expert, j}), e.b.getF32Type()));
    if (!atomicCombine) {
      e.store(e.convert(y, element), expertRows, {r, j});
      return;
    }
    // Row r is assignment a = permutation[r] of token a / k: its routing
    // weight times the row, added into the token's output.
    Value a = e.toIndex(e.load(permutation, r));
    Value t = e.div(a, k);
    Value w = e.load(combineWeights, {t, e.rem(a, k)});
    e.b.create<memref::AtomicRMWOp>(
        e.loc, arith::AtomicRMWKind::addf,
        e.b.create<arith::MulFOp>(e.loc, w, e.convert(y, element)), result,
        ValueRange{t, j});
  };

  // The decode kernels: the same projections and epilogues. Gate/up reads
  // its token's row through the permutation; down, the intermediate rows by
  // 16-byte loads.
  DecodeGemm decodeFirst{tileExpert,  tileRow,       tileCount,
                         offsets,     tileRows,      inter,
                         hidden,      compute,       tokenRow,
                         first.loadA, first.sources, first.epilogue};
  DecodeGemm decodeSecond = decodeFirst;
  decodeSecond.columns = hidden;
  decodeSecond.depth = inter;
  decodeSecond.sources = second.sources;
  decodeSecond.epilogue = second.epilogue;
  decodeSecond.prepareRow = [](Emit &, Value r) -> SmallVector<Value> {
    return {r};
  };
  decodeSecond.loadA = [&](Emit &e, ArrayRef<Value> row, Value col,
                           int64_t n) {
    Value v = e.b.create<moe_gpu::LoadOp>(
        e.loc, VectorType::get({n}, compute), hiddenRows,
        ValueRange{row[0], col});
    SmallVector<Value> values;
    for (int64_t q = 0; q < n; ++q)
      values.push_back(e.convert(e.b.create<vector::ExtractOp>(e.loc, v, q),
                                 e.b.getF32Type()));
    return values;
  };
  // Past the decode bound the GEMMs; on sm_90a those for the table's rows
  // of this call.
  auto buildGemms = [&] {
    if (!wgmma) {
      first.build(b, loc, grid);
      second.build(b, loc, grid);
      return;
    }
    auto branch = b.create<scf::IfOp>(loc, wide, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    for (auto [block, rows] : {std::pair{branch.thenBlock(), kWgmmaWideRows},
                               std::pair{branch.elseBlock(), kWgmmaRows}}) {
      b.setInsertionPointToStart(block);
      for (GroupedGemm gemm : {first, second}) {
        gemm.wgmmaShape(rows);
        gemm.build(b, loc, grid);
      }
    }
  };
  if (decodeTokens > 0) {
    auto branch = b.create<scf::IfOp>(
        loc, h.lt(tokensCount, h.idx(decodeTokens + 1)),
        /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(branch.thenBlock());
    decodeFirst.build(b, loc, grid);
    decodeSecond.build(b, loc, grid);
    b.setInsertionPointToStart(branch.elseBlock());
    buildGemms();
  } else {
    buildGemms();
  }

  // combine: a thread per output element, its token's k rows in order.
  if (!atomicCombine)
    perElement([&](Emit &e, Value t, Value col) {
      Value routedEnd = e.load(offsets, e.idx(numExperts));
      Value zero = e.b.create<arith::ConstantOp>(
          e.loc, element, e.b.getFloatAttr(element, 0.0));
      Value sum = zero;
      for (int64_t j = 0; j < k; ++j) {
        Value a = e.add(e.mul(t, k), j);
        Value row32 = e.load(inverse, a);
        Value routed = e.lt(row32, routedEnd);
        Value row = e.toIndex(e.select(routed, row32, e.i32(0)));
        Value v = e.select(routed, e.load(expertRows, {row, col}), zero);
        Value w = e.load(combineWeights, {t, e.idx(j)});
        sum = e.b.create<arith::AddFOp>(e.loc, sum,
                                        e.b.create<arith::MulFOp>(e.loc, w, v));
      }
      e.store(sum, result, {t, col});
    });

  for (Value buffer : scratch)
    b.create<memref::DeallocOp>(loc, buffer);
  op->erase();
}

//===----------------------------------------------------------------------===//
// Routing: a warp per token
//===----------------------------------------------------------------------===//

constexpr int64_t kRouteWarps = 4;
constexpr int64_t kMaxRoutePerLane = 8; // E <= 256
constexpr int64_t kMaxRouteK = 16;

/// Why `op` cannot run as a warp per token, or "".
std::string unsupportedRoute(RouteOp op) {
  RoutingAttr routing = op.getRouting();
  auto logits = cast<RankedTensorType>(op.getLogits().getType());
  int64_t experts = logits.getDimSize(1);
  if (ShapedType::isDynamic(experts) || experts > kWarp * kMaxRoutePerLane)
    return "it has more than " + std::to_string(kWarp * kMaxRoutePerLane) +
           " experts, or a dynamic number of them";
  if (routing.getKind() == RoutingKind::SparseMixer)
    return "the sparse mixer's weights are computed serially";
  if (!routing.getCapacityFactor().isZero())
    return "capacity dropping needs the assignments in token order";
  if (routing.getK() > kMaxRouteK || routing.getK() > experts)
    return "k is over " + std::to_string(kMaxRouteK) + " or the expert count";
  int64_t groups = routing.getNumGroups();
  if (groups > 1 && (groups > kWarp || experts % groups))
    return "its groups do not split the experts evenly into at most 32";
  return "";
}

void lowerRoute(RouteOp op) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  auto weightsType = cast<RankedTensorType>(op.getWeights().getType());
  auto idsType = cast<RankedTensorType>(op.getIds().getType());
  SmallVector<Value> dynamic;
  if (weightsType.isDynamicDim(0))
    dynamic.push_back(b.create<tensor::DimOp>(loc, op.getLogits(), 0));
  Value weights = b.create<memref::AllocOp>(
      loc, MemRefType::get(weightsType.getShape(), weightsType.getElementType()),
      dynamic);
  Value ids = b.create<memref::AllocOp>(
      loc, MemRefType::get(idsType.getShape(), idsType.getElementType()),
      dynamic);
  Value bias = op.getBias() ? bufferOf(b, loc, op.getBias()) : Value();
  b.create<moe_gpu::RouteOp>(loc, bufferOf(b, loc, op.getLogits()), bias,
                             weights, ids, op.getRouting());
  Value w = b.create<bufferization::ToTensorOp>(loc, weights, true, true);
  Value i = b.create<bufferization::ToTensorOp>(loc, ids, true, true);
  op.getWeights().replaceAllUsesWith(w);
  op.getIds().replaceAllUsesWith(i);
  op->erase();
}

/// moe_gpu.route → one kernel: warp w of block b routes token 4 b + w, each
/// lane holding the scores of columns lane, lane + 32, ...
void expandRoute(moe_gpu::RouteOp op) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  Emit h{b, loc};
  auto routing = cast<RoutingAttr>(op.getRouting());
  RoutingKind kind = routing.getKind();
  Value logits = op.getLogits(), bias = op.getBias();
  Value weightsOut = op.getWeights(), idsOut = op.getIds();
  int64_t experts = cast<MemRefType>(logits.getType()).getDimSize(1);
  int64_t k = routing.getK();
  int64_t perLane = (experts + kWarp - 1) / kWarp;
  int64_t groups = routing.getNumGroups();
  Type element = cast<MemRefType>(weightsOut.getType()).getElementType();
  Type idType = cast<MemRefType>(idsOut.getType()).getElementType();
  Value tokens = b.create<memref::DimOp>(loc, logits, 0);
  Value grid = h.ceilDiv(tokens, kRouteWarps);
  // No launch without tokens: a warp reads its token's logits before it
  // knows whether the token exists.
  auto any = b.create<scf::IfOp>(loc, h.lt(h.idx(0), tokens), false);
  b.setInsertionPointToStart(any.thenBlock());
  launch(b, loc, grid, h.idx(1), kRouteWarps * kWarp, {},
         [&](OpBuilder &kb, gpu::LaunchOp launchOp) {
    Emit e{kb, loc};
    WarpMath warp{e};
    OpBuilder &bb = e.b;
    Type f32 = bb.getF32Type();
    Value tid = launchOp.getThreadIds().x;
    Value lane = e.rem(tid, kWarp);
    Value token = e.add(e.mul(launchOp.getBlockIds().x, kRouteWarps),
                        e.div(tid, kWarp));
    Value exists = e.lt(token, tokens);
    // Every lane of every warp computes (shuffles are warp-wide); a token
    // past the end reads the last one's logits and writes nothing.
    Value t = e.select(exists, token, e.sub(tokens, e.idx(1)));
    Value negInf = e.f32(-INFINITY), posInf = e.f32(INFINITY);
    Value nan = e.f32(NAN);
    SmallVector<Value> column(perLane), valid(perLane), logit(perLane);
    for (int64_t i = 0; i < perLane; ++i) {
      column[i] = e.add(lane, i * kWarp);
      valid[i] = e.lt(column[i], e.idx(experts));
      Value c = e.select(valid[i], column[i], e.idx(0));
      logit[i] = e.convert(e.load(logits, {t, c}), f32);
    }
    // Softmax statistics over the valid columns.
    Value max, sum;
    if (kind == RoutingKind::SoftmaxTopK) {
      max = negInf;
      for (int64_t i = 0; i < perLane; ++i)
        max = bb.create<arith::MaximumFOp>(
            e.loc, max, e.select(valid[i], logit[i], negInf));
      max = warp.maximum(max);
      sum = e.f32(0.0);
      for (int64_t i = 0; i < perLane; ++i) {
        Value x = bb.create<math::ExpOp>(
            e.loc, bb.create<arith::SubFOp>(e.loc, logit[i], max));
        sum = bb.create<arith::AddFOp>(e.loc, sum,
                                       e.select(valid[i], x, e.f32(0.0)));
      }
      sum = warp.sum(sum);
    }
    auto scoreOf = [&](Value l) -> Value {
      switch (kind) {
      case RoutingKind::SoftmaxTopK:
        return bb.create<arith::DivFOp>(
            e.loc,
            bb.create<math::ExpOp>(e.loc,
                                   bb.create<arith::SubFOp>(e.loc, l, max)),
            sum);
      case RoutingKind::SigmoidTopK: {
        Value one = e.f32(1.0);
        Value x = bb.create<math::ExpOp>(e.loc, bb.create<arith::NegFOp>(e.loc, l));
        return bb.create<arith::DivFOp>(e.loc, one,
                                        bb.create<arith::AddFOp>(e.loc, one, x));
      }
      default:
        return l;
      }
    };
    SmallVector<Value> score(perLane), select(perLane);
    for (int64_t i = 0; i < perLane; ++i) {
      score[i] = scoreOf(logit[i]);
      select[i] = score[i];
      if (bias) {
        Value c = e.select(valid[i], column[i], e.idx(0));
        select[i] = bb.create<arith::AddFOp>(
            e.loc, select[i], e.convert(e.load(bias, c), f32));
      }
    }
    // Grouped top-k: a group scores its best (sigmoid: best two summed);
    // the experts of all but the best topk_groups groups drop out.
    if (groups > 1) {
      int64_t size = experts / groups;
      bool two = kind == RoutingKind::SigmoidTopK;
      SmallVector<Value> groupScore(groups);
      for (int64_t g = 0; g < groups; ++g) {
        Value first = negInf, second = negInf;
        for (int64_t i = 0; i < perLane; ++i) {
          Value mine = e.both(valid[i], e.eq(e.div(column[i], size), e.idx(g)));
          Value v = e.select(mine, select[i], negInf);
          Value above = bb.create<arith::CmpFOp>(
              e.loc, arith::CmpFPredicate::OGT, v, first);
          second = e.select(above, first,
                            bb.create<arith::MaximumFOp>(e.loc, second, v));
          first = bb.create<arith::MaximumFOp>(e.loc, first, v);
        }
        if (two) {
          auto [f, s] = warp.topTwo(first, second);
          groupScore[g] = bb.create<arith::AddFOp>(e.loc, f, s);
        } else {
          groupScore[g] = warp.maximum(first);
        }
      }
      // The best groups become +inf (chosen); ties go to the lower group.
      for (int64_t pass = 0; pass < routing.getTopkGroups(); ++pass) {
        Value best = negInf, which = e.i32(-1);
        for (int64_t g = 0; g < groups; ++g) {
          Value open = bb.create<arith::CmpFOp>(
              e.loc, arith::CmpFPredicate::ONE, groupScore[g], posInf);
          Value none = e.lt(which, e.i32(0));
          Value better = bb.create<arith::CmpFOp>(
              e.loc, arith::CmpFPredicate::OGT, groupScore[g], best);
          Value take = e.both(open, bb.create<arith::OrIOp>(e.loc, none, better));
          best = e.select(take, groupScore[g], best);
          which = e.select(take, e.i32(g), which);
        }
        for (int64_t g = 0; g < groups; ++g)
          groupScore[g] = e.select(e.eq(which, e.i32(g)), posInf, groupScore[g]);
      }
      for (int64_t i = 0; i < perLane; ++i) {
        Value kept = bb.create<arith::ConstantIntOp>(e.loc, 0, 1);
        Value g = e.div(column[i], size);
        for (int64_t gi = 0; gi < groups; ++gi) {
          Value chosen = bb.create<arith::CmpFOp>(
              e.loc, arith::CmpFPredicate::OEQ, groupScore[gi], posInf);
          kept = bb.create<arith::OrIOp>(e.loc, kept,
                                         e.both(e.eq(g, e.idx(gi)), chosen));
        }
        select[i] = e.select(kept, select[i], negInf);
      }
    }
    // k passes of arg-max; a chosen column's selection score becomes NaN.
    SmallVector<Value> chosenWeight, chosenId;
    for (int64_t j = 0; j < k; ++j) {
      Value best = negInf, which = e.i32(-1);
      for (int64_t i = 0; i < perLane; ++i) {
        Value v = select[i];
        Value isNumber = bb.create<arith::CmpFOp>(
            e.loc, arith::CmpFPredicate::ORD, v, v);
        Value none = e.lt(which, e.i32(0));
        Value better = bb.create<arith::CmpFOp>(
            e.loc, arith::CmpFPredicate::OGT, v, best);
        Value take = e.both(e.both(valid[i], isNumber),
                            bb.create<arith::OrIOp>(e.loc, none, better));
        best = e.select(take, v, best);
        which = e.select(take, e.toI32(column[i]), which);
      }
      auto [value, chosen] = warp.argmax(best, which);
      // The chosen column's score, from the lane that holds it.
      Value owner = bb.create<arith::RemUIOp>(e.loc, chosen, e.i32(kWarp));
      Value slot = e.toIndex(bb.create<arith::DivUIOp>(e.loc, chosen, e.i32(kWarp)));
      Value mine = score[0];
      for (int64_t i = 1; i < perLane; ++i)
        mine = e.select(e.eq(slot, e.idx(i)), score[i], mine);
      Value weight = bb.create<gpu::ShuffleOp>(e.loc, mine, owner, e.i32(kWarp),
                                               gpu::ShuffleMode::IDX)
                         .getShuffleResult();
      for (int64_t i = 0; i < perLane; ++i)
        select[i] = e.select(e.eq(e.toI32(column[i]), chosen), nan, select[i]);
      chosenWeight.push_back(weight);
      chosenId.push_back(chosen);
    }
    // Softmax over the chosen logits, renormalisation, scale.
    SmallVector<Value> &w = chosenWeight;
    ::moe::finishRoutingWeights(bb, e.loc, routing, w);
    // Lane j writes assignment j.
    for (int64_t j = 0; j < k; ++j) {
      e.ifThen(e.both(exists, e.eq(lane, e.idx(j))), [&] {
        e.store(e.convert(w[j], element), weightsOut, {t, e.idx(j)});
        Value id = idType.isInteger(32)
                       ? chosenId[j]
                       : bb.create<arith::ExtSIOp>(e.loc, idType, chosenId[j])
                             .getResult();
        e.store(id, idsOut, {t, e.idx(j)});
      });
    }
  });
  b.setInsertionPointAfter(any);
  op->erase();
}

struct MoELowerToGPUPass
    : ::moe::impl::MoELowerToGPUBase<MoELowerToGPUPass> {
  using MoELowerToGPUBase::MoELowerToGPUBase;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    Type compute;
    if (precision == "fp32")
      compute = Float32Type::get(ctx);
    else if (precision == "bf16")
      compute = BFloat16Type::get(ctx);
    else if (precision == "fp16")
      compute = Float16Type::get(ctx);
    else {
      getOperation().emitError() << "moe-lower-to-gpu: precision '"
                                 << precision
                                 << "' is not fp32, bf16 or fp16";
      return signalPassFailure();
    }
    SmallVector<RouteOp> routes;
    getOperation().walk([&](RouteOp op) { routes.push_back(op); });
    for (RouteOp route : routes) {
      std::string why = unsupportedRoute(route);
      if (!why.empty()) {
        route.emitRemark() << "moe-lower-to-gpu leaves this moe.route to the "
                              "generic lowering (a thread per token): "
                           << why;
        continue;
      }
      lowerRoute(route);
    }
    SmallVector<CombineOp> combines;
    getOperation().walk([&](CombineOp op) { combines.push_back(op); });
    for (CombineOp combine : combines) {
      // A layer whose expert weights are bf16 or f16 computes in their type
      // (tensor cores, nothing converted); `precision` is f32 layers'.
      Type weights = cast<ShapedType>(combine.getExpertRows().getType())
                         .getElementType();
      if (auto experts = combine.getExpertRows().getDefiningOp<ExpertsOp>())
        weights = cast<ShapedType>(experts.getGateUp().getType())
                      .getElementType();
      Type layerCompute =
          weights.isBF16() || weights.isF16() ? weights : compute;
      Chain chain;
      std::string why = unsupported(combine, chain, layerCompute);
      if (!why.empty()) {
        combine.emitRemark() << "moe-lower-to-gpu leaves this moe.combine to "
                                "the generic lowering: "
                             << why;
        continue;
      }
      lowerChain(chain, layerCompute, weightTiles);
    }
  }
};

} // namespace

namespace {

/// A layer's shape, as a tuning file names it.
struct LayerShape {
  int64_t experts, k, hidden, inter;
  bool operator<(const LayerShape &o) const {
    return std::tie(experts, k, hidden, inter) <
           std::tie(o.experts, o.k, o.hidden, o.inter);
  }
};

/// The token count up to which a layer's decode kernels run when nothing
/// says otherwise: while the busiest expert's rows fit a decode pass
/// (kDecodeRows), reading its weights once, on an even routing (T k / E rows
/// an expert); the GEMMs' tensor cores win above it.
int64_t defaultDecodeTokens(const LayerShape &shape) {
  return std::clamp<int64_t>(shape.experts * kDecodeRows / shape.k, 8, 128);
}

/// The token count above which sm_90a's GEMMs take 128-row tiles when
/// nothing says otherwise: where the experts average more than 64 rows
/// (T k > 64 E), so that a 128-row tile is mostly rows.
int64_t defaultWideTokens(const LayerShape &shape) {
  return kWgmmaRows * shape.experts / shape.k;
}

/// A layer shape's bounds from a tuning file (-1: not given).
struct Tuned {
  int64_t decodeTokens = -1, wideTokens = -1;
};

/// Reads a tuning file: {"moe_layers": [{"experts": E, "k": k, "hidden": H,
/// "intermediate": I, "decode_tokens": N, "wide_tokens": W}, ...]}
/// (wide_tokens optional; other keys are left for the tools that write it).
/// Returns "" or what is wrong, naming the file.
std::string readTuning(StringRef path, std::map<LayerShape, Tuned> &tuned) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return "gpu-config '" + path.str() +
           "': cannot read: " + buffer.getError().message();
  auto parsed = llvm::json::parse((*buffer)->getBuffer());
  if (!parsed)
    return "gpu-config '" + path.str() +
           "': not JSON: " + llvm::toString(parsed.takeError());
  const llvm::json::Object *root = parsed->getAsObject();
  const llvm::json::Array *layers =
      root ? root->getArray("moe_layers") : nullptr;
  if (!layers)
    return "gpu-config '" + path.str() +
           "': expected an object with a \"moe_layers\" array";
  for (auto [i, entry] : llvm::enumerate(*layers)) {
    const llvm::json::Object *layer = entry.getAsObject();
    std::optional<int64_t> fields[5];
    const char *names[5] = {"experts", "k", "hidden", "intermediate",
                            "decode_tokens"};
    for (int f = 0; f < 5 && layer; ++f)
      fields[f] = layer->getInteger(names[f]);
    if (!layer || llvm::any_of(fields, [](auto &v) { return !v || *v < 0; }))
      return "gpu-config '" + path.str() + "': moe_layers[" +
             std::to_string(i) +
             "] needs non-negative integers experts, k, hidden, "
             "intermediate and decode_tokens";
    Tuned &bounds = tuned[{*fields[0], *fields[1], *fields[2], *fields[3]}];
    bounds.decodeTokens = *fields[4];
    if (const llvm::json::Value *wide = layer->get("wide_tokens")) {
      std::optional<int64_t> value = wide->getAsInteger();
      if (!value || *value < 0)
        return "gpu-config '" + path.str() + "': moe_layers[" +
               std::to_string(i) +
               "].wide_tokens is not a non-negative integer";
      bounds.wideTokens = *value;
    }
  }
  return "";
}

struct MoEExpandGpuKernelsPass
    : ::moe::impl::MoEExpandGpuKernelsBase<MoEExpandGpuKernelsPass> {
  using MoEExpandGpuKernelsBase::MoEExpandGpuKernelsBase;

  void runOnOperation() override {
    std::map<LayerShape, Tuned> tuned;
    if (!gpuConfig.empty()) {
      std::string why = readTuning(gpuConfig, tuned);
      if (!why.empty()) {
        getOperation().emitError(why);
        return signalPassFailure();
      }
    }
    SmallVector<moe_gpu::RouteOp> routes;
    getOperation().walk([&](moe_gpu::RouteOp op) { routes.push_back(op); });
    for (moe_gpu::RouteOp op : routes)
      expandRoute(op);
    SmallVector<moe_gpu::RoutedFfnOp> ops;
    getOperation().walk([&](moe_gpu::RoutedFfnOp op) { ops.push_back(op); });
    for (moe_gpu::RoutedFfnOp op : ops) {
      Type output = cast<MemRefType>(op.getResult().getType()).getElementType();
      if (atomicCombine && !output.isF32()) {
        op.emitError() << "atomic-combine adds the expert rows into an f32 "
                          "output; this layer's is "
                       << output;
        return signalPassFailure();
      }
      // Each bound (decode-tokens, wide-tokens): the option, else the tuning
      // file's entry for the shape, else the shape's default.
      auto weights = [](Value v) { return cast<MemRefType>(v.getType()); };
      LayerShape shape{weights(op.getGateUp()).getDimSize(0),
                       weights(op.getIds()).getDimSize(1),
                       weights(op.getTokens()).getDimSize(1),
                       op.isTiled() ? op.getTiledIntermediate()
                                    : weights(op.getDown()).getDimSize(2)};
      auto found = tuned.find(shape);
      Tuned entry = found != tuned.end() ? found->second : Tuned();
      int64_t decode = decodeTokens >= 0         ? int64_t(decodeTokens)
                       : entry.decodeTokens >= 0 ? entry.decodeTokens
                                                 : defaultDecodeTokens(shape);
      int64_t wide = wideTokens >= 0         ? int64_t(wideTokens)
                     : entry.wideTokens >= 0 ? entry.wideTokens
                                             : defaultWideTokens(shape);
      if (op.isTiled() && (arch != "sm_90a" || op.getCompute().isF32())) {
        op.emitError() << "weights tiled for sm_90a's bulk copies, in a "
                       << op.getCompute() << " layer, cannot run on " << arch
                       << "'s kernels (compile with moe-lower-to-gpu's "
                          "weight-tiles for sm_90a only)";
        return signalPassFailure();
      }
      expandFfn(op, decode, wide, arch == "sm_90a", atomicCombine);
    }
  }
};

} // namespace
