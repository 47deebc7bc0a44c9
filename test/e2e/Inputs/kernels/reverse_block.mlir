// A block of the most threads CUDA allows, 1024, reverses its row through
// shared memory: out[b, t] = in[b, 1023 - t].
func.func @main_graph(%in: memref<2x1024xf32>) -> memref<2x1024xf32> {
  %out = memref.alloc() : memref<2x1024xf32>
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c1024 = arith.constant 1024 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c2, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1024, %sy = %c1, %sz = %c1)
             workgroup(%sh : memref<1024xf32, #gpu.address_space<workgroup>>) {
    %c1023 = arith.constant 1023 : index
    %v = memref.load %in[%bx, %tx] : memref<2x1024xf32>
    memref.store %v, %sh[%tx] : memref<1024xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %mirror = arith.subi %c1023, %tx : index
    %w = memref.load %sh[%mirror] : memref<1024xf32, #gpu.address_space<workgroup>>
    memref.store %w, %out[%bx, %tx] : memref<2x1024xf32>
    gpu.terminator
  }
  return %out : memref<2x1024xf32>
}
