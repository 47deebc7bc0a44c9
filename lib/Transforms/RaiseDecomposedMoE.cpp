//===- RaiseDecomposedMoE.cpp - MoE layers written with standard ONNX ops -===//
//
// The batched-matmul form transformers' ONNX export writes: the chosen experts'
// weights are gathered per token by the top-k ids, tokens go through batched
// MatMuls with them, and the k outputs are weighted by the routing weights and
// summed:
//
//   w, ids = TopK(Softmax(logits))        (or Softmax over TopK, renormalised
//   or not) h      = MatMul(Unsqueeze(x), Gather(gate_up, ids)) [+
//   Gather(gate_up_bias, ids)] a      = act(gate(h)) * up(h)         (Split or
//   Slice step 2; silu, clamps) o      = MatMul(a, Gather(down, ids)) [+
//   Gather(down_bias, ids)] y      = ReduceSum(Squeeze(o) * Unsqueeze(w), axis
//   = k)
//
// Weights come as [E, in, out] (x @ W) or [E, out, in] (W @ x); both are
// recognised.
//
// The dense all-experts form runs every expert on every token and weights the
// results with a dense [T, E] routing matrix built by scattering the top-k
// weights into zeros:
//
//   r = Unsqueeze(Transpose(ScatterElements(zeros [T, E], ids, w, axis = 1)))
//   y = ReduceSum(experts(Unsqueeze(x, 0)) [E, T, H] * r, axis = 0)
//
// Raised, it runs only the routed experts. Both patterns are anchored at the
// final ReduceSum and share the matching of the expert body and of the routing.
//
//===----------------------------------------------------------------------===//

#include "RaisePatterns.h"
#include "dialects/onnx/IR/OnnxMatchers.h"

#include "dialects/moe/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include <cmath>

using namespace mlir;
using namespace mlir::moe;
using namespace ::moe::match;

