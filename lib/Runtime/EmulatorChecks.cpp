//===- EmulatorChecks.cpp - what the CUDA emulator checks as kernels run --===//
//
// The emulated kernels' shared memory, with a shadow of every byte (written
// since the block began; which thread wrote or read it since the last
// barrier), and the faults they report: the first one's message, naming the
// kernel, block, thread and address, fails the run.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Emulator.h"

#include "moe/GPU/MmaLayout.h"

#include "EmulatorRoles.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace {

/// A byte's shadow: bit 63 set once written in this block; bit 62 set while
/// its last write, through the generic proxy, is not yet ordered before the
/// async proxy by a fence.proxy.async; bits 32-61 the barrier interval of
/// the last access; bits 16-31 the writer in that interval and bits 0-15
/// the reader (thread + 1; 0 none, 0xFFFF several).
constexpr uint64_t kWritten = uint64_t(1) << 63;
constexpr uint64_t kUnfenced = uint64_t(1) << 62;
constexpr uint64_t kIntervalMask = 0x3FFFFFFF;
constexpr uint32_t kSeveral = 0xFFFF;

struct Region {
  uint64_t base;
  int64_t bytes;
  std::vector<uint64_t> shadow;
  /// The last wgmma group that read each byte (WgmmaGroup's index; 0 none).
  std::vector<uint32_t> wgmmaRead;
  /// The bulk copy that last wrote each byte (Block::landings' index; 0
  /// none, or a write since).
  std::vector<uint32_t> landedBy;
  /// The epoch of its writer (Block::clocks) at each byte's last write, and
  /// of its reader at the last read; once mbarriers order accesses, the
  /// readers of bytes several threads read in the barrier interval, each
  /// with its epoch.
  std::vector<uint32_t> writeEpoch, readEpoch;
  std::map<uint64_t, std::vector<std::pair<int64_t, uint32_t>>> readers;
};

/// A bulk copy not landed yet.
struct BulkCopy {
  const char *op;
  int64_t thread;
  uint64_t dst, src;
  uint32_t bytes;
  uint64_t bar;
};

/// The wgmmas a warpgroup issued between two commits. They may read their
/// operands until each warp of the warpgroup has waited for the group.
struct WgmmaGroup {
  int64_t warpgroup;
  /// Warps that have not committed it yet, and that have not waited for it.
  int uncommitted, unwaited;
  /// The barrier interval in which the last warp waited for it; 0 before.
  uint32_t retiredIn;
  /// Each warp's wait for it: its lane 0 and that thread's epoch then.
  std::array<std::pair<int64_t, uint32_t>, 4> retires;
};

constexpr int64_t kWarpsPerWarpgroup = 4;

struct AsyncCopiesDeleter {
  void operator()(moe_emu_async_copies *copies) const {
    moe_emu_async_copies_destroy(copies);
  }
};

struct Block {
  std::string kernel;
  int64_t index[3] = {}, size[3] = {1, 1, 1};
  uint32_t interval = 1;
  std::vector<Region> regions;
  /// Each thread's cp.async copies, once it has issued one.
  std::map<int64_t, std::unique_ptr<moe_emu_async_copies, AsyncCopiesDeleter>>
      copies;
  /// wgmma groups (index 0 unused), each warpgroup's open one, and each
  /// warp's committed groups it has not waited for, oldest first.
  std::vector<WgmmaGroup> wgmmaGroups;
  std::map<int64_t, uint32_t> openWgmma;
  std::map<int64_t, std::deque<uint32_t>> committedWgmma;
  /// The group of the wgmma whose operands are being read, while they are.
  uint32_t reading = 0;
  /// The phases each initialised mbarrier has completed, the bulk copies
  /// queued on them, the (barrier, phase) each landing completed, and the
  /// phases each (thread, barrier) has waited for.
  std::map<uint64_t, uint32_t> phases;
  std::vector<BulkCopy> bulkCopies;
  std::vector<std::pair<uint64_t, uint32_t>> landings;
  std::map<std::pair<int64_t, uint64_t>, uint32_t> observed;
  /// Once an mbarrier is initialised, the threads' vector clocks (thread
  /// t's row from t * threads): an mbarrier phase orders its arrivals'
  /// accesses before its waiters' later ones, without a barrier. A thread's
  /// epoch, its own entry, grows at each of its arrivals; the join of the
  /// current phase's arrivals' clocks, and of each completed phase's.
  int64_t threads = 1;
  std::vector<uint32_t> clocks;
  std::map<uint64_t, std::vector<uint32_t>> arriving;
  std::map<std::pair<uint64_t, uint32_t>, std::vector<uint32_t>> released;
};

