#include "profiler/cpu/cpu_backend.h"

#include <unistd.h>

#include <Eigen/Core>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <variant>

#include "core/check.h"
#include "core/rng.h"
#include "profiler/cpu/cpu_kernels.h"
#include "profiler/timing_stats.h"

namespace dynamo::profiler {
namespace {

// Inputs are pseudo-random from this seed: their values only need to be finite, but fixed data
// keeps runs comparable.
constexpr uint64_t kDataSeed = 0x5eed'c0de;
constexpr double kMemoryCapFraction = 0.25;
constexpr double kFloatBytes = sizeof(float);
// Host overhead: kOverheadBatches timed batches of kOverheadCallsPerBatch calls each; one
// sample is a batch's time divided by its calls (a single call is near the clock's resolution).
constexpr int kOverheadBatches = 100;
constexpr int kOverheadCallsPerBatch = 10;

std::string FormatGiB(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f GiB", bytes / static_cast<double>(int64_t{1} << 30));
  return buf;
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Buffer bytes Measure allocates for a supported shape (doubles: sizes near int64 overflow
// must still compare as too large).
struct BufferBytesVisitor {
  double operator()(const perf::GemmShape& g) const {
    const double m = static_cast<double>(g.m), n = static_cast<double>(g.n),
                 k = static_cast<double>(g.k);
    return kFloatBytes * (m * k + k * n + m * n);
  }
  double operator()(const perf::AttnContextShape& a) const {
    const double q = static_cast<double>(a.batch) * static_cast<double>(a.q_len) *
                     static_cast<double>(a.heads) * static_cast<double>(a.head_dim);
    const double kv = static_cast<double>(a.batch) * static_cast<double>(a.kv_len) *
                      static_cast<double>(a.kv_heads) * static_cast<double>(a.head_dim);
    return kFloatBytes * 2 * (q + kv);  // q + out, k + v
  }
  double operator()(const perf::AttnDecodeShape& a) const {
    const double q = static_cast<double>(a.batch) * static_cast<double>(a.heads) *
                     static_cast<double>(a.head_dim);
    const double blocks = static_cast<double>(a.batch) *
                          std::ceil(static_cast<double>(a.kv_len) / kDefaultKvBlockSize);
    const double kv = blocks * kDefaultKvBlockSize * static_cast<double>(a.kv_heads) *
                      static_cast<double>(a.head_dim);
    return kFloatBytes * 2 * (q + kv) + sizeof(int32_t) * blocks;
  }
  double operator()(const perf::TransferShape& t) const { return 2 * static_cast<double>(t.bytes); }
  template <typename T>
  double operator()(const T&) const {
    return 0;
  }
};

// Why the CPU backend cannot run a shape, or "" when it can (memory aside).
struct RefusalVisitor {
  std::string Fp32Only(DType dtype, DType kv_dtype) const {
    if (dtype != DType::kFp32) {
      return "the CPU backend computes fp32 only (got " + std::string(DTypeName(dtype)) +
             "); use --dtype fp32";
    }
    if (kv_dtype != DType::kFp32) {
      return "the CPU backend stores the KV cache in fp32 only (got " +
             std::string(DTypeName(kv_dtype)) + "); use --kv-dtype fp32";
    }
    return "";
  }
  std::string operator()(const perf::GemmShape& g) const { return Fp32Only(g.dtype, DType::kFp32); }
  std::string operator()(const perf::AttnContextShape& a) const {
    return Fp32Only(a.dtype, a.kv_dtype);
  }
  std::string operator()(const perf::AttnDecodeShape& a) const {
    return Fp32Only(a.dtype, a.kv_dtype);
  }
  std::string operator()(const perf::MlaContextShape&) const {
    return "the CPU backend has no MLA kernels; measure MLA shapes with --backend cuda";
  }
  std::string operator()(const perf::MlaDecodeShape&) const {
    return "the CPU backend has no MLA kernels; measure MLA shapes with --backend cuda";
  }
  std::string operator()(const perf::CollectiveShape& c) const {
    return std::string(perf::CollectiveName(c.op)) + " over " + std::to_string(c.gpus) +
           " GPUs: collectives need more than one GPU; the CPU backend has one process";
  }
  std::string operator()(const perf::TransferShape& t) const {
    switch (t.kind) {
      case perf::TransferKind::kD2D:
        return "";
      case perf::TransferKind::kH2D:
      case perf::TransferKind::kD2H:
        return "no device on the CPU backend: " + std::string(perf::TransferKindName(t.kind)) +
               " needs a GPU; the CPU backend measures d2d (a host memory copy) only";
      case perf::TransferKind::kPeer:
        return "no device on the CPU backend: peer copies need two GPUs";
      case perf::TransferKind::kUcx:
        return "UCX transfers need the runtime's UCX transport and a peer; the CPU backend "
               "measures d2d (a host memory copy) only";
    }
    return "unknown transfer kind";
  }
};

std::vector<float> RandomFloats(ThreadPool& pool, int64_t n, uint64_t stream) {
  std::vector<float> x(static_cast<size_t>(n));
  FillRandom(pool, kDataSeed + stream, 1.0f, x);
  return x;
}

// Allocates and fills one shape's buffers, then times its kernel.
struct MeasureVisitor {
  ThreadPool& pool;
  const MeasureOptions& options;
  CacheFlusher* flusher;

  perf::Timing operator()(const perf::GemmShape& g) const {
    const auto a = RandomFloats(pool, g.m * g.k, 1);
    const auto b = RandomFloats(pool, g.k * g.n, 2);
    std::vector<float> c(static_cast<size_t>(g.m * g.n));
    return TimeCalls([&] { Gemm(pool, g.m, g.n, g.k, a, b, c); }, options, flusher);
  }
  perf::Timing operator()(const perf::AttnContextShape& s) const {
    const ContextAttentionDims d{.batch = s.batch,
                                 .q_len = s.q_len,
                                 .kv_len = s.kv_len,
                                 .heads = s.heads,
                                 .kv_heads = s.kv_heads,
                                 .head_dim = s.head_dim};
    const auto q = RandomFloats(pool, d.batch * d.q_len * d.heads * d.head_dim, 1);
    const auto k = RandomFloats(pool, d.batch * d.kv_len * d.kv_heads * d.head_dim, 2);
    const auto v = RandomFloats(pool, d.batch * d.kv_len * d.kv_heads * d.head_dim, 3);
    std::vector<float> out(q.size());
    return TimeCalls([&] { ContextAttention(pool, d, q, k, v, out); }, options, flusher);
  }
  perf::Timing operator()(const perf::AttnDecodeShape& s) const {
    DecodeAttentionDims d;
    d.batch = s.batch;
    d.heads = s.heads;
    d.kv_heads = s.kv_heads;
    d.head_dim = s.head_dim;
    d.block_size = kDefaultKvBlockSize;
    d.max_blocks_per_seq = CeilDiv(s.kv_len, d.block_size);
    d.num_blocks = d.batch * d.max_blocks_per_seq;
    // Blocks handed out in a shuffled order, as a block manager's free list does after a
    // while: sequences do not read contiguous memory.
    std::vector<int32_t> table(static_cast<size_t>(d.num_blocks));
    std::iota(table.begin(), table.end(), 0);
    RngStream rng(kDataSeed, "cpu-decode-block-table");
    for (size_t i = table.size() - 1; i > 0; --i) std::swap(table[i], table[rng.Below(i + 1)]);
    const std::vector<int64_t> kv_lens(static_cast<size_t>(d.batch), s.kv_len);
    const int64_t pool_elems = d.num_blocks * d.block_size * d.kv_heads * d.head_dim;
    const auto q = RandomFloats(pool, d.batch * d.heads * d.head_dim, 1);
    const auto k = RandomFloats(pool, pool_elems, 2);
    const auto v = RandomFloats(pool, pool_elems, 3);
    std::vector<float> out(q.size());
    return TimeCalls([&] { PagedDecodeAttention(pool, d, q, k, v, table, kv_lens, out); }, options,
                     flusher);
  }
  perf::Timing operator()(const perf::TransferShape& t) const {
    std::vector<std::byte> src(static_cast<size_t>(t.bytes), std::byte{1});
    std::vector<std::byte> dst(static_cast<size_t>(t.bytes));
    return TimeCalls([&] { CopyBytes(pool, src, dst); }, options, flusher);
  }
  template <typename T>
  perf::Timing operator()(const T&) const {
    DYNAMO_CHECK(false && "Supports() refuses this family");
    return {};
  }
};

// Times `call` over kOverheadBatches batches (after options.warmup untimed calls).
perf::Timing TimeOverhead(const std::function<void()>& call, const MeasureOptions& options) {
  for (int i = 0; i < options.warmup; ++i) call();
  std::vector<double> samples_us;
  samples_us.reserve(kOverheadBatches);
  for (int b = 0; b < kOverheadBatches; ++b) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kOverheadCallsPerBatch; ++i) call();
    const auto end = std::chrono::steady_clock::now();
    samples_us.push_back(std::chrono::duration<double, std::micro>(end - start).count() /
                         kOverheadCallsPerBatch);
  }
  return SummarizeSamples(std::move(samples_us));
}

// "Eigen 3.4.0 (SSE, SSE2)": the SIMD set matters as much as the version (DYNAMO_CPU_NATIVE).
std::string EigenVersion() {
  return "Eigen " + std::to_string(EIGEN_WORLD_VERSION) + "." +
         std::to_string(EIGEN_MAJOR_VERSION) + "." + std::to_string(EIGEN_MINOR_VERSION) + " (" +
         Eigen::SimdInstructionSetsInUse() + ")";
}

}  // namespace

int64_t PhysicalMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_bytes = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_bytes <= 0) return 0;
  return static_cast<int64_t>(pages) * static_cast<int64_t>(page_bytes);
}

