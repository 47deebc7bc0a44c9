/*===- Emulator.h - the CUDA emulator's instruction semantics -----*- C -*-===*
 *
 * What the CUDA emulator runs for the GPU instructions a kernel executes
 * together with other threads, and for the conversions whose rounding the
 * hardware fixes. Each function is one instruction of one warp, its operands
 * given per lane as the PTX ISA defines them (fragment layouts in
 * moe/GPU/MmaLayout.h, which the compiler's kernels use too).
 *
 *===----------------------------------------------------------------------===*/

#ifndef MOE_RUNTIME_EMULATOR_H
#define MOE_RUNTIME_EMULATOR_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The 16-bit element types of mma.sync's A and B. */
typedef enum moe_emu_type {
  MOE_EMU_BF16 = 0,
  MOE_EMU_F16 = 1,
} moe_emu_type;

/* cvt.rn.bf16.f32 and cvt.rn.f16.f32: to nearest, ties to even; NaN stays a
 * (quiet) NaN, values past the largest finite one become infinities, f16's
 * subnormals are kept. */
uint16_t moe_emu_f32_to_bf16(float value);
uint16_t moe_emu_f32_to_f16(float value);
/* The exact f32 value of a bf16 or f16. */
float moe_emu_bf16_to_f32(uint16_t bits);
float moe_emu_f16_to_f32(uint16_t bits);

/* mma.sync.aligned.m16n8k16.row.col.f32.T.T.f32 d, a, b, c for one warp:
 * a[lane][0..3], b[lane][0..1] hold two T elements each (the first in the
 * low half), c[lane][0..3] and d[lane][0..3] one f32 each. Each element of D
 * is its row of A times its column of B plus C, the products exact and the
 * sum of the 16 products and C rounded once to f32 (the hardware's
 * accumulation order is not specified; it may differ in the last bit). d may
 * alias c. */
void moe_emu_mma_m16n8k16(moe_emu_type type, const uint32_t a[32][4],
                          const uint32_t b[32][2], const float c[32][4],
                          float d[32][4]);
/* The same for m16n8k8: a[lane][0..1], b[lane][0]. */
void moe_emu_mma_m16n8k8(moe_emu_type type, const uint32_t a[32][2],
                         const uint32_t b[32][1], const float c[32][4],
                         float d[32][4]);


/* mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.T.T.f32 d, a,
 * b, c, e, f for one warp (moe/GPU/MmaLayout.h, MmaSpM16N8K32): a holds the
 * 2:4-compressed A, b[lane][0..3] B, e[lane] the metadata and f the
 * selector (0 or 1). D is the dense A (zeros where the metadata puts none)
 * times B plus C, rounded as moe_emu_mma_m16n8k16 rounds. Returns -1, or
 * the first lane whose metadata nibble is not an increasing pair (which the
 * ISA leaves undefined), or 32 for a selector other than 0 or 1. */
int moe_emu_mma_sp_m16n8k32(moe_emu_type type, const uint32_t a[32][4],
                            const uint32_t b[32][4], const float c[32][4],
                            const uint32_t e[32], int selector,
                            float d[32][4]);

/* wgmma.mma_async.sync.aligned.m64n<n>k16.f32.T.T d, a-desc|a, b-desc,
 * scale-d, imm-scale-a, imm-scale-b, imm-trans-a, imm-trans-b for one
 * warpgroup (128 threads), n a multiple of 8 up to 256. `shared` is the
 * block's shared memory, where descriptors' addresses point (moe/GPU/
 * MmaLayout.h, WgmmaDescriptor); A comes from desc_a, or from a_regs
 * (a_regs[thread * 4 + r], m16n8k16's A layout per warp) when a_regs is not
 * null. d[thread * n / 2 + i] is register i of a thread (WgmmaM64NK16);
 * scale_d 0 drops D's old value; scale_a / scale_b (1 or -1) negate A or B;
 * trans_a / trans_b pick the MN-major layout. Returns -1, or 0 for an
 * operand the ISA does not allow (n, a base offset other than 0, an
 * address past shared_bytes). */
int moe_emu_wgmma_m64nNk16(moe_emu_type type, int n, const uint8_t *shared,
                           uint32_t shared_bytes, uint64_t desc_a,
                           const uint32_t *a_regs, uint64_t desc_b,
                           int scale_d, int scale_a, int scale_b, int trans_a,
                           int trans_b, float *d);

