//===- NormalizeOnnx.cpp - one canonical graph for the raising matchers ---===//
//
// Exporters write the same meaning in many node sequences: shape arithmetic
// (Shape → Gather → Concat → Reshape) where the shape is known, Tile where
// Expand would do, Flatten for Reshape, GatherND with one index column for
// Gather, reshapes and casts that change nothing. This pass folds what is known
// at compile time, gives every value the most precise type its inputs imply,
// and rewrites those idioms into one spelling, so that matchers see one graph.
// It never changes what the graph computes.
//
//===----------------------------------------------------------------------===//

#include "moe/Transforms/Passes.h"

#include "NormalizeOnnx.h"
#include "dialects/onnx/IR/OnnxMatchers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/CSE.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <climits>
#include <limits>
#include <map>

#include <optional>

namespace moe {
#define GEN_PASS_DEF_MOENORMALIZEONNX
#include "lib/Transforms/Passes.h.inc"
} // namespace moe

using namespace mlir;
using namespace ::moe::match;
using mlir::onnx::NodeOp;

namespace {

/// Elements of a small integer tensor, each known or not: what
/// the shape arithmetic of a graph computes.
using Partial = SmallVector<std::optional<int64_t>>;

constexpr int64_t kMaxFoldedElements = 64;

/// A small integer tensor type with a static shape (its elements are kept in
/// row-major order).
bool isSmallIntTensor(Type type) {
  auto ranked = dyn_cast<RankedTensorType>(type);
  return ranked && ranked.hasStaticShape() &&
         isa<IntegerType>(ranked.getElementType()) &&
         ranked.getNumElements() <= kMaxFoldedElements;
}

bool allKnown(const Partial &p) {
  return llvm::all_of(p, [](const std::optional<int64_t> &e) {
    return e.has_value();
  });
}

class Normalizer {
public:
  explicit Normalizer(func::FuncOp func) : func(func), builder(func) {}

  bool run() {
    bool changed = foldConstantIfs();
    // Each block (the graph's, and If branches') is in topological order, so
    // one sweep sees every producer before its users; rewrites create new
    // nodes before the node rewritten. Enclosing blocks come first.
    SmallVector<Block *> blocks;
    func.walk<WalkOrder::PreOrder>([&](Block *block) { blocks.push_back(block); });
    for (Block *block : blocks)
      for (Operation &op : llvm::make_early_inc_range(*block)) {
        auto node = dyn_cast<NodeOp>(&op);
        if (!node)
          continue;
        if (node.getDomainName() == "com.microsoft")
          changed |= refineContrib(node);
        else if (node.getDomainName().empty())
          changed |= visit(node);
      }
    for (Block *block : blocks)
      changed |= mergeEqualNodes(*block);
    // Equal nodes (two Reshapes of the input by equal constants) become one.
    {
      IRRewriter rewriter(func.getContext());
      DominanceInfo dominance(func);
      bool merged = false;
      eliminateCommonSubExpressions(rewriter, dominance, func, &merged);
      changed |= merged;
    }
    // Nodes the rewrites left unused (the default domain has no effects),
    // inner blocks first so that an If left without users goes last.
    blocks.clear();
    func.walk<WalkOrder::PostOrder>([&](Block *block) { blocks.push_back(block); });
    for (Block *block : blocks)
      for (Operation &op : llvm::make_early_inc_range(llvm::reverse(*block)))
        if (isOpTriviallyDead(&op)) {
          op.erase();
          changed = true;
        }
    return changed;
  }

private:
  /// An If whose condition is constant becomes the branch it takes: its
  /// operations move before it and its yields replace its outputs.
  bool foldConstantIfs() {
    SmallVector<mlir::onnx::IfOp> ifs;
    func.walk([&](mlir::onnx::IfOp op) { ifs.push_back(op); });
    bool folded = false;
    // Post-order: an inner If is folded before the branch holding it moves.
    for (mlir::onnx::IfOp op : ifs) {
      std::optional<SmallVector<int64_t>> condition =
          constInts(op.getCondition());
      if (!condition || condition->size() != 1)
        continue;
      Region &taken =
          (*condition)[0] != 0 ? op.getThenBranch() : op.getElseBranch();
      Block &block = taken.front();
      auto yield = cast<mlir::onnx::YieldOp>(block.getTerminator());
      SmallVector<Value> outputs(yield.getValues());
      // A branch output typed otherwise than the If's (one more or less
      // static) reaches the If's users through a cast.
      if (!llvm::all_of(llvm::zip(op.getResultTypes(), outputs), [](auto pair) {
            auto [type, output] = pair;
            return type == output.getType() ||
                   tensor::CastOp::areCastCompatible(output.getType(), type);
          }))
        continue;
      yield.erase();
      op->getBlock()->getOperations().splice(op->getIterator(),
                                             block.getOperations());
      OpBuilder builder(op);
      for (auto [result, output] : llvm::zip(op.getResults(), outputs))
        result.replaceAllUsesWith(
            output.getType() == result.getType()
                ? output
                : builder.create<tensor::CastOp>(op.getLoc(), result.getType(),
                                                 output)
                      .getResult());
      op.erase();
      folded = true;
    }
    return folded;
  }

  /// Merges default-domain nodes of `block` that differ only in their names:
  /// same op, opset, operands, attributes and result types (CSE sees the
  /// names).
  bool mergeEqualNodes(Block &block) {
    auto key = [](NodeOp n) {
      SmallVector<const void *> parts{n.getOpTypeAttr().getAsOpaquePointer(),
                                      n.getNodeAttributesAttr()
                                          ? n.getNodeAttributesAttr()
                                                .getAsOpaquePointer()
                                          : nullptr};
      for (Value v : n.getInputs())
        parts.push_back(v.getAsOpaquePointer());
      for (Type t : n.getResultTypes())
        parts.push_back(t.getAsOpaquePointer());
      parts.push_back(reinterpret_cast<const void *>(n.getOpset()));
      return parts;
    };
    std::map<SmallVector<const void *>, NodeOp> seen;
    bool merged = false;
    for (Operation &op : llvm::make_early_inc_range(block)) {
      auto n = dyn_cast<NodeOp>(&op);
      if (!n || !n.getDomainName().empty() || !isMemoryEffectFree(n))
        continue;
      auto [it, inserted] = seen.try_emplace(key(n), n);
      if (inserted)
        continue;
      n->replaceAllUsesWith(it->second);
      n->erase();
      merged = true;
    }
    return merged;
  }