std::string CpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const size_t begin = line.find_first_not_of(" \t", colon + 1);
    if (begin == std::string::npos) continue;
    const size_t end = line.find_last_not_of(" \t\r");
    return line.substr(begin, end - begin + 1);
  }
  return "unknown cpu";
}

CpuBackend::CpuBackend(int threads) : pool_(std::make_unique<ThreadPool>(threads)) {
  DYNAMO_CHECK(threads >= 1);
  device_.kind = "cpu";
  device_.cpu_model = CpuModelName();
  device_.threads = threads;
  device_.name = "cpu:" + device_.cpu_model + ":" + std::to_string(threads) + "t";
  device_.memory_bytes = PhysicalMemoryBytes();
  device_.library_versions = EigenVersion();
  // Unknown physical memory: allow 1 GiB of buffers.
  constexpr int64_t kUnknownMemoryCapBytes = int64_t{1} << 30;
  memory_cap_bytes_ =
      device_.memory_bytes > 0
          ? static_cast<int64_t>(static_cast<double>(device_.memory_bytes) * kMemoryCapFraction)
          : kUnknownMemoryCapBytes;
}

bool CpuBackend::Supports(const perf::OpShape& shape, std::string* why) const {
  std::string reason;
  if (Status valid = perf::Validate(shape); !valid.ok()) {
    reason = valid.message();
  } else {
    reason = std::visit(RefusalVisitor{}, shape);
  }
  if (reason.empty()) {
    const double bytes = std::visit(BufferBytesVisitor{}, shape);
    if (bytes > static_cast<double>(memory_cap_bytes_)) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.0f", bytes);
      reason = "needs " + std::string(buf) + " bytes (" + FormatGiB(bytes) +
               ") of buffers, over the CPU backend's cap of " + std::to_string(memory_cap_bytes_) +
               " bytes (" + FormatGiB(static_cast<double>(memory_cap_bytes_)) +
               ", a quarter of physical memory); use a smaller shape";
    }
  }
  if (reason.empty()) return true;
  if (why != nullptr) *why = std::move(reason);
  return false;
}

