// MatMul becomes a linalg.generic contraction (batch dimensions broadcast); Softmax
// becomes the stable max / exp / sum / divide sequence over one axis from opset 13,
// over the flattened trailing axes before.
// RUN: moe-opt %s --split-input-file --moe-legalize-onnx | FileCheck %s

// CHECK-DAG: #[[A:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[B:.*]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-DAG: #[[C:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @matmul_2d
// CHECK:       %[[FILL:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<?x8xf32>)
// CHECK:       linalg.generic {indexing_maps = [#[[A]], #[[B]], #[[C]]], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK-SAME:    ins(%arg0, %arg1 : tensor<?x16xf32>, tensor<16x8xf32>) outs(%[[FILL]] : tensor<?x8xf32>)
// CHECK:         arith.mulf
// CHECK:         arith.addf
func.func @matmul_2d(%x: tensor<?x16xf32>, %w: tensor<16x8xf32>) -> tensor<?x8xf32> {
  %y = onnx.node "MatMul" opset 13 (%x, %w) : (tensor<?x16xf32>, tensor<16x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// [T, 1, 1, H] x [T, k, H, F]: the unit batch dimension of the left side broadcasts.
// CHECK-DAG: #[[L:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, 0, d2, d4)>
// CHECK-DAG: #[[R:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d3)>
// CHECK-DAG: #[[O:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @matmul_batched_broadcast
// CHECK:       linalg.generic {indexing_maps = [#[[L]], #[[R]], #[[O]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
// CHECK:       } -> tensor<?x2x1x64xf32>
func.func @matmul_batched_broadcast(%x: tensor<?x1x1x16xf32>, %w: tensor<?x2x16x64xf32>) -> tensor<?x2x1x64xf32> {
  %y = onnx.node "MatMul" opset 13 (%x, %w) : (tensor<?x1x1x16xf32>, tensor<?x2x16x64xf32>) -> tensor<?x2x1x64xf32>
  return %y : tensor<?x2x1x64xf32>
}

// -----

// CHECK-LABEL: func.func @softmax_13
// CHECK:       %[[MAX:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%arg0 : tensor<?x8xf32>) outs(%{{.*}} : tensor<?xf32>)
// CHECK:         arith.maxnumf
// CHECK:       %[[EXP:.*]] = linalg.generic {{.*}} ins(%arg0, %[[MAX]] : tensor<?x8xf32>, tensor<?xf32>)
// CHECK:         arith.subf
// CHECK:         math.exp
// CHECK:       %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[EXP]] : tensor<?x8xf32>) outs(%{{.*}} : tensor<?xf32>)
// CHECK:         arith.addf
// CHECK:       linalg.generic {{.*}} ins(%[[EXP]], %[[SUM]] : tensor<?x8xf32>, tensor<?xf32>)
// CHECK:         arith.divf
// CHECK-NOT:   linalg.softmax
func.func @softmax_13(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %y = onnx.node "Softmax" opset 13 (%x) attributes {axis = -1 : si64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Opset 11: axis 1 of a rank-3 input normalises over dimensions 1 and 2 together.
// CHECK-LABEL: func.func @softmax_11_flattens
// CHECK:       %[[FLAT:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0], [1, 2]] : tensor<2x4x8xf32> into tensor<2x32xf32>
// CHECK:       linalg.generic {{.*}} ins(%[[FLAT]] : tensor<2x32xf32>) outs(%{{.*}} : tensor<2xf32>)
// CHECK:         arith.divf
// CHECK-NEXT:    linalg.yield
// CHECK-NEXT:  } -> tensor<2x32xf32>
// CHECK-NEXT:  tensor.expand_shape %{{.*}} {{\[\[}}0], [1, 2]] {{.*}} : tensor<2x32xf32> into tensor<2x4x8xf32>
func.func @softmax_11_flattens(%x: tensor<2x4x8xf32>) -> tensor<2x4x8xf32> {
  %y = onnx.node "Softmax" opset 11 (%x) attributes {axis = 1 : si64} : (tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}