namespace {

/// Routing recognised from the weights operand of the final Mul.
struct RoutingMatch {
  Value logits, ids;
  RoutingKind kind = RoutingKind::SoftmaxTopK;
  bool normalize = false;
  int64_t k = 0;
  /// Sigmoid routing: the selection-only correction bias, the factor on the
  /// final weights, and grouped top-k.
  Value bias;
  double scale = 1.0;
  int64_t numGroups = 1, topkGroups = 1;
  /// The renormalising sum is max(sum + normEpsilon, normFloor).
  double normEpsilon = 0.0, normFloor = 0.0;
  /// Sparse mixer: logits within 2 * jitterEps (relative) of the chosen one
  /// share its softmax.
  double jitterEps = 0.0;
};

/// The two operands of a commutative node (Mul, Add) in both orders.
SmallVector<std::pair<Value, Value>, 2> bothOrders(NodeOp commutative) {
  if (!commutative)
    return {};
  return {{input(commutative, 0), input(commutative, 1)},
          {input(commutative, 1), input(commutative, 0)}};
}

/// The TopK over the last axis with a constant k that defines `value` (result
/// 0).
NodeOp topKValues(Value value, int64_t &k) {
  NodeOp topk = node(value, "TopK");
  if (!topk || topk.getResult(0) != value || intAttr(topk, "largest", 1) != 1)
    return NodeOp();
  int64_t rank = rankOf(input(topk, 0));
  if (!isAxis(intAttr(topk, "axis", -1), rank - 1, rank))
    return NodeOp();
  std::optional<SmallVector<int64_t>> ks = constInts(input(topk, 1));
  if (!ks || ks->size() != 1)
    return NodeOp();
  k = (*ks)[0];
  return topk;
}

/// True when `softmax` normalises over the last axis.
bool isLastAxisSoftmax(NodeOp softmax) {
  int64_t rank = rankOf(input(softmax, 0));
  return softmax && isAxis(intAttr(softmax, "axis", -1), rank - 1, rank);
}

/// `Add(value, bias)` (either order) with a 1-D bias that is not a node's
/// result: returns the other operand and sets `bias`.
Value splitSelectionBias(Value value, Value &bias) {
  for (auto [scores, candidate] : bothOrders(node(value, "Add"))) {
    auto type = dyn_cast<RankedTensorType>(candidate.getType());
    // [E], or [1, E] as TorchScript keeps a broadcast parameter.
    bool vector = type && (type.getRank() == 1 ||
                           (type.getRank() == 2 && type.getDimSize(0) == 1));
    if (vector && !candidate.getDefiningOp<NodeOp>()) {
      bias = candidate;
      return scores;
    }
  }
  return value;
}

/// True when `value` is a tensor of `fill` everywhere: a splat constant,
/// ConstantOfShape, or an Expand of one.
bool isFilledWith(Value value, double fill) {
  if (NodeOp expand = node(value, "Expand"))
    value = input(expand, 0);
  if (NodeOp constantOfShape = node(value, "ConstantOfShape")) {
    auto attr = dyn_cast_or_null<DenseElementsAttr>(
        constantOfShape.getOnnxAttr("value"));
    if (!attr)
      return fill == 0.0;
    if (!attr.isSplat())
      return false;
    if (auto floats = dyn_cast<DenseFPElementsAttr>(attr))
      return floats.getSplatValue<APFloat>().convertToDouble() == fill;
    return static_cast<double>(attr.getSplatValue<APInt>().getSExtValue()) ==
           fill;
  }
  if (auto constant = value.getDefiningOp<arith::ConstantOp>())
    if (auto splat = dyn_cast<SplatElementsAttr>(constant.getValue())) {
      if (auto floats = dyn_cast<DenseFPElementsAttr>(splat))
        return floats.getSplatValue<APFloat>().convertToDouble() == fill;
      if (auto ints = dyn_cast<DenseIntElementsAttr>(splat))
        return static_cast<double>(
                   ints.getSplatValue<APInt>().getSExtValue()) == fill;
    }
  if (std::optional<double> c = constFloat(value))
    return *c == fill;
  std::optional<SmallVector<int64_t>> ints = constInts(value);
  return ints && ints->size() == 1 && static_cast<double>((*ints)[0]) == fill;
}

/// DeepSeek-V3 group selection: the selection scores with the experts outside
/// the `topk_groups` groups whose two best scores sum highest replaced by
/// `fill`, written `Where(mask, scores, fill)` or `Where(Not(mask), fill,
/// scores)`:
///   g    = TopK(ReduceSum(TopK(Reshape(scores, [T, G, E/G]), 2).values, -1),
///              topk_groups)
///   mask = Cast(Reshape(Expand(Unsqueeze(ScatterElements(zeros, g.ids,
///              ones)))))
/// Returns the ungrouped scores and sets the group counts and the fill.
Value matchGroupMask(Value value, int64_t &numGroups, int64_t &topkGroups,
                     double &fill) {
  NodeOp where = node(value, "Where");
  if (!where)
    return Value();
  Value mask = input(where, 0), kept = input(where, 1),
        dropped = input(where, 2);
  if (NodeOp negated = node(mask, "Not")) {
    mask = input(negated, 0);
    std::swap(kept, dropped);
  }
  std::optional<double> fillValue = constFloat(dropped);
  if (!fillValue)
    return Value();
  fill = *fillValue;
  Value scores = kept;
  // Walk the mask back to the group scatter.
  for (StringRef op : {"Cast", "Reshape", "Expand", "Unsqueeze"})
    if (NodeOp step = node(mask, op))
      mask = input(step, 0);
  NodeOp scatter = node(mask, "ScatterElements");
  if (!scatter || !isAxis(intAttr(scatter, "axis", 0), 1, 2) ||
      stringAttr(scatter, "reduction", "none") != "none" ||
      !isFilledWith(input(scatter, 0), 0.0) ||
      !isFilledWith(input(scatter, 2), 1.0))
    return Value();
  NodeOp groupTop = node(input(scatter, 1), "TopK");
  if (!groupTop || groupTop.getResult(1) != input(scatter, 1))
    return Value();
  std::optional<SmallVector<int64_t>> keptGroups = constInts(input(groupTop, 1));
  NodeOp groupScore = node(input(groupTop, 0), "ReduceSum");
  if (!keptGroups || keptGroups->size() != 1 || !groupScore ||
      intAttr(groupScore, "keepdims", 1) != 0 ||
      axes(groupScore, 3) != SmallVector<int64_t>{2})
    return Value();
  // Groups are scored by their two best experts, as #moe.routing defines it.
  int64_t perGroupK;
  NodeOp perGroup = topKValues(input(groupScore, 0), perGroupK);
  if (!perGroup || perGroupK != 2)
    return Value();
  NodeOp reshape = node(input(perGroup, 0), "Reshape");
  auto grouped = reshape ? dyn_cast<RankedTensorType>(reshape.getResult(0).getType())
                         : RankedTensorType();
  if (!reshape || input(reshape, 0) != scores || !grouped ||
      grouped.getRank() != 3 || grouped.isDynamicDim(1))
    return Value();
  numGroups = grouped.getDimSize(1);
  topkGroups = (*keptGroups)[0];
  return scores;
}

/// The smallest element of a constant floating-point tensor.
std::optional<double> constMin(Value value) {
  auto constant = value ? value.getDefiningOp<arith::ConstantOp>()
                        : arith::ConstantOp();
  auto dense =
      constant ? dyn_cast<DenseFPElementsAttr>(constant.getValue()) : nullptr;
  if (!dense || dense.getNumElements() == 0)
    return std::nullopt;
  double lowest = INFINITY;
  for (const APFloat &v : dense.getValues<APFloat>())
    lowest = std::min(lowest, v.convertToDouble());
  return lowest;
}

Value matchClip(Value value, double &low, double &high);
Value unsqueezedColumn(Value value);
bool isLengthOf(Value count, Value of);

/// Routing whose weights are gathered from the scores at the chosen ids:
/// weights = GatherElements(scores, ids) [/ max(ReduceSum + eps, floor)]
/// [* scale], ids = TopK(scores [+ bias]), with sigmoid scores (optionally
/// restricted to the best groups) or softmax scores.
std::optional<RoutingMatch> matchGatheredRouting(Value weights) {
  RoutingMatch match;
  for (auto [value, factor] : bothOrders(node(weights, "Mul")))
    if (std::optional<double> c = constFloat(factor)) {
      match.scale = *c;
      weights = value;
      break;
    }
  if (NodeOp div = node(weights, "Div")) {
    // The denominator may carry an epsilon against division by zero (LFM2),
    // or a floor (Ernie 4.5's Clip at moe_norm_min).
    Value denominator = input(div, 1);
    double low, high;
    if (Value clipped = matchClip(denominator, low, high);
        clipped && low >= 0.0 && std::isinf(high)) {
      match.normFloor = low;
      denominator = clipped;
    }
    for (auto [sumValue, epsilon] : bothOrders(node(denominator, "Add")))
      if (std::optional<double> c = constFloat(epsilon); c && *c >= 0.0) {
        match.normEpsilon = *c;
        denominator = sumValue;
        break;
      }
    NodeOp sum = node(denominator, "ReduceSum");
    if (!sum || input(sum, 0) != input(div, 0) ||
        intAttr(sum, "keepdims", 1) != 1 ||
        axes(sum, 2) != SmallVector<int64_t>{1})
      return std::nullopt;
    match.normalize = true;
    weights = input(div, 0);
  }
  NodeOp gather = node(weights, "GatherElements");
  if (!gather || !isAxis(intAttr(gather, "axis", 0), 1, 2))
    return std::nullopt;
  // The scores: sigmoid (DeepSeek-V3, LFM2) or a softmax whose selection
  // adds a bias (Ernie 4.5).
  NodeOp sigmoid = node(input(gather, 0), "Sigmoid");
  NodeOp softmax = node(input(gather, 0), "Softmax");
  if (softmax && isLastAxisSoftmax(softmax))
    sigmoid = softmax;
  NodeOp topk = node(input(gather, 1), "TopK");
  if (!sigmoid || !topk || topk.getResult(1) != input(gather, 1) ||
      topKValues(topk.getResult(0), match.k) != topk)
    return std::nullopt;
  Value selection = input(topk, 0);
  double fill = -INFINITY;
  if (Value ungrouped = matchGroupMask(selection, match.numGroups,
                                       match.topkGroups, fill))
    selection = ungrouped;
  selection = splitSelectionBias(selection, match.bias);
  if (selection != sigmoid.getResult(0))
    return std::nullopt;
  // #moe.routing drops the experts of the other groups. A finite fill (torch's
  // masked_fill(~mask, 0.0)) does the same only when it is below every
  // selection score: sigmoid > 0, so below the smallest bias.
  if (fill != -INFINITY) {
    std::optional<double> lowest = match.bias ? constMin(match.bias) : 0.0;
    if (!lowest || fill > *lowest)
      return std::nullopt;
  }
  match.kind = softmax ? RoutingKind::SoftmaxTopK : RoutingKind::SigmoidTopK;
  if (softmax && match.numGroups != 1)
    return std::nullopt;
  match.logits = input(sigmoid, 0);
  match.ids = topk.getResult(1);
  return match;
}

/// True when `op` reduces the last axis of its rank-2 input with keepdims
/// (ReduceMax, ArgMax without select_last_index).
bool reducesLastKeepingDims(NodeOp op) {
  if (!op || intAttr(op, "keepdims", 1) != 1)
    return false;
  if (op.getOpType() == "ArgMax")
    return intAttr(op, "select_last_index", 0) == 0 &&
           isAxis(intAttr(op, "axis", 0), 1, 2);
  std::optional<SmallVector<int64_t>> dims = axes(op, 2);
  return dims && *dims == SmallVector<int64_t>{1};
}

/// `Where(mask, fill, x)` or `Where(Not(mask), x, fill)` with fill -inf:
/// returns x and sets `mask`.
Value maskedToMinusInf(Value value, Value &mask) {
  NodeOp where = node(value, "Where");
  if (!where)
    return nullptr;
  if (isFilledWith(input(where, 1), -INFINITY)) {
    mask = input(where, 0);
    return input(where, 2);
  }
  if (NodeOp negated = node(input(where, 0), "Not");
      negated && isFilledWith(input(where, 2), -INFINITY)) {
    mask = input(negated, 0);
    return input(where, 1);
  }
  return nullptr;
}

/// Phi-MoE's sparse mixer (SparseMixer-v2 at inference), k passes over the
/// logits: with `l_0 = logits` and `l_{j+1} = ScatterElements(l_j, a_j,
/// -inf)`,
///   m_j = ReduceMax(l_j), a_j = ArgMax(l_j)          (last axis, keepdims)
///   far_j = Greater(Div(Sub(m_j, logits), Max(Abs(logits), m_j)), 2 eps)
///   w_j = GatherElements(Softmax(Where(far_j, -inf, l_j)), a_j)
/// and weights = Concat(w_j), ids = Concat(a_j) on the last axis.
std::optional<RoutingMatch> matchSparseMixer(Value weights) {
  NodeOp concat = node(weights, "Concat");
  if (!concat || !isAxis(intAttr(concat, "axis", 0), 1, 2))
    return std::nullopt;
  RoutingMatch match;
  match.kind = RoutingKind::SparseMixer;
  match.k = concat.getInputs().size();
  SmallVector<Value> argmaxes;
  Value previous;
  for (Value piece : concat.getInputs()) {
    NodeOp gather = node(piece, "GatherElements");
    if (!gather || !isAxis(intAttr(gather, "axis", 0), 1, 2))
      return std::nullopt;
    NodeOp softmax = node(input(gather, 0), "Softmax");
    NodeOp argmax = node(input(gather, 1), "ArgMax");
    if (!softmax || !isLastAxisSoftmax(softmax) ||
        !reducesLastKeepingDims(argmax))
      return std::nullopt;
    Value far;
    Value scores = maskedToMinusInf(input(softmax, 0), far);
    if (!scores || input(argmax, 0) != scores)
      return std::nullopt;
    // The scores of pass j are the logits with the earlier choices at -inf.
    if (argmaxes.empty()) {
      match.logits = scores;
    } else {
      NodeOp scatter = node(scores, "ScatterElements");
      if (!scatter || input(scatter, 0) != previous ||
          input(scatter, 1) != argmaxes.back() ||
          !isFilledWith(input(scatter, 2), -INFINITY) ||
          !isAxis(intAttr(scatter, "axis", 0), 1, 2) ||
          stringAttr(scatter, "reduction", "none") != "none")
        return std::nullopt;
    }
    // far = (m - logits) / max(|logits|, m) > 2 eps, m the pass's maximum.
    NodeOp greater = node(far, "Greater");
    NodeOp div = node(input(greater, 0), "Div");
    NodeOp sub = node(input(div, 0), "Sub");
    std::optional<double> width = constFloat(input(greater, 1));
    if (!greater || !div || !sub || !width || !(*width >= 0.0) ||
        input(sub, 1) != match.logits)
      return std::nullopt;
    Value max = input(sub, 0);
    NodeOp reduce = node(max, "ReduceMax");
    if (!reducesLastKeepingDims(reduce) || input(reduce, 0) != scores)
      return std::nullopt;
    bool factorMatches = false;
    NodeOp factor = node(input(div, 1), "Max");
    if (factor && factor.getInputs().size() != 2)
      return std::nullopt;
    for (auto [absolute, bound] : bothOrders(factor))
      if (NodeOp abs = node(absolute, "Abs");
          abs && input(abs, 0) == match.logits && bound == max)
        factorMatches = true;
    if (!factorMatches)
      return std::nullopt;
    if (argmaxes.empty())
      match.jitterEps = *width / 2.0;
    else if (*width / 2.0 != match.jitterEps)
      return std::nullopt;
    argmaxes.push_back(argmax.getResult(0));
    previous = scores;
  }
  // The ids: the same ArgMaxes concatenated in the same order.
  for (Operation *user : argmaxes.front().getUsers()) {
    auto ids = dyn_cast<NodeOp>(user);
    if (ids && ids.getOpType() == "Concat" && ids.getNumResults() == 1 &&
        isAxis(intAttr(ids, "axis", 0), 1, 2) &&
        llvm::equal(ids.getInputs(), argmaxes)) {
      match.ids = ids.getResult(0);
      return match;
    }
  }
  return std::nullopt;
}

std::optional<RoutingMatch> matchRouting(Value weights) {
  RoutingMatch match;
  // [T, k] weights broadcast against the [T, k, H] expert outputs.
  if (NodeOp unsqueeze = node(weights, "Unsqueeze")) {
    std::optional<SmallVector<int64_t>> dims = axes(unsqueeze, 3);
    if (!dims || dims->size() != 1 || (*dims)[0] != 2)
      return std::nullopt;
    weights = input(unsqueeze, 0);
  }
  if (std::optional<RoutingMatch> sigmoid = matchGatheredRouting(weights))
    return sigmoid;
  if (std::optional<RoutingMatch> mixer = matchSparseMixer(weights))
    return mixer;
  // A constant factor on the final weights (DeepSeek-V2's
  // routed_scaling_factor).
  double scale = 1.0;
  for (auto [value, factor] : bothOrders(node(weights, "Mul")))
    if (std::optional<double> c = constFloat(factor)) {
      scale = *c;
      weights = value;
      break;
    }
  match.scale = scale;
  if (NodeOp div = node(weights, "Div")) {
    NodeOp sum = node(input(div, 1), "ReduceSum");
    if (!sum || input(sum, 0) != input(div, 0) ||
        intAttr(sum, "keepdims", 1) != 1)
      return std::nullopt;
    std::optional<SmallVector<int64_t>> dims = axes(sum, 2);
    if (!dims || dims->size() != 1 || (*dims)[0] != 1)
      return std::nullopt;
    match.normalize = true;
    weights = input(div, 0);
  }
  if (NodeOp softmax = node(weights, "Softmax")) {
    // Softmax over the k chosen logits.
    NodeOp topk = topKValues(input(softmax, 0), match.k);
    if (!topk || !isLastAxisSoftmax(softmax) || match.normalize)
      return std::nullopt;
    match.kind = RoutingKind::TopKSoftmax;
    match.logits = input(topk, 0);
    match.ids = topk.getResult(1);
    return match;
  }
  NodeOp topk = topKValues(weights, match.k);
  if (!topk)
    return std::nullopt;
  NodeOp softmax = node(input(topk, 0), "Softmax");
  if (!softmax || !isLastAxisSoftmax(softmax))
    return std::nullopt;
  match.logits = input(softmax, 0);
  match.ids = topk.getResult(1);
  return match;
}

/// Expert weights and activation recognised between the gathers and the final
/// Mul.
struct ExpertMatch {
  Value tokens;
  Value gateUp, down, gateUpBias, downBias;
  /// Weights are [E, in, out] and need transposing to moe.layer's [E, out, in].
  bool inputMajor = false;
  ActivationFn fn = ActivationFn::Identity;
  GateLayout gated = GateLayout::None;
  double alpha = 1.0, beta = 0.0;
  std::optional<double> limit;
  /// The routing weights scale the expert inputs (moe.layer scale_inputs).
  bool scaleInputs = false;
};

/// Where a form keeps the dimensions of its expert computation.
struct ExpertLayout {
  /// The top-k ids the weights are gathered by (batched form); null when every
  /// expert's weights are used whole (dense form).
  Value ids;
  /// x @ W with [E, in, out] weights, or W @ x with [E, out, in].
  bool inputMajor = true;
  /// The pre-activation's feature axis, where gate and up are split.
  int64_t featureAxis;
  /// The axis an Unsqueeze adds to broadcast a bias over tokens.
  int64_t biasAxis;
  /// The axes an Unsqueeze adds to the [T, H] tokens.
  SmallVector<int64_t> tokenAxes;
};

/// The expert weight `value` stands for: `Gather(W, ids, axis = 0)` in the
/// batched form, `W` itself (a constant or an argument) in the dense form.
Value expertWeight(Value value, const ExpertLayout &layout, int64_t rank) {
  if (!layout.ids) {
    bool external = value && (value.getDefiningOp<arith::ConstantOp>() ||
                              isa<BlockArgument>(value));
    return external && rankOf(value) == rank ? value : Value();
  }
  NodeOp gather = node(value, "Gather");
  if (!gather || input(gather, 1) != layout.ids ||
      intAttr(gather, "axis", 0) != 0 || rankOf(input(gather, 0)) != rank)
    return Value();
  return input(gather, 0);
}

/// Splits `value = Add(main, Unsqueeze(bias))` (either order) into its parts;
/// without a bias returns `value` and a null bias.
std::pair<Value, Value> splitBias(Value value, const ExpertLayout &layout) {
  NodeOp add = node(value, "Add");
  if (!add)
    return {value, Value()};
  for (unsigned side : {0u, 1u}) {
    NodeOp unsqueeze = node(input(add, side), "Unsqueeze");
    if (!unsqueeze)
      continue;
    std::optional<SmallVector<int64_t>> dims =
        axes(unsqueeze, rankOf(input(unsqueeze, 0)) + 1);
    Value bias = expertWeight(input(unsqueeze, 0), layout, 2);
    if (bias && dims && dims->size() == 1 && (*dims)[0] == layout.biasAxis)
      return {input(add, 1 - side), bias};
  }
  // The dense form's bias may come unsqueezed already: a constant [E, 1, F]
  // (rewriteToLayer collapses it to [E, F]).
  if (!layout.ids && layout.biasAxis == 1)
    for (unsigned side : {0u, 1u}) {
      Value bias = expertWeight(input(add, side), layout, 3);
      if (bias && cast<ShapedType>(bias.getType()).getDimSize(1) == 1)
        return {input(add, 1 - side), bias};
    }
  return {value, Value()};
}

/// `x * sigmoid(alpha * x)`: returns x and sets alpha.
Value matchSilu(Value value, double &alpha) {
  for (auto [x, sig] : bothOrders(node(value, "Mul"))) {
    NodeOp sigmoid = node(sig, "Sigmoid");
    if (!sigmoid)
      continue;
    Value arg = input(sigmoid, 0);
    if (arg == x) {
      alpha = 1.0;
      return x;
    }
    for (auto [y, scale] : bothOrders(node(arg, "Mul")))
      if (y == x)
        if (std::optional<double> c = constFloat(scale)) {
          alpha = *c;
          return x;
        }
  }
  return Value();
}

/// The pre-activation `h` that `gate` and `up` are the two halves of, and how.
Value matchGateUpSplit(Value gate, Value up, int64_t axis, GateLayout &layout) {
  NodeOp split = node(gate, "Split");
  if (split && split == node(up, "Split") && split.getNumResults() == 2 &&
      split.getResult(0) == gate && split.getResult(1) == up) {
    int64_t rank = rankOf(input(split, 0));
    if (!isAxis(intAttr(split, "axis", 0), axis, rank))
      return Value();
    if (Value sizes = input(split, 1)) {
      std::optional<SmallVector<int64_t>> parts = constInts(sizes);
      if (!parts || parts->size() != 2 || (*parts)[0] != (*parts)[1])
        return Value();
    }
    layout = GateLayout::Concatenated;
    return input(split, 0);
  }
  // Interleaved: gate = h[..., 0::2], up = h[..., 1::2].
  NodeOp gateSlice = node(gate, "Slice"), upSlice = node(up, "Slice");
  if (!gateSlice || !upSlice || input(gateSlice, 0) != input(upSlice, 0))
    return Value();
  int64_t rank = rankOf(input(gateSlice, 0));
  // Concatenated, taken by two Slices: gate = h[..., :F/2], up = h[..., F/2:].
  auto featureType = dyn_cast<RankedTensorType>(input(gateSlice, 0).getType());
  int64_t features = featureType && axis < featureType.getRank()
                         ? featureType.getDimSize(axis)
                         : ShapedType::kDynamic;
  auto halfIs = [&](NodeOp slice, int64_t begin, int64_t end) {
    std::optional<SmallVector<int64_t>> starts = constInts(input(slice, 1));
    std::optional<SmallVector<int64_t>> ends = constInts(input(slice, 2));
    std::optional<SmallVector<int64_t>> sliceAxes = constInts(input(slice, 3));
    std::optional<SmallVector<int64_t>> steps =
        input(slice, 4) ? constInts(input(slice, 4)) : SmallVector<int64_t>{1};
    return starts && ends && sliceAxes && steps && starts->size() == 1 &&
           ends->size() == 1 && sliceAxes->size() == 1 && steps->size() == 1 &&
           (*steps)[0] == 1 && isAxis((*sliceAxes)[0], axis, rank) &&
           (*starts)[0] == begin && std::min((*ends)[0], features) == end;
  };
  if (!ShapedType::isDynamic(features) && features % 2 == 0 &&
      halfIs(gateSlice, 0, features / 2) &&
      halfIs(upSlice, features / 2, features)) {
    layout = GateLayout::Concatenated;
    return input(gateSlice, 0);
  }
  auto sliceIs = [&](NodeOp slice, int64_t start) {
    std::optional<SmallVector<int64_t>> starts = constInts(input(slice, 1));
    std::optional<SmallVector<int64_t>> sliceAxes = constInts(input(slice, 3));
    std::optional<SmallVector<int64_t>> steps = constInts(input(slice, 4));
    return starts && sliceAxes && steps && starts->size() == 1 &&
           sliceAxes->size() == 1 && steps->size() == 1 &&
           (*starts)[0] == start && isAxis((*sliceAxes)[0], axis, rank) &&
           (*steps)[0] == 2;
  };
  if (!sliceIs(gateSlice, 0) || !sliceIs(upSlice, 1))
    return Value();
  layout = GateLayout::Interleaved;
  return input(gateSlice, 0);
}

/// `Clip(x, min, max)` with constant bounds (an absent bound is infinite).
Value matchClip(Value value, double &low, double &high) {
  NodeOp clip = node(value, "Clip");
  if (!clip)
    return Value();
  // A bound is a floating-point or (clipping integers) an integer constant.
  auto bound = [](Value v) -> std::optional<double> {
    if (std::optional<double> c = constFloat(v))
      return c;
    std::optional<SmallVector<int64_t>> ints = constInts(v);
    if (ints && ints->size() == 1)
      return static_cast<double>((*ints)[0]);
    return std::nullopt;
  };
  low = -INFINITY;
  high = INFINITY;
  if (Value min = input(clip, 1)) {
    std::optional<double> c = bound(min);
    if (!c)
      return Value();
    low = *c;
  }
  if (Value max = input(clip, 2)) {
    std::optional<double> c = bound(max);
    if (!c)
      return Value();
    high = *c;
  }
  return input(clip, 0);
}

/// Recognises the activation applied to the pre-activation along `axis`;
/// returns the pre-activation.
Value matchActivation(Value act, int64_t axis, ExpertMatch &match) {
  // Gated: act = silu(gate') * up', gate' = min(gate, limit), up' = clip(up) +
  // beta.
  for (auto [activated, upSide] : bothOrders(node(act, "Mul"))) {
    double alpha;
    Value gate = matchSilu(activated, alpha);
    if (!gate)
      continue;
    double beta = 0.0;
    Value up = upSide;
    for (auto [upValue, offset] : bothOrders(node(upSide, "Add")))
      if (std::optional<double> c = constFloat(offset)) {
        beta = *c;
        up = upValue;
        break;
      }
    std::optional<double> limit;
    double gateLow, gateHigh, upLow, upHigh;
    if (Value clipped = matchClip(gate, gateLow, gateHigh)) {
      Value upClipped = matchClip(up, upLow, upHigh);
      if (!upClipped || !std::isinf(gateLow) || gateHigh != upHigh ||
          upLow != -upHigh || !(upHigh > 0))
        continue;
      limit = gateHigh;
      gate = clipped;
      up = upClipped;
    }
    GateLayout layout;
    Value h = matchGateUpSplit(gate, up, axis, layout);
    if (!h)
      continue;
    match.fn = ActivationFn::Silu;
    match.gated = layout;
    match.alpha = alpha;
    match.beta = beta;
    match.limit = limit;
    return h;
  }
  // Not gated.
  double alpha;
  if (Value h = matchSilu(act, alpha)) {
    match.fn = ActivationFn::Silu;
    match.alpha = alpha;
    return h;
  }
  if (NodeOp relu = node(act, "Relu")) {
    match.fn = ActivationFn::Relu;
    return input(relu, 0);
  }
  if (NodeOp gelu = node(act, "Gelu")) {
    auto approximate =
        dyn_cast_or_null<StringAttr>(gelu.getOnnxAttr("approximate"));
    match.fn = approximate && approximate.getValue() == "tanh"
                   ? ActivationFn::GeluTanh
                   : ActivationFn::Gelu;
    return input(gelu, 0);
  }
  return Value();
}

/// Matches the expert FFN whose second projection (bias included) is `out`
/// and sets `rows` to what its first projection reads; leaves the tokens
/// unset.
std::optional<ExpertMatch> matchExpertFfn(Value out, const ExpertLayout &layout,
                                          Value &rows) {
  ExpertMatch match;
  match.inputMajor = layout.inputMajor;
  auto [downOut, downBias] = splitBias(out, layout);
  match.downBias = downBias;
  NodeOp downMatmul = node(downOut, "MatMul");
  if (!downMatmul)
    return std::nullopt;
  unsigned weightSide = layout.inputMajor ? 1 : 0;
  match.down = expertWeight(input(downMatmul, weightSide), layout, 3);
  if (!match.down)
    return std::nullopt;

  Value preActivation = matchActivation(input(downMatmul, 1 - weightSide),
                                        layout.featureAxis, match);
  if (!preActivation)
    return std::nullopt;
  auto [upOut, gateUpBias] = splitBias(preActivation, layout);
  match.gateUpBias = gateUpBias;
  NodeOp upMatmul = node(upOut, "MatMul");
  if (!upMatmul)
    return std::nullopt;
  match.gateUp = expertWeight(input(upMatmul, weightSide), layout, 3);
  if (!match.gateUp)
    return std::nullopt;
  rows = input(upMatmul, 1 - weightSide);
  return match;
}

/// Matches the expert FFN whose second projection (bias included) is `out`,
/// reading the `[T, H]` tokens through an Unsqueeze at the layout's token axes.
std::optional<ExpertMatch> matchExpertBody(Value out,
                                           const ExpertLayout &layout) {
  Value rows;
  std::optional<ExpertMatch> match = matchExpertFfn(out, layout, rows);
  if (!match)
    return std::nullopt;
  NodeOp unsqueeze = node(rows, "Unsqueeze");
  if (!unsqueeze || rankOf(input(unsqueeze, 0)) != 2)
    return std::nullopt;
  std::optional<SmallVector<int64_t>> unsqueezed =
      axes(unsqueeze, 2 + static_cast<int64_t>(layout.tokenAxes.size()));
  if (!unsqueezed || *unsqueezed != layout.tokenAxes)
    return std::nullopt;
  match->tokens = input(unsqueeze, 0);
  return match;
}

/// Batched form: `out [T, k, H]` is a Squeeze of `[T, k, 1, H]` (x @ W) or
/// `[T, k, H, 1]` (W @ x) computed with weights gathered by `ids`.
std::optional<ExpertMatch> matchBatchedExperts(Value out, Value ids) {
  NodeOp squeeze = node(out, "Squeeze");
  if (!squeeze || rankOf(input(squeeze, 0)) != 4)
    return std::nullopt;
  std::optional<SmallVector<int64_t>> squeezed = axes(squeeze, 4);
  if (!squeezed || squeezed->size() != 1)
    return std::nullopt;
  bool inputMajor = (*squeezed)[0] == 2;
  if (!inputMajor && (*squeezed)[0] != 3)
    return std::nullopt;
  ExpertLayout layout;
  layout.ids = ids;
  layout.inputMajor = inputMajor;
  layout.featureAxis = inputMajor ? 3 : 2;
  layout.biasAxis = inputMajor ? 2 : 3;
  layout.tokenAxes =
      inputMajor ? SmallVector<int64_t>{1, 2} : SmallVector<int64_t>{1, 3};
  return matchExpertBody(input(squeeze, 0), layout);
}

/// One expert's linear layer with its own weights: `x @ W` (MatMul, W [in,
/// out]) or `Gemm(x, W, b)` with W [in, out], or [out, in] with transB, and an
/// optional bias.
struct Projection {
  Value input, weight, bias;
  bool outMajor = false;
};

/// True for a value that is a weight rather than something computed: a constant
/// or a function argument.
bool isExternal(Value value) {
  return value && (value.getDefiningOp<arith::ConstantOp>() ||
                   isa<BlockArgument>(value));
}

std::optional<Projection> matchProjection(Value value) {
  Projection projection;
  if (NodeOp matmul = node(value, "MatMul")) {
    projection.input = input(matmul, 0);
    projection.weight = input(matmul, 1);
  } else if (NodeOp gemm = node(value, "Gemm")) {
    if (intAttr(gemm, "transA", 0) != 0 ||
        floatAttr(gemm, "alpha", 1.0) != 1.0 ||
        floatAttr(gemm, "beta", 1.0) != 1.0)
      return std::nullopt;
    projection.input = input(gemm, 0);
    projection.weight = input(gemm, 1);
    projection.bias = input(gemm, 2);
    projection.outMajor = intAttr(gemm, "transB", 0) != 0;
    if (projection.bias &&
        (!isExternal(projection.bias) || rankOf(projection.bias) != 1))
      return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (!isExternal(projection.weight) || rankOf(projection.weight) != 2)
    return std::nullopt;
  return projection;
}

/// One expert of the per-expert forms: `down(act(gate) [* up])`, each a
/// Projection.
struct ModuleExpert {
  Projection gate, down;
  std::optional<Projection> up;
};

/// Matches one expert's output computed from `tokens`; fills `activation` the
/// first time and checks that later experts use the same one.
std::optional<ModuleExpert> matchModuleExpert(Value out, Value tokens,
                                              ExpertMatch &activation,
                                              bool first) {
  std::optional<Projection> down = matchProjection(out);
  if (!down)
    return std::nullopt;
  ModuleExpert expert;
  expert.down = *down;
  ExpertMatch seen;
  Value act = down->input;
  std::optional<Projection> gate;
  for (auto [activated, upSide] : bothOrders(node(act, "Mul"))) {
    double alpha;
    Value gateValue = matchSilu(activated, alpha);
    std::optional<Projection> g =
        gateValue ? matchProjection(gateValue) : std::nullopt;
    std::optional<Projection> u = matchProjection(upSide);
    if (g && u && g->input == tokens && u->input == tokens) {
      gate = g;
      expert.up = u;
      seen.fn = ActivationFn::Silu;
      seen.gated = GateLayout::Separate;
      seen.alpha = alpha;
      break;
    }
  }
  if (!gate) {
    double alpha = 1.0;
    Value pre;
    if ((pre = matchSilu(act, alpha)))
      seen.fn = ActivationFn::Silu;
    else if (NodeOp relu = node(act, "Relu")) {
      pre = input(relu, 0);
      seen.fn = ActivationFn::Relu;
    }
    seen.alpha = alpha;
    gate = pre ? matchProjection(pre) : std::nullopt;
    if (gate && gate->input != tokens)
      gate.reset();
  }
  if (!gate)
    return std::nullopt;
  expert.gate = *gate;
  if (first) {
    activation.fn = seen.fn;
    activation.gated = seen.gated;
    activation.alpha = seen.alpha;
  } else if (activation.fn != seen.fn || activation.gated != seen.gated ||
             activation.alpha != seen.alpha) {
    return std::nullopt;
  }
  return expert;
}

/// Stacks per-expert projections into one `[E, out, in]` weight (transposing
/// those stored `[in, out]`), or their biases into `[E, out]`; null when none
/// has a bias, failure when only some do.
FailureOr<Value> stackExperts(PatternRewriter &rewriter, Location loc,
                              ArrayRef<Projection> projections, bool biases) {
  unsigned withBias = llvm::count_if(projections, [](const Projection &p) {
    return static_cast<bool>(p.bias);
  });
  if (biases && withBias == 0)
    return Value();
  if (biases && withBias != projections.size())
    return failure();
  auto numExperts = static_cast<int64_t>(projections.size());
  auto firstType = cast<RankedTensorType>(projections.front().weight.getType());
  bool firstOutMajor = projections.front().outMajor;
  int64_t out = firstType.getDimSize(firstOutMajor ? 0 : 1);
  int64_t in = firstType.getDimSize(firstOutMajor ? 1 : 0);
  Type element = firstType.getElementType();
  SmallVector<int64_t> shape = biases
                                   ? SmallVector<int64_t>{numExperts, out}
                                   : SmallVector<int64_t>{numExperts, out, in};
  Value stacked = rewriter.create<tensor::EmptyOp>(loc, shape, element);
  for (auto [e, projection] : llvm::enumerate(projections)) {
    Value piece = biases ? projection.bias : projection.weight;
    if (!biases && !projection.outMajor) {
      Value init = rewriter.create<tensor::EmptyOp>(
          loc, ArrayRef<int64_t>{out, in}, element);
      piece = rewriter
                  .create<linalg::TransposeOp>(loc, piece, init,
                                               ArrayRef<int64_t>{1, 0})
                  .getResult()[0];
    }
    auto pieceType = cast<RankedTensorType>(piece.getType());
    if (pieceType.getShape() != ArrayRef<int64_t>(shape).drop_front())
      return failure();
    SmallVector<OpFoldResult> offsets(shape.size(), rewriter.getIndexAttr(0));
    offsets[0] = rewriter.getIndexAttr(e);
    SmallVector<OpFoldResult> sizes{rewriter.getIndexAttr(1)};
    for (int64_t d : pieceType.getShape())
      sizes.push_back(rewriter.getIndexAttr(d));
    SmallVector<OpFoldResult> strides(shape.size(), rewriter.getIndexAttr(1));
    stacked = rewriter.create<tensor::InsertSliceOp>(loc, piece, stacked,
                                                     offsets, sizes, strides);
  }
  return stacked;
}

/// Builds the moe.layer operands from per-expert projections; false when their
/// shapes or biases do not stack.
bool stackModuleExperts(PatternRewriter &rewriter, Location loc,
                        ArrayRef<std::optional<ModuleExpert>> experts,
                        ExpertMatch &match, Value &up) {
  SmallVector<Projection> gates, downs, ups;
  for (const std::optional<ModuleExpert> &expert : experts) {
    gates.push_back(expert->gate);
    downs.push_back(expert->down);
    if (expert->up)
      ups.push_back(*expert->up);
  }
  FailureOr<Value> gateUp = stackExperts(rewriter, loc, gates, false);
  FailureOr<Value> down = stackExperts(rewriter, loc, downs, false);
  FailureOr<Value> gateUpBias = stackExperts(rewriter, loc, gates, true);
  FailureOr<Value> downBias = stackExperts(rewriter, loc, downs, true);
  if (failed(gateUp) || failed(down) || failed(gateUpBias) || failed(downBias))
    return false;
  match.gateUp = *gateUp;
  match.down = *down;
  match.gateUpBias = *gateUpBias;
  match.downBias = *downBias;
  up = Value();
  if (!ups.empty()) {
    FailureOr<Value> stackedUp = stackExperts(rewriter, loc, ups, false);
    FailureOr<Value> upBias = stackExperts(rewriter, loc, ups, true);
    if (failed(stackedUp) || failed(upBias) || *upBias)
      return false;
    up = *stackedUp;
  }
  return true;
}

/// The input of the first MatMul or Gemm found walking up from `from` (breadth
/// first, a few steps): the tokens an expert reads. With `gathered`, only an
/// input that is a Gather (the loop form's selected tokens) counts.
Value projectionInput(Value from, bool gathered = false) {
  SmallVector<Value> worklist{from};
  for (unsigned i = 0; i < worklist.size() && i < 16; ++i) {
    NodeOp op = worklist[i] ? worklist[i].getDefiningOp<NodeOp>() : NodeOp();
    if (!op)
      continue;
    if ((op.getOpType() == "MatMul" || op.getOpType() == "Gemm") &&
        (!gathered || node(input(op, 0), "Gather")))
      return input(op, 0);
    for (Value operand : op.getInputs())
      worklist.push_back(operand);
  }
  return Value();
}

/// The `[T, H]` tokens that `value` stacks `copies` times on axis 0 (row
/// `e * T + t` is token t, torch's `x.repeat(E, 1)`): a Concat of that many
/// copies (moe-normalize-onnx's form of a short Tile) or `Tile(x, [E, 1])`.
Value stackedTokens(Value value, int64_t copies) {
  if (NodeOp concat = node(value, "Concat")) {
    OperandRange pieces = concat.getInputs();
    if (!isAxis(intAttr(concat, "axis", 0), 0, 2) ||
        static_cast<int64_t>(pieces.size()) != copies ||
        !llvm::all_equal(pieces) || rankOf(pieces.front()) != 2)
      return Value();
    return pieces.front();
  }
  NodeOp tile = node(value, "Tile");
  if (tile && rankOf(input(tile, 0)) == 2 &&
      constInts(input(tile, 1)) == SmallVector<int64_t>{copies, 1})
    return input(tile, 0);
  return Value();
}

/// The `[T, H]` tokens of `rows [E, T, H]` when it is a Reshape of E stacked
/// copies of them (stackedTokens); null otherwise.
Value stackedRows(Value rows, int64_t numExperts) {
  NodeOp view = node(rows, "Reshape");
  auto type = dyn_cast<RankedTensorType>(rows.getType());
  if (!view || !type || type.getRank() != 3 ||
      type.getDimSize(0) != numExperts)
    return Value();
  return stackedTokens(input(view, 0), numExperts);
}

/// True when the shapes `a` and `b` (Reshape shape operands) agree on their
/// first `n` entries: equal constants, or Concats of the same pieces.
bool sameLeadingEntries(Value a, Value b, int64_t n) {
  std::optional<SmallVector<int64_t>> ca = constInts(a), cb = constInts(b);
  if (ca && cb)
    return static_cast<int64_t>(std::min(ca->size(), cb->size())) >= n &&
           std::equal(ca->begin(), ca->begin() + n, cb->begin());
  NodeOp x = node(a, "Concat"), y = node(b, "Concat");
  if (!x || !y)
    return false;
  auto single = [](Value piece) {
    auto type = dyn_cast<RankedTensorType>(piece.getType());
    return type && type.getRank() == 1 && type.getDimSize(0) == 1;
  };
  for (int64_t i = 0; i < n; ++i) {
    if (i >= static_cast<int64_t>(x.getInputs().size()) ||
        i >= static_cast<int64_t>(y.getInputs().size()))
      return false;
    Value p = x.getInputs()[i], q = y.getInputs()[i];
    if (!single(p) || !single(q) ||
        (p != q && (!constInts(p) || constInts(p) != constInts(q))))
      return false;
  }
  return true;
}

/// `shape` without its first entry, built beside `like`: a constant, or the
/// Concat of the other pieces of a Concat whose first piece is one entry.
Value dropFirstEntry(PatternRewriter &rewriter, NodeOp like, Value shape) {
  Location loc = like.getLoc();
  if (std::optional<SmallVector<int64_t>> entries = constInts(shape)) {
    if (entries->empty())
      return Value();
    auto type = RankedTensorType::get(
        {static_cast<int64_t>(entries->size()) - 1}, rewriter.getI64Type());
    return rewriter.create<arith::ConstantOp>(
        loc, DenseIntElementsAttr::get(type, ArrayRef(*entries).drop_front()));
  }
  NodeOp concat = node(shape, "Concat");
  auto type = dyn_cast<RankedTensorType>(shape.getType());
  if (!concat || !type || type.isDynamicDim(0) || concat.getInputs().size() < 2)
    return Value();
  auto first = dyn_cast<RankedTensorType>(concat.getInputs()[0].getType());
  if (!first || first.getRank() != 1 || first.getDimSize(0) != 1)
    return Value();
  return createNodeLike(
             rewriter, concat, "Concat", concat.getInputs().drop_front(),
             RankedTensorType::get({type.getDimSize(0) - 1},
                                   type.getElementType()),
             {rewriter.getNamedAttr(
                 "axis", rewriter.getIntegerAttr(
                             rewriter.getIntegerType(64, /*isSigned=*/true), 0))})
      .getResult(0);
}

/// What the decomposed forms share: building the moe.layer from what was
/// matched.
class RaiseDecomposedPattern : public ::moe::RaisePattern {
public:
  using RaisePattern::RaisePattern;

protected:
  /// Stacks per-expert weights (ModuleList and loop forms) and replaces
  /// `anchor` by the moe.layer they make.
  LogicalResult raisePerExpert(NodeOp anchor, const RoutingMatch &routing,
                               const ExpertMatch &activation, Value tokens,
                               ArrayRef<std::optional<ModuleExpert>> experts,
                               PatternRewriter &rewriter,
                               int64_t &raised) const {
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(anchor);
    ExpertMatch match = activation;
    match.tokens = tokens;
    Value up;
    if (!stackModuleExperts(rewriter, anchor.getLoc(), experts, match, up))
      return nearMiss(
          anchor, rewriter,
          "the experts' weights or biases do not stack into one bank");
    return rewriteToLayer(anchor, routing, match, rewriter, raised, up);
  }

  /// Replaces `sum` by a moe.layer built from the matched routing and experts
  /// (reshaped to `outputShape` minus its first entry when given), or records
  /// a near miss when the layer would not verify; counts a raise in `raised`.
  LogicalResult rewriteToLayer(NodeOp sum, const RoutingMatch &routing,
                               const ExpertMatch &experts,
                               PatternRewriter &rewriter, int64_t &raised,
                               Value up = Value(),
                               Value outputShape = Value()) const {
    Location loc = sum.getLoc();
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(sum);
    SmallVector<Operation *> created;
    Value gateUp = experts.gateUp, down = experts.down;
    if (experts.inputMajor) {
      gateUp = ::moe::transposeExperts(rewriter, loc, gateUp);
      down = ::moe::transposeExperts(rewriter, loc, down);
      created.push_back(gateUp.getDefiningOp());
      created.push_back(down.getDefiningOp());
    }
    MLIRContext *context = rewriter.getContext();
    auto routingAttr = RoutingAttr::getChecked(
        [&] { return emitError(loc); }, context, routing.kind, routing.k,
        routing.normalize, APFloat(routing.scale), routing.numGroups,
        routing.topkGroups, APFloat(0.0), APFloat(routing.normEpsilon),
        APFloat(routing.normFloor), APFloat(routing.jitterEps));
    if (!routingAttr) {
      for (Operation *op : llvm::reverse(created))
        rewriter.eraseOp(op);
      return nearMiss(sum, rewriter, "the routing has no #moe.routing form");
    }
    auto activation = ActivationAttr::getChecked(
        [&] { return emitError(loc); }, context, experts.fn, experts.gated,
        APFloat(experts.alpha), APFloat(experts.beta),
        experts.limit ? std::optional<APFloat>(APFloat(*experts.limit))
                      : std::nullopt);
    auto resultType = dyn_cast<RankedTensorType>(experts.tokens.getType());
    if (!activation || !resultType) {
      for (Operation *op : llvm::reverse(created))
        rewriter.eraseOp(op);
      return nearMiss(sum, rewriter,
                      "the activation has no #moe.activation form");
    }
    // Biases written [E, 1, F] (the dense form) become [E, F].
    Value gateUpBias = experts.gateUpBias, downBias = experts.downBias;
    for (Value *bias : {&gateUpBias, &downBias})
      if (*bias && rankOf(*bias) == 3) {
        *bias = rewriter.create<tensor::CollapseShapeOp>(
            loc, *bias, ArrayRef<ReassociationIndices>{{0, 1}, {2}});
        created.push_back(bias->getDefiningOp());
      }
    Value routingBias = routing.bias;
    if (routingBias && rankOf(routingBias) == 2) {
      routingBias = rewriter.create<tensor::CollapseShapeOp>(
          loc, routingBias, ArrayRef<ReassociationIndices>{{0, 1}});
      created.push_back(routingBias.getDefiningOp());
    }
    auto layer = rewriter.create<LayerOp>(
        loc, resultType, experts.tokens, routing.logits, gateUp, down, up,
        gateUpBias, downBias, Value(), routingBias, Value(),
        Value(), Value(), Value(), Value(), routingAttr, activation);
    layer.setScaleInputs(experts.scaleInputs);
    created.push_back(layer);
    std::optional<std::string> problem = ::moe::verifyQuietly(layer);
    // The sum was a view of the [T, H] result: `outputShape` without its
    // expert dimension reshapes it back (an ONNX Reshape, -1 included).
    Value result = layer.getResult();
    if (!problem && outputShape) {
      Value shape = dropFirstEntry(rewriter, sum, outputShape);
      if (!shape) {
        problem = "the expert outputs' view has a shape that cannot be "
                  "taken apart";
      } else {
        created.push_back(shape.getDefiningOp());
        NodeOp reshape = createNodeLike(rewriter, sum, "Reshape",
                                        {result, shape},
                                        sum.getResult(0).getType());
        created.push_back(reshape);
        result = reshape.getResult(0);
      }
    }
    if (!problem && !tensor::CastOp::areCastCompatible(
                        result.getType(), sum.getResult(0).getType()))
      problem = "the layer's result type does not match the node's";
    if (problem) {
      for (Operation *op : llvm::reverse(created))
        rewriter.eraseOp(op);
      return nearMiss(sum, rewriter, *problem);
    }
    if (result.getType() != sum.getResult(0).getType())
      result = rewriter.create<tensor::CastOp>(loc, sum.getResult(0).getType(),
                                               result);
    rewriter.replaceOp(sum, result);
    ++raised;
    return success();
  }
};

class RaiseBatchedMatmulMoE : public RaiseDecomposedPattern {
public:
  using RaiseDecomposedPattern::RaiseDecomposedPattern;

  LogicalResult matchAndRewrite(NodeOp sum,
                                PatternRewriter &rewriter) const override {
    if (sum.getOpType() != "ReduceSum" || !sum.getDomainName().empty() ||
        intAttr(sum, "keepdims", 1) != 0 || rankOf(input(sum, 0)) != 3)
      return failure();
    std::optional<SmallVector<int64_t>> reduced = axes(sum, 3);
    NodeOp mul = node(input(sum, 0), "Mul");
    if (!reduced || *reduced != SmallVector<int64_t>{1} || !mul)
      return failure();

    for (auto [expertOut, weights] : bothOrders(mul)) {
      std::optional<RoutingMatch> routing = matchRouting(weights);
      if (!routing)
        continue;
      std::optional<ExpertMatch> experts =
          matchBatchedExperts(expertOut, routing->ids);
      if (!experts)
        return nearMiss(sum, rewriter,
                        "routed experts are gathered by the top-k ids, but the "
                        "expert computation is not one moe.layer represents");
      return rewriteToLayer(sum, *routing, *experts, rewriter,
                            counts.batchedMatmul);
    }
    return failure();
  }
};

/// The `[T, k]` tensor that `value` holds row by row as `[T * k]` (a Reshape to
/// rank 1), or as `[T * k, 1]` (a Reshape to that, or an Unsqueeze of the rank-1
/// form); null otherwise.
Value flatRowsOf(Value value) {
  if (NodeOp unsqueeze = node(value, "Unsqueeze");
      unsqueeze && rankOf(value) == 2 &&
      axes(unsqueeze, 2) == SmallVector<int64_t>{1})
    value = input(unsqueeze, 0);
  NodeOp reshape = node(value, "Reshape");
  if (!reshape || rankOf(input(reshape, 0)) != 2)
    return Value();
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!type || (type.getRank() != 1 &&
                !(type.getRank() == 2 && type.getDimSize(1) == 1)))
    return Value();
  return input(reshape, 0);
}

/// Why `weights` is not a recognised routing, naming the node that makes them.
std::string describeRouting(Value weights) {
  std::string text;
  llvm::raw_string_ostream os(text);
  NodeOp producer = weights.getDefiningOp<NodeOp>();
  if (!producer) {
    os << "they are not computed in the graph";
    return text;
  }
  os << "they come from " << producer.getOpType();
  if (std::optional<StringRef> name = producer.getName())
    os << " '" << *name << "'";
  // Phi-MoE's sparse mixer: ArgMax and Where masks instead of TopK.
  bool sparseMixer = false;
  SmallVector<Value> worklist{weights};
  for (unsigned i = 0; i < worklist.size() && i < 64; ++i)
    if (NodeOp op = worklist[i].getDefiningOp<NodeOp>()) {
      if (op.getOpType() == "ArgMax")
        sparseMixer = true;
      for (Value operand : op.getInputs())
        worklist.push_back(operand);
    }
  if (sparseMixer)
    os << ", computed with ArgMax and masks but not as the sparse mixer "
          "(per pass: ReduceMax and ArgMax of the logits with the earlier "
          "choices at -inf, a softmax over the logits within a relative "
          "distance of the maximum, gathered at the ArgMax)";
  else
    os << "; recognised routings end in TopK values, a Softmax of them, their "
          "Div by a ReduceSum, GatherElements of Sigmoid scores, or a constant "
          "Mul of those";
  return text;
}

/// The tokens `[T, H]` that `value` repeats k times row by row (`[T * k, H]`,
/// row t * k + j is token t): Reshape(Expand(Unsqueeze(x, 1), [., k, .])).
/// Tile has become Expand and Flatten Reshape in moe-normalize-onnx.
Value replicatedTokens(Value value, int64_t k) {
  // Gather(x, t) with t = Reshape(Expand(Unsqueeze(Range(0, T, 1), 1), [., k])):
  // the token index of every row, built from x's own length.
  if (NodeOp gather = node(value, "Gather");
      gather && intAttr(gather, "axis", 0) == 0 &&
      rankOf(input(gather, 0)) == 2 && rankOf(input(gather, 1)) == 1) {
    Value x = input(gather, 0);
    NodeOp flat = node(input(gather, 1), "Reshape");
    NodeOp spread = flat ? node(input(flat, 0), "Expand") : NodeOp();
    NodeOp column = spread ? node(input(spread, 0), "Unsqueeze") : NodeOp();
    NodeOp iota = column ? node(input(column, 0), "Range") : NodeOp();
    auto spreadType =
        spread ? dyn_cast<RankedTensorType>(spread.getResult(0).getType())
               : RankedTensorType();
    if (!iota || !spreadType || spreadType.getRank() != 2 ||
        spreadType.getDimSize(1) != k ||
        axes(column, 2) != SmallVector<int64_t>{1} ||
        constInts(input(iota, 0)) != SmallVector<int64_t>{0} ||
        constInts(input(iota, 2)) != SmallVector<int64_t>{1} ||
        !isLengthOf(input(iota, 1), x))
      return Value();
    // As below: with k > 1 the rows' count fixes the Expand to T rows.
    std::optional<SmallVector<int64_t>> shape = constInts(input(spread, 1));
    if (k == 1 && (!shape || shape->size() != 2 || (*shape)[0] != 1))
      return Value();
    return x;
  }
  NodeOp reshape = node(value, "Reshape");
  NodeOp expand = reshape ? node(input(reshape, 0), "Expand") : NodeOp();
  NodeOp unsqueeze = expand ? node(input(expand, 0), "Unsqueeze") : NodeOp();
  if (!unsqueeze || rankOf(value) != 2 ||
      axes(unsqueeze, 3) != SmallVector<int64_t>{1} ||
      rankOf(input(unsqueeze, 0)) != 2)
    return Value();
  auto expanded = dyn_cast<RankedTensorType>(expand.getResult(0).getType());
  if (!expanded || expanded.getRank() != 3 || expanded.getDimSize(1) != k)
    return Value();
  // Expand may also broadcast the token axis when there is one token; with
  // k > 1 the routing weights' T * k rows fix it to T, so only k = 1 needs
  // the shape to say so.
  std::optional<SmallVector<int64_t>> shape = constInts(input(expand, 1));
  if (k == 1 && (!shape || shape->size() != 3 || (*shape)[0] != 1))
    return Value();
  return input(unsqueeze, 0);
}

/// One flattened projection: `Squeeze(MatMul(Gather(W, ids), Unsqueeze(x, 2)),
/// 2)` with `W [E, out, in]`, or `Squeeze(MatMul(Unsqueeze(x, 1), Gather(W,
/// ids)), 1)` with `W [E, in, out]`, where the ids are the `[T * k]` top-k ids;
/// optionally plus `Gather(b, ids)`. Returns the input rows `x [T * k, in]`.
struct FlatProjection {
  Value input, weight, bias;
  bool inputMajor = false;
};

std::optional<FlatProjection> matchFlatProjection(Value value, Value ids) {
  FlatProjection projection;
  auto gathered = [&](Value v, int64_t rank) -> Value {
    NodeOp gather = node(v, "Gather");
    if (!gather || intAttr(gather, "axis", 0) != 0 ||
        flatRowsOf(input(gather, 1)) != ids ||
        rankOf(input(gather, 0)) != rank)
      return Value();
    return input(gather, 0);
  };
  for (auto [main, bias] : bothOrders(node(value, "Add")))
    if (Value b = gathered(bias, 2)) {
      projection.bias = b;
      value = main;
      break;
    }
  NodeOp squeeze = node(value, "Squeeze");
  std::optional<SmallVector<int64_t>> squeezed =
      squeeze ? axes(squeeze, 3) : std::nullopt;
  NodeOp matmul = squeeze ? node(input(squeeze, 0), "MatMul") : NodeOp();
  if (!matmul || !squeezed || squeezed->size() != 1 ||
      rankOf(input(squeeze, 0)) != 3)
    return std::nullopt;
  projection.inputMajor = (*squeezed)[0] == 1;
  if (!projection.inputMajor && (*squeezed)[0] != 2)
    return std::nullopt;
  unsigned weightSide = projection.inputMajor ? 1 : 0;
  projection.weight = gathered(input(matmul, weightSide), 3);
  NodeOp unsqueeze = node(input(matmul, 1 - weightSide), "Unsqueeze");
  if (!projection.weight || !unsqueeze ||
      axes(unsqueeze, 3) != SmallVector<int64_t>{(*squeezed)[0]})
    return std::nullopt;
  projection.input = input(unsqueeze, 0);
  return projection;
}

/// The expert FFN of the flattened batched form on `[T * k, .]` rows.
std::optional<ExpertMatch> matchFlatExperts(Value out, Value ids, int64_t k) {
  std::optional<FlatProjection> down = matchFlatProjection(out, ids);
  if (!down)
    return std::nullopt;
  ExpertMatch match;
  match.inputMajor = down->inputMajor;
  match.down = down->weight;
  match.downBias = down->bias;
  Value preActivation = matchActivation(down->input, 1, match);
  if (!preActivation)
    return std::nullopt;
  std::optional<FlatProjection> gateUp =
      matchFlatProjection(preActivation, ids);
  if (!gateUp || gateUp->inputMajor != down->inputMajor)
    return std::nullopt;
  match.gateUp = gateUp->weight;
  match.gateUpBias = gateUp->bias;
  match.tokens = replicatedTokens(gateUp->input, k);
  if (!match.tokens)
    return std::nullopt;
  return match;
}

/// The batched form as torch.onnx (dynamo and TorchScript) writes transformers'
/// `batched_mm` experts: every (token, slot) pair is a row of `[T * k, .]`
/// tensors, tokens repeated k times, weights gathered by the flattened top-k ids
/// (GatherND, normalised to Gather), per-row matrix-vector MatMuls, the rows
/// weighted, reshaped to `[T, k, H]` and summed over k.
class RaiseFlatBatchedMatmulMoE : public RaiseDecomposedPattern {
public:
  using RaiseDecomposedPattern::RaiseDecomposedPattern;

