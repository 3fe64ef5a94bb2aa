#include "profiler/cuda/attention_ops.h"

#include <cuda_runtime_api.h>

#include <cmath>
#include <string>

#include "profiler/cuda/cuda_status.h"
#include "profiler/cuda/device_query.h"
#include "profiler/cuda/fill_kernels.h"

namespace dynamo::profiler::gpu {
namespace {

constexpr int64_t kBf16Bytes = 2;
constexpr int64_t kF32Bytes = 4;

float SoftmaxScale(int64_t head_dim) { return 1.f / std::sqrt(static_cast<float>(head_dim)); }

FillElem KvFill(DType kv_dtype) {
  return kv_dtype == DType::kFp8 ? FillElem::kFp8E4m3 : FillElem::kBf16;
}

Status Fill(const DeviceBuffer& buf, int64_t count, FillElem elem, uint64_t seed,
            cudaStream_t stream) {
  return CudaCall(LaunchFillRandom(buf.data(), count, elem, seed, 1.f, stream), "LaunchFillRandom");
}

Status CheckSize(const std::vector<float>& v, int64_t expected, const char* what) {
  if (static_cast<int64_t>(v.size()) == expected) return Status::Ok();
  return InvalidArgument(std::string(what) + " has " + std::to_string(v.size()) +
                         " elements; the shape needs " + std::to_string(expected));
}

std::vector<uint16_t> ToBf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = FloatToBf16Bits(v[i]);
  return out;
}

// Synchronous upload. cudaMemcpy from pageable memory may return before its DMA completes and
// does not order with non-blocking streams, hence the device synchronization.
Status CopyToDevice(const DeviceBuffer& dst, const void* src, int64_t bytes, const char* what) {
  RETURN_IF_ERROR(
      CudaCall(cudaMemcpy(dst.data(), src, static_cast<size_t>(bytes), cudaMemcpyHostToDevice),
               std::string("cudaMemcpy(") + what + ")"));
  return CudaCall(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

StatusOr<std::vector<float>> DownloadBf16(const DeviceBuffer& src, int64_t count,
                                          cudaStream_t stream) {
  RETURN_IF_ERROR(CudaCall(cudaStreamSynchronize(stream), "cudaStreamSynchronize"));
  std::vector<uint16_t> bits(static_cast<size_t>(count));
  RETURN_IF_ERROR(
      CudaCall(cudaMemcpy(bits.data(), src.data(), static_cast<size_t>(count * kBf16Bytes),
                          cudaMemcpyDeviceToHost),
               "cudaMemcpy(output)"));
  std::vector<float> out(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) out[i] = Bf16BitsToFloat(bits[i]);
  return out;
}

}  // namespace

// ---- Context ----------------------------------------------------------------------------------

StatusOr<std::unique_ptr<ContextAttnOp>> ContextAttnOp::Create(const perf::AttnContextShape& shape,
                                                               const ContextAttnGeometry& geometry,
                                                               DeviceStream stream, uint64_t seed) {
  std::unique_ptr<ContextAttnOp> op(new ContextAttnOp());
  op->shape_ = shape;
  op->geometry_ = geometry;
  op->stream_ = stream;
  const int64_t q_elems = shape.batch * shape.q_len * shape.heads * shape.head_dim;
  const int64_t kv_elems = shape.batch * shape.kv_len * shape.kv_heads * shape.head_dim;
  ASSIGN_OR_RETURN(op->q_, DeviceBuffer::Allocate(stream.device, q_elems * kBf16Bytes));
  ASSIGN_OR_RETURN(op->k_, DeviceBuffer::Allocate(stream.device, kv_elems * kBf16Bytes));
  ASSIGN_OR_RETURN(op->v_, DeviceBuffer::Allocate(stream.device, kv_elems * kBf16Bytes));
  ASSIGN_OR_RETURN(op->o_, DeviceBuffer::Allocate(stream.device, q_elems * kBf16Bytes));
  ScopedDevice scoped(stream.device);
  RETURN_IF_ERROR(scoped.status());
  RETURN_IF_ERROR(CudaCall(ConfigureContextAttention(geometry), "ConfigureContextAttention"));
  RETURN_IF_ERROR(Fill(op->q_, q_elems, FillElem::kBf16, seed, stream.stream));
  RETURN_IF_ERROR(Fill(op->k_, kv_elems, FillElem::kBf16, seed + 1, stream.stream));
  RETURN_IF_ERROR(Fill(op->v_, kv_elems, FillElem::kBf16, seed + 2, stream.stream));
  RETURN_IF_ERROR(CudaCall(cudaStreamSynchronize(stream.stream), "cudaStreamSynchronize"));
  return op;
}

Status ContextAttnOp::Enqueue() {
  ContextAttnArgs a;
  a.q = q_.data();
  a.k = k_.data();
  a.v = v_.data();
  a.o = o_.data();
  a.batch = shape_.batch;
  a.q_len = shape_.q_len;
  a.kv_len = shape_.kv_len;
  a.heads = shape_.heads;
  a.kv_heads = shape_.kv_heads;
  a.softmax_scale = SoftmaxScale(shape_.head_dim);
  return CudaCall(LaunchContextAttention(geometry_, a, stream_.stream), "LaunchContextAttention");
}

Status ContextAttnOp::Upload(const std::vector<float>& q, const std::vector<float>& k,
                             const std::vector<float>& v) {
  const int64_t q_elems = shape_.batch * shape_.q_len * shape_.heads * shape_.head_dim;
  const int64_t kv_elems = shape_.batch * shape_.kv_len * shape_.kv_heads * shape_.head_dim;
  RETURN_IF_ERROR(CheckSize(q, q_elems, "q"));
  RETURN_IF_ERROR(CheckSize(k, kv_elems, "k"));
  RETURN_IF_ERROR(CheckSize(v, kv_elems, "v"));
  ScopedDevice scoped(stream_.device);
  RETURN_IF_ERROR(scoped.status());
  RETURN_IF_ERROR(CopyToDevice(q_, ToBf16(q).data(), q_elems * kBf16Bytes, "q"));
  RETURN_IF_ERROR(CopyToDevice(k_, ToBf16(k).data(), kv_elems * kBf16Bytes, "k"));
  return CopyToDevice(v_, ToBf16(v).data(), kv_elems * kBf16Bytes, "v");
}

StatusOr<std::vector<float>> ContextAttnOp::Download() {
  ScopedDevice scoped(stream_.device);
  RETURN_IF_ERROR(scoped.status());
  return DownloadBf16(o_, shape_.batch * shape_.q_len * shape_.heads * shape_.head_dim,
                      stream_.stream);
}

// ---- Decode -----------------------------------------------------------------------------------

StatusOr<std::unique_ptr<DecodeAttnOp>> DecodeAttnOp::Create(const perf::AttnDecodeShape& shape,
                                                             const DecodeGeometry& geometry,
                                                             DeviceStream stream, uint64_t seed) {
  std::unique_ptr<DecodeAttnOp> op(new DecodeAttnOp());
  op->shape_ = shape;
  op->geometry_ = geometry;
  op->stream_ = stream;
  const int device = stream.device;
  const int64_t qo_elems = shape.batch * shape.heads * shape.head_dim;
  const int64_t cache_elems =
      geometry.num_pages * geometry.page_tokens * shape.kv_heads * shape.head_dim;
  const auto kv_bytes = static_cast<int64_t>(DTypeBytes(shape.kv_dtype));
  ASSIGN_OR_RETURN(op->q_, DeviceBuffer::Allocate(device, qo_elems * kBf16Bytes));
  ASSIGN_OR_RETURN(op->o_, DeviceBuffer::Allocate(device, qo_elems * kBf16Bytes));
  ASSIGN_OR_RETURN(op->k_cache_, DeviceBuffer::Allocate(device, cache_elems * kv_bytes));
  ASSIGN_OR_RETURN(op->v_cache_, DeviceBuffer::Allocate(device, cache_elems * kv_bytes));
  op->block_table_ = BuildBlockTable(shape.batch, geometry.blocks_per_seq, seed);
  ASSIGN_OR_RETURN(op->table_,
                   DeviceBuffer::Allocate(device, geometry.num_pages * int64_t{sizeof(int32_t)}));
  if (geometry.splits > 1) {
    const int64_t parts = shape.batch * shape.heads * geometry.splits;
    ASSIGN_OR_RETURN(op->partial_o_,
                     DeviceBuffer::Allocate(device, parts * shape.head_dim * kF32Bytes));
    ASSIGN_OR_RETURN(op->partial_ml_, DeviceBuffer::Allocate(device, parts * 2 * kF32Bytes));
  }
  ScopedDevice scoped(device);
  RETURN_IF_ERROR(scoped.status());
  RETURN_IF_ERROR(CopyToDevice(op->table_, op->block_table_.data(),
                               geometry.num_pages * int64_t{sizeof(int32_t)}, "block table"));
  RETURN_IF_ERROR(Fill(op->q_, qo_elems, FillElem::kBf16, seed, stream.stream));
  RETURN_IF_ERROR(Fill(op->k_cache_, cache_elems, KvFill(shape.kv_dtype), seed + 1, stream.stream));
  RETURN_IF_ERROR(Fill(op->v_cache_, cache_elems, KvFill(shape.kv_dtype), seed + 2, stream.stream));
  RETURN_IF_ERROR(CudaCall(cudaStreamSynchronize(stream.stream), "cudaStreamSynchronize"));
  return op;
}

Status DecodeAttnOp::Enqueue() {
  DecodeAttnArgs a;
  a.q = q_.data();
  a.k_cache = k_cache_.data();
  a.v_cache = v_cache_.data();
  a.block_table = table_.as<int32_t>();
  a.partial_o = partial_o_.as<float>();
  a.partial_ml = partial_ml_.as<float>();
  a.o = o_.data();
  a.batch = shape_.batch;
  a.kv_len = shape_.kv_len;
  a.heads = shape_.heads;
  a.kv_heads = shape_.kv_heads;
  a.kv_elem = shape_.kv_dtype == DType::kFp8 ? KvElem::kFp8E4m3 : KvElem::kBf16;
  a.softmax_scale = SoftmaxScale(shape_.head_dim);
  return CudaCall(LaunchDecodeAttention(geometry_, a, stream_.stream), "LaunchDecodeAttention");
}

Status DecodeAttnOp::Upload(const std::vector<float>& q, const std::vector<float>& k,
                            const std::vector<float>& v) {
  if (shape_.kv_dtype != DType::kBf16) {
    return Status(StatusCode::kUnimplemented, "Upload supports bf16 KV caches only");
  }
  const int64_t d = shape_.head_dim;
  const int64_t qo_elems = shape_.batch * shape_.heads * d;
  const int64_t kv_elems = shape_.batch * shape_.kv_len * shape_.kv_heads * d;
  RETURN_IF_ERROR(CheckSize(q, qo_elems, "q"));
  RETURN_IF_ERROR(CheckSize(k, kv_elems, "k"));
  RETURN_IF_ERROR(CheckSize(v, kv_elems, "v"));
  const int64_t page = geometry_.page_tokens;
  const int64_t cache_elems = geometry_.num_pages * page * shape_.kv_heads * d;
  std::vector<uint16_t> k_cache(static_cast<size_t>(cache_elems), 0);
  std::vector<uint16_t> v_cache(static_cast<size_t>(cache_elems), 0);
  for (int64_t b = 0; b < shape_.batch; ++b) {
    for (int64_t t = 0; t < shape_.kv_len; ++t) {
      const int64_t page_id =
          block_table_[static_cast<size_t>(b * geometry_.blocks_per_seq + t / page)];
      for (int64_t h = 0; h < shape_.kv_heads; ++h) {
        const int64_t dst = ((page_id * page + t % page) * shape_.kv_heads + h) * d;
        const int64_t src = ((b * shape_.kv_len + t) * shape_.kv_heads + h) * d;
        for (int64_t c = 0; c < d; ++c) {
          k_cache[static_cast<size_t>(dst + c)] = FloatToBf16Bits(k[static_cast<size_t>(src + c)]);
          v_cache[static_cast<size_t>(dst + c)] = FloatToBf16Bits(v[static_cast<size_t>(src + c)]);
        }
      }
    }
  }
  ScopedDevice scoped(stream_.device);
  RETURN_IF_ERROR(scoped.status());
  RETURN_IF_ERROR(CopyToDevice(q_, ToBf16(q).data(), qo_elems * kBf16Bytes, "q"));
  RETURN_IF_ERROR(CopyToDevice(k_cache_, k_cache.data(), cache_elems * kBf16Bytes, "k cache"));
  return CopyToDevice(v_cache_, v_cache.data(), cache_elems * kBf16Bytes, "v cache");
}

StatusOr<std::vector<float>> DecodeAttnOp::Download() {
  ScopedDevice scoped(stream_.device);
  RETURN_IF_ERROR(scoped.status());
  return DownloadBf16(o_, shape_.batch * shape_.heads * shape_.head_dim, stream_.stream);
}

// ---- One-shot runs ----------------------------------------------------------------------------

StatusOr<std::vector<float>> RunContextAttention(const perf::AttnContextShape& shape,
                                                 const std::vector<float>& q,
                                                 const std::vector<float>& k,
                                                 const std::vector<float>& v, int device) {
  ASSIGN_OR_RETURN(const DeviceCaps caps, QueryDeviceCaps(device));
  ASSIGN_OR_RETURN(const ContextAttnGeometry geometry, PlanContextAttention(shape, caps));
  ASSIGN_OR_RETURN(Stream stream, Stream::Create(device));
  ASSIGN_OR_RETURN(auto op, ContextAttnOp::Create(shape, geometry, {device, stream.get()}, 1));
  RETURN_IF_ERROR(op->Upload(q, k, v));
  ScopedDevice scoped(device);
  RETURN_IF_ERROR(scoped.status());
  RETURN_IF_ERROR(op->Enqueue());
  return op->Download();
}

StatusOr<std::vector<float>> RunDecodeAttention(const perf::AttnDecodeShape& shape,
                                                const std::vector<float>& q,
                                                const std::vector<float>& k,
                                                const std::vector<float>& v, int device) {
  ASSIGN_OR_RETURN(const DeviceCaps caps, QueryDeviceCaps(device));
  ASSIGN_OR_RETURN(const DecodeGeometry geometry, PlanDecodeAttention(shape, caps));
  ASSIGN_OR_RETURN(Stream stream, Stream::Create(device));
  ASSIGN_OR_RETURN(auto op, DecodeAttnOp::Create(shape, geometry, {device, stream.get()}, 1));
  RETURN_IF_ERROR(op->Upload(q, k, v));
  ScopedDevice scoped(device);
  RETURN_IF_ERROR(scoped.status());
  RETURN_IF_ERROR(op->Enqueue());
  return op->Download();
}

}  // namespace dynamo::profiler::gpu
