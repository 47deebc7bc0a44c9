// moe-raise on com.microsoft.MoE: every activation and gate/up layout, both weight
// layouts, 3-D input, and the near misses that must stay as they are.
// RUN: moe-opt %s --moe-raise --split-input-file | FileCheck %s
// RUN: moe-opt %s --moe-raise=remarks=true --split-input-file --verify-diagnostics -o /dev/null

// CHECK-LABEL: func.func @silu_renormalised
// CHECK:         %[[Y:.*]] = moe.layer %arg0, %arg1 gate_up %arg2 down %arg3
// CHECK-SAME:      activation = #moe.activation<silu>
// CHECK-SAME:      routing = #moe.routing<softmax_topk, k = 2, normalize = true>
// CHECK-NEXT:    %[[C:.*]] = tensor.cast %[[Y]] : tensor<?x8xf32> to tensor<*xf32>
// CHECK-NEXT:    return %[[C]]
// CHECK-NOT:     onnx.node
// expected-remark @+1 {{moe-raise: 1 layer(s) raised (com.microsoft.MoE: 1, batched matmul: 0, dense: 0, loop: 0), 0 shared expert(s) folded, 0 near miss(es)}}
func.func @silu_renormalised(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>, %w1: tensor<4x16x8xf32>,
                             %w2: tensor<4x8x16xf32>) -> tensor<*xf32> {
  %none = onnx.none
  %y = onnx.node "MoE" domain "com.microsoft" opset 1 (%x, %r, %w1, %none, %w2)
      attributes {k = 2 : si64, activation_type = "silu", normalize_routing_weights = 1 : si64}
      : (tensor<?x8xf32>, tensor<?x4xf32>, tensor<4x16x8xf32>, none, tensor<4x8x16xf32>) -> tensor<*xf32>
  return %y : tensor<*xf32>
}

// -----