  // --- known integer values -------------------------------------------------

  std::optional<Partial> known(Value value) {
    if (!value)
      return std::nullopt;
    auto it = partials.find(value);
    if (it != partials.end())
      return it->second;
    if (isSmallIntTensor(value.getType()))
      if (std::optional<SmallVector<int64_t>> ints = constInts(value)) {
        Partial p(ints->begin(), ints->end());
        return p;
      }
    return std::nullopt;
  }

  std::optional<SmallVector<int64_t>> knownInts(Value value) {
    std::optional<Partial> p = known(value);
    if (!p || !allKnown(*p))
      return std::nullopt;
    SmallVector<int64_t> out;
    for (const std::optional<int64_t> &e : *p)
      out.push_back(*e);
    return out;
  }

  /// The elements `node` computes from known elements, where it is shape
  /// arithmetic on small integer tensors.
  std::optional<Partial> evaluate(NodeOp node) {
    if (node.getNumResults() != 1 ||
        !isSmallIntTensor(node.getResult(0).getType()))
      return std::nullopt;
    StringRef op = node.getOpType();
    auto resultType = cast<RankedTensorType>(node.getResult(0).getType());
    int64_t size = resultType.getNumElements();
    if (op == "Shape") {
      auto in = dyn_cast<RankedTensorType>(input(node, 0).getType());
      if (!in)
        return std::nullopt;
      int64_t rank = in.getRank();
      int64_t start = intAttr(node, "start", 0), end = intAttr(node, "end", rank);
      start = std::clamp(start < 0 ? start + rank : start, int64_t(0), rank);
      end = std::clamp(end < 0 ? end + rank : end, int64_t(0), rank);
      Partial p;
      for (int64_t d = start; d < end; ++d)
        p.push_back(in.isDynamicDim(d) ? std::nullopt
                                       : std::optional<int64_t>(in.getDimSize(d)));
      return p;
    }
    if (op == "Size") {
      auto in = dyn_cast<RankedTensorType>(input(node, 0).getType());
      if (!in || !in.hasStaticShape())
        return std::nullopt;
      return Partial{in.getNumElements()};
    }
    if (op == "Identity" || op == "Cast" || op == "Reshape" ||
        op == "Squeeze" || op == "Unsqueeze" || op == "Flatten") {
      // Element order is kept; only a count that matches is taken.
      std::optional<Partial> in = known(input(node, 0));
      if (op == "Cast" &&
          !isa<IntegerType>(getElementTypeOrSelf(input(node, 0).getType())))
        return std::nullopt;
      if (!in || static_cast<int64_t>(in->size()) != size)
        return std::nullopt;
      return in;
    }
    if (op == "Concat") {
      Partial p;
      for (Value operand : node.getInputs()) {
        std::optional<Partial> part = known(operand);
        if (!part || rankOf(operand) != 1)
          return std::nullopt;
        p.append(part->begin(), part->end());
      }
      return static_cast<int64_t>(p.size()) == size ? std::optional(p)
                                                    : std::nullopt;
    }
    if (op == "Gather") {
      std::optional<Partial> data = known(input(node, 0));
      std::optional<SmallVector<int64_t>> at = knownInts(input(node, 1));
      if (!data || !at || rankOf(input(node, 0)) != 1 ||
          static_cast<int64_t>(at->size()) != size)
        return std::nullopt;
      Partial p;
      auto n = static_cast<int64_t>(data->size());
      for (int64_t i : *at) {
        if (i < 0)
          i += n;
        if (i < 0 || i >= n)
          return std::nullopt;
        p.push_back((*data)[i]);
      }
      return p;
    }
    if (op == "Slice") {
      std::optional<Partial> data = known(input(node, 0));
      std::optional<SmallVector<int64_t>> starts = knownInts(input(node, 1));
      std::optional<SmallVector<int64_t>> ends = knownInts(input(node, 2));
      if (!data || !starts || !ends || starts->size() != 1 ||
          ends->size() != 1 || rankOf(input(node, 0)) != 1)
        return std::nullopt;
      int64_t step = 1;
      if (Value steps = input(node, 4)) {
        std::optional<SmallVector<int64_t>> s = knownInts(steps);
        if (!s || s->size() != 1 || (*s)[0] == 0)
          return std::nullopt;
        step = (*s)[0];
      }
      if (Value sliceAxes = input(node, 3)) {
        std::optional<SmallVector<int64_t>> a = knownInts(sliceAxes);
        if (!a || a->size() != 1 || ((*a)[0] != 0 && (*a)[0] != -1))
          return std::nullopt;
      }
      auto n = static_cast<int64_t>(data->size());
      auto clampIndex = [&](int64_t i) {
        if (i < 0)
          i += n;
        if (step > 0)
          return std::clamp(i, int64_t(0), n);
        return std::clamp(i, int64_t(-1), n - 1);
      };
      int64_t begin = clampIndex((*starts)[0]),
              end = clampIndex((*ends)[0]);
      Partial p;
      for (int64_t i = begin; step > 0 ? i < end : i > end;) {
        p.push_back((*data)[i]);
        if (llvm::AddOverflow(i, step, i))
          break;
      }
      return static_cast<int64_t>(p.size()) == size ? std::optional(p)
                                                    : std::nullopt;
    }
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" ||
        op == "Max" || op == "Min") {
      if (node.getNumOperands() != 2)
        return std::nullopt;
      std::optional<Partial> a = known(input(node, 0)),
                             b = known(input(node, 1));
      if (!a || !b)
        return std::nullopt;
      auto at = [](const Partial &v, int64_t i) {
        return v.size() == 1 ? v[0] : v[i];
      };
      Partial p;
      for (int64_t i = 0; i < size; ++i) {
        if ((a->size() != 1 && static_cast<int64_t>(a->size()) != size) ||
            (b->size() != 1 && static_cast<int64_t>(b->size()) != size))
          return std::nullopt;
        std::optional<int64_t> x = at(*a, i), y = at(*b, i);
        if (!x || !y) {
          // x * 0 and 0 * y are known whatever the other is.
          if (op == "Mul" && ((x && *x == 0) || (y && *y == 0)))
            p.push_back(0);
          else
            p.push_back(std::nullopt);
          continue;
        }
        // A zero divisor or a result that overflows is not folded.
        std::optional<int64_t> r = evalIntBinary(node, *x, *y);
        if (!r)
          return std::nullopt;
        p.push_back(*r);
      }
      return p;
    }
    if (op == "ConstantOfShape") {
      auto value =
          dyn_cast_or_null<DenseIntElementsAttr>(node.getOnnxAttr("value"));
      if (!value || !value.isSplat())
        return std::nullopt;
      return Partial(size, value.getSplatValue<APInt>().getSExtValue());
    }
    if (op == "Range") {
      std::optional<SmallVector<int64_t>> start = knownInts(input(node, 0)),
                                          limit = knownInts(input(node, 1)),
                                          delta = knownInts(input(node, 2));
      if (!start || !limit || !delta || (*delta)[0] == 0)
        return std::nullopt;
      Partial p;
      // At most one element past the result's size: a Range the type does
      // not describe is not folded.
      for (int64_t v = (*start)[0];
           ((*delta)[0] > 0 ? v < (*limit)[0] : v > (*limit)[0]) &&
           static_cast<int64_t>(p.size()) <= size;) {
        p.push_back(v);
        if (llvm::AddOverflow(v, (*delta)[0], v))
          break;
      }
      return static_cast<int64_t>(p.size()) == size ? std::optional(p)
                                                    : std::nullopt;
    }
    if (op == "OneHot") {
      // OneHot(indices, depth, [off, on]) of small known values.
      std::optional<SmallVector<int64_t>> indices = knownInts(input(node, 0)),
                                          depth = knownInts(input(node, 1));
      std::optional<Partial> values = known(input(node, 2));
      int64_t axis = intAttr(node, "axis", -1);
      if (!indices || !depth || !values || values->size() != 2 ||
          rankOf(input(node, 0)) > 1 || (axis != -1 && axis != 1 &&
                                         !(rankOf(input(node, 0)) == 0 && axis == 0)))
        return std::nullopt;
      int64_t d = (*depth)[0];
      if (d < 1 || d > kMaxFoldedElements)
        return std::nullopt;
      Partial p;
      for (int64_t index : *indices)
        for (int64_t j = 0; j < d; ++j)
          p.push_back((index < 0 ? index + d : index) == j ? (*values)[1]
                                                           : (*values)[0]);
      return static_cast<int64_t>(p.size()) == size ? std::optional(p)
                                                    : std::nullopt;
    }
    return std::nullopt;
  }