thread_local Block block;

// Blocks run in parallel: the fault kept is the first of the first block
// (z, y, x order) that has one, whatever the threads' timing.
std::mutex faultMutex;
std::string firstFault;
int64_t firstBlock[3];
uint64_t faults = 0;

std::string threadName(int64_t linear) {
  std::ostringstream os;
  os << "(" << linear % block.size[0] << ", "
     << linear / block.size[0] % block.size[1] << ", "
     << linear / (block.size[0] * block.size[1]) << ")";
  return os.str();
}

int64_t linearOf(int64_t tx, int64_t ty, int64_t tz) {
  return tx + block.size[0] * (ty + block.size[1] * tz);
}

/// Thread `thread`'s epoch (0 before any mbarrier).
uint32_t epochOf(int64_t thread) {
  return block.clocks.empty()
             ? 0
             : block.clocks[size_t(thread * block.threads + thread)];
}

/// Whether thread `reader` has synchronised, through mbarrier phases, with
/// thread `thread` at `epoch` or later (its accesses then are ordered
/// before `reader`'s from now on).
bool knows(int64_t reader, int64_t thread, uint32_t epoch) {
  return epoch && !block.clocks.empty() &&
         block.clocks[size_t(reader * block.threads + thread)] >= epoch;
}

/// `into` joined with `clock` (the maximum of each entry).
void join(std::vector<uint32_t> &into, const uint32_t *clock) {
  if (into.empty())
    into.assign(size_t(block.threads), 0);
  for (size_t i = 0; i < into.size(); ++i)
    into[i] = std::max(into[i], clock[i]);
}

uint32_t *clockOf(int64_t thread) {
  return &block.clocks[size_t(thread * block.threads)];
}

void report(int64_t thread, const char *op, const std::string &what) {
  std::lock_guard<std::mutex> lock(faultMutex);
  int64_t at[3] = {block.index[2], block.index[1], block.index[0]};
  if (faults++ && !std::lexicographical_compare(at, at + 3, firstBlock,
                                                firstBlock + 3))
    return;
  std::copy(at, at + 3, firstBlock);
  std::ostringstream os;
  os << "kernel '" << block.kernel << "', block (" << block.index[0] << ", "
     << block.index[1] << ", " << block.index[2] << "), thread "
     << threadName(thread) << ": " << what << " (" << op << ")";
  firstFault = os.str();
}

/// How a message names byte `offset` of `region`.
std::string sharedByte(const Region &region, uint64_t offset) {
  return "shared memory at byte " + std::to_string(offset) + " of a " +
         std::to_string(region.bytes) + "-byte buffer";
}

/// The shared-memory region holding `bytes` at `address`, or null.
Region *regionOf(uint64_t address, int64_t bytes) {
  for (Region &region : block.regions)
    if (address >= region.base &&
        address + uint64_t(bytes) <= region.base + uint64_t(region.bytes))
      return &region;
  return nullptr;
}

/// Whether thread `thread`'s write of byte `offset` of `region` may race
/// with a wgmma's read of it: the wgmma's group is pending, or the last wait
/// for it had no barrier after it. Reports the race.
bool racesWgmma(const char *op, int64_t thread, Region &region, uint64_t offset,
                const char *how) {
  uint32_t &read = region.wgmmaRead[offset];
  if (!read)
    return false;
  const WgmmaGroup &group = block.wgmmaGroups[read];
  if (group.retiredIn && group.retiredIn != block.interval) {
    read = 0;
    return false;
  }
  // Or every warp's wait for the group is ordered before the write by
  // mbarrier phases.
  if (group.retiredIn &&
      std::all_of(group.retires.begin(), group.retires.end(),
                  [&](const std::pair<int64_t, uint32_t> &retire) {
                    return knows(thread, retire.first, retire.second);
                  }))
    return false;
  std::string reader =
      "the wgmma of warpgroup " + std::to_string(group.warpgroup);
  report(thread, op,
         std::string(how) + sharedByte(region, offset) + " that " + reader +
             (group.retiredIn
                  ? " read, with no barrier after its last warp's "
                    "wgmma.wait_group (a race)"
                  : " may still be reading: not every warp of the warpgroup "
                    "has waited for its group (a race)"));
  return true;
}