/*===-- Warp-wide data exchange ------------------------------------------===*/

/* The lanes of one warp that execute a .sync instruction are `membermask`'s;
 * the others' outputs are left as they were. Each function returns -1, or the
 * first lane at fault: one that reads a lane outside membermask, whose value
 * the ISA leaves undefined. */

typedef enum moe_emu_shfl_mode {
  MOE_EMU_SHFL_UP = 0,
  MOE_EMU_SHFL_DOWN = 1,
  MOE_EMU_SHFL_BFLY = 2,
  MOE_EMU_SHFL_IDX = 3,
} moe_emu_shfl_mode;

/* shfl.sync.mode.b32 d|p, a, b, c, membermask, with each lane's own a, b and
 * c: c[4:0] is the clamp and c[12:8] the segment mask. A lane whose source
 * lane is out of its segment reads its own a, and p says whether the source
 * was in range. p may be null. */
int moe_emu_shfl_sync(moe_emu_shfl_mode mode, uint32_t membermask,
                      const uint32_t a[32], const uint32_t b[32],
                      const uint32_t c[32], uint32_t d[32], uint8_t p[32]);

typedef enum moe_emu_vote_mode {
  MOE_EMU_VOTE_ALL = 0,
  MOE_EMU_VOTE_ANY = 1,
  MOE_EMU_VOTE_UNI = 2,
  MOE_EMU_VOTE_BALLOT = 3,
} moe_emu_vote_mode;

/* vote.sync.{all,any,uni}.pred and vote.sync.ballot.b32 over membermask's
 * lanes' predicates (non-zero is true): the same result for every lane, the
 * ballot's bit i set when lane i is a member whose predicate is true. */
uint32_t moe_emu_vote_sync(moe_emu_vote_mode mode, uint32_t membermask,
                           const uint8_t pred[32]);

typedef enum moe_emu_redux_op {
  MOE_EMU_REDUX_ADD = 0, /* .u32 and .s32 alike: modulo 2^32 */
  MOE_EMU_REDUX_MIN_U32 = 1,
  MOE_EMU_REDUX_MAX_U32 = 2,
  MOE_EMU_REDUX_MIN_S32 = 3,
  MOE_EMU_REDUX_MAX_S32 = 4,
  MOE_EMU_REDUX_AND = 5,
  MOE_EMU_REDUX_OR = 6,
  MOE_EMU_REDUX_XOR = 7,
} moe_emu_redux_op;

/* redux.sync.op d, a, membermask: the reduction of membermask's lanes' a,
 * which every member receives. */
uint32_t moe_emu_redux_sync(moe_emu_redux_op op, uint32_t membermask,
                            const uint32_t a[32]);

/*===-- Shared memory: ldmatrix, cp.async, mbarrier ----------------------===*/

/* ldmatrix.sync.aligned.m8n8.x<count>[.trans].shared.b16 d, [row] for one
 * warp (count 1, 2 or 4): row[lane] is the host address of the row that
 * lane gives (moe/GPU/MmaLayout.h, LdMatrixLayout), d[lane][i] the lane's
 * register of matrix i. Returns -1, or the first lane whose row is not
 * 16-byte aligned. */
int moe_emu_ldmatrix(int count, int trans, const uint64_t row[32],
                     uint32_t d[32][4]);

/* One thread's cp.async copies: cp.async.{ca,cg}.shared.global [dst], [src],
 * cp_size, src_size copies src_size bytes and zeroes the rest of cp_size
 * (4, 8 or 16, both addresses aligned to it); cp.async.commit_group closes
 * the thread's group of copies, cp.async.wait_group n completes all but its
 * n most recent groups (wait_all: commit, then wait 0). The emulator copies
 * at the wait, not before, so a kernel that reads before waiting reads the
 * old bytes, as it may on the GPU. */
typedef struct moe_emu_async_copies moe_emu_async_copies;
moe_emu_async_copies *moe_emu_async_copies_create(void);
void moe_emu_async_copies_destroy(moe_emu_async_copies *copies);
/* Returns 0, or -1 for a size or an alignment the ISA does not allow. */
int moe_emu_cp_async(moe_emu_async_copies *copies, uint64_t dst, uint64_t src,
                     uint32_t cp_size, uint32_t src_size);
