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

#include <algorithm>
#include <cstring>
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
};

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

/// moe_emu_shared_access for the block's thread `thread` (linear).
int32_t sharedAccess(const char *op, int64_t thread, uint64_t address,
                     int64_t bytes, int32_t write) {
  Region *region = nullptr;
  for (Region &r : block.regions)
    if (address >= r.base && address + bytes <= r.base + uint64_t(r.bytes))
      region = &r;
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
    if (writer && writer != self) {
      report(thread, op,
             std::string(write ? "writes " : "reads ") +
                 sharedByte(*region, offset) + " that thread " +
                 threadName(writer - 1) +
                 " wrote with no barrier between them (a race)");
      return 0;
    }
    if (write && reader && reader != self) {
      report(thread, op,
             "writes " + sharedByte(*region, offset) + " that " +
                 (reader == kSeveral ? std::string("other threads")
                                     : "thread " + threadName(reader - 1)) +
                 " read with no barrier between them (a race)");
      return 0;
    }
    if (write) {
      writer = self;
      written = true;
    } else if (!reader) {
      reader = self;
    } else if (reader != self) {
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
}

void moe_emu_shared_region(uint64_t base, int64_t bytes) {
  block.regions.push_back({base, bytes, std::vector<uint64_t>(size_t(bytes))});
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
}

void moe_emu_barrier(void) { ++block.interval; }

void moe_emu_fence_proxy_async(void) {
  for (Region &region : block.regions)
    for (uint64_t &shadow : region.shadow)
      shadow &= ~kUnfenced;
}

int32_t moe_emu_async_proxy_access(const char *op, int64_t thread,
                                   uint64_t address, int64_t bytes,
                                   int32_t write) {
  for (Region &region : block.regions) {
    if (address < region.base ||
        address + bytes > region.base + uint64_t(region.bytes))
      continue;
    for (int64_t i = 0; i < bytes; ++i) {
      uint64_t offset = address - region.base + uint64_t(i);
      uint64_t &shadow = region.shadow[offset];
      if (write) {
        shadow = (shadow | kWritten) & ~kUnfenced;
        continue;
      }
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
      if (writer && writer != uint32_t(thread + 1)) {
        report(thread, op,
               "reads through the async proxy " + sharedByte(region, offset) +
                   " that thread " + threadName(writer - 1) +
                   " wrote with no barrier between them (a race)");
        return 0;
      }
    }
    return 0;
  }
  std::ostringstream os;
  os << (write ? "writes " : "reads ") << bytes
     << " bytes outside the block's shared memory at address 0x" << std::hex
     << address << " through the async proxy";
  report(thread, op, os.str());
  return 1;
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
