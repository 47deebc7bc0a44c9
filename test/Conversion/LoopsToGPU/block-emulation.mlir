// RUN: moe-opt %s --split-input-file --moe-gpu-launches-to-loops --verify-diagnostics | FileCheck %s

// A kernel whose threads communicate runs a block at a time (the blocks in
// parallel), split at its barrier: the block's shared memory is a host buffer,
// its own, registered with the
// runtime as each block begins (moe_emu_api slots 3 and 4), every access to it
// goes past the runtime's shadow (slot 5), the threads run the part before the
// barrier, the barrier ends the shadow's interval (slot 6), then they run the rest.
// CHECK-LABEL: func.func @staged
// CHECK:         scf.parallel
// CHECK:               %[[SHARED:.*]] = memref.alloc() {alignment = 1024 : i64} : memref<64xf32>
// CHECK:               llvm.getelementptr %{{.*}}[3]
// CHECK:               llvm.getelementptr %{{.*}}[4]
// CHECK:               scf.for %[[T:.*]] = %{{.*}} to %c64
// CHECK:                 llvm.getelementptr %{{.*}}[5]
// CHECK:                 memref.store %{{.*}}, %[[SHARED]][%[[T]]] : memref<64xf32>
// CHECK:               llvm.getelementptr %{{.*}}[6]
// CHECK:               scf.for %[[U:.*]] = %{{.*}} to %c64
// CHECK:                 memref.load %[[SHARED]]
// CHECK:         memref.dealloc %[[SHARED]]
// CHECK-NOT:     address_space<workgroup>
func.func @staged(%out: memref<64xf32>) {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1)
             workgroup(%sh : memref<64xf32, #gpu.address_space<workgroup>>) {
    %c63 = arith.constant 63 : index
    %f = arith.index_cast %tx : index to i32
    %v = arith.sitofp %f : i32 to f32
    memref.store %v, %sh[%tx] : memref<64xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %other = arith.subi %c63, %tx : index
    %w = memref.load %sh[%other] : memref<64xf32, #gpu.address_space<workgroup>>
    memref.store %w, %out[%tx] : memref<64xf32>
    gpu.terminator
  }
  return
}

// -----

// A shuffle is one call of the runtime's shfl.sync (slot 2) per warp, on its
// lanes' values; a conditional that holds a barrier runs once for the block on
// thread 0's condition, each other thread that disagrees a fault (slot 7).
// CHECK-LABEL: func.func @collectives
// CHECK:         scf.for %{{.*}} = %c0{{.*}} to %c2{{.*}} step
// CHECK:           scf.for %{{.*}} = %c0{{.*}} to %{{.*}} step
// CHECK:             memref.store
// CHECK:           llvm.getelementptr %{{.*}}[2]
// CHECK:           llvm.call %{{.*}}(%{{.*}}) : !llvm.ptr, (i32, i32, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr) -> i32
// CHECK:         %[[THEIRS:.*]] = memref.load %{{.*}}[%c0] : memref<64xi1>
// CHECK:         scf.for %[[T:.*]] = %c0{{.*}} to %c64
// CHECK:           %[[OTHER:.*]] = arith.cmpi ne, %[[T]], %c0 : index
// CHECK:           scf.if %[[OTHER]]
// CHECK:             arith.cmpi ne, %{{.*}}, %[[THEIRS]] : i1
// CHECK:             scf.if
// CHECK:               llvm.getelementptr %{{.*}}[7]
// CHECK:         scf.if
// CHECK:           llvm.getelementptr %{{.*}}[6]
func.func @collectives(%out: memref<64xf32>, %in: memref<64xf32>) {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %c16 = arith.constant 16 : index
    %width = arith.constant 32 : i32
    %one = arith.constant 1 : i32
    %v = memref.load %in[%tx] : memref<64xf32>
    %r, %valid = gpu.shuffle down %v, %one, %width : f32
    %few = arith.cmpi ult, %tx, %c16 : index
    scf.if %few {
      gpu.barrier
    }
    memref.store %r, %out[%tx] : memref<64xf32>
    gpu.terminator
  }
  return
}

// -----

func.func @dynamic_block(%n: index) {
  %c1 = arith.constant 1 : index
  // expected-error @+1 {{the CUDA emulator runs kernels whose threads communicate with a static block size}}
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %n, %sy = %c1, %sz = %c1) {
    gpu.barrier
    gpu.terminator
  }
  return
}

// -----

func.func @too_many_threads() {
  %c1 = arith.constant 1 : index
  %c2048 = arith.constant 2048 : index
  // expected-error @+1 {{a block of 2048 threads: CUDA allows at most 1024}}
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c2048, %sy = %c1, %sz = %c1) {
    gpu.barrier
    gpu.terminator
  }
  return
}

// -----

func.func @barrier_in_while(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
    // expected-error @+1 {{the CUDA emulator runs collective operations at the top of a kernel, in scf.for and in scf.if, not under 'scf.while'}}
    %r = scf.while (%i = %c0) : (index) -> index {
      %more = arith.cmpi ult, %i, %n : index
      scf.condition(%more) %i : index
    } do {
    ^bb0(%i: index):
      gpu.barrier
      %next = arith.addi %i, %c1 : index
      scf.yield %next : index
    }
    gpu.terminator
  }
  return
}
