// RUN: moe-opt %s --split-input-file --moe-offload-to-gpu --verify-diagnostics | FileCheck %s

// A parallel loop becomes one thread per iteration, in blocks of 256, over the
// linearised iteration space; threads past its end do nothing.
// CHECK-LABEL: func.func @parallel
// CHECK:         arith.ceildivsi
// CHECK:         arith.maxsi
// CHECK:         arith.ceildivsi
// CHECK:         %[[TRIP1:.*]] = arith.maxsi
// CHECK:         %[[TOTAL:.*]] = arith.muli %{{.*}}, %[[TRIP1]]
// CHECK:         %[[C256:.*]] = arith.constant 256 : index
// CHECK:         %[[BLOCKS:.*]] = arith.ceildivsi %[[TOTAL]], %[[C256]]
// CHECK:         gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[BLOCKS]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C256]],
// CHECK:           %[[ID:.*]] = arith.addi %{{.*}}, %[[TX]]
// CHECK:           %[[IN:.*]] = arith.cmpi slt, %[[ID]], %[[TOTAL]]
// CHECK:           scf.if %[[IN]]
// CHECK:             %[[J:.*]] = arith.remsi %[[ID]], %[[TRIP1]]
// CHECK:             %[[I:.*]] = arith.divsi %[[ID]], %[[TRIP1]]
// CHECK:             memref.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}]
// CHECK-NOT:     scf.parallel
func.func @parallel(%out: memref<?x8xf32>, %n: index, %v: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c8) step (%c1, %c1) {
    memref.store %v, %out[%i, %j] : memref<?x8xf32>
    scf.reduce
  }
  return
}

// -----

// A serial loop that touches memory runs on one thread; a host load (here a
// loop bound) reads the element back from device memory.
// CHECK-LABEL: func.func @serial_and_readback
// CHECK:         %[[HOST:.*]] = memref.alloca() : memref<1xi32>
// CHECK:         gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %[[ONE:c1[_0-9]*]], {{.*}} threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %[[ONE]],
// CHECK:           scf.for
// CHECK:             memref.store
// CHECK:         %[[PTR:.*]] = memref.extract_aligned_pointer_as_index %{{.*}} : memref<4xi32>
// CHECK:         %[[ADDR:.*]] = arith.addi %[[PTR]]
// CHECK:         %[[DST:.*]] = memref.extract_aligned_pointer_as_index %[[HOST]]
// CHECK:         call @moe_gpu_read(%[[DST]], %[[ADDR]], %{{.*}}) : (index, index, index) -> ()
// CHECK:         %[[COUNT:.*]] = memref.load %[[HOST]][%{{.*}}] : memref<1xi32>
// CHECK:         arith.index_cast %[[COUNT]]
// CHECK:       func.func private @moe_gpu_read(index, index, index)
func.func @serial_and_readback(%counts: memref<4xi32>, %out: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %z = arith.constant 0 : i32
  scf.for %i = %c0 to %c4 step %c1 {
    memref.store %z, %counts[%i] : memref<4xi32>
  }
  %c2 = arith.constant 2 : index
  %n32 = memref.load %counts[%c2] : memref<4xi32>
  %n = arith.index_cast %n32 : i32 to index
  %v = arith.constant 1.0 : f32
  scf.for %i = %c0 to %n step %c1 {
    scf.parallel (%j) = (%c0) to (%c4) step (%c1) {
      memref.store %v, %out[%j] : memref<?xf32>
      scf.reduce
    }
  }
  return
}

// -----

// A loop that holds parallel loops stays on the host, and they launch from it.
// CHECK-LABEL: func.func @host_loop
// CHECK:         scf.for
// CHECK:           gpu.launch
// CHECK:             memref.store
// CHECK:             gpu.terminator
// CHECK-NEXT:      }
// CHECK-NEXT:    }
// CHECK-NEXT:    return
func.func @host_loop(%out: memref<4x4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %v = arith.constant 1.0 : f32
  scf.for %i = %c0 to %c4 step %c1 {
    scf.parallel (%j) = (%c0) to (%c4) step (%c1) {
      memref.store %v, %out[%i, %j] : memref<4x4xf32>
      scf.reduce
    }
  }
  return
}

// -----

func.func @stack_buffer(%v: f32) {
  %c0 = arith.constant 0 : index
  // expected-error @+1 {{a buffer on the host stack cannot be reached by GPU kernels; allocate it with memref.alloc}}
  %a = memref.alloca() : memref<4xf32>
  memref.store %v, %a[%c0] : memref<4xf32>
  return
}

