//===- moe-bench.cpp - time a compiled moe-mlir artifact ------------------===//
//
// moe-bench model.so --input=@x.npy [--warmup=N] [--iterations=N]
// Prints median / p10 / p90 latency, tokens/s, GB/s of expert weights read and
// GFLOP/s of the MoE layers (from the layer shapes the artifact records).
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Tools.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace moe::runtime;

namespace {

constexpr const char *kUsage =
    "usage: moe-bench <model.so | model.onnx | ...> --input=... [--input=...]\n"
    "                 [--warmup=N] [--iterations=N] [--tokens=T] [--threads=N] "
    "[--json]\n"
    "                 [--device=cpu|cuda]   (on cuda, a run includes its "
    "copies)\n"
    "                 [--keep=I,J,...]      (inputs I, J... stay on the "
    "device\n"
    "                                        between runs: weights given as "
    "inputs)\n"
    "       moe-bench --peak [--threads=N] [--footprint=BYTES] [--json]\n"
    "                 (one core's f32 FMA peak in GFLOP/s for each vector ISA "
    "it\n"
    "                  has; the read bandwidth of N threads, GB/s, from "
    "memory\n"
    "                  and over a buffer of BYTES read again and again)\n"
    "Inputs as for moe-run. T, the token count, defaults to the first input's "
    "first dimension.\n";

int fail(const std::string &message) {
  std::fprintf(stderr, "moe-bench: error: %s\n", message.c_str());
  return 1;
}

bool parseCount(const std::string &arg, const char *flag, int64_t &out) {
  size_t length = std::strlen(flag);
  if (arg.compare(0, length, flag) != 0)
    return false;
  char *end = nullptr;
  out = std::strtoll(arg.c_str() + length, &end, 10);
  if (*end || out < 0)
    out = -1;
  return true;
}

/// The single-core f32 FMA peak, in GFLOP/s: ten independent chains of 8-wide
/// FMAs, enough to cover the FMA latency on every x86-64-v3 core.
__attribute__((target("avx2,fma"))) double measureFmaPeak() {
  constexpr int kChains = 10;
  constexpr int64_t kSteps = 50'000'000;
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i)
    acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  auto start = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < kSteps; ++s)
    for (int i = 0; i < kChains; ++i)
      acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  auto stop = std::chrono::steady_clock::now();
  float sink = 0;
  for (int i = 0; i < kChains; ++i) {
    float lanes[8];
    _mm256_storeu_ps(lanes, acc[i]);
    sink += lanes[0];
  }
  double flops = 2.0 * 8 * kChains * static_cast<double>(kSteps);
  double seconds = std::chrono::duration<double>(stop - start).count();
  return sink == -1.0f ? 0 : flops / seconds / 1e9;
}

/// The same with AVX-512: twelve chains of 16-wide FMAs (two FMA units of
/// latency 4 need eight).
__attribute__((target("avx512f"))) double measureFma512Peak() {
  constexpr int kChains = 12;
  constexpr int64_t kSteps = 50'000'000;
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i)
    acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  auto start = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < kSteps; ++s)
    for (int i = 0; i < kChains; ++i)
      acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  auto stop = std::chrono::steady_clock::now();
  float sink = 0;
  for (int i = 0; i < kChains; ++i)
    sink += _mm512_reduce_add_ps(acc[i]);
  double flops = 2.0 * 16 * kChains * static_cast<double>(kSteps);
  double seconds = std::chrono::duration<double>(stop - start).count();
  return sink == -1.0f ? 0 : flops / seconds / 1e9;
}

/// Sums `count` floats from `data` with four chains of 8-wide adds: a read
/// stream the memory system, not the adds, limits.
__attribute__((target("avx2"))) float sumFloats(const float *data,
                                                size_t count) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (size_t i = 0; i + 32 <= count; i += 32)
    for (int c = 0; c < 4; ++c)
      acc[c] = _mm256_add_ps(acc[c], _mm256_loadu_ps(data + i + 8 * c));
  float lanes[8];
  _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]),
                                        _mm256_add_ps(acc[2], acc[3])));
  float sum = 0;
  for (float lane : lanes)
    sum += lane;
  return sum;
}

