//===- Tools.h - what moe-run and moe-bench share ---------------*- C++ -*-===//
//
// Input specifications in iree-run-module's conventions, compiling a model
// with moe-opt when the tools are given one, and binding host tensors to an
// artifact's inputs.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_TOOLS_H
#define MOE_RUNTIME_TOOLS_H

#include "moe/Runtime/Npy.h"
#include "moe/Runtime/Runtime.h"

#include <string>
#include <vector>

namespace moe::runtime {

/// One `--input=`: `@file.npy`, `name=@file.npy`, `2x4xf32=1 2 3 ...` (one
/// value fills the tensor) or `name=2x4xf32=...`. `name` is empty when the
/// input goes by position.
struct InputSpec {
  std::string name;
  HostTensor tensor;
};
Status parseInputSpec(const std::string &spec, InputSpec &out);

/// Orders `specs` as the artifact's inputs (named ones by name, the others in
/// order) and checks there is one per input.
Status bindInputs(const moe_artifact *artifact, std::vector<InputSpec> &specs,
                  std::vector<moe_tensor> &bound);

/// Parses every `--input=` of `specs` and binds them as bindInputs does.
Status parseAndBindInputs(const moe_artifact *artifact,
                          const std::vector<std::string> &specs,
                          std::vector<InputSpec> &inputs,
                          std::vector<moe_tensor> &bound);

/// The runtime's view of a host tensor, and a host tensor holding an output.
Status toRuntime(HostTensor &tensor, moe_tensor &out);
Status fromRuntime(const moe_tensor &tensor, HostTensor &out);

/// A loaded artifact. A path to a model (`.onnx`, `.onnxtext`, `.mlir`) is
/// first compiled with the moe-opt beside the running tool (or on PATH) into
/// a temporary folder that goes away with the object, for `device` ("cpu"
/// when empty). A library must have been compiled for `device`, when given.
class LoadedArtifact {
public:
  ~LoadedArtifact();
  Status load(const std::string &path, const std::string &tool,
              const std::string &device = "");
  moe_artifact *get() const { return artifact; }

private:
  moe_artifact *artifact = nullptr;
  std::string tempDir;
};

/// `name: 2x4xf32=[1 2 3 4][5 6 7 8]`, at most `limit` values.
std::string formatTensor(const std::string &name, const HostTensor &tensor,
                         int64_t limit);

} // namespace moe::runtime

#endif // MOE_RUNTIME_TOOLS_H
