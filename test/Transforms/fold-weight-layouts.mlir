// RUN: moe-opt %s --moe-fold-weight-layouts --canonicalize --split-input-file | FileCheck %s

// A transpose of a constant becomes the transposed constant.
// CHECK-LABEL: func.func @transpose
// CHECK-NOT:   linalg.transpose
// CHECK:       %[[C:.*]] = arith.constant dense_resource<[[T:folded_weight[_0-9]*]]> : tensor<3x2xf32>
// CHECK:       return %[[C]]
// CHECK:       [[T]]: "0x100000000000803F00008040000000400000A040000040400000C040"
func.func @transpose() -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %e = tensor.empty() : tensor<3x2xf32>
  %t = linalg.transpose ins(%w : tensor<2x3xf32>) outs(%e : tensor<3x2xf32>) permutation = [1, 0]
  return %t : tensor<3x2xf32>
}

// -----

// Experts stacked by insert_slice into an empty tensor become one constant; the
// intermediate stack is not materialised.
// CHECK-LABEL: func.func @stack
// CHECK-NOT:   tensor.insert_slice
// CHECK:       %[[C:.*]] = arith.constant dense_resource<[[S:folded_weight[_0-9]*]]> : tensor<2x2xf32>
// CHECK:       return %[[C]]
// CHECK:       [[S]]: "0x100000000000803F000000400000404000008040"
func.func @stack() -> tensor<2x2xf32> {
  %a = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %b = arith.constant dense<[3.0, 4.0]> : tensor<2xf32>
  %e = tensor.empty() : tensor<2x2xf32>
  %0 = tensor.insert_slice %a into %e[0, 0] [1, 2] [1, 1] : tensor<2xf32> into tensor<2x2xf32>
  %1 = tensor.insert_slice %b into %0[1, 0] [1, 2] [1, 1] : tensor<2xf32> into tensor<2x2xf32>
  return %1 : tensor<2x2xf32>
}

// -----

// A chain with a non-constant leaf stays.
// CHECK-LABEL: func.func @not_constant
// CHECK:       linalg.transpose
func.func @not_constant(%w: tensor<2x3xf32>) -> tensor<3x2xf32> {
  %e = tensor.empty() : tensor<3x2xf32>
  %t = linalg.transpose ins(%w : tensor<2x3xf32>) outs(%e : tensor<3x2xf32>) permutation = [1, 0]
  return %t : tensor<3x2xf32>
}
