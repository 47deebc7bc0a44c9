// Each thread copies its element one place on: the last thread writes past
// the end of the output.
func.func @main_graph(%in: memref<256xf32>) -> memref<256xf32> {
  %out = memref.alloc() : memref<256xf32>
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1) {
    %v = memref.load %in[%tx] : memref<256xf32>
    %next = arith.addi %tx, %c1 : index
    memref.store %v, %out[%next] : memref<256xf32>
    gpu.terminator
  }
  return %out : memref<256xf32>
}