/// Whether a copy of `bytes` into `dst` that thread `thread` issues may land
/// on bytes a wgmma may still read (it may land as soon as it is issued).
/// Reports the race; a destination outside shared memory is left to the
/// copy's own check.
bool copyRacesWgmma(const char *op, int64_t thread, uint64_t dst,
                    int64_t bytes) {
  Region *region = regionOf(dst, bytes);
  for (int64_t i = 0; region && i < bytes; ++i)
    if (racesWgmma(op, thread, *region, dst - region->base + uint64_t(i),
                   "copies into "))
      return true;
  return false;
}

/// Whether thread `thread`'s read of byte `offset` of `region`, which a bulk
/// copy wrote, comes before its wait for the phase the copy completed.
/// Reports the race.
bool readsBeforeLanding(const char *op, int64_t thread, Region &region,
                        uint64_t offset, const char *how) {
  uint32_t landing = region.landedBy[offset];
  if (!landing)
    return false;
  auto [bar, phase] = block.landings[landing];
  auto seen = block.observed.find({thread, bar});
  if (seen != block.observed.end() && seen->second > phase)
    return false;
  report(thread, op,
         std::string(how) + sharedByte(region, offset) +
             " that a bulk copy wrote, with no wait of this thread for the "
             "mbarrier phase it completed (a race)");
  return true;
}

/// Whether thread `thread` has synchronised through mbarrier phases with
/// each read of byte `offset` of `region` in this barrier interval, `reader`
/// the shadow's reader.
bool knowsReads(int64_t thread, const Region &region, uint64_t offset,
                uint32_t reader) {
  if (reader != kSeveral)
    return knows(thread, int64_t(reader) - 1, region.readEpoch[offset]);
  auto found = region.readers.find(offset);
  return found != region.readers.end() &&
         std::all_of(found->second.begin(), found->second.end(),
                     [&](const std::pair<int64_t, uint32_t> &read) {
                       return read.first == thread ||
                              knows(thread, read.first, read.second);
                     });
}

/// moe_emu_shared_access for the block's thread `thread` (linear).
int32_t sharedAccess(const char *op, int64_t thread, uint64_t address,
                     int64_t bytes, int32_t write) {
  Region *region = regionOf(address, bytes);
  if (!region) {
    std::ostringstream os;
    os << (write ? "writes " : "reads ") << bytes
       << " bytes outside the block's shared memory at address 0x" << std::hex
       << address;
    report(thread, op, os.str());
    return 1;
  }
  uint32_t self = uint32_t(thread + 1);
  for (int64_t i = 0; i < bytes; ++i) {
    uint64_t offset = address - region->base + uint64_t(i);
    uint64_t &shadow = region->shadow[offset];
    bool written = shadow & kWritten;
    uint32_t writer = 0, reader = 0;
    if (uint32_t((shadow >> 32) & kIntervalMask) == block.interval) {
      writer = uint32_t((shadow >> 16) & 0xFFFF);
      reader = uint32_t(shadow & 0xFFFF);
    }
    if (!write && !written) {
      report(thread, op,
             "reads " + sharedByte(*region, offset) +
                 " that no thread has written");
      return 0;
    }
    if (writer && writer != self &&
        !knows(thread, int64_t(writer) - 1, region->writeEpoch[offset])) {
      report(thread, op,
             std::string(write ? "writes " : "reads ") +
                 sharedByte(*region, offset) + " that thread " +
                 threadName(writer - 1) +
                 " wrote with no barrier between them (a race)");
      return 0;
    }
    if (write && racesWgmma(op, thread, *region, offset, "writes "))
      return 0;
    if (!write && readsBeforeLanding(op, thread, *region, offset, "reads "))
      return 0;
    if (write)
      region->landedBy[offset] = 0;
    if (write && reader && reader != self &&
        !knowsReads(thread, *region, offset, reader)) {
      report(thread, op,
             "writes " + sharedByte(*region, offset) + " that " +
                 (reader == kSeveral ? std::string("other threads")
                                     : "thread " + threadName(reader - 1)) +
                 " read with no barrier between them (a race)");
      return 0;
    }
    if (write) {
      // Ordered after the reads of other threads (or there were none).
      if (reader != self)
        reader = 0;
      writer = self;
      written = true;
      region->writeEpoch[offset] = epochOf(thread);
      region->readers.erase(offset);
    } else if (!reader || reader == self) {
      reader = self;
      region->readEpoch[offset] = epochOf(thread);
    } else {
      // Several readers: each one's epoch, once mbarriers order accesses.
      if (!block.clocks.empty()) {
        auto &reads = region->readers[offset];
        if (reader != kSeveral)
          reads = {{int64_t(reader) - 1, region->readEpoch[offset]}};
        reads.push_back({thread, epochOf(thread)});
      }
      reader = kSeveral;
    }
    shadow = (written ? kWritten : 0) |
             (write ? kUnfenced : shadow & kUnfenced) |
             (uint64_t(block.interval & kIntervalMask) << 32) |
             (uint64_t(writer) << 16) | reader;
  }
  return 0;
}

