//===- Linear.cpp - MatMul and Gemm onnx.node lowerings -------------------===//
//
// Matrix products as a linalg.generic with a reduction over k; MatMul's batch
// dimensions broadcast like elementwise operands.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "dialects/onnx/IR/OnnxMatchers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"

using namespace mlir;
using namespace ::moe::match;
using namespace ::moe::onnx_to_linalg;

namespace {

/// numpy matmul of two operands of rank 2 or more, batch dimensions
/// broadcast, times `alpha`; with `transA` / `transB` an operand's last two
/// dimensions are swapped first (ONNX Runtime's FusedMatMul).
FailureOr<SmallVector<Value>> matmul(NodeOp node, OpBuilder &b, bool transA,
                                     bool transB, double alpha) {
  SmallVector<Value> operands;
  if (Binder(node).first(2, operands))
    return failure();
  Value lhs = operands[0], rhs = operands[1];
  auto lhsType = cast<RankedTensorType>(lhs.getType());
  auto rhsType = cast<RankedTensorType>(rhs.getType());
  Type element = lhsType.getElementType();
  if (element != rhsType.getElementType() || !isFloat(element))
    return node.emitError()
           << node.getOpType() << " needs floating-point inputs of one element "
              "type, got "
           << lhsType << " and " << rhsType;
  if (lhsType.getRank() < 2 || rhsType.getRank() < 2)
    return node.emitError() << node.getOpType()
                            << " of a 1-D input is not supported yet";
  int64_t lhsRank = lhsType.getRank(), rhsRank = rhsType.getRank();
  int64_t lhsK = lhsType.getDimSize(transA ? lhsRank - 2 : lhsRank - 1);
  int64_t rhsK = rhsType.getDimSize(transB ? rhsRank - 1 : rhsRank - 2);
  if (!ShapedType::isDynamic(lhsK) && !ShapedType::isDynamic(rhsK) &&
      lhsK != rhsK)
    return node.emitError()
           << node.getOpType() << " inner dimensions differ: " << lhsK << " and "
           << rhsK;
  Location loc = node.getLoc();

  // Batch dimensions broadcast like elementwise operands; the iteration space
  // is batch..., m, n, k.
  int64_t batchRank = std::max(lhsType.getRank(), rhsType.getRank()) - 2;
  int64_t loops = batchRank + 3;
  SmallVector<OpFoldResult> batchSizes;
  SmallVector<SmallVector<AffineExpr>> exprs;
  SmallVector<BroadcastInput> batches{{lhs, lhsType.getShape().drop_back(2)},
                                      {rhs, rhsType.getShape().drop_back(2)}};
  SmallVector<Value> expanded;
  expandRuntimeBroadcasts(node, b, batches, expanded);
  lhs = batches[0].value;
  rhs = batches[1].value;
  if (failed(broadcast(node, b, batches, batchSizes, exprs)))
    return failure();
  MLIRContext *context = b.getContext();
  AffineExpr m = getAffineDimExpr(batchRank, context);
  AffineExpr n = getAffineDimExpr(batchRank + 1, context);
  AffineExpr k = getAffineDimExpr(batchRank + 2, context);
  exprs[0].append(transA ? SmallVector<AffineExpr>{k, m}
                         : SmallVector<AffineExpr>{m, k});
  exprs[1].append(transB ? SmallVector<AffineExpr>{n, k}
                         : SmallVector<AffineExpr>{k, n});
  SmallVector<AffineExpr> resultExprs;
  for (int64_t d = 0; d < batchRank + 2; ++d)
    resultExprs.push_back(getAffineDimExpr(d, context));
  SmallVector<AffineMap> maps{AffineMap::get(loops, 0, exprs[0], context),
                              AffineMap::get(loops, 0, exprs[1], context),
                              AffineMap::get(loops, 0, resultExprs, context)};

  SmallVector<OpFoldResult> sizes = batchSizes;
  sizes.push_back(dimOf(b, loc, lhs, transA ? lhsRank - 1 : lhsRank - 2));
  sizes.push_back(dimOf(b, loc, rhs, transB ? rhsRank - 2 : rhsRank - 1));
  Value init = b.create<tensor::EmptyOp>(loc, sizes, element);
  Value zero = zeroOf(b, loc, element);
  Value filled = b.create<linalg::FillOp>(loc, zero, init).getResult(0);
  SmallVector<utils::IteratorType> iterators(loops - 1,
                                             utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  auto generic = b.create<linalg::GenericOp>(
      loc, filled.getType(), ValueRange{lhs, rhs}, ValueRange{filled}, maps,
      iterators, [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        Value product =
            nested.create<arith::MulFOp>(nestedLoc, args[0], args[1]);
        if (alpha != 1.0)
          product = nested.create<arith::MulFOp>(
              nestedLoc, product,
              nested.create<arith::ConstantOp>(
                  nestedLoc, nested.getFloatAttr(element, alpha)));
        Value sum = nested.create<arith::AddFOp>(nestedLoc, args[2], product);
        nested.create<linalg::YieldOp>(nestedLoc, sum);
      });
  return SmallVector<Value>{generic.getResult(0)};
}

FailureOr<SmallVector<Value>> lowerMatMul(NodeOp node, RewriterBase &b) {
  return matmul(node, b, false, false, 1.0);
}

/// com.microsoft.FusedMatMul: alpha * op(A) op(B), op swapping the last two
/// dimensions where transA / transB ask. Transposing the batch dimensions
/// (transBatchA / transBatchB) is refused.
FailureOr<SmallVector<Value>> lowerFusedMatMul(NodeOp node, RewriterBase &b) {
  if (intAttr(node, "transBatchA", 0) != 0 ||
      intAttr(node, "transBatchB", 0) != 0)
    return node.emitError(
        "FusedMatMul with transBatchA or transBatchB is not supported yet");
  return matmul(node, b, intAttr(node, "transA", 0) != 0,
                intAttr(node, "transB", 0) != 0,
                floatAttr(node, "alpha", 1.0));
}

/// Gemm: alpha * A' B' + beta * C, with A' and B' optionally transposed.
FailureOr<SmallVector<Value>> lowerGemm(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(2, operands))
    return failure();
  Value lhs = operands[0], rhs = operands[1], addend = input(node, 2);
  auto lhsType = cast<RankedTensorType>(lhs.getType());
  auto rhsType = cast<RankedTensorType>(rhs.getType());
  Type element = lhsType.getElementType();
  if (lhsType.getRank() != 2 || rhsType.getRank() != 2 ||
      rhsType.getElementType() != element || !isFloat(element))
    return node.emitError(
        "Gemm needs two 2-D floating-point inputs of one type");
  bool transA = intAttr(node, "transA", 0) != 0;
  bool transB = intAttr(node, "transB", 0) != 0;
  double alpha = 1.0, beta = 1.0;
  if (auto attr = dyn_cast_or_null<FloatAttr>(node.getOnnxAttr("alpha")))
    alpha = attr.getValueAsDouble();
  if (auto attr = dyn_cast_or_null<FloatAttr>(node.getOnnxAttr("beta")))
    beta = attr.getValueAsDouble();
  Location loc = node.getLoc();
  MLIRContext *context = b.getContext();
  AffineExpr m = getAffineDimExpr(0, context), n = getAffineDimExpr(1, context),
             k = getAffineDimExpr(2, context);
  SmallVector<AffineMap> maps{
      AffineMap::get(3, 0,
                     transA ? ArrayRef<AffineExpr>{k, m}
                            : ArrayRef<AffineExpr>{m, k},
                     context),
      AffineMap::get(3, 0,
                     transB ? ArrayRef<AffineExpr>{n, k}
                            : ArrayRef<AffineExpr>{k, n},
                     context),
      AffineMap::get(3, 0, {m, n}, context)};
  SmallVector<OpFoldResult> sizes{dimOf(b, loc, lhs, transA ? 1 : 0),
                                  dimOf(b, loc, rhs, transB ? 0 : 1)};
  Value init = b.create<tensor::EmptyOp>(loc, sizes, element);
  Value filled =
      b.create<linalg::FillOp>(loc, zeroOf(b, loc, element), init).getResult(0);
  Value product =
      b.create<linalg::GenericOp>(
           loc, filled.getType(), ValueRange{lhs, rhs}, ValueRange{filled},
           maps,
           SmallVector<utils::IteratorType>{utils::IteratorType::parallel,
                                            utils::IteratorType::parallel,
                                            utils::IteratorType::reduction},
           [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
             Value mul =
                 nested.create<arith::MulFOp>(nestedLoc, args[0], args[1]);
             nested.create<linalg::YieldOp>(
                 nestedLoc,
                 nested.create<arith::AddFOp>(nestedLoc, args[2], mul)
                     .getResult());
           })
          .getResult(0);
  if (alpha == 1.0 && (!addend || beta == 0.0))
    return SmallVector<Value>{product};
  SmallVector<Value> terms{product};
  if (addend && beta != 0.0) {
    if (!isa<RankedTensorType>(addend.getType()) ||
        elementTypeOf(addend) != element)
      return node.emitError("Gemm's C must be a tensor of the inputs' type");
    terms.push_back(addend);
  }
  return single(broadcastGeneric(
      node, b, terms, element,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        Value scaled = args[0];
        if (alpha != 1.0)
          scaled = nested.create<arith::MulFOp>(
              nestedLoc, scaled,
              nested.create<arith::ConstantOp>(
                  nestedLoc, nested.getFloatAttr(element, alpha)));
        if (args.size() == 1)
          return scaled;
        Value c = args[1];
        if (beta != 1.0)
          c = nested.create<arith::MulFOp>(
              nestedLoc, c,
              nested.create<arith::ConstantOp>(
                  nestedLoc, nested.getFloatAttr(element, beta)));
        return nested.create<arith::AddFOp>(nestedLoc, scaled, c).getResult();
      }));
}