  /// Replaces every use of `node`'s result by a constant holding `ints`.
  void replaceByConstant(NodeOp node, ArrayRef<int64_t> ints) {
    auto type = cast<RankedTensorType>(node.getResult(0).getType());
    auto element = cast<IntegerType>(type.getElementType());
    SmallVector<APInt> values;
    for (int64_t v : ints)
      values.push_back(APInt(element.getWidth(), v, /*isSigned=*/true));
    builder.setInsertionPoint(node);
    auto constant = builder.create<arith::ConstantOp>(
        node.getLoc(), DenseIntElementsAttr::get(type, values));
    node.getResult(0).replaceAllUsesWith(constant.getResult());
  }

  // --- types ----------------------------------------------------------------

  /// The entries of a shape operand: what is known of them, or, for one read
  /// as the model runs, as many unknowns as its static length.
  std::optional<Partial> shapeEntries(Value shape) {
    if (std::optional<Partial> entries = known(shape))
      return entries;
    auto type = shape ? dyn_cast<RankedTensorType>(shape.getType()) : nullptr;
    if (!type || type.getRank() != 1 || type.isDynamicDim(0))
      return std::nullopt;
    return Partial(type.getDimSize(0), std::nullopt);
  }

  /// The shape `node`'s result has given its inputs' types and known values,
  /// where the op's rule is simple; nullopt when it cannot tell.
  std::optional<SmallVector<int64_t>> inferShape(NodeOp node) {
    StringRef op = node.getOpType();
    auto shapeOf = [](Value v) -> std::optional<SmallVector<int64_t>> {
      auto ranked = v ? dyn_cast<RankedTensorType>(v.getType()) : nullptr;
      if (!ranked)
        return std::nullopt;
      return SmallVector<int64_t>(ranked.getShape());
    };
    static const llvm::StringSet<> kUnary = {
        "Sigmoid", "Relu", "Tanh", "Neg", "Exp", "Erf", "Sqrt", "Abs",
        "Cast",    "Softmax", "LogSoftmax", "Identity", "Clip", "Gelu",
        "Reciprocal", "Log", "Not", "Softplus", "Sign", "Floor", "Ceil",
        "IsNaN", "IsInf", "HardSigmoid", "LeakyRelu", "Elu", "Selu",
        "CumSum", "Dropout"};
    if (kUnary.contains(op))
      return shapeOf(input(node, 0));
    static const llvm::StringSet<> kBroadcast = {
        "Add", "Sub", "Mul", "Div", "Pow", "Where", "Max", "Min", "Equal",
        "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or",
        "Mod"};
    if (kBroadcast.contains(op)) {
      SmallVector<int64_t> out;
      for (Value operand : node.getInputs()) {
        std::optional<SmallVector<int64_t>> s = shapeOf(operand);
        if (!s)
          return std::nullopt;
        if (s->size() > out.size())
          out.insert(out.begin(), s->size() - out.size(), 1);
        size_t offset = out.size() - s->size();
        for (auto [i, d] : llvm::enumerate(*s)) {
          int64_t &o = out[offset + i];
          if (d == 1)
            continue;
          if (o == 1 || (ShapedType::isDynamic(o) && !ShapedType::isDynamic(d)))
            o = d;
        }
      }
      return out;
    }
    if (op == "Unsqueeze" || op == "Squeeze") {
      std::optional<SmallVector<int64_t>> in = shapeOf(input(node, 0));
      if (!in)
        return std::nullopt;
      int64_t rank = static_cast<int64_t>(in->size());
      std::optional<SmallVector<int64_t>> dims;
      if (Value axesInput = input(node, 1)) {
        std::optional<SmallVector<int64_t>> raw = knownInts(axesInput);
        if (raw) {
          int64_t outRank = op == "Unsqueeze"
                                ? rank + static_cast<int64_t>(raw->size())
                                : rank;
          for (int64_t &a : *raw)
            if (a < 0)
              a += outRank;
          dims = raw;
        }
      } else {
        dims = axes(node, op == "Unsqueeze"
                              ? rank + static_cast<int64_t>(
                                           intsAttr(node, "axes")
                                               .value_or(SmallVector<int64_t>{})
                                               .size())
                              : rank);
      }
      if (!dims)
        return std::nullopt;
      if (op == "Squeeze") {
        SmallVector<int64_t> out;
        for (int64_t d = 0; d < rank; ++d)
          if (!llvm::is_contained(*dims, d))
            out.push_back((*in)[d]);
        return out;
      }
      SmallVector<int64_t> out;
      auto it = in->begin();
      for (int64_t d = 0; d < rank + static_cast<int64_t>(dims->size()); ++d)
        if (llvm::is_contained(*dims, d))
          out.push_back(1);
        else if (it != in->end())
          out.push_back(*it++);
        else
          return std::nullopt;
      return out;
    }
    if (op == "Reshape") {
      std::optional<Partial> target = shapeEntries(input(node, 1));
      std::optional<SmallVector<int64_t>> in = shapeOf(input(node, 0));
      if (!target)
        return std::nullopt;
      bool allowZero = intAttr(node, "allowzero", 0) != 0;
      SmallVector<int64_t> out;
      int64_t inferred = -1;
      for (auto [i, d] : llvm::enumerate(*target)) {
        if (!d) {
          out.push_back(ShapedType::kDynamic);
        } else if (*d == 0 && !allowZero) {
          if (!in || i >= in->size())
            return std::nullopt;
          out.push_back((*in)[i]);
        } else if (*d == -1) {
          inferred = static_cast<int64_t>(i);
          out.push_back(ShapedType::kDynamic);
        } else if (*d < -1) {
          return std::nullopt;
        } else {
          out.push_back(*d);
        }
      }
      // The -1 dimension follows from the element count when it is static.
      if (inferred >= 0 && in &&
          llvm::count_if(out, ShapedType::isDynamic) == 1) {
        SmallVector<int64_t> others(out);
        others.erase(others.begin() + inferred);
        std::optional<int64_t> total = staticElementCount(*in),
                               rest = staticElementCount(others);
        if (total && rest && *rest > 0 && *total % *rest == 0)
          out[inferred] = *total / *rest;
      }
      return out;
    }
    if (op == "Flatten") {
      std::optional<SmallVector<int64_t>> in = shapeOf(input(node, 0));
      if (!in)
        return std::nullopt;
      int64_t rank = static_cast<int64_t>(in->size());
      int64_t axis = intAttr(node, "axis", 1);
      if (axis < 0)
        axis += rank;
      if (axis < 0 || axis > rank)
        return std::nullopt;
      auto product = [&](int64_t from, int64_t to) {
        return staticElementCount(ArrayRef<int64_t>(*in).slice(from, to - from))
            .value_or(ShapedType::kDynamic);
      };
      return SmallVector<int64_t>{product(0, axis), product(axis, rank)};
    }
    if (op == "Tile" || op == "Expand") {
      std::optional<SmallVector<int64_t>> in = shapeOf(input(node, 0));
      std::optional<Partial> by = shapeEntries(input(node, 1));
      if (!in || !by)
        return std::nullopt;
      if (op == "Tile") {
        if (by->size() != in->size())
          return std::nullopt;
        SmallVector<int64_t> out;
        for (auto [d, r] : llvm::zip(*in, *by)) {
          int64_t product;
          if (r && *r < 0)
            return std::nullopt;
          out.push_back(!r || ShapedType::isDynamic(d) ||
                                llvm::MulOverflow(d, *r, product)
                            ? ShapedType::kDynamic
                            : product);
        }
        return out;
      }
      SmallVector<int64_t> out(std::max(in->size(), by->size()), 1);
      auto place = [&](int64_t &o, int64_t d) {
        if (d == 1)
          return;
        o = (o == 1) ? d : (ShapedType::isDynamic(o) ? d : o);
      };
      for (auto [i, d] : llvm::enumerate(*in))
        place(out[out.size() - in->size() + i], d);
      for (auto [i, d] : llvm::enumerate(*by))
        place(out[out.size() - by->size() + i],
              d ? *d : ShapedType::kDynamic);
      return out;
    }
    if (op == "MatMul") {
      std::optional<SmallVector<int64_t>> a = shapeOf(input(node, 0)),
                                          b = shapeOf(input(node, 1));
      if (!a || !b || a->size() < 2 || b->size() < 2)
        return std::nullopt;
      SmallVector<int64_t> batchA(a->begin(), a->end() - 2),
          batchB(b->begin(), b->end() - 2);
      size_t rank = std::max(batchA.size(), batchB.size());
      SmallVector<int64_t> out(rank, 1);
      for (auto *batch : {&batchA, &batchB})
        for (auto [i, d] : llvm::enumerate(*batch)) {
          int64_t &o = out[rank - batch->size() + i];
          if (d != 1)
            o = (o == 1 || ShapedType::isDynamic(o)) ? d : o;
        }
      out.push_back((*a)[a->size() - 2]);
      out.push_back(b->back());
      return out;
    }
    if (op == "Gather") {
      std::optional<SmallVector<int64_t>> data = shapeOf(input(node, 0)),
                                          at = shapeOf(input(node, 1));
      if (!data || !at)
        return std::nullopt;
      int64_t axis = intAttr(node, "axis", 0);
      if (axis < 0)
        axis += static_cast<int64_t>(data->size());
      if (axis < 0 || axis >= static_cast<int64_t>(data->size()))
        return std::nullopt;
      SmallVector<int64_t> out(data->begin(), data->begin() + axis);
      out.append(at->begin(), at->end());
      out.append(data->begin() + axis + 1, data->end());
      return out;
    }
    if (op == "Slice") {
      std::optional<SmallVector<int64_t>> in = shapeOf(input(node, 0));
      std::optional<SmallVector<int64_t>> starts = knownInts(input(node, 1)),
                                          ends = knownInts(input(node, 2));
      if (!in)
        return std::nullopt;
      int64_t rank = static_cast<int64_t>(in->size());
      if (!starts || !ends) {
        // Bounds read as the model runs: the rank stays, the sliced axes
        // (every axis when they are not known) become dynamic.
        SmallVector<int64_t> out(*in);
        std::optional<SmallVector<int64_t>> sliced =
            input(node, 3) ? knownInts(input(node, 3)) : std::nullopt;
        for (int64_t d = 0; d < rank; ++d)
          if (!sliced || llvm::is_contained(*sliced, d) ||
              llvm::is_contained(*sliced, d - rank))
            out[d] = ShapedType::kDynamic;
        return out;
      }
      if (starts->size() != ends->size())
        return std::nullopt;
      SmallVector<int64_t> sliceAxes;
      if (Value a = input(node, 3)) {
        std::optional<SmallVector<int64_t>> known = knownInts(a);
        if (!known)
          return std::nullopt;
        sliceAxes = *known;
      } else {
        for (int64_t i = 0; i < static_cast<int64_t>(starts->size()); ++i)
          sliceAxes.push_back(i);
      }
      SmallVector<int64_t> steps(starts->size(), 1);
      if (Value s = input(node, 4)) {
        std::optional<SmallVector<int64_t>> known = knownInts(s);
        if (!known || known->size() != starts->size())
          return std::nullopt;
        steps = *known;
      }
      SmallVector<int64_t> out = *in;
      for (size_t i = 0; i < sliceAxes.size(); ++i) {
        int64_t axis = sliceAxes[i] < 0 ? sliceAxes[i] + rank : sliceAxes[i];
        if (axis < 0 || axis >= rank || steps[i] == 0)
          return std::nullopt;
        int64_t dim = (*in)[axis];
        if (ShapedType::isDynamic(dim)) {
          out[axis] = ShapedType::kDynamic;
          continue;
        }
        int64_t step = steps[i];
        auto clampAt = [&](int64_t v) {
          if (v < 0)
            v += dim;
          return step > 0 ? std::clamp(v, int64_t(0), dim)
                          : std::clamp(v, int64_t(-1), dim - 1);
        };
        if (step == INT64_MIN)
          return std::nullopt;
        int64_t begin = clampAt((*starts)[i]), end = clampAt((*ends)[i]);
        int64_t count = step > 0 ? (end > begin ? 1 + (end - begin - 1) / step : 0)
                                 : (begin > end ? 1 + (begin - end - 1) / -step
                                                : 0);
        out[axis] = count;
      }
      return out;
    }
    if (op == "OneHot") {
      std::optional<SmallVector<int64_t>> in = shapeOf(input(node, 0));
      std::optional<SmallVector<int64_t>> depth = knownInts(input(node, 1));
      if (!in || !depth || depth->size() != 1)
        return std::nullopt;
      int64_t rank = static_cast<int64_t>(in->size()) + 1;
      int64_t axis = intAttr(node, "axis", -1);
      if (axis < 0)
        axis += rank;
      if (axis < 0 || axis >= rank)
        return std::nullopt;
      SmallVector<int64_t> out = *in;
      out.insert(out.begin() + axis, (*depth)[0]);
      return out;
    }
    static const llvm::StringSet<> kReduce = {
        "ReduceMax", "ReduceMin", "ReduceSum", "ReduceMean", "ReduceProd",
        "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare"};
    if (kReduce.contains(op)) {
      std::optional<SmallVector<int64_t>> in = shapeOf(input(node, 0));
      if (!in)
        return std::nullopt;
      auto rank = static_cast<int64_t>(in->size());
      std::optional<SmallVector<int64_t>> reduced = axes(node, rank);
      bool noAxes = !reduced || reduced->empty();
      bool hasAxesInput = input(node, 1) || intsAttr(node, "axes");
      if (hasAxesInput && !reduced)
        return std::nullopt;
      if (noAxes && intAttr(node, "noop_with_empty_axes", 0) != 0)
        return in;
      bool keep = intAttr(node, "keepdims", 1) != 0;
      SmallVector<int64_t> out;
      for (int64_t d = 0; d < rank; ++d) {
        if (noAxes || llvm::is_contained(*reduced, d)) {
          if (keep)
            out.push_back(1);
          continue;
        }
        out.push_back((*in)[d]);
      }
      return out;
    }
    if (op == "Concat") {
      // The inputs' sizes off the axis agree; along it they add up.
      std::optional<SmallVector<int64_t>> out;
      int64_t axis = intAttr(node, "axis", 0);
      for (Value operand : node.getInputs()) {
        std::optional<SmallVector<int64_t>> s = shapeOf(operand);
        if (!s || (out && s->size() != out->size()))
          return std::nullopt;
        int64_t rank = static_cast<int64_t>(s->size());
        if (axis < -rank || axis >= rank)
          return std::nullopt;
        int64_t a = axis < 0 ? axis + rank : axis;
        if (!out) {
          out = *s;
          continue;
        }
        for (int64_t d = 0; d < rank; ++d) {
          int64_t &o = (*out)[d], v = (*s)[d];
          if (d == a)
            o = ShapedType::isDynamic(o) || ShapedType::isDynamic(v) ||
                        v > std::numeric_limits<int64_t>::max() / 2 - o
                    ? ShapedType::kDynamic
                    : o + v;
          else if (ShapedType::isDynamic(o))
            o = v;
        }
      }
      return out;
    }
    if (op == "Transpose") {
      std::optional<SmallVector<int64_t>> in = shapeOf(input(node, 0));
      if (!in)
        return std::nullopt;
      SmallVector<int64_t> perm;
      if (std::optional<SmallVector<int64_t>> p = intsAttr(node, "perm"))
        perm = *p;
      else
        for (int64_t i = static_cast<int64_t>(in->size()) - 1; i >= 0; --i)
          perm.push_back(i);
      SmallVector<int64_t> out;
      for (int64_t p : perm) {
        if (p < 0 || p >= static_cast<int64_t>(in->size()))
          return std::nullopt;
        out.push_back((*in)[p]);
      }
      return out;
    }
    return std::nullopt;
  }

