// RUN: moe-opt %s --moe-lower-to-linalg --split-input-file | FileCheck %s

// Experts: one loop over the 8 experts; each runs matmul_transpose_b on its own rows
// [offsets[e], offsets[e+1]) only, gate and up taken as stride-2 column slices.
// CHECK-LABEL: func.func @experts
// CHECK:     %[[ZERO:.*]] = linalg.fill {{.*}} -> tensor<?x16xf32>
// CHECK:     %[[R:.*]] = scf.for %[[E:.*]] = %c0 to %c8 step %c1 iter_args(%[[ACC:.*]] = %[[ZERO]]) -> (tensor<?x16xf32>)
// CHECK:       %[[LO:.*]] = tensor.extract %arg1[%[[E]]] : tensor<9xi32>
// CHECK:       %[[MINE:.*]] = tensor.extract_slice %arg0[%{{.*}}, 0] [%[[N:.*]], 16] [1, 1] : tensor<?x16xf32> to tensor<?x16xf32>
// CHECK:       %[[W1:.*]] = tensor.extract_slice %arg2[%[[E]], 0, 0] [1, 64, 16] [1, 1, 1] : tensor<8x64x16xf32> to tensor<64x16xf32>
// CHECK:       linalg.matmul_transpose_b ins(%[[MINE]], %[[W1]] : tensor<?x16xf32>, tensor<64x16xf32>)
// CHECK:       tensor.extract_slice %{{.*}}[%c0, 0] [%[[N]], 32] [1, 2]
// CHECK:       tensor.extract_slice %{{.*}}[%c0, 1] [%[[N]], 32] [1, 2]
// CHECK:       math.exp
// CHECK:       %[[W2:.*]] = tensor.extract_slice %arg3[%[[E]], 0, 0] [1, 16, 32] [1, 1, 1] : tensor<8x16x32xf32> to tensor<16x32xf32>
// CHECK:       %[[Y:.*]] = linalg.matmul_transpose_b ins(%{{.*}}, %[[W2]] : tensor<?x32xf32>, tensor<16x32xf32>)
// CHECK:       %[[NEXT:.*]] = tensor.insert_slice %[[Y]] into %[[ACC]][%{{.*}}, 0] [%[[N]], 16] [1, 1]
// CHECK:       scf.yield %[[NEXT]]
// CHECK:     return %[[R]]
func.func @experts(%rows: tensor<?x16xf32>, %offsets: tensor<9xi32>, %w1: tensor<8x64x16xf32>,
                   %w2: tensor<8x16x32xf32>) -> tensor<?x16xf32> {
  %out = moe.experts %rows, %offsets gate_up %w1 down %w2
           {activation = #moe.activation<silu, gated = interleaved>}
           : (tensor<?x16xf32>, tensor<9xi32>, tensor<8x64x16xf32>, tensor<8x16x32xf32>)
           -> tensor<?x16xf32>
  return %out : tensor<?x16xf32>
}

// -----

// Route: a loop over tokens carrying the weights, the ids and a score scratch with a
// row per token, so that its iterations are independent (and marked so); k = 2
// arg-max passes over the 8 columns, each marking its choice NaN.
// CHECK-LABEL: func.func @route
// CHECK:     %[[SCRATCH:.*]] = tensor.empty(%{{.*}}) : tensor<?x8xf32>
// CHECK:     scf.for %[[T:.*]] = %c0 to %{{.*}} step %c1 iter_args({{.*}}) -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x8xf32>, tensor<?x1xf32>)
// CHECK:       math.exp
// CHECK:       scf.for
// CHECK:         arith.cmpf ogt
// CHECK:       tensor.insert %cst{{.*}}[%[[T]], %{{.*}}] : tensor<?x8xf32>
// CHECK:       scf.for
// CHECK:         arith.cmpf ogt
// CHECK:       tensor.insert %cst{{.*}}[%[[T]], %{{.*}}] : tensor<?x8xf32>
// CHECK:       arith.divf
// CHECK:     } {moe.independent_iterations}
func.func @route(%logits: tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %w, %ids = moe.route %logits {routing = #moe.routing<softmax_topk, k = 2, normalize = true>}
               : (tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  return %w, %ids : tensor<?x2xf32>, tensor<?x2xi32>
}

// -----

// Dispatch: a count per slot (the 8 experts and one for the unrouted), each slot
// scanning the assignments for its own, a prefix sum over experts, a stable placement
// per slot from its offset, and a gather of the rows by permutation[r] / k. The
// per-slot loops are independent (one GPU thread each).
// CHECK-LABEL: func.func @dispatch
// CHECK:     %[[COUNTS:.*]] = scf.for %{{.*}} = %c0 to %c9 {{.*}} -> (tensor<9xi32>)
// CHECK:       scf.for {{.*}} -> (i32)
// CHECK:     } {moe.independent_iterations}
// CHECK:     %[[OFFSETS:.*]] = scf.for %{{.*}} = %c0 to %c8 {{.*}} -> (tensor<9xi32>)
// CHECK:     %[[PERM:.*]] = scf.for %{{.*}} = %c0 to %c9 {{.*}} -> (tensor<?xi32>)
// CHECK:       %[[START:.*]] = tensor.extract %[[OFFSETS]]
// CHECK:       scf.for {{.*}} iter_args({{.*}}, %{{.*}} = %[[START]]) -> (tensor<?xi32>, i32)
// CHECK:         scf.if
// CHECK:     } {moe.independent_iterations}
// CHECK:     %[[ROWS:.*]] = linalg.generic {{.*}} ins(%[[PERM]] : tensor<?xi32>)
// CHECK:       arith.divui
// CHECK:       tensor.extract %arg0
// CHECK:     return %[[ROWS]], %[[OFFSETS]], %[[PERM]]
func.func @dispatch(%x: tensor<?x16xf32>, %ids: tensor<?x2xi32>)
    -> (tensor<?x16xf32>, tensor<9xi32>, tensor<?xi32>) {
  %rows, %offsets, %perm = moe.dispatch %x, %ids
      : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<9xi32>, tensor<?xi32>)
  return %rows, %offsets, %perm : tensor<?x16xf32>, tensor<9xi32>, tensor<?xi32>
}

// -----

// Combine: the inverse permutation, then a reduction over j (innermost) per token and
// hidden unit.
// CHECK-LABEL: func.func @combine
// CHECK:     %[[INV:.*]] = scf.for {{.*}} -> (tensor<?xindex>)
// CHECK:     linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} ins(%arg1 : tensor<?x2xf32>)
// CHECK:       tensor.extract %[[INV]]
// CHECK:       tensor.extract %arg0
func.func @combine(%out: tensor<?x16xf32>, %w: tensor<?x2xf32>, %perm: tensor<?xi32>) -> tensor<?x16xf32> {
  %y = moe.combine %out, %w, %perm : (tensor<?x16xf32>, tensor<?x2xf32>, tensor<?xi32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}
