//===- OnnxToLinalg.cpp - onnx.node to linalg, tensor, arith and math -----===//
//
// Handlers are keyed by (domain, op type, since-version) and looked up with the
// model's opset, the way ONNX versions operator semantics. Every node is
// checked before anything is rewritten, so an unsupported node leaves the
// function intact; the handlers then run as one conversion pattern under
// MLIR's dialect conversion (onnx.node illegal, everything else legal), which
// also undoes every rewrite when one node fails.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "Common.h"

#include "dialects/onnx/IR/OnnxMatchers.h"

#include "dialects/onnx/IR/OnnxDialect.h"

// The pass anchors on func.func and declares these dialects (Passes.td).
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/STLExtras.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

namespace moe {
#define GEN_PASS_DEF_MOELEGALIZEONNX
#include "lib/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;
using mlir::onnx::NodeOp;
using namespace ::moe::onnx_to_linalg;
using ::moe::match::joinTensorTypes;

namespace {

/// The lowerings, by domain and op type, each with the opset it applies from.
const HandlerTable &handlers() {
  static const HandlerTable table = [] {
    HandlerTable t;
    registerElementwiseLowerings(t);
    registerReductionLowerings(t);
    registerShapeLowerings(t);
    registerIndexingLowerings(t);
    registerLinearLowerings(t);
    registerNormalizationLowerings(t);
    registerAttentionLowerings(t);
    for (auto &entry : t)
      llvm::sort(entry.second, [](const Handler &a, const Handler &b) {
        return a.sinceVersion < b.sinceVersion;
      });
    return t;
  }();
  return table;
}

/// The handler for `node` at its opset, or an error saying what is supported.
FailureOr<Lowering> findHandler(NodeOp node) {
  StringRef domain = node.getDomainName();
  auto it = handlers().find((domain + "::" + node.getOpType()).str());
  std::string where = "node";
  if (std::optional<StringRef> name = node.getName())
    where += " '" + name->str() + "'";
  StringRef domainName = domain.empty() ? StringRef("ai.onnx") : domain;
  if (it == handlers().end()) {
    node.emitError() << where << ": ONNX op " << node.getOpType() << " (domain "
                     << domainName << ", opset " << node.getOpset()
                     << ") has no lowering";
    return failure();
  }
  const Handler *chosen = nullptr;
  for (const Handler &handler : it->second)
    if (handler.sinceVersion <= static_cast<int64_t>(node.getOpset()))
      chosen = &handler;
  if (!chosen) {
    node.emitError() << where << ": ONNX op " << node.getOpType() << " (domain "
                     << domainName << ") at opset " << node.getOpset()
                     << " is not supported; supported from opset "
                     << it->second.front().sinceVersion;
    return failure();
  }
  return chosen->lower;
}

/// Whether `computed` states every size `imported` does (and its rank).
bool knowsAtLeast(Type computed, Type imported) {
  auto known = dyn_cast<RankedTensorType>(imported);
  if (!known)
    return true;
  auto ranked = dyn_cast<RankedTensorType>(computed);
  if (!ranked || ranked.getRank() != known.getRank())
    return false;
  for (auto [c, i] : llvm::zip(ranked.getShape(), known.getShape()))
    if (!ShapedType::isDynamic(i) && c != i)
      return false;
  return true;
}

/// onnx.if as scf.if on the condition's one element. Each branch's outputs
/// are cast to the If's output types (to a type both branches fit when the
/// imported one is unranked), and the If's users see the imported types.
LogicalResult lowerIf(mlir::onnx::IfOp op, OpBuilder &b) {
  Location loc = op.getLoc();
  if (!isOneElement(op.getCondition()) ||
      !elementTypeOf(op.getCondition()).isInteger(1))
    return op.emitError() << "If condition must be one boolean, got "
                          << op.getCondition().getType();
  auto thenYield =
      cast<mlir::onnx::YieldOp>(op.getThenBranch().front().getTerminator());
  auto elseYield =
      cast<mlir::onnx::YieldOp>(op.getElseBranch().front().getTerminator());
  SmallVector<Type> types;
  for (auto [i, result] : llvm::enumerate(op.getResults())) {
    Type thenType = thenYield.getValues()[i].getType();
    Type elseType = elseYield.getValues()[i].getType();
    Type type = isa<RankedTensorType>(result.getType())
                    ? result.getType()
                    : joinTensorTypes(thenType, elseType);
    if (!type || !tensor::CastOp::areCastCompatible(thenType, type) ||
        !tensor::CastOp::areCastCompatible(elseType, type))
      return op.emitError() << "If output " << i << " is " << thenType
                            << " in one branch and " << elseType
                            << " in the other";
    types.push_back(type);
  }
  b.setInsertionPoint(op);
  Value condition = extractOne(b, loc, op.getCondition());
  auto ifOp = b.create<scf::IfOp>(loc, types, condition, /*addThenBlock=*/false,
                                  /*addElseBlock=*/false);
  for (auto [from, to] : {std::pair{&op.getThenBranch(), &ifOp.getThenRegion()},
                          std::pair{&op.getElseBranch(), &ifOp.getElseRegion()}}) {
    to->takeBody(*from);
    auto yield = cast<mlir::onnx::YieldOp>(to->front().getTerminator());
    b.setInsertionPoint(yield);
    SmallVector<Value> values;
    for (auto [value, type] : llvm::zip(yield.getValues(), types))
      values.push_back(value.getType() == type
                           ? value
                           : b.create<tensor::CastOp>(loc, type, value)
                                 .getResult());
    b.create<scf::YieldOp>(loc, values);
    yield.erase();
  }
  b.setInsertionPointAfter(ifOp);
  for (auto [old, computed] : llvm::zip(op.getResults(), ifOp.getResults())) {
    Value replacement = computed;
    if (old.getType() != computed.getType())
      replacement = b.create<tensor::CastOp>(loc, old.getType(), computed);
    old.replaceAllUsesWith(replacement);
  }
  op.erase();
  return success();
}

/// The one element of a one-element tensor `value` of `element` type as a
/// scalar, or null after an error naming `what`.
Value oneElement(Operation *op, OpBuilder &b, Value value, Type element,
                 StringRef what) {
  if (!isOneElement(value) || elementTypeOf(value) != element) {
    op->emitError() << what << " must be one " << element << ", got "
                    << value.getType();
    return Value();
  }
  return extractOne(b, op->getLoc(), value);
}

/// `scalar` as a tensor of the one-element type `type`.
Value asTensor(OpBuilder &b, Location loc, Value scalar, Type type) {
  return b.create<tensor::FromElementsOp>(loc, cast<RankedTensorType>(type),
                                          ValueRange{scalar});
}

/// `soFar` (`[n, ...]` rows) with `value` appended as row `n`, cast to
/// `type`.
Value appendRow(OpBuilder &b, Location loc, Value soFar, Value value, Value n,
                Type type) {
  auto row = cast<RankedTensorType>(value.getType());
  int64_t rank = row.getRank();
  SmallVector<OpFoldResult> sizes{
      b.create<arith::AddIOp>(loc, n, b.create<arith::ConstantIndexOp>(loc, 1))
          .getResult()};
  SmallVector<OpFoldResult> rowSizes{b.getIndexAttr(1)};
  for (int64_t d = 0; d < rank; ++d) {
    sizes.push_back(tensor::getMixedSize(b, loc, value, d));
    rowSizes.push_back(tensor::getMixedSize(b, loc, value, d));
  }
  Value grown = b.create<tensor::EmptyOp>(loc, sizes, row.getElementType());
  SmallVector<OpFoldResult> zeros(rank + 1, b.getIndexAttr(0));
  SmallVector<OpFoldResult> ones(rank + 1, b.getIndexAttr(1));
  grown = b.create<tensor::InsertSliceOp>(
      loc, soFar, grown, zeros, tensor::getMixedSizes(b, loc, soFar), ones);
  SmallVector<OpFoldResult> at(zeros);
  at[0] = n;
  SmallVector<ReassociationIndices> groups;
  if (rank > 0) {
    groups.push_back({0, 1});
    for (int64_t d = 2; d <= rank; ++d)
      groups.push_back({d});
  }
  SmallVector<int64_t> rowShape{1};
  rowShape.append(row.getShape().begin(), row.getShape().end());
  Value asRow = b.create<tensor::ExpandShapeOp>(
      loc, RankedTensorType::get(rowShape, row.getElementType()), value, groups,
      rowSizes);
  grown =
      b.create<tensor::InsertSliceOp>(loc, asRow, grown, at, rowSizes, ones);
  return b.create<tensor::CastOp>(loc, type, grown);
}

/// An empty `[0, ...]` tensor of rows of `row`'s type, typed `[?, ...]`. Its
/// zero sizes are computed from `opaque`, an index the canonicalizer cannot
/// fold: a static `0x...` type would be folded into a loop's iteration
/// arguments (scf.for's cast folding), freezing the rows it accumulates.
Value noRows(OpBuilder &b, Location loc, RankedTensorType row, Value opaque) {
  Value zero = b.create<arith::MinSIOp>(
      loc, opaque, b.create<arith::ConstantIndexOp>(loc, 0));
  SmallVector<OpFoldResult> sizes{zero};
  for (int64_t size : row.getShape())
    sizes.push_back(ShapedType::isDynamic(size) ? OpFoldResult(zero)
                                                : b.getIndexAttr(size));
  return b.create<tensor::EmptyOp>(loc, sizes, row.getElementType());
}

/// onnx.loop as scf.while over (iteration, condition, carried values, scan
/// outputs so far): it runs while the condition holds and fewer than M
/// iterations ran. Each iteration's scan values are appended as a new row.
LogicalResult lowerLoop(mlir::onnx::LoopOp op, OpBuilder &b) {
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  Block &body = op.getBody().front();
  auto yield = cast<mlir::onnx::YieldOp>(body.getTerminator());
  size_t carried = op.getInitial().size();
  Type i64 = b.getI64Type(), i1 = b.getI1Type();
  Value maxTrips = b.create<arith::ConstantIndexOp>(
      loc, std::numeric_limits<int64_t>::max());
  if (!isa<NoneType>(op.getMaxTripCount().getType())) {
    Value count = oneElement(op, b, op.getMaxTripCount(), i64, "Loop M");
    if (!count)
      return failure();
    maxTrips = b.create<arith::IndexCastOp>(loc, b.getIndexType(), count);
  }
  Value condition = b.create<arith::ConstantIntOp>(loc, 1, 1);
  if (!isa<NoneType>(op.getCondition().getType())) {
    condition = oneElement(op, b, op.getCondition(), i1, "Loop cond");
    if (!condition)
      return failure();
  }
  for (unsigned i = 0; i < 2; ++i) {
    if (!isOneElement(body.getArgument(i)))
      return op.emitError() << "Loop body input " << i
                            << " must be one element, got "
                            << body.getArgument(i).getType();
  }
  if (!isOneElement(yield.getValues()[0]) ||
      elementTypeOf(yield.getValues()[0]) != i1)
    return op.emitError() << "Loop body condition must be one " << i1
                          << ", got " << yield.getValues()[0].getType();
  // The carried values' types: what the initial and the body's values share.
  SmallVector<Type> stateTypes{b.getIndexType(), i1};
  SmallVector<Value> inits{b.create<arith::ConstantIndexOp>(loc, 0), condition};
  for (size_t i = 0; i < carried; ++i) {
    Value initial = op.getInitial()[i];
    Type type = joinTensorTypes(
        joinTensorTypes(initial.getType(), yield.getValues()[i + 1].getType()),
        body.getArgument(i + 2).getType());
    if (!type || !isa<RankedTensorType>(type))
      return op.emitError() << "Loop carried value " << i << " is "
                            << initial.getType() << " before the loop and "
                            << yield.getValues()[i + 1].getType()
                            << " after an iteration";
    stateTypes.push_back(type);
    inits.push_back(initial.getType() == type
                        ? initial
                        : b.create<tensor::CastOp>(loc, type, initial)
                              .getResult());
  }
  // Scan outputs start with no rows.
  SmallVector<RankedTensorType> rowTypes;
  for (Value each : yield.getValues().drop_front(1 + carried)) {
    auto row = dyn_cast<RankedTensorType>(each.getType());
    if (!row)
      return op.emitError() << "Loop scan output must be a ranked tensor, got "
                            << each.getType();
    rowTypes.push_back(row);
    inits.push_back(noRows(b, loc, row, maxTrips));
    stateTypes.push_back(inits.back().getType());
  }
  auto loop = b.create<scf::WhileOp>(
      loc, stateTypes, inits,
      [&](OpBuilder &bb, Location bl, ValueRange args) {
        Value more = bb.create<arith::AndIOp>(
            bl, args[1],
            bb.create<arith::CmpIOp>(bl, arith::CmpIPredicate::slt, args[0],
                                     maxTrips));
        bb.create<scf::ConditionOp>(bl, more, args);
      },
      [&](OpBuilder &ab, Location al, ValueRange args) {
        IRMapping mapping;
        mapping.map(body.getArgument(0),
                    asTensor(ab, al,
                             ab.create<arith::IndexCastOp>(al, i64, args[0]),
                             body.getArgument(0).getType()));
        mapping.map(body.getArgument(1),
                    asTensor(ab, al, args[1], body.getArgument(1).getType()));
        for (size_t i = 0; i < carried; ++i) {
          Type type = body.getArgument(i + 2).getType();
          Value value = args[i + 2];
          mapping.map(body.getArgument(i + 2),
                      value.getType() == type
                          ? value
                          : ab.create<tensor::CastOp>(al, type, value)
                                .getResult());
        }
        for (Operation &inner : body.without_terminator())
          ab.clone(inner, mapping);
        SmallVector<Value> next{
            ab.create<arith::AddIOp>(al, args[0],
                                     ab.create<arith::ConstantIndexOp>(al, 1)),
            oneElement(op, ab, mapping.lookup(yield.getValues()[0]), i1,
                       "Loop body condition")};
        for (size_t i = 0; i < carried; ++i) {
          Value value = mapping.lookup(yield.getValues()[i + 1]);
          next.push_back(value.getType() == stateTypes[i + 2]
                             ? value
                             : ab.create<tensor::CastOp>(al, stateTypes[i + 2],
                                                         value)
                                   .getResult());
        }
        // Row args[0] of each scan output is this iteration's value.
        for (auto [j, row] : llvm::enumerate(rowTypes))
          next.push_back(appendRow(
              ab, al, args[2 + carried + j],
              mapping.lookup(yield.getValues()[1 + carried + j]), args[0],
              stateTypes[2 + carried + j]));
        ab.create<scf::YieldOp>(al, next);
      });
  b.setInsertionPointAfter(loop);
  for (auto [old, computed] :
       llvm::zip(op.getResults(), loop.getResults().drop_front(2))) {
    Value replacement = computed;
    if (old.getType() != computed.getType()) {
      if (!tensor::CastOp::areCastCompatible(computed.getType(),
                                             old.getType()))
        return op.emitError() << "Loop output is " << computed.getType()
                              << ", the model declares " << old.getType();
      replacement = b.create<tensor::CastOp>(loc, old.getType(), computed);
    }
    old.replaceAllUsesWith(replacement);
  }
  op.erase();
  return success();
}

/// Entry `index` of the optional list `list`, 0 when absent.
int64_t entryOf(std::optional<ArrayRef<int64_t>> list, size_t index) {
  return list && index < list->size() ? (*list)[index] : 0;
}

/// `value` reversed along its first dimension.
Value reverseRows(OpBuilder &b, Location loc, Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  int64_t rank = type.getRank();
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, value);
  Value init = b.create<tensor::EmptyOp>(loc, sizes, type.getElementType());
  Value last = b.create<arith::SubIOp>(
      loc, b.create<tensor::DimOp>(loc, value, 0),
      b.create<arith::ConstantIndexOp>(loc, 1));
  return b
      .create<linalg::GenericOp>(
          loc, init.getType(), ValueRange{}, ValueRange{init},
          ArrayRef<AffineMap>{b.getMultiDimIdentityMap(rank)},
          SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
          [&](OpBuilder &nb, Location nl, ValueRange) {
            SmallVector<Value> at;
            for (int64_t d = 0; d < rank; ++d)
              at.push_back(nb.create<linalg::IndexOp>(nl, d));
            at[0] = nb.create<arith::SubIOp>(nl, last, at[0]);
            nb.create<linalg::YieldOp>(
                nl, nb.create<tensor::ExtractOp>(nl, value, at).getResult());
          })
      .getResult(0);
}

/// `value`'s first dimension moved to `axis`.
Value rowsToAxis(OpBuilder &b, Location loc, Value value, int64_t axis) {
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<int64_t> permutation;
  for (int64_t d = 1; d <= axis; ++d)
    permutation.push_back(d);
  permutation.push_back(0);
  for (int64_t d = axis + 1; d < type.getRank(); ++d)
    permutation.push_back(d);
  SmallVector<OpFoldResult> sizes;
  for (int64_t d : permutation)
    sizes.push_back(tensor::getMixedSize(b, loc, value, d));
  Value init = b.create<tensor::EmptyOp>(loc, sizes, type.getElementType());
  return b.create<linalg::TransposeOp>(loc, value, init, permutation)
      .getResult()[0];
}

/// onnx.scan as scf.for over the rows of its scan inputs (along each one's
/// scan axis, from the end where its direction says so; as many rows as the
/// shortest has), carrying the states and the scan outputs so far, which are
/// then reversed and moved to their axes where asked.
LogicalResult lowerScan(mlir::onnx::ScanOp op, OpBuilder &b) {
  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  Block &body = op.getBody().front();
  auto yield = cast<mlir::onnx::YieldOp>(body.getTerminator());
  int64_t scanInputs = op.getNumScanInputs();
  size_t states = op.getInputs().size() - scanInputs;
  SmallVector<Type> stateTypes;
  SmallVector<Value> inits;
  for (size_t i = 0; i < states; ++i) {
    Value initial = op.getInputs()[i];
    Type type = joinTensorTypes(
        joinTensorTypes(initial.getType(), yield.getValues()[i].getType()),
        body.getArgument(i).getType());
    if (!type || !isa<RankedTensorType>(type))
      return op.emitError() << "Scan state " << i << " is " << initial.getType()
                            << " before the scan and "
                            << yield.getValues()[i].getType() << " after a row";
    stateTypes.push_back(type);
    inits.push_back(initial.getType() == type
                        ? initial
                        : b.create<tensor::CastOp>(loc, type, initial)
                              .getResult());
  }
  Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
  Value one = b.create<arith::ConstantIndexOp>(loc, 1);
  // Every scan input gives a row per iteration (ONNX has them equally long):
  // the loop runs over the shortest, never reading past an end.
  SmallVector<Value> scanned(op.getInputs().drop_front(states));
  Value length;
  for (auto [k, input] : llvm::enumerate(scanned)) {
    Value rows = b.create<tensor::DimOp>(loc, input,
                                         entryOf(op.getScanInputAxes(), k));
    length = length ? b.create<arith::MinSIOp>(loc, length, rows).getResult()
                    : rows;
  }
  SmallVector<RankedTensorType> rowTypes;
  for (Value each : yield.getValues().drop_front(states)) {
    auto row = dyn_cast<RankedTensorType>(each.getType());
    if (!row)
      return op.emitError() << "Scan output must be a ranked tensor, got "
                            << each.getType();
    rowTypes.push_back(row);
    inits.push_back(noRows(b, loc, row, length));
    stateTypes.push_back(inits.back().getType());
  }
  auto loop = b.create<scf::ForOp>(
      loc, zero, length, one, inits,
      [&](OpBuilder &fb, Location fl, Value i, ValueRange args) {
        IRMapping mapping;
        for (size_t s = 0; s < states; ++s) {
          Type type = body.getArgument(s).getType();
          Value value = args[s];
          mapping.map(body.getArgument(s),
                      value.getType() == type
                          ? value
                          : fb.create<tensor::CastOp>(fl, type, value)
                                .getResult());
        }
        for (auto [k, input] : llvm::enumerate(scanned)) {
          auto type = cast<RankedTensorType>(input.getType());
          int64_t rank = type.getRank();
          int64_t axis = entryOf(op.getScanInputAxes(), k);
          Value at = i;
          if (entryOf(op.getScanInputDirections(), k) == 1)
            at = fb.create<arith::SubIOp>(
                fl, fb.create<arith::SubIOp>(fl, length, i),
                fb.create<arith::ConstantIndexOp>(fl, 1));
          SmallVector<OpFoldResult> offsets(rank, fb.getIndexAttr(0));
          offsets[axis] = at;
          SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(fb, fl, input);
          sizes[axis] = fb.getIndexAttr(1);
          SmallVector<OpFoldResult> strides(rank, fb.getIndexAttr(1));
          SmallVector<int64_t> rowShape(type.getShape());
          rowShape.erase(rowShape.begin() + axis);
          auto rowType = RankedTensorType::get(rowShape, type.getElementType());
          Value row = fb.create<tensor::ExtractSliceOp>(fl, rowType, input,
                                                        offsets, sizes, strides);
          Type argType = body.getArgument(states + k).getType();
          mapping.map(body.getArgument(states + k),
                      row.getType() == argType
                          ? row
                          : fb.create<tensor::CastOp>(fl, argType, row)
                                .getResult());
        }
        for (Operation &inner : body.without_terminator())
          fb.clone(inner, mapping);
        SmallVector<Value> next;
        for (size_t s = 0; s < states; ++s) {
          Value value = mapping.lookup(yield.getValues()[s]);
          next.push_back(value.getType() == stateTypes[s]
                             ? value
                             : fb.create<tensor::CastOp>(fl, stateTypes[s], value)
                                   .getResult());
        }
        for (auto [j, row] : llvm::enumerate(rowTypes))
          next.push_back(appendRow(fb, fl, args[states + j],
                                   mapping.lookup(yield.getValues()[states + j]),
                                   i, stateTypes[states + j]));
        fb.create<scf::YieldOp>(fl, next);
      });
  b.setInsertionPointAfter(loop);
  for (auto [j, old, computed] :
       llvm::enumerate(op.getResults(), loop.getResults())) {
    Value replacement = computed;
    if (j >= states) {
      if (entryOf(op.getScanOutputDirections(), j - states) == 1)
        replacement = reverseRows(b, loc, replacement);
      if (int64_t axis = entryOf(op.getScanOutputAxes(), j - states))
        replacement = rowsToAxis(b, loc, replacement, axis);
    }
    if (old.getType() != replacement.getType()) {
      if (!tensor::CastOp::areCastCompatible(replacement.getType(),
                                             old.getType()))
        return op.emitError() << "Scan output is " << replacement.getType()
                              << ", the model declares " << old.getType();
      replacement = b.create<tensor::CastOp>(loc, old.getType(), replacement);
    }
    old.replaceAllUsesWith(replacement);
  }
  op.erase();
  return success();
}

/// `value`, or the value it was cast from where that states every size the
/// cast's type does: a node's lowering may know more than the importer (the
/// rank of a contrib op's output that ONNX shape inference does not know),
/// and later nodes compute with what it knows. Where the imported type knows
/// more (a reshape read at run time), the cast stays.
Value refined(Value value) {
  if (auto cast = value.getDefiningOp<tensor::CastOp>())
    if (knowsAtLeast(cast.getSource().getType(), cast.getType()))
      return cast.getSource();
  return value;
}

/// Lowers an onnx.node with the handler its domain, op type and opset
/// select (`lowerings`, found when every node was checked). The handler sees
/// the node's operands as the values they were lowered to; its results
/// replace the node's, cast to the imported types where those differ.
class LowerNode : public OpConversionPattern<NodeOp> {
public:
  LowerNode(MLIRContext *context,
            const llvm::DenseMap<Operation *, Lowering> &lowerings,
            llvm::DenseSet<Operation *> &reported)
      : OpConversionPattern(context), lowerings(lowerings),
        reported(reported) {}

