// The CUDA backend end to end. Without a GPU: the factory's error. With one: measurements and
// the attention kernels against a host reference (differential test); skipped otherwise.
#include "profiler/cuda/cuda_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/rng.h"
#include "profiler/cuda/attention_ops.h"
#include "profiler/cuda/device_query.h"
#include "profiler/kernel_backend.h"

#if defined(__SANITIZE_ADDRESS__)
// The CUDA driver maps memory inside ASan's shadow gap; without this, ASan builds abort on GPU
// machines at the first CUDA call.
extern "C" const char* __asan_default_options() { return "protect_shadow_gap=0"; }
#endif

namespace dynamo::profiler::gpu {
namespace {

using ::testing::HasSubstr;

bool HaveGpu() { return VisibleDeviceCount().ok(); }

TEST(MakeCudaBackend, WithoutADeviceFailsWithAClearMessage) {
  if (HaveGpu()) GTEST_SKIP() << "a CUDA device is visible";
  StatusOr<std::unique_ptr<KernelBackend>> backend = MakeCudaBackend(BackendOptions{});
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(backend.status().message(), HasSubstr("no CUDA device visible"));
  EXPECT_THAT(backend.status().message(), HasSubstr("cudaGetDeviceCount"));
  EXPECT_THAT(backend.status().message(), HasSubstr("--backend cpu"));
}

TEST(MakeCudaBackend, DeviceIndexOutOfRange) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device visible";
  BackendOptions options;
  options.device_index = 1000;
  StatusOr<std::unique_ptr<KernelBackend>> backend = MakeCudaBackend(options);
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(backend.status().message(), HasSubstr("device index 1000"));
}

class CudaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveGpu()) GTEST_SKIP() << "no CUDA device visible";
    StatusOr<std::unique_ptr<CudaBackend>> b = CudaBackend::Create(BackendOptions{});
    ASSERT_TRUE(b.ok()) << b.status().message();
    backend_ = std::move(b).value();
  }

  static MeasureOptions Quick() {
    MeasureOptions o;
    o.warmup = 2;
    o.repetitions = 5;
    o.max_total_us = 1e6;
    return o;
  }

  void ExpectMeasures(const perf::OpShape& shape) {
    std::string why;
    ASSERT_TRUE(backend_->Supports(shape, &why)) << perf::Describe(shape) << ": " << why;
    StatusOr<perf::Timing> t = backend_->Measure(shape, Quick());
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_GE(t->samples, kMinRepetitions);
    EXPECT_GT(t->median_us, 0) << perf::Describe(shape);
    EXPECT_LE(t->p10_us, t->median_us);
    EXPECT_LE(t->median_us, t->p90_us);
  }

  std::unique_ptr<CudaBackend> backend_;
};

TEST_F(CudaBackendTest, DescribesTheDevice) {
  const DeviceInfo& info = backend_->device();
  EXPECT_EQ(info.kind, "cuda");
  EXPECT_THAT(info.name, HasSubstr("cuda:"));
  EXPECT_GT(info.sm_count, 0);
  EXPECT_GT(info.memory_bytes, 0);
  EXPECT_FALSE(info.cuda_version.empty());
  EXPECT_THAT(info.library_versions, HasSubstr("cublasLt "));
  EXPECT_THAT(info.library_versions, HasSubstr("timer="));
  if (!info.catalog_gpu.empty()) {
    EXPECT_GT(info.peak_flops_bf16, 0);
    EXPECT_GT(info.memory_bandwidth_bytes_per_s, 0);
  }
}

TEST_F(CudaBackendTest, MeasuresGemms) {
  perf::GemmShape g;
  g.m = g.n = g.k = 1024;
  ExpectMeasures(g);
  g.dtype = DType::kFp32;
  ExpectMeasures(g);
  g.dtype = DType::kFp8;
  std::string why;
  if (backend_->Supports(g, &why)) {
    ExpectMeasures(g);
  } else {
    EXPECT_THAT(why, HasSubstr("8.9"));
  }
}

TEST_F(CudaBackendTest, LargerGemmTakesLonger) {
  perf::GemmShape small;
  small.m = small.n = small.k = 512;
  perf::GemmShape big;
  big.m = big.n = big.k = 8192;
  StatusOr<perf::Timing> ts = backend_->Measure(small, Quick());
  StatusOr<perf::Timing> tb = backend_->Measure(big, Quick());
  ASSERT_TRUE(ts.ok() && tb.ok());
  EXPECT_GT(tb->median_us, 10 * ts->median_us);
}

