#include "core/workload/arrival.h"

#include <cmath>
#include <limits>
#include <numbers>

namespace dynamo {
namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMaxSeconds = 9.0e9;  // keeps nanoseconds inside int64
}  // namespace

RateShape RateShape::Constant(double rate_rps) {
  RateShape s;
  s.kind_ = Kind::kConstant;
  s.rate_ = rate_rps;
  return s;
}

// Periodic bursts: burst_rps for burst_s at the start of every period_s (from t = 0) until
// until_s, base_rps otherwise. Expanded into steps.
StatusOr<RateShape> RateShape::ParseBursts(const JsonNode& node) {
  RETURN_IF_ERROR(
      node.CheckKnownKeys({"kind", "base_rps", "burst_rps", "period_s", "burst_s", "until_s"}));
  ASSIGN_OR_RETURN(double base, node.GetDouble("base_rps", Bounds::NonNegative()));
  ASSIGN_OR_RETURN(double burst, node.GetDouble("burst_rps", Bounds::Positive()));
  ASSIGN_OR_RETURN(double period, node.GetDouble("period_s", Bounds::Positive()));
  ASSIGN_OR_RETURN(double burst_s, node.GetDouble("burst_s", Bounds::Positive()));
  ASSIGN_OR_RETURN(double until, node.GetDoubleOr("until_s", 3600, Bounds::Positive()));
  if (burst_s >= period) {
    return node.Error("burst_s " + node.Get("burst_s")->Render() +
                      " must be shorter than period_s " + node.Get("period_s")->Render());
  }
  if (until / period > 100000) {
    return node.Error("until_s / period_s is over 100000 bursts; use a longer period_s");
  }
  RateShape s;
  s.kind_ = Kind::kSteps;
  double cumulative = 0;
  auto add = [&](double start, double rate) {
    if (!s.steps_.empty()) {
      cumulative += (start - s.steps_.back().first) * s.steps_.back().second;
    }
    s.steps_.emplace_back(start, rate);
    s.step_cumulative_.push_back(cumulative);
  };
  for (double t = 0; t < until; t += period) {
    add(t, burst);
    add(t + burst_s, base);
  }
  return s;
}

StatusOr<RateShape> RateShape::Parse(const JsonNode& node) {
  ASSIGN_OR_RETURN(std::string kind, node.GetEnum("kind", {"sinusoid", "steps", "bursts"}));
  RateShape s;
  if (kind == "bursts") return ParseBursts(node);
  if (kind == "sinusoid") {
    RETURN_IF_ERROR(node.CheckKnownKeys({"kind", "period_s", "min_rps", "max_rps"}));
    s.kind_ = Kind::kSinusoid;
    ASSIGN_OR_RETURN(s.period_s_, node.GetDouble("period_s", Bounds::Positive()));
    ASSIGN_OR_RETURN(s.min_rps_, node.GetDouble("min_rps", Bounds::NonNegative()));
    ASSIGN_OR_RETURN(s.max_rps_, node.GetDouble("max_rps", Bounds::Positive()));
    if (s.max_rps_ < s.min_rps_) {
      return node.Error("max_rps " + node.Get("max_rps")->Render() + " is below min_rps " +
                        node.Get("min_rps")->Render());
    }
    return s;
  }
  RETURN_IF_ERROR(node.CheckKnownKeys({"kind", "steps"}));
  s.kind_ = Kind::kSteps;
  ASSIGN_OR_RETURN(JsonNode steps, node.Get("steps"));
  ASSIGN_OR_RETURN(auto list, steps.Elements());
  if (list.empty()) return steps.Error("needs at least one [start_s, rate_rps] step");
  double cumulative = 0;
  for (size_t i = 0; i < list.size(); ++i) {
    const JsonNode& step = list[i];
    if (!step.IsArray() || step.size() != 2) {
      return step.Error("expected [start_s, rate_rps], got " + step.Render());
    }
    ASSIGN_OR_RETURN(double start, step.At(0).AsDouble(Bounds::Between(0, kMaxSeconds)));
    ASSIGN_OR_RETURN(double rate, step.At(1).AsDouble(Bounds::NonNegative()));
    if (i == 0 && start != 0) return step.At(0).Error("the first step must start at 0");
    if (i > 0) {
      if (start <= s.steps_.back().first) {
        return step.At(0).Error("step start times must increase");
      }
      cumulative += (start - s.steps_.back().first) * s.steps_.back().second;
    }
    s.steps_.emplace_back(start, rate);
    s.step_cumulative_.push_back(cumulative);
  }
  return s;
}

double RateShape::RateAt(double t) const {
  switch (kind_) {
    case Kind::kConstant:
      return rate_;
    case Kind::kSinusoid:
      return min_rps_ +
             (max_rps_ - min_rps_) * 0.5 * (1.0 - std::cos(2.0 * std::numbers::pi * t / period_s_));
    case Kind::kSteps: {
      double r = steps_.front().second;
      for (const auto& [start, rate] : steps_) {
        if (t >= start) r = rate;
      }
      return r;
    }
  }
  return 0;
}