  /// Gives result 0 of `node` the most precise type its inputs imply, where
  /// that agrees with the type it has; values the function returns keep theirs.
  bool refineType(NodeOp node) {
    if (node.getNumResults() != 1)
      return false;
    Value result = node.getResult(0);
    auto element = getElementTypeOrSelf(result.getType());
    if (!isa<TensorType>(result.getType()))
      return false;
    std::optional<SmallVector<int64_t>> shape = inferShape(node);
    // A negative size is an invalid node's, not a type.
    if (!shape || llvm::any_of(*shape, [](int64_t d) {
          return d < 0 && !ShapedType::isDynamic(d);
        }))
      return false;
    auto current = dyn_cast<RankedTensorType>(result.getType());
    SmallVector<int64_t> joined = *shape;
    if (current) {
      if (current.getRank() != static_cast<int64_t>(shape->size()))
        return false;
      for (auto [j, c] : llvm::zip(joined, current.getShape())) {
        if (ShapedType::isDynamic(j))
          j = c;
        else if (!ShapedType::isDynamic(c) && c != j)
          return false;
      }
    }
    auto refined = RankedTensorType::get(joined, element);
    return refined != result.getType() && retype(result, refined);
  }

  /// Gives `value` the type `type` when only onnx nodes use it (any other
  /// user, func.return among them, keeps seeing the type it was built for).
  static bool retype(Value value, Type type) {
    for (Operation *user : value.getUsers())
      if (!isa<NodeOp>(user))
        return false;
    value.setType(type);
    return true;
  }