TEST_F(CudaBackendTest, MeasuresAttentionCopiesAndHostOverhead) {
  perf::AttnContextShape ctx;
  ctx.batch = 2;
  ctx.q_len = 512;
  ctx.kv_len = 1024;
  ctx.heads = 16;
  ctx.kv_heads = 4;
  ExpectMeasures(ctx);
  perf::AttnDecodeShape dec;
  dec.batch = 8;
  dec.kv_len = 4096;
  dec.heads = 32;
  dec.kv_heads = 8;
  ExpectMeasures(dec);
  dec.kv_dtype = DType::kFp8;
  ExpectMeasures(dec);
  for (perf::TransferKind kind :
       {perf::TransferKind::kH2D, perf::TransferKind::kD2H, perf::TransferKind::kD2D}) {
    perf::TransferShape t;
    t.kind = kind;
    t.bytes = int64_t{64} << 20;
    ExpectMeasures(t);
  }
  StatusOr<std::vector<HostOverheadSample>> overhead = backend_->MeasureHostOverhead(Quick());
  ASSERT_TRUE(overhead.ok()) << overhead.status().message();
  ASSERT_EQ(overhead->size(), 2u);
  EXPECT_EQ((*overhead)[0].kind, perf::HostOverheadKind::kLaunch);
  EXPECT_EQ((*overhead)[1].kind, perf::HostOverheadKind::kSync);
  EXPECT_GT((*overhead)[0].timing.median_us, 0);
  EXPECT_GT((*overhead)[1].timing.median_us, 0);
}

TEST_F(CudaBackendTest, RefusesWhatItCannotRun) {
  std::string why;
  perf::MlaDecodeShape mla;
  EXPECT_FALSE(backend_->Supports(mla, &why));
  EXPECT_THAT(why, HasSubstr("MLA"));
  perf::CollectiveShape c;
  c.gpus = 64;
  c.bytes = 1 << 20;
  EXPECT_FALSE(backend_->Supports(c, &why));
  EXPECT_THAT(why, HasSubstr("gpus 64"));
  StatusOr<perf::Timing> t = backend_->Measure(c, Quick());
  EXPECT_FALSE(t.ok());
}

// ---- Differential: attention kernels against a host reference -------------------------------

std::vector<float> RandomBf16(int64_t n, RngStream& rng) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = Bf16BitsToFloat(FloatToBf16Bits(static_cast<float>(rng.Uniform(-1, 1))));
  return v;
}

// o[b][i][h][:] = softmax_j(q . k_j / sqrt(d)) v_j over keys j <= prefix + i.
std::vector<float> ReferenceContext(const perf::AttnContextShape& s, const std::vector<float>& q,
                                    const std::vector<float>& k, const std::vector<float>& v) {
  const int64_t d = s.head_dim;
  const int64_t group = s.heads / s.kv_heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<float> o(q.size());
  std::vector<double> p(static_cast<size_t>(s.kv_len));
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t i = 0; i < s.q_len; ++i) {
      for (int64_t h = 0; h < s.heads; ++h) {
        const float* qi = &q[static_cast<size_t>(((b * s.q_len + i) * s.heads + h) * d)];
        const int64_t last = s.prefix_len() + i;
        double mx = -INFINITY;
        for (int64_t j = 0; j <= last; ++j) {
          const float* kj =
              &k[static_cast<size_t>(((b * s.kv_len + j) * s.kv_heads + h / group) * d)];
          double dot = 0;
          for (int64_t c = 0; c < d; ++c) dot += static_cast<double>(qi[c]) * kj[c];
          p[static_cast<size_t>(j)] = dot * scale;
          mx = std::max(mx, p[static_cast<size_t>(j)]);
        }
        double sum = 0;
        for (int64_t j = 0; j <= last; ++j) {
          p[static_cast<size_t>(j)] = std::exp(p[static_cast<size_t>(j)] - mx);
          sum += p[static_cast<size_t>(j)];
        }
        float* oi = &o[static_cast<size_t>(((b * s.q_len + i) * s.heads + h) * d)];
        for (int64_t c = 0; c < d; ++c) {
          double acc = 0;
          for (int64_t j = 0; j <= last; ++j) {
            acc += p[static_cast<size_t>(j)] *
                   v[static_cast<size_t>(((b * s.kv_len + j) * s.kv_heads + h / group) * d + c)];
          }
          oi[c] = static_cast<float>(acc / sum);
        }
      }
    }
  }
  return o;
}

