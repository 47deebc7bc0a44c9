// RUN: moe-opt %s --split-input-file --moe-gpu-launches-to-loops --verify-diagnostics | FileCheck %s

// A launch runs its body once per (block, thread): the grid's blocks in
// parallel (z, y, x), each announced to the runtime (moe_emu_api's slot 3), then
// loops over the block's threads, with the ids and sizes substituted.
// CHECK-LABEL: func.func @launch
// CHECK-SAME:    (%[[OUT:.*]]: memref<?xf32>, %[[BLOCKS:.*]]: index)
// CHECK:         scf.parallel (%{{.*}}, %{{.*}}, %[[BX:.*]]) = ({{.*}}) to (%{{.*}}, %{{.*}}, %[[BLOCKS]])
// CHECK:               llvm.getelementptr %{{.*}}[3]
// CHECK:               scf.for
// CHECK:                 scf.for
// CHECK:                   scf.for %[[TX:.*]] = %{{.*}} to %[[C256:.*]] step
// CHECK:                     %[[ROW:.*]] = arith.muli %[[BX]], %[[C256]]
// CHECK:                     %[[ID:.*]] = arith.addi %[[ROW]], %[[TX]]
// Each access is checked against its buffer's extents: in bounds it runs, past
// them it is a fault (moe_emu_api's slot 7) naming the dimension, index and extent.
// CHECK:                     %[[DIM:.*]] = memref.dim %[[OUT]], %c0
// CHECK:                     %[[OK:.*]] = arith.cmpi ult, %[[ID]], %[[DIM]]
// CHECK:                     scf.if %{{.*}} {
// CHECK-NEXT:                  memref.store %{{.*}}, %[[OUT]][%[[ID]]]
// CHECK-NEXT:                } else {
// CHECK:                       llvm.getelementptr %{{.*}}[7]
// CHECK:                       llvm.call
// CHECK-NOT:     gpu.launch
func.func @launch(%out: memref<?xf32>, %blocks: index) {
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  %v = arith.constant 2.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %blocks, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1) {
    %row = arith.muli %bx, %sx : index
    %id = arith.addi %row, %tx : index
    memref.store %v, %out[%id] : memref<?xf32>
    gpu.terminator
  }
  return
}

// -----

// The runtime's read-back becomes a copy in host memory.
// CHECK-LABEL: func.func private @moe_gpu_read
// CHECK-SAME:    (%[[DST:.*]]: index, %[[SRC:.*]]: index, %[[N:.*]]: index)
// CHECK:         %[[D:.*]] = llvm.inttoptr
// CHECK:         %[[S:.*]] = llvm.inttoptr
// CHECK:         "llvm.intr.memcpy"(%[[D]], %[[S]], %{{.*}}) <{isVolatile = false}>
func.func private @moe_gpu_read(index, index, index)

// -----

func.func @communicating(%a: i32, %b: i32) {
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    // expected-error @+1 {{'llvm.inline_asm' lets the threads of a kernel communicate in a way the CUDA emulator does not model}}
    %r = llvm.inline_asm "mov.b32 $0, $1;", "=r,r" %a : (i32) -> i32
    gpu.terminator
  }
  return
}