/// Einsum in explicit (`ab,bc->ac`) or implicit (`ab,bc`: the letters that
/// appear once, sorted) form: one linalg.generic over the output's letters,
/// then the summed ones, multiplying one element of each input. Ellipses are
/// refused.
FailureOr<SmallVector<Value>> lowerEinsum(NodeOp node, RewriterBase &b) {
  std::string equation;
  for (char c : stringAttr(node, "equation", ""))
    if (c != ' ')
      equation.push_back(c);
  if (equation.find("...") != std::string::npos)
    return node.emitError("Einsum with an ellipsis is not supported yet");
  StringRef text(equation);
  auto [lhs, rhs] = text.split("->");
  bool explicitOutput = text.contains("->");
  SmallVector<StringRef> terms;
  lhs.split(terms, ',');
  unsigned count = node.getInputs().size();
  if (terms.size() != count)
    return node.emitError() << "Einsum equation '" << equation << "' has "
                            << terms.size() << " operands, the node " << count;
  SmallVector<Value> operands;
  if (Binder(node).first(count, operands))
    return failure();
  Type element = elementTypeOf(operands[0]);
  if (failed(checkComputable(node, element, /*floatOnly=*/false)))
    return failure();
  llvm::StringMap<int64_t> uses;
  for (auto [term, operand] : llvm::zip(terms, operands)) {
    if (static_cast<int64_t>(term.size()) !=
            cast<RankedTensorType>(operand.getType()).getRank() ||
        elementTypeOf(operand) != element ||
        !llvm::all_of(term, [](char c) { return std::isalpha(c); }))
      return node.emitError()
             << "Einsum operand '" << term << "' does not match input "
             << operand.getType() << " (one letter per dimension, one element "
             << "type)";
    for (char c : term)
      ++uses[StringRef(&c, 1)];
  }
  std::string output = rhs.str();
  if (!explicitOutput) {
    output.clear();
    for (char c = 'A'; c <= 'z'; ++c)
      if (std::isalpha(c) && uses.lookup(StringRef(&c, 1)) == 1)
        output.push_back(c);
  }
  // Loop order: the output's letters, then the summed ones.
  std::string letters = output;
  for (StringRef term : terms)
    for (char c : term)
      if (letters.find(c) == std::string::npos)
        letters.push_back(c);
  for (char c : output)
    if (!uses.count(StringRef(&c, 1)) ||
        std::count(output.begin(), output.end(), c) != 1)
      return node.emitError() << "Einsum output '" << output
                              << "' names a letter no input has, or twice";
  Location loc = node.getLoc();
  MLIRContext *context = b.getContext();
  auto loopOf = [&](char c) {
    return getAffineDimExpr(letters.find(c), context);
  };
  SmallVector<OpFoldResult> sizes(letters.size());
  SmallVector<AffineMap> maps;
  for (auto [term, operand] : llvm::zip(terms, operands)) {
    SmallVector<AffineExpr> exprs;
    for (auto [d, c] : llvm::enumerate(term)) {
      exprs.push_back(loopOf(c));
      OpFoldResult &size = sizes[letters.find(c)];
      OpFoldResult here = dimOf(b, loc, operand, d);
      if (!size || (!getConstantIntValue(size) && getConstantIntValue(here)))
        size = here;
    }
    maps.push_back(AffineMap::get(letters.size(), 0, exprs, context));
  }
  SmallVector<AffineExpr> outputExprs;
  SmallVector<OpFoldResult> outputSizes;
  for (char c : output) {
    outputExprs.push_back(loopOf(c));
    outputSizes.push_back(sizes[letters.find(c)]);
  }
  maps.push_back(AffineMap::get(letters.size(), 0, outputExprs, context));
  SmallVector<utils::IteratorType> iterators(letters.size(),
                                             utils::IteratorType::reduction);
  for (size_t i = 0; i < output.size(); ++i)
    iterators[i] = utils::IteratorType::parallel;
  Value init = b.create<linalg::FillOp>(
                    loc, zeroOf(b, loc, element),
                    b.create<tensor::EmptyOp>(loc, outputSizes, element)
                        .getResult())
                   .getResult(0);
  auto generic = b.create<linalg::GenericOp>(
      loc, init.getType(), operands, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value product = args[0];
        for (Value arg : args.drop_front().drop_back())
          product = arithmetic<arith::MulFOp, arith::MulIOp>(nb, nl, element,
                                                             {product, arg});
        nb.create<linalg::YieldOp>(
            nl, arithmetic<arith::AddFOp, arith::AddIOp>(
                    nb, nl, element, {args.back(), product}));
      });
  return SmallVector<Value>{generic.getResult(0)};
}

} // namespace

void moe::onnx_to_linalg::registerLinearLowerings(HandlerTable &table) {
  table.add("", "MatMul", 1, lowerMatMul);
  table.add("", "Einsum", 12, lowerEinsum);
  table.add("com.microsoft", "FusedMatMul", 1, lowerFusedMatMul);
  table.add("", "Gemm", 11, lowerGemm);
}
