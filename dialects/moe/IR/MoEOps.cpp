//===- MoEOps.cpp - verifiers of the moe operations -----------------------===//
//
// Every verifier names the operand at fault and the dimension it disagrees on,
// and says where the expected size came from.
//
//===----------------------------------------------------------------------===//

#include "dialects/moe/IR/MoEOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

/// What a dimension symbol stands for, for error messages.
StringRef describeSymbol(StringRef symbol) {
  return llvm::StringSwitch<StringRef>(symbol)
      .Case("T", "tokens")
      .Case("H", "hidden size")
      .Case("E", "experts")
      .Case("EZ", "router columns")
      .Case("F", "first-projection rows")
      .Case("I", "intermediate size")
      .Case("k", "experts per token")
      .Case("R", "dispatched rows")
      .Case("S", "shared experts")
      .Case("Fs", "shared first-projection rows")
      .Case("Is", "shared intermediate size")
      .Case("C", "constant experts")
      .Case("B", "batch")
      .Case("Hq", "query heads")
      .Case("Hkv", "key/value heads")
      .Case("Sq", "query length")
      .Case("Skv", "key length")
      .Case("D", "head size")
      .Case("Dv", "value head size")
      .Case("Hm", "block-mask heads")
      .Case("Qb", "query blocks")
      .Case("Kb", "key blocks")
      .Case("K", "input features")
      .Case("Kp", "packed input features")
      .Case("N", "output features")
      .Case("P", "group size")
      .Default("");
}

/// Binds dimension symbols (`T`, `H`, ...) to sizes as operands are matched,
/// and reports the first disagreement naming both the operand at fault and the
/// one that fixed the size.
class ShapeChecker {
public:
  explicit ShapeChecker(Operation *op) : op(op) {}

  /// Fixes `symbol` to `size` (ignored when dynamic), as given by `source`.
  void bind(StringRef symbol, int64_t size, StringRef source) {
    if (!ShapedType::isDynamic(size))
      bindings.try_emplace(symbol, Binding{size, source.str()});
  }

  /// The size bound to `symbol`, or ShapedType::kDynamic.
  int64_t get(StringRef symbol) const {
    auto it = bindings.find(symbol);
    return it == bindings.end() ? ShapedType::kDynamic : it->second.size;
  }

  /// Checks that `value` (skipped when null) is a tensor with one dimension per
  /// symbol, each agreeing with earlier bindings; unbound symbols are bound. An
  /// empty symbol matches any size.
  LogicalResult match(StringRef name, Value value,
                      ArrayRef<StringRef> symbols) {
    return matchAs("operand", name, value, symbols);
  }

  /// Same as `match` for a result.
  LogicalResult matchResult(StringRef name, Value value,
                            ArrayRef<StringRef> symbols) {
    return matchAs("result", name, value, symbols);
  }

  /// Where the size of `symbol` came from (an operand, result or attribute
  /// name).
  StringRef sourceOf(StringRef symbol) const {
    auto it = bindings.find(symbol);
    return it == bindings.end() ? StringRef() : StringRef(it->second.source);
  }

  /// Checks that `symbol` (when bound) equals `size` (when static), where
  /// `size` was derived as `how`.
  LogicalResult expectDerived(StringRef symbol, int64_t size, StringRef how) {
    int64_t bound = get(symbol);
    if (ShapedType::isDynamic(bound) || ShapedType::isDynamic(size) ||
        bound == size)
      return success();
    const Binding &binding = bindings.find(symbol)->second;
    return op->emitOpError()
           << "'" << binding.source << "' gives " << symbol << " ("
           << describeSymbol(symbol) << ") = " << bound << ", but " << how
           << " = " << size;
  }

private:
  LogicalResult matchAs(StringRef role, StringRef name, Value value,
                        ArrayRef<StringRef> symbols) {
    if (!value)
      return success();
    auto type = cast<ShapedType>(value.getType());
    if (type.getRank() != static_cast<int64_t>(symbols.size())) {
      InFlightDiagnostic diag = op->emitOpError();
      diag << role << " '" << name << "' must have rank " << symbols.size();
      if (llvm::any_of(symbols, [](StringRef s) { return !s.empty(); }))
        diag << " [" << llvm::join(symbols, ", ") << "]";
      return diag << ", got " << type;
    }
    for (auto [dim, symbol] : llvm::enumerate(symbols)) {
      if (symbol.empty())
        continue;
      if (failed(expect(role, name, dim, type.getDimSize(dim), symbol)))
        return failure();
      bind(symbol, type.getDimSize(dim), name);
    }
    return success();
  }

