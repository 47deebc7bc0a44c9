//===- MoEDialect.td - the moe dialect ---------------------*- tablegen -*-===//
//
// The dialect that represents Mixture-of-Experts layers, sparse attention and N:M-sparse
// weights at graph level, on tensors with value semantics.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_TD
#define MOE_DIALECT_TD

include "mlir/IR/OpBase.td"

def MoE_Dialect : Dialect {
  let name = "moe";
  let cppNamespace = "::mlir::moe";
  let summary = "Mixture-of-Experts, sparse attention and N:M sparsity at graph level";
  let description = [{
    The `moe` dialect holds what the rest of the compiler optimises: whole MoE layers
    (`moe.layer`), their expanded stages (`moe.route`, `moe.dispatch`, `moe.experts`,
    `moe.combine`), attention with a static sparsity pattern (`moe.sparse_attention`),
    N:M-sparse weights (`#moe.nm`, `moe.nm_matmul`) and the data movement that expert
    placement and pre-gating introduce (`moe.prefetch`, `moe.all_to_all`).

    All ops work on ranked tensors with value semantics. Dimension names used in the op
    descriptions: `T` tokens, `H` hidden size, `I` expert intermediate size, `E` routed
    experts, `k` experts per token, `R = T * k` dispatched rows.

    A layer written in the ONNX importer's generic form is raised to `moe.layer`:

    ```mlir
    %y = moe.layer %x, %logits gate_up %w1 down %w2
           {activation = #moe.activation<silu, gated = concatenated>,
            routing = #moe.routing<softmax_topk, k = 2, normalize = true>}
           : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x256x64xf32>, tensor<8x64x128xf32>)
           -> tensor<?x64xf32>
    ```
  }];
  let useDefaultAttributePrinterParser = 1;
  let dependentDialects = [];
}

class MoE_Op<string mnemonic, list<Trait> traits = []>
    : Op<MoE_Dialect, mnemonic, traits>;

#endif // MOE_DIALECT_TD
