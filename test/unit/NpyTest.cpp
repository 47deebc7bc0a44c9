//===- NpyTest.cpp - the runtime's .npy reader and writer -----------------===//

#include "moe/Runtime/Npy.h"

#include "gtest/gtest.h"

#include <cstdio>
#include <cstring>
#include <string>

using namespace moe::runtime;

namespace {

/// A .npy 1.0 image with `header` (padded and newline-terminated) and `payload`
/// bytes.
std::vector<uint8_t> npyImage(const std::string &dict, size_t payload) {
  std::string header = dict;
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string image("\x93NUMPY\x01\x00", 8);
  image += static_cast<char>(header.size() & 0xff);
  image += static_cast<char>(header.size() >> 8);
  image += header;
  std::vector<uint8_t> out(image.begin(), image.end());
  for (size_t i = 0; i < payload; ++i)
    out.push_back(static_cast<uint8_t>(i));
  return out;
}

Status parse(const std::vector<uint8_t> &bytes, HostTensor &out) {
  return parseNpy(bytes.data(), bytes.size(), "x.npy", out);
}

TEST(Npy, ReadsWhatNumpyWrites) {
  // numpy.save of np.zeros((2, 3), np.float32) writes exactly this header.
  HostTensor tensor;
  Status status = parse(
      npyImage("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
               24),
      tensor);
  ASSERT_TRUE(status.ok) << status.message;
  EXPECT_EQ(tensor.dtype, DType::F32);
  EXPECT_EQ(tensor.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(tensor.data.size(), 24u);
  EXPECT_EQ(tensor.data[5], 5);
  EXPECT_EQ(tensor.typeString(), "2x3xf32");
}

TEST(Npy, ReadsScalarsAndVectors) {
  HostTensor tensor;
  ASSERT_TRUE(
      parse(npyImage("{'descr': '<i8', 'fortran_order': False, 'shape': (), }",
                     8),
            tensor)
          .ok);
  EXPECT_TRUE(tensor.shape.empty());
  EXPECT_EQ(tensor.numElements(), 1);
  ASSERT_TRUE(
      parse(npyImage(
                "{'descr': '|b1', 'fortran_order': False, 'shape': (5,), }", 5),
            tensor)
          .ok);
  EXPECT_EQ(tensor.dtype, DType::Bool);
  EXPECT_EQ(tensor.shape, (std::vector<int64_t>{5}));
}

TEST(Npy, Bf16IsWrittenAsF32) {
  // NumPy has no bfloat16: its values go out widened to f32, exactly.
  HostTensor in;
  in.dtype = DType::BF16;
  in.shape = {2};
  in.data = {0x80, 0x3F, 0x41, 0xC0}; // 1.0 and -3.015625
  HostTensor out;
  ASSERT_TRUE(parse(serializeNpy(in), out).ok);
  EXPECT_EQ(out.dtype, DType::F32);
  EXPECT_EQ(out.shape, in.shape);
  float values[2];
  ASSERT_EQ(out.data.size(), sizeof(values));
  std::memcpy(values, out.data.data(), sizeof(values));
  EXPECT_EQ(values[0], 1.0f);
  EXPECT_EQ(values[1], -3.015625f);
}

TEST(Npy, RoundTripsEveryDType) {
  for (DType dtype : {DType::F16, DType::F32, DType::F64, DType::I8, DType::I32,
                      DType::I64, DType::U8, DType::Bool}) {
    for (std::vector<int64_t> shape :
         {std::vector<int64_t>{}, {7}, {2, 3}, {1, 4, 0}}) {
      HostTensor in;
      in.dtype = dtype;
      in.shape = shape;
      in.data.resize(in.numElements() * dtypeSize(dtype));
      for (size_t i = 0; i < in.data.size(); ++i)
        in.data[i] = static_cast<uint8_t>(i * 7 + 1);
      std::vector<uint8_t> bytes = serializeNpy(in);
      EXPECT_EQ((bytes.size() - in.data.size()) % 64, 0u)
          << "data must start on a 64-byte boundary";
      HostTensor out;
      Status status = parse(bytes, out);
      ASSERT_TRUE(status.ok) << status.message;
      EXPECT_EQ(out.dtype, dtype);
      EXPECT_EQ(out.shape, shape);
      EXPECT_EQ(out.data, in.data);
    }
  }
}

TEST(Npy, RejectsMalformedFilesWithTheReason) {
  struct Case {
    std::vector<uint8_t> bytes;
    const char *reason;
  };
  std::vector<uint8_t> notNpy = {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0};
  std::vector<uint8_t> good = npyImage(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24);
  std::vector<uint8_t> truncatedData(good.begin(), good.end() - 1);
  std::vector<uint8_t> truncatedHeader(good.begin(), good.begin() + 20);
  std::vector<uint8_t> badVersion = good;
  badVersion[6] = 9;
  Case cases[] = {
      {notNpy, "not a .npy file"},
      {truncatedHeader, "runs past the end"},
      {truncatedData,
       "data holds 23 bytes, but the header's shape and dtype need 24"},
      {badVersion, "unsupported .npy format version 9.0"},
      {npyImage("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8),
       "big-endian"},
      {npyImage("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }",
                16),
       "unsupported dtype '<c8'"},
      {npyImage("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                16),
       "Fortran-ordered"},
      {npyImage("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }",
                8),
       "no valid 'shape'"},
      {npyImage("{'descr': '<f4', 'fortran_order': False, 'shape': "
                "(99999999999, 99999999999, 99999999999), }",
                0),
       "too large"},
      {npyImage("{'fortran_order': False, 'shape': (2,), }", 8), "no 'descr'"},
  };
  for (const Case &c : cases) {
    HostTensor tensor;
    Status status = parse(c.bytes, tensor);
    EXPECT_FALSE(status.ok) << c.reason;
    EXPECT_NE(status.message.find(c.reason), std::string::npos)
        << "got: " << status.message;
    EXPECT_EQ(status.message.rfind("x.npy: ", 0), 0u) << status.message;
  }
}

TEST(Npy, EveryTruncationIsRejected) {
  std::vector<uint8_t> good =
      npyImage("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", 12);
  for (size_t length = 0; length < good.size(); ++length) {
    std::vector<uint8_t> prefix(good.begin(), good.begin() + length);
    HostTensor tensor;
    EXPECT_FALSE(parse(prefix, tensor).ok) << "length " << length;
  }
}

TEST(Npy, WritesFilesAndReportsUnwritablePaths) {
  HostTensor in;
  in.dtype = DType::I32;
  in.shape = {2};
  in.data = {1, 0, 0, 0, 2, 0, 0, 0};
  std::string path = ::testing::TempDir() + "npy_test_out.npy";
  Status status = writeNpy(path, in);
  ASSERT_TRUE(status.ok) << status.message;
  HostTensor out;
  status = readNpy(path, out);
  ASSERT_TRUE(status.ok) << status.message;
  EXPECT_EQ(out.data, in.data);
  std::remove(path.c_str());

  status = writeNpy("/nonexistent-dir/y.npy", in);
  EXPECT_FALSE(status.ok);
  EXPECT_NE(status.message.find("/nonexistent-dir/y.npy"), std::string::npos);
  status = readNpy("/nonexistent-dir/y.npy", out);
  EXPECT_NE(status.message.find("cannot open"), std::string::npos);

  in.data.pop_back();
  status = writeNpy(path, in);
  EXPECT_NE(status.message.find("does not match its shape 2xi32"),
            std::string::npos)
      << status.message;
}

} // namespace
