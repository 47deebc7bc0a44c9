//===- Passes.td - graph-level passes on imported models ---*- tablegen -*-===//

#ifndef MOE_LIB_TRANSFORMS_PASSES_TD
#define MOE_LIB_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoENormalizeOnnx : Pass<"moe-normalize-onnx", "::mlir::func::FuncOp"> {
  let summary = "Fold shape arithmetic and rewrite exporter idioms into one spelling";
  let description = [{
    Exporters write one meaning in many node sequences. This pass, which `moe-raise`
    runs first, gives the matchers one graph:

    - integer shape arithmetic on small tensors (`Shape`, `Size`, `Gather`, `Slice`,
      `Concat`, `Unsqueeze`, `Squeeze`, `Reshape`, `Cast`, `Add`, `Sub`, `Mul`,
      `Div`, `Max`, `Min`, `Range`, `ConstantOfShape`, `OneHot`) is evaluated where
      its elements are known, also when only some dimensions of a `Shape` are
      (`Shape(x[?, 32])[1]` is 32), and replaced by constants;
    - every node's result gets the most precise type its inputs and known shape
      operands imply (elementwise and broadcast ops, `Reshape`, `Flatten`, `Tile`,
      `Expand`, `Slice`, `Squeeze`, `Unsqueeze`, `MatMul`, `Gather`, `Transpose`,
      `Concat`),
      so a `Tile` by repeats computed in the graph has a ranked, static result;
    - `Identity`, a `Cast` to the same type, an `Expand` by ones, and a `Reshape`,
      `Squeeze`, `Unsqueeze` or `Flatten` that keeps the shape (at most one dynamic
      dimension) are removed;
    - `Tile` of size-1 axes becomes `Expand`, a `Tile` of one axis (up to 64 times)
      the `Concat` of the copies, `Flatten` becomes `Reshape`, and
      `GatherND` with one index column (`batch_dims = 0`) becomes `Gather` on axis 0;
    - `Constant` nodes become `arith.constant`, equal nodes are merged (CSE) and nodes
      left unused are erased;
    - an `onnx.if` whose condition is constant becomes the branch it takes (its
      outputs cast to the If's types where they differ). The rest applies inside
      If branches too.

    It never changes what the graph computes; values the function returns keep
    their types.

    ```
    moe-opt model.onnx --moe-normalize-onnx
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def MoERaise : Pass<"moe-raise", "::mlir::func::FuncOp"> {
  let summary = "Rewrite every ONNX form of a MoE layer into one moe.layer";
  let description = [{
    Recognises Mixture-of-Experts layers in the forms ONNX exporters write them and
    replaces each by one `moe.layer` with the matching `#moe.routing` and
    `#moe.activation`:

    - `com.microsoft.MoE` (ONNX Runtime's contrib op), in both of its weight layouts:
      `fc1 [E, F, H]` / `fc2 [E, H, I]` (current) and `fc1 [E, H, F]` / `fc2 [E, I, H]`
      (earlier releases), told apart by which dimension matches the hidden size;
    - transformers' `batched_mm` experts as torch.onnx writes them (dynamo and
      TorchScript): every (token, slot) pair a row of `[T * k, .]` tensors, tokens
      repeated k times, weights gathered by the flattened top-k ids, per-row
      matrix-vector MatMuls, gate and up by Split, two Slice halves or Slice step 2,
      the rows weighted and summed over k after a Reshape to `[T, k, H]`;
    - the batched-matmul form of transformers' export: the chosen experts' weights
      gathered per token by the top-k ids, batched MatMuls (`x @ W` with `[E, in, out]`
      weights, or `W @ x` with `[E, out, in]`), gate and up taken by Split or by Slice
      with step 2, SiLU (with gpt-oss's alpha, clamp and up offset), ReLU or GELU,
      optional gathered biases, the outputs weighted and summed over k;
    - the dense all-experts form: every expert run on every token (`[1, T, H] @
      [E, H, F]`) and weighted by a dense `[T, E]` routing matrix built by
      ScatterElements of the top-k weights into zeros, summed over experts;
    - Llama 4's input-scaled form: every expert run on every token (`[E, T, H] @
      [E, H, F]`) with the tokens tiled E times and scaled by the Sigmoid of the top-k
      logits scattered into -inf, summed over experts (`moe.layer`'s `scale_inputs`);
    - the per-expert dense form (a ModuleList of experts exported without loops):
      each expert's own 2-D weights (`x @ w1`, `x @ w3`, `@ w2`) run on every token,
      weighted by its column of the scattered routing matrix, and added up; the
      weights are transposed and stacked into `[E, out, in]`;
    - the unrolled expert loop of TorchScript exports: a OneHot routing mask, per
      expert NonZero of its column, Gather of its tokens, its own weights (MatMul, or
      Gemm with biases), GatherND of the routing weight and ScatterND, or
      ScatterElements along tokens, with reduction = add into zeros.

    Routing in the decomposed forms is Softmax→TopK (renormalised by Div(ReduceSum) or
    not), TopK→Softmax over the k chosen logits, Phi-MoE's sparse mixer (ArgMax passes
    with masked softmaxes, `sparse_mixer`), or sigmoid or softmax scores with
    GatherElements of the chosen ones (DeepSeek-V3, LFM2, Ernie 4.5): an optional
    selection-only correction bias, optional grouped top-k (the best `topk_groups` of
    `num_groups` groups by the sum of their two best scores, masked with Where in
    either order), renormalisation (with the sum's epsilon or floor kept exactly) and a
    scaling factor.

    Shared experts (Qwen-MoE with its sigmoid gate, DeepSeek, GLM-4-MoE, Ernie 4.5,
    HunYuan, dots.llm1) are plain MLPs of the same tokens added to the layer's output;
    when their activation is the routed experts' they become the layer's
    `shared_gate_up` / `shared_down` / `shared_up` / `shared_gate` operands (gate and up
    joined in the routed layout), also when the sum is taken on the `[1, T, H]` input.

    A layer that differs in anything the rewrite cannot represent (input-scaled
    experts with biases, an unknown activation, dynamic hidden size, shapes the
    `moe.layer` verifier rejects) is left as it was: raising never changes what the model
    computes. With `remarks=true` every function gets a remark counting the layers
    raised per form and the shared experts folded, and every near miss a remark saying
    why it was left alone.

    ```
    moe-opt model.onnx --moe-raise
    moe-opt model.onnx --moe-raise=remarks=true
    ```
  }];
  let dependentDialects = [
    "::mlir::moe::MoEDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect",
  ];
  let options = [
    Option<"remarks", "remarks", "bool", "false",
           "Report the layers raised per form, and why each near miss was left alone">,
  ];
}

def MoEFoldWeightLayouts : Pass<"moe-fold-weight-layouts", "::mlir::func::FuncOp"> {
  let summary = "Apply layout changes of constant weights at compile time";
  let description = [{
    Exporters keep weights in their framework's layout and move them into place in the
    graph: a transpose per expert, the experts stacked with `tensor.insert_slice` into
    an empty tensor, reshapes and slices. Run as they are, these copy every weight on
    every call. This pass evaluates each chain of `linalg.transpose`,
    `tensor.insert_slice`, `tensor.extract_slice`, `tensor.expand_shape`,
    `tensor.collapse_shape` and `tensor.empty` whose leaves are constants (inline or
    dense resources) and replaces its result by one `dense_resource` constant; the
    chain is left for canonicalisation to remove. Elements of `tensor.empty` that no
    slice writes read as zero.

    ```
    moe-opt model.onnx --moe-raise --moe-fold-weight-layouts --canonicalize
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

#endif // MOE_LIB_TRANSFORMS_PASSES_TD
