//===- OnnxToLinalg.cpp - onnx.node to linalg, tensor, arith and math -----===//
//
// Handlers are keyed by (domain, op type, since-version) and looked up with the
// model's opset, the way ONNX versions operator semantics. Every node is
// checked before anything is rewritten, so an unsupported node leaves the
// function intact.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "Common.h"

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

namespace moe {
#define GEN_PASS_DEF_MOELEGALIZEONNX
#include "lib/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;
using mlir::onnx::NodeOp;
using namespace ::moe::onnx_to_linalg;

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

/// The type two branch outputs of `a` and `b` can both be cast to: their
/// sizes where they agree, dynamic where they do not; null when their ranks
/// or element types differ.
Type joinBranchTypes(Type a, Type b) {
  if (a == b)
    return a;
  auto ra = dyn_cast<RankedTensorType>(a), rb = dyn_cast<RankedTensorType>(b);
  if (!ra || !rb || ra.getRank() != rb.getRank() ||
      ra.getElementType() != rb.getElementType())
    return Type();
  SmallVector<int64_t> shape;
  for (auto [x, y] : llvm::zip(ra.getShape(), rb.getShape()))
    shape.push_back(x == y ? x : ShapedType::kDynamic);
  return RankedTensorType::get(shape, ra.getElementType());
}

/// onnx.if as scf.if on the condition's one element. Each branch's outputs
/// are cast to the If's output types (to a type both branches fit when the
/// imported one is unranked), and the If's users see the imported types.
LogicalResult lowerIf(mlir::onnx::IfOp op, OpBuilder &b) {
  Location loc = op.getLoc();
  auto conditionType = dyn_cast<RankedTensorType>(op.getCondition().getType());
  if (!conditionType || !conditionType.hasStaticShape() ||
      conditionType.getNumElements() != 1 ||
      !conditionType.getElementType().isInteger(1))
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
                    : joinBranchTypes(thenType, elseType);
    if (!type || !tensor::CastOp::areCastCompatible(thenType, type) ||
        !tensor::CastOp::areCastCompatible(elseType, type))
      return op.emitError() << "If output " << i << " is " << thenType
                            << " in one branch and " << elseType
                            << " in the other";
    types.push_back(type);
  }
  b.setInsertionPoint(op);
  Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
  Value condition = b.create<tensor::ExtractOp>(
      loc, op.getCondition(),
      SmallVector<Value>(conditionType.getRank(), zero));
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

class LegalizeOnnxPass
    : public ::moe::impl::MoELegalizeOnnxBase<LegalizeOnnxPass> {
public:
  using MoELegalizeOnnxBase::MoELegalizeOnnxBase;

  void runOnOperation() override {
    // Check every node first: one error per unsupported node, nothing
    // rewritten.
    SmallVector<std::pair<NodeOp, Lowering>> work;
    bool supported = true;
    getOperation().walk([&](NodeOp node) {
      FailureOr<Lowering> lowering = findHandler(node);
      if (failed(lowering))
        supported = false;
      else
        work.push_back({node, *lowering});
    });
    if (!supported)
      return signalPassFailure();

    OpBuilder builder(&getContext());
    for (auto [node, lower] : work) {
      builder.setInsertionPoint(node);
      FailureOr<SmallVector<Value>> results = lower(node, builder);
      if (failed(results))
        return signalPassFailure();
      for (auto [old, computed] : llvm::zip(node.getResults(), *results)) {
        // Outputs a handler does not produce are unused (the handler checked).
        if (!computed)
          continue;
        if (computed.getType() != old.getType()) {
          if (!tensor::CastOp::areCastCompatible(computed.getType(),
                                                 old.getType())) {
            node.emitError()
                << "lowering " << node.getOpType() << " computed "
                << computed.getType()
                << ", which does not match the imported type " << old.getType();
            return signalPassFailure();
          }
          // Nodes still to be lowered take the computed type where it knows
          // at least what the imported one does (the rank of a contrib op's
          // output that ONNX shape inference does not know); other users,
          // and nodes where the imported type knows more (a reshape read at
          // run time), see the imported type through a cast.
          bool refined = knowsAtLeast(computed.getType(), old.getType());
          Value cast;
          for (OpOperand &use : llvm::make_early_inc_range(old.getUses())) {
            if (refined && isa<NodeOp>(use.getOwner())) {
              use.set(computed);
              continue;
            }
            if (!cast)
              cast = builder.create<tensor::CastOp>(node.getLoc(),
                                                    old.getType(), computed);
            use.set(cast);
          }
          continue;
        }
        old.replaceAllUsesWith(computed);
      }
      node.erase();
    }
    // If nodes, inner ones first, become scf.if once their branches' nodes
    // are lowered.
    SmallVector<mlir::onnx::IfOp> ifs;
    getOperation().walk([&](mlir::onnx::IfOp op) { ifs.push_back(op); });
    for (mlir::onnx::IfOp op : ifs)
      if (failed(lowerIf(op, builder)))
        return signalPassFailure();
    // Imported onnx.none values have no users left.
    getOperation().walk([](mlir::onnx::NoneOp none) {
      if (none->use_empty())
        none.erase();
    });
  }
};

} // namespace