void moe_emu_cp_async_commit_group(moe_emu_async_copies *copies);
void moe_emu_cp_async_wait_group(moe_emu_async_copies *copies, uint32_t n);
/* The same, calling landed(context, dst, bytes) for each copy before its
 * bytes land. */
void moe_emu_cp_async_wait_group_with(moe_emu_async_copies *copies, uint32_t n,
                                      void (*landed)(void *, uint64_t,
                                                     uint32_t),
                                      void *context);
/* Copies not completed yet, committed or not. */
uint32_t moe_emu_cp_async_pending(const moe_emu_async_copies *copies);

/* mbarrier.* on the 64-bit barrier object at `bar`, in the emulator's own
 * encoding (the hardware's is opaque): the current phase's pending arrivals
 * and transaction bytes, the arrival count and the phase's parity. A phase
 * completes when its pending arrivals reach zero with no transaction bytes
 * outstanding; the next then starts with the full arrival count.
 * init: count in [1, 2^20 - 1]. arrive returns the state token (the phase
 * arrived in); arrive_expect_tx first adds tx bytes expected. complete_tx is
 * what a TMA copy does when its bytes land. Each returns -1 for an arrival
 * or a byte count past the phase's (undefined in the ISA), else the token
 * or 0. test_wait(token) and try_wait_parity(parity) are 1 when the phase
 * of the token, or the last phase of that parity, has completed. */
int moe_emu_mbarrier_init(uint64_t *bar, uint32_t count);
int64_t moe_emu_mbarrier_arrive(uint64_t *bar, uint32_t count);
int64_t moe_emu_mbarrier_arrive_expect_tx(uint64_t *bar, uint32_t tx_bytes);
int moe_emu_mbarrier_expect_tx(uint64_t *bar, uint32_t tx_bytes);
int moe_emu_mbarrier_complete_tx(uint64_t *bar, uint32_t tx_bytes);
int moe_emu_mbarrier_test_wait(const uint64_t *bar, int64_t token);
int moe_emu_mbarrier_try_wait_parity(const uint64_t *bar, uint32_t parity);

/* A TMA tensor map in the emulator's encoding (the hardware's CUtensorMap
 * is opaque): what cuTensorMapEncodeTiled takes. */
typedef struct moe_emu_tensor_map {
  uint64_t global_address;
  uint32_t rank;            /* 1 to 5 */
  uint32_t element_bytes;   /* 1, 2, 4 or 8 */
  uint64_t global_dim[5];   /* elements; dimension 0 is the contiguous one */
  uint64_t global_stride[5]; /* bytes; [0] is element_bytes */
  uint32_t box_dim[5];      /* elements, at most 256 */
  uint32_t element_stride[5]; /* 1 to 8; [0] is ignored */
  uint32_t swizzle_bytes;   /* 0, 32, 64 or 128 */
  uint32_t oob_nan;         /* fill out-of-bounds elements with NaN, not 0 */
  uint32_t float_kind;      /* 0 integers, 1 IEEE floats, 2 bfloat16 */
} moe_emu_tensor_map;

/* Checks a tensor map as cuTensorMapEncodeTiled does: returns 0, or -1 for a
 * rank, a size, a stride (a multiple of 16 below 2^40), an alignment (16
 * bytes) or a box (inner extent a multiple of 16 bytes, at most the
 * swizzle's span) it refuses. */
int moe_emu_tensor_map_check(const moe_emu_tensor_map *map);

/* cp.async.bulk.tensor.<rank>d.shared::cluster.global.tile.mbarrier::
 * complete_tx::bytes [dst], [map, coords], [bar]: the box at `coords`
 * (signed, per dimension, dimension 0 first) to the shared memory at
 * `shared` + `dst_offset`, densely, dimension 0 fastest, swizzled by the
 * address within shared memory; out-of-bounds elements are 0 (or NaN); then
 * complete_tx of the box's bytes on `bar` (may be null). Returns the box's
 * bytes, or -1 for a bad map or a destination not 128-byte aligned (1024
 * with the 128-byte swizzle) or past shared_bytes. */