  /// ONNX shape inference does not know the com.microsoft ops, so what follows
  /// one of them is unranked after import (a chain of MoE layers with
  /// residual Adds raised only its first). Those whose first result has the
  /// shape of their first input take its type.
  bool refineContrib(NodeOp node) {
    static const llvm::StringSet<> kSameShape = {
        "MoE", "QMoE", "RotaryEmbedding", "SkipLayerNormalization",
        "SkipSimplifiedLayerNormalization", "SimplifiedLayerNormalization",
        "FastGelu", "BiasGelu", "Gelu", "QuickGelu", "BiasAdd"};
    if (!kSameShape.contains(node.getOpType()) || node.getNumResults() == 0 ||
        node.getInputs().empty())
      return false;
    Value result = node.getResult(0);
    auto in = dyn_cast<RankedTensorType>(node.getInputs()[0].getType());
    if (!in || isa<RankedTensorType>(result.getType()) ||
        in.getElementType() != getElementTypeOrSelf(result.getType()))
      return false;
    return retype(result, in);
  }

  // --- idioms ---------------------------------------------------------------

  NodeOp createNode(NodeOp like, StringRef opType, ValueRange inputs,
                    Type resultType, ArrayRef<NamedAttribute> attributes) {
    builder.setInsertionPoint(like);
    return ::moe::match::createNodeLike(builder, like, opType, inputs,
                                        resultType, attributes);
  }

