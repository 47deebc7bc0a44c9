// A block's sum of its row of 256 values, as the GPU kernels of the MoE
// issue reduce: staged through shared memory, halved three times between
// barriers, then one warp's butterfly shuffles. The lines marked "planted"
// are what the emulator's tests delete to plant a fault.
func.func @main_graph(%in: memref<4x256xf32>) -> memref<4xf32> {
  %out = memref.alloc() : memref<4xf32>
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c256 = arith.constant 256 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c4, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1)
             workgroup(%sh : memref<256xf32, #gpu.address_space<workgroup>>) {
    %c0 = arith.constant 0 : index
    %c3 = arith.constant 3 : index
    %c32 = arith.constant 32 : index
    %c128 = arith.constant 128 : index
    %v = memref.load %in[%bx, %tx] : memref<4x256xf32>
    memref.store %v, %sh[%tx] : memref<256xf32, #gpu.address_space<workgroup>> // planted: the first store
    gpu.barrier // planted: the first barrier
    scf.for %i = %c0 to %c3 step %c1 {
      %s = arith.shrui %c128, %i : index
      %active = arith.cmpi ult, %tx, %s : index
      scf.if %active {
        %o = arith.addi %tx, %s : index
        %a = memref.load %sh[%tx] : memref<256xf32, #gpu.address_space<workgroup>>
        %b = memref.load %sh[%o] : memref<256xf32, #gpu.address_space<workgroup>>
        %sum = arith.addf %a, %b : f32
        memref.store %sum, %sh[%tx] : memref<256xf32, #gpu.address_space<workgroup>>
      }
      gpu.barrier // planted: the loop's barrier
    }
    %lane = arith.remui %tx, %c32 : index
    %p = memref.load %sh[%lane] : memref<256xf32, #gpu.address_space<workgroup>>
    %width = arith.constant 32 : i32
    %c16i = arith.constant 16 : i32
    %c8i = arith.constant 8 : i32
    %c4i = arith.constant 4 : i32
    %c2i = arith.constant 2 : i32
    %c1i = arith.constant 1 : i32
    %r1, %v1 = gpu.shuffle xor %p, %c16i, %width : f32
    %p1 = arith.addf %p, %r1 : f32
    %r2, %v2 = gpu.shuffle xor %p1, %c8i, %width : f32
    %p2 = arith.addf %p1, %r2 : f32
    %r3, %v3 = gpu.shuffle xor %p2, %c4i, %width : f32
    %p3 = arith.addf %p2, %r3 : f32
    %r4, %v4 = gpu.shuffle xor %p3, %c2i, %width : f32
    %p4 = arith.addf %p3, %r4 : f32
    %r5, %v5 = gpu.shuffle xor %p4, %c1i, %width : f32
    %p5 = arith.addf %p4, %r5 : f32
    %first = arith.cmpi eq, %tx, %c0 : index
    scf.if %first {
      memref.store %p5, %out[%bx] : memref<4xf32>
    }
    gpu.terminator
  }
  return %out : memref<4xf32>
}