  LogicalResult matchAndRewrite(NodeOp sum,
                                PatternRewriter &rewriter) const override {
    if (sum.getOpType() != "ReduceSum" || !sum.getDomainName().empty() ||
        intAttr(sum, "keepdims", 1) != 0 || rankOf(input(sum, 0)) != 3 ||
        axes(sum, 3) != SmallVector<int64_t>{1})
      return failure();
    NodeOp reshape = node(input(sum, 0), "Reshape");
    NodeOp mul = reshape ? node(input(reshape, 0), "Mul") : NodeOp();
    if (!mul || rankOf(input(reshape, 0)) != 2)
      return failure();
    auto split = cast<RankedTensorType>(reshape.getResult(0).getType());
    for (auto [expertOut, weights] : bothOrders(mul)) {
      Value perSlot = flatRowsOf(weights);
      std::optional<RoutingMatch> routing =
          perSlot ? matchRouting(perSlot) : std::nullopt;
      if (!routing) {
        if (perSlot && rankOf(perSlot) == 2 &&
            dyn_cast<RankedTensorType>(perSlot.getType()).getDimSize(1) ==
                split.getDimSize(1))
          return nearMiss(sum, rewriter,
                          "rows weighted by a [T, k] tensor and summed over "
                          "k, but the weights are not a routing "
                          "#moe.routing represents: " +
                              describeRouting(perSlot));
        continue;
      }
      if (split.getDimSize(1) != routing->k)
        return nearMiss(sum, rewriter,
                        "the weighted rows are summed in groups of " +
                            Twine(split.getDimSize(1)) + ", not of k = " +
                            Twine(routing->k));
      std::optional<ExpertMatch> experts =
          matchFlatExperts(expertOut, routing->ids, routing->k);
      if (!experts)
        return nearMiss(sum, rewriter,
                        "(token, slot) rows weighted by the routing, but the "
                        "expert computation on them is not one moe.layer "
                        "represents");
      return rewriteToLayer(sum, *routing, *experts, rewriter,
                            counts.batchedMatmul);
    }
    return failure();
  }
};

/// `value` with Cast, Reshape, Squeeze and Unsqueeze nodes walked back.
Value throughViews(Value value) {
  for (int depth = 0; depth < 8; ++depth) {
    NodeOp op = value ? value.getDefiningOp<NodeOp>() : NodeOp();
    if (!op || !op.getDomainName().empty() ||
        !llvm::is_contained({StringRef("Cast"), StringRef("Reshape"),
                             StringRef("Squeeze"), StringRef("Unsqueeze")},
                            op.getOpType()))
      return value;
    value = input(op, 0);
  }
  return value;
}

/// True when `count` is the size of dimension 0 of `of`: Shape(of)[0] (by
/// Gather, or Slice [0:1]; [-1] when `of` is rank 1), or the static size as a
/// constant.
bool isLengthOf(Value count, Value of) {
  count = throughViews(count);
  auto type = dyn_cast<RankedTensorType>(of.getType());
  if (!type || type.getRank() < 1)
    return false;
  if (std::optional<SmallVector<int64_t>> c = constInts(count))
    return !type.isDynamicDim(0) && c->size() == 1 &&
           (*c)[0] == type.getDimSize(0);
  auto isShapeOf = [&](Value v) {
    NodeOp shape = node(v, "Shape");
    return shape && input(shape, 0) == of && intAttr(shape, "start", 0) == 0;
  };
  if (NodeOp gather = node(count, "Gather")) {
    std::optional<SmallVector<int64_t>> at = constInts(input(gather, 1));
    return isShapeOf(input(gather, 0)) && at && at->size() == 1 &&
           ((*at)[0] == 0 || ((*at)[0] == -1 && type.getRank() == 1));
  }
  if (NodeOp slice = node(count, "Slice")) {
    std::optional<SmallVector<int64_t>> starts = constInts(input(slice, 1)),
                                        ends = constInts(input(slice, 2));
    return isShapeOf(input(slice, 0)) && starts && ends &&
           starts->size() == 1 && ends->size() == 1 && (*starts)[0] == 0 &&
           (*ends)[0] == 1 && (!input(slice, 4) || constInts(input(slice, 4)) ==
                                                       SmallVector<int64_t>{1});
  }
  return false;
}

/// Evaluates the elementwise integer function `value` computes of `arg`
/// (Div, Mod, Sub, Add, Mul, Less, Equal, And, Or, Not, Cast and constants) at
/// `x`; nullopt for anything else.
std::optional<int64_t> evalElementwise(Value value, Value arg, int64_t x,
                                       int depth = 0) {
  if (value == arg)
    return x;
  // Booleans are 0 or 1 (constInts would read true as -1).
  if (getElementTypeOrSelf(value.getType()).isInteger(1))
    if (auto constant = value.getDefiningOp<arith::ConstantOp>()) {
      auto dense = dyn_cast<DenseIntElementsAttr>(constant.getValue());
      if (!dense || dense.getNumElements() != 1)
        return std::nullopt;
      return (*dense.begin()).isZero() ? 0 : 1;
    }
  if (std::optional<SmallVector<int64_t>> c = constInts(value))
    return c->size() == 1 ? std::optional((*c)[0]) : std::nullopt;
  NodeOp op = value.getDefiningOp<NodeOp>();
  if (!op || depth > 12 || !op.getDomainName().empty())
    return std::nullopt;
  StringRef name = op.getOpType();
  std::optional<int64_t> a = evalElementwise(input(op, 0), arg, x, depth + 1);
  if (!a)
    return std::nullopt;
  if (name == "Cast") {
    auto to = dyn_cast<IntegerType>(getElementTypeOrSelf(op.getResult(0)));
    if (!to)
      return std::nullopt;
    return to.getWidth() == 1 ? int64_t(*a != 0) : *a;
  }
  if (name == "Not")
    return int64_t(*a == 0);
  std::optional<int64_t> b =
      op.getNumOperands() == 2 ? evalElementwise(input(op, 1), arg, x, depth + 1)
                               : std::nullopt;
  if (!b)
    return std::nullopt;
  return evalIntBinary(op, *a, *b);
}

/// True when `value` is `arg // k` for every row index `arg` can hold (checked
/// over [0, 4096 k)): torch's floor_divide as exporters write it.
bool isRowDivision(Value value, Value arg, int64_t k) {
  if (k < 1 || k > 64)
    return false;
  for (int64_t x = 0; x < 4096 * k; ++x) {
    std::optional<int64_t> v = evalElementwise(value, arg, x);
    if (!v || *v != x / k)
      return false;
  }
  return true;
}

/// The experts' row ranges of transformers' `grouped_mm` as exporters write
/// it: rows sorted by expert, `counts = ScatterElements(zeros [E], bin,
/// ones, add)` a histogram of the sorted ids, `offsets = CumSum(counts)`
/// split into E scalars, and expert e's rows `Range(offsets[e-1],
/// offsets[e], 1)` (from 0 for e = 0).
struct GroupedRows {
  SmallVector<Value> ranges;
};

/// Expert e's range: `Range(start, end, 1)` whose bounds are the pieces e - 1
/// and e of a Split of the offsets.
bool matchExpertRange(Value range, int64_t e, int64_t numExperts,
                      Value &offsets) {
  NodeOp op = node(range, "Range");
  std::optional<SmallVector<int64_t>> delta =
      op ? constInts(input(op, 2)) : std::nullopt;
  if (!op || !delta || delta->size() != 1 || (*delta)[0] != 1)
    return false;
  auto piece = [&](Value bound, int64_t index) {
    Value v = throughViews(bound);
    NodeOp split = node(v, "Split");
    if (!split || static_cast<int64_t>(split.getNumResults()) != numExperts ||
        v != split.getResult(index) || rankOf(input(split, 0)) != 1)
      return false;
    if (offsets && input(split, 0) != offsets)
      return false;
    offsets = input(split, 0);
    return true;
  };
  if (e == 0) {
    std::optional<SmallVector<int64_t>> start = constInts(input(op, 0));
    if (!start || start->size() != 1 || (*start)[0] != 0)
      return false;
  } else if (!piece(input(op, 0), e - 1)) {
    return false;
  }
  return piece(input(op, 1), e);
}

/// True when `offsets` is the inclusive CumSum of the histogram of `sortedIds`
/// over `numExperts` bins.
bool isExpertOffsets(Value offsets, Value sortedIds, int64_t numExperts) {
  NodeOp cumsum = node(throughViews(offsets), "CumSum");
  if (!cumsum || intAttr(cumsum, "exclusive", 0) != 0 ||
      intAttr(cumsum, "reverse", 0) != 0)
    return false;
  NodeOp scatter = node(throughViews(input(cumsum, 0)), "ScatterElements");
  auto binsType =
      scatter ? dyn_cast<RankedTensorType>(scatter.getResult(0).getType())
              : RankedTensorType();
  if (!scatter || stringAttr(scatter, "reduction", "none") != "add" ||
      !binsType || binsType.getRank() != 1 ||
      binsType.getDimSize(0) != numExperts ||
      !isFilledWith(input(scatter, 0), 0.0) ||
      !isFilledWith(input(scatter, 2), 1.0))
    return false;
  // The bin of a row is its expert id: the id itself, or torch.histc's
  // clamp(int(id / width), 0, E - 1) with width (E - 1) / E, which is the id
  // for every id in [0, E) (checked in f32, as the graph computes it).
  Value bin = throughViews(input(scatter, 1));
  if (throughViews(bin) == throughViews(sortedIds))
    return true;
  double low, high;
  Value clipped = matchClip(bin, low, high);
  if (!clipped || low != 0.0 || high != static_cast<double>(numExperts - 1))
    return false;
  Value quotient = throughViews(clipped);
  NodeOp div = node(quotient, "Div");
  std::optional<double> width = div ? constFloat(input(div, 1)) : std::nullopt;
  if (!div || !width || !(*width > 0.0) ||
      throughViews(input(div, 0)) != throughViews(sortedIds))
    return false;
  for (int64_t id = 0; id < numExperts; ++id) {
    float scaled = static_cast<float>(id) / static_cast<float>(*width);
    int64_t b = std::clamp<int64_t>(static_cast<int64_t>(scaled), 0,
                                    numExperts - 1);
    if (b != id)
      return false;
  }
  return true;
}

/// One grouped projection: `Concat_e(MatMul(Gather(rows, range_e),
/// Squeeze(Split(Wt, E)[e])), axis = 0)` with `Wt = Transpose(W, [0, 2, 1])`
/// (W [E, out, in]) or a constant `[E, in, out]` (the transpose folded);
/// returns the weight and the rows it reads, sets `inputMajor`, and fills or
/// checks the ranges.
std::optional<std::pair<Value, Value>>
matchGroupedProjection(Value value, SmallVectorImpl<Value> &ranges,
                       int64_t &numExperts, bool &inputMajor) {
  NodeOp concat = node(value, "Concat");
  if (!concat || intAttr(concat, "axis", 0) != 0 || rankOf(value) != 2)
    return std::nullopt;
  auto count = static_cast<int64_t>(concat.getInputs().size());
  if (numExperts && count != numExperts)
    return std::nullopt;
  numExperts = count;
  Value rows, weight;
  for (auto [e, part] : llvm::enumerate(concat.getInputs())) {
    NodeOp matmul = node(part, "MatMul");
    NodeOp gather = matmul ? node(input(matmul, 0), "Gather") : NodeOp();
    if (!gather || intAttr(gather, "axis", 0) != 0 ||
        (rows && input(gather, 0) != rows))
      return std::nullopt;
    rows = input(gather, 0);
    if (ranges.size() > e) {
      if (ranges[e] != input(gather, 1))
        return std::nullopt;
    } else {
      ranges.push_back(input(gather, 1));
    }
    Value piece = throughViews(input(matmul, 1));
    NodeOp split = node(piece, "Split");
    if (!split || static_cast<int64_t>(split.getNumResults()) != count ||
        split.getResult(e) != piece || intAttr(split, "axis", 0) != 0)
      return std::nullopt;
    Value stacked = input(split, 0);
    NodeOp transpose = node(stacked, "Transpose");
    bool folded = !transpose;
    if (transpose) {
      if (intsAttr(transpose, "perm") != SmallVector<int64_t>{0, 2, 1})
        return std::nullopt;
      stacked = input(transpose, 0);
    } else if (!isExternal(stacked)) {
      return std::nullopt;
    }
    if ((weight && (stacked != weight || folded != inputMajor)) ||
        rankOf(stacked) != 3)
      return std::nullopt;
    weight = stacked;
    inputMajor = folded;
  }
  return std::make_pair(weight, rows);
}

/// transformers' `grouped_mm` experts as its exporter (and torch.onnx dynamo)
/// writes them: the (token, slot) rows sorted by expert id, each expert's
/// contiguous rows through its own matmuls, the weighted rows put back in
/// their order and summed over k.
class RaiseGroupedMatmulMoE : public RaiseDecomposedPattern {
public:
  using RaiseDecomposedPattern::RaiseDecomposedPattern;