  Value intConstant(Location loc, ArrayRef<int64_t> values) {
    auto type = RankedTensorType::get({static_cast<int64_t>(values.size())},
                                      builder.getI64Type());
    return builder.create<arith::ConstantOp>(
        loc, DenseIntElementsAttr::get(type, values));
  }

  /// True when `node` returns its input unchanged: Identity, a Cast to the
  /// same type, an Expand by a constant shape of ones no longer than the
  /// input's rank, or a Reshape / Squeeze / Unsqueeze / Flatten whose result
  /// has the input's shape with at most one dynamic dimension.
  bool isNoOp(NodeOp node) {
    StringRef op = node.getOpType();
    if (node.getNumResults() != 1 || node.getInputs().empty())
      return false;
    Type in = input(node, 0) ? input(node, 0).getType() : Type();
    Type out = node.getResult(0).getType();
    if (op == "Identity")
      return in == out;
    if (op == "Cast")
      return in == out && isa<RankedTensorType>(in);
    if (op == "Expand") {
      std::optional<SmallVector<int64_t>> shape = constInts(input(node, 1));
      return in == out && shape && isa<RankedTensorType>(in) &&
             static_cast<int64_t>(shape->size()) <= rankOf(input(node, 0)) &&
             llvm::all_of(*shape, [](int64_t d) { return d == 1; });
    }
    if (op != "Reshape" && op != "Squeeze" && op != "Unsqueeze" &&
        op != "Flatten")
      return false;
    auto ranked = dyn_cast_or_null<RankedTensorType>(in);
    if (op == "Flatten") {
      // Only axis 1 of a rank-2 input keeps its shape; another axis, valid or
      // not, is left for legalisation to lower or name.
      int64_t axis = intAttr(node, "axis", 1);
      if (!ranked || ranked.getRank() != 2 || (axis != 1 && axis != -1))
        return false;
    }
    return ranked && in == out &&
           llvm::count_if(ranked.getShape(), ShapedType::isDynamic) <= 1;
  }

  /// x, when `node` reshapes back what a reshape of x made: a chain of
  /// Reshape / Squeeze / Unsqueeze / Flatten that ends in the type of x (at
  /// most one dynamic dimension), as Squeeze(Unsqueeze(x, 1), 1).
  Value undoneReshape(NodeOp node) {
    auto isView = [](NodeOp op) {
      StringRef name = op ? op.getOpType() : "";
      return name == "Reshape" || name == "Squeeze" || name == "Unsqueeze" ||
             name == "Flatten";
    };
    if (!isView(node) || node.getNumResults() != 1)
      return Value();
    auto type = dyn_cast<RankedTensorType>(node.getResult(0).getType());
    if (!type || llvm::count_if(type.getShape(), ShapedType::isDynamic) > 1)
      return Value();
    Value at = input(node, 0);
    for (int depth = 0; depth < 4; ++depth) {
      NodeOp inner = at ? at.getDefiningOp<NodeOp>() : NodeOp();
      if (!isView(inner) || !inner.getDomainName().empty())
        return Value();
      at = input(inner, 0);
      if (at && at.getType() == type)
        return at;
    }
    return Value();
  }

