//===- RuntimeTest.cpp - the runtime's C API and the tools' input parsing -===//
//
// What needs no compiled artifact: load errors, input specifications and
// binding them to a signature. Running artifacts is covered end to end
// (test/e2e, test/tools).
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Runtime.h"
#include "moe/Runtime/ArtifactAbi.h"
#include "moe/Runtime/Tools.h"

#include "lib/Runtime/CpuFeatures.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

using namespace moe::runtime;

namespace {

TEST(RuntimeTest, LoadMissingLibraryNamesTheFile) {
  moe_artifact *artifact = reinterpret_cast<moe_artifact *>(0x1);
  moe_error *error = moe_artifact_load("/nonexistent/model.so", &artifact);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(artifact, nullptr);
  EXPECT_NE(std::string(moe_error_message(error)).find("/nonexistent/model.so: cannot load"),
            std::string::npos)
      << moe_error_message(error);
  moe_error_free(error);
}

// The features an artifact may need, as CPUID reports them here: each
// level implies the ones below it, and a name outside the list is never
// there (an artifact needing it is refused).
TEST(RuntimeTest, HostCpuFeaturesAreConsistent) {
  using moe::cpu::hostHas;
  for (const char *feature : {MOE_ABI_CPU_FEATURES}) {
    if (hostHas(feature) && std::string(feature).rfind("avx512", 0) == 0) {
      EXPECT_TRUE(hostHas("avx512f")) << feature;
    }
  }
  if (hostHas("avx512f")) {
    EXPECT_TRUE(hostHas("avx2"));
  }
  if (hostHas("avx2")) {
    EXPECT_TRUE(hostHas("avx"));
  }
  EXPECT_FALSE(hostHas("avx1024f"));
  EXPECT_FALSE(hostHas(""));
}

TEST(RuntimeTest, MissingCpuFeaturesInOrder) {
  auto has = [](const std::string &feature) { return feature == "avx2"; };
  EXPECT_EQ(moe::cpu::missing({"avx512f", "avx2", "avx512bf16"}, has),
            (std::vector<std::string>{"avx512f", "avx512bf16"}));
  EXPECT_TRUE(moe::cpu::missing({}, has).empty());
}

TEST(RuntimeTest, DtypeNamesAndSizes) {
  EXPECT_STREQ(moe_dtype_name(MOE_DTYPE_F32), "f32");
  EXPECT_STREQ(moe_dtype_name(MOE_DTYPE_BOOL), "bool");
  EXPECT_STREQ(moe_dtype_name(MOE_DTYPE_U8), "u8");
  EXPECT_EQ(moe_dtype_size(MOE_DTYPE_U8), 1u);
  EXPECT_EQ(moe_dtype_size(MOE_DTYPE_F16), 2u);
  EXPECT_EQ(moe_dtype_size(MOE_DTYPE_I64), 8u);
  EXPECT_STREQ(moe_dtype_name(MOE_DTYPE_BF16), "bf16");
  EXPECT_EQ(moe_dtype_size(MOE_DTYPE_BF16), 2u);
}

TEST(ToolsTest, InlineBf16RoundsToNearestEven) {
  // 1 + 2^-8 is halfway between bf16's 1 and 1 + 2^-7: to even, 1 (0x3F80);
  // 3.0234375 is halfway between 0x4041 (odd) and 0x4042: to even, up.
  InputSpec spec;
  Status status = parseInputSpec("2xbf16=1.00390625 3.0234375", spec);
  ASSERT_TRUE(status.ok) << status.message;
  EXPECT_EQ(spec.tensor.dtype, DType::BF16);
  ASSERT_EQ(spec.tensor.data.size(), 4u);
  EXPECT_EQ(spec.tensor.data[0] | spec.tensor.data[1] << 8, 0x3F80);
  EXPECT_EQ(spec.tensor.data[2] | spec.tensor.data[3] << 8, 0x4042);
}

TEST(ToolsTest, InlineInputFillsFromOneValue) {
  InputSpec spec;
  Status status = parseInputSpec("2x3xf32=1.5", spec);
  ASSERT_TRUE(status.ok) << status.message;
  EXPECT_TRUE(spec.name.empty());
  EXPECT_EQ(spec.tensor.shape, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(spec.tensor.data.size(), 24u);
  float last;
  std::memcpy(&last, spec.tensor.data.data() + 20, 4);
  EXPECT_EQ(last, 1.5f);
}

TEST(ToolsTest, NamedInlineInputWithEveryValue) {
  InputSpec spec;
  Status status = parseInputSpec("ids=2x2xi64=[1, 2][3, -4]", spec);
  ASSERT_TRUE(status.ok) << status.message;
  EXPECT_EQ(spec.name, "ids");
  EXPECT_EQ(spec.tensor.dtype, DType::I64);
  int64_t values[4];
  std::memcpy(values, spec.tensor.data.data(), sizeof(values));
  EXPECT_EQ(values[3], -4);
}

TEST(ToolsTest, HalfPrecisionRoundsToNearestEven) {
  InputSpec spec;
  ASSERT_TRUE(parseInputSpec("2xf16=1 0.1", spec).ok);
  uint16_t half[2];
  std::memcpy(half, spec.tensor.data.data(), sizeof(half));
  EXPECT_EQ(half[0], 0x3c00);
  EXPECT_EQ(half[1], 0x2e66); // 0.1 -> 0.0999755859375
}

TEST(ToolsTest, BadSpecificationsSayWhatIsWrong) {
  InputSpec spec;
  Status status = parseInputSpec("2x2xf32=1 2 3", spec);
  EXPECT_FALSE(status.ok);
  EXPECT_NE(status.message.find("2x2xf32 needs 4 values (or one to fill it), got 3"),
            std::string::npos)
      << status.message;
  status = parseInputSpec("2x2xq7=1", spec);
  EXPECT_FALSE(status.ok);
  EXPECT_NE(status.message.find("'2x2xq7' is not a type such as 2x4xf32"),
            std::string::npos)
      << status.message;
  status = parseInputSpec("x=2x2xf32=1 oops 3 4", spec);
  EXPECT_FALSE(status.ok);
  EXPECT_NE(status.message.find("'oops'"), std::string::npos) << status.message;
  status = parseInputSpec("nothing", spec);
  EXPECT_FALSE(status.ok);
}

TEST(ToolsTest, FormatsRowsInBrackets) {
  InputSpec spec;
  ASSERT_TRUE(parseInputSpec("2x2xi32=1 2 3 4", spec).ok);
  EXPECT_EQ(formatTensor("y", spec.tensor, 100), "y: 2x2xi32=[1 2][3 4]");
  EXPECT_EQ(formatTensor("y", spec.tensor, 3), "y: 2x2xi32=[1 2][3 ...]");
}

} // namespace