  LogicalResult expect(StringRef role, StringRef name, size_t dim, int64_t size,
                       StringRef symbol) {
    auto it = bindings.find(symbol);
    if (ShapedType::isDynamic(size) || it == bindings.end() ||
        it->second.size == size)
      return success();
    InFlightDiagnostic diag = op->emitOpError();
    diag << role << " '" << name << "' dimension " << dim << " (" << symbol;
    if (StringRef description = describeSymbol(symbol); !description.empty())
      diag << ", " << description;
    diag << ") is " << size << ", but '" << it->second.source << "' gives "
         << symbol << " = " << it->second.size;
    return diag;
  }

  struct Binding {
    int64_t size;
    std::string source;
  };
  Operation *op;
  llvm::StringMap<Binding> bindings;
};

/// Checks that every present value in `values` has the element type of
/// `reference`.
LogicalResult checkElementTypes(Operation *op, StringRef referenceName,
                                Value reference,
                                ArrayRef<std::pair<StringRef, Value>> values) {
  Type expected = getElementTypeOrSelf(reference.getType());
  for (auto [name, value] : values) {
    if (!value)
      continue;
    Type actual = getElementTypeOrSelf(value.getType());
    if (actual != expected)
      return op->emitOpError()
             << "operand '" << name << "' has element type " << actual
             << ", but '" << referenceName << "' has " << expected;
  }
  return success();
}

/// Symbol names of one expert bank (routed or shared).
struct BankSymbols {
  StringRef experts, rows, inter;
};
constexpr BankSymbols kRoutedBank{"E", "F", "I"};
constexpr BankSymbols kSharedBank{"S", "Fs", "Is"};

/// The weights of one bank of expert FFNs, by role.
struct ExpertBank {
  StringRef prefix;
  Value gateUp, down, up, gateUpBias, downBias, upBias;
};

/// The routed bank's values by operand name, for element-type checks.
SmallVector<std::pair<StringRef, Value>> namedWeights(const ExpertBank &bank) {
  return {{"gate_up", bank.gateUp},
          {"down", bank.down},
          {"up", bank.up},
          {"gate_up_bias", bank.gateUpBias},
          {"down_bias", bank.downBias},
          {"up_bias", bank.upBias}};
}

/// Verifies the weight shapes of an expert bank against `activation`: the
/// gate/up factor, where the up projection lives, and the bias shapes. `H` must
/// be bound.
LogicalResult verifyExpertBank(Operation *op, ShapeChecker &shapes,
                               ActivationAttr activation,
                               const ExpertBank &bank, const BankSymbols &sym) {
  std::string gateUpName = (bank.prefix + "gate_up").str();
  std::string downName = (bank.prefix + "down").str();
  std::string upName = (bank.prefix + "up").str();
  if (failed(shapes.match(gateUpName, bank.gateUp,
                          {sym.experts, sym.rows, "H"})) ||
      failed(shapes.match(downName, bank.down, {sym.experts, "H", sym.inter})))
    return failure();

  int64_t rows = shapes.get(sym.rows);
  int64_t inter = shapes.get(sym.inter);
  int64_t factor = activation.gateUpFactor();
  if (!ShapedType::isDynamic(rows) && !ShapedType::isDynamic(inter) &&
      rows != factor * inter)
    return op->emitOpError()
           << "operand '" << gateUpName << "' has " << rows
           << " rows per expert, but activation "
           << stringifyGateLayout(activation.getGated()) << " needs " << factor
           << " x " << inter << " (the intermediate size of '" << downName
           << "')";

  bool wantsUp = activation.getGated() == GateLayout::Separate;
  if (wantsUp && !bank.up)
    return op->emitOpError()
           << "operand '" << upName << "' is required with gated = separate";
  if (!wantsUp && bank.up)
    return op->emitOpError() << "operand '" << upName
                             << "' is only allowed with gated = separate";
  if (bank.upBias && !bank.up)
    return op->emitOpError() << "operand '" << bank.prefix
                             << "up_bias' needs operand '" << upName << "'";
  return failure(
      failed(shapes.match(upName, bank.up, {sym.experts, sym.inter, "H"})) ||
      failed(shapes.match((bank.prefix + "gate_up_bias").str(), bank.gateUpBias,
                          {sym.experts, sym.rows})) ||
      failed(shapes.match((bank.prefix + "down_bias").str(), bank.downBias,
                          {sym.experts, "H"})) ||
      failed(shapes.match((bank.prefix + "up_bias").str(), bank.upBias,
                          {sym.experts, sym.inter})));
}