void ExpectClose(const std::vector<float>& got, const std::vector<float>& want,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  // bf16 output (2^-8 relative) plus bf16 probabilities in the P V product.
  constexpr double kTolerance = 2e-2;
  double worst = 0;
  size_t worst_at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(err <= worst)) {
      worst = err;
      worst_at = i;
    }
  }
  EXPECT_LE(worst, kTolerance) << what << ": element " << worst_at << " is " << got[worst_at]
                               << ", reference " << want[worst_at];
}

TEST(AttentionKernels, ContextMatchesTheHostReference) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device visible";
  const uint64_t seed = 7;
  RngStream rng(seed, "context_reference");
  struct Case {
    int64_t batch, q_len, kv_len, heads, kv_heads, head_dim;
  };
  const Case cases[] = {
      {1, 1, 1, 1, 1, 128},    {2, 77, 77, 4, 2, 128},   {1, 130, 300, 8, 1, 64},
      {2, 64, 200, 4, 4, 256}, {1, 33, 1000, 2, 2, 128}, {3, 100, 100, 6, 3, 64},
  };
  for (const Case& c : cases) {
    perf::AttnContextShape s;
    s.batch = c.batch;
    s.q_len = c.q_len;
    s.kv_len = c.kv_len;
    s.heads = c.heads;
    s.kv_heads = c.kv_heads;
    s.head_dim = c.head_dim;
    const std::vector<float> q = RandomBf16(s.batch * s.q_len * s.heads * s.head_dim, rng);
    const std::vector<float> k = RandomBf16(s.batch * s.kv_len * s.kv_heads * s.head_dim, rng);
    const std::vector<float> v = RandomBf16(s.batch * s.kv_len * s.kv_heads * s.head_dim, rng);
    StatusOr<std::vector<float>> got = RunContextAttention(s, q, k, v, 0);
    ASSERT_TRUE(got.ok()) << got.status().message();
    ExpectClose(*got, ReferenceContext(s, q, k, v),
                perf::Describe(s) + " (seed " + std::to_string(seed) + ")");
  }
}

TEST(AttentionKernels, DecodeMatchesTheHostReference) {
  if (!HaveGpu()) GTEST_SKIP() << "no CUDA device visible";
  const uint64_t seed = 11;
  RngStream rng(seed, "decode_reference");
  struct Case {
    int64_t batch, kv_len, heads, kv_heads, head_dim;
  };
  const Case cases[] = {
      {1, 1, 1, 1, 128},    {4, 37, 8, 2, 128},    {1, 5000, 8, 8, 64},  // many splits
      {2, 1024, 4, 1, 256}, {64, 300, 32, 8, 128},                       // one split
  };
  for (const Case& c : cases) {
    perf::AttnDecodeShape s;
    s.batch = c.batch;
    s.kv_len = c.kv_len;
    s.heads = c.heads;
    s.kv_heads = c.kv_heads;
    s.head_dim = c.head_dim;
    const std::vector<float> q = RandomBf16(s.batch * s.heads * s.head_dim, rng);
    const std::vector<float> k = RandomBf16(s.batch * s.kv_len * s.kv_heads * s.head_dim, rng);
    const std::vector<float> v = RandomBf16(s.batch * s.kv_len * s.kv_heads * s.head_dim, rng);
    StatusOr<std::vector<float>> got = RunDecodeAttention(s, q, k, v, 0);
    ASSERT_TRUE(got.ok()) << got.status().message();
    // Decode is context attention with one query at the end of the sequence.
    perf::AttnContextShape as_context;
    as_context.batch = s.batch;
    as_context.q_len = 1;
    as_context.kv_len = s.kv_len;
    as_context.heads = s.heads;
    as_context.kv_heads = s.kv_heads;
    as_context.head_dim = s.head_dim;
    ExpectClose(*got, ReferenceContext(as_context, q, k, v),
                perf::Describe(s) + " (seed " + std::to_string(seed) + ")");
  }
}

}  // namespace
}  // namespace dynamo::profiler::gpu