  LogicalResult matchAndRewrite(NodeOp sum,
                                PatternRewriter &rewriter) const override {
    if (sum.getOpType() != "ReduceSum" || !sum.getDomainName().empty() ||
        intAttr(sum, "keepdims", 1) != 0 || rankOf(input(sum, 0)) != 3 ||
        axes(sum, 3) != SmallVector<int64_t>{1})
      return failure();
    NodeOp reshape = node(input(sum, 0), "Reshape");
    // Rows back in (token, slot) order: Gather by the inverse permutation
    // (ScatterND(_, perm, Range(0, S))), or ScatterND by the permutation.
    Value sortedRows, perm;
    Value restored = reshape ? input(reshape, 0) : Value();
    if (NodeOp gather = node(restored, "Gather")) {
      NodeOp inverse = node(input(gather, 1), "ScatterND");
      NodeOp iota = inverse ? node(input(inverse, 2), "Range") : NodeOp();
      if (!iota || intAttr(gather, "axis", 0) != 0 ||
          stringAttr(inverse, "reduction", "none") != "none")
        return failure();
      std::optional<SmallVector<int64_t>> start = constInts(input(iota, 0)),
                                          step = constInts(input(iota, 2));
      NodeOp unsqueeze = node(input(inverse, 1), "Unsqueeze");
      if (!start || !step || (*start)[0] != 0 || (*step)[0] != 1 || !unsqueeze)
        return failure();
      // ScatterND needs one update per index, so the Range has the length of
      // the permutation (written T * k in the graph).
      perm = input(unsqueeze, 0);
      sortedRows = input(gather, 0);
    } else if (NodeOp scatter = node(restored, "ScatterND")) {
      NodeOp unsqueeze = node(input(scatter, 1), "Unsqueeze");
      if (!unsqueeze || stringAttr(scatter, "reduction", "none") != "none")
        return failure();
      perm = input(unsqueeze, 0);
      sortedRows = input(scatter, 2);
    } else {
      return failure();
    }
    // perm sorts the flattened ids: TopK(ids, all of them, largest = 0).
    NodeOp sort = node(perm, "TopK");
    if (!sort || sort.getResult(1) != perm || intAttr(sort, "largest", 1) != 0 ||
        rankOf(input(sort, 0)) != 1 || !isLengthOf(input(sort, 1), input(sort, 0)))
      return failure();
    Value flatIds = input(sort, 0), sortedIds = sort.getResult(0);
    NodeOp flatten = node(flatIds, "Reshape");
    Value ids = flatten ? input(flatten, 0) : Value();

    for (auto [expertOut, weights] : bothOrders(node(sortedRows, "Mul"))) {
      // The sorted rows' weights: Gather(Reshape(w, [-1]), perm).
      NodeOp gatherWeights = node(unsqueezedColumn(weights), "Gather");
      Value perSlot =
          gatherWeights && input(gatherWeights, 1) == perm
              ? flatRowsOf(input(gatherWeights, 0))
              : Value();
      std::optional<RoutingMatch> routing =
          perSlot ? matchRouting(perSlot) : std::nullopt;
      if (!routing && perSlot)
        return nearMiss(sum, rewriter,
                        "rows sorted by expert id (grouped_mm) and weighted, "
                        "but the weights are not a routing #moe.routing "
                        "represents: " +
                            describeRouting(perSlot));
      if (!routing)
        continue;
      if (routing->ids != ids)
        return nearMiss(sum, rewriter,
                        "rows sorted by expert, but not by the routing's ids");
      auto fail = [&](const Twine &why) {
        return nearMiss(sum, rewriter,
                        "rows sorted by expert id (grouped_mm), but " + why);
      };
      // A bias per sorted row: Gather(b [E, out], sorted ids) (gpt-oss).
      auto splitBias = [&](Value value, Value &bias) {
        for (auto [main, term] : bothOrders(node(value, "Add")))
          if (NodeOp gather = node(term, "Gather");
              gather && intAttr(gather, "axis", 0) == 0 &&
              rankOf(input(gather, 0)) == 2 && isExternal(input(gather, 0)) &&
              throughViews(input(gather, 1)) == sortedIds) {
            bias = input(gather, 0);
            return main;
          }
        return value;
      };
      SmallVector<Value> ranges;
      int64_t numExperts = 0;
      bool downInputMajor = false, gateUpInputMajor = false;
      ExpertMatch match;
      std::optional<std::pair<Value, Value>> down =
          matchGroupedProjection(splitBias(expertOut, match.downBias), ranges,
                                 numExperts, downInputMajor);
      if (!down)
        return fail("the second projection is not one matmul per expert");
      Value preActivation = matchActivation(down->second, 1, match);
      std::optional<std::pair<Value, Value>> gateUp =
          preActivation
              ? matchGroupedProjection(splitBias(preActivation, match.gateUpBias),
                                       ranges, numExperts, gateUpInputMajor)
              : std::nullopt;
      if (gateUp && gateUpInputMajor != downInputMajor)
        return fail("one projection's weights are [E, in, out], the other's "
                    "[E, out, in]");
      match.inputMajor = downInputMajor;
      if (!gateUp)
        return fail("the activation or the first projection is not one "
                    "moe.layer represents");
      Value offsets;
      for (auto [e, range] : llvm::enumerate(ranges))
        if (!matchExpertRange(range, e, numExperts, offsets))
          return fail("expert " + Twine(e) + "'s rows are not its range of "
                      "the sorted rows");
      if (!isExpertOffsets(offsets, sortedIds, numExperts))
        return fail("the experts' ranges are not the CumSum of a histogram "
                    "of the sorted ids");
      // The first projection reads token perm[i] // k for sorted row i.
      NodeOp tokenGather = node(gateUp->second, "Gather");
      if (!tokenGather || intAttr(tokenGather, "axis", 0) != 0 ||
          rankOf(input(tokenGather, 0)) != 2 ||
          !isRowDivision(input(tokenGather, 1), perm, routing->k))
        return fail("sorted row i does not read token perm[i] / k");
      match.tokens = input(tokenGather, 0);
      match.gateUp = gateUp->first;
      match.down = down->first;
      return rewriteToLayer(sum, *routing, match, rewriter,
                            counts.batchedMatmul);
    }
    return failure();
  }
};

/// `ScatterElements(zeros [T, E], ids, w, axis = 1)`: the routing weights
/// spread into a dense [T, E] matrix.
std::optional<RoutingMatch> matchScatteredRouting(Value value) {
  NodeOp scatter = node(value, "ScatterElements");
  if (!scatter || !isAxis(intAttr(scatter, "axis", 0), 1, 2) ||
      stringAttr(scatter, "reduction", "none") != "none" ||
      !isZeroFill(node(input(scatter, 0), "ConstantOfShape")))
    return std::nullopt;
  std::optional<RoutingMatch> routing = matchRouting(input(scatter, 2));
  if (!routing || routing->ids != input(scatter, 1))
    return std::nullopt;
  return routing;
}

/// Dense form: the weights operand is
/// `Unsqueeze(Transpose(ScatterElements(zeros, ids, w, axis = 1), [1, 0]),
/// [2])`, the routing weights scattered into [T, E].
std::optional<RoutingMatch> matchDenseRouting(Value value) {
  NodeOp unsqueeze = node(value, "Unsqueeze");
  if (!unsqueeze || axes(unsqueeze, 3) != SmallVector<int64_t>{2})
    return std::nullopt;
  NodeOp transpose = node(input(unsqueeze, 0), "Transpose");
  if (!transpose || intsAttr(transpose, "perm") != SmallVector<int64_t>{1, 0})
    return std::nullopt;
  return matchScatteredRouting(input(transpose, 0));
}

/// The dense all-experts form: `ReduceSum(Mul(out, w), axis 0)` with `out`
/// every expert's FFN on every token and `w` the routing scattered into
/// `[T, E]`, transposed to expert-major. The tokens reach the experts as
/// `Unsqueeze(x, 0)` (`[1, T, H] @ [E, H, F]`) or as E stacked copies
/// (`x.repeat(E, 1)` viewed `[E, T, H]`, transformers 4's gpt-oss), and the
/// product may be viewed `[E, B, S, H]` (the weights `[E, B, S, 1]`), which
/// the raised layer's result is reshaped back to.
class RaiseDenseMoE : public RaiseDecomposedPattern {
public:
  using RaiseDecomposedPattern::RaiseDecomposedPattern;

