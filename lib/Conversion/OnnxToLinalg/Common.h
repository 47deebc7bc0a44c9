//===- Common.h - what the onnx.node lowerings share ------------*- C++ -*-===//
//
// The handler table each op family registers into, and the helpers more than
// one family uses: reading a node's inputs, ONNX broadcasting, scalar
// constants and axis lists.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_ONNXTOLINALG_COMMON_H
#define MOE_LIB_CONVERSION_ONNXTOLINALG_COMMON_H

#include "dialects/onnx/IR/OnnxDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

#include <optional>

namespace moe::onnx_to_linalg {

using mlir::onnx::NodeOp;

/// Lowers one node, whose operands are the values its inputs were lowered to,
/// creating ops through `b` (the conversion's rewriter); returns its results
/// (null for an output nothing uses), or failure after emitting an error on it.
using Lowering = mlir::FailureOr<llvm::SmallVector<mlir::Value>> (*)(
    NodeOp node, mlir::RewriterBase &b);

struct Handler {
  int64_t sinceVersion;
  Lowering lower;
};

/// The lowerings, by "domain::op type", each with the opset it applies from.
struct HandlerTable : llvm::StringMap<llvm::SmallVector<Handler>> {
  /// Registers `lower` for `op` of `domain` from opset `since` on.
  void add(llvm::StringRef domain, llvm::StringRef op, int64_t since,
           Lowering lower);
};

/// Each op family adds its handlers.
void registerElementwiseLowerings(HandlerTable &table);
void registerReductionLowerings(HandlerTable &table);
void registerShapeLowerings(HandlerTable &table);
void registerIndexingLowerings(HandlerTable &table);
void registerLinearLowerings(HandlerTable &table);
void registerNormalizationLowerings(HandlerTable &table);
void registerAttentionLowerings(HandlerTable &table);

/// Binds a node's operands for its lowering, as torch-mlir's OpBinder does:
/// each method binds inputs and returns failure (true in a condition) after
/// an error naming the op and the input, so a handler begins
/// `if (Binder(node).tensors(x, y)) return failure();`.
class Binder {
public:
  explicit Binder(NodeOp node) : node(node) {}

  /// Input `index` as a ranked tensor.
  mlir::ParseResult tensor(unsigned index, mlir::Value &value);

  /// Inputs 0, 1, ... as ranked tensors, one per argument.
  template <typename... Values>
  mlir::ParseResult tensors(Values &...values) {
    unsigned index = 0;
    bool bad = false;
    ((bad = bad || failed(tensor(index++, values))), ...);
    return mlir::failure(bad);
  }

  /// The first `count` inputs as ranked tensors.
  mlir::ParseResult first(unsigned count,
                          llvm::SmallVectorImpl<mlir::Value> &values);

  /// Every input as a ranked tensor.
  mlir::ParseResult allTensors(llvm::SmallVectorImpl<mlir::Value> &values) {
    return first(node.getInputs().size(), values);
  }

  /// Input `index` as a ranked tensor of an element type arith and math
  /// compute on (floating point when `floatOnly`).
  mlir::ParseResult computable(unsigned index, mlir::Value &value,
                               bool floatOnly);

private:
  NodeOp node;
};

/// One result, or the failure that produced none.
mlir::FailureOr<llvm::SmallVector<mlir::Value>>
single(mlir::FailureOr<mlir::Value> value);

/// The element type of a shaped value.
mlir::Type elementTypeOf(mlir::Value value);

/// The size of dimension `dim` of `value`, as a constant or a tensor.dim.
mlir::OpFoldResult dimOf(mlir::OpBuilder &b, mlir::Location loc,
                         mlir::Value value, int64_t dim);

/// The leading `shape` of `value` that takes part in broadcasting (all of it
/// for elementwise ops, the batch dimensions for MatMul).
struct BroadcastInput {
  mlir::Value value;
  llvm::ArrayRef<int64_t> shape;
};

/// ONNX multidirectional broadcasting of `inputs` (aligned at the trailing
/// dimension): the result's sizes and, per input, the map from the result's
/// iteration space into it (over `loops` dimensions, of which the first
/// `sizes.size()` are the broadcast ones). A static 1 broadcasts; dynamic sizes
/// are taken to be equal to the other inputs' sizes.
mlir::LogicalResult
broadcast(NodeOp node, mlir::OpBuilder &b,
          llvm::ArrayRef<BroadcastInput> inputs,
          llvm::SmallVector<mlir::OpFoldResult> &sizes,
          llvm::SmallVector<llvm::SmallVector<mlir::AffineExpr>> &exprs);

/// ONNX broadcasting decided as the model runs: an input whose dynamic size
/// meets a static size above 1, or another dynamic size, may be a run-time 1
/// there. Each such input is expanded to the broadcast result first (reading
/// index 0 of those dimensions where they are 1), so that `broadcast` may take
/// its dynamic sizes to be the result's. The trailing dimensions of an input
/// past its `shape` (MatMul's matrix dimensions) are copied as they are.
void expandRuntimeBroadcasts(NodeOp node, mlir::OpBuilder &b,
                             llvm::MutableArrayRef<BroadcastInput> inputs,
                             llvm::SmallVectorImpl<mlir::Value> &expanded);

/// A linalg.generic over the broadcast of `operands` producing `resultElement`;
/// `body` computes one result element from one element of each operand.
mlir::FailureOr<mlir::Value> broadcastGeneric(
    NodeOp node, mlir::OpBuilder &b, mlir::ValueRange operands,
    mlir::Type resultElement,
    llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location,
                                   mlir::ValueRange)>
        body);