/// Checks that `routing` can choose among `columns` router columns.
LogicalResult verifyRoutingColumns(Operation *op, RoutingAttr routing,
                                   int64_t columns, StringRef source,
                                   Value bias) {
  if (bias && routing.getKind() == RoutingKind::SparseMixer)
    return op->emitOpError() << "sparse_mixer routing selects by the logits "
                                "themselves and takes no routing bias";
  if (ShapedType::isDynamic(columns))
    return success();
  if (routing.getK() > columns)
    return op->emitOpError()
           << "routing chooses k = " << routing.getK() << " experts, but '"
           << source << "' has only " << columns;
  int64_t groups = routing.getNumGroups();
  if (columns % groups != 0)
    return op->emitOpError() << "routing splits " << columns
                             << " experts into num_groups = " << groups
                             << ", which does not divide them";
  int64_t candidates = routing.getTopkGroups() * (columns / groups);
  if (routing.getK() > candidates)
    return op->emitOpError()
           << "routing chooses k = " << routing.getK()
           << " experts from topk_groups = " << routing.getTopkGroups()
           << " groups of " << columns / groups << ", only " << candidates
           << " candidates";
  return success();
}

/// `a * b` when both are static, else dynamic.
int64_t mulDims(int64_t a, int64_t b) {
  if (ShapedType::isDynamic(a) || ShapedType::isDynamic(b))
    return ShapedType::kDynamic;
  return a * b;
}

} // namespace

//===----------------------------------------------------------------------===//
// moe.layer
//===----------------------------------------------------------------------===//

/// Bound on num_zero_experts and num_copy_experts, which keeps their sums
/// exact.
constexpr uint64_t kMaxNullExperts = (uint64_t(1) << 31) - 1;

int64_t LayerOp::getNumExperts() {
  return cast<ShapedType>(getGateUp().getType()).getDimSize(0);
}

int64_t LayerOp::getNumNullExperts() {
  int64_t constants = 0;
  if (Value c = getConstantExperts())
    constants = cast<ShapedType>(c.getType()).getDimSize(0);
  // The counts are verified to be below 2^31, so the sum cannot overflow.
  if (ShapedType::isDynamic(constants) ||
      getNumZeroExperts() > kMaxNullExperts ||
      getNumCopyExperts() > kMaxNullExperts)
    return ShapedType::kDynamic;
  return static_cast<int64_t>(getNumZeroExperts() + getNumCopyExperts()) +
         constants;
}

