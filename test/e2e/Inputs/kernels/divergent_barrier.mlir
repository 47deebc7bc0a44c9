// Half a warp waits at a barrier the rest of the block never reaches.
func.func @main_graph(%in: memref<64xf32>) -> memref<64xf32> {
  %out = memref.alloc() : memref<64xf32>
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %c16 = arith.constant 16 : index
    %v = memref.load %in[%tx] : memref<64xf32>
    %few = arith.cmpi ult, %tx, %c16 : index
    scf.if %few {
      gpu.barrier
    }
    memref.store %v, %out[%tx] : memref<64xf32>
    gpu.terminator
  }
  return %out : memref<64xf32>
}
