//===- moe-run.cpp - run a compiled moe-mlir artifact ---------------------===//
//
// moe-run model.so --input=@x.npy [--input=name=@file.npy]
//                  [--input="2x4xf32=1 2 3 4 5 6 7 8"] [--output=@y.npy]
// A model (.onnx, .onnxtext, .mlir) is compiled with moe-opt first.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Tools.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace moe::runtime;

namespace {

constexpr const char *kUsage =
    "usage: moe-run <model.so | model.onnx | model.onnxtext | model.mlir>\n"
    "               [--input=@x.npy | --input=name=@x.npy | "
    "--input=\"2x4xf32=1 2 ...\"]...\n"
    "               [--output=@y.npy | --output=name=@y.npy]... "
    "[--print-max=N] [--signature] [--device=cpu|cuda]\n"
    "               [--repeat=N]\n"
    "Inputs go in the model's order unless named; an output with no --output "
    "is printed. --repeat runs the model N times (on CUDA the second run is "
    "captured as a CUDA graph and later ones replay it) and fails unless every "
    "run's outputs are the first's, bit for bit.\n";

int fail(const std::string &message) {
  std::fprintf(stderr, "moe-run: error: %s\n", message.c_str());
  return 1;
}

bool startsWith(const std::string &text, const char *prefix) {
  return text.rfind(prefix, 0) == 0;
}

void printSignature(const moe_artifact *artifact) {
  auto print = [](const char *role, moe_tensor_info info) {
    std::printf("%s %s: ", role, info.name);
    for (int32_t d = 0; d < info.rank; ++d) {
      if (info.dims[d] < 0)
        std::printf("%sx", info.dim_names[d][0] ? info.dim_names[d] : "?");
      else
        std::printf("%lldx", static_cast<long long>(info.dims[d]));
    }
    std::printf("%s\n", moe_dtype_name(info.dtype));
  };
  if (*moe_artifact_arch(artifact))
    std::printf("device cuda %s\n", moe_artifact_arch(artifact));
  if (*moe_artifact_cpu(artifact))
    std::printf("cpu %s\n", moe_artifact_cpu(artifact));
  for (size_t i = 0; i < moe_artifact_num_inputs(artifact); ++i)
    print("input", moe_artifact_input(artifact, i));
  for (size_t i = 0; i < moe_artifact_num_outputs(artifact); ++i)
    print("output", moe_artifact_output(artifact, i));
}

} // namespace

int main(int argc, char **argv) {
  std::string model;
  std::vector<std::string> inputSpecs, outputSpecs;
  int64_t printMax = 1024, repeat = 1;
  bool signature = false;
  std::string device;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (startsWith(arg, "--input="))
      inputSpecs.push_back(arg.substr(8));
    else if (startsWith(arg, "--output="))
      outputSpecs.push_back(arg.substr(9));
    else if (startsWith(arg, "--print-max=")) {
      char *end = nullptr;
      printMax = std::strtoll(arg.c_str() + 12, &end, 10);
      if (*end || printMax < 0)
        return fail("--print-max needs a non-negative number");
    } else if (startsWith(arg, "--repeat=")) {
      char *end = nullptr;
      repeat = std::strtoll(arg.c_str() + 9, &end, 10);
      if (*end || repeat < 1)
        return fail("--repeat needs a positive number of runs");
    } else if (arg == "--signature")
      signature = true;
    else if (startsWith(arg, "--device="))
      device = arg.substr(9);
    else if (startsWith(arg, "-"))
      return fail("unknown option " + arg + "\n" + kUsage);
    else if (model.empty())
      model = arg;
    else
      return fail("more than one model given: " + model + ", " + arg);
  }
  if (model.empty())
    return fail(std::string("no model given\n") + kUsage);

  LoadedArtifact artifact;
  Status status = artifact.load(model, "moe-run", device);
  if (!status.ok)
    return fail(status.message);
  if (signature) {
    printSignature(artifact.get());
    if (inputSpecs.empty())
      return 0;
  }

  std::vector<InputSpec> inputs;
  std::vector<moe_tensor> bound;
  status = parseAndBindInputs(artifact.get(), inputSpecs, inputs, bound);
  if (!status.ok)
    return fail(status.message);

  // Where each output goes: a file, or printed.
  size_t numOutputs = moe_artifact_num_outputs(artifact.get());
  std::vector<std::string> destinations(numOutputs);
  size_t next = 0;
  for (const std::string &spec : outputSpecs) {
    std::string target = spec;
    size_t index = numOutputs;
    size_t eq = spec.find('=');
    if (eq != std::string::npos && spec[0] != '@') {
      std::string name = spec.substr(0, eq);
      target = spec.substr(eq + 1);
      for (size_t i = 0; i < numOutputs; ++i)
        if (name == moe_artifact_output(artifact.get(), i).name)
          index = i;
      if (index == numOutputs)
        return fail("the model has no output named '" + name + "'");
    } else {
      while (next < numOutputs && !destinations[next].empty())
        ++next;
      index = next;
    }
    if (index >= numOutputs)
      return fail("more --output given than the model's " +
                  std::to_string(numOutputs) + " outputs");
    if (target.size() < 2 || target[0] != '@')
      return fail("--output=" + spec + ": expected @file.npy");
    destinations[index] = target.substr(1);
  }

  // Each run's outputs; every run after the first must give the first's.
  std::vector<HostTensor> first(numOutputs);
  for (int64_t run = 0; run < repeat; ++run) {
    std::vector<moe_tensor> outputs(numOutputs);
    if (moe_error *error =
            moe_artifact_run(artifact.get(), bound.data(), bound.size(),
                             outputs.data(), outputs.size())) {
      std::string message = moe_error_message(error);
      moe_error_free(error);
      return fail(repeat > 1 ? "run " + std::to_string(run + 1) + " of " +
                                   std::to_string(repeat) + ": " + message
                             : message);
    }
    for (size_t i = 0; i < numOutputs; ++i) {
      HostTensor host;
      status = fromRuntime(outputs[i], host);
      moe_free(outputs[i].data);
      const char *name = moe_artifact_output(artifact.get(), i).name;
      if (!status.ok)
        return fail(std::string("output '") + name + "': " + status.message);
      if (run == 0)
        first[i] = std::move(host);
      else if (host.shape != first[i].shape || host.data != first[i].data)
        return fail("run " + std::to_string(run + 1) + " of " +
                    std::to_string(repeat) + " gives output '" + name +
                    "' other than the first run's (" + host.typeString() +
                    " against " + first[i].typeString() + ")");
    }
  }
  int rc = 0;
  for (size_t i = 0; i < numOutputs; ++i) {
    const char *name = moe_artifact_output(artifact.get(), i).name;
    if (!destinations[i].empty())
      status = writeNpy(destinations[i], first[i]);
    else
      std::printf("%s\n", formatTensor(name, first[i], printMax).c_str());
    if (!status.ok)
      rc = fail(std::string("output '") + name + "': " + status.message);
  }
  return rc;
}
