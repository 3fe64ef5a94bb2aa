#pragma once
// Deterministic random streams. Every component draws from its own stream derived from
// (seed, stream name), so adding draws in one component never shifts another's. The generator
// (xoshiro256**) and every distribution are our own code: std:: distributions differ between
// standard libraries, which would break bit-for-bit reproducibility across machines.
//
// Not thread-safe: one stream per thread/component.

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dynamo {

// 64-bit FNV-1a of a name; the stream key of (seed, name).
uint64_t HashName(std::string_view name);
// A strong 64-bit finalizer (splitmix64's): equal inputs give equal outputs, nearby inputs
// give unrelated outputs. Used to derive seeds and synthetic block hashes.
uint64_t Mix64(uint64_t x);

class RngStream {
 public:
  RngStream(uint64_t seed, std::string_view name);

  // A child stream keyed by this stream's key and `name`; independent of draws made so far.
  RngStream Fork(std::string_view name) const;

  uint64_t NextU64();
  double NextDouble();      // uniform in [0, 1), 53 random bits
  double NextOpenDouble();  // uniform in (0, 1)
  // Uniform integer in [0, n), unbiased. Precondition: n > 0.
  uint64_t Below(uint64_t n);
  // Uniform integer in [lo, hi] inclusive. Precondition: lo <= hi.
  int64_t UniformInt(int64_t lo, int64_t hi);
  double Uniform(double lo, double hi);
  double Exponential(double rate);            // mean 1/rate; rate > 0
  double Normal(double mean, double stddev);  // Marsaglia polar method
  double LogNormal(double mu, double sigma);  // exp(Normal(mu, sigma))
  double Gamma(double shape, double scale);   // Marsaglia-Tsang; shape, scale > 0

  uint64_t key() const { return key_; }

 private:
  explicit RngStream(uint64_t key);
  uint64_t key_;
  uint64_t s_[4];
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;
};

// Samples from observed values (optionally weighted): the empirical distribution of a data
// column, e.g. ShareGPT prompt lengths.
class EmpiricalDistribution {
 public:
  // `weights` empty means equal weights. Errors: no values, a non-finite value, a negative or
  // all-zero weight, mismatched sizes.
  static StatusOr<EmpiricalDistribution> Create(std::vector<double> values,
                                                std::vector<double> weights = {});
  double Sample(RngStream& rng) const;
  double Mean() const { return mean_; }
  size_t size() const { return values_.size(); }

 private:
  EmpiricalDistribution() = default;
  std::vector<double> values_;
  std::vector<double> cumulative_;  // empty when unweighted
  double mean_ = 0.0;
};

// Parameters of the lognormal whose own mean and standard deviation are `mean`, `stddev`.
struct LogNormalParams {
  double mu;
  double sigma;
};
LogNormalParams LogNormalFromMoments(double mean, double stddev);

}  // namespace dynamo
