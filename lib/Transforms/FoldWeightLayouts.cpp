//===- FoldWeightLayouts.cpp - weight layout changes at compile time ------===//
//
// Exporters store weights in the layout of their framework and move them into
// place in the graph (a transpose per expert, the experts stacked by
// insert_slice). Done at run time, that copies every weight on every call;
// this pass does it once, in the compiler, and leaves one constant.
//
//===----------------------------------------------------------------------===//

#include "moe/Transforms/Passes.h"

#include "lib/Transforms/WeightConstants.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/DenseMap.h"

#include <cstring>

namespace moe {
#define GEN_PASS_DEF_MOEFOLDWEIGHTLAYOUTS
#include "lib/Transforms/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

/// Row-major strides of `shape`, in elements.
SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d)
    strides[d] = strides[d + 1] * shape[d + 1];
  return strides;
}

/// Calls `fn(linear, index)` for every index of `shape` in row-major order.
void forEachIndex(ArrayRef<int64_t> shape,
                  function_ref<void(int64_t, ArrayRef<int64_t>)> fn) {
  int64_t count = 1;
  for (int64_t s : shape)
    count *= s;
  SmallVector<int64_t> index(shape.size(), 0);
  for (int64_t linear = 0; linear < count; ++linear) {
    fn(linear, index);
    for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
      if (++index[d] < shape[d])
        break;
      index[d] = 0;
    }
  }
}

/// Evaluates the constant-foldable layout ops on raw bytes.
class LayoutEvaluator {
public:
  /// Whether `op` is one this pass evaluates (given constant operands).
  static bool isLayoutOp(Operation *op) {
    return isa<linalg::TransposeOp, tensor::InsertSliceOp,
               tensor::ExtractSliceOp, tensor::ExpandShapeOp,
               tensor::CollapseShapeOp, tensor::EmptyOp>(op);
  }

  /// Whether `op` is a layout op this pass can evaluate when its operands are
  /// constant (its offsets, sizes and strides are static).
  static bool isStaticLayoutOp(Operation *op) {
    if (!isLayoutOp(op))
      return false;
    if (auto slice = dyn_cast<OffsetSizeAndStrideOpInterface>(op))
      return !ShapedType::isDynamicShape(slice.getStaticOffsets()) &&
             !ShapedType::isDynamicShape(slice.getStaticSizes()) &&
             !ShapedType::isDynamicShape(slice.getStaticStrides());
    return true;
  }

