// RUN: moe-opt %s --moe-parallelize-loops --split-input-file | FileCheck %s
// RUN: moe-opt %s --moe-parallelize-loops=min-elements=16 --split-input-file | FileCheck %s --check-prefix=SMALL
// RUN: moe-opt %s --moe-approximate-math --split-input-file | FileCheck %s --check-prefix=MATH
// RUN: moe-opt %s --moe-reassociate-reductions --split-input-file | FileCheck %s --check-prefix=REASSOC

// A large elementwise op: its leading parallel loops run on every thread, one row
// each; the innermost loop stays inside (LLVM vectorizes it).
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @large
// CHECK:       scf.parallel (%[[I:.*]], %[[J:.*]]) = (%c0{{.*}}, %c0{{.*}}) to (%c8, %c64) step (%c1{{.*}}, %c1{{.*}}) {
// CHECK:         %[[IN:.*]] = memref.subview %{{.*}}[%[[I]], %[[J]], 0] [1, 1, 1024] [1, 1, 1]
// CHECK:         %[[OUT:.*]] = memref.subview %{{.*}}[%[[I]], %[[J]], 0] [1, 1, 1024] [1, 1, 1]
// CHECK:         linalg.generic {{.*}} ins(%[[IN]] : {{.*}}) outs(%[[OUT]] : {{.*}})
// CHECK:           math.exp
func.func @large(%x: memref<8x64x1024xf32>, %y: memref<8x64x1024xf32>) {
  linalg.generic {indexing_maps = [#id3, #id3],
                  iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x : memref<8x64x1024xf32>) outs(%y : memref<8x64x1024xf32>) {
  ^bb0(%a: f32, %b: f32):
    %e = math.exp %a : f32
    linalg.yield %e : f32
  }
  return
}

// -----

// Dynamic sizes: the points counted at run time; a small call runs the serial op.
// A reduction over the innermost loop (softmax's max) stays in each row.
#in = affine_map<(d0, d1) -> (d0, d1)>
#out = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @rows
// CHECK:       %[[N:.*]] = arith.muli %{{.*}}, %{{.*}} : index
// CHECK-NEXT:  %c32768 = arith.constant 32768 : index
// CHECK-NEXT:  %[[BIG:.*]] = arith.cmpi uge, %[[N]], %c32768
// CHECK:       scf.if %[[BIG]] {
// CHECK:         scf.parallel (%{{.*}}) = (%c0{{.*}}) to (%{{.*}}) step (%c1{{.*}}) {
// CHECK:           linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK:       } else {
// CHECK:         linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}} ins(%arg0 : memref<?x?xf32>)
func.func @rows(%x: memref<?x?xf32>, %m: memref<?xf32>) {
  linalg.generic {indexing_maps = [#in, #out], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<?x?xf32>) outs(%m : memref<?xf32>) {
  ^bb0(%a: f32, %b: f32):
    %r = arith.maximumf %a, %b : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// Left serial: too few points, a single loop, a leading reduction, an op in a
// parallel loop already.
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#id1 = affine_map<(d0) -> (d0)>
#col = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @serial
// CHECK-NOT:   scf.parallel
// CHECK-NOT:   scf.if
// SMALL-LABEL: func.func @serial
// SMALL:       scf.parallel (%{{.*}}) = (%c0{{.*}}) to (%c4) step (%c1{{.*}})
// SMALL-NOT:   scf.parallel
// SMALL:       return
func.func @serial(%x: memref<4x8xf32>, %y: memref<4x8xf32>, %v: memref<100000xf32>,
                  %big: memref<512x512xf32>, %sum: memref<512xf32>) {
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x8xf32>) outs(%y : memref<4x8xf32>) {
  ^bb0(%a: f32, %b: f32):
    linalg.yield %a : f32
  }
  linalg.generic {indexing_maps = [#id1, #id1], iterator_types = ["parallel"]}
      ins(%v : memref<100000xf32>) outs(%v : memref<100000xf32>) {
  ^bb0(%a: f32, %b: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  }
  linalg.generic {indexing_maps = [#id2, #col], iterator_types = ["reduction", "parallel"]}
      ins(%big : memref<512x512xf32>) outs(%sum : memref<512xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  }
  scf.forall (%e) in (4) {
    linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
        ins(%big : memref<512x512xf32>) outs(%big : memref<512x512xf32>) {
    ^bb0(%a: f32, %b: f32):
      %n = arith.negf %a : f32
      linalg.yield %n : f32
    }
  }
  return
}

// -----

// f32 exp, tanh and erf become arithmetic; sine and cosine stay calls, and so does
// f64.
// MATH-LABEL: func.func @math
// MATH-NOT:   math.exp
// MATH-NOT:   math.tanh
// MATH-NOT:   math.erf
// MATH:       math.sin %{{.*}} : f32
// MATH:       math.cos %{{.*}} : f32
// MATH:       math.exp %{{.*}} : f64
func.func @math(%x: f32, %d: f64) -> (f32, f32, f32, f32, f32, f64) {
  %e = math.exp %x : f32
  %t = math.tanh %x : f32
  %r = math.erf %x : f32
  %s = math.sin %x : f32
  %c = math.cos %x : f32
  %e64 = math.exp %d : f64
  return %e, %t, %r, %s, %c, %e64 : f32, f32, f32, f32, f32, f64
}

// -----

// A reduction's f32 sum or product of the running value may reassociate (LLVM then
// vectorizes it); a max, an f64 sum and an elementwise add are left as they are.
#in = affine_map<(d0, d1) -> (d0, d1)>
#out = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL:   func.func @reductions
// REASSOC-LABEL: func.func @reductions
// REASSOC:       arith.addf %{{.*}}, %{{.*}} fastmath<reassoc> : f32
// REASSOC:       arith.mulf %{{.*}}, %{{.*}} fastmath<reassoc> : f32
// REASSOC:       arith.maximumf %{{.*}}, %{{.*}} : f32
// REASSOC:       arith.addf %{{.*}}, %{{.*}} : f64
// REASSOC:       arith.addf %{{.*}}, %{{.*}} : f32
func.func @reductions(%x: memref<?x?xf32>, %s: memref<?xf32>, %x64: memref<?x?xf64>,
                      %s64: memref<?xf64>, %y: memref<?x?xf32>) {
  linalg.generic {indexing_maps = [#in, #out], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<?x?xf32>) outs(%s : memref<?xf32>) {
  ^bb0(%a: f32, %b: f32):
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#in, #out], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<?x?xf32>) outs(%s : memref<?xf32>) {
  ^bb0(%a: f32, %b: f32):
    %r = arith.mulf %b, %a : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#in, #out], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<?x?xf32>) outs(%s : memref<?xf32>) {
  ^bb0(%a: f32, %b: f32):
    %r = arith.maximumf %a, %b : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#in, #out], iterator_types = ["parallel", "reduction"]}
      ins(%x64 : memref<?x?xf64>) outs(%s64 : memref<?xf64>) {
  ^bb0(%a: f64, %b: f64):
    %r = arith.addf %a, %b : f64
    linalg.yield %r : f64
  }
  linalg.generic {indexing_maps = [#in, #in], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<?x?xf32>) outs(%y : memref<?x?xf32>) {
  ^bb0(%a: f32, %b: f32):
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  }
  return
}
