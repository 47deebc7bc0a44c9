//===- Passes.td - moe dialect transformations -------------*- tablegen -*-===//

#ifndef MOE_DIALECT_TRANSFORMS_PASSES_TD
#define MOE_DIALECT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoEExpand : Pass<"moe-expand", "::mlir::func::FuncOp"> {
  let summary = "Expand moe.layer into moe.route, moe.dispatch, moe.experts and moe.combine";
  let description = [{
    Rewrites each `moe.layer` into the four steps its lowering and the later
    optimisations work on:

    ```mlir
    %w, %ids = moe.route %logits [bias %routing_bias] {routing = ...}
    %rows, %offsets, %perm = moe.dispatch %tokens, %ids
    %out = moe.experts %rows, %offsets gate_up %w1 down %w2 ... {activation = ...}
    %y = moe.combine %out, %w, %perm
    ```

    Shared experts become one `moe.experts` each over all tokens (a single expert
    whose rows are the tokens), scaled by `sigmoid(x . shared_gate[s])` when a shared
    gate is given, and added to the routed result. Zero-computation experts are routed
    like the others; their assignments fall outside the routed experts (dispatch puts
    them with the dropped ones), and one elementwise step adds `weight * token` for
    copy experts and `weight * constant_experts[c]` for constant experts.

    ```
    moe-opt model.onnx --moe-raise --moe-expand
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::moe::MoEDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

#endif // MOE_DIALECT_TRANSFORMS_PASSES_TD