  /// Tile(x, r) where every repeated axis of x has size 1 is Expand(x, r).
  bool tileToExpand(NodeOp node) {
    auto in = dyn_cast<RankedTensorType>(input(node, 0).getType());
    std::optional<SmallVector<int64_t>> repeats = knownInts(input(node, 1));
    if (!in || !repeats || static_cast<int64_t>(repeats->size()) != in.getRank())
      return false;
    bool broadcasts = true;
    for (auto [d, r] : llvm::zip(in.getShape(), *repeats))
      if (r != 1 && d != 1)
        broadcasts = false;
    if (!broadcasts)
      return tileToConcat(node, *repeats);
    Value shape = (builder.setInsertionPoint(node),
                   intConstant(node.getLoc(), *repeats));
    NodeOp expand = createNode(node, "Expand", {input(node, 0), shape},
                               node.getResult(0).getType(), {});
    node.getResult(0).replaceAllUsesWith(expand.getResult(0));
    return true;
  }

  /// Tile(x, r) that repeats one axis a few times is the Concat of that many
  /// copies of x along it.
  bool tileToConcat(NodeOp node, ArrayRef<int64_t> repeats) {
    constexpr int64_t kMaxCopies = 64;
    int64_t axis = -1;
    for (auto [i, r] : llvm::enumerate(repeats)) {
      if (r == 1)
        continue;
      if (axis >= 0 || r < 1 || r > kMaxCopies)
        return false;
      axis = static_cast<int64_t>(i);
    }
    if (axis < 0)
      return false;
    SmallVector<Value> copies(repeats[axis], input(node, 0));
    NodeOp concat = createNode(
        node, "Concat", copies, node.getResult(0).getType(),
        {builder.getNamedAttr(
            "axis", builder.getIntegerAttr(
                        builder.getIntegerType(64, /*isSigned=*/true), axis))});
    node.getResult(0).replaceAllUsesWith(concat.getResult(0));
    return true;
  }

  /// Flatten(x, axis) → Reshape(x, [a, b]) when at most one of a, b is dynamic.
  bool flattenToReshape(NodeOp node) {
    int64_t rank = rankOf(input(node, 0)), axis = intAttr(node, "axis", 1);
    if (rank < 0 || axis < -rank || axis > rank)
      return false;
    auto out = dyn_cast<RankedTensorType>(node.getResult(0).getType());
    if (!out || out.getRank() != 2 ||
        llvm::count_if(out.getShape(), ShapedType::isDynamic) > 1)
      return false;
    SmallVector<int64_t> target;
    for (int64_t d : out.getShape())
      target.push_back(ShapedType::isDynamic(d) ? -1 : d);
    Value shape = (builder.setInsertionPoint(node),
                   intConstant(node.getLoc(), target));
    NodeOp reshape =
        createNode(node, "Reshape", {input(node, 0), shape}, out, {});
    node.getResult(0).replaceAllUsesWith(reshape.getResult(0));
    return true;
  }

  /// GatherND(data, idx) with batch_dims 0 and one index column is
  /// Gather(data, idx[..., 0], axis 0).
  bool gatherNDToGather(NodeOp node) {
    if (intAttr(node, "batch_dims", 0) != 0)
      return false;
    Value indices = input(node, 1);
    auto type = dyn_cast<RankedTensorType>(indices.getType());
    if (!type || type.getRank() < 1 || type.getShape().back() != 1)
      return false;
    Value rows;
    if (NodeOp unsqueeze = ::moe::match::node(indices, "Unsqueeze"))
      if (axes(unsqueeze, type.getRank()) ==
          SmallVector<int64_t>{type.getRank() - 1})
        rows = input(unsqueeze, 0);
    if (!rows) {
      builder.setInsertionPoint(node);
      Value lastAxis = intConstant(node.getLoc(), {type.getRank() - 1});
      auto squeezed =
          RankedTensorType::get(type.getShape().drop_back(),
                                type.getElementType());
      rows = createNode(node, "Squeeze", {indices, lastAxis}, squeezed, {})
                 .getResult(0);
    }
    NodeOp gather = createNode(
        node, "Gather", {input(node, 0), rows}, node.getResult(0).getType(),
        {builder.getNamedAttr(
            "axis", builder.getIntegerAttr(
                        builder.getIntegerType(64, /*isSigned=*/true), 0))});
    node.getResult(0).replaceAllUsesWith(gather.getResult(0));
    return true;
  }

  /// `Unsqueeze(value, [axis])` beside `like`, with the axes an input from
  /// opset 13 on and an attribute before.
  Value unsqueezeLike(NodeOp like, Value value, int64_t axis, Type resultType) {
    if (like.getOpset() >= 13)
      return createNode(like, "Unsqueeze",
                        {value, intConstant(like.getLoc(), {axis})}, resultType,
                        {})
          .getResult(0);
    return createNode(like, "Unsqueeze", {value}, resultType,
                      {builder.getNamedAttr("axes",
                                            builder.getI64ArrayAttr({axis}))})
        .getResult(0);
  }

  NamedAttribute axisAttr(int64_t axis) {
    return builder.getNamedAttr(
        "axis", builder.getIntegerAttr(
                    builder.getIntegerType(64, /*isSigned=*/true), axis));
  }

  /// Split(Transpose(X [R, N], [1, 0]), axis 1) into R columns: column j is
  /// row j of X, `Unsqueeze(Gather(X, j), 1)` (TorchScript's unbind of the
  /// NonZero of a mask).
  bool splitColumnsToRows(NodeOp node) {
    NodeOp transpose = ::moe::match::node(input(node, 0), "Transpose");
    if (!transpose ||
        intsAttr(transpose, "perm") != SmallVector<int64_t>{1, 0} ||
        !isAxis(intAttr(node, "axis", 0), 1, 2))
      return false;
    Value rows = input(transpose, 0);
    auto type = dyn_cast<RankedTensorType>(rows.getType());
    if (!type || type.getRank() != 2 ||
        type.getDimSize(0) != static_cast<int64_t>(node.getNumResults()))
      return false;
    for (Value column : node.getResults()) {
      auto t = dyn_cast<RankedTensorType>(column.getType());
      if (!t || t.getRank() != 2 || t.getDimSize(1) != 1)
        return false;
    }
    builder.setInsertionPoint(node);
    auto scalarType = RankedTensorType::get({}, builder.getI64Type());
    auto rowType =
        RankedTensorType::get({type.getDimSize(1)}, type.getElementType());
    for (auto [j, column] : llvm::enumerate(node.getResults())) {
      Value index = builder.create<arith::ConstantOp>(
          node.getLoc(), DenseIntElementsAttr::get(
                             scalarType, {static_cast<int64_t>(j)}));
      Value row = createNode(node, "Gather", {rows, index}, rowType,
                             {axisAttr(0)})
                      .getResult(0);
      column.replaceAllUsesWith(
          unsqueezeLike(node, row, 1, column.getType()));
    }
    return true;
  }

