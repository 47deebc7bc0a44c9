// Each of 64 threads copies 16 bytes (4 floats) of the input to shared memory
// with cp.async, commits and waits for its group, then after a barrier reads
// its neighbour's four: out[4 t + k] = in[(4 t + k + 4) mod 256].
func.func @main_graph(%in: memref<256xf32>) -> memref<256xf32> {
  %out = memref.alloc() : memref<256xf32>
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1)
             workgroup(%sh : memref<256xf32, #gpu.address_space<workgroup>>) {
    %c0 = arith.constant 0 : index
    %c4 = arith.constant 4 : index
    %c256 = arith.constant 256 : index
    %base = arith.muli %tx, %c4 : index
    %copy = nvgpu.device_async_copy %in[%base], %sh[%base], 4 : memref<256xf32> to memref<256xf32, #gpu.address_space<workgroup>>
    %group = nvgpu.device_async_create_group %copy
    nvgpu.device_async_wait %group {numGroups = 0 : i32} // planted: the wait
    gpu.barrier
    scf.for %k = %c0 to %c4 step %c1 {
      %i = arith.addi %base, %k : index
      %j = arith.addi %i, %c4 : index
      %wrapped = arith.remui %j, %c256 : index
      %v = memref.load %sh[%wrapped] : memref<256xf32, #gpu.address_space<workgroup>>
      memref.store %v, %out[%i] : memref<256xf32>
    }
    gpu.terminator
  }
  return %out : memref<256xf32>
}