int64_t moe_emu_tma_load(const moe_emu_tensor_map *map, uint8_t *shared,
                         uint32_t shared_bytes, uint32_t dst_offset,
                         const int32_t coords[5], uint64_t *bar);
/* cp.async.bulk.tensor.<rank>d.global.shared::cta.tile.bulk_group: the
 * reverse, leaving out-of-bounds elements unwritten. */
int64_t moe_emu_tma_store(const moe_emu_tensor_map *map,
                          const uint8_t *shared, uint32_t shared_bytes,
                          uint32_t src_offset, const int32_t coords[5]);

/*===-- The emulated kernels' calls and checks ---------------------------===*/

/* The slots of the table `moe_emu_api` through which an emulated artifact
 * calls the runtime (moe_artifact_load fills it). */
typedef enum moe_emu_slot {
  MOE_EMU_SLOT_MMA_M16N8K16 = 0,
  MOE_EMU_SLOT_MMA_M16N8K8 = 1,
  MOE_EMU_SLOT_SHFL_SYNC = 2,
  MOE_EMU_SLOT_BLOCK_BEGIN = 3,
  MOE_EMU_SLOT_SHARED_REGION = 4,
  MOE_EMU_SLOT_SHARED_ACCESS = 5,
  MOE_EMU_SLOT_BARRIER = 6,
  MOE_EMU_SLOT_FAULT = 7,
  MOE_EMU_SLOT_VOTE_SYNC = 8,
  MOE_EMU_SLOT_REDUX_SYNC = 9,
  MOE_EMU_SLOT_LDMATRIX = 10,
  MOE_EMU_SLOT_CP_ASYNC = 11,
  MOE_EMU_SLOT_CP_ASYNC_COMMIT = 12,
  MOE_EMU_SLOT_CP_ASYNC_WAIT = 13,
  MOE_EMU_SLOT_BLOCK_END = 14,
  MOE_EMU_SLOT_MMA_SP_M16N8K32 = 15,
  MOE_EMU_SLOT_WGMMA = 16,
  MOE_EMU_SLOT_FENCE_PROXY_ASYNC = 17,
  MOE_EMU_SLOT_WGMMA_COMMIT = 18,
  MOE_EMU_SLOT_WGMMA_WAIT = 19,
  MOE_EMU_SLOT_MBARRIER_INIT = 20,
  MOE_EMU_SLOT_MBARRIER_ARRIVE = 21,
  MOE_EMU_SLOT_MBARRIER_WAIT = 22,
  MOE_EMU_SLOT_BULK_COPY = 23,
  MOE_EMU_SLOT_ROLE_BEGIN = 24,
  MOE_EMU_SLOT_ROLE_END = 25,
  MOE_EMU_SLOT_MBARRIER_PENDING = 26,
  MOE_EMU_SLOT_ASYNC_CREATE_TOKEN = 27,
  MOE_EMU_SLOT_ASYNC_EMPLACE_TOKEN = 28,
  MOE_EMU_SLOT_ASYNC_SET_TOKEN_ERROR = 29,
  MOE_EMU_SLOT_ASYNC_IS_TOKEN_ERROR = 30,
  MOE_EMU_SLOT_ASYNC_EXECUTE = 31,
  MOE_EMU_SLOT_ASYNC_AWAIT_TOKEN_AND_EXECUTE = 32,
  MOE_EMU_SLOT_ASYNC_AWAIT_TOKEN = 33,
  MOE_EMU_SLOT_ASYNC_REFERENCE = 34,
  MOE_EMU_SLOTS = 35,
} moe_emu_slot;

/* What an emulated kernel reports through moe_emu_fault. */
typedef enum moe_emu_fault_kind {
  /* a, b, c: the dimension, the index, the extent */
  MOE_EMU_FAULT_READ_OUT_OF_BOUNDS = 0,
  MOE_EMU_FAULT_WRITE_OUT_OF_BOUNDS = 1,
  /* The thread disagrees with thread a (linear) on whether or how often to
   * reach the collective operation `op` names. */
  MOE_EMU_FAULT_DIVERGENT = 2,
  /* A lane runs `op` outside its warp's member mask a (b = 0), or reads
   * from a lane outside it (b = 1). */
  MOE_EMU_FAULT_INACTIVE_LANE = 3,
  /* An address a that the instruction needs aligned to b bytes. */
  MOE_EMU_FAULT_MISALIGNED = 4,
  /* a cp.async copies of the thread the block ends without waiting for. */
  MOE_EMU_FAULT_UNWAITED = 5,
  /* The lane's mma.sp metadata has a nibble that is not an increasing pair
   * of positions. */
  MOE_EMU_FAULT_SPARSE_METADATA = 6,
} moe_emu_fault_kind;

