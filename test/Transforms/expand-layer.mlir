// RUN: moe-opt %s --moe-expand --split-input-file | FileCheck %s

// A routed layer becomes route, dispatch, experts and combine with T*k rows and E+1 offsets.
// CHECK-LABEL: func.func @routed
// CHECK:      %[[W:.*]], %[[IDS:.*]] = moe.route %arg1 {routing = #moe.routing<softmax_topk, k = 2, normalize = true>} : (tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
// CHECK:      %[[ROWS:.*]], %[[OFF:.*]], %[[PERM:.*]] = moe.dispatch %arg0, %[[IDS]] : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<9xi32>, tensor<?xi32>)
// CHECK:      %[[OUT:.*]] = moe.experts %[[ROWS]], %[[OFF]] gate_up %arg2 down %arg3 up %arg4 {activation = #moe.activation<silu, gated = separate>}
// CHECK:      %[[Y:.*]] = moe.combine %[[OUT]], %[[W]], %[[PERM]] : (tensor<?x16xf32>, tensor<?x2xf32>, tensor<?xi32>) -> tensor<?x16xf32>
// CHECK:      return %[[Y]]
func.func @routed(%x: tensor<?x16xf32>, %logits: tensor<?x8xf32>, %w1: tensor<8x32x16xf32>,
                  %w2: tensor<8x16x32xf32>, %w3: tensor<8x32x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x, %logits gate_up %w1 down %w2 up %w3
         {routing = #moe.routing<softmax_topk, k = 2, normalize = true>,
          activation = #moe.activation<silu, gated = separate>}
         : (tensor<?x16xf32>, tensor<?x8xf32>, tensor<8x32x16xf32>, tensor<8x16x32xf32>,
            tensor<8x32x16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// scale_inputs: the routing weights scale the dispatched rows and the combine sums
// the expert outputs with weights of one.
// CHECK-LABEL: func.func @scale_inputs
// CHECK:      %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK:      %[[W:.*]], %[[IDS:.*]] = moe.route %arg1 {routing = #moe.routing<sigmoid_topk, k = 1>}
// CHECK:      %[[ROWS:.*]], %[[OFF:.*]], %[[PERM:.*]] = moe.dispatch %arg0, %[[IDS]] weights %[[W]] :
// CHECK:      %[[ONES:.*]] = linalg.fill ins(%[[ONE]] : f32) outs(%{{.*}} : tensor<?x1xf32>) -> tensor<?x1xf32>
// CHECK:      %[[OUT:.*]] = moe.experts %[[ROWS]], %[[OFF]]
// CHECK:      moe.combine %[[OUT]], %[[ONES]], %[[PERM]]
func.func @scale_inputs(%x: tensor<?x16xf32>, %logits: tensor<?x8xf32>, %w1: tensor<8x64x16xf32>,
                        %w2: tensor<8x16x32xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x, %logits gate_up %w1 down %w2
         {routing = #moe.routing<sigmoid_topk, k = 1>,
          activation = #moe.activation<silu, gated = concatenated>, scale_inputs}
         : (tensor<?x16xf32>, tensor<?x8xf32>, tensor<8x64x16xf32>, tensor<8x16x32xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// The correction bias goes to moe.route; biases stay with moe.experts.
// CHECK-LABEL: func.func @biased
// CHECK: moe.route %arg1 bias %arg5 {routing = #moe.routing<sigmoid_topk, k = 2, normalize = true, num_groups = 4, topk_groups = 2>}
// CHECK: moe.experts %{{.*}}, %{{.*}} gate_up %arg2 down %arg3 gate_up_bias %arg4 {activation = #moe.activation<relu>}
func.func @biased(%x: tensor<3x16xf32>, %logits: tensor<3x8xf32>, %w1: tensor<8x32x16xf32>,
                  %w2: tensor<8x16x32xf32>, %b1: tensor<8x32xf32>, %rb: tensor<8xf32>) -> tensor<3x16xf32> {
  %y = moe.layer %x, %logits gate_up %w1 down %w2 gate_up_bias %b1 routing_bias %rb
         {routing = #moe.routing<sigmoid_topk, k = 2, normalize = true, num_groups = 4, topk_groups = 2>,
          activation = #moe.activation<relu>}
         : (tensor<3x16xf32>, tensor<3x8xf32>, tensor<8x32x16xf32>, tensor<8x16x32xf32>,
            tensor<8x32xf32>, tensor<8xf32>) -> tensor<3x16xf32>
  return %y : tensor<3x16xf32>
}

// -----

// Each shared expert is a one-expert moe.experts over all tokens (offsets [0, T]),
// gated by sigmoid(x . shared_gate[s]) and added to the routed result.
// CHECK-LABEL: func.func @shared
// CHECK:     %[[Y:.*]] = moe.combine
// CHECK:     %[[OFF:.*]] = tensor.from_elements %{{.*}}, %{{.*}} : tensor<2xi32>
// CHECK:     %[[G0:.*]] = tensor.extract_slice %arg4[0, 0, 0] [1, 64, 16] [1, 1, 1] : tensor<2x64x16xf32> to tensor<1x64x16xf32>
// CHECK:     %[[D0:.*]] = tensor.extract_slice %arg5[0, 0, 0] [1, 16, 32] [1, 1, 1] : tensor<2x16x32xf32> to tensor<1x16x32xf32>
// CHECK:     %[[S0:.*]] = moe.experts %arg0, %[[OFF]] gate_up %[[G0]] down %[[D0]] {activation = #moe.activation<silu, gated = concatenated>} : (tensor<?x16xf32>, tensor<2xi32>, tensor<1x64x16xf32>, tensor<1x16x32xf32>) -> tensor<?x16xf32>
// CHECK:     math.exp
// CHECK:     %[[Y1:.*]] = linalg.generic {{.*}} ins(%[[S0]], %{{.*}} : tensor<?x16xf32>, tensor<?xf32>) outs(%[[Y]] : tensor<?x16xf32>)
// CHECK:     tensor.extract_slice %arg4[1, 0, 0]
// CHECK:     moe.experts %arg0, %[[OFF]]
// CHECK:     %[[Y2:.*]] = linalg.generic {{.*}} outs(%[[Y1]] : tensor<?x16xf32>)
// CHECK:     return %[[Y2]]
func.func @shared(%x: tensor<?x16xf32>, %logits: tensor<?x8xf32>, %w1: tensor<8x64x16xf32>,
                  %w2: tensor<8x16x32xf32>, %s1: tensor<2x64x16xf32>, %s2: tensor<2x16x32xf32>,
                  %sg: tensor<2x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x, %logits gate_up %w1 down %w2 shared_gate_up %s1 shared_down %s2 shared_gate %sg
         {routing = #moe.routing<softmax_topk, k = 2>,
          activation = #moe.activation<silu, gated = concatenated>}
         : (tensor<?x16xf32>, tensor<?x8xf32>, tensor<8x64x16xf32>, tensor<8x16x32xf32>,
            tensor<2x64x16xf32>, tensor<2x16x32xf32>, tensor<2x16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Zero-computation experts are routed over all columns; one generic adds the copy
// and constant experts' terms after combine.
// CHECK-LABEL: func.func @null_experts
// CHECK-DAG: %[[C9:.*]] = arith.constant 9 : i32
// CHECK-DAG: %[[C10:.*]] = arith.constant 10 : i32
// CHECK:     %[[W:.*]], %[[IDS:.*]] = moe.route %arg1 {{.*}} : (tensor<?x11xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
// CHECK:     moe.dispatch {{.*}} -> (tensor<?x16xf32>, tensor<9xi32>, tensor<?xi32>)
// CHECK:     %[[Y:.*]] = moe.combine
// CHECK:     %[[Z:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} ins(%[[W]], %[[IDS]], %arg0 : tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x16xf32>) outs(%[[Y]] : tensor<?x16xf32>)
// CHECK:       arith.cmpi sge, %{{.*}}, %[[C9]] : i32
// CHECK:       arith.cmpi slt, %{{.*}}, %[[C10]] : i32
// CHECK:       tensor.extract %arg4
// CHECK:     return %[[Z]]
func.func @null_experts(%x: tensor<?x16xf32>, %logits: tensor<?x11xf32>, %w1: tensor<8x32x16xf32>,
                        %w2: tensor<8x16x32xf32>, %c: tensor<1x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x, %logits gate_up %w1 down %w2 constant_experts %c
         {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<gelu>,
          num_zero_experts = 1, num_copy_experts = 1}
         : (tensor<?x16xf32>, tensor<?x11xf32>, tensor<8x32x16xf32>, tensor<8x16x32xf32>,
            tensor<1x16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}