/// A cp.async copy landing: thread `thread`'s write of shared memory.
struct Landing {
  const char *op;
  int64_t thread;
};

void landed(void *context, uint64_t dst, uint32_t bytes) {
  auto *landing = static_cast<Landing *>(context);
  sharedAccess(landing->op, landing->thread, dst, bytes, 1);
}

} // namespace

extern "C" {

void moe_emu_block_begin(const char *kernel, int64_t bx, int64_t by,
                         int64_t bz, int64_t nx, int64_t ny, int64_t nz) {
  block.kernel = kernel;
  block.index[0] = bx;
  block.index[1] = by;
  block.index[2] = bz;
  block.size[0] = nx;
  block.size[1] = ny;
  block.size[2] = nz;
  block.interval = 1;
  block.regions.clear();
  block.copies.clear();
  block.wgmmaGroups.assign(1, WgmmaGroup{});
  block.openWgmma.clear();
  block.committedWgmma.clear();
  block.reading = 0;
  block.phases.clear();
  block.bulkCopies.clear();
  block.landings.assign(1, {0, 0});
  block.observed.clear();
  block.threads = nx * ny * nz;
  block.clocks.clear();
  block.arriving.clear();
  block.released.clear();
  moe::emu::resetRoles();
}

void moe_emu_shared_region(uint64_t base, int64_t bytes) {
  block.regions.push_back({base,
                           bytes,
                           std::vector<uint64_t>(size_t(bytes)),
                           std::vector<uint32_t>(size_t(bytes)),
                           std::vector<uint32_t>(size_t(bytes)),
                           std::vector<uint32_t>(size_t(bytes)),
                           std::vector<uint32_t>(size_t(bytes)),
                           {}});
}

int32_t moe_emu_shared_access(const char *op, int64_t tx, int64_t ty,
                              int64_t tz, uint64_t address, int64_t bytes,
                              int32_t write) {
  return sharedAccess(op, linearOf(tx, ty, tz), address, bytes, write);
}

int32_t moe_emu_ldmatrix_checked(const char *op, int64_t first, int32_t count,
                                 int32_t trans, const uint64_t row[32],
                                 uint32_t d[32][4]) {
  using moe::gpu::LdMatrixLayout;
  for (int matrix = 0; matrix < count; ++matrix)
    for (int r = 0; r < LdMatrixLayout::kRows; ++r) {
      int lane = LdMatrixLayout::addressLane(matrix, r);
      if (row[lane] % LdMatrixLayout::kRowBytes) {
        moe_emu_fault(MOE_EMU_FAULT_MISALIGNED, op, first + lane, 0, 0,
                      int64_t(row[lane]), LdMatrixLayout::kRowBytes, 0);
        return 1;
      }
    }
  // Each lane reads the two elements it receives.
  for (int lane = 0; lane < 32; ++lane)
    for (int matrix = 0; matrix < count; ++matrix)
      for (int half = 0; half < 2; ++half) {
        moe::gpu::MatrixCoord at = LdMatrixLayout::element(lane, half, trans);
        uint64_t address =
            row[LdMatrixLayout::addressLane(matrix, at.row)] + 2 * at.col;
        if (sharedAccess(op, first + lane, address, 2, 0))
          return 1;
      }
  moe_emu_ldmatrix(count, trans, row, d);
  return 0;
}

int32_t moe_emu_cp_async_thread(const char *op, int64_t thread, uint64_t dst,
                                uint64_t src, int32_t cp_size,
                                int32_t src_size) {
  if (cp_size > 0 && copyRacesWgmma(op, thread, dst, cp_size))
    return 0;
  auto &copies = block.copies[thread];
  if (!copies)
    copies.reset(moe_emu_async_copies_create());
  if (cp_size < 0 || src_size < 0 ||
      moe_emu_cp_async(copies.get(), dst, src, uint32_t(cp_size),
                       uint32_t(src_size))) {
    moe_emu_fault(MOE_EMU_FAULT_MISALIGNED, op, thread, 0, 0, int64_t(dst),
                  cp_size, 0);
    return 1;
  }
  return 0;
}

void moe_emu_cp_async_commit_thread(int64_t thread) {
  auto &copies = block.copies[thread];
  if (!copies)
    copies.reset(moe_emu_async_copies_create());
  moe_emu_cp_async_commit_group(copies.get());
}

void moe_emu_cp_async_wait_thread(const char *op, int64_t thread, int32_t n) {
  auto found = block.copies.find(thread);
  if (found == block.copies.end())
    return;
  Landing landing{op, thread};
  moe_emu_cp_async_wait_group_with(found->second.get(), uint32_t(n), landed,
                                   &landing);
}

void moe_emu_block_end(void) {
  for (auto &[thread, copies] : block.copies)
    if (uint32_t pending = moe_emu_cp_async_pending(copies.get()))
      moe_emu_fault(MOE_EMU_FAULT_UNWAITED, "cp.async", thread, 0, 0, pending,
                    0, 0);
  block.copies.clear();
  for (auto &[warp, committed] : block.committedWgmma)
    if (!committed.empty())
      report(warp * 32, "wgmma.commit_group",
             "ends with " + std::to_string(committed.size()) +
                 " wgmma groups its warp never waited for");
  if (!block.bulkCopies.empty())
    report(block.bulkCopies.front().thread, block.bulkCopies.front().op,
           "ends with " + std::to_string(block.bulkCopies.size()) +
               " bulk copies no thread waited for");
  block.bulkCopies.clear();
  for (auto &[warpgroup, open] : block.openWgmma)
    if (open)
      report(warpgroup * 32 * kWarpsPerWarpgroup, "wgmma.mma_async",
             "ends with wgmmas some of its warps never committed");
  moe::emu::resetRoles();
}

void moe_emu_barrier(void) {
  ++block.interval;
  for (Region &region : block.regions)
    region.readers.clear();
}

void moe_emu_fence_proxy_async(void) {
  for (Region &region : block.regions)
    for (uint64_t &shadow : region.shadow)
      shadow &= ~kUnfenced;
}

int32_t moe_emu_async_proxy_access(const char *op, int64_t thread,
                                   uint64_t address, int64_t bytes,
                                   int32_t write) {
  Region *found = regionOf(address, bytes);
  if (!found) {
    std::ostringstream os;
    os << (write ? "writes " : "reads ") << bytes
       << " bytes outside the block's shared memory at address 0x" << std::hex
       << address << " through the async proxy";
    report(thread, op, os.str());
    return 1;
  }
  Region &region = *found;
  for (int64_t i = 0; i < bytes; ++i) {
    uint64_t offset = address - region.base + uint64_t(i);
    uint64_t &shadow = region.shadow[offset];
    if (write) {
      if (racesWgmma(op, thread, region, offset,
                     "writes through the async proxy "))
        return 0;
      shadow = (shadow | kWritten) & ~kUnfenced;
      continue;
    }
    if (readsBeforeLanding(op, thread, region, offset,
                           "reads through the async proxy "))
      return 0;
    if (block.reading)
      region.wgmmaRead[offset] = block.reading;
    if (!(shadow & kWritten)) {
      report(thread, op,
             "reads through the async proxy " + sharedByte(region, offset) +
                 " that no thread has written");
      return 0;
    }
    if (shadow & kUnfenced) {
      report(thread, op,
             "reads through the async proxy " + sharedByte(region, offset) +
                 " written through the generic proxy with no "
                 "fence.proxy.async between them");
      return 0;
    }
    uint32_t writer = 0;
    if (uint32_t((shadow >> 32) & kIntervalMask) == block.interval)
      writer = uint32_t((shadow >> 16) & 0xFFFF);
    if (writer && writer != uint32_t(thread + 1) &&
        !knows(thread, int64_t(writer) - 1, region.writeEpoch[offset])) {
      report(thread, op,
             "reads through the async proxy " + sharedByte(region, offset) +
                 " that thread " + threadName(writer - 1) +
                 " wrote with no barrier between them (a race)");
      return 0;
    }
  }
  return 0;
}

int32_t moe_emu_wgmma_checked(const char *op, int64_t first, int32_t type,
                              int32_t n, uint64_t a, uint64_t b,
                              uint64_t desc_a, uint64_t desc_b, float *d) {
  using moe::gpu::WgmmaDescriptor;
  using Layout = moe::gpu::WgmmaM64NK16;
  constexpr uint64_t kStartBits = 0x3FFFF;
  // The operands gathered into a K-major layout without a swizzle: A's 64
  // rows, then B's n columns, core matrices 128 bytes apart along K and 256
  // along M or N.
  WgmmaDescriptor packed;
  packed.leading = 128;
  packed.stride = 256;
  uint8_t scratch[(Layout::M + 256) / 8 * 256];
  uint32_t bytes = uint32_t((Layout::M + std::max(n, 8)) / 8 * 256);
  if (n < 8 || n > 256 || n % 8)
    return 1;
  struct Operand {
    uint64_t start, bits;
    int rows;
    unsigned at;
  } operands[2] = {{a, desc_a, Layout::M, 0},
                   {b, desc_b, n, Layout::M / 8 * 256}};
  // The reads belong to the warpgroup's open group.
  int64_t warpgroup = first / (32 * kWarpsPerWarpgroup);
  uint32_t &open = block.openWgmma[warpgroup];
  if (!open) {
    open = uint32_t(block.wgmmaGroups.size());
    block.wgmmaGroups.push_back(
        {warpgroup, int(kWarpsPerWarpgroup), int(kWarpsPerWarpgroup), 0, {}});
  }
  struct Reading {
    explicit Reading(uint32_t group) { block.reading = group; }
    ~Reading() { block.reading = 0; }
  } reading(open);
  for (const Operand &operand : operands) {
    if (operand.start % 16) {
      moe_emu_fault(MOE_EMU_FAULT_MISALIGNED, op, first, 0, 0,
                    int64_t(operand.start), 16, 0);
      return 1;
    }
    WgmmaDescriptor layout = WgmmaDescriptor::decode(operand.bits);
    layout.start = unsigned(operand.start & kStartBits);
    uint64_t high = operand.start & ~kStartBits;
    for (int mn = 0; mn < operand.rows; ++mn)
      for (int k = 0; k < Layout::K; ++k) {
        uint64_t address = high + layout.address(false, mn, k);
        if (moe_emu_async_proxy_access(op, first, address, 2, 0))
          return 1;
        std::memcpy(scratch + operand.at + packed.address(false, mn, k),
                    reinterpret_cast<const void *>(address), 2);
      }
  }
  WgmmaDescriptor packedB = packed;
  packedB.start = Layout::M / 8 * 256;
  if (moe_emu_wgmma_m64nNk16(moe_emu_type(type), n, scratch, bytes,
                             WgmmaDescriptor::encode(packed), nullptr,
                             WgmmaDescriptor::encode(packedB), 1, 1, 1, 0, 0,
                             d) == 0) {
    report(first, op, "has a wgmma operand layout the ISA does not allow");
    return 1;
  }
  return 0;
}

void moe_emu_wgmma_commit_thread(int64_t thread) {
  if (thread % 32)
    return;
  int64_t warpgroup = thread / (32 * kWarpsPerWarpgroup);
  uint32_t &open = block.openWgmma[warpgroup];
  if (!open) { // a group of no wgmma: waits count it all the same
    open = uint32_t(block.wgmmaGroups.size());
    block.wgmmaGroups.push_back(
        {warpgroup, int(kWarpsPerWarpgroup), int(kWarpsPerWarpgroup), 0, {}});
  }
  block.committedWgmma[thread / 32].push_back(open);
  if (--block.wgmmaGroups[open].uncommitted == 0)
    block.openWgmma.erase(warpgroup);
}

void moe_emu_wgmma_wait_thread(const char *op, int64_t thread, int32_t n) {
  if (thread % 32)
    return;
  if (n < 0) {
    report(thread, op, "waits for a negative number of wgmma groups");
    return;
  }
  std::deque<uint32_t> &committed = block.committedWgmma[thread / 32];
  while (committed.size() > size_t(n)) {
    WgmmaGroup &group = block.wgmmaGroups[committed.front()];
    committed.pop_front();
    group.retires[size_t(thread / 32 % kWarpsPerWarpgroup)] = {thread,
                                                               epochOf(thread)};
    if (--group.unwaited == 0)
      group.retiredIn = block.interval;
  }
}

} // extern "C"

