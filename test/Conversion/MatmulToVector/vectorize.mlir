// RUN: moe-opt %s --moe-vectorize-matmuls --split-input-file | FileCheck %s
// RUN: moe-opt %s --moe-vectorize-matmuls=vector-bits=512 --split-input-file | FileCheck %s --check-prefix=WIDE
// RUN: not moe-opt %s --moe-vectorize-matmuls=vector-bits=128 --split-input-file 2>&1 | FileCheck %s --check-prefix=BITS
// BITS: moe-vectorize-matmuls: vector-bits=128 is not 256 (AVX2) or 512 (AVX-512)

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

// -----

// AVX-512 (vector-bits=512): the same kernel in vector<16xf32>.
// WIDE-LABEL: func.func @wide
// WIDE:         scf.for {{.*}} step %c16 iter_args({{.*}}) -> (vector<16xf32>, {{.*}})
// WIDE-COUNT-8:   vector.fma {{.*}} : vector<16xf32>
func.func @wide(%a: memref<?x32xf32>, %b: memref<64x32xf32>, %c: memref<?x64xf32>) {
  linalg.matmul_transpose_b ins(%a, %b : memref<?x32xf32>, memref<64x32xf32>)
                            outs(%c : memref<?x64xf32>)
  return
}

// -----

// Packed weight panels [N / 16, K, 16] with 512-bit vectors: blocks of 6 rows x 4 column
// vectors of C held in 24 accumulators over K, each step one load of each panel and a
// broadcast of each row's element; then 4-, 2- and 1-row blocks x 4 vectors. C is
// loaded and stored as vectors: no horizontal reduction.
// WIDE-LABEL: func.func @panels
// WIDE-NOT:     linalg.generic
// WIDE:         scf.for %[[VB:.*]] = %c0 to %c4 step %c4 {
// WIDE:           scf.for %[[M:.*]] = %c0 to %{{.*}} step %c6 {
// WIDE:             scf.for %[[V:.*]] = %[[VB]] to %{{.*}} step %c4 {
// WIDE-COUNT-24:      vector.load %arg2{{.*}} : memref<?x64xf32>, vector<16xf32>
// WIDE:               %[[ACC:.*]]:24 = scf.for %[[K:.*]] = %c0 to %c64 step %c1 iter_args(
// WIDE-COUNT-4:         vector.load %arg1[%{{.*}}, %[[K]], %{{.*}}] : memref<4x64x16xf32, strided<[1024, 16, 1], offset: ?>>, vector<16xf32>
// WIDE:                 %[[X:.*]] = memref.load %arg0[%[[M]], %[[K]]] : memref<?x64xf32>
// WIDE:                 %[[B:.*]] = vector.broadcast %[[X]] : f32 to vector<16xf32>
// WIDE:                 vector.fma %[[B]], %{{.*}}, %{{.*}} : vector<16xf32>
// WIDE-NOT:           vector.reduction
// WIDE-COUNT-24:      vector.store {{.*}} : memref<?x64xf32>, vector<16xf32>
// WIDE:           scf.for %{{.*}} step %c4 {
// WIDE:             scf.for %{{.*}} step %c4 {
// WIDE:               scf.for {{.*}} -> (vector<16xf32>, {{.*}}) {
// WIDE-COUNT-4:         vector.load %arg1
// WIDE:           scf.for %{{.*}} step %c2 {
// WIDE:           scf.for %{{.*}} step %c1 {
#a = affine_map<(m, p, l, k) -> (m, k)>
#p = affine_map<(m, p, l, k) -> (p, k, l)>
#c16 = affine_map<(m, p, l, k) -> (m, p * 16 + l)>
func.func @panels(%a: memref<?x64xf32>, %w: memref<4x64x16xf32, strided<[1024, 16, 1], offset: ?>>,
                  %c: memref<?x64xf32>) {
  linalg.generic {indexing_maps = [#a, #p, #c16],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %w : memref<?x64xf32>, memref<4x64x16xf32, strided<[1024, 16, 1], offset: ?>>)
      outs(%c : memref<?x64xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %m = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// bf16 panels with 256-bit vectors: each panel vector widened to f32 as it is loaded;
// 6 rows x 2 vectors in the main blocks.
// CHECK-LABEL: func.func @bf16_panels
// CHECK:         scf.for %{{.*}} step %c6 {
// CHECK:           scf.for {{.*}} -> (vector<8xf32>, {{.*}}) {
// CHECK:             %[[W:.*]] = vector.load %arg1{{.*}} : memref<8x64x8xbf16>, vector<8xbf16>
// CHECK:             arith.extf %[[W]] : vector<8xbf16> to vector<8xf32>
// CHECK-COUNT-12:    vector.fma
// WIDE-LABEL: func.func @bf16_panels
// WIDE:         linalg.generic
#a = affine_map<(m, p, l, k) -> (m, k)>
#p = affine_map<(m, p, l, k) -> (p, k, l)>
#c8 = affine_map<(m, p, l, k) -> (m, p * 8 + l)>
func.func @bf16_panels(%a: memref<?x64xf32>, %w: memref<8x64x8xbf16>, %c: memref<?x64xf32>) {
  linalg.generic {indexing_maps = [#a, #p, #c8],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %w : memref<?x64xf32>, memref<8x64x8xbf16>) outs(%c : memref<?x64xf32>) {
  ^bb0(%x: f32, %y: bf16, %acc: f32):
    %e = arith.extf %y : bf16 to f32
    %m = arith.mulf %x, %e : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A generic that is not `C += A x panels` (here C -= A x panels) is left as it is.
// CHECK-LABEL: func.func @not_a_product
// CHECK:         linalg.generic
#a = affine_map<(m, p, l, k) -> (m, k)>
#p = affine_map<(m, p, l, k) -> (p, k, l)>
#c8 = affine_map<(m, p, l, k) -> (m, p * 8 + l)>
func.func @not_a_product(%a: memref<?x64xf32>, %w: memref<8x64x8xf32>, %c: memref<?x64xf32>) {
  linalg.generic {indexing_maps = [#a, #p, #c8],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %w : memref<?x64xf32>, memref<8x64x8xf32>) outs(%c : memref<?x64xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %m = arith.mulf %x, %y : f32
    %s = arith.subf %acc, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A large weight inside a parallel loop (experts side by side): the kernel is serial.
// CHECK-LABEL: func.func @nested
// CHECK:       scf.forall
// CHECK-NOT:     scf.parallel
// CHECK:         vector.fma
func.func @nested(%a: memref<?x1024xf32>, %b: memref<4x1024x1024xf32>, %c: memref<?x1024xf32>) {
  scf.forall (%e) in (4) {
    %w = memref.subview %b[%e, 0, 0] [1, 1024, 1024] [1, 1, 1]
        : memref<4x1024x1024xf32> to memref<1024x1024xf32, strided<[1024, 1], offset: ?>>
    linalg.matmul_transpose_b ins(%a, %w : memref<?x1024xf32>, memref<1024x1024xf32, strided<[1024, 1], offset: ?>>)
                              outs(%c : memref<?x1024xf32>)
  }
  return
}