// use_sparse_mixer = 1: Phi-MoE's top-2 sparse mixer with ONNX Runtime's jitter 0.01;
// normalize_routing_weights does not apply to it.
// CHECK-LABEL: func.func @sparse_mixer
// CHECK:         moe.layer %arg0, %arg1 gate_up %arg2 down %arg3 up %arg4
// CHECK-SAME:      routing = #moe.routing<sparse_mixer, k = 2, jitter_eps = 1.000000e-02>
// expected-remark @+1 {{1 layer(s) raised}}
func.func @sparse_mixer(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>, %w1: tensor<4x16x8xf32>,
                        %w2: tensor<4x8x16xf32>, %w3: tensor<4x16x8xf32>) -> tensor<?x8xf32> {
  %none = onnx.none
  %y = onnx.node "MoE" domain "com.microsoft" opset 1 (%x, %r, %w1, %none, %w2, %none, %w3)
      attributes {k = 2 : si64, activation_type = "silu", normalize_routing_weights = 1 : si64,
                  use_sparse_mixer = 1 : si64}
      : (tensor<?x8xf32>, tensor<?x4xf32>, tensor<4x16x8xf32>, none, tensor<4x8x16xf32>, none, tensor<4x16x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Defaults: k = 1, relu, no renormalisation; biases are kept.
// CHECK-LABEL: func.func @relu_defaults_with_biases
// CHECK:         moe.layer %arg0, %arg1 gate_up %arg2 down %arg4 gate_up_bias %arg3 down_bias %arg5
// CHECK-SAME:      activation = #moe.activation<relu>
// CHECK-SAME:      routing = #moe.routing<softmax_topk, k = 1>
// expected-remark @+1 {{1 layer(s) raised}}
func.func @relu_defaults_with_biases(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>, %w1: tensor<4x16x8xf32>,
                                     %b1: tensor<4x16xf32>, %w2: tensor<4x8x16xf32>,
                                     %b2: tensor<4x8xf32>) -> tensor<?x8xf32> {
  %y = onnx.node "MoE" domain "com.microsoft" opset 1 (%x, %r, %w1, %b1, %w2, %b2)
      : (tensor<?x8xf32>, tensor<?x4xf32>, tensor<4x16x8xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// gpt-oss: interleaved SwiGLU with alpha, beta and a clamp.
// CHECK-LABEL: func.func @swiglu_interleaved
// CHECK:         moe.layer
// CHECK-SAME:      activation = #moe.activation<silu, gated = interleaved, alpha = 1.702000e+00, beta = 1.000000e+00, limit = 7.000000e+00>
// CHECK-SAME:      routing = #moe.routing<softmax_topk, k = 2, normalize = true>
// expected-remark @+1 {{1 layer(s) raised}}
func.func @swiglu_interleaved(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>, %w1: tensor<4x32x8xf32>,
                              %w2: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  %none = onnx.none
  %y = onnx.node "MoE" domain "com.microsoft" opset 1 (%x, %r, %w1, %none, %w2)
      attributes {k = 2 : si64, activation_type = "swiglu", swiglu_fusion = 1 : si64,
                  normalize_routing_weights = 1 : si64, activation_alpha = 1.702 : f32,
                  activation_beta = 1.0 : f32, swiglu_limit = 7.0 : f32}
      : (tensor<?x8xf32>, tensor<?x4xf32>, tensor<4x32x8xf32>, none, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// CHECK-LABEL: func.func @swiglu_concatenated
// CHECK:         activation = #moe.activation<silu, gated = concatenated>
// expected-remark @+1 {{1 layer(s) raised}}
func.func @swiglu_concatenated(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>, %w1: tensor<4x32x8xf32>,
                               %w2: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  %none = onnx.none
  %y = onnx.node "MoE" domain "com.microsoft" opset 1 (%x, %r, %w1, %none, %w2)
      attributes {k = 2 : si64, activation_type = "swiglu", swiglu_fusion = 2 : si64}
      : (tensor<?x8xf32>, tensor<?x4xf32>, tensor<4x32x8xf32>, none, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// swiglu_fusion = 0: the up projection is fc3.
// CHECK-LABEL: func.func @swiglu_separate_fc3
// CHECK:         moe.layer %arg0, %arg1 gate_up %arg2 down %arg3 up %arg4
// CHECK-SAME:      activation = #moe.activation<silu, gated = separate>
// expected-remark @+1 {{1 layer(s) raised}}
func.func @swiglu_separate_fc3(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>, %w1: tensor<4x16x8xf32>,
                               %w2: tensor<4x8x16xf32>, %w3: tensor<4x16x8xf32>) -> tensor<?x8xf32> {
  %none = onnx.none
  %y = onnx.node "MoE" domain "com.microsoft" opset 1 (%x, %r, %w1, %none, %w2, %none, %w3)
      attributes {k = 2 : si64, activation_type = "swiglu"}
      : (tensor<?x8xf32>, tensor<?x4xf32>, tensor<4x16x8xf32>, none, tensor<4x8x16xf32>, none, tensor<4x16x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Earlier ONNX Runtime layout: fc1 [E, H, I], fc2 [E, I, H]; transposed to [E, I, H], [E, H, I].
// CHECK-LABEL: func.func @earlier_weight_layout
// CHECK:         %[[E1:.*]] = tensor.empty() : tensor<4x16x8xf32>
// CHECK:         %[[T1:.*]] = linalg.transpose ins(%arg2 : tensor<4x8x16xf32>) outs(%[[E1]] : tensor<4x16x8xf32>) permutation = [0, 2, 1]
// CHECK:         %[[E2:.*]] = tensor.empty() : tensor<4x8x16xf32>
// CHECK:         %[[T2:.*]] = linalg.transpose ins(%arg3 : tensor<4x16x8xf32>) outs(%[[E2]] : tensor<4x8x16xf32>) permutation = [0, 2, 1]
// CHECK:         moe.layer %arg0, %arg1 gate_up %[[T1]] down %[[T2]]
// expected-remark @+1 {{1 layer(s) raised}}
func.func @earlier_weight_layout(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>, %w1: tensor<4x8x16xf32>,
                                 %w2: tensor<4x16x8xf32>) -> tensor<?x8xf32> {
  %none = onnx.none
  %y = onnx.node "MoE" domain "com.microsoft" opset 1 (%x, %r, %w1, %none, %w2)
      attributes {k = 2 : si64, activation_type = "gelu"}
      : (tensor<?x8xf32>, tensor<?x4xf32>, tensor<4x8x16xf32>, none, tensor<4x16x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// A [B, S, H] input runs as [B*S, H] tokens.
// CHECK-LABEL: func.func @batch_sequence_input
// CHECK:         %[[X:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0, 1], [2]] : tensor<2x?x8xf32> into tensor<?x8xf32>
// CHECK:         %[[R:.*]] = tensor.collapse_shape %arg1 {{\[\[}}0, 1], [2]] : tensor<2x?x4xf32> into tensor<?x4xf32>
// CHECK:         %[[Y:.*]] = moe.layer %[[X]], %[[R]]
// CHECK:         tensor.expand_shape %[[Y]] {{\[\[}}0, 1], [2]] {{.*}} : tensor<?x8xf32> into tensor<2x?x8xf32>
// expected-remark @+1 {{1 layer(s) raised}}
func.func @batch_sequence_input(%x: tensor<2x?x8xf32>, %r: tensor<2x?x4xf32>, %w1: tensor<4x16x8xf32>,
                                %w2: tensor<4x8x16xf32>) -> tensor<2x?x8xf32> {
  %none = onnx.none
  %y = onnx.node "MoE" domain "com.microsoft" opset 1 (%x, %r, %w1, %none, %w2)
      attributes {k = 2 : si64, activation_type = "relu"}
      : (tensor<2x?x8xf32>, tensor<2x?x4xf32>, tensor<4x16x8xf32>, none, tensor<4x8x16xf32>) -> tensor<2x?x8xf32>
  return %y : tensor<2x?x8xf32>
}

// -----

// fc3 with a plain activation gates it, act(x fc1^T) * (x fc3^T), as ONNX Runtime
// computes it (transformers' exporter with CUDA fusions, onnxruntime-genai's Mixtral);
// a [B, S, H] input with both dimensions dynamic and a [B*S, E] router.
// CHECK-LABEL: func.func @silu_fc3_dynamic_batch
// CHECK:         %[[X:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0, 1], [2]] : tensor<?x?x8xf32> into tensor<?x8xf32>
// CHECK:         %[[Y:.*]] = moe.layer %[[X]], %arg1 gate_up %arg2 down %arg3 up %arg4 {activation = #moe.activation<silu, gated = separate>, routing = #moe.routing<softmax_topk, k = 2, normalize = true>}
// CHECK-DAG:     %[[B:.*]] = tensor.dim %arg0, %c0
// CHECK-DAG:     %[[S:.*]] = tensor.dim %arg0, %c1
// CHECK-DAG:     %[[B64:.*]] = arith.index_cast %[[B]] : index to i64
// CHECK-DAG:     %[[S64:.*]] = arith.index_cast %[[S]] : index to i64
// CHECK:         %[[SHAPE:.*]] = tensor.from_elements %[[B64]], %[[S64]], %{{.*}} : tensor<3xi64>
// CHECK:         tensor.reshape %[[Y]](%[[SHAPE]]) : (tensor<?x8xf32>, tensor<3xi64>) -> tensor<?x?x8xf32>
// expected-remark @+1 {{1 layer(s) raised}}
func.func @silu_fc3_dynamic_batch(%x: tensor<?x?x8xf32>, %r: tensor<?x4xf32>, %w1: tensor<4x16x8xf32>,
                                  %w2: tensor<4x8x16xf32>, %w3: tensor<4x16x8xf32>) -> tensor<?x?x8xf32> {
  %none = onnx.none
  %y = onnx.node "MoE" domain "com.microsoft" opset 1 (%x, %r, %w1, %none, %w2, %none, %w3)
      attributes {k = 2 : si64, activation_type = "silu", normalize_routing_weights = 1 : si64}
      : (tensor<?x?x8xf32>, tensor<?x4xf32>, tensor<4x16x8xf32>, none, tensor<4x8x16xf32>, none, tensor<4x16x8xf32>) -> tensor<?x?x8xf32>
  return %y : tensor<?x?x8xf32>
}

// -----

// Near misses stay onnx.node.
// CHECK-LABEL: func.func @near_misses
// CHECK-NOT:     moe.layer
// CHECK-COUNT-5: onnx.node "MoE"
// CHECK-NOT:     moe.layer
// expected-remark @+1 {{moe-raise: 0 layer(s) raised (com.microsoft.MoE: 0, batched matmul: 0, dense: 0, loop: 0), 0 shared expert(s) folded, 5 near miss(es) left as they were}}
func.func @near_misses(%x: tensor<?x8xf32>, %r: tensor<?x4xf32>, %w1: tensor<4x16x8xf32>,
                       %w2: tensor<4x8x16xf32>, %xd: tensor<?x?xf32>, %r5: tensor<?x5xf32>) {
  %none = onnx.none
  // expected-remark @+1 {{not raised to moe.layer: use_sparse_mixer = 1 needs k = 2, got k = 1}}
  %a = onnx.node "MoE" domain "com.microsoft" opset 1 (%x, %r, %w1, %none, %w2)
      attributes {k = 1 : si64, use_sparse_mixer = 1 : si64}
      : (tensor<?x8xf32>, tensor<?x4xf32>, tensor<4x16x8xf32>, none, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  // expected-remark @+1 {{not raised to moe.layer: unknown activation_type 'tanh'}}
  %b = onnx.node "MoE" domain "com.microsoft" opset 1 (%x, %r, %w1, %none, %w2)
      attributes {activation_type = "tanh"}
      : (tensor<?x8xf32>, tensor<?x4xf32>, tensor<4x16x8xf32>, none, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  // expected-remark @+1 {{not raised to moe.layer: fc3 weights with swiglu_fusion = 1: the up projection would be given twice}}
  %c = onnx.node "MoE" domain "com.microsoft" opset 1 (%x, %r, %w1, %none, %w2, %none, %w1)
      attributes {activation_type = "swiglu", swiglu_fusion = 1 : si64}
      : (tensor<?x8xf32>, tensor<?x4xf32>, tensor<4x16x8xf32>, none, tensor<4x8x16xf32>, none, tensor<4x16x8xf32>) -> tensor<?x8xf32>
  // expected-remark @+1 {{not raised to moe.layer: the hidden size is dynamic}}
  %d = onnx.node "MoE" domain "com.microsoft" opset 1 (%xd, %r, %w1, %none, %w2)
      : (tensor<?x?xf32>, tensor<?x4xf32>, tensor<4x16x8xf32>, none, tensor<4x8x16xf32>) -> tensor<?x?xf32>
  // Router columns disagree with the experts: the moe.layer verifier's message is the reason.
  // expected-remark @+1 {{not raised to moe.layer: 'moe.layer' op 'logits' gives EZ (router columns) = 5, but experts + zero/copy/constant experts (4 + 0) = 4}}
  %e = onnx.node "MoE" domain "com.microsoft" opset 1 (%x, %r5, %w1, %none, %w2)
      : (tensor<?x8xf32>, tensor<?x5xf32>, tensor<4x16x8xf32>, none, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return
}