  /// Gather(Unsqueeze(x, [0]), idx, axis 1) with a rank-1 idx is
  /// Unsqueeze(Gather(x, idx, axis 0), [0]) (torch's `x[None, idx]`).
  bool gatherBehindUnitAxis(NodeOp node) {
    NodeOp unsqueeze = ::moe::match::node(input(node, 0), "Unsqueeze");
    auto result = dyn_cast<RankedTensorType>(node.getResult(0).getType());
    if (!unsqueeze || !result || result.getRank() < 2 ||
        rankOf(input(node, 1)) != 1 ||
        !isAxis(intAttr(node, "axis", 0), 1, rankOf(input(node, 0))) ||
        axes(unsqueeze, rankOf(input(node, 0))) != SmallVector<int64_t>{0})
      return false;
    builder.setInsertionPoint(node);
    auto gatheredType = RankedTensorType::get(result.getShape().drop_front(),
                                              result.getElementType());
    Value gathered = createNode(node, "Gather",
                                {input(unsqueeze, 0), input(node, 1)},
                                gatheredType, {axisAttr(0)})
                         .getResult(0);
    node.getResult(0).replaceAllUsesWith(
        unsqueezeLike(node, gathered, 0, node.getResult(0).getType()));
    return true;
  }

  /// NonZero(Cast(x, to = bool)) is NonZero(x): a cast to bool keeps which
  /// elements are nonzero.
  bool nonZeroThroughBoolCast(NodeOp node) {
    NodeOp cast = ::moe::match::node(input(node, 0), "Cast");
    if (!cast || intAttr(cast, "to", 0) != 9 /* BOOL */ ||
        !isa<RankedTensorType>(input(cast, 0).getType()))
      return false;
    builder.setInsertionPoint(node);
    node.getResult(0).replaceAllUsesWith(
        createNode(node, "NonZero", {input(cast, 0)},
                   node.getResult(0).getType(), {})
            .getResult(0));
    return true;
  }

  /// A Reshape whose target shape has one element known only at run time
  /// takes -1 there instead: the element count fixes it, and the target
  /// becomes a constant.
  bool reshapeToInferred(NodeOp node) {
    Value target = input(node, 1);
    std::optional<Partial> shape = known(target);
    if (!shape || target.getDefiningOp<arith::ConstantOp>() ||
        llvm::count_if(*shape, [](const std::optional<int64_t> &e) {
          return !e.has_value();
        }) != 1)
      return false;
    bool allowZero = intAttr(node, "allowzero", 0) != 0;
    SmallVector<int64_t> ints;
    for (const std::optional<int64_t> &e : *shape) {
      if (e && (*e == -1 || (allowZero && *e == 0)))
        return false;
      ints.push_back(e ? *e : -1);
    }
    builder.setInsertionPoint(node);
    node->setOperand(1, intConstant(node.getLoc(), ints));
    return true;
  }

  /// An ONNX Constant holding a tensor becomes an arith.constant, the one
  /// spelling of a constant after import.
  bool constantToArith(NodeOp node) {
    auto value = dyn_cast_or_null<DenseElementsAttr>(node.getOnnxAttr("value"));
    if (!value || value.getType() != node.getResult(0).getType())
      return false;
    builder.setInsertionPoint(node);
    auto constant = builder.create<arith::ConstantOp>(node.getLoc(), value);
    node.getResult(0).replaceAllUsesWith(constant.getResult());
    return true;
  }

  bool visit(NodeOp node) {
    if (node.getOpType() == "Constant")
      return constantToArith(node);
    bool changed = refineType(node);
    if (std::optional<Partial> p = evaluate(node)) {
      if (allKnown(*p)) {
        SmallVector<int64_t> ints;
        for (const std::optional<int64_t> &e : *p)
          ints.push_back(*e);
        replaceByConstant(node, ints);
        return true;
      }
      partials[node.getResult(0)] = *p;
    }
    StringRef op = node.getOpType();
    if (isNoOp(node)) {
      node.getResult(0).replaceAllUsesWith(input(node, 0));
      return true;
    }
    if (Value original = undoneReshape(node)) {
      node.getResult(0).replaceAllUsesWith(original);
      return true;
    }
    if (op == "Tile")
      changed |= tileToExpand(node);
    else if (op == "Flatten")
      changed |= flattenToReshape(node);
    else if (op == "GatherND")
      changed |= gatherNDToGather(node);
    else if (op == "Reshape")
      changed |= reshapeToInferred(node);
    else if (op == "Split")
      changed |= splitColumnsToRows(node);
    else if (op == "Gather")
      changed |= gatherBehindUnitAxis(node);
    else if (op == "NonZero")
      changed |= nonZeroThroughBoolCast(node);
    return changed;
  }

  func::FuncOp func;
  OpBuilder builder;
  llvm::DenseMap<Value, Partial> partials;
};

class MoENormalizeOnnxPass
    : public ::moe::impl::MoENormalizeOnnxBase<MoENormalizeOnnxPass> {
public:
  using MoENormalizeOnnxBase::MoENormalizeOnnxBase;

  void runOnOperation() override { ::moe::normalizeOnnxGraph(getOperation()); }
};

} // namespace

bool moe::normalizeOnnxGraph(func::FuncOp func) {
  if (func.getBody().empty())
    return false;
  bool changed = false;
  // A rewrite can make a later fold possible (a refined type gives a Shape);
  // a few sweeps reach the fixed point on the graphs exporters write.
  for (int sweep = 0; sweep < 4; ++sweep) {
    if (!Normalizer(func).run())
      break;
    changed = true;
  }
  return changed;
}
