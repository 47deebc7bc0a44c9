//===- CpuFeatures.cpp - the x86-64 features of this processor ------------===//
//
// CPUID and XGETBV, as the Intel SDM and AMD's APM define them: a feature is
// there when its CPUID bit is set and, for the AVX and AVX-512 registers, the
// operating system saves their state (XCR0).
//
//===----------------------------------------------------------------------===//

#include "CpuFeatures.h"

#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace {

struct Registers {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

#if defined(__x86_64__) || defined(__i386__)
Registers cpuid(uint32_t leaf, uint32_t subleaf) {
  Registers r;
  if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx))
    return Registers{};
  return r;
}

/// XCR0, the state components the operating system saves (0 without
/// OSXSAVE).
uint64_t savedState() {
  if (!(cpuid(1, 0).ecx & (1u << 27)))
    return 0;
  uint32_t low, high;
  __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
  return (uint64_t(high) << 32) | low;
}
#endif

} // namespace

namespace moe::cpu {

bool hostHas(const std::string &feature) {
#if defined(__x86_64__) || defined(__i386__)
  static const Registers leaf1 = cpuid(1, 0), leaf7 = cpuid(7, 0),
                         leaf7s1 = cpuid(7, 1);
  static const uint64_t xcr0 = savedState();
  // The registers' state the operating system must save: none, XMM and YMM,
  // or those and the opmask and upper ZMM registers.
  enum State { kNone, kAvx, kAvx512 };
  struct Bit {
    const char *name;
    const uint32_t &word;
    int index;
    State state;
  };
  static const Bit kBits[] = {
      {"avx", leaf1.ecx, 28, kAvx},
      {"fma", leaf1.ecx, 12, kAvx},
      {"f16c", leaf1.ecx, 29, kAvx},
      {"avx2", leaf7.ebx, 5, kAvx},
      {"bmi2", leaf7.ebx, 8, kNone},
      {"avx512f", leaf7.ebx, 16, kAvx512},
      {"avx512dq", leaf7.ebx, 17, kAvx512},
      {"avx512cd", leaf7.ebx, 28, kAvx512},
      {"avx512bw", leaf7.ebx, 30, kAvx512},
      {"avx512vl", leaf7.ebx, 31, kAvx512},
      {"avx512vnni", leaf7.ecx, 11, kAvx512},
      {"avx512fp16", leaf7.edx, 23, kAvx512},
      {"avx512bf16", leaf7s1.eax, 5, kAvx512},
  };
  const bool saved[] = {true, (xcr0 & 0x6) == 0x6, (xcr0 & 0xE6) == 0xE6};
  for (const Bit &bit : kBits)
    if (feature == bit.name)
      return saved[bit.state] && ((bit.word >> bit.index) & 1u);
#endif
  (void)feature;
  return false;
}

std::vector<std::string>
missing(const std::vector<std::string> &required,
        const std::function<bool(const std::string &)> &has) {
  std::vector<std::string> lacking;
  for (const std::string &feature : required)
    if (!has(feature))
      lacking.push_back(feature);
  return lacking;
}

} // namespace moe::cpu
