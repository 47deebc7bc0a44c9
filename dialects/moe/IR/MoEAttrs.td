//===- MoEAttrs.td - attributes of the moe dialect ---------*- tablegen -*-===//
//
// Routing, activation, attention-pattern and N:M-sparsity attributes.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_ATTRS_TD
#define MOE_ATTRS_TD

include "dialects/moe/IR/MoEDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/IR/TensorEncoding.td"

//===----------------------------------------------------------------------===//
// Parameter kinds
//===----------------------------------------------------------------------===//

// A float (held as a double-precision APFloat), printed in MLIR's round-trippable syntax.
class MoE_FloatParameter<string default, string desc = "">
    : DefaultValuedParameter<"::llvm::APFloat", "::llvm::APFloat(" # default # ")", desc> {
  let comparator = "$_lhs.bitwiseIsEqual($_rhs)";
  let parser = [{ [&]() -> ::mlir::FailureOr<::llvm::APFloat> {
    double value;
    if ($_parser.parseFloat(value))
      return ::mlir::failure();
    return ::llvm::APFloat(value);
  }() }];
  let printer = [{ $_printer << $_self }];
}

// A float that may be absent (printed only when present).
class MoE_OptionalFloatParameter<string desc = "">
    : OptionalParameter<"std::optional<::llvm::APFloat>", desc> {
  let comparator = "$_lhs.has_value() == $_rhs.has_value() && "
                   "(!$_lhs || $_lhs->bitwiseIsEqual(*$_rhs))";
  let parser = [{ [&]() -> ::mlir::FailureOr<std::optional<::llvm::APFloat>> {
    double value;
    if ($_parser.parseFloat(value))
      return ::mlir::failure();
    return std::optional<::llvm::APFloat>(::llvm::APFloat(value));
  }() }];
  let printer = [{ $_printer << *$_self }];
}

// `true` or `false`.
class MoE_BoolParameter<string default, string desc = "">
    : DefaultValuedParameter<"bool", default, desc> {
  let parser = [{ [&]() -> ::mlir::FailureOr<bool> {
    if (succeeded($_parser.parseOptionalKeyword("true")))
      return true;
    if (succeeded($_parser.parseOptionalKeyword("false")))
      return false;
    return $_parser.emitError($_parser.getCurrentLocation(),
                              "expected 'true' or 'false'");
  }() }];
  let printer = [{ $_printer << ($_self ? "true" : "false") }];
}

// A list of integers written in square brackets, `[4, 8]`; empty when absent.
class MoE_IntListParameter<string desc = "">
    : OptionalArrayRefParameter<"int64_t", desc> {
  let parser = [{ [&]() -> ::mlir::FailureOr<::llvm::SmallVector<int64_t>> {
    ::llvm::SmallVector<int64_t> values;
    if ($_parser.parseCommaSeparatedList(::mlir::AsmParser::Delimiter::Square, [&] {
          return $_parser.parseInteger(values.emplace_back());
        }))
      return ::mlir::failure();
    return values;
  }() }];
  let printer = [{ $_printer << '[';
    ::llvm::interleaveComma($_self, $_printer);
    $_printer << ']' }];
}

class MoE_DefaultEnumParameter<EnumAttrInfo info, string default>
    : EnumParameter<info> {
  let defaultValue = default;
}

class MoE_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<MoE_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def MoE_RoutingKind : I32EnumAttr<"RoutingKind", "how router logits become expert weights", [
    I32EnumAttrCase<"SoftmaxTopK", 0, "softmax_topk">,
    I32EnumAttrCase<"TopKSoftmax", 1, "topk_softmax">,
    I32EnumAttrCase<"SigmoidTopK", 2, "sigmoid_topk">,
    I32EnumAttrCase<"SparseMixer", 3, "sparse_mixer">]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

def MoE_ActivationFn : I32EnumAttr<"ActivationFn", "an expert's activation function", [
    I32EnumAttrCase<"Identity", 0, "identity">,
    I32EnumAttrCase<"Relu", 1, "relu">,
    I32EnumAttrCase<"Gelu", 2, "gelu">,
    I32EnumAttrCase<"GeluTanh", 3, "gelu_tanh">,
    I32EnumAttrCase<"Silu", 4, "silu">]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

def MoE_GateLayout : I32EnumAttr<"GateLayout", "where the gate and up projections live", [
    I32EnumAttrCase<"None", 0, "none">,
    I32EnumAttrCase<"Separate", 1, "separate">,
    I32EnumAttrCase<"Concatenated", 2, "concatenated">,
    I32EnumAttrCase<"Interleaved", 3, "interleaved">]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

//===----------------------------------------------------------------------===//
// #moe.routing
//===----------------------------------------------------------------------===//

