// Pure moe ops without users are removed; prefetch and all_to_all, which have effects,
// are kept.
// RUN: moe-opt %s --canonicalize | FileCheck %s

// CHECK-LABEL: func.func @dead_ops
// CHECK-NOT:   moe.layer
// CHECK-NOT:   moe.route
// CHECK:       moe.prefetch
// CHECK:       moe.all_to_all
func.func @dead_ops(%x: tensor<?x64xf32>, %l: tensor<?x8xf32>, %w1: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>,
                    %ids: tensor<?x2xi32>, %counts: tensor<4xi32>) {
  %y = moe.layer %x, %l gate_up %w1 down %w2 {routing = #moe.routing<softmax_topk, k = 2>, activation = #moe.activation<relu>} : (tensor<?x64xf32>, tensor<?x8xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  %w, %i = moe.route %l {routing = #moe.routing<topk_softmax, k = 2>} : (tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  moe.prefetch %w1, %ids : tensor<8x128x64xf32>, tensor<?x2xi32>
  %recv, %rc = moe.all_to_all %x, %counts {group_size = 4} : (tensor<?x64xf32>, tensor<4xi32>) -> (tensor<?x64xf32>, tensor<4xi32>)
  return
}
