//===- EmulatorRoles.cpp - warp roles of an emulated block as coroutines --===//
//
// A kernel that gives its warps roles (a producer warpgroup that copies
// tiles, consumers that multiply them, synchronised by mbarriers alone) has
// threads that wait for each other in both directions, which no order of
// running one role after the other satisfies. The emulator runs each role
// as a coroutine (the compiler's async lowering of it) on one scheduler per
// block: a role runs until it waits for an mbarrier phase that has not
// completed, and the phase's completion makes it ready again. Roles that
// all wait with nothing left to complete their phases are a deadlock, which
// the GPU would hang on: a fault naming the waits.
//
// The scheduler is the runtime of the async dialect's lowering (its
// mlirAsyncRuntime* functions, reached through moe_emu_api): tokens, the
// ready queue of coroutine handles, blocking awaits that run it.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Emulator.h"

#include "EmulatorRoles.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <sstream>
#include <vector>

namespace {

using Resume = void (*)(void *);

struct Token {
  bool available = false, error = false;
  /// Coroutines to resume once it is available.
  std::vector<std::pair<void *, Resume>> waiters;
  /// The phase it stands for, while a role waits for one.
  uint64_t bar = 0;
  uint32_t parity = 0;
  const char *op = nullptr;
  int64_t thread = -1;
};

struct Scheduler {
  /// Every token of the block (they live until it ends).
  std::vector<std::unique_ptr<Token>> tokens;
  std::deque<std::pair<void *, Resume>> ready;
  /// Tokens of roles waiting for a phase, in the order they began to.
  std::vector<Token *> phaseWaits;
  /// Roles begun and not ended.
  int live = 0;
  /// The token of waits with nothing to wait for.
  Token done = [] {
    Token token;
    token.available = true;
    return token;
  }();
};

thread_local Scheduler scheduler;

void makeAvailable(Token *token) {
  token->available = true;
  for (auto &waiter : token->waiters)
    scheduler.ready.push_back(waiter);
  token->waiters.clear();
}

/// Every role waits and nothing can complete a phase: reported once for the
/// block, at the first wait.
void deadlock() {
  std::ostringstream os;
  if (scheduler.phaseWaits.empty()) {
    os << "has warp roles that wait for each other forever";
    moe::emu::reportFault(0, "moe_gpu.roles", os.str());
    return;
  }
  const Token *first = scheduler.phaseWaits.front();
  os << "waits forever for the phase of parity " << first->parity
     << " of the mbarrier at address 0x" << std::hex << first->bar << std::dec
     << ": every warp role of the block waits (" << scheduler.phaseWaits.size()
     << " waits) and no arrival or copy is left to complete a phase (a "
        "deadlock)";
  moe::emu::reportFault(first->thread, first->op, os.str());
}

} // namespace

namespace moe::emu {

bool inRole() { return scheduler.live > 0; }

void *awaitPhase(uint64_t bar, uint32_t parity, const char *op,
                 int64_t thread) {
  scheduler.tokens.push_back(std::make_unique<Token>());
  Token *token = scheduler.tokens.back().get();
  token->bar = bar;
  token->parity = parity & 1;
  token->op = op;
  token->thread = thread;
  scheduler.phaseWaits.push_back(token);
  return token;
}

void phaseCompleted(uint64_t bar, uint32_t parity) {
  std::vector<Token *> still;
  std::vector<Token *> done;
  for (Token *token : scheduler.phaseWaits)
    (token->bar == bar && token->parity == (parity & 1) ? done : still)
        .push_back(token);
  scheduler.phaseWaits = std::move(still);
  for (Token *token : done)
    makeAvailable(token);
}

void resetRoles() {
  scheduler.ready.clear();
  scheduler.phaseWaits.clear();
  scheduler.tokens.clear();
  scheduler.live = 0;
}

} // namespace moe::emu

extern "C" {

void moe_emu_role_begin(void) { ++scheduler.live; }
void moe_emu_role_end(void) { --scheduler.live; }

void *moe_emu_mbarrier_pending(const char *op, int64_t thread, uint64_t bar,
                               int32_t parity) {
  // (The kernel takes the token's address as an integer.)
  if (!moe::emu::inRole())
    return &scheduler.done;
  // Complete already, or once the copies queued on it land.
  auto *word = reinterpret_cast<const uint64_t *>(bar);
  if (moe_emu_mbarrier_try_wait_parity(word, uint32_t(parity)))
    return &scheduler.done;
  if (!moe::emu::landQueuedCopies(bar) ||
      moe_emu_mbarrier_try_wait_parity(word, uint32_t(parity)))
    return &scheduler.done;
  return moe::emu::awaitPhase(bar, uint32_t(parity), op, thread);
}

void *moe_emu_async_create_token(void) {
  scheduler.tokens.push_back(std::make_unique<Token>());
  return scheduler.tokens.back().get();
}

void moe_emu_async_emplace_token(void *token) {
  makeAvailable(static_cast<Token *>(token));
}

void moe_emu_async_set_token_error(void *token) {
  static_cast<Token *>(token)->error = true;
  makeAvailable(static_cast<Token *>(token));
}

bool moe_emu_async_is_token_error(void *token) {
  return static_cast<Token *>(token)->error;
}

void moe_emu_async_execute(void *handle, Resume resume) {
  scheduler.ready.push_back({handle, resume});
}

void moe_emu_async_await_token_and_execute(void *token, void *handle,
                                           Resume resume) {
  auto *awaited = static_cast<Token *>(token);
  if (awaited->available)
    scheduler.ready.push_back({handle, resume});
  else
    awaited->waiters.push_back({handle, resume});
}

void moe_emu_async_await_token(void *token) {
  auto *awaited = static_cast<Token *>(token);
  while (!awaited->available) {
    if (scheduler.ready.empty()) {
      // The bytes of copies queued on the barriers roles wait for may
      // complete their phases.
      std::vector<Token *> waits = scheduler.phaseWaits;
      for (Token *wait : waits)
        if (!moe::emu::landQueuedCopies(wait->bar))
          break;
      if (scheduler.ready.empty()) {
        // Left suspended: the block's run has failed.
        deadlock();
        scheduler.phaseWaits.clear();
        awaited->available = true;
        return;
      }
      continue;
    }
    auto [handle, resume] = scheduler.ready.front();
    scheduler.ready.pop_front();
    resume(handle);
  }
}

void moe_emu_async_reference(void *, int64_t) {}

} // extern "C"
