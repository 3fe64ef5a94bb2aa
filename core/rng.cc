#include "core/rng.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace dynamo {
namespace {

uint64_t SplitMix64Next(uint64_t& state) {
  state += 0x9E3779B97F4A7C15ULL;
  return Mix64(state);
}

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

uint64_t HashName(std::string_view name) {
  uint64_t h = 0xCBF29CE484222325ULL;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001B3ULL;
  }
  return h;
}

uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

RngStream::RngStream(uint64_t seed, std::string_view name)
    : RngStream(Mix64(seed) ^ HashName(name)) {}

RngStream::RngStream(uint64_t key) : key_(key) {
  uint64_t sm = key;
  for (uint64_t& s : s_) s = SplitMix64Next(sm);
}

RngStream RngStream::Fork(std::string_view name) const {
  return RngStream(Mix64(key_ + 0x632BE59BD9B4E019ULL) ^ HashName(name));
}

uint64_t RngStream::NextU64() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

double RngStream::NextDouble() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }

double RngStream::NextOpenDouble() {
  return (static_cast<double>(NextU64() >> 12) + 0.5) * 0x1.0p-52;
}

uint64_t RngStream::Below(uint64_t n) {
  DYNAMO_CHECK(n > 0);
  // Lemire's multiply-and-reject: unbiased, usually one draw.
  __uint128_t m = static_cast<__uint128_t>(NextU64()) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<__uint128_t>(NextU64()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

int64_t RngStream::UniformInt(int64_t lo, int64_t hi) {
  DYNAMO_CHECK(lo <= hi);
  const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  if (span == UINT64_MAX) return static_cast<int64_t>(NextU64());
  return static_cast<int64_t>(static_cast<uint64_t>(lo) + Below(span + 1));
}

double RngStream::Uniform(double lo, double hi) { return lo + (hi - lo) * NextDouble(); }

double RngStream::Exponential(double rate) {
  DYNAMO_CHECK(rate > 0);
  return -std::log(NextOpenDouble()) / rate;
}

double RngStream::Normal(double mean, double stddev) {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return mean + stddev * spare_normal_;
  }
  double u, v, s;
  do {
    u = 2.0 * NextDouble() - 1.0;
    v = 2.0 * NextDouble() - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  const double f = std::sqrt(-2.0 * std::log(s) / s);
  spare_normal_ = v * f;
  has_spare_normal_ = true;
  return mean + stddev * u * f;
}

double RngStream::LogNormal(double mu, double sigma) { return std::exp(Normal(mu, sigma)); }

double RngStream::Gamma(double shape, double scale) {
  DYNAMO_CHECK(shape > 0 && scale > 0);
  if (shape < 1.0) {
    // Boost: Gamma(a) = Gamma(a + 1) * U^(1/a).
    const double u = NextOpenDouble();
    return Gamma(shape + 1.0, scale) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    double x, v;
    do {
      x = Normal(0.0, 1.0);
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = NextOpenDouble();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v * scale;
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v * scale;
  }
}

StatusOr<EmpiricalDistribution> EmpiricalDistribution::Create(std::vector<double> values,
                                                              std::vector<double> weights) {
  if (values.empty()) return InvalidArgument("empirical distribution needs at least one value");
  if (!weights.empty() && weights.size() != values.size()) {
    return InvalidArgument("empirical distribution: " + std::to_string(values.size()) +
                           " values but " + std::to_string(weights.size()) + " weights");
  }
  for (double v : values) {
    if (!std::isfinite(v)) return InvalidArgument("empirical distribution: non-finite value");
  }
  EmpiricalDistribution d;
  if (weights.empty()) {
    d.mean_ = std::accumulate(values.begin(), values.end(), 0.0) / values.size();
  } else {
    double total = 0.0, weighted = 0.0;
    d.cumulative_.reserve(weights.size());
    for (size_t i = 0; i < weights.size(); ++i) {
      if (!(weights[i] >= 0.0) || !std::isfinite(weights[i])) {
        return InvalidArgument("empirical distribution: weight " + std::to_string(i) +
                               " is negative or not finite");
      }
      total += weights[i];
      weighted += weights[i] * values[i];
      d.cumulative_.push_back(total);
    }
    if (total <= 0.0) return InvalidArgument("empirical distribution: all weights are zero");
    d.mean_ = weighted / total;
  }
  d.values_ = std::move(values);
  return d;
}

double EmpiricalDistribution::Sample(RngStream& rng) const {
  if (cumulative_.empty()) return values_[rng.Below(values_.size())];
  const double target = rng.NextDouble() * cumulative_.back();
  auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), target);
  size_t i = std::min<size_t>(it - cumulative_.begin(), values_.size() - 1);
  return values_[i];
}

LogNormalParams LogNormalFromMoments(double mean, double stddev) {
  const double var_ratio = (stddev * stddev) / (mean * mean);
  const double sigma2 = std::log1p(var_ratio);
  return {std::log(mean) - 0.5 * sigma2, std::sqrt(sigma2)};
}

}  // namespace dynamo