StatusOr<perf::Timing> CpuBackend::Measure(const perf::OpShape& shape,
                                           const MeasureOptions& options) {
  const std::string what = perf::Describe(shape);
  RETURN_IF_ERROR(perf::Validate(shape).WithContext(what));
  std::string why;
  if (!Supports(shape, &why)) return FailedPrecondition(what + ": " + why);
  return std::visit(MeasureVisitor{*pool_, options, &flusher_}, shape);
}

StatusOr<std::vector<HostOverheadSample>> CpuBackend::MeasureHostOverhead(
    const MeasureOptions& options) {
  ThreadPool& pool = *pool_;
  const std::function<void()> empty = [] {};
  const std::function<void(int64_t)> empty_task = [](int64_t) {};
  std::vector<HostOverheadSample> out;
  out.push_back(
      {perf::HostOverheadKind::kLaunch, TimeOverhead([&] { pool.RunOnWorker(empty); }, options)});
  out.push_back({perf::HostOverheadKind::kSync,
                 TimeOverhead([&] { pool.ParallelFor(pool.size(), empty_task); }, options)});
  return out;
}

StatusOr<std::unique_ptr<KernelBackend>> MakeCpuBackend(const BackendOptions& options) {
  if (options.threads < 0) {
    return InvalidArgument("threads: " + std::to_string(options.threads) +
                           " must be >= 0 (0: every hardware thread)");
  }
  return std::unique_ptr<KernelBackend>(
      std::make_unique<CpuBackend>(ThreadPool::ResolveThreads(options.threads)));
}

}  // namespace dynamo::profiler