  LogicalResult
  matchAndRewrite(NodeOp node, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto lowering = lowerings.find(node);
    if (lowering == lowerings.end())
      return rewriter.notifyMatchFailure(node, "not checked");
    SmallVector<Value> operands;
    for (Value operand : adaptor.getOperands())
      operands.push_back(refined(operand));
    rewriter.modifyOpInPlace(node, [&] { node->setOperands(operands); });
    FailureOr<SmallVector<Value>> results = lowering->second(node, rewriter);
    if (failed(results)) {
      reported.insert(node);
      return failure();
    }
    SmallVector<Value> replacements;
    for (auto [old, computed] : llvm::zip(node.getResults(), *results)) {
      Type imported = old.getType();
      if (!computed) {
        // An output the handler does not produce (it checked nothing uses
        // it) is replaced by a placeholder that dead-code elimination drops.
        replacements.push_back(
            rewriter
                .create<UnrealizedConversionCastOp>(node.getLoc(), imported,
                                                    ValueRange{})
                .getResult(0));
        continue;
      }
      if (computed.getType() == imported) {
        replacements.push_back(computed);
        continue;
      }
      if (!tensor::CastOp::areCastCompatible(computed.getType(), imported)) {
        node.emitError() << "lowering " << node.getOpType() << " computed "
                         << computed.getType()
                         << ", which does not match the imported type "
                         << imported;
        reported.insert(node);
        return failure();
      }
      replacements.push_back(
          rewriter.create<tensor::CastOp>(node.getLoc(), imported, computed));
    }
    rewriter.replaceOp(node, replacements);
    return success();
  }

private:
  const llvm::DenseMap<Operation *, Lowering> &lowerings;
  llvm::DenseSet<Operation *> &reported;
};

/// `type` with unsigned integer elements made signless ones of the same
/// width; other types as they are.
Type signlessType(Type type) {
  if (auto shaped = dyn_cast<ShapedType>(type))
    return shaped.getElementType().isUnsignedInteger()
               ? shaped.clone(signlessOf(shaped.getElementType()))
               : type;
  return signlessOf(type);
}

/// Unsigned integers are computed on as signless ones of the same bits
/// (arith knows no others): every node first records which of its inputs are
/// unsigned (kUnsignedInputs), for the handlers whose results depend on it,
/// then every value, constant and the function's signature take signless
/// types. The artifact's signature, described before this, keeps the
/// unsigned element types for the runtime.
void signlessIntegers(func::FuncOp function) {
  function.walk([](NodeOp node) {
    SmallVector<bool> flags;
    for (Value operand : node->getOperands())
      flags.push_back(getElementTypeOrSelf(operand.getType()).isUnsignedInteger());
    if (llvm::is_contained(flags, true))
      node->setAttr(kUnsignedInputs,
                    Builder(node.getContext()).getDenseBoolArrayAttr(flags));
  });
  auto convert = [](Value value) {
    Type type = signlessType(value.getType());
    if (type != value.getType())
      value.setType(type);
  };
  function.walk([&](Operation *op) {
    for (Region &region : op->getRegions())
      for (Block &block : region)
        for (BlockArgument argument : block.getArguments())
          convert(argument);
    for (Value result : op->getResults())
      convert(result);
    if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
      Type type = signlessType(constant.getType());
      if (auto dense = dyn_cast<DenseElementsAttr>(constant.getValue());
          dense && type != dense.getType())
        constant.setValueAttr(dense.bitcast(signlessOf(dense.getElementType())));
      else if (auto resource =
                   dyn_cast<DenseResourceElementsAttr>(constant.getValue());
               resource && type != resource.getType())
        constant.setValueAttr(DenseResourceElementsAttr::get(
            cast<ShapedType>(type), resource.getRawHandle()));
    }
  });
  SmallVector<Type> inputs, results;
  for (Type type : function.getArgumentTypes())
    inputs.push_back(signlessType(type));
  for (Type type : function.getResultTypes())
    results.push_back(signlessType(type));
  function.setFunctionType(
      FunctionType::get(function.getContext(), inputs, results));
}