LogicalResult LayerOp::verify() {
  if (getNumZeroExperts() > kMaxNullExperts ||
      getNumCopyExperts() > kMaxNullExperts)
    return emitOpError() << "num_zero_experts and num_copy_experts must be at "
                            "most "
                         << kMaxNullExperts;
  if (getScaleInputs() && (getNumZeroExperts() || getNumCopyExperts() ||
                           getConstantExperts()))
    return emitOpError("scale_inputs takes no zero-computation experts");
  ShapeChecker shapes(*this);
  if (failed(shapes.match("tokens", getTokens(), {"T", "H"})) ||
      failed(shapes.match("logits", getLogits(), {"T", "EZ"})) ||
      failed(shapes.match("routing_bias", getRoutingBias(), {"EZ"})))
    return failure();
  ExpertBank routed{"",         getGateUp(),     getDown(),
                    getUp(),    getGateUpBias(), getDownBias(),
                    getUpBias()};
  if (failed(verifyExpertBank(*this, shapes, getActivation(), routed,
                              kRoutedBank)))
    return failure();

  if (failed(
          shapes.match("constant_experts", getConstantExperts(), {"C", "H"})))
    return failure();
  int64_t experts = shapes.get("E"), nullExperts = getNumNullExperts();
  if (!ShapedType::isDynamic(experts) && !ShapedType::isDynamic(nullExperts) &&
      failed(shapes.expectDerived("EZ", experts + nullExperts,
                                  "experts + zero/copy/constant experts (" +
                                      std::to_string(experts) + " + " +
                                      std::to_string(nullExperts) + ")")))
    return failure();
  if (failed(verifyRoutingColumns(*this, getRouting(), shapes.get("EZ"),
                                  shapes.sourceOf("EZ"), getRoutingBias())))
    return failure();

  Value sharedGateUp = getSharedGateUp(), sharedDown = getSharedDown();
  if (static_cast<bool>(sharedGateUp) != static_cast<bool>(sharedDown))
    return emitOpError("shared experts need both 'shared_gate_up' and "
                       "'shared_down'");
  if ((getSharedUp() || getSharedGate()) && !sharedGateUp)
    return emitOpError("'shared_up' and 'shared_gate' need 'shared_gate_up' "
                       "and 'shared_down'");
  if (sharedGateUp) {
    ExpertBank shared{"shared_", sharedGateUp, sharedDown, getSharedUp(),
                      Value(),   Value(),      Value()};
    if (failed(verifyExpertBank(*this, shapes, getActivation(), shared,
                                kSharedBank)) ||
        failed(shapes.match("shared_gate", getSharedGate(), {"S", "H"})))
      return failure();
  }
  if (failed(shapes.matchResult("result", getResult(), {"T", "H"})))
    return failure();
  SmallVector<std::pair<StringRef, Value>> typed = namedWeights(routed);
  typed.append({{"shared_gate_up", getSharedGateUp()},
                {"shared_down", getSharedDown()},
                {"shared_up", getSharedUp()},
                {"shared_gate", getSharedGate()},
                {"constant_experts", getConstantExperts()},
                {"result", getResult()}});
  return checkElementTypes(*this, "tokens", getTokens(), typed);
}

//===----------------------------------------------------------------------===//
// moe.route
//===----------------------------------------------------------------------===//

LogicalResult RouteOp::verify() {
  ShapeChecker shapes(*this);
  shapes.bind("k", getRouting().getK(), "routing");
  if (failed(shapes.match("logits", getLogits(), {"T", "E"})) ||
      failed(shapes.match("bias", getBias(), {"E"})) ||
      failed(shapes.matchResult("weights", getWeights(), {"T", "k"})) ||
      failed(shapes.matchResult("ids", getIds(), {"T", "k"})))
    return failure();
  if (failed(verifyRoutingColumns(*this, getRouting(), shapes.get("E"),
                                  shapes.sourceOf("E"), getBias())))
    return failure();
  return checkElementTypes(*this, "logits", getLogits(),
                           {{"bias", getBias()}, {"weights", getWeights()}});
}

//===----------------------------------------------------------------------===//
// moe.dispatch
//===----------------------------------------------------------------------===//

LogicalResult DispatchOp::verify() {
  ShapeChecker shapes(*this);
  if (failed(shapes.match("tokens", getTokens(), {"T", "H"})) ||
      failed(shapes.match("ids", getIds(), {"T", "k"})) ||
      failed(shapes.match("weights", getWeights(), {"T", "k"})) ||
      failed(shapes.matchResult("rows", getRows(), {"R", "H"})) ||
      failed(shapes.matchResult("permutation", getPermutation(), {"R"})) ||
      failed(shapes.matchResult("offsets", getOffsets(), {""})))
    return failure();
  if (failed(shapes.expectDerived(
          "R", mulDims(shapes.get("T"), shapes.get("k")), "tokens x k")))
    return failure();
  if (cast<ShapedType>(getOffsets().getType()).getDimSize(0) == 0)
    return emitOpError("result 'offsets' needs at least one element (E + 1)");
  return checkElementTypes(*this, "tokens", getTokens(),
                           {{"rows", getRows()}, {"weights", getWeights()}});
}

