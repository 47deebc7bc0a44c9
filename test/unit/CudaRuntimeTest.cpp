//===- CudaRuntimeTest.cpp - the runtime's CUDA path without a GPU --------===//
//
// A fake CUDA artifact (Inputs/FakeCudaArtifact.c) loads without a driver,
// gets its runtime table filled, and its runs check their inputs, then fail
// with one message naming the missing driver, without calling the model.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Runtime.h"

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

/// Puts the empty weights file the fake artifacts' signatures ask for beside
/// `library`.
void writeEmptyWeights(const std::string &library) {
  if (std::FILE *weights = std::fopen((library + ".weights").c_str(), "wb"))
    std::fclose(weights);
}

/// Loads `library` (with an empty weights file beside it); fails the test on
/// error.
moe_artifact *load(const std::string &library) {
  writeEmptyWeights(library);
  moe_artifact *artifact = nullptr;
  moe_error *error = moe_artifact_load(library.c_str(), &artifact);
  EXPECT_EQ(error, nullptr) << moe_error_message(error);
  moe_error_free(error);
  return artifact;
}

class CudaRuntimeTest : public ::testing::Test {
protected:
  void SetUp() override {
    // Whatever this machine has, the driver the runtime opens does not exist.
    setenv("MOE_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1);
  }
};

TEST_F(CudaRuntimeTest, LoadsWithoutADriverAndFillsTheRuntimeTable) {
  moe_artifact *artifact = load(MOE_FAKE_CUDA_ARTIFACT);
  ASSERT_NE(artifact, nullptr);
  EXPECT_STREQ(moe_artifact_device(artifact), "cuda");
  EXPECT_STREQ(moe_artifact_arch(artifact), "sm_90a");
  ASSERT_EQ(moe_artifact_num_inputs(artifact), 1u);
  EXPECT_STREQ(moe_artifact_input(artifact, 0).name, "x");
  void *library = dlopen(MOE_FAKE_CUDA_ARTIFACT, RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(library, nullptr);
  auto **table = static_cast<void **>(dlsym(library, "moe_gpu_api"));
  ASSERT_NE(table, nullptr);
  for (int i = 0; i < 4; ++i)
    EXPECT_NE(table[i], nullptr) << "moe_gpu_api[" << i << "]";
  dlclose(library);
  moe_artifact_free(artifact);
}

TEST_F(CudaRuntimeTest, LoadRefusesHostCodeForFeaturesThisProcessorLacks) {
  writeEmptyWeights(MOE_FAKE_CUDA_ARTIFACT_FUTURE_CPU);
  moe_artifact *artifact = nullptr;
  moe_error *error =
      moe_artifact_load(MOE_FAKE_CUDA_ARTIFACT_FUTURE_CPU, &artifact);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(artifact, nullptr);
  EXPECT_EQ(std::string(moe_error_message(error)),
            std::string(MOE_FAKE_CUDA_ARTIFACT_FUTURE_CPU) +
                ": compiled for --mcpu=future-x86, whose code needs "
                "avx1024f, which this processor lacks (compile it with "
                "--mcpu=native, or the default x86-64-v3)");
  moe_error_free(error);
}

TEST_F(CudaRuntimeTest, CpuLineWithNoFeaturesLoads) {
  moe_artifact *artifact = load(MOE_FAKE_CUDA_ARTIFACT);
  ASSERT_NE(artifact, nullptr);
  EXPECT_STREQ(moe_artifact_cpu(artifact), "x86-64");
  moe_artifact_free(artifact);
}

TEST_F(CudaRuntimeTest, RunChecksInputsThenNamesTheMissingDriver) {
  moe_artifact *artifact = load(MOE_FAKE_CUDA_ARTIFACT);
  ASSERT_NE(artifact, nullptr);
  void *library = dlopen(MOE_FAKE_CUDA_ARTIFACT, RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(library, nullptr);
  auto *calls = static_cast<int *>(dlsym(library, "moe_fake_entry_calls"));
  ASSERT_NE(calls, nullptr);

  float data[8] = {0};
  moe_tensor wrong = {data, MOE_DTYPE_F32, 2, {2, 3}};
  moe_tensor out = {nullptr, MOE_DTYPE_F32, 0, {0}};
  moe_error *error = moe_artifact_run(artifact, &wrong, 1, &out, 1);
  ASSERT_NE(error, nullptr);
  EXPECT_STREQ(moe_error_message(error),
               "input 'x' expects f32 [?, 4], got f32 [2, 3]");
  moe_error_free(error);

  moe_tensor right = {data, MOE_DTYPE_F32, 2, {2, 4}};
  error = moe_artifact_run(artifact, &right, 1, &out, 1);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(std::string(moe_error_message(error)),
            "this artifact runs on CUDA (sm_90a): no CUDA driver: "
            "/nonexistent/libcuda.so.1: cannot open shared object file: No "
            "such file or directory");
  moe_error_free(error);
  EXPECT_EQ(out.data, nullptr) << "a failed run wrote an output";
  EXPECT_EQ(*calls, 0) << "the model ran without a device";
  dlclose(library);
  moe_artifact_free(artifact);
}

TEST_F(CudaRuntimeTest, ArtifactWithoutKernelImageIsRejected) {
  std::string library = MOE_FAKE_CUDA_ARTIFACT_NO_IMAGE;
  writeEmptyWeights(library);
  moe_artifact *artifact = nullptr;
  moe_error *error = moe_artifact_load(library.c_str(), &artifact);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(std::string(moe_error_message(error)),
            library + ": a CUDA artifact without its kernel image "
                      "(moe_cuda_module) or runtime table (moe_gpu_api)");
  EXPECT_EQ(artifact, nullptr);
  moe_error_free(error);
}

} // namespace