/// The read bandwidth of `threads` threads over a buffer of `bytes`, GB/s:
/// each sums its share, the best of five passes after one to warm the
/// caches. A buffer larger than the last-level cache measures the memory; one
/// the size of a benchmark's activated weights, what repeated calls that read
/// them can reach.
double measureReadBandwidth(int64_t threads, size_t bytes) {
  size_t count = std::max<size_t>(bytes / sizeof(float), size_t(threads) * 32);
  std::unique_ptr<float[]> buffer(new float[count]);
  std::vector<std::thread> workers;
  size_t share = count / size_t(threads) / 32 * 32;
  // Each thread first touches its own share, so its pages are its node's.
  for (int64_t t = 0; t < threads; ++t)
    workers.emplace_back(
        [&, t] { std::fill_n(buffer.get() + size_t(t) * share, share, 1.0f); });
  for (std::thread &worker : workers)
    worker.join();
  // Small buffers are read several times a pass, so that a pass outlasts
  // starting its threads.
  size_t repeats =
      std::max<size_t>(1, (size_t(256) << 20) / (share * 4 * threads));
  double best = 0;
  std::atomic<float> sink{0};
  for (int pass = 0; pass < 6; ++pass) {
    workers.clear();
    auto start = std::chrono::steady_clock::now();
    for (int64_t t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        float sum = 0;
        for (size_t r = 0; r < repeats; ++r) {
          // Each repeat reads the memory again.
          asm volatile("" ::: "memory");
          sum += sumFloats(buffer.get() + size_t(t) * share, share);
        }
        float old = sink.load();
        while (!sink.compare_exchange_weak(old, old + sum)) {
        }
      });
    for (std::thread &worker : workers)
      worker.join();
    auto stop = std::chrono::steady_clock::now();
    double read =
        double(share) * sizeof(float) * double(threads) * double(repeats);
    if (pass > 0)
      best = std::max(
          best,
          read / std::chrono::duration<double>(stop - start).count() / 1e9);
  }
  return sink.load() == -1.0f ? 0 : best;
}

/// `moe-bench --peak`: the limits the benchmarks' figures are read against.
int printPeaks(int64_t threads, int64_t footprint, bool json) {
  if (!__builtin_cpu_supports("fma") || !__builtin_cpu_supports("avx2"))
    return fail("--peak needs a processor with AVX2 and FMA");
  if (threads <= 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  double avx2 = measureFmaPeak();
  double avx512 = __builtin_cpu_supports("avx512f") ? measureFma512Peak() : 0.0;
  double bandwidth = measureReadBandwidth(threads, size_t(1) << 30);
  double cached =
      footprint > 0 ? measureReadBandwidth(threads, size_t(footprint)) : 0.0;
  if (json) {
    std::printf("{\"fma_avx2_gflop_per_s\": %.6g, \"fma_avx512_gflop_per_s\": "
                "%.6g, \"read_gb_per_s\": %.6g, \"footprint_read_gb_per_s\": "
                "%.6g, \"threads\": %lld}\n",
                avx2, avx512, bandwidth, cached,
                static_cast<long long>(threads));
    return 0;
  }
  std::printf("f32 FMA peak  %.1f GFLOP/s (one core, AVX2)\n", avx2);
  if (avx512 > 0)
    std::printf("f32 FMA peak  %.1f GFLOP/s (one core, AVX-512)\n", avx512);
  std::printf("memory read   %.1f GB/s (%lld threads, 1 GiB)\n", bandwidth,
              static_cast<long long>(threads));
  if (footprint > 0)
    std::printf("warm read     %.1f GB/s (%lld threads, %.3g MB read again "
                "and again)\n",
                cached, static_cast<long long>(threads),
                double(footprint) / 1e6);
  return 0;
}

double percentile(std::vector<double> sorted, double p) {
  std::sort(sorted.begin(), sorted.end());
  double position = p * static_cast<double>(sorted.size() - 1);
  size_t lower = static_cast<size_t>(position);
  size_t upper = std::min(lower + 1, sorted.size() - 1);
  double fraction = position - static_cast<double>(lower);
  return sorted[lower] * (1 - fraction) + sorted[upper] * fraction;
}

} // namespace

