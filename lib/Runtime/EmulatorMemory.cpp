//===- EmulatorMemory.cpp - ldmatrix, cp.async and mbarrier ---------------===//
//
// The shared-memory instructions of the PTX ISA for the CUDA emulator:
// ldmatrix's fragments (moe/GPU/MmaLayout.h), cp.async's groups of deferred
// copies, and the mbarrier's phases.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Emulator.h"

#include "moe/GPU/MmaLayout.h"

#include <cstring>
#include <deque>
#include <vector>

using moe::gpu::LdMatrixLayout;

namespace {

/// A cp.async not completed yet, and the group it belongs to once
/// committed.
struct Copy {
  uint64_t dst, src;
  uint32_t size, bytes;
};

} // namespace

struct moe_emu_async_copies {
  /// Committed groups, oldest first, and the copies not committed yet.
  std::deque<std::vector<Copy>> groups;
  std::vector<Copy> open;
};

namespace {

void complete(const std::vector<Copy> &group) {
  for (const Copy &copy : group) {
    auto *dst = reinterpret_cast<unsigned char *>(copy.dst);
    std::memcpy(dst, reinterpret_cast<const void *>(copy.src), copy.bytes);
    std::memset(dst + copy.bytes, 0, copy.size - copy.bytes);
  }
}

// The emulator's mbarrier word: pending arrivals in bits 0-19, the arrival
// count in bits 20-39, the outstanding transaction bytes (two's complement,
// as complete_tx may come before expect_tx) in bits 40-61, the phase's
// parity in bit 63.
constexpr uint64_t kCountMask = (uint64_t(1) << 20) - 1;
constexpr int kTxBits = 22;
/// The ISA's range of the transaction count: |tx| < 2^20.
constexpr int64_t kTxLimit = int64_t(1) << 20;

struct Barrier {
  uint32_t pending, count;
  int32_t tx;
  uint32_t phase;
};

Barrier decode(uint64_t word) {
  Barrier bar;
  bar.pending = uint32_t(word & kCountMask);
  bar.count = uint32_t((word >> 20) & kCountMask);
  uint32_t tx = uint32_t((word >> 40) & ((uint64_t(1) << kTxBits) - 1));
  bar.tx = int32_t(tx << (32 - kTxBits)) >> (32 - kTxBits);
  bar.phase = uint32_t(word >> 63);
  return bar;
}

uint64_t encode(const Barrier &bar) {
  uint64_t tx = uint64_t(uint32_t(bar.tx)) & ((uint64_t(1) << kTxBits) - 1);
  return uint64_t(bar.pending) | (uint64_t(bar.count) << 20) | (tx << 40) |
         (uint64_t(bar.phase) << 63);
}

/// Starts the next phase when this one has no arrivals or bytes left.
void advance(Barrier &bar) {
  if (bar.pending == 0 && bar.tx == 0) {
    bar.phase ^= 1;
    bar.pending = bar.count;
  }
}

int64_t arrive(uint64_t *word, uint32_t count, uint32_t txBytes) {
  Barrier bar = decode(*word);
  int64_t token = bar.phase;
  if (count == 0 || count > bar.pending ||
      int64_t(bar.tx) + txBytes >= kTxLimit)
    return -1;
  bar.tx += int32_t(txBytes);
  bar.pending -= count;
  advance(bar);
  *word = encode(bar);
  return token;
}

/// The elements a box holds along dimension `dim`.
uint32_t boxCount(const moe_emu_tensor_map &map, uint32_t dim) {
  uint32_t stride = dim == 0 ? 1 : map.element_stride[dim];
  return (map.box_dim[dim] + stride - 1) / stride;
}

/// Every element of `map`'s box at `coords`: `visit(shared offset, global
/// address or 0 when out of bounds)`, the shared offset before the swizzle.
template <typename Visit>
void forEachBoxElement(const moe_emu_tensor_map &map, const int32_t *coords,
                       Visit visit) {
  uint32_t count[5] = {1, 1, 1, 1, 1};
  for (uint32_t dim = 0; dim < map.rank; ++dim)
    count[dim] = boxCount(map, dim);
  uint64_t linear = 0;
  uint32_t index[5] = {};
  for (;;) {
    bool inside = true;
    uint64_t address = map.global_address;
    for (uint32_t dim = 0; dim < map.rank; ++dim) {
      uint32_t stride = dim == 0 ? 1 : map.element_stride[dim];
      int64_t at = int64_t(coords[dim]) + int64_t(index[dim]) * stride;
      if (at < 0 || uint64_t(at) >= map.global_dim[dim])
        inside = false;
      else
        address += uint64_t(at) * map.global_stride[dim];
    }
    visit(linear * map.element_bytes, inside ? address : 0);
    ++linear;
    uint32_t dim = 0;
    while (dim < map.rank && ++index[dim] == count[dim])
      index[dim++] = 0;
    if (dim == map.rank)
      return;
  }
}

/// The box's bytes if `offset` is a destination TMA allows in
/// `shared_bytes` of shared memory, else -1.
int64_t boxBytes(const moe_emu_tensor_map &map, uint32_t shared_bytes,
                 uint32_t offset) {
  if (moe_emu_tensor_map_check(&map))
    return -1;
  uint64_t bytes = map.element_bytes;
  for (uint32_t dim = 0; dim < map.rank; ++dim)
    bytes *= boxCount(map, dim);
  uint32_t alignment = map.swizzle_bytes == 128 ? 1024 : 128;
  if (offset % alignment || offset + bytes > shared_bytes)
    return -1;
  return int64_t(bytes);
}

/// The NaN TMA fills out-of-bounds elements of a float type with.
void nanFill(const moe_emu_tensor_map &map, uint8_t *element) {
  static const uint8_t f16[] = {0x00, 0x7E}, bf16[] = {0xC0, 0x7F},
                       f32[] = {0x00, 0x00, 0xC0, 0x7F},
                       f64[] = {0, 0, 0, 0, 0, 0, 0xF8, 0x7F};
  const uint8_t *bits = map.float_kind == 2      ? bf16
                        : map.element_bytes == 2 ? f16
                        : map.element_bytes == 4 ? f32
                                                 : f64;
  std::memcpy(element, bits, map.element_bytes);
}

} // namespace

