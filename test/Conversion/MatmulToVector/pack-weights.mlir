// RUN: moe-opt %s --moe-pack-matmul-weights=panel-width=2 --split-input-file | FileCheck %s

// A x B with B a constant [K, N] = [2, 4]: packed into panels [1, N / 2, K, 2] and
// multiplied by the panel product. Panel 0 holds columns 0 and 1: k = 0 gives
// (1, 2), k = 1 gives (5, 6); panel 1 holds (3, 4), (7, 8).
// CHECK-DAG:   #[[P:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d3, d2)>
// CHECK-DAG:   #[[C:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1 * 2 + d2)>
// CHECK-LABEL: func.func @depth_major
// CHECK:       %[[PACKED:.*]] = arith.constant dense_resource<weight_panels> : tensor<1x2x2x2xf32>
// CHECK:       %[[PANELS:.*]] = tensor.extract_slice %[[PACKED]][0, 0, 0, 0] [1, 2, 2, 2] [1, 1, 1, 1] : tensor<1x2x2x2xf32> to tensor<2x2x2xf32>
// CHECK:       linalg.generic {indexing_maps = [#{{.*}}, #[[P]], #[[C]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%arg0, %[[PANELS]] : tensor<?x2xf32>, tensor<2x2x2xf32>)
// CHECK:       weight_panels: "0x100000000000803F000000400000A0400000C04000004040000080400000E04000000041"
#a = affine_map<(m, n, k) -> (m, k)>
#kn = affine_map<(m, n, k) -> (k, n)>
#c = affine_map<(m, n, k) -> (m, n)>
func.func @depth_major(%x: tensor<?x2xf32>, %init: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<2x4xf32>
  %y = linalg.generic {indexing_maps = [#a, #kn, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<?x2xf32>, tensor<2x4xf32>) outs(%init : tensor<?x4xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

// A x B^T (B as [N, K], Gemm's transB) packs the same way.
// CHECK-LABEL: func.func @column_major
// CHECK:       arith.constant dense_resource<weight_panels> : tensor<1x1x3x2xf32>
// CHECK:       linalg.generic
#a = affine_map<(m, n, k) -> (m, k)>
#nk = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>
func.func @column_major(%x: tensor<?x3xf32>, %init: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %y = linalg.generic {indexing_maps = [#a, #nk, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<?x3xf32>, tensor<2x3xf32>) outs(%init : tensor<?x2xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

// -----

// Left as they are: a weight that is an input, and one whose 3 columns are no whole
// number of panels.
// CHECK-LABEL: func.func @left
// CHECK-NOT:   weight_panels
// CHECK:       linalg.generic {{.*}} ins(%arg0, %arg2 : tensor<?x2xf32>, tensor<2x4xf32>)
// CHECK:       linalg.generic {{.*}} ins(%arg0, %{{.*}} : tensor<?x2xf32>, tensor<2x3xf32>)
#a = affine_map<(m, n, k) -> (m, k)>
#kn = affine_map<(m, n, k) -> (k, n)>
#c = affine_map<(m, n, k) -> (m, n)>
func.func @left(%x: tensor<?x2xf32>, %init: tensor<?x4xf32>, %w: tensor<2x4xf32>,
                %init3: tensor<?x3xf32>) -> (tensor<?x4xf32>, tensor<?x3xf32>) {
  %y = linalg.generic {indexing_maps = [#a, #kn, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<?x2xf32>, tensor<2x4xf32>) outs(%init : tensor<?x4xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<?x4xf32>
  %w3 = arith.constant dense<1.0> : tensor<2x3xf32>
  %z = linalg.generic {indexing_maps = [#a, #kn, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w3 : tensor<?x2xf32>, tensor<2x3xf32>) outs(%init3 : tensor<?x3xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<?x3xf32>
  return %y, %z : tensor<?x4xf32>, tensor<?x3xf32>
}