  LogicalResult matchAndRewrite(NodeOp sum,
                                PatternRewriter &rewriter) const override {
    int64_t rank = rankOf(input(sum, 0));
    if (sum.getOpType() != "ReduceSum" || !sum.getDomainName().empty() ||
        intAttr(sum, "keepdims", 1) != 0 || (rank != 3 && rank != 4) ||
        axes(sum, rank) != SmallVector<int64_t>{0})
      return failure();
    for (auto [product, weights] : bothOrders(node(input(sum, 0), "Mul"))) {
      Value expertOut = product, outputShape;
      std::optional<RoutingMatch> routing;
      if (rank == 3) {
        routing = matchDenseRouting(weights);
      } else {
        // out [E, T, H] and w [E, T] viewed [E, B, S, H] and [E, B, S, 1].
        NodeOp view = node(product, "Reshape");
        NodeOp unsqueeze = node(weights, "Unsqueeze");
        NodeOp weightView =
            unsqueeze ? node(input(unsqueeze, 0), "Reshape") : NodeOp();
        NodeOp transpose =
            weightView ? node(input(weightView, 0), "Transpose") : NodeOp();
        if (!view || !transpose || rankOf(input(view, 0)) != 3 ||
            axes(unsqueeze, 4) != SmallVector<int64_t>{3} ||
            intsAttr(transpose, "perm") != SmallVector<int64_t>{1, 0} ||
            !sameLeadingEntries(input(view, 1), input(weightView, 1), 3))
          continue;
        routing = matchScatteredRouting(input(transpose, 0));
        expertOut = input(view, 0);
        outputShape = input(view, 1);
      }
      if (!routing)
        continue;
      ExpertLayout layout;
      layout.featureAxis = 2;
      layout.biasAxis = 1;
      layout.tokenAxes = {0};
      std::optional<ExpertMatch> experts = matchExpertBody(expertOut, layout);
      if (!experts) {
        // Every expert on E stacked copies of the tokens.
        Value rows;
        experts = matchExpertFfn(expertOut, layout, rows);
        if (experts)
          experts->tokens = stackedRows(
              rows, cast<ShapedType>(experts->gateUp.getType()).getDimSize(0));
        if (experts && !experts->tokens)
          experts.reset();
      }
      if (!experts)
        return nearMiss(sum, rewriter,
                        "a dense routing matrix weights the experts, but the "
                        "expert computation is not one moe.layer represents");
      return rewriteToLayer(sum, *routing, *experts, rewriter, counts.dense,
                            Value(), outputShape);
    }
    return failure();
  }
};

/// Llama 4's router as a scale of expert-major rows: `[E * T, 1]` =
/// `Reshape(Transpose(Sigmoid(ScatterElements(-inf, ids, values, axis = 1)),
/// [1, 0]))` with `values, ids = TopK(logits)`; row `e * T + t` is
/// `sigmoid(logits[t, e])` when t chose e, else 0. Sigmoid keeps the order of
/// the logits, so this is sigmoid_topk.
std::optional<RoutingMatch> matchExpertMajorScale(Value value) {
  NodeOp reshape = node(value, "Reshape");
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!reshape || !type || type.getRank() != 2 || type.getDimSize(1) != 1)
    return std::nullopt;
  NodeOp transpose = node(input(reshape, 0), "Transpose");
  if (!transpose || intsAttr(transpose, "perm") != SmallVector<int64_t>{1, 0})
    return std::nullopt;
  NodeOp sigmoid = node(input(transpose, 0), "Sigmoid");
  NodeOp scatter = sigmoid ? node(input(sigmoid, 0), "ScatterElements") : NodeOp();
  if (!scatter || !isAxis(intAttr(scatter, "axis", 0), 1, 2) ||
      stringAttr(scatter, "reduction", "none") != "none" ||
      !isFilledWith(input(scatter, 0), -INFINITY))
    return std::nullopt;
  RoutingMatch match;
  NodeOp topk = topKValues(input(scatter, 2), match.k);
  if (!topk || topk.getResult(1) != input(scatter, 1))
    return std::nullopt;
  match.kind = RoutingKind::SigmoidTopK;
  match.logits = input(topk, 0);
  match.ids = topk.getResult(1);
  return match;
}