// -----

func.func @allocation_in_kernel(%out: memref<?x4xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    // expected-error @+1 {{a buffer allocated inside work that runs on the GPU; the CUDA target needs it allocated outside the loop}}
    %a = memref.alloc() : memref<4xf32>
    memref.dealloc %a : memref<4xf32>
    scf.reduce
  }
  return
}

// -----

// A loop whose iterations are marked independent (routing's per-token loop) runs
// one iteration per thread, like a parallel loop.
// CHECK-LABEL: func.func @independent
// CHECK:         %[[TRIP:.*]] = arith.maxsi
// CHECK:         gpu.launch
// CHECK:           %[[ID:.*]] = arith.addi
// CHECK:           scf.if
// CHECK:             %[[T:.*]] = arith.addi %{{.*}}, %{{.*}} : index
// CHECK:             scf.for %{{.*}} = %{{.*}} to %{{.*}} step
// CHECK:               memref.store %{{.*}}, %{{.*}}[%[[T]], %{{.*}}]
// CHECK-NOT:     moe.independent_iterations
func.func @independent(%out: memref<?x8xf32>, %n: index, %v: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  scf.for %t = %c0 to %n step %c1 {
    scf.for %c = %c0 to %c8 step %c1 {
      memref.store %v, %out[%t, %c] : memref<?x8xf32>
    }
  } {moe.independent_iterations}
  return
}

// -----

// An expert loop reading the dispatch offsets, which nothing in it writes: the
// whole buffer is copied to the host once, before the loop.
// CHECK-LABEL: func.func @expert_loop
// CHECK:         %[[MIRROR:.*]] = memref.alloca() : memref<9xi32>
// CHECK:         %[[DST:.*]] = memref.extract_aligned_pointer_as_index %[[MIRROR]]
// CHECK:         %[[SRC:.*]] = memref.extract_aligned_pointer_as_index %[[OFFSETS:.*]] : memref<9xi32>
// CHECK:         call @moe_gpu_read(%[[DST]], %[[SRC]], %c36)
// CHECK-NEXT:    scf.for %[[E:.*]] =
// CHECK:           memref.load %[[MIRROR]][%[[E]]] : memref<9xi32>
// CHECK:           memref.load %[[MIRROR]][%{{.*}}] : memref<9xi32>
// CHECK-NOT:       moe_gpu_read
// CHECK:           gpu.launch
func.func @expert_loop(%rows: memref<?x4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %v = arith.constant 1.0 : f32
  %offsets = memref.alloc() : memref<9xi32>
  scf.for %e = %c0 to %c8 step %c1 {
    %lo32 = memref.load %offsets[%e] : memref<9xi32>
    %e1 = arith.addi %e, %c1 : index
    %hi32 = memref.load %offsets[%e1] : memref<9xi32>
    %lo = arith.index_cast %lo32 : i32 to index
    %hi = arith.index_cast %hi32 : i32 to index
    scf.parallel (%r, %h) = (%lo, %c0) to (%hi, %c4) step (%c1, %c1) {
      memref.store %v, %rows[%r, %h] : memref<?x4xf32>
      scf.reduce
    }
  }
  memref.dealloc %offsets : memref<9xi32>
  return
}

// -----

// A host load of a weight placed in the weights file (a memref.view at a byte
// shift) reads from the weights' address plus that shift.
// CHECK-LABEL: func.func @readback_of_view
// CHECK-SAME:    (%[[WEIGHTS:.*]]: memref<?xi8>,
// CHECK:         %[[SHIFT:.*]] = arith.constant 64 : index
// CHECK:         %[[BASE:.*]] = memref.extract_aligned_pointer_as_index %[[WEIGHTS]] : memref<?xi8>
// CHECK:         %[[START:.*]] = arith.addi %[[BASE]], %[[SHIFT]]
// CHECK:         %[[ADDR:.*]] = arith.addi %[[START]]
// CHECK:         call @moe_gpu_read(%{{.*}}, %[[ADDR]], %{{.*}})
func.func @readback_of_view(%weights: memref<?xi8>, %out: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %shift = arith.constant 64 : index
  %index = memref.view %weights[%shift][] : memref<?xi8> to memref<i64>
  %n64 = memref.load %index[] : memref<i64>
  %n = arith.index_cast %n64 : i64 to index
  %v = arith.constant 1.0 : f32
  scf.for %i = %c0 to %n step %c1 {
    memref.store %v, %out[%i] : memref<?xf32>
  }
  return
}