int main(int argc, char **argv) {
  std::string model;
  std::vector<std::string> inputSpecs;
  int64_t warmup = 3, iterations = 20, tokens = -2, threads = 0;
  bool json = false, peak = false;
  int64_t footprint = 0;
  std::string device;
  std::vector<size_t> keep;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--peak")
      peak = true;
    else if (arg.rfind("--input=", 0) == 0)
      inputSpecs.push_back(arg.substr(8));
    else if (parseCount(arg, "--warmup=", warmup) ||
             parseCount(arg, "--iterations=", iterations) ||
             parseCount(arg, "--tokens=", tokens) ||
             parseCount(arg, "--threads=", threads) ||
             parseCount(arg, "--footprint=", footprint)) {
      if (warmup < 0 || iterations < 1 || tokens == -1 || threads < 0 ||
          footprint < 0)
        return fail(arg + " needs a count (iterations at least 1)");
    } else if (arg == "--json")
      json = true;
    else if (arg.rfind("--device=", 0) == 0)
      device = arg.substr(9);
    else if (arg.rfind("--keep=", 0) == 0) {
      std::string list = arg.substr(7);
      for (size_t at = 0; at <= list.size();) {
        size_t comma = std::min(list.find(',', at), list.size());
        std::string item = list.substr(at, comma - at);
        char *end = nullptr;
        unsigned long long index = std::strtoull(item.c_str(), &end, 10);
        if (item.empty() || *end)
          return fail(arg + " needs input indices separated by commas");
        keep.push_back(static_cast<size_t>(index));
        at = comma + 1;
      }
    } else if (arg[0] == '-')
      return fail("unknown option " + arg + "\n" + kUsage);
    else if (model.empty())
      model = arg;
    else
      return fail("more than one model given: " + model + ", " + arg);
  }
  if (peak)
    return printPeaks(threads, footprint, json);
  if (model.empty())
    return fail(std::string("no model given\n") + kUsage);

  // The OpenMP runtime of parallel artifacts reads its thread count when the
  // library loads.
  if (threads > 0)
    setenv("OMP_NUM_THREADS", std::to_string(threads).c_str(), 1);
  LoadedArtifact artifact;
  Status status = artifact.load(model, "moe-bench", device);
  if (!status.ok)
    return fail(status.message);
  if (moe_error *error =
          moe_artifact_keep_inputs(artifact.get(), keep.data(), keep.size())) {
    std::string message = moe_error_message(error);
    moe_error_free(error);
    return fail("--keep: " + message);
  }
  std::vector<InputSpec> inputs;
  std::vector<moe_tensor> bound;
  status = parseAndBindInputs(artifact.get(), inputSpecs, inputs, bound);
  if (!status.ok)
    return fail(status.message);
  if (tokens == -2)
    tokens = bound.empty() || bound[0].rank == 0 ? 1 : bound[0].dims[0];

  size_t numOutputs = moe_artifact_num_outputs(artifact.get());
  std::vector<double> seconds;
  for (int64_t i = 0; i < warmup + iterations; ++i) {
    std::vector<moe_tensor> outputs(numOutputs);
    auto start = std::chrono::steady_clock::now();
    moe_error *error = moe_artifact_run(artifact.get(), bound.data(),
                                        bound.size(), outputs.data(),
                                        outputs.size());
    auto stop = std::chrono::steady_clock::now();
    for (moe_tensor &out : outputs)
      moe_free(out.data);
    if (error) {
      std::string message = moe_error_message(error);
      moe_error_free(error);
      return fail(message);
    }
    if (i >= warmup)
      seconds.push_back(std::chrono::duration<double>(stop - start).count());
  }

  // Work of the MoE layers: each token runs k experts; the weights read are
  // those of min(E, T*k) distinct experts (all of them once T*k >= E).
  double flops = 0, bytes = 0;
  for (size_t l = 0; l < moe_artifact_num_layers(artifact.get()); ++l) {
    moe_layer_info layer = moe_artifact_layer(artifact.get(), l);
    double perExpertMacs = static_cast<double>(layer.hidden) *
                           (layer.gate_up_rows + layer.intermediate +
                            (layer.separate_up ? layer.intermediate : 0));
    flops += 2.0 * perExpertMacs * static_cast<double>(tokens * layer.k);
    double touched = static_cast<double>(
        std::min<int64_t>(layer.experts, tokens * layer.k));
    bytes += perExpertMacs * layer.element_bytes * touched;
  }
  double median = percentile(seconds, 0.5);
  double p10 = percentile(seconds, 0.1), p90 = percentile(seconds, 0.9);
  if (json) {
    std::printf("{\"median_ms\": %.6g, \"p10_ms\": %.6g, \"p90_ms\": %.6g, "
                "\"tokens\": %lld, \"tokens_per_s\": %.6g, "
                "\"weight_gb_per_s\": %.6g, \"gflop_per_s\": %.6g, "
                "\"iterations\": %lld}\n",
                median * 1e3, p10 * 1e3, p90 * 1e3,
                static_cast<long long>(tokens), tokens / median,
                bytes / median / 1e9, flops / median / 1e9,
                static_cast<long long>(iterations));
    return 0;
  }
  std::printf("latency   median %.3f ms, p10 %.3f ms, p90 %.3f ms (%lld "
              "iterations after %lld warm-up)\n",
              median * 1e3, p10 * 1e3, p90 * 1e3,
              static_cast<long long>(iterations),
              static_cast<long long>(warmup));
  std::printf("tokens/s  %.1f (T = %lld)\n", tokens / median,
              static_cast<long long>(tokens));
  if (flops > 0) {
    std::printf("weights   %.2f GB/s (%.3g MB of expert weights per call)\n",
                bytes / median / 1e9, bytes / 1e6);
    std::printf("compute   %.2f GFLOP/s (%.3g GFLOP per call)\n",
                flops / median / 1e9, flops / 1e9);
  }
  return 0;
}