/// Checks that `element` is one the arith and math dialects compute on.
mlir::LogicalResult checkComputable(NodeOp node, mlir::Type element,
                                    bool floatOnly);

/// Whether `type` is a floating-point type.
bool isFloat(mlir::Type type);

/// The constants 0 and 1 of the scalar type `type` (signless for an unsigned
/// one).
mlir::Value zeroOf(mlir::OpBuilder &b, mlir::Location loc, mlir::Type type);
mlir::Value oneOf(mlir::OpBuilder &b, mlir::Location loc, mlir::Type type);

/// `FloatOp`, `IntOp` or, where `type` is an unsigned integer type (the
/// operands being its signless values), `UIntOp` on two scalars.
template <typename FloatOp, typename IntOp, typename UIntOp = IntOp>
mlir::Value arithmetic(mlir::OpBuilder &b, mlir::Location loc, mlir::Type type,
                       mlir::ValueRange args) {
  if (isFloat(type))
    return b.create<FloatOp>(loc, args[0], args[1]);
  if (type.isUnsignedInteger())
    return b.create<UIntOp>(loc, args[0], args[1]);
  return b.create<IntOp>(loc, args[0], args[1]);
}

/// Inputs holding unsigned integers reach a handler as signless tensors of
/// the same bits; this attribute of the node says which did (one bool per
/// input), for the handlers whose results depend on it (comparisons,
/// division, Max / Min, conversions, reductions). Results are signless too.
inline constexpr llvm::StringLiteral kUnsignedInputs = "moe.unsigned_inputs";

/// Whether input `index` of `node` holds unsigned integers.
bool isUnsignedInput(NodeOp node, unsigned index);

/// The element type input `index` of `node` has in the model: unsigned
/// where it holds unsigned integers, else its operand's.
mlir::Type modelElementType(NodeOp node, unsigned index);

/// The signless integer type of an unsigned one's width; other types as
/// they are.
mlir::Type signlessOf(mlir::Type type);

/// The comparison `predicate` makes of unsigned integers (slt becomes ult...).
mlir::arith::CmpIPredicate unsignedPredicate(mlir::arith::CmpIPredicate predicate);

/// Integer list given as attribute `name` (older opsets) or as constant input
/// `index` (newer ones); nullopt when absent, failure when not constant.
mlir::FailureOr<std::optional<llvm::SmallVector<int64_t>>>
intListOperand(NodeOp node, llvm::StringRef name, unsigned index);

/// `axes` made non-negative and sorted; an error when one is out of range or
/// repeated.
mlir::LogicalResult normalizeAxes(NodeOp node, llvm::SmallVector<int64_t> &axes,
                                  int64_t rank);

/// The reassociation between a rank-`rank` shape whose `unitDims` are 1 and the
/// shape without them: each kept dimension takes the unit dimensions before it,
/// the last one those after it. Empty when every dimension is a unit one (a
/// scalar).
llvm::SmallVector<mlir::ReassociationIndices>
unitDimGroups(int64_t rank, llvm::ArrayRef<int64_t> unitDims);

/// Whether `value` is a ranked tensor of static shape holding one element.
bool isOneElement(mlir::Value value);

/// The element of a one-element tensor (`isOneElement`).
mlir::Value extractOne(mlir::OpBuilder &b, mlir::Location loc,
                       mlir::Value value);

/// Adds the unit dimensions `unitDims` to `x`, giving `resultShape`.
mlir::Value expandUnitDims(mlir::OpBuilder &b, mlir::Location loc,
                           mlir::Value x, llvm::ArrayRef<int64_t> resultShape,
                           llvm::ArrayRef<int64_t> unitDims);

} // namespace moe::onnx_to_linalg

#endif // MOE_LIB_CONVERSION_ONNXTOLINALG_COMMON_H
