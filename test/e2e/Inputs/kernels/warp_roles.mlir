// A producer warp and a consumer warp, synchronised by mbarriers alone: the
// producer (threads 0-31) copies the 8 rows of A [8, 32] through two shared
// stages, waiting for a stage to be empty (from the third row on) and
// arriving on its full barrier; the consumer (threads 32-63) waits for a
// stage to be full, writes twice the row reversed (each lane reads another
// lane's element) and arrives on its empty barrier. Neither role waits at a
// block barrier inside the loop, so the producer runs up to two rows ahead.
!tile = memref<2x32xf32, #gpu.address_space<workgroup>>
!bars = memref<4xi64, #gpu.address_space<workgroup>>
func.func @main_graph(%a: memref<8x32xf32>) -> memref<8x32xf32> {
  %out = memref.alloc() : memref<8x32xf32>
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1)
             workgroup(%sh : !tile, %bars : !bars) {
    %c0 = arith.constant 0 : index
    %c2 = arith.constant 2 : index
    %c8 = arith.constant 8 : index
    %c31 = arith.constant 31 : index
    %c32 = arith.constant 32 : index
    %two = arith.constant 2.0 : f32
    %first = arith.cmpi eq, %tx, %c0 : index
    // full[s] = bars[s], empty[s] = bars[2 + s], 32 arrivals a phase each.
    scf.if %first {
      scf.for %i = %c0 to %c2 step %c1 {
        %e = arith.addi %i, %c2 : index
        moe_gpu.mbarrier_init %bars[%i], 32 : !bars
        moe_gpu.mbarrier_init %bars[%e], 32 : !bars
      }
    }
    gpu.barrier
    %producer = arith.cmpi ult, %tx, %c32 : index
    scf.if %producer {
      scf.for %t = %c0 to %c8 step %c1 {
        %s = arith.remui %t, %c2 : index
        %e = arith.addi %s, %c2 : index
        %round = arith.divui %t, %c2 : index
        %again = arith.cmpi uge, %t, %c2 : index
        scf.if %again {
          // The consumer's (round - 1)-th release of the stage.
          %back = arith.subi %round, %c1 : index
          %parity = arith.remui %back, %c2 : index
          moe_gpu.mbarrier_wait %bars[%e], %parity : !bars // planted: the producer's wait
        }
        %v = memref.load %a[%t, %tx] : memref<8x32xf32>
        memref.store %v, %sh[%s, %tx] : !tile
        moe_gpu.mbarrier_arrive %bars[%s] : !bars
      }
    } else {
      %lane = arith.subi %tx, %c32 : index
      %mirror = arith.subi %c31, %lane : index
      scf.for %t = %c0 to %c8 step %c1 {
        %s = arith.remui %t, %c2 : index
        %e = arith.addi %s, %c2 : index
        %round = arith.divui %t, %c2 : index
        %parity = arith.remui %round, %c2 : index
        moe_gpu.mbarrier_wait %bars[%s], %parity : !bars // planted: the consumer's wait
        %v = memref.load %sh[%s, %mirror] : !tile
        %w = arith.mulf %v, %two : f32
        memref.store %w, %out[%t, %lane] : memref<8x32xf32>
        moe_gpu.mbarrier_arrive %bars[%e] : !bars // planted: the release
      }
    } {moe_gpu.roles}
    gpu.terminator
  }
  return %out : memref<8x32xf32>
}
