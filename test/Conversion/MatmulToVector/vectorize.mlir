// RUN: moe-opt %s --moe-vectorize-matmuls --split-input-file | FileCheck %s

// A small weight: serial loops; 4 x 2 blocks of vector<8xf32> accumulators over K,
// each reduced once and added to C; leftover rows one at a time against 4 weight rows.
// CHECK-LABEL: func.func @small
// CHECK-NOT:   linalg.matmul_transpose_b
// CHECK:       scf.for %[[NB:.*]] = %c0 to %c64 step %c2048 {
// CHECK:         scf.for %[[M:.*]] = %c0 to %{{.*}} step %c4 {
// CHECK:           scf.for %[[N:.*]] = %[[NB]] to %{{.*}} step %c2 {
// CHECK:             %[[ACC:.*]]:8 = scf.for %[[K:.*]] = %c0 to %c32 step %c8 iter_args(
// CHECK-COUNT-6:       vector.load {{.*}} : memref<{{.*}}>, vector<8xf32>
// CHECK-COUNT-8:       vector.fma {{.*}} : vector<8xf32>
// CHECK:             vector.reduction <add>, %[[ACC]]#0 : vector<8xf32> into f32
// CHECK:         scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c1 {
// CHECK:           scf.for %{{.*}} = %[[NB]] to %{{.*}} step %c4 {
// CHECK:             scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
func.func @small(%a: memref<?x32xf32>, %b: memref<64x32xf32>, %c: memref<?x64xf32>) {
  linalg.matmul_transpose_b ins(%a, %b : memref<?x32xf32>, memref<64x32xf32>)
                            outs(%c : memref<?x64xf32>)
  return
}

// -----

// A weight of 1 MiB or more splits its row blocks across threads.
// CHECK-LABEL: func.func @large
// CHECK:       scf.parallel (%{{.*}}) = (%c0) to (%c1024) step (%c64) {
// CHECK:         vector.fma
func.func @large(%a: memref<?x1024xf32>, %b: memref<1024x1024xf32>, %c: memref<?x1024xf32>) {
  linalg.matmul_transpose_b ins(%a, %b : memref<?x1024xf32>, memref<1024x1024xf32>)
                            outs(%c : memref<?x1024xf32>)
  return
}

// -----

// K not a multiple of the vector width: left for the generic lowering.
// CHECK-LABEL: func.func @ragged
// CHECK:       linalg.matmul_transpose_b
func.func @ragged(%a: memref<?x30xf32>, %b: memref<64x30xf32>, %c: memref<?x64xf32>) {
  linalg.matmul_transpose_b ins(%a, %b : memref<?x30xf32>, memref<64x30xf32>)
                            outs(%c : memref<?x64xf32>)
  return
}
