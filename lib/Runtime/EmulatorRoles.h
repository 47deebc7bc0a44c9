//===- EmulatorRoles.h - warp roles of an emulated block --------*- C++ -*-===//
//
// Between the emulator's model of a block (EmulatorChecks.cpp) and its
// scheduler of warp roles (EmulatorRoles.cpp): the roles of a block (the
// branches of a conditional marked moe_gpu.roles, a producer's warps and
// its consumers', say) run as coroutines, each until it waits for an
// mbarrier phase that has not completed; the phase's completion resumes it.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_RUNTIME_EMULATORROLES_H
#define MOE_LIB_RUNTIME_EMULATORROLES_H

#include <cstdint>
#include <string>

namespace moe::emu {

// The scheduler's side.

/// Whether a role coroutine of the current block is running (a wait may then
/// suspend it rather than fail).
bool inRole();
/// A token the running role awaits: made available when the phase of
/// parity `parity` of the barrier at `bar` completes. `op` and `thread` name
/// the wait in a deadlock's message.
void *awaitPhase(uint64_t bar, uint32_t parity, const char *op, int64_t thread);
/// The phase of parity `parity` of the barrier at `bar` has completed.
void phaseCompleted(uint64_t bar, uint32_t parity);
/// The block begins or ends: no roles, no tokens.
void resetRoles();

// The block model's side.

/// Lands the bulk copies queued on the barrier at `bar`; false after a fault.
bool landQueuedCopies(uint64_t bar);
/// Reports a fault of the block's thread `thread` at `op`.
void reportFault(int64_t thread, const char *op, const std::string &what);

} // namespace moe::emu

#endif // MOE_LIB_RUNTIME_EMULATORROLES_H