namespace {

/// The barrier object at `bar`, once initialised; else reports why not.
uint64_t *barrierAt(const char *op, int64_t thread, uint64_t bar) {
  if (!regionOf(bar, 8) || bar % 8) {
    std::ostringstream os;
    os << "gives an mbarrier at address 0x" << std::hex << bar
       << ", which is not an 8-byte aligned object in the block's shared "
          "memory";
    report(thread, op, os.str());
    return nullptr;
  }
  if (!block.phases.count(bar)) {
    report(thread, op, "uses an mbarrier no thread has initialised");
    return nullptr;
  }
  return reinterpret_cast<uint64_t *>(bar);
}

/// The parity of the barrier's current phase.
uint32_t parityOf(const uint64_t *bar) {
  return uint32_t(moe_emu_mbarrier_try_wait_parity(bar, 0));
}

/// Counts a completed phase of the barrier at `bar` when its parity is no
/// longer `before`'s: its arrivals' clocks are released to its waiters, and
/// the roles waiting for it may go on.
void countPhase(uint64_t bar, uint32_t before) {
  if (parityOf(reinterpret_cast<const uint64_t *>(bar)) == before)
    return;
  uint32_t phase = block.phases[bar]++;
  block.released[{bar, phase}] = std::move(block.arriving[bar]);
  block.arriving.erase(bar);
  moe::emu::phaseCompleted(bar, before);
}

/// Lands the bulk copies queued on `bar`: async-proxy writes of their bytes,
/// which then complete the current phase's transaction bytes.
bool land(uint64_t bar) {
  auto *word = reinterpret_cast<uint64_t *>(bar);
  std::vector<BulkCopy> queued;
  std::vector<BulkCopy> rest;
  for (BulkCopy &copy : block.bulkCopies)
    (copy.bar == bar ? queued : rest).push_back(copy);
  block.bulkCopies = std::move(rest);
  for (const BulkCopy &copy : queued) {
    if (moe_emu_async_proxy_access(copy.op, copy.thread, copy.dst, copy.bytes,
                                   1))
      return false;
    std::memcpy(reinterpret_cast<void *>(copy.dst),
                reinterpret_cast<const void *>(copy.src), copy.bytes);
    uint32_t phase = block.phases[bar];
    block.landings.push_back({bar, phase});
    Region *region = regionOf(copy.dst, copy.bytes);
    for (uint32_t i = 0; i < copy.bytes; ++i)
      region->landedBy[copy.dst - region->base + i] =
          uint32_t(block.landings.size() - 1);
    uint32_t before = parityOf(word);
    if (moe_emu_mbarrier_complete_tx(word, copy.bytes)) {
      report(copy.thread, copy.op,
             "completes more transaction bytes than its mbarrier's phase "
             "can take");
      return false;
    }
    countPhase(bar, before);
  }
  return true;
}

} // namespace

