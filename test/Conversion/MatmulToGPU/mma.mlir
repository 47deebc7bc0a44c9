// RUN: moe-opt %s --split-input-file --moe-matmuls-to-mma | FileCheck %s
// RUN: moe-opt %s --split-input-file --moe-matmuls-to-mma=precision=fp16 | FileCheck %s --check-prefix=F16
// RUN: not moe-opt %s --split-input-file --moe-matmuls-to-mma=precision=fp8 2>&1 | FileCheck %s --check-prefix=BAD

// An expert projection, C += A W^T with M dynamic: blocks of 4 warps over
// 16 x 128 tiles of C, K walked 16 at a time, four m16n8k16 per warp and step.
// CHECK-LABEL: func.func @projection
// CHECK:         %[[M:.*]] = memref.dim %{{.*}}, %c0
// CHECK:         %[[GX:.*]] = arith.ceildivui %[[M]], %c16
// CHECK:         %[[GY:.*]] = arith.ceildivui %{{.*}}, %c128
// CHECK:         gpu.launch blocks({{.*}}) in ({{.*}} = %[[GX]], {{.*}} = %[[GY]], {{.*}}) threads({{.*}}) in ({{.*}} = %c128
// CHECK:           scf.for %{{.*}} = %{{.*}} to %c64{{.*}} step %c16{{.*}} iter_args(
// CHECK:             arith.truncf %{{.*}} : f32 to bf16
// CHECK-COUNT-4:     moe_gpu.mma_sync %{{.*}} {k = 16 : i64, type = bf16} : (i32, i32, i32, i32, i32, i32, f32, f32, f32, f32) -> (f32, f32, f32, f32)
// CHECK:             scf.yield
// Results accumulate into C where row < M and column < N.
// CHECK:           scf.if
// CHECK:             memref.load
// CHECK:             arith.addf
// CHECK:             memref.store
// CHECK-NOT:     linalg.matmul_transpose_b
// F16-LABEL: func.func @projection
// F16:         arith.truncf %{{.*}} : f32 to f16
// F16:         moe_gpu.mma_sync {{.*}} {k = 16 : i64, type = f16}
// BAD: moe-matmuls-to-mma: precision 'fp8' is not bf16 or fp16
func.func @projection(%a: memref<?x64xf32>, %w: memref<96x64xf32>, %c: memref<?x96xf32>) {
  linalg.matmul_transpose_b ins(%a, %w : memref<?x64xf32>, memref<96x64xf32>) outs(%c : memref<?x96xf32>)
  return
}

// -----

// A plain matmul (C += A B) reads B by rows of K.
// CHECK-LABEL: func.func @plain
// CHECK:         gpu.launch
// CHECK:           memref.load %{{.*}}[%{{.*}}, %{{.*}}] : memref<32x8xf32>
// CHECK:           moe_gpu.mma_sync
func.func @plain(%a: memref<4x32xf32>, %b: memref<32x8xf32>, %c: memref<4x8xf32>) {
  linalg.matmul ins(%a, %b : memref<4x32xf32>, memref<32x8xf32>) outs(%c : memref<4x8xf32>)
  return
}

// -----

// K not a multiple of 16, or not f32, stays as it is.
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT:     gpu.launch
// CHECK:         linalg.matmul_transpose_b
// CHECK:         linalg.matmul_transpose_b
func.func @left_alone(%a: memref<4x24xf32>, %w: memref<8x24xf32>, %c: memref<4x8xf32>,
                      %ah: memref<4x32xf16>, %wh: memref<8x32xf16>, %ch: memref<4x8xf16>) {
  linalg.matmul_transpose_b ins(%a, %w : memref<4x24xf32>, memref<8x24xf32>) outs(%c : memref<4x8xf32>)
  linalg.matmul_transpose_b ins(%ah, %wh : memref<4x32xf16>, memref<8x32xf16>) outs(%ch : memref<4x8xf16>)
  return
}
