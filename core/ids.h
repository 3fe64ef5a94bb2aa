#pragma once
// Typed ids: a RequestId cannot be passed where a WorkerId is expected. Dense ids index vectors
// (`value()`), so hot state lives in arrays, not maps.

#include <compare>
#include <cstdint>
#include <functional>

namespace dynamo {

template <typename Tag, typename Rep = uint32_t>
class StrongId {
 public:
  using rep_type = Rep;
  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep v) : v_(v) {}
  constexpr Rep value() const { return v_; }
  constexpr auto operator<=>(const StrongId&) const = default;

 private:
  Rep v_{};
};

using RequestId = StrongId<struct RequestIdTag, uint64_t>;
using SessionId = StrongId<struct SessionIdTag, uint64_t>;
using WorkerId = StrongId<struct WorkerIdTag, uint32_t>;
using GpuId = StrongId<struct GpuIdTag, uint32_t>;
using NodeId = StrongId<struct NodeIdTag, uint32_t>;
using BlockId = StrongId<struct BlockIdTag, uint32_t>;

}  // namespace dynamo

template <typename Tag, typename Rep>
struct std::hash<dynamo::StrongId<Tag, Rep>> {
  size_t operator()(const dynamo::StrongId<Tag, Rep>& id) const noexcept {
    return std::hash<Rep>{}(id.value());
  }
};