namespace moe::emu {

bool landQueuedCopies(uint64_t bar) { return land(bar); }

void reportFault(int64_t thread, const char *op, const std::string &what) {
  report(thread, op, what);
}

} // namespace moe::emu

extern "C" {

int32_t moe_emu_mbarrier_init_thread(const char *op, int64_t thread,
                                     uint64_t bar, int32_t count) {
  if (!regionOf(bar, 8) || bar % 8) {
    barrierAt(op, thread, bar); // reports where it is
    return 1;
  }
  if (sharedAccess(op, thread, bar, 8, 1))
    return 1;
  if (count <= 0 || moe_emu_mbarrier_init(reinterpret_cast<uint64_t *>(bar),
                                          uint32_t(count))) {
    report(thread, op,
           "initialises an mbarrier for " + std::to_string(count) +
               " arrivals; a phase has 1 to 2^20 - 1");
    return 1;
  }
  block.phases[bar] = 0;
  if (block.clocks.empty()) {
    block.clocks.assign(size_t(block.threads * block.threads), 0);
    for (int64_t t = 0; t < block.threads; ++t)
      block.clocks[size_t(t * block.threads + t)] = 1;
  }
  for (BulkCopy &copy : block.bulkCopies)
    if (copy.bar == bar) {
      report(thread, op, "initialises an mbarrier bulk copies are queued on");
      return 1;
    }
  return 0;
}

int32_t moe_emu_mbarrier_arrive_thread(const char *op, int64_t thread,
                                       uint64_t bar, int32_t tx_bytes) {
  uint64_t *word = barrierAt(op, thread, bar);
  if (!word)
    return 1;
  uint32_t before = parityOf(word);
  int64_t token =
      tx_bytes > 0 ? moe_emu_mbarrier_arrive_expect_tx(word, uint32_t(tx_bytes))
                   : moe_emu_mbarrier_arrive(word, 1);
  if (token < 0 || tx_bytes < 0) {
    report(thread, op,
           "arrives on an mbarrier whose phase has no arrival left, or "
           "expects more transaction bytes than a phase can take");
    return 1;
  }
  // The arrival releases the thread's accesses so far; its next ones are a
  // new epoch.
  join(block.arriving[bar], clockOf(thread));
  ++clockOf(thread)[thread];
  countPhase(bar, before);
  return 0;
}

int32_t moe_emu_mbarrier_wait_thread(const char *op, int64_t thread,
                                     uint64_t bar, int32_t parity) {
  uint64_t *word = barrierAt(op, thread, bar);
  if (!word)
    return 1;
  // A phase already complete returns at once, the copies queued on the
  // barrier not necessarily landed; else the copies land, then the phase
  // must have completed.
  if (!moe_emu_mbarrier_try_wait_parity(word, uint32_t(parity)) && !land(bar))
    return 1;
  if (!moe_emu_mbarrier_try_wait_parity(word, uint32_t(parity))) {
    report(thread, op,
           "waits for the phase of parity " + std::to_string(parity & 1) +
               " of an mbarrier that has not completed: in the emulator's "
               "order no arrival or copy is left to complete it (the GPU "
               "would wait forever, or for a thread the emulator runs later)");
    return 1;
  }
  uint32_t &seen = block.observed[{thread, bar}];
  seen = std::max(seen, block.phases[bar]);
  // The phase waited for, the last completed, orders its arrivals' accesses
  // before the thread's next ones.
  auto released = block.released.find({bar, block.phases[bar] - 1});
  if (released != block.released.end() && !released->second.empty()) {
    std::vector<uint32_t> mine(clockOf(thread),
                               clockOf(thread) + block.threads);
    join(mine, released->second.data());
    std::copy(mine.begin(), mine.end(), clockOf(thread));
  }
  return 0;
}

int32_t moe_emu_bulk_copy_thread(const char *op, int64_t thread, uint64_t dst,
                                 uint64_t src, int32_t bytes, uint64_t bar) {
  if (bytes <= 0 || bytes % 16 || dst % 16 || src % 16) {
    moe_emu_fault(MOE_EMU_FAULT_MISALIGNED, op, thread, 0, 0,
                  int64_t(dst % 16 ? dst : src), 16, 0);
    return 1;
  }
  Region *region = regionOf(dst, bytes);
  if (!region) {
    std::ostringstream os;
    os << "copies " << bytes
       << " bytes outside the block's shared memory at address 0x" << std::hex
       << dst;
    report(thread, op, os.str());
    return 1;
  }
  if (!barrierAt(op, thread, bar) || copyRacesWgmma(op, thread, dst, bytes))
    return 1;
  block.bulkCopies.push_back({op, thread, dst, src, uint32_t(bytes), bar});
  return 0;
}

void moe_emu_fault(int32_t kind, const char *op, int64_t tx, int64_t ty,
                   int64_t tz, int64_t a, int64_t b, int64_t c) {
  int64_t thread = linearOf(tx, ty, tz);
  std::ostringstream os;
  switch (kind) {
  case MOE_EMU_FAULT_READ_OUT_OF_BOUNDS:
  case MOE_EMU_FAULT_WRITE_OUT_OF_BOUNDS:
    os << (kind == MOE_EMU_FAULT_READ_OUT_OF_BOUNDS ? "reads" : "writes")
       << " out of bounds: index " << b << " of dimension " << a
       << ", whose extent is " << c;
    break;
  case MOE_EMU_FAULT_DIVERGENT:
    os << "does not agree with thread " << threadName(a)
       << " on reaching this collective operation, which every thread of "
          "the block must reach alike (a divergent barrier)";
    break;
  case MOE_EMU_FAULT_INACTIVE_LANE:
    os << "lane " << thread % 32
       << (b ? " reads from a lane outside its warp's member mask 0x"
             : " runs a warp-wide operation outside its warp's member mask 0x")
       << std::hex << a;
    break;
  case MOE_EMU_FAULT_UNWAITED:
    os << "ends with " << a << " cp.async copies it never waited for";
    break;
  case MOE_EMU_FAULT_SPARSE_METADATA:
    os << "gives mma.sp metadata 0x" << std::hex << a << std::dec
       << " with a nibble that is not an increasing pair of positions";
    break;
  case MOE_EMU_FAULT_MISALIGNED:
    os << "gives address 0x" << std::hex << a << std::dec
       << ", which is not aligned to " << b << " bytes";
    break;
  default:
    os << "fault " << kind;
  }
  report(thread, op, os.str());
}

void moe_emu_run_begin(void) {
  std::lock_guard<std::mutex> lock(faultMutex);
  faults = 0;
  firstFault.clear();
}

const char *moe_emu_run_fault(uint64_t *count) {
  std::lock_guard<std::mutex> lock(faultMutex);
  if (count)
    *count = faults;
  return faults ? firstFault.c_str() : nullptr;
}

} // extern "C"