  /// The bytes of `value`, or nullopt when it is not a foldable constant.
  std::optional<std::vector<char>> evaluate(Value value) {
    auto type = dyn_cast<RankedTensorType>(value.getType());
    if (!type || !type.hasStaticShape() ||
        type.getElementTypeBitWidth() % 8 != 0 ||
        !type.getElementType().isIntOrFloat())
      return std::nullopt;
    int64_t width = type.getElementTypeBitWidth() / 8;
    int64_t bytes = type.getNumElements() * width;
    Operation *op = value.getDefiningOp();
    if (!op)
      return std::nullopt;
    if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
      std::vector<char> storage;
      std::optional<ArrayRef<char>> raw = ::moe::constantBytes(
          constant.getValue(), type.getNumElements(), width, storage);
      if (!raw)
        return std::nullopt;
      return std::vector<char>(raw->begin(), raw->end());
    }
    if (auto empty = dyn_cast<tensor::EmptyOp>(op))
      return std::vector<char>(bytes, 0);
    if (auto transpose = dyn_cast<linalg::TransposeOp>(op)) {
      auto input = evaluate(transpose.getInput());
      if (!input)
        return std::nullopt;
      auto inType = cast<RankedTensorType>(transpose.getInput().getType());
      SmallVector<int64_t> inStrides = stridesOf(inType.getShape());
      ArrayRef<int64_t> perm = transpose.getPermutation();
      std::vector<char> out(bytes);
      forEachIndex(type.getShape(), [&](int64_t linear, ArrayRef<int64_t> idx) {
        int64_t source = 0;
        for (size_t d = 0; d < perm.size(); ++d)
          source += idx[d] * inStrides[perm[d]];
        std::memcpy(&out[linear * width], &(*input)[source * width], width);
      });
      return out;
    }
    if (auto insert = dyn_cast<tensor::InsertSliceOp>(op)) {
      if (ShapedType::isDynamicShape(insert.getStaticOffsets()) ||
          ShapedType::isDynamicShape(insert.getStaticSizes()) ||
          ShapedType::isDynamicShape(insert.getStaticStrides()))
        return std::nullopt;
      auto source = evaluate(insert.getSource());
      auto dest = evaluate(insert.getDest());
      if (!source || !dest)
        return std::nullopt;
      copySlice(*dest, type.getShape(), insert.getStaticOffsets(),
                insert.getStaticSizes(), insert.getStaticStrides(), width,
                [&](int64_t sliceLinear, int64_t full) {
                  std::memcpy(&(*dest)[full * width],
                              &(*source)[sliceLinear * width], width);
                });
      return dest;
    }
    if (auto extract = dyn_cast<tensor::ExtractSliceOp>(op)) {
      if (ShapedType::isDynamicShape(extract.getStaticOffsets()) ||
          ShapedType::isDynamicShape(extract.getStaticSizes()) ||
          ShapedType::isDynamicShape(extract.getStaticStrides()))
        return std::nullopt;
      auto source = evaluate(extract.getSource());
      if (!source)
        return std::nullopt;
      auto sourceType = cast<RankedTensorType>(extract.getSource().getType());
      std::vector<char> out(bytes);
      copySlice(*source, sourceType.getShape(), extract.getStaticOffsets(),
                extract.getStaticSizes(), extract.getStaticStrides(), width,
                [&](int64_t sliceLinear, int64_t full) {
                  std::memcpy(&out[sliceLinear * width],
                              &(*source)[full * width], width);
                });
      return out;
    }
    if (isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(op))
      return evaluate(op->getOperand(0));
    return std::nullopt;
  }

private:
  /// Visits the elements of the slice (offsets, sizes, strides) of a tensor
  /// of `shape`: `fn(index in the slice, index in the tensor)`.
  static void copySlice(const std::vector<char> &, ArrayRef<int64_t> shape,
                        ArrayRef<int64_t> offsets, ArrayRef<int64_t> sizes,
                        ArrayRef<int64_t> strides, int64_t,
                        function_ref<void(int64_t, int64_t)> fn) {
    SmallVector<int64_t> full = stridesOf(shape);
    forEachIndex(sizes, [&](int64_t linear, ArrayRef<int64_t> idx) {
      int64_t target = 0;
      for (size_t d = 0; d < idx.size(); ++d)
        target += (offsets[d] + idx[d] * strides[d]) * full[d];
      fn(linear, target);
    });
  }
};

struct MoEFoldWeightLayoutsPass
    : ::moe::impl::MoEFoldWeightLayoutsBase<MoEFoldWeightLayoutsPass> {
  void runOnOperation() override {
    // Roots: layout ops whose result leaves the foldable layout ops (to
    // compute, or to a slice at a run-time offset).
    SmallVector<Operation *> roots;
    getOperation().walk([&](Operation *op) {
      if (!LayoutEvaluator::isLayoutOp(op) || isa<tensor::EmptyOp>(op))
        return;
      for (Operation *user : op->getUsers())
        if (!LayoutEvaluator::isStaticLayoutOp(user)) {
          roots.push_back(op);
          return;
        }
    });
    LayoutEvaluator evaluator;
    for (Operation *root : roots) {
      Value result = root->getResult(0);
      std::optional<std::vector<char>> bytes = evaluator.evaluate(result);
      if (!bytes)
        continue;
      OpBuilder b(root);
      Value folded = ::moe::createWeightConstant(
          b, root->getLoc(), cast<RankedTensorType>(result.getType()),
          "folded_weight", *bytes);
      result.replaceUsesWithIf(folded, [&](OpOperand &use) {
        return !LayoutEvaluator::isStaticLayoutOp(use.getOwner());
      });
    }
  }
};

} // namespace