//===----------------------------------------------------------------------===//
// moe.experts
//===----------------------------------------------------------------------===//

LogicalResult ExpertsOp::verify() {
  ShapeChecker shapes(*this);
  if (failed(shapes.match("rows", getRows(), {"R", "H"})))
    return failure();
  ExpertBank bank{"",         getGateUp(),     getDown(),
                  getUp(),    getGateUpBias(), getDownBias(),
                  getUpBias()};
  if (failed(verifyExpertBank(*this, shapes, getActivation(), bank,
                              kRoutedBank)) ||
      failed(shapes.match("offsets", getOffsets(), {""})) ||
      failed(shapes.matchResult("result", getResult(), {"R", "H"})))
    return failure();
  int64_t offsets = cast<ShapedType>(getOffsets().getType()).getDimSize(0);
  int64_t experts = shapes.get("E");
  if (!ShapedType::isDynamic(offsets) && !ShapedType::isDynamic(experts) &&
      offsets != experts + 1)
    return emitOpError() << "operand 'offsets' has " << offsets
                         << " elements, but 'gate_up' has " << experts
                         << " experts, which need " << experts + 1;
  SmallVector<std::pair<StringRef, Value>> typed = namedWeights(bank);
  typed.push_back({"result", getResult()});
  return checkElementTypes(*this, "rows", getRows(), typed);
}

//===----------------------------------------------------------------------===//
// moe.combine
//===----------------------------------------------------------------------===//

LogicalResult CombineOp::verify() {
  ShapeChecker shapes(*this);
  if (failed(shapes.match("expert_rows", getExpertRows(), {"R", "H"})) ||
      failed(shapes.match("weights", getWeights(), {"T", "k"})) ||
      failed(shapes.match("permutation", getPermutation(), {"R"})) ||
      failed(shapes.matchResult("result", getResult(), {"T", "H"})))
    return failure();
  if (failed(shapes.expectDerived("R",
                                  mulDims(shapes.get("T"), shapes.get("k")),
                                  "tokens x k from 'weights'")))
    return failure();
  return checkElementTypes(*this, "expert_rows", getExpertRows(),
                           {{"result", getResult()}});
}

//===----------------------------------------------------------------------===//
// moe.sparse_attention
//===----------------------------------------------------------------------===//

LogicalResult SparseAttentionOp::verify() {
  ShapeChecker shapes(*this);
  if (failed(shapes.match("query", getQuery(), {"B", "Hq", "Sq", "D"})) ||
      failed(shapes.match("key", getKey(), {"B", "Hkv", "Skv", "D"})) ||
      failed(shapes.match("value", getValue(), {"B", "Hkv", "Skv", "Dv"})) ||
      failed(
          shapes.matchResult("result", getResult(), {"B", "Hq", "Sq", "Dv"})))
    return failure();
  int64_t queryHeads = shapes.get("Hq"), kvHeads = shapes.get("Hkv");
  if (!ShapedType::isDynamic(queryHeads) && !ShapedType::isDynamic(kvHeads) &&
      (kvHeads == 0 || queryHeads % kvHeads != 0))
    return emitOpError() << "query heads (" << queryHeads
                         << ") must be a multiple of key/value heads ("
                         << kvHeads << ")";
  AttnPatternAttr pattern = getPattern();
  if (!pattern.getHeadSpans().empty() &&
      failed(shapes.expectDerived(
          "Hq", static_cast<int64_t>(pattern.getHeadSpans().size()),
          "the number of head_spans")))
    return failure();
  if (std::optional<APFloat> scale = getScale();
      scale && !(scale->convertToDouble() > 0.0))
    return emitOpError() << "scale must be positive, got "
                         << scale->convertToDouble();

  Value numBlocks = getKvNumBlocks(), indices = getKvIndices();
  if (static_cast<bool>(numBlocks) != static_cast<bool>(indices))
    return emitOpError("a block mask needs both 'kv_num_blocks' and "
                       "'kv_indices'");
  if (numBlocks) {
    auto ceilDiv = [](int64_t a, int64_t b) {
      return ShapedType::isDynamic(a) ? ShapedType::kDynamic
                                      : a / b + (a % b != 0);
    };
    if (failed(shapes.match("kv_num_blocks", numBlocks, {"B", "Hm", "Qb"})) ||
        failed(shapes.match("kv_indices", indices, {"B", "Hm", "Qb", "Kb"})) ||
        failed(shapes.expectDerived(
            "Qb", ceilDiv(shapes.get("Sq"), pattern.getBlockQ()),
            "ceil(query length / block_q)")) ||
        failed(shapes.expectDerived(
            "Kb", ceilDiv(shapes.get("Skv"), pattern.getBlockKv()),
            "ceil(key length / block_kv)")))
      return failure();
    int64_t maskHeads = shapes.get("Hm");
    if (!ShapedType::isDynamic(maskHeads) && maskHeads != 1 &&
        failed(shapes.expectDerived("Hq", maskHeads,
                                    "the block mask's head dimension")))
      return failure();
  }
  return checkElementTypes(
      *this, "query", getQuery(),
      {{"key", getKey()}, {"value", getValue()}, {"result", getResult()}});
}

