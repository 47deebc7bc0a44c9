// RUN: moe-opt %s --moe-lower-to-linalg='panel-width=4' --split-input-file | FileCheck %s
// RUN: moe-opt %s --moe-lower-to-linalg='panel-width=4 bf16-weights' --split-input-file | FileCheck %s --check-prefix=BF16
// RUN: moe-opt %s --moe-lower-to-linalg='grouped' --split-input-file | FileCheck %s --check-prefix=PARALLEL

// A constant f32 bank whose output size is a multiple of the panel width is packed in
// the compiler into panels [E, N / W, K, W], and the projection reads them through a
// linalg.generic whose output column is p * W + l. The down bank (N = 2) stays as it is.
// CHECK-DAG:   #[[A:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d3)>
// CHECK-DAG:   #[[P:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d3, d2)>
// CHECK-DAG:   #[[C:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1 * 4 + d2)>
// CHECK-LABEL: func.func @packed
// CHECK:       %[[PANELS:.*]] = arith.constant dense_resource<weight_panels> : tensor<2x1x2x4xf32>
// CHECK:       scf.for %[[E:.*]] = %c0 to %c2
// CHECK:         %[[MINE:.*]] = tensor.extract_slice %[[PANELS]][%[[E]], 0, 0, 0] [1, 1, 2, 4] [1, 1, 1, 1] : tensor<2x1x2x4xf32> to tensor<1x2x4xf32>
// CHECK:         linalg.generic {indexing_maps = [#[[A]], #[[P]], #[[C]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%{{.*}}, %[[MINE]] : tensor<?x2xf32>, tensor<1x2x4xf32>) outs(%{{.*}} : tensor<?x4xf32>)
// CHECK:           arith.mulf
// CHECK:           arith.addf
// CHECK:         linalg.matmul_transpose_b ins(%{{.*}}, %{{.*}} : tensor<?x2xf32>, tensor<2x2xf32>)
// Expert 0's panel: k = 0 holds rows 0..3 of column 0 (1, 3, 5, 7), then k = 1.
// CHECK:       weight_panels: "0x100000000000803F000040400000A0400000E040000000400000804000
//
// In bf16: the weights rounded once, widened to f32 in the product.
// BF16-LABEL: func.func @packed
// BF16:       arith.constant dense_resource<weight_panels> : tensor<2x1x2x4xbf16>
// BF16:         ^bb0(%{{.*}}: f32, %[[W:.*]]: bf16, %{{.*}}: f32):
// BF16-NEXT:      arith.extf %[[W]] : bf16 to f32
// BF16:       weight_panels: "0x10000000803F4040A040E04000408040C040004110413041504170412041404160418041"
func.func @packed(%rows: tensor<?x2xf32>, %offsets: tensor<3xi32>) -> tensor<?x2xf32> {
  %w1 = arith.constant dense<[[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]],
                              [[9.0, 10.0], [11.0, 12.0], [13.0, 14.0], [15.0, 16.0]]]> : tensor<2x4x2xf32>
  %w2 = arith.constant dense<0.5> : tensor<2x2x2xf32>
  %out = moe.experts %rows, %offsets gate_up %w1 down %w2
           {activation = #moe.activation<silu, gated = interleaved>}
           : (tensor<?x2xf32>, tensor<3xi32>, tensor<2x4x2xf32>, tensor<2x2x2xf32>)
           -> tensor<?x2xf32>
  return %out : tensor<?x2xf32>
}

// -----

// Weights given as inputs are not packed (that would cost a pass over them per call).
// CHECK-LABEL: func.func @inputs
// CHECK-NOT:   weight_panels
// CHECK:       linalg.matmul_transpose_b
// CHECK:       linalg.matmul_transpose_b
func.func @inputs(%rows: tensor<?x4xf32>, %offsets: tensor<3xi32>, %w1: tensor<2x4x4xf32>,
                  %w2: tensor<2x4x2xf32>) -> tensor<?x4xf32> {
  %out = moe.experts %rows, %offsets gate_up %w1 down %w2
           {activation = #moe.activation<silu, gated = interleaved>}
           : (tensor<?x4xf32>, tensor<3xi32>, tensor<2x4x4xf32>, tensor<2x4x2xf32>)
           -> tensor<?x4xf32>
  return %out : tensor<?x4xf32>
}

// -----

// With grouped: from 16 assignments on, an scf.forall over the experts (each iteration
// one expert's whole FFN, written back by parallel_insert_slice); below (decode), each
// projection is one scf.forall over blocks of output columns whose iterations run every
// expert's rows against their block, and the activation runs on all rows at once.
// PARALLEL-LABEL: func.func @side_by_side
// PARALLEL:       %[[WIDE:.*]] = arith.cmpi uge, %{{.*}}, %c16 : index
// PARALLEL:       scf.if %[[WIDE]] -> (tensor<?x4xf32>) {
// PARALLEL:         %[[ALL:.*]] = scf.forall (%[[E:.*]]) in (2) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<?x4xf32>) {
// PARALLEL:           tensor.extract %arg1[%[[E]]] : tensor<3xi32>
// PARALLEL:           linalg.matmul_transpose_b
// PARALLEL:           linalg.matmul_transpose_b
// PARALLEL:           scf.forall.in_parallel {
// PARALLEL-NEXT:        tensor.parallel_insert_slice %{{.*}} into %[[OUT]][%{{.*}}, 0] [%{{.*}}, 4] [1, 1]
// PARALLEL:         scf.yield %[[ALL]]
// PARALLEL:       } else {
// PARALLEL:         scf.forall (%[[J:.*]]) in (1) shared_outs(%[[FIRST:.*]] = %{{.*}}) -> (tensor<?x4xf32>) {
// PARALLEL:           %[[COL:.*]] = arith.muli %[[J]], %c4 : index
// PARALLEL:           scf.for %[[X:.*]] = %c0 to %c2 step %c1 iter_args(
// PARALLEL:             tensor.extract_slice %arg2[%[[X]], %[[COL]], 0] [1, 4, 4] [1, 1, 1] : tensor<2x4x4xf32> to tensor<4x4xf32>
// PARALLEL:             linalg.matmul_transpose_b
// PARALLEL:             tensor.insert_slice
// PARALLEL:           scf.forall.in_parallel {
// PARALLEL-NEXT:        tensor.parallel_insert_slice %{{.*}} into %[[FIRST]][0, %[[COL]]] [%{{.*}}, 4] [1, 1]
// PARALLEL:         linalg.generic
// PARALLEL:         scf.forall (%{{.*}}) in (1) shared_outs(
// PARALLEL:           scf.for
// PARALLEL:             tensor.extract_slice %arg3[
// PARALLEL:             linalg.matmul_transpose_b
func.func @side_by_side(%rows: tensor<?x4xf32>, %offsets: tensor<3xi32>, %w1: tensor<2x4x4xf32>,
                        %w2: tensor<2x4x2xf32>) -> tensor<?x4xf32> {
  %out = moe.experts %rows, %offsets gate_up %w1 down %w2
           {activation = #moe.activation<silu, gated = interleaved>}
           : (tensor<?x4xf32>, tensor<3xi32>, tensor<2x4x4xf32>, tensor<2x4x2xf32>)
           -> tensor<?x4xf32>
  return %out : tensor<?x4xf32>
}