double RateShape::Cumulative(double t) const {
  switch (kind_) {
    case Kind::kConstant:
      return rate_ * t;
    case Kind::kSinusoid: {
      const double mid = 0.5 * (max_rps_ + min_rps_), amp = 0.5 * (max_rps_ - min_rps_);
      const double w = 2.0 * std::numbers::pi / period_s_;
      return mid * t - amp / w * std::sin(w * t);
    }
    case Kind::kSteps: {
      size_t i = 0;
      while (i + 1 < steps_.size() && steps_[i + 1].first <= t) ++i;
      return step_cumulative_[i] + (t - steps_[i].first) * steps_[i].second;
    }
  }
  return 0;
}

double RateShape::InverseCumulative(double s) const {
  switch (kind_) {
    case Kind::kConstant:
      return rate_ > 0 ? s / rate_ : kInf;
    case Kind::kSinusoid: {
      // Lambda is non-decreasing and within amp/w of mid*t: bisect in that bracket.
      const double mid = 0.5 * (max_rps_ + min_rps_), amp = 0.5 * (max_rps_ - min_rps_);
      const double slack = amp * period_s_ / (2.0 * std::numbers::pi);
      double lo = std::max(0.0, (s - slack) / mid), hi = (s + slack) / mid;
      for (int i = 0; i < 200 && hi - lo > 1e-10; ++i) {
        const double m = 0.5 * (lo + hi);
        (Cumulative(m) >= s ? hi : lo) = m;
      }
      return hi;
    }
    case Kind::kSteps: {
      for (size_t i = 0; i < steps_.size(); ++i) {
        const bool last = i + 1 == steps_.size();
        const double end_cumulative = last ? kInf : step_cumulative_[i + 1];
        if (s <= end_cumulative && steps_[i].second > 0) {
          return steps_[i].first + (s - step_cumulative_[i]) / steps_[i].second;
        }
      }
      return kInf;
    }
  }
  return kInf;
}

StatusOr<ArrivalSpec> ArrivalSpec::Parse(const JsonNode& node) {
  ASSIGN_OR_RETURN(std::string process,
                   node.GetEnum("process", {"poisson", "gamma", "constant", "concurrency"}));
  ArrivalSpec a;
  if (process == "concurrency") {
    RETURN_IF_ERROR(node.CheckKnownKeys({"process", "concurrency"}));
    a.process = Process::kConcurrency;
    ASSIGN_OR_RETURN(int64_t c, node.GetInt("concurrency", Bounds::Between(1, 1e6)));
    a.concurrency = static_cast<int>(c);
    return a;
  }
  a.process = process == "poisson" ? Process::kPoisson
              : process == "gamma" ? Process::kGamma
                                   : Process::kConstant;
  if (a.process == Process::kGamma) {
    RETURN_IF_ERROR(node.CheckKnownKeys({"process", "rate_rps", "cv", "shape"}));
    ASSIGN_OR_RETURN(a.cv, node.GetDouble("cv", Bounds::Between(0.01, 100)));
  } else {
    RETURN_IF_ERROR(node.CheckKnownKeys({"process", "rate_rps", "shape"}));
  }
  auto shape = node.Find("shape");
  if (shape && node.Has("rate_rps")) {
    return node.Error("give either 'rate_rps' or 'shape' (a time-varying rate), not both");
  }
  if (shape) {
    ASSIGN_OR_RETURN(a.shape, RateShape::Parse(*shape));
  } else {
    ASSIGN_OR_RETURN(double rate, node.GetDouble("rate_rps", Bounds::Positive()));
    a.shape = RateShape::Constant(rate);
  }
  return a;
}

ArrivalProcess::ArrivalProcess(const ArrivalSpec& spec, RngStream rng)
    : spec_(spec), rng_(std::move(rng)) {
  DYNAMO_CHECK(!spec.closed_loop());
  gamma_shape_ = 1.0 / (spec.cv * spec.cv);
}

Time ArrivalProcess::Next() {
  double gap = 1.0;  // unit mean in operational time
  switch (spec_.process) {
    case ArrivalSpec::Process::kPoisson:
      gap = rng_.Exponential(1.0);
      break;
    case ArrivalSpec::Process::kGamma:
      gap = rng_.Gamma(gamma_shape_, 1.0 / gamma_shape_);
      break;
    case ArrivalSpec::Process::kConstant:
    case ArrivalSpec::Process::kConcurrency:
      break;
  }
  operational_s_ += gap;
  const double t = spec_.shape.InverseCumulative(operational_s_);
  if (!(t < kMaxSeconds)) return Time::Max();
  return Time::FromNanos(std::llround(t * 1e9));
}

}  // namespace dynamo