//===----------------------------------------------------------------------===//
// moe.nm_matmul
//===----------------------------------------------------------------------===//

LogicalResult NMMatmulOp::verify() {
  ShapeChecker shapes(*this);
  if (failed(shapes.match("input", getInput(), {"T", "K"})) ||
      failed(shapes.match("values", getValues(), {"N", "Kp"})) ||
      failed(shapes.match("indices", getIndices(), {"N", "Kp"})) ||
      failed(shapes.matchResult("result", getResult(), {"T", "N"})))
    return failure();
  NMAttr sparsity = getSparsity();
  int64_t features = shapes.get("K");
  if (!ShapedType::isDynamic(features)) {
    if (features % sparsity.getM() != 0)
      return emitOpError() << "operand 'input' has " << features
                           << " features, not a multiple of m = "
                           << sparsity.getM();
    if (failed(shapes.expectDerived(
            "Kp", features / sparsity.getM() * sparsity.getN(),
            "input features x n / m")))
      return failure();
  }
  return checkElementTypes(*this, "input", getInput(),
                           {{"values", getValues()}, {"result", getResult()}});
}

//===----------------------------------------------------------------------===//
// moe.prefetch
//===----------------------------------------------------------------------===//

LogicalResult PrefetchOp::verify() {
  if (cast<ShapedType>(getWeights().getType()).getRank() < 1)
    return emitOpError("operand 'weights' needs an expert dimension (rank 1 or "
                       "more)");
  return success();
}

//===----------------------------------------------------------------------===//
// moe.all_to_all
//===----------------------------------------------------------------------===//

LogicalResult AllToAllOp::verify() {
  auto send = cast<ShapedType>(getSend().getType());
  auto recv = cast<ShapedType>(getRecv().getType());
  if (send.getRank() < 1)
    return emitOpError("operand 'send' needs a row dimension (rank 1 or more)");
  if (send.getRank() != recv.getRank())
    return emitOpError() << "result 'recv' has rank " << recv.getRank()
                         << ", but 'send' has rank " << send.getRank();
  if (send.getElementType() != recv.getElementType())
    return emitOpError() << "result 'recv' has element type "
                         << recv.getElementType() << ", but 'send' has "
                         << send.getElementType();
  ShapeChecker shapes(*this);
  shapes.bind("P", getGroupSize(), "group_size");
  SmallVector<std::string> rowSymbols;
  for (int64_t d = 1; d < send.getRank(); ++d)
    rowSymbols.push_back("row dim " + std::to_string(d));
  SmallVector<StringRef> symbols{""};
  symbols.append(rowSymbols.begin(), rowSymbols.end());
  if (failed(shapes.match("send", getSend(), symbols)) ||
      failed(shapes.matchResult("recv", getRecv(), symbols)) ||
      failed(shapes.match("send_counts", getSendCounts(), {"P"})) ||
      failed(shapes.matchResult("recv_counts", getRecvCounts(), {"P"})))
    return failure();
  return success();
}

#define GET_OP_CLASSES
#include "dialects/moe/IR/MoEOps.cpp.inc"
