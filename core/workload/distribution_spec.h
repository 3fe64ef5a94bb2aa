#pragma once
// A value distribution described in a workload file:
//   {"dist": "fixed", "value": 2048}
//   {"dist": "uniform", "min": 128, "max": 4096}
//   {"dist": "normal", "mean": 1024, "std": 256}
//   {"dist": "lognormal", "mean": 1024, "std": 512}    (the distribution's own mean and std)
//   {"dist": "empirical", "file": "lengths.csv", "column": "num_prefill_tokens"}
// Every form but "fixed" takes optional "min"/"max" clamps (for uniform they are the range).
// A bare number is shorthand for fixed.

#include <optional>
#include <string>

#include "core/json.h"
#include "core/rng.h"
#include "core/status.h"

namespace dynamo {

class DistributionSpec {
 public:
  enum class Kind { kFixed, kUniform, kNormal, kLogNormal, kEmpirical };

  // `base_dir` resolves relative empirical file paths; `domain` bounds every value (e.g. >= 1
  // for token counts) and is enforced on fixed values and clamps.
  static StatusOr<DistributionSpec> Parse(const JsonNode& node, const std::string& base_dir,
                                          Bounds domain);
  static DistributionSpec Fixed(double v);

  double Sample(RngStream& rng) const;  // clamped to [lo, hi]
  // Mean before clamping (exact for fixed/uniform/empirical; the parameter for normal/lognormal).
  double Mean() const;

 private:
  Kind kind_ = Kind::kFixed;
  double a_ = 0, b_ = 0;  // fixed: value; uniform: min,max; normal: mean,std; lognormal: mu,sigma
  double mean_ = 0;
  double lo_ = -1e300, hi_ = 1e300;
  bool integer_uniform_ = false;
  std::optional<EmpiricalDistribution> empirical_;
};

// Reads one numeric column of a CSV file with a header row. Errors name file:line.
StatusOr<std::vector<double>> ReadCsvColumn(const std::string& path, const std::string& column);

}  // namespace dynamo
