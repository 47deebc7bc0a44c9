//===- MoEOps.td - operations of the moe dialect ------------*- tablegen -*-===//
//
// Graph-level MoE, sparse-attention and N:M-sparsity operations.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_OPS_TD
#define MOE_OPS_TD

include "dialects/moe/IR/MoEDialect.td"
include "dialects/moe/IR/MoEAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/OpBase.td"

def MoE_FloatTensor : RankedTensorOf<[AnyFloat]>;
def MoE_IndexTensor : RankedTensorOf<[I32, I64]>;

//===----------------------------------------------------------------------===//
// moe.layer
//===----------------------------------------------------------------------===//

def MoE_LayerOp : MoE_Op<"layer", [Pure, AttrSizedOperandSegments]> {
  let summary = "a whole Mixture-of-Experts feed-forward layer";
  let description = [{
    Routes each token to `k` of `E` experts, runs each chosen expert's FFN on it and sums
    their outputs weighted by the routing weights. It is what raising produces from every
    ONNX form of a MoE layer, and the equivalent of ONNX Runtime's `com.microsoft.MoE`.

    Operands (`T` tokens, `H` hidden, `I` intermediate, `E` experts, `F = 2*I` for
    concatenated or interleaved gate/up and `F = I` otherwise):

    | operand | shape | |
    | --- | --- | --- |
    | `tokens` | `[T, H]` | |
    | `logits` | `[T, E + Z]` | router logits, `Z` zero-computation experts last |
    | `gate_up` | `[E, F, H]` | first projection (ORT `fc1`) |
    | `down` | `[E, H, I]` | second projection (ORT `fc2`) |
    | `up` | `[E, I, H]` | with `gated = separate` only (ORT `fc3`) |
    | `gate_up_bias`, `down_bias`, `up_bias` | `[E, F]`, `[E, H]`, `[E, I]` | optional |
    | `routing_bias` | `[E + Z]` | selection-only correction bias (`sigmoid_topk`) |
    | `shared_gate_up`, `shared_down`, `shared_up` | `[S, F', H]`, `[S, H, I']`, `[S, I', H]` | `S` shared experts run on every token |
    | `shared_gate` | `[S, H]` | optional: shared expert `s` is scaled by `sigmoid(x . shared_gate[s])` (Qwen-MoE) |
    | `constant_experts` | `[C, H]` | outputs of the constant experts |

    Zero-computation experts (MoE++) take the last router columns: first
    `num_zero_experts` experts that output zeros, then `num_copy_experts` that output
    the token itself, then one constant expert per row of `constant_experts`.

    With `scale_inputs` the routing weights scale each chosen expert's input instead of
    its output (Llama 4): `result[t] = sum_j expert_{id[t,j]}(weights[t,j] * tokens[t])`,
    which differs through a nonlinear FFN; it takes no zero-computation experts.

    ```mlir
    %y = moe.layer %x, %logits gate_up %w1 down %w2 up %w3
           {activation = #moe.activation<silu, gated = separate>,
            routing = #moe.routing<softmax_topk, k = 2, normalize = true>}
           : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>,
              tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins
    MoE_FloatTensor:$tokens,
    MoE_FloatTensor:$logits,
    MoE_FloatTensor:$gate_up,
    MoE_FloatTensor:$down,
    Optional<MoE_FloatTensor>:$up,
    Optional<MoE_FloatTensor>:$gate_up_bias,
    Optional<MoE_FloatTensor>:$down_bias,
    Optional<MoE_FloatTensor>:$up_bias,
    Optional<MoE_FloatTensor>:$routing_bias,
    Optional<MoE_FloatTensor>:$shared_gate_up,
    Optional<MoE_FloatTensor>:$shared_down,
    Optional<MoE_FloatTensor>:$shared_up,
    Optional<MoE_FloatTensor>:$shared_gate,
    Optional<MoE_FloatTensor>:$constant_experts,
    MoE_RoutingAttr:$routing,
    MoE_ActivationAttr:$activation,
    DefaultValuedAttr<ConfinedAttr<I64Attr, [IntNonNegative]>, "0">:$num_zero_experts,
    DefaultValuedAttr<ConfinedAttr<I64Attr, [IntNonNegative]>, "0">:$num_copy_experts,
    UnitAttr:$scale_inputs
  );
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $tokens `,` $logits `gate_up` $gate_up `down` $down
    (`up` $up^)?
    (`gate_up_bias` $gate_up_bias^)?
    (`down_bias` $down_bias^)?
    (`up_bias` $up_bias^)?
    (`routing_bias` $routing_bias^)?
    (`shared_gate_up` $shared_gate_up^)?
    (`shared_down` $shared_down^)?
    (`shared_up` $shared_up^)?
    (`shared_gate` $shared_gate^)?
    (`constant_experts` $constant_experts^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let builders = [
    // The common case: routed experts only, the result shaped like the tokens.
    OpBuilder<(ins "Value":$tokens, "Value":$logits, "Value":$gateUp, "Value":$down,
                   "Value":$up, "RoutingAttr":$routing, "ActivationAttr":$activation), [{
      build($_builder, $_state, tokens.getType(), tokens, logits, gateUp, down, up,
            Value(), Value(), Value(), Value(), Value(), Value(), Value(), Value(), Value(),
            routing, activation);
    }]>
  ];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Routed experts that run an FFN (the first dimension of `gate_up`).
    int64_t getNumExperts();
    /// Zero, copy and constant experts together.
    int64_t getNumNullExperts();
  }];
}

//===----------------------------------------------------------------------===//
// moe.route
//===----------------------------------------------------------------------===//

def MoE_RouteOp : MoE_Op<"route", [Pure]> {
  let summary = "router logits to k expert ids and weights per token";
  let description = [{
    Applies `routing` to `logits [T, E]` and returns `weights [T, k]` and
    `ids [T, k]`, the chosen experts of each token in descending order of selection
    score (ties go to the lower expert id). The optional `bias [E]` is added to the
    selection scores only (DeepSeek-V3's correction bias).

    ```mlir
    %w, %ids = moe.route %logits {routing = #moe.routing<softmax_topk, k = 2, normalize = true>}
                 : (tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$logits, Optional<MoE_FloatTensor>:$bias,
                       MoE_RoutingAttr:$routing);
  let results = (outs MoE_FloatTensor:$weights, MoE_IndexTensor:$ids);
  let assemblyFormat = [{
    $logits (`bias` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.dispatch
//===----------------------------------------------------------------------===//

def MoE_DispatchOp : MoE_Op<"dispatch", [Pure]> {
  let summary = "tokens permuted into expert order";
  let description = [{
    Given `tokens [T, H]` and `ids [T, k]`, returns `rows [T*k, H]` holding a copy of
    token `t` for each of its assignments, grouped by expert (stable: ascending token
    order within an expert), `offsets [E + 1]` where expert `e` owns rows
    `offsets[e] ..< offsets[e+1]`, and `permutation [T*k]` where `permutation[r] = t*k + j`
    names the assignment that row `r` holds. Assignments to no routed expert (id -1
    for a dropped one, `E` or above for a zero-computation expert) come after
    `offsets[E]`, in token order. With `weights [T, k]`, the row of assignment `t*k + j`
    is `weights[t, j] * tokens[t]` (`moe.layer`'s `scale_inputs`).

    ```mlir
    %rows, %offsets, %perm = moe.dispatch %x, %ids
        : (tensor<?x64xf32>, tensor<?x2xi32>) -> (tensor<?x64xf32>, tensor<9xi32>, tensor<?xi32>)
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$tokens, MoE_IndexTensor:$ids,
                       Optional<MoE_FloatTensor>:$weights);
  let results = (outs MoE_FloatTensor:$rows, MoE_IndexTensor:$offsets,
                      MoE_IndexTensor:$permutation);
  let assemblyFormat = [{
    $tokens `,` $ids (`weights` $weights^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.experts
//===----------------------------------------------------------------------===//

def MoE_ExpertsOp : MoE_Op<"experts", [Pure, AttrSizedOperandSegments]> {
  let summary = "grouped expert FFNs over dispatched rows";
  let description = [{
    Rows `offsets[e] ..< offsets[e+1]` of `rows [R, H]` go through expert `e`'s FFN:
    `down_e(act(gate_up_e(x)))` (with the gate/up split of `activation`); rows past
    `offsets[E]` produce zeros. Weight shapes are those of `moe.layer`.

    ```mlir
    %out = moe.experts %rows, %offsets gate_up %w1 down %w2
             {activation = #moe.activation<silu, gated = interleaved>}
             : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x256x64xf32>, tensor<8x64x128xf32>)
             -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins
    MoE_FloatTensor:$rows,
    MoE_IndexTensor:$offsets,
    MoE_FloatTensor:$gate_up,
    MoE_FloatTensor:$down,
    Optional<MoE_FloatTensor>:$up,
    Optional<MoE_FloatTensor>:$gate_up_bias,
    Optional<MoE_FloatTensor>:$down_bias,
    Optional<MoE_FloatTensor>:$up_bias,
    MoE_ActivationAttr:$activation
  );
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $rows `,` $offsets `gate_up` $gate_up `down` $down
    (`up` $up^)?
    (`gate_up_bias` $gate_up_bias^)?
    (`down_bias` $down_bias^)?
    (`up_bias` $up_bias^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.combine
//===----------------------------------------------------------------------===//

def MoE_CombineOp : MoE_Op<"combine", [Pure]> {
  let summary = "expert outputs weighted and summed back in token order";
  let description = [{
    `result[t] = sum_j weights[t, j] * expert_rows[r]` over the rows `r` with
    `permutation[r] = t*k + j`. Sums run in ascending `j`, so the result does not depend
    on the order experts finished in.

    ```mlir
    %y = moe.combine %out, %w, %perm
           : (tensor<?x64xf32>, tensor<?x2xf32>, tensor<?xi32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$expert_rows, MoE_FloatTensor:$weights,
                       MoE_IndexTensor:$permutation);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $expert_rows `,` $weights `,` $permutation attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.sparse_attention
//===----------------------------------------------------------------------===//

def MoE_SparseAttentionOp : MoE_Op<"sparse_attention", [Pure, AttrSizedOperandSegments]> {
  let summary = "scaled dot-product attention with a static sparsity pattern";
  let description = [{
    `softmax(scale * q k^T + mask) v` per head, where the mask allows what `pattern`
    allows and, when a block mask is given, only the key blocks it lists.

    Shapes: `q [B, Hq, S, D]`, `k [B, Hkv, Skv, D]`, `v [B, Hkv, Skv, Dv]`, result
    `[B, Hq, S, Dv]`, with `Hq` a multiple of `Hkv` (grouped-query attention: query head
    `h` reads key head `h / (Hq / Hkv)`). The default `scale` is `1 / sqrt(D)`.

    The optional runtime block mask uses FlexAttention's layout, with `Qb = ceil(S /
    block_q)` and `Kb = ceil(Skv / block_kv)`: `kv_num_blocks [B, Hm, Qb]` counts the
    visible key blocks of each query block and `kv_indices [B, Hm, Qb, Kb]` lists them;
    `Hm` is `Hq` or 1 (shared by all heads).

    ```mlir
    %o = moe.sparse_attention %q, %k, %v
           {pattern = #moe.attn_pattern<causal = true, window_left = 256>}
           : (tensor<1x8x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>)
           -> tensor<1x8x?x64xf16>
    ```
  }];
  let arguments = (ins
    MoE_FloatTensor:$query,
    MoE_FloatTensor:$key,
    MoE_FloatTensor:$value,
    Optional<MoE_IndexTensor>:$kv_num_blocks,
    Optional<MoE_IndexTensor>:$kv_indices,
    MoE_AttnPatternAttr:$pattern,
    OptionalAttr<F64Attr>:$scale
  );
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value
    (`block_mask` `(` $kv_num_blocks^ `,` $kv_indices `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.nm_matmul
//===----------------------------------------------------------------------===//

def MoE_NMMatmulOp : MoE_Op<"nm_matmul", [Pure]> {
  let summary = "matmul with an N:M-sparse weight in packed form";
  let description = [{
    `result [T, N] = input [T, K] x W^T` where `W [N, K]` is N:M sparse and stored packed:
    `values [N, K*n/m]` are its kept entries in order and `indices [N, K*n/m]` give each
    one's position (`0 ..< m`) inside its group of `m`:
    `result[t, o] = sum_{g, i < n} input[t, g*m + indices[o, g*n + i]] * values[o, g*n + i]`.
    Indices within a group are strictly increasing. Lowering turns them into the
    metadata layout of the target's sparse MMA.

    ```mlir
    %y = moe.nm_matmul %x, %vals, %idx {sparsity = #moe.nm<2, 4>}
           : (tensor<?x128xf16>, tensor<64x64xf16>, tensor<64x64xi8>) -> tensor<?x64xf16>
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$input, MoE_FloatTensor:$values,
                       RankedTensorOf<[I8, I16, I32]>:$indices, MoE_NMAttr:$sparsity);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $values `,` $indices attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.prefetch
//===----------------------------------------------------------------------===//

def MoE_PrefetchOp : MoE_Op<"prefetch", [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "start moving the chosen experts' weights to a device ahead of use";
  let description = [{
    A hint that the experts named in `expert_ids` (any shape; -1 entries are ignored) of
    `weights [E, ...]` will be used soon on `device` (an index into the placement's
    device list). Inserted by `moe-router-pregate` and `moe-expert-placement`; it does
    not change what the program computes, and it is not removed as dead code.

    ```mlir
    moe.prefetch %w1, %next_ids {device = 0} : tensor<8x256x64xf32>, tensor<?x2xi32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$weights, MoE_IndexTensor:$expert_ids,
                       DefaultValuedAttr<ConfinedAttr<I64Attr, [IntNonNegative]>, "0">:$device);
  let assemblyFormat = [{
    $weights `,` $expert_ids attr-dict `:` type($weights) `,` type($expert_ids)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.all_to_all
//===----------------------------------------------------------------------===//

def MoE_AllToAllOp : MoE_Op<"all_to_all", [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "exchange token rows between the devices of an expert-parallel group";
  let description = [{
    Each of the `group_size` participants sends rows `[R, ...]` laid out by destination:
    `send_counts [P]` rows go to participant `p` in order. It receives
    `recv_counts [P]` rows from each participant, concatenated in participant order.
    Lowered to NCCL on GPUs and MPI on CPUs. Every participant must execute it, so it is
    never removed or merged.

    ```mlir
    %recv, %counts = moe.all_to_all %rows, %send_counts {group_size = 4}
        : (tensor<?x64xbf16>, tensor<4xi32>) -> (tensor<?x64xbf16>, tensor<4xi32>)
    ```
  }];
  let arguments = (ins AnyRankedTensor:$send, MoE_IndexTensor:$send_counts,
                       ConfinedAttr<I64Attr, [IntPositive]>:$group_size);
  let results = (outs AnyRankedTensor:$recv, MoE_IndexTensor:$recv_counts);
  let assemblyFormat = [{
    $send `,` $send_counts attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

#endif // MOE_OPS_TD
