// One block streams A [4, 256] (f32) through two shared stages by bulk copies:
// thread 0 initialises an mbarrier per stage for one arrival, and for each row
// arrives on its stage's barrier expecting the row's 1024 bytes and issues the
// row's bulk copy, which completes them; every thread waits for the phase (its
// parity flips each time a stage comes round again), reads two elements and
// writes twice them; a barrier ends each step, so that a stage is refilled
// only after every thread has read it.
!tile = memref<2x256xf32, #gpu.address_space<workgroup>>
!bars = memref<2xi64, #gpu.address_space<workgroup>>
func.func @main_graph(%a: memref<4x256xf32>) -> memref<4x256xf32> {
  %out = memref.alloc() : memref<4x256xf32>
  %c1 = arith.constant 1 : index
  %c128 = arith.constant 128 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c128, %sy = %c1, %sz = %c1)
             workgroup(%sh : !tile, %bars : !bars) {
    %c0 = arith.constant 0 : index
    %c2 = arith.constant 2 : index
    %c4 = arith.constant 4 : index
    %two = arith.constant 2.0 : f32
    %waiters = arith.constant 128 : index // planted: who waits
    %first = arith.cmpi eq, %tx, %c0 : index
    scf.if %first {
      moe_gpu.mbarrier_init %bars[%c0], 1 : !bars
      moe_gpu.mbarrier_init %bars[%c1], 1 : !bars
    }
    gpu.barrier
    scf.for %t = %c0 to %c4 step %c1 {
      %s = arith.remui %t, %c2 : index
      %round = arith.divui %t, %c2 : index
      %parity = arith.remui %round, %c2 : index
      scf.if %first {
        moe_gpu.mbarrier_arrive %bars[%s] {tx_bytes = 1024 : i64} : !bars // planted: the bytes
        moe_gpu.bulk_copy %sh[%s, %c0], %a[%t, %c0], %bars[%s] {bytes = 1024 : i64}
            : !tile, memref<4x256xf32>, !bars
      }
      %waits = arith.cmpi ult, %tx, %waiters : index
      scf.if %waits {
        moe_gpu.mbarrier_wait %bars[%s], %parity : !bars // planted: the wait
      }
      %j = arith.addi %tx, %c128 : index
      %v0 = memref.load %sh[%s, %tx] : !tile
      %v1 = memref.load %sh[%s, %j] : !tile
      %w0 = arith.mulf %v0, %two : f32
      %w1 = arith.mulf %v1, %two : f32
      memref.store %w0, %out[%t, %tx] : memref<4x256xf32>
      memref.store %w1, %out[%t, %j] : memref<4x256xf32>
      gpu.barrier
    }
    gpu.terminator
  }
  return %out : memref<4x256xf32>
}
