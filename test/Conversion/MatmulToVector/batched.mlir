// RUN: moe-opt %s --moe-vectorize-matmuls --split-input-file | FileCheck %s
// RUN: moe-opt %s --moe-vectorize-matmuls=vector-bits=512 --split-input-file | FileCheck %s --check-prefix=WIDE

// Products of two run-time operands (attention's scores Q x K^T and values P x V):
// the broadcast-FMA kernel reads B's rows where they are. Batches x chunks of rows
// run in parallel; the zero fill of C goes (the blocks start from zero); columns past
// the last whole vector of a dynamic N go through scalar loops.
#a = affine_map<(b, m, n, k) -> (b, m, k)>
#b = affine_map<(b, m, n, k) -> (b, k, n)>
#c = affine_map<(b, m, n, k) -> (b, m, n)>
// CHECK-LABEL: func.func @scores
// CHECK-NOT:   linalg.fill
// CHECK:       %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<8xf32>
// Counted at run time, a product of fewer than 2^18 multiply-adds runs serially.
// CHECK:       %[[LARGE:.*]] = arith.cmpi uge, %{{.*}}, %c262144 : index
// CHECK:       scf.if %[[LARGE]] {
// CHECK:       scf.parallel (%[[B:.*]], %[[CHUNK:.*]]) = (%c0, %c0) to (%c8, %{{.*}}) step (%c1, %c1) {
// CHECK:         %[[ROW0:.*]] = arith.muli %[[CHUNK]], %c96
// CHECK:         scf.for %[[VB:.*]] = %c0 to %{{.*}} step %c128 {
// CHECK:           scf.for %[[M:.*]] = %[[ROW0]] to %{{.*}} step %c6 {
// CHECK:             scf.for %[[V:.*]] = %[[VB]] to %{{.*}} step %c2 {
// CHECK:               scf.for %[[K:.*]] = %c0 to %c64 step %c1 iter_args(%{{.*}} = %[[ZERO]],
// CHECK:                 vector.load %{{.*}}[%[[B]], %[[K]], %{{.*}}] : memref<8x64x?xf32>, vector<8xf32>
// CHECK:                 memref.load %{{.*}}[%[[B]], %[[M]], %[[K]]] : memref<8x?x64xf32>
// CHECK-COUNT-12:        vector.fma
// CHECK-COUNT-12:      vector.store
// The vectors no 2-wide block covers, one at a time.
// CHECK:             scf.for %{{.*}} step %c1 {
// CHECK:               scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// Leftover rows: 4, 2, 1 at a time.
// CHECK:           scf.for %{{.*}} step %c4 {
// CHECK:           scf.for %{{.*}} step %c2 {
// CHECK:           scf.for %{{.*}} step %c1 {
// The columns past the last whole vector.
// CHECK:         scf.for %[[R:.*]] = %[[ROW0]] to %{{.*}} step %c1 {
// CHECK:           scf.for %[[N:.*]] = %{{.*}} to %{{.*}} step %c1 {
// CHECK:             scf.for %{{.*}} = %c0 to %c64 step %c1 iter_args(%{{.*}} = %cst) -> (f32) {
// CHECK:               arith.mulf
// CHECK:               arith.addf
// CHECK:             memref.store %{{.*}}, %{{.*}}[%[[B]], %[[R]], %[[N]]]
// CHECK:       } else {
// CHECK-NEXT:    scf.for %{{.*}} = %c0 to %c8 step %c1 {
// CHECK-NEXT:      scf.for %{{.*}} = %c0 to %{{.*}} step %c1 {
// CHECK:             vector.fma
// WIDE-LABEL:  func.func @scores
// WIDE:        scf.parallel
// WIDE:          arith.muli %{{.*}}, %c96
// WIDE:          scf.for %{{.*}} step %c64 {
// WIDE:            scf.for %{{.*}} step %c6 {
// WIDE:              scf.for %{{.*}} step %c4 {
// WIDE:                scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>,
// WIDE-COUNT-24:         vector.fma {{.*}} : vector<16xf32>
func.func @scores(%q: memref<8x?x64xf32>, %k: memref<8x64x?xf32>, %s: memref<8x?x?xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%s : memref<8x?x?xf32>)
  linalg.generic {indexing_maps = [#a, #b, #c],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : memref<8x?x64xf32>, memref<8x64x?xf32>) outs(%s : memref<8x?x?xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// A static N of whole vectors (P x V, head dim 64): no scalar columns; C is not
// filled here, so the blocks start from what it holds. A's batch dimension
// broadcasts (index 0).
#a = affine_map<(b, m, n, k) -> (0, m, k)>
#b = affine_map<(b, m, n, k) -> (b, k, n)>
#c = affine_map<(b, m, n, k) -> (b, m, n)>
// CHECK-LABEL: func.func @values
// CHECK:       scf.parallel (%[[B:.*]], %{{.*}}) = (%c0, %c0) to (%c4, %{{.*}})
// CHECK:         scf.for %{{.*}} = %[[M:.*]] to %{{.*}} step %c6 {
// CHECK:           vector.load %{{.*}} : memref<4x?x64xf32>, vector<8xf32>
// CHECK:           scf.for %[[K:.*]] = %c0 to %{{.*}} step %c1 iter_args(
// CHECK:             vector.load %{{.*}}[%[[B]], %[[K]], %{{.*}}] : memref<4x?x64xf32>, vector<8xf32>
// CHECK:             memref.load %{{.*}}[%c0, %{{.*}}, %[[K]]] : memref<1x?x?xf32>
// CHECK-NOT:   arith.mulf
// CHECK:       return
func.func @values(%p: memref<1x?x?xf32>, %v: memref<4x?x64xf32>, %o: memref<4x?x64xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : memref<1x?x?xf32>, memref<4x?x64xf32>) outs(%o : memref<4x?x64xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %m = arith.mulf %x, %y : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// A plain matmul of run-time operands, in a parallel loop already: serial loops.
#a = affine_map<(m, n, k) -> (m, k)>
#b = affine_map<(m, n, k) -> (k, n)>
#c = affine_map<(m, n, k) -> (m, n)>
// CHECK-LABEL: func.func @nested
// CHECK:       scf.forall
// CHECK-NOT:     scf.parallel
// CHECK:         scf.for
// CHECK:           vector.fma
func.func @nested(%a: memref<4x?x32xf32>, %b: memref<4x32x64xf32>, %c: memref<4x?x64xf32>) {
  scf.forall (%e) in (4) {
    %sa = memref.subview %a[%e, 0, 0] [1, 7, 32] [1, 1, 1] : memref<4x?x32xf32> to memref<7x32xf32, strided<[32, 1], offset: ?>>
    %sb = memref.subview %b[%e, 0, 0] [1, 32, 64] [1, 1, 1] : memref<4x32x64xf32> to memref<32x64xf32, strided<[64, 1], offset: ?>>
    %sc = memref.subview %c[%e, 0, 0] [1, 7, 64] [1, 1, 1] : memref<4x?x64xf32> to memref<7x64xf32, strided<[64, 1], offset: ?>>
    linalg.generic {indexing_maps = [#a, #b, #c],
                    iterator_types = ["parallel", "parallel", "reduction"]}
        ins(%sa, %sb : memref<7x32xf32, strided<[32, 1], offset: ?>>, memref<32x64xf32, strided<[64, 1], offset: ?>>)
        outs(%sc : memref<7x64xf32, strided<[64, 1], offset: ?>>) {
    ^bb0(%x: f32, %y: f32, %acc: f32):
      %m = arith.mulf %x, %y : f32
      %r = arith.addf %acc, %m : f32
      linalg.yield %r : f32
    }
  }
  return
}

// -----

// Left as they are: B contiguous along K (B^T), f64, a fill with a write between
// it and the product (kept, and C loaded).
#a = affine_map<(m, n, k) -> (m, k)>
#bt = affine_map<(m, n, k) -> (n, k)>
#b = affine_map<(m, n, k) -> (k, n)>
#c = affine_map<(m, n, k) -> (m, n)>
// CHECK-LABEL: func.func @left
// CHECK:       linalg.generic
// CHECK:       linalg.generic
// CHECK:       linalg.fill
// CHECK:       memref.store
// CHECK:       vector.load %{{.*}} : memref<?x64xf32>, vector<8xf32>
// CHECK:       vector.fma
func.func @left(%a: memref<?x32xf32>, %b: memref<64x32xf32>, %c: memref<?x64xf32>,
                %a64: memref<?x32xf64>, %b64: memref<32x64xf64>, %c64: memref<?x64xf64>,
                %w: memref<32x64xf32>) {
  linalg.generic {indexing_maps = [#a, #bt, #c],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<?x32xf32>, memref<64x32xf32>) outs(%c : memref<?x64xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %m = arith.mulf %x, %y : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#a, #b, #c],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a64, %b64 : memref<?x32xf64>, memref<32x64xf64>) outs(%c64 : memref<?x64xf64>) {
  ^bb0(%x: f64, %y: f64, %acc: f64):
    %m = arith.mulf %x, %y : f64
    %r = arith.addf %acc, %m : f64
    linalg.yield %r : f64
  }
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %c0 = arith.constant 0 : index
  linalg.fill ins(%zero : f32) outs(%c : memref<?x64xf32>)
  memref.store %one, %c[%c0, %c0] : memref<?x64xf32>
  linalg.generic {indexing_maps = [#a, #b, #c],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : memref<?x32xf32>, memref<32x64xf32>) outs(%c : memref<?x64xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %m = arith.mulf %x, %y : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  }
  return
}
