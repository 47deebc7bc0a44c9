// Two constants, which the artifact keeps in its weights file (each a view at
// its own offset of the uploaded buffer), each copied into shared memory by
// cp.async in its own kernel (a 4-byte copy per thread) and written out:
// out_a[i] = a[i], out_b[i] = b[i].
memref.global "private" constant @a : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>
memref.global "private" constant @b : memref<4xf32> = dense<[5.0, 6.0, 7.0, 8.0]>
func.func @main_graph(%in: memref<4xf32>) -> (memref<4xf32>, memref<4xf32>) {
  %out_a = memref.alloc() : memref<4xf32>
  %out_b = memref.alloc() : memref<4xf32>
  %ga = memref.get_global @a : memref<4xf32>
  %gb = memref.get_global @b : memref<4xf32>
  // Through a cast to a layout with a dynamic offset, as kernels take weights.
  %cb = memref.cast %gb : memref<4xf32> to memref<4xf32, strided<[1], offset: ?>>
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c4, %sy = %c1, %sz = %c1)
             workgroup(%sh : memref<4xf32, #gpu.address_space<workgroup>>) {
    %copy = nvgpu.device_async_copy %ga[%tx], %sh[%tx], 1 : memref<4xf32> to memref<4xf32, #gpu.address_space<workgroup>>
    %group = nvgpu.device_async_create_group %copy
    nvgpu.device_async_wait %group {numGroups = 0 : i32}
    gpu.barrier
    %v = memref.load %sh[%tx] : memref<4xf32, #gpu.address_space<workgroup>>
    memref.store %v, %out_a[%tx] : memref<4xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c4, %sy = %c1, %sz = %c1)
             workgroup(%sh : memref<4xf32, #gpu.address_space<workgroup>>) {
    %copy = nvgpu.device_async_copy %cb[%tx], %sh[%tx], 1 : memref<4xf32, strided<[1], offset: ?>> to memref<4xf32, #gpu.address_space<workgroup>>
    %group = nvgpu.device_async_create_group %copy
    nvgpu.device_async_wait %group {numGroups = 0 : i32}
    gpu.barrier
    %v = memref.load %sh[%tx] : memref<4xf32, #gpu.address_space<workgroup>>
    memref.store %v, %out_b[%tx] : memref<4xf32>
    gpu.terminator
  }
  return %out_a, %out_b : memref<4xf32>, memref<4xf32>
}
