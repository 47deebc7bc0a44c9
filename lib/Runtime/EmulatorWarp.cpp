//===- EmulatorWarp.cpp - shfl, vote and redux of one warp ----------------===//
//
// The warp-wide exchanges of the PTX ISA (9.7.9.x, shfl.sync, vote.sync,
// redux.sync) as the ISA's pseudo-code defines them, for the CUDA emulator.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Emulator.h"

#include <cstdint>

namespace {

bool isMember(uint32_t mask, int lane) { return (mask >> lane) & 1; }

} // namespace

extern "C" {

int moe_emu_shfl_sync(moe_emu_shfl_mode mode, uint32_t membermask,
                      const uint32_t a[32], const uint32_t b[32],
                      const uint32_t c[32], uint32_t d[32], uint8_t p[32]) {
  // All sources are read before any lane's d is written: d may alias a.
  uint32_t source[32];
  bool valid[32] = {};
  int fault = -1;
  for (int lane = 0; lane < 32; ++lane) {
    if (!isMember(membermask, lane))
      continue;
    int bval = int(b[lane] & 0x1F), cval = int(c[lane] & 0x1F);
    int segmask = int((c[lane] >> 8) & 0x1F);
    int maxLane = (lane & segmask) | (cval & ~segmask);
    int minLane = lane & segmask;
    int j = lane;
    bool pval = false;
    switch (mode) {
    case MOE_EMU_SHFL_UP:
      j = lane - bval;
      pval = j >= maxLane;
      break;
    case MOE_EMU_SHFL_DOWN:
      j = lane + bval;
      pval = j <= maxLane;
      break;
    case MOE_EMU_SHFL_BFLY:
      j = lane ^ bval;
      pval = j <= maxLane;
      break;
    case MOE_EMU_SHFL_IDX:
      j = minLane | (bval & ~segmask);
      pval = j <= maxLane;
      break;
    }
    if (!pval)
      j = lane;
    if (!isMember(membermask, j) && fault < 0)
      fault = lane;
    source[lane] = a[j];
    valid[lane] = pval;
  }
  for (int lane = 0; lane < 32; ++lane) {
    if (!isMember(membermask, lane))
      continue;
    d[lane] = source[lane];
    if (p)
      p[lane] = valid[lane];
  }
  return fault;
}

uint32_t moe_emu_vote_sync(moe_emu_vote_mode mode, uint32_t membermask,
                           const uint8_t pred[32]) {
  uint32_t ballot = 0;
  for (int lane = 0; lane < 32; ++lane)
    if (isMember(membermask, lane) && pred[lane])
      ballot |= 1u << lane;
  switch (mode) {
  case MOE_EMU_VOTE_ALL:
    return ballot == membermask;
  case MOE_EMU_VOTE_ANY:
    return ballot != 0;
  case MOE_EMU_VOTE_UNI:
    return ballot == 0 || ballot == membermask;
  case MOE_EMU_VOTE_BALLOT:
    return ballot;
  }
  return 0;
}

uint32_t moe_emu_redux_sync(moe_emu_redux_op op, uint32_t membermask,
                            const uint32_t a[32]) {
  bool first = true;
  uint32_t result = 0;
  for (int lane = 0; lane < 32; ++lane) {
    if (!isMember(membermask, lane))
      continue;
    uint32_t x = a[lane];
    if (first) {
      result = x;
      first = false;
      continue;
    }
    switch (op) {
    case MOE_EMU_REDUX_ADD:
      result += x;
      break;
    case MOE_EMU_REDUX_MIN_U32:
      result = x < result ? x : result;
      break;
    case MOE_EMU_REDUX_MAX_U32:
      result = x > result ? x : result;
      break;
    case MOE_EMU_REDUX_MIN_S32:
      result = int32_t(x) < int32_t(result) ? x : result;
      break;
    case MOE_EMU_REDUX_MAX_S32:
      result = int32_t(x) > int32_t(result) ? x : result;
      break;
    case MOE_EMU_REDUX_AND:
      result &= x;
      break;
    case MOE_EMU_REDUX_OR:
      result |= x;
      break;
    case MOE_EMU_REDUX_XOR:
      result ^= x;
      break;
    }
  }
  return result;
}

} // extern "C"
