//===- CpuFeatures.h - the x86-64 features an artifact needs ----*- C++ -*-===//
//
// An artifact records the instruction-set features of the processor it was
// compiled for (`cpu` in its signature, the names LLVM gives them, from the
// list MOE_ABI_CPU_FEATURES); the runtime refuses to load it where the host
// lacks one, rather than fault on an illegal instruction mid-run.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_RUNTIME_CPUFEATURES_H
#define MOE_LIB_RUNTIME_CPUFEATURES_H

#include <functional>
#include <string>
#include <vector>

namespace moe::cpu {

/// Whether this processor, and the operating system's saved state, supports
/// `feature` (one of MOE_ABI_CPU_FEATURES); false for any other name.
bool hostHas(const std::string &feature);

/// The features of `required` that `has` says the processor lacks, in order.
std::vector<std::string>
missing(const std::vector<std::string> &required,
        const std::function<bool(const std::string &)> &has = hostHas);

} // namespace moe::cpu

#endif // MOE_LIB_RUNTIME_CPUFEATURES_H