extern "C" {

int moe_emu_ldmatrix(int count, int trans, const uint64_t row[32],
                     uint32_t d[32][4]) {
  for (int matrix = 0; matrix < count; ++matrix)
    for (int r = 0; r < LdMatrixLayout::kRows; ++r) {
      int lane = LdMatrixLayout::addressLane(matrix, r);
      if (row[lane] % LdMatrixLayout::kRowBytes)
        return lane;
    }
  // Every row is read before any register is written.
  uint16_t m[4][8][8];
  for (int matrix = 0; matrix < count; ++matrix)
    for (int r = 0; r < LdMatrixLayout::kRows; ++r)
      std::memcpy(m[matrix][r],
                  reinterpret_cast<const void *>(
                      row[LdMatrixLayout::addressLane(matrix, r)]),
                  LdMatrixLayout::kRowBytes);
  for (int lane = 0; lane < 32; ++lane)
    for (int matrix = 0; matrix < count; ++matrix) {
      uint32_t value = 0;
      for (int half = 0; half < 2; ++half) {
        moe::gpu::MatrixCoord at = LdMatrixLayout::element(lane, half, trans);
        value |= uint32_t(m[matrix][at.row][at.col]) << (16 * half);
      }
      d[lane][matrix] = value;
    }
  return -1;
}

moe_emu_async_copies *moe_emu_async_copies_create(void) {
  return new moe_emu_async_copies();
}

void moe_emu_async_copies_destroy(moe_emu_async_copies *copies) {
  delete copies;
}

int moe_emu_cp_async(moe_emu_async_copies *copies, uint64_t dst, uint64_t src,
                     uint32_t cp_size, uint32_t src_size) {
  if ((cp_size != 4 && cp_size != 8 && cp_size != 16) || src_size > cp_size ||
      dst % cp_size || src % cp_size)
    return -1;
  copies->open.push_back({dst, src, cp_size, src_size});
  return 0;
}

void moe_emu_cp_async_commit_group(moe_emu_async_copies *copies) {
  // An empty group is a group too: wait_group counts it.
  copies->groups.push_back(std::move(copies->open));
  copies->open.clear();
}

void moe_emu_cp_async_wait_group(moe_emu_async_copies *copies, uint32_t n) {
  moe_emu_cp_async_wait_group_with(copies, n, nullptr, nullptr);
}

void moe_emu_cp_async_wait_group_with(moe_emu_async_copies *copies, uint32_t n,
                                      void (*landed)(void *, uint64_t,
                                                     uint32_t),
                                      void *context) {
  while (copies->groups.size() > n) {
    if (landed)
      for (const Copy &copy : copies->groups.front())
        landed(context, copy.dst, copy.size);
    complete(copies->groups.front());
    copies->groups.pop_front();
  }
}

uint32_t moe_emu_cp_async_pending(const moe_emu_async_copies *copies) {
  size_t pending = copies->open.size();
  for (const std::vector<Copy> &group : copies->groups)
    pending += group.size();
  return uint32_t(pending);
}

int moe_emu_mbarrier_init(uint64_t *bar, uint32_t count) {
  if (count == 0 || count > kCountMask)
    return -1;
  *bar = encode({count, count, 0, 0});
  return 0;
}

int64_t moe_emu_mbarrier_arrive(uint64_t *bar, uint32_t count) {
  return arrive(bar, count, 0);
}

int64_t moe_emu_mbarrier_arrive_expect_tx(uint64_t *bar, uint32_t tx_bytes) {
  return arrive(bar, 1, tx_bytes);
}

int moe_emu_mbarrier_expect_tx(uint64_t *bar, uint32_t tx_bytes) {
  Barrier state = decode(*bar);
  if (int64_t(state.tx) + tx_bytes >= kTxLimit)
    return -1;
  state.tx += int32_t(tx_bytes);
  *bar = encode(state);
  return 0;
}

int moe_emu_mbarrier_complete_tx(uint64_t *bar, uint32_t tx_bytes) {
  Barrier state = decode(*bar);
  if (int64_t(state.tx) - tx_bytes <= -kTxLimit)
    return -1;
  state.tx -= int32_t(tx_bytes);
  advance(state);
  *bar = encode(state);
  return 0;
}

int moe_emu_mbarrier_test_wait(const uint64_t *bar, int64_t token) {
  return decode(*bar).phase != uint32_t(token & 1);
}

int moe_emu_mbarrier_try_wait_parity(const uint64_t *bar, uint32_t parity) {
  return decode(*bar).phase != (parity & 1);
}

int moe_emu_tensor_map_check(const moe_emu_tensor_map *map) {
  const moe_emu_tensor_map &m = *map;
  uint32_t bytes = m.element_bytes;
  if (m.rank < 1 || m.rank > 5 ||
      (bytes != 1 && bytes != 2 && bytes != 4 && bytes != 8) ||
      m.global_address % 16 || m.global_stride[0] != bytes ||
      (m.swizzle_bytes != 0 && m.swizzle_bytes != 32 &&
       m.swizzle_bytes != 64 && m.swizzle_bytes != 128) ||
      m.float_kind > 2 || (m.float_kind == 2 && bytes != 2) ||
      (m.oob_nan && (!m.float_kind || bytes == 1)))
    return -1;
  for (uint32_t dim = 0; dim < m.rank; ++dim) {
    if (m.global_dim[dim] == 0 || m.global_dim[dim] > (uint64_t(1) << 32) ||
        m.box_dim[dim] == 0 || m.box_dim[dim] > 256)
      return -1;
    if (dim > 0 && (m.global_stride[dim] % 16 ||
                    m.global_stride[dim] >= (uint64_t(1) << 40) ||
                    m.element_stride[dim] < 1 || m.element_stride[dim] > 8))
      return -1;
  }
  uint32_t inner = m.box_dim[0] * bytes;
  if (inner % 16 || (m.swizzle_bytes && inner > m.swizzle_bytes))
    return -1;
  return 0;
}

int64_t moe_emu_tma_load(const moe_emu_tensor_map *map, uint8_t *shared,
                         uint32_t shared_bytes, uint32_t dst_offset,
                         const int32_t coords[5], uint64_t *bar) {
  int64_t bytes = boxBytes(*map, shared_bytes, dst_offset);
  if (bytes < 0)
    return -1;
  forEachBoxElement(*map, coords, [&](uint64_t offset, uint64_t address) {
    uint8_t *element = shared + moe::gpu::swizzle(unsigned(dst_offset + offset),
                                                  int(map->swizzle_bytes));
    if (address)
      std::memcpy(element, reinterpret_cast<const void *>(address),
                  map->element_bytes);
    else if (map->oob_nan)
      nanFill(*map, element);
    else
      std::memset(element, 0, map->element_bytes);
  });
  // The whole box's bytes complete the transaction, filled ones included.
  if (bar && moe_emu_mbarrier_complete_tx(bar, uint32_t(bytes)))
    return -1;
  return bytes;
}

int64_t moe_emu_tma_store(const moe_emu_tensor_map *map,
                          const uint8_t *shared, uint32_t shared_bytes,
                          uint32_t src_offset, const int32_t coords[5]) {
  int64_t bytes = boxBytes(*map, shared_bytes, src_offset);
  if (bytes < 0)
    return -1;
  forEachBoxElement(*map, coords, [&](uint64_t offset, uint64_t address) {
    if (address)
      std::memcpy(reinterpret_cast<void *>(address),
                  shared + moe::gpu::swizzle(unsigned(src_offset + offset),
                                             int(map->swizzle_bytes)),
                  map->element_bytes);
  });
  return bytes;
}

} // extern "C"