/// Every expert on every token with the routing weights applied to the expert
/// inputs (Llama 4): `Sum_e experts_e(Reshape(Tile(x) * scale, [E, T, H]))`
/// with Llama 4's router scale (matchExpertMajorScale). An expert a token did
/// not choose gets a zero input and, without biases, outputs zero, so this is
/// moe.layer with scale_inputs.
class RaiseInputScaledMoE : public RaiseDecomposedPattern {
public:
  using RaiseDecomposedPattern::RaiseDecomposedPattern;

  LogicalResult matchAndRewrite(NodeOp sum,
                                PatternRewriter &rewriter) const override {
    if (sum.getOpType() != "ReduceSum" || !sum.getDomainName().empty() ||
        intAttr(sum, "keepdims", 1) != 0 || rankOf(input(sum, 0)) != 3 ||
        axes(sum, 3) != SmallVector<int64_t>{0})
      return failure();
    // Every expert on every token: [E, T, H] @ [E, H, F] -> [E, T, F].
    ExpertLayout layout;
    layout.featureAxis = 2;
    layout.biasAxis = 1;
    Value rows;
    std::optional<ExpertMatch> experts =
        matchExpertFfn(input(sum, 0), layout, rows);
    if (!experts)
      return failure();
    int64_t numExperts =
        cast<ShapedType>(experts->gateUp.getType()).getDimSize(0);
    NodeOp view = node(rows, "Reshape");
    auto rowsType = dyn_cast<RankedTensorType>(rows.getType());
    if (!view || !rowsType || rowsType.getRank() != 3 ||
        rowsType.getDimSize(0) != numExperts || rankOf(input(view, 0)) != 2)
      return failure();
    NodeOp scaled = node(input(view, 0), "Mul");
    for (auto [stacked, scale] : bothOrders(scaled)) {
      Value tokens = stackedTokens(stacked, numExperts);
      if (!tokens)
        continue;
      std::optional<RoutingMatch> routing = matchExpertMajorScale(scale);
      if (!routing)
        return nearMiss(sum, rewriter,
                        "every expert runs on every token with its input "
                        "scaled, but the scale is not a routing: recognised is "
                        "Llama 4's, the Sigmoid of the top-k logits scattered "
                        "into -inf, as expert-major rows");
      if (experts->gateUpBias || experts->downBias)
        return nearMiss(sum, rewriter,
                        "every expert runs on every token with the routing "
                        "weights applied to its input (Llama 4), but the "
                        "experts have biases: an expert a token did not choose "
                        "gets a zero input and still outputs its bias");
      experts->tokens = tokens;
      experts->scaleInputs = true;
      return rewriteToLayer(sum, *routing, *experts, rewriter, counts.dense);
    }
    return failure();
  }
};

