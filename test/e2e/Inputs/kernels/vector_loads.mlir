// Each of 64 threads loads 4 floats at once (moe_gpu.load, one 16-byte
// ld.global.nc.v4) from element 4 t on and writes their sum.
func.func @main_graph(%in: memref<256xf32>) -> memref<64xf32> {
  %out = memref.alloc() : memref<64xf32>
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c64 = arith.constant 64 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %first = arith.muli %tx, %c4 : index
    %v = moe_gpu.load %in[%first] : memref<256xf32>, vector<4xf32>
    %sum = vector.reduction <add>, %v : vector<4xf32> into f32
    memref.store %sum, %out[%tx] : memref<64xf32>
    gpu.terminator
  }
  return %out : memref<64xf32>
}
