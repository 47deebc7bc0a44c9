// RUN: moe-opt %s --moe-lower-to-gpu="precision=bf16 weight-tiles=true" --split-input-file | FileCheck %s

// With weight-tiles, constant weights become tiles in the compiler: gate and up
// of the concatenated gate_up as the two sources of one tensor of tiles (I 96:
// 2 column tiles; H 40: 1 K tile), down's one source (H 40: 1 column tile; I
// 96: 2 K tiles); the routed_ffn carries the intermediate size. The original
// weights are left unused.
// CHECK-LABEL: func.func @constant
// CHECK-DAG: %[[T1:.*]] = arith.constant dense_resource<gpu_weight_tiles{{.*}}> : tensor<4x2x2x1x4096xbf16>
// CHECK-DAG: %[[T2:.*]] = arith.constant dense_resource<gpu_weight_tiles{{.*}}> : tensor<4x1x1x2x4096xbf16>
// CHECK:     moe_gpu.routed_ffn
// CHECK-SAME:  {activation = #moe.activation<silu, gated = concatenated>, compute = bf16, intermediate = 96 : i64}
// CHECK-SAME:  memref<4x2x2x1x4096xbf16, strided<[?, ?, ?, ?, 1], offset: ?>>, memref<4x1x1x2x4096xbf16, strided<[?, ?, ?, ?, 1], offset: ?>>
func.func @constant(%x: tensor<?x40xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) -> tensor<?x40xf32> {
  %w1 = arith.constant dense<0.01> : tensor<4x192x40xf32>
  %w2 = arith.constant dense<0.02> : tensor<4x40x96xf32>
  %rows, %off, %perm = moe.dispatch %x, %ids : (tensor<?x40xf32>, tensor<?x2xi32>) -> (tensor<?x40xf32>, tensor<5xi32>, tensor<?xi32>)
  %out = moe.experts %rows, %off gate_up %w1 down %w2 {activation = #moe.activation<silu, gated = concatenated>} : (tensor<?x40xf32>, tensor<5xi32>, tensor<4x192x40xf32>, tensor<4x40x96xf32>) -> tensor<?x40xf32>
  %y = moe.combine %out, %w, %perm : (tensor<?x40xf32>, tensor<?x2xf32>, tensor<?xi32>) -> tensor<?x40xf32>
  return %y : tensor<?x40xf32>
}

// -----

// Weights that are inputs stay as they are (converted to bf16): tiling them would
// cost a pass over the weights every call. The kernels then copy B by cp.async.
// CHECK-LABEL: func.func @inputs
// CHECK-NOT: 4096xbf16
// CHECK:     moe_gpu.routed_ffn {{.*}} gate_up(%{{.*}}) up(%{{.*}}) down(%{{.*}})
// CHECK-SAME:  {activation = #moe.activation<silu, gated = separate>, compute = bf16}
// CHECK-SAME:  memref<2x32x32xbf16, strided<[?, ?, 1], offset: ?>>
func.func @inputs(%x: tensor<?x32xf32>, %ids: tensor<?x1xi32>, %w: tensor<?x1xf32>,
                  %w1: tensor<2x32x32xf32>, %w3: tensor<2x32x32xf32>, %w2: tensor<2x32x32xf32>) -> tensor<?x32xf32> {
  %rows, %off, %perm = moe.dispatch %x, %ids : (tensor<?x32xf32>, tensor<?x1xi32>) -> (tensor<?x32xf32>, tensor<3xi32>, tensor<?xi32>)
  %out = moe.experts %rows, %off gate_up %w1 down %w2 up %w3 {activation = #moe.activation<silu, gated = separate>} : (tensor<?x32xf32>, tensor<3xi32>, tensor<2x32x32xf32>, tensor<2x32x32xf32>, tensor<2x32x32xf32>) -> tensor<?x32xf32>
  %y = moe.combine %out, %w, %perm : (tensor<?x32xf32>, tensor<?x1xf32>, tensor<?xi32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