/// A loop over the experts a trace saw (transformers' eager experts under
/// TorchScript): the hit experts are NonZero of the per-expert counts of the
/// one-hot routing mask, split into as many pieces as the trace hit. The file
/// is right only for inputs that hit that many experts (ONNX Runtime fails on
/// the others), so it is not raised; the remark says how to export instead.
class ExplainTracedExpertLoop : public RaiseDecomposedPattern {
public:
  using RaiseDecomposedPattern::RaiseDecomposedPattern;

  LogicalResult matchAndRewrite(NodeOp split,
                                PatternRewriter &rewriter) const override {
    if (split.getOpType() != "Split" || !split.getDomainName().empty())
      return failure();
    NodeOp nonZero = node(throughViews(input(split, 0)), "NonZero");
    if (NodeOp transpose = node(input(split, 0), "Transpose"))
      nonZero = node(input(transpose, 0), "NonZero");
    // The hit experts are a rank-1 mask (counts > 0); a per-expert NonZero of
    // its [k, T] mask column is data-dependent but not frozen.
    if (!nonZero || rankOf(input(nonZero, 0)) != 1 ||
        intAttr(split, "axis", 0) != 0)
      return failure();
    // NonZero of counts > 0 taken from the one-hot routing mask.
    SmallVector<Value> worklist{input(nonZero, 0)};
    for (unsigned i = 0; i < worklist.size() && i < 8; ++i) {
      NodeOp op = worklist[i].getDefiningOp<NodeOp>();
      if (!op)
        continue;
      if (op.getOpType() == "OneHot")
        return nearMiss(split, rewriter,
                        "a loop over the " + Twine(split.getNumResults()) +
                            " experts the trace hit (the NonZero of the "
                            "experts' routing counts split into a count fixed "
                            "when the model was traced): the file is right "
                            "only for inputs that hit exactly that many "
                            "experts; export the experts as batched_mm "
                            "(moe_mlir.export) instead");
      for (Value operand : op.getInputs())
        worklist.push_back(operand);
    }
    return failure();
  }
};

/// The terms of a tree of Adds whose inner Adds have no other users.
void collectSum(Value value, SmallVectorImpl<Value> &terms) {
  NodeOp add = node(value, "Add");
  if (add && add->hasOneUse()) {
    collectSum(input(add, 0), terms);
    collectSum(input(add, 1), terms);
    return;
  }
  terms.push_back(value);
}

/// Per-expert dense form (transformers' ModuleList of experts, exported without
/// loops): every expert runs on every token with its own weights, and the
/// outputs are weighted by columns of a scattered [T, E] routing matrix and
/// added up.
class RaiseModuleListMoE : public RaiseDecomposedPattern {
public:
  using RaiseDecomposedPattern::RaiseDecomposedPattern;

  LogicalResult matchAndRewrite(NodeOp root,
                                PatternRewriter &rewriter) const override {
    if (root.getOpType() != "Add" || !root.getDomainName().empty() ||
        rankOf(root.getResult(0)) != 2)
      return failure();
    // Raise from the top of the chain only.
    for (Operation *user : root->getUsers())
      if (NodeOp userNode = dyn_cast<NodeOp>(user);
          userNode && userNode.getOpType() == "Add" && root->hasOneUse())
        return failure();
    SmallVector<Value> terms;
    collectSum(input(root, 0), terms);
    collectSum(input(root, 1), terms);
    if (terms.size() < 2)
      return failure();

    // Each term: expert_e(x) * Unsqueeze(Gather(R, e, axis = 1), [1]).
    std::optional<RoutingMatch> routing;
    Value routingMatrix, tokens;
    ExpertMatch activation;
    bool haveActivation = false;
    SmallVector<std::optional<ModuleExpert>> experts(terms.size());
    for (Value term : terms) {
      bool matched = false;
      for (auto [out, column] : bothOrders(node(term, "Mul"))) {
        NodeOp unsqueeze = node(column, "Unsqueeze");
        NodeOp gather =
            unsqueeze ? node(input(unsqueeze, 0), "Gather") : NodeOp();
        if (!gather || axes(unsqueeze, 2) != SmallVector<int64_t>{1} ||
            !isAxis(intAttr(gather, "axis", 0), 1, 2))
          continue;
        std::optional<SmallVector<int64_t>> index = constInts(input(gather, 1));
        if (!index || index->size() != 1 || (*index)[0] < 0 ||
            (*index)[0] >= static_cast<int64_t>(terms.size()) ||
            experts[(*index)[0]])
          continue;
        if (!routingMatrix) {
          routingMatrix = input(gather, 0);
          routing = matchScatteredRouting(routingMatrix);
          std::optional<Projection> firstDown = matchProjection(out);
          tokens = projectionInput(firstDown ? firstDown->input : Value());
        }
        if (input(gather, 0) != routingMatrix || !routing || !tokens)
          break;
        std::optional<ModuleExpert> expert =
            matchModuleExpert(out, tokens, activation, !haveActivation);
        if (!expert)
          break;
        haveActivation = true;
        experts[(*index)[0]] = expert;
        matched = true;
        break;
      }
      if (!matched)
        return routingMatrix
                   ? nearMiss(root, rewriter,
                              "a sum of per-expert outputs weighted by a "
                              "routing matrix, but an expert does not match")
                   : failure();
    }
    int64_t numExperts = static_cast<int64_t>(experts.size());
    auto matrixType = dyn_cast<RankedTensorType>(routingMatrix.getType());
    if (!matrixType || matrixType.getDimSize(1) != numExperts)
      return nearMiss(root, rewriter,
                      "the routing matrix has a column per expert, but not all "
                      "experts are added up");

    return raisePerExpert(root, *routing, activation, tokens, experts, rewriter,
                          counts.dense);
  }
};

/// One iteration of the unrolled expert loop: which expert, its tokens and
/// output.
struct LoopLink {
  int64_t expert;
  Value slots, tokens, output, routingWeights, oneHotIds;
};

/// `Gather(value, index, axis = 0)` with a constant scalar index; returns the
/// data.
Value gatherConstant(Value value, int64_t &index) {
  NodeOp gather = node(value, "Gather");
  if (!gather || intAttr(gather, "axis", 0) != 0)
    return Value();
  std::optional<SmallVector<int64_t>> at = constInts(input(gather, 1));
  if (!at || at->size() != 1)
    return Value();
  index = (*at)[0];
  return input(gather, 0);
}

/// `Unsqueeze(value, [1])`; returns `value`.
Value unsqueezedColumn(Value value) {
  NodeOp unsqueeze = node(value, "Unsqueeze");
  if (!unsqueeze || axes(unsqueeze, 2) != SmallVector<int64_t>{1})
    return Value();
  return input(unsqueeze, 0);
}

/// An accumulation step of the loop: ScatterND, or ScatterElements along the
/// token axis, with reduction = add; or torch's index_add_ as TorchScript
/// writes it, `Add(acc, ScatterElements(zeros, idx, upd, axis = 0))` (the
/// same, since an expert's tokens are distinct). Returns the scatter and sets
/// `previous` to the accumulator it adds to; null for anything else.
NodeOp accumulation(NodeOp op, Value &previous) {
  if (!op || !op.getDomainName().empty())
    return NodeOp();
  if (op.getOpType() == "Add") {
    for (auto [acc, added] : bothOrders(op)) {
      NodeOp scatter = node(added, "ScatterElements");
      if (scatter && intAttr(scatter, "axis", 0) == 0 &&
          stringAttr(scatter, "reduction", "none") == "none" &&
          isZeroFill(node(input(scatter, 0), "ConstantOfShape"))) {
        previous = acc;
        return scatter;
      }
    }
    return NodeOp();
  }
  if (stringAttr(op, "reduction", "none") != "add" ||
      (op.getOpType() != "ScatterND" &&
       (op.getOpType() != "ScatterElements" || intAttr(op, "axis", 0) != 0)))
    return NodeOp();
  previous = input(op, 0);
  return op;
}

/// True when every use of `value` but `step` only reads its shape: a Shape,
/// or a Slice whose uses are all Shapes (index_add_'s broadcasts).
bool onlyShapeUsesBesides(Value value, Operation *step) {
  auto isShape = [](Operation *user) {
    auto n = dyn_cast<NodeOp>(user);
    return n && n.getOpType() == "Shape";
  };
  return llvm::all_of(value.getUsers(), [&](Operation *user) {
    if (user == step || isShape(user))
      return true;
    auto slice = dyn_cast<NodeOp>(user);
    return slice && slice.getOpType() == "Slice" &&
           llvm::all_of(slice->getUsers(), isShape);
  });
}

/// `u` itself or `Expand(u, Shape(Slice(acc, [0, ...], [1, ...])))`:
/// index_add_'s broadcast of the update to one row of the accumulator, which
/// leaves it as it is.
Value throughRowBroadcast(Value value) {
  NodeOp expand = node(value, "Expand");
  if (!expand)
    return value;
  NodeOp shape = node(input(expand, 1), "Shape");
  NodeOp slice = shape ? node(input(shape, 0), "Slice") : NodeOp();
  std::optional<SmallVector<int64_t>> starts =
      slice ? constInts(input(slice, 1)) : std::nullopt;
  std::optional<SmallVector<int64_t>> ends =
      slice ? constInts(input(slice, 2)) : std::nullopt;
  std::optional<SmallVector<int64_t>> sliced =
      input(slice, 3) ? constInts(input(slice, 3)) : std::nullopt;
  if (!starts || !ends || !sliced || starts->size() != sliced->size() ||
      ends->size() != sliced->size() || rankOf(input(expand, 0)) != 2)
    return Value();
  for (auto [start, end, axis] : llvm::zip(*starts, *ends, *sliced)) {
    bool wholeAxis = start == 0 && end >= (int64_t{1} << 62);
    bool firstRow = axis == 0 && start == 0 && end == 1;
    if (!wholeAxis && !firstRow)
      return Value();
  }
  return input(expand, 0);
}

/// The routing weight of each of an expert's `(token, slot)` pairs as
/// `[N, 1]`: `Unsqueeze(GatherND(w, Concat(Unsqueeze(token, 1),
/// Unsqueeze(slot, 1))), 1)`, or `Gather(Reshape(Unsqueeze(w, [2]), [T * k,
/// 1]), slot + token * k)` (transformers 4's `w[token, slot, None]` on the
/// flattened weights). Returns w and sets the slot source.
Value routingWeightAt(Value scaled, Value tokens, Value &slots) {
  if (NodeOp gatherNd = node(unsqueezedColumn(scaled), "GatherND")) {
    NodeOp concat = node(input(gatherNd, 1), "Concat");
    if (!concat || concat.getInputs().size() != 2 ||
        !isAxis(intAttr(concat, "axis", 0), 1, 2) ||
        unsqueezedColumn(input(concat, 0)) != tokens)
      return Value();
    slots = unsqueezedColumn(input(concat, 1));
    return input(gatherNd, 0);
  }
  NodeOp gather = node(scaled, "Gather");
  NodeOp flat = gather ? node(input(gather, 0), "Reshape") : NodeOp();
  if (!flat || intAttr(gather, "axis", 0) != 0)
    return Value();
  auto flatType = dyn_cast<RankedTensorType>(flat.getResult(0).getType());
  Value w = input(flat, 0);
  if (NodeOp unsqueeze = node(w, "Unsqueeze");
      unsqueeze && axes(unsqueeze, 3) == SmallVector<int64_t>{2})
    w = input(unsqueeze, 0);
  auto wType = dyn_cast<RankedTensorType>(w.getType());
  if (!flatType || flatType.getRank() != 2 || flatType.getDimSize(1) != 1 ||
      !wType || wType.getRank() != 2 || wType.isDynamicDim(1))
    return Value();
  for (auto [slot, offset] : bothOrders(node(input(gather, 1), "Add")))
    for (auto [token, k] : bothOrders(node(offset, "Mul")))
      if (token == tokens &&
          constInts(k) == SmallVector<int64_t>{wType.getDimSize(1)}) {
        slots = slot;
        return w;
      }
  return Value();
}