/* A kernel's block starts: `kernel` names it, its block index and its
 * block's size; its shared memory is registered next, and its contents are
 * undefined until written. */
void moe_emu_block_begin(const char *kernel, int64_t bx, int64_t by,
                         int64_t bz, int64_t nx, int64_t ny, int64_t nz);
void moe_emu_shared_region(uint64_t base, int64_t bytes);
/* A thread's shared-memory access of `bytes` at `address`, `op` naming it:
 * faults for bytes outside the block's shared memory (and returns 1: skip
 * the access), for reads of bytes not written since the block began, and
 * for races: bytes written by another thread since the last barrier, or
 * written after another thread read them. Returns 0 otherwise. */
int32_t moe_emu_shared_access(const char *op, int64_t tx, int64_t ty,
                              int64_t tz, uint64_t address, int64_t bytes,
                              int32_t write);
/* ldmatrix for the warp whose lane 0 is the block's thread `first`
 * (linear), checked: each lane's row address aligned, and each lane's read of
 * the shared bytes it receives past the shadow. Returns 0, or 1 when a row
 * is misaligned (d is then left as it was). */
int32_t moe_emu_ldmatrix_checked(const char *op, int64_t first, int32_t count,
                                 int32_t trans, const uint64_t row[32],
                                 uint32_t d[32][4]);
/* cp.async, commit_group and wait_group n of the block's thread `thread`
 * (linear), checked: a size or alignment the ISA refuses is a fault (and
 * cp_async returns 1), the destination must be the block's shared memory,
 * and the bytes landing at the wait are the thread's writes to the shadow. */
int32_t moe_emu_cp_async_thread(const char *op, int64_t thread, uint64_t dst,
                                uint64_t src, int32_t cp_size,
                                int32_t src_size);
void moe_emu_cp_async_commit_thread(int64_t thread);
void moe_emu_cp_async_wait_thread(const char *op, int64_t thread, int32_t n);
/* The block ends: copies some thread never waited for are a fault. */
void moe_emu_block_end(void);
/* Every thread of the block has reached a barrier. */
void moe_emu_barrier(void);
/* fence.proxy.async: the generic proxy's shared-memory writes so far are
 * ordered before the async proxy's (wgmma's operands, TMA's stores). */
void moe_emu_fence_proxy_async(void);
/* An access of the async proxy (wgmma reading its operands, TMA storing from
 * or loading into shared memory) by thread `thread` (linear): a read of
 * bytes no thread has written, or that the generic proxy wrote since the
 * last fence.proxy.async, is a fault; a write (a TMA load landing) makes
 * them written. Returns 1 (skip the access) for bytes outside the block's
 * shared memory, else 0. */
int32_t moe_emu_async_proxy_access(const char *op, int64_t thread,
                                   uint64_t address, int64_t bytes,
                                   int32_t write);
/* wgmma.mma_async m64n<n>k16 (K-major A and B, scale-d 1) for the warpgroup
 * whose thread 0 is the block's thread `first` (linear), checked: `a` and
 * `b` are the operands' start addresses (the descriptors' start fields,
 * whole addresses here) and desc_a / desc_b the descriptors' other fields
 * (moe/GPU/MmaLayout.h, WgmmaDescriptor). A swizzle acts on the address
 * bits, as on the GPU. Each byte the instruction reads is an access of the
 * async proxy (moe_emu_async_proxy_access): written, fenced after its last
 * generic write, inside the block's shared memory. d[thread * n / 2 + i]
 * holds C and receives D. Returns 0, or 1 when an operand is refused (a
 * start address not 16-byte aligned, a byte outside shared memory, a
 * layout the ISA does not allow), d then left as it was. */
int32_t moe_emu_wgmma_checked(const char *op, int64_t first, int32_t type,
                              int32_t n, uint64_t a, uint64_t b,
                              uint64_t desc_a, uint64_t desc_b, float *d);
