#pragma once
// Arrival processes of synthetic workloads:
//   {"process": "poisson", "rate_rps": 5}
//   {"process": "gamma", "rate_rps": 5, "cv": 2}          (burstier than Poisson when cv > 1)
//   {"process": "constant", "rate_rps": 5}
//   {"process": "concurrency", "concurrency": 8}           (closed loop: no arrival times)
// Open-loop processes take an optional time-varying rate instead of "rate_rps":
//   "shape": {"kind": "sinusoid", "period_s": 1800, "min_rps": 1, "max_rps": 5}
//            (starts at min_rps, peaks at period_s / 2)
//   "shape": {"kind": "steps", "steps": [[0, 2], [600, 8]]}   ([start_s, rate_rps], ...)
//   "shape": {"kind": "bursts", "base_rps": 2, "burst_rps": 20, "period_s": 300, "burst_s": 30,
//             "until_s": 3600}   (burst_rps for burst_s every period_s, until until_s)
// A shaped process is the unit-rate process run in operational time s = Lambda(t), the
// integral of the rate: the inter-arrival law (exponential, gamma, constant) is kept and the
// instantaneous rate follows the shape.

#include <optional>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/rng.h"
#include "core/time.h"

namespace dynamo {

class RateShape {
 public:
  static StatusOr<RateShape> Parse(const JsonNode& node);
  static RateShape Constant(double rate_rps);

  double RateAt(double t_s) const;
  double Cumulative(double t_s) const;  // Lambda(t): expected arrivals in [0, t]
  // Smallest t with Lambda(t) >= s; +infinity when the rate stays zero and never gets there.
  double InverseCumulative(double s) const;

 private:
  static StatusOr<RateShape> ParseBursts(const JsonNode& node);
  enum class Kind { kConstant, kSinusoid, kSteps };
  Kind kind_ = Kind::kConstant;
  double rate_ = 0;                                  // constant
  double period_s_ = 0, min_rps_ = 0, max_rps_ = 0;  // sinusoid
  std::vector<std::pair<double, double>> steps_;     // (start_s, rate_rps), sorted
  std::vector<double> step_cumulative_;              // Lambda at each step start
};

struct ArrivalSpec {
  enum class Process { kPoisson, kGamma, kConstant, kConcurrency };
  Process process = Process::kPoisson;
  double cv = 1.0;      // gamma only (required there): coefficient of variation of the gaps
  int concurrency = 0;  // closed loop only
  RateShape shape = RateShape::Constant(1.0);

  static StatusOr<ArrivalSpec> Parse(const JsonNode& node);
  bool closed_loop() const { return process == Process::kConcurrency; }
};

// Open-loop arrival times. Not for closed-loop specs.
class ArrivalProcess {
 public:
  ArrivalProcess(const ArrivalSpec& spec, RngStream rng);
  // Next arrival; non-decreasing. Time::Max() once the rate has dropped to zero for good.
  Time Next();

 private:
  ArrivalSpec spec_;
  RngStream rng_;
  double gamma_shape_ = 1.0;
  double operational_s_ = 0.0;  // Lambda of the last arrival
};

}  // namespace dynamo