/// Matches `ScatterND(acc, Unsqueeze(token, 1), upd, add)` or
/// `ScatterElements(acc, Expand(Unsqueeze(token, 1)), upd, axis = 0, add)` with
/// `upd = out * Unsqueeze(GatherND(w, Concat(token, slot)), 1)` and token and
/// slot the rows of `NonZero(Gather(Transpose(OneHot(ids)), e))`.
std::optional<LoopLink> matchLoopLink(NodeOp scatter) {
  LoopLink link;
  Value indices = input(scatter, 1);
  if (scatter.getOpType() == "ScatterElements") {
    NodeOp expand = node(indices, "Expand");
    indices = expand ? input(expand, 0) : Value();
  }
  link.tokens = unsqueezedColumn(indices);
  int64_t row = -1;
  Value nonZero = link.tokens ? gatherConstant(link.tokens, row) : Value();
  NodeOp nz = node(nonZero, "NonZero");
  if (!nz || row != 1)
    return std::nullopt;
  NodeOp transpose =
      node(gatherConstant(input(nz, 0), link.expert), "Transpose");
  NodeOp oneHot = transpose ? node(input(transpose, 0), "OneHot") : NodeOp();
  if (!oneHot || intsAttr(transpose, "perm") != SmallVector<int64_t>{2, 1, 0})
    return std::nullopt;
  link.oneHotIds = input(oneHot, 0);
  Value update = throughRowBroadcast(input(scatter, 2));
  for (auto [out, scaled] : bothOrders(node(update, "Mul"))) {
    Value slots;
    Value weights = routingWeightAt(scaled, link.tokens, slots);
    int64_t slotRow = -1;
    if (!weights || gatherConstant(slots, slotRow) != nonZero || slotRow != 0)
      continue;
    link.routingWeights = weights;
    link.output = out;
    return link;
  }
  return std::nullopt;
}

/// The unrolled expert loop of TorchScript exports: per expert, NonZero of its
/// column of the one-hot routing mask picks its tokens, they go through the
/// expert's own weights, and ScatterND with reduction = add accumulates the
/// weighted outputs into zeros. Only the routed tokens ever reach an expert, so
/// the raised layer computes the same thing without the data-dependent shapes.
class RaiseExpertLoopMoE : public RaiseDecomposedPattern {
public:
  using RaiseDecomposedPattern::RaiseDecomposedPattern;

  LogicalResult matchAndRewrite(NodeOp top,
                                PatternRewriter &rewriter) const override {
    Value previous;
    if (!accumulation(top, previous))
      return failure();
    // Start from the last accumulation of the chain.
    for (Operation *user : top->getUsers())
      if (accumulation(dyn_cast<NodeOp>(user), previous))
        return failure();
    // The scatters of the steps, last first.
    SmallVector<NodeOp> chain;
    Value acc = top.getResult(0);
    Operation *later = nullptr;
    while (NodeOp step = acc.getDefiningOp<NodeOp>()) {
      NodeOp scatter = accumulation(step, previous);
      if (!scatter)
        break;
      if (later && !onlyShapeUsesBesides(acc, later))
        return failure();
      chain.push_back(scatter);
      later = step;
      acc = previous;
    }
    if (!isZeroFill(node(acc, "ConstantOfShape")) || chain.size() < 2)
      return failure();

    SmallVector<std::optional<ModuleExpert>> experts(chain.size());
    Value tokens, routingWeights, oneHotIds;
    ExpertMatch activation;
    bool haveActivation = false;
    // A chain none of whose steps is a routed expert is another form (the
    // traced loop over the experts hit has its own remark).
    if (llvm::none_of(chain, [](NodeOp step) {
          return matchLoopLink(step).has_value();
        }))
      return failure();
    for (NodeOp step : chain) {
      std::optional<LoopLink> link = matchLoopLink(step);
      if (!link)
        return nearMiss(top, rewriter,
                        "an accumulation of expert outputs by scatters, but a "
                        "step is not one routed expert");
      Value selected = projectionInput(link->output, /*gathered=*/true);
      NodeOp gather = node(selected, "Gather");
      if (!gather || input(gather, 1) != link->tokens ||
          intAttr(gather, "axis", 0) != 0 ||
          (tokens && input(gather, 0) != tokens) ||
          (routingWeights && link->routingWeights != routingWeights) ||
          (oneHotIds && link->oneHotIds != oneHotIds) || link->expert < 0 ||
          link->expert >= static_cast<int64_t>(experts.size()) ||
          experts[link->expert])
        return nearMiss(top, rewriter,
                        "the loop's steps do not share tokens and routing, or "
                        "repeat an expert");
      tokens = input(gather, 0);
      routingWeights = link->routingWeights;
      oneHotIds = link->oneHotIds;
      experts[link->expert] = matchModuleExpert(link->output, selected,
                                                activation, !haveActivation);
      if (!experts[link->expert])
        return nearMiss(
            top, rewriter,
            "an expert of the loop is not one moe.layer represents");
      haveActivation = true;
    }
    std::optional<RoutingMatch> routing = matchRouting(routingWeights);
    if (!routing || routing->ids != oneHotIds)
      return nearMiss(
          top, rewriter,
          "the loop's routing weights are not a recognised routing");

    return raisePerExpert(top, *routing, activation, tokens, experts, rewriter,
                          counts.loop);
  }
};

/// The shared expert `value` computes from `tokens`, with an optional gate
/// `sigmoid(x . g)` (Qwen-MoE): `down(act(gate(x)) [* up(x)]) [* gate]`.
struct SharedExpert {
  ModuleExpert expert;
  ExpertMatch activation;
  Value gateWeight; // [1, H] or [H, 1] (outMajor false)
  bool gateOutMajor = false;
};

std::optional<SharedExpert> matchSharedExpert(Value value, Value tokens) {
  SharedExpert shared;
  for (auto [mlp, scale] : bothOrders(node(value, "Mul"))) {
    NodeOp sigmoid = node(scale, "Sigmoid");
    std::optional<Projection> gate =
        sigmoid ? matchProjection(input(sigmoid, 0)) : std::nullopt;
    if (!gate || gate->input != tokens || gate->bias)
      continue;
    auto type = cast<RankedTensorType>(gate->weight.getType());
    if (type.getDimSize(gate->outMajor ? 0 : 1) != 1)
      continue;
    shared.gateWeight = gate->weight;
    shared.gateOutMajor = gate->outMajor;
    value = mlp;
    break;
  }
  std::optional<ModuleExpert> expert =
      matchModuleExpert(value, tokens, shared.activation, /*first=*/true);
  if (!expert || expert->gate.bias || expert->down.bias ||
      (expert->up && expert->up->bias))
    return std::nullopt;
  shared.expert = *expert;
  return shared;
}

/// `[1, out, in]` from one projection's weight (transposed when [in, out]).
Value oneBank(IRRewriter &rewriter, Location loc, const Projection &p) {
  auto type = cast<RankedTensorType>(p.weight.getType());
  Value weight = p.weight;
  if (!p.outMajor) {
    Value init = rewriter.create<tensor::EmptyOp>(
        loc, ArrayRef<int64_t>{type.getDimSize(1), type.getDimSize(0)},
        type.getElementType());
    weight = rewriter
                 .create<linalg::TransposeOp>(loc, weight, init,
                                              ArrayRef<int64_t>{1, 0})
                 .getResult()[0];
  }
  return rewriter.create<tensor::ExpandShapeOp>(
      loc,
      RankedTensorType::get(
          {1, cast<RankedTensorType>(weight.getType()).getDimSize(0),
           cast<RankedTensorType>(weight.getType()).getDimSize(1)},
          type.getElementType()),
      weight, ArrayRef<ReassociationIndices>{{0, 1}, {2}});
}

/// `gate` and `up` ([1, I, H] each) as one [1, 2I, H] bank in `layout`.
Value joinGateUp(IRRewriter &rewriter, Location loc, Value gate, Value up,
                 GateLayout layout) {
  auto type = cast<RankedTensorType>(gate.getType());
  int64_t rows = type.getDimSize(1), hidden = type.getDimSize(2);
  Value joined = rewriter.create<tensor::EmptyOp>(
      loc, ArrayRef<int64_t>{1, 2 * rows, hidden}, type.getElementType());
  bool interleaved = layout == GateLayout::Interleaved;
  SmallVector<Value, 2> parts{gate, up};
  for (auto [i, part] : llvm::enumerate(parts)) {
    int64_t offset = interleaved ? static_cast<int64_t>(i)
                                 : static_cast<int64_t>(i) * rows;
    SmallVector<OpFoldResult> offsets{rewriter.getIndexAttr(0),
                                      rewriter.getIndexAttr(offset),
                                      rewriter.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes{rewriter.getIndexAttr(1),
                                    rewriter.getIndexAttr(rows),
                                    rewriter.getIndexAttr(hidden)};
    SmallVector<OpFoldResult> strides{rewriter.getIndexAttr(1),
                                      rewriter.getIndexAttr(interleaved ? 2 : 1),
                                      rewriter.getIndexAttr(1)};
    joined = rewriter.create<tensor::InsertSliceOp>(loc, part, joined, offsets,
                                                    sizes, strides);
  }
  return joined;
}

} // namespace

/// Shared experts added to a raised layer's output (Qwen-MoE with its sigmoid
/// gate, DeepSeek, GLM-4-MoE, ...) become the layer's shared operands:
/// `Add(layer, shared(x))`, or `Add(Reshape(layer), shared(x3))` where the
/// layer's tokens are `Reshape(x3)` of a `[1, T, H]` input.
void ::moe::foldSharedExperts(func::FuncOp func, RaiseCounts &counts,
                              bool explain) {
  SmallVector<NodeOp> adds;
  func.walk([&](NodeOp add) {
    if (add.getOpType() == "Add" && add.getDomainName().empty())
      adds.push_back(add);
  });
  IRRewriter rewriter(func.getContext());
  for (NodeOp add : adds) {
    for (auto [routed, sharedOut] : bothOrders(add)) {
      Value layerValue = routed;
      NodeOp reshape = node(routed, "Reshape");
      if (reshape)
        layerValue = input(reshape, 0);
      auto layer = layerValue.getDefiningOp<LayerOp>();
      if (!layer || layer.getSharedGateUp() || !layer->hasOneUse())
        continue;
      // The shared expert reads the layer's tokens, or the [1, T, H] value
      // they are reshaped from when the sum is taken in that shape.
      Value tokens = layer.getTokens();
      if (reshape) {
        NodeOp flatten = node(tokens, "Reshape");
        auto outer = dyn_cast<RankedTensorType>(routed.getType());
        if (!flatten || !outer || outer.getRank() != 3 ||
            outer.getDimSize(0) != 1 ||
            input(flatten, 0).getType() != routed.getType())
          continue;
        tokens = input(flatten, 0);
      }
      std::optional<SharedExpert> shared = matchSharedExpert(sharedOut, tokens);
      if (!shared)
        continue;
      ActivationAttr activation = layer.getActivation();
      bool gatedShared = static_cast<bool>(shared->expert.up);
      bool gatedLayer = activation.getGated() != GateLayout::None;
      if (shared->activation.fn != activation.getFn() ||
          gatedShared != gatedLayer ||
          shared->activation.alpha != activation.getAlpha().convertToDouble() ||
          activation.getLimit() || !activation.getBeta().isZero()) {
        ++counts.nearMisses;
        if (explain)
          add.emitRemark()
              << "shared expert not folded into moe.layer: its activation is "
                 "not the routed experts' "
              << activation;
        continue;
      }
      Location loc = add.getLoc();
      rewriter.setInsertionPoint(layer);
      Value gate = oneBank(rewriter, loc, shared->expert.gate);
      Value down = oneBank(rewriter, loc, shared->expert.down);
      Value up;
      if (gatedShared) {
        up = oneBank(rewriter, loc, *shared->expert.up);
        if (activation.getGated() != GateLayout::Separate) {
          gate = joinGateUp(rewriter, loc, gate, up, activation.getGated());
          up = Value();
        }
      }
      Value sharedGate;
      if (shared->gateWeight) {
        auto type = cast<RankedTensorType>(shared->gateWeight.getType());
        // [1, H] as it is, [H, 1] transposed.
        sharedGate = shared->gateWeight;
        if (!shared->gateOutMajor)
          sharedGate = rewriter.create<tensor::CollapseShapeOp>(
              loc, shared->gateWeight, ArrayRef<ReassociationIndices>{{0, 1}});
        if (!shared->gateOutMajor)
          sharedGate = rewriter.create<tensor::ExpandShapeOp>(
              loc, RankedTensorType::get({1, type.getDimSize(0)},
                                         type.getElementType()),
              sharedGate, ArrayRef<ReassociationIndices>{{0, 1}});
      }
      auto folded = rewriter.create<LayerOp>(
          layer.getLoc(), layer.getType(), layer.getTokens(), layer.getLogits(),
          layer.getGateUp(), layer.getDown(), layer.getUp(),
          layer.getGateUpBias(), layer.getDownBias(), layer.getUpBias(),
          layer.getRoutingBias(), gate, down, up, sharedGate,
          layer.getConstantExperts(), layer.getRouting(), activation);
      folded.setNumZeroExpertsAttr(layer.getNumZeroExpertsAttr());
      folded.setNumCopyExpertsAttr(layer.getNumCopyExpertsAttr());
      folded.setScaleInputs(layer.getScaleInputs());
      if (std::optional<std::string> problem = verifyQuietly(folded)) {
        rewriter.eraseOp(folded);
        ++counts.nearMisses;
        if (explain)
          add.emitRemark() << "shared expert not folded into moe.layer: "
                           << *problem;
        continue;
      }
      rewriter.replaceOp(layer, folded.getResult());
      // The Add now only passes the layer's output on (reshaped back or not).
      rewriter.replaceOp(add, reshape ? reshape.getResult(0)
                                      : folded.getResult());
      ++counts.sharedExperts;
      break;
    }
  }
  // The shared experts' nodes are unused now.
  Block &body = func.getBody().front();
  for (Operation &op : llvm::make_early_inc_range(llvm::reverse(body)))
    if (isOpTriviallyDead(&op))
      rewriter.eraseOp(&op);
}

void ::moe::populateRaiseDecomposedMoEPatterns(RewritePatternSet &patterns,
                                               ::moe::RaiseCounts &counts,
                                               bool explain) {
  patterns.add<RaiseBatchedMatmulMoE, RaiseFlatBatchedMatmulMoE,
               RaiseGroupedMatmulMoE, RaiseDenseMoE,
               RaiseInputScaledMoE, ExplainTracedExpertLoop, RaiseModuleListMoE,
               RaiseExpertLoopMoE>(patterns.getContext(), counts, explain);
}