class LegalizeOnnxPass
    : public ::moe::impl::MoELegalizeOnnxBase<LegalizeOnnxPass> {
public:
  using MoELegalizeOnnxBase::MoELegalizeOnnxBase;

  void runOnOperation() override {
    // Check every node first: one error per unsupported node, nothing
    // rewritten.
    llvm::DenseMap<Operation *, Lowering> lowerings;
    bool supported = true;
    getOperation().walk([&](NodeOp node) {
      FailureOr<Lowering> lowering = findHandler(node);
      if (failed(lowering))
        supported = false;
      else
        lowerings[node] = *lowering;
    });
    if (!supported)
      return signalPassFailure();

    signlessIntegers(getOperation());

    // Every onnx.node becomes linalg, tensor, arith, math and scf; a handler
    // that fails has said why, which the conversion's own report of the node
    // it could not legalize would only repeat. A failed conversion leaves the
    // function as it was.
    MLIRContext *context = &getContext();
    llvm::DenseSet<Operation *> reported;
    ConversionTarget target(*context);
    target.addIllegalOp<NodeOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(context);
    patterns.add<LowerNode>(context, lowerings, reported);
    LogicalResult converted = success();
    {
      ScopedDiagnosticHandler quiet(context, [&](Diagnostic &diagnostic) {
        return success(!reported.empty() &&
                       StringRef(diagnostic.str())
                           .starts_with("failed to legalize operation"));
      });
      converted = applyPartialConversion(getOperation(), target,
                                         std::move(patterns));
    }
    if (failed(converted))
      return signalPassFailure();
    getOperation().walk([](UnrealizedConversionCastOp cast) {
      if (cast.use_empty() && cast.getInputs().empty())
        cast.erase();
    });

    // If, Loop and Scan nodes, inner ones first, become scf.if, scf.while and
    // scf.for once the nodes of their regions are lowered.
    OpBuilder builder(context);
    SmallVector<Operation *> controlFlow;
    getOperation().walk([&](Operation *op) {
      if (isa<mlir::onnx::IfOp, mlir::onnx::LoopOp, mlir::onnx::ScanOp>(op))
        controlFlow.push_back(op);
    });
    for (Operation *op : controlFlow) {
      LogicalResult lowered =
          isa<mlir::onnx::IfOp>(op)
              ? lowerIf(cast<mlir::onnx::IfOp>(op), builder)
          : isa<mlir::onnx::LoopOp>(op)
              ? lowerLoop(cast<mlir::onnx::LoopOp>(op), builder)
              : lowerScan(cast<mlir::onnx::ScanOp>(op), builder);
      if (failed(lowered))
        return signalPassFailure();
    }
    // Imported onnx.none values have no users left.
    getOperation().walk([](mlir::onnx::NoneOp none) {
      if (none->use_empty())
        none.erase();
    });
  }
};

} // namespace