def MoE_RoutingAttr : MoE_Attr<"Routing", "routing"> {
  let summary = "how a router turns logits into k expert ids and weights per token";
  let description = [{
    `kind` picks the scoring and the order of top-k:

    - `softmax_topk`: `p = softmax(logits)` over all experts, the `k` largest are chosen and
      their probabilities are the weights (Mixtral, Qwen-MoE, ONNX Runtime's `MoE`);
    - `topk_softmax`: the `k` largest logits are chosen, the weights are a softmax over those
      `k` logits only (gpt-oss);
    - `sigmoid_topk`: `s = sigmoid(logits)`; selection ranks `s + bias` (the optional
      correction bias of `moe.route` / `moe.layer`, DeepSeek-V3), the weights are `s`
      of the chosen experts, without the bias;
    - `sparse_mixer` (Phi-MoE's SparseMixer-v2 at inference, ONNX Runtime's `use_sparse_mixer`):
      the `k` largest logits are chosen one after another; the weight of the `j`-th, whose logit
      is `m`, is a softmax evaluated at it over the experts not chosen before whose logit `l`
      is close to it, `m - l <= 2 * jitter_eps * max(|l|, m)`: `1 / sum exp(l - m)` over those.

    `normalize = true` divides the chosen weights by their sum (renormalisation), made
    `max(sum + norm_epsilon, norm_floor)` when those are set (LFM2 adds 1e-6 to the sum,
    Ernie 4.5 clamps it below at `moe_norm_min`). `scale` multiplies the final weights
    (DeepSeek's `routed_scaling_factor`). A `routing_bias` operand adds to the scores for
    selection only, with any kind (DeepSeek-V3's sigmoid scores, Ernie 4.5's softmax).

    Grouped top-k (DeepSeek-V2/V3): the experts are split into `num_groups` equal groups;
    each group is scored (by its largest selection score, or by the sum of its two largest
    with `sigmoid_topk`), only the best `topk_groups` groups stay candidates, and top-k
    runs over their experts.

    `capacity_factor > 0` bounds the tokens an expert accepts to
    `ceil(capacity_factor * T * k / E)`; assignments over capacity are dropped in token
    order: their id becomes -1 and their weight 0. `0` means no dropping.

    Fields equal to their default are not printed.

    ```mlir
    #moe.routing<softmax_topk, k = 2, normalize = true>
    #moe.routing<sigmoid_topk, k = 8, normalize = true, scale = 2.5, num_groups = 8, topk_groups = 4>
    #moe.routing<sparse_mixer, k = 2, jitter_eps = 0.01>
    ```
  }];
  let parameters = (ins
    EnumParameter<MoE_RoutingKind>:$kind,
    "int64_t":$k,
    MoE_BoolParameter<"false", "renormalise the k weights to sum to 1">:$normalize,
    MoE_FloatParameter<"1.0", "factor applied to the final weights">:$scale,
    DefaultValuedParameter<"int64_t", "1", "expert groups for grouped top-k">:$num_groups,
    DefaultValuedParameter<"int64_t", "1", "groups kept by grouped top-k">:$topk_groups,
    MoE_FloatParameter<"0.0", "expert capacity factor, 0 for none">:$capacity_factor,
    MoE_FloatParameter<"0.0", "added to the sum of the k weights before renormalising">:$norm_epsilon,
    MoE_FloatParameter<"0.0", "lower bound of that sum, 0 for none">:$norm_floor,
    MoE_FloatParameter<"0.0", "sparse_mixer keeps logits within 2 * jitter_eps (relative) of the chosen one">:$jitter_eps
  );
  let assemblyFormat = [{
    `<` $kind `,` struct($k, $normalize, $scale, $num_groups, $topk_groups, $capacity_factor,
                         $norm_epsilon, $norm_floor, $jitter_eps) `>`
  }];
  let builders = [
    AttrBuilder<(ins "RoutingKind":$kind, "int64_t":$k, CArg<"bool", "false">:$normalize), [{
      return $_get($_ctxt, kind, k, normalize, ::llvm::APFloat(1.0), 1, 1,
                   ::llvm::APFloat(0.0), ::llvm::APFloat(0.0), ::llvm::APFloat(0.0),
                   ::llvm::APFloat(0.0));
    }]>
  ];
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// #moe.activation
//===----------------------------------------------------------------------===//

def MoE_ActivationAttr : MoE_Attr<"Activation", "activation"> {
  let summary = "an expert FFN's activation, gated or not";
  let description = [{
    `fn` is applied to the first projection. With `gated` other than `none` the first
    projection has a gate half and an up half and the FFN computes
    `fn(gate) * up` (SwiGLU for `silu`, GeGLU for `gelu`):

    - `separate`: the up projection is its own weight operand (`up`, ONNX Runtime's `fc3`);
    - `concatenated`: the first weight is `[E, 2*I, H]`, gate rows first, then up rows;
    - `interleaved`: the first weight is `[E, 2*I, H]`, rows alternate gate, up, gate, ...

    `alpha` scales the sigmoid's argument of `silu`: `x * sigmoid(alpha * x)`. With a gate,
    `beta` is added to the up half and `limit` clamps it: `gate = min(gate, limit)`,
    `up = clamp(up, -limit, limit)` (gpt-oss: `alpha = 1.702, beta = 1.0, limit = 7.0`).

    ```mlir
    #moe.activation<gelu>
    #moe.activation<silu, gated = concatenated>
    #moe.activation<silu, gated = interleaved, alpha = 1.702, beta = 1.0, limit = 7.0>
    ```
  }];
  let parameters = (ins
    EnumParameter<MoE_ActivationFn>:$fn,
    MoE_DefaultEnumParameter<MoE_GateLayout, "::mlir::moe::GateLayout::None">:$gated,
    MoE_FloatParameter<"1.0", "scale inside silu's sigmoid">:$alpha,
    MoE_FloatParameter<"0.0", "offset added to the up half">:$beta,
    MoE_OptionalFloatParameter<"clamp bound for gate and up">:$limit
  );
  let assemblyFormat = [{
    `<` $fn (`,` struct($gated, $alpha, $beta, $limit)^)? `>`
  }];
  let builders = [
    AttrBuilder<(ins "ActivationFn":$fn, CArg<"GateLayout", "GateLayout::None">:$gated), [{
      return $_get($_ctxt, fn, gated, ::llvm::APFloat(1.0), ::llvm::APFloat(0.0),
                   std::nullopt);
    }]>
  ];
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// True when the first projection carries a gate and an up half.
    bool isGated() const { return getGated() != GateLayout::None; }
    /// Rows of the first weight per intermediate channel: 2 for concatenated or
    /// interleaved gate/up, 1 otherwise.
    int64_t gateUpFactor() const {
      return getGated() == GateLayout::Concatenated ||
                     getGated() == GateLayout::Interleaved
                 ? 2
                 : 1;
    }
  }];
}

//===----------------------------------------------------------------------===//
// #moe.attn_pattern
//===----------------------------------------------------------------------===//

def MoE_AttnPatternAttr : MoE_Attr<"AttnPattern", "attn_pattern"> {
  let summary = "a static attention sparsity pattern";
  let description = [{
    Query position `i` may attend key position `j` when every enabled rule holds:

    - `causal`: `j <= i`;
    - `window_left = w` (`w >= 0`): `i - j <= w`; `window_right = w`: `j - i <= w`
      (`-1`, the default, means unbounded);
    - `head_spans = [w0, w1, ...]`: a left window per query head, replacing
      `window_left` (Mixture of Sparse Attention).

    Independently of the windows, a key is also visible (subject to `causal`) when its
    block (`j / block_kv`) is one of the first `sink_blocks` blocks, or when
    `vertical_stride = s > 0` and `(j / block_kv + 1) % s == 0` (the strided
    "vertical" blocks of block-sparse attention). `block_q` and `block_kv` are the
    block sizes of those rules and of the runtime block mask of `moe.sparse_attention`.

    ```mlir
    #moe.attn_pattern<causal = true, window_left = 4096>
    #moe.attn_pattern<causal = true, sink_blocks = 1, vertical_stride = 8, block_q = 64, block_kv = 64>
    ```
  }];
  let parameters = (ins
    MoE_BoolParameter<"false", "mask keys after the query">:$causal,
    DefaultValuedParameter<"int64_t", "-1", "keys before the query, -1 unbounded">:$window_left,
    DefaultValuedParameter<"int64_t", "-1", "keys after the query, -1 unbounded">:$window_right,
    DefaultValuedParameter<"int64_t", "0", "leading key blocks always visible">:$sink_blocks,
    DefaultValuedParameter<"int64_t", "0", "every s-th key block visible, 0 none">:$vertical_stride,
    DefaultValuedParameter<"int64_t", "64", "query block size">:$block_q,
    DefaultValuedParameter<"int64_t", "64", "key block size">:$block_kv,
    MoE_IntListParameter<"left window per query head">:$head_spans
  );
  let assemblyFormat = [{
    `<` struct($causal, $window_left, $window_right, $sink_blocks, $vertical_stride,
               $block_q, $block_kv, $head_spans) `>`
  }];
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// #moe.nm
//===----------------------------------------------------------------------===//

def MoE_NMAttr : MoE_Attr<"NM", "nm",
    [DeclareAttrInterfaceMethods<VerifiableTensorEncoding>]> {
  let summary = "N:M structured sparsity: at most n nonzeros in every m consecutive values";
  let description = [{
    As a tensor encoding, marks a dense weight whose innermost dimension holds at most `n`
    nonzeros in each aligned group of `m` (what `moe-nm-sparsify` detects); as the
    `sparsity` of `moe.nm_matmul`, describes the packed form. Sparse tensor cores take
    2:4 for 16-bit types (PTX ISA, `mma.sp`).

    ```mlir
    tensor<4096x14336xbf16, #moe.nm<2, 4>>
    ```
  }];
  let parameters = (ins "int64_t":$n, "int64_t":$m);
  let assemblyFormat = "`<` $n `,` $m `>`";
  let genVerifyDecl = 1;
}

#endif // MOE_ATTRS_TD
