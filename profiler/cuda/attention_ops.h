#pragma once
// The attention kernels with their buffers, ready to enqueue (what the backend times), plus
// entry points that run them once on host data (what the differential tests compare against a
// host reference). Inputs are pseudo-random unless uploaded. One thread; owns its buffers.

#include <memory>
#include <vector>

#include "core/perf/op_shape.h"
#include "core/status.h"
#include "profiler/cuda/attention_kernels.h"
#include "profiler/cuda/cuda_plan.h"
#include "profiler/cuda/device_buffer.h"

namespace dynamo::profiler::gpu {

class ContextAttnOp {
 public:
  // `geometry` from PlanContextAttention(shape, caps of stream.device).
  static StatusOr<std::unique_ptr<ContextAttnOp>> Create(const perf::AttnContextShape& shape,
                                                         const ContextAttnGeometry& geometry,
                                                         DeviceStream stream, uint64_t seed);
  Status Enqueue();
  std::vector<DeviceStream> streams() const { return {stream_}; }

  // q [batch][q_len][heads][head_dim]; k, v [batch][kv_len][kv_heads][head_dim]; rounded to
  // bf16 on the way.
  Status Upload(const std::vector<float>& q, const std::vector<float>& k,
                const std::vector<float>& v);
  // o [batch][q_len][heads][head_dim] after the enqueued work finished.
  StatusOr<std::vector<float>> Download();

 private:
  ContextAttnOp() = default;
  perf::AttnContextShape shape_;
  ContextAttnGeometry geometry_;
  DeviceStream stream_;
  DeviceBuffer q_, k_, v_, o_;
};

class DecodeAttnOp {
 public:
  // `geometry` from PlanDecodeAttention(shape, caps of stream.device).
  static StatusOr<std::unique_ptr<DecodeAttnOp>> Create(const perf::AttnDecodeShape& shape,
                                                        const DecodeGeometry& geometry,
                                                        DeviceStream stream, uint64_t seed);
  Status Enqueue();
  std::vector<DeviceStream> streams() const { return {stream_}; }

  // q [batch][heads][head_dim]; k, v [batch][kv_len][kv_heads][head_dim] (scattered into the
  // pages of the block table). bf16 KV caches only.
  Status Upload(const std::vector<float>& q, const std::vector<float>& k,
                const std::vector<float>& v);
  // o [batch][heads][head_dim].
  StatusOr<std::vector<float>> Download();

 private:
  DecodeAttnOp() = default;
  perf::AttnDecodeShape shape_;
  DecodeGeometry geometry_;
  DeviceStream stream_;
  std::vector<int32_t> block_table_;  // host copy, [batch][blocks_per_seq]
  DeviceBuffer q_, k_cache_, v_cache_, table_, partial_o_, partial_ml_, o_;
};

// Plans for `device` and runs the kernel once on the given inputs (layouts as in Upload);
// returns O.
StatusOr<std::vector<float>> RunContextAttention(const perf::AttnContextShape& shape,
                                                 const std::vector<float>& q,
                                                 const std::vector<float>& k,
                                                 const std::vector<float>& v, int device);
StatusOr<std::vector<float>> RunDecodeAttention(const perf::AttnDecodeShape& shape,
                                                const std::vector<float>& q,
                                                const std::vector<float>& k,
                                                const std::vector<float>& v, int device);

}  // namespace dynamo::profiler::gpu