/* wgmma.commit_group and wgmma.wait_group n of the block's thread `thread`
 * (linear), as its warp runs them (lane 0 stands for the warp). The shared
 * bytes a warpgroup's wgmmas read belong to the group they are committed in
 * until every warp of the warpgroup has waited for it, and a thread's write
 * of them is ordered after those reads only by a barrier after the last of
 * those waits: a write before that is a race, and a block that ends with a
 * group some warp never waited for is a fault. */
void moe_emu_wgmma_commit_thread(int64_t thread);
void moe_emu_wgmma_wait_thread(const char *op, int64_t thread, int32_t n);
/* mbarrier.init, mbarrier.arrive(.expect_tx) and the wait for a phase's
 * parity by the block's thread `thread` (linear), on the barrier object at
 * shared address `bar`, checked: it must lie in the block's shared memory,
 * 8-byte aligned; init writes it (a shadow write); arrivals or bytes past a
 * phase's are a fault. A wait for a phase already complete returns at once
 * (the copies queued on the barrier may not have landed); else it lands
 * them, and a phase still incomplete then is a fault, as the emulator's
 * order (the block's threads in turn) has nothing left that could complete
 * it. A completed wait orders the phase's bulk copies before the thread's
 * reads of their bytes. */
int32_t moe_emu_mbarrier_init_thread(const char *op, int64_t thread,
                                     uint64_t bar, int32_t count);
int32_t moe_emu_mbarrier_arrive_thread(const char *op, int64_t thread,
                                       uint64_t bar, int32_t tx_bytes);
int32_t moe_emu_mbarrier_wait_thread(const char *op, int64_t thread,
                                     uint64_t bar, int32_t parity);
/* cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes by the
 * block's thread `thread` (linear): `bytes` from global `src` to shared
 * `dst`, queued on the barrier at `bar` until a thread waits for it; the
 * bytes then land as async-proxy writes and complete the phase's
 * transaction bytes. Both addresses must be 16-byte aligned and the bytes
 * a multiple of 16; the destination may not be bytes a wgmma group may
 * still read. A block that ends with copies queued is a fault. */
int32_t moe_emu_bulk_copy_thread(const char *op, int64_t thread, uint64_t dst,
                                 uint64_t src, int32_t bytes, uint64_t bar);
/* Warp roles: the branches of a conditional marked moe_gpu.roles run as
 * coroutines of the block, which the compiler's lowering of the async
 * dialect makes of them, on a scheduler per block. role_begin and role_end
 * bracket a role's code. mbarrier_pending, before each wait: the token the
 * thread awaits, available at once when the phase of parity `parity` has
 * completed (once the copies queued on the barrier land) or outside a role,
 * else when the phase completes. The async
 * runtime of the lowering: tokens, each available once or in error, live
 * until the block ends; execute queues a coroutine to resume; await_token
 * resumes queued coroutines until the token is available, and when none is
 * left to resume while the roles still wait, reports the deadlock (a fault
 * naming the first wait) and returns; references are not counted. */
void moe_emu_role_begin(void);
void moe_emu_role_end(void);
void *moe_emu_mbarrier_pending(const char *op, int64_t thread, uint64_t bar,
                               int32_t parity);
void *moe_emu_async_create_token(void);
void moe_emu_async_emplace_token(void *token);
void moe_emu_async_set_token_error(void *token);
bool moe_emu_async_is_token_error(void *token);
void moe_emu_async_execute(void *handle, void (*resume)(void *));
void moe_emu_async_await_token_and_execute(void *token, void *handle,
                                           void (*resume)(void *));
void moe_emu_async_await_token(void *token);
void moe_emu_async_reference(void *object, int64_t count);

/* A fault `kind` of thread (tx, ty, tz) of the current block at `op`. */
void moe_emu_fault(int32_t kind, const char *op, int64_t tx, int64_t ty,
                   int64_t tz, int64_t a, int64_t b, int64_t c);

/* A run begins: no faults yet. After it, the first fault's message (or
 * null) and how many there were. */
void moe_emu_run_begin(void);
const char *moe_emu_run_fault(uint64_t *count);

#ifdef __cplusplus
}
#endif

#endif /* MOE_RUNTIME_EMULATOR_H */
